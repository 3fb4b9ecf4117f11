//! The workshops JSON API under `/api/v1/workshops`, the live event streams
//! (Server-Sent Events) and read-only terminal shadowing.

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        Path, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use drydock_app::api_workshops::{
    AnnouncementView, NewWorkshop, Progress, WorkshopSummary, WorkshopView,
};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use super::service::Access;
use crate::{
    accounts::guard::{Identity, Instructor, Member},
    db::workshops::{MemberRole, MemberStatus},
    error::{Error, Result},
    extract::{ApiJson, RequestBody},
    labs::terminal::TerminalEvent,
    state::AppState,
};

/// How often a live stream checks that its viewer may still see it, when
/// nothing prompted a check sooner (a session that expired on its own).
const ACCESS_RECHECK: Duration = Duration::from_secs(20);

/// Routes of the workshops area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/workshops", get(list).post(create))
        .route("/api/v1/workshops/join", post(join))
        .route("/api/v1/workshops/{id}", get(one))
        .route("/api/v1/workshops/{id}/progress", get(progress))
        .route("/api/v1/workshops/{id}/events", get(events))
        .route("/api/v1/workshops/{id}/grades.csv", get(grades))
        .route("/api/v1/workshops/{id}/announcements", post(announce))
        .route("/api/v1/workshops/{id}/end", post(end))
        .route(
            "/api/v1/workshops/{id}/members/{user_id}/{action}",
            post(roster),
        )
        .route(
            "/api/v1/workshops/{id}/learners/{user_id}/terminal",
            get(shadow),
        )
}

async fn create(
    State(state): State<AppState>,
    caller: Instructor,
    ApiJson(new): ApiJson<NewWorkshop>,
) -> Result<(StatusCode, Json<WorkshopSummary>)> {
    let w = state.workshops.create(&caller.user, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .workshops
                .summary(&w, MemberRole::Instructor, MemberStatus::Active)
                .await?,
        ),
    ))
}

async fn list(
    State(state): State<AppState>,
    caller: Identity,
) -> Result<Json<Vec<WorkshopSummary>>> {
    Ok(Json(state.workshops.list(&caller.user).await?))
}

#[derive(Deserialize)]
struct JoinRequest {
    code: String,
}

impl RequestBody for JoinRequest {
    const EXAMPLE: &'static str = r#"{"code": "ABCD2345"}"#;
}

impl RequestBody for NewWorkshop {
    const EXAMPLE: &'static str = r#"{"title": "…", "lessons": ["security/container-privileges"], "labs": [], "exercises": []}"#;
}

async fn join(
    State(state): State<AppState>,
    caller: Member,
    ApiJson(body): ApiJson<JoinRequest>,
) -> Result<Json<WorkshopSummary>> {
    Ok(Json(state.workshops.join(&caller.user, &body.code).await?))
}

async fn one(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<WorkshopView>> {
    Ok(Json(state.workshops.view(&caller.user, &id).await?))
}

async fn progress(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<Progress>> {
    state.workshops.as_instructor(&caller.user, &id).await?;
    Ok(Json(state.workshops.progress(&id).await?))
}

async fn grades(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Response> {
    let csv = state.workshops.grades_csv(&caller.user, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"workshop-{id}-grades.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}

#[derive(Deserialize)]
struct AnnouncementRequest {
    body: String,
}

impl RequestBody for AnnouncementRequest {
    const EXAMPLE: &'static str = r#"{"body": "…"}"#;
}

async fn announce(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AnnouncementRequest>,
) -> Result<(StatusCode, Json<AnnouncementView>)> {
    let view = state
        .workshops
        .announce(&caller.user, &id, &body.body)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn end(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let stopped = state.workshops.end(&caller.user, &id).await?;
    Ok(Json(
        serde_json::json!({ "ended": true, "stopped_labs": stopped }),
    ))
}

async fn roster(
    State(state): State<AppState>,
    caller: Identity,
    Path((id, user_id, action)): Path<(String, i64, String)>,
) -> Result<StatusCode> {
    state
        .workshops
        .roster_action(&caller.user, &id, user_id, action.parse()?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns a channel into the body of an event stream.
fn as_stream(
    mut rx: mpsc::Receiver<Event>,
) -> impl Stream<Item = std::result::Result<Event, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok)))
}

fn event(kind: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(kind)
        .data(serde_json::to_string(data).unwrap_or_else(|_| "null".into()))
}

/// The live stream. Instructors get the dashboard: a `snapshot`, then a
/// `learner` or `exercise` event for each row that changes, and `roster`,
/// `announcement` and `ended` events. Learners get their own `learner` row,
/// `announcement` and `ended`.
async fn events(
    State(state): State<AppState>,
    caller: Identity,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let (_, access) = state.workshops.access(&caller.user, &id).await?;
    if access == Access::Pending {
        return Err(Error::Forbidden(
            "Your place in this workshop is waiting for the instructor's approval.".into(),
        ));
    }
    let ticket = state.workshops.open_stream(caller.user.id)?;
    let (tx, rx) = mpsc::channel(64);
    let service = state.workshops.clone();
    let user = caller.user.clone();
    let db = state.db.clone();
    let session_id = caller.session.id().map(|id| id.to_string());
    tokio::spawn(async move {
        let _ticket = ticket;
        let instructor = access == Access::Instructor;
        let mut news = service.subscribe();
        let mut live = service.live(&id);
        // What the other streams already have counts as news for this one.
        live.mark_changed();
        // A stream outlives the request that checked access: it checks
        // again when the roster or the viewer's account changes (a logout,
        // a new password or role bumps their version), and now and then for
        // a session that simply expired.
        let mut recheck = tokio::time::interval(ACCESS_RECHECK);
        recheck.reset();
        let mut own = tokio::time::interval(crate::workshops::service::LIVE_TICK);
        let mut own_version = db.changes().version(user.id);
        let still_allowed = || async {
            let signed_in = match &session_id {
                Some(sid) => crate::accounts::guard::still_signed_in(&db, sid, user.id)
                    .await
                    .unwrap_or(false),
                None => false,
            };
            signed_in
                && matches!(
                    service.access(&user, &id).await,
                    Ok((_, a)) if a == access
                )
        };
        let gone = || {
            event(
                "ended",
                &serde_json::json!({ "message": "You no longer have access to this workshop." }),
            )
        };
        let mut rows: Option<HashMap<i64, drydock_app::api_workshops::LearnerRow>> = None;
        let mut stats: HashMap<String, drydock_app::api_workshops::ExerciseStats> = HashMap::new();
        loop {
            tokio::select! {
                changed = live.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let Some(shared) = live.borrow_and_update().clone() else { continue };
                    // Learners see their own row only.
                    let progress = if instructor {
                        (*shared).clone()
                    } else {
                        Progress {
                            workshop_id: id.clone(),
                            learners: shared.learners.iter().filter(|r| r.user_id == user.id).cloned().collect(),
                            exercises: Vec::new(),
                        }
                    };
                    let now: HashMap<i64, _> = progress.learners.iter().map(|r| (r.user_id, r.clone())).collect();
                    let mut out = Vec::new();
                    match &rows {
                        None => out.push(event("snapshot", &progress)),
                        Some(before) if before.len() != now.len() || before.keys().any(|k| !now.contains_key(k)) => {
                            out.push(event("snapshot", &progress))
                        }
                        Some(before) => {
                            for row in &progress.learners {
                                if before.get(&row.user_id) != Some(row) {
                                    out.push(event("learner", row));
                                }
                            }
                            for s in &progress.exercises {
                                if stats.get(&s.exercise) != Some(s) {
                                    out.push(event("exercise", s));
                                }
                            }
                        }
                    }
                    rows = Some(now);
                    stats = progress.exercises.iter().map(|s| (s.exercise.clone(), s.clone())).collect();
                    for e in out {
                        if tx.send(e).await.is_err() {
                            return;
                        }
                    }
                }
                _ = own.tick() => {
                    let version = db.changes().version(user.id);
                    if version != own_version {
                        own_version = version;
                        if !still_allowed().await {
                            let _ = tx.send(gone()).await;
                            return;
                        }
                    }
                }
                _ = recheck.tick() => {
                    if !still_allowed().await {
                        let _ = tx.send(gone()).await;
                        return;
                    }
                }
                news = news.recv() => match news {
                    Ok(n) if n.workshop_id == id && n.kind == "roster" && !still_allowed().await => {
                        let _ = tx.send(gone()).await;
                        return;
                    }
                    Ok(n) if n.workshop_id == id && (instructor || n.kind != "roster") => {
                        if tx.send(event(n.kind, &n.data)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(Sse::new(as_stream(rx)).keep_alive(KeepAlive::default()))
}

/// An instructor watches a learner's lab terminal, read-only. The learner's
/// terminal says that someone is watching for as long as this lasts.
async fn shadow(
    State(state): State<AppState>,
    caller: Identity,
    Path((id, user_id)): Path<(String, i64)>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    if crate::accounts::csrf::is_cross_site(&headers, &state).is_some() {
        return Err(Error::CrossSiteRequest);
    }
    let hub = state
        .workshops
        .watchable_terminal(&caller.user, &id, user_id)
        .await?;
    tracing::info!(workshop = %id, instructor = caller.user.id, learner = user_id, "shadowing a terminal");
    Ok(ws.on_upgrade(move |socket| watch(socket, hub)))
}

async fn watch(mut socket: WebSocket, hub: Arc<crate::labs::terminal::TerminalHub>) {
    // Only what happens from now on: the learner is told before any byte
    // is seen, and what they typed before the watch began is theirs.
    let (mut feed, _guard) = hub.shadow();
    let hello = serde_json::json!({ "type": "watched", "watchers": hub.watchers() }).to_string();
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
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
                    if socket.send(Message::Text(text.into())).await.is_err() || ended {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 4000, reason: "reconnect".into() }))).await;
                    break;
                }
                Err(RecvError::Closed) => break,
            },
            message = socket.recv() => match message {
                // Watching only: whatever the watcher types is dropped.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}
