//! The worker's liveness endpoint: `GET /healthz` answers 200 while the relay completes passes
//! (which needs PostgreSQL and Redis), 503 once it has not for a while, so that a supervisor
//! restarts a worker that is stuck rather than one that is merely idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Route, get, handler};
use tokio::sync::watch;

pub struct Liveness {
    pub worker: String,
    started_ms: i64,
    last_relay_ms: AtomicI64,
    stale_after: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Liveness {
    pub fn new(worker: String, stale_after: Duration) -> Self {
        Self {
            worker,
            started_ms: now_ms(),
            last_relay_ms: AtomicI64::new(0),
            stale_after,
        }
    }

    pub fn relay_ticked(&self) {
        self.last_relay_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Alive when the relay completed a pass recently, or the process is younger than the grace.
    pub fn is_alive(&self) -> bool {
        let limit = i64::try_from(self.stale_after.as_millis()).unwrap_or(i64::MAX);
        let last = self
            .last_relay_ms
            .load(Ordering::Relaxed)
            .max(self.started_ms);
        now_ms() - last <= limit
    }

    fn seconds_since_relay(&self) -> Option<i64> {
        match self.last_relay_ms.load(Ordering::Relaxed) {
            0 => None,
            last => Some((now_ms() - last) / 1000),
        }
    }
}

#[handler]
fn healthz(liveness: Data<&Arc<Liveness>>) -> impl IntoResponse {
    let body = serde_json::json!({
        "status": if liveness.is_alive() { "ok" } else { "stalled" },
        "worker": liveness.worker,
        "seconds_since_relay": liveness.seconds_since_relay(),
    });
    let status = if liveness.is_alive() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(status)
}

pub async fn serve(
    addr: SocketAddr,
    liveness: Arc<Liveness>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Route::new().at("/healthz", get(healthz)).data(liveness);
    poem::Server::new(TcpListener::bind(addr))
        .run_with_graceful_shutdown(
            app,
            async move {
                let _ = shutdown.changed().await;
            },
            Some(Duration::from_secs(5)),
        )
        .await
}
