//! The real `drydock serve` binary as a separate process, for stories that
//! kill it or measure it from outside.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{client::Client, workspace_root};

/// A `drydock serve` process, killed when dropped.
pub struct Server {
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// SIGTERM (an upgrade, a reboot): waits until the process has exited,
    /// and returns how long that took.
    pub async fn terminate(mut self) -> Duration {
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let child = &mut self.child;
        super::eventually(
            "the server stops on SIGTERM",
            Duration::from_secs(60),
            || std::future::ready(child.try_wait().unwrap()),
        )
        .await;
        started.elapsed()
    }
}

/// Removes the test's containers when it ends, passed or failed.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        crate::common::remove_instance_containers(&self.0);
    }
}

/// What a test's own `drydock serve` process lives in: a temporary
/// directory (its SQLite file and the labs' sockets), an instance name and
/// a port of its own. The instance's containers are removed when it is
/// dropped, passed or failed.
pub struct ServerHome {
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub instance: String,
    pub port: u16,
    _cleanup: Cleanup,
}

impl ServerHome {
    /// A home with a SQLite database in its directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
        Self::with_database(dir, db_url)
    }

    /// A home whose server uses the database at `db_url`.
    pub fn with_database(dir: tempfile::TempDir, db_url: String) -> Self {
        let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
        Self {
            dir,
            db_url,
            _cleanup: Cleanup(instance.clone()),
            instance,
            port: free_port(),
        }
    }

    /// Starts the real `drydock serve` binary here with `content` and more
    /// environment (another engine's `DOCKER_HOST`, settings), and waits
    /// until it answers.
    pub async fn serve(&self, content: &std::path::Path, env: &[(&str, &str)]) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_drydock"))
            .arg("serve")
            .env("DRYDOCK_BIND", format!("127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.db_url)
            .env("DRYDOCK_LABS__SOCKET_DIR", self.dir.path().join("labs"))
            .env("DRYDOCK_CONTENT_DIR", content)
            .env("DRYDOCK_SITE_ROOT", workspace_root().join("target/site"))
            .env("DRYDOCK_LABS__INSTANCE", &self.instance)
            .env("DRYDOCK_LABS__REAP_INTERVAL_SECS", "1")
            .env("DRYDOCK_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("drydock starts");
        let server = Server { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "drydock did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// A new visitor of this home's server (a guest).
    pub async fn learner(&self) -> Client {
        learner(self.port).await
    }

    /// A new visitor who registers as `username`.
    pub async fn registered(&self, username: &str) -> Client {
        Client::registered_at(&format!("http://127.0.0.1:{}", self.port), username).await
    }

    /// A label filter that matches this home's instance.
    pub fn mine(&self) -> String {
        format!("label=drydock.instance={}", self.instance)
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A stand-in for the test app so the learner helpers can be reused.
pub async fn learner(port: u16) -> Client {
    Client::arrive_at(&format!("http://127.0.0.1:{port}")).await
}
