//! `POST /containers/create`: the container is built afresh from the fields
//! Drydock reads (an allow-list), with the lab's sandbox added. Nothing of
//! the learner's body reaches the engine as sent; dangerous options are
//! refused with a sentence that teaches why, whatever their spelling
//! (keys are matched without regard to case, and host settings found
//! outside `HostConfig` count too).

use serde_json::{json, Map, Value};

use super::{
    names::{valid_object_name, LAB_NETWORK},
    server::{Refused, SessionProxy},
};
use crate::docker::{
    labels,
    runtime::{is_gvisor, GVISOR_HOST_THREADS},
};
use drydock_grader::{
    input::container::LabRequest,
    sandbox::{normalise_cap, parse_log_size, DEFAULT_CAPS, ULIMITS},
};

/// Most one tmpfs mount of a learner's container may hold, in MiB.
const TMPFS_MB: i64 = 64;
/// Largest `/dev/shm`, in bytes.
const SHM_BYTES: i64 = 64 << 20;
/// Largest json-file log, per file and files.
const LOG_MAX_BYTES: i64 = 10 << 20;
const LOG_MAX_FILES: i64 = 5;

/// A field of a JSON object, whatever the case of its key (the engine
/// matches keys that way). Two spellings with different values are refused.
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a Value>, Refused> {
    let mut found: Option<&Value> = None;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case(name) {
            if let Some(earlier) = found {
                if earlier != v {
                    return Err(Refused::policy(
                        format!("duplicate key {name}"),
                        format!(
                            "the request spells {name} twice with different values; send it once"
                        ),
                    ));
                }
            }
            found = Some(v);
        }
    }
    Ok(found.filter(|v| !v.is_null()))
}

fn str_field(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, Refused> {
    match field(obj, name)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Refused::bad(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

fn bool_field(obj: &Map<String, Value>, name: &str) -> Result<bool, Refused> {
    match field(obj, name)? {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Refused::bad(format!(
            "{name} must be true or false, not {other}"
        ))),
    }
}

/// The settings the endpoint rewrites, as the learner sent them.
fn learner_request(host: &Map<String, Value>) -> Result<LabRequest, Refused> {
    let positive = |name: &str| -> Result<Option<i64>, Refused> {
        Ok(int_field(host, name)?.filter(|v| *v > 0))
    };
    let mut request = LabRequest {
        memory: positive("Memory")?,
        memory_swap: int_field(host, "MemorySwap")?.filter(|v| *v != 0),
        nano_cpus: positive("NanoCpus")?,
        cpu_quota: positive("CpuQuota")?,
        cpu_period: positive("CpuPeriod")?,
        cpu_shares: positive("CpuShares")?,
        pids_limit: int_field(host, "PidsLimit")?.filter(|v| *v != 0),
        publish_all: bool_field(host, "PublishAllPorts")?,
        ..LabRequest::default()
    };
    if let Some(Value::Object(tmpfs)) = field(host, "Tmpfs")? {
        for (target, options) in tmpfs {
            let options = options.as_str().unwrap_or_default().to_string();
            request.tmpfs.push((target.clone(), options));
        }
    }
    if let Some(Value::Array(mounts)) = field(host, "Mounts")? {
        for m in mounts.iter().filter_map(Value::as_object) {
            if str_field(m, "Type")?.as_deref() == Some("tmpfs") {
                let size = m
                    .get("TmpfsOptions")
                    .and_then(|o| o.get("SizeBytes"))
                    .and_then(Value::as_i64)
                    .map(|b| format!("size={b}"))
                    .unwrap_or_default();
                let target = str_field(m, "Target")?.unwrap_or_default();
                request.tmpfs.push((target, size));
            }
        }
    }
    if let Some(Value::Object(bindings)) = field(host, "PortBindings")? {
        for (port, list) in bindings {
            for binding in list
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
            {
                let ip = str_field(binding, "HostIp")?.unwrap_or_default();
                let host_port = str_field(binding, "HostPort")?.unwrap_or_default();
                request.publish.push((ip, host_port, port.clone()));
            }
        }
    }
    if let Some(Value::Object(log)) = field(host, "LogConfig")? {
        request.log_driver = str_field(log, "Type")?.filter(|d| !d.is_empty());
        if let Some(Value::Object(opts)) = field(log, "Config")? {
            for (k, v) in opts {
                request
                    .log_opts
                    .push((k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
    }
    Ok(request)
}

fn int_field(obj: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refused> {
    match field(obj, name)? {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| Refused::bad(format!("{name} must be a whole number, not {v}"))),
    }
}

fn strings(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, Refused> {
    match field(obj, name)? {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Refused::bad(format!("{name} must be a list of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(_) => Err(Refused::bad(format!("{name} must be a list of strings"))),
    }
}

/// Whether a value asks for something (not absent, false, zero or empty).
fn set(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// A refusal that teaches: what was asked, why it is dangerous on a real
/// host, and the lesson that explains it.
fn teach(option: &str, why: &str, lesson: &str) -> Refused {
    Refused::policy(
        option,
        format!("{option} is refused in this lab: {why} See the lesson {lesson}."),
    )
}

const PRIVILEGES: &str = "/lessons/security/container-privileges";
const HOST: &str = "/lessons/security/host-security";
const RESOURCES: &str = "/lessons/security/resource-limits";
const MONITORING: &str = "/lessons/security/monitoring-and-logging";

/// Host settings that are never granted, by their API names, with why.
const NEVER: &[(&str, &str, &str, &str)] = &[
    ("Privileged", "--privileged", "it gives the container every capability and every device of the host, so its root can load kernel modules and mount the host's disks.", PRIVILEGES),
    ("Devices", "--device", "a host device inside a container bypasses the kernel's isolation of hardware.", HOST),
    ("DeviceRequests", "--gpus / --device", "host devices are not shared with lab containers.", HOST),
    ("DeviceCgroupRules", "--device-cgroup-rule", "it opens host devices to the container.", HOST),
    ("Sysctls", "--sysctl", "kernel settings belong to the host; a shared host cannot let one container change them.", HOST),
    ("CgroupParent", "--cgroup-parent", "it moves the container out of the limits the lab puts it under.", RESOURCES),
    ("Runtime", "--runtime", "the lab chooses the sandbox runtime (gVisor) itself.", HOST),
    ("VolumeDriver", "--volume-driver", "volume drivers can mount anything the host can reach.", HOST),
    ("VolumesFrom", "--volumes-from", "it mounts another container's data; mount a named volume instead.", HOST),
    ("OomKillDisable", "--oom-kill-disable", "a container the kernel may not kill when memory runs out can take the host down with it.", RESOURCES),
    ("ExtraHosts", "--add-host", "the lab's network and names are set by the lab.", HOST),
    ("Annotations", "annotations", "runtime annotations (such as dev.gvisor.*) reconfigure the sandbox itself.", HOST),
    ("StorageOpt", "--storage-opt", "storage options belong to the host's engine.", HOST),
    ("MaskedPaths", "masked paths", "the kernel files Docker hides from containers stay hidden.", PRIVILEGES),
    ("ReadonlyPaths", "read-only paths", "the kernel files Docker keeps read-only stay read-only.", PRIVILEGES),
    ("Links", "--link", "containers of the lab find each other by name on the lab network; --link is not needed.", HOST),
];

/// What a lab's endpoint never lets through, in a learner's words:
/// (option, why), for the lab page. The refusals themselves say the same.
pub fn rules() -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = vec![
        ("-v /host/path:… (bind mounts)".into(), "a host directory in a container lets its root read and change the host's files; labs mount named volumes and tmpfs only.".into()),
        ("the Docker socket".into(), "whoever holds the engine's socket is root on the host; not even a lab's own endpoint is mounted into its containers.".into()),
        ("--network host, --pid host, --ipc host, --uts host, --userns host".into(), "sharing the host's namespaces removes the isolation between the container and the machine.".into()),
        ("--cap-add SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE …".into(), "these capabilities reach the kernel or the host; only Docker's default set may be added back.".into()),
        ("--security-opt seccomp=unconfined, apparmor=unconfined".into(), "they switch off a protection of the host kernel; no-new-privileges is the option labs accept.".into()),
        ("docker pull, push, login, save, load, import".into(), "the lab is offline and its images stay on this machine: use the images docker images lists, or build your own.".into()),
        ("-p / -P".into(), "nothing is published on the host; the lab panel offers a browser preview of the ports you asked for.".into()),
        ("more containers or memory than the lab's budget".into(), "a lab's containers share a budget of containers and memory; remove one (docker rm -f NAME) to start another.".into()),
    ];
    rules.extend(
        NEVER
            .iter()
            .filter(|(_, flag, _, _)| {
                !matches!(*flag, "annotations" | "masked paths" | "read-only paths")
            })
            .map(|(_, flag, why, _)| (flag.to_string(), why.to_string())),
    );
    rules
}

/// Settings that only make sense inside `HostConfig`; at the top level of
/// the body the engine would still honour them.
const HOST_LEVEL: &[&str] = &[
    "Privileged",
    "Binds",
    "Mounts",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "NetworkMode",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "UsernsMode",
    "CgroupnsMode",
    "Devices",
    "DeviceRequests",
    "DeviceCgroupRules",
    "Sysctls",
    "CgroupParent",
    "Runtime",
    "VolumeDriver",
    "VolumesFrom",
    "OomKillDisable",
    "Ulimits",
    "LogConfig",
    "ExtraHosts",
    "Annotations",
    "Memory",
    "PidsLimit",
    "NanoCpus",
    "CpuQuota",
    "Tmpfs",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "GroupAdd",
    "MaskedPaths",
    "ReadonlyPaths",
    "ReadonlyRootfs",
    "Init",
    "ShmSize",
];

/// What the engine is asked to create, and what the proxy must do first.
pub struct Plan {
    /// The create body the engine receives.
    pub body: Value,
    /// Named volumes to create (engine names) before the container.
    pub volumes: Vec<String>,
}

impl SessionProxy {
    /// Builds the engine's create body from the learner's `body` and the
    /// `name` the learner asked for (already validated).
    pub async fn plan_create(&self, body: &Value, name: Option<&str>) -> Result<Plan, Refused> {
        let Some(top) = body.as_object() else {
            return Err(Refused::bad("the create body must be a JSON object"));
        };
        let host = match field(top, "HostConfig")? {
            Some(Value::Object(h)) => h.clone(),
            Some(_) => return Err(Refused::bad("HostConfig must be an object")),
            None => Map::new(),
        };
        for key in HOST_LEVEL {
            if set(field(top, key)?) {
                return Err(Refused::policy(
                    format!("{key} outside HostConfig"),
                    format!("{key} belongs inside HostConfig; this endpoint reads host settings only there"),
                ));
            }
        }
        for (key, option, why, lesson) in NEVER {
            if set(field(&host, key)?) {
                return Err(teach(option, why, lesson));
            }
        }

        // --- the image: Drydock's lab images or the learner's own ---
        let image_ref = str_field(top, "Image")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Refused::bad("the create body names no Image"))?;
        let image = self.resolve_image(&image_ref).await?;

        // --- the container's own settings ---
        let mut config = Map::new();
        config.insert("Image".into(), json!(image.engine_ref));
        for key in ["Cmd", "Entrypoint", "Env"] {
            if let Some(list) = strings(top, key)? {
                config.insert(key.into(), json!(list));
            }
        }
        if let Some(dir) = str_field(top, "WorkingDir")? {
            refuse_proc_path("--workdir", &dir)?;
            config.insert("WorkingDir".into(), json!(dir));
        }
        if let Some(user) = str_field(top, "User")? {
            config.insert("User".into(), json!(user));
        }
        for key in [
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "NetworkDisabled",
        ] {
            if bool_field(top, key)? {
                config.insert(key.into(), json!(true));
            }
        }
        if let Some(hostname) = str_field(top, "Hostname")? {
            let ok = hostname.len() <= 63
                && hostname
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(Refused::bad(format!("{hostname:?} is not a host name")));
            }
            if !hostname.is_empty() {
                config.insert("Hostname".into(), json!(hostname));
            }
        }
        if let Some(signal) = str_field(top, "StopSignal")? {
            config.insert("StopSignal".into(), json!(signal));
        }
        if let Some(t) = int_field(top, "StopTimeout")? {
            config.insert("StopTimeout".into(), json!(t.clamp(0, 60)));
        }
        let mut exposed: Map<String, Value> = Map::new();
        if let Some(Value::Object(ports)) = field(top, "ExposedPorts")? {
            for port in ports.keys() {
                exposed.insert(port_key(port)?, json!({}));
            }
        }
        if let Some(Value::Object(vols)) = field(top, "Volumes")? {
            let mut anonymous = Map::new();
            for path in vols.keys() {
                if !path.starts_with('/') {
                    return Err(Refused::bad(format!(
                        "{path:?} is not a path in the container; a named volume is -v NAME:/path, with a name of two characters or more"
                    )));
                }
                refuse_proc_path("a volume", path)?;
                anonymous.insert(path.clone(), json!({}));
            }
            if !anonymous.is_empty() {
                config.insert("Volumes".into(), Value::Object(anonymous));
            }
        }
        if let Some(Value::Object(check)) = field(top, "Healthcheck")? {
            config.insert("Healthcheck".into(), health_check(check)?);
        }
        let mut learner_labels = Map::new();
        if let Some(Value::Object(l)) = field(top, "Labels")? {
            for (k, v) in l {
                if labels::is_reserved(k) {
                    return Err(Refused::policy(
                        "a drydock.* label",
                        format!(
                            "labels starting with drydock. are Drydock's own; {k:?} cannot be set"
                        ),
                    ));
                }
                if let Some(v) = v.as_str() {
                    learner_labels.insert(k.clone(), json!(v));
                }
            }
        }

        // --- host settings, from the allow-list ---
        let mut hc = Map::new();
        let mut volumes_to_create = Vec::new();
        let mut binds = Vec::new();
        for bind in strings(&host, "Binds")?.unwrap_or_default() {
            let (source, rest) = bind
                .split_once(':')
                .ok_or_else(|| Refused::bad(format!("{bind:?} is not SOURCE:TARGET[:OPTIONS]")))?;
            if source.starts_with('/') || source.starts_with('.') || source.starts_with('~') {
                return Err(host_path(source, rest));
            }
            if !valid_object_name(source) {
                return Err(Refused::bad(format!("{source:?} is not a volume name")));
            }
            let (target, options) = rest.split_once(':').unwrap_or((rest, ""));
            refuse_proc_path("a volume", target)?;
            let options: Vec<&str> = options
                .split(',')
                .filter(|o| matches!(*o, "ro" | "rw" | "nocopy" | "z" | "Z"))
                .collect();
            let engine_name = self.names.object(source);
            volumes_to_create.push(engine_name.clone());
            binds.push(if options.is_empty() {
                format!("{engine_name}:{target}")
            } else {
                format!("{engine_name}:{target}:{}", options.join(","))
            });
        }
        if !binds.is_empty() {
            hc.insert("Binds".into(), json!(binds));
        }
        let mut mounts = Vec::new();
        if let Some(Value::Array(list)) = field(&host, "Mounts")? {
            for m in list {
                let m = m
                    .as_object()
                    .ok_or_else(|| Refused::bad("each mount is an object"))?;
                let kind = str_field(m, "Type")?.unwrap_or_else(|| "volume".into());
                let target = str_field(m, "Target")?
                    .ok_or_else(|| Refused::bad("a mount needs a Target"))?;
                refuse_proc_path("a mount", &target)?;
                let read_only = bool_field(m, "ReadOnly")?;
                match kind.as_str() {
                    "volume" => {
                        if let Some(Value::Object(opts)) = field(m, "VolumeOptions")? {
                            if set(field(opts, "DriverConfig")?) {
                                return Err(teach("a volume driver", "a volume created with driver options can mount any host path or device (type=none,o=bind).", HOST));
                            }
                        }
                        let mut mount = json!({"Type": "volume", "Target": target, "ReadOnly": read_only});
                        if let Some(source) = str_field(m, "Source")?.filter(|s| !s.is_empty()) {
                            if !valid_object_name(&source) {
                                return Err(Refused::bad(format!("{source:?} is not a volume name")));
                            }
                            let engine_name = self.names.object(&source);
                            volumes_to_create.push(engine_name.clone());
                            mount["Source"] = json!(engine_name);
                        }
                        mounts.push(mount);
                    }
                    "tmpfs" => {
                        let size = field(m, "TmpfsOptions")?
                            .and_then(|o| o.as_object())
                            .and_then(|o| o.get("SizeBytes"))
                            .and_then(Value::as_i64)
                            .unwrap_or(TMPFS_MB << 20)
                            .clamp(1, TMPFS_MB << 20);
                        mounts.push(json!({"Type": "tmpfs", "Target": target, "ReadOnly": read_only, "TmpfsOptions": {"SizeBytes": size}}));
                    }
                    "bind" => {
                        let source = str_field(m, "Source")?.unwrap_or_default();
                        return Err(host_path(&source, &target));
                    }
                    other => {
                        return Err(Refused::policy(
                            format!("a {other} mount"),
                            format!("{other} mounts are not available in labs; use a named volume or a tmpfs"),
                        ))
                    }
                }
            }
        }
        if !mounts.is_empty() {
            hc.insert("Mounts".into(), json!(mounts));
        }
        if let Some(Value::Object(tmpfs)) = field(&host, "Tmpfs")? {
            let mut out = Map::new();
            for (path, opts) in tmpfs {
                refuse_proc_path("a tmpfs", path)?;
                out.insert(
                    path.clone(),
                    json!(tmpfs_options(opts.as_str().unwrap_or(""))?),
                );
            }
            hc.insert("Tmpfs".into(), Value::Object(out));
        }

        // Namespaces: the learner's own containers may share theirs.
        let network_mode = str_field(&host, "NetworkMode")?.unwrap_or_default();
        let network = match network_mode.as_str() {
            "" | "default" | "bridge" | LAB_NETWORK => Some(self.names.network()),
            "none" => None,
            "host" => return Err(teach("--network host", "the container would share the host's network stack: it could listen on the host's ports and reach every service the host can.", HOST)),
            mode if mode.starts_with("container:") => {
                let id = self.own_container(&mode["container:".len()..]).await.map_err(|_| {
                    teach(&format!("--network {mode}"), "only containers of this lab can share a network namespace.", HOST)
                })?;
                hc.insert("NetworkMode".into(), json!(format!("container:{id}")));
                None
            }
            name => {
                let engine_name = self.names.object(name);
                if !self.own_network(&engine_name).await? {
                    return Err(Refused::conflict(format!("network {name} not found; create it first with docker network create {name}")));
                }
                Some(engine_name)
            }
        };
        match &network {
            Some(n) => {
                hc.insert("NetworkMode".into(), json!(n));
            }
            None if network_mode == "none" => {
                hc.insert("NetworkMode".into(), json!("none"));
            }
            None => {}
        }
        for (key, flag) in [("PidMode", "--pid"), ("IpcMode", "--ipc")] {
            let Some(mode) = str_field(&host, key)?.filter(|m| !m.is_empty()) else {
                continue;
            };
            if mode == "host" {
                return Err(teach(&format!("{flag} host"), "the container would see and signal (or read the memory of) every process on the host.", PRIVILEGES));
            }
            if let Some(other) = mode.strip_prefix("container:") {
                let id = self.own_container(other).await.map_err(|_| {
                    teach(
                        &format!("{flag} {mode}"),
                        "only containers of this lab can share a namespace.",
                        PRIVILEGES,
                    )
                })?;
                hc.insert(key.into(), json!(format!("container:{id}")));
            } else if key == "IpcMode" && matches!(mode.as_str(), "private" | "shareable" | "none")
            {
                hc.insert(key.into(), json!(mode));
            } else {
                return Err(Refused::bad(format!(
                    "{flag} {mode} is not a mode this lab knows"
                )));
            }
        }
        for (key, flag) in [
            ("UTSMode", "--uts"),
            ("UsernsMode", "--userns"),
            ("CgroupnsMode", "--cgroupns"),
        ] {
            match str_field(&host, key)?.as_deref() {
                None | Some("") | Some("private") => {}
                Some("host") => {
                    return Err(teach(
                        &format!("{flag} host"),
                        "it hands the container one of the host's own namespaces.",
                        PRIVILEGES,
                    ))
                }
                Some(other) => {
                    return Err(Refused::bad(format!(
                        "{flag} {other} is not a mode this lab knows"
                    )))
                }
            }
        }

        // Capabilities: Docker's default set at most.
        if let Some(adds) = strings(&host, "CapAdd")? {
            for cap in &adds {
                let name = normalise_cap(cap);
                if !DEFAULT_CAPS.contains(&name.as_str()) {
                    return Err(teach(
                        &format!("--cap-add {cap}"),
                        &format!("{} reaches past the container: the lab grants only Docker's default capabilities ({}).", if name == "ALL" { "ALL".to_string() } else { format!("CAP_{name}") }, DEFAULT_CAPS.join(", ")),
                        PRIVILEGES,
                    ));
                }
            }
            hc.insert("CapAdd".into(), json!(adds));
        }
        if let Some(drops) = strings(&host, "CapDrop")? {
            hc.insert("CapDrop".into(), json!(drops));
        }
        let mut security = Vec::new();
        for opt in strings(&host, "SecurityOpt")?.unwrap_or_default() {
            let lower = opt.to_ascii_lowercase();
            let (key, value) = lower
                .split_once(['=', ':'])
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .unwrap_or((lower.trim().to_string(), String::new()));
            match (key.as_str(), value.as_str()) {
                ("no-new-privileges", "" | "true" | "false" | "1" | "0") => security.push(opt.clone()),
                ("apparmor", "docker-default") => security.push(opt.clone()),
                ("seccomp", "unconfined") => return Err(teach("--security-opt seccomp=unconfined", "it removes the system-call filter that stands between the container and the host kernel.", PRIVILEGES)),
                ("apparmor" | "label" | "systempaths", _) => return Err(teach(&format!("--security-opt {opt}"), "it switches off or replaces a protection of the host kernel (AppArmor, SELinux, masked /proc paths).", PRIVILEGES)),
                _ => return Err(Refused::policy(format!("--security-opt {opt}"), format!("--security-opt {opt} is not one this lab accepts; use no-new-privileges"))),
            }
        }
        if !security.is_empty() {
            hc.insert("SecurityOpt".into(), json!(security));
        }
        for key in ["ReadonlyRootfs", "Init", "AutoRemove", "PublishAllPorts"] {
            if bool_field(&host, key)? && key != "PublishAllPorts" {
                hc.insert(key.into(), json!(true));
            }
        }
        if let Some(groups) = strings(&host, "GroupAdd")? {
            let numeric: Vec<String> = groups
                .into_iter()
                .filter(|g| g.parse::<u32>().is_ok())
                .collect();
            if !numeric.is_empty() {
                hc.insert("GroupAdd".into(), json!(numeric));
            }
        }
        if let Some(Value::Object(policy)) = field(&host, "RestartPolicy")? {
            let name = str_field(policy, "Name")?.unwrap_or_default();
            if !matches!(
                name.as_str(),
                "" | "no" | "always" | "unless-stopped" | "on-failure"
            ) {
                return Err(Refused::bad(format!(
                    "restart policy {name:?} is not one Docker knows"
                )));
            }
            let retries = int_field(policy, "MaximumRetryCount")?
                .unwrap_or(0)
                .clamp(0, 10);
            hc.insert(
                "RestartPolicy".into(),
                json!({"Name": name, "MaximumRetryCount": retries}),
            );
        }
        let mut ulimits = Vec::new();
        if let Some(Value::Array(list)) = field(&host, "Ulimits")? {
            for u in list {
                let u = u
                    .as_object()
                    .ok_or_else(|| Refused::bad("each ulimit is an object"))?;
                let name = str_field(u, "Name")?.unwrap_or_default();
                let Some((_, max)) = ULIMITS.iter().find(|(n, _)| *n == name) else {
                    return Err(teach(&format!("--ulimit {name}"), "the lab sets only nofile, nproc, core, fsize and stack: other limits (such as rtprio) change how the host schedules.", RESOURCES));
                };
                let hard = int_field(u, "Hard")?.unwrap_or(0).clamp(0, *max);
                let soft = int_field(u, "Soft")?.unwrap_or(hard).clamp(0, hard);
                ulimits.push(json!({"Name": name, "Soft": soft, "Hard": hard}));
            }
        }
        if let Some(Value::Object(log)) = field(&host, "LogConfig")? {
            let driver = str_field(log, "Type")?.unwrap_or_default();
            match driver.as_str() {
                "" | "json-file" | "local" | "none" => {
                    let opts = field(log, "Config")?.and_then(Value::as_object).cloned().unwrap_or_default();
                    let size = opts
                        .get("max-size")
                        .and_then(Value::as_str)
                        .and_then(parse_log_size)
                        .filter(|b| *b > 0 && *b <= LOG_MAX_BYTES)
                        .map_or_else(|| "10m".to_string(), |b| format!("{}k", b / 1024));
                    let files = opts
                        .get("max-file")
                        .and_then(Value::as_str)
                        .and_then(|f| f.parse::<i64>().ok())
                        .unwrap_or(1)
                        .clamp(1, LOG_MAX_FILES);
                    let driver = if driver.is_empty() { "json-file".to_string() } else { driver };
                    hc.insert("LogConfig".into(), if driver == "none" {
                        json!({"Type": "none", "Config": {}})
                    } else {
                        json!({"Type": driver, "Config": {"max-size": size, "max-file": files.to_string()}})
                    });
                }
                other => return Err(teach(&format!("--log-driver {other}"), "log drivers that send logs elsewhere (syslog, gelf, fluentd, …) reach out of the lab.", MONITORING)),
            }
        }
        if !hc.contains_key("LogConfig") {
            hc.insert(
                "LogConfig".into(),
                json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}}),
            );
        }
        if let Some(shm) = int_field(&host, "ShmSize")? {
            hc.insert("ShmSize".into(), json!(shm.clamp(0, SHM_BYTES)));
        }

        // Ports: never published; remembered for the lab's browser preview.
        let mut published = Vec::new();
        if let Some(Value::Object(bindings)) = field(&host, "PortBindings")? {
            for port in bindings.keys() {
                let key = port_key(port)?;
                exposed.insert(key.clone(), json!({}));
                published.push(key);
            }
        }
        if bool_field(&host, "PublishAllPorts")? {
            published.extend(exposed.keys().cloned());
        }
        if !exposed.is_empty() {
            config.insert("ExposedPorts".into(), Value::Object(exposed));
        }

        // Resources, within the lab's budget.
        let budget = &self.scope.budget;
        let asked = int_field(&host, "Memory")?.filter(|m| *m > 0);
        let memory = asked.unwrap_or((budget.default_memory_mb << 20) as i64);
        let used = self.memory_in_use().await?;
        let all = (budget.memory_mb << 20) as i64;
        if used + memory > all {
            return Err(Refused::conflict(format!(
                "this lab's containers may use {} MiB of memory together; {} MiB are taken, and this one asks for {} MiB. Remove a container (docker rm -f NAME) or ask for less (--memory 64m).",
                budget.memory_mb, used >> 20, memory >> 20
            )));
        }
        let count = self.child_count().await?;
        if count >= budget.containers {
            return Err(Refused::conflict(format!(
                "this lab may hold {} containers at once; remove one first (docker ps -a, then docker rm NAME)",
                budget.containers
            )));
        }
        hc.insert("Memory".into(), json!(memory));
        hc.insert("MemorySwap".into(), json!(memory));
        let cap_nano = (budget.cpus * 1e9).round() as i64;
        let nano = match (int_field(&host, "NanoCpus")?, int_field(&host, "CpuQuota")?) {
            (Some(n), _) if n > 0 => n.min(cap_nano),
            (_, Some(q)) if q > 0 => {
                let period = int_field(&host, "CpuPeriod")?
                    .filter(|p| *p > 0)
                    .unwrap_or(100_000);
                ((q as f64 / period as f64) * 1e9) as i64
            }
            _ => cap_nano,
        }
        .clamp(10_000_000, cap_nano);
        hc.insert("NanoCpus".into(), json!(nano));
        if let Some(shares) = int_field(&host, "CpuShares")?.filter(|s| *s > 0) {
            hc.insert("CpuShares".into(), json!(shares.clamp(2, 1024)));
        }
        let pids = int_field(&host, "PidsLimit")?
            .filter(|p| *p > 0)
            .unwrap_or(budget.pids)
            .min(budget.pids);
        if is_gvisor(self.scope.child_runtime.as_deref()) {
            // Under gVisor the engine's pids limit also counts the sandbox's
            // own threads: processes are capped inside it with RLIMIT_NPROC.
            ulimits.retain(|u| u["Name"] != "nproc");
            ulimits.push(json!({"Name": "nproc", "Soft": pids, "Hard": pids}));
            hc.insert("PidsLimit".into(), json!(pids + GVISOR_HOST_THREADS));
        } else {
            hc.insert("PidsLimit".into(), json!(pids));
        }
        if !ulimits.is_empty() {
            hc.insert("Ulimits".into(), json!(ulimits));
        }
        if let Some(runtime) = &self.scope.child_runtime {
            hc.insert("Runtime".into(), json!(runtime));
        }

        // Drydock's labels: who owns it, what the preview may open, and
        // what the learner asked for where the lab changed it.
        let mut all_labels = learner_labels;
        all_labels.insert(
            labels::REQUEST.into(),
            json!(learner_request(&host)?.to_label()),
        );
        all_labels.insert(labels::MANAGED.into(), json!("true"));
        all_labels.insert(labels::INSTANCE.into(), json!(self.scope.instance));
        all_labels.insert(labels::CHILD_OF.into(), json!(self.scope.session));
        all_labels.insert(labels::OWNER.into(), json!(self.scope.owner.to_string()));
        all_labels.insert(labels::MEMORY.into(), json!(memory.to_string()));
        // Always set, empty too: an image's own label must not show through.
        published.sort();
        published.dedup();
        all_labels.insert(labels::PORTS.into(), json!(published.join(",")));
        config.insert("Labels".into(), Value::Object(all_labels));
        config.insert("HostConfig".into(), Value::Object(hc));
        if let Some(n) = network {
            let mut endpoint = json!({});
            if let Some(name) = name {
                endpoint["Aliases"] = json!([name]);
            }
            config.insert(
                "NetworkingConfig".into(),
                json!({"EndpointsConfig": {n: endpoint}}),
            );
        }
        volumes_to_create.sort();
        volumes_to_create.dedup();
        Ok(Plan {
            body: Value::Object(config),
            volumes: volumes_to_create,
        })
    }
}

/// `8080/tcp` from `8080`, `8080/tcp` or `8080/udp`.
fn port_key(port: &str) -> Result<String, Refused> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let n: u16 = number
        .parse()
        .map_err(|_| Refused::bad(format!("{port:?} is not a port")))?;
    if !matches!(proto, "tcp" | "udp" | "sctp") || n == 0 {
        return Err(Refused::bad(format!("{port:?} is not a port")));
    }
    Ok(format!("{n}/{proto}"))
}

fn host_path(source: &str, target: &str) -> Refused {
    let socket = source.contains("docker.sock")
        || matches!(source.trim_end_matches('/'), "/run" | "/var/run");
    if socket {
        teach(
            &format!("-v {source}:{target}"),
            "the Docker socket is root on the host: whoever can reach it can start a privileged container and mount the host's disk.",
            PRIVILEGES,
        )
    } else {
        teach(
            &format!("-v {source}:{target}"),
            &format!("it would mount the host's {source} into the container, where its root can read and change the host's files. Use a named volume instead, e.g. -v data:{target}."),
            HOST,
        )
    }
}

/// Refuses a path in `/proc` (a working directory there is how
/// CVE-2024-21626 escaped runc).
fn refuse_proc_path(what: &str, path: &str) -> Result<(), Refused> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.first() == Some(&"proc") || parts.contains(&"..") {
        return Err(teach(
            &format!("{what} {path}"),
            "a path under /proc (or climbing with ..) is how CVE-2024-21626 escaped the container runtime.",
            PRIVILEGES,
        ));
    }
    Ok(())
}

/// tmpfs options: size capped, never setuid or device files.
fn tmpfs_options(opts: &str) -> Result<String, Refused> {
    let mut out = vec!["nosuid".to_string(), "nodev".to_string()];
    let mut size = format!("{TMPFS_MB}m");
    for opt in opts.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("size", v)) => {
                if parse_log_size(v).is_some_and(|b| b > 0 && b <= TMPFS_MB << 20) {
                    size = v.to_string();
                }
            }
            Some(("mode", v)) if v.chars().all(|c| c.is_digit(8)) => out.push(opt.to_string()),
            Some(("uid" | "gid", v)) if v.parse::<u32>().is_ok() => out.push(opt.to_string()),
            None if matches!(opt, "ro" | "rw" | "noexec" | "exec") => out.push(opt.to_string()),
            None if matches!(opt, "nosuid" | "nodev") => {}
            _ => {
                return Err(Refused::policy(
                    format!("tmpfs option {opt}"),
                    format!("the tmpfs option {opt:?} is not one this lab accepts (size, mode, uid, gid, ro, noexec)"),
                ))
            }
        }
    }
    out.push(format!("size={size}"));
    Ok(out.join(","))
}

/// A health check with its timings bounded.
fn health_check(check: &Map<String, Value>) -> Result<Value, Refused> {
    let mut out = Map::new();
    if let Some(test) = strings(check, "Test")? {
        out.insert("Test".into(), json!(test));
    }
    for (key, min) in [
        ("Interval", 1_000_000_000i64),
        ("Timeout", 1_000_000_000),
        ("StartPeriod", 0),
        ("StartInterval", 1_000_000_000),
    ] {
        if let Some(ns) = int_field(check, key)?.filter(|n| *n > 0) {
            out.insert(key.into(), json!(ns.clamp(min, 3_600_000_000_000)));
        }
    }
    if let Some(retries) = int_field(check, "Retries")? {
        out.insert("Retries".into(), json!(retries.clamp(0, 100)));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_in_any_case_and_twice_is_refused() {
        let obj: Map<String, Value> = serde_json::from_str(r#"{"privileged": true}"#).unwrap();
        assert_eq!(field(&obj, "Privileged").unwrap(), Some(&json!(true)));
        let twice: Map<String, Value> =
            serde_json::from_str(r#"{"Privileged": false, "PRIVILEGED": true}"#).unwrap();
        assert!(field(&twice, "Privileged").is_err());
    }

    #[test]
    fn paths_under_proc_and_odd_tmpfs_options_are_refused() {
        assert!(refuse_proc_path("x", "/proc/self/fd/7").is_err());
        assert!(refuse_proc_path("x", "//proc").is_err());
        assert!(refuse_proc_path("x", "/app/../proc").is_err());
        assert!(refuse_proc_path("x", "/app/procedures").is_ok());
        assert_eq!(
            tmpfs_options("rw,exec,size=1g").unwrap(),
            "nosuid,nodev,rw,exec,size=64m"
        );
        assert!(tmpfs_options("suid").is_err());
        assert_eq!(port_key("8080").unwrap(), "8080/tcp");
        assert!(port_key("99999").is_err());
    }
}
