//! Helpers for workshop stories: accounts with roles and a client for the
//! dashboard's Server-Sent Events.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::client::Client;

/// One event of a stream.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub kind: String,
    pub data: Value,
    pub at: Instant,
}

/// A live event stream, read as it comes.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    /// Every event received so far.
    pub seen: Vec<StreamEvent>,
}

impl EventStream {
    /// Opens `path` with `client`'s cookies; `Err` carries a refusal's status.
    pub async fn open(client: &Client, url: &str) -> Result<Self, StatusCode> {
        let resp = client
            .http
            .get(url)
            .header("accept", "text/event-stream")
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap();
        if resp.status() != StatusCode::OK {
            return Err(resp.status());
        }
        Ok(Self {
            body: Box::pin(resp.bytes_stream()),
            buffer: String::new(),
            seen: Vec::new(),
        })
    }

    /// Waits for an event of `kind` whose data satisfies `matches`.
    pub async fn wait_for(
        &mut self,
        kind: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> StreamEvent {
        let deadline = Instant::now() + within;
        let mut next = self.seen.len();
        loop {
            while next < self.seen.len() {
                let e = &self.seen[next];
                next += 1;
                if e.kind == kind && matches(&e.data) {
                    return e.clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no matching {kind:?} event within {within:?}; saw {:?}",
                self.seen
                    .iter()
                    .map(|e| (&e.kind, &e.data))
                    .collect::<Vec<_>>()
            );
            match tokio::time::timeout(left, self.body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    self.buffer.push_str(&String::from_utf8_lossy(&chunk));
                    self.parse();
                }
                Ok(Some(Err(e))) => panic!("the event stream failed: {e}"),
                Ok(None) => panic!("the event stream ended"),
                Err(_) => {}
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buffer.find("\n\n") {
            let block: String = self.buffer.drain(..end + 2).collect();
            let mut kind = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if data.is_empty() {
                continue; // keep-alive comments
            }
            self.seen.push(StreamEvent {
                kind,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                at: Instant::now(),
            });
        }
    }
}

/// The cell of `exercise` in a learner row.
pub fn cell<'a>(row: &'a Value, exercise: &str) -> &'a Value {
    row["exercises"]
        .as_array()
        .and_then(|cells| cells.iter().find(|c| c["exercise"] == exercise))
        .unwrap_or(&Value::Null)
}
