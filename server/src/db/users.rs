//! The `users` table.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{now_ms, Db};
use crate::error::{Error, Result};

/// What a user may do on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Guest,
    Learner,
    Instructor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Learner => "learner",
            Role::Instructor => "instructor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "guest" => Ok(Role::Guest),
            "learner" => Ok(Role::Learner),
            "instructor" => Ok(Role::Instructor),
            "admin" => Ok(Role::Admin),
            other => Err(Error::BadRequest(format!(
                "unknown role {other:?}: use guest, learner, instructor or admin"
            ))),
        }
    }
}

/// A stored account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: i64,
    /// Sessions bound before this time (epoch ms) are over.
    #[serde(skip)]
    pub sessions_valid_after: i64,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: Option<&'a str>,
    pub email: Option<&'a str>,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    password_hash: Option<String>,
    email: Option<String>,
    role: String,
    created_at: i64,
    sessions_valid_after: i64,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(User {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            email: row.email,
            role: row.role.parse()?,
            created_at: row.created_at,
            sessions_valid_after: row.sessions_valid_after,
        })
    }
}

const COLUMNS: &str = "id, username, password_hash, email, role, created_at, sessions_valid_after";

/// Inserts a user; a taken username (compared case-insensitively) is a conflict.
pub async fn create(db: &Db, new: NewUser<'_>) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (username, password_hash, email, role, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
    );
    let row: UserRow = sqlx::query_as(&sql)
        .bind(new.username)
        .bind(new.password_hash)
        .bind(new.email)
        .bind(new.role.as_str())
        .bind(now_ms())
        .fetch_one(db.pool())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(ref d) if d.is_unique_violation() => {
                Error::Conflict(format!("the username {:?} is already taken", new.username))
            }
            other => Error::Database(other),
        })?;
    row.try_into()
}

/// Looks a user up by name, ignoring case.
pub async fn by_username(db: &Db, username: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE lower(username) = lower($1)");
    let row: Option<UserRow> = sqlx::query_as(&sql)
        .bind(username)
        .fetch_optional(db.pool())
        .await?;
    row.map(User::try_from).transpose()
}

/// Looks a user up by id.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row: Option<UserRow> = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(User::try_from).transpose()
}

/// Changes a user's role; `NotFound` when there is no such user.
pub async fn set_role(db: &Db, id: i64, role: Role) -> Result<()> {
    let done = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(id)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound(format!("no user with id {id}")));
    }
    db.changes().bump(id);
    Ok(())
}

/// How many users there are.
pub async fn count(db: &Db) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Turns a guest row into a registered account in place, so everything the
/// guest did stays theirs. `NotFound` when the row is not (or no longer) a guest.
pub async fn claim_guest(
    db: &Db,
    guest_id: i64,
    username: &str,
    password_hash: &str,
    email: Option<&str>,
) -> Result<User> {
    let sql = format!(
        "UPDATE users SET username = $1, password_hash = $2, email = $3, role = 'learner' \
         WHERE id = $4 AND role = 'guest' RETURNING {COLUMNS}"
    );
    let row: Option<UserRow> = sqlx::query_as(&sql)
        .bind(username)
        .bind(password_hash)
        .bind(email)
        .bind(guest_id)
        .fetch_optional(db.pool())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(ref d) if d.is_unique_violation() => {
                Error::Conflict(format!("the username {username:?} is already taken"))
            }
            other => Error::Database(other),
        })?;
    let user = row
        .ok_or_else(|| Error::NotFound(format!("no guest with id {guest_id}")))?
        .try_into()?;
    db.changes().bump(guest_id);
    Ok(user)
}

/// Replaces a user's password hash and ends every session bound before
/// `sessions_valid_after` (epoch ms).
pub async fn set_password_hash(
    db: &Db,
    id: i64,
    password_hash: &str,
    sessions_valid_after: i64,
) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, sessions_valid_after = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(sessions_valid_after)
        .bind(id)
        .execute(db.pool())
        .await?;
    db.changes().bump(id);
    Ok(())
}

/// How many guest identities exist.
pub async fn count_guests(db: &Db) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE role = 'guest'")
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Records that the user was seen now.
pub async fn touch(db: &Db, id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes guests not seen since `before` (epoch ms), with everything they
/// own (their rows cascade); a guest with a running lab is kept. Returns
/// how many went.
pub async fn prune_guests(db: &Db, before: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM users WHERE role = 'guest' AND last_seen_at < $1 \
         AND id NOT IN (SELECT user_id FROM lab_sessions WHERE status IN ('queued', 'starting', 'running'))",
    )
    .bind(before)
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// Registered users (not guests), by name.
pub async fn list_registered(db: &Db) -> Result<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE role <> 'guest' ORDER BY lower(username)");
    let rows: Vec<UserRow> = sqlx::query_as(&sql).fetch_all(db.pool()).await?;
    rows.into_iter().map(User::try_from).collect()
}

/// Tables whose rows belong to a user through a `user_id` column, with their
/// other columns; when a guest logs into an existing account, their rows
/// move to that account (where the account already has the same row, the
/// account's row wins). Every table that records a user's work is listed here.
const GUEST_OWNED_TABLES: &[(&str, &str)] = &[
    ("lesson_progress", "lesson, completed_at"),
    (
        "quiz_answers",
        "lesson, question, choices, correct, answered_at",
    ),
];

/// The rules a guest's attempts must still meet once they belong to the
/// account: per exercise, attempts allowed (0 = no limit) and the time after
/// which an attempt is refused (a workshop deadline that takes no late work).
#[derive(Debug, Clone, Default)]
pub struct MergeRules {
    pub attempts: std::collections::HashMap<String, i64>,
    pub closed_after: std::collections::HashMap<String, i64>,
}

/// Moves everything a guest owns to `user_id` and deletes the guest row.
/// The guest's attempts join the account's own under the same rules as new
/// ones: they are numbered after the account's, attempts past the limit or
/// past a deadline that takes no late work are dropped. Returns how many
/// attempts were dropped.
pub async fn merge_guest_into(
    db: &Db,
    guest_id: i64,
    user_id: i64,
    rules: &MergeRules,
) -> Result<u64> {
    use sqlx::Row;
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE lab_sessions SET user_id = $1 WHERE user_id = $2")
        .bind(user_id)
        .bind(guest_id)
        .execute(&mut *tx)
        .await?;
    let guest_attempts = sqlx::query(
        "SELECT id, exercise, created_at FROM submissions WHERE user_id = $1 AND state = 'graded' \
         ORDER BY created_at, id",
    )
    .bind(guest_id)
    .fetch_all(&mut *tx)
    .await?;
    // Per exercise: the next attempt number, and how many attempts count
    // toward a limit (an interrupted one keeps its number but does not).
    let mut next: std::collections::HashMap<String, (i64, i64)> = std::collections::HashMap::new();
    let mut dropped = 0;
    for row in &guest_attempts {
        let id: String = row.try_get("id")?;
        let exercise: String = row.try_get("exercise")?;
        let created_at: i64 = row.try_get("created_at")?;
        let (number, counted) = match next.get(&exercise) {
            Some(n) => *n,
            None => {
                let taken = sqlx::query(
                    "SELECT COALESCE(MAX(attempt), 0) AS n, \
                     COALESCE(SUM(CASE WHEN state = 'interrupted' THEN 0 ELSE 1 END), 0) AS counted \
                     FROM submissions WHERE user_id = $1 AND exercise = $2",
                )
                .bind(user_id)
                .bind(&exercise)
                .fetch_one(&mut *tx)
                .await?;
                (
                    taken.try_get::<i64, _>("n")? + 1,
                    taken.try_get::<i64, _>("counted")? + 1,
                )
            }
        };
        let limit = rules.attempts.get(&exercise).copied().unwrap_or(0);
        let late = rules
            .closed_after
            .get(&exercise)
            .is_some_and(|d| created_at > *d);
        if late || (limit > 0 && counted > limit) {
            sqlx::query("DELETE FROM submissions WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            dropped += 1;
            continue;
        }
        sqlx::query("UPDATE submissions SET user_id = $1, attempt = $2 WHERE id = $3")
            .bind(user_id)
            .bind(number)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        next.insert(exercise, (number + 1, counted + 1));
    }
    sqlx::query("DELETE FROM submissions WHERE user_id = $1")
        .bind(guest_id)
        .execute(&mut *tx)
        .await?;
    for (table, columns) in GUEST_OWNED_TABLES {
        sqlx::query(&format!(
            "INSERT INTO {table} (user_id, {columns}) SELECT $1, {columns} FROM {table} WHERE user_id = $2 \
             ON CONFLICT DO NOTHING"
        ))
        .bind(user_id)
        .bind(guest_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
            .bind(guest_id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM users WHERE id = $1 AND role = 'guest'")
        .bind(guest_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    db.changes().bump(guest_id);
    db.changes().bump(user_id);
    Ok(dropped)
}
