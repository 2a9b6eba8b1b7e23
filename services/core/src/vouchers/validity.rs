//! When a voucher stops being valid: at the end of a day in the tenant's time zone.

use chrono::{DateTime, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::schemes::rules::Validity;

/// The last day a voucher issued on `issued_on` can be used. Month arithmetic keeps the day of the
/// month or, when the target month is shorter, its last day (issued 31 March + 1 month → 30 April).
pub fn last_valid_day(issued_on: NaiveDate, validity: &Validity) -> NaiveDate {
    match validity {
        Validity::MonthsAfterIssue { months } => issued_on
            .checked_add_months(Months::new(*months))
            .unwrap_or(NaiveDate::MAX),
        Validity::FixedEndDate { until } => *until,
    }
}

/// The instant validity ends: midnight at the start of the day after the last valid day, local
/// time. Local midnight always exists in France (clocks change at 2 or 3 am).
pub fn ends_at(last_valid_day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = last_valid_day
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Whether a voucher whose last valid day is `last_valid_day` can still be used at `now`.
pub fn is_valid_at(last_valid_day: NaiveDate, tz: Tz, now: DateTime<Utc>) -> bool {
    now < ends_at(last_valid_day, tz)
}

#[cfg(test)]
mod tests {
    use chrono_tz::Europe::Paris;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("instant")
    }

    const TWELVE_MONTHS: Validity = Validity::MonthsAfterIssue { months: 12 };

    #[test]
    fn twelve_months_after_issue_including_the_end_of_months() {
        assert_eq!(
            last_valid_day(day(2027, 1, 15), &TWELVE_MONTHS),
            day(2028, 1, 15)
        );
        assert_eq!(
            last_valid_day(day(2028, 2, 29), &TWELVE_MONTHS),
            day(2029, 2, 28)
        );
        let one = Validity::MonthsAfterIssue { months: 1 };
        assert_eq!(last_valid_day(day(2027, 3, 31), &one), day(2027, 4, 30));
        assert_eq!(last_valid_day(day(2027, 1, 31), &one), day(2027, 2, 28));
        let fixed = Validity::FixedEndDate {
            until: day(2027, 12, 31),
        };
        assert_eq!(last_valid_day(day(2027, 6, 1), &fixed), day(2027, 12, 31));
    }

    #[test]
    fn validity_ends_at_local_midnight_in_winter_and_summer() {
        // Winter (UTC+1): the last valid day 15 January ends at 23:00 UTC.
        let last = day(2028, 1, 15);
        assert!(is_valid_at(last, Paris, utc("2028-01-15T22:59:59Z")));
        assert!(!is_valid_at(last, Paris, utc("2028-01-15T23:00:00Z")));
        // Summer (UTC+2): the last valid day 15 July ends at 22:00 UTC.
        let last = day(2028, 7, 15);
        assert!(is_valid_at(last, Paris, utc("2028-07-15T21:59:59Z")));
        assert!(!is_valid_at(last, Paris, utc("2028-07-15T22:00:00Z")));
    }

    #[test]
    fn the_days_clocks_change_are_whole_days() {
        // 26 March 2028: clocks go forward at 2 am; that day ends at 22:00 UTC (already UTC+2).
        assert_eq!(
            ends_at(day(2028, 3, 25), Paris),
            utc("2028-03-25T23:00:00Z")
        );
        assert_eq!(
            ends_at(day(2028, 3, 26), Paris),
            utc("2028-03-26T22:00:00Z")
        );
        // 29 October 2028: clocks go back at 3 am; that day lasts 25 hours and ends at 23:00 UTC.
        assert_eq!(
            ends_at(day(2028, 10, 28), Paris),
            utc("2028-10-28T22:00:00Z")
        );
        assert_eq!(
            ends_at(day(2028, 10, 29), Paris),
            utc("2028-10-29T23:00:00Z")
        );
    }
}
