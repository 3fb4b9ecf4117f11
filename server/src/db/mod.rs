//! The database: one pool through sqlx's Any driver, SQLite or PostgreSQL,
//! with migrations kept per backend. Queries use `$1` placeholders and plain
//! types (times as epoch milliseconds) so one set serves both.

pub mod audit;
pub mod changes;
pub mod lab_images;
pub mod labs;
pub mod progress;
pub mod sessions;
pub mod submissions;
pub mod users;
pub mod workshops;

use std::{
    path::Path,
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, ConnectOptions,
};

use crate::error::Result;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which database server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a `DATABASE_URL` selects.
    pub fn from_url(url: &str) -> Result<Self, crate::error::Error> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(crate::error::Error::BadRequest(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://…"
            )))
        }
    }

    /// Short name used in logs and in `/readyz`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The connection pool plus the backend it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    changes: Arc<changes::Changes>,
    options: AnyConnectOptions,
    /// Set when a query found that no connection could be opened; cleared
    /// by [`Db::watch`] when the database answers again. While it is set,
    /// requests are answered at once instead of each waiting for the pool.
    down: Arc<AtomicBool>,
}

/// Whether `err` is about the connection (one that broke, or none to be
/// had), not about a query.
pub fn no_connection(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
    )
}

/// What a learner reads while the database does not answer.
pub const UNREACHABLE: &str = "Drydock's database is not answering right now. \
Try again in a minute; if it keeps happening, tell your instructor or administrator.";

impl Db {
    /// Connects (creating a missing SQLite file and its directory).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self {
            pool,
            backend,
            changes: Arc::default(),
            options,
            down: Arc::default(),
        })
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// A trivial round trip, for readiness checks. An answer lifts a
    /// mark that the database is down.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("the database answers again");
        }
        Ok(())
    }

    /// Whether the database was last found unreachable.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Looks at an error a query returned: when it says the database
    /// cannot be reached (the connection broke, or the pool could not get
    /// one and a fresh connection fails too, so it is not merely busy),
    /// the database is marked down. Returns whether it was.
    pub async fn note_error(&self, err: &sqlx::Error) -> bool {
        let unreachable = match err {
            sqlx::Error::PoolTimedOut => !matches!(
                tokio::time::timeout(Duration::from_secs(1), self.options.connect()).await,
                Ok(Ok(_))
            ),
            other => no_connection(other),
        };
        if unreachable && !self.down.swap(true, Ordering::AcqRel) {
            tracing::error!(error = %err, "the database is not answering; requests are refused until it does");
        }
        unreachable
    }

    /// While the database is marked down, asks it every second whether it
    /// answers, and marks it up when it does. Runs until the process ends.
    pub async fn watch(self) {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if !self.is_down() {
                continue;
            }
            let _ = tokio::time::timeout(Duration::from_secs(3), self.ping()).await;
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Per-user versions of what pages show (see [`changes`]).
    pub fn changes(&self) -> &changes::Changes {
        &self.changes
    }

    /// Closes every connection; used by tests before dropping a database.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Makes sure the file's directory exists and asks SQLite to create the file.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)?;
        }
    }
    let query = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Milliseconds since the Unix epoch: how every time is stored.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_gain_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        let prepared = prepare_sqlite_url(&url).unwrap();
        assert!(prepared.ends_with("/sub/x.db?mode=rwc"), "{prepared}");
        assert!(dir.path().join("sub").is_dir());
        assert_eq!(
            prepare_sqlite_url("sqlite://a.db?mode=ro").unwrap(),
            "sqlite://a.db?mode=ro"
        );
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(Backend::from_url("mysql://x").is_err());
        assert_eq!(
            Backend::from_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
    }
}
