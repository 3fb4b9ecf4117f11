use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::{
    api::error_text,
    api_labs::{get_lab, LabSummary},
    components::lab_panel::LabPanel,
};

/// One lab on a page of its own, terminal at full width; a lab with Docker
/// also lists the images it offers and what its Docker endpoint refuses.
#[component]
pub fn LabPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let detail = Resource::new(id, get_lab);
    view! {
        <Title text="Lab · Drydock"/>
        <p class="breadcrumb"><A href="/labs">"Labs"</A></p>
        <Transition fallback=|| view! { <p class="loading">"Loading the lab…"</p> }>
            {move || detail.get().map(|result| match result {
                Ok(Some(d)) => {
                    let docker = d.lab.docker.then(|| d.lab.clone());
                    view! {
                        <LabPanel detail=d/>
                        {docker.map(|lab| view! { <DockerInside lab/> })}
                    }.into_any()
                }
                Ok(None) => view! { <p class="empty-state">"This lab does not exist (any more)."</p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// The images a Docker lab offers and the rules of its endpoint.
#[component]
fn DockerInside(lab: LabSummary) -> impl IntoView {
    view! {
        <section class="card docker-inside" aria-labelledby="docker-inside-title">
            <h2 id="docker-inside-title">"Docker in this lab"</h2>
            <p>"The terminal has the real " <code>"docker"</code> " command. It talks to a Docker endpoint of this lab alone, which checks every request before the host's engine sees it. Your containers run under gVisor on a private network shared with this terminal, and they are removed when the lab ends."</p>
            <h3>"Images you can run"</h3>
            <ul class="image-list">
                {lab.images.into_iter().map(|(tag, description)| view! {
                    <li><code>{tag}</code>" — "{description}</li>
                }).collect_view()}
                <li class="muted">"…and the images you build yourself with " <code>"docker build"</code> "."</li>
            </ul>
            <details class="docker-rules">
                <summary>{format!("What the endpoint refuses ({} rules)", lab.rules.len())}</summary>
                <p class="muted small-text">"A refused command fails with a message that names the option and says why; nothing reaches the engine."</p>
                <dl>
                    {lab.rules.into_iter().map(|(what, why)| view! {
                        <dt><code>{what}</code></dt>
                        <dd>{why}</dd>
                    }).collect_view()}
                </dl>
            </details>
        </section>
    }
}
