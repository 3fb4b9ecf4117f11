//! The labs JSON API under `/api/v1/labs` and the terminal WebSocket.
//! Every route acts only on the caller's own sessions; anyone else gets 404.

use std::sync::Arc;

use axum::{
    extract::Query,
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        Path, State,
    },
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use drydock_app::api_labs::LabSessionView;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{
    service::StartOutcome,
    terminal::{TerminalEvent, TerminalHub},
};
use crate::{
    accounts::guard::Identity,
    db::labs::LabStatus,
    error::{Error, Result},
    extract::{ApiJson, RequestBody},
    state::AppState,
};

/// Routes of the labs area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/labs", get(list).post(start))
        .route("/api/v1/labs/{id}", get(one).delete(stop))
        .route("/api/v1/labs/{id}/reset", post(reset))
        .route("/api/v1/labs/{id}/extend", post(extend))
        .route("/api/v1/labs/{id}/terminal", get(terminal))
        .route("/labs/{id}/preview/{container}/{port}/", any(preview_root))
        .route(
            "/labs/{id}/preview/{container}/{port}/{*rest}",
            any(preview),
        )
}

#[derive(Deserialize)]
struct PreviewQuery {
    /// An instructor opens a learner's preview through their workshop.
    workshop: Option<String>,
}

async fn preview_root(
    state: State<AppState>,
    caller: Identity,
    Path((id, container, port)): Path<(String, String, u16)>,
    query: Query<PreviewQuery>,
    request: axum::extract::Request,
) -> Result<Response> {
    preview(
        state,
        caller,
        Path((id, container, port, String::new())),
        query,
        request,
    )
    .await
}

/// A port the learner published (`docker run -p`), opened in the browser:
/// the request goes to the container through an exec of a relay inside it
/// (never to its address), and the answer comes back sandboxed (its own
/// origin, no access to Drydock's cookies or pages).
async fn preview(
    State(state): State<AppState>,
    caller: Identity,
    Path((id, container, port, rest)): Path<(String, String, u16, String)>,
    Query(query): Query<PreviewQuery>,
    request: axum::extract::Request,
) -> Result<Response> {
    let session = match state.labs.owned(caller.user.id, &id).await {
        Ok(session) => session,
        Err(refused) => match &query.workshop {
            Some(workshop) => {
                state
                    .workshops
                    .watchable_session(&caller.user, workshop, &id)
                    .await?
            }
            None => return Err(refused),
        },
    };
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, PREVIEW_BODY_CAP)
        .await
        .map_err(|_| {
            Error::BadRequest(format!(
                "A preview request may carry at most {} KiB.",
                PREVIEW_BODY_CAP / 1024
            ))
        })?;
    let raw = super::preview::request(&parts, &rest, port, &body)?;
    let answer = state.labs.preview(&session, &container, port, &raw).await?;
    Ok(super::preview::response(&answer))
}

/// The largest request body a preview passes on.
const PREVIEW_BODY_CAP: usize = 1 << 20;

#[derive(Deserialize)]
struct StartRequest {
    lab: String,
    /// Stop the caller's other lab to make room.
    #[serde(default)]
    replace: bool,
}

impl RequestBody for StartRequest {
    const EXAMPLE: &'static str = r#"{"lab": "<lab id>"}"#;
}

/// 201 when a container was started, 200 when the lab was already running,
/// 202 with a queue position when every slot is taken, 409 when the caller's
/// quota is used by another lab.
async fn start(
    State(state): State<AppState>,
    caller: Identity,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<Response> {
    let (status, view) = match state
        .labs
        .request(caller.user.id, &body.lab, body.replace)
        .await?
    {
        StartOutcome::Started(v) => (StatusCode::CREATED, v),
        StartOutcome::AlreadyRunning(v) => (StatusCode::OK, v),
        StartOutcome::Queued(v) => (StatusCode::ACCEPTED, v),
        StartOutcome::Busy(other) => {
            return Err(Error::Conflict(format!(
                "You already have the lab \"{}\" ({}). Stop it first, or send \"replace\": true to stop it and start this one.",
                other.title, other.status
            )));
        }
    };
    Ok((status, Json(view)).into_response())
}

/// The caller's sessions, active first.
async fn list(
    State(state): State<AppState>,
    caller: Identity,
) -> Result<Json<Vec<LabSessionView>>> {
    Ok(Json(state.labs.views_of(caller.user.id).await?))
}

async fn one(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<LabSessionView>> {
    let session = state.labs.session(caller.user.id, &id).await?;
    Ok(Json(state.labs.view(&session).await?))
}

async fn stop(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state.labs.stop(caller.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<LabSessionView>> {
    let session = state.labs.reset(caller.user.id, &id).await?;
    Ok(Json(state.labs.view(&session).await?))
}

async fn extend(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<LabSessionView>> {
    let session = state.labs.extend(caller.user.id, &id).await?;
    Ok(Json(state.labs.view(&session).await?))
}

/// Control messages a browser sends as text frames.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientControl {
    Resize { cols: u16, rows: u16 },
}

/// Close code telling the browser not to reconnect: the lab is over.
const CLOSE_ENDED: u16 = 4409;
/// Close code asking the browser to reconnect (it fell behind the output).
const CLOSE_LAGGED: u16 = 4000;

async fn terminal(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    if crate::accounts::csrf::is_cross_site(&headers, &state).is_some() {
        tracing::warn!(session = %id, user_id = caller.user.id, "refused: terminal opened from another site");
        return Err(Error::CrossSiteRequest);
    }
    let session = state.labs.owned(caller.user.id, &id).await?;
    if session.status != LabStatus::Running {
        let message = session.end_reason.clone().unwrap_or_else(|| {
            "The lab is not running yet. Wait until it has started.".to_string()
        });
        return Ok(ws.on_upgrade(move |socket| refuse(socket, message)));
    }
    let hub = state.labs.terminal(caller.user.id, &id).await?;
    Ok(ws.on_upgrade(move |socket| bridge(socket, hub)))
}

async fn refuse(mut socket: WebSocket, message: String) {
    let text = serde_json::json!({ "type": "ended", "message": message }).to_string();
    let _ = socket.send(Message::Text(text.into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: CLOSE_ENDED,
            reason: "lab not running".into(),
        })))
        .await;
}

/// Pumps bytes between one browser and the lab's shell until either side goes.
async fn bridge(mut socket: WebSocket, hub: Arc<TerminalHub>) {
    let (replay, mut feed) = match hub.attach().await {
        Ok(attached) => attached,
        Err(err) => {
            tracing::warn!(error = %err, "could not open the lab shell");
            let text = serde_json::json!({
                "type": "error",
                "message": "The lab's shell could not be started. Reset the lab or try again."
            })
            .to_string();
            let _ = socket.send(Message::Text(text.into())).await;
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: axum::extract::ws::close_code::ERROR,
                    reason: "shell not started".into(),
                })))
                .await;
            return;
        }
    };
    if !replay.is_empty() && socket.send(Message::Binary(replay.into())).await.is_err() {
        return;
    }
    // A learner who connects while an instructor watches is told at once.
    if hub.watchers() > 0 {
        let text = serde_json::json!({ "type": "watched", "watchers": hub.watchers() }).to_string();
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
    loop {
        tokio::select! {
            event = feed.recv() => match event {
                Ok(TerminalEvent::Output(bytes)) => {
                    if socket.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Ok(TerminalEvent::Control(text)) => {
                    let ended = text.contains("\"type\":\"ended\"");
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                    if ended {
                        let _ = socket.send(Message::Close(Some(CloseFrame {
                            code: CLOSE_ENDED,
                            reason: "lab ended".into(),
                        }))).await;
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // The browser fell behind; a reconnect replays the history.
                    let _ = socket.send(Message::Close(Some(CloseFrame {
                        code: CLOSE_LAGGED,
                        reason: "reconnect".into(),
                    }))).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if let Err(err) = hub.input(&data).await {
                        tracing::debug!(error = %err, "terminal input failed");
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ClientControl>(&text) {
                        Ok(ClientControl::Resize { cols, rows }) => {
                            if let Err(err) = hub.resize(cols, rows).await {
                                tracing::debug!(error = %err, "terminal resize failed");
                            }
                        }
                        Err(_) => tracing::debug!("ignored an unknown terminal control message"),
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
