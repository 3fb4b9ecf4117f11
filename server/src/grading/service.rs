//! The grader as the rest of the server sees it: grade a submission for an
//! exercise, store it as an attempt, list attempts, re-grade after a rubric
//! change. Gradings run a few at a time; the rest wait in line.

use std::{sync::Arc, time::Duration, time::Instant};

use drydock_app::api_exercises::{
    CheckOutcome, ExerciseDetail, ExerciseSummary, GradeReport, Submission, SubmissionView,
};
use tokio::sync::{OnceCell, Semaphore};

use drydock_grader::{
    checks::{
        catalog::{CheckId, ImageCheck, Params, RunCheck},
        image as image_checks, run as run_checks,
    },
    input::{compose, run_command},
    Verdict,
};

use super::runner::{build as dockerfile_build, lab as lab_checks, live, run as run_config};
use crate::{
    config::Config,
    content::{
        model::{Exercise, ExerciseKind},
        Catalog,
    },
    db::{
        self,
        labs::LabStatus,
        now_ms,
        submissions::StoredSubmission,
        users::{Role, User},
        Db,
    },
    docker::{engine::Engine, labels, runtime::RuntimeSelection},
    error::{Error, Result},
};

/// Largest run command or compose service, in bytes.
const MAX_RUN_TEXT: usize = 32 * 1024;
/// Largest flag value, in bytes.
const MAX_FLAG: usize = 1024;
/// Attempts shown in an exercise's history.
const HISTORY_LIMIT: i64 = 50;

/// Grades submissions and keeps attempts.
pub struct GradingService {
    db: Db,
    engine: Arc<Engine>,
    catalog: Arc<Catalog>,
    config: Arc<Config>,
    slots: Semaphore,
    runtime: RuntimeSelection,
    /// The engine's security options (AppArmor, SELinux …), asked once.
    security: OnceCell<Vec<String>>,
    /// Gradings under way per user, and by guests in all.
    running: Arc<std::sync::Mutex<Running>>,
}

#[derive(Debug, Default)]
struct Running {
    per_user: std::collections::HashMap<i64, usize>,
    guests: usize,
}

/// A grading under way; dropping it frees the user's turn.
struct UserTurn {
    running: Arc<std::sync::Mutex<Running>>,
    user_id: i64,
    guest: bool,
}

impl Drop for UserTurn {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.per_user.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.per_user.remove(&self.user_id);
            }
        }
        if self.guest {
            running.guests = running.guests.saturating_sub(1);
        }
    }
}

impl GradingService {
    pub fn new(db: Db, engine: Arc<Engine>, catalog: Arc<Catalog>, config: Arc<Config>) -> Self {
        let slots = Semaphore::new(config.grading.concurrency.max(1));
        Self {
            db,
            engine,
            catalog,
            config,
            slots,
            runtime: RuntimeSelection::default(),
            security: OnceCell::new(),
            running: Arc::default(),
        }
    }

    /// The exercise `id`, or a 404 naming it.
    pub fn exercise(&self, id: &str) -> Result<&Exercise> {
        self.catalog
            .exercises
            .get(id)
            .ok_or_else(|| Error::NotFound(format!("There is no exercise {id:?}.")))
    }

    async fn runtime(&self) -> Result<Option<String>> {
        Ok(self.runtime.get(self.config.runtime, &self.engine).await?)
    }

    /// `Ok` when untrusted builds run sandboxed: the engine's default
    /// runtime (which the classic builder runs `RUN` steps with) is the
    /// configured build runtime. Otherwise the sentence that says why
    /// builds are refused (shown by `/readyz` and to learners).
    pub async fn build_sandbox(&self) -> Result<std::result::Result<(), String>> {
        let default = self.engine.default_runtime().await?;
        Ok(crate::docker::runtime::builds_sandboxed(
            default.as_deref(),
            &self.config.grading.build_runtime,
        ))
    }

    async fn engine_security(&self) -> Result<&[String]> {
        Ok(self
            .security
            .get_or_try_init(|| self.engine.security_options())
            .await?)
    }

    fn labels(&self, name: &str) -> Vec<(String, String)> {
        vec![
            (labels::MANAGED.to_string(), "true".to_string()),
            (
                labels::INSTANCE.to_string(),
                self.config.labs.instance.clone(),
            ),
            (labels::GRADING.to_string(), name.to_string()),
        ]
    }

    /// Removes containers, volumes and images a crashed grader left behind:
    /// only what carries the grading label, which Drydock sets on a
    /// grading's objects alone (a lab's endpoint never lets a learner's
    /// container, volume or image carry it), so a learner's volume or image
    /// of this installation is never taken for a grading's leftover.
    pub async fn clean_leftovers(&self) -> Result<usize> {
        let instance = self.config.labs.instance.as_str();
        let mut removed = 0;
        for c in self
            .engine
            .list_labelled(&[(labels::INSTANCE, instance)])
            .await?
        {
            if c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(labels::GRADING))
            {
                if let Some(id) = &c.id {
                    self.engine.remove(id).await?;
                    removed += 1;
                }
            }
        }
        for volume in self
            .engine
            .volumes_with_key(&[(labels::INSTANCE, instance)], labels::GRADING)
            .await?
        {
            self.engine.remove_volume(&volume).await?;
            removed += 1;
        }
        for image in self
            .engine
            .images_with_key(&[(labels::INSTANCE, instance)], labels::GRADING)
            .await?
        {
            self.engine.remove_image(&image).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Grades `submission` for `exercise` without storing anything.
    /// `user_id` is needed for lab exercises (their own lab is checked).
    pub async fn grade(
        &self,
        exercise: &Exercise,
        submission: &Submission,
        user_id: Option<i64>,
    ) -> Result<GradeReport> {
        check_kind(exercise, submission)?;
        let _slot = tokio::time::timeout(
            Duration::from_secs(self.config.grading.queue_timeout_secs),
            self.slots.acquire(),
        )
        .await
        .map_err(|_| {
            Error::Unavailable(
                "Every grader is busy right now. Submit again in a minute; your text is kept."
                    .into(),
            )
        })?
        .map_err(|_| Error::Unavailable("The grader is shutting down.".into()))?;
        let started = Instant::now();
        let name = format!(
            "drydock-grade-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let (verdicts, notes) = self.verdicts(exercise, submission, user_id, &name).await?;
        let mut checks = Vec::new();
        for (def, verdict) in exercise.def.checks.iter().zip(verdicts) {
            let title = def.id.title();
            let message = match (&def.feedback, verdict.passed) {
                (Some(feedback), false) => format!("{feedback} {}", verdict.message),
                _ => verdict.message,
            };
            checks.push(CheckOutcome {
                id: def.id.to_string(),
                title: title.to_string(),
                passed: verdict.passed,
                points: if verdict.passed { def.points } else { 0 },
                max_points: def.points,
                message,
                hint: def.hint.clone(),
                evidence: cap_text(&verdict.evidence, 4000),
            });
        }
        let score: u32 = checks.iter().map(|c| c.points).sum();
        Ok(GradeReport {
            score,
            max: exercise.max_points(),
            passed: score >= exercise.pass_points(),
            checks,
            notes: notes.into_iter().map(|n| cap_text(&n, 4000)).collect(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn verdicts(
        &self,
        exercise: &Exercise,
        submission: &Submission,
        user_id: Option<i64>,
        name: &str,
    ) -> Result<(Vec<Verdict>, Vec<String>)> {
        let checks = &exercise.def.checks;
        let params = |i: usize| Params(&checks[i].params);
        match submission {
            Submission::Run { command } | Submission::Compose { service: command } => {
                if command.len() > MAX_RUN_TEXT {
                    return Err(Error::BadRequest(format!(
                        "The submission is larger than {} KiB.",
                        MAX_RUN_TEXT / 1024
                    )));
                }
                // A Compose file may hold several services: each is started
                // and graded, and a check passes only when every one passes.
                let specs = match submission {
                    Submission::Run { .. } => run_command::parse_run_command(command)
                        .map(|spec| vec![(String::new(), spec)]),
                    _ => compose::parse_compose_services(command),
                }
                .map_err(|e| Error::BadRequest(e.to_string()))?;
                let tag = exercise.image_tag.clone().unwrap_or_default();
                let image = self.engine.image(&tag).await?.ok_or_else(|| {
                    Error::Unavailable(format!("The exercise image {tag} is not built on this server; ask an administrator to run `drydock images build`."))
                })?;
                let target = run_config::RunTarget {
                    tag,
                    id: image.id.unwrap_or_default(),
                };
                let runtime = self.runtime().await?;
                let several = specs.len() > 1;
                let mut graded = Vec::new();
                let mut notes = Vec::new();
                for (i, (service, spec)) in specs.into_iter().enumerate() {
                    let job = run_config::RunJob {
                        engine: &self.engine,
                        settings: &self.config.grading,
                        runtime: runtime.as_deref(),
                        target: &target,
                        labels: self.labels(name),
                        name: if several {
                            format!("{name}-{i}")
                        } else {
                            name.to_string()
                        },
                        wait_health: checks.iter().any(|c| c.id == RunCheck::Health.into()),
                        engine_security: self.engine_security().await?,
                    };
                    let (evidence, service_notes) = run_config::collect(&job, spec).await?;
                    let about = |note: String| {
                        if several {
                            format!("Service `{service}`: {note}")
                        } else {
                            note
                        }
                    };
                    if evidence.inspect.is_none() {
                        notes.push(about("Drydock did not start this container:".into()));
                        notes.extend(evidence.refusals.iter().map(|r| format!("• {}", r.reason)));
                    }
                    notes.extend(service_notes.into_iter().map(about));
                    let verdicts: Vec<Verdict> = (0..checks.len())
                        .map(|i| match checks[i].id {
                            CheckId::Run(check) => {
                                run_checks::evaluate(check, &evidence, params(i))
                            }
                            other => not_of_area(other, "a run"),
                        })
                        .collect();
                    graded.push((service, verdicts));
                }
                Ok((combine_services(graded, checks.len()), notes))
            }
            Submission::Dockerfile { dockerfile, files } => {
                self.build_sandbox().await?.map_err(Error::Unavailable)?;
                let runtime = self.runtime().await?;
                let job = dockerfile_build::BuildJob {
                    engine: &self.engine,
                    settings: &self.config.grading,
                    runtime: runtime.as_deref(),
                    allowed_bases: &exercise.base_tags,
                    labels: self.labels(name),
                    name: name.to_string(),
                    timeout: Duration::from_secs(exercise.def.build_timeout_secs),
                    wait_healthy: checks.iter().any(|c| {
                        c.id == ImageCheck::Healthcheck.into()
                            && c.params
                                .get("wait_healthy")
                                .and_then(|v| v.as_integer())
                                .unwrap_or(0)
                                > 0
                    }),
                };
                let (evidence, notes) = dockerfile_build::collect(&job, dockerfile, files).await?;
                let verdicts = (0..checks.len())
                    .map(|i| match checks[i].id {
                        CheckId::Image(check) => {
                            image_checks::evaluate(check, &evidence, params(i))
                        }
                        other => not_of_area(other, "a Dockerfile"),
                    })
                    .collect();
                Ok((verdicts, notes))
            }
            Submission::Flag { value } => {
                if value.len() > MAX_FLAG {
                    return Err(Error::BadRequest(
                        "That value is too long to be the answer.".into(),
                    ));
                }
                let answer = exercise.def.answer.clone().unwrap_or_default();
                let right = constant_time_eq(value.trim().as_bytes(), answer.trim().as_bytes());
                let verdict = Verdict {
                    passed: right,
                    message: if right {
                        "That is the value.".into()
                    } else {
                        "That is not the value. Look again where the lesson says it leaks.".into()
                    },
                    evidence: format!("{} characters submitted", value.trim().chars().count()),
                };
                Ok((checks.iter().map(|_| verdict.clone()).collect(), Vec::new()))
            }
            Submission::Lab {} => {
                let user_id = user_id.ok_or_else(|| Error::BadRequest("A lab exercise checks a learner's own lab; it cannot be graded from a file.".into()))?;
                let lab = exercise.def.lab.clone().unwrap_or_default();
                let session = db::labs::active_for_user(&self.db, user_id)
                    .await?
                    .into_iter()
                    .find(|s| s.lab == lab && s.status == LabStatus::Running)
                    .ok_or_else(|| {
                        let title = self.catalog.labs.get(&lab).map_or(lab.clone(), |l| l.def.title.clone());
                        Error::Conflict(format!("Start the lab \"{title}\" and make your changes there first; this exercise checks that lab's container."))
                    })?;
                if exercise.def.kind == ExerciseKind::LabContainers {
                    return self.live_verdicts(exercise, &session.id).await;
                }
                let container = session.container_id.clone().unwrap_or_default();
                let user = self
                    .catalog
                    .labs
                    .get(&lab)
                    .map_or("1000:1000".to_string(), |l| l.def.user.clone());
                let mut verdicts = Vec::new();
                for (i, def) in checks.iter().enumerate() {
                    verdicts.push(match def.id {
                        CheckId::Lab(check) => {
                            lab_checks::evaluate(&self.engine, &container, &user, check, params(i))
                                .await?
                        }
                        other => not_of_area(other, "a lab"),
                    });
                }
                Ok((verdicts, vec!["Drydock looked at your running lab from outside, with the image's own tools.".to_string()]))
            }
        }
    }

    /// Grades the container a `lab-containers` exercise names in the
    /// learner's running lab session.
    async fn live_verdicts(
        &self,
        exercise: &Exercise,
        session: &str,
    ) -> Result<(Vec<Verdict>, Vec<String>)> {
        let checks = &exercise.def.checks;
        let tag = exercise.image_tag.clone().unwrap_or_default();
        let image = self.engine.image(&tag).await?.ok_or_else(|| {
            Error::Unavailable(format!("The exercise image {tag} is not built on this server; ask an administrator to run `drydock images build`."))
        })?;
        let job = live::LiveJob {
            engine: &self.engine,
            settings: &self.config.grading,
            session,
            container: exercise.def.container.as_deref().unwrap_or_default(),
            image_tag: &tag,
            image_id: image.id.as_deref().unwrap_or_default(),
            wait_health: checks.iter().any(|c| c.id == RunCheck::Health.into()),
            engine_security: self.engine_security().await?,
        };
        let (target, mut notes) = live::collect(&job).await?;
        let mut verdicts = Vec::new();
        for def in checks {
            let params = Params(&def.params);
            verdicts.push(match def.id {
                CheckId::Run(check) => run_checks::evaluate(check, &target.run, params),
                CheckId::Live(check) => live::evaluate(&self.engine, &target, check, params).await,
                other => not_of_area(other, "a lab-containers"),
            });
        }
        notes.insert(
            0,
            format!(
                "Drydock read your container {} through the engine, as it runs now.",
                job.container
            ),
        );
        Ok((verdicts, notes))
    }

    /// Grades and stores an attempt by `user`: the one way in for the JSON
    /// API and the UI. Refuses what the rules refuse first (guests' builds,
    /// a passed deadline of a workshop that takes no late work, used-up
    /// attempts), then takes an attempt number atomically, grades, and
    /// stores the report under that number.
    pub async fn submit(
        &self,
        user: &User,
        exercise_id: &str,
        submission: Submission,
    ) -> Result<SubmissionView> {
        let exercise = self.exercise(exercise_id)?;
        check_kind(exercise, &submission)?;
        if matches!(submission, Submission::Dockerfile { .. }) && user.role == Role::Guest {
            return Err(Error::Unauthorized(
                "Register (it takes a minute) to build images: a build runs your Dockerfile on this server, so guests cannot start one.".into(),
            ));
        }
        if let Some(workshop) =
            db::workshops::closed_deadline(&self.db, user.id, exercise_id, now_ms()).await?
        {
            return Err(Error::Conflict(format!(
                "The deadline for this exercise in \"{workshop}\" has passed; your instructor does not accept late work."
            )));
        }
        let _turn = self.admit_user(user, &submission)?;
        let id = uuid::Uuid::new_v4().to_string();
        let payload =
            serde_json::to_string(&submission).map_err(|e| Error::BadRequest(e.to_string()))?;
        let allowed = i64::from(exercise.def.attempts);
        let reservation = db::submissions::Reservation {
            id: &id,
            user_id: user.id,
            exercise: exercise_id,
            kind: submission.kind(),
            payload: &payload,
            rubric: &exercise.rubric,
        };
        let Some(attempt) = db::submissions::reserve(&self.db, &reservation, allowed).await? else {
            return Err(Error::Conflict(format!(
                "You have used all {allowed} attempts at this exercise."
            )));
        };
        let report = match self.grade(exercise, &submission, Some(user.id)).await {
            Ok(report) => report,
            Err(err) => {
                // An attempt that could not be graded does not count.
                db::submissions::discard(&self.db, &id).await?;
                return Err(err);
            }
        };
        let report_json =
            serde_json::to_string(&report).map_err(|e| Error::BadRequest(e.to_string()))?;
        let stored = db::submissions::complete(
            &self.db,
            &id,
            &db::submissions::GradedResult {
                score: i64::from(report.score),
                max_score: i64::from(report.max),
                passed: report.passed,
                report: &report_json,
            },
        )
        .await?;
        tracing::info!(
            exercise = exercise_id,
            user_id = user.id,
            attempt,
            score = report.score,
            max = report.max,
            ms = report.duration_ms,
            "graded"
        );
        Ok(view(&stored, u32::try_from(attempt).unwrap_or(u32::MAX)))
    }

    /// A turn at the grader for `user`: gradings that use the engine run at
    /// most one at a time per guest (two per registered account), and
    /// guests together never hold more than half of the grading slots, so a
    /// script of anonymous visitors cannot keep real learners waiting.
    fn admit_user(&self, user: &User, submission: &Submission) -> Result<Option<UserTurn>> {
        if matches!(submission, Submission::Flag { .. }) {
            return Ok(None);
        }
        let guest = user.role == Role::Guest;
        let per_user = if guest { 1 } else { 2 };
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let mine = running.per_user.get(&user.id).copied().unwrap_or(0);
        let guest_cap = (self.config.grading.concurrency / 2).max(1);
        if mine >= per_user || (guest && running.guests >= guest_cap) {
            return Err(Error::RateLimited {
                retry_after_secs: 5,
            });
        }
        *running.per_user.entry(user.id).or_default() += 1;
        if guest {
            running.guests += 1;
        }
        Ok(Some(UserTurn {
            running: self.running.clone(),
            user_id: user.id,
            guest,
        }))
    }

    /// A user's attempts at one exercise, newest first.
    pub async fn history(&self, user_id: i64, exercise_id: &str) -> Result<Vec<SubmissionView>> {
        self.exercise(exercise_id)?;
        let rows = db::submissions::for_user(&self.db, user_id, exercise_id, HISTORY_LIMIT).await?;
        Ok(rows
            .iter()
            .map(|row| view(row, u32::try_from(row.attempt).unwrap_or(0)))
            .collect())
    }

    /// Every exercise with `user_id`'s progress.
    pub async fn summaries(&self, user_id: Option<i64>) -> Result<Vec<ExerciseSummary>> {
        let best = match user_id {
            Some(u) => db::submissions::best_of_user(&self.db, u).await?,
            None => Vec::new(),
        };
        Ok(self
            .catalog
            .exercises
            .values()
            .map(|e| {
                let mine = best.iter().find(|(id, ..)| id == &e.id);
                self.summary(e, mine.map(|(_, b, p, n)| (*b, *p, *n)))
            })
            .collect())
    }

    fn summary(&self, e: &Exercise, mine: Option<(i64, bool, i64)>) -> ExerciseSummary {
        ExerciseSummary {
            id: e.id.clone(),
            title: e.def.title.clone(),
            summary: e.def.summary.clone(),
            kind: e.def.kind.as_str().to_string(),
            max: e.max_points(),
            lessons: e
                .lessons
                .iter()
                .map(|key| {
                    let title = key
                        .split_once('/')
                        .and_then(|(t, s)| self.catalog.lesson(t, s))
                        .map_or(key.clone(), |l| l.meta.title.clone());
                    (format!("/lessons/{key}"), title)
                })
                .collect(),
            best: mine.map(|(b, ..)| u32::try_from(b).unwrap_or(0)),
            passed: mine.is_some_and(|(_, p, _)| p),
            attempts: mine.map_or(0, |(.., n)| u32::try_from(n).unwrap_or(0)),
        }
    }

    /// One exercise with `user_id`'s attempts.
    pub async fn detail(&self, user_id: Option<i64>, id: &str) -> Result<ExerciseDetail> {
        let e = self.exercise(id)?;
        let history = match user_id {
            Some(u) => self.history(u, id).await?,
            None => Vec::new(),
        };
        let mine = user_id.is_some().then(|| {
            let counted = history.iter().filter(|h| !h.interrupted);
            (
                counted
                    .clone()
                    .map(|h| i64::from(h.report.score))
                    .max()
                    .unwrap_or(0),
                counted.clone().any(|h| h.report.passed),
                counted.count() as i64,
            )
        });
        let mine = mine.filter(|(.., n)| *n > 0);
        Ok(ExerciseDetail {
            summary: self.summary(e, mine),
            instructions_html: e.instructions_html.clone(),
            starter: e.def.starter.clone(),
            starter_files: e
                .def
                .files
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            lab: e.def.lab.as_ref().map(|l| {
                (
                    l.clone(),
                    self.catalog
                        .labs
                        .get(l)
                        .map_or(l.clone(), |lab| lab.def.title.clone()),
                )
            }),
            image: e.image_tag.clone(),
            bases: e.base_tags.clone(),
            attempts_allowed: e.def.attempts,
            pass_points: e.pass_points(),
            checks: e
                .def
                .checks
                .iter()
                .map(|c| (c.id.to_string(), c.id.title().to_string(), c.points))
                .collect(),
            history,
        })
    }

    /// Re-grades every stored attempt at `exercise_id` whose rubric changed
    /// (or all of them with `all`); returns (re-graded, skipped, failed).
    pub async fn regrade(&self, exercise_id: &str, all: bool) -> Result<(usize, usize, usize)> {
        let exercise = self.exercise(exercise_id)?;
        let mut counts = (0, 0, 0);
        for row in db::submissions::for_exercise(&self.db, exercise_id).await? {
            if !all && row.rubric == exercise.rubric {
                counts.1 += 1;
                continue;
            }
            let Ok(submission) = serde_json::from_str::<Submission>(&row.payload) else {
                counts.2 += 1;
                continue;
            };
            if matches!(submission, Submission::Lab {}) {
                // The lab's state then is gone; its grade stands.
                counts.1 += 1;
                continue;
            }
            match self.grade(exercise, &submission, Some(row.user_id)).await {
                Ok(report) => {
                    let json = serde_json::to_string(&report)
                        .map_err(|e| Error::BadRequest(e.to_string()))?;
                    db::submissions::update_result(
                        &self.db,
                        &row.id,
                        i64::from(report.score),
                        i64::from(report.max),
                        report.passed,
                        &json,
                        &exercise.rubric,
                    )
                    .await?;
                    counts.0 += 1;
                }
                Err(err) => {
                    tracing::warn!(submission = %row.id, error = %err, "re-grading failed");
                    counts.2 += 1;
                }
            }
        }
        Ok(counts)
    }
}

/// One verdict per check from the verdicts of each service: a check passes
/// when it passes for every service, and the message names the services
/// that fail it.
fn combine_services(mut graded: Vec<(String, Vec<Verdict>)>, checks: usize) -> Vec<Verdict> {
    if graded.len() == 1 {
        return graded.remove(0).1;
    }
    (0..checks)
        .map(|i| {
            let of = |s: &(String, Vec<Verdict>)| {
                s.1.get(i)
                    .cloned()
                    .unwrap_or_else(|| Verdict::fail("not graded", ""))
            };
            let failing: Vec<String> = graded
                .iter()
                .filter(|s| !of(s).passed)
                .map(|s| format!("service `{}`: {}", s.0, of(s).message))
                .collect();
            let evidence = graded
                .iter()
                .map(|s| format!("{}: {}", s.0, of(s).evidence))
                .collect::<Vec<_>>()
                .join("\n");
            if failing.is_empty() {
                Verdict::pass(
                    format!(
                        "Every service ({}): {}",
                        graded.len(),
                        of(&graded[0]).message
                    ),
                    evidence,
                )
            } else {
                Verdict::fail(failing.join(" "), evidence)
            }
        })
        .collect()
}

/// A check listed under an exercise of another kind. The content loader
/// refuses such exercises, so this is never reached with real content.
fn not_of_area(check: CheckId, kind: &str) -> Verdict {
    Verdict {
        passed: false,
        message: format!("{check} is not a check {kind} submission can be graded by."),
        evidence: String::new(),
    }
}

/// Whether a submission fits the exercise's kind (run and compose are interchangeable).
fn check_kind(exercise: &Exercise, submission: &Submission) -> Result<()> {
    let fits = match exercise.def.kind {
        ExerciseKind::Run | ExerciseKind::Compose => matches!(
            submission,
            Submission::Run { .. } | Submission::Compose { .. }
        ),
        ExerciseKind::Dockerfile => matches!(submission, Submission::Dockerfile { .. }),
        ExerciseKind::Lab | ExerciseKind::LabContainers => {
            matches!(submission, Submission::Lab {})
        }
        ExerciseKind::Flag => matches!(submission, Submission::Flag { .. }),
    };
    if fits {
        Ok(())
    } else {
        let want = match exercise.def.kind {
            ExerciseKind::Run | ExerciseKind::Compose => "{\"kind\":\"run\",\"command\":\"docker run …\"} or {\"kind\":\"compose\",\"service\":\"…\"}",
            ExerciseKind::Dockerfile => "{\"kind\":\"dockerfile\",\"dockerfile\":\"…\",\"files\":{…}}",
            ExerciseKind::Lab | ExerciseKind::LabContainers => "{\"kind\":\"lab\"}",
            ExerciseKind::Flag => "{\"kind\":\"flag\",\"value\":\"…\"}",
        };
        Err(Error::BadRequest(format!(
            "This is a {} exercise; send {want}.",
            exercise.def.kind.as_str()
        )))
    }
}

/// What a learner reads on an attempt a stopped server never finished.
const INTERRUPTED: &str = "The server stopped while this attempt was being graded. \
It does not count toward your attempts: submit it again.";

fn view(row: &StoredSubmission, attempt: u32) -> SubmissionView {
    let submission: Option<Submission> = serde_json::from_str(&row.payload).ok();
    // A report of one note, for an attempt whose own report is not there.
    let noted = |score, max, passed, note: &str| GradeReport {
        score,
        max,
        passed,
        checks: Vec::new(),
        notes: vec![note.into()],
        duration_ms: 0,
    };
    let report = if row.interrupted {
        noted(0, 0, false, INTERRUPTED)
    } else {
        serde_json::from_str(&row.report).unwrap_or_else(|_| {
            noted(
                u32::try_from(row.score).unwrap_or(0),
                u32::try_from(row.max_score).unwrap_or(0),
                row.passed,
                "This attempt's details could not be read.",
            )
        })
    };
    SubmissionView {
        id: row.id.clone(),
        exercise: row.exercise.clone(),
        kind: row.kind.clone(),
        text: submission
            .as_ref()
            .map(Submission::text)
            .unwrap_or_default(),
        files: match &submission {
            Some(Submission::Dockerfile { files, .. }) => {
                files.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            _ => Vec::new(),
        },
        created_at: row.created_at,
        attempt,
        interrupted: row.interrupted,
        report,
    }
}

fn cap_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
