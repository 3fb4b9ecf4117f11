//! Forms in islands: each is an ordinary `<form method="post">` aimed at its
//! server function (so it still works before the page is live), and once
//! live it submits through the server function and shows the answer in
//! place. Reading the fields here keeps a query-string parser out of the
//! browser's download.

use leptos::{ev::SubmitEvent, prelude::*, server_fn::ServerFn};

/// The value of the field `name` of the form `ev` submits ("" if absent).
#[allow(unused_variables)]
pub fn field(ev: &SubmitEvent, name: &str) -> String {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let value = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            .and_then(|form| web_sys::FormData::new_with_form(&form).ok())
            .and_then(|data| data.get(name).as_string());
        if let Some(value) = value {
            return value;
        }
    }
    String::new()
}

/// The field's value, or `None` when it was left empty.
pub fn optional_field(ev: &SubmitEvent, name: &str) -> Option<String> {
    Some(field(ev, name)).filter(|v| !v.trim().is_empty())
}

/// Loads the page `to(output)` names once `action` succeeds (pages are
/// rendered by the server, so the next one is an ordinary page load).
pub fn go_to_on_success<S>(action: ServerAction<S>, to: impl Fn(&S::Output) -> String + 'static)
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    Effect::new(move |_| {
        let next = action.value().with(|result| match result {
            Some(Ok(output)) => Some(to(output)),
            _ => None,
        });
        if let Some(path) = next {
            go_to(&path);
        }
    });
}

/// Loads `path` as a new page. Does nothing on the server.
#[allow(unused_variables)]
fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(path);
    }
}
