//! Test data in one line each, the way the product makes it (through the domain's functions, never
//! by inserting rows): a tenant, an active scheme, a prescriber with an allocation, an EPN offering
//! the scheme's modules, a voucher and its registration. Each suite adds what is its own.

use chrono::Days;
use passerelle_core::audit::Actor;
use passerelle_core::beneficiaries::{NewBeneficiary, PublicCategory};
use passerelle_core::delivery::registration::{self, Interview, RegisterRequest, Registered};
use passerelle_core::epns;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use passerelle_core::schemes::{self, NewScheme};
use passerelle_core::tenancy::tenants::{Tenant, TenantKind};
use passerelle_core::vouchers::{self, Holder, IssueRequest, Issued};
use passerelle_core::{Db, Error};
use uuid::Uuid;

use crate::{TestDatabase, create_tenant};

/// A database of its own with the Lot as its tenant.
pub struct World {
    pub test: TestDatabase,
    pub tenant: Tenant,
}

impl World {
    pub async fn new() -> Self {
        let test = TestDatabase::create().await;
        let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
        Self { test, tenant }
    }

    /// Connected as the application role.
    pub fn db(&self) -> &Db {
        &self.test.app
    }

    /// An active Ticket Net scheme from the preset, its rules in force since `days_ago` days.
    pub async fn ticket_net(&self, code: &str, days_ago: u64) -> Uuid {
        let scheme = schemes::create(
            self.db(),
            self.tenant.id,
            Actor::SYSTEM,
            NewScheme {
                code: code.into(),
                name: format!("Ticket Net {code}"),
                preset: Some("ticket-net".into()),
                effective_from: Some(self.tenant.today() - Days::new(days_ago)),
                ..NewScheme::default()
            },
        )
        .await
        .expect("a Ticket Net scheme")
        .scheme
        .id;
        schemes::set_status(
            self.db(),
            self.tenant.id,
            Actor::SYSTEM,
            scheme,
            schemes::SchemeStatus::Active,
        )
        .await
        .expect("activate the scheme");
        scheme
    }

    pub async fn prescriber(
        &self,
        name: &str,
        kind: prescribers::PrescriberKind,
        siret: Option<&str>,
    ) -> Uuid {
        self.prescriber_with(NewPrescriber {
            name: name.into(),
            kind,
            siret: siret.map(Into::into),
            ..NewPrescriber::default()
        })
        .await
    }

    /// A prescriber with every detail the test gives (its contact email for the daily digest…).
    pub async fn prescriber_with(&self, new: NewPrescriber) -> Uuid {
        prescribers::create(self.db(), self.tenant.id, Actor::SYSTEM, &new)
            .await
            .expect("a prescriber")
            .id
    }

    /// `quantity` vouchers of the scheme for the prescriber, over `days` days either side of today.
    pub async fn allocate(&self, prescriber_id: Uuid, scheme_id: Uuid, quantity: i32, days: u64) {
        let today = self.tenant.today();
        prescribers::allocate(
            self.db(),
            self.tenant.id,
            Actor::SYSTEM,
            prescriber_id,
            &NewAllocation {
                scheme_id,
                period_start: today - Days::new(days),
                period_end: today + Days::new(days),
                quantity,
            },
        )
        .await
        .expect("an allocation");
    }

    /// An EPN that offers the scheme's modules `modules`.
    pub async fn epn(&self, name: &str, scheme_id: Uuid, modules: &[i32]) -> Uuid {
        let epn_id = epns::create_named(self.db(), self.tenant.id, name)
            .await
            .expect("an EPN");
        epns::set_offer(
            self.db(),
            self.tenant.id,
            Actor::SYSTEM,
            epn_id,
            scheme_id,
            modules,
        )
        .await
        .expect("the EPN's offer");
        epn_id
    }

    /// A senior of Figeac born in 1957, first name Jeanne.
    pub fn person(last_name: &str) -> NewBeneficiary {
        NewBeneficiary {
            first_name: "Jeanne".into(),
            last_name: last_name.into(),
            birth_year: 1957,
            commune_insee: "46102".into(),
            public_category: PublicCategory::Senior,
            ..NewBeneficiary::default()
        }
    }

    pub async fn issue(
        &self,
        prescriber_id: Uuid,
        scheme_id: Uuid,
        holder: Holder,
    ) -> Result<Issued, Error> {
        vouchers::issue(
            self.db(),
            self.tenant.id,
            prescriber_id,
            Actor::SYSTEM,
            &IssueRequest {
                scheme_id,
                holder,
                participation_fee_cents: 0,
            },
        )
        .await
    }

    /// The voucher registered at the EPN after a 30-minute interview today, with modules 1 to 10.
    pub async fn register(
        &self,
        epn_id: Uuid,
        reference: &str,
        last_name: &str,
    ) -> Result<Registered, Error> {
        registration::register(
            self.db(),
            self.tenant.id,
            epn_id,
            Actor::SYSTEM,
            &RegisterRequest {
                reference: reference.into(),
                last_name: last_name.into(),
                interview: Interview {
                    on: Some(self.tenant.today()),
                    minutes: Some(30),
                    autonomy_level: Some(passerelle_core::delivery::AutonomyLevel::Beginner),
                    needs: Some("Démarches CAF en ligne".into()),
                    notes: None,
                },
                modules: (1..=10).collect(),
            },
        )
        .await
    }
}
