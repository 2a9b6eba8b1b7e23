//! Imports in the background, tried the way an attacker would: another tenant, another role,
//! another prescriber organisation, an upload larger than allowed (declared or not), a file that is
//! not the format, a form without its token. Each time nothing is stored and nothing leaks.

use futures::stream;
use passerelle_core::tenancy::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};
use crate::web_pages::signed_in;

const SAMPLE: &[u8] = include_bytes!("../../../../infra/data/lieux-mediation-numerique-lot.csv");

fn file_form(bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("lieux.csv"),
    )
}

/// Imports stored in a tenant, whatever their state (a chunk of a file belongs to an import).
async fn stored_imports(app: &TestApp, tenant_id: Uuid) -> i64 {
    let mut tx = app.db.app.begin_tenant(tenant_id).await.expect("tx");
    let n = sqlx::query_scalar("SELECT count(*) FROM imports")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    n
}

#[tokio::test]
async fn an_import_is_seen_by_its_tenant_admin_only() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);
    let accepted = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .multipart(file_form(SAMPLE.to_vec())),
        )
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.raw);
    let location = accepted.header("location").expect("Location").to_owned();
    assert_eq!(accepted.body["location"], location.as_str());
    app.finished_import(&location, admin).await;

    // Another tenant's admin: as if it did not exist.
    for path in [location.clone(), format!("{location}/lines")] {
        app.get(&path, app.ara.token(Role::TenantAdmin))
            .await
            .problem(404);
        // A prescriber agent of the same tenant: not theirs (an import of places).
        app.get(&path, app.lot.token(Role::Prescriber))
            .await
            .problem(404);
        for role in [Role::Epn, Role::Finance, Role::Funder] {
            app.get(&path, app.lot.token(role)).await.problem(403);
        }
    }
    // Only a tenant admin imports places.
    let before = stored_imports(&app, app.lot.id).await;
    for role in [Role::Prescriber, Role::Epn, Role::Finance] {
        let refused = app
            .send(
                app.request("POST", "/v1/epns/import", Some(app.lot.token(role)))
                    .multipart(file_form(SAMPLE.to_vec())),
            )
            .await;
        refused.problem(403);
    }
    assert_eq!(stored_imports(&app, app.lot.id).await, before);
}

#[tokio::test]
async fn a_wrong_or_oversized_file_is_refused_and_nothing_is_kept() {
    let app = spawn_app().await;
    let admin = app.lot.token(Role::TenantAdmin);

    let wrong = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .multipart(file_form(b"nom;ville\nA;B\n".to_vec())),
        )
        .await;
    wrong.problem(422);
    assert_eq!(wrong.error_fields(), ["file"], "{}", wrong.raw);

    // Declared larger than the limit: refused before a byte is read.
    let declared = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .header("content-type", "multipart/form-data; boundary=x")
                .header("content-length", (60 * 1024 * 1024).to_string())
                .body(""),
        )
        .await;
    declared.problem(413);

    // Not declared (chunked): cut once past the limit, while it streams.
    let chunk = vec![b'a'; 1024 * 1024];
    let head = "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lieux.csv\"\r\n\r\nid;nom\r\n";
    let body = stream::iter(
        std::iter::once(Ok::<_, std::io::Error>(head.as_bytes().to_vec()))
            .chain((0..52).map(move |_| Ok(chunk.clone()))),
    );
    let chunked = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .header("content-type", "multipart/form-data; boundary=x")
                .body(reqwest::Body::wrap_stream(body)),
        )
        .await;
    assert!(
        (400..500).contains(&chunked.status),
        "{} {}",
        chunked.status,
        chunked.raw
    );
    assert_eq!(
        stored_imports(&app, app.lot.id).await,
        0,
        "nothing kept of a refused upload"
    );

    // Just under the limit: accepted (a national file of places is tens of megabytes).
    let mut big = b"id;nom;presentation_detail\n".to_vec();
    let detail = "x".repeat(1000);
    let mut i = 0;
    while big.len() < 20 * 1024 * 1024 {
        big.extend_from_slice(format!("lieu-{i};Lieu {i};{detail}\n").as_bytes());
        i += 1;
    }
    let accepted = app
        .send(
            app.request("POST", "/v1/epns/import", Some(admin))
                .multipart(file_form(big.clone())),
        )
        .await;
    assert_eq!(accepted.status, 202, "{}", accepted.raw);
    assert_eq!(accepted.body["byte_size"], json!(big.len()));
}

#[tokio::test]
async fn the_portal_stores_no_file_without_the_forms_token() {
    let app = spawn_app().await;
    let browser = signed_in(&app, Role::TenantAdmin).await;
    let send = |token: &str| {
        browser
            .browser
            .http
            .post(format!("{}/portail/lot/epns/import", app.base))
            .header("cookie", &browser.cookie)
            .header("origin", &app.base)
            .multipart(
                reqwest::multipart::Form::new()
                    .text("csrf_token", token.to_owned())
                    .part(
                        "fichier",
                        reqwest::multipart::Part::bytes(SAMPLE.to_vec()).file_name("lieux.csv"),
                    ),
            )
            .send()
    };
    let forged = send("not-the-token").await.expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(stored_imports(&app, app.lot.id).await, 0);
    let sent = send(&browser.token).await.expect("post");
    assert_eq!(sent.status(), 303);
    assert_eq!(stored_imports(&app, app.lot.id).await, 1);

    // A prescriber cannot open the tenant admin's import page.
    let location = sent.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let prescriber = signed_in(&app, Role::Prescriber).await;
    assert_eq!(prescriber.get(&location).await.status, 403);
    let voucher_path = location.replace("/epns/imports/", "/cheques/imports/");
    assert_eq!(
        prescriber.get(&voucher_path).await.status,
        404,
        "not a voucher import"
    );
}
