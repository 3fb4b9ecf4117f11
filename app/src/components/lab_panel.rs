//! A lab with its controls and terminal: start (or queue), time left,
//! extend, reset, stop. The terminal itself is drawn by `/terminal.js`
//! (xterm.js) into the `[data-terminal]` element this component renders.

use leptos::prelude::*;

use crate::{
    api::error_text,
    api_labs::{
        extend_lab, get_lab_session, reset_lab, start_lab, stop_lab, LabDetail, LabSessionView,
        LabSummary, PreviewLink, StartResult,
    },
};

/// Milliseconds since the epoch, on either side.
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// `12:05` (minutes:seconds) or `1 h 04 min`.
fn time_left(ms: i64) -> String {
    let secs = (ms / 1000).max(0);
    if secs >= 3600 {
        format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// Runs `tick` every `ms` milliseconds in the browser while the component lives.
fn every(ms: u64, tick: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_millis(ms)) {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ms, tick);
}

/// A lab the server has loaded, ready to start: the lab page's island.
#[island]
pub fn LabPanel(detail: LabDetail) -> impl IntoView {
    view! { <LabControls detail/> }
}

/// The lab `lab_id`, loaded in the browser once the island holding it is
/// live (the server renders the loading state).
#[component]
pub fn LabLoader(lab_id: String) -> impl IntoView {
    let detail = RwSignal::new(None::<Result<Option<LabDetail>, crate::api::ApiError>>);
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        detail.set(Some(crate::api_labs::get_lab(lab_id).await));
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = lab_id;
    view! {
        {move || match detail.get() {
            None => view! { <p class="loading">"Loading the lab…"</p> }.into_any(),
            Some(Ok(Some(d))) => view! { <LabControls detail=d/> }.into_any(),
            Some(Ok(None)) => view! { <p class="empty-state">"This lab does not exist (any more)."</p> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
        }}
    }
}

#[component]
fn LabControls(detail: LabDetail) -> impl IntoView {
    let LabDetail {
        lab,
        session: initial,
        other,
    } = detail;
    let session = RwSignal::new(initial);
    let busy = RwSignal::new(other);
    let error = RwSignal::new(None::<String>);
    let now = RwSignal::new(now_ms());
    let lab_id = lab.id.clone();

    let start = Action::new(move |replace: &bool| {
        let (lab, replace) = (lab_id.clone(), *replace);
        async move { start_lab(lab, replace).await }
    });
    Effect::new(move |_| match start.value().get() {
        Some(Ok(StartResult::Running(v))) | Some(Ok(StartResult::Queued(v))) => {
            busy.set(None);
            error.set(None);
            session.set(Some(v));
        }
        Some(Ok(StartResult::Busy { running })) => busy.set(Some(running)),
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    let stop = Action::new(move |id: &String| {
        let id = id.clone();
        async move { stop_lab(id).await }
    });
    Effect::new(move |_| match stop.value().get() {
        Some(Ok(())) => session.update(|s| {
            if let Some(s) = s {
                s.status = "ended".into();
                s.end_reason = Some("You stopped the lab.".into());
            }
        }),
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    let change = Action::new(move |(id, extend): &(String, bool)| {
        let (id, extend) = (id.clone(), *extend);
        async move {
            if extend {
                extend_lab(id).await
            } else {
                reset_lab(id).await
            }
        }
    });
    Effect::new(move |_| match change.value().get() {
        Some(Ok(v)) => {
            error.set(None);
            session.set(Some(v));
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });

    // Queued or starting: ask for news every 2 s. Running: every 15 s, so a
    // lab ended by its time limit shows that without a reload.
    let refresh = Action::new(move |id: &String| {
        let id = id.clone();
        async move { get_lab_session(id).await }
    });
    // Previews change while the lab runs; the session itself only when its
    // state does (setting it re-renders the panel around the terminal).
    let previews = RwSignal::new(
        session
            .get_untracked()
            .map(|s| s.previews)
            .unwrap_or_default(),
    );
    Effect::new(move |_| {
        if let Some(Ok(mut v)) = refresh.value().get() {
            let links = std::mem::take(&mut v.previews);
            if previews.get_untracked() != links {
                previews.set(links);
            }
            let mut current = session.get_untracked();
            if let Some(c) = current.as_mut() {
                c.previews.clear();
            }
            if current.as_ref() != Some(&v) {
                session.set(Some(v));
            }
        }
    });
    let ticks = StoredValue::new(0u32);
    let docker = lab.docker;
    every(1000, move || {
        now.set(now_ms());
        let Some(s) = session.get_untracked() else {
            return;
        };
        let n = ticks.get_value() + 1;
        ticks.set_value(n);
        let due = match s.status.as_str() {
            "queued" | "starting" => n.is_multiple_of(2),
            // Labs with Docker: often enough to show a new `-p` port soon.
            "running" if docker => n.is_multiple_of(5),
            "running" => n.is_multiple_of(15),
            _ => false,
        };
        if due && !refresh.pending().get_untracked() {
            refresh.dispatch(s.id);
        }
    });

    let working = move || {
        start.pending().try_get().unwrap_or(false)
            || stop.pending().try_get().unwrap_or(false)
            || change.pending().try_get().unwrap_or(false)
    };
    let summary = StoredValue::new(lab);

    view! {
        <div class="lab-panel" data-lab=summary.with_value(|l| l.id.clone())>
            {move || {
                let state = session.try_get().flatten();
                match state {
                    Some(s) if s.status == "running" => {
                        let id = s.id.clone();
                        let expires = s.expires_at.unwrap_or(0);
                        let can_extend = s.can_extend;
                        let extend_minutes = s.extend_minutes;
                        let (id_reset, id_extend, id_stop) = (id.clone(), id.clone(), id.clone());
                        view! {
                            <div class="lab-bar">
                                <span class="lab-status running">"● Running"</span>
                                <span class="lab-timer" aria-live="off" title="Time left before the lab stops">
                                    {move || format!("{} left", time_left(expires - now.try_get().unwrap_or(0)))}
                                </span>
                                <span class="lab-actions">
                                    {can_extend.then(|| view! {
                                        <button type="button" disabled=working
                                            on:click=move |_| { change.dispatch((id_extend.clone(), true)); }>
                                            {format!("+{extend_minutes} min")}
                                        </button>
                                    })}
                                    <button type="button" disabled=working title="Replace the container with a fresh one"
                                        on:click=move |_| { change.dispatch((id_reset.clone(), false)); }>"Reset"</button>
                                    <button type="button" class="danger" disabled=working
                                        on:click=move |_| { stop.dispatch(id_stop.clone()); }>"Stop"</button>
                                </span>
                            </div>
                            <div class="terminal" data-terminal=id></div>
                        }.into_any()
                    }
                    Some(s) if s.status == "queued" || s.status == "starting" => {
                        let id = s.id.clone();
                        let text = match s.position {
                            Some(p) => format!("All lab slots are in use. You are number {p} in the queue; the lab starts by itself when a slot frees up. Keep this page open."),
                            None => "Starting your lab…".to_string(),
                        };
                        view! {
                            <div class="lab-queue" role="status">
                                <span class="spinner" aria-hidden="true"></span>
                                <p>{text}</p>
                                <button type="button" disabled=working on:click=move |_| { stop.dispatch(id.clone()); }>"Leave the queue"</button>
                            </div>
                        }.into_any()
                    }
                    other => {
                        let ended = other.and_then(|s| s.end_reason);
                        view! {
                            <LabIntro summary=summary.get_value() ended/>
                            {move || busy.try_get().flatten().map(|b| view! {
                                <div class="lab-busy card" role="alert">
                                    <p>{format!("You already have the lab “{}” ({}). Only one lab runs at a time.", b.title, b.status)}</p>
                                    <button type="button" class="primary" disabled=working on:click=move |_| { start.dispatch(true); }>"Stop it and start this lab"</button>
                                    <a href=format!("/labs/{}", b.lab)>"Go to that lab"</a>
                                </div>
                            })}
                            <button type="button" class="primary start-lab" disabled=working
                                on:click=move |_| { start.dispatch(false); }>
                                {move || if start.pending().try_get().unwrap_or(false) { "Starting…" } else { "Start lab" }}
                            </button>
                        }.into_any()
                    }
                }
            }}
            {move || (docker && session.try_get().flatten().is_some_and(|s| s.status == "running")).then(|| view! {
                <Previews links=previews/>
            })}
            <p class="form-error" role="alert">{move || error.try_get().flatten().unwrap_or_default()}</p>
        </div>
    }
}

/// The ports the learner published with `docker run -p`, as links.
#[component]
fn Previews(links: RwSignal<Vec<PreviewLink>>) -> impl IntoView {
    view! {
        <section class="lab-previews" aria-live="polite">
            <h3>"Previews"</h3>
            {move || {
                let list = links.try_get().unwrap_or_default();
                if list.is_empty() {
                    view! {
                        <p class="muted small-text">"Publish a port, e.g. "<code>"docker run -d --name web -p 8080:8080 drydock/webapp:1"</code>", and it appears here to open in your browser."</p>
                    }.into_any()
                } else {
                    view! {
                        <ul>
                            {list.into_iter().map(|l| view! {
                                <li><a href=l.url.clone() target="_blank" rel="noopener" data-preview=format!("{}:{}", l.container, l.port)>
                                    {format!("port {} of {}", l.port, l.container)}
                                </a></li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
            <p class="muted small-text">"-p publishes nothing on the host: Drydock opens the port from inside the container, through the Docker API, and only you and your workshop's instructors can open these links."</p>
        </section>
    }
}

/// What the lab is for, its limits, and why the last session ended.
#[component]
fn LabIntro(summary: LabSummary, ended: Option<String>) -> impl IntoView {
    view! {
        {ended.map(|reason| view! { <p class="lab-ended" role="status">{reason}</p> })}
        <div class="lab-welcome">
            {summary.welcome.split("\n\n").map(|p| view! { <p>{inline_code(p)}</p> }).collect_view()}
        </div>
        <p class="muted small-text lab-limits">
            {format!(
                "{} min limit · stops after {} min without input · {} MiB memory · {} CPU · {} processes · network: {}{}",
                summary.time_limit_minutes, summary.idle_minutes, summary.memory_mb, decimal(summary.cpus), summary.pids,
                if summary.docker { "private, for your containers" } else { summary.network.as_str() },
                if summary.docker { " · docker: your own endpoint, no daemon" } else { "" }
            )}
        </p>
    }
}

/// `0.5`, `1` or `1.25`: a CPU share to two decimals, in integer
/// arithmetic (no float formatting code in the browser's download).
fn decimal(x: f64) -> String {
    let hundredths = (x * 100.0 + 0.5) as i64;
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// Whether a session view is still going (queued, starting or running).
pub fn is_active(s: &LabSessionView) -> bool {
    s.status != "ended"
}

/// A paragraph of a lab's welcome text, with `backticked` commands shown
/// as code (text with an unmatched backtick stays as it is).
fn inline_code(paragraph: &str) -> impl IntoView {
    let parts: Vec<String> = paragraph.split('`').map(str::to_string).collect();
    if parts.len().is_multiple_of(2) {
        return vec![paragraph.to_string().into_any()];
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                view! { <code>{part}</code> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect::<Vec<_>>()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_shares_read_as_written() {
        assert_eq!(super::decimal(0.5), "0.5");
        assert_eq!(super::decimal(1.0), "1");
        assert_eq!(super::decimal(1.25), "1.25");
        assert_eq!(super::decimal(2.0), "2");
    }
}
