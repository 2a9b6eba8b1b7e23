//! `passerelle`: the one binary. `serve` runs the API, `work` the background worker, `migrate`
//! the database migrations (as the owner role), `seed-demo` the demo tenants; `tenant` and
//! `token` are the operator's administration commands; `cluster distribute` places the tables on a
//! Citus cluster.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use passerelle_core::Db;
use passerelle_core::audit::Actor;
use passerelle_core::config::{LogFormat, Settings};
use passerelle_core::pagination::PageRequest;
use passerelle_core::tenancy::onboarding;
use passerelle_core::tenancy::tenants::{self, NewTenant, TenantKind};
use passerelle_core::tenancy::tokens::{self, NewToken};
use passerelle_core::tenancy::users;

/// jemalloc rather than glibc's malloc: glibc kept the pages the statistics job freed, which took its
/// peak memory about a fifth higher when it built and dropped frames of hundreds of megabytes one
/// after the other (BENCHMARKS.md, statistics, 2026-12-08).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Digital-inclusion voucher schemes for French territories"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (API_ADDR, default 127.0.0.1:8080).
    Serve,
    /// Run the background worker.
    Work,
    /// Apply the database migrations, connected as the owner role (MIGRATION_DATABASE_URL).
    Migrate,
    /// Create or refresh the two demo tenants and print one token per role.
    SeedDemo {
        /// Also write the tokens as ROLE_TENANT=token lines to this file.
        #[arg(long)]
        tokens_file: Option<PathBuf>,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Tenant administration.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Token administration.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Running on a Citus cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// On a Citus coordinator, as the owner role (MIGRATION_DATABASE_URL): the shared tables
    /// become reference tables and every tenant table is distributed by tenant_id, co-located.
    /// Works on a database already migrated and holding data; a second run changes nothing.
    Distribute,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create(Box<CreateTenant>),
    /// List tenants.
    List,
    /// Write a territory's whole archive (CSV and Parquet per table, statistics files, manifest
    /// with SHA-256) to a zip file.
    Export {
        /// The tenant's slug.
        slug: String,
        /// The zip file to write.
        #[arg(long)]
        output: PathBuf,
    },
    /// Load an archive written by `tenant export` as a new tenant of this deployment.
    Restore {
        /// The archive's zip file.
        archive: PathBuf,
        /// The new tenant's slug, when the archived one is taken here.
        #[arg(long)]
        slug: Option<String>,
        /// The new tenant's name, when it should change.
        #[arg(long)]
        name: Option<String>,
    },
}

/// A new territory, and its first tenant admin when `--admin-email` is given.
#[derive(clap::Args)]
struct CreateTenant {
    #[arg(long)]
    slug: String,
    #[arg(long)]
    name: String,
    /// departement or region
    #[arg(long)]
    kind: String,
    #[arg(long)]
    insee_code: String,
    #[arg(long)]
    sender_name: String,
    #[arg(long)]
    sender_email: String,
    #[arg(long, default_value = "Europe/Paris")]
    time_zone: String,
    /// 2 to 5 capital letters starting voucher references; derived from the slug if absent.
    #[arg(long)]
    reference_prefix: Option<String>,
    /// Invites the territory's first tenant admin at this address (the worker sends the
    /// invitation, whose link lets them choose a password).
    #[arg(long)]
    admin_email: Option<String>,
    /// The first tenant admin's name.
    #[arg(long, default_value = "Administration")]
    admin_name: String,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a platform admin token (the admin account is created if new).
    CreatePlatform {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Exploitation")]
        display_name: String,
        #[arg(long)]
        name: String,
    },
    /// Revoke a token: a tenant user's (with --tenant) or an operator's (without).
    Revoke {
        /// The tenant's slug, for a tenant user's token.
        #[arg(long)]
        tenant: Option<String>,
        /// The token's id (shown by the API's token list).
        #[arg(long)]
        id: uuid::Uuid,
    },
    /// Create a token for an existing user of a tenant.
    CreateUser {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", passerelle_api::openapi_json());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(settings.log_format);
    match run(cli.command, &settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Command::Openapi => unreachable!("handled before configuration is read"),
        Command::Serve => passerelle_api::serve(settings).await?,
        Command::Work => {
            passerelle_worker::run(settings, passerelle_api::shutdown_signal()).await?
        }
        Command::Cluster(ClusterCommand::Distribute) => {
            let url = settings.migration_database_url.as_deref().context(
                "MIGRATION_DATABASE_URL (the owner role's connection, on the coordinator) is required",
            )?;
            let application_role = settings
                .database_url
                .parse::<sqlx::postgres::PgConnectOptions>()?
                .get_username()
                .to_owned();
            let owner = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            let done =
                passerelle_core::storage::cluster::distribute(&owner, &application_role).await?;
            owner.close().await;
            println!(
                "Citus {}, {} workers: {} reference tables and {} distributed tables placed, {} already in place, {} foreign keys dropped and added back",
                done.citus_version,
                done.workers,
                done.reference_tables.len(),
                done.distributed_tables.len(),
                done.already_placed,
                done.foreign_keys
            );
            for table in &done.reference_tables {
                println!("reference\t{table}");
            }
            for table in &done.distributed_tables {
                println!("distributed\t{table}");
            }
        }
        Command::Migrate => {
            let url = settings.migration_database_url.as_deref().context(
                "MIGRATION_DATABASE_URL (the owner role's connection) is required to migrate",
            )?;
            passerelle_core::storage::migrate(url).await?;
            eprintln!("migrations applied");
        }
        Command::SeedDemo { tokens_file } => {
            let db = connect(settings).await?;
            let issued = passerelle_core::demo::seed(&db).await?;
            let lines: String = issued
                .iter()
                .map(|t| format!("{}={}\n", t.label, t.token))
                .collect();
            println!("Demo tokens (shown once; each run replaces them):");
            print!("{lines}");
            println!(
                "Portal sign-in ({}/portail/lot/connexion): <role>@lot.example or <role>@auvergne-rhone-alpes.example, e.g. finance@lot.example, password `{}`",
                settings.public_base_url.trim_end_matches('/'),
                passerelle_core::demo::DEMO_PASSWORD
            );
            if let Some(path) = tokens_file {
                let mut file = std::fs::File::create(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                file.write_all(lines.as_bytes())?;
            }
        }
        Command::Tenant(TenantCommand::Create(create)) => {
            let CreateTenant {
                slug,
                name,
                kind,
                insee_code,
                sender_name,
                sender_email,
                time_zone,
                reference_prefix,
                admin_email,
                admin_name,
            } = *create;
            if admin_email
                .as_deref()
                .is_some_and(|e| !tenants::is_email(e))
            {
                bail!("--admin-email must be an email address");
            }
            let db = connect(settings).await?;
            let Ok(kind) = kind.parse::<TenantKind>() else {
                bail!("--kind must be departement or region");
            };
            let tenant = tenants::create(
                &db,
                &NewTenant {
                    slug,
                    name,
                    kind,
                    insee_code,
                    time_zone,
                    sender_name,
                    sender_email,
                    reference_prefix,
                },
            )
            .await?;
            println!("{}\t{}\t{}", tenant.id, tenant.slug, tenant.name);
            if let Some(email) = admin_email {
                let admin =
                    onboarding::invite_admin(&db, tenant.id, Actor::OPERATOR, &email, &admin_name)
                        .await?;
                println!("{}\t{}\tinvited", admin.id, admin.email);
            }
        }
        Command::Tenant(TenantCommand::List) => {
            let db = connect(settings).await?;
            let mut page = PageRequest::parse(Some(100), None)?;
            loop {
                let result = tenants::list(&db, page).await?;
                let lines: String = result
                    .items
                    .iter()
                    .map(|t| format!("{}\t{}\t{}\t{}\n", t.id, t.slug, t.kind, t.name))
                    .collect();
                // A reader that stops early (`| head`, `| grep -q`) closes the pipe: that ends the
                // listing, it is not an error.
                if std::io::Write::write_all(&mut std::io::stdout(), lines.as_bytes()).is_err() {
                    break;
                }
                match result.next_cursor {
                    Some(cursor) => page = PageRequest::parse(Some(100), Some(&cursor))?,
                    None => break,
                }
            }
        }
        Command::Tenant(TenantCommand::Export { slug, output }) => {
            let db = connect(settings).await?;
            let tenant = tenants::find_by_slug(&db, &slug)
                .await?
                .context("no tenant with this slug")?;
            let manifest = passerelle_worker::archive::build(
                &db,
                tenant.id,
                &settings.statistics_dir,
                &output,
            )
            .await?;
            passerelle_core::archive::record_export(&db, tenant.id, Actor::OPERATOR, &manifest)
                .await?;
            let rows: i64 = manifest.tables.iter().map(|t| t.rows).sum();
            eprintln!(
                "{}: {} tables, {rows} rows, {} other files",
                output.display(),
                manifest.tables.len(),
                manifest.files.len()
            );
        }
        Command::Tenant(TenantCommand::Restore {
            archive,
            slug,
            name,
        }) => {
            let db = connect(settings).await?;
            let tenant = passerelle_worker::archive::restore(
                &db,
                &archive,
                &settings.statistics_dir,
                &passerelle_core::archive::restore::RestoreOptions { slug, name },
            )
            .await?;
            println!("{}\t{}\t{}", tenant.id, tenant.slug, tenant.name);
        }
        Command::Token(TokenCommand::CreatePlatform {
            email,
            display_name,
            name,
        }) => {
            let db = connect(settings).await?;
            let issued = tokens::issue_platform(
                &db,
                &email,
                &display_name,
                &NewToken {
                    name,
                    expires_at: None,
                },
            )
            .await?;
            eprintln!("token {} created for {email}", issued.info.id);
            println!("{}", issued.secret);
        }
        Command::Token(TokenCommand::Revoke {
            tenant: Some(tenant),
            id,
        }) => {
            let db = connect(settings).await?;
            let tenant = tenants::find_by_slug(&db, &tenant)
                .await?
                .context("no tenant with this slug")?;
            tokens::revoke(&db, tenant.id, Actor::OPERATOR, None, id).await?;
            eprintln!("token {id} revoked");
        }
        Command::Token(TokenCommand::Revoke { tenant: None, id }) => {
            let db = connect(settings).await?;
            tokens::revoke_platform(&db, id).await?;
            eprintln!("operator token {id} revoked");
        }
        Command::Token(TokenCommand::CreateUser {
            tenant,
            email,
            name,
        }) => {
            let db = connect(settings).await?;
            let tenant = tenants::find_by_slug(&db, &tenant)
                .await?
                .context("no tenant with this slug")?;
            let mut tx = db.begin_tenant(tenant.id).await?;
            let user = users::find_by_email(&mut tx, &email)
                .await?
                .context("no user with this email in this tenant")?;
            tx.commit().await?;
            let issued = tokens::issue_for_user(
                &db,
                tenant.id,
                Actor::OPERATOR,
                user.id,
                &NewToken {
                    name,
                    expires_at: None,
                },
            )
            .await?;
            eprintln!("token {} created for {email}", issued.info.id);
            println!("{}", issued.secret);
        }
    }
    Ok(())
}

async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    Db::connect(&settings.database_url, 2, Duration::from_secs(10))
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")
}
