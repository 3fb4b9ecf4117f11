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
        self.attempt_with_limit(key, self.limit)
    }

    /// [`Throttle::attempt`] with a limit for this key only.
    pub fn attempt_with_limit(&self, key: &str, limit: u32) -> Result<(), Error> {
        let now = Instant::now();
        let mut hits = self.hits.lock().unwrap_or_else(|p| p.into_inner());
        if hits.len() > 10_000 {
            hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let queue = hits.entry(key.to_string()).or_default();
        self.prune(queue, now);
        if queue.len() >= limit as usize {
            let oldest = queue.front().copied().unwrap_or(now);
            let wait = self.window.saturating_sub(now.duration_since(oldest));
            return Err(Error::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        queue.push_back(now);
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

/// Failed attempts per key that earn a growing wait instead of a lock:
/// after `free` failures each further attempt must wait twice as long as
/// the one before (1 s, 2 s, 4 s … up to `max_wait`). A success clears the
/// key; keys forget their failures after `window` without one.
#[derive(Debug)]
pub struct Backoff {
    free: u32,
    max_wait: Duration,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    pub fn new(free: u32, max_wait: Duration, window: Duration) -> Self {
        Self {
            free,
            max_wait,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(RateLimited)` while `key` must still wait.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some((count, last)) = failures.get(key).copied() else {
            return Ok(());
        };
        if count < self.free || now.duration_since(last) >= self.window {
            return Ok(());
        }
        let wait = self.wait_after(count);
        let waited = now.duration_since(last);
        if waited < wait {
            return Err(Error::RateLimited {
                retry_after_secs: (wait - waited).as_secs().max(1),
            });
        }
        Ok(())
    }

    fn wait_after(&self, count: u32) -> Duration {
        let doublings = count.saturating_sub(self.free).min(20);
        Duration::from_secs(1u64 << doublings).min(self.max_wait)
    }

    /// Records a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 10_000 {
            failures.retain(|_, (_, last)| now.duration_since(*last) < self.window);
        }
        let entry = failures.entry(key.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
    }

    /// Forgets `key` (after a success).
    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The throttles of the accounts area.
#[derive(Debug)]
pub struct AuthThrottles {
    /// Login attempts per client address.
    pub login_per_ip: Throttle,
    /// Failed logins per username *and* address: a growing wait, never a
    /// lock, so guessing from one address cannot lock the owner out.
    pub login_failures: Backoff,
    /// Registrations per client address (a valid workshop join code lifts it).
    pub register_per_ip: Throttle,
    /// Registrations through one workshop's join code (twice its places).
    pub register_per_code: Throttle,
    /// New guest identities per client address.
    pub guests_per_ip: Throttle,
}

impl AuthThrottles {
    pub fn from_settings(s: &crate::config::AuthSettings) -> Self {
        let window = Duration::from_secs(s.window_secs.max(1));
        Self {
            login_per_ip: Throttle::new(s.login_per_ip, window),
            login_failures: Backoff::new(
                s.login_failures_per_username,
                Duration::from_secs(300),
                window,
            ),
            register_per_ip: Throttle::new(s.register_per_ip, window),
            register_per_code: Throttle::new(u32::MAX, window),
            guests_per_ip: Throttle::new(s.guests_per_ip, window),
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
    fn failures_earn_a_growing_wait_and_a_success_clears_it() {
        let b = Backoff::new(2, Duration::from_secs(300), Duration::from_secs(600));
        b.fail("alice|1.2.3.4");
        b.fail("alice|1.2.3.4");
        assert!(b.check("alice|1.2.3.4").is_err(), "the third try waits");
        assert!(b.check("alice|5.6.7.8").is_ok(), "another address does not");
        assert_eq!(b.wait_after(2), Duration::from_secs(1));
        assert_eq!(b.wait_after(5), Duration::from_secs(8));
        assert_eq!(b.wait_after(40), Duration::from_secs(300));
        b.clear("alice|1.2.3.4");
        assert!(b.check("alice|1.2.3.4").is_ok());
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
