use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::{error_text, ChangePassword, Me},
    api_lessons::get_progress,
    components::{
        form_error::{failure, FormError},
        forms::field,
    },
    session::{date_of, SessionContext},
};

/// The user's account and progress summary.
#[component]
pub fn ProfilePage() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    view! {
        <Title text="Your profile · Drydock"/>
        <Transition fallback=|| view! { <p class="loading">"Loading your profile…"</p> }>
            {move || session.me.get().map(|result| match result {
                Ok(Some(me)) if !me.is_guest() => view! { <Profile me/> }.into_any(),
                Ok(_) => view! { <GuestProfile/> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn GuestProfile() -> impl IntoView {
    view! {
        <section class="auth-card">
            <h1>"You are exploring as a guest"</h1>
            <p>"You can read lessons and try labs without an account. Your progress is kept in this browser's session."</p>
            <p>
                <A href="/register" attr:class="button primary">"Register to keep it for good"</A>
                " or "
                <A href="/login">"log in"</A>
                "."
            </p>
            <ProgressSummary/>
        </section>
    }
}

#[component]
fn Profile(me: Me) -> impl IntoView {
    view! {
        <section class="profile">
            <header class="profile-head">
                <h1>{me.username.clone()}</h1>
                <p>
                    <span class="badge role">{me.role.clone()}</span>
                    " · member since " {date_of(me.created_at)}
                </p>
            </header>
            <ProgressSummary/>
            <PasswordForm/>
        </section>
    }
}

#[island]
fn PasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    view! {
        <section class="card">
            <h2>"Change password"</h2>
            <form method="post" action={<ChangePassword as ServerFn>::url()} class="stacked-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    change.dispatch(ChangePassword {
                        current_password: field(&ev, "current_password"),
                        new_password: field(&ev, "new_password"),
                    });
                }>
                <label>
                    "Current password"
                    <input type="password" name="current_password" autocomplete="current-password" required/>
                </label>
                <label>
                    "New password"
                    <input type="password" name="new_password" autocomplete="new-password" required minlength="10"/>
                </label>
                <button type="submit" disabled=move || change.pending().get()>"Change password"</button>
            </form>
            <FormError error=move || failure(change.value().get())/>
            <p class="form-ok" role="status">
                {move || matches!(change.value().get(), Some(Ok(()))).then_some("Your password was changed.")}
            </p>
        </section>
    }
}

/// Progress across tracks and quizzes, with an empty state for newcomers.
#[component]
fn ProgressSummary() -> impl IntoView {
    let progress = Resource::new(|| (), |_| get_progress());
    view! {
        <section class="card progress-summary">
            <h2>"Your progress"</h2>
            <Transition fallback=|| view! { <p class="loading">"Loading progress…"</p> }>
                {move || progress.get().map(|r| match r {
                    Ok(p) if p.tracks.iter().all(|t| t.done == 0) && p.quiz_answered == 0 => view! {
                        <p class="empty-state">
                            "Nothing here yet. Start with "
                            <A href="/lessons">"the lessons"</A>
                            " — completed lessons and quiz scores will appear here."
                        </p>
                    }.into_any(),
                    Ok(p) => view! {
                        <ul class="progress-list">
                            {p.tracks.into_iter().map(|t| view! {
                                <li>
                                    <span>{format!("{}: {} of {} lessons", t.title, t.done, t.total)}</span>
                                    <progress max=t.total.to_string() value=t.done.to_string()></progress>
                                </li>
                            }).collect_view()}
                        </ul>
                        <p class="muted">{format!("Quiz questions answered correctly: {} of {}", p.quiz_correct, p.quiz_answered)}</p>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}
