//! Helpers for lab stories: a server with the test lab content, learners
//! with their own cookies, and a WebSocket terminal client.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use super::{spawn_app_with, test_config, workspace_root, TestApp, TestDatabase};

/// Content with the `sandbox` and `second` labs (tests/fixtures/lab-content).
pub fn lab_content() -> std::path::PathBuf {
    workspace_root().join("server/tests/fixtures/lab-content")
}

/// A server with the test labs, a fast reaper and its own engine namespace.
pub async fn lab_app(db: TestDatabase, capacity: usize) -> TestApp {
    let mut config = test_config(&db);
    config.content_dir = lab_content();
    config.labs.capacity = capacity;
    config.labs.reap_interval_secs = 1;
    spawn_app_with(db, config).await
}

/// A terminal over the WebSocket: binary frames are bytes, text frames control.
pub struct Terminal {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// Everything printed so far (lossy UTF-8).
    pub seen: String,
    /// Control messages received.
    pub controls: Vec<Value>,
}

impl Terminal {
    /// A terminal over an open WebSocket.
    pub fn new(ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>) -> Self {
        Self {
            ws,
            seen: String::new(),
            controls: Vec::new(),
        }
    }

    /// Types `text` (bytes as a binary frame).
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::Binary(text.as_bytes().to_vec().into()))
            .await
            .unwrap();
    }

    /// Types a command and Enter.
    pub async fn run(&mut self, command: &str) {
        self.send(&format!("{command}\r")).await;
    }

    pub async fn resize(&mut self, cols: u16, rows: u16) {
        let text = json!({ "type": "resize", "cols": cols, "rows": rows }).to_string();
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Reads until the output since `from` contains `needle`; returns that output.
    pub async fn read_until_from(&mut self, from: usize, needle: &str, within: Duration) -> String {
        self.read_until_any(from, &[needle], within).await
    }

    /// Reads until the output since `from` contains one of `needles`.
    pub async fn read_until_any(
        &mut self,
        from: usize,
        needles: &[&str],
        within: Duration,
    ) -> String {
        let deadline = Instant::now() + within;
        let needle = needles.join("\" or \"");
        loop {
            if let Some(found) = self
                .seen
                .get(from..)
                .filter(|s| needles.iter().any(|n| s.contains(n)))
            {
                return found.to_string();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "did not see {needle:?} within {within:?}; output so far:\n{}",
                &self.seen[from.min(self.seen.len())..]
            );
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    self.seen.push_str(&String::from_utf8_lossy(&bytes))
                }
                Ok(Some(Ok(Message::Text(text)))) => self
                    .controls
                    .push(serde_json::from_str(&text).unwrap_or(Value::Null)),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    panic!(
                        "terminal closed ({frame:?}) before {needle:?}; output:\n{}",
                        self.seen
                    )
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("terminal error: {e}"),
                Ok(None) => panic!("terminal ended before {needle:?}"),
                Err(_) => {}
            }
        }
    }

    /// Reads until `needle` appears in output not seen before this call.
    pub async fn expect(&mut self, needle: &str) -> String {
        let from = self.seen.len();
        self.read_until_from(from, needle, Duration::from_secs(20))
            .await
    }

    /// Runs `command` and returns what it printed, and nothing else: the
    /// text between two markers printed before and after it. The echoed
    /// command line is left out (each marker is printed from two pieces, so
    /// the line typed never contains one whole), so an expected text that
    /// also appears in the command cannot match by accident. The output
    /// starts with the line end after the first marker, so `"\nX"` matches
    /// a first line that starts with X.
    pub async fn output_of(&mut self, command: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (begin, end) = (format!("BEG{id}"), format!("END{id}"));
        let from = self.seen.len();
        self.run(&format!(
            "printf '%s%s\\n' BEG {id}; {command}; printf '%s%s\\n' END {id}"
        ))
        .await;
        let seen = self
            .read_until_from(from, &end, Duration::from_secs(30))
            .await;
        let start = seen.find(&begin).map_or(0, |i| i + begin.len());
        let stop = seen.rfind(&end).unwrap_or(seen.len()).max(start);
        seen[start..stop].to_string()
    }

    /// Waits for a control message of `kind`.
    pub async fn expect_control(&mut self, kind: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = self.controls.iter().find(|c| c["type"] == kind) {
                return found.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {kind} message within {within:?}: {:?}",
                self.controls
            );
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    self.seen.push_str(&String::from_utf8_lossy(&bytes))
                }
                Ok(Some(Ok(Message::Text(text)))) => self
                    .controls
                    .push(serde_json::from_str(&text).unwrap_or(Value::Null)),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => {
                    assert!(
                        self.controls.iter().any(|c| c["type"] == kind),
                        "closed without {kind}: {:?}",
                        self.controls
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// Reads until the server ends the connection (a close frame, an error
    /// or the end of the stream); returns the output seen meanwhile.
    pub async fn until_closed(&mut self, within: Duration) -> String {
        let from = self.seen.len();
        let ended = tokio::time::timeout(within, async {
            while let Some(Ok(message)) = self.ws.next().await {
                match message {
                    Message::Binary(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "the terminal was still open after {within:?}"
        );
        self.seen[from..].to_string()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Removes every container this test server created (call at the end of a test).
pub async fn remove_lab_containers(app: &TestApp) -> usize {
    let instance = app.state.config.labs.instance.clone();
    app.state
        .engine
        .remove_labelled(&[("drydock.instance", &instance)])
        .await
        .expect("test containers removed")
}

/// The lab containers this test server has on the engine.
pub async fn lab_containers(app: &TestApp) -> Vec<bollard::models::ContainerSummary> {
    let instance = app.state.config.labs.instance.clone();
    app.state
        .engine
        .list_labelled(&[("drydock.instance", &instance)])
        .await
        .unwrap()
}

/// One raw request to a lab's Docker endpoint (the host side of the
/// socket an attacker inside the lab talks to), with any body: the status
/// and the answer.
pub async fn endpoint_request(
    sock: &std::path::Path,
    method: &str,
    path: &str,
    content_type: &str,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-s",
        "-m",
        "120",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ])
    .arg("--unix-socket")
    .arg(sock)
    .arg("--path-as-is");
    if let Some(body) = body {
        std::fs::write(file.path(), body).unwrap();
        cmd.args([
            "-H",
            &format!("Content-Type: {content_type}"),
            "--data-binary",
        ])
        .arg(format!("@{}", file.path().display()));
    }
    let out = cmd.arg(format!("http://lab{path}")).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
