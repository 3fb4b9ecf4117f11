//! Labs with `docker = true`: the lab container gets the Docker endpoint of
//! its session (a policy proxy, see `docker::proxy`) mounted at
//! `/run/drydock`, and a private internal network on which the learner's
//! own containers find it (as `lab`) and each other. Whatever the session
//! made on the engine goes when it ends, is reset, expires or is reaped,
//! and after a crash at the next reconciliation.

use std::{collections::HashSet, sync::Arc};

use drydock_app::api_labs::PreviewLink;

use crate::{
    config::Config,
    db::{self, Db},
    docker::{
        engine::Engine,
        labels,
        policy::{SandboxNetwork, SandboxPolicy},
        proxy::{Proxies, ProxyLedger, ProxyScope, SessionNames, LAB_NETWORK, MOUNT_POINT},
        runtime,
    },
    error::{Error, Result},
};

/// The lab capability's side of the proxy: images made and refusals, in
/// the database.
struct DbLedger {
    db: Db,
}

#[async_trait::async_trait]
impl ProxyLedger for DbLedger {
    async fn image_made(&self, session: &str, id: &str) {
        if let Err(err) = db::lab_images::record(&self.db, session, id).await {
            tracing::error!(session, image = id, error = %err, "could not record a lab's image");
        }
    }

    async fn images_made(&self, session: &str) -> HashSet<String> {
        match db::lab_images::of_session(&self.db, session).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(err) => {
                tracing::error!(session, error = %err, "could not read a lab's images");
                HashSet::new()
            }
        }
    }

    async fn refused(&self, owner: i64, session: &str, what: &str) {
        let detail = format!("lab session {session}: {what}");
        if let Err(err) = db::audit::record(
            &self.db,
            db::audit::AuditEvent::LabDockerRefused,
            Some(owner),
            None,
            None,
            &detail,
        )
        .await
        {
            tracing::error!(session, error = %err, "could not audit a refused Docker request");
        }
    }

    async fn forget(&self, session: &str) {
        if let Err(err) = db::lab_images::forget(&self.db, session).await {
            tracing::error!(session, error = %err, "could not forget a lab's images");
        }
    }

    async fn sessions(&self) -> HashSet<String> {
        db::lab_images::sessions(&self.db)
            .await
            .map(|s| s.into_iter().collect())
            .unwrap_or_default()
    }
}

/// The Docker endpoints of this server's labs.
pub struct LabDocker {
    db: Db,
    proxies: Proxies,
    engine: Arc<Engine>,
    config: Arc<Config>,
}

impl LabDocker {
    pub fn new(db: Db, engine: Arc<Engine>, config: Arc<Config>) -> Self {
        let proxies = Proxies::new(
            engine.clone(),
            engine.address(),
            config.labs.socket_dir.clone(),
            Arc::new(DbLedger { db: db.clone() }),
        );
        Self {
            db,
            proxies,
            engine,
            config,
        }
    }

    /// Why labs with Docker cannot run on this server, if so (for the
    /// learner who starts one, `/readyz` and `drydock serve`).
    pub async fn unavailable(&self) -> Result<Option<String>> {
        Ok(self.readiness().await?.0)
    }

    /// From one look at the engine: why labs with Docker cannot run (if
    /// so), and whether their builds may run.
    async fn readiness(&self) -> Result<(Option<String>, std::result::Result<(), String>)> {
        let (offered, default) = self.engine.runtime_facts().await?;
        let labs = &self.config.labs;
        let why = self.proxies.unavailable().or_else(|| {
            runtime::docker_labs_unavailable(&offered, &labs.docker_runtime, &labs.child_runtime)
        });
        let builds =
            runtime::builds_sandboxed(default.as_deref(), &self.config.grading.build_runtime);
        Ok((why, builds))
    }

    fn scope(
        &self,
        session: &str,
        owner: i64,
        builds_allowed: std::result::Result<(), String>,
    ) -> ProxyScope {
        ProxyScope {
            session: session.to_string(),
            owner,
            instance: self.config.labs.instance.clone(),
            child_runtime: Some(self.config.labs.child_runtime.clone()),
            budget: self.config.labs.docker_budget.clone(),
            builds_allowed,
        }
    }

    /// Opens `session`'s endpoint and network, and fits `policy` (the lab
    /// container's sandbox) to them: the runtime that may reach the host
    /// socket, the session's network, the endpoint mounted read-only.
    pub async fn equip(&self, policy: &mut SandboxPolicy, session: &str, owner: i64) -> Result<()> {
        let (why, builds) = self.readiness().await?;
        if let Some(why) = why {
            return Err(Error::Unavailable(why));
        }
        let network = self.network(session).await?;
        let dir = self
            .proxies
            .open(self.scope(session, owner, builds))
            .await?;
        policy.runtime = Some(self.config.labs.docker_runtime.clone());
        policy.network = SandboxNetwork::Internal(network);
        policy.network_aliases = vec![LAB_NETWORK.to_string()];
        policy.read_only_binds = vec![(dir.display().to_string(), MOUNT_POINT.to_string())];
        Ok(())
    }

    /// The session's private network (no route out), created if missing.
    async fn network(&self, session: &str) -> Result<String> {
        let network = SessionNames::of(session).network();
        self.engine
            .ensure_internal_network(
                &network,
                &[
                    (labels::CHILD_OF, session),
                    (labels::INSTANCE, &self.config.labs.instance),
                ],
            )
            .await?;
        Ok(network)
    }

    /// Everything `session` made goes; with `close`, its endpoint too (a
    /// reset keeps it, the fresh container mounts the same directory).
    /// Failures are logged: the next reconciliation tries again.
    pub async fn clear(&self, session: &str, close: bool) {
        if close {
            self.proxies.close(session);
        }
        match self.proxies.purge(session).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(session, removed = n, "lab's Docker objects removed"),
            Err(err) => {
                tracing::warn!(session, error = %err, "could not remove all of a lab's Docker objects")
            }
        }
    }

    /// After a restart: reopens the endpoints of `running` sessions
    /// (session, owner) and removes what every other session left.
    pub async fn reconcile(&self, running: &[(String, i64)]) -> Result<()> {
        let keep: HashSet<String> = running.iter().map(|(s, _)| s.clone()).collect();
        let reopen: Vec<&(String, i64)> = running
            .iter()
            .filter(|(s, _)| !self.proxies.is_open(s))
            .collect();
        if !reopen.is_empty() {
            let (_, builds) = self.readiness().await?;
            for (session, owner) in reopen {
                self.network(session).await?;
                self.proxies
                    .open(self.scope(session, *owner, builds.clone()))
                    .await?;
            }
        }
        let mut cleared = 0;
        for session in self.proxies.owners(&self.config.labs.instance).await? {
            if !keep.contains(&session) {
                self.clear(&session, true).await;
                cleared += 1;
            }
        }
        let prefixes: HashSet<String> = keep
            .iter()
            .map(|s| SessionNames::of(s).prefix().to_string())
            .collect();
        // Tags of ended sessions: only of sessions this server knows (other
        // installations may share the engine).
        for (prefix, tags) in self.proxies.stray_tags(&prefixes).await? {
            let ours = db::labs::by_namespace(&self.db, &prefix[2..]).await?;
            if ours.is_none_or(|s| s.status == db::labs::LabStatus::Running) {
                continue;
            }
            for tag in tags {
                if let Err(err) = self.proxies.remove_tag(&tag).await {
                    tracing::warn!(tag, error = %err, "could not remove a stray lab image");
                }
            }
        }
        // Socket directories of sessions that are over (the directory is
        // this installation's own).
        if let Ok(entries) = std::fs::read_dir(self.proxies.root()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if !prefixes.contains(&name) && crate::docker::proxy::is_session_prefix(&name) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        if cleared > 0 {
            tracing::info!(sessions = cleared, "Docker objects of ended labs removed");
        }
        Ok(())
    }

    /// The ports the learner published in `session` (`docker run -p`),
    /// as links the lab panel shows.
    pub async fn previews(&self, session: &str) -> Vec<PreviewLink> {
        let names = SessionNames::of(session);
        let Ok(children) = self
            .engine
            .list_labelled(&[(labels::CHILD_OF, session)])
            .await
        else {
            return Vec::new();
        };
        let mut links = Vec::new();
        for child in children {
            if child
                .state
                .as_ref()
                .is_none_or(|s| s.to_string() != "running")
            {
                continue;
            }
            let ports = child
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::PORTS))
                .cloned()
                .unwrap_or_default();
            let Some(name) = child.names.as_ref().and_then(|n| n.first()) else {
                continue;
            };
            let name = names.strip(name.trim_start_matches('/'));
            for port in ports
                .split(',')
                .filter_map(|p| p.split('/').next()?.parse::<u16>().ok())
            {
                links.push(PreviewLink {
                    url: format!("/labs/{session}/preview/{name}/{port}/"),
                    container: name.clone(),
                    port,
                });
            }
        }
        links.sort_by(|a, b| (&a.container, a.port).cmp(&(&b.container, b.port)));
        links.dedup();
        links
    }

    /// Sends `request` (raw HTTP) to port `port` of the learner's container
    /// `name` and returns the raw answer. The way in is an exec of `nc`
    /// inside the container, never a connection to its address; only a
    /// port the learner published is opened.
    pub async fn relay(
        &self,
        session: &str,
        name: &str,
        port: u16,
        request: &[u8],
    ) -> Result<Vec<u8>> {
        let gone = || {
            Error::NotFound(format!(
                "No container {name} publishes port {port} in this lab."
            ))
        };
        if !crate::docker::proxy::valid_object_name(name) {
            return Err(gone());
        }
        let engine_name = SessionNames::of(session).object(name);
        let info = match self.engine.inspect(&engine_name).await {
            Ok(info) => info,
            Err(_) => return Err(gone()),
        };
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let published = labels.get(labels::PORTS).is_some_and(|ports| {
            ports
                .split(',')
                .any(|p| p.split('/').next() == Some(&port.to_string()))
        });
        if labels.get(labels::CHILD_OF).map(String::as_str) != Some(session) || !published {
            return Err(gone());
        }
        if info.state.and_then(|s| s.running) != Some(true) {
            return Err(Error::Conflict(format!(
                "The container {name} is not running; start it with docker start {name}."
            )));
        }
        let target = port.to_string();
        self.engine
            .exec_piped(&engine_name, &["nc", "127.0.0.1", &target], request, PREVIEW_CAP, PREVIEW_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::debug!(session, name, port, error = %e, "preview relay failed");
                Error::Unavailable(format!(
                    "The preview could not reach port {port} of {name}: the relay runs nc inside the container (images built on drydock/busybox have it) and the server must answer within {} s.",
                    PREVIEW_TIMEOUT.as_secs()
                ))
            })
    }
}

/// The largest preview answer relayed.
const PREVIEW_CAP: usize = 8 << 20;
/// How long a preview answer may take.
const PREVIEW_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
