//! Grading a Dockerfile: check it and its context, build it with no
//! network from local lab images only, under time, memory and size caps,
//! read the image back layer by layer, and remove everything afterwards.

use std::{collections::BTreeMap, collections::HashMap, time::Duration};

use super::{
    dockerfile,
    image_checks::ImageEvidence,
    image_layers::read_saved,
    run_config::{self, RunJob, RunTarget},
    run_spec::RunSpec,
};
use crate::{
    config::GradingSettings,
    content::exercises::valid_context_name,
    error::Error,
    labs::engine::{BuildLimits, Engine},
};

/// Largest Dockerfile, in bytes.
pub const MAX_DOCKERFILE_BYTES: usize = 64 * 1024;
/// Most context files.
pub const MAX_CONTEXT_FILES: usize = 32;
/// Largest total context, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 256 * 1024;

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

/// Refuses what must not reach the builder; the message says what to fix.
pub fn screen(
    text: &str,
    files: &BTreeMap<String, String>,
    allowed_bases: &[String],
) -> Result<(dockerfile::Dockerfile, Option<String>), Error> {
    if text.len() > MAX_DOCKERFILE_BYTES {
        return Err(Error::BadRequest(format!(
            "The Dockerfile is {} KiB; at most {} KiB is accepted.",
            text.len() / 1024,
            MAX_DOCKERFILE_BYTES / 1024
        )));
    }
    if text.trim().is_empty() {
        return Err(Error::BadRequest("The Dockerfile is empty.".into()));
    }
    if files.len() > MAX_CONTEXT_FILES {
        return Err(Error::BadRequest(format!(
            "{} context files; at most {MAX_CONTEXT_FILES} are accepted.",
            files.len()
        )));
    }
    let total: usize = files.iter().map(|(n, c)| n.len() + c.len()).sum();
    if total > MAX_CONTEXT_BYTES {
        return Err(Error::BadRequest(format!(
            "The context files add up to {} KiB; at most {} KiB is accepted.",
            total / 1024,
            MAX_CONTEXT_BYTES / 1024
        )));
    }
    for name in files.keys() {
        if !valid_context_name(name) {
            return Err(Error::BadRequest(format!(
                "The context file name {name:?} must be a relative path without '..'."
            )));
        }
        if name == "Dockerfile" {
            return Err(Error::BadRequest(
                "Send the Dockerfile as `dockerfile`, not as a context file.".into(),
            ));
        }
    }
    let parsed =
        dockerfile::parse(text).map_err(|e| Error::BadRequest(format!("Dockerfile {e}")))?;
    let mut unbuildable = refused_instructions(&parsed);
    for (line, image) in parsed.external_images() {
        let image = image.trim();
        if image.eq_ignore_ascii_case("scratch") || allowed_bases.iter().any(|b| b == image) {
            continue;
        }
        let repository = |r: &str| r.split(['@', ':']).next().unwrap_or("").to_string();
        if allowed_bases
            .iter()
            .any(|b| repository(b) == repository(image))
        {
            // A known image with another tag: the static checks still say
            // why, but there is nothing local to build from.
            unbuildable.get_or_insert(format!(
                "line {line}: {image} does not exist here (builds have no network); the available tags are {}",
                allowed_bases.join(", ")
            ));
            continue;
        }
        return Err(Error::BadRequest(format!(
            "Dockerfile line {line}: {image:?} is not available here. Builds have no network and may start only from: {}.",
            allowed_bases.join(", ")
        )));
    }
    Ok((parsed, unbuildable))
}

/// Whether image `id` is an untagged image that this build made: created
/// after it started, by one of its own instructions (the history's newest
/// entry records the instruction).
async fn built_here(
    engine: &Engine,
    id: &str,
    since: time::OffsetDateTime,
    steps: &[(String, String)],
) -> bool {
    let Ok(Some(found)) = engine.image(id).await else {
        return false;
    };
    let untagged = found
        .repo_tags
        .as_ref()
        .is_none_or(|t| t.iter().all(|t| t == "<none>:<none>"));
    let created = found.created.as_deref().and_then(|c| {
        time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339).ok()
    });
    if !untagged || created.is_none_or(|c| c < since) {
        return false;
    }
    let Ok(history) = engine.image_history(id).await else {
        return false;
    };
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let made_by = squash(history.first().map(|h| h.created_by.as_str()).unwrap_or(""));
    steps.iter().any(|(keyword, args)| {
        if keyword == "RUN" {
            let args = squash(args);
            !args.is_empty() && made_by.contains(&args)
        } else {
            made_by.contains("#(nop)") && made_by.contains(keyword.as_str())
        }
    })
}

/// Why a parsed Dockerfile must not reach the builder even though its bases
/// are allowed; the static checks still grade it. Shared with every other
/// place that builds an image a learner wrote.
pub fn refused_instructions(parsed: &dockerfile::Dockerfile) -> Option<String> {
    if let Some((line, source)) = parsed.remote_add_sources().into_iter().next() {
        return Some(format!(
            "line {line}: ADD {source} would be fetched by the Docker engine itself, on the build host's network; Drydock never builds that. Put the file in the build context and COPY it"
        ));
    }
    if let Some(inst) = parsed.instructions.iter().find(|i| i.heredoc) {
        return Some(format!(
            "line {}: heredocs (`<<EOF`) need BuildKit, and this server builds with Docker's classic builder, which would read the heredoc's lines as instructions. Write the commands on RUN lines joined with &&",
            inst.line
        ));
    }
    if let Some(inst) = parsed.instructions.iter().find(|i| i.keyword == "ONBUILD") {
        return Some(format!(
            "line {}: ONBUILD instructions run in a later build without being checked; Drydock does not build images that carry them",
            inst.line
        ));
    }
    if let Some((line, dir)) = parsed.workdir_into_proc() {
        return Some(format!(
            "line {line}: WORKDIR {dir} points into /proc; a working directory there is how CVE-2024-21626 escaped the container runtime, so Drydock does not build it. Use an application directory such as /app"
        ));
    }
    None
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

/// Builds and reads the image; the image and its leftovers are removed
/// before this returns.
pub async fn collect(
    job: &BuildJob<'_>,
    text: &str,
    files: &BTreeMap<String, String>,
) -> Result<(ImageEvidence, Vec<String>), Error> {
    let (dockerfile, unbuildable) = screen(text, files, job.allowed_bases)?;
    let tar = context_tar(text, files)?;
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
        run_commands: dockerfile
            .instructions
            .iter()
            .filter(|i| i.keyword == "RUN")
            .map(|i| i.args_text().trim().to_string())
            .collect(),
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
    let build_started = std::time::SystemTime::now();
    let steps: Vec<(String, String)> = evidence
        .dockerfile
        .instructions
        .iter()
        .map(|i| (i.keyword.clone(), i.args_text()))
        .collect();
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
    // The build log names the intermediate images, but it also carries what
    // the learner's RUN printed: an id is removed only if it is an untagged
    // image created during this build by one of its own instructions.
    if let Ok(report) = &outcome {
        let since = time::OffsetDateTime::from(build_started);
        for id in report.intermediate.iter().rev() {
            if built_here(job.engine, id, since, &steps).await {
                let _ = job.engine.remove_image(id).await;
            }
        }
    }
    outcome.map(|_| (evidence, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASES: &[&str] = &["drydock/busybox:1"];

    fn bases() -> Vec<String> {
        BASES.iter().map(|b| b.to_string()).collect()
    }

    /// Why `text` is not built (the static checks still grade it).
    fn refusal(text: &str) -> Option<String> {
        screen(text, &BTreeMap::new(), &bases()).unwrap().1
    }

    #[test]
    fn remote_add_sources_are_never_built_in_any_spelling() {
        let spellings = [
            "ADD http://127.0.0.1:9/secret /r",
            "add http://169.254.169.254/latest/meta-data /r",
            "ADD HTTPS://example.invalid/x /r",
            "ADD [\"http://127.0.0.1:9/x\", \"/r\"]",
            "ADD --chown=1:1 http://127.0.0.1:9/x /r",
            "ADD --checksum=sha256:00 local.txt /r",
            "ADD git@example.invalid:org/repo.git /r",
            "ADD ftp://example.invalid/x /r",
            "ADD \"http://127.0.0.1:9/x\" /r",
            "ADD h\\\nttp://127.0.0.1:9/x /r",
            "A\\\nDD http://127.0.0.1:9/x /r",
            "ARG U=http://127.0.0.1:9/x\nADD $U /r",
            "ENV U=http://127.0.0.1:9/x\nADD ${U} /r",
            "ADD local.txt http://127.0.0.1:9/x /dir/",
        ];
        for add in spellings {
            let text = format!("FROM drydock/busybox:1\n{add}\nRUN cat /r; false\n");
            let why = refusal(&text);
            assert!(
                why.as_deref().is_some_and(|w| w.contains("never builds")),
                "{add:?} must not be built: {why:?}"
            );
        }
        assert_eq!(
            refusal("FROM drydock/busybox:1\nADD local.txt /r\nCOPY a b /d/\n"),
            None
        );
    }

    #[test]
    fn heredocs_onbuild_and_proc_workdirs_are_not_built() {
        // The classic builder would read the heredoc's body as instructions.
        let heredoc = "FROM drydock/busybox:1\nRUN <<CMD\nADD http://127.0.0.1:9/x /r\nCMD\n";
        assert!(refusal(heredoc).unwrap().contains("heredocs"));
        let onbuild = "FROM drydock/busybox:1\nONBUILD RUN id\n";
        assert!(refusal(onbuild).unwrap().contains("ONBUILD"));
        for workdir in [
            "WORKDIR /proc/self/fd/7",
            "WORKDIR //proc/self",
            "WORKDIR /app/../proc/1",
            "WORKDIR /\nWORKDIR proc/self/fd/8",
            "ENV D=/proc/self/fd/7\nWORKDIR $D",
            "WORKDIR /PROC/../proc",
        ] {
            let text = format!("FROM drydock/busybox:1\n{workdir}\n");
            assert!(
                refusal(&text).is_some_and(|w| w.contains("CVE-2024-21626")),
                "{workdir:?}"
            );
        }
        assert_eq!(
            refusal("FROM drydock/busybox:1\nWORKDIR /app/procedures\n"),
            None
        );
    }

    fn dockerfile_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "ADD ",
            "add ",
            "COPY ",
            "RUN ",
            "WORKDIR ",
            "ONBUILD ",
            "ARG U=",
            "ENV U=",
            "FROM ",
            "--from=",
            "--checksum=x ",
            "http://",
            "HTTPS://",
            "git@h:r.git",
            "$U",
            "${U}",
            "/proc",
            "proc/self/fd/7",
            "..",
            "/",
            "\\\n",
            "<<EOF",
            "\nEOF",
            " AS ",
            "drydock",
            "0",
            "1",
            "drydock/busybox:1",
            "\"",
            "'",
            "[",
            "]",
            ",",
            " ",
            "\t",
            "\r\n",
            "# escape=`\n",
            "`\n",
        ]);
        prop::collection::vec(piece, 0..12).prop_map(|ps| ps.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: crate::grading::fuzz_cases(1000), ..Default::default() })]

        #[test]
        fn screening_never_panics(lines in proptest::collection::vec(dockerfile_line(), 0..12)) {
            let text = format!("FROM drydock/busybox:1\n{}", lines.join("\n"));
            let _ = screen(&text, &BTreeMap::new(), &bases());
            let _ = screen(&lines.join("\n"), &BTreeMap::new(), &bases());
        }
    }

    #[test]
    fn copy_from_a_stage_that_has_not_finished_is_an_image_name() {
        // `drydock` is the current stage: the engine would read any local
        // image (or pull) by that name.
        let current = "FROM drydock/busybox:1 AS drydock\nCOPY --from=drydock /app/content /c\n";
        let err = screen(current, &BTreeMap::new(), &bases()).unwrap_err();
        assert!(err.to_string().contains("\"drydock\""), "{err}");
        let later = "FROM drydock/busybox:1\nCOPY --from=1 /x /x\nFROM drydock/busybox:1\n";
        assert!(screen(later, &BTreeMap::new(), &bases()).is_err());
        let by_later_name =
            "FROM drydock/busybox:1\nCOPY --from=build /x /x\nFROM drydock/busybox:1 AS build\n";
        assert!(screen(by_later_name, &BTreeMap::new(), &bases()).is_err());
        // Earlier stages, by name or index, and allowed images are fine.
        let earlier = "FROM drydock/busybox:1 AS build\nRUN touch /x\nFROM drydock/busybox:1\nCOPY --from=build /x /x\nCOPY --from=0 /x /y\nCOPY --from=drydock/busybox:1 /bin/sh /z\n";
        assert!(screen(earlier, &BTreeMap::new(), &bases()).is_ok());
    }
}
