//! Workshop stories on the real engine: an instructor creates a workshop,
//! learners join, start labs and submit exercises while the dashboard's
//! event stream shows each step; the gradebook has the right numbers; and
//! nobody reads what is not theirs.

use std::time::{Duration, Instant};

use crate::common::{
    client::Client,
    labs::remove_lab_containers,
    spawn_app,
    workshops::{cell, EventStream},
    TestDatabase,
};
use drydock::db::{users::Role, Backend};
use reqwest::StatusCode;
use serde_json::{json, Value};

const WEAK: &str = "docker run -d drydock/webapp:1";
const HARDENED: &str = "docker run -d --user 1000:1000 --cap-drop ALL \
    --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m \
    --network none --memory 128m --pids-limit 100 drydock/webapp:1";
const SOON: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn user_id(client: &Client) -> i64 {
    let (status, me) = client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me["id"].as_i64().unwrap()
}

fn row_of<'a>(progress: &'a Value, username: &str) -> Option<&'a Value> {
    progress["learners"]
        .as_array()?
        .iter()
        .find(|r| r["username"] == username)
}

async fn an_instructor_runs_a_workshop(backend: Backend) {
    let app = spawn_app(TestDatabase::of(backend).await).await;
    let url = |path: &str| app.url(path);
    let teacher = Client::with_role(&app, "teacher", Role::Instructor).await;

    // Learners cannot create workshops.
    let outsider = Client::registered(&app, "outsider").await;
    let (status, _) = outsider
        .post("/api/v1/workshops", json!({"title": "Mine"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = teacher
        .post("/api/v1/workshops", json!({"title": "", "lessons": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = teacher
        .post(
            "/api/v1/workshops",
            json!({"title": "X", "exercises": ["nope"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, created) = teacher
        .post(
            "/api/v1/workshops",
            json!({
                "title": "Container hardening, morning session",
                "lessons": ["security/container-privileges"],
                "labs": ["container-privileges"],
                "exercises": ["least-privilege-run", "leaked-password"],
                // Already past: late work is kept and flagged.
                "deadlines": {"leaked-password": now_ms() - 60_000},
                "max_participants": 3,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let code = created["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 8);

    let mut dashboard =
        EventStream::open(&teacher, &url(&format!("/api/v1/workshops/{id}/events")))
            .await
            .expect("the instructor may watch the dashboard");
    dashboard
        .wait_for("snapshot", SOON, |p| {
            p["learners"].as_array().is_some_and(|l| l.is_empty())
        })
        .await;

    // Three learners join with the code (any case); a guest may not.
    let guest = Client::arrive(&app).await;
    let (status, _) = guest
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut learners = Vec::new();
    for name in ["ada", "bob", "cyd"] {
        let learner = Client::registered(&app, name).await;
        let (status, joined) = learner
            .post(
                "/api/v1/workshops/join",
                json!({"code": code.to_lowercase()}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["status"], "active");
        assert_eq!(joined["code"], Value::Null, "learners never see the code");
        learners.push(learner);
    }
    let (status, full) = outsider
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{full}");
    let (ada, bob, cy) = (&learners[0], &learners[1], &learners[2]);
    let ada_id = user_id(ada).await;
    let bob_id = user_id(bob).await;
    let cy_id = user_id(cy).await;
    dashboard
        .wait_for("snapshot", SOON, |p| {
            p["learners"].as_array().is_some_and(|l| l.len() == 3)
        })
        .await;

    // A learner's own stream carries only their own row.
    let mut ada_stream = EventStream::open(ada, &url(&format!("/api/v1/workshops/{id}/events")))
        .await
        .unwrap();
    let mine = ada_stream.wait_for("snapshot", SOON, |_| true).await;
    assert_eq!(mine.data["learners"].as_array().unwrap().len(), 1);
    assert_eq!(mine.data["learners"][0]["username"], "ada");

    // Labs: the dashboard shows who has one running.
    let mut sessions = Vec::new();
    for (learner, name) in [(ada, "ada"), (bob, "bob")] {
        let (status, lab) = learner.start_lab("container-privileges").await;
        assert_eq!(status, StatusCode::CREATED, "{lab}");
        sessions.push((learner, lab["id"].as_str().unwrap().to_string()));
        dashboard
            .wait_for("learner", SOON, |r| {
                r["username"] == name && r["lab"]["status"] == "running"
            })
            .await;
    }

    // Submissions: each one shows up with its score and failing checks.
    let (status, weak) = ada
        .submit(
            "least-privilege-run",
            json!({"kind": "run", "command": WEAK}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{weak}");
    let submitted = Instant::now();
    let weak_score = weak["report"]["score"].as_u64().unwrap();
    let seen = dashboard
        .wait_for("learner", SOON, |r| {
            r["username"] == "ada" && cell(r, "least-privilege-run")["best"] == weak_score
        })
        .await;
    eprintln!(
        "dashboard update after a submission: {:?}",
        seen.at.duration_since(submitted)
    );
    assert!(seen.at.duration_since(submitted) <= Duration::from_secs(2));
    assert!(!cell(&seen.data, "least-privilege-run")["failing"]
        .as_array()
        .unwrap()
        .is_empty());
    let stats = dashboard
        .wait_for("exercise", SOON, |s| {
            s["exercise"] == "least-privilege-run" && s["tried"] == 1
        })
        .await;
    assert!(stats.data["hardest"].is_string(), "{}", stats.data);
    let (status, _) = ada
        .submit(
            "least-privilege-run",
            json!({"kind": "run", "command": HARDENED}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    dashboard
        .wait_for("learner", SOON, |r| {
            r["username"] == "ada"
                && cell(r, "least-privilege-run")["best"] == 16
                && cell(r, "least-privilege-run")["passed"] == true
        })
        .await;
    ada_stream
        .wait_for("learner", SOON, |r| {
            cell(r, "least-privilege-run")["best"] == 16
        })
        .await;
    let (status, _) = bob
        .submit(
            "least-privilege-run",
            json!({"kind": "run", "command": WEAK}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    dashboard
        .wait_for("exercise", SOON, |s| {
            s["exercise"] == "least-privilege-run" && s["tried"] == 2 && s["passed"] == 1
        })
        .await;
    // Late, but kept (the workshop accepts late work).
    let (status, flag) = cy
        .submit(
            "leaked-password",
            json!({"kind": "flag", "value": "pg-FAKE-drydock-7Qm2vX9rLw4Tn8Kc"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{flag}");
    dashboard
        .wait_for("learner", SOON, |r| {
            r["username"] == "cyd" && cell(r, "leaked-password")["late"] == true
        })
        .await;
    // Lessons done count too.
    let (status, _) = ada
        .post(
            "/api/v1/lessons/security/container-privileges/complete",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    dashboard
        .wait_for("learner", SOON, |r| {
            r["username"] == "ada" && r["lessons_done"] == 1
        })
        .await;

    // Announcements reach the dashboard and every learner's page.
    let (status, said) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/announcements"),
            json!({"body": "Ten minutes left for the first exercise."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{said}");
    ada_stream
        .wait_for("announcement", SOON, |a| {
            a["body"] == "Ten minutes left for the first exercise."
        })
        .await;
    let (_, ada_view) = ada.get(&format!("/api/v1/workshops/{id}")).await;
    assert_eq!(ada_view["announcements"][0]["author"], "teacher");
    assert_eq!(
        ada_view["roster"],
        json!([]),
        "learners do not see the roster"
    );
    assert_eq!(ada_view["me"]["username"], "ada");

    // The gradebook: one row per learner and exercise, stable columns.
    let csv = teacher
        .http
        .get(url(&format!("/api/v1/workshops/{id}/grades.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "learner,user_id,exercise,max_score,best_score,best_score_including_late,attempts,late_attempts,passed,deadline"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6, "{csv}");
    let find = |who: &str, exercise: &str| {
        rows.iter()
            .find(|r| r[0] == who && r[2] == exercise)
            .unwrap_or_else(|| panic!("no row for {who}/{exercise} in\n{csv}"))
            .clone()
    };
    let a = find("ada", "least-privilege-run");
    assert_eq!(
        (a[3], a[4], a[6], a[7], a[8]),
        ("16", "16", "2", "0", "true")
    );
    assert_eq!(a[1], ada_id.to_string());
    let b = find("bob", "least-privilege-run");
    assert_eq!(
        (b[4], b[6], b[8]),
        (weak_score.to_string().as_str(), "1", "false")
    );
    let c = find("cyd", "leaked-password");
    assert_eq!((c[4], c[5], c[6], c[7], c[8]), ("", "2", "1", "1", "true"));
    assert!(!c[9].is_empty(), "the deadline is exported");
    let untried = find("cyd", "least-privilege-run");
    assert_eq!((untried[4], untried[6]), ("", "0"));

    // Shadowing: the instructor watches ada's terminal; ada is told.
    let (_, ada_session) = &sessions[0];
    let mut ada_term = ada.terminal(ada_session).await.unwrap();
    let mut shadow = teacher
        .terminal_at(&format!(
            "/api/v1/workshops/{id}/learners/{ada_id}/terminal"
        ))
        .await
        .expect("instructors may watch");
    shadow.expect_control("watched", SOON).await;
    let told = ada_term.expect_control("watched", SOON).await;
    assert_eq!(told["watchers"], 1);
    ada_term.run("echo shadow-$((6*7))").await;
    shadow.expect("shadow-42").await;
    // Typing into a shadow does nothing in the learner's shell.
    shadow.send("echo typed-by-instructor\n").await;
    // Ada's own next command is the sync point: anything the shadow's
    // keystrokes had reached her shell with would come before its output.
    let after = ada_term.output_of("echo synced-$((2+2))").await;
    assert!(after.contains("synced-4"), "{after}");
    assert!(!ada_term.seen.contains("typed-by-instructor"));
    shadow.close().await;
    ada_term.close().await;
    assert_eq!(
        ada.terminal_at(&format!(
            "/api/v1/workshops/{id}/learners/{bob_id}/terminal"
        ))
        .await
        .err(),
        Some(403),
        "learners cannot watch each other"
    );

    // Authorization: learners see only their own data; outsiders nothing.
    for path in [
        format!("/api/v1/workshops/{id}/progress"),
        format!("/api/v1/workshops/{id}/grades.csv"),
    ] {
        assert_eq!(ada.get(&path).await.0, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(outsider.get(&path).await.0, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(teacher.get(&path).await.0, StatusCode::OK, "{path}");
    }
    for path in [
        format!("/api/v1/workshops/{id}/announcements"),
        format!("/api/v1/workshops/{id}/end"),
        format!("/api/v1/workshops/{id}/members/{bob_id}/remove"),
        format!("/api/v1/workshops/{id}/members/{bob_id}/reset-lab"),
    ] {
        let (status, _) = ada.post(&path, json!({"body": "hi"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        let (status, _) = outsider.post(&path, json!({"body": "hi"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        outsider.get(&format!("/api/v1/workshops/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(
        EventStream::open(&outsider, &url(&format!("/api/v1/workshops/{id}/events")))
            .await
            .is_err()
    );
    let (_, list) = outsider.get("/api/v1/workshops").await;
    assert_eq!(list, json!([]));
    let (_, list) = ada.get("/api/v1/workshops").await;
    assert_eq!(list[0]["id"], id.as_str());

    // Roster: reset a lab, remove bob (his lab stops), ban cy.
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{bob_id}/reset-lab"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{bob_id}/remove"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, bob_labs) = bob.get("/api/v1/labs").await;
    assert!(
        bob_labs
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "ended"),
        "{bob_labs}"
    );
    assert_eq!(
        bob.get(&format!("/api/v1/workshops/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    dashboard
        .wait_for("snapshot", SOON, |p| {
            row_of(p, "bob").is_none() && row_of(p, "ada").is_some()
        })
        .await;
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{cy_id}/ban"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = cy
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{ada_id}/fly"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Ending stops the labs and closes the door.
    let (status, ended) = teacher
        .post(&format!("/api/v1/workshops/{id}/end"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["stopped_labs"], 1);
    dashboard.wait_for("ended", SOON, |_| true).await;
    let (_, ada_labs) = ada.get("/api/v1/labs").await;
    assert!(
        ada_labs
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "ended"),
        "{ada_labs}"
    );
    let late = Client::registered(&app, "latecomer").await;
    let (status, _) = late
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    remove_lab_containers(&app).await;
    eprintln!("workshop story passed on {}", backend.name());
}

#[tokio::test]
async fn an_instructor_runs_a_workshop_on_sqlite() {
    an_instructor_runs_a_workshop(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_instructor_runs_a_workshop_on_postgres() {
    an_instructor_runs_a_workshop(Backend::Postgres).await;
}

#[tokio::test]
async fn approval_deadlines_and_reserved_lab_slots() {
    let db = TestDatabase::sqlite();
    let mut config = crate::common::test_config(&db);
    config.labs.capacity = 2;
    let app = crate::common::spawn_app_with(db, config).await;
    let teacher = Client::with_role(&app, "teacher", Role::Instructor).await;
    let (status, created) = teacher
        .post(
            "/api/v1/workshops",
            json!({
                "title": "Strict",
                "labs": ["container-privileges"],
                "exercises": ["leaked-password"],
                "deadlines": {"leaked-password": now_ms() - 1000},
                "approval": true,
                "accept_late": false,
                "reserved_labs": 1,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let code = created["code"].as_str().unwrap();

    // With approval, a learner waits and sees nothing of the plan yet.
    let ada = Client::registered(&app, "ada").await;
    let (_, joined) = ada
        .post("/api/v1/workshops/join", json!({"code": code}))
        .await;
    assert_eq!(joined["status"], "pending");
    let (_, pending) = ada.get(&format!("/api/v1/workshops/{id}")).await;
    assert_eq!(pending["items"], json!([]));
    assert_eq!(
        ada.get(&format!("/api/v1/workshops/{id}/events")).await.0,
        StatusCode::FORBIDDEN
    );
    let ada_id = user_id(&ada).await;
    let (status, _) = teacher
        .post(
            &format!("/api/v1/workshops/{id}/members/{ada_id}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, approved) = ada.get(&format!("/api/v1/workshops/{id}")).await;
    assert_eq!(approved["items"].as_array().unwrap().len(), 2);

    // Admins see every workshop as its instructors do.
    let admin = Client::with_role(&app, "root", Role::Admin).await;
    assert_eq!(
        admin
            .get(&format!("/api/v1/workshops/{id}/progress"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        admin
            .get(&format!("/api/v1/workshops/{id}/grades.csv"))
            .await
            .0,
        StatusCode::OK
    );

    // Past the deadline, with no late work accepted, a submission is refused.
    let (status, refused) = ada
        .submit("leaked-password", json!({"kind": "flag", "value": "x"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("deadline"));

    // Capacity 2 with 1 slot reserved: an outsider gets the free slot, the
    // next outsider queues, the workshop's learner still gets the reserved one.
    let first = Client::registered(&app, "first").await;
    let (status, _) = first.start_lab("container-privileges").await;
    assert_eq!(status, StatusCode::CREATED);
    let second = Client::registered(&app, "second").await;
    let (status, queued) = second.start_lab("container-privileges").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let (status, mine) = ada.start_lab("container-privileges").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the reserved slot is the class's: {mine}"
    );

    remove_lab_containers(&app).await;
}
