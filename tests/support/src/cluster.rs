//! Tests against a Citus cluster instead of a single PostgreSQL.
//!
//! With `TEST_CLUSTER_SUPERUSER_URLS` set (a superuser's URL on the coordinator, then one per
//! worker, comma-separated) and `TEST_DATABASE_URL` naming the owner role on the coordinator, the
//! run's template is made on every node as an operator would (`infra/README.md`): the `citus`
//! extension, the workers joined, the migrations, then `cluster::distribute`. Each test's database
//! is then a copy of it on every node under one name, which makes a cluster of its own: Citus
//! reaches a worker's shards in the database of the same name, and each copy's metadata names the
//! same nodes and shards. Citus keeps a background connection to every database with the
//! extension, so the template is closed to connections (and that one ended) before it is copied.
//!
//! Citus is not in the registries this project installs from, so `make test` never sets this;
//! it is run by hand against a cluster built beside the project.

use std::env;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, PgConnection};

/// The superuser URLs of the cluster's nodes, coordinator first, when the tests target a cluster.
pub fn nodes() -> Option<Vec<PgConnectOptions>> {
    let urls = env::var("TEST_CLUSTER_SUPERUSER_URLS").ok()?;
    let nodes: Vec<PgConnectOptions> = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| {
            url.parse().unwrap_or_else(|e| {
                panic!(
                    "TEST_CLUSTER_SUPERUSER_URLS holds a URL that is not PostgreSQL's ({e}): {url}"
                )
            })
        })
        .collect();
    assert!(
        nodes.len() >= 2,
        "TEST_CLUSTER_SUPERUSER_URLS names the coordinator then at least one worker"
    );
    Some(nodes)
}

/// Makes `name` on every node, a copy of the template `template` (built first if this run has
/// none yet), owned by the owner role of `owner`.
pub async fn create_database(
    nodes: &[PgConnectOptions],
    owner: &PgConnectOptions,
    application_role: &str,
    template: &str,
    name: &str,
) {
    let mut coordinator = connect(nodes[0].clone()).await;
    sqlx::query("SELECT pg_advisory_lock(hashtext('passerelle-test-cluster-template'))")
        .execute(&mut coordinator)
        .await
        .expect("take the cluster template lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(template)
            .fetch_one(&mut coordinator)
            .await
            .expect("look for the cluster template");
    if !exists {
        build_template(nodes, owner, application_role, template).await;
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext('passerelle-test-cluster-template'))")
        .execute(&mut coordinator)
        .await
        .expect("release the cluster template lock");
    let owner_role = owner.get_username();
    for node in nodes {
        let mut conn = connect(node.clone()).await;
        run(
            &mut conn,
            node,
            &format!("CREATE DATABASE {name} TEMPLATE {template} OWNER {owner_role}"),
        )
        .await;
    }
}

/// The template, made under a temporary name and renamed once complete on every node.
async fn build_template(
    nodes: &[PgConnectOptions],
    owner: &PgConnectOptions,
    application_role: &str,
    template: &str,
) {
    let building = format!("{template}_building");
    let owner_role = owner.get_username();
    for node in nodes {
        let mut conn = connect(node.clone()).await;
        run(
            &mut conn,
            node,
            &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
        )
        .await;
        run(
            &mut conn,
            node,
            &format!("CREATE DATABASE {building} OWNER {owner_role}"),
        )
        .await;
        let mut database = connect(node.clone().database(&building)).await;
        run(&mut database, node, "CREATE EXTENSION citus").await;
    }
    let (coordinator, workers) = nodes.split_first().expect("at least one node");
    let mut conn = connect(coordinator.clone().database(&building)).await;
    sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
        .bind(coordinator.get_host())
        .bind(i32::from(coordinator.get_port()))
        .execute(&mut conn)
        .await
        .expect("name the coordinator");
    for worker in workers {
        sqlx::query("SELECT citus_add_node($1, $2)")
            .bind(worker.get_host())
            .bind(i32::from(worker.get_port()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("add the worker {}: {e}", address(worker)));
    }
    drop(conn);

    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(owner.clone().database(&building))
        .await
        .expect("connect to the cluster template as the owner role");
    passerelle_core::storage::MIGRATOR
        .run(&pool)
        .await
        .expect("migrate the cluster template");
    passerelle_core::storage::cluster::distribute(&pool, application_role)
        .await
        .expect("place the tables on the cluster");
    pool.close().await;

    for node in nodes {
        let mut conn = connect(node.clone()).await;
        run(
            &mut conn,
            node,
            &format!("ALTER DATABASE {building} ALLOW_CONNECTIONS false"),
        )
        .await;
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&building)
            .execute(&mut conn)
            .await
            .expect("end the connections to the cluster template");
        run(
            &mut conn,
            node,
            &format!("ALTER DATABASE {building} RENAME TO {template}"),
        )
        .await;
    }
}

async fn run(conn: &mut PgConnection, node: &PgConnectOptions, statement: &str) {
    sqlx::query(AssertSqlSafe(statement.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{statement} on {}: {e}", address(node)));
}

async fn connect(options: PgConnectOptions) -> PgConnection {
    let shown = address(&options);
    options
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to the cluster node {shown} as a superuser: {e}"))
}

fn address(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}
