//! Emails to holders and prescribers, through a transactional outbox: the transaction that makes a
//! message due writes its row; the worker relays, renders and sends it, and records the outcome.
//! Sending itself (SMTP) lives in the worker; this module owns the rows, the rules and the wording.

pub mod daily;
pub mod french;
pub mod outbox;
pub mod render;
pub mod status;
pub mod unsubscribe;

pub use outbox::{Kind, OutboxMessage};
pub use render::{Links, Preparation, Prepared, Rendered};
