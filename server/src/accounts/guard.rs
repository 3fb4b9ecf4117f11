//! The one authorization layer: extractors that resolve the session to a user
//! and enforce a minimum role. Every route states what it needs by the
//! extractor it takes; no handler checks roles by hand.

use std::{
    marker::PhantomData,
    net::{IpAddr, SocketAddr},
};

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
/// Session key holding when the session was bound to its user (epoch ms).
const BOUND_KEY: &str = "bound_at";
/// How stale `seen_at` may get before a request refreshes the session's expiry.
const REFRESH_AFTER_MS: i64 = 5 * 60 * 1000;

/// The user behind a session, if any. A session pointing at a deleted user,
/// or bound before the user's sessions were ended (a password change), is
/// emptied.
pub async fn session_user(db: &Db, session: &Session) -> Result<Option<User>> {
    let Some(id) = session.get::<i64>(USER_ID_KEY).await? else {
        return Ok(None);
    };
    let user = users::by_id(db, id).await?;
    let bound: i64 = session.get(BOUND_KEY).await?.unwrap_or(0);
    let Some(user) = user.filter(|u| bound >= u.sessions_valid_after) else {
        session.flush().await?;
        return Ok(None);
    };
    // Inactivity expiry only moves when the session is saved; saving on
    // every request would write on every page view, so refresh now and then
    // (and note that the user was here: stale guests are pruned).
    let seen: i64 = session.get(SEEN_KEY).await?.unwrap_or(0);
    if now_ms() - seen > REFRESH_AFTER_MS {
        session.insert(SEEN_KEY, now_ms()).await?;
        users::touch(db, user.id).await?;
    }
    Ok(Some(user))
}

/// Whether the stored session `session_id` still belongs to `user_id`: it
/// was not logged out, has not expired and was bound after the user's
/// sessions were last ended. For long-lived streams, which outlive the
/// request that checked the session.
pub async fn still_signed_in(db: &Db, session_id: &str, user_id: i64) -> Result<bool> {
    let Some((owner, bound)) = crate::db::sessions::binding(db, session_id).await? else {
        return Ok(false);
    };
    let Some(user) = users::by_id(db, user_id).await? else {
        return Ok(false);
    };
    Ok(owner == user_id && bound >= user.sessions_valid_after)
}

/// Starts a fresh session id (defeats session fixation) bound to `user`.
pub async fn bind_session(session: &Session, user: &User) -> Result<()> {
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, user.id).await?;
    session.insert(SEEN_KEY, now_ms()).await?;
    session.insert(BOUND_KEY, now_ms()).await?;
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

/// Set on a page view by [`crate::accounts::ensure_identity`] when the
/// session already had a valid user: the user id, for middleware that keeps
/// per-viewer state (the lesson page cache). Absent on the request that
/// creates a guest.
#[derive(Debug, Clone, Copy)]
pub struct KnownViewer(pub i64);

/// Whoever is asking, if anyone: pages and read-only routes serve everyone
/// and personalise for an identity (guests included). Never a rejection.
pub struct Viewer(pub Option<User>);

impl Viewer {
    /// The viewer of a request, for code that has only request parts.
    pub async fn from_parts(parts: &Parts, db: &Db) -> Result<Self> {
        match session_of(parts) {
            Ok(session) => Ok(Self(session_user(db, &session).await?)),
            Err(_) => Ok(Self(None)),
        }
    }

    /// The viewer's user id.
    pub fn id(&self) -> Option<i64> {
        self.0.as_ref().map(|u| u.id)
    }
}

impl<S> FromRequestParts<S> for Viewer
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let app = AppState::from_ref(state);
        Self::from_parts(parts, &app.db).await
    }
}

/// The client's address (used for throttling and audit): the connection's
/// peer, or — only when that peer is one of the configured
/// `trusted_proxies` — the nearest address the proxies name in
/// `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a proxy.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(parts: &Parts, trusted_proxies: &[String]) -> Self {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
        else {
            return ClientIp("unknown".into());
        };
        if !is_trusted(peer, trusted_proxies) {
            return ClientIp(peer.to_string());
        }
        // Right to left: each trusted proxy appended the address it saw.
        let mut chain: Vec<IpAddr> = Vec::new();
        for value in parts.headers.get_all("forwarded") {
            for element in value.to_str().unwrap_or("").split(',') {
                for pair in element.split(';') {
                    if let Some((k, v)) = pair.trim().split_once('=') {
                        if k.trim().eq_ignore_ascii_case("for") {
                            if let Some(ip) = parse_forwarded_ip(v) {
                                chain.push(ip);
                            }
                        }
                    }
                }
            }
        }
        if chain.is_empty() {
            for value in parts.headers.get_all("x-forwarded-for") {
                chain.extend(
                    value
                        .to_str()
                        .unwrap_or("")
                        .split(',')
                        .filter_map(parse_forwarded_ip),
                );
            }
        }
        let client = chain
            .iter()
            .rev()
            .find(|ip| !is_trusted(**ip, trusted_proxies))
            .copied()
            .unwrap_or(peer);
        ClientIp(client.to_string())
    }
}

/// An address as proxies write it: `1.2.3.4`, `"[2001:db8::1]:4711"`, `1.2.3.4:80`.
fn parse_forwarded_ip(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.rsplit_once(':')?.0.parse().ok()
}

/// Whether `ip` is one of `list`: addresses or `address/prefix` ranges.
pub fn is_trusted(ip: IpAddr, list: &[String]) -> bool {
    list.iter().any(|entry| {
        let (addr, prefix) = match entry.split_once('/') {
            Some((a, p)) => (a.trim(), p.trim().parse::<u32>().ok()),
            None => (entry.trim(), None),
        };
        let Ok(net) = addr.parse::<IpAddr>() else {
            return false;
        };
        match (ip, net) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let bits = prefix.unwrap_or(32).min(32);
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let bits = prefix.unwrap_or(128).min(128);
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    })
}

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        Ok(Self::of(parts, &app.config.trusted_proxies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = axum::http::Request::builder().uri("/");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        parts
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".to_string(), "::1".to_string()];
        let forged = parts("203.0.113.9:5000", &[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(ClientIp::of(&forged, &trusted).0, "203.0.113.9");
        let proxied = parts(
            "10.1.2.3:5000",
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.9.9.9")],
        );
        // The client may forge the leftmost entry; the nearest untrusted one counts.
        assert_eq!(ClientIp::of(&proxied, &trusted).0, "198.51.100.7");
        let standard = parts(
            "[::1]:5000",
            &[("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#)],
        );
        assert_eq!(ClientIp::of(&standard, &trusted).0, "2001:db8::7");
        let only_proxies = parts("10.1.2.3:5000", &[("x-forwarded-for", "10.2.2.2")]);
        assert_eq!(ClientIp::of(&only_proxies, &trusted).0, "10.1.2.3");
        assert!(is_trusted("10.255.0.1".parse().unwrap(), &trusted));
        assert!(!is_trusted("11.0.0.1".parse().unwrap(), &trusted));
    }
}
