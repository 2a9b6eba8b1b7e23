//! A PostgreSQL cluster of the test's own (initdb in a temporary folder, a free port), for the
//! test that stops and restarts PostgreSQL under load without disturbing the shared server.
//! Roles and database are those `make run` creates; the schema comes from `passerelle migrate`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ports::free_port;

pub struct PostgresCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

const ROLES: &str = "CREATE ROLE passerelle_owner LOGIN CREATEDB PASSWORD 'passerelle';
CREATE ROLE passerelle_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'passerelle';
CREATE DATABASE passerelle OWNER passerelle_owner;";

/// The newest server installed by Debian's packages.
fn server_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<u32> = std::fs::read_dir(root)
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let newest = versions.last().expect("a PostgreSQL version is installed");
    root.join(newest.to_string()).join("bin")
}

/// PostgreSQL refuses to run as root: as root, commands run as the `postgres` system user.
fn as_server_user(program: &Path) -> Command {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PostgresCluster {
    /// initdb, start, and create the owner and application roles and the `passerelle` database.
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "passerelle-faults-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        // The server user must own the folder; as another user, it already does.
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .output();
        let cluster = Self {
            bin: server_bin(),
            port: free_port(),
            dir,
        };
        let mut initdb = as_server_user(&cluster.bin.join("initdb"));
        initdb.arg("-D").arg(cluster.data()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        cluster.resume();
        for statement in ROLES.lines() {
            let mut psql = Command::new(cluster.bin.join("psql"));
            psql.args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
            ])
            .arg("-p")
            .arg(cluster.port.to_string())
            .arg("-c")
            .arg(statement);
            run(psql, "create the roles and the database");
        }
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self) -> Command {
        let mut command = as_server_user(&self.bin.join("pg_ctl"));
        command.arg("-D").arg(self.data());
        command
    }

    /// The application role's URL (what the API and the worker use).
    pub fn app_url(&self) -> String {
        format!(
            "postgres://passerelle_app:passerelle@127.0.0.1:{}/passerelle",
            self.port
        )
    }

    /// The owner role's URL (what `passerelle migrate` uses).
    pub fn owner_url(&self) -> String {
        format!(
            "postgres://passerelle_owner:passerelle@127.0.0.1:{}/passerelle",
            self.port
        )
    }

    /// A fast shutdown: sessions are ended, connections dropped, new ones refused.
    pub fn stop(&self) {
        let mut command = self.pg_ctl();
        command.args(["stop", "-m", "fast", "-w"]);
        run(command, "pg_ctl stop");
    }

    /// Starts the server again on the same port, and waits until it accepts connections.
    pub fn resume(&self) {
        let mut command = self.pg_ctl();
        command
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                self.port,
                self.dir.display()
            ))
            .args(["start", "-w"]);
        run(command, "pg_ctl start");
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let mut command = self.pg_ctl();
        command.args(["stop", "-m", "immediate", "-w"]);
        let _ = command.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
