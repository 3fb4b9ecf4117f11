//! Faults under a running server: the Docker engine stopped and started,
//! a lab's disk full. Each runs on a spare engine of its own
//! (`common::spare_engine`), never the one other tests share.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    eventually,
    labs::lab_content,
    process::{free_port, learner, serve_with},
    spare_engine::SpareEngine,
    workspace_root,
};

async fn readiness(port: u16) -> (u16, Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Everything of `instance` left on `engine`: containers, volumes, networks.
fn leftovers(engine: &SpareEngine, instance: &str) -> Vec<String> {
    let filter = format!("label=drydock.instance={instance}");
    let mut found = Vec::new();
    for listing in [&["ps", "-a"][..], &["volume", "ls"], &["network", "ls"]] {
        let mut args = listing.to_vec();
        args.extend(["-q", "--filter", &filter]);
        found.extend(engine.docker(&args).split_whitespace().map(str::to_string));
    }
    found
}

/// The engine stops under a running server and starts again, twice:
/// readiness says so meanwhile; a start and a stop that need the engine
/// are refused with a sentence and leave no session half-made; the queue
/// keeps its place; afterwards the running lab is back, the queue moves,
/// and nothing is left once the labs end.
#[tokio::test]
async fn an_engine_restart_is_reported_and_labs_and_the_queue_come_through_it() {
    let mut engine = SpareEngine::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
    let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let host = engine.host();
    let server = serve_with(
        port,
        &db_url,
        &instance,
        &lab_content(),
        &[
            ("DOCKER_HOST", &host),
            ("DRYDOCK_LABS__CAPACITY", "2"),
            ("DRYDOCK_LABS__GUEST_SHARE", "1"),
        ],
    )
    .await;
    let [ann, ben, cat, dan] = [
        learner(port).await,
        learner(port).await,
        learner(port).await,
        learner(port).await,
    ];
    let (status, a) = ann.start_lab("sandbox").await;
    assert_eq!(status, 201, "{a}");
    let a_id = a["id"].as_str().unwrap().to_string();
    let mut term = ann.terminal(&a_id).await.unwrap();
    term.expect("sandbox:").await;
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    let mine = format!("label=drydock.instance={instance}");
    let before = engine.docker(&["ps", "-q", "--filter", &mine]);

    // 1. Down with a free place: a start needs the engine now.
    engine.stop().await;
    let (status, ready) = readiness(port).await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["docker"].as_str().unwrap().starts_with("error"),
        "{ready}"
    );
    assert_eq!(ready["database"], "ok", "{ready}");
    let (status, refused) = cat.start_lab("second").await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "engine_unavailable", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("Try again"),
        "{refused}"
    );
    let (_, cats) = cat.get("/api/v1/labs").await;
    assert!(
        !cats.to_string().contains("\"running\"") && !cats.to_string().contains("\"starting\""),
        "a refused start leaves no live session: {cats}"
    );

    engine.start_again().await;
    let port_ref = port;
    eventually("ready again", Duration::from_secs(30), || async move {
        (readiness(port_ref).await.0 == 200).then_some(())
    })
    .await;
    // Ann's lab is back in a fresh container (the engine stopped the old
    // one), and her terminal reconnects to it.
    let (engine_ref, mine_ref, before_ref) = (&engine, &mine, &before);
    eventually(
        "the lab has a running container again",
        Duration::from_secs(30),
        || {
            let now = engine_ref.docker(&["ps", "-q", "--filter", mine_ref]);
            std::future::ready((!now.is_empty() && now != *before_ref).then_some(()))
        },
    )
    .await;
    let (_, back) = ann.get(&format!("/api/v1/labs/{a_id}")).await;
    assert_eq!(back["status"], "running", "{back}");
    let mut term = ann.terminal(&a_id).await.unwrap();
    term.expect("sandbox:").await;
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    term.close().await;

    // 2. Down with a queue: capacity 2 is taken, Ben waits.
    let (status, d) = dan.start_lab("sandbox").await;
    assert_eq!(status, 201, "{d}");
    let d_id = d["id"].as_str().unwrap().to_string();
    let (status, b) = ben.start_lab("sandbox").await;
    assert_eq!(status, 202, "{b}");
    let b_id = b["id"].as_str().unwrap().to_string();
    engine.stop().await;
    // Stopping a lab needs the engine: refused, and the lab stays whole.
    let stopped = dan.delete(&format!("/api/v1/labs/{d_id}")).await;
    assert_eq!(stopped, 503);
    let (_, kept) = dan.get(&format!("/api/v1/labs/{d_id}")).await;
    assert_eq!(kept["status"], "running", "{kept}");
    // Waiting needs no engine: Cat queues behind Ben, who keeps his place.
    let (status, c) = cat.start_lab("second").await;
    assert_eq!(status, 202, "{c}");
    assert_eq!(c["position"], 2, "{c}");
    let (_, waiting) = ben.get(&format!("/api/v1/labs/{b_id}")).await;
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(waiting["position"], 1, "{waiting}");

    engine.start_again().await;
    let port_ref = port;
    eventually("ready again", Duration::from_secs(30), || async move {
        (readiness(port_ref).await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(dan.delete(&format!("/api/v1/labs/{d_id}")).await, 204);
    ben.wait_for_status(&b_id, "running", Duration::from_secs(60))
        .await;
    let mut term = ben.terminal(&b_id).await.unwrap();
    term.expect("sandbox:").await;
    term.close().await;
    for (who, id) in [(&ann, a_id), (&ben, b_id)] {
        assert_eq!(who.delete(&format!("/api/v1/labs/{id}")).await, 204);
    }
    let c_id = c["id"].as_str().unwrap().to_string();
    cat.wait_for_status(&c_id, "running", Duration::from_secs(60))
        .await;
    assert_eq!(cat.delete(&format!("/api/v1/labs/{c_id}")).await, 204);
    let left = leftovers(&engine, &instance);
    assert!(
        left.is_empty(),
        "left on the engine: {left:?}\n{}",
        engine.log().len()
    );
    drop(server);
}

/// A learner fills the disk of the engine their lab runs on (a small
/// tmpfs data root): through a volume and through a build. Each time the
/// learner reads "no space left" in the terminal; the server keeps serving
/// them and others; once the learner frees the space, everything works.
#[tokio::test]
async fn a_full_disk_is_the_learners_message_not_the_servers_failure() {
    let engine = SpareEngine::start(Some(320)).await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
    let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
    let port = free_port();
    let host = engine.host();
    let content = workspace_root().join("content");
    let server = serve_with(
        port,
        &db_url,
        &instance,
        &content,
        &[("DOCKER_HOST", &host)],
    )
    .await;
    let (ann, bob) = (learner(port).await, learner(port).await);
    let (status, a) = ann.start_lab("docker-cli").await;
    assert_eq!(status, 201, "{a}");
    let a_id = a["id"].as_str().unwrap().to_string();
    let mut term = ann.terminal(&a_id).await.unwrap();
    term.expect("docker-cli:").await;

    // A container's own filesystem written until the engine's disk is full.
    // (Not a volume: gVisor keeps a volume's writes in the container's
    // memory, so a big write there ends in the memory limit first.)
    let out = term
        .output_of("docker run --rm -m 900m -u 0 drydock/busybox:1 dd if=/dev/zero of=/fill bs=1M count=1000 2>&1 | head -1")
        .await;
    assert!(out.contains("No space left on device"), "{out}");
    // A build that fills it too: the build fails with the engine's words.
    let out = term
        .output_of("mkdir -p fat && printf 'FROM drydock/busybox:1\\nUSER 0\\nRUN for i in 1 2 3 4 5; do dd if=/dev/zero of=/f$i bs=1M count=100 || exit 1; done\\n' > fat/Dockerfile && docker build -t fat:1 fat 2>&1 | tail -6")
        .await;
    assert!(
        out.to_lowercase().contains("no space left on device"),
        "{out}"
    );
    // The server keeps serving: its own probe, this learner, another one.
    let healthy = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(healthy.status(), 200);
    let (status, ready) = readiness(port).await;
    assert_eq!(status, 200, "{ready}");
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    let (status, page) = bob.get("/api/v1/labs").await;
    assert_eq!(status, 200, "{page}");

    // Freed, the engine has room again: Ann builds, Bob starts a lab.
    let out = term
        .output_of("printf 'FROM drydock/busybox:1\\nUSER 0\\nRUN echo $((6*7)) > /f\\n' > fat/Dockerfile && docker build -q -t slim:1 fat >/dev/null && docker run --rm slim:1 cat /f")
        .await;
    assert!(out.contains("\n42"), "{out}");
    term.close().await;
    let (status, b) = bob.start_lab("docker-cli").await;
    assert_eq!(status, 201, "{b}");
    let b_id = b["id"].as_str().unwrap().to_string();
    let mut term = bob.terminal(&b_id).await.unwrap();
    term.expect("docker-cli:").await;
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    term.close().await;
    assert_eq!(ann.delete(&format!("/api/v1/labs/{a_id}")).await, 204);
    assert_eq!(bob.delete(&format!("/api/v1/labs/{b_id}")).await, 204);
    let left = leftovers(&engine, &instance);
    assert!(left.is_empty(), "left on the engine: {left:?}");
    drop(server);
}
