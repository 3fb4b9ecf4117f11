//! A container a learner started with the docker CLI in a lab, read back as
//! the [`RunSpec`] they asked for. The lab's Docker endpoint changes some
//! settings on the way to the engine (it caps resources, sizes tmpfs mounts,
//! publishes no ports, bounds logs); it records what the learner asked for
//! those in a [`LabRequest`] label, so checks grade the learner's request
//! and not the endpoint's safety net. Everything else is read from the
//! engine's inspect as it runs.

use bollard_stubs::models::ContainerInspectResponse;
use serde::{Deserialize, Serialize};

use super::run_spec::{
    HealthSpec, MountKind, MountSpec, PortSpec, RestartSpec, RunSpec, TmpfsSpec, UlimitSpec,
};

/// What the learner asked for in the settings the endpoint rewrites.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    /// `--tmpfs` target → options as written (`size=16m,noexec`).
    pub tmpfs: Vec<(String, String)>,
    /// `-p` as written: (host ip, host port, container port/protocol).
    pub publish: Vec<(String, String, String)>,
    pub publish_all: bool,
    pub log_driver: Option<String>,
    pub log_opts: Vec<(String, String)>,
}

impl LabRequest {
    /// The label value (compact JSON).
    pub fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a label value; a missing or foreign label is an empty request.
    pub fn from_label(text: Option<&str>) -> Self {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// The learner's request for a container: its settings from the engine,
/// its limits from the request (not what the endpoint imposed). `strip` removes the session's
/// namespace from engine names (volumes, networks).
pub fn spec_of_container(
    inspect: &ContainerInspectResponse,
    request: &LabRequest,
    strip: &dyn Fn(&str) -> String,
) -> RunSpec {
    let config = inspect.config.clone().unwrap_or_default();
    let host = inspect.host_config.clone().unwrap_or_default();
    let mut spec = RunSpec {
        image: config.image.clone().map(|i| strip(&i)).unwrap_or_default(),
        command: config.cmd.clone().unwrap_or_default(),
        entrypoint: config.entrypoint.clone(),
        user: config.user.clone().filter(|u| !u.is_empty()),
        workdir: config.working_dir.clone().filter(|w| !w.is_empty()),
        privileged: host.privileged.unwrap_or(false),
        read_only: host.readonly_rootfs.unwrap_or(false),
        init: host.init.unwrap_or(false),
        cap_add: host.cap_add.clone().unwrap_or_default(),
        cap_drop: host.cap_drop.clone().unwrap_or_default(),
        security_opt: host.security_opt.clone().unwrap_or_default(),
        network: host.network_mode.clone().map(|n| strip(&n)),
        pid: host.pid_mode.clone().filter(|m| !m.is_empty()),
        ipc: host
            .ipc_mode
            .clone()
            .filter(|m| !m.is_empty() && m != "private" && m != "shareable"),
        userns: host.userns_mode.clone().filter(|m| !m.is_empty()),
        memory: request.memory,
        memory_swap: request.memory_swap,
        nano_cpus: request.nano_cpus,
        cpu_shares: request.cpu_shares,
        cpu_quota: request.cpu_quota,
        cpu_period: request.cpu_period,
        pids_limit: request.pids_limit,
        publish_all: request.publish_all,
        log_driver: request.log_driver.clone(),
        log_opts: request.log_opts.clone(),
        name: inspect
            .name
            .clone()
            .map(|n| strip(n.trim_start_matches('/'))),
        ..RunSpec::default()
    };
    spec.env = config
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (e, None),
        })
        .collect();
    spec.labels = config
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !crate::sandbox::is_reserved_label(k))
        .collect();
    spec.tmpfs = request
        .tmpfs
        .iter()
        .map(|(target, options)| TmpfsSpec {
            target: target.clone(),
            options: options
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
        })
        .collect();
    spec.mounts = inspect
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.typ.as_deref() != Some("tmpfs"))
        .map(|m| MountSpec {
            kind: if m.typ.as_deref() == Some("bind") {
                MountKind::Bind
            } else {
                MountKind::Volume
            },
            source: m.name.clone().map(|n| strip(&n)),
            target: m.destination.clone().unwrap_or_default(),
            read_only: !m.rw.unwrap_or(true),
            propagation: m.propagation.clone().filter(|p| !p.is_empty()),
            options: Vec::new(),
        })
        .collect();
    spec.publish = request
        .publish
        .iter()
        .map(|(ip, port, container)| {
            let (container_port, protocol) =
                container.split_once('/').unwrap_or((container, "tcp"));
            PortSpec {
                host_ip: Some(ip.clone()).filter(|i| !i.is_empty()),
                host_port: Some(port.clone()).filter(|p| !p.is_empty()),
                container_port: container_port.to_string(),
                protocol: protocol.to_string(),
            }
        })
        .collect();
    spec.ulimits = host
        .ulimits
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.name.as_deref() != Some("nproc") || request.pids_limit.is_none())
        .map(|u| UlimitSpec {
            name: u.name.unwrap_or_default(),
            soft: u.soft.unwrap_or(0),
            hard: u.hard.unwrap_or(0),
        })
        .collect();
    spec.restart = host.restart_policy.clone().and_then(|p| {
        let policy = p.name.map(|n| n.to_string()).filter(|n| !n.is_empty())?;
        Some(RestartSpec {
            policy,
            max_retries: p.maximum_retry_count,
        })
    });
    if let Some(check) = config.healthcheck.clone() {
        spec.health = HealthSpec {
            test: check.test,
            interval_ns: check.interval,
            timeout_ns: check.timeout,
            retries: check.retries,
            start_period_ns: check.start_period,
        };
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{ContainerConfig, HostConfig, MountPoint};

    fn strip(text: &str) -> String {
        text.replace("dlabc_", "")
    }

    #[test]
    fn the_request_label_round_trips_and_a_foreign_one_is_empty() {
        let request = LabRequest {
            memory: Some(128 << 20),
            tmpfs: vec![("/tmp".into(), "size=16m,noexec".into())],
            publish: vec![("127.0.0.1".into(), "8080".into(), "8080/tcp".into())],
            ..LabRequest::default()
        };
        assert_eq!(LabRequest::from_label(Some(&request.to_label())), request);
        assert_eq!(
            LabRequest::from_label(Some("not json")),
            LabRequest::default()
        );
        assert_eq!(LabRequest::from_label(None), LabRequest::default());
    }

    #[test]
    fn settings_come_from_the_engine_and_limits_from_the_request() {
        let inspect = ContainerInspectResponse {
            name: Some("/dlabc_db".into()),
            config: Some(ContainerConfig {
                image: Some("drydock/postgres:15".into()),
                user: Some("999".into()),
                env: Some(vec!["POSTGRES_PASSWORD_FILE=/run/secrets/pw".into()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                readonly_rootfs: Some(true),
                cap_drop: Some(vec!["ALL".into()]),
                network_mode: Some("dlabc_lab".into()),
                // What the endpoint imposed: not the learner's.
                memory: Some(256 << 20),
                pids_limit: Some(612),
                ..Default::default()
            }),
            mounts: Some(vec![
                MountPoint {
                    typ: Some("volume".into()),
                    name: Some("dlabc_pgdata".into()),
                    destination: Some("/var/lib/postgresql/data".into()),
                    rw: Some(true),
                    ..Default::default()
                },
                MountPoint {
                    typ: Some("tmpfs".into()),
                    destination: Some("/tmp".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let request = LabRequest {
            memory: Some(200 << 20),
            ..LabRequest::default()
        };
        let spec = spec_of_container(&inspect, &request, &strip);
        assert_eq!(spec.name.as_deref(), Some("db"));
        assert_eq!(spec.user.as_deref(), Some("999"));
        assert!(spec.read_only);
        assert_eq!(spec.network.as_deref(), Some("lab"));
        assert_eq!(spec.memory, Some(200 << 20));
        assert_eq!(spec.pids_limit, None);
        assert_eq!(spec.mounts.len(), 1);
        assert_eq!(spec.mounts[0].source.as_deref(), Some("pgdata"));
    }
}
