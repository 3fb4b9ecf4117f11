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
        })
    }
}

const COLUMNS: &str = "id, username, password_hash, email, role, created_at";

/// Inserts a user; a taken username (compared case-insensitively) is a conflict.
pub async fn create(db: &Db, new: NewUser<'_>) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (username, password_hash, email, role, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
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
    Ok(())
}

/// How many users there are.
pub async fn count(db: &Db) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}
