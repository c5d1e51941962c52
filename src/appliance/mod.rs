//! The box itself: what Hearth does when it is the office's appliance
//! rather than a program on someone's laptop. [`notify`] tells systemd when
//! Hearth is ready and that it is still alive (the unit's watchdog);
//! [`lan`] announces `hearth.local` on the office network by multicast DNS;
//! [`status`] keeps the file the box's own screen is drawn from, and
//! [`console`] draws it (`hearth console`, on tty1 and the serial console);
//! [`tls`] makes and serves the box's HTTPS certificate; [`ssh`] opens remote
//! maintenance only when the owner asks; [`update`] replaces
//! the whole system, A/B, and goes back if it fails.

pub mod console;
pub mod health;
pub mod lan;
pub mod notify;
pub mod ssh;
pub mod status;
pub mod tls;
pub mod update;
