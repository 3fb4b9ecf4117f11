use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use super::exercises::kind_label;
use crate::{
    api::error_text,
    api_exercises::{get_exercise, ExerciseDetail, Submission, SubmissionView, SubmitExercise},
    components::check_list::CheckList,
};

/// `2026-11-27 23:50 UTC` from epoch milliseconds (the same on both sides).
pub fn utc(ms: i64) -> String {
    let rem = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        crate::session::date_of(ms),
        rem / 3600,
        rem % 3600 / 60
    )
}

/// One exercise: instructions, an editor, grading and past attempts.
#[component]
pub fn ExercisePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, get_exercise);
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the exercise…"</p> }>
            {move || detail.get().map(|result| match result {
                Ok(Some(d)) => view! { <Exercise detail=d/> }.into_any(),
                Ok(None) => view! {
                    <Title text="Exercise not found · Drydock"/>
                    <h1>"Exercise not found"</h1>
                    <p class="empty-state">"There is no such exercise. "<A href="/exercises">"See all exercises"</A></p>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Exercise(detail: ExerciseDetail) -> impl IntoView {
    let ExerciseDetail {
        summary,
        instructions_html,
        starter,
        starter_files,
        lab,
        image,
        bases,
        attempts_allowed,
        pass_points,
        checks,
        history,
    } = detail;
    let kind = summary.kind.clone();
    let max = summary.max;
    view! {
        <Title text=format!("{} · Drydock", summary.title)/>
        <article class="exercise">
            <p class="breadcrumb"><A href="/exercises">"Exercises"</A> " › " {kind_label(&kind)}</p>
            <h1>{summary.title.clone()}</h1>
            <p class="lead">{summary.summary.clone()}</p>
            <p class="muted small-text">
                {format!("{max} points · pass with {pass_points}")}
                {image.map(|i| format!(" · image {i}"))}
            </p>
            {(!summary.lessons.is_empty()).then(|| view! {
                <p class="small-text">"Lesson: "
                    {summary.lessons.clone().into_iter().map(|(href, title)| view! { <A href=href>{title}</A>" " }).collect_view()}
                </p>
            })}
            <div class="exercise-layout">
                <section class="exercise-task">
                    <div class="instructions" inner_html=instructions_html></div>
                    <details class="criteria">
                        <summary>{format!("What is graded ({} checks)", checks.len())}</summary>
                        <ul>
                            {checks.into_iter().map(|(id, title, points)| view! {
                                <li><code>{id}</code>" "{title}<span class="muted">{format!(" · {points} pt")}</span></li>
                            }).collect_view()}
                        </ul>
                    </details>
                </section>
                <ExerciseWork id=summary.id.clone() kind starter starter_files lab bases attempts_allowed history/>
            </div>
        </article>
    }
}

/// The editor, grading and past attempts: the exercise page's island.
#[island]
#[allow(clippy::too_many_arguments)]
fn ExerciseWork(
    id: String,
    kind: String,
    starter: String,
    starter_files: Vec<(String, String)>,
    lab: Option<(String, String)>,
    bases: Vec<String>,
    attempts_allowed: u32,
    history: Vec<SubmissionView>,
) -> impl IntoView {
    let exercise_id = id;
    let last = history.first().cloned();
    // The editor starts from the last attempt, so a reload loses nothing.
    let text = RwSignal::new(
        last.as_ref()
            .filter(|l| l.kind != "lab")
            .map(|l| l.text.clone())
            .unwrap_or(starter),
    );
    let files = RwSignal::new(match &last {
        Some(l) if l.kind == "dockerfile" => l.files.clone(),
        _ => starter_files,
    });
    let as_compose = RwSignal::new(
        last.as_ref()
            .map_or(kind == "compose", |l| l.kind == "compose"),
    );
    let history = RwSignal::new(history);
    let shown = RwSignal::new(last.clone().map(|l| (l.report, l.attempt)));
    let submit = ServerAction::<SubmitExercise>::new();
    let pending = submit.pending();
    Effect::new(move |_| {
        if let Some(Ok(view)) = submit.value().get() {
            shown.set(Some((view.report.clone(), view.attempt)));
            history.update(|h| {
                if !h.iter().any(|x| x.id == view.id) {
                    h.insert(0, view);
                }
            });
        }
    });
    let error = move || match submit.value().get() {
        Some(Err(e)) => Some(error_text(&e)),
        _ => None,
    };
    let kind_for_send = kind.clone();
    let id_for_send = exercise_id.clone();
    let send = move || {
        if pending.get_untracked() {
            return;
        }
        let submission = match kind_for_send.as_str() {
            "dockerfile" => Submission::Dockerfile {
                dockerfile: text.get_untracked(),
                files: files
                    .get_untracked()
                    .into_iter()
                    .filter(|(name, _)| !name.trim().is_empty())
                    .collect(),
            },
            "flag" => Submission::Flag {
                value: text.get_untracked(),
            },
            "lab" | "lab-containers" => Submission::Lab {},
            _ if as_compose.get_untracked() => Submission::Compose {
                service: text.get_untracked(),
            },
            _ => Submission::Run {
                command: text.get_untracked(),
            },
        };
        submit.dispatch(SubmitExercise {
            id: id_for_send.clone(),
            submission,
        });
    };
    let send_on_keys = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if (ev.ctrl_key() || ev.meta_key()) && ev.key() == "Enter" {
                ev.prevent_default();
                send();
            }
        }
    };
    // Set in the browser only: tests (and styles) can tell the form is live.
    let hydrated = crate::session::hydrated();
    let used = move || history.with(|h| h.len() as u32);
    let out_of_attempts = move || attempts_allowed > 0 && used() >= attempts_allowed;
    view! {
        <section class="exercise-work" aria-label="Your submission">
            <p class="muted small-text attempts-used">
                {move || if attempts_allowed > 0 { format!("{} of {attempts_allowed} attempts used", used()) } else { format!("{} attempt(s) so far", used()) }}
            </p>
            <form class="submission" data-hydrated=move || hydrated.get().to_string() on:submit={
                let send = send.clone();
                move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send(); }
            }>
                {match kind.as_str() {
                    "lab-containers" => view! {
                        <p>"Start the container in your lab with the docker command, then check it. Drydock reads the running container through the engine and asks it the exercise's questions; nothing you type is trusted."</p>
                        {lab.clone().map(|(id, title)| view! { <p><a href=format!("/labs/{id}")>{format!("Open the lab: {title}")}</a></p> })}
                    }.into_any(),
                    "lab" => view! {
                        <p>"Make the changes in your lab, then check it. Drydock reads your lab container from outside; nothing you type is trusted."</p>
                        {lab.clone().map(|(id, title)| view! { <p><a href=format!("/labs/{id}")>{format!("Open the lab: {title}")}</a></p> })}
                    }.into_any(),
                    "flag" => view! {
                        <label for="flag-value">"The value you found"</label>
                        <input id="flag-value" name="value" type="text" autocomplete="off" spellcheck="false"
                            value=text.get_untracked() prop:value=text on:input=move |ev| text.set(event_target_value(&ev))/>
                        {lab.clone().map(|(id, title)| view! { <p class="small-text"><a href=format!("/labs/{id}")>{format!("Open the lab: {title}")}</a></p> })}
                    }.into_any(),
                    "dockerfile" => view! {
                        <label for="dockerfile">"Dockerfile"</label>
                        <textarea id="dockerfile" class="code-editor" rows="14" spellcheck="false"
                            prop:value=text on:input=move |ev| text.set(event_target_value(&ev)) on:keydown=send_on_keys.clone()>{text.get_untracked()}</textarea>
                        <p class="muted small-text">{format!("Builds have no network and may start FROM: {}.", bases.join(", "))}</p>
                        <ContextFiles files/>
                    }.into_any(),
                    _ => view! {
                        <fieldset class="mode-switch">
                            <legend class="visually-hidden">"Submit as"</legend>
                            <label><input type="radio" name="mode" prop:checked=move || !as_compose.get() on:change=move |_| as_compose.set(false)/>" docker run command"</label>
                            <label><input type="radio" name="mode" prop:checked=move || as_compose.get() on:change=move |_| as_compose.set(true)/>" Compose service (YAML)"</label>
                        </fieldset>
                        <label for="run-text" class="visually-hidden">"Your submission"</label>
                        <textarea id="run-text" class="code-editor" rows=move || if as_compose.get() { "14" } else { "5" } spellcheck="false"
                            prop:value=text on:input=move |ev| text.set(event_target_value(&ev)) on:keydown=send_on_keys.clone()>{text.get_untracked()}</textarea>
                    }.into_any(),
                }}
                <p class="submit-row">
                    <button type="submit" class="button primary" disabled=move || pending.get() || out_of_attempts()>
                        {move || if pending.get() {
                            "Grading…"
                        } else if kind == "lab" || kind == "lab-containers" {
                            "Check my lab"
                        } else {
                            "Grade it"
                        }}
                    </button>
                    <span class="muted small-text">
                        {move || if pending.get() {
                            "Running your submission in a sandbox and inspecting it; this takes a few seconds."
                        } else if out_of_attempts() {
                            "You have used every attempt at this exercise."
                        } else {
                            "Ctrl+Enter grades from the editor."
                        }}
                    </span>
                </p>
                {move || error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            </form>
            {move || shown.get().map(|(report, attempt)| view! { <CheckList report attempt=attempt/> })}
            <History history text files as_compose shown/>
        </section>
    }
}

/// The build context's files, each editable, with add and remove.
#[component]
fn ContextFiles(files: RwSignal<Vec<(String, String)>>) -> impl IntoView {
    view! {
        <fieldset class="context-files">
            <legend>"Build context"</legend>
            {move || {
                let count = files.with(|f| f.len());
                (0..count).map(|i| {
                    let name = move || files.with(|f| f.get(i).map(|x| x.0.clone()).unwrap_or_default());
                    let content = move || files.with(|f| f.get(i).map(|x| x.1.clone()).unwrap_or_default());
                    view! {
                        <div class="context-file">
                            <p class="context-file-head">
                                <input type="text" aria-label="File name" value=name() prop:value=name spellcheck="false"
                                    on:change=move |ev| { let v = event_target_value(&ev); files.update(|f| if let Some(x) = f.get_mut(i) { x.0 = v; }); }/>
                                <button type="button" class="link-button" on:click=move |_| files.update(|f| { if i < f.len() { f.remove(i); } })>"Remove"</button>
                            </p>
                            <textarea class="code-editor" rows="4" spellcheck="false" aria-label="File content" prop:value=content
                                on:change=move |ev| { let v = event_target_value(&ev); files.update(|f| if let Some(x) = f.get_mut(i) { x.1 = v; }); }>{content()}</textarea>
                        </div>
                    }
                }).collect_view()
            }}
            {move || files.with(|f| f.is_empty()).then(|| view! { <p class="muted small-text">"No files: the build sees only the Dockerfile."</p> })}
            <button type="button" class="button small" on:click=move |_| files.update(|f| f.push((format!("file{}.txt", f.len() + 1), String::new())))>"Add a file"</button>
        </fieldset>
    }
}

/// Past attempts, newest first; each can be shown or loaded back.
#[component]
fn History(
    history: RwSignal<Vec<SubmissionView>>,
    text: RwSignal<String>,
    files: RwSignal<Vec<(String, String)>>,
    as_compose: RwSignal<bool>,
    shown: RwSignal<Option<(crate::api_exercises::GradeReport, u32)>>,
) -> impl IntoView {
    view! {
        <section class="attempts" aria-labelledby="attempts-title">
            <h2 id="attempts-title">"Your attempts"</h2>
            {move || {
                let list = history.get();
                if list.is_empty() {
                    view! { <p class="empty-state">"No attempts yet. Submit to see how your work is graded."</p> }.into_any()
                } else {
                    view! {
                        <ol class="attempt-list">
                            {list.into_iter().map(|a| {
                                let report = a.report.clone();
                                let attempt = a.attempt;
                                let loadable = a.kind != "lab";
                                let load = a.clone();
                                view! {
                                    <li class:passed=a.report.passed>
                                        <span>{if a.interrupted {
                                            format!("#{} · {} · interrupted, not counted", a.attempt, utc(a.created_at))
                                        } else {
                                            format!("#{} · {} · {} / {}", a.attempt, utc(a.created_at), a.report.score, a.report.max)
                                        }}</span>
                                        <button type="button" class="link-button" on:click=move |_| shown.set(Some((report.clone(), attempt)))>"Show"</button>
                                        {loadable.then(|| view! {
                                            <button type="button" class="link-button" on:click=move |_| {
                                                text.set(load.text.clone());
                                                as_compose.set(load.kind == "compose");
                                                if load.kind == "dockerfile" { files.set(load.files.clone()); }
                                            }>"Load into the editor"</button>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn epoch_milliseconds_become_a_utc_date() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_823_400_000), "2026-11-27 23:50 UTC");
    }
}
