use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use super::workshops::when;
use crate::{
    api::error_text,
    api_workshops::{
        get_progress, get_workshop, Announce, AnnouncementView, EndWorkshop, ExerciseStats,
        LearnerRow, Progress, RosterAction, WorkshopView,
    },
    components::live::listen,
};

/// One workshop: the instructor's live dashboard, or the learner's plan.
#[component]
pub fn WorkshopPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    // The instructor's dashboard starts from the progress read here; the
    // event stream keeps it current.
    let view = Resource::new(id, |id| async move {
        let w = get_workshop(id.clone()).await?;
        let progress = match &w {
            Some(w) if w.summary.role == "instructor" => Some(get_progress(id).await?),
            _ => None,
        };
        Ok::<_, crate::api::ApiError>((w, progress))
    });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the workshop…"</p> }>
            {move || view.get().map(|result| match result {
                Ok((Some(w), progress)) if w.summary.role == "instructor" => view! {
                    <Title text=format!("{} · dashboard · Drydock", w.summary.title)/>
                    <InstructorView w progress/>
                }.into_any(),
                Ok((Some(w), _)) => view! {
                    <Title text=format!("{} · Drydock", w.summary.title)/>
                    <LearnerView w/>
                }.into_any(),
                Ok((None, _)) => view! {
                    <Title text="Workshop not found · Drydock"/>
                    <h1>"Workshop not found"</h1>
                    <p class="empty-state">"There is no such workshop, or you are not in it. "<A href="/workshops">"Your workshops"</A></p>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </Transition>
    }
}

/// Announcements, newest first, kept live.
#[component]
fn Announcements(list: RwSignal<Vec<AnnouncementView>>) -> impl IntoView {
    view! {
        <section class="announcements" aria-live="polite" aria-labelledby="ann-title">
            <h2 id="ann-title">"Announcements"</h2>
            {move || {
                let items = list.get();
                if items.is_empty() {
                    view! { <p class="empty-state">"No announcements yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="announcement-list">
                            {items.into_iter().map(|a| view! {
                                <li class="announcement"><p>{a.body}</p><p class="muted small-text">{format!("{} · {}", a.author, when(a.created_at))}</p></li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// A learner's plan, scores and announcements, kept live.
#[island]
fn LearnerView(w: WorkshopView) -> impl IntoView {
    let WorkshopView {
        summary,
        items,
        announcements,
        me,
        accept_late,
        ..
    } = w;
    let id = summary.id.clone();
    let announcements = RwSignal::new(announcements);
    let me = RwSignal::new(me);
    let ended = RwSignal::new(summary.ended);
    listen(
        format!("/api/v1/workshops/{id}/events"),
        &["snapshot", "learner", "announcement", "ended"],
        move |kind, data| match kind {
            "announcement" => {
                if let Ok(a) = serde_json::from_str::<AnnouncementView>(&data) {
                    announcements.update(|l| l.insert(0, a));
                }
            }
            "learner" => {
                if let Ok(row) = serde_json::from_str::<LearnerRow>(&data) {
                    me.set(Some(row));
                }
            }
            "snapshot" => {
                if let Ok(p) = serde_json::from_str::<Progress>(&data) {
                    me.set(p.learners.into_iter().next());
                }
            }
            "ended" => ended.set(true),
            _ => {}
        },
    );
    let pending = summary.status == "pending";
    let items_view = items.clone();
    let next = move || {
        me.with(|m| {
            let m = m.as_ref()?;
            items
                .iter()
                .find(|i| match i.kind.as_str() {
                    "exercise" => !m.exercises.iter().any(|c| c.exercise == i.id && c.passed),
                    _ => false,
                })
                .cloned()
        })
    };
    view! {
        <article class="workshop learner-view">
            <p class="breadcrumb"><a href="/workshops">"Workshops"</a></p>
            <h1>{summary.title.clone()}</h1>
            <p class="muted">{format!("{} → {}", when(summary.starts_at), when(summary.ends_at))}</p>
            {move || ended.get().then(|| view! { <p class="notice">"This workshop has ended."</p> })}
            {pending.then(|| view! { <p class="notice">"Your instructor has not approved your place yet. This page fills in once they do."</p> })}
            {(!pending).then(|| view! {
                <section class="card next-step">
                    <h2>"What to do next"</h2>
                    {move || match next() {
                        Some(i) => view! { <p><a href=i.href.clone()>{i.title.clone()}</a>{i.deadline.map(|d| format!(" — due {}", when(d)))}</p> }.into_any(),
                        None => view! { <p>"Every exercise is passed. Well done."</p> }.into_any(),
                    }}
                </section>
                <section class="workshop-plan">
                    <h2>"The plan"</h2>
                    <ol>
                        {items_view.into_iter().map(|i| {
                            let exercise = i.id.clone();
                            let cell = move || me.with(|m| m.as_ref().and_then(|m| m.exercises.iter().find(|c| c.exercise == exercise).cloned()));
                            view! {
                                <li data-kind=i.kind.clone()>
                                    <span class="kind-badge">{i.kind.clone()}</span>" "
                                    <a href=i.href.clone()>{i.title.clone()}</a>
                                    {i.deadline.map(|d| view! { <span class="muted small-text">{format!(" · due {}{}", when(d), if accept_late { "" } else { " (no late work)" })}</span> })}
                                    {move || cell().map(|c| view! {
                                        <span class="small-text" data-exercise=c.exercise.clone()>
                                            {format!(" · {} / {}{}{}", c.best.map(|b| b.to_string()).unwrap_or_else(|| "–".into()), c.max, if c.passed { " ✓" } else { "" }, if c.late { " (late)" } else { "" })}
                                        </span>
                                    })}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                </section>
            })}
            <Announcements list=announcements/>
        </article>
    }
}

/// The instructor's live dashboard, roster and announcements.
#[island]
fn InstructorView(w: WorkshopView, progress: Option<Progress>) -> impl IntoView {
    let WorkshopView {
        summary,
        items,
        announcements,
        roster,
        ..
    } = w;
    let id = summary.id.clone();
    let live = RwSignal::new(progress);
    let announcements = RwSignal::new(announcements);
    let roster = RwSignal::new(roster);
    let ended = RwSignal::new(summary.ended);
    let watching = RwSignal::new(None::<(i64, String, String)>);
    let updates = RwSignal::new(0u32);
    listen(
        format!("/api/v1/workshops/{id}/events"),
        &[
            "snapshot",
            "learner",
            "exercise",
            "announcement",
            "roster",
            "ended",
        ],
        move |kind, data| {
            updates.update(|n| *n += 1);
            match kind {
                "snapshot" => {
                    if let Ok(p) = serde_json::from_str::<Progress>(&data) {
                        live.set(Some(p));
                    }
                }
                "learner" => {
                    if let Ok(row) = serde_json::from_str::<LearnerRow>(&data) {
                        live.update(|p| {
                            if let Some(p) = p {
                                match p.learners.iter_mut().find(|r| r.user_id == row.user_id) {
                                    Some(r) => *r = row,
                                    None => p.learners.push(row),
                                }
                            }
                        });
                    }
                }
                "exercise" => {
                    if let Ok(s) = serde_json::from_str::<ExerciseStats>(&data) {
                        live.update(|p| {
                            if let Some(p) = p {
                                if let Some(x) =
                                    p.exercises.iter_mut().find(|x| x.exercise == s.exercise)
                                {
                                    *x = s;
                                }
                            }
                        });
                    }
                }
                "announcement" => {
                    if let Ok(a) = serde_json::from_str::<AnnouncementView>(&data) {
                        announcements.update(|l| {
                            if !l.iter().any(|x| x.id == a.id) {
                                l.insert(0, a)
                            }
                        });
                    }
                }
                "ended" => ended.set(true),
                _ => {}
            }
        },
    );
    let current = move || live.get();
    let exercises: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.kind == "exercise")
        .map(|i| (i.id.clone(), i.title.clone()))
        .collect();
    let announce = ServerAction::<Announce>::new();
    let end = ServerAction::<EndWorkshop>::new();
    let act = ServerAction::<RosterAction>::new();
    let text = RwSignal::new(String::new());
    let id_for_announce = id.clone();
    let id_for_end = id.clone();
    let id_for_roster = id.clone();
    let id_for_watch = id.clone();
    let id_for_table = id.clone();
    let csv = format!("/api/v1/workshops/{id}/grades.csv");
    view! {
        <article class="workshop instructor-view" data-updates=move || updates.get().to_string()>
            <p class="breadcrumb"><a href="/workshops">"Workshops"</a></p>
            <h1>{summary.title.clone()}</h1>
            <p class="join-code">"Join code: "<strong>{summary.code.clone().unwrap_or_default()}</strong>
                <span class="small-text">" · link: "<code>{format!("/workshops?code={}", summary.code.clone().unwrap_or_default())}</code></span>
                <span class="muted small-text">{format!(" · {} → {} · {} of {} places", when(summary.starts_at), when(summary.ends_at), summary.learners, summary.max_participants)}</span>
            </p>
            <p class="toolbar">
                <a class="button small" href=csv download>"Gradebook (CSV)"</a>
                {move || if ended.get() {
                    view! { <span class="notice">"Ended"</span> }.into_any()
                } else {
                    let id = id_for_end.clone();
                    view! { <button type="button" class="button small danger" on:click=move |_| { end.dispatch(EndWorkshop { id: id.clone() }); ended.set(true); }>"End the workshop"</button> }.into_any()
                }}
            </p>
            <section class="dashboard" aria-labelledby="dash-title">
                <h2 id="dash-title">"Learners" <span class="live-dot" title="Live">"● live"</span></h2>
                {move || match current() {
                    None => view! { <p class="loading">"Loading progress…"</p> }.into_any(),
                    Some(p) if p.learners.is_empty() => view! { <p class="empty-state">"Nobody has joined yet. Share the join code."</p> }.into_any(),
                    Some(p) => {
                        let exercises = exercises.clone();
                        let id = id_for_table.clone();
                        view! {
                            <div class="table-scroll">
                                <table class="progress-table">
                                    <thead><tr>
                                        <th scope="col">"Learner"</th><th scope="col">"Lessons"</th><th scope="col">"Lab"</th>
                                        {exercises.iter().map(|(_, t)| view! { <th scope="col">{t.clone()}</th> }).collect_view()}
                                    </tr></thead>
                                    <tbody>
                                        {p.learners.into_iter().map(|row| {
                                            let uid = row.user_id;
                                            let name = row.username.clone();
                                            let id = id.clone();
                                            view! {
                                                <tr data-learner=row.username.clone()>
                                                    <th scope="row">{row.username.clone()}</th>
                                                    <td>{format!("{}/{}", row.lessons_done, row.lessons_total)}</td>
                                                    <td data-lab=row.lab.as_ref().map(|l| l.status.clone()).unwrap_or_else(|| "none".into())>
                                                        {match row.lab.clone() {
                                                            Some(l) => view! {
                                                                <span>{format!("{} ({})", l.lab, l.status)}</span>" "
                                                                <button type="button" class="link-button" on:click=move |_| watching.set(Some((uid, name.clone(), l.session.clone())))>"Watch"</button>
                                                                <button type="button" class="link-button" on:click=move |_| { act.dispatch(RosterAction { id: id.clone(), user_id: uid, action: "reset-lab".into() }); }>"Reset"</button>
                                                            }.into_any(),
                                                            None => view! { <span class="muted">"–"</span> }.into_any(),
                                                        }}
                                                    </td>
                                                    {row.exercises.into_iter().map(|c| view! {
                                                        <td data-exercise=c.exercise.clone() data-score=c.best.map(|b| b.to_string()).unwrap_or_default() class:passed=c.passed title=c.failing.join(", ")>
                                                            {format!("{} / {}{}", c.best.map(|b| b.to_string()).unwrap_or_else(|| "–".into()), c.max, if c.late { " late" } else { "" })}
                                                            {(!c.failing.is_empty()).then(|| view! { <span class="failing small-text">{format!(" ✗ {}", c.failing.len())}</span> })}
                                                        </td>
                                                    }).collect_view()}
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <h2>"Exercises"</h2>
                            <div class="exercise-stats">
                                {p.exercises.into_iter().map(|s| view! {
                                    <section class="card">
                                        <h3>{s.title.clone()}</h3>
                                        <p class="muted small-text">{format!("{} tried · {} passed", s.tried, s.passed)}</p>
                                        <ul class="check-stats">
                                            {s.checks.iter().map(|c| {
                                                let hardest = s.hardest.as_deref() == Some(c.id.as_str());
                                                let pct = (c.passing * 100).checked_div(c.of).unwrap_or(0);
                                                view! {
                                                    <li class:hardest=hardest data-check=c.id.clone()>
                                                        <span>{c.title.clone()}{hardest.then_some(" — hardest")}</span>
                                                        <span class="bar"><span style=format!("width: {pct}%")></span></span>
                                                        <span class="muted small-text">{format!("{}/{}", c.passing, c.of)}</span>
                                                    </li>
                                                }
                                            }).collect_view()}
                                        </ul>
                                    </section>
                                }).collect_view()}
                            </div>
                        }.into_any()
                    }
                }}
            </section>
            {move || watching.get().map(|(uid, name, session)| view! {
                <section class="shadow card" aria-label="Watching a terminal">
                    <h2>{format!("Watching {name} (read-only)")}
                        <button type="button" class="link-button" on:click=move |_| watching.set(None)>"Stop watching"</button>
                    </h2>
                    <div class="terminal" data-terminal=session data-readonly="true"
                        data-terminal-path=format!("/api/v1/workshops/{}/learners/{uid}/terminal", id_for_watch)></div>
                </section>
            })}
            <section class="card">
                <h2>"Announce"</h2>
                <form on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    let body = text.get_untracked();
                    if !body.trim().is_empty() {
                        announce.dispatch(Announce { id: id_for_announce.clone(), body });
                        text.set(String::new());
                    }
                }>
                    <label for="announcement" class="visually-hidden">"Announcement"</label>
                    <textarea id="announcement" rows="2" prop:value=text on:input=move |ev| text.set(event_target_value(&ev)) placeholder="Appears on every participant's page at once"></textarea>
                    <p><button type="submit" class="button primary small">"Send"</button></p>
                </form>
                {move || match announce.value().get() {
                    Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{error_text(&e)}</p> }),
                    _ => None,
                }}
            </section>
            <Announcements list=announcements/>
            <section class="card roster">
                <h2>"Roster"</h2>
                <ul>
                    {move || roster.get().into_iter().map(|m| {
                        let id = id_for_roster.clone();
                        let uid = m.user_id;
                        let actions: Vec<&'static str> = match (m.role.as_str(), m.status.as_str()) {
                            ("learner", "pending") => vec!["approve", "remove", "ban"],
                            ("learner", "active") => vec!["remove", "ban", "promote"],
                            ("learner", "removed") => vec!["approve", "ban"],
                            _ => vec![],
                        };
                        view! {
                            <li data-member=m.username.clone()>
                                {format!("{} · {} · {}", m.username, m.role, m.status)}
                                {actions.into_iter().map(|a| {
                                    let id = id.clone();
                                    view! { <button type="button" class="link-button" on:click=move |_| {
                                        act.dispatch(RosterAction { id: id.clone(), user_id: uid, action: a.into() });
                                        roster.update(|r| if let Some(x) = r.iter_mut().find(|x| x.user_id == uid) {
                                            match a { "approve" => x.status = "active".into(), "remove" => x.status = "removed".into(), "ban" => x.status = "banned".into(), "promote" => x.role = "instructor".into(), _ => {} }
                                        });
                                    }>{a}</button> }
                                }).collect_view()}
                            </li>
                        }
                    }).collect_view()}
                </ul>
                {move || match act.value().get() {
                    Some(Err(e)) => Some(view! { <p class="form-error" role="alert">{error_text(&e)}</p> }),
                    _ => None,
                }}
            </section>
        </article>
    }
}
