//! The demo data `make run` seeds: the Lot (Ticket Net) and Auvergne-Rhône-Alpes (Pass Numérique),
//! one user per role in each, and a platform admin. Running it again updates in place: demo
//! objects have fixed ids, and each demo token replaces the previous one of the same user.

use uuid::Uuid;

use crate::tenancy::Role;
use crate::tenancy::tenants::{self, NewTenant, TenantKind};
use crate::tenancy::tokens::{self, NewToken};
use crate::tenancy::users::{self, NewUser};
use crate::{Db, Error, epns, prescribers};

const DEMO_TOKEN_NAME: &str = "demo";
const PLATFORM_ADMIN_EMAIL: &str = "exploitation@passerelle.example";

struct DemoTenant {
    label: &'static str,
    slug: &'static str,
    name: &'static str,
    kind: TenantKind,
    insee_code: &'static str,
    sender_name: &'static str,
    sender_email: &'static str,
    prescriber: (&'static str, &'static str),
    epn: &'static str,
}

const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        label: "LOT",
        slug: "lot",
        name: "Département du Lot",
        kind: TenantKind::Departement,
        insee_code: "46",
        sender_name: "Ticket Net — Département du Lot",
        sender_email: "ticket-net@lot.example",
        prescriber: ("CAF du Lot — Cahors", "caf"),
        epn: "EPN de Figeac",
    },
    DemoTenant {
        label: "ARA",
        slug: "auvergne-rhone-alpes",
        name: "Région Auvergne-Rhône-Alpes",
        kind: TenantKind::Region,
        insee_code: "84",
        sender_name: "Pass Numérique — Région Auvergne-Rhône-Alpes",
        sender_email: "pass-numerique@auvergnerhonealpes.example",
        prescriber: ("Association Solidarité Annonay", "association"),
        epn: "EPN d'Annonay",
    },
];

/// A demo credential: `label` is `ROLE_TENANT` (e.g. `TENANT_ADMIN_LOT`) or `PLATFORM_ADMIN`.
#[derive(Debug, Clone)]
pub struct DemoToken {
    pub label: String,
    pub token: String,
}

fn demo_id(path: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("passerelle:demo:{path}").as_bytes(),
    )
}

pub async fn seed(db: &Db) -> Result<Vec<DemoToken>, Error> {
    let mut issued = Vec::new();
    for demo in &TENANTS {
        let tenant = match tenants::find_by_slug(db, demo.slug).await? {
            Some(t) => t,
            None => {
                tenants::create(
                    db,
                    &NewTenant {
                        slug: demo.slug.into(),
                        name: demo.name.into(),
                        kind: demo.kind,
                        insee_code: demo.insee_code.into(),
                        time_zone: "Europe/Paris".into(),
                        sender_name: demo.sender_name.into(),
                        sender_email: demo.sender_email.into(),
                    },
                )
                .await?
            }
        };
        let mut tx = db.begin_tenant(tenant.id).await?;
        let prescriber_id = prescribers::insert(
            &mut tx,
            tenant.id,
            demo_id(&format!("{}/prescriber", demo.slug)),
            demo.prescriber.0,
            demo.prescriber.1,
        )
        .await?;
        let epn_id = epns::insert(
            &mut tx,
            tenant.id,
            demo_id(&format!("{}/epn", demo.slug)),
            demo.epn,
        )
        .await?;
        for role in Role::TENANT {
            let email = format!("{}@{}.example", role.as_str().replace('_', "-"), demo.slug);
            let user = match users::find_by_email(&mut tx, &email).await? {
                Some(user) => user,
                None => {
                    let new = NewUser {
                        email,
                        display_name: format!("Démo {} ({})", role_label_fr(role), demo.name),
                        role,
                        prescriber_id: (role == Role::Prescriber).then_some(prescriber_id),
                        epn_id: (role == Role::Epn).then_some(epn_id),
                    };
                    new.validate()?;
                    users::insert(&mut tx, tenant.id, &new).await?
                }
            };
            tokens::delete_named(&mut tx, user.id, DEMO_TOKEN_NAME).await?;
            let token = tokens::insert_for_user(
                &mut tx,
                tenant.id,
                user.id,
                &NewToken {
                    name: DEMO_TOKEN_NAME.into(),
                    expires_at: None,
                },
            )
            .await?;
            issued.push(DemoToken {
                label: format!("{}_{}", role.as_str().to_uppercase(), demo.label),
                token: token.secret,
            });
        }
        tx.commit().await?;
    }

    let mut tx = db.begin_platform().await?;
    tokens::delete_named_platform(&mut tx, PLATFORM_ADMIN_EMAIL, DEMO_TOKEN_NAME).await?;
    tx.commit().await?;
    let platform = tokens::issue_platform(
        db,
        PLATFORM_ADMIN_EMAIL,
        "Démo exploitation de la plateforme",
        &NewToken {
            name: DEMO_TOKEN_NAME.into(),
            expires_at: None,
        },
    )
    .await?;
    issued.push(DemoToken {
        label: "PLATFORM_ADMIN".into(),
        token: platform.secret,
    });
    Ok(issued)
}

fn role_label_fr(role: Role) -> &'static str {
    match role {
        Role::PlatformAdmin => "exploitation",
        Role::TenantAdmin => "administration",
        Role::Prescriber => "prescription",
        Role::Epn => "EPN",
        Role::Finance => "finances",
        Role::Funder => "financeur",
    }
}
