//! What is imported, where an import stands, and what became of a row.

vocabulary! {
    /// The open-data file of places, or a prescriber's bulk voucher file.
    pub enum ImportKind {
        Epns,
        Vouchers,
    }
}

vocabulary! {
    /// Queued when the upload is stored, running while rows are written, then succeeded (every row
    /// has its outcome) or failed (the file as a whole could not be read past some point).
    pub enum ImportStatus {
        Queued,
        Running,
        Succeeded,
        Failed,
    }
}

impl ImportStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, ImportStatus::Succeeded | ImportStatus::Failed)
    }
}

vocabulary! {
    /// A row's outcome on the report.
    pub enum LineOutcome {
        Created,
        Updated,
        Refused,
        /// The person already holds an open voucher of the scheme: nothing issued twice.
        AlreadyHeld,
    }
}
