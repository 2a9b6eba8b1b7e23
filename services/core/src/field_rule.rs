//! The rules a field can break when "this value is not accepted" is not enough to correct it: a
//! field refused for one of several reasons (a last name that is well formed but not the holder's,
//! a file that is not CSV or lacks columns) carries its rule, typed. Its English (for integrators)
//! and French (for a person at a form) are written here, in exhaustive matches, so the portal never
//! reads the English to find out which rule it was.

use crate::beneficiaries::PublicCategory;
use crate::labels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldRule {
    /// The last name is well formed but is not the voucher holder's.
    NotTheHolder,
    /// The person's public is not among the scheme's eligible publics.
    NotEligible { category: PublicCategory },
    /// The number of modules chosen is not the scheme's.
    ModulesToChoose { required: u32, given: usize },
    /// The same module is chosen twice.
    ModuleChosenTwice,
    /// The EPN does not offer these modules in this scheme.
    ModulesNotOffered { modules: Vec<i32> },
    /// The voucher's hours are not a whole number of sessions.
    NotWholeSessions {
        voucher_minutes: u32,
        session_minutes: u32,
    },
    /// A file that cannot be read as CSV (its encoding, a broken quote).
    UnreadableCsv { reason: String },
    /// The bulk issuance file lacks columns of its template.
    MissingColumns {
        missing: Vec<String>,
        found: Vec<String>,
    },
    /// The EPN file is not the national open-data format of *lieux de médiation numérique*.
    NotOpenDataFormat { missing: Vec<String> },
    /// A file with more rows than one upload may hold.
    TooManyRows { max: usize },
    /// A file larger than one upload may be.
    FileTooLarge { max_megabytes: usize },
    /// No file, or an empty one.
    EmptyFile,
    /// A commune code of the right shape that is no commune of the official list; `suggestions`
    /// are communes it may have meant, as "Figeac (46102)".
    UnknownCommune {
        code: String,
        suggestions: Vec<String>,
    },
    /// A public request gives neither a phone number nor an email address.
    NoWayToReach,
    /// A collective project's group is smaller or larger than the scheme allows.
    GroupSize { min: u32, max: u32, given: usize },
    /// The same person appears twice in a project's members; `first` is the position (from 1)
    /// of their first appearance.
    ListedTwice { first: usize },
    /// A new member has the names, birth year and commune of a person the structure already
    /// follows: name that person instead, or say it is another person.
    KnownPerson { existing: uuid::Uuid },
    /// The EPN chosen does not take part in the scheme.
    EpnNotTakingPart,
}

impl FieldRule {
    /// A stable code for the rule, for clients that branch on it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotTheHolder => "not_the_holder",
            Self::NotEligible { .. } => "not_eligible",
            Self::ModulesToChoose { .. } => "modules_to_choose",
            Self::ModuleChosenTwice => "module_chosen_twice",
            Self::ModulesNotOffered { .. } => "modules_not_offered",
            Self::NotWholeSessions { .. } => "not_whole_sessions",
            Self::UnreadableCsv { .. } => "unreadable_csv",
            Self::MissingColumns { .. } => "missing_columns",
            Self::NotOpenDataFormat { .. } => "not_open_data_format",
            Self::TooManyRows { .. } => "too_many_rows",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::EmptyFile => "empty_file",
            Self::UnknownCommune { .. } => "unknown_commune",
            Self::NoWayToReach => "no_way_to_reach",
            Self::GroupSize { .. } => "group_size",
            Self::ListedTwice { .. } => "listed_twice",
            Self::KnownPerson { .. } => "known_person",
            Self::EpnNotTakingPart => "epn_not_taking_part",
        }
    }

    /// What an integrator reads in the problem's `errors`.
    pub fn english(&self) -> String {
        match self {
            Self::NotTheHolder => "this is not the last name of this voucher's holder".into(),
            Self::NotEligible { category } => {
                format!("`{category}` is not among this scheme's eligible publics")
            }
            Self::ModulesToChoose { required, given } => {
                format!("choose exactly {required} modules (the scheme's rule), {given} given")
            }
            Self::ModuleChosenTwice => "a module is chosen twice".into(),
            Self::ModulesNotOffered { modules } => format!(
                "this EPN does not offer module(s) {} in this scheme",
                list(modules)
            ),
            Self::NotWholeSessions {
                voucher_minutes,
                session_minutes,
            } => format!(
                "{voucher_minutes} minutes is not a whole number of {session_minutes}-minute sessions"
            ),
            Self::UnreadableCsv { reason } => format!("unreadable CSV: {reason}"),
            Self::MissingColumns { missing, found } => format!(
                "missing column(s): {} (found: {})",
                missing.join(", "),
                found.join(", ")
            ),
            Self::NotOpenDataFormat { missing } => format!(
                "not the lieux de médiation numérique format: missing column(s) {}",
                missing.join(", ")
            ),
            Self::TooManyRows { max } => format!("at most {max} rows per file"),
            Self::FileTooLarge { max_megabytes } => format!("at most {max_megabytes} MB per file"),
            Self::EmptyFile => "the file is empty".into(),
            Self::UnknownCommune { code, suggestions } => format!(
                "{code} is not a commune of the Code officiel géographique ({}){}",
                crate::communes::source(),
                if suggestions.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", suggestions.join(", "))
                }
            ),
            Self::NoWayToReach => {
                "a phone number or an email address, so that the EPN can reach the person".into()
            }
            Self::GroupSize { min, max, given } => {
                format!("a project gathers {min} to {max} people; {given} given")
            }
            Self::ListedTwice { first } => {
                format!("the same person as member {first} (counted from 1)")
            }
            Self::KnownPerson { existing } => format!(
                "your organisation already follows this person (beneficiary {existing}): send its \
                 beneficiary_id, or allow_duplicate if it is someone else"
            ),
            Self::EpnNotTakingPart => "this EPN does not take part in this scheme".into(),
        }
    }

    /// What a person at a form reads next to the field.
    pub fn french(&self) -> String {
        match self {
            Self::NotTheHolder => {
                "Ce n’est pas le nom du titulaire de ce chèque : vérifiez l’orthographe avec la personne.".into()
            }
            Self::NotEligible { category } => format!(
                "Ce public ({}) n’est pas éligible à ce dispositif.",
                labels::public_category(*category)
            ),
            Self::ModulesToChoose { required, given } => format!(
                "Choisissez le nombre de modules demandé par le dispositif ({required}) : {given} choisi{}.",
                if *given > 1 { "s" } else { "" }
            ),
            Self::ModuleChosenTwice => "Un module est choisi deux fois.".into(),
            Self::ModulesNotOffered { modules } if modules.len() == 1 => format!(
                "Votre EPN ne propose pas le module {} dans ce dispositif.",
                list(modules)
            ),
            Self::ModulesNotOffered { modules } => format!(
                "Votre EPN ne propose pas les modules {} dans ce dispositif.",
                list(modules)
            ),
            Self::NotWholeSessions { .. } => {
                "Le nombre d’heures du chèque doit faire un nombre entier de séances.".into()
            }
            Self::UnreadableCsv { .. } => {
                "Le fichier ne peut pas être lu comme un CSV : enregistrez-le au format CSV depuis votre tableur.".into()
            }
            Self::MissingColumns { missing, .. } => format!(
                "Il manque des colonnes au fichier : {}. Sa première ligne doit nommer les colonnes du modèle.",
                missing.join(", ")
            ),
            Self::NotOpenDataFormat { missing } => format!(
                "Ce fichier n’est pas au format des lieux de médiation numérique (schéma national) : il y manque les colonnes {}.",
                missing.join(", ")
            ),
            Self::TooManyRows { max } => format!(
                "Un fichier compte au plus {} lignes : découpez-le en plusieurs fichiers.",
                thousands(*max)
            ),
            Self::FileTooLarge { max_megabytes } => {
                format!("Le fichier dépasse {max_megabytes} Mo : découpez-le en plusieurs fichiers.")
            }
            Self::EmptyFile => "Choisissez le fichier CSV à envoyer : celui-ci est vide.".into(),
            Self::UnknownCommune { code, suggestions } => format!(
                "Aucune commune n’a le code {code}{}",
                if suggestions.is_empty() {
                    " : vérifiez-le sur le courrier de la mairie ou l’avis d’imposition.".to_owned()
                } else {
                    format!(". Vouliez-vous dire {} ?", suggestions.join(", "))
                }
            ),
            Self::NoWayToReach => {
                "Donnez un numéro de téléphone ou une adresse électronique : l’espace numérique vous contactera ainsi.".into()
            }
            Self::GroupSize { min, max, given } => format!(
                "Un projet réunit de {min} à {max} personnes : {given} indiquée{}.",
                if *given > 1 { "s" } else { "" }
            ),
            Self::ListedTwice { first } => {
                format!("C’est la même personne que la personne {first} : retirez l’une des deux.")
            }
            Self::KnownPerson { .. } => {
                "Votre structure suit déjà une personne avec ces nom, prénom, année de naissance et commune : dites si c’est la même.".into()
            }
            Self::EpnNotTakingPart => {
                "Cet EPN ne participe pas à ce dispositif : choisissez-en un dans la liste.".into()
            }
        }
    }
}

/// A count as French writes it: groups of three digits apart, by a no-break space.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{a0}');
        }
        out.push(digit);
    }
    out
}

fn list(modules: &[i32]) -> String {
    modules
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_says_its_facts_in_both_languages() {
        let rule = FieldRule::ModulesToChoose {
            required: 10,
            given: 3,
        };
        assert_eq!(
            rule.french(),
            "Choisissez le nombre de modules demandé par le dispositif (10) : 3 choisis."
        );
        assert!(rule.english().contains("exactly 10"));
        let rule = FieldRule::TooManyRows { max: 10_000 };
        assert!(
            rule.french().contains("10\u{a0}000 lignes"),
            "{}",
            rule.french()
        );
        let rule = FieldRule::ModulesNotOffered {
            modules: vec![3, 7],
        };
        assert!(rule.french().contains("les modules 3, 7"));
        assert_eq!(rule.code(), "modules_not_offered");
        assert_eq!(thousands(5_000), "5\u{a0}000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1\u{a0}234\u{a0}567");
    }
}
