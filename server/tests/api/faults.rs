//! Faults under a running server: the Docker engine stopped and started,
//! its disk full, PostgreSQL stopped and started. Each runs on an engine
//! or a database server of its own (`common::spare_engine`,
//! `common::postgres::OwnCluster`), never one other tests share.

use std::time::Duration;

use serde_json::Value;

use crate::common::{
    eventually, labs::lab_content, postgres::OwnCluster, process::ServerHome,
    spare_engine::SpareEngine, workspace_root,
};

async fn readiness(port: u16) -> (u16, Value) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A 503 with the error `code` and a message that says `words`.
fn unavailable(status: reqwest::StatusCode, body: &Value, code: &str, words: &str) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().unwrap().contains(words), "{body}");
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
    let home = ServerHome::new();
    let (instance, port) = (&home.instance, home.port);
    let host = engine.host();
    let server = home
        .serve(
            &lab_content(),
            &[
                ("DOCKER_HOST", &host),
                ("DRYDOCK_LABS__CAPACITY", "2"),
                ("DRYDOCK_LABS__GUEST_SHARE", "1"),
            ],
        )
        .await;
    let [ann, ben, cat, dan] = [
        home.learner().await,
        home.learner().await,
        home.learner().await,
        home.learner().await,
    ];
    let (a_id, mut term) = ann.lab_with_terminal("sandbox").await;
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    let mine = home.mine();
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
    unavailable(status, &refused, "engine_unavailable", "Try again");
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
    let left = leftovers(&engine, instance);
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
    let home = ServerHome::new();
    let port = home.port;
    let host = engine.host();
    let content = workspace_root().join("content");
    let server = home.serve(&content, &[("DOCKER_HOST", &host)]).await;
    let (ann, bob) = (home.learner().await, home.learner().await);
    let (a_id, mut term) = ann.lab_with_terminal("docker-cli").await;

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
    let (b_id, mut term) = bob.lab_with_terminal("docker-cli").await;
    assert!(term.output_of("echo $((6*7))").await.contains("\n42"));
    term.close().await;
    assert_eq!(ann.delete(&format!("/api/v1/labs/{a_id}")).await, 204);
    assert_eq!(bob.delete(&format!("/api/v1/labs/{b_id}")).await, 204);
    let left = leftovers(&engine, &home.instance);
    assert!(left.is_empty(), "left on the engine: {left:?}");
    drop(server);
}

/// PostgreSQL stops under a running server and starts again: requests fail
/// with a sentence (not a hang, not a bare 500) while it is down, nothing
/// half-written is left, and the same server serves the same learner again
/// once it is back, without a restart.
#[tokio::test]
async fn a_database_restart_is_reported_and_the_server_recovers_by_itself() {
    let mut postgres = OwnCluster::start();
    let db_url = postgres.create_database().await;
    let home = ServerHome::with_database(tempfile::tempdir().unwrap(), db_url);
    let port = home.port;
    let server = home.serve(&workspace_root().join("content"), &[]).await;
    let who = home.learner().await;
    let flag = |value: &str| serde_json::json!({"kind": "flag", "value": value});
    let (status, first) = who.submit("leaked-password", flag("not-it")).await;
    assert_eq!(status, 201, "{first}");

    postgres.stop();
    let (status, ready) = readiness(port).await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["database"].as_str().unwrap().starts_with("error"),
        "{ready}"
    );
    // Answered with a sentence: the first request within the pool's wait
    // (it finds the database gone), the next ones at once.
    for attempt in 0..3 {
        let started = std::time::Instant::now();
        let (status, refused) = who.submit("leaked-password", flag("still-not-it")).await;
        let limit = Duration::from_secs(if attempt == 0 { 8 } else { 1 });
        assert!(
            started.elapsed() < limit,
            "try {attempt} answered in {:?}",
            started.elapsed()
        );
        unavailable(status, &refused, "database_unavailable", "database");
    }
    let (status, page) = who.get("/api/v1/exercises/leaked-password").await;
    assert_eq!(status, 503, "{page}");
    // A page says it in words, too.
    let page = who
        .http
        .get(who.url("/exercises"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("database is not answering"));

    postgres.start_again();
    let port_ref = port;
    eventually("ready again", Duration::from_secs(30), || async move {
        (readiness(port_ref).await.0 == 200).then_some(())
    })
    .await;
    // The same learner (the same session), the same server: the refused
    // submissions left nothing, and the next one is attempt 2.
    let (status, second) = who.submit("leaked-password", flag("again-not-it")).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["attempt"], 2, "{second}");
    let (_, detail) = who.get("/api/v1/exercises/leaked-password").await;
    assert_eq!(detail["history"].as_array().unwrap().len(), 2, "{detail}");
    assert_eq!(detail["summary"]["attempts"], 2, "{detail}");
    drop(server);
}

/// The server's side of TCP connections on `port` that its client has
/// closed but the server has not (`CLOSE-WAIT`).
fn half_closed(port: u16) -> usize {
    let out = std::process::Command::new("ss")
        .args([
            "-Htn",
            "state",
            "close-wait",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .expect("ss runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Sockets the process `pid` holds open.
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

/// Browsers that vanish in the middle of a terminal frame (a closed
/// connection, a reset one): the server lets go of every connection, the
/// learner's shell carries on untouched, and the terminal answers the next
/// browser at once.
#[tokio::test]
async fn terminal_clients_that_vanish_mid_frame_leave_nothing_behind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let home = ServerHome::new();
    let port = home.port;
    let server = home.serve(&lab_content(), &[]).await;
    let who = home.learner().await;
    let (id, mut term) = who.lab_with_terminal("sandbox").await;
    // State only this shell holds.
    term.run("KEPT=$((6*7))").await;
    assert!(term.output_of("echo v=$KEPT").await.contains("v=42"));
    term.close().await;
    let pid = server.child.id();
    let before = sockets_of(pid);

    let request = format!(
        "GET /api/v1/labs/{id}/terminal HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: ZHJ5ZG9jay10ZXN0LWtleQ==\r\nCookie: {}\r\n\r\n",
        who.cookie_header()
    );
    for i in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "handshake cut");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        // A masked binary frame that announces 256 bytes and brings 10.
        let mut frame = vec![0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4];
        frame.extend_from_slice(b"echo gone\r");
        stream.write_all(&frame).await.unwrap();
        if i % 2 == 0 {
            // Gone with a reset, as a browser tab that is killed.
            stream.set_zero_linger().unwrap();
        }
        drop(stream);
    }
    // 20 connections came and went: the server holds at most a few more
    // sockets than before (its pools to the engine and the database
    // vary), none of them half-closed.
    eventually(
        "the server lets go of every vanished connection",
        Duration::from_secs(15),
        || {
            let now = sockets_of(pid);
            std::future::ready((half_closed(port) == 0 && now <= before + 3).then_some(()))
        },
    )
    .await;
    let mut term = who.terminal(&id).await.unwrap();
    assert!(term.output_of("echo v=$KEPT").await.contains("v=42"));
    term.close().await;
    assert_eq!(who.delete(&format!("/api/v1/labs/{id}")).await, 204);
    drop(server);
}
