use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::error_text,
    api_lessons::{
        answer_question, get_lesson, set_lesson_complete, AnswerResult, LessonView, QuestionView,
    },
    components::lab_panel::LabLoader,
    pages::not_found::NotFound,
};

/// One lesson: contents sidebar, body, quiz, completion, previous/next.
#[component]
pub fn LessonPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("track").unwrap_or_default(),
                p.get("slug").unwrap_or_default(),
            )
        })
    };
    let lesson = Resource::new(key, |(track, slug)| get_lesson(track, slug));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the lesson…"</p> }>
            {move || lesson.get().map(|result| match result {
                Ok(Some(l)) => view! { <Lesson lesson=l/> }.into_any(),
                Ok(None) => view! { <NotFound/> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Lesson(lesson: LessonView) -> impl IntoView {
    let LessonView {
        track,
        track_title,
        slug,
        title,
        summary,
        minutes,
        objectives,
        html,
        toc,
        quiz,
        prev,
        next,
        completed,
        lab,
        exercises,
    } = lesson;
    let toc_view = toc
        .into_iter()
        .map(|t| view! { <li class=format!("toc-{}", t.level)><a href=format!("#{}", t.id)>{t.text}</a></li> })
        .collect_view();
    let questions = quiz.len();
    view! {
        <Title text=format!("{title} · Drydock")/>
        <div class="lesson-layout">
            <nav class="toc" aria-label="On this page">
                <details open>
                    <summary>"On this page"</summary>
                    <ol>
                        {toc_view}
                        {(questions > 0).then(|| view! { <li class="toc-2"><a href="#quiz">"Quiz"</a></li> })}
                    </ol>
                </details>
            </nav>
            <article class="lesson">
                <p class="breadcrumb"><A href="/lessons">"Lessons"</A> " › " {track_title}</p>
                <h1>{title}</h1>
                <p class="lead">{summary}</p>
                <p class="muted">{format!("About {minutes} minutes")}</p>
                <section class="objectives card">
                    <h2 class="objectives-title">"You will be able to"</h2>
                    <ul>{objectives.into_iter().map(|o| view! { <li>{o}</li> }).collect_view()}</ul>
                </section>
                <div class="lesson-body" inner_html=html></div>
                <CopyButtons/>
                {(questions > 0).then(|| view! {
                    <section class="quiz" id="quiz" aria-labelledby="quiz-title">
                        <h2 id="quiz-title">"Quiz"</h2>
                        <p class="muted">"Answers are checked on the server; each shows an explanation."</p>
                        {quiz.into_iter().enumerate().map(|(n, q)| view! {
                            <Question track=track.clone() slug=slug.clone() number=n + 1 question=q/>
                        }).collect_view()}
                    </section>
                })}
                {(!exercises.is_empty()).then(|| view! {
                    <section class="lesson-exercises card" id="exercises" aria-labelledby="exercises-title">
                        <h2 id="exercises-title">"Graded exercises"</h2>
                        <p class="muted">"Drydock runs what you submit for real and grades every criterion, with hints."</p>
                        <ul>
                            {exercises.into_iter().map(|(id, title, summary)| view! {
                                <li>
                                    <A href=format!("/exercises/{id}")>{title}</A>
                                    <p class="small-text">{summary}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    </section>
                })}
                <CompleteButton track=track.clone() slug=slug.clone() completed/>
                <nav class="prev-next" aria-label="Lesson navigation">
                    {prev.map(|p| view! { <A href=format!("/lessons/{}/{}", p.track, p.slug) attr:class="prev">{format!("← {}", p.title)}</A> })}
                    {next.map(|n| view! { <A href=format!("/lessons/{}/{}", n.track, n.slug) attr:class="next">{format!("{} →", n.title)}</A> })}
                </nav>
            </article>
        </div>
        {lab.map(|lab| view! { <LabDock lab_id=lab/> })}
    }
}

/// The lesson's lab, docked at the bottom of the window so the terminal stays
/// in view while reading; runnable code blocks send their command to it.
/// The lab's state is the viewer's own, so it is loaded in the browser (the
/// rendered lesson stays the same for everyone at the same progress).
#[island]
fn LabDock(lab_id: String) -> impl IntoView {
    let open = RwSignal::new(false);
    // A Run button pressed with no terminal open asks for the lab.
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener_untyped("drydock:need-lab", move |_| open.set(true));
        on_cleanup(move || handle.remove());
    }
    view! {
        <aside class="lab-dock" class:open=move || open.try_get().unwrap_or(false) aria-label="Lab">
            <button type="button" class="lab-dock-toggle" aria-expanded=move || open.try_get().unwrap_or(false).to_string()
                on:click=move |_| open.update(|o| *o = !*o)>
                <span>"Lab terminal"</span>
                <span aria-hidden="true">{move || if open.try_get().unwrap_or(false) { "▾ Hide" } else { "▴ Show" }}</span>
            </button>
            <div class="lab-dock-body">
                <LabLoader lab_id/>
            </div>
        </aside>
    }
}

/// Makes the Copy buttons of the lesson's code blocks work (one listener on
/// the document, since the lesson body is pre-rendered HTML).
#[island]
fn CopyButtons() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::click, copy_code);
        on_cleanup(move || handle.remove());
    }
}

/// Copies a code block when its Copy button is pressed.
#[cfg(feature = "hydrate")]
fn copy_code(ev: leptos::ev::MouseEvent) {
    use leptos::wasm_bindgen::JsCast;
    let Some(button) = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|el| el.closest("button.copy-code").ok().flatten())
    else {
        return;
    };
    let code = button
        .closest(".code-block")
        .ok()
        .flatten()
        .and_then(|block| block.query_selector("code").ok().flatten())
        .and_then(|code| code.text_content())
        .unwrap_or_default();
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(&code);
        button.set_text_content(Some("Copied"));
    }
}

#[island]
fn Question(track: String, slug: String, number: usize, question: QuestionView) -> impl IntoView {
    let QuestionView {
        id,
        kind,
        prompt,
        choices,
        answered,
    } = question;
    let multiple = kind == "multiple";
    let chosen = RwSignal::new(
        answered
            .as_ref()
            .map(|a| a.chosen.clone())
            .unwrap_or_default(),
    );
    let result: RwSignal<Option<AnswerResult>> = RwSignal::new(answered);
    let error = RwSignal::new(String::new());
    let qid = id.clone();
    let check = Action::new(move |choices: &Vec<usize>| {
        let (track, slug, qid, choices) =
            (track.clone(), slug.clone(), qid.clone(), choices.clone());
        async move { answer_question(track, slug, qid, choices).await }
    });
    Effect::new(move |_| match check.value().get() {
        Some(Ok(r)) => {
            result.set(Some(r));
            error.set(String::new());
        }
        Some(Err(e)) => error.set(error_text(&e)),
        None => {}
    });
    let name = format!("q-{id}");
    view! {
        <form
            class="question card"
            data-question=id.clone()
            on:submit=move |ev| {
                ev.prevent_default();
                check.dispatch(chosen.get());
            }
        >
            <fieldset>
                <legend>
                    <span class="q-number">{format!("{number}. ")}</span>
                    {prompt}
                    <span class="muted q-kind">{if multiple { " (choose all that apply)" } else { " (choose one)" }}</span>
                </legend>
                {choices.into_iter().enumerate().map(|(i, text)| {
                    let name = name.clone();
                    // `try_with`: a request cancelled mid-render disposes the
                    // signals while the server may still be resolving attributes.
                    let verdict = move || result.try_with(|r| r.as_ref().map(|r| {
                        let right = r.correct_choices.contains(&i);
                        let picked = r.chosen.contains(&i);
                        match (right, picked) {
                            (true, _) => "choice right",
                            (false, true) => "choice wrong",
                            _ => "choice",
                        }
                    })).flatten().unwrap_or("choice");
                    view! {
                        <label class=verdict data-choice=i>
                            <input
                                type=if multiple { "checkbox" } else { "radio" }
                                name=name
                                value=i.to_string()
                                prop:checked=move || chosen.try_with(|c| c.contains(&i)).unwrap_or(false)
                                on:change=move |_| chosen.update(|c| {
                                    if multiple {
                                        if let Some(pos) = c.iter().position(|x| *x == i) { c.remove(pos); } else { c.push(i); }
                                    } else {
                                        *c = vec![i];
                                    }
                                })
                            />
                            <span>{text}</span>
                        </label>
                    }
                }).collect_view()}
            </fieldset>
            <button
                type="submit"
                disabled=move || check.pending().try_get().unwrap_or(false) || chosen.try_with(Vec::is_empty).unwrap_or(true)
            >
                {move || if check.pending().try_get().unwrap_or(false) { "Checking…" } else if result.try_with(Option::is_some).unwrap_or(false) { "Check again" } else { "Check answer" }}
            </button>
            <p class="form-error" role="alert">{move || error.try_get().unwrap_or_default()}</p>
            <div class="explanation" aria-live="polite">
                {move || result.try_get().flatten().map(|r| view! {
                    <p class=if r.correct { "verdict right" } else { "verdict wrong" }>
                        {if r.correct { "Correct." } else { "Not quite." }}
                    </p>
                    <p>{r.explanation}</p>
                })}
            </div>
        </form>
    }
}

#[island]
fn CompleteButton(track: String, slug: String, completed: bool) -> impl IntoView {
    let done = RwSignal::new(completed);
    let toggle = Action::new(move |want: &bool| {
        let (track, slug, want) = (track.clone(), slug.clone(), *want);
        async move { set_lesson_complete(track, slug, want).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(state)) = toggle.value().get() {
            done.set(state);
        }
    });
    view! {
        <div class="complete-row">
            <button
                type="button"
                class=move || if done.try_get().unwrap_or(false) { "complete done" } else { "complete primary" }
                aria-pressed=move || done.try_get().unwrap_or(false).to_string()
                disabled=move || toggle.pending().try_get().unwrap_or(false)
                on:click=move |_| { toggle.dispatch(!done.get_untracked()); }
            >
                {move || if done.try_get().unwrap_or(false) { "✓ Completed — mark as not done" } else { "Mark lesson complete" }}
            </button>
            <p class="form-error" role="alert">
                {move || match toggle.value().try_get().flatten() { Some(Err(e)) => error_text(&e), _ => String::new() }}
            </p>
        </div>
    }
}
