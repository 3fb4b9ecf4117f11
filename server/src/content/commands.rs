//! What the `docker` commands of a lesson's `sh run` blocks start and
//! build, so `drydock content check` can tell a lesson that names an image
//! no lab has (the learner would only see "No such image").

use drydock_grader::input::run_command::parse_run_command;

use crate::docker::proxy::with_tag;

/// Images a block starts (`docker run`, `docker create`) that it did not
/// name itself earlier, and names it gives to images (`docker build -t`,
/// `docker tag`, `docker commit`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImageUse {
    pub started: Vec<String>,
    pub named: Vec<String>,
}

/// The simple commands of a shell snippet: split at unquoted `;`, `&`,
/// `|` and line ends (a backslash-newline continues the line); quotes are
/// kept, so the pieces can be parsed as command lines.
fn simple_commands(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (Some('"'), '\\') => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, '\\') if chars.peek() == Some(&'\n') => {
                chars.next();
                current.push(' ');
            }
            (None, '\\') => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            (None, ';' | '&' | '|' | '\n' | '(' | ')') => {
                out.push(std::mem::take(&mut current));
            }
            (None, c) => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The image references of one block. Commands that do not parse (shell
/// variables, unusual spellings) are skipped: the check reports only what
/// it understood.
pub fn image_use(script: &str) -> ImageUse {
    let mut found = ImageUse::default();
    for command in simple_commands(script) {
        let words: Vec<&str> = command.split_whitespace().collect();
        let verb: Vec<&str> = words.iter().skip(1).take(2).copied().collect();
        if words.first() != Some(&"docker") {
            continue;
        }
        let started = match verb.as_slice() {
            ["run", ..] | ["container", "run"] => parse_run_command(&command).ok(),
            ["create", ..] | ["container", "create"] => {
                parse_run_command(&command.replacen("create", "run", 1)).ok()
            }
            _ => None,
        };
        if let Some(spec) = started {
            if !found
                .named
                .iter()
                .any(|n| with_tag(n) == with_tag(&spec.image))
            {
                found.started.push(spec.image);
            }
            continue;
        }
        match verb.as_slice() {
            ["build", ..] | ["image", "build"] => {
                let mut it = words.iter();
                while let Some(w) = it.next() {
                    if let Some(tag) = w.strip_prefix("--tag=").or_else(|| w.strip_prefix("-t=")) {
                        found.named.push(tag.to_string());
                    } else if *w == "-t" || *w == "--tag" {
                        if let Some(tag) = it.next() {
                            found.named.push(tag.to_string());
                        }
                    }
                }
            }
            ["tag", ..] | ["commit", ..] | ["image", "tag"] | ["container", "commit"] => {
                let args: Vec<&str> = words
                    .iter()
                    .skip(if verb[0] == "tag" || verb[0] == "commit" {
                        2
                    } else {
                        3
                    })
                    .filter(|w| !w.starts_with('-'))
                    .copied()
                    .collect();
                if let [_, target, ..] = args.as_slice() {
                    found.named.push(target.to_string());
                }
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_builds_and_tags_are_found_outside_quotes_only() {
        let script = "docker rm -f web 2>/dev/null; docker run -d --name web \\\n  --read-only drydock/webapp:1\n\
                      docker build -t hello:1 . && docker tag hello:1 hello:prod\n\
                      docker run --rm drydock/busybox:1 sh -c 'docker run nope:1; echo'\n\
                      docker create --name c alpine | cat\n\
                      docker commit web snapshot:1\n\
                      docker run --rm hello:prod\n\
                      echo docker run fake:1";
        let found = image_use(script);
        assert_eq!(
            found.started,
            ["drydock/webapp:1", "drydock/busybox:1", "alpine"]
        );
        assert_eq!(found.named, ["hello:1", "hello:prod", "snapshot:1"]);
    }
}
