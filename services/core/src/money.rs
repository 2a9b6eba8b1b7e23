//! Money rules written once. Amounts are integer cents; durations integer minutes.

/// The value of `minutes` at `rate_cents` an hour, rounded half up to the cent. The reimbursement
/// computation uses the same rule in SQL (`minutes_at_rate`, in the migrations); a test checks
/// that both give the same cents.
pub fn minutes_at_rate(minutes: i32, rate_cents: i64) -> i64 {
    (i64::from(minutes) * rate_cents + 30).div_euclid(60)
}

#[cfg(test)]
mod tests {
    use super::minutes_at_rate;

    #[test]
    fn half_a_cent_and_more_rounds_up() {
        assert_eq!(minutes_at_rate(120, 1_000), 2_000);
        // 1 minute at 10.01 €/h is 16.683 cents; 3 minutes is 50.05 cents.
        assert_eq!(minutes_at_rate(1, 1_001), 17);
        assert_eq!(minutes_at_rate(3, 1_001), 50);
        // Exactly half a cent: 1 minute at 0.30 €/h.
        assert_eq!(minutes_at_rate(1, 30), 1);
        assert_eq!(minutes_at_rate(1, 29), 0);
        assert_eq!(minutes_at_rate(0, 1_000), 0);
    }
}
