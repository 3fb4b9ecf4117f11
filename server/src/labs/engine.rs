//! The one place that talks to the Docker engine (through bollard).
//! Containers are reached only through the API — exec, attach, inspect —
//! never through their network addresses.

use std::{collections::HashMap, time::Duration};

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

use super::policy::SandboxPolicy;

/// Deadline for container work, however short the engine's ping deadline is.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Label every container and image Drydock creates carries.
pub const MANAGED_LABEL: &str = "drydock.managed";

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

/// What an exec printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i64>,
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
    let mut wanted = vec![MANAGED_LABEL.to_string()];
    wanted.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
    HashMap::from([("label", wanted)])
}

/// A handle on the Docker engine. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    /// `DOCKER_HOST`-style address; `None` means the environment's default.
    host: Option<String>,
    negotiated: OnceCell<Docker>,
    /// Deadline for short calls (ping, inspect, create …); builds have their own.
    timeout: Duration,
}

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
        })
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
        let api = self.api().await?;
        let info = self.within(api.info()).await??;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok(names)
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
            if !self.runtimes().await?.contains(runtime) {
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
                while let Some(chunk) = output.next().await {
                    match chunk? {
                        bollard::container::LogOutput::StdOut { message } => {
                            out.stdout.push_str(&String::from_utf8_lossy(&message))
                        }
                        bollard::container::LogOutput::StdErr { message } => {
                            out.stderr.push_str(&String::from_utf8_lossy(&message))
                        }
                        _ => {}
                    }
                }
                Ok::<_, EngineError>(())
            };
            self.within_busy(collect).await??;
        }
        out.exit_code = self
            .within_busy(api.inspect_exec(&exec.id))
            .await??
            .exit_code;
        Ok(out)
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

    /// Creates the `internal` (no route out) network `name` unless it exists.
    pub async fn ensure_internal_network(&self, name: &str) -> Result<()> {
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
            labels: Some(HashMap::from([(
                MANAGED_LABEL.to_string(),
                "true".to_string(),
            )])),
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
    /// Intermediate image ids the build printed (for cleaning up).
    pub intermediate: Vec<String>,
}

/// Caps of one untrusted image build.
#[derive(Debug, Clone)]
pub struct BuildLimits {
    pub timeout: Duration,
    pub memory_bytes: i64,
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
        let mut out = String::new();
        let collect = async {
            while let Some(chunk) = stream.next().await {
                out.push_str(&chunk?.to_string());
            }
            Ok::<_, EngineError>(())
        };
        self.within_busy(collect).await??;
        Ok(out)
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
        use bollard::query_parameters::ListVolumesOptionsBuilder;
        let api = self.api().await?;
        let filters = managed_with(labels);
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
        use bollard::query_parameters::ListImagesOptionsBuilder;
        let api = self.api().await?;
        let filters = managed_with(labels);
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

    /// Builds an untrusted context with no network, a memory cap, a deadline
    /// and a bounded log. Never pulls: every base must already be local.
    pub async fn build_limited(
        &self,
        context_tar: Vec<u8>,
        tag: &str,
        labels: &HashMap<String, String>,
        limits: &BuildLimits,
    ) -> Result<BuildReport> {
        use bollard::query_parameters::BuildImageOptionsBuilder;
        let api = self.api().await?;
        let options = BuildImageOptionsBuilder::default()
            .t(tag)
            .networkmode("none")
            .rm(true)
            .forcerm(true)
            .memory(i32::try_from(limits.memory_bytes).unwrap_or(i32::MAX))
            .memswap(i32::try_from(limits.memory_bytes).unwrap_or(i32::MAX))
            .labels(labels)
            .build();
        let mut stream =
            api.build_image(options, None, Some(bollard::body_full(context_tar.into())));
        let mut report = BuildReport::default();
        let run = async {
            while let Some(step) = stream.next().await {
                let step = match step {
                    Ok(step) => step,
                    Err(e) => {
                        report.error = Some(e.to_string());
                        break;
                    }
                };
                if let Some(detail) = step.error_detail {
                    report.error = Some(detail.message.unwrap_or_default());
                    break;
                }
                if let Some(line) = step.stream {
                    for part in line.split('\n') {
                        if let Some(id) = part.trim().strip_prefix("---> ") {
                            if id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                                report.intermediate.push(id.to_string());
                            }
                        }
                    }
                    report.log.push_str(&line);
                    if report.log.len() > limits.log_cap * 2 {
                        let cut = report.log.len() - limits.log_cap;
                        let cut = (cut..report.log.len())
                            .find(|i| report.log.is_char_boundary(*i))
                            .unwrap_or(report.log.len());
                        report.log.drain(..cut);
                    }
                }
                if let Some(aux) = step.aux {
                    if let Some(id) = aux.id {
                        report.image_id = Some(id);
                    }
                }
            }
        };
        if tokio::time::timeout(limits.timeout, run).await.is_err() {
            report.timed_out = true;
            report.error = Some(format!(
                "the build took longer than {} s",
                limits.timeout.as_secs()
            ));
        }
        if report.log.len() > limits.log_cap {
            let cut = report.log.len() - limits.log_cap;
            let cut = (cut..report.log.len())
                .find(|i| report.log.is_char_boundary(*i))
                .unwrap_or(report.log.len());
            report.log.drain(..cut);
        }
        if report.error.is_some() {
            report.image_id = None;
        } else if report.image_id.is_none() {
            report.image_id = self.image(tag).await?.and_then(|i| i.id);
        }
        Ok(report)
    }
}
