//! The demo data `make run` seeds: the Lot (Ticket Net) and Auvergne-Rhône-Alpes (Pass Numérique),
//! one user per role in each, and a platform admin. Running it again updates in place: demo
//! objects have fixed ids, and each demo token replaces the previous one of the same user.

use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

use crate::audit::Actor;
use crate::prescribers::{self, NewAllocation, NewPrescriber, PrescriberKind};
use crate::schemes::{self, NewScheme};
use crate::tenancy::tenants::{self, NewTenant, TenantKind};
use crate::tenancy::tokens::{self, NewToken};
use crate::tenancy::users::{self, NewUser};
use crate::tenancy::{Role, accounts};
use crate::{Db, Error, epns, funders};

pub mod activity;
mod projects;

const DEMO_TOKEN_NAME: &str = "demo";
/// Every demo user's portal password (`<role>@<tenant>.example`, e.g. `finance@lot.example`).
pub const DEMO_PASSWORD: &str = "demo-passerelle";
/// The demo EPN's account and the demo tenants' treasury account: well-known example IBANs.
const DEMO_EPN_IBAN: &str = "FR7630006000011234567890189";
const DEMO_TREASURY_IBAN: &str = "FR1420041010050500013M02606";
const PLATFORM_ADMIN_EMAIL: &str = "exploitation@passerelle.example";
/// The demo's co-financer, and its envelope for a scheme.
const DEMO_FUND: &str = "FSE+";
const DEMO_FUND_CAP_CENTS: i64 = 5_000_000;

struct DemoTenant {
    label: &'static str,
    slug: &'static str,
    name: &'static str,
    kind: TenantKind,
    insee_code: &'static str,
    sender_name: &'static str,
    sender_email: &'static str,
    preset: &'static str,
    /// Name, kind and the vouchers allocated for the current year.
    prescribers: &'static [(&'static str, PrescriberKind, i32)],
    /// The demo EPN's name when the tenant has no network file.
    epn: &'static str,
    /// The tenant's EPN network as an open-data file; its first place is the demo EPN.
    network: Option<&'static [u8]>,
    /// Organisations that prescribed during the demo's year, with no demo user: each has an
    /// allocation per calendar year of the activity.
    more_prescribers: &'static [(&'static str, PrescriberKind, i32)],
    activity: activity::ActivityPlan,
    /// A made-up badge for the demo's pages and letters (not the territory's own logo).
    logo: &'static str,
}

const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        label: "LOT",
        logo: r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40"><rect width="120" height="40" rx="6" fill="#000091"/><text x="60" y="27" font-family="Arial, sans-serif" font-size="18" font-weight="700" fill="#ffffff" text-anchor="middle">Lot · démo</text></svg>"##,
        slug: "lot",
        name: "Département du Lot",
        kind: TenantKind::Departement,
        insee_code: "46",
        sender_name: "Ticket Net — Département du Lot",
        sender_email: "ticket-net@lot.example",
        preset: "ticket-net",
        prescribers: &[
            ("CAF du Lot — Cahors", PrescriberKind::Caf, 150),
            ("CCAS de Figeac", PrescriberKind::Ccas, 40),
        ],
        epn: "EPN de Figeac",
        network: Some(include_bytes!(
            "../../../infra/data/lieux-mediation-numerique-lot.csv"
        )),
        more_prescribers: &[
            (
                "France Travail — agence de Cahors",
                PrescriberKind::FranceTravail,
                120,
            ),
            ("Mission locale du Lot", PrescriberKind::MissionLocale, 80),
            ("CCAS de Gourdon", PrescriberKind::Ccas, 60),
        ],
        activity: activity::ActivityPlan {
            vouchers: 140,
            communes: &[
                "46042", "46102", "46127", "46309", "46251", "46128", "46225", "46029",
            ],
            sessions_per_week: 3,
        },
    },
    DemoTenant {
        label: "ARA",
        logo: r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 40"><rect width="120" height="40" rx="6" fill="#6a6af4"/><text x="60" y="27" font-family="Arial, sans-serif" font-size="18" font-weight="700" fill="#ffffff" text-anchor="middle">AURA · démo</text></svg>"##,
        slug: "auvergne-rhone-alpes",
        name: "Région Auvergne-Rhône-Alpes",
        kind: TenantKind::Region,
        insee_code: "84",
        sender_name: "Pass Numérique — Région Auvergne-Rhône-Alpes",
        sender_email: "pass-numerique@auvergnerhonealpes.example",
        preset: "pass-numerique",
        prescribers: &[(
            "Association Solidarité Annonay",
            PrescriberKind::Association,
            80,
        )],
        epn: "EPN d'Annonay",
        network: None,
        more_prescribers: &[
            ("CCAS d'Aubenas", PrescriberKind::Ccas, 90),
            (
                "France Travail — agence de Privas",
                PrescriberKind::FranceTravail,
                90,
            ),
        ],
        activity: activity::ActivityPlan {
            vouchers: 90,
            communes: &["07010", "07186", "07019", "07324", "07319", "26362"],
            sessions_per_week: 3,
        },
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

/// The Pass Numérique's public side in the demo: the association funds the public's requests, and
/// two people asked for an accompaniment through the form (once: a second seed adds none). They
/// gave phone numbers, not addresses: the demo sends no email of its own, and the fault suite
/// counts every message its SMTP server receives as its own.
async fn seed_public_requests(
    db: &Db,
    tenant: &tenants::Tenant,
    scheme_id: Uuid,
    funder: Uuid,
    epn_id: Uuid,
) -> Result<(), Error> {
    use crate::beneficiaries::NewBeneficiary;
    use crate::delivery::accompaniment::{self, PublicRequest};
    schemes::set_public_request_funding(db, tenant.id, Actor::SYSTEM, scheme_id, Some(funder))
        .await?;
    let mut tx = db.begin_tenant(tenant.id).await?;
    let asked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM accompaniment_requests WHERE tenant_id = $1 AND channel = 'public_form')",
    )
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if asked {
        return Ok(());
    }
    let code: String = schemes::get(db, tenant.id, scheme_id).await?.scheme.code;
    for (first_name, last_name, birth_year, phone, email, message) in [
        (
            "Josiane",
            "Faure",
            1949,
            Some("04 75 33 12 08"),
            None,
            "Envoyer des photos à mes petits-enfants et faire une visio.",
        ),
        (
            "Karim",
            "Benali",
            1987,
            Some("06 21 43 65 87"),
            None,
            "Créer mon compte France Travail et déposer mon CV.",
        ),
    ] {
        accompaniment::request_public(
            db,
            &tenant.slug,
            &code,
            &PublicRequest {
                epn_id,
                person: NewBeneficiary {
                    first_name: first_name.into(),
                    last_name: last_name.into(),
                    birth_year,
                    phone: phone.map(str::to_owned),
                    email: email.map(str::to_owned),
                    ..NewBeneficiary::default()
                },
                postal_code: Some("07100".into()),
                commune_name: Some("Annonay".into()),
                message: Some(message.into()),
            },
        )
        .await?;
    }
    Ok(())
}

pub async fn seed(db: &Db) -> Result<Vec<DemoToken>, Error> {
    let mut issued = Vec::new();
    let mut demo_users = Vec::new();
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
                        reference_prefix: Some(demo.label.into()),
                    },
                )
                .await?
            }
        };
        if tenant.logo_sha256.is_none() {
            crate::tenancy::branding::set_logo(db, tenant.id, Actor::SYSTEM, demo.logo.as_bytes())
                .await?;
        }
        let first_day = activity::first_day(tenant.today());
        let scheme_id = seed_scheme(db, tenant.id, demo.preset, first_day).await?;
        let mut tx = db.begin_tenant(tenant.id).await?;
        let mut prescriber_ids = Vec::new();
        for (index, (name, kind, quantity)) in demo.prescribers.iter().enumerate() {
            let id = demo_id(&format!("{}/prescriber/{index}", demo.slug));
            let new = NewPrescriber {
                name: (*name).into(),
                kind: *kind,
                ..NewPrescriber::default()
            };
            prescribers::insert(&mut tx, tenant.id, id, Actor::SYSTEM, &new).await?;
            prescriber_ids.push((id, *quantity));
        }
        let mut more_prescribers = Vec::new();
        for (index, (name, kind, quantity)) in demo.more_prescribers.iter().enumerate() {
            let id = demo_id(&format!("{}/prescriber/more/{index}", demo.slug));
            let new = NewPrescriber {
                name: (*name).into(),
                kind: *kind,
                ..NewPrescriber::default()
            };
            prescribers::insert(&mut tx, tenant.id, id, Actor::SYSTEM, &new).await?;
            more_prescribers.push((id, *quantity));
        }
        tx.commit().await?;
        for (prescriber_id, quantity) in &more_prescribers {
            for year in first_day.year()..=tenant.today().year() {
                let day = NaiveDate::from_ymd_opt(year, 6, 1).unwrap_or(first_day);
                seed_allocation(db, tenant.id, *prescriber_id, scheme_id, *quantity, day).await?;
            }
        }
        for (prescriber_id, quantity) in &prescriber_ids {
            seed_allocation(
                db,
                tenant.id,
                *prescriber_id,
                scheme_id,
                *quantity,
                tenant.today(),
            )
            .await?;
        }
        let prescriber_id = prescriber_ids[0].0;
        let imported_epn = match demo.network {
            Some(file) => epns::import::import(db, tenant.id, Actor::SYSTEM, file)
                .await?
                .into_iter()
                .find_map(|row| row.epn_id),
            None => None,
        };
        let mut tx = db.begin_tenant(tenant.id).await?;
        let epn_id = match imported_epn {
            Some(id) => id,
            None => {
                epns::insert_named(
                    &mut tx,
                    tenant.id,
                    demo_id(&format!("{}/epn", demo.slug)),
                    demo.epn,
                )
                .await?
            }
        };
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
                Actor::SYSTEM,
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
            demo_users.push(user.id);
        }
        tx.commit().await?;
        for user_id in demo_users.drain(..) {
            accounts::set_password(db, tenant.id, Actor::SYSTEM, user_id, DEMO_PASSWORD).await?;
        }
        // The demo EPN delivers every module of the tenant's scheme.
        let modules: Vec<i32> = schemes::get(db, tenant.id, scheme_id)
            .await?
            .modules
            .iter()
            .map(|m| m.number)
            .collect();
        epns::set_offer(db, tenant.id, Actor::SYSTEM, epn_id, scheme_id, &modules).await?;
        if demo.preset == "pass-numerique" {
            seed_public_requests(db, &tenant, scheme_id, prescriber_id, epn_id).await?;
            projects::seed(db, &tenant, scheme_id, prescriber_id, epn_id).await?;
        }
        // Fictitious accounts with valid checksums, so that a month can be paid by SEPA transfer.
        epns::set_bank_details(
            db,
            tenant.id,
            Actor::SYSTEM,
            epn_id,
            &epns::BankDetails {
                iban: DEMO_EPN_IBAN.into(),
                bic: Some("AGRIFRPP".into()),
                account_holder: demo.epn.into(),
            },
        )
        .await?;
        crate::reimbursements::set_treasury(
            db,
            tenant.id,
            Actor::SYSTEM,
            &epns::BankDetails {
                iban: DEMO_TREASURY_IBAN.into(),
                bic: Some("PSSTFRPPPAR".into()),
                account_holder: format!("Paierie — {}", demo.name),
            },
        )
        .await?;
        activity::seed(db, &tenant, scheme_id, &demo.activity).await?;
        seed_funding(db, &tenant, scheme_id).await?;
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

/// The scheme co-financed by the European social fund for half of every voucher issued from the
/// day the demo is first seeded (a plan never starts in the past), up to a cap, so that finance's
/// funders' page, the reconciliation and the fund's claims have something to show. Created once.
async fn seed_funding(db: &Db, tenant: &tenants::Tenant, scheme_id: Uuid) -> Result<(), Error> {
    if !funders::plan::versions(db, tenant.id, scheme_id)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let existing = funders::list(db, tenant.id)
        .await?
        .into_iter()
        .find(|f| f.name == DEMO_FUND);
    let fund = match existing {
        Some(fund) => fund.id,
        None => {
            funders::create(
                db,
                tenant.id,
                Actor::SYSTEM,
                &funders::NewFunder {
                    name: DEMO_FUND.into(),
                    kind: funders::FunderKind::EuropeanFund,
                    siret: None,
                },
            )
            .await?
            .id
        }
    };
    funders::plan::change(
        db,
        tenant.id,
        Actor::SYSTEM,
        scheme_id,
        tenant.today(),
        &[funders::plan::FundingLine {
            funder_id: fund,
            share: funders::plan::FundingShare::BasisPoints(5_000),
            cap_cents: Some(DEMO_FUND_CAP_CENTS),
            period_start: None,
            period_end: None,
            eligible_publics: None,
            eligible_prescribers: None,
        }],
    )
    .await?;
    Ok(())
}

/// The tenant's scheme from its preset, in force from `effective_from` and active; created once.
async fn seed_scheme(
    db: &Db,
    tenant_id: Uuid,
    preset: &str,
    effective_from: NaiveDate,
) -> Result<Uuid, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM schemes WHERE tenant_id = $2 AND code = $1")
            .bind(preset)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let name = schemes::presets::get(preset)
        .map(|p| p.name)
        .unwrap_or(preset);
    let detail = schemes::create(
        db,
        tenant_id,
        Actor::SYSTEM,
        NewScheme {
            code: preset.into(),
            name: name.into(),
            preset: Some(preset.into()),
            effective_from: Some(effective_from),
            ..NewScheme::default()
        },
    )
    .await?;
    schemes::set_status(
        db,
        tenant_id,
        Actor::SYSTEM,
        detail.scheme.id,
        schemes::SchemeStatus::Active,
    )
    .await?;
    Ok(detail.scheme.id)
}

/// An allocation for the calendar year containing `today`, unless the prescriber already has one
/// for that year.
async fn seed_allocation(
    db: &Db,
    tenant_id: Uuid,
    prescriber_id: Uuid,
    scheme_id: Uuid,
    quantity: i32,
    today: NaiveDate,
) -> Result<(), Error> {
    let year = today.year();
    if prescribers::allocations(db, tenant_id, prescriber_id, Some(scheme_id))
        .await?
        .iter()
        .any(|a| a.period_start.year() == year)
    {
        return Ok(());
    }
    let new = NewAllocation {
        scheme_id,
        period_start: NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today),
        period_end: NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(today),
        quantity,
    };
    prescribers::allocate(db, tenant_id, Actor::SYSTEM, prescriber_id, &new).await?;
    Ok(())
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
