//! Which OCI runtime a sandbox runs under, decided once per server.

use tokio::sync::OnceCell;

use super::engine::{Engine, EngineError};
use crate::config::RuntimeChoice;

/// The gVisor runtime's name in the engine.
pub const GVISOR: &str = "runsc";

/// Host threads allowed to a gVisor sandbox on top of the learner's
/// processes: the engine's pids limit counts the sandbox kernel's own
/// threads, which grow with load (networking most of all).
pub const GVISOR_HOST_THREADS: i64 = 512;

/// Whether runtime `name` is gVisor: `runsc` or one of the entries that
/// run it with other flags (`runsc-net`, `runsc-lab`).
pub fn is_gvisor(name: Option<&str>) -> bool {
    name.is_some_and(|n| n == GVISOR || n.starts_with("runsc-"))
}

/// The configured choice, resolved against what the engine offers (once).
#[derive(Debug, Default)]
pub struct RuntimeSelection {
    resolved: OnceCell<Option<String>>,
}

impl RuntimeSelection {
    /// `Some("runsc")` for gVisor, `None` for the engine's default.
    pub async fn get(
        &self,
        choice: RuntimeChoice,
        engine: &Engine,
    ) -> Result<Option<String>, EngineError> {
        Ok(self
            .resolved
            .get_or_try_init(|| async {
                Ok::<_, EngineError>(match choice {
                    RuntimeChoice::Runsc => Some(GVISOR.to_string()),
                    RuntimeChoice::Runc => None,
                    RuntimeChoice::Auto => {
                        engine.offers_gvisor().await?.then(|| GVISOR.to_string())
                    }
                })
            })
            .await?
            .clone())
    }
}

/// `Ok` when untrusted builds run sandboxed: the engine's default runtime
/// (which the classic builder runs `RUN` steps with) is `wanted`.
/// Otherwise the sentence that says why builds are refused, for `/readyz`,
/// the grader and the labs' `docker build`.
pub fn builds_sandboxed(default: Option<&str>, wanted: &str) -> Result<(), String> {
    let default = default.unwrap_or_default();
    if default == wanted {
        Ok(())
    } else {
        Err(format!(
            "Image builds are switched off on this server: the Docker engine runs build steps with its default runtime, {default:?}, not the sandbox runtime {wanted:?}. An administrator can set \"default-runtime\": \"{wanted}\" in /etc/docker/daemon.json (see Drydock's README, \"The sandbox runtime\")."
        ))
    }
}

/// Why the engine cannot run labs that get a Docker endpoint, if so: the
/// lab container's runtime (gVisor allowed to connect to a host socket)
/// and the children's (gVisor on the lab network, no host sockets) must
/// both be registered.
pub fn docker_labs_unavailable(
    offered: &[String],
    lab_runtime: &str,
    child_runtime: &str,
) -> Option<String> {
    let missing: Vec<&str> = [lab_runtime, child_runtime]
        .into_iter()
        .filter(|r| !offered.iter().any(|o| o == r))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "Labs with Docker are switched off on this server: the Docker engine lacks the runtime(s) {}. An administrator adds to /etc/docker/daemon.json under \"runtimes\": \"{lab_runtime}\": {{\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=host\", \"--host-uds=open\"]}} and \"{child_runtime}\": {{\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=host\"]}}, then reloads the engine (see Drydock's README, \"Docker inside labs\").",
            missing.join(", ")
        )
    })
}
