//! What kind of organisation a funder is; French names in `crate::labels::funder_kind`.

vocabulary! {
    pub enum FunderKind {
        /// The European social fund (FSE+) or another European fund.
        EuropeanFund,
        /// The State and its agencies.
        State,
        /// A family allowance fund (CAF).
        FamilyAllowanceFund,
        Region,
        Department,
        Commune,
        Other,
    }
}
