//! Every statement the product sends names its tenant, so that Citus sends it to one shard
//! (`passerelle_test_support::statements` says how statements are read and recorded).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use passerelle_test_support::statements::{self, LOG_DIRECTORY_VARIABLE, Unrouted};

/// Source files that still send statements not pinned to one tenant, each with why. The list only
/// shrinks.
const STILL_UNROUTED: &str = include_str!("unrouted_statements.txt");

fn tables() -> HashSet<String> {
    ["vouchers", "schemes", "attendances", "sessions"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn unpinned(sql: &str) -> Vec<String> {
    match statements::unrouted(sql, &tables()) {
        None => Vec::new(),
        Some(Unrouted::Unpinned(tables)) => tables,
        Some(other) => panic!("{sql}: {other:?}"),
    }
}

#[test]
fn a_statement_without_its_tenant_is_unrouted() {
    assert_eq!(
        unpinned("SELECT * FROM vouchers WHERE id = $1"),
        ["vouchers"]
    );
    assert_eq!(
        unpinned("UPDATE vouchers SET remaining_minutes = 0 WHERE id = $1"),
        ["vouchers"]
    );
    assert_eq!(unpinned("DELETE FROM sessions WHERE id = $1"), ["sessions"]);
    assert_eq!(
        unpinned("SELECT * FROM vouchers WHERE tenant_id = ANY($1) AND id = $2"),
        ["vouchers"]
    );
    assert_eq!(
        unpinned("SELECT * FROM vouchers WHERE tenant_id = $1 OR id = $2 FOR UPDATE").len(),
        0,
        "an equality anywhere in the predicate counts: the code writes none under OR"
    );
    assert_eq!(
        unpinned(
            "WITH moved AS (UPDATE vouchers SET remaining_minutes = 0 WHERE id = $1 RETURNING id) \
             SELECT * FROM moved"
        ),
        ["vouchers"]
    );
    assert_eq!(
        unpinned(
            "INSERT INTO attendances (tenant_id, id) SELECT tenant_id, $2 FROM vouchers WHERE id = $1 \
             RETURNING id"
        ),
        ["vouchers"]
    );
}

#[test]
fn a_join_needs_each_table_pinned_or_joined_on_the_tenant() {
    assert_eq!(
        unpinned(
            "SELECT v.id FROM vouchers v JOIN schemes s ON s.id = v.scheme_id \
             WHERE v.tenant_id = $1 AND v.id = $2 FOR UPDATE OF v"
        ),
        ["schemes"]
    );
    assert!(
        unpinned(
            "SELECT v.id FROM vouchers v JOIN schemes s ON s.tenant_id = v.tenant_id \
             AND s.id = v.scheme_id WHERE v.tenant_id = $1 AND v.id = $2"
        )
        .is_empty()
    );
    assert!(
        unpinned(
            "SELECT v.id FROM vouchers AS v, schemes AS s WHERE s.tenant_id = $1 \
             AND v.tenant_id = s.tenant_id"
        )
        .is_empty()
    );
}

#[test]
fn a_subquery_is_pinned_by_its_own_predicate_or_the_scope_around_it() {
    assert!(
        unpinned(
            "SELECT id FROM vouchers v WHERE v.tenant_id = $1 AND EXISTS \
             (SELECT 1 FROM attendances a WHERE a.tenant_id = v.tenant_id AND a.voucher_id = v.id)"
        )
        .is_empty()
    );
    assert_eq!(
        unpinned(
            "SELECT id FROM vouchers v WHERE v.tenant_id = $1 AND EXISTS \
             (SELECT 1 FROM attendances a WHERE a.voucher_id = v.id)"
        ),
        ["attendances"]
    );
    assert!(
        unpinned(
            "UPDATE vouchers SET remaining_minutes = remaining_minutes - $3 \
             WHERE tenant_id = $1 AND id = $2 AND scheme_id IN \
             (SELECT id FROM schemes WHERE tenant_id = $1::uuid)"
        )
        .is_empty()
    );
}

#[test]
fn a_locking_statement_pins_each_subquery_itself() {
    let correlated = "SELECT v.id, EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = v.tenant_id) \
                      FROM vouchers v WHERE v.tenant_id = $1";
    assert!(
        unpinned(correlated).is_empty(),
        "without a lock, Citus routes it"
    );
    assert_eq!(
        unpinned(&format!("{correlated} FOR UPDATE OF v")),
        ["sessions"]
    );
    assert!(
        unpinned(
            "SELECT v.id, EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = $1 AND s.id = v.id) \
             FROM vouchers v WHERE v.tenant_id = $1 FOR UPDATE OF v"
        )
        .is_empty()
    );
}

#[test]
fn each_side_of_a_union_is_pinned_on_its_own() {
    assert_eq!(
        unpinned(
            "SELECT v.id FROM vouchers v WHERE v.tenant_id = $1 \
             UNION ALL SELECT v.id FROM vouchers v JOIN schemes s ON s.id = v.scheme_id \
             WHERE s.tenant_id = $1"
        ),
        ["vouchers"]
    );
    assert!(
        unpinned(
            "SELECT v.id FROM vouchers v WHERE v.tenant_id = $1 \
             UNION ALL SELECT v.id FROM vouchers v JOIN schemes s ON s.tenant_id = v.tenant_id \
             WHERE s.tenant_id = $1"
        )
        .is_empty()
    );
}

#[test]
fn an_insert_from_a_select_returns_its_rows_so_that_citus_does_not_copy_them() {
    let copied = |sql: &str| match statements::unrouted(sql, &tables()) {
        Some(Unrouted::CopiedInsert(table)) => Some(table),
        _ => None,
    };
    assert_eq!(
        copied(
            "INSERT INTO sessions (tenant_id, id) SELECT $1, id FROM unnest($2::uuid[]) AS s(id)"
        )
        .as_deref(),
        Some("sessions")
    );
    for sql in [
        "INSERT INTO sessions (tenant_id, id) SELECT $1, id FROM unnest($2::uuid[]) AS s(id) RETURNING 1",
        "INSERT INTO sessions (tenant_id, id) SELECT $1, id FROM unnest($2::uuid[]) AS s(id) \
         ON CONFLICT DO NOTHING",
        "INSERT INTO sessions (tenant_id, id) VALUES ($1, $2)",
        "INSERT INTO tenants (id) SELECT id FROM unnest($1::uuid[]) AS t(id)",
    ] {
        assert_eq!(copied(sql), None, "{sql}");
    }
}

#[test]
fn an_upsert_sets_no_volatile_function() {
    let volatile = |sql: &str| {
        matches!(
            statements::unrouted(sql, &tables()),
            Some(Unrouted::VolatileUpsert(_))
        )
    };
    assert!(volatile(
        "INSERT INTO sessions (tenant_id, id) VALUES ($1, $2) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET created_at = now()"
    ));
    assert!(!volatile(
        "INSERT INTO sessions (tenant_id, id) VALUES ($1, $2) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET created_at = EXCLUDED.created_at"
    ));
}

#[test]
fn a_change_keeps_the_clock_out_of_case_coalesce_and_returning() {
    let refused = |sql: &str| {
        matches!(
            statements::unrouted(sql, &tables()),
            Some(Unrouted::MutableInModification(_))
        )
    };
    assert!(refused(
        "UPDATE vouchers SET status = CASE WHEN valid_until < now() THEN 'expired' ELSE status END \
         WHERE tenant_id = $1 AND id = $2"
    ));
    assert!(refused(
        "UPDATE sessions SET created_at = coalesce(created_at, now()) WHERE tenant_id = $1 AND id = $2"
    ));
    assert!(refused(
        "DELETE FROM sessions WHERE tenant_id = $1 AND coalesce(created_at, now()) < $2"
    ));
    assert!(refused(
        "UPDATE sessions SET created_at = $3 WHERE tenant_id = $1 AND id = $2 RETURNING now() AS at"
    ));
    assert!(refused(
        "UPDATE sessions s SET created_at = $3 WHERE s.tenant_id = $1 AND s.id = $2 \
         RETURNING EXISTS (SELECT 1 FROM vouchers v WHERE v.tenant_id = s.tenant_id)"
    ));
    assert!(!refused(
        "UPDATE sessions SET created_at = least(created_at, now()) WHERE tenant_id = $1 AND id = $2 RETURNING created_at"
    ));
    assert!(!refused(
        "UPDATE vouchers SET status = CASE WHEN minutes_left = 0 THEN 'completed' ELSE status END, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2"
    ));
    // The shared tables are not distributed: Citus runs these as they are.
    assert!(!refused(
        "UPDATE tenants SET name = coalesce(name, now()::text) WHERE id = $1"
    ));
}

#[test]
fn an_insert_of_values_and_a_shared_table_need_nothing() {
    assert!(
        unpinned(
            "INSERT INTO vouchers (tenant_id, id) VALUES ($1, $2) \
             ON CONFLICT (tenant_id, id) DO UPDATE SET remaining_minutes = EXCLUDED.remaining_minutes"
        )
        .is_empty()
    );
    assert!(unpinned("SELECT * FROM tenants WHERE id = $1").is_empty());
    assert!(
        unpinned("SET LOCAL app.tenant_id = '0b6a9e5c-8f0e-4d7b-9a51-3c2f1e0d9b7a'").is_empty()
    );
}

/// Reads what every test process of `make test` recorded (it sets `PASSERELLE_STATEMENT_LOG`
/// and runs this test after the rest) and compares it with the list of functions still unrouted.
#[test]
#[ignore = "run by `make test` after the whole suite, over the statements it recorded"]
fn every_statement_the_suite_sent_names_its_tenant() {
    let directory = PathBuf::from(std::env::var_os(LOG_DIRECTORY_VARIABLE).unwrap_or_else(|| {
        panic!("{LOG_DIRECTORY_VARIABLE} names the directory the suite recorded into")
    }));
    let recorded = statements::recorded(&directory)
        .unwrap_or_else(|e| panic!("read {}: {e}", directory.display()));
    // Nothing recorded proves something only if statements were seen and attributed: a build
    // without line tables, or a capture that stopped working, would otherwise pass.
    let proven = statements::proven_processes(&directory)
        .unwrap_or_else(|e| panic!("read {}: {e}", directory.display()));
    assert!(
        proven >= 50,
        "only {proven} test processes saw a statement of the product and found its line"
    );
    let listed: BTreeMap<&str, &str> = STILL_UNROUTED
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once(char::is_whitespace).unwrap_or((line, "")))
        .collect();

    let new: Vec<String> = recorded
        .iter()
        .filter(|(file, _)| !listed.contains_key(file.as_str()))
        .flat_map(|(file, statements)| {
            statements
                .iter()
                .map(move |(line, tables, sql)| format!("{file}:{line} ({tables}): {sql}"))
        })
        .collect();
    let fixed: Vec<&str> = listed
        .keys()
        .copied()
        .filter(|file| !recorded.contains_key(*file))
        .collect();
    assert!(
        new.is_empty(),
        "{} statements do not name their tenant (`tenant_id = $n` for each tenant table, or a \
         join on tenant_id to one that does):\n{}",
        new.len(),
        new.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "these files name their tenant in every statement now: take them off \
         unrouted_statements.txt: {fixed:?}"
    );
}
