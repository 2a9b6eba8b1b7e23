//! The HTTP API: poem-openapi routes under `/v1`, the OpenAPI document at `/v1/openapi.json`,
//! interactive documentation at `/docs`, and `/healthz` and `/readyz` for load balancers.

pub mod access;
mod assets;
mod document;
mod health;
mod holder;
pub mod limits;
pub mod middleware;
pub mod oidc;
mod pages;
pub mod problem;
mod problem_types;
mod qr;
pub mod state;
pub mod v1;
mod web;

use std::time::Duration;

use passerelle_core::Db;
use passerelle_core::config::Settings;
use poem::endpoint::StaticFilesEndpoint;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, EndpointExt, Route, Server, get};
use poem_openapi::OpenApiService;

pub use state::AppState;

pub fn openapi_service() -> OpenApiService<v1::Apis, ()> {
    OpenApiService::new(v1::apis(), "Passerelle API", env!("CARGO_PKG_VERSION")).description(
        "Digital-inclusion voucher schemes for French territories. Every call needs a bearer \
             token; the tenant is the token's. Errors are RFC 9457 problem details.",
    )
}

/// The OpenAPI document as committed in `services/api/openapi.json`.
pub fn openapi_json() -> String {
    document::finish(&openapi_service().spec())
}

/// The document as poem-openapi writes it, before `openapi_json` finishes it: for the test that
/// looks for what reading it back would hide (a key written twice).
pub fn openapi_json_as_generated() -> String {
    openapi_service().spec()
}

#[poem::handler]
fn served_document() -> poem::Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    poem::Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(DOCUMENT.get_or_init(openapi_json).clone())
}

pub fn app(state: AppState) -> impl Endpoint {
    let api = openapi_service();
    let docs = api.swagger_ui();
    Route::new()
        .nest(
            "/static/dsfr",
            StaticFilesEndpoint::new(state.web_assets_dir.clone()),
        )
        .at("/static/passerelle/:name", get(assets::file))
        .at("/static/jsqr/jsQR.js", get(assets::qr_decoder))
        .nest("/portail", web::routes())
        .nest("/territoires", web::public::routes())
        .at("/problems", get(problem_types::index))
        .at("/problems/:slug", get(problem_types::show))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/v1/openapi.json", get(served_document))
        .nest("/docs", docs)
        .nest("/", api)
        .around(middleware::payload_errors::layer)
        .around(middleware::idempotency::layer)
        .around(middleware::auth::layer)
        .around(middleware::body_limit::layer)
        .around(middleware::security_headers::layer)
        .around(middleware::request_id::layer)
        .data(state)
}

/// Serves the API in the background on a free loopback port and returns its address: the way
/// tests and benchmarks run the real service next to their client.
pub async fn spawn_on_loopback(state: AppState) -> std::io::Result<std::net::SocketAddr> {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| std::io::Error::other("the listener has no TCP address"))?;
    state.db.follow_changes();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app(state)));
    Ok(addr)
}

/// Runs the API until Ctrl-C or SIGTERM, then lets in-flight requests finish.
pub async fn serve(settings: &Settings) -> Result<(), ServeError> {
    let db = Db::connect(
        &settings.database_url,
        settings.database_max_connections,
        settings.database_acquire_timeout,
    )
    .await
    .map_err(ServeError::Database)?;
    passerelle_core::storage::preflight::check(db.pool()).await?;
    if settings.changes_listener {
        db.follow_changes();
    }
    if !settings.web_assets_dir.join("dsfr.min.css").is_file()
        || !settings.web_assets_dir.join(assets::QR_DECODER).is_file()
    {
        return Err(ServeError::WebAssets(settings.web_assets_dir.clone()));
    }
    let redis = AppState::connect_redis(&settings.redis_url).await?;
    let acceptor = TcpListener::bind(settings.api_addr)
        .into_acceptor()
        .await
        .map_err(|source| ServeError::Bind {
            addr: settings.api_addr,
            source,
        })?;
    let local = acceptor
        .local_addr()
        .into_iter()
        .next()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %local, docs = %format!("http://{}/docs", settings.api_addr), "API listening");
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app({
                let mut state = AppState::new(db, redis);
                state.links = passerelle_core::emails::Links::new(
                    &settings.public_base_url,
                    &settings.portfolio_link_key,
                );
                state.statistics_dir = settings.statistics_dir.clone();
                state.archive_dir = settings.archive_dir.clone();
                state.web_assets_dir = settings.web_assets_dir.clone();
                state.trusted_proxies = settings.trusted_proxies.clone();
                state.identity_providers = std::sync::Arc::new(crate::oidc::Providers::new(
                    settings.local_identity_providers,
                ));
                state
            }),
            shutdown_signal(),
            Some(Duration::from_secs(10)),
        )
        .await
        .map_err(ServeError::Server)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot connect to PostgreSQL: {0}")]
    Database(#[source] sqlx::Error),
    #[error(transparent)]
    Preflight(#[from] passerelle_core::storage::preflight::PreflightError),
    #[error("cannot connect to Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot listen on {addr} (is another process using it? set API_ADDR): {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the design system's files are not in {0} (no dsfr.min.css), or the QR decoder is not beside them: run infra/local/web-assets.sh, or set WEB_ASSETS_DIR"
    )]
    WebAssets(std::path::PathBuf),
    #[error("server error: {0}")]
    Server(#[source] std::io::Error),
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
