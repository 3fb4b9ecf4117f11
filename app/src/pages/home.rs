use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::sandbox_explorer::SandboxExplorer;

/// The start page: what Drydock is and how its labs are confined.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="Drydock — learn Docker and container security by doing"/>
        <section class="hero">
            <h1>"Learn Docker and container security by doing"</h1>
            <p class="lead">
                "Drydock pairs short lessons with a real container of your own. "
                "You harden it, break it and inspect it — and Drydock grades your work by "
                "looking at what actually runs, not at the command you typed."
            </p>
            <p><A href="/lessons" attr:class="button primary">"Start learning"</A>" — no account needed."</p>
        </section>
        <section class="features" aria-label="What you get">
            <article>
                <h2>"Lessons"</h2>
                <p>"Docker fundamentals and Docker security, with commands you can run and quizzes that explain every answer."</p>
            </article>
            <article>
                <h2>"Labs"</h2>
                <p>"A sandboxed container per learner with a terminal in the browser. No Docker-in-Docker, no privileged mode."</p>
            </article>
            <article>
                <h2>"Graded hardening"</h2>
                <p>"Run a container non-root and read-only, drop its capabilities, limit its resources — then see each check pass or fail with the exact fix."</p>
            </article>
        </section>
        <SandboxExplorer/>
    }
}
