//! The hands-on curriculum, as a learner meets it: every `sh run` block of
//! every lesson typed into a terminal of the lesson's own lab (so lessons
//! cannot silently rot), the offline PostgreSQL image, and the exercises
//! graded on the containers a learner started in a Docker lab.

use std::time::{Duration, Instant};

use crate::common::{
    client::Client,
    grading::{check, docker},
    labs::Terminal,
    spawn_app_with, test_config, TestApp, TestDatabase,
};
use drydock::db::Backend;
use serde_json::{json, Value};

/// A server with the real content and room for a few Docker labs.
async fn curriculum_app(db: TestDatabase) -> TestApp {
    let mut config = test_config(&db);
    config.labs.capacity = 4;
    config.labs.per_user = 2;
    config.labs.reap_interval_secs = 2;
    spawn_app_with(db, config).await
}

/// Starts `lab` for `learner` and opens its terminal at the first prompt.
async fn open_lab(learner: &Client, lab: &str) -> (String, Terminal) {
    let (status, body) = learner.start_lab(lab).await;
    assert_eq!(status, 201, "{lab}: {body}");
    let id = body["id"].as_str().unwrap().to_string();
    learner
        .wait_for_status(&id, "running", Duration::from_secs(90))
        .await;
    let mut term = learner.terminal(&id).await.expect("the owner may attach");
    term.read_until_from(0, "$ ", Duration::from_secs(60)).await;
    (id, term)
}

/// Types `block` as the lesson's Run button does (newlines become Enter),
/// then asks the shell for the status of its last command. `None` when
/// the block did not finish within `within`.
async fn run_block(term: &mut Terminal, block: &str, within: Duration) -> (Option<i32>, String) {
    let marker = format!("RC{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let from = term.seen.len();
    term.send(&format!("{}\r", block.replace('\n', "\r"))).await;
    // Split in the typed line, whole in the output: only the echo matches.
    term.run(&format!("echo \"{}\"\"{}=$?\"", &marker[..4], &marker[4..]))
        .await;
    let needle = format!("{marker}=");
    let deadline = Instant::now() + within;
    loop {
        let seen = term.seen.get(from..).unwrap_or_default().to_string();
        if let Some(at) = seen.find(&needle) {
            let code: String = seen[at + needle.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !code.is_empty() && seen[at + needle.len() + code.len()..].contains('\n') {
                return (code.parse().ok(), seen[..at].to_string());
            }
        }
        if Instant::now() >= deadline {
            return (None, seen);
        }
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(2));
        let _ = tokio::time::timeout(
            left,
            term.read_until_from(term.seen.len(), "\n", left + Duration::from_secs(1)),
        )
        .await;
    }
}

#[tokio::test]
async fn every_run_block_of_every_lesson_runs_in_its_lab() {
    let app = curriculum_app(TestDatabase::sqlite()).await;
    let lessons: Vec<(String, String, Vec<drydock::content::render::RunBlock>)> = app
        .state
        .content
        .lessons
        .iter()
        .filter(|l| !l.run_blocks.is_empty())
        .map(|l| {
            (
                l.key(),
                l.meta
                    .lab
                    .clone()
                    .expect("a lesson with run blocks has a lab"),
                l.run_blocks.clone(),
            )
        })
        .collect();
    assert!(
        lessons.len() >= 10,
        "only {} lessons have run blocks",
        lessons.len()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    // One reader goes through the lessons in order, one lab at a time.
    let learner = Client::registered(&app, "reader").await;
    for (lesson, lab, blocks) in &lessons {
        let started = Instant::now();
        let (id, mut term) = open_lab(&learner, lab).await;
        for block in blocks {
            ran += 1;
            let (code, output) =
                run_block(&mut term, &block.command, Duration::from_secs(90)).await;
            let ok = match code {
                None => false,
                Some(0) => !block.refused,
                Some(_) => block.refused,
            };
            if !ok {
                failures.push(format!(
                    "{lesson} line {} ({}), exit {code:?}:\n{}\n--- output ---\n{}",
                    block.line,
                    if block.refused {
                        "should be refused"
                    } else {
                        "should succeed"
                    },
                    block.command,
                    output
                        .chars()
                        .rev()
                        .take(1500)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>()
                ));
                if code.is_none() {
                    // A hung block: interrupt it so the next one gets a prompt.
                    term.send("\u{3}").await;
                    term.run("").await;
                }
            }
        }
        term.close().await;
        assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
        println!(
            "{lesson}: {} blocks in {:.0} s",
            blocks.len(),
            started.elapsed().as_secs_f64()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} run blocks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(ran >= 60, "only {ran} run blocks in the lessons");
}

/// Runs a command in the lab's shell and requires it to succeed.
async fn sh(term: &mut Terminal, command: &str) -> String {
    let (code, output) = run_block(term, command, Duration::from_secs(150)).await;
    assert_eq!(code, Some(0), "{command}\n--- output ---\n{output}");
    output
}

/// "Check my lab": the status and the body (a stored attempt or an error).
async fn check_my_lab(learner: &Client, exercise: &str) -> (u16, Value) {
    let (status, body) = learner
        .post(
            &format!("/api/v1/exercises/{exercise}/submissions"),
            json!({"kind": "lab"}),
        )
        .await;
    (status.as_u16(), body)
}

fn verdict(attempt: &Value, id: &str) -> bool {
    check(attempt, id)["passed"] == true
}

fn full_marks(attempt: &Value) -> bool {
    attempt["report"]["score"] == attempt["report"]["max"]
}

const HEALTH: &str = "--health-cmd \"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 8080 | grep -q '200 OK'\" --health-interval 2s --health-retries 3";

/// Waits (inside the lab, bounded) until the database `db` accepts connections.
const DB_READY: &str = "for i in $(seq 1 90); do docker exec db pg_isready -q -U shop -d shop && break; sleep 1; done; docker exec db pg_isready -U shop -d shop";

async fn lab_container_exercises_grade_what_the_learner_ran(backend: Backend) {
    let app = curriculum_app(TestDatabase::of(backend).await).await;
    let learner = Client::registered(&app, "ada").await;

    // Hardening the web app by hand. Nothing started yet: a clear answer.
    let (lab, mut t) = open_lab(&learner, "container-privileges").await;
    let (status, body) = check_my_lab(&learner, "harden-the-webapp-live").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no container named web"),
        "{body}"
    );
    sh(&mut t, "docker run -d --name web drydock/webapp:1").await;
    let (status, weak) = check_my_lab(&learner, "harden-the-webapp-live").await;
    assert_eq!(status, 201, "{weak}");
    for id in [
        "RUN-NONROOT",
        "RUN-READONLY-ROOTFS",
        "RUN-CAP-DROP-ALL",
        "RUN-MEMORY",
        "RUN-PIDS",
        "RUN-HEALTH",
    ] {
        // The endpoint's own memory and process caps are not the learner's.
        assert!(!verdict(&weak, id), "{id}: {weak}");
    }
    // Another image under the same name is not this exercise's container.
    sh(
        &mut t,
        "docker rm -f web && docker run -d --name web drydock/busybox:1 sleep 600",
    )
    .await;
    let (status, body) = check_my_lab(&learner, "harden-the-webapp-live").await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("drydock/webapp:1"),
        "{body}"
    );
    sh(&mut t, &format!("docker rm -f web && docker run -d --name web --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m --memory 128m --pids-limit 100 {HEALTH} drydock/webapp:1")).await;
    let (status, strong) = check_my_lab(&learner, "harden-the-webapp-live").await;
    assert_eq!(status, 201, "{strong}");
    assert!(full_marks(&strong), "{strong}");
    t.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);

    // Limits: asked for, not merely imposed by the lab.
    let (lab, mut t) = open_lab(&learner, "resource-limits").await;
    sh(
        &mut t,
        "docker run -d --name worker drydock/busybox:1 sleep 600",
    )
    .await;
    let (_, weak) = check_my_lab(&learner, "limits-live").await;
    for id in ["RUN-MEMORY", "RUN-CPU", "RUN-PIDS", "RUN-ULIMITS"] {
        assert!(!verdict(&weak, id), "{id}: {weak}");
    }
    sh(&mut t, "docker rm -f worker && docker run -d --name worker --memory 128m --cpus 0.5 --pids-limit 100 --ulimit nofile=1024:2048 drydock/busybox:1 sleep 600").await;
    let (_, strong) = check_my_lab(&learner, "limits-live").await;
    assert!(full_marks(&strong), "{strong}");
    t.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);

    // Observability: health, bounded logs, bounded restarts.
    let (lab, mut t) = open_lab(&learner, "monitoring-and-logging").await;
    sh(&mut t, "docker run -d --name web drydock/webapp:1").await;
    let (_, weak) = check_my_lab(&learner, "observable-webapp-live").await;
    for id in ["RUN-HEALTH", "RUN-LOGGING", "RUN-RESTART"] {
        assert!(!verdict(&weak, id), "{id}: {weak}");
    }
    sh(&mut t, &format!("docker rm -f web && docker run -d --name web {HEALTH} --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 --restart on-failure:5 drydock/webapp:1")).await;
    let (_, strong) = check_my_lab(&learner, "observable-webapp-live").await;
    assert!(full_marks(&strong), "{strong}");
    t.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);

    // PostgreSQL: the password in the environment, an anonymous volume and
    // a published port first.
    let pressed_start = Instant::now();
    let (lab, mut t) = open_lab(&learner, "postgresql").await;
    let weak_run = "docker run -d --name db -e POSTGRES_PASSWORD=hunter2hunter2 -e POSTGRES_USER=shop -e POSTGRES_DB=shop -p 5432:5432 drydock/postgres:15";
    sh(&mut t, weak_run).await;
    sh(&mut t, DB_READY).await;
    let insert = "docker exec db psql -U shop -d shop -c \"CREATE TABLE orders (id serial primary key, item text); INSERT INTO orders (item) VALUES ('first order')\"";
    sh(&mut t, insert).await;
    println!(
        "postgresql: from Start lab to a database the learner has queried: {:.1} s",
        pressed_start.elapsed().as_secs_f64()
    );
    let (_, weak) = check_my_lab(&learner, "postgres-done-right").await;
    assert!(verdict(&weak, "LIVE-ANSWERS"), "{weak}");
    for id in [
        "RUN-NO-ENV-SECRETS",
        "LIVE-NAMED-VOLUME",
        "RUN-PORTS",
        "RUN-MEMORY",
        "LIVE-DATA-OUTLIVES",
    ] {
        assert!(!verdict(&weak, id), "{id}: {weak}");
    }
    // Re-created without a named volume: the row is gone, so the data
    // checks cannot pass.
    sh(&mut t, &format!("docker rm -f db && {weak_run}")).await;
    sh(&mut t, DB_READY).await;
    let (_, lost) = check_my_lab(&learner, "postgres-done-right").await;
    assert!(!verdict(&lost, "LIVE-ANSWERS"), "{lost}");
    assert!(!verdict(&lost, "LIVE-DATA-OUTLIVES"), "{lost}");
    // Done right: the password from a file on a volume, the data on a
    // named volume, a memory limit, no port; the row survives a new container.
    sh(&mut t, "docker rm -f db && docker volume prune -f").await;
    sh(&mut t, "docker volume create pgsecret && docker run --rm -v pgsecret:/run/secrets --entrypoint sh drydock/postgres:15 -c 'umask 077; head -c 18 /dev/urandom | base64 > /run/secrets/postgres-password'").await;
    let good_run = "docker run -d --name db -v pgdata:/var/lib/postgresql/data -v pgsecret:/run/secrets:ro -e POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password -e POSTGRES_USER=shop -e POSTGRES_DB=shop --memory 256m drydock/postgres:15";
    sh(&mut t, good_run).await;
    sh(&mut t, DB_READY).await;
    sh(&mut t, insert).await;
    let (_, not_yet) = check_my_lab(&learner, "postgres-done-right").await;
    assert!(!verdict(&not_yet, "LIVE-DATA-OUTLIVES"), "{not_yet}");
    // The data files' times are whole seconds: let a second pass.
    sh(&mut t, &format!("sleep 1; docker rm -f db && {good_run}")).await;
    sh(&mut t, DB_READY).await;
    let (status, good) = check_my_lab(&learner, "postgres-done-right").await;
    assert_eq!(status, 201, "{good}");
    assert!(full_marks(&good), "{good}");
    t.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);
}

#[tokio::test]
async fn lab_container_exercises_grade_what_the_learner_ran_on_sqlite() {
    lab_container_exercises_grade_what_the_learner_ran(Backend::Sqlite).await;
}

#[tokio::test]
async fn lab_container_exercises_grade_what_the_learner_ran_on_postgres() {
    lab_container_exercises_grade_what_the_learner_ran(Backend::Postgres).await;
}

/// The offline PostgreSQL image as a reader of the lesson uses it outside
/// any lab: the password from a file on a volume, data on a named volume
/// that outlives its container, a client in a second container.
#[tokio::test]
async fn the_postgres_image_starts_from_a_password_file_and_keeps_its_data() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (net, secret, data, db) = (
        format!("ddpg-net-{tag}"),
        format!("ddpg-secret-{tag}"),
        format!("ddpg-data-{tag}"),
        format!("ddpg-db-{tag}"),
    );
    let label = "--label=drydock.managed=true";
    docker(&["network", "create", "--internal", label, &net]);
    docker(&["volume", "create", label, &secret]);
    docker(&["volume", "create", label, &data]);
    let cleanup = || {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &db])
            .output();
        for (kind, name) in [("volume", &secret), ("volume", &data), ("network", &net)] {
            let _ = std::process::Command::new("docker")
                .args([kind, "rm", name])
                .output();
        }
    };
    let result = std::panic::catch_unwind(|| {
        docker(&[
            "run",
            "--rm",
            label,
            "-v",
            &format!("{secret}:/run/secrets"),
            "--entrypoint",
            "sh",
            "drydock/postgres:15",
            "-c",
            "umask 077; echo s3cret-pw > /run/secrets/pw",
        ]);
        let start = |name: &str| {
            docker(&[
                "run",
                "-d",
                label,
                "--name",
                name,
                "--network",
                &net,
                "--runtime",
                "runsc-net",
                "-v",
                &format!("{data}:/var/lib/postgresql/data"),
                "-v",
                &format!("{secret}:/run/secrets:ro"),
                "-e",
                "POSTGRES_PASSWORD_FILE=/run/secrets/pw",
                "-e",
                "POSTGRES_USER=shop",
                "-e",
                "POSTGRES_DB=shop",
                "--memory",
                "256m",
                "drydock/postgres:15",
            ]);
            let deadline = Instant::now() + Duration::from_secs(120);
            while !std::process::Command::new("docker")
                .args(["exec", name, "pg_isready", "-q", "-U", "shop", "-d", "shop"])
                .status()
                .is_ok_and(|s| s.success())
            {
                assert!(Instant::now() < deadline, "{}", docker(&["logs", name]));
                std::thread::sleep(Duration::from_millis(500));
            }
        };
        start(&db);
        for tool in ["psql", "pg_isready", "pg_dump", "pg_restore"] {
            assert!(
                docker(&["exec", &db, tool, "--version"]).contains("15."),
                "{tool}"
            );
        }
        let psql =
            |sql: &str| docker(&["exec", &db, "psql", "-U", "shop", "-d", "shop", "-tAc", sql]);
        psql("CREATE TABLE t (x int); INSERT INTO t VALUES (42)");
        // The password never reaches the environment.
        let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &db]);
        assert!(!env.contains("s3cret-pw"), "{env}");
        // A client container over the network, with and without the password.
        let query = |password: &str| {
            std::process::Command::new("docker")
                .args([
                    "run",
                    "--rm",
                    label,
                    "--network",
                    &net,
                    "--runtime",
                    "runsc-net",
                    "-e",
                ])
                .arg(format!("PGPASSWORD={password}"))
                .args([
                    "drydock/postgres:15",
                    "psql",
                    "-h",
                    &db,
                    "-U",
                    "shop",
                    "-d",
                    "shop",
                    "-tAc",
                    "SELECT x FROM t",
                ])
                .output()
                .unwrap()
        };
        let right = query("s3cret-pw");
        assert_eq!(
            String::from_utf8_lossy(&right.stdout).trim(),
            "42",
            "{right:?}"
        );
        let wrong = query("guess");
        assert!(!wrong.status.success(), "{wrong:?}");
        assert!(
            String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"),
            "{wrong:?}"
        );
        // A new container on the same volume finds the row.
        docker(&["rm", "-f", &db]);
        start(&db);
        assert_eq!(psql("SELECT x FROM t"), "42");
    });
    cleanup();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
