//! Background imports: a file streamed into chunks, run in batches with its counters, refused at
//! once when its header is wrong, and resumed after a fault without importing a row twice.

use passerelle_core::audit::Actor;
use passerelle_core::epns;
use passerelle_core::imports::{self, ImportStatus, LineOutcome, Target};
use passerelle_core::pagination::PageRequest;
use passerelle_core::tenancy::tenants::TenantKind;
use passerelle_core::{Error, FieldRule};
use passerelle_test_support::{TestDatabase, create_tenant};
use uuid::Uuid;

/// A file in the national format: `places` rows, every 100th with a bad latitude (refused) and
/// every 7th with hours that do not parse (kept with a warning). Each row carries a long
/// presentation so a few thousand rows make several stored chunks.
fn national_file(places: usize) -> Vec<u8> {
    let mut file = String::from(
        "id|nom|commune|code_postal|latitude|longitude|horaires|presentation_detail|source\n"
            .replace('|', ";")
            .as_str(),
    );
    let detail = "Accompagnement aux démarches en ligne et prise en main des outils. ".repeat(12);
    for i in 0..places {
        let latitude = if i % 100 == 99 { "au nord" } else { "44.5" };
        let hours = if i % 7 == 3 {
            "le mardi matin"
        } else {
            "Mo-Fr 09:00-12:00 || \"\"sur rendez-vous\"\""
        };
        file.push_str(&format!(
            "lieu-{i};Lieu {i};Cahors;46000;{latitude};1.44;\"{hours}\";{detail};anct\n"
        ));
    }
    file.into_bytes()
}

async fn upload(test: &TestDatabase, tenant_id: Uuid, file: &[u8]) -> imports::Import {
    imports::receive(
        &test.app,
        tenant_id,
        Actor::SYSTEM,
        Target::Epns,
        Some("lieux.csv".into()),
        file,
        imports::MAX_UPLOAD_BYTES,
    )
    .await
    .expect("upload")
}

/// A count in the tenant's rows (row-level security applies to every role).
async fn count(test: &TestDatabase, tenant_id: Uuid, sql: &'static str, id: Uuid) -> i64 {
    let mut tx = test.app.begin_tenant(tenant_id).await.expect("tx");
    let n = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .expect(sql);
    tx.commit().await.expect("commit");
    n
}

async fn chunks(test: &TestDatabase, tenant_id: Uuid, id: Uuid) -> i64 {
    count(
        test,
        tenant_id,
        "SELECT count(*) FROM import_chunks WHERE import_id = $1",
        id,
    )
    .await
}

#[tokio::test]
async fn a_national_file_is_stored_in_chunks_and_imported_in_batches() {
    let test = TestDatabase::create().await;
    let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
    let file = national_file(2_600);
    let import = upload(&test, tenant.id, &file).await;
    assert_eq!(import.status, ImportStatus::Queued);
    assert_eq!(import.byte_size as usize, file.len());
    assert!(
        chunks(&test, tenant.id, import.id).await >= 2,
        "a file over 1 MiB is several chunks"
    );

    let done = imports::run(&test.app, tenant.id, import.id)
        .await
        .expect("run")
        .expect("ran");
    assert_eq!(done.status, ImportStatus::Succeeded);
    assert_eq!(done.rows_read, 2_600);
    assert_eq!(done.refused, 26);
    assert_eq!(done.created, 2_574);
    assert_eq!(
        done.warnings as usize,
        (0..2_600).filter(|i| i % 7 == 3 && i % 100 != 99).count()
    );
    assert_eq!(
        chunks(&test, tenant.id, import.id).await,
        0,
        "the upload is dropped once imported"
    );

    let page = imports::lines(
        &test.app,
        tenant.id,
        import.id,
        None,
        PageRequest::parse(Some(100), None).expect("page"),
    )
    .await
    .expect("lines");
    let first_refused = page
        .items
        .iter()
        .find(|l| l.outcome == LineOutcome::Refused)
        .expect("a refused line");
    assert_eq!(first_refused.line, 101, "lieu-99 is on line 101");
    assert_eq!(first_refused.source_id.as_deref(), Some("lieu-99"));
    assert!(
        first_refused
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("latitude")
    );
    let warned = &page.items[0];
    assert_eq!((warned.line, warned.outcome), (5, LineOutcome::Created));
    assert!(
        warned
            .warning
            .as_deref()
            .unwrap_or_default()
            .contains("le mardi matin")
    );
    let epn = epns::get(&test.app, tenant.id, warned.object_id.expect("epn"))
        .await
        .expect("epn");
    assert_eq!(epn.opening_hours.as_deref(), Some("le mardi matin"));
    assert!(
        epn.open_data["presentation_detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Accompagnement")
    );

    // Running it again does nothing: it is finished.
    assert!(
        imports::run(&test.app, tenant.id, import.id)
            .await
            .expect("run")
            .is_none()
    );
    let audit = count(
        &test,
        tenant.id,
        "SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = 'epns.imported'",
        tenant.id,
    )
    .await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn a_wrong_file_is_refused_before_anything_is_stored() {
    let test = TestDatabase::create().await;
    let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
    let refused = imports::receive(
        &test.app,
        tenant.id,
        Actor::SYSTEM,
        Target::Epns,
        None,
        &b"nom_du_lieu;ville\nA;B\n"[..],
        imports::MAX_UPLOAD_BYTES,
    )
    .await;
    assert!(
        matches!(&refused, Err(Error::Invalid(f)) if matches!(f[0].rule, Some(FieldRule::NotOpenDataFormat { .. }))),
        "{refused:?}"
    );
    let too_big = imports::receive(
        &test.app,
        tenant.id,
        Actor::SYSTEM,
        Target::Epns,
        None,
        &national_file(2_600)[..],
        1024 * 1024,
    )
    .await;
    assert!(
        matches!(&too_big, Err(Error::Invalid(f)) if f[0].rule == Some(FieldRule::FileTooLarge { max_megabytes: 1 })),
        "{too_big:?}"
    );
    let empty = imports::receive(
        &test.app,
        tenant.id,
        Actor::SYSTEM,
        Target::Epns,
        None,
        &b""[..],
        1024,
    )
    .await;
    assert!(matches!(&empty, Err(Error::Invalid(f)) if f[0].rule == Some(FieldRule::EmptyFile)));
    let stored = count(
        &test,
        tenant.id,
        "SELECT (SELECT count(*) FROM imports) + (SELECT count(*) FROM import_chunks) + 0 * length($1::text)",
        tenant.id,
    )
    .await;
    assert_eq!(stored, 0, "nothing kept of a refused upload");
}

#[tokio::test]
async fn an_import_cut_by_a_fault_is_taken_over_and_imports_no_row_twice() {
    let test = TestDatabase::create().await;
    let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
    let import = upload(&test, tenant.id, &national_file(2_600)).await;

    // The second chunk goes missing while the first is imported: the run stops on a storage
    // fault, after committing the batches read from the first chunk, and leaves the import running.
    let mut tx = test.app.begin_tenant(tenant.id).await.expect("tx");
    let second: Vec<u8> = sqlx::query_scalar(
        "DELETE FROM import_chunks WHERE import_id = $1 AND seq = 1 RETURNING data",
    )
    .bind(import.id)
    .fetch_one(&mut *tx)
    .await
    .expect("take the second chunk");
    tx.commit().await.expect("commit");
    let cut = imports::run(&test.app, tenant.id, import.id).await;
    assert!(matches!(cut, Err(Error::Database(_))), "{cut:?}");
    let state = imports::get(&test.app, tenant.id, import.id, None)
        .await
        .expect("state");
    let rows_read = state.rows_read;
    assert_eq!(state.status, ImportStatus::Running);
    assert!(
        rows_read > 0 && rows_read % 500 == 0,
        "{rows_read} rows committed in whole batches"
    );

    // While its runner may still be alive, nobody else runs it.
    let mut tx = test.app.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query(
        "INSERT INTO import_chunks (tenant_id, import_id, seq, data) VALUES ($1, $2, 1, $3)",
    )
    .bind(tenant.id)
    .bind(import.id)
    .bind(&second)
    .execute(&mut *tx)
    .await
    .expect("put the chunk back");
    sqlx::query("UPDATE imports SET heartbeat_at = now() WHERE id = $1")
        .bind(import.id)
        .execute(&mut *tx)
        .await
        .expect("fresh heartbeat");
    tx.commit().await.expect("commit");
    assert!(
        imports::run(&test.app, tenant.id, import.id)
            .await
            .expect("run")
            .is_none()
    );
    assert!(
        imports::stalled(&test.app, std::time::Duration::from_secs(60))
            .await
            .expect("stalled")
            .iter()
            .all(|(_, id)| *id != import.id)
    );

    // Two minutes without progress: the worker finds it and takes it over from the last batch.
    let mut tx = test.app.begin_tenant(tenant.id).await.expect("tx");
    sqlx::query("UPDATE imports SET heartbeat_at = now() - interval '3 minutes' WHERE id = $1")
        .bind(import.id)
        .execute(&mut *tx)
        .await
        .expect("age");
    tx.commit().await.expect("commit");
    let stalled = imports::stalled(&test.app, std::time::Duration::from_secs(60))
        .await
        .expect("stalled");
    assert!(stalled.contains(&(tenant.id, import.id)), "{stalled:?}");
    let done = imports::run(&test.app, tenant.id, import.id)
        .await
        .expect("run")
        .expect("taken over");
    assert_eq!(done.status, ImportStatus::Succeeded);
    assert_eq!(
        (done.rows_read, done.created, done.updated, done.refused),
        (2_600, 2_574, 0, 26)
    );
    let places = count(
        &test,
        tenant.id,
        "SELECT count(*) FROM epns WHERE tenant_id = $1",
        tenant.id,
    )
    .await;
    assert_eq!(places, 2_574);
    let lines = count(
        &test,
        tenant.id,
        "SELECT count(*) FROM import_lines WHERE import_id = $1 AND outcome = 'refused'",
        import.id,
    )
    .await;
    assert_eq!(lines, 26, "each refused row reported once");
}

#[tokio::test]
async fn a_bulk_voucher_file_issues_each_row_once_with_its_report() {
    let world = passerelle_test_support::world::World::new().await;
    let scheme_id = world.ticket_net("ticket-net", 10).await;
    let prescriber_id = world
        .prescriber(
            "CCAS de Figeac",
            passerelle_core::prescribers::PrescriberKind::Ccas,
            None,
        )
        .await;
    world.allocate(prescriber_id, scheme_id, 10, 30).await;
    let file = "Prénom;Nom;Année de naissance;Code INSEE;Catégorie\n\
                Louis;Bessières;1950;46042;retraité\n\
                Anna;Roux;19;46042;senior\n\
                Louis;Bessières;1950;46042;retraité\n";
    let target = Target::Vouchers {
        scheme_id,
        prescriber_id,
    };
    let upload = || {
        imports::receive(
            world.db(),
            world.tenant.id,
            Actor::SYSTEM,
            target,
            Some("liste.csv".into()),
            file.as_bytes(),
            passerelle_core::vouchers::bulk::MAX_FILE_BYTES,
        )
    };
    let import = upload().await.expect("upload");
    let done = imports::run(world.db(), world.tenant.id, import.id)
        .await
        .expect("run")
        .expect("ran");
    assert_eq!(done.status, ImportStatus::Succeeded, "{done:?}");
    assert_eq!(
        (done.rows_read, done.created, done.updated, done.refused),
        (3, 1, 0, 2)
    );
    let lines = imports::lines(
        world.db(),
        world.tenant.id,
        import.id,
        Some(prescriber_id),
        PageRequest::parse(Some(10), None).expect("page"),
    )
    .await
    .expect("lines");
    let outcomes: Vec<(i64, LineOutcome)> =
        lines.items.iter().map(|l| (l.line, l.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (2, LineOutcome::Created),
            (3, LineOutcome::Refused),
            (4, LineOutcome::Refused)
        ]
    );
    assert!(lines.items[0].reference.is_some());
    assert!(
        lines.items[2]
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("doublon de la ligne 2")
    );

    // Another prescriber organisation of the tenant does not see it.
    let other = world
        .prescriber(
            "Mission locale",
            passerelle_core::prescribers::PrescriberKind::MissionLocale,
            None,
        )
        .await;
    let hidden = imports::get(world.db(), world.tenant.id, import.id, Some(other)).await;
    assert!(matches!(hidden, Err(Error::NotFound(_))), "{hidden:?}");

    // The same file again issues nothing twice.
    let again = upload().await.expect("upload");
    let again = imports::run(world.db(), world.tenant.id, again.id)
        .await
        .expect("run")
        .expect("ran");
    assert_eq!((again.created, again.updated), (0, 1), "{again:?}");
}

#[tokio::test]
async fn a_place_the_database_refuses_is_refused_alone_in_its_batch() {
    let test = TestDatabase::create().await;
    let tenant = create_tenant(&test.app, "lot", TenantKind::Departement, "46").await;
    // A rule the code does not know of: only the database refuses this name.
    sqlx::query(
        "ALTER TABLE epns ADD CONSTRAINT epns_test_refused CHECK (name <> 'Refusé par la base')",
    )
    .execute(&test.owner)
    .await
    .expect("constraint");
    let mut file = String::from("id;nom;source\n");
    for i in 0..40 {
        let name = if i == 17 {
            "Refusé par la base".to_owned()
        } else {
            format!("Lieu {i}")
        };
        file.push_str(&format!("lieu-{i};{name};anct\n"));
    }
    let import = upload(&test, tenant.id, file.as_bytes()).await;
    let done = imports::run(&test.app, tenant.id, import.id)
        .await
        .expect("run")
        .expect("ran");
    assert_eq!((done.created, done.refused), (39, 1), "{done:?}");
    let page = imports::lines(
        &test.app,
        tenant.id,
        import.id,
        None,
        PageRequest::parse(Some(10), None).expect("page"),
    )
    .await
    .expect("lines");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].line, 19);
    assert_eq!(page.items[0].outcome, LineOutcome::Refused);
}
