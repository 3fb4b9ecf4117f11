//! The bridge between a lab's shell and the browsers looking at it.
//!
//! One hub per lab session owns one interactive `docker exec` with a TTY.
//! Browsers come and go (reloads, network blips): each one that attaches gets
//! the recent output replayed, then the live stream. When the shell exits,
//! the next keystroke starts a new one; when the lab is reset, the hub moves
//! to the new container without dropping the browsers.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use tokio::{
    io::AsyncWriteExt,
    sync::{broadcast, Mutex as AsyncMutex, Notify},
    task::JoinHandle,
};

use crate::db::{self, Db};
use crate::docker::engine::{Engine, EngineError};

/// What a hub sends to the browsers attached to it.
#[derive(Debug, Clone)]
pub enum TerminalEvent {
    /// Bytes the shell wrote.
    Output(Bytes),
    /// A JSON control message (`ended`, `exited`, `error`).
    Control(String),
}

/// How the shell is started inside the container.
#[derive(Debug, Clone)]
pub struct ShellSpec {
    pub user: String,
    pub env: Vec<String>,
}

struct Shell {
    exec_id: String,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    reader: JoinHandle<()>,
    generation: u64,
}

struct ShellSlot {
    container: String,
    shell: Option<Shell>,
    generation: u64,
    size: Option<(u16, u16)>,
    closed: bool,
}

/// Output history and the live feed, behind one lock so a browser that
/// attaches sees every byte exactly once.
struct Feed {
    history: VecDeque<u8>,
    events: broadcast::Sender<TerminalEvent>,
}

/// A lab session's terminal.
pub struct TerminalHub {
    /// The lab session it serves (a warm-pool name until a session adopts it).
    session: Mutex<String>,
    engine: Arc<Engine>,
    db: Db,
    spec: ShellSpec,
    history_limit: usize,
    slot: AsyncMutex<ShellSlot>,
    feed: Mutex<Feed>,
    last_touch: Mutex<Option<Instant>>,
    /// Woken when a shell ends, so the lab service looks at the container at once.
    shell_ended: Arc<Notify>,
    /// Instructors watching read-only; the learner is told how many.
    watchers: std::sync::atomic::AtomicUsize,
    /// Held while the lab's container is being replaced: a browser that
    /// attaches or types meanwhile waits for the new container instead of
    /// reaching for the old one.
    switching: Arc<AsyncMutex<()>>,
}

/// Keeps a read-only watcher counted; dropping it tells the learner.
pub struct WatchGuard {
    hub: Arc<TerminalHub>,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let left = self
            .hub
            .watchers
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            .saturating_sub(1);
        self.hub.announce_watchers(left);
    }
}

/// Activity is written to the database at most this often.
const TOUCH_EVERY: Duration = Duration::from_secs(15);

impl TerminalHub {
    /// A hub for `session`, whose shell runs in `container`.
    pub fn new(
        session: &str,
        container: &str,
        engine: Arc<Engine>,
        db: Db,
        spec: ShellSpec,
        history_limit: usize,
        shell_ended: Arc<Notify>,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(1024);
        Arc::new(Self {
            session: Mutex::new(session.to_string()),
            engine,
            db,
            spec,
            history_limit: history_limit.max(1024),
            slot: AsyncMutex::new(ShellSlot {
                container: container.to_string(),
                shell: None,
                generation: 0,
                size: None,
                closed: false,
            }),
            feed: Mutex::new(Feed {
                history: VecDeque::new(),
                events,
            }),
            last_touch: Mutex::new(None),
            shell_ended,
            watchers: std::sync::atomic::AtomicUsize::new(0),
            switching: Arc::default(),
        })
    }

    /// Hands a hub (from the warm pool, its shell already open) to `session`.
    pub fn adopt(&self, session: &str) {
        *self.session.lock().expect("session name lock") = session.to_string();
    }

    /// Whether a shell is running (so its container is).
    pub async fn has_shell(&self) -> bool {
        self.slot.lock().await.shell.is_some()
    }

    fn session(&self) -> String {
        self.session.lock().expect("session name lock").clone()
    }

    /// Attaches a browser: the output so far, and a feed of what follows.
    /// Starts the shell if none is running.
    pub async fn attach(
        self: &Arc<Self>,
    ) -> Result<(Vec<u8>, broadcast::Receiver<TerminalEvent>), EngineError> {
        drop(self.switching.lock().await);
        self.ensure_shell().await?;
        let feed = self.feed.lock().expect("terminal feed lock");
        let replay: Vec<u8> = feed.history.iter().copied().collect();
        Ok((replay, feed.events.subscribe()))
    }

    /// A read-only feed (no shell is started for it).
    pub fn watch(&self) -> (Vec<u8>, broadcast::Receiver<TerminalEvent>) {
        let feed = self.feed.lock().expect("terminal feed lock");
        (
            feed.history.iter().copied().collect(),
            feed.events.subscribe(),
        )
    }

    /// Types `data` into the shell, starting a new shell if the last one exited.
    pub async fn input(self: &Arc<Self>, data: &[u8]) -> Result<(), EngineError> {
        self.touch().await;
        drop(self.switching.lock().await);
        let mut slot = self.ensure_shell_locked().await?;
        let Some(shell) = slot.shell.as_mut() else {
            return Ok(());
        };
        let written = async {
            shell.input.write_all(data).await?;
            shell.input.flush().await
        }
        .await;
        if let Err(err) = written {
            tracing::debug!(session = %self.session(), error = %err, "shell input failed");
            if let Some(shell) = slot.shell.take() {
                shell.reader.abort();
            }
        }
        Ok(())
    }

    /// Follows the browser's window size.
    pub async fn resize(&self, cols: u16, rows: u16) -> Result<(), EngineError> {
        let cols = cols.clamp(2, 1000);
        let rows = rows.clamp(2, 500);
        let mut slot = self.slot.lock().await;
        slot.size = Some((cols, rows));
        if let Some(shell) = &slot.shell {
            self.engine.resize_shell(&shell.exec_id, cols, rows).await?;
        }
        Ok(())
    }

    /// Holds browsers back from the old container until the guard is
    /// dropped (after [`TerminalHub::retarget`] names the new one).
    pub async fn switching(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.switching.clone().lock_owned().await
    }

    /// Points the hub at a fresh container (after a reset), telling the browsers why.
    pub async fn retarget(self: &Arc<Self>, container: &str, note: &str) {
        {
            let mut slot = self.slot.lock().await;
            if let Some(shell) = slot.shell.take() {
                shell.reader.abort();
            }
            slot.container = container.to_string();
        }
        {
            let mut feed = self.feed.lock().expect("terminal feed lock");
            feed.history.clear();
        }
        // ESC c clears the screen; then the note, then a new prompt.
        self.publish(Bytes::from(format!("\x1bc\r\n*** {note} ***\r\n\r\n")));
        if let Err(err) = self.ensure_shell().await {
            self.control("error", &format!("The new shell did not start: {err}"));
        }
    }

    /// Ends the hub: browsers are told why and the shell is dropped.
    pub async fn close(&self, message: &str) {
        let mut slot = self.slot.lock().await;
        slot.closed = true;
        if let Some(shell) = slot.shell.take() {
            shell.reader.abort();
        }
        drop(slot);
        self.control("ended", message);
    }

    /// Read-only access for an instructor: the live events from now on (no
    /// replay of what came before), and a guard that keeps the learner
    /// informed that someone is watching. The learner is told first.
    pub fn shadow(self: &Arc<Self>) -> (broadcast::Receiver<TerminalEvent>, WatchGuard) {
        let now = self
            .watchers
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        self.announce_watchers(now);
        let events = {
            let feed = self.feed.lock().expect("terminal feed lock");
            feed.events.subscribe()
        };
        (events, WatchGuard { hub: self.clone() })
    }

    /// How many instructors are watching.
    pub fn watchers(&self) -> usize {
        self.watchers.load(std::sync::atomic::Ordering::Acquire)
    }

    fn announce_watchers(&self, count: usize) {
        let text = json!({ "type": "watched", "watchers": count }).to_string();
        let feed = self.feed.lock().expect("terminal feed lock");
        let _ = feed.events.send(TerminalEvent::Control(text));
    }

    fn control(&self, kind: &str, message: &str) {
        let text = json!({ "type": kind, "message": message }).to_string();
        let feed = self.feed.lock().expect("terminal feed lock");
        let _ = feed.events.send(TerminalEvent::Control(text));
    }

    fn publish(&self, bytes: Bytes) {
        let mut feed = self.feed.lock().expect("terminal feed lock");
        feed.history.extend(bytes.iter().copied());
        let excess = feed.history.len().saturating_sub(self.history_limit);
        feed.history.drain(..excess);
        let _ = feed.events.send(TerminalEvent::Output(bytes));
    }

    async fn touch(&self) {
        let due = {
            let mut last = self.last_touch.lock().expect("touch lock");
            let due = last.is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            let session = self.session();
            if let Err(err) = db::labs::touch(&self.db, &session).await {
                tracing::warn!(%session, error = %err, "could not record lab activity");
            }
        }
    }

    async fn ensure_shell(self: &Arc<Self>) -> Result<(), EngineError> {
        self.ensure_shell_locked().await.map(drop)
    }

    async fn ensure_shell_locked(
        self: &Arc<Self>,
    ) -> Result<tokio::sync::MutexGuard<'_, ShellSlot>, EngineError> {
        let mut slot = self.slot.lock().await;
        if slot.shell.is_some() || slot.closed {
            return Ok(slot);
        }
        let env: Vec<String> = self.spec.env.clone();
        let stream = self
            .engine
            .open_shell(&slot.container, &["/bin/sh", "-l"], &self.spec.user, &env)
            .await?;
        if let Some((cols, rows)) = slot.size {
            let _ = self.engine.resize_shell(&stream.exec_id, cols, rows).await;
        }
        slot.generation += 1;
        let generation = slot.generation;
        let hub = Arc::clone(self);
        let mut output = stream.output;
        let reader = tokio::spawn(async move {
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(bytes) => hub.publish(bytes),
                    Err(err) => {
                        tracing::debug!(session = %hub.session(), error = %err, "shell output ended");
                        break;
                    }
                }
            }
            let mut slot = hub.slot.lock().await;
            if slot
                .shell
                .as_ref()
                .is_some_and(|s| s.generation == generation)
            {
                slot.shell = None;
                drop(slot);
                hub.control(
                    "exited",
                    "The shell has exited. Press Enter to start a new one.",
                );
                hub.shell_ended.notify_one();
            }
        });
        slot.shell = Some(Shell {
            exec_id: stream.exec_id,
            input: stream.input,
            reader,
            generation,
        });
        Ok(slot)
    }
}
