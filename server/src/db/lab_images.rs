//! `lab_images`: the image ids each lab session made through its Docker
//! endpoint, so they can be removed when the session ends. Labels cannot
//! say this: the learner writes them.

use sqlx::Row;

use super::{now_ms, Db};
use crate::error::Result;

/// Records that `session` made image `image` (once).
pub async fn record(db: &Db, session: &str, image: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO lab_images (session_id, image_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (session_id, image_id) DO NOTHING",
    )
    .bind(session)
    .bind(image)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The image ids `session` made.
pub async fn of_session(db: &Db, session: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT image_id FROM lab_images WHERE session_id = $1")
        .bind(session)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("image_id")?))
        .collect()
}

/// Sessions that still have images on record.
pub async fn sessions(db: &Db) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT DISTINCT session_id FROM lab_images")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("session_id")?))
        .collect()
}

/// Forgets `session`'s images (once they are removed).
pub async fn forget(db: &Db, session: &str) -> Result<()> {
    sqlx::query("DELETE FROM lab_images WHERE session_id = $1")
        .bind(session)
        .execute(db.pool())
        .await?;
    Ok(())
}
