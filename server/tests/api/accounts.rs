//! Accounts, roles and sessions, told as stories and run on SQLite and on a
//! real PostgreSQL server.

use crate::common::{client::Client, spawn_app_with, test_config, TestApp, TestDatabase};
use drydock::{
    accounts::service,
    config::Config,
    db::{audit, users::Role, Backend},
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

async fn app_on(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDatabase::of(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    spawn_app_with(db, config).await
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("drydock_session="))
        .map(str::to_string)
}

async fn guest_registers_and_keeps_their_identity(backend: Backend) {
    let app = app_on(backend, |_| {}).await;
    let ada = Client::new(&app);

    // No cookie yet: nobody.
    assert_eq!(ada.me().await.0, StatusCode::UNAUTHORIZED);

    // A first page view creates a guest identity.
    ada.visit_home().await;
    let (status, guest) = ada.me().await;
    assert_eq!(status, 200);
    assert_eq!(guest["role"], "guest");
    assert!(guest["username"].as_str().unwrap().starts_with("guest-"));

    // Registering turns that very identity into an account: same id, so
    // everything recorded against it stays.
    let (status, account) = ada
        .post(
            "/api/v1/auth/register",
            json!({"username": "ada", "password": "analytical engine"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{account}");
    assert_eq!(account["id"], guest["id"]);
    assert_eq!(account["role"], "learner");
    assert_eq!(ada.me().await.1["username"], "ada");

    // Logging out ends the session; logging back in resumes the same account.
    let (status, _) = ada.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(ada.me().await.0, StatusCode::UNAUTHORIZED);
    let (status, back) = ada
        .post(
            "/api/v1/auth/login",
            json!({"username": "ADA", "password": "analytical engine"}),
        )
        .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["id"], guest["id"]);

    // A guest who logs into an existing account instead is merged into it.
    let other_browser = Client::new(&app);
    other_browser.visit_home().await;
    let (_, other_guest) = other_browser.me().await;
    let (status, _) = other_browser
        .post(
            "/api/v1/auth/login",
            json!({"username": "ada", "password": "analytical engine"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(other_browser.me().await.1["id"], guest["id"]);
    let gone = drydock::db::users::by_id(&app.state.db, other_guest["id"].as_i64().unwrap())
        .await
        .unwrap();
    assert!(gone.is_none(), "the merged guest row is removed");

    // Everything above is in the audit log.
    let events: Vec<String> = audit::recent(&app.state.db, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for expected in ["registered", "logout", "login_ok"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} in {events:?}"
        );
    }
    eprintln!("guest → account story passed on {}", backend.name());
}

async fn bad_credentials_and_bad_input_get_clear_errors(backend: Backend) {
    let app = app_on(backend, |_| {}).await;
    let c = Client::new(&app);
    let (s, _) = c
        .post(
            "/api/v1/auth/register",
            json!({"username": "grace", "password": "compilers are fun"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Wrong password and unknown user read exactly the same.
    let anon = Client::new(&app);
    let (s1, wrong_pw) = anon
        .post(
            "/api/v1/auth/login",
            json!({"username": "grace", "password": "nope nope nope"}),
        )
        .await;
    let (s2, no_user) = anon
        .post(
            "/api/v1/auth/login",
            json!({"username": "nobody", "password": "nope nope nope"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong_pw, no_user);
    assert_eq!(wrong_pw["error"], "invalid_credentials");
    assert_eq!(wrong_pw["message"], "Wrong username or password.");

    // Registration mistakes say exactly what to fix.
    let (s, taken) = anon
        .post(
            "/api/v1/auth/register",
            json!({"username": "Grace", "password": "another long one"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        taken["message"].as_str().unwrap().contains("already taken"),
        "{taken}"
    );
    let (s, short) = anon
        .post(
            "/api/v1/auth/register",
            json!({"username": "hopper", "password": "short"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        short["message"].as_str().unwrap().contains("too short"),
        "{short}"
    );
    let (s, bad_name) = anon
        .post(
            "/api/v1/auth/register",
            json!({"username": "a b", "password": "long enough password"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        bad_name["message"]
            .as_str()
            .unwrap()
            .contains("3 to 32 characters"),
        "{bad_name}"
    );
    let (s, reserved) = anon
        .post(
            "/api/v1/auth/register",
            json!({"username": "guest-me", "password": "long enough password"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{reserved}");
    let (s, _) = anon
        .post("/api/v1/auth/register", json!({"username": "hopper"}))
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a body missing fields is refused"
    );
    let resp = anon
        .http
        .post(app.url("/api/v1/auth/login"))
        .body("username=grace")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the JSON API accepts only JSON"
    );

    // Password change: the current one must be right, the old one then stops working.
    let (s, _) = c
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "wrong wrong", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = c
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "compilers are fun", "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = anon
        .post(
            "/api/v1/auth/login",
            json!({"username": "grace", "password": "compilers are fun"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = anon
        .post(
            "/api/v1/auth/login",
            json!({"username": "grace", "password": "a brand new secret"}),
        )
        .await;
    assert_eq!(s, 200);

    // An expired session is simply no session: log in again.
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let (s, body) = c.me().await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    eprintln!("bad input story passed on {}", backend.name());
}

async fn roles_guard_every_protected_route(backend: Backend) {
    let app = app_on(backend, |_| {}).await;
    let admin = service::create_user(&app.state.db, "root", "root password!", Role::Admin, 10)
        .await
        .unwrap();
    let teacher = service::create_user(
        &app.state.db,
        "teacher",
        "teach me please",
        Role::Learner,
        10,
    )
    .await
    .unwrap();

    let anonymous = Client::new(&app);
    let learner = Client::new(&app);
    learner
        .post(
            "/api/v1/auth/register",
            json!({"username": "lea", "password": "learning docker"}),
        )
        .await;
    let admin_c = Client::new(&app);
    let (s, _) = admin_c
        .post(
            "/api/v1/auth/login",
            json!({"username": "root", "password": "root password!"}),
        )
        .await;
    assert_eq!(s, 200);

    // Anonymous callers are told to log in; learners are told they lack the role.
    for path in ["/api/v1/users", "/api/v1/audit", "/api/v1/me"] {
        assert_eq!(
            anonymous
                .http
                .get(app.url(path))
                .send()
                .await
                .unwrap()
                .status(),
            401,
            "{path}"
        );
    }
    let resp = learner
        .http
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["message"].as_str().unwrap().contains("instructor"),
        "{body}"
    );
    assert_eq!(
        learner
            .http
            .get(app.url("/api/v1/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let resp = learner
        .http
        .put(app.url(&format!("/api/v1/users/{}/role", teacher.id)))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = anonymous
        .http
        .post(app.url("/api/v1/auth/password"))
        .json(&json!({"current_password": "x", "new_password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // A guest is an identity, but not a member.
    let guest = Client::new(&app);
    guest.visit_home().await;
    assert_eq!(guest.me().await.0, 200);
    let resp = guest
        .http
        .post(app.url("/api/v1/auth/password"))
        .json(&json!({"current_password": "x", "new_password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The admin promotes the teacher, who can then list users but not change roles.
    let resp = admin_c
        .http
        .put(app.url(&format!("/api/v1/users/{}/role", teacher.id)))
        .json(&json!({"role": "instructor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let teacher_c = Client::new(&app);
    teacher_c
        .post(
            "/api/v1/auth/login",
            json!({"username": "teacher", "password": "teach me please"}),
        )
        .await;
    let list = teacher_c
        .http
        .get(app.url("/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let names: Vec<String> = list
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"lea".to_string()) && names.contains(&"root".to_string()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("guest-")),
        "guests are not listed"
    );
    let resp = teacher_c
        .http
        .put(app.url(&format!("/api/v1/users/{}/role", admin.id)))
        .json(&json!({"role": "learner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    // Admins cannot demote themselves, and the role change is audited.
    let resp = admin_c
        .http
        .put(app.url(&format!("/api/v1/users/{}/role", admin.id)))
        .json(&json!({"role": "learner"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let log: Vec<Value> = admin_c
        .http
        .get(app.url("/api/v1/audit"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(log.iter().any(|e| e["event"] == "role_changed" && e["detail"] == "learner -> instructor by root"), "{log:?}");
    eprintln!("roles story passed on {}", backend.name());
}

#[tokio::test]
async fn guest_registers_and_keeps_their_identity_on_sqlite() {
    guest_registers_and_keeps_their_identity(Backend::Sqlite).await;
}
#[tokio::test]
async fn guest_registers_and_keeps_their_identity_on_postgres() {
    guest_registers_and_keeps_their_identity(Backend::Postgres).await;
}
#[tokio::test]
async fn bad_credentials_and_bad_input_on_sqlite() {
    bad_credentials_and_bad_input_get_clear_errors(Backend::Sqlite).await;
}
#[tokio::test]
async fn bad_credentials_and_bad_input_on_postgres() {
    bad_credentials_and_bad_input_get_clear_errors(Backend::Postgres).await;
}
#[tokio::test]
async fn roles_guard_every_protected_route_on_sqlite() {
    roles_guard_every_protected_route(Backend::Sqlite).await;
}
#[tokio::test]
async fn roles_guard_every_protected_route_on_postgres() {
    roles_guard_every_protected_route(Backend::Postgres).await;
}

#[tokio::test]
async fn logins_are_throttled_per_username_and_per_ip() {
    let app = app_on(Backend::Sqlite, |c| {
        c.auth.login_failures_per_username = 3;
        c.auth.login_per_ip = 6;
    })
    .await;
    service::create_user(
        &app.state.db,
        "target",
        "the real password",
        Role::Learner,
        10,
    )
    .await
    .unwrap();
    let c = Client::new(&app);
    for _ in 0..3 {
        let (s, _) = c
            .post(
                "/api/v1/auth/login",
                json!({"username": "target", "password": "guess guess"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the username is throttled.
    let resp = c
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "target", "password": "the real password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(
        body["message"],
        format!("Too many attempts. Try again in {retry} s.")
    );

    // Other usernames from the same address still work until the IP allowance is spent…
    for _ in 0..2 {
        let (s, _) = c
            .post(
                "/api/v1/auth/login",
                json!({"username": "someone", "password": "guess guess"}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // …then every login from this address waits.
    let (s, _) = c
        .post(
            "/api/v1/auth/login",
            json!({"username": "another", "password": "guess guess"}),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let events: Vec<String> = audit::recent(&app.state.db, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        events.iter().any(|e| e == "login_throttled") && events.iter().any(|e| e == "login_failed")
    );
}

#[tokio::test]
async fn registrations_are_throttled_per_ip() {
    let app = app_on(Backend::Sqlite, |c| c.auth.register_per_ip = 2).await;
    for (i, expected) in [(1, 201), (2, 201), (3, 429)] {
        let c = Client::new(&app);
        let (s, body) = c
            .post(
                "/api/v1/auth/register",
                json!({"username": format!("user{i}"), "password": "long enough password"}),
            )
            .await;
        assert_eq!(s.as_u16(), expected, "{body}");
    }
}

#[tokio::test]
async fn session_cookies_are_http_only_lax_server_side_and_rotate_on_login() {
    let app = app_on(Backend::Sqlite, |_| {}).await;
    service::create_user(&app.state.db, "sam", "sam's password", Role::Learner, 10)
        .await
        .unwrap();
    let c = Client::new(&app);
    let first = c
        .http
        .get(app.url("/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let guest_cookie = session_cookie(&first).expect("a first visit sets the session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(guest_cookie.contains(flag), "{flag} in {guest_cookie}");
    }
    assert!(
        !guest_cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
    // The cookie holds only an opaque id; the data lives in the database.
    let value = guest_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("drydock_session=");
    assert!(!value.contains("user"), "{value}");
    assert!(drydock::db::sessions::count(&app.state.db).await.unwrap() >= 1);

    let login = c
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "sam", "password": "sam's password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let after = session_cookie(&login).expect("login sets a new cookie");
    assert_ne!(
        after.split(';').next(),
        guest_cookie.split(';').next(),
        "the session id rotates on login"
    );

    // Behind HTTPS the cookie is Secure.
    let https = app_on(Backend::Sqlite, |c| {
        c.public_url = Some("https://drydock.example".into())
    })
    .await;
    let resp = Client::new(&https)
        .http
        .get(https.url("/"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&resp).unwrap().contains("Secure"));
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = app_on(Backend::Sqlite, |_| {}).await;
    service::create_user(&app.state.db, "vic", "victim password", Role::Learner, 10)
        .await
        .unwrap();
    let c = Client::new(&app);
    let creds = json!({"username": "vic", "password": "victim password"});

    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("referer", "https://evil.example/page"),
    ] {
        let resp = c
            .http
            .post(app.url("/api/v1/auth/login"))
            .header(name, value)
            .json(&creds)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "cross_site_request");
    }
    assert_eq!(
        c.me().await.0,
        StatusCode::UNAUTHORIZED,
        "the refused login did nothing"
    );

    // The same request from this site goes through.
    let resp = c
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("origin", format!("http://{}", app.addr))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Logging someone out from another site is refused as well.
    let resp = c
        .http
        .post(app.url("/api/v1/auth/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(c.me().await.0, 200);
}
