//! Delivery at an EPN: registering a voucher after the positioning interview, sessions, and the
//! attendance that debits a voucher's minutes exactly once.

pub mod accompaniment;
pub mod attendance;
pub mod credentials;
pub mod orientation;
pub mod overview;
pub mod phone;
pub mod portfolio;
pub mod projects;
pub mod registration;
pub mod sessions;
pub mod vocabulary;

pub use vocabulary::{
    AttendanceStatus, AutonomyLevel, CompetenceLevel, OrientationKind, ProjectStatus,
    RequestChannel, RequestStatus, SessionStatus,
};
