//! The accounts JSON API under `/api/v1/`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post, put},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{
    guard::{Admin, ClientIp, Identity, Instructor, Member},
    service::{self, Registration},
};
use crate::{
    db::{
        audit::{self, AuditRecord},
        users::{self, Role, User},
    },
    error::Result,
    extract::{ApiJson, RequestBody},
    state::AppState,
};

/// Routes of the accounts area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/password", post(change_password))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(list_users))
        .route("/api/v1/users/{id}/role", put(set_role))
        .route("/api/v1/audit", get(audit_log))
}

/// The public view of an account.
#[derive(Debug, Serialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub role: Role,
}

impl From<&User> for Me {
    fn from(u: &User) -> Self {
        Me {
            id: u.id,
            username: u.username.clone(),
            role: u.role,
        }
    }
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(form): ApiJson<Registration>,
) -> Result<(StatusCode, Json<Me>)> {
    let user = service::register(&state, &session, &ip, form).await?;
    Ok((StatusCode::CREATED, Json(Me::from(&user))))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

impl RequestBody for Credentials {
    const EXAMPLE: &'static str = r#"{"username": "…", "password": "…"}"#;
}

impl RequestBody for Registration {
    const EXAMPLE: &'static str =
        r#"{"username": "…", "password": "…", "email": "optional", "join_code": "optional"}"#;
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(c): ApiJson<Credentials>,
) -> Result<Json<Me>> {
    let user = service::login(&state, &session, &ip, &c.username, &c.password).await?;
    Ok(Json(Me::from(&user)))
}

async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<StatusCode> {
    service::logout(&state, &session, &ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

impl RequestBody for PasswordChange {
    const EXAMPLE: &'static str = r#"{"current_password": "…", "new_password": "…"}"#;
}

async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    member: Member,
    ApiJson(p): ApiJson<PasswordChange>,
) -> Result<StatusCode> {
    service::change_password(
        &state,
        &member.session,
        &member.user,
        &ip,
        &p.current_password,
        &p.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(identity: Identity) -> Json<Me> {
    Json(Me::from(&identity.user))
}

async fn list_users(State(state): State<AppState>, _: Instructor) -> Result<Json<Vec<Me>>> {
    let all = users::list_registered(&state.db).await?;
    Ok(Json(all.iter().map(Me::from).collect()))
}

#[derive(Deserialize)]
struct RoleChange {
    role: Role,
}

impl RequestBody for RoleChange {
    const EXAMPLE: &'static str = r#"{"role": "learner"}"#;
}

async fn set_role(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    admin: Admin,
    Path(id): Path<i64>,
    ApiJson(change): ApiJson<RoleChange>,
) -> Result<Json<Me>> {
    let user = service::change_role(&state, &admin.user, &ip, id, change.role).await?;
    Ok(Json(Me::from(&user)))
}

async fn audit_log(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<AuditRecord>>> {
    Ok(Json(audit::recent(&state.db, 200).await?))
}
