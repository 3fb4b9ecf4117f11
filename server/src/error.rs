//! One error type for the whole server, turned into a response once, at the edge.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// Everything that can go wrong while serving a request or running a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Engine(#[from] crate::labs::engine::EngineError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias used across the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Engine(_) => (StatusCode::SERVICE_UNAVAILABLE, "engine_unavailable"),
            Error::Database(_) | Error::Migration(_) | Error::Io(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Internal details go to the log; users get a sentence they can act on.
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            match self {
                Error::Engine(_) => "The lab engine is not reachable right now. Try again in a minute.".to_string(),
                _ => "Something went wrong on our side. Try again; if it keeps happening, tell your instructor or administrator.".to_string(),
            }
        } else {
            self.to_string()
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
