//! Graded exercises as the UI (and the JSON API) see them: the exercise
//! list, one exercise with the caller's attempts, and grading reports.

use leptos::prelude::*;

use crate::api::ApiError;
use serde::{Deserialize, Serialize};

/// How one criterion of an exercise came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// Catalog id, e.g. `RUN-CAP-DROP-ALL`.
    pub id: String,
    /// What the check asks for, in a few words.
    pub title: String,
    pub passed: bool,
    /// Points earned (0 when failed).
    pub points: u32,
    /// Points this check is worth.
    pub max_points: u32,
    /// What was found, naming the flag or instruction to change.
    pub message: String,
    /// The author's hint.
    pub hint: String,
    /// What the grader saw: an inspect field, a probe's output, a line.
    pub evidence: String,
}

/// The result of grading one submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeReport {
    pub score: u32,
    pub max: u32,
    pub passed: bool,
    pub checks: Vec<CheckOutcome>,
    /// Things worth knowing beyond the checks (the container exited, the
    /// sandbox capped something, the build log's end …).
    pub notes: Vec<String>,
    /// How long grading took, in milliseconds.
    pub duration_ms: u64,
}

/// One exercise in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExerciseSummary {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// `run`, `compose`, `dockerfile`, `lab` or `flag`.
    pub kind: String,
    pub max: u32,
    /// Lessons that link here: (path, title).
    pub lessons: Vec<(String, String)>,
    /// The caller's best score so far, if they tried.
    pub best: Option<u32>,
    pub passed: bool,
    pub attempts: u32,
}

/// One stored attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionView {
    pub id: String,
    pub exercise: String,
    pub kind: String,
    /// The submission as sent (a command, YAML, a Dockerfile …).
    pub text: String,
    /// Context files of a Dockerfile submission.
    pub files: Vec<(String, String)>,
    pub created_at: i64,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub report: GradeReport,
    /// The server stopped before grading it: it does not count, and its
    /// report's note says so.
    #[serde(default)]
    pub interrupted: bool,
}

/// One exercise with everything needed to attempt it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExerciseDetail {
    pub summary: ExerciseSummary,
    /// Rendered Markdown.
    pub instructions_html: String,
    /// Pre-filled text for the editor.
    pub starter: String,
    /// Pre-filled context files for Dockerfile exercises.
    pub starter_files: Vec<(String, String)>,
    /// The lab a `lab` or `flag` exercise is about.
    pub lab: Option<(String, String)>,
    /// The image a run or compose exercise runs.
    pub image: Option<String>,
    /// Base images a Dockerfile may start from.
    pub bases: Vec<String>,
    /// 0 = unlimited.
    pub attempts_allowed: u32,
    /// Points needed to pass.
    pub pass_points: u32,
    /// What each check asks for: (id, title, points).
    pub checks: Vec<(String, String, u32)>,
    /// The caller's attempts, newest first.
    pub history: Vec<SubmissionView>,
}

/// What a learner sends to be graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Submission {
    Run {
        command: String,
    },
    Compose {
        service: String,
    },
    Dockerfile {
        dockerfile: String,
        #[serde(default)]
        files: std::collections::BTreeMap<String, String>,
    },
    Flag {
        value: String,
    },
    Lab {},
}

impl Submission {
    /// The kind's name, as in exercise files.
    pub fn kind(&self) -> &'static str {
        match self {
            Submission::Run { .. } => "run",
            Submission::Compose { .. } => "compose",
            Submission::Dockerfile { .. } => "dockerfile",
            Submission::Flag { .. } => "flag",
            Submission::Lab {} => "lab",
        }
    }

    /// The main text of the submission, for history and editors.
    pub fn text(&self) -> String {
        match self {
            Submission::Run { command } => command.clone(),
            Submission::Compose { service } => service.clone(),
            Submission::Dockerfile { dockerfile, .. } => dockerfile.clone(),
            Submission::Flag { value } => value.clone(),
            Submission::Lab {} => String::new(),
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the exercises contract.

    use super::*;

    #[async_trait::async_trait]
    pub trait ExercisesBackend: Send + Sync + 'static {
        async fn list(&self, req: &http::request::Parts) -> Result<Vec<ExerciseSummary>, ApiError>;
        async fn detail(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<Option<ExerciseDetail>, ApiError>;
        async fn submit(
            &self,
            req: &http::request::Parts,
            id: &str,
            submission: Submission,
        ) -> Result<SubmissionView, ApiError>;
    }
}

/// Every exercise, with the caller's progress.
#[server]
pub async fn get_exercises() -> Result<Vec<ExerciseSummary>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::ExercisesBackend>()?;
    b.list(&req).await
}

/// One exercise and the caller's attempts; `None` when there is no such exercise.
#[server]
pub async fn get_exercise(id: String) -> Result<Option<ExerciseDetail>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::ExercisesBackend>()?;
    b.detail(&req, &id).await
}

/// Grades a submission and stores it as an attempt.
#[server(input = leptos::server_fn::codec::Json)]
pub async fn submit_exercise(
    id: String,
    submission: Submission,
) -> Result<SubmissionView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::ExercisesBackend>()?;
    b.submit(&req, &id, submission).await
}
