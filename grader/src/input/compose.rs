//! Parse one docker compose service (YAML) into a [`RunSpec`].
//!
//! The YAML is read into a `serde_norway::Value` and every key is mapped by hand,
//! so unknown keys and wrong types get messages that name the key.

use serde_norway::{Mapping, Value};

use crate::input::run_command::{shell_split, SplitMode};
use crate::input::run_spec::{
    check_capability, check_cpuset, check_expose, check_health_test, is_host_path, is_propagation,
    make_ulimit, parse_duration_ns, parse_env, parse_nano_cpus, parse_port, parse_restart,
    parse_size, parse_tmpfs, parse_volume, q, MountKind, MountSpec, PortSpec, RestartSpec, RunSpec,
    SpecError, TmpfsSpec,
};

/// Largest compose input accepted, in bytes.
pub const MAX_COMPOSE_BYTES: usize = 32 * 1024;

type R<T> = Result<T, SpecError>;

fn err<T>(key: &str, msg: impl std::fmt::Display) -> R<T> {
    Err(SpecError(format!("`{key}`: {msg}")))
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Undo compose interpolation: `$$` is a literal `$`; `$NAME` / `${NAME}` are refused.
fn interp(key: &str, s: &str) -> R<String> {
    if !s.contains('$') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('$') => {
                chars.next();
                out.push('$');
            }
            Some(n) if *n == '{' || *n == '_' || n.is_ascii_alphabetic() => {
                return err(
                    key,
                    "variable substitution ($NAME or ${NAME}) is not supported; write the value itself (write $$ for a literal $)",
                )
            }
            _ => out.push('$'),
        }
    }
    Ok(out)
}

/// A scalar as text: strings (interpolation-checked) and numbers; `None` for null.
fn opt_text(key: &str, v: &Value) -> R<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => interp(key, s).map(Some),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => err(
            key,
            format!("expected text, found {b}; put it in quotes if you mean the text \"{b}\""),
        ),
        other => err(key, format!("expected text, found {}", kind_name(other))),
    }
}

/// Like [`opt_text`], but booleans become "true"/"false" (environment values, labels…).
fn loose_text(key: &str, v: &Value) -> R<Option<String>> {
    match v {
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => opt_text(key, other),
    }
}

fn text(key: &str, v: &Value, example: &str) -> R<String> {
    match opt_text(key, v)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => err(key, format!("is empty; write e.g. {key}: {example}")),
    }
}

fn boolean(key: &str, v: &Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => err(
            key,
            format!("expected true or false, found {}", describe(other)),
        ),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => q(s),
        Value::Number(n) => n.to_string(),
        other => kind_name(other).to_string(),
    }
}

fn int(key: &str, v: &Value, example: &str) -> R<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => err(
                key,
                format!("{n} is not a whole number; write e.g. {key}: {example}"),
            ),
        },
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(i),
            Err(_) => err(
                key,
                format!(
                    "{} is not a whole number; write e.g. {key}: {example}",
                    q(s)
                ),
            ),
        },
        other => err(
            key,
            format!(
                "expected a whole number, found {}; write e.g. {key}: {example}",
                kind_name(other)
            ),
        ),
    }
}

fn non_negative(key: &str, v: &Value, example: &str) -> R<i64> {
    let n = int(key, v, example)?;
    if n < 0 {
        return err(
            key,
            format!("can't be negative; write e.g. {key}: {example}"),
        );
    }
    Ok(n)
}

/// A size: an int (bytes) or a string ("256m", "1gb"). `allow_unlimited` accepts -1.
fn size(key: &str, v: &Value, allow_unlimited: bool) -> R<i64> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(-1) if allow_unlimited => Ok(-1),
            Some(i) if i >= 0 => Ok(i),
            Some(_) => err(key, "can't be negative; write e.g. 256m"),
            None => err(
                key,
                format!("{n} is not a size; write e.g. 256m or a whole number of bytes"),
            ),
        },
        Value::String(s) => {
            let s = interp(key, s)?;
            if allow_unlimited && s.trim() == "-1" {
                return Ok(-1);
            }
            parse_size(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))
        }
        other => err(
            key,
            format!(
                "expected a size, found {}; write e.g. 256m",
                kind_name(other)
            ),
        ),
    }
}

fn duration(key: &str, v: &Value) -> R<i64> {
    match v {
        Value::String(s) => {
            let s = interp(key, s)?;
            parse_duration_ns(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))
        }
        Value::Number(n) if n.as_i64() == Some(0) => Ok(0),
        other => err(
            key,
            format!(
                "expected a duration, found {}; write e.g. 30s or 1m30s",
                describe(other)
            ),
        ),
    }
}

fn cpus(key: &str, v: &Value) -> R<i64> {
    let s = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(f) = n.as_f64() {
                if !f.is_finite() {
                    return err(key, "is not a number of CPUs; write e.g. 0.5");
                }
                format!("{f}")
            } else {
                n.to_string()
            }
        }
        Value::String(s) => interp(key, s)?,
        other => {
            return err(
                key,
                format!(
                    "expected a number of CPUs, found {}; write e.g. 0.5",
                    kind_name(other)
                ),
            )
        }
    };
    parse_nano_cpus(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))
}

fn seq<'a>(key: &str, v: &'a Value, example: &str) -> R<&'a [Value]> {
    match v {
        Value::Sequence(s) => Ok(s),
        other => err(
            key,
            format!(
                "expected a list, found {}; write e.g. {key}: {example}",
                kind_name(other)
            ),
        ),
    }
}

fn map<'a>(key: &str, v: &'a Value) -> R<&'a Mapping> {
    match v {
        Value::Mapping(m) => Ok(m),
        other => err(
            key,
            format!(
                "expected a mapping (key: value lines), found {}",
                kind_name(other)
            ),
        ),
    }
}

/// Iterate a mapping's entries with string keys.
fn entries<'a>(key: &str, m: &'a Mapping) -> R<Vec<(String, &'a Value)>> {
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m {
        let name = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return err(
                    key,
                    format!("has a key that is {}; keys must be text", kind_name(other)),
                )
            }
        };
        out.push((name, v));
    }
    Ok(out)
}

/// A list of scalars as text (null → empty list).
fn text_list(key: &str, v: &Value, example: &str) -> R<Vec<String>> {
    if v.is_null() {
        return Ok(Vec::new());
    }
    let items = seq(key, v, example)?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let k = format!("{key}[{i}]");
        match opt_text(&k, item)? {
            Some(s) => out.push(s),
            None => return err(&k, format!("is empty; write e.g. {key}: {example}")),
        }
    }
    Ok(out)
}

/// A string or list of strings.
fn text_or_list(key: &str, v: &Value, example: &str) -> R<Vec<String>> {
    match v {
        Value::Sequence(_) | Value::Null => text_list(key, v, example),
        other => Ok(vec![text(key, other, example)?]),
    }
}

/// `command` / `entrypoint`: a string (split like a shell) or a list.
fn command_words(key: &str, v: &Value) -> R<Vec<String>> {
    match v {
        Value::String(s) => {
            let s = interp(key, s)?;
            shell_split(&s, SplitMode { reject_dollar: false })
                .map_err(|e| SpecError(format!("`{key}`: {e}; or write it as a list, e.g. [\"sh\", \"-c\", \"…\"]")))
        }
        Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match loose_text(&format!("{key}[{i}]"), item)? {
                    Some(s) => out.push(s),
                    None => return err(&format!("{key}[{i}]"), "is empty; write a word or \"\""),
                }
            }
            Ok(out)
        }
        other => err(
            key,
            format!("expected text or a list, found {}; write e.g. {key}: [\"nginx\", \"-g\", \"daemon off;\"]", kind_name(other)),
        ),
    }
}

/// A list of "K=V" strings or a mapping; values `None` for `K` alone / null.
fn kv_list_or_map(key: &str, v: &Value, example: &str) -> R<Vec<(String, Option<String>)>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let k = format!("{key}[{i}]");
                let s = loose_text(&k, item)?.unwrap_or_default();
                out.push(parse_env(&s).map_err(|e| SpecError(format!("`{k}`: {e}")))?);
            }
            Ok(out)
        }
        Value::Mapping(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (name, val) in entries(key, m)? {
                if name.is_empty() {
                    return err(key, "has an empty name");
                }
                let k = format!("{key}.{name}");
                let val = loose_text(&k, val)?;
                out.push((name, val));
            }
            Ok(out)
        }
        other => err(
            key,
            format!(
                "expected a list or a mapping, found {}; write e.g. {key}: [{example}]",
                kind_name(other)
            ),
        ),
    }
}

/// Most services one compose submission may hold: each one is started.
pub const MAX_SERVICES: usize = 4;

/// Parse a compose service: either a bare service mapping or a compose file
/// whose `services:` holds exactly one service.
pub fn parse_compose_service(input: &str) -> Result<RunSpec, SpecError> {
    let mut services = parse_compose_services(input)?;
    if services.len() > 1 {
        return Err(SpecError(format!(
            "`services` has {} services ({}); Drydock grades exactly one, so keep only the one to grade",
            services.len(),
            service_names(services.iter().map(|(n, _)| n))
        )));
    }
    Ok(services.remove(0).1)
}

/// Up to ten service names for a message: "`web`, `db`".
fn service_names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names
        .take(10)
        .map(|n| format!("`{}`", short(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parse every service of a compose file (at most [`MAX_SERVICES`]), in
/// file order, with its name; a bare service mapping is one service
/// called `service`.
pub fn parse_compose_services(input: &str) -> Result<Vec<(String, RunSpec)>, SpecError> {
    if input.len() > MAX_COMPOSE_BYTES {
        return Err(SpecError(format!(
            "the compose text is longer than {} KiB; shorten it",
            MAX_COMPOSE_BYTES / 1024
        )));
    }
    let mut root: Value = serde_norway::from_str(input).map_err(|e| yaml_error(&e))?;
    root.apply_merge().map_err(|e| yaml_error(&e))?;
    let root_map = match &root {
        Value::Mapping(m) => m,
        Value::Null => {
            return Err(SpecError(
                "the compose text is empty; write a service, e.g. image: alpine".into(),
            ))
        }
        other => {
            return Err(SpecError(format!(
                "the compose text must be a mapping (key: value lines), not {}; write e.g. image: alpine",
                kind_name(other)
            )))
        }
    };
    if let Some(services) = root_map.get("services") {
        for (k, _) in entries("(top level)", root_map)? {
            if !matches!(
                k.as_str(),
                "services" | "version" | "name" | "secrets" | "volumes" | "networks" | "configs"
            ) && !k.starts_with("x-")
            {
                return Err(SpecError(format!(
                    "unknown top-level key `{}`; a compose file has services:, and optionally version:, name:, volumes:, networks:, secrets:, configs:",
                    short(&k)
                )));
            }
        }
        let services = match services {
            Value::Mapping(m) => m,
            Value::Null => {
                return Err(SpecError(
                    "`services` is empty; put one service under it, e.g. services: { app: { image: alpine } }".into(),
                ))
            }
            other => {
                return Err(SpecError(format!(
                    "`services` must be a mapping of service names, not {}",
                    kind_name(other)
                )))
            }
        };
        let list = entries("services", services)?;
        if list.is_empty() {
            return Err(SpecError(
                "`services` has no service; put at least one service under it".into(),
            ));
        }
        if list.len() > MAX_SERVICES {
            return Err(SpecError(format!(
                "`services` has {} services ({}); Drydock grades at most {MAX_SERVICES} at once, so keep the ones this exercise is about",
                list.len(),
                service_names(list.iter().map(|(n, _)| n))
            )));
        }
        list.into_iter()
            .map(|(name, svc)| match svc {
                Value::Mapping(m) => {
                    let spec = parse_service(m)
                        .map_err(|e| SpecError(format!("service `{}`: {}", short(&name), e.0)))?;
                    Ok((name, spec))
                }
                Value::Null => Err(SpecError(format!(
                    "service `{}` is empty; give it at least image:",
                    short(&name)
                ))),
                other => Err(SpecError(format!(
                    "service `{}` must be a mapping, not {}",
                    short(&name),
                    kind_name(other)
                ))),
            })
            .collect()
    } else {
        for top in ["version", "name"] {
            if root_map.contains_key(top) {
                return Err(SpecError(format!(
                    "a compose file with `{top}` needs its service under services:, e.g. services: {{ app: {{ image: alpine }} }}"
                )));
            }
        }
        Ok(vec![("service".to_string(), parse_service(root_map)?)])
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        let t: String = s.chars().take(40).collect();
        format!("{t}…")
    } else {
        s.to_string()
    }
}

fn yaml_error(e: &serde_norway::Error) -> SpecError {
    let msg = e.to_string();
    match e.location() {
        Some(loc) if !msg.contains("line") => SpecError(format!(
            "the YAML could not be read at line {}, column {}: {msg}",
            loc.line(),
            loc.column()
        )),
        _ => SpecError(format!("the YAML could not be read: {msg}")),
    }
}

/// Compose keys that exist but that Drydock does not grade.
const UNSUPPORTED_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "configs",
    "cpu_count",
    "cpu_percent",
    "cpu_rt_runtime",
    "cpu_rt_period",
    "credential_spec",
    "develop",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "isolation",
    "links",
    "mac_address",
    "mem_swappiness",
    "models",
    "oom_score_adj",
    "post_start",
    "pre_stop",
    "scale",
    "storage_opt",
    "use_api_socket",
    "volumes_from",
    "label_file",
    "provider",
    "kernel_memory",
    "cpuset_mems",
    "network",
    "hooks",
];

#[derive(Default)]
struct Deploy {
    memory: Option<i64>,
    cpus: Option<i64>,
    pids: Option<i64>,
    reservation: Option<i64>,
    restart: Option<RestartSpec>,
}

fn parse_service(m: &Mapping) -> R<RunSpec> {
    let mut spec = RunSpec::default();
    let mut deploy = Deploy::default();
    let mut has_image = false;
    let mut network_mode: Option<String> = None;
    let mut networks_first: Option<Option<String>> = None;
    for (key, v) in entries("(service)", m)? {
        let key = key.as_str();
        if let Value::Tagged(t) = v {
            return err(
                key,
                format!(
                    "YAML tags like {} are not supported; write the value plainly",
                    t.tag
                ),
            );
        }
        match key {
            "image" => {
                let img = text(key, v, "alpine:3.20")?;
                if img.chars().any(char::is_whitespace) {
                    return err(
                        key,
                        format!(
                            "{} is not an image name; write e.g. image: alpine:3.20",
                            q(&img)
                        ),
                    );
                }
                spec.image = img;
                has_image = true;
            }
            "build" => {
                return Err(SpecError(
                    "build is not supported; give image: with an image name instead".into(),
                ))
            }
            "command" => {
                if !v.is_null() {
                    spec.command = command_words(key, v)?;
                }
            }
            "entrypoint" => {
                if !v.is_null() {
                    spec.entrypoint = Some(command_words(key, v)?);
                }
            }
            "user" => spec.user = opt_text(key, v)?.filter(|s| !s.is_empty()),
            "working_dir" => {
                if let Some(w) = opt_text(key, v)? {
                    if !w.starts_with('/') {
                        return err(
                            key,
                            format!(
                                "{} must be an absolute path; write e.g. working_dir: /app",
                                q(&w)
                            ),
                        );
                    }
                    spec.workdir = Some(w);
                }
            }
            "hostname" => spec.hostname = opt_text(key, v)?,
            "privileged" => spec.privileged = boolean(key, v)?,
            "read_only" => spec.read_only = boolean(key, v)?,
            "init" => spec.init = boolean(key, v)?,
            "oom_kill_disable" => spec.oom_kill_disable = boolean(key, v)?,
            "cap_add" | "cap_drop" => {
                let caps = text_list(key, v, "[ALL]")?;
                for (i, c) in caps.iter().enumerate() {
                    check_capability(c).map_err(|e| SpecError(format!("`{key}[{i}]`: {e}")))?;
                }
                if key == "cap_add" {
                    spec.cap_add.extend(caps);
                } else {
                    spec.cap_drop.extend(caps);
                }
            }
            "security_opt" => {
                spec.security_opt
                    .extend(text_list(key, v, "[no-new-privileges:true]")?)
            }
            "tmpfs" => {
                for (i, t) in text_or_list(key, v, "/tmp:size=16m")?.iter().enumerate() {
                    spec.tmpfs
                        .push(parse_tmpfs(t).map_err(|e| SpecError(format!("`{key}[{i}]`: {e}")))?);
                }
            }
            "volumes" => {
                if !v.is_null() {
                    for (i, item) in seq(key, v, "[\"./data:/data:ro\"]")?.iter().enumerate() {
                        parse_volume_item(&format!("{key}[{i}]"), item, &mut spec)?;
                    }
                }
            }
            "network_mode" => network_mode = opt_text(key, v)?,
            "networks" => {
                networks_first = Some(match v {
                    Value::Null => None,
                    Value::Sequence(_) => text_list(key, v, "[backend]")?.into_iter().next(),
                    Value::Mapping(nm) => entries(key, nm)?.into_iter().next().map(|(n, _)| n),
                    other => {
                        return err(
                            key,
                            format!("expected a list or a mapping, found {}", kind_name(other)),
                        )
                    }
                })
            }
            "pid" => spec.pid = opt_text(key, v)?,
            "ipc" => spec.ipc = opt_text(key, v)?,
            "uts" => spec.uts = opt_text(key, v)?,
            "userns_mode" => spec.userns = opt_text(key, v)?,
            "cgroup" => spec.cgroupns = opt_text(key, v)?,
            "devices" => {
                if !v.is_null() {
                    for (i, item) in seq(key, v, "[\"/dev/fuse\"]")?.iter().enumerate() {
                        let k = format!("{key}[{i}]");
                        let dev = match item {
                            Value::Mapping(dm) => device_long(&k, dm)?,
                            other => text(&k, other, "/dev/fuse")?,
                        };
                        spec.devices.push(dev);
                    }
                }
            }
            "device_cgroup_rules" => {
                spec.device_cgroup_rules
                    .extend(text_list(key, v, "[\"c 1:3 mr\"]")?)
            }
            "ports" => {
                if !v.is_null() {
                    for (i, item) in seq(key, v, "[\"8080:80\"]")?.iter().enumerate() {
                        spec.publish.push(port_item(&format!("{key}[{i}]"), item)?);
                    }
                }
            }
            "expose" => {
                for (i, e) in text_list(key, v, "[\"8080\"]")?.into_iter().enumerate() {
                    check_expose(&e).map_err(|m| SpecError(format!("`{key}[{i}]`: {m}")))?;
                    spec.expose.push(e);
                }
            }
            "mem_limit" => spec.memory = opt_size(key, v, false)?,
            "memswap_limit" => spec.memory_swap = opt_size(key, v, true)?,
            "mem_reservation" => spec.memory_reservation = opt_size(key, v, false)?,
            "shm_size" => spec.shm_size = opt_size(key, v, false)?,
            "cpus" => {
                spec.nano_cpus = if v.is_null() {
                    None
                } else {
                    Some(cpus(key, v)?)
                }
            }
            "cpu_shares" => spec.cpu_shares = opt(v, |v| non_negative(key, v, "512"))?,
            "cpu_quota" => spec.cpu_quota = opt(v, |v| int(key, v, "50000"))?,
            "cpu_period" => spec.cpu_period = opt(v, |v| non_negative(key, v, "100000"))?,
            "cpuset" => {
                if let Some(c) = opt_text(key, v)? {
                    check_cpuset(&c).map_err(|e| SpecError(format!("`{key}`: {e}")))?;
                    spec.cpuset_cpus = Some(c);
                }
            }
            "pids_limit" => spec.pids_limit = opt(v, |v| pids(key, v))?,
            "deploy" => {
                if !v.is_null() {
                    parse_deploy(map(key, v)?, &mut deploy)?;
                }
            }
            "ulimits" => spec.ulimits = ulimits(key, v)?,
            "restart" => {
                spec.restart = match v {
                    Value::Null => None,
                    Value::Bool(false) => Some(RestartSpec {
                        policy: "no".into(),
                        max_retries: None,
                    }),
                    other => {
                        let s = text(key, other, "unless-stopped")?;
                        Some(parse_restart(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))?)
                    }
                }
            }
            "healthcheck" => {
                if !v.is_null() {
                    parse_healthcheck(map(key, v)?, &mut spec)?;
                }
            }
            "logging" => logging(key, v, &mut spec)?,
            "environment" => spec
                .env
                .extend(kv_list_or_map(key, v, "\"MODE=production\"")?),
            "env_file" => spec.env_files.extend(env_files(key, v)?),
            "labels" => {
                for (k, val) in kv_list_or_map(key, v, "\"team=web\"")? {
                    // "k" alone or a null value means an empty value, as with docker --label.
                    spec.labels.push((k, val.unwrap_or_default()));
                }
            }
            "secrets" => spec.secrets.extend(secrets(key, v)?),
            "group_add" => spec.group_add.extend(text_list(key, v, "[audio]")?),
            "sysctls" => spec.sysctls.extend(sysctls(key, v)?),
            "stop_signal" => spec.stop_signal = opt_text(key, v)?,
            "cgroup_parent" => spec.cgroup_parent = opt_text(key, v)?,
            "runtime" => spec.runtime = opt_text(key, v)?,
            "platform" => spec.platform = opt_text(key, v)?,
            "container_name" => {
                spec.name = opt_text(key, v)?;
                spec.ignored.push(ignored_entry(key, v));
            }
            "stdin_open" | "tty" | "depends_on" | "profiles" | "pull_policy"
            | "stop_grace_period" => spec.ignored.push(ignored_entry(key, v)),
            k if k.starts_with("x-") => {}
            k if UNSUPPORTED_KEYS.contains(&k) => {
                return Err(SpecError(format!(
                    "`{k}` is a compose key that Drydock does not grade; remove it"
                )))
            }
            k => {
                let hint = if matches!(v, Value::Mapping(_)) && !m.contains_key("image") {
                    format!(" (if `{}` is a service, put it under services:)", short(k))
                } else {
                    String::new()
                };
                return Err(SpecError(format!(
                    "unknown key `{}` in the service{hint}; Drydock understands compose keys such as image, user, read_only, cap_drop, security_opt",
                    short(k)
                )));
            }
        }
    }
    if !has_image {
        return Err(SpecError(
            "the service has no image; add e.g. image: alpine:3.20".into(),
        ));
    }
    match (network_mode, networks_first) {
        (Some(_), Some(_)) => {
            return Err(SpecError(
                "`network_mode` and `networks` can't be used together; keep one".into(),
            ))
        }
        (Some(n), None) => spec.network = Some(n),
        (None, Some(n)) => spec.network = n,
        (None, None) => {}
    }
    merge_deploy(&mut spec, deploy)?;
    Ok(spec)
}

/// `ulimits:` — `name: N` or `name: { soft, hard }` per limit.
fn ulimits(key: &str, v: &Value) -> R<Vec<crate::input::run_spec::UlimitSpec>> {
    let mut out = Vec::new();
    if !v.is_null() {
        for (name, val) in entries(key, map(key, v)?)? {
            let k = format!("{key}.{name}");
            let (soft, hard) = match val {
                Value::Mapping(lm) => {
                    let mut soft = None;
                    let mut hard = None;
                    for (lk, lv) in entries(&k, lm)? {
                        let kk = format!("{k}.{lk}");
                        match lk.as_str() {
                            "soft" => soft = Some(int(&kk, lv, "1024")?),
                            "hard" => hard = Some(int(&kk, lv, "2048")?),
                            _ => {
                                return err(
                                    &k,
                                    format!("unknown key `{}`; use soft and hard", short(&lk)),
                                )
                            }
                        }
                    }
                    match (soft, hard) {
                        (Some(s), Some(h)) => (s, h),
                        _ => {
                            return err(
                                &k,
                                "needs both soft and hard, e.g. { soft: 1024, hard: 2048 }",
                            )
                        }
                    }
                }
                other => {
                    let n = int(&k, other, "1024")?;
                    (n, n)
                }
            };
            out.push(make_ulimit(&name, soft, hard).map_err(|e| SpecError(format!("`{k}`: {e}")))?);
        }
    }
    Ok(out)
}

/// `logging:` — `driver:` and `options:`.
fn logging(key: &str, v: &Value, spec: &mut RunSpec) -> R<()> {
    if !v.is_null() {
        for (lk, lv) in entries(key, map(key, v)?)? {
            let k = format!("{key}.{lk}");
            match lk.as_str() {
                "driver" => spec.log_driver = opt_text(&k, lv)?,
                "options" => {
                    if !lv.is_null() {
                        for (ok, ov) in entries(&k, map(&k, lv)?)? {
                            let kk = format!("{k}.{ok}");
                            let val = loose_text(&kk, ov)?.unwrap_or_default();
                            spec.log_opts.push((ok, val));
                        }
                    }
                }
                _ => {
                    return err(
                        key,
                        format!("unknown key `{}`; use driver and options", short(&lk)),
                    )
                }
            }
        }
    }
    Ok(())
}

/// `env_file:` — paths, or `{ path: … }` entries.
fn env_files(key: &str, v: &Value) -> R<Vec<String>> {
    let items: Vec<String> = match v {
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let k = format!("{key}[{i}]");
                match item {
                    Value::Mapping(em) => {
                        let path = em
                            .get("path")
                            .ok_or_else(|| SpecError(format!("`{k}`: needs path:")))?;
                        out.push(text(&format!("{k}.path"), path, "./app.env")?);
                    }
                    other => out.push(text(&k, other, "./app.env")?),
                }
            }
            out
        }
        other => text_or_list(key, other, "./app.env")?,
    };
    Ok(items)
}

/// `secrets:` — names, or `{ source: … }` entries.
fn secrets(key: &str, v: &Value) -> R<Vec<String>> {
    let mut out = Vec::new();
    if !v.is_null() {
        for (i, item) in seq(key, v, "[db_password]")?.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let name = match item {
                Value::Mapping(sm) => {
                    let src = sm
                        .get("source")
                        .ok_or_else(|| SpecError(format!("`{k}`: needs source:")))?;
                    text(&format!("{k}.source"), src, "db_password")?
                }
                other => text(&k, other, "db_password")?,
            };
            out.push(name);
        }
    }
    Ok(out)
}

/// `sysctls:` — `KEY=VALUE` items or a map.
fn sysctls(key: &str, v: &Value) -> R<Vec<(String, String)>> {
    let mut out = Vec::new();
    let is_list = matches!(v, Value::Sequence(_));
    for (i, (k, val)) in kv_list_or_map(key, v, "\"net.core.somaxconn=1024\"")?
        .into_iter()
        .enumerate()
    {
        match val {
            Some(val) => out.push((k, val)),
            None if is_list => {
                return err(
                    &format!("{key}[{i}]"),
                    format!(
                        "{} is not KEY=VALUE; write e.g. net.core.somaxconn=1024",
                        q(&k)
                    ),
                )
            }
            None => {
                return err(
                    &format!("{key}.{k}"),
                    "needs a value, e.g. net.core.somaxconn: 1024",
                )
            }
        }
    }
    Ok(out)
}

fn opt<T>(v: &Value, f: impl FnOnce(&Value) -> R<T>) -> R<Option<T>> {
    if v.is_null() {
        Ok(None)
    } else {
        f(v).map(Some)
    }
}

fn opt_size(key: &str, v: &Value, allow_unlimited: bool) -> R<Option<i64>> {
    opt(v, |v| size(key, v, allow_unlimited))
}

fn pids(key: &str, v: &Value) -> R<i64> {
    let n = int(key, v, "100")?;
    if n < -1 {
        return err(key, "must be -1 (unlimited) or a limit such as 100");
    }
    Ok(n)
}

fn ignored_entry(key: &str, v: &Value) -> String {
    match v {
        Value::String(s) => format!("{key}: {}", short(s)),
        Value::Bool(b) => format!("{key}: {b}"),
        Value::Number(n) => format!("{key}: {n}"),
        _ => key.to_string(),
    }
}

fn device_long(key: &str, m: &Mapping) -> R<String> {
    let mut source = None;
    let mut target = None;
    let mut perms = None;
    for (k, v) in entries(key, m)? {
        let kk = format!("{key}.{k}");
        match k.as_str() {
            "source" => source = opt_text(&kk, v)?,
            "target" => target = opt_text(&kk, v)?,
            "permissions" => perms = opt_text(&kk, v)?,
            _ => {
                return err(
                    key,
                    format!(
                        "unknown key `{}`; use source, target, permissions",
                        short(&k)
                    ),
                )
            }
        }
    }
    let Some(source) = source else {
        return err(key, "needs source:, e.g. { source: /dev/fuse }");
    };
    let mut out = source;
    if let Some(t) = target {
        out.push(':');
        out.push_str(&t);
        if let Some(p) = perms {
            out.push(':');
            out.push_str(&p);
        }
    } else if let Some(p) = perms {
        out = format!("{out}:{out}:{p}");
    }
    Ok(out)
}

fn port_item(key: &str, item: &Value) -> R<PortSpec> {
    match item {
        Value::Number(n) => {
            let s = n.to_string();
            parse_port(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))
        }
        Value::String(s) => {
            let s = interp(key, s)?;
            parse_port(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))
        }
        Value::Mapping(pm) => {
            let mut target = None;
            let mut published = None;
            let mut host_ip = None;
            let mut protocol = None;
            for (k, v) in entries(key, pm)? {
                let kk = format!("{key}.{k}");
                match k.as_str() {
                    "target" => target = opt_text(&kk, v)?,
                    "published" => published = opt_text(&kk, v)?.filter(|s| !s.is_empty()),
                    "host_ip" => host_ip = opt_text(&kk, v)?.filter(|s| !s.is_empty()),
                    "protocol" => protocol = opt_text(&kk, v)?,
                    "mode" | "name" | "app_protocol" => {}
                    _ => {
                        return err(
                            key,
                            format!(
                                "unknown key `{}`; use target, published, host_ip, protocol",
                                short(&k)
                            ),
                        )
                    }
                }
            }
            let Some(target) = target else {
                return err(key, "needs target:, e.g. { target: 80, published: 8080 }");
            };
            let mut text = String::new();
            if let Some(ip) = &host_ip {
                if ip.contains(':') && !ip.starts_with('[') {
                    text.push_str(&format!("[{ip}]:"));
                } else {
                    text.push_str(ip);
                    text.push(':');
                }
            }
            if let Some(p) = &published {
                text.push_str(p);
                text.push(':');
            } else if host_ip.is_some() {
                // "ip::target": any host port on that address
                text.push(':');
            }
            text.push_str(&target);
            if let Some(proto) = &protocol {
                text.push('/');
                text.push_str(proto);
            }
            parse_port(&text).map_err(|e| SpecError(format!("`{key}`: {e}")))
        }
        other => err(
            key,
            format!(
                "expected a port such as \"8080:80\" or a mapping, found {}",
                kind_name(other)
            ),
        ),
    }
}

fn parse_volume_item(key: &str, item: &Value, spec: &mut RunSpec) -> R<()> {
    match item {
        Value::String(s) => {
            let s = interp(key, s)?;
            let m = parse_volume(&s).map_err(|e| SpecError(format!("`{key}`: {e}")))?;
            spec.mounts.push(m);
            Ok(())
        }
        Value::Mapping(vm) => {
            let mut kind: Option<String> = None;
            let mut source: Option<String> = None;
            let mut target: Option<String> = None;
            let mut read_only = false;
            let mut propagation = None;
            let mut options: Vec<String> = Vec::new();
            let mut tmpfs_opts: Vec<String> = Vec::new();
            let mut sub_bind = false;
            let mut sub_volume = false;
            for (k, v) in entries(key, vm)? {
                let kk = format!("{key}.{k}");
                match k.as_str() {
                    "type" => kind = opt_text(&kk, v)?,
                    "source" => source = opt_text(&kk, v)?.filter(|s| !s.is_empty()),
                    "target" => target = opt_text(&kk, v)?,
                    "read_only" => read_only = boolean(&kk, v)?,
                    "consistency" => {
                        if let Some(c) = opt_text(&kk, v)? {
                            options.push(c);
                        }
                    }
                    "bind" => {
                        sub_bind = true;
                        if v.is_null() {
                            continue;
                        }
                        for (bk, bv) in entries(&kk, map(&kk, v)?)? {
                            let bkk = format!("{kk}.{bk}");
                            match bk.as_str() {
                                "propagation" => {
                                    if let Some(p) = opt_text(&bkk, bv)? {
                                        if !is_propagation(&p) {
                                            return err(&bkk, format!("{} is not valid; use shared, rshared, slave, rslave, private or rprivate", q(&p)));
                                        }
                                        propagation = Some(p);
                                    }
                                }
                                "create_host_path" => {
                                    boolean(&bkk, bv)?;
                                }
                                "recursive" => {
                                    if let Some(r) = opt_text(&bkk, bv)? {
                                        options.push(format!("recursive={r}"));
                                    }
                                }
                                "selinux" => {
                                    if let Some(s) = opt_text(&bkk, bv)? {
                                        if s != "z" && s != "Z" {
                                            return err(&bkk, "use z or Z");
                                        }
                                        options.push(s);
                                    }
                                }
                                _ => return err(&kk, format!("unknown key `{}`; use propagation, create_host_path, selinux", short(&bk))),
                            }
                        }
                    }
                    "volume" => {
                        sub_volume = true;
                        if v.is_null() {
                            continue;
                        }
                        for (bk, bv) in entries(&kk, map(&kk, v)?)? {
                            let bkk = format!("{kk}.{bk}");
                            match bk.as_str() {
                                "nocopy" => {
                                    if boolean(&bkk, bv)? {
                                        options.push("nocopy".into());
                                    }
                                }
                                "subpath" => {
                                    if let Some(s) = opt_text(&bkk, bv)? {
                                        options.push(format!("subpath={s}"));
                                    }
                                }
                                _ => return err(&kk, format!("unknown key `{}`; use nocopy or subpath", short(&bk))),
                            }
                        }
                    }
                    "tmpfs" => {
                        if v.is_null() {
                            continue;
                        }
                        for (tk, tv) in entries(&kk, map(&kk, v)?)? {
                            let tkk = format!("{kk}.{tk}");
                            match tk.as_str() {
                                "size" => {
                                    let s = match tv {
                                        Value::Number(n) => n.to_string(),
                                        other => text(&tkk, other, "16m")?,
                                    };
                                    size(&tkk, tv, false)?;
                                    tmpfs_opts.push(format!("size={s}"));
                                }
                                "mode" => {
                                    let s = text(&tkk, tv, "1777")?;
                                    tmpfs_opts.push(format!("mode={s}"));
                                }
                                _ => return err(&kk, format!("unknown key `{}`; use size or mode", short(&tk))),
                            }
                        }
                    }
                    _ => return err(key, format!("unknown key `{}`; use type, source, target, read_only, bind, volume, tmpfs", short(&k))),
                }
            }
            let Some(target) = target.filter(|t| !t.is_empty()) else {
                return err(
                    key,
                    "needs target:, e.g. { type: bind, source: ./data, target: /data }",
                );
            };
            if !target.starts_with('/') {
                return err(
                    key,
                    format!("target {} must be an absolute path", q(&target)),
                );
            }
            let kind = match kind.as_deref() {
                Some("bind") => MountKind::Bind,
                Some("volume") => MountKind::Volume,
                Some("tmpfs") => MountKind::Tmpfs,
                Some(other) => {
                    return err(
                        key,
                        format!(
                            "type {} is not supported; use bind, volume or tmpfs",
                            q(other)
                        ),
                    )
                }
                None => match &source {
                    Some(s) if is_host_path(s) => MountKind::Bind,
                    _ => MountKind::Volume,
                },
            };
            match kind {
                MountKind::Tmpfs => {
                    if source.is_some() || sub_bind || sub_volume {
                        return err(key, "a tmpfs volume takes no source, bind or volume keys");
                    }
                    let mut opts = Vec::new();
                    if read_only {
                        opts.push("ro".to_string());
                    }
                    opts.extend(tmpfs_opts);
                    spec.tmpfs.push(TmpfsSpec {
                        target,
                        options: opts,
                    });
                }
                MountKind::Bind | MountKind::Volume => {
                    if !tmpfs_opts.is_empty() {
                        return err(key, "tmpfs: options only apply to type: tmpfs");
                    }
                    if kind == MountKind::Bind && source.is_none() {
                        return err(key, "a bind mount needs source:, e.g. source: ./data");
                    }
                    spec.mounts.push(MountSpec {
                        kind,
                        source,
                        target,
                        read_only,
                        propagation,
                        options,
                    });
                }
            }
            Ok(())
        }
        other => err(
            key,
            format!(
                "expected a volume such as \"./data:/data:ro\" or a mapping, found {}",
                kind_name(other)
            ),
        ),
    }
}

fn parse_healthcheck(m: &Mapping, spec: &mut RunSpec) -> R<()> {
    let mut disable = false;
    for (k, v) in entries("healthcheck", m)? {
        let key = format!("healthcheck.{k}");
        match k.as_str() {
            "test" => {
                spec.health.test = match v {
                    Value::Null => None,
                    Value::String(s) => {
                        let s = interp(&key, s)?;
                        if s.trim().is_empty() {
                            return err(&key, "is empty; write e.g. test: [\"CMD\", \"wget\", \"-q\", \"--spider\", \"http://localhost/\"]");
                        }
                        Some(vec!["CMD-SHELL".to_string(), s])
                    }
                    Value::Sequence(_) => {
                        let t = text_list(&key, v, "[\"CMD\", \"/healthcheck\"]")?;
                        check_health_test(&t).map_err(|e| SpecError(format!("`{key}`: {e}")))?;
                        Some(t)
                    }
                    other => {
                        return err(
                            &key,
                            format!("expected text or a list, found {}", kind_name(other)),
                        )
                    }
                }
            }
            "interval" => spec.health.interval_ns = opt(v, |v| duration(&key, v))?,
            "timeout" => spec.health.timeout_ns = opt(v, |v| duration(&key, v))?,
            "start_period" => spec.health.start_period_ns = opt(v, |v| duration(&key, v))?,
            "start_interval" => {
                opt(v, |v| duration(&key, v))?;
                spec.ignored.push(ignored_entry(&key, v));
            }
            "retries" => spec.health.retries = opt(v, |v| non_negative(&key, v, "3"))?,
            "disable" => disable = boolean(&key, v)?,
            _ => {
                return err(
                    "healthcheck",
                    format!(
                    "unknown key `{}`; use test, interval, timeout, retries, start_period, disable",
                    short(&k)
                ),
                )
            }
        }
    }
    if disable {
        match &spec.health.test {
            // A checked test: ["NONE"] alone, or CMD / CMD-SHELL and more.
            Some(t) if t.first().map(String::as_str) != Some("NONE") => {
                return err(
                    "healthcheck",
                    "disable: true can't be combined with a test; remove one",
                )
            }
            _ => spec.health.test = Some(vec!["NONE".to_string()]),
        }
    }
    Ok(())
}

fn parse_deploy(m: &Mapping, d: &mut Deploy) -> R<()> {
    for (k, v) in entries("deploy", m)? {
        let key = format!("deploy.{k}");
        match k.as_str() {
            "resources" => {
                if v.is_null() {
                    continue;
                }
                for (rk, rv) in entries(&key, map(&key, v)?)? {
                    let rkey = format!("{key}.{rk}");
                    if rv.is_null() {
                        continue;
                    }
                    match rk.as_str() {
                        "limits" => {
                            for (lk, lv) in entries(&rkey, map(&rkey, rv)?)? {
                                let lkey = format!("{rkey}.{lk}");
                                match lk.as_str() {
                                    "cpus" => d.cpus = opt(lv, |v| cpus(&lkey, v))?,
                                    "memory" => d.memory = opt(lv, |v| size(&lkey, v, false))?,
                                    "pids" => d.pids = opt(lv, |v| pids(&lkey, v))?,
                                    _ => {
                                        return err(
                                            &rkey,
                                            format!(
                                                "unknown key `{}`; use cpus, memory, pids",
                                                short(&lk)
                                            ),
                                        )
                                    }
                                }
                            }
                        }
                        "reservations" => {
                            for (lk, lv) in entries(&rkey, map(&rkey, rv)?)? {
                                let lkey = format!("{rkey}.{lk}");
                                match lk.as_str() {
                                    "memory" => d.reservation = opt(lv, |v| size(&lkey, v, false))?,
                                    "cpus" => {
                                        opt(lv, |v| cpus(&lkey, v))?;
                                    }
                                    "devices" | "generic_resources" => {
                                        return err(&lkey, "is not graded by Drydock; remove it")
                                    }
                                    _ => {
                                        return err(
                                            &rkey,
                                            format!(
                                                "unknown key `{}`; use memory or cpus",
                                                short(&lk)
                                            ),
                                        )
                                    }
                                }
                            }
                        }
                        _ => {
                            return err(
                                &key,
                                format!("unknown key `{}`; use limits or reservations", short(&rk)),
                            )
                        }
                    }
                }
            }
            "restart_policy" => {
                if v.is_null() {
                    continue;
                }
                let mut condition = None;
                let mut max = None;
                for (rk, rv) in entries(&key, map(&key, v)?)? {
                    let rkey = format!("{key}.{rk}");
                    match rk.as_str() {
                        "condition" => condition = opt_text(&rkey, rv)?,
                        "max_attempts" => max = opt(rv, |v| non_negative(&rkey, v, "3"))?,
                        "delay" | "window" => {
                            opt(rv, |v| duration(&rkey, v))?;
                        }
                        _ => {
                            return err(
                                &key,
                                format!(
                                    "unknown key `{}`; use condition, max_attempts, delay, window",
                                    short(&rk)
                                ),
                            )
                        }
                    }
                }
                let policy = match condition.as_deref() {
                    None | Some("any") => "always",
                    Some("on-failure") => "on-failure",
                    Some("none") => "no",
                    Some(other) => {
                        return err(
                            &format!("{key}.condition"),
                            format!(
                                "{} is not a condition; use none, on-failure or any",
                                q(other)
                            ),
                        )
                    }
                };
                if max.is_some() && policy != "on-failure" {
                    return err(&key, "max_attempts only applies to condition: on-failure");
                }
                d.restart = Some(RestartSpec {
                    policy: policy.to_string(),
                    max_retries: max,
                });
            }
            "replicas" | "mode" | "labels" | "placement" | "update_config" | "rollback_config"
            | "endpoint_mode" => {}
            _ => {
                return err(
                    "deploy",
                    format!(
                    "unknown key `{}`; Drydock reads deploy.resources and deploy.restart_policy",
                    short(&k)
                ),
                )
            }
        }
    }
    Ok(())
}

fn merge_deploy(spec: &mut RunSpec, d: Deploy) -> R<()> {
    fn both(field: &mut Option<i64>, from_deploy: Option<i64>, plain: &str, deploy: &str) -> R<()> {
        if let Some(dv) = from_deploy {
            match *field {
                Some(pv) if pv != dv => {
                    return Err(SpecError(format!(
                        "`{plain}` and `{deploy}` disagree; keep only one of them"
                    )))
                }
                _ => *field = Some(dv),
            }
        }
        Ok(())
    }
    both(
        &mut spec.memory,
        d.memory,
        "mem_limit",
        "deploy.resources.limits.memory",
    )?;
    both(
        &mut spec.nano_cpus,
        d.cpus,
        "cpus",
        "deploy.resources.limits.cpus",
    )?;
    both(
        &mut spec.pids_limit,
        d.pids,
        "pids_limit",
        "deploy.resources.limits.pids",
    )?;
    both(
        &mut spec.memory_reservation,
        d.reservation,
        "mem_reservation",
        "deploy.resources.reservations.memory",
    )?;
    if let Some(r) = d.restart {
        match &spec.restart {
            Some(existing) if *existing != r => {
                return Err(SpecError(
                    "`restart` and `deploy.restart_policy` disagree; keep only one of them".into(),
                ))
            }
            _ => spec.restart = Some(r),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::run_command::parse_run_command;
    use crate::input::run_spec::UlimitSpec;
    use proptest::prelude::*;

    #[test]
    fn alias_bombs_and_deep_nesting_are_refused_not_expanded() {
        // "Billion laughs": nine levels of nine aliases each would expand to
        // 387 million strings; the YAML reader refuses to repeat aliases that often.
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        bomb.push_str("image: drydock/webapp:1\nlabels: *i\n");
        let started = std::time::Instant::now();
        assert!(parse_compose_service(&bomb).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Nesting past the reader's recursion limit is an error, not a stack overflow.
        let deep = format!(
            "image: a\nlabels: {}{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse_compose_service(&deep).is_err());
        let deep_maps = format!(
            "image: a\nx: {}1{}\n",
            "{a: ".repeat(5_000),
            "}".repeat(5_000)
        );
        assert!(parse_compose_service(&deep_maps).is_err());
    }

    fn p(s: &str) -> RunSpec {
        match parse_compose_service(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }
    fn e(s: &str) -> String {
        match parse_compose_service(s) {
            Ok(r) => panic!("{s:?} parsed: {r:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn bare_and_file_forms() {
        assert_eq!(p("image: alpine").image, "alpine");
        let r = p("version: '3.8'\nservices:\n  web:\n    image: nginx\n    user: '101'\nvolumes:\n  data: {}\nnetworks:\n  back: {}\nsecrets:\n  s:\n    file: ./s\nx-common: &c\n  a: 1\n");
        assert_eq!(r.image, "nginx");
        assert_eq!(r.user.as_deref(), Some("101"));
        assert!(e("services:\n  a:\n    image: x\n  b:\n    image: y\n").contains("`a`, `b`"));
        assert!(e("services: {}\n").contains("no service"));
        assert!(e("services:\n").contains("`services` is empty"));
        assert!(e("services:\n  a:\n").contains("service `a` is empty"));
        assert!(e("services:\n  a: 5\n").contains("must be a mapping"));
        assert!(e("services:\n  a: {image: x}\nfoo: 1\n").contains("unknown top-level key `foo`"));
        assert!(e("version: '3'\nweb:\n  image: x\n").contains("services:"));
        assert!(e("web:\n  image: nginx\n").contains("put it under services:"));
        assert!(e("").contains("empty"));
        assert!(e("- a\n- b\n").contains("mapping"));
        assert!(e("user: x\n").contains("no image"));
        assert!(e("image: alpine\nbuild: .\n").contains("build is not supported; give image"));
        assert!(e("image: alpine\nfoo: 1\n").contains("unknown key `foo` in the service"));
        assert!(e("image: alpine\nextra_hosts: []\n").contains("does not grade"));
        assert!(e(&"a".repeat(40 * 1024)).contains("KiB"));
        let r = p("image: alpine\nx-note: hi\n");
        assert_eq!(r.image, "alpine");
    }

    #[test]
    fn yaml_errors_and_bombs() {
        let m = e("image: [alpine\nuser: 1\n");
        assert!(m.contains("line"), "{m}");
        assert!(e("image: a\nimage: b\n").contains("duplicate"));
        assert!(e("a: 1\n---\nb: 2\n").contains("YAML"));
        let bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
        assert!(e(bomb).contains("YAML"));
        let deep = format!("image: {}{}", "[".repeat(500), "]".repeat(500));
        assert!(e(&deep).contains("YAML"));
        assert!(e("image: !custom alpine\n").contains("tags"));
        // merge keys
        let r = p("x-base: &base\n  read_only: true\n  user: '1000'\nservices:\n  app:\n    <<: *base\n    image: alpine\n");
        assert!(r.read_only);
        assert_eq!(r.user.as_deref(), Some("1000"));
    }

    #[test]
    fn scalars_and_types() {
        let r = p("image: alpine\nuser: 1000\nworking_dir: /app\nhostname: box\nprivileged: false\nread_only: true\ninit: true\nnetwork_mode: none\npid: host\nipc: private\nuts: host\nuserns_mode: host\ncgroup: private\nstop_signal: SIGINT\ncgroup_parent: /g\nruntime: runsc\nplatform: linux/amd64\ncontainer_name: web\n");
        assert_eq!(r.user.as_deref(), Some("1000"));
        assert_eq!(r.workdir.as_deref(), Some("/app"));
        assert_eq!(r.hostname.as_deref(), Some("box"));
        assert!(r.read_only && r.init && !r.privileged);
        assert_eq!(r.network.as_deref(), Some("none"));
        assert_eq!(r.pid.as_deref(), Some("host"));
        assert_eq!(r.ipc.as_deref(), Some("private"));
        assert_eq!(r.uts.as_deref(), Some("host"));
        assert_eq!(r.userns.as_deref(), Some("host"));
        assert_eq!(r.cgroupns.as_deref(), Some("private"));
        assert_eq!(r.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(r.cgroup_parent.as_deref(), Some("/g"));
        assert_eq!(r.runtime.as_deref(), Some("runsc"));
        assert_eq!(r.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.ignored, vec!["container_name: web"]);
        assert!(
            e("image: alpine\nread_only: yes\n").contains("`read_only`: expected true or false")
        );
        assert!(e("image: alpine\nuser: true\n").contains("`user`"));
        assert!(e("image: alpine\nuser: [1]\n").contains("`user`: expected text, found a list"));
        assert!(e("image: alpine\nworking_dir: app\n").contains("`working_dir`"));
        assert!(e("image: ''\n").contains("`image`"));
        assert!(e("image: 'a b'\n").contains("`image`"));
        assert!(e("image: alpine\nuser: $USER\n").contains("write the value itself"));
        assert!(e("image: alpine\nuser: ${UID}\n").contains("write the value itself"));
        assert_eq!(
            p("image: alpine\nhostname: a$$b\n").hostname.as_deref(),
            Some("a$b")
        );
        let r = p("image: alpine\nstdin_open: true\ntty: true\ndepends_on: [db]\nprofiles: [x]\npull_policy: always\n");
        assert_eq!(
            r.ignored,
            vec![
                "stdin_open: true",
                "tty: true",
                "depends_on",
                "profiles",
                "pull_policy: always"
            ]
        );
    }

    #[test]
    fn command_and_entrypoint() {
        let r = p("image: alpine\ncommand: sh -c 'echo hi && id'\nentrypoint: [\"/bin/sh\"]\n");
        assert_eq!(r.command, vec!["sh", "-c", "echo hi && id"]);
        assert_eq!(r.entrypoint, Some(vec!["/bin/sh".to_string()]));
        let r = p("image: alpine\ncommand: [sleep, 10]\nentrypoint: ''\n");
        assert_eq!(r.command, vec!["sleep", "10"]);
        assert_eq!(r.entrypoint, Some(vec![]));
        assert_eq!(
            p("image: alpine\nentrypoint: []\n").entrypoint,
            Some(vec![])
        );
        assert_eq!(
            p("image: alpine\ncommand: echo $$HOME\n").command,
            vec!["echo", "$HOME"]
        );
        assert!(e("image: alpine\ncommand: echo hi; id\n").contains("`command`"));
        assert!(e("image: alpine\ncommand: \"echo 'x\"\n").contains("`command`"));
        assert!(e("image: alpine\ncommand: {a: 1}\n").contains("`command`"));
    }

    #[test]
    fn caps_security_tmpfs() {
        let r = p("image: alpine\ncap_drop: [ALL]\ncap_add:\n  - net_bind_service\nsecurity_opt:\n  - no-new-privileges:true\n  - seccomp=unconfined\ntmpfs: /tmp\n");
        assert_eq!(r.cap_drop, vec!["ALL"]);
        assert_eq!(r.cap_add, vec!["net_bind_service"]);
        assert_eq!(
            r.security_opt,
            vec!["no-new-privileges:true", "seccomp=unconfined"]
        );
        assert_eq!(
            r.tmpfs,
            vec![TmpfsSpec {
                target: "/tmp".into(),
                options: vec![]
            }]
        );
        let r = p("image: alpine\ntmpfs:\n  - /run:rw,noexec,size=16m\n  - /tmp\n");
        assert_eq!(r.tmpfs[0].options, vec!["rw", "noexec", "size=16m"]);
        assert!(e("image: alpine\ncap_drop: ALL\n").contains("`cap_drop`: expected a list"));
        assert!(e("image: alpine\ncap_drop: [\"A,B\"]\n").contains("`cap_drop[0]`"));
        assert!(e("image: alpine\ntmpfs: [tmp]\n").contains("`tmpfs[0]`"));
        assert!(e("image: alpine\nsecurity_opt: [~]\n").contains("`security_opt[0]`"));
    }

    #[test]
    fn scalars_are_read_strictly() {
        let s = |t: &str| Value::String(t.to_string());
        let n = |i: i64| Value::Number(i.into());
        assert_eq!(interp("k", "$1a$$b$").unwrap(), "$1a$b$");
        for var in ["$_X", "${X}", "$X", "a$x"] {
            assert!(
                interp("k", var)
                    .unwrap_err()
                    .0
                    .contains("variable substitution"),
                "{var}"
            );
        }
        assert!(boolean("k", &s("true")).unwrap());
        assert!(!boolean("k", &s("false")).unwrap());
        assert!(boolean("k", &s("yes"))
            .unwrap_err()
            .0
            .ends_with("found \"yes\""));
        assert!(boolean("k", &n(3)).unwrap_err().0.ends_with("found 3"));
        assert!(boolean("k", &Value::Null)
            .unwrap_err()
            .0
            .ends_with("found nothing"));
        assert_eq!(non_negative("k", &n(0), "1").unwrap(), 0);
        assert!(non_negative("k", &n(-1), "1").is_err());
        assert_eq!(size("k", &n(-1), true).unwrap(), -1);
        assert!(size("k", &n(-1), false)
            .unwrap_err()
            .0
            .contains("can't be negative"));
        assert_eq!(size("k", &s("-1"), true).unwrap(), -1);
        assert!(size("k", &s("-1"), false)
            .unwrap_err()
            .0
            .contains("negative"));
        assert_eq!(size("k", &s("1m"), true).unwrap(), 1 << 20);
        assert_eq!(duration("k", &n(0)).unwrap(), 0);
        assert!(duration("k", &n(5)).unwrap_err().0.contains("found 5"));
        assert_eq!(pids("k", &n(-1)).unwrap(), -1);
        assert_eq!(pids("k", &n(0)).unwrap(), 0);
        assert!(pids("k", &n(-2)).unwrap_err().0.contains("must be -1"));
        assert_eq!(ignored_entry("k", &n(10)), "k: 10");
        assert_eq!(ignored_entry("k", &s("x")), "k: x");
        assert_eq!(ignored_entry("k", &Value::Bool(true)), "k: true");
        assert_eq!(ignored_entry("k", &Value::Null), "k");
    }

    #[test]
    fn bounds_and_messages_of_whole_files() {
        let head = "image: alpine\nlabels:\n  a: ";
        let at_limit = format!("{head}{}\n", "x".repeat(MAX_COMPOSE_BYTES - head.len() - 1));
        assert_eq!(at_limit.len(), MAX_COMPOSE_BYTES);
        assert!(parse_compose_service(&at_limit).is_ok());
        assert!(e(&format!("{at_limit}\n")).contains("longer than 32 KiB"));
        let services = |n: usize| {
            let list: String = (0..n)
                .map(|i| format!("  s{i}: {{image: alpine}}\n"))
                .collect();
            parse_compose_services(&format!("services:\n{list}"))
        };
        assert_eq!(services(MAX_SERVICES).unwrap().len(), MAX_SERVICES);
        assert!(services(MAX_SERVICES + 1)
            .unwrap_err()
            .0
            .contains("at most 4 at once"));
        let name = "n".repeat(40);
        let err = parse_compose_services(&format!("services:\n  {name}:\n"))
            .unwrap_err()
            .0;
        assert!(err.contains(&format!("service `{name}` is empty")), "{err}");
        let err = parse_compose_services(&format!("services:\n  {name}x:\n"))
            .unwrap_err()
            .0;
        assert!(
            err.contains(&format!("service `{name}…` is empty")),
            "{err}"
        );
        // The reader's own message says where, or Drydock adds it.
        let err = e("\tx: 1");
        assert!(
            err.starts_with("the YAML could not be read at line 1, column 1: found"),
            "{err}"
        );
        let err = e("a: b: c");
        assert!(
            err.starts_with("the YAML could not be read: mapping values"),
            "{err}"
        );
        assert!(!e("image: a\nfoo: 1").contains("put it under services:"));
        assert!(!e("image: a\nweb: {image: b}").contains("put it under services:"));
        assert!(e("web:\n  image: b").contains("(if `web` is a service, put it under services:)"));
        assert!(e("image: a\nsysctls:\n  net.x:\n").contains("`sysctls.net.x`: needs a value"));
        assert!(e("image: a\nsysctls: [net.x]\n").contains("is not KEY=VALUE"));
        assert_eq!(
            p("image: a\nstop_grace_period: 10\n").ignored,
            vec!["stop_grace_period: 10"]
        );
    }

    #[test]
    fn long_forms_of_ports_volumes_health_and_deploy() {
        let err = e("image: a\nports:\n  - {target: 80, published: x, host_ip: \"::1\"}\n");
        assert!(err.contains("[::1]:x:80"), "{err}");
        let err = e("image: a\nports:\n  - {target: 80, published: x, host_ip: 127.0.0.1}\n");
        assert!(err.contains("\"127.0.0.1:x:80\""), "{err}");
        let r = p("image: a\nports:\n  - {target: 80, published: 8080, host_ip: \"::1\"}\n");
        assert_eq!(r.publish[0].host_ip.as_deref(), Some("::1"));
        let r = p(r#"
image: a
volumes:
  - type: bind
    source: /srv
    target: /srv
    consistency: cached
    bind: {recursive: disabled, selinux: Z}
  - {type: volume, source: v, target: /v, volume: {subpath: sub}}
  - {source: ./x, target: /x}
  - {source: w, target: /w}
  - {type: bind, source: /a, target: /a, bind: {selinux: z}}
"#);
        assert_eq!(
            r.mounts[0].options,
            vec!["cached", "recursive=disabled", "Z"]
        );
        assert_eq!(r.mounts[1].options, vec!["subpath=sub"]);
        assert_eq!(r.mounts[2].kind, MountKind::Bind);
        assert_eq!(r.mounts[3].kind, MountKind::Volume);
        assert_eq!(r.mounts[4].options, vec!["z"]);
        assert!(e(
            "image: a\nvolumes:\n  - {type: bind, source: /a, target: /a, bind: {selinux: q}}\n"
        )
        .contains("use z or Z"));
        for extra in ["source: /s", "bind: {}", "volume: {}"] {
            let err = e(&format!(
                "image: a\nvolumes:\n  - {{type: tmpfs, target: /t, {extra}}}\n"
            ));
            assert!(
                err.contains("a tmpfs volume takes no source, bind or volume keys"),
                "{extra}: {err}"
            );
        }
        let health = |more: &str| format!("image: a\nhealthcheck:\n  {more}\n");
        let r = p(&health("{test: [CMD, \"true\"], start_interval: 5s}"));
        assert_eq!(r.ignored, vec!["healthcheck.start_interval: 5s"]);
        let r = p(&health("{test: [NONE], disable: true}"));
        assert_eq!(r.health.test, Some(vec!["NONE".to_string()]));
        assert!(e(&health("{test: [CMD, \"true\"], disable: true}")).contains("can't be combined"));
        assert!(e(&health("{test: \"true\", disable: true}")).contains("can't be combined"));
        let r =
            p("image: a\ndeploy:\n  resources:\n    reservations: {cpus: \"0.5\", memory: 64m}\n");
        assert_eq!(r.memory_reservation, Some(64 << 20));
        let restart = |policy: &str| {
            format!("image: a\nrestart: {policy}\ndeploy: {{restart_policy: {{condition: on-failure, max_attempts: 3}}}}\n")
        };
        assert_eq!(
            p(&restart("on-failure:3")).restart.unwrap().max_retries,
            Some(3)
        );
        assert!(e(&restart("always")).contains("disagree"));
        let err = e("image: a\ndeploy:\n  resources:\n    reservations: {devices: []}\n");
        assert!(err.contains("is not graded by Drydock"), "{err}");
        let err = e("image: a\ndeploy:\n  resources:\n    reservations: {cpus: lots}\n");
        assert!(err.contains("cpus"), "{err}");
    }

    #[test]
    fn volumes() {
        let r = p(r#"
image: alpine
volumes:
  - ./data:/data:ro
  - cache:/cache
  - /anon
  - type: bind
    source: /srv
    target: /srv
    read_only: true
    bind:
      propagation: rslave
      create_host_path: true
  - type: volume
    source: v
    target: /v
    volume:
      nocopy: true
  - type: tmpfs
    target: /tmp
    tmpfs:
      size: 16777216
      mode: 1777
  - type: tmpfs
    target: /run
    read_only: true
    tmpfs: {size: 16m}
"#);
        assert_eq!(r.mounts.len(), 5);
        assert_eq!(r.mounts[0].kind, MountKind::Bind);
        assert!(r.mounts[0].read_only);
        assert_eq!(r.mounts[1].kind, MountKind::Volume);
        assert_eq!(r.mounts[2].source, None);
        assert_eq!(
            r.mounts[3],
            MountSpec {
                kind: MountKind::Bind,
                source: Some("/srv".into()),
                target: "/srv".into(),
                read_only: true,
                propagation: Some("rslave".into()),
                options: vec![]
            }
        );
        assert_eq!(r.mounts[4].options, vec!["nocopy"]);
        assert_eq!(
            r.tmpfs,
            vec![
                TmpfsSpec {
                    target: "/tmp".into(),
                    options: vec!["size=16777216".into(), "mode=1777".into()]
                },
                TmpfsSpec {
                    target: "/run".into(),
                    options: vec!["ro".into(), "size=16m".into()]
                },
            ]
        );
        assert!(e("image: alpine\nvolumes: [data]\n").contains("`volumes[0]`"));
        assert!(
            e("image: alpine\nvolumes:\n  - type: bind\n    target: /x\n").contains("needs source")
        );
        assert!(
            e("image: alpine\nvolumes:\n  - type: bind\n    source: /x\n").contains("needs target")
        );
        assert!(
            e("image: alpine\nvolumes:\n  - type: nfs\n    target: /x\n").contains("`volumes[0]`")
        );
        assert!(e("image: alpine\nvolumes:\n  - type: bind\n    source: /x\n    target: /x\n    bogus: 1\n").contains("unknown key `bogus`"));
        assert!(e(
            "image: alpine\nvolumes:\n  - type: tmpfs\n    target: /x\n    tmpfs: {size: lots}\n"
        )
        .contains("`volumes[0].tmpfs.size`"));
        assert!(e("image: alpine\nvolumes: /x:/y\n").contains("`volumes`: expected a list"));
    }

    #[test]
    fn networks_ports_devices() {
        assert_eq!(
            p("image: a\nnetworks: [back, front]\n").network.as_deref(),
            Some("back")
        );
        assert_eq!(
            p("image: a\nnetworks:\n  front:\n    aliases: [x]\n  back:\n")
                .network
                .as_deref(),
            Some("front")
        );
        assert!(e("image: a\nnetworks: [x]\nnetwork_mode: none\n").contains("together"));
        let r = p("image: a\nports:\n  - 80\n  - \"8080:80\"\n  - \"127.0.0.1:5353:53/udp\"\n  - \"[::1]:8443:443\"\n  - target: 80\n    published: \"8000\"\n    host_ip: 127.0.0.1\n    protocol: tcp\n    mode: host\n  - target: 53\n    host_ip: \"::1\"\n    protocol: udp\n");
        assert_eq!(
            r.publish[0],
            PortSpec {
                host_ip: None,
                host_port: None,
                container_port: "80".into(),
                protocol: "tcp".into()
            }
        );
        assert_eq!(r.publish[1].host_port.as_deref(), Some("8080"));
        assert_eq!(r.publish[2].protocol, "udp");
        assert_eq!(r.publish[3].host_ip.as_deref(), Some("::1"));
        assert_eq!(
            r.publish[4],
            PortSpec {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("8000".into()),
                container_port: "80".into(),
                protocol: "tcp".into()
            }
        );
        assert_eq!(
            r.publish[5],
            PortSpec {
                host_ip: Some("::1".into()),
                host_port: None,
                container_port: "53".into(),
                protocol: "udp".into()
            }
        );
        assert!(e("image: a\nports: [\"80:http\"]\n").contains("`ports[0]`"));
        assert!(e("image: a\nports:\n  - published: 80\n").contains("needs target"));
        let r = p("image: a\nexpose: [80, \"81/udp\"]\ndevices: [\"/dev/fuse\", {source: /dev/sda, target: /dev/xvda, permissions: r}]\ndevice_cgroup_rules: ['c 1:3 mr']\n");
        assert_eq!(r.expose, vec!["80", "81/udp"]);
        assert_eq!(r.devices, vec!["/dev/fuse", "/dev/sda:/dev/xvda:r"]);
        assert_eq!(r.device_cgroup_rules, vec!["c 1:3 mr"]);
        assert!(e("image: a\nexpose: [web]\n").contains("`expose[0]`"));
    }

    #[test]
    fn resources_and_deploy() {
        let r = p("image: a\nmem_limit: 256m\nmemswap_limit: -1\nmem_reservation: 134217728\nshm_size: 64MiB\noom_kill_disable: true\ncpus: 0.5\ncpu_shares: 512\ncpu_quota: 50000\ncpu_period: 100000\ncpuset: '0-1'\npids_limit: 100\n");
        assert_eq!(r.memory, Some(256 << 20));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.memory_reservation, Some(128 << 20));
        assert_eq!(r.shm_size, Some(64 << 20));
        assert!(r.oom_kill_disable);
        assert_eq!(r.nano_cpus, Some(500_000_000));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(r.cpu_quota, Some(50000));
        assert_eq!(r.cpu_period, Some(100000));
        assert_eq!(r.cpuset_cpus.as_deref(), Some("0-1"));
        assert_eq!(r.pids_limit, Some(100));
        assert_eq!(
            p("image: a\ncpus: '1.5'\nmem_limit: 1gb\n").nano_cpus,
            Some(1_500_000_000)
        );
        assert_eq!(p("image: a\ncpus: 2\n").nano_cpus, Some(2_000_000_000));
        assert_eq!(p("image: a\nmem_limit: 1gb\n").memory, Some(1 << 30));
        assert_eq!(
            e("image: a\nmem_limit: 12xb\n"),
            "`mem_limit`: \"12xb\" is not a size; write e.g. 256m or 1g"
        );
        assert!(e("image: a\nmem_limit: -5\n").contains("`mem_limit`"));
        assert!(e("image: a\nmem_limit: 1.5\n").contains("`mem_limit`"));
        assert!(e("image: a\ncpus: .inf\n").contains("`cpus`"));
        assert!(e("image: a\ncpus: [1]\n").contains("`cpus`"));
        assert!(e("image: a\npids_limit: -3\n").contains("`pids_limit`"));
        assert!(e("image: a\ncpu_shares: lots\n").contains("`cpu_shares`"));
        let r = p("image: a\ndeploy:\n  replicas: 1\n  resources:\n    limits:\n      cpus: '0.25'\n      memory: 128M\n      pids: 50\n    reservations:\n      memory: 64M\n  restart_policy:\n    condition: on-failure\n    max_attempts: 3\n    delay: 5s\n");
        assert_eq!(r.nano_cpus, Some(250_000_000));
        assert_eq!(r.memory, Some(128 << 20));
        assert_eq!(r.pids_limit, Some(50));
        assert_eq!(r.memory_reservation, Some(64 << 20));
        assert_eq!(
            r.restart,
            Some(RestartSpec {
                policy: "on-failure".into(),
                max_retries: Some(3)
            })
        );
        assert!(
            e("image: a\nmem_limit: 1g\ndeploy: {resources: {limits: {memory: 2g}}}\n")
                .contains("disagree")
        );
        assert_eq!(
            p("image: a\nmem_limit: 1g\ndeploy: {resources: {limits: {memory: 1024m}}}\n").memory,
            Some(1 << 30)
        );
        assert!(e("image: a\ndeploy: {resources: {limits: {gpus: 1}}}\n")
            .contains("deploy.resources.limits"));
        assert!(
            e("image: a\ndeploy: {restart_policy: {condition: sometimes}}\n")
                .contains("deploy.restart_policy.condition")
        );
        assert!(e("image: a\ndeploy: {foo: 1}\n").contains("`deploy`"));
        assert!(
            e("image: a\nrestart: always\ndeploy: {restart_policy: {condition: none}}\n")
                .contains("disagree")
        );
        let r =
            p("image: a\nulimits:\n  nproc: 65535\n  nofile:\n    soft: 20000\n    hard: 40000\n");
        assert_eq!(
            r.ulimits,
            vec![
                UlimitSpec {
                    name: "nproc".into(),
                    soft: 65535,
                    hard: 65535
                },
                UlimitSpec {
                    name: "nofile".into(),
                    soft: 20000,
                    hard: 40000
                },
            ]
        );
        assert!(e("image: a\nulimits:\n  nofile: {soft: 1}\n").contains("`ulimits.nofile`"));
        assert!(e("image: a\nulimits:\n  bogus: 1\n").contains("`ulimits.bogus`"));
    }

    #[test]
    fn restart_health_logging() {
        assert_eq!(p("image: a\nrestart: no\n").restart.unwrap().policy, "no");
        assert_eq!(
            p("image: a\nrestart: \"on-failure:2\"\n")
                .restart
                .unwrap()
                .max_retries,
            Some(2)
        );
        assert!(e("image: a\nrestart: sometimes\n").contains("`restart`"));
        let r = p("image: a\nhealthcheck:\n  test: wget -q --spider http://localhost/ || exit 1\n  interval: 30s\n  timeout: 5s\n  retries: 3\n  start_period: 1m30s\n");
        assert_eq!(
            r.health.test,
            Some(vec![
                "CMD-SHELL".to_string(),
                "wget -q --spider http://localhost/ || exit 1".to_string()
            ])
        );
        assert_eq!(r.health.interval_ns, Some(30_000_000_000));
        assert_eq!(r.health.timeout_ns, Some(5_000_000_000));
        assert_eq!(r.health.retries, Some(3));
        assert_eq!(r.health.start_period_ns, Some(90_000_000_000));
        let r = p(
            "image: a\nhealthcheck:\n  test: [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]\n",
        );
        assert_eq!(r.health.test.unwrap()[0], "CMD");
        assert_eq!(
            p("image: a\nhealthcheck: {test: [NONE]}\n").health.test,
            Some(vec!["NONE".to_string()])
        );
        assert_eq!(
            p("image: a\nhealthcheck: {disable: true}\n").health.test,
            Some(vec!["NONE".to_string()])
        );
        assert!(
            e("image: a\nhealthcheck: {disable: true, test: [CMD, x]}\n").contains("healthcheck")
        );
        assert!(e("image: a\nhealthcheck: {test: [curl, x]}\n").contains("`healthcheck.test`"));
        assert!(e("image: a\nhealthcheck: {interval: 30}\n").contains("`healthcheck.interval`"));
        assert!(e("image: a\nhealthcheck: {bogus: 1}\n").contains("unknown key `bogus`"));
        let r = p("image: a\nlogging:\n  driver: json-file\n  options:\n    max-size: 10m\n    max-file: 3\n");
        assert_eq!(r.log_driver.as_deref(), Some("json-file"));
        assert_eq!(
            r.log_opts,
            vec![
                ("max-size".into(), "10m".into()),
                ("max-file".into(), "3".into())
            ]
        );
        assert!(e("image: a\nlogging: {level: 1}\n").contains("`logging`"));
    }

    #[test]
    fn env_labels_secrets_misc() {
        let r = p("image: a\nenvironment:\n  - A=1\n  - B\n  - C=x y\n");
        assert_eq!(
            r.env,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("x y".into()))
            ]
        );
        let r = p("image: a\nenvironment:\n  A: 1\n  B:\n  C: true\n  D: 'x'\n");
        assert_eq!(
            r.env,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("true".into())),
                ("D".into(), Some("x".into()))
            ]
        );
        assert!(e("image: a\nenvironment: A=1\n").contains("`environment`"));
        assert!(e("image: a\nenvironment: ['=1']\n").contains("`environment[0]`"));
        assert!(e("image: a\nenvironment: {A: [1]}\n").contains("`environment.A`"));
        let r = p("image: a\nenv_file: .env\n");
        assert_eq!(r.env_files, vec![".env"]);
        let r = p("image: a\nenv_file: [a.env, {path: b.env, required: false}]\n");
        assert_eq!(r.env_files, vec!["a.env", "b.env"]);
        let r = p("image: a\nlabels: [a=b, c]\n");
        assert_eq!(
            r.labels,
            vec![("a".into(), "b".into()), ("c".into(), String::new())]
        );
        let r = p("image: a\nlabels: {a: b, n: 1}\n");
        assert_eq!(
            r.labels,
            vec![("a".into(), "b".into()), ("n".into(), "1".into())]
        );
        let r = p("image: a\nsecrets: [db, {source: api, target: /run/secrets/api}]\n");
        assert_eq!(r.secrets, vec!["db", "api"]);
        let r = p("image: a\ngroup_add: [audio, 44]\nsysctls:\n  net.core.somaxconn: 1024\n");
        assert_eq!(r.group_add, vec!["audio", "44"]);
        assert_eq!(
            r.sysctls,
            vec![("net.core.somaxconn".into(), "1024".into())]
        );
        let r = p("image: a\nsysctls: [net.ipv4.ip_forward=1]\n");
        assert_eq!(r.sysctls, vec![("net.ipv4.ip_forward".into(), "1".into())]);
        assert!(e("image: a\nsysctls: [foo]\n").contains("`sysctls[0]`"));
    }

    // ---------- property tests ----------

    const KEYS: &[&str] = &[
        "image",
        "user",
        "read_only",
        "cap_drop",
        "cap_add",
        "volumes",
        "tmpfs",
        "ports",
        "mem_limit",
        "cpus",
        "deploy",
        "healthcheck",
        "environment",
        "restart",
        "ulimits",
        "security_opt",
        "networks",
        "command",
        "entrypoint",
        "labels",
        "logging",
        "bogus",
    ];

    fn arb_yaml_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| Value::Number(n.into())),
            any::<f64>().prop_map(|f| Value::Number(f.into())),
            "\\PC{0,12}".prop_map(Value::String),
            proptest::sample::select(vec![
                "256m",
                "-1",
                "0.5",
                "/tmp",
                "a:/b:ro",
                "8080:80",
                "CMD",
                "NONE",
                "1s",
                "on-failure:3",
                "ALL",
                "$X"
            ])
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..4).prop_map(
                    |kvs| {
                        let mut m = Mapping::new();
                        for (k, v) in kvs {
                            m.insert(Value::String(k.to_string()), v);
                        }
                        Value::Mapping(m)
                    }
                ),
            ]
        })
    }

    #[derive(Debug, Clone)]
    struct Subset {
        user: Option<String>,
        read_only: bool,
        cap_drop: Vec<String>,
        memory: Option<(i64, &'static str, i64)>,
        pids_limit: Option<i64>,
        env: Vec<(String, Option<String>)>,
        tmpfs: Vec<TmpfsSpec>,
    }

    fn arb_subset() -> impl Strategy<Value = Subset> {
        let user = proptest::option::of(prop_oneof![
            "[0-9]{1,5}(:[0-9]{1,5})?",
            "[a-z_][a-z0-9_-]{0,8}(:[a-z_][a-z0-9_-]{0,8})?",
        ]);
        let cap = proptest::sample::select(vec![
            "ALL",
            "all",
            "NET_RAW",
            "CAP_CHOWN",
            "net_bind_service",
            "SYS_ADMIN",
        ])
        .prop_map(str::to_string);
        let memory = proptest::option::of(
            (
                0i64..100_000,
                proptest::sample::select(vec!["", "b", "k", "m", "g", "MiB", "kb"]),
            )
                .prop_map(|(n, unit)| {
                    let mult: i64 = match unit {
                        "" | "b" => 1,
                        "k" | "kb" => 1 << 10,
                        "m" | "MiB" => 1 << 20,
                        _ => 1 << 30,
                    };
                    (n, unit, n * mult)
                }),
        );
        let env = proptest::collection::vec(
            (
                "[A-Za-z_][A-Za-z0-9_]{0,6}",
                proptest::option::of("\\PC{0,12}"),
            ),
            0..4,
        );
        let tmpfs = proptest::collection::vec(
            (
                "/[a-z]{1,6}(/[a-z]{1,4})?",
                proptest::sample::subsequence(
                    vec!["rw", "noexec", "nosuid", "nodev", "size=16m", "mode=1777"],
                    0..4,
                ),
            )
                .prop_map(|(target, opts)| TmpfsSpec {
                    target,
                    options: opts.into_iter().map(str::to_string).collect(),
                }),
            0..3,
        );
        (
            user,
            any::<bool>(),
            proptest::collection::vec(cap, 0..3),
            memory,
            proptest::option::of(-1i64..100_000),
            env,
            tmpfs,
        )
            .prop_map(
                |(user, read_only, cap_drop, memory, pids_limit, env, tmpfs)| Subset {
                    user,
                    read_only,
                    cap_drop,
                    memory,
                    pids_limit,
                    env,
                    tmpfs,
                },
            )
    }

    fn sh_quote(s: &str) -> String {
        format!("'{}'", s.replace('\'', "'\\''"))
    }

    fn render_cli(s: &Subset) -> String {
        let mut out = String::from("docker run --rm");
        if let Some(u) = &s.user {
            out.push_str(&format!(" --user {}", sh_quote(u)));
        }
        if s.read_only {
            out.push_str(" --read-only");
        }
        for c in &s.cap_drop {
            out.push_str(&format!(" --cap-drop={c}"));
        }
        if let Some((n, unit, _)) = s.memory {
            out.push_str(&format!(" -m {n}{unit}"));
        }
        if let Some(pl) = s.pids_limit {
            out.push_str(&format!(" --pids-limit {pl}"));
        }
        for (k, v) in &s.env {
            match v {
                Some(v) => out.push_str(&format!(" -e {}", sh_quote(&format!("{k}={v}")))),
                None => out.push_str(&format!(" --env {k}")),
            }
        }
        for t in &s.tmpfs {
            if t.options.is_empty() {
                out.push_str(&format!(" --tmpfs {}", t.target));
            } else {
                out.push_str(&format!(" --tmpfs {}:{}", t.target, t.options.join(",")));
            }
        }
        out.push_str(" \\\n  alpine:3.20 sh -c 'echo ok'");
        out
    }

    fn render_yaml(s: &Subset, env_as_map: bool) -> String {
        let esc = |x: &str| x.replace('$', "$$");
        let mut svc = Mapping::new();
        let mut put = |k: &str, v: Value| {
            svc.insert(Value::String(k.into()), v);
        };
        put("image", Value::String("alpine:3.20".into()));
        if let Some(u) = &s.user {
            put("user", Value::String(u.clone()));
        }
        put("read_only", Value::Bool(s.read_only));
        if !s.cap_drop.is_empty() {
            put(
                "cap_drop",
                Value::Sequence(
                    s.cap_drop
                        .iter()
                        .map(|c| Value::String(c.clone()))
                        .collect(),
                ),
            );
        }
        if let Some((n, unit, bytes)) = s.memory {
            if unit.is_empty() {
                put("mem_limit", Value::Number(bytes.into()));
            } else {
                put("mem_limit", Value::String(format!("{n}{unit}")));
            }
        }
        if let Some(pl) = s.pids_limit {
            put("pids_limit", Value::Number(pl.into()));
        }
        if !s.env.is_empty() {
            let mut keys = std::collections::HashSet::new();
            let unique = s.env.iter().all(|(k, _)| keys.insert(k.clone()));
            if env_as_map && unique {
                let mut m = Mapping::new();
                for (k, v) in &s.env {
                    m.insert(
                        Value::String(k.clone()),
                        v.as_ref()
                            .map(|v| Value::String(esc(v)))
                            .unwrap_or(Value::Null),
                    );
                }
                put("environment", Value::Mapping(m));
            } else {
                put(
                    "environment",
                    Value::Sequence(
                        s.env
                            .iter()
                            .map(|(k, v)| {
                                Value::String(match v {
                                    Some(v) => format!("{k}={}", esc(v)),
                                    None => k.clone(),
                                })
                            })
                            .collect(),
                    ),
                );
            }
        }
        if !s.tmpfs.is_empty() {
            put(
                "tmpfs",
                Value::Sequence(
                    s.tmpfs
                        .iter()
                        .map(|t| {
                            Value::String(if t.options.is_empty() {
                                t.target.clone()
                            } else {
                                format!("{}:{}", t.target, t.options.join(","))
                            })
                        })
                        .collect(),
                ),
            );
        }
        let mut services = Mapping::new();
        services.insert(Value::String("app".into()), Value::Mapping(svc));
        let mut root = Mapping::new();
        root.insert(Value::String("services".into()), Value::Mapping(services));
        serde_norway::to_string(&Value::Mapping(root)).expect("serialize")
    }

    fn check_subset(r: &RunSpec, s: &Subset) -> Result<(), TestCaseError> {
        prop_assert_eq!(&r.image, "alpine:3.20");
        prop_assert_eq!(&r.user, &s.user);
        prop_assert_eq!(r.read_only, s.read_only);
        prop_assert_eq!(&r.cap_drop, &s.cap_drop);
        prop_assert_eq!(r.memory, s.memory.map(|m| m.2));
        prop_assert_eq!(r.pids_limit, s.pids_limit);
        prop_assert_eq!(&r.env, &s.env);
        prop_assert_eq!(&r.tmpfs, &s.tmpfs);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
            let _ = parse_compose_service(&s);
            let _ = parse_compose_service(&format!("image: alpine\n{s}"));
            let _ = parse_run_command(&s);
        }

        #[test]
        fn arbitrary_any_string_never_panics(s in any::<String>()) {
            let _ = parse_compose_service(&s);
        }

        #[test]
        fn arbitrary_yaml_trees_never_panic(v in arb_yaml_value(), wrap in any::<bool>()) {
            let text = serde_norway::to_string(&v).unwrap_or_default();
            let _ = parse_compose_service(&text);
            if wrap {
                let mut m = Mapping::new();
                m.insert(Value::String("image".into()), Value::String("alpine".into()));
                if let Value::Mapping(inner) = &v {
                    for (k, val) in inner {
                        m.insert(k.clone(), val.clone());
                    }
                }
                let text = serde_norway::to_string(&Value::Mapping(m)).unwrap_or_default();
                let _ = parse_compose_service(&text);
            }
        }

        #[test]
        fn subset_round_trips(s in arb_subset(), env_as_map in any::<bool>()) {
            let cli = render_cli(&s);
            let r = parse_run_command(&cli).map_err(|e| TestCaseError::fail(format!("{cli}\n=> {e}")))?;
            check_subset(&r, &s)?;
            prop_assert_eq!(&r.command, &vec!["sh".to_string(), "-c".into(), "echo ok".into()]);
            prop_assert_eq!(&r.ignored, &vec!["--rm".to_string()]);

            let yaml = render_yaml(&s, env_as_map);
            let c = parse_compose_service(&yaml).map_err(|e| TestCaseError::fail(format!("{yaml}\n=> {e}")))?;
            check_subset(&c, &s)?;
        }
    }
}
