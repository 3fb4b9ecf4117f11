//! Lesson page throughput and p99 latency at 64 concurrent connections,
//! against a baseline serving the same HTML as a static file, in one run.
//!
//! `make bench-lessons` (or `cargo bench -p drydock --bench lesson_page`).
//! Both servers run in this process on loopback. The load comes from `wrk`
//! (a separate process, `-t1 -c64`) when it is installed — the fair setup —
//! and otherwise from an in-process generator, whose own overhead caps the
//! baseline. Each measurement lasts DRYDOCK_BENCH_SECS (default 10).
//!
//! The learner's page is measured as a learner gets it on a second view
//! (from the per-viewer page cache, see `lessons::page_cache`), and again
//! rendered on every request (a query string bypasses the cache): what a
//! first view, or the view after a change, costs.

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const CONNECTIONS: usize = 64;
const LESSON: &str = "/lessons/security/container-privileges";

struct Figures {
    requests: usize,
    errors: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measure(url: String, cookie: Option<String>, duration: Duration) -> Figures {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNECTIONS)
            .build()
            .unwrap();
        // Warm up connections and caches.
        for _ in 0..CONNECTIONS {
            let _ = client.get(&url).send().await;
        }
        let started = Instant::now();
        let deadline = started + duration;
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (client, url, cookie) = (client.clone(), url.clone(), cookie.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let mut req = client.get(&url).header("accept", "text/html");
                        if let Some(c) = &cookie {
                            req = req.header("cookie", c);
                        }
                        match req.send().await {
                            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                                Ok(_) => latencies.push(t.elapsed()),
                                Err(_) => errors += 1,
                            },
                            _ => errors += 1,
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = 0;
        for w in workers {
            let (l, e) = w.await.unwrap();
            all.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(f64::NAN)
        };
        Figures {
            requests: all.len(),
            errors,
            per_second: all.len() as f64 / elapsed,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
        }
    })
}

/// The same measurement with `wrk` as the load generator.
fn measure_with_wrk(url: &str, cookie: Option<&str>, duration: Duration) -> Option<Figures> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{CONNECTIONS}"),
        &format!("-d{}s", duration.as_secs()),
        "--latency",
        "-H",
        "Accept: text/html",
    ]);
    if let Some(c) = cookie {
        cmd.args(["-H", &format!("Cookie: {c}")]);
    }
    let out = cmd.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |label: &str| -> f64 {
        let value = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("nan");
        let (number, unit) = value.split_at(
            value
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(value.len()),
        );
        let n: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "s" => n * 1000.0,
            _ => n,
        }
    };
    let per_second: f64 = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let errors = text
        .lines()
        .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
        .filter_map(|l| {
            l.split_whitespace()
                .last()
                .and_then(|v| v.parse::<usize>().ok())
        })
        .sum();
    Some(Figures {
        requests,
        errors,
        per_second,
        p50_ms: ms("50%"),
        p99_ms: ms("99%"),
    })
}

fn main() {
    let secs: u64 = std::env::var("DRYDOCK_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Drydock itself, release build, SQLite.
    let (addr, _, dir) = support::serve_site(&server);

    // One visit makes a guest session; every measured request carries it,
    // so the page is rendered for a real learner (session + progress lookups).
    let (cookie, html) = server.block_on(async {
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("http://{addr}{LESSON}"))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("drydock_session="))
            .map(|v| v.split(';').next().unwrap().to_string())
            .expect("a guest session cookie");
        (cookie, resp.text().await.unwrap())
    });
    assert!(html.contains("Container privilege level"));

    // Baseline: the same HTML as a static file, served by tower-http.
    let file = dir.path().join("lesson.html");
    std::fs::write(&file, &html).unwrap();
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let static_addr = listener.local_addr().unwrap();
    let static_app = axum::Router::new().fallback_service(tower_http::services::ServeFile::new(
        Arc::new(file).as_ref(),
    ));
    server.spawn(async move { axum::serve(listener, static_app).await });

    let duration = Duration::from_secs(secs);
    let static_url = format!("http://{static_addr}/");
    let lesson_url = format!("http://{addr}{LESSON}");
    // With a query string the page is rendered on every request, never
    // taken from the page cache: what a first view costs.
    let rendered_url = format!("http://{addr}{LESSON}?render");
    let (generator, baseline, drydock, rendered) = match (
        measure_with_wrk(&static_url, None, duration),
        measure_with_wrk(&lesson_url, Some(&cookie), duration),
        measure_with_wrk(&rendered_url, Some(&cookie), duration),
    ) {
        (Some(b), Some(d), Some(r)) => ("wrk -t1", b, d, r),
        _ => (
            "in-process",
            measure(static_url, None, duration),
            measure(lesson_url, Some(cookie.clone()), duration),
            measure(rendered_url, Some(cookie), duration),
        ),
    };
    println!(
        "lesson page benchmark: {CONNECTIONS} connections, {secs} s each, load from {generator}, page size {} bytes",
        html.len()
    );
    for (name, f) in [
        ("static file (baseline)", &baseline),
        ("Drydock lesson page", &drydock),
        ("  rendered every time", &rendered),
    ] {
        println!(
            "{name:<24} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} errors)",
            f.per_second, f.p50_ms, f.p99_ms, f.requests, f.errors
        );
    }
    let ratio = drydock.per_second / baseline.per_second;
    let p99_ratio = drydock.p99_ms / baseline.p99_ms;
    println!(
        "throughput ratio (Drydock / static): {ratio:.2}x   target >= 0.8x: {}",
        if ratio >= 0.8 { "met" } else { "NOT met" }
    );
    println!(
        "p99 ratio (Drydock / static): {p99_ratio:.2}x   target <= 1.2x: {}",
        if p99_ratio <= 1.2 { "met" } else { "NOT met" }
    );
    println!(
        "rendered every time: {:.2}x of the static file's throughput, p99 {:.2}x",
        rendered.per_second / baseline.per_second,
        rendered.p99_ms / baseline.p99_ms
    );
}
