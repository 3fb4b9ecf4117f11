//! `submissions`: every graded attempt at an exercise, with what was sent
//! and the report it earned.

use sqlx::Row;

use super::{now_ms, Db};
use crate::error::Result;

/// One row of `submissions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubmission {
    pub id: String,
    pub user_id: i64,
    pub exercise: String,
    pub kind: String,
    /// The submission as JSON, exactly as it was graded.
    pub payload: String,
    pub score: i64,
    pub max_score: i64,
    pub passed: bool,
    /// The grading report as JSON.
    pub report: String,
    /// Fingerprint of the exercise's checks when this was graded.
    pub rubric: String,
    pub created_at: i64,
    pub graded_at: i64,
    /// 1 for the learner's first attempt at the exercise, and so on.
    pub attempt: i64,
    /// A stopped server never finished grading it: it does not count.
    pub interrupted: bool,
}

const COLUMNS: &str = "id, user_id, exercise, kind, payload, score, max_score, passed, report, \
                       rubric, created_at, graded_at, attempt, state";

fn from_row(row: &sqlx::any::AnyRow) -> Result<StoredSubmission> {
    Ok(StoredSubmission {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        exercise: row.try_get("exercise")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        score: row.try_get("score")?,
        max_score: row.try_get("max_score")?,
        passed: row.try_get::<i64, _>("passed")? != 0,
        report: row.try_get("report")?,
        rubric: row.try_get("rubric")?,
        created_at: row.try_get("created_at")?,
        graded_at: row.try_get("graded_at")?,
        attempt: row.try_get("attempt")?,
        interrupted: row.try_get::<String, _>("state")? == "interrupted",
    })
}

/// What an attempt is before it is graded.
#[derive(Debug, Clone)]
pub struct Reservation<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub exercise: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
    pub rubric: &'a str,
}

/// Takes the next attempt number of `user_id` at an exercise, atomically:
/// two requests can never get the same number (a unique index), so an
/// attempt limit holds however many submissions arrive at once. Returns the
/// number, or `None` when `limit` (0 = none) is used up.
pub async fn reserve(db: &Db, r: &Reservation<'_>, limit: i64) -> Result<Option<i64>> {
    for _ in 0..20 {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO submissions (id, user_id, exercise, kind, payload, score, max_score, \
             passed, report, rubric, created_at, graded_at, attempt, state) \
             SELECT $1, $2, $3, $4, $5, 0, 0, 0, '', $6, $7, $7, COALESCE(MAX(attempt), 0) + 1, 'grading' \
             FROM submissions WHERE user_id = $2 AND exercise = $3",
        )
        .bind(r.id)
        .bind(r.user_id)
        .bind(r.exercise)
        .bind(r.kind)
        .bind(r.payload)
        .bind(r.rubric)
        .bind(now)
        .execute(db.pool())
        .await;
        match inserted {
            Ok(_) => {}
            // Another request took the same number first: count again.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query("SELECT attempt FROM submissions WHERE id = $1")
            .bind(r.id)
            .fetch_one(db.pool())
            .await?;
        let attempt: i64 = row.try_get("attempt")?;
        // An attempt a stopped server never finished keeps its number but
        // does not count: the limit is on attempts up to this one that do.
        let counted: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM submissions WHERE user_id = $1 AND exercise = $2 \
             AND attempt <= $3 AND state <> 'interrupted'",
        )
        .bind(r.user_id)
        .bind(r.exercise)
        .bind(attempt)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
        if limit > 0 && counted > limit {
            discard(db, r.id).await?;
            return Ok(None);
        }
        db.changes().bump(r.user_id);
        return Ok(Some(attempt));
    }
    Err(crate::error::Error::Unavailable(
        "Too many of your submissions arrived at once. Submit again.".into(),
    ))
}

/// Stores the report of a reserved attempt.
pub async fn complete(db: &Db, id: &str, result: &GradedResult<'_>) -> Result<StoredSubmission> {
    sqlx::query(
        "UPDATE submissions SET score = $1, max_score = $2, passed = $3, report = $4, \
         graded_at = $5, state = 'graded' WHERE id = $6",
    )
    .bind(result.score)
    .bind(result.max_score)
    .bind(i64::from(result.passed))
    .bind(result.report)
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM submissions WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_one(db.pool()).await?;
    let stored = from_row(&row)?;
    db.changes().bump(stored.user_id);
    Ok(stored)
}

/// The outcome stored with an attempt.
#[derive(Debug, Clone)]
pub struct GradedResult<'a> {
    pub score: i64,
    pub max_score: i64,
    pub passed: bool,
    pub report: &'a str,
}

/// Forgets a reserved attempt (its grading could not be done: it does not count).
pub async fn discard(db: &Db, id: &str) -> Result<()> {
    // fetch_all, not fetch_optional: a SQLite statement with RETURNING
    // commits only when stepped to its end.
    let owners: Vec<(i64,)> = sqlx::query_as(
        "DELETE FROM submissions WHERE id = $1 AND state = 'grading' RETURNING user_id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    for (user,) in owners {
        db.changes().bump(user);
    }
    Ok(())
}

/// Marks attempts left 'grading' by a server that stopped mid-way as
/// interrupted: the learner sees what happened, and the attempt does not
/// count toward a limit. Returns how many.
pub async fn interrupt_unfinished(db: &Db) -> Result<u64> {
    let users: Vec<(i64,)> = sqlx::query_as(
        "UPDATE submissions SET state = 'interrupted', graded_at = $1 \
         WHERE state = 'grading' RETURNING user_id",
    )
    .bind(now_ms())
    .fetch_all(db.pool())
    .await?;
    for (user,) in &users {
        db.changes().bump(*user);
    }
    Ok(users.len() as u64)
}

/// A user's attempts at one exercise, newest first (interrupted ones
/// included: [`StoredSubmission::interrupted`]).
pub async fn for_user(
    db: &Db,
    user_id: i64,
    exercise: &str,
    limit: i64,
) -> Result<Vec<StoredSubmission>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM submissions WHERE user_id = $1 AND exercise = $2 \
         AND state IN ('graded', 'interrupted') ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(user_id)
        .bind(exercise)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Per exercise: a user's best score, whether any attempt passed, and attempts.
pub async fn best_of_user(db: &Db, user_id: i64) -> Result<Vec<(String, i64, bool, i64)>> {
    let rows = sqlx::query(
        "SELECT exercise, MAX(score) AS best, MAX(passed) AS passed, COUNT(*) AS attempts \
         FROM submissions WHERE user_id = $1 AND state = 'graded' GROUP BY exercise",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("exercise")?,
                row.try_get("best")?,
                row.try_get::<i64, _>("passed")? != 0,
                row.try_get("attempts")?,
            ))
        })
        .collect()
}

/// Every stored attempt at one exercise, oldest first (for re-grading).
pub async fn for_exercise(db: &Db, exercise: &str) -> Result<Vec<StoredSubmission>> {
    let sql =
        format!("SELECT {COLUMNS} FROM submissions WHERE exercise = $1 AND state = 'graded' ORDER BY created_at, id");
    let rows = sqlx::query(&sql)
        .bind(exercise)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Replaces the result of an attempt after re-grading.
pub async fn update_result(
    db: &Db,
    id: &str,
    score: i64,
    max_score: i64,
    passed: bool,
    report: &str,
    rubric: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE submissions SET score = $1, max_score = $2, passed = $3, report = $4, \
         rubric = $5, graded_at = $6 WHERE id = $7",
    )
    .bind(score)
    .bind(max_score)
    .bind(i64::from(passed))
    .bind(report)
    .bind(rubric)
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    super::changes::submitter_changed(db, id).await
}
