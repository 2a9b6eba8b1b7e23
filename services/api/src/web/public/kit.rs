//! The awareness kit (the Pass Numérique's first step): the scheme's modules by theme, each with
//! its short text and resources. The person ticks what they want to learn and gets their own list,
//! to print or keep (its address holds the choice, nothing is stored), with the participating
//! EPNs nearest their postal code and the way to ask for an accompaniment.

use passerelle_core::epns::{self, Epn};
use passerelle_core::schemes::Module;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, handler};
use serde::Serialize;

use super::super::responses::{PageResult, html};
use super::{public_path, public_scheme};
use crate::pages;
use crate::state::AppState;

/// How many EPNs the person's list shows.
const NEAREST: i64 = 5;

#[derive(Serialize)]
struct LinkView {
    url: String,
    /// The site's name as a person reads it: its host, without `www.`.
    site: String,
}

#[derive(Serialize)]
struct ModuleView {
    number: i32,
    title: String,
    description: Option<String>,
    links: Vec<LinkView>,
    chosen: bool,
}

#[derive(Serialize)]
struct ThemeView {
    title: String,
    modules: Vec<ModuleView>,
}

#[derive(Serialize)]
struct EpnView {
    id: uuid::Uuid,
    name: String,
    address: Option<String>,
    postal_code: Option<String>,
    commune: Option<String>,
    phone: Option<String>,
    website: Option<String>,
    opening_hours: Option<String>,
}

#[derive(Serialize)]
struct KitView {
    tenant_name: String,
    brand: super::super::Brand,
    scheme_name: String,
    path: String,
    themes: Vec<ThemeView>,
    /// The person's postal code, as typed (kept in the list's address).
    postal_code: String,
    postal_code_error: Option<&'static str>,
    /// Whether the scheme offers the personalised accompaniment (the request form).
    accompaniment_hours: Option<String>,
    epns: Vec<EpnView>,
    /// On the list page: how many modules were chosen.
    chosen_count: usize,
}

fn site_of(url: &str) -> String {
    let host = url
        .trim_start_matches("https://")
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(url);
    host.trim_start_matches("www.").to_owned()
}

/// The modules grouped by theme, themes in the order of their first module.
fn themes(modules: &[Module], chosen: &[i32]) -> Vec<ThemeView> {
    let mut themes: Vec<ThemeView> = Vec::new();
    for module in modules {
        let view = ModuleView {
            number: module.number,
            title: module.title.clone(),
            description: module.description.clone(),
            links: module
                .resource_links
                .iter()
                .map(|url| LinkView {
                    url: url.clone(),
                    site: site_of(url),
                })
                .collect(),
            chosen: chosen.contains(&module.number),
        };
        match themes.iter_mut().find(|t| t.title == module.family) {
            Some(theme) => theme.modules.push(view),
            None => themes.push(ThemeView {
                title: module.family.clone(),
                modules: vec![view],
            }),
        }
    }
    themes
}

fn epn_view(epn: Epn) -> EpnView {
    EpnView {
        id: epn.id,
        name: epn.name,
        address: epn.address,
        postal_code: epn.postal_code,
        commune: epn.commune,
        phone: epn.phone,
        website: epn.website.filter(|w| w.starts_with("https://")),
        opening_hours: epn.opening_hours,
    }
}

/// A French postal code: five digits.
pub(super) fn is_postal_code(text: &str) -> bool {
    text.len() == 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[handler]
pub(super) async fn kit(
    Path((slug, code)): Path<(String, String)>,
    state: Data<&AppState>,
) -> PageResult {
    let (tenant, detail) = public_scheme(&state, &slug, &code).await?;
    let view = KitView {
        tenant_name: tenant.shown_name().to_owned(),
        brand: super::super::Brand::of(&tenant),
        scheme_name: detail.scheme.name.clone(),
        path: public_path(&tenant, &detail.scheme.code),
        themes: themes(&detail.modules, &[]),
        postal_code: String::new(),
        postal_code_error: None,
        accompaniment_hours: super::accompaniment_hours(&detail),
        epns: Vec::new(),
        chosen_count: 0,
    };
    Ok(html(StatusCode::OK, pages::render("kit.html", view)))
}

/// The person's list: `?module=N` for each module ticked, `&code_postal=` for the EPNs nearby.
#[handler]
pub(super) async fn my_list(
    Path((slug, code)): Path<(String, String)>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let (tenant, detail) = public_scheme(&state, &slug, &code).await?;
    let params: Vec<(String, String)> = req.params().unwrap_or_default();
    let chosen: Vec<i32> = params
        .iter()
        .filter(|(name, _)| name == "module")
        .filter_map(|(_, value)| value.parse().ok())
        .filter(|n| detail.modules.iter().any(|m| m.number == *n))
        .collect();
    let postal_code: String = params
        .iter()
        .find(|(name, _)| name == "code_postal")
        .map(|(_, value)| value.split_whitespace().collect())
        .unwrap_or_default();
    let known_code = is_postal_code(&postal_code).then_some(postal_code.as_str());
    let postal_code_error = (!postal_code.is_empty() && known_code.is_none())
        .then_some("Le code postal s’écrit avec 5 chiffres, par exemple 69003.");
    let nearest =
        epns::nearest(&state.db, tenant.id, detail.scheme.id, known_code, NEAREST).await?;
    let themes: Vec<ThemeView> = themes(&detail.modules, &chosen)
        .into_iter()
        .filter_map(|mut theme| {
            theme.modules.retain(|m| m.chosen);
            (!theme.modules.is_empty()).then_some(theme)
        })
        .collect();
    let view = KitView {
        tenant_name: tenant.shown_name().to_owned(),
        brand: super::super::Brand::of(&tenant),
        scheme_name: detail.scheme.name.clone(),
        path: public_path(&tenant, &detail.scheme.code),
        chosen_count: chosen.len(),
        themes,
        postal_code,
        postal_code_error,
        accompaniment_hours: super::accompaniment_hours(&detail),
        epns: nearest.into_iter().map(epn_view).collect(),
    };
    Ok(html(StatusCode::OK, pages::render("kit_list.html", view)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_shown_by_its_site() {
        assert_eq!(site_of("https://www.clemi.fr/"), "clemi.fr");
        assert_eq!(
            site_of("https://cartographie.societenumerique.gouv.fr/?q=1"),
            "cartographie.societenumerique.gouv.fr"
        );
    }

    #[test]
    fn postal_codes_are_five_digits() {
        assert!(is_postal_code("69003"));
        assert!(is_postal_code("97110"));
        assert!(!is_postal_code("6900"));
        assert!(!is_postal_code("2A004"));
    }
}
