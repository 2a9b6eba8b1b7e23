//! Walks the catalog: every table with a `tenant_id` column must follow the tenancy rules. Every
//! later migration is checked by this test for free.

use passerelle_test_support::TestDatabase;

use crate::fixtures::tenant_tables;
use sqlx::PgPool;

#[tokio::test]
async fn every_tenant_table_follows_the_tenancy_rules() {
    let db = TestDatabase::create().await;
    let tables = tenant_tables(&db.owner).await;
    assert!(
        tables.len() >= 5,
        "expected the foundation's tenant tables, found {tables:?}"
    );
    let violations = tenancy_violations(&db.owner).await;
    assert!(
        violations.is_empty(),
        "tenancy rule violations:\n{}",
        violations.join("\n")
    );
}

#[tokio::test]
async fn the_rule_checker_reports_each_kind_of_violation() {
    let db = TestDatabase::create().await;
    sqlx::raw_sql(
        "CREATE TABLE careless (
             id uuid PRIMARY KEY,
             tenant_id uuid NOT NULL,
             code text UNIQUE
         );
         CREATE UNIQUE INDEX epns_id_tenant ON epns (id, tenant_id);
         CREATE TABLE sloppy_fk (
             tenant_id uuid NOT NULL REFERENCES tenants (id),
             id uuid NOT NULL,
             epn_id uuid,
             PRIMARY KEY (tenant_id, id),
             CONSTRAINT sloppy_fk_epn FOREIGN KEY (epn_id, tenant_id) REFERENCES epns (id, tenant_id)
         );
         ALTER TABLE sloppy_fk ENABLE ROW LEVEL SECURITY;",
    )
    .execute(&db.owner)
    .await
    .expect("create deliberately broken tables");
    let violations = tenancy_violations(&db.owner).await.join("\n");
    for expected in [
        "careless: row-level security must be ENABLEd and FORCEd",
        "careless: needs a policy",
        "careless: unique key careless_pkey must lead with tenant_id",
        "careless: unique key careless_code_key must lead with tenant_id",
        "careless: tenant_id must reference tenants(id)",
        "sloppy_fk: row-level security must be ENABLEd and FORCEd",
        "sloppy_fk: foreign key sloppy_fk_epn to epns must be composite",
        "epns: unique key epns_id_tenant must lead with tenant_id",
    ] {
        assert!(
            violations.contains(expected),
            "missing `{expected}` in:\n{violations}"
        );
    }
}

/// Every breach of the tenancy rules in the schema, one sentence each.
async fn tenancy_violations(pool: &PgPool) -> Vec<String> {
    let tables = tenant_tables(pool).await;
    let mut violations = Vec::new();

    for table in &tables {
        let (rls, force): (bool, bool) = sqlx::query_as(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("rls flags");
        if !(rls && force) {
            violations.push(format!(
                "{table}: row-level security must be ENABLEd and FORCEd"
            ));
        }

        let policies: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("policies");
        let expected =
            "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)";
        let covered = policies.iter().any(|(cmd, qual, check)| {
            cmd == "ALL" && qual.as_deref() == Some(expected) && check.as_deref() == Some(expected)
        });
        if !covered {
            violations.push(format!("{table}: needs a policy FOR ALL with USING and WITH CHECK on {expected}, found {policies:?}"));
        }
        let permissive_extra = policies
            .iter()
            .filter(|(_, qual, _)| qual.as_deref() != Some(expected))
            .count();
        if permissive_extra > 0 {
            violations.push(format!(
                "{table}: has policies other than the tenant policy, which would widen access"
            ));
        }

        let indexes: Vec<(String, bool, String)> = sqlx::query_as(
            "SELECT i.indexrelid::regclass::text, i.indisunique,
                    coalesce((SELECT attname::text FROM pg_attribute WHERE attrelid = i.indrelid AND attnum = i.indkey[0]), '<expression>')
               FROM pg_index i WHERE i.indrelid = $1::regclass",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("indexes");
        for (index, unique, first) in &indexes {
            if first != "tenant_id" {
                let kind = if *unique { "unique key" } else { "index" };
                violations.push(format!(
                    "{table}: {kind} {index} must lead with tenant_id, leads with {first}"
                ));
            }
        }
        let has_pk: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary)",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("pk");
        if !has_pk {
            violations.push(format!(
                "{table}: needs a primary key leading with tenant_id"
            ));
        }

        // Foreign keys to another tenant-owned table must map tenant_id to tenant_id.
        let fks: Vec<(String, String, Vec<String>, Vec<String>)> = sqlx::query_as(
            "SELECT con.conname::text, con.confrelid::regclass::text,
                    ARRAY(SELECT attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute ON attrelid = con.conrelid AND attnum = k.n ORDER BY k.i),
                    ARRAY(SELECT attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute ON attrelid = con.confrelid AND attnum = k.n ORDER BY k.i)
               FROM pg_constraint con WHERE con.contype = 'f' AND con.conrelid = $1::regclass",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("foreign keys");
        for (name, target, local, remote) in fks {
            if target == "tenants" {
                if local != ["tenant_id"] {
                    violations.push(format!(
                        "{table}: {name} references tenants from {local:?}, expected tenant_id"
                    ));
                }
                continue;
            }
            if !tables.contains(&target) {
                continue;
            }
            let pairs_tenant = local.first().map(String::as_str) == Some("tenant_id")
                && remote.first().map(String::as_str) == Some("tenant_id");
            if !pairs_tenant || local.len() < 2 {
                violations.push(format!(
                    "{table}: foreign key {name} to {target} must be composite and start (tenant_id, …) → (tenant_id, …), is {local:?} → {remote:?}"
                ));
            }
        }

        let tenant_fk: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass AND confrelid = 'tenants'::regclass)",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .expect("tenant fk");
        // A statement's lines (and their funders' shares) are written a month at a time, millions
        // in one statement: their tenant is checked once per statement, through their statement,
        // by a trigger (migrations 20261123000001 and 20261217000001), instead of once per line by
        // a key.
        let tenant_checked_by_trigger =
            table == "statement_lines" || table == "statement_funder_shares";
        if !tenant_fk && !tenant_checked_by_trigger {
            violations.push(format!("{table}: tenant_id must reference tenants(id)"));
        }
    }
    violations
}

#[tokio::test]
async fn the_application_role_owns_nothing_and_cannot_bypass_rls() {
    let db = TestDatabase::create().await;
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(db.app.pool())
            .await
            .expect("role flags");
    assert!(!superuser && !bypass);
    let owned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')",
    )
    .fetch_one(db.app.pool())
    .await
    .expect("owned");
    assert_eq!(owned, 0);
}

/// A user who trips a constraint must read what is wrong. Every named CHECK, UNIQUE, FOREIGN KEY
/// and EXCLUDE constraint and every unique index of the schema has a message in
/// `storage::constraints`, or is listed here as unreachable from user input.
#[tokio::test]
async fn every_user_facing_constraint_has_a_message() {
    let db = TestDatabase::create().await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT con.conname::text FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND con.contype IN ('c', 'u', 'f', 'x')
         UNION
         SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND x.indisunique AND NOT x.indisprimary
         ORDER BY 1",
    )
    .fetch_all(&db.owner)
    .await
    .expect("constraints");
    let known: Vec<&str> = passerelle_core::storage::constraints::known().collect();
    // Reachable only through a bug, not through what a user sends.
    let internal = |name: &str| {
        name.ends_with("_tenant_id_fkey")
            || name.starts_with("platform_")
            || name.starts_with("idempotency_keys_")
            || name.starts_with("_sqlx")
            || name.starts_with("audit_log_")
            || name.starts_with("competences_")
            || name.starts_with("api_tokens_token_hash")
            || name.starts_with("portfolio_links_")
            // Written only by the outbox code and the daily run, never from a client's input.
            || name.starts_with("email_outbox_")
            || name.starts_with("email_suppressions_")
            || name.starts_with("prescriber_alerts_")
            // Written only by the monthly computation; treasury details are validated in code first.
            || name.starts_with("statements_")
            || name.starts_with("statement_lines_")
            || name.starts_with("statement_funder_shares_")
            // Written from a plan validated in code first (shares, caps, periods, one funder
            // once), and at issuance from that plan.
            || name.starts_with("scheme_funding_lines_")
            || name.starts_with("scheme_fundings_version_")
            || name.starts_with("voucher_funders_")
            // Written only by the sign-in code, and the invitation and password-reset code.
            || name.starts_with("web_sessions_")
            || name.starts_with("account_links_")
            || name.starts_with("tenants_treasury_")
            // A tenant's secrets: treasury details validated in code first, the key made by
            // the database.
            || name.starts_with("tenant_secrets_")
            // Written by the statistics code from input it has validated (period, scheme, threshold).
            || name.starts_with("statistics_exports_")
            || name.starts_with("statistics_files_")
            || name.starts_with("tenants_statistics_")
            // Validated in code before it is written (`retention::set_years`).
            || name.starts_with("tenants_retention_")
            // Validated in code, and two submissions for one EPN serialized on the EPN's row
            // (`epns::bank`).
            || name.starts_with("epn_bank_changes_")
            // Written only by the import code, from an upload it has stored and rows it has read
            // (`imports`).
            || name.starts_with("imports_")
            || name.starts_with("import_chunks_")
            || name.starts_with("import_lines_")
            // Written only by the archive's lifecycle, which takes no client input; a second
            // request while one runs is refused in code first, under a lock (`archive::requests`).
            || name.starts_with("tenant_archives_")
            // A logo is checked in code (`branding::check_logo`) before it is written, with its
            // format and digest computed there.
            || name.starts_with("tenant_logos_")
            // The provider's settings and domains are checked in code (`identity_provider`)
            // before they are written; an unknown organisation has its message.
            || (name.starts_with("identity_provider") && name != "identity_provider_domains_prescriber_fkey")
            // Written only by the provider's sign-in, from an identity whose ID token it verified
            // and a user it read (`provider_sign_in`), and by the session's opening.
            || name.starts_with("user_identities_")
            || name.starts_with("web_sessions_opened_by_")
            || name.starts_with("web_sessions_provider_id_token_")
            // Written only by the second factor's code, from a secret it made and codes it
            // checked (`second_factor`).
            || name.starts_with("totp_factors_")
            || name.starts_with("recovery_codes_")
            || name.starts_with("tenants_logo_")
            // Written only by the credentials' code, from achievements it computed, keys it made
            // and a reason checked in code (`delivery::credentials`); the signing key's lock
            // serializes issuance, so a status index is never drawn twice.
            || name.starts_with("credential_keys_")
            || name.starts_with("credentials_")
            || [
                "vouchers_rules_fkey",
                "vouchers_prescriber_fkey",
                "vouchers_allocation_fkey",
                "vouchers_cancel_reason",
                "vouchers_status_known",
                "vouchers_minutes_total_check",
                "vouchers_face_value_cents_check",
                "vouchers_participation_fee_cents_check",
                "scheme_modules_number_check",
                "scheme_modules_scheme_fkey",
                "scheme_versions_version_check",
                "epn_modules_participation_fkey",
                "registrations_voucher_fkey",
                "registrations_interview_minutes_check",
                "voucher_modules_voucher_fkey",
                "voucher_modules_module_fkey",
                "session_enrolments_session_fkey",
                "session_enrolments_voucher_fkey",
                "sessions_epn_fkey",
                "attendances_session_fkey",
                "attendances_voucher_fkey",
                "attendances_epn_fkey",
                "attendances_void_reason",
                "attendances_minutes_debited_check",
                "attendance_competences_attendance_fkey",
                "beneficiaries_present_or_erased",
                "idempotency_keys_state_check",
                "accompaniment_channel_known",
                "accompaniment_channel_prescriber",
                "accompaniment_status_known",
                "accompaniment_voucher_fkey",
                "projects_prescriber_fkey",
                "projects_status_known",
                "project_members_project_fkey",
                "project_members_voucher_fkey",
            ]
            .contains(&name)
    };
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !known.contains(&n.as_str()) && !internal(n))
        .collect();
    assert!(
        missing.is_empty(),
        "constraints without a message in storage::constraints: {missing:?}"
    );
    // A primary key (listed for its message on duplicate numbers) and the trigger-raised name.
    let raised_elsewhere = ["scheme_modules_pkey", "vouchers_nominative"];
    let stale: Vec<&&str> = known
        .iter()
        .filter(|k| !names.iter().any(|n| n == *k) && !raised_elsewhere.contains(k))
        .collect();
    assert!(
        stale.is_empty(),
        "messages for constraints the schema does not have: {stale:?}"
    );
}

/// The tenant registry has no row-level security (the operator lists it): a secret kept there
/// would be one forgotten `WHERE` away from every tenant. Secrets live in `tenant_secrets`.
#[tokio::test]
async fn the_tenant_registry_holds_no_secret() {
    let db = TestDatabase::create().await;
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = 'tenants' ORDER BY column_name",
    )
    .fetch_all(&db.owner)
    .await
    .expect("columns");
    let secret_like: Vec<&String> = columns
        .iter()
        .filter(|c| {
            ["key", "iban", "bic", "secret", "password", "holder"]
                .iter()
                .any(|w| c.contains(w))
        })
        .collect();
    assert!(secret_like.is_empty(), "tenants holds {secret_like:?}");
    let secrets: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = 'tenant_secrets'",
    )
    .fetch_all(&db.owner)
    .await
    .expect("columns");
    for column in ["statistics_key", "treasury_iban"] {
        assert!(secrets.iter().any(|c| c == column), "{column}: {secrets:?}");
    }
}

/// The archive leaves out only tables that exist, blanks only columns that exist, and carries
/// every other tenant table: a table a migration adds travels without anyone listing it.
#[tokio::test]
async fn the_archive_carries_every_tenant_table_but_the_credentials() {
    use passerelle_core::archive::tables::{self, BLANKED, LEFT_OUT};
    let db = TestDatabase::create().await;
    let all = tenant_tables(&db.owner).await;
    let mut conn = db.app.pool().acquire().await.expect("connection");
    let archived = tables::tenant_tables(&mut conn).await.expect("tables");
    for (table, _) in LEFT_OUT {
        assert!(
            all.iter().any(|t| t == table),
            "{table} is left out but no longer exists"
        );
    }
    for table in &all {
        let carried = archived.iter().any(|t| &t.name == table);
        let left_out = LEFT_OUT.iter().any(|(name, _)| name == table);
        assert!(
            carried != left_out,
            "{table}: carried {carried}, left out {left_out}"
        );
    }
    for (table, column) in BLANKED {
        let found = archived
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.columns.iter().find(|c| c.name == column));
        assert!(
            found.is_some_and(|c| c.nullable),
            "{table}.{column} can be blanked"
        );
    }
}
