//! UI stories in a real browser. Needs the site built by `cargo leptos build`
//! (the Makefile's test target does that first).

mod common;

use common::{browser::Browser, spawn_app, workspace_root, TestDatabase};
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

    // Client-side navigation to a placeholder works after hydration.
    c.find(Locator::LinkText("Labs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = browser
        .wait_for(".coming-soon h1")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Labs");
    assert!(c.current_url().await.unwrap().path().ends_with("/labs"));

    browser.close().await;
}

#[tokio::test]
async fn a_visitor_registers_logs_out_and_logs_back_in() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let browser = Browser::start().await;
    let c = &browser.client;

    c.goto(&app.url("/register")).await.unwrap();
    browser.wait_for("section.auth-card h1").await;
    // Wait for hydration so the form submits through the server function.
    browser.wait_for(".user-menu a[href='/login']").await;
    c.find(Locator::Css("input[name='username']"))
        .await
        .unwrap()
        .send_keys("margaret")
        .await
        .unwrap();
    c.find(Locator::Css("input[name='password']"))
        .await
        .unwrap()
        .send_keys("to the moon and back")
        .await
        .unwrap();
    c.find(Locator::Css("button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();

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

    // Log out from the navigation.
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
    c.find(Locator::Css("input[name='username']"))
        .await
        .unwrap()
        .send_keys("margaret")
        .await
        .unwrap();
    c.find(Locator::Css("input[name='password']"))
        .await
        .unwrap()
        .send_keys("wrong password")
        .await
        .unwrap();
    c.find(Locator::Css("button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
