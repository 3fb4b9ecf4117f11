//! A real headless Chromium driven through chromedriver (Debian's packages),
//! for UI stories. Each `Browser` has its own driver and profile directory.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn find(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

impl Browser {
    pub async fn start() -> Self {
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"])
            .expect("Chromium is not installed (scripts/setup.sh installs Debian's chromium)");
        let chromedriver = find(&["/usr/bin/chromedriver"])
            .expect("chromedriver is not installed (scripts/setup.sh installs chromium-driver)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a WebDriver session with Chromium");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Waits for an element matching `css`, up to 15 s.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_up_to(css, Duration::from_secs(15)).await
    }

    /// Waits for an element matching `css`; on a timeout, says which page
    /// the browser is on and how far its islands got.
    pub async fn wait_up_to(&self, css: &str, limit: Duration) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(limit)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let state = self
                    .client
                    .execute(
                        "return location.href + ' (body data-hydrated: ' + document.body.dataset.hydrated + ')';",
                        vec![],
                    )
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                panic!("{css} did not appear within {limit:?}: {e}; on {state}")
            }
        }
    }

    /// Waits until the page's islands are live (the site's entry point
    /// marks `<body data-hydrated="true">` once it has hydrated them).
    /// (The wasm is fetched and compiled once per browser profile, which
    /// takes longer while the rest of the suite loads both cores.)
    pub async fn wait_until_live(&self) {
        self.wait_up_to("body[data-hydrated='true']", Duration::from_secs(30))
            .await;
    }

    /// Fills the username and password of an auth form and submits it
    /// through its island (waiting until the page is live).
    pub async fn submit_credentials(&self, username: &str, password: &str) {
        self.wait_until_live().await;
        self.wait_for("form.stacked-form[data-hydrated='true']")
            .await;
        for (field, value) in [("username", username), ("password", password)] {
            self.client
                .find(Locator::Css(&format!("input[name='{field}']")))
                .await
                .unwrap()
                .send_keys(value)
                .await
                .unwrap();
        }
        self.client
            .find(Locator::Css("button[type='submit']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Also when a test fails before `close`.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
