//! Workshops as the UI (and the JSON API) see them: instructor-led sessions
//! with their plan, roster, live progress and announcements.

use leptos::prelude::*;

use crate::api::ApiError;
use serde::{Deserialize, Serialize};

/// A workshop in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkshopSummary {
    pub id: String,
    pub title: String,
    /// The join code; only instructors see it.
    pub code: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub ended: bool,
    /// The caller's role: `instructor` or `learner`.
    pub role: String,
    /// The caller's status: `active` or `pending`.
    pub status: String,
    pub learners: u32,
    pub max_participants: u32,
}

/// A lesson, lab or exercise of a workshop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkshopItemView {
    /// `lesson`, `lab` or `exercise`.
    pub kind: String,
    pub id: String,
    pub title: String,
    pub href: String,
    pub deadline: Option<i64>,
}

/// An announcement to every participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementView {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

/// A learner's lab, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabState {
    pub lab: String,
    pub session: String,
    /// `queued`, `starting` or `running`.
    pub status: String,
}

/// One learner's result on one exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExerciseCell {
    pub exercise: String,
    /// Best score (late attempts included when the workshop accepts them).
    pub best: Option<u32>,
    pub max: u32,
    pub attempts: u32,
    pub passed: bool,
    /// Checks failing in the latest attempt.
    pub failing: Vec<String>,
    /// Whether any attempt came after the deadline.
    pub late: bool,
}

/// One learner's row on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnerRow {
    pub user_id: i64,
    pub username: String,
    pub lessons_done: u32,
    pub lessons_total: u32,
    pub lab: Option<LabState>,
    pub exercises: Vec<ExerciseCell>,
}

/// How many learners pass one check of an exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStat {
    pub id: String,
    pub title: String,
    pub passing: u32,
    /// Learners with an attempt.
    pub of: u32,
}

/// One exercise across the class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExerciseStats {
    pub exercise: String,
    pub title: String,
    pub deadline: Option<i64>,
    pub tried: u32,
    pub passed: u32,
    pub checks: Vec<CheckStat>,
    /// The check the fewest learners pass (when anyone tried).
    pub hardest: Option<String>,
}

/// The whole dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub workshop_id: String,
    pub learners: Vec<LearnerRow>,
    pub exercises: Vec<ExerciseStats>,
}

/// A person on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub user_id: i64,
    pub username: String,
    pub role: String,
    pub status: String,
    pub joined_at: i64,
}

/// One workshop as its page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkshopView {
    pub summary: WorkshopSummary,
    pub items: Vec<WorkshopItemView>,
    pub announcements: Vec<AnnouncementView>,
    pub approval: bool,
    pub accept_late: bool,
    pub reserved_labs: u32,
    /// The caller's own progress (learners).
    pub me: Option<LearnerRow>,
    /// Instructors only.
    pub roster: Vec<RosterEntry>,
}

/// What an instructor fills in to create a workshop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWorkshop {
    pub title: String,
    /// Epoch ms; default now.
    #[serde(default)]
    pub starts_at: Option<i64>,
    /// Epoch ms; default three hours after the start.
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// `track/slug` of each lesson.
    #[serde(default)]
    pub lessons: Vec<String>,
    #[serde(default)]
    pub labs: Vec<String>,
    #[serde(default)]
    pub exercises: Vec<String>,
    /// Exercise id → deadline (epoch ms).
    #[serde(default)]
    pub deadlines: std::collections::BTreeMap<String, i64>,
    #[serde(default = "default_max")]
    pub max_participants: u32,
    #[serde(default)]
    pub reserved_labs: u32,
    #[serde(default)]
    pub approval: bool,
    /// Record late submissions (flagged late) instead of refusing them.
    #[serde(default = "yes")]
    pub accept_late: bool,
}

fn default_max() -> u32 {
    30
}

fn yes() -> bool {
    true
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the workshops contract.

    use super::*;

    #[async_trait::async_trait]
    pub trait WorkshopsBackend: Send + Sync + 'static {
        async fn list(&self, req: &http::request::Parts) -> Result<Vec<WorkshopSummary>, ApiError>;
        async fn view(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<Option<WorkshopView>, ApiError>;
        async fn create(
            &self,
            req: &http::request::Parts,
            new: NewWorkshop,
        ) -> Result<WorkshopSummary, ApiError>;
        async fn join(
            &self,
            req: &http::request::Parts,
            code: &str,
        ) -> Result<WorkshopSummary, ApiError>;
        async fn progress(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<Progress, ApiError>;
        async fn announce(
            &self,
            req: &http::request::Parts,
            id: &str,
            body: &str,
        ) -> Result<(), ApiError>;
        async fn roster_action(
            &self,
            req: &http::request::Parts,
            id: &str,
            user_id: i64,
            action: &str,
        ) -> Result<(), ApiError>;
        async fn end(&self, req: &http::request::Parts, id: &str) -> Result<(), ApiError>;
    }
}

/// The caller's workshops.
#[server]
pub async fn get_workshops() -> Result<Vec<WorkshopSummary>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.list(&req).await
}

/// One workshop as the caller may see it; `None` when it does not exist or is not theirs.
#[server]
pub async fn get_workshop(id: String) -> Result<Option<WorkshopView>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.view(&req, &id).await
}

/// Creates a workshop (instructors).
#[server(input = leptos::server_fn::codec::Json)]
pub async fn create_workshop(new: NewWorkshop) -> Result<WorkshopSummary, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.create(&req, new).await
}

/// Joins a workshop by its code.
#[server]
pub async fn join_workshop(code: String) -> Result<WorkshopSummary, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.join(&req, &code).await
}

/// The dashboard's first picture (instructors); updates come as events.
#[server]
pub async fn get_progress(id: String) -> Result<Progress, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.progress(&req, &id).await
}

/// Sends an announcement to every participant (instructors).
#[server]
pub async fn announce(id: String, body: String) -> Result<(), ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.announce(&req, &id, &body).await
}

/// Approves, removes, bans or promotes a participant; resets their lab (instructors).
#[server]
pub async fn roster_action(id: String, user_id: i64, action: String) -> Result<(), ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.roster_action(&req, &id, user_id, &action).await
}

/// Ends the workshop: labs stop, the plan closes (instructors).
#[server]
pub async fn end_workshop(id: String) -> Result<(), ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::WorkshopsBackend>()?;
    b.end(&req, &id).await
}
