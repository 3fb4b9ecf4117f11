use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::Login,
    components::{
        form_error::{failure, FormError},
        forms::{field, go_to_on_success},
    },
    session::hydrated,
};

/// Log in with username and password.
#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <Title text="Log in · Drydock"/>
        <section class="auth-card">
            <h1>"Log in"</h1>
            <LoginForm/>
            <p class="muted">"No account yet? " <A href="/register">"Register"</A> " — anything you did as a guest is kept."</p>
        </section>
    }
}

#[island]
fn LoginForm() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let live = hydrated();
    go_to_on_success(action, |_| "/profile".into());
    view! {
        <form method="post" action={<Login as ServerFn>::url()} class="stacked-form" data-hydrated=move || live.get().to_string()
            on:submit=move |ev| {
                ev.prevent_default();
                action.dispatch(Login { username: field(&ev, "username"), password: field(&ev, "password") });
            }>
            <label>
                "Username"
                <input name="username" autocomplete="username" required autofocus/>
            </label>
            <label>
                "Password"
                <input type="password" name="password" autocomplete="current-password" required/>
            </label>
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {move || if action.pending().get() { "Logging in…" } else { "Log in" }}
            </button>
        </form>
        <FormError error=move || failure(action.value().get())/>
    }
}
