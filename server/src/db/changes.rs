//! Which users' pages may have changed: a version per user, bumped after a
//! write that a page of theirs shows (progress, answers, labs, submissions,
//! role, membership). Caches of rendered pages compare versions instead of
//! asking the database.
//!
//! Versions live in a fixed table of counters indexed by a hash of the user
//! id, so memory stays constant however many guests come and go; two users
//! sharing a counter only see each other's writes as a (harmless) cache miss.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Db;

/// 2^12 counters: 32 KiB.
const BITS: u32 = 12;

pub struct Changes {
    counters: Box<[AtomicU64]>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            counters: (0..1usize << BITS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Changes")
    }
}

impl Changes {
    fn counter(&self, user_id: i64) -> &AtomicU64 {
        // Fibonacci hashing spreads consecutive ids over the table.
        let slot = (user_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS);
        &self.counters[slot as usize]
    }

    /// The current version of what `user_id`'s pages show.
    pub fn version(&self, user_id: i64) -> u64 {
        self.counter(user_id).load(Ordering::Acquire)
    }

    /// Notes that something `user_id`'s pages show has changed. Call after
    /// the write has committed.
    pub fn bump(&self, user_id: i64) {
        self.counter(user_id).fetch_add(1, Ordering::AcqRel);
    }
}

/// Bumps the owner of lab session `id` (after a write keyed by the session).
pub async fn lab_owner_changed(db: &Db, id: &str) -> crate::error::Result<()> {
    owner_changed(db, "SELECT user_id FROM lab_sessions WHERE id = $1", id).await
}

/// Bumps the author of submission `id`.
pub async fn submitter_changed(db: &Db, id: &str) -> crate::error::Result<()> {
    owner_changed(db, "SELECT user_id FROM submissions WHERE id = $1", id).await
}

/// Bumps the user `owner_sql` (one `user_id` for `$1`) names for `id`.
async fn owner_changed(db: &Db, owner_sql: &str, id: &str) -> crate::error::Result<()> {
    let owner: Option<(i64,)> = sqlx::query_as(owner_sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    if let Some((user,)) = owner {
        db.changes().bump(user);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_only_that_users_version() {
        let changes = Changes::default();
        let (a, b) = (1, 2);
        let (va, vb) = (changes.version(a), changes.version(b));
        changes.bump(a);
        assert_ne!(changes.version(a), va);
        assert_eq!(changes.version(b), vb, "ids 1 and 2 share no counter");
        changes.bump(-7);
        assert_eq!(changes.version(b), vb);
    }

    #[test]
    fn consecutive_ids_spread_over_the_table() {
        let changes = Changes::default();
        let slots: std::collections::HashSet<_> = (0..1000)
            .map(|id| changes.counter(id) as *const AtomicU64)
            .collect();
        assert!(slots.len() > 900, "{} distinct counters", slots.len());
    }
}
