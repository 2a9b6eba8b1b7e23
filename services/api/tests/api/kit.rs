//! The Pass Numérique's awareness kit: the tenant admin edits the module catalogue after the
//! scheme is created (texts and links at any time, modules in use never removed), and the public
//! reads it without an account.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::web::{PASSWORD, SignedIn, with_password};

async fn pass_numerique_in_lot(app: &TestApp) -> String {
    app.active_scheme_in_lot(
        &json!({ "code": "pass-numerique", "name": "Pass Numérique", "preset": "pass-numerique" }),
        5,
    )
    .await
}

async fn replace(
    app: &TestApp,
    token: &str,
    scheme_id: &str,
    modules: &Value,
) -> crate::helpers::Reply {
    app.send(
        app.request(
            "PUT",
            &format!("/v1/schemes/{scheme_id}/modules"),
            Some(token),
        )
        .json(&json!({ "modules": modules })),
    )
    .await
}

#[tokio::test]
async fn the_tenant_admin_edits_the_catalogue_and_a_module_in_use_stays() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let scheme_id = pass_numerique_in_lot(&app).await;
    let scheme = app.get(&format!("/v1/schemes/{scheme_id}"), admin).await;
    let mut modules = scheme.body["modules"].as_array().expect("modules").clone();
    assert_eq!(modules.len(), 8, "{}", scheme.raw);
    assert!(modules.iter().all(|m| m["description"].is_string()));

    modules[0]["description"] = json!("Vos droits face aux services en ligne.");
    modules[0]["resource_links"] = json!(["https://www.defenseurdesdroits.fr/"]);
    modules.pop();
    modules.push(json!({ "number": 9, "title": "Prendre rendez-vous en ligne", "family": "Démarches administratives",
                         "description": "Un médecin, la mairie, France Travail.", "resource_links": ["https://www.service-public.fr/"] }));
    let edited = replace(&app, admin, &scheme_id, &json!(modules)).await;
    assert_eq!(edited.status, 200, "{}", edited.raw);
    let numbers: Vec<i64> = edited.body["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| m["number"].as_i64().expect("number"))
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 9]);
    assert_eq!(
        edited.body["modules"][0]["description"],
        "Vos droits face aux services en ligne."
    );

    // An EPN offers module 2: it can no longer leave the catalogue, only change its text.
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", app.lot.epn_id),
            admin,
            &json!({ "scheme_id": scheme_id, "modules": [2] }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let without_two: Vec<Value> = modules
        .iter()
        .filter(|m| m["number"] != 2)
        .cloned()
        .collect();
    let refused = replace(&app, admin, &scheme_id, &json!(without_two)).await;
    assert_eq!(refused.status, 409, "{}", refused.raw);
    assert!(
        refused.problem(409)["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/modules-in-use")),
        "{}",
        refused.raw
    );
    assert!(refused.raw.contains("[2]"), "{}", refused.raw);
    let mut renamed = modules.clone();
    renamed[1]["title"] = json!("Déjouer les arnaques");
    let kept = replace(&app, admin, &scheme_id, &json!(renamed)).await;
    assert_eq!(kept.status, 200, "{}", kept.raw);
    assert_eq!(kept.body["modules"][1]["title"], "Déjouer les arnaques");

    // A link that is not an https address, or a duplicated number, is refused with its field.
    let mut bad = modules.clone();
    bad[0]["resource_links"] = json!(["javascript:alert(1)"]);
    let refused = replace(&app, admin, &scheme_id, &json!(bad)).await;
    assert_eq!(refused.status, 422, "{}", refused.raw);
    assert_eq!(refused.error_fields(), ["modules.resource_links"]);
    let mut twice = modules.clone();
    twice[1]["number"] = json!(1);
    let refused = replace(&app, admin, &scheme_id, &json!(twice)).await;
    assert_eq!(refused.status, 422, "{}", refused.raw);

    // Only the tenant's admin edits it: another role is forbidden, another tenant finds nothing.
    for role in [Role::Prescriber, Role::Epn, Role::Finance, Role::Funder] {
        let forbidden = replace(&app, app.lot.token(role), &scheme_id, &json!(modules)).await;
        assert_eq!(forbidden.status, 403, "{role}: {}", forbidden.raw);
    }
    let foreign = replace(
        &app,
        app.ara.token(Role::TenantAdmin),
        &scheme_id,
        &json!(modules),
    )
    .await;
    assert_eq!(foreign.status, 404, "{}", foreign.raw);
    let journal = app
        .get("/v1/audit?action=scheme.catalogue_changed", admin)
        .await;
    assert_eq!(journal.status, 200, "{}", journal.raw);
    assert_eq!(
        journal.body["items"].as_array().map(Vec::len),
        Some(2),
        "{}",
        journal.raw
    );
}

/// A participating EPN at `postal_code`, offering the scheme's module 1; returns its id.
async fn epn_at(
    app: &TestApp,
    scheme_id: &str,
    name: &str,
    postal_code: &str,
    commune: &str,
) -> String {
    let admin = app.lot.token(Role::TenantAdmin);
    let created = app
        .post(
            "/v1/epns",
            admin,
            &json!({ "nom": name, "code_postal": postal_code, "commune": commune, "telephone": "05 65 00 00 00" }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let offer = app
        .post(
            &format!("/v1/epns/{id}/offers"),
            admin,
            &json!({ "scheme_id": scheme_id, "modules": [1] }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    id
}

async fn page(app: &TestApp, path: &str) -> crate::helpers::Reply {
    app.send(app.request("GET", path, None)).await
}

#[tokio::test]
async fn the_public_reads_the_kit_and_gets_their_list_with_the_nearest_epns() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique_in_lot(&app).await;
    epn_at(&app, &scheme_id, "Cyberbase de Gourdon", "46300", "Gourdon").await;
    epn_at(&app, &scheme_id, "EPN de Figeac", "46100", "Figeac").await;
    epn_at(
        &app,
        &scheme_id,
        "Médiathèque de Brive",
        "19100",
        "Brive-la-Gaillarde",
    )
    .await;
    let slug = &app.lot.slug;

    let kit = page(&app, &format!("/territoires/{slug}/pass-numerique")).await;
    assert_eq!(kit.status, 200, "{}", kit.raw);
    for text in [
        "Droits et citoyenneté",
        "Démarches administratives",
        "Se connecter avec FranceConnect",
        "href=\"https://franceconnect.gouv.fr/\"",
        "Créer ses identifiants une fois",
        "/territoires/lot/pass-numerique/demande",
    ] {
        assert!(kit.raw.contains(text), "the kit shows {text}: {}", kit.raw);
    }
    assert!(kit.header("content-security-policy").is_some());

    // The person ticks two modules and gives the postal code of Figeac.
    let list = page(
        &app,
        &format!("/territoires/{slug}/pass-numerique/ma-liste?module=2&module=5&module=999&code_postal=46100"),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.raw);
    assert!(list.raw.contains("Se protéger des arnaques"));
    assert!(list.raw.contains("Se connecter avec FranceConnect"));
    assert!(
        !list.raw.contains("Chercher sur internet"),
        "only what was ticked"
    );
    let figeac = list.raw.find("EPN de Figeac").expect("Figeac listed");
    let gourdon = list
        .raw
        .find("Cyberbase de Gourdon")
        .expect("Gourdon listed");
    let brive = list.raw.find("Médiathèque de Brive").expect("Brive listed");
    assert!(
        figeac < gourdon && gourdon < brive,
        "same postal code, same département, then the others"
    );
    assert!(
        !list.raw.contains(">EPN<"),
        "an EPN that does not take part is not listed"
    );
    assert!(
        list.raw
            .contains("/territoires/lot/pass-numerique/demande?epn="),
        "each place links to the request form with it chosen"
    );

    // Without a postal code, by commune; a place whose address is unknown comes last.
    let offer = app
        .post(
            &format!("/v1/epns/{}/offers", app.lot.epn_id),
            app.lot.token(Role::TenantAdmin),
            &json!({ "scheme_id": scheme_id, "modules": [1] }),
        )
        .await;
    assert_eq!(offer.status, 200, "{}", offer.raw);
    let anywhere = page(
        &app,
        &format!("/territoires/{slug}/pass-numerique/ma-liste?module=2"),
    )
    .await;
    let brive = anywhere.raw.find("Médiathèque de Brive").expect("Brive");
    let gourdon = anywhere.raw.find("Cyberbase de Gourdon").expect("Gourdon");
    let unknown = anywhere
        .raw
        .find("<strong>EPN</strong>")
        .expect("the place without address");
    assert!(brive < gourdon && gourdon < unknown, "{}", anywhere.raw);

    let typo = page(
        &app,
        &format!("/territoires/{slug}/pass-numerique/ma-liste?module=1&code_postal=4610"),
    )
    .await;
    assert_eq!(typo.status, 200);
    assert!(typo.raw.contains("5 chiffres"), "{}", typo.raw);

    // Nothing public about a draft scheme, an unknown scheme or territory, or another territory's.
    let admin = app.lot.token(Role::TenantAdmin);
    let draft = app
        .post(
            "/v1/schemes",
            admin,
            &json!({ "code": "brouillon", "name": "Brouillon", "preset": "pass-numerique" }),
        )
        .await;
    assert_eq!(draft.status, 201, "{}", draft.raw);
    for path in [
        format!("/territoires/{slug}/brouillon"),
        format!("/territoires/{slug}/inconnu"),
        "/territoires/inconnu/pass-numerique".to_owned(),
        format!("/territoires/{}/pass-numerique", app.ara.slug),
    ] {
        let missing = page(&app, &path).await;
        assert_eq!(missing.status, 404, "{path}: {}", missing.raw);
        assert!(missing.raw.contains("Page introuvable"), "{path}");
    }
}

#[tokio::test]
async fn the_tenant_admin_edits_the_kit_in_the_portal_and_the_public_reads_it() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique_in_lot(&app).await;
    let email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let path = format!("/portail/lot/dispositifs/{scheme_id}");
    let shown = admin.get(&path).await;
    assert_eq!(shown.status, 200, "{}", shown.html);
    assert!(shown.html.contains("Se protéger des arnaques"));
    assert!(shown.html.contains("/territoires/lot/pass-numerique"));

    let fields = [
        ("title", "Déjouer les arnaques"),
        ("family", "Droits et citoyenneté"),
        (
            "description",
            "Faux messages, faux conseillers : les reconnaître.",
        ),
        (
            "resource_links",
            "https://www.cybermalveillance.gouv.fr/\nhttp://pas-sur.example/",
        ),
    ];
    let refused = admin.submit(&format!("{path}/modules/2"), &fields).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("commençant par https://"),
        "{}",
        refused.html
    );
    assert!(
        refused.html.contains("Déjouer les arnaques"),
        "what was typed stays"
    );

    let mut fixed = fields;
    fixed[3] = ("resource_links", "https://www.cybermalveillance.gouv.fr/");
    let saved = admin.submit(&format!("{path}/modules/2"), &fixed).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let added = admin
        .submit(
            &format!("{path}/modules"),
            &[
                ("title", "Prendre rendez-vous en ligne"),
                ("family", "Démarches administratives"),
                ("description", ""),
                ("resource_links", ""),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.html);
    let removed = admin
        .submit(&format!("{path}/modules/8/retrait"), &[])
        .await;
    assert_eq!(removed.status, 303, "{}", removed.html);

    let kit = app
        .send(app.request("GET", "/territoires/lot/pass-numerique", None))
        .await;
    assert!(kit.raw.contains("Déjouer les arnaques"));
    assert!(kit.raw.contains("Faux messages, faux conseillers"));
    assert!(kit.raw.contains("Prendre rendez-vous en ligne"));
    assert!(!kit.raw.contains("Trouver de l’aide près de chez soi"));

    // A forged form (no CSRF token) and another role change nothing.
    let forged = admin
        .send_form(&format!("{path}/modules/1/retrait"), &[])
        .await;
    assert_eq!(forged.status, 403);
    let email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let other = prescriber
        .submit(&format!("{path}/modules/1/retrait"), &[])
        .await;
    assert_eq!(other.status, 403, "{}", other.html);
    let kit = app
        .send(app.request("GET", "/territoires/lot/pass-numerique", None))
        .await;
    assert!(kit.raw.contains("Mes droits en ligne"));
}
