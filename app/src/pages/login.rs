use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    components::form_error::{failure, FormError},
    pages::redirect::redirect_on_success,
    session::SessionContext,
};

/// Log in with username and password.
#[component]
pub fn LoginPage() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let action = session.login;
    redirect_on_success(action, "/profile");
    view! {
        <Title text="Log in · Drydock"/>
        <section class="auth-card">
            <h1>"Log in"</h1>
            <ActionForm action=action attr:class="stacked-form">
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
            </ActionForm>
            <FormError error=move || failure(action.value().get())/>
            <p class="muted">"No account yet? " <A href="/register">"Register"</A> " — anything you did as a guest is kept."</p>
        </section>
    }
}
