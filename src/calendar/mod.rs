//! The calendar engine: time zones, weekly hours, availability and
//! conflicts (the one source of truth for "is this time free"), recurrence,
//! calendar files, and reading dates and times in requests. No HTTP, no
//! people: the scheduling capability and the assistant ask it.

pub mod hours;
pub mod office;
pub mod when;

pub use hours::{Interval, WeekHours};
pub use office::{Candidate, Conflict, Office, Plan, Settings, Slot, SlotQuery};
