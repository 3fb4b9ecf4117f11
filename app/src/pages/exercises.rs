use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::error_text,
    api_exercises::{get_exercises, ExerciseSummary},
};

/// What kind of work an exercise asks for, in words.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "run" => "docker run",
        "compose" => "Compose service",
        "dockerfile" => "Dockerfile",
        "lab" => "Lab task",
        "lab-containers" => "Your containers",
        "flag" => "Find the value",
        _ => "Exercise",
    }
}

/// Every graded exercise, with the learner's best score.
#[component]
pub fn ExercisesPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| get_exercises());
    view! {
        <Title text="Exercises · Drydock"/>
        <header class="page-head">
            <h1>"Exercises"</h1>
            <p class="lead">"Hardening tasks graded by running your work for real: Drydock starts your container or builds your Dockerfile in a sandbox, inspects what actually runs, and explains every criterion."</p>
        </header>
        <Transition fallback=|| view! { <p class="loading">"Loading exercises…"</p> }>
            {move || list.get().map(|result| match result {
                Ok(list) if list.is_empty() => view! { <p class="empty-state">"No exercises have been published yet."</p> }.into_any(),
                Ok(list) => view! {
                    <ul class="exercise-grid">
                        {list.into_iter().map(|e| view! { <ExerciseCard exercise=e/> }).collect_view()}
                    </ul>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ExerciseCard(exercise: ExerciseSummary) -> impl IntoView {
    let progress = match exercise.best {
        Some(best) if exercise.passed => format!("Passed · best {best} / {}", exercise.max),
        Some(best) => format!(
            "Best {best} / {} · {} attempt(s)",
            exercise.max, exercise.attempts
        ),
        None => format!("{} points · not tried yet", exercise.max),
    };
    view! {
        <li class="card exercise-card" class:passed=exercise.passed>
            <p class="kind-badge">{kind_label(&exercise.kind)}</p>
            <h2><A href=format!("/exercises/{}", exercise.id)>{exercise.title.clone()}</A></h2>
            <p>{exercise.summary.clone()}</p>
            <p class="muted small-text">{progress}</p>
            {(!exercise.lessons.is_empty()).then(move || view! {
                <p class="small-text">"From: "
                    {exercise.lessons.into_iter().map(|(href, title)| view! { <A href=href>{title}</A>" " }).collect_view()}
                </p>
            })}
        </li>
    }
}
