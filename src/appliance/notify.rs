//! systemd's readiness and watchdog protocol (`Type=notify`,
//! `WatchdogSec=`): READY=1 once Hearth listens, then WATCHDOG=1 while it
//! is healthy. Outside systemd (no `NOTIFY_SOCKET`) every call does nothing.
//!
//! The watchdog ping is earned, not sent from a timer alone: each one waits
//! for the database to answer a query, on the same runtime that serves
//! requests. A wedged runtime or a database that no longer answers stops
//! the pings, and systemd restarts Hearth (`Restart=on-failure`).

use std::time::Duration;

use sd_notify::NotifyState;

use crate::store::Store;

/// Tells systemd that Hearth is serving, with a status line
/// `systemctl status hearth` shows.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd that Hearth is stopping on purpose.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Tells systemd that Hearth restarts in place (same process, a fresh
/// program after `exec`), which sends READY again when it serves.
pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::Status("restarting into a restored backup"),
    ]);
}

/// A new status line for `systemctl status hearth`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

fn send(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// When systemd set a watchdog for this process, pings it at half its
/// interval for as long as the database answers within a quarter of it.
/// Returns at once (and never pings) when there is no watchdog.
pub async fn keep_watchdog(store: Store) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let mut ticks = tokio::time::interval(interval / 2);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        match tokio::time::timeout(interval / 4, store.ping()).await {
            Ok(Ok(())) => {
                if failing {
                    tracing::info!("the database answers again; watchdog pings resume");
                    failing = false;
                }
                send(&[NotifyState::Watchdog]);
            }
            Ok(Err(err)) => {
                failing = true;
                tracing::error!(error = %err, "the database check failed; systemd's watchdog is not pinged");
            }
            Err(_) => {
                failing = true;
                tracing::error!(
                    waited = ?(interval / 4),
                    "the database did not answer in time; systemd's watchdog is not pinged"
                );
            }
        }
    }
}

/// How long to wait between watchdog pings for a given `WatchdogSec`;
/// public for the tests' arithmetic.
pub fn ping_interval(watchdog: Duration) -> Duration {
    watchdog / 2
}
