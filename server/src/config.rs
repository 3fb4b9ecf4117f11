//! One typed configuration, read from an optional TOML file and `DRYDOCK_*`
//! environment variables (`DATABASE_URL` and `DOCKER_HOST` are honoured too).

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

/// Everything the server needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// `sqlite://…` (default) or `postgres://…`.
    pub database_url: String,
    /// Docker engine address; `None` means `DOCKER_HOST` or the local socket.
    pub docker_host: Option<String>,
    /// Seconds to wait for the engine before calling it unreachable.
    pub docker_timeout_secs: u64,
    /// Which OCI runtime labs use: `auto` picks `runsc` when the engine offers it.
    pub runtime: RuntimeChoice,
    /// Content directory (lessons, labs, exercises, lab images).
    pub content_dir: PathBuf,
    /// Directory with the built site (`pkg/`, static assets) from cargo-leptos.
    pub site_root: PathBuf,
    /// tracing filter, e.g. `info,drydock=debug`.
    pub log: String,
    /// Default resource limits of a lab sandbox.
    pub sandbox: SandboxLimits,
    /// The address users reach Drydock at, e.g. `https://drydock.example.org`.
    /// Decides the `Secure` cookie flag and is the accepted request origin;
    /// required when `bind` is not a loopback address.
    pub public_url: Option<String>,
    /// Reverse proxies (addresses or CIDR ranges, e.g. `10.0.0.0/8`) whose
    /// `X-Forwarded-For` / `Forwarded` headers name the real client. Requests
    /// from anywhere else are attributed to their peer address.
    pub trusted_proxies: Vec<String>,
    /// Sessions, passwords and login throttling.
    pub auth: AuthSettings,
    /// Lab capacity, quotas and the warm pool.
    pub labs: LabSettings,
    /// How exercises are graded: concurrency and the grading sandbox's caps.
    pub grading: GradingSettings,
}

/// Limits of the grader. Learners' own limits are kept when they are
/// tighter; these caps apply when a submission asks for more (or nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradingSettings {
    /// Gradings running at once; more wait in line.
    pub concurrency: usize,
    /// A submission waiting longer than this for a slot is refused (try again).
    pub queue_timeout_secs: u64,
    /// Memory of a grading container, at most, in MiB.
    pub memory_cap_mb: u64,
    /// CPU of a grading container, at most, in cores.
    pub cpus_cap: f64,
    /// Processes of a grading container, at most.
    pub pids_cap: i64,
    /// How long a started container may take to settle before probing, in ms.
    pub settle_ms: u64,
    /// How long to wait for `healthy` when a check needs it, in seconds.
    pub health_timeout_secs: u64,
    /// Memory of one image build, in MiB.
    pub build_memory_mb: u64,
    /// Largest image a build may produce, in MiB (also the most one build
    /// step may write, and the largest file it may create).
    pub max_image_mb: u64,
    /// The runtime the engine must run builds with (its default runtime:
    /// the classic builder has no other choice) before Drydock builds any
    /// Dockerfile a learner wrote. Anything else, and builds are refused.
    pub build_runtime: String,
}

impl GradingSettings {
    /// The caps the grading sandbox applies to a run.
    pub fn caps(&self) -> drydock_grader::sandbox::SandboxCaps {
        drydock_grader::sandbox::SandboxCaps {
            memory_cap_mb: self.memory_cap_mb,
            cpus_cap: self.cpus_cap,
            pids_cap: self.pids_cap,
        }
    }
}

/// How many containers this host starts (or grades in) at once by default:
/// two per core, at most one per GiB of memory, and at least two.
pub fn host_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(usize::MAX, |kib| {
            usize::try_from(kib >> 20).unwrap_or(usize::MAX)
        });
    (cores * 2).min(gib).max(2)
}

impl Default for GradingSettings {
    fn default() -> Self {
        Self {
            concurrency: host_concurrency(),
            queue_timeout_secs: 300,
            memory_cap_mb: 256,
            cpus_cap: 1.0,
            pids_cap: 256,
            settle_ms: 250,
            health_timeout_secs: 20,
            build_memory_mb: 512,
            max_image_mb: 256,
            build_runtime: "runsc".into(),
        }
    }
}

/// How many labs run, per learner and in total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabSettings {
    /// Name of this Drydock installation on the engine: its containers carry
    /// `drydock.instance=<name>`, and it reconciles only those.
    pub instance: String,
    /// Lab containers running at once on this server; more learners queue.
    pub capacity: usize,
    /// Labs one learner may have at once (running or queued).
    pub per_user: usize,
    /// Seconds between checks for expired, idle and crashed labs.
    pub reap_interval_secs: u64,
    /// A queued learner who stops asking for news this long leaves the queue.
    pub queue_timeout_secs: u64,
    /// Lab containers being created and seeded at once; more starts take
    /// turns (a whole class starting at once would otherwise flood the
    /// engine until it refuses requests).
    pub start_concurrency: usize,
    /// Terminal output kept for reconnecting browsers, in KiB.
    pub scrollback_kib: usize,
    /// Containers kept started and ready per lab id, e.g. `{ "namespaces" = 2 }`.
    pub warm_pool: std::collections::BTreeMap<String, usize>,
    /// Share of `capacity` guests (visitors without an account) may hold
    /// together; past it they queue, and registered learners still start.
    pub guest_share: f64,
    /// Where the Docker endpoints of labs with `docker = true` live: one
    /// directory per lab session, holding its socket, bind-mounted into the
    /// lab. Made absolute at start; the socket's whole path must stay under
    /// 108 bytes (a Unix socket address limit).
    pub socket_dir: PathBuf,
    /// The runtime of lab containers that get a Docker endpoint: gVisor
    /// that may connect to a host Unix socket (`runsc --network=host
    /// --host-uds=open`).
    pub docker_runtime: String,
    /// The runtime of the containers learners start through the endpoint:
    /// gVisor on the lab's network, without host socket access.
    pub child_runtime: String,
    /// What one lab session may spend through its Docker endpoint.
    pub docker_budget: DockerBudget,
}

/// What one lab session may spend across the containers it starts through
/// its Docker endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerBudget {
    /// Containers (running or not) at once.
    pub containers: usize,
    /// Memory of all containers together, in MiB.
    pub memory_mb: u64,
    /// Memory of a container that asks for none, in MiB.
    pub default_memory_mb: u64,
    /// CPU of one container at most, in cores.
    pub cpus: f64,
    /// Processes of one container at most.
    pub pids: i64,
    /// Size of a build context, in bytes.
    pub context_bytes: usize,
    /// Volumes at once.
    pub volumes: usize,
    /// Networks at once, the lab's own network included.
    pub networks: usize,
}

impl Default for DockerBudget {
    fn default() -> Self {
        Self {
            containers: 8,
            memory_mb: 1024,
            default_memory_mb: 256,
            cpus: 1.0,
            pids: 256,
            context_bytes: 50 << 20,
            volumes: 8,
            networks: 4,
        }
    }
}

impl Default for LabSettings {
    fn default() -> Self {
        Self {
            instance: "drydock".into(),
            capacity: 20,
            per_user: 1,
            reap_interval_secs: 10,
            queue_timeout_secs: 120,
            start_concurrency: host_concurrency(),
            scrollback_kib: 64,
            warm_pool: Default::default(),
            guest_share: 0.5,
            socket_dir: "data/labs".into(),
            docker_runtime: "runsc-lab".into(),
            child_runtime: "runsc-net".into(),
            docker_budget: DockerBudget::default(),
        }
    }
}

/// Accounts and sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// Shortest accepted password.
    pub min_password_len: usize,
    /// Login attempts one IP address may make per window.
    pub login_per_ip: u32,
    /// Failed logins for one username from one address before each further
    /// try must wait (1 s, doubling up to 5 minutes); never a lock.
    pub login_failures_per_username: u32,
    /// Registrations one IP address may make per window (a valid workshop
    /// join code in the registration lifts this limit).
    pub register_per_ip: u32,
    /// New guest identities one IP address may get per window.
    pub guests_per_ip: u32,
    /// Guests not seen for this many days are deleted with their progress,
    /// labs and attempts.
    pub guest_retention_days: u64,
    /// Length of the throttling window in seconds.
    pub window_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 7 * 24 * 60,
            min_password_len: 10,
            login_per_ip: 30,
            login_failures_per_username: 8,
            register_per_ip: 10,
            guests_per_ip: 60,
            guest_retention_days: 14,
            window_secs: 600,
        }
    }
}

/// Resource limits of one sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxLimits {
    /// Memory limit in MiB; swap is not allowed on top of it.
    pub memory_mb: u64,
    /// CPU time in cores (0.5 = half a core).
    pub cpus: f64,
    /// Maximum number of processes and threads.
    pub pids: i64,
    /// Size of each writable tmpfs mount in MiB.
    pub tmpfs_mb: u64,
    /// Open-file limit (soft and hard).
    pub nofile: i64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            memory_mb: 128,
            cpus: 0.5,
            pids: 128,
            tmpfs_mb: 16,
            nofile: 1024,
        }
    }
}

/// The runtime labs run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeChoice {
    /// gVisor when the engine offers it, else the engine's default.
    Auto,
    /// Always gVisor; starting a lab fails when the engine lacks it.
    Runsc,
    /// Always the engine's default runtime.
    Runc,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: "sqlite://data/drydock.db".into(),
            docker_host: None,
            docker_timeout_secs: 3,
            runtime: RuntimeChoice::Auto,
            content_dir: "content".into(),
            site_root: "target/site".into(),
            log: "info".into(),
            sandbox: SandboxLimits::default(),
            public_url: None,
            trusted_proxies: Vec::new(),
            auth: AuthSettings::default(),
            labs: LabSettings::default(),
            grading: GradingSettings::default(),
        }
    }
}

impl Config {
    /// Settings that are valid one by one but not together. A server reached
    /// over the network must know its public address: without it, the only
    /// origins it can accept are loopback ones.
    pub fn check(&self) -> Result<(), String> {
        if !self.bind.ip().is_loopback() && self.public_url.is_none() {
            return Err(format!(
                "bind = {} listens beyond this machine, so set public_url (DRYDOCK_PUBLIC_URL) to the address people open, e.g. https://drydock.example.org; Drydock accepts requests only from that origin",
                self.bind
            ));
        }
        // `<socket_dir>/dl<12 hex>/docker.sock` must fit a Unix socket address.
        let socket_path =
            self.labs.socket_dir.as_os_str().len() + "/dl0123456789ab/docker.sock".len();
        if socket_path >= 108 {
            return Err(format!(
                "labs.socket_dir = {:?} is too long: a lab's socket path would be {socket_path} bytes, and Unix sockets allow 107; choose a shorter directory",
                self.labs.socket_dir
            ));
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "public_url = {url:?} must start with http:// or https://"
                ));
            }
        }
        Ok(())
    }

    /// Whether cookies must carry the `Secure` flag (served over HTTPS).
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// Defaults, then the TOML file (if given), then the environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL", "DOCKER_HOST"])
                    .map(|key| key.as_str().to_ascii_lowercase().into()),
            )
            .merge(Env::prefixed("DRYDOCK_").split("__"))
            .extract()
            .map_err(Box::new)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns its own error type
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "drydock.toml",
                "bind = \"127.0.0.1:4000\"\n[sandbox]\npids = 64\n",
            )?;
            jail.set_env("DATABASE_URL", "postgres://db/drydock");
            jail.set_env("DRYDOCK_SANDBOX__MEMORY_MB", "256");
            let config = Config::load(Some("drydock.toml".as_ref())).expect("config loads");
            assert_eq!(config.bind.port(), 4000);
            assert_eq!(config.database_url, "postgres://db/drydock");
            assert_eq!(config.sandbox.pids, 64);
            assert_eq!(config.sandbox.memory_mb, 256);
            assert_eq!(config.runtime, RuntimeChoice::Auto);
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_reported_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DRYDOCK_BIND", "not-an-address");
            let err = Config::load(None).expect_err("must fail");
            assert!(err.to_string().to_lowercase().contains("bind"), "{err}");
            Ok(())
        });
    }
}
