//! Rendered lesson pages, kept per viewer while nothing they show changes.
//!
//! A lesson page shows the lesson (fixed while the server runs) and the
//! viewer's own state: progress, quiz answers, lab, attempts, role. Each
//! viewer's entries carry the version of that state ([`crate::db::changes`])
//! they were rendered at; a write that a viewer's pages show bumps the
//! version, so only that viewer's entries stop being served. Entries also
//! expire after [`MAX_AGE`], and the cache holds at most [`BUDGET`] bytes,
//! dropping the oldest entries first.
//!
//! The same middleware bumps the version of whoever makes a state-changing
//! request (any method but GET/HEAD/OPTIONS), after it has been handled: a
//! learner's own actions can never leave their pages stale, whatever the
//! handler forgot to announce.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::Response,
};
use tower_sessions::Session;

use crate::{
    accounts::guard::{KnownViewer, USER_ID_KEY},
    state::AppState,
};

/// How long an entry is served at most.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Bytes of pages kept at most.
pub const BUDGET: usize = 32 << 20;
/// A larger page is not kept.
const MAX_PAGE: usize = 1 << 20;
/// A page is buffered up to this size (and sent, if not kept).
const MAX_BUFFERED: usize = 16 << 20;

type Key = (i64, String);

struct Entry {
    version: u64,
    stored: Instant,
    seq: u64,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Insertion order, for dropping the oldest: (key, seq of that insertion).
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    next_seq: u64,
}

#[derive(Default)]
pub struct PageCache {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageCache")
    }
}

impl PageCache {
    fn get(&self, key: &Key, version: u64) -> Option<(HeaderMap, Bytes)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .entries
            .get(key)
            .filter(|e| e.version == version && e.stored.elapsed() < MAX_AGE)
            .map(|e| (e.headers.clone(), e.body.clone()))
    }

    fn put(&self, key: Key, version: u64, headers: HeaderMap, body: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.bytes += body.len();
        inner.order.push_back((key.clone(), seq));
        let entry = Entry {
            version,
            stored: Instant::now(),
            seq,
            headers,
            body,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.body.len();
        }
        while inner.bytes > BUDGET {
            let Some((key, seq)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&key).is_some_and(|e| e.seq == seq) {
                if let Some(gone) = inner.entries.remove(&key) {
                    inner.bytes -= gone.body.len();
                }
            }
        }
        // Keys replaced since they were queued leave stale order records;
        // keep them from piling up.
        if inner.order.len() > 2 * inner.entries.len() + 64 {
            let live: std::collections::HashSet<u64> =
                inner.entries.values().map(|e| e.seq).collect();
            inner.order.retain(|(_, seq)| live.contains(seq));
        }
    }

    /// How many pages are kept (for tests).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `/lessons/{track}/{slug}` without a query: the lesson page itself.
fn is_lesson_page(req: &Request) -> bool {
    let uri = req.uri();
    let Some(rest) = uri.path().strip_prefix("/lessons/") else {
        return false;
    };
    let mut parts = rest.split('/');
    uri.query().is_none()
        && req.method() == Method::GET
        && matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(track), Some(slug), None) if !track.is_empty() && !slug.is_empty()
        )
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

async fn session_user_id(session: Option<&Session>) -> Option<i64> {
    session?.get::<i64>(USER_ID_KEY).await.ok().flatten()
}

/// The middleware: serves kept lesson pages, keeps fresh ones, and bumps
/// the acting user's version after every state-changing request.
pub async fn serve(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let session = req.extensions().get::<Session>().cloned();
        let before = session_user_id(session.as_ref()).await;
        let response = next.run(req).await;
        // Whoever the session belongs to now (a login switches users).
        let after = session_user_id(session.as_ref()).await;
        for user in before.into_iter().chain(after) {
            state.db.changes().bump(user);
        }
        return response;
    }
    // Set by `ensure_identity` for a viewer whose session was already valid;
    // the request that creates a guest renders without keeping its page.
    let viewer = req.extensions().get::<KnownViewer>().copied();
    let Some(KnownViewer(user)) = viewer.filter(|_| is_lesson_page(&req)) else {
        return next.run(req).await;
    };
    let key = (user, req.uri().path().to_owned());
    // Read before rendering: a write during the render bumps past it, so
    // what was rendered is never kept as current.
    let version = state.db.changes().version(user);
    if let Some((headers, body)) = state.pages.get(&key, version) {
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = headers;
        return response;
    }
    let response = next.run(req).await;
    let keep = response.status() == StatusCode::OK
        && !response.headers().contains_key(header::SET_COOKIE)
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
    if !keep {
        return response;
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_BUFFERED).await {
        Ok(bytes) => {
            if bytes.len() <= MAX_PAGE {
                state
                    .pages
                    .put(key, version, parts.headers.clone(), bytes.clone());
            }
            Response::from_parts(parts, Body::from(bytes))
        }
        // Absurdly large, or the render failed mid-way: the client gets an
        // error rather than half a page.
        Err(err) => {
            tracing::warn!(%err, "a lesson page could not be buffered");
            let mut response = Response::new(Body::from("The page could not be rendered."));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn an_entry_is_served_only_at_its_version() {
        let cache = PageCache::default();
        let key = (7, "/lessons/a/b".to_owned());
        cache.put(key.clone(), 3, HeaderMap::new(), page(10));
        assert!(cache.get(&key, 3).is_some());
        assert!(cache.get(&key, 4).is_none());
        assert!(
            cache.get(&(8, key.1.clone()), 3).is_none(),
            "another viewer"
        );
    }

    #[test]
    fn the_oldest_pages_go_first_past_the_budget() {
        let cache = PageCache::default();
        let big = BUDGET / 4 + 1;
        for i in 0..4 {
            cache.put((i, "/p".into()), 0, HeaderMap::new(), page(big));
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&(0, "/p".into()), 0).is_none());
        assert!(cache.get(&(3, "/p".into()), 0).is_some());
        // Replacing one key many times keeps the order queue bounded.
        for _ in 0..1000 {
            cache.put((9, "/q".into()), 0, HeaderMap::new(), page(1));
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner.order.len() <= 2 * inner.entries.len() + 65);
    }
}
