//! Grading a run configuration: start what the learner asked for in the
//! grading sandbox, let it settle, inspect it and probe PID 1, then remove
//! everything it created — also when grading fails half-way.

use std::time::{Duration, Instant};

use drydock_grader::{
    checks::run::{Probe, RunEvidence, PROBE_SCRIPT},
    input::run_spec::RunSpec,
    sandbox::{refusals, sandboxed},
};

use crate::{
    config::GradingSettings,
    docker::{engine::Engine, labels},
    error::Error,
};

/// The image a run exercise starts, by tag and by id.
#[derive(Debug, Clone)]
pub struct RunTarget {
    pub tag: String,
    /// `sha256:…`
    pub id: String,
}

impl RunTarget {
    /// Every way a learner may name this image: the tag, the id, and
    /// `repository@sha256:<id>` (local images have no registry digest).
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![self.tag.clone(), self.id.clone()];
        let hex = self.id.trim_start_matches("sha256:");
        names.push(hex.to_string());
        if let Some((repo, _)) = self.tag.rsplit_once(':') {
            names.push(format!("{repo}@sha256:{hex}"));
            names.push(format!("{}@sha256:{hex}", self.tag));
        }
        names
    }
}

/// How to run one grading.
pub struct RunJob<'a> {
    pub engine: &'a Engine,
    pub settings: &'a GradingSettings,
    pub runtime: Option<&'a str>,
    pub target: &'a RunTarget,
    /// `drydock.*` labels for everything created.
    pub labels: Vec<(String, String)>,
    /// Unique per grading; names the container and its volumes.
    pub name: String,
    /// Wait for the health check to finish (a check needs it).
    pub wait_health: bool,
    /// The engine's security options (read once by the grader).
    pub engine_security: &'a [String],
}

/// Runs `spec` and gathers the evidence; the container and its volumes are
/// gone when this returns. Learner mistakes the engine rejects come back as
/// [`Error::BadRequest`] with the engine's words.
pub async fn collect(job: &RunJob<'_>, spec: RunSpec) -> Result<(RunEvidence, Vec<String>), Error> {
    let gvisor = job.runtime == Some("runsc");
    let mut evidence = RunEvidence {
        refusals: refusals(&spec, &job.target.names(), gvisor),
        gvisor,
        engine_security: job.engine_security.to_vec(),
        ..Default::default()
    };
    if !evidence.refusals.is_empty() {
        evidence.spec = spec;
        return Ok((evidence, Vec::new()));
    }
    let mut run = sandboxed(
        &spec,
        &job.target.id,
        &job.settings.caps(),
        job.runtime,
        &job.labels,
        &job.name,
    );
    // What the sandbox imposed travels with the container (for reviews).
    if let Some(labels) = run.body.labels.as_mut() {
        labels.insert(labels::IMPOSED.into(), run.imposed.join(","));
    }
    evidence.spec = spec;
    let mut notes = run.notes.clone();
    let outcome = observe(job, run.body, &mut evidence, &mut notes).await;
    // Whatever happened, nothing stays behind.
    if let Err(err) = job.engine.remove(&job.name).await {
        tracing::warn!(error = %err, container = %job.name, "could not remove a grading container");
    }
    for volume in &run.volumes {
        if let Err(err) = job.engine.remove_volume(volume).await {
            tracing::warn!(error = %err, %volume, "could not remove a grading volume");
        }
    }
    outcome.map(|()| (evidence, notes))
}

async fn observe(
    job: &RunJob<'_>,
    body: bollard::models::ContainerCreateBody,
    evidence: &mut RunEvidence,
    notes: &mut Vec<String>,
) -> Result<(), Error> {
    let engine = job.engine;
    if let Err(err) = engine.create_container(&job.name, body).await {
        return Err(engine_refusal(err));
    }
    // Read before anything of the container runs: the user it starts as is
    // resolved through this file.
    evidence.image_passwd = engine
        .read_file(&job.name, "/etc/passwd", 64 * 1024)
        .await
        .ok()
        .flatten()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let started = Instant::now();
    if let Err(err) = engine.start_container(&job.name).await {
        let message = match &err {
            crate::docker::engine::EngineError::Api(
                bollard::errors::Error::DockerResponseServerError { message, .. },
            ) => message.clone(),
            other => other.to_string(),
        };
        evidence.exited = Some(format!("the container did not start: {message}"));
        notes.push(format!("Docker could not start the container: {message}"));
        evidence.inspect = Some(engine.inspect(&job.name).await?);
        return Ok(());
    }
    let settle = Duration::from_millis(job.settings.settle_ms);
    let health_deadline = Duration::from_secs(job.settings.health_timeout_secs);
    loop {
        let inspect = engine.inspect(&job.name).await?;
        let state = inspect.state.clone().unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let health = state
            .health
            .as_ref()
            .and_then(|h| h.status)
            .map(|s| s.to_string());
        let has_check = inspect
            .config
            .as_ref()
            .and_then(|c| c.healthcheck.as_ref())
            .and_then(|h| h.test.as_ref())
            .is_some_and(|t| t.first().map(String::as_str) != Some("NONE"));
        let elapsed = started.elapsed();
        let waiting_for_health =
            job.wait_health && has_check && health.as_deref() == Some("starting");
        if !running || (elapsed >= settle && (!waiting_for_health || elapsed >= health_deadline)) {
            evidence.health = health;
            if !running {
                let code = state.exit_code.unwrap_or(0);
                let oom = state.oom_killed.unwrap_or(false);
                let logs = engine.logs_tail(&job.name, 15).await.unwrap_or_default();
                let exited = format!(
                    "the container stopped after {:.1} s with exit code {code}{}",
                    elapsed.as_secs_f64(),
                    if oom { " (out of memory)" } else { "" }
                );
                notes.push(format!(
                    "Your container stopped after {:.1} s with exit code {code}{}. A hardened container must still run: check what it needs to write (a --tmpfs for it) and what user can read its files.{}",
                    elapsed.as_secs_f64(),
                    if oom { ", out of memory" } else { "" },
                    if logs.trim().is_empty() { String::new() } else { format!(" Its last output:\n{}", logs.trim_end()) }
                ));
                evidence.exited = Some(exited);
            }
            evidence.inspect = Some(inspect);
            break;
        }
        tokio::time::sleep(Duration::from_millis(if waiting_for_health {
            200
        } else {
            50
        }))
        .await;
    }
    if evidence.exited.is_none() {
        evidence.probe = probe(engine, &job.name, notes).await;
    }
    Ok(())
}

/// Looks inside a running container's PID 1 as root; what went wrong goes
/// to `notes`, and the checks then use what the engine reports.
pub async fn probe(engine: &Engine, container: &str, notes: &mut Vec<String>) -> Option<Probe> {
    match engine
        .exec(container, &["/bin/sh", "-c", PROBE_SCRIPT], Some("0"))
        .await
    {
        Ok(out) if out.exit_code == Some(0) || !out.stdout.is_empty() => {
            if out.truncated {
                notes.push(format!(
                    "The container answered the grader's look inside with more than {} KiB; the rest was not read, and checks use what the engine reports.",
                    crate::docker::engine::READ_CAP / 1024
                ));
            }
            Some(Probe::parse(&out.stdout))
        }
        Ok(out) => {
            notes.push(format!(
                "The grader could not look inside the container (exit {:?}: {}); checks use what the engine reports.",
                out.exit_code,
                out.stderr.trim()
            ));
            None
        }
        Err(err) => {
            notes.push(format!(
                "The grader could not look inside the container ({err}); checks use what the engine reports."
            ));
            None
        }
    }
}

/// An engine error while creating: the learner's options, in Docker's words.
fn engine_refusal(err: crate::docker::engine::EngineError) -> Error {
    use crate::docker::engine::EngineError;
    match err {
        EngineError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        }) if (400..500).contains(&status_code) => Error::BadRequest(format!(
            "Docker refused these options: {message}. Fix them and submit again."
        )),
        other => Error::Engine(other),
    }
}
