//! Domain types and rules, storage, tenancy and configuration shared by the API, the worker and
//! the command line. Nothing here knows about HTTP or job queues.

#[macro_use]
mod vocabulary;

pub mod archive;
pub mod audit;
pub mod beneficiaries;
pub mod communes;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod emails;
pub mod epns;
pub mod error;
pub mod field_rule;
pub mod funders;
pub mod idempotency;
pub mod imports;
pub mod labels;
pub mod money;
pub mod pagination;
pub mod prescribers;
pub mod refusal;
pub mod reimbursements;
pub mod retention;
pub mod schemes;
pub mod statistics;
pub mod storage;
pub mod tenancy;
pub mod vouchers;

pub use error::{Error, FieldError};
pub use field_rule::FieldRule;
pub use refusal::{Refusal, RefusalKind};
pub use storage::Db;
