//! Workshops: an instructor's plan (lessons, labs, exercises with
//! deadlines), who takes part, what each learner has done, announcements,
//! and the gradebook. Only a workshop's instructors (and admins) see its
//! dashboard, roster and gradebook; learners see their own data.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use drydock_app::{
    api_exercises::GradeReport,
    api_workshops::{
        AnnouncementView, CheckStat, ExerciseCell, ExerciseStats, LabState, LearnerRow,
        NewWorkshop, Progress, RosterEntry, WorkshopItemView, WorkshopSummary, WorkshopView,
    },
};
use rand::Rng;
use tokio::sync::{broadcast, watch};

use crate::{
    content::Catalog,
    db::{
        self,
        labs::LabStatus,
        now_ms,
        users::{Role, User},
        workshops::{ItemKind, MemberRole, MemberStatus, RosterAction, Workshop, WorkshopItem},
        Db,
    },
    error::{Error, Result},
    labs::service::LabService,
};

/// Longest workshop title.
const MAX_TITLE: usize = 200;
/// Longest announcement.
const MAX_ANNOUNCEMENT: usize = 2000;
/// Letters of join codes: no 0/O, 1/I/L.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What the caller may do in a workshop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Instructor,
    Learner,
    /// Joined, waiting for approval.
    Pending,
}

/// A message for the people of one workshop (announcements, roster changes).
#[derive(Debug, Clone)]
pub struct WorkshopEvent {
    pub workshop_id: String,
    /// `announcement` or `roster`.
    pub kind: &'static str,
    pub data: serde_json::Value,
}

/// Workshops and their people.
pub struct WorkshopService {
    db: Db,
    catalog: Arc<Catalog>,
    labs: Arc<LabService>,
    events: broadcast::Sender<WorkshopEvent>,
    /// Live streams open per user.
    streams: Arc<std::sync::Mutex<HashMap<i64, usize>>>,
    /// Per workshop with an open live stream: its progress, computed once
    /// per change and shared by every stream (see [`WorkshopService::live`]).
    live: std::sync::Mutex<HashMap<String, LiveSender>>,
}

type LiveSender = Arc<watch::Sender<Option<Arc<Progress>>>>;

/// How often live progress looks for changes (in memory: no query).
pub const LIVE_TICK: Duration = Duration::from_millis(500);
/// Live progress is recomputed at least this often, for what changes with
/// time alone (a deadline passing) or without a learner's write (the plan).
const LIVE_REFRESH: Duration = Duration::from_secs(5);

/// Most live streams one person may hold open at once (a few tabs).
const STREAMS_PER_USER: usize = 8;

/// An open live stream; dropping it frees its place.
pub struct StreamTicket {
    streams: Arc<std::sync::Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.user_id);
            }
        }
    }
}

impl WorkshopService {
    pub fn new(db: Db, catalog: Arc<Catalog>, labs: Arc<LabService>) -> Self {
        Self {
            db,
            catalog,
            labs,
            events: broadcast::channel(256).0,
            streams: Arc::default(),
            live: std::sync::Mutex::default(),
        }
    }

    /// The workshop's progress as it changes, shared by every live stream
    /// of the workshop. One task per watched workshop computes it: at once,
    /// then whenever a learner's state changes (their version in
    /// [`crate::db::changes`], compared in memory every [`LIVE_TICK`]), the
    /// roster changes, or [`LIVE_REFRESH`] has passed. However many
    /// dashboards are open, the database sees one computation per change.
    /// The task ends when the last stream lets go.
    pub fn live(self: &Arc<Self>, id: &str) -> watch::Receiver<Option<Arc<Progress>>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = live.get(id) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(None);
        let tx = Arc::new(tx);
        live.insert(id.to_string(), tx.clone());
        tokio::spawn(self.clone().follow(id.to_string(), tx));
        rx
    }

    async fn follow(self: Arc<Self>, id: String, tx: LiveSender) {
        let mut news = self.subscribe();
        let mut tick = tokio::time::interval(LIVE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut learners: Option<Vec<i64>> = None;
        let mut seen: Option<u64> = None;
        let mut computed = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                n = news.recv() => match n {
                    Ok(n) if n.workshop_id == id => learners = None,
                    Err(broadcast::error::RecvError::Lagged(_)) => learners = None,
                    _ => continue,
                },
            }
            {
                let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                if tx.receiver_count() == 0 {
                    live.remove(&id);
                    return;
                }
            }
            if learners.is_none() {
                learners = match db::workshops::members(&self.db, &id).await {
                    Ok(members) => Some(
                        members
                            .into_iter()
                            .filter(|m| m.role == MemberRole::Learner)
                            .map(|m| m.user_id)
                            .collect(),
                    ),
                    Err(err) => {
                        tracing::warn!(workshop = %id, error = %err, "live progress: roster");
                        continue;
                    }
                };
                seen = None;
            }
            let changes = self.db.changes();
            let now = learners.iter().flatten().fold(0u64, |acc, &user| {
                acc.wrapping_mul(0x100_0000_01b3)
                    .wrapping_add(changes.version(user))
            });
            if seen == Some(now) && computed.elapsed() < LIVE_REFRESH {
                continue;
            }
            match self.progress(&id).await {
                Ok(progress) => {
                    seen = Some(now);
                    computed = Instant::now();
                    tx.send_if_modified(|current| {
                        if current.as_deref() == Some(&progress) {
                            return false;
                        }
                        *current = Some(Arc::new(progress));
                        true
                    });
                }
                // An ended or deleted workshop: its streams are told and close.
                Err(err) => tracing::debug!(workshop = %id, error = %err, "live progress"),
            }
        }
    }

    /// A place for one more live stream of `user_id`, or 429 past the limit.
    pub fn open_stream(&self, user_id: i64) -> Result<StreamTicket> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let open = streams.entry(user_id).or_default();
        if *open >= STREAMS_PER_USER {
            return Err(Error::RateLimited {
                retry_after_secs: 10,
            });
        }
        *open += 1;
        Ok(StreamTicket {
            streams: self.streams.clone(),
            user_id,
        })
    }

    /// Announcements and roster changes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkshopEvent> {
        self.events.subscribe()
    }

    /// Creates a workshop; `creator` becomes its first instructor.
    pub async fn create(&self, creator: &User, new: NewWorkshop) -> Result<Workshop> {
        let title = new.title.trim().to_string();
        if title.is_empty() || title.chars().count() > MAX_TITLE {
            return Err(Error::BadRequest(format!(
                "Give the workshop a title of 1 to {MAX_TITLE} characters."
            )));
        }
        let now = now_ms();
        let starts_at = new.starts_at.unwrap_or(now);
        let ends_at = new.ends_at.unwrap_or(starts_at + 3 * 3_600_000);
        if ends_at <= starts_at || ends_at - starts_at > 366 * 86_400_000 {
            return Err(Error::BadRequest(
                "The workshop must end after it starts, and last at most a year.".into(),
            ));
        }
        if !(1..=1000).contains(&new.max_participants) {
            return Err(Error::BadRequest(
                "max_participants must be between 1 and 1000.".into(),
            ));
        }
        let most = new
            .max_participants
            .min(u32::try_from(self.labs.capacity()).unwrap_or(u32::MAX));
        if new.reserved_labs > most {
            return Err(Error::BadRequest(format!(
                "reserved_labs must be between 0 and {most}: no more than the workshop's participants and this server's lab capacity."
            )));
        }
        let mut items = Vec::new();
        for lesson in &new.lessons {
            let found = lesson
                .split_once('/')
                .and_then(|(t, s)| self.catalog.lesson(t, s));
            if found.is_none() {
                return Err(Error::BadRequest(format!(
                    "There is no lesson {lesson:?}; write track/slug, e.g. security/container-privileges."
                )));
            }
            items.push(WorkshopItem {
                kind: ItemKind::Lesson,
                item: lesson.clone(),
                deadline: None,
            });
        }
        for lab in &new.labs {
            if !self.catalog.labs.contains_key(lab) {
                return Err(Error::BadRequest(format!("There is no lab {lab:?}.")));
            }
            items.push(WorkshopItem {
                kind: ItemKind::Lab,
                item: lab.clone(),
                deadline: None,
            });
        }
        for exercise in &new.exercises {
            if !self.catalog.exercises.contains_key(exercise) {
                return Err(Error::BadRequest(format!(
                    "There is no exercise {exercise:?}."
                )));
            }
            items.push(WorkshopItem {
                kind: ItemKind::Exercise,
                item: exercise.clone(),
                deadline: new.deadlines.get(exercise).copied(),
            });
        }
        if let Some(stray) = new.deadlines.keys().find(|k| !new.exercises.contains(k)) {
            return Err(Error::BadRequest(format!(
                "A deadline is set for {stray:?}, which is not one of the workshop's exercises."
            )));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = items
            .iter()
            .find(|i| !seen.insert((i.kind, i.item.clone())))
        {
            return Err(Error::BadRequest(format!(
                "{} {:?} is listed twice.",
                dup.kind, dup.item
            )));
        }
        for _ in 0..5 {
            let workshop = Workshop {
                id: uuid::Uuid::new_v4().to_string(),
                title: title.clone(),
                code: join_code(),
                created_by: creator.id,
                starts_at,
                ends_at,
                max_participants: i64::from(new.max_participants),
                reserved_labs: i64::from(new.reserved_labs),
                approval: new.approval,
                accept_late: new.accept_late,
                ended_at: None,
                created_at: now,
            };
            if db::workshops::by_code(&self.db, &workshop.code)
                .await?
                .is_some()
            {
                continue;
            }
            db::workshops::insert(&self.db, &workshop, &items).await?;
            tracing::info!(workshop = %workshop.id, creator = creator.id, "workshop created");
            return Ok(workshop);
        }
        Err(Error::Conflict(
            "Could not find a free join code; try again.".into(),
        ))
    }

    /// The caller's access to workshop `id`; others get a 404 that reveals nothing.
    pub async fn access(&self, user: &User, id: &str) -> Result<(Workshop, Access)> {
        let hidden = || Error::NotFound("There is no such workshop, or it is not yours.".into());
        let workshop = db::workshops::by_id(&self.db, id)
            .await?
            .ok_or_else(hidden)?;
        if user.role == Role::Admin {
            return Ok((workshop, Access::Instructor));
        }
        let member = db::workshops::member(&self.db, id, user.id)
            .await?
            .ok_or_else(hidden)?;
        let access = match (member.role, member.status) {
            (MemberRole::Instructor, MemberStatus::Active) => Access::Instructor,
            (MemberRole::Learner, MemberStatus::Active) => Access::Learner,
            (MemberRole::Learner, MemberStatus::Pending) => Access::Pending,
            _ => return Err(hidden()),
        };
        Ok((workshop, access))
    }

    /// Like [`WorkshopService::access`], but only instructors pass.
    pub async fn as_instructor(&self, user: &User, id: &str) -> Result<Workshop> {
        match self.access(user, id).await? {
            (w, Access::Instructor) => Ok(w),
            _ => Err(Error::Forbidden(
                "Only the workshop's instructors can do this.".into(),
            )),
        }
    }

    /// A list entry for `workshop` as `user` sees it.
    pub async fn summary(
        &self,
        w: &Workshop,
        role: MemberRole,
        status: MemberStatus,
    ) -> Result<WorkshopSummary> {
        Ok(WorkshopSummary {
            id: w.id.clone(),
            title: w.title.clone(),
            code: (role == MemberRole::Instructor).then(|| w.code.clone()),
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            ended: !w.is_open(now_ms()),
            role: role.to_string(),
            status: status.to_string(),
            learners: u32::try_from(db::workshops::count_learners(&self.db, &w.id).await?)
                .unwrap_or(0),
            max_participants: u32::try_from(w.max_participants).unwrap_or(0),
        })
    }

    /// The caller's workshops.
    pub async fn list(&self, user: &User) -> Result<Vec<WorkshopSummary>> {
        let mut out = Vec::new();
        for (w, role, status) in db::workshops::of_user(&self.db, user.id).await? {
            out.push(self.summary(&w, role, status).await?);
        }
        Ok(out)
    }

    /// Joins by code. Banned people cannot; removed ones may come back.
    pub async fn join(&self, user: &User, code: &str) -> Result<WorkshopSummary> {
        if user.role == Role::Guest {
            return Err(Error::Unauthorized(
                "Register or log in to join a workshop, so your work is kept under your name."
                    .into(),
            ));
        }
        let code = code.trim().to_ascii_uppercase();
        let w = db::workshops::by_code(&self.db, &code)
            .await?
            .ok_or_else(|| {
                Error::NotFound("No workshop has this code. Check it with your instructor.".into())
            })?;
        if !w.is_open(now_ms()) {
            return Err(Error::Conflict("This workshop has ended.".into()));
        }
        if let Some(m) = db::workshops::member(&self.db, &w.id, user.id).await? {
            match m.status {
                MemberStatus::Active | MemberStatus::Pending => {
                    return self.summary(&w, m.role, m.status).await
                }
                MemberStatus::Banned => {
                    return Err(Error::Forbidden("You cannot join this workshop.".into()))
                }
                _ => {}
            }
        }
        if db::workshops::count_learners(&self.db, &w.id).await? >= w.max_participants {
            return Err(Error::Conflict("This workshop is full.".into()));
        }
        let status = if w.approval {
            MemberStatus::Pending
        } else {
            MemberStatus::Active
        };
        db::workshops::put_member(&self.db, &w.id, user.id, MemberRole::Learner, status).await?;
        self.notify(
            &w.id,
            "roster",
            serde_json::json!({ "user_id": user.id, "status": status }),
        );
        tracing::info!(workshop = %w.id, user_id = user.id, %status, "joined a workshop");
        self.summary(&w, MemberRole::Learner, status).await
    }

    /// Approve, remove, ban, make co-instructor, or reset a learner's lab.
    pub async fn roster_action(
        &self,
        actor: &User,
        id: &str,
        user_id: i64,
        action: RosterAction,
    ) -> Result<()> {
        let w = self.as_instructor(actor, id).await?;
        let member = db::workshops::member(&self.db, id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound("That person is not in this workshop.".into()))?;
        if member.user_id == w.created_by && action != RosterAction::ResetLab {
            return Err(Error::Conflict(
                "The workshop's creator stays an instructor.".into(),
            ));
        }
        match action {
            RosterAction::Approve => {
                db::workshops::put_member(&self.db, id, user_id, member.role, MemberStatus::Active)
                    .await?
            }
            RosterAction::Remove | RosterAction::Ban => {
                let status = if action == RosterAction::Ban {
                    MemberStatus::Banned
                } else {
                    MemberStatus::Removed
                };
                db::workshops::put_member(&self.db, id, user_id, member.role, status).await?;
                self.stop_labs_of(
                    &w,
                    user_id,
                    "Your instructor removed you from the workshop.",
                )
                .await?;
            }
            RosterAction::Promote => {
                db::workshops::put_member(
                    &self.db,
                    id,
                    user_id,
                    MemberRole::Instructor,
                    MemberStatus::Active,
                )
                .await?
            }
            RosterAction::ResetLab => {
                let session = self.running_workshop_lab(&w, user_id).await?;
                self.labs.reset(user_id, &session.id).await?;
            }
        }
        self.notify(
            id,
            "roster",
            serde_json::json!({ "user_id": user_id, "action": action.as_str() }),
        );
        tracing::info!(
            workshop = id,
            actor = actor.id,
            user_id,
            %action,
            "roster changed"
        );
        Ok(())
    }

    /// The learner's running lab that belongs to workshop `w`, while the
    /// workshop runs: an instructor's reach ends where the workshop does.
    async fn running_workshop_lab(
        &self,
        w: &Workshop,
        user_id: i64,
    ) -> Result<db::labs::LabSession> {
        if !w.is_open(now_ms()) {
            return Err(Error::Conflict("This workshop has ended.".into()));
        }
        let labs = self.workshop_labs(&w.id).await?;
        db::labs::active_for_user(&self.db, user_id)
            .await?
            .into_iter()
            .find(|s| s.status == LabStatus::Running && labs.contains(&s.lab))
            .ok_or_else(|| {
                Error::Conflict("This learner has no running lab of this workshop.".into())
            })
    }

    /// A learner's running workshop lab session `session`, for an
    /// instructor of workshop `id` to open its previews.
    pub async fn watchable_session(
        &self,
        actor: &User,
        id: &str,
        session: &str,
    ) -> Result<db::labs::LabSession> {
        let w = self.as_instructor(actor, id).await?;
        let not_here = || Error::NotFound("No such lab session in this workshop.".into());
        let found = db::labs::by_id(&self.db, session)
            .await?
            .ok_or_else(not_here)?;
        let member = db::workshops::member(&self.db, id, found.user_id).await?;
        if !member
            .is_some_and(|m| m.role == MemberRole::Learner && m.status == MemberStatus::Active)
        {
            return Err(not_here());
        }
        let running = self.running_workshop_lab(&w, found.user_id).await?;
        if running.id != found.id {
            return Err(not_here());
        }
        Ok(running)
    }

    /// The terminal of a learner's workshop lab, for an instructor to watch.
    pub async fn watchable_terminal(
        &self,
        actor: &User,
        id: &str,
        user_id: i64,
    ) -> Result<Arc<crate::labs::terminal::TerminalHub>> {
        let w = self.as_instructor(actor, id).await?;
        let member = db::workshops::member(&self.db, id, user_id).await?;
        if !member
            .is_some_and(|m| m.role == MemberRole::Learner && m.status == MemberStatus::Active)
        {
            return Err(Error::NotFound(
                "That learner is not in this workshop.".into(),
            ));
        }
        let session = self.running_workshop_lab(&w, user_id).await?;
        self.labs.terminal(user_id, &session.id).await
    }

    async fn workshop_labs(&self, id: &str) -> Result<Vec<String>> {
        Ok(db::workshops::items(&self.db, id)
            .await?
            .into_iter()
            .filter(|i| i.kind == ItemKind::Lab)
            .map(|i| i.item)
            .collect())
    }

    async fn stop_labs_of(&self, w: &Workshop, user_id: i64, _why: &str) -> Result<usize> {
        let labs = self.workshop_labs(&w.id).await?;
        let mut stopped = 0;
        for s in db::labs::active_for_user(&self.db, user_id).await? {
            if labs.contains(&s.lab) {
                self.labs.stop(user_id, &s.id).await?;
                stopped += 1;
            }
        }
        Ok(stopped)
    }

    /// Sends an announcement to every participant.
    pub async fn announce(&self, actor: &User, id: &str, body: &str) -> Result<AnnouncementView> {
        self.as_instructor(actor, id).await?;
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_ANNOUNCEMENT {
            return Err(Error::BadRequest(format!(
                "An announcement needs 1 to {MAX_ANNOUNCEMENT} characters."
            )));
        }
        let announcement_id = uuid::Uuid::new_v4().to_string();
        let at = db::workshops::announce(&self.db, &announcement_id, id, actor.id, body).await?;
        let view = AnnouncementView {
            id: announcement_id,
            author: actor.username.clone(),
            body: body.to_string(),
            created_at: at,
        };
        self.notify(
            id,
            "announcement",
            serde_json::to_value(&view).unwrap_or_default(),
        );
        Ok(view)
    }

    /// Ends the workshop: its learners' labs stop and the plan closes.
    pub async fn end(&self, actor: &User, id: &str) -> Result<usize> {
        let w = self.as_instructor(actor, id).await?;
        db::workshops::end(&self.db, id).await?;
        let mut stopped = 0;
        for m in db::workshops::members(&self.db, id).await? {
            if m.role == MemberRole::Learner {
                stopped += self
                    .stop_labs_of(&w, m.user_id, "The workshop ended.")
                    .await?;
            }
        }
        self.notify(id, "ended", serde_json::json!({ "stopped_labs": stopped }));
        tracing::info!(workshop = id, stopped, "workshop ended");
        Ok(stopped)
    }

    fn notify(&self, workshop_id: &str, kind: &'static str, data: serde_json::Value) {
        let _ = self.events.send(WorkshopEvent {
            workshop_id: workshop_id.to_string(),
            kind,
            data,
        });
    }

    fn item_view(&self, item: &WorkshopItem) -> WorkshopItemView {
        let (title, href) = match item.kind {
            ItemKind::Lesson => (
                item.item
                    .split_once('/')
                    .and_then(|(t, s)| self.catalog.lesson(t, s))
                    .map_or(item.item.clone(), |l| l.meta.title.clone()),
                format!("/lessons/{}", item.item),
            ),
            ItemKind::Lab => (
                self.catalog
                    .labs
                    .get(&item.item)
                    .map_or(item.item.clone(), |l| l.def.title.clone()),
                format!("/labs/{}", item.item),
            ),
            ItemKind::Exercise => (
                self.catalog
                    .exercises
                    .get(&item.item)
                    .map_or(item.item.clone(), |e| e.def.title.clone()),
                format!("/exercises/{}", item.item),
            ),
        };
        WorkshopItemView {
            kind: item.kind.to_string(),
            id: item.item.clone(),
            title,
            href,
            deadline: item.deadline,
        }
    }

    /// The workshop page for `user`: instructors get the roster too.
    pub async fn view(&self, user: &User, id: &str) -> Result<WorkshopView> {
        let (w, access) = self.access(user, id).await?;
        let role = if access == Access::Instructor {
            MemberRole::Instructor
        } else {
            MemberRole::Learner
        };
        let status = if access == Access::Pending {
            MemberStatus::Pending
        } else {
            MemberStatus::Active
        };
        let summary = self.summary(&w, role, status).await?;
        if access == Access::Pending {
            return Ok(WorkshopView {
                summary,
                items: Vec::new(),
                announcements: Vec::new(),
                approval: w.approval,
                accept_late: w.accept_late,
                reserved_labs: 0,
                me: None,
                roster: Vec::new(),
            });
        }
        let items = db::workshops::items(&self.db, id).await?;
        let announcements = db::workshops::announcements(&self.db, id)
            .await?
            .into_iter()
            .map(|a| AnnouncementView {
                id: a.id,
                author: a.author,
                body: a.body,
                created_at: a.created_at,
            })
            .collect();
        let me = if access == Access::Learner {
            self.rows(&w, &items, &[(user.id, user.username.clone())])
                .await?
                .0
                .into_iter()
                .next()
        } else {
            None
        };
        let roster = if access == Access::Instructor {
            db::workshops::members(&self.db, id)
                .await?
                .into_iter()
                .map(|m| RosterEntry {
                    user_id: m.user_id,
                    username: m.username,
                    role: m.role.to_string(),
                    status: m.status.to_string(),
                    joined_at: m.joined_at,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(WorkshopView {
            summary,
            items: items.iter().map(|i| self.item_view(i)).collect(),
            announcements,
            approval: w.approval,
            accept_late: w.accept_late,
            reserved_labs: u32::try_from(w.reserved_labs).unwrap_or(0),
            me,
            roster,
        })
    }

    /// The dashboard: every active learner and every exercise.
    pub async fn progress(&self, id: &str) -> Result<Progress> {
        let w = db::workshops::by_id(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound("There is no such workshop.".into()))?;
        let items = db::workshops::items(&self.db, id).await?;
        let learners: Vec<(i64, String)> = db::workshops::members(&self.db, id)
            .await?
            .into_iter()
            .filter(|m| m.role == MemberRole::Learner && m.status == MemberStatus::Active)
            .map(|m| (m.user_id, m.username))
            .collect();
        let (rows, latest) = self.rows(&w, &items, &learners).await?;
        let exercises = items
            .iter()
            .filter(|i| i.kind == ItemKind::Exercise)
            .map(|i| self.exercise_stats(i, &latest))
            .collect();
        Ok(Progress {
            workshop_id: id.to_string(),
            learners: rows,
            exercises,
        })
    }

    /// Learner rows, and each learner's latest report per exercise.
    #[allow(clippy::type_complexity)]
    async fn rows(
        &self,
        w: &Workshop,
        items: &[WorkshopItem],
        learners: &[(i64, String)],
    ) -> Result<(Vec<LearnerRow>, HashMap<(i64, String), GradeReport>)> {
        let lessons: Vec<&str> = items
            .iter()
            .filter(|i| i.kind == ItemKind::Lesson)
            .map(|i| i.item.as_str())
            .collect();
        let labs: Vec<&str> = items
            .iter()
            .filter(|i| i.kind == ItemKind::Lab)
            .map(|i| i.item.as_str())
            .collect();
        let exercises: Vec<&WorkshopItem> = items
            .iter()
            .filter(|i| i.kind == ItemKind::Exercise)
            .collect();
        let ids: HashSet<i64> = learners.iter().map(|(id, _)| *id).collect();
        let active = db::labs::active(&self.db).await?;
        let mut submissions: BTreeMap<String, Vec<db::submissions::StoredSubmission>> =
            BTreeMap::new();
        for e in &exercises {
            let all = db::submissions::for_exercise(&self.db, &e.item).await?;
            submissions.insert(
                e.item.clone(),
                all.into_iter()
                    .filter(|s| ids.contains(&s.user_id))
                    .collect(),
            );
        }
        let mut latest = HashMap::new();
        let mut rows = Vec::new();
        for (user_id, username) in learners {
            let done = db::progress::completed(&self.db, *user_id).await?;
            let lab = active
                .iter()
                .filter(|s| {
                    s.user_id == *user_id && (labs.is_empty() || labs.contains(&s.lab.as_str()))
                })
                .map(|s| LabState {
                    lab: s.lab.clone(),
                    session: s.id.clone(),
                    status: s.status.as_str().to_string(),
                })
                .next();
            let mut cells = Vec::new();
            for e in &exercises {
                let max = self
                    .catalog
                    .exercises
                    .get(&e.item)
                    .map_or(0, |x| x.max_points());
                let mine: Vec<&db::submissions::StoredSubmission> = submissions[&e.item]
                    .iter()
                    .filter(|s| s.user_id == *user_id)
                    .collect();
                let counted: Vec<&&db::submissions::StoredSubmission> = mine
                    .iter()
                    .filter(|s| w.accept_late || e.deadline.is_none_or(|d| s.created_at <= d))
                    .collect();
                let last = mine.iter().max_by_key(|s| (s.created_at, s.id.clone()));
                let report: Option<GradeReport> =
                    last.and_then(|s| serde_json::from_str(&s.report).ok());
                if let Some(report) = &report {
                    latest.insert((*user_id, e.item.clone()), report.clone());
                }
                cells.push(ExerciseCell {
                    exercise: e.item.clone(),
                    best: counted
                        .iter()
                        .map(|s| u32::try_from(s.score).unwrap_or(0))
                        .max(),
                    max,
                    attempts: u32::try_from(mine.len()).unwrap_or(0),
                    passed: counted.iter().any(|s| s.passed),
                    failing: report
                        .map(|r| {
                            r.checks
                                .into_iter()
                                .filter(|c| !c.passed)
                                .map(|c| c.id)
                                .collect()
                        })
                        .unwrap_or_default(),
                    late: e
                        .deadline
                        .is_some_and(|d| mine.iter().any(|s| s.created_at > d)),
                });
            }
            rows.push(LearnerRow {
                user_id: *user_id,
                username: username.clone(),
                lessons_done: u32::try_from(lessons.iter().filter(|l| done.contains(**l)).count())
                    .unwrap_or(0),
                lessons_total: u32::try_from(lessons.len()).unwrap_or(0),
                lab,
                exercises: cells,
            });
        }
        Ok((rows, latest))
    }

    fn exercise_stats(
        &self,
        item: &WorkshopItem,
        latest: &HashMap<(i64, String), GradeReport>,
    ) -> ExerciseStats {
        let exercise = self.catalog.exercises.get(&item.item);
        let reports: Vec<&GradeReport> = latest
            .iter()
            .filter(|((_, e), _)| e == &item.item)
            .map(|(_, r)| r)
            .collect();
        let tried = u32::try_from(reports.len()).unwrap_or(0);
        let checks: Vec<CheckStat> = exercise
            .map(|e| {
                e.def
                    .checks
                    .iter()
                    .map(|c| CheckStat {
                        id: c.id.to_string(),
                        title: c.id.title().to_string(),
                        passing: u32::try_from(
                            reports
                                .iter()
                                .filter(|r| r.checks.iter().any(|x| x.id == c.id.id() && x.passed))
                                .count(),
                        )
                        .unwrap_or(0),
                        of: tried,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let hardest = (tried > 0)
            .then(|| {
                checks
                    .iter()
                    .min_by_key(|c| c.passing)
                    .filter(|c| c.passing < tried)
                    .map(|c| c.id.clone())
            })
            .flatten();
        ExerciseStats {
            exercise: item.item.clone(),
            title: exercise.map_or(item.item.clone(), |e| e.def.title.clone()),
            deadline: item.deadline,
            tried,
            passed: u32::try_from(reports.iter().filter(|r| r.passed).count()).unwrap_or(0),
            checks,
            hardest,
        }
    }

    /// The gradebook as CSV: one row per learner and exercise, with stable columns.
    pub async fn grades_csv(&self, actor: &User, id: &str) -> Result<String> {
        let w = self.as_instructor(actor, id).await?;
        let items = db::workshops::items(&self.db, id).await?;
        let learners: Vec<(i64, String)> = db::workshops::members(&self.db, id)
            .await?
            .into_iter()
            .filter(|m| {
                m.role == MemberRole::Learner
                    && matches!(m.status, MemberStatus::Active | MemberStatus::Removed)
            })
            .map(|m| (m.user_id, m.username))
            .collect();
        let mut out = String::from(
            "learner,user_id,exercise,max_score,best_score,best_score_including_late,attempts,late_attempts,passed,deadline\n",
        );
        for e in items.iter().filter(|i| i.kind == ItemKind::Exercise) {
            let max = self
                .catalog
                .exercises
                .get(&e.item)
                .map_or(0, |x| x.max_points());
            let all = db::submissions::for_exercise(&self.db, &e.item).await?;
            for (user_id, username) in &learners {
                let mine: Vec<_> = all.iter().filter(|s| s.user_id == *user_id).collect();
                let on_time: Vec<_> = mine
                    .iter()
                    .filter(|s| e.deadline.is_none_or(|d| s.created_at <= d))
                    .collect();
                let late = mine.len() - on_time.len();
                let best = on_time.iter().map(|s| s.score).max();
                let best_all = mine.iter().map(|s| s.score).max();
                let passed = if w.accept_late {
                    mine.iter().any(|s| s.passed)
                } else {
                    on_time.iter().any(|s| s.passed)
                };
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    csv_field(username),
                    user_id,
                    csv_field(&e.item),
                    max,
                    best.map(|b| b.to_string()).unwrap_or_default(),
                    best_all.map(|b| b.to_string()).unwrap_or_default(),
                    mine.len(),
                    late,
                    passed,
                    e.deadline.map(|d| d.to_string()).unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }
}

/// A CSV field, quoted when needed; a leading formula character is
/// neutralised so spreadsheets never evaluate a learner's name.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Eight characters from an unambiguous alphabet.
fn join_code() -> String {
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("ada"), "ada");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }

    #[test]
    fn join_codes_avoid_lookalike_characters() {
        let code = join_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
    }
}
