//! Test helpers: the real application on a free port, fresh SQLite and
//! PostgreSQL databases, and paths into the workspace.

pub mod browser;
pub mod client;
pub mod grading;
pub mod labs;
pub mod postgres;
pub mod process;
pub mod spare_engine;
pub mod workshops;

use std::{net::SocketAddr, path::PathBuf};

use drydock::{config::Config, db::Backend, state::AppState, Application};
use tokio::sync::oneshot;

/// The workspace root (where `content/` and `target/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// A database made for one test and dropped with it.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/drydock.db", dir.path().display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A new, empty database on the PostgreSQL server this test binary runs.
    pub async fn postgres() -> Self {
        let url = postgres::cluster().create_database().await;
        Self {
            url,
            backend: Backend::Postgres,
            _dir: None,
        }
    }

    /// Either backend by value, for tests that run on both.
    pub async fn of(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => Self::postgres().await,
        }
    }
}

/// Configuration for a test server: port 0, the workspace's content and site.
pub fn test_config(db: &TestDatabase) -> Config {
    let root = workspace_root();
    Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: db.url.clone(),
        content_dir: root.join("content"),
        site_root: root.join("target/site"),
        // Each test server reconciles only its own lab containers.
        labs: drydock::config::LabSettings {
            instance: format!("test-{}", uuid::Uuid::new_v4().simple()),
            // Labs' Docker endpoints: a short directory of the test's own.
            socket_dir: std::env::temp_dir().join(format!(
                "dd-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            )),
            ..Default::default()
        },
        ..Config::default()
    }
}

/// A running Drydock; stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub http: reqwest::Client,
    _stop: oneshot::Sender<()>,
    _db: TestDatabase,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestApp {
    /// Also when a test fails half-way: stop the lab loop (so nothing new is
    /// started) and remove every container this server created.
    fn drop(&mut self) {
        self.state.labs.shutdown();
        remove_instance_containers(&self.state.config.labs.instance);
        let _ = std::fs::remove_dir_all(&self.state.config.labs.socket_dir);
    }
}

/// Removes every container labelled `drydock.instance=<instance>`
/// (synchronously, through the CLI, so it also works in `Drop`).
pub fn remove_instance_containers(instance: &str) {
    let listed = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("label=drydock.instance={instance}"))
        .output();
    let Ok(listed) = listed else { return };
    let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !ids.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f"])
            .args(&ids)
            .output();
    }
    // What labs with Docker made: networks and volumes carry the instance too.
    for kind in ["network", "volume"] {
        let listed = std::process::Command::new("docker")
            .args([kind, "ls", "-q", "--filter"])
            .arg(format!("label=drydock.instance={instance}"))
            .output();
        let Ok(listed) = listed else { continue };
        let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !names.is_empty() {
            let _ = std::process::Command::new("docker")
                .args([kind, "rm"])
                .args(&names)
                .output();
        }
    }
}

/// Starts the real application with `config` (built by the caller from `db`).
pub async fn spawn_app_with(db: TestDatabase, config: Config) -> TestApp {
    let app = Application::build(config)
        .await
        .expect("application builds");
    let addr = app.local_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    // A stuck request fails its test instead of stalling the whole suite.
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    TestApp {
        addr,
        state,
        http,
        _stop: stop,
        _db: db,
    }
}

/// Starts the real application on a fresh database of the given kind.
pub async fn spawn_app(db: TestDatabase) -> TestApp {
    let config = test_config(&db);
    spawn_app_with(db, config).await
}

/// Waits until `check` answers `Some`, asking every 100 ms, and fails the
/// test with `what` once `within` has passed. For a state that is reached
/// once and stays (a container gone, a pool filled, a process ended), not
/// for a feature that should answer every time.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
