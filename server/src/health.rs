//! Liveness and readiness probes.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// 200 whenever the process can answer at all.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the database and the Docker engine both answer, else 503 —
/// within a few seconds either way, never hanging on a dead dependency.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let deadline = Duration::from_secs(state.config.docker_timeout_secs.max(1));
    let database = async {
        match tokio::time::timeout(deadline, state.db.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                if let crate::error::Error::Database(e) = &e {
                    state.db.note_error(e).await;
                }
                Err(e.to_string())
            }
            Err(_) => Err(format!("no answer within {deadline:?}")),
        }
    };
    let engine = async {
        let version = state.engine.version().await.map_err(|e| e.to_string())?;
        let runtimes = state.engine.runtimes().await.map_err(|e| e.to_string())?;
        Ok::<_, String>((version, runtimes))
    };
    let builds = async {
        match state.grading.build_sandbox().await {
            Ok(Ok(())) => format!("sandboxed ({})", state.config.grading.build_runtime),
            Ok(Err(why)) => format!("refused: {why}"),
            Err(e) => format!("unknown: {e}"),
        }
    };
    let docker_labs = async {
        match state.labs.docker_unavailable().await {
            Ok(None) => "ok".to_string(),
            Ok(Some(why)) => format!("refused: {why}"),
            Err(e) => format!("unknown: {e}"),
        }
    };
    let (database, engine, builds, docker_labs) =
        tokio::join!(database, engine, builds, docker_labs);

    let ready = database.is_ok() && engine.is_ok();
    let mut body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": database.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| format!("error: {e}")),
        "database_backend": state.db.backend().name(),
        "docker": engine.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| format!("error: {e}")),
    });
    if let Ok((version, runtimes)) = &engine {
        body["docker_version"] = json!(version.version);
        body["docker_api"] = json!(version.api_version);
        body["gvisor"] = json!(runtimes.iter().any(|r| r == "runsc"));
        body["builds"] = json!(builds);
        body["docker_labs"] = json!(docker_labs);
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// While the database is known not to answer, every request but the
/// probes and static files is answered at once with a 503 and a sentence,
/// instead of each waiting for a connection (and then failing anyway).
/// [`crate::db::Db::watch`] lifts it when the database answers again.
pub async fn database_gate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let exempt = ["/healthz", "/readyz"].contains(&path)
        || path.starts_with("/pkg/")
        || path.starts_with("/media/");
    if exempt || !state.db.is_down() {
        return next.run(request).await;
    }
    let mut response = if path.starts_with("/api/") {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "database_unavailable", "message": crate::db::UNREACHABLE })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>Drydock is unavailable</title></head><body><main>\
                 <h1>Drydock is unavailable</h1><p>{}</p></main></body></html>",
                crate::db::UNREACHABLE
            )),
        )
            .into_response()
    };
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, 10.into());
    response
}
