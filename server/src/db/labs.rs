//! `lab_sessions`: every lab a learner queued for, started, and ended.

use sqlx::Row;

use super::{now_ms, Db};
use crate::error::Result;

/// Where a lab session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabStatus {
    Queued,
    Starting,
    Running,
    Ended,
}

impl LabStatus {
    /// The stored (and API) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LabStatus::Queued => "queued",
            LabStatus::Starting => "starting",
            LabStatus::Running => "running",
            LabStatus::Ended => "ended",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => LabStatus::Queued,
            "starting" => LabStatus::Starting,
            "running" => LabStatus::Running,
            _ => LabStatus::Ended,
        }
    }
}

/// One row of `lab_sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSession {
    pub id: String,
    pub user_id: i64,
    pub lab: String,
    pub status: LabStatus,
    pub container_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_active_at: i64,
    pub extended: bool,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

const COLUMNS: &str = "id, user_id, lab, status, container_id, created_at, started_at, \
                       expires_at, last_active_at, extended, ended_at, end_reason";

fn from_row(row: &sqlx::any::AnyRow) -> Result<LabSession> {
    Ok(LabSession {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        lab: row.try_get("lab")?,
        status: LabStatus::parse(&row.try_get::<String, _>("status")?),
        container_id: row.try_get("container_id")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        expires_at: row.try_get("expires_at")?,
        last_active_at: row.try_get("last_active_at")?,
        extended: row.try_get::<i64, _>("extended")? != 0,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
    })
}

fn all(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<LabSession>> {
    rows.iter().map(from_row).collect()
}

/// Adds a session in `queued` or `starting` state.
pub async fn insert(
    db: &Db,
    id: &str,
    user_id: i64,
    lab: &str,
    status: LabStatus,
) -> Result<LabSession> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO lab_sessions (id, user_id, lab, status, created_at, last_active_at, extended) \
         VALUES ($1, $2, $3, $4, $5, $5, 0)",
    )
    .bind(id)
    .bind(user_id)
    .bind(lab)
    .bind(status.as_str())
    .bind(now)
    .execute(db.pool())
    .await?;
    db.changes().bump(user_id);
    Ok(by_id(db, id).await?.expect("the row was just inserted"))
}

/// The session `id`, whatever its state.
pub async fn by_id(db: &Db, id: &str) -> Result<Option<LabSession>> {
    let sql = format!("SELECT {COLUMNS} FROM lab_sessions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// A user's sessions that have not ended, oldest first.
pub async fn active_for_user(db: &Db, user_id: i64) -> Result<Vec<LabSession>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM lab_sessions WHERE user_id = $1 AND status <> 'ended' \
         ORDER BY created_at, id"
    );
    all(sqlx::query(&sql).bind(user_id).fetch_all(db.pool()).await?)
}

/// A user's most recent sessions, ended ones included.
pub async fn recent_for_user(db: &Db, user_id: i64, limit: i64) -> Result<Vec<LabSession>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM lab_sessions WHERE user_id = $1 \
         ORDER BY created_at DESC, id LIMIT $2"
    );
    all(sqlx::query(&sql)
        .bind(user_id)
        .bind(limit)
        .fetch_all(db.pool())
        .await?)
}

/// Every session that has not ended, oldest first.
pub async fn active(db: &Db) -> Result<Vec<LabSession>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM lab_sessions WHERE status <> 'ended' ORDER BY created_at, id"
    );
    all(sqlx::query(&sql).fetch_all(db.pool()).await?)
}

/// How many sessions hold (or are about to hold) a container.
pub async fn count_holding_container(db: &Db) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM lab_sessions WHERE status IN ('starting', 'running')")
            .fetch_one(db.pool())
            .await?;
    Ok(n)
}

/// Moves a queued session to `starting` (only if it is still queued).
pub async fn claim_queued(db: &Db, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE lab_sessions SET status = 'starting' WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .execute(db.pool())
    .await?;
    owner_changed_if(db, id, done.rows_affected() == 1).await
}

/// Bumps the session's owner when `changed`; returns `changed`.
async fn owner_changed_if(db: &Db, id: &str, changed: bool) -> Result<bool> {
    if changed {
        super::changes::lab_owner_changed(db, id).await?;
    }
    Ok(changed)
}

/// Records the container a session runs in. The time limit counts from the
/// first start; a reset keeps it.
pub async fn set_running(db: &Db, id: &str, container_id: &str, time_limit_ms: i64) -> Result<()> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE lab_sessions SET status = 'running', container_id = $2, \
         started_at = COALESCE(started_at, $3), expires_at = COALESCE(expires_at, $4), \
         last_active_at = $3 WHERE id = $1 AND status <> 'ended'",
    )
    .bind(id)
    .bind(container_id)
    .bind(now)
    .bind(now + time_limit_ms)
    .execute(db.pool())
    .await?;
    owner_changed_if(db, id, done.rows_affected() == 1)
        .await
        .map(drop)
}

/// Notes activity (terminal input, a page asking for the session).
pub async fn touch(db: &Db, id: &str) -> Result<()> {
    sqlx::query("UPDATE lab_sessions SET last_active_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Adds time once; false when the session was already extended or ended.
pub async fn extend(db: &Db, id: &str, extra_ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE lab_sessions SET expires_at = expires_at + $2, extended = 1 \
         WHERE id = $1 AND extended = 0 AND status = 'running'",
    )
    .bind(id)
    .bind(extra_ms)
    .execute(db.pool())
    .await?;
    owner_changed_if(db, id, done.rows_affected() == 1).await
}

/// The session whose id starts with the 12 hex digits `hex` (the namespace
/// of its Docker objects), if this database has one.
pub async fn by_namespace(db: &Db, hex: &str) -> Result<Option<LabSession>> {
    if hex.len() != 12 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let pattern = format!("{}-{}-%", &hex[..8], &hex[8..]);
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM lab_sessions WHERE id LIKE $1"
    ))
    .bind(pattern)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Ends a session with a reason the learner will read; false if it had already ended.
pub async fn end(db: &Db, id: &str, reason: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE lab_sessions SET status = 'ended', ended_at = $2, end_reason = $3 \
         WHERE id = $1 AND status <> 'ended'",
    )
    .bind(id)
    .bind(now_ms())
    .bind(reason)
    .execute(db.pool())
    .await?;
    owner_changed_if(db, id, done.rows_affected() == 1).await
}
