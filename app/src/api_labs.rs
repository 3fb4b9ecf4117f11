//! Labs as the UI (and the JSON API) see them: the lab catalog, a learner's
//! lab sessions and the actions on them.

use leptos::prelude::*;

use crate::api::ApiError;
use serde::{Deserialize, Serialize};

/// A lab definition, as shown before starting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabSummary {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub welcome: String,
    pub image: String,
    pub time_limit_minutes: u32,
    pub idle_minutes: u32,
    pub extend_minutes: u32,
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    /// `none` or `internal`.
    pub network: String,
    /// Whether the lab has the docker CLI and a Docker endpoint of its own.
    #[serde(default)]
    pub docker: bool,
    /// Docker labs: the images a learner can start (tag, description).
    #[serde(default)]
    pub images: Vec<(String, String)>,
    /// Docker labs: what the lab's Docker endpoint never allows (option, why).
    #[serde(default)]
    pub rules: Vec<(String, String)>,
    /// Lessons that use this lab: (path, title).
    pub lessons: Vec<(String, String)>,
}

/// One of a learner's lab sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabSessionView {
    pub id: String,
    pub lab: String,
    pub title: String,
    /// `queued`, `starting`, `running` or `ended`.
    pub status: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    /// When the lab stops (epoch ms); `None` until it starts.
    pub expires_at: Option<i64>,
    /// Place in the queue (1 = next), while queued.
    pub position: Option<usize>,
    pub extended: bool,
    /// Whether the learner may still add time once.
    pub can_extend: bool,
    pub extend_minutes: u32,
    pub idle_minutes: u32,
    /// Why the session ended, in words for the learner.
    pub end_reason: Option<String>,
    /// Ports the learner published (`docker run -p`), opened through Drydock.
    #[serde(default)]
    pub previews: Vec<PreviewLink>,
}

/// A port of one of the learner's containers, to open in the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewLink {
    /// The container's name, as the learner gave it.
    pub container: String,
    pub port: u16,
    /// Where the browser opens it (same origin; only the owner and their
    /// workshop's instructors get an answer).
    pub url: String,
}

/// What asking for a lab led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StartResult {
    /// The lab runs (it may have been running already).
    Running(LabSessionView),
    /// Every slot is taken: the learner waits in line.
    Queued(LabSessionView),
    /// The learner already has another lab; stopping it is their call.
    Busy { running: LabSessionView },
}

/// The `/labs` page: every lab, and the caller's sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabsOverview {
    pub labs: Vec<LabSummary>,
    /// Active sessions first, then recently ended ones.
    pub sessions: Vec<LabSessionView>,
}

/// One lab with the caller's active session of it, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabDetail {
    pub lab: LabSummary,
    pub session: Option<LabSessionView>,
    /// The caller's active session of a different lab, if any.
    pub other: Option<LabSessionView>,
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The server's side of the labs contract.

    use super::*;

    #[async_trait::async_trait]
    pub trait LabsBackend: Send + Sync + 'static {
        async fn overview(&self, req: &http::request::Parts) -> Result<LabsOverview, ApiError>;
        async fn detail(
            &self,
            req: &http::request::Parts,
            lab: &str,
        ) -> Result<Option<LabDetail>, ApiError>;
        async fn start(
            &self,
            req: &http::request::Parts,
            lab: &str,
            replace: bool,
        ) -> Result<StartResult, ApiError>;
        async fn session(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<LabSessionView, ApiError>;
        async fn stop(&self, req: &http::request::Parts, id: &str) -> Result<(), ApiError>;
        async fn reset(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<LabSessionView, ApiError>;
        async fn extend(
            &self,
            req: &http::request::Parts,
            id: &str,
        ) -> Result<LabSessionView, ApiError>;
    }
}

/// Every lab and the caller's sessions.
#[server]
pub async fn get_labs() -> Result<LabsOverview, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.overview(&req).await
}

/// One lab and the caller's session of it; `None` when there is no such lab.
#[server]
pub async fn get_lab(lab: String) -> Result<Option<LabDetail>, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.detail(&req, &lab).await
}

/// Starts a lab (or queues for it). With `replace`, the caller's other lab is stopped first.
#[server]
pub async fn start_lab(lab: String, replace: bool) -> Result<StartResult, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.start(&req, &lab, replace).await
}

/// The current state of one of the caller's sessions.
#[server]
pub async fn get_lab_session(id: String) -> Result<LabSessionView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.session(&req, &id).await
}

/// Stops a lab and removes its container.
#[server]
pub async fn stop_lab(id: String) -> Result<(), ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.stop(&req, &id).await
}

/// Replaces the lab's container with a fresh one.
#[server]
pub async fn reset_lab(id: String) -> Result<LabSessionView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.reset(&req, &id).await
}

/// Adds the lab's extra time, once.
#[server]
pub async fn extend_lab(id: String) -> Result<LabSessionView, ApiError> {
    let (b, req) = crate::api::backend::<dyn ssr::LabsBackend>()?;
    b.extend(&req, &id).await
}
