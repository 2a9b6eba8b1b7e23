//! A scheme's funding plan (« plan de financement »): who pays what share of its statement lines,
//! up to which cap, over which period, for which publics and prescribers. Versioned like the
//! rules: a new version applies to the vouchers issued from its date on, and a voucher keeps the
//! funders of the version in force on its issue date (`attach`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::beneficiaries::PublicCategory;
use crate::error::Validator;
use crate::reimbursements::split::WHOLE;
use crate::storage::Tx;
use crate::tenancy::tenants;
use crate::{Db, Error};

/// What a funder pays of each line of a voucher it co-finances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FundingShare {
    /// A share of each line, in basis points (2,500 = 25 %).
    BasisPoints(u32),
    /// A fixed amount per voucher, in cents, taken from each line in proportion to the voucher's
    /// face value until it is reached.
    FixedPerVoucher(i64),
}

/// One funder's part of a plan, in cascade order: what its cap cannot take goes to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingLine {
    pub funder_id: Uuid,
    pub share: FundingShare,
    /// The most it pays for the scheme over every voucher and month, in cents.
    pub cap_cents: Option<i64>,
    /// It pays for sessions from this day on.
    pub period_start: Option<NaiveDate>,
    /// It pays for sessions up to this day.
    pub period_end: Option<NaiveDate>,
    /// It co-finances only the vouchers of these publics (`None`: every public).
    pub eligible_publics: Option<Vec<PublicCategory>>,
    /// It co-finances only the vouchers of these prescribers (`None`: every prescriber).
    pub eligible_prescribers: Option<Vec<Uuid>>,
}

#[derive(Debug, Clone)]
pub struct PlanVersion {
    pub version: i32,
    pub effective_from: NaiveDate,
    pub created_at: DateTime<Utc>,
    /// In cascade order; empty: the territory pays alone from this date.
    pub lines: Vec<FundingLine>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    version: i32,
    funder_id: Uuid,
    share_basis_points: Option<i32>,
    fixed_cents: Option<i64>,
    cap_cents: Option<i64>,
    period_start: Option<NaiveDate>,
    period_end: Option<NaiveDate>,
    eligible_publics: Option<Vec<PublicCategory>>,
    eligible_prescribers: Option<Vec<Uuid>>,
}

impl From<LineRow> for FundingLine {
    fn from(row: LineRow) -> Self {
        let share = match (row.share_basis_points, row.fixed_cents) {
            (Some(points), _) => FundingShare::BasisPoints(points.unsigned_abs()),
            (None, fixed) => FundingShare::FixedPerVoucher(fixed.unwrap_or(0)),
        };
        Self {
            funder_id: row.funder_id,
            share,
            cap_cents: row.cap_cents,
            period_start: row.period_start,
            period_end: row.period_end,
            eligible_publics: row.eligible_publics,
            eligible_prescribers: row.eligible_prescribers,
        }
    }
}

/// The most funders a plan has.
pub const MAX_LINES: usize = 20;

fn validate(lines: &[FundingLine]) -> Result<(), Error> {
    let mut v = Validator::default();
    v.check(
        lines.len() <= MAX_LINES,
        "lines",
        format!("at most {MAX_LINES} funders"),
    );
    let mut seen = std::collections::HashSet::new();
    let mut points: u64 = 0;
    for (i, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        v.check(
            seen.insert(line.funder_id),
            &field("funder_id"),
            "a funder appears once in a plan",
        );
        match line.share {
            FundingShare::BasisPoints(p) => {
                v.check(
                    (1..=WHOLE).contains(&p),
                    &field("share_basis_points"),
                    "between 1 and 10000 (0.01 % to 100 %)",
                );
                points += u64::from(p);
            }
            FundingShare::FixedPerVoucher(cents) => {
                v.check(cents > 0, &field("fixed_cents_per_voucher"), "more than 0");
            }
        }
        v.check(
            line.cap_cents.is_none_or(|c| c >= 0),
            &field("cap_cents"),
            "0 or more",
        );
        v.check(
            match (line.period_start, line.period_end) {
                (Some(start), Some(end)) => start <= end,
                _ => true,
            },
            &field("period_end"),
            "on or after period_start",
        );
        v.check(
            line.eligible_publics.as_ref().is_none_or(|p| !p.is_empty()),
            &field("eligible_publics"),
            "at least one public, or leave it out for every public",
        );
        v.check(
            line.eligible_prescribers
                .as_ref()
                .is_none_or(|p| !p.is_empty() && p.len() <= 1000),
            &field("eligible_prescribers"),
            "between 1 and 1000 prescribers, or leave it out for every prescriber",
        );
    }
    v.check(
        points <= u64::from(WHOLE),
        "lines",
        "the funders' shares add up to at most 100 % (10000 basis points)",
    );
    v.finish()
}

/// Writes a new version of the plan, in force from `effective_from` (today or later, after the
/// latest version's date). Vouchers already issued keep the funders they were issued with.
pub async fn change(
    db: &Db,
    tenant_id: Uuid,
    actor: Actor,
    scheme_id: Uuid,
    effective_from: NaiveDate,
    lines: &[FundingLine],
) -> Result<Vec<PlanVersion>, Error> {
    validate(lines)?;
    let today = tenants::get(db, tenant_id).await?.today();
    if effective_from < today {
        return Err(Error::invalid(
            "effective_from",
            format!("must be today ({today}) or later: a funding plan never changes in the past"),
        ));
    }
    let mut tx = db.begin_tenant(tenant_id).await?;
    let scheme: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM schemes WHERE tenant_id = $2 AND id = $1 FOR UPDATE")
            .bind(scheme_id)
            .bind(tx.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
    if scheme.is_none() {
        return Err(Error::NotFound("scheme"));
    }
    let prescribers: Vec<Uuid> = lines
        .iter()
        .flat_map(|l| l.eligible_prescribers.iter().flatten().copied())
        .collect();
    let unknown: Option<Uuid> = sqlx::query_scalar(
        "SELECT p.id FROM unnest($1::uuid[]) AS p(id)
          WHERE NOT EXISTS (SELECT 1 FROM prescribers x WHERE x.tenant_id = $2 AND x.id = p.id) LIMIT 1",
    )
    .bind(&prescribers)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(unknown) = unknown {
        return Err(Error::invalid(
            "eligible_prescribers",
            format!("no such prescriber in this tenant: {unknown}"),
        ));
    }
    let latest: Option<(i32, NaiveDate)> = sqlx::query_as(
        "SELECT version, effective_from FROM scheme_fundings WHERE tenant_id = $2 AND scheme_id = $1
          ORDER BY version DESC LIMIT 1",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((_, latest_from)) = latest
        && effective_from < latest_from
    {
        return Err(Error::invalid(
            "effective_from",
            format!("must not be before the latest version's start ({latest_from})"),
        ));
    }
    let version = latest.map_or(1, |(v, _)| v + 1);
    sqlx::query(
        "INSERT INTO scheme_fundings (tenant_id, scheme_id, version, effective_from, created_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant_id)
    .bind(scheme_id)
    .bind(version)
    .bind(effective_from)
    .bind(actor.user_id)
    .execute(&mut *tx)
    .await?;
    for (i, line) in lines.iter().enumerate() {
        let (points, fixed) = match line.share {
            FundingShare::BasisPoints(p) => (Some(i32::try_from(p).unwrap_or(i32::MAX)), None),
            FundingShare::FixedPerVoucher(c) => (None, Some(c)),
        };
        sqlx::query(
            "INSERT INTO scheme_funding_lines (tenant_id, scheme_id, version, position, funder_id, share_basis_points,
                                               fixed_cents, cap_cents, period_start, period_end, eligible_publics,
                                               eligible_prescribers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(tenant_id)
        .bind(scheme_id)
        .bind(version)
        .bind(i32::try_from(i + 1).unwrap_or(i32::MAX))
        .bind(line.funder_id)
        .bind(points)
        .bind(fixed)
        .bind(line.cap_cents)
        .bind(line.period_start)
        .bind(line.period_end)
        .bind(&line.eligible_publics)
        .bind(&line.eligible_prescribers)
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        tenant_id,
        actor,
        "scheme.funding_changed",
        "scheme",
        scheme_id,
        json!({ "version": version, "effective_from": effective_from, "funders": lines.len() }),
    )
    .await?;
    let versions = versions_in(&mut tx, scheme_id).await?;
    tx.commit().await?;
    Ok(versions)
}

/// Every version of a scheme's plan, oldest first.
pub async fn versions(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Uuid,
) -> Result<Vec<PlanVersion>, Error> {
    let mut tx = db.begin_tenant(tenant_id).await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM schemes WHERE tenant_id = $2 AND id = $1)",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_one(&mut *tx)
    .await?;
    if !exists {
        return Err(Error::NotFound("scheme"));
    }
    let versions = versions_in(&mut tx, scheme_id).await?;
    tx.commit().await?;
    Ok(versions)
}

async fn versions_in(tx: &mut Tx, scheme_id: Uuid) -> Result<Vec<PlanVersion>, Error> {
    let heads: Vec<(i32, NaiveDate, DateTime<Utc>)> = sqlx::query_as(
        "SELECT version, effective_from, created_at FROM scheme_fundings
          WHERE tenant_id = $2 AND scheme_id = $1 ORDER BY version",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    let rows: Vec<LineRow> = sqlx::query_as(
        "SELECT version, funder_id, share_basis_points, fixed_cents, cap_cents, period_start, period_end,
                eligible_publics, eligible_prescribers
           FROM scheme_funding_lines WHERE tenant_id = $2 AND scheme_id = $1 ORDER BY version, position",
    )
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    let mut versions: Vec<PlanVersion> = heads
        .into_iter()
        .map(|(version, effective_from, created_at)| PlanVersion {
            version,
            effective_from,
            created_at,
            lines: Vec::new(),
        })
        .collect();
    for row in rows {
        if let Some(v) = versions.iter_mut().find(|v| v.version == row.version) {
            v.lines.push(row.into());
        }
    }
    Ok(versions)
}

/// Records the funders a voucher just issued is co-financed by: the lines of the plan in force on
/// its issue date whose publics and prescribers include it and whose period meets its validity.
pub(crate) async fn attach(
    tx: &mut Tx,
    voucher_id: Uuid,
    scheme_id: Uuid,
    public: PublicCategory,
    prescriber_id: Uuid,
    issued_on: NaiveDate,
    valid_until: NaiveDate,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO voucher_funders (tenant_id, voucher_id, scheme_id, funding_version, position, funder_id)
         SELECT fl.tenant_id, $2, fl.scheme_id, fl.version, fl.position, fl.funder_id
           FROM scheme_funding_lines fl
          WHERE fl.tenant_id = $1 AND fl.scheme_id = $3
            AND fl.version = (SELECT max(f.version) FROM scheme_fundings f
                               WHERE f.tenant_id = $1 AND f.scheme_id = $3 AND f.effective_from <= $6)
            AND (fl.eligible_publics IS NULL OR $4 = ANY (fl.eligible_publics))
            AND (fl.eligible_prescribers IS NULL OR $5 = ANY (fl.eligible_prescribers))
            AND (fl.period_end IS NULL OR fl.period_end >= $6)
            AND (fl.period_start IS NULL OR fl.period_start <= $7)
         RETURNING 1",
    )
    .bind(tx.tenant_id())
    .bind(voucher_id)
    .bind(scheme_id)
    .bind(public.as_str())
    .bind(prescriber_id)
    .bind(issued_on)
    .bind(valid_until)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(share: FundingShare) -> FundingLine {
        FundingLine {
            funder_id: Uuid::new_v4(),
            share,
            cap_cents: None,
            period_start: None,
            period_end: None,
            eligible_publics: None,
            eligible_prescribers: None,
        }
    }

    #[test]
    fn shares_over_the_whole_line_are_refused() {
        let ok = [
            line(FundingShare::BasisPoints(6_000)),
            line(FundingShare::BasisPoints(4_000)),
        ];
        assert!(validate(&ok).is_ok());
        let over = [
            line(FundingShare::BasisPoints(6_000)),
            line(FundingShare::BasisPoints(4_001)),
        ];
        assert!(validate(&over).is_err());
    }

    #[test]
    fn a_funder_appears_once_and_periods_run_forward() {
        let twice = line(FundingShare::BasisPoints(1_000));
        assert!(validate(&[twice.clone(), twice]).is_err());
        let mut backwards = line(FundingShare::FixedPerVoucher(5_000));
        backwards.period_start = NaiveDate::from_ymd_opt(2027, 2, 1);
        backwards.period_end = NaiveDate::from_ymd_opt(2027, 1, 1);
        assert!(validate(&[backwards]).is_err());
        assert!(validate(&[line(FundingShare::FixedPerVoucher(0))]).is_err());
        let mut nobody = line(FundingShare::BasisPoints(1_000));
        nobody.eligible_publics = Some(Vec::new());
        assert!(validate(&[nobody]).is_err());
    }
}
