//! The real `drydock serve` binary as a separate process, for stories that
//! kill it or measure it from outside.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{client::Client, labs::lab_content, workspace_root};

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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the real `drydock serve` binary and waits until it answers.
pub async fn serve(port: u16, db_url: &str, instance: &str) -> Server {
    serve_content(port, db_url, instance, &lab_content()).await
}

/// [`serve`] with another content directory (labs' sockets under the
/// database's directory).
pub async fn serve_content(
    port: u16,
    db_url: &str,
    instance: &str,
    content: &std::path::Path,
) -> Server {
    serve_with(port, db_url, instance, content, &[]).await
}

/// [`serve_content`] with more environment (another engine's `DOCKER_HOST`,
/// settings).
pub async fn serve_with(
    port: u16,
    db_url: &str,
    instance: &str,
    content: &std::path::Path,
    env: &[(&str, &str)],
) -> Server {
    let sockets = std::path::Path::new(db_url.trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .join("labs");
    let child = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .arg("serve")
        .env("DRYDOCK_BIND", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db_url)
        .env("DRYDOCK_LABS__SOCKET_DIR", sockets)
        .env("DRYDOCK_CONTENT_DIR", content)
        .env("DRYDOCK_SITE_ROOT", workspace_root().join("target/site"))
        .env("DRYDOCK_LABS__INSTANCE", instance)
        .env("DRYDOCK_LABS__REAP_INTERVAL_SECS", "1")
        .env("DRYDOCK_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .expect("drydock starts");
    let server = Server { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "drydock did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server
}

/// A stand-in for the test app so the learner helpers can be reused.
pub async fn learner(port: u16) -> Client {
    Client::arrive_at(&format!("http://127.0.0.1:{port}")).await
}
