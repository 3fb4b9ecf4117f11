//! Grading a Dockerfile: check it and its context, build it with no
//! network from local lab images only, under time, memory and size caps,
//! read the image back layer by layer, and remove everything afterwards.

use std::{collections::BTreeMap, collections::HashMap, time::Duration};

use drydock_grader::{
    checks::image::ImageEvidence,
    input::{build::screen, lab_dockerfile, run_spec::RunSpec},
    layers::read_saved,
};

use super::run::{self as run_config, RunJob, RunTarget};
use crate::{
    config::GradingSettings,
    docker::engine::{BuildLimits, Engine},
    error::Error,
};

/// How to build one submission.
pub struct BuildJob<'a> {
    pub engine: &'a Engine,
    pub settings: &'a GradingSettings,
    pub runtime: Option<&'a str>,
    /// Image references a FROM may name.
    pub allowed_bases: &'a [String],
    pub labels: Vec<(String, String)>,
    /// Unique per grading; names the image and any container.
    pub name: String,
    pub timeout: Duration,
    /// Run the image and wait for `healthy`.
    pub wait_healthy: bool,
}

/// The build context: the Dockerfile and the learner's files.
fn context_tar(text: &str, files: &BTreeMap<String, String>) -> Result<Vec<u8>, Error> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(if data.starts_with(b"#!") {
            0o755
        } else {
            0o644
        });
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, data)
    };
    add("Dockerfile", text.as_bytes())?;
    for (name, content) in files {
        add(name, content.as_bytes())?;
    }
    Ok(builder.into_inner()?)
}

/// The Dockerfile the engine gets for `text` (labelled as the grading's),
/// or why it is not built.
async fn generated_dockerfile(
    job: &BuildJob<'_>,
    text: &str,
) -> Result<std::result::Result<String, String>, Error> {
    let read = match lab_dockerfile::read(text) {
        Ok(read) => read,
        Err(why) => return Ok(Err(why)),
    };
    let mut pinned = HashMap::new();
    for (line, reference) in read.images() {
        if !job.allowed_bases.iter().any(|b| b == &reference) {
            return Ok(Err(format!(
                "line {line}: {reference} is not one of the images builds may start from ({})",
                job.allowed_bases.join(", ")
            )));
        }
        let Some(id) = job.engine.image(&reference).await?.and_then(|i| i.id) else {
            return Ok(Err(format!(
                "line {line}: {reference} is not on this server"
            )));
        };
        pinned.insert(reference, id);
    }
    // The grading labels follow every FROM, so each layer the build commits
    // carries them: a build cut off by a crash leaves nothing that
    // start-up cleanup cannot recognise as a grading's.
    let labels = job.labels.iter().cloned().collect();
    Ok(read.render(&pinned, &labels))
}

/// Builds and reads the image; the image and its leftovers are removed
/// before this returns.
pub async fn collect(
    job: &BuildJob<'_>,
    text: &str,
    files: &BTreeMap<String, String>,
) -> Result<(ImageEvidence, Vec<String>), Error> {
    let (dockerfile, mut unbuildable) =
        screen(text, files, job.allowed_bases).map_err(Error::BadRequest)?;
    // The engine builds the Dockerfile Drydock writes from its own parse,
    // its bases pinned to the ids of the allowed images; whatever that
    // parse cannot read completely is graded but not built.
    let generated = if unbuildable.is_some() {
        None
    } else {
        match generated_dockerfile(job, text).await? {
            Ok(generated) => Some(generated),
            Err(why) => {
                unbuildable = Some(why);
                None
            }
        }
    };
    let tar = context_tar(generated.as_deref().unwrap_or(text), files)?;
    let tag = format!("drydock-grade:{}", job.name);
    let labels: HashMap<String, String> = job.labels.iter().cloned().collect();
    let image_bytes = i64::try_from(job.settings.max_image_mb)
        .unwrap_or(256)
        .saturating_mul(1024 * 1024);
    let limits = BuildLimits {
        timeout: job.timeout,
        memory_bytes: i64::try_from(job.settings.build_memory_mb)
            .unwrap_or(512)
            .saturating_mul(1024 * 1024),
        cpus: job.settings.cpus_cap,
        pids: job.settings.pids_cap,
        file_bytes: image_bytes,
        disk_bytes: image_bytes,
        log_cap: 16 * 1024,
    };
    let mut notes = Vec::new();
    let mut evidence = ImageEvidence {
        dockerfile,
        image: None,
        build_error: None,
        health: None,
    };
    if let Some(reason) = unbuildable {
        notes.push(format!("Not built: {reason}."));
        evidence.build_error = Some(reason);
        return Ok((evidence, notes));
    }
    let report = job.engine.build_limited(tar, &tag, &labels, &limits).await;
    let outcome = async {
        let report = report?;
        if let Some(error) = &report.error {
            let tail: Vec<&str> = report.log.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            notes.push(format!(
                "The build failed: {}{}",
                error.trim(),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("\nLast build output:\n{}", tail.join("\n"))
                }
            ));
            evidence.build_error = Some(error.lines().next().unwrap_or("").trim().to_string());
            return Ok::<_, Error>(report);
        }
        let cap = usize::try_from(job.settings.max_image_mb)
            .unwrap_or(256)
            .saturating_mul(1024 * 1024);
        match job.engine.export_image(&tag, cap).await {
            // Reading every layer is CPU work: off the async workers.
            Ok(bytes) => match tokio::task::spawn_blocking(move || read_saved(&bytes)).await {
                Ok(Ok(image)) => evidence.image = Some(image),
                Ok(Err(e)) => {
                    evidence.build_error = Some(format!("the image could not be read: {e}"))
                }
                Err(e) => evidence.build_error = Some(format!("the image could not be read: {e}")),
            },
            Err(e) => evidence.build_error = Some(e.to_string()),
        }
        if job.wait_healthy && evidence.image.is_some() {
            if let Some(id) = report.image_id.clone() {
                let target = RunTarget {
                    tag: tag.clone(),
                    id: id.clone(),
                };
                let run = RunJob {
                    engine: job.engine,
                    settings: job.settings,
                    runtime: job.runtime,
                    target: &target,
                    labels: job.labels.clone(),
                    name: format!("{}-run", job.name),
                    wait_health: true,
                    // Only the health status of this run is read.
                    engine_security: &[],
                };
                let spec = RunSpec {
                    image: tag.clone(),
                    ..Default::default()
                };
                match run_config::collect(&run, spec).await {
                    Ok((run_evidence, _)) => {
                        evidence.health =
                            run_evidence.health.or_else(|| run_evidence.exited.clone());
                    }
                    Err(e) => notes.push(format!(
                        "The image could not be run to test its health check: {e}"
                    )),
                }
            }
        }
        Ok(report)
    }
    .await;
    // Remove the image and whatever a failed build left behind.
    if let Err(err) = job.engine.remove_image(&tag).await {
        tracing::warn!(error = %err, %tag, "could not remove a graded image");
    }
    // Every layer the build committed carries the grading's labels (the
    // generated Dockerfile sets them after each FROM): the engine names
    // what to remove, whatever the build printed.
    let pairs: Vec<(&str, &str)> = job
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // A step cut off by the time limit may still be running: its container
    // holds the layer it started from.
    if let Err(err) = job.engine.remove_labelled(&pairs).await {
        tracing::warn!(error = %err, "could not remove a grading's build steps");
    }
    match job.engine.images_labelled(&pairs).await {
        Ok(made) => {
            let made = made.into_iter().collect();
            for id in job.engine.children_first(&made).await.unwrap_or_default() {
                let _ = job.engine.remove_image(&id).await;
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not list a grading's images"),
    }
    outcome.map(|_| (evidence, notes))
}
