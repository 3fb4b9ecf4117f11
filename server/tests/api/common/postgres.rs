//! A real PostgreSQL server for the tests, started by the test binary itself:
//! `initdb` in a temporary directory as an unprivileged user, listening on a
//! free port on 127.0.0.1. A small supervisor shell stops the server and
//! removes its directory as soon as the test process is gone.

use std::{
    net::TcpListener,
    os::unix::fs::chown,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use sqlx::Connection;

/// The account the server runs as when the tests run as root.
const PG_USER: &str = "drydock-pg";

pub struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The server of this test binary, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start)
}

fn bin_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| {
            dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    if let Some(dir) = candidates
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").is_file())
    {
        return dir;
    }
    let out = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "PostgreSQL server binaries (initdb, postgres) are not installed"
    );
    Path::new(&path)
        .parent()
        .expect("initdb has a directory")
        .to_path_buf()
}

/// `(uid, gid)` to run PostgreSQL as, creating the account if needed; `None`
/// when the tests already run unprivileged.
fn server_account() -> Option<(u32, u32)> {
    let me = String::from_utf8(
        Command::new("id")
            .arg("-u")
            .output()
            .expect("id runs")
            .stdout,
    )
    .unwrap();
    if me.trim() != "0" {
        return None;
    }
    let exists = Command::new("id")
        .args(["-u", PG_USER])
        .stderr(Stdio::null())
        .output()
        .expect("id runs");
    if !exists.status.success() {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_USER,
            ])
            .status()
            .expect("useradd runs");
        assert!(status.success(), "could not create the {PG_USER} account");
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, PG_USER])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    Some((id("-u"), id("-g")))
}

/// A cluster's files, made by `initdb`, and how to run its programs.
struct Install {
    bin: PathBuf,
    account: Option<(u32, u32)>,
    dir: PathBuf,
}

impl Install {
    fn new() -> Self {
        let bin = bin_dir();
        let account = server_account();
        let dir = tempfile::Builder::new()
            .prefix("drydock-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        if let Some((uid, gid)) = account {
            chown(&dir, Some(uid), Some(gid)).expect("chown the cluster directory");
        }
        let install = Self { bin, account, dir };
        let out = install
            .command("initdb")
            .args(["-D"])
            .arg(install.dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            ])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        install
    }

    /// Runs a PostgreSQL program as the server account (root may not).
    fn argv(&self, program: &str) -> Vec<String> {
        let mut argv = Vec::new();
        if let Some((uid, gid)) = self.account {
            argv.extend([
                "setpriv".into(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".into(),
            ]);
        }
        argv.push(self.bin.join(program).to_string_lossy().into_owned());
        argv
    }

    fn command(&self, program: &str) -> Command {
        let argv = self.argv(program);
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    }

    /// The server's command line, listening on `port` of 127.0.0.1.
    fn server_argv(&self, port: u16) -> Vec<String> {
        let mut argv = self.argv("postgres");
        argv.extend(
            [
                "-D",
                &self.dir.join("data").to_string_lossy(),
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-k",
                &self.dir.to_string_lossy(),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
            .map(str::to_string),
        );
        argv
    }

    fn ready(&self, port: u16) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    fn wait_ready(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ready(port) {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
                panic!("PostgreSQL did not become ready in 30 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .unwrap()
        .port()
}

async fn create_database_on(port: u16) -> String {
    let name = format!("drydock_test_{}", uuid::Uuid::new_v4().simple());
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test server");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    format!("postgres://postgres@127.0.0.1:{port}/{name}")
}

impl Cluster {
    fn start() -> Self {
        let started = Instant::now();
        let install = Install::new();
        let port = free_port();
        let mut server = Command::new("sh");
        // The supervisor: start the server, and when this test process (or
        // the server) is gone, stop it cleanly and delete its files.
        let script = format!(
            "{cmd} >\"$DIR/log\" 2>&1 & pg=$!\n\
             while kill -0 {me} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done\n\
             kill -INT $pg 2>/dev/null; wait $pg; rm -rf \"$DIR\"",
            cmd = install
                .server_argv(port)
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            me = std::process::id(),
        );
        // Not waited for: the supervisor outlives this process on purpose,
        // long enough to stop the server and delete its files.
        #[allow(clippy::zombie_processes)]
        server
            .arg("-c")
            .arg(script)
            .env("DIR", &install.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the PostgreSQL supervisor");
        install.wait_ready(port);
        eprintln!(
            "PostgreSQL test server ready on 127.0.0.1:{port} in {:.1}s ({})",
            started.elapsed().as_secs_f64(),
            install.bin.display()
        );
        Self { port }
    }

    /// Creates a fresh database and returns its URL.
    pub async fn create_database(&self) -> String {
        create_database_on(self.port).await
    }
}

/// A PostgreSQL server of one test's own, which it may stop and start
/// again (the shared [`cluster`] must stay up for every other test).
/// Stopped, and its files removed, when dropped.
pub struct OwnCluster {
    install: Install,
    port: u16,
    server: Option<std::process::Child>,
}

impl OwnCluster {
    pub fn start() -> Self {
        let mut own = Self {
            install: Install::new(),
            port: free_port(),
            server: None,
        };
        own.start_again();
        own
    }

    /// Starts the server (again) on its port, and waits until it answers.
    pub fn start_again(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let argv = self.install.server_argv(self.port);
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.install.dir.join("log"))
            .expect("log file");
        self.server = Some(
            Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("postgres starts"),
        );
        self.install.wait_ready(self.port);
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and
    /// waits until it has exited.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = Command::new("kill")
                .args(["-INT", &server.id().to_string()])
                .status();
            let _ = server.wait();
        }
    }

    pub async fn create_database(&self) -> String {
        create_database_on(self.port).await
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.install.dir);
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
