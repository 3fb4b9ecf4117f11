//! What content is made of, once loaded and rendered.

use std::path::PathBuf;

use drydock_grader::checks::catalog::CheckArea;
use serde::{Deserialize, Serialize};

/// A problem in a content file, reported as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// `tracks.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracksFile {
    pub tracks: Vec<TrackDef>,
}

/// One track as authors describe it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrackDef {
    pub id: String,
    pub title: String,
    pub summary: String,
}

/// A lesson's front matter.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub title: String,
    pub summary: String,
    pub minutes: u32,
    pub order: u32,
    pub objectives: Vec<String>,
    #[serde(default)]
    pub lab: Option<String>,
    #[serde(default)]
    pub exercises: Vec<String>,
}

/// An entry of a lesson's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TocEntry {
    pub level: u8,
    pub id: String,
    pub text: String,
}

/// A heading and the plain text under it, for search.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub anchor: Option<String>,
    pub heading: String,
    pub text: String,
}

/// Single or multiple correct answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuizKind {
    Single,
    Multiple,
}

/// `NN-slug.quiz.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizFile {
    #[serde(default)]
    pub questions: Vec<Question>,
}

/// One quiz question, answers included (server side only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub kind: QuizKind,
    pub prompt: String,
    pub explanation: String,
    #[serde(default)]
    pub choices: Vec<Choice>,
}

/// One possible answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub text: String,
    pub correct: bool,
}

impl Question {
    /// Indexes of the correct choices.
    pub fn correct_choices(&self) -> Vec<usize> {
        self.choices
            .iter()
            .enumerate()
            .filter(|(_, c)| c.correct)
            .map(|(i, _)| i)
            .collect()
    }
}

/// A loaded, rendered lesson.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub track: String,
    pub slug: String,
    pub meta: FrontMatter,
    /// Sanitised HTML of the body.
    pub html: String,
    pub toc: Vec<TocEntry>,
    pub sections: Vec<Section>,
    pub quiz: Vec<Question>,
    pub file: PathBuf,
    /// The `sh run` blocks, in order, with their lines in `file`.
    pub run_blocks: Vec<super::render::RunBlock>,
}

impl Lesson {
    /// `track/slug`, the lesson's key in URLs and in the database.
    pub fn key(&self) -> String {
        format!("{}/{}", self.track, self.slug)
    }
}

/// A track with its lessons in order.
#[derive(Debug, Clone)]
pub struct Track {
    pub def: TrackDef,
    /// Indexes into `Catalog::lessons`.
    pub lessons: Vec<usize>,
}

/// How a lab's containers reach the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LabNetworkKind {
    /// Loopback only.
    #[default]
    None,
    /// A Docker network created with `internal: true`, shared by the lab's containers.
    Internal,
}

/// Resources a lab asks for; unset keys take the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabResources {
    pub memory_mb: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub tmpfs_mb: Option<u64>,
}

/// A file written into a lab container before the learner connects.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    pub path: String,
    pub content: String,
    #[serde(default = "default_file_mode")]
    pub mode: String,
}

fn default_file_mode() -> String {
    "0644".into()
}

/// A shell command run from the control plane once the files are in place.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabSetup {
    pub run: String,
}

/// `content/labs/<id>.toml` as authors write it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFileDef {
    pub title: String,
    pub summary: String,
    pub image: String,
    #[serde(default = "default_lab_user")]
    pub user: String,
    #[serde(default = "default_time_limit")]
    pub time_limit_minutes: u32,
    #[serde(default = "default_idle")]
    pub idle_minutes: u32,
    #[serde(default)]
    pub extend_minutes: u32,
    #[serde(default)]
    pub network: LabNetworkKind,
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// The learner gets the `docker` CLI, served by the lab's own Docker
    /// endpoint (the image must ship the CLI; see content/README.md).
    #[serde(default)]
    pub docker: bool,
    pub welcome: String,
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub resources: LabResources,
    #[serde(default)]
    pub files: Vec<LabFile>,
    #[serde(default)]
    pub setup: Vec<LabSetup>,
}

fn default_lab_user() -> String {
    "1000:1000".into()
}
fn default_time_limit() -> u32 {
    60
}
fn default_idle() -> u32 {
    20
}

/// A validated lab, with its image resolved to a tag.
#[derive(Debug, Clone)]
pub struct Lab {
    pub id: String,
    pub def: LabFileDef,
    /// The image reference from `content/images/<image>/image.toml`.
    pub image_tag: String,
    /// Lessons (`track/slug`) that use this lab.
    pub lessons: Vec<String>,
}

/// What a learner submits for an exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExerciseKind {
    /// A `docker run …` command line.
    Run,
    /// A compose service (YAML).
    Compose,
    /// A Dockerfile and a few context files.
    Dockerfile,
    /// Changes made inside the learner's own lab container.
    Lab,
    /// Containers the learner started with the docker CLI in a Docker lab.
    #[serde(rename = "lab-containers")]
    LabContainers,
    /// A value the learner found.
    Flag,
}

impl ExerciseKind {
    /// The check areas an exercise of this kind may draw its checks from.
    pub fn check_areas(self) -> &'static [CheckArea] {
        match self {
            ExerciseKind::Run | ExerciseKind::Compose => &[CheckArea::Run],
            ExerciseKind::Dockerfile => &[CheckArea::Image],
            ExerciseKind::Lab => &[CheckArea::Lab],
            ExerciseKind::LabContainers => &[CheckArea::Run, CheckArea::Live],
            ExerciseKind::Flag => &[CheckArea::Flag],
        }
    }

    /// The spelling in files and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ExerciseKind::Run => "run",
            ExerciseKind::Compose => "compose",
            ExerciseKind::Dockerfile => "dockerfile",
            ExerciseKind::Lab => "lab",
            ExerciseKind::LabContainers => "lab-containers",
            ExerciseKind::Flag => "flag",
        }
    }
}

/// One graded criterion as an author declares it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    /// Catalog id, e.g. `RUN-NONROOT` (an unknown id fails the file's parse).
    pub id: drydock_grader::checks::catalog::CheckId,
    #[serde(default = "default_points")]
    pub points: u32,
    /// Shown with a failed check: how to fix it.
    pub hint: String,
    /// Replaces the grader's own message when the check fails.
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(default)]
    pub params: toml::Table,
}

fn default_points() -> u32 {
    1
}

/// `content/exercises/<id>.toml` as authors write it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExerciseFileDef {
    pub title: String,
    pub summary: String,
    pub kind: ExerciseKind,
    /// Markdown shown above the editor.
    pub instructions: String,
    /// `run`/`compose`/`lab-containers`: the image (a folder under
    /// `content/images/`) the graded container runs.
    #[serde(default)]
    pub image: Option<String>,
    /// `dockerfile`: images (folders under `content/images/`) a FROM may name;
    /// empty means every lab image.
    #[serde(default)]
    pub bases: Vec<String>,
    /// `lab`/`flag`/`lab-containers`: the lab the exercise is about.
    #[serde(default)]
    pub lab: Option<String>,
    /// `lab-containers`: the name the learner gives the container to grade.
    #[serde(default)]
    pub container: Option<String>,
    /// Pre-filled editor text.
    #[serde(default)]
    pub starter: String,
    /// `dockerfile`: pre-filled context files (name → content).
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
    /// `flag`: the value to find.
    #[serde(default)]
    pub answer: Option<String>,
    /// Attempts allowed per learner; 0 = unlimited.
    #[serde(default)]
    pub attempts: u32,
    /// Points needed to pass; default all of them.
    #[serde(default)]
    pub pass_points: Option<u32>,
    /// `dockerfile`: seconds the build may take.
    #[serde(default = "default_build_secs")]
    pub build_timeout_secs: u64,
    pub checks: Vec<CheckDef>,
}

fn default_build_secs() -> u64 {
    60
}

/// A validated exercise.
#[derive(Debug, Clone)]
pub struct Exercise {
    pub id: String,
    pub def: ExerciseFileDef,
    pub instructions_html: String,
    /// `run`/`compose`: the image tag to run.
    pub image_tag: Option<String>,
    /// `dockerfile`: tags a FROM may name.
    pub base_tags: Vec<String>,
    /// Lessons (`track/slug`) that link here.
    pub lessons: Vec<String>,
    /// Fingerprint of the checks; a change means stored grades are stale.
    pub rubric: String,
}

impl Exercise {
    /// Points available.
    pub fn max_points(&self) -> u32 {
        self.def.checks.iter().map(|c| c.points).sum()
    }

    /// Points needed to pass.
    pub fn pass_points(&self) -> u32 {
        self.def.pass_points.unwrap_or_else(|| self.max_points())
    }
}
