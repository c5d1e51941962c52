//! Weekly hours (the business's opening hours, a staff member's working
//! hours): intervals of local wall-clock time per weekday.
//!
//! They are wall-clock times on purpose: "9:00–17:00" means 9:00 local on
//! every day, the days the clocks change included, which is what a weekly
//! timetable means to people. The calendar turns them into instants one day
//! at a time, through the time zone (see `office.rs`).
//!
//! People edit a day as text ("9:00-12:00, 13:00-17:30", or "closed"); the
//! store keeps the week as JSON.

use jiff::civil::{Time, Weekday};
use serde::{Deserialize, Serialize};

/// Minutes since local midnight, `0..=1440` (1440 is the end of the day).
pub type Minute = u16;

/// A part of a day, `[start, end)` in minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    pub start: Minute,
    pub end: Minute,
}

impl Interval {
    pub fn new(start: Minute, end: Minute) -> Option<Interval> {
        (start < end && end <= 1440).then_some(Interval { start, end })
    }

    /// The part both cover, if any.
    pub fn intersect(self, other: Interval) -> Option<Interval> {
        Interval::new(self.start.max(other.start), self.end.min(other.end))
    }

    pub fn contains(self, start: Minute, end: Minute) -> bool {
        self.start <= start && end <= self.end
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}–{}", clock(self.start), clock(self.end))
    }
}

/// `HH:MM` for a minute of the day.
pub fn clock(minute: Minute) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The minute of the day of a civil time (seconds dropped).
pub fn minute_of(time: Time) -> Minute {
    (time.hour() as u16) * 60 + time.minute() as u16
}

/// Intervals per weekday, Monday first; each day sorted, not overlapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekHours {
    days: [Vec<Interval>; 7],
}

/// Weekday names as people and the JSON write them, Monday first.
pub const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Default for WeekHours {
    /// Monday to Friday, 9:00–17:00: what a new office starts with.
    fn default() -> Self {
        let day = vec![Interval {
            start: 9 * 60,
            end: 17 * 60,
        }];
        WeekHours {
            days: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
        }
    }
}

impl WeekHours {
    pub fn closed() -> WeekHours {
        WeekHours {
            days: Default::default(),
        }
    }

    /// The week from each day's text, Monday first (see [`parse_day`]).
    pub fn from_texts(texts: &[String; 7]) -> Result<WeekHours, String> {
        let mut week = WeekHours::closed();
        for (i, text) in texts.iter().enumerate() {
            week.days[i] = parse_day(text).map_err(|e| format!("{}: {e}", DAY_NAMES[i]))?;
        }
        Ok(week)
    }

    pub fn on(&self, weekday: Weekday) -> &[Interval] {
        &self.days[weekday.to_monday_zero_offset() as usize]
    }

    /// Each day as people edit it, Monday first.
    pub fn texts(&self) -> [String; 7] {
        std::array::from_fn(|i| format_day(&self.days[i]))
    }

    pub fn is_closed(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("hours serialise")
    }

    /// The stored JSON; `None` (with the reason) when it is not valid.
    pub fn from_json(json: &str) -> Result<WeekHours, String> {
        let week: WeekHours =
            serde_json::from_str(json).map_err(|e| format!("stored hours are unreadable: {e}"))?;
        for day in &week.days {
            let valid = day.iter().all(|i| i.start < i.end && i.end <= 1440)
                && day.windows(2).all(|w| w[0].end <= w[1].start);
            if !valid {
                return Err("stored hours overlap or run past midnight".into());
            }
        }
        Ok(week)
    }
}

/// One day's hours from text: "9:00-17:00", "9-12, 13:00-17:30",
/// "08.30–12.00", "closed" or empty (closed). Intervals must not overlap;
/// "24:00" ends a day.
pub fn parse_day(text: &str) -> Result<Vec<Interval>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("closed") || text == "-" {
        return Ok(Vec::new());
    }
    let mut intervals = Vec::new();
    for part in text.split([',', ';']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (start, end) = part
            .split_once(['-', '–', '—'])
            .ok_or_else(|| format!("“{part}” is not a range like 9:00-17:00"))?;
        let start =
            parse_clock(start).ok_or_else(|| format!("“{}” is not a time", start.trim()))?;
        let end = parse_clock(end).ok_or_else(|| format!("“{}” is not a time", end.trim()))?;
        let interval =
            Interval::new(start, end).ok_or_else(|| format!("“{part}” ends before it starts"))?;
        intervals.push(interval);
    }
    intervals.sort();
    if intervals.windows(2).any(|w| w[0].end > w[1].start) {
        return Err("the times overlap".into());
    }
    Ok(intervals)
}

/// "9", "9:30", "09.30", "17:00", "24:00" as minutes since midnight.
pub fn parse_clock(text: &str) -> Option<Minute> {
    let text = text.trim();
    let (hours, minutes) = match text.split_once([':', '.', 'h']) {
        Some((h, m)) => (h, if m.is_empty() { "0" } else { m }),
        None => (text, "0"),
    };
    if hours.is_empty() || hours.len() > 2 || minutes.len() > 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    if minutes >= 60 || hours > 24 || (hours == 24 && minutes > 0) {
        return None;
    }
    Some(hours * 60 + minutes)
}

fn format_day(intervals: &[Interval]) -> String {
    if intervals.is_empty() {
        return "closed".into();
    }
    intervals
        .iter()
        .map(|i| format!("{}-{}", clock(i.start), clock(i.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The parts of `a` that `b` also covers (both sorted, not overlapping).
pub fn intersect_all(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            if let Some(both) = x.intersect(*y) {
                out.push(both);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, &str>) {
        let got = parse_day(text).map(|d| format_day(&d));
        match expected {
            Ok(formatted) => assert_eq!(got.as_deref(), Ok(formatted), "{text:?}"),
            Err(fragment) => {
                let err = got.expect_err(text);
                assert!(err.contains(fragment), "{text:?}: {err}");
            }
        }
    }

    #[test]
    fn days_are_read_as_people_write_them() {
        check("9:00-17:00", Ok("09:00-17:00"));
        check("9-12, 13:00-17:30", Ok("09:00-12:00, 13:00-17:30"));
        check("13:00-17:30; 08.30–12.00", Ok("08:30-12:00, 13:00-17:30"));
        check("closed", Ok("closed"));
        check("", Ok("closed"));
        check("Closed", Ok("closed"));
        check("0:00-24:00", Ok("00:00-24:00"));
        check("9h-17h30", Ok("09:00-17:30"));
        check("17:00-9:00", Err("ends before it starts"));
        check("9-12, 11-13", Err("overlap"));
        check("9:00", Err("not a range"));
        check("9:75-10", Err("not a time"));
        check("25:00-26:00", Err("not a time"));
        check("24:30-24:45", Err("not a time"));
    }

    #[test]
    fn a_week_round_trips_through_json_and_text() {
        let week = WeekHours::default();
        assert_eq!(WeekHours::from_json(&week.to_json()).unwrap(), week);
        assert_eq!(WeekHours::from_texts(&week.texts()).unwrap(), week);
        assert_eq!(week.on(Weekday::Saturday), &[]);
        assert!(
            WeekHours::from_json("{\"days\":[[{\"start\":600,\"end\":500}],[],[],[],[],[],[]]}")
                .is_err()
        );
        assert!(WeekHours::from_json("nonsense").is_err());
    }

    #[test]
    fn intersections() {
        let a = parse_day("8:00-12:00, 13:00-18:00").unwrap();
        let b = parse_day("9:00-17:00").unwrap();
        assert_eq!(
            format_day(&intersect_all(&a, &b)),
            "09:00-12:00, 13:00-17:00"
        );
        assert!(intersect_all(&a, &[]).is_empty());
    }
}
