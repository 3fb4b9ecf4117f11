//! The server is killed (SIGKILL) while labs run and started again: live
//! sessions are re-adopted with their containers, expired ones are removed,
//! and no Drydock container is left without a session.

use std::time::Duration;

use crate::common::{
    eventually,
    process::{free_port, learner, serve, serve_content, Cleanup},
    workspace_root,
};
use drydock::{
    db::Db,
    docker::{
        engine::Engine,
        policy::{SandboxLabels, SandboxLimits, SandboxPolicy},
    },
};

#[tokio::test]
async fn a_killed_server_readopts_live_labs_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
    let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(instance.clone());
    let engine = Engine::connect(None, Duration::from_secs(10)).unwrap();
    let mine = [("drydock.instance", instance.as_str())];
    let port = free_port();

    let server = serve(port, &db_url, &instance).await;
    let (keep, lapse) = (learner(port).await, learner(port).await);
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
    let db = Db::connect(&db_url).await.unwrap();
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
    let server = serve(port, &db_url, &instance).await;
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
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
    let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(instance.clone());
    let engine = Engine::connect(None, Duration::from_secs(10)).unwrap();
    let content = workspace_root().join("content");
    let port = free_port();

    let server = serve_content(port, &db_url, &instance, &content).await;
    let (keep, lapse) = (learner(port).await, learner(port).await);
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
    let db = Db::connect(&db_url).await.unwrap();
    sqlx::query("UPDATE lab_sessions SET expires_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 1000)
        .bind(&sessions[1])
        .execute(db.pool())
        .await
        .unwrap();

    let server = serve_content(port, &db_url, &instance, &content).await;
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
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/drydock.db", dir.path().display());
    let instance = format!("test-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(instance.clone());
    let content = workspace_root().join("content");
    let port = free_port();

    let mut server = serve_content(port, &db_url, &instance, &content).await;
    let who = learner(port).await;
    let (status, lab) = who.start_lab("docker-cli").await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = who.terminal(&id).await.unwrap();
    term.expect("docker-cli:").await;
    // A volume no container uses when the server stops, with data in it,
    // and an image the learner built.
    let out = term
        .output_of("docker volume create keep >/dev/null && docker run --rm -u 0 -v keep:/k drydock/busybox:1 sh -c 'echo $((6*7)) > /k/f' && printf 'FROM drydock/busybox:1\\nCOPY f /f\\n' > Dockerfile && echo x > f && docker build -q -t mine:1 . >/dev/null && echo ready-$((2+3))")
        .await;
    assert!(out.contains("ready-5"), "{out}");
    term.close().await;

    // An upgrade or a reboot: SIGTERM, then a new server.
    let pid = server.child.id().to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    eventually(
        "the server stops on SIGTERM",
        Duration::from_secs(30),
        || std::future::ready(server.child.try_wait().unwrap()),
    )
    .await;
    drop(server);
    let server = serve_content(port, &db_url, &instance, &content).await;

    let mut term = who.terminal(&id).await.unwrap();
    term.expect("docker-cli:").await;
    let out = term
        .output_of("docker run --rm -v keep:/k drydock/busybox:1 cat /k/f; docker images mine --format 'tag={{.Tag}}'")
        .await;
    assert!(out.contains("\n42"), "the volume's data survived: {out}");
    assert!(out.contains("tag=1"), "the image survived: {out}");
    term.close().await;
    assert_eq!(who.delete(&format!("/api/v1/labs/{id}")).await, 204);
    drop(server);
}
