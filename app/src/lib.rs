#![recursion_limit = "256"]
//! Drydock's user interface: the HTML shell, the router and the pages.
//! Pages are rendered on the server (`ssr`) only; what is interactive is an
//! `#[island]`, the one part the browser downloads and hydrates (`hydrate`).
//! Links between pages are ordinary page loads.

pub mod api;
pub mod api_exercises;
pub mod api_labs;
pub mod api_lessons;
pub mod api_workshops;
pub mod components;
pub mod pages;
pub mod session;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags};
use leptos_router::{
    components::{Route, Router, Routes, A},
    ParamSegment, StaticSegment,
};

use pages::{
    admin_users::AdminUsersPage, exercise::ExercisePage, exercises::ExercisesPage, home::HomePage,
    lab::LabPage, labs::LabsPage, lesson::LessonPage, lessons::LessonsPage, login::LoginPage,
    not_found::NotFound, profile::ProfilePage, register::RegisterPage, search::SearchPage,
    workshop::WorkshopPage, workshops::WorkshopsPage,
};
use session::SessionContext;

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
                <link rel="stylesheet" href="/highlight.css"/>
                // Draws lab terminals (xterm.js, loaded only when one appears).
                <script defer src="/terminal.js"></script>
                <AutoReload options=options.clone()/>
                <IslandScripts/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The browser's part of a page: `/islands.js` hydrates the page's islands,
/// fetching the site's wasm only when the page has one.
#[component]
fn IslandScripts() -> impl IntoView {
    // What follows is server-only unless it is inside an island (the
    // islands' own state is numbered apart, as the browser numbers it).
    if let Some(context) = Owner::current_shared_context() {
        context.set_is_hydrating(false);
    }
    view! { <script type="module" src="/islands.js"></script> }
}

/// The application: top navigation and the routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    SessionContext::provide();

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
                        <li><A href="/exercises">"Exercises"</A></li>
                        <li><A href="/workshops">"Workshops"</A></li>
                    </ul>
                    <UserMenu/>
                </nav>
            </header>
            <main id="content" class="page">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("login") view=LoginPage/>
                    <Route path=StaticSegment("register") view=RegisterPage/>
                    <Route path=StaticSegment("profile") view=ProfilePage/>
                    <Route path=(StaticSegment("admin"), StaticSegment("users")) view=AdminUsersPage/>
                    <Route path=StaticSegment("lessons") view=LessonsPage/>
                    <Route path=(StaticSegment("lessons"), StaticSegment("search")) view=SearchPage/>
                    <Route path=(StaticSegment("lessons"), ParamSegment("track"), ParamSegment("slug")) view=LessonPage/>
                    <Route path=StaticSegment("labs") view=LabsPage/>
                    <Route path=(StaticSegment("labs"), ParamSegment("id")) view=LabPage/>
                    <Route path=StaticSegment("exercises") view=ExercisesPage/>
                    <Route path=(StaticSegment("exercises"), ParamSegment("id")) view=ExercisePage/>
                    <Route path=StaticSegment("workshops") view=WorkshopsPage/>
                    <Route path=(StaticSegment("workshops"), ParamSegment("id")) view=WorkshopPage/>
                </Routes>
            </main>
            <footer class="site-footer">
                <p>"Drydock — learn Docker and container security by doing."</p>
            </footer>
        </Router>
    }
}

/// Right side of the navigation: who is signed in, or how to sign in.
#[component]
fn UserMenu() -> impl IntoView {
    let session = expect_context::<SessionContext>();
    view! {
        <div class="user-menu">
            <Transition fallback=|| ()>
                {move || session.me.get().map(|me| match me {
                    Ok(Some(me)) if !me.is_guest() => view! {
                        {me.is_admin().then(|| view! { <A href="/admin/users">"Users"</A> })}
                        <A href="/profile" attr:class="who">{me.username.clone()}</A>
                        // A plain form: the server signs out and sends the
                        // browser back to this page (no wasm needed).
                        <form method="post" action={<api::Logout as leptos::server_fn::ServerFn>::url()} class="inline-form">
                            <button type="submit" class="link-button">"Log out"</button>
                        </form>
                    }.into_any(),
                    _ => view! {
                        <A href="/login">"Log in"</A>
                        <A href="/register" attr:class="button primary small">"Register"</A>
                    }.into_any(),
                })}
            </Transition>
        </div>
    }
}
