//! What a learner downloads: the hydrate bundle against its budget, and the
//! first view of every page, for a guest, a signed-in learner and an
//! instructor.
//!
//! `make bench-site` (or `cargo bench -p drydock --bench site_download`).
//! Pages are rendered by the server; only a page with islands
//! (`<leptos-island>`) makes `/islands.js` fetch the site's wasm and its
//! JavaScript glue. Sizes are gzip -9, as a server compressing its answers
//! (or a proxy in front of it) would send them; the built site is read from
//! `target/site` (`make site`).

mod support;

use std::{
    io::Write,
    process::{Command, Stdio},
};

use drydock::{accounts::service::create_user, db::users::Role};
use serde_json::json;

/// The budget for the hydrate bundle (wasm + glue), gzipped.
const BUDGET_KIB: f64 = 350.0;

fn gzipped(bytes: &[u8]) -> usize {
    let mut child = Command::new("gzip")
        .arg("-9c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out.stdout.len()
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

/// A visitor with its own cookies.
fn visitor() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(client: &reqwest::Client, base: &str, path: &str) -> String {
    let resp = client
        .get(format!("{base}{path}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.text().await.unwrap()
}

/// An asset as the server sends it: (gzipped size, raw size).
async fn asset(base: &str, path: &str) -> (usize, usize) {
    let resp = reqwest::get(format!("{base}{path}")).await.unwrap();
    assert!(
        resp.status().is_success(),
        "{path}: {} (is the site built? `make site`)",
        resp.status()
    );
    let bytes = resp.bytes().await.unwrap();
    (gzipped(&bytes), bytes.len())
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// The names of the page's islands, without their hashes.
fn islands(html: &str) -> Vec<String> {
    html.split("<leptos-island")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("data-component=\"").nth(1)?.split('"').next()?;
            Some(name.rsplit_once('_').map_or(name, |(n, _)| n).to_string())
        })
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr, state, _dir) = support::serve_site(&runtime);
    let base = format!("http://{addr}");
    let db = state.db.clone();

    let (wasm, wasm_raw, glue, every_page, rows) = runtime.block_on(async {
        let (wasm, wasm_raw) = asset(&base, "/pkg/drydock.wasm").await;
        let (glue, _) = asset(&base, "/pkg/drydock.js").await;
        // What every page loads besides its HTML.
        let mut every_page = 0;
        for path in [
            "/pkg/drydock.css",
            "/highlight.css",
            "/islands.js",
            "/terminal.js",
        ] {
            every_page += asset(&base, path).await.0;
        }
        let guest = visitor();
        page(&guest, &base, "/").await;
        let learner = visitor();
        page(&learner, &base, "/").await;
        post(
            &learner,
            &base,
            "/api/v1/auth/register",
            json!({"username": "lea", "password": "learning docker"}),
        )
        .await;
        create_user(&db, "teacher", "a long password", Role::Instructor, 10)
            .await
            .unwrap();
        let teacher = visitor();
        page(&teacher, &base, "/").await;
        post(
            &teacher,
            &base,
            "/api/v1/auth/login",
            json!({"username": "teacher", "password": "a long password"}),
        )
        .await;
        let workshop = post(
            &teacher,
            &base,
            "/api/v1/workshops",
            json!({"title": "Hardening 101", "lessons": ["security/container-privileges"],
                   "labs": ["container-privileges"], "exercises": ["least-privilege-run"]}),
        )
        .await;
        let dashboard = format!("/workshops/{}", workshop["id"].as_str().unwrap());

        let pages: Vec<(&str, &reqwest::Client, String)> = vec![
            ("guest", &guest, "/".into()),
            ("guest", &guest, "/lessons".into()),
            ("guest", &guest, "/lessons/search?q=capabilities".into()),
            (
                "guest",
                &guest,
                "/lessons/security/container-privileges".into(),
            ),
            ("guest", &guest, "/labs".into()),
            ("guest", &guest, "/labs/container-privileges".into()),
            ("guest", &guest, "/exercises".into()),
            ("guest", &guest, "/exercises/least-privilege-run".into()),
            ("guest", &guest, "/workshops".into()),
            ("guest", &guest, "/login".into()),
            ("guest", &guest, "/register".into()),
            ("learner", &learner, "/lessons".into()),
            (
                "learner",
                &learner,
                "/lessons/security/container-privileges".into(),
            ),
            ("learner", &learner, "/profile".into()),
            ("learner", &learner, "/workshops".into()),
            ("instructor", &teacher, "/workshops".into()),
            ("instructor", &teacher, dashboard),
        ];
        let mut rows = Vec::new();
        for (who, client, path) in pages {
            let html = page(client, &base, &path).await;
            rows.push((who, path, gzipped(html.as_bytes()), islands(&html)));
        }
        (wasm, wasm_raw, glue, every_page, rows)
    });

    let bundle = wasm + glue;
    println!(
        "site download benchmark (gzip -9): wasm {:.1} KiB ({:.0} KiB raw), glue {:.1} KiB, every page's CSS and scripts {:.1} KiB",
        kib(wasm),
        wasm_raw as f64 / 1024.0,
        kib(glue),
        kib(every_page)
    );
    println!(
        "{:<11} {:<44} {:>9} {:>11}  islands",
        "viewer", "page", "HTML KiB", "first KiB"
    );
    for (who, path, html, names) in &rows {
        let first = html + every_page + if names.is_empty() { 0 } else { bundle };
        let mut distinct = names.clone();
        distinct.dedup();
        println!(
            "{who:<11} {path:<44} {:>9.1} {:>11.1}  {}",
            kib(*html),
            kib(first),
            if names.is_empty() {
                "none: no wasm".to_string()
            } else {
                format!("{} ({})", names.len(), distinct.join(", "))
            }
        );
    }
    let ratio = kib(bundle) / BUDGET_KIB;
    println!(
        "hydrate bundle (wasm + glue): {:.1} KiB = {ratio:.2}x of the {BUDGET_KIB:.0} KiB budget: {}",
        kib(bundle),
        if ratio <= 1.0 { "met" } else { "NOT met" }
    );
}
