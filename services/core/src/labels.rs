//! The domain's statuses as a French reader sees them, in one place: the portal, the holder's
//! pages, the emails and the exports call these (an exhaustive match, so a new status cannot be
//! left without its label).

use crate::emails::status::EmailStatus;
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
