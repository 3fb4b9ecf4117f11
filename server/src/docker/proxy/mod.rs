//! The labs' Docker endpoint: a policy proxy of the Docker Engine API, one
//! Unix socket per lab session, that lets the stock `docker` CLI inside a
//! lab work on the learner's own objects and nothing else.
//!
//! Nothing a learner sends is passed through. Each request is matched
//! against one allow-list ([`routes`]); an allowed request is rebuilt from
//! the fields Drydock reads (container bodies from an allow-list of fields,
//! with the lab's sandbox added, see [`create`]), names are moved into the
//! session's own namespace ([`names`]), every object named is resolved to a
//! full id once and checked against the session before the call, and the
//! answer comes back with the namespace taken out again. Everything else is
//! refused in Docker's own error format, with a sentence that says why.

mod archive;
mod build;
mod create;
mod forward;
mod names;
mod routes;
mod server;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tokio::sync::Semaphore;

use super::{engine::Engine, http::EngineAddress, labels};

pub use create::rules;
pub use names::{is_session_prefix, valid_object_name, with_tag, SessionNames, LAB_NETWORK};

/// What a lab session may spend across all the containers it starts.
pub use crate::config::DockerBudget as Budget;

/// Everything the proxy of one lab session needs to know about it.
#[derive(Debug, Clone)]
pub struct ProxyScope {
    /// The lab session.
    pub session: String,
    /// The learner (user id), for the audit log.
    pub owner: i64,
    /// The Drydock installation (reconciliation scope of what is created).
    pub instance: String,
    /// The runtime the learner's containers run under (`runsc-net`).
    pub child_runtime: Option<String>,
    pub budget: Budget,
    /// Whether image builds may run: the engine builds with its default
    /// runtime, which must be the sandbox.
    pub builds_allowed: Result<(), String>,
}

/// What the lab capability provides the proxy: a ledger of the images a
/// session made, and the audit log.
#[async_trait::async_trait]
pub trait ProxyLedger: Send + Sync {
    /// Records that `session` made image `id`.
    async fn image_made(&self, session: &str, id: &str);
    /// The image ids `session` made.
    async fn images_made(&self, session: &str) -> HashSet<String>;
    /// Records a refused request (`what`: the option or endpoint refused).
    async fn refused(&self, owner: i64, session: &str, what: &str);
    /// Forgets `session`'s images once they are gone.
    async fn forget(&self, session: &str);
    /// Sessions with images on record.
    async fn sessions(&self) -> HashSet<String>;
}

/// One open endpoint.
struct Endpoint {
    stop: tokio::sync::watch::Sender<bool>,
    dir: PathBuf,
}

/// Every lab session's endpoint on this server.
pub struct Proxies {
    engine: Arc<Engine>,
    address: Option<EngineAddress>,
    /// Where the sockets live (one directory per session).
    root: PathBuf,
    ledger: Arc<dyn ProxyLedger>,
    open: Mutex<HashMap<String, Endpoint>>,
}

/// Directory (under the proxies' root) and socket name of a session's endpoint.
pub const SOCKET_NAME: &str = "docker.sock";
/// Where a lab container sees its endpoint's directory.
pub const MOUNT_POINT: &str = "/run/drydock";

impl Proxies {
    /// Endpoints under `root` that forward to the engine at `address`.
    pub fn new(
        engine: Arc<Engine>,
        address: Option<EngineAddress>,
        root: PathBuf,
        ledger: Arc<dyn ProxyLedger>,
    ) -> Self {
        Self {
            engine,
            address,
            root,
            ledger,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Why no endpoint can be opened on this server, if so: the engine must
    /// be reached over a Unix socket or plain TCP, and on this machine (the
    /// socket is bind-mounted into the lab container by the engine).
    pub fn unavailable(&self) -> Option<String> {
        match &self.address {
            None => Some("the Docker engine is reached over TLS; labs with Docker need unix:// or tcp:// on this machine".into()),
            Some(_) => None,
        }
    }

    /// Opens (or reopens, after a restart) the endpoint of `scope`'s
    /// session and returns the directory to mount at [`MOUNT_POINT`].
    pub async fn open(&self, scope: ProxyScope) -> std::io::Result<PathBuf> {
        let address = self
            .address
            .clone()
            .ok_or_else(|| std::io::Error::other(self.unavailable().unwrap_or_default()))?;
        let names = SessionNames::of(&scope.session);
        let dir = self.root.join(names.prefix());
        std::fs::create_dir_all(&dir)?;
        set_mode(&dir, 0o755)?;
        let socket = dir.join(SOCKET_NAME);
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket)?;
        // The lab's user (uid 1000) connects; the directory is mounted read-only.
        set_mode(&socket, 0o666)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let proxy = Arc::new(server::SessionProxy {
            engine: self.engine.clone(),
            address,
            names,
            scope: scope.clone(),
            ledger: self.ledger.clone(),
            execs: Mutex::new(HashSet::new()),
            slots: Semaphore::new(server::CONCURRENT_REQUESTS),
            admission: tokio::sync::Mutex::new(()),
            uploads: Semaphore::new(1),
        });
        tokio::spawn(server::serve(listener, proxy, stopped));
        let previous = self.open.lock().expect("proxy map lock").insert(
            scope.session.clone(),
            Endpoint {
                stop,
                dir: dir.clone(),
            },
        );
        if let Some(previous) = previous {
            let _ = previous.stop.send(true);
        }
        tracing::info!(session = %scope.session, socket = %socket.display(), "lab Docker endpoint open");
        Ok(dir)
    }

    /// Closes a session's endpoint (its objects are removed by [`Proxies::purge`]).
    pub fn close(&self, session: &str) {
        if let Some(endpoint) = self.open.lock().expect("proxy map lock").remove(session) {
            let _ = endpoint.stop.send(true);
            let _ = std::fs::remove_dir_all(&endpoint.dir);
        }
    }

    /// Whether `session` has an open endpoint.
    pub fn is_open(&self, session: &str) -> bool {
        self.open
            .lock()
            .expect("proxy map lock")
            .contains_key(session)
    }

    /// Removes everything `session` made: containers, volumes, networks
    /// (its private lab network included) and images. Goes on past a
    /// failure, so one stuck object does not keep the rest, and tries the
    /// whole round again a few times: an object can be briefly held by one
    /// the engine is still taking down (the lab container's endpoint on the
    /// session network, a `--rm` container's image). Returns how many
    /// objects went, or the first failure of the last round; the ledger
    /// forgets the session only once a round removed everything.
    pub async fn purge(&self, session: &str) -> Result<usize, super::engine::EngineError> {
        const ROUNDS: u32 = 3;
        let (mut removed, mut round) = (0, 1);
        loop {
            let (went, failure) = self.purge_round(session).await?;
            removed += went;
            let Some(err) = failure else {
                self.ledger.forget(session).await;
                return Ok(removed);
            };
            if round == ROUNDS {
                return Err(err);
            }
            tracing::info!(session, round, error = %err, "a lab's Docker object is still held; trying again");
            tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(round))).await;
            round += 1;
        }
    }

    /// One round of [`Proxies::purge`]: how many objects went, and the
    /// first removal that failed. An error is a failure to list.
    async fn purge_round(
        &self,
        session: &str,
    ) -> Result<(usize, Option<super::engine::EngineError>), super::engine::EngineError> {
        let names = SessionNames::of(session);
        let made = self.ledger.images_made(session).await;
        let mine = [(labels::CHILD_OF, session)];
        let mut removed = 0;
        let mut first_error = None;
        let mut note =
            |result: Result<(), super::engine::EngineError>, removed: &mut usize| match result {
                Ok(()) => *removed += 1,
                Err(err) => {
                    tracing::warn!(session, error = %err, "could not remove a lab's Docker object");
                    first_error.get_or_insert(err);
                }
            };
        let containers = self.engine.list_labelled(&mine).await?;
        for id in containers.into_iter().filter_map(|c| c.id) {
            note(self.engine.remove(&id).await, &mut removed);
        }
        // A container the engine was already removing (`docker run --rm`
        // that just ended) still holds its image and volumes until it is
        // gone: wait for that, briefly, before removing what it used.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.engine.list_labelled(&mine).await?.is_empty()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for volume in self.engine.volumes_labelled(&mine).await? {
            note(self.engine.remove_volume(&volume).await, &mut removed);
        }
        for network in self.engine.networks_labelled(&mine).await? {
            note(self.engine.remove_network(&network).await, &mut removed);
        }
        // Images: what the session made (ids the database recorded from
        // the engine's answers, the session's label included), children
        // before parents, then any tag left in the session's namespace.
        let mut made = made;
        if let Ok(labelled) = self
            .engine
            .images_labelled(&[(labels::CHILD_OF, session)])
            .await
        {
            made.extend(labelled);
        }
        for id in self.engine.children_first(&made).await? {
            note(self.engine.remove_image(&id).await, &mut removed);
        }
        for tag in self.engine.tags_under(&names.image_prefix()).await? {
            note(self.engine.remove_image(&tag).await, &mut removed);
        }
        Ok((removed, first_error))
    }

    /// Sessions of installation `instance` that still own something on
    /// the engine or in the ledger (to find what a crashed server left).
    pub async fn owners(
        &self,
        instance: &str,
    ) -> Result<HashSet<String>, super::engine::EngineError> {
        let mut sessions = self
            .engine
            .label_values(labels::CHILD_OF, &[(labels::INSTANCE, instance)])
            .await?;
        sessions.extend(self.ledger.sessions().await);
        Ok(sessions)
    }

    /// Image tags in some session's namespace whose prefix is not in
    /// `keep`, by prefix: what ended labs may have left (the caller knows
    /// which of those sessions are its own).
    pub async fn stray_tags(
        &self,
        keep: &HashSet<String>,
    ) -> Result<HashMap<String, Vec<String>>, super::engine::EngineError> {
        let mut stray: HashMap<String, Vec<String>> = HashMap::new();
        for tag in self.engine.tags_under("dl").await? {
            if let Some((prefix, _)) = tag.split_once('/') {
                if names::is_session_prefix(prefix) && !keep.contains(prefix) {
                    stray
                        .entry(prefix.to_string())
                        .or_default()
                        .push(tag.clone());
                }
            }
        }
        Ok(stray)
    }

    /// Removes an image by tag (for [`Proxies::stray_tags`]).
    pub async fn remove_tag(&self, tag: &str) -> Result<(), super::engine::EngineError> {
        self.engine.remove_image(tag).await
    }

    /// Where the endpoints' directories live.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
