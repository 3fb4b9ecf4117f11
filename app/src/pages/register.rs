use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    components::form_error::{failure, FormError},
    session::SessionContext,
};

/// Create an account; a guest's progress moves into it.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let action = session.register;
    // From a workshop's join link: the code comes along, and the learner
    // goes back to join once registered.
    let query = leptos_router::hooks::use_query_map();
    let code = move || query.read().get("code").filter(|c| !c.trim().is_empty());
    let navigate = leptos_router::hooks::use_navigate();
    action.value().set(None);
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            let to = match code() {
                Some(c) => format!("/workshops?code={}", c.trim()),
                None => "/profile".to_string(),
            };
            navigate(&to, Default::default());
        }
    });
    view! {
        <Title text="Register · Drydock"/>
        <section class="auth-card">
            <h1>"Create your account"</h1>
            <p class="muted">"Everything you have done as a guest — lesson progress, quiz answers, labs — stays with you."</p>
            {move || code().map(|c| view! {
                <p class="callout">"You are registering to join the workshop with code " <strong>{c}</strong> ". You join it on the next page."</p>
            })}
            <ActionForm action=action attr:class="stacked-form">
                <input type="hidden" name="join_code" value=move || code().unwrap_or_default()/>
                <label>
                    "Username"
                    <input name="username" autocomplete="username" required minlength="3" maxlength="32" autofocus/>
                    <small>"3–32 letters, digits, '.', '_' or '-'"</small>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="new-password" required minlength="10"/>
                    <small>"At least 10 characters; a few unrelated words work well."</small>
                </label>
                <label>
                    "Email (optional)"
                    <input type="email" name="email" autocomplete="email"/>
                </label>
                <button type="submit" class="primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating account…" } else { "Register" }}
                </button>
            </ActionForm>
            <FormError error=move || failure(action.value().get())/>
            <p class="muted">"Already registered? " <A href="/login">"Log in"</A></p>
        </section>
    }
}
