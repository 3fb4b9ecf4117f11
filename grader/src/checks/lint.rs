//! Static hardening checks over a parsed [`Dockerfile`]. One function per
//! check; each returns a [`Finding`] whose `message` is written for a learner
//! (failing messages name the line, the instruction and the exact change).
//!
//! RUN scripts are analysed with a small shell lexer: quotes, escapes,
//! `$(…)`, backticks, `<(…)`, redirections and comments are understood, and
//! the script is split into simple commands at `&&`, `||`, `;`, `|`, `&`,
//! newlines and parentheses. Leading `VAR=value`, `sudo`, `env`, `time`,
//! `exec`, `nohup`, `command`, `xargs` and shell keywords are skipped to find
//! the real command. Exec-form `RUN ["sh", "-c", "…"]` is analysed as the
//! script; other exec forms as their words. Things a lexer cannot see
//! (`eval "$CMD"`, scripts copied in and run, variables holding commands)
//! are not detected.
//!
//! Scope: `no_sudo`, `no_ssh` and `static_user` look at the final stage and
//! the stages it is built `FROM`; all other checks look at every stage.

use serde::Serialize;

use crate::checks::secrets;
use crate::input::dockerfile::{self, mount_option, truncate_chars, Args, Dockerfile, Instruction};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub passed: bool,
    pub message: String,
    pub evidence: String,
}

// ---------------------------------------------------------------- helpers

/// The instruction for messages: whitespace runs collapsed, truncated.
fn short(inst: &Instruction) -> String {
    let collapsed = inst
        .original
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    truncate_chars(&collapsed, 80)
}

fn ev(inst: &Instruction) -> String {
    format!("line {}: {}", inst.line, inst.original)
}

struct Problems {
    items: Vec<(String, String)>,
}

impl Problems {
    fn new() -> Self {
        Problems { items: Vec::new() }
    }
    fn add(&mut self, message: String, evidence: String) {
        self.items.push((message, evidence));
    }
    fn finish(self, pass_message: impl Into<String>, examined: impl Into<String>) -> Finding {
        if self.items.is_empty() {
            return Finding {
                passed: true,
                message: pass_message.into(),
                evidence: examined.into(),
            };
        }
        let mut evidence: Vec<String> = Vec::new();
        let mut messages: Vec<String> = Vec::new();
        for (m, e) in self.items {
            if !messages.contains(&m) {
                messages.push(m);
            }
            if !evidence.contains(&e) {
                evidence.push(e);
            }
        }
        Finding {
            passed: false,
            message: messages.join("\n"),
            evidence: evidence.join("\n"),
        }
    }
}

fn examined(insts: &[&Instruction]) -> String {
    if insts.is_empty() {
        return "no matching instructions".to_string();
    }
    insts.iter().map(|i| ev(i)).collect::<Vec<_>>().join("\n")
}

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

// ---------------------------------------------------------------- shell lexer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Pipe,
    And,
    Or,
    Semi,
    End,
}

#[derive(Debug, Clone)]
struct Cmd {
    words: Vec<String>,
    /// What follows this command.
    sep: Sep,
}

struct Lexer {
    cmds: Vec<Cmd>,
    words: Vec<String>,
    cur: String,
    in_word: bool,
    skip_word: bool,
}

impl Lexer {
    fn end_word(&mut self) {
        if self.in_word {
            if self.skip_word {
                self.skip_word = false;
            } else {
                self.words.push(std::mem::take(&mut self.cur));
            }
        }
        self.cur.clear();
        self.in_word = false;
    }
    fn end_cmd(&mut self, sep: Sep) {
        self.end_word();
        self.skip_word = false;
        if !self.words.is_empty() {
            self.cmds.push(Cmd {
                words: std::mem::take(&mut self.words),
                sep,
            });
        }
    }
}

/// Reads a balanced `(…)` group starting at `chars[*i] == '('`, appending raw text.
fn read_group(chars: &[char], i: &mut usize, out: &mut String) {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    while *i < chars.len() {
        let c = chars[*i];
        out.push(c);
        *i += 1;
        match quote {
            Some(q) => {
                if c == '\\' && q == '"' {
                    if let Some(&n) = chars.get(*i) {
                        out.push(n);
                        *i += 1;
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' | '`' => quote = Some(c),
                '\\' => {
                    if let Some(&n) = chars.get(*i) {
                        out.push(n);
                        *i += 1;
                    }
                }
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            },
        }
    }
}

fn split_commands(script: &str) -> Vec<Cmd> {
    let chars: Vec<char> = script.chars().collect();
    let mut lx = Lexer {
        cmds: Vec::new(),
        words: Vec::new(),
        cur: String::new(),
        in_word: false,
        skip_word: false,
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' => {
                lx.in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    lx.cur.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                lx.in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        match chars.get(i + 1) {
                            Some(&n) if matches!(n, '"' | '\\' | '$' | '`') => {
                                lx.cur.push(n);
                                i += 2;
                                continue;
                            }
                            Some('\n') => {
                                i += 2;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    lx.cur.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '\\' => {
                match next {
                    Some('\n') => {}
                    Some(n) => {
                        lx.cur.push(n);
                        lx.in_word = true;
                    }
                    None => {}
                }
                i += 2;
            }
            '$' if next == Some('(') => {
                lx.in_word = true;
                lx.cur.push('$');
                i += 1;
                let mut g = String::new();
                read_group(&chars, &mut i, &mut g);
                lx.cur.push_str(&g);
            }
            '$' if next == Some('{') => {
                lx.in_word = true;
                while i < chars.len() {
                    lx.cur.push(chars[i]);
                    i += 1;
                    if chars[i - 1] == '}' {
                        break;
                    }
                }
            }
            '`' => {
                lx.in_word = true;
                lx.cur.push('`');
                i += 1;
                while i < chars.len() && chars[i] != '`' {
                    lx.cur.push(chars[i]);
                    i += 1;
                }
                lx.cur.push('`');
                i += 1;
            }
            '<' | '>' if next == Some('(') => {
                lx.in_word = true;
                lx.cur.push(c);
                i += 1;
                let mut g = String::new();
                read_group(&chars, &mut i, &mut g);
                lx.cur.push_str(&g);
            }
            ' ' | '\t' | '\r' => {
                lx.end_word();
                i += 1;
            }
            '\n' | ';' => {
                lx.end_cmd(Sep::Semi);
                i += 1;
            }
            '(' | ')' => {
                lx.end_cmd(Sep::Semi);
                i += 1;
            }
            '&' if next == Some('&') => {
                lx.end_cmd(Sep::And);
                i += 2;
            }
            // `&>` and `&>>`: the redirection arm below takes the target.
            '&' if next == Some('>') => {
                lx.end_word();
                i += 1;
            }
            '&' => {
                lx.end_cmd(Sep::Semi);
                i += 1;
            }
            '|' if next == Some('|') => {
                lx.end_cmd(Sep::Or);
                i += 2;
            }
            '|' => {
                // (`|&`: the `&` then ends an empty command.)
                lx.end_cmd(Sep::Pipe);
                i += 1;
            }
            '<' | '>' => {
                if lx.in_word && lx.cur.chars().all(|d| d.is_ascii_digit()) {
                    lx.cur.clear();
                    lx.in_word = false;
                } else {
                    lx.end_word();
                }
                while i < chars.len() && matches!(chars[i], '<' | '>' | '|' | '-') {
                    i += 1;
                }
                if chars.get(i) == Some(&'&') {
                    i += 1;
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                        i += 1;
                    }
                } else {
                    lx.skip_word = true;
                }
            }
            '#' if !lx.in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            _ => {
                lx.cur.push(c);
                lx.in_word = true;
                i += 1;
            }
        }
    }
    lx.end_cmd(Sep::End);
    lx.cmds
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Index of the real command word (after assignments, sudo, env, …) and
/// whether `sudo`/`doas` was among the prefixes.
fn command_start(words: &[String]) -> (usize, bool) {
    let mut i = 0;
    let mut sudo = false;
    while i < words.len() {
        let w = words[i].as_str();
        let b = basename(w);
        if is_assignment(w) {
            i += 1;
        } else if b == "sudo" || b == "doas" {
            sudo = true;
            i += 1;
            while i < words.len() && words[i].starts_with('-') {
                let takes = matches!(
                    words[i].as_str(),
                    "-u" | "-g" | "-C" | "-h" | "-p" | "-U" | "-r" | "-t" | "-D"
                );
                i += if takes { 2 } else { 1 };
            }
        } else if b == "env" {
            i += 1;
            while i < words.len() && (words[i].starts_with('-') || is_assignment(&words[i])) {
                let takes = matches!(words[i].as_str(), "-u" | "-C" | "-S");
                i += if takes { 2 } else { 1 };
            }
        } else if b == "xargs" || b == "nice" || b == "nohup" || b == "stdbuf" || b == "timeout" {
            i += 1;
            while i < words.len() && words[i].starts_with('-') {
                i += 1;
            }
            // timeout's duration (past the end is clamped by `effective`).
            if b == "timeout" {
                i += 1;
            }
        } else if matches!(
            w,
            "{" | "}"
                | "!"
                | "time"
                | "exec"
                | "command"
                | "builtin"
                | "then"
                | "do"
                | "else"
                | "if"
                | "elif"
                | "while"
                | "until"
                | "fi"
                | "done"
        ) {
            i += 1;
        } else {
            break;
        }
    }
    (i, sudo)
}

/// The effective command words of a simple command.
fn effective(cmd: &Cmd) -> &[String] {
    let (s, _) = command_start(&cmd.words);
    &cmd.words[s.min(cmd.words.len())..]
}

fn shell_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn is_shell(word: &str) -> bool {
    matches!(
        basename(word),
        "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh" | "fish" | "busybox"
    )
}

/// The script a RUN executes.
fn run_script(inst: &Instruction) -> String {
    match &inst.args {
        Args::Shell(s) => s.clone(),
        Args::Exec(v) => {
            if v.len() >= 3 && is_shell(&v[0]) && (v[1] == "-c" || v[1] == "-ec" || v[1] == "-xc") {
                v[2].clone()
            } else {
                v.iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
    }
}

struct RunInfo<'a> {
    inst: &'a Instruction,
    script: String,
    cmds: Vec<Cmd>,
    ops: Vec<PkgOp>,
}

fn runs<'a>(df: &'a Dockerfile, stages: Option<&[usize]>) -> Vec<RunInfo<'a>> {
    df.instructions
        .iter()
        .filter(|i| i.keyword == "RUN" && i.stage != dockerfile::GLOBAL_STAGE)
        .filter(|i| stages.is_none_or(|s| s.contains(&i.stage)))
        .map(|inst| {
            let script = run_script(inst);
            let cmds = split_commands(&script);
            let ops = cmds.iter().filter_map(|c| pkg_op(effective(c))).collect();
            RunInfo {
                inst,
                script,
                cmds,
                ops,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- package managers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Apt,
    Apk,
    Pip,
    Npm,
    Yum,
}

#[derive(Debug, Clone)]
struct PkgOp {
    tool: Tool,
    /// Display name of the command (`apt-get`, `pip3`, …).
    program: String,
    action: String,
    flags: Vec<String>,
    packages: Vec<String>,
}

impl PkgOp {
    fn has_flag(&self, f: &str) -> bool {
        self.flags
            .iter()
            .any(|x| x == f || x.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
    }
    fn is_install(&self) -> bool {
        match self.tool {
            Tool::Apt => matches!(
                self.action.as_str(),
                "install" | "upgrade" | "dist-upgrade" | "full-upgrade" | "build-dep"
            ),
            Tool::Apk => matches!(self.action.as_str(), "add" | "upgrade"),
            Tool::Pip => self.action == "install",
            Tool::Npm => matches!(self.action.as_str(), "install" | "i" | "add" | "ci"),
            Tool::Yum => matches!(self.action.as_str(), "install" | "update" | "upgrade"),
        }
    }
    fn is_update(&self) -> bool {
        matches!(self.tool, Tool::Apt | Tool::Apk) && self.action == "update"
    }
}

fn parse_pkg_args(
    tool: Tool,
    program: &str,
    args: &[String],
    value_flags: &[&str],
) -> Option<PkgOp> {
    let mut flags = Vec::new();
    let mut action: Option<String> = None;
    let mut packages = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        if w.starts_with('-') && w.len() > 1 {
            flags.push(w.clone());
            if value_flags.contains(&w.as_str()) {
                if let Some(v) = args.get(i + 1) {
                    flags.push(v.clone());
                }
                i += 1;
            }
        } else if action.is_none() {
            action = Some(w.clone());
        } else {
            packages.push(w.clone());
        }
        i += 1;
    }
    Some(PkgOp {
        tool,
        program: program.to_string(),
        action: action?,
        flags,
        packages,
    })
}

fn is_pip(word: &str) -> bool {
    let b = basename(word);
    b == "pip"
        || b.strip_prefix("pip")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_python(word: &str) -> bool {
    let b = basename(word);
    b.strip_prefix("python")
        .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

const APT_VALUE_FLAGS: &[&str] = &[
    "-o",
    "-c",
    "-t",
    "--option",
    "--config-file",
    "--target-release",
];
const APK_VALUE_FLAGS: &[&str] = &[
    "-X",
    "--repository",
    "-t",
    "--virtual",
    "-p",
    "--root",
    "--arch",
    "--cache-dir",
    "--keys-dir",
    "--repositories-file",
];
const PIP_VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-i",
    "--index-url",
    "--extra-index-url",
    "--trusted-host",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "-f",
    "--find-links",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--only-binary",
    "--no-binary",
    "--progress-bar",
    "--src",
    "--upgrade-strategy",
    "-e",
    "--editable",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--exists-action",
    "--cert",
    "--client-cert",
    "--global-option",
    "--config-settings",
    "-C",
];
const NPM_VALUE_FLAGS: &[&str] = &[
    "--prefix",
    "--registry",
    "--cache",
    "--omit",
    "--include",
    "-w",
    "--workspace",
    "--loglevel",
];
const YUM_VALUE_FLAGS: &[&str] = &[
    "--setopt",
    "--enablerepo",
    "--disablerepo",
    "--installroot",
    "--releasever",
];

fn pkg_op(words: &[String]) -> Option<PkgOp> {
    let first = words.first()?;
    let b = basename(first);
    let rest = &words[1..];
    match b {
        "apt-get" | "apt" | "aptitude" => parse_pkg_args(Tool::Apt, b, rest, APT_VALUE_FLAGS),
        "apk" => parse_pkg_args(Tool::Apk, b, rest, APK_VALUE_FLAGS),
        "npm" | "yarn" | "pnpm" => parse_pkg_args(Tool::Npm, b, rest, NPM_VALUE_FLAGS),
        "yum" | "dnf" | "microdnf" | "zypper" | "tdnf" => {
            parse_pkg_args(Tool::Yum, b, rest, YUM_VALUE_FLAGS)
        }
        _ if is_pip(first) => parse_pkg_args(Tool::Pip, b, rest, PIP_VALUE_FLAGS),
        _ if is_python(first) => {
            let m = rest.iter().position(|w| w == "-m")?;
            let module = rest.get(m + 1)?;
            if module == "pip" || module == "pip3" {
                let mut op = parse_pkg_args(Tool::Pip, "pip", &rest[m + 2..], PIP_VALUE_FLAGS)?;
                op.program = format!("{b} -m pip");
                Some(op)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Name of a package without its version/pin.
fn package_name(tool: Tool, pkg: &str) -> String {
    let p = pkg.trim();
    let cut = match tool {
        Tool::Npm => {
            // @scope/name@1.2 → cut at the last '@' after position 0
            p.rfind('@').filter(|&i| i > 0)
        }
        Tool::Pip => p.find(['=', '<', '>', '~', '!', '[', ';']),
        _ => p.find(['=', '~', '<', '>']),
    };
    match cut {
        Some(i) => p[..i].to_string(),
        None => p.to_string(),
    }
    .to_ascii_lowercase()
}

/// Packages (not paths/URLs/variables) that carry no version pin.
fn unpinned(op: &PkgOp) -> Vec<String> {
    let skip = |p: &str| {
        p.contains('$')
            || p.contains("://")
            || p.starts_with('.')
            || p.starts_with('/')
            || p.starts_with('~')
            || p.ends_with(".deb")
            || p.ends_with(".apk")
            || p.ends_with(".whl")
            || p.ends_with(".tar.gz")
            || p.ends_with(".tgz")
            || p.ends_with(".zip")
    };
    if !op.is_install() {
        return Vec::new();
    }
    op.packages
        .iter()
        .filter(|p| !skip(p))
        .filter(|p| match op.tool {
            Tool::Apt => !p.contains('='),
            Tool::Apk => !(p.contains('=') || p.contains('~')),
            Tool::Pip => !p.contains("=="),
            Tool::Npm => {
                let version = p.rfind('@').filter(|&i| i > 0).map(|i| &p[i + 1..]);
                !matches!(version, Some(v) if !v.is_empty() && v != "latest" && v != "next" && v != "*")
            }
            Tool::Yum => false,
        })
        .cloned()
        .collect()
}

fn pin_example(tool: Tool, pkg: &str) -> String {
    let name = package_name(tool, pkg);
    match tool {
        Tool::Apt | Tool::Apk => format!("{name}=<version>"),
        Tool::Pip => format!("{name}==<version>"),
        Tool::Npm => format!("{name}@<version>"),
        Tool::Yum => name,
    }
}

// ---------------------------------------------------------------- image references

/// (name, tag, digest) of an image reference.
fn split_image(r: &str) -> (String, Option<String>, Option<String>) {
    let (rest, digest) = match r.split_once('@') {
        Some((a, d)) => (a, Some(d.to_string())),
        None => (r, None),
    };
    // A tag follows the last slash (a registry's port comes before it).
    let last_slash = rest.rfind('/').unwrap_or(0);
    match rest[last_slash..].rfind(':') {
        Some(c) => {
            let at = last_slash + c;
            (
                rest[..at].to_string(),
                Some(rest[at + 1..].to_string()),
                digest,
            )
        }
        None => (rest.to_string(), None, digest),
    }
}

fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
}

fn instruction_at_line(df: &Dockerfile, line: usize) -> Option<&Instruction> {
    df.instructions.iter().find(|i| i.line == line)
}

fn image_context(df: &Dockerfile, line: usize, image: &str) -> (String, String) {
    match instruction_at_line(df, line) {
        Some(inst) => {
            let shown = short(inst);
            let resolved = if inst.keyword == "FROM" && !inst.original.contains(image) {
                format!(" (resolves to `{image}` through ARG defaults)")
            } else {
                String::new()
            };
            (format!("`{shown}`{resolved}"), ev(inst))
        }
        None => (format!("`{image}`"), format!("line {line}: {image}")),
    }
}

fn fix_hint(df: &Dockerfile, line: usize, image: &str, replacement: &str) -> String {
    match instruction_at_line(df, line) {
        Some(inst) if inst.original.contains(image) => {
            format!("write `{}`", truncate_chars(&inst.original.replacen(image, replacement, 1), 120))
        }
        Some(inst) if inst.keyword == "FROM" => format!(
            "make it resolve to `{replacement}` (change the ARG default, e.g. `ARG …={replacement}`)"
        ),
        _ => format!("use `{replacement}`"),
    }
}

/// IMG-BASE-TAG: every external image has an explicit, non-`latest` tag or a digest.
pub fn base_tagged(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let images = df.external_images();
    for (line, image) in &images {
        let (name, tag, digest) = split_image(image);
        let (what, evidence) = image_context(df, *line, image);
        if name.contains('$') || name.is_empty() {
            p.add(
                format!("line {line}: {what} could not be resolved to an image name; give the ARG a default with a pinned tag"),
                evidence,
            );
            continue;
        }
        if digest.is_some() {
            continue;
        }
        match tag.as_deref() {
            None | Some("") => p.add(
                format!(
                    "line {line}: {what} has no tag, so it silently means `latest`; {}",
                    fix_hint(df, *line, image, &format!("{name}:<version>"))
                ),
                evidence,
            ),
            Some(t) if t.eq_ignore_ascii_case("latest") => p.add(
                format!(
                    "line {line}: {what} uses the `latest` tag, which changes over time; {}",
                    fix_hint(df, *line, image, &format!("{name}:<version>"))
                ),
                evidence,
            ),
            _ => {}
        }
    }
    let listed = images
        .iter()
        .map(|(l, i)| format!("line {l}: {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    p.finish(
        if images.is_empty() {
            "No external base images (only scratch or earlier stages).".to_string()
        } else {
            "Every base image has an explicit version tag or digest.".to_string()
        },
        if listed.is_empty() {
            "no external images".to_string()
        } else {
            listed
        },
    )
}

/// IMG-BASE-DIGEST: every external image is pinned with `@sha256:<64 hex>`.
pub fn base_digest(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let images = df.external_images();
    for (line, image) in &images {
        let (name, tag, digest) = split_image(image);
        let (what, evidence) = image_context(df, *line, image);
        match digest {
            Some(d) if valid_digest(&d) => {}
            Some(d) => p.add(
                format!(
                    "line {line}: {what} has digest `{}`, which is not `sha256:` followed by 64 hex characters",
                    truncate_chars(&d, 80)
                ),
                evidence,
            ),
            None => {
                let tagged = match &tag {
                    Some(t) => format!("{name}:{t}"),
                    None => format!("{name}:<version>"),
                };
                p.add(
                    format!(
                        "line {line}: {what} is not pinned by digest; {} (find the digest with `docker buildx imagetools inspect {tagged}`)",
                        fix_hint(df, *line, image, &format!("{tagged}@sha256:<digest>"))
                    ),
                    evidence,
                );
            }
        }
    }
    let listed = images
        .iter()
        .map(|(l, i)| format!("line {l}: {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    p.finish(
        if images.is_empty() {
            "No external base images to pin.".to_string()
        } else {
            "Every base image is pinned by sha256 digest.".to_string()
        },
        if listed.is_empty() {
            "no external images".to_string()
        } else {
            listed
        },
    )
}

/// IMG-COPY-NOT-ADD: no ADD instructions.
pub fn copy_not_add(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let copies: Vec<&Instruction> = df
        .instructions
        .iter()
        .filter(|i| i.keyword == "ADD" || i.keyword == "COPY")
        .collect();
    for inst in copies.iter().filter(|i| i.keyword == "ADD") {
        let text = inst.args_text();
        let rest = inst
            .original
            .trim_start()
            .split_once(char::is_whitespace)
            .map(|(_, r)| r.trim_start())
            .unwrap_or("");
        let advice = if text.contains("://") || text.contains("git@") {
            "use COPY for local files; for a URL, download it in a RUN with a checksum check (`curl -fsSLo f <url> && echo \"<sha256>  f\" | sha256sum -c -`)".to_string()
        } else if [".tar", ".tgz", ".gz", ".xz", ".bz2", ".zst"]
            .iter()
            .any(|e| text.contains(e))
        {
            format!(
                "use COPY instead (`COPY {}`) and extract the archive explicitly in a RUN",
                truncate_chars(rest, 80)
            )
        } else {
            format!("use COPY instead: `COPY {}`", truncate_chars(rest, 80))
        };
        p.add(
            format!("line {}: `{}` uses ADD; {advice}", inst.line, short(inst)),
            ev(inst),
        );
    }
    p.finish(
        "No ADD instructions; files are brought in with COPY.",
        examined(&copies),
    )
}

/// IMG-UPDATE-WITH-INSTALL: package index updates happen in the same RUN as the install.
pub fn update_with_install(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let all = runs(df, None);
    let mut relevant: Vec<&Instruction> = Vec::new();
    for stage in 0..df.stages.len() {
        let mut apt_update_only: Option<usize> = None;
        let mut apk_update_only: Option<usize> = None;
        for r in all.iter().filter(|r| r.inst.stage == stage) {
            let apt_update = r.ops.iter().any(|o| o.tool == Tool::Apt && o.is_update());
            let apt_install = r.ops.iter().any(|o| o.tool == Tool::Apt && o.is_install());
            let apk_update = r.ops.iter().any(|o| o.tool == Tool::Apk && o.is_update());
            let apk_adds: Vec<&PkgOp> = r
                .ops
                .iter()
                .filter(|o| o.tool == Tool::Apk && o.is_install())
                .collect();
            if apt_update || apt_install || apk_update || !apk_adds.is_empty() {
                relevant.push(r.inst);
            }
            let line = r.inst.line;
            if apt_update && !apt_install {
                p.add(
                    format!(
                        "line {line}: `{}` runs `apt-get update` without installing anything in the same RUN; its cached layer goes stale. Combine them: `RUN apt-get update && apt-get install -y --no-install-recommends <packages> && rm -rf /var/lib/apt/lists/*`",
                        short(r.inst)
                    ),
                    ev(r.inst),
                );
                apt_update_only.get_or_insert(line);
            }
            if apt_install && !apt_update {
                if let Some(u) = apt_update_only {
                    p.add(
                        format!(
                            "line {line}: `{}` installs packages relying on the `apt-get update` from line {u}, which Docker may serve from a stale cache; run `apt-get update && apt-get install …` in this one RUN",
                            short(r.inst)
                        ),
                        ev(r.inst),
                    );
                }
            }
            if apk_update && apk_adds.is_empty() {
                p.add(
                    format!(
                        "line {line}: `{}` runs `apk update` on its own; drop it and use `apk add --no-cache <packages>` in the RUN that installs",
                        short(r.inst)
                    ),
                    ev(r.inst),
                );
                apk_update_only.get_or_insert(line);
            }
            if !apk_update {
                if let Some(u) = apk_update_only {
                    for op in &apk_adds {
                        if !(op.has_flag("--no-cache")
                            || op.has_flag("--update")
                            || op.has_flag("-U"))
                        {
                            p.add(
                                format!(
                                    "line {line}: `{}` relies on the `apk update` from line {u}; write `apk add --no-cache …` instead",
                                    short(r.inst)
                                ),
                                ev(r.inst),
                            );
                        }
                    }
                }
            }
        }
    }
    p.finish(
        if relevant.is_empty() {
            "No apt or apk package installs found, nothing to check.".to_string()
        } else {
            "Package index updates and installs happen in the same RUN.".to_string()
        },
        examined(&relevant),
    )
}

/// IMG-PKG-PINNED: installed packages carry explicit versions.
pub fn packages_pinned(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let mut relevant: Vec<&Instruction> = Vec::new();
    for r in runs(df, None) {
        let mut any = false;
        for op in r
            .ops
            .iter()
            .filter(|o| o.is_install() && o.tool != Tool::Yum)
        {
            any = true;
            let bad = unpinned(op);
            if bad.is_empty() {
                continue;
            }
            let examples: Vec<String> = bad
                .iter()
                .take(3)
                .map(|b| pin_example(op.tool, b))
                .collect();
            p.add(
                format!(
                    "line {}: `{}` installs unpinned packages with {}: {}; pin each version, e.g. `{}`",
                    r.inst.line,
                    short(r.inst),
                    op.program,
                    truncate_chars(&bad.join(", "), 120),
                    examples.join(" ")
                ),
                ev(r.inst),
            );
        }
        if any {
            relevant.push(r.inst);
        }
    }
    p.finish(
        if relevant.is_empty() {
            "No packages are installed with apt, apk, pip or npm (nothing to pin).".to_string()
        } else {
            "Every installed package has a pinned version.".to_string()
        },
        examined(&relevant),
    )
}

fn stage_has_var(df: &Dockerfile, stage: usize, name: &str) -> bool {
    df.stage_chain(stage).iter().any(|&s| {
        df.stage_instructions(s).any(|i| {
            dockerfile::env_pairs(i).iter().any(|(k, _)| k == name)
                || dockerfile::arg_pairs(i).iter().any(|(k, _)| k == name)
        })
    })
}

/// IMG-MINIMAL: installs skip recommends and caches.
pub fn minimal_install(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let mut relevant: Vec<&Instruction> = Vec::new();
    for r in runs(df, None) {
        let line = r.inst.line;
        let cleans_apt = r.cmds.iter().any(|c| {
            let w = effective(c);
            w.first().is_some_and(|x| basename(x) == "rm")
                && w.iter().any(|a| a.contains("/var/lib/apt/lists"))
        });
        let cleans_apk = r.script.contains("/var/cache/apk");
        let mut any = false;
        for op in r.ops.iter().filter(|o| o.is_install()) {
            match op.tool {
                Tool::Apt => {
                    any = true;
                    let no_rec = op.has_flag("--no-install-recommends")
                        || op.flags.iter().any(|f| {
                            f.to_ascii_lowercase().contains("install-recommends=false")
                                || f.to_ascii_lowercase().contains("install-recommends=0")
                        });
                    if !no_rec {
                        p.add(
                            format!(
                                "line {line}: `{}` installs recommended extras; add `--no-install-recommends` to `{} {}`",
                                short(r.inst), op.program, op.action
                            ),
                            ev(r.inst),
                        );
                    }
                    if !cleans_apt {
                        p.add(
                            format!(
                                "line {line}: `{}` leaves the apt package lists in the layer; end the same RUN with `&& rm -rf /var/lib/apt/lists/*`",
                                short(r.inst)
                            ),
                            ev(r.inst),
                        );
                    }
                }
                Tool::Apk => {
                    any = true;
                    if !op.has_flag("--no-cache") && !cleans_apk {
                        p.add(
                            format!(
                                "line {line}: `{}` keeps the apk cache; use `apk add --no-cache …`",
                                short(r.inst)
                            ),
                            ev(r.inst),
                        );
                    }
                }
                Tool::Pip => {
                    any = true;
                    if !op.has_flag("--no-cache-dir")
                        && !stage_has_var(df, r.inst.stage, "PIP_NO_CACHE_DIR")
                    {
                        p.add(
                            format!(
                                "line {line}: `{}` keeps pip's download cache; add `--no-cache-dir` to `{} install`",
                                short(r.inst), op.program
                            ),
                            ev(r.inst),
                        );
                    }
                }
                _ => {}
            }
        }
        if any {
            relevant.push(r.inst);
        }
    }
    p.finish(
        if relevant.is_empty() {
            "No apt, apk or pip installs found, nothing to trim.".to_string()
        } else {
            "Package installs skip recommended extras and leave no caches behind.".to_string()
        },
        examined(&relevant),
    )
}

/// Why a RUN script disables package/TLS verification, if it does.
fn insecure_reason(r: &RunInfo) -> Option<String> {
    let lower = r.script.to_ascii_lowercase();
    for (needle, what) in [
        ("--allow-unauthenticated", "`--allow-unauthenticated` installs unsigned packages; remove it"),
        ("--allow-insecure-repositories", "`--allow-insecure-repositories` trusts unsigned repositories; remove it"),
        ("--force-yes", "`--force-yes` overrides apt's signature checks; remove it (use `-y`)"),
        ("allowunauthenticated", "`APT::Get::AllowUnauthenticated` installs unsigned packages; remove it"),
        ("allowinsecurerepositories", "`Acquire::AllowInsecureRepositories` trusts unsigned repositories; remove it"),
        ("[trusted=yes]", "`[trusted=yes]` disables signature checks for an apt source; import the repository key instead"),
        ("--no-check-certificate", "`wget --no-check-certificate` disables TLS verification; remove it"),
        ("--trusted-host", "`pip --trusted-host` disables TLS verification; remove it"),
        ("--allow-untrusted", "`apk --allow-untrusted` installs unsigned packages; remove it"),
        ("git_ssl_no_verify", "`GIT_SSL_NO_VERIFY` disables TLS verification for git; remove it"),
        ("sslverify false", "`http.sslVerify false` disables TLS verification for git; remove it"),
        ("sslverify=false", "`http.sslVerify false` disables TLS verification for git; remove it"),
        ("node_tls_reject_unauthorized=0", "`NODE_TLS_REJECT_UNAUTHORIZED=0` disables TLS verification; remove it"),
        ("--nogpgcheck", "`--nogpgcheck` installs unsigned packages; remove it"),
        ("gpgcheck=0", "`gpgcheck=0` installs unsigned packages; remove it"),
        ("--strict-ssl=false", "`--strict-ssl=false` disables TLS verification for npm; remove it"),
    ] {
        if lower.contains(needle) {
            return Some(what.to_string());
        }
    }
    for c in &r.cmds {
        let w = effective(c);
        let Some(first) = w.first() else { continue };
        let b = basename(first);
        let lw: Vec<String> = w.iter().map(|x| x.to_ascii_lowercase()).collect();
        if b == "curl" {
            for a in &w[1..] {
                if a == "--insecure"
                    || (a.starts_with('-') && !a.starts_with("--") && a.contains('k'))
                {
                    return Some(
                        "`curl -k`/`--insecure` disables TLS verification; remove it".into(),
                    );
                }
            }
        }
        if matches!(b, "npm" | "yarn" | "pnpm")
            && lw.iter().any(|x| x == "strict-ssl")
            && lw.iter().any(|x| x == "false")
        {
            return Some(format!(
                "`{b} config set strict-ssl false` disables TLS verification; remove it"
            ));
        }
        if is_pip(first) && lw.iter().any(|x| x == "global.trusted-host") {
            return Some(
                "`pip config set global.trusted-host` disables TLS verification; remove it".into(),
            );
        }
    }
    None
}

/// IMG-VERIFIED-PKGS: package signature and TLS verification stay on.
pub fn verified_packages(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let rs = runs(df, None);
    for r in &rs {
        if let Some(why) = insecure_reason(r) {
            p.add(
                format!("line {}: `{}`: {why}", r.inst.line, short(r.inst)),
                ev(r.inst),
            );
        }
    }
    for inst in df
        .instructions
        .iter()
        .filter(|i| i.keyword == "ENV" || i.keyword == "ARG")
    {
        let mut pairs: Vec<(String, String)> = dockerfile::env_pairs(inst);
        pairs.extend(
            dockerfile::arg_pairs(inst)
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default())),
        );
        for (k, v) in pairs {
            let ku = k.to_ascii_uppercase();
            let vl = v.trim().to_ascii_lowercase();
            let bad = match ku.as_str() {
                "GIT_SSL_NO_VERIFY" => true,
                "NODE_TLS_REJECT_UNAUTHORIZED" => vl == "0",
                "NPM_CONFIG_STRICT_SSL" => vl == "false" || vl == "0",
                "PIP_TRUSTED_HOST" => !vl.is_empty(),
                "PYTHONHTTPSVERIFY" => vl == "0",
                "CURL_INSECURE" => true,
                _ => false,
            };
            if bad {
                p.add(
                    format!(
                        "line {}: `{}` disables TLS/signature verification through `{k}`; remove it",
                        inst.line,
                        short(inst)
                    ),
                    ev(inst),
                );
            }
        }
    }
    let listed: Vec<&Instruction> = rs.iter().map(|r| r.inst).collect();
    p.finish(
        "No RUN, ENV or ARG disables package signature or TLS verification.",
        examined(&listed),
    )
}

fn is_downloader(word: &str) -> bool {
    matches!(
        basename(word),
        "curl" | "wget" | "fetch" | "http" | "https" | "aria2c" | "iwr" | "irm"
    ) || word.eq_ignore_ascii_case("invoke-webrequest")
        || word.eq_ignore_ascii_case("invoke-restmethod")
}

fn is_interpreter(word: &str) -> bool {
    is_shell(word)
        || is_python(word)
        || matches!(
            basename(word),
            "perl"
                | "ruby"
                | "node"
                | "php"
                | "iex"
                | "invoke-expression"
                | "pwsh"
                | "powershell"
                | "source"
                | "."
        )
}

/// `$(curl …)`, `` `wget …` `` or `<(curl …)` inside a word.
fn has_download_substitution(word: &str) -> bool {
    let mut rest = word;
    while let Some(pos) = rest.find(['(', '`']) {
        let after = rest[pos + 1..].trim_start();
        let first = after
            .split(|c: char| c.is_whitespace() || c == ')' || c == '`')
            .next()
            .unwrap_or("");
        if is_downloader(first) {
            return true;
        }
        rest = &rest[pos + 1..];
    }
    false
}

/// IMG-NO-PIPE-TO-SHELL: downloaded scripts are never piped straight into an interpreter.
pub fn no_pipe_to_shell(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let rs = runs(df, None);
    for r in &rs {
        let mut bad = false;
        let mut downloading = false;
        for c in &r.cmds {
            let w = effective(c);
            if let Some(first) = w.first() {
                if downloading && is_interpreter(first) {
                    bad = true;
                }
                if is_downloader(first) {
                    downloading = true;
                }
                if (is_interpreter(first) || basename(first) == "eval")
                    && w.iter().any(|x| has_download_substitution(x))
                {
                    bad = true;
                }
            }
            if c.sep != Sep::Pipe {
                downloading = false;
            }
        }
        if bad {
            p.add(
                format!(
                    "line {}: `{}` runs a downloaded script straight in an interpreter; download it to a file, verify its checksum (`echo \"<sha256>  install.sh\" | sha256sum -c -`), then run it",
                    r.inst.line,
                    short(r.inst)
                ),
                ev(r.inst),
            );
        }
    }
    let listed: Vec<&Instruction> = rs.iter().map(|r| r.inst).collect();
    p.finish(
        "No RUN pipes a downloaded script into a shell or interpreter.",
        examined(&listed),
    )
}

fn has_secret_mount(inst: &Instruction) -> bool {
    inst.flag_values("mount").any(|m| {
        matches!(
            mount_option(m, "type")
                .map(|t| t.to_ascii_lowercase())
                .as_deref(),
            Some("secret") | Some("ssh")
        )
    })
}

/// Variable names referenced as `$NAME` / `${NAME…}` in `s`.
fn referenced_vars(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let mut j = i + 1;
            if chars.get(j) == Some(&'{') {
                j += 1;
            }
            let start = j;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j > start {
                out.push(chars[start..j].iter().collect());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Why a RUN needs a credential, if it does.
fn credential_use(r: &RunInfo, secret_files: &[String]) -> Option<String> {
    for v in referenced_vars(&r.script) {
        if let Some(why) = secrets::secret_name(&v) {
            return Some(format!("uses `${v}` ({why})"));
        }
    }
    for c in &r.cmds {
        let w = effective(c);
        let Some(first) = w.first() else { continue };
        let b = basename(first);
        for (idx, a) in w.iter().enumerate().skip(1) {
            let al = a.to_ascii_lowercase();
            if (al.starts_with("--password") && al != "--password-stdin")
                || al.starts_with("--passwd")
            {
                return Some(format!(
                    "passes `{}` on the command line",
                    truncate_chars(a, 30)
                ));
            }
            let mysql = matches!(
                b,
                "mysql"
                    | "mysqladmin"
                    | "mysqldump"
                    | "mariadb"
                    | "mariadb-admin"
                    | "mysqlimport"
                    | "mysqlshow"
            );
            if mysql && a.starts_with("-p") && a.len() > 2 {
                return Some("passes a password with `-p<password>`".to_string());
            }
            let login = w.iter().any(|x| x == "login");
            if (b == "sshpass" || login) && a == "-p" && w.get(idx + 1).is_some() {
                return Some("passes a password with `-p`".to_string());
            }
            if b == "curl" && (a == "-u" || a == "--user") {
                if w.get(idx + 1).is_some_and(|u| u.contains(':')) {
                    return Some("passes `user:password` to curl".to_string());
                }
            } else if b == "curl" && a.starts_with("-u") && a.contains(':') {
                return Some("passes `user:password` to curl".to_string());
            }
        }
    }
    let lower = r.script.to_ascii_lowercase();
    for (needle, what) in [
        ("authorization:", "sends an `Authorization:` header"),
        ("private-token:", "sends a `PRIVATE-TOKEN:` header"),
        ("x-api-key:", "sends an `X-API-Key:` header"),
        ("_authtoken", "configures an npm `_authToken`"),
        (".netrc", "uses a `.netrc` credentials file"),
        (".npmrc", "uses an `.npmrc` credentials file"),
        (".pypirc", "uses a `.pypirc` credentials file"),
        (".git-credentials", "uses a `.git-credentials` file"),
        (".aws/credentials", "uses AWS credentials"),
        ("id_rsa", "uses an SSH private key"),
        ("id_ed25519", "uses an SSH private key"),
    ] {
        if lower.contains(needle) {
            return Some(what.to_string());
        }
    }
    for f in secret_files {
        if r.script.contains(f.as_str()) {
            return Some(format!("uses `{f}`, a secret file copied into the image"));
        }
    }
    None
}

fn copy_sources(inst: &Instruction) -> Vec<String> {
    let words: Vec<String> = match &inst.args {
        Args::Exec(v) => v.clone(),
        Args::Shell(s) => s
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
            .collect(),
    };
    if words.len() < 2 {
        return Vec::new();
    }
    words[..words.len() - 1]
        .iter()
        .filter(|w| !w.starts_with("<<"))
        .cloned()
        .collect()
}

/// IMG-BUILD-SECRET-MOUNT: credentials reach RUN only through `--mount=type=secret`.
pub fn secrets_via_mount(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let mut secret_files: Vec<String> = Vec::new();
    let mut relevant: Vec<&Instruction> = Vec::new();
    let all_runs = runs(df, None);
    let mut run_iter = all_runs.iter().peekable();
    for inst in &df.instructions {
        match inst.keyword.as_str() {
            "COPY" | "ADD" => {
                for src in copy_sources(inst) {
                    if let Some(why) = secrets::secret_file_name(&src) {
                        relevant.push(inst);
                        let base = basename(src.trim_end_matches('/')).to_string();
                        let id = base.trim_start_matches('.').replace('.', "_");
                        p.add(
                            format!(
                                "line {}: `{}` copies `{src}` ({why}) into an image layer, where anyone with the image can read it; delete this line and mount it only where needed: `RUN --mount=type=secret,id={id},target=<path> …` (build with `--secret id={id},src={base}`)",
                                inst.line,
                                short(inst)
                            ),
                            ev(inst),
                        );
                        secret_files.push(base);
                    }
                }
            }
            "RUN" => {
                let Some(r) = run_iter.next() else { continue };
                if !std::ptr::eq(r.inst, inst) {
                    continue;
                }
                let literal = secrets::secret_value(&r.script);
                if let Some(why) = literal {
                    relevant.push(inst);
                    p.add(
                        format!(
                            "line {}: `{}` contains a hard-coded credential ({why}); it stays in the image history. Remove it and read it from a build secret: `RUN --mount=type=secret,id=<name>,env=<VAR> …`",
                            inst.line,
                            short(inst)
                        ),
                        ev(inst),
                    );
                    continue;
                }
                if let Some(why) = credential_use(r, &secret_files) {
                    relevant.push(inst);
                    if !has_secret_mount(inst) {
                        p.add(
                            format!(
                                "line {}: `{}` {why} without a build secret; pass it with `RUN --mount=type=secret,id=<name>,env=<VAR> …` (or `,target=<file>`) and build with `--secret id=<name>,…`",
                                inst.line,
                                short(inst)
                            ),
                            ev(inst),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    p.finish(
        if relevant.is_empty() {
            "No RUN needs credentials and no secret files are copied in.".to_string()
        } else {
            "Every RUN that needs a credential gets it through `--mount=type=secret`.".to_string()
        },
        examined(&relevant),
    )
}

fn installs_any(op: &PkgOp, names: &[&str]) -> Option<String> {
    if !op.is_install() {
        return None;
    }
    op.packages
        .iter()
        .find(|p| names.contains(&package_name(op.tool, p).as_str()))
        .cloned()
}

/// IMG-NO-SUDO: sudo is neither installed nor used.
pub fn no_sudo(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let chain = df.final_chain();
    let rs = runs(df, Some(&chain));
    for r in &rs {
        for op in &r.ops {
            if let Some(pkg) = installs_any(op, &["sudo", "doas"]) {
                p.add(
                    format!(
                        "line {}: `{}` installs `{pkg}`; remove it from the package list — do root work in RUN before `USER`, and run the app as a non-root user",
                        r.inst.line,
                        short(r.inst)
                    ),
                    ev(r.inst),
                );
            }
        }
        let used = r.cmds.iter().any(|c| command_start(&c.words).1);
        if used {
            p.add(
                format!(
                    "line {}: `{}` uses `sudo`; RUN already runs as root during the build (switch with `USER root` / `USER app` if needed), so drop `sudo`",
                    r.inst.line,
                    short(r.inst)
                ),
                ev(r.inst),
            );
        }
        if r.script.contains("/etc/sudoers") {
            p.add(
                format!(
                    "line {}: `{}` edits /etc/sudoers; remove it and do not grant sudo in the image",
                    r.inst.line,
                    short(r.inst)
                ),
                ev(r.inst),
            );
        }
    }
    let listed: Vec<&Instruction> = rs.iter().map(|r| r.inst).collect();
    p.finish(
        "sudo is not installed or used in the final image.",
        examined(&listed),
    )
}

fn port_covers_22(spec: &str) -> bool {
    let port = spec.split('/').next().unwrap_or("");
    match port.split_once('-') {
        Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) => a <= 22 && 22 <= b,
            _ => false,
        },
        None => port.trim().parse::<u32>() == Ok(22),
    }
}

fn command_words(inst: &Instruction) -> Vec<String> {
    match &inst.args {
        Args::Exec(v) => v.clone(),
        Args::Shell(s) => split_commands(s)
            .into_iter()
            .flat_map(|c| c.words)
            .collect(),
    }
}

/// IMG-NO-SSH: no SSH server exposed, installed or started.
pub fn no_ssh(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let chain = df.final_chain();
    let mut relevant: Vec<&Instruction> = Vec::new();
    for (idx, inst) in df.instructions.iter().enumerate() {
        if !chain.contains(&inst.stage) {
            continue;
        }
        match inst.keyword.as_str() {
            "EXPOSE" => {
                relevant.push(inst);
                let vars = df.vars_at(idx);
                let text = dockerfile::expand_in(inst, &inst.args_text(), &vars);
                if text.split_whitespace().any(port_covers_22) {
                    p.add(
                        format!(
                            "line {}: `{}` exposes port 22 (SSH); remove port 22 — use `docker exec` to get a shell instead of running sshd",
                            inst.line,
                            short(inst)
                        ),
                        ev(inst),
                    );
                }
            }
            "CMD" | "ENTRYPOINT" => {
                relevant.push(inst);
                if command_words(inst)
                    .iter()
                    .any(|w| matches!(basename(w), "sshd" | "dropbear"))
                {
                    p.add(
                        format!(
                            "line {}: `{}` starts an SSH server; run your application instead and use `docker exec` for debugging",
                            inst.line,
                            short(inst)
                        ),
                        ev(inst),
                    );
                }
            }
            _ => {}
        }
    }
    for r in runs(df, Some(&chain)) {
        for op in &r.ops {
            if let Some(pkg) = installs_any(
                op,
                &[
                    "openssh-server",
                    "openssh",
                    "dropbear",
                    "ssh",
                    "openssh-server-pam",
                    "dropbear-dbclient",
                ],
            ) {
                relevant.push(r.inst);
                p.add(
                    format!(
                        "line {}: `{}` installs `{pkg}`, an SSH server; remove it from the package list",
                        r.inst.line,
                        short(r.inst)
                    ),
                    ev(r.inst),
                );
            }
        }
    }
    p.finish(
        "No SSH server is installed, exposed or started in the final image.",
        examined(&relevant),
    )
}

/// Lexically normalises an absolute path (`//`, `.`, `..`, trailing `/`).
fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split(['/', '\\']) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

fn is_sys_path(p: &str) -> Option<&'static str> {
    let n = normalize_path(p);
    ["/sys", "/proc", "/dev"]
        .into_iter()
        .find(|root| n == *root || n.starts_with(&format!("{root}/")))
}

/// IMG-NO-SYS-VOLUME: no VOLUME or WORKDIR on /sys, /proc, /dev.
pub fn no_sys_volume(df: &Dockerfile) -> Finding {
    let mut p = Problems::new();
    let mut relevant: Vec<&Instruction> = Vec::new();
    for (idx, inst) in df.instructions.iter().enumerate() {
        if inst.keyword != "VOLUME" && inst.keyword != "WORKDIR" {
            continue;
        }
        relevant.push(inst);
        let vars = df.vars_at(idx);
        let paths: Vec<String> = match (&inst.args, inst.keyword.as_str()) {
            (Args::Exec(v), _) => v
                .iter()
                .map(|x| dockerfile::expand_in(inst, x, &vars))
                .collect(),
            (Args::Shell(s), "VOLUME") => s
                .split_whitespace()
                .map(|x| dockerfile::expand_in(inst, x, &vars))
                .collect(),
            (Args::Shell(s), _) => vec![dockerfile::expand_in(inst, s.trim(), &vars)],
        };
        for path in paths {
            if let Some(root) = is_sys_path(&path) {
                p.add(
                    format!(
                        "line {}: `{}` puts a {} on `{}` (under {root}), a kernel/device filesystem; use an application directory such as `/data` or `/app` instead",
                        inst.line,
                        short(inst),
                        if inst.keyword == "VOLUME" { "volume" } else { "working directory" },
                        truncate_chars(&path, 60)
                    ),
                    ev(inst),
                );
            }
        }
    }
    p.finish(
        "No VOLUME or WORKDIR points at /sys, /proc or /dev.",
        examined(&relevant),
    )
}

/// IMG-NO-SECRET-ENVARG: no ENV/ARG holds a credential (by name, by value or
/// equal to one of `known`).
pub fn no_secret_env_arg(df: &Dockerfile, known: &[String]) -> Finding {
    let mut p = Problems::new();
    let mut relevant: Vec<&Instruction> = Vec::new();
    let known: Vec<&str> = known
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .collect();
    for inst in &df.instructions {
        let pairs: Vec<(String, Option<String>)> = match inst.keyword.as_str() {
            "ENV" => dockerfile::env_pairs(inst)
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
            "ARG" => dockerfile::arg_pairs(inst),
            _ => continue,
        };
        relevant.push(inst);
        for (name, value) in pairs {
            let shown = if value.is_some() {
                format!("{name}=…")
            } else {
                name.clone()
            };
            let value = value.unwrap_or_default();
            let reason = if let Some(why) = secrets::secret_name(&name) {
                Some(format!("the name looks like a credential ({why})"))
            } else if let Some(why) = secrets::secret_value(&value) {
                Some(format!("the value looks like a credential ({why})"))
            } else if known
                .iter()
                .any(|k| value.trim() == *k || (k.chars().count() >= 8 && value.contains(k)))
            {
                Some("the value is one of the lab's secrets".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                let lower = name.to_ascii_lowercase();
                let fix = if inst.keyword == "ARG" {
                    format!("build args are recorded in the image history; remove the ARG and use `RUN --mount=type=secret,id={lower},env={name} …` where it is needed")
                } else {
                    format!("ENV values are stored in the image config and history (overwriting them later does not erase them); remove it, use `RUN --mount=type=secret,id={lower},env={name} …` for build steps, and pass it at run time (`docker run -e {name}` or a mounted secret file)")
                };
                p.add(
                    format!(
                        "line {}: `{} {shown}` — {reason}; {fix}",
                        inst.line, inst.keyword
                    ),
                    ev(inst),
                );
            }
        }
    }
    p.finish("No ENV or ARG holds a credential.", examined(&relevant))
}

fn is_root_user(u: &str) -> bool {
    let user = u.split(':').next().unwrap_or("").trim();
    user.is_empty()
        || user.eq_ignore_ascii_case("root")
        || (user.chars().all(|c| c.is_ascii_digit()) && user.parse::<u64>().ok() == Some(0))
}

/// Static half of IMG-NONROOT-USER: the final stage ends with a non-root USER.
pub fn static_user(df: &Dockerfile) -> Finding {
    let fin = df.final_stage();
    let chain = df.final_chain();
    let users: Vec<&Instruction> = df
        .instructions
        .iter()
        .filter(|i| i.keyword == "USER" && chain.contains(&i.stage))
        .collect();
    let last = users.last().copied();
    let other_stage_user = df
        .instructions
        .iter()
        .find(|i| i.keyword == "USER" && !chain.contains(&i.stage));
    match df.final_user() {
        None => {
            let mut msg = format!(
                "The final stage (line {}: `FROM {}`) never sets USER, so the container runs as root; add `USER 10001:10001` (or a named non-root user you create) after the last RUN",
                fin.line, fin.base
            );
            if let Some(o) = other_stage_user {
                msg.push_str(&format!(
                    ". The `{}` on line {} is in an earlier build stage and does not carry over",
                    short(o),
                    o.line
                ));
            }
            Finding {
                passed: false,
                message: msg,
                evidence: match other_stage_user {
                    Some(o) => format!("no USER in the final stage; {}", ev(o)),
                    None => "no USER in the final stage".to_string(),
                },
            }
        }
        Some(u) if is_root_user(&u) => {
            let (line, text, evidence) = match last {
                Some(i) => (i.line, short(i), ev(i)),
                None => (fin.line, format!("USER {u}"), format!("USER {u}")),
            };
            let shown = if text.contains(&u) || u.is_empty() {
                String::new()
            } else {
                format!(" (resolves to `{u}`)")
            };
            Finding {
                passed: false,
                message: format!(
                    "line {line}: `{text}`{shown} runs the container as root; change it to a non-root user, e.g. `USER 10001:10001`"
                ),
                evidence,
            }
        }
        Some(u) => Finding {
            passed: true,
            message: format!("The final stage runs as the non-root user `{u}`."),
            evidence: last.map(ev).unwrap_or_else(|| format!("USER {u}")),
        },
    }
}

/// Every static check with its id, in a stable order.
pub fn all_checks(df: &Dockerfile, known_secrets: &[String]) -> Vec<(&'static str, Finding)> {
    vec![
        ("IMG-BASE-TAG", base_tagged(df)),
        ("IMG-BASE-DIGEST", base_digest(df)),
        ("IMG-COPY-NOT-ADD", copy_not_add(df)),
        ("IMG-UPDATE-WITH-INSTALL", update_with_install(df)),
        ("IMG-PKG-PINNED", packages_pinned(df)),
        ("IMG-MINIMAL", minimal_install(df)),
        ("IMG-VERIFIED-PKGS", verified_packages(df)),
        ("IMG-NO-PIPE-TO-SHELL", no_pipe_to_shell(df)),
        ("IMG-BUILD-SECRET-MOUNT", secrets_via_mount(df)),
        ("IMG-NO-SUDO", no_sudo(df)),
        ("IMG-NO-SSH", no_ssh(df)),
        ("IMG-NO-SYS-VOLUME", no_sys_volume(df)),
        ("IMG-NO-SECRET-ENVARG", no_secret_env_arg(df, known_secrets)),
        ("IMG-NONROOT-USER", static_user(df)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::dockerfile::parse;
    use proptest::prelude::*;

    fn df(s: &str) -> Dockerfile {
        parse(s).unwrap_or_else(|e| panic!("parse failed: {e}\n{s}"))
    }
    fn pass(f: Finding) -> Finding {
        assert!(f.passed, "expected pass: {f:#?}");
        assert!(!f.message.is_empty());
        f
    }
    fn fail(f: Finding) -> Finding {
        assert!(!f.passed, "expected fail: {f:#?}");
        assert!(f.message.contains("line"), "{f:#?}");
        f
    }

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// The lexer's commands as (words, what follows).
    type Lexed = Vec<(Vec<String>, Sep)>;

    fn lexed(script: &str) -> Lexed {
        split_commands(script)
            .into_iter()
            .map(|c| (c.words, c.sep))
            .collect()
    }

    fn cmd(words: &[&str], sep: Sep) -> (Vec<String>, Sep) {
        (words.iter().map(|w| w.to_string()).collect(), sep)
    }

    #[test]
    fn the_lexer_keeps_substitutions_whole_and_splits_at_operators() {
        use Sep::*;
        let cases: &[(&str, Lexed)] = &[
            // A $(…) group ends at its own closing parenthesis: not one in
            // quotes, escaped or closing a nested group.
            (
                "echo $(a \")\" 'x' \\) (c)) tail",
                vec![cmd(&["echo", "$(a \")\" 'x' \\) (c))", "tail"], End)],
            ),
            (
                "echo $(p \"a\\\")b\") tail",
                vec![cmd(&["echo", "$(p \"a\\\")b\")", "tail"], End)],
            ),
            // In single quotes a backslash is a plain character.
            (
                "echo $(p 'a\\') tail",
                vec![cmd(&["echo", "$(p 'a\\')", "tail"], End)],
            ),
            (
                "echo `date +%s` x",
                vec![cmd(&["echo", "`date +%s`", "x"], End)],
            ),
            // Quotes: single ones keep everything; in double ones a
            // backslash escapes only " \ $ ` and a newline.
            ("echo 'a b' c", vec![cmd(&["echo", "a b", "c"], End)]),
            (
                "echo \"a\\nb \\\" \\$x\" c",
                vec![cmd(&["echo", "a\\nb \" $x", "c"], End)],
            ),
            ("echo \"a\\\nb\" c", vec![cmd(&["echo", "ab", "c"], End)]),
            (
                "echo ${A:-x y} z",
                vec![cmd(&["echo", "${A:-x y}", "z"], End)],
            ),
            (
                "echo $HOME/bin x",
                vec![cmd(&["echo", "$HOME/bin", "x"], End)],
            ),
            ("diff <(a b) f", vec![cmd(&["diff", "<(a b)", "f"], End)]),
            // Escapes: a quoted space, a continued line.
            ("echo a\\ b", vec![cmd(&["echo", "a b"], End)]),
            ("echo a \\\n b", vec![cmd(&["echo", "a", "b"], End)]),
            ("echo a#b # c", vec![cmd(&["echo", "a#b"], End)]),
            (
                "a && b || c | d; e & f",
                vec![
                    cmd(&["a"], And),
                    cmd(&["b"], Or),
                    cmd(&["c"], Pipe),
                    cmd(&["d"], Semi),
                    cmd(&["e"], Semi),
                    cmd(&["f"], End),
                ],
            ),
            (
                "(cd /x && make) ; ls",
                vec![
                    cmd(&["cd", "/x"], And),
                    cmd(&["make"], Semi),
                    cmd(&["ls"], End),
                ],
            ),
            // Redirections take their target with them.
            ("make &>log x", vec![cmd(&["make", "x"], End)]),
            ("make &>>log x", vec![cmd(&["make", "x"], End)]),
            ("make 2>&1 x >out", vec![cmd(&["make", "x"], End)]),
            ("a |& b", vec![cmd(&["a"], Pipe), cmd(&["b"], End)]),
            ("echo x >| out y", vec![cmd(&["echo", "x", "y"], End)]),
            ("cat <<-EOF x", vec![cmd(&["cat", "x"], End)]),
            ("cat <>f x", vec![cmd(&["cat", "x"], End)]),
        ];
        for (script, want) in cases {
            assert_eq!(&lexed(script), want, "{script:?}");
        }
    }

    #[test]
    fn the_real_command_comes_after_assignments_prefixes_and_their_options() {
        let start = |script: &str| {
            let c = &split_commands(script)[0];
            let (_, sudo) = command_start(&c.words);
            (effective(c).join(" "), sudo)
        };
        let cases = [
            ("A=1 _B=2 c3=x make", "make", false),
            (
                "sudo -u app -E apt-get install x",
                "apt-get install x",
                true,
            ),
            ("/usr/bin/doas -u root apk add x", "apk add x", true),
            ("sudo -u", "", true),
            (
                "env -u HOME -i A=1 B=2 pip install x",
                "pip install x",
                false,
            ),
            ("env -C /src make", "make", false),
            ("env -", "", false),
            ("xargs -0 -n1 rm -f", "rm -f", false),
            ("nohup make", "make", false),
            ("stdbuf -oL make", "make", false),
            ("timeout -k5 10 make", "make", false),
            ("timeout", "", false),
            ("time exec command make", "make", false),
            ("! { make", "make", false),
            // Not assignments: a name may not start with a digit or hold a dash.
            ("1A=x make", "1A=x make", false),
            ("A-B=x make", "A-B=x make", false),
            ("=x make", "=x make", false),
        ];
        for (script, command, sudo) in cases {
            assert_eq!(start(script), (command.to_string(), sudo), "{script:?}");
        }
        let words: Vec<String> = split_commands("if true; then apt-get install x; fi")
            .iter()
            .map(|c| effective(c).join(" "))
            .collect();
        assert_eq!(words, ["true", "apt-get install x", ""]);
    }

    #[test]
    fn an_exec_form_run_is_read_as_the_script_it_stands_for() {
        let script = |run: &str| {
            let d = df(&format!("FROM a:1\n{run}\n"));
            run_script(&d.instructions[1])
        };
        assert_eq!(
            script(r#"RUN ["apt-get", "install", "-y", "curl=7.1", "a/b.c:d@e%f+g,h"]"#),
            "apt-get install -y curl=7.1 a/b.c:d@e%f+g,h"
        );
        // Words a shell would split or lose are quoted, and lexed back
        // to the same words.
        let words = ["printf", "a b", "it's", "", "$HOME", "x;y"];
        let exec = format!(
            "RUN [{}]",
            words
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let text = script(&exec);
        assert_eq!(text, r#"printf 'a b' 'it'\''s' '' '$HOME' 'x;y'"#);
        assert_eq!(split_commands(&text)[0].words, words);
        // A shell's -c runs its script.
        assert_eq!(script(r#"RUN ["/bin/bash", "-ec", "a && b"]"#), "a && b");
        assert_eq!(script(r#"RUN ["sh", "-xc", "a"]"#), "a");
        assert_eq!(script(r#"RUN ["sh", "-c"]"#), "sh -c");
        assert_eq!(script(r#"RUN ["python3", "-c", "x"]"#), "python3 -c x");
    }

    /// The package operation of a one-command script.
    fn op(script: &str) -> Option<PkgOp> {
        pkg_op(effective(&split_commands(script)[0]))
    }

    #[test]
    fn package_commands_are_known_by_their_program() {
        let o = op("apt-get -o Dpkg::Options::=--force-confold -y install curl - x").unwrap();
        assert_eq!((o.tool, o.action.as_str()), (Tool::Apt, "install"));
        assert_eq!(o.flags, ["-o", "Dpkg::Options::=--force-confold", "-y"]);
        assert_eq!(o.packages, ["curl", "-", "x"]);
        for (script, program) in [
            ("pip install x", "pip"),
            ("/usr/bin/pip3 install x", "pip3"),
            ("pip3.11 install x", "pip3.11"),
            ("python -m pip install x", "python -m pip"),
            ("python3.12 -m pip3 install x", "python3.12 -m pip"),
        ] {
            let o = op(script).unwrap_or_else(|| panic!("{script}"));
            assert_eq!(
                (o.tool, o.program.as_str()),
                (Tool::Pip, program),
                "{script}"
            );
            assert_eq!(o.packages, ["x"], "{script}");
        }
        for script in [
            "pipx install black",
            "pip-compile reqs.in",
            "python -m venv /v",
            "python3 -c 'import pip'",
            "ruby -m pip install x",
            "pythonista -m pip install x",
        ] {
            assert!(op(script).is_none(), "{script}");
        }
    }

    #[test]
    fn pins_are_read_per_package_manager() {
        assert_eq!(package_name(Tool::Npm, "@scope/name@1.2"), "@scope/name");
        assert_eq!(package_name(Tool::Npm, "@scope/name"), "@scope/name");
        assert_eq!(package_name(Tool::Pip, "Requests[socks]>=2"), "requests");
        assert_eq!(package_name(Tool::Apt, "curl=7.1"), "curl");
        assert_eq!(
            pin_example(Tool::Npm, "@scope/name@1.2"),
            "@scope/name@<version>"
        );
        assert_eq!(
            pin_example(Tool::Pip, "requests[socks]"),
            "requests==<version>"
        );
        assert_eq!(pin_example(Tool::Apk, "curl~7"), "curl=<version>");
        // Paths, URLs, variables and package files are not names to pin.
        let o = op("apt-get install $PKG https://a/b.deb ./a /b ~/c d.deb e.apk f.whl g.tar.gz h.tgz i.zip curl").unwrap();
        assert_eq!(unpinned(&o), ["curl"]);
        assert!(unpinned(&op("apt-get update").unwrap()).is_empty());
        assert_eq!(
            split_image("reg:5000/team/app:1"),
            ("reg:5000/team/app".into(), Some("1".into()), None)
        );
        assert_eq!(
            split_image("reg:5000/app"),
            ("reg:5000/app".into(), None, None)
        );
        assert_eq!(
            split_image("app@sha256:ab"),
            ("app".into(), None, Some("sha256:ab".into()))
        );
    }

    #[test]
    fn base_image_findings_say_where_the_name_came_from_and_how_to_fix_it() {
        let f = fail(base_tagged(&df("FROM alpine\n")));
        assert!(
            f.message.contains("line 1: `FROM alpine` has no tag"),
            "{f:#?}"
        );
        assert!(
            f.message.contains("write `FROM alpine:<version>`"),
            "{f:#?}"
        );
        assert!(!f.message.contains("resolves to"), "{f:#?}");
        let f = fail(base_tagged(&df("ARG B=alpine\nFROM $B\n")));
        assert!(
            f.message
                .contains("`FROM $B` (resolves to `alpine` through ARG defaults)"),
            "{f:#?}"
        );
        assert!(
            f.message
                .contains("make it resolve to `alpine:<version>` (change the ARG default"),
            "{f:#?}"
        );
        let f = fail(base_tagged(&df("FROM ${X:?no}\n")));
        assert!(
            f.message.contains("could not be resolved to an image name"),
            "{f:#?}"
        );
        let f = fail(base_digest(&df(
            "FROM busybox:1\nCOPY --from=alpine:3 /a /b\n",
        )));
        assert!(
            f.message
                .contains("write `COPY --from=alpine:3@sha256:<digest> /a /b`"),
            "{f:#?}"
        );
    }

    /// `check` over `FROM a:1` and `lines`: passed or not, with `text`
    /// in the message (and `absent` not in it, when given).
    fn judged(check: fn(&Dockerfile) -> Finding, cases: &[(&str, bool, &str, &str)]) {
        for (lines, passed, text, absent) in cases {
            let f = check(&df(&format!("FROM a:1\n{lines}\n")));
            assert!(
                f.passed == *passed
                    && f.message.contains(text)
                    && (absent.is_empty() || !f.message.contains(absent)),
                "{lines:?}: want passed={passed}, {text:?} and not {absent:?}: {f:#?}"
            );
        }
    }

    #[test]
    fn package_index_updates_belong_with_their_installs() {
        judged(
            update_with_install,
            &[
                (
                    "RUN echo hi",
                    true,
                    "No apt or apk package installs found",
                    "",
                ),
                (
                    "RUN apk add --no-cache x",
                    true,
                    "happen in the same RUN",
                    "",
                ),
                (
                    "RUN apt-get update && apt-get install -y x",
                    true,
                    "same RUN",
                    "",
                ),
                ("RUN apk update && apk add x", true, "same RUN", ""),
                (
                    "RUN apt-get update\nRUN apt-get install -y x",
                    false,
                    "relying on the `apt-get update` from line 2",
                    "apk",
                ),
                (
                    "RUN apt-get update\nRUN apt-get update && apt-get install -y x",
                    false,
                    "without installing",
                    "relying",
                ),
                (
                    "RUN apk update\nRUN apk add x",
                    false,
                    "relies on the `apk update` from line 2",
                    "apt-get",
                ),
                (
                    "RUN apk update\nRUN apk add --no-cache x",
                    false,
                    "on its own",
                    "relies",
                ),
                (
                    "RUN apk update\nRUN apk add --update x",
                    false,
                    "on its own",
                    "relies",
                ),
                (
                    "RUN apk update\nRUN apk add -U x",
                    false,
                    "on its own",
                    "relies",
                ),
                (
                    "RUN apk update\nRUN apk update && apk add x",
                    false,
                    "on its own",
                    "relies",
                ),
            ],
        );
    }

    #[test]
    fn installs_are_pinned_and_trimmed() {
        judged(
            packages_pinned,
            &[
                (
                    "RUN yum install -y x",
                    true,
                    "No packages are installed",
                    "",
                ),
                ("RUN apt-get update", true, "No packages are installed", ""),
                (
                    "RUN apt-get install -y x=1",
                    true,
                    "Every installed package",
                    "",
                ),
            ],
        );
        let clean = "&& rm -rf /var/lib/apt/lists/*";
        judged(
            minimal_install,
            &[
                (
                    "RUN apt-get install --no-install-recommends -y x && echo /var/lib/apt/lists",
                    false,
                    "leaves the apt package lists",
                    "",
                ),
                (
                    &format!("RUN apt-get install -o APT::Install-Recommends=0 -y x {clean}"),
                    true,
                    "skip recommended",
                    "",
                ),
                (
                    &format!("RUN apt-get install -o APT::Install-Recommends=false -y x {clean}"),
                    true,
                    "skip recommended",
                    "",
                ),
                (
                    &format!("RUN apt-get install -y x {clean}"),
                    false,
                    "installs recommended extras",
                    "",
                ),
                (
                    "ARG PIP_NO_CACHE_DIR=1\nRUN pip install x",
                    true,
                    "leave no caches",
                    "",
                ),
                (
                    "ENV PIP_NO_CACHE_DIR=1\nRUN pip install x",
                    true,
                    "leave no caches",
                    "",
                ),
                (
                    "ARG OTHER=1\nRUN pip install x",
                    false,
                    "keeps pip's download cache",
                    "",
                ),
            ],
        );
    }

    #[test]
    fn verification_is_switched_off_by_flags_commands_and_variables() {
        let off = "disables TLS/signature verification through";
        judged(
            verified_packages,
            &[
                (
                    "RUN curl -fsSLk https://x/y",
                    false,
                    "`curl -k`/`--insecure`",
                    "",
                ),
                ("RUN curl --insecure https://x/y", false, "`curl -k`", ""),
                (
                    "RUN curl --keepalive-time 2 -o kfile https://k.example/y",
                    true,
                    "No RUN",
                    "",
                ),
                (
                    "RUN npm config set strict-ssl false",
                    false,
                    "`npm config set strict-ssl false`",
                    "",
                ),
                (
                    "RUN yarn config set strict-ssl false",
                    false,
                    "`yarn config set strict-ssl false`",
                    "",
                ),
                ("RUN npm config set strict-ssl true", true, "No RUN", ""),
                ("RUN npm config set fund false", true, "No RUN", ""),
                (
                    "RUN pip config set global.trusted-host x",
                    false,
                    "`pip config set global.trusted-host`",
                    "",
                ),
                (
                    "RUN pip3 config set global.trusted-host x",
                    false,
                    "`pip config set global.trusted-host`",
                    "",
                ),
                ("ENV NPM_CONFIG_STRICT_SSL=false", false, off, ""),
                ("ENV NPM_CONFIG_STRICT_SSL=0", false, off, ""),
                ("ENV NPM_CONFIG_STRICT_SSL=true", true, "No RUN", ""),
                ("ENV PIP_TRUSTED_HOST=pypi.org", false, off, ""),
                ("ENV PIP_TRUSTED_HOST=", true, "No RUN", ""),
                ("ENV PYTHONHTTPSVERIFY=0", false, off, ""),
                ("ENV PYTHONHTTPSVERIFY=1", true, "No RUN", ""),
                ("ENV CURL_INSECURE=1", false, off, ""),
                ("ENV NODE_TLS_REJECT_UNAUTHORIZED=0", false, off, ""),
                ("ENV NODE_TLS_REJECT_UNAUTHORIZED=1", true, "No RUN", ""),
                ("ARG GIT_SSL_NO_VERIFY=1", false, off, ""),
                ("LABEL GIT_SSL_NO_VERIFY=1", true, "No RUN", ""),
            ],
        );
    }

    #[test]
    fn only_a_download_feeds_an_interpreter() {
        let bad = "runs a downloaded script straight in an interpreter";
        judged(
            no_pipe_to_shell,
            &[
                ("RUN curl -fsSL https://x/i.sh | sh", false, bad, ""),
                (
                    "RUN Invoke-WebRequest https://x/i.ps1 | iex",
                    false,
                    bad,
                    "",
                ),
                ("RUN cat i.sh | sh", true, "No RUN pipes", ""),
                (
                    "RUN curl -fsSLo i.sh https://x/i.sh; sh i.sh",
                    true,
                    "No RUN pipes",
                    "",
                ),
                ("RUN sh -c \"$(curl -fsSL https://x/i.sh)\"", false, bad, ""),
                ("RUN bash <(wget -qO- https://x/i.sh)", false, bad, ""),
                ("RUN sh -c \"$(cat i.sh)\"", true, "No RUN pipes", ""),
                ("RUN eval \"`curl -fsSL https://x`\"", false, bad, ""),
            ],
        );
        assert!(has_download_substitution("x$(echo a)$(curl y)"));
        assert!(has_download_substitution("$(curl)") && has_download_substitution("`wget`"));
        assert!(!has_download_substitution("$(echo curl)"));
    }

    #[test]
    fn credentials_are_found_in_variables_flags_headers_and_files() {
        let without = "without a build secret";
        judged(
            secrets_via_mount,
            &[
                ("RUN echo $HOME ${PATH}", true, "No RUN needs credentials", ""),
                ("RUN curl -H \"x: ${API_TOKEN}\" https://x", false, "uses `$API_TOKEN` (name contains TOKEN)", ""),
                ("RUN echo $DB_PASSWORD", false, "uses `$DB_PASSWORD`", ""),
                ("RUN echo $DB_PASSWORD", false, without, ""),
                ("RUN echo $$x $_A1", true, "No RUN needs", ""),
                ("RUN login --password=x", false, "passes `--password=x` on the command line", ""),
                ("RUN docker login --password-stdin < f", true, "No RUN needs", ""),
                ("RUN tool --passwd x", false, "on the command line", ""),
                ("RUN mysql -psecret db", false, "`-p<password>`", ""),
                ("RUN mysql -p db", true, "No RUN needs", ""),
                ("RUN mysqldump -P 3306 db", true, "No RUN needs", ""),
                ("RUN sshpass -p pw ssh host", false, "passes a password with `-p`", ""),
                ("RUN docker login -u me -p pw reg", false, "passes a password with `-p`", ""),
                ("RUN ssh -p 22 host", true, "No RUN needs", ""),
                ("RUN sshpass -p", true, "No RUN needs", ""),
                ("RUN curl -u me:pw https://x", false, "`user:password` to curl", ""),
                ("RUN curl --user me:pw https://x", false, "`user:password` to curl", ""),
                ("RUN curl -ume:pw https://x", false, "`user:password` to curl", ""),
                ("RUN curl -u me https://x", true, "No RUN needs", ""),
                ("RUN wget -u me:pw https://x", true, "No RUN needs", ""),
                ("RUN curl -H 'Authorization: Bearer x' https://x", false, "`Authorization:` header", ""),
                (
                    "RUN --mount=type=secret,id=t,env=API_TOKEN curl -H \"x: $API_TOKEN\" https://x",
                    true,
                    "through `--mount=type=secret`",
                    without,
                ),
                ("COPY id_rsa /root/.ssh/id_rsa", false, "copies `id_rsa` (SSH private key)", ""),
                ("COPY [\"app\", \"id_rsa\", \"/x/\"]", false, "copies `id_rsa`", "copies `/x/`"),
                ("COPY app /x/id_rsa", true, "No RUN needs", ""),
                ("COPY creds.txt .aws/credentials /x/\nRUN cat credentials", false, "uses `credentials`, a secret file", ""),
            ],
        );
        let f = fail(secrets_via_mount(&df(
            "FROM a:1\nCOPY id_rsa /x/\nRUN echo hi\n",
        )));
        assert!(!f.message.contains("line 3"), "{f:#?}");
        assert_eq!(referenced_vars("$A ${B_1:-x} $ $9z"), ["A", "B_1", "9z"]);
    }

    #[test]
    fn ssh_ports_secret_values_and_users_are_read_exactly() {
        judged(
            no_ssh,
            &[
                ("EXPOSE 8000-8080", true, "", "22"),
                ("EXPOSE 20-25/tcp", false, "22", ""),
                ("EXPOSE 22", false, "22", ""),
            ],
        );
        let known = |lines: &str, secret: &str| {
            no_secret_env_arg(&df(&format!("FROM a:1\n{lines}\n")), &[secret.to_string()])
        };
        let lab = "the value is one of the lab's secrets";
        assert!(fail(known("ENV X=hunter2", "hunter2"))
            .message
            .contains(lab));
        // A short secret counts only whole; a long one inside a value.
        pass(known("ENV X=myhunter2", "hunter2"));
        assert!(fail(known("ENV X=my-swordfish-x", "swordfish"))
            .message
            .contains(lab));
        let f = fail(known("ARG X=swordfish", "swordfish"));
        assert!(
            f.message
                .contains("build args are recorded in the image history"),
            "{f:#?}"
        );
        let f = fail(known("ENV X=swordfish", "swordfish"));
        assert!(
            f.message
                .contains("ENV values are stored in the image config"),
            "{f:#?}"
        );

        let f = fail(static_user(&df("FROM a:1\nUSER root\nRUN echo hi\n")));
        assert!(
            f.message
                .contains("line 2: `USER root` runs the container as root"),
            "{f:#?}"
        );
        assert!(!f.message.contains("resolves to"), "{f:#?}");
        let f = fail(static_user(&df("FROM a:1\nARG U=0\nUSER $U\n")));
        assert!(f.message.contains("`USER $U` (resolves to `0`)"), "{f:#?}");
        let f = fail(static_user(&df(
            "FROM a:1 AS b\nUSER app\nFROM c:1\nRUN x\n",
        )));
        assert!(
            f.message
                .contains(". The `USER app` on line 2 is in an earlier build stage"),
            "{f:#?}"
        );
        assert_eq!(f.evidence, "no USER in the final stage; line 2: USER app");
        judged(
            secrets_via_mount,
            &[
                ("COPY app id_rsa /x/", false, "copies `id_rsa`", ""),
                ("COPY \"id_rsa\" /x/", false, "copies `id_rsa`", ""),
            ],
        );
    }

    #[test]
    fn a_plain_install_or_add_is_no_finding_of_its_own() {
        judged(
            update_with_install,
            &[(
                "RUN apt-get install -y x",
                true,
                "happen in the same RUN",
                "",
            )],
        );
        judged(
            verified_packages,
            &[("RUN pip install --no-cache-dir x", true, "No RUN", "")],
        );
        // An image named through a variable outside FROM gets the plain hint.
        let f = fail(base_tagged(&df(
            "ARG X=alpine\nFROM busybox:1\nARG X\nCOPY --from=$X /a /b\n",
        )));
        assert!(f.message.contains("; use `alpine:<version>`"), "{f:#?}");
        let f = fail(copy_not_add(&df(
            "FROM a:1\nADD git@example.com:a/b.git /src\n",
        )));
        assert!(
            f.message
                .contains("download it in a RUN with a checksum check"),
            "{f:#?}"
        );
    }

    #[test]
    fn messages_quote_the_instruction_collapsed_and_evidence_lists_what_was_examined() {
        let f = fail(copy_not_add(&df("FROM a:1\nADD    x     /x\n")));
        assert!(f.message.contains("line 2: `ADD x /x` uses ADD"), "{f:#?}");
        let long = format!("FROM a:1\nADD {} /x\n", "y".repeat(100));
        let f = fail(copy_not_add(&df(&long)));
        assert!(
            f.message
                .contains(&format!("`ADD {}…` uses ADD", "y".repeat(76))),
            "{f:#?}"
        );
        let f = pass(copy_not_add(&df("FROM a:1\nCOPY x /x\nCOPY y /y\n")));
        assert_eq!(f.evidence, "line 2: COPY x /x\nline 3: COPY y /y");
        let f = pass(copy_not_add(&df("FROM a:1\nRUN true\n")));
        assert_eq!(f.evidence, "no matching instructions");
    }

    #[test]
    fn lexer_basics() {
        let c = split_commands("A=1 sudo -u x apt-get install 'a b' \"c\\\"d\" 2>/dev/null && echo $(curl x | sh) | tee f; ls # c | sh\nnext");
        let words: Vec<Vec<String>> = c.iter().map(|c| c.words.clone()).collect();
        assert_eq!(
            words[0],
            vec!["A=1", "sudo", "-u", "x", "apt-get", "install", "a b", "c\"d"]
        );
        assert_eq!(c[0].sep, Sep::And);
        assert_eq!(words[1], vec!["echo", "$(curl x | sh)"]);
        assert_eq!(c[1].sep, Sep::Pipe);
        assert_eq!(words[3], vec!["ls"]);
        assert_eq!(words[4], vec!["next"]);
        assert_eq!(effective(&c[0])[0], "apt-get");
        assert!(command_start(&c[0].words).1);
    }

    #[test]
    fn base_tag() {
        pass(base_tagged(&df("FROM alpine:3.20\n")));
        pass(base_tagged(&df("FROM scratch\nCOPY a /a\n")));
        pass(base_tagged(&df(&format!("FROM alpine@{DIGEST}\n"))));
        pass(base_tagged(&df("FROM localhost:5000/team/app:1.2\n")));
        pass(base_tagged(&df("FROM golang:1.22 AS b\nFROM b\n")));
        let f = fail(base_tagged(&df("FROM drydock/busybox\n")));
        assert!(f.message.contains("line 1"), "{}", f.message);
        assert!(
            f.message.contains("FROM drydock/busybox:<version>"),
            "{}",
            f.message
        );
        assert!(f.evidence.contains("line 1: FROM drydock/busybox"));
        fail(base_tagged(&df("FROM localhost:5000/team/app\n")));
        fail(base_tagged(&df("FROM alpine:latest\n")));
        let f = fail(base_tagged(&df("ARG BASE=img:latest\nFROM $BASE\n")));
        assert!(
            f.message.contains("line 2") && f.message.contains("img:latest"),
            "{}",
            f.message
        );
        fail(base_tagged(&df("ARG T=latest\nFROM alpine:${T}\n")));
        fail(base_tagged(&df("FROM alpine:3\nCOPY --from=nginx /x /x\n")));
    }

    #[test]
    fn base_digest_check() {
        pass(base_digest(&df(&format!(
            "FROM alpine:3.20@{DIGEST}\nFROM scratch\n"
        ))));
        let f = fail(base_digest(&df("FROM alpine:3.20\n")));
        assert!(
            f.message.contains("alpine:3.20@sha256:<digest>"),
            "{}",
            f.message
        );
        fail(base_digest(&df("FROM alpine@sha256:abc\n")));
        fail(base_digest(&df(&format!(
            "FROM alpine:3@{DIGEST}\nRUN --mount=type=bind,from=node:20,target=/n ls\n"
        ))));
    }

    #[test]
    fn add_vs_copy() {
        pass(copy_not_add(&df("FROM a:1\nCOPY . /app\n")));
        let f = fail(copy_not_add(&df("FROM a:1\nADD app.tar.gz /app\n")));
        assert!(f.message.contains("use COPY"), "{}", f.message);
        fail(copy_not_add(&df(
            "FROM a:1\nADD https://example.com/x.sh /x.sh\n",
        )));
        fail(copy_not_add(&df("FROM a:1\nadd . /app\n")));
    }

    #[test]
    fn update_install() {
        pass(update_with_install(&df(
            "FROM debian:12\nRUN apt-get update && apt-get install -y curl\n",
        )));
        let f = pass(update_with_install(&df("FROM debian:12\nCOPY . .\n")));
        assert!(f.message.contains("No apt"));
        pass(update_with_install(&df(
            "FROM alpine:3\nRUN apk add --no-cache curl\n",
        )));
        let f = fail(update_with_install(&df(
            "FROM debian:12\nRUN apt-get update\nRUN apt-get install -y curl\n",
        )));
        assert!(
            f.message.contains("line 2") && f.message.contains("line 3"),
            "{}",
            f.message
        );
        fail(update_with_install(&df("FROM debian:12\nRUN apt update\n")));
        fail(update_with_install(&df(
            "FROM alpine:3\nRUN apk update\nRUN apk add curl\n",
        )));
        // heredoc with both in one RUN is fine
        pass(update_with_install(&df(
            "FROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n",
        )));
    }

    #[test]
    fn pinned() {
        let f = pass(packages_pinned(&df("FROM a:1\nRUN echo hi\n")));
        assert!(f.message.contains("nothing to pin"));
        pass(packages_pinned(&df("FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10 ca-certificates=2023\n")));
        pass(packages_pinned(&df("FROM a:1\nRUN apk add --no-cache --virtual .b curl=8.5.0-r0 && pip install --no-cache-dir flask==3.0.0 && npm install -g @scope/x@1.2.3 left-pad@1.3.0 && npm ci && pip install -r requirements.txt\n")));
        let f = fail(packages_pinned(&df(
            "FROM a:1\nRUN apt-get update && apt-get install -y curl git=1:2.39\n",
        )));
        assert!(
            f.message.contains("curl=<version>") && !f.message.contains("git=<"),
            "{}",
            f.message
        );
        fail(packages_pinned(&df("FROM a:1\nRUN apk add curl\n")));
        fail(packages_pinned(&df("FROM a:1\nRUN pip install flask>=2\n")));
        fail(packages_pinned(&df(
            "FROM a:1\nRUN python3 -m pip install requests\n",
        )));
        fail(packages_pinned(&df(
            "FROM a:1\nRUN npm install -g npm@latest\n",
        )));
        fail(packages_pinned(&df("FROM a:1\nRUN npm i @scope/pkg\n")));
    }

    #[test]
    fn minimal() {
        pass(minimal_install(&df("FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends curl=1 && rm -rf /var/lib/apt/lists/*\nRUN apk add --no-cache x=1\nRUN pip install --no-cache-dir a==1\n")));
        pass(minimal_install(&df(
            "FROM a:1\nENV PIP_NO_CACHE_DIR=1\nRUN pip install a==1\n",
        )));
        let f = fail(minimal_install(&df(
            "FROM a:1\nRUN apt-get update && apt-get install -y curl\n",
        )));
        assert!(
            f.message.contains("--no-install-recommends")
                && f.message.contains("/var/lib/apt/lists"),
            "{}",
            f.message
        );
        fail(minimal_install(&df(
            "FROM a:1\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n",
        )));
        fail(minimal_install(&df("FROM a:1\nRUN apk add curl\n")));
        fail(minimal_install(&df(
            "FROM a:1\nRUN pip3 install flask==3\n",
        )));
    }

    #[test]
    fn verified() {
        pass(verified_packages(&df(
            "FROM a:1\nRUN curl -fsSL https://x -o /x && wget -q https://y\n",
        )));
        for bad in [
            "RUN apt-get install -y --allow-unauthenticated curl",
            "RUN apt-get update --allow-insecure-repositories",
            "RUN apt-get install -y --force-yes curl",
            "RUN apt-get -o APT::Get::AllowUnauthenticated=true install curl",
            "RUN curl -k https://x -o y",
            "RUN curl -fsSLk https://x -o y",
            "RUN curl --insecure https://x",
            "RUN wget --no-check-certificate https://x",
            "RUN pip install --trusted-host pypi.org flask",
            "RUN npm config set strict-ssl false",
            "RUN apk add --allow-untrusted x.apk",
            "RUN GIT_SSL_NO_VERIFY=1 git clone https://x",
            "ENV GIT_SSL_NO_VERIFY=true",
            "ENV NODE_TLS_REJECT_UNAUTHORIZED=0",
        ] {
            fail(verified_packages(&df(&format!("FROM a:1\n{bad}\n"))));
        }
    }

    #[test]
    fn pipe_to_shell() {
        pass(no_pipe_to_shell(&df("FROM a:1\nRUN curl -fsSL https://x/install.sh -o /tmp/i.sh && echo 'abc  /tmp/i.sh' | sha256sum -c - && sh /tmp/i.sh\nRUN curl -L https://x/a.tgz | tar xz\nRUN echo curl | cat\n")));
        for bad in [
            "RUN curl -fsSL https://x | sh",
            "RUN curl -fsSL https://x|bash",
            "RUN wget -qO- https://x | sudo sh",
            "RUN wget -qO- https://x | sudo -E bash -s -- --flag",
            "RUN curl https://x | tee /tmp/a | python3 -",
            "RUN bash <(curl -s https://x)",
            "RUN sh -c \"$(curl -fsSL https://x)\"",
            "RUN sh -c \"$(wget -O- https://x)\"",
            "RUN eval \"`curl -s https://x`\"",
            "RUN [\"sh\", \"-c\", \"curl https://x | sh\"]",
            "RUN set -e; curl -s https://x | /bin/bash",
        ] {
            fail(no_pipe_to_shell(&df(&format!("FROM a:1\n{bad}\n"))));
        }
    }

    #[test]
    fn secret_mounts() {
        let f = pass(secrets_via_mount(&df("FROM a:1\nRUN make\n")));
        assert!(f.message.contains("No RUN needs credentials"));
        pass(secrets_via_mount(&df(
            "FROM a:1\nRUN --mount=type=secret,id=npm,env=NPM_TOKEN npm ci\n",
        )));
        pass(secrets_via_mount(&df(
            "FROM a:1\nRUN --mount=type=secret,id=netrc,target=/root/.netrc pip install x==1\n",
        )));
        pass(secrets_via_mount(&df("FROM a:1\nRUN --mount=type=ssh git clone git@github.com:x/y.git && ls ~/.ssh/id_rsa || true\n")));
        for bad in [
            "ARG NPM_TOKEN\nRUN echo \"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\" > .npmrc && npm ci",
            "RUN curl -H \"Authorization: Bearer $API\" https://x",
            "RUN mysql -uroot -phunter2 -e 'select 1'",
            "RUN docker login --password $REG registry",
            "RUN cp /src/.netrc /root/",
            "COPY .npmrc /root/.npmrc\nRUN npm ci",
            "COPY id_rsa /root/.ssh/id_rsa",
            "COPY deploy.pem /k\nRUN ssh -i /k/deploy.pem host",
            "RUN git clone https://deploy:s3cr3tPassw0rd@github.com/x/y.git",
            "RUN --mount=type=secret,id=x curl -H 'X: ghp_abcdefghijklmnopqrstuvwxyz0123456789' https://x",
            "RUN echo $PASSWORD | chpasswd",
            "RUN curl -u admin:pw https://x",
        ] {
            let f = fail(secrets_via_mount(&df(&format!("FROM a:1\n{bad}\n"))));
            assert!(f.message.contains("secret"), "{}", f.message);
        }
    }

    #[test]
    fn sudo() {
        pass(no_sudo(&df("FROM a:1\nRUN apt-get install -y curl\n")));
        pass(no_sudo(&df(
            "FROM a:1 AS b\nRUN apt-get install -y sudo\nFROM c:1\nRUN ls\n",
        )));
        fail(no_sudo(&df(
            "FROM a:1\nRUN apt-get update && apt-get install -y sudo\n",
        )));
        fail(no_sudo(&df("FROM a:1\nRUN apk add --no-cache sudo=1.9\n")));
        fail(no_sudo(&df("FROM a:1\nRUN sudo make install\n")));
        fail(no_sudo(&df("FROM a:1\nRUN ls && sudo -u app ls\n")));
        fail(no_sudo(&df(
            "FROM a:1\nRUN echo 'app ALL=(ALL) NOPASSWD:ALL' >> /etc/sudoers\n",
        )));
        fail(no_sudo(&df(
            "FROM a:1 AS b\nRUN yum install -y sudo\nFROM b\n",
        )));
    }

    #[test]
    fn ssh() {
        pass(no_ssh(&df("FROM a:1\nEXPOSE 80 443/tcp 2222\nRUN apt-get install -y openssh-client\nCMD [\"app\"]\n")));
        for bad in [
            "EXPOSE 22",
            "EXPOSE 80 22/tcp",
            "EXPOSE 20-30",
            "ARG P=22\nEXPOSE $P",
            "RUN apt-get install -y openssh-server",
            "RUN apk add --no-cache openssh",
            "RUN apk add dropbear",
            "CMD [\"/usr/sbin/sshd\", \"-D\"]",
            "ENTRYPOINT /usr/sbin/sshd -D",
        ] {
            fail(no_ssh(&df(&format!("FROM a:1\n{bad}\n"))));
        }
    }

    #[test]
    fn sys_volume() {
        pass(no_sys_volume(&df("FROM a:1\nVOLUME /data [\"x\"]\nVOLUME [\"/var/lib/x\"]\nWORKDIR /app\nWORKDIR /system\n")));
        for bad in [
            "VOLUME /sys",
            "VOLUME /data /proc",
            "VOLUME [\"/dev\"]",
            "VOLUME [\"/data\", \"/sys/fs/cgroup\"]",
            "WORKDIR /proc/self",
            "WORKDIR /app/../dev",
            "VOLUME //sys/",
            "ARG D=/dev\nWORKDIR $D",
        ] {
            fail(no_sys_volume(&df(&format!("FROM a:1\n{bad}\n"))));
        }
    }

    #[test]
    fn secret_env_arg() {
        let none: Vec<String> = Vec::new();
        pass(no_secret_env_arg(&df("FROM a:1\nENV PATH=/usr/local/bin:$PATH LANG=C.UTF-8 NODE_VERSION=20.11.1\nARG VERSION=1.2\nENV POSTGRES_PASSWORD_FILE=/run/secrets/db\n"), &none));
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV DB_PASSWORD=hunter2\n"),
            &none,
        ));
        fail(no_secret_env_arg(&df("FROM a:1\nARG NPM_TOKEN\n"), &none));
        // overwritten later still fails
        let f = fail(no_secret_env_arg(
            &df("FROM a:1\nENV API_KEY=abc123\nRUN use\nENV API_KEY=\"\"\n"),
            &none,
        ));
        assert!(f.message.contains("line 2"), "{}", f.message);
        // renamed variables: caught by name and/or value
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV P4SS=x9Kq2LmZ7vR4tP8wN3yB\n"),
            &none,
        ));
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV DB_PW=x9Kq2LmZ7vR4tP8wN3yB\n"),
            &none,
        ));
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV API_K3Y=x9Kq2LmZ7vR4tP8wN3yB\n"),
            &none,
        ));
        let f = fail(no_secret_env_arg(
            &df("FROM a:1\nENV SETTING=AKIAIOSFODNN7EXAMPLE\n"),
            &none,
        ));
        assert!(f.message.contains("AWS"), "{}", f.message);
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV LEGACY ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"),
            &none,
        ));
        let known = vec!["correct-horse".to_string()];
        fail(no_secret_env_arg(
            &df("FROM a:1\nENV MOTD=correct-horse\n"),
            &known,
        ));
        pass(no_secret_env_arg(&df("FROM a:1\nENV MOTD=hello\n"), &known));
        fail(no_secret_env_arg(
            &df("ARG GITHUB_TOKEN=abc\nFROM a:1\n"),
            &none,
        ));
    }

    #[test]
    fn user() {
        let f = pass(static_user(&df("FROM a:1\nUSER app\n")));
        assert!(f.message.contains("app"));
        pass(static_user(&df("FROM a:1\nUSER 10001:10001\n")));
        pass(static_user(&df("FROM a:1\nUSER app:0\n")));
        pass(static_user(&df(
            "ARG UID=10001\nFROM a:1\nARG UID\nUSER ${UID}\n",
        )));
        pass(static_user(&df(
            "FROM a:1 AS base\nUSER app\nFROM base\nCMD x\n",
        )));
        for bad in [
            "USER 0:0",
            "USER root:root",
            "USER 0",
            "USER root",
            "USER ROOT",
            "USER 000",
            "ENV U=root\nUSER $U",
            "USER app\nUSER root",
        ] {
            let f = fail(static_user(&df(&format!("FROM a:1\n{bad}\n"))));
            assert!(f.message.contains("root"), "{}", f.message);
        }
        let f = fail(static_user(&df(
            "FROM a:1 AS build\nUSER app\nFROM b:1\nCMD x\n",
        )));
        assert!(f.message.contains("earlier build stage"), "{}", f.message);
        fail(static_user(&df("FROM a:1\nCMD x\n")));
    }

    #[test]
    fn all_checks_runs() {
        let d = df("FROM a:1\nRUN x\n");
        assert_eq!(all_checks(&d, &[]).len(), 14);
    }

    fn line_strategy() -> impl Strategy<Value = String> {
        let kw = prop::sample::select(vec![
            "RUN",
            "RUN --mount=type=secret,id=x",
            "CMD",
            "ENV",
            "ARG",
            "USER",
            "COPY",
            "ADD",
            "EXPOSE",
            "VOLUME",
            "WORKDIR",
            "ENTRYPOINT",
            "FROM",
            "RUN [\"sh\",\"-c\",",
        ]);
        let piece = prop::sample::select(vec![
            " ",
            "apt-get",
            "update",
            "install",
            "-y",
            "apk",
            "add",
            "pip",
            "npm",
            "curl",
            "|",
            "sh",
            "&&",
            "||",
            ";",
            "sudo",
            "$(",
            ")",
            "`",
            "<(",
            "\"",
            "'",
            "\\",
            "$TOKEN",
            "${X:-",
            "}",
            "=",
            "22",
            "/sys",
            "..",
            "root",
            "0:0",
            "é",
            "😀",
            "<<EOF",
            "\n",
            "EOF",
            "-k",
            "==1",
            "@1",
            ">",
            "2>&1",
            "#",
            "ghp_abcdefghijklmnopqrstuvwxyz0123",
        ]);
        (kw, prop::collection::vec(piece, 0..12)).prop_map(|(k, ps)| format!("{k} {}", ps.concat()))
    }

    fn run_all(d: &Dockerfile) {
        let r = all_checks(d, &["hunter2".to_string(), String::new()]);
        assert_eq!(r.len(), 14);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]
        #[test]
        fn lints_never_panic_on_arbitrary_text(s in "\\PC*") {
            if let Ok(d) = parse(&s) { run_all(&d); }
            let _ = split_commands(&s);
            let _ = has_download_substitution(&s);
            let _ = normalize_path(&s);
            let _ = split_image(&s);
        }

        #[test]
        fn lints_never_panic_on_plausible(lines in prop::collection::vec(line_strategy(), 0..15)) {
            let text = format!("ARG B=x:1\nFROM $B AS s\n{}", lines.join("\n"));
            if let Ok(d) = parse(&text) { run_all(&d); }
        }
    }
}
