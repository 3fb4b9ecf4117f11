//! A small, dependency-free Dockerfile parser.
//!
//! It understands what the hardening lints need: parser directives
//! (`# escape=`, `# syntax=`, `# check=`), comments, line continuations
//! (including comment and blank lines inside a continuation), keyword
//! case-insensitivity, leading `--flag[=value]` options of `FROM`, `RUN`,
//! `COPY`, `ADD` and `HEALTHCHECK`, JSON (exec) versus shell form, `ENV`/`ARG`
//! key/value forms, multi-stage builds and ARG substitution in `FROM`.
//!
//! Heredocs (`RUN <<EOF … EOF`, also `<<-EOF` and quoted delimiters) are
//! supported for `RUN`, `COPY` and `ADD`: the body lines and the closing
//! delimiter are appended to the instruction's shell text, separated by
//! newlines, so lints see the script that would run.
//!
//! Conventions:
//! * Instructions before the first `FROM` (only `ARG` is allowed there) have
//!   `stage == GLOBAL_STAGE` (`usize::MAX`).
//! * Flag names are stored lower-case without the leading `--`
//!   (`--mount=type=secret` becomes `("mount", Some("type=secret"))`).
//! * Errors about the file as a whole (too large, no instructions) use line 0.
//! * Flags are not validated against the instruction (Docker would reject
//!   unknown flags); `ONBUILD` triggers are kept as shell text and are not
//!   treated as part of this build.

use std::collections::HashMap;

use serde::Serialize;

/// `Instruction::stage` of instructions that come before the first `FROM`.
pub const GLOBAL_STAGE: usize = usize::MAX;
/// Largest Dockerfile accepted, in bytes.
pub const MAX_BYTES: usize = 64 * 1024;
/// Largest number of instructions accepted.
pub const MAX_INSTRUCTIONS: usize = 1000;
const ORIGINAL_MAX_CHARS: usize = 200;

pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
    pub stages: Vec<Stage>,
    /// `ARG`s declared before the first `FROM`, values as written (quotes removed).
    pub global_args: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// Upper-case keyword.
    pub keyword: String,
    /// Leading `--name[=value]` flags, name lower-cased without `--`.
    pub flags: Vec<(String, Option<String>)>,
    pub args: Args,
    /// The logical line (continuations joined), truncated to ~200 chars.
    pub original: String,
    /// Index into `Dockerfile::stages`, or `GLOBAL_STAGE` before the first FROM.
    pub stage: usize,
    /// The escape character in effect (`\` unless `# escape=` changed it).
    pub escape: char,
    /// The line opened a heredoc (`<<EOF`) whose body was appended to `args`.
    /// Docker's classic builder has no heredocs: it reads those lines as
    /// instructions of their own, so such a file is never built.
    pub heredoc: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Args {
    /// JSON array form.
    Exec(Vec<String>),
    /// Everything else (trimmed); heredoc bodies are appended after newlines.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// FROM value as written.
    pub base: String,
    /// FROM value after substituting global ARG defaults.
    pub resolved_base: String,
    /// The base is an earlier stage's name.
    pub base_is_stage: bool,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DockerfileError {
    pub line: usize,
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, DockerfileError> {
    Err(DockerfileError {
        line,
        message: message.into(),
    })
}

impl Instruction {
    /// The arguments as one string (exec form joined with spaces).
    pub fn args_text(&self) -> String {
        match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Exec(v) => v.join(" "),
        }
    }

    /// Value of the first flag called `name` (without `--`).
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// All values of flags called `name`.
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }
}

/// Truncate to at most `max` chars, on a char boundary, adding "…".
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

static EMPTY_STAGE: Stage = Stage {
    index: 0,
    name: None,
    base: String::new(),
    resolved_base: String::new(),
    base_is_stage: false,
    line: 0,
};

/// Variables visible at some point of a stage.
#[derive(Debug, Clone, Default)]
struct Scope {
    env: HashMap<String, String>,
    args: HashMap<String, String>,
    user: Option<String>,
}

impl Scope {
    fn get(&self, name: &str) -> Option<String> {
        self.env.get(name).or_else(|| self.args.get(name)).cloned()
    }
    fn merged(&self) -> HashMap<String, String> {
        let mut m = self.args.clone();
        for (k, v) in &self.env {
            m.insert(k.clone(), v.clone());
        }
        m
    }
}

impl Dockerfile {
    /// The last stage (the image that is built by default).
    pub fn final_stage(&self) -> &Stage {
        self.stages.last().unwrap_or(&EMPTY_STAGE)
    }

    /// Instructions of a stage, starting with its `FROM`.
    pub fn stage_instructions(&self, stage: usize) -> impl Iterator<Item = &Instruction> {
        self.instructions.iter().filter(move |i| i.stage == stage)
    }

    /// Index of the stage `stage` builds on, if its base is an earlier stage
    /// (always a smaller index: the chains it makes end).
    pub fn base_stage_of(&self, stage: usize) -> Option<usize> {
        let st = self.stages.get(stage)?;
        if !st.base_is_stage {
            return None;
        }
        let base = st.resolved_base.to_ascii_lowercase();
        self.stages[..stage.min(self.stages.len())]
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(base.as_str()))
            .map(|s| s.index)
    }

    /// The stage and, following `FROM <earlier stage>`, its ancestors, nearest first.
    pub fn stage_chain(&self, stage: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut cur = Some(stage);
        while let Some(s) = cur {
            if s >= self.stages.len() {
                break;
            }
            out.push(s);
            cur = self.base_stage_of(s);
        }
        out
    }

    /// Stages whose contents end up in the final image (final stage and its ancestors).
    pub fn final_chain(&self) -> Vec<usize> {
        if self.stages.is_empty() {
            return Vec::new();
        }
        self.stage_chain(self.stages.len() - 1)
    }

    fn global_scope(&self, upto: Option<usize>) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = HashMap::new();
        for (idx, inst) in self.instructions.iter().enumerate() {
            if inst.stage != GLOBAL_STAGE || upto.is_some_and(|u| idx >= u) {
                continue;
            }
            if inst.keyword == "ARG" {
                let pairs = arg_pairs_with(inst, Some(&|n: &str| vars.get(n).cloned()));
                for (k, v) in pairs {
                    if let Some(v) = v {
                        vars.insert(k, v);
                    }
                }
            }
        }
        vars
    }

    fn scope(&self, stage: usize, upto: Option<usize>) -> Scope {
        let mut scope = Scope::default();
        if let Some(b) = self.base_stage_of(stage) {
            let base = self.scope(b, None);
            scope.env = base.env;
            scope.user = base.user;
        }
        let globals = self.global_scope(None);
        for (idx, inst) in self.instructions.iter().enumerate() {
            if inst.stage != stage {
                continue;
            }
            if upto.is_some_and(|u| idx >= u) {
                break;
            }
            match inst.keyword.as_str() {
                "ARG" => {
                    let pairs = {
                        let lookup = |n: &str| scope.get(n);
                        arg_pairs_with(inst, Some(&lookup))
                    };
                    for (k, v) in pairs {
                        match v {
                            Some(v) => {
                                scope.args.insert(k, v);
                            }
                            None => {
                                if let Some(g) = globals.get(&k) {
                                    scope.args.insert(k, g.clone());
                                }
                            }
                        }
                    }
                }
                "ENV" => {
                    let pairs = {
                        let lookup = |n: &str| scope.get(n);
                        env_pairs_with(inst, Some(&lookup))
                    };
                    for (k, v) in pairs {
                        scope.env.insert(k, v);
                    }
                }
                "USER" => {
                    let raw = inst.args_text();
                    let lookup = |n: &str| scope.get(n);
                    let u = process_word(raw.trim(), inst.escape, Some(&lookup));
                    scope.user = Some(u.trim().to_string());
                }
                _ => {}
            }
        }
        scope
    }

    /// ARG/ENV variables in scope just before instruction `idx` (ENV wins over ARG).
    pub fn vars_at(&self, idx: usize) -> HashMap<String, String> {
        match self.instructions.get(idx) {
            None => HashMap::new(),
            Some(inst) if inst.stage == GLOBAL_STAGE => self.global_scope(Some(idx)),
            Some(inst) => self.scope(inst.stage, Some(idx)).merged(),
        }
    }

    /// Every image the build would pull from outside: non-stage FROM bases
    /// (resolved; `scratch` excluded), `COPY/ADD --from=<image>` that isn't a
    /// stage name or index, `RUN --mount=…,from=<image>`; with line numbers.
    pub fn external_images(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        let globals = self.global_scope(None);
        let lookup = |n: &str| globals.get(n).cloned();
        for st in &self.stages {
            if !st.base_is_stage && !st.resolved_base.eq_ignore_ascii_case("scratch") {
                out.push((st.line, st.resolved_base.clone()));
            }
        }
        for inst in &self.instructions {
            let froms: Vec<String> = match inst.keyword.as_str() {
                "COPY" | "ADD" => inst.flag_values("from").map(str::to_string).collect(),
                "RUN" => inst
                    .flag_values("mount")
                    .filter_map(|m| mount_option(m, "from"))
                    .collect(),
                _ => continue,
            };
            for f in froms {
                let v = process_word(f.trim(), inst.escape, Some(&lookup));
                // A stage exists only once it has finished: the current or a
                // later stage's name is read by the engine as an image name.
                if v.is_empty() || self.is_earlier_stage_ref(&v, inst.stage) {
                    continue;
                }
                out.push((inst.line, v));
            }
        }
        out.sort_by_key(|(l, _)| *l);
        out
    }

    /// `r` names a stage, or is the index of one, that comes before `stage`
    /// (and so has finished when an instruction of `stage` runs).
    pub fn is_earlier_stage_ref(&self, r: &str, stage: usize) -> bool {
        let lower = r.to_ascii_lowercase();
        let before = &self.stages[..stage.min(self.stages.len())];
        if let Ok(n) = lower.parse::<usize>() {
            return n < before.len();
        }
        before
            .iter()
            .any(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// `ADD` sources that are not files of the build context: URLs and git
    /// sources in any spelling, and sources built from variables (which the
    /// builder would expand into anything). The classic builder fetches URL
    /// sources itself, on the engine host's network, outside the build's
    /// `networkmode`. Also `ONBUILD ADD …`, whose trigger runs in a later build.
    pub fn remote_add_sources(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for inst in &self.instructions {
            let (flags, sources) = match (inst.keyword.as_str(), &inst.args) {
                ("ADD", Args::Exec(words)) => (
                    inst.flags.clone(),
                    words[..words.len().saturating_sub(1)].to_vec(),
                ),
                ("ADD", Args::Shell(text)) => {
                    (inst.flags.clone(), shell_sources(text, inst.escape))
                }
                ("ONBUILD", _) => {
                    let text = inst.args_text();
                    let (kw, rest) = split_keyword(&text);
                    if !kw.eq_ignore_ascii_case("ADD") {
                        continue;
                    }
                    let (flags, rest) = parse_flags(rest);
                    (flags, shell_sources(rest.trim(), inst.escape))
                }
                _ => continue,
            };
            // --checksum and --keep-git-dir only make sense for remote sources.
            for (name, _) in &flags {
                if name == "checksum" || name == "keep-git-dir" {
                    out.push((inst.line, format!("--{name}")));
                }
            }
            for source in sources {
                if is_remote_source(&source) {
                    out.push((inst.line, truncate_chars(&source, 120)));
                }
            }
        }
        out
    }

    /// The first `WORKDIR` that reaches into `/proc` (whatever the spelling:
    /// `/proc/self/fd/7`, `//proc`, `/x/../proc`, a relative `proc/…` from
    /// `/`, or a variable that expands to it). A working directory under
    /// `/proc/self/fd` is how CVE-2024-21626 escaped runc.
    pub fn workdir_into_proc(&self) -> Option<(usize, String)> {
        let mut cwd: HashMap<usize, String> = HashMap::new();
        for (idx, inst) in self.instructions.iter().enumerate() {
            if inst.keyword != "WORKDIR" {
                continue;
            }
            let raw = inst.args_text();
            let expanded = expand_in(inst, raw.trim(), &self.vars_at(idx));
            let base = cwd.get(&inst.stage).cloned().unwrap_or_else(|| "/".into());
            let path = normalise_path(&base, &expanded);
            if path_reaches_proc(&path)
                || path_reaches_proc(&raw)
                || raw.contains('$') && expanded.contains('$')
            {
                return Some((inst.line, truncate_chars(raw.trim(), 120)));
            }
            cwd.insert(inst.stage, path);
        }
        None
    }

    /// Final USER of the final stage after ARG/ENV substitution, if any
    /// (None = image default). A USER inherited through `FROM <earlier stage>`
    /// counts, because the image really keeps it; a USER in an unrelated
    /// earlier stage does not.
    pub fn final_user(&self) -> Option<String> {
        if self.stages.is_empty() {
            return None;
        }
        self.scope(self.stages.len() - 1, None).user
    }
}

/// The source words of a shell-form `ADD`/`COPY` (every word but the last),
/// with quotes and escapes removed but variables left as written.
fn shell_sources(text: &str, escape: char) -> Vec<String> {
    let words = split_raw_words(text, escape);
    words[..words.len().saturating_sub(1)]
        .iter()
        .map(|w| process_word(w, escape, None))
        .collect()
}

/// Whether an `ADD` source could name something outside the build context.
fn is_remote_source(source: &str) -> bool {
    let lower = source.trim().to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("git@")
        || lower.contains('$')
        // scp-like git sources: `host:path.git`, `user@host:repo`
        || (lower.contains('@') && lower.contains(':'))
        || lower.ends_with(".git")
}

/// `rel` resolved against the absolute directory `base`, with `.`, `..` and
/// repeated slashes removed.
fn normalise_path(base: &str, rel: &str) -> String {
    let joined = if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether an absolute path is `/proc` or below it.
fn path_reaches_proc(path: &str) -> bool {
    let normal = normalise_path("/", path.trim());
    normal == "/proc" || normal.starts_with("/proc/")
}

/// Value of `key` in a `--mount` option list like `type=cache,from=img,target=/x`.
pub fn mount_option(mount: &str, key: &str) -> Option<String> {
    mount.split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case(key) {
            Some(v.trim().trim_matches('"').to_string())
        } else {
            None
        }
    })
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Docker word processing: removes quotes, handles the escape character and,
/// when `lookup` is given, expands `$X`, `${X}`, `${X:-d}`, `${X-d}`,
/// `${X:+a}`, `${X+a}` (unknown variables expand to "").
fn process_word(s: &str, escape: char, lookup: Option<Lookup>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    process_chars(&chars, &mut i, escape, lookup, &mut out, None, 0);
    out
}

/// Processes `chars` from `*i` until the end or an unmatched `stop` char.
fn process_chars(
    chars: &[char],
    i: &mut usize,
    escape: char,
    lookup: Option<Lookup>,
    out: &mut String,
    stop: Option<char>,
    depth: usize,
) {
    while *i < chars.len() {
        let c = chars[*i];
        if Some(c) == stop {
            return;
        }
        if c == escape {
            if let Some(&n) = chars.get(*i + 1) {
                out.push(n);
                *i += 2;
            } else {
                out.push(c);
                *i += 1;
            }
        } else if c == '\'' {
            *i += 1;
            while *i < chars.len() && chars[*i] != '\'' {
                out.push(chars[*i]);
                *i += 1;
            }
            *i += 1;
        } else if c == '"' {
            *i += 1;
            while *i < chars.len() && chars[*i] != '"' {
                let d = chars[*i];
                if d == escape {
                    match chars.get(*i + 1) {
                        Some(&n) if n == '"' || n == escape || n == '$' => {
                            out.push(n);
                            *i += 2;
                        }
                        _ => {
                            out.push(d);
                            *i += 1;
                        }
                    }
                } else if let Some(look) = lookup.filter(|_| d == '$') {
                    expand_dollar(chars, i, escape, look, out, depth);
                } else {
                    out.push(d);
                    *i += 1;
                }
            }
            *i += 1;
        } else if let Some(look) = lookup.filter(|_| c == '$') {
            expand_dollar(chars, i, escape, look, out, depth);
        } else {
            out.push(c);
            *i += 1;
        }
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `chars[*i]` is `$`.
fn expand_dollar(
    chars: &[char],
    i: &mut usize,
    escape: char,
    look: Lookup,
    out: &mut String,
    depth: usize,
) {
    let start = *i;
    match chars.get(*i + 1) {
        Some(&c) if is_name_start(c) => {
            let mut j = *i + 1;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[*i + 1..j].iter().collect();
            out.push_str(&look(&name).unwrap_or_default());
            *i = j;
        }
        Some('{') if depth < 16 => {
            let mut j = *i + 2;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[*i + 2..j].iter().collect();
            if name.is_empty() {
                out.push('$');
                *i += 1;
                return;
            }
            let value = look(&name);
            match chars.get(j) {
                Some('}') => {
                    out.push_str(&value.unwrap_or_default());
                    *i = j + 1;
                }
                Some(&op @ (':' | '-' | '+')) => {
                    let (colon, kind, mut k) = if op == ':' {
                        match chars.get(j + 1) {
                            Some(&k @ ('-' | '+')) => (true, k, j + 2),
                            _ => {
                                out.push('$');
                                *i = start + 1;
                                return;
                            }
                        }
                    } else {
                        (false, op, j + 1)
                    };
                    let mut word = String::new();
                    process_chars(
                        chars,
                        &mut k,
                        escape,
                        Some(look),
                        &mut word,
                        Some('}'),
                        depth + 1,
                    );
                    if chars.get(k) != Some(&'}') {
                        // unterminated: keep literally
                        let rest: String = chars[start..].iter().collect();
                        out.push_str(&rest);
                        *i = chars.len();
                        return;
                    }
                    let set = match (&value, colon) {
                        (Some(v), true) => !v.is_empty(),
                        (Some(_), false) => true,
                        (None, _) => false,
                    };
                    let result = match kind {
                        '-' => {
                            if set {
                                value.unwrap_or_default()
                            } else {
                                word
                            }
                        }
                        _ => {
                            if set {
                                word
                            } else {
                                String::new()
                            }
                        }
                    };
                    out.push_str(&result);
                    *i = k + 1;
                }
                _ => {
                    out.push('$');
                    *i += 1;
                }
            }
        }
        _ => {
            out.push('$');
            *i += 1;
        }
    }
}

/// Splits on unquoted, unescaped whitespace, keeping quotes in the words.
pub(crate) fn split_raw_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == escape {
                    cur.push(c);
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                    cur.push(c);
                } else if c.is_whitespace() {
                    if !cur.is_empty() {
                        words.push(std::mem::take(&mut cur));
                    }
                } else {
                    cur.push(c);
                }
            }
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn kv_pairs(inst: &Instruction, lookup: Option<Lookup>) -> Vec<(String, Option<String>)> {
    let text = inst.args_text();
    let words = split_raw_words(&text, inst.escape);
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => out.push((
                process_word(k, inst.escape, None),
                Some(process_word(v, inst.escape, lookup)),
            )),
            None => out.push((process_word(&w, inst.escape, None), None)),
        }
    }
    out
}

fn env_pairs_with(inst: &Instruction, lookup: Option<Lookup>) -> Vec<(String, String)> {
    if inst.keyword != "ENV" {
        return Vec::new();
    }
    let text = inst.args_text();
    let text = text.trim();
    let words = split_raw_words(text, inst.escape);
    let Some(first) = words.first() else {
        return Vec::new();
    };
    if !first.contains('=') {
        // legacy `ENV key value with spaces`
        let rest = text.get(first.len()..).unwrap_or("").trim_start();
        return vec![(
            process_word(first, inst.escape, None),
            process_word(rest, inst.escape, lookup),
        )];
    }
    kv_pairs(inst, lookup)
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

fn arg_pairs_with(inst: &Instruction, lookup: Option<Lookup>) -> Vec<(String, Option<String>)> {
    if inst.keyword != "ARG" {
        return Vec::new();
    }
    kv_pairs(inst, lookup)
}

/// `ENV k=v k2="v 2"` and legacy `ENV k v` pairs, quotes removed, variables
/// not expanded. Empty for other instructions.
pub fn env_pairs(inst: &Instruction) -> Vec<(String, String)> {
    env_pairs_with(inst, None)
}

/// `ARG k` / `ARG k=v` (several per line allowed), quotes removed, variables
/// not expanded. Empty for other instructions.
pub fn arg_pairs(inst: &Instruction) -> Vec<(String, Option<String>)> {
    arg_pairs_with(inst, None)
}

/// Docker word processing of `text` (quote removal + variable expansion)
/// with `vars`, and the instruction's escape character.
pub fn expand_in(inst: &Instruction, text: &str, vars: &HashMap<String, String>) -> String {
    process_word(text, inst.escape, Some(&|n: &str| vars.get(n).cloned()))
}

/// Parses `# key=value` parser directives; returns escape char and the index of
/// the first line that is not a directive.
fn parse_directives(lines: &[&str]) -> Result<(char, usize), DockerfileError> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        let t = line.trim();
        let Some(body) = t.strip_prefix('#') else {
            return Ok((escape, idx));
        };
        let Some((k, v)) = body.split_once('=') else {
            return Ok((escape, idx));
        };
        let key = k.trim().to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            return Ok((escape, idx));
        }
        if seen.contains(&key) {
            return err(idx + 1, format!("parser directive `{key}` given twice"));
        }
        seen.push(key.clone());
        if key == "escape" {
            escape = match v.trim() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    return err(
                        idx + 1,
                        format!(
                            "invalid escape directive `{}`: must be \\ or `",
                            truncate_chars(other, 20)
                        ),
                    )
                }
            };
        }
    }
    Ok((escape, lines.len()))
}

/// A heredoc opened on an instruction line: (delimiter, strip leading tabs).
fn heredoc_starts(line: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i + 1 < chars.len() {
        if let Some(q) = quote {
            if chars[i] == '\\' && q == '"' {
                i += 1;
            } else if chars[i] == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if chars[i] == '"' || chars[i] == '\'' {
            quote = Some(chars[i]);
            i += 1;
            continue;
        }
        if chars[i] == '<' && chars[i + 1] == '<' {
            let mut j = i + 2;
            if chars.get(j) == Some(&'<') {
                // here-string
                i = j + 1;
                continue;
            }
            let strip = chars.get(j) == Some(&'-');
            if strip {
                j += 1;
            }
            let quote = match chars.get(j) {
                Some(&q @ ('"' | '\'')) => {
                    j += 1;
                    Some(q)
                }
                _ => None,
            };
            let start = j;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            let word: String = chars[start..j].iter().collect();
            let quote_ok = match quote {
                // Past the closing quote, which opens nothing.
                Some(q) if chars.get(j) == Some(&q) => {
                    j += 1;
                    true
                }
                Some(_) => false,
                None => true,
            };
            if !word.is_empty()
                && quote_ok
                && (quote.is_some() || word.chars().next().is_some_and(is_name_start))
            {
                out.push((word, strip));
            }
            // j is past the `<<` at least.
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn split_keyword(line: &str) -> (&str, &str) {
    let t = line.trim_start();
    match t.find(char::is_whitespace) {
        Some(p) => (&t[..p], &t[p..]),
        None => (t, ""),
    }
}

fn takes_flags(kw: &str) -> bool {
    matches!(kw, "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK")
}

fn json_form(kw: &str) -> bool {
    matches!(
        kw,
        "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "VOLUME" | "COPY" | "ADD"
    )
}

/// Parses leading `--name[=value]` flags; returns them and the remaining text.
fn parse_flags(mut rest: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    loop {
        let t = rest.trim_start();
        let Some(body) = t.strip_prefix("--") else {
            return (flags, t);
        };
        let end = body.find(char::is_whitespace).unwrap_or(body.len());
        let tok = &body[..end];
        let (name, value) = match tok.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (tok, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return (flags, t);
        }
        flags.push((name.to_ascii_lowercase(), value));
        rest = &body[end..];
    }
}

struct Logical {
    line: usize,
    text: String,
    heredoc: String,
    opened_heredoc: bool,
}

/// Parses a Dockerfile. Never panics.
pub fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
    if text.len() > MAX_BYTES {
        return err(
            0,
            format!(
                "the Dockerfile is {} bytes; the limit is {} bytes (64 KiB)",
                text.len(),
                MAX_BYTES
            ),
        );
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (escape, first) = parse_directives(&lines)?;

    // 1. logical lines
    let mut logical: Vec<Logical> = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut joined = String::new();
        let mut cur = l;
        loop {
            let trimmed = cur.trim_end();
            if let Some(body) = trimmed.strip_suffix(escape) {
                joined.push_str(body);
                i += 1;
                // skip comment / blank lines inside the continuation
                while i < lines.len() {
                    let n = lines[i].trim();
                    if n.is_empty() || n.starts_with('#') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i >= lines.len() {
                    break;
                }
                cur = lines[i];
            } else {
                joined.push_str(cur);
                i += 1;
                break;
            }
        }
        // heredocs
        let mut heredoc = String::new();
        let mut opened_heredoc = false;
        let (kw, _) = split_keyword(&joined);
        if matches!(kw.to_ascii_uppercase().as_str(), "RUN" | "COPY" | "ADD") {
            for (word, strip) in heredoc_starts(&joined) {
                opened_heredoc = true;
                let mut closed = false;
                while i < lines.len() {
                    let body = lines[i];
                    i += 1;
                    let cmp = if strip {
                        body.trim_start_matches('\t')
                    } else {
                        body
                    };
                    heredoc.push('\n');
                    heredoc.push_str(cmp);
                    if cmp.trim_end() == word {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return err(
                        start,
                        format!(
                            "heredoc `<<{}` is never closed (expected a line `{}`)",
                            truncate_chars(&word, 40),
                            truncate_chars(&word, 40)
                        ),
                    );
                }
            }
        }
        logical.push(Logical {
            line: start,
            text: joined,
            heredoc,
            opened_heredoc,
        });
    }

    // 2. instructions
    let mut df = Dockerfile {
        instructions: Vec::new(),
        stages: Vec::new(),
        global_args: Vec::new(),
    };
    for lg in logical {
        if df.instructions.len() >= MAX_INSTRUCTIONS {
            return err(
                lg.line,
                format!("too many instructions (the limit is {MAX_INSTRUCTIONS})"),
            );
        }
        let (kw_raw, rest) = split_keyword(&lg.text);
        let kw = kw_raw.to_ascii_uppercase();
        if !KEYWORDS.contains(&kw.as_str()) {
            return err(
                lg.line,
                format!("unknown instruction `{}`", truncate_chars(kw_raw, 40)),
            );
        }
        let (flags, rest) = if takes_flags(&kw) {
            parse_flags(rest)
        } else {
            (Vec::new(), rest.trim_start())
        };
        let rest = rest.trim();
        if rest.is_empty() && lg.heredoc.is_empty() {
            return err(lg.line, format!("`{kw}` needs arguments"));
        }
        let args = if json_form(&kw) && rest.starts_with('[') && lg.heredoc.is_empty() {
            match serde_json::from_str::<Vec<String>>(rest) {
                Ok(v) => Args::Exec(v),
                Err(_) => Args::Shell(rest.to_string()),
            }
        } else {
            Args::Shell(format!("{rest}{}", lg.heredoc))
        };
        let original = truncate_chars(lg.text.trim(), ORIGINAL_MAX_CHARS);

        let stage = if kw == "FROM" {
            let st = parse_from(&df, rest, lg.line, escape)?;
            df.stages.push(st);
            df.stages.len() - 1
        } else if df.stages.is_empty() {
            if kw != "ARG" {
                return err(
                    lg.line,
                    format!(
                        "the first instruction must be FROM (only ARG may come before it), found `{kw}`"
                    ),
                );
            }
            GLOBAL_STAGE
        } else {
            df.stages.len() - 1
        };
        if kw == "ONBUILD" {
            let (inner, _) = split_keyword(rest);
            let inner = inner.to_ascii_uppercase();
            if !KEYWORDS.contains(&inner.as_str()) {
                return err(
                    lg.line,
                    format!(
                        "unknown instruction `{}` after ONBUILD",
                        truncate_chars(&inner, 40)
                    ),
                );
            }
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return err(lg.line, format!("`ONBUILD {inner}` is not allowed"));
            }
        }
        let inst = Instruction {
            line: lg.line,
            keyword: kw.clone(),
            flags,
            args,
            original,
            stage,
            escape,
            heredoc: lg.opened_heredoc,
        };
        if stage == GLOBAL_STAGE {
            df.global_args.extend(arg_pairs(&inst));
        }
        df.instructions.push(inst);
    }
    if df.stages.is_empty() {
        return err(0, "no FROM instruction found");
    }
    Ok(df)
}

fn parse_from(
    df: &Dockerfile,
    rest: &str,
    line: usize,
    escape: char,
) -> Result<Stage, DockerfileError> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (base, name) =
        match words.as_slice() {
            [b] => (*b, None),
            [b, as_kw] if as_kw.eq_ignore_ascii_case("as") => {
                return err(
                    line,
                    format!(
                        "`FROM {} AS` is missing the stage name after AS",
                        truncate_chars(b, 80)
                    ),
                )
            }
            [b, as_kw, n] if as_kw.eq_ignore_ascii_case("as") => (*b, Some(n.to_ascii_lowercase())),
            _ => return err(
                line,
                "FROM takes an image and an optional `AS name`, e.g. `FROM alpine:3.20 AS build`",
            ),
        };
    if let Some(n) = &name {
        let ok = n.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !ok {
            return err(
                line,
                format!(
                    "invalid stage name `{}`: use letters, digits, `-`, `_`, `.`, starting with a letter",
                    truncate_chars(n, 40)
                ),
            );
        }
        if df
            .stages
            .iter()
            .any(|s| s.name.as_deref() == Some(n.as_str()))
        {
            return err(line, format!("stage name `{n}` is used twice"));
        }
    }
    let globals = df.global_scope(None);
    let resolved = process_word(base, escape, Some(&|n: &str| globals.get(n).cloned()));
    let lower = resolved.to_ascii_lowercase();
    let base_is_stage = df
        .stages
        .iter()
        .any(|s| s.name.as_deref() == Some(lower.as_str()));
    if resolved.trim().is_empty() {
        return err(
            line,
            format!(
                "FROM `{}` resolves to an empty image name",
                truncate_chars(base, 80)
            ),
        );
    }
    Ok(Stage {
        index: df.stages.len(),
        name,
        base: base.to_string(),
        resolved_base: resolved,
        base_is_stage,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Dockerfile {
        parse(s).unwrap_or_else(|e| panic!("parse failed: {e}\n{s}"))
    }

    #[test]
    fn continuation_and_comments() {
        let df = p("FROM alpine:3.20\nRUN echo a \\\n# a comment\n\n    && echo b\nCMD [\"sh\"]\n");
        assert_eq!(df.instructions.len(), 3);
        let run = &df.instructions[1];
        assert_eq!(run.line, 2);
        assert_eq!(run.keyword, "RUN");
        assert_eq!(run.args, Args::Shell("echo a     && echo b".into()));
        assert_eq!(df.instructions[2].line, 6);
        assert_eq!(df.instructions[2].args, Args::Exec(vec!["sh".into()]));
    }

    #[test]
    fn escape_directive() {
        let df = p("# escape=`\n# syntax=docker/dockerfile:1\nFROM mcr.microsoft.com/windows:ltsc2022\nRUN dir `\n  C:\\Windows\nENV P=C:\\x\n");
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("dir   C:\\Windows".into())
        );
        assert_eq!(df.instructions[1].escape, '`');
        assert_eq!(
            env_pairs(&df.instructions[2]),
            vec![("P".into(), "C:\\x".into())]
        );
        // directive after a comment is just a comment
        let df = p("# hello\n# escape=`\nFROM a:1\nRUN x \\\n y\n");
        assert_eq!(df.instructions[1].args, Args::Shell("x  y".into()));
        assert!(parse("# escape=x\nFROM a\n").is_err());
    }

    #[test]
    fn keywords_case_insensitive_and_unknown() {
        let df = p("from alpine:3 as Build\nrun echo hi\n");
        assert_eq!(df.instructions[1].keyword, "RUN");
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        let e = parse("FROM a:1\n\nFOO bar\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("FOO"), "{e}");
        assert_eq!(e.to_string(), "line 3: unknown instruction `FOO`");
    }

    #[test]
    fn json_vs_shell() {
        let df = p("FROM a:1\nCMD [\"a\", \"b c\"]\nCMD [a, b]\nENTRYPOINT [\"x\" \nRUN [\"sh\",\"-c\",\"echo\"]\n");
        assert_eq!(
            df.instructions[1].args,
            Args::Exec(vec!["a".into(), "b c".into()])
        );
        assert_eq!(df.instructions[2].args, Args::Shell("[a, b]".into()));
        assert_eq!(df.instructions[3].args, Args::Shell("[\"x\"".into()));
        assert!(matches!(df.instructions[4].args, Args::Exec(_)));
    }

    #[test]
    fn env_forms() {
        let df = p(
            "FROM a:1\nENV k=v k2=\"v 2\" k3='x y' k4=a\\ b\nENV LEGACY some value here\nENV E=\n",
        );
        assert_eq!(
            env_pairs(&df.instructions[1]),
            vec![
                ("k".into(), "v".into()),
                ("k2".into(), "v 2".into()),
                ("k3".into(), "x y".into()),
                ("k4".into(), "a b".into())
            ]
        );
        assert_eq!(
            env_pairs(&df.instructions[2]),
            vec![("LEGACY".into(), "some value here".into())]
        );
        assert_eq!(
            env_pairs(&df.instructions[3]),
            vec![("E".into(), "".into())]
        );
        assert!(env_pairs(&df.instructions[0]).is_empty());
    }

    #[test]
    fn arg_forms_and_resolution() {
        let df = p("ARG REG=docker.io\nARG TAG\nARG V=3.20\nFROM ${REG}/alpine:${V}\nFROM ${TAG:-busybox:1}\nFROM ${REG:+x}y:1\nFROM $NOPE${V-9}\nARG a=1 b\n");
        assert_eq!(
            df.global_args,
            vec![
                ("REG".into(), Some("docker.io".into())),
                ("TAG".into(), None),
                ("V".into(), Some("3.20".into()))
            ]
        );
        assert_eq!(df.instructions[0].stage, GLOBAL_STAGE);
        assert_eq!(df.stages[0].resolved_base, "docker.io/alpine:3.20");
        assert_eq!(df.stages[0].base, "${REG}/alpine:${V}");
        assert_eq!(df.stages[1].resolved_base, "busybox:1");
        assert_eq!(df.stages[2].resolved_base, "xy:1");
        assert_eq!(df.stages[3].resolved_base, "3.20");
        assert_eq!(
            arg_pairs(df.instructions.last().unwrap()),
            vec![("a".into(), Some("1".into())), ("b".into(), None)]
        );
    }

    #[test]
    fn multi_stage_and_copy_from() {
        let df = p("FROM golang:1.22 AS build\nRUN go build\nFROM build AS test\nFROM alpine:3.20\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\nCOPY --from=nginx:1.25 /c /c\nRUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=ghcr.io/x/y:1,target=/y make\nRUN --mount=type=bind,from=build,target=/z ls\n");
        assert_eq!(df.stages.len(), 3);
        assert!(df.stages[1].base_is_stage);
        assert!(!df.stages[2].base_is_stage);
        assert_eq!(df.final_stage().index, 2);
        assert_eq!(df.stage_instructions(0).count(), 2);
        assert_eq!(df.stage_instructions(2).count(), 6);
        let run = &df.instructions[7];
        assert_eq!(run.flags.len(), 2);
        assert_eq!(run.flags[0].0, "mount");
        assert_eq!(
            run.flags[0].1.as_deref(),
            Some("type=cache,target=/root/.cache")
        );
        assert_eq!(run.args, Args::Shell("make".into()));
        assert_eq!(
            df.external_images(),
            vec![
                (1, "golang:1.22".to_string()),
                (4, "alpine:3.20".to_string()),
                (7, "nginx:1.25".to_string()),
                (8, "ghcr.io/x/y:1".to_string())
            ]
        );
    }

    #[test]
    fn final_user_rules() {
        let df = p("FROM a:1 AS b\nUSER app\nFROM c:1\nRUN x\n");
        assert_eq!(df.final_user(), None);
        let df = p("FROM a:1 AS b\nUSER app\nFROM b\nRUN x\n");
        assert_eq!(df.final_user().as_deref(), Some("app"));
        let df = p("ARG U=10001\nFROM a:1\nARG U\nENV G=20\nUSER ${U}:$G\n");
        assert_eq!(df.final_user().as_deref(), Some("10001:20"));
        let df = p("FROM a:1\nUSER app\nUSER root\n");
        assert_eq!(df.final_user().as_deref(), Some("root"));
    }

    #[test]
    fn heredoc_simple() {
        let df =
            p("FROM a:1\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\nCMD [\"x\"]\n");
        assert_eq!(df.instructions.len(), 3);
        assert_eq!(
            df.instructions[1].args,
            Args::Shell("<<EOF\napt-get update\napt-get install -y curl\nEOF".into())
        );
        assert_eq!(df.instructions[2].line, 6);
        let e = parse("FROM a:1\nRUN <<EOF\nnever closed\n").unwrap_err();
        assert_eq!(e.line, 2);
        let df = p("FROM a:1\nRUN cat <<-'X' > /f\n\thello\n\tX\n");
        let df2 = p("FROM a:1\nRUN echo \"a <<b\" 'c <<d' $((1<<2))\nCMD x\n");
        assert_eq!(df2.instructions.len(), 3);
        assert!(df.instructions[1].args_text().contains("hello"));
    }

    #[test]
    fn errors() {
        let e = parse("RUN x\nFROM a\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("FROM"));
        assert_eq!(parse("FROM\n").unwrap_err().line, 1);
        let e = parse("\n\nFROM x AS\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("stage name"));
        assert!(parse("FROM a b c d\n").is_err());
        assert!(parse("").is_err());
        assert!(parse("# just a comment\n").is_err());
        assert!(parse(&"#".repeat(70_000)).is_err());
        let many = format!("FROM a:1\n{}", "RUN x\n".repeat(1000));
        let e = parse(&many).unwrap_err();
        assert_eq!(e.line, 1001);
        assert!(parse("FROM a AS x\nFROM b AS x\n").is_err());
        assert!(parse("FROM a:1\nRUN\n").is_err());
        assert!(parse("FROM a:1\nONBUILD FOO x\n").is_err());
        assert!(parse("ARG X\nFROM $X\n").is_err());
    }

    #[test]
    fn stages_chain_back_to_earlier_stages_only() {
        let df = p("FROM a:1 AS x\nFROM x AS y\nFROM b:1\nFROM y\n");
        assert_eq!(df.stage_chain(3), vec![3, 1, 0]);
        assert_eq!(df.stage_chain(2), vec![2]);
        assert_eq!(df.final_chain(), vec![3, 1, 0]);
        assert!(df.stage_chain(4).is_empty());
        assert!(df.is_earlier_stage_ref("X", 1));
        assert!(df.is_earlier_stage_ref("0", 1));
        assert!(!df.is_earlier_stage_ref("1", 1));
        assert!(!df.is_earlier_stage_ref("y", 1));
        assert!(df.is_earlier_stage_ref("y", 2));
    }

    #[test]
    fn variables_in_scope_are_those_declared_before() {
        let df = p("ARG A=1\nARG B=$A-2\nARG C\nARG C=3\nFROM x\nARG D=4\nRUN y\n");
        let vars = |idx: usize| {
            let mut v: Vec<(String, String)> = df.vars_at(idx).into_iter().collect();
            v.sort();
            v
        };
        assert!(vars(0).is_empty());
        assert_eq!(
            vars(2),
            vec![("A".into(), "1".into()), ("B".into(), "1-2".into())]
        );
        // An ARG without a value declared before C=3 does not see it.
        assert_eq!(vars(3).len(), 2);
        assert_eq!(vars(6), vec![("D".into(), "4".into())]);
        assert!(vars(99).is_empty());
    }

    #[test]
    fn add_sources_outside_the_context_are_found_in_every_spelling() {
        let df = p("FROM a:1\nADD --checksum=sha256:00 x /y\nADD --chown=1 --keep-git-dir=true x /y\nADD --chown=1 x /y\nONBUILD ADD http://127.0.0.1/x /y\nONBUILD RUN echo http://127.0.0.1/x /y\nONBUILD ADD --checksum=sha256:00 x /y\nADD [\"git@h:r\", \"/y\"]\n");
        assert_eq!(
            df.remote_add_sources(),
            vec![
                (2, "--checksum".to_string()),
                (3, "--keep-git-dir".to_string()),
                (5, "http://127.0.0.1/x".to_string()),
                (7, "--checksum".to_string()),
                (8, "git@h:r".to_string()),
            ]
        );
        for remote in [
            "http://h/x",
            "git@h:r",
            "$U",
            "user@host:repo",
            "r.git",
            "R.GIT",
        ] {
            assert!(is_remote_source(remote), "{remote}");
        }
        for local in ["file@2x.png", "dir:x", "a.tar", "git"] {
            assert!(!is_remote_source(local), "{local}");
        }
    }

    #[test]
    fn a_workdir_reaches_proc_through_variables_and_relative_steps() {
        for (text, line) in [
            ("FROM a:1\nARG P=/proc/self/fd\nWORKDIR $P\n", 3),
            ("FROM a:1\nWORKDIR /x/../proc\n", 2),
            ("FROM a:1\nWORKDIR /\nWORKDIR proc/self\n", 3),
            ("FROM a:1\nWORKDIR /\\$P\nWORKDIR /tmp\n", 2),
        ] {
            assert_eq!(
                p(text).workdir_into_proc().map(|(l, _)| l),
                Some(line),
                "{text}"
            );
        }
        assert_eq!(
            p("FROM a:1\nWORKDIR /x/proc\nWORKDIR /procfs\n").workdir_into_proc(),
            None
        );
    }

    #[test]
    fn words_lose_quotes_and_escapes_as_the_engine_reads_them() {
        let vars: HashMap<String, String> = [("A".to_string(), "x".to_string())].into();
        // Without a lookup, variables stay as written.
        assert_eq!(process_word("\"a$A\"$A", '\\', None), "a$A$A");
        let word = |t: &str| process_word(t, '\\', Some(&|n: &str| vars.get(n).cloned()));
        assert_eq!(word("'$A'"), "$A");
        assert_eq!(word("'a'$A"), "ax");
        assert_eq!(word("\"a\"'$A'"), "a$A");
        assert_eq!(word("${N-d}|${A-d}|${N+y}|${A+y}"), "d|x||y");
        assert_eq!(word("${N:-d}|${A:-d}|${N:+y}|${A:+y}"), "d|x||y");
        // Defaults nest 16 deep; deeper, the rest is taken as written, and
        // no depth of nesting exhausts the stack.
        let nested = |n: usize| format!("{}z{}", "${B:-".repeat(n), "}".repeat(n));
        assert_eq!(word(&nested(16)), "z");
        assert_ne!(word(&nested(17)), "z");
        assert!(!word(&nested(100_000)).is_empty());
        assert_eq!(word("\"$A\"b"), "xb");
        assert_eq!(word("a\\"), "a\\");
        assert_eq!(word("\"a\\b\""), "a\\b");
        assert_eq!(word("\"a\\\"b\""), "a\"b");
        assert_eq!(word("\"abc\\\"d\\$A\""), "abc\"d$A");
        assert_eq!(word("\"a\\$A\""), "a$A");
        assert_eq!(word("\"a\\\\b\""), "a\\b");
    }

    #[test]
    fn directive_errors_name_their_line() {
        let e = parse("# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("given twice")), (2, true));
        let e = parse("# syntax=x\n# escape=x\nFROM a\n").unwrap_err();
        assert_eq!((e.line, e.message.contains("invalid escape")), (2, true));
        // Not a directive: the escape below it is a comment.
        let df = p("# a b=c\n# escape=`\nFROM a\nRUN x \\\n y\n");
        assert_eq!(df.instructions[1].escape, '\\');
    }

    #[test]
    fn heredocs_are_found_outside_quotes_only() {
        let starts = |line: &str| heredoc_starts(line);
        assert_eq!(
            starts("RUN echo \"a\\\"<<EOF\" <<X"),
            vec![("X".to_string(), false)]
        );
        assert_eq!(starts("RUN echo 'a\\' <<X"), vec![("X".to_string(), false)]);
        assert_eq!(
            starts("RUN <<-\"A\" cat <<'B'"),
            vec![("A".to_string(), true), ("B".to_string(), false)]
        );
        let df = p("FROM a:1\nRUN <<\"A\" cat - <<'B'\na\nA\nb\nB\nCMD x\n");
        assert_eq!(df.instructions.len(), 3);
        assert_eq!(df.instructions[2].line, 7);
        assert!(starts("RUN echo <").is_empty());
        assert!(starts("RUN cat <<\"EOF").is_empty());
        assert!(starts("RUN cat <<\"EOF' x").is_empty());
        assert!(starts("RUN echo <<").is_empty());
        assert!(starts("RUN cat <<<word").is_empty());
        assert!(starts("RUN cat <<<<word").is_empty());
        assert!(starts("RUN echo $((1<<2))").is_empty());
    }

    #[test]
    fn flags_and_json_forms_belong_to_some_instructions_only() {
        let df = p("FROM a:1\nCMD --help me\nWORKDIR [\"/x\"]\nRUN --=x y\nRUN --a-b=1 --c x\nRUN --a_b x\n");
        let i = &df.instructions;
        assert!(i[1].flags.is_empty());
        assert_eq!(i[1].args, Args::Shell("--help me".into()));
        assert_eq!(i[2].args, Args::Shell("[\"/x\"]".into()));
        assert!(i[3].flags.is_empty());
        assert_eq!(i[3].args, Args::Shell("--=x y".into()));
        assert_eq!(
            i[4].flags,
            vec![
                ("a-b".to_string(), Some("1".to_string())),
                ("c".to_string(), None)
            ]
        );
        assert_eq!(i[4].args, Args::Shell("x".into()));
        assert!(i[5].flags.is_empty());
    }

    #[test]
    fn from_lines_name_their_stage_or_say_what_is_wrong() {
        let message = |text: &str| parse(text).unwrap_err().message;
        assert!(message("FROM a b\n").contains("FROM takes an image and an optional `AS name`"));
        assert!(message("FROM a b c\n").contains("FROM takes an image and an optional `AS name`"));
        assert!(message("FROM a as\n").contains("missing the stage name after AS"));
        assert!(message("FROM a AS 1x\n").contains("invalid stage name"));
        assert!(message("FROM a AS a/b\n").contains("invalid stage name"));
        assert_eq!(
            p("FROM a AS A1-b_c.d\n").stages[0].name.as_deref(),
            Some("a1-b_c.d")
        );
        // A JSON form with a heredoc keeps the heredoc's body.
        let df = p("FROM a:1\nRUN [\"cat\"] <<EOF\nhi\nEOF\n");
        assert!(
            df.instructions[1].args_text().contains("hi"),
            "{:?}",
            df.instructions[1].args
        );
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        let head = "FROM a:1\n# ";
        let at_limit = format!("{head}{}\n", "x".repeat(MAX_BYTES - head.len() - 1));
        assert_eq!(at_limit.len(), MAX_BYTES);
        assert!(parse(&at_limit).is_ok());
        let over = format!("{at_limit}\n");
        assert!(parse(&over)
            .unwrap_err()
            .message
            .contains("the limit is 65536 bytes"));
    }

    #[test]
    fn unicode_truncation() {
        let long = format!("FROM a:1\nRUN echo {}\n", "é".repeat(500));
        let df = p(&long);
        assert!(df.instructions[1].original.chars().count() <= 201);
    }

    fn line_strategy() -> impl Strategy<Value = String> {
        let kw = prop::sample::select(vec![
            "FROM",
            "from",
            "RUN",
            "CMD",
            "ENV",
            "ARG",
            "USER",
            "COPY",
            "ADD",
            "EXPOSE",
            "VOLUME",
            "WORKDIR",
            "ONBUILD",
            "HEALTHCHECK",
            "SHELL",
            "LABEL",
            "ENTRYPOINT",
            "# escape=`",
            "#",
            "",
            "FROM x AS",
            "STOPSIGNAL",
        ]);
        let piece = prop::sample::select(vec![
            " ",
            "--from=a",
            "--mount=type=secret,id=x",
            "--chown=1:1",
            "\"",
            "'",
            "\\",
            "`",
            "$",
            "${",
            "}",
            "${X:-",
            "${X:+y}",
            "=",
            "[",
            "]",
            "\"a\",",
            "é",
            "日本",
            "<<EOF",
            "EOF",
            "<<-'E'",
            "AS",
            "root",
            "0:0",
            "\t",
            "\r",
            "curl",
            "|",
            "sh",
            "😀",
        ]);
        (kw, prop::collection::vec(piece, 0..8)).prop_map(|(k, ps)| format!("{k} {}", ps.concat()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            if let Ok(df) = parse(&s) {
                let _ = df.external_images();
                let _ = df.final_user();
            }
        }

        #[test]
        fn plausible_lines_never_panic(lines in prop::collection::vec(line_strategy(), 0..20)) {
            let text = format!("FROM a:1\n{}", lines.join("\n"));
            if let Ok(df) = parse(&text) {
                let _ = df.external_images();
                let _ = df.final_user();
                for (i, inst) in df.instructions.iter().enumerate() {
                    let _ = env_pairs(inst);
                    let _ = arg_pairs(inst);
                    let _ = df.vars_at(i);
                }
            }
        }
    }
}
