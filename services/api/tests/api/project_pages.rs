//! Collective projects in the portal, as each of their people drives them: a structure proposes a
//! group (typed rows or a spreadsheet file) and is told next to the row what to correct; the
//! Région's team approves or rejects with a reason; the EPN records a session for the whole group;
//! nobody reaches another's project.

use passerelle_core::tenancy::Role;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::delivery::pass_numerique;
use crate::helpers::{TestApp, spawn_app};
use crate::web::{PASSWORD, Page, SignedIn};

/// `role` of the tenant `slug` (`ara` or `lot`) signed in to its portal.
async fn signed_in_to<'a>(app: &'a TestApp, slug: &str, role: Role) -> SignedIn<'a> {
    let tenant = if slug == "ara" { &app.ara } else { &app.lot };
    passerelle_core::tenancy::accounts::set_password(
        &app.db.app,
        tenant.id,
        passerelle_core::audit::Actor::SYSTEM,
        tenant.users[&role],
        PASSWORD,
    )
    .await
    .expect("password");
    SignedIn::new(
        app,
        slug,
        &format!("{}@{slug}.example", role.as_str()),
        PASSWORD,
    )
    .await
}

/// `role` of Auvergne-Rhône-Alpes signed in to its portal.
async fn signed_in_ara(app: &TestApp, role: Role) -> SignedIn<'_> {
    signed_in_to(app, "ara", role).await
}

/// Posts the project form as the browser sends it (multipart, from the portal's page).
async fn propose(
    app: &TestApp,
    structure: &SignedIn<'_>,
    fields: &[(String, String)],
    file: Option<&str>,
) -> Page {
    let mut form = Form::new().text("csrf_token", structure.token.clone());
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    if let Some(file) = file {
        form = form.part(
            "fichier",
            Part::bytes(file.as_bytes().to_vec()).file_name("groupe.csv"),
        );
    }
    let response = structure
        .browser
        .http
        .post(format!("{}/portail/ara/projets/nouveau", app.base))
        .header("cookie", &structure.cookie)
        .header("origin", &app.base)
        .multipart(form)
        .send()
        .await
        .expect("form");
    Page {
        status: response.status().as_u16(),
        location: response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        set_cookie: None,
        html: response.text().await.expect("page"),
    }
}

fn project_fields(app: &TestApp, scheme_id: &str, people: usize) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        ("scheme_id", scheme_id.to_owned()),
        ("epn_id", app.ara.epn_id.to_string()),
        ("title", "Carnet de voyage".to_owned()),
        (
            "aim",
            "Réaliser le carnet du séjour de fin d’année".to_owned(),
        ),
        ("planned_sessions", "3".to_owned()),
        ("planned_hours", "6".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for i in 0..people {
        for (name, value) in [
            ("first_name", "Résident".to_owned()),
            ("last_name", format!("Annonay{i}")),
            ("birth_year", "1946".to_owned()),
            ("commune_insee", "07010".to_owned()),
            ("public_category", "senior".to_owned()),
        ] {
            fields.push((format!("m{i}_{name}"), value));
        }
    }
    fields
}

#[tokio::test]
async fn a_structure_proposes_a_group_the_region_approves_and_the_epn_records_its_session() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let structure = signed_in_ara(&app, Role::Prescriber).await;
    let home = structure.get("/portail/ara/").await;
    assert!(home.html.contains("/portail/ara/projets/nouveau"));
    let form = structure.get("/portail/ara/projets/nouveau").await;
    assert_eq!(form.status, 200, "{}", form.html);
    assert!(
        form.html.contains("Personne 10"),
        "ten rows for Pass Numérique"
    );

    // Four people: refused next to the list, with what was typed kept.
    let small = propose(&app, &structure, &project_fields(&app, &scheme_id, 4), None).await;
    assert_eq!(small.status, 422, "{}", small.html);
    assert!(
        small
            .html
            .contains("Un projet réunit de 5 à 10 personnes : 4 indiquées."),
        "{}",
        small.html
    );
    assert!(small.html.contains("value=\"Annonay3\""));

    // A wrong year and the same person twice: each told on its own row.
    let mut faulty = project_fields(&app, &scheme_id, 6);
    for (name, value) in faulty.iter_mut() {
        if name == "m1_birth_year" {
            *value = "19x6".into();
        }
        if name == "m5_last_name" {
            *value = "Annonay2".into();
        }
    }
    let refused = propose(&app, &structure, &faulty, None).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.html.contains("id=\"m1_birth_year-erreur\""),
        "{}",
        refused.html
    );
    // The year is checked by the form first; once it is right, the duplicate row is named.
    for (name, value) in faulty.iter_mut() {
        if name == "m1_birth_year" {
            *value = "1946".into();
        }
    }
    let twice = propose(&app, &structure, &faulty, None).await;
    assert_eq!(twice.status, 422, "{}", twice.html);
    assert!(
        twice
            .html
            .contains("id=\"m5-erreur\">C’est la même personne que la personne 3"),
        "{}",
        twice.html
    );

    // Eight people from a spreadsheet file (French Excel: semicolons, Windows-1252 would do too).
    let mut file = String::from("Prénom;Nom;Année de naissance;Code INSEE;Catégorie\n");
    for i in 0..8 {
        file.push_str(&format!("Résidente;Privas{i};1950;07186;senior\n"));
    }
    let head: Vec<(String, String)> = project_fields(&app, &scheme_id, 0);
    let proposed = propose(&app, &structure, &head, Some(&file)).await;
    assert_eq!(proposed.status, 303, "{}", proposed.html);
    let location = proposed.location.expect("the project's page");
    let project_id = location
        .trim_start_matches("/portail/ara/projets/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    let page = structure.get(&location).await;
    assert!(page.html.contains("Projet proposé"), "{}", page.html);
    assert!(page.html.contains("en attente de décision"));
    assert!(page.html.contains("Résidente Privas7"));

    // The same person again in another project: the form asks whether it is the same.
    let mut again = project_fields(&app, &scheme_id, 5);
    for (name, value) in again.iter_mut() {
        match name.as_str() {
            "m0_last_name" => *value = "Privas0".into(),
            "m0_birth_year" => *value = "1950".into(),
            "m0_commune_insee" => *value = "07186".into(),
            "m0_first_name" => *value = "Résidente".into(),
            _ => {}
        }
    }
    let asked = propose(&app, &structure, &again, None).await;
    assert_eq!(asked.status, 422, "{}", asked.html);
    assert!(asked.html.contains("name=\"m0_choice\""), "{}", asked.html);
    let same = asked
        .html
        .split("name=\"m0_choice\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the same person's choice")
        .to_owned();
    again.push(("m0_choice".into(), same));
    let second = propose(&app, &structure, &again, None).await;
    assert_eq!(second.status, 303, "{}", second.html);

    // The Région's team finds it among the pending projects and approves it.
    let team = signed_in_ara(&app, Role::TenantAdmin).await;
    let pending = team.get("/portail/ara/projets?etat=submitted").await;
    assert_eq!(pending.status, 200, "{}", pending.html);
    assert!(pending.html.contains(&project_id));
    let approved_list = team.get("/portail/ara/projets?etat=approved").await;
    assert!(!approved_list.html.contains(&project_id));
    let approve = format!("/portail/ara/projets/{project_id}/approbation");
    // The structure cannot approve its own project, nor a forged form anyone's.
    assert_eq!(structure.submit(&approve, &[]).await.status, 403);
    assert_eq!(team.send_form(&approve, &[]).await.status, 403);
    let approved = team.submit(&approve, &[]).await;
    assert_eq!(approved.status, 303, "{}", approved.html);
    let page = structure
        .get(&format!("/portail/ara/projets/{project_id}"))
        .await;
    assert!(page.html.contains("Projet approuvé"), "{}", page.html);
    assert!(page.html.contains("/courrier\">Imprimer le courrier"));
    let reference = page
        .html
        .split("/portail/ara/cheques/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a member's pass")
        .to_owned();
    let letter = structure
        .get(&format!("/portail/ara/cheques/{reference}/courrier"))
        .await;
    assert_eq!(letter.status, 200);
    assert!(letter.html.contains(&reference));

    // The EPN plans a session that has started and records it for the group, one member absent.
    let epn = app.ara.token(Role::Epn);
    let session = app
        .post(
            "/v1/sessions",
            epn,
            &json!({ "scheme_id": scheme_id, "starts_at": chrono::Utc::now(), "capacity": 10 }),
        )
        .await;
    assert_eq!(session.status, 201, "{}", session.raw);
    let session_id = session.body["id"].as_str().expect("id").to_owned();
    let animator = signed_in_ara(&app, Role::Epn).await;
    let sheet = animator
        .get(&format!("/portail/ara/projets/{project_id}"))
        .await;
    assert!(
        sheet.html.contains("Feuille d’une séance du projet"),
        "{}",
        sheet.html
    );
    let recorded = animator
        .submit(
            &format!("/portail/ara/projets/{project_id}/seance"),
            &[
                ("session_id", session_id.as_str()),
                ("absent", reference.as_str()),
                ("comp_3.2", "acquired"),
            ],
        )
        .await;
    assert_eq!(recorded.status, 200, "{}", recorded.html);
    assert!(
        recorded.html.contains(&format!("{reference} noté absent")),
        "{}",
        recorded.html
    );
    assert_eq!(recorded.html.matches("noté présent").count(), 7);
    let portfolio = app.get(&format!("/v1/projects/{project_id}"), epn).await;
    let other = portfolio.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["reference"].as_str())
        .find(|r| *r != reference)
        .expect("a present member")
        .to_owned();
    let worked = app
        .get(
            &format!("/v1/vouchers/{other}/portfolio"),
            app.ara.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        worked.body["sessions"][0]["competences"][0]["title"],
        "Développer des documents multimédia",
        "{}",
        worked.raw
    );

    // The animator orients a member at the end of the journey, from the project's page.
    let orientation = format!("/portail/ara/epn/cheques/{other}/orientation");
    assert!(sheet.html.contains(&orientation), "{}", sheet.html);
    let form = animator.get(&orientation).await;
    assert_eq!(form.status, 200, "{}", form.html);
    assert!(form.html.contains("CléA numérique"));
    let unchosen = animator.submit(&orientation, &[("kind", "")]).await;
    assert_eq!(unchosen.status, 422, "{}", unchosen.html);
    assert!(unchosen.html.contains("id=\"kind-erreur\""));
    let saved = animator
        .submit(
            &orientation,
            &[
                ("kind", "pcie"),
                ("note", "Module PCIE au GRETA de Privas en avril"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let worked = app
        .get(
            &format!("/v1/vouchers/{other}/portfolio"),
            app.ara.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(worked.body["orientation"]["kind"], "pcie", "{}", worked.raw);
    // The absent member attended nothing: no journey to orient from, said in French.
    let too_soon = animator
        .submit(
            &format!("/portail/ara/epn/cheques/{reference}/orientation"),
            &[("kind", "pix")],
        )
        .await;
    assert_eq!(too_soon.status, 422, "{}", too_soon.html);
    assert!(
        too_soon
            .html
            .contains("aucune séance n’a encore été suivie")
    );
    // The structure does not orient; another territory's EPN does not find the voucher.
    assert_eq!(structure.get(&orientation).await.status, 403);
    let lot_animator = signed_in_to(&app, "lot", Role::Epn).await;
    let foreign = lot_animator
        .submit(
            &format!("/portail/lot/epn/cheques/{other}/orientation"),
            &[("kind", "pix")],
        )
        .await;
    assert_eq!(foreign.status, 404, "{}", foreign.html);
}

#[tokio::test]
async fn the_region_rejects_with_a_reason_and_nobody_reaches_anothers_project() {
    let app = spawn_app().await;
    let scheme_id = pass_numerique(&app).await;
    let structure = signed_in_ara(&app, Role::Prescriber).await;
    let proposed = propose(&app, &structure, &project_fields(&app, &scheme_id, 5), None).await;
    assert_eq!(proposed.status, 303, "{}", proposed.html);
    let location = proposed.location.expect("page");
    let project_id = location
        .trim_start_matches("/portail/ara/projets/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();

    let team = signed_in_ara(&app, Role::TenantAdmin).await;
    let reject = format!("/portail/ara/projets/{project_id}/refus");
    let no_reason = team.submit(&reject, &[("reason", " ")]).await;
    assert_eq!(no_reason.status, 422, "{}", no_reason.html);
    assert!(
        no_reason.html.contains("Saisissez un motif"),
        "{}",
        no_reason.html
    );
    let rejected = team
        .submit(&reject, &[("reason", "Le budget de l’année est épuisé.")])
        .await;
    assert_eq!(rejected.status, 303, "{}", rejected.html);
    let page = structure.get(&location).await;
    assert!(
        page.html
            .contains("Motif du refus : Le budget de l’année est épuisé.")
    );
    let twice = team
        .submit(
            &format!("/portail/ara/projets/{project_id}/approbation"),
            &[],
        )
        .await;
    assert_eq!(twice.status, 409, "{}", twice.html);

    // Another structure of the territory, another EPN, another territory: not found.
    let other_structure = passerelle_core::prescribers::create(
        &app.db.app,
        app.ara.id,
        passerelle_core::audit::Actor::SYSTEM,
        &passerelle_core::prescribers::NewPrescriber {
            name: "Mission locale de Privas".into(),
            ..Default::default()
        },
    )
    .await
    .expect("prescriber");
    let stranger_id = passerelle_core::tenancy::users::create(
        &app.db.app,
        app.ara.id,
        &passerelle_core::tenancy::users::NewUser {
            email: "agent@privas.example".into(),
            display_name: "Agent de Privas".into(),
            role: Role::Prescriber,
            prescriber_id: Some(other_structure.id),
            epn_id: None,
        },
    )
    .await
    .expect("user")
    .id;
    passerelle_core::tenancy::accounts::set_password(
        &app.db.app,
        app.ara.id,
        passerelle_core::audit::Actor::SYSTEM,
        stranger_id,
        PASSWORD,
    )
    .await
    .expect("password");
    let stranger = SignedIn::new(&app, "ara", "agent@privas.example", PASSWORD).await;
    assert_eq!(stranger.get(&location).await.status, 404);
    let theirs = stranger.get("/portail/ara/projets").await;
    assert!(!theirs.html.contains(&project_id), "{}", theirs.html);
    let lot_admin = signed_in_to(&app, "lot", Role::TenantAdmin).await;
    let elsewhere = lot_admin
        .get(&format!("/portail/lot/projets/{project_id}"))
        .await;
    assert_eq!(elsewhere.status, 404);
    assert_eq!(
        lot_admin
            .submit(
                &format!("/portail/lot/projets/{project_id}/refus"),
                &[("reason", "x")]
            )
            .await
            .status,
        404
    );
}
