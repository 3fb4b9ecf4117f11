//! The Dockerfile a lab's build hands the engine: never the learner's text,
//! always one that Drydock generates from its own parse of it.
//!
//! Two parsers never agree on every byte (parser directives, what ends a
//! continuation, quoting inside flag names, whitespace), so screening the
//! learner's file and sending it on lets the engine read instructions the
//! screen never saw. Here the learner's file is parsed once, everything in
//! it must be understood completely or it is refused with a sentence, and
//! the engine receives a file written in one canonical spelling that has
//! exactly one reading:
//!
//! * no parser directives, one instruction per line, no continuations, no
//!   control characters;
//! * `RUN`, `CMD`, `ENTRYPOINT` and `SHELL` in JSON (exec) form, the shell
//!   form spelled out with the stage's shell, so the engine splits nothing;
//! * every value the engine expands (`ENV`, `ARG`, `LABEL`, `USER`,
//!   `WORKDIR`, `STOPSIGNAL`) written as a double-quoted word whose only
//!   escapes are `\"`, `\\` and `\$`, its variables as `${NAME}`;
//! * paths (`COPY`, `ADD`, `VOLUME`) and ports in a plain character set;
//! * flags only from an allow-list, re-emitted from their parsed values;
//! * every image a stage starts from or copies from is an earlier stage or
//!   an id the caller pinned; nothing can name a URL.
//!
//! The caller adds its own labels after each `FROM` (see [`LabDockerfile::render`]),
//! so every image a build makes carries them.

use std::collections::{BTreeMap, HashMap};

use super::dockerfile::{parse, split_raw_words, Args, Dockerfile, Instruction};
use crate::sandbox::is_reserved_label;

/// A part of a word the engine expands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Characters taken as they are.
    Lit(String),
    /// `${NAME}`.
    Var(String),
    /// `${NAME:-word}` (`colon`, `'-'`), `${NAME+word}` and the like.
    VarOr {
        name: String,
        colon: bool,
        op: char,
        word: String,
    },
}

impl Seg {
    /// A variable as `${NAME}` or `${NAME:-word}`; a literal as it is.
    fn reference(&self) -> String {
        match self {
            Seg::Lit(l) => l.clone(),
            Seg::Var(name) => format!("${{{name}}}"),
            Seg::VarOr {
                name,
                colon,
                op,
                word,
            } => format!("${{{name}{}{op}{word}}}", if *colon { ":" } else { "" }),
        }
    }
}

/// A word the engine expands, as segments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word(pub Vec<Seg>);

impl Word {
    fn literal(text: &str) -> Self {
        Word(vec![Seg::Lit(text.to_string())])
    }

    /// The word when it has no variables.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Lit(l) => out.push_str(l),
                _ => return None,
            }
        }
        Some(out)
    }

    /// `"…"` with `"`, `\` and `$` escaped and variables as `${NAME}`.
    fn quoted(&self) -> String {
        let mut out = String::from("\"");
        for seg in &self.0 {
            match seg {
                Seg::Lit(l) => {
                    for c in l.chars() {
                        if matches!(c, '"' | '\\' | '$') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                variable => out.push_str(&variable.reference()),
            }
        }
        out.push('"');
        out
    }

    /// The word unquoted: its literal characters must be plain (see [`plain`]).
    fn bare(&self, line: usize, what: &str) -> Result<String, String> {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Lit(l) => {
                    if let Some(c) = l.chars().find(|c| !plain(*c)) {
                        return Err(format!(
                            "line {line}: {what} {l:?} has the character {c:?}; labs accept paths and names without spaces, quotes, backslashes or $"
                        ));
                    }
                    out.push_str(l);
                }
                variable => out.push_str(&variable.reference()),
            }
        }
        if out.is_empty() {
            return Err(format!("line {line}: {what} is empty"));
        }
        if out.starts_with('-') {
            // Unquoted, the engine would read it as an option.
            return Err(format!(
                "line {line}: {what} {out:?} starts with '-'; labs do not read paths or names that look like options"
            ));
        }
        Ok(out)
    }
}

/// A character a word may carry without quotes: printable, no white space,
/// no quote, backslash or `$`.
fn plain(c: char) -> bool {
    !c.is_control() && !c.is_whitespace() && !matches!(c, '"' | '\'' | '\\' | '$')
}

/// Where a stage starts, or where `COPY --from` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An earlier stage, by its name or index as written (lower case).
    Stage(String),
    /// An image the caller must pin (the reference as written).
    Image(String),
    /// `FROM scratch`.
    Scratch,
}

/// One instruction in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    From {
        source: Source,
        name: Option<String>,
    },
    /// RUN, CMD, ENTRYPOINT, SHELL: the keyword and its JSON words.
    Exec(&'static str, Vec<String>),
    /// ENV and LABEL: the keyword and its pairs.
    Pairs(&'static str, Vec<(String, Word)>),
    Arg(Vec<(String, Option<Word>)>),
    /// USER, WORKDIR, STOPSIGNAL: one plain word.
    One(&'static str, Word),
    Expose(Vec<String>),
    Volume(Vec<Word>),
    Copy {
        keyword: &'static str,
        from: Option<Source>,
        chown: Option<Word>,
        paths: Vec<Word>,
    },
    Healthcheck(Option<(Vec<(String, String)>, HealthTest)>),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HealthTest {
    Exec(Vec<String>),
    Shell(String),
}

/// A learner's Dockerfile, read completely and held in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabDockerfile {
    lines: Vec<(usize, Line)>,
}

/// Reads a learner's Dockerfile for a lab build; whatever cannot be read
/// completely, or is never built in a lab, is refused with a sentence
/// (starting with the line it concerns).
pub fn read(text: &str) -> Result<LabDockerfile, String> {
    if let Some((n, line)) = text
        .split('\n')
        .enumerate()
        .find(|(_, l)| l.trim_end_matches('\r').chars().any(char::is_control))
    {
        let c = line
            .trim_end_matches('\r')
            .chars()
            .find(|c| c.is_control())
            .unwrap_or(' ');
        return Err(format!(
            "line {}: the control character {c:?} is not accepted in a lab's Dockerfile; use plain spaces and tabs",
            n + 1
        ));
    }
    if let Some(n) = directive_line(text) {
        return Err(format!(
            "line {n}: this parser directive is not accepted in a lab's Dockerfile (only # escape= and # syntax= are); remove the line"
        ));
    }
    let parsed = parse(text).map_err(|e| e.to_string())?;
    if let Some(why) = super::build::refused_instructions(&parsed) {
        return Err(why);
    }
    let mut lines = Vec::new();
    let mut shells: Vec<Vec<String>> = Vec::new();
    for inst in &parsed.instructions {
        let line = canonical(&parsed, inst, &mut shells)?;
        lines.push((inst.line, line));
    }
    Ok(LabDockerfile { lines })
}

/// The first parser directive, before the first instruction, that Drydock
/// does not take: any key but `escape` and `syntax` (the two that Docker's
/// classic builder and Drydock's parser both know; `syntax` is ignored and
/// the generated file is written with the default escape). A `# check=`
/// line is one: the engine stops reading directives at a key it does not
/// know, Drydock's parser would read on, and the two would disagree about
/// the escape character.
fn directive_line(text: &str) -> Option<usize> {
    for (n, line) in text.split('\n').enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let body = t.strip_prefix('#')?;
        let (key, _) = body.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        if key != "escape" && key != "syntax" {
            return Some(n + 1);
        }
    }
    None
}

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

fn canonical(
    parsed: &Dockerfile,
    inst: &Instruction,
    shells: &mut Vec<Vec<String>>,
) -> Result<Line, String> {
    let n = inst.line;
    let allowed: &[&str] = match inst.keyword.as_str() {
        "COPY" => &["from", "chown"],
        "ADD" => &["chown"],
        "HEALTHCHECK" => &["interval", "timeout", "start-period", "retries"],
        _ => &[],
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, _) in &inst.flags {
        if !allowed.contains(&name.as_str()) {
            return Err(format!(
                "line {n}: {} --{name} is not available in a lab's build (the classic builder, offline)",
                inst.keyword
            ));
        }
        if seen.contains(&name.as_str()) {
            return Err(format!("line {n}: --{name} is given twice"));
        }
        seen.push(name);
    }
    let shell_of = |shells: &Vec<Vec<String>>| -> Vec<String> {
        shells
            .get(inst.stage)
            .cloned()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    };
    let exec_words = |shells: &Vec<Vec<String>>| -> Vec<String> {
        match &inst.args {
            Args::Exec(words) => words.clone(),
            Args::Shell(text) => {
                let mut words = shell_of(shells);
                words.push(text.clone());
                words
            }
        }
    };
    Ok(match inst.keyword.as_str() {
        "FROM" => {
            let stage = &parsed.stages[inst.stage];
            if stage.base.contains('$') {
                return Err(format!(
                    "line {n}: write the image or stage name itself, not a variable ({}); labs build only from images they can check",
                    stage.base
                ));
            }
            let source = if stage.base_is_stage {
                Source::Stage(stage.base.to_ascii_lowercase())
            } else if stage.base.eq_ignore_ascii_case("scratch") {
                Source::Scratch
            } else {
                Source::Image(stage.base.clone())
            };
            // A stage built on an earlier one keeps that stage's shell.
            let shell = parsed
                .base_stage_of(inst.stage)
                .and_then(|b| shells.get(b).cloned())
                .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
            shells.push(shell);
            Line::From {
                source,
                name: stage.name.clone(),
            }
        }
        "RUN" => Line::Exec("RUN", exec_words(shells)),
        "CMD" => Line::Exec("CMD", exec_words(shells)),
        "ENTRYPOINT" => Line::Exec("ENTRYPOINT", exec_words(shells)),
        "SHELL" => {
            let Args::Exec(words) = &inst.args else {
                return Err(format!(
                    "line {n}: SHELL takes a JSON list, e.g. SHELL [\"/bin/sh\", \"-c\"]"
                ));
            };
            if words.is_empty() {
                return Err(format!("line {n}: SHELL needs at least one word"));
            }
            if let Some(current) = shells.get_mut(inst.stage) {
                *current = words.clone();
            }
            Line::Exec("SHELL", words.clone())
        }
        keyword @ ("ENV" | "LABEL" | "ARG") => {
            let pairs = pairs(inst)?;
            if pairs.is_empty() {
                return Err(format!("line {n}: {keyword} needs NAME=value"));
            }
            let mut checked = Vec::new();
            for (key, value) in pairs {
                if keyword != "ARG" && value.is_none() {
                    return Err(format!(
                        "line {n}: {keyword} {key} needs a value ({key}=value)"
                    ));
                }
                if keyword == "LABEL" && is_reserved_label(&key) {
                    return Err(format!(
                        "line {n}: labels starting with drydock. are Drydock's own"
                    ));
                }
                checked.push((checked_key(n, keyword, &key)?, value));
            }
            match keyword {
                "ARG" => Line::Arg(checked),
                _ => Line::Pairs(
                    if keyword == "ENV" { "ENV" } else { "LABEL" },
                    checked
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                ),
            }
        }
        keyword @ ("USER" | "WORKDIR" | "STOPSIGNAL") => {
            let word = lex(inst.args_text().trim(), inst.escape)
                .map_err(|e| format!("line {n}: {keyword}: {e}"))?;
            word.bare(n, keyword)?;
            let keyword = match keyword {
                "USER" => "USER",
                "WORKDIR" => "WORKDIR",
                _ => "STOPSIGNAL",
            };
            Line::One(keyword, word)
        }
        "EXPOSE" => {
            let mut ports = Vec::new();
            for raw in inst.args_text().split_whitespace() {
                let word = lex(raw, inst.escape).map_err(|e| format!("line {n}: EXPOSE: {e}"))?;
                let port = word.as_literal().ok_or_else(|| {
                    format!("line {n}: EXPOSE takes port numbers as written (8080 or 8080/tcp), not variables")
                })?;
                if !valid_port(&port) {
                    return Err(format!(
                        "line {n}: EXPOSE {port:?} is not a port (8080, 8080/tcp or 8000-8010/udp)"
                    ));
                }
                ports.push(port);
            }
            Line::Expose(ports)
        }
        "VOLUME" => {
            let raws: Vec<String> = match &inst.args {
                Args::Exec(words) => words.clone(),
                Args::Shell(text) => text.split_whitespace().map(str::to_string).collect(),
            };
            let mut words = Vec::new();
            for raw in raws {
                let word = lex(&raw, inst.escape).map_err(|e| format!("line {n}: VOLUME: {e}"))?;
                word.bare(n, "VOLUME")?;
                words.push(word);
            }
            if words.is_empty() {
                return Err(format!("line {n}: VOLUME needs a path"));
            }
            Line::Volume(words)
        }
        keyword @ ("COPY" | "ADD") => {
            let raws: Vec<String> = match &inst.args {
                Args::Exec(words) => words.clone(),
                Args::Shell(text) => text.split_whitespace().map(str::to_string).collect(),
            };
            if raws.len() < 2 {
                return Err(format!(
                    "line {n}: {keyword} needs a source and a destination"
                ));
            }
            let mut paths = Vec::new();
            for raw in &raws {
                if raw.starts_with('-') {
                    return Err(format!(
                        "line {n}: {keyword}: {raw:?} is not an option a lab's build reads (--from=, --chown=) nor a path"
                    ));
                }
                let word =
                    lex(raw, inst.escape).map_err(|e| format!("line {n}: {keyword}: {e}"))?;
                word.bare(n, keyword)?;
                paths.push(word);
            }
            if keyword == "ADD" {
                // The engine fetches URLs itself, on the host's network: an
                // ADD source is a file of the context, written out.
                for word in &paths {
                    let Some(source) = word.as_literal() else {
                        return Err(format!("line {n}: ADD sources are written out in labs, not variables; or use COPY"));
                    };
                    let lower = source.to_ascii_lowercase();
                    if lower.contains("://") || lower.contains('@') || lower.ends_with(".git") {
                        return Err(format!(
                            "line {n}: ADD {source} would be fetched by the Docker engine itself, on the build host's network; Drydock never builds that. Put the file in the build context and COPY it"
                        ));
                    }
                }
            }
            let from = match inst.flag("from") {
                None => None,
                Some(f) => {
                    // `plain` leaves out `$`: no variable names the stage.
                    if f.is_empty() || !f.chars().all(plain) {
                        return Err(format!(
                            "line {n}: write the stage or image name itself after --from (not {f:?})"
                        ));
                    }
                    Some(if parsed.is_earlier_stage_ref(f, inst.stage) {
                        Source::Stage(f.to_ascii_lowercase())
                    } else {
                        Source::Image(f.to_string())
                    })
                }
            };
            let chown = match inst.flag("chown") {
                None => None,
                Some(c) => {
                    let word =
                        lex(c, inst.escape).map_err(|e| format!("line {n}: --chown: {e}"))?;
                    // Neither empty nor starting with '-' (`bare` refuses both).
                    let owner = word.bare(n, "--chown")?;
                    // A user and a group: names, ids or variables, nothing else.
                    let allowed = |c: char| {
                        c.is_ascii_alphanumeric()
                            || matches!(c, '_' | '-' | '.' | ':' | '$' | '{' | '}')
                    };
                    if owner.matches(':').count() > 1 || !owner.chars().all(allowed) {
                        return Err(format!(
                            "line {n}: --chown={owner} is not a user[:group] (names, ids or $VARIABLES)"
                        ));
                    }
                    Some(word)
                }
            };
            Line::Copy {
                keyword: if keyword == "COPY" { "COPY" } else { "ADD" },
                from,
                chown,
                paths,
            }
        }
        "HEALTHCHECK" => {
            let text = inst.args_text();
            let (first, rest) = text
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((text.trim(), ""));
            if first.eq_ignore_ascii_case("NONE") {
                if !rest.trim().is_empty() || !inst.flags.is_empty() {
                    return Err(format!(
                        "line {n}: HEALTHCHECK NONE takes no options or arguments"
                    ));
                }
                Line::Healthcheck(None)
            } else if first.eq_ignore_ascii_case("CMD") {
                let mut options = Vec::new();
                for (name, value) in &inst.flags {
                    let value = value.clone().unwrap_or_default();
                    let ok = if name == "retries" {
                        !value.is_empty()
                            && value.len() < 6
                            && value.chars().all(|c| c.is_ascii_digit())
                    } else {
                        valid_duration(&value)
                    };
                    if !ok {
                        return Err(format!(
                            "line {n}: HEALTHCHECK --{name}={value} is not a {} value",
                            if name == "retries" {
                                "number"
                            } else {
                                "duration (30s, 1m30s)"
                            }
                        ));
                    }
                    options.push((name.clone(), value));
                }
                let rest = rest.trim();
                let test = if rest.starts_with('[') {
                    let words: Vec<String> = serde_json::from_str(rest).map_err(|_| {
                        format!("line {n}: HEALTHCHECK CMD [...] is not a JSON list of strings")
                    })?;
                    HealthTest::Exec(words)
                } else if rest.is_empty() || rest.starts_with('-') || rest.ends_with('\\') {
                    return Err(format!(
                        "line {n}: HEALTHCHECK CMD needs a command (not starting with - or ending with \\)"
                    ));
                } else {
                    HealthTest::Shell(rest.to_string())
                };
                Line::Healthcheck(Some((options, test)))
            } else {
                return Err(format!("line {n}: HEALTHCHECK takes CMD <command> or NONE"));
            }
        }
        "MAINTAINER" => {
            // Taken as written by the engine (no expansion): plain text on
            // one line that cannot continue. The parser refuses it empty.
            let text = inst.args_text().trim().to_string();
            if text.ends_with('\\') {
                return Err(format!(
                    "line {n}: MAINTAINER cannot end with \\ (and is deprecated: LABEL maintainer=\"…\" says the same)"
                ));
            }
            Line::Maintainer(text)
        }
        other => return Err(format!("line {n}: {other} is not built in labs")),
    })
}

/// The pairs of an `ENV`, `ARG` or `LABEL` instruction: names with quotes
/// removed, values lexed (`None`: no `=`).
fn pairs(inst: &Instruction) -> Result<Vec<(String, Option<Word>)>, String> {
    let n = inst.line;
    let text = inst.args_text();
    let text = text.trim();
    let words = split_raw_words(text, inst.escape);
    let lexed =
        |t: &str| lex(t, inst.escape).map_err(|e| format!("line {n}: {}: {e}", inst.keyword));
    if inst.keyword == "ENV"
        && words
            .first()
            .is_some_and(|w| split_pair(w, inst.escape).is_none())
    {
        // `ENV NAME value with spaces`.
        let first = &words[0];
        let rest = text.get(first.len()..).unwrap_or("").trim_start();
        if rest.is_empty() {
            return Err(format!(
                "line {n}: ENV {first} needs a value ({first}=value)"
            ));
        }
        return Ok(vec![(literal_key(first, inst.escape)?, Some(lexed(rest)?))]);
    }
    let mut out = Vec::new();
    for w in words {
        match split_pair(&w, inst.escape) {
            Some((key, value)) => out.push((literal_key(key, inst.escape)?, Some(lexed(value)?))),
            None => out.push((literal_key(&w, inst.escape)?, None)),
        }
    }
    Ok(out)
}

/// A pair's name, quotes removed; a name with a variable is refused.
fn literal_key(text: &str, escape: char) -> Result<String, String> {
    lex(text, escape)?
        .as_literal()
        .ok_or_else(|| format!("{text:?}: names are written out, not variables"))
}

/// `key=value` split at the first `=` outside quotes and escapes.
fn split_pair(word: &str, escape: char) -> Option<(&str, &str)> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in word.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => escaped = true,
            Some(_) => {}
            None if c == escape => escaped = true,
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '=' => return Some((&word[..i], &word[i + 1..])),
            None => {}
        }
    }
    None
}

/// A name of an `ENV`, `ARG` or `LABEL`: plain characters only.
fn checked_key(n: usize, keyword: &str, key: &str) -> Result<String, String> {
    let ok = !key.is_empty()
        && key.len() <= 256
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    if !ok {
        return Err(format!(
            "line {n}: {keyword} name {key:?} may use letters, digits, '_', '.', '-' and '/'"
        ));
    }
    Ok(key.to_string())
}

/// Reads a word the engine would expand into segments: quotes removed,
/// escapes applied, `$NAME`, `${NAME}` and `${NAME:-word}`-style references
/// kept as variables. Anything else with `$` is refused.
pub fn lex(text: &str, escape: char) -> Result<Word, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut segs: Vec<Seg> = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let flush = |lit: &mut String, segs: &mut Vec<Seg>| {
        if !lit.is_empty() {
            segs.push(Seg::Lit(std::mem::take(lit)));
        }
    };
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('\'') => {
                if c == '\'' {
                    quote = None;
                } else {
                    lit.push(c);
                }
                i += 1;
            }
            Some(_) => {
                if c == '"' {
                    quote = None;
                    i += 1;
                } else if c == escape {
                    match chars.get(i + 1) {
                        Some(&next) if next == '"' || next == escape || next == '$' => {
                            lit.push(next);
                            i += 2;
                        }
                        _ => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                } else if c == '$' {
                    flush(&mut lit, &mut segs);
                    segs.push(variable(&chars, &mut i)?);
                } else {
                    lit.push(c);
                    i += 1;
                }
            }
            None => {
                if c == escape {
                    match chars.get(i + 1) {
                        Some(&next) => {
                            lit.push(next);
                            i += 2;
                        }
                        None => {
                            lit.push(c);
                            i += 1;
                        }
                    }
                } else if c == '\'' || c == '"' {
                    quote = Some(c);
                    i += 1;
                } else if c == '$' {
                    flush(&mut lit, &mut segs);
                    segs.push(variable(&chars, &mut i)?);
                } else {
                    lit.push(c);
                    i += 1;
                }
            }
        }
    }
    if quote.is_some() {
        return Err(format!("{text:?} has a quote that is never closed"));
    }
    flush(&mut lit, &mut segs);
    Ok(Word(segs))
}

/// `chars[*i]` is `$`: one variable reference.
fn variable(chars: &[char], i: &mut usize) -> Result<Seg, String> {
    let name_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let unreadable = || {
        let rest: String = chars[*i..].iter().take(20).collect();
        format!("{rest:?}: labs read variables as $NAME, ${{NAME}} or ${{NAME:-default}} only")
    };
    match chars.get(*i + 1) {
        Some(&c) if name_start(c) => {
            let mut j = *i + 1;
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[*i + 1..j].iter().collect();
            *i = j;
            Ok(Seg::Var(name))
        }
        Some('{') => {
            let mut j = *i + 2;
            if !chars.get(j).is_some_and(|c| name_start(*c)) {
                return Err(unreadable());
            }
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[*i + 2..j].iter().collect();
            match chars.get(j) {
                Some('}') => {
                    *i = j + 1;
                    Ok(Seg::Var(name))
                }
                // Only the forms with a colon: the classic builder refuses
                // `${NAME-word}` ("missing ':' in substitution").
                Some(':') => {
                    let colon = true;
                    let op_at = j + 1;
                    let op = match chars.get(op_at) {
                        Some(&op @ ('-' | '+')) => op,
                        _ => return Err(unreadable()),
                    };
                    let mut k = op_at + 1;
                    let mut word = String::new();
                    while k < chars.len() && chars[k] != '}' {
                        if !plain(chars[k]) || chars[k] == '{' {
                            return Err(unreadable());
                        }
                        word.push(chars[k]);
                        k += 1;
                    }
                    if k >= chars.len() {
                        return Err(unreadable());
                    }
                    *i = k + 1;
                    Ok(Seg::VarOr {
                        name,
                        colon,
                        op,
                        word,
                    })
                }
                _ => Err(unreadable()),
            }
        }
        _ => Err(unreadable()),
    }
}

fn valid_port(port: &str) -> bool {
    let (range, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let number = |p: &str| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit());
    let range_ok = match range.split_once('-') {
        Some((a, b)) => number(a) && number(b),
        None => number(range),
    };
    range_ok && matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp")
}

fn valid_duration(value: &str) -> bool {
    let mut rest = value;
    if rest.is_empty() || rest.len() > 32 {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

impl LabDockerfile {
    /// Adds `labels` (`docker build --label`) as a `LABEL` written like the
    /// file's own, at the end of the stage that is built: `target` by name,
    /// or the last. The engine's own `labels` option is not used: the
    /// classic builder turns it into Dockerfile text of its own, and every
    /// instruction the engine reads is to be Drydock's writing.
    pub fn with_labels(
        mut self,
        labels: &BTreeMap<String, String>,
        target: Option<&str>,
    ) -> Result<Self, String> {
        if labels.is_empty() {
            return Ok(self);
        }
        let mut pairs = Vec::new();
        for (key, value) in labels {
            if is_reserved_label(key) {
                return Err("labels starting with drydock. are Drydock's own".into());
            }
            if value.chars().any(char::is_control) {
                return Err(format!("the label {key} has a control character"));
            }
            pairs.push((checked_key(0, "--label", key)?, Word::literal(value)));
        }
        // The index just past the stage's last instruction.
        let mut end = None;
        let mut in_target = false;
        for (i, (_, line)) in self.lines.iter().enumerate() {
            if let Line::From { name, .. } = line {
                in_target = match target {
                    Some(t) => name.as_deref() == Some(t.to_ascii_lowercase().as_str()),
                    None => true,
                };
                if target.is_none() {
                    end = None;
                }
            }
            if in_target {
                end = Some(i + 1);
            }
        }
        let at = match (end, target) {
            (Some(at), _) => at,
            (None, Some(t)) => return Err(format!("there is no stage {t:?} to build")),
            (None, None) => self.lines.len(),
        };
        let line = self.lines.get(at.saturating_sub(1)).map_or(0, |(n, _)| *n);
        self.lines.insert(at, (line, Line::Pairs("LABEL", pairs)));
        Ok(self)
    }

    /// Every image the file names (stage bases and `COPY --from`), with
    /// its line: the caller pins each to an id the session may use.
    pub fn images(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (n, line) in &self.lines {
            match line {
                Line::From {
                    source: Source::Image(r),
                    ..
                }
                | Line::Copy {
                    from: Some(Source::Image(r)),
                    ..
                } => out.push((*n, r.clone())),
                _ => {}
            }
        }
        out
    }

    /// The Dockerfile the engine receives: `pinned` maps each reference of
    /// [`LabDockerfile::images`] to an image id; `labels` follow every
    /// `FROM`. A reference left unpinned is an error (never sent as written).
    pub fn render(
        &self,
        pinned: &HashMap<String, String>,
        labels: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let pin = |n: usize, source: &Source| -> Result<String, String> {
            match source {
                Source::Stage(s) => Ok(s.clone()),
                Source::Scratch => Ok("scratch".into()),
                Source::Image(r) => {
                    let id = pinned
                        .get(r)
                        .ok_or_else(|| format!("line {n}: {r} is not an image in this lab"))?;
                    if !is_image_id(id) {
                        return Err(format!("line {n}: {r} is not pinned to an image id"));
                    }
                    Ok(id.clone())
                }
            }
        };
        let mut out = String::new();
        for (n, line) in &self.lines {
            let text = match line {
                Line::From { source, name } => {
                    let mut text = format!("FROM {}", pin(*n, source)?);
                    if let Some(name) = name {
                        text.push_str(&format!(" AS {name}"));
                    }
                    if !labels.is_empty() {
                        text.push_str("\nLABEL");
                        for (k, v) in labels {
                            text.push_str(&format!(" {k}={}", Word::literal(v).quoted()));
                        }
                    }
                    text
                }
                Line::Exec(keyword, words) => format!("{keyword} {}", json(words)),
                Line::Pairs(keyword, pairs) => {
                    let mut text = keyword.to_string();
                    for (k, v) in pairs {
                        text.push_str(&format!(" {k}={}", v.quoted()));
                    }
                    text
                }
                Line::Arg(pairs) => {
                    let mut text = "ARG".to_string();
                    for (k, v) in pairs {
                        match v {
                            Some(v) => text.push_str(&format!(" {k}={}", v.quoted())),
                            None => text.push_str(&format!(" {k}")),
                        }
                    }
                    text
                }
                Line::One(keyword, word) => format!("{keyword} {}", word.bare(*n, keyword)?),
                Line::Expose(ports) => format!("EXPOSE {}", ports.join(" ")),
                Line::Volume(words) => {
                    let mut text = "VOLUME".to_string();
                    for w in words {
                        text.push(' ');
                        text.push_str(&w.bare(*n, "VOLUME")?);
                    }
                    text
                }
                Line::Copy {
                    keyword,
                    from,
                    chown,
                    paths,
                } => {
                    let mut text = keyword.to_string();
                    if let Some(from) = from {
                        text.push_str(&format!(" --from={}", pin(*n, from)?));
                    }
                    if let Some(chown) = chown {
                        text.push_str(&format!(" --chown={}", chown.bare(*n, "--chown")?));
                    }
                    for p in paths {
                        text.push(' ');
                        text.push_str(&p.bare(*n, keyword)?);
                    }
                    text
                }
                Line::Healthcheck(None) => "HEALTHCHECK NONE".into(),
                Line::Maintainer(text) => format!("MAINTAINER {text}"),
                Line::Healthcheck(Some((options, test))) => {
                    let mut text = "HEALTHCHECK".to_string();
                    for (k, v) in options {
                        text.push_str(&format!(" --{k}={v}"));
                    }
                    match test {
                        HealthTest::Exec(words) => text.push_str(&format!(" CMD {}", json(words))),
                        HealthTest::Shell(s) => text.push_str(&format!(" CMD {s}")),
                    }
                    text
                }
            };
            out.push_str(&text);
            out.push('\n');
        }
        Ok(out)
    }
}

/// Whether `id` is a full image id (`sha256:` and 64 hex digits).
pub fn is_image_id(id: &str) -> bool {
    id.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn json(words: &[String]) -> String {
    serde_json::to_string(words).unwrap_or_else(|_| "[]".into())
}

/// Reads the instructions of `docker commit --change` (one per item) the
/// way a build's are read, and returns them in canonical form.
pub fn commit_changes(changes: &[String]) -> Result<Vec<String>, String> {
    const ALLOWED: &[&str] = &[
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "USER",
        "WORKDIR",
        "LABEL",
        "VOLUME",
        "STOPSIGNAL",
        "HEALTHCHECK",
    ];
    let mut out = Vec::new();
    for change in changes {
        for line in change.split('\n').filter(|l| !l.trim().is_empty()) {
            let keyword = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if !ALLOWED.contains(&keyword.as_str()) {
                return Err(format!("--change {keyword} is not accepted in labs"));
            }
            let text = format!("FROM scratch\n{line}\n");
            let read = read(&text).map_err(|e| {
                format!(
                    "--change {}: {}",
                    line.trim(),
                    e.trim_start_matches("line 2: ")
                )
            })?;
            let rendered = read.render(&HashMap::new(), &BTreeMap::new())?;
            out.extend(
                rendered
                    .lines()
                    .skip(1)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn rendered(text: &str) -> Result<String, String> {
        let file = read(text)?;
        let pinned: HashMap<String, String> = file
            .images()
            .into_iter()
            .map(|(_, r)| (r, ID.to_string()))
            .collect();
        file.render(&pinned, &BTreeMap::new())
    }

    #[test]
    fn the_engine_gets_one_canonical_spelling() {
        let out = rendered(
            "from drydock/busybox:1 as Build\nenv A=1 B=\"two words\" \\\n  C=$A\nrun echo hi \\\n && echo there\nCMD echo $HOME\nENTRYPOINT [\"/bin/sh\"]\nWORKDIR /app\nUSER 1000:1000\nCOPY --chown=1000:1000 a b /app/\nLABEL org.opencontainers.image.title=\"My app\"\nEXPOSE 8080/tcp 9000\nVOLUME /data\nHEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:8080/\nARG V\nARG W=x\nFROM build\nCOPY --from=build /app /app\nCOPY --from=other:1 /x /y\n",
        )
        .unwrap();
        assert_eq!(
            out,
            format!(
                "FROM {ID} AS build\nENV A=\"1\" B=\"two words\" C=\"${{A}}\"\nRUN [\"/bin/sh\",\"-c\",\"echo hi  && echo there\"]\nCMD [\"/bin/sh\",\"-c\",\"echo $HOME\"]\nENTRYPOINT [\"/bin/sh\"]\nWORKDIR /app\nUSER 1000:1000\nCOPY --chown=1000:1000 a b /app/\nLABEL org.opencontainers.image.title=\"My app\"\nEXPOSE 8080/tcp 9000\nVOLUME /data\nHEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:8080/\nARG V\nARG W=\"x\"\nFROM build\nCOPY --from=build /app /app\nCOPY --from={ID} /x /y\n"
            )
        );
    }

    #[test]
    fn the_attacks_that_passed_the_old_screen_are_refused_or_neutralised() {
        // A `# check` directive before `# escape`: refused as a directive.
        let hidden = "# check=skip=all\n# escape=`\nFROM drydock/busybox:1\nRUN echo `\nADD http://127.0.0.1:3000/readyz /r\n";
        assert!(read(hidden).unwrap_err().contains("directive"));
        // A backslash and a vertical tab at a line's end.
        let vt = "FROM drydock/busybox:1\nRUN echo \\\u{0b}\nADD http://127.0.0.1:3000/readyz /r\n";
        assert!(read(vt).unwrap_err().contains("control character"));
        // A quoted flag name.
        let quoted = "FROM drydock/busybox:1\nCOPY --fr\"om\"=dl0123/secret:1 /s /s\n";
        let err = read(quoted).unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        // A quoted reserved label key.
        let label = "FROM drydock/busybox:1\nLABEL dryd\"ock\".ports=8080/tcp\n";
        assert!(read(label).unwrap_err().contains("drydock."));
        let label = "FROM drydock/busybox:1\nLABEL 'DRYDOCK.session'=x\n";
        assert!(read(label).unwrap_err().contains("drydock."));
    }

    #[test]
    fn every_variant_of_the_directive_and_whitespace_tricks_is_refused() {
        for directive in [
            "# check=skip=all",
            "# check=skip=all\n# escape=`",
            "# syntax=docker/dockerfile:1\n# check=error=true",
            "  # foo=bar",
            "#unknown=1\n# escape=`",
        ] {
            let text = format!("{directive}\nFROM drydock/busybox:1\n");
            assert!(
                read(&text).unwrap_err().contains("directive"),
                "{directive}"
            );
        }
        // The two directives both parsers know: the escape is honoured in
        // the reading, and the engine gets a file without directives.
        for directive in [
            "# escape=`",
            "#escape=`",
            "# Escape = `",
            "# syntax=docker/dockerfile:1\n# escape=`",
        ] {
            let text = format!("{directive}\nFROM drydock/busybox:1\nENV A=1 `\n  B=2\n");
            let out = rendered(&text).unwrap();
            assert!(out.contains("ENV A=\"1\" B=\"2\""), "{directive}: {out}");
            assert!(!out.contains('#'), "{out}");
        }
        // A comment that is no directive is fine.
        assert!(read("# my image\nFROM drydock/busybox:1\n").is_ok());
        for ending in [
            "\u{0b}", "\u{0c}", "\u{0}", "\u{1b}", "\u{85}", "\u{7f}", "\r ",
        ] {
            let text = format!("FROM drydock/busybox:1\nRUN echo \\{ending}\nRUN id\n");
            assert!(read(&text).is_err(), "{ending:?}");
        }
        // CRLF files are fine.
        assert!(read("FROM drydock/busybox:1\r\nRUN echo \\\r\n hi\r\n").is_ok());
    }

    #[test]
    fn flags_are_read_from_an_allow_list_in_any_spelling() {
        for bad in [
            "COPY --fr'om'=x /a /b",
            "COPY --from=x --from=y /a /b",
            "COPY --chmod=777 a /b",
            "COPY --link a /b",
            "ADD --from=x a /b",
            "RUN --mount=type=bind,target=/x id",
            "RUN --network=host id",
            "FROM --platform=linux/amd64 drydock/busybox:1",
            "COPY -- a /b",
            "COPY a --from=x /b",
            "COPY \"--from=x\" /a /b",
            "COPY '--from=x' /a /b",
            "VOLUME \"-v\"",
            "COPY --chown=\"--from=x\" a /b",
            "ADD --chown=http://host/x a /b",
            "COPY --chown=a:b:c x /y",
            "COPY --chown= x /y",
            "ADD --checksum=sha256:00 a /b",
            "HEALTHCHECK --interval=$X CMD true",
            "HEALTHCHECK --retries=x CMD true",
        ] {
            let text = if bad.starts_with("FROM") {
                bad.to_string()
            } else {
                format!("FROM drydock/busybox:1\n{bad}\n")
            };
            assert!(read(&text).is_err(), "{bad}");
        }
        // Flag names are case-insensitive to the engine and to Drydock.
        let out =
            rendered("FROM drydock/busybox:1 AS a\nFROM drydock/busybox:1\nCOPY --FROM=a /x /y\n")
                .unwrap();
        assert!(out.contains("COPY --from=a /x /y"), "{out}");
    }

    #[test]
    fn directives_are_told_apart_from_comments() {
        assert_eq!(directive_line("# escape=`\n# check=x\nFROM a\n"), Some(2));
        assert_eq!(directive_line("\n# my_key=1\nFROM a\n"), Some(2));
        // Not directives to the engine either: comments, which end the
        // directives.
        assert_eq!(directive_line("#=x\n# check=x\nFROM a\n"), None);
        assert_eq!(directive_line("# a b=c\n# check=x\nFROM a\n"), None);
        assert_eq!(directive_line("# syntax=x\n# escape=\\\nFROM a\n"), None);
    }

    #[test]
    fn pairs_split_at_the_first_bare_equals_sign() {
        assert_eq!(split_pair("a=b=c", '\\'), Some(("a", "b=c")));
        assert_eq!(split_pair("\"a=b\"=c", '\\'), Some(("\"a=b\"", "c")));
        assert_eq!(split_pair("'a=b'=c", '\\'), Some(("'a=b'", "c")));
        assert_eq!(
            split_pair("\"a\\\"=b\"=c", '\\'),
            Some(("\"a\\\"=b\"", "c"))
        );
        assert_eq!(split_pair("a\\=b=c", '\\'), Some(("a\\=b", "c")));
        assert_eq!(split_pair("a`=b=c", '`'), Some(("a`=b", "c")));
        assert_eq!(split_pair("\"a=b\"", '\\'), None);
        assert_eq!(split_pair("ab", '\\'), None);
    }

    #[test]
    fn an_escape_in_double_quotes_escapes_only_quote_escape_and_dollar() {
        let lit = |t: &str| lex(t, '\\').unwrap().as_literal().unwrap();
        assert_eq!(lit("\"a\\b\""), "a\\b");
        assert_eq!(lit("\"a\\\\b\""), "a\\b");
        assert_eq!(lit("\"a\\$b\""), "a$b");
        assert_eq!(lit("\"a\\\"b\""), "a\"b");
        assert_eq!(lit("\"a\\b\\c\"d"), "a\\b\\cd");
        assert_eq!(lit("'a\\b'"), "a\\b");
        assert_eq!(lit("a\\b"), "ab");
        assert_eq!(lit("a\\"), "a\\");
        for unreadable in ["${A:-x", "${A:-a{b}", "${A:-a b}", "${A:?x}", "${1}", "$1"] {
            let err = lex(unreadable, '\\').unwrap_err();
            assert!(
                err.contains("labs read variables as"),
                "{unreadable}: {err}"
            );
        }
        assert!(is_image_id(ID));
        assert!(!is_image_id(&ID.replace('0', "g")));
        assert!(!is_image_id(&ID[..70]));
        assert!(!is_image_id(&ID[7..]));
        assert_eq!(lit("\\"), "\\");
    }

    #[test]
    fn options_and_arguments_are_checked_one_by_one() {
        let refused = |line: &str| {
            read(&format!("FROM drydock/busybox:1\n{line}"))
                .err()
                .unwrap_or_else(|| panic!("{line} was accepted"))
        };
        let accepted = |line: &str| {
            rendered(&format!("FROM drydock/busybox:1\n{line}\n"))
                .unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        assert!(
            accepted("ADD --chown=1000:1000 a.tar /x/").contains("ADD --chown=1000:1000 a.tar /x/")
        );
        assert!(refused("ADD git@example.invalid:r /r\n").contains("fetched by the Docker engine"));
        assert!(refused("ADD r.git /r\n").contains("fetched by the Docker engine"));
        // Broader than the screen every build passes first: any '@'.
        assert!(
            super::super::build::refused_instructions(&parse("FROM a\nADD a@b /r\n").unwrap())
                .is_none()
        );
        assert!(refused("ADD a@b /r\n").contains("fetched by the Docker engine"));
        assert!(refused("COPY --from= /a /b\n").contains("after --from"));
        assert!(refused("COPY --chown=-1 a /b\n").contains("starts with '-'"));
        assert!(refused("COPY --chown= a /b\n").contains("is empty"));
        assert!(refused("COPY --chown=a:b:c a /b\n").contains("is not a user[:group]"));
        assert!(refused("COPY --chown=a/b a /b\n").contains("is not a user[:group]"));
        assert!(accepted("HEALTHCHECK NONE").contains("HEALTHCHECK NONE"));
        assert!(refused("HEALTHCHECK NONE x\n").contains("takes no options or arguments"));
        assert!(
            refused("HEALTHCHECK --interval=5s NONE\n").contains("takes no options or arguments")
        );
        assert!(accepted("HEALTHCHECK --retries=3 CMD true").contains("--retries=3"));
        assert!(accepted("HEALTHCHECK --retries=12345 CMD true").contains("--retries=12345"));
        assert!(
            refused("HEALTHCHECK --retries=123456 CMD true\n").contains("is not a number value")
        );
        assert!(refused("HEALTHCHECK --retries= CMD true\n").contains("is not a number value"));
        assert!(refused("HEALTHCHECK CMD\n").contains("needs a command"));
        assert!(refused("HEALTHCHECK CMD -x\n").contains("needs a command"));
        // A file that ends in its escape character twice: the last one is not
        // a continuation, and would be one in the file Drydock writes.
        assert!(refused("HEALTHCHECK CMD true \\\\").contains("needs a command"));
        let long = format!("{}1s", "0".repeat(30));
        assert!(accepted(&format!("HEALTHCHECK --interval={long} CMD true")).contains(&long));
        assert!(
            refused(&format!("HEALTHCHECK --interval=0{long} CMD true\n"))
                .contains("is not a duration")
        );
        assert!(refused("HEALTHCHECK --interval= CMD true\n").contains("is not a duration"));
        assert!(accepted("EXPOSE 80 8000-8010/udp 9000/SCTP")
            .contains("EXPOSE 80 8000-8010/udp 9000/SCTP"));
        for port in ["x", "80-x", "x-80", "80/http", "x/tcp", "123456"] {
            let err = refused(&format!("EXPOSE {port}\n"));
            assert!(err.contains("is not a port"), "{port}: {err}");
        }
        assert!(accepted("MAINTAINER me").contains("MAINTAINER me"));
        assert!(refused("MAINTAINER\n").contains("MAINTAINER` needs arguments"));
        assert!(refused("MAINTAINER me \\\\").contains("MAINTAINER cannot end with"));
    }

    #[test]
    fn remote_sources_cannot_be_expressed() {
        for add in [
            "ADD http://127.0.0.1:3000/readyz /r",
            "ADD HTTP://127.0.0.1/x /r",
            "ADD [\"http://127.0.0.1/x\", \"/r\"]",
            "ADD h\\\nttp://127.0.0.1/x /r",
            "ARG U=http://127.0.0.1/x\nADD $U /r",
            "ADD git@example.invalid:r.git /r",
            "ADD \"http://127.0.0.1/x\" /r",
            "ADD ht\"tp\"://127.0.0.1/x /r",
            "ONBUILD ADD http://127.0.0.1/x /r",
            "RUN <<EOF\nADD http://127.0.0.1/x /r\nEOF",
        ] {
            let text = format!("FROM drydock/busybox:1\n{add}\n");
            assert!(read(&text).is_err(), "{add}");
        }
        assert!(rendered("FROM drydock/busybox:1\nADD local.tar /x/\n").is_ok());
    }

    #[test]
    fn an_unpinned_image_is_never_sent_as_written() {
        let file = read("FROM other:1\nCOPY --from=other:2 /a /b\n").unwrap();
        assert_eq!(
            file.images(),
            vec![(1, "other:1".to_string()), (2, "other:2".to_string())]
        );
        assert!(file.render(&HashMap::new(), &BTreeMap::new()).is_err());
        let short: HashMap<String, String> = [
            ("other:1".to_string(), "0123456789ab".to_string()),
            ("other:2".to_string(), ID.to_string()),
        ]
        .into();
        assert!(file.render(&short, &BTreeMap::new()).is_err());
        // COPY --from of the current or a later stage is an image.
        let file = read("FROM drydock/busybox:1 AS a\nCOPY --from=a /x /y\n").unwrap();
        assert_eq!(file.images().len(), 2);
        assert!(read("FROM $BASE\n").is_err());
    }

    #[test]
    fn labels_follow_every_from() {
        let file = read("FROM drydock/busybox:1 AS a\nFROM a\nFROM scratch\n").unwrap();
        let pinned = [("drydock/busybox:1".to_string(), ID.to_string())].into();
        let labels = [("drydock.child-of".to_string(), "s-1".to_string())].into();
        let out = file.render(&pinned, &labels).unwrap();
        assert_eq!(
            out.matches("LABEL drydock.child-of=\"s-1\"").count(),
            3,
            "{out}"
        );
    }

    #[test]
    fn variables_keep_their_meaning_in_canonical_quotes() {
        let out = rendered(
            "FROM drydock/busybox:1\nENV P=/app:$PATH Q=${HOME:-/root} R='$literal' S=\"a \\\"q\\\" \\$x\"\nWORKDIR ${P}/x\n",
        )
        .unwrap();
        assert!(
            out.contains("ENV P=\"/app:${PATH}\" Q=\"${HOME:-/root}\" R=\"\\$literal\" S=\"a \\\"q\\\" \\$x\""),
            "{out}"
        );
        assert!(out.contains("WORKDIR ${P}/x"), "{out}");
        for bad in [
            "ENV A=$(id)",
            "ENV A=${B:?x}",
            "ENV A=${B-x}",
            "ENV A=${B+x}",
            "ENV A=${B/x/y}",
            "ENV A=\"open",
            "ENV A=$1",
        ] {
            let text = format!("FROM drydock/busybox:1\n{bad}\n");
            assert!(read(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_form_uses_the_stages_shell() {
        let out = rendered(
            "FROM drydock/busybox:1 AS a\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nFROM a\nRUN id\nFROM drydock/busybox:1\nRUN id\n",
        )
        .unwrap();
        assert!(
            out.contains("FROM a\nRUN [\"/bin/ash\",\"-eo\",\"pipefail\",\"-c\",\"id\"]"),
            "{out}"
        );
        assert!(out.ends_with("RUN [\"/bin/sh\",\"-c\",\"id\"]\n"), "{out}");
    }

    #[test]
    fn build_labels_are_written_like_the_files_own() {
        let file =
            read("FROM drydock/busybox:1 AS a\nRUN id\nFROM a AS b\nCMD id\nFROM a\nCMD x\n")
                .unwrap();
        let hostile: BTreeMap<String, String> = [(
            "note".to_string(),
            "x' drydock.ports='8080\" $HOME \\".to_string(),
        )]
        .into();
        let pinned: HashMap<String, String> =
            [("drydock/busybox:1".to_string(), ID.to_string())].into();
        let out = file
            .clone()
            .with_labels(&hostile, Some("B"))
            .unwrap()
            .render(&pinned, &BTreeMap::new())
            .unwrap();
        assert!(
            out.contains("CMD [\"/bin/sh\",\"-c\",\"id\"]\nLABEL note=\"x' drydock.ports='8080\\\" \\$HOME \\\\\"\nFROM a\n"),
            "{out}"
        );
        let last = file
            .clone()
            .with_labels(&hostile, None)
            .unwrap()
            .render(&pinned, &BTreeMap::new())
            .unwrap();
        assert!(last.ends_with("CMD [\"/bin/sh\",\"-c\",\"x\"]\nLABEL note=\"x' drydock.ports='8080\\\" \\$HOME \\\\\"\n"), "{last}");
        for bad in [
            ("drydock.ports", "8080"),
            ("Drydock.Session", "x"),
            ("note", "a\nADD http://127.0.0.1/x /r"),
            ("bad key", "x"),
            ("k'ey", "x"),
        ] {
            let labels: BTreeMap<String, String> = [(bad.0.to_string(), bad.1.to_string())].into();
            assert!(file.clone().with_labels(&labels, None).is_err(), "{bad:?}");
        }
        assert!(file.with_labels(&hostile, Some("nope")).is_err());
    }

    #[test]
    fn commit_changes_are_canonical_too() {
        assert_eq!(
            commit_changes(&["CMD echo hi".into(), "ENV A=1".into(), "EXPOSE 80".into()]).unwrap(),
            vec![
                "CMD [\"/bin/sh\",\"-c\",\"echo hi\"]".to_string(),
                "ENV A=\"1\"".into(),
                "EXPOSE 80".into()
            ]
        );
        for bad in [
            "LABEL dryd\"ock\".ports=80",
            "RUN id",
            "WORKDIR /proc/self/fd/7",
            "ONBUILD RUN id",
            "LABEL a=b\nRUN id",
            "CMD echo \\\u{0b}",
        ] {
            assert!(commit_changes(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop::sample::select(vec![
            "FROM ",
            "RUN ",
            "COPY ",
            "ADD ",
            "ENV ",
            "LABEL ",
            "ARG ",
            "WORKDIR ",
            "USER ",
            "CMD ",
            "EXPOSE ",
            "VOLUME ",
            "HEALTHCHECK ",
            "SHELL ",
            "--from=",
            "--chown=",
            "--fr\"om\"=",
            "a",
            "=",
            "$",
            "${",
            "}",
            ":-",
            "\"",
            "'",
            "\\",
            "\\\n",
            "`",
            "\n",
            "\r\n",
            " ",
            "\t",
            "[",
            "]",
            ",",
            "drydock/busybox:1",
            " AS ",
            "x",
            "/",
            "http://",
            "# escape=`\n",
            "#",
            "\u{0b}",
            "0",
            "CMD",
            "NONE",
        ])
        .prop_map(str::to_string)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: crate::fuzz_cases(2000), ..Default::default() })]

        /// Whatever is accepted renders to a file that Drydock reads back
        /// to the same canonical form: one reading, and no directives,
        /// control characters or continuations in what the engine gets.
        #[test]
        fn accepted_files_round_trips_to_a_fixed_point(pieces in proptest::collection::vec(piece(), 0..24)) {
            let text = format!("FROM drydock/busybox:1\n{}", pieces.concat());
            if let Ok(out) = rendered(&text) {
                let again = rendered(&out).expect("the canonical file is read again");
                proptest::prop_assert_eq!(&again, &out);
                for line in out.lines() {
                    proptest::prop_assert!(!line.trim_end().ends_with('\\'), "{}", line);
                    proptest::prop_assert!(!line.starts_with('#'), "{}", line);
                    proptest::prop_assert!(!line.chars().any(char::is_control), "{}", line);
                }
                for add in out.lines().filter(|l| l.starts_with("ADD ")) {
                    proptest::prop_assert!(!add.contains("://"), "{}", out);
                }
            }
        }
    }
}
