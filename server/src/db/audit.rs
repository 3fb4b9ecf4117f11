//! The `audit_events` table: security-relevant events, newest first.

use serde::Serialize;

use super::{now_ms, Db};
use crate::error::Result;

/// Kinds of security events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    Registered,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    Logout,
    PasswordChanged,
    RoleChanged,
    UserCreated,
    /// Someone asked for a lab (or its terminal) that is not theirs.
    LabRefused,
    /// A lab's Docker endpoint refused a request (detail: what was refused).
    LabDockerRefused,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Registered => "registered",
            AuditEvent::LoginSucceeded => "login_ok",
            AuditEvent::LoginFailed => "login_failed",
            AuditEvent::LoginThrottled => "login_throttled",
            AuditEvent::Logout => "logout",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::RoleChanged => "role_changed",
            AuditEvent::UserCreated => "user_created",
            AuditEvent::LabRefused => "lab_refused",
            AuditEvent::LabDockerRefused => "lab_docker_refused",
        }
    }
}

/// One stored event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub event: String,
    pub ip: Option<String>,
    pub detail: String,
}

/// Appends an event.
pub async fn record(
    db: &Db,
    event: AuditEvent,
    user_id: Option<i64>,
    username: Option<&str>,
    ip: Option<&str>,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, user_id, username, event, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now_ms())
    .bind(user_id)
    .bind(username)
    .bind(event.as_str())
    .bind(ip)
    .bind(detail)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Appends an event about a known user.
pub async fn record_user(
    db: &Db,
    event: AuditEvent,
    user: &crate::db::users::User,
    ip: Option<&str>,
    detail: &str,
) -> Result<()> {
    record(db, event, Some(user.id), Some(&user.username), ip, detail).await
}

/// The most recent events, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<AuditRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, at, user_id, username, event, ip, detail FROM audit_events ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}
