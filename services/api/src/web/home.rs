//! The portal's home page: what each role can do from here, with the day's figures.

use passerelle_core::tenancy::onboarding;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, handler};
use serde::Serialize;

use super::PageResult;
use super::*;
use crate::state::AppState;

/// A page the signed-in role may open.
#[derive(Serialize)]
struct Link {
    href: String,
    label: &'static str,
}

/// The home page: who is signed in, in what role, and where they can go.
/// A step of a new territory's set-up, done or not, with where to do it.
#[derive(Serialize)]
struct SetUpStep {
    label: String,
    done: bool,
    href: String,
}

#[derive(Serialize)]
struct HomeView<'a> {
    /// The tenant admin's set-up checklist, until every step is done.
    set_up: Option<Vec<SetUpStep>>,
    tenant_name: &'a str,
    display_name: &'a str,
    email: &'a str,
    role: &'static str,
    links: Vec<Link>,
    csrf_token: &'a str,
    sign_out_path: String,
    second_factor_enrolled: bool,
}

#[handler]
pub(super) async fn home(
    Path(slug): Path<String>,
    state: Data<&AppState>,
    req: &Request,
) -> PageResult {
    let portal = Portal::signed_in(&state, req, &slug).await?;
    use crate::access;
    let path = portal.path();
    let pages: [(&access::Operation, &str, &'static str); 22] = [
        (
            &access::ISSUE_VOUCHER,
            "/cheques/nouveau",
            "Émettre un chèque",
        ),
        (
            &access::ISSUE_VOUCHER,
            "/cheques",
            "Chèques émis, stock et parcours",
        ),
        (
            &access::BULK_ISSUE_VOUCHERS,
            "/cheques/import",
            "Émettre des chèques à partir d’un fichier",
        ),
        (
            &access::REGISTER_VOUCHER,
            "/epn/inscription",
            "Inscrire un chèque dans l’EPN",
        ),
        (
            &access::CREATE_SESSION,
            "/epn",
            "Séances et mois en cours de l’EPN",
        ),
        (
            &access::RECORD_ATTENDANCE,
            "/epn/telephone/",
            "Feuilles de présence sur le téléphone, même sans réseau",
        ),
        (
            &access::ACCEPT_ACCOMPANIMENT,
            "/demandes",
            "Demandes d’accompagnement",
        ),
        (
            &access::SUBMIT_PROJECT,
            "/projets/nouveau",
            "Proposer un projet collectif",
        ),
        (&access::LIST_PROJECTS, "/projets", "Projets collectifs"),
        (
            &access::LIST_STATEMENTS,
            "/releves",
            "Relevés de remboursement des EPN",
        ),
        (
            &access::LIST_STATEMENTS,
            "/remboursements",
            "Mes remboursements",
        ),
        (
            &access::GET_SCHEME_RECONCILIATION,
            "/financeurs",
            "Financeurs : rapprochement et demandes de paiement",
        ),
        (
            &access::LIST_STATISTICS_EXPORTS,
            "/statistiques",
            "Statistiques publiées",
        ),
        (
            &access::LIST_STATISTICS_EXPORTS,
            "/statistiques/tableau",
            "Tableau de bord",
        ),
        (
            &access::CREATE_SCHEME,
            "/dispositifs",
            "Dispositifs, règles et modules",
        ),
        (
            &access::LIST_PRESCRIBERS,
            "/prescripteurs",
            "Structures prescriptrices et dotations",
        ),
        (
            &access::IMPORT_EPNS,
            "/epns",
            "EPN : import, offre et coordonnées bancaires",
        ),
        (
            &access::LIST_USERS,
            "/utilisateurs",
            "Utilisateurs du portail et invitations",
        ),
        (&access::LIST_EMAILS, "/courriels", "Journal des courriels"),
        (&access::LIST_AUDIT, "/journal", "Journal des actions"),
        (
            &access::REQUEST_ARCHIVE,
            "/archive",
            "Archive du territoire : toutes ses données, à emporter",
        ),
        (
            &access::UPDATE_BRANDING,
            "/identite",
            "Identité du territoire : nom affiché, expéditeur et logo",
        ),
    ];
    let links: Vec<Link> = pages
        .iter()
        .filter(|(operation, _, _)| portal.may(operation))
        // An EPN's staff read their own EPN's statements; the territory's, every EPN's month.
        .filter(|(_, href, _)| match *href {
            "/releves" => portal.epn_id().is_none(),
            "/remboursements" => portal.epn_id().is_some(),
            _ => true,
        })
        .map(|(_, href, label)| Link {
            href: format!("{path}{href}"),
            label,
        })
        .collect();
    let set_up = if portal.user.principal.role() == passerelle_core::tenancy::Role::TenantAdmin {
        let checklist = onboarding::checklist(&state.db, portal.tenant.id)
            .await
            .or_back(&format!("{path}/"), "Recharger la page")?;
        (!checklist.complete()).then(|| set_up_steps(&checklist, &path))
    } else {
        None
    };
    Ok(portal.page(
        StatusCode::OK,
        "home.html",
        HomeView {
            set_up,
            tenant_name: portal.tenant.shown_name(),
            display_name: &portal.user.display_name,
            email: &portal.user.email,
            second_factor_enrolled: portal.user.second_factor_enrolled,
            role: role_fr(&portal.user.principal),
            links,
            csrf_token: &portal.user.csrf_token,
            sign_out_path: format!("{path}/deconnexion"),
        },
    ))
}

/// The checklist's steps, in the order a territory sets up.
fn set_up_steps(checklist: &onboarding::Checklist, path: &str) -> Vec<SetUpStep> {
    let missing_email = match checklist.prescribers_without_email.as_slice() {
        [] => None,
        names => Some(format!(
            "Adresse de contact des prescripteurs (le point quotidien leur est envoyé) : manquante pour {}",
            names.join(", ")
        )),
    };
    let mut steps = vec![
        SetUpStep {
            label: "Ouvrir un dispositif à partir d’un modèle (Ticket Net, Pass Numérique…)".into(),
            done: checklist.active_schemes > 0,
            href: format!("{path}/dispositifs"),
        },
        SetUpStep {
            label: format!(
                "Déclarer les prescripteurs et leur enveloppe de chèques ({} prescripteur(s), {} avec une enveloppe)",
                checklist.prescribers, checklist.prescribers_with_allocation
            ),
            done: checklist.prescribers_with_allocation > 0,
            href: format!("{path}/prescripteurs"),
        },
    ];
    if let Some(label) = missing_email {
        steps.push(SetUpStep {
            label,
            done: false,
            href: format!("{path}/prescripteurs"),
        });
    }
    steps.extend([
        SetUpStep {
            label: format!(
                "Importer les EPN et leur offre ({} EPN, {} participant à un dispositif)",
                checklist.epns, checklist.epns_taking_part
            ),
            done: checklist.epns_taking_part > 0,
            href: format!("{path}/epns"),
        },
        SetUpStep {
            label:
                "Inviter les utilisateurs : agents prescripteurs, animateurs, finances, financeurs"
                    .into(),
            done: checklist.staff > 0,
            href: format!("{path}/utilisateurs"),
        },
    ]);
    steps
}
