//! The fault-injection harness (`make test-faults`). Each test runs the real `passerelle` binary
//! (`serve`, `work`, `seed-demo`) as child processes against a Redis server and an SMTP server of
//! its own, and a PostgreSQL database of its own (a whole cluster of its own when the test
//! restarts PostgreSQL), so that it can stop, restart and kill any of them without touching
//! another test.
//!
//! The binary is the one `make test-faults` builds just before: `PASSERELLE_BIN`, or `passerelle`
//! under the cargo target directory.

pub mod client;
pub mod flows;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod redis;
pub mod stack;

pub use client::{Client, Reply, Tally};
pub use stack::{Stack, StackOptions};
