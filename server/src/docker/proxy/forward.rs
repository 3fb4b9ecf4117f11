//! Calls to the engine on behalf of a session, and the way answers come
//! back: JSON with the session's namespace taken out, streams as they come,
//! hijacked connections piped both ways.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::{
    body::{Frame, Incoming},
    header, Method, Request, Response, StatusCode,
};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::server::{Refused, SessionProxy};
use crate::docker::http::{empty, full, OutBody};

/// Largest JSON answer rewritten in memory.
const JSON_CAP: usize = 16 << 20;
/// Connecting to the engine takes at most this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How an engine answer is passed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// Read whole (bounded), the namespace taken out.
    Json,
    /// Line by line as it comes (events, build and pull messages), the
    /// namespace taken out of each line.
    Lines,
    /// Byte for byte as it comes (logs, stats, archives, waits).
    Raw,
}

impl SessionProxy {
    /// Sends `method path` (path with query, no version) to the engine.
    pub async fn engine_call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: OutBody,
    ) -> Result<Response<Incoming>, Refused> {
        let prefix = self.engine.api_prefix().await.map_err(Refused::engine)?;
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{prefix}{path}"))
            .header(header::HOST, "docker");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let request = builder
            .body(body)
            .map_err(|e| Refused::bad(e.to_string()))?;
        self.address
            .send(request, CONNECT_TIMEOUT)
            .await
            .map_err(Refused::engine)
    }

    /// A JSON call: the engine's status and its (bounded) JSON answer.
    pub async fn engine_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Refused> {
        let (ct, out) = match body {
            Some(v) => (Some("application/json"), full(v.to_string())),
            None => (None, empty()),
        };
        let response = self.engine_call(method, path, ct, out).await?;
        let status = response.status();
        let bytes = read_capped(response.into_body(), JSON_CAP).await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Passes an engine answer back to the client.
    pub async fn relay(&self, response: Response<Incoming>, how: Relay) -> Response<OutBody> {
        let (mut parts, body) = response.into_parts();
        parts.headers.remove(header::CONNECTION);
        parts.headers.remove("keep-alive");
        parts.headers.remove(header::TRANSFER_ENCODING);
        match how {
            Relay::Json => match read_capped(body, JSON_CAP).await {
                Ok(bytes) => {
                    let out = self.names.strip_bytes(&bytes);
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, out.len().into());
                    Response::from_parts(parts, full(out))
                }
                Err(refused) => super::server::refusal(refused.status, &refused.message),
            },
            Relay::Raw => {
                let stream = body
                    .into_data_stream()
                    .map(|chunk| chunk.map(Frame::data).map_err(std::io::Error::other));
                Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream)))
            }
            Relay::Lines => {
                parts.headers.remove(header::CONTENT_LENGTH);
                let names = self.names.clone();
                let mut pending: Vec<u8> = Vec::new();
                let stream = body.into_data_stream().map(move |chunk| {
                    let chunk = chunk.map_err(std::io::Error::other)?;
                    pending.extend_from_slice(&chunk);
                    // Whole lines only: a name is never split between chunks.
                    let cut = pending
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1);
                    let lines: Vec<u8> = pending.drain(..cut).collect();
                    if pending.len() > JSON_CAP {
                        return Err(std::io::Error::other("an overlong line"));
                    }
                    Ok(Frame::data(Bytes::from(names.strip_bytes(&lines))))
                });
                Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream)))
            }
        }
    }

    /// Forwards a call and relays the answer.
    pub async fn forward(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: OutBody,
        how: Relay,
    ) -> Result<Response<OutBody>, Refused> {
        let response = self.engine_call(method, path, content_type, body).await?;
        Ok(self.relay(response, how).await)
    }

    /// A hijacked stream (attach, exec start): the engine is asked to
    /// upgrade, and once both sides have, bytes flow both ways. A client
    /// that half-closes (no stdin) keeps receiving output until the engine
    /// ends the stream.
    pub async fn hijack(
        &self,
        client: hyper::upgrade::OnUpgrade,
        path: &str,
        body: Bytes,
    ) -> Result<Response<OutBody>, Refused> {
        let prefix = self.engine.api_prefix().await.map_err(Refused::engine)?;
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(format!("{prefix}{path}"))
            .header(header::HOST, "docker")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp");
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(full(body))
            .map_err(|e| Refused::bad(e.to_string()))?;
        let mut engine = self
            .address
            .send(request, CONNECT_TIMEOUT)
            .await
            .map_err(Refused::engine)?;
        if engine.status() != StatusCode::SWITCHING_PROTOCOLS {
            // An error before the upgrade: with a length, so the CLI reads it as one.
            return Ok(self.relay(engine, Relay::Json).await);
        }
        let engine_upgrade = hyper::upgrade::on(&mut engine);
        tokio::spawn(async move {
            let (Ok(engine_io), Ok(client_io)) = (engine_upgrade.await, client.await) else {
                return;
            };
            let mut engine_io = TokioIo::new(engine_io);
            let mut client_io = TokioIo::new(client_io);
            let _ = tokio::io::copy_bidirectional(&mut client_io, &mut engine_io).await;
        });
        let content_type = engine
            .headers()
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| {
                header::HeaderValue::from_static("application/vnd.docker.raw-stream")
            });
        Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp")
            .header(header::CONTENT_TYPE, content_type)
            .body(empty())
            .expect("a valid response"))
    }
}

/// Reads a whole engine body, refusing more than `cap` bytes.
async fn read_capped(body: Incoming, cap: usize) -> Result<Bytes, Refused> {
    let limited = http_body_util::Limited::new(body, cap);
    match tokio::time::timeout(Duration::from_secs(120), limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) => Err(Refused::engine(format!(
            "its answer was too large or broke off ({e})"
        ))),
        Err(_) => Err(Refused::engine("its answer took too long")),
    }
}
