//! Dates and durations the way a French reader expects them in a letter.

use chrono::{Datelike, NaiveDate};

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "septembre 2026".
pub fn month_year(date: NaiveDate) -> String {
    format!("{} {}", MONTHS[date.month0() as usize], date.year())
}

/// "31 décembre 2026", and "1er janvier 2027" for the first of the month.
pub fn long_date(date: NaiveDate) -> String {
    let day = match date.day() {
        1 => "1er".to_owned(),
        d => d.to_string(),
    };
    format!("{day} {} {}", MONTHS[date.month0() as usize], date.year())
}

/// "1234,56 €", "0,05 €": an amount as a French reader writes it.
pub fn euros(cents: i64) -> String {
    format!("{} €", crate::reimbursements::export::euros(cents))
}

/// "20 heures", "1 heure", "12 h 30", "45 minutes".
pub fn duration(minutes: i32) -> String {
    let minutes = minutes.max(0);
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => format!("{m} minute{}", if m > 1 { "s" } else { "" }),
        (h, 0) => format!("{h} heure{}", if h > 1 { "s" } else { "" }),
        (h, m) => format!("{h} h {m:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_the_french_way() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(long_date(d(2026, 12, 31)), "31 décembre 2026");
        assert_eq!(long_date(d(2027, 1, 1)), "1er janvier 2027");
        assert_eq!(long_date(d(2027, 8, 15)), "15 août 2027");
    }

    #[test]
    fn durations_read_the_french_way() {
        assert_eq!(duration(1200), "20 heures");
        assert_eq!(duration(60), "1 heure");
        assert_eq!(duration(750), "12 h 30");
        assert_eq!(duration(65), "1 h 05");
        assert_eq!(duration(45), "45 minutes");
        assert_eq!(duration(1), "1 minute");
        assert_eq!(duration(0), "0 minute");
    }
}
