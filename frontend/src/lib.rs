#![recursion_limit = "256"]
//! The browser entry point. Pages are rendered by the server;
//! `/islands.js` calls `hydrate` and then each island's own export, which
//! the app crate defines (linked in below).

extern crate drydock_app;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
