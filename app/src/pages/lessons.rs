use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};

use crate::{
    api::error_text,
    api_lessons::{get_catalog, TrackView},
};

/// The catalog: tracks, their lessons, time needed and the learner's progress.
#[component]
pub fn LessonsPage() -> impl IntoView {
    let catalog = Resource::new(|| (), |_| get_catalog());
    view! {
        <Title text="Lessons · Drydock"/>
        <header class="page-head">
            <h1>"Lessons"</h1>
            <SearchBox value=String::new()/>
        </header>
        <Transition fallback=|| view! { <p class="loading">"Loading lessons…"</p> }>
            {move || catalog.get().map(|result| match result {
                Ok(c) if c.tracks.is_empty() => view! { <p class="empty-state">"No lessons have been published yet."</p> }.into_any(),
                Ok(c) => c.tracks.into_iter().map(|t| view! { <TrackCard track=t/> }).collect_view().into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// The search form, shared by the catalog and the results page.
#[component]
pub fn SearchBox(value: String) -> impl IntoView {
    view! {
        <Form method="GET" action="/lessons/search" attr:class="search-form" attr:role="search">
            <label class="visually-hidden" for="lesson-search">"Search lessons"</label>
            <input id="lesson-search" type="search" name="q" value=value placeholder="Search lessons, e.g. capabilities" maxlength="200"/>
            <button type="submit">"Search"</button>
        </Form>
    }
}

#[component]
fn TrackCard(track: TrackView) -> impl IntoView {
    let total = track.lessons.len();
    let done = track.lessons.iter().filter(|l| l.completed).count();
    let minutes: u32 = track.lessons.iter().map(|l| l.minutes).sum();
    view! {
        <section class="card track" data-track=track.id.clone()>
            <h2>{track.title}</h2>
            <p class="muted">{track.summary}</p>
            <p class="track-meta">
                <span class="progress-label">{format!("{done} of {total} lessons done")}</span>
                " · about " {format!("{} h {} min", minutes / 60, minutes % 60)}
            </p>
            <progress max=total.to_string() value=done.to_string() aria-label="Track progress"></progress>
            <ol class="lesson-list">
                {track.lessons.into_iter().map(|l| view! {
                    <li class:done=l.completed>
                        <A href=format!("/lessons/{}/{}", l.track, l.slug)>{l.title}</A>
                        <span class="muted">{format!(" · {} min", l.minutes)}</span>
                        {l.completed.then(|| view! { <span class="done-mark" aria-label="completed">" ✓"</span> })}
                        {l.lab.clone().map(|(lab, docker)| view! {
                            <A href=format!("/labs/{lab}") attr:class=if docker { "try-it docker" } else { "try-it" }
                                attr:title=if docker { "This lesson has a lab with the real docker command" } else { "This lesson has a lab with a shell" }>
                                {if docker { "▶ Try it: Docker lab" } else { "▶ Try it: lab" }}
                            </A>
                        })}
                        <p class="muted small-text">{l.summary}</p>
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}
