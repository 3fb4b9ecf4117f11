//! Lab stories against the real Docker engine: a learner starts a lab, uses
//! its terminal, resets and stops it; quotas, the queue, time limits and
//! authorization; and what the sandbox holds back from inside.

use std::time::{Duration, Instant};

use crate::common::{
    client::Client,
    labs::{lab_app, lab_containers, lab_content, remove_lab_containers},
    spawn_app_with, test_config, TestDatabase,
};
use drydock::db::Backend;
use serde_json::json;

#[tokio::test]
async fn a_learner_starts_a_lab_and_works_in_its_terminal() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let gvisor = app.state.engine.offers_gvisor().await.unwrap();
    let learner = Client::arrive(&app).await;

    let started = Instant::now();
    let (status, lab) = learner.start_lab("sandbox").await;
    assert_eq!(status, 201, "{lab}");
    assert_eq!(lab["lab"], "sandbox");
    assert_eq!(lab["status"], "running");
    let id = lab["id"].as_str().unwrap().to_string();
    let expires = lab["expires_at"].as_i64().unwrap();
    let created = lab["created_at"].as_i64().unwrap();
    assert!((expires - created - 30 * 60_000).abs() < 60_000, "{lab}");

    let mut term = learner.terminal(&id).await.expect("owner may attach");
    term.expect("sandbox:").await;
    eprintln!("lab ready (API start → prompt) in {:?}", started.elapsed());

    // The shell is the unprivileged learner, and PID 1 cannot gain privileges.
    let out = term
        .output_of("id -u; cat /proc/1/status | grep NoNewPrivs")
        .await;
    assert!(out.contains("\n1000"), "{out}");
    let container = app
        .state
        .engine
        .inspect(&format!("drydock-{id}"))
        .await
        .unwrap();
    let host = container.host_config.clone().unwrap();
    assert!(host
        .security_opt
        .unwrap_or_default()
        .iter()
        .any(|o| o == "no-new-privileges:true"));
    if gvisor {
        // gVisor's /proc has no NoNewPrivs line; the engine's inspect says it.
        assert_eq!(host.runtime.as_deref(), Some("runsc"));
    } else {
        assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    }

    // Labels name the owner, lab, session and expiry.
    let labels = container.config.unwrap().labels.unwrap();
    assert_eq!(labels["drydock.managed"], "true");
    assert_eq!(labels["drydock.lab"], "sandbox");
    assert_eq!(labels["drydock.session"], id);
    assert!(labels["drydock.owner"].parse::<i64>().is_ok(), "{labels:?}");
    assert!(
        labels["drydock.expires_at"].parse::<i64>().is_ok(),
        "{labels:?}"
    );
    assert_eq!(host.cap_drop.unwrap(), vec!["ALL".to_string()]);
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert!(host.pids_limit.unwrap() >= 64);

    // The lab's files, environment and setup are in place.
    let out = term
        .output_of(
            "cat ~/notes.txt; ls -l ~/app/bin/helper; cat /tmp/setup-marker; echo $APP_TOKEN",
        )
        .await;
    assert!(out.contains("seeded 'notes' line"), "{out}");
    assert!(out.contains("-rwsr-xr-x"), "{out}");
    assert!(out.contains("set-up-ran"), "{out}");
    assert!(out.contains("tok-test-123"), "{out}");

    // The terminal follows the browser's size.
    term.resize(100, 30).await;
    // The new size reaches the shell's terminal once, asynchronously.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = term.output_of("stty size").await;
        if out.contains("\n30 100") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the terminal kept its size: {out}"
        );
    }

    // A reconnect (network blip, reload) shows recent output and keeps the shell.
    term.run("export MARK=still-here").await;
    // The replay must hold the command's output, not only the line typed.
    term.output_of("echo before-$((1+1))-blip").await;
    term.close().await;
    let mut again = learner.terminal(&id).await.expect("reconnects");
    again.expect("before-2-blip").await;
    let out = again.output_of("echo $MARK").await;
    assert!(
        out.contains("still-here"),
        "the same shell survives a reconnect: {out}"
    );

    // Exiting the shell is not the end: the next keystroke starts a new one.
    again.run("exit").await;
    again
        .expect_control("exited", Duration::from_secs(10))
        .await;
    again.send("\r").await;
    let out = again.output_of("echo new-shell-$((6*7))").await;
    assert!(out.contains("new-shell-42"), "{out}");
    again.close().await;

    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    assert!(lab_containers(&app).await.is_empty());
    remove_lab_containers(&app).await;
}

async fn reset_and_stop(backend: Backend) {
    let app = lab_app(TestDatabase::of(backend).await, 10).await;
    let learner = Client::arrive(&app).await;
    let (status, lab) = learner.start_lab("sandbox").await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();

    // Asking again for the same lab returns the running one.
    let (status, same) = learner.start_lab("sandbox").await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["id"], lab["id"]);

    let mut term = learner.terminal(&id).await.unwrap();
    term.output_of("echo broken > /tmp/damage").await;
    let before = lab_containers(&app).await;
    assert_eq!(before.len(), 1);

    // Reset: a fresh container, same session, same deadline; the open terminal follows.
    let (status, after) = learner
        .post(&format!("/api/v1/labs/{id}/reset"), json!({}))
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["id"], lab["id"]);
    assert_eq!(after["expires_at"], lab["expires_at"]);
    term.expect("fresh container").await;
    let out = term
        .output_of("cat /tmp/damage 2>/dev/null || echo no-damage-$((6*7))")
        .await;
    assert!(out.contains("no-damage-42"), "{out}");
    let now = lab_containers(&app).await;
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, before[0].id, "the old container is gone");

    // Extend once, not twice.
    let (status, longer) = learner
        .post(&format!("/api/v1/labs/{id}/extend"), json!({}))
        .await;
    assert_eq!(status, 200, "{longer}");
    assert_eq!(
        longer["expires_at"].as_i64().unwrap() - lab["expires_at"].as_i64().unwrap(),
        15 * 60_000
    );
    assert_eq!(longer["can_extend"], false);
    let (status, body) = learner
        .post(&format!("/api/v1/labs/{id}/extend"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("already been extended"));

    // Stop: the container goes, the terminal is told, the session has ended.
    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    let ended = term.expect_control("ended", Duration::from_secs(10)).await;
    assert!(
        ended["message"].as_str().unwrap().contains("stopped"),
        "{ended}"
    );
    assert!(lab_containers(&app).await.is_empty());
    let (_, gone) = learner.get(&format!("/api/v1/labs/{id}")).await;
    assert_eq!(gone["status"], "ended");
    let (_, list) = learner.get("/api/v1/labs").await;
    assert_eq!(list[0]["id"], lab["id"]);
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn a_lab_is_reset_extended_and_stopped_on_sqlite() {
    reset_and_stop(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_lab_is_reset_extended_and_stopped_on_postgres() {
    reset_and_stop(Backend::Postgres).await;
}

#[tokio::test]
async fn one_lab_per_learner_and_a_queue_when_capacity_is_full() {
    let app = lab_app(TestDatabase::sqlite(), 1).await;
    let (ann, ben, cat) = (
        Client::arrive(&app).await,
        Client::arrive(&app).await,
        Client::arrive(&app).await,
    );
    let (status, a) = ann.start_lab("sandbox").await;
    assert_eq!(status, 201, "{a}");

    // A second lab for the same learner is refused, with what to do.
    let (status, body) = ann.start_lab("second").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("Sandbox"),
        "{body}"
    );

    // Capacity is 1: the others wait in line and see their place.
    let (status, b) = ben.start_lab("sandbox").await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(b["status"], "queued");
    assert_eq!(b["position"], 1);
    let (status, c) = cat.start_lab("second").await;
    assert_eq!(status, 202, "{c}");
    assert_eq!(c["position"], 2);

    // Ann stops: Ben's lab starts by itself, Cat moves up.
    assert_eq!(
        ann.delete(&format!("/api/v1/labs/{}", a["id"].as_str().unwrap()))
            .await,
        204
    );
    let b_id = b["id"].as_str().unwrap();
    let running = ben
        .wait_for_status(b_id, "running", Duration::from_secs(30))
        .await;
    assert!(running["expires_at"].is_i64());
    let (_, c_now) = cat
        .get(&format!("/api/v1/labs/{}", c["id"].as_str().unwrap()))
        .await;
    assert_eq!(c_now["position"], 1, "{c_now}");
    let mut term = ben.terminal(b_id).await.unwrap();
    term.expect("sandbox:").await;

    // With replace, Ann's new request stops nothing of hers (she has none) and queues.
    let (status, again) = ann
        .post("/api/v1/labs", json!({"lab": "second", "replace": true}))
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["position"], 2);

    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn another_learner_cannot_see_or_touch_a_lab() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let owner = Client::arrive(&app).await;
    let other = Client::arrive(&app).await;
    let (_, lab) = owner.start_lab("sandbox").await;
    let id = lab["id"].as_str().unwrap();

    let (status, _) = other.get(&format!("/api/v1/labs/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(other.delete(&format!("/api/v1/labs/{id}")).await, 404);
    let (status, _) = other
        .post(&format!("/api/v1/labs/{id}/reset"), json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = other
        .post(&format!("/api/v1/labs/{id}/extend"), json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(other.terminal(id).await.err(), Some(404));
    let (_, list) = other.get("/api/v1/labs").await;
    assert_eq!(list, json!([]));

    // No session at all: 401.
    let anonymous = reqwest::Client::new();
    let resp = anonymous
        .get(app.url(&format!("/api/v1/labs/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Every refusal was logged.
    let events = drydock::db::audit::recent(&app.state.db, 50).await.unwrap();
    let refused = events.iter().filter(|e| e.event == "lab_refused").count();
    assert!(refused >= 5, "{events:?}");

    // The owner's lab is untouched.
    let mut term = owner.terminal(id).await.unwrap();
    assert!(term.output_of("echo mine").await.contains("mine"));
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn a_terminal_cannot_be_opened_from_another_site() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let owner = Client::arrive(&app).await;
    let (_, lab) = owner.start_lab("sandbox").await;
    let id = lab["id"].as_str().unwrap();
    let resp = owner
        .http
        .get(app.url(&format!("/api/v1/labs/{id}/terminal")))
        .header("origin", "https://evil.example")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn the_reaper_ends_labs_past_their_time_and_crashed_containers_come_back() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let learner = Client::arrive(&app).await;
    let (_, lab) = learner.start_lab("sandbox").await;
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&id).await.unwrap();
    term.expect("sandbox:").await;

    // The container dies under the learner (as after an OOM kill): a fresh one replaces it.
    let before = lab_containers(&app).await[0].id.clone().unwrap();
    let killed = std::process::Command::new("docker")
        .args(["kill", &before])
        .output()
        .unwrap();
    assert!(killed.status.success());
    term.read_until_from(0, "fresh", Duration::from_secs(20))
        .await;
    let out = term.output_of("echo back-again-$((6*7))").await;
    assert!(out.contains("back-again-42"), "{out}");
    let after = lab_containers(&app).await;
    assert_eq!(after.len(), 1);
    assert_ne!(after[0].id.as_deref(), Some(before.as_str()));

    // Time is up: the reaper stops the lab and tells the terminal.
    sqlx::query("UPDATE lab_sessions SET expires_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 1)
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let ended = term.expect_control("ended", Duration::from_secs(10)).await;
    assert!(
        ended["message"].as_str().unwrap().contains("time limit"),
        "{ended}"
    );
    assert!(lab_containers(&app).await.is_empty());

    // Idle: no input for longer than the lab allows.
    let (_, lab) = learner.start_lab("sandbox").await;
    let id = lab["id"].as_str().unwrap().to_string();
    sqlx::query("UPDATE lab_sessions SET last_active_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 11 * 60_000)
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let ended = learner
        .wait_for_status(&id, "ended", Duration::from_secs(10))
        .await;
    assert!(
        ended["end_reason"]
            .as_str()
            .unwrap()
            .contains("without input"),
        "{ended}"
    );
    assert!(lab_containers(&app).await.is_empty());
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let learner = Client::arrive(&app).await;
    let (status, body) = learner.start_lab("no-such-lab").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains("no-such-lab"));
    let resp = learner
        .http
        .post(app.url("/api/v1/labs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("\"lab\""),
        "{body}"
    );
    let (status, _) = learner.get("/api/v1/labs/not-a-session").await;
    assert_eq!(status, 404);
    assert!(lab_containers(&app).await.is_empty());
}

/// Echo round trips in a terminal, measured until `stop` is set.
async fn measure_echoes(
    mut term: crate::common::labs::Terminal,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let started = Instant::now();
        let out = term.output_of(&format!("echo alive-{n}")).await;
        assert!(out.contains(&format!("alive-{n}")));
        times.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    term.close().await;
    times
}

#[tokio::test]
async fn nothing_a_learner_does_inside_escapes_the_sandbox_or_stalls_a_neighbour() {
    let app = lab_app(TestDatabase::sqlite(), 10).await;
    let (ann, ben) = (Client::arrive(&app).await, Client::arrive(&app).await);
    let (_, a) = ann.start_lab("sandbox").await;
    let (_, b) = ben.start_lab("sandbox").await;
    let a_id = a["id"].as_str().unwrap().to_string();
    let mut term = ann.terminal(&a_id).await.unwrap();
    term.expect("sandbox:").await;
    let mut neighbour = ben.terminal(b["id"].as_str().unwrap()).await.unwrap();
    neighbour.expect("sandbox:").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let echoes = tokio::spawn(measure_echoes(neighbour, stop.clone()));

    // The root filesystem is read-only.
    let out = term.output_of("touch /evil; echo rc=$?").await;
    assert!(out.contains("rc=1"), "{out}");
    // Scratch space stops at its size (8 MiB in this lab).
    let out = term
        .output_of("dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1 | grep -q 'No space left' && echo full-$((6*7)); du -m /tmp/fill")
        .await;
    assert!(
        out.contains("full-42"),
        "the write stopped with no space left: {out}"
    );
    let used: u64 = out
        .lines()
        .rev()
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(used <= 8, "{out}");
    // No network but loopback, so no way out: no other interface, no
    // route at all (shown without sending anything anywhere).
    let out = term
        .output_of("ls /sys/class/net; ip route; ip -6 route; echo routes-end")
        .await;
    assert!(!out.contains("eth0"), "{out}");
    assert!(!out.contains("default") && !out.contains(" via "), "{out}");
    // No Docker socket to talk to.
    let out = term
        .output_of("ls /var/run/docker.sock /run/docker.sock 2>&1")
        .await;
    assert_eq!(out.matches("No such file").count(), 2, "{out}");
    // No capabilities, not even in the bounding set.
    let out = term
        .output_of("grep -E 'CapEff|CapBnd' /proc/self/status")
        .await;
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000000"), "{out}");

    // A fork bomb is stopped inside the lab: it hits the process limit (64
    // in this lab), or, under gVisor, where the sandbox's own memory for
    // each new process counts against the lab's 64 MiB, the limits end the
    // sandbox (the engine does not always flag that as out of memory) and
    // the lab comes back fresh. Either way the neighbour below must not
    // notice.
    let from = term.seen.len();
    term.run("bomb() { bomb | bomb & }; bomb").await;
    let out = term
        .read_until_any(
            from,
            &[
                "can't fork",
                "ran out of memory",
                "replaced with a fresh one",
            ],
            Duration::from_secs(30),
        )
        .await;
    eprintln!(
        "fork bomb: {}",
        if out.contains("can't fork") {
            "process limit"
        } else {
            "the sandbox ended, lab restarted"
        }
    );
    // …and a reset clears whatever is left, at once.
    let from = term.seen.len();
    let (status, _) = ann
        .post(&format!("/api/v1/labs/{a_id}/reset"), json!({}))
        .await;
    assert_eq!(status, 200);
    term.read_until_from(from, "lab was reset", Duration::from_secs(20))
        .await;
    let out = term.output_of("echo calm-again-$((6*7))").await;
    assert!(out.contains("calm-again-42"), "{out}");

    // A memory hog is killed inside its own cgroup: under runc the process
    // dies, under gVisor the sandbox does and the lab comes back fresh.
    let from = term.seen.len();
    term.run("tail /dev/zero").await;
    let out = term
        .read_until_any(
            from,
            &["Killed", "ran out of memory"],
            Duration::from_secs(60),
        )
        .await;
    eprintln!("memory hog: {}", out.trim());
    let out = term.output_of("echo survived-$((6*7))").await;
    assert!(out.contains("survived-42"), "{out}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut times = echoes.await.unwrap();
    times.sort();
    let worst = *times.last().unwrap();
    eprintln!(
        "neighbour echo latency during the abuse: {} samples, p50 {:?}, max {:?}",
        times.len(),
        times[times.len() / 2],
        worst
    );
    assert!(times.len() >= 10, "the neighbour kept typing: {times:?}");
    assert!(
        worst < Duration::from_secs(3),
        "the neighbour stayed responsive: {times:?}"
    );
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn every_lab_in_the_curriculum_starts_and_every_hands_on_lesson_has_one() {
    let db = TestDatabase::sqlite();
    let mut config = crate::common::test_config(&db);
    config.labs.reap_interval_secs = 1;
    let app = crate::common::spawn_app_with(db, config).await;
    let catalog = &app.state.content;
    for lesson in &catalog.lessons {
        if lesson.html.contains("code-block runnable") {
            let lab = lesson.meta.lab.as_deref();
            assert!(
                lab.is_some_and(|l| catalog.labs.contains_key(l)),
                "{} has runnable commands but no lab",
                lesson.key()
            );
        }
    }
    assert!(catalog.labs.len() >= 6, "{:?}", catalog.labs.keys());
    let learner = Client::arrive(&app).await;
    for id in catalog.labs.keys() {
        let (status, lab) = learner.start_lab(id).await;
        assert_eq!(status, 201, "{id}: {lab}");
        let session = lab["id"].as_str().unwrap().to_string();
        let mut term = learner.terminal(&session).await.unwrap();
        term.expect(&format!("@{id}:")).await;
        let out = term.output_of("id -u").await;
        assert!(out.contains("1000"), "{id}: {out}");
        term.close().await;
        assert_eq!(
            learner.delete(&format!("/api/v1/labs/{session}")).await,
            204
        );
    }
    // The secret lab leaks its password through PID 1's environment.
    let (_, lab) = learner.start_lab("data-security").await;
    let mut term = learner.terminal(lab["id"].as_str().unwrap()).await.unwrap();
    let out = term
        .output_of("tr '\\0' '\\n' < /proc/1/environ | grep PASSWORD")
        .await;
    assert!(out.contains("APP_DB_PASSWORD="), "{out}");
    // The setuid lab has setuid and setgid files to find.
    let (status, lab) = learner
        .post(
            "/api/v1/labs",
            json!({"lab": "image-security", "replace": true}),
        )
        .await;
    assert_eq!(status, 201, "{lab}");
    let mut term = learner.terminal(lab["id"].as_str().unwrap()).await.unwrap();
    let out = term.output_of("find ~/app -perm /6000 | sort").await;
    assert_eq!(out.matches("/home/learner/app/").count(), 3, "{out}");
    remove_lab_containers(&app).await;
}

/// A warm container enters the pool with its login shell already open: the
/// learner who takes it gets that shell (started before they asked, so
/// opening one is not on their clock), with its prompt replayed.
#[tokio::test]
async fn a_warm_container_comes_with_its_shell_ready() {
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.content_dir = lab_content();
    config.labs.capacity = 10;
    config.labs.reap_interval_secs = 1;
    config.labs.warm_pool.insert("sandbox".into(), 1);
    let app = spawn_app_with(db, config).await;
    let pooled = || {
        app.state
            .labs
            .pool_sizes()
            .get("sandbox")
            .copied()
            .unwrap_or(0)
    };
    crate::common::eventually("the warm pool fills", Duration::from_secs(60), || {
        std::future::ready((pooled() >= 1).then_some(()))
    })
    .await;
    // Not a wait for anything: the pooled shell must be seconds older than
    // the learner's request for the test below to tell it was opened early.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let learner = Client::arrive(&app).await;
    let (status, lab) = learner.start_lab("sandbox").await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&id).await.expect("owner may attach");
    let replay = term
        .read_until_from(0, "sandbox:", Duration::from_secs(2))
        .await;
    assert!(
        replay.contains("sandbox:"),
        "the prompt is replayed: {replay}"
    );
    // Start times in clock ticks: the shell's own, and `cut`'s (now).
    let out = term
        .output_of("echo \"AGE $(cut -d' ' -f22 /proc/$$/stat) $(cut -d' ' -f22 /proc/self/stat)\"")
        .await;
    let ticks: Vec<i64> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("AGE "))
        .flat_map(|l| l.split_whitespace().map(|n| n.parse::<i64>().unwrap()))
        .collect();
    assert_eq!(ticks.len(), 2, "{out}");
    assert!(
        ticks[1] - ticks[0] > 100,
        "the shell was opened seconds before the learner asked: {out}"
    );
    // Typing reaches the adopted shell and counts as the session's activity.
    let out = term.output_of("echo adopted-$((6 * 7))").await;
    assert!(out.contains("adopted-42"), "{out}");
    term.close().await;

    crate::common::eventually("the warm pool refills", Duration::from_secs(60), || {
        std::future::ready((pooled() >= 1).then_some(()))
    })
    .await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    remove_lab_containers(&app).await;
}

/// A lab whose setup fails (an author's mistake) does not leave a learner
/// with a half-made lab: the start is refused, the session ends with a
/// reason, and no container is left behind.
#[tokio::test]
async fn a_lab_whose_setup_fails_is_refused_and_leaves_nothing() {
    let content = tempfile::tempdir().unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", lab_content().display()))
        .arg(content.path())
        .status()
        .unwrap();
    assert!(copied.success());
    // The fixture's images folder is a relative link: point it at the same place.
    let images = content.path().join("images");
    std::fs::remove_file(&images).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize(lab_content().join("images")).unwrap(),
        &images,
    )
    .unwrap();
    let sandbox = std::fs::read_to_string(content.path().join("labs/sandbox.toml")).unwrap();
    std::fs::write(
        content.path().join("labs/broken.toml"),
        format!("{sandbox}\n[[setup]]\nrun = \"echo the step that breaks >&2; exit 3\"\n"),
    )
    .unwrap();
    let db = TestDatabase::sqlite();
    let mut config = test_config(&db);
    config.content_dir = content.path().to_path_buf();
    let app = spawn_app_with(db, config).await;

    let learner = Client::arrive(&app).await;
    let (status, body) = learner.start_lab("broken").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let (_, labs) = learner.get("/api/v1/labs").await;
    let ended = labs.to_string();
    assert!(ended.contains("could not be started"), "{ended}");
    assert!(
        lab_containers(&app).await.is_empty(),
        "nothing is left running"
    );
    // The working lab next to it still starts.
    let (status, lab) = learner.start_lab("sandbox").await;
    assert_eq!(status, 201, "{lab}");
    remove_lab_containers(&app).await;
}
