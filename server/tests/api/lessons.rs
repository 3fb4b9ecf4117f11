//! Lessons: the real curriculum loads and checks clean, broken content is
//! reported precisely, quizzes are graded on the server without leaking
//! answers, and progress is kept per user on both databases.

use std::process::Command;

use crate::common::{client::Client, spawn_app, workspace_root, TestDatabase};
use drydock::db::Backend;
use reqwest::header;
use serde_json::{json, Value};

fn drydock(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(args)
        .output()
        .expect("drydock runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_real_curriculum_passes_the_checker() {
    let content = workspace_root().join("content");
    let (ok, output) = drydock(&["content", "check", content.to_str().unwrap()]);
    assert!(ok, "{output}");
    assert!(output.contains("2 tracks, 13 lessons"), "{output}");
}

#[test]
fn the_checker_reports_each_broken_fixture_with_file_and_line() {
    let fixtures = workspace_root().join("server/tests/fixtures/broken-content");
    let (ok, output) = drydock(&["content", "check", fixtures.to_str().unwrap()]);
    assert!(!ok, "broken content must fail the check");
    for expected in [
        "broken-content/lessons/t/02-bad-front.md:2: missing field `summary`",
        "broken-content/lessons/t/03-links.md:7: unknown lab \"no-such-lab\"",
        "broken-content/lessons/t/03-links.md:8: unknown exercise \"no-such-exercise\"",
        "broken-content/lessons/t/03-links.md:11: use ## and ### headings",
        "broken-content/lessons/t/03-links.md:13: broken link \"/lessons/t/nope\": no lesson \"t/nope\"",
        "broken-content/lessons/t/03-links.md:13: broken link \"/lessons/t/good#missing\": lesson \"t/good\" has no heading with anchor #missing",
        "broken-content/lessons/t/03-links.md:16: missing image: content/media/missing.png does not exist",
        "broken-content/lessons/t/03-links.md:18: raw HTML is not allowed",
        "broken-content/lessons/t/03-links.md:20: link target \"javascript:alert(1)\" uses a scheme that is not allowed",
        "broken-content/lessons/t/04-order.md:7: unknown field `colour`",
        "broken-content/lessons/t/05-quiz.quiz.toml:2: question \"no-answer\" has no correct answer",
        "broken-content/lessons/t/05-quiz.quiz.toml:16: question \"two-answers\" is \"single\" but marks 2 answers correct",
        "duplicate question id \"no-answer\"",
        "broken-content/lessons/t/06-orphan.quiz.toml:1: quiz without a lesson",
        "broken-content/lessons/t/07-good.md:1: duplicate slug \"good\" in track \"t\"",
        "broken-content/lessons/t/08-numbers.md:4: minutes must be between 1 and 240",
        "broken-content/lessons/t/08-numbers.md:5: order = 3 does not match the file number 08",
        "broken-content/lessons/t/08-numbers.md:5: order 3 is also used by 03-links.md",
        "broken-content/lessons/t/08-numbers.md:6: objectives must list 1 to 8 non-empty items",
        "broken-content/lessons/t/notes.txt:1: unexpected file",
        "broken-content/lessons/tracks.toml:1: track \"ghost\" has no folder",
        "broken-content/lessons/t/09-hands-on.md:11: broken link \"/lessons/t/no-such-lesson\": no lesson \"t/no-such-lesson\"",
        "broken-content/lessons/t/09-hands-on.md:11: broken link \"/lessons/t/hands-on#no-such-anchor\": lesson \"t/hands-on\" has no heading with anchor #no-such-anchor",
        "broken-content/lessons/t/09-hands-on.md:11: relative link \"notes.txt\"",
        "broken-content/lessons/t/09-hands-on.md:13: this run block starts \"alpine:3.22\", which no lab image provides",
    ] {
        assert!(output.contains(expected), "missing {expected:?} in:\n{output}");
    }
    for fine in ["t/good#real-heading", "hands-on#links", "mine:1"] {
        assert!(
            !output.contains(fine),
            "{fine} is valid and not reported:\n{output}"
        );
    }
    assert!(output.contains("problem(s)"));
}

#[tokio::test]
async fn lesson_pages_render_anchors_toc_highlighting_and_callouts() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let html = app
        .http
        .get(app.url("/lessons/security/container-privileges"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        // `<!>` marks where hydration expects a dynamic child.
        .replace("<!>", "");
    assert!(html.contains("<h1>Container privilege level</h1>"));
    assert!(
        html.contains("<h2 id=\"drop-capabilities\">"),
        "heading anchors"
    );
    assert!(
        html.contains("href=\"#drop-capabilities\""),
        "table of contents links to them"
    );
    assert!(html.contains("class=\"hl-"), "server-side highlighting");
    assert!(
        html.contains("class=\"code-block runnable\""),
        "runnable blocks are marked"
    );
    assert!(html.contains("class=\"callout callout-"), "callouts");
    assert!(html.contains("/highlight.css"));
    let css = app
        .http
        .get(app.url("/highlight.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains(".hl-"));

    // Catalog: every track and lesson, with time estimates.
    let catalog = app
        .http
        .get(app.url("/lessons"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(catalog.contains("Docker fundamentals") && catalog.contains("Docker security"));
    assert!(catalog.contains("/lessons/fundamentals/containers-vs-vms"));

    // Unknown lessons are a 404 page and a JSON 404.
    let missing = app
        .http
        .get(app.url("/lessons/security/no-such-lesson"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let (status, body) = Client::new(&app)
        .get("/api/v1/lessons/security/no-such-lesson")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

/// Explanations and the correct choices are the answers: neither may reach
/// the browser before the learner answers.
#[tokio::test]
async fn lesson_html_and_json_never_contain_the_answers() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let c = Client::new(&app);
    let catalog = &app.state.content;
    let mut checked = 0;
    for lesson in &catalog.lessons {
        let path = format!("/lessons/{}/{}", lesson.track, lesson.slug);
        let page = c
            .http
            .get(app.url(&path))
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (status, api) = c.get(&format!("/api/v1{path}")).await;
        assert_eq!(status, 200);
        let api_text = api.to_string();
        for q in &lesson.quiz {
            assert!(page.contains(&q.id), "the question {} is on the page", q.id);
            let probe: String = q.explanation.chars().take(60).collect();
            assert!(
                !page.contains(&probe),
                "{path}: explanation of {} leaked into the page",
                q.id
            );
            assert!(
                !api_text.contains(&probe),
                "{path}: explanation of {} leaked into the JSON",
                q.id
            );
            checked += 1;
        }
        assert!(
            !api_text.contains("correct"),
            "{path}: the JSON has a correctness marker"
        );
        assert!(
            !page.contains("correct_choices"),
            "{path}: the page has a correctness marker"
        );
    }
    assert!(
        checked >= 39,
        "13 lessons with at least 3 questions each, checked {checked}"
    );
}

async fn progress_story(backend: Backend) {
    let app = spawn_app(TestDatabase::of(backend).await).await;
    let lesson = app
        .state
        .content
        .lesson("security", "container-privileges")
        .expect("lesson exists");
    let question = &lesson.quiz[0];
    let right = question.correct_choices();
    let wrong: Vec<usize> = (0..question.choices.len())
        .filter(|i| !right.contains(i))
        .take(1)
        .collect();
    let quiz_path = format!(
        "/api/v1/lessons/security/container-privileges/quiz/{}",
        question.id
    );

    // A guest starts learning.
    let ada = Client::new(&app);
    ada.visit_home().await;
    let (status, verdict) = ada.post(&quiz_path, json!({"choices": wrong})).await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["correct"], false);
    assert_eq!(verdict["explanation"], question.explanation.as_str());
    let (_, verdict) = ada.post(&quiz_path, json!({"choices": right})).await;
    assert_eq!(verdict["correct"], true);
    assert_eq!(verdict["correct_choices"], json!(right));
    let (status, done) = ada
        .post(
            "/api/v1/lessons/security/container-privileges/complete",
            json!({"complete": true}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(done["completed"], true);

    // Bad answers get clear errors.
    let (status, body) = ada.post(&quiz_path, json!({"choices": []})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = ada.post(&quiz_path, json!({"choices": [99]})).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );
    let (status, _) = ada
        .post(
            "/api/v1/lessons/security/container-privileges/quiz/no-such-question",
            json!({"choices": [0]}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = Client::new(&app)
        .post(&quiz_path, json!({"choices": right}))
        .await;
    assert_eq!(status, 401, "answering needs an identity");

    // Her progress shows in the catalog and the lesson; the answer is remembered.
    let (_, catalog) = ada.get("/api/v1/lessons").await;
    let security = catalog["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "security")
        .unwrap();
    let entry = security["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["slug"] == "container-privileges")
        .unwrap();
    assert_eq!(entry["completed"], true);
    let (_, page) = ada
        .get("/api/v1/lessons/security/container-privileges")
        .await;
    assert_eq!(page["completed"], true);
    assert_eq!(page["quiz"][0]["answered"]["correct"], true);
    assert_eq!(
        page["quiz"][1]["answered"],
        Value::Null,
        "unanswered questions stay closed"
    );

    // Someone else sees none of it.
    let bob = Client::new(&app);
    bob.visit_home().await;
    let (_, bobs) = bob
        .get("/api/v1/lessons/security/container-privileges")
        .await;
    assert_eq!(bobs["completed"], false);
    assert_eq!(bobs["quiz"][0]["answered"], Value::Null);

    // Registering keeps the guest's progress.
    let (status, _) = ada
        .post(
            "/api/v1/auth/register",
            json!({"username": "ada", "password": "analytical engine"}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, progress) = ada.get("/api/v1/progress").await;
    let sec = progress["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "security")
        .unwrap();
    assert_eq!(sec["done"], 1);
    assert_eq!(sec["total"], 7);
    assert_eq!(progress["quiz_correct"], 1);
    assert_eq!(progress["quiz_answered"], 1);

    // A guest who logs in brings their progress along.
    let (_, _) = bob
        .post(
            "/api/v1/lessons/fundamentals/docker-api/complete",
            json!({}),
        )
        .await;
    let (status, _) = bob
        .post(
            "/api/v1/auth/login",
            json!({"username": "ada", "password": "analytical engine"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, progress) = bob.get("/api/v1/progress").await;
    let fun = progress["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "fundamentals")
        .unwrap();
    assert_eq!(fun["done"], 1, "{progress}");

    // Unmarking works too.
    let (_, done) = ada
        .post(
            "/api/v1/lessons/security/container-privileges/complete",
            json!({"complete": false}),
        )
        .await;
    assert_eq!(done["completed"], false);
    eprintln!("progress story passed on {}", backend.name());
}

#[tokio::test]
async fn progress_is_kept_per_user_on_sqlite() {
    progress_story(Backend::Sqlite).await;
}

#[tokio::test]
async fn progress_is_kept_per_user_on_postgres() {
    progress_story(Backend::Postgres).await;
}

#[tokio::test]
async fn search_finds_the_matching_section() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let (status, hits) = Client::new(&app)
        .get("/api/v1/search?q=capability%20bounding")
        .await;
    assert_eq!(status, 200);
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .any(|h| h["slug"] == "container-privileges" && h["anchor"].is_string()),
        "{hits:?}"
    );
    assert!(hits[0]["snippet"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("capabilit"));
    let (_, none) = Client::new(&app).get("/api/v1/search?q=zzzyqx").await;
    assert_eq!(none, json!([]));
    let (_, empty) = Client::new(&app).get("/api/v1/search?q=").await;
    assert_eq!(empty, json!([]));
    let page = app
        .http
        .get(app.url("/lessons/search?q=volume"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("matching sections"),
        "the search page renders results"
    );
}

#[tokio::test]
async fn lesson_images_are_served_with_long_lived_caching() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let page = app
        .http
        .get(app.url("/lessons/fundamentals/containers-vs-vms"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("src=\"/media/vm-vs-container.svg\""));
    let image = app
        .http
        .get(app.url("/media/vm-vs-container.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(
        image.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(image.headers()["content-type"], "image/svg+xml");
    let missing = app
        .http
        .get(app.url("/media/nope.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers().get("cache-control").is_none(),
        "a 404 is not cached"
    );
    let escape = app
        .http
        .get(app.url("/media/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        escape.status(),
        200,
        "no path traversal out of content/media"
    );
}

/// A lesson page is kept per viewer and served again while nothing it shows
/// has changed; the viewer's own writes, writes made for them in the
/// background (a lab ending) and a changed role make the next view fresh,
/// and another learner's writes leave their kept pages alone.
#[tokio::test]
async fn a_kept_lesson_page_is_fresh_after_anything_it_shows_changes() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let path = "/lessons/security/container-privileges";
    let page = |c: &Client| {
        let req = c.http.get(c.url(path)).header(header::ACCEPT, "text/html");
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.text().await.unwrap()
        }
    };
    let (ann, bob) = (Client::arrive(&app).await, Client::arrive(&app).await);
    let (_, me) = ann.me().await;
    let ann_id = me["id"].as_i64().expect("a guest has an id");
    let changes = app.state.db.changes();

    let first = page(&ann).await;
    assert!(
        first.contains("aria-pressed=\"false\""),
        "not completed yet"
    );
    assert_eq!(page(&ann).await, first, "the same page again");
    page(&bob).await;
    assert_eq!(app.state.pages.len(), 2, "one page kept per viewer");

    // Ann's own write: her next view shows it; Bob's version did not move.
    let (_, bob_me) = bob.me().await;
    let bob_id = bob_me["id"].as_i64().unwrap();
    let bob_version = changes.version(bob_id);
    let (status, _) = ann
        .post(
            "/api/v1/lessons/security/container-privileges/complete",
            json!({ "complete": true }),
        )
        .await;
    assert_eq!(status, 200);
    assert!(page(&ann).await.contains("aria-pressed=\"true\""));
    assert_eq!(
        changes.version(bob_id),
        bob_version,
        "Bob's pages stay kept"
    );

    // Writes made for Ann by the server itself move her version.
    let v = changes.version(ann_id);
    let lab = uuid::Uuid::new_v4().to_string();
    drydock::db::labs::insert(
        &app.state.db,
        &lab,
        ann_id,
        "first-container",
        drydock::db::labs::LabStatus::Queued,
    )
    .await
    .unwrap();
    assert_ne!(changes.version(ann_id), v, "a lab session was added");
    let v = changes.version(ann_id);
    assert!(drydock::db::labs::end(&app.state.db, &lab, "test")
        .await
        .unwrap());
    assert_ne!(changes.version(ann_id), v, "the reaper ended her lab");
    let v = changes.version(ann_id);
    assert!(!drydock::db::labs::end(&app.state.db, &lab, "again")
        .await
        .unwrap());
    assert_eq!(
        changes.version(ann_id),
        v,
        "nothing changed the second time"
    );
    drydock::db::users::set_role(&app.state.db, ann_id, drydock::db::users::Role::Learner)
        .await
        .unwrap();
    assert_ne!(
        changes.version(ann_id),
        v,
        "an administrator changed her role"
    );

    // After logging out, the same browser is a new visitor, never Ann.
    let (status, _) = ann.post("/api/v1/auth/logout", json!({})).await;
    assert!(status.is_success(), "{status}");
    assert!(page(&ann).await.contains("aria-pressed=\"false\""));
}
