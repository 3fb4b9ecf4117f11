use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_query_map},
};

use crate::{
    api::error_text,
    api_workshops::{get_workshops, CreateWorkshop, NewWorkshop, WorkshopSummary},
    session::SessionContext,
};

/// `2026-11-27 22:30 UTC`.
pub fn when(ms: i64) -> String {
    crate::pages::exercise::utc(ms)
}

/// The caller's workshops, joining by code, and (for instructors) creating one.
#[component]
pub fn WorkshopsPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| get_workshops());
    let session = expect_context::<SessionContext>();
    view! {
        <Title text="Workshops · Drydock"/>
        <header class="page-head">
            <h1>"Workshops"</h1>
            <p class="lead">"Instructor-led sessions: a plan of lessons, labs and graded exercises, a live dashboard for the instructor, and announcements for everyone."</p>
        </header>
        <div class="workshop-columns">
            <section class="card">
                <h2>"Your workshops"</h2>
                <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    {move || list.get().map(|result| match result {
                        Ok(list) if list.is_empty() => view! { <p class="empty-state">"None yet. Join one with the code your instructor gives you."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="workshop-list">{list.into_iter().map(|w| view! { <WorkshopLine w/> }).collect_view()}</ul>
                        }.into_any(),
                        Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                    })}
                </Transition>
            </section>
            <JoinForm/>
        </div>
        <Transition fallback=|| ()>
            {move || session.me.get().map(|me| match me {
                Ok(Some(me)) if me.role == "instructor" || me.role == "admin" => view! { <CreateForm/> }.into_any(),
                _ => ().into_any(),
            })}
        </Transition>
    }
}

#[component]
fn WorkshopLine(w: WorkshopSummary) -> impl IntoView {
    view! {
        <li>
            <A href=format!("/workshops/{}", w.id)>{w.title.clone()}</A>
            <span class="muted small-text">
                {format!(" · {} · {} learner(s){}{}",
                    if w.role == "instructor" { "instructor" } else if w.status == "pending" { "waiting for approval" } else { "learner" },
                    w.learners,
                    if w.ended { " · ended" } else { "" },
                    w.code.map(|c| format!(" · code {c}")).unwrap_or_default())}
            </span>
        </li>
    }
}

#[component]
fn JoinForm() -> impl IntoView {
    // A join link is /workshops?code=XXXX: the code is filled in.
    let query = use_query_map();
    let code = move || query.read().get("code").unwrap_or_default();
    let join = ServerAction::<crate::api_workshops::JoinWorkshop>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(w)) = join.value().get() {
            navigate(&format!("/workshops/{}", w.id), Default::default());
        }
    });
    view! {
        <section class="card">
            <h2>"Join a workshop"</h2>
            {move || {
                let guest = expect_context::<crate::session::SessionContext>()
                    .me
                    .get()
                    .and_then(|r| r.ok().flatten())
                    .is_none_or(|m| m.role == "guest");
                (guest && !code().is_empty()).then(|| view! {
                    <p class="callout">"Workshops keep your work under your name: "
                        <a href=format!("/register?code={}", code())>"create an account"</a>
                        " (or " <a href="/login">"log in"</a> ") first, then join."</p>
                })
            }}
            <ActionForm action=join attr:class="join-form">
                <label for="join-code">"Code"</label>
                <input id="join-code" name="code" type="text" required autocomplete="off" spellcheck="false" placeholder="e.g. K7MQ2XPA" value=code/>
                <button type="submit" class="button primary">"Join"</button>
            </ActionForm>
            {move || match join.value().get() {
                Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{error_text(&e)}</p> }),
                _ => None,
            }}
        </section>
    }
}

#[component]
fn CreateForm() -> impl IntoView {
    let title = RwSignal::new(String::new());
    let lessons = RwSignal::new("security/container-privileges".to_string());
    let labs = RwSignal::new("container-privileges".to_string());
    let exercises = RwSignal::new("least-privilege-run".to_string());
    let hours = RwSignal::new("3".to_string());
    let max = RwSignal::new("30".to_string());
    let reserved = RwSignal::new("0".to_string());
    let approval = RwSignal::new(false);
    let due = RwSignal::new(String::new());
    let late = RwSignal::new(true);
    let create = ServerAction::<CreateWorkshop>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(w)) = create.value().get() {
            navigate(&format!("/workshops/{}", w.id), Default::default());
        }
    });
    let split = |s: String| -> Vec<String> {
        s.split([',', '\n', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let hours: i64 = hours
            .get_untracked()
            .trim()
            .parse()
            .unwrap_or(3)
            .clamp(1, 8760);
        let start = crate::components::lab_panel::now_ms();
        let chosen = split(exercises.get_untracked());
        // One deadline for every exercise, in hours from now (optional).
        let deadlines = match due.get_untracked().trim().parse::<f64>() {
            Ok(h) if h > 0.0 => chosen
                .iter()
                .map(|e| (e.clone(), start + (h * 3_600_000.0) as i64))
                .collect(),
            _ => Default::default(),
        };
        let new = NewWorkshop {
            title: title.get_untracked(),
            starts_at: Some(start),
            ends_at: Some(start + hours * 3_600_000),
            lessons: split(lessons.get_untracked()),
            labs: split(labs.get_untracked()),
            exercises: chosen,
            deadlines,
            max_participants: max.get_untracked().trim().parse().unwrap_or(30),
            reserved_labs: reserved.get_untracked().trim().parse().unwrap_or(0),
            approval: approval.get_untracked(),
            accept_late: late.get_untracked(),
        };
        create.dispatch(CreateWorkshop { new });
    };
    view! {
        <section class="card create-workshop">
            <h2>"Create a workshop"</h2>
            <form on:submit=submit>
                <label for="ws-title">"Title"</label>
                <input id="ws-title" type="text" required prop:value=title on:input=move |ev| title.set(event_target_value(&ev))/>
                <label for="ws-lessons">"Lessons (track/slug, separated by commas)"</label>
                <input id="ws-lessons" type="text" prop:value=lessons on:input=move |ev| lessons.set(event_target_value(&ev))/>
                <label for="ws-labs">"Labs (ids)"</label>
                <input id="ws-labs" type="text" prop:value=labs on:input=move |ev| labs.set(event_target_value(&ev))/>
                <label for="ws-exercises">"Exercises (ids)"</label>
                <input id="ws-exercises" type="text" prop:value=exercises on:input=move |ev| exercises.set(event_target_value(&ev))/>
                <div class="form-row">
                    <label>"Hours "<input type="number" min="1" max="8760" prop:value=hours on:input=move |ev| hours.set(event_target_value(&ev))/></label>
                    <label>"Max participants "<input type="number" min="1" max="1000" prop:value=max on:input=move |ev| max.set(event_target_value(&ev))/></label>
                    <label>"Lab slots reserved "<input type="number" min="0" prop:value=reserved on:input=move |ev| reserved.set(event_target_value(&ev))/></label>
                </div>
                <label for="ws-due">"Exercises due in (hours from now; empty for no deadline)"</label>
                <input id="ws-due" type="number" min="0" step="0.5" prop:value=due on:input=move |ev| due.set(event_target_value(&ev))/>
                <label class="checkbox"><input type="checkbox" prop:checked=late on:change=move |ev| late.set(event_target_checked(&ev))/>" Accept late work (kept and flagged late)"</label>
                <label class="checkbox"><input type="checkbox" prop:checked=approval on:change=move |ev| approval.set(event_target_checked(&ev))/>" Approve each participant"</label>
                <p><button type="submit" class="button primary" disabled=move || create.pending().get()>"Create"</button></p>
            </form>
            {move || match create.value().get() {
                Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{error_text(&e)}</p> }),
                _ => None,
            }}
        </section>
    }
}
