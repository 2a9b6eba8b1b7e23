//! The words of delivery at an EPN: where a session, an accompaniment request and a collective
//! project stand, how a person attended, how autonomous they were at the interview and how far
//! they got with a competence. Stored as snake_case text (`crate::vocabulary!`); the French labels
//! are in `crate::labels`.

vocabulary! {
    /// Where a session stands: planned until the EPN says it was held or cancelled.
    pub enum SessionStatus {
        Planned,
        Held,
        Cancelled,
    }
}

impl SessionStatus {
    /// Whether a session in this status may be set to `to`: a planned session is held or
    /// cancelled once; saying again what it already is changes nothing and is not refused.
    pub fn can_become(self, to: SessionStatus) -> bool {
        to != SessionStatus::Planned && (self == SessionStatus::Planned || self == to)
    }

    /// Whether people can still be enrolled on it and attendance recorded.
    pub fn is_cancelled(self) -> bool {
        self == SessionStatus::Cancelled
    }
}

vocabulary! {
    /// How a person attended a session; only presence debits the voucher.
    pub enum AttendanceStatus {
        Present,
        Absent,
        Excused,
    }
}

impl AttendanceStatus {
    /// Whether the session's minutes are debited from the voucher (and competences recorded).
    pub fn debits_minutes(self) -> bool {
        self == AttendanceStatus::Present
    }
}

vocabulary! {
    /// How far a person got with a competence of the referential in a session, from the first
    /// contact to mastery (the order is the progression).
    pub enum CompetenceLevel {
        Discovered,
        Practised,
        Acquired,
    }
}

vocabulary! {
    /// The person's autonomy with digital tools, assessed at the positioning interview.
    pub enum AutonomyLevel {
        /// Has never used a computer or a smartphone.
        None,
        Beginner,
        Intermediate,
        Autonomous,
    }
}

vocabulary! {
    /// Where a request for the 2-hour accompaniment stands: pending until the EPN (or the tenant)
    /// accepts it, issuing the voucher, or declines it; a public request nobody answered in time
    /// expires.
    pub enum RequestStatus {
        Pending,
        Accepted,
        Declined,
        Expired,
    }
}

impl RequestStatus {
    /// Whether it was already accepted or declined: a decision is taken once.
    pub fn is_decided(self) -> bool {
        self != RequestStatus::Pending
    }
}

vocabulary! {
    /// How an accompaniment request came: a prescriber's agent filed it, or the person filled the
    /// public form.
    pub enum RequestChannel {
        Prescriber,
        PublicForm,
    }
}

vocabulary! {
    /// Where a collective project stands: submitted by its structure, then approved (its sessions
    /// may be run) or rejected by the tenant.
    pub enum ProjectStatus {
        Submitted,
        Approved,
        Rejected,
    }
}

vocabulary! {
    /// Where the EPN orients a person at the end of their journey (« orienter vers une
    /// certification »).
    pub enum OrientationKind {
        /// PIX, the national certification of digital skills.
        Pix,
        /// PCIE (ICDL), the European computer driving licence.
        Pcie,
        /// CléA numérique, the certificate of basic digital knowledge.
        CleaNumerique,
        /// A training body.
        TrainingBody,
        /// Another scheme (a digital-inclusion or employment programme).
        OtherScheme,
        /// No orientation for now.
        NoOrientation,
    }
}

impl ProjectStatus {
    /// Whether it was already approved or rejected: a decision is taken once.
    pub fn is_decided(self) -> bool {
        self != ProjectStatus::Submitted
    }

    /// Whether its sessions may be run and their attendance recorded.
    pub fn runs_sessions(self) -> bool {
        self == ProjectStatus::Approved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_session_is_held_or_cancelled_once() {
        use SessionStatus::*;
        let allowed: Vec<_> = SessionStatus::all()
            .flat_map(|from| SessionStatus::all().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Planned, Held),
                (Planned, Cancelled),
                (Held, Held),
                (Cancelled, Cancelled)
            ]
        );
    }

    #[test]
    fn only_presence_debits_and_the_words_are_the_stored_ones() {
        let debiting: Vec<_> = AttendanceStatus::all()
            .filter(|s| s.debits_minutes())
            .collect();
        assert_eq!(debiting, [AttendanceStatus::Present]);
        assert_eq!("excused".parse(), Ok(AttendanceStatus::Excused));
        assert_eq!(CompetenceLevel::Practised.as_str(), "practised");
        assert!(CompetenceLevel::Discovered < CompetenceLevel::Acquired);
        assert_eq!(AutonomyLevel::None.as_str(), "none");
        assert_eq!(AutonomyLevel::all().count(), 4);
    }

    #[test]
    fn requests_and_projects_are_decided_once_and_only_an_approved_project_runs() {
        let open: Vec<_> = RequestStatus::all().filter(|s| !s.is_decided()).collect();
        assert_eq!(open, [RequestStatus::Pending]);
        let open: Vec<_> = ProjectStatus::all().filter(|s| !s.is_decided()).collect();
        assert_eq!(open, [ProjectStatus::Submitted]);
        let running: Vec<_> = ProjectStatus::all().filter(|s| s.runs_sessions()).collect();
        assert_eq!(running, [ProjectStatus::Approved]);
    }
}
