use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::error_text,
    api_labs::{get_labs, LabSessionView, LabSummary, LabsOverview},
    components::lab_panel::is_active,
};

/// Every lab, with the learner's running or queued one on top.
#[component]
pub fn LabsPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| get_labs());
    view! {
        <Title text="Labs · Drydock"/>
        <header class="page-head">
            <h1>"Labs"</h1>
            <p class="lead">"A container of your own with a terminal in the browser. It runs as an ordinary user, with no capabilities, no network and strict limits, and it is removed when you stop it or its time runs out."</p>
        </header>
        <Transition fallback=|| view! { <p class="loading">"Loading labs…"</p> }>
            {move || overview.get().map(|result| match result {
                Ok(o) => view! { <Overview overview=o/> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn Overview(overview: LabsOverview) -> impl IntoView {
    let LabsOverview { labs, sessions } = overview;
    let (active, ended): (Vec<LabSessionView>, Vec<LabSessionView>) =
        sessions.into_iter().partition(is_active);
    view! {
        {(!active.is_empty()).then(|| view! {
            <section class="card your-labs">
                <h2>"Your lab"</h2>
                <ul>
                    {active.into_iter().map(|s| view! {
                        <li>
                            <A href=format!("/labs/{}", s.lab)>{s.title.clone()}</A>
                            {format!(" — {}", match s.position { Some(p) => format!("queued, number {p}"), None => s.status.clone() })}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        {if labs.is_empty() {
            view! { <p class="empty-state">"No labs have been published yet."</p> }.into_any()
        } else {
            view! { <ul class="lab-grid">{labs.into_iter().map(|l| view! { <LabCard lab=l/> }).collect_view()}</ul> }.into_any()
        }}
        {(!ended.is_empty()).then(|| view! {
            <section class="recent-labs">
                <h2>"Recently ended"</h2>
                <ul>
                    {ended.into_iter().map(|s| view! {
                        <li>
                            <A href=format!("/labs/{}", s.lab)>{s.title.clone()}</A>
                            <span class="muted">{format!(" — {}", s.end_reason.clone().unwrap_or_default())}</span>
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        })}
    }
}

#[component]
fn LabCard(lab: LabSummary) -> impl IntoView {
    view! {
        <li class="card lab-card">
            <h2><A href=format!("/labs/{}", lab.id)>{lab.title.clone()}</A></h2>
            <p>{lab.summary.clone()}</p>
            <p class="muted small-text">{format!("{} min · {} MiB · {}", lab.time_limit_minutes, lab.memory_mb, lab.image)}</p>
            {(!lab.lessons.is_empty()).then(move || view! {
                <p class="small-text">"Used in: "
                    {lab.lessons.into_iter().map(|(href, title)| view! { <A href=href>{title}</A>" " }).collect_view()}
                </p>
            })}
        </li>
    }
}
