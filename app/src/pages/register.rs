use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    components::form_error::{failure, FormError},
    pages::redirect::redirect_on_success,
    session::SessionContext,
};

/// Create an account; a guest's progress moves into it.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let action = session.register;
    redirect_on_success(action, "/profile");
    view! {
        <Title text="Register · Drydock"/>
        <section class="auth-card">
            <h1>"Create your account"</h1>
            <p class="muted">"Everything you have done as a guest — lesson progress, quiz answers, labs — stays with you."</p>
            <ActionForm action=action attr:class="stacked-form">
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
