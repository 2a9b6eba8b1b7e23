//! A voucher's status and the rules that belong to it. Stored as text (a CHECK constraint lists
//! the values); SQL that needs the open statuses inlines `VoucherStatus::OPEN_SQL`, so the partial
//! index on open vouchers still applies.

vocabulary! {
    pub enum VoucherStatus {
        /// Handed to its holder, not yet registered at an EPN.
        Issued,
        /// Registered at an EPN after the positioning interview; no time used yet.
        Registered,
        /// Some of its time used.
        InProgress,
        /// All of its time used.
        Completed,
        /// Past its validity with time left.
        Expired,
        /// Withdrawn before any time was used.
        Cancelled,
    }
}

impl VoucherStatus {
    /// The statuses of a voucher that can still be used (while it is valid).
    pub const OPEN: [VoucherStatus; 3] = [
        VoucherStatus::Issued,
        VoucherStatus::Registered,
        VoucherStatus::InProgress,
    ];

    /// `OPEN` as an SQL list, for `status IN (…)`: a literal list, so that the planner can use the
    /// partial index on open vouchers (a bound array would not match its predicate).
    pub const OPEN_SQL: &'static str = "('issued', 'registered', 'in_progress')";

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// Registered at an EPN at some point (and possibly further along).
    pub fn was_registered(self) -> bool {
        matches!(
            self,
            VoucherStatus::Registered | VoucherStatus::InProgress | VoucherStatus::Completed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::VoucherStatus;

    #[test]
    fn the_sql_list_of_open_statuses_is_the_open_statuses() {
        let listed: Vec<String> = VoucherStatus::OPEN
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(VoucherStatus::OPEN_SQL, format!("({})", listed.join(", ")));
        assert_eq!(VoucherStatus::InProgress.as_str(), "in_progress");
        assert_eq!(
            "in_progress".parse::<VoucherStatus>(),
            Ok(VoucherStatus::InProgress)
        );
    }
}
