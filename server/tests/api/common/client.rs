//! The one client every story uses: a browser-like visitor of the real
//! application with its own cookies (and, when asked, its own address),
//! with the calls stories make: register, log in, start a lab, open its
//! terminal, submit an exercise.

use std::time::{Duration, Instant};

use reqwest::{cookie::CookieStore, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{labs::Terminal, TestApp};

/// A browser-like client of a test server: its own cookies (its own
/// session), optionally its own address. Every story talks to Drydock
/// through it.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Client {
    /// Visits the home page, which gives the learner a (guest) identity.
    pub async fn arrive(app: &TestApp) -> Self {
        Self::arrive_at(&app.url("")).await
    }

    /// [`Client::arrive`] at a server given by its base URL.
    pub async fn arrive_at(base: &str) -> Self {
        let client = Self::build(base, None);
        client.visit_home().await;
        client
    }

    /// A client that has not visited yet (no identity).
    pub fn new(app: &TestApp) -> Self {
        Self::build(&app.url(""), None)
    }

    /// A client whose connections come from `ip` (any 127.0.0.0/8 address
    /// is this machine's loopback), without an identity yet.
    pub fn from_ip(app: &TestApp, ip: &str) -> Self {
        Self::build(&app.url(""), Some(ip.parse().unwrap()))
    }

    fn build(base: &str, ip: Option<std::net::IpAddr>) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let mut builder = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ip) = ip {
            builder = builder.local_address(ip);
        }
        Self {
            http: builder.build().unwrap(),
            jar,
            base: base.to_string(),
        }
    }

    /// Opens the home page as a browser does (a first visit gets a guest identity).
    pub async fn visit_home(&self) {
        let resp = self
            .http
            .get(self.url("/"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    /// A new visitor who registers as `username` (password "a long password").
    pub async fn registered(app: &TestApp, username: &str) -> Self {
        Self::registered_at(&app.url(""), username).await
    }

    /// [`Client::registered`] at a server given by its base URL.
    pub async fn registered_at(base: &str, username: &str) -> Self {
        let client = Self::arrive_at(base).await;
        let (status, body) = client
            .post(
                "/api/v1/auth/register",
                json!({"username": username, "password": "a long password"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        client
    }

    /// An account with `role` (created directly), logged in.
    pub async fn with_role(app: &TestApp, username: &str, role: drydock::db::users::Role) -> Self {
        drydock::accounts::service::create_user(
            &app.state.db,
            username,
            "a long password",
            role,
            10,
        )
        .await
        .unwrap();
        let client = Self::arrive(app).await;
        let (status, body) = client.login(username, "a long password").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        client
    }

    /// Logs in.
    pub async fn login(&self, username: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/v1/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// `GET /api/v1/me`.
    pub async fn me(&self) -> (StatusCode, Value) {
        self.get("/api/v1/me").await
    }

    /// Submits `submission` (the API's JSON) to `exercise`.
    pub async fn submit(&self, exercise: &str, submission: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/api/v1/exercises/{exercise}/submissions"),
            submission,
        )
        .await
    }

    /// The absolute URL of `path` on this client's server.
    pub fn url(&self, path: &str) -> String {
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
    pub async fn start_lab(&self, lab: &str) -> (StatusCode, Value) {
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

    pub fn cookie_header(&self) -> String {
        let url = reqwest::Url::parse(&self.base).unwrap();
        self.jar
            .cookies(&url)
            .map(|c| c.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    /// Starts `lab` (it must start at once, 201) and opens its terminal at
    /// the prompt; returns the session's id and the terminal.
    pub async fn lab_with_terminal(&self, lab: &str) -> (String, Terminal) {
        let (status, started) = self.start_lab(lab).await;
        assert_eq!(status, StatusCode::CREATED, "{started}");
        let id = started["id"].as_str().unwrap().to_string();
        let mut term = self.terminal(&id).await.unwrap();
        term.expect(&format!("{lab}:")).await;
        (id, term)
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
            Ok((ws, _)) => Ok(Terminal::new(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("terminal connection failed: {e}"),
        }
    }
}
