//! A territory leaves with its archive and comes back whole in another deployment: a year of
//! activity, statements approved and paid, statistics files; exported, restored into a fresh
//! database, and compared total by total and row by row. Then the archive is attacked: an altered
//! file, a path that climbs out of the folder, a second restore over a taken slug.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use passerelle_core::archive::ArchiveError;
use passerelle_core::archive::restore::RestoreOptions;
use passerelle_core::audit::Actor;
use passerelle_core::reimbursements::{self, StatementFilter};
use passerelle_core::statistics;
use passerelle_test_support::TestDatabase;
use passerelle_test_support::activity::{self, ActivitySpec};
use passerelle_worker::archive;
use uuid::Uuid;

use crate::harness::Harness;

fn scratch(name: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("passerelle-archive-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&folder).expect("scratch folder");
    folder.join(name)
}

/// The business totals a territory's finance and funders read, computed in SQL.
async fn totals(db: &TestDatabase, tenant_id: Uuid) -> BTreeMap<String, String> {
    let mut tx = db.app.begin_tenant(tenant_id).await.expect("tenant");
    let mut found = BTreeMap::new();
    for (name, query) in [
        (
            "vouchers by status",
            "SELECT string_agg(status || '=' || n || '/' || minutes_total || '/' || minutes_left, ' ' ORDER BY status)
               FROM (SELECT status, count(*) n, sum(minutes_total) minutes_total, sum(minutes_left) minutes_left
                       FROM vouchers GROUP BY status) v",
        ),
        (
            "attendance",
            "SELECT string_agg(status || '=' || n || '/' || minutes, ' ' ORDER BY status)
               FROM (SELECT status, count(*) n, sum(minutes_debited) minutes FROM attendances GROUP BY status) a",
        ),
        (
            "statements by status",
            "SELECT string_agg(status || '=' || n || '/' || total, ' ' ORDER BY status)
               FROM (SELECT status, count(*) n, sum(total_cents) total FROM statements GROUP BY status) s",
        ),
        (
            "statement lines",
            "SELECT count(*) || '/' || coalesce(sum(amount_cents), 0) FROM statement_lines",
        ),
        ("audit entries", "SELECT count(*)::text FROM audit_log"),
        ("beneficiaries", "SELECT count(*)::text FROM beneficiaries"),
        (
            "statistics files",
            "SELECT string_agg(name || ':' || sha256, ' ' ORDER BY name) FROM statistics_files",
        ),
    ] {
        let value: Option<String> = sqlx::query_scalar(query)
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        found.insert(name.to_owned(), value.unwrap_or_default());
    }
    tx.commit().await.expect("commit");
    found
}

/// The archive's files, by path.
fn unzip(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
    (0..zip.len())
        .map(|i| {
            let mut entry = zip.by_index(i).expect("entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            (entry.name().expect("name").into_owned(), bytes)
        })
        .collect()
}

fn rezip(files: &BTreeMap<String, Vec<u8>>, path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("create"));
    for (name, bytes) in files {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("start");
        zip.write_all(bytes).expect("write");
    }
    zip.finish().expect("finish");
}

/// A table's rows without their `tenant_id` column: what must be the same after a restore.
fn rows_without_tenant(csv: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(csv);
    let tenant_column = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "tenant_id")
        .expect("a tenant_id column");
    reader
        .records()
        .map(|r| {
            r.expect("record")
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != tenant_column)
                .map(|(_, v)| v.to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_territory_leaves_with_its_archive_and_comes_back_whole() {
    let h = Harness::new().await;
    let first_day = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    activity::generate(
        &h.db,
        h.tenant.id,
        h.scheme_id,
        ActivitySpec {
            vouchers: 150,
            epns: 3,
            sessions_per_epn: 40,
            max_attendance: 4,
            first_day,
            bulk: false,
        },
    )
    .await;
    for month in 1..=4 {
        reimbursements::compute::run_month(
            &h.db.app,
            h.tenant.id,
            NaiveDate::from_ymd_opt(2025, month, 1).expect("a month"),
        )
        .await
        .expect("month");
    }
    let statements = reimbursements::list(&h.db.app, h.tenant.id, &StatementFilter::default())
        .await
        .expect("statements");
    assert!(statements.len() >= 3, "{} statements", statements.len());
    for statement in &statements[..2] {
        reimbursements::approve(&h.db.app, h.tenant.id, Actor::SYSTEM, statement.id)
            .await
            .expect("approve");
    }
    reimbursements::mark_paid(
        &h.db.app,
        h.tenant.id,
        Actor::SYSTEM,
        statements[0].id,
        NaiveDate::from_ymd_opt(2025, 3, 10).expect("a date"),
        "VIR-2025-0042",
    )
    .await
    .expect("paid");
    let export = statistics::request(&h.db.app, h.tenant.id, Actor::SYSTEM, h.scheme_id, "2025")
        .await
        .expect("statistics request");
    passerelle_statistics::run_export(&h.db.app, &h.statistics_dir, h.tenant.id, export.id)
        .await
        .expect("statistics")
        .expect("the export ran");
    let mut tx = h.db.app.begin_tenant(h.tenant.id).await.expect("tenant");
    sqlx::query("UPDATE users SET password_hash = '$argon2id$v=19$secret'")
        .execute(&mut *tx)
        .await
        .expect("a password");
    tx.commit().await.expect("commit");

    let out = scratch("lot.zip");
    let manifest = archive::build(&h.db.app, h.tenant.id, &h.statistics_dir, &out)
        .await
        .expect("export");
    let names: Vec<&str> = manifest
        .tables
        .iter()
        .map(|t| t.table.name.as_str())
        .collect();
    for expected in [
        "vouchers",
        "attendances",
        "statements",
        "statement_lines",
        "audit_log",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is archived: {names:?}"
        );
    }
    for left_out in ["api_tokens", "web_sessions", "account_links"] {
        assert!(!names.contains(&left_out), "{left_out} is a credential");
        assert!(manifest.left_out.iter().any(|l| l.table == left_out));
    }
    assert!(
        names.iter().position(|n| *n == "statements")
            < names.iter().position(|n| *n == "statement_lines")
            && names.iter().position(|n| *n == "beneficiaries")
                < names.iter().position(|n| *n == "vouchers"),
        "tables are in load order: {names:?}"
    );
    assert!(manifest.tables.iter().all(|t| t.parquet.is_some()));
    assert!(
        manifest
            .files
            .iter()
            .any(|f| f.path.starts_with("statistics/") && f.path.ends_with(".parquet")),
        "the statistics files travel"
    );
    let files = unzip(&out);
    for file in manifest.all_files() {
        let bytes = files
            .get(&file.path)
            .expect("every listed file is in the zip");
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)),
            file.sha256,
            "{}",
            file.path
        );
    }
    let users = String::from_utf8(files["tables/users.csv"].clone()).expect("utf-8");
    assert!(
        !users.contains("argon2"),
        "no password hash leaves: {users}"
    );

    let elsewhere = TestDatabase::create().await;
    let elsewhere_statistics = scratch("statistics");
    let restored = archive::restore(
        &elsewhere.app,
        &out,
        &elsewhere_statistics,
        &RestoreOptions::default(),
    )
    .await
    .expect("restore");
    assert_ne!(restored.id, h.tenant.id, "a new tenant id");
    assert_eq!(
        (&restored.slug, &restored.name, &restored.reference_prefix),
        (&h.tenant.slug, &h.tenant.name, &h.tenant.reference_prefix)
    );
    let before = totals(&h.db, h.tenant.id).await;
    assert!(
        before["statements by status"].contains("paid=1"),
        "{before:?}"
    );
    assert_eq!(before, totals(&elsewhere, restored.id).await);

    // Row by row: the restored territory's own archive holds the same rows, field by field.
    let again = scratch("again.zip");
    let second = archive::build(&elsewhere.app, restored.id, &elsewhere_statistics, &again)
        .await
        .expect("export the restored tenant");
    let files_again = unzip(&again);
    for table in &manifest.tables {
        assert_eq!(
            rows_without_tenant(&files[&table.csv.path]),
            rows_without_tenant(&files_again[&table.csv.path]),
            "{}",
            table.table.name
        );
    }
    let statistics_files = |m: &passerelle_core::archive::manifest::Manifest| {
        m.files
            .iter()
            .filter(|f| f.path.starts_with("statistics/"))
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(statistics_files(&manifest), statistics_files(&second));

    // The same archive again: its slug and code are taken now.
    let taken = archive::restore(
        &elsewhere.app,
        &out,
        &elsewhere_statistics,
        &RestoreOptions::default(),
    )
    .await
    .expect_err("the slug is taken");
    assert!(matches!(taken, ArchiveError::TenantTaken(_)), "{taken}");

    // One altered amount in one file: nothing is loaded.
    let mut altered = files.clone();
    let lines = altered
        .get_mut("tables/statement_lines.csv")
        .expect("statement lines");
    let digit = lines.iter().rposition(u8::is_ascii_digit).expect("a digit");
    lines[digit] = if lines[digit] == b'9' {
        b'1'
    } else {
        lines[digit] + 1
    };
    let forged = scratch("altered.zip");
    rezip(&altered, &forged);
    let refused = archive::restore(
        &elsewhere.app,
        &forged,
        &elsewhere_statistics,
        &RestoreOptions {
            slug: Some("lot-bis".into()),
            name: None,
        },
    )
    .await
    .expect_err("an altered file");
    assert!(
        matches!(&refused, ArchiveError::Damaged(why) if why.contains("statement_lines.csv")),
        "{refused}"
    );

    // A path that climbs out of the unpacking folder.
    let mut climbing = files.clone();
    climbing.insert("../../escaped.txt".into(), b"hors de l'archive".to_vec());
    let forged = scratch("climbing.zip");
    rezip(&climbing, &forged);
    let refused = archive::restore(
        &elsewhere.app,
        &forged,
        &elsewhere_statistics,
        &RestoreOptions::default(),
    )
    .await
    .expect_err("a path outside the archive");
    assert!(matches!(refused, ArchiveError::Damaged(_)), "{refused}");

    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&elsewhere.owner)
        .await
        .expect("count");
    assert_eq!(tenants, 1, "the refused restores left nothing");
}
