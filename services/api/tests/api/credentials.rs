//! Open Badges 3.0 credentials as the holder takes them from their space and as strangers verify
//! them: with an independent implementation (`tests/credentials/verify.py`: PyJWT, jsonschema and
//! the published status list), with the public verification page, and as an attacker would try
//! to break them (a changed field, another territory's key, another person's code).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_core::tenancy::Role;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::delivery::scheme_with_voucher;
use crate::helpers::TestApp;
use crate::helpers::spawn_app;
use crate::web::{PASSWORD, SignedIn, with_password};

/// The public address the service writes in its credentials (AppState's default).
const PUBLIC_BASE: &str = "http://127.0.0.1:8080";

/// A person who attended a session where two competences were recorded, and the path of their
/// space (`/p/lot/<code>`).
struct Holder {
    reference: String,
    space: String,
}

async fn holder_with_competences(app: &TestApp) -> (String, Holder) {
    let (scheme_id, reference) = scheme_with_voucher(app).await;
    let holder = attended(app, &scheme_id, reference).await;
    (scheme_id, holder)
}

/// Another person, given a voucher of the same scheme, who attended a session of their own.
async fn another_holder(app: &TestApp, scheme_id: &str) -> Holder {
    let issued = app
        .post(
            "/v1/vouchers",
            app.lot.token(Role::Prescriber),
            &json!({ "scheme_id": scheme_id, "beneficiary": { "first_name": "Paul", "last_name": "Martin", "birth_year": 1960,
                                                            "commune_insee": "46102", "public_category": "senior" } }),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.raw);
    let reference = issued.body["voucher"]["reference"]
        .as_str()
        .expect("reference");
    attended(app, scheme_id, reference.to_owned()).await
}

async fn attended(app: &TestApp, scheme_id: &str, reference: String) -> Holder {
    let epn = app.lot.token(Role::Epn);
    let registered = app
        .post(
            "/v1/registrations",
            epn,
            &json!({ "reference": reference, "last_name": "Martin",
                     "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30 },
                     "modules": (1..=10).collect::<Vec<_>>() }),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.raw);
    let session = app
        .post(
            "/v1/sessions",
            epn,
            &json!({ "scheme_id": scheme_id, "module_number": 3, "starts_at": chrono::Utc::now(), "capacity": 8 }),
        )
        .await;
    let session_id = session.body["id"].as_str().expect("session id").to_owned();
    let sheet = app
        .post(
            &format!("/v1/sessions/{session_id}/attendance"),
            epn,
            &json!({ "entries": [{ "reference": reference, "status": "present",
                                   "competences": [{ "code": "2.1", "level": "practised" },
                                                   { "code": "1.1", "level": "acquired" }] }] }),
        )
        .await;
    assert_eq!(sheet.status, 200, "{}", sheet.raw);
    let link = app
        .post(
            &format!("/v1/vouchers/{reference}/portfolio-link"),
            app.lot.token(Role::Prescriber),
            &json!({}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.raw);
    Holder {
        reference,
        space: link.body["url"].as_str().expect("url").to_owned(),
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let reply = browser()
        .post(format!("{}{path}", app.base))
        .form(form)
        .send()
        .await
        .expect("answer");
    let status = reply.status().as_u16();
    let location = reply
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    (status, location, reply.text().await.expect("body"))
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String) {
    let reply = browser()
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("answer");
    (reply.status().as_u16(), reply.text().await.expect("body"))
}

/// Takes one credential from the holder's space; returns its page's path.
async fn take(
    app: &TestApp,
    holder: &Holder,
    achievement: &str,
    identity: &[(&str, &str)],
) -> String {
    let mut form = vec![("attestation", achievement)];
    form.extend_from_slice(identity);
    let (status, location, body) =
        post_form(app, &format!("{}/attestations", holder.space), &form).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        location.starts_with(&format!("{}/attestations/", holder.space)),
        "{location}"
    );
    location
}

/// The credential's file, as the holder downloads it from its page.
async fn file(app: &TestApp, page: &str) -> String {
    let (status, jwt) = get_text(app, &format!("{page}/fichier")).await;
    assert_eq!(status, 200, "{jwt}");
    jwt
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The same JWS with its payload changed by `change`, the signature kept.
fn tampered(jwt: &str, change: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut body = payload(jwt);
    change(&mut body);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).expect("JSON"));
    format!("{}.{body}.{}", parts[0], parts[2])
}

/// What the independent verifier says of `jwt`: its report, and whether it accepted it.
async fn independent(app: &TestApp, jwt: &str, email: Option<&str>) -> (Value, bool) {
    let dir = std::env::temp_dir().join(format!("passerelle-credential-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("attestation.jwt");
    std::fs::write(&path, jwt).expect("write");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/credentials/verify.py");
    // The server answers the verifier from this test's runtime: the child is awaited, not waited for.
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(script)
        .arg("--credential")
        .arg(&path)
        .arg("--resolve")
        .arg(format!("{PUBLIC_BASE}={}", app.base));
    if let Some(email) = email {
        command.arg("--email").arg(email);
    }
    let output = command
        .output()
        .await
        .expect("python3 runs (make test installs PyJWT and jsonschema)");
    std::fs::remove_dir_all(&dir).ok();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "the verifier's report: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (report, output.status.success())
}

#[tokio::test]
async fn a_credential_from_the_holders_space_verifies_independently_until_it_is_revoked() {
    let app = spawn_app().await;
    let (_, holder) = holder_with_competences(&app).await;

    // The space offers what the person reached: two competences, at their levels.
    let (status, space) = get_text(&app, &holder.space).await;
    assert_eq!(status, 200, "{space}");
    for expected in [
        "Mes attestations",
        "value=\"crcn-1.1-acquired\"",
        "value=\"crcn-2.1-practised\"",
    ] {
        assert!(
            space.contains(expected),
            "the space lacks {expected}: {space}"
        );
    }

    // Named by their email, hashed: a second request gives the same credential.
    let email = [
        ("identite", "courriel"),
        ("courriel", " Jeanne.Martin@Example.org "),
    ];
    let page = take(&app, &holder, "crcn-1.1-acquired", &email).await;
    assert_eq!(take(&app, &holder, "crcn-1.1-acquired", &email).await, page);
    let (status, html) = get_text(&app, &page).await;
    assert_eq!(status, 200, "{html}");
    let jwt = file(&app, &page).await;
    let credential = payload(&jwt);
    let id = credential["id"].as_str().expect("id").to_owned();
    assert!(
        id.starts_with(&format!("{PUBLIC_BASE}/attestations/lot/")),
        "{id}"
    );
    assert!(
        html.contains(&id),
        "the page gives the verification link: {html}"
    );
    assert_eq!(credential["issuer"]["name"], "Tenant lot");
    assert_eq!(
        credential["credentialSubject"]["achievement"]["alignment"][0]["targetCode"],
        "1.1"
    );
    assert!(
        !jwt.contains("Martin")
            && !serde_json::to_string(&credential)
                .unwrap()
                .contains("Martin"),
        "no name in clear unless asked: {credential}"
    );

    let (report, accepted) = independent(&app, &jwt, Some("jeanne.martin@example.org")).await;
    assert!(accepted, "{report}");
    assert_eq!(report["schema_errors"], json!([]));
    assert_eq!(report["status"], "active");
    let (report, accepted) = independent(&app, &jwt, Some("someone.else@example.org")).await;
    assert!(!accepted && report["email_matches"] == false, "{report}");

    // The public page says it holds.
    let path = id.trim_start_matches(PUBLIC_BASE);
    let (status, check) = get_text(&app, path).await;
    assert_eq!(status, 200, "{check}");
    assert!(check.contains("Attestation valide"), "{check}");
    assert!(
        check.contains("Compétence numérique 1.1 acquise"),
        "{check}"
    );

    // Any field changed, the signature no longer holds: for the verifier and for the page.
    for change in [
        (|c: &mut Value| c["name"] = json!("Compétence numérique 5.5 acquise")) as fn(&mut Value),
        |c| c["validFrom"] = json!("2020-01-01T00:00:00Z"),
        |c| c["credentialSubject"]["identifier"][0]["identityHash"] = json!("sha256$00"),
        |c| c["issuer"]["name"] = json!("Région imaginaire"),
    ] {
        let forged = tampered(&jwt, change);
        let (report, accepted) = independent(&app, &forged, None).await;
        assert!(!accepted && report["signature"] == false, "{report}");
        let (status, _, html) =
            post_form(&app, "/attestations/lot", &[("attestation", &forged)]).await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("Attestation non valide"), "{html}");
        assert!(
            !html.contains("Région imaginaire") && !html.contains("5.5"),
            "what a forged credential claims is not shown under the territory's name: {html}"
        );
    }
    // What the schema requires is checked, whatever the signature.
    let without_date = tampered(&jwt, |c| {
        c.as_object_mut().expect("object").remove("validFrom");
    });
    let (report, accepted) = independent(&app, &without_date, None).await;
    assert!(
        !accepted
            && report["schema_errors"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
        "{report}"
    );
    let (status, _, html) = post_form(
        &app,
        "/attestations/lot",
        &[("attestation", "pas une attestation")],
    )
    .await;
    assert_eq!(status, 422, "{html}");

    // Only the territory's admin revokes, and only its own territory's.
    let listed = app
        .get(
            &format!("/v1/vouchers/{}/credentials", holder.reference),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.raw);
    let credential_id = listed.body[0]["id"].as_str().expect("id").to_owned();
    assert!(id.ends_with(&credential_id));
    let revocation = format!("/v1/credentials/{credential_id}/revocation");
    let reason = json!({ "reason": "compétence notée par erreur" });
    for role in [Role::Prescriber, Role::Epn, Role::Finance] {
        app.post(&revocation, app.lot.token(role), &reason)
            .await
            .problem(403);
    }
    app.post(&revocation, app.ara.token(Role::TenantAdmin), &reason)
        .await
        .problem(404);
    let revoked = app
        .post(&revocation, app.lot.token(Role::TenantAdmin), &reason)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.raw);
    let again = app
        .post(&revocation, app.lot.token(Role::TenantAdmin), &reason)
        .await;
    assert_eq!(
        again.problem(409)["type"].as_str(),
        Some("/problems/credential-already-revoked")
    );

    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(!accepted && report["signature"] == true, "{report}");
    assert_eq!(report["status"], "revoked");
    let (_, check) = get_text(&app, path).await;
    assert!(check.contains("Attestation révoquée"), "{check}");
    let (_, html) = get_text(&app, &page).await;
    assert!(html.contains("a révoqué cette attestation"), "{html}");
    // A new one for the same achievement is a new credential, valid.
    let renewed = take(&app, &holder, "crcn-1.1-acquired", &email).await;
    assert_ne!(renewed, page);
    let (report, accepted) = independent(&app, &file(&app, &renewed).await, None).await;
    assert!(accepted, "{report}");
}

#[tokio::test]
async fn rotating_the_key_keeps_what_it_signed_valid_and_signs_anew() {
    let app = spawn_app().await;
    let (_, holder) = holder_with_competences(&app).await;
    let pseudonymous = file(
        &app,
        &take(
            &app,
            &holder,
            "crcn-2.1-practised",
            &[("identite", "pseudonyme")],
        )
        .await,
    )
    .await;
    let before = payload(&pseudonymous);
    assert!(
        before["credentialSubject"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("urn:uuid:")),
        "{before}"
    );

    for role in [Role::Prescriber, Role::Epn, Role::Finance] {
        app.post(
            "/v1/credential-keys/rotation",
            app.lot.token(role),
            &json!({}),
        )
        .await
        .problem(403);
    }
    let rotated = app
        .post(
            "/v1/credential-keys/rotation",
            app.lot.token(Role::TenantAdmin),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    let new_kid = rotated.body["kid"].as_str().expect("kid").to_owned();

    let named = file(
        &app,
        &take(&app, &holder, "crcn-1.1-acquired", &[("identite", "nom")]).await,
    )
    .await;
    let header = |jwt: &str| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().expect("header"))
                .expect("base64url"),
        )
        .expect("JSON")
    };
    assert_eq!(header(&named)["kid"], json!(new_kid));
    assert_ne!(header(&pseudonymous)["kid"], json!(new_kid));
    assert_eq!(
        payload(&named)["credentialSubject"]["identifier"][0]["identityHash"],
        "Jeanne Martin"
    );
    for jwt in [&pseudonymous, &named] {
        let (report, accepted) = independent(&app, jwt, None).await;
        assert!(accepted, "{report}");
    }
    let keys = app
        .send(app.request("GET", "/v1/public/issuers/lot/keys", None))
        .await;
    assert_eq!(
        keys.body["keys"].as_array().map(Vec::len),
        Some(2),
        "{}",
        keys.raw
    );
    assert!(
        !keys.raw.contains("\"d\""),
        "never the private part: {}",
        keys.raw
    );
}

#[tokio::test]
async fn a_territory_signs_and_shows_only_its_own_holders_credentials() {
    let app = spawn_app().await;
    let (scheme_id, holder) = holder_with_competences(&app).await;
    let page = take(
        &app,
        &holder,
        "crcn-1.1-acquired",
        &[("identite", "pseudonyme")],
    )
    .await;
    let jwt = file(&app, &page).await;
    let credential = payload(&jwt);
    assert_eq!(
        credential["issuer"]["id"],
        json!(format!("{PUBLIC_BASE}/v1/public/issuers/lot"))
    );
    let id = credential["id"].as_str().expect("id").to_owned();
    let credential_id = id.rsplit('/').next().expect("uuid").to_owned();

    // Ara's key never signed it: its key set does not hold the kid, and Ara's page refuses it.
    let rotated = app
        .post(
            "/v1/credential-keys/rotation",
            app.ara.token(Role::TenantAdmin),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.raw);
    let ara_keys = app
        .send(app.request("GET", "/v1/public/issuers/ara/keys", None))
        .await;
    let lot_kid = jwt.split('.').next().map(|h| {
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json");
        header["kid"].as_str().expect("kid").to_owned()
    });
    let lot_kid = lot_kid.expect("kid");
    assert!(lot_kid.contains("/issuers/lot/keys/"), "{lot_kid}");
    assert!(!ara_keys.raw.contains(lot_kid.rsplit('/').next().unwrap()));
    let (_, _, html) = post_form(&app, "/attestations/ara", &[("attestation", &jwt)]).await;
    assert!(html.contains("Attestation non valide"), "{html}");

    // Its id under another territory's address is no credential there.
    let (status, _) = get_text(&app, &format!("/attestations/ara/{credential_id}")).await;
    assert_eq!(status, 404);

    // Another person of the same territory, with their own code, cannot open it.
    let other = another_holder(&app, &scheme_id).await;
    for path in [
        format!("{}/attestations/{credential_id}", other.space),
        format!("{}/attestations/{credential_id}/fichier", other.space),
    ] {
        let (status, body) = get_text(&app, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    // Nor take an achievement they did not reach, nor forge a key.
    for achievement in ["crcn-5.1-acquired", "parcours-ticket-net", "crcn-1.1"] {
        let (status, _, _) = post_form(
            &app,
            &format!("{}/attestations", other.space),
            &[("attestation", achievement), ("identite", "pseudonyme")],
        )
        .await;
        assert_eq!(status, 404, "{achievement}");
    }
    // A bad email is said in French.
    let (status, _, html) = post_form(
        &app,
        &format!("{}/attestations", other.space),
        &[
            ("attestation", "crcn-1.1-acquired"),
            ("identite", "courriel"),
            ("courriel", "pas-une-adresse"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains("Adresse e-mail à vérifier"), "{html}");

    // Ara's staff cannot list or revoke Lot's.
    app.get(
        &format!("/v1/vouchers/{}/credentials", holder.reference),
        app.ara.token(Role::TenantAdmin),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn all_the_credentials_come_as_a_zip_with_their_verification_links() {
    let app = spawn_app().await;
    let (_, holder) = holder_with_competences(&app).await;
    let reply = browser()
        .post(format!("{}{}/attestations/toutes", app.base, holder.space))
        .form(&[("identite", "pseudonyme")])
        .send()
        .await
        .expect("answer");
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(
        reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/zip")
    );
    let bytes = reply.bytes().await.expect("zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    let mut names: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("a name").into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "LISEZMOI.txt",
            "attestation-crcn-1.1-acquired.jwt",
            "attestation-crcn-2.1-practised.jwt",
        ]
    );
    let mut readme = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("LISEZMOI.txt").expect("readme"),
        &mut readme,
    )
    .expect("text");
    let mut jwt = String::new();
    std::io::Read::read_to_string(
        &mut archive
            .by_name("attestation-crcn-2.1-practised.jwt")
            .expect("file"),
        &mut jwt,
    )
    .expect("text");
    let id = payload(&jwt)["id"].as_str().expect("id").to_owned();
    assert!(readme.contains(&id), "{readme}");
    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(accepted, "{report}");
}

#[tokio::test]
async fn erasing_the_person_forgets_what_was_signed_and_their_copy_still_verifies() {
    let app = spawn_app().await;
    let (_, holder) = holder_with_competences(&app).await;
    let page = take(&app, &holder, "crcn-1.1-acquired", &[("identite", "nom")]).await;
    let jwt = file(&app, &page).await;
    let id = payload(&jwt)["id"].as_str().expect("id").to_owned();
    let path = id.trim_start_matches(PUBLIC_BASE).to_owned();
    let admin = app.lot.token(Role::TenantAdmin);
    let voucher = app
        .get(&format!("/v1/vouchers/{}", holder.reference), admin)
        .await;
    let beneficiary_id = voucher.body["beneficiary_id"]
        .as_str()
        .expect("beneficiary id")
        .to_owned();
    let stored = || async {
        let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
        let kept: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM credentials WHERE tenant_id = $1 AND (compact_jws IS NOT NULL OR subject_digest IS NOT NULL)",
        )
        .bind(app.lot.id)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
        tx.commit().await.expect("commit");
        kept
    };
    assert_eq!(stored().await, 1);

    let erased = app
        .post(
            &format!("/v1/beneficiaries/{beneficiary_id}/erase"),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.raw);
    assert_eq!(stored().await, 0, "what named the person is forgotten");
    let (status, html) = get_text(&app, &path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("contenu est effacé"), "{html}");
    assert!(!html.contains("Martin"), "{html}");
    // The copy the person holds still verifies, with the page and independently.
    let (_, _, html) = post_form(&app, "/attestations/lot", &[("attestation", &jwt)]).await;
    assert!(html.contains("Attestation valide"), "{html}");
    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(accepted, "{report}");
}

#[tokio::test]
async fn a_completed_voucher_is_a_credential_and_achievements_describe_themselves() {
    let app = spawn_app().await;
    let (scheme_id, reference) = scheme_with_voucher(&app).await;
    let holder = attended(&app, &scheme_id, reference.clone()).await;
    let (_, space) = get_text(&app, &holder.space).await;
    assert!(
        !space.contains("value=\"parcours-"),
        "nothing completed yet: {space}"
    );
    // Nine more sessions of two hours: the twenty hours are used.
    let epn = app.lot.token(Role::Epn);
    for module in [1, 2, 4, 5, 6, 7, 8, 9, 10] {
        let session = app
            .post(
                "/v1/sessions",
                epn,
                &json!({ "scheme_id": scheme_id, "module_number": module,
                         "starts_at": chrono::Utc::now(), "capacity": 8 }),
            )
            .await;
        assert_eq!(session.status, 201, "{}", session.raw);
        let sheet = app
            .post(
                &format!(
                    "/v1/sessions/{}/attendance",
                    session.body["id"].as_str().expect("id")
                ),
                epn,
                &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
            )
            .await;
        assert_eq!(sheet.status, 200, "{}", sheet.raw);
    }
    let voucher = app
        .get(
            &format!("/v1/vouchers/{reference}"),
            app.lot.token(Role::TenantAdmin),
        )
        .await;
    assert_eq!(voucher.body["status"], "completed", "{}", voucher.raw);
    let (_, space) = get_text(&app, &holder.space).await;
    let key = space
        .split("value=\"")
        .find_map(|rest| {
            rest.split('"')
                .next()
                .filter(|k| k.starts_with("parcours-"))
        })
        .unwrap_or_else(|| panic!("a completed journey is offered: {space}"))
        .to_owned();
    let jwt = file(
        &app,
        &take(&app, &holder, &key, &[("identite", "pseudonyme")]).await,
    )
    .await;
    let credential = payload(&jwt);
    let achievement = &credential["credentialSubject"]["achievement"];
    assert_eq!(achievement["achievementType"], "LearningProgram");
    assert_eq!(
        achievement["name"], "Parcours Ticket Net terminé",
        "{achievement}"
    );
    assert_eq!(credential["evidence"].as_array().map(Vec::len), Some(10));
    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(accepted, "{report}");

    // An achievement's id and the issuer's id are addresses that describe them.
    let described = app
        .send(
            app.request(
                "GET",
                achievement["id"]
                    .as_str()
                    .expect("id")
                    .trim_start_matches(PUBLIC_BASE),
                None,
            ),
        )
        .await;
    assert_eq!(described.status, 200, "{}", described.raw);
    assert_eq!(described.body["name"], achievement["name"]);
    let competence = app
        .send(app.request(
            "GET",
            "/v1/public/issuers/lot/achievements/crcn-1.1-acquired",
            None,
        ))
        .await;
    assert_eq!(
        competence.body["alignment"][0]["targetCode"], "1.1",
        "{}",
        competence.raw
    );
    for unknown in [
        "/v1/public/issuers/lot/achievements/crcn-9.9-acquired",
        "/v1/public/issuers/lot/achievements/parcours-inconnu",
        "/v1/public/issuers/nulle-part/achievements/crcn-1.1-acquired",
        "/v1/public/issuers/nulle-part",
    ] {
        app.send(app.request("GET", unknown, None))
            .await
            .problem(404);
    }
    let issuer = app
        .send(app.request("GET", "/v1/public/issuers/lot", None))
        .await;
    assert_eq!(
        issuer.body["id"], credential["issuer"]["id"],
        "{}",
        issuer.raw
    );
}

#[tokio::test]
async fn the_territorys_admin_revokes_a_credential_from_the_vouchers_page() {
    let app = spawn_app().await;
    let (_, holder) = holder_with_competences(&app).await;
    let page = take(
        &app,
        &holder,
        "crcn-2.1-practised",
        &[("identite", "pseudonyme")],
    )
    .await;
    let jwt = file(&app, &page).await;
    let credential_id = payload(&jwt)["id"]
        .as_str()
        .and_then(|id| id.rsplit('/').next())
        .expect("id")
        .to_owned();
    let voucher_page = format!("/portail/lot/cheques/{}", holder.reference);
    let revoke = format!("{voucher_page}/attestations/{credential_id}/revoquer");

    // A prescriber sees the voucher, not its credentials, and cannot revoke one.
    let email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let seen = prescriber.get(&voucher_page).await;
    assert_eq!(seen.status, 200, "{}", seen.html);
    assert!(
        !seen.html.contains("Attestations délivrées"),
        "{}",
        seen.html
    );
    let refused = prescriber.submit(&revoke, &[("reason", "essai")]).await;
    assert_eq!(refused.status, 403, "{}", refused.html);

    let email = with_password(&app, Role::TenantAdmin).await;
    let admin = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let seen = admin.get(&voucher_page).await;
    assert!(
        seen.html.contains("Attestations délivrées"),
        "{}",
        seen.html
    );
    assert!(
        seen.html.contains("Compétence numérique 2.1 pratiquée"),
        "{}",
        seen.html
    );
    // Without the session's form token, nothing happens.
    let forged = admin.send_form(&revoke, &[("reason", "sans jeton")]).await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(accepted, "{report}");

    let done = admin
        .submit(&revoke, &[("reason", "compétence notée à tort")])
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let seen = admin
        .get(&format!("{voucher_page}?attestation=revoquee"))
        .await;
    assert!(
        seen.html.contains("L’attestation est révoquée"),
        "{}",
        seen.html
    );
    assert!(
        seen.html.contains("compétence notée à tort"),
        "{}",
        seen.html
    );
    let (report, accepted) = independent(&app, &jwt, None).await;
    assert!(!accepted && report["status"] == "revoked", "{report}");
    let again = admin.submit(&revoke, &[("reason", "encore")]).await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(again.html.contains("déjà été révoquée"), "{}", again.html);
}
