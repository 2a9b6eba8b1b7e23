//! Reporting periods as funders name them: a month (`2026-10`), a quarter (`2026-T4`, or
//! `2026-Q4`) or a calendar year (`2026`). A period is half-open: `start` is its first day, `end`
//! the first day after it.

use chrono::{Datelike, Months, NaiveDate};

use crate::Error;

vocabulary! {
    /// A period's length; stored as its snake_case name.
    pub enum PeriodKind {
        Month,
        Quarter,
        Year,
    }
}

impl PeriodKind {
    fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

const EXPECTED: &str = "a month (2026-10), a quarter (2026-T4) or a year (2026)";

impl Period {
    fn new(kind: PeriodKind, start: NaiveDate) -> Option<Self> {
        let end = start.checked_add_months(Months::new(kind.months()))?;
        Some(Self { kind, start, end })
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("period", EXPECTED);
        let text = text.trim();
        let year_of = |s: &str| -> Result<i32, Error> {
            if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            let year: i32 = s.parse().map_err(|_| invalid())?;
            if (2000..=2100).contains(&year) {
                Ok(year)
            } else {
                Err(invalid())
            }
        };
        let period = match text.split_once('-') {
            None => Self::new(
                PeriodKind::Year,
                NaiveDate::from_ymd_opt(year_of(text)?, 1, 1).ok_or_else(invalid)?,
            ),
            Some((year, rest)) => {
                let year = year_of(year)?;
                if let Some(quarter) = rest.strip_prefix(['T', 'Q', 't', 'q']) {
                    let quarter: u32 = match quarter {
                        "1" => 1,
                        "2" => 2,
                        "3" => 3,
                        "4" => 4,
                        _ => return Err(invalid()),
                    };
                    Self::new(
                        PeriodKind::Quarter,
                        NaiveDate::from_ymd_opt(year, (quarter - 1) * 3 + 1, 1)
                            .ok_or_else(invalid)?,
                    )
                } else {
                    if rest.len() != 2 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(invalid());
                    }
                    let month: u32 = rest.parse().map_err(|_| invalid())?;
                    Self::new(
                        PeriodKind::Month,
                        NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?,
                    )
                }
            }
        };
        period.ok_or_else(invalid)
    }

    pub fn from_parts(kind: PeriodKind, start: NaiveDate) -> Option<Self> {
        Self::new(kind, start)
    }

    /// The name used in file paths and in the datasets: `2026-10`, `2026-T4`, `2026`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Month => self.start.format("%Y-%m").to_string(),
            PeriodKind::Quarter => {
                format!("{}-T{}", self.start.year(), self.start.month0() / 3 + 1)
            }
            PeriodKind::Year => self.start.year().to_string(),
        }
    }

    /// The last day in the period.
    pub fn last_day(&self) -> NaiveDate {
        self.end.pred_opt().unwrap_or(self.end)
    }

    /// The periods that end on the day before the month `today` falls in begins: the previous
    /// month, and the previous quarter or year when that month closes one.
    pub fn ended_before(today: NaiveDate) -> Vec<Self> {
        let this_month = today.with_day(1).unwrap_or(today);
        let Some(previous) = this_month.checked_sub_months(Months::new(1)) else {
            return Vec::new();
        };
        let mut periods: Vec<Self> = Self::new(PeriodKind::Month, previous).into_iter().collect();
        if this_month.month0().is_multiple_of(3)
            && let Some(start) = this_month.checked_sub_months(Months::new(3))
        {
            periods.extend(Self::new(PeriodKind::Quarter, start));
        }
        if this_month.month() == 1
            && let Some(start) = this_month.checked_sub_months(Months::new(12))
        {
            periods.extend(Self::new(PeriodKind::Year, start));
        }
        periods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parses_the_three_kinds() {
        let month = Period::parse("2026-10").unwrap();
        assert_eq!(
            (month.start, month.end, month.label()),
            (date(2026, 10, 1), date(2026, 11, 1), "2026-10".into())
        );
        let quarter = Period::parse("2026-Q4").unwrap();
        assert_eq!(
            (quarter.start, quarter.end, quarter.label()),
            (date(2026, 10, 1), date(2027, 1, 1), "2026-T4".into())
        );
        assert_eq!(Period::parse("2026-T2").unwrap().start, date(2026, 4, 1));
        let year = Period::parse("2026").unwrap();
        assert_eq!(
            (year.start, year.end, year.last_day()),
            (date(2026, 1, 1), date(2027, 1, 1), date(2026, 12, 31))
        );
    }

    #[test]
    fn refuses_what_is_not_a_period() {
        for bad in [
            "",
            "26",
            "2026-13",
            "2026-1",
            "2026-T5",
            "2026-Q0",
            "1999",
            "2026-10-01",
            "abcd",
            "2026-",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_first_of_a_year_closes_a_month_a_quarter_and_a_year() {
        let labels = |d| {
            Period::ended_before(d)
                .iter()
                .map(Period::label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(date(2027, 1, 1)), ["2026-12", "2026-T4", "2026"]);
        assert_eq!(labels(date(2026, 7, 15)), ["2026-06", "2026-T2"]);
        assert_eq!(labels(date(2026, 11, 1)), ["2026-10"]);
    }
}
