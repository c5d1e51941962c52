//! Calendar files (iCalendar, RFC 5545): the feed calendar apps subscribe
//! to, and reading the files people bring from Outlook or Google Calendar.
//!
//! **Export.** Every time is written in UTC (`DTSTART:20260310T080000Z`):
//! correct in every client, and no VTIMEZONE block to keep in step with the
//! time-zone database. The business's zone goes along as `X-WR-TIMEZONE`
//! for clients that show it. Each stored appointment is one VEVENT with its
//! own stored UID, SEQUENCE and times, occurrences of a recurring series
//! included: no RRULE leaves the box. Each occurrence is a row of its own
//! (its staff member, resource, status and time may differ from its
//! series'), so writing them as they are means a client never has to
//! expand a rule, apply RECURRENCE-ID overrides or agree with us about time
//! zones, and a cancelled or moved occurrence is simply that event, with a
//! higher SEQUENCE.
//!
//! **Import.** Files are untrusted: their size is capped by the caller,
//! their events by [`ImportLimits`], their nesting before the parser sees
//! them, and a parser panic becomes an error. Times with a TZID are read in
//! the zone it names: an IANA name, a Windows name as Outlook writes them
//! (see `windows_zones.rs`), or an old Mozilla-style `/vendor/.../Area/City`
//! path; an unknown name is an error naming it. The VTIMEZONE blocks
//! themselves are not evaluated (Outlook writes the current year's rules
//! only; the zone's full history is in jiff's database). Times without a
//! zone (floating) are read in the business's zone. All-day events (DATE
//! values) are imported as whole-day blocks of the business's local days,
//! marked `all_day`, so the caller can make them closures or time off, or
//! leave them out.

use std::fmt::Write as _;
use std::time::Duration;

use icalendar::parser::{Component as Parsed, Property as ParsedProperty};
use icalendar::{Calendar, Component, Event, EventLike, Property};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use sha2::{Digest, Sha256};

use super::windows_zones::iana_for_windows;
use crate::store::{Appointment, AppointmentStatus};

/// An appointment for the feed, with the names it shows.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub appointment: &'a Appointment,
    /// The staff member's name (first line of DESCRIPTION).
    pub staff: Option<&'a str>,
    /// The resource's name (LOCATION).
    pub resource: Option<&'a str>,
}

/// The calendar file for `entries`: named `calendar_name`, announcing
/// `zone_name` (an IANA name) and asking clients to refresh every
/// `refresh`.
pub fn export(
    calendar_name: &str,
    entries: &[Entry<'_>],
    zone_name: &str,
    refresh: Duration,
) -> String {
    let mut calendar = Calendar::empty();
    let refresh = iso_duration(refresh);
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//Hearth//Hearth calendar//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        // NAME has no value type the crate knows, so it is escaped here;
        // X-WR-CALNAME is escaped as text by the crate.
        .append_property(Property::new(
            "NAME",
            escape_text(&clean_text(calendar_name)),
        ))
        .append_property(Property::new("X-WR-CALNAME", clean_text(calendar_name)))
        .append_property(Property::new("X-WR-TIMEZONE", zone_name))
        .append_property(
            Property::new("REFRESH-INTERVAL", &refresh)
                .add_parameter("VALUE", "DURATION")
                .done(),
        )
        .append_property(Property::new("X-PUBLISHED-TTL", &refresh));
    for entry in entries {
        calendar.push(event(entry));
    }
    calendar.to_string()
}

fn event(entry: &Entry<'_>) -> Event {
    let a = entry.appointment;
    let mut event = Event::new();
    let title = if a.title.trim().is_empty() {
        "Appointment"
    } else {
        a.title.as_str()
    };
    let summary = match a.customer_name.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(customer) => format!("{title} – {customer}"),
        None => title.to_string(),
    };
    let mut description = Vec::new();
    if let Some(staff) = entry.staff {
        description.push(format!("With {staff}"));
    }
    if !a.notes.trim().is_empty() {
        description.push(a.notes.clone());
    }
    let cancelled = a.status == AppointmentStatus::Cancelled;
    event
        .uid(&a.uid)
        .summary(&clean_text(&summary))
        .sequence(u32::try_from(a.sequence).unwrap_or(0))
        .add_property("DTSTART", utc(a.starts_at))
        .add_property("DTEND", utc(a.ends_at))
        // A feed's DTSTAMP is when this version of the event was made.
        .add_property("DTSTAMP", utc(a.updated_at))
        .add_property("LAST-MODIFIED", utc(a.updated_at))
        .add_property("CREATED", utc(a.created_at))
        .add_property("STATUS", if cancelled { "CANCELLED" } else { "CONFIRMED" })
        // A cancelled appointment no longer makes anyone busy.
        .add_property("TRANSP", if cancelled { "TRANSPARENT" } else { "OPAQUE" });
    if !description.is_empty() {
        event.description(&clean_text(&description.join("\n\n")));
    }
    if let Some(resource) = entry.resource {
        event.location(&clean_text(resource));
    }
    event.done()
}

/// Unix seconds as an iCalendar UTC date-time.
fn utc(seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .unwrap_or_default()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// `PT15M`, `PT1H`, `PT1H30M`, `P1D`.
fn iso_duration(duration: Duration) -> String {
    let minutes = (duration.as_secs() / 60).max(1);
    if minutes.is_multiple_of(1440) {
        return format!("P{}D", minutes / 1440);
    }
    let mut text = String::from("PT");
    if minutes >= 60 {
        let _ = write!(text, "{}H", minutes / 60);
    }
    if !minutes.is_multiple_of(60) {
        let _ = write!(text, "{}M", minutes % 60);
    }
    text
}

/// Text as a calendar line can carry it: line breaks as `\n`, no other
/// control characters (a lone carriage return would end the line).
fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

fn escape_text(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace(';', "\\;")
        .replace('\n', "\\n")
}

/// What an import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// The largest file, in bytes.
    pub max_bytes: usize,
    /// The most events (VEVENTs, before any expansion of rules).
    pub max_events: usize,
}

impl Default for ImportLimits {
    /// 10 MB and 5,000 events: years of a busy office's calendar.
    fn default() -> Self {
        ImportLimits {
            max_bytes: 10 * 1024 * 1024,
            max_events: 5_000,
        }
    }
}

/// Components nest no deeper than this in real files (VCALENDAR › VEVENT ›
/// VALARM, VCALENDAR › VTIMEZONE › STANDARD); the parser recurses, so
/// deeper nesting is refused before it runs.
const MAX_DEPTH: usize = 6;

/// Longest text kept for a summary or location, and for a description.
const MAX_NAME_CHARS: usize = 500;
const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// An event read from a calendar file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedEvent {
    /// Its UID (one made from its start and summary when it has none).
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub location: String,
    pub starts_at: Timestamp,
    /// Equal to `starts_at` when the file gives neither an end nor a
    /// duration (RFC 5545: such an event takes no time).
    pub ends_at: Timestamp,
    /// A DATE event: `starts_at`–`ends_at` are whole local days of the
    /// business's zone.
    pub all_day: bool,
    /// STATUS:CANCELLED.
    pub cancelled: bool,
    /// The IANA zone its start was given in (a Windows name already
    /// mapped); `None` for UTC, floating and all-day times. A rule repeats
    /// in this zone's wall-clock time.
    pub time_zone: Option<String>,
    /// The RRULE value as written (see `recurrence::Rule::parse`).
    pub rrule: Option<String>,
    pub exdates: Vec<Timestamp>,
    /// For a changed occurrence of a recurring event: which one.
    pub recurrence_id: Option<Timestamp>,
}

/// The events of a calendar file, read in `zone` where the file gives no
/// zone of its own.
pub fn import(
    text: &str,
    zone: &TimeZone,
    limits: &ImportLimits,
) -> Result<Vec<ImportedEvent>, String> {
    if text.len() > limits.max_bytes {
        return Err(format!(
            "The calendar file is {}; at most {} can be imported.",
            size(text.len()),
            size(limits.max_bytes)
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let unfolded = icalendar::parser::unfold(text);
    let mut events = Vec::new();
    let mut parsed = Vec::new();
    for calendar in calendars(&unfolded, limits)? {
        // The parser recurses and has panicked on inputs before: a panic
        // costs this file, not the server.
        let calendar = std::panic::catch_unwind(|| icalendar::parser::read_calendar(calendar))
            .map_err(|_| "This calendar file could not be read.".to_string())?
            .map_err(|e| {
                let first = e.lines().take(3).collect::<Vec<_>>().join(" ");
                format!(
                    "This calendar file could not be read ({}).",
                    first.chars().take(200).collect::<String>()
                )
            })?;
        parsed.push(calendar);
    }
    for calendar in &parsed {
        collect_events(&calendar.components, &mut events);
    }
    let mut imported = Vec::with_capacity(events.len());
    for component in events {
        let event = read_event(component, zone).map_err(|e| {
            match text_of(component, "SUMMARY").filter(|s| !s.trim().is_empty()) {
                Some(summary) => format!(
                    "Event “{}”: {e}",
                    truncate(&crate::text::clean_name(&summary), 80)
                ),
                None => format!("An event: {e}"),
            }
        })?;
        imported.push(event);
    }
    Ok(imported)
}

/// The VCALENDAR blocks of a file (some tools glue several together,
/// which the parser does not read), found line by line before the
/// recursive parser sees anything: nesting is checked and events counted
/// here. Text outside the blocks is ignored.
fn calendars<'a>(unfolded: &'a str, limits: &ImportLimits) -> Result<Vec<&'a str>, String> {
    let mut depth = 0usize;
    let mut events = 0usize;
    let mut found = Vec::new();
    let mut start = None;
    let mut offset = 0;
    for line in unfolded.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        let line = line.trim_end();
        if let Some(name) = strip_prefix_ci(line, "BEGIN:") {
            if depth == 0 {
                if !name.eq_ignore_ascii_case("VCALENDAR") {
                    return Err(format!(
                        "This is not a calendar file (it has {} outside a VCALENDAR).",
                        truncate(line, 40)
                    ));
                }
                start = Some(at);
            }
            depth += 1;
            if depth > MAX_DEPTH {
                return Err("This calendar file nests its parts too deeply.".into());
            }
            if name.eq_ignore_ascii_case("VEVENT") {
                events += 1;
                if events > limits.max_events {
                    return Err(format!(
                        "This calendar file has more than {} events; at most {} can be imported at once.",
                        limits.max_events, limits.max_events
                    ));
                }
            }
        } else if strip_prefix_ci(line, "END:").is_some() {
            depth = depth.saturating_sub(1);
            if depth == 0
                && let Some(begin) = start.take()
            {
                found.push(&unfolded[begin..offset]);
            }
        }
    }
    if let Some(begin) = start {
        // Cut off: the parser says where.
        found.push(&unfolded[begin..]);
    }
    if found.is_empty() {
        return Err("This is not a calendar file (it has no BEGIN:VCALENDAR).".into());
    }
    Ok(found)
}

fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| line[prefix.len()..].trim())
}

/// The VEVENTs among `components`, and inside any VCALENDAR among them
/// (files that are several calendars glued together).
fn collect_events<'a>(components: &'a [Parsed<'a>], out: &mut Vec<&'a Parsed<'a>>) {
    for component in components {
        let name = component.name.as_str();
        if name.eq_ignore_ascii_case("VEVENT") {
            out.push(component);
        } else if name.eq_ignore_ascii_case("VCALENDAR") {
            collect_events(&component.components, out);
        }
    }
}

fn properties<'a>(
    component: &'a Parsed<'a>,
    name: &'a str,
) -> impl Iterator<Item = &'a ParsedProperty<'a>> {
    component
        .properties
        .iter()
        .filter(move |p| p.name.as_str().eq_ignore_ascii_case(name))
}

fn property<'a>(component: &'a Parsed<'a>, name: &'a str) -> Option<&'a ParsedProperty<'a>> {
    properties(component, name).next()
}

/// A property's value (text values come unescaped from the parser).
fn text_of(component: &Parsed<'_>, name: &str) -> Option<String> {
    component
        .properties
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
        .map(|p| p.val.as_str().to_string())
}

fn parameter<'a>(property: &'a ParsedProperty<'a>, key: &str) -> Option<&'a str> {
    property
        .params
        .iter()
        .find(|p| p.key.as_str().eq_ignore_ascii_case(key))
        .and_then(|p| p.val.as_ref())
        .map(|v| v.as_str().trim().trim_matches('"'))
}

fn read_event(component: &Parsed<'_>, zone: &TimeZone) -> Result<ImportedEvent, String> {
    let start_property = property(component, "DTSTART").ok_or("it has no start (DTSTART).")?;
    let start = read_time(start_property, start_property.val.as_str().trim(), zone)?;
    let end = match (
        property(component, "DTEND"),
        property(component, "DURATION"),
    ) {
        (Some(end), _) => read_time(end, end.val.as_str().trim(), zone)?,
        (None, Some(duration)) => start.after(duration.val.as_str().trim())?,
        (None, None) => start.after(if start.all_day() { "P1D" } else { "PT0S" })?,
    };
    let (starts_at, ends_at) = (start.instant(zone)?, end.instant(zone)?);
    if ends_at < starts_at {
        return Err("it ends before it starts.".into());
    }
    let mut exdates = Vec::new();
    for exdate in properties(component, "EXDATE") {
        for value in exdate.val.as_str().split(',').map(str::trim) {
            if !value.is_empty() {
                exdates.push(read_time(exdate, value, zone)?.instant(zone)?);
            }
        }
    }
    let recurrence_id = match property(component, "RECURRENCE-ID") {
        Some(p) => Some(read_time(p, p.val.as_str().trim(), zone)?.instant(zone)?),
        None => None,
    };
    let summary = text_of(component, "SUMMARY").unwrap_or_default();
    let uid = match text_of(component, "UID").map(|u| u.trim().to_string()) {
        Some(uid) if !uid.is_empty() => truncate(&uid, 255),
        _ => {
            // Stable across imports of the same file, so a second import
            // finds the same event.
            let digest = Sha256::digest(format!("{}\n{summary}", start_property.val.as_str()));
            format!("hearth-import-{}", &hex::encode(digest)[..24])
        }
    };
    Ok(ImportedEvent {
        uid,
        summary: truncate(&crate::text::clean_name(&summary), MAX_NAME_CHARS),
        description: truncate(
            clean_text(&text_of(component, "DESCRIPTION").unwrap_or_default()).trim(),
            MAX_DESCRIPTION_CHARS,
        ),
        location: truncate(
            &crate::text::clean_name(&text_of(component, "LOCATION").unwrap_or_default()),
            MAX_NAME_CHARS,
        ),
        starts_at,
        ends_at,
        all_day: start.all_day(),
        cancelled: text_of(component, "STATUS")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")),
        time_zone: match &start {
            When::Zoned(zoned, true) => zoned.time_zone().iana_name().map(str::to_string),
            _ => None,
        },
        rrule: text_of(component, "RRULE")
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty()),
        exdates,
        recurrence_id,
    })
}

/// A time as a file gives it.
#[derive(Debug, Clone)]
enum When {
    /// A date-time in a zone (UTC, the TZID's, or the business's for a
    /// floating one); `true` when a TZID named the zone.
    Zoned(Zoned, bool),
    /// A whole day (VALUE=DATE).
    Day(Date),
}

impl When {
    fn all_day(&self) -> bool {
        matches!(self, When::Day(_))
    }

    fn instant(&self, business: &TimeZone) -> Result<Timestamp, String> {
        match self {
            When::Zoned(zoned, _) => Ok(zoned.timestamp()),
            When::Day(day) => business
                .to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .map_err(|_| format!("the day {day} is out of range.")),
        }
    }

    /// This time plus an ISO 8601 duration (`PT1H30M`, `P1D`, `P1W`): days
    /// and weeks are calendar days, hours and less are elapsed time, as
    /// RFC 5545 says.
    fn after(&self, duration: &str) -> Result<When, String> {
        let span: Span = duration
            .parse()
            .map_err(|_| format!("“{duration}” is not a duration."))?;
        if span.is_negative() {
            return Err("its duration is negative.".into());
        }
        let too_long = || format!("the duration “{duration}” is too long.");
        match self {
            When::Zoned(zoned, named) => Ok(When::Zoned(
                zoned.checked_add(span).map_err(|_| too_long())?,
                *named,
            )),
            When::Day(day) => {
                // A part of a day still takes that day.
                let midnight = jiff::civil::Time::midnight();
                let end = day
                    .to_datetime(midnight)
                    .checked_add(span)
                    .map_err(|_| too_long())?;
                let last = if end.time() == midnight {
                    Ok(end.date())
                } else {
                    end.date().tomorrow()
                };
                Ok(When::Day(last.map_err(|_| too_long())?))
            }
        }
    }
}

fn read_time(
    property: &ParsedProperty<'_>,
    value: &str,
    business: &TimeZone,
) -> Result<When, String> {
    let name = property.name.as_str().to_ascii_uppercase();
    let bad = || format!("{name} “{}” is not a date or time.", truncate(value, 40));
    if !value.is_ascii() {
        return Err(bad());
    }
    let is_date = parameter(property, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || value.len() == 8;
    if is_date {
        return Date::strptime("%Y%m%d", value)
            .map(When::Day)
            .map_err(|_| bad());
    }
    let (local, utc) = match value.strip_suffix(['Z', 'z']) {
        Some(local) => (local, true),
        None => (value, false),
    };
    if local.len() != 15 {
        return Err(bad());
    }
    let local = DateTime::strptime("%Y%m%dT%H%M%S", local).map_err(|_| bad())?;
    let (zone, named) = match (utc, parameter(property, "TZID")) {
        (true, _) => (TimeZone::UTC, false),
        (false, Some(tzid)) => (resolve_zone(tzid)?, true),
        (false, None) => (business.clone(), false),
    };
    let at = zone
        .to_ambiguous_timestamp(local)
        .compatible()
        .map_err(|_| bad())?;
    Ok(When::Zoned(at.to_zoned(zone), named))
}

/// The zone a TZID names: an IANA name, a Windows name, or a path ending
/// in an IANA name (`/mozilla.org/20050126_1/Europe/Berlin`).
pub fn resolve_zone(tzid: &str) -> Result<TimeZone, String> {
    let name = tzid.trim().trim_matches('"').trim();
    if let Ok(zone) = TimeZone::get(name) {
        return Ok(zone);
    }
    if let Some(iana) = iana_for_windows(name) {
        return TimeZone::get(iana).map_err(|e| e.to_string());
    }
    if name.starts_with('/') {
        // The longest tail that is a zone: "America/Argentina/Cordoba"
        // before "Argentina/Cordoba".
        for (i, _) in name.match_indices('/') {
            if let Ok(zone) = TimeZone::get(&name[i + 1..]) {
                return Ok(zone);
            }
        }
    }
    Err(format!(
        "the time zone “{}” is not one Hearth knows (an IANA name like Europe/Berlin or a \
         Windows name like “W. Europe Standard Time”).",
        truncate(name, 80)
    ))
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests;
