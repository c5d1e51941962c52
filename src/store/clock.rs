//! Hearth's clock: the time every stored timestamp and every time-based
//! decision (session expiry, login delays, purges) is read from.
//!
//! It is the system clock. Each [`Store`](super::Store) carries one, shared
//! by everything built on that store, so a test can move time forward with
//! [`Clock::advance`] and see sessions expire or login delays pass, instead
//! of rewriting timestamps in the database or sleeping. Nothing in Hearth
//! advances it, so in production it only ever reads the system clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A cheap-to-clone handle; clones share how far the clock was advanced.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Milliseconds tests have moved this clock forward; always zero in
    /// production.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Seconds since the Unix epoch: every timestamp in the database.
    pub fn now(&self) -> i64 {
        (jiff::Timestamp::now() + self.ahead()).as_second()
    }

    /// A monotonic instant, for delays that must not jump with the wall
    /// clock (login throttling).
    pub fn instant(&self) -> Instant {
        Instant::now() + self.ahead()
    }

    /// Moves this clock (and every clone of it) forward by `by`. Only for
    /// tests: time passes for the store's timestamps and for every decision
    /// made with this clock, without waiting.
    #[doc(hidden)]
    pub fn advance(&self, by: Duration) {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(by_ms, Ordering::Relaxed);
    }

    fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_both_readings_and_every_clone() {
        let clock = Clock::system();
        let copy = clock.clone();
        let (seconds, instant) = (clock.now(), clock.instant());
        copy.advance(Duration::from_secs(3600));
        assert!(clock.now() - seconds >= 3600);
        assert!(clock.instant() - instant >= Duration::from_secs(3600));
        assert!(Clock::system().now() < clock.now());
    }
}
