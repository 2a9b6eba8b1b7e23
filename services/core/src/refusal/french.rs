//! Every refusal in French (the detail a person reads) and every kind's titles in English and
//! French (the problem-type page). Exhaustive matches: the compiler refuses a refusal without them.

use super::{Refusal, RefusalKind};
use crate::emails::french::{duration, long_date, month_year};
use crate::labels;

/// What a person is told, with the facts of this occurrence.
pub(super) fn detail(refusal: &Refusal) -> String {
    use Refusal as R;
    match refusal {
        R::TenantSlugTaken => "Un espace porte déjà cet identifiant.".into(),
        R::TenantTerritoryTaken => "Un espace existe déjà pour ce territoire.".into(),
        R::ReferencePrefixTaken => {
            "Un autre espace utilise déjà ce préfixe de référence : choisissez-en un autre.".into()
        }
        R::UserEmailTaken => {
            "Un compte existe déjà avec cette adresse électronique dans l’espace.".into()
        }
        R::UserDisabled => "Ce compte est désactivé.".into(),
        R::LastTenantAdmin => "C’est le dernier administrateur actif de l’espace : nommez d’abord un autre administrateur, sinon plus personne ne pourrait le gérer.".into(),
        R::EpnSourceTaken => "Un autre EPN porte déjà cet identifiant de la source.".into(),
        R::SchemeCodeTaken => "Un dispositif porte déjà ce code court.".into(),
        R::RulesDateTaken => "Une version des règles commence déjà à cette date.".into(),
        R::FunderNameTaken => "Un financeur porte déjà ce nom.".into(),
        R::FundingDateTaken => {
            "Une version du plan de financement de ce dispositif commence déjà à cette date.".into()
        }
        R::ModuleNumberTaken => "Un module porte déjà ce numéro dans ce dispositif.".into(),
        R::ModulesInUse { numbers } => format!(
            "Ces modules ne peuvent pas quitter le catalogue : des EPN les proposent, des chèques les ont choisis ou des séances y sont prévues (n° {}). Changez plutôt leur texte.",
            numbers.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        ),
        R::SchemeClosed => "Ce dispositif est clos : ses règles ne changent plus.".into(),
        R::SchemeStatusChange { .. } => "Ce changement d’état n’est pas possible : un dispositif passe de brouillon à ouvert, puis à clos.".into(),
        R::NoRulesInForce { on } => format!(
            "Ce dispositif n’a pas de règles en vigueur le {}.",
            long_date(*on)
        ),
        R::SchemeNotActive { .. } => {
            "Ce dispositif n’est pas ouvert : aucun chèque ne peut être émis.".into()
        }
        R::SchemeValidityEnded { valid_until } => format!(
            "Les chèques de ce dispositif ne sont plus valables depuis le {}.",
            long_date(*valid_until)
        ),
        R::NoAccompaniment => {
            "Ce dispositif ne propose pas d’accompagnement personnalisé.".into()
        }
        R::NoCollectiveProjects => "Ce dispositif ne propose pas de projets collectifs.".into(),
        R::NoIndividualVouchers => "Ce dispositif ne délivre pas de chèques individuels.".into(),
        R::AllocationOverlaps => "Cette structure a déjà une dotation pour ce dispositif sur une partie de cette période.".into(),
        R::AllocationUsedUp { issued, quantity } => format!(
            "La dotation de chèques de votre structure pour ce dispositif est épuisée ({issued} émis sur {quantity}) : demandez-en à l’administrateur de l’espace."
        ),
        R::NoAllocation { on } => format!(
            "Votre structure n’a pas de dotation de chèques pour ce dispositif le {} : demandez-en à l’administrateur de l’espace.",
            long_date(*on)
        ),
        R::BudgetEnvelopeUsedUp { .. } => {
            "L’enveloppe budgétaire de ce dispositif est épuisée.".into()
        }
        R::FundingChosenByAdmin => "Seul l’administrateur de l’espace choisit la structure dont la dotation finance une demande venue du formulaire public : demandez-lui de désigner celle qui finance les demandes de ce dispositif.".into(),
        R::ProbableDuplicate { .. } => "Une personne avec les mêmes nom, prénom, année de naissance et commune est déjà enregistrée.".into(),
        R::BeneficiaryErased => "Les données de cette personne ont été effacées.".into(),
        R::ReferenceTaken => "Cette référence est déjà utilisée.".into(),
        R::VoucherCancelled => "Ce chèque est annulé.".into(),
        R::VoucherExpired { valid_until } => {
            format!("Ce chèque a expiré le {}.", long_date(*valid_until))
        }
        R::VoucherClosed { .. } => {
            "Ce chèque est terminé : il ne peut plus être inscrit.".into()
        }
        R::VoucherAlreadyCancelled => "Ce chèque est déjà annulé.".into(),
        R::VoucherInUse { .. } => {
            "Un chèque ne s’annule que tant qu’aucune de ses heures n’a été utilisée.".into()
        }
        R::AlreadyRegisteredHere => "Ce chèque est déjà inscrit dans votre EPN.".into(),
        R::RegisteredElsewhere => "Ce chèque est inscrit dans un autre EPN : l’administrateur de l’espace peut le transférer.".into(),
        R::AlreadyRegistered => "Ce chèque est déjà inscrit dans un EPN.".into(),
        R::NotRegisteredHere => "Ce chèque n’est pas inscrit dans votre EPN.".into(),
        R::NotRegistered => "Ce chèque n’est inscrit dans aucun EPN.".into(),
        R::EpnNotInScheme => "Cet EPN ne participe pas au dispositif de ce chèque.".into(),
        R::NoSessionLeft => {
            "Il ne reste aucune séance sur ce chèque : ses modules ne changent plus.".into()
        }
        R::SessionCancelled => "Cette séance est annulée.".into(),
        R::SessionFull { capacity } => {
            format!("Cette séance est complète ({capacity} places).")
        }
        R::SessionStatusChange { .. } => "Cette séance ne peut plus changer d’état.".into(),
        R::SessionHasAttendance => "Des présences sont notées pour cette séance : annulez-les avant d’annuler la séance.".into(),
        R::SessionNotStarted { starts_at } => format!(
            "Cette séance n’a pas encore commencé (elle commence le {} à {}) : la présence se note pendant la séance ou après.",
            long_date(starts_at.date()),
            starts_at.format("%H:%M")
        ),
        R::SessionOfAnotherScheme => {
            "Cette séance relève d’un autre dispositif que le chèque.".into()
        }
        R::SessionBeforeIssue { issued_on, .. } => format!(
            "La séance a lieu avant l’émission du chèque (le {}).",
            long_date(*issued_on)
        ),
        R::VoucherNotValidThatDay { valid_until, .. } => format!(
            "Le chèque n’était plus valable à la date de la séance (dernier jour : {}).",
            long_date(*valid_until)
        ),
        R::ModuleNotChosen { module } => format!(
            "Le module {module} ne fait pas partie des modules choisis par la personne : cochez « hors parcours » pour noter sa présence quand même."
        ),
        R::RecordingPeriodOver { session_day, last_day } => format!(
            "Le chèque a expiré : la présence à la séance du {} pouvait être notée jusqu’au {} inclus.",
            long_date(*session_day),
            long_date(*last_day)
        ),
        R::AlreadyRecorded => "La présence de ce chèque est déjà notée pour cette séance.".into(),
        R::InsufficientBalance {
            minutes_left,
            minutes,
        } => format!(
            "Le solde d’heures du chèque ne suffit pas pour cette séance : il reste {}, la séance dure {}.",
            duration(*minutes_left),
            duration(*minutes)
        ),
        R::AttendanceAlreadyVoided => "Cette présence est déjà annulée.".into(),
        R::RequestAlreadyDecided { .. } => "Cette demande a déjà été traitée.".into(),
        R::ProjectAlreadyDecided { .. } => "Ce projet a déjà été examiné.".into(),
        R::ProjectNotApproved => {
            "La présence ne se note que pour un projet approuvé.".into()
        }
        R::JourneyNotStarted => {
            "L’orientation se note à la fin d’un parcours : aucune séance n’a encore été suivie avec ce chèque.".into()
        }
        R::CredentialAlreadyRevoked { on } => {
            format!("Cette attestation a déjà été révoquée le {}.", long_date(*on))
        }
        R::StatementAlreadyDecided { status, .. } => {
            format!("Ce relevé est déjà {}.", labels::statement_status(*status))
        }
        R::StatementDoesNotAddUp { .. } => "Les lignes de ce relevé ne correspondent plus à son total : relancez le calcul du mois avant de le valider.".into(),
        R::AttendanceChanged { .. } => "Des présences ont changé depuis le calcul de ce relevé : relancez le calcul du mois avant de le valider.".into(),
        R::StatementNotApproved { .. } => "Seul un relevé validé peut être marqué payé.".into(),
        R::TreasuryAccountMissing => "Le compte de trésorerie de l’espace n’est pas renseigné : l’administrateur de l’espace doit le saisir avant tout virement.".into(),
        R::NothingToPay { month } => format!(
            "Aucun relevé validé et non payé à virer pour {} : validez d’abord les relevés.",
            month_year(*month)
        ),
        R::IbanMissing { epns } => format!(
            "Pas d’IBAN confirmé pour : {}. Leurs coordonnées bancaires doivent être saisies puis confirmées par une seconde personne avant le virement.",
            epns.join(", ")
        ),
        R::BankChangeAlreadyDecided { status } => format!(
            "Ce changement de coordonnées bancaires est déjà {}.",
            labels::bank_change_status(*status)
        ),
        R::BankChangeNeedsAnotherPerson => "Un changement de coordonnées bancaires est confirmé par une autre personne que celle qui l’a saisi : demandez à un collègue du service financier ou à l’administrateur de l’espace.".into(),
        R::EmailNotRetryable { .. } => {
            "Seul un courriel en échec ou annulé peut être renvoyé.".into()
        }
        R::ExportFailed { .. } => {
            "Cet export a échoué : demandez-en un nouveau.".into()
        }
        R::ExportNotReady { .. } => {
            "Cet export n’est pas encore prêt : réessayez dans quelques minutes.".into()
        }
        R::ExportsPerDayUsedUp { limit } => format!(
            "Trop d’exports ont été demandés pour cet espace : au plus {limit} par période de 24 heures. Réessayez plus tard."
        ),
        R::ExportsWaiting { limit } => format!(
            "{limit} exports sont déjà en attente ou en cours : réessayez quand l’un d’eux sera terminé."
        ),
        R::ArchiveUnderWay { .. } => "Une archive de l’espace est déjà en préparation : attendez qu’elle soit prête pour la télécharger.".into(),
        R::ArchivesPerDayUsedUp { limit } => format!(
            "Trop d’archives ont été demandées pour cet espace : au plus {limit} par période de 24 heures. Réessayez plus tard."
        ),
        R::ArchiveNotReady { .. } => {
            "Cette archive n’est pas encore prête : réessayez dans quelques minutes.".into()
        }
        R::ArchiveFailed { .. } => "La préparation de cette archive a échoué : demandez-en une nouvelle.".into(),
        R::ArchiveExpired { expired_on, days } => format!(
            "Le fichier de cette archive a été supprimé le {}, car une archive contient les données de toutes les personnes et n’est gardée que {days} jours : demandez-en une nouvelle.",
            expired_on.format("%d/%m/%Y")
        ),
        R::SecondFactorCodeWrong { attempts_left } => format!(
            "Ce code est incorrect, expiré ou déjà utilisé : saisissez le code que votre application affiche en ce moment, ou un code de secours pas encore utilisé. {}",
            match attempts_left {
                0 => "Après cinq erreurs, la connexion est fermée : reconnectez-vous avec votre mot de passe.".to_owned(),
                1 => "Encore une erreur et la connexion sera fermée.".to_owned(),
                n => format!("Encore {n} essais avant la fermeture de la connexion."),
            }
        ),
        R::SecondFactorAlreadyEnrolled => "La double authentification est déjà activée pour ce compte.".into(),
        R::SecondFactorNotEnrolled => "La double authentification n’est pas activée pour ce compte.".into(),
        R::LogoTooLarge { size_kib, max_kib } => format!(
            "Le logo pèse {size_kib} Kio : il doit peser au plus {max_kib} Kio. Enregistrez-le en PNG plus petit, ou en SVG."
        ),
        R::LogoUnreadable { .. } => "Ce fichier n’est pas une image PNG ou SVG lisible : enregistrez le logo dans l’un de ces deux formats.".into(),
        R::LogoDimensions { width, height, min, max } => format!(
            "Le logo mesure {width} × {height} pixels : chaque côté doit mesurer entre {min} et {max} pixels."
        ),
        R::LogoUnsafe { what } => format!(
            "Ce logo SVG contient {what}. Un logo affiché sur toutes les pages ne peut contenir ni script, ni réaction aux clics, ni lien vers un autre fichier : exportez-le à nouveau en « SVG simple » ou en PNG."
        ),
        R::Duplicate { .. } => "Cet élément existe déjà.".into(),
    }
}

/// The kind's titles, in English then in French.
pub(super) fn titles(kind: RefusalKind) -> (&'static str, &'static str) {
    use RefusalKind as K;
    match kind {
        K::TenantSlugTaken => ("Tenant slug taken", "Identifiant d’espace déjà pris"),
        K::TenantTerritoryTaken => ("Territory already has a tenant", "Territoire déjà ouvert"),
        K::ReferencePrefixTaken => ("Reference prefix taken", "Préfixe de référence déjà pris"),
        K::UserEmailTaken => ("Email already used", "Adresse déjà utilisée"),
        K::UserDisabled => ("User disabled", "Compte désactivé"),
        K::LastTenantAdmin => ("Last tenant admin", "Dernier administrateur"),
        K::EpnSourceTaken => ("EPN source id taken", "Identifiant d’EPN déjà pris"),
        K::SchemeCodeTaken => ("Scheme code taken", "Code de dispositif déjà pris"),
        K::RulesDateTaken => (
            "Rules already change on this date",
            "Règles déjà datées de ce jour",
        ),
        K::ModuleNumberTaken => ("Module number taken", "Numéro de module déjà pris"),
        K::FunderNameTaken => ("Funder name taken", "Nom de financeur déjà pris"),
        K::FundingDateTaken => (
            "Funding already changes on this date",
            "Financement déjà daté de ce jour",
        ),
        K::ModulesInUse => ("Modules in use", "Modules utilisés"),
        K::SchemeClosed => ("Scheme closed", "Dispositif clos"),
        K::SchemeStatusChange => (
            "Scheme status cannot change so",
            "Changement d’état impossible",
        ),
        K::NoRulesInForce => ("No rules in force", "Pas de règles en vigueur"),
        K::SchemeNotActive => ("Scheme not active", "Dispositif non ouvert"),
        K::SchemeValidityEnded => (
            "Scheme's vouchers no longer valid",
            "Validité du dispositif terminée",
        ),
        K::NoAccompaniment => (
            "No personalised accompaniment",
            "Pas d’accompagnement personnalisé",
        ),
        K::NoCollectiveProjects => ("No collective projects", "Pas de projets collectifs"),
        K::NoIndividualVouchers => ("No individual vouchers", "Pas de chèques individuels"),
        K::AllocationOverlaps => ("Allocation overlaps another", "Dotation en chevauchement"),
        K::AllocationUsedUp => ("Allocation used up", "Dotation épuisée"),
        K::NoAllocation => ("No allocation", "Pas de dotation"),
        K::BudgetEnvelopeUsedUp => ("Budget envelope used up", "Enveloppe budgétaire épuisée"),
        K::FundingChosenByAdmin => (
            "Only a tenant admin chooses the funding",
            "Financement choisi par l’administrateur",
        ),
        K::ProbableDuplicate => ("Probable duplicate", "Doublon probable"),
        K::BeneficiaryErased => ("Beneficiary erased", "Personne effacée"),
        K::ReferenceTaken => ("Reference taken", "Référence déjà utilisée"),
        K::VoucherCancelled => ("Voucher cancelled", "Chèque annulé"),
        K::VoucherExpired => ("Voucher expired", "Chèque expiré"),
        K::VoucherClosed => ("Voucher closed", "Chèque terminé"),
        K::VoucherAlreadyCancelled => ("Voucher already cancelled", "Chèque déjà annulé"),
        K::VoucherInUse => ("Voucher in use", "Chèque entamé"),
        K::AlreadyRegisteredHere => ("Already registered here", "Déjà inscrit dans cet EPN"),
        K::RegisteredElsewhere => ("Registered at another EPN", "Inscrit dans un autre EPN"),
        K::AlreadyRegistered => ("Already registered", "Déjà inscrit"),
        K::NotRegisteredHere => ("Not registered at this EPN", "Non inscrit dans cet EPN"),
        K::NotRegistered => ("Not registered", "Non inscrit"),
        K::EpnNotInScheme => ("EPN not in the scheme", "EPN hors du dispositif"),
        K::NoSessionLeft => ("No session left", "Plus de séance"),
        K::SessionCancelled => ("Session cancelled", "Séance annulée"),
        K::SessionFull => ("Session full", "Séance complète"),
        K::SessionStatusChange => (
            "Session status cannot change so",
            "Changement d’état de séance impossible",
        ),
        K::SessionHasAttendance => ("Session has attendance", "Séance avec présences"),
        K::SessionNotStarted => ("Session not started", "Séance pas encore commencée"),
        K::SessionOfAnotherScheme => ("Session of another scheme", "Séance d’un autre dispositif"),
        K::SessionBeforeIssue => ("Session before issuance", "Séance avant l’émission"),
        K::VoucherNotValidThatDay => ("Voucher not valid that day", "Chèque non valable ce jour"),
        K::RecordingPeriodOver => ("Recording period over", "Délai de saisie dépassé"),
        K::ModuleNotChosen => ("Module not chosen", "Module non choisi"),
        K::AlreadyRecorded => ("Attendance already recorded", "Présence déjà notée"),
        K::InsufficientBalance => ("Insufficient balance", "Solde insuffisant"),
        K::AttendanceAlreadyVoided => ("Attendance already voided", "Présence déjà annulée"),
        K::RequestAlreadyDecided => ("Request already decided", "Demande déjà traitée"),
        K::ProjectAlreadyDecided => ("Project already decided", "Projet déjà examiné"),
        K::ProjectNotApproved => ("Project not approved", "Projet non approuvé"),
        K::JourneyNotStarted => ("Journey not started", "Parcours non commencé"),
        K::CredentialAlreadyRevoked => ("Credential already revoked", "Attestation déjà révoquée"),
        K::StatementAlreadyDecided => ("Statement already decided", "Relevé déjà traité"),
        K::StatementDoesNotAddUp => ("Statement does not add up", "Relevé incohérent"),
        K::AttendanceChanged => ("Attendance changed", "Présences modifiées"),
        K::StatementNotApproved => ("Statement not approved", "Relevé non validé"),
        K::TreasuryAccountMissing => ("Treasury account missing", "Compte de trésorerie manquant"),
        K::NothingToPay => ("Nothing to pay", "Rien à payer"),
        K::IbanMissing => ("IBAN missing", "IBAN manquant"),
        K::BankChangeAlreadyDecided => (
            "Bank change already decided",
            "Changement bancaire déjà traité",
        ),
        K::BankChangeNeedsAnotherPerson => (
            "Bank change needs another person",
            "Confirmation par une autre personne",
        ),
        K::EmailNotRetryable => ("Email not retryable", "Courriel non renvoyable"),
        K::ExportFailed => ("Export failed", "Export en échec"),
        K::ExportNotReady => ("Export not ready", "Export pas encore prêt"),
        K::ExportsPerDayUsedUp => (
            "Daily export quota used up",
            "Quota d’exports du jour atteint",
        ),
        K::ExportsWaiting => ("Too many exports waiting", "Trop d’exports en attente"),
        K::ArchiveUnderWay => ("Archive under way", "Archive déjà en préparation"),
        K::ArchivesPerDayUsedUp => (
            "Daily archive quota used up",
            "Quota d’archives du jour atteint",
        ),
        K::ArchiveNotReady => ("Archive not ready", "Archive pas encore prête"),
        K::ArchiveFailed => ("Archive failed", "Archive en échec"),
        K::ArchiveExpired => ("Archive expired", "Archive supprimée"),
        K::SecondFactorCodeWrong => ("Second factor code wrong", "Code incorrect"),
        K::SecondFactorAlreadyEnrolled => (
            "Second factor already enrolled",
            "Double authentification déjà activée",
        ),
        K::SecondFactorNotEnrolled => (
            "Second factor not enrolled",
            "Double authentification non activée",
        ),
        K::LogoTooLarge => ("Logo too large", "Logo trop lourd"),
        K::LogoUnreadable => ("Logo unreadable", "Logo illisible"),
        K::LogoDimensions => ("Logo dimensions", "Dimensions du logo"),
        K::LogoUnsafe => ("Logo unsafe", "Logo refusé"),
        K::Duplicate => ("Duplicate", "Doublon"),
    }
}
