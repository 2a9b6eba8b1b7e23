//! Funders through the API: a tenant admin records the funders and a scheme's funding plan,
//! finance downloads each funder's claim once the month is approved; other roles, other tenants
//! and malformed plans are refused.

use passerelle_core::tenancy::Role;
use serde_json::json;

use crate::helpers::spawn_app;
use crate::reimbursements::delivery_in;

#[tokio::test]
async fn a_funder_is_claimed_its_share_of_the_approved_month() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let finance = app.lot.token(Role::Finance);
    let scheme_id = app.active_ticket_net_in_lot(5).await;

    let fse = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": "FSE+ Occitanie", "kind": "european_fund" }),
        )
        .await;
    assert_eq!(fse.status, 201, "{}", fse.raw);
    let fse_id = fse.body["id"].as_str().expect("id").to_owned();
    let commune = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": "Commune de Figeac", "kind": "commune", "siret": "21460102400018" }),
        )
        .await;
    let commune_id = commune.body["id"].as_str().expect("id").to_owned();
    let taken = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": "FSE+ Occitanie", "kind": "state" }),
        )
        .await;
    assert!(
        taken.problem(409)["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/funder-name-taken")),
        "{}",
        taken.raw
    );

    // A name of the wrong type is refused, not turned into the text "false".
    let wrong_type = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": false, "kind": "state" }),
        )
        .await;
    assert_eq!(wrong_type.status, 400, "{}", wrong_type.raw);

    let today = passerelle_test_support::paris_today();
    let plan = app
        .send(
            app.request(
                "PUT",
                &format!("/v1/schemes/{scheme_id}/funding"),
                Some(admin),
            )
            .json(&json!({ "effective_from": today, "lines": [
                    { "funder_id": fse_id, "share_basis_points": 5000, "cap_cents": 100000 },
                    { "funder_id": commune_id, "fixed_cents_per_voucher": 5000 }
                ] })),
        )
        .await;
    assert_eq!(plan.status, 200, "{}", plan.raw);
    assert_eq!(
        plan.body["versions"][0]["lines"][1]["fixed_cents_per_voucher"],
        5000
    );
    let read = app
        .get(&format!("/v1/schemes/{scheme_id}/funding"), finance)
        .await;
    assert_eq!(read.body, plan.body);

    delivery_in(&app, &scheme_id, "Martin").await;
    let month = today.format("%Y-%m").to_string();
    let run = app
        .post(
            &format!("/v1/reimbursements/{month}/run"),
            finance,
            &json!({}),
        )
        .await;
    assert_eq!(run.body["total_cents"], 2_000, "{}", run.raw);
    let claims = format!("/v1/funders/{fse_id}/claims/csv?from={month}&to={month}");
    // Nothing is claimed before finance approves the month.
    let before = app.get(&claims, finance).await;
    assert_eq!(before.status, 200, "{}", before.raw);
    assert!(
        before.raw.trim_end().ends_with(";0;0,00;0,00;Total;;"),
        "{}",
        before.raw
    );
    let statements = app
        .get(&format!("/v1/statements?month={month}"), finance)
        .await;
    let id = statements.body["items"][0]["id"]
        .as_str()
        .expect("statement");
    app.post(&format!("/v1/statements/{id}/approve"), finance, &json!({}))
        .await;

    // 20 €: half to the European fund; the commune's 50 € of a 200 € voucher is a quarter.
    for (funder, share) in [(&fse_id, "10,00"), (&commune_id, "5,00")] {
        let csv = app
            .get(
                &format!("/v1/funders/{funder}/claims/csv?from={month}&to={month}"),
                finance,
            )
            .await;
        assert_eq!(csv.status, 200, "{}", csv.raw);
        assert!(
            csv.header("content-disposition")
                .is_some_and(|d| d.contains(&format!("financeur-{month}-{month}.csv"))),
            "{:?}",
            csv.headers
        );
        let rows: Vec<&str> = csv.raw.trim_start_matches('\u{feff}').lines().collect();
        assert_eq!(
            rows.len(),
            4,
            "header, line, month total, period total: {}",
            csv.raw
        );
        assert!(
            rows[1].contains(&format!(";120;20,00;{share};Séance;")),
            "{}",
            rows[1]
        );
        assert!(rows[3].starts_with("Total de la période;"), "{}", rows[3]);
        assert!(
            rows[3].contains(&format!(";120;20,00;{share};Total;")),
            "{}",
            rows[3]
        );
        assert!(!csv.raw.contains("Martin"), "a claim names a holder");
    }
    assert_eq!(app.audited_in_lot("funder.claims_exported").await, 3);

    // The month's reconciliation: one 200 € voucher committed, 20 € consumed, nothing released.
    let report = app
        .get(
            &format!("/v1/schemes/{scheme_id}/reconciliation?month={month}"),
            finance,
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.raw);
    assert_eq!(report.body["vouchers_issued"], 1);
    assert_eq!(report.body["total"]["committed_cents"], 20_000);
    assert_eq!(report.body["total"]["consumed_cents"], 2_000);
    assert_eq!(report.body["total"]["outstanding_cents"], 18_000);
    let funders = report.body["funders"].as_array().expect("funders");
    let row = |name: &str| {
        funders
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {}", report.raw))
    };
    assert_eq!(row("FSE+ Occitanie")["figures"]["committed_cents"], 10_000);
    assert_eq!(row("FSE+ Occitanie")["figures"]["consumed_cents"], 1_000);
    assert_eq!(row("FSE+ Occitanie")["remaining_cents"], 100_000 - 10_000);
    assert_eq!(
        row("Commune de Figeac")["figures"]["committed_cents"],
        5_000
    );
    assert_eq!(row("Commune de Figeac")["figures"]["consumed_cents"], 500);
    assert_eq!(report.body["territory"]["committed_cents"], 5_000);
    assert_eq!(report.body["territory"]["consumed_cents"], 500);
    let csv = app
        .get(
            &format!("/v1/schemes/{scheme_id}/reconciliation/csv?month={month}"),
            finance,
        )
        .await;
    assert_eq!(csv.status, 200, "{}", csv.raw);
    let rows: Vec<&str> = csv.raw.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(rows.len(), 5, "{}", csv.raw);
    assert!(
        rows[4].starts_with("Total;") && rows[4].contains(";200,00;20,00;0,00;180,00;"),
        "{}",
        rows[4]
    );

    // The same figures and files on finance's portal page.
    let officer = crate::web_pages::signed_in(&app, Role::Finance).await;
    let page = officer
        .get(&format!("/portail/lot/financeurs?mois={month}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    for text in [
        "FSE+ Occitanie",
        "Commune de Figeac",
        "21460102400018",
        "1 chèque(s) émis",
    ] {
        assert!(page.html.contains(text), "{text}: {}", page.html);
    }
    let claims_path = format!(
        "/portail/lot/financeurs/{fse_id}/demande/{}-01/{month}",
        &month[..4]
    );
    assert!(page.html.contains(&claims_path), "{}", page.html);
    let file = officer.get(&claims_path).await;
    assert_eq!(file.status, 200, "{}", file.html);
    assert!(
        file.html.contains(";120;20,00;10,00;Séance;"),
        "{}",
        file.html
    );
    let reconciliation = officer
        .get(&format!(
            "/portail/lot/financeurs/rapprochement/{scheme_id}/{month}"
        ))
        .await;
    assert_eq!(reconciliation.status, 200);
    assert!(reconciliation.html.contains(";200,00;20,00;0,00;180,00;"));
    // Another territory's funder, an unknown one, a malformed address: not found.
    let elsewhere = app
        .post(
            "/v1/funders",
            app.ara.token(Role::TenantAdmin),
            &json!({ "name": "FSE+ Auvergne-Rhône-Alpes", "kind": "european_fund" }),
        )
        .await;
    let elsewhere = elsewhere.body["id"].as_str().expect("id").to_owned();
    for funder in [
        elsewhere.as_str(),
        "0190f000-0000-7000-8000-000000000000",
        "fse",
    ] {
        let refused = officer
            .get(&format!(
                "/portail/lot/financeurs/{funder}/demande/{month}/{month}"
            ))
            .await;
        assert_eq!(refused.status, 404, "{funder}: {}", refused.html);
    }
    let backwards = officer
        .get(&format!(
            "/portail/lot/financeurs/{fse_id}/demande/{month}/2020-01"
        ))
        .await;
    assert_eq!(backwards.status, 404, "{}", backwards.html);
}

#[tokio::test]
async fn funders_and_plans_refuse_other_roles_other_tenants_and_bad_plans() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let fse = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": "FSE+", "kind": "european_fund" }),
        )
        .await;
    let fse_id = fse.body["id"].as_str().expect("id").to_owned();
    let put_plan = |token: &str, scheme: &str, body: serde_json::Value| {
        app.send(
            app.request("PUT", &format!("/v1/schemes/{scheme}/funding"), Some(token))
                .json(&body),
        )
    };
    let today = passerelle_test_support::paris_today();
    let share =
        |funder: &str, points: u32| json!({ "funder_id": funder, "share_basis_points": points });

    // Roles: only the tenant admin writes a plan or a funder; finance reads.
    for role in [Role::Prescriber, Role::Epn, Role::Funder, Role::Finance] {
        put_plan(
            app.lot.token(role),
            &scheme_id,
            json!({ "effective_from": today, "lines": [] }),
        )
        .await
        .problem(403);
        app.post(
            "/v1/funders",
            app.lot.token(role),
            &json!({ "name": "Faux financeur", "kind": "other" }),
        )
        .await
        .problem(403);
    }
    for role in [Role::Prescriber, Role::Epn, Role::Funder] {
        app.get(
            &format!("/v1/funders/{fse_id}/claims/csv?from=2026-01&to=2026-12"),
            app.lot.token(role),
        )
        .await
        .problem(403);
        app.get("/v1/funders", app.lot.token(role))
            .await
            .problem(403);
    }

    // Another tenant: the Lot's scheme and funder are not found, and cannot be named in its plan.
    let ara_admin = app.ara.token(Role::TenantAdmin);
    put_plan(
        ara_admin,
        &scheme_id,
        json!({ "effective_from": today, "lines": [] }),
    )
    .await
    .problem(404);
    app.get(&format!("/v1/schemes/{scheme_id}/funding"), ara_admin)
        .await
        .problem(404);
    app.get(
        &format!("/v1/funders/{fse_id}/claims/csv?from=2026-01&to=2026-12"),
        app.ara.token(Role::Finance),
    )
    .await
    .problem(404);
    let ara_funders = app.get("/v1/funders", ara_admin).await;
    assert_eq!(ara_funders.body["items"], json!([]), "{}", ara_funders.raw);
    let ara_scheme = app
        .post(
            "/v1/schemes",
            ara_admin,
            &json!({ "code": "pass-ara", "name": "Pass", "preset": "ticket-net" }),
        )
        .await;
    let ara_scheme_id = ara_scheme.body["scheme"]["id"]
        .as_str()
        .or(ara_scheme.body["id"].as_str())
        .expect("ara scheme")
        .to_owned();
    let stolen = put_plan(
        ara_admin,
        &ara_scheme_id,
        json!({ "effective_from": today, "lines": [share(&fse_id, 1000)] }),
    )
    .await;
    assert_eq!(
        stolen.problem(422)["errors"][0]["field"],
        "funder_id",
        "{}",
        stolen.raw
    );

    // Bad plans: over 100 %, a share and a fixed amount at once, a funder twice, a past date.
    let commune = app
        .post(
            "/v1/funders",
            admin,
            &json!({ "name": "Commune", "kind": "commune" }),
        )
        .await;
    let commune_id = commune.body["id"].as_str().expect("id").to_owned();
    for (body, field) in [
        (
            json!({ "effective_from": today, "lines": [share(&fse_id, 6000), share(&commune_id, 4001)] }),
            "lines",
        ),
        (
            json!({ "effective_from": today, "lines": [
                { "funder_id": fse_id, "share_basis_points": 10, "fixed_cents_per_voucher": 10 }] }),
            "lines[0]",
        ),
        (
            json!({ "effective_from": today, "lines": [share(&fse_id, 10), share(&fse_id, 20)] }),
            "lines[1].funder_id",
        ),
        (
            json!({ "effective_from": today - chrono::Days::new(1), "lines": [] }),
            "effective_from",
        ),
    ] {
        let refused = put_plan(admin, &scheme_id, body).await;
        assert_eq!(
            refused.problem(422)["errors"][0]["field"],
            field,
            "{}",
            refused.raw
        );
    }
    for role in [Role::Prescriber, Role::Epn, Role::Funder] {
        app.get(
            &format!("/v1/schemes/{scheme_id}/reconciliation?month=2026-12"),
            app.lot.token(role),
        )
        .await
        .problem(403);
    }
    app.get(
        &format!("/v1/schemes/{scheme_id}/reconciliation?month=2026-12"),
        app.ara.token(Role::Finance),
    )
    .await
    .problem(404);
    let no_month = app
        .get(
            &format!("/v1/schemes/{scheme_id}/reconciliation"),
            app.lot.token(Role::Finance),
        )
        .await;
    assert_eq!(no_month.problem(422)["errors"][0]["field"], "month");
    // A funder user is bound to a funder of its own tenant, by its tenant admin only.
    let analyst = app
        .create_user(admin, "analyste@fse.example", "funder")
        .await;
    let analyst_id = analyst.body["id"].as_str().expect("user").to_owned();
    let set_funder = |token: &str, user: &str, funder: serde_json::Value| {
        app.send(
            app.request("PUT", &format!("/v1/users/{user}/funder"), Some(token))
                .json(&json!({ "funder_id": funder })),
        )
    };
    let bound = set_funder(admin, &analyst_id, json!(fse_id)).await;
    assert_eq!(bound.status, 204, "{}", bound.raw);
    set_funder(app.lot.token(Role::Funder), &analyst_id, json!(fse_id))
        .await
        .problem(403);
    set_funder(ara_admin, &analyst_id, json!(null))
        .await
        .problem(404);
    let ara_funder = app
        .post(
            "/v1/funders",
            ara_admin,
            &json!({ "name": "Région", "kind": "region" }),
        )
        .await;
    let foreign = set_funder(admin, &analyst_id, ara_funder.body["id"].clone()).await;
    assert_eq!(foreign.problem(422)["errors"][0]["field"], "funder_id");
    let prescriber_id = app.lot.users[&Role::Prescriber].to_string();
    let not_a_funder = set_funder(admin, &prescriber_id, json!(fse_id)).await;
    assert_eq!(not_a_funder.problem(422)["errors"][0]["field"], "funder_id");
    assert_eq!(app.audited_in_lot("user.funder_set").await, 1);
    // An export for another tenant's funder's scope is refused.
    let scoped = app
        .post(
            "/v1/statistics/exports",
            admin,
            &json!({ "scheme_id": scheme_id, "period": "2026", "funder_id": ara_funder.body["id"] }),
        )
        .await;
    assert_eq!(scoped.problem(422)["errors"][0]["field"], "funder_id");
    let own = app
        .post(
            "/v1/statistics/exports",
            admin,
            &json!({ "scheme_id": scheme_id, "period": "2026", "funder_id": fse_id }),
        )
        .await;
    assert_eq!(own.status, 202, "{}", own.raw);
    assert_eq!(own.body["funder_id"], json!(fse_id));
    // The fund's staff read it; another funder's staff do not find it.
    let own_id = own.body["id"].as_str().expect("export");
    let funder_token = app.lot.token(Role::Funder);
    app.get(&format!("/v1/statistics/exports/{own_id}"), funder_token)
        .await
        .problem(404);
    let funder_user = app.lot.users[&Role::Funder].to_string();
    let bound = set_funder(admin, &funder_user, json!(fse_id)).await;
    assert_eq!(bound.status, 204, "{}", bound.raw);
    let read = app
        .get(&format!("/v1/statistics/exports/{own_id}"), funder_token)
        .await;
    assert_eq!(read.status, 200, "{}", read.raw);
    let rebound = set_funder(admin, &funder_user, json!(commune_id)).await;
    assert_eq!(rebound.status, 204, "{}", rebound.raw);
    app.get(&format!("/v1/statistics/exports/{own_id}"), funder_token)
        .await
        .problem(404);

    let bad_month = app
        .get(
            &format!("/v1/funders/{fse_id}/claims/csv?from=2026-13&to=2026-12"),
            app.lot.token(Role::Finance),
        )
        .await;
    assert_eq!(bad_month.problem(422)["errors"][0]["field"], "from");
    let backwards = app
        .get(
            &format!("/v1/funders/{fse_id}/claims/csv?from=2026-12&to=2026-01"),
            app.lot.token(Role::Finance),
        )
        .await;
    assert_eq!(backwards.problem(422)["errors"][0]["field"], "to");
}
