//! The `passerelle` binary as child processes: `serve`, `work`, and one-shot commands. Every
//! process gets exactly the environment the test gives it (nothing inherited from the shell but
//! PATH), and writes its log to a file that a failing test names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The binary `make test-faults` built: `PASSERELLE_BIN`, else `debug/passerelle` in the cargo
/// target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("PASSERELLE_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug").join("passerelle");
    assert!(
        path.exists(),
        "{} is missing: run `make test-faults`, which builds it first",
        path.display()
    );
    path
}

/// The environment of every `passerelle` process of one test.
pub type Env = BTreeMap<&'static str, String>;

fn command(env: &Env, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null());
    command
}

/// Runs a one-shot command (`migrate`, `seed-demo`) to completion; panics with its output if it
/// fails.
pub async fn run_once(env: &Env, args: &[&str]) -> String {
    let output = command(env, args)
        .output()
        .await
        .expect("run the passerelle binary");
    assert!(
        output.status.success(),
        "passerelle {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A long-running `passerelle serve` or `passerelle work`.
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    pub fn spawn(env: &Env, subcommand: &str, log_dir: &std::path::Path) -> Self {
        let log = log_dir.join(format!(
            "{subcommand}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let child = command(env, &[subcommand])
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the passerelle binary");
        Self {
            name: subcommand.into(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// SIGKILL, as a crash or an out-of-memory kill would: no shutdown code runs.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL");
        }
    }

    /// Panics, with the end of the log, if the process has exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("the process was not killed");
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "passerelle {} exited ({status}); its log:\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// The last lines of the process's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `check` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
