//! A workshop under load, release build, on loopback.
//!
//! 1. What watching costs: one learner makes progress five times a second
//!    while 1, then 10 instructor dashboards are open; the database queries
//!    per second of each phase (counted from sqlx's own query events) should
//!    be the same: progress is computed once per change, not per dashboard.
//! 2. A lecture hall: 100 learners (DRYDOCK_BENCH_LEARNERS) register, join,
//!    start the workshop's lab (capacity 60: the rest queue and see their
//!    place), submit a hardened run command and stop their lab, all at once,
//!    within two minutes, while the instructor watches. Reports errors
//!    (target 0), lab start and grading latency, and how long the
//!    dashboard's event stream takes to show each new score (target ≤ 1 s).
//!
//! `make bench-workshop` (or `cargo bench -p drydock --bench workshop_load`).
//! A watchdog ends the whole run (removing its containers) if it is still
//! going after five minutes. `RUST_LOG=drydock=warn` shows the server's
//! reasons for any errors.

// The integration tests' helpers; a benchmark uses only some of them.
#[allow(dead_code)]
#[path = "../tests/api/common/mod.rs"]
mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{labs::lab_containers, remove_instance_containers, spawn_app_with, test_config};
use drydock::{accounts::service::create_user, db::users::Role};
use futures_util::StreamExt;
use reqwest::{Client, Method};
use serde_json::{json, Value};

const CAPACITY: usize = 60;
/// The lesson the busy learner of the watching-cost phase completes and
/// un-completes.
const WATCH_LESSON: &str = "security/container-privileges";
const LAB: &str = "container-privileges";
const EXERCISE: &str = "least-privilege-run";
const FULL_MARKS: u64 = 16;
const HARDENED: &str = "docker run -d --user 1000:1000 --cap-drop ALL \
    --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m \
    --network none --memory 128m --pids-limit 100 drydock/webapp:1";
/// The learners' share of the run.
const LEARNER_DEADLINE: Duration = Duration::from_secs(120);
/// The whole run, set-up and clean-up included.
const HARD_LIMIT: Duration = Duration::from_secs(300);
const DASHBOARD_TARGET: Duration = Duration::from_secs(1);
/// Each watching-cost phase.
const WATCH_PHASE: Duration = Duration::from_secs(8);

fn learners() -> usize {
    std::env::var("DRYDOCK_BENCH_LEARNERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// Counts the queries sqlx runs (its `sqlx::query` events).
struct QueryCounter(Arc<std::sync::atomic::AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QueryCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// One participant's browser: its own cookies, calls that report instead of panicking.
struct Participant {
    http: Client,
    base: String,
}

impl Participant {
    /// `timeout` bounds each whole request, body included (`None` for streams).
    fn new(base: &str, timeout: Option<Duration>) -> Self {
        let mut builder = Client::builder().cookie_store(true);
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        Self {
            http: builder.build().expect("http client"),
            base: base.to_string(),
        }
    }

    /// A JSON call; `Err` says what went wrong (non-2xx status, timeout, transport).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let body = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok((status.as_u16(), body))
        } else {
            Err(format!("{method} {path}: {status} {body}"))
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), String> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Submits an attempt at `exercise`.
    async fn submit(&self, exercise: &str, submission: Value) -> Result<(u16, Value), String> {
        self.post(
            &format!("/api/v1/exercises/{exercise}/submissions"),
            submission,
        )
        .await
    }
}

/// What one learner measured.
#[derive(Default)]
struct Outcome {
    username: String,
    lab: Option<String>,
    lab_start: Option<Duration>,
    grading: Option<Duration>,
    score: Option<u64>,
    /// When the graded submission's response arrived.
    graded_at: Option<Instant>,
    /// The place in the queue the learner was told, if they waited.
    queued_at: Option<u64>,
    /// Whether the learner stopped the lab themselves.
    stopped: bool,
    errors: Vec<String>,
}

/// Register, join, start the lab (waiting through the queue if any), submit.
async fn learn(base: String, n: usize, code: String, out: Arc<Mutex<Outcome>>) {
    let me = Participant::new(&base, Some(Duration::from_secs(60)));
    let username = format!("learner{n:02}");
    out.lock().unwrap().username = username.clone();
    let step = async {
        me.call(Method::GET, "/", None).await?;
        me.post(
            "/api/v1/auth/register",
            json!({"username": username, "password": "a long password"}),
        )
        .await?;
        me.post("/api/v1/workshops/join", json!({ "code": code }))
            .await?;

        let asked = Instant::now();
        let (status, mut lab) = me.post("/api/v1/labs", json!({ "lab": LAB })).await?;
        let id = lab["id"].as_str().unwrap_or_default().to_string();
        out.lock().unwrap().lab = Some(id.clone());
        if status != 201 {
            out.lock().unwrap().queued_at = lab["position"].as_u64();
            // Queued: a real browser would poll the same way.
            while lab["status"] != "running" {
                tokio::time::sleep(Duration::from_millis(200)).await;
                lab = me
                    .call(Method::GET, &format!("/api/v1/labs/{id}"), None)
                    .await?
                    .1;
                if lab["status"] == "ended" {
                    return Err(format!("lab {id} ended while queued: {lab}"));
                }
            }
        }
        out.lock().unwrap().lab_start = Some(asked.elapsed());

        let asked = Instant::now();
        let (_, graded) = me
            .submit(EXERCISE, json!({"kind": "run", "command": HARDENED}))
            .await?;
        {
            let mut o = out.lock().unwrap();
            o.grading = Some(asked.elapsed());
            o.graded_at = Some(Instant::now());
            o.score = graded["report"]["score"].as_u64();
        }
        // Done: the learner stops the lab, and the next in line gets it.
        me.call(Method::DELETE, &format!("/api/v1/labs/{id}"), None)
            .await?;
        out.lock().unwrap().stopped = true;
        Ok::<(), String>(())
    };
    if let Err(e) = step.await {
        out.lock().unwrap().errors.push(e);
    }
}

/// When the dashboard first showed full marks for each learner (by username).
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// Reads the instructor's event stream, noting when each learner's row first
/// shows full marks. `learner` events carry one row; a `snapshot` (sent when
/// the roster changes) carries every row, and counts as showing them too.
async fn watch_dashboard(resp: reqwest::Response, seen: Seen, events: Arc<Mutex<usize>>) {
    let mut stream = resp.bytes_stream();
    let mut buffer = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            let mut kind = "";
            let mut data = String::new();
            for line in message.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            let rows: Vec<Value> = match kind {
                "learner" => vec![serde_json::from_str(&data).unwrap_or(Value::Null)],
                "snapshot" => serde_json::from_str::<Value>(&data)
                    .ok()
                    .and_then(|p| p["learners"].as_array().cloned())
                    .unwrap_or_default(),
                _ => continue,
            };
            *events.lock().unwrap() += 1;
            let now = Instant::now();
            for row in rows {
                let full = row["exercises"].as_array().is_some_and(|cells| {
                    cells
                        .iter()
                        .any(|c| c["exercise"] == EXERCISE && c["best"] == FULL_MARKS)
                });
                if let (true, Some(name)) = (full, row["username"].as_str()) {
                    seen.lock().unwrap().entry(name.to_string()).or_insert(now);
                }
            }
        }
    }
}

/// The live event stream of workshop `id`, opened by `watcher`.
async fn open_dashboard(watcher: &Participant, id: &str) -> reqwest::Response {
    let stream = watcher
        .http
        .get(format!("{}/api/v1/workshops/{id}/events", watcher.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("event stream opens");
    assert!(stream.status().is_success(), "{}", stream.status());
    stream
}

/// Database queries per second while one learner makes progress, with 1 and
/// then 10 dashboards open on workshop `id`, each by its own person (an
/// administrator, who may watch any workshop; one person's tabs are limited).
async fn watching_cost(
    db: &drydock::db::Db,
    base: &str,
    id: &str,
    code: &str,
    queries: &std::sync::atomic::AtomicU64,
) -> (f64, f64) {
    let busy = Participant::new(base, Some(Duration::from_secs(30)));
    busy.call(Method::GET, "/", None).await.expect("visit");
    busy.post(
        "/api/v1/auth/register",
        json!({"username": "busy-learner", "password": "a long password"}),
    )
    .await
    .expect("register");
    busy.post("/api/v1/workshops/join", json!({ "code": code }))
        .await
        .expect("join");
    for n in 0..10 {
        create_user(
            db,
            &format!("watcher{n}"),
            "a long password",
            Role::Admin,
            10,
        )
        .await
        .expect("watcher created");
    }
    let mut rates = Vec::new();
    for dashboards in [1, 10] {
        let mut open = Vec::new();
        for n in 0..dashboards {
            let teacher = Participant::new(base, None);
            teacher
                .post(
                    "/api/v1/auth/login",
                    json!({"username": format!("watcher{n}"), "password": "a long password"}),
                )
                .await
                .expect("watcher logs in");
            let stream = open_dashboard(&teacher, id).await;
            let events = Arc::new(Mutex::new(0usize));
            open.push(tokio::spawn(watch_dashboard(
                stream,
                Seen::default(),
                events,
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = queries.load(std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let mut done = false;
        while started.elapsed() < WATCH_PHASE {
            done = !done;
            busy.post(
                &format!("/api/v1/lessons/{WATCH_LESSON}/complete"),
                json!({ "complete": done }),
            )
            .await
            .expect("progress");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let counted = queries.load(std::sync::atomic::Ordering::Relaxed) - before;
        rates.push(counted as f64 / started.elapsed().as_secs_f64());
        for stream in open {
            stream.abort();
        }
    }
    (rates[0], rates[1])
}

/// Nearest-rank percentile of a non-empty list.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(name: &str, mut values: Vec<Duration>, target: &str) {
    values.sort();
    if values.is_empty() {
        println!("{name:<18} no samples{target}");
        return;
    }
    println!(
        "{name:<18} p50 {:>7.0} ms   p95 {:>7.0} ms   max {:>7.0} ms   (n={}){target}",
        percentile(&values, 50.0).as_secs_f64() * 1000.0,
        percentile(&values, 95.0).as_secs_f64() * 1000.0,
        values.last().unwrap().as_secs_f64() * 1000.0,
        values.len()
    );
}

#[tokio::main]
async fn main() {
    use tracing_subscriber::{layer::SubscriberExt, Layer};
    let queries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = QueryCounter(queries.clone()).with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::TRACE),
    );
    let logs = std::env::var_os("RUST_LOG").map(|_| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::from_default_env())
    });
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(counter).with(logs),
    )
    .expect("the benchmark's subscriber is the first");
    let learners = learners();
    let db = common::TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.labs.capacity = CAPACITY;
    // Every registration comes from one address (loopback).
    config.auth.register_per_ip = 1000;
    config.auth.login_per_ip = 1000;
    let instance = config.labs.instance.clone();
    let grading_slots = config.grading.concurrency;
    let start_slots = config.labs.start_concurrency;

    // Whatever happens, the run ends by itself and leaves no container behind.
    {
        let instance = instance.clone();
        std::thread::spawn(move || {
            std::thread::sleep(HARD_LIMIT);
            eprintln!("workshop_load: still running after {HARD_LIMIT:?}; stopping");
            remove_instance_containers(&instance);
            std::process::exit(2);
        });
    }

    let app = spawn_app_with(db, config).await;
    let base = app.url("");
    let runtime = if app.state.engine.offers_gvisor().await.unwrap_or(false) {
        "runsc"
    } else {
        "runc"
    };
    println!(
        "Workshop load — {learners} learners at once, lab {LAB} ({runtime}), exercise {EXERCISE}, \
         lab capacity {CAPACITY}, lab starts at once {start_slots}, grading slots {grading_slots}\n"
    );

    create_user(
        &app.state.db,
        "teacher",
        "a long password",
        Role::Instructor,
        10,
    )
    .await
    .expect("instructor created");
    let teacher = Participant::new(&base, None);
    teacher
        .post(
            "/api/v1/auth/login",
            json!({"username": "teacher", "password": "a long password"}),
        )
        .await
        .expect("instructor logs in");
    let (_, workshop) = teacher
        .post(
            "/api/v1/workshops",
            json!({
                "title": "Hardening under load",
                "labs": [LAB],
                "exercises": [EXERCISE],
                "lessons": [WATCH_LESSON],
                "reserved_labs": CAPACITY,
                "max_participants": learners + 1,
            }),
        )
        .await
        .expect("workshop created");
    let id = workshop["id"].as_str().unwrap().to_string();
    let code = workshop["code"].as_str().unwrap().to_string();

    let stream = open_dashboard(&teacher, &id).await;
    let seen: Seen = Arc::default();
    let events = Arc::new(Mutex::new(0usize));
    let watcher = tokio::spawn(watch_dashboard(stream, seen.clone(), events.clone()));

    let (one, ten) = watching_cost(&app.state.db, &base, &id, &code, &queries).await;
    println!(
        "watching cost: {one:.1} database queries/s with 1 dashboard open, {ten:.1} with 10 \
         = {:.2}× (target ≤ 1.0×, while a learner makes progress 5 times a second)\n",
        ten / one
    );

    let outcomes: Vec<Arc<Mutex<Outcome>>> = (0..learners).map(|_| Arc::default()).collect();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + LEARNER_DEADLINE;
    let tasks: Vec<_> = outcomes
        .iter()
        .enumerate()
        .map(|(n, out)| {
            let (base, code, out) = (base.clone(), code.clone(), out.clone());
            tokio::spawn(async move {
                let timed_out =
                    tokio::time::timeout_at(deadline, learn(base, n, code, out.clone()))
                        .await
                        .is_err();
                if timed_out {
                    out.lock()
                        .unwrap()
                        .errors
                        .push("did not finish within the deadline".into());
                }
            })
        })
        .collect();
    for (task, out) in tasks.into_iter().zip(&outcomes) {
        if let Err(e) = task.await {
            out.lock().unwrap().errors.push(format!("task failed: {e}"));
        }
    }
    let learners_done = started.elapsed();

    // Give the dashboard a last chance to show the final scores.
    let graded: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            let o = o.lock().unwrap();
            (o.score == Some(FULL_MARKS)).then(|| o.username.clone())
        })
        .collect();
    let settle = Instant::now() + Duration::from_secs(5);
    loop {
        let waiting = {
            let seen = seen.lock().unwrap();
            graded.iter().any(|u| !seen.contains_key(u))
        };
        if !waiting || Instant::now() >= settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();

    let seen = seen.lock().unwrap().clone();
    let mut errors = Vec::new();
    let (mut starts, mut gradings, mut dashboard) = (Vec::new(), Vec::new(), Vec::new());
    let mut not_full = 0;
    let mut missed = 0;
    for o in &outcomes {
        let o = o.lock().unwrap();
        errors.extend(o.errors.iter().map(|e| format!("{}: {e}", o.username)));
        starts.extend(o.lab_start);
        gradings.extend(o.grading);
        if o.grading.is_some() && o.score != Some(FULL_MARKS) {
            not_full += 1;
        }
        if let (Some(graded_at), Some(FULL_MARKS)) = (o.graded_at, o.score) {
            match seen.get(&o.username) {
                // The stream may show the score before the response arrives: 0.
                Some(at) => dashboard.push(at.saturating_duration_since(graded_at)),
                None => missed += 1,
            }
        }
    }

    // Stop every lab through the API, as the learners' "Stop" buttons would.
    let mut stopped = 0;
    let labs: Vec<(String, String)> = outcomes
        .iter()
        .filter_map(|o| {
            let o = o.lock().unwrap();
            (!o.stopped).then_some(())?;
            Some((o.username.clone(), o.lab.clone()?))
        })
        .collect();
    for (username, lab) in &labs {
        let learner = Participant::new(&base, Some(Duration::from_secs(30)));
        let logged_in = learner
            .post(
                "/api/v1/auth/login",
                json!({"username": username, "password": "a long password"}),
            )
            .await;
        match (
            logged_in,
            learner
                .call(Method::DELETE, &format!("/api/v1/labs/{lab}"), None)
                .await,
        ) {
            (Ok(_), Ok(_)) => stopped += 1,
            (Err(e), _) | (_, Err(e)) => errors.push(format!("{username}: stopping: {e}")),
        }
    }
    let left_running = labs.len();
    let queued: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| o.lock().unwrap().queued_at)
        .collect();
    let left = lab_containers(&app).await.len();

    println!(
        "learners finished in {:.1} s; the dashboard received {} learner/snapshot events\n",
        learners_done.as_secs_f64(),
        events.lock().unwrap()
    );
    println!(
        "{:<18} {}   (target 0)",
        "errors",
        errors.len() + missed + not_full
    );
    if missed > 0 {
        println!("  {missed} full-marks scores never appeared on the dashboard");
    }
    if not_full > 0 {
        println!("  {not_full} hardened submissions did not get {FULL_MARKS}");
    }
    for e in errors.iter().take(10) {
        println!("  {e}");
    }
    report("lab start", starts, "   (request → 201 running)");
    report("grading", gradings, "   (request → 201 graded)");
    report(
        "dashboard update",
        dashboard,
        &format!("   (target p95 ≤ {} ms)", DASHBOARD_TARGET.as_millis()),
    );
    println!(
        "\n{} learners waited in the queue, told their place (first place told: {:?}, last: {:?})",
        queued.len(),
        queued.iter().min(),
        queued.iter().max()
    );
    println!(
        "labs the learners did not stop themselves: {left_running}, stopped afterwards: {stopped}; \
         containers left: {left} (target 0)"
    );

    drop(teacher);
    // TestApp's Drop also removes anything of this instance still on the engine.
    drop(app);
}
