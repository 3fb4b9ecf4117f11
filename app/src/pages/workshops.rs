use leptos::{prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::error_text,
    api_workshops::{get_workshops, CreateWorkshop, JoinWorkshop, NewWorkshop, WorkshopSummary},
    components::forms::{field, go_to_on_success},
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
    // A join link is /workshops?code=XXXX: the code is filled in.
    let code = use_query_map()
        .read_untracked()
        .get("code")
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
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
            <Transition fallback=|| ()>
                {move || session.me.get().map(|me| {
                    let guest = me.as_ref().ok().and_then(Option::as_ref).is_none_or(|m| m.role == "guest");
                    view! { <JoinForm code=code.clone() guest/> }
                })}
            </Transition>
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

/// Joins by code; a guest arriving by a join link is asked to register
/// first, and the code comes along.
#[island]
fn JoinForm(code: String, guest: bool) -> impl IntoView {
    let join = ServerAction::<JoinWorkshop>::new();
    go_to_on_success(join, |w| format!("/workshops/{}", w.id));
    view! {
        <section class="card">
            <h2>"Join a workshop"</h2>
            {(guest && !code.is_empty()).then(|| view! {
                <p class="callout">"Workshops keep your work under your name: "
                    <a href=format!("/register?code={code}")>"create an account"</a>
                    " (or " <a href="/login">"log in"</a> ") first, then join."</p>
            })}
            <form method="post" action={<JoinWorkshop as ServerFn>::url()} class="join-form"
                on:submit=move |ev| {
                    ev.prevent_default();
                    join.dispatch(JoinWorkshop { code: field(&ev, "code") });
                }>
                <label for="join-code">"Code"</label>
                <input id="join-code" name="code" type="text" required autocomplete="off" spellcheck="false" placeholder="e.g. K7MQ2XPA" value=code.clone()/>
                <button type="submit" class="button primary">"Join"</button>
            </form>
            {move || match join.value().get() {
                Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{error_text(&e)}</p> }),
                _ => None,
            }}
        </section>
    }
}

#[island]
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
    go_to_on_success(create, |w| format!("/workshops/{}", w.id));
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
        let deadlines = match hours_to_ms(&due.get_untracked()) {
            Some(ms) if ms > 0 => chosen.iter().map(|e| (e.clone(), start + ms)).collect(),
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

/// `1.5` hours as milliseconds (up to a year; decimals past the third are
/// ignored). Integer arithmetic: no float parser in the browser's download.
fn hours_to_ms(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(frac) || whole.len() > 4 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    if whole > 8760 {
        return None;
    }
    let frac: String = frac.chars().chain("000".chars()).take(3).collect();
    let thousandths: i64 = frac.parse().ok()?;
    Some(whole * 3_600_000 + thousandths * 3_600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_become_milliseconds() {
        assert_eq!(super::hours_to_ms("2"), Some(7_200_000));
        assert_eq!(super::hours_to_ms(" 0.5 "), Some(1_800_000));
        assert_eq!(super::hours_to_ms(".25"), Some(900_000));
        assert_eq!(super::hours_to_ms(""), Some(0));
        assert_eq!(super::hours_to_ms("abc"), None);
        assert_eq!(super::hours_to_ms("-1"), None);
        assert_eq!(super::hours_to_ms("1.x"), None);
        assert_eq!(super::hours_to_ms("99999"), None);
    }
}
