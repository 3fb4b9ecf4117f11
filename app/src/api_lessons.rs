//! Lessons, quizzes and progress as the UI (and the JSON API) see them.
//! Quiz questions carry no answers until the learner has answered.

use leptos::prelude::*;

use crate::api::ApiError;
use serde::{Deserialize, Serialize};

/// The catalog: tracks and their lessons, with the caller's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogView {
    pub tracks: Vec<TrackView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackView {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub lessons: Vec<LessonSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonSummary {
    pub track: String,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub minutes: u32,
    pub completed: bool,
    /// The lab that goes with the lesson, if any: (id, whether it has `docker`).
    #[serde(default)]
    pub lab: Option<(String, bool)>,
}

/// One lesson page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonView {
    pub track: String,
    pub track_title: String,
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub minutes: u32,
    pub objectives: Vec<String>,
    /// Sanitised, pre-rendered HTML of the body.
    pub html: String,
    pub toc: Vec<TocItem>,
    pub quiz: Vec<QuestionView>,
    pub prev: Option<LessonLink>,
    pub next: Option<LessonLink>,
    pub completed: bool,
    /// The lab that goes with this lesson, if any.
    pub lab: Option<String>,
    /// Graded exercises for this lesson: (id, title, summary).
    pub exercises: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TocItem {
    pub level: u8,
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonLink {
    pub track: String,
    pub slug: String,
    pub title: String,
}

/// A question without its answers; `answered` holds the learner's earlier result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionView {
    pub id: String,
    /// `single` or `multiple`.
    pub kind: String,
    pub prompt: String,
    pub choices: Vec<String>,
    pub answered: Option<AnswerResult>,
}

/// The verdict on an answer, with the explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerResult {
    pub chosen: Vec<usize>,
    pub correct: bool,
    pub correct_choices: Vec<usize>,
    pub explanation: String,
}

/// A search hit: the section of a lesson that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub track: String,
    pub slug: String,
    pub lesson_title: String,
    pub anchor: Option<String>,
    pub heading: String,
    pub snippet: String,
}

/// Progress across all tracks, for the profile page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressView {
    pub tracks: Vec<TrackProgress>,
    pub quiz_correct: i64,
    pub quiz_answered: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackProgress {
    pub id: String,
    pub title: String,
    pub done: usize,
    pub total: usize,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the lessons contract.

    use super::*;

    #[async_trait::async_trait]
    pub trait LessonsBackend: Send + Sync + 'static {
        async fn catalog(&self, req: &http::request::Parts) -> Result<CatalogView, ApiError>;
        async fn lesson(
            &self,
            req: &http::request::Parts,
            track: &str,
            slug: &str,
        ) -> Result<Option<LessonView>, ApiError>;
        async fn answer(
            &self,
            req: &http::request::Parts,
            track: &str,
            slug: &str,
            question: &str,
            choices: Vec<usize>,
        ) -> Result<AnswerResult, ApiError>;
        async fn set_complete(
            &self,
            req: &http::request::Parts,
            track: &str,
            slug: &str,
            complete: bool,
        ) -> Result<bool, ApiError>;
        async fn search(&self, query: &str) -> Result<Vec<SearchResult>, ApiError>;
        async fn progress(&self, req: &http::request::Parts) -> Result<ProgressView, ApiError>;
    }
}

/// Tracks and lessons with the caller's progress.
#[server]
pub async fn get_catalog() -> Result<CatalogView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.catalog(&req).await
}

/// One lesson with its body; `None` when there is no such lesson.
#[server]
pub async fn get_lesson(track: String, slug: String) -> Result<Option<LessonView>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.lesson(&req, &track, &slug).await
}

/// Checks an answer on the server and returns the verdict and explanation.
#[server]
pub async fn answer_question(
    track: String,
    slug: String,
    question: String,
    choices: Vec<usize>,
) -> Result<AnswerResult, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.answer(&req, &track, &slug, &question, choices).await
}

/// Marks a lesson complete (or not); returns the new state.
#[server]
pub async fn set_lesson_complete(
    track: String,
    slug: String,
    complete: bool,
) -> Result<bool, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.set_complete(&req, &track, &slug, complete).await
}

/// Sections of lessons matching a query.
#[server]
pub async fn search_lessons(query: String) -> Result<Vec<SearchResult>, ApiError> {
    let (b, _) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.search(&query).await
}

/// The caller's progress across tracks.
#[server]
pub async fn get_progress() -> Result<ProgressView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LessonsBackend>()?;
    b.progress(&req).await
}
