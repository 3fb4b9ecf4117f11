//! The HTTP surface of the skeleton: probes, pages, headers.

use std::time::{Duration, Instant};

use crate::common::{spawn_app, spawn_app_with, test_config, TestDatabase};
use serde_json::Value;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn readyz_reports_database_and_docker_ok() {
    for db in [TestDatabase::sqlite(), TestDatabase::postgres().await] {
        let backend = db.backend;
        let app = spawn_app(db).await;
        let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["database"], "ok", "{body}");
        assert_eq!(body["docker"], "ok", "{body}");
        assert_eq!(body["database_backend"], backend.name());
        assert!(
            body["docker_version"]
                .as_str()
                .is_some_and(|v| !v.is_empty()),
            "{body}"
        );
        eprintln!("readyz on {}: {body}", backend.name());
    }
}

/// Readiness must say the engine is down — quickly — whether its socket is
/// gone or it accepts connections and never answers.
#[tokio::test]
async fn readyz_says_503_when_docker_is_gone_or_hangs() {
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    // Accept and hold connections without ever replying.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    let missing_socket = tempfile::tempdir().unwrap();
    for host in [
        format!("unix://{}/docker.sock", missing_socket.path().display()),
        format!("tcp://{hanging_addr}"),
    ] {
        let db = TestDatabase::sqlite();
        let mut config = test_config(&db);
        config.docker_host = Some(host.clone());
        config.docker_timeout_secs = 1;
        let app = spawn_app_with(db, config).await;
        let started = Instant::now();
        let resp = app
            .http
            .get(app.url("/readyz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(resp.status(), 503, "{host}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["database"], "ok");
        assert!(
            body["docker"].as_str().unwrap().starts_with("error:"),
            "{body}"
        );
        assert_eq!(body["status"], "unavailable");
        assert!(
            took < Duration::from_secs(5),
            "readyz took {took:?} with {host}"
        );
        // The process itself is still healthy.
        assert_eq!(
            app.http
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn the_home_page_is_server_rendered_and_loads_the_hydration_bundle() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let resp = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    // `<!>` marks where hydration expects a dynamic child (erased
    // components); the text around it is what a reader sees.
    let html = resp.text().await.unwrap().replace("<!>", "");
    assert!(html.contains("Learn Docker and container security by doing"));
    assert!(
        html.contains("--cap-drop ALL"),
        "the explorer is rendered on the server"
    );
    assert!(
        html.contains("/islands.js") && html.contains("<leptos-island"),
        "the page loads the script that hydrates its islands"
    );
    assert!(
        html.contains("data-hydrated=\"false\""),
        "not hydrated until the browser runs it"
    );
    for section in ["Lessons", "Labs", "Workshops"] {
        assert!(
            html.contains(&format!(">{section}</a>")),
            "nav has {section}"
        );
    }
}

#[tokio::test]
async fn every_section_is_built_and_unknown_pages_are_404() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let resp = app.http.get(app.url("/workshops")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("Coming soon"));
    assert!(
        html.contains("Join a workshop"),
        "the workshops page is rendered"
    );
    let resp = app.http.get(app.url("/exercises")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("least-privilege-run"));
    // Labs are built: the page lists them, server-rendered.
    let resp = app.http.get(app.url("/labs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(!html.contains("Coming soon"));
    assert!(html.contains("lab-card"), "the lab list is rendered");
    let resp = app.http.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("Page not found"));
}

/// Several servers in one process (as in this test binary, or any embedder
/// that builds the router more than once) must not stall each other's pages.
/// Building the router generates Leptos's route list, and while that runs
/// Leptos suspends every page's data loads process-wide; a page rendered in
/// that moment used to wait forever (the "request never answered" hang).
#[tokio::test]
async fn building_another_server_never_stalls_a_page_being_rendered() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let state = app.state.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let builder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut built = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                rt.block_on(async { drop(drydock::router(state.clone())) });
                built += 1;
            }
            built
        })
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut stalled = Vec::new();
    for i in 0..40 {
        let path = if i % 2 == 0 {
            "/no/such/page"
        } else {
            "/lessons/fundamentals/containers-vs-vms"
        };
        let answer = async {
            let resp = client
                .get(app.url(path))
                .header("accept", "text/html")
                .send()
                .await?;
            let status = resp.status();
            resp.text().await.map(|_| status)
        }
        .await;
        if let Err(err) = answer {
            stalled.push(format!("{path}: {err}"));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let built = builder.join().unwrap();
    assert!(built > 0, "the other router was never built");
    assert!(
        stalled.is_empty(),
        "{} of 40 pages stalled while another router was built {built} times: {stalled:?}",
        stalled.len()
    );
}

/// Pages with islands fetch the site's wasm; pages without fetch none. The
/// wasm is revalidated rather than downloaded again while it is unchanged.
#[tokio::test]
async fn only_pages_with_islands_load_the_wasm_and_it_is_revalidated() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let page = |path: &'static str| {
        let req = app.http.get(app.url(path)).header("accept", "text/html");
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    assert!(
        page("/").await.contains("<leptos-island"),
        "the explorer is an island"
    );
    let catalog = page("/lessons").await;
    assert!(catalog.contains("/islands.js"), "every page has the loader");
    assert!(
        !catalog.contains("<leptos-island"),
        "the catalog is static: the loader fetches no wasm for it"
    );

    let wasm = app.url("/pkg/drydock.wasm");
    let first = app.http.get(&wasm).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "application/wasm");
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let modified = first.headers()["last-modified"].clone();
    let again = app
        .http
        .get(&wasm)
        .header("if-modified-since", modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = app
        .http
        .get(app.url("/pkg/nope.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
