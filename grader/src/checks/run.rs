//! The runtime checks (`RUN-*`): each reads what the engine runs (inspect)
//! and what PID 1 sees (probes), and says what to change when it fails.
//! Where the grading sandbox had to change a field (see
//! [`crate::sandbox::imposed`]) the learner's request is graded instead.

use std::collections::BTreeMap;

use bollard_stubs::models::{
    ContainerConfig, ContainerInspectResponse, HostConfig, RestartPolicyNameEnum,
};

use crate::{
    checks::{
        catalog::{Params, RunCheck},
        secrets,
    },
    input::run_spec::RunSpec,
    sandbox::{exposes_docker_socket, normalise_cap, sensitive_path, Refusal, DANGEROUS_CAPS},
    Verdict,
};

/// Output of the probe script, split into its sections.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub sections: BTreeMap<String, String>,
}

impl Probe {
    /// Parses `@@name` headers followed by text.
    pub fn parse(output: &str) -> Self {
        let mut sections = BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        for line in output.lines() {
            if let Some(name) = line.strip_prefix("@@") {
                if let Some((n, t)) = current.take() {
                    sections.insert(n, t);
                }
                current = Some((name.trim().to_string(), String::new()));
            } else if let Some((_, text)) = current.as_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        if let Some((n, t)) = current {
            sections.insert(n, t);
        }
        Self { sections }
    }

    pub fn section(&self, name: &str) -> Option<&str> {
        self.sections.get(name).map(String::as_str)
    }

    /// A `Key:\tvalue` line of `/proc/1/status`.
    pub fn status_field(&self, key: &str) -> Option<String> {
        self.section("status")?.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
    }
}

/// The shell script run (as root, from outside) in a grading container.
pub const PROBE_SCRIPT: &str = r#"
echo @@status; cat /proc/1/status 2>&1
echo @@mountinfo; cat /proc/1/mountinfo 2>&1
echo @@uid_map; cat /proc/1/uid_map 2>&1
echo @@write; if out=$(touch /.drydock-probe 2>&1); then rm -f /.drydock-probe; echo writable; else echo "refused: $out"; fi
echo @@cgroup; for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; do [ -r $f ] && echo "$f $(cat $f)"; done
echo @@limits; cat /proc/1/limits 2>&1
echo @@secrets; ls /run/secrets 2>&1
"#;

/// Everything known about one run-config submission.
#[derive(Debug, Clone, Default)]
pub struct RunEvidence {
    pub spec: RunSpec,
    pub refusals: Vec<Refusal>,
    /// The engine's view; `None` when nothing was started.
    pub inspect: Option<ContainerInspectResponse>,
    pub probe: Option<Probe>,
    pub gvisor: bool,
    /// Security options of the engine (`name=apparmor`, `name=seccomp …`).
    pub engine_security: Vec<String>,
    /// Final health status, when a health check ran.
    pub health: Option<String>,
    /// How the container ended, if it stopped while being graded.
    pub exited: Option<String>,
    /// The image's `/etc/passwd`, read through the engine after the
    /// container was created and before it started (so nothing the
    /// container runs can change it).
    pub image_passwd: Option<String>,
}

impl RunEvidence {
    fn host(&self) -> HostConfig {
        self.inspect
            .as_ref()
            .and_then(|i| i.host_config.clone())
            .unwrap_or_default()
    }

    /// `Mounts` of the inspect (empty when nothing ran).
    fn mounts(&self) -> Vec<bollard_stubs::models::MountPoint> {
        self.inspect
            .as_ref()
            .and_then(|i| i.mounts.clone())
            .unwrap_or_default()
    }
}

/// Kernel capability names by number.
const CAP_NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Decodes a capability mask such as `CapBnd:\t00000000a80425fb`.
pub fn decode_caps(hex: &str) -> Option<Vec<String>> {
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(
        (0..64)
            .filter(|bit| mask & (1u64 << bit) != 0)
            .map(|bit| {
                CAP_NAMES
                    .get(bit)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("CAP_{bit}"))
            })
            .collect(),
    )
}

/// Bounding set of PID 1 from the probe, decoded.
fn bounding_set(ev: &RunEvidence) -> Option<(String, Vec<String>)> {
    let raw = ev.probe.as_ref()?.status_field("CapBnd")?;
    let caps = decode_caps(&raw)?;
    Some((raw, caps))
}

/// Whether `no-new-privileges` ends up on, reading every spelling.
pub fn no_new_privileges(security_opt: &[String]) -> Option<bool> {
    let mut state = None;
    for opt in security_opt {
        let lower = opt.trim().to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("no-new-privileges") else {
            continue;
        };
        state = match rest.trim_start_matches([':', '=']) {
            "" | "true" | "1" => Some(true),
            _ => Some(false),
        };
    }
    state
}

fn security_value(security_opt: &[String], key: &str) -> Option<String> {
    security_opt.iter().rev().find_map(|opt| {
        let lower = opt.trim().to_ascii_lowercase();
        lower
            .strip_prefix(key)
            .and_then(|r| r.strip_prefix(['=', ':']))
            .map(str::to_string)
    })
}

fn mib(bytes: i64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// Grades one runtime check.
pub fn evaluate(check: RunCheck, ev: &RunEvidence, params: Params<'_>) -> Verdict {
    if ev.inspect.is_none() {
        if let Some(r) = ev.refusals.iter().find(|r| r.check == Some(check)) {
            return Verdict::fail(r.reason.clone(), "not started: refused before running");
        }
        let reasons: Vec<&str> = ev.refusals.iter().map(|r| r.reason.as_str()).collect();
        return Verdict::fail(
            "Not graded: Drydock did not start this container. Fix the refused options and submit again.",
            reasons.join("\n"),
        );
    }
    let host = ev.host();
    let config = ev
        .inspect
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default();
    match check {
        RunCheck::NotPrivileged => not_privileged(ev, &host, &config, params),
        RunCheck::CapDropAll => cap_drop_all(ev, &host, &config, params),
        RunCheck::NoDangerousCaps => no_dangerous_caps(ev, &host, &config, params),
        RunCheck::NoNewPrivs => no_new_privs(ev, &host, &config, params),
        RunCheck::Seccomp => seccomp(ev, &host, &config, params),
        RunCheck::Lsm => lsm(ev, &host, &config, params),
        RunCheck::Nonroot => nonroot(ev, &host, &config, params),
        RunCheck::Userns => userns(ev, &host, &config, params),
        RunCheck::ReadonlyRootfs => readonly_rootfs(ev, &host, &config, params),
        RunCheck::TmpfsSafe => tmpfs_safe(ev, &host, &config, params),
        RunCheck::VolumesRo => volumes_ro(ev, &host, &config, params),
        RunCheck::NoSensitiveMount => no_sensitive_mount(ev, &host, &config, params),
        RunCheck::NoDockerSock => no_docker_sock(ev, &host, &config, params),
        RunCheck::Propagation => propagation(ev, &host, &config, params),
        RunCheck::HostNs => host_ns(ev, &host, &config, params),
        RunCheck::NoDevices => no_devices(ev, &host, &config, params),
        RunCheck::Network => network(ev, &host, &config, params),
        RunCheck::Ports => ports(ev, &host, &config, params),
        RunCheck::Memory => memory(ev, &host, &config, params),
        RunCheck::Cpu => cpu(ev, &host, &config, params),
        RunCheck::Pids => pids(ev, &host, &config, params),
        RunCheck::Ulimits => ulimits(ev, &host, &config, params),
        RunCheck::Restart => restart(ev, &host, &config, params),
        RunCheck::Health => health(ev, &host, &config, params),
        RunCheck::Logging => logging(ev, &host, &config, params),
        RunCheck::NoEnvSecrets => no_env_secrets(ev, &host, &config, params),
        RunCheck::ImageDigest => image_digest(ev, &host, &config, params),
    }
}

/// `RUN-NOT-PRIVILEGED`.
fn not_privileged(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let bnd = bounding_set(ev);
    let full = bnd.as_ref().is_some_and(|(_, caps)| caps.len() >= 38);
    let evidence = format!(
        "HostConfig.Privileged = {}{}",
        host.privileged.unwrap_or(false),
        bnd.map(|(raw, caps)| format!(
            "; /proc/1/status CapBnd {raw} ({} capabilities)",
            caps.len()
        ))
        .unwrap_or_default()
    );
    if host.privileged.unwrap_or(false) || full {
        Verdict::fail(
            "The container runs privileged. Remove --privileged.",
            evidence,
        )
    } else {
        Verdict::pass("Not privileged.", evidence)
    }
}

/// `RUN-CAP-DROP-ALL`.
fn cap_drop_all(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let drops: Vec<String> = host.cap_drop.clone().unwrap_or_default();
    let drops_all = drops.iter().any(|c| normalise_cap(c) == "ALL");
    let allowed: Vec<String> = params
        .list("allowed")
        .unwrap_or_default()
        .iter()
        .map(|c| normalise_cap(c))
        .collect();
    let mut evidence = format!(
        "HostConfig.CapDrop = {drops:?}, CapAdd = {:?}",
        host.cap_add.clone().unwrap_or_default()
    );
    let bnd = bounding_set(ev);
    if let Some((raw, caps)) = &bnd {
        evidence.push_str(&format!("; /proc/1/status CapBnd {raw} = {caps:?}"));
    }
    // The bounding set is the truth under runc; gVisor may also drop
    // what was asked for (NET_RAW), so the request counts as well.
    let mut extra: Vec<String> = bnd
        .as_ref()
        .map(|(_, caps)| {
            caps.iter()
                .filter(|c| !allowed.contains(c))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    for cap in host
        .cap_add
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|c| normalise_cap(c))
    {
        if !allowed.contains(&cap) && !extra.contains(&cap) {
            extra.push(cap);
        }
    }
    if !drops_all {
        Verdict::fail(
            format!(
                "Capabilities are not all dropped. Add --cap-drop ALL{}.",
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!(
                        " and add back only {}",
                        allowed
                            .iter()
                            .map(|c| format!("--cap-add {c}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
            ),
            evidence,
        )
    } else if !extra.is_empty() {
        Verdict::fail(
                format!("After dropping all, the container still holds {}: remove {} (this exercise needs at most {}).", extra.join(", "), extra.iter().map(|c| format!("--cap-add {c}")).collect::<Vec<_>>().join(" "), if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }),
                evidence,
            )
    } else {
        Verdict::pass(
            "All capabilities dropped; only what the program needs is added back.",
            evidence,
        )
    }
}

/// `RUN-NO-DANGEROUS-CAPS`.
fn no_dangerous_caps(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let added: Vec<String> = host
        .cap_add
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|c| normalise_cap(c))
        .collect();
    let mut evidence = format!("HostConfig.CapAdd = {added:?}");
    let mut held: Vec<String> = added
        .into_iter()
        .filter(|c| DANGEROUS_CAPS.contains(&c.as_str()))
        .collect();
    if let Some((raw, caps)) = bounding_set(ev) {
        evidence.push_str(&format!("; /proc/1/status CapBnd {raw} = {caps:?}"));
        for cap in caps
            .into_iter()
            .filter(|c| DANGEROUS_CAPS.contains(&c.as_str()))
        {
            if !held.contains(&cap) {
                held.push(cap);
            }
        }
    }
    if held.is_empty() {
        Verdict::pass("No dangerous capabilities.", evidence)
    } else {
        Verdict::fail(
            format!(
                "The container holds {}: remove {}.",
                held.join(", "),
                held.iter()
                    .map(|c| format!("--cap-add {c}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            evidence,
        )
    }
}

/// `RUN-NO-NEW-PRIVS`.
fn no_new_privs(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let opts = host.security_opt.clone().unwrap_or_default();
    let state = no_new_privileges(&opts);
    let probe = ev.probe.as_ref().and_then(|p| p.status_field("NoNewPrivs"));
    let evidence = format!(
        "HostConfig.SecurityOpt = {opts:?}; /proc/1/status NoNewPrivs: {}",
        probe.clone().unwrap_or_else(|| if ev.gvisor {
            "(not reported under gVisor)".into()
        } else {
            "(absent)".into()
        })
    );
    // The engine's word passes; what the container prints can only fail.
    match (state, probe.as_deref()) {
            (Some(false), _) => Verdict::fail("no-new-privileges is switched off (=false). Write --security-opt no-new-privileges (or =true).", evidence),
            (_, Some("0")) => Verdict::fail("PID 1 can still gain privileges. Add --security-opt no-new-privileges.", evidence),
            (Some(true), _) => Verdict::pass("no-new-privileges is on.", evidence),
            _ => Verdict::fail("no-new-privileges is not set. Add --security-opt no-new-privileges.", evidence),
        }
}

/// `RUN-SECCOMP`.
fn seccomp(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let opts = host.security_opt.clone().unwrap_or_default();
    let value = security_value(&opts, "seccomp");
    let probe = ev.probe.as_ref().and_then(|p| p.status_field("Seccomp"));
    let evidence = format!(
        "HostConfig.SecurityOpt = {opts:?}; /proc/1/status Seccomp: {}",
        probe.clone().unwrap_or_else(|| "(absent)".into())
    );
    if value.as_deref() == Some("unconfined") {
        Verdict::fail("seccomp=unconfined removes the system-call filter. Remove --security-opt seccomp=unconfined.", evidence)
    } else if !ev.gvisor && probe.as_deref() == Some("0") {
        Verdict::fail(
            "PID 1 runs without a seccomp filter. Keep Docker's default profile.",
            evidence,
        )
    } else {
        Verdict::pass(
            if ev.gvisor {
                "Docker's default seccomp profile is kept (gVisor filters system calls itself)."
            } else {
                "PID 1 runs under Docker's seccomp filter."
            },
            evidence,
        )
    }
}

/// `RUN-LSM`.
fn lsm(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let opts = host.security_opt.clone().unwrap_or_default();
    let apparmor = security_value(&opts, "apparmor");
    let label = security_value(&opts, "label");
    let profile = ev
        .inspect
        .as_ref()
        .and_then(|i| i.app_armor_profile.clone())
        .unwrap_or_default();
    let host_lsm: Vec<&str> = ev
        .engine_security
        .iter()
        .filter_map(|o| {
            if o.contains("apparmor") {
                Some("apparmor")
            } else if o.contains("selinux") {
                Some("selinux")
            } else {
                None
            }
        })
        .collect();
    let evidence = format!("AppArmorProfile = {profile:?}; HostConfig.SecurityOpt = {opts:?}; engine security options = {:?}", ev.engine_security);
    if apparmor.as_deref() == Some("unconfined") {
        Verdict::fail(
            "apparmor=unconfined switches AppArmor off. Remove it.",
            evidence,
        )
    } else if label.as_deref() == Some("disable") {
        Verdict::fail(
            "label=disable switches SELinux labelling off. Remove it.",
            evidence,
        )
    } else if host_lsm.contains(&"apparmor") && (profile.is_empty() || profile == "unconfined") {
        Verdict::fail("The engine has AppArmor but the container runs without a profile. Keep docker-default.", evidence)
    } else if host_lsm.is_empty() {
        Verdict::pass(
            "Nothing is disabled (this engine has no AppArmor or SELinux to apply).",
            evidence,
        )
    } else {
        Verdict::pass("The host's mandatory access control applies.", evidence)
    }
}

/// `RUN-NONROOT`.
fn nonroot(
    ev: &RunEvidence,
    _host: &HostConfig,
    config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let user = config.user.clone().unwrap_or_default();
    let probe = ev.probe.as_ref();
    let uid = probe
        .and_then(|p| p.status_field("Uid"))
        .and_then(|u| u.split_whitespace().next().map(str::to_string));
    // The user the engine started PID 1 as, resolved through the
    // image's own /etc/passwd; the probe's Uid can only fail it.
    let resolved = resolve_user(&user, ev.image_passwd.as_deref());
    let evidence = format!(
        "Config.User = {user:?}{}; /proc/1/status Uid: {}",
        resolved
            .map(|u| format!(" (uid {u} in the image's /etc/passwd)"))
            .unwrap_or_default(),
        uid.clone().unwrap_or_else(|| "(not probed)".into())
    );
    if resolved.is_none() {
        return Verdict::fail(
                format!("--user {user} is not an account of the image, so nothing shows it is not root. Use a numeric uid:gid such as --user 1000:1000."),
                evidence,
            );
    }
    let root = resolved == Some(0) || uid.as_deref() == Some("0");
    if root {
        Verdict::fail(
                match &ev.spec.user {
                    None => format!("The image's default user ({}) is root. Add --user 1000:1000 (or another non-root uid:gid).", if user.is_empty() { "none set" } else { user.as_str() }),
                    Some(asked) => format!("--user {asked} still runs as uid 0 (root). Use a non-zero uid such as --user 1000:1000."),
                },
                evidence,
            )
    } else {
        Verdict::pass("PID 1 runs as a non-root user.", evidence)
    }
}

/// `RUN-USERNS`.
fn userns(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    // Never passed to the engine: the request is what is graded.
    let mode = ev.spec.userns.clone().unwrap_or_default();
    let map = ev
        .probe
        .as_ref()
        .and_then(|p| p.section("uid_map"))
        .unwrap_or("")
        .trim()
        .to_string();
    let evidence = format!("requested --userns {mode:?}; /proc/1/uid_map: {map}");
    if mode == "host" {
        Verdict::fail(
            "--userns host switches off the engine's user-namespace remapping. Remove it.",
            evidence,
        )
    } else {
        Verdict::pass(
            "The user namespace is left as the engine configures it.",
            evidence,
        )
    }
}

/// `RUN-READONLY-ROOTFS`.
fn readonly_rootfs(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let ro = host.readonly_rootfs.unwrap_or(false);
    let write = ev
        .probe
        .as_ref()
        .and_then(|p| p.section("write"))
        .unwrap_or("")
        .trim()
        .to_string();
    let mut evidence = format!("HostConfig.ReadonlyRootfs = {ro}; a write to / as root: {write}");
    if !ro || write.ends_with("writable") {
        return Verdict::fail("The root filesystem is writable. Add --read-only (and --tmpfs for the paths the program writes to).", evidence);
    }
    let app_paths = params.list("app_paths").unwrap_or_default();
    let mut writable_over = Vec::new();
    for mount in ev.mounts() {
        let dest = mount.destination.clone().unwrap_or_default();
        if mount.rw.unwrap_or(false) && app_paths.iter().any(|p| covers(&dest, p)) {
            writable_over.push(format!("{dest} (writable mount)"));
        }
    }
    for (path, opts) in host.tmpfs.clone().unwrap_or_default() {
        let exec = opts.split(',').any(|o| o == "exec");
        if app_paths.iter().any(|p| covers(&path, p))
            && (exec || !opts.split(',').any(|o| o == "ro"))
        {
            writable_over.push(format!(
                "{path} (tmpfs{})",
                if exec { ", exec" } else { "" }
            ));
        }
    }
    if !writable_over.is_empty() {
        evidence.push_str(&format!(
            "; writable over the application: {writable_over:?}"
        ));
        Verdict::fail(format!("The root is read-only, but {} makes the application's files writable again. Remove that mount or make it :ro.", writable_over.join(", ")), evidence)
    } else {
        Verdict::pass("The root filesystem is read-only.", evidence)
    }
}

/// `RUN-TMPFS-SAFE`.
fn tmpfs_safe(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let tmpfs = host.tmpfs.clone().unwrap_or_default();
    let max_mb = params.int("max_size_mb", 64);
    let required = params.list("paths").unwrap_or_default();
    let mounts = ev
        .probe
        .as_ref()
        .and_then(|p| p.section("mountinfo"))
        .unwrap_or("");
    let tmpfs_lines: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(" - tmpfs ") && !l.contains(" /dev"))
        .collect();
    let evidence = format!(
        "HostConfig.Tmpfs = {tmpfs:?}; mountinfo: {}",
        tmpfs_lines.join(" | ")
    );
    let mut problems = Vec::new();
    for path in &required {
        if !tmpfs.contains_key(path) {
            problems.push(format!(
                "{path} is not a tmpfs (add --tmpfs {path}:rw,noexec,nosuid,size=16m)"
            ));
        }
    }
    for (path, opts) in &tmpfs {
        let parts: Vec<&str> = opts.split(',').map(str::trim).collect();
        if parts.contains(&"exec") {
            problems.push(format!("{path} allows exec: drop the exec option"));
        }
        if parts.contains(&"suid") {
            problems.push(format!("{path} allows setuid: drop the suid option"));
        }
        match parts.iter().find_map(|p| p.strip_prefix("size=")) {
            None => problems.push(format!(
                "{path} has no size, so it may fill the memory: add size=16m"
            )),
            Some(size) => match crate::input::run_spec::parse_size(size) {
                Ok(bytes) if bytes <= max_mb * 1024 * 1024 => {}
                _ => problems.push(format!("{path} size {size} is above {max_mb}m")),
            },
        }
    }
    if tmpfs.is_empty() && required.is_empty() {
        problems.push(
            "no tmpfs is mounted for scratch files; add --tmpfs /tmp:rw,noexec,nosuid,size=16m"
                .into(),
        );
    }
    if problems.is_empty() {
        Verdict::pass("Scratch space is a small noexec,nosuid tmpfs.", evidence)
    } else {
        Verdict::fail(format!("{}.", problems.join("; ")), evidence)
    }
}

/// `RUN-VOLUMES-RO`.
fn volumes_ro(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let writable = params.list("writable").unwrap_or_default();
    let mounts = ev.mounts();
    let listed: Vec<String> = mounts
        .iter()
        .map(|m| {
            format!(
                "{} rw={}",
                m.destination.clone().unwrap_or_default(),
                m.rw.unwrap_or(false)
            )
        })
        .collect();
    let evidence = format!("Mounts = {listed:?}");
    let offending: Vec<String> = mounts
        .iter()
        .filter(|m| m.typ.as_ref().is_none_or(|t| *t != "tmpfs"))
        .filter(|m| m.rw.unwrap_or(false))
        .filter_map(|m| m.destination.clone())
        // A path the exercise lets be written, or one inside it.
        .filter(|d| !writable.iter().any(|w| covers(w, d)))
        .collect();
    if offending.is_empty() {
        Verdict::pass("Data mounts are read-only.", evidence)
    } else {
        Verdict::fail(
            format!(
                "{} is mounted read-write; add :ro to that -v (or readonly to --mount).",
                offending.join(", ")
            ),
            evidence,
        )
    }
}

/// `RUN-NO-SENSITIVE-MOUNT`.
fn no_sensitive_mount(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let sources: Vec<String> = ev
        .spec
        .mounts
        .iter()
        .filter_map(|m| m.source.clone())
        .collect();
    let bad: Vec<String> = sources
        .iter()
        .filter(|s| s.starts_with('/') && sensitive_path(s).is_some())
        .cloned()
        .collect();
    let evidence = format!(
        "requested mount sources = {sources:?}; Mounts = {:?}",
        ev.mounts()
            .iter()
            .map(|m| m.destination.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    if bad.is_empty() {
        Verdict::pass("No host system directory is mounted.", evidence)
    } else {
        Verdict::fail(
            format!(
                "{} is a host system directory; remove that mount.",
                bad.join(", ")
            ),
            evidence,
        )
    }
}

/// `RUN-NO-DOCKER-SOCK`.
fn no_docker_sock(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let sources: Vec<String> = ev
        .spec
        .mounts
        .iter()
        .filter_map(|m| m.source.clone())
        .collect();
    let bad: Vec<&String> = sources
        .iter()
        .filter(|s| exposes_docker_socket(s))
        .collect();
    let sockets = ev
        .probe
        .as_ref()
        .and_then(|p| p.section("mountinfo"))
        .unwrap_or("")
        .lines()
        .filter(|l| l.contains("docker.sock"))
        .count();
    let evidence =
        format!("requested mount sources = {sources:?}; docker.sock in mountinfo: {sockets}");
    if bad.is_empty() && sockets == 0 {
        Verdict::pass("The Docker socket is not inside.", evidence)
    } else {
        Verdict::fail(
            "The Docker socket (or a directory holding it) is mounted; remove that -v.",
            evidence,
        )
    }
}

/// `RUN-PROPAGATION`.
fn propagation(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let shared: Vec<String> = ev
        .spec
        .mounts
        .iter()
        .filter(|m| {
            m.propagation
                .as_deref()
                .is_some_and(|p| p.contains("shared"))
        })
        .map(|m| m.target.clone())
        .collect();
    let evidence = format!(
        "requested propagation = {:?}; Mounts[].Propagation = {:?}",
        ev.spec
            .mounts
            .iter()
            .map(|m| m.propagation.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ev.mounts()
            .iter()
            .map(|m| m.propagation.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    if shared.is_empty() {
        Verdict::pass("No mount shares its propagation with the host.", evidence)
    } else {
        Verdict::fail(
            format!(
                "{} uses shared propagation; drop the shared/rshared option.",
                shared.join(", ")
            ),
            evidence,
        )
    }
}

/// `RUN-HOST-NS`.
fn host_ns(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let modes = [
        ("--network", ev.spec.network.clone().unwrap_or_default()),
        ("--pid", host.pid_mode.clone().unwrap_or_default()),
        ("--ipc", host.ipc_mode.clone().unwrap_or_default()),
        ("--uts", host.uts_mode.clone().unwrap_or_default()),
    ];
    let evidence = format!(
        "requested network = {:?}; HostConfig.PidMode = {:?}, IpcMode = {:?}, UTSMode = {:?}",
        modes[0].1, modes[1].1, modes[2].1, modes[3].1
    );
    let bad: Vec<String> = modes
        .iter()
        .filter(|(_, m)| m == "host" || m.starts_with("container:"))
        .map(|(f, m)| format!("{f} {m}"))
        .collect();
    if bad.is_empty() {
        Verdict::pass("No namespace is shared with the host.", evidence)
    } else {
        Verdict::fail(format!("Remove {}.", bad.join(" and ")), evidence)
    }
}

/// `RUN-NO-DEVICES`.
fn no_devices(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let devices = host.devices.clone().unwrap_or_default();
    let rules = host.device_cgroup_rules.clone().unwrap_or_default();
    let evidence = format!(
        "HostConfig.Devices = {:?}; DeviceCgroupRules = {rules:?}",
        devices
            .iter()
            .map(|d| d.path_on_host.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    if devices.is_empty() && rules.is_empty() && ev.spec.devices.is_empty() {
        Verdict::pass("No host devices.", evidence)
    } else {
        Verdict::fail("Host devices are passed in; remove --device.", evidence)
    }
}

/// `RUN-NETWORK`.
fn network(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let requested = ev.spec.network.clone();
    let evidence = format!(
        "requested network = {}; HostConfig.NetworkMode in the sandbox = {:?}",
        requested
            .clone()
            .unwrap_or_else(|| "(none given: the default bridge)".into()),
        host.network_mode.clone().unwrap_or_default()
    );
    match requested.as_deref() {
            Some("none") => Verdict::pass("No network: the container reaches nothing.", evidence),
            None | Some("bridge") | Some("default") => Verdict::fail("The default bridge lets every container reach every other. Use --network none, or a user-defined network.", evidence),
            Some(n) if n == "host" || n.starts_with("container:") => Verdict::fail(format!("--network {n} shares another network stack; use --network none or a user-defined network."), evidence),
            Some(n) => Verdict::pass(format!("A user-defined network ({n})."), evidence),
        }
}

/// `RUN-PORTS`; `publish = 0` means no port may be published at all.
fn ports(
    ev: &RunEvidence,
    _host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let evidence = format!(
        "requested publish = {:?}; publish-all = {}",
        ev.spec
            .publish
            .iter()
            .map(|p| format!(
                "{}:{}:{}/{}",
                p.host_ip.clone().unwrap_or_default(),
                p.host_port.clone().unwrap_or_default(),
                p.container_port,
                p.protocol
            ))
            .collect::<Vec<_>>(),
        ev.spec.publish_all
    );
    let mut problems = Vec::new();
    if params.int("publish", 1) == 0 && (ev.spec.publish_all || !ev.spec.publish.is_empty()) {
        return Verdict::fail(
            "This service needs no published port: the containers that use it reach it over their own network. Remove -p and -P.",
            evidence,
        );
    }
    if ev.spec.publish_all {
        problems.push("-P publishes every exposed port on all addresses: publish only what is needed with -p 127.0.0.1:PORT:PORT".to_string());
    }
    for p in &ev.spec.publish {
        let ip = p.host_ip.clone().unwrap_or_default();
        let ip = ip.trim_matches(['[', ']']);
        if ip.is_empty() || ip == "0.0.0.0" || ip == "::" {
            problems.push(format!(
                "port {} is published on every address: write -p 127.0.0.1:{}:{}",
                p.container_port,
                p.host_port
                    .clone()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| p.container_port.clone()),
                p.container_port
            ));
        }
        let low = p
            .host_port
            .as_deref()
            .and_then(|h| h.split('-').next())
            .and_then(|h| h.parse::<u32>().ok())
            .is_some_and(|h| h <= 1024);
        if low {
            problems.push(format!(
                "host port {} is a privileged port (≤ 1024): use one above 1024",
                p.host_port.clone().unwrap_or_default()
            ));
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            if ev.spec.publish.is_empty() {
                "No ports published."
            } else {
                "Ports are bound to one address, above 1024."
            },
            evidence,
        )
    } else {
        Verdict::fail(format!("{}.", problems.join("; ")), evidence)
    }
}

/// `RUN-MEMORY`.
fn memory(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let max_mb = params.int("max_mb", 512);
    let memory = host.memory.unwrap_or(0);
    let swap = host.memory_swap.unwrap_or(0);
    let evidence = format!(
            "HostConfig.Memory = {memory} ({}), MemorySwap = {swap}; requested --memory {}, --memory-swap {}{}",
            mib(memory),
            ev.spec.memory.map(|m| m.to_string()).unwrap_or_else(|| "(none)".into()),
            ev.spec.memory_swap.map(|m| m.to_string()).unwrap_or_else(|| "(none)".into()),
            cgroup_line(ev, &["memory.max", "memory.limit_in_bytes"])
        );
    // The request is graded: a limit the grading sandbox imposed is not
    // the learner's, and `--memory 0` is none.
    match ev.spec.memory.filter(|m| *m > 0) {
        Some(m) if m > max_mb * 1024 * 1024 => Verdict::fail(
            format!(
                "--memory {} is above this exercise's {max_mb} MiB; lower it.",
                mib(m)
            ),
            evidence,
        ),
        Some(_) if ev.spec.memory_swap == Some(-1) => Verdict::fail(
            "--memory-swap -1 allows unlimited swap; remove it or set it equal to --memory.",
            evidence,
        ),
        Some(_) => Verdict::pass("Memory is limited and swap is not unlimited.", evidence),
        None if ev.spec.memory.is_some() => Verdict::fail(
            "--memory 0 sets no limit: add --memory 128m (any limit that fits the program).",
            evidence,
        ),
        None => Verdict::fail("No memory limit: add --memory 128m.", evidence),
    }
}

/// `RUN-CPU`.
fn cpu(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let max = params.int("max_cpus_milli", 1000);
    let evidence = format!(
            "HostConfig.NanoCpus = {:?}, CpuQuota = {:?}, CpuPeriod = {:?}, CpuShares = {:?}; requested --cpus {:?}",
            host.nano_cpus, host.cpu_quota, host.cpu_period, host.cpu_shares, ev.spec.nano_cpus.map(|n| n as f64 / 1e9)
        );
    let milli = match (ev.spec.nano_cpus, ev.spec.cpu_quota) {
        (Some(n), _) if n > 0 => Some(n / 1_000_000),
        (None, Some(q)) if q > 0 => {
            Some(q * 1000 / ev.spec.cpu_period.filter(|p| *p > 0).unwrap_or(100_000))
        }
        _ => None,
    };
    match milli {
        None if ev.spec.cpu_shares.is_some() => Verdict::fail(
            "--cpu-shares is only a weight against other containers, not a cap. Add --cpus 0.5.",
            evidence,
        ),
        None => Verdict::fail("No CPU cap: add --cpus 0.5.", evidence),
        Some(m) if m > max => Verdict::fail(
            format!(
                "The CPU cap ({:.2} cores) is above this exercise's {:.2}; lower --cpus.",
                m as f64 / 1000.0,
                max as f64 / 1000.0
            ),
            evidence,
        ),
        Some(_) => Verdict::pass("CPU time is capped.", evidence),
    }
}

/// `RUN-PIDS`.
fn pids(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let max = params.int("max", 1024);
    let evidence = format!(
        "HostConfig.PidsLimit = {:?}{}; requested --pids-limit {:?}{}",
        host.pids_limit,
        if ev.gvisor {
            " (gVisor adds 512 for its own threads)"
        } else {
            ""
        },
        ev.spec.pids_limit,
        cgroup_line(ev, &["pids.max"])
    );
    match ev.spec.pids_limit.filter(|p| *p > 0) {
        Some(p) if p > max => Verdict::fail(
            format!("--pids-limit {p} is too high to stop a fork bomb; use at most {max}."),
            evidence,
        ),
        Some(_) => Verdict::pass("The number of processes is limited.", evidence),
        None => Verdict::fail(
            "No process limit (0 and -1 mean unlimited): add --pids-limit 100.",
            evidence,
        ),
    }
}

/// `RUN-ULIMITS`.
fn ulimits(
    _ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let max = params.int("max_nofile", 65536);
    let ulimits = host.ulimits.clone().unwrap_or_default();
    let nofile = ulimits.iter().find(|u| u.name.as_deref() == Some("nofile"));
    let evidence = format!(
        "HostConfig.Ulimits = {:?}",
        ulimits
            .iter()
            .map(|u| format!(
                "{}={}:{}",
                u.name.clone().unwrap_or_default(),
                u.soft.unwrap_or(0),
                u.hard.unwrap_or(0)
            ))
            .collect::<Vec<_>>()
    );
    match nofile {
        Some(u)
            if u.hard.unwrap_or(i64::MAX) <= max
                && u.soft.unwrap_or(i64::MAX) <= u.hard.unwrap_or(i64::MAX) =>
        {
            Verdict::pass("Open files are limited.", evidence)
        }
        Some(u) => Verdict::fail(
            format!(
                "nofile hard limit {} is above {max}; lower it (e.g. --ulimit nofile=1024:2048).",
                u.hard.unwrap_or(0)
            ),
            evidence,
        ),
        None => Verdict::fail(
            "Open files are not limited: add --ulimit nofile=1024:2048.",
            evidence,
        ),
    }
}

/// `RUN-RESTART`.
fn restart(
    _ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let max = params.int("max_retries", 10);
    let policy = host.restart_policy.clone().unwrap_or_default();
    let name = policy.name.map(|n| n.to_string()).unwrap_or_default();
    let retries = policy.maximum_retry_count.unwrap_or(0);
    let evidence =
        format!("HostConfig.RestartPolicy = {{Name: {name:?}, MaximumRetryCount: {retries}}}");
    match policy.name {
            Some(RestartPolicyNameEnum::ON_FAILURE) if retries > 0 && retries <= max => Verdict::pass("Restarts on failure, a bounded number of times.", evidence),
            Some(RestartPolicyNameEnum::ON_FAILURE) => Verdict::fail(format!("on-failure needs a bounded count: write --restart on-failure:5 (at most {max})."), evidence),
            Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) => Verdict::fail(format!("--restart {name} restarts forever, even a crash loop; use --restart on-failure:5."), evidence),
            _ => Verdict::fail("No restart policy: add --restart on-failure:5.", evidence),
        }
}

/// `RUN-HEALTH`.
fn health(
    ev: &RunEvidence,
    _host: &HostConfig,
    config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let test = config
        .healthcheck
        .clone()
        .and_then(|h| h.test)
        .unwrap_or_default();
    let status = ev.health.clone().unwrap_or_else(|| "none".into());
    let evidence = format!(
        "Config.Healthcheck.Test = {test:?}; State.Health.Status = {status:?}{}",
        ev.exited
            .as_ref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default()
    );
    if test.is_empty() || test.first().map(String::as_str) == Some("NONE") {
        Verdict::fail("There is no health check. Add --health-cmd with a command that fails when the service is down, and a short --health-interval (e.g. 2s).", evidence)
    } else if trivial_health_check(&test) {
        Verdict::fail("This health check can never fail, so healthy means nothing. Make --health-cmd test that the service answers (e.g. wget -q -O /dev/null http://127.0.0.1:8080/).", evidence)
    } else if status == "healthy" {
        Verdict::pass("The container became healthy.", evidence)
    } else if status == "starting" {
        Verdict::fail("Still starting when the grader gave up waiting. Set --health-interval to a few seconds so the first check runs sooner.", evidence)
    } else {
        Verdict::fail(format!("The health check reports {status}: check that --health-cmd really succeeds when the service works."), evidence)
    }
}

/// `RUN-LOGGING`.
fn logging(
    ev: &RunEvidence,
    host: &HostConfig,
    _config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let log = host.log_config.clone().unwrap_or_default();
    let requested_driver = ev.spec.log_driver.clone();
    let evidence = format!(
            "HostConfig.LogConfig = {{Type: {:?}, Config: {:?}}}; requested --log-driver {:?} --log-opt {:?}",
            log.typ.clone().unwrap_or_default(),
            log.config.clone().unwrap_or_default(),
            requested_driver,
            ev.spec.log_opts
        );
    let has_max = ev.spec.log_opts.iter().any(|(k, _)| k == "max-size");
    match requested_driver.as_deref() {
        Some("none") => Verdict::fail(
            "--log-driver none throws the logs away; use json-file with --log-opt max-size=10m.",
            evidence,
        ),
        Some("json-file") | None if has_max => {
            Verdict::pass("Logs are kept and bounded.", evidence)
        }
        Some("json-file") | None => Verdict::fail(
            "json-file logs grow without bound: add --log-opt max-size=10m --log-opt max-file=3.",
            evidence,
        ),
        Some("local") => Verdict::pass("The local driver keeps bounded, rotated logs.", evidence),
        Some(other) => Verdict::pass(
            format!("Logs are shipped with the {other} driver."),
            evidence,
        ),
    }
}

/// `RUN-NO-ENV-SECRETS`.
fn no_env_secrets(
    ev: &RunEvidence,
    _host: &HostConfig,
    config: &ContainerConfig,
    params: Params<'_>,
) -> Verdict {
    let known = params.list("secrets").unwrap_or_default();
    let env = config.env.clone().unwrap_or_default();
    let mut found = Vec::new();
    for entry in &env {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        if known
            .iter()
            .any(|k| !k.is_empty() && value.contains(k.as_str()))
        {
            found.push(format!("{name} holds the secret value"));
        } else if let Some(why) = secrets::secret_value(value) {
            found.push(format!("{name}: {why}"));
        } else if !value.is_empty() {
            if let Some(why) = secrets::secret_name(name) {
                found.push(format!("{name}: {why}"));
            }
        }
    }
    let names: Vec<&str> = env
        .iter()
        .map(|e| e.split('=').next().unwrap_or(""))
        .collect();
    let evidence = format!(
        "Config.Env names = {names:?}; /run/secrets: {}",
        ev.probe
            .as_ref()
            .and_then(|p| p.section("secrets"))
            .unwrap_or("")
            .trim()
    );
    if found.is_empty() {
        Verdict::pass("No secrets in environment variables.", evidence)
    } else {
        Verdict::fail(format!("Secrets in the environment ({}) leak through docker inspect and /proc/1/environ. Pass them as files (a read-only mount under /run/secrets) instead of -e.", found.join("; ")), evidence)
    }
}

/// `RUN-IMAGE-DIGEST`.
fn image_digest(
    ev: &RunEvidence,
    _host: &HostConfig,
    config: &ContainerConfig,
    _params: Params<'_>,
) -> Verdict {
    let image = config.image.clone().unwrap_or_default();
    let requested = ev.spec.image.clone();
    let evidence = format!("requested image = {requested:?}; Config.Image = {image:?}");
    if requested.contains("@sha256:") || requested.starts_with("sha256:") {
        Verdict::pass("The image is pinned by digest.", evidence)
    } else {
        Verdict::fail("A tag can be moved to another image. Name the image by its digest (docker image inspect --format '{{.Id}}' IMAGE gives it).", evidence)
    }
}

/// A health check that always succeeds (`true`, `exit 0`, `:` …).
pub fn trivial_health_check(test: &[String]) -> bool {
    let always = |cmd: &str| {
        matches!(
            cmd.trim(),
            "true" | "/bin/true" | "/usr/bin/true" | "exit 0" | ":" | "echo ok" | "echo healthy"
        ) || cmd.trim().ends_with("|| true")
            || cmd.trim().ends_with("|| exit 0")
    };
    match test.first().map(String::as_str) {
        Some("CMD-SHELL") => test.get(1).is_some_and(|c| always(c)),
        Some("CMD") => test.get(1).is_some_and(|c| always(c)) && test.len() == 2,
        _ => false,
    }
}

/// Whether mount destination `dest` is `path` or one of its parents.
fn covers(dest: &str, path: &str) -> bool {
    let dest = dest.trim_end_matches('/');
    let path = path.trim_end_matches('/');
    dest.is_empty() || path == dest || path.starts_with(&format!("{dest}/"))
}

fn cgroup_line(ev: &RunEvidence, names: &[&str]) -> String {
    let Some(section) = ev.probe.as_ref().and_then(|p| p.section("cgroup")) else {
        return String::new();
    };
    let lines: Vec<&str> = section
        .lines()
        .filter(|l| names.iter().any(|n| l.contains(n)))
        .collect();
    if lines.is_empty() {
        if ev.gvisor {
            "; cgroup files are not visible under gVisor".into()
        } else {
            String::new()
        }
    } else {
        format!("; cgroup: {}", lines.join(", "))
    }
}

/// The uid `user` (name, uid, `uid:gid`, `name:group`) runs as, through `passwd`.
pub fn resolve_user(user: &str, passwd: Option<&str>) -> Option<u32> {
    let name = user.split(':').next().unwrap_or("").trim();
    if name.is_empty() || name == "root" {
        return Some(0);
    }
    if let Ok(uid) = name.parse::<u32>() {
        return Some(uid);
    }
    passwd?.lines().find_map(|line| {
        let mut fields = line.split(':');
        let login = fields.next()?;
        let _pw = fields.next()?;
        let uid = fields.next()?.parse().ok()?;
        (login == name).then_some(uid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_sets_decode_to_capability_names() {
        assert_eq!(
            decode_caps("0000000000000400").unwrap(),
            vec!["NET_BIND_SERVICE"]
        );
        assert!(decode_caps("0000000000000000").unwrap().is_empty());
        let docker_default = decode_caps("00000000a80425fb").unwrap();
        assert!(docker_default.contains(&"NET_RAW".to_string()));
        assert!(!docker_default.contains(&"SYS_ADMIN".to_string()));
        assert!(decode_caps("zz").is_none());
    }

    #[test]
    fn no_new_privileges_reads_every_spelling_and_the_last_wins() {
        let v =
            |s: &[&str]| no_new_privileges(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(v(&["no-new-privileges"]), Some(true));
        assert_eq!(v(&["no-new-privileges:true"]), Some(true));
        assert_eq!(v(&["no-new-privileges=true"]), Some(true));
        assert_eq!(v(&["no-new-privileges=false"]), Some(false));
        assert_eq!(
            v(&["no-new-privileges", "no-new-privileges:false"]),
            Some(false)
        );
        assert_eq!(v(&["seccomp=unconfined"]), None);
    }

    #[test]
    fn users_resolve_through_passwd_including_a_second_root() {
        let passwd =
            "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n";
        assert_eq!(resolve_user("0:0", Some(passwd)), Some(0));
        assert_eq!(resolve_user("root:root", Some(passwd)), Some(0));
        assert_eq!(resolve_user("toor", Some(passwd)), Some(0));
        assert_eq!(resolve_user("app", Some(passwd)), Some(1000));
        assert_eq!(resolve_user("1000:1000", None), Some(1000));
        assert_eq!(resolve_user("", None), Some(0));
        assert_eq!(resolve_user("ghost", Some(passwd)), None);
    }

    #[test]
    fn probe_sections_split_on_markers() {
        let p = Probe::parse(
            "@@status\nUid:\t1000\t1000\t1000\t1000\nCapBnd:\t0000000000000000\n@@write\nrefused\n",
        );
        assert_eq!(p.status_field("Uid").unwrap(), "1000\t1000\t1000\t1000");
        assert_eq!(p.section("write").unwrap().trim(), "refused");
    }

    /// Evidence of a started container: its inspect (HostConfig and
    /// Mounts as JSON), the probe's output and the run command.
    fn started(command: &str, host: serde_json::Value, probe: &str) -> RunEvidence {
        RunEvidence {
            spec: crate::input::run_command::parse_run_command(command).unwrap(),
            inspect: Some(
                serde_json::from_value(serde_json::json!({
                    "HostConfig": host,
                    "Config": {},
                    "Mounts": host.get("Mounts").cloned().unwrap_or_default(),
                }))
                .unwrap(),
            ),
            probe: Some(Probe::parse(probe)),
            ..Default::default()
        }
    }

    /// `check` graded for `docker run img` with these security options,
    /// probe output and runtime.
    fn secured(check: RunCheck, opts: serde_json::Value, probe: &str, gvisor: bool) -> Verdict {
        let mut ev = started(
            "docker run img",
            serde_json::json!({ "SecurityOpt": opts }),
            probe,
        );
        ev.gvisor = gvisor;
        graded(check, &ev, "")
    }

    fn graded(check: RunCheck, ev: &RunEvidence, params: &str) -> Verdict {
        let params: toml::Table = toml::from_str(params).unwrap();
        evaluate(check, ev, Params(&params))
    }

    fn says(v: &Verdict, passed: bool, text: &str) {
        assert!(
            v.passed == passed && v.message.contains(text),
            "want passed={passed} and {text:?}: {v:?}"
        );
    }

    #[test]
    fn scratch_space_must_be_a_small_noexec_nosuid_tmpfs() {
        let run = "docker run img";
        let tmpfs = |opts: &str| serde_json::json!({ "Tmpfs": { "/tmp": opts } });
        let v = |host, params| graded(RunCheck::TmpfsSafe, &started(run, host, ""), params);
        says(
            &v(tmpfs("rw,noexec,nosuid,size=16m"), ""),
            true,
            "small noexec,nosuid tmpfs",
        );
        says(
            &v(tmpfs("rw,exec,nosuid,size=16m"), ""),
            false,
            "/tmp allows exec",
        );
        says(
            &v(tmpfs("rw,noexec,suid,size=16m"), ""),
            false,
            "/tmp allows setuid",
        );
        says(&v(tmpfs("rw,noexec,nosuid"), ""), false, "/tmp has no size");
        // The size against the exercise's cap, 64 MiB unless it says.
        says(&v(tmpfs("noexec,nosuid,size=64m"), ""), true, "tmpfs");
        says(&v(tmpfs("noexec,nosuid,size=65m"), ""), false, "above 64m");
        says(
            &v(tmpfs("noexec,nosuid,size=8m"), "max_size_mb = 4"),
            false,
            "above 4m",
        );
        says(&v(tmpfs("noexec,nosuid,size=lots"), ""), false, "size lots");
        says(&v(serde_json::json!({}), ""), false, "no tmpfs is mounted");
        says(
            &v(tmpfs("noexec,nosuid,size=8m"), "paths = [\"/run\"]"),
            false,
            "/run is not a tmpfs",
        );
        // The mounts the probe saw are evidence, /dev's own tmpfs aside.
        let probe =
            "@@mountinfo\n1 2 0:1 / /tmp rw - tmpfs tmpfs rw\n3 4 0:2 / /dev rw - tmpfs tmpfs rw\n";
        let ev = started(run, tmpfs("noexec,nosuid,size=8m"), probe);
        let verdict = graded(RunCheck::TmpfsSafe, &ev, "");
        assert!(
            verdict.evidence.contains("/tmp rw") && !verdict.evidence.contains("/dev rw"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_read_only_root_is_proved_by_a_refused_write_and_no_writable_cover() {
        let run = "docker run img";
        let refused = "@@write\nrefused: touch: /.drydock-probe: Read-only file system\n";
        let v = |host, probe: &str, params| {
            graded(RunCheck::ReadonlyRootfs, &started(run, host, probe), params)
        };
        says(
            &v(serde_json::json!({"ReadonlyRootfs": true}), refused, ""),
            true,
            "read-only",
        );
        says(
            &v(serde_json::json!({"ReadonlyRootfs": false}), refused, ""),
            false,
            "writable",
        );
        // Asked for, but the write went through: the probe wins.
        says(
            &v(
                serde_json::json!({"ReadonlyRootfs": true}),
                "@@write\nwritable\n",
                "",
            ),
            false,
            "writable",
        );
        let app = "app_paths = [\"/app\"]";
        let tmpfs_over =
            serde_json::json!({"ReadonlyRootfs": true, "Tmpfs": {"/app": "rw,noexec"}});
        says(&v(tmpfs_over, refused, app), false, "/app (tmpfs)");
        // A tmpfs inside the application's directory does not cover it.
        let inside =
            serde_json::json!({"ReadonlyRootfs": true, "Tmpfs": {"/app/cache": "rw,noexec"}});
        says(&v(inside, refused, app), true, "read-only");
        let exec_ro = serde_json::json!({"ReadonlyRootfs": true, "Tmpfs": {"/app": "ro,exec"}});
        says(&v(exec_ro, refused, app), false, "(tmpfs, exec)");
        let ro_tmpfs = serde_json::json!({"ReadonlyRootfs": true, "Tmpfs": {"/app": "ro,noexec"}, "Mounts": []});
        says(&v(ro_tmpfs, refused, app), true, "read-only");
        let elsewhere = serde_json::json!({"ReadonlyRootfs": true, "Tmpfs": {"/tmp": "rw,noexec"}});
        says(&v(elsewhere, refused, app), true, "read-only");
        let mut ev = started(run, serde_json::json!({"ReadonlyRootfs": true}), refused);
        ev.inspect.as_mut().unwrap().mounts = Some(vec![
            bollard_stubs::models::MountPoint {
                destination: Some("/app".into()),
                rw: Some(true),
                ..Default::default()
            },
            bollard_stubs::models::MountPoint {
                destination: Some("/data".into()),
                rw: Some(true),
                ..Default::default()
            },
        ]);
        let verdict = graded(RunCheck::ReadonlyRootfs, &ev, app);
        says(&verdict, false, "/app (writable mount)");
        assert!(!verdict.message.contains("/data"), "{verdict:?}");
        ev.inspect.as_mut().unwrap().mounts.as_mut().unwrap()[0].rw = Some(false);
        says(
            &graded(RunCheck::ReadonlyRootfs, &ev, app),
            true,
            "read-only",
        );
    }

    #[test]
    fn ports_are_bound_to_one_address_above_1024() {
        let v = |run: &str, params| {
            graded(
                RunCheck::Ports,
                &started(run, serde_json::json!({}), ""),
                params,
            )
        };
        says(&v("docker run img", ""), true, "No ports published");
        says(
            &v("docker run -p 127.0.0.1:8080:80 img", ""),
            true,
            "one address, above 1024",
        );
        says(
            &v("docker run -p 8080:80 img", ""),
            false,
            "write -p 127.0.0.1:8080:80",
        );
        says(
            &v("docker run -p 80 img", ""),
            false,
            "write -p 127.0.0.1:80:80",
        );
        says(
            &v("docker run -p 0.0.0.0:8080:80 img", ""),
            false,
            "every address",
        );
        says(
            &v("docker run -p [::]:8080:80 img", ""),
            false,
            "every address",
        );
        says(
            &v("docker run -p 127.0.0.1:80:80 img", ""),
            false,
            "host port 80 is a privileged port",
        );
        says(
            &v("docker run -p 127.0.0.1:1024:80 img", ""),
            false,
            "privileged port",
        );
        says(
            &v("docker run -p 127.0.0.1:1025:80 img", ""),
            true,
            "above 1024",
        );
        says(
            &v("docker run -p 127.0.0.1:1000-1100:80 img", ""),
            false,
            "privileged port",
        );
        says(
            &v("docker run -P img", ""),
            false,
            "-P publishes every exposed port",
        );
        says(
            &v("docker run -p 127.0.0.1:8080:80 img", "publish = 0"),
            false,
            "needs no published port",
        );
        says(&v("docker run img", "publish = 0"), true, "No ports");
    }

    #[test]
    fn every_capability_is_dropped_and_only_the_allowed_come_back() {
        let v = |host, probe: &str, params| {
            graded(
                RunCheck::CapDropAll,
                &started("docker run img", host, probe),
                params,
            )
        };
        let none = "@@status\nCapBnd:\t0000000000000000\n";
        let bind = "@@status\nCapBnd:\t0000000000000400\n";
        says(
            &v(serde_json::json!({"CapDrop": ["ALL"]}), none, ""),
            true,
            "All capabilities dropped",
        );
        says(
            &v(serde_json::json!({"CapDrop": ["all"]}), none, ""),
            true,
            "All capabilities dropped",
        );
        says(
            &v(serde_json::json!({"CapDrop": ["NET_RAW"]}), none, ""),
            false,
            "Add --cap-drop ALL.",
        );
        let allowed = "allowed = [\"NET_BIND_SERVICE\"]";
        says(
            &v(serde_json::json!({}), none, allowed),
            false,
            "add back only --cap-add NET_BIND_SERVICE",
        );
        // The bounding set is the truth: a capability the request did not
        // add but the container holds is found.
        says(
            &v(serde_json::json!({"CapDrop": ["ALL"]}), bind, ""),
            false,
            "still holds NET_BIND_SERVICE",
        );
        says(
            &v(serde_json::json!({"CapDrop": ["ALL"]}), bind, allowed),
            true,
            "only what the program needs",
        );
        let added = serde_json::json!({"CapDrop": ["ALL"], "CapAdd": ["CAP_NET_ADMIN"]});
        let verdict = graded(
            RunCheck::CapDropAll,
            &started("docker run img", added, none),
            allowed,
        );
        says(&verdict, false, "still holds NET_ADMIN");
        assert!(
            verdict.message.contains("at most NET_BIND_SERVICE"),
            "{verdict:?}"
        );
        let added = serde_json::json!({"CapDrop": ["ALL"], "CapAdd": ["NET_ADMIN"]});
        says(&v(added, none, ""), false, "needs at most none");
        // The bounding set shows in the evidence.
        let verdict = v(serde_json::json!({"CapDrop": ["ALL"]}), bind, allowed);
        assert!(
            verdict.evidence.contains("CapBnd 0000000000000400"),
            "{verdict:?}"
        );
    }

    #[test]
    fn seccomp_is_kept_unless_unconfined_or_absent_from_pid_1() {
        let v = |opts, probe: &str, gvisor| secured(RunCheck::Seccomp, opts, probe, gvisor);
        let filtered = "@@status\nSeccomp:\t2\n";
        let unfiltered = "@@status\nSeccomp:\t0\n";
        says(
            &v(serde_json::json!([]), filtered, false),
            true,
            "under Docker's seccomp filter",
        );
        says(
            &v(serde_json::json!(["seccomp=unconfined"]), filtered, false),
            false,
            "removes the system-call filter",
        );
        says(
            &v(serde_json::json!(["seccomp:unconfined"]), filtered, true),
            false,
            "removes the system-call filter",
        );
        says(
            &v(serde_json::json!([]), unfiltered, false),
            false,
            "without a seccomp filter",
        );
        // gVisor reports no filter for PID 1; it filters itself.
        says(
            &v(serde_json::json!([]), unfiltered, true),
            true,
            "gVisor filters system calls itself",
        );
        let verdict = v(serde_json::json!([]), "", false);
        assert!(
            verdict.passed && verdict.evidence.contains("(absent)"),
            "{verdict:?}"
        );
    }

    #[test]
    fn apparmor_and_selinux_may_not_be_switched_off() {
        let v = |opts: serde_json::Value, profile: &str, engine: &[&str]| {
            let mut ev = started(
                "docker run img",
                serde_json::json!({ "SecurityOpt": opts }),
                "",
            );
            ev.inspect.as_mut().unwrap().app_armor_profile = Some(profile.into());
            ev.engine_security = engine.iter().map(|s| s.to_string()).collect();
            graded(RunCheck::Lsm, &ev, "")
        };
        let apparmor = ["name=apparmor", "name=seccomp,profile=default"];
        says(
            &v(serde_json::json!([]), "docker-default", &apparmor),
            true,
            "mandatory access control applies",
        );
        says(
            &v(
                serde_json::json!(["apparmor=unconfined"]),
                "unconfined",
                &apparmor,
            ),
            false,
            "switches AppArmor off",
        );
        says(
            &v(serde_json::json!(["label=disable"]), "", &["name=selinux"]),
            false,
            "SELinux labelling off",
        );
        says(
            &v(serde_json::json!(["label:disable"]), "", &[]),
            false,
            "SELinux labelling off",
        );
        says(
            &v(serde_json::json!([]), "", &apparmor),
            false,
            "runs without a profile",
        );
        says(
            &v(serde_json::json!([]), "unconfined", &apparmor),
            false,
            "runs without a profile",
        );
        says(
            &v(serde_json::json!([]), "", &["name=seccomp,profile=default"]),
            true,
            "no AppArmor or SELinux",
        );
        says(
            &v(serde_json::json!([]), "", &["name=selinux"]),
            true,
            "mandatory access control applies",
        );
        let verdict = v(
            serde_json::json!(["apparmor=docker-default"]),
            "docker-default",
            &apparmor,
        );
        assert!(
            verdict.evidence.contains("docker-default")
                && verdict.evidence.contains("name=apparmor"),
            "{verdict:?}"
        );
    }

    #[test]
    fn the_network_is_none_or_user_defined() {
        let v = |run: &str| {
            graded(
                RunCheck::Network,
                &started(run, serde_json::json!({"NetworkMode": "none"}), ""),
                "",
            )
        };
        says(&v("docker run --network none img"), true, "No network");
        says(
            &v("docker run --network appnet img"),
            true,
            "user-defined network (appnet)",
        );
        for bridge in [
            "docker run img",
            "docker run --network bridge img",
            "docker run --network default img",
        ] {
            says(&v(bridge), false, "default bridge");
        }
        says(
            &v("docker run --network host img"),
            false,
            "--network host shares",
        );
        says(
            &v("docker run --network container:db img"),
            false,
            "--network container:db shares",
        );
        let verdict = v("docker run img");
        assert!(
            verdict
                .evidence
                .contains("(none given: the default bridge)")
                && verdict.evidence.contains("\"none\""),
            "{verdict:?}"
        );
    }

    #[test]
    fn no_new_privileges_is_the_engines_word_and_pid_1_can_only_fail_it() {
        let v = |opts, probe: &str, gvisor| secured(RunCheck::NoNewPrivs, opts, probe, gvisor);
        let on = "@@status\nNoNewPrivs:\t1\n";
        let off = "@@status\nNoNewPrivs:\t0\n";
        says(
            &v(serde_json::json!(["no-new-privileges"]), on, false),
            true,
            "is on",
        );
        says(
            &v(serde_json::json!(["no-new-privileges"]), "", true),
            true,
            "is on",
        );
        says(
            &v(serde_json::json!(["no-new-privileges=false"]), on, false),
            false,
            "switched off",
        );
        says(
            &v(serde_json::json!(["no-new-privileges"]), off, false),
            false,
            "can still gain privileges",
        );
        says(&v(serde_json::json!([]), on, false), false, "is not set");
        let verdict = v(serde_json::json!([]), "", true);
        assert!(
            verdict.evidence.contains("not reported under gVisor"),
            "{verdict:?}"
        );
        let verdict = v(serde_json::json!([]), "", false);
        assert!(verdict.evidence.contains("(absent)"), "{verdict:?}");
    }

    #[test]
    fn memory_is_limited_within_the_cap_and_swap_is_not_unlimited() {
        let v = |run: &str, params: &str| {
            let probe = "@@cgroup\n/sys/fs/cgroup/memory.max 134217728\n";
            graded(
                RunCheck::Memory,
                &started(run, serde_json::json!({"Memory": 134217728}), probe),
                params,
            )
        };
        let limited = v("docker run --memory 128m img", "");
        says(&limited, true, "Memory is limited");
        assert!(
            limited.evidence.contains("(128 MiB)")
                && limited
                    .evidence
                    .contains("cgroup: /sys/fs/cgroup/memory.max 134217728"),
            "{limited:?}"
        );
        says(&v("docker run --memory 512m img", ""), true, "limited");
        says(
            &v("docker run --memory 513m img", ""),
            false,
            "above this exercise's 512 MiB",
        );
        says(
            &v("docker run --memory 64m img", "max_mb = 32"),
            false,
            "--memory 64 MiB is above this exercise's 32 MiB",
        );
        says(
            &v("docker run --memory 128m --memory-swap -1 img", ""),
            false,
            "unlimited swap",
        );
        says(
            &v("docker run --memory 128m --memory-swap 256m img", ""),
            true,
            "limited",
        );
        says(
            &v("docker run img", ""),
            false,
            "No memory limit: add --memory 128m.",
        );
        // The grading sandbox imposed a limit the learner did not write.
        let ev = started(
            "docker run img",
            serde_json::json!({"Memory": 268435456}),
            "",
        );
        says(
            &graded(RunCheck::Memory, &ev, ""),
            false,
            "No memory limit: add --memory 128m.",
        );
        let ev = started("docker run --memory 128m img", serde_json::json!({}), "");
        says(&graded(RunCheck::Memory, &ev, ""), true, "limited");
    }

    #[test]
    fn cpu_is_capped_by_cpus_or_a_quota_not_by_shares() {
        let v = |run: &str, params: &str| {
            graded(
                RunCheck::Cpu,
                &started(run, serde_json::json!({}), ""),
                params,
            )
        };
        says(&v("docker run --cpus 0.5 img", ""), true, "capped");
        says(&v("docker run --cpus 1 img", ""), true, "capped");
        says(
            &v("docker run --cpus 1.5 img", ""),
            false,
            "(1.50 cores) is above this exercise's 1.00",
        );
        says(
            &v("docker run --cpus 0.5 img", "max_cpus_milli = 250"),
            false,
            "above this exercise's 0.25",
        );
        says(&v("docker run --cpu-quota 50000 img", ""), true, "capped");
        says(
            &v("docker run --cpu-quota 50000 --cpu-period 25000 img", ""),
            false,
            "(2.00 cores)",
        );
        says(
            &v("docker run --cpu-quota 150000 img", ""),
            false,
            "(1.50 cores)",
        );
        says(
            &v("docker run --cpu-quota 100000 --cpu-period 100000 img", ""),
            true,
            "capped",
        );
        says(
            &v("docker run --cpu-shares 512 img", ""),
            false,
            "only a weight",
        );
        says(&v("docker run img", ""), false, "No CPU cap");
        says(&v("docker run --cpus 0 img", ""), false, "No CPU cap");
    }

    #[test]
    fn the_process_count_is_limited_within_the_cap() {
        let v = |run: &str, params: &str| {
            graded(
                RunCheck::Pids,
                &started(run, serde_json::json!({}), ""),
                params,
            )
        };
        says(&v("docker run --pids-limit 100 img", ""), true, "limited");
        says(&v("docker run --pids-limit 1 img", ""), true, "limited");
        says(&v("docker run --pids-limit 1024 img", ""), true, "limited");
        says(
            &v("docker run --pids-limit 1025 img", ""),
            false,
            "--pids-limit 1025 is too high",
        );
        says(
            &v("docker run --pids-limit 200 img", "max = 100"),
            false,
            "use at most 100",
        );
        for unlimited in [
            "docker run img",
            "docker run --pids-limit 0 img",
            "docker run --pids-limit -1 img",
        ] {
            says(&v(unlimited, ""), false, "No process limit");
        }
        let mut ev = started("docker run --pids-limit 100 img", serde_json::json!({}), "");
        ev.gvisor = true;
        assert!(graded(RunCheck::Pids, &ev, "")
            .evidence
            .contains("gVisor adds 512"));
    }

    /// `ev` with this `Config` in its inspect (user, image, health check).
    fn configured(mut ev: RunEvidence, config: serde_json::Value) -> RunEvidence {
        ev.inspect.as_mut().unwrap().config = Some(serde_json::from_value(config).unwrap());
        ev
    }

    #[test]
    fn a_container_the_grader_did_not_start_fails_with_the_refusal() {
        let refused = |check| RunEvidence {
            refusals: vec![Refusal {
                check,
                reason: "--privileged gives the container the host.".into(),
            }],
            ..Default::default()
        };
        let verdict = graded(
            RunCheck::NotPrivileged,
            &refused(Some(RunCheck::NotPrivileged)),
            "",
        );
        says(
            &verdict,
            false,
            "--privileged gives the container the host.",
        );
        assert_eq!(verdict.evidence, "not started: refused before running");
        // Another check of the same submission is not graded either.
        let verdict = graded(
            RunCheck::Memory,
            &refused(Some(RunCheck::NotPrivileged)),
            "",
        );
        says(&verdict, false, "Not graded: Drydock did not start");
        assert!(
            verdict.evidence.contains("--privileged gives"),
            "{verdict:?}"
        );
        let verdict = graded(RunCheck::Memory, &refused(None), "");
        says(&verdict, false, "Not graded");
    }

    #[test]
    fn privileged_is_the_flag_or_a_full_bounding_set() {
        let v = |host, probe: &str| {
            graded(
                RunCheck::NotPrivileged,
                &started("docker run img", host, probe),
                "",
            )
        };
        let caps = |n: u32| format!("@@status\nCapBnd:\t{:016x}\n", (1u64 << n) - 1);
        says(&v(serde_json::json!({}), &caps(14)), true, "Not privileged");
        says(
            &v(serde_json::json!({"Privileged": true}), &caps(14)),
            false,
            "Remove --privileged",
        );
        // Docker's --privileged holds every capability the kernel knows
        // (38 and more); a long but partial set is not privileged.
        says(
            &v(serde_json::json!({}), &caps(38)),
            false,
            "runs privileged",
        );
        says(&v(serde_json::json!({}), &caps(37)), true, "Not privileged");
        let verdict = v(serde_json::json!({}), &caps(38));
        assert!(
            verdict.evidence.contains("(38 capabilities)"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_capability_both_added_and_held_is_named_once() {
        let admin = "@@status\nCapBnd:\t0000000000001000\n";
        let added = serde_json::json!({"CapDrop": ["ALL"], "CapAdd": ["NET_ADMIN"]});
        let verdict = graded(
            RunCheck::CapDropAll,
            &started("docker run img", added, admin),
            "",
        );
        says(
            &verdict,
            false,
            "still holds NET_ADMIN: remove --cap-add NET_ADMIN (",
        );
        // An allowed capability the request adds is no finding.
        let bind = serde_json::json!({"CapDrop": ["ALL"], "CapAdd": ["NET_BIND_SERVICE"]});
        says(
            &graded(
                RunCheck::CapDropAll,
                &started(
                    "docker run img",
                    bind,
                    "@@status\nCapBnd:\t0000000000000400\n",
                ),
                "allowed = [\"NET_BIND_SERVICE\"]",
            ),
            true,
            "All capabilities dropped",
        );
    }

    #[test]
    fn dangerous_capabilities_are_found_in_the_request_and_in_pid_1() {
        let v = |host, probe: &str| {
            graded(
                RunCheck::NoDangerousCaps,
                &started("docker run img", host, probe),
                "",
            )
        };
        let docker_default = "@@status\nCapBnd:\t00000000a80425fb\n";
        let sys_admin = "@@status\nCapBnd:\t0000000000200000\n";
        says(
            &v(serde_json::json!({}), docker_default),
            true,
            "No dangerous capabilities",
        );
        says(
            &v(
                serde_json::json!({"CapAdd": ["cap_sys_admin"]}),
                docker_default,
            ),
            false,
            "holds SYS_ADMIN: remove --cap-add SYS_ADMIN.",
        );
        says(
            &v(serde_json::json!({}), sys_admin),
            false,
            "holds SYS_ADMIN: remove --cap-add SYS_ADMIN.",
        );
        says(
            &v(serde_json::json!({"CapAdd": ["SYS_ADMIN"]}), sys_admin),
            false,
            "holds SYS_ADMIN: remove --cap-add SYS_ADMIN.",
        );
        says(
            &v(serde_json::json!({"CapAdd": ["NET_BIND_SERVICE"]}), ""),
            true,
            "No dangerous",
        );
    }

    #[test]
    fn the_user_is_resolved_through_the_images_passwd_and_pid_1_can_only_fail_it() {
        let passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n";
        let v = |run: &str, user: &str, uid: &str| {
            let mut ev = configured(
                started(
                    run,
                    serde_json::json!({}),
                    &format!("@@status\nUid:\t{uid}\n"),
                ),
                serde_json::json!({ "User": user }),
            );
            ev.image_passwd = Some(passwd.into());
            graded(RunCheck::Nonroot, &ev, "")
        };
        says(
            &v("docker run img", "", "0\t0\t0\t0"),
            false,
            "default user (none set) is root",
        );
        says(
            &v("docker run img", "root", "0\t0\t0\t0"),
            false,
            "default user (root) is root",
        );
        says(
            &v("docker run --user app img", "app", "1000"),
            true,
            "non-root",
        );
        says(
            &v("docker run --user 1000:1000 img", "1000:1000", "1000"),
            true,
            "non-root",
        );
        says(
            &v("docker run --user 0 img", "0", "0"),
            false,
            "--user 0 still runs as uid 0",
        );
        // The engine said 1000, PID 1 says 0: the probe fails it.
        says(
            &v("docker run --user 1000 img", "1000", "0\t0\t0\t0"),
            false,
            "still runs as uid 0",
        );
        says(
            &v("docker run --user ghost img", "ghost", "1000"),
            false,
            "--user ghost is not an account of the image",
        );
        let verdict = v("docker run --user app img", "app", "1000");
        assert!(
            verdict
                .evidence
                .contains("(uid 1000 in the image's /etc/passwd)"),
            "{verdict:?}"
        );
    }

    #[test]
    fn the_host_user_namespace_fails() {
        let v = |run: &str| {
            graded(
                RunCheck::Userns,
                &started(run, serde_json::json!({}), "@@uid_map\n0 100000 65536\n"),
                "",
            )
        };
        says(
            &v("docker run --userns host img"),
            false,
            "--userns host switches off",
        );
        let verdict = v("docker run img");
        says(&verdict, true, "left as the engine configures it");
        assert!(verdict.evidence.contains("0 100000 65536"), "{verdict:?}");
    }

    #[test]
    fn data_mounts_are_read_only_unless_the_exercise_lets_a_path_be_written() {
        let v = |mounts: serde_json::Value, params| {
            graded(
                RunCheck::VolumesRo,
                &started(
                    "docker run img",
                    serde_json::json!({ "Mounts": mounts }),
                    "",
                ),
                params,
            )
        };
        let mount = |dest: &str, rw: bool, kind: &str| serde_json::json!({"Destination": dest, "RW": rw, "Type": kind});
        says(
            &v(serde_json::json!([mount("/data", false, "volume")]), ""),
            true,
            "read-only",
        );
        says(
            &v(serde_json::json!([mount("/data", true, "volume")]), ""),
            false,
            "/data is mounted read-write",
        );
        // Scratch tmpfs is RUN-TMPFS-SAFE's business.
        says(
            &v(serde_json::json!([mount("/tmp", true, "tmpfs")]), ""),
            true,
            "read-only",
        );
        let cache = "writable = [\"/data/cache\"]";
        says(
            &v(
                serde_json::json!([mount("/data/cache", true, "volume")]),
                cache,
            ),
            true,
            "read-only",
        );
        says(
            &v(
                serde_json::json!([mount("/data/cache/x", true, "bind")]),
                cache,
            ),
            true,
            "read-only",
        );
        // Leave to write /data/cache is not leave to write all of /data.
        says(
            &v(serde_json::json!([mount("/data", true, "volume")]), cache),
            false,
            "/data is mounted read-write",
        );
        says(
            &v(
                serde_json::json!([mount("/data/cached", true, "volume")]),
                cache,
            ),
            false,
            "/data/cached is mounted read-write",
        );
    }

    #[test]
    fn host_system_directories_and_the_docker_socket_stay_outside() {
        let v = |check, run: &str, probe: &str| {
            graded(check, &started(run, serde_json::json!({}), probe), "")
        };
        let sensitive = RunCheck::NoSensitiveMount;
        says(
            &v(sensitive, "docker run -v /etc:/host-etc:ro img", ""),
            false,
            "/etc is a host system directory",
        );
        says(
            &v(sensitive, "docker run -v /srv/site:/site:ro img", ""),
            true,
            "No host system directory",
        );
        says(
            &v(sensitive, "docker run -v data:/data img", ""),
            true,
            "No host system directory",
        );
        let sock = RunCheck::NoDockerSock;
        says(
            &v(sock, "docker run -v /var/run/docker.sock:/s img", ""),
            false,
            "The Docker socket",
        );
        says(
            &v(sock, "docker run -v /srv/site:/site img", ""),
            true,
            "not inside",
        );
        // Found in PID 1's mounts even if the request did not show it.
        says(
            &v(
                sock,
                "docker run img",
                "@@mountinfo\n1 2 0:1 / /x/docker.sock rw - ext4 /dev/vda rw\n",
            ),
            false,
            "The Docker socket",
        );
    }

    #[test]
    fn namespaces_and_devices_of_the_host_stay_outside() {
        let v = |check, run: &str, host| graded(check, &started(run, host, ""), "");
        says(
            &v(RunCheck::HostNs, "docker run img", serde_json::json!({})),
            true,
            "No namespace is shared",
        );
        says(
            &v(
                RunCheck::HostNs,
                "docker run --pid host img",
                serde_json::json!({"PidMode": "host"}),
            ),
            false,
            "Remove --pid host.",
        );
        says(
            &v(
                RunCheck::HostNs,
                "docker run img",
                serde_json::json!({"IpcMode": "container:db", "UTSMode": "host"}),
            ),
            false,
            "Remove --ipc container:db and --uts host.",
        );
        says(
            &v(
                RunCheck::HostNs,
                "docker run img",
                serde_json::json!({"IpcMode": "private"}),
            ),
            true,
            "No namespace",
        );
        let devices = RunCheck::NoDevices;
        says(
            &v(devices, "docker run img", serde_json::json!({})),
            true,
            "No host devices",
        );
        says(
            &v(
                devices,
                "docker run img",
                serde_json::json!({"Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}]}),
            ),
            false,
            "remove --device",
        );
        says(
            &v(
                devices,
                "docker run img",
                serde_json::json!({"DeviceCgroupRules": ["c 10:229 rwm"]}),
            ),
            false,
            "remove --device",
        );
        says(
            &v(
                devices,
                "docker run --device /dev/fuse img",
                serde_json::json!({}),
            ),
            false,
            "remove --device",
        );
    }

    #[test]
    fn open_files_are_limited_by_a_hard_limit_within_the_cap() {
        let v = |ulimits: serde_json::Value, params| {
            graded(
                RunCheck::Ulimits,
                &started(
                    "docker run img",
                    serde_json::json!({ "Ulimits": ulimits }),
                    "",
                ),
                params,
            )
        };
        let nofile = |soft: i64, hard: i64| serde_json::json!([{"Name": "nproc", "Soft": 64, "Hard": 64}, {"Name": "nofile", "Soft": soft, "Hard": hard}]);
        let verdict = v(nofile(1024, 2048), "");
        says(&verdict, true, "Open files are limited");
        assert!(verdict.evidence.contains("nofile=1024:2048"), "{verdict:?}");
        says(&v(nofile(1024, 65536), ""), true, "limited");
        says(
            &v(nofile(1024, 65537), ""),
            false,
            "nofile hard limit 65537 is above 65536",
        );
        says(
            &v(nofile(100, 200), "max_nofile = 199"),
            false,
            "200 is above 199",
        );
        says(&v(nofile(100, 199), "max_nofile = 199"), true, "limited");
        // A soft limit above the hard one is not a limit the kernel keeps.
        says(&v(nofile(4096, 2048), ""), false, "nofile hard limit 2048");
        says(
            &v(
                serde_json::json!([{"Name": "nproc", "Soft": 64, "Hard": 64}]),
                "",
            ),
            false,
            "Open files are not limited",
        );
    }

    #[test]
    fn restarts_are_on_failure_and_bounded() {
        let v = |name: &str, count: i64, params| {
            graded(
                RunCheck::Restart,
                &started(
                    "docker run img",
                    serde_json::json!({"RestartPolicy": {"Name": name, "MaximumRetryCount": count}}),
                    "",
                ),
                params,
            )
        };
        let verdict = v("on-failure", 5, "");
        says(&verdict, true, "a bounded number of times");
        assert!(
            verdict.evidence.contains("MaximumRetryCount: 5"),
            "{verdict:?}"
        );
        says(&v("on-failure", 10, ""), true, "bounded");
        says(&v("on-failure", 11, ""), false, "at most 10");
        says(&v("on-failure", 0, ""), false, "needs a bounded count");
        says(&v("on-failure", 4, "max_retries = 3"), false, "at most 3");
        says(
            &v("always", 0, ""),
            false,
            "--restart always restarts forever",
        );
        says(
            &v("unless-stopped", 0, ""),
            false,
            "--restart unless-stopped restarts forever",
        );
        says(&v("no", 0, ""), false, "No restart policy");
        says(
            &graded(
                RunCheck::Restart,
                &started("docker run img", serde_json::json!({}), ""),
                "",
            ),
            false,
            "No restart policy",
        );
    }

    #[test]
    fn a_health_check_must_be_able_to_fail_and_report_healthy() {
        let v = |test: serde_json::Value, status: Option<&str>| {
            let mut ev = configured(
                started("docker run img", serde_json::json!({}), ""),
                serde_json::json!({"Healthcheck": {"Test": test}}),
            );
            ev.health = status.map(str::to_string);
            graded(RunCheck::Health, &ev, "")
        };
        let real = serde_json::json!(["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/"]);
        says(&v(real.clone(), Some("healthy")), true, "became healthy");
        says(&v(real.clone(), Some("starting")), false, "Still starting");
        says(
            &v(real.clone(), Some("unhealthy")),
            false,
            "The health check reports unhealthy",
        );
        says(&v(real, None), false, "The health check reports none");
        says(
            &v(serde_json::json!(["CMD-SHELL", "exit 0"]), Some("healthy")),
            false,
            "can never fail",
        );
        says(
            &v(serde_json::json!(["NONE"]), None),
            false,
            "There is no health check",
        );
        says(
            &v(serde_json::json!([]), None),
            false,
            "There is no health check",
        );
        let mut ev = configured(
            started("docker run img", serde_json::json!({}), ""),
            serde_json::json!({}),
        );
        ev.exited = Some("exited with code 1".into());
        let verdict = graded(RunCheck::Health, &ev, "");
        says(&verdict, false, "There is no health check");
        assert!(
            verdict.evidence.contains("; exited with code 1"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_trivial_health_check_is_one_that_always_succeeds() {
        let t = |test: &[&str]| {
            trivial_health_check(&test.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        for always in [
            "true",
            " /bin/true ",
            "exit 0",
            ":",
            "echo ok",
            "curl -f x || true",
            "wget x || exit 0",
        ] {
            assert!(t(&["CMD-SHELL", always]), "{always}");
        }
        assert!(t(&["CMD", "true"]));
        assert!(t(&["CMD", "/usr/bin/true"]));
        // `true` with an argument is still `true`, but one argument more
        // may be a real program: only the bare command counts.
        assert!(!t(&["CMD", "true", "--version"]));
        assert!(!t(&["CMD", "wget", "-q", "http://127.0.0.1/"]));
        assert!(!t(&["CMD-SHELL", "wget -q http://127.0.0.1/ || exit 1"]));
        assert!(!t(&["CMD-SHELL"]));
        assert!(!t(&["NONE"]));
        assert!(!t(&[]));
    }

    #[test]
    fn logs_are_kept_and_bounded() {
        let v = |run: &str| {
            graded(
                RunCheck::Logging,
                &started(run, serde_json::json!({}), ""),
                "",
            )
        };
        says(
            &v("docker run --log-driver none img"),
            false,
            "throws the logs away",
        );
        says(&v("docker run img"), false, "grow without bound");
        says(
            &v("docker run --log-driver json-file --log-opt max-file=3 img"),
            false,
            "grow without bound",
        );
        says(
            &v("docker run --log-opt max-size=10m img"),
            true,
            "kept and bounded",
        );
        says(
            &v("docker run --log-driver json-file --log-opt max-size=10m img"),
            true,
            "kept and bounded",
        );
        says(
            &v("docker run --log-driver local img"),
            true,
            "local driver",
        );
        says(
            &v("docker run --log-driver syslog img"),
            true,
            "shipped with the syslog driver",
        );
        let verdict = v("docker run --log-opt max-size=10m img");
        assert!(verdict.evidence.contains("max-size"), "{verdict:?}");
    }

    #[test]
    fn the_image_is_named_by_its_digest() {
        let digest = "sha256:".to_string() + &"ab".repeat(32);
        let v = |image: &str| {
            graded(
                RunCheck::ImageDigest,
                &configured(
                    started(&format!("docker run {image}"), serde_json::json!({}), ""),
                    serde_json::json!({"Image": image}),
                ),
                "",
            )
        };
        let verdict = v(&format!("app@{digest}"));
        says(&verdict, true, "pinned by digest");
        assert!(verdict.evidence.contains("Config.Image"), "{verdict:?}");
        says(&v(&digest), true, "pinned by digest");
        says(&v("app:1"), false, "Name the image by its digest");
        says(&v("app"), false, "by its digest");
    }

    #[test]
    fn a_memory_limit_is_the_learners_request_and_zero_is_none() {
        let ev = started(
            "docker run --memory 0 img",
            serde_json::json!({"Memory": 268435456}),
            "",
        );
        says(
            &graded(RunCheck::Memory, &ev, ""),
            false,
            "--memory 0 sets no limit",
        );
        let plain = started("docker run img", serde_json::json!({}), "");
        let verdict = graded(RunCheck::Memory, &plain, "");
        says(&verdict, false, "No memory limit: add --memory 128m.");
        assert!(!verdict.message.contains("any limit"), "{verdict:?}");
        // Sizes are said in MiB.
        let big = started(
            "docker run --memory 1g img",
            serde_json::json!({"Memory": 1073741824}),
            "",
        );
        let verdict = graded(RunCheck::Memory, &big, "");
        says(
            &verdict,
            false,
            "--memory 1024 MiB is above this exercise's 512 MiB",
        );
        assert!(verdict.evidence.contains("(1024 MiB)"), "{verdict:?}");
    }

    #[test]
    fn cgroup_files_are_evidence_when_pid_1_can_read_them() {
        let probe = "@@cgroup\n/sys/fs/cgroup/memory.max 134217728\n/sys/fs/cgroup/pids.max 100\n";
        let mut ev = started(
            "docker run --memory 128m --pids-limit 100 img",
            serde_json::json!({}),
            probe,
        );
        let memory = graded(RunCheck::Memory, &ev, "");
        assert!(
            memory
                .evidence
                .ends_with("; cgroup: /sys/fs/cgroup/memory.max 134217728"),
            "{memory:?}"
        );
        let pids = graded(RunCheck::Pids, &ev, "");
        assert!(
            pids.evidence
                .ends_with("; cgroup: /sys/fs/cgroup/pids.max 100"),
            "{pids:?}"
        );
        ev.probe = Some(Probe::parse("@@cgroup\n"));
        assert!(graded(RunCheck::Memory, &ev, "")
            .evidence
            .ends_with("--memory-swap (none)"));
        ev.gvisor = true;
        assert!(graded(RunCheck::Memory, &ev, "")
            .evidence
            .ends_with("; cgroup files are not visible under gVisor"));
    }

    #[test]
    fn a_zero_quota_is_no_cap_and_a_zero_period_is_the_default() {
        let v = |run: &str| graded(RunCheck::Cpu, &started(run, serde_json::json!({}), ""), "");
        says(&v("docker run --cpu-quota 0 img"), false, "No CPU cap");
        says(
            &v("docker run --cpu-quota 50000 --cpu-period 0 img"),
            true,
            "CPU time is capped",
        );
        says(
            &v("docker run --cpu-quota 150000 --cpu-period 0 img"),
            false,
            "(1.50 cores)",
        );
    }

    #[test]
    fn secrets_in_the_environment_are_found_by_value_and_by_name() {
        let v = |run: &str, env: serde_json::Value, params| {
            graded(
                RunCheck::NoEnvSecrets,
                &configured(
                    started(run, serde_json::json!({}), "@@secrets\npw\n"),
                    serde_json::json!({ "Env": env }),
                ),
                params,
            )
        };
        let run = "docker run img";
        let known = "secrets = [\"swordfish\"]";
        says(
            &v(run, serde_json::json!(["GREETING=hello swordfish"]), known),
            false,
            "GREETING holds the secret value",
        );
        says(
            &v(run, serde_json::json!(["GREETING=hello"]), known),
            true,
            "No secrets",
        );
        // An empty known secret matches nothing.
        says(
            &v(
                run,
                serde_json::json!(["GREETING=hello"]),
                "secrets = [\"\"]",
            ),
            true,
            "No secrets",
        );
        says(
            &v(run, serde_json::json!(["DB_PASSWORD=hunter2"]), ""),
            false,
            "DB_PASSWORD: name contains PASSWORD",
        );
        // A secret's name with nothing in it holds nothing.
        let verdict = v(
            run,
            serde_json::json!(["DB_PASSWORD=", "DB_PASSWORD_FILE=/run/secrets/pw"]),
            "",
        );
        says(&verdict, true, "No secrets");
        assert!(verdict.evidence.contains("/run/secrets: pw"), "{verdict:?}");
        says(
            &v(
                run,
                serde_json::json!(["TOKEN_URL=ghp_abcdefghijklmnopqrstuvwxyz0123456789"]),
                "",
            ),
            false,
            "TOKEN_URL: looks like a GitHub token",
        );
    }
}
