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
    Engine(#[from] crate::docker::engine::EngineError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// A body of another type than the JSON the route takes.
    #[error("This route takes JSON: send the body with Content-Type: application/json.")]
    NotJson,
    /// No identity where one is required.
    #[error("{0}")]
    Unauthorized(String),
    /// Wrong username or password (never says which).
    #[error("Wrong username or password.")]
    InvalidCredentials,
    /// An identity without the role a route requires.
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request from another site.
    #[error("This request came from another site and was refused. Reload the page and try again.")]
    CrossSiteRequest,
    #[error("Too many attempts. Try again in {retry_after_secs} s.")]
    RateLimited { retry_after_secs: u64 },
    #[error("session store: {0}")]
    Session(#[from] tower_sessions::session::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Temporarily unable to serve (every grader busy, an image missing);
    /// the message says what to do.
    #[error("{0}")]
    Unavailable(String),
}

/// Result alias used across the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status and the stable machine-readable code of this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::NotJson => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_json"),
            Error::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::CrossSiteRequest => (StatusCode::FORBIDDEN, "cross_site_request"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::Engine(_) => (StatusCode::SERVICE_UNAVAILABLE, "engine_unavailable"),
            e if e.database_unreachable() => {
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            }
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Database(_) | Error::Migration(_) | Error::Io(_) | Error::Session(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl Error {
    /// Whether this is the database not answering (a connection that broke
    /// or could not be had), not a fault in a query.
    fn database_unreachable(&self) -> bool {
        match self {
            Error::Database(e) => crate::db::no_connection(e),
            // The session store is the database.
            Error::Session(tower_sessions::session::Error::Store(
                tower_sessions::session_store::Error::Backend(_),
            )) => true,
            _ => false,
        }
    }
}

impl Error {
    /// What the user is told: the error itself for their mistakes, a
    /// sentence to act on (and nothing internal) for ours.
    pub fn user_message(&self) -> String {
        match self {
            Error::Engine(crate::docker::engine::EngineError::Timeout(_)) => "The lab engine is very busy right now. Try again in a minute.".to_string(),
            Error::Engine(_) => "The lab engine is not reachable right now. Try again in a minute.".to_string(),
            Error::Unavailable(message) => message.clone(),
            e if e.database_unreachable() => crate::db::UNREACHABLE.to_string(),
            e if e.status_and_code().0.is_server_error() => "Something went wrong on our side. Try again; if it keeps happening, tell your instructor or administrator.".to_string(),
            e => e.to_string(),
        }
    }
}

impl Error {
    /// The error of a UI server function: the same code and sentence as the
    /// JSON API's; internal errors are logged here.
    pub fn into_api_error(self) -> drydock_app::api::ApiError {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "server function failed");
        }
        drydock_app::api::ApiError::new(code, self.user_message())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": code, "message": self.user_message() })),
        )
            .into_response();
        if let Error::RateLimited { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}
