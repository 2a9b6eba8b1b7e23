//! A year of a scheme's activity, generated in SQL: prescribers, EPNs, holders, vouchers issued
//! over the year from `first_day`, registrations, module choices, sessions, attendance and competences. Uneven on
//! purpose: one public category and a few communes are rare, so that small counts exist.
//!
//! Used by the statistics tests (hundreds of vouchers) and the statistics benchmark (a million).

use chrono::NaiveDate;
use passerelle_core::audit::Actor;
use passerelle_core::prescribers::{self, NewAllocation, NewPrescriber};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::TestDatabase;

#[derive(Debug, Clone, Copy)]
pub struct ActivitySpec {
    pub vouchers: i64,
    pub epns: i64,
    /// Sessions per EPN over the year.
    pub sessions_per_epn: i64,
    /// A voucher in use attends between 1 and this many sessions.
    pub max_attendance: i64,
    /// The first day of the year of activity (its last day is 364 days later).
    pub first_day: NaiveDate,
    /// Drops the attendance table's foreign keys during the load and puts them back without
    /// re-checking them (`NOT VALID`): for the benchmark's millions of rows, whose keys the
    /// generator builds from the rows it joins.
    pub bulk: bool,
}

const PRESCRIBERS: [(&str, &str); 4] = [
    ("CCAS de Cahors", "ccas"),
    ("CAF du Lot", "caf"),
    ("France Travail Figeac", "france_travail"),
    ("Mission locale du Lot", "mission_locale"),
];

/// Generates the activity in `scheme_id` of `tenant_id`; returns the number of attendance rows.
/// A voucher attends every other session of its EPN from the one after its issue date, within
/// the year: late vouchers attend fewer.
pub async fn generate(
    db: &TestDatabase,
    tenant_id: Uuid,
    scheme_id: Uuid,
    spec: ActivitySpec,
) -> i64 {
    for (name, kind) in PRESCRIBERS {
        let prescriber_id = prescribers::create(
            &db.app,
            tenant_id,
            Actor::SYSTEM,
            &NewPrescriber {
                name: name.into(),
                kind: kind.parse().expect("a prescriber kind"),
                ..NewPrescriber::default()
            },
        )
        .await
        .expect("prescriber")
        .id;
        prescribers::allocate(
            &db.app,
            tenant_id,
            Actor::SYSTEM,
            prescriber_id,
            &NewAllocation {
                scheme_id,
                period_start: spec.first_day,
                period_end: spec.first_day + chrono::Days::new(364),
                quantity: i32::try_from(spec.vouchers).unwrap_or(i32::MAX),
            },
        )
        .await
        .expect("allocation");
    }
    if spec.bulk {
        for (constraint, _) in crate::national::ATTENDANCE_KEYS {
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE attendances DROP CONSTRAINT {constraint}"
            )))
            .execute(&db.owner)
            .await
            .expect("drop a foreign key for the load");
        }
    }
    let mut tx = db.owner.begin().await.expect("tx");
    passerelle_core::storage::set_tenant(&mut tx, tenant_id)
        .await
        .expect("tenant");
    for statement in [
        "INSERT INTO epns (tenant_id, id, name) SELECT $1, uuid_v7(), 'EPN ' || lpad(i::text, 4, '0') FROM generate_series(1, $4) i",
        "INSERT INTO epn_schemes (tenant_id, epn_id, scheme_id) SELECT $1, id, $2 FROM epns ON CONFLICT DO NOTHING",
        "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, public_category, prescriber_id, birth_year, commune_insee, email)
         SELECT $1, uuid_v7(), 'Prenom' || i, 'Nomfamille' || i,
                CASE WHEN i % 150 = 0 THEN 'spouse_of_self_employed'
                     WHEN i % 97 = 0 THEN 'other'
                     ELSE (ARRAY['minima_sociaux', 'single_parent', 'senior', 'low_qualified_employee',
                                 'parent_of_pupil', 'social_insurance_user'])[1 + i % 6] END,
                p.id,
                CASE WHEN i % 37 = 0 THEN NULL ELSE 1940 + (i * 13) % 70 END,
                CASE WHEN i % 29 = 0 THEN NULL WHEN i % 211 = 0 THEN '97411'
                     ELSE (ARRAY['46042', '46102', '46127', '46240', '19031', '12202'])[1 + i % 6] END,
                CASE WHEN i % 3 = 0 THEN 'holder' || i || '@mail.example' END
         FROM generate_series(1, $3) i
         JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM prescribers) p ON p.k = i % 4",
        "INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id, allocation_id,
                               issued_on, valid_until, status, minutes_total, minutes_left, face_value_cents, participation_fee_cents,
                               cancel_reason, cancelled_at)
         SELECT $1, uuid_v7(), 'GEN-' || b.n, $2, 1, b.id, b.prescriber_id, a.id, d.issued_on, d.issued_on + 364,
                CASE WHEN b.n % 20 = 0 THEN 'cancelled' WHEN b.n % 13 = 0 THEN 'expired' WHEN b.n % 5 = 0 THEN 'completed'
                     WHEN b.n % 10 = 1 THEN 'issued' ELSE 'in_progress' END,
                1200, 600, 20000, CASE WHEN b.n % 7 = 0 THEN 1000 WHEN b.n % 11 = 0 THEN 550 ELSE 0 END,
                CASE WHEN b.n % 20 = 0 THEN 'erreur de saisie' END, CASE WHEN b.n % 20 = 0 THEN now() END
         FROM (SELECT id, prescriber_id, row_number() OVER (ORDER BY id) AS n FROM beneficiaries) b
         JOIN allocations a ON a.prescriber_id = b.prescriber_id AND a.scheme_id = $2
         CROSS JOIN LATERAL (SELECT $7::date + ((b.n * 37) % 365)::int AS issued_on) d",
        "INSERT INTO registrations (tenant_id, id, voucher_id, epn_id, registered_at)
         SELECT $1, uuid_v7(), v.id, e.id, v.issued_on + 3
         FROM (SELECT id, issued_on, row_number() OVER (ORDER BY id) AS n FROM vouchers WHERE status <> 'issued') v
         JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM epns) e ON e.k = v.n % $4",
        "INSERT INTO voucher_modules (tenant_id, voucher_id, scheme_id, module_number)
         SELECT $1, r.voucher_id, $2, m.number
         FROM (SELECT voucher_id, row_number() OVER (ORDER BY voucher_id) AS n FROM registrations) r
         JOIN (SELECT number, row_number() OVER (ORDER BY number) - 1 AS k FROM scheme_modules WHERE scheme_id = $2) m
           ON m.k IN (r.n % 3, r.n % 3 + 1)",
        "INSERT INTO sessions (tenant_id, id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, status)
         SELECT $1, uuid_v7(), e.id, $2, 1 + j % 3, (($7::date + 4 + time '09:00') AT TIME ZONE 'Europe/Paris') + ((j * 360) / $5) * interval '1 day',
                120, 20, 'held'
         FROM epns e CROSS JOIN generate_series(0, $5 - 1) j",
        "INSERT INTO attendances (tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited)
         SELECT $1, uuid_v7(), s.id, v.id, v.epn_id,
                CASE WHEN (v.n + t) % 9 = 0 THEN 'absent' ELSE 'present' END,
                CASE WHEN (v.n + t) % 9 = 0 THEN 0 ELSE 120 END
         FROM (SELECT v.id, v.status, v.issued_on, r.epn_id, row_number() OVER (ORDER BY v.id) AS n
               FROM vouchers v JOIN registrations r ON r.voucher_id = v.id) v
         CROSS JOIN LATERAL generate_series(0, CASE WHEN v.status = 'cancelled' OR v.n % 6 = 0 THEN -1 ELSE v.n % $6 END) t
         JOIN (SELECT id, epn_id, row_number() OVER (PARTITION BY epn_id ORDER BY starts_at, id) - 1 AS j FROM sessions) s
           ON s.epn_id = v.epn_id
          AND s.j = ((v.issued_on - ($7::date + 4)) * $5) / 360 + 1 + 2 * t",
        "INSERT INTO attendance_competences (tenant_id, attendance_id, referential_code, competence_code, level)
         SELECT $1, a.id, 'crcn', c.code, (ARRAY['discovered', 'practised', 'acquired'])[1 + a.h % 3]
         FROM (SELECT id, abs(hashtext(id::text)) AS h FROM attendances WHERE status = 'present') a
         JOIN (SELECT code, row_number() OVER (ORDER BY code) - 1 AS k FROM competences WHERE referential_code = 'crcn') c
           ON c.k = (a.h / 3) % 16
         WHERE a.h % 4 = 0",
        "INSERT INTO voucher_orientations (tenant_id, voucher_id, kind, epn_id)
         SELECT $1, v.id, (ARRAY['pix', 'pcie', 'clea_numerique', 'training_body', 'other_scheme', 'no_orientation'])[1 + v.n % 6],
                v.epn_id
         FROM (SELECT v.id, r.epn_id, row_number() OVER (ORDER BY v.id) AS n
               FROM vouchers v JOIN registrations r ON r.voucher_id = v.id
               WHERE v.minutes_left < v.minutes_total OR v.status = 'completed') v
         WHERE v.n % 3 <> 0",
    ] {
        sqlx::query(AssertSqlSafe(statement.to_owned()))
            .bind(tenant_id)
            .bind(scheme_id)
            .bind(spec.vouchers)
            .bind(spec.epns)
            .bind(spec.sessions_per_epn)
            .bind(spec.max_attendance)
            .bind(spec.first_day)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attendances")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    tx.commit().await.expect("commit");
    if spec.bulk {
        for (constraint, definition) in crate::national::ATTENDANCE_KEYS {
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE attendances ADD CONSTRAINT {constraint} {definition} NOT VALID"
            )))
            .execute(&db.owner)
            .await
            .expect("put the foreign key back");
        }
    }
    sqlx::query("ANALYZE")
        .execute(&db.owner)
        .await
        .expect("analyze");
    rows
}
