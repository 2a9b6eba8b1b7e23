//! Configuration from environment variables, validated once at start-up so that a typo stops the
//! process with a message instead of surfacing at the first request. `.env.example` documents it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// The application role's connection (no table ownership, no BYPASSRLS).
    pub database_url: String,
    /// The owner role's connection, used only by `passerelle migrate`.
    pub migration_database_url: Option<String>,
    pub database_max_connections: u32,
    /// Longest wait for a pooled connection. Short, so that while PostgreSQL is down or
    /// restarting requests fail fast with 503 instead of queueing.
    pub database_acquire_timeout: Duration,
    pub redis_url: String,
    /// `smtp://`, `smtps://` or `smtp+starttls://`; when absent, emails are written as `.eml`
    /// files under `mail_dir`.
    pub smtp_url: Option<String>,
    pub mail_dir: PathBuf,
    /// Where the statistics exports are written by the worker and read by the API.
    pub statistics_dir: PathBuf,
    /// Where the worker writes territories' archives and the API reads them (`ARCHIVE_DIR`).
    pub archive_dir: PathBuf,
    /// The design system's files (DSFR's `dist` folder) that the API serves under
    /// `/static/dsfr/`; `infra/local/web-assets.sh` installs them.
    pub web_assets_dir: PathBuf,
    pub api_addr: SocketAddr,
    /// Where the worker's liveness endpoint (`/healthz`) listens.
    pub worker_health_addr: SocketAddr,
    /// The service's public address, for links in emails (unsubscribe, balance check). HTTPS,
    /// except on a loopback address for local use.
    pub public_base_url: String,
    pub log_format: LogFormat,
    pub worker: WorkerSettings,
    /// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`, IPs or CIDRs). Behind a
    /// load balancer, every client would otherwise be the balancer's address and share one budget
    /// of the rate limits; without one, a client could name any address it likes.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The key the holders' private links derive their codes from (`PORTFOLIO_LINK_KEY`), so
    /// that a letter printed again and the welcome email carry the code without it being stored.
    /// Changing it stops every printed code from working.
    pub portfolio_link_key: String,
    /// Whether a territory's OpenID Connect provider may be a plain-`http` issuer on this machine
    /// (`OIDC_LOCAL_ISSUERS=true`: development and the tests' provider). Off in production, so a
    /// tenant admin cannot make the service call its own host's ports.
    pub local_identity_providers: bool,
    /// Whether the API listens to the changes announced on `passerelle_changes`, and so keeps
    /// tokens' principals and tenants in memory (`CHANGES_LISTENER`, on by default). Off behind a
    /// pooler in transaction mode (PgBouncer), where `LISTEN` does not work: every request then
    /// reads them from PostgreSQL.
    pub changes_listener: bool,
}

/// The worker's timings and schedules. The defaults are production's; the fault-injection tests
/// shorten them to see a lost job recovered within seconds.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// A job handed to Redis this long ago whose row is still pending was lost (Redis restarted
    /// without its data, the worker killed): it is handed over again.
    pub requeue_after: Duration,
    /// The first retry of an email the mail server refused for now; later ones back off.
    pub email_retry_first_delay: Duration,
    /// Six-field cron expressions in Europe/Paris; `None` for the built-in schedule.
    pub daily_schedule: Option<String>,
    pub monthly_schedule: Option<String>,
    pub statistics_schedule: Option<String>,
}

/// Where `infra/local/web-assets.sh` installs the design system, from the repository's root.
/// The holders' link key on a machine whose public address is loopback (development, tests):
/// printed codes from such a machine open nothing elsewhere.
pub const LOOPBACK_PORTFOLIO_LINK_KEY: &str = "passerelle-loopback-only-portfolio-link-key";

/// The shortest `PORTFOLIO_LINK_KEY` accepted.
pub const PORTFOLIO_LINK_KEY_MIN_CHARS: usize = 32;

pub const DEFAULT_WEB_ASSETS_DIR: &str = "infra/web/node_modules/@gouvfr/dsfr/dist";

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// An IP address (a network of one) or a CIDR block.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut url = |name: &str, schemes: &[&str], required: bool, default: Option<&str>| {
            let value = get(name).or_else(|| default.map(str::to_owned));
            match value {
                None if required => {
                    problems.push(format!("{name} is required (e.g. {}://…)", schemes[0]));
                    None
                }
                None => None,
                Some(v) if schemes.iter().any(|s| v.starts_with(&format!("{s}://"))) => Some(v),
                Some(_) => {
                    problems.push(format!(
                        "{name} must start with one of: {}",
                        schemes
                            .iter()
                            .map(|s| format!("{s}://"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    None
                }
            }
        };
        let database_url = url("DATABASE_URL", &["postgres", "postgresql"], true, None);
        let migration_database_url = url(
            "MIGRATION_DATABASE_URL",
            &["postgres", "postgresql"],
            false,
            None,
        );
        let redis_url = url(
            "REDIS_URL",
            &["redis", "rediss"],
            false,
            Some("redis://127.0.0.1:6379"),
        );
        let smtp_url = url("SMTP_URL", &["smtp", "smtps", "smtp+starttls"], false, None);

        let api_addr = get("API_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let api_addr = api_addr.parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "API_ADDR must be host:port with an IP address, got `{api_addr}`"
            ));
        });
        let worker_health_addr =
            get("WORKER_HEALTH_ADDR").unwrap_or_else(|| "127.0.0.1:8081".into());
        let worker_health_addr = worker_health_addr.parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "WORKER_HEALTH_ADDR must be host:port with an IP address, got `{worker_health_addr}`"
            ));
        });
        let public_base_url = get("PUBLIC_BASE_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8080".into())
            .trim_end_matches('/')
            .to_owned();
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| public_base_url == *p || public_base_url.starts_with(&format!("{p}:")));
        if !(public_base_url.starts_with("https://") || loopback) {
            problems.push(format!(
                "PUBLIC_BASE_URL must be an https:// address (http:// only on 127.0.0.1 or localhost), got `{public_base_url}`"
            ));
        }
        let portfolio_link_key = match get("PORTFOLIO_LINK_KEY") {
            Some(key) if key.trim().chars().count() >= PORTFOLIO_LINK_KEY_MIN_CHARS => {
                key.trim().to_owned()
            }
            Some(_) => {
                problems.push(format!(
                    "PORTFOLIO_LINK_KEY must be at least {PORTFOLIO_LINK_KEY_MIN_CHARS} characters (e.g. the output of `openssl rand -base64 33`)"
                ));
                String::new()
            }
            None if loopback => LOOPBACK_PORTFOLIO_LINK_KEY.to_owned(),
            None => {
                problems.push(
                    "PORTFOLIO_LINK_KEY is required when PUBLIC_BASE_URL is not a loopback address: the holders' printed codes derive from it".into(),
                );
                String::new()
            }
        };
        let max_connections = get("DATABASE_MAX_CONNECTIONS").unwrap_or_else(|| "10".into());
        let database_max_connections = match max_connections.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => Some(n),
            _ => {
                problems.push(format!("DATABASE_MAX_CONNECTIONS must be a number from 1 to 500, got `{max_connections}`"));
                None
            }
        };
        let mut seconds = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| {
            let value = get(name).unwrap_or_else(|| default.to_string());
            match value.parse::<u64>() {
                Ok(n) if range.contains(&n) => Duration::from_secs(n),
                _ => {
                    problems.push(format!(
                        "{name} must be a number of seconds from {} to {}, got `{value}`",
                        range.start(),
                        range.end()
                    ));
                    Duration::from_secs(default)
                }
            }
        };
        let database_acquire_timeout = seconds("DATABASE_ACQUIRE_TIMEOUT_SECONDS", 3, 1..=60);
        let worker = WorkerSettings {
            requeue_after: seconds("WORKER_REQUEUE_AFTER_SECONDS", 600, 5..=86_400),
            email_retry_first_delay: seconds("EMAIL_RETRY_FIRST_DELAY_SECONDS", 30, 1..=3_600),
            daily_schedule: get("DAILY_SCHEDULE"),
            monthly_schedule: get("MONTHLY_SCHEDULE"),
            statistics_schedule: get("STATISTICS_SCHEDULE"),
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") => Some(LogFormat::Pretty),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                problems.push(format!(
                    "LOG_FORMAT must be `pretty` or `json`, got `{other}`"
                ));
                None
            }
        };
        let trusted_proxies = get("TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| match parse_network(s) {
                Some(net) => Some(net),
                None => {
                    problems.push(format!(
                        "TRUSTED_PROXIES must be IP addresses or CIDR blocks separated by commas (e.g. 10.0.0.0/8, ::1), got `{s}`"
                    ));
                    None
                }
            })
            .collect();
        let mut boolean = |name: &str, default: bool| match get(name).as_deref().map(str::trim) {
            None | Some("") => default,
            Some("false") => false,
            Some("true") => true,
            Some(other) => {
                problems.push(format!("{name} must be true or false, got `{other}`"));
                default
            }
        };
        let local_identity_providers = boolean("OIDC_LOCAL_ISSUERS", false);
        let changes_listener = boolean("CHANGES_LISTENER", true);
        let mail_dir = PathBuf::from(get("MAIL_DIR").unwrap_or_else(|| "var/mail".into()));
        let statistics_dir =
            PathBuf::from(get("STATISTICS_DIR").unwrap_or_else(|| "var/statistics".into()));
        let archive_dir =
            PathBuf::from(get("ARCHIVE_DIR").unwrap_or_else(|| "var/archives".into()));
        let web_assets_dir =
            PathBuf::from(get("WEB_ASSETS_DIR").unwrap_or_else(|| DEFAULT_WEB_ASSETS_DIR.into()));

        match (
            database_url,
            redis_url,
            api_addr,
            worker_health_addr,
            database_max_connections,
            log_format,
        ) {
            (
                Some(database_url),
                Some(redis_url),
                Ok(api_addr),
                Ok(worker_health_addr),
                Some(database_max_connections),
                Some(log_format),
            ) if problems.is_empty() => Ok(Settings {
                database_url,
                migration_database_url,
                database_max_connections,
                database_acquire_timeout,
                redis_url,
                smtp_url,
                mail_dir,
                statistics_dir,
                archive_dir,
                web_assets_dir,
                api_addr,
                worker_health_addr,
                public_base_url,
                log_format,
                worker,
                trusted_proxies,
                portfolio_link_key,
                local_identity_providers,
                changes_listener,
            }),
            _ => Err(ConfigError(problems)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_database_is_given() {
        let s =
            settings(&[("DATABASE_URL", "postgres://app@localhost/passerelle")]).expect("valid");
        assert_eq!(s.api_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.redis_url, "redis://127.0.0.1:6379");
        assert!(s.smtp_url.is_none());
        assert_eq!(s.public_base_url, "http://127.0.0.1:8080");
        assert_eq!(s.worker_health_addr.to_string(), "127.0.0.1:8081");
    }

    #[test]
    fn public_links_must_be_https_outside_loopback() {
        let db = ("DATABASE_URL", "postgres://app@localhost/passerelle");
        for ok in [
            "https://passerelle.example.fr/",
            "http://localhost:8080",
            "http://127.0.0.1:9000",
        ] {
            let key = (
                "PORTFOLIO_LINK_KEY",
                "k3y-of-at-least-thirty-two-characters",
            );
            assert!(
                settings(&[db, key, ("PUBLIC_BASE_URL", ok)]).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://passerelle.example.fr",
            "http://127.0.0.1.example.fr",
            "ftp://x",
        ] {
            let err = settings(&[db, ("PUBLIC_BASE_URL", bad)]).expect_err(bad);
            assert!(err.to_string().contains("PUBLIC_BASE_URL"), "{bad}");
        }
    }

    #[test]
    fn the_holders_link_key_is_required_outside_loopback_and_long_enough() {
        let db = ("DATABASE_URL", "postgres://app@localhost/passerelle");
        let public = ("PUBLIC_BASE_URL", "https://passerelle.example.fr");
        let err = settings(&[db, public]).expect_err("no key in production");
        assert!(err.to_string().contains("PORTFOLIO_LINK_KEY"));
        let err = settings(&[db, public, ("PORTFOLIO_LINK_KEY", "short")]).expect_err("short");
        assert!(err.to_string().contains("at least 32"));
        let key = "k3y-of-at-least-thirty-two-characters";
        let s = settings(&[db, public, ("PORTFOLIO_LINK_KEY", key)]).expect("valid");
        assert_eq!(s.portfolio_link_key, key);
        let local = settings(&[db]).expect("loopback");
        assert_eq!(local.portfolio_link_key, LOOPBACK_PORTFOLIO_LINK_KEY);
    }

    #[test]
    fn the_changes_listener_is_on_unless_turned_off() {
        let db = ("DATABASE_URL", "postgres://app@localhost/passerelle");
        assert!(settings(&[db]).expect("valid").changes_listener);
        let off = settings(&[db, ("CHANGES_LISTENER", "false")]).expect("valid");
        assert!(!off.changes_listener);
        let err = settings(&[db, ("CHANGES_LISTENER", "no")]).expect_err("not a boolean");
        assert!(err.to_string().contains("CHANGES_LISTENER"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = settings(&[
            ("REDIS_URL", "http://x"),
            ("API_ADDR", "nowhere"),
            ("LOG_FORMAT", "xml"),
        ])
        .expect_err("invalid");
        let text = err.to_string();
        for needle in ["DATABASE_URL", "REDIS_URL", "API_ADDR", "LOG_FORMAT"] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }
}
