//! The lessons JSON API under `/api/v1/`.

use axum::{
    extract::{Path, Query, State},
    routing::{get, post},
    Json, Router,
};
use drydock_app::api_lessons::{AnswerResult, CatalogView, LessonView, ProgressView, SearchResult};
use serde::Deserialize;
use tower_sessions::Session;

use super::service;
use crate::{
    accounts::guard::{session_user, Identity},
    error::{Error, Result},
    state::AppState,
};

/// Routes of the lessons area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/lessons", get(catalog))
        .route("/api/v1/lessons/{track}/{slug}", get(lesson))
        .route("/api/v1/lessons/{track}/{slug}/complete", post(complete))
        .route(
            "/api/v1/lessons/{track}/{slug}/quiz/{question}",
            post(answer),
        )
        .route("/api/v1/search", get(search))
        .route("/api/v1/progress", get(progress))
        .route("/highlight.css", get(highlight_css))
}

/// Anyone may read lessons; progress is shown when the caller has a session.
async fn catalog(State(state): State<AppState>, session: Session) -> Result<Json<CatalogView>> {
    let user = session_user(&state.db, &session).await?;
    Ok(Json(
        service::catalog(&state.content, &state.db, user.as_ref()).await?,
    ))
}

async fn lesson(
    State(state): State<AppState>,
    session: Session,
    Path((track, slug)): Path<(String, String)>,
) -> Result<Json<LessonView>> {
    let user = session_user(&state.db, &session).await?;
    service::lesson(&state.content, &state.db, user.as_ref(), &track, &slug)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("There is no lesson {track}/{slug}.")))
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default = "yes")]
    complete: bool,
}

fn yes() -> bool {
    true
}

async fn complete(
    State(state): State<AppState>,
    who: Identity,
    Path((track, slug)): Path<(String, String)>,
    Json(c): Json<Completion>,
) -> Result<Json<serde_json::Value>> {
    let done = service::set_complete(
        &state.content,
        &state.db,
        &who.user,
        &track,
        &slug,
        c.complete,
    )
    .await?;
    Ok(Json(serde_json::json!({ "completed": done })))
}

#[derive(Deserialize)]
struct Answer {
    choices: Vec<usize>,
}

async fn answer(
    State(state): State<AppState>,
    who: Identity,
    Path((track, slug, question)): Path<(String, String, String)>,
    Json(a): Json<Answer>,
) -> Result<Json<AnswerResult>> {
    Ok(Json(
        service::answer(
            &state.content,
            &state.db,
            &who.user,
            &track,
            &slug,
            &question,
            a.choices,
        )
        .await?,
    ))
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn search(
    State(state): State<AppState>,
    Query(q): Query<SearchQuery>,
) -> Json<Vec<SearchResult>> {
    Json(service::search(&state.content, &q.q))
}

async fn progress(State(state): State<AppState>, who: Identity) -> Result<Json<ProgressView>> {
    Ok(Json(
        service::progress_of(&state.content, &state.db, Some(&who.user)).await?,
    ))
}

/// Colours for highlighted code; generated once, cached by browsers for a day.
async fn highlight_css(
    State(state): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 2], String) {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        state.content.highlight_css.clone(),
    )
}
