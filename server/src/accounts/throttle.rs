//! In-memory sliding-window throttling for logins and registrations.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::Error;

/// Counts events per key and refuses more than `limit` within `window`.
#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    fn prune(&self, queue: &mut VecDeque<Instant>, now: Instant) {
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            queue.pop_front();
        }
    }

    /// `Err(RateLimited)` when `key` already used up its allowance.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = hits.get_mut(key) else {
            return Ok(());
        };
        self.prune(queue, now);
        if queue.len() >= self.limit as usize {
            let oldest = queue.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(Error::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(())
    }

    /// Records one event for `key`.
    pub fn hit(&self, key: &str) {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        // Keep memory bounded: drop keys whose events have all expired.
        if hits.len() > 10_000 {
            hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let queue = hits.entry(key.to_string()).or_default();
        self.prune(queue, now);
        queue.push_back(now);
    }

    /// `check` then `hit`: for attempts that count whether or not they succeed.
    pub fn attempt(&self, key: &str) -> Result<(), Error> {
        self.check(key)?;
        self.hit(key);
        Ok(())
    }

    /// Forgets `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        self.hits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The throttles of the accounts area.
#[derive(Debug)]
pub struct AuthThrottles {
    pub login_per_ip: Throttle,
    pub login_failures_per_username: Throttle,
    pub register_per_ip: Throttle,
}

impl AuthThrottles {
    pub fn from_settings(s: &crate::config::AuthSettings) -> Self {
        let window = Duration::from_secs(s.window_secs.max(1));
        Self {
            login_per_ip: Throttle::new(s.login_per_ip, window),
            login_failures_per_username: Throttle::new(s.login_failures_per_username, window),
            register_per_ip: Throttle::new(s.register_per_ip, window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_the_window_and_says_how_long_to_wait() {
        let t = Throttle::new(2, Duration::from_secs(60));
        t.attempt("k").unwrap();
        t.attempt("k").unwrap();
        let Err(Error::RateLimited { retry_after_secs }) = t.attempt("k") else {
            panic!("third attempt must fail")
        };
        assert!((1..=60).contains(&retry_after_secs));
        t.attempt("other").unwrap();
        t.clear("k");
        t.attempt("k").unwrap();
    }

    #[test]
    fn old_events_fall_out_of_the_window() {
        let t = Throttle::new(1, Duration::from_millis(20));
        t.attempt("k").unwrap();
        assert!(t.check("k").is_err());
        std::thread::sleep(Duration::from_millis(30));
        t.attempt("k").unwrap();
    }
}
