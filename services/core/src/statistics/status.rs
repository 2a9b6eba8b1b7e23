//! Where a statistics export stands, and why it was asked for.

use serde::{Deserialize, Serialize};

/// Queued when asked (on demand or by the nightly run), running while the worker computes it,
/// then succeeded (its files are written) or failed (with the reason).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    sqlx::Type,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
    strum::EnumIter,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl ExportStatus {
    /// Whether the worker has still to finish it: a new request for the same period waits for it.
    pub fn is_under_way(self) -> bool {
        matches!(self, ExportStatus::Queued | ExportStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn all() -> impl Iterator<Item = ExportStatus> {
        <Self as strum::IntoEnumIterator>::iter()
    }
}

/// Why an export exists: the nightly run after a period ends, or someone's request.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    sqlx::Type,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ExportOrigin {
    Scheduled,
    OnDemand,
}

impl ExportOrigin {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_queued_or_running_export_is_under_way() {
        let under_way: Vec<_> = ExportStatus::all().filter(|s| s.is_under_way()).collect();
        assert_eq!(under_way, [ExportStatus::Queued, ExportStatus::Running]);
        assert_eq!("succeeded".parse(), Ok(ExportStatus::Succeeded));
        assert_eq!(ExportOrigin::OnDemand.to_string(), "on_demand");
    }
}
