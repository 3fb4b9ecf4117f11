//! Forms in islands: each is an ordinary `<form method="post">` aimed at its
//! server function (so it still works before the page is live), and once
//! live it submits through the server function and shows the answer in
//! place. Reading the fields here keeps a query-string parser out of the
//! browser's download.

use leptos::ev::SubmitEvent;

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
