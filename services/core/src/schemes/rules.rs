//! A scheme's rules: every number the customer can tune, validated as a whole so that an
//! inconsistent combination is refused with a message that says which setting is wrong.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::beneficiaries::PublicCategory;
use crate::error::Validator;
use crate::{Error, FieldRule};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Validity {
    /// Valid until the end of the day, N months after the issue date (tenant time zone).
    MonthsAfterIssue { months: u32 },
    /// Valid until the end of a fixed day.
    FixedEndDate { until: NaiveDate },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSize {
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryModes {
    /// Nominative vouchers used one person at a time.
    pub individual_vouchers: bool,
    /// Collective projects (Pass Numérique): the size range of a group.
    pub collective_projects: Option<GroupSize>,
    /// Personalised accompaniment (Pass Numérique): its length in minutes.
    pub accompaniment_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemeRules {
    pub face_value_cents: i64,
    /// Hours on a voucher, in minutes.
    pub voucher_minutes: u32,
    pub session_minutes: u32,
    pub validity: Validity,
    pub interview_minutes: u32,
    pub interview_required: bool,
    pub modules_to_choose: u32,
    pub delivery_modes: DeliveryModes,
    pub participation_fee_cap_cents: i64,
    pub eligible_categories: Vec<PublicCategory>,
    /// Days before the end of validity on which holders are reminded.
    pub reminder_days: Vec<u32>,
    pub hourly_rate_cents: i64,
    pub interview_fee_cents: i64,
    /// Whether EPNs are paid for the minutes of a session a holder missed (absent or excused).
    /// Rules written before this setting existed read as `false`: absences are not paid.
    #[serde(default)]
    pub pay_absences: bool,
    /// The scheme's budget; none means unlimited.
    pub budget_envelope_cents: Option<i64>,
    /// Days after a session held within the voucher's validity during which its attendance may
    /// still be recorded once the voucher has expired (the sheet of the last valid day is often
    /// filled the next morning, after the nightly run marked the voucher expired). Rules written
    /// before this setting existed read as the default, 7.
    #[serde(default = "default_attendance_grace_days")]
    pub attendance_grace_days: u32,
}

pub const DEFAULT_ATTENDANCE_GRACE_DAYS: u32 = 7;

fn default_attendance_grace_days() -> u32 {
    DEFAULT_ATTENDANCE_GRACE_DAYS
}

impl SchemeRules {
    /// Checks the rules against themselves; `module_count` is the size of the scheme's catalogue.
    pub fn validate(&self, module_count: Option<usize>) -> Result<(), Error> {
        let mut v = Validator::default();
        v.check(
            self.face_value_cents >= 0,
            "face_value_cents",
            "must not be negative",
        )
        .check(
            self.voucher_minutes > 0,
            "voucher_minutes",
            "must be positive",
        )
        .check(
            self.session_minutes > 0,
            "session_minutes",
            "must be positive",
        )
        .check_rule(
            self.session_minutes == 0 || self.voucher_minutes.is_multiple_of(self.session_minutes),
            "voucher_minutes",
            FieldRule::NotWholeSessions {
                voucher_minutes: self.voucher_minutes,
                session_minutes: self.session_minutes,
            },
        )
        .check(
            match self.validity {
                Validity::MonthsAfterIssue { months } => (1..=120).contains(&months),
                Validity::FixedEndDate { .. } => true,
            },
            "validity.months",
            "must be between 1 and 120",
        )
        .check(
            !self.interview_required || self.interview_minutes > 0,
            "interview_minutes",
            "a required interview must last at least one minute",
        )
        .check(
            self.interview_minutes <= 480,
            "interview_minutes",
            "at most 480 minutes",
        )
        .check(
            self.modules_to_choose <= self.voucher_minutes / self.session_minutes.max(1),
            "modules_to_choose",
            "more modules than the voucher has sessions",
        )
        .check(
            module_count.is_none_or(|count| self.modules_to_choose as usize <= count),
            "modules_to_choose",
            format!(
                "more modules to choose than the catalogue offers ({})",
                module_count.unwrap_or_default()
            ),
        )
        .check(
            self.delivery_modes.individual_vouchers
                || self.delivery_modes.collective_projects.is_some()
                || self.delivery_modes.accompaniment_minutes.is_some(),
            "delivery_modes",
            "at least one delivery mode",
        )
        .check(
            self.delivery_modes
                .collective_projects
                .is_none_or(|g| g.min >= 1 && g.min <= g.max),
            "delivery_modes.collective_projects",
            "the group size range is empty (min must be at least 1 and at most max)",
        )
        .check(
            self.delivery_modes
                .accompaniment_minutes
                .is_none_or(|m| m > 0),
            "delivery_modes.accompaniment_minutes",
            "must be positive",
        )
        .check(
            (0..=self.face_value_cents).contains(&self.participation_fee_cap_cents),
            "participation_fee_cap_cents",
            "between 0 and the face value",
        )
        .check(
            !self.eligible_categories.is_empty(),
            "eligible_categories",
            "at least one public category",
        )
        .check(
            self.reminder_days.iter().all(|d| (1..=365).contains(d)),
            "reminder_days",
            "each between 1 and 365 days",
        )
        .check(
            self.reminder_days.len() <= 10,
            "reminder_days",
            "at most 10 reminders",
        )
        .check(
            self.hourly_rate_cents >= 0,
            "hourly_rate_cents",
            "must not be negative",
        )
        .check(
            self.interview_fee_cents >= 0,
            "interview_fee_cents",
            "must not be negative",
        )
        .check(
            self.budget_envelope_cents.is_none_or(|b| b >= 0),
            "budget_envelope_cents",
            "must not be negative",
        )
        .check(
            self.attendance_grace_days <= 60,
            "attendance_grace_days",
            "between 0 and 60 days",
        );
        v.finish()
    }

    /// Sorted, duplicate-free reminder days, furthest first (60, 30, 7).
    pub fn normalised(mut self) -> Self {
        self.reminder_days.sort_unstable_by(|a, b| b.cmp(a));
        self.reminder_days.dedup();
        self.eligible_categories.sort();
        self.eligible_categories.dedup();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::presets;

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Invalid(fields) => fields.into_iter().map(|f| f.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn presets_are_consistent() {
        for preset in presets::ALL {
            let p = presets::get(preset).expect("preset");
            p.rules.validate(Some(p.modules.len())).expect(preset);
        }
    }

    #[test]
    fn inconsistent_rules_are_refused_with_the_setting_at_fault() {
        let base = presets::get("ticket-net").expect("preset").rules;

        let mut r = base.clone();
        r.voucher_minutes = 1_210;
        assert_eq!(
            fields(r.validate(None).expect_err("not a multiple")),
            ["voucher_minutes"]
        );

        let mut r = base.clone();
        r.validity = Validity::MonthsAfterIssue { months: 0 };
        assert_eq!(
            fields(r.validate(None).expect_err("no validity")),
            ["validity.months"]
        );

        let mut r = base.clone();
        r.delivery_modes.collective_projects = Some(GroupSize { min: 10, max: 5 });
        assert_eq!(
            fields(r.validate(None).expect_err("empty range")),
            ["delivery_modes.collective_projects"]
        );

        let mut r = base.clone();
        r.modules_to_choose = 11;
        assert_eq!(
            fields(r.validate(Some(20)).expect_err("too many modules")),
            ["modules_to_choose"]
        );

        let mut r = base.clone();
        r.participation_fee_cap_cents = base.face_value_cents + 1;
        r.eligible_categories = vec![];
        r.interview_minutes = 0;
        let mut got = fields(r.validate(None).expect_err("several"));
        got.sort();
        assert_eq!(
            got,
            [
                "eligible_categories",
                "interview_minutes",
                "participation_fee_cap_cents"
            ]
        );
    }
}
