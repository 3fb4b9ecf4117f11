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
}

/// A new attempt, before it is stored.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub exercise: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
    pub score: i64,
    pub max_score: i64,
    pub passed: bool,
    pub report: &'a str,
    pub rubric: &'a str,
}

const COLUMNS: &str = "id, user_id, exercise, kind, payload, score, max_score, passed, report, \
                       rubric, created_at, graded_at";

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
    })
}

/// Stores a graded attempt.
pub async fn insert(db: &Db, new: &NewSubmission<'_>) -> Result<StoredSubmission> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO submissions (id, user_id, exercise, kind, payload, score, max_score, passed, \
         report, rubric, created_at, graded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(new.id)
    .bind(new.user_id)
    .bind(new.exercise)
    .bind(new.kind)
    .bind(new.payload)
    .bind(new.score)
    .bind(new.max_score)
    .bind(i64::from(new.passed))
    .bind(new.report)
    .bind(new.rubric)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(StoredSubmission {
        id: new.id.to_string(),
        user_id: new.user_id,
        exercise: new.exercise.to_string(),
        kind: new.kind.to_string(),
        payload: new.payload.to_string(),
        score: new.score,
        max_score: new.max_score,
        passed: new.passed,
        report: new.report.to_string(),
        rubric: new.rubric.to_string(),
        created_at: now,
        graded_at: now,
    })
}

/// A user's attempts at one exercise, newest first.
pub async fn for_user(
    db: &Db,
    user_id: i64,
    exercise: &str,
    limit: i64,
) -> Result<Vec<StoredSubmission>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM submissions WHERE user_id = $1 AND exercise = $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(user_id)
        .bind(exercise)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// How many attempts a user has made at one exercise.
pub async fn count_for_user(db: &Db, user_id: i64, exercise: &str) -> Result<i64> {
    let row =
        sqlx::query("SELECT COUNT(*) AS n FROM submissions WHERE user_id = $1 AND exercise = $2")
            .bind(user_id)
            .bind(exercise)
            .fetch_one(db.pool())
            .await?;
    Ok(row.try_get("n")?)
}

/// Per exercise: a user's best score, whether any attempt passed, and attempts.
pub async fn best_of_user(db: &Db, user_id: i64) -> Result<Vec<(String, i64, bool, i64)>> {
    let rows = sqlx::query(
        "SELECT exercise, MAX(score) AS best, MAX(passed) AS passed, COUNT(*) AS attempts \
         FROM submissions WHERE user_id = $1 GROUP BY exercise",
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
        format!("SELECT {COLUMNS} FROM submissions WHERE exercise = $1 ORDER BY created_at, id");
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
    Ok(())
}
