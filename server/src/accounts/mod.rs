//! Accounts, roles and sessions: guests, learners, instructors, admins.

pub mod csrf;
pub mod guard;
pub mod password;
pub mod routes;
pub mod service;
pub mod throttle;
pub mod ui;

use axum::{
    extract::{Request, State},
    http::{header, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::{cookie::SameSite, Expiry, Session, SessionManagerLayer};

use crate::{config::Config, db::sessions::DbSessionStore, db::Db, state::AppState};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "drydock_session";

/// Server-side sessions: `HttpOnly`, `SameSite=Lax`, `Secure` behind HTTPS,
/// ending after the configured time without activity.
pub fn session_layer(db: &Db, config: &Config) -> SessionManagerLayer<DbSessionStore> {
    let idle = i64::try_from(config.auth.session_idle_minutes).unwrap_or(i64::MAX / 120);
    SessionManagerLayer::new(DbSessionStore::new(db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(idle)))
}

/// Whether a request is a page view by a browser (not an asset, probe or API call).
fn is_page_view(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/")
        && !matches!(path, "/healthz" | "/readyz")
        && !path.rsplit('/').next().unwrap_or("").contains('.')
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// Gives a first-time visitor a guest identity, so self-study works without
/// signing up and nothing they do is lost when they register later.
/// Scripts that never keep a cookie would otherwise make one guest per
/// request: new guests are limited per client address (the page is still
/// served, without an identity, past the limit).
pub async fn ensure_identity(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_page_view(&req) {
        if let Some(session) = req.extensions().get::<Session>().cloned() {
            let (parts, body) = req.into_parts();
            let result = async {
                if let Some(user) = guard::session_user(&state.db, &session).await? {
                    return Ok(Some(user.id));
                }
                let guard::ClientIp(ip) =
                    guard::ClientIp::of(&parts, &state.config.trusted_proxies);
                if state.throttles.guests_per_ip.attempt(&ip).is_err() {
                    tracing::debug!(%ip, "no new guest: too many from this address");
                    return Ok(None);
                }
                let guest = service::create_guest(&state).await?;
                session.insert(guard::USER_ID_KEY, guest.id).await?;
                tracing::debug!(user_id = guest.id, "new guest identity");
                Ok::<_, crate::error::Error>(None)
            }
            .await;
            let mut req = Request::from_parts(parts, body);
            match result {
                // Known viewer: the page may come from (or go to) the page cache.
                Ok(Some(user)) => {
                    req.extensions_mut().insert(guard::KnownViewer(user));
                }
                Ok(None) => {}
                Err(err) => return err.into_response(),
            }
            return next.run(req).await;
        }
    }
    next.run(req).await
}
