//! A typed HTTP client of the running API, holding the demo tokens `passerelle seed-demo` printed
//! (`TENANT_ADMIN_LOT`, `PRESCRIBER_LOT`, `EPN_LOT`…, `PLATFORM_ADMIN`).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    tokens: HashMap<String, String>,
}

/// An answer, or the transport error a client would see (refused, reset, timed out).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_problem(&self) -> bool {
        self.header("content-type") == Some("application/problem+json")
            && self.body["status"] == self.status
            && self.body["title"].is_string()
    }
}

impl Client {
    /// `tokens` is the `LABEL=token` file written by `passerelle seed-demo --tokens-file`.
    pub fn new(base: String, tokens: &str) -> Self {
        let tokens = tokens
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(label, token)| (label.to_owned(), token.to_owned()))
            .collect();
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            tokens,
        }
    }

    /// The demo token labelled `label`, e.g. `PRESCRIBER_LOT`.
    pub fn token(&self, label: &str) -> &str {
        self.tokens
            .get(label)
            .unwrap_or_else(|| panic!("no demo token {label}"))
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let resp = request.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.text().await?;
        let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            raw,
        })
    }

    pub async fn get(&self, path: &str, label: &str) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(self.token(label)),
        )
        .await
    }

    pub async fn post(
        &self,
        path: &str,
        label: &str,
        body: &Value,
    ) -> Result<Reply, reqwest::Error> {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(self.token(label))
                .json(body),
        )
        .await
    }

    /// A POST that must succeed with `status`; panics with the answer otherwise.
    pub async fn expect(&self, path: &str, label: &str, body: &Value, status: u16) -> Value {
        let reply = self
            .post(path, label, body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(reply.status, status, "POST {path}: {}", reply.raw);
        reply.body
    }

    pub async fn expect_get(&self, path: &str, label: &str) -> Value {
        let reply = self
            .get(path, label)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.raw);
        reply.body
    }
}

/// What a load client saw: each answer's latency, and every request that did not get the answer
/// it expected, as `request: status body` or `request: transport error`.
#[derive(Debug, Default)]
pub struct Tally {
    pub latencies_ms: Vec<u128>,
    pub failures: Vec<String>,
}

impl Tally {
    /// Records `reply` to the request `what` sent at `started`; returns it if its status is `want`.
    pub fn check(
        &mut self,
        what: &str,
        reply: Result<Reply, reqwest::Error>,
        started: std::time::Instant,
        want: u16,
    ) -> Option<Reply> {
        self.latencies_ms.push(started.elapsed().as_millis());
        match reply {
            Ok(r) if r.status == want => Some(r),
            Ok(r) => {
                self.failures
                    .push(format!("{what}: {} {}", r.status, r.raw));
                None
            }
            Err(e) => {
                self.failures.push(format!("{what}: {e}"));
                None
            }
        }
    }
}
