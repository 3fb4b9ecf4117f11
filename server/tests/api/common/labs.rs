//! Helpers for lab stories: a server with the test lab content, learners
//! with their own cookies, and a WebSocket terminal client.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::{cookie::CookieStore, Client, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Message},
    MaybeTlsStream, WebSocketStream,
};

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

/// A learner: a browser-like client with its own session.
pub struct Learner {
    pub http: Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Learner {
    /// Visits the home page, which gives the learner a (guest) identity.
    pub async fn arrive(app: &TestApp) -> Self {
        Self::arrive_at(&app.url("")).await
    }

    /// [`Learner::arrive`] at a server given by its base URL.
    pub async fn arrive_at(base: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = Client::builder()
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let resp = http
            .get(format!("{base}/"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        Self {
            http,
            jar,
            base: base.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> StatusCode {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Starts `lab`; returns the status and the session JSON.
    pub async fn start(&self, lab: &str) -> (StatusCode, Value) {
        self.post("/api/v1/labs", json!({ "lab": lab })).await
    }

    /// Waits until the session reports `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (code, body) = self.get(&format!("/api/v1/labs/{id}")).await;
            assert_eq!(code, 200, "{body}");
            if body["status"] == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "session {id} never became {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn cookie_header(&self) -> String {
        let url = reqwest::Url::parse(&self.base).unwrap();
        self.jar
            .cookies(&url)
            .map(|c| c.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// Opens the terminal of session `id`; `Err` carries the HTTP status of a refusal.
    pub async fn terminal(&self, id: &str) -> Result<Terminal, u16> {
        self.terminal_at(&format!("/api/v1/labs/{id}/terminal"))
            .await
    }

    /// Opens a terminal WebSocket at `path` (e.g. an instructor's read-only shadow).
    pub async fn terminal_at(&self, path: &str) -> Result<Terminal, u16> {
        let ws_url = self.url(path).replacen("http", "ws", 1);
        let mut request = ws_url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", self.cookie_header().parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Terminal {
                ws,
                seen: String::new(),
                controls: Vec::new(),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("terminal connection failed: {e}"),
        }
    }
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

    /// Runs `command` and returns its output up to a unique end marker.
    pub async fn output_of(&mut self, command: &str) -> String {
        let marker = format!("END{}", uuid::Uuid::new_v4().simple());
        let from = self.seen.len();
        // The marker is printed by `echo`, split so the echoed command line does not match.
        self.run(&format!(
            "{command}; echo \"{}\"\"{}\"",
            &marker[..6],
            &marker[6..]
        ))
        .await;
        self.read_until_from(from, &marker, Duration::from_secs(30))
            .await
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
