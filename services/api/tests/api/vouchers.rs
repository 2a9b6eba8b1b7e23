//! A month in the Lot, through the API: a scheme from the preset, an allocation, vouchers issued
//! by a prescriber agent, looked up, cancelled, audited, and checked by their holder.

use passerelle_core::tenancy::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, transposed};

async fn active_ticket_net(app: &TestApp, quantity: i32) -> String {
    let admin = app.lot.token(Role::TenantAdmin);
    let scheme = app
        .post("/v1/schemes", admin, &json!({ "code": "ticket-net-2027", "name": "Ticket Net 2027", "preset": "ticket-net" }))
        .await;
    assert_eq!(scheme.status, 201, "{}", scheme.raw);
    assert_eq!(scheme.body["status"], "draft");
    assert_eq!(
        scheme.body["modules"].as_array().expect("modules").len(),
        20
    );
    assert_eq!(scheme.body["current"]["rules"]["face_value_cents"], 20000);
    assert_eq!(scheme.body["referential"], "crcn");
    let scheme_id = scheme.body["id"].as_str().expect("id").to_owned();

    let draft_issue = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Avance") }),
        )
        .await;
    draft_issue.problem(409);

    let active = app
        .post(
            &format!("/v1/schemes/{scheme_id}/status"),
            admin,
            &json!({ "status": "active" }),
        )
        .await;
    assert_eq!(active.body["status"], "active", "{}", active.raw);
    let today = passerelle_test_support::paris_today();
    let allocation = app
        .post(
            &format!("/v1/prescribers/{}/allocations", app.lot.prescriber_id),
            admin,
            &json!({ "scheme_id": scheme_id, "period_start": today - chrono::Days::new(10), "period_end": today + chrono::Days::new(10), "quantity": quantity }),
        )
        .await;
    assert_eq!(allocation.status, 201, "{}", allocation.raw);
    scheme_id
}

fn person(last_name: &str) -> Value {
    json!({ "first_name": "Jeanne", "last_name": last_name, "birth_year": 1957, "commune_insee": "46102", "public_category": "senior" })
}

#[tokio::test]
async fn a_prescriber_issues_looks_up_and_cancels_vouchers_within_the_allocation() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 2).await;
    let agent = app.lot.token(Role::Prescriber);

    let issued = app
        .post_idempotent(
            "/v1/vouchers",
            agent,
            "issue-martin",
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let reference = issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    assert!(
        reference.starts_with("LOT-") && reference.len() == 15,
        "{reference}"
    );
    assert_eq!(issued.body["voucher"]["minutes_left"], 1200);
    assert_eq!(issued.body["beneficiary"]["last_name"], "Martin");
    let replay = app
        .post_idempotent(
            "/v1/vouchers",
            agent,
            "issue-martin",
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    assert_eq!(
        replay.body["voucher"]["reference"],
        reference.as_str(),
        "a retried issuance issues nothing twice"
    );

    let loose = reference.to_lowercase().replace('-', "");
    let found = app
        .get(&format!("/v1/vouchers/{loose}"), app.lot.token(Role::Epn))
        .await;
    assert_eq!(found.status, 200, "{}", found.raw);
    assert_eq!(found.body["reference"], reference.as_str());
    let typo = transposed(&reference);
    let wrong = app.get(&format!("/v1/vouchers/{typo}"), agent).await;
    wrong.problem(422);
    assert!(
        wrong.body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("mistyped"),
        "{}",
        wrong.raw
    );
    app.get(
        &format!("/v1/vouchers/{reference}"),
        app.ara.token(Role::TenantAdmin),
    )
    .await
    .problem(404);

    let stock = app
        .get(
            &format!("/v1/prescribers/{}/stock", app.lot.prescriber_id),
            agent,
        )
        .await;
    assert_eq!(stock.body[0]["remaining"], 1, "{}", stock.raw);

    app.post(
        "/v1/vouchers",
        agent,
        &json!({ "scheme_id": scheme_id, "beneficiary": person("Durand") }),
    )
    .await;
    let exhausted = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Bernard") }),
        )
        .await;
    exhausted.problem(409);
    assert!(
        exhausted.body["detail"]
            .as_str()
            .expect("detail")
            .contains("0 remaining"),
        "{}",
        exhausted.raw
    );
    // A refusal of its own kind, whose type is a page that says what it means in both languages.
    assert_eq!(exhausted.body["type"], "/problems/allocation-used-up");
    assert_eq!(exhausted.body["title"], "Allocation used up");
    let explained = app
        .send(app.request("GET", "/problems/allocation-used-up", None))
        .await;
    assert_eq!(explained.status, 200);
    assert!(
        explained.raw.contains("Dotation épuisée"),
        "{}",
        explained.raw
    );
    assert!(explained.raw.contains("<section lang=\"en\">"));
    let unknown = app
        .send(app.request("GET", "/problems/no-such-problem", None))
        .await;
    assert_eq!(unknown.status, 404);
    let index = app.send(app.request("GET", "/problems", None)).await;
    assert!(index.raw.contains("/problems/probable-duplicate"));

    let listed = app
        .get("/v1/vouchers?status=issued", app.lot.token(Role::Finance))
        .await;
    assert_eq!(listed.body["items"].as_array().expect("items").len(), 2);

    let cancelled = app
        .post(
            &format!("/v1/vouchers/{reference}/cancel"),
            agent,
            &json!({ "reason": "Erreur de bénéficiaire" }),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.raw);
    assert_eq!(cancelled.body["status"], "cancelled");
    let again = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Bernard") }),
        )
        .await;
    assert_eq!(
        again.status, 201,
        "the cancelled voucher's place came back: {}",
        again.raw
    );

    let audit = app
        .get(
            "/v1/audit?object_type=voucher&limit=100",
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "voucher.issued",
            "voucher.issued",
            "voucher.cancelled",
            "voucher.issued"
        ]
    );
    let cancel_entry = &audit.body["items"][2];
    assert_eq!(cancel_entry["actor_role"], "prescriber");
    assert_eq!(cancel_entry["details"]["reason"], "Erreur de bénéficiaire");
}

#[tokio::test]
async fn rules_are_refused_precisely_and_versioned() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let mut rules = crate::access::sample_rules();
    rules["voucher_minutes"] = json!(1210);
    rules["modules_to_choose"] = json!(0);
    rules["delivery_modes"]["collective_projects"] = json!({ "min": 10, "max": 5 });
    let refused = app
        .post(
            "/v1/schemes",
            admin,
            &json!({ "code": "bad", "name": "Bad", "rules": rules }),
        )
        .await;
    refused.problem(422);
    let mut fields = refused.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        ["delivery_modes.collective_projects", "voucher_minutes"]
    );

    let unknown = app
        .post("/v1/schemes", admin, &json!({ "code": "b2i", "name": "B2i", "preset": "ticket-net", "referential": "b2i-adultes" }))
        .await;
    unknown.problem(422);
    assert_eq!(unknown.error_fields(), ["referential"]);

    let scheme_id = active_ticket_net(&app, 1).await;
    let tomorrow = passerelle_test_support::paris_today() + chrono::Days::new(2);
    let mut rules = crate::access::sample_rules();
    rules["hourly_rate_cents"] = json!(1200);
    let changed = app
        .post(
            &format!("/v1/schemes/{scheme_id}/versions"),
            admin,
            &json!({ "effective_from": tomorrow, "rules": rules }),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.raw);
    assert_eq!(
        changed.body["versions"].as_array().expect("versions").len(),
        2
    );
    assert_eq!(changed.body["current"]["version"], 1);
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    assert_eq!(issued.body["voucher"]["rules_version"], 1, "{}", issued.raw);
    let audit = app
        .get("/v1/audit?action=scheme.rules_changed", admin)
        .await;
    assert_eq!(
        audit.body["items"][0]["details"]["rules"]["hourly_rate_cents"],
        1200
    );
}

#[tokio::test]
async fn the_public_balance_check_leaks_nothing_and_is_rate_limited() {
    let app = spawn_app().await;
    crate::helpers::away_from_a_minute_boundary().await;
    let scheme_id = active_ticket_net(&app, 1).await;
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Lefèvre") }),
        )
        .await;
    let reference = issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let check = |reference: String, name: &'static str| {
        let app = &app;
        async move {
            app.send(
                app.request("POST", "/v1/public/balance", None)
                    .json(&json!({ "reference": reference, "last_name": name })),
            )
            .await
        }
    };

    let ok = check(reference.clone(), "LEFEVRE").await;
    assert_eq!(ok.status, 200, "{}", ok.raw);
    let keys: Vec<&String> = ok.body.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "minutes_left",
            "participation_fee_cents",
            "status",
            "valid_until"
        ],
        "nothing else than what the holder needs to use it (what they pay included)"
    );
    assert_eq!(ok.body["minutes_left"], 1200);

    let wrong_name = check(reference.clone(), "Martin").await;
    let unknown = check(
        passerelle_core::vouchers::reference::generate("LOT"),
        "Lefèvre",
    )
    .await;
    wrong_name.problem(404);
    assert_eq!(
        wrong_name.body, unknown.body,
        "a wrong name and an unknown reference look the same"
    );

    let mut last = None;
    for _ in 0..10 {
        last = Some(check(reference.clone(), "Lefèvre").await);
    }
    let limited = last.expect("replies");
    limited.problem(429);
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
}

/// Count, face values, minutes left and fees of every voucher of the tenant.
async fn totals(app: &TestApp, admin: &str) -> (usize, i64, i64, i64) {
    let all = app.get("/v1/vouchers?limit=100", admin).await;
    let items = all.body["items"].as_array().expect("items");
    let sum = |field: &str| {
        items
            .iter()
            .map(|v| v[field].as_i64().expect("number"))
            .sum::<i64>()
    };
    (
        items.len(),
        sum("face_value_cents"),
        sum("minutes_left"),
        sum("participation_fee_cents"),
    )
}

#[tokio::test]
async fn erasure_removes_the_person_and_keeps_every_total() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 5).await;
    let agent = app.lot.token(Role::Prescriber);
    let admin = app.lot.token(Role::TenantAdmin);
    let mut holder = person("Martin");
    holder["email"] = json!("jeanne.martin@example.org");
    holder["email_consent"] = json!(true);
    let first = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary": holder }),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let beneficiary_id = first.body["beneficiary"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reference = first.body["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let second = app
        .post("/v1/vouchers", agent, &json!({ "scheme_id": scheme_id, "beneficiary_id": beneficiary_id, "participation_fee_cents": 500 }))
        .await;
    assert_eq!(second.status, 201, "{}", second.raw);
    app.post(
        "/v1/vouchers",
        agent,
        &json!({ "scheme_id": scheme_id, "beneficiary": person("Durand") }),
    )
    .await;

    let before = totals(&app, admin).await;
    let funnel_before = app
        .get(
            &format!("/v1/prescribers/{}/funnel", app.lot.prescriber_id),
            admin,
        )
        .await;

    let export = app
        .get(&format!("/v1/beneficiaries/{beneficiary_id}/export"), admin)
        .await;
    assert_eq!(export.status, 200, "{}", export.raw);
    assert_eq!(
        export.body["beneficiary"]["email"],
        "jeanne.martin@example.org"
    );
    assert_eq!(
        export.body["vouchers"].as_array().expect("vouchers").len(),
        2
    );
    assert!(
        export.body["audit"].as_array().expect("audit").len() >= 3,
        "{}",
        export.raw
    );

    let erased = app
        .post(
            &format!("/v1/beneficiaries/{beneficiary_id}/erase"),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.raw);
    for field in [
        "first_name",
        "last_name",
        "birth_year",
        "commune_insee",
        "email",
        "phone",
    ] {
        assert!(
            erased.body.get(field).is_none(),
            "{field} survived erasure: {}",
            erased.raw
        );
    }
    assert!(erased.body["erased_at"].is_string());
    app.post(
        &format!("/v1/beneficiaries/{beneficiary_id}/erase"),
        admin,
        &json!({}),
    )
    .await
    .problem(409);

    assert_eq!(totals(&app, admin).await, before, "erasure changed a total");
    let funnel_after = app
        .get(
            &format!("/v1/prescribers/{}/funnel", app.lot.prescriber_id),
            admin,
        )
        .await;
    assert_eq!(funnel_after.body, funnel_before.body);
    assert_eq!(funnel_after.body["issued"], 3);

    let balance = app
        .send(
            app.request("POST", "/v1/public/balance", None)
                .json(&json!({ "reference": reference, "last_name": "Martin" })),
        )
        .await;
    balance.problem(404);
    let audit = app
        .get(
            &format!("/v1/audit?object_type=beneficiary&object_id={beneficiary_id}"),
            admin,
        )
        .await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "beneficiary.created",
            "beneficiary.exported",
            "beneficiary.erased"
        ]
    );
    assert!(
        !audit.raw.contains("Martin") && !audit.raw.contains("jeanne.martin"),
        "the audit log holds no identity"
    );
}

#[tokio::test]
async fn the_funnel_counts_each_stage() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 5).await;
    let agent = app.lot.token(Role::Prescriber);
    let mut references = Vec::new();
    for name in ["Martin", "Durand", "Bernard"] {
        let issued = app
            .post(
                "/v1/vouchers",
                agent,
                &json!({ "scheme_id": scheme_id, "beneficiary": person(name) }),
            )
            .await;
        references.push(
            issued.body["voucher"]["reference"]
                .as_str()
                .expect("reference")
                .to_owned(),
        );
    }
    app.post(
        &format!("/v1/vouchers/{}/cancel", references[0]),
        agent,
        &json!({ "reason": "doublon" }),
    )
    .await;
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "UPDATE vouchers SET status = 'in_progress', minutes_left = 1080 WHERE reference = $1",
    )
    .bind(&references[1])
    .execute(&mut *tx)
    .await
    .expect("start one");
    sqlx::query("UPDATE vouchers SET valid_until = issued_on - 1 WHERE reference = $1")
        .bind(&references[2])
        .execute(&mut *tx)
        .await
        .expect("let one lapse");
    tx.commit().await.expect("commit");

    let funnel = app
        .get(
            &format!(
                "/v1/prescribers/{}/funnel?scheme_id={scheme_id}",
                app.lot.prescriber_id
            ),
            agent,
        )
        .await;
    assert_eq!(
        funnel.body,
        json!({ "issued": 3, "registered": 1, "started": 1, "completed": 0, "expired_unused": 1, "cancelled": 1 }),
        "{}",
        funnel.raw
    );
    app.get(
        &format!("/v1/prescribers/{}/funnel", app.lot.prescriber_id),
        app.ara.token(Role::Prescriber),
    )
    .await
    .problem(404);
}

async fn upload(app: &TestApp, scheme_id: &str, file: Vec<u8>) -> crate::helpers::Reply {
    let form = reqwest::multipart::Form::new()
        .text("scheme_id", scheme_id.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(file)
                .file_name("atelier.csv")
                .mime_str("text/csv")
                .expect("mime"),
        );
    app.send(
        app.request(
            "POST",
            "/v1/vouchers/bulk",
            Some(app.lot.token(Role::Prescriber)),
        )
        .multipart(form),
    )
    .await
}

fn statuses(report: &Value) -> Vec<(u64, String)> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_spreadsheet_issues_its_good_rows_reports_the_others_and_never_twice() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 10).await;
    // As French Excel saves it: Windows-1252, semicolons, accented headers and values.
    let sheet = "Prénom;Nom;Année de naissance;Code INSEE;Catégorie;Courriel;Consentement\r\n\
                 Hélène;Lefèvre;1957;46102;Retraité;;non\r\n\
                 Paul;Durand;1980;46042;Minima sociaux;paul@example.org;oui\r\n\
                 Zoé;Bernard;1990;46 042;Parent isolé;;\r\n\
                 Luc;Petit;1975;46042;Salarié peu qualifié;;\r\n\
                 Hélène;LEFEVRE;1957;46102;Senior;;\r\n\
                 Anaïs;Moreau;1988;46042;Parent d'élève;;\r\n";
    let (cp1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(sheet);
    assert!(!unmappable);

    let first = upload(&app, &scheme_id, cp1252.to_vec()).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    assert_eq!(
        (
            first.body["issued"].as_u64(),
            first.body["refused"].as_u64()
        ),
        (Some(4), Some(2)),
        "{}",
        first.raw
    );
    let refused: Vec<&Value> = first.body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["status"] == "refused")
        .collect();
    assert_eq!(refused[0]["line"], 4, "{}", first.raw);
    assert_eq!(refused[0]["field"], "commune_insee");
    assert_eq!(refused[1]["line"], 6);
    assert!(
        refused[1]["reason"]
            .as_str()
            .expect("reason")
            .contains("ligne 2"),
        "{}",
        first.raw
    );

    let lefevre = first.body["rows"][0]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let voucher = app
        .get(
            &format!("/v1/vouchers/{lefevre}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    let holder = app
        .get(
            &format!(
                "/v1/beneficiaries/{}",
                voucher.body["beneficiary_id"].as_str().expect("id")
            ),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(
        holder.body["last_name"], "Lefèvre",
        "Windows-1252 accents survived: {}",
        holder.raw
    );

    let again = upload(&app, &scheme_id, cp1252.to_vec()).await;
    assert_eq!(again.body["issued"], 0, "{}", again.raw);
    assert_eq!(again.body["already_issued"], 4, "{}", again.raw);
    assert_eq!(statuses(&again.body)[0], (2, "already_issued".to_owned()));
    assert_eq!(again.body["rows"][0]["reference"], lefevre.as_str());

    // The corrected file, re-saved as UTF-8 with commas: only the fixed row is new.
    let fixed = "\u{feff}Prénom,Nom,Année de naissance,Code INSEE,Catégorie\n\
                 Hélène,Lefèvre,1957,46102,Senior\n\
                 Zoé,Bernard,1990,46042,Parent isolé\n";
    let third = upload(&app, &scheme_id, fixed.as_bytes().to_vec()).await;
    assert_eq!(
        statuses(&third.body),
        [(2, "already_issued".to_owned()), (3, "issued".to_owned())],
        "{}",
        third.raw
    );

    let all = app
        .get("/v1/vouchers?limit=100", app.lot.token(Role::TenantAdmin))
        .await;
    assert_eq!(all.body["items"].as_array().expect("items").len(), 5);
    let audit = app
        .get(
            "/v1/audit?action=vouchers.bulk_imported",
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(audit.body["items"].as_array().expect("items").len(), 3);

    let unusable = upload(&app, &scheme_id, b"Nom;Ville\nDurand;Figeac\n".to_vec()).await;
    unusable.problem(422);
    assert!(
        unusable.body["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("Prénom"),
        "{}",
        unusable.raw
    );
    assert_eq!(unusable.body["errors"][0]["rule"], "missing_columns");
}

#[tokio::test]
async fn a_prescriber_cannot_learn_who_another_organisation_follows() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 10).await;
    let admin = app.lot.token(Role::TenantAdmin);
    let first = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let followed = first.body["voucher"]["beneficiary_id"]
        .as_str()
        .expect("beneficiary")
        .to_owned();

    // Another organisation of the same territory, with its own agent and allocation.
    let ccas = app
        .post(
            "/v1/prescribers",
            admin,
            &json!({ "name": "CCAS de Figeac", "kind": "ccas" }),
        )
        .await;
    let ccas_id = ccas.body["id"].as_str().expect("id").to_owned();
    let today = passerelle_test_support::paris_today();
    app.post(
        &format!("/v1/prescribers/{ccas_id}/allocations"),
        admin,
        &json!({ "scheme_id": scheme_id, "period_start": today, "period_end": today, "quantity": 10 }),
    )
    .await;
    let agent = app
        .post(
            "/v1/users",
            admin,
            &json!({ "email": "agent@ccas.example", "display_name": "Agent", "role": "prescriber", "prescriber_id": ccas_id }),
        )
        .await;
    let agent_token = app
        .post(
            &format!(
                "/v1/users/{}/tokens",
                agent.body["id"].as_str().expect("id")
            ),
            admin,
            &json!({ "name": "ccas" }),
        )
        .await
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();

    // The probe: the same name, birth year and commune, one by one…
    let probe = app
        .post(
            "/v1/vouchers",
            &agent_token,
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    assert_eq!(probe.status, 201, "{}", probe.raw);
    assert!(!probe.raw.contains(&followed), "{}", probe.raw);
    // …and by the thousand in a file.
    let form = reqwest::multipart::Form::new()
        .text("scheme_id", scheme_id.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                "Prénom;Nom;Année de naissance;Code INSEE;Catégorie\nJeanne;Martin;1957;46102;Senior\n"
                    .as_bytes()
                    .to_vec(),
            )
            .file_name("atelier.csv")
            .mime_str("text/csv")
            .expect("mime"),
        );
    let bulk = app
        .send(
            app.request("POST", "/v1/vouchers/bulk", Some(&agent_token))
                .multipart(form),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.raw);
    assert!(!bulk.raw.contains("autre prescripteur"), "{}", bulk.raw);
    assert!(!bulk.raw.contains(&followed), "{}", bulk.raw);
    // Within one organisation the warning stays: it helps and tells nothing new.
    let again = app
        .post(
            "/v1/vouchers",
            &agent_token,
            &json!({ "scheme_id": scheme_id, "beneficiary": person("Martin") }),
        )
        .await;
    again.problem(409);
    // The tenant admin is told of the match across organisations.
    let audit = app
        .get("/v1/audit?action=beneficiary.possible_duplicate", admin)
        .await;
    let flagged = audit.body["items"].as_array().expect("items");
    assert!(
        flagged.iter().any(|e| {
            e["action"] == "beneficiary.possible_duplicate"
                && e["details"]["same_person_as"][0] == followed.as_str()
        }),
        "{}",
        audit.raw
    );
}

/// The scheme's limits on issuance, each refused with its reason and nothing issued: a fee above
/// the cap, a public the scheme does not serve, a budget envelope used up.
#[tokio::test]
async fn issuance_is_refused_above_the_fee_cap_outside_the_publics_and_past_the_envelope() {
    let app = spawn_app().await;
    let rules = json!({
        "face_value_cents": 20000, "voucher_minutes": 1200, "session_minutes": 120,
        "validity": { "kind": "months_after_issue", "months": 12 },
        "interview_minutes": 30, "interview_required": true, "modules_to_choose": 10,
        "delivery_modes": { "individual_vouchers": true },
        "participation_fee_cap_cents": 1000, "eligible_categories": ["senior", "minima_sociaux"],
        "reminder_days": [30], "hourly_rate_cents": 1000, "interview_fee_cents": 0,
        "budget_envelope_cents": 40000
    });
    let scheme_id = app
        .active_scheme_in_lot(
            &json!({ "code": "ticket-net-limits", "name": "Ticket Net", "preset": "ticket-net", "rules": rules }),
            10,
        )
        .await;
    let agent = app.lot.token(Role::Prescriber);
    let issue = |holder: Value, fee: i64| {
        let body = json!({ "scheme_id": scheme_id, "beneficiary": holder, "participation_fee_cents": fee });
        let app = &app;
        async move { app.post("/v1/vouchers", agent, &body).await }
    };
    let above_cap = issue(person("Cazals"), 1001).await;
    assert_eq!(
        above_cap.error_fields(),
        ["participation_fee_cents"],
        "{}",
        above_cap.raw
    );
    above_cap.problem(422);
    issue(person("Cazals"), -1).await.problem(400);
    let mut student = person("Vidal");
    student["public_category"] = json!("parent_of_pupil");
    let outside = issue(student, 0).await;
    assert_eq!(
        outside.error_fields(),
        ["public_category"],
        "{}",
        outside.raw
    );
    assert!(outside.raw.contains("not_eligible"), "{}", outside.raw);

    // The envelope pays two vouchers of 200 €: the third is refused.
    let mut references = Vec::new();
    for (name, fee) in [("Cazals", 1000), ("Delmas", 0)] {
        let issued = issue(person(name), fee).await;
        assert_eq!(issued.status, 201, "{}", issued.raw);
        assert_eq!(issued.body["voucher"]["participation_fee_cents"], fee);
        references.push(
            issued.body["voucher"]["reference"]
                .as_str()
                .expect("reference")
                .to_owned(),
        );
    }
    // The letter says what the person pays, or that it is free.
    {
        use crate::web::{PASSWORD, SignedIn, with_password};
        let email = with_password(&app, Role::Prescriber).await;
        let prescriber = SignedIn::new(&app, "lot", &email, PASSWORD).await;
        let paying = prescriber
            .get(&format!("/portail/lot/cheques/{}/courrier", references[0]))
            .await;
        assert!(
            paying
                .html
                .contains("participation de <strong>10,00 €</strong>"),
            "{}",
            paying.html
        );
        assert!(!paying.html.contains("gratuites pour vous"));
        let free = prescriber
            .get(&format!("/portail/lot/cheques/{}/courrier", references[1]))
            .await;
        assert!(free.html.contains("gratuites pour vous"), "{}", free.html);
    }
    // So do the holder's balance page and the API's balance check.
    let balance = app
        .send(app.request("POST", "/v1/public/balance-page", None).form(&[
            ("reference", references[0].as_str()),
            ("last_name", "Cazals"),
        ]))
        .await;
    assert!(
        balance
            .raw
            .contains("Votre participation : <strong>10,00 €</strong>"),
        "{}",
        balance.raw
    );
    let checked = app
        .send(
            app.request("POST", "/v1/public/balance", None)
                .json(&json!({ "reference": references[1], "last_name": "Delmas" })),
        )
        .await;
    assert_eq!(
        checked.body["participation_fee_cents"], 0,
        "{}",
        checked.raw
    );
    let third = issue(person("Fabre"), 0).await;
    let problem = third.problem(409);
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/budget-envelope-used-up")),
        "{problem}"
    );
    let all = app
        .get("/v1/vouchers?limit=100", app.lot.token(Role::TenantAdmin))
        .await;
    assert_eq!(
        all.body["items"].as_array().expect("items").len(),
        2,
        "nothing issued on a refusal"
    );
}

#[tokio::test]
async fn a_commune_code_must_be_a_commune_and_a_merged_one_stands_for_todays() {
    let app = spawn_app().await;
    let scheme_id = active_ticket_net(&app, 5).await;
    let agent = app.lot.token(Role::Prescriber);
    let app = &app;
    let issue = |commune: &'static str| {
        let body = json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Marie", "last_name": "Delpech",
                           "birth_year": 1951, "commune_insee": commune, "public_category": "senior" } });
        async move { app.post("/v1/vouchers", agent, &body).await }
    };
    // The right shape, but no commune has it: refused, with the nearest codes of the département.
    let unknown = issue("46999").await;
    unknown.problem(422);
    assert_eq!(unknown.error_fields(), ["commune_insee"], "{}", unknown.raw);
    assert!(unknown.raw.contains("did you mean"), "{}", unknown.raw);

    // Saint-Bois (Ain), merged into Arboys en Bugey: accepted, kept as today's commune.
    let merged = issue("01340").await;
    assert_eq!(merged.status, 201, "{}", merged.raw);
    let holder = app
        .get(
            &format!(
                "/v1/beneficiaries/{}",
                merged.body["voucher"]["beneficiary_id"]
                    .as_str()
                    .expect("id")
            ),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(holder.body["commune_insee"], "01015", "{}", holder.raw);
    // Typed again with today's code, the same person is recognised (a probable duplicate).
    let again = issue("01015").await;
    assert_eq!(again.status, 409, "{}", again.raw);
}
