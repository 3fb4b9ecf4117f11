//! Lab sessions from start to end: admission (per-learner quota, global
//! capacity, the queue), containers with the lab's sandbox, reset, extension,
//! the reaper that enforces time limits, and reconciliation after a restart.
//!
//! The database is the source of truth. A container is kept only while a
//! session that is not over points at it (or it waits in the warm pool).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use drydock_app::api_labs::{LabSessionView, LabSummary};
use tokio::sync::{Mutex as AsyncMutex, Notify};

use super::{
    docker::LabDocker,
    terminal::{ShellSpec, TerminalHub},
};
use crate::{
    config::Config,
    content::{model::Lab, Catalog},
    db::{
        self,
        labs::{LabSession, LabStatus},
        now_ms, Db,
    },
    docker::{
        engine::{Engine, EngineError},
        labels,
        policy::{SandboxLabels, SandboxLimits, SandboxNetwork, SandboxPolicy},
        runtime::RuntimeSelection,
        shell,
    },
    error::{Error, Result},
};

/// The command that keeps a lab container alive; the reaper ends it.
const IDLE_CMD: &[&str] = &["sleep", "2147483647"];
/// A lab's files and setup get this long to be in place.
const SEED_TIMEOUT: Duration = Duration::from_secs(60);
/// A start that has not finished after this long is considered failed.
const STARTING_TIMEOUT_MS: i64 = 120_000;

/// What asking for a lab led to.
#[derive(Debug, Clone)]
pub enum Admission {
    /// A new container was started for this session.
    Started(LabSession),
    /// The learner already had this lab (running, starting or queued).
    Existing(LabSession),
    /// No slot free: queued.
    Queued(LabSession),
    /// The learner's quota is used by this other session.
    Busy(LabSession),
}

/// What asking for a lab led to, as the learner sees it: the one answer
/// both the JSON API and the UI give.
#[derive(Debug, Clone)]
pub enum StartOutcome {
    /// A container was started for this request.
    Started(LabSessionView),
    /// The learner already had this lab, running (or starting).
    AlreadyRunning(LabSessionView),
    /// Every slot is taken: the learner waits in line.
    Queued(LabSessionView),
    /// The learner's quota is used by this other lab.
    Busy(LabSessionView),
}

/// A warm container and the terminal whose shell already runs in it, so a
/// learner who takes it finds the prompt waiting.
struct Pooled {
    container: String,
    hub: Arc<TerminalHub>,
}

/// A container ready for a session, with its terminal when it came from the
/// warm pool.
struct Launched {
    container: String,
    hub: Option<Arc<TerminalHub>>,
}

/// The lab service; one per server, shared behind an `Arc`.
pub struct LabService {
    db: Db,
    engine: Arc<Engine>,
    catalog: Arc<Catalog>,
    config: Arc<Config>,
    runtime: RuntimeSelection,
    /// The Docker endpoints of labs with `docker = true`.
    docker: LabDocker,
    /// Serialises admission decisions (quota and capacity checks).
    admit: AsyncMutex<()>,
    /// Serialises container swaps with the reaper, so a reset in progress
    /// never looks like a container that vanished.
    lifecycle: AsyncMutex<()>,
    hubs: Mutex<HashMap<String, Arc<TerminalHub>>>,
    /// Turns for creating and seeding containers (`labs.start_concurrency`).
    starts: tokio::sync::Semaphore,
    /// Warm containers per lab id, each with its login shell already open.
    pool: Mutex<HashMap<String, Vec<Pooled>>>,
    /// Wakes the background loop (a slot freed, a shell ended).
    wake: Arc<Notify>,
    /// Set when the server stops serving: the background loop ends.
    stopping: std::sync::atomic::AtomicBool,
}

impl LabService {
    pub fn new(db: Db, engine: Arc<Engine>, catalog: Arc<Catalog>, config: Arc<Config>) -> Self {
        let docker = LabDocker::new(db.clone(), engine.clone(), config.clone());
        let starts = tokio::sync::Semaphore::new(config.labs.start_concurrency.max(1));
        Self {
            db,
            engine,
            catalog,
            config,
            runtime: RuntimeSelection::default(),
            docker,
            admit: AsyncMutex::new(()),
            lifecycle: AsyncMutex::new(()),
            hubs: Mutex::new(HashMap::new()),
            starts,
            pool: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Why labs with Docker cannot run on this server, if so.
    pub async fn docker_unavailable(&self) -> Result<Option<String>> {
        self.docker.unavailable().await
    }

    /// Lab containers this server runs at once.
    pub fn capacity(&self) -> usize {
        self.config.labs.capacity
    }

    /// The lab definition `id`.
    pub fn lab(&self, id: &str) -> Option<&Lab> {
        self.catalog.labs.get(id)
    }

    /// Asks for lab `lab_id` on behalf of `user_id`. With `replace`, the
    /// learner's other labs are stopped to make room.
    pub async fn start(&self, user_id: i64, lab_id: &str, replace: bool) -> Result<Admission> {
        let lab = self
            .lab(lab_id)
            .ok_or_else(|| Error::NotFound(format!("There is no lab called {lab_id:?}.")))?
            .clone();
        let guard = self.admit.lock().await;
        let mine = db::labs::active_for_user(&self.db, user_id).await?;
        if let Some(same) = mine.iter().find(|s| s.lab == lab_id) {
            return Ok(Admission::Existing(same.clone()));
        }
        let per_user = self.config.labs.per_user.max(1);
        if mine.len() >= per_user {
            if !replace {
                return Ok(Admission::Busy(mine[0].clone()));
            }
            for other in &mine {
                self.finish(other, "Stopped to start another lab.").await?;
            }
        }
        let active = db::labs::active(&self.db).await?;
        let guests = self.guests_among(&active).await?;
        let guest = self.is_guest(user_id).await?;
        let queued = active
            .iter()
            .any(|s| s.status == LabStatus::Queued && (guest || !guests.contains(&s.user_id)));
        let holding = active
            .iter()
            .filter(|s| matches!(s.status, LabStatus::Starting | LabStatus::Running))
            .count();
        if guest
            && active
                .iter()
                .filter(|s| s.status == LabStatus::Queued && guests.contains(&s.user_id))
                .count()
                >= (self.config.labs.capacity * 2).max(20)
        {
            return Err(Error::Unavailable(
                "Every lab is taken and many visitors are waiting. Register (it takes a minute) or try again later.".into(),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        if !self
            .has_room(user_id, guest, &active, &guests, queued, holding)
            .await?
        {
            let session =
                db::labs::insert(&self.db, &id, user_id, lab_id, LabStatus::Queued).await?;
            tracing::info!(session = %id, lab = lab_id, user_id, "lab queued");
            return Ok(Admission::Queued(session));
        }
        db::labs::insert(&self.db, &id, user_id, lab_id, LabStatus::Starting).await?;
        drop(guard);
        self.bring_up(&id, user_id, &lab).await?;
        let session = db::labs::by_id(&self.db, &id)
            .await?
            .ok_or_else(|| Error::NotFound("The lab session vanished while starting.".into()))?;
        Ok(Admission::Started(session))
    }

    /// [`LabService::start`], answered with the views the learner sees.
    pub async fn request(&self, user_id: i64, lab_id: &str, replace: bool) -> Result<StartOutcome> {
        Ok(match self.start(user_id, lab_id, replace).await? {
            Admission::Started(s) => StartOutcome::Started(self.view(&s).await?),
            Admission::Existing(s) | Admission::Queued(s) if s.status == LabStatus::Queued => {
                StartOutcome::Queued(self.view(&s).await?)
            }
            Admission::Existing(s) | Admission::Queued(s) => {
                StartOutcome::AlreadyRunning(self.view(&s).await?)
            }
            Admission::Busy(other) => StartOutcome::Busy(self.view(&other).await?),
        })
    }

    /// Starts a container for a session in `starting` state and records it;
    /// on failure the session ends with the reason.
    async fn bring_up(&self, id: &str, user_id: i64, lab: &Lab) -> Result<String> {
        let started = std::time::Instant::now();
        let launched = {
            let _turn = self.starts.acquire().await;
            self.launch(id, user_id, lab).await
        };
        match launched {
            Ok(Launched { container, hub }) => {
                // A pooled shell is the session's terminal before the session
                // is marked running, so no browser gets a second one.
                if let Some(hub) = &hub {
                    hub.adopt(id);
                    self.hubs
                        .lock()
                        .expect("hub map lock")
                        .insert(id.to_string(), hub.clone());
                }
                db::labs::set_running(
                    &self.db,
                    id,
                    &container,
                    i64::from(lab.def.time_limit_minutes) * 60_000,
                )
                .await?;
                tracing::info!(session = id, lab = %lab.id, user_id, ms = started.elapsed().as_millis() as u64, warm = hub.is_some(), "lab running");
                // Otherwise open the shell now, while the browser is still
                // connecting, so the prompt is waiting when the terminal attaches.
                let session = match hub {
                    Some(_) => None,
                    None => db::labs::by_id(&self.db, id).await?,
                };
                if let Some(session) = session {
                    if let Ok(hub) = self.hub(&session) {
                        tokio::spawn(async move {
                            if let Err(err) = hub.attach().await {
                                tracing::debug!(error = %err, "could not open the shell early");
                            }
                        });
                    }
                }
                Ok(container)
            }
            Err(err) => {
                tracing::error!(session = id, lab = %lab.id, error = %err, "lab failed to start");
                db::labs::end(
                    &self.db,
                    id,
                    "The lab could not be started. Try again in a minute.",
                )
                .await?;
                self.wake.notify_one();
                Err(err)
            }
        }
    }

    /// The session `id` if it belongs to `user_id`. Anyone else learns
    /// nothing (not even that it exists); the attempt is logged.
    pub async fn owned(&self, user_id: i64, id: &str) -> Result<LabSession> {
        match db::labs::by_id(&self.db, id).await? {
            Some(s) if s.user_id == user_id => Ok(s),
            found => {
                if found.is_some() {
                    tracing::warn!(
                        session = id,
                        user_id,
                        "refused: lab session of another user"
                    );
                    db::audit::record(
                        &self.db,
                        db::audit::AuditEvent::LabRefused,
                        Some(user_id),
                        None,
                        None,
                        &format!("lab session {id}"),
                    )
                    .await?;
                }
                Err(Error::NotFound("No such lab session.".into()))
            }
        }
    }

    /// The session for its owner; a queued learner asking keeps their place.
    pub async fn session(&self, user_id: i64, id: &str) -> Result<LabSession> {
        let session = self.owned(user_id, id).await?;
        if session.status == LabStatus::Queued {
            db::labs::touch(&self.db, id).await?;
        }
        Ok(session)
    }

    /// The learner's sessions: active ones, then up to ten ended ones.
    pub async fn sessions_of(&self, user_id: i64) -> Result<Vec<LabSession>> {
        let mut all = db::labs::active_for_user(&self.db, user_id).await?;
        let recent = db::labs::recent_for_user(&self.db, user_id, 10).await?;
        all.extend(recent.into_iter().filter(|s| s.status == LabStatus::Ended));
        Ok(all)
    }

    /// Stops a session and removes its container.
    pub async fn stop(&self, user_id: i64, id: &str) -> Result<()> {
        let session = self.owned(user_id, id).await?;
        self.finish(&session, "You stopped the lab.").await
    }

    /// Replaces the container with a fresh one; the time limit is kept.
    pub async fn reset(&self, user_id: i64, id: &str) -> Result<LabSession> {
        let _swap = self.lifecycle.lock().await;
        let session = self.owned(user_id, id).await?;
        if session.status != LabStatus::Running {
            return Err(Error::Conflict(
                "Only a running lab can be reset. Start it again instead.".into(),
            ));
        }
        self.replace_container(&session, "The lab was reset: this is a fresh container.")
            .await?;
        self.owned(user_id, id).await
    }

    /// Adds the lab's extra time, once.
    pub async fn extend(&self, user_id: i64, id: &str) -> Result<LabSession> {
        let session = self.owned(user_id, id).await?;
        let lab = self
            .lab(&session.lab)
            .ok_or_else(|| Error::NotFound("This lab no longer exists.".into()))?;
        if lab.def.extend_minutes == 0 {
            return Err(Error::Conflict("This lab cannot be extended.".into()));
        }
        let extra = i64::from(lab.def.extend_minutes) * 60_000;
        if !db::labs::extend(&self.db, id, extra).await? {
            return Err(Error::Conflict(if session.extended {
                "This lab has already been extended once.".into()
            } else {
                "Only a running lab can be extended.".into()
            }));
        }
        self.owned(user_id, id).await
    }

    /// Place in the queue (1 = next), for a queued session.
    pub async fn position(&self, session: &LabSession) -> Result<Option<usize>> {
        if session.status != LabStatus::Queued {
            return Ok(None);
        }
        let active = db::labs::active(&self.db).await?;
        Ok(active
            .iter()
            .filter(|s| s.status == LabStatus::Queued)
            .position(|s| s.id == session.id)
            .map(|p| p + 1))
    }

    /// The terminal of a running session that belongs to `user_id`.
    pub async fn terminal(&self, user_id: i64, id: &str) -> Result<Arc<TerminalHub>> {
        let session = self.owned(user_id, id).await?;
        self.hub(&session)
    }

    fn hub(&self, session: &LabSession) -> Result<Arc<TerminalHub>> {
        let (LabStatus::Running, Some(container)) = (session.status, &session.container_id) else {
            return Err(Error::Conflict(match session.status {
                LabStatus::Queued | LabStatus::Starting => "The lab is not ready yet.".into(),
                _ => "This lab has ended. Start it again to get a terminal.".into(),
            }));
        };
        let lab = self
            .lab(&session.lab)
            .ok_or_else(|| Error::NotFound("This lab no longer exists.".into()))?;
        let mut hubs = self.hubs.lock().expect("hub map lock");
        let hub = hubs
            .entry(session.id.clone())
            .or_insert_with(|| self.new_hub(&session.id, container, lab));
        Ok(hub.clone())
    }

    /// Views of the learner's sessions: active ones, then recently ended ones.
    pub async fn views_of(&self, user_id: i64) -> Result<Vec<LabSessionView>> {
        let mut views = Vec::new();
        for s in self.sessions_of(user_id).await? {
            views.push(self.view(&s).await?);
        }
        Ok(views)
    }

    /// The API/UI view of a session.
    pub async fn view(&self, session: &LabSession) -> Result<LabSessionView> {
        let lab = self.lab(&session.lab);
        let position = self.position(session).await?;
        let extend_minutes = lab.map_or(0, |l| l.def.extend_minutes);
        Ok(LabSessionView {
            id: session.id.clone(),
            lab: session.lab.clone(),
            title: lab.map_or_else(|| session.lab.clone(), |l| l.def.title.clone()),
            status: session.status.as_str().to_string(),
            created_at: session.created_at,
            started_at: session.started_at,
            expires_at: session.expires_at,
            position,
            extended: session.extended,
            can_extend: extend_minutes > 0
                && !session.extended
                && session.status == LabStatus::Running,
            extend_minutes,
            idle_minutes: lab.map_or(0, |l| l.def.idle_minutes),
            end_reason: session.end_reason.clone(),
            previews: if session.status == LabStatus::Running && lab.is_some_and(|l| l.def.docker) {
                self.docker.previews(&session.id).await
            } else {
                Vec::new()
            },
        })
    }

    /// Relays one HTTP request to port `port` of the learner's container
    /// `container` in running session `session` (access checked by the caller).
    pub async fn preview(
        &self,
        session: &LabSession,
        container: &str,
        port: u16,
        request: &[u8],
    ) -> Result<Vec<u8>> {
        if session.status != LabStatus::Running
            || !self.lab(&session.lab).is_some_and(|l| l.def.docker)
        {
            return Err(Error::NotFound("This lab has no preview running.".into()));
        }
        self.docker
            .relay(&session.id, container, port, request)
            .await
    }

    /// The catalog view of a lab.
    pub fn summary(&self, lab: &Lab) -> LabSummary {
        let limits = self.limits_for(lab);
        LabSummary {
            id: lab.id.clone(),
            title: lab.def.title.clone(),
            summary: lab.def.summary.clone(),
            welcome: lab.def.welcome.trim().to_string(),
            image: lab.image_tag.clone(),
            time_limit_minutes: lab.def.time_limit_minutes,
            idle_minutes: lab.def.idle_minutes,
            extend_minutes: lab.def.extend_minutes,
            memory_mb: limits.memory_mb,
            cpus: limits.cpus,
            pids: limits.pids,
            network: match lab.def.network {
                crate::content::model::LabNetworkKind::None => "none".into(),
                crate::content::model::LabNetworkKind::Internal => "internal".into(),
            },
            docker: lab.def.docker,
            images: if lab.def.docker {
                self.catalog.images.clone()
            } else {
                Vec::new()
            },
            rules: if lab.def.docker {
                crate::docker::proxy::rules()
            } else {
                Vec::new()
            },
            lessons: lab
                .lessons
                .iter()
                .map(|key| {
                    let title = key
                        .split_once('/')
                        .and_then(|(t, s)| self.catalog.lesson(t, s))
                        .map_or_else(|| key.clone(), |l| l.meta.title.clone());
                    (format!("/lessons/{key}"), title)
                })
                .collect(),
        }
    }

    fn limits_for(&self, lab: &Lab) -> SandboxLimits {
        let base = &self.config.sandbox;
        let r = &lab.def.resources;
        SandboxLimits {
            memory_mb: r.memory_mb.unwrap_or(base.memory_mb),
            cpus: r.cpus.unwrap_or(base.cpus),
            pids: r.pids.unwrap_or(base.pids),
            tmpfs_mb: r.tmpfs_mb.unwrap_or(base.tmpfs_mb),
            nofile: base.nofile,
        }
    }

    async fn runtime(&self) -> Result<Option<String>> {
        Ok(self.runtime.get(self.config.runtime, &self.engine).await?)
    }

    /// The sandbox for one container of `lab`.
    async fn policy(&self, lab: &Lab, owner: &str, session: &str) -> Result<SandboxPolicy> {
        let labels = SandboxLabels {
            owner: owner.to_string(),
            lab: lab.id.clone(),
            session: session.to_string(),
        };
        let mut policy = SandboxPolicy::strict(labels, self.limits_for(lab), self.runtime().await?);
        policy
            .extra_labels
            .push((labels::INSTANCE.into(), self.config.labs.instance.clone()));
        policy.user = lab.def.user.clone();
        policy.cap_add = lab.def.cap_add.clone();
        policy.env = lab
            .def
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if lab.def.network == crate::content::model::LabNetworkKind::Internal {
            let network = format!("drydock-lab-{}", lab.id);
            self.engine.ensure_internal_network(&network, &[]).await?;
            policy.network = SandboxNetwork::Internal(network);
        }
        Ok(policy)
    }

    /// A ready container for session `id`: from the warm pool when one is
    /// waiting, otherwise a new one, seeded with the lab's files and setup.
    async fn launch(&self, id: &str, user_id: i64, lab: &Lab) -> Result<Launched> {
        // A lab with Docker is fitted to its session: never pooled.
        let pooled = if lab.def.docker {
            None
        } else {
            self.take_pooled(&lab.id).await
        };
        if let Some(Pooled { container, hub }) = pooled {
            // The name is for people reading `docker ps`; nothing waits for it.
            let (engine, name, target) = (
                self.engine.clone(),
                format!("drydock-{id}"),
                container.clone(),
            );
            tokio::spawn(async move {
                if let Err(err) = engine.rename(&target, &name).await {
                    tracing::debug!(error = %err, "could not rename a pooled container");
                }
            });
            return Ok(Launched {
                container,
                hub: Some(hub),
            });
        }
        let mut policy = self.policy(lab, &user_id.to_string(), id).await?;
        if lab.def.docker {
            self.docker.equip(&mut policy, id, user_id).await?;
        }
        policy.extra_labels.push((
            labels::EXPIRES_AT.into(),
            (now_ms() + i64::from(lab.def.time_limit_minutes) * 60_000).to_string(),
        ));
        self.start_seeded(&policy, lab, id).await
    }

    /// A terminal for `container` of `lab`, named after `session`.
    fn new_hub(&self, session: &str, container: &str, lab: &Lab) -> Arc<TerminalHub> {
        TerminalHub::new(
            session,
            container,
            self.engine.clone(),
            self.db.clone(),
            shell_spec(lab),
            self.config.labs.scrollback_kib * 1024,
            self.wake.clone(),
        )
    }

    /// Starts a container of `lab` under `policy`, with its terminal (named
    /// `session`), and waits until the lab's files are written and its setup
    /// has run. Both happen in the container's own first process, as the lab
    /// user, before it settles into idling: no exec round trip on the way to
    /// the prompt. The process prints a one-time marker when done, read from
    /// the container's output through the engine; a failing step ends the
    /// container and its output becomes the error.
    ///
    /// The login shell opens while the setup runs (nobody can type into it
    /// before the session is running, which waits for the setup), unless the
    /// lab may write a shell start-up file: then it opens after the setup,
    /// and the hub is left to open it (`hub: None`).
    async fn start_seeded(
        &self,
        policy: &SandboxPolicy,
        lab: &Lab,
        session: &str,
    ) -> Result<Launched> {
        let script = seed_script(lab);
        let marker = format!("drydock-seeded-{}", uuid::Uuid::new_v4().simple());
        let first = script
            .as_ref()
            .map(|script| format!("{script}echo {marker}\nexec {}\n", IDLE_CMD.join(" ")));
        let cmd: Vec<&str> = match &first {
            Some(first) => vec!["/bin/sh", "-c", first],
            None => IDLE_CMD.to_vec(),
        };
        let container = self
            .engine
            .start_sandbox(policy, &lab.image_tag, &cmd)
            .await?;
        let hub =
            (!writes_shell_startup_files(lab)).then(|| self.new_hub(session, &container, lab));
        let open = async {
            if let Some(hub) = &hub {
                if let Err(err) = hub.attach().await {
                    tracing::debug!(error = %err, "could not open the shell early");
                }
            }
        };
        let seeded = async {
            if first.is_none() {
                return Ok(Ok(()));
            }
            self.engine
                .wait_for_output(&container, &marker, SEED_TIMEOUT)
                .await
        };
        let (_, seeded) = tokio::join!(open, seeded);
        let failure = match seeded {
            Ok(Ok(())) => return Ok(Launched { container, hub }),
            Ok(Err(output)) => Error::Engine(EngineError::Build(format!(
                "lab {:?} setup failed: {}",
                lab.id,
                tail_of(output.trim(), 600)
            ))),
            Err(err) => err.into(),
        };
        if let Some(hub) = hub {
            hub.close("").await;
        }
        let _ = self.engine.remove(&container).await;
        Err(failure)
    }

    async fn take_pooled(&self, lab: &str) -> Option<Pooled> {
        loop {
            let candidate = self.pool.lock().expect("pool lock").get_mut(lab)?.pop()?;
            // A shell still running in it proves the container runs: no
            // engine round trip on the learner's clock.
            if candidate.hub.has_shell().await {
                self.wake.notify_one();
                return Some(candidate);
            }
            match self.engine.inspect(&candidate.container).await {
                Ok(info) if info.state.as_ref().and_then(|s| s.running) == Some(true) => {
                    self.wake.notify_one();
                    return Some(candidate);
                }
                _ => {
                    candidate.hub.close("").await;
                    let _ = self.engine.remove(&candidate.container).await;
                }
            }
        }
    }

    /// Swaps a running session's container for a fresh one (with `lifecycle` held).
    async fn replace_container(&self, session: &LabSession, note: &str) -> Result<()> {
        let lab = self
            .lab(&session.lab)
            .ok_or_else(|| Error::NotFound("This lab no longer exists.".into()))?
            .clone();
        // Browsers that connect meanwhile wait for the new container.
        let hub = self
            .hubs
            .lock()
            .expect("hub map lock")
            .get(&session.id)
            .cloned();
        let _switching = match &hub {
            Some(hub) => Some(hub.switching().await),
            None => None,
        };
        if let Some(old) = &session.container_id {
            self.engine.remove(old).await?;
        }
        if lab.def.docker {
            self.docker.clear(&session.id, false).await;
        }
        let Launched {
            container,
            hub: pooled,
        } = match self.launch(&session.id, session.user_id, &lab).await {
            Ok(launched) => launched,
            Err(err) => {
                self.finish(session, "The lab could not be restarted. Start it again.")
                    .await?;
                return Err(err);
            }
        };
        // The session's browsers stay with its hub, which opens a shell in
        // the new container; a pooled shell that came along is not needed.
        match (hub, pooled) {
            (Some(hub), pooled) => {
                if let Some(pooled) = pooled {
                    pooled.close("").await;
                }
                db::labs::set_running(&self.db, &session.id, &container, 0).await?;
                hub.retarget(&container, note).await;
            }
            (None, Some(pooled)) => {
                pooled.adopt(&session.id);
                self.hubs
                    .lock()
                    .expect("hub map lock")
                    .insert(session.id.clone(), pooled);
                db::labs::set_running(&self.db, &session.id, &container, 0).await?;
            }
            (None, None) => db::labs::set_running(&self.db, &session.id, &container, 0).await?,
        }
        tracing::info!(session = %session.id, "lab container replaced");
        Ok(())
    }

    /// Ends a session: the row, the container, the terminal.
    async fn finish(&self, session: &LabSession, reason: &str) -> Result<()> {
        // Container first: if the engine fails, the session stays live and
        // the reaper tries again, so no container outlives its session.
        if let Some(container) = &session.container_id {
            self.engine.remove(container).await?;
        }
        if self.lab(&session.lab).is_none_or(|l| l.def.docker) {
            self.docker.clear(&session.id, true).await;
        }
        db::labs::end(&self.db, &session.id, reason).await?;
        let hub = self.hubs.lock().expect("hub map lock").remove(&session.id);
        if let Some(hub) = hub {
            hub.close(reason).await;
        }
        tracing::info!(session = %session.id, lab = %session.lab, reason, "lab ended");
        self.wake.notify_one();
        Ok(())
    }

    /// After a restart: keeps containers of live sessions, removes every
    /// other Drydock container (including an old warm pool), and ends
    /// sessions whose container is gone.
    pub async fn reconcile(&self) -> Result<()> {
        let active = db::labs::active(&self.db).await?;
        let wanted: HashSet<&str> = active
            .iter()
            .filter(|s| s.status == LabStatus::Running)
            .filter_map(|s| s.container_id.as_deref())
            .collect();
        let containers = self
            .engine
            .list_labelled(&[(labels::INSTANCE, &self.config.labs.instance)])
            .await?;
        let mut present = HashSet::new();
        let mut removed = 0;
        for c in &containers {
            let Some(id) = c.id.as_deref() else { continue };
            // Grading containers belong to the grader, which cleans up its
            // own; a lab's Docker children go with their lab (below).
            if c.labels.as_ref().is_some_and(|l| {
                l.contains_key(labels::GRADING) || l.contains_key(labels::CHILD_OF)
            }) {
                continue;
            }
            if wanted.contains(id) {
                present.insert(id.to_string());
            } else {
                self.engine.remove(id).await?;
                removed += 1;
            }
        }
        let mut lost = 0;
        for s in &active {
            let gone = match s.status {
                LabStatus::Running => !s
                    .container_id
                    .as_deref()
                    .is_some_and(|c| present.contains(c)),
                LabStatus::Starting => true,
                _ => false,
            };
            if gone {
                db::labs::end(
                    &self.db,
                    &s.id,
                    "The server restarted and this lab's container was lost. Start it again.",
                )
                .await?;
                lost += 1;
            }
        }
        tracing::info!(
            adopted = present.len(),
            removed,
            lost,
            "lab containers reconciled"
        );
        let running: Vec<(String, i64)> = db::labs::active(&self.db)
            .await?
            .into_iter()
            .filter(|s| s.status == LabStatus::Running)
            .filter(|s| self.lab(&s.lab).is_some_and(|l| l.def.docker))
            .map(|s| (s.id, s.user_id))
            .collect();
        self.docker.reconcile(&running).await?;
        self.reap().await
    }

    /// Ends expired and idle sessions, drops stale queue entries, and
    /// restarts crashed containers.
    pub async fn reap(&self) -> Result<()> {
        let _swap = self.lifecycle.lock().await;
        let now = now_ms();
        let active = db::labs::active(&self.db).await?;
        if active.is_empty() {
            return Ok(());
        }
        let states: HashMap<String, String> = self
            .engine
            .list_labelled(&[])
            .await?
            .into_iter()
            .filter_map(|c| Some((c.id?, c.state.map(|s| s.to_string()).unwrap_or_default())))
            .collect();
        let queue_timeout = self.config.labs.queue_timeout_secs as i64 * 1000;
        for s in &active {
            let lab = self.lab(&s.lab);
            match s.status {
                LabStatus::Queued if now - s.last_active_at > queue_timeout => {
                    self.finish(s, "You left the queue.").await?;
                }
                LabStatus::Starting if now - s.created_at > STARTING_TIMEOUT_MS => {
                    self.finish(s, "The lab took too long to start. Try again.")
                        .await?;
                }
                LabStatus::Running => {
                    let idle_ms = lab.map_or(20, |l| i64::from(l.def.idle_minutes)) * 60_000;
                    if s.expires_at.is_some_and(|e| e <= now) {
                        self.finish(s, "The lab reached its time limit and was stopped.")
                            .await?;
                    } else if now - s.last_active_at > idle_ms {
                        self.finish(
                            s,
                            &format!(
                                "The lab stopped after {} minutes without input.",
                                idle_ms / 60_000
                            ),
                        )
                        .await?;
                    } else if let Some(container) = &s.container_id {
                        match states.get(container).map(String::as_str) {
                            Some("running") => {}
                            Some(_) => {
                                let oom = self
                                    .engine
                                    .inspect(container)
                                    .await
                                    .ok()
                                    .and_then(|i| i.state?.oom_killed)
                                    .unwrap_or(false);
                                let note = if oom {
                                    "The lab ran out of memory and was restarted with a fresh container."
                                } else {
                                    "The lab's container stopped and was replaced with a fresh one."
                                };
                                tracing::warn!(session = %s.id, oom, "lab container died; replacing it");
                                if let Err(err) = self.replace_container(s, note).await {
                                    tracing::error!(session = %s.id, error = %err, "could not replace a dead lab container");
                                }
                            }
                            None => {
                                self.finish(
                                    s,
                                    "The lab's container disappeared. Start the lab again.",
                                )
                                .await?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether `user_id` is a guest (a missing user counts as one).
    async fn is_guest(&self, user_id: i64) -> Result<bool> {
        Ok(db::users::by_id(&self.db, user_id)
            .await?
            .is_none_or(|u| u.role == db::users::Role::Guest))
    }

    /// The guests among the owners of `active` sessions.
    async fn guests_among(&self, active: &[LabSession]) -> Result<HashSet<i64>> {
        let mut guests = HashSet::new();
        let owners: HashSet<i64> = active.iter().map(|s| s.user_id).collect();
        for owner in owners {
            if self.is_guest(owner).await? {
                guests.insert(owner);
            }
        }
        Ok(guests)
    }

    /// Whether `user_id` may take a slot now. Guests together hold at most
    /// half of the capacity (`labs.guest_share`), so visitors without an
    /// account never crowd out learners; guests queued never hold a
    /// registered learner back. Open workshops may reserve slots for their
    /// learners: others see the capacity minus the reserved slots still
    /// free, while a workshop's own learners may use them (and skip the
    /// queue while they are free).
    async fn has_room(
        &self,
        user_id: i64,
        guest: bool,
        active: &[LabSession],
        guests: &HashSet<i64>,
        queued: bool,
        holding: usize,
    ) -> Result<bool> {
        let capacity = self.config.labs.capacity;
        if guest {
            let guests_holding = active
                .iter()
                .filter(|s| matches!(s.status, LabStatus::Starting | LabStatus::Running))
                .filter(|s| guests.contains(&s.user_id))
                .count();
            let share = ((capacity as f64) * self.config.labs.guest_share).floor() as usize;
            if guests_holding >= share.max(1) {
                return Ok(false);
            }
        }
        let mut for_others = 0usize;
        let mut for_me = 0usize;
        for workshop in db::workshops::reserving(&self.db, now_ms()).await? {
            let members: HashSet<i64> = db::workshops::members(&self.db, &workshop.id)
                .await?
                .into_iter()
                .filter(|m| m.status == db::workshops::MemberStatus::Active)
                .map(|m| m.user_id)
                .collect();
            let used = active
                .iter()
                .filter(|s| matches!(s.status, LabStatus::Starting | LabStatus::Running))
                .filter(|s| members.contains(&s.user_id))
                .count();
            let free = usize::try_from(workshop.reserved_labs)
                .unwrap_or(0)
                .saturating_sub(used);
            if members.contains(&user_id) {
                for_me += free;
            } else {
                for_others += free;
            }
        }
        Ok(if for_me > 0 {
            holding < capacity
        } else {
            !queued && holding + for_others < capacity
        })
    }

    /// Starts queued sessions while there is room, oldest first.
    pub async fn promote(&self) -> Result<()> {
        loop {
            let next = {
                let _guard = self.admit.lock().await;
                if db::labs::count_holding_container(&self.db).await?
                    >= self.config.labs.capacity as i64
                {
                    return Ok(());
                }
                let active = db::labs::active(&self.db).await?;
                let guests = self.guests_among(&active).await?;
                let holding = active
                    .iter()
                    .filter(|s| matches!(s.status, LabStatus::Starting | LabStatus::Running))
                    .count();
                // Oldest first, skipping those a workshop's reserved slots
                // (or the guests' share) keep out.
                let mut next = None;
                for queued in active.iter().filter(|s| s.status == LabStatus::Queued) {
                    let guest = guests.contains(&queued.user_id);
                    if self
                        .has_room(queued.user_id, guest, &active, &guests, false, holding)
                        .await?
                    {
                        next = Some(queued.clone());
                        break;
                    }
                }
                let Some(next) = next else {
                    return Ok(());
                };
                // With the engine away, the learner keeps their place rather
                // than being taken out of the queue by a start that fails.
                if let Err(err) = self.engine.version().await {
                    tracing::warn!(error = %err, "the engine is not answering; the queue waits");
                    return Ok(());
                }
                if !db::labs::claim_queued(&self.db, &next.id).await? {
                    continue;
                }
                next
            };
            match self.lab(&next.lab).cloned() {
                Some(lab) => {
                    // A failure ends that session; the rest of the queue moves on.
                    let _ = self.bring_up(&next.id, next.user_id, &lab).await;
                }
                None => {
                    db::labs::end(&self.db, &next.id, "This lab no longer exists.").await?;
                }
            }
        }
    }

    /// Tops up the warm pool to the configured size per lab.
    pub async fn refill_pool(&self) -> Result<()> {
        for (lab_id, &want) in &self.config.labs.warm_pool {
            let Some(lab) = self.lab(lab_id).cloned().filter(|l| !l.def.docker) else {
                continue;
            };
            loop {
                let have = self
                    .pool
                    .lock()
                    .expect("pool lock")
                    .get(lab_id)
                    .map_or(0, Vec::len);
                if have >= want {
                    break;
                }
                let pool_id = format!("pool-{}", uuid::Uuid::new_v4());
                let mut policy = self.policy(&lab, "pool", &pool_id).await?;
                policy
                    .extra_labels
                    .push((labels::POOL.into(), lab.id.clone()));
                // The login shell opens now, off the learner's clock.
                let Launched { container, hub } =
                    self.start_seeded(&policy, &lab, &pool_id).await?;
                let hub = match hub {
                    Some(hub) => hub,
                    None => {
                        let hub = self.new_hub(&pool_id, &container, &lab);
                        if let Err(err) = hub.attach().await {
                            tracing::debug!(error = %err, "could not open a warm container's shell early");
                        }
                        hub
                    }
                };
                self.pool
                    .lock()
                    .expect("pool lock")
                    .entry(lab_id.clone())
                    .or_default()
                    .push(Pooled { container, hub });
            }
        }
        Ok(())
    }

    /// Number of warm containers per lab (for tests and the benchmark).
    pub fn pool_sizes(&self) -> BTreeMap<String, usize> {
        self.pool
            .lock()
            .expect("pool lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.len()))
            .collect()
    }

    /// Ends the background loop (running labs stay; the next start re-adopts them).
    pub fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    /// Reconciles once, then reaps, promotes and refills until the process ends.
    pub async fn run_background(self: Arc<Self>) {
        let mut reconciled = false;
        let interval = Duration::from_secs(self.config.labs.reap_interval_secs.max(1));
        while !self.stopping.load(std::sync::atomic::Ordering::Acquire) {
            if !reconciled {
                match self.reconcile().await {
                    Ok(()) => reconciled = true,
                    Err(err) => {
                        tracing::warn!(error = %err, "lab reconciliation failed; will retry")
                    }
                }
            }
            if reconciled {
                for (what, result) in [
                    ("reap", self.reap().await),
                    ("promote", self.promote().await),
                    ("refill the warm pool", self.refill_pool().await),
                ] {
                    if let Err(err) = result {
                        tracing::warn!(error = %err, "could not {what}");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Whether `lab` may write a file a login shell reads when it starts (a
/// dot-file such as `~/.profile`, or a profile script): its shell must then
/// open after the setup, not alongside it.
fn writes_shell_startup_files(lab: &Lab) -> bool {
    let suspicious = |text: &str| text.contains("/.") || text.contains("profile");
    lab.def.files.iter().any(|f| suspicious(&f.path))
        || lab.def.setup.iter().any(|s| suspicious(&s.run))
}

/// The last `max` bytes of `text` (on a character boundary).
fn tail_of(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The login shell's user and environment for `lab`.
fn shell_spec(lab: &Lab) -> ShellSpec {
    ShellSpec {
        user: lab.def.user.clone(),
        env: vec![
            "TERM=xterm-256color".into(),
            "HOME=/home/learner".into(),
            format!("PS1=\\u@{}:\\w\\$ ", lab.id),
        ],
    }
}

/// One script that writes the lab's files and runs its setup steps, or
/// `None` when the lab has neither.
pub fn seed_script(lab: &Lab) -> Option<String> {
    use base64::Engine as _;
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if lab.def.files.is_empty() && lab.def.setup.is_empty() {
        return None;
    }
    let mut script = String::from("set -e\n");
    for file in &lab.def.files {
        let path = shell::quote(&file.path);
        script.push_str(&format!(
            "mkdir -p \"$(dirname {path})\"\nprintf '%s' {} | base64 -d > {path}\nchmod {} {path}\n",
            shell::quote(&encode(file.content.as_bytes())),
            shell::quote(&file.mode),
        ));
    }
    for step in &lab.def.setup {
        script.push_str(&format!("( {}\n)\n", step.run));
    }
    Some(script)
}
