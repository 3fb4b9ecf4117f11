//! Docker inside a lab, release build, all figures from one run, side by
//! side with the host's own docker CLI against the engine:
//! - `docker run --rm drydock/busybox:1 true` typed in a lab (through the
//!   lab's endpoint) vs the same by the host CLI with the same runtime and
//!   network (target ≤ 1.3×);
//! - `docker ps` and `docker inspect` through the endpoint vs the host CLI
//!   (target ≤ 1.2×);
//! - a small `docker build` through the endpoint (the Dockerfile rewritten,
//!   its base pinned, the images learned from the engine) vs the host CLI;
//! - the idle cost of a lab's endpoint: server memory and tasks per lab.
//!
//! Both sides use the same client binary (the lab image's CLI is the
//! host's `/usr/bin/docker`); the lab's copy runs under gVisor.
//! `make bench-labs` (or `cargo bench -p drydock --bench lab_docker`).

// The integration tests' helpers; a benchmark uses only some of them.
#[allow(dead_code)]
#[path = "../tests/api/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{
    client::Client, labs::remove_lab_containers, spawn_app_with, test_config, TestDatabase,
};
use drydock::docker::proxy::SessionNames;

const RUNS: usize = 9;
/// The host's client: the same binary the lab image ships.
const HOST_CLI: &str = "/usr/bin/docker";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `command` run by the host CLI `RUNS` times: median milliseconds.
fn host(args: &[&str]) -> f64 {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = std::process::Command::new(HOST_CLI)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    median(runs)
}

/// `command` run `RUNS` times inside the lab (timed there, so the time to
/// reach the lab is not counted): median milliseconds.
fn in_lab(container: &str, command: &str) -> f64 {
    let script = format!(
        "for i in $(seq {RUNS}); do s=${{EPOCHREALTIME/./}}; {command} >/dev/null || exit 1; e=${{EPOCHREALTIME/./}}; echo $((e - s)); done"
    );
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            "-u",
            "1000:1000",
            "-e",
            "HOME=/home/learner",
            container,
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    median(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .map(|us| us / 1000.0)
            .collect(),
    )
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.labs.capacity = 40;
    let app = spawn_app_with(db, config).await;
    let learner = Client::arrive(&app).await;
    let (status, lab) = learner.start_lab("docker-cli").await;
    assert_eq!(status, 201, "{lab}");
    let session = lab["id"].as_str().unwrap().to_string();
    let container = format!("drydock-{session}");
    let names = SessionNames::of(&session);
    println!(
        "Docker inside a lab — {RUNS} runs each, medians, same docker CLI (20.10) on both sides\n"
    );

    // One container to list and inspect on both sides.
    in_lab(
        &container,
        "docker rm -f probe 2>/dev/null; docker run -d --name probe drydock/busybox:1 sleep 600",
    );
    let probe = names.object("probe");
    let network = names.network();

    let lab_run = in_lab(&container, "docker run --rm drydock/busybox:1 true");
    let host_run = host(&[
        "run",
        "--rm",
        "--runtime",
        "runsc-net",
        "--network",
        &network,
        "drydock/busybox:1",
        "true",
    ]);
    println!("docker run --rm drydock/busybox:1 true   host CLI {host_run:7.1} ms   lab {lab_run:7.1} ms   {:.2}×  (target ≤ 1.3×)", lab_run / host_run);

    let lab_ps = in_lab(&container, "docker ps");
    let host_ps = host(&[
        "ps",
        "--filter",
        &format!("label=drydock.child-of={session}"),
    ]);
    println!("docker ps                                host CLI {host_ps:7.1} ms   lab {lab_ps:7.1} ms   {:.2}×  (target ≤ 1.2×)", lab_ps / host_ps);

    let lab_inspect = in_lab(&container, "docker inspect probe");
    let host_inspect = host(&["inspect", &probe]);
    println!("docker inspect                           host CLI {host_inspect:7.1} ms   lab {lab_inspect:7.1} ms   {:.2}×  (target ≤ 1.2×)", lab_inspect / host_inspect);

    // A small build (COPY, ENV, CMD) from scratch: through the endpoint,
    // Drydock reads the Dockerfile, writes its own, pins the base and
    // learns the images from the engine; the host CLI sends its file as is.
    let dockerfile =
        "FROM drydock/busybox:1\nCOPY msg /msg\nENV GREETING=hello\nCMD [\"cat\", \"/msg\"]\n";
    in_lab(
        &container,
        &format!("mkdir -p $HOME/bctx && printf '{}' > $HOME/bctx/Dockerfile && echo hi > $HOME/bctx/msg", dockerfile.replace('\n', "\\n")),
    );
    let lab_build = in_lab(
        &container,
        "docker build -q --no-cache -t bench:1 $HOME/bctx",
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(context.path().join("msg"), "hi\n").unwrap();
    let host_tag = format!("drydock-bench-build:{}", &session[..8]);
    let host_build = host(&[
        "build",
        "-q",
        "--no-cache",
        "--network",
        "none",
        "--label",
        "drydock.managed=true",
        "-t",
        &host_tag,
        context.path().to_str().unwrap(),
    ]);
    let _ = std::process::Command::new(HOST_CLI)
        .args(["rmi", "-f", &host_tag])
        .output();
    println!("docker build (3 steps, --no-cache)       host CLI {host_build:7.1} ms   lab {lab_build:7.1} ms   {:.2}×", lab_build / host_build);

    // The client alone under gVisor, to separate the proxy from the sandbox.
    let lab_version = in_lab(&container, "docker --version");
    let host_version = host(&["--version"]);
    println!("docker --version (no request)            host CLI {host_version:7.1} ms   lab {lab_version:7.1} ms   {:.2}×", lab_version / host_version);
    learner.delete(&format!("/api/v1/labs/{session}")).await;

    // Idle cost: server memory and tasks per open endpoint.
    let idle = 10;
    let metrics = tokio::runtime::Handle::current().metrics();
    let (rss_before, tasks_before) = (rss_kib(), metrics.num_alive_tasks());
    let mut learners = Vec::new();
    for _ in 0..idle {
        let l = Client::arrive(&app).await;
        let (status, body) = l.start_lab("docker-cli").await;
        assert_eq!(status, 201, "{body}");
        learners.push(l);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_after, tasks_after) = (rss_kib(), metrics.num_alive_tasks());
    println!(
        "\nidle cost of a lab's Docker endpoint ({idle} labs): server memory {:.0} KiB and {:.1} tasks per lab (whole server: the endpoint, its lab session and terminal)",
        rss_after.saturating_sub(rss_before) as f64 / idle as f64,
        tasks_after.saturating_sub(tasks_before) as f64 / idle as f64
    );
    remove_lab_containers(&app).await;
}
