//! The sandbox every lab container runs in, as one value that produces the
//! engine's `HostConfig`. Defaults are the strict ones; a lab may loosen only
//! what it declares (more memory, an added capability, an internal network).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};

use super::{
    labels,
    runtime::{is_gvisor, GVISOR_HOST_THREADS},
};
pub use crate::config::SandboxLimits;

/// How a sandbox may reach the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxNetwork {
    /// Loopback only.
    None,
    /// A Docker network created with `internal: true` (no route out).
    Internal(String),
}

/// Who and what a container belongs to; written as `drydock.*` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLabels {
    pub owner: String,
    pub lab: String,
    pub session: String,
}

/// Everything that confines one lab container.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxPolicy {
    /// `uid:gid` the container's processes run as.
    pub user: String,
    pub limits: SandboxLimits,
    /// Capabilities added back after dropping all (upper case, no `CAP_`).
    pub cap_add: Vec<String>,
    pub network: SandboxNetwork,
    /// Writable scratch mounts (path → extra tmpfs options).
    pub tmpfs: Vec<(String, String)>,
    /// OCI runtime (`Some("runsc")` for gVisor), `None` for the engine default.
    pub runtime: Option<String>,
    pub labels: SandboxLabels,
    /// Extra labels (e.g. `drydock.expires_at`).
    pub extra_labels: Vec<(String, String)>,
    /// Environment variables beyond HOME and PATH (`NAME=value`).
    pub env: Vec<String>,
    /// Host directories mounted read-only: (host path, container path).
    pub read_only_binds: Vec<(String, String)>,
    /// Names the container answers to on its internal network.
    pub network_aliases: Vec<String>,
}

/// UID and GID of the unprivileged account in Drydock's lab images.
pub const LAB_UID: u32 = 1000;

impl SandboxPolicy {
    /// The strict default: non-root, no capabilities, no new privileges,
    /// read-only root with small tmpfs mounts, no network, limited resources.
    pub fn strict(labels: SandboxLabels, limits: SandboxLimits, runtime: Option<String>) -> Self {
        Self {
            user: format!("{LAB_UID}:{LAB_UID}"),
            limits,
            cap_add: Vec::new(),
            network: SandboxNetwork::None,
            tmpfs: vec![
                ("/tmp".into(), "noexec,nosuid,nodev,mode=1777".into()),
                (
                    "/home/learner".into(),
                    format!("nosuid,nodev,mode=0700,uid={LAB_UID},gid={LAB_UID}"),
                ),
            ],
            runtime,
            labels,
            extra_labels: Vec::new(),
            env: Vec::new(),
            read_only_binds: Vec::new(),
            network_aliases: Vec::new(),
        }
    }

    /// The `drydock.*` labels of the container.
    pub fn label_map(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::OWNER.to_string(), self.labels.owner.clone()),
            (labels::LAB.to_string(), self.labels.lab.clone()),
            (labels::SESSION.to_string(), self.labels.session.clone()),
        ]);
        labels.extend(self.extra_labels.iter().cloned());
        labels
    }

    /// The engine-side confinement.
    pub fn host_config(&self) -> HostConfig {
        let memory =
            i64::try_from(self.limits.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        let tmpfs = self
            .tmpfs
            .iter()
            .map(|(path, opts)| {
                (
                    path.clone(),
                    format!("rw,{opts},size={}m", self.limits.tmpfs_mb),
                )
            })
            .collect();
        let mut ulimits = vec![ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(self.limits.nofile),
            hard: Some(self.limits.nofile),
        }];
        // Under gVisor the engine's pids limit counts the sandbox kernel's
        // own host threads, which grow with load: a tight limit crashes the
        // whole sandbox. There the learner's processes are capped inside the
        // sandbox with RLIMIT_NPROC (per sandbox in gVisor; with runc it
        // would be shared by every container running as the same uid), and
        // the host limit only stops runaway sandbox threads.
        let pids_limit = if is_gvisor(self.runtime.as_deref()) {
            ulimits.push(ResourcesUlimits {
                name: Some("nproc".into()),
                soft: Some(self.limits.pids),
                hard: Some(self.limits.pids),
            });
            self.limits.pids + GVISOR_HOST_THREADS
        } else {
            self.limits.pids
        };
        HostConfig {
            memory: Some(memory),
            // Equal to `memory`: no swap on top of the limit.
            memory_swap: Some(memory),
            nano_cpus: Some((self.limits.cpus * 1e9).round() as i64),
            pids_limit: Some(pids_limit),
            ulimits: Some(ulimits),
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(tmpfs),
            network_mode: Some(match &self.network {
                SandboxNetwork::None => "none".into(),
                SandboxNetwork::Internal(name) => name.clone(),
            }),
            runtime: self.runtime.clone(),
            // A tiny init as PID 1 forwards signals and reaps zombies.
            init: Some(true),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "1m".to_string()),
                    ("max-file".to_string(), "1".to_string()),
                ])),
            }),
            privileged: Some(false),
            publish_all_ports: Some(false),
            binds: (!self.read_only_binds.is_empty()).then(|| {
                self.read_only_binds
                    .iter()
                    .map(|(host, inside)| format!("{host}:{inside}:ro"))
                    .collect()
            }),
            ..Default::default()
        }
    }

    /// The whole create request for `image` running `cmd`.
    pub fn container_body(&self, image: &str, cmd: &[&str]) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            user: Some(self.user.clone()),
            working_dir: Some("/home/learner".into()),
            env: Some(
                [
                    "HOME=/home/learner".to_string(),
                    "PATH=/bin:/usr/bin:/sbin:/usr/sbin".to_string(),
                ]
                .into_iter()
                .chain(self.env.iter().cloned())
                .collect(),
            ),
            labels: Some(self.label_map()),
            network_disabled: Some(self.network == SandboxNetwork::None),
            host_config: Some(self.host_config()),
            networking_config: match &self.network {
                SandboxNetwork::Internal(name) if !self.network_aliases.is_empty() => {
                    Some(bollard::models::NetworkingConfig {
                        endpoints_config: Some(HashMap::from([(
                            name.clone(),
                            bollard::models::EndpointSettings {
                                aliases: Some(self.network_aliases.clone()),
                                ..Default::default()
                            },
                        )])),
                    })
                }
                _ => None,
            },
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> SandboxLabels {
        SandboxLabels {
            owner: "7".into(),
            lab: "intro".into(),
            session: "s1".into(),
        }
    }

    #[test]
    fn the_strict_policy_confines_everything_it_should() {
        let policy =
            SandboxPolicy::strict(labels(), SandboxLimits::default(), Some("runsc".into()));
        let host = policy.host_config();
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(host.cap_add, None);
        assert_eq!(
            host.security_opt.as_deref(),
            Some(&["no-new-privileges:true".to_string()][..])
        );
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.memory, Some(128 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(500_000_000));
        // gVisor: learner processes capped inside, sandbox threads outside.
        assert_eq!(host.pids_limit, Some(128 + 512));
        let nproc = host
            .ulimits
            .as_ref()
            .unwrap()
            .iter()
            .find(|u| u.name.as_deref() == Some("nproc"))
            .unwrap();
        assert_eq!(nproc.hard, Some(128));
        assert_eq!(host.runtime.as_deref(), Some("runsc"));
        assert_eq!(host.privileged, Some(false));
        let tmpfs = host.tmpfs.unwrap();
        assert_eq!(tmpfs["/tmp"], "rw,noexec,nosuid,nodev,mode=1777,size=16m");
        assert!(tmpfs["/home/learner"].contains("uid=1000"));
        let body = policy.container_body("drydock/busybox", &["sleep", "60"]);
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        let l = body.labels.unwrap();
        assert_eq!(l["drydock.managed"], "true");
        assert_eq!(l["drydock.owner"], "7");
        assert_eq!(l["drydock.lab"], "intro");
        assert_eq!(l["drydock.session"], "s1");
    }

    #[test]
    fn no_runtime_means_the_engine_default() {
        let policy = SandboxPolicy::strict(labels(), SandboxLimits::default(), None);
        let host = policy.host_config();
        assert_eq!(host.runtime, None);
        assert_eq!(host.pids_limit, Some(128));
        assert!(host
            .ulimits
            .unwrap()
            .iter()
            .all(|u| u.name.as_deref() != Some("nproc")));
    }
}
