//! `workshops`, `workshop_items`, `workshop_members` and
//! `workshop_announcements`: a workshop's plan, its people and its news.

use sqlx::Row;

use super::{now_ms, Db};
use crate::error::Result;

/// Declares an enum stored as text: its spellings, `as_str` and `FromStr`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant, )*
        }

        impl $name {
            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::error::Error;

            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $( $text => Ok($name::$variant), )*
                    other => Err(crate::error::Error::BadRequest(format!(
                        "{other:?} is not one of: {}",
                        [$($text),*].join(", ")
                    ))),
                }
            }
        }
    };
}

text_enum! {
    /// A member's part in a workshop.
    MemberRole { Instructor = "instructor", Learner = "learner" }
}

text_enum! {
    /// Where a member stands.
    MemberStatus {
        /// Joined, waiting for the instructor's approval.
        Pending = "pending",
        Active = "active",
        /// Removed by an instructor; may join again.
        Removed = "removed",
        /// May not join again.
        Banned = "banned",
    }
}

text_enum! {
    /// What a workshop's plan holds.
    ItemKind { Lesson = "lesson", Lab = "lab", Exercise = "exercise" }
}

text_enum! {
    /// What an instructor does to a member.
    RosterAction {
        Approve = "approve",
        Remove = "remove",
        Ban = "ban",
        /// Make co-instructor.
        Promote = "promote",
        /// Reset the learner's lab of the workshop.
        ResetLab = "reset-lab",
    }
}

/// One row of `workshops`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workshop {
    pub id: String,
    pub title: String,
    pub code: String,
    pub created_by: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub max_participants: i64,
    pub reserved_labs: i64,
    pub approval: bool,
    pub accept_late: bool,
    pub ended_at: Option<i64>,
    pub created_at: i64,
}

impl Workshop {
    /// Whether the workshop still takes part in anything.
    pub fn is_open(&self, now: i64) -> bool {
        self.ended_at.is_none() && now < self.ends_at
    }
}

/// One lesson, lab or exercise of a workshop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkshopItem {
    pub kind: ItemKind,
    /// `track/slug`, a lab id or an exercise id.
    pub item: String,
    pub deadline: Option<i64>,
}

/// A person in a workshop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub role: MemberRole,
    pub status: MemberStatus,
    pub joined_at: i64,
}

/// An announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub id: String,
    pub author: String,
    pub body: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, title, code, created_by, starts_at, ends_at, max_participants, \
                       reserved_labs, approval, accept_late, ended_at, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Workshop> {
    Ok(Workshop {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        code: row.try_get("code")?,
        created_by: row.try_get("created_by")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        max_participants: row.try_get("max_participants")?,
        reserved_labs: row.try_get("reserved_labs")?,
        approval: row.try_get::<i64, _>("approval")? != 0,
        accept_late: row.try_get::<i64, _>("accept_late")? != 0,
        ended_at: row.try_get("ended_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Creates a workshop with its items; its creator becomes its first instructor.
pub async fn insert(db: &Db, w: &Workshop, items: &[WorkshopItem]) -> Result<()> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO workshops (id, title, code, created_by, starts_at, ends_at, max_participants, \
         reserved_labs, approval, accept_late, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&w.id)
    .bind(&w.title)
    .bind(&w.code)
    .bind(w.created_by)
    .bind(w.starts_at)
    .bind(w.ends_at)
    .bind(w.max_participants)
    .bind(w.reserved_labs)
    .bind(i64::from(w.approval))
    .bind(i64::from(w.accept_late))
    .bind(w.created_at)
    .execute(&mut *tx)
    .await?;
    for (position, item) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO workshop_items (workshop_id, kind, item, deadline, position) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&w.id)
        .bind(item.kind.as_str())
        .bind(&item.item)
        .bind(item.deadline)
        .bind(position as i64)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO workshop_members (workshop_id, user_id, role, status, joined_at) \
         VALUES ($1, $2, 'instructor', 'active', $3)",
    )
    .bind(&w.id)
    .bind(w.created_by)
    .bind(w.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The workshop `id`.
pub async fn by_id(db: &Db, id: &str) -> Result<Option<Workshop>> {
    let sql = format!("SELECT {COLUMNS} FROM workshops WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// The workshop with join code `code`.
pub async fn by_code(db: &Db, code: &str) -> Result<Option<Workshop>> {
    let sql = format!("SELECT {COLUMNS} FROM workshops WHERE code = $1");
    let row = sqlx::query(&sql)
        .bind(code)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Workshops `user_id` is an active member of (any role), newest first.
pub async fn of_user(db: &Db, user_id: i64) -> Result<Vec<(Workshop, MemberRole, MemberStatus)>> {
    let sql = format!(
        "SELECT {}, m.role AS member_role, m.status AS member_status FROM workshops w \
         JOIN workshop_members m ON m.workshop_id = w.id \
         WHERE m.user_id = $1 AND m.status IN ('active', 'pending') ORDER BY w.starts_at DESC, w.id",
        COLUMNS
            .split(", ")
            .map(|c| format!("w.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = sqlx::query(&sql).bind(user_id).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok((
                from_row(r)?,
                r.try_get::<String, _>("member_role")?.parse()?,
                r.try_get::<String, _>("member_status")?.parse()?,
            ))
        })
        .collect()
}

/// Every open workshop that reserves lab capacity.
pub async fn reserving(db: &Db, now: i64) -> Result<Vec<Workshop>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workshops WHERE ended_at IS NULL AND ends_at > $1 \
         AND starts_at <= $1 AND reserved_labs > 0"
    );
    let rows = sqlx::query(&sql).bind(now).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// The workshop's items in order.
pub async fn items(db: &Db, workshop_id: &str) -> Result<Vec<WorkshopItem>> {
    let rows = sqlx::query(
        "SELECT kind, item, deadline FROM workshop_items WHERE workshop_id = $1 ORDER BY position",
    )
    .bind(workshop_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WorkshopItem {
                kind: r.try_get::<String, _>("kind")?.parse()?,
                item: r.try_get("item")?,
                deadline: r.try_get("deadline")?,
            })
        })
        .collect()
}

/// Everyone who ever joined, instructors first.
pub async fn members(db: &Db, workshop_id: &str) -> Result<Vec<Member>> {
    let rows = sqlx::query(
        "SELECT m.user_id, u.username, m.role, m.status, m.joined_at FROM workshop_members m \
         JOIN users u ON u.id = m.user_id WHERE m.workshop_id = $1 \
         ORDER BY m.role, u.username",
    )
    .bind(workshop_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get("user_id")?,
                username: r.try_get("username")?,
                role: r.try_get::<String, _>("role")?.parse()?,
                status: r.try_get::<String, _>("status")?.parse()?,
                joined_at: r.try_get("joined_at")?,
            })
        })
        .collect()
}

/// One person's membership, whatever its status.
pub async fn member(db: &Db, workshop_id: &str, user_id: i64) -> Result<Option<Member>> {
    Ok(members(db, workshop_id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id))
}

/// Adds (or re-adds) a member with a role and status.
pub async fn put_member(
    db: &Db,
    workshop_id: &str,
    user_id: i64,
    role: MemberRole,
    status: MemberStatus,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO workshop_members (workshop_id, user_id, role, status, joined_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workshop_id, user_id) DO UPDATE SET role = $3, status = $4",
    )
    .bind(workshop_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(status.as_str())
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    db.changes().bump(user_id);
    Ok(())
}

/// Active learners of a workshop.
pub async fn count_learners(db: &Db, workshop_id: &str) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM workshop_members WHERE workshop_id = $1 \
         AND role = 'learner' AND status IN ('active', 'pending')",
    )
    .bind(workshop_id)
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get("n")?)
}

/// Marks the workshop ended now.
pub async fn end(db: &Db, workshop_id: &str) -> Result<()> {
    sqlx::query("UPDATE workshops SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(now_ms())
        .bind(workshop_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Stores an announcement.
pub async fn announce(
    db: &Db,
    id: &str,
    workshop_id: &str,
    author_id: i64,
    body: &str,
) -> Result<i64> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO workshop_announcements (id, workshop_id, author_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(workshop_id)
    .bind(author_id)
    .bind(body)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(now)
}

/// The workshop's announcements, newest first.
pub async fn announcements(db: &Db, workshop_id: &str) -> Result<Vec<Announcement>> {
    let rows = sqlx::query(
        "SELECT a.id, u.username, a.body, a.created_at FROM workshop_announcements a \
         JOIN users u ON u.id = a.author_id WHERE a.workshop_id = $1 \
         ORDER BY a.created_at DESC, a.id DESC LIMIT 100",
    )
    .bind(workshop_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Announcement {
                id: r.try_get("id")?,
                author: r.try_get("username")?,
                body: r.try_get("body")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The title of a workshop `user_id` learns in whose deadline for `exercise`
/// has passed at `now` and which takes no late work, if there is one.
pub async fn closed_deadline(
    db: &Db,
    user_id: i64,
    exercise: &str,
    now: i64,
) -> Result<Option<String>> {
    for (w, role, status) in of_user(db, user_id).await? {
        if role != MemberRole::Learner || status != MemberStatus::Active || w.accept_late {
            continue;
        }
        let passed = items(db, &w.id).await?.iter().any(|i| {
            i.kind == ItemKind::Exercise
                && i.item == exercise
                && i.deadline.is_some_and(|d| d < now)
        });
        if passed {
            return Ok(Some(w.title));
        }
    }
    Ok(None)
}

/// The workshop with join `code` (any case) if it is open and has room.
pub async fn joinable_by_code(db: &Db, code: &str, now: i64) -> Result<Option<Workshop>> {
    let code = code.trim().to_ascii_uppercase();
    let Some(w) = by_code(db, &code).await? else {
        return Ok(None);
    };
    if !w.is_open(now) || count_learners(db, &w.id).await? >= w.max_participants {
        return Ok(None);
    }
    Ok(Some(w))
}
