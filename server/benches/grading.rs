//! Grading benchmarks, release build, all figures from one run:
//! - a run-config exercise with ≥ 10 checks (`least-privilege-run`, 12),
//!   graded end to end through the HTTP API (parse, start in the grading
//!   sandbox, settle, inspect, probe PID 1, remove, store), vs one
//!   `docker run --rm <image> true` by the CLI with the same runtime
//!   (target ≤ 2×);
//! - a small Dockerfile exercise (`harden-image`, 10 checks) graded end to
//!   end: static lint, build with no network, `docker save`, every layer
//!   walked, image removed (target ≤ 3 s).
//!
//! `make bench-grading` (or `cargo bench -p drydock --bench grading`).

// The integration tests' helpers; a benchmark uses only some of them.
#[allow(dead_code)]
#[path = "../tests/api/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{client::Client, spawn_app, TestDatabase};
use serde_json::json;

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cli_run(runtime: Option<&str>) -> Duration {
    let mut args = vec!["run", "--rm", "--network", "none"];
    if let Some(runtime) = runtime {
        args.extend(["--runtime", runtime]);
    }
    args.extend(["drydock/busybox:1", "true"]);
    let started = Instant::now();
    let status = std::process::Command::new("docker")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

const HARDENED: &str = "docker run -d --user 1000:1000 --cap-drop ALL \
    --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m \
    --network none --memory 128m --pids-limit 100 drydock/webapp:1";

const DOCKERFILE: &str = "FROM drydock/busybox:1\nUSER 0:0\nCOPY app/ /app/\n\
    RUN chmod -R a-s /app && chmod 755 /app/bin/serve\nUSER 1000:1000\n\
    HEALTHCHECK --interval=5s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1\n\
    CMD [\"/app/bin/serve\"]\n";

#[tokio::main]
async fn main() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let runtime = app
        .state
        .engine
        .offers_gvisor()
        .await
        .unwrap()
        .then_some("runsc");
    println!(
        "Grading benchmark (release build, median of {RUNS}; runtime {})",
        runtime.unwrap_or("runc")
    );
    // Warm the engine and the page cache once.
    cli_run(runtime);
    let cli = median((0..RUNS).map(|_| cli_run(runtime)).collect());
    let cli_runc = median((0..RUNS).map(|_| cli_run(None)).collect());
    println!(
        "docker run --rm drydock/busybox:1 true (CLI, {}):  {:8.1} ms",
        runtime.unwrap_or("runc"),
        ms(cli)
    );
    println!(
        "docker run --rm drydock/busybox:1 true (CLI, runc):   {:8.1} ms",
        ms(cli_runc)
    );

    let learner = Client::arrive(&app).await;
    let mut runs = Vec::new();
    let mut checks = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = learner
            .submit(
                "least-privilege-run",
                json!({"kind": "run", "command": HARDENED}),
            )
            .await;
        runs.push(started.elapsed());
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["report"]["passed"], true, "{body}");
        checks = body["report"]["checks"].as_array().unwrap().len();
    }
    let run = median(runs);
    println!(
        "run-config exercise, {checks} checks, end to end (API): {:8.1} ms  → {:.2}× the CLI run ({}), target ≤ 2× {}",
        ms(run),
        ms(run) / ms(cli),
        runtime.unwrap_or("runc"),
        if ms(run) / ms(cli) <= 2.0 { "MET" } else { "NOT MET" }
    );
    println!(
        "                                            vs runc CLI: {:.2}×",
        ms(run) / ms(cli_runc)
    );

    let files = json!({
        "app/bin/serve": "#!/bin/sh\nexec httpd -f -p 8080 -h /app/www\n",
        "app/bin/report": "#!/bin/sh\necho report\n",
        "app/www/index.html": "<p>hello</p>\n",
    });
    // Guests may not build images: the Dockerfile exercise is a registered learner's.
    let builder = Client::registered(&app, "bench-builder").await;
    let mut builds = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = builder
            .submit(
                "harden-image",
                json!({"kind": "dockerfile", "dockerfile": DOCKERFILE, "files": files}),
            )
            .await;
        builds.push(started.elapsed());
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["report"]["passed"], true, "{body}");
        checks = body["report"]["checks"].as_array().unwrap().len();
    }
    let build = median(builds);
    println!(
        "Dockerfile exercise, {checks} checks, end to end (API): {:8.1} ms, target ≤ 3000 ms {}",
        ms(build),
        if ms(build) <= 3000.0 {
            "MET"
        } else {
            "NOT MET"
        }
    );
}
