//! Lab benchmarks, release build, all figures from one run:
//! - lab ready (API start → shell prompt read over the WebSocket), cold and
//!   from the warm pool, vs `docker run --rm <lab image> true` by the CLI
//!   with the same runtime (targets ≤ 1.0× cold, ≤ 0.15× warm);
//! - idle labs: host memory per idle lab and how many fit in the memory
//!   available (targets ≤ 8 MiB, ≥ 500);
//! - keystroke echo through Drydock's terminal vs a raw `docker exec` TTY
//!   through the Docker API (target ≤ 1.5×).
//!
//! `make bench-labs` (or `cargo bench -p drydock --bench labs`).
//! DRYDOCK_BENCH_IDLE sets how many idle labs to start (default 40).

// The integration tests' helpers; a benchmark uses only some of them.
#[allow(dead_code)]
#[path = "../tests/api/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{
    client::Client,
    labs::{lab_content, remove_lab_containers},
    spawn_app_with, test_config, TestApp, TestDatabase,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn app(warm: usize, capacity: usize) -> TestApp {
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.content_dir = lab_content();
    config.labs.capacity = capacity;
    config.labs.reap_interval_secs = 1;
    if warm > 0 {
        config.labs.warm_pool.insert("sandbox".into(), warm);
    }
    spawn_app_with(db, config).await
}

/// API start → prompt over the WebSocket, then stop.
async fn lab_ready(learner: &Client) -> Duration {
    let started = Instant::now();
    let (status, lab) = learner.start_lab("sandbox").await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&id).await.unwrap();
    term.read_until_from(0, "sandbox:", Duration::from_secs(30))
        .await;
    let took = started.elapsed();
    term.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    took
}

async fn wait_for_pool(app: &TestApp, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while app
        .state
        .labs
        .pool_sizes()
        .get("sandbox")
        .copied()
        .unwrap_or(0)
        < want
    {
        assert!(Instant::now() < deadline, "the warm pool did not fill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// One keystroke's echo through the WebSocket, `n` times.
async fn echo_via_drydock(learner: &Client, id: &str, n: usize) -> Vec<Duration> {
    let mut term = learner.terminal(id).await.unwrap();
    term.read_until_from(0, "sandbox:", Duration::from_secs(30))
        .await;
    let mut times = Vec::new();
    for i in 0..n {
        let key = char::from(b'a' + (i % 26) as u8).to_string();
        let from = term.seen.len();
        let t = Instant::now();
        term.send(&key).await;
        term.read_until_from(from, &key, Duration::from_secs(10))
            .await;
        times.push(t.elapsed());
    }
    term.send("\u{3}").await;
    term.close().await;
    times
}

/// The same through a raw TTY exec on the same container.
async fn echo_via_docker(app: &TestApp, container: &str, n: usize) -> Vec<Duration> {
    let mut shell = app
        .state
        .engine
        .open_shell(container, &["/bin/sh"], "1000:1000", &["PS1=raw$ ".into()])
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("raw$") {
        let chunk: bytes::Bytes = shell.output.next().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut times = Vec::new();
    for i in 0..n {
        let key = char::from(b'a' + (i % 26) as u8).to_string();
        let from = seen.len();
        let t = Instant::now();
        shell.input.write_all(key.as_bytes()).await.unwrap();
        shell.input.flush().await.unwrap();
        while !seen[from..].contains(&key) {
            let chunk = shell.output.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        times.push(t.elapsed());
    }
    times
}

#[tokio::main]
async fn main() {
    let engine = drydock::docker::engine::Engine::connect(None, Duration::from_secs(10)).unwrap();
    let runsc = engine.offers_gvisor().await.unwrap();
    let runtime = if runsc { "runsc" } else { "runc" };
    println!("Lab benchmarks — runtime {runtime}, {RUNS} runs each, medians\n");

    // Baseline: the Docker CLI starting and removing a container.
    let mut cli = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let status = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--runtime",
                runtime,
                "drydock/busybox:1",
                "true",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        cli.push(t.elapsed());
    }
    let cli = median(cli);
    println!(
        "docker run --rm drydock/busybox:1 true (CLI):  {:8.1} ms",
        ms(cli)
    );

    // Cold start.
    let cold_app = app(0, 100).await;
    let learner = Client::arrive(&cold_app).await;
    let mut cold = Vec::new();
    for _ in 0..RUNS {
        cold.push(lab_ready(&learner).await);
    }
    let cold = median(cold);
    println!(
        "lab ready, cold (API → prompt):                {:8.1} ms   {:.2}×  (target ≤ 1.0×)",
        ms(cold),
        ms(cold) / ms(cli)
    );

    // Keystroke echo, on one running lab.
    let (_, lab) = learner.start_lab("sandbox").await;
    let id = lab["id"].as_str().unwrap().to_string();
    let container = format!("drydock-{id}");
    let raw = median(echo_via_docker(&cold_app, &container, 50).await);
    let ours = median(echo_via_drydock(&learner, &id, 50).await);
    learner.delete(&format!("/api/v1/labs/{id}")).await;
    println!(
        "keystroke echo, raw docker exec TTY (API):     {:8.2} ms",
        ms(raw)
    );
    println!(
        "keystroke echo, Drydock WebSocket terminal:    {:8.2} ms   {:.2}×  (target ≤ 1.5×)",
        ms(ours),
        ms(ours) / ms(raw)
    );

    // Idle labs and their memory.
    let idle: usize = std::env::var("DRYDOCK_BENCH_IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let before = mem_available_kib();
    let started = Instant::now();
    let mut learners = Vec::new();
    for _ in 0..idle {
        let l = Client::arrive(&cold_app).await;
        let (status, body) = l.start_lab("sandbox").await;
        assert_eq!(status, 201, "{body}");
        learners.push(l);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = mem_available_kib();
    let per_lab_mib = (before.saturating_sub(after)) as f64 / idle as f64 / 1024.0;
    let fit = (before as f64 / 1024.0 / per_lab_mib.max(0.01)) as u64;
    println!(
        "{idle} idle labs started in {:.1} s; host memory per idle lab: {:.1} MiB (target ≤ 8)",
        started.elapsed().as_secs_f64(),
        per_lab_mib
    );
    println!(
        "idle labs that fit in the {:.0} MiB available: about {fit} (target ≥ 500)",
        before as f64 / 1024.0
    );
    remove_lab_containers(&cold_app).await;
    drop(learners);

    // Warm pool.
    let warm_app = app(2, 100).await;
    let learner = Client::arrive(&warm_app).await;
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        wait_for_pool(&warm_app, 2).await;
        warm.push(lab_ready(&learner).await);
    }
    let warm = median(warm);
    println!(
        "lab ready, warm pool (API → prompt):           {:8.1} ms   {:.2}×  (target ≤ 0.15×)",
        ms(warm),
        ms(warm) / ms(cli)
    );
    remove_lab_containers(&warm_app).await;
}
