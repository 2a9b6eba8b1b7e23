use std::time::Duration;

use passerelle_core::Db;
use redis::aio::ConnectionManager;

/// What every request handler can reach. Cloned per request (cheap: pools are shared handles).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub redis: ConnectionManager,
    /// Prefix of every Redis key the API writes (tests use a random one to run in parallel).
    pub redis_namespace: String,
    /// Where links in emails and public pages point (`PUBLIC_BASE_URL`).
    pub links: passerelle_core::emails::Links,
    /// Where the worker writes statistics exports (`STATISTICS_DIR`).
    pub statistics_dir: std::path::PathBuf,
    /// Where the worker writes territories' archives (`ARCHIVE_DIR`).
    pub archive_dir: std::path::PathBuf,
    /// The design system's files, served under `/static/dsfr/` (`WEB_ASSETS_DIR`).
    pub web_assets_dir: std::path::PathBuf,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The limits' counters while Redis is unreachable.
    pub local_limits: std::sync::Arc<crate::limits::LocalCounters>,
    /// The territories' OpenID Connect providers: their HTTP client and discovery documents.
    pub identity_providers: std::sync::Arc<crate::oidc::Providers>,
}

impl AppState {
    pub fn new(db: Db, redis: ConnectionManager) -> Self {
        Self {
            db,
            redis,
            redis_namespace: "passerelle".into(),
            links: passerelle_core::emails::Links::new(
                "http://127.0.0.1:8080",
                passerelle_core::config::LOOPBACK_PORTFOLIO_LINK_KEY,
            ),
            statistics_dir: "var/statistics".into(),
            archive_dir: "var/archives".into(),
            // The repository's copy, wherever the process runs from (tests run in the crate).
            web_assets_dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(passerelle_core::config::DEFAULT_WEB_ASSETS_DIR),
            trusted_proxies: Vec::new(),
            local_limits: Default::default(),
            identity_providers: std::sync::Arc::new(crate::oidc::Providers::new(false)),
        }
    }

    /// Opens the Redis connection manager with timeouts in seconds rather than redis-rs's 500 ms
    /// default, which a busy Redis exceeds.
    pub async fn connect_redis(url: &str) -> Result<ConnectionManager, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        ConnectionManager::new_with_config(client, config).await
    }
}
