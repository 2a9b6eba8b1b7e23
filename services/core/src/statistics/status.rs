//! Where a statistics export stands, and why it was asked for.

vocabulary! {
    /// Queued when asked (on demand or by the nightly run), running while the worker computes it,
    /// then succeeded (its files are written) or failed (with the reason).
    pub enum ExportStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
    }
}

impl ExportStatus {
    /// Whether the worker has still to finish it: a new request for the same period waits for it.
    pub fn is_under_way(self) -> bool {
        matches!(self, ExportStatus::Queued | ExportStatus::Running)
    }
}

vocabulary! {
    /// Why an export exists: the nightly run after a period ends, or someone's request.
    pub enum ExportOrigin {
        Scheduled,
        OnDemand,
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
