//! The domain's statuses and levels as a French reader sees them, in one place: the portal, the holder's
//! pages, the emails and the exports call these (an exhaustive match, so a new status cannot be
//! left without its label).

use crate::beneficiaries::PublicCategory;
use crate::delivery::{AttendanceStatus, AutonomyLevel, CompetenceLevel, SessionStatus};
use crate::emails::outbox::Kind as EmailKind;
use crate::emails::status::EmailStatus;
use crate::prescribers::PrescriberKind;
use crate::reimbursements::LineKind;
use crate::reimbursements::StatementStatus;
use crate::schemes::SchemeStatus;
use crate::vouchers::VoucherStatus;

/// A voucher's status, as staff and holders read it ("inscrit dans un EPN").
pub fn voucher_status(status: VoucherStatus) -> &'static str {
    match status {
        VoucherStatus::Issued => "délivré",
        VoucherStatus::Registered => "inscrit dans un EPN",
        VoucherStatus::InProgress => "en cours",
        VoucherStatus::Completed => "terminé",
        VoucherStatus::Expired => "expiré",
        VoucherStatus::Cancelled => "annulé",
    }
}

/// What a voucher's status means to its holder, in a sentence (the balance page).
pub fn voucher_status_for_holder(status: VoucherStatus) -> &'static str {
    match status {
        VoucherStatus::Issued => {
            "Votre chèque est actif : prenez rendez-vous dans un lieu participant."
        }
        VoucherStatus::Registered | VoucherStatus::InProgress => {
            "Votre chèque est en cours d’utilisation."
        }
        VoucherStatus::Completed => "Toutes les heures de votre chèque ont été utilisées.",
        VoucherStatus::Expired => "Votre chèque a expiré.",
        VoucherStatus::Cancelled => "Votre chèque a été annulé.",
    }
}

/// A scheme's status, as the tenant's staff read it.
pub fn scheme_status(status: SchemeStatus) -> &'static str {
    match status {
        SchemeStatus::Draft => "brouillon",
        SchemeStatus::Active => "ouvert",
        SchemeStatus::Closed => "clos",
    }
}

/// A statement's status, as finance and EPNs read it ("Ce relevé est déjà payé").
pub fn statement_status(status: StatementStatus) -> &'static str {
    match status {
        StatementStatus::Draft => "à valider",
        StatementStatus::Approved => "validé",
        StatementStatus::Paid => "payé",
    }
}

/// An email's status, as the tenant's staff read it in the email log.
pub fn email_status(status: EmailStatus) -> &'static str {
    match status {
        EmailStatus::Pending => "en attente",
        EmailStatus::Sent => "envoyé",
        EmailStatus::Failed => "échec",
        EmailStatus::Cancelled => "annulé",
    }
}

/// What an email is about, as the tenant's staff read it in the email log.
pub fn email_kind(kind: EmailKind) -> &'static str {
    match kind {
        EmailKind::Welcome => "bienvenue",
        EmailKind::Reminder => "rappel avant expiration",
        EmailKind::Expired => "chèque expiré",
        EmailKind::PrescriberDigest => "récapitulatif au prescripteur",
        EmailKind::Invitation => "invitation au portail",
        EmailKind::PasswordReset => "nouveau mot de passe",
        EmailKind::RequestReceived => "demande d’accompagnement reçue",
        EmailKind::RequestDeclined => "demande d’accompagnement déclinée",
        EmailKind::StatementApproved => "relevé validé, à l’EPN",
        EmailKind::StatementPaid => "relevé payé, à l’EPN",
    }
}

/// Where an accompaniment request stands, as staff and the person read it.
pub fn request_status(status: crate::delivery::RequestStatus) -> &'static str {
    use crate::delivery::RequestStatus as S;
    match status {
        S::Pending => "en attente de réponse",
        S::Accepted => "acceptée",
        S::Declined => "déclinée",
        S::Expired => "expirée sans réponse",
    }
}

/// Where a collective project stands, as its structure, its EPN and the tenant's team read it.
pub fn project_status(status: crate::delivery::ProjectStatus) -> &'static str {
    use crate::delivery::ProjectStatus as S;
    match status {
        S::Submitted => "en attente de décision",
        S::Approved => "approuvé",
        S::Rejected => "refusé",
    }
}

/// Where a person was oriented at the end of their journey, as the holder, the EPN and funders
/// read it.
pub fn orientation(kind: crate::delivery::OrientationKind) -> &'static str {
    use crate::delivery::OrientationKind as O;
    match kind {
        O::Pix => "PIX",
        O::Pcie => "PCIE (ICDL)",
        O::CleaNumerique => "CléA numérique",
        O::TrainingBody => "Un organisme de formation",
        O::OtherScheme => "Un autre dispositif",
        O::NoOrientation => "Pas d’orientation pour l’instant",
    }
}

/// A prescriber organisation's kind, as the tenant's staff read it.
pub fn prescriber_kind(kind: PrescriberKind) -> &'static str {
    match kind {
        PrescriberKind::Caf => "Caisse d’allocations familiales (CAF)",
        PrescriberKind::Cpam => "Caisse primaire d’assurance maladie (CPAM)",
        PrescriberKind::FranceTravail => "France Travail",
        PrescriberKind::Ccas => "Centre communal d’action sociale (CCAS)",
        PrescriberKind::MissionLocale => "Mission locale",
        PrescriberKind::Association => "Association",
        PrescriberKind::Employer => "Employeur",
        PrescriberKind::Other => "Autre",
    }
}

/// A public, in the customer's own words (forms, letters, charts).
pub fn public_category(category: PublicCategory) -> &'static str {
    match category {
        PublicCategory::MinimaSociaux => "Allocataires de minima sociaux",
        PublicCategory::SingleParent => "Femmes isolées avec enfants à charge",
        PublicCategory::Senior => "Retraités ou futurs retraités",
        PublicCategory::LowQualifiedEmployee => "Salariés peu qualifiés",
        PublicCategory::SpouseOfSelfEmployed => "Conjoints d’artisans, commerçants, agriculteurs",
        PublicCategory::ParentOfPupil => "Parents d’élèves",
        PublicCategory::SocialInsuranceUser => {
            "Assurés sociaux, allocataires, usagers des téléservices"
        }
        PublicCategory::Other => "Autre public",
    }
}

/// A funder's kind, as finance reads it.
pub fn funder_kind(kind: crate::funders::FunderKind) -> &'static str {
    use crate::funders::FunderKind as K;
    match kind {
        K::EuropeanFund => "Fonds européen (FSE+)",
        K::State => "État",
        K::FamilyAllowanceFund => "Caisse d’allocations familiales",
        K::Region => "Région",
        K::Department => "Département",
        K::Commune => "Commune ou intercommunalité",
        K::Other => "Autre financeur",
    }
}

/// What a statement line pays for, as finance and EPNs read it.
pub fn line_kind(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Attendance => "séance",
        LineKind::Interview => "entretien de positionnement",
        LineKind::Adjustment => "régularisation",
    }
}

/// A session's status, as the EPN's animators read it.
pub fn session_status(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Planned => "prévue",
        SessionStatus::Held => "tenue",
        SessionStatus::Cancelled => "annulée",
    }
}

/// How a person attended a session, on the attendance sheet.
pub fn attendance_status(status: AttendanceStatus) -> &'static str {
    match status {
        AttendanceStatus::Present => "présent",
        AttendanceStatus::Absent => "absent",
        AttendanceStatus::Excused => "excusé",
    }
}

/// A competence's level, as the sheet and the portfolio say it ("compétence acquise").
pub fn competence_level(level: CompetenceLevel) -> &'static str {
    match level {
        CompetenceLevel::Discovered => "découverte",
        CompetenceLevel::Practised => "pratiquée",
        CompetenceLevel::Acquired => "acquise",
    }
}

/// The autonomy assessed at the positioning interview, as the interview form lists it.
pub fn autonomy_level(level: AutonomyLevel) -> &'static str {
    match level {
        AutonomyLevel::None => "Aucune : n’a jamais utilisé d’ordinateur ni de smartphone",
        AutonomyLevel::Beginner => "Débutant",
        AutonomyLevel::Intermediate => "Intermédiaire",
        AutonomyLevel::Autonomous => "Autonome",
    }
}

/// Where a change of an EPN's bank details stands, as the EPN and finance read it.
pub fn bank_change_status(status: crate::epns::bank::BankChangeStatus) -> &'static str {
    use crate::epns::bank::BankChangeStatus as S;
    match status {
        S::Pending => "en attente de confirmation",
        S::Confirmed => "confirmé",
        S::Rejected => "refusé",
        S::Superseded => "remplacé par une saisie plus récente",
    }
}

/// Where a territory's archive stands, as its admin reads it.
pub fn archive_status(status: crate::archive::requests::ArchiveStatus) -> &'static str {
    use crate::archive::requests::ArchiveStatus as S;
    match status {
        S::Queued => "en attente",
        S::Running => "en préparation",
        S::Succeeded => "prête",
        S::Failed => "en échec",
        S::Expired => "supprimée",
    }
}
