use leptos::prelude::*;

use crate::api::error_text;

/// The error of the last submission of a form, read out to screen readers.
#[component]
pub fn FormError(#[prop(into)] error: Signal<String>) -> impl IntoView {
    view! { <p class="form-error" role="alert">{move || error.get()}</p> }
}

/// The message of a failed action result, empty otherwise.
pub fn failure<T>(result: Option<Result<T, crate::api::ApiError>>) -> String {
    match result {
        Some(Err(e)) => error_text(&e),
        _ => String::new(),
    }
}
