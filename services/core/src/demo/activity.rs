//! Fifteen months of a demo territory's activity, so that every page and chart of `make run` shows
//! the figures of a scheme in use: holders with French names in the territory's communes,
//! vouchers issued by each prescriber within its allocations, registrations at the EPNs, sessions
//! held and planned, attendance, competences, orientations, and the monthly statements computed
//! from them.
//!
//! Written once per tenant, in one transaction (a later seed finds the audit entry and adds
//! nothing). Holders have no email address: the demo sends no message of its own. Dates and
//! choices derive from each holder's number, so two seeds of a fresh database look alike.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::beneficiaries::match_key;
use crate::schemes::{self, SchemeRules};
use crate::tenancy::tenants::Tenant;
use crate::vouchers::{reference, validity};
use crate::{Db, Error};

/// What a demo territory's year looks like.
pub struct ActivityPlan {
    pub vouchers: usize,
    /// Where the holders live (INSEE codes of the territory's communes).
    pub communes: &'static [&'static str],
    /// Sessions each EPN holds in a week.
    pub sessions_per_week: u32,
}

/// How far back the activity goes: past one year, so that some vouchers have expired.
pub const MONTHS_OF_ACTIVITY: u32 = 15;
const SEEDED: &str = "demo.activity_seeded";
/// The demo's own prescriber organisations draw at most this share of their allocation, leaving
/// room for what the demo users issue.
const DEMO_USERS_SHARE: i32 = 3;

const FIRST_NAMES: [&str; 24] = [
    "Marie",
    "Jean",
    "Monique",
    "Michel",
    "Nathalie",
    "Philippe",
    "Sylvie",
    "Alain",
    "Fatima",
    "Karim",
    "Josiane",
    "Bernard",
    "Sandrine",
    "Thierry",
    "Yasmina",
    "Gérard",
    "Chantal",
    "Patrick",
    "Léa",
    "Kevin",
    "Aïcha",
    "Christian",
    "Martine",
    "Mamadou",
];
const LAST_NAMES: [&str; 29] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
    "Benali", "Delmas",
];
/// Uneven on purpose: small counts exist for the statistics' suppression to show.
const CATEGORIES: [&str; 10] = [
    "minima_sociaux",
    "senior",
    "minima_sociaux",
    "single_parent",
    "senior",
    "low_qualified_employee",
    "parent_of_pupil",
    "social_insurance_user",
    "senior",
    "minima_sociaux",
];
const AUTONOMY: [&str; 4] = ["none", "beginner", "beginner", "intermediate"];
const NEEDS: [&str; 5] = [
    "Démarches administratives en ligne (CAF, impôts, santé)",
    "Utiliser son smartphone et ses applications",
    "Envoyer des courriels et des pièces jointes",
    "Rechercher un emploi et déposer un CV",
    "Échanger en visio avec ses proches",
];
const ORIENTATIONS: [&str; 5] = [
    "pix",
    "no_orientation",
    "clea_numerique",
    "other_scheme",
    "training_body",
];

struct Allocation {
    id: Uuid,
    prescriber_id: Uuid,
    start: NaiveDate,
    end: NaiveDate,
    room: i32,
}

struct Session {
    id: Uuid,
    epn: usize,
    starts_at: DateTime<Utc>,
    held: bool,
}

/// A holder: id, first and last names, match key, birth year, commune, public, prescriber.
type HolderRow = (Uuid, String, String, String, i16, String, String, Uuid);
/// An attendance: id, session, voucher, EPN, status, minutes debited, when recorded.
type AttendanceRow = (Uuid, Uuid, Uuid, Uuid, String, i32, DateTime<Utc>);

/// The rows of the activity, built before they are written.
#[derive(Default)]
struct Rows {
    beneficiaries: Vec<HolderRow>,
    vouchers: Vec<VoucherRow>,
    registrations: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>, String, String)>,
    modules: Vec<(Uuid, i32)>,
    attendances: Vec<AttendanceRow>,
    competences: Vec<(Uuid, String, String, DateTime<Utc>)>,
    orientations: Vec<(Uuid, String, Uuid, DateTime<Utc>)>,
}

struct VoucherRow {
    id: Uuid,
    reference: String,
    beneficiary_id: Uuid,
    prescriber_id: Uuid,
    allocation_id: Uuid,
    issued_on: NaiveDate,
    valid_until: NaiveDate,
    status: &'static str,
    minutes_left: i32,
    cancel_reason: Option<&'static str>,
}

/// The first day of the demo's activity before `today`.
pub fn first_day(today: NaiveDate) -> NaiveDate {
    (today - Months::new(MONTHS_OF_ACTIVITY))
        .with_day(1)
        .unwrap_or(today)
}

/// Writes the activity of `scheme_id` unless it was written before; returns whether it wrote.
/// The scheme's EPNs are those that offer it, its prescribers those with allocations.
pub async fn seed(
    db: &Db,
    tenant: &Tenant,
    scheme_id: Uuid,
    plan: &ActivityPlan,
) -> Result<bool, Error> {
    let detail = schemes::get(db, tenant.id, scheme_id).await?;
    let Some(version) = detail.versions.iter().min_by_key(|v| v.effective_from) else {
        return Ok(false);
    };
    let today = tenant.today();
    let start = first_day(today).max(version.effective_from);
    let rules: &SchemeRules = &version.rules;
    let module_numbers: Vec<i32> = detail.modules.iter().map(|m| m.number).collect();

    let mut tx = db.begin_tenant(tenant.id).await?;
    let seeded: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM audit_log WHERE tenant_id = $1 AND action = $2 AND object_id = $3)",
    )
    .bind(tenant.id)
    .bind(SEEDED)
    .bind(scheme_id.to_string())
    .fetch_one(&mut *tx)
    .await?;
    if seeded || start >= today || module_numbers.is_empty() {
        tx.commit().await?;
        return Ok(false);
    }
    let epns: Vec<Uuid> = sqlx::query_scalar(
        "SELECT e.id FROM epns e JOIN epn_schemes o ON o.tenant_id = e.tenant_id AND o.epn_id = e.id
          WHERE e.tenant_id = $1 AND o.scheme_id = $2 ORDER BY e.name, e.id",
    )
    .bind(tenant.id)
    .bind(scheme_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut allocations: Vec<Allocation> = sqlx::query_as::<_, (Uuid, Uuid, NaiveDate, NaiveDate, i32, i64, bool)>(
        "SELECT a.id, a.prescriber_id, a.period_start, a.period_end, a.quantity, a.issued::int8,
                EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = a.tenant_id AND u.prescriber_id = a.prescriber_id)
           FROM allocations a JOIN prescribers p ON p.tenant_id = a.tenant_id AND p.id = a.prescriber_id
          WHERE a.tenant_id = $1 AND a.scheme_id = $2 ORDER BY p.name, a.period_start",
    )
    .bind(tenant.id)
    .bind(scheme_id)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(id, prescriber_id, start, end, quantity, issued, has_users)| Allocation {
        id,
        prescriber_id,
        start,
        end,
        room: if has_users { quantity / DEMO_USERS_SHARE } else { quantity }
            - i32::try_from(issued).unwrap_or(i32::MAX),
    })
    .collect();
    let competences: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM competences WHERE referential_code = 'crcn' ORDER BY code",
    )
    .fetch_all(&mut *tx)
    .await?;
    if epns.is_empty() || allocations.is_empty() {
        tx.commit().await?;
        return Ok(false);
    }

    let sessions = sessions(&epns, start, today, plan.sessions_per_week, tenant.tz());
    let rows = build(
        plan,
        tenant,
        rules,
        &module_numbers,
        &competences,
        &mut allocations,
        &epns,
        &sessions,
        start,
        today,
    );
    write(
        &mut tx,
        tenant.id,
        scheme_id,
        version.version,
        rules,
        &module_numbers,
        &epns,
        &sessions,
        &rows,
    )
    .await?;
    audit::record(
        &mut tx,
        tenant.id,
        Actor::SYSTEM,
        SEEDED,
        "scheme",
        scheme_id,
        serde_json::json!({ "vouchers": rows.vouchers.len(), "attendances": rows.attendances.len(), "from": start }),
    )
    .await?;
    tx.commit().await?;

    // The monthly statements of every month that ended, as the worker's nightly run makes them.
    let mut month = start.with_day(1).unwrap_or(start);
    let this_month = today.with_day(1).unwrap_or(today);
    while month < this_month {
        crate::reimbursements::compute::run_month(db, tenant.id, month).await?;
        month = month + Months::new(1);
    }
    Ok(true)
}

/// Each EPN's sessions, on weekdays at 9:30 and 14:00, from `start` to four weeks after `today`:
/// those before today were held, the others are planned.
fn sessions(
    epns: &[Uuid],
    start: NaiveDate,
    today: NaiveDate,
    per_week: u32,
    tz: chrono_tz::Tz,
) -> Vec<Session> {
    let mut found = Vec::new();
    let end = today + Days::new(28);
    for (epn, _) in epns.iter().enumerate() {
        let mut day = start;
        let mut week_count = 0;
        while day <= end {
            if day.weekday() == chrono::Weekday::Mon {
                week_count = 0;
            }
            let weekday = day.weekday().num_days_from_monday() as usize;
            if weekday < 5 && week_count < per_week && (weekday + epn).is_multiple_of(2) {
                week_count += 1;
                let hour = if (day.ordinal() as usize + epn).is_multiple_of(2) {
                    NaiveTime::from_hms_opt(9, 30, 0)
                } else {
                    NaiveTime::from_hms_opt(14, 0, 0)
                }
                .unwrap_or_default();
                let starts_at = day
                    .and_time(hour)
                    .and_local_timezone(tz)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc));
                if let Some(starts_at) = starts_at {
                    found.push(Session {
                        id: Uuid::now_v7(),
                        epn,
                        starts_at,
                        held: day < today,
                    });
                }
            }
            day = day + Days::new(1);
        }
    }
    found
}

#[allow(clippy::too_many_arguments)]
fn build(
    plan: &ActivityPlan,
    tenant: &Tenant,
    rules: &SchemeRules,
    modules: &[i32],
    competences: &[String],
    allocations: &mut [Allocation],
    epns: &[Uuid],
    sessions: &[Session],
    start: NaiveDate,
    today: NaiveDate,
) -> Rows {
    let mut rows = Rows::default();
    let span = (today - start).num_days().max(1) as usize;
    let total = i32::try_from(rules.voucher_minutes).unwrap_or(i32::MAX);
    let per_session = i32::try_from(rules.session_minutes).unwrap_or(120).max(1);
    let tz = tenant.tz();
    let at = |day: NaiveDate, hour: u32| {
        day.and_hms_opt(hour, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    };
    for n in 0..plan.vouchers {
        // More vouchers in autumn and winter, as prescribers see people before the winter.
        let issued_on = start + Days::new(((n * 53 + n * n % 17) % span) as u64);
        let Some(allocation) = pick(allocations, issued_on, n) else {
            continue;
        };
        let (first, last) = (
            FIRST_NAMES[n % FIRST_NAMES.len()],
            LAST_NAMES[(n * 7 + n / FIRST_NAMES.len()) % LAST_NAMES.len()],
        );
        let birth_year = 1938 + ((n * 13) % 62) as i16;
        let commune = plan.communes[(n * n + n / 3) % plan.communes.len()];
        let beneficiary_id = Uuid::now_v7();
        rows.beneficiaries.push((
            beneficiary_id,
            first.into(),
            last.into(),
            match_key(first, last, birth_year, commune),
            birth_year,
            commune.into(),
            CATEGORIES[(n * 3 + n / 7) % CATEGORIES.len()].into(),
            allocation.prescriber_id,
        ));
        let id = Uuid::now_v7();
        let valid_until = validity::last_valid_day(issued_on, &rules.validity);
        let cancelled = n % 23 == 7;
        let mut left = total;
        // Most holders come to an EPN within ten days; some never do.
        let registered_on = issued_on + Days::new(3 + (n % 8) as u64);
        let registers = !cancelled && n % 9 != 4 && registered_on < today;
        if registers {
            let epn = n % epns.len();
            let registered_at = at(registered_on, 10);
            rows.registrations.push((
                Uuid::now_v7(),
                id,
                epns[epn],
                registered_at,
                AUTONOMY[n % AUTONOMY.len()].into(),
                NEEDS[n % NEEDS.len()].into(),
            ));
            let first_module = n % modules.len();
            for k in 0..modules.len().min(2) {
                rows.modules
                    .push((id, modules[(first_module + k) % modules.len()]));
            }
            // Every other session of the EPN, from the registration, within the voucher's validity.
            let wanted = n % (usize::try_from(total / per_session).unwrap_or(1) + 2);
            let mut taken = 0;
            let mut last_seen = registered_at;
            for (index, session) in sessions
                .iter()
                .filter(|s| s.epn == epn && s.held && s.starts_at > registered_at)
                .filter(|s| s.starts_at.with_timezone(&tz).date_naive() <= valid_until)
                .enumerate()
            {
                if taken >= wanted || left == 0 {
                    break;
                }
                if !index.is_multiple_of(2) {
                    continue;
                }
                taken += 1;
                let absent = (n + taken).is_multiple_of(9);
                let minutes = if absent { 0 } else { per_session.min(left) };
                left -= minutes;
                let recorded_at = session.starts_at + chrono::Duration::minutes(per_session.into());
                let attendance_id = Uuid::now_v7();
                last_seen = recorded_at;
                rows.attendances.push((
                    attendance_id,
                    session.id,
                    id,
                    epns[epn],
                    if absent { "absent" } else { "present" }.into(),
                    minutes,
                    recorded_at,
                ));
                if !absent && !competences.is_empty() && (n + taken).is_multiple_of(2) {
                    let level = ["discovered", "practised", "acquired"][taken.min(3) - 1];
                    rows.competences.push((
                        attendance_id,
                        competences[(n * 5 + taken) % competences.len()].clone(),
                        level.into(),
                        recorded_at,
                    ));
                }
            }
            if left < total && n % 4 != 1 {
                rows.orientations.push((
                    id,
                    ORIENTATIONS[n % ORIENTATIONS.len()].into(),
                    epns[epn],
                    last_seen,
                ));
            }
        }
        let status = if cancelled {
            "cancelled"
        } else if left == 0 {
            "completed"
        } else if valid_until < today {
            "expired"
        } else if left < total {
            "in_progress"
        } else if registers {
            "registered"
        } else {
            "issued"
        };
        rows.vouchers.push(VoucherRow {
            id,
            reference: reference::generate(&tenant.reference_prefix),
            beneficiary_id,
            prescriber_id: allocation.prescriber_id,
            allocation_id: allocation.id,
            issued_on,
            valid_until,
            status,
            minutes_left: left,
            cancel_reason: cancelled.then_some("Erreur de saisie : bon émis en double"),
        });
    }
    rows
}

/// An allocation covering `day` with room left, taken in turn among those that do.
fn pick(allocations: &mut [Allocation], day: NaiveDate, n: usize) -> Option<&Allocation> {
    let open: Vec<usize> = allocations
        .iter()
        .enumerate()
        .filter(|(_, a)| a.start <= day && day <= a.end && a.room > 0)
        .map(|(i, _)| i)
        .collect();
    let chosen = *open.get(n % open.len().max(1))?;
    allocations[chosen].room -= 1;
    Some(&allocations[chosen])
}

#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut crate::storage::Tx,
    tenant_id: Uuid,
    scheme_id: Uuid,
    rules_version: i32,
    rules: &SchemeRules,
    modules: &[i32],
    epns: &[Uuid],
    sessions: &[Session],
    rows: &Rows,
) -> Result<(), Error> {
    let b = &rows.beneficiaries;
    // `RETURNING` on each `INSERT … SELECT`: Citus then inserts the rows on each shard with an
    // INSERT, where without it it would COPY them, which row-level security refuses.
    sqlx::query(
        "INSERT INTO beneficiaries (tenant_id, id, first_name, last_name, match_key, birth_year, commune_insee,
                                    public_category, prescriber_id)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int2[], $7::text[], $8::text[], $9::uuid[])
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(b.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.1.clone()).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.2.clone()).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.3.clone()).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.4).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.5.clone()).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.6.clone()).collect::<Vec<_>>())
    .bind(b.iter().map(|r| r.7).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    let v = &rows.vouchers;
    sqlx::query(
        "INSERT INTO vouchers (tenant_id, id, reference, scheme_id, rules_version, beneficiary_id, prescriber_id,
                               allocation_id, issued_on, valid_until, status, minutes_total, minutes_left,
                               face_value_cents, cancel_reason, cancelled_at, created_at)
         SELECT $1, id, reference, $2, $3, beneficiary_id, prescriber_id, allocation_id, issued_on, valid_until,
                status, $4, minutes_left, $5, cancel_reason,
                CASE WHEN cancel_reason IS NOT NULL THEN issued_on + time '16:00' END, issued_on + time '10:00'
           FROM UNNEST($6::uuid[], $7::text[], $8::uuid[], $9::uuid[], $10::uuid[], $11::date[], $12::date[],
                       $13::text[], $14::int4[], $15::text[])
                AS r(id, reference, beneficiary_id, prescriber_id, allocation_id, issued_on, valid_until, status,
                     minutes_left, cancel_reason)
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(rules_version)
    .bind(i32::try_from(rules.voucher_minutes).unwrap_or(i32::MAX))
    .bind(rules.face_value_cents)
    .bind(v.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.reference.clone()).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.beneficiary_id).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.prescriber_id).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.allocation_id).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.issued_on).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.valid_until).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.status.to_owned()).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.minutes_left).collect::<Vec<_>>())
    .bind(v.iter().map(|r| r.cancel_reason.map(str::to_owned)).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    // Each allocation counts the vouchers issued from it and not cancelled, as issuance and
    // cancellation keep it.
    sqlx::query(
        "UPDATE allocations a SET issued = a.issued + x.n
           FROM (SELECT allocation_id, count(*)::int AS n FROM vouchers
                  WHERE tenant_id = $1 AND id = ANY($2) AND status <> 'cancelled' GROUP BY allocation_id) x
          WHERE a.tenant_id = $1 AND a.id = x.allocation_id",
    )
    .bind(tenant_id)
    .bind(v.iter().map(|r| r.id).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    let r = &rows.registrations;
    sqlx::query(
        "INSERT INTO registrations (tenant_id, id, voucher_id, epn_id, registered_at, autonomy_level, needs)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[])
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(r.iter().map(|x| x.0).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.1).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.2).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.3).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.4.clone()).collect::<Vec<_>>())
    .bind(r.iter().map(|x| x.5.clone()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO voucher_modules (tenant_id, voucher_id, scheme_id, module_number)
         SELECT $1, voucher_id, $2, module_number FROM UNNEST($3::uuid[], $4::int4[]) AS m(voucher_id, module_number)
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(rows.modules.iter().map(|m| m.0).collect::<Vec<_>>())
    .bind(rows.modules.iter().map(|m| m.1).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO sessions (tenant_id, id, epn_id, scheme_id, module_number, starts_at, duration_minutes, capacity, status)
         SELECT $1, id, epn_id, $2, module_number, starts_at, $3, 12, status
           FROM UNNEST($4::uuid[], $5::uuid[], $6::int4[], $7::timestamptz[], $8::text[])
                AS s(id, epn_id, module_number, starts_at, status)
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(i32::try_from(rules.session_minutes).unwrap_or(120))
    .bind(sessions.iter().map(|s| s.id).collect::<Vec<_>>())
    .bind(sessions.iter().map(|s| epns[s.epn]).collect::<Vec<_>>())
    .bind(
        sessions
            .iter()
            .enumerate()
            .map(|(i, _)| modules[i % modules.len()])
            .collect::<Vec<_>>(),
    )
    .bind(sessions.iter().map(|s| s.starts_at).collect::<Vec<_>>())
    .bind(
        sessions
            .iter()
            .map(|s| if s.held { "held" } else { "planned" }.to_owned())
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    let a = &rows.attendances;
    sqlx::query(
        "INSERT INTO attendances (tenant_id, id, session_id, voucher_id, epn_id, status, minutes_debited, recorded_at)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::int4[], $8::timestamptz[])
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(a.iter().map(|x| x.0).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.1).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.2).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.3).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.4.clone()).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.5).collect::<Vec<_>>())
    .bind(a.iter().map(|x| x.6).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    let c = &rows.competences;
    sqlx::query(
        "INSERT INTO attendance_competences (tenant_id, attendance_id, referential_code, competence_code, level, recorded_at)
         SELECT $1, attendance_id, 'crcn', code, level, recorded_at
           FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::timestamptz[]) AS c(attendance_id, code, level, recorded_at)
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(c.iter().map(|x| x.0).collect::<Vec<_>>())
    .bind(c.iter().map(|x| x.1.clone()).collect::<Vec<_>>())
    .bind(c.iter().map(|x| x.2.clone()).collect::<Vec<_>>())
    .bind(c.iter().map(|x| x.3).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    let o = &rows.orientations;
    sqlx::query(
        "INSERT INTO voucher_orientations (tenant_id, voucher_id, kind, epn_id, recorded_at)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::timestamptz[])
         RETURNING 1",
    )
    .bind(tenant_id)
    .bind(o.iter().map(|x| x.0).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.1.clone()).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.2).collect::<Vec<_>>())
    .bind(o.iter().map(|x| x.3).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
