//! The one place that talks to the Docker engine (through bollard).
//! Containers are reached only through the API — exec, attach, inspect —
//! never through their network addresses.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use bollard::{
    exec::{CreateExecOptions, StartExecResults},
    models::{ContainerCreateBody, ContainerInspectResponse, ContainerSummary},
    query_parameters::{
        CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    },
    Docker,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::OnceCell;

use super::{labels, policy::SandboxPolicy};

/// Deadline for container work, however short the engine's ping deadline is.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the Docker engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the Docker engine is not reachable: {0}")]
    Unreachable(String),
    #[error("Docker engine: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("image build failed: {0}")]
    Build(String),
    #[error("the engine has no runtime {0:?}")]
    MissingRuntime(String),
}

type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The engine's identity as `/readyz` and the CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineVersion {
    pub version: String,
    pub api_version: String,
}

/// Most bytes read from any one exec, log or archive the engine streams
/// back: whatever runs in a container decides what it prints, so a read
/// stops here and the rest is abandoned.
pub const READ_CAP: usize = 256 * 1024;

/// What an exec printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i64>,
    /// The output passed [`READ_CAP`] and the rest was not read (the exit
    /// code is then unknown).
    pub truncated: bool,
}

/// An interactive shell started with a TTY: its output and its stdin.
pub struct ShellStream {
    pub exec_id: String,
    pub output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, EngineError>> + Send>,
    >,
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// A list filter: Drydock's objects carrying every one of `labels`.
fn managed_with(labels: &[(&str, &str)]) -> HashMap<&'static str, Vec<String>> {
    let mut wanted = vec![labels::MANAGED.to_string()];
    wanted.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
    HashMap::from([("label", wanted)])
}

/// [`managed_with`], and `key` present with any value.
fn managed_with_key(labels: &[(&str, &str)], key: &str) -> HashMap<&'static str, Vec<String>> {
    let mut filters = managed_with(labels);
    filters.entry("label").or_default().push(key.to_string());
    filters
}

/// Options of every internal network Drydock makes: the host's bridge gets
/// no IPv4 address, so the containers on it have no host address to reach
/// (the gateway their routes name is nobody's).
pub fn no_host_address() -> HashMap<String, String> {
    HashMap::from([(INHIBIT_IPV4.to_string(), "true".to_string())])
}

/// The bridge driver's option that leaves the host's end without an address.
pub const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

/// A handle on the Docker engine. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    /// `DOCKER_HOST`-style address; `None` means the environment's default.
    host: Option<String>,
    negotiated: OnceCell<Docker>,
    /// Deadline for short calls (ping, inspect, create …); builds have their own.
    timeout: Duration,
    /// The engine for plain HTTP calls; `None` for endpoints Drydock cannot
    /// speak plain HTTP to (TLS).
    address: Option<crate::docker::http::EngineAddress>,
    /// The runtimes the engine offered when last asked, and when: a start
    /// checks its runtime against this instead of asking on every start.
    runtimes_seen: std::sync::Mutex<Option<(std::time::Instant, Vec<String>)>>,
}

/// How long a list of the engine's runtimes is trusted.
const RUNTIMES_FRESH: Duration = Duration::from_secs(30);

impl Engine {
    /// Prepares a connection to `host` (or `DOCKER_HOST`, or the local
    /// socket). Nothing is sent until the first call, so the server starts
    /// even while the engine is down, and finds it once it is back.
    pub fn connect(host: Option<&str>, timeout: Duration) -> Result<Self> {
        if let Some(host) = host {
            const SCHEMES: [&str; 4] = ["unix://", "tcp://", "http://", "https://"];
            if !SCHEMES.iter().any(|s| host.starts_with(s)) {
                return Err(EngineError::Unreachable(format!(
                    "unsupported Docker host {host:?}: use unix:///path/to/docker.sock or tcp://host:port"
                )));
            }
        }
        Ok(Self {
            host: host.map(str::to_string),
            negotiated: OnceCell::new(),
            timeout,
            address: crate::docker::http::EngineAddress::parse(host).ok(),
            runtimes_seen: std::sync::Mutex::new(None),
        })
    }

    /// Whether the engine offers `runtime`: from the last answer when it is
    /// recent and names it, otherwise asked again.
    async fn offers_runtime(&self, runtime: &str) -> Result<bool> {
        let recent = {
            let seen = self.runtimes_seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.as_ref().is_some_and(|(at, names)| {
                at.elapsed() < RUNTIMES_FRESH && names.iter().any(|n| n == runtime)
            })
        };
        if recent {
            return Ok(true);
        }
        let names = self.runtimes().await?;
        let offered = names.iter().any(|n| n == runtime);
        *self.runtimes_seen.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), names));
        Ok(offered)
    }

    /// Where the engine listens, for plain HTTP calls (`None` over TLS).
    pub fn address(&self) -> Option<crate::docker::http::EngineAddress> {
        self.address.clone()
    }

    /// The client, speaking the newest API version both sides know. Older
    /// engines (20.10 speaks 1.41) refuse newer clients, newer ones (29+)
    /// refuse old versions, so the version is agreed on first use. A failed
    /// attempt leaves the cell empty, so the next call tries again.
    async fn api(&self) -> Result<&Docker> {
        self.negotiated
            .get_or_try_init(|| async {
                let docker = match &self.host {
                    Some(host) => Docker::connect_with_host(host),
                    None => Docker::connect_with_defaults(),
                }
                .map_err(|e| EngineError::Unreachable(e.to_string()))?
                // The transport-level ceiling; long builds stream and stay under it.
                .with_timeout(Duration::from_secs(600));
                self.within(docker.negotiate_version())
                    .await?
                    .map_err(|e| EngineError::Unreachable(e.to_string()))
            })
            .await
    }

    async fn within<F: std::future::Future>(&self, fut: F) -> Result<F::Output> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| EngineError::Timeout(self.timeout))
    }

    /// Container work (create, start, exec, inspect, remove) under load: a
    /// busy engine starting many gVisor sandboxes at once can take far longer
    /// than a ping, and that is slowness, not absence.
    async fn within_busy<F: std::future::Future>(&self, fut: F) -> Result<F::Output> {
        let limit = self.timeout.max(BUSY_TIMEOUT);
        tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| EngineError::Timeout(limit))
    }

    /// One round trip; fails fast when the engine is down or hangs.
    pub async fn ping(&self) -> Result<()> {
        let api = self.api().await?;
        self.within(api.ping()).await??;
        Ok(())
    }

    /// Engine and API version.
    pub async fn version(&self) -> Result<EngineVersion> {
        let api = self.api().await?;
        let v = self.within(api.version()).await??;
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
        })
    }

    /// Names of the OCI runtimes the engine offers (`runc`, `runsc` …).
    pub async fn runtimes(&self) -> Result<Vec<String>> {
        Ok(self.runtime_facts().await?.0)
    }

    /// The runtimes the engine offers (sorted) and its default one, from
    /// one `info` call.
    pub async fn runtime_facts(&self) -> Result<(Vec<String>, Option<String>)> {
        let api = self.api().await?;
        let info = self.within(api.info()).await??;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok((names, info.default_runtime))
    }

    /// Whether gVisor is registered with the engine.
    pub async fn offers_gvisor(&self) -> Result<bool> {
        Ok(self.runtimes().await?.iter().any(|r| r == "runsc"))
    }

    /// Creates and starts a sandboxed container; returns its id. On a failed
    /// start the container is removed again, so nothing is left behind.
    pub async fn start_sandbox(
        &self,
        policy: &SandboxPolicy,
        image: &str,
        cmd: &[&str],
    ) -> Result<String> {
        let name = format!("drydock-{}", policy.labels.session);
        self.start_named_sandbox(policy, image, cmd, &name).await
    }

    /// [`Engine::start_sandbox`] with an explicit container name.
    pub async fn start_named_sandbox(
        &self,
        policy: &SandboxPolicy,
        image: &str,
        cmd: &[&str],
        name: &str,
    ) -> Result<String> {
        let api = self.api().await?;
        if let Some(runtime) = &policy.runtime {
            if !self.offers_runtime(runtime).await? {
                return Err(EngineError::MissingRuntime(runtime.clone()));
            }
        }
        let body: ContainerCreateBody = policy.container_body(image, cmd);
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let created = self
            .within_busy(api.create_container(Some(options), body))
            .await??;
        if let Err(err) = self
            .within_busy(api.start_container(&created.id, None))
            .await
            .and_then(|r| Ok(r?))
        {
            let _ = self.remove(&created.id).await;
            return Err(err);
        }
        Ok(created.id)
    }

    /// Runs a command inside a container and collects its output.
    /// `user` overrides the container's user (e.g. `"0"` for control-plane probes).
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        user: Option<&str>,
    ) -> Result<ExecOutput> {
        let api = self.api().await?;
        let exec = self
            .within_busy(api.create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    user: user.map(str::to_string),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            ))
            .await??;
        let mut out = ExecOutput::default();
        if let StartExecResults::Attached { mut output, .. } =
            self.within_busy(api.start_exec(&exec.id, None)).await??
        {
            let collect = async {
                let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
                while let Some(chunk) = output.next().await {
                    let room = READ_CAP.saturating_sub(stdout.len() + stderr.len());
                    let (target, message) = match chunk? {
                        bollard::container::LogOutput::StdOut { message } => (&mut stdout, message),
                        bollard::container::LogOutput::StdErr { message } => (&mut stderr, message),
                        _ => continue,
                    };
                    target.extend_from_slice(&message[..message.len().min(room)]);
                    if message.len() > room {
                        // Dropping the stream closes the connection: the
                        // process inside gets EPIPE instead of an audience.
                        out.truncated = true;
                        break;
                    }
                }
                out.stdout = String::from_utf8_lossy(&stdout).into_owned();
                out.stderr = String::from_utf8_lossy(&stderr).into_owned();
                Ok::<_, EngineError>(())
            };
            self.within_busy(collect).await??;
        }
        if !out.truncated {
            out.exit_code = self
                .within_busy(api.inspect_exec(&exec.id))
                .await??
                .exit_code;
        }
        Ok(out)
    }

    /// Runs `cmd` in `container` with `input` on its stdin and returns
    /// its stdout, at most `cap` bytes, within `limit` (a relay such as
    /// `nc 127.0.0.1 8080` for a port preview: the exec is the way into the
    /// container's network namespace, never its address).
    pub async fn exec_piped(
        &self,
        container: &str,
        cmd: &[&str],
        input: &[u8],
        cap: usize,
        limit: Duration,
    ) -> Result<Vec<u8>> {
        use tokio::io::AsyncWriteExt;
        let api = self.api().await?;
        let exec = self
            .within_busy(api.create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..Default::default()
                },
            ))
            .await??;
        let StartExecResults::Attached {
            mut output,
            input: mut stdin,
        } = self.within_busy(api.start_exec(&exec.id, None)).await??
        else {
            return Ok(Vec::new());
        };
        let relay = async {
            let broken = |e: std::io::Error| EngineError::Unreachable(format!("exec input: {e}"));
            stdin.write_all(input).await.map_err(broken)?;
            stdin.flush().await.map_err(broken)?;
            let mut out = Vec::new();
            while let Some(chunk) = output.next().await {
                if let bollard::container::LogOutput::StdOut { message } = chunk? {
                    let room = cap.saturating_sub(out.len());
                    out.extend_from_slice(&message[..message.len().min(room)]);
                    if message.len() > room {
                        break;
                    }
                }
            }
            Ok::<_, EngineError>(out)
        };
        tokio::time::timeout(limit, relay)
            .await
            .map_err(|_| EngineError::Timeout(limit))?
    }

    /// Starts `cmd` in a container with a TTY and stdin attached, as `user`.
    pub async fn open_shell(
        &self,
        container: &str,
        cmd: &[&str],
        user: &str,
        env: &[String],
    ) -> Result<ShellStream> {
        let api = self.api().await?;
        let exec = self
            .within_busy(api.create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    user: Some(user.to_string()),
                    env: Some(env.to_vec()),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    ..Default::default()
                },
            ))
            .await??;
        let started = self
            .within_busy(api.start_exec(
                &exec.id,
                Some(bollard::exec::StartExecOptions {
                    detach: false,
                    tty: true,
                    output_capacity: Some(64 * 1024),
                }),
            ))
            .await??;
        match started {
            StartExecResults::Attached { output, input } => Ok(ShellStream {
                exec_id: exec.id,
                output: Box::pin(output.map(|chunk| match chunk {
                    Ok(out) => Ok(out.into_bytes()),
                    Err(e) => Err(EngineError::from(e)),
                })),
                input,
            }),
            StartExecResults::Detached => Err(EngineError::Unreachable(
                "the engine detached an interactive shell".into(),
            )),
        }
    }

    /// Tells a TTY exec its new window size.
    pub async fn resize_shell(&self, exec_id: &str, cols: u16, rows: u16) -> Result<()> {
        let api = self.api().await?;
        self.within_busy(api.resize_exec(
            exec_id,
            bollard::exec::ResizeExecOptions {
                width: cols,
                height: rows,
            },
        ))
        .await??;
        Ok(())
    }

    /// Creates the `internal` (no route out) network `name` unless it
    /// exists, with Drydock's mark and `extra` labels.
    pub async fn ensure_internal_network(&self, name: &str, extra: &[(&str, &str)]) -> Result<()> {
        let api = self.api().await?;
        match self.within_busy(api.inspect_network(name, None)).await? {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            internal: Some(true),
            options: Some(no_host_address()),
            labels: Some(
                std::iter::once((labels::MANAGED.to_string(), "true".to_string()))
                    .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect(),
            ),
            ..Default::default()
        };
        match self.within_busy(api.create_network(request)).await? {
            Ok(_) => Ok(()),
            // Created meanwhile by a concurrent start.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives a container a new name.
    pub async fn rename(&self, container: &str, name: &str) -> Result<()> {
        let api = self.api().await?;
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::default()
            .name(name)
            .build();
        self.within_busy(api.rename_container(container, options))
            .await??;
        Ok(())
    }

    /// The engine's full view of a container.
    pub async fn inspect(&self, container: &str) -> Result<ContainerInspectResponse> {
        let api = self.api().await?;
        Ok(self
            .within_busy(api.inspect_container(container, None))
            .await??)
    }

    /// Removes a container with its anonymous volumes; a missing one is fine.
    pub async fn remove(&self, container: &str) -> Result<()> {
        let api = self.api().await?;
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self
            .within_busy(api.remove_container(container, Some(options)))
            .await?
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Someone else (a concurrent clean-up) is already removing it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Containers (running or not) carrying every one of these labels.
    pub async fn list_labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerSummary>> {
        let api = self.api().await?;
        let filters = managed_with(labels);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        Ok(self
            .within_busy(api.list_containers(Some(options)))
            .await??)
    }

    /// Removes every Drydock container carrying these labels; returns how many.
    pub async fn remove_labelled(&self, labels: &[(&str, &str)]) -> Result<usize> {
        let found = self.list_labelled(labels).await?;
        for container in &found {
            if let Some(id) = &container.id {
                self.remove(id).await?;
            }
        }
        Ok(found.len())
    }

    /// Value of a label on a local image, `None` when the image is absent.
    pub async fn image_label(&self, image: &str, label: &str) -> Result<Option<String>> {
        let api = self.api().await?;
        match self.within_busy(api.inspect_image(image)).await? {
            Ok(found) => Ok(found
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(label))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Builds an image from a tar context with networking disabled, so a
    /// build can use only what is already on this machine.
    pub async fn build_image(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        use bollard::query_parameters::BuildImageOptionsBuilder;
        let api = self.api().await?;
        let options = BuildImageOptionsBuilder::default()
            .t(tag)
            .networkmode("none")
            .rm(true)
            .forcerm(true)
            .labels(labels)
            .build();
        let mut stream =
            api.build_image(options, None, Some(bollard::body_full(context_tar.into())));
        let mut log = String::new();
        while let Some(step) = stream.next().await {
            let step = step.map_err(|e| EngineError::Build(format!("{e}\n{log}")))?;
            if let Some(detail) = step.error_detail {
                return Err(EngineError::Build(format!(
                    "{}\n{log}",
                    detail.message.unwrap_or_default()
                )));
            }
            if let Some(line) = step.stream {
                tracing::debug!(target: "drydock::images", "{}", line.trim_end());
                log.push_str(&line);
            }
        }
        Ok(())
    }
}

/// What a limited image build produced.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// The built image's id, when the build succeeded.
    pub image_id: Option<String>,
    /// The build's output, cut to its last `log_cap` bytes.
    pub log: String,
    /// Why the build failed, in the builder's words.
    pub error: Option<String>,
    /// Whether the build was stopped for taking too long.
    pub timed_out: bool,
}

/// Caps of one untrusted image build.
#[derive(Debug, Clone)]
pub struct BuildLimits {
    pub timeout: Duration,
    pub memory_bytes: i64,
    /// CPU time in cores.
    pub cpus: f64,
    /// Processes and threads of a build step.
    pub pids: i64,
    /// Largest file a build step may write.
    pub file_bytes: i64,
    /// Most a build step may write to its layer.
    pub disk_bytes: i64,
    pub log_cap: usize,
}

impl Engine {
    /// Creates (without starting) a container from a full create request.
    pub async fn create_container(&self, name: &str, body: ContainerCreateBody) -> Result<String> {
        let api = self.api().await?;
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        Ok(self
            .within_busy(api.create_container(Some(options), body))
            .await??
            .id)
    }

    /// Starts a created container.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        let api = self.api().await?;
        Ok(self.within_busy(api.start_container(id, None)).await??)
    }

    /// Follows what a container prints (stdout and stderr, from its start)
    /// until a line holds `marker`: `Ok(Ok(()))`. When the container stops
    /// printing first (it exited), `Ok(Err(output))` with what it printed
    /// (at most [`READ_CAP`] bytes). Gives up after `within`.
    pub async fn wait_for_output(
        &self,
        id: &str,
        marker: &str,
        within: Duration,
    ) -> Result<std::result::Result<(), String>> {
        use bollard::query_parameters::LogsOptionsBuilder;
        let api = self.api().await?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut stream = api.logs(id, Some(options));
        let mut out = Vec::new();
        let follow = async {
            while let Some(chunk) = stream.next().await {
                let bytes = chunk?.into_bytes();
                let room = READ_CAP.saturating_sub(out.len());
                out.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if String::from_utf8_lossy(&out).contains(marker) {
                    return Ok::<_, EngineError>(true);
                }
                if bytes.len() > room {
                    break;
                }
            }
            Ok(false)
        };
        match tokio::time::timeout(within, follow).await {
            Ok(Ok(true)) => Ok(Ok(())),
            Ok(Ok(false)) => Ok(Err(String::from_utf8_lossy(&out).into_owned())),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(EngineError::Timeout(within)),
        }
    }

    /// The last `lines` lines a container printed (stdout and stderr).
    pub async fn logs_tail(&self, id: &str, lines: usize) -> Result<String> {
        use bollard::query_parameters::LogsOptionsBuilder;
        let api = self.api().await?;
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = api.logs(id, Some(options));
        let mut out = Vec::new();
        let collect = async {
            while let Some(chunk) = stream.next().await {
                let bytes = chunk?.into_bytes();
                let room = READ_CAP.saturating_sub(out.len());
                out.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if bytes.len() > room {
                    break;
                }
            }
            Ok::<_, EngineError>(())
        };
        self.within_busy(collect).await??;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A regular file of a container's filesystem, read through the engine
    /// (`GET /containers/{id}/archive`), at most `cap` bytes of it. `None`
    /// when the path is missing, is not a regular file (a symlink is not
    /// followed) or is larger than `cap`.
    pub async fn read_file(
        &self,
        container: &str,
        path: &str,
        cap: usize,
    ) -> Result<Option<Vec<u8>>> {
        use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
        let api = self.api().await?;
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = api.download_from_container(container, Some(options));
        // The tar holds one header block, the file and padding.
        let limit = cap.saturating_add(4096);
        let mut tar_bytes = Vec::new();
        let collect = async {
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => {
                        tar_bytes.extend_from_slice(&bytes);
                        if tar_bytes.len() > limit {
                            return Ok(false);
                        }
                    }
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => return Ok(false),
                    Err(e) => return Err(EngineError::from(e)),
                }
            }
            Ok::<_, EngineError>(true)
        };
        if !self.within_busy(collect).await?? {
            return Ok(None);
        }
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let Ok(mut entries) = archive.entries() else {
            return Ok(None);
        };
        let Some(Ok(mut entry)) = entries.next() else {
            return Ok(None);
        };
        if entry.header().entry_type() != tar::EntryType::Regular
            || entry.header().size().unwrap_or(u64::MAX) > cap as u64
        {
            return Ok(None);
        }
        let mut content = Vec::new();
        if std::io::Read::read_to_end(&mut entry, &mut content).is_err() {
            return Ok(None);
        }
        Ok(Some(content))
    }

    /// The engine's security options (`name=seccomp,profile=default`, `name=apparmor` …).
    pub async fn security_options(&self) -> Result<Vec<String>> {
        let api = self.api().await?;
        Ok(self
            .within_busy(api.info())
            .await??
            .security_options
            .unwrap_or_default())
    }

    /// Removes a volume; a missing one is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        use bollard::query_parameters::RemoveVolumeOptionsBuilder;
        let api = self.api().await?;
        let options = RemoveVolumeOptionsBuilder::default().force(true).build();
        match self
            .within_busy(api.remove_volume(name, Some(options)))
            .await?
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Drydock volumes carrying every one of these labels: their names.
    pub async fn volumes_labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        self.volumes_filtered(managed_with(labels)).await
    }

    /// Names of Drydock volumes carrying `labels` and the label `key`
    /// (with any value).
    pub async fn volumes_with_key(
        &self,
        labels: &[(&str, &str)],
        key: &str,
    ) -> Result<Vec<String>> {
        self.volumes_filtered(managed_with_key(labels, key)).await
    }

    async fn volumes_filtered(
        &self,
        filters: HashMap<&'static str, Vec<String>>,
    ) -> Result<Vec<String>> {
        use bollard::query_parameters::ListVolumesOptionsBuilder;
        let api = self.api().await?;
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        Ok(self
            .within_busy(api.list_volumes(Some(options)))
            .await??
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// A local image's full description; `None` when it is absent.
    pub async fn image(&self, reference: &str) -> Result<Option<bollard::models::ImageInspect>> {
        let api = self.api().await?;
        match self.within_busy(api.inspect_image(reference)).await? {
            Ok(found) => Ok(Some(found)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The layers' history of a local image, newest first.
    pub async fn image_history(
        &self,
        reference: &str,
    ) -> Result<Vec<bollard::models::ImageHistoryResponseItem>> {
        let api = self.api().await?;
        Ok(self.within_busy(api.image_history(reference)).await??)
    }

    /// The image as `docker save` writes it (a tar), refusing more than `cap` bytes.
    pub async fn export_image(&self, reference: &str, cap: usize) -> Result<Vec<u8>> {
        let api = self.api().await?;
        let mut stream = api.export_image(reference);
        let mut out = Vec::new();
        let collect = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if out.len() + chunk.len() > cap {
                    return Err(EngineError::Build(format!(
                        "the image is larger than {} MiB",
                        cap / (1024 * 1024)
                    )));
                }
                out.extend_from_slice(&chunk);
            }
            Ok::<_, EngineError>(())
        };
        tokio::time::timeout(Duration::from_secs(120), collect)
            .await
            .map_err(|_| EngineError::Timeout(Duration::from_secs(120)))??;
        Ok(out)
    }

    /// Removes an image by id or tag; a missing one is fine.
    pub async fn remove_image(&self, reference: &str) -> Result<()> {
        use bollard::query_parameters::RemoveImageOptionsBuilder;
        let api = self.api().await?;
        let options = RemoveImageOptionsBuilder::default().force(true).build();
        match self
            .within_busy(api.remove_image(reference, Some(options), None))
            .await?
        {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Ids of images carrying every one of these labels.
    pub async fn images_labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        self.images_filtered(managed_with(labels)).await
    }

    /// Ids of images carrying `labels` and the label `key` (any value).
    pub async fn images_with_key(&self, labels: &[(&str, &str)], key: &str) -> Result<Vec<String>> {
        self.images_filtered(managed_with_key(labels, key)).await
    }

    async fn images_filtered(
        &self,
        filters: HashMap<&'static str, Vec<String>>,
    ) -> Result<Vec<String>> {
        use bollard::query_parameters::ListImagesOptionsBuilder;
        let api = self.api().await?;
        let options = ListImagesOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        Ok(self
            .within_busy(api.list_images(Some(options)))
            .await??
            .into_iter()
            .map(|i| i.id)
            .collect())
    }

    /// Ids of Drydock networks carrying every one of these labels.
    pub async fn networks_labelled(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        use bollard::query_parameters::ListNetworksOptionsBuilder;
        let api = self.api().await?;
        let filters = managed_with(labels);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        Ok(self
            .within_busy(api.list_networks(Some(options)))
            .await??
            .into_iter()
            .filter_map(|n| n.id)
            .collect())
    }

    /// Removes a network (its containers are disconnected first); a
    /// missing one is fine.
    pub async fn remove_network(&self, id: &str) -> Result<()> {
        let api = self.api().await?;
        if let Ok(Ok(found)) = self.within_busy(api.inspect_network(id, None)).await {
            for container in found.containers.unwrap_or_default().into_keys() {
                let request = bollard::models::NetworkDisconnectRequest {
                    container,
                    force: Some(true),
                };
                let _ = self.within_busy(api.disconnect_network(id, request)).await;
            }
        }
        match self.within_busy(api.remove_network(id)).await? {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The values label `key` takes on Drydock's containers, volumes and
    /// networks (e.g. every lab session that still owns something).
    /// Only objects carrying every one of `labels` count.
    pub async fn label_values(
        &self,
        key: &str,
        labels: &[(&str, &str)],
    ) -> Result<HashSet<String>> {
        use bollard::query_parameters::{ListNetworksOptionsBuilder, ListVolumesOptionsBuilder};
        let api = self.api().await?;
        let mut filters = managed_with(labels);
        filters.entry("label").or_default().push(key.to_string());
        let mut values = HashSet::new();
        let containers = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        for c in self
            .within_busy(api.list_containers(Some(containers)))
            .await??
        {
            values.extend(c.labels.and_then(|mut l| l.remove(key)));
        }
        let volumes = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        for v in self
            .within_busy(api.list_volumes(Some(volumes)))
            .await??
            .volumes
            .unwrap_or_default()
        {
            values.extend(v.labels.get(key).cloned());
        }
        let networks = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        for n in self
            .within_busy(api.list_networks(Some(networks)))
            .await??
        {
            values.extend(n.labels.and_then(|mut l| l.remove(key)));
        }
        Ok(values)
    }

    /// `ids` ordered so that every image comes before the image it was
    /// built on (children first: the engine refuses to remove a parent
    /// while a child stands on it). Images that are gone are left out.
    pub async fn children_first(&self, ids: &HashSet<String>) -> Result<Vec<String>> {
        // An image's history is its parent's and at least one step more,
        // whatever lies between them: the longer history goes first. (The
        // parent named in a history can be an intermediate image outside
        // `ids`, so a chain of parents within `ids` is not enough.)
        let mut present = Vec::new();
        for id in ids {
            if let Some(image) = self.image(id).await? {
                let full = image.id.clone().unwrap_or_else(|| id.clone());
                let steps = self.image_history(&full).await?.len();
                present.push((steps, full));
            }
        }
        present.sort_by(|a, b| b.cmp(a));
        present.dedup();
        Ok(present.into_iter().map(|(_, id)| id).collect())
    }

    /// Every tag on the engine that starts with `prefix`.
    pub async fn tags_under(&self, prefix: &str) -> Result<Vec<String>> {
        use bollard::query_parameters::ListImagesOptionsBuilder;
        let api = self.api().await?;
        let options = ListImagesOptionsBuilder::default().build();
        Ok(self
            .within_busy(api.list_images(Some(options)))
            .await??
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t.starts_with(prefix))
            .collect())
    }

    /// The engine's default OCI runtime: image builds run their `RUN` steps
    /// under it, so an untrusted build is sandboxed only when it is gVisor.
    pub async fn default_runtime(&self) -> Result<Option<String>> {
        let api = self.api().await?;
        Ok(self.within(api.info()).await??.default_runtime)
    }

    /// The negotiated API version as a path prefix, e.g. `/v1.41`.
    pub async fn api_prefix(&self) -> Result<String> {
        let v = self.api().await?.client_version();
        Ok(format!("/v{}.{}", v.major_version, v.minor_version))
    }

    /// Builds an untrusted context with no network and Drydock's caps:
    /// memory, CPU, processes (`nproc` counts per sandbox under gVisor),
    /// the size of any one file, the disk a step writes, a deadline and a
    /// bounded log. Never pulls: every base must already be local.
    pub async fn build_limited(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        labels: &HashMap<String, String>,
        limits: &BuildLimits,
    ) -> Result<BuildReport> {
        let address = self.address.clone().ok_or_else(|| {
            EngineError::Unreachable(
                "image builds need the engine at a unix:// or tcp:// address".into(),
            )
        })?;
        let cpu_period = 100_000i64;
        let ulimits = serde_json::json!([
            {"Name": "nproc", "Soft": limits.pids, "Hard": limits.pids},
            {"Name": "fsize", "Soft": limits.file_bytes, "Hard": limits.file_bytes},
            {"Name": "nofile", "Soft": 1024, "Hard": 1024},
        ]);
        let query = [
            ("t", tag.to_string()),
            ("networkmode", "none".into()),
            ("rm", "1".into()),
            ("forcerm", "1".into()),
            ("pull", "0".into()),
            ("memory", limits.memory_bytes.to_string()),
            ("memswap", limits.memory_bytes.to_string()),
            ("cpuperiod", cpu_period.to_string()),
            (
                "cpuquota",
                ((limits.cpus * cpu_period as f64).round() as i64)
                    .max(1000)
                    .to_string(),
            ),
            ("ulimits", ulimits.to_string()),
            (
                "labels",
                serde_json::to_string(labels).unwrap_or_else(|_| "{}".into()),
            ),
        ];
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let uri = format!("{}/build?{query}", self.api_prefix().await?);
        let request = hyper::Request::post(uri)
            .header("host", "docker")
            .header("content-type", "application/x-tar")
            .body(crate::docker::http::full(context_tar))
            .map_err(|e| EngineError::Build(e.to_string()))?;
        let mut report = BuildReport::default();
        let run = async {
            let response = match address.send(request, self.timeout.max(BUSY_TIMEOUT)).await {
                Ok(r) => r,
                Err(e) => {
                    report.error = Some(e.to_string());
                    return;
                }
            };
            let status = response.status();
            let mut body = response.into_body();
            let mut pending = Vec::new();
            let mut watch = tokio::time::interval(Duration::from_millis(500));
            loop {
                let frame = tokio::select! {
                    frame = http_body_util::BodyExt::frame(&mut body) => frame,
                    _ = watch.tick() => {
                        if let Some(message) = self.step_over_disk(labels, limits).await {
                            report.error = Some(message);
                            return;
                        }
                        continue;
                    }
                };
                let Some(frame) = frame else { break };
                let Ok(data) = frame.map(|f| f.into_data().unwrap_or_default()) else {
                    report.error = Some("the build's output stream broke off".into());
                    return;
                };
                pending.extend_from_slice(&data);
                if pending.len() > limits.log_cap * 4 && !pending.contains(&b'\n') {
                    report.error = Some("the build printed an overlong line".into());
                    return;
                }
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if !status.is_success() {
                        report.error = Some(
                            message["message"]
                                .as_str()
                                .unwrap_or("the build was refused")
                                .to_string(),
                        );
                        return;
                    }
                    if let Some(detail) = message.get("errorDetail") {
                        report.error = Some(
                            detail["message"]
                                .as_str()
                                .unwrap_or("the build failed")
                                .to_string(),
                        );
                        return;
                    }
                    if let Some(id) = message["aux"]["ID"].as_str() {
                        report.image_id = Some(id.to_string());
                    }
                    if let Some(text) = message["stream"].as_str() {
                        report.log.push_str(text);
                        trim_front(&mut report.log, limits.log_cap);
                    }
                }
            }
            if !status.is_success() && report.error.is_none() {
                report.error = Some(format!("the engine refused the build ({status})"));
            }
        };
        if tokio::time::timeout(limits.timeout, run).await.is_err() {
            report.timed_out = true;
            report.error = Some(format!(
                "the build took longer than {} s",
                limits.timeout.as_secs()
            ));
        }
        trim_front(&mut report.log, limits.log_cap);
        if report.error.is_some() {
            report.image_id = None;
        } else if report.image_id.is_none() {
            report.image_id = self.image(tag).await?.and_then(|i| i.id);
        }
        Ok(report)
    }

    /// When a running step of the build labelled `labels` has written more
    /// than the disk cap, removes it (failing the build) and says why. The
    /// step is found by the labels its image carries (the generated
    /// Dockerfile labels every stage), never from the build's output,
    /// which also carries whatever the learner's `RUN` printed.
    async fn step_over_disk(
        &self,
        labels: &HashMap<String, String>,
        limits: &BuildLimits,
    ) -> Option<String> {
        use bollard::query_parameters::InspectContainerOptionsBuilder;
        if labels.is_empty() {
            return None;
        }
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let api = self.api().await.ok()?;
        for step in self.list_labelled(&pairs).await.ok()? {
            let Some(id) = step.id else { continue };
            let options = InspectContainerOptionsBuilder::default().size(true).build();
            let Ok(Ok(found)) = self
                .within_busy(api.inspect_container(&id, Some(options)))
                .await
            else {
                continue;
            };
            if found.size_rw.unwrap_or(0) > limits.disk_bytes {
                let _ = self.remove(&id).await;
                return Some(format!(
                    "a build step wrote more than {} MiB to disk and was stopped",
                    limits.disk_bytes / (1024 * 1024)
                ));
            }
        }
        None
    }
}

/// Keeps the last `cap` bytes of `log` (on a character boundary).
fn trim_front(log: &mut String, cap: usize) {
    if log.len() > cap {
        let cut = log.len() - cap;
        let cut = (cut..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        log.drain(..cut);
    }
}
