//! From what a learner asked for (a [`RunSpec`]) to what the grading
//! sandbox really creates. Requests that would endanger the host are
//! refused, never executed; limits the learner left out or set too high are
//! capped; what the sandbox had to change is recorded, so checks grade the
//! learner's request and not the sandbox's safety net.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType,
    MountVolumeOptions, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use crate::{
    checks::catalog::RunCheck,
    input::run_spec::{MountKind, RunSpec},
};

/// The most a grading container may get (from the server's settings).
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxCaps {
    pub memory_cap_mb: u64,
    pub cpus_cap: f64,
    pub pids_cap: i64,
}

/// Whether a label key is one of Drydock's (`drydock.*`, any case): a
/// learner's labels never carry those.
pub fn is_reserved_label(key: &str) -> bool {
    key.to_ascii_lowercase().starts_with("drydock.")
}

/// Why the grader would not start a container, and the check it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The check this request fails; `None` when it concerns the whole run.
    pub check: Option<RunCheck>,
    pub reason: String,
}

/// Host directories (and their subdirectories) a container must never see.
pub const SENSITIVE_PATHS: &[&str] = &[
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/bin",
    "/sbin",
    "/root",
    "/home",
    "/var/lib",
    "/var/log",
    "/opt/containerd",
];

/// Capabilities that reach the kernel or the host; the grader never grants
/// them outside gVisor, and some not even there.
pub const DANGEROUS_CAPS: &[&str] = &[
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_PTRACE",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "BPF",
    "PERFMON",
    "SYSLOG",
    "LINUX_IMMUTABLE",
    "SYS_RESOURCE",
];

/// Added only under gVisor, where its kernel answers the calls they allow.
const CAPS_ONLY_UNDER_GVISOR: &[&str] =
    &["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "NET_ADMIN"];

/// Docker's default capability set: the only ones a container may add back
/// (beyond [`CAPS_ONLY_UNDER_GVISOR`] under gVisor).
pub const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Resource limits (`--ulimit`) the grading sandbox sets, each with the
/// highest value it passes on (higher requests are capped and graded as
/// written).
pub const ULIMITS: &[(&str, i64)] = &[
    ("nofile", 1_048_576),
    ("nproc", 4096),
    ("core", 0),
    ("fsize", 1 << 30),
    ("stack", 64 << 20),
];

/// Largest json-file/local log the grading sandbox keeps, per file and files.
const LOG_MAX_BYTES: i64 = 10 << 20;
const LOG_MAX_FILES: i64 = 5;
/// Size of each volume a grading run gets (a tmpfs of the engine host).
const VOLUME_MB: u64 = 16;

/// A capability as the kernel names it, without `CAP_`, upper case.
pub fn normalise_cap(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// Whether a mount source names the Docker socket or a directory holding it.
pub fn exposes_docker_socket(source: &str) -> bool {
    let s = source.trim_end_matches('/');
    s.ends_with("docker.sock")
        || s.ends_with("containerd.sock")
        || matches!(
            s,
            "/run"
                | "/var/run"
                | "/run/docker"
                | "/var/run/docker"
                | "/var/lib/docker"
                | "/run/containerd"
        )
}

/// The sensitive host directory a bind source falls in, if any.
pub fn sensitive_path(source: &str) -> Option<&'static str> {
    let s = if source == "/" {
        "/"
    } else {
        source.trim_end_matches('/')
    };
    if s == "/" {
        return Some("/");
    }
    SENSITIVE_PATHS
        .iter()
        .filter(|p| **p != "/")
        .find(|p| s == **p || s.starts_with(&format!("{p}/")))
        .copied()
}

/// Whether a namespace mode joins the host's or another container's.
fn joins_other_namespace(mode: &Option<String>) -> Option<String> {
    let mode = mode.as_deref()?.trim();
    (mode == "host" || mode.starts_with("container:")).then(|| mode.to_string())
}

/// Everything in `spec` the grader will not execute.
pub fn refusals(spec: &RunSpec, target_ids: &[String], gvisor: bool) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut refuse = |check: Option<RunCheck>, reason: String| out.push(Refusal { check, reason });
    if !target_ids.iter().any(|t| t == &spec.image) {
        refuse(
            None,
            format!(
                "this exercise runs {}; your command starts {:?}",
                target_ids
                    .first()
                    .map(String::as_str)
                    .unwrap_or("its own image"),
                spec.image
            ),
        );
    }
    if spec.privileged {
        refuse(
            Some(RunCheck::NotPrivileged),
            "--privileged gives the container every capability and the host's devices; Drydock does not run it. Remove --privileged.".into(),
        );
    }
    for (flag, mode) in [
        ("--network", &spec.network),
        ("--pid", &spec.pid),
        ("--ipc", &spec.ipc),
        ("--uts", &spec.uts),
        ("--cgroupns", &spec.cgroupns),
    ] {
        if let Some(mode) = joins_other_namespace(mode) {
            refuse(
                Some(RunCheck::HostNs),
                format!("{flag} {mode} shares a namespace with the host or another container; Drydock does not run it. Remove {flag} {mode}."),
            );
        }
    }
    if !spec.devices.is_empty() || !spec.device_cgroup_rules.is_empty() {
        let what: Vec<&str> = spec
            .devices
            .iter()
            .chain(&spec.device_cgroup_rules)
            .map(String::as_str)
            .collect();
        refuse(
            Some(RunCheck::NoDevices),
            format!("--device/--device-cgroup-rule give the container host devices ({}); Drydock does not run it. Remove them.", what.join(", ")),
        );
    }
    for mount in &spec.mounts {
        let Some(source) = mount.source.as_deref() else {
            continue;
        };
        if mount.kind != MountKind::Bind {
            continue;
        }
        if exposes_docker_socket(source) {
            refuse(
                Some(RunCheck::NoDockerSock),
                format!("the mount {source}:{} puts the Docker socket in the container: whoever reaches it controls the host. Remove it.", mount.target),
            );
        } else if let Some(dir) = sensitive_path(source) {
            refuse(
                Some(RunCheck::NoSensitiveMount),
                format!("the mount {source}:{} exposes the host's {dir}{}; Drydock does not run it. Remove it.", mount.target, if mount.read_only { " (read-only still leaks it)" } else { "" }),
            );
        }
        if mount
            .propagation
            .as_deref()
            .is_some_and(|p| p == "shared" || p == "rshared")
        {
            refuse(
                Some(RunCheck::Propagation),
                format!("the mount {source}:{} uses {} propagation, so mounts made inside reach the host; use the default (rprivate).", mount.target, mount.propagation.as_deref().unwrap_or_default()),
            );
        }
    }
    for cap in &spec.cap_add {
        let name = normalise_cap(cap);
        let under_gvisor = gvisor && CAPS_ONLY_UNDER_GVISOR.contains(&name.as_str());
        if name == "ALL" {
            refuse(
                Some(RunCheck::CapDropAll),
                format!("--cap-add {cap} grants every capability; Drydock does not run it. Add only the capabilities the program needs."),
            );
        } else if DANGEROUS_CAPS.contains(&name.as_str()) && !under_gvisor {
            refuse(
                Some(RunCheck::NoDangerousCaps),
                format!("--cap-add {cap} reaches the kernel or the host; Drydock does not run it. Remove it."),
            );
        } else if !DEFAULT_CAPS.contains(&name.as_str()) && !under_gvisor {
            refuse(
                Some(RunCheck::NoDangerousCaps),
                format!("--cap-add {cap} is outside Docker's default set; the grading sandbox adds back only those ({}). Remove it.", DEFAULT_CAPS.join(", ")),
            );
        }
    }
    for ulimit in &spec.ulimits {
        if !ULIMITS.iter().any(|(name, _)| *name == ulimit.name) {
            refuse(
                Some(RunCheck::Ulimits),
                format!(
                    "--ulimit {} is not one the grading sandbox sets (it sets {}); remove it.",
                    ulimit.name,
                    ULIMITS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    if let Some(dir) = spec.workdir.as_deref() {
        let normal = dir
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect::<Vec<_>>();
        if normal.iter().any(|p| *p == "proc" || *p == "..") {
            refuse(
                None,
                format!("-w {dir} reaches into /proc (or climbs with ..); a working directory there is how CVE-2024-21626 escaped the container runtime. Use an application directory."),
            );
        }
    }
    for opt in &spec.security_opt {
        let lower = opt.to_ascii_lowercase();
        let (key, value) = lower
            .split_once(['=', ':'])
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .unwrap_or((lower.trim().to_string(), String::new()));
        // Only values the grading sandbox knows; anything else (another
        // AppArmor profile, an SELinux type such as spc_t) is not run.
        match (key.as_str(), value.as_str()) {
            ("no-new-privileges", "" | "true" | "false" | "1" | "0") => {}
            ("apparmor", "docker-default") => {}
            ("seccomp", v) if v != "unconfined" => refuse(
                None,
                format!("--security-opt {opt}: the grader cannot read profiles from your machine; keep Docker's default profile (leave seccomp out)"),
            ),
            // Under gVisor the sandbox's own kernel stays in front of the host.
            ("seccomp", _) | ("apparmor", "unconfined") | ("label", "disable") if !gvisor => refuse(
                Some(if key == "seccomp" { RunCheck::Seccomp } else { RunCheck::Lsm }),
                format!("--security-opt {opt} turns a kernel protection off; Drydock does not run it without gVisor. Remove it."),
            ),
            ("seccomp", _) | ("apparmor", "unconfined") | ("label", "disable") => {}
            ("systempaths", "unconfined") => {}
            ("apparmor" | "label", _) => refuse(
                Some(RunCheck::Lsm),
                format!("--security-opt {opt} names a profile or label of your own; the grading sandbox keeps the engine's (apparmor=docker-default). Remove it."),
            ),
            _ => refuse(None, format!("--security-opt {opt} is not one Drydock understands; use no-new-privileges, seccomp, apparmor or label")),
        }
        if key == "systempaths" && value == "unconfined" {
            refuse(
                Some(RunCheck::NoSensitiveMount),
                format!("--security-opt {opt} unmasks /proc and /sys paths of the host kernel; remove it"),
            );
        }
    }
    if !spec.env_files.is_empty() {
        refuse(
            None,
            format!("--env-file {} reads a file on your machine that the grader cannot see; pass values with -e, or better, as secret files", spec.env_files.join(", ")),
        );
    }
    if let Some(parent) = &spec.cgroup_parent {
        refuse(
            None,
            format!(
                "--cgroup-parent {parent}: the grading sandbox places containers itself; remove it"
            ),
        );
    }
    if let Some(runtime) = &spec.runtime {
        refuse(None, format!("--runtime {runtime}: the grading sandbox chooses the runtime (gVisor when available); remove it"));
    }
    out
}

/// Fields the sandbox set or changed; checks then grade the request.
pub mod imposed {
    pub const MEMORY: &str = "memory";
    pub const SWAP: &str = "memory-swap";
    pub const CPU: &str = "cpu";
    pub const PIDS: &str = "pids";
    pub const NETWORK: &str = "network";
    pub const PORTS: &str = "ports";
    pub const LOGGING: &str = "logging";
    pub const MOUNT_SOURCES: &str = "mount-sources";
    pub const ULIMITS: &str = "ulimits";
}

/// A log size as `--log-opt max-size` takes it (`10m`, `512k`, `1g`, bytes).
pub fn parse_log_size(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = digits.parse().ok()?;
    let mult = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// What the sandbox creates for an accepted request.
#[derive(Debug, Clone)]
pub struct SandboxedRun {
    pub body: ContainerCreateBody,
    /// Named volumes created for this run (removed afterwards).
    pub volumes: Vec<String>,
    /// What the sandbox set or changed (see [`imposed`]).
    pub imposed: Vec<&'static str>,
    /// Sentences for the report about what the sandbox changed.
    pub notes: Vec<String>,
}

/// Host threads a gVisor sandbox needs on top of the learner's processes.
const GVISOR_HOST_THREADS: i64 = 512;

/// Turns an accepted request into the create body the engine receives.
#[allow(clippy::too_many_arguments)]
pub fn sandboxed(
    spec: &RunSpec,
    image: &str,
    caps: &SandboxCaps,
    runtime: Option<&str>,
    labels: &[(String, String)],
    volume_prefix: &str,
) -> SandboxedRun {
    let mut imposed = Vec::new();
    let mut notes = Vec::new();
    let gvisor = runtime == Some("runsc");
    let mb = 1024 * 1024;
    let cap_memory = i64::try_from(caps.memory_cap_mb)
        .unwrap_or(256)
        .saturating_mul(mb);
    let memory = match spec.memory {
        Some(m) if m > 0 && m <= cap_memory => m,
        Some(m) if m > cap_memory => {
            notes.push(format!(
                "The grading sandbox capped memory at {} MiB (you asked for {} MiB).",
                caps.memory_cap_mb,
                m / mb
            ));
            imposed.push(imposed::MEMORY);
            cap_memory
        }
        _ => {
            imposed.push(imposed::MEMORY);
            cap_memory
        }
    };
    if spec.memory_swap != Some(memory) {
        imposed.push(imposed::SWAP);
    }
    let cap_nano = (caps.cpus_cap * 1e9).round() as i64;
    let mut nano_cpus = None;
    let mut cpu_quota = None;
    let mut cpu_period = None;
    match (spec.nano_cpus, spec.cpu_quota) {
        (Some(n), _) if n > 0 && n <= cap_nano => nano_cpus = Some(n),
        (None, Some(q)) if q > 0 => {
            let period = spec.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
            if (q as f64 / period as f64) * 1e9 <= cap_nano as f64 {
                cpu_quota = Some(q);
                cpu_period = Some(period);
            } else {
                imposed.push(imposed::CPU);
                nano_cpus = Some(cap_nano);
            }
        }
        _ => {
            imposed.push(imposed::CPU);
            nano_cpus = Some(cap_nano);
        }
    }
    let pids = match spec.pids_limit {
        Some(p) if p > 0 && p <= caps.pids_cap => p,
        _ => {
            imposed.push(imposed::PIDS);
            caps.pids_cap
        }
    };
    // Only the sandbox's own ulimits, each bounded (the request is graded).
    let mut ulimits: Vec<ResourcesUlimits> = spec
        .ulimits
        .iter()
        .filter(|u| !(gvisor && u.name == "nproc"))
        .filter_map(|u| {
            let (_, max) = ULIMITS.iter().find(|(n, _)| *n == u.name)?;
            let hard = u.hard.clamp(0, *max);
            if u.hard > *max {
                imposed.push(imposed::ULIMITS);
            }
            Some(ResourcesUlimits {
                name: Some(u.name.clone()),
                soft: Some(u.soft.clamp(0, hard)),
                hard: Some(hard),
            })
        })
        .collect();
    // Under gVisor the engine's pids limit also counts the sandbox's own
    // threads; processes are capped inside it with RLIMIT_NPROC instead.
    let pids_limit = if gvisor {
        ulimits.push(ResourcesUlimits {
            name: Some("nproc".into()),
            soft: Some(pids),
            hard: Some(pids),
        });
        pids + GVISOR_HOST_THREADS
    } else {
        pids
    };
    if spec.network.as_deref() != Some("none") {
        imposed.push(imposed::NETWORK);
    }
    if !spec.publish.is_empty() || spec.publish_all {
        imposed.push(imposed::PORTS);
        notes.push(
            "The grading sandbox has no network, so ports are graded as written but not published."
                .into(),
        );
    }
    let log_ok = match spec.log_driver.as_deref() {
        None => false,
        Some("none") | Some("local") => true,
        Some("json-file") => spec.log_opts.iter().any(|(k, _)| k == "max-size"),
        Some(_) => false,
    };
    let log_config = if log_ok {
        // Only the size options, bounded.
        let bounded = |key: &str, max: i64| {
            let asked = spec.log_opts.iter().rev().find(|(k, _)| k == key)?;
            let value = if key == "max-size" {
                parse_log_size(&asked.1)
                    .filter(|b| *b > 0 && *b <= max)
                    .map_or_else(|| format!("{}m", max >> 20), |_| asked.1.clone())
            } else {
                asked
                    .1
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .map_or_else(|| max.to_string(), |n| n.to_string())
            };
            Some((key.to_string(), value))
        };
        HostConfigLogConfig {
            typ: spec.log_driver.clone(),
            config: Some(
                [
                    bounded("max-size", LOG_MAX_BYTES),
                    bounded("max-file", LOG_MAX_FILES),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
        }
    } else {
        if spec.log_driver.is_some() {
            imposed.push(imposed::LOGGING);
        }
        HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".to_string(), "1m".to_string())])),
        }
    };
    // Volumes and host directories become fresh volumes of this run only.
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    let volume_labels: HashMap<String, String> = labels.iter().cloned().collect();
    for (i, mount) in spec.mounts.iter().enumerate() {
        let source = match (&mount.kind, &mount.source) {
            (MountKind::Volume, None) => None,
            _ => {
                let name = format!("{volume_prefix}-v{i}");
                volumes.push(name.clone());
                Some(name)
            }
        };
        if mount.kind == MountKind::Bind && !imposed.contains(&imposed::MOUNT_SOURCES) {
            imposed.push(imposed::MOUNT_SOURCES);
            notes.push("Host directories are replaced by empty volumes in the grading sandbox; their read-only flags are kept.".into());
        }
        // A size-limited tmpfs on the engine host: a run cannot fill its disk.
        mounts.push(Mount {
            target: Some(mount.target.clone()),
            source,
            typ: Some(MountType::VOLUME),
            read_only: Some(mount.read_only),
            volume_options: Some(MountVolumeOptions {
                labels: Some(volume_labels.clone()),
                driver_config: Some(bollard_stubs::models::MountVolumeOptionsDriverConfig {
                    name: Some("local".into()),
                    options: Some(HashMap::from([
                        ("type".to_string(), "tmpfs".to_string()),
                        ("device".to_string(), "tmpfs".to_string()),
                        ("o".to_string(), format!("size={VOLUME_MB}m")),
                    ])),
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let tmpfs: HashMap<String, String> = spec
        .tmpfs
        .iter()
        .map(|t| (t.target.clone(), t.options.join(",")))
        .collect();
    let restart_policy = spec.restart.as_ref().map(|r| RestartPolicy {
        name: Some(match r.policy.as_str() {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        }),
        maximum_retry_count: r.max_retries,
    });
    let healthcheck = spec.health.test.as_ref().map(|test| HealthConfig {
        test: Some(test.clone()),
        interval: spec.health.interval_ns,
        timeout: spec.health.timeout_ns,
        retries: spec.health.retries,
        start_period: spec.health.start_period_ns,
        ..Default::default()
    });
    let healthcheck = healthcheck.or_else(|| {
        (spec.health.interval_ns.is_some()
            || spec.health.timeout_ns.is_some()
            || spec.health.retries.is_some())
        .then(|| HealthConfig {
            interval: spec.health.interval_ns,
            timeout: spec.health.timeout_ns,
            retries: spec.health.retries,
            start_period: spec.health.start_period_ns,
            ..Default::default()
        })
    });
    let mut all_labels: HashMap<String, String> = spec
        .labels
        .iter()
        .filter(|(k, _)| !is_reserved_label(k))
        .cloned()
        .collect();
    all_labels.extend(labels.iter().cloned());

    let env: Vec<String> = spec
        .env
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            // `-e NAME` copies the caller's variable; the grader has none.
            None => format!("{k}="),
        })
        .collect();
    let shm_cap = 64 * mb;
    let host_config = HostConfig {
        memory: Some(memory),
        memory_swap: Some(memory),
        memory_reservation: spec.memory_reservation.filter(|r| *r > 0 && *r <= memory),
        // Never passed on (graded as requested): oom-kill-disable, userns,
        // sysctls, cpuset, cgroup parent, runtime.
        nano_cpus,
        cpu_quota,
        cpu_period,
        cpu_shares: spec.cpu_shares.map(|s| s.clamp(2, 1024)),
        pids_limit: Some(pids_limit),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
        cap_drop: (!spec.cap_drop.is_empty()).then(|| spec.cap_drop.clone()),
        security_opt: (!spec.security_opt.is_empty()).then(|| spec.security_opt.clone()),
        readonly_rootfs: Some(spec.read_only),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        mounts: (!mounts.is_empty()).then_some(mounts),
        network_mode: Some("none".into()),
        runtime: runtime.map(str::to_string),
        init: spec.init.then_some(true),
        log_config: Some(log_config),
        restart_policy,
        privileged: Some(false),
        group_add: {
            let numeric: Vec<String> = spec
                .group_add
                .iter()
                .filter(|g| g.parse::<u32>().is_ok())
                .cloned()
                .collect();
            (!numeric.is_empty()).then_some(numeric)
        },
        shm_size: spec.shm_size.map(|s| s.clamp(0, shm_cap)),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
        entrypoint: spec.entrypoint.clone(),
        user: spec.user.clone(),
        working_dir: spec.workdir.clone(),
        hostname: spec.hostname.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(all_labels),
        healthcheck,
        stop_signal: spec.stop_signal.clone(),
        network_disabled: Some(true),
        host_config: Some(host_config),
        ..Default::default()
    };
    SandboxedRun {
        body,
        volumes,
        imposed,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_and_its_directories_are_recognised() {
        assert!(exposes_docker_socket("/var/run/docker.sock"));
        assert!(exposes_docker_socket("/run"));
        assert!(exposes_docker_socket("/var/run/"));
        assert!(!exposes_docker_socket("/srv/data"));
        assert_eq!(sensitive_path("/"), Some("/"));
        assert_eq!(sensitive_path("/etc/ssl"), Some("/etc"));
        assert_eq!(sensitive_path("/etcetera"), None);
        assert_eq!(sensitive_path("./data"), None);
    }

    #[test]
    fn capabilities_are_named_like_the_kernel_does() {
        assert_eq!(normalise_cap("cap_net_raw"), "NET_RAW");
        assert_eq!(normalise_cap("all"), "ALL");
        assert_eq!(normalise_cap(" CAP_CHOWN "), "CHOWN");
    }
}
