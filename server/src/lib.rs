#![recursion_limit = "256"]
//! Drydock's server: configuration, database, lab engine and the HTTP app.
//!
//! [`Application::build`] binds the listener before serving, so tests can run
//! the real application on port 0 and learn the port it got.

pub mod accounts;
pub mod config;
pub mod content;
pub mod db;
pub mod docker;
pub mod error;
pub mod extract;
pub mod grading;
pub mod health;
pub mod labs;
pub mod lessons;
pub mod state;
pub mod telemetry;
pub mod workshops;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    http::{header, HeaderValue, Request},
    Router,
};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    accounts::throttle::AuthThrottles, config::Config, db::sessions::DbSessionStore, db::Db,
    docker::engine::Engine, state::AppState,
};
use tower_sessions::ExpiredDeletion;

/// A bound, ready-to-serve Drydock.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database (migrating it), prepares the engine handle and
    /// binds the listening socket.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        // The engine bind-mounts labs' socket directories: it needs a whole path.
        if config.labs.socket_dir.is_relative() {
            config.labs.socket_dir = std::env::current_dir()?.join(&config.labs.socket_dir);
        }
        config.check().map_err(anyhow::Error::msg)?;
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        // Attempts a stopped server was still grading never got a report:
        // the learner is told, and they do not count.
        db::submissions::interrupt_unfinished(&db).await?;
        let engine = Engine::connect(
            config.docker_host.as_deref(),
            Duration::from_secs(config.docker_timeout_secs.max(1)),
        )?;
        let listener = TcpListener::bind(config.bind).await?;
        let mut leptos_options = leptos_options(&config);
        leptos_options.site_addr = listener.local_addr()?;
        let content = content::load::load(&config.content_dir).map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(
                "the content has {} problem(s):\n{}",
                list.len(),
                list.join("\n")
            )
        })?;
        let throttles = Arc::new(AuthThrottles::from_settings(&config.auth));
        let config = Arc::new(config);
        let engine = Arc::new(engine);
        let content = Arc::new(content);
        let labs = Arc::new(labs::service::LabService::new(
            db.clone(),
            engine.clone(),
            content.clone(),
            config.clone(),
        ));
        if content.labs.values().any(|l| l.def.docker) {
            match tokio::time::timeout(Duration::from_secs(5), labs.docker_unavailable()).await {
                Ok(Ok(Some(why))) => tracing::warn!("{why}"),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "could not check the engine's runtimes for labs with Docker")
                }
                _ => {}
            }
        }
        // Notices when a database found unreachable answers again.
        tokio::spawn(db.clone().watch());
        // Reconciles lab containers, then enforces time limits and the queue.
        tokio::spawn(labs.clone().run_background());
        let grading = Arc::new(grading::service::GradingService::new(
            db.clone(),
            engine.clone(),
            content.clone(),
            config.clone(),
        ));
        // A grader that crashed mid-run may have left containers, volumes or
        // images; they go before anything is served (briefly: the engine may be down).
        match tokio::time::timeout(Duration::from_secs(10), grading.clean_leftovers()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(removed = n, "grading leftovers removed"),
            Ok(Err(err)) => tracing::warn!(error = %err, "could not clean grading leftovers"),
            Err(_) => tracing::warn!("cleaning grading leftovers took too long; skipped"),
        }
        let workshops = Arc::new(workshops::service::WorkshopService::new(
            db.clone(),
            content.clone(),
            labs.clone(),
        ));
        let state = AppState {
            config,
            db,
            engine,
            leptos_options,
            throttles,
            content,
            labs,
            grading,
            workshops,
            pages: Arc::default(),
        };
        // Expired sessions, and guests gone for longer than the retention
        // time (with their data), are deleted in the background, hourly.
        let store = DbSessionStore::new(state.db.clone());
        let retention_ms =
            i64::try_from(state.config.auth.guest_retention_days.max(1) * 24 * 3_600_000)
                .unwrap_or(i64::MAX);
        let db = state.db.clone();
        tokio::spawn(async move {
            let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
            loop {
                every_hour.tick().await;
                if let Err(err) = store.delete_expired().await {
                    tracing::warn!(error = %err, "could not delete expired sessions");
                }
                match db::users::prune_guests(&db, db::now_ms().saturating_sub(retention_ms)).await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "stale guests removed"),
                    Err(err) => tracing::warn!(error = %err, "could not remove stale guests"),
                }
            }
        });
        Ok(Self {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Shared state, for tests that want to look behind the HTTP API.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process receives Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let labs = self.state.labs.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await;
        labs.shutdown();
        served
    }

    /// Serves until `stop` resolves (tests).
    pub async fn run_until<F>(self, stop: F) -> std::io::Result<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let labs = self.state.labs.clone();
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await;
        labs.shutdown();
        served
    }
}

/// Leptos settings derived from our configuration (no cargo-leptos env needed).
fn leptos_options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("drydock")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.bind)
        .build()
}

/// The whole HTTP surface: probes, then the Leptos pages and static files.
pub fn router(state: AppState) -> Router {
    // Generated once per process: while Leptos generates a route list it
    // suspends every page's data loads process-wide, so generating it again
    // (another server in the same process) stalled pages being rendered.
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> =
        std::sync::OnceLock::new();
    let routes = ROUTES
        .get_or_init(|| generate_route_list(drydock_app::App))
        .clone();
    let options = state.leptos_options.clone();
    let backend: Arc<dyn drydock_app::api::ssr::Backend> = Arc::new(accounts::ui::UiBackend {
        state: state.clone(),
    });
    let lessons_backend: Arc<dyn drydock_app::api_lessons::ssr::LessonsBackend> =
        Arc::new(lessons::ui::LessonsUi {
            state: state.clone(),
        });
    let labs_backend: Arc<dyn drydock_app::api_labs::ssr::LabsBackend> =
        Arc::new(labs::ui::LabsUi {
            state: state.clone(),
        });
    let exercises_backend: Arc<dyn drydock_app::api_exercises::ssr::ExercisesBackend> =
        Arc::new(grading::ui::ExercisesUi {
            state: state.clone(),
        });
    let workshops_backend: Arc<dyn drydock_app::api_workshops::ssr::WorkshopsBackend> =
        Arc::new(workshops::ui::WorkshopsUi {
            state: state.clone(),
        });
    let session_layer = accounts::session_layer(&state.db, &state.config);
    Router::new()
        .merge(health::router())
        .merge(accounts::routes::router())
        .merge(lessons::routes::router())
        .merge(labs::routes::router())
        .merge(grading::routes::router())
        .merge(workshops::routes::router())
        .nest("/media", media_files(&state.config))
        .nest("/pkg", site_package(&state.config))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                leptos::prelude::provide_context(backend.clone());
                leptos::prelude::provide_context(lessons_backend.clone());
                leptos::prelude::provide_context(labs_backend.clone());
                leptos::prelude::provide_context(exercises_backend.clone());
                leptos::prelude::provide_context(workshops_backend.clone());
            },
            move || drydock_app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(drydock_app::shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), lessons::page_cache::serve))
        .layer(axum::middleware::from_fn_with_state(state.clone(), accounts::ensure_identity))
        .layer(session_layer)
        .layer(axum::middleware::from_fn_with_state(state.clone(), health::database_gate))
        .layer(axum::middleware::from_fn_with_state(state.clone(), accounts::csrf::refuse_cross_site))
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The site's wasm, its glue and the stylesheet (`target/site/pkg`). Their
/// names carry no hash, so browsers revalidate them on each page load and
/// get a `304 Not Modified` while they are unchanged. Served here rather
/// than by Leptos's file fallback, which answers any failure with the app's
/// 404 page.
fn site_package(config: &Config) -> Router<AppState> {
    static_files(config.site_root.join("pkg"), "no-cache")
}

/// Lesson images from `content/media/`, cached for a year: authors give a
/// changed image a new file name (see content/README.md).
fn media_files(config: &Config) -> Router<AppState> {
    static_files(
        config.content_dir.join("media"),
        "public, max-age=31536000, immutable",
    )
}

/// The files under `dir`, with `cache_control` on what is found; a file
/// that cannot be read keeps its own status and is logged.
fn static_files(dir: std::path::PathBuf, cache_control: &'static str) -> Router<AppState> {
    Router::new()
        .fallback_service(tower_http::services::ServeDir::new(dir))
        .layer(axum::middleware::map_response(
            |uri: axum::http::Uri, resp: axum::response::Response| async move {
                if resp.status().is_server_error() {
                    tracing::warn!(path = %uri.path(), status = %resp.status(), "a static file could not be read");
                }
                resp
            },
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            move |resp: &axum::response::Response<_>| {
                resp.status()
                    .is_success()
                    .then(|| HeaderValue::from_static(cache_control))
            },
        ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}
