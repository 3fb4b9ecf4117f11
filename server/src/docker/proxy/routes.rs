//! The allow-list: every endpoint a lab's `docker` may use, what each
//! reads from the request, and what it forwards. Anything not listed here
//! is refused.
//!
//! | area | allowed | refused |
//! | --- | --- | --- |
//! | system | `_ping`, `version`, `info` and `system/df` (composed from the session's own objects), `events` (the session's only) | everything else |
//! | containers | list, create (rebuilt, see `create.rs`), inspect, start, stop, restart, kill, wait, pause, unpause, rename, resize, attach, logs, top, stats, changes, export, archive (`docker cp`; uploads checked, see `archive.rs`), exec, remove, prune (the session's) | `update`, `checkpoint` |
//! | images | list, inspect, history (Drydock's lab images and the session's), tag, remove (the session's), build (see `build.rs`), commit | pull, push, search, load, save, prune |
//! | volumes, networks | create (local volumes without options; internal bridge networks), list, inspect, remove, prune, connect, disconnect (the session's) | driver options, other drivers |
//! | swarm, services, nodes, tasks, secrets, configs, plugins, distribution, session, grpc, auth | — | all |

use std::sync::Arc;

use bytes::Bytes;
use hyper::{body::Incoming, header, Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{
    forward::Relay,
    names::{
        familiar, split_tag, valid_image_reference, valid_object_name, with_tag, SessionNames,
        LAB_NETWORK,
    },
    server::{json_response, read_body, Refused, SessionProxy, API_VERSION},
};
use crate::docker::{
    http::{empty, full, OutBody},
    labels,
};
use drydock_grader::input::lab_dockerfile;

type Reply = Result<Response<OutBody>, Refused>;

/// Largest JSON request body (create, exec, network and volume bodies).
const JSON_BODY: usize = 1 << 20;

/// The one place a request finds its handler.
pub async fn dispatch(p: &Arc<SessionProxy>, mut req: Request<Incoming>, path: &str) -> Reply {
    let method = req.method().clone();
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(ping(&method)),
        (&Method::GET, ["version"]) => p.version().await,
        (&Method::GET, ["info"]) => p.info().await,
        (&Method::GET, ["system", "df"]) => p.disk_usage().await,
        (&Method::GET, ["events"]) => {
            let q = query.keep(&["since", "until"]).with_filters(query.filters_with(&p.child_label(), &p.names)?);
            p.forward(Method::GET, &format!("/events{q}"), None, empty(), Relay::Lines).await
        }

        // --- containers ---
        (&Method::GET, ["containers", "json"]) => {
            let q = query.keep(&["all", "limit", "size"]).with_filters(p.container_filters(&query).await?);
            p.forward(Method::GET, &format!("/containers/json{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["containers", "create"]) => {
            let body = read_body(req.into_body(), JSON_BODY).await?;
            p.create_container(&query, &body).await
        }
        (&Method::POST, ["containers", "prune"]) => p.prune_containers(&query).await,
        (&Method::GET, ["containers", id, "json"]) => {
            let id = p.own_container(id).await?;
            let q = query.keep(&["size"]);
            p.forward(Method::GET, &format!("/containers/{id}/json{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["containers", id, "start"]) => {
            let id = p.own_container(id).await?;
            if query.has("checkpoint") || query.has("checkpoint-dir") {
                return Err(Refused::policy("start from a checkpoint", "checkpoints are not available in labs"));
            }
            let body = read_body(req.into_body(), JSON_BODY).await?;
            if !body.iter().all(u8::is_ascii_whitespace) && body.as_ref() != b"{}" && body.as_ref() != b"null" {
                return Err(Refused::policy(
                    "a body with start",
                    "a start request carries no body (old API versions let it change HostConfig); send settings with create",
                ));
            }
            let q = query.keep(&["detachKeys"]);
            p.forward(Method::POST, &format!("/containers/{id}/start{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["containers", id, action @ ("stop" | "restart" | "kill" | "wait" | "pause" | "unpause" | "resize")]) => {
            let id = p.own_container(id).await?;
            let q = match *action {
                "stop" | "restart" => query.keep(&["t", "signal"]),
                "kill" => query.keep(&["signal"]),
                "wait" => query.keep(&["condition"]),
                "resize" => query.keep(&["h", "w"]),
                _ => Query::default(),
            };
            let relay = if *action == "wait" { Relay::Raw } else { Relay::Json };
            p.forward(Method::POST, &format!("/containers/{id}/{action}{q}"), None, empty(), relay).await
        }
        (&Method::POST, ["containers", id, "rename"]) => {
            let id = p.own_container(id).await?;
            let name = query.get("name").unwrap_or_default();
            p.check_container_name(&name)?;
            let q = Query::default().set("name", &p.names.object(&name));
            p.forward(Method::POST, &format!("/containers/{id}/rename{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["containers", id, "attach"]) => {
            let id = p.own_container(id).await?;
            let q = query.keep(&["stream", "stdin", "stdout", "stderr", "logs", "detachKeys"]);
            if !upgrade {
                return Err(Refused::bad("attach needs a connection upgrade (Upgrade: tcp)"));
            }
            p.hijack(hyper::upgrade::on(&mut req), &format!("/containers/{id}/attach{q}"), Bytes::new()).await
        }
        (&Method::GET, ["containers", id, "top"]) => {
            let id = p.own_container(id).await?;
            p.top(&id).await
        }
        (&Method::GET, ["containers", id, what @ ("logs" | "stats" | "changes" | "export")]) => {
            let id = p.own_container(id).await?;
            let (q, relay) = match *what {
                "logs" => (query.keep(&["follow", "stdout", "stderr", "since", "until", "timestamps", "tail", "details"]), Relay::Raw),
                "stats" => (query.keep(&["stream", "one-shot"]), Relay::Raw),
                "changes" => (Query::default(), Relay::Json),
                _ => (Query::default(), Relay::Raw),
            };
            p.forward(Method::GET, &format!("/containers/{id}/{what}{q}"), None, empty(), relay).await
        }
        (&Method::HEAD | &Method::GET, ["containers", id, "archive"]) => {
            let id = p.own_container(id).await?;
            let q = query.keep(&["path"]);
            p.forward(method.clone(), &format!("/containers/{id}/archive{q}"), None, empty(), Relay::Raw).await
        }
        (&Method::PUT, ["containers", id, "archive"]) => {
            let id = p.own_container(id).await?;
            let _turn = p.upload_turn().await?;
            super::archive::check_destination(&query.get("path").unwrap_or_default())?;
            let upload = super::archive::spool(req.into_body(), p.scope.budget.context_bytes).await?;
            let checked = tokio::task::spawn_blocking(move || super::archive::check_upload(upload))
                .await
                .map_err(Refused::engine)??;
            let q = query.keep(&["path", "noOverwriteDirNonDir", "copyUIDGID"]);
            p.forward(Method::PUT, &format!("/containers/{id}/archive{q}"), Some("application/x-tar"), super::archive::file_body(checked), Relay::Json).await
        }
        (&Method::POST, ["containers", id, "exec"]) => {
            let id = p.own_container(id).await?;
            let body = read_body(req.into_body(), JSON_BODY).await?;
            p.create_exec(&id, &body).await
        }
        (&Method::DELETE, ["containers", id]) => {
            let id = p.own_container(id).await?;
            if query.get("link").is_some_and(|v| v == "1" || v == "true") {
                return Err(Refused::policy("rm --link", "links are not used in labs"));
            }
            // Anonymous volumes go with their container: nothing of the
            // lab may be left behind without the session's label.
            let q = query.keep(&["force"]).set("v", "1");
            p.forward(Method::DELETE, &format!("/containers/{id}{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["containers", _, "update"]) => Err(Refused::policy(
            "docker update",
            "docker update is not available in labs (it could lift the lab's limits); remove the container and run it again with the settings you want",
        )),

        // --- exec ---
        (&Method::POST, ["exec", id, "start"]) => {
            let id = p.own_exec(id)?;
            let client = hyper::upgrade::on(&mut req);
            let body = read_body(req.into_body(), JSON_BODY).await?;
            let asked: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let detach = asked.get("Detach").and_then(Value::as_bool).unwrap_or(false);
            let tty = asked.get("Tty").and_then(Value::as_bool).unwrap_or(false);
            let rebuilt = Bytes::from(json!({"Detach": detach, "Tty": tty}).to_string());
            if upgrade && !detach {
                p.hijack(client, &format!("/exec/{id}/start"), rebuilt).await
            } else {
                p.forward(Method::POST, &format!("/exec/{id}/start"), Some("application/json"), full(rebuilt), Relay::Raw).await
            }
        }
        (&Method::POST, ["exec", id, "resize"]) => {
            let id = p.own_exec(id)?;
            let q = query.keep(&["h", "w"]);
            p.forward(Method::POST, &format!("/exec/{id}/resize{q}"), None, empty(), Relay::Json).await
        }
        (&Method::GET, ["exec", id, "json"]) => {
            let id = p.own_exec(id)?;
            p.forward(Method::GET, &format!("/exec/{id}/json"), None, empty(), Relay::Json).await
        }

        // --- images ---
        (&Method::GET, ["images", "json"]) => p.list_images(&query).await,
        (&Method::POST, ["build"]) => {
            let _turn = p.upload_turn().await?;
            p.check_build_request(&query)?;
            let upload = super::archive::spool(req.into_body(), p.scope.budget.context_bytes).await?;
            p.build(&query, upload).await
        }
        (&Method::POST, ["commit"]) => p.commit(&query).await,
        (&Method::POST, ["images", "create"]) => Err(Refused::policy(
            "docker pull",
            "this lab is offline: nothing can be pulled. Use Drydock's images (docker images lists them) or build your own FROM one of them",
        )),
        (&Method::GET, ["images", "search"]) => Err(Refused::policy("docker search", "this lab is offline: there is no registry to search")),
        (&Method::POST, ["images", "load"]) | (&Method::GET, ["images", "get"]) => Err(Refused::policy(
            "docker load/save",
            "docker load and save are not available in labs; build images with docker build",
        )),
        (&Method::POST, ["images", "prune"]) => Err(Refused::policy(
            "docker image prune",
            "image prune is not available in labs; remove your images by name with docker rmi",
        )),
        (_, ["images", rest @ ..]) if !rest.is_empty() => p.image_route(&method, rest, &query).await,

        // --- volumes and networks: lists and prunes see the session's own ---
        (&Method::GET, [kind @ ("volumes" | "networks")]) => {
            let q = Query::default().with_filters(query.filters_with(&p.child_label(), &p.names)?);
            p.forward(Method::GET, &format!("/{kind}{q}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, [kind @ ("volumes" | "networks"), "prune"]) => {
            let q = Query::default().with_filters(query.filters_with(&p.child_label(), &p.names)?);
            p.forward(Method::POST, &format!("/{kind}/prune{q}"), None, empty(), Relay::Json).await
        }

        // --- volumes ---
        (&Method::POST, ["volumes", "create"]) => {
            let body = read_body(req.into_body(), JSON_BODY).await?;
            p.create_volume(&body).await
        }
        (&Method::GET, ["volumes", name]) => {
            let name = p.own_volume(name).await?;
            p.forward(Method::GET, &format!("/volumes/{name}"), None, empty(), Relay::Json).await
        }
        (&Method::DELETE, ["volumes", name]) => {
            let name = p.own_volume(name).await?;
            let q = query.keep(&["force"]);
            p.forward(Method::DELETE, &format!("/volumes/{name}{q}"), None, empty(), Relay::Json).await
        }

        // --- networks ---
        (&Method::POST, ["networks", "create"]) => {
            let body = read_body(req.into_body(), JSON_BODY).await?;
            p.create_network(&body).await
        }
        (&Method::GET, ["networks", id]) => {
            let id = p.own_network_id(id).await?;
            p.forward(Method::GET, &format!("/networks/{id}"), None, empty(), Relay::Json).await
        }
        (&Method::DELETE, ["networks", id]) => {
            let id = p.own_network_id(id).await?;
            if id == p.own_network_id(LAB_NETWORK).await? {
                return Err(Refused::conflict("the lab network stays as long as the lab; remove your own networks only"));
            }
            p.forward(Method::DELETE, &format!("/networks/{id}"), None, empty(), Relay::Json).await
        }
        (&Method::POST, ["networks", id, action @ ("connect" | "disconnect")]) => {
            let network = p.own_network_id(id).await?;
            let body = read_body(req.into_body(), JSON_BODY).await?;
            p.connect(&network, action, &body).await
        }

        // --- the rest of the API ---
        (_, [area, ..]) => Err(refuse_area(area)),
        _ => Err(Refused::not_found("page not found")),
    }
}

/// The refusal for an endpoint outside the allow-list, by area.
fn refuse_area(area: &str) -> Refused {
    let why = match area {
        "swarm" | "services" | "nodes" | "tasks" | "secrets" | "configs" => {
            "this lab's engine is not part of a swarm; services, secrets and configs are not available"
        }
        "plugins" => "engine plugins run with the host's full privileges; they are not available in labs",
        "distribution" | "auth" => "this lab is offline: there is no registry to log in to or ask",
        "session" | "grpc" => "BuildKit sessions are not available; this lab builds with the classic builder",
        _ => "this endpoint is not part of what a lab may use",
    };
    Refused::policy(
        format!("/{area}"),
        format!("{why} (the lab's Docker endpoint refused /{area})"),
    )
}

fn ping(method: &Method) -> Response<OutBody> {
    let body = if method == Method::HEAD { "" } else { "OK" };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(
            header::CONTENT_LENGTH,
            if method == Method::HEAD { 0 } else { 2 },
        )
        .header(header::CACHE_CONTROL, "no-cache, no-store, must-revalidate")
        .header("docker-experimental", "false")
        .header(header::PRAGMA, "no-cache")
        .body(full(body))
        .expect("a valid response")
}

/// A query string, as pairs.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: &str) -> Self {
        Self(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// Every value of a repeated parameter (`t=a&t=b`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Adds a value, keeping earlier ones (for repeated parameters).
    pub fn add(mut self, key: &str, value: &str) -> Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Only the listed parameters.
    pub fn keep(&self, keys: &[&str]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .cloned()
                .collect(),
        )
    }

    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    fn with_filters(self, filters: Value) -> Self {
        self.set("filters", &filters.to_string())
    }

    /// The request's `filters`, with `label=<label>` added (the engine ANDs
    /// labels) and the learner's names of containers, volumes and networks
    /// (`container=web`) turned into the session's engine names.
    pub fn filters_with(&self, label: &str, names: &SessionNames) -> Result<Value, Refused> {
        let mut filters: Map<String, Value> = match self.get("filters") {
            Some(raw) if !raw.trim().is_empty() => {
                serde_json::from_str(&raw).map_err(|_| Refused::bad("filters is not JSON"))?
            }
            _ => Map::new(),
        };
        // Both shapes the API accepts: {"label": {"x": true}} and {"label": ["x"]}.
        let mut labels: Map<String, Value> = match filters.remove("label") {
            Some(Value::Object(m)) => m,
            Some(Value::Array(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(|s| (s.to_string(), Value::Bool(true))))
                .collect(),
            _ => Map::new(),
        };
        labels.insert(label.to_string(), Value::Bool(true));
        filters.insert("label".into(), Value::Object(labels));
        let engine_name = |value: &str| {
            // Ids (hex) are the engine's own already.
            if value.len() >= 12 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                value.to_string()
            } else {
                names.object(value.trim_start_matches('/'))
            }
        };
        for key in ["container", "name", "volume", "network"] {
            let translated = match filters.remove(key) {
                Some(Value::Object(m)) => {
                    Value::Object(m.into_iter().map(|(k, v)| (engine_name(&k), v)).collect())
                }
                Some(Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|v| Value::String(engine_name(v)))
                        .collect(),
                ),
                Some(other) => other,
                None => continue,
            };
            filters.insert(key.into(), translated);
        }
        Ok(Value::Object(filters))
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish();
        write!(f, "?{encoded}")
    }
}

/// An image a session may use, resolved.
pub struct ResolvedImage {
    /// How the engine is asked for it: the session's tag, Drydock's tag, or the id.
    pub engine_ref: String,
    pub id: String,
    /// Its tags the session may see (its own and Drydock's).
    pub tags: Vec<String>,
    /// Whether the engine reference is one of the session's own tags.
    pub by_own_tag: bool,
    /// Whether the session may remove the image itself: it made it or
    /// tagged it, and nobody else (Drydock included) names it.
    pub removable: bool,
}

impl SessionProxy {
    /// `drydock.child-of=<session>`: what the session's objects carry.
    pub fn child_label(&self) -> String {
        format!("{}={}", labels::CHILD_OF, self.scope.session)
    }

    fn is_child(&self, labels_value: Option<&Value>) -> bool {
        labels_value
            .and_then(|l| l.get(labels::CHILD_OF))
            .and_then(Value::as_str)
            == Some(self.scope.session.as_str())
    }

    /// The full id of the session's container `reference` (its name or an
    /// id); anyone else's is exactly as if it did not exist.
    pub async fn own_container(&self, reference: &str) -> Result<String, Refused> {
        let missing = || Refused::not_found(format!("No such container: {reference}"));
        if reference.is_empty() || reference.len() > 128 {
            return Err(missing());
        }
        for candidate in [self.names.object(reference), reference.to_string()] {
            if !valid_object_name(&candidate) {
                continue;
            }
            let (status, found) = self
                .engine_json(Method::GET, &format!("/containers/{candidate}/json"), None)
                .await?;
            if status == StatusCode::OK && self.is_child(found.pointer("/Config/Labels")) {
                return found["Id"].as_str().map(str::to_string).ok_or_else(missing);
            }
        }
        Err(missing())
    }

    fn own_exec(&self, id: &str) -> Result<String, Refused> {
        let execs = self.execs.lock().expect("exec set lock");
        execs
            .iter()
            .find(|e| e.as_str() == id || (id.len() >= 12 && e.starts_with(id)))
            .cloned()
            .ok_or_else(|| Refused::not_found(format!("No such exec instance: {id}")))
    }

    /// Memory the session's containers hold (from the label Drydock set).
    pub async fn memory_in_use(&self) -> Result<i64, Refused> {
        let children = self.children().await?;
        Ok(children
            .iter()
            .filter_map(|c| c.pointer(&format!("/Labels/{}", labels::MEMORY.replace('/', "~1"))))
            .filter_map(|v| v.as_str().and_then(|s| s.parse::<i64>().ok()))
            .sum())
    }

    pub async fn child_count(&self) -> Result<usize, Refused> {
        Ok(self.children().await?.len())
    }

    async fn children(&self) -> Result<Vec<Value>, Refused> {
        let filters = json!({"label": {self.child_label(): true}}).to_string();
        let q = Query::default().set("all", "1").set("filters", &filters);
        let (_, list) = self
            .engine_json(Method::GET, &format!("/containers/json{q}"), None)
            .await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    pub fn check_container_name(&self, name: &str) -> Result<(), Refused> {
        if !valid_object_name(name) {
            return Err(Refused::bad(format!(
                "{name:?} is not a container name: letters, digits, '_', '.' and '-', starting with a letter or digit"
            )));
        }
        if name == LAB_NETWORK {
            return Err(Refused::conflict(
                "the name lab belongs to the lab container itself; choose another",
            ));
        }
        Ok(())
    }

    async fn create_container(&self, query: &Query, body: &[u8]) -> Reply {
        let asked: Value = serde_json::from_slice(body)
            .map_err(|e| Refused::bad(format!("the create body is not JSON: {e}")))?;
        let name = match query.get("name").filter(|n| !n.is_empty()) {
            Some(name) => {
                let name = name.trim_start_matches('/').to_string();
                self.check_container_name(&name)?;
                name
            }
            None => random_name(),
        };
        // Checked and made under the session's admission lock: concurrent
        // creates cannot all pass the same budget check.
        let _admission = self.admission.lock().await;
        let plan = self.plan_create(&asked, Some(&name)).await?;
        for volume in &plan.volumes {
            self.ensure_volume(volume).await?;
        }
        let q = Query::default().set("name", &self.names.object(&name));
        let response = self
            .engine_call(
                Method::POST,
                &format!("/containers/create{q}"),
                Some("application/json"),
                full(plan.body.to_string()),
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            // Never a 404 to create: the CLI would try to pull.
            return Err(Refused::conflict(
                "the engine could not find something this container needs",
            ));
        }
        Ok(self.relay(response, Relay::Json).await)
    }

    async fn create_exec(&self, container: &str, body: &[u8]) -> Reply {
        let asked: Value = serde_json::from_slice(body)
            .map_err(|e| Refused::bad(format!("the exec body is not JSON: {e}")))?;
        let obj = asked.as_object().cloned().unwrap_or_default();
        use super::create::field;
        if field(&obj, "Privileged")?.and_then(Value::as_bool) == Some(true) {
            return Err(Refused::policy(
                "exec --privileged",
                "exec --privileged gives the process every capability of the host; it is refused in this lab. See the lesson /lessons/security/container-privileges.",
            ));
        }
        let mut out = Map::new();
        for key in ["Cmd", "Env"] {
            if let Some(v) = field(&obj, key)? {
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err(Refused::bad(format!("{key} must be a list of strings")));
                }
                out.insert(key.into(), v.clone());
            }
        }
        for key in ["User", "WorkingDir", "DetachKeys"] {
            if let Some(v) = field(&obj, key)?.and_then(Value::as_str) {
                if key == "WorkingDir" && v.split('/').any(|s| s == "proc" || s == "..") {
                    return Err(Refused::policy(
                        "exec --workdir /proc",
                        "a working directory under /proc is how CVE-2024-21626 escaped the container runtime; it is refused here",
                    ));
                }
                out.insert(key.into(), json!(v));
            }
        }
        for key in ["Tty", "AttachStdin", "AttachStdout", "AttachStderr"] {
            if field(&obj, key)?.and_then(Value::as_bool) == Some(true) {
                out.insert(key.into(), json!(true));
            }
        }
        let (status, created) = self
            .engine_json(
                Method::POST,
                &format!("/containers/{container}/exec"),
                Some(&Value::Object(out)),
            )
            .await?;
        if let Some(id) = created["Id"].as_str() {
            self.execs
                .lock()
                .expect("exec set lock")
                .insert(id.to_string());
        }
        Ok(json_response(status, &created))
    }

    /// Resolves an image the session may see: one of Drydock's lab images
    /// (`drydock/…`), or the session's own (by its name or id).
    pub async fn resolve_image(&self, reference: &str) -> Result<ResolvedImage, Refused> {
        let offline = || {
            Refused::conflict(format!(
                "No such image in this lab: {reference}. This lab is offline: use one of Drydock's images (docker images lists them) or an image you built"
            ))
        };
        if reference.is_empty() || reference.len() > 256 || reference.contains(char::is_whitespace)
        {
            return Err(offline());
        }
        let reference = familiar(reference);
        let made = self.ledger.images_made(&self.scope.session).await;
        let mut candidates = Vec::new();
        let bare = reference.trim_start_matches("sha256:");
        let is_id = bare.len() >= 12 && bare.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_id && !reference.starts_with("drydock/") {
            candidates.push((self.names.image(&with_tag(reference)), true));
        }
        if reference.starts_with("drydock/") {
            candidates.push((with_tag(reference), false));
        }
        if is_id {
            candidates.push((reference.to_string(), false));
        }
        for (candidate, namespaced) in candidates {
            let (status, found) = self
                .engine_json(Method::GET, &format!("/images/{candidate}/json"), None)
                .await?;
            if status != StatusCode::OK {
                continue;
            }
            let id = found["Id"].as_str().unwrap_or_default().to_string();
            let tags: Vec<String> = found["RepoTags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let prefix = self.names.image_prefix();
            let visible: Vec<String> = tags
                .iter()
                .filter(|t| t.starts_with(&prefix) || t.starts_with("drydock/"))
                .cloned()
                .collect();
            let own_tagged = tags.iter().any(|t| t.starts_with(&prefix));
            if !(own_tagged
                || made.contains(&id)
                || visible.iter().any(|t| t.starts_with("drydock/")))
            {
                continue;
            }
            return Ok(ResolvedImage {
                engine_ref: candidate,
                removable: (own_tagged || made.contains(&id))
                    && tags.iter().all(|t| t.starts_with(&prefix)),
                by_own_tag: namespaced,
                id,
                tags: visible,
            });
        }
        Err(offline())
    }

    async fn image_route(&self, method: &Method, rest: &[&str], query: &Query) -> Reply {
        let (name, action) = match rest.last() {
            Some(&last @ ("json" | "history" | "tag" | "push" | "get")) if rest.len() > 1 => {
                (rest[..rest.len() - 1].join("/"), last)
            }
            _ => (rest.join("/"), ""),
        };
        match (method, action) {
            (&Method::GET, "json" | "history") => {
                let image = self.resolve_image(&name).await.map_err(|_| Refused::not_found(format!("No such image: {name}")))?;
                let (status, mut found) = self.engine_json(Method::GET, &format!("/images/{}/{action}", image.id), None).await?;
                // Names others gave the same image stay hidden.
                let visible = |tags: &Value| {
                    json!(tags.as_array().map(|a| a.iter().filter(|t| t.as_str().is_some_and(|t| image.tags.iter().any(|v| v == t))).cloned().collect::<Vec<_>>()).unwrap_or_default())
                };
                if action == "json" {
                    found["RepoTags"] = visible(&found["RepoTags"]);
                    found["RepoDigests"] = json!([]);
                } else if let Some(layers) = found.as_array_mut() {
                    for layer in layers {
                        layer["Tags"] = visible(&layer["Tags"]);
                    }
                }
                let bytes = self.names.strip_bytes(found.to_string().as_bytes());
                Ok(json_response(status, &serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
            }
            (&Method::DELETE, "") => {
                let image = self.resolve_image(&name).await.map_err(|_| Refused::not_found(format!("No such image: {name}")))?;
                let target = if image.by_own_tag {
                    // A tag of the session's: only that name goes.
                    image.engine_ref.clone()
                } else if image.removable {
                    image.id.clone()
                } else if image.tags.iter().any(|t| t.starts_with(&self.names.image_prefix())) {
                    return Err(Refused::conflict(format!(
                        "{name} has other names too; remove it by the name you gave it (docker images lists them)"
                    )));
                } else {
                    return Err(Refused::policy(
                        "removing a Drydock image",
                        format!("{name} is one of Drydock's lab images; it stays (you can remove only images you built or tagged)"),
                    ));
                };
                let q = query.keep(&["force", "noprune"]);
                self.forward(Method::DELETE, &format!("/images/{target}{q}"), None, empty(), Relay::Json).await
            }
            (&Method::POST, "tag") => {
                let image = self.resolve_image(&name).await.map_err(|_| Refused::not_found(format!("No such image: {name}")))?;
                let repo = familiar(&query.get("repo").unwrap_or_default()).to_string();
                let tag = query.get("tag").filter(|t| !t.is_empty()).unwrap_or_else(|| "latest".into());
                valid_image_reference(&format!("{repo}:{tag}")).map_err(|m| Refused::policy("a tag under drydock/", m))?;
                let q = Query::default().set("repo", &self.names.image(&repo)).set("tag", &tag);
                self.forward(Method::POST, &format!("/images/{}/tag{q}", image.id), None, empty(), Relay::Json).await
            }
            (&Method::POST, "push") => Err(Refused::policy(
                "docker push",
                "this lab is offline: there is no registry to push to. Your images stay in the lab (docker images)",
            )),
            _ => Err(refuse_area("images")),
        }
    }

    /// `docker images [REPO[:TAG]]`: the visible images, narrowed by the
    /// `reference` filter (globs with `*`) on the names the learner sees.
    async fn list_images(&self, query: &Query) -> Reply {
        let visible = self.visible_images().await?;
        let bytes = self
            .names
            .strip_bytes(Value::Array(visible).to_string().as_bytes());
        let mut images: Vec<Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        let filters: Value = query
            .get("filters")
            .and_then(|f| serde_json::from_str(&f).ok())
            .unwrap_or(Value::Null);
        let patterns: Vec<String> = match &filters["reference"] {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        if !patterns.is_empty() {
            images.retain(|image| {
                image["RepoTags"].as_array().is_some_and(|tags| {
                    tags.iter().filter_map(Value::as_str).any(|tag| {
                        let (repo, _) = split_tag(tag);
                        patterns.iter().any(|p| {
                            if p.contains(':') {
                                glob(p, tag)
                            } else {
                                glob(p, repo)
                            }
                        })
                    })
                })
            });
        }
        Ok(json_response(StatusCode::OK, &Value::Array(images)))
    }

    /// The images the session sees (Drydock's and its own), with only the
    /// tags it may see.
    pub(super) async fn visible_images(&self) -> Result<Vec<Value>, Refused> {
        let (_, list) = self.engine_json(Method::GET, "/images/json", None).await?;
        let made = self.ledger.images_made(&self.scope.session).await;
        let prefix = self.names.image_prefix();
        let visible: Vec<Value> = list
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut image| {
                let tags: Vec<String> = image["RepoTags"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let mine: Vec<String> = tags
                    .iter()
                    .filter(|t| t.starts_with(&prefix) || t.starts_with("drydock/"))
                    .cloned()
                    .collect();
                let id = image["Id"].as_str().unwrap_or_default().to_string();
                if mine.is_empty() && !made.contains(&id) {
                    return None;
                }
                // Another learner's tags on the same image stay hidden.
                image["RepoTags"] = json!(mine);
                image["RepoDigests"] = json!([]);
                Some(image)
            })
            .collect();
        Ok(visible)
    }

    /// `docker commit`: every `--change` read and written anew the way a
    /// build's instructions are, and Drydock's labels the container carries
    /// overwritten, so the image claims nothing of what its container was.
    async fn commit(&self, query: &Query) -> Reply {
        let container = self
            .own_container(&query.get("container").unwrap_or_default())
            .await?;
        let mut q = query
            .keep(&["comment", "author", "pause"])
            .set("container", &container);
        let changes = lab_dockerfile::commit_changes(&query.all("changes"))
            .map_err(|why| Refused::policy("commit --change", why))?;
        for change in changes {
            q = q.add("changes", &change);
        }
        let (_, found) = self
            .engine_json(Method::GET, &format!("/containers/{container}/json"), None)
            .await?;
        let mut relabel = String::from("LABEL");
        let reserved = found
            .pointer("/Config/Labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.keys()
                    .filter(|k| labels::is_reserved(k))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for key in reserved {
            let value = match key.as_str() {
                labels::CHILD_OF => self.scope.session.clone(),
                labels::MANAGED => "true".into(),
                _ => String::new(),
            };
            if !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            {
                return Err(Refused::conflict(
                    "the container carries a label Drydock cannot rewrite",
                ));
            }
            relabel.push_str(&format!(" {key}={}", json!(value)));
        }
        if relabel != "LABEL" {
            q = q.add("changes", &relabel);
        }
        if let Some(repo) = query.get("repo").filter(|r| !r.is_empty()) {
            let repo = familiar(&repo).to_string();
            let tag = query
                .get("tag")
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "latest".into());
            valid_image_reference(&format!("{repo}:{tag}"))
                .map_err(|m| Refused::policy("a tag under drydock/", m))?;
            q = q.set("repo", &self.names.image(&repo)).set("tag", &tag);
        }
        let (status, created) = self
            .engine_json(Method::POST, &format!("/commit{q}"), None)
            .await?;
        super::build::record_made(&self.engine, self.ledger.as_ref(), &self.scope.session).await;
        Ok(json_response(status, &created))
    }

    /// Creates the session's volume `engine_name` unless it exists; a volume
    /// by that name that is not the session's is refused.
    async fn ensure_volume(&self, engine_name: &str) -> Result<(), Refused> {
        let (status, found) = self
            .engine_json(Method::GET, &format!("/volumes/{engine_name}"), None)
            .await?;
        if status == StatusCode::OK {
            return if self.is_child(found.get("Labels")) {
                Ok(())
            } else {
                Err(Refused::conflict("that volume name is taken"))
            };
        }
        self.within_count("volumes", self.scope.budget.volumes)
            .await?;
        let body =
            json!({"Name": engine_name, "Driver": "local", "Labels": self.own_labels(&Map::new())});
        let (status, created) = self
            .engine_json(Method::POST, "/volumes/create", Some(&body))
            .await?;
        if !status.is_success() {
            return Err(Refused::conflict(format!(
                "the volume could not be created: {}",
                created["message"].as_str().unwrap_or("")
            )));
        }
        Ok(())
    }

    /// Drydock's labels for something the session makes, after the learner's.
    fn own_labels(&self, learner: &Map<String, Value>) -> Value {
        let mut all: Map<String, Value> = learner
            .iter()
            .filter(|(k, v)| !labels::is_reserved(k) && v.is_string())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.insert(labels::MANAGED.into(), json!("true"));
        all.insert(labels::INSTANCE.into(), json!(self.scope.instance));
        all.insert(labels::CHILD_OF.into(), json!(self.scope.session));
        Value::Object(all)
    }

    async fn create_volume(&self, body: &[u8]) -> Reply {
        let asked = json_body(body, "volume create")?;
        let obj = asked.as_object().cloned().unwrap_or_default();
        use super::create::field;
        let driver = field(&obj, "Driver")?
            .and_then(Value::as_str)
            .unwrap_or("local");
        if !driver.is_empty() && driver != "local" {
            return Err(Refused::policy(
                format!("volume driver {driver}"),
                "only local volumes are available in labs",
            ));
        }
        if field(&obj, "DriverOpts")?
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
        {
            return Err(Refused::policy(
                "volume driver options",
                "volume options (type, device, o) can mount any host path or device; create a plain volume: docker volume create NAME. See the lesson /lessons/security/host-security.",
            ));
        }
        let name = field(&obj, "Name")?
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        if !valid_object_name(&name) {
            return Err(Refused::bad(format!("{name:?} is not a volume name")));
        }
        let learner_labels = field(&obj, "Labels")?
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let body = json!({"Name": self.names.object(&name), "Driver": "local", "Labels": self.own_labels(&learner_labels)});
        let _admission = self.admission.lock().await;
        self.within_count("volumes", self.scope.budget.volumes)
            .await?;
        self.forward(
            Method::POST,
            "/volumes/create",
            Some("application/json"),
            full(body.to_string()),
            Relay::Json,
        )
        .await
    }

    /// The engine name of the session's volume `name`.
    async fn own_volume(&self, name: &str) -> Result<String, Refused> {
        let engine_name = self.names.object(name);
        if valid_object_name(name) {
            let (status, found) = self
                .engine_json(Method::GET, &format!("/volumes/{engine_name}"), None)
                .await?;
            if status == StatusCode::OK && self.is_child(found.get("Labels")) {
                return Ok(engine_name);
            }
        }
        Err(Refused::not_found(format!("No such volume: {name}")))
    }

    async fn create_network(&self, body: &[u8]) -> Reply {
        let asked = json_body(body, "network create")?;
        let obj = asked.as_object().cloned().unwrap_or_default();
        use super::create::field;
        let driver = field(&obj, "Driver")?
            .and_then(Value::as_str)
            .unwrap_or("bridge");
        if !driver.is_empty() && driver != "bridge" {
            return Err(Refused::policy(
                format!("network driver {driver}"),
                format!("{driver} networks attach to the host's interfaces; labs have internal bridge networks only. See the lesson /lessons/security/host-security."),
            ));
        }
        if field(&obj, "Options")?
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
        {
            return Err(Refused::policy(
                "network options",
                "network driver options are not accepted in labs",
            ));
        }
        let ipam = field(&obj, "IPAM")?.cloned().unwrap_or(Value::Null);
        if ipam
            .get("Config")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
        {
            return Err(Refused::policy("a subnet", "labs choose their networks' addresses themselves; leave out --subnet and --gateway"));
        }
        if field(&obj, "Ingress")?.and_then(Value::as_bool) == Some(true)
            || field(&obj, "ConfigFrom")?.is_some()
        {
            return Err(refuse_area("swarm"));
        }
        let name = field(&obj, "Name")?
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if !valid_object_name(&name) || name == LAB_NETWORK {
            return Err(Refused::bad(format!(
                "{name:?} is not a network name you can create"
            )));
        }
        let learner_labels = field(&obj, "Labels")?
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // Internal always: a lab network has no route out, whatever was asked.
        let body = json!({
            "Name": self.names.object(&name),
            "Driver": "bridge",
            "Internal": true,
            "Options": crate::docker::engine::no_host_address(),
            "Attachable": false,
            "CheckDuplicate": true,
            "Labels": self.own_labels(&learner_labels),
        });
        let _admission = self.admission.lock().await;
        self.within_count("networks", self.scope.budget.networks)
            .await?;
        self.forward(
            Method::POST,
            "/networks/create",
            Some("application/json"),
            full(body.to_string()),
            Relay::Json,
        )
        .await
    }

    pub async fn own_network(&self, engine_name: &str) -> Result<bool, Refused> {
        let (status, found) = self
            .engine_json(Method::GET, &format!("/networks/{engine_name}"), None)
            .await?;
        Ok(status == StatusCode::OK
            && found["Name"].as_str() == Some(engine_name)
            && self.is_child(found.get("Labels")))
    }

    /// The id of the session's network `reference` (its name or id).
    async fn own_network_id(&self, reference: &str) -> Result<String, Refused> {
        for candidate in [self.names.object(reference), reference.to_string()] {
            if !valid_object_name(&candidate) {
                continue;
            }
            let (status, found) = self
                .engine_json(Method::GET, &format!("/networks/{candidate}"), None)
                .await?;
            if status == StatusCode::OK && self.is_child(found.get("Labels")) {
                if let Some(id) = found["Id"].as_str() {
                    return Ok(id.to_string());
                }
            }
        }
        Err(Refused::not_found(format!("No such network: {reference}")))
    }

    async fn connect(&self, network: &str, action: &str, body: &[u8]) -> Reply {
        let asked: Value = serde_json::from_slice(body).unwrap_or(json!({}));
        let reference = asked
            .get("Container")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let container = self.own_container(reference).await?;
        let mut out = json!({"Container": container});
        if action == "connect" {
            let (_, found) = self
                .engine_json(Method::GET, &format!("/containers/{container}/json"), None)
                .await?;
            let name = self
                .names
                .strip(found["Name"].as_str().unwrap_or("").trim_start_matches('/'));
            out["EndpointConfig"] = json!({"Aliases": [name]});
        } else if asked.get("Force").and_then(Value::as_bool) == Some(true) {
            out["Force"] = json!(true);
        }
        self.forward(
            Method::POST,
            &format!("/networks/{network}/{action}"),
            Some("application/json"),
            full(out.to_string()),
            Relay::Json,
        )
        .await
    }

    async fn version(&self) -> Reply {
        let (_, engine) = self.engine_json(Method::GET, "/version", None).await?;
        let version = engine["Version"].as_str().unwrap_or("unknown");
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "Platform": {"Name": "Drydock lab endpoint"},
                "Components": [{"Name": "Engine", "Version": version, "Details": {
                    "ApiVersion": API_VERSION, "MinAPIVersion": "1.24", "Os": "linux", "Arch": "amd64",
                    "KernelVersion": "gVisor", "Experimental": "false", "GitCommit": "", "GoVersion": "", "BuildTime": ""
                }}],
                "Version": version,
                "ApiVersion": API_VERSION,
                "MinAPIVersion": "1.24",
                "Os": "linux",
                "Arch": "amd64",
                "KernelVersion": "gVisor",
                "Experimental": false,
            }),
        ))
    }

    async fn info(&self) -> Reply {
        let children = self.children().await?;
        let running = children.iter().filter(|c| c["State"] == "running").count();
        let paused = children.iter().filter(|c| c["State"] == "paused").count();
        let (_, engine) = self.engine_json(Method::GET, "/version", None).await?;
        let images = self.visible_images().await?.len();
        let budget = &self.scope.budget;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "ID": "", "Name": "lab",
                "Containers": children.len(), "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": children.len() - running - paused,
                "Images": images,
                "Driver": "overlay2", "DriverStatus": [],
                "Plugins": {"Volume": ["local"], "Network": ["bridge"], "Log": ["json-file", "local"]},
                "MemoryLimit": true, "SwapLimit": true, "KernelMemory": false, "CpuCfsPeriod": true,
                "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
                "OomKillDisable": true, "IPv4Forwarding": true, "BridgeNfIptables": true,
                "BridgeNfIp6tables": true, "Debug": false, "NFd": 0, "NGoroutines": 0,
                "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
                "KernelVersion": "gVisor", "OperatingSystem": "Drydock lab (a policy proxy of the Docker API)",
                "OSType": "linux", "Architecture": "x86_64", "IndexServerAddress": "",
                "NCPU": budget.cpus.ceil() as i64, "MemTotal": budget.memory_mb << 20,
                "DockerRootDir": "", "ServerVersion": engine["Version"],
                "Runtimes": {"runsc": {"path": "runsc"}}, "DefaultRuntime": "runsc",
                "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": false},
                "SecurityOptions": ["name=seccomp,profile=default"],
                "Labels": [], "ExperimentalBuild": false, "LiveRestoreEnabled": false,
                "Warnings": ["This is a lab: your containers run in gVisor on a private network with no route out, within a budget of "
                    .to_string() + &format!("{} containers and {} MiB.", budget.containers, budget.memory_mb)],
            }),
        ))
    }

    async fn disk_usage(&self) -> Reply {
        let filters = json!({"label": {self.child_label(): true}}).to_string();
        let q = Query::default()
            .set("all", "1")
            .set("size", "1")
            .set("filters", &filters);
        let (_, containers) = self
            .engine_json(Method::GET, &format!("/containers/json{q}"), None)
            .await?;
        let (_, df) = self.engine_json(Method::GET, "/system/df", None).await?;
        let volumes: Vec<Value> = df["Volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| self.is_child(v.get("Labels")))
            .map(|mut v| {
                if v["UsageData"].is_null() {
                    v["UsageData"] = json!({"Size": -1, "RefCount": -1});
                }
                v
            })
            .collect();
        // The images the session sees, with only the names it may see.
        let visible: std::collections::HashMap<String, Value> = self
            .visible_images()
            .await?
            .into_iter()
            .filter_map(|i| Some((i["Id"].as_str()?.to_string(), i["RepoTags"].clone())))
            .collect();
        let images: Vec<Value> = df["Images"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| {
                let tags = visible.get(i["Id"].as_str()?)?;
                i["RepoTags"] = tags.clone();
                i["RepoDigests"] = json!([]);
                Some(i)
            })
            .collect();
        let body = json!({
            "LayersSize": images.iter().filter_map(|i| i["Size"].as_i64()).sum::<i64>(),
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        });
        let bytes = self.names.strip_bytes(body.to_string().as_bytes());
        Ok(json_response(
            StatusCode::OK,
            &serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }
}

/// A JSON request body; an empty one is `{}`, anything else is refused.
fn json_body(body: &[u8], what: &str) -> Result<Value, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Refused::bad(format!(
            "the {what} body is not a JSON object"
        ))),
    }
}

impl SessionProxy {
    /// Refuses a new volume or network once the session holds `limit`
    /// of them (called under the admission lock).
    async fn within_count(&self, kind: &str, limit: usize) -> Result<(), Refused> {
        let filters = json!({"label": {self.child_label(): true}}).to_string();
        let q = Query::default().set("filters", &filters);
        let (_, list) = self
            .engine_json(Method::GET, &format!("/{kind}{q}"), None)
            .await?;
        let count = match kind {
            "volumes" => list["Volumes"].as_array().map_or(0, Vec::len),
            _ => list.as_array().map_or(0, Vec::len),
        };
        if count >= limit {
            return Err(Refused::conflict(format!(
                "this lab holds at most {limit} {kind} (the lab network counts among the networks); remove one first (docker {} rm NAME)",
                kind.trim_end_matches('s')
            )));
        }
        Ok(())
    }

    /// A container list's filters: the session's label added, names made
    /// the engine's, and `before`/`since` (filters or the old query
    /// parameters) resolved to the session's own containers only. Another
    /// session's container answers exactly like a missing one.
    async fn container_filters(&self, query: &Query) -> Result<Value, Refused> {
        let mut filters = query.filters_with(&self.child_label(), &self.names)?;
        for key in ["before", "since"] {
            let mut asked: Vec<String> = match filters.get(key) {
                Some(Value::Object(m)) => m.keys().cloned().collect(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                Some(Value::Null) | None => Vec::new(),
                Some(_) => {
                    return Err(Refused::bad(format!(
                        "the {key} filter is not a list of containers"
                    )))
                }
            };
            asked.extend(query.get(key).filter(|v| !v.is_empty()));
            if asked.is_empty() {
                continue;
            }
            let mut ids = Map::new();
            for reference in asked {
                // Names were already made the engine's: take them back.
                let reference = self.names.strip(&reference);
                ids.insert(self.own_container(&reference).await?, Value::Bool(true));
            }
            filters[key] = Value::Object(ids);
        }
        Ok(filters)
    }

    /// `docker container prune`: the session's stopped containers are
    /// removed one by one with their anonymous volumes (the engine's own
    /// prune would leave those volumes behind, with no label to find them).
    async fn prune_containers(&self, query: &Query) -> Reply {
        let filters = query.filters_with(&self.child_label(), &self.names)?;
        let q = Query::default().set("all", "1").with_filters(filters);
        let (_, list) = self
            .engine_json(Method::GET, &format!("/containers/json{q}"), None)
            .await?;
        let mut deleted = Vec::new();
        for c in list.as_array().cloned().unwrap_or_default() {
            if c["State"] == "running" || c["State"] == "paused" || c["State"] == "restarting" {
                continue;
            }
            if !self.is_child(c.get("Labels")) {
                continue;
            }
            let Some(id) = c["Id"].as_str() else { continue };
            let (status, _) = self
                .engine_json(Method::DELETE, &format!("/containers/{id}?v=1"), None)
                .await?;
            if status.is_success() {
                deleted.push(id.to_string());
            }
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
        ))
    }
}

impl SessionProxy {
    /// `docker top`, answered from `ps` inside the container. The engine's
    /// own answer runs `ps` on the host and picks the container's process
    /// ids from it, but under gVisor those ids are the sandbox's own: it
    /// would list the host's processes with the same numbers.
    async fn top(&self, id: &str) -> Result<Response<OutBody>, Refused> {
        let out = self
            .engine
            .exec(id, &["ps", "-o", "pid,user,args"], Some("0:0"))
            .await
            .map_err(|e| match e.to_string() {
                m if m.contains("is not running") => {
                    Refused::conflict("the container is not running")
                }
                m => Refused::engine(m),
            })?;
        if out.exit_code != Some(0) {
            return Err(Refused::conflict(
                "docker top runs ps inside the container in this lab, and this container has no working ps",
            ));
        }
        let mut lines = out.stdout.lines().filter(|l| !l.trim().is_empty());
        let titles: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let columns = titles.len().max(1);
        let processes: Vec<Vec<String>> = lines
            .map(|line| {
                let mut fields: Vec<String> = line
                    .split_whitespace()
                    .take(columns - 1)
                    .map(str::to_string)
                    .collect();
                // The last column (the command line) keeps its spaces.
                let rest = line
                    .split_whitespace()
                    .skip(columns - 1)
                    .collect::<Vec<_>>()
                    .join(" ");
                fields.push(rest);
                fields
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({"Titles": titles, "Processes": processes}),
        ))
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of
/// characters other than `/` (as in Docker's reference filter).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i) && !tail[..i].contains('/'))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// A container name like Docker's own (`brave_curie`).
fn random_name() -> String {
    const ADJECTIVES: &[&str] = &[
        "brave", "calm", "eager", "keen", "quiet", "swift", "tidy", "bold", "wise", "lucid",
    ];
    const NAMES: &[&str] = &[
        "curie", "hopper", "lovelace", "turing", "noether", "ritchie", "hamilton", "knuth",
        "liskov", "torvalds",
    ];
    let n = uuid::Uuid::new_v4().as_u128();
    format!(
        "{}_{}_{}",
        ADJECTIVES[(n % 10) as usize],
        NAMES[((n / 10) % 10) as usize],
        (n / 100) % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::{glob, Query, SessionNames};

    #[test]
    fn filters_keep_the_session_label_and_name_the_learners_objects() {
        let names = SessionNames::of("0123456789abcdef");
        let query = Query::parse(
            "filters=%7B%22container%22%3A%7B%22web%22%3Atrue%7D%2C%22label%22%3A%5B%22app%3D1%22%5D%2C%22type%22%3A%5B%22container%22%5D%7D",
        );
        let filters = query.filters_with("drydock.child-of=s", &names).unwrap();
        assert_eq!(
            filters["container"],
            serde_json::json!({"dl0123456789ab_web": true})
        );
        assert_eq!(filters["type"], serde_json::json!(["container"]));
        assert_eq!(filters["label"]["app=1"], true);
        assert_eq!(filters["label"]["drydock.child-of=s"], true);
        let by_id = Query::parse("filters=%7B%22container%22%3A%5B%22a1b2c3d4e5f6a7b8%22%5D%7D")
            .filters_with("l", &names)
            .unwrap();
        assert_eq!(by_id["container"], serde_json::json!(["a1b2c3d4e5f6a7b8"]));
    }

    #[test]
    fn reference_globs_match_like_dockers() {
        assert!(glob("mine", "mine"));
        assert!(!glob("mine", "mine2"));
        assert!(glob("drydock/*", "drydock/busybox"));
        assert!(!glob("*", "drydock/busybox"), "* stops at /");
        assert!(glob("hello:*", "hello:1"));
        assert!(glob("*/busy*", "drydock/busybox"));
        assert!(!glob("", "x"));
    }
}
