//! UI stories in a real browser. Needs the site built by `cargo leptos build`
//! (the Makefile's test target does that first).

use crate::common::{browser::Browser, spawn_app, workspace_root, TestDatabase};
use fantoccini::Locator;

#[tokio::test]
async fn the_home_page_hydrates_and_reacts_to_clicks() {
    let pkg = workspace_root().join("target/site/pkg");
    assert!(
        pkg.join("drydock.js").is_file() && pkg.join("drydock.wasm").is_file(),
        "the site is not built: run `cargo leptos build` (make test does) — looked in {}",
        pkg.display()
    );
    let app = spawn_app(TestDatabase::sqlite()).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/")).await.unwrap();
    // The server rendered the page; hydration flips the marker.
    browser
        .wait_for("section.explorer[data-hydrated='true']")
        .await;
    let shown = c
        .find(Locator::Css(".flag-name code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, "--user 1000:1000");

    // A click changes what the explorer explains.
    c.find(Locator::Css("button.flag[data-index='1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = c
        .find(Locator::Css(".flag-name code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, "--cap-drop ALL");
    let pressed = c
        .find(Locator::Css("button.flag[data-index='1']"))
        .await
        .unwrap()
        .attr("aria-pressed")
        .await
        .unwrap();
    assert_eq!(pressed.as_deref(), Some("true"));
    let text = c
        .find(Locator::Css(".flag-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("CapBnd"), "{text}");

    // Links between pages load the next page (rendered by the server).
    c.find(Locator::LinkText("Workshops"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = browser
        .wait_for(".page-head h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Workshops");
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/workshops"));

    browser.close().await;
}

#[tokio::test]
async fn a_visitor_registers_logs_out_and_logs_back_in() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/register")).await.unwrap();
    browser.wait_for("section.auth-card h1").await;
    browser
        .submit_credentials("margaret", "to the moon and back")
        .await;

    // Registered and signed in: the profile shows the account.
    let heading = browser
        .wait_for(".profile-head h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "margaret");
    assert_eq!(
        browser
            .wait_for(".user-menu .who")
            .await
            .text()
            .await
            .unwrap(),
        "margaret"
    );

    // Log out from the navigation (a plain form: the server answers with
    // the same page, now as a guest sees it).
    c.find(Locator::Css(".user-menu button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for(".user-menu a[href='/login']").await;

    // A wrong password is refused with a clear message…
    c.goto(&app.url("/login")).await.unwrap();
    browser.wait_for("section.auth-card").await;
    browser
        .submit_credentials("margaret", "wrong password")
        .await;
    let error = c
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//p[@class='form-error' and normalize-space(text())!='']",
        ))
        .await
        .unwrap();
    assert_eq!(error.text().await.unwrap(), "Wrong username or password.");

    // …and the right one signs in again.
    let password = c
        .find(Locator::Css("input[name='password']"))
        .await
        .unwrap();
    password.clear().await.unwrap();
    password.send_keys("to the moon and back").await.unwrap();
    c.find(Locator::Css("button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = browser
        .wait_for(".profile-head h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "margaret");

    browser.close().await;
}

#[tokio::test]
async fn a_learner_answers_a_quiz_completes_a_lesson_and_sees_progress() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let lesson = app
        .state
        .content
        .lesson("fundamentals", "containers-vs-vms")
        .expect("lesson")
        .clone();
    let question = &lesson.quiz[0];
    let right = question.correct_choices();
    let wrong = (0..question.choices.len())
        .find(|i| !right.contains(i))
        .expect("a wrong choice");

    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&app.url("/lessons/fundamentals/containers-vs-vms"))
        .await
        .unwrap();
    browser.wait_for(".lesson h1").await;
    browser.wait_until_live().await;
    let toc = c.find_all(Locator::Css(".toc li")).await.unwrap();
    assert!(toc.len() >= 4, "the table of contents lists the sections");

    // Answer wrong first: the explanation appears and the choice is marked.
    let form = format!("form[data-question='{}']", question.id);
    // The lesson's lab dock is fixed at the bottom; bring the form to the middle.
    scroll_to_middle(c, &form).await;
    c.find(Locator::Css(&format!(
        "{form} label[data-choice='{wrong}'] input"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.find(Locator::Css(&format!("{form} button[type='submit']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let verdict = browser
        .wait_for(&format!("{form} .verdict"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        verdict == "Not quite." || (right.len() > 1 && verdict == "Correct."),
        "{verdict}"
    );
    let explanation = c
        .find(Locator::Css(&format!("{form} .explanation")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        explanation.contains(question.explanation.split_whitespace().next().unwrap()),
        "{explanation}"
    );
    c.find(Locator::Css(&format!(
        "{form} label.wrong[data-choice='{wrong}']"
    )))
    .await
    .expect("the wrong choice is marked");

    // Mark the lesson complete.
    scroll_to_middle(c, "button.complete").await;
    c.find(Locator::Css("button.complete"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("button.complete.done").await;

    // The catalog shows it done.
    c.goto(&app.url("/lessons")).await.unwrap();
    let label = browser
        .wait_for("section[data-track='fundamentals'] .progress-label")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        label,
        format!(
            "1 of {} lessons done",
            app.state.content.tracks[0].lessons.len()
        )
    );
    browser
        .wait_for("section[data-track='fundamentals'] li.done")
        .await;

    browser.close().await;
}

/// Text of the lab terminal's screen.
async fn terminal_text(c: &fantoccini::Client) -> String {
    c.execute(
        "const r = document.querySelector('.xterm-rows'); return r ? r.textContent : '';",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_string))
    .unwrap_or_default()
}

async fn wait_for_terminal_text(c: &fantoccini::Client, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = terminal_text(c).await;
        if text.contains(needle) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "terminal never showed {needle:?}; it shows: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_learner_starts_a_lab_from_a_lesson_types_and_runs_a_code_block() {
    let app = crate::common::labs::lab_app(TestDatabase::sqlite(), 10).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/lessons/practice/sandbox")).await.unwrap();
    // The toggle works once the page's islands are live.
    browser.wait_until_live().await;
    browser
        .wait_for("button.lab-dock-toggle")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for(".lab-dock.open").await;
    browser
        .wait_for(".lab-dock button.start-lab")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for(".terminal[data-state='connected']").await;
    wait_for_terminal_text(c, "sandbox:").await;
    let timer = browser.wait_for(".lab-timer").await.text().await.unwrap();
    assert!(timer.ends_with("left"), "{timer}");

    // Typing goes to the lab's shell.
    c.find(Locator::Css(".xterm-helper-textarea"))
        .await
        .unwrap()
        .send_keys("echo typed-$((2+3))\u{E007}")
        .await
        .unwrap();
    wait_for_terminal_text(c, "typed-5").await;

    // A runnable block in the lesson sends its command to the terminal
    // (scrolled above the docked terminal first, as a reader would).
    c.execute(
        "document.querySelector('.code-block.runnable').scrollIntoView({block: 'start'});",
        vec![],
    )
    .await
    .unwrap();
    c.find(Locator::Css(".code-block.runnable button.run-in-terminal"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_terminal_text(c, "ran-from-lesson 42").await;

    // Stopping the lab removes its container and offers to start again.
    c.find(Locator::Css(".lab-actions button.danger"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for(".lab-ended").await;
    assert!(crate::common::labs::lab_containers(&app).await.is_empty());

    browser.close().await;
    crate::common::labs::remove_lab_containers(&app).await;
}

/// Scrolls the first element matching `css` to the middle of the window, clear
/// of the docked lab panel, as a reader would before clicking it.
async fn scroll_to_middle(c: &fantoccini::Client, css: &str) {
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
        vec![serde_json::json!(css)],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_learner_submits_a_weak_run_command_fixes_it_and_gets_full_marks() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/exercises/least-privilege-run"))
        .await
        .unwrap();
    browser
        .wait_for("form.submission[data-hydrated='true']")
        .await;
    let editor = c.find(Locator::Css("#run-text")).await.unwrap();
    assert_eq!(
        editor.prop("value").await.unwrap().as_deref(),
        Some("docker run -d drydock/webapp:1"),
        "the editor starts from the exercise's starter"
    );

    // The starter runs as root with every default: most checks fail, each with a hint.
    c.find(Locator::Css("form.submission button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let weak = wait_long(&browser, ".grade-report[data-passed='false']").await;
    let score: u32 = weak
        .attr("data-score")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(score < 16, "{score}");
    let nonroot = c
        .find(Locator::Css(
            "li.check[data-check='RUN-NONROOT'][data-passed='false']",
        ))
        .await
        .expect("RUN-NONROOT fails for the starter");
    let text = nonroot.text().await.unwrap();
    assert!(text.contains("--user 1000:1000"), "{text}");
    assert!(text.contains("Hint"), "{text}");

    // Fix the command in the editor and grade again (Ctrl+Enter also works; a click here).
    let editor = c.find(Locator::Css("#run-text")).await.unwrap();
    editor.clear().await.unwrap();
    editor
        .send_keys(
            "docker run -d --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges \
             --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m --network none --memory 128m \
             --pids-limit 100 drydock/webapp:1",
        )
        .await
        .unwrap();
    c.find(Locator::Css("form.submission button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let full = wait_long(&browser, ".grade-report[data-passed='true']").await;
    assert_eq!(
        full.attr("data-score").await.unwrap().as_deref(),
        Some("16")
    );
    let failing = c
        .find_all(Locator::Css("li.check[data-passed='false']"))
        .await
        .unwrap();
    assert!(failing.is_empty(), "no check fails any more");
    let attempts = c.find_all(Locator::Css(".attempt-list li")).await.unwrap();
    assert_eq!(attempts.len(), 2, "both attempts are listed");

    // After a reload the last attempt and its report are still there.
    c.refresh().await.unwrap();
    browser
        .wait_for("form.submission[data-hydrated='true']")
        .await;
    let kept = c.find(Locator::Css("#run-text")).await.unwrap();
    assert!(kept
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
        .contains("--cap-drop ALL"));
    browser.wait_for(".grade-report[data-passed='true']").await;
    browser.close().await;
}

/// Grading runs a container for real: allow it more than the usual wait.
async fn wait_long(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    browser
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// The instructor's score cell for `learner` on `exercise`: `None` until the
/// row is on the page, then the cell's `data-score` (empty before any attempt).
async fn score_cell(c: &fantoccini::Client, learner: &str, exercise: &str) -> Option<String> {
    c.execute(
        "const cell = document.querySelector(
             `tr[data-learner='${arguments[0]}'] td[data-exercise='${arguments[1]}']`);
         return cell ? cell.getAttribute('data-score') : null;",
        vec![serde_json::json!(learner), serde_json::json!(exercise)],
    )
    .await
    .unwrap()
    .as_str()
    .map(str::to_string)
}

/// Waits until the score cell satisfies `done`; returns it and when it did.
async fn wait_for_score(
    c: &fantoccini::Client,
    learner: &str,
    exercise: &str,
    within: std::time::Duration,
    done: impl Fn(&str) -> bool,
) -> (String, std::time::Instant) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let score = score_cell(c, learner, exercise).await;
        if let Some(s) = score.as_deref().filter(|s| done(s)) {
            return (s.to_string(), std::time::Instant::now());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{learner}'s {exercise} cell is still {score:?} after {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_instructor_watches_a_learners_score_arrive_live() {
    use crate::common::client::Client;
    use drydock::{accounts::service::create_user, db::users::Role};
    use serde_json::json;
    use std::time::{Duration, Instant};

    const EXERCISE: &str = "least-privilege-run";
    let app = spawn_app(TestDatabase::sqlite()).await;
    create_user(
        &app.state.db,
        "teacher",
        "a long password",
        Role::Instructor,
        10,
    )
    .await
    .unwrap();

    // The instructor plans the workshop (through the API) …
    let teacher = Client::arrive(&app).await;
    let (status, body) = teacher
        .post(
            "/api/v1/auth/login",
            json!({"username": "teacher", "password": "a long password"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, workshop) = teacher
        .post(
            "/api/v1/workshops",
            json!({
                "title": "Hardening 101",
                "lessons": ["security/container-privileges"],
                "labs": ["container-privileges"],
                "exercises": [EXERCISE],
            }),
        )
        .await;
    assert_eq!(status, 201, "{workshop}");
    let id = workshop["id"].as_str().unwrap();
    let code = workshop["code"].as_str().unwrap();

    // … and logs in in the browser to open its dashboard.
    let browser = Browser::start().await;
    let c = &browser.client;
    c.goto(&app.url("/login")).await.unwrap();
    browser.wait_for("section.auth-card").await;
    browser.wait_until_live().await;
    browser
        .submit_credentials("teacher", "a long password")
        .await;
    browser.wait_for(".profile-head h1").await;
    c.goto(&app.url(&format!("/workshops/{id}"))).await.unwrap();
    browser.wait_for("article.instructor-view").await;
    // Live once the browser's event stream has delivered its first snapshot.
    c.wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::XPath(
            "//article[contains(@class,'instructor-view') and number(@data-updates) >= 1]",
        ))
        .await
        .expect("the dashboard never received its first event");
    let shown = c
        .find(Locator::Css(".join-code strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, code);

    // A learner joins from another session and appears as a row.
    let lea = Client::arrive(&app).await;
    let (status, body) = lea
        .post(
            "/api/v1/auth/register",
            json!({"username": "lea", "password": "learning docker"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = lea
        .post("/api/v1/workshops/join", json!({ "code": code }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (before, _) = wait_for_score(c, "lea", EXERCISE, Duration::from_secs(10), |_| true).await;
    assert_eq!(before, "", "no attempt yet");

    // A weak command: the cell fills in without a reload.
    let submissions = format!("/api/v1/exercises/{EXERCISE}/submissions");
    let (status, weak) = lea
        .post(
            &submissions,
            json!({"kind": "run", "command": "docker run -d drydock/webapp:1"}),
        )
        .await;
    let graded = Instant::now();
    assert_eq!(status, 201, "{weak}");
    let (score, shown) = wait_for_score(c, "lea", EXERCISE, Duration::from_secs(60), |s| {
        !s.is_empty()
    })
    .await;
    let weak_delay = shown - graded;
    let weak_score: u32 = score.parse().unwrap();
    assert!(weak_score < 16, "{score}");

    // The hardened command: the cell shows full marks.
    let (status, full) = lea
        .post(
            &submissions,
            json!({
                "kind": "run",
                "command": "docker run -d --user 1000:1000 --cap-drop ALL \
                    --security-opt no-new-privileges --read-only \
                    --tmpfs /tmp:rw,noexec,nosuid,size=16m --network none --memory 128m \
                    --pids-limit 100 drydock/webapp:1",
            }),
        )
        .await;
    let graded = Instant::now();
    assert_eq!(status, 201, "{full}");
    let (_, shown) =
        wait_for_score(c, "lea", EXERCISE, Duration::from_secs(60), |s| s == "16").await;
    let full_delay = shown - graded;
    eprintln!(
        "dashboard update after grading: weak {weak_delay:?} (score {weak_score}), hardened {full_delay:?} (target ≤ 2 s)"
    );
    for delay in [weak_delay, full_delay] {
        assert!(delay <= Duration::from_secs(5), "{delay:?}");
    }
    // Still the same page: the updates came over the event stream.
    let updates: u32 = c
        .find(Locator::Css("article.instructor-view"))
        .await
        .unwrap()
        .attr("data-updates")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(updates >= 3, "{updates}");

    browser.close().await;
    crate::common::labs::remove_lab_containers(&app).await;
}

#[tokio::test]
async fn a_learner_opens_the_preview_of_a_published_port_and_nobody_else_can() {
    let db = TestDatabase::sqlite();
    let mut config = crate::common::test_config(&db);
    config.labs.reap_interval_secs = 1;
    let app = crate::common::spawn_app_with(db, config).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/labs/docker-cli")).await.unwrap();
    browser.wait_until_live().await;
    browser
        .wait_for("button.start-lab")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_up_to(
            ".terminal[data-state='connected']",
            std::time::Duration::from_secs(60),
        )
        .await;
    wait_for_terminal_text(c, "docker-cli:").await;
    browser.wait_for(".lab-previews").await;
    c.find(Locator::Css(".xterm-helper-textarea"))
        .await
        .unwrap()
        .send_keys("docker run -d --name web -p 8080:8080 drydock/webapp:1\u{E007}")
        .await
        .unwrap();
    let link = browser.wait_for("a[data-preview='web:8080']").await;
    assert_eq!(link.text().await.unwrap(), "port 8080 of web");
    let href = link.attr("href").await.unwrap().unwrap();

    // The service may still be starting: reload until it answers.
    c.goto(&app.url(&href)).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
    while c.title().await.unwrap_or_default() != "webapp" {
        if std::time::Instant::now() >= deadline {
            let shown = match c.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            panic!("the preview never showed the web app; it shows: {shown}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let _ = c.refresh().await;
    }

    // Another visitor, in a browser of their own, gets nothing.
    let other = Browser::start().await;
    other.client.goto(&app.url(&href)).await.unwrap();
    let body = other
        .client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("webapp"), "{body}");
    other.close().await;

    browser.close().await;
    crate::common::labs::remove_lab_containers(&app).await;
}

/// Waits up to `secs` for the terminal's screen to show `needle`; returns the screen.
async fn wait_for_screen(c: &fantoccini::Client, needle: &str, secs: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let text = terminal_text(c).await;
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "terminal never showed {needle:?}; it shows: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_learner_follows_the_postgresql_lesson_with_run_buttons_and_gets_full_marks() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let lesson = app
        .state
        .content
        .lesson("fundamentals", "postgresql-in-docker")
        .expect("lesson")
        .clone();
    assert!(
        lesson.run_blocks.len() >= 10,
        "{} run blocks",
        lesson.run_blocks.len()
    );
    let browser = Browser::start().await;
    let c = &browser.client;

    // The catalog says which lessons have a Docker lab to try…
    c.goto(&app.url("/lessons")).await.unwrap();
    let try_it = browser
        .wait_for("a.try-it.docker[href='/labs/postgresql']")
        .await;
    assert_eq!(try_it.text().await.unwrap(), "▶ Try it: Docker lab");
    // …and the lab's page lists its images and what its endpoint refuses.
    c.goto(&app.url("/labs/postgresql")).await.unwrap();
    let inside = browser
        .wait_for(".docker-inside")
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "drydock/postgres:15",
        "drydock/busybox:1",
        "What the endpoint refuses",
    ] {
        assert!(inside.contains(needle), "{needle} in {inside}");
    }
    let rules = c.find_all(Locator::Css(".docker-rules dt")).await.unwrap();
    assert!(rules.len() >= 10, "{} rules", rules.len());

    c.goto(&app.url("/lessons/fundamentals/postgresql-in-docker"))
        .await
        .unwrap();
    // The toggle works once the page's islands are live.
    browser.wait_until_live().await;
    browser
        .wait_for("button.lab-dock-toggle")
        .await
        .click()
        .await
        .unwrap();
    browser.wait_for(".lab-dock.open").await;
    browser
        .wait_for(".lab-dock button.start-lab")
        .await
        .click()
        .await
        .unwrap();
    browser
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(90))
        .for_element(Locator::Css(".terminal[data-state='connected']"))
        .await
        .unwrap();
    wait_for_screen(c, "$ ", 60).await;

    // Every Run button in order, as a reader goes down the page. After each
    // block the test asks the shell for its status, to know when it ended.
    let buttons = c
        .find_all(Locator::Css(".code-block.runnable button.run-in-terminal"))
        .await
        .unwrap();
    assert_eq!(buttons.len(), lesson.run_blocks.len());
    for (i, block) in lesson.run_blocks.iter().enumerate() {
        c.execute(
            "document.querySelectorAll('.code-block.runnable')[arguments[0]].scrollIntoView({block: 'start'});",
            vec![serde_json::json!(i)],
        )
        .await
        .unwrap();
        buttons[i].click().await.unwrap();
        c.execute(
            "window.drydockTerminal.send(`echo \"BLOCK\"\"${arguments[0]}=$?\"\\n`);",
            vec![serde_json::json!(i)],
        )
        .await
        .unwrap();
        let screen = wait_for_screen(c, &format!("BLOCK{i}="), 150).await;
        let status = screen
            .rsplit(&format!("BLOCK{i}="))
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>();
        assert_eq!(
            status == "0",
            !block.refused,
            "block {i} (line {}) exited {status}: {}\n{screen}",
            block.line,
            block.command
        );
    }

    // The lab now holds what the exercise asks for: full marks.
    c.goto(&app.url("/exercises/postgres-done-right"))
        .await
        .unwrap();
    browser
        .wait_for("form.submission[data-hydrated='true']")
        .await;
    let button = c
        .find(Locator::Css("form.submission button[type='submit']"))
        .await
        .unwrap();
    assert_eq!(button.text().await.unwrap(), "Check my lab");
    button.click().await.unwrap();
    let report = wait_long(&browser, ".grade-report[data-passed='true']").await;
    let failing = c
        .find_all(Locator::Css("li.check[data-passed='false']"))
        .await
        .unwrap();
    assert!(
        failing.is_empty(),
        "every check passes: {:?}",
        report.text().await
    );
    browser.close().await;
    crate::common::labs::remove_lab_containers(&app).await;
}

/// Pages are rendered by the server and their forms are islands: an
/// instructor creates a workshop from the form, and a guest who follows the
/// join link registers, comes back with the code filled in and joins, each
/// step landing on the next page the server renders.
#[tokio::test]
async fn an_instructor_creates_a_workshop_and_a_guest_registers_and_joins_by_its_link() {
    use drydock::{accounts::service::create_user, db::users::Role};

    let app = spawn_app(TestDatabase::sqlite()).await;
    create_user(
        &app.state.db,
        "teacher",
        "a long password",
        Role::Instructor,
        10,
    )
    .await
    .unwrap();

    let teacher = Browser::start().await;
    let c = &teacher.client;
    c.goto(&app.url("/login")).await.unwrap();
    teacher
        .submit_credentials("teacher", "a long password")
        .await;
    teacher.wait_for(".profile-head h1").await;
    c.goto(&app.url("/workshops")).await.unwrap();
    teacher.wait_until_live().await;
    c.find(Locator::Css("#ws-title"))
        .await
        .expect("instructors see the create form")
        .send_keys("Friday hardening")
        .await
        .unwrap();
    c.find(Locator::Css(".create-workshop button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The new workshop's dashboard, with its join code.
    let title = teacher
        .wait_for("article.instructor-view h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Friday hardening");
    let code = c
        .find(Locator::Css(".join-code strong"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!code.is_empty());
    let workshop = c.current_url().await.unwrap().path().to_string();

    // A guest follows the join link: asked to register first, code kept.
    let guest = Browser::start().await;
    let g = &guest.client;
    g.goto(&app.url(&format!("/workshops?code={code}")))
        .await
        .unwrap();
    guest
        .wait_for(".callout a[href^='/register?code=']")
        .await
        .click()
        .await
        .unwrap();
    let callout = guest.wait_for("section.auth-card .callout strong").await;
    assert_eq!(callout.text().await.unwrap(), code);
    guest
        .submit_credentials("friday-learner", "learning docker on friday")
        .await;
    // Back on the workshops page, the code filled in: join.
    let input = guest.wait_for("#join-code").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while input.prop("value").await.unwrap().as_deref() != Some(code.as_str()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the join form never showed the code"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    guest.wait_until_live().await;
    g.find(Locator::Css(".join-form button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = guest
        .wait_for("article.learner-view h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Friday hardening");
    assert_eq!(g.current_url().await.unwrap().path(), workshop);

    guest.close().await;
    teacher.close().await;
}
