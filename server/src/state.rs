//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::{
    accounts::throttle::AuthThrottles, config::Config, content::Catalog, db::Db,
    docker::engine::Engine, grading::service::GradingService, labs::service::LabService,
    lessons::page_cache::PageCache, workshops::service::WorkshopService,
};

/// Shared application state; cloning it is cheap.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub engine: Arc<Engine>,
    pub leptos_options: LeptosOptions,
    pub throttles: Arc<AuthThrottles>,
    /// Lessons and quizzes, loaded and rendered at start-up.
    pub content: Arc<Catalog>,
    /// Lab sessions, containers and terminals.
    pub labs: Arc<LabService>,
    /// Exercise grading and attempts.
    pub grading: Arc<GradingService>,
    /// Workshops, their rosters and live dashboards.
    pub workshops: Arc<WorkshopService>,
    /// Rendered lesson pages per viewer.
    pub pages: Arc<PageCache>,
}
