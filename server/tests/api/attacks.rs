//! The attack suite: what an anonymous visitor, a learner or another site
//! tries against Drydock, sent the way an attacker would send it (raw API
//! requests, odd spellings, someone else's ids), each with the safe outcome
//! asserted against the real server, engine and databases.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use drydock::db::Backend;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{
    client::Client,
    grading::{describe, docker, exercise, grading_leftovers},
    spawn_app, spawn_app_with, test_config,
    workshops::EventStream,
    TestDatabase,
};

/// A TCP listener on loopback that counts who connects (and never answers).
struct CountingListener {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl CountingListener {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { port, connections }
    }

    fn seen(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A Dockerfile submission to the curriculum's `harden-image` exercise.
async fn submit_dockerfile(learner: &Client, dockerfile: &str) -> (StatusCode, Value) {
    learner
        .submit(
            "harden-image",
            json!({"kind": "dockerfile", "dockerfile": dockerfile, "files": {}}),
        )
        .await
}

fn notes_of(body: &Value) -> String {
    body["report"]["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The resident memory of this process (the test server runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

// 1 and 2 -------------------------------------------------------------------

#[tokio::test]
async fn add_urls_and_unfinished_stages_reach_neither_the_network_nor_a_foreign_image() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let listener = CountingListener::start().await;
    let learner = Client::registered(&app, "mallory").await;
    let url = format!("http://127.0.0.1:{}/latest/meta-data", listener.port);
    let spellings = [
        format!("ADD {url} /r"),
        format!("add {url} /r"),
        format!("ADD [\"{url}\", \"/r\"]"),
        format!("ADD --chown=0:0 {url} /r"),
        format!("ADD \"{url}\" /r"),
        format!("A\\\nDD {url} /r"),
        format!("ADD h\\\nttp://127.0.0.1:{}/x /r", listener.port),
        format!("ARG U={url}\nADD $U /r"),
        format!("ENV U={url}\nADD ${{U}} /r"),
        format!("ONBUILD ADD {url} /r"),
        // Docker's classic builder has no heredocs: it would read the body
        // as instructions of their own.
        format!("RUN <<CMD\nADD {url} /r\nCMD"),
        // What passed the old screen: the engine and the screen read a
        // vertical tab after a backslash differently.
        format!("RUN echo \\\x0b\nADD {url} /r"),
        format!("RUN echo \\\x0c\nADD {url} /r"),
    ];
    // A directive line the screen and the engine read differently: before
    // `# escape`, a `# check` (the engine then keeps `\\`).
    let directives = [
        format!("# check=skip=all\n# escape=`\nFROM drydock/busybox:1\nRUN echo `\nADD {url} /r\n"),
        format!("# unknown=1\n# escape=`\nFROM drydock/busybox:1\nRUN echo hi `\nADD {url} /r\n"),
    ];
    for dockerfile in &directives {
        let (status, body) = submit_dockerfile(&learner, dockerfile).await;
        assert!(
            status == StatusCode::CREATED && notes_of(&body).contains("Not built")
                || status == StatusCode::BAD_REQUEST,
            "{dockerfile:?}: {status} {body}"
        );
    }
    for add in &spellings {
        let dockerfile = format!("FROM drydock/busybox:1\n{add}\nRUN cat /r; false\n");
        let (status, body) = submit_dockerfile(&learner, &dockerfile).await;
        assert_eq!(status, StatusCode::CREATED, "{add}: {body}");
        let notes = notes_of(&body);
        assert!(notes.contains("Not built"), "{add}: {notes}");
    }
    assert_eq!(
        listener.seen(),
        0,
        "a build fetched from the host-side listener"
    );

    // `drydock` is the stage being built: the engine would read an image by
    // that name. Only earlier stages count as stages.
    for dockerfile in [
        "FROM drydock/busybox:1 AS drydock\nCOPY --from=drydock /app/content /c\n",
        "FROM drydock/busybox:1\nCOPY --from=1 /x /x\nFROM drydock/busybox:1\n",
        "FROM drydock/busybox:1\nCOPY --from=later /x /x\nFROM drydock/busybox:1 AS later\n",
        // An image that exists here but is not one of the exercise's bases.
        "FROM drydock/busybox:1\nCOPY --from=drydock/webapp:1 /usr/local/bin /x\n",
        "FROM drydock/busybox:1\nCOPY --from=DRYDOCK/WEBAPP:1 /usr/local/bin /x\n",
    ] {
        let (status, body) = submit_dockerfile(&learner, dockerfile).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{dockerfile}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("is not available here"),
            "{body}"
        );
    }
    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
}

// 3 --------------------------------------------------------------------------

#[tokio::test]
async fn a_container_that_floods_its_output_cannot_swell_the_server() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let engine = app.state.engine.clone();
    // The peak resident size is sampled while the floods run.
    let start = resident_bytes();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(start));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(resident_bytes(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The finding as reported: /etc/passwd made endless, then graded.
    let grader = &app.state.grading;
    let exercise = grader.exercise("least-privilege-run").unwrap().clone();
    let started = Instant::now();
    let report = grader
        .grade(
            &exercise,
            &drydock_app::api_exercises::Submission::Run {
                command: "docker run -d --tmpfs /etc --entrypoint sh drydock/webapp:1 -c \"ln -s /dev/zero /etc/passwd && exec sleep 600\"".into(),
            },
            None,
        )
        .await
        .expect("graded");
    assert!(!report.passed, "{}", describe(&report));
    assert!(started.elapsed() < Duration::from_secs(50));

    // Any exec the engine streams back stops at the cap.
    let policy = drydock::docker::policy::SandboxPolicy::strict(
        drydock::docker::policy::SandboxLabels {
            owner: "attacks".into(),
            lab: "flood".into(),
            session: format!("flood-{}", uuid::Uuid::new_v4().simple()),
        },
        Default::default(),
        Some("runsc".into()),
    );
    let mut policy = policy;
    policy.extra_labels.push((
        "drydock.instance".into(),
        app.state.config.labs.instance.clone(),
    ));
    let container = engine
        .start_sandbox(&policy, "drydock/busybox:1", &["sleep", "600"])
        .await
        .unwrap();
    for cmd in [
        vec!["cat", "/dev/zero"],
        vec!["sh", "-c", "yes drydock"],
        vec!["sh", "-c", "cat /dev/zero >&2"],
    ] {
        let out = engine.exec(&container, &cmd, None).await.unwrap();
        assert!(out.truncated, "{cmd:?} was read to the end");
        assert!(
            out.stdout.len() + out.stderr.len() <= drydock::docker::engine::READ_CAP * 2,
            "{cmd:?}: {} bytes kept",
            out.stdout.len() + out.stderr.len()
        );
    }
    engine.remove(&container).await.unwrap();
    sampler.abort();
    let grew = peak.load(Ordering::SeqCst).saturating_sub(start);
    assert!(
        grew < 300 << 20,
        "the server grew by {} MiB while containers flooded it",
        grew >> 20
    );
    assert!(grading_leftovers(&app).is_empty());
}

// 4 --------------------------------------------------------------------------

#[tokio::test]
async fn builds_are_for_accounts_run_in_the_sandbox_and_stay_within_their_caps() {
    let app = spawn_app(TestDatabase::sqlite()).await;

    // A guest cannot build at all.
    let guest = Client::arrive(&app).await;
    let (status, body) = submit_dockerfile(&guest, "FROM drydock/busybox:1\n").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let learner = Client::registered(&app, "builder").await;
    // RUN steps run under gVisor, whose kernel greets in dmesg.
    let (status, body) = submit_dockerfile(
        &learner,
        "FROM drydock/busybox:1\nRUN dmesg | grep -q gVisor && echo SANDBOXED-STEP; false\n",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        notes_of(&body).contains("SANDBOXED-STEP"),
        "{}",
        notes_of(&body)
    );

    // Caps: one file, the whole step's disk, processes.
    for (dockerfile, expect) in [
        (
            "FROM drydock/busybox:1\nUSER 0\nRUN dd if=/dev/zero of=/big bs=1M count=400\n",
            // 153 = killed by SIGXFSZ.
            &["File too large", "File size limit", "non-zero code: 153"][..],
        ),
        (
            "FROM drydock/busybox:1\nUSER 0\nRUN for i in 1 2 3 4 5 6 7 8; do dd if=/dev/zero of=/f$i bs=1M count=200 2>/dev/null; done; sleep 5\n",
            &["to disk and was stopped"][..],
        ),
        (
            "FROM drydock/busybox:1\nRUN i=0; while [ $i -lt 3000 ]; do sleep 30 & i=$((i+1)); done; wait\n",
            &["can't fork", "Resource temporarily unavailable"][..],
        ),
    ] {
        let started = Instant::now();
        let (status, body) = submit_dockerfile(&learner, dockerfile).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let notes = notes_of(&body);
        assert!(expect.iter().any(|e| notes.contains(e)), "{dockerfile}: {notes}");
        assert!(started.elapsed() < Duration::from_secs(60));
    }
    // CVE-2024-21626 started from a working directory under /proc.
    let (_, body) = submit_dockerfile(
        &learner,
        "FROM drydock/busybox:1\nWORKDIR /proc/self/fd/7\nRUN true\n",
    )
    .await;
    assert!(notes_of(&body).contains("CVE-2024-21626"), "{body}");
    assert!(grading_leftovers(&app).is_empty());
    drop(app);

    // An engine whose default runtime is not the sandbox: no build at all,
    // and /readyz says why.
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.grading.build_runtime = "runsc-that-is-not-the-default".into();
    let app = spawn_app_with(db, config).await;
    let learner = Client::registered(&app, "builder").await;
    let (status, body) = submit_dockerfile(&learner, "FROM drydock/busybox:1\n").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("default-runtime"),
        "{body}"
    );
    let ready: Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["builds"].as_str().unwrap().starts_with("refused"),
        "{ready}"
    );
}

// 5 --------------------------------------------------------------------------

#[tokio::test]
async fn what_a_container_prints_can_fail_a_check_but_never_pass_one() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let checks = exercise(
        "forged-probe",
        "title = \"t\"\nsummary = \"s\"\nkind = \"run\"\ninstructions = \"i\"\nimage = \"webapp\"",
        &[
            ("RUN-NONROOT", ""),
            ("RUN-NO-NEW-PRIVS", ""),
            ("RUN-CAP-DROP-ALL", "allowed = []"),
        ],
        Some("drydock/webapp:1"),
    );
    // The container (root, writable root) replaces the cat the probe runs
    // with one that prints the status of a hardened process.
    let forge = r#"printf '#!/bin/busybox sh\necho Uid: 1000 1000 1000 1000\necho NoNewPrivs: 1\necho CapBnd: 0000000000000000\n' > /tmp/cat && chmod +x /tmp/cat && rm -f /bin/cat && cp /tmp/cat /bin/cat && exec sleep 600"#;
    let command = format!("docker run -d --entrypoint sh drydock/webapp:1 -c '{forge}'");
    let report = app
        .state
        .grading
        .grade(
            &checks,
            &drydock_app::api_exercises::Submission::Run { command },
            None,
        )
        .await
        .expect("graded");
    for check in &report.checks {
        assert!(
            !check.passed,
            "{} passed on what the container printed: {}",
            check.id,
            describe(&report)
        );
    }
    assert!(grading_leftovers(&app).is_empty());
}

// 6 --------------------------------------------------------------------------

#[tokio::test]
async fn every_client_has_its_own_address_and_a_class_can_share_one() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let alice = Client::registered(&app, "alice").await;
    drop(alice);

    // Someone at 127.0.0.2 guesses alice's password, over and over.
    let attacker = Client::from_ip(&app, "127.0.0.2");
    let mut refused = 0;
    for _ in 0..30 {
        let (status, _) = attacker
            .post(
                "/api/v1/auth/login",
                json!({"username": "alice", "password": "wrong guess"}),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "thirty quick guesses were never slowed down");
    // Alice, at 127.0.0.3, is not locked out.
    let alice = Client::from_ip(&app, "127.0.0.3");
    let (status, body) = alice
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The audit log names the guesser's address, not "unknown".
    let admin = Client::with_role(&app, "root", drydock::db::users::Role::Admin).await;
    let (_, audit) = admin.get("/api/v1/audit").await;
    let failed: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "login_failed")
        .collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|e| e["ip"] == "127.0.0.2"), "{failed:?}");

    // Someone who mistypes a dozen times gets a short, growing wait, never
    // a lock: the right password works from the same address once it is over.
    let typist = Client::from_ip(&app, "127.0.0.8");
    let mut waits = Vec::new();
    for _ in 0..12 {
        let resp = typist
            .http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "alice", "password": "mistyped"}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            waits.push(
                resp.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
    }
    assert!(
        !waits.is_empty() && waits.iter().all(|w| *w <= 2),
        "{waits:?}"
    );
    // Waiting as long as the server said is enough.
    let said = *waits.iter().max().unwrap();
    tokio::time::sleep(Duration::from_secs(said)).await;
    let (status, body) = typist
        .post(
            "/api/v1/auth/login",
            json!({"username": "alice", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let forger = Client::from_ip(&app, "127.0.0.4");
    let resp = forger
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.99")
        .json(&json!({"username": "nobody", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (_, audit) = admin.get("/api/v1/audit").await;
    assert!(audit.to_string().contains("127.0.0.4"));
    assert!(!audit.to_string().contains("198.51.100.99"));
    drop(app);

    // Behind a trusted proxy, the proxy's header names the client.
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.trusted_proxies = vec!["127.0.0.5".into()];
    let app = spawn_app_with(db, config).await;
    let proxy = Client::from_ip(&app, "127.0.0.5");
    let resp = proxy
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "6.6.6.6, 198.51.100.7")
        .json(&json!({"username": "nobody", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let admin = Client::with_role(&app, "root", drydock::db::users::Role::Admin).await;
    let (_, audit) = admin.get("/api/v1/audit").await;
    assert!(audit.to_string().contains("198.51.100.7"), "{audit}");
    assert!(!audit.to_string().contains("6.6.6.6"), "{audit}");

    // A class of 40 behind one school address: with the workshop's join
    // code, all of them register and join at once.
    let teacher = Client::with_role(&app, "teacher", drydock::db::users::Role::Instructor).await;
    let (status, created) = teacher
        .post(
            "/api/v1/workshops",
            json!({"title": "Period 3", "max_participants": 40}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let code = created["code"].as_str().unwrap().to_string();
    let started = Instant::now();
    let mut joins = Vec::new();
    for n in 0..40 {
        let code = code.clone();
        let student = Client::from_ip(&app, "127.0.0.6");
        joins.push(tokio::spawn(async move {
            student.visit_home().await;
            let (status, body) = student.post("/api/v1/auth/register",
                json!({"username": format!("student{n}"), "password": "a long password", "join_code": code}),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            let (status, body) = student.post("/api/v1/workshops/join",
                json!({"code": code}),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }));
    }
    for join in joins {
        join.await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(300));
    // Without a code, the same address is still limited.
    let mut limited = false;
    for n in 0..15 {
        let (status, _) = Client::from_ip(&app, "127.0.0.6")
            .post(
                "/api/v1/auth/register",
                json!({"username": format!("nocode{n}"), "password": "a long password"}),
            )
            .await;
        limited |= status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "registrations without a code were never limited");
}

// 7 --------------------------------------------------------------------------

#[tokio::test]
async fn scripted_guests_cannot_crowd_out_learners() {
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.auth.guests_per_ip = 10;
    config.content_dir = crate::common::labs::lab_content();
    config.labs.capacity = 4;
    config.labs.reap_interval_secs = 1;
    let app = spawn_app_with(db, config).await;
    let guests_now = || async {
        drydock::db::users::count_guests(&app.state.db)
            .await
            .unwrap()
    };

    // Twenty-five cookie-less page views from one address make ten guests.
    let before = guests_now().await;
    for _ in 0..25 {
        // A new client each time: a script that never keeps the cookie.
        Client::from_ip(&app, "127.0.0.7").visit_home().await;
    }
    assert_eq!(guests_now().await - before, 10);

    // Guests from many addresses ask for every lab slot; they get half.
    let mut guests = Vec::new();
    for n in 0..8 {
        let client = Client::from_ip(&app, &format!("127.0.1.{}", n + 1));
        client
            .http
            .get(app.url("/"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let (status, body) = client.post("/api/v1/labs", json!({"lab": "sandbox"})).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::ACCEPTED,
            "{status} {body}"
        );
        guests.push((client, status));
    }
    let running = guests
        .iter()
        .filter(|(_, s)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(running, 2, "guests hold at most half of the capacity");
    // A registered learner still starts at once.
    let learner = Client::registered(&app, "real-learner").await;
    let (status, body) = learner.start_lab("sandbox").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "running");
    let lab = body["id"].as_str().unwrap().to_string();
    assert_eq!(
        learner.delete(&format!("/api/v1/labs/{lab}")).await,
        StatusCode::NO_CONTENT
    );

    // Stale guests go, with their data.
    let old = drydock::db::now_ms() - 30 * 24 * 3_600_000;
    sqlx::query("UPDATE users SET last_seen_at = $1 WHERE role = 'guest'")
        .bind(old)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let removed =
        drydock::db::users::prune_guests(&app.state.db, drydock::db::now_ms() - 3_600_000)
            .await
            .unwrap();
    assert!(removed >= 10, "removed {removed}");
    // Guests with a lab running are kept until it ends.
    assert!(guests_now().await >= 2);
    crate::common::labs::remove_lab_containers(&app).await;
}

async fn attempts_are_counted_atomically(backend: Backend) {
    let app = spawn_app(TestDatabase::of(backend).await).await;
    let learner = Client::registered(&app, "guesser").await;
    // leaked-password allows 10 attempts; fifty guesses arrive at once.
    let mut guesses = Vec::new();
    for n in 0..50 {
        let http = learner.http.clone();
        let url = app.url("/api/v1/exercises/leaked-password/submissions");
        guesses.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"kind": "flag", "value": format!("guess-{n}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut graded = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::CREATED => graded += 1,
            StatusCode::CONFLICT | StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(graded, 10, "exactly the allowed attempts are graded");
    let (_, history) = learner
        .get("/api/v1/exercises/leaked-password/submissions")
        .await;
    let numbers: std::collections::BTreeSet<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=10).collect());

    // A guest's gradings that need the engine run one at a time.
    let guest = Client::arrive(&app).await;
    let mut both = Vec::new();
    for _ in 0..2 {
        let http = guest.http.clone();
        let url = app.url("/api/v1/exercises/least-privilege-run/submissions");
        both.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"kind": "run", "command": "docker run -d drydock/webapp:1"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for b in both {
        statuses.push(b.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::CREATED, StatusCode::TOO_MANY_REQUESTS]
    );
}

#[tokio::test]
async fn attempts_are_counted_atomically_on_sqlite() {
    attempts_are_counted_atomically(Backend::Sqlite).await;
}

#[tokio::test]
async fn attempts_are_counted_atomically_on_postgres() {
    attempts_are_counted_atomically(Backend::Postgres).await;
}

// 8 --------------------------------------------------------------------------

#[tokio::test]
async fn the_grading_container_is_built_from_an_allow_list() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let grader = &app.state.grading;
    let checks = exercise(
        "allow-list",
        "title = \"t\"\nsummary = \"s\"\nkind = \"run\"\ninstructions = \"i\"\nimage = \"webapp\"",
        &[
            ("RUN-NONROOT", ""),
            ("RUN-ULIMITS", "max_nofile = 65536"),
            ("RUN-LSM", ""),
        ],
        Some("drydock/webapp:1"),
    );
    // Refused outright: not started, the check says why.
    for (flag, check) in [
        ("--ulimit rtprio=99", "RUN-ULIMITS"),
        ("--cap-add SYS_NICE", "RUN-NONROOT"),
        ("--cap-add cap_sys_nice", "RUN-NONROOT"),
        ("--security-opt label=type:spc_t", "RUN-LSM"),
        ("--security-opt apparmor=my-permissive-profile", "RUN-LSM"),
        ("-w /proc/self/fd/7", "RUN-NONROOT"),
        ("--workdir=/app/../proc/1/cwd", "RUN-NONROOT"),
    ] {
        let report = grader
            .grade(
                &checks,
                &drydock_app::api_exercises::Submission::Run {
                    command: format!("docker run -d {flag} drydock/webapp:1"),
                },
                None,
            )
            .await
            .expect("graded");
        let c = report.checks.iter().find(|c| c.id == check).unwrap();
        assert!(!c.passed, "{flag}: {}", describe(&report));
        assert!(
            report.notes.iter().any(|n| n.contains("did not start")),
            "{flag}: {}",
            describe(&report)
        );
    }

    // Passed through no more: what the engine ran is bounded, whatever was asked.
    let spec = drydock_grader::input::run_command::parse_run_command(
        "docker run -d --log-driver json-file --log-opt max-size=100g --log-opt max-file=999 --log-opt labels=x --oom-kill-disable \
         --userns host --sysctl net.ipv4.ip_forward=1 --cpuset-cpus 0 --cpu-shares 262144 \
         --ulimit nofile=99999999 --group-add root -v data:/data drydock/webapp:1",
    )
    .unwrap();
    let image = app
        .state
        .engine
        .image("drydock/webapp:1")
        .await
        .unwrap()
        .unwrap();
    let target = drydock::grading::runner::run::RunTarget {
        tag: "drydock/webapp:1".into(),
        id: image.id.unwrap(),
    };
    let name = format!(
        "drydock-grade-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let job = drydock::grading::runner::run::RunJob {
        engine: &app.state.engine,
        settings: &app.state.config.grading,
        runtime: Some("runsc"),
        target: &target,
        labels: vec![
            ("drydock.managed".into(), "true".into()),
            (
                "drydock.instance".into(),
                app.state.config.labs.instance.clone(),
            ),
            ("drydock.grading".into(), name.clone()),
        ],
        name,
        wait_health: false,
        engine_security: &[],
    };
    let (evidence, _) = drydock::grading::runner::run::collect(&job, spec)
        .await
        .unwrap();
    let host = evidence.inspect.unwrap().host_config.unwrap();
    let log = host.log_config.unwrap().config.unwrap();
    assert_eq!(
        log.get("max-size").map(String::as_str),
        Some("10m"),
        "{log:?}"
    );
    assert_eq!(
        log.get("max-file").map(String::as_str),
        Some("5"),
        "{log:?}"
    );
    assert!(!log.contains_key("labels"), "{log:?}");
    assert_ne!(host.oom_kill_disable, Some(true));
    assert!(host.userns_mode.as_deref().unwrap_or("").is_empty());
    assert!(host.sysctls.unwrap_or_default().is_empty());
    assert!(host.cpuset_cpus.unwrap_or_default().is_empty());
    assert!(host.cpu_shares.unwrap_or(0) <= 1024);
    assert!(host.group_add.unwrap_or_default().is_empty());
    let nofile = host
        .ulimits
        .unwrap_or_default()
        .into_iter()
        .find(|u| u.name.as_deref() == Some("nofile"))
        .unwrap();
    assert!(nofile.hard.unwrap() <= 1_048_576);
    let mount = &host.mounts.unwrap()[0];
    let options = mount
        .volume_options
        .as_ref()
        .and_then(|v| v.driver_config.as_ref())
        .and_then(|d| d.options.clone())
        .unwrap();
    assert_eq!(options.get("type").map(String::as_str), Some("tmpfs"));
    assert_eq!(options.get("o").map(String::as_str), Some("size=16m"));

    // A Dockerfile that fails to build proves nothing about its USER.
    let dockerfile_checks = exercise(
        "static-guess",
        "title = \"t\"\nsummary = \"s\"\nkind = \"dockerfile\"\ninstructions = \"i\"\nbuild_timeout_secs = 60",
        &[("IMG-NONROOT-USER", "")],
        None,
    );
    let report = grader
        .grade(
            &dockerfile_checks,
            &drydock_app::api_exercises::Submission::Dockerfile {
                dockerfile: "FROM drydock/busybox:1\nUSER 0\nRUN echo 'svc:x:0:0::/:/bin/sh' >> /etc/passwd && false\nUSER svc\n".into(),
                files: Default::default(),
            },
            None,
        )
        .await
        .expect("graded");
    assert!(!report.checks[0].passed, "{}", describe(&report));
    assert!(grading_leftovers(&app).is_empty());
}

// 9 --------------------------------------------------------------------------

async fn join(learner: &Client, code: &str) {
    let (status, body) = learner
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn user_id(learner: &Client) -> i64 {
    learner.get("/api/v1/me").await.1["id"].as_i64().unwrap()
}

#[tokio::test]
async fn access_ends_where_it_should_streams_shadows_sessions() {
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.content_dir = crate::common::labs::lab_content();
    config.labs.capacity = 6;
    let app = spawn_app_with(db, config).await;
    let teacher = Client::with_role(&app, "teacher", drydock::db::users::Role::Instructor).await;

    // reserved_labs beyond the server's capacity is refused.
    let (status, body) = teacher
        .post(
            "/api/v1/workshops",
            json!({"title": "Too many", "labs": ["sandbox"], "max_participants": 50, "reserved_labs": 40}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, created) = teacher
        .post(
            "/api/v1/workshops",
            json!({"title": "Streams", "labs": ["sandbox"], "max_participants": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let code = created["code"].as_str().unwrap().to_string();
    let events = app.url(&format!("/api/v1/workshops/{id}/events"));

    // A removed learner's stream ends.
    let removed = Client::registered(&app, "removed").await;
    join(&removed, &code).await;
    let mut stream = EventStream::open(&removed, &events).await.unwrap();
    stream
        .wait_for("snapshot", Duration::from_secs(5), |_| true)
        .await;
    let uid = user_id(&removed).await;
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{uid}/remove"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    stream
        .wait_for("ended", Duration::from_secs(5), |_| true)
        .await;

    // One person holds a few streams open at most.
    let tabs = Client::registered(&app, "many-tabs").await;
    join(&tabs, &code).await;
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(EventStream::open(&tabs, &events).await.expect("a tab"));
    }
    assert_eq!(
        EventStream::open(&tabs, &events).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    drop(open);

    // A stream ends when its session logs out.
    let leaver = Client::registered(&app, "leaver").await;
    join(&leaver, &code).await;
    let mut stream = EventStream::open(&leaver, &events).await.unwrap();
    stream
        .wait_for("snapshot", Duration::from_secs(5), |_| true)
        .await;
    let (status, _) = leaver.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    stream
        .wait_for("ended", Duration::from_secs(5), |_| true)
        .await;

    // A password change ends the account's other sessions.
    let phone = Client::registered(&app, "two-devices").await;
    let laptop = Client::arrive(&app).await;
    let (status, _) = laptop
        .post(
            "/api/v1/auth/login",
            json!({"username": "two-devices", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = laptop
        .post(
            "/api/v1/auth/password",
            json!({"current_password": "a long password", "new_password": "another long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(laptop.get("/api/v1/me").await.1["username"], "two-devices");
    let (status, _) = phone.get("/api/v1/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the other session lives on"
    );

    // Shadowing: only the workshop's labs, only what comes after the watch
    // begins, and only while the workshop runs.
    let learner = Client::registered(&app, "watched").await;
    join(&learner, &code).await;
    let uid = user_id(&learner).await;
    let (status, body) = learner.start_lab("second").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let shadow = format!("/api/v1/workshops/{id}/learners/{uid}/terminal");
    assert_eq!(
        teacher.terminal_at(&shadow).await.err(),
        Some(409),
        "a lab outside the workshop is not the instructor's to watch"
    );
    let other = body["id"].as_str().unwrap().to_string();
    let (status, body) = learner
        .post("/api/v1/labs", json!({"lab": "sandbox", "replace": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(body["id"].as_str().unwrap(), other);
    let lab = body["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&lab).await.unwrap();
    term.run("echo before-the-watch-$((6*7))").await;
    term.expect("before-the-watch-42").await;
    let mut watch = teacher.terminal_at(&shadow).await.unwrap();
    term.run("echo after-the-watch-$((6*7))").await;
    let seen = watch
        .read_until_any(0, &["after-the-watch-42"], Duration::from_secs(10))
        .await;
    assert!(!seen.contains("before-the-watch-42"), "{seen}");
    let (status, _) = teacher
        .post(&format!("/api/v1/workshops/{id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = learner.start_lab("sandbox").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(teacher.terminal_at(&shadow).await.err(), Some(409));
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{uid}/reset-lab"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    term.close().await;
    watch.close().await;
    crate::common::labs::remove_lab_containers(&app).await;
}

#[tokio::test]
async fn build_output_cannot_name_someone_elses_image_for_removal() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    // An untagged image made outside this build (another build's leftover,
    // another learner's work).
    let container = docker(&[
        "create",
        "--label",
        "drydock.attacks=1",
        "drydock/busybox:1",
        "true",
    ]);
    let untagged = docker(&["commit", &container]);
    docker(&["rm", &container]);
    let short = untagged.trim_start_matches("sha256:")[..12].to_string();
    let learner = Client::registered(&app, "namer").await;
    let (status, body) = submit_dockerfile(
        &learner,
        &format!("FROM drydock/busybox:1\nRUN echo ' ---> {short}'; echo '---> {short}'; false\n"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Still there (docker() fails the test when inspect does).
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Id}}", &untagged]),
        untagged
    );
    docker(&["rmi", &untagged]);
    assert!(grading_leftovers(&app).is_empty());
}

#[tokio::test]
async fn guest_work_joins_an_account_under_the_accounts_rules() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let teacher = Client::with_role(&app, "teacher", drydock::db::users::Role::Instructor).await;
    // An account with 8 of its 10 attempts used.
    let account = Client::registered(&app, "returning").await;
    for n in 0..8 {
        let (status, body) = account
            .submit(
                "leaked-password",
                json!({"kind": "flag", "value": format!("account-{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // As a guest, the same person makes 5 more.
    let guest = Client::arrive(&app).await;
    for n in 0..5 {
        let (status, _) = guest
            .submit(
                "leaked-password",
                json!({"kind": "flag", "value": format!("guest-{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = guest
        .post(
            "/api/v1/auth/login",
            json!({"username": "returning", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, history) = guest
        .get("/api/v1/exercises/leaked-password/submissions")
        .await;
    assert_eq!(
        history.as_array().unwrap().len(),
        10,
        "no more than the limit"
    );
    let (status, _) = guest
        .submit(
            "leaked-password",
            json!({"kind": "flag", "value": "one more"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A learner of a workshop that takes no late work: guest attempts made
    // after its deadline are not carried in.
    let (status, created) = teacher
        .post(
            "/api/v1/workshops",
            json!({"title": "Strict", "exercises": ["leaked-password"],
                   "deadlines": {"leaked-password": drydock::db::now_ms() - 60_000},
                   "accept_late": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let strict = Client::registered(&app, "strict").await;
    let (status, body) = strict
        .post("/api/v1/workshops/join", json!({"code": created["code"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let guest = Client::arrive(&app).await;
    let (status, _) = guest
        .submit(
            "leaked-password",
            json!({"kind": "flag", "value": "late as a guest"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = guest
        .post(
            "/api/v1/auth/login",
            json!({"username": "strict", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, history) = guest
        .get("/api/v1/exercises/leaked-password/submissions")
        .await;
    assert!(history.as_array().unwrap().is_empty(), "{history}");
}

#[tokio::test]
async fn a_rebinding_page_is_another_site() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let port = app.addr.port();
    let client = Client::from_ip(&app, "127.0.0.1");
    for (origin, host) in [
        (
            format!("http://evil.example:{port}"),
            format!("evil.example:{port}"),
        ),
        ("null".to_string(), format!("127.0.0.1:{port}")),
        (
            format!("http://127.0.0.1:{}", port + 1),
            format!("127.0.0.1:{port}"),
        ),
    ] {
        let resp = client
            .http
            .post(app.url("/api/v1/auth/login"))
            .header("origin", &origin)
            .header("host", &host)
            .json(&json!({"username": "x", "password": "y"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{origin} / {host}");
    }
    let resp = client
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("origin", format!("http://localhost:{port}"))
        .json(&json!({"username": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "this site itself");

    // Serving beyond loopback needs a public address.
    let mut config = test_config(&TestDatabase::sqlite());
    config.bind = "0.0.0.0:0".parse().unwrap();
    let err = drydock::Application::build(config).await.err().unwrap();
    assert!(err.to_string().contains("public_url"), "{err}");
}
