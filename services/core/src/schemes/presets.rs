//! The two seed schemes as presets: a new scheme starts from one and the admin adjusts it.
//! Ticket Net's module titles and families, and the Pass Numérique kit's themes, are the customer's
//! own words, exactly as in the seed documents.

use super::rules::{DeliveryModes, GroupSize, SchemeRules, Validity};
use crate::beneficiaries::PublicCategory;

pub const ALL: [&str; 2] = ["ticket-net", "pass-numerique"];

#[derive(Debug, Clone)]
pub struct PresetModule {
    pub number: u32,
    pub title: &'static str,
    pub family: &'static str,
    pub resource_links: &'static [&'static str],
    /// The awareness kit's short text.
    pub description: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Preset {
    pub code: &'static str,
    pub name: &'static str,
    pub rules: SchemeRules,
    pub modules: Vec<PresetModule>,
}

const DECOUVERTE: &str = "Découverte";
const EMPLOI: &str = "Emploi-formation";
const ADMINISTRATION: &str = "Administration en ligne";
const CREATION: &str = "Création d’activité";
const EDUCATION: &str = "Education-Culture";

/// Ticket Net (Lot), from the 2008 steering-committee presentation.
const TICKET_NET_MODULES: [(u32, &str, &str); 20] = [
    (
        1,
        "Un ordinateur et internet à la maison\u{a0}: pour quoi faire\u{a0}?",
        DECOUVERTE,
    ),
    (
        2,
        "Se repérer dans son environnement de travail numérique",
        DECOUVERTE,
    ),
    (3, "Communiquer avec sa famille et ses amis", DECOUVERTE),
    (4, "Découvrir la photo numérique", DECOUVERTE),
    (5, "Gérer sa messagerie électronique", DECOUVERTE),
    (6, "Préparer un voyage ou une sortie", DECOUVERTE),
    (
        7,
        "Effectuer des démarches administratives (Etat-civil, déclaration d’impôts, ...)",
        DECOUVERTE,
    ),
    (
        8,
        "Comparer et acheter en ligne (livres, musique, spectacles ...)",
        DECOUVERTE,
    ),
    (
        9,
        "Créer et composer un document (invitation, affiche, carte de visite, tee-shirt ...)",
        DECOUVERTE,
    ),
    (10, "Finaliser et imprimer son document", DECOUVERTE),
    (11, "Mettre en forme son CV", EMPLOI),
    (12, "Dynamiser sa rechercher d’emploi avec internet", EMPLOI),
    (
        13,
        "Utiliser les téléservices pour particuliers (CPAM, CAF, CRAM, mutuelle, banque ...)",
        ADMINISTRATION,
    ),
    (
        14,
        "Utiliser les téléservices professionnels (URSSAF, impôts, services agricoles ...)",
        ADMINISTRATION,
    ),
    (
        15,
        "Effectuer une veille informationnelle sur son secteur",
        CREATION,
    ),
    (16, "Promouvoir son activité sur internet", CREATION),
    (
        17,
        "Découvrir les réseaux sociaux et les sites Web 2.0",
        CREATION,
    ),
    (
        18,
        "Accompagner la scolarité de son enfant avec internet et le multimédia",
        EDUCATION,
    ),
    (19, "Tous les savoirs du Monde ...", EDUCATION),
    (
        20,
        "Contribuer à la mémoire locale via des sites collaboratifs (blogs, wikis)",
        EDUCATION,
    ),
];

/// Pass Numérique (Rhône-Alpes): the online awareness kit. Its themes are the 2012 working paper's
/// ("droits et citoyenneté, médias, démarches administratives, accès à l’information"); the modules
/// under them, their texts and links to public resources are a starting point the Région edits.
const DROITS: &str = "Droits et citoyenneté";
const MEDIAS: &str = "Médias";
const DEMARCHES: &str = "Démarches administratives";
const INFORMATION: &str = "Accès à l’information";
const PASS_NUMERIQUE_MODULES: [(u32, &str, &str, &[&str], &str); 8] = [
    (
        1,
        "Mes droits en ligne",
        DROITS,
        &["https://www.defenseurdesdroits.fr/", "https://www.cnil.fr/"],
        "Savoir ce que les sites ont le droit de faire de vos données, et à qui vous adresser quand un service en ligne vous refuse un droit.",
    ),
    (
        2,
        "Se protéger des arnaques",
        DROITS,
        &["https://www.cybermalveillance.gouv.fr/"],
        "Reconnaître un faux message, un faux site ou un faux conseiller, choisir un mot de passe solide, savoir quoi faire si cela arrive.",
    ),
    (
        3,
        "S’informer et vérifier une information",
        MEDIAS,
        &["https://www.clemi.fr/"],
        "Trouver d’où vient une information, distinguer un article d’une publicité ou d’une rumeur, avant de la partager.",
    ),
    (
        4,
        "Réseaux sociaux et messageries",
        MEDIAS,
        &["https://www.cybermalveillance.gouv.fr/"],
        "Échanger avec ses proches, régler ce que les autres voient de vous, et garder la maîtrise de ce que vous publiez.",
    ),
    (
        5,
        "Se connecter avec FranceConnect",
        DEMARCHES,
        &["https://franceconnect.gouv.fr/"],
        "Créer ses identifiants une fois et s’en servir pour les impôts, l’assurance maladie, la CAF ou France Travail.",
    ),
    (
        6,
        "Faire une démarche en ligne",
        DEMARCHES,
        &["https://www.service-public.fr/"],
        "Remplir un formulaire, joindre un document scanné ou photographié, garder la preuve de sa demande.",
    ),
    (
        7,
        "Chercher sur internet",
        INFORMATION,
        &["https://www.lesbonsclics.fr/"],
        "Utiliser un moteur de recherche, choisir les bons mots, reconnaître un site officiel.",
    ),
    (
        8,
        "Trouver de l’aide près de chez soi",
        INFORMATION,
        &["https://cartographie.societenumerique.gouv.fr/"],
        "Les lieux de médiation numérique, les France services et les conseillers numériques qui vous accompagnent gratuitement.",
    ),
];

fn all_categories() -> Vec<PublicCategory> {
    PublicCategory::all().collect()
}

pub fn get(code: &str) -> Option<Preset> {
    match code {
        "ticket-net" => Some(Preset {
            code: "ticket-net",
            name: "Ticket Net",
            rules: SchemeRules {
                face_value_cents: 20_000,
                voucher_minutes: 20 * 60,
                session_minutes: 120,
                validity: Validity::MonthsAfterIssue { months: 12 },
                interview_minutes: 30,
                interview_required: true,
                modules_to_choose: 10,
                delivery_modes: DeliveryModes {
                    individual_vouchers: true,
                    collective_projects: None,
                    accompaniment_minutes: None,
                },
                participation_fee_cap_cents: 1_000,
                eligible_categories: all_categories(),
                reminder_days: vec![60, 30, 7],
                hourly_rate_cents: 1_000,
                interview_fee_cents: 0,
                pay_absences: false,
                budget_envelope_cents: None,
                attendance_grace_days: super::rules::DEFAULT_ATTENDANCE_GRACE_DAYS,
            },
            modules: TICKET_NET_MODULES
                .iter()
                .map(|(number, title, family)| PresetModule {
                    number: *number,
                    title,
                    family,
                    resource_links: &[],
                    description: None,
                })
                .collect(),
        }),
        "pass-numerique" => Some(Preset {
            code: "pass-numerique",
            name: "Pass Numérique",
            rules: SchemeRules {
                face_value_cents: 2_000,
                voucher_minutes: 120,
                session_minutes: 120,
                validity: Validity::MonthsAfterIssue { months: 12 },
                interview_minutes: 0,
                interview_required: false,
                modules_to_choose: 0,
                delivery_modes: DeliveryModes {
                    individual_vouchers: true,
                    collective_projects: Some(GroupSize { min: 5, max: 10 }),
                    accompaniment_minutes: Some(120),
                },
                participation_fee_cap_cents: 0,
                eligible_categories: all_categories(),
                reminder_days: vec![30, 7],
                hourly_rate_cents: 1_000,
                interview_fee_cents: 0,
                pay_absences: false,
                budget_envelope_cents: None,
                attendance_grace_days: super::rules::DEFAULT_ATTENDANCE_GRACE_DAYS,
            },
            modules: PASS_NUMERIQUE_MODULES
                .iter()
                .map(|(number, title, family, links, text)| PresetModule {
                    number: *number,
                    title,
                    family,
                    resource_links: links,
                    description: Some(text),
                })
                .collect(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_net_is_the_lot_scheme() {
        let p = get("ticket-net").expect("preset");
        assert_eq!(p.rules.face_value_cents, 20_000);
        assert_eq!(p.rules.voucher_minutes, 1_200);
        assert_eq!(p.rules.voucher_minutes / p.rules.session_minutes, 10);
        assert_eq!(p.rules.validity, Validity::MonthsAfterIssue { months: 12 });
        assert_eq!(
            (p.rules.interview_minutes, p.rules.interview_required),
            (30, true)
        );
        assert_eq!(p.rules.modules_to_choose, 10);
        assert_eq!(p.rules.hourly_rate_cents, 1_000);
        assert_eq!(p.modules.len(), 20);
        let families: Vec<&str> = p
            .modules
            .iter()
            .map(|m| m.family)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            families,
            [ADMINISTRATION, CREATION, DECOUVERTE, EDUCATION, EMPLOI]
        );
        assert_eq!(
            p.modules[0].title,
            "Un ordinateur et internet à la maison\u{a0}: pour quoi faire\u{a0}?"
        );
        assert_eq!(
            p.modules[11].title,
            "Dynamiser sa rechercher d’emploi avec internet"
        );
        assert!(p.modules[10..12].iter().all(|m| m.family == EMPLOI));
        assert!(p.modules[17..].iter().all(|m| m.family == EDUCATION));
    }

    #[test]
    fn pass_numerique_has_groups_of_five_to_ten_and_two_hour_accompaniment() {
        let p = get("pass-numerique").expect("preset");
        assert_eq!(
            p.rules.delivery_modes.collective_projects,
            Some(GroupSize { min: 5, max: 10 })
        );
        assert_eq!(p.rules.delivery_modes.accompaniment_minutes, Some(120));
        assert!(p.modules.iter().all(|m| !m.resource_links.is_empty()));
        assert!(p.modules.iter().all(|m| m.description.is_some()));
        let mut themes: Vec<&str> = p.modules.iter().map(|m| m.family).collect();
        themes.dedup();
        assert_eq!(
            themes,
            [
                "Droits et citoyenneté",
                "Médias",
                "Démarches administratives",
                "Accès à l’information"
            ]
        );
        assert!(get("unknown").is_none());
    }
}
