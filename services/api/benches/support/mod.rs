//! Shared by the benchmarks that compare the API with pgbench.

/// What pgbench reported.
pub struct Pgbench {
    pub tps: f64,
    pub latency_ms: f64,
    /// pgbench's line about failed transactions, when it printed one.
    pub failed: Option<String>,
}

/// Runs pgbench with `script` against `url` (a libpq URL without sqlx's parameters), as the
/// application role; `load` is the run's length, e.g. `["-T", "15"]` or `["-t", "62"]`.
pub async fn pgbench(url: &str, clients: usize, load: [&str; 2], script: &str) -> Pgbench {
    let dir = std::env::temp_dir().join(format!(
        "passerelle-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script_path = dir.join("transaction.sql");
    std::fs::write(&script_path, script).expect("script");
    let password = std::env::var("TEST_APP_PASSWORD").unwrap_or_else(|_| "passerelle".into());
    let clients = clients.to_string();
    let output = tokio::process::Command::new("pgbench")
        .env("PGPASSWORD", password)
        .args(["-n", "-c", &clients, "-j", "2", load[0], load[1], "-f"])
        .arg(&script_path)
        .arg(url.split('?').next().unwrap_or_default())
        .output()
        .await
        .expect("pgbench runs (Debian package postgresql)");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "pgbench failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value_after = |prefix: &str| -> f64 {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("pgbench output lacks `{prefix}`:\n{stdout}"))
    };
    Pgbench {
        tps: value_after("tps = "),
        latency_ms: value_after("latency average = "),
        failed: stdout
            .lines()
            .find(|l| l.contains("failed"))
            .map(|l| l.trim().to_owned()),
    }
}
