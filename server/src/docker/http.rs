//! Plain HTTP to the Docker engine, for the calls bollard's typed API cannot
//! make as Drydock needs them (a build with `ulimits`, a forwarded request
//! with a hijacked stream). One connection per request: engine sockets are
//! local and cheap, and an upgraded connection is never reused anyway.

use std::{path::PathBuf, pin::Pin, time::Duration};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::{body::Incoming, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// A body Drydock sends to the engine.
pub type OutBody = BoxBody<Bytes, std::io::Error>;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddress {
    Unix(PathBuf),
    Tcp(String),
}

/// Why a raw engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the Docker engine is not reachable at {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("the Docker engine's HTTP answer was broken: {0}")]
    Protocol(#[from] hyper::Error),
    #[error("the Docker engine did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Unsupported(String),
}

impl EngineAddress {
    /// From a `DOCKER_HOST`-style value (or the environment's, or the local
    /// socket). TLS endpoints are not supported here.
    pub fn parse(host: Option<&str>) -> Result<Self, HttpError> {
        let from_env = std::env::var("DOCKER_HOST").ok();
        let host = host
            .map(str::to_string)
            .or(from_env)
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
        if let Some(path) = host.strip_prefix("unix://") {
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            let authority = rest.split('/').next().unwrap_or(rest).to_string();
            return Ok(Self::Tcp(authority));
        }
        Err(HttpError::Unsupported(format!(
            "Drydock speaks plain HTTP to the engine only over unix:// or tcp://, not {host:?}"
        )))
    }

    /// A new connection to the engine.
    pub async fn connect(&self) -> Result<EngineStream, HttpError> {
        let address = format!("{self:?}");
        match self {
            Self::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(|s| Box::pin(s) as EngineStream),
            Self::Tcp(authority) => tokio::net::TcpStream::connect(authority.as_str())
                .await
                .map(|s| {
                    let _ = s.set_nodelay(true);
                    Box::pin(s) as EngineStream
                }),
        }
        .map_err(|source| HttpError::Connect { address, source })
    }

    /// Sends one request on a fresh connection (upgrades allowed) and
    /// returns the response head with its streaming body.
    pub async fn send(
        &self,
        request: Request<OutBody>,
        connect_timeout: Duration,
    ) -> Result<Response<Incoming>, HttpError> {
        let stream = tokio::time::timeout(connect_timeout, self.connect())
            .await
            .map_err(|_| HttpError::Timeout(connect_timeout))??;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "engine connection ended");
            }
        });
        Ok(sender.send_request(request).await?)
    }
}

/// A byte stream to the engine.
pub type EngineStream = Pin<Box<dyn AsyncReadWrite + Send>>;

/// `AsyncRead + AsyncWrite`, as one trait for boxing.
pub trait AsyncReadWrite: AsyncRead + AsyncWrite {}
impl<T: AsyncRead + AsyncWrite> AsyncReadWrite for T {}

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> OutBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// No body.
pub fn empty() -> OutBody {
    full(Bytes::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_values_are_understood() {
        assert_eq!(
            EngineAddress::parse(Some("unix:///run/docker.sock")).unwrap(),
            EngineAddress::Unix("/run/docker.sock".into())
        );
        assert_eq!(
            EngineAddress::parse(Some("tcp://127.0.0.1:2375")).unwrap(),
            EngineAddress::Tcp("127.0.0.1:2375".into())
        );
        assert!(EngineAddress::parse(Some("https://engine:2376")).is_err());
    }
}
