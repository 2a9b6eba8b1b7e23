//! Every operation × every role: roles not allowed get 403, allowed ones are let through,
//! nobody gets in without a token; and the access table covers the whole OpenAPI document.

use std::collections::BTreeSet;

use passerelle_api::access;
use passerelle_core::tenancy::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::spawn_app;

/// A valid body for each operation that takes one, so that a refusal can only come from access
/// control, not from parsing.
pub fn sample_rules() -> Value {
    json!({ "face_value_cents": 20000, "voucher_minutes": 1200, "session_minutes": 120,
            "validity": { "kind": "months_after_issue", "months": 12 }, "interview_minutes": 30,
            "interview_required": true, "modules_to_choose": 10,
            "delivery_modes": { "individual_vouchers": true }, "participation_fee_cap_cents": 1000,
            "eligible_categories": ["senior"], "reminder_days": [60, 30, 7], "hourly_rate_cents": 1000,
            "interview_fee_cents": 0 })
}

pub fn sample_body(operation_id: &str) -> Option<Value> {
    let person = json!({ "first_name": "Jeanne", "last_name": format!("Martin{}", Uuid::new_v4().simple()),
                         "birth_year": 1957, "commune_insee": "46102", "public_category": "senior" });
    match operation_id {
        "createScheme" => Some(
            json!({ "code": format!("s-{}", &Uuid::new_v4().simple().to_string()[..8]), "name": "Ticket Net", "preset": "ticket-net" }),
        ),
        "changeSchemeRules" => {
            Some(json!({ "effective_from": "2099-01-01", "rules": sample_rules() }))
        }
        "setSchemeStatus" => Some(json!({ "status": "active" })),
        "setPublicRequestFunding" => Some(json!({ "prescriber_id": null })),
        "replaceSchemeModules" => Some(
            json!({ "modules": [{ "number": 1, "title": "Médias", "family": "Kit", "description": "S’informer." }] }),
        ),
        "createPrescriber" => Some(json!({ "name": "CCAS de Figeac", "kind": "ccas" })),
        "createFunder" => Some(
            json!({ "name": format!("FSE+ {}", Uuid::new_v4().simple()), "kind": "european_fund" }),
        ),
        "changeSchemeFunding" => Some(json!({ "effective_from": "2099-01-01", "lines": [] })),
        "setUserFunder" => Some(json!({ "funder_id": null })),
        "createAllocation" => Some(
            json!({ "scheme_id": Uuid::now_v7(), "period_start": "2027-01-01", "period_end": "2027-12-31", "quantity": 10 }),
        ),
        "setAllocationQuantity" => Some(json!({ "quantity": 5 })),
        "createBeneficiary" => Some(person),
        "issueVoucher" => Some(json!({ "scheme_id": Uuid::now_v7(), "beneficiary": person })),
        "cancelVoucher" => Some(json!({ "reason": "erreur" })),
        "revokeCredential" => Some(json!({ "reason": "notée par erreur" })),
        "createEpn" => Some(json!({ "nom": "EPN de Gramat" })),
        "setEpnBankDetails" => {
            Some(json!({ "iban": "FR7630006000011234567890189", "account_holder": "Commune" }))
        }
        "setEpnOffer" => Some(json!({ "scheme_id": Uuid::now_v7(), "modules": [] })),
        "registerVoucher" => Some(
            json!({ "reference": "LOT-2345-6789-A", "last_name": "Martin", "interview": {}, "modules": [] }),
        ),
        "changeVoucherModules" => Some(json!({ "modules": [1] })),
        "moveVoucher" => Some(json!({ "epn_id": Uuid::now_v7(), "reason": "déménagement" })),
        "createSession" => Some(
            json!({ "scheme_id": Uuid::now_v7(), "starts_at": "2027-03-01T09:00:00Z", "capacity": 10 }),
        ),
        "enrolInSession" => Some(json!({ "reference": "LOT-2345-6789-A" })),
        "setSessionStatus" => Some(json!({ "status": "held" })),
        "recordAttendance" => {
            Some(json!({ "entries": [{ "reference": "LOT-2345-6789-A", "status": "present" }] }))
        }
        "voidAttendance" => Some(json!({ "reason": "erreur" })),
        "requestAccompaniment" => Some(
            json!({ "scheme_id": Uuid::now_v7(), "epn_id": Uuid::now_v7(), "beneficiary": person }),
        ),
        "acceptAccompaniment" => Some(json!({})),
        "declineAccompaniment" => Some(json!({ "reason": "complet" })),
        "submitProject" => Some(
            json!({ "scheme_id": Uuid::now_v7(), "epn_id": Uuid::now_v7(), "title": "Carnet de voyage",
                                        "aim": "Raconter le voyage", "planned_sessions": 3, "planned_minutes": 360,
                                        "members": [{ "person": person }] }),
        ),
        "rejectProject" => Some(json!({ "reason": "hors dispositif" })),
        "recordOrientation" => Some(json!({ "kind": "pix" })),
        "rejectBankChange" => Some(json!({ "reason": "RIB illisible" })),
        "recordProjectAttendance" => Some(json!({ "session_id": Uuid::now_v7() })),
        "createTenant" => Some(
            json!({ "slug": format!("t-{}", &Uuid::new_v4().simple().to_string()[..8]), "name": "Tenant",
                                       "kind": "departement", "insee_code": "19", "sender_name": "T", "sender_email": "t@t.example" }),
        ),
        "updateEpn" => Some(json!({ "telephone": "05 65 00 00 00" })),
        "renameScheme" => Some(json!({ "name": "Ticket Net 2027" })),
        "updateUser" => Some(json!({ "display_name": "Nom corrigé" })),
        "updatePrescriber" => Some(json!({ "contact_email": "contact@caf46.example" })),
        "setIdentityProvider" => Some(
            json!({ "label": "ProConnect", "issuer": "https://auth.example.fr",
                                              "client_id": "c", "client_secret": "s", "email_domains": [] }),
        ),
        "setSecondFactorPolicy" => Some(json!({ "every_role": false })),
        "updateBranding" => Some(json!({ "display_name": "Lot numérique" })),
        "inviteTenantAdmin" => Some(
            json!({ "email": format!("{}@cantal.example", Uuid::new_v4().simple()), "display_name": "Admin" }),
        ),
        "createUser" => Some(
            json!({ "email": format!("{}@lot.example", Uuid::new_v4().simple()), "display_name": "U", "role": "funder" }),
        ),
        "createToken" => Some(json!({ "name": "access test" })),
        "requestStatisticsExport" => {
            Some(json!({ "scheme_id": Uuid::now_v7(), "period": "2026-10" }))
        }
        "setStatisticsThreshold" => Some(json!({ "threshold": 5 })),
        "setRetention" => Some(json!({ "years": 3 })),
        "markStatementPaid" => Some(json!({ "paid_on": "2026-10-15", "bank_reference": "VIR-1" })),
        "setTreasuryAccount" => Some(
            json!({ "iban": "FR14 2004 1010 0505 0001 3M02 606", "account_holder": "Département" }),
        ),
        _ => None,
    }
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment == "{kind}" {
                "welcome".to_owned()
            } else if segment == "{month}" {
                "2026-09".to_owned()
            } else if segment.starts_with('{') {
                Uuid::now_v7().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_operation_refuses_every_role_it_does_not_declare() {
    let app = spawn_app().await;
    for operation in access::ALL.iter().filter(|op| !op.public) {
        let path = concrete(operation.path);
        let request = |token: Option<&str>| {
            let builder = app.request(operation.method, &path, token);
            if operation.id == "importEpns" {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(b"id,nom,source\n".to_vec())
                        .file_name("lieux.csv"),
                );
                return builder.multipart(form);
            }
            if operation.id == "setLogo" {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::bytes(
                        br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#.to_vec(),
                    )
                    .file_name("logo.svg"),
                );
                return builder.multipart(form);
            }
            if operation.id == "bulkIssueVouchers" {
                let form = reqwest::multipart::Form::new()
                    .text("scheme_id", Uuid::now_v7().to_string())
                    .part(
                        "file",
                        reqwest::multipart::Part::bytes(
                            b"Prenom;Nom;Annee de naissance;Code INSEE;Categorie\n".to_vec(),
                        )
                        .file_name("liste.csv"),
                    );
                return builder.multipart(form);
            }
            match sample_body(operation.id) {
                Some(body) => builder.json(&body),
                None if operation.method == "POST" => builder.json(&json!({})),
                None => builder,
            }
        };

        let anonymous = app.send(request(None)).await;
        assert_eq!(
            anonymous.status, 401,
            "{} without a token: {}",
            operation.id, anonymous.raw
        );

        for role in Role::ALL {
            let reply = app.send(request(Some(app.token_for(role)))).await;
            if operation.roles.contains(&role) {
                assert!(
                    ![401, 403].contains(&reply.status),
                    "{} refused {role}, which it declares: {} {}",
                    operation.id,
                    reply.status,
                    reply.raw
                );
                assert_ne!(
                    reply.status, 400,
                    "{} as {role}: sample body or path rejected: {}",
                    operation.id, reply.raw
                );
                assert!(
                    reply.status < 500,
                    "{} as {role} failed: {} {}",
                    operation.id,
                    reply.status,
                    reply.raw
                );
            } else {
                // 403 and nothing else: a 404 would mean the handler looked the object up
                // before it checked the role, and told this role what exists.
                assert_eq!(
                    reply.status, 403,
                    "{} let {role} through: {} {}",
                    operation.id, reply.status, reply.raw
                );
                reply.problem(reply.status);
            }
        }
    }
}

#[tokio::test]
async fn the_access_table_matches_the_openapi_document() {
    let spec: Value = serde_json::from_str(&passerelle_api::openapi_json()).expect("spec");
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            documented.insert((
                method.to_uppercase(),
                path.clone(),
                op["operationId"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    let declared: BTreeSet<_> = access::ALL
        .iter()
        .map(|op| (op.method.to_owned(), op.path.to_owned(), op.id.to_owned()))
        .collect();
    assert_eq!(
        documented, declared,
        "access::ALL and the OpenAPI operations differ"
    );
}
