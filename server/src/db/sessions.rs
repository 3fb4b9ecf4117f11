//! The `sessions` table, as a tower-sessions store. The cookie carries only
//! a random id; everything else stays on the server.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, ExpiredDeletion},
    SessionStore,
};

use super::{now_ms, Db};

/// Sessions kept in Drydock's own database (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl DbSessionStore {
    /// Fails at once while the database is known to be down: a request
    /// reads its session more than once, and each read would otherwise
    /// wait for the pool.
    fn answering(&self) -> session_store::Result<()> {
        if self.db.is_down() {
            return Err(backend(super::UNREACHABLE));
        }
        Ok(())
    }

    /// A query's result as the store's, noting whether an error says the
    /// database is down.
    async fn checked<T>(&self, result: Result<T, sqlx::Error>) -> session_store::Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                self.db.note_error(&e).await;
                Err(backend(e))
            }
        }
    }
}

fn expiry_ms(record: &Record) -> i64 {
    i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.answering()?;
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // A fresh random id collides only by astronomical bad luck; retry then.
        loop {
            let inserted = sqlx::query(
                "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry_ms(record))
            .execute(self.db.pool())
            .await;
            let inserted = self.checked(inserted).await?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.answering()?;
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let saved = sqlx::query(
            "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
        )
        .bind(record.id.to_string())
        .bind(data)
        .bind(expiry_ms(record))
        .execute(self.db.pool())
        .await;
        self.checked(saved).await.map(drop)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.answering()?;
        let row: Result<Option<(String, i64)>, _> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id.to_string())
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await;
        let row = self.checked(row).await?;
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.answering()?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(self.db.pool())
            .await;
        self.checked(deleted).await.map(drop)
    }
}

#[async_trait]
impl ExpiredDeletion for DbSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Number of stored sessions (tests and admin views).
pub async fn count(db: &Db) -> crate::error::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// The user a stored session is bound to and when it was bound (epoch ms),
/// read straight from the store: `None` once the session was deleted
/// (logout) or expired.
pub async fn binding(db: &Db, id: &str) -> crate::error::Result<Option<(i64, i64)>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT data FROM sessions WHERE id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now_ms())
            .fetch_optional(db.pool())
            .await?;
    let Some((data,)) = row else {
        return Ok(None);
    };
    let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
    let user = data.get("user_id").and_then(serde_json::Value::as_i64);
    let bound = data
        .get("bound_at")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0);
    Ok(user.map(|u| (u, bound)))
}
