use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use crate::components::lab_panel::LabPanel;

/// One lab on a page of its own, terminal at full width.
#[component]
pub fn LabPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    view! {
        <Title text="Lab · Drydock"/>
        <p class="breadcrumb"><A href="/labs">"Labs"</A></p>
        {move || {
            let id = id();
            view! { <LabPanel lab_id=id/> }
        }}
    }
}
