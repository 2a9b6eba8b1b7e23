//! The funder's dashboard: three small series read straight from the tenant's data over the last
//! twelve months, with the published files' rule for small counts — a figure that fewer holders
//! than the tenant's threshold make up is withheld (zero is shown: it discloses no one). No series
//! shows a total next to its parts, so no cell can be found by difference.

use chrono::{Months, NaiveDate};
use uuid::Uuid;

use super::tenant_settings;
use crate::beneficiaries::PublicCategory;
use crate::delivery::overview::start_of_day;
use crate::tenancy::tenants;
use crate::{Db, Error};

/// A figure, or `None` when withheld.
pub type Figure = Option<i64>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    pub month: NaiveDate,
    pub issued: Figure,
    pub completed: Figure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpnHours {
    pub epn: String,
    pub minutes: Figure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCompletion {
    pub category: PublicCategory,
    pub issued: Figure,
    pub completed: Figure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    pub threshold: i32,
    pub first_month: NaiveDate,
    pub months: Vec<MonthFigures>,
    pub epns: Vec<EpnHours>,
    pub categories: Vec<CategoryCompletion>,
}

fn shown(value: i64, holders: i64, threshold: i32) -> Figure {
    (holders == 0 || holders >= i64::from(threshold)).then_some(value)
}

/// The twelve months up to the current one, in the tenant's time zone.
/// `funder`: only the vouchers that funder co-finances (a funder's staff read their funder's scope).
pub async fn dashboard(
    db: &Db,
    tenant_id: Uuid,
    scheme_id: Option<Uuid>,
    funder: Option<Uuid>,
) -> Result<Dashboard, Error> {
    let tenant = tenants::get(db, tenant_id).await?;
    let (threshold, _) = tenant_settings(db, tenant_id).await?;
    let today = tenant.today();
    let this_month = NaiveDate::from_ymd_opt(
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        1,
    )
    .unwrap_or(today);
    let first_month = this_month
        .checked_sub_months(Months::new(11))
        .unwrap_or(this_month);
    let since = start_of_day(first_month, tenant.tz());
    let mut tx = db.begin_tenant(tenant_id).await?;

    let issued: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT date_trunc('month', issued_on)::date, count(*) FROM vouchers
          WHERE tenant_id = $3 AND issued_on >= $1 AND status <> 'cancelled' AND ($2::uuid IS NULL OR scheme_id = $2)
            AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM voucher_funders vf
                                             WHERE vf.tenant_id = vouchers.tenant_id AND vf.voucher_id = vouchers.id
                                               AND vf.funder_id = $4))
          GROUP BY 1",
    )
    .bind(first_month)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .bind(funder)
    .fetch_all(&mut *tx)
    .await?;
    // A voucher completes with the attendance that uses its last minute.
    let completed: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT date_trunc('month', last_at AT TIME ZONE $3)::date, count(*) FROM (
             SELECT v.id, max(a.recorded_at) AS last_at FROM vouchers v
               JOIN attendances a ON a.tenant_id = v.tenant_id AND a.voucher_id = v.id AND a.voided_at IS NULL
              WHERE v.tenant_id = $4 AND v.status = 'completed' AND ($2::uuid IS NULL OR v.scheme_id = $2)
                AND ($5::uuid IS NULL OR EXISTS (SELECT 1 FROM voucher_funders vf
                                             WHERE vf.tenant_id = v.tenant_id AND vf.voucher_id = v.id AND vf.funder_id = $5))
              GROUP BY v.id) done
          WHERE last_at >= $1 GROUP BY 1",
    )
    .bind(since)
    .bind(scheme_id)
    .bind(&tenant.time_zone)
    .bind(tx.tenant_id())
    .bind(funder)
    .fetch_all(&mut *tx)
    .await?;
    let hours: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT e.name, coalesce(sum(a.minutes_debited), 0)::bigint, count(DISTINCT a.voucher_id)
           FROM attendances a
           JOIN epns e ON e.tenant_id = a.tenant_id AND e.id = a.epn_id
           JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_id
          WHERE a.tenant_id = $3 AND a.voided_at IS NULL AND a.status = 'present' AND s.starts_at >= $1
            AND ($2::uuid IS NULL OR s.scheme_id = $2)
            AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM voucher_funders vf
                                             WHERE vf.tenant_id = a.tenant_id AND vf.voucher_id = a.voucher_id
                                               AND vf.funder_id = $4))
          GROUP BY e.name ORDER BY 2 DESC, 1 LIMIT 30",
    )
    .bind(since)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .bind(funder)
    .fetch_all(&mut *tx)
    .await?;
    let categories: Vec<(PublicCategory, i64, i64)> = sqlx::query_as(
        "SELECT b.public_category, count(*), count(*) FILTER (WHERE v.status = 'completed')
           FROM vouchers v JOIN beneficiaries b ON b.tenant_id = v.tenant_id AND b.id = v.beneficiary_id
          WHERE v.tenant_id = $3 AND v.issued_on >= $1 AND v.status <> 'cancelled' AND ($2::uuid IS NULL OR v.scheme_id = $2)
            AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM voucher_funders vf
                                             WHERE vf.tenant_id = v.tenant_id AND vf.voucher_id = v.id AND vf.funder_id = $4))
          GROUP BY 1 ORDER BY 1",
    )
    .bind(first_month)
    .bind(scheme_id)
    .bind(tx.tenant_id())
    .bind(funder)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let months = (0..12)
        .filter_map(|i| first_month.checked_add_months(Months::new(i)))
        .map(|month| {
            let find = |rows: &[(NaiveDate, i64)]| {
                rows.iter()
                    .find(|(m, _)| *m == month)
                    .map_or(0, |(_, n)| *n)
            };
            let (issued, completed) = (find(&issued), find(&completed));
            MonthFigures {
                month,
                issued: shown(issued, issued, threshold),
                completed: shown(completed, completed, threshold),
            }
        })
        .collect();
    Ok(Dashboard {
        threshold,
        first_month,
        months,
        epns: hours
            .into_iter()
            .map(|(epn, minutes, holders)| EpnHours {
                epn,
                minutes: shown(minutes, holders, threshold),
            })
            .collect(),
        categories: categories
            .into_iter()
            .map(|(category, issued, completed)| CategoryCompletion {
                category,
                issued: shown(issued, issued, threshold),
                completed: shown(completed, completed, threshold),
            })
            .collect(),
    })
}
