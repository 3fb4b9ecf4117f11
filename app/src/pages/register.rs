use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::Register,
    components::{
        form_error::{failure, FormError},
        forms::{field, go_to_on_success, optional_field},
    },
    session::hydrated,
};

/// Create an account; a guest's progress moves into it.
#[component]
pub fn RegisterPage() -> impl IntoView {
    // From a workshop's join link: the code comes along, and the learner
    // goes back to join once registered.
    let query = use_query_map();
    let code = query
        .read_untracked()
        .get("code")
        // A code is letters and digits; anything else is not carried along.
        .map(|c| c.trim().to_string())
        .filter(|c| {
            !c.is_empty() && c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric())
        });
    view! {
        <Title text="Register · Drydock"/>
        <section class="auth-card">
            <h1>"Create your account"</h1>
            <p class="muted">"Everything you have done as a guest — lesson progress, quiz answers, labs — stays with you."</p>
            {code.clone().map(|c| view! {
                <p class="callout">"You are registering to join the workshop with code " <strong>{c}</strong> ". You join it on the next page."</p>
            })}
            <RegisterForm code/>
            <p class="muted">"Already registered? " <A href="/login">"Log in"</A></p>
        </section>
    }
}

#[island]
fn RegisterForm(code: Option<String>) -> impl IntoView {
    let action = ServerAction::<Register>::new();
    let live = hydrated();
    let next = match &code {
        Some(c) => format!("/workshops?code={c}"),
        None => "/profile".to_string(),
    };
    go_to_on_success(action, move |_| next.clone());
    view! {
        <form method="post" action={<Register as ServerFn>::url()} class="stacked-form" data-hydrated=move || live.get().to_string()
            on:submit=move |ev| {
                ev.prevent_default();
                action.dispatch(Register {
                    username: field(&ev, "username"),
                    password: field(&ev, "password"),
                    email: optional_field(&ev, "email"),
                    join_code: optional_field(&ev, "join_code"),
                });
            }>
            <input type="hidden" name="join_code" value=code.unwrap_or_default()/>
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
        </form>
        <FormError error=move || failure(action.value().get())/>
    }
}
