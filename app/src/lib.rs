//! Drydock's user interface: the HTML shell, the router and the pages.
//! Rendered on the server (`ssr`) and hydrated in the browser (`hydrate`).

pub mod components;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags};
use leptos_router::{
    components::{Route, Router, Routes, A},
    StaticSegment,
};

use pages::{coming_soon::ComingSoon, home::HomePage, not_found::NotFound};

/// The whole HTML document; the server renders it around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href="/pkg/drydock.css"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: top navigation and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Router>
            <a class="skip-link" href="#content">"Skip to content"</a>
            <header class="site-header">
                <nav class="site-nav" aria-label="Main">
                    <A href="/" attr:class="brand">
                        <span class="brand-mark" aria-hidden="true">"⚓"</span>
                        "Drydock"
                    </A>
                    <ul>
                        <li><A href="/lessons">"Lessons"</A></li>
                        <li><A href="/labs">"Labs"</A></li>
                        <li><A href="/workshops">"Workshops"</A></li>
                    </ul>
                </nav>
            </header>
            <main id="content" class="page">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route
                        path=StaticSegment("lessons")
                        view=|| view! {
                            <ComingSoon
                                title="Lessons"
                                what="Two tracks of hands-on lessons — Docker fundamentals and Docker security — written in Markdown, with quizzes and progress tracking."
                            />
                        }
                    />
                    <Route
                        path=StaticSegment("labs")
                        view=|| view! {
                            <ComingSoon
                                title="Labs"
                                what="A sandboxed container of your own with a terminal in the browser, started from any lesson in under a second."
                            />
                        }
                    />
                    <Route
                        path=StaticSegment("workshops")
                        view=|| view! {
                            <ComingSoon
                                title="Workshops"
                                what="Instructor-led sessions with a live dashboard, assignments and grade export."
                            />
                        }
                    />
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"Drydock — learn Docker and container security by doing."</p>
            </footer>
        </Router>
    }
}
