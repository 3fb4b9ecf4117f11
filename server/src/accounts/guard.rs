//! The one authorization layer: extractors that resolve the session to a user
//! and enforce a minimum role. Every route states what it needs by the
//! extractor it takes; no handler checks roles by hand.

use std::{marker::PhantomData, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::request::Parts,
};
use tower_sessions::Session;

use crate::{
    db::{
        now_ms,
        users::{self, Role, User},
        Db,
    },
    error::{Error, Result},
    state::AppState,
};

/// Session key holding the user's id.
pub const USER_ID_KEY: &str = "user_id";
/// Session key holding when the session was last refreshed (epoch ms).
const SEEN_KEY: &str = "seen_at";
/// How stale `seen_at` may get before a request refreshes the session's expiry.
const REFRESH_AFTER_MS: i64 = 5 * 60 * 1000;

/// The user behind a session, if any. A session pointing at a deleted user is emptied.
pub async fn session_user(db: &Db, session: &Session) -> Result<Option<User>> {
    let Some(id) = session.get::<i64>(USER_ID_KEY).await? else {
        return Ok(None);
    };
    let user = users::by_id(db, id).await?;
    if user.is_none() {
        session.flush().await?;
        return Ok(None);
    }
    // Inactivity expiry only moves when the session is saved; saving on
    // every request would write on every page view, so refresh now and then.
    let seen: i64 = session.get(SEEN_KEY).await?.unwrap_or(0);
    if now_ms() - seen > REFRESH_AFTER_MS {
        session.insert(SEEN_KEY, now_ms()).await?;
    }
    Ok(user)
}

/// Starts a fresh session id (defeats session fixation) bound to `user`.
pub async fn bind_session(session: &Session, user: &User) -> Result<()> {
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, user.id).await?;
    session.insert(SEEN_KEY, now_ms()).await?;
    Ok(())
}

/// The request's session (present on every route behind the session layer).
pub fn session_of(parts: &Parts) -> Result<Session> {
    parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| Error::Unauthorized("No session: enable cookies for this site.".into()))
}

/// A minimum role a route requires.
pub trait RoleRequirement: Send + Sync + 'static {
    const MIN: Role;
}

/// Anyone with an identity, guests included.
pub struct AnyRole;
/// A registered account (learner or above).
pub struct Registered;
/// An instructor or an admin.
pub struct InstructorRole;
/// An admin.
pub struct AdminRole;

impl RoleRequirement for AnyRole {
    const MIN: Role = Role::Guest;
}
impl RoleRequirement for Registered {
    const MIN: Role = Role::Learner;
}
impl RoleRequirement for InstructorRole {
    const MIN: Role = Role::Instructor;
}
impl RoleRequirement for AdminRole {
    const MIN: Role = Role::Admin;
}

/// A user who meets requirement `R`; taking it as an argument is how a route
/// declares who may call it.
pub struct Authorized<R: RoleRequirement> {
    pub user: User,
    pub session: Session,
    _requirement: PhantomData<R>,
}

/// Any identity (guest or registered).
pub type Identity = Authorized<AnyRole>;
/// A registered learner, instructor or admin.
pub type Member = Authorized<Registered>;
/// An instructor or admin.
pub type Instructor = Authorized<InstructorRole>;
/// An admin.
pub type Admin = Authorized<AdminRole>;

impl<R: RoleRequirement> Authorized<R> {
    /// Resolves and checks the caller, for code that has only request parts
    /// (server functions use this too).
    pub async fn from_parts(parts: &Parts, db: &Db) -> Result<Self> {
        let session = session_of(parts)?;
        let Some(user) = session_user(db, &session).await? else {
            return Err(Error::Unauthorized("Log in to continue.".into()));
        };
        if user.role < R::MIN {
            tracing::warn!(
                user_id = user.id,
                role = %user.role,
                required = %R::MIN,
                path = %parts.uri.path(),
                "refused: role too low"
            );
            return Err(if user.role == Role::Guest {
                Error::Unauthorized("Register or log in to continue: guests cannot do this.".into())
            } else {
                Error::Forbidden(format!(
                    "This needs the {} role; your account is a {}.",
                    R::MIN,
                    user.role
                ))
            });
        }
        Ok(Self {
            user,
            session,
            _requirement: PhantomData,
        })
    }
}

impl<S, R> FromRequestParts<S> for Authorized<R>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    R: RoleRequirement,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let app = AppState::from_ref(state);
        Self::from_parts(parts, &app.db).await
    }
}

/// The client's address as seen by this server (used for throttling and audit).
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(parts: &Parts) -> Self {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        ClientIp(ip)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}
