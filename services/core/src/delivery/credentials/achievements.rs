//! What a credential attests: a competence of the CRCN at a level (découverte, pratiquée,
//! acquise), or a voucher's journey completed (a Ticket Net, a Pass Numérique). Each has a stable
//! key, in the address of its public description (the Open Badges `Achievement`, which anyone can
//! fetch) and in the credentials that award it.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::delivery::CompetenceLevel;
use crate::labels;

/// The CRCN as the Ministry publishes it: what an `alignment` points to.
pub const CRCN_URL: &str =
    "https://eduscol.education.fr/721/cadre-de-reference-des-competences-numeriques";

/// The key of an achievement, as in its address: `crcn-1.1-acquired`, `parcours-ticket-net`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AchievementKey {
    /// A competence of the CRCN (its code, `1.1`) at a level.
    Competence {
        code: String,
        level: CompetenceLevel,
    },
    /// Every hour of a voucher of the scheme with this code used.
    Completion { scheme_code: String },
}

impl fmt::Display for AchievementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AchievementKey::Competence { code, level } => {
                write!(f, "crcn-{code}-{}", level.as_str())
            }
            AchievementKey::Completion { scheme_code } => write!(f, "parcours-{scheme_code}"),
        }
    }
}

impl FromStr for AchievementKey {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if let Some(rest) = s.strip_prefix("crcn-") {
            let (code, level) = rest.rsplit_once('-').ok_or(())?;
            let valid_code = !code.is_empty()
                && code.len() <= 10
                && code.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if !valid_code {
                return Err(());
            }
            return Ok(AchievementKey::Competence {
                code: code.to_owned(),
                level: level.parse().map_err(|_| ())?,
            });
        }
        let scheme_code = s.strip_prefix("parcours-").ok_or(())?;
        let valid = (2..=63).contains(&scheme_code.len())
            && scheme_code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !scheme_code.starts_with('-');
        if !valid {
            return Err(());
        }
        Ok(AchievementKey::Completion {
            scheme_code: scheme_code.to_owned(),
        })
    }
}

/// An achievement with the words that describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Achievement {
    pub key: AchievementKey,
    /// The competence's title, or the scheme's name.
    pub title: String,
    /// The competence's area of the CRCN; `None` for a completion.
    pub area: Option<String>,
}

impl Achievement {
    /// Its name, in French: « Mener une recherche et une veille d'information — acquise ».
    pub fn name(&self) -> String {
        match &self.key {
            AchievementKey::Competence { code, level } => format!(
                "Compétence numérique {code} {} : {}",
                labels::competence_level(*level),
                self.title
            ),
            AchievementKey::Completion { .. } => format!("Parcours {} terminé", self.title),
        }
    }

    fn description(&self) -> String {
        match &self.key {
            AchievementKey::Competence { code, level } => format!(
                "La compétence {code} « {} » du cadre de référence des compétences numériques (CRCN, domaine « {} »), {} au cours d’ateliers dans un espace public numérique.",
                self.title,
                self.area.as_deref().unwrap_or(""),
                level_reached(*level),
            ),
            AchievementKey::Completion { .. } => format!(
                "Toutes les heures d’accompagnement du chèque « {} » suivies dans un espace public numérique.",
                self.title
            ),
        }
    }

    fn criteria(&self) -> String {
        match &self.key {
            AchievementKey::Competence { level, .. } => format!(
                "L’animateur ou l’animatrice de l’espace public numérique a constaté, pendant une séance où la personne était présente, que la compétence était {}.",
                labels::competence_level(*level)
            ),
            AchievementKey::Completion { .. } => {
                "Toutes les heures du chèque ont été suivies, séance après séance, et enregistrées par l’espace public numérique.".to_owned()
            }
        }
    }

    /// The Open Badges 3.0 `Achievement`, with `id` its public address and `creator` the
    /// territory.
    pub fn document(&self, id: &str, creator: &Value) -> Value {
        let mut achievement = json!({
            "id": id,
            "type": ["Achievement"],
            "name": self.name(),
            "description": self.description(),
            "criteria": { "narrative": self.criteria() },
            "creator": creator,
            "inLanguage": "fr",
        });
        match &self.key {
            AchievementKey::Competence { code, .. } => {
                achievement["achievementType"] = json!("Competency");
                achievement["humanCode"] = json!(format!("CRCN {code}"));
                achievement["fieldOfStudy"] = json!(self.area);
                achievement["alignment"] = json!([{
                    "type": ["Alignment"],
                    "targetName": self.title,
                    "targetDescription": format!("Domaine « {} »", self.area.as_deref().unwrap_or("")),
                    "targetCode": code,
                    "targetFramework": "Cadre de référence des compétences numériques (CRCN)",
                    "targetUrl": CRCN_URL,
                }]);
            }
            AchievementKey::Completion { .. } => {
                achievement["achievementType"] = json!("LearningProgram");
            }
        }
        achievement
    }
}

fn level_reached(level: CompetenceLevel) -> &'static str {
    match level {
        CompetenceLevel::Discovered => "découverte",
        CompetenceLevel::Practised => "mise en pratique",
        CompetenceLevel::Acquired => "acquise",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_as_written() {
        for key in [
            AchievementKey::Competence {
                code: "1.1".into(),
                level: CompetenceLevel::Acquired,
            },
            AchievementKey::Competence {
                code: "5.2".into(),
                level: CompetenceLevel::Discovered,
            },
            AchievementKey::Completion {
                scheme_code: "ticket-net".into(),
            },
        ] {
            assert_eq!(key.to_string().parse::<AchievementKey>(), Ok(key));
        }
    }

    #[test]
    fn strange_keys_are_refused() {
        for text in [
            "",
            "crcn-1.1",
            "crcn--acquired",
            "crcn-1.1-mastered",
            "crcn-1;1-acquired",
            "parcours-",
            "parcours-Ticket",
            "parcours-../x",
            "other-1",
        ] {
            assert_eq!(text.parse::<AchievementKey>(), Err(()), "{text}");
        }
    }
}
