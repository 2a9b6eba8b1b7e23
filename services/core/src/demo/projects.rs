//! The Pass Numérique's collective projects in the demo, so that every project page shows
//! something: one approved with two sessions held (an absence, competences worked, one member
//! oriented toward PIX), and one waiting for the Région's decision. Seeded once.

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use uuid::Uuid;

use crate::audit::Actor;
use crate::beneficiaries::{NewBeneficiary, PublicCategory};
use crate::delivery::projects::{self, NewProject, ProjectSheet};
use crate::delivery::sessions::{self, NewSession};
use crate::delivery::{CompetenceLevel, OrientationKind, SessionStatus, orientation};
use crate::tenancy::tenants::Tenant;
use crate::vouchers::Holder;
use crate::{Db, Error};

/// A group of `names`, living in Annonay (INSEE 07010), without email: the demo sends none.
fn group(names: &[(&str, &str, i16)], category: PublicCategory) -> Vec<Holder> {
    names
        .iter()
        .map(|(first_name, last_name, birth_year)| {
            Holder::New(NewBeneficiary {
                first_name: (*first_name).into(),
                last_name: (*last_name).into(),
                birth_year: *birth_year,
                commune_insee: "07010".into(),
                public_category: category,
                ..NewBeneficiary::default()
            })
        })
        .collect()
}

pub(super) async fn seed(
    db: &Db,
    tenant: &Tenant,
    scheme_id: Uuid,
    structure: Uuid,
    epn_id: Uuid,
) -> Result<(), Error> {
    let mut tx = db.begin_tenant(tenant.id).await?;
    let seeded: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM projects WHERE tenant_id = $1)")
            .bind(tenant.id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    if seeded {
        return Ok(());
    }
    let travel = projects::submit(
        db,
        tenant.id,
        structure,
        Actor::SYSTEM,
        &NewProject {
            scheme_id,
            epn_id,
            title: "Carnet de voyage numérique".into(),
            aim: "Les résidents du foyer réalisent le carnet de leur séjour à Vogüé : photos, textes, partage avec les familles.".into(),
            planned_sessions: 4,
            planned_minutes: 480,
            members: group(
                &[
                    ("Marcelle", "Chaize", 1944),
                    ("Henri", "Bouvier", 1941),
                    ("Lucienne", "Perrot", 1948),
                    ("André", "Mounier", 1939),
                    ("Yvette", "Cros", 1946),
                    ("Gilbert", "Vialle", 1943),
                ],
                PublicCategory::Senior,
            ),
        },
    )
    .await?;
    let approved =
        projects::decide(db, tenant.id, Actor::SYSTEM, travel.project.id, true, None).await?;
    // Two sessions held today (the passes were issued today, and a session before its pass's
    // issue is refused): in the morning, or just now when the demo is seeded earlier.
    let tz = tenant.tz();
    let today = tenant.today();
    let morning = tz
        .from_local_datetime(&today.and_time(NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default()))
        .earliest()
        .map(|t| t.with_timezone(&Utc));
    let day_start = crate::delivery::overview::start_of_day(today, tz);
    let now = Utc::now();
    let first = morning
        .filter(|t| *t < now - Duration::minutes(5))
        .unwrap_or_else(|| (now - Duration::minutes(5)).max(day_start));
    let references: Vec<String> = approved
        .members
        .iter()
        .filter_map(|m| m.reference.clone())
        .collect();
    for (starts_at, module, absent, worked) in [
        (
            first,
            3,
            vec![references[5].clone()],
            vec![("3.1".to_owned(), CompetenceLevel::Discovered)],
        ),
        (
            (first + Duration::minutes(2)).min(now),
            3,
            Vec::new(),
            vec![
                ("3.1".to_owned(), CompetenceLevel::Practised),
                ("2.1".to_owned(), CompetenceLevel::Discovered),
            ],
        ),
    ] {
        let session = sessions::create(
            db,
            tenant.id,
            epn_id,
            Actor::SYSTEM,
            &NewSession {
                scheme_id,
                module_number: Some(module),
                starts_at,
                duration_minutes: Some(120),
                capacity: 10,
                animator: None,
                place: Some("Salle multimédia".into()),
            },
        )
        .await?;
        let outcomes = projects::record_session(
            db,
            tenant.id,
            epn_id,
            Actor::SYSTEM,
            travel.project.id,
            &ProjectSheet {
                session_id: session.id,
                absent,
                competences: worked,
            },
        )
        .await?;
        for (_, outcome) in outcomes {
            outcome?;
        }
        sessions::set_status(
            db,
            tenant.id,
            epn_id,
            Actor::SYSTEM,
            session.id,
            SessionStatus::Held,
        )
        .await?;
    }
    orientation::record(
        db,
        tenant.id,
        epn_id,
        Actor::SYSTEM,
        &references[0],
        OrientationKind::Pix,
        Some("Passer le test PIX à la médiathèque d’Annonay ; l’animatrice peut accompagner l’inscription."),
    )
    .await?;
    projects::submit(
        db,
        tenant.id,
        structure,
        Actor::SYSTEM,
        &NewProject {
            scheme_id,
            epn_id,
            title: "Démarches en ligne des parents d’élèves".into(),
            aim: "Utiliser l’espace numérique de travail du collège, Pronote et les démarches de la CAF.".into(),
            planned_sessions: 3,
            planned_minutes: 360,
            members: group(
                &[
                    ("Samira", "Haddad", 1985),
                    ("Jessica", "Roche", 1990),
                    ("Mehmet", "Yilmaz", 1982),
                    ("Nadia", "Ferrand", 1988),
                    ("Kevin", "Blanc", 1993),
                ],
                PublicCategory::ParentOfPupil,
            ),
        },
    )
    .await?;
    Ok(())
}
