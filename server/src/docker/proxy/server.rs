//! One session's endpoint: accepts connections on its Unix socket and
//! serves each with HTTP/1.1 (keep-alive and upgrades, as the CLI needs).

use std::{
    collections::HashSet,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{body::Incoming, header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

use super::{names::SessionNames, ProxyLedger, ProxyScope};
use crate::docker::{
    engine::Engine,
    http::{full, EngineAddress, OutBody},
};

/// Requests of one session served at once; more wait (one lab cannot take
/// every worker of the server).
pub const CONCURRENT_REQUESTS: usize = 16;
/// Connections one session may hold open at once.
const CONNECTIONS: usize = 64;
/// A client that sends its request line and headers this slowly is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The newest API version the endpoint speaks (the lab's CLI speaks 1.41).
pub const API_VERSION: &str = "1.41";
/// The minor number of [`API_VERSION`]: newer paths are refused, as the
/// engine behind the endpoint would.
const NEWEST_MINOR: u32 = 41;
/// Older versions accepted a `HostConfig` with `start`: never served.
const OLDEST_MINOR: u32 = 24;

/// The endpoint of one lab session.
pub struct SessionProxy {
    pub engine: Arc<Engine>,
    pub address: EngineAddress,
    pub names: SessionNames,
    pub scope: ProxyScope,
    pub ledger: Arc<dyn ProxyLedger>,
    /// Exec ids created through this endpoint (an exec id names a process
    /// in some container: only the session's own may be started).
    pub execs: Mutex<HashSet<String>>,
    pub slots: Semaphore,
    /// Held while a request that spends the session's budget (a container,
    /// a volume, a network) is checked and made: one decision at a time.
    pub admission: tokio::sync::Mutex<()>,
    /// Uploads (build contexts, `docker cp` into a container) of this
    /// session in flight: one at a time.
    pub uploads: Semaphore,
}

/// Uploads in flight on this server, every session together: each is held
/// in memory up to the budget's context size while it is checked.
static UPLOADS: Semaphore = Semaphore::const_new(4);

impl SessionProxy {
    /// Waits for the session's upload turn (and the server's), so no
    /// session holds more than one upload in memory at a time.
    pub async fn upload_turn(
        &self,
    ) -> Result<
        (
            tokio::sync::SemaphorePermit<'_>,
            tokio::sync::SemaphorePermit<'static>,
        ),
        Refused,
    > {
        let wait = Duration::from_secs(120);
        let mine = tokio::time::timeout(wait, self.uploads.acquire())
            .await
            .map_err(|_| {
                Refused::conflict(
                    "another upload of this lab is still running; try again when it ends",
                )
            })?
            .map_err(|_| Refused::conflict("the lab is stopping"))?;
        let server = tokio::time::timeout(wait, UPLOADS.acquire())
            .await
            .map_err(|_| {
                Refused::conflict("the server is busy with other uploads; try again in a minute")
            })?
            .map_err(|_| Refused::conflict("the server is stopping"))?;
        Ok((mine, server))
    }
}

/// Accepts connections until `stopped` turns true.
pub async fn serve(
    listener: tokio::net::UnixListener,
    proxy: Arc<SessionProxy>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Too many connections from one lab: this one is closed at once.
            continue;
        };
        let proxy = proxy.clone();
        let mut stop = stopped.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(HEADER_TIMEOUT)
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                result = conn => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "lab Docker connection ended");
                    }
                }
                _ = stop.changed() => {}
            }
        });
    }
}

impl SessionProxy {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<OutBody> {
        let Ok(_slot) = self.slots.acquire().await else {
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "the lab is stopping");
        };
        let (path, minor) = match parse_path(req.uri().path()) {
            Ok(found) => found,
            Err(message) => return refusal(StatusCode::BAD_REQUEST, &message),
        };
        if minor.is_some_and(|m| m > NEWEST_MINOR) {
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("client version 1.{} is too new. Maximum supported API version is {API_VERSION}", minor.unwrap_or(0)),
            );
        }
        if minor.is_some_and(|m| m < OLDEST_MINOR) {
            return refusal(
                StatusCode::BAD_REQUEST,
                &format!("client version 1.{} is too old; this endpoint speaks API 1.{OLDEST_MINOR} to {API_VERSION}", minor.unwrap_or(0)),
            );
        }
        let response = super::routes::dispatch(&self, req, &path).await;
        let mut response = match response {
            Ok(r) => r,
            Err(refused) => {
                if let Some(what) = &refused.audit {
                    self.ledger
                        .refused(self.scope.owner, &self.scope.session, what)
                        .await;
                    tracing::info!(session = %self.scope.session, refused = %what, "lab Docker request refused");
                }
                refusal(refused.status, &refused.message)
            }
        };
        let headers = response.headers_mut();
        headers.insert("api-version", header::HeaderValue::from_static(API_VERSION));
        headers.insert("ostype", header::HeaderValue::from_static("linux"));
        headers.insert(
            header::SERVER,
            header::HeaderValue::from_static("Drydock lab endpoint (linux)"),
        );
        response
    }
}

/// Why a request is not served: the status, the sentence the CLI prints,
/// and (for policy refusals) what to record in the audit log.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
    pub audit: Option<String>,
}

impl Refused {
    /// A request the policy refuses (audited).
    pub fn policy(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
            audit: Some(what.into()),
        }
    }

    /// An object the session cannot see: exactly as if it did not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
            audit: None,
        }
    }

    /// A request that cannot be understood or is too large.
    pub fn bad(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            audit: None,
        }
    }

    /// A request that conflicts with the lab's budget or state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            message: message.into(),
            audit: None,
        }
    }

    /// The engine could not be asked.
    pub fn engine(err: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the lab's Docker endpoint could not reach the engine: {err}"),
            audit: None,
        }
    }
}

/// An error in the Docker API's format: `{"message": …}` with exactly
/// `Content-Type: application/json` (the CLI prints the message then).
pub fn refusal(status: StatusCode, message: &str) -> Response<OutBody> {
    json_response(status, &serde_json::json!({ "message": message }))
}

/// A JSON answer.
pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<OutBody> {
    let body = value.to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(full(body))
        .expect("a valid response")
}

/// The path without an API version prefix, and the version's minor number.
/// Paths that could mean something else to another parser (`//`, `.`,
/// `..`, encoded slashes or NULs) are refused.
pub fn parse_path(raw: &str) -> Result<(String, Option<u32>), String> {
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%00") || lower.contains("%5c") || raw.contains('\\')
    {
        return Err(format!("the path {raw:?} has an encoded separator"));
    }
    let decoded =
        percent_decode(raw).ok_or_else(|| format!("the path {raw:?} is not valid UTF-8"))?;
    if decoded.contains("//") || decoded.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("the path {raw:?} is not a plain path"));
    }
    let mut rest = decoded.as_str();
    let mut minor = None;
    if let Some(after) = rest.strip_prefix("/v") {
        if let Some((version, tail)) = after.split_once('/') {
            if let Some(m) = version
                .strip_prefix("1.")
                .and_then(|m| m.parse::<u32>().ok())
            {
                minor = Some(m);
                rest = &after[version.len()..];
                let _ = tail;
            }
        }
    }
    let path = rest.trim_end_matches('/');
    Ok((
        if path.is_empty() {
            "/".into()
        } else {
            path.to_string()
        },
        minor,
    ))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a request body, refusing more than `cap` bytes.
pub async fn read_body(body: Incoming, cap: usize) -> Result<Bytes, Refused> {
    let limited = http_body_util::Limited::new(body, cap);
    match tokio::time::timeout(Duration::from_secs(120), limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) => Err(Refused::bad(format!(
            "the request body is larger than {} KiB (or broke off)",
            cap / 1024
        ))),
        Err(_) => Err(Refused::bad("the request body came too slowly")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_their_version_and_odd_spellings_are_refused() {
        assert_eq!(
            parse_path("/v1.41/containers/json").unwrap(),
            ("/containers/json".into(), Some(41))
        );
        assert_eq!(parse_path("/_ping").unwrap(), ("/_ping".into(), None));
        assert_eq!(parse_path("/v1.19/containers/x/start").unwrap().1, Some(19));
        assert_eq!(
            parse_path("/containers/web/json/").unwrap().0,
            "/containers/web/json"
        );
        assert_eq!(
            parse_path("/images/drydock%3Abusybox/json").unwrap().0,
            "/images/drydock:busybox/json"
        );
        for odd in [
            "//containers/json",
            "/v1.41/containers/../info",
            "/v1.41/./info",
            "/containers/a%2Fb/json",
            "/containers/a%2fb/json",
            "/containers/%2e%2e/json",
            "/containers/x%00/json",
        ] {
            assert!(parse_path(odd).is_err(), "{odd}");
        }
    }
}
