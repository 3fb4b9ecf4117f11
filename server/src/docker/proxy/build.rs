//! `docker build` from a lab. The classic builder runs `RUN` steps under the
//! engine's default runtime, as root, and fetches `ADD` URLs and missing
//! bases on the host's network, so a lab's build is allowed only when the
//! default runtime is the sandbox, and only in this shape: the context is
//! spooled, read and rewritten by Drydock (the archive checks of `docker
//! cp`); the engine never reads the learner's Dockerfile but the one
//! Drydock writes from its own reading of it (`lab_dockerfile`), with every
//! image it starts from pinned to the id of an image the session may use
//! (so the engine never looks a name up, never pulls), `--label`s written
//! into it, and the session's label after every `FROM`; the build runs with
//! no network, the lab's caps and the session's own cache only; and which
//! images it made is asked of the engine by that label afterwards.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::{body::Frame, header, Method, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use drydock_grader::input::{
    build::{valid_context_name, MAX_DOCKERFILE_BYTES},
    lab_dockerfile,
};

use super::{
    archive,
    names::valid_image_reference,
    routes::Query,
    server::{Refused, SessionProxy},
};
use crate::docker::{http::OutBody, labels};

/// A lab's build ends after this long.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Most images a build may take cache from.
const CACHE_SOURCES: usize = 64;
/// Largest file one build step may write.
const FILE_BYTES: i64 = 256 << 20;

impl SessionProxy {
    /// Refuses a build before its context is received: builds not allowed
    /// here, or options a lab never grants.
    pub fn check_build_request(&self, query: &Query) -> Result<(), Refused> {
        if let Err(why) = &self.scope.builds_allowed {
            return Err(Refused::policy(
                "docker build",
                format!("docker build is not available in this lab: {why}"),
            ));
        }
        check_build_options(query)
    }

    /// Serves `POST /build` with the context spooled to `upload` (after
    /// [`SessionProxy::check_build_request`]).
    pub async fn build(
        &self,
        query: &Query,
        upload: std::fs::File,
    ) -> Result<Response<OutBody>, Refused> {
        let mut tags = Vec::new();
        for tag in query.all("t") {
            let tag = super::names::familiar(&tag).to_string();
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
        let name = dockerfile_name.clone();
        let (entries, mut upload, position, text) = tokio::task::spawn_blocking(move || {
            let mut upload = upload;
            let entries = archive::checked_entries(&mut upload, "docker build")?;
            let position = entries
                .iter()
                .position(|e| e.path == Path::new(&name))
                .ok_or_else(|| Refused::bad(format!("the build context has no {name}")))?;
            if entries[position].size() > MAX_DOCKERFILE_BYTES as u64 {
                return Err(Refused::bad(format!(
                    "{name} is larger than {} KiB",
                    MAX_DOCKERFILE_BYTES / 1024
                )));
            }
            let bytes = entries[position]
                .read(&mut upload)
                .map_err(|e| Refused::bad(format!("the build context could not be read: {e}")))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Refused::bad(format!("{name} is not UTF-8 text")))?;
            Ok::<_, Refused>((entries, upload, position, text))
        })
        .await
        .map_err(Refused::engine)??;
        let mut entries = entries;
        // The engine never reads the learner's file: it reads the one
        // Drydock writes from its own parse of it, in place of it.
        let read = lab_dockerfile::read(&text).map_err(|why| {
            Refused::policy(
                "docker build: a Dockerfile Drydock does not build",
                format!("{dockerfile_name} {why}"),
            )
        })?;
        // `--label`: written into the generated file like its own labels
        // (the engine would turn its `labels` option into Dockerfile text).
        let learner_labels: Map<String, Value> =
            match query.get("labels").filter(|l| !l.is_empty() && l != "null") {
                Some(raw) => serde_json::from_str(&raw)
                    .map_err(|_| Refused::bad("labels is not a JSON object"))?,
                None => Map::new(),
            };
        let mut build_labels = BTreeMap::new();
        for (key, value) in learner_labels {
            let Value::String(value) = value else {
                return Err(Refused::bad("labels are NAME=text pairs"));
            };
            build_labels.insert(key, value);
        }
        let target = query.get("target").filter(|t| !t.is_empty());
        let read = read
            .with_labels(&build_labels, target.as_deref())
            .map_err(|why| Refused::policy("docker build --label", format!("--label: {why}")))?;
        let mut pinned = HashMap::new();
        for (line, reference) in read.images() {
            let id = self.image_for_build(line, &reference).await?;
            pinned.insert(reference, id);
        }
        let generated = read.render(&pinned, &self.build_labels()).map_err(|why| {
            Refused::policy(
                "docker build: an image it may not use",
                format!("{dockerfile_name} {why}"),
            )
        })?;
        entries[position].set(generated.into_bytes());
        let context = tokio::task::spawn_blocking(move || archive::write(&entries, &mut upload))
            .await
            .map_err(Refused::engine)??;

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
            // Cache only from the session's own images and Drydock's.
            .set(
                "cachefrom",
                &json!(self.cache_sources(&pinned).await?).to_string(),
            )
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
                archive::file_body(context),
            )
            .await?;
        if !response.status().is_success() {
            return Ok(self.relay(response, super::forward::Relay::Json).await);
        }
        Ok(self.stream_build(response))
    }

    /// Relays a build's messages line by line (the namespace taken out);
    /// once the build ends, records what it made, as the engine tells it.
    fn stream_build(&self, response: Response<hyper::body::Incoming>) -> Response<OutBody> {
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
        let names = self.names.clone();
        let ledger = self.ledger.clone();
        let session = self.scope.session.clone();
        let engine = self.engine.clone();
        let (parts, mut body) = response.into_parts();
        tokio::spawn(async move {
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
            // Recorded before the stream ends, so the image is on record by
            // the time `docker build` returns. What the build printed is
            // never read for this: its RUN steps could print anything.
            record_made(&engine, ledger.as_ref(), &session).await;
            drop(tx);
        });
        let stream = tokio_stream_from(rx);
        let mut response = Response::from_parts(parts, BodyExt::boxed(StreamBody::new(stream)));
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response.headers_mut().remove(header::TRANSFER_ENCODING);
        *response.status_mut() = StatusCode::OK;
        response
    }

    /// The labels every stage of the session's builds carries: the
    /// engine's answer to "which images did this session make". Not the
    /// installation's label: start-up cleanup removes what carries that.
    fn build_labels(&self) -> BTreeMap<String, String> {
        [
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::CHILD_OF.to_string(), self.scope.session.clone()),
        ]
        .into()
    }

    /// Where a build may take cache from: the images it starts from (the
    /// session's own or Drydock's) and the session's own images, newest
    /// first; never another session's.
    async fn cache_sources(
        &self,
        pinned: &HashMap<String, String>,
    ) -> Result<Vec<String>, Refused> {
        let mut sources: Vec<String> = pinned.values().cloned().collect();
        let made = self.ledger.images_made(&self.scope.session).await;
        for image in self.visible_images().await? {
            let Some(id) = image["Id"].as_str() else {
                continue;
            };
            if made.contains(id) && !sources.iter().any(|s| s == id) {
                sources.push(id.to_string());
            }
        }
        sources.sort();
        sources.dedup();
        sources.truncate(CACHE_SOURCES);
        Ok(sources)
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

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + Sync {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Records every image the engine holds with the session's label (what its
/// builds and commits made) in the ledger.
pub(super) async fn record_made(
    engine: &crate::docker::engine::Engine,
    ledger: &dyn super::ProxyLedger,
    session: &str,
) {
    match engine.images_labelled(&[(labels::CHILD_OF, session)]).await {
        Ok(ids) => {
            for id in ids {
                ledger.image_made(session, &id).await;
            }
        }
        Err(err) => tracing::warn!(session, error = %err, "could not list a lab's images"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
