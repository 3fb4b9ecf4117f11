use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// An honest placeholder for a section that is not built yet.
#[component]
pub fn ComingSoon(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Drydock")/>
        <section class="coming-soon">
            <h1>{title}</h1>
            <p class="badge">"Coming soon"</p>
            <p>{what}</p>
            <p>"This part of Drydock is not built yet. "<A href="/">"Back to the start page"</A></p>
        </section>
    }
}
