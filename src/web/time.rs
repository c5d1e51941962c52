//! Instants as people read them, in the business's time zone: "today 14:05",
//! "yesterday 09:12", "Mon 14:05" within the last week, "3 Dec" earlier this
//! year and "3 Dec 2025" in other years, each inside a
//! `<time datetime=... title=...>` element that carries the full date and
//! time for a mouse hover and for programs.
//!
//! [`describe`] is the pure rule (an instant, "now" and a zone in, words
//! out), tested through a table with a fixed "now"; [`Times`] is what a page
//! handler takes to apply it: the business's zone (the schedule's
//! `schedule.time_zone`, the one Admin → Business and Admin → Schedule edit)
//! and the store's clock, read once per request.
//!
//! Days are compared as local calendar dates, never as multiples of 24
//! hours, so "yesterday" stays right on the 23- and 25-hour days when the
//! clocks change.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use crate::app::AppState;
use crate::calendar::Settings;
use crate::calendar::office::TIME_ZONE_SETTING;
use crate::error::AppError;

/// An instant ready for a page: rendered by askama as
/// `<time datetime="2025-12-03T14:05:00+01:00" title="Wednesday 3 December
/// 2025, 14:05 CET">today 14:05</time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// RFC 3339 with the zone's offset, for `datetime`.
    pub machine: String,
    /// The whole date and time in words, for `title`.
    pub full: String,
    /// What people read: "today 14:05", "3 Dec".
    pub short: String,
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "Never", "-": words, not a time.
        if self.machine.is_empty() {
            return f.write_str(&escape(&self.short));
        }
        write!(
            f,
            "<time datetime=\"{}\" title=\"{}\">{}</time>",
            escape(&self.machine),
            escape(&self.full),
            escape(&self.short)
        )
    }
}

/// Every part is escaped by `Display` itself (above), so askama writes the
/// element as it is.
impl askama::filters::HtmlSafe for Moment {}

/// Minimal HTML escaping for the three parts (they are made of digits,
/// month and zone names, but a zone name comes from a setting).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `at` as people read it at `now` in `zone`.
pub fn describe(at: Timestamp, now: Timestamp, zone: &TimeZone) -> Moment {
    let local = at.to_zoned(zone.clone());
    let today = now.to_zoned(zone.clone()).date();
    let day = local.date();
    let clock = local.strftime("%H:%M");
    // Whole calendar days between the two local dates (not 24-hour spans).
    let days_ago = day
        .until(today)
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(i64::MAX);
    let short = match days_ago {
        0 => format!("today {clock}"),
        1 => format!("yesterday {clock}"),
        -1 => format!("tomorrow {clock}"),
        // Seven days back would be today's weekday again: a date then.
        2..=6 => local.strftime("%a %H:%M").to_string(),
        _ if day.year() == today.year() => local.strftime("%-d %b").to_string(),
        _ => local.strftime("%-d %b %Y").to_string(),
    };
    Moment {
        machine: local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        full: full(&local),
        short,
    }
}

/// "Wednesday 3 December 2025, 14:05 CET".
fn full(local: &Zoned) -> String {
    local.strftime("%A %-d %B %Y, %H:%M %Z").to_string()
}

/// What a page needs to show instants: the business's zone and the time
/// now (the store's clock, which tests move). A handler takes it as an
/// argument, like [`crate::web::layout::Shell`].
#[derive(Debug, Clone)]
pub struct Times {
    zone: TimeZone,
    now: Timestamp,
}

impl Times {
    pub fn new(zone: TimeZone, now: Timestamp) -> Times {
        Times { zone, now }
    }

    /// The business's zone (falling back to the box's own, like the
    /// schedule does) and the store's "now".
    pub async fn load(state: &AppState) -> Result<Times, AppError> {
        let name = state.store.setting(TIME_ZONE_SETTING).await?;
        let zone = Settings::from_stored(name.as_deref(), None, None).zone;
        let now = Timestamp::from_second(state.store.now()).unwrap_or(Timestamp::UNIX_EPOCH);
        Ok(Times::new(zone, now))
    }

    /// The business's zone, for reading dates people type (a filter's
    /// "from" and "to") as its days.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Unix seconds as a [`Moment`].
    pub fn at(&self, unix: i64) -> Moment {
        match Timestamp::from_second(unix) {
            Ok(at) => describe(at, self.now, &self.zone),
            Err(_) => Moment {
                machine: String::new(),
                full: String::new(),
                short: "-".to_string(),
            },
        }
    }

    /// Optional Unix seconds: a [`Moment`], or `never` as plain text.
    pub fn at_or(&self, unix: Option<i64>, never: &str) -> Moment {
        match unix {
            Some(unix) => self.at(unix),
            None => Moment {
                machine: String::new(),
                full: String::new(),
                short: never.to_string(),
            },
        }
    }
}

impl FromRequestParts<AppState> for Times {
    type Rejection = AppError;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Times::load(state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `at` (a local date-time in `zone`) as seen at `now` (another).
    #[track_caller]
    fn check(zone: &str, now: &str, at: &str, short: &str) {
        let tz = TimeZone::get(zone).unwrap();
        let instant = |text: &str| -> Timestamp {
            let civil: jiff::civil::DateTime = text.parse().unwrap();
            tz.to_ambiguous_timestamp(civil).earlier().unwrap()
        };
        let moment = describe(instant(at), instant(now), &tz);
        assert_eq!(moment.short, short, "{at} seen at {now} in {zone}");
    }

    #[test]
    fn instants_read_relative_to_now() {
        let berlin = "Europe/Berlin";
        // Wednesday 3 December 2025, 15:00.
        let now = "2025-12-03T15:00";
        check(berlin, now, "2025-12-03T14:05", "today 14:05");
        check(berlin, now, "2025-12-03T00:00", "today 00:00");
        check(berlin, now, "2025-12-02T23:59:59", "yesterday 23:59");
        check(berlin, now, "2025-12-02T09:12", "yesterday 09:12");
        check(berlin, now, "2025-12-01T14:05", "Mon 14:05");
        check(berlin, now, "2025-11-27T08:00", "Thu 08:00");
        // Seven days back is a Wednesday again: a date, not "Wed".
        check(berlin, now, "2025-11-26T16:00", "26 Nov");
        check(berlin, now, "2025-01-01T00:00", "1 Jan");
        check(berlin, now, "2024-12-31T23:59", "31 Dec 2024");
        check(berlin, now, "2025-12-04T09:00", "tomorrow 09:00");
        check(berlin, now, "2026-01-10T09:00", "10 Jan 2026");
        // Midnight edges: a minute after midnight, the evening before is
        // yesterday; a second before midnight, the morning is today.
        check(
            berlin,
            "2025-12-03T00:01",
            "2025-12-02T23:58",
            "yesterday 23:58",
        );
        check(
            berlin,
            "2025-12-03T23:59:59",
            "2025-12-03T00:00",
            "today 00:00",
        );
        check(
            berlin,
            "2026-01-01T00:00:30",
            "2025-12-31T23:59",
            "yesterday 23:59",
        );
        check(berlin, "2026-01-02T10:00", "2025-12-29T10:00", "Mon 10:00");
    }

    #[test]
    fn days_follow_the_calendar_on_the_days_the_clocks_change() {
        let berlin = "Europe/Berlin";
        // 30 March 2025 has 23 hours (02:00 → 03:00).
        check(
            berlin,
            "2025-03-30T12:00",
            "2025-03-30T00:30",
            "today 00:30",
        );
        check(
            berlin,
            "2025-03-30T12:00",
            "2025-03-30T03:00",
            "today 03:00",
        );
        check(
            berlin,
            "2025-03-30T23:30",
            "2025-03-29T23:45",
            "yesterday 23:45",
        );
        check(
            berlin,
            "2025-03-31T00:10",
            "2025-03-30T00:20",
            "yesterday 00:20",
        );
        // 26 October 2025 has 25 hours (03:00 → 02:00): 23 hours and a half
        // after 00:30 it is still the same day.
        check(
            berlin,
            "2025-10-26T23:00",
            "2025-10-26T00:30",
            "today 00:30",
        );
        check(
            berlin,
            "2025-10-27T00:30",
            "2025-10-26T00:30",
            "yesterday 00:30",
        );
        check(
            berlin,
            "2025-10-26T12:00",
            "2025-10-26T02:30",
            "today 02:30",
        );
        // New York changes on other days.
        let york = "America/New_York";
        check(
            york,
            "2025-11-02T08:00",
            "2025-11-01T23:30",
            "yesterday 23:30",
        );
        check(york, "2025-03-09T04:00", "2025-03-09T01:59", "today 01:59");
    }

    #[test]
    fn the_same_instant_reads_in_the_business_zone() {
        let at: Timestamp = "2025-12-03T23:30:00Z".parse().unwrap();
        let now: Timestamp = "2025-12-04T08:00:00Z".parse().unwrap();
        let utc = describe(at, now, &TimeZone::UTC);
        assert_eq!(utc.short, "yesterday 23:30");
        let tokyo = describe(at, now, &TimeZone::get("Asia/Tokyo").unwrap());
        assert_eq!(tokyo.short, "today 08:30");
        assert_eq!(tokyo.machine, "2025-12-04T08:30:00+09:00");
        assert_eq!(tokyo.full, "Thursday 4 December 2025, 08:30 JST");
    }

    #[test]
    fn a_moment_renders_as_a_time_element() {
        let at: Timestamp = "2025-12-03T13:05:00Z".parse().unwrap();
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let times = Times::new(zone, at);
        assert_eq!(
            times.at(at.as_second()).to_string(),
            "<time datetime=\"2025-12-03T14:05:00+01:00\" \
             title=\"Wednesday 3 December 2025, 14:05 CET\">today 14:05</time>"
        );
        assert_eq!(times.at_or(None, "Never").to_string(), "Never");

        #[derive(askama::Template)]
        #[template(source = "<td>{{ moment }}</td>", ext = "html")]
        struct Cell {
            moment: Moment,
        }
        let cell = Cell {
            moment: Moment {
                machine: "x".into(),
                full: "<b>".into(),
                short: "a&b".into(),
            },
        };
        assert_eq!(
            askama::Template::render(&cell).unwrap(),
            "<td><time datetime=\"x\" title=\"&lt;b&gt;\">a&amp;b</time></td>"
        );
    }
}
