//! `docker build` from a lab. The classic builder runs `RUN` steps under the
//! engine's default runtime, as root, and fetches `ADD` URLs and missing
//! bases on the host's network, so a lab's build is allowed only when the
//! default runtime is the sandbox, and only in this shape: the context is
//! read and rewritten by Drydock (the archive checks of `docker cp`), the
//! Dockerfile passes the grader's screen (no remote `ADD`, heredocs,
//! `ONBUILD`, `/proc` working directories, `drydock.*` labels), every image
//! it starts from is resolved to the id of an image the session may use and
//! written into the Dockerfile that way (so the engine never looks a name
//! up, never pulls), and the build runs with no network and the lab's caps.

use std::{path::Path, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::{body::Frame, header, Method, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use drydock_grader::input::{
    build::{refused_instructions, valid_context_name, MAX_DOCKERFILE_BYTES},
    dockerfile::{parse, Args, Dockerfile},
};

use super::{
    archive,
    names::valid_image_reference,
    routes::Query,
    server::{Refused, SessionProxy},
};
use crate::docker::{http::full, http::OutBody, labels};

/// A lab's build ends after this long.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest file one build step may write.
const FILE_BYTES: i64 = 256 << 20;

impl SessionProxy {
    /// Serves `POST /build`.
    pub async fn build(&self, query: &Query, body: Bytes) -> Result<Response<OutBody>, Refused> {
        if let Err(why) = &self.scope.builds_allowed {
            return Err(Refused::policy(
                "docker build",
                format!("docker build is not available in this lab: {why}"),
            ));
        }
        check_build_options(query)?;
        let mut tags = Vec::new();
        for tag in query.all("t") {
            valid_image_reference(&tag).map_err(|m| Refused::policy("a tag under drydock/", m))?;
            tags.push(self.names.image(&super::names::with_tag(&tag)));
        }
        let dockerfile_name = query
            .get("dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "Dockerfile".into());
        let dockerfile_name = dockerfile_name.trim_start_matches("./").to_string();
        if !valid_context_name(&dockerfile_name) {
            return Err(Refused::bad(format!(
                "{dockerfile_name:?} is not a Dockerfile inside the build context"
            )));
        }
        let mut entries = archive::checked_entries(&body, "docker build")?;
        let position = entries
            .iter()
            .position(|e| e.path == Path::new(&dockerfile_name))
            .ok_or_else(|| Refused::bad(format!("the build context has no {dockerfile_name}")))?;
        let text = std::str::from_utf8(&entries[position].data)
            .map_err(|_| Refused::bad(format!("{dockerfile_name} is not UTF-8 text")))?;
        if text.len() > MAX_DOCKERFILE_BYTES {
            return Err(Refused::bad(format!(
                "{dockerfile_name} is larger than {} KiB",
                MAX_DOCKERFILE_BYTES / 1024
            )));
        }
        let parsed = parse(text).map_err(|e| Refused::bad(format!("{dockerfile_name} {e}")))?;
        if let Some(why) = refused_instructions(&parsed) {
            return Err(Refused::policy(
                "docker build: a refused instruction",
                format!("{dockerfile_name} {why}"),
            ));
        }
        let rewritten = self.pin_images(text, &parsed).await?;
        entries[position].data = rewritten.into_bytes();
        let context = archive::write(&entries)?;

        let learner_labels: Map<String, Value> =
            match query.get("labels").filter(|l| !l.is_empty() && l != "null") {
                Some(raw) => serde_json::from_str(&raw)
                    .map_err(|_| Refused::bad("labels is not a JSON object"))?,
                None => Map::new(),
            };
        if learner_labels.keys().any(|k| labels::is_reserved(k)) {
            return Err(Refused::policy(
                "a drydock.* label",
                "labels starting with drydock. are Drydock's own",
            ));
        }
        let build_args: Map<String, Value> = match query
            .get("buildargs")
            .filter(|b| !b.is_empty() && b != "null")
        {
            Some(raw) => serde_json::from_str(&raw)
                .map_err(|_| Refused::bad("buildargs is not a JSON object"))?,
            None => Map::new(),
        };
        if build_args.len() > 64 || build_args.values().any(|v| !(v.is_string() || v.is_null())) {
            return Err(Refused::bad(
                "build arguments are up to 64 NAME=value pairs",
            ));
        }

        let budget = &self.scope.budget;
        let memory = (budget.default_memory_mb.max(512) << 20).min(budget.memory_mb << 20);
        let period = 100_000i64;
        let mut q = Query::default()
            .set("dockerfile", &dockerfile_name)
            .set("networkmode", "none")
            .set("rm", "1")
            .set("forcerm", "1")
            .set("pull", "0")
            .set("memory", &memory.to_string())
            .set("memswap", &memory.to_string())
            .set("cpuperiod", &period.to_string())
            .set(
                "cpuquota",
                &((budget.cpus * period as f64).round() as i64)
                    .max(1000)
                    .to_string(),
            )
            .set(
                "ulimits",
                &json!([
                    {"Name": "nproc", "Soft": budget.pids, "Hard": budget.pids},
                    {"Name": "fsize", "Soft": FILE_BYTES, "Hard": FILE_BYTES},
                    {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                ])
                .to_string(),
            )
            .set("labels", &Value::Object(learner_labels).to_string())
            .set("buildargs", &Value::Object(build_args).to_string());
        for key in ["q", "nocache", "target"] {
            if let Some(v) = query.get(key).filter(|v| !v.is_empty()) {
                q = q.set(key, &v);
            }
        }
        for tag in &tags {
            q = q.add("t", tag);
        }
        let response = self
            .engine_call(
                Method::POST,
                &format!("/build{q}"),
                Some("application/x-tar"),
                full(context),
            )
            .await?;
        if !response.status().is_success() {
            return Ok(self.relay(response, super::forward::Relay::Json).await);
        }
        Ok(self.stream_build(response))
    }

    /// Relays a build's messages line by line (the namespace taken out) and
    /// records every image it made, the final one and those of each step.
    fn stream_build(&self, response: Response<hyper::body::Incoming>) -> Response<OutBody> {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
        let names = self.names.clone();
        let ledger = self.ledger.clone();
        let session = self.scope.session.clone();
        let engine = self.engine.clone();
        let (parts, mut body) = response.into_parts();
        tokio::spawn(async move {
            let mut made: Vec<String> = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            let relay = async {
                while let Some(frame) = body.frame().await {
                    let Ok(data) = frame.map(|f| f.into_data().unwrap_or_default()) else {
                        break;
                    };
                    pending.extend_from_slice(&data);
                    let cut = pending
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1);
                    let lines: Vec<u8> = pending.drain(..cut).collect();
                    for line in lines.split(|b| *b == b'\n') {
                        let Ok(message) = serde_json::from_slice::<Value>(line) else {
                            continue;
                        };
                        if let Some(id) = message["aux"]["ID"].as_str() {
                            made.push(id.to_string());
                        }
                        if let Some(text) = message["stream"].as_str() {
                            for part in text.split('\n').map(str::trim) {
                                let hex = |id: &&str| id.bytes().all(|b| b.is_ascii_hexdigit());
                                if let Some(id) = part
                                    .strip_prefix("---> ")
                                    .filter(|id| id.len() == 12 && hex(id))
                                {
                                    made.push(id.to_string());
                                }
                                // A quiet build (`-q`) says only the image's id.
                                if let Some(id) = part
                                    .strip_prefix("sha256:")
                                    .filter(|id| id.len() == 64 && hex(id))
                                {
                                    made.push(format!("sha256:{id}"));
                                }
                            }
                        }
                    }
                    if tx
                        .send(Ok(Frame::data(Bytes::from(names.strip_bytes(&lines)))))
                        .await
                        .is_err()
                    {
                        // The learner gave up (Ctrl-C): dropping the engine's
                        // connection cancels the build.
                        break;
                    }
                    if pending.len() > 1 << 20 {
                        break;
                    }
                }
            };
            if tokio::time::timeout(BUILD_TIMEOUT, relay).await.is_err() {
                let message = format!(
                    "the build took longer than {} minutes and was stopped",
                    BUILD_TIMEOUT.as_secs() / 60
                );
                let line = json!({"errorDetail": {"message": message}, "error": message})
                    .to_string()
                    + "\n";
                let _ = tx.send(Ok(Frame::data(Bytes::from(line)))).await;
            }
            // Recorded before the stream ends, so the image is on record
            // by the time `docker build` returns.
            for id in made {
                // Steps name images by a short id: record the full one.
                if let Ok(Some(image)) = engine.image(&id).await {
                    ledger.image_made(&session, &image.id.unwrap_or(id)).await;
                }
            }
            drop(tx);
        });
        let stream = tokio_stream_from(rx);
        let mut response = Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream)));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response.headers_mut().remove(header::TRANSFER_ENCODING);
        *response.status_mut() = StatusCode::OK;
        response
    }

    /// The Dockerfile with every image it starts from (`FROM`, `COPY
    /// --from`) replaced by the id of an image the session may use.
    async fn pin_images(&self, text: &str, parsed: &Dockerfile) -> Result<String, Refused> {
        let literal = |line: usize, value: &str| {
            if value.contains('$') {
                Err(Refused::policy(
                    "docker build: a variable image name",
                    format!("line {line}: write the image or stage name itself, not a variable ({value}); labs build only from images they can check"),
                ))
            } else {
                Ok(())
            }
        };
        let mut replacements: Vec<(usize, String)> = Vec::new();
        for stage in &parsed.stages {
            literal(stage.line, &stage.base)?;
            if stage.base_is_stage || stage.resolved_base.eq_ignore_ascii_case("scratch") {
                continue;
            }
            let id = self
                .image_for_build(stage.line, &stage.resolved_base)
                .await?;
            let name = stage
                .name
                .as_deref()
                .map(|n| format!(" AS {n}"))
                .unwrap_or_default();
            replacements.push((stage.line, format!("FROM {id}{name}")));
        }
        for inst in &parsed.instructions {
            if !matches!(inst.keyword.as_str(), "COPY" | "ADD") {
                continue;
            }
            let Some(from) = inst.flag("from") else {
                continue;
            };
            literal(inst.line, from)?;
            if parsed.is_earlier_stage_ref(from, inst.stage) {
                continue;
            }
            let id = self.image_for_build(inst.line, from).await?;
            let mut out = inst.keyword.clone();
            for (name, value) in &inst.flags {
                match (name.as_str(), value) {
                    ("from", _) => out.push_str(&format!(" --from={id}")),
                    (_, Some(v)) => out.push_str(&format!(" --{name}={v}")),
                    (_, None) => out.push_str(&format!(" --{name}")),
                }
            }
            match &inst.args {
                Args::Exec(words) => out.push_str(&format!(" {}", json!(words))),
                Args::Shell(rest) => out.push_str(&format!(" {rest}")),
            }
            replacements.push((inst.line, out));
        }
        for inst in parsed.instructions.iter().filter(|i| i.keyword == "LABEL") {
            if inst.args_text().to_ascii_lowercase().contains("drydock.") {
                return Err(Refused::policy(
                    "a drydock.* label",
                    format!(
                        "line {}: labels starting with drydock. are Drydock's own",
                        inst.line
                    ),
                ));
            }
        }
        let escape = parsed.instructions.first().map_or('\\', |i| i.escape);
        Ok(replace_instructions(text, escape, &replacements))
    }

    async fn image_for_build(&self, line: usize, reference: &str) -> Result<String, Refused> {
        match self.resolve_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(_) => Err(Refused::conflict(format!(
                "line {line}: {reference} is not an image in this lab. This lab is offline: build FROM one of Drydock's images (docker images lists them) or one you built"
            ))),
        }
    }
}

/// Refuses the build options a lab never grants, whatever the CLI sent.
fn check_build_options(query: &Query) -> Result<(), Refused> {
    let teach = |option: &str, why: &str| {
        Refused::policy(option, format!("{option} is refused in this lab: {why}"))
    };
    let set = |key: &str| {
        query.get(key).is_some_and(|v| {
            !matches!(
                v.as_str(),
                "" | "null" | "[]" | "{}" | "0" | "false" | "default"
            )
        })
    };
    if set("remote") {
        return Err(teach("docker build from a URL or git repository", "the engine would fetch it on the host's network. Send a local directory: docker build ."));
    }
    if query.get("version").is_some_and(|v| v == "2") {
        return Err(teach(
            "BuildKit",
            "this lab builds with Docker's classic builder (leave DOCKER_BUILDKIT unset).",
        ));
    }
    match query.get("networkmode").as_deref() {
        None | Some("" | "default" | "none" | "bridge") => {}
        Some("host") => {
            return Err(teach(
                "--network host",
                "a build step would share the host's network. Lab builds have no network at all.",
            ))
        }
        Some(other) => {
            return Err(teach(
                &format!("--network {other}"),
                "lab builds have no network at all.",
            ))
        }
    }
    for (key, option, why) in [
        (
            "extrahosts",
            "--add-host",
            "the build's names are set by the lab.",
        ),
        (
            "cgroupparent",
            "--cgroup-parent",
            "it moves the build out of the lab's limits.",
        ),
        (
            "ulimits",
            "--ulimit",
            "the lab sets the build's limits itself.",
        ),
        (
            "securityopt",
            "--security-opt",
            "build steps keep the engine's protections.",
        ),
        (
            "isolation",
            "--isolation",
            "the lab chooses how builds are isolated.",
        ),
        ("squash", "--squash", "squashing is not available in labs."),
        ("outputs", "--output", "labs keep built images in the lab."),
    ] {
        if set(key) {
            return Err(teach(option, why));
        }
    }
    Ok(())
}

/// `text` with the instruction starting at each 1-based line replaced (its
/// continuation lines emptied, so line numbers stay the same).
fn replace_instructions(text: &str, escape: char, replacements: &[(usize, String)]) -> String {
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    for (line, new) in replacements {
        let Some(start) = line.checked_sub(1).filter(|s| *s < lines.len()) else {
            continue;
        };
        let mut i = start;
        loop {
            let continued = lines[i].trim_end().ends_with(escape);
            lines[i] = String::new();
            if !continued {
                break;
            }
            i += 1;
            // Blank lines and comments inside a continuation belong to it.
            while i < lines.len()
                && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#'))
            {
                lines[i] = String::new();
                i += 1;
            }
            if i >= lines.len() {
                break;
            }
        }
        lines[start] = new.clone();
    }
    lines.join("\n")
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_are_replaced_in_place_with_their_continuations() {
        let text = "FROM drydock/busybox:1 \\\n  AS base\nRUN true\nCOPY --from=x /a /b\n";
        let out = replace_instructions(
            text,
            '\\',
            &[
                (1, "FROM sha256:aa AS base".into()),
                (4, "COPY --from=sha256:bb /a /b".into()),
            ],
        );
        assert_eq!(
            out,
            "FROM sha256:aa AS base\n\nRUN true\nCOPY --from=sha256:bb /a /b\n"
        );
    }

    #[test]
    fn options_a_lab_never_grants_are_refused() {
        let q = |s: &str| Query::parse(s);
        assert!(
            check_build_options(&q("networkmode=default&ulimits=null&cgroupparent=&remote="))
                .is_ok()
        );
        for bad in [
            "networkmode=host",
            "remote=https://example.invalid/x.git",
            "extrahosts=a:1.2.3.4",
            "cgroupparent=/",
            "version=2",
            "ulimits=%5B%7B%22Name%22%3A%22nproc%22%7D%5D",
        ] {
            assert!(check_build_options(&q(bad)).is_err(), "{bad}");
        }
    }
}
