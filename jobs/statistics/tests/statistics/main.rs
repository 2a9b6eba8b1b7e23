//! The statistics job against a generated tenant: every indicator against an independent SQL
//! query, the Parquet files read back by pyarrow, suppression in the published files, no personal
//! data anywhere, and a failure recorded with its reason.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::NaiveDate;
use passerelle_core::audit::Actor;
use passerelle_core::reimbursements;
use passerelle_core::statistics::{self, ExportFile, ExportStatus};
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_test_support::activity::{self, ActivitySpec};
use passerelle_test_support::{TestDatabase, active_ticket_net, create_tenant};
use serde_json::Value;
use uuid::Uuid;

struct Generated {
    db: TestDatabase,
    tenant_id: Uuid,
    scheme_id: Uuid,
    dir: PathBuf,
}

impl Drop for Generated {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

/// 600 vouchers over 2026 in 6 EPNs; October's statements computed and approved.
async fn generated() -> Generated {
    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let scheme_id = active_ticket_net(&db.app, tenant.id, None, Some(date(2026, 1, 1))).await;
    activity::generate(
        &db,
        tenant.id,
        scheme_id,
        ActivitySpec {
            vouchers: 600,
            epns: 6,
            sessions_per_epn: 61,
            max_attendance: 5,
            first_day: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"),
            bulk: false,
        },
    )
    .await;
    reimbursements::run_month(&db.app, tenant.id, date(2026, 10, 1))
        .await
        .expect("reimbursements");
    let mut tx = db.app.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query("UPDATE statements SET status = 'approved', approved_at = now() WHERE month >= '2026-09-01'")
        .execute(&mut *tx)
        .await
        .expect("approve");
    tx.commit().await.expect("commit");
    Generated {
        db,
        tenant_id: tenant.id,
        scheme_id,
        dir: std::env::temp_dir()
            .join(format!("passerelle-statistics-{}", Uuid::new_v4().simple())),
    }
}

impl Generated {
    async fn export(&self, period: &str) -> (statistics::Export, Vec<ExportFile>) {
        let export = statistics::request(
            &self.db.app,
            self.tenant_id,
            Actor::SYSTEM,
            self.scheme_id,
            period,
        )
        .await
        .expect("request");
        assert_eq!(export.status, ExportStatus::Queued);
        passerelle_statistics::run_export(&self.db.app, &self.dir, self.tenant_id, export.id)
            .await
            .expect("export")
            .expect("not yet finished");
        let (export, files) = statistics::get(&self.db.app, self.tenant_id, export.id, true)
            .await
            .expect("get");
        assert_eq!(export.status, ExportStatus::Succeeded, "{:?}", export.error);
        (export, files)
    }

    fn path(&self, export: &statistics::Export, name: &str) -> PathBuf {
        export.folder(&self.dir, self.tenant_id).join(name)
    }
}

/// Reads a Parquet file with pyarrow: its schema, row count and rows.
fn pyarrow(path: &Path) -> Value {
    let script = r#"
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
meta = pq.ParquetFile(sys.argv[1]).metadata
codecs = sorted({meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)})
print(json.dumps({"schema": [[f.name, str(f.type)] for f in table.schema], "rows": table.num_rows,
                  "codecs": codecs, "records": table.to_pylist()}, default=str))
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("python3 runs (make test installs pyarrow)");
    assert!(
        output.status.success(),
        "pyarrow could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the reader")
}

type Key = (String, String, String);

fn indicator_rows(parquet: &Value) -> BTreeMap<Key, (Option<f64>, bool)> {
    parquet["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                (
                    r["dimension"].as_str().expect("dimension").to_owned(),
                    r["valeur_dimension"].as_str().expect("value").to_owned(),
                    r["indicateur"].as_str().expect("indicator").to_owned(),
                ),
                (r["valeur"].as_f64(), r["masque"].as_bool().expect("flag")),
            )
        })
        .collect()
}

/// The holders' dimensions, for vouchers issued before `$2`, written without the job's code.
const HOLDERS: &str = "
    SELECT v.id, v.status, v.issued_on, v.participation_fee_cents AS fee, v.minutes_left, v.minutes_total, v.valid_until, b.public_category, p.name AS prescriber, p.kind AS prescriber_kind,
           coalesce(b.commune_insee, 'Non renseignée') AS commune,
           CASE WHEN b.commune_insee IS NULL THEN 'Non renseigné' WHEN b.commune_insee LIKE '97%'
                THEN left(b.commune_insee, 3) ELSE left(b.commune_insee, 2) END AS departement,
           CASE WHEN b.birth_year IS NULL THEN 'Non renseigné'
                WHEN $3 - b.birth_year < 25 THEN 'Moins de 25 ans' WHEN $3 - b.birth_year < 45 THEN '25 à 44 ans'
                WHEN $3 - b.birth_year < 60 THEN '45 à 59 ans' WHEN $3 - b.birth_year < 75 THEN '60 à 74 ans'
                ELSE '75 ans et plus' END AS age_band,
           coalesce((SELECT e.name FROM registrations r JOIN epns e ON e.id = r.epn_id WHERE r.voucher_id = v.id
                     ORDER BY r.ended_at IS NULL DESC, r.registered_at DESC LIMIT 1), 'Non inscrit') AS epn,
           EXISTS (SELECT 1 FROM registrations r WHERE r.voucher_id = v.id) AS registered,
           coalesce((SELECT o.kind FROM voucher_orientations o WHERE o.voucher_id = v.id), 'non_renseignee') AS orientation,
           (SELECT min((s.starts_at AT TIME ZONE 'Europe/Paris')::date) FROM attendances a JOIN sessions s ON s.id = a.session_id
             WHERE a.voucher_id = v.id AND a.voided_at IS NULL AND a.status = 'present') AS first_day,
           (SELECT coalesce(sum(a.minutes_debited), 0) FROM attendances a WHERE a.voucher_id = v.id AND a.voided_at IS NULL) AS minutes_used
    FROM vouchers v JOIN beneficiaries b ON b.id = v.beneficiary_id JOIN prescribers p ON p.id = v.prescriber_id
    WHERE v.issued_on < $2";

fn by_dimension(source: &str) -> String {
    format!(
        "SELECT 'ensemble' AS dimension, 'Ensemble' AS value, h.* FROM {source} h
         UNION ALL SELECT 'prescripteur', h.prescriber, h.* FROM {source} h
         UNION ALL SELECT 'type_prescripteur', h.prescriber_kind, h.* FROM {source} h
         UNION ALL SELECT 'categorie_public', h.public_category, h.* FROM {source} h
         UNION ALL SELECT 'tranche_age', h.age_band, h.* FROM {source} h
         UNION ALL SELECT 'commune', h.commune, h.* FROM {source} h
         UNION ALL SELECT 'departement', h.departement, h.* FROM {source} h
         UNION ALL SELECT 'orientation', h.orientation, h.* FROM {source} h"
    )
}

/// Every indicator of the period, computed by plain SQL.
async fn expected_indicators(
    g: &Generated,
    start: NaiveDate,
    end: NaiveDate,
) -> BTreeMap<Key, Option<f64>> {
    let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");
    let mut expected = BTreeMap::new();
    let cohort = format!(
        "WITH h AS ({HOLDERS}), c AS (SELECT * FROM h WHERE issued_on >= $1),
         d AS ({dims}
               UNION ALL SELECT 'epn', c.epn, c.* FROM c c
               UNION ALL SELECT 'module', vm.module_number || '. ' || m.title, c.* FROM c c
                 JOIN voucher_modules vm ON vm.voucher_id = c.id
                 JOIN scheme_modules m ON m.scheme_id = vm.scheme_id AND m.number = vm.module_number)
         SELECT dimension, value,
                count(*)::float8, (count(*) FILTER (WHERE registered))::float8,
                (count(*) FILTER (WHERE first_day IS NOT NULL))::float8,
                (count(*) FILTER (WHERE status = 'completed'))::float8,
                (count(*) FILTER (WHERE minutes_left = minutes_total
                                   AND (status = 'expired' OR (status IN ('issued', 'registered')
                                        AND valid_until < (now() AT TIME ZONE 'Europe/Paris')::date))))::float8,
                (count(*) FILTER (WHERE status = 'cancelled'))::float8,
                (count(*) FILTER (WHERE first_day IS NOT NULL))::float8 / count(*),
                (count(*) FILTER (WHERE status = 'completed'))::float8 / count(*),
                sum(minutes_used)::float8 / 60 / nullif(count(*) FILTER (WHERE first_day IS NOT NULL), 0),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY first_day - issued_on),
                percentile_cont(0.9) WITHIN GROUP (ORDER BY first_day - issued_on),
                sum(fee)::float8 / 100
         FROM d GROUP BY dimension, value",
        dims = by_dimension("c")
    );
    let names = [
        "bons_emis",
        "bons_inscrits",
        "bons_demarres",
        "bons_termines",
        "bons_expires_sans_usage",
        "bons_annules",
        "taux_activation",
        "taux_achevement",
        "heures_moyennes_par_bon",
        "jours_premiere_seance_mediane",
        "jours_premiere_seance_p90",
        "participations_eur",
    ];
    let rows = sqlx::query(sqlx::AssertSqlSafe(cohort))
        .bind(start)
        .bind(end)
        .bind(2026)
        .fetch_all(&mut *tx)
        .await
        .expect("cohort SQL");
    for row in rows {
        use sqlx::Row;
        let (dimension, value): (String, String) = (row.get(0), row.get(1));
        for (i, name) in names.iter().enumerate() {
            let figure: Option<f64> = row.get(i + 2);
            expected.insert(
                (dimension.clone(), value.clone(), (*name).to_owned()),
                figure,
            );
        }
    }

    let hours = format!(
        "WITH h AS ({HOLDERS}),
         a AS (SELECT a.voucher_id AS id, a.minutes_debited AS minutes, e.name AS epn,
                      coalesce(s.module_number || '. ' || m.title, 'Sans module') AS module
               FROM attendances a JOIN sessions s ON s.id = a.session_id JOIN epns e ON e.id = s.epn_id
               LEFT JOIN scheme_modules m ON m.scheme_id = s.scheme_id AND m.number = s.module_number
               WHERE a.voided_at IS NULL AND a.status = 'present'
                 AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date >= $1
                 AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date < $2),
         ha AS (SELECT h.*, a.minutes FROM h JOIN a ON a.id = h.id),
         d AS ({dims})
         SELECT dimension, value, sum(minutes)::float8 / 60 FROM d GROUP BY 1, 2
         UNION ALL SELECT 'epn', epn, sum(minutes)::float8 / 60 FROM a GROUP BY 2
         UNION ALL SELECT 'module', module, sum(minutes)::float8 / 60 FROM a GROUP BY 2",
        dims = by_dimension("ha")
    );
    let amounts = format!(
        "WITH h AS ({HOLDERS}),
         l AS (SELECT l.voucher_id AS id, l.amount_cents AS cents, e.name AS epn
               FROM statement_lines l JOIN statements st ON st.id = l.statement_id JOIN epns e ON e.id = st.epn_id
               WHERE st.status IN ('approved', 'paid') AND st.month >= $1 AND st.month < $2),
         hl AS (SELECT h.*, l.cents FROM h JOIN l ON l.id = h.id),
         d AS ({dims})
         SELECT dimension, value, sum(cents)::float8 / 100 FROM d GROUP BY 1, 2
         UNION ALL SELECT 'epn', epn, sum(cents)::float8 / 100 FROM l GROUP BY 2",
        dims = by_dimension("hl")
    );
    for (indicator, sql) in [
        ("heures_realisees", hours),
        ("montant_rembourse_eur", amounts),
    ] {
        let rows: Vec<(String, String, Option<f64>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(start)
            .bind(end)
            .bind(2026)
            .fetch_all(&mut *tx)
            .await
            .expect("activity SQL");
        for (dimension, value, figure) in rows {
            expected.insert((dimension, value, indicator.to_owned()), figure);
        }
    }
    let consumed: Option<f64> = sqlx::query_scalar(
        "SELECT sum(l.amount_cents)::float8 / 100 FROM statement_lines l JOIN statements st ON st.id = l.statement_id
         WHERE st.status IN ('approved', 'paid') AND st.month < $1",
    )
    .bind(end)
    .fetch_one(&mut *tx)
    .await
    .expect("budget SQL");
    // The Ticket Net preset has no envelope: the rate is empty and the numerator is what was paid.
    expected.insert(
        (
            "ensemble".into(),
            "Ensemble".into(),
            "budget_consomme".into(),
        ),
        None,
    );
    tx.commit().await.expect("commit");
    expected.insert(
        ("budget_numerateur".into(), String::new(), String::new()),
        consumed.or(Some(0.0)),
    );
    expected
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() < 1e-9 * a.abs().max(1.0),
        _ => false,
    }
}

#[tokio::test]
async fn every_indicator_equals_an_independent_sql_query() {
    let g = generated().await;
    let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");
    // Vouchers never registered (so never used: the generator leaves their balance at half) whose
    // validity ended yesterday, which the daily run has not marked expired yet: expired unused
    // for the prescriber's funnel and for the statistics alike.
    let lagging = sqlx::query(
        "UPDATE vouchers SET valid_until = (now() AT TIME ZONE 'Europe/Paris')::date - 1,
                             minutes_left = minutes_total
          WHERE id IN (SELECT id FROM vouchers
                        WHERE status = 'issued'
                          AND issued_on < (now() AT TIME ZONE 'Europe/Paris')::date - 1
                        ORDER BY id LIMIT 7)",
    )
    .execute(&mut *tx)
    .await
    .expect("end some vouchers' validity")
    .rows_affected();
    assert_eq!(lagging, 7);
    let prescribers: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, name FROM prescribers")
        .fetch_all(&mut *tx)
        .await
        .expect("prescribers");
    tx.commit().await.expect("commit");
    for (period, start, end) in [
        ("2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1)),
    ] {
        let (export, files) = g.export(period).await;
        assert!(files.iter().any(|f| f.name == "indicators.parquet"));
        let parquet = pyarrow(&g.path(&export, "indicators.parquet"));
        let records = parquet["records"].as_array().expect("records");
        let mut expected = expected_indicators(&g, start, end).await;
        let consumed = expected
            .remove(&("budget_numerateur".into(), String::new(), String::new()))
            .flatten();
        let budget = records
            .iter()
            .find(|r| r["indicateur"] == "budget_consomme")
            .expect("budget row");
        assert!(
            close(budget["numerateur"].as_f64(), consumed),
            "budget: {budget} vs {consumed:?}"
        );

        let actual: BTreeMap<Key, Option<f64>> = indicator_rows(&parquet)
            .into_iter()
            .map(|(k, (v, masked))| {
                assert!(!masked, "the full file blanks nothing");
                (k, v)
            })
            .collect();
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !actual.contains_key(*k))
            .collect();
        let extra: Vec<_> = actual
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{period}: missing {missing:?}, extra {extra:?}"
        );
        for (key, value) in &expected {
            assert!(
                close(actual[key], *value),
                "{period} {key:?}: job {:?}, SQL {value:?}",
                actual[key]
            );
        }
        // The indicators the issue lists are all there, for the whole scheme.
        let names: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r["indicateur"].as_str())
            .collect();
        assert_eq!(names.len(), 15, "{names:?}");
        let dimensions: BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r["dimension"].as_str())
            .collect();
        assert_eq!(
            dimensions,
            BTreeSet::from([
                "ensemble",
                "prescripteur",
                "type_prescripteur",
                "categorie_public",
                "tranche_age",
                "commune",
                "departement",
                "orientation",
                "epn",
                "module"
            ])
        );
        // Known numbers: the generator issues 600 vouchers over the year.
        if period == "2026" {
            let issued = &actual[&("ensemble".into(), "Ensemble".into(), "bons_emis".into())];
            assert_eq!(*issued, Some(600.0));
            // Each prescriber's funnel counts its expired unused vouchers as the statistics do.
            let today = passerelle_test_support::paris_today();
            let mut total = 0;
            for (id, name) in &prescribers {
                let funnel = passerelle_core::prescribers::funnel(
                    &g.db.app,
                    g.tenant_id,
                    *id,
                    Some(g.scheme_id),
                    today,
                )
                .await
                .expect("funnel");
                let counted = actual
                    .get(&(
                        "prescripteur".into(),
                        name.clone(),
                        "bons_expires_sans_usage".into(),
                    ))
                    .copied()
                    .flatten()
                    .unwrap_or(0.0);
                assert_eq!(funnel.expired_unused as f64, counted, "{name}");
                total += funnel.expired_unused;
            }
            assert!(total >= lagging as i64, "{total}");
        }
    }
}

/// The documented schema of each file, as pyarrow reads it.
fn documented_schema(dataset: &str) -> Vec<(&'static str, &'static str)> {
    match dataset {
        "indicators" => vec![
            ("periode", "string_view"),
            ("dimension", "string_view"),
            ("valeur_dimension", "string_view"),
            ("indicateur", "string_view"),
            ("numerateur", "double"),
            ("denominateur", "double"),
            ("valeur", "double"),
            ("masque", "bool"),
        ],
        "vouchers" => vec![
            ("periode", "string_view"),
            ("cle_beneficiaire", "string_view"),
            ("dispositif", "string_view"),
            ("prescripteur", "string_view"),
            ("type_prescripteur", "string_view"),
            ("categorie_public", "string_view"),
            ("tranche_age", "string_view"),
            ("commune", "string_view"),
            ("departement", "string_view"),
            ("epn", "string_view"),
            ("orientation", "string_view"),
            ("date_emission", "date32[day]"),
            ("date_premiere_seance", "date32[day]"),
            ("minutes_utilisees", "int64"),
            ("statut", "string_view"),
            ("montant_rembourse_centimes", "int64"),
            ("participation_centimes", "int64"),
            ("part_financeurs_centimes", "int64"),
        ],
        "attendance_by_epn_module_month" => vec![
            ("epn", "string_view"),
            ("module", "string_view"),
            ("mois", "string_view"),
            ("seances_tenues", "int64"),
            ("presences", "int64"),
            ("minutes", "int64"),
            ("masque", "bool"),
        ],
        "competencies" => vec![
            ("epn", "string_view"),
            ("competence", "string_view"),
            ("niveau", "string_view"),
            ("beneficiaires", "int64"),
            ("masque", "bool"),
        ],
        other => panic!("undocumented dataset {other}"),
    }
}

#[tokio::test]
async fn parquet_files_read_back_with_pyarrow_as_documented() {
    let g = generated().await;
    let (export, files) = g.export("2026-T4").await;
    let folder = export.folder(&g.dir, g.tenant_id);
    assert!(folder.ends_with(format!("{}/ticket-net/2026-T4/{}", g.tenant_id, export.id)));
    assert_eq!(files.len(), 14, "{files:#?}");
    for file in &files {
        let bytes = std::fs::read(folder.join(&file.name)).expect("file");
        assert_eq!(bytes.len() as i64, file.byte_size, "{}", file.name);
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            file.sha256,
            "{}",
            file.name
        );
        if file.format == "csv" {
            assert!(
                bytes.starts_with(b"\xEF\xBB\xBF"),
                "{}: UTF-8 BOM",
                file.name
            );
            let text = String::from_utf8(bytes[3..].to_vec()).expect("UTF-8");
            let header: Vec<&str> = text.lines().next().expect("header").split(';').collect();
            let documented: Vec<&str> = documented_schema(&file.dataset)
                .iter()
                .map(|(n, _)| *n)
                .collect();
            assert_eq!(header, documented, "{}", file.name);
            assert_eq!(
                text.lines().count() as i64 - 1,
                file.row_count,
                "{}",
                file.name
            );
            continue;
        }
        let read = pyarrow(&folder.join(&file.name));
        assert_eq!(read["rows"].as_i64(), Some(file.row_count), "{}", file.name);
        assert!(file.row_count > 0, "{} is empty", file.name);
        assert_eq!(read["codecs"], serde_json::json!(["ZSTD"]), "{}", file.name);
        let schema: Vec<(String, String)> = read["schema"]
            .as_array()
            .expect("schema")
            .iter()
            .map(|f| {
                (
                    f[0].as_str().unwrap().to_owned(),
                    f[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let documented: Vec<(String, String)> = documented_schema(&file.dataset)
            .into_iter()
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .collect();
        assert_eq!(schema, documented, "{}", file.name);
    }
    // The CSV's figures use the decimal comma.
    let csv = std::fs::read_to_string(folder.join("indicators.csv")).expect("csv");
    let rate = csv
        .lines()
        .find(|l| l.starts_with("2026-T4;ensemble;Ensemble;taux_activation;"))
        .expect("activation rate line");
    assert!(
        rate.split(';').nth(6).is_some_and(|v| v.contains(',')),
        "{rate}"
    );
}

#[tokio::test]
async fn published_files_blank_small_counts_and_what_would_give_them_away() {
    let g = generated().await;
    let (export, _) = g.export("2026").await;
    let full = indicator_rows(&pyarrow(&g.path(&export, "indicators.parquet")));
    let published = indicator_rows(&pyarrow(&g.path(&export, "indicators-published.parquet")));
    assert_eq!(
        full.keys().collect::<Vec<_>>(),
        published.keys().collect::<Vec<_>>()
    );
    let counts = [
        "bons_emis",
        "bons_inscrits",
        "bons_demarres",
        "bons_termines",
        "bons_expires_sans_usage",
        "bons_annules",
    ];
    // The rare category (4 holders over the year) is blanked, and so is another cell of its
    // dimension, or it could be recomputed from the whole scheme's figure.
    let rare = (
        "categorie_public".to_owned(),
        "spouse_of_self_employed".to_owned(),
        "bons_emis".to_owned(),
    );
    assert_eq!(full[&rare].0, Some(4.0));
    assert_eq!(published[&rare], (None, true));
    let mut groups: BTreeMap<(String, String), Vec<(f64, bool)>> = BTreeMap::new();
    for (key, (value, masked)) in &published {
        let (full_value, _) = full[key];
        if counts.contains(&key.2.as_str()) {
            let n = full_value.expect("counts are never empty");
            if n > 0.0 && n < 5.0 {
                assert!(*masked && value.is_none(), "{key:?} = {n} is published");
            }
            if key.0 != "ensemble" {
                groups
                    .entry((key.0.clone(), key.2.clone()))
                    .or_default()
                    .push((n, *masked));
            }
        }
        if *masked {
            assert_eq!(*value, None, "{key:?} is flagged but not blank");
        } else {
            assert_eq!(*value, full_value, "{key:?} changed without being flagged");
        }
        // A rate over a blanked count is blanked too.
        if key.2 == "taux_activation" {
            let started = (key.0.clone(), key.1.clone(), "bons_demarres".to_owned());
            if published[&started].1 {
                assert!(masked, "{key:?} gives away a blanked count");
            }
        }
    }
    for (group, cells) in &groups {
        let blanked = cells.iter().filter(|(_, m)| *m).count();
        assert!(
            blanked != 1 || cells.len() == 1,
            "{group:?}: one blanked cell alone can be recomputed"
        );
    }
    assert!(
        groups[&("categorie_public".into(), "bons_emis".into())]
            .iter()
            .filter(|(_, m)| *m)
            .count()
            >= 2
    );

    // The other published datasets flag and blank their small counts the same way.
    for (name, column) in [
        (
            "attendance_by_epn_module_month-published.parquet",
            "presences",
        ),
        ("competencies-published.parquet", "beneficiaires"),
    ] {
        let read = pyarrow(&g.path(&export, name));
        let records = read["records"].as_array().expect("records");
        assert!(!records.is_empty(), "{name}");
        for record in records {
            if let Some(n) = record[column].as_i64() {
                assert!(n == 0 || n >= 5, "{name}: {record} publishes a small count");
                assert_eq!(record["masque"], false, "{name}: {record}");
            } else {
                assert_eq!(record["masque"], true, "{name}: {record}");
            }
        }
    }
    let competencies = pyarrow(&g.path(&export, "competencies-published.parquet"));
    assert!(
        competencies["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["masque"] == true),
        "the generated competences include small counts"
    );
}

#[tokio::test]
async fn no_personal_data_in_any_file() {
    let g = generated().await;
    let (export, files) = g.export("2026").await;
    let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");
    let people: Vec<(Uuid, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, first_name, last_name, email FROM beneficiaries")
            .fetch_all(&mut *tx)
            .await
            .expect("people");
    let references: Vec<String> = sqlx::query_scalar("SELECT reference FROM vouchers")
        .fetch_all(&mut *tx)
        .await
        .expect("references");
    tx.commit().await.expect("commit");
    for file in &files {
        let path = g.path(&export, &file.name);
        let text = if file.format == "csv" {
            std::fs::read_to_string(&path).expect("csv")
        } else {
            pyarrow(&path).to_string()
        };
        for column in [
            "birth_year",
            "annee_naissance",
            "email",
            "nom",
            "prenom",
            "reference",
        ] {
            assert!(
                !text.contains(&format!("\"{column}\"")),
                "{}: column {column}",
                file.name
            );
        }
        for (id, first, last, email) in &people {
            assert!(
                !text.contains(&id.to_string()),
                "{}: a holder's id",
                file.name
            );
            assert!(
                !text.contains(first.as_str()) && !text.contains(last.as_str()),
                "{}: a name",
                file.name
            );
            if let Some(email) = email {
                assert!(!text.contains(email.as_str()), "{}: an email", file.name);
            }
        }
        for reference in &references {
            assert!(
                !text.contains(reference.as_str()),
                "{}: a voucher reference",
                file.name
            );
        }
    }
    // The holder key is keyed: not a plain hash of the holder's id.
    let vouchers = pyarrow(&g.path(&export, "vouchers.parquet"));
    let keys: BTreeSet<&str> = vouchers["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cle_beneficiaire"].as_str().expect("key"))
        .collect();
    assert_eq!(keys.len(), 600, "one key per holder");
    use sha2::Digest;
    for (id, ..) in &people {
        let plain = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        assert!(!keys.contains(plain.as_str()));
    }
    // It is HMAC-SHA-256 under the tenant's key, as an independent implementation (Python's)
    // computes it.
    let (_, key) = statistics::tenant_settings(&g.db.app, g.tenant_id)
        .await
        .expect("settings");
    let ids: Vec<String> = people
        .iter()
        .take(5)
        .map(|(id, ..)| id.to_string())
        .collect();
    let script = "import hmac, hashlib, sys, uuid\n\
                  key = bytes.fromhex(sys.argv[1])\n\
                  for holder in sys.argv[2:]:\n    \
                  print(hmac.new(key, uuid.UUID(holder).bytes, hashlib.sha256).hexdigest())";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(hex::encode(&key))
        .args(&ids)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = String::from_utf8(out.stdout).expect("utf-8");
    for pseudonym in expected.lines() {
        assert!(
            keys.contains(pseudonym),
            "{pseudonym} is not HMAC-SHA-256(key, id)"
        );
    }
    let ages: BTreeSet<&str> = vouchers["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tranche_age"].as_str().expect("age band"))
        .collect();
    assert!(
        ages.contains("75 ans et plus") && ages.contains("Non renseigné"),
        "{ages:?}"
    );
}

#[tokio::test]
async fn a_failed_export_says_why_and_a_finished_one_is_left_alone() {
    let g = generated().await;
    // The storage folder cannot be created: a file stands where it should be.
    std::fs::write(&g.dir, b"not a folder").expect("file");
    let export = statistics::request(
        &g.db.app,
        g.tenant_id,
        Actor::SYSTEM,
        g.scheme_id,
        "2026-10",
    )
    .await
    .expect("request");
    let error = passerelle_statistics::run_export(&g.db.app, &g.dir, g.tenant_id, export.id)
        .await
        .expect_err("the folder is not writable");
    assert!(
        error.to_string().contains("cannot write the files"),
        "{error}"
    );
    let (failed, files) = statistics::get(&g.db.app, g.tenant_id, export.id, true)
        .await
        .expect("get");
    assert_eq!(failed.status, ExportStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot write the files")),
        "{:?}",
        failed.error
    );
    assert!(files.is_empty());
    // A job delivered twice does not run a finished export again.
    let again = passerelle_statistics::run_export(&g.db.app, &g.dir, g.tenant_id, export.id)
        .await
        .expect("no error");
    assert!(again.is_none());
    std::fs::remove_file(&g.dir).expect("clean");

    let refused = statistics::request(
        &g.db.app,
        g.tenant_id,
        Actor::SYSTEM,
        g.scheme_id,
        "2026-13",
    )
    .await;
    assert!(
        matches!(refused, Err(passerelle_core::Error::Invalid(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_job_delivered_twice_runs_the_export_once() {
    let g = generated().await;
    let export = statistics::request(
        &g.db.app,
        g.tenant_id,
        Actor::SYSTEM,
        g.scheme_id,
        "2026-10",
    )
    .await
    .expect("request");
    // A first delivery has claimed it and is still computing.
    let claimed = statistics::start(&g.db.app, g.tenant_id, export.id)
        .await
        .expect("start");
    assert_eq!(claimed.map(|e| e.status), Some(ExportStatus::Running));
    let second = passerelle_statistics::run_export(&g.db.app, &g.dir, g.tenant_id, export.id)
        .await
        .expect("no error");
    assert!(second.is_none(), "the second delivery ran it again");
    let (running, files) = statistics::get(&g.db.app, g.tenant_id, export.id, true)
        .await
        .expect("get");
    assert_eq!((running.status, files.len()), (ExportStatus::Running, 0));
    assert!(!g.dir.exists(), "the second delivery wrote files");
}

#[tokio::test]
async fn a_newer_export_of_a_period_replaces_the_older_files() {
    let g = generated().await;
    let (first, _) = g.export("2026-10").await;
    let first_folder = first.folder(&g.dir, g.tenant_id);
    assert!(first_folder.is_dir());
    let (second, files) = g.export("2026-10").await;
    assert!(!files.is_empty());
    assert!(second.folder(&g.dir, g.tenant_id).is_dir());
    assert!(!first_folder.exists(), "the superseded files are deleted");
    let gone = statistics::get(&g.db.app, g.tenant_id, first.id, true).await;
    assert!(
        matches!(gone, Err(passerelle_core::Error::NotFound(_))),
        "{gone:?}"
    );
    // Another period is left alone.
    let (other, _) = g.export("2026-09").await;
    g.export("2026-10").await;
    assert!(other.folder(&g.dir, g.tenant_id).is_dir());
}

#[tokio::test]
async fn a_tenant_cannot_ask_for_exports_without_end() {
    let g = generated().await;
    let ask = || {
        statistics::request(
            &g.db.app,
            g.tenant_id,
            Actor::SYSTEM,
            g.scheme_id,
            "2026-10",
        )
    };
    for _ in 0..statistics::ON_DEMAND_WAITING {
        ask().await.expect("within the quota");
    }
    let waiting = ask().await;
    assert!(
        matches!(
            &waiting,
            Err(passerelle_core::Error::Refused(
                passerelle_core::Refusal::ExportsWaiting { .. }
            ))
        ),
        "{waiting:?}"
    );
    // Finished ones free the waiting room, not the day's count.
    let finish_all = || async {
        let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");
        sqlx::query("UPDATE statistics_exports SET status = 'succeeded' WHERE status = 'queued'")
            .execute(&mut *tx)
            .await
            .expect("finish");
        tx.commit().await.expect("commit");
    };
    let mut asked = statistics::ON_DEMAND_WAITING;
    while asked < statistics::ON_DEMAND_PER_DAY {
        finish_all().await;
        ask().await.expect("within the day's quota");
        asked += 1;
    }
    finish_all().await;
    let day = ask().await;
    assert!(
        matches!(
            &day,
            Err(passerelle_core::Error::Refused(
                passerelle_core::Refusal::ExportsPerDayUsedUp { .. }
            ))
        ),
        "{day:?}"
    );
}

#[tokio::test]
async fn a_funders_export_holds_its_vouchers_only_and_only_its_staff_read_it() {
    use passerelle_core::funders::plan::{FundingLine, FundingShare};
    use passerelle_core::funders::{self, FunderKind, NewFunder};
    use statistics::Reader;

    let g = generated().await;
    let db = &g.db.app;
    let new_funder = |name: &str| NewFunder {
        name: name.into(),
        kind: FunderKind::FamilyAllowanceFund,
        siret: None,
    };
    let caf = funders::create(db, g.tenant_id, Actor::SYSTEM, &new_funder("CAF du Lot"))
        .await
        .expect("funder")
        .id;
    let other = funders::create(db, g.tenant_id, Actor::SYSTEM, &new_funder("Commune"))
        .await
        .expect("other funder")
        .id;
    let today = passerelle_test_support::paris_today();
    funders::plan::change(
        db,
        g.tenant_id,
        Actor::SYSTEM,
        g.scheme_id,
        today,
        &[FundingLine {
            funder_id: caf,
            share: FundingShare::BasisPoints(3_000),
            cap_cents: None,
            period_start: None,
            period_end: None,
            eligible_publics: None,
            eligible_prescribers: None,
        }],
    )
    .await
    .expect("plan");
    // The generated vouchers were issued before the plan: the CAF co-finances every other one,
    // as issuance would have recorded it.
    let mut tx = db.begin_tenant(g.tenant_id).await.expect("tx");
    let funded = sqlx::query(
        "INSERT INTO voucher_funders (tenant_id, voucher_id, scheme_id, funding_version, position, funder_id)
         SELECT tenant_id, id, scheme_id, 1, 1, $2 FROM vouchers
          WHERE tenant_id = $1 AND get_byte(uuid_send(id), 15) % 2 = 0
         RETURNING 1",
    )
    .bind(g.tenant_id)
    .bind(caf)
    .execute(&mut *tx)
    .await
    .expect("voucher funders")
    .rows_affected();
    tx.commit().await.expect("commit");
    assert!(funded > 100 && funded < 500, "{funded}");
    // The draft months (January to August) computed again now share their lines with the CAF;
    // approved, they are part of what the exports count.
    reimbursements::run_month(db, g.tenant_id, date(2026, 10, 1))
        .await
        .expect("run again");
    let mut tx = db.begin_tenant(g.tenant_id).await.expect("tx");
    sqlx::query(
        "UPDATE statements SET status = 'approved', approved_at = now() WHERE status = 'draft'",
    )
    .execute(&mut *tx)
    .await
    .expect("approve");
    let caf_cents: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(amount_cents), 0)::bigint FROM statement_line_shares WHERE funder_id = $1",
    )
    .bind(caf)
    .fetch_one(&mut *tx)
    .await
    .expect("the CAF's shares");
    tx.commit().await.expect("commit");
    assert!(
        caf_cents > 0,
        "the CAF pays a part of the drafts computed again"
    );

    let export = statistics::request_scoped(
        db,
        g.tenant_id,
        Actor::SYSTEM,
        g.scheme_id,
        "2026",
        Some(caf),
    )
    .await
    .expect("request");
    passerelle_statistics::run_export(db, &g.dir, g.tenant_id, export.id)
        .await
        .expect("export")
        .expect("not yet finished");
    let (export, files) = statistics::get(db, g.tenant_id, export.id, true)
        .await
        .expect("get");
    assert_eq!(export.funder_id, Some(caf));
    let vouchers = files
        .iter()
        .find(|f| f.dataset == "vouchers" && f.format == "csv")
        .expect("the vouchers file");
    assert_eq!(
        u64::try_from(vouchers.row_count).expect("rows"),
        funded,
        "one row per voucher the CAF co-finances"
    );
    let (whole, whole_files) = g.export("2026").await;
    let all = whole_files
        .iter()
        .find(|f| f.dataset == "vouchers" && f.format == "csv")
        .expect("the territory's vouchers file");
    assert!(all.row_count > vouchers.row_count);
    // Both hold the CAF's part of what was reimbursed for each voucher, never more than it.
    for (file, what) in [
        (g.path(&export, "vouchers.parquet"), "the CAF's"),
        (g.path(&whole, "vouchers.parquet"), "the territory's"),
    ] {
        let records = pyarrow(&file)["records"].clone();
        let records = records.as_array().expect("records");
        let mut part = 0;
        for r in records {
            let funded = r["part_financeurs_centimes"].as_i64().expect("a part");
            assert!(funded <= r["montant_rembourse_centimes"].as_i64().expect("an amount"));
            part += funded;
        }
        assert_eq!(part, caf_cents, "{what} vouchers file");
    }
    let indicators = indicator_rows(&pyarrow(&g.path(&export, "indicators.parquet")));
    let key = (
        "ensemble".to_owned(),
        "Ensemble".to_owned(),
        "part_financeurs_eur".to_owned(),
    );
    assert_eq!(
        indicators.get(&key).expect("the funders' part").0,
        Some(caf_cents as f64 / 100.0)
    );
    // The figures PostgreSQL groups are the CAF's vouchers' only: presences and minutes per EPN,
    // module and month, hours per EPN, holders per competence.
    let mut tx = db.begin_tenant(g.tenant_id).await.expect("tx");
    let (presences, minutes, holder_competences): (i64, i64, i64) = sqlx::query_as(
        "WITH funded AS (SELECT voucher_id FROM voucher_funders WHERE funder_id = $1),
              attended AS (
                SELECT a.id, a.voucher_id, a.minutes_debited FROM attendances a
                JOIN sessions s ON s.id = a.session_id
                WHERE a.status = 'present' AND a.voided_at IS NULL
                  AND a.voucher_id IN (SELECT voucher_id FROM funded)
                  AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date >= $2
                  AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date < $3)
         SELECT (SELECT count(*) FROM attended), (SELECT coalesce(sum(minutes_debited), 0) FROM attended)::bigint,
                (SELECT count(DISTINCT (v.beneficiary_id, ac.competence_code))
                   FROM attendance_competences ac JOIN attendances a ON a.id = ac.attendance_id
                   JOIN sessions s ON s.id = a.session_id JOIN vouchers v ON v.id = a.voucher_id
                  WHERE a.voided_at IS NULL AND a.voucher_id IN (SELECT voucher_id FROM funded)
                    AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date >= $2
                    AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date < $3)",
    )
    .bind(caf)
    .bind(date(2026, 1, 1))
    .bind(date(2027, 1, 1))
    .fetch_one(&mut *tx)
    .await
    .expect("the CAF's vouchers' activity");
    tx.commit().await.expect("commit");
    assert!(presences > 0 && holder_competences > 0);
    let totals = |file: &str, columns: &[&str], only: Option<(&str, &str)>| -> Vec<i64> {
        let records = pyarrow(&g.path(&export, file))["records"].clone();
        columns
            .iter()
            .map(|c| {
                records
                    .as_array()
                    .expect("records")
                    .iter()
                    .filter(|r| only.is_none_or(|(k, v)| r[k] == v))
                    .map(|r| r[*c].as_i64().expect("a count"))
                    .sum()
            })
            .collect()
    };
    assert_eq!(
        totals(
            "attendance_by_epn_module_month.parquet",
            &["presences", "minutes"],
            None
        ),
        [presences, minutes]
    );
    assert_eq!(
        totals(
            "competencies.parquet",
            &["beneficiaires"],
            Some(("epn", "Ensemble"))
        ),
        [holder_competences]
    );
    let hours_by_epn: f64 = indicators
        .iter()
        .filter(|((dimension, _, indicator), _)| {
            dimension == "epn" && indicator == "heures_realisees"
        })
        .map(|(_, (hours, _))| hours.expect("hours"))
        .sum();
    assert!(
        (hours_by_epn - minutes as f64 / 60.0).abs() < 1e-6,
        "{hours_by_epn} hours by EPN for {minutes} minutes"
    );

    // The territory's export did not replace the CAF's, nor the CAF's the territory's.
    assert!(
        statistics::get(db, g.tenant_id, export.id, true)
            .await
            .is_ok()
    );

    // Readers: the CAF's staff read both; another funder's staff and an unbound funder user only
    // the territory's.
    let reader = |funder: Option<Uuid>| Reader {
        unpublished: false,
        funder: Some(funder),
    };
    for (who, sees_caf) in [
        (reader(Some(caf)), true),
        (reader(Some(other)), false),
        (reader(None), false),
    ] {
        let got = statistics::get(db, g.tenant_id, export.id, who).await;
        assert_eq!(got.is_ok(), sees_caf, "{who:?}: {got:?}");
        if !sees_caf {
            assert!(matches!(got, Err(passerelle_core::Error::NotFound(_))));
            let file = statistics::open_file(
                db,
                &g.dir,
                g.tenant_id,
                Actor::SYSTEM,
                export.id,
                &files[0].name,
                who,
            )
            .await;
            assert!(matches!(file, Err(passerelle_core::Error::NotFound(_))));
        }
        let listed = statistics::list(db, g.tenant_id, &Default::default(), who)
            .await
            .expect("list");
        let ids: Vec<Uuid> = listed.iter().map(|(e, _)| e.id).collect();
        assert!(ids.contains(&whole.id), "{who:?}");
        assert_eq!(ids.contains(&export.id), sees_caf, "{who:?}");
    }
}

/// The batches of a long COPY, as the per-voucher rows are read: the size asked, in order, nothing
/// lost or repeated, one empty frame for an empty result; a reader that stops midway and discards
/// the rest leaves its transaction usable.
#[tokio::test]
async fn a_long_result_arrives_in_batches_of_the_size_asked_and_nothing_is_lost() {
    use passerelle_statistics::extract::{self, Batches, Kind};
    use passerelle_statistics::source;

    let db = TestDatabase::create().await;
    let tenant = create_tenant(&db.app, "lot", TenantKind::Departement, "46").await;
    let columns = [("n", Kind::Int32), ("text", Kind::Text)];
    // Rows of many lengths, more than fit in one batch.
    let select = "SELECT g::int4, repeat('x', g % 97) || g FROM generate_series(1, 10500) g";

    let mut tx = source::snapshot(&db.app, tenant.id).await.expect("tx");
    let mut batches = Vec::new();
    let mut reader = Batches::open(&mut tx, select, &columns, 1000)
        .await
        .expect("COPY in batches");
    while let Some(batch) = reader.next().await.expect("a batch") {
        batches.push(batch);
    }
    assert!(reader.next().await.expect("the end").is_none());
    drop(reader);
    let sizes: Vec<usize> = batches.iter().map(|b| b.height()).collect();
    assert_eq!(sizes, [vec![1000; 10], vec![500]].concat());
    let mut numbers = Vec::new();
    for batch in &batches {
        let n = batch.column("n").expect("n").i32().expect("int");
        let text = batch.column("text").expect("text").str().expect("text");
        for (n, text) in n.iter().zip(text.iter()) {
            let (n, text) = (n.expect("n"), text.expect("text"));
            assert_eq!(text, format!("{}{n}", "x".repeat((n % 97) as usize)));
            numbers.push(n);
        }
    }
    assert_eq!(numbers, (1..=10500).collect::<Vec<i32>>());

    let whole = extract::copy_frame(&mut tx, select, &columns)
        .await
        .expect("COPY whole");
    assert_eq!(whole.height(), 10500);
    let mut empty = Batches::open(&mut tx, "SELECT 1::int4, 'a' WHERE false", &columns, 1000)
        .await
        .expect("an empty COPY");
    let frame = empty.next().await.expect("a frame").expect("one frame");
    assert_eq!((frame.height(), frame.get_column_names().len()), (0, 2));
    assert!(empty.next().await.expect("the end").is_none());
    drop(empty);

    // The reader stopped after two batches (the files could not be written): the rest of the
    // COPY is discarded and the transaction answers the next statement.
    let mut stopped = Batches::open(&mut tx, select, &columns, 1000)
        .await
        .expect("COPY");
    stopped.next().await.expect("a batch");
    stopped.next().await.expect("a batch");
    stopped.discard().await.expect("the rest discarded");
    let after: i64 = sqlx::query_scalar("SELECT 42::int8")
        .fetch_one(&mut *tx)
        .await
        .expect("the transaction after a stopped COPY");
    assert_eq!(after, 42);
    tx.commit().await.expect("commit");
}

/// The attendance and competence datasets, row by row, against SQL written over the raw rows:
/// sessions held, presences and minutes per EPN, module and month; holders per competence at the
/// highest level they reached, per EPN and for all EPNs.
#[tokio::test]
async fn the_attendance_and_competence_datasets_equal_independent_sql_counts() {
    let g = generated().await;
    let (start, end) = (date(2026, 1, 1), date(2027, 1, 1));
    let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");
    // Holders who discovered a competence acquire it later at the same EPN: the dataset counts
    // them once, at the highest level.
    let acquired = sqlx::query(
        "INSERT INTO attendance_competences (tenant_id, attendance_id, referential_code, competence_code, level)
         SELECT ac.tenant_id, other.id, ac.referential_code, ac.competence_code, 'acquired'
         FROM attendance_competences ac
         JOIN attendances a ON a.id = ac.attendance_id
         JOIN sessions s ON s.id = a.session_id
         JOIN attendances other ON other.voucher_id = a.voucher_id AND other.id <> a.id
                               AND other.voided_at IS NULL AND other.status = 'present'
         JOIN sessions later ON later.id = other.session_id AND later.epn_id = s.epn_id
         WHERE ac.level = 'discovered' AND a.voided_at IS NULL
           AND s.starts_at >= $1 AND later.starts_at < $2
         ORDER BY ac.attendance_id, other.id
         LIMIT 20
         ON CONFLICT DO NOTHING",
    )
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await
    .expect("a competence acquired after it was discovered")
    .rows_affected();
    assert!(acquired > 0);
    tx.commit().await.expect("commit");
    let (export, _) = g.export("2026").await;
    let mut tx = g.db.app.begin_tenant(g.tenant_id).await.expect("tx");

    let expected: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT e.name, coalesce(s.module_number || '. ' || m.title, 'Sans module'),
                to_char((s.starts_at AT TIME ZONE 'Europe/Paris')::date, 'YYYY-MM'),
                count(DISTINCT s.id) FILTER (WHERE s.status = 'held'),
                count(a.id) FILTER (WHERE a.status = 'present' AND a.voided_at IS NULL),
                coalesce(sum(a.minutes_debited) FILTER (WHERE a.status = 'present' AND a.voided_at IS NULL), 0)::bigint
         FROM sessions s
         JOIN epns e ON e.id = s.epn_id
         LEFT JOIN scheme_modules m ON m.scheme_id = s.scheme_id AND m.number = s.module_number
         LEFT JOIN attendances a ON a.session_id = s.id
         WHERE (s.starts_at AT TIME ZONE 'Europe/Paris')::date >= $1
           AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date < $2
         GROUP BY 1, 2, 3",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&mut *tx)
    .await
    .expect("attendance by EPN, module and month");
    let attendance = pyarrow(&g.path(&export, "attendance_by_epn_module_month.parquet"));
    let mut actual: Vec<(String, String, String, i64, i64, i64)> = attendance["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["epn"].as_str().expect("epn").to_owned(),
                r["module"].as_str().expect("module").to_owned(),
                r["mois"].as_str().expect("month").to_owned(),
                r["seances_tenues"].as_i64().expect("sessions"),
                r["presences"].as_i64().expect("presences"),
                r["minutes"].as_i64().expect("minutes"),
            )
        })
        .collect();
    let mut sorted = actual.clone();
    sorted.sort();
    assert_eq!(
        actual, sorted,
        "the rows are in EPN, module and month order"
    );
    let mut expected = expected;
    expected.sort();
    assert!(expected.iter().any(|r| r.4 > 0), "the data has presences");
    assert_eq!(actual, expected);
    actual.clear();

    let expected: Vec<(String, String, String, i64)> = sqlx::query_as(
        "WITH worked AS (
            SELECT v.beneficiary_id, e.name AS epn, c.code || ' ' || c.title AS competence,
                   CASE ac.level WHEN 'discovered' THEN 1 WHEN 'practised' THEN 2 ELSE 3 END AS rank
            FROM attendance_competences ac
            JOIN attendances a ON a.id = ac.attendance_id
            JOIN vouchers v ON v.id = a.voucher_id
            JOIN sessions s ON s.id = a.session_id
            JOIN epns e ON e.id = s.epn_id
            JOIN competences c ON c.referential_code = ac.referential_code AND c.code = ac.competence_code
            WHERE a.voided_at IS NULL
              AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date >= $1
              AND (s.starts_at AT TIME ZONE 'Europe/Paris')::date < $2),
         best AS (
            SELECT epn, competence, beneficiary_id, max(rank) AS rank FROM worked GROUP BY 1, 2, 3
            UNION ALL
            SELECT 'Ensemble', competence, beneficiary_id, max(rank) FROM worked GROUP BY 2, 3)
         SELECT epn, competence, (ARRAY['découvert', 'pratiqué', 'acquis'])[rank], count(*)
         FROM best GROUP BY 1, 2, 3",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&mut *tx)
    .await
    .expect("holders per competence and level");
    tx.commit().await.expect("commit");
    let competencies = pyarrow(&g.path(&export, "competencies.parquet"));
    let mut actual: Vec<(String, String, String, i64)> = competencies["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["epn"].as_str().expect("epn").to_owned(),
                r["competence"].as_str().expect("competence").to_owned(),
                r["niveau"].as_str().expect("level").to_owned(),
                r["beneficiaires"].as_i64().expect("holders"),
            )
        })
        .collect();
    let mut expected = expected;
    expected.sort();
    assert!(
        expected.iter().any(|r| r.0 == "Ensemble"),
        "the data has competences"
    );
    actual.sort();
    assert_eq!(actual, expected);
}
