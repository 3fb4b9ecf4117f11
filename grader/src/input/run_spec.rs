//! The shared model of "what a learner asked for when running a container",
//! produced both from a `docker run …` command line (`run_command`) and from
//! a compose service (`compose`), plus the value parsers both syntaxes share.
//!
//! Every parser here returns a message without a flag/key prefix; callers add
//! the flag or key name so the learner knows which part of their input is wrong.

use serde::Serialize;

/// What a learner asked for when running a container, whichever syntax they used.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSpec {
    pub image: String,
    /// Args after the image / compose `command`.
    pub command: Vec<String>,
    /// `Some(vec![])` means the entrypoint was reset (`--entrypoint ""`).
    pub entrypoint: Option<Vec<String>>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub hostname: Option<String>,
    pub privileged: bool,
    pub read_only: bool,
    pub init: bool,
    /// As written (e.g. "net_bind_service", "CAP_CHOWN", "all").
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// As written, e.g. "no-new-privileges", "no-new-privileges=false",
    /// "no-new-privileges:true", "seccomp=unconfined", "apparmor=x".
    pub security_opt: Vec<String>,
    pub tmpfs: Vec<TmpfsSpec>,
    /// Bind and volume mounts; tmpfs mounts go in `tmpfs`.
    pub mounts: Vec<MountSpec>,
    pub network: Option<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub userns: Option<String>,
    pub cgroupns: Option<String>,
    pub devices: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    pub publish: Vec<PortSpec>,
    pub publish_all: bool,
    pub expose: Vec<String>,
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes, -1 = unlimited.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub oom_kill_disable: bool,
    /// `--cpus 0.5` => 500_000_000.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpuset_cpus: Option<String>,
    /// -1 = unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<UlimitSpec>,
    pub restart: Option<RestartSpec>,
    pub health: HealthSpec,
    pub log_driver: Option<String>,
    pub log_opts: Vec<(String, String)>,
    /// `-e K=V` => (K, Some(V)); `-e K` => (K, None).
    pub env: Vec<(String, Option<String>)>,
    /// `--env-file` / `env_file` (recorded; the grader refuses them).
    pub env_files: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// Compose `secrets:` names — recorded.
    pub secrets: Vec<String>,
    pub group_add: Vec<String>,
    pub sysctls: Vec<(String, String)>,
    pub shm_size: Option<i64>,
    pub stop_signal: Option<String>,
    pub cgroup_parent: Option<String>,
    pub runtime: Option<String>,
    pub platform: Option<String>,
    pub name: Option<String>,
    /// Flags that change nothing about the container's security
    /// (-d, --rm, -i, -t, --name, --pull …) as written, for the record.
    pub ignored: Vec<String>,
}

/// A tmpfs mount. `options` are split on ',', e.g. `["rw","noexec","nosuid","size=16m"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TmpfsSpec {
    pub target: String,
    pub options: Vec<String>,
}

/// Kind of a mount. Tmpfs mounts are recorded in `RunSpec::tmpfs`, never in `mounts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    #[default]
    Volume,
    Tmpfs,
}

/// A bind or volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Host path (bind) or volume name; `None` for an anonymous volume.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// shared, rshared, slave, rslave, private, rprivate.
    pub propagation: Option<String>,
    /// Other options as written (e.g. "z", "Z", "nocopy", "volume-opt=type=nfs").
    pub options: Vec<String>,
}

/// A published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    /// Without brackets for IPv6; `None` when not given (or given empty).
    pub host_ip: Option<String>,
    /// May be a range "8000-8010"; `None` when not given or left empty
    /// (`127.0.0.1::80`), i.e. docker picks a random host port.
    pub host_port: Option<String>,
    /// A port or a range "8000-8010".
    pub container_port: String,
    /// "tcp" (default), "udp" or "sctp".
    pub protocol: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UlimitSpec {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestartSpec {
    /// no | always | unless-stopped | on-failure
    pub policy: String,
    pub max_retries: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthSpec {
    /// Docker's form: `["CMD-SHELL", "cmd"]`, `["CMD", ...]` or `["NONE"]`.
    pub test: Option<Vec<String>>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub retries: Option<i64>,
    pub start_period_ns: Option<i64>,
}

/// An error shown to a learner: it names the flag/key and says what to write instead.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl SpecError {
    pub fn new(msg: impl Into<String>) -> Self {
        SpecError(msg.into())
    }
}

/// Quote a user-supplied value for an error message, shortened so a huge
/// input does not produce a huge message.
pub(crate) fn q(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let short: String = s.chars().take(MAX).collect();
        format!("{:?}…", short)
    }
}

/// Parse a size in docker's notation: a number (decimals allowed) with an
/// optional unit b, k, m, g, t, p (case-insensitive, powers of 1024), optionally
/// followed by "b" or "ib" ("256m", "1.5g", "1gb", "256MiB", "512k").
/// A plain number is bytes. Negative values are rejected; callers that allow
/// `-1` check for it first.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let err = || format!("{} is not a size; write e.g. 256m or 1g", q(s));
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "{} is negative; write a size such as 256m or 1g",
            q(s)
        ));
    }
    let num_end = t
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    let mult: i128 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        "p" | "pb" | "pib" => 1 << 50,
        _ => return Err(err()),
    };
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int_part.is_empty() || frac_part.contains('.') || (num.contains('.') && frac_part.is_empty())
    {
        return Err(err());
    }
    let too_big = || format!("{} is too large a size", q(s));
    let int_val = parse_digits_i128(int_part).ok_or_else(too_big)?;
    let mut total = int_val.checked_mul(mult).ok_or_else(too_big)?;
    if !frac_part.is_empty() {
        // Keep at most 18 fractional digits; more cannot matter for byte counts.
        let frac: String = frac_part.chars().take(18).collect();
        let frac_val = parse_digits_i128(&frac).ok_or_else(err)?;
        let denom = 10i128.checked_pow(frac.len() as u32).ok_or_else(err)?;
        let add = frac_val.checked_mul(mult).ok_or_else(too_big)? / denom;
        total = total.checked_add(add).ok_or_else(too_big)?;
    }
    i64::try_from(total).map_err(|_| too_big())
}

/// Parse an ASCII digit string into i128 (None if empty, not digits, or overflow).
fn parse_digits_i128(s: &str) -> Option<i128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i128 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    Some(v)
}

/// Parse a Go duration ("1s", "500ms", "1m30s", "1.5h", "0") into nanoseconds.
/// Units: ns, us (µs, μs), ms, s, m, h. Negative durations are rejected.
pub fn parse_duration_ns(s: &str) -> Result<i64, String> {
    let err = || format!("{} is not a duration; write e.g. 30s, 500ms or 1m30s", q(s));
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "{} is negative; write a duration such as 30s or 1m30s",
            q(s)
        ));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(0);
    }
    if t.is_empty() {
        return Err(err());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} has no unit; write e.g. {}s or {}ms",
            q(s),
            short(t),
            short(t)
        ));
    }
    let too_big = || format!("{} is too long a duration", q(s));
    let mut total: i128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() {
            return Err(err());
        }
        let unit_end = after
            .char_indices()
            .find(|&(_, c)| c.is_ascii_digit() || c == '.')
            .map(|(i, _)| i)
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let mult: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3600 * 1_000_000_000,
            "" => {
                return Err(format!(
                    "{} has a number without a unit; write e.g. 1m30s",
                    q(s)
                ))
            }
            _ => return Err(err()),
        };
        let (int_part, frac_part) = match num.split_once('.') {
            Some((i, f)) => (i, f),
            None => (num, ""),
        };
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(err());
        }
        let int_val = if int_part.is_empty() {
            0
        } else {
            parse_digits_i128(int_part).ok_or_else(too_big)?
        };
        let mut v = int_val.checked_mul(mult).ok_or_else(too_big)?;
        if !frac_part.is_empty() {
            let frac: String = frac_part.chars().take(18).collect();
            let fv = parse_digits_i128(&frac).ok_or_else(err)?;
            let denom = 10i128.checked_pow(frac.len() as u32).ok_or_else(err)?;
            v = v
                .checked_add(fv.checked_mul(mult).ok_or_else(too_big)? / denom)
                .ok_or_else(too_big)?;
        }
        total = total.checked_add(v).ok_or_else(too_big)?;
        if total > i128::from(i64::MAX) {
            return Err(too_big());
        }
        rest = next;
    }
    i64::try_from(total).map_err(|_| too_big())
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Parse a decimal CPU count ("0.5", "2", "1.25") into nano CPUs.
pub fn parse_nano_cpus(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let err = || format!("{} is not a number of CPUs; write e.g. 0.5 or 2", q(s));
    if t.starts_with('-') {
        return Err(format!("{} is negative; write e.g. 0.5 or 2", q(s)));
    }
    let (int_part, frac_part) = match t.split_once('.') {
        Some((i, f)) => (i, f),
        None => (t, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !digits(int_part) || !digits(frac_part) {
        return Err(err());
    }
    let frac_trim = frac_part.trim_end_matches('0');
    if frac_trim.len() > 9 {
        return Err(format!(
            "{} is too precise; use at most 9 decimal places",
            q(s)
        ));
    }
    let too_big = || format!("{} is too many CPUs", q(s));
    let int_val = if int_part.is_empty() {
        0
    } else {
        parse_digits_i128(int_part).ok_or_else(too_big)?
    };
    let mut frac_val: i128 = 0;
    if !frac_trim.is_empty() {
        frac_val = parse_digits_i128(frac_trim).ok_or_else(err)?;
        for _ in frac_trim.len()..9 {
            frac_val *= 10;
        }
    }
    let total = int_val
        .checked_mul(1_000_000_000)
        .and_then(|v| v.checked_add(frac_val))
        .ok_or_else(too_big)?;
    i64::try_from(total).map_err(|_| too_big())
}

/// Parse Go's strconv.ParseBool forms: 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parse a plain integer with a message naming what was expected.
pub(crate) fn parse_int(s: &str, example: &str) -> Result<i64, String> {
    let t = s.trim();
    t.strip_prefix('+')
        .unwrap_or(t)
        .parse::<i64>()
        .map_err(|_| format!("{} is not a whole number; write e.g. {example}", q(s)))
}

fn valid_port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().map(|n| n <= 65535).unwrap_or(false)
}

/// A port or a range "8000-8010".
pub(crate) fn valid_port_or_range(p: &str) -> bool {
    match p.split_once('-') {
        Some((a, b)) => {
            valid_port(a)
                && valid_port(b)
                && a.parse::<u32>().unwrap_or(0) <= b.parse::<u32>().unwrap_or(0)
        }
        None => valid_port(p),
    }
}

/// Parse docker's publish syntax `[ip:][hostPort:]containerPort[/proto]`,
/// with IPv6 addresses optionally in brackets (`[::1]:8080:80`).
pub fn parse_port(s: &str) -> Result<PortSpec, String> {
    let hint = "write e.g. 8080:80, 127.0.0.1:8080:80 or [::1]:8080:80/udp";
    let (rest, protocol) = match s.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (s, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "{} has protocol {}; use tcp, udp or sctp",
            q(s),
            q(&protocol)
        ));
    }
    if rest.is_empty() {
        return Err(format!("{} has no container port; {hint}", q(s)));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (ip, host) = match n {
        1 => ("", ""),
        2 => ("", parts[0]),
        _ => {
            let ip_end = rest.len() - container.len() - parts[n - 2].len() - 2;
            (&rest[..ip_end], parts[n - 2])
        }
    };
    if !valid_port_or_range(container) {
        let whole = if container == s {
            String::new()
        } else {
            format!("{}: ", q(s))
        };
        return Err(format!(
            "{whole}{} is not a container port (1-65535 or a range); {hint}",
            q(container)
        ));
    }
    if !host.is_empty() && !valid_port_or_range(host) {
        return Err(format!("{}: {} is not a host port; {hint}", q(s), q(host)));
    }
    let ip = if ip.starts_with('[') || ip.ends_with(']') {
        match ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')) {
            Some(inner) => inner,
            None => {
                return Err(format!(
                    "{}: unbalanced brackets around the address; {hint}",
                    q(s)
                ))
            }
        }
    } else {
        ip
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("{}: {} is not an IP address; {hint}", q(s), q(ip)));
    }
    Ok(PortSpec {
        host_ip: (!ip.is_empty()).then(|| ip.to_string()),
        host_port: (!host.is_empty()).then(|| host.to_string()),
        container_port: container.to_string(),
        protocol,
    })
}

/// Validate an `--expose` / `expose:` entry: port or range, optional /proto.
pub fn check_expose(s: &str) -> Result<(), String> {
    let (port, proto) = match s.split_once('/') {
        Some((p, pr)) => (p, pr.to_ascii_lowercase()),
        None => (s, "tcp".into()),
    };
    if valid_port_or_range(port) && matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        Ok(())
    } else {
        Err(format!(
            "{} is not a port; write e.g. 8080 or 8080/udp",
            q(s)
        ))
    }
}

/// Parse `PATH[:OPTS]` (docker `--tmpfs`, compose `tmpfs:`).
pub fn parse_tmpfs(s: &str) -> Result<TmpfsSpec, String> {
    let (target, opts) = match s.split_once(':') {
        Some((t, o)) => (t, o),
        None => (s, ""),
    };
    if !target.starts_with('/') {
        return Err(format!(
            "{} must start with an absolute path; write e.g. /tmp:rw,noexec,nosuid,size=16m",
            q(s)
        ));
    }
    Ok(TmpfsSpec {
        target: target.to_string(),
        options: split_opts(opts),
    })
}

fn split_opts(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

/// True for a volume source that is a host path (bind mount) rather than a named volume.
pub fn is_host_path(src: &str) -> bool {
    src.starts_with('/') || src.starts_with('.') || src.starts_with('~')
}

const PROPAGATIONS: [&str; 6] = [
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Parse docker's `-v` / compose short volume syntax: `[src:]dst[:opts]`.
pub fn parse_volume(s: &str) -> Result<MountSpec, String> {
    let hint = "write e.g. /host/dir:/data:ro, myvolume:/data or /data";
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, opts) = match parts.as_slice() {
        [dst] => (None, *dst, ""),
        [src, dst] => (Some(*src), *dst, ""),
        [src, dst, opts] => (Some(*src), *dst, *opts),
        _ => return Err(format!("{} has too many ':' parts; {hint}", q(s))),
    };
    if source == Some("") {
        return Err(format!("{} has an empty source; {hint}", q(s)));
    }
    if !target.starts_with('/') {
        return Err(format!(
            "{}: the container path {} must be absolute; {hint}",
            q(s),
            q(target)
        ));
    }
    // A named or anonymous volume (the default kind) unless the source is a host path.
    let mut m = MountSpec {
        source: source.map(str::to_string),
        target: target.to_string(),
        ..Default::default()
    };
    if let Some(src) = source {
        if is_host_path(src) {
            m.kind = MountKind::Bind;
        } else if !valid_volume_name(src) {
            return Err(format!(
                "{}: {} is neither a host path (start it with / or ./) nor a volume name; {hint}",
                q(s),
                q(src)
            ));
        }
    }
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "readonly" => m.read_only = true,
            "rw" => m.read_only = false,
            p if PROPAGATIONS.contains(&p) => m.propagation = Some(p.to_string()),
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {
                m.options.push(o.to_string())
            }
            _ => {
                return Err(format!(
                    "{}: unknown option {}; use ro, rw, z, Z, nocopy, shared, rshared, slave, rslave, private or rprivate",
                    q(s),
                    q(o)
                ))
            }
        }
    }
    Ok(m)
}

fn valid_volume_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// True if `s` is a propagation mode docker knows.
pub fn is_propagation(s: &str) -> bool {
    PROPAGATIONS.contains(&s)
}

const ULIMIT_NAMES: [&str; 15] = [
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Check a ulimit name and soft/hard pair.
pub fn make_ulimit(name: &str, soft: i64, hard: i64) -> Result<UlimitSpec, String> {
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!(
            "{} is not a ulimit; use one of {}",
            q(name),
            ULIMIT_NAMES.join(", ")
        ));
    }
    if soft < -1 || hard < -1 {
        return Err(format!(
            "{name}: limits must be -1 (unlimited) or a non-negative number"
        ));
    }
    if hard != -1 && (soft == -1 || soft > hard) {
        return Err(format!(
            "{name}: the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    Ok(UlimitSpec {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Parse `name=soft[:hard]` (docker `--ulimit`).
pub fn parse_ulimit(s: &str) -> Result<UlimitSpec, String> {
    let hint = "write e.g. nofile=1024:2048 or nproc=512";
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| format!("{} has no '='; {hint}", q(s)))?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (vals, None),
    };
    let soft = parse_int(soft, "nofile=1024:2048").map_err(|e| format!("{e} ({hint})"))?;
    let hard = match hard {
        Some(h) => parse_int(h, "nofile=1024:2048").map_err(|e| format!("{e} ({hint})"))?,
        None => soft,
    };
    make_ulimit(name, soft, hard)
}

/// Parse docker's restart policy: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(s: &str) -> Result<RestartSpec, String> {
    let hint = "use no, always, unless-stopped or on-failure[:N]";
    let (policy, count) = match s.split_once(':') {
        Some((p, c)) => (p, Some(c)),
        None => (s, None),
    };
    if !matches!(policy, "no" | "always" | "unless-stopped" | "on-failure") {
        return Err(format!("{} is not a restart policy; {hint}", q(s)));
    }
    let max_retries = match count {
        None => None,
        Some(c) => {
            if policy != "on-failure" {
                return Err(format!(
                    "{}: only on-failure takes a retry count, e.g. on-failure:3",
                    q(s)
                ));
            }
            let n = parse_int(c, "on-failure:3")?;
            if n < 0 {
                return Err(format!("{}: the retry count can't be negative", q(s)));
            }
            Some(n)
        }
    };
    Ok(RestartSpec {
        policy: policy.to_string(),
        max_retries,
    })
}

/// Split `K=V` (value required).
pub(crate) fn split_kv<'a>(s: &'a str, example: &str) -> Result<(&'a str, &'a str), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(format!("{} is not KEY=VALUE; write e.g. {example}", q(s))),
    }
}

/// Parse an environment entry `K=V` or `K`.
pub fn parse_env(s: &str) -> Result<(String, Option<String>), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!(
            "{} has no variable name; write e.g. MODE=production",
            q(s)
        )),
        Some((k, v)) => Ok((k.to_string(), Some(v.to_string()))),
        None if s.is_empty() => Err("empty; write e.g. MODE=production".to_string()),
        None => Ok((s.to_string(), None)),
    }
}

/// Parse a label `k=v` or `k` (value "").
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!(
            "{} has no label name; write e.g. com.example.team=web",
            q(s)
        )),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None if s.is_empty() => Err("empty; write e.g. com.example.team=web".to_string()),
        None => Ok((s.to_string(), String::new())),
    }
}

/// A capability name as written: letters, digits and '_' only.
pub fn check_capability(s: &str) -> Result<(), String> {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "{} is not a capability name; give one per entry, e.g. NET_BIND_SERVICE or ALL",
            q(s)
        ))
    }
}

/// A cpuset: digits, ',' and '-' ("0-2,4").
pub fn check_cpuset(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => {
                !a.is_empty()
                    && !b.is_empty()
                    && a.bytes().all(|c| c.is_ascii_digit())
                    && b.bytes().all(|c| c.is_ascii_digit())
            }
            None => !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()),
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{} is not a CPU list; write e.g. 0-1 or 0,2", q(s)))
    }
}

/// Check a healthcheck test list is in docker's form.
pub fn check_health_test(t: &[String]) -> Result<(), String> {
    match t.first().map(String::as_str) {
        Some("NONE") if t.len() == 1 => Ok(()),
        Some("CMD") | Some("CMD-SHELL") if t.len() >= 2 => Ok(()),
        _ => Err(
            "must start with CMD (then the program and its args), CMD-SHELL (then one shell command) or be [\"NONE\"]; write e.g. [\"CMD\", \"wget\", \"-q\", \"--spider\", \"http://localhost/\"]"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10b"), Ok(10));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("256mb"), Ok(256 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("0.5k"), Ok(512));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert!(parse_size("12xb")
            .unwrap_err()
            .contains("\"12xb\" is not a size; write e.g. 256m"));
        assert!(parse_size("-1").unwrap_err().contains("negative"));
        assert!(parse_size("").is_err());
        assert!(parse_size("m").is_err());
        assert!(parse_size(".5m").is_err());
        assert!(parse_size("5.m").is_err());
        assert!(parse_size("1.2.3m").is_err());
        assert!(parse_size("99999999999999999999999999999999999999999999").is_err());
        assert!(parse_size("9000000p").unwrap_err().contains("too large"));
        assert!(parse_size("1ü").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("0"), Ok(0));
        assert_eq!(parse_duration_ns("1s"), Ok(1_000_000_000));
        assert_eq!(parse_duration_ns("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration_ns("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration_ns("2h"), Ok(7_200_000_000_000));
        assert_eq!(parse_duration_ns("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration_ns("10us"), Ok(10_000));
        assert_eq!(parse_duration_ns("10µs"), Ok(10_000));
        assert_eq!(parse_duration_ns("7ns"), Ok(7));
        assert_eq!(parse_duration_ns("1h2m3s4ms"), Ok(3_723_004_000_000));
        assert!(parse_duration_ns("30").unwrap_err().contains("no unit"));
        assert!(parse_duration_ns("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration_ns("1x")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration_ns("s").is_err());
        assert!(parse_duration_ns("").is_err());
        assert!(parse_duration_ns("1s30").is_err());
        assert!(parse_duration_ns("9999999999999h")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_nano_cpus("0.5"), Ok(500_000_000));
        assert_eq!(parse_nano_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_nano_cpus("1.25"), Ok(1_250_000_000));
        assert_eq!(parse_nano_cpus(".5"), Ok(500_000_000));
        assert_eq!(parse_nano_cpus("0.000000001"), Ok(1));
        assert_eq!(parse_nano_cpus("1.5000000000000"), Ok(1_500_000_000));
        assert!(parse_nano_cpus("0.0000000001")
            .unwrap_err()
            .contains("precise"));
        assert!(parse_nano_cpus("-1").is_err());
        assert!(parse_nano_cpus("abc").is_err());
        assert!(parse_nano_cpus(".").is_err());
        assert!(parse_nano_cpus("").is_err());
        assert!(parse_nano_cpus("99999999999999999999").is_err());
    }

    #[test]
    fn ports() {
        let p = parse_port("80").unwrap();
        assert_eq!(p.container_port, "80");
        assert_eq!(p.host_port, None);
        assert_eq!(p.protocol, "tcp");
        let p = parse_port("8080:80/udp").unwrap();
        assert_eq!(p.host_port.as_deref(), Some("8080"));
        assert_eq!(p.protocol, "udp");
        let p = parse_port("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        let p = parse_port("127.0.0.1::80").unwrap();
        assert_eq!(p.host_port, None);
        let p = parse_port("[::1]:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        assert_eq!(p.host_port.as_deref(), Some("8080"));
        let p = parse_port("::1:8080:80").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("::1"));
        let p = parse_port("8000-8010:8000-8010").unwrap();
        assert_eq!(p.host_port.as_deref(), Some("8000-8010"));
        assert!(parse_port("80/http").unwrap_err().contains("protocol"));
        assert!(parse_port("99999").is_err());
        assert!(parse_port("x:80").is_err());
        assert!(parse_port("1.2.3:80:80").is_err());
        assert!(parse_port("[::1:80:80").is_err());
        assert!(parse_port("").is_err());
        assert!(parse_port("/tcp").is_err());
    }

    #[test]
    fn volumes() {
        let m = parse_volume("/srv:/data:ro").unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert!(m.read_only);
        let m = parse_volume("./x:/data").unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        let m = parse_volume("cache:/cache:rw,nocopy,rslave").unwrap();
        assert_eq!(m.kind, MountKind::Volume);
        assert_eq!(m.source.as_deref(), Some("cache"));
        assert_eq!(m.propagation.as_deref(), Some("rslave"));
        assert_eq!(m.options, vec!["nocopy"]);
        let m = parse_volume("/data").unwrap();
        assert_eq!(m.source, None);
        assert!(parse_volume("data").is_err());
        assert!(parse_volume("a:b:c:d").is_err());
        assert!(parse_volume("/a:/b:bogus").unwrap_err().contains("bogus"));
        assert!(parse_volume(":/b").is_err());
        assert!(parse_volume("bad name:/b").is_err());
    }

    #[test]
    fn ulimits_restart_misc() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            UlimitSpec {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }
        );
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, 5);
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_ulimit("nofile").is_err());
        assert_eq!(parse_restart("on-failure:3").unwrap().max_retries, Some(3));
        assert_eq!(parse_restart("always").unwrap().max_retries, None);
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:-1").is_err());
        assert_eq!(
            parse_env("A=b=c").unwrap(),
            ("A".into(), Some("b=c".into()))
        );
        assert_eq!(parse_env("A").unwrap(), ("A".into(), None));
        assert!(parse_env("=x").is_err());
        assert_eq!(parse_label("a").unwrap(), ("a".into(), String::new()));
        assert!(check_capability("NET_ADMIN,SYS_ADMIN").is_err());
        assert!(check_capability("cap_chown").is_ok());
        assert!(check_cpuset("0-2,4").is_ok());
        assert!(check_cpuset("0-").is_err());
        assert!(check_expose("80/udp").is_ok());
        assert!(check_expose("http").is_err());
        assert_eq!(
            parse_tmpfs("/tmp:rw,noexec,size=16m").unwrap().options,
            vec!["rw", "noexec", "size=16m"]
        );
        assert!(parse_tmpfs("tmp").is_err());
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("yes"), None);
    }

    #[test]
    fn numbers_say_what_is_wrong_with_them() {
        assert_eq!(parse_digits_i128("0042"), Some(42));
        assert_eq!(parse_digits_i128(""), None);
        assert_eq!(parse_digits_i128("4x2"), None);
        assert!(parse_size(".5m").unwrap_err().contains("is not a size"));
        assert!(parse_duration_ns("1s30")
            .unwrap_err()
            .contains("a number without a unit"));
        assert!(parse_duration_ns("30")
            .unwrap_err()
            .contains("write e.g. 30s or 30ms"));
        assert!(parse_duration_ns(".s").is_err());
        assert!(parse_duration_ns("1.2.3s")
            .unwrap_err()
            .contains("not a duration"));
        assert_eq!(parse_duration_ns("9223372036854775807ns"), Ok(i64::MAX));
        assert!(parse_duration_ns("9223372036854775808ns")
            .unwrap_err()
            .contains("too long"));
        assert!(parse_nano_cpus("x.5")
            .unwrap_err()
            .contains("not a number of CPUs"));
        assert!(parse_nano_cpus("1.5xxxxxxxxxxx")
            .unwrap_err()
            .contains("not a number of CPUs"));
        assert!(parse_nano_cpus("1.").is_ok());
    }

    #[test]
    fn port_ranges_and_messages() {
        assert!(check_expose("8000-8010").is_ok());
        assert!(check_expose("8010-8000").is_err());
        assert!(check_expose("x-80").is_err());
        assert!(check_expose("80-x").is_err());
        assert!(parse_port("99999")
            .unwrap_err()
            .starts_with("\"99999\" is not a container port"));
        assert!(parse_port("8080:99999")
            .unwrap_err()
            .starts_with("\"8080:99999\": \"99999\" is not a container port"));
        assert!(parse_port("::1]:80:80").unwrap_err().contains("unbalanced"));
        assert!(parse_port("[::1:80:80").unwrap_err().contains("unbalanced"));
    }

    #[test]
    fn mounts_keep_their_target_and_propagation_is_a_closed_list() {
        let m = parse_volume("cache:/cache").unwrap();
        assert_eq!(m.target, "/cache");
        assert_eq!(parse_volume("/srv:/data").unwrap().target, "/data");
        assert!(is_propagation("rslave"));
        assert!(!is_propagation("bogus"));
        assert!(!is_propagation(""));
    }

    #[test]
    fn ulimits_allow_minus_one_and_nothing_below() {
        assert!(make_ulimit("nofile", -1, -1).is_ok());
        assert!(make_ulimit("nofile", 0, 0).is_ok());
        assert!(make_ulimit("nofile", 5, -1).is_ok());
        assert!(make_ulimit("nofile", 1, 1).is_ok());
        assert!(make_ulimit("nofile", -2, -1)
            .unwrap_err()
            .contains("must be -1 (unlimited)"));
        assert!(make_ulimit("nofile", 5, -2)
            .unwrap_err()
            .contains("must be -1 (unlimited)"));
        assert!(make_ulimit("nofile", -1, 5)
            .unwrap_err()
            .contains("above the hard limit"));
    }

    #[test]
    fn empty_names_and_short_lists_are_refused() {
        assert_eq!(parse_restart("on-failure:0").unwrap().max_retries, Some(0));
        assert_eq!(split_kv("k=v", "a=b"), Ok(("k", "v")));
        assert!(split_kv("=v", "a=b")
            .unwrap_err()
            .contains("write e.g. a=b"));
        assert!(split_kv("kv", "a=b").is_err());
        assert!(parse_env("").unwrap_err().contains("empty"));
        assert!(parse_label("").unwrap_err().contains("empty"));
        assert!(parse_label("=x").is_err());
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_health_test(&list(&["NONE"])).is_ok());
        assert!(check_health_test(&list(&["NONE", "x"])).is_err());
        assert!(check_health_test(&list(&["CMD", "true"])).is_ok());
        assert!(check_health_test(&list(&["CMD"])).is_err());
        assert!(check_health_test(&list(&["CMD-SHELL"])).is_err());
        assert!(check_health_test(&[]).is_err());
    }

    #[test]
    fn quoting_in_messages_is_short() {
        let long = "x".repeat(1000);
        assert!(q(&long).len() < 80);
        let uni = "é".repeat(100);
        assert!(q(&uni).chars().count() < 70);
    }
}
