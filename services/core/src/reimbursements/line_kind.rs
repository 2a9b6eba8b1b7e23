//! What a statement line pays for, and what it comes from.

/// What a line pays: a session attended (or absent, when the scheme pays absences), a
/// positioning interview, or an adjustment of an earlier month (a voided attendance, a late
/// record), which may be negative.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LineKind {
    Attendance,
    Interview,
    Adjustment,
}

/// The record a line is computed from: an attendance or a registration's interview.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    sqlx::Type,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::Display,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LineSource {
    Attendance,
    Interview,
}

impl LineSource {
    /// Whether the line is paid by the hour (an attendance) rather than a flat fee (an interview).
    pub fn paid_by_the_hour(self) -> bool {
        self == LineSource::Attendance
    }
}
