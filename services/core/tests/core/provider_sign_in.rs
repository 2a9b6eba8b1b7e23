//! Who gets in through the tenant's OpenID Connect provider: an invited address whose domain the
//! admin allowed for its role (linked at the first sign-in), and nobody else; an identity linked
//! in one territory means nothing in another. The protocol (ID token checks) is the API's and is
//! tested end to end with a real provider in `tests/e2e/identity-provider.test.mjs`.

use chrono::Utc;
use passerelle_core::Db;
use passerelle_core::audit::Actor;
use passerelle_core::prescribers::{self, NewPrescriber, PrescriberKind};
use passerelle_core::tenancy::Role;
use passerelle_core::tenancy::accounts::{self, SessionOrigin, SessionUser};
use passerelle_core::tenancy::identity_provider::{self, AllowedDomain, ProviderSettings};
use passerelle_core::tenancy::provider_sign_in::{
    self, ProviderRefusal, ProviderSignIn, VouchedIdentity,
};
use passerelle_core::tenancy::tenants::{Tenant, TenantKind};
use passerelle_core::tenancy::users::{self, NewUser};
use passerelle_test_support::{TestDatabase, create_tenant};
use uuid::Uuid;

const ISSUER: &str = "https://auth.agentconnect.gouv.fr/api/v2";

async fn prescriber(db: &Db, tenant: &Tenant, name: &str) -> Uuid {
    prescribers::create(
        db,
        tenant.id,
        Actor::SYSTEM,
        &NewPrescriber {
            name: name.into(),
            kind: PrescriberKind::Caf,
            ..NewPrescriber::default()
        },
    )
    .await
    .expect("prescriber")
    .id
}

async fn provider(db: &Db, tenant: &Tenant, domains: Vec<AllowedDomain>) {
    identity_provider::set(
        db,
        tenant.id,
        Actor::SYSTEM,
        ProviderSettings {
            label: "ProConnect".into(),
            issuer: ISSUER.into(),
            client_id: "passerelle".into(),
            client_secret: Some("secret".into()),
            domains,
        },
    )
    .await
    .expect("provider");
}

async fn user(
    db: &Db,
    tenant: &Tenant,
    email: &str,
    role: Role,
    prescriber_id: Option<Uuid>,
) -> Uuid {
    users::create(
        db,
        tenant.id,
        &NewUser {
            email: email.into(),
            display_name: "Claire Martin".into(),
            role,
            prescriber_id,
            epn_id: None,
        },
    )
    .await
    .expect("user")
    .id
}

fn vouched(subject: &str, email: Option<&str>) -> VouchedIdentity {
    VouchedIdentity {
        issuer: ISSUER.into(),
        subject: subject.into(),
        email: email.map(str::to_owned),
        authenticated_at: Some(Utc::now()),
        id_token: "en-tete.charge.signature".into(),
    }
}

async fn user_count(db: &Db, tenant: &Tenant) -> usize {
    let page = passerelle_core::pagination::PageRequest {
        limit: 100,
        after: None,
    };
    users::list(db, tenant.id, page)
        .await
        .expect("users")
        .items
        .len()
}

async fn linked_identities(db: &TestDatabase, tenant: &Tenant) -> i64 {
    let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
    let count = sqlx::query_scalar("SELECT count(*) FROM user_identities")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    count
}

/// A sign-in through the provider that opened a session.
struct Opened {
    session: SessionUser,
    cookie: String,
    user_id: Uuid,
    linked: bool,
}

/// Signs in through the provider, expecting a session, and reads the session back by its cookie.
async fn opened(db: &Db, tenant: &Tenant, identity: &VouchedIdentity) -> Opened {
    let outcome = provider_sign_in::sign_in(db, tenant.id, identity)
        .await
        .expect("sign in");
    let ProviderSignIn::Opened {
        session,
        user_id,
        linked,
    } = outcome
    else {
        panic!("expected a session, got {outcome:?}");
    };
    let signed_in = accounts::authenticate(db, &session.cookie)
        .await
        .expect("authenticate")
        .expect("a session");
    Opened {
        session: signed_in,
        cookie: session.cookie,
        user_id,
        linked,
    }
}

fn refusal(outcome: ProviderSignIn) -> ProviderRefusal {
    match outcome {
        ProviderSignIn::Refused(refusal) => refusal,
        ProviderSignIn::Opened { .. } => panic!("expected a refusal, got a session"),
    }
}

#[tokio::test]
async fn an_invited_agent_is_linked_at_the_first_sign_in_and_known_by_the_subject_after() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let caf = prescriber(&db.app, &lot, "CAF du Lot").await;
    provider(
        &db.app,
        &lot,
        vec![AllowedDomain {
            domain: "caf.fr".into(),
            role: Role::Prescriber,
            prescriber_id: Some(caf),
        }],
    )
    .await;
    let agent = user(
        &db.app,
        &lot,
        "claire.martin@caf.fr",
        Role::Prescriber,
        Some(caf),
    )
    .await;

    // The address is matched whatever its case.
    let first = opened(
        &db.app,
        &lot,
        &vouched("sub-1", Some("Claire.Martin@CAF.fr")),
    )
    .await;
    assert_eq!((first.user_id, first.linked), (agent, true));
    let signed_in = &first.session;
    assert_eq!(signed_in.opened_by, SessionOrigin::IdentityProvider);
    assert!(!signed_in.awaits_second_factor());
    // The provider's authentication is the session's proof while it is recent...
    assert!(signed_in.second_factor_fresh(Utc::now()));
    // ...and proves nothing when the provider does not say when it was.
    let mut undated = vouched("sub-1", None);
    undated.authenticated_at = None;
    let undated = opened(&db.app, &lot, &undated).await.session;
    assert!(!undated.awaits_second_factor());
    assert!(!undated.second_factor_fresh(Utc::now()));
    let audit = passerelle_core::audit::list(
        &db.app,
        lot.id,
        &passerelle_core::audit::AuditFilter {
            action: Some("user.identity_linked".into()),
            ..Default::default()
        },
        passerelle_core::pagination::PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await
    .expect("audit");
    assert_eq!(audit.items.len(), 1);

    // Later, the subject is enough: the provider's address may have changed, or be absent.
    let again = provider_sign_in::sign_in(&db.app, lot.id, &vouched("sub-1", None))
        .await
        .expect("sign in again");
    assert!(
        matches!(again, ProviderSignIn::Opened { user_id, linked: false, .. } if user_id == agent)
    );
    assert_eq!(linked_identities(&db, &lot).await, 1);

    // Signing out gives back the ID token, for the provider's logout, and keeps it no longer.
    assert_eq!(
        accounts::sign_out(&db.app, &first.cookie)
            .await
            .expect("sign out")
            .as_deref(),
        Some("en-tete.charge.signature")
    );
    assert_eq!(
        accounts::sign_out(&db.app, &first.cookie)
            .await
            .expect("twice"),
        None
    );

    // Another subject claiming the same address does not take the account.
    let other = provider_sign_in::sign_in(
        &db.app,
        lot.id,
        &vouched("sub-2", Some("claire.martin@caf.fr")),
    )
    .await
    .expect("another subject");
    assert_eq!(refusal(other), ProviderRefusal::LinkedToAnother);

    // The admin unlinks the identity: the sessions it opened end, and the other subject that
    // carries the address is linked at its next sign-in.
    let still_open = opened(&db.app, &lot, &vouched("sub-1", None)).await;
    provider_sign_in::unlink(&db.app, lot.id, Actor::SYSTEM, agent)
        .await
        .expect("unlink");
    assert!(
        accounts::authenticate(&db.app, &still_open.cookie)
            .await
            .expect("authenticate")
            .is_none()
    );
    let relinked = opened(
        &db.app,
        &lot,
        &vouched("sub-2", Some("claire.martin@caf.fr")),
    )
    .await;
    assert_eq!((relinked.user_id, relinked.linked), (agent, true));
    let old = provider_sign_in::sign_in(&db.app, lot.id, &vouched("sub-1", None))
        .await
        .expect("the unlinked subject");
    assert_eq!(refusal(old), ProviderRefusal::NotInvited);
}

#[tokio::test]
async fn nobody_uninvited_gets_in_and_nothing_is_created() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let caf = prescriber(&db.app, &lot, "CAF du Lot").await;
    let ccas = prescriber(&db.app, &lot, "CCAS de Cahors").await;
    provider(
        &db.app,
        &lot,
        vec![
            AllowedDomain {
                domain: "caf.fr".into(),
                role: Role::Prescriber,
                prescriber_id: Some(caf),
            },
            AllowedDomain {
                domain: "lot.fr".into(),
                role: Role::TenantAdmin,
                prescriber_id: None,
            },
        ],
    )
    .await;
    let users_before = user_count(&db.app, &lot).await;

    let cases = [
        // Nobody invited this address.
        ("sub-a", Some("inconnu@caf.fr"), ProviderRefusal::NotInvited),
        // The provider gave no address.
        ("sub-b", None, ProviderRefusal::NotInvited),
    ];
    for (subject, email, expected) in cases {
        let outcome = provider_sign_in::sign_in(&db.app, lot.id, &vouched(subject, email))
            .await
            .expect("sign in");
        assert_eq!(refusal(outcome), expected, "{subject}");
    }

    // Invited, but the domain is allowed for another organisation, another role, or not at all.
    user(&db.app, &lot, "agent@caf.fr", Role::Prescriber, Some(ccas)).await;
    user(&db.app, &lot, "compta@lot.fr", Role::Finance, None).await;
    user(
        &db.app,
        &lot,
        "agent@gmail.com",
        Role::Prescriber,
        Some(caf),
    )
    .await;
    for email in ["agent@caf.fr", "compta@lot.fr", "agent@gmail.com"] {
        let outcome = provider_sign_in::sign_in(&db.app, lot.id, &vouched(email, Some(email)))
            .await
            .expect("sign in");
        assert_eq!(
            refusal(outcome),
            ProviderRefusal::DomainNotAllowed,
            "{email}"
        );
    }

    // Disabled.
    let admin = user(&db.app, &lot, "admin@lot.fr", Role::TenantAdmin, None).await;
    users::disable(&db.app, lot.id, admin)
        .await
        .expect("disable");
    let outcome =
        provider_sign_in::sign_in(&db.app, lot.id, &vouched("sub-c", Some("admin@lot.fr")))
            .await
            .expect("sign in");
    assert_eq!(refusal(outcome), ProviderRefusal::Disabled);

    // An identity from another issuer than the one configured.
    let mut elsewhere = vouched("sub-d", Some("agent@caf.fr"));
    elsewhere.issuer = "https://idp.example.fr".into();
    let outcome = provider_sign_in::sign_in(&db.app, lot.id, &elsewhere)
        .await
        .expect("sign in");
    assert_eq!(refusal(outcome), ProviderRefusal::NotInvited);

    assert_eq!(linked_identities(&db, &lot).await, 0);
    let users_after = user_count(&db.app, &lot).await;
    assert_eq!(
        users_after,
        users_before + 4,
        "only the four users the test invited"
    );
}

#[tokio::test]
async fn an_identity_linked_in_one_territory_means_nothing_in_another() {
    let db = TestDatabase::create().await;
    let lot = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let gers = create_tenant(&db.app, "gers", TenantKind::Departement, "32").await;
    for tenant in [&lot, &gers] {
        provider(
            &db.app,
            tenant,
            vec![AllowedDomain {
                domain: "lot.fr".into(),
                role: Role::TenantAdmin,
                prescriber_id: None,
            }],
        )
        .await;
    }
    user(&db.app, &lot, "admin@lot.fr", Role::TenantAdmin, None).await;
    let linked =
        provider_sign_in::sign_in(&db.app, lot.id, &vouched("sub-1", Some("admin@lot.fr")))
            .await
            .expect("sign in");
    assert!(matches!(
        linked,
        ProviderSignIn::Opened { linked: true, .. }
    ));

    // The same identity in the Gers, where nobody invited it: refused, whatever it is in the Lot.
    let outcome = provider_sign_in::sign_in(&db.app, gers.id, &vouched("sub-1", None))
        .await
        .expect("sign in");
    assert_eq!(refusal(outcome), ProviderRefusal::NotInvited);
    let outcome =
        provider_sign_in::sign_in(&db.app, gers.id, &vouched("sub-1", Some("admin@lot.fr")))
            .await
            .expect("sign in");
    assert_eq!(refusal(outcome), ProviderRefusal::NotInvited);
    assert_eq!(linked_identities(&db, &gers).await, 0);

    // Invited in the Gers too, the person is linked there on a row of the Gers; the session is
    // one of the Gers.
    let gers_admin = user(&db.app, &gers, "admin@lot.fr", Role::TenantAdmin, None).await;
    let in_gers = opened(&db.app, &gers, &vouched("sub-1", Some("admin@lot.fr"))).await;
    assert_eq!((in_gers.user_id, in_gers.linked), (gers_admin, true));
    let signed_in = in_gers.session;
    assert_eq!(signed_in.principal.tenant_id(), Some(gers.id));
    assert_eq!(linked_identities(&db, &lot).await, 1);
    assert_eq!(linked_identities(&db, &gers).await, 1);
}
