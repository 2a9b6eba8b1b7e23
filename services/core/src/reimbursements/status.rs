//! A statement's status and the one way it moves: draft → approved (by finance, after checks) →
//! paid (with the bank's reference). Only a draft is recomputed by the monthly run.

vocabulary! {
    pub enum StatementStatus {
        /// Computed by the monthly run; recomputed until finance approves it.
        Draft,
        /// Checked and approved by finance: frozen, ready for the transfer.
        Approved,
        /// Transferred to the EPN.
        Paid,
    }
}

impl StatementStatus {
    /// Whether finance may still approve it (a decided statement stays decided).
    pub fn can_be_approved(self) -> bool {
        self == StatementStatus::Draft
    }

    /// Whether it may be marked paid: only once approved.
    pub fn can_be_paid(self) -> bool {
        self == StatementStatus::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::StatementStatus::{Approved, Draft, Paid};

    #[test]
    fn a_statement_is_approved_once_then_paid_once() {
        assert!(Draft.can_be_approved() && !Approved.can_be_approved() && !Paid.can_be_approved());
        assert!(Approved.can_be_paid() && !Draft.can_be_paid() && !Paid.can_be_paid());
    }
}
