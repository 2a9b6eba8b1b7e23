//! A scheme's status and the one way it moves: draft → active → closed (a draft may also be
//! closed without ever opening).

vocabulary! {
    pub enum SchemeStatus {
        /// Being set up: no voucher is issued from it.
        Draft,
        /// Vouchers are issued from it.
        Active,
        /// Over: its rules no longer change and no voucher is issued.
        Closed,
    }
}

impl SchemeStatus {
    /// Whether a scheme in this status may move to `next`.
    pub fn can_become(self, next: SchemeStatus) -> bool {
        matches!(
            (self, next),
            (SchemeStatus::Draft, SchemeStatus::Active)
                | (SchemeStatus::Draft, SchemeStatus::Closed)
                | (SchemeStatus::Active, SchemeStatus::Closed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::SchemeStatus::{Active, Closed, Draft};

    #[test]
    fn a_scheme_moves_forward_only() {
        assert!(Draft.can_become(Active) && Draft.can_become(Closed) && Active.can_become(Closed));
        assert!(
            !Active.can_become(Draft) && !Closed.can_become(Active) && !Closed.can_become(Draft)
        );
        assert!(!Active.can_become(Active));
    }
}
