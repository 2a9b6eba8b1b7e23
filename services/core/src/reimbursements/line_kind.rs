//! What a statement line pays for, and what it comes from.

vocabulary! {
    /// What a line pays: a session attended (or absent, when the scheme pays absences), a
    /// positioning interview, or an adjustment of an earlier month (a voided attendance, a late
    /// record), which may be negative.
    pub enum LineKind {
        Attendance,
        Interview,
        Adjustment,
    }
}

vocabulary! {
    /// The record a line is computed from: an attendance or a registration's interview.
    pub enum LineSource {
        Attendance,
        Interview,
    }
}

impl LineSource {
    /// Whether the line is paid by the hour (an attendance) rather than a flat fee (an interview).
    pub fn paid_by_the_hour(self) -> bool {
        self == LineSource::Attendance
    }
}
