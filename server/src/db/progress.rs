//! `lesson_progress` and `quiz_answers`: what each user completed and answered.

use std::collections::{HashMap, HashSet};

use super::{now_ms, Db};
use crate::error::Result;

/// Marks a lesson complete (idempotent) or not complete.
pub async fn set_complete(db: &Db, user_id: i64, lesson: &str, complete: bool) -> Result<()> {
    if complete {
        sqlx::query(
            "INSERT INTO lesson_progress (user_id, lesson, completed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, lesson) DO NOTHING",
        )
        .bind(user_id)
        .bind(lesson)
        .bind(now_ms())
        .execute(db.pool())
        .await?;
    } else {
        sqlx::query("DELETE FROM lesson_progress WHERE user_id = $1 AND lesson = $2")
            .bind(user_id)
            .bind(lesson)
            .execute(db.pool())
            .await?;
    }
    db.changes().bump(user_id);
    Ok(())
}

/// The lessons a user completed.
pub async fn completed(db: &Db, user_id: i64) -> Result<HashSet<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT lesson FROM lesson_progress WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(db.pool())
            .await?;
    Ok(rows.into_iter().map(|(l,)| l).collect())
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub choices: Vec<usize>,
    pub correct: bool,
}

/// Records (or replaces) the answer to one question.
pub async fn record_answer(
    db: &Db,
    user_id: i64,
    lesson: &str,
    question: &str,
    choices: &[usize],
    correct: bool,
) -> Result<()> {
    let choices = choices
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO quiz_answers (user_id, lesson, question, choices, correct, answered_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, lesson, question) DO UPDATE SET choices = excluded.choices, correct = excluded.correct, answered_at = excluded.answered_at",
    )
    .bind(user_id)
    .bind(lesson)
    .bind(question)
    .bind(choices)
    .bind(i64::from(correct))
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    db.changes().bump(user_id);
    Ok(())
}

/// A user's answers in one lesson, by question id.
pub async fn answers(db: &Db, user_id: i64, lesson: &str) -> Result<HashMap<String, StoredAnswer>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT question, choices, correct FROM quiz_answers WHERE user_id = $1 AND lesson = $2",
    )
    .bind(user_id)
    .bind(lesson)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(q, choices, correct)| {
            let choices = choices.split(',').filter_map(|c| c.parse().ok()).collect();
            (
                q,
                StoredAnswer {
                    choices,
                    correct: correct != 0,
                },
            )
        })
        .collect())
}

/// How many questions a user answered correctly, in all.
pub async fn correct_answers(db: &Db, user_id: i64) -> Result<(i64, i64)> {
    let (right, all): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(correct), 0) AS BIGINT), COUNT(*) FROM quiz_answers WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(db.pool())
    .await?;
    Ok((right, all))
}
