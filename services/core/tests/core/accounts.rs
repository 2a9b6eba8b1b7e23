//! Browser accounts: passwords, sign-in, the lock after repeated failures, sessions and their
//! tenant.

use passerelle_core::audit::Actor;
use passerelle_core::tenancy::accounts::{self, SignIn, WebSession};
use passerelle_core::tenancy::tenants::{Tenant, TenantKind};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_core::tenancy::{Principal, Role};
use passerelle_core::{Db, Error};
use passerelle_test_support::{TestDatabase, create_tenant};
use uuid::Uuid;

const PASSWORD: &str = "cheval-agrafe-batterie";

async fn finance_officer(db: &Db, tenant: &Tenant) -> Uuid {
    let user = users::create(
        db,
        tenant.id,
        &NewUser {
            email: format!("Compta@{}.example", tenant.slug),
            display_name: "Agnès Comptable".into(),
            role: Role::Finance,
            prescriber_id: None,
            epn_id: None,
        },
    )
    .await
    .expect("user");
    accounts::set_password(db, tenant.id, Actor::SYSTEM, user.id, PASSWORD)
        .await
        .expect("password");
    user.id
}

fn opened(outcome: SignIn) -> WebSession {
    match outcome {
        SignIn::Opened(session) => session,
        other => panic!("expected a session, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_signs_in_is_recognised_by_the_cookie_and_signs_out() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let user_id = finance_officer(&db.app, &lot).await;

    // The address is matched whatever its case and surrounding spaces.
    let session = opened(
        accounts::sign_in(&db.app, lot.id, " compta@LOT.example ", PASSWORD)
            .await
            .expect("sign in"),
    );
    assert!(session.cookie.starts_with(&format!("pws_{}_", lot.id)));
    let signed_in = accounts::authenticate(&db.app, &session.cookie)
        .await
        .expect("authenticate")
        .expect("a session");
    assert_eq!(signed_in.csrf_token, session.csrf_token);
    assert_eq!(signed_in.display_name, "Agnès Comptable");
    match signed_in.principal {
        Principal::Tenant {
            tenant_id,
            user_id: id,
            role,
            ..
        } => {
            assert_eq!((tenant_id, id, role), (lot.id, user_id, Role::Finance));
        }
        other => panic!("{other:?}"),
    }

    accounts::sign_out(&db.app, &session.cookie)
        .await
        .expect("sign out");
    assert!(
        accounts::authenticate(&db.app, &session.cookie)
            .await
            .expect("authenticate")
            .is_none()
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_address_get_the_same_refusal() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    finance_officer(&db.app, &lot).await;
    for (email, password) in [
        ("compta@lot.example", "pas-le-bon-mot-de-passe"),
        ("personne@lot.example", PASSWORD),
    ] {
        let outcome = accounts::sign_in(&db.app, lot.id, email, password)
            .await
            .expect("sign in");
        assert!(matches!(outcome, SignIn::Refused), "{email}: {outcome:?}");
    }
}

#[tokio::test]
async fn a_session_left_idle_ends() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    finance_officer(&db.app, &lot).await;
    let session = opened(
        accounts::sign_in(&db.app, lot.id, "compta@lot.example", PASSWORD)
            .await
            .expect("sign in"),
    );
    let idle_for = |minutes: i32| {
        let db = &db;
        async move {
            let mut tx = db.app.begin_tenant(lot.id).await.expect("tx");
            sqlx::query("UPDATE web_sessions SET last_seen_at = now() - make_interval(mins => $1)")
                .bind(minutes)
                .execute(&mut *tx)
                .await
                .expect("idle");
            tx.commit().await.expect("commit");
        }
    };
    // Used within the idle time, it lives on (and its idle time starts again)…
    idle_for(accounts::IDLE_MINUTES - 5).await;
    assert!(
        accounts::authenticate(&db.app, &session.cookie)
            .await
            .expect("authenticate")
            .is_some()
    );
    // …left longer, it is over, although its 12 hours are not.
    idle_for(accounts::IDLE_MINUTES + 1).await;
    assert!(
        accounts::authenticate(&db.app, &session.cookie)
            .await
            .expect("authenticate")
            .is_none()
    );
}

#[tokio::test]
async fn failures_never_lock_the_account() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    finance_officer(&db.app, &lot).await;
    // Slowing repeated failures down is the caller's (per address); the account itself never
    // refuses its right password, whoever failed on it before.
    for _ in 0..10 {
        let outcome = accounts::sign_in(&db.app, lot.id, "compta@lot.example", "essai-raté-123")
            .await
            .expect("sign in");
        assert!(matches!(outcome, SignIn::Refused), "{outcome:?}");
    }
    opened(
        accounts::sign_in(&db.app, lot.id, "compta@lot.example", PASSWORD)
            .await
            .expect("sign in"),
    );
}

#[tokio::test]
async fn a_session_belongs_to_its_tenant_and_ends_with_a_new_password_or_a_disabled_user() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let gers = create_tenant(&db.app, "gers", TenantKind::Departement, "32").await;
    let user_id = finance_officer(&db.app, &lot).await;

    // The Lot's officer has no account on the Gers's portal.
    let outcome = accounts::sign_in(&db.app, gers.id, "compta@lot.example", PASSWORD)
        .await
        .expect("sign in");
    assert!(matches!(outcome, SignIn::Refused), "{outcome:?}");

    // A cookie whose tenant is changed names no session.
    let session = opened(
        accounts::sign_in(&db.app, lot.id, "compta@lot.example", PASSWORD)
            .await
            .expect("sign in"),
    );
    let forged = session
        .cookie
        .replacen(&lot.id.to_string(), &gers.id.to_string(), 1);
    assert!(
        accounts::authenticate(&db.app, &forged)
            .await
            .expect("authenticate")
            .is_none()
    );
    for junk in ["", "pws_", "pws_nope_x", "pst_whatever"] {
        assert!(
            accounts::authenticate(&db.app, junk)
                .await
                .expect("authenticate")
                .is_none()
        );
    }

    // A new password ends the sessions opened with the old one.
    accounts::set_password(
        &db.app,
        lot.id,
        Actor::SYSTEM,
        user_id,
        "nouveau-mot-de-passe-sûr",
    )
    .await
    .expect("new password");
    assert!(
        accounts::authenticate(&db.app, &session.cookie)
            .await
            .expect("authenticate")
            .is_none()
    );

    // A disabled user's session stops working, and they cannot sign in again.
    let session = opened(
        accounts::sign_in(
            &db.app,
            lot.id,
            "compta@lot.example",
            "nouveau-mot-de-passe-sûr",
        )
        .await
        .expect("sign in"),
    );
    users::disable(&db.app, lot.id, user_id)
        .await
        .expect("disable");
    assert!(
        accounts::authenticate(&db.app, &session.cookie)
            .await
            .expect("authenticate")
            .is_none()
    );
    let outcome = accounts::sign_in(
        &db.app,
        lot.id,
        "compta@lot.example",
        "nouveau-mot-de-passe-sûr",
    )
    .await
    .expect("sign in");
    assert!(matches!(outcome, SignIn::Refused), "{outcome:?}");
}

#[tokio::test]
async fn a_short_password_is_refused_with_the_rule() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let user_id = finance_officer(&db.app, &lot).await;
    let err = accounts::set_password(&db.app, lot.id, Actor::SYSTEM, user_id, "court")
        .await
        .expect_err("too short");
    match err {
        Error::Invalid(errors) => {
            assert_eq!(errors[0].field, "password");
            assert!(errors[0].message.contains("12"), "{}", errors[0].message);
        }
        other => panic!("{other:?}"),
    }
}
