use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{api::error_text, api_lessons::search_lessons, pages::lessons::SearchBox};

/// Lesson sections that match the query.
#[component]
pub fn SearchPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").unwrap_or_default());
    let results = Resource::new(q, search_lessons);
    view! {
        <Title text="Search lessons · Drydock"/>
        <header class="page-head">
            <h1>"Search lessons"</h1>
            {move || view! { <SearchBox value=q()/> }}
        </header>
        <Transition fallback=|| view! { <p class="loading">"Searching…"</p> }>
            {move || results.get().map(|r| match r {
                Ok(hits) if q().trim().is_empty() => { let _ = hits; view! { <p class="empty-state">"Type a word or two, such as “capabilities” or “volume”."</p> }.into_any() }
                Ok(hits) if hits.is_empty() => view! {
                    <p class="empty-state">{format!("Nothing matches “{}”. Try a shorter or more general word.", q())}</p>
                }.into_any(),
                Ok(hits) => view! {
                    <p class="muted">{format!("{} matching sections", hits.len())}</p>
                    <ol class="search-results">
                        {hits.into_iter().map(|h| {
                            let href = match &h.anchor {
                                Some(a) => format!("/lessons/{}/{}#{}", h.track, h.slug, a),
                                None => format!("/lessons/{}/{}", h.track, h.slug),
                            };
                            view! {
                                <li>
                                    <A href=href>{h.heading}</A>
                                    <span class="muted">{format!(" — {}", h.lesson_title)}</span>
                                    <p class="snippet">{h.snippet}</p>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}
