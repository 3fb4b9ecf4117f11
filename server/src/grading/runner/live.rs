//! Grading the containers a learner started in a Docker lab: find the one
//! the exercise names among the session's own, read what it runs through
//! the engine (inspect, a probe of PID 1), and ask it the exercise's
//! questions with `exec`. Nothing the learner typed in the lab's shell is
//! trusted; the container stays as the learner left it.

use std::time::{Duration, Instant};

use bollard::models::ContainerInspectResponse;
use drydock_grader::{
    checks::{
        catalog::{LiveCheck, Params},
        live::LiveEvidence,
        run::RunEvidence,
    },
    input::container::{spec_of_container, LabRequest},
};

use crate::{
    config::GradingSettings,
    docker::{
        engine::{Engine, EngineError},
        labels,
        proxy::SessionNames,
        runtime::is_gvisor,
    },
    error::Error,
};

/// One look at a learner's container.
pub struct LiveJob<'a> {
    pub engine: &'a Engine,
    pub settings: &'a GradingSettings,
    /// The lab session the container must belong to.
    pub session: &'a str,
    /// The name the learner gave it (`db`).
    pub container: &'a str,
    /// The image it must run: tag and id.
    pub image_tag: &'a str,
    pub image_id: &'a str,
    /// Wait while a health check is still starting.
    pub wait_health: bool,
    pub engine_security: &'a [String],
}

/// The container as the engine knows it, ready for `RUN-*` and `LIVE-*` checks.
pub struct LiveTarget {
    /// The engine's name of the container.
    pub engine_name: String,
    pub running: bool,
    pub run: RunEvidence,
    pub live: LiveEvidence,
}

/// Finds and reads the container. A missing container, or one from
/// another image, is the learner's to fix: a [`Error::Conflict`] that says how.
pub async fn collect(job: &LiveJob<'_>) -> Result<(LiveTarget, Vec<String>), Error> {
    let names = SessionNames::of(job.session);
    let engine_name = names.object(job.container);
    let missing = || {
        Error::Conflict(format!(
            "There is no container named {name} in your lab. Start it there with docker run --name {name} … (docker ps -a lists yours), then check again.",
            name = job.container
        ))
    };
    let mut inspect = match job.engine.inspect(&engine_name).await {
        Ok(found) => found,
        Err(EngineError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        })) => return Err(missing()),
        Err(other) => return Err(other.into()),
    };
    let label = |inspect: &ContainerInspectResponse, key: &str| {
        inspect
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(key).cloned())
    };
    if label(&inspect, labels::CHILD_OF).as_deref() != Some(job.session) {
        return Err(missing());
    }
    if inspect.image.as_deref() != Some(job.image_id) {
        let runs = inspect
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .map(|i| names.strip(&i))
            .unwrap_or_default();
        return Err(Error::Conflict(format!(
            "Your container {} runs {runs}; this exercise grades one started from {}. Remove it (docker rm -f {0}) and start it from that image.",
            job.container, job.image_tag
        )));
    }
    let mut notes = Vec::new();
    // A health check that is still starting gets its time, as in grading runs.
    let deadline = Instant::now() + Duration::from_secs(job.settings.health_timeout_secs);
    while job.wait_health
        && health_of(&inspect).as_deref() == Some("starting")
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(300)).await;
        inspect = job.engine.inspect(&engine_name).await?;
    }
    let state = inspect.state.clone().unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let request = LabRequest::from_label(label(&inspect, labels::REQUEST).as_deref());
    let strip = |text: &str| names.strip(text);
    let spec = spec_of_container(&inspect, &request, &strip);
    let runtime = inspect.host_config.as_ref().and_then(|h| h.runtime.clone());
    let mut run = RunEvidence {
        spec,
        gvisor: is_gvisor(runtime.as_deref()),
        engine_security: job.engine_security.to_vec(),
        health: health_of(&inspect),
        image_passwd: job
            .engine
            .read_file(&engine_name, "/etc/passwd", 64 * 1024)
            .await
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        ..RunEvidence::default()
    };
    let mut live = LiveEvidence {
        mounts: inspect
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|mut m| {
                m.name = m.name.map(|n| names.strip(&n));
                m
            })
            .collect(),
        created: inspect.created.as_deref().and_then(epoch_seconds),
        ..LiveEvidence::default()
    };
    if running {
        run.probe = super::run::probe(job.engine, &engine_name, &mut notes).await;
    } else {
        let why = format!(
            "your container {} is not running (it exited with code {})",
            job.container,
            state.exit_code.unwrap_or(0)
        );
        notes.push(format!(
            "Your container {} is not running, so only what the engine reports could be checked. docker logs {0} shows why it stopped.",
            job.container
        ));
        run.exited = Some(why.clone());
        live.unreachable = Some(why);
    }
    run.inspect = Some(inspect);
    Ok((
        LiveTarget {
            engine_name,
            running,
            run,
            live,
        },
        notes,
    ))
}

fn health_of(inspect: &ContainerInspectResponse) -> Option<String> {
    inspect
        .state
        .as_ref()
        .and_then(|s| s.health.as_ref())
        .and_then(|h| h.status)
        .map(|s| s.to_string())
}

fn epoch_seconds(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Runs what one `LIVE-*` check asks of the container and grades it.
pub async fn evaluate(
    engine: &Engine,
    target: &LiveTarget,
    check: LiveCheck,
    params: Params<'_>,
) -> drydock_grader::Verdict {
    let mut evidence = target.live.clone();
    if target.running {
        match check {
            LiveCheck::DataOutlives => {
                let path = params.str("path").unwrap_or_default();
                // As the container's own user: a database's files are its own.
                match engine
                    .exec(&target.engine_name, &["stat", "-c", "%Y", path], None)
                    .await
                {
                    Ok(out) => evidence.path_mtime = out.stdout.trim().parse().ok(),
                    Err(err) => evidence.unreachable = Some(err.to_string()),
                }
            }
            LiveCheck::Answers => {
                let command = params.list("command").unwrap_or_default();
                let argv: Vec<&str> = command.iter().map(String::as_str).collect();
                match engine
                    .exec(&target.engine_name, &argv, params.str("user"))
                    .await
                {
                    Ok(out) => {
                        evidence.answer =
                            Some((out.exit_code, format!("{}{}", out.stdout, out.stderr)))
                    }
                    Err(err) => evidence.unreachable = Some(err.to_string()),
                }
            }
            LiveCheck::NamedVolume => {}
        }
    }
    drydock_grader::checks::live::evaluate(check, &evidence, params)
}
