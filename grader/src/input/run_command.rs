//! Parse a `docker run …` command line, as a learner types it, into a [`RunSpec`].

use crate::input::run_spec::{
    check_capability, check_cpuset, check_expose, is_propagation, parse_bool, parse_duration_ns,
    parse_env, parse_int, parse_label, parse_nano_cpus, parse_port, parse_restart, parse_size,
    parse_tmpfs, parse_ulimit, parse_volume, q, split_kv, MountKind, MountSpec, RunSpec, SpecError,
    TmpfsSpec,
};

/// Longest command line accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;
/// Most words accepted in a command line.
pub const MAX_TOKENS: usize = 512;

/// How strict the shell-word splitter is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SplitMode {
    /// Reject `$VAR`, `${…}`, `$(…)` (a command line). Compose strings allow a
    /// literal `$` since compose already did (or refused) interpolation.
    pub reject_dollar: bool,
}

fn shell_err(msg: impl std::fmt::Display) -> String {
    msg.to_string()
}

/// Split `input` into words like a POSIX shell would, without running any
/// expansion. Supports single quotes, double quotes (with `\"`, `\\`, `\$`,
/// `` \` `` escapes), backslash escapes and backslash-newline continuations.
/// Shell operators and command substitution are refused with a message.
pub(crate) fn shell_split(input: &str, mode: SplitMode) -> Result<Vec<String>, String> {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = input.chars().peekable();

    let dollar_err = || {
        shell_err(
            "shell variables such as $NAME are not expanded here; write the value itself \
             (or put it in single quotes if you mean a literal $)",
        )
    };

    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\n' | '\r' => {
                // A bare line break (\n, \r or both): only allowed if nothing
                // but whitespace follows.
                if chars.clone().all(char::is_whitespace) {
                    break;
                }
                return Err(shell_err(
                    "the command continues on a new line without a trailing backslash; \
                     end each line but the last with \\ (and no space after it), or join the lines",
                ));
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('\r') => {
                    let _ = chars.next_if_eq(&'\n');
                }
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => {} // a trailing backslash: nothing follows, ignore it
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => {
                            return Err(shell_err(
                                "a single quote (') is never closed; add the closing '",
                            ))
                        }
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => cur.push(e),
                            Some('\n') => {}
                            Some('\r') => {
                                let _ = chars.next_if_eq(&'\n');
                            }
                            Some(other) => {
                                cur.push('\\');
                                cur.push(other);
                            }
                            None => {
                                return Err(shell_err(
                                    "a double quote (\") is never closed; add the closing \"",
                                ))
                            }
                        },
                        Some('`') => {
                            return Err(shell_err(
                                "backticks (command substitution) are not supported; write the value itself",
                            ))
                        }
                        Some('$') => {
                            if mode.reject_dollar && dollar_starts_expansion(chars.peek().copied())
                            {
                                if chars.peek() == Some(&'(') {
                                    return Err(shell_err(
                                        "$( … ) (command substitution) is not supported; write the value itself",
                                    ));
                                }
                                return Err(dollar_err());
                            }
                            cur.push('$');
                        }
                        Some(n) => cur.push(n),
                        None => {
                            return Err(shell_err(
                                "a double quote (\") is never closed; add the closing \"",
                            ))
                        }
                    }
                }
            }
            ';' => {
                return Err(shell_err(
                    "`;` (several commands) is not supported; give a single docker run command",
                ))
            }
            '&' => {
                let op = if chars.peek() == Some(&'&') { "&&" } else { "&" };
                return Err(shell_err(format!(
                    "`{op}` is not supported; give a single docker run command (quote it if it is part of a value)"
                )));
            }
            '|' => {
                let op = if chars.peek() == Some(&'|') { "||" } else { "|" };
                return Err(shell_err(format!(
                    "`{op}` is not supported; give a single docker run command (quote it if it is part of a value)"
                )));
            }
            '>' | '<' => {
                return Err(shell_err(format!(
                    "redirection `{c}` is not supported; give only the docker run command (quote it if it is part of a value)"
                )))
            }
            '(' | ')' => {
                return Err(shell_err(format!(
                    "`{c}` is shell syntax that is not supported; quote it if it is part of a value"
                )))
            }
            '`' => {
                return Err(shell_err(
                    "backticks (command substitution) are not supported; write the value itself",
                ))
            }
            '$' => {
                let next = chars.peek().copied();
                if next == Some('(') {
                    return Err(shell_err(
                        "$( … ) (command substitution) is not supported; write the value itself",
                    ));
                }
                if next == Some('\'') || next == Some('"') {
                    return Err(shell_err(
                        "$'…' and $\"…\" quoting are not supported; use plain quotes",
                    ));
                }
                if mode.reject_dollar && dollar_starts_expansion(next) {
                    return Err(dollar_err());
                }
                cur.push('$');
                in_word = true;
            }
            '#' if !in_word => {
                return Err(shell_err(
                    "comments (#) are not supported; remove the comment, or quote the # if it is part of a value",
                ))
            }
            other => {
                cur.push(other);
                in_word = true;
            }
        }
        if words.len() > MAX_TOKENS {
            return Err(too_many_tokens());
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.len() > MAX_TOKENS {
        return Err(too_many_tokens());
    }
    Ok(words)
}

fn too_many_tokens() -> String {
    format!("the command has more than {MAX_TOKENS} words; shorten it")
}

/// Would `$` followed by `next` start a shell expansion?
fn dollar_starts_expansion(next: Option<char>) -> bool {
    match next {
        Some(c) => {
            c.is_alphanumeric()
                || matches!(c, '_' | '{' | '(' | '@' | '*' | '#' | '?' | '$' | '!' | '-')
        }
        None => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    Bool,
    Value,
}

struct FlagDef {
    /// Canonical long name, without dashes.
    long: &'static str,
    aliases: &'static [&'static str],
    short: Option<char>,
    arity: Arity,
}

const fn b(long: &'static str, short: Option<char>) -> FlagDef {
    FlagDef {
        long,
        aliases: &[],
        short,
        arity: Arity::Bool,
    }
}
const fn v(long: &'static str, short: Option<char>) -> FlagDef {
    FlagDef {
        long,
        aliases: &[],
        short,
        arity: Arity::Value,
    }
}

const FLAGS: &[FlagDef] = &[
    v("user", Some('u')),
    v("workdir", Some('w')),
    v("hostname", Some('h')),
    b("privileged", None),
    b("read-only", None),
    b("init", None),
    v("cap-add", None),
    v("cap-drop", None),
    v("security-opt", None),
    v("tmpfs", None),
    v("volume", Some('v')),
    v("mount", None),
    FlagDef {
        long: "network",
        aliases: &["net"],
        short: None,
        arity: Arity::Value,
    },
    v("pid", None),
    v("ipc", None),
    v("uts", None),
    v("userns", None),
    v("cgroupns", None),
    v("device", None),
    v("device-cgroup-rule", None),
    v("publish", Some('p')),
    b("publish-all", Some('P')),
    v("expose", None),
    v("memory", Some('m')),
    v("memory-swap", None),
    v("memory-reservation", None),
    b("oom-kill-disable", None),
    v("cpus", None),
    v("cpu-shares", Some('c')),
    v("cpu-quota", None),
    v("cpu-period", None),
    v("cpuset-cpus", None),
    v("pids-limit", None),
    v("ulimit", None),
    v("restart", None),
    v("health-cmd", None),
    v("health-interval", None),
    v("health-timeout", None),
    v("health-retries", None),
    v("health-start-period", None),
    b("no-healthcheck", None),
    v("log-driver", None),
    v("log-opt", None),
    v("env", Some('e')),
    v("env-file", None),
    v("label", Some('l')),
    v("group-add", None),
    v("sysctl", None),
    v("shm-size", None),
    v("stop-signal", None),
    v("cgroup-parent", None),
    v("runtime", None),
    v("platform", None),
    v("name", None),
    v("entrypoint", None),
    // Accepted, recorded in `ignored`.
    b("detach", Some('d')),
    b("rm", None),
    b("interactive", Some('i')),
    b("tty", Some('t')),
    v("pull", None),
    b("quiet", Some('q')),
    v("stop-timeout", None),
    b("sig-proxy", None),
    v("attach", Some('a')),
];

/// Real `docker run` flags that Drydock does not grade: a clearer message than "unknown".
const UNSUPPORTED_DOCKER_FLAGS: &[&str] = &[
    "add-host",
    "annotation",
    "blkio-weight",
    "blkio-weight-device",
    "cidfile",
    "cpu-count",
    "cpu-percent",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-mems",
    "device-read-bps",
    "device-read-iops",
    "device-write-bps",
    "device-write-iops",
    "disable-content-trust",
    "dns",
    "dns-option",
    "dns-opt",
    "dns-search",
    "domainname",
    "gpus",
    "health-start-interval",
    "io-maxbandwidth",
    "io-maxiops",
    "ip",
    "ip6",
    "isolation",
    "kernel-memory",
    "label-file",
    "link",
    "link-local-ip",
    "mac-address",
    "memory-swappiness",
    "network-alias",
    "net-alias",
    "oom-score-adj",
    "storage-opt",
    "volume-driver",
    "volumes-from",
    "use-api-socket",
    "detach-keys",
    "expose-all",
    "help",
];

fn find_long(name: &str) -> Option<&'static FlagDef> {
    FLAGS
        .iter()
        .find(|f| f.long == name || f.aliases.contains(&name))
}

fn find_short(c: char) -> Option<&'static FlagDef> {
    FLAGS.iter().find(|f| f.short == Some(c))
}

fn unknown_long(name: &str) -> SpecError {
    let shown = format!("--{name}");
    if UNSUPPORTED_DOCKER_FLAGS.contains(&name) {
        return SpecError(format!(
            "{shown} is a docker flag that Drydock does not grade; remove it"
        ));
    }
    SpecError(format!(
        "unknown flag {}; Drydock understands docker's run flags such as --user, --read-only, --cap-drop",
        short_flag_text(&shown)
    ))
}

fn short_flag_text(s: &str) -> String {
    if s.chars().count() > 40 {
        let t: String = s.chars().take(40).collect();
        format!("{t}…")
    } else {
        s.to_string()
    }
}

/// Is `tok` exactly a flag we know (so it can't be meant as the previous flag's value)?
fn looks_like_known_flag(tok: &str) -> bool {
    if let Some(rest) = tok.strip_prefix("--") {
        let name = rest.split_once('=').map(|(n, _)| n).unwrap_or(rest);
        return find_long(name).is_some();
    }
    if let Some(rest) = tok.strip_prefix('-') {
        let mut cs = rest.chars();
        if let (Some(c), None) = (cs.next(), cs.next()) {
            return find_short(c).is_some();
        }
    }
    false
}

/// Parse a `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]` command line.
///
/// Also accepts `docker container run …`, a leading `$ ` prompt and
/// backslash-newline continuations.
pub fn parse_run_command(input: &str) -> Result<RunSpec, SpecError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(SpecError(format!(
            "the command is longer than {} KiB; shorten it",
            MAX_INPUT_BYTES / 1024
        )));
    }
    let trimmed = input.trim_start();
    let body = match trimmed.strip_prefix('$') {
        Some(rest) if rest.starts_with([' ', '\t']) => rest,
        _ => trimmed,
    };
    let tokens = shell_split(
        body,
        SplitMode {
            reject_dollar: true,
        },
    )
    .map_err(SpecError)?;
    let mut it = tokens.iter().map(String::as_str);
    let usage = "write a command like: docker run --read-only --user 1000 alpine";
    match it.next() {
        Some("docker") => {}
        Some("podman") => {
            return Err(SpecError(format!(
                "this expects a docker command, not podman; {usage}"
            )))
        }
        Some(_) | None => {
            return Err(SpecError(format!(
                "the command must start with docker run; {usage}"
            )))
        }
    }
    match it.next() {
        Some("run") => {}
        Some("container") => {
            if it.next() != Some("run") {
                return Err(SpecError(format!(
                    "only docker container run is understood; {usage}"
                )));
            }
        }
        Some(other) => {
            return Err(SpecError(format!(
                "only docker run is understood, not docker {}; {usage}",
                short_flag_text(other)
            )))
        }
        None => return Err(SpecError(format!("docker run is missing; {usage}"))),
    }
    let rest: Vec<&str> = it.collect();
    parse_run_args(&rest)
}

/// Parse the arguments after `docker run`.
fn parse_run_args(args: &[&str]) -> Result<RunSpec, SpecError> {
    let mut spec = RunSpec::default();
    let mut st = State::default();
    let mut i = 0;
    let mut image_at: Option<usize> = None;
    while i < args.len() {
        let tok = args[i];
        i += 1;
        if tok == "--" {
            image_at = Some(i);
            break;
        }
        if let Some(body) = tok.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, val)) => (n, Some(val)),
                None => (body, None),
            };
            let def = find_long(name).ok_or_else(|| unknown_long(name))?;
            let written = format!("--{name}");
            match def.arity {
                Arity::Bool => {
                    let val = match inline {
                        None => true,
                        Some(s) => parse_bool(s).ok_or_else(|| {
                            SpecError(format!(
                                "{written}: {} is not true or false; write {written} or {written}=false",
                                q(s)
                            ))
                        })?,
                    };
                    apply_bool(&mut spec, &mut st, def.long, val, tok)?;
                }
                Arity::Value => {
                    let val = match inline {
                        Some(s) => s,
                        None => take_value(args, &mut i, &written)?,
                    };
                    apply_value(&mut spec, &mut st, def.long, &written, val)?;
                }
            }
            continue;
        }
        if tok.len() > 1 && tok.starts_with('-') {
            // One or more short flags: -it, -u1000, -u=1000, -dit.
            let body = &tok[1..];
            let mut pos = 0;
            while let Some(c) = body[pos..].chars().next() {
                pos += c.len_utf8();
                let Some(def) = find_short(c) else {
                    let extra = if body.chars().count() > 1 {
                        format!(" (in {})", short_flag_text(tok))
                    } else {
                        String::new()
                    };
                    return Err(SpecError(format!(
                        "unknown flag -{c}{extra}; Drydock understands docker's run flags such as -u, -v, -e, -p and --read-only"
                    )));
                };
                let written = format!("-{c}");
                let rest = &body[pos..];
                match def.arity {
                    Arity::Bool => {
                        if let Some(val) = rest.strip_prefix('=') {
                            let b = parse_bool(val).ok_or_else(|| {
                                SpecError(format!("{written}: {} is not true or false", q(val)))
                            })?;
                            apply_bool(&mut spec, &mut st, def.long, b, &written)?;
                            pos = body.len();
                        } else {
                            apply_bool(&mut spec, &mut st, def.long, true, &written)?;
                        }
                    }
                    Arity::Value => {
                        let val = if rest.is_empty() {
                            take_value(args, &mut i, &written)?
                        } else {
                            rest.strip_prefix('=').unwrap_or(rest)
                        };
                        apply_value(&mut spec, &mut st, def.long, &written, val)?;
                        pos = body.len();
                    }
                }
            }
            continue;
        }
        image_at = Some(i - 1);
        break;
    }
    let Some(at) = image_at.filter(|&at| at < args.len()) else {
        return Err(SpecError(
            "no image given; put the image after the flags, e.g. docker run --read-only alpine"
                .into(),
        ));
    };
    let image = args[at];
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(SpecError(format!(
            "{} is not an image name; write e.g. alpine:3.20 or nginx",
            q(image)
        )));
    }
    spec.image = image.to_string();
    spec.command = args[at + 1..].iter().map(|s| s.to_string()).collect();

    if st.no_healthcheck && st.health_flags {
        return Err(SpecError(
            "--no-healthcheck conflicts with the --health-* flags; use one or the other".into(),
        ));
    }
    Ok(spec)
}

#[derive(Default)]
struct State {
    no_healthcheck: bool,
    health_flags: bool,
}

fn take_value<'a>(args: &[&'a str], i: &mut usize, written: &str) -> Result<&'a str, SpecError> {
    match args.get(*i) {
        None => Err(SpecError(format!(
            "{written} needs a value, but nothing follows it; write e.g. {}",
            example_for(written)
        ))),
        Some(next) if looks_like_known_flag(next) => Err(SpecError(format!(
            "{written} needs a value, but the next word is the flag {}; write e.g. {}",
            short_flag_text(next),
            example_for(written)
        ))),
        Some(next) => {
            *i += 1;
            Ok(next)
        }
    }
}

fn example_for(written: &str) -> String {
    let name = written.trim_start_matches('-');
    let def = if name.chars().count() == 1 {
        name.chars().next().and_then(find_short)
    } else {
        find_long(name)
    };
    let ex = match def.map(|d| d.long).unwrap_or("") {
        "user" => "1000:1000",
        "workdir" => "/app",
        "cap-add" => "NET_BIND_SERVICE",
        "cap-drop" => "ALL",
        "security-opt" => "no-new-privileges",
        "tmpfs" => "/tmp:rw,noexec,nosuid,size=16m",
        "volume" => "/host/dir:/data:ro",
        "mount" => "type=bind,source=/host/dir,target=/data,readonly",
        "publish" => "8080:80",
        "memory" | "memory-reservation" | "shm-size" => "256m",
        "memory-swap" => "512m",
        "cpus" => "0.5",
        "pids-limit" => "100",
        "ulimit" => "nofile=1024:2048",
        "restart" => "on-failure:3",
        "env" => "MODE=production",
        "label" => "team=web",
        "health-cmd" => "'wget -q --spider http://localhost/'",
        "health-interval" | "health-timeout" | "health-start-period" => "30s",
        _ => "",
    };
    if ex.is_empty() {
        format!("{written} VALUE")
    } else {
        format!("{written} {ex}")
    }
}

fn apply_bool(
    spec: &mut RunSpec,
    st: &mut State,
    long: &str,
    val: bool,
    written: &str,
) -> Result<(), SpecError> {
    match long {
        "privileged" => spec.privileged = val,
        "read-only" => spec.read_only = val,
        "init" => spec.init = val,
        "publish-all" => spec.publish_all = val,
        "oom-kill-disable" => spec.oom_kill_disable = val,
        "no-healthcheck" => {
            st.no_healthcheck = val;
            spec.health.test = if val { Some(vec!["NONE".into()]) } else { None };
        }
        _ => spec.ignored.push(written.to_string()),
    }
    Ok(())
}

fn apply_value(
    spec: &mut RunSpec,
    st: &mut State,
    long: &str,
    written: &str,
    val: &str,
) -> Result<(), SpecError> {
    let fail = |msg: String| SpecError(format!("{written}: {msg}"));
    let nonempty = |ex: &str| -> Result<String, SpecError> {
        if val.is_empty() {
            Err(SpecError(format!(
                "{written} is empty; write e.g. {written} {ex}"
            )))
        } else {
            Ok(val.to_string())
        }
    };
    match long {
        "user" => spec.user = Some(nonempty("1000:1000")?),
        "workdir" => {
            if !val.starts_with('/') {
                return Err(fail(format!(
                    "{} must be an absolute path; write e.g. /app",
                    q(val)
                )));
            }
            spec.workdir = Some(val.to_string());
        }
        "hostname" => spec.hostname = Some(nonempty("web")?),
        "cap-add" | "cap-drop" => {
            check_capability(val).map_err(fail)?;
            if long == "cap-add" {
                spec.cap_add.push(val.to_string());
            } else {
                spec.cap_drop.push(val.to_string());
            }
        }
        "security-opt" => spec.security_opt.push(nonempty("no-new-privileges")?),
        "tmpfs" => spec.tmpfs.push(parse_tmpfs(val).map_err(fail)?),
        "volume" => spec.mounts.push(parse_volume(val).map_err(fail)?),
        "mount" => match parse_mount(val).map_err(fail)? {
            Mount::Tmpfs(t) => spec.tmpfs.push(t),
            Mount::Other(m) => spec.mounts.push(m),
        },
        "network" => spec.network = Some(nonempty("none")?),
        "pid" => spec.pid = Some(nonempty("host")?),
        "ipc" => spec.ipc = Some(nonempty("private")?),
        "uts" => spec.uts = Some(nonempty("host")?),
        "userns" => spec.userns = Some(nonempty("host")?),
        "cgroupns" => spec.cgroupns = Some(nonempty("private")?),
        "device" => spec.devices.push(nonempty("/dev/fuse")?),
        "device-cgroup-rule" => spec.device_cgroup_rules.push(nonempty("'c 1:3 mr'")?),
        "publish" => spec.publish.push(parse_port(val).map_err(fail)?),
        "expose" => {
            check_expose(val).map_err(fail)?;
            spec.expose.push(val.to_string());
        }
        "memory" => spec.memory = Some(parse_size(val).map_err(fail)?),
        "memory-reservation" => spec.memory_reservation = Some(parse_size(val).map_err(fail)?),
        "shm-size" => spec.shm_size = Some(parse_size(val).map_err(fail)?),
        "memory-swap" => {
            spec.memory_swap = Some(if val.trim() == "-1" {
                -1
            } else {
                parse_size(val).map_err(|e| fail(format!("{e} (or -1 for unlimited)")))?
            })
        }
        "cpus" => spec.nano_cpus = Some(parse_nano_cpus(val).map_err(fail)?),
        "cpu-shares" => {
            let n = parse_int(val, "512").map_err(fail)?;
            if n < 0 {
                return Err(fail("can't be negative; write e.g. 512".into()));
            }
            spec.cpu_shares = Some(n);
        }
        "cpu-quota" => spec.cpu_quota = Some(parse_int(val, "50000").map_err(fail)?),
        "cpu-period" => {
            let n = parse_int(val, "100000").map_err(fail)?;
            if n < 0 {
                return Err(fail("can't be negative; write e.g. 100000".into()));
            }
            spec.cpu_period = Some(n);
        }
        "cpuset-cpus" => {
            check_cpuset(val).map_err(fail)?;
            spec.cpuset_cpus = Some(val.to_string());
        }
        "pids-limit" => {
            let n = parse_int(val, "100").map_err(fail)?;
            if n < -1 {
                return Err(fail(format!(
                    "{} is below -1; write a limit such as 100, or -1 for unlimited",
                    q(val)
                )));
            }
            spec.pids_limit = Some(n);
        }
        "ulimit" => spec.ulimits.push(parse_ulimit(val).map_err(fail)?),
        "restart" => spec.restart = Some(parse_restart(val).map_err(fail)?),
        "health-cmd" => {
            st.health_flags = true;
            spec.health.test = Some(vec![
                "CMD-SHELL".into(),
                nonempty("'curl -f http://localhost/'")?,
            ]);
        }
        "health-interval" => {
            st.health_flags = true;
            spec.health.interval_ns = Some(parse_duration_ns(val).map_err(fail)?);
        }
        "health-timeout" => {
            st.health_flags = true;
            spec.health.timeout_ns = Some(parse_duration_ns(val).map_err(fail)?);
        }
        "health-start-period" => {
            st.health_flags = true;
            spec.health.start_period_ns = Some(parse_duration_ns(val).map_err(fail)?);
        }
        "health-retries" => {
            st.health_flags = true;
            let n = parse_int(val, "3").map_err(fail)?;
            if n < 0 {
                return Err(fail("can't be negative; write e.g. 3".into()));
            }
            spec.health.retries = Some(n);
        }
        "log-driver" => spec.log_driver = Some(nonempty("json-file")?),
        "log-opt" => {
            let (k, v) = split_kv(val, "max-size=10m").map_err(fail)?;
            spec.log_opts.push((k.to_string(), v.to_string()));
        }
        "env" => spec.env.push(parse_env(val).map_err(fail)?),
        "env-file" => spec.env_files.push(nonempty("./app.env")?),
        "label" => spec.labels.push(parse_label(val).map_err(fail)?),
        "group-add" => spec.group_add.push(nonempty("audio")?),
        "sysctl" => {
            let (k, v) = split_kv(val, "net.ipv4.ip_unprivileged_port_start=0").map_err(fail)?;
            spec.sysctls.push((k.to_string(), v.to_string()));
        }
        "stop-signal" => spec.stop_signal = Some(nonempty("SIGTERM")?),
        "cgroup-parent" => spec.cgroup_parent = Some(nonempty("/mygroup")?),
        "runtime" => spec.runtime = Some(nonempty("runc")?),
        "platform" => spec.platform = Some(nonempty("linux/amd64")?),
        "name" => {
            spec.name = Some(nonempty("web")?);
            spec.ignored.push(format!("{written} {val}"));
        }
        "entrypoint" => {
            spec.entrypoint = Some(if val.is_empty() {
                Vec::new()
            } else {
                vec![val.to_string()]
            })
        }
        // pull, stop-timeout, attach
        _ => spec.ignored.push(format!("{written} {val}")),
    }
    Ok(())
}

enum Mount {
    Tmpfs(TmpfsSpec),
    Other(MountSpec),
}

/// Parse docker's `--mount` CSV syntax.
fn parse_mount(s: &str) -> Result<Mount, String> {
    let hint = "write e.g. type=bind,source=/host/dir,target=/data,readonly";
    let mut kind: Option<MountKind> = None;
    let mut source: Option<String> = None;
    let mut target: Option<String> = None;
    let mut read_only = false;
    let mut propagation: Option<String> = None;
    let mut bind_opts: Vec<String> = Vec::new();
    let mut vol_opts: Vec<String> = Vec::new();
    let mut tmpfs_opts: Vec<String> = Vec::new();
    for field in s.split(',') {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| -> Result<String, String> {
            match v {
                Some(x) if !x.is_empty() => Ok(x.to_string()),
                _ => Err(format!("{key} needs a value; {hint}")),
            }
        };
        match key.as_str() {
            "type" => {
                kind = Some(match val.unwrap_or("") {
                    "bind" => MountKind::Bind,
                    "volume" => MountKind::Volume,
                    "tmpfs" => MountKind::Tmpfs,
                    other => {
                        return Err(format!(
                            "type={} is not supported; use type=bind, type=volume or type=tmpfs",
                            q(other)
                        ))
                    }
                })
            }
            "source" | "src" => source = Some(need(val)?),
            "target" | "dst" | "destination" => target = Some(need(val)?),
            "readonly" | "ro" => {
                read_only = match val {
                    None => true,
                    Some(v) => parse_bool(v).ok_or_else(|| {
                        format!("{key}={} is not true or false; write {key} or {key}=false", q(v))
                    })?,
                }
            }
            "bind-propagation" => {
                let p = need(val)?;
                if !is_propagation(&p) {
                    return Err(format!(
                        "bind-propagation={} is not valid; use shared, rshared, slave, rslave, private or rprivate",
                        q(&p)
                    ));
                }
                propagation = Some(p);
            }
            "bind-nonrecursive" | "bind-recursive" | "bind-create-src" | "consistency" => {
                bind_opts.push(field.to_string())
            }
            "volume-driver" | "volume-label" | "volume-nocopy" | "volume-opt"
            | "volume-subpath" => vol_opts.push(field.to_string()),
            "tmpfs-size" => {
                let v = need(val)?;
                parse_size(&v).map_err(|e| format!("tmpfs-size: {e}"))?;
                tmpfs_opts.push(format!("size={v}"));
            }
            "tmpfs-mode" => {
                let v = need(val)?;
                if !v.bytes().all(|b| (b'0'..=b'7').contains(&b)) || v.len() > 5 {
                    return Err(format!(
                        "tmpfs-mode={} is not an octal mode; write e.g. tmpfs-mode=1770",
                        q(&v)
                    ));
                }
                tmpfs_opts.push(format!("mode={v}"));
            }
            _ => {
                return Err(format!(
                    "unknown option {}; use type, source, target, readonly, bind-propagation, volume-opt, tmpfs-size or tmpfs-mode",
                    q(&key)
                ))
            }
        }
    }
    let kind = kind.unwrap_or(MountKind::Volume);
    let target = target.ok_or_else(|| format!("no target given; {hint}"))?;
    if !target.starts_with('/') {
        return Err(format!(
            "target {} must be an absolute path; {hint}",
            q(&target)
        ));
    }
    match kind {
        MountKind::Tmpfs => {
            if source.is_some() {
                return Err("a tmpfs mount has no source; remove source=".into());
            }
            if !bind_opts.is_empty() || !vol_opts.is_empty() || propagation.is_some() {
                return Err("bind-* and volume-* options don't apply to type=tmpfs".into());
            }
            let mut options = Vec::new();
            if read_only {
                options.push("ro".to_string());
            }
            options.extend(tmpfs_opts);
            Ok(Mount::Tmpfs(TmpfsSpec { target, options }))
        }
        MountKind::Bind | MountKind::Volume => {
            if !tmpfs_opts.is_empty() {
                return Err("tmpfs-size and tmpfs-mode only apply to type=tmpfs".into());
            }
            if kind == MountKind::Bind && source.is_none() {
                return Err(format!("a bind mount needs source=; {hint}"));
            }
            if kind == MountKind::Bind && !vol_opts.is_empty() {
                return Err("volume-* options don't apply to type=bind".into());
            }
            if kind == MountKind::Volume && (propagation.is_some() || !bind_opts.is_empty()) {
                return Err("bind-* options don't apply to type=volume".into());
            }
            let mut options = bind_opts;
            options.extend(vol_opts);
            Ok(Mount::Other(MountSpec {
                kind,
                source,
                target,
                read_only,
                propagation,
                options,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::run_spec::{PortSpec, RestartSpec, UlimitSpec};
    use proptest::prelude::*;

    fn p(s: &str) -> RunSpec {
        match parse_run_command(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?} failed: {e}"),
        }
    }
    fn e(s: &str) -> String {
        match parse_run_command(s) {
            Ok(r) => panic!("{s:?} parsed: {r:?}"),
            Err(e) => e.0,
        }
    }
    fn split(s: &str) -> Result<Vec<String>, String> {
        shell_split(
            s,
            SplitMode {
                reject_dollar: true,
            },
        )
    }

    #[test]
    fn tokeniser_quotes_and_escapes() {
        assert_eq!(split("a 'b c' \"d e\"").unwrap(), vec!["a", "b c", "d e"]);
        assert_eq!(
            split(r#"a\ b "x\"y" "p\\q" "\$HOME" 'it'\''s'"#).unwrap(),
            vec!["a b", "x\"y", "p\\q", "$HOME", "it's"]
        );
        assert_eq!(split(r#""a\nb""#).unwrap(), vec!["a\\nb"]);
        assert_eq!(split("'' \"\"").unwrap(), vec!["", ""]);
        assert_eq!(split("a\\\n  b").unwrap(), vec!["a", "b"]);
        assert_eq!(split("a\\\r\n  b").unwrap(), vec!["a", "b"]);
        assert_eq!(split("a'$HOME'").unwrap(), vec!["a$HOME"]);
        assert_eq!(split("cost $ 5 $").unwrap(), vec!["cost", "$", "5", "$"]);
        assert_eq!(split("a#b").unwrap(), vec!["a#b"]);
        assert_eq!(split("a\n").unwrap(), vec!["a"]);
        assert_eq!(split("ünï cødé").unwrap(), vec!["ünï", "cødé"]);
        assert!(split("'abc").unwrap_err().contains("single quote"));
        assert!(split("\"abc").unwrap_err().contains("double quote"));
        assert!(split("\"abc\\").unwrap_err().contains("double quote"));
        assert!(split("a; b").unwrap_err().contains(';'));
        assert!(split("a && b").unwrap_err().contains("&&"));
        assert!(split("a || b").unwrap_err().contains("||"));
        assert!(split("a | b").unwrap_err().contains('|'));
        assert!(split("a > f").unwrap_err().contains("redirection"));
        assert!(split("a < f").unwrap_err().contains("redirection"));
        assert!(split("a `id`").unwrap_err().contains("backticks"));
        assert!(split("a \"`id`\"").unwrap_err().contains("backticks"));
        assert!(split("a $(id)").unwrap_err().contains("$("));
        assert!(split("a \"$(id)\"").unwrap_err().contains("$("));
        assert!(split("a $HOME")
            .unwrap_err()
            .contains("write the value itself"));
        assert!(split("a ${HOME}")
            .unwrap_err()
            .contains("write the value itself"));
        assert!(split("a \"$HOME\"")
            .unwrap_err()
            .contains("write the value itself"));
        assert!(split("a\nb").unwrap_err().contains("backslash"));
        assert!(split("a # c").unwrap_err().contains("comments"));
        // compose mode: literal $ allowed
        assert_eq!(
            shell_split(
                "echo $HOME",
                SplitMode {
                    reject_dollar: false
                }
            )
            .unwrap(),
            vec!["echo", "$HOME"]
        );
    }

    #[test]
    fn prefixes_and_structure() {
        assert_eq!(p("docker run alpine").image, "alpine");
        assert_eq!(p("$ docker run alpine").image, "alpine");
        assert_eq!(p("  docker container run alpine").image, "alpine");
        let r = p("docker run alpine sh -c 'echo hi; id'");
        assert_eq!(r.command, vec!["sh", "-c", "echo hi; id"]);
        let r = p("docker run --read-only alpine --user 5");
        assert_eq!(r.command, vec!["--user", "5"]);
        assert_eq!(r.user, None);
        let r = p("docker run --read-only -- alpine -x");
        assert_eq!(r.image, "alpine");
        assert_eq!(r.command, vec!["-x"]);
        let r = p("docker run \\\n  --read-only \\\n  --user 1000 \\\n  alpine\n");
        assert!(r.read_only);
        assert_eq!(r.user.as_deref(), Some("1000"));
        assert!(e("docker run").contains("no image"));
        assert!(e("docker run --rm").contains("no image"));
        assert!(e("docker run --").contains("no image"));
        assert!(e("run alpine").contains("docker run"));
        assert!(e("docker build .").contains("docker run"));
        assert!(e("docker container ls").contains("docker container run"));
        assert!(e("").contains("docker run"));
        assert!(e("docker").contains("docker run"));
        assert!(e("docker run '' ").contains("image"));
    }

    #[test]
    fn limits() {
        let long = format!("docker run {} alpine", "-d ".repeat(6000));
        assert!(e(&long).contains("KiB"));
        let many = format!("docker run {} alpine", "-d ".repeat(600));
        assert!(e(&many).contains("512 words"));
        let ok = format!("docker run {}alpine", "-d ".repeat(500));
        assert_eq!(p(&ok).ignored.len(), 500);
    }

    #[test]
    fn flag_syntaxes() {
        let r = p("docker run -u 1000 alpine");
        assert_eq!(r.user.as_deref(), Some("1000"));
        assert_eq!(p("docker run -u1000 alpine").user.as_deref(), Some("1000"));
        assert_eq!(p("docker run -u=1000 alpine").user.as_deref(), Some("1000"));
        assert_eq!(
            p("docker run --user=1000:1000 alpine").user.as_deref(),
            Some("1000:1000")
        );
        assert_eq!(
            p("docker run --user 'app' alpine").user.as_deref(),
            Some("app")
        );
        let r = p("docker run -it --rm -d alpine");
        assert_eq!(r.ignored, vec!["-i", "-t", "--rm", "-d"]);
        let r = p("docker run -dit alpine");
        assert_eq!(r.ignored, vec!["-d", "-i", "-t"]);
        let r = p("docker run -itu 1000 alpine");
        assert_eq!(r.user.as_deref(), Some("1000"));
        let r = p("docker run -itu1000 alpine");
        assert_eq!(r.user.as_deref(), Some("1000"));
        let r = p("docker run -Pit alpine");
        assert!(r.publish_all);
        assert!(p("docker run --read-only alpine").read_only);
        assert!(p("docker run --read-only=true alpine").read_only);
        assert!(!p("docker run --read-only=false alpine").read_only);
        assert!(!p("docker run --privileged --privileged=false alpine").privileged);
        assert!(p("docker run --privileged alpine").privileged);
        assert!(p("docker run --init alpine").init);
        assert!(e("docker run --read-only=yes alpine").contains("--read-only"));
        assert!(e("docker run --foo alpine").contains("unknown flag --foo; Drydock understands docker's run flags such as --user, --read-only, --cap-drop"));
        assert!(e("docker run -x alpine").contains("unknown flag -x"));
        assert!(e("docker run -itx alpine").contains("unknown flag -x (in -itx)"));
        assert!(e("docker run --add-host a:1.2.3.4 alpine").contains("does not grade"));
        assert!(e("docker run --user").contains("--user needs a value"));
        assert!(e("docker run -u").contains("-u needs a value"));
        assert!(
            e("docker run --user --read-only alpine").contains("next word is the flag --read-only")
        );
        assert!(e("docker run --user -d alpine").contains("--user needs a value"));
        assert!(e("docker run --user= alpine").contains("--user is empty"));
        assert!(e("docker run -dé alpine").contains("unknown flag -é"));
        // -1 values are values, not flags
        assert_eq!(p("docker run --pids-limit -1 alpine").pids_limit, Some(-1));
        assert_eq!(
            p("docker run --memory-swap -1 alpine").memory_swap,
            Some(-1)
        );
    }

    #[test]
    fn identity_and_namespaces() {
        let r = p("docker run -w /app -h box --network none --pid host --ipc private --uts host --userns host --cgroupns private alpine");
        assert_eq!(r.workdir.as_deref(), Some("/app"));
        assert_eq!(r.hostname.as_deref(), Some("box"));
        assert_eq!(r.network.as_deref(), Some("none"));
        assert_eq!(r.pid.as_deref(), Some("host"));
        assert_eq!(r.ipc.as_deref(), Some("private"));
        assert_eq!(r.uts.as_deref(), Some("host"));
        assert_eq!(r.userns.as_deref(), Some("host"));
        assert_eq!(r.cgroupns.as_deref(), Some("private"));
        assert_eq!(
            p("docker run --net=host alpine").network.as_deref(),
            Some("host")
        );
        assert!(e("docker run -w app alpine").contains("-w: \"app\" must be an absolute path"));
        let r = p("docker run --group-add audio --group-add 44 --runtime runsc --platform linux/arm64 --cgroup-parent /g --stop-signal SIGINT --name web alpine");
        assert_eq!(r.group_add, vec!["audio", "44"]);
        assert_eq!(r.runtime.as_deref(), Some("runsc"));
        assert_eq!(r.platform.as_deref(), Some("linux/arm64"));
        assert_eq!(r.cgroup_parent.as_deref(), Some("/g"));
        assert_eq!(r.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.ignored, vec!["--name web"]);
    }

    #[test]
    fn caps_and_security_opts() {
        let r = p("docker run --cap-drop ALL --cap-drop=net_raw --cap-add CAP_CHOWN --security-opt no-new-privileges --security-opt=seccomp=unconfined --security-opt no-new-privileges:true alpine");
        assert_eq!(r.cap_drop, vec!["ALL", "net_raw"]);
        assert_eq!(r.cap_add, vec!["CAP_CHOWN"]);
        assert_eq!(
            r.security_opt,
            vec![
                "no-new-privileges",
                "seccomp=unconfined",
                "no-new-privileges:true"
            ]
        );
        assert!(e("docker run --cap-add NET_ADMIN,SYS_ADMIN alpine").starts_with("--cap-add:"));
        assert!(e("docker run --security-opt '' alpine").contains("--security-opt is empty"));
    }

    #[test]
    fn tmpfs_volumes_mounts() {
        let r = p("docker run --tmpfs /tmp --tmpfs /run:rw,noexec,nosuid,size=16m alpine");
        assert_eq!(
            r.tmpfs[0],
            TmpfsSpec {
                target: "/tmp".into(),
                options: vec![]
            }
        );
        assert_eq!(
            r.tmpfs[1].options,
            vec!["rw", "noexec", "nosuid", "size=16m"]
        );
        let r = p(
            "docker run -v /srv:/data:ro -v cache:/cache --volume ./x:/x:Z,rshared -v /anon alpine",
        );
        assert_eq!(r.mounts.len(), 4);
        assert_eq!(r.mounts[0].kind, MountKind::Bind);
        assert!(r.mounts[0].read_only);
        assert_eq!(r.mounts[1].kind, MountKind::Volume);
        assert_eq!(r.mounts[2].options, vec!["Z"]);
        assert_eq!(r.mounts[2].propagation.as_deref(), Some("rshared"));
        assert_eq!(r.mounts[3].source, None);
        assert!(e("docker run -v data alpine").starts_with("-v: "));
        assert!(e("docker run --tmpfs tmp alpine").starts_with("--tmpfs: "));
        let r = p("docker run --mount type=bind,source=/srv,target=/data,readonly,bind-propagation=rslave alpine");
        assert_eq!(
            r.mounts[0],
            MountSpec {
                kind: MountKind::Bind,
                source: Some("/srv".into()),
                target: "/data".into(),
                read_only: true,
                propagation: Some("rslave".into()),
                options: vec![]
            }
        );
        let r =
            p("docker run --mount type=volume,src=v,dst=/v,ro=false,volume-opt=type=nfs alpine");
        assert_eq!(r.mounts[0].kind, MountKind::Volume);
        assert!(!r.mounts[0].read_only);
        assert_eq!(r.mounts[0].options, vec!["volume-opt=type=nfs"]);
        let r = p("docker run --mount target=/v alpine");
        assert_eq!(r.mounts[0].kind, MountKind::Volume);
        let r = p(
            "docker run --mount type=tmpfs,destination=/tmp,tmpfs-size=64m,tmpfs-mode=1770 alpine",
        );
        assert!(r.mounts.is_empty());
        assert_eq!(
            r.tmpfs[0],
            TmpfsSpec {
                target: "/tmp".into(),
                options: vec!["size=64m".into(), "mode=1770".into()]
            }
        );
        assert!(e("docker run --mount type=bind,target=/x alpine")
            .contains("--mount: a bind mount needs source="));
        assert!(e("docker run --mount type=nfs,target=/x alpine").contains("--mount: type="));
        assert!(
            e("docker run --mount type=tmpfs,target=/x,tmpfs-size=lots alpine")
                .contains("tmpfs-size")
        );
        assert!(
            e("docker run --mount type=tmpfs,target=/x,tmpfs-mode=999 alpine")
                .contains("tmpfs-mode")
        );
        assert!(
            e("docker run --mount type=bind,src=/a,target=/x,bogus=1 alpine").contains("bogus")
        );
        assert!(e("docker run --mount type=bind,src=/a alpine").contains("no target"));
        assert!(e("docker run --mount type=bind,src=/a,dst=rel alpine").contains("absolute"));
        assert!(e("docker run --mount type=tmpfs,src=/a,dst=/x alpine").contains("no source"));
        assert!(
            e("docker run --mount type=bind,src=/a,dst=/x,readonly=maybe alpine")
                .contains("readonly")
        );
    }

    #[test]
    fn words_quotes_and_their_bounds() {
        let keep = SplitMode {
            reject_dollar: false,
        };
        assert_eq!(
            shell_split("\"$A\" $B", keep),
            Ok(vec!["$A".to_string(), "$B".to_string()])
        );
        assert_eq!(
            split("\"$ x\" 'a$B'"),
            Ok(vec!["$ x".to_string(), "a$B".to_string()])
        );
        assert!(split("\"$A\"").unwrap_err().contains("not expanded here"));
        assert!(split("a $'x'")
            .unwrap_err()
            .contains("$'…' and $\"…\" quoting"));
        assert!(split("a $\"x\"")
            .unwrap_err()
            .contains("$'…' and $\"…\" quoting"));
        assert!(split("a\r\n\n ").is_ok());
        assert!(split("a\r\nb")
            .unwrap_err()
            .contains("continues on a new line"));
        // At most MAX_TOKENS words, with or without a space after the last.
        let words = |n: usize| vec!["w"; n].join(" ");
        assert_eq!(split(&words(MAX_TOKENS)).map(|w| w.len()), Ok(MAX_TOKENS));
        assert_eq!(
            split(&format!("{} ", words(MAX_TOKENS))).map(|w| w.len()),
            Ok(MAX_TOKENS)
        );
        assert!(split(&words(MAX_TOKENS + 1))
            .unwrap_err()
            .contains("more than 512 words"));
        assert!(split(&format!("{} ", words(MAX_TOKENS + 1)))
            .unwrap_err()
            .contains("more than 512 words"));
        let at_limit = format!("docker run alpine {}", "x".repeat(MAX_INPUT_BYTES - 18));
        assert_eq!(at_limit.len(), MAX_INPUT_BYTES);
        assert!(parse_run_command(&at_limit).is_ok());
        assert!(e(&format!("{at_limit}x")).contains("longer than 16 KiB"));
    }

    #[test]
    fn flags_that_lack_a_value_or_are_unknown_say_so() {
        assert!(e("$docker run alpine").contains("not expanded here"));
        assert_eq!(p("$ docker run alpine").image, "alpine");
        // A lone "-" is a word, as docker's own flag parser reads it.
        assert_eq!(p("docker run - alpine").image, "-");
        assert_eq!(
            p("docker run -e --bogus alpine").env,
            vec![("--bogus".to_string(), None)]
        );
        assert_eq!(
            p("docker run -e -- alpine").env,
            vec![("--".to_string(), None)]
        );
        assert!(e("docker run -e --user alpine").contains("the next word is the flag --user"));
        assert_eq!(p("docker run --cpu-shares 0 alpine").cpu_shares, Some(0));
        assert!(e("docker run --cpu-shares -1 alpine").contains("can't be negative"));
        assert_eq!(
            p("docker run --health-retries 0 alpine").health.retries,
            Some(0)
        );
        assert!(e("docker run --health-retries -1 alpine").contains("can't be negative"));
        assert!(e("docker run -Z alpine").starts_with("unknown flag -Z; "));
        assert!(e("docker run -iZ alpine").starts_with("unknown flag -Z (in -iZ); "));
        let flag = format!("--{}", "x".repeat(38));
        assert!(e(&format!("docker run {flag} alpine")).contains(&format!("unknown flag {flag};")));
        assert!(
            e(&format!("docker run {flag}y alpine")).contains(&format!("unknown flag {flag}…;"))
        );
        for (flag, example) in [
            ("--user", "1000:1000"),
            ("-u", "1000:1000"),
            ("-w", "/app"),
            ("--cap-add", "NET_BIND_SERVICE"),
            ("--cap-drop", "ALL"),
            ("--security-opt", "no-new-privileges"),
            ("--tmpfs", "/tmp:rw,noexec,nosuid,size=16m"),
            ("-v", "/host/dir:/data:ro"),
            (
                "--mount",
                "type=bind,source=/host/dir,target=/data,readonly",
            ),
            ("-p", "8080:80"),
            ("-m", "256m"),
            ("--memory-reservation", "256m"),
            ("--shm-size", "256m"),
            ("--memory-swap", "512m"),
            ("--cpus", "0.5"),
            ("--pids-limit", "100"),
            ("--ulimit", "nofile=1024:2048"),
            ("--restart", "on-failure:3"),
            ("-e", "MODE=production"),
            ("-l", "team=web"),
            ("--health-cmd", "'wget -q --spider http://localhost/'"),
            ("--health-interval", "30s"),
            ("--health-timeout", "30s"),
            ("--health-start-period", "30s"),
            ("--name", "VALUE"),
        ] {
            let err = e(&format!("docker run {flag}"));
            assert!(
                err.ends_with(&format!("nothing follows it; write e.g. {flag} {example}")),
                "{flag}: {err}"
            );
        }
    }

    #[test]
    fn mount_options_belong_to_their_type() {
        let m = |opts: &str| format!("docker run --mount {opts} alpine");
        assert!(e(&m("type=bind,src=,dst=/x")).contains("src needs a value"));
        let r = p(&m(
            "type=bind,src=/a,dst=/x,bind-nonrecursive,consistency=cached",
        ));
        assert_eq!(
            r.mounts[0].options,
            vec!["bind-nonrecursive", "consistency=cached"]
        );
        assert_eq!(
            p(&m("type=tmpfs,dst=/x,tmpfs-mode=17777")).tmpfs[0].options,
            vec!["mode=17777"]
        );
        assert!(e(&m("type=tmpfs,dst=/x,tmpfs-mode=177777")).contains("not an octal mode"));
        for opt in ["bind-recursive", "volume-nocopy", "bind-propagation=rslave"] {
            let err = e(&m(&format!("type=tmpfs,dst=/x,{opt}")));
            assert!(err.contains("don't apply to type=tmpfs"), "{opt}: {err}");
        }
        for opt in ["bind-recursive", "bind-propagation=rslave"] {
            let err = e(&m(&format!("type=volume,src=v,dst=/x,{opt}")));
            assert!(err.contains("don't apply to type=volume"), "{opt}: {err}");
        }
    }

    #[test]
    fn ports_and_devices() {
        let r = p("docker run -p 8080:80 -p 127.0.0.1:53:53/udp --publish '[::1]:8443:443' -p 9000 --expose 80 --expose=81/udp alpine");
        assert_eq!(
            r.publish[0],
            PortSpec {
                host_ip: None,
                host_port: Some("8080".into()),
                container_port: "80".into(),
                protocol: "tcp".into()
            }
        );
        assert_eq!(r.publish[1].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(r.publish[1].protocol, "udp");
        assert_eq!(r.publish[2].host_ip.as_deref(), Some("::1"));
        assert_eq!(r.publish[2].host_port.as_deref(), Some("8443"));
        assert_eq!(r.publish[3].host_port, None);
        assert_eq!(r.expose, vec!["80", "81/udp"]);
        assert!(p("docker run -P alpine").publish_all);
        assert!(p("docker run --publish-all alpine").publish_all);
        assert!(e("docker run -p 80:http alpine").starts_with("-p: "));
        assert!(e("docker run --expose web alpine").starts_with("--expose: "));
        let r = p("docker run --device /dev/fuse --device-cgroup-rule 'c 10:229 rwm' alpine");
        assert_eq!(r.devices, vec!["/dev/fuse"]);
        assert_eq!(r.device_cgroup_rules, vec!["c 10:229 rwm"]);
    }

    #[test]
    fn resources() {
        let r = p("docker run -m 256m --memory-swap 512m --memory-reservation 128MiB --oom-kill-disable --cpus 1.5 -c 512 --cpu-quota 50000 --cpu-period 100000 --cpuset-cpus 0-1 --pids-limit 100 --shm-size 64m alpine");
        assert_eq!(r.memory, Some(256 << 20));
        assert_eq!(r.memory_swap, Some(512 << 20));
        assert_eq!(r.memory_reservation, Some(128 << 20));
        assert!(r.oom_kill_disable);
        assert_eq!(r.nano_cpus, Some(1_500_000_000));
        assert_eq!(r.cpu_shares, Some(512));
        assert_eq!(r.cpu_quota, Some(50000));
        assert_eq!(r.cpu_period, Some(100000));
        assert_eq!(r.cpuset_cpus.as_deref(), Some("0-1"));
        assert_eq!(r.pids_limit, Some(100));
        assert_eq!(r.shm_size, Some(64 << 20));
        assert_eq!(p("docker run --memory=1g alpine").memory, Some(1 << 30));
        assert_eq!(p("docker run -m1g alpine").memory, Some(1 << 30));
        assert_eq!(
            e("docker run --memory 12xb alpine"),
            "--memory: \"12xb\" is not a size; write e.g. 256m or 1g"
        );
        assert!(e("docker run -m -5m alpine").starts_with("-m: "));
        assert!(e("docker run --memory-swap -2 alpine").starts_with("--memory-swap: "));
        assert!(e("docker run --cpus lots alpine").starts_with("--cpus: "));
        assert!(e("docker run --cpus 99999999999 alpine").starts_with("--cpus: "));
        assert!(e("docker run --pids-limit -2 alpine").starts_with("--pids-limit: "));
        assert!(e("docker run --pids-limit many alpine").starts_with("--pids-limit: "));
        assert!(e("docker run --cpu-shares -1 alpine").starts_with("--cpu-shares: "));
        assert!(e("docker run --cpuset-cpus x alpine").starts_with("--cpuset-cpus: "));
        let r = p("docker run --ulimit nofile=1024:2048 --ulimit nproc=64 alpine");
        assert_eq!(
            r.ulimits,
            vec![
                UlimitSpec {
                    name: "nofile".into(),
                    soft: 1024,
                    hard: 2048
                },
                UlimitSpec {
                    name: "nproc".into(),
                    soft: 64,
                    hard: 64
                },
            ]
        );
        assert!(e("docker run --ulimit nofile alpine").starts_with("--ulimit: "));
    }

    #[test]
    fn restart_health_logging() {
        assert_eq!(
            p("docker run --restart on-failure:5 alpine").restart,
            Some(RestartSpec {
                policy: "on-failure".into(),
                max_retries: Some(5)
            })
        );
        assert_eq!(
            p("docker run --restart=unless-stopped alpine")
                .restart
                .unwrap()
                .policy,
            "unless-stopped"
        );
        assert!(e("docker run --restart sometimes alpine").starts_with("--restart: "));
        let r = p("docker run --health-cmd 'wget -q --spider http://localhost/ || exit 1' --health-interval 30s --health-timeout 5s --health-retries 3 --health-start-period 1m alpine");
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
        assert_eq!(r.health.start_period_ns, Some(60_000_000_000));
        assert_eq!(
            p("docker run --no-healthcheck alpine").health.test,
            Some(vec!["NONE".to_string()])
        );
        assert!(e("docker run --no-healthcheck --health-cmd x alpine").contains("--no-healthcheck"));
        assert!(e("docker run --health-interval 30 alpine").starts_with("--health-interval: "));
        assert!(e("docker run --health-retries x alpine").starts_with("--health-retries: "));
        let r = p(
            "docker run --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 alpine",
        );
        assert_eq!(r.log_driver.as_deref(), Some("json-file"));
        assert_eq!(
            r.log_opts,
            vec![
                ("max-size".into(), "10m".into()),
                ("max-file".into(), "3".into())
            ]
        );
        assert!(e("docker run --log-opt max-size alpine").starts_with("--log-opt: "));
    }

    #[test]
    fn env_labels_sysctls_entrypoint_ignored() {
        let r = p("docker run -e A=1 -e B --env 'C=x y' --env=D= --env-file ./e.env -l a=b --label c --sysctl net.core.somaxconn=1024 alpine");
        assert_eq!(
            r.env,
            vec![
                ("A".to_string(), Some("1".to_string())),
                ("B".to_string(), None),
                ("C".to_string(), Some("x y".to_string())),
                ("D".to_string(), Some(String::new())),
            ]
        );
        assert_eq!(r.env_files, vec!["./e.env"]);
        assert_eq!(
            r.labels,
            vec![("a".into(), "b".into()), ("c".into(), String::new())]
        );
        assert_eq!(
            r.sysctls,
            vec![("net.core.somaxconn".into(), "1024".into())]
        );
        assert!(e("docker run -e =x alpine").starts_with("-e: "));
        assert!(e("docker run --sysctl foo alpine").starts_with("--sysctl: "));
        assert_eq!(
            p("docker run --entrypoint '' alpine").entrypoint,
            Some(vec![])
        );
        assert_eq!(
            p("docker run --entrypoint /bin/sh alpine").entrypoint,
            Some(vec!["/bin/sh".to_string()])
        );
        let r = p("docker run -d --rm -i -t --pull always -q --stop-timeout 5 --sig-proxy=false -a stdout --detach=true alpine");
        assert_eq!(
            r.ignored,
            vec![
                "-d",
                "--rm",
                "-i",
                "-t",
                "--pull always",
                "-q",
                "--stop-timeout 5",
                "--sig-proxy=false",
                "-a stdout",
                "--detach=true"
            ]
        );
    }

    // ---------- property tests ----------

    const POOL: &[&str] = &[
        "-u",
        "1000",
        "--user",
        "-it",
        "-dit",
        "--read-only",
        "--read-only=false",
        "--privileged",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "no-new-privileges",
        "--tmpfs",
        "/tmp:size=16m",
        "-v",
        "/a:/b:ro",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1m",
        "-p",
        "[::1]:80:80",
        "8080:80/udp",
        "-m",
        "256m",
        "--memory-swap",
        "-1",
        "--cpus",
        "0.5",
        "--pids-limit",
        "--ulimit",
        "nofile=1:2",
        "--restart",
        "on-failure:3",
        "--health-cmd",
        "--health-interval",
        "30s",
        "--no-healthcheck",
        "-e",
        "A=b",
        "--env-file",
        "--",
        "-",
        "alpine",
        "sh",
        "-c",
        "'",
        "\"",
        "\\",
        "=",
        "--=",
        "-=",
        "--user=",
        "-u=",
        "é",
        "-é",
        "$",
        "x=y",
        "--mount",
        "type=bind",
        "--entrypoint",
        "",
        "--log-opt",
        "a=b",
        "-P",
        "-m1g",
    ];

    fn render_quoted(s: &str) -> String {
        format!("'{}'", s.replace('\'', "'\\''"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1500), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,200}") {
            let _ = parse_run_command(&s);
            let _ = parse_run_command(&format!("docker run {s}"));
        }

        #[test]
        fn arbitrary_bytes_like_strings_never_panic(s in any::<String>()) {
            let _ = parse_run_command(&format!("docker run {s}"));
        }

        #[test]
        fn token_soup_never_panics(toks in proptest::collection::vec(proptest::sample::select(POOL), 0..20)) {
            let raw = format!("docker run {}", toks.join(" "));
            let _ = parse_run_command(&raw);
            let quoted: Vec<String> = toks.iter().map(|t| render_quoted(t)).collect();
            let _ = parse_run_command(&format!("docker run {}", quoted.join(" ")));
        }
    }
}
