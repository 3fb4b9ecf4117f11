//! What the benchmarks that serve pages share: Drydock on loopback with a
//! fresh SQLite database, the workspace's content and the built site.

use std::{net::SocketAddr, path::PathBuf};

use drydock::{config::Config, Application};

/// Builds Drydock on `runtime` and starts serving; returns its address and
/// application state, and the directory of its database (kept while the
/// benchmark runs).
pub fn serve_site(
    runtime: &tokio::runtime::Runtime,
) -> (SocketAddr, drydock::state::AppState, tempfile::TempDir) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: format!("sqlite://{}/bench.db", dir.path().display()),
        content_dir: root.join("content"),
        site_root: root.join("target/site"),
        log: "warn".into(),
        ..Config::default()
    };
    let app = runtime
        .block_on(Application::build(config))
        .expect("Drydock starts");
    let (addr, state) = (app.local_addr(), app.state().clone());
    runtime.spawn(app.run_until_stopped());
    (addr, state, dir)
}
