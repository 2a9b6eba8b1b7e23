//! The domain's refusals, said in French next to the field they concern. The core layer words its
//! errors for API integrators (in English, naming JSON fields); a person filling in a form reads
//! what to type instead.

use std::collections::BTreeMap;

use passerelle_core::Error;

/// Why a form was refused: messages by field (the form's field names), and a message for the
/// whole form when the refusal concerns no single field.
#[derive(Debug, Default)]
pub(super) struct FormRefusal {
    pub fields: BTreeMap<String, String>,
    pub form: Option<String>,
}

impl FormRefusal {
    pub fn field(mut self, field: &str, message: impl Into<String>) -> Self {
        self.fields.insert(field.to_owned(), message.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    /// What a page's template shows: each field's message, the form's, and how many there are
    /// (the summary at the top of the form).
    pub fn to_view(&self) -> FormErrors {
        FormErrors {
            fields: self.fields.clone(),
            form: self.form.clone(),
            count: self.fields.len() + usize::from(self.form.is_some()),
        }
    }
}

/// A form's refusal as its page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct FormErrors {
    pub fields: BTreeMap<String, String>,
    pub form: Option<String>,
    pub count: usize,
}

/// The refusal a person can act on, or `None` when the error is the service's (the database), which
/// the caller answers with the "unavailable" page.
pub(super) fn refusal(err: &Error) -> Option<FormRefusal> {
    match err {
        Error::Invalid(fields) => Some(FormRefusal {
            fields: fields
                .iter()
                .map(|f| {
                    let message = match &f.rule {
                        Some(rule) => rule.french(),
                        None => field_message(member_field(&f.field)).to_owned(),
                    };
                    (form_field(&f.field).to_owned(), message)
                })
                .collect(),
            form: None,
        }),
        Error::Refused(refusal) => Some(FormRefusal {
            fields: BTreeMap::new(),
            form: Some(refusal.french()),
        }),
        Error::NotFound(what) => Some(FormRefusal {
            fields: BTreeMap::new(),
            form: Some(not_found(what)),
        }),
        Error::Busy(_) | Error::Internal(_) | Error::Database(_) => None,
    }
}

/// The form field a core field is typed in (nested JSON names are flattened by the forms).
fn form_field(core: &str) -> &str {
    match core {
        "interview" | "interview.on" => "interview_on",
        "interview.autonomy_level" => "autonomy_level",
        "competences" | "competences.code" | "competences.level" => "competences",
        "file" => "fichier",
        other => other,
    }
}

/// A field of a project's member (`members.<position>.<field>`) is the person's field.
fn member_field(core: &str) -> &str {
    core.strip_prefix("members.")
        .and_then(|rest| rest.split_once('.'))
        .map_or(core, |(_, field)| field)
}

/// What to type in a field the core refused without naming a rule: the field's one constraint.
fn field_message(field: &str) -> &'static str {
    match field {
        "first_name" => "Saisissez le prénom (100 caractères au plus).",
        "last_name" => "Saisissez le nom (100 caractères au plus).",
        "birth_year" => "Saisissez l’année de naissance sur 4 chiffres, par exemple 1952.",
        "commune_insee" => {
            "Saisissez le code INSEE de la commune, sur 5 caractères : par exemple 46042 pour Cahors."
        }
        "public_category" => "Choisissez un public dans la liste.",
        "postal_code" => "Saisissez le code postal sur 5 chiffres, par exemple 69003.",
        "commune_name" => "Saisissez le nom de votre commune.",
        "email" => "Saisissez une adresse électronique valide, par exemple nom@exemple.fr.",
        "phone" => {
            "Saisissez un numéro de téléphone de 8 à 15 chiffres, par exemple 05 65 00 00 00."
        }
        "email_consent" => "L’accord pour recevoir des courriels demande une adresse électronique.",
        "participation_fee_cents" => "La participation demandée dépasse le plafond du dispositif.",
        "scheme_id" => "Choisissez un dispositif dans la liste.",
        "members" => "Vérifiez la liste des personnes du groupe : une personne y figure deux fois.",
        "title" => "Saisissez un titre (200 caractères au plus).",
        "aim" => "Décrivez le projet en 2 000 caractères au plus.",
        "planned_sessions" => "Saisissez un nombre de séances entre 1 et 100.",
        "planned_minutes" => "Saisissez un nombre d’heures positif (au plus 1 666 heures).",
        "reference" => "Saisissez la référence imprimée sur le chèque, par exemple LOT-7K4M-Q2XP.",
        "interview" => {
            "Ce dispositif demande l’entretien de positionnement : indiquez sa date et sa durée."
        }
        "interview.on" => "L’entretien ne peut avoir eu lieu avant l’émission du chèque.",
        "interview.autonomy_level" => "Choisissez un niveau d’autonomie dans la liste.",
        "file" => "Choisissez un fichier CSV enregistré depuis votre tableur.",
        "modules" => "Choisissez les modules demandés par le dispositif.",
        "modules.title" => "Saisissez un titre (300 caractères au plus).",
        "modules.family" => "Saisissez un thème (100 caractères au plus).",
        "modules.description" => "Saisissez un texte court (1 000 caractères au plus).",
        "modules.resource_links" => {
            "Saisissez au plus 10 adresses de sites commençant par https://, une par ligne."
        }
        "module_number" => "Choisissez un module du dispositif.",
        "starts_at" => "Saisissez la date et l’heure de la séance.",
        "duration_minutes" => "Saisissez une durée entre 1 et 1 440 minutes.",
        "capacity" => "Saisissez un nombre de places entre 1 et 500.",
        "competences" | "competences.code" | "competences.level" => {
            "Les compétences ne se notent que pour une personne présente."
        }
        "status" => "Choisissez présent, absent ou excusé.",
        "reason" => "Saisissez un motif (500 caractères au plus).",
        "password" => "Choisissez un mot de passe d’au moins 12 caractères.",
        "code" => {
            "Saisissez un code court en minuscules, chiffres et tirets, par exemple ticket-net."
        }
        "name" => "Saisissez un nom (200 caractères au plus).",
        "preset" => "Choisissez un modèle dans la liste.",
        "effective_from" => {
            "Les règles ne changent jamais dans le passé : choisissez aujourd’hui ou une date à venir."
        }
        "face_value_cents" => "Saisissez une valeur en euros, positive ou nulle.",
        "voucher_minutes" => "Saisissez un nombre d’heures positif.",
        "session_minutes" => "Saisissez la durée d’une séance en minutes, positive.",
        "validity.months" => "Saisissez une validité entre 1 et 120 mois.",
        "interview_minutes" => "L’entretien dure de 1 à 480 minutes quand il est obligatoire.",
        "modules_to_choose" => {
            "Le nombre de modules à choisir dépasse le nombre de séances du chèque ou le catalogue."
        }
        "participation_fee_cap_cents" => {
            "Le plafond de participation est compris entre 0 et la valeur du chèque."
        }
        "hourly_rate_cents" | "interview_fee_cents" => {
            "Saisissez un montant en euros, positif ou nul."
        }
        "kind" => "Choisissez une nature de structure dans la liste.",
        "siret" => "Saisissez un SIRET de 14 chiffres (il est vérifié par sa clé).",
        "contact_email" => {
            "Saisissez une adresse électronique valide, par exemple accueil@ccas.example."
        }
        "contact_phone" => "Saisissez un numéro de téléphone de 30 caractères au plus.",
        "quantity" => "Saisissez un nombre de chèques positif, au moins égal au nombre déjà émis.",
        "period_start" | "period_end" => "Saisissez une période dont la fin suit le début.",
        "iban" => "Saisissez un IBAN valide, par exemple FR76 3000 6000 0112 3456 7890 189.",
        "bic" => "Saisissez un BIC de 8 ou 11 caractères, ou laissez vide.",
        "account_holder" => "Saisissez le titulaire du compte.",
        "display_name" => "Saisissez le prénom et le nom de la personne (200 caractères au plus).",
        "sender_name" => "Saisissez le nom de l’expéditeur des courriels (200 caractères au plus).",
        "sender_email" => {
            "Saisissez l’adresse d’expédition des courriels, par exemple cheques@lot.fr."
        }
        "role" => "Choisissez un rôle dans la liste.",
        "prescriber_id" => {
            "Un prescripteur est rattaché à une structure prescriptrice, et seul un prescripteur l’est : choisissez-la."
        }
        "epn_id" => {
            "Un animateur est rattaché à un EPN, et seul un animateur l’est : choisissez-le."
        }
        _ => "Cette valeur n’est pas acceptée.",
    }
}

fn not_found(what: &str) -> String {
    match what {
        "voucher" => "Aucun chèque ne porte cette référence dans votre espace.".into(),
        "beneficiary" => "Cette personne n’est pas suivie par votre structure.".into(),
        "session" => "Cette séance n’existe pas, ou n’est pas celle de votre EPN.".into(),
        "statement" => "Ce relevé n’existe pas.".into(),
        _ => "L’élément demandé n’existe pas.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_refusals_are_said_in_french_next_to_their_field() {
        let err = Error::Invalid(vec![
            passerelle_core::error::FieldError::new("commune_insee", "a 5-character code"),
            passerelle_core::error::FieldError::new(
                "interview.on",
                "before the voucher was issued",
            ),
            passerelle_core::error::FieldError::breaks(
                "modules",
                passerelle_core::FieldRule::ModulesToChoose {
                    required: 10,
                    given: 3,
                },
            ),
            passerelle_core::error::FieldError::new(
                "last_name",
                "this is not the last name of this voucher's holder",
            ),
        ]);
        let said = refusal(&err).expect("a refusal");
        assert!(said.fields["commune_insee"].contains("code INSEE"));
        assert!(said.fields["interview_on"].contains("avant l’émission"));
        assert_eq!(
            said.fields["modules"],
            "Choisissez le nombre de modules demandé par le dispositif (10) : 3 choisis."
        );
        // Without a rule, the field's own advice: the English is never read.
        assert_eq!(said.fields["last_name"], field_message("last_name"));
        let used_up = refusal(&Error::Refused(
            passerelle_core::Refusal::AllocationUsedUp {
                issued: 10,
                quantity: 10,
            },
        ))
        .expect("a refusal");
        assert!(used_up.form.expect("form message").contains("dotation"));
        assert!(refusal(&Error::Database(sqlx::Error::PoolTimedOut)).is_none());
        assert!(refusal(&Error::Internal("a template does not render".into())).is_none());
    }
}
