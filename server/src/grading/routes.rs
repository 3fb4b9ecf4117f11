//! The exercises JSON API under `/api/v1/exercises`. Attempts are the
//! caller's own; nobody reads another learner's submissions here.

use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use drydock_app::api_exercises::{ExerciseDetail, ExerciseSummary, Submission, SubmissionView};

use crate::{
    accounts::guard::Identity,
    error::Result,
    extract::{ApiJson, RequestBody},
    state::AppState,
};

/// Largest request body a submission may have.
const MAX_BODY: usize = 1024 * 1024;

/// Routes of the exercises area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/exercises", get(list))
        .route("/api/v1/exercises/{id}", get(one))
        .route(
            "/api/v1/exercises/{id}/submissions",
            post(submit)
                .get(history)
                .layer(DefaultBodyLimit::max(MAX_BODY)),
        )
}

async fn list(
    State(state): State<AppState>,
    caller: Identity,
) -> Result<Json<Vec<ExerciseSummary>>> {
    Ok(Json(state.grading.summaries(Some(caller.user.id)).await?))
}

async fn one(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<ExerciseDetail>> {
    Ok(Json(state.grading.detail(Some(caller.user.id), &id).await?))
}

impl RequestBody for Submission {
    const EXAMPLE: &'static str = r#"{"kind":"run","command":"docker run …"}, {"kind":"compose","service":"…"}, {"kind":"dockerfile","dockerfile":"…","files":{}}, {"kind":"flag","value":"…"} or {"kind":"lab"}"#;
}

/// Grades a submission: 201 with the report.
async fn submit(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    ApiJson(submission): ApiJson<Submission>,
) -> Result<(StatusCode, Json<SubmissionView>)> {
    let view = state.grading.submit(&caller.user, &id, submission).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn history(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<Vec<SubmissionView>>> {
    Ok(Json(state.grading.history(caller.user.id, &id).await?))
}
