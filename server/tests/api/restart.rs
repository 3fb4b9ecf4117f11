//! The server is killed (SIGKILL) while labs run and started again: live
//! sessions are re-adopted with their containers, expired ones are removed,
//! and no Drydock container is left without a session.

use std::time::Duration;

use crate::common::{eventually, labs::lab_content, process::ServerHome, workspace_root};
use drydock::{
    db::Db,
    docker::{
        engine::Engine,
        policy::{SandboxLabels, SandboxLimits, SandboxPolicy},
    },
};

#[tokio::test]
async fn a_killed_server_readopts_live_labs_and_removes_the_rest() {
    let home = ServerHome::new();
    let (db_url, instance) = (&home.db_url, &home.instance);
    let engine = Engine::connect(None, Duration::from_secs(10)).unwrap();
    let mine = [("drydock.instance", instance.as_str())];

    let server = home.serve(&lab_content(), &[]).await;
    let (keep, lapse) = (home.learner().await, home.learner().await);
    let (status, kept) = keep.start_lab("sandbox").await;
    assert_eq!(status, 201, "{kept}");
    let (status, lapsed) = lapse.start_lab("second").await;
    assert_eq!(status, 201, "{lapsed}");
    let kept_id = kept["id"].as_str().unwrap().to_string();
    let mut term = keep.terminal(&kept_id).await.unwrap();
    term.output_of("echo 'work in progress' > ~/draft").await;
    term.close().await;
    let before: Vec<String> = engine
        .list_labelled(&mine)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.id)
        .collect();
    assert_eq!(before.len(), 2);

    // Crash.
    drop(server);

    // While it is down, one lab's time runs out and a stray container appears.
    let db = Db::connect(db_url).await.unwrap();
    sqlx::query("UPDATE lab_sessions SET expires_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 1000)
        .bind(lapsed["id"].as_str().unwrap())
        .execute(db.pool())
        .await
        .unwrap();
    let mut stray = SandboxPolicy::strict(
        SandboxLabels {
            owner: "nobody".into(),
            lab: "sandbox".into(),
            session: format!("stray-{}", uuid::Uuid::new_v4().simple()),
        },
        SandboxLimits::default(),
        None,
    );
    stray
        .extra_labels
        .push(("drydock.instance".into(), instance.clone()));
    engine
        .start_sandbox(&stray, "drydock/busybox:1", &["sleep", "300"])
        .await
        .unwrap();
    assert_eq!(engine.list_labelled(&mine).await.unwrap().len(), 3);

    // Restart: only the live lab's container is left, and it is the same one.
    let server = home.serve(&lab_content(), &[]).await;
    let (engine_ref, mine_ref) = (&engine, &mine);
    let left = eventually(
        "only the live lab's container is left",
        Duration::from_secs(30),
        || async move {
            let left: Vec<String> = engine_ref
                .list_labelled(mine_ref)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|c| c.id)
                .collect();
            (left.len() == 1).then_some(left)
        },
    )
    .await;
    assert!(before.contains(&left[0]), "the live lab kept its container");
    let (_, now) = keep.get(&format!("/api/v1/labs/{kept_id}")).await;
    assert_eq!(now["status"], "running", "{now}");
    let mut term = keep.terminal(&kept_id).await.unwrap();
    let out = term.output_of("cat ~/draft").await;
    assert!(out.contains("work in progress"), "{out}");
    let (_, gone) = lapse
        .get(&format!("/api/v1/labs/{}", lapsed["id"].as_str().unwrap()))
        .await;
    assert_eq!(gone["status"], "ended", "{gone}");
    assert!(
        gone["end_reason"].as_str().unwrap().contains("time limit"),
        "{gone}"
    );

    drop(server);
    engine.remove_labelled(&mine).await.unwrap();
}

#[tokio::test]
async fn after_a_kill_labs_with_docker_get_their_endpoint_back_and_ended_ones_leave_nothing() {
    let home = ServerHome::new();
    let engine = Engine::connect(None, Duration::from_secs(10)).unwrap();
    let content = workspace_root().join("content");

    let server = home.serve(&content, &[]).await;
    let (keep, lapse) = (home.learner().await, home.learner().await);
    let mut sessions = Vec::new();
    for who in [&keep, &lapse] {
        let (status, lab) = who.start_lab("docker-cli").await;
        assert_eq!(status, 201, "{lab}");
        let id = lab["id"].as_str().unwrap().to_string();
        let mut term = who.terminal(&id).await.unwrap();
        let out = term
            .output_of("docker volume create vol >/dev/null && docker run -d --name kept -v vol:/v drydock/busybox:1 sleep 600 >/dev/null && printf 'FROM drydock/busybox:1\\nCOPY f /f\\n' > Dockerfile && echo x > f && docker build -q -t mine:1 . >/dev/null && docker ps -q | wc -l")
            .await;
        assert!(out.contains("\n1"), "{out}");
        term.close().await;
        sessions.push(id);
    }
    let owned = |session: String| {
        let engine = &engine;
        async move {
            let mine = [("drydock.child-of", session.as_str())];
            let prefix = drydock::docker::proxy::SessionNames::of(&session).image_prefix();
            engine.list_labelled(&mine).await.unwrap().len()
                + engine.volumes_labelled(&mine).await.unwrap().len()
                + engine.networks_labelled(&mine).await.unwrap().len()
                + engine.tags_under(&prefix).await.unwrap().len()
        }
    };
    assert!(owned(sessions[1].clone()).await >= 4);

    // Crash; one lab's time runs out while the server is down.
    drop(server);
    let db = Db::connect(&home.db_url).await.unwrap();
    sqlx::query("UPDATE lab_sessions SET expires_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 1000)
        .bind(&sessions[1])
        .execute(db.pool())
        .await
        .unwrap();

    let server = home.serve(&content, &[]).await;
    let owned_ref = &owned;
    let ended = sessions[1].clone();
    eventually(
        "the ended lab's objects are gone",
        Duration::from_secs(30),
        || {
            let ended = ended.clone();
            async move { (owned_ref(ended).await == 0).then_some(()) }
        },
    )
    .await;
    // The live lab's CLI works again through its reopened endpoint.
    let mut term = keep.terminal(&sessions[0]).await.unwrap();
    let out = term
        .output_of("docker ps --format '{{.Names}}'; docker images mine --format '{{.Repository}}:{{.Tag}}'")
        .await;
    assert!(out.contains("\nkept") && out.contains("mine:1"), "{out}");
    term.close().await;
    assert_eq!(
        keep.delete(&format!("/api/v1/labs/{}", sessions[0])).await,
        204
    );
    assert_eq!(owned(sessions[0].clone()).await, 0);
    drop(server);
}

#[tokio::test]
async fn a_restart_keeps_the_learners_volumes_their_data_and_images() {
    let home = ServerHome::new();
    let content = workspace_root().join("content");

    let server = home.serve(&content, &[]).await;
    let who = home.learner().await;
    let (id, mut term) = who.lab_with_terminal("docker-cli").await;
    // A volume no container uses when the server stops, with data in it,
    // and an image the learner built.
    let out = term.output_of(KEEP_DATA_AND_AN_IMAGE).await;
    assert!(out.contains("ready-5"), "{out}");
    term.close().await;

    // An upgrade or a reboot: SIGTERM, then a new server.
    server.terminate().await;
    let server = home.serve(&content, &[]).await;

    everything_was_kept(&who, &id).await;
    drop(server);
}

/// In a Docker lab: a volume no container uses, with data in it (42 in
/// `keep:/f`), and an image the learner built (`mine:1`); prints `ready-5`.
const KEEP_DATA_AND_AN_IMAGE: &str = "docker volume create keep >/dev/null && docker run --rm -u 0 -v keep:/k drydock/busybox:1 sh -c 'echo $((6*7)) > /k/f' && printf 'FROM drydock/busybox:1\\nCOPY f /f\\n' > Dockerfile && echo x > f && docker build -q -t mine:1 . >/dev/null && echo ready-$((2+3))";

/// After a restart: the volume's data (`\n42`), the image (`tag=1`) and
/// how many containers the learner has (`containers=N`).
const WHAT_WAS_KEPT: &str = "docker run --rm -v keep:/k drydock/busybox:1 cat /k/f; docker images mine --format 'tag={{.Tag}}'; echo containers=$(docker ps -aq | wc -l)";

/// The terminal of Docker lab `id` reconnects after a restart, and the
/// volume's data, the image and no container are there; then the lab ends.
async fn everything_was_kept(who: &crate::common::client::Client, id: &str) {
    let mut term = who.terminal(id).await.unwrap();
    term.expect("docker-cli:").await;
    let out = term.output_of(WHAT_WAS_KEPT).await;
    assert!(out.contains("\n42"), "the volume's data survived: {out}");
    assert!(out.contains("tag=1"), "the image survived: {out}");
    assert!(out.contains("containers=0"), "{out}");
    term.close().await;
    assert_eq!(who.delete(&format!("/api/v1/labs/{id}")).await, 204);
}

/// Command lines of the engine's running containers (every test's: callers
/// look for a marker of their own).
fn running_commands() -> String {
    crate::common::grading::docker(&["ps", "--no-trunc", "--format", "{{.Command}}"])
}

/// Waits until a running container's command line contains `marker`.
async fn until_running(marker: &str) {
    eventually(
        &format!("a container running {marker:?}"),
        Duration::from_secs(60),
        || std::future::ready(running_commands().contains(marker).then_some(())),
    )
    .await;
}

/// Waits until no running container's command line contains `marker`.
async fn until_gone(marker: &str) {
    eventually(
        &format!("no container running {marker:?}"),
        Duration::from_secs(30),
        || std::future::ready((!running_commands().contains(marker)).then_some(())),
    )
    .await;
}

/// Containers, volumes and images that carry this installation's grading label.
fn grading_objects(instance: &str) -> Vec<String> {
    let instance = format!("label=drydock.instance={instance}");
    let filters = [
        "-q",
        "--filter",
        &instance,
        "--filter",
        "label=drydock.grading",
    ];
    let mut found = Vec::new();
    for listing in [["ps", "-a"], ["volume", "ls"], ["images", "-a"]] {
        let args: Vec<&str> = listing.iter().chain(filters.iter()).copied().collect();
        found.extend(
            crate::common::grading::docker(&args)
                .split_whitespace()
                .map(str::to_string),
        );
    }
    found
}

const HARDENED: &str = "FROM drydock/busybox:1\nUSER 1000:1000\n";

fn dockerfile(text: &str) -> serde_json::Value {
    serde_json::json!({"kind": "dockerfile", "dockerfile": text, "files": {}})
}

/// SIGKILL in the middle of a graded build and of a build in a learner's
/// lab: the learner's data survives, the interrupted attempt is shown with
/// a sentence and does not count, both builds leave nothing behind, and the
/// terminal reconnects.
#[tokio::test]
async fn a_kill_mid_grading_and_mid_build_loses_nothing_and_says_what_happened() {
    let home = ServerHome::new();
    let instance = &home.instance;
    let content = workspace_root().join("content");
    // Markers of this test's two builds, unique among parallel tests.
    let (lab_marker, grading_marker) = (
        format!("lab-{}", &instance[5..17]),
        format!("grade-{}", &instance[5..17]),
    );

    let server = home.serve(&content, &[]).await;
    // Registered: guests may not submit builds.
    let who = home.registered("kim").await;
    let (id, mut term) = who.lab_with_terminal("docker-cli").await;
    let out = term.output_of(KEEP_DATA_AND_AN_IMAGE).await;
    assert!(out.contains("ready-5"), "{out}");
    // A build that is still running when the server dies.
    term.run(&format!(
        "mkdir slow && printf 'FROM drydock/busybox:1\\nRUN sleep 120 && echo {lab_marker}\\n' > slow/Dockerfile && (docker build -t slow:1 slow > build.log 2>&1 &)"
    ))
    .await;
    until_running(&lab_marker).await;
    // And a grading whose build is running.
    let submitter = who.clone();
    let text = format!("FROM drydock/busybox:1\nRUN sleep 120 && echo {grading_marker}\n");
    let submitted = tokio::spawn(async move {
        submitter
            .http
            .post(submitter.url("/api/v1/exercises/harden-image/submissions"))
            .json(&dockerfile(&text))
            .send()
            .await
    });
    until_running(&grading_marker).await;

    drop(server); // SIGKILL
    let answer = submitted.await.unwrap();
    assert!(answer.is_err(), "a killed server answered: {answer:?}");

    let server = home.serve(&content, &[]).await;
    // The engine ends both builds once their client is gone, and start-up
    // cleanup removes what the grading made.
    until_gone(&lab_marker).await;
    until_gone(&grading_marker).await;
    let instance_ref = instance;
    eventually(
        "no object with the grading label is left",
        Duration::from_secs(30),
        || std::future::ready(grading_objects(instance_ref).is_empty().then_some(())),
    )
    .await;
    // The attempt is shown as interrupted, with a sentence, and not counted.
    let (status, detail) = who.get("/api/v1/exercises/harden-image").await;
    assert_eq!(status, 200, "{detail}");
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{detail}");
    assert_eq!(history[0]["interrupted"], true, "{detail}");
    assert!(
        history[0]["report"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("does not count"),
        "{detail}"
    );
    assert_eq!(detail["summary"]["attempts"], 0, "{detail}");
    // The next attempt is graded and is the first that counts.
    let (status, graded) = who.submit("harden-image", dockerfile(HARDENED)).await;
    assert_eq!(status, 201, "{graded}");
    assert_eq!(graded["interrupted"], false, "{graded}");
    let (_, detail) = who.get("/api/v1/exercises/harden-image").await;
    assert_eq!(detail["summary"]["attempts"], 1, "{detail}");

    // The terminal reconnects to the same lab, with the learner's volume,
    // its data and image; the interrupted build left no container.
    everything_was_kept(&who, &id).await;
    drop(server);
}

/// SIGTERM with a grading under way and a terminal open: the grading
/// finishes and is answered before the process exits, the terminal is
/// closed, and it reconnects to the same lab after the restart.
#[tokio::test]
async fn a_sigterm_lets_a_grading_finish_and_the_terminal_reconnects() {
    let home = ServerHome::new();
    let instance = &home.instance;
    let content = workspace_root().join("content");
    let marker = format!("term-{}", &instance[5..17]);

    let server = home.serve(&content, &[]).await;
    let who = home.registered("lee").await;
    let (id, mut term) = who.lab_with_terminal("docker-cli").await;
    let out = term
        .output_of("echo $((6*7)) > ~/draft; echo ok-$((1+1))")
        .await;
    assert!(out.contains("ok-2"), "{out}");

    let submitter = who.clone();
    let text = format!("FROM drydock/busybox:1\nRUN sleep 4 && echo {marker}\nUSER 1000:1000\n");
    let submitted =
        tokio::spawn(async move { submitter.submit("harden-image", dockerfile(&text)).await });
    until_running(&marker).await;
    server.terminate().await;
    let (status, graded) = submitted.await.unwrap();
    assert_eq!(status, 201, "the grading under way was answered: {graded}");
    assert_eq!(graded["interrupted"], false, "{graded}");
    assert!(
        graded["report"]["checks"].as_array().unwrap().len() > 1,
        "{graded}"
    );
    term.until_closed(Duration::from_secs(10)).await;

    let server = home.serve(&content, &[]).await;
    let (_, detail) = who.get("/api/v1/exercises/harden-image").await;
    assert_eq!(detail["summary"]["attempts"], 1, "{detail}");
    let mut term = who.terminal(&id).await.unwrap();
    term.expect("docker-cli:").await;
    let out = term.output_of("cat ~/draft").await;
    assert!(out.contains("\n42"), "{out}");
    term.close().await;
    assert!(grading_objects(instance).is_empty());
    assert_eq!(who.delete(&format!("/api/v1/labs/{id}")).await, 204);
    drop(server);
}
