//! Slows down password guessing. Failures are counted per IP address and per
//! account; past a few free ones, each further failure doubles the wait before
//! the next attempt is even checked, up to a configured maximum. A success
//! clears the account's and the address's count.
//!
//! The counts live in memory: a restart forgives, which is acceptable because a
//! restart takes longer than most delays, and it keeps failed logins from
//! turning into database writes an attacker controls.
//!
//! Time is read from the store's [`Clock`] (monotonic instants), so tests
//! can let a delay pass without waiting for it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::Clock;

/// Entries untouched this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// At most this many addresses and accounts are tracked; past it the stalest
/// entries are dropped first.
const MAX_ENTRIES: usize = 50_000;

pub struct Throttle {
    free_failures: u32,
    max_delay: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    clock: Clock,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    blocked_until: Instant,
    last_failure: Instant,
}

impl Throttle {
    pub fn new(free_failures: u32, max_delay: Duration, clock: Clock) -> Self {
        Throttle {
            free_failures,
            max_delay,
            entries: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// `Err(wait)` if any of `keys` is still blocked.
    pub fn check(&self, keys: &[&str]) -> Result<(), Duration> {
        let now = self.clock.instant();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(*k))
            .map(|e| e.blocked_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failure against each key; returns the wait now imposed.
    pub fn fail(&self, keys: &[&str]) -> Duration {
        let now = self.clock.instant();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| now.duration_since(e.last_failure) < FORGET_AFTER);
            if entries.len() >= MAX_ENTRIES {
                let mut by_age: Vec<_> = entries
                    .iter()
                    .map(|(k, e)| (e.last_failure, k.clone()))
                    .collect();
                by_age.sort();
                for (_, key) in by_age.into_iter().take(MAX_ENTRIES / 10) {
                    entries.remove(&key);
                }
            }
        }
        let mut longest = Duration::ZERO;
        for key in keys {
            let entry = entries.entry(key.to_string()).or_insert(Entry {
                failures: 0,
                blocked_until: now,
                last_failure: now,
            });
            if now.duration_since(entry.last_failure) >= FORGET_AFTER {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_failure = now;
            let delay = self.delay_after(entry.failures);
            entry.blocked_until = now + delay;
            longest = longest.max(delay);
        }
        longest
    }

    pub fn succeed(&self, keys: &[&str]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            entries.remove(*key);
        }
    }

    /// No delay for the free failures, then 1 s, 2 s, 4 s, ... up to the maximum.
    fn delay_after(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration::ZERO;
        }
        let exponent = (failures - self.free_failures - 1).min(30);
        Duration::from_secs(1u64 << exponent).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_free_failures() {
        let t = Throttle::new(3, Duration::from_secs(60), Clock::system());
        let delays: Vec<u64> = (1..=10).map(|n| t.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 16, 32, 60]);
    }

    #[test]
    fn blocks_and_clears() {
        let t = Throttle::new(1, Duration::from_secs(60), Clock::system());
        assert!(t.check(&["ip:1", "user:a"]).is_ok());
        t.fail(&["ip:1", "user:a"]);
        assert!(t.check(&["user:a"]).is_ok());
        t.fail(&["ip:1", "user:a"]);
        assert!(t.check(&["user:a"]).is_err());
        assert!(t.check(&["ip:1"]).is_err());
        assert!(t.check(&["ip:2", "user:b"]).is_ok());
        t.succeed(&["ip:1", "user:a"]);
        assert!(t.check(&["ip:1", "user:a"]).is_ok());
    }

    #[test]
    fn delays_pass_and_old_failures_are_forgotten() {
        let clock = Clock::system();
        let t = Throttle::new(1, Duration::from_secs(60), clock.clone());
        t.fail(&["user:a"]);
        assert_eq!(t.fail(&["user:a"]), Duration::from_secs(1));
        assert!(t.check(&["user:a"]).is_err());
        clock.advance(Duration::from_secs(1));
        assert!(t.check(&["user:a"]).is_ok());
        // A third failure right away doubles the delay; an hour later it
        // counts as the first again.
        assert_eq!(t.fail(&["user:a"]), Duration::from_secs(2));
        clock.advance(FORGET_AFTER);
        assert_eq!(t.fail(&["user:a"]), Duration::ZERO);
    }
}
