//! The shared machinery of content loading: where problems are collected,
//! how `<id>.toml` definition files are read, and what a content id is.
//! Lessons, labs and exercises each load through it (see `load.rs`).

use std::{
    fs,
    path::{Path, PathBuf},
};

use super::model::Problem;

/// 1-based line of a byte offset.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// A TOML parse error's line (toml reports byte spans).
pub(crate) fn toml_problem(
    file: &Path,
    text: &str,
    err: &toml::de::Error,
    line_offset: usize,
) -> Problem {
    let line = err.span().map(|s| line_at(text, s.start)).unwrap_or(1) + line_offset;
    let message = err.message().replace('\n', " ");
    Problem {
        file: file.to_path_buf(),
        line,
        message,
    }
}

pub(crate) struct Loader {
    root: PathBuf,
    pub(crate) problems: Vec<Problem>,
}

/// A content id: lowercase letters, digits and '-', at most 64.
pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One `<id>.toml` definition file, read and parsed.
pub(crate) struct Definition<T> {
    pub id: String,
    /// The path as problems show it.
    pub shown: PathBuf,
    pub text: String,
    pub def: T,
}

impl Loader {
    /// A loader for the content directory `root`.
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            problems: Vec::new(),
        }
    }

    /// Reads every `<dir>/<folder>/<id>.toml` as a `T`, in name order.
    /// Misnamed, unreadable and malformed files become problems (`what`
    /// names the kind in messages: "lab", "exercise").
    pub(crate) fn definitions<T: serde::de::DeserializeOwned>(
        &mut self,
        dir: &Path,
        folder: &str,
        what: &str,
    ) -> Vec<Definition<T>> {
        let Ok(entries) = fs::read_dir(dir.join(folder)) else {
            return Vec::new();
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        paths.sort();
        let mut out = Vec::new();
        for path in paths {
            let shown = self.rel(&path);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(id) = name.strip_suffix(".toml") else {
                self.problem(
                    &shown,
                    1,
                    format!("unexpected file: {folder} are <id>.toml"),
                );
                continue;
            };
            if !is_id(id) {
                self.problem(
                    &shown,
                    1,
                    format!("{what} ids use only lowercase letters, digits and '-' (at most 64)"),
                );
                continue;
            }
            let text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.problem(&shown, 1, format!("cannot read: {e}"));
                    continue;
                }
            };
            match toml::from_str(&text) {
                Ok(def) => out.push(Definition {
                    id: id.to_string(),
                    shown,
                    text,
                    def,
                }),
                Err(e) => self.problems.push(toml_problem(&shown, &text, &e, 0)),
            }
        }
        out
    }

    pub(crate) fn problem(&mut self, file: &Path, line: usize, message: impl Into<String>) {
        self.problems.push(Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    pub(crate) fn rel(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(|p| Path::new(self.root.file_name().unwrap_or_default()).join(p))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}
