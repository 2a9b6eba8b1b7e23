//! A Redis server of the test's own on a free port, which the test can stop and start again on the
//! same port. It keeps nothing on disk, like the machine's: a restart loses every queued job, the
//! worst case the relay must recover from.

use std::time::Duration;

use tokio::process::{Child, Command};

use crate::ports::{free_port, listening};

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.resume().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): connections drop, new ones are refused, its data is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("stop redis-server");
        }
    }

    /// Starts it again, empty, on the same port.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (make test installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if listening(self.port).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}
