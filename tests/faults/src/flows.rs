//! The requests of a day of the Lot's Ticket Net, as the demo tenant's prescriber and EPN make
//! them: issue a voucher, register it at the EPN, plan a session, tick attendance.

use serde_json::{Value, json};

use crate::client::{Client, Reply};

pub const ADMIN: &str = "TENANT_ADMIN_LOT";
pub const PRESCRIBER: &str = "PRESCRIBER_LOT";
pub const EPN: &str = "EPN_LOT";

/// The Lot's active scheme (the demo seeds one).
pub async fn scheme_id(client: &Client) -> String {
    let page = client.expect_get("/v1/schemes", ADMIN).await;
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|s| s["status"] == "active"))
        .and_then(|s| s["id"].as_str())
        .expect("an active demo scheme")
        .to_owned()
}

/// The body of an issuance for a new holder; `email` gets the welcome email.
pub fn issuance(scheme_id: &str, n: usize, email: Option<&str>) -> Value {
    let mut beneficiary = json!({
        "first_name": format!("Camille{n}"),
        "last_name": "Delmas",
        "birth_year": 1950 + (n % 50),
        "commune_insee": "46042",
        "public_category": "senior",
    });
    if let Some(email) = email {
        beneficiary["email"] = json!(email);
        beneficiary["email_consent"] = json!(true);
    }
    json!({ "scheme_id": scheme_id, "beneficiary": beneficiary })
}

/// The body of an EPN registration after the positioning interview.
pub fn registration(reference: &str) -> Value {
    json!({
        "reference": reference,
        "last_name": "Delmas",
        "interview": { "on": passerelle_test_support::paris_today(), "minutes": 30, "autonomy_level": "beginner", "needs": "Démarches en ligne" },
        "modules": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    })
}

/// Issues a voucher and registers it at the EPN; returns its reference.
pub async fn registered_voucher(client: &Client, scheme_id: &str, n: usize) -> String {
    let issued = client
        .expect(
            "/v1/vouchers",
            PRESCRIBER,
            &issuance(scheme_id, n, None),
            201,
        )
        .await;
    let reference = issued["voucher"]["reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    client
        .expect("/v1/registrations", EPN, &registration(&reference), 201)
        .await;
    reference
}

/// Plans a session of module 1 at the EPN (120 minutes by the scheme's rule); returns its id.
pub async fn session(client: &Client, scheme_id: &str, capacity: u32) -> String {
    let created = client
        .expect(
            "/v1/sessions",
            EPN,
            &json!({ "scheme_id": scheme_id, "module_number": 1, "starts_at": chrono::Utc::now(), "capacity": capacity }),
            201,
        )
        .await;
    created["id"].as_str().expect("session id").to_owned()
}

pub async fn enrol(client: &Client, session_id: &str, reference: &str) {
    client
        .expect(
            &format!("/v1/sessions/{session_id}/enrolments"),
            EPN,
            &json!({ "reference": reference }),
            200,
        )
        .await;
}

/// Ticks one holder present on a session's sheet.
pub async fn attend(
    client: &Client,
    session_id: &str,
    reference: &str,
) -> Result<Reply, reqwest::Error> {
    client
        .post(
            &format!("/v1/sessions/{session_id}/attendance"),
            EPN,
            &json!({ "entries": [{ "reference": reference, "status": "present" }] }),
        )
        .await
}

/// Sets the demo prescriber's allocation for the scheme so that exactly `more` vouchers may still
/// be issued; returns the allocation as the API shows it.
pub async fn allow_issuance(client: &Client, scheme_id: &str, more: i64) -> Value {
    let me = client.expect_get("/v1/me", PRESCRIBER).await;
    let prescriber_id = me["prescriber_id"].as_str().expect("prescriber").to_owned();
    let path = format!("/v1/prescribers/{prescriber_id}/allocations");
    let allocations = client.expect_get(&path, ADMIN).await;
    let allocation = allocations
        .as_array()
        .and_then(|all| all.iter().find(|a| a["scheme_id"] == scheme_id))
        .expect("the demo prescriber's allocation")
        .clone();
    let issued = allocation["issued"].as_i64().expect("issued");
    client
        .expect(
            &format!("{path}/{}/quantity", allocation["id"].as_str().expect("id")),
            ADMIN,
            &json!({ "quantity": issued + more }),
            200,
        )
        .await
}
