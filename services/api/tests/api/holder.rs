//! The holder's own space, as the holder reaches it: from the code printed on their letter, with
//! no account and no staff, across every voucher they were given; revoked and renewed by them.

use passerelle_core::tenancy::Role;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::web::{PASSWORD, SignedIn, with_password};

fn person() -> Value {
    json!({ "first_name": "Odette", "last_name": "Lacoste", "birth_year": 1949,
            "commune_insee": "46102", "public_category": "senior" })
}

/// The text between `start` and the next `<`.
fn after<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    html[from..].split('<').next().expect("text")
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let reply = app.send(app.request("GET", path, None)).await;
    (reply.status, reply.raw)
}

/// A form posted by a browser that shows redirects instead of following them.
async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let reply = client
        .post(format!("{}{path}", app.base))
        .form(form)
        .send()
        .await
        .expect("answer");
    let status = reply.status().as_u16();
    let location = reply
        .headers()
        .get("location")
        .map(|l| l.to_str().expect("ascii").to_owned());
    (status, location, reply.text().await.expect("body"))
}

#[tokio::test]
async fn the_letter_opens_the_persons_own_space_across_all_their_vouchers() {
    let app = spawn_app().await;
    let scheme_id = app.active_ticket_net_in_lot(5).await;
    let agent = app.lot.token(Role::Prescriber);
    let first = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary": person() }),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.raw);
    let beneficiary_id = first.body["voucher"]["beneficiary_id"].clone();
    let second = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary_id": beneficiary_id }),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.raw);
    let references: Vec<String> = [&first, &second]
        .iter()
        .map(|r| {
            r.body["voucher"]["reference"]
                .as_str()
                .expect("ref")
                .to_owned()
        })
        .collect();

    // The letter carries a QR code and the code to type; printed again, the same ones; the
    // person's other voucher's letter too: the space is the person's.
    let email = with_password(&app, Role::Prescriber).await;
    let prescriber = SignedIn::new(&app, "lot", &email, PASSWORD).await;
    let letter = prescriber
        .get(&format!("/portail/lot/cheques/{}/courrier", references[0]))
        .await;
    assert_eq!(letter.status, 200, "{}", letter.html);
    assert!(
        letter
            .html
            .contains("<svg role=\"img\" aria-label=\"Code QR"),
        "{}",
        letter.html
    );
    assert!(letter.html.contains("/p/lot</strong>"), "{}", letter.html);
    let code = after(&letter.html, "<p class=\"code fr-mb-1v\">").to_owned();
    assert_eq!(code.len(), 19, "{code}");
    let again = prescriber
        .get(&format!("/portail/lot/cheques/{}/courrier", references[1]))
        .await;
    assert_eq!(after(&again.html, "<p class=\"code fr-mb-1v\">"), code);

    // Typed from paper, in lower case and without dashes, it leads to the page.
    let typed = code.to_lowercase().replace('-', " ");
    let (status, location, _) = post_form(&app, "/p/lot", &[("code", &typed)]).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(&*format!("/p/lot/{code}")))
    );
    let (status, _, html) = post_form(&app, "/p/lot", &[("code", "K7M2-QX9D")]).await;
    assert_eq!(status, 422);
    assert!(html.contains("Ce code n’est pas complet"), "{html}");

    let (status, page) = get(&app, &format!("/p/lot/{code}")).await;
    assert_eq!(status, 200, "{page}");
    for expected in [
        "Mon espace personnel",
        "Odette, voici",
        &references[0],
        &references[1],
        "Gratuit pour vous",
        "Temps restant : <strong>20 heures</strong>",
        "Changer mon code",
        "Désactiver mon lien",
    ] {
        assert!(page.contains(expected), "the page lacks {expected}: {page}");
    }
    assert!(
        !page.contains("Lacoste"),
        "the page never shows the last name"
    );
    let data = app
        .send(app.request("GET", &format!("/p/lot/{code}/donnees"), None))
        .await;
    assert_eq!(data.status, 200, "{}", data.raw);
    assert_eq!(data.body["vouchers"].as_array().map(Vec::len), Some(2));
    assert_eq!(data.body["first_name"], "Odette");
    let (status, print) = get(&app, &format!("/p/lot/{code}/imprimer")).await;
    assert_eq!(status, 200);
    assert!(print.contains("Portfolio numérique de Odette"), "{print}");

    // The same code in another territory, or one character off, opens nothing.
    let (status, other) = get(&app, &format!("/p/ara/{code}")).await;
    assert_eq!(status, 404);
    assert!(other.contains("Ce lien ne fonctionne pas"), "{other}");
    let last = code.chars().last().expect("char");
    let off = format!("{}{}", &code[..18], if last == '0' { '1' } else { '0' });
    assert_eq!(get(&app, &format!("/p/lot/{off}")).await.0, 404);
    assert_eq!(get(&app, "/p/nowhere/ABCD-EFGH-JKMN-PQRS").await.0, 404);
    assert_eq!(get(&app, "/p/nowhere").await.0, 404);
    // A forged, oversized code is refused like a wrong one.
    assert_eq!(
        get(&app, &format!("/p/lot/{}", "A".repeat(4000))).await.0,
        404
    );
    let (status, _, _) = post_form(&app, "/p/lot", &[("code", &"A".repeat(4000))]).await;
    assert!(status == 400 || status == 422, "{status}");

    // The holder renews it from the page: the new code works, the letter's no longer does.
    let (status, _, renewed) = post_form(&app, &format!("/p/lot/{code}/renouveler"), &[]).await;
    assert_eq!(status, 200, "{renewed}");
    assert!(renewed.contains("<svg role=\"img\""), "{renewed}");
    let new_code = after(&renewed, "<p class=\"code-ecran fr-mb-2w\">").to_owned();
    assert_ne!(new_code, code);
    assert_eq!(get(&app, &format!("/p/lot/{code}")).await.0, 404);
    assert_eq!(get(&app, &format!("/p/lot/{new_code}")).await.0, 200);

    // Then revokes it: nothing opens; a letter printed again brings a new code that works.
    let (status, _, revoked) = post_form(&app, &format!("/p/lot/{new_code}/desactiver"), &[]).await;
    assert_eq!(status, 200);
    assert!(revoked.contains("Votre lien est désactivé"), "{revoked}");
    assert_eq!(get(&app, &format!("/p/lot/{new_code}")).await.0, 404);
    let (status, _, _) = post_form(&app, &format!("/p/lot/{new_code}/renouveler"), &[]).await;
    assert_eq!(status, 404, "a revoked code cannot renew itself");
    let reprinted = prescriber
        .get(&format!("/portail/lot/cheques/{}/courrier", references[0]))
        .await;
    let third = after(&reprinted.html, "<p class=\"code fr-mb-1v\">").to_owned();
    assert!(third != code && third != new_code);
    assert_eq!(get(&app, &format!("/p/lot/{third}")).await.0, 200);

    // Erasing the person stops their link; the letter then has none.
    let erased = app
        .post(
            &format!(
                "/v1/beneficiaries/{}/erase",
                beneficiary_id.as_str().expect("id")
            ),
            app.lot.token(Role::TenantAdmin),
            &json!({}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.raw);
    assert_eq!(get(&app, &format!("/p/lot/{third}")).await.0, 404);
    let after_erasure = prescriber
        .get(&format!("/portail/lot/cheques/{}/courrier", references[0]))
        .await;
    assert!(!after_erasure.html.contains("Votre espace personnel"));
}

/// A link made before codes (`pf_…`) keeps opening the person's space, now across all their
/// vouchers.
#[tokio::test]
async fn a_link_made_before_codes_opens_the_same_space() {
    use sha2::Digest;
    let app = spawn_app().await;
    let scheme_id = app.active_ticket_net_in_lot(2).await;
    let agent = app.lot.token(Role::Prescriber);
    let issued = app
        .post(
            "/v1/vouchers",
            agent,
            &json!({ "scheme_id": scheme_id, "beneficiary": person() }),
        )
        .await;
    let beneficiary_id: uuid::Uuid = issued.body["voucher"]["beneficiary_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let token = format!("pf_{}_legacy-secret-of-the-old-kind", app.lot.id.simple());
    let mut tx = app.db.app.begin_tenant(app.lot.id).await.expect("tx");
    sqlx::query(
        "INSERT INTO portfolio_links (tenant_id, id, beneficiary_id, token_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(app.lot.id)
    .bind(uuid::Uuid::now_v7())
    .bind(beneficiary_id)
    .bind(sha2::Sha256::digest(token.as_bytes()).to_vec())
    .execute(&mut *tx)
    .await
    .expect("old link");
    tx.commit().await.expect("commit");

    let (status, page) = get(&app, &format!("/v1/public/portfolio/{token}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Odette, voici"), "{page}");
    assert!(
        !page.contains("Désactiver mon lien"),
        "no code to revoke on an old link"
    );
    let data = app
        .send(app.request("GET", &format!("/v1/public/portfolio/{token}/data"), None))
        .await;
    assert_eq!(
        data.body["vouchers"].as_array().map(Vec::len),
        Some(1),
        "{}",
        data.raw
    );
    // An old token is not a code, and a code's page does not take an old token.
    assert_eq!(get(&app, &format!("/p/lot/{token}")).await.0, 404);
}
