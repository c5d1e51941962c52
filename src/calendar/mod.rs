//! The calendar engine: time zones, weekly hours, availability and
//! conflicts (the one source of truth for "is this time free"), recurrence,
//! calendar files, and reading dates and times in requests. No HTTP, no
//! people: the scheduling capability and the assistant ask it.

pub mod hours;
pub mod ics;
pub mod intent;
pub mod office;
pub mod recurrence;
pub mod when;
pub mod windows_zones;

#[cfg(test)]
mod dst_tests;
#[cfg(test)]
mod oracle;

pub use hours::{Interval, WeekHours};
pub use office::{Candidate, Conflict, Office, Plan, Settings, Slot, SlotQuery};
