//! Recurring appointments: the repeat rule (an RFC 5545 RRULE, what
//! `series.rule` stores and calendar files carry), built from the simple
//! choices people make in a form or read from text, and its occurrences
//! in the business's time zone.
//!
//! A rule repeats *wall-clock* times: "every Tuesday at 9:00" means 9:00
//! local on every Tuesday, the weeks after the clocks change included. So
//! the `rrule` crate only does calendar arithmetic, on local date-times
//! that it is told are UTC (floating time: no time zone can shift them),
//! and jiff turns each local occurrence into an instant through the
//! business's zone. One time-zone database decides every instant (jiff's;
//! the chrono-tz copy inside `rrule` is never asked), and an occurrence
//! that falls in a skipped hour moves forward by the gap while one in a
//! repeated hour takes the first of the two, as RFC 5545 says (jiff's
//! `compatible` disambiguation).
//!
//! Appointments must end: a rule without UNTIL or COUNT is refused, and a
//! series is held to [`MAX_OCCURRENCES`] occurrences within [`MAX_YEARS`]
//! years, because every occurrence is stored as its own appointment (so
//! availability reads one table).

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::store::{Appointment, AppointmentId, AppointmentStatus, Series};

/// The most occurrences one series may have.
pub const MAX_OCCURRENCES: usize = 500;

/// How long one series may run, from its first start.
pub const MAX_YEARS: i64 = 3;

/// At most this many dates may be taken out of a series.
pub const MAX_EXDATES: usize = 1000;

/// How often something repeats, as people choose it in a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// Every `interval` days.
    Daily { interval: u16 },
    /// On these weekdays of every `interval`-th week (weeks start on
    /// Monday).
    Weekly {
        interval: u16,
        weekdays: Vec<Weekday>,
    },
    /// On this day of every month, 1–31, or -1 for the last day. A month
    /// without that day is skipped (RFC 5545): the 31st is not in April.
    MonthlyByDay(i8),
    /// On the `nth` (1–4, or -1 for the last) `weekday` of every month:
    /// "the 2nd Tuesday", "the last Friday".
    MonthlyByWeekday { nth: i8, weekday: Weekday },
}

/// When a series ends. Every series ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// After this many occurrences (dates taken out still count, as RFC
    /// 5545 counts them).
    Count(u32),
    /// On this local day, its occurrences included.
    Until(Date),
    /// At this local date-time, an occurrence at it included.
    UntilLocal(DateTime),
    /// At this instant (`UNTIL=...Z` in calendar files, whatever zone wrote
    /// it), an occurrence at it included.
    UntilInstant(Timestamp),
}

/// The base unit a rule repeats in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// A BYDAY entry: a weekday, or its `nth` in the month or year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByDay {
    pub nth: Option<i8>,
    pub weekday: Weekday,
}

/// A checked repeat rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    frequency: Frequency,
    interval: u16,
    end: End,
    by_month: Vec<i8>,
    by_week_no: Vec<i8>,
    by_year_day: Vec<i16>,
    by_month_day: Vec<i8>,
    by_day: Vec<ByDay>,
    by_set_pos: Vec<i16>,
    week_start: Option<Weekday>,
}

/// One occurrence of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    /// The local date-time the rule gives (in a skipped hour, the time that
    /// does not exist: `at` is then the gap's length later on the clock).
    pub local: DateTime,
    /// When it starts. It is also the occurrence's identity in its series
    /// (`appointments.recurrence_id`, RECURRENCE-ID).
    pub at: Timestamp,
}

impl Rule {
    /// The rule for a form's choices.
    pub fn new(repeat: &Repeat, end: End) -> Result<Rule, String> {
        let mut rule = Rule {
            frequency: Frequency::Daily,
            interval: 1,
            end,
            by_month: Vec::new(),
            by_week_no: Vec::new(),
            by_year_day: Vec::new(),
            by_month_day: Vec::new(),
            by_day: Vec::new(),
            by_set_pos: Vec::new(),
            week_start: None,
        };
        match repeat {
            Repeat::Daily { interval } => rule.interval = *interval,
            Repeat::Weekly { interval, weekdays } => {
                if weekdays.is_empty() {
                    return Err("Choose the days of the week it repeats on.".into());
                }
                rule.frequency = Frequency::Weekly;
                rule.interval = *interval;
                let mut days = weekdays.clone();
                days.sort_by_key(|d| d.to_monday_zero_offset());
                days.dedup();
                rule.by_day = days
                    .into_iter()
                    .map(|weekday| ByDay { nth: None, weekday })
                    .collect();
            }
            Repeat::MonthlyByDay(day) => {
                if !(*day == -1 || (1..=31).contains(day)) {
                    return Err("A day of the month is 1 to 31, or the last day.".into());
                }
                rule.frequency = Frequency::Monthly;
                rule.by_month_day = vec![*day];
            }
            Repeat::MonthlyByWeekday { nth, weekday } => {
                if !(*nth == -1 || (1..=4).contains(nth)) {
                    return Err(
                        "Choose the first, second, third, fourth or last weekday of the month."
                            .into(),
                    );
                }
                rule.frequency = Frequency::Monthly;
                rule.by_day = vec![ByDay {
                    nth: Some(*nth),
                    weekday: *weekday,
                }];
            }
        }
        rule.check()?;
        Ok(rule)
    }

    /// A rule from RRULE text (`FREQ=WEEKLY;BYDAY=TU;COUNT=10`, with or
    /// without the `RRULE:` name). A rule that never ends is refused.
    pub fn parse(text: &str) -> Result<Rule, String> {
        Rule::parse_with_end(text, None)
    }

    /// Like [`Rule::parse`], but a rule without an end (calendar files have
    /// them: "no end date") ends at `fallback` when one is given.
    pub fn parse_with_end(text: &str, fallback: Option<End>) -> Result<Rule, String> {
        let text = text.trim();
        let body = match text.get(..6) {
            Some(name) if name.eq_ignore_ascii_case("RRULE:") => &text[6..],
            _ => text,
        };
        if body.len() > 1000 {
            return Err("This repeat rule is too long.".into());
        }
        let mut frequency = None;
        let mut interval = None;
        let mut count = None;
        let mut until = None;
        let mut rule = Rule {
            frequency: Frequency::Daily,
            interval: 1,
            end: End::Count(1),
            by_month: Vec::new(),
            by_week_no: Vec::new(),
            by_year_day: Vec::new(),
            by_month_day: Vec::new(),
            by_day: Vec::new(),
            by_set_pos: Vec::new(),
            week_start: None,
        };
        let mut seen: Vec<String> = Vec::new();
        for part in body.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("“{part}” in the repeat rule is not NAME=VALUE."))?;
            let key = key.trim().to_ascii_uppercase();
            let value = value.trim().to_ascii_uppercase();
            if seen.contains(&key) {
                return Err(format!("The repeat rule gives {key} twice."));
            }
            seen.push(key.clone());
            match key.as_str() {
                "FREQ" => {
                    frequency = Some(match value.as_str() {
                        "DAILY" => Frequency::Daily,
                        "WEEKLY" => Frequency::Weekly,
                        "MONTHLY" => Frequency::Monthly,
                        "YEARLY" => Frequency::Yearly,
                        "HOURLY" | "MINUTELY" | "SECONDLY" => {
                            return Err("Appointments cannot repeat more often than daily.".into());
                        }
                        _ => return Err(format!("“{value}” is not a repeat frequency.")),
                    })
                }
                "INTERVAL" => interval = Some(number::<u16>(&key, &value, 1, 1000)?),
                "COUNT" => count = Some(number::<u32>(&key, &value, 1, u32::MAX)?),
                "UNTIL" => until = Some(parse_until(&value)?),
                "BYMONTH" => rule.by_month = list(&key, &value, &[1..=12])?,
                "BYWEEKNO" => rule.by_week_no = list(&key, &value, &[-53..=-1, 1..=53])?,
                "BYYEARDAY" => rule.by_year_day = list(&key, &value, &[-366..=-1, 1..=366])?,
                "BYMONTHDAY" => rule.by_month_day = list(&key, &value, &[-31..=-1, 1..=31])?,
                "BYSETPOS" => rule.by_set_pos = list(&key, &value, &[-366..=-1, 1..=366])?,
                "BYDAY" => {
                    let mut days = value
                        .split(',')
                        .map(parse_by_day)
                        .collect::<Result<Vec<_>, _>>()?;
                    days.sort_by_key(|d| (d.weekday.to_monday_zero_offset(), d.nth));
                    days.dedup();
                    rule.by_day = days;
                }
                "WKST" => {
                    rule.week_start = Some(
                        weekday_of(&value)
                            .ok_or_else(|| format!("“{value}” is not a weekday (MO–SU)."))?,
                    )
                }
                "BYHOUR" | "BYMINUTE" | "BYSECOND" => {
                    return Err(format!(
                        "Repeat rules with {key} are not supported: a series repeats one \
                         appointment at the time of its first one."
                    ));
                }
                _ => return Err(format!("The repeat rule's part {key} is not supported.")),
            }
        }
        rule.frequency = frequency.ok_or("The repeat rule has no FREQ.")?;
        rule.interval = interval.unwrap_or(1);
        rule.end = match (count, until, fallback) {
            (Some(_), Some(_), _) => {
                return Err("A repeat rule ends either by COUNT or by UNTIL, not both.".into());
            }
            (Some(n), None, _) => End::Count(n),
            (None, Some(until), _) => until,
            (None, None, Some(fallback)) => fallback,
            (None, None, None) => {
                return Err(
                    "This series never ends. Appointments must end: give it an end \
                            date or a number of times."
                        .into(),
                );
            }
        };
        rule.check()?;
        Ok(rule)
    }

    pub fn frequency(&self) -> Frequency {
        self.frequency
    }

    pub fn end(&self) -> End {
        self.end
    }

    /// The same repetition with another end.
    pub fn with_end(&self, end: End) -> Result<Rule, String> {
        let rule = Rule {
            end,
            ..self.clone()
        };
        rule.check()?;
        Ok(rule)
    }

    /// The form's choice this rule is, if it is one (a rule read from a
    /// calendar file may be more than a form can say).
    pub fn repeat(&self) -> Option<Repeat> {
        let plain = self.by_month.is_empty()
            && self.by_week_no.is_empty()
            && self.by_year_day.is_empty()
            && self.by_set_pos.is_empty()
            && self.week_start.is_none_or(|w| w == Weekday::Monday);
        if !plain {
            return None;
        }
        match (
            self.frequency,
            self.by_day.as_slice(),
            self.by_month_day.as_slice(),
        ) {
            (Frequency::Daily, [], []) => Some(Repeat::Daily {
                interval: self.interval,
            }),
            (Frequency::Weekly, days, [])
                if !days.is_empty() && days.iter().all(|d| d.nth.is_none()) =>
            {
                Some(Repeat::Weekly {
                    interval: self.interval,
                    weekdays: days.iter().map(|d| d.weekday).collect(),
                })
            }
            (Frequency::Monthly, [], [day]) if self.interval == 1 => {
                Some(Repeat::MonthlyByDay(*day))
            }
            (
                Frequency::Monthly,
                [
                    ByDay {
                        nth: Some(nth),
                        weekday,
                    },
                ],
                [],
            ) if self.interval == 1 && (*nth == -1 || (1..=4).contains(nth)) => {
                Some(Repeat::MonthlyByWeekday {
                    nth: *nth,
                    weekday: *weekday,
                })
            }
            _ => None,
        }
    }

    /// The occurrences starting from `first_local` (the series' first
    /// start; it is an occurrence itself only when it matches the rule, as
    /// in dateutil), without those whose local date-time is in `exdates`,
    /// as instants through `zone`. More than `limit` (at most
    /// [`MAX_OCCURRENCES`]) or any past [`MAX_YEARS`] years is an error
    /// that says so.
    pub fn occurrences(
        &self,
        first_local: DateTime,
        exdates: &[DateTime],
        zone: &TimeZone,
        limit: usize,
    ) -> Result<Vec<Occurrence>, String> {
        let limit = limit.min(MAX_OCCURRENCES);
        if exdates.len() > MAX_EXDATES {
            return Err(format!(
                "At most {MAX_EXDATES} dates can be taken out of a series."
            ));
        }
        // Whole seconds: RRULE has no smaller unit.
        let first = first_local
            .with()
            .subsec_nanosecond(0)
            .build()
            .map_err(|e| e.to_string())?;
        let last_allowed = first
            .checked_add(MAX_YEARS.years())
            .map_err(|_| "The series starts too far in the future.".to_string())?;
        // The rule's end as a floating local date-time. An instant becomes
        // the local time a day later, and the occurrences are then cut at
        // the instant itself: the two are the same except in a repeated
        // hour, where only the instant says which 1:30 was meant.
        let until = match self.end {
            End::Count(_) => None,
            End::Until(day) => Some(day.to_datetime(Time::constant(23, 59, 59, 0))),
            End::UntilLocal(local) => Some(local),
            End::UntilInstant(at) => Some(
                zone.to_datetime(at)
                    .checked_add(1.day())
                    .map_err(|e| e.to_string())?,
            ),
        };
        if until.is_some_and(|until| until < first) {
            return Err("The series ends before it starts.".into());
        }
        let wanted = limit + exdates.len() + 1;
        let locals = self.expand(first, until, wanted)?;
        let mut found = Vec::new();
        for local in locals {
            if exdates.contains(&local) {
                continue;
            }
            let at = zone
                .to_ambiguous_timestamp(local)
                .compatible()
                .map_err(|e| e.to_string())?;
            if let End::UntilInstant(until) = self.end
                && at > until
            {
                continue;
            }
            if local > last_allowed {
                return Err(format!(
                    "This series would run past {}: a series may last at most {MAX_YEARS} years.",
                    last_allowed.date()
                ));
            }
            found.push(Occurrence { local, at });
        }
        if found.len() > limit {
            return Err(format!(
                "This series would make more than {limit} appointments; end it sooner."
            ));
        }
        Ok(found)
    }

    /// Checks the rule the way expanding it will (the `rrule` crate's own
    /// validation included), so a rule that is stored can be expanded.
    fn check(&self) -> Result<(), String> {
        if self.interval == 0 {
            return Err("The repeat interval must be at least 1.".into());
        }
        if let End::Count(0) = self.end {
            return Err("A series happens at least once.".into());
        }
        let nth_allowed = match self.frequency {
            Frequency::Monthly => 5,
            Frequency::Yearly if self.by_week_no.is_empty() => 53,
            _ => 0,
        };
        for day in self.by_day.iter().filter_map(|d| d.nth) {
            if nth_allowed == 0 {
                return Err(format!(
                    "“{day}” before a weekday needs a monthly or yearly rule."
                ));
            }
            if day == 0 || day.abs() > nth_allowed {
                return Err(format!(
                    "There is no weekday number {day} in a month or year."
                ));
            }
        }
        if self.frequency == Frequency::Weekly && !self.by_month_day.is_empty() {
            return Err("A weekly rule cannot name days of the month.".into());
        }
        if !self.by_year_day.is_empty()
            && matches!(
                self.frequency,
                Frequency::Daily | Frequency::Weekly | Frequency::Monthly
            )
        {
            return Err("Only a yearly rule can name days of the year.".into());
        }
        if !self.by_week_no.is_empty() && self.frequency != Frequency::Yearly {
            return Err("Only a yearly rule can name weeks of the year.".into());
        }
        let has_by = !(self.by_month.is_empty()
            && self.by_week_no.is_empty()
            && self.by_year_day.is_empty()
            && self.by_month_day.is_empty()
            && self.by_day.is_empty());
        if !self.by_set_pos.is_empty() && !has_by {
            return Err("BYSETPOS needs BYDAY, BYMONTHDAY or another BY part to pick from.".into());
        }
        // The crate's validation, on a representative start.
        let start = Date::constant(2026, 1, 1).to_datetime(Time::midnight());
        self.rrule_set(start, None).map(|_| ())
    }

    /// The local date-times of the rule from `first`, at most `limit`.
    fn expand(
        &self,
        first: DateTime,
        until: Option<DateTime>,
        limit: usize,
    ) -> Result<Vec<DateTime>, String> {
        let set = self.rrule_set(first, until)?;
        let limit = u16::try_from(limit).unwrap_or(u16::MAX);
        set.all(limit)
            .dates
            .iter()
            .map(|date| {
                let floating =
                    Timestamp::from_second(date.timestamp()).map_err(|e| e.to_string())?;
                Ok(TimeZone::UTC.to_datetime(floating))
            })
            .collect()
    }

    /// The rule for the `rrule` crate on floating time: local date-times
    /// written as if they were UTC.
    fn rrule_set(
        &self,
        first: DateTime,
        until: Option<DateTime>,
    ) -> Result<rrule::RRuleSet, String> {
        let until = match (self.end, until) {
            (End::Count(n), _) => format!("COUNT={n}"),
            (_, Some(until)) => format!("UNTIL={}Z", until.strftime("%Y%m%dT%H%M%S")),
            // Only for checking the rule's shape.
            (_, None) => "COUNT=1".to_string(),
        };
        let text = format!(
            "DTSTART:{}Z\nRRULE:{}",
            first.strftime("%Y%m%dT%H%M%S"),
            self.parts(&until).join(";")
        );
        text.parse::<rrule::RRuleSet>()
            .map_err(|e| format!("This repeat rule is not valid: {e}"))
    }

    /// The RRULE parts in a fixed order, with `end` as the COUNT or UNTIL
    /// part.
    fn parts(&self, end: &str) -> Vec<String> {
        let mut parts = vec![format!(
            "FREQ={}",
            match self.frequency {
                Frequency::Daily => "DAILY",
                Frequency::Weekly => "WEEKLY",
                Frequency::Monthly => "MONTHLY",
                Frequency::Yearly => "YEARLY",
            }
        )];
        if self.interval != 1 {
            parts.push(format!("INTERVAL={}", self.interval));
        }
        parts.push(end.to_string());
        let join = |values: Vec<String>| values.join(",");
        let numbers = |v: &[i16]| join(v.iter().map(i16::to_string).collect());
        let small = |v: &[i8]| join(v.iter().map(i8::to_string).collect());
        if !self.by_month.is_empty() {
            parts.push(format!("BYMONTH={}", small(&self.by_month)));
        }
        if !self.by_week_no.is_empty() {
            parts.push(format!("BYWEEKNO={}", small(&self.by_week_no)));
        }
        if !self.by_year_day.is_empty() {
            parts.push(format!("BYYEARDAY={}", numbers(&self.by_year_day)));
        }
        if !self.by_month_day.is_empty() {
            parts.push(format!("BYMONTHDAY={}", small(&self.by_month_day)));
        }
        if !self.by_day.is_empty() {
            let days = self
                .by_day
                .iter()
                .map(|d| match d.nth {
                    Some(nth) => format!("{nth}{}", weekday_code(d.weekday)),
                    None => weekday_code(d.weekday).to_string(),
                })
                .collect();
            parts.push(format!("BYDAY={}", join(days)));
        }
        if !self.by_set_pos.is_empty() {
            parts.push(format!("BYSETPOS={}", numbers(&self.by_set_pos)));
        }
        if let Some(week_start) = self.week_start {
            parts.push(format!("WKST={}", weekday_code(week_start)));
        }
        parts
    }
}

impl fmt::Display for Rule {
    /// The RRULE value, as `series.rule` stores it. An end day is written
    /// as its last second in floating time (`UNTIL=20261231T235959`: RFC
    /// 5545 wants UNTIL of the same kind as the start, a local date-time).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match self.end {
            End::Count(n) => format!("COUNT={n}"),
            End::Until(day) => format!("UNTIL={}T235959", day.strftime("%Y%m%d")),
            End::UntilLocal(local) => format!("UNTIL={}", local.strftime("%Y%m%dT%H%M%S")),
            End::UntilInstant(at) => format!(
                "UNTIL={}",
                at.to_zoned(TimeZone::UTC).strftime("%Y%m%dT%H%M%SZ")
            ),
        };
        f.write_str(&self.parts(&end).join(";"))
    }
}

/// The occurrences of `rule_text` from `first_local` in `zone` (see
/// [`Rule::occurrences`]).
pub fn occurrences(
    rule_text: &str,
    first_local: DateTime,
    exdates: &[DateTime],
    zone: &TimeZone,
    limit: usize,
) -> Result<Vec<Occurrence>, String> {
    Rule::parse(rule_text)?.occurrences(first_local, exdates, zone, limit)
}

/// The occurrences of a stored series.
pub fn series_occurrences(series: &Series, limit: usize) -> Result<Vec<Occurrence>, String> {
    let zone = TimeZone::get(&series.time_zone)
        .map_err(|_| format!("The time zone “{}” is not known.", series.time_zone))?;
    let first: DateTime = series
        .first_local
        .parse()
        .map_err(|_| format!("“{}” is not a local date and time.", series.first_local))?;
    occurrences(
        &series.rule,
        first,
        &parse_exdates(&series.exdates)?,
        &zone,
        limit,
    )
}

/// Dates taken out of a series as `series.exdates` stores them: local
/// date-times, comma-separated (`2026-03-10T09:00:00,2026-03-17T09:00:00`).
pub fn exdates_text(exdates: &[DateTime]) -> String {
    exdates
        .iter()
        .map(|d| d.strftime("%Y-%m-%dT%H:%M:%S").to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of [`exdates_text`].
pub fn parse_exdates(text: &str) -> Result<Vec<DateTime>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<DateTime>()
                .map_err(|_| format!("“{t}” is not a local date and time."))
        })
        .collect()
}

/// What changing a series (its rule, or the time of all its occurrences)
/// does to the occurrences already stored. Changing one occurrence is not
/// this: it is an update of that appointment that detaches it
/// (`AppointmentUpdate::detach`), after which series changes leave it be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeriesEdit {
    /// Occurrences the new rule has and no stored one stands for.
    pub create: Vec<Occurrence>,
    /// Stored occurrences that move to the new rule's time that day.
    pub reschedule: Vec<(AppointmentId, Occurrence)>,
    /// Stored occurrences already at the new rule's time (their other
    /// fields may still change with the series).
    pub keep: Vec<AppointmentId>,
    /// Stored occurrences the new rule no longer has.
    pub cancel: Vec<AppointmentId>,
    /// Left as they are: changed on their own (detached), before `from`,
    /// or no longer booked (cancelled, done, no-show). A new occurrence on
    /// the day of one of these is not created: that one stands for it.
    pub untouched: Vec<AppointmentId>,
}

/// Plans a change of a whole series, from `from` on (now, or the chosen
/// occurrence for "this and the following ones"): `stored` are the
/// series' appointments, `wanted` the occurrences of the changed series.
///
/// Stored and wanted occurrences are matched by the local day of the
/// occurrence's original start (`recurrence_id`) in `zone`, so moving a
/// weekly 9:00 to 10:00 reschedules each day's appointment rather than
/// cancelling it and booking another; a rule that now falls on other days
/// cancels the old days and creates the new ones.
pub fn plan_series_edit(
    stored: &[Appointment],
    wanted: &[Occurrence],
    zone: &TimeZone,
    from: Timestamp,
) -> SeriesEdit {
    let mut edit = SeriesEdit::default();
    let original = |a: &Appointment| {
        Timestamp::from_second(a.recurrence_id.unwrap_or(a.starts_at)).unwrap_or_default()
    };
    // Days held by occurrences that stay as they are.
    let mut held: Vec<Date> = Vec::new();
    let mut open: Vec<(&Appointment, Date)> = Vec::new();
    for appointment in stored {
        let day = zone.to_datetime(original(appointment)).date();
        let leave = appointment.detached
            || appointment.status != AppointmentStatus::Booked
            || original(appointment) < from;
        if leave {
            edit.untouched.push(appointment.id);
            held.push(day);
        } else {
            open.push((appointment, day));
        }
    }
    for occurrence in wanted.iter().filter(|o| o.at >= from) {
        let day = occurrence.local.date();
        if held.contains(&day) {
            continue;
        }
        match open.iter().position(|(_, d)| *d == day) {
            Some(i) => {
                let (appointment, _) = open.remove(i);
                let same = appointment.starts_at == occurrence.at.as_second()
                    && appointment.recurrence_id == Some(occurrence.at.as_second());
                if same {
                    edit.keep.push(appointment.id);
                } else {
                    edit.reschedule.push((appointment.id, *occurrence));
                }
            }
            None => edit.create.push(*occurrence),
        }
        held.push(day);
    }
    edit.cancel = open.into_iter().map(|(a, _)| a.id).collect();
    edit
}

fn weekday_code(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "MO",
        Weekday::Tuesday => "TU",
        Weekday::Wednesday => "WE",
        Weekday::Thursday => "TH",
        Weekday::Friday => "FR",
        Weekday::Saturday => "SA",
        Weekday::Sunday => "SU",
    }
}

fn weekday_of(code: &str) -> Option<Weekday> {
    Some(match code {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

/// `TU`, `2TU`, `-1FR`, `+3MO`.
fn parse_by_day(text: &str) -> Result<ByDay, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(2);
    let (nth, code) = text.split_at_checked(split).unwrap_or(("", text));
    let weekday = weekday_of(code).ok_or_else(|| format!("“{text}” is not a weekday (MO–SU)."))?;
    let nth = match nth {
        "" => None,
        n => Some(
            n.trim_start_matches('+')
                .parse::<i8>()
                .map_err(|_| format!("“{text}” is not a weekday like 2TU or -1FR."))?,
        ),
    };
    Ok(ByDay { nth, weekday })
}

fn number<T: std::str::FromStr + PartialOrd + fmt::Display>(
    key: &str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, String> {
    value
        .parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
        .ok_or_else(|| format!("{key} must be a number from {min} to {max}, not “{value}”."))
}

fn list<T>(key: &str, value: &str, ranges: &[std::ops::RangeInclusive<T>]) -> Result<Vec<T>, String>
where
    T: std::str::FromStr + PartialOrd + Ord + Copy,
{
    let mut values = Vec::new();
    for item in value.split(',') {
        let item = item.trim().trim_start_matches('+');
        let n = item
            .parse::<T>()
            .ok()
            .filter(|n| ranges.iter().any(|r| r.contains(n)))
            .ok_or_else(|| format!("“{item}” is not a valid {key} value."))?;
        values.push(n);
    }
    values.sort();
    values.dedup();
    Ok(values)
}

/// UNTIL as a date (`20261231`), a floating local date-time
/// (`20261231T170000`) or an instant (`20270301T000000Z`).
fn parse_until(value: &str) -> Result<End, String> {
    let bad = || format!("UNTIL “{value}” is not a date or date-time.");
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !value.is_ascii() {
        return Err(bad());
    }
    match value.len() {
        8 if digits(value) => Date::strptime("%Y%m%d", value)
            .map(End::Until)
            .map_err(|_| bad()),
        15 | 16 if digits(&value[..8]) && &value[8..9] == "T" && digits(&value[9..15]) => {
            let local = DateTime::strptime("%Y%m%dT%H%M%S", &value[..15]).map_err(|_| bad())?;
            match &value[15..] {
                "" if local.time() == Time::constant(23, 59, 59, 0) => Ok(End::Until(local.date())),
                "" => Ok(End::UntilLocal(local)),
                "Z" => TimeZone::UTC
                    .to_timestamp(local)
                    .map(End::UntilInstant)
                    .map_err(|_| bad()),
                _ => Err(bad()),
            }
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::oracle;

    fn local(text: &str) -> DateTime {
        text.parse().unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    /// Parses `text` and writes it back (or the error's words).
    fn check(text: &str, expected: Result<&str, &str>) {
        let got = Rule::parse(text).map(|rule| rule.to_string());
        match expected {
            Ok(written) => assert_eq!(got.as_deref(), Ok(written), "{text:?}"),
            Err(fragment) => {
                let err = got.expect_err(text);
                assert!(err.contains(fragment), "{text:?}: {err}");
            }
        }
    }

    #[test]
    fn rules_are_read_and_written() {
        check("FREQ=WEEKLY;COUNT=10", Ok("FREQ=WEEKLY;COUNT=10"));
        check(
            "RRULE:freq=weekly;byday=th,tu;interval=2;until=20261231T235959",
            Ok("FREQ=WEEKLY;INTERVAL=2;UNTIL=20261231T235959;BYDAY=TU,TH"),
        );
        check(
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=6",
            Ok("FREQ=MONTHLY;COUNT=6;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        );
        check(
            "FREQ=MONTHLY;BYDAY=+2TU;UNTIL=20270301T000000Z",
            Ok("FREQ=MONTHLY;UNTIL=20270301T000000Z;BYDAY=2TU"),
        );
        check(
            "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270115",
            Ok("FREQ=MONTHLY;UNTIL=20270115T235959;BYDAY=-1FR"),
        );
        check(
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=5;COUNT=3;WKST=SU",
            Ok("FREQ=YEARLY;COUNT=3;BYMONTH=3;BYMONTHDAY=5;WKST=SU"),
        );
        check(
            "FREQ=DAILY;UNTIL=20260601T093000",
            Ok("FREQ=DAILY;UNTIL=20260601T093000"),
        );
        check("FREQ=WEEKLY", Err("never ends"));
        check("FREQ=WEEKLY;COUNT=3;UNTIL=20260101", Err("not both"));
        check("FREQ=HOURLY;COUNT=3", Err("more often than daily"));
        check(
            "FREQ=DAILY;BYHOUR=9,10;COUNT=3",
            Err("BYHOUR are not supported"),
        );
        check("FREQ=FORTNIGHTLY;COUNT=3", Err("not a repeat frequency"));
        check("COUNT=3", Err("no FREQ"));
        check("FREQ=WEEKLY;BYDAY=2TU;COUNT=3", Err("monthly or yearly"));
        check("FREQ=MONTHLY;BYDAY=6TU;COUNT=3", Err("no weekday number 6"));
        check("FREQ=MONTHLY;BYDAY=XX;COUNT=3", Err("not a weekday"));
        check(
            "FREQ=MONTHLY;BYMONTHDAY=0;COUNT=3",
            Err("not a valid BYMONTHDAY"),
        );
        check(
            "FREQ=MONTHLY;BYMONTHDAY=32;COUNT=3",
            Err("not a valid BYMONTHDAY"),
        );
        check("FREQ=DAILY;INTERVAL=0;COUNT=3", Err("INTERVAL must be"));
        check("FREQ=DAILY;COUNT=0", Err("COUNT must be"));
        check("FREQ=DAILY;COUNT=2;COUNT=3", Err("twice"));
        check("FREQ=DAILY;COUNT=2;UNTIL=2026", Err("UNTIL"));
        check("FREQ=DAILY;UNTIL=20261301", Err("not a date"));
        check("FREQ=DAILY;COUNT=3;BYSETPOS=1", Err("BYSETPOS needs"));
        check("FREQ=DAILY;COUNT=3;X-NAME=1", Err("not supported"));
        check("FREQ=DAILY;COUNT", Err("NAME=VALUE"));
        check("", Err("no FREQ"));
    }

    #[test]
    fn form_choices_become_rules_and_back() {
        let cases = [
            (
                Repeat::Daily { interval: 3 },
                End::Count(5),
                "FREQ=DAILY;INTERVAL=3;COUNT=5",
            ),
            (
                Repeat::Weekly {
                    interval: 2,
                    weekdays: vec![Weekday::Thursday, Weekday::Tuesday],
                },
                End::Until(Date::constant(2026, 12, 31)),
                "FREQ=WEEKLY;INTERVAL=2;UNTIL=20261231T235959;BYDAY=TU,TH",
            ),
            (
                Repeat::MonthlyByWeekday {
                    nth: 2,
                    weekday: Weekday::Tuesday,
                },
                End::Count(12),
                "FREQ=MONTHLY;COUNT=12;BYDAY=2TU",
            ),
            (
                Repeat::MonthlyByWeekday {
                    nth: -1,
                    weekday: Weekday::Friday,
                },
                End::Count(12),
                "FREQ=MONTHLY;COUNT=12;BYDAY=-1FR",
            ),
            (
                Repeat::MonthlyByDay(-1),
                End::Count(4),
                "FREQ=MONTHLY;COUNT=4;BYMONTHDAY=-1",
            ),
        ];
        for (repeat, end, text) in cases {
            let rule = Rule::new(&repeat, end).unwrap();
            assert_eq!(rule.to_string(), text);
            let back = Rule::parse(text).unwrap();
            assert_eq!(back, rule, "{text}");
            let mut expected = repeat.clone();
            if let Repeat::Weekly { weekdays, .. } = &mut expected {
                weekdays.sort_by_key(|d| d.to_monday_zero_offset());
            }
            assert_eq!(back.repeat(), Some(expected), "{text}");
            assert_eq!(back.end(), end);
        }
        assert_eq!(
            Rule::parse("FREQ=MONTHLY;COUNT=3;BYDAY=MO;BYSETPOS=1")
                .unwrap()
                .repeat(),
            None
        );
        for (repeat, fragment) in [
            (
                Repeat::Weekly {
                    interval: 1,
                    weekdays: vec![],
                },
                "days of the week",
            ),
            (Repeat::MonthlyByDay(0), "1 to 31"),
            (
                Repeat::MonthlyByWeekday {
                    nth: 5,
                    weekday: Weekday::Monday,
                },
                "fourth or last",
            ),
            (Repeat::Daily { interval: 0 }, "at least 1"),
        ] {
            let err = Rule::new(&repeat, End::Count(3)).unwrap_err();
            assert!(err.contains(fragment), "{repeat:?}: {err}");
        }
        assert!(Rule::new(&Repeat::Daily { interval: 1 }, End::Count(0)).is_err());
        let open = Rule::parse_with_end("FREQ=WEEKLY;BYDAY=MO", Some(End::Count(4))).unwrap();
        assert_eq!(open.to_string(), "FREQ=WEEKLY;COUNT=4;BYDAY=MO");
    }

    /// The local date-times of a rule from `first` in `zone`.
    fn locals(rule: &str, first: &str, zone_name: &str) -> Vec<String> {
        occurrences(rule, local(first), &[], &zone(zone_name), MAX_OCCURRENCES)
            .unwrap()
            .iter()
            .map(|o| o.local.to_string())
            .collect()
    }

    #[test]
    fn known_series() {
        assert_eq!(
            locals(
                "FREQ=MONTHLY;BYDAY=2TU;COUNT=4",
                "2026-01-01T09:00",
                "Europe/Berlin"
            ),
            [
                "2026-01-13T09:00:00",
                "2026-02-10T09:00:00",
                "2026-03-10T09:00:00",
                "2026-04-14T09:00:00"
            ]
        );
        assert_eq!(
            locals(
                "FREQ=MONTHLY;BYDAY=-1FR;COUNT=3",
                "2026-01-01T16:30",
                "Europe/Berlin"
            ),
            [
                "2026-01-30T16:30:00",
                "2026-02-27T16:30:00",
                "2026-03-27T16:30:00"
            ]
        );
        assert_eq!(
            locals(
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=5",
                "2026-03-02T08:00",
                "America/New_York"
            ),
            [
                "2026-03-03T08:00:00",
                "2026-03-05T08:00:00",
                "2026-03-17T08:00:00",
                "2026-03-19T08:00:00",
                "2026-03-31T08:00:00"
            ]
        );
        // The last weekday of the month.
        assert_eq!(
            locals(
                "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3",
                "2026-01-01T09:00",
                "UTC"
            ),
            [
                "2026-01-30T09:00:00",
                "2026-02-27T09:00:00",
                "2026-03-31T09:00:00"
            ]
        );
        // The 31st skips the months that have none.
        assert_eq!(
            locals(
                "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=3",
                "2026-01-31T09:00",
                "UTC"
            ),
            [
                "2026-01-31T09:00:00",
                "2026-03-31T09:00:00",
                "2026-05-31T09:00:00"
            ]
        );
    }

    #[test]
    fn a_weekly_time_stays_put_across_both_changes() {
        for (zone_name, before, summer, after) in [
            ("America/New_York", -5, -4, -5),
            ("Europe/Berlin", 1, 2, 1),
            // The southern summer: daylight time first and last.
            ("Australia/Sydney", 11, 10, 11),
        ] {
            let tz = zone(zone_name);
            let found = occurrences(
                "FREQ=WEEKLY;UNTIL=20261231T235959",
                local("2026-01-06T09:00"),
                &[],
                &tz,
                MAX_OCCURRENCES,
            )
            .unwrap();
            assert_eq!(found.len(), 52, "{zone_name}");
            let mut offsets = Vec::new();
            for occurrence in &found {
                let zoned = occurrence.at.to_zoned(tz.clone());
                assert_eq!(zoned.datetime(), occurrence.local, "{zone_name}");
                assert_eq!(zoned.time(), Time::constant(9, 0, 0, 0), "{zone_name}");
                let hours = zoned.offset().seconds() / 3600;
                if offsets.last() != Some(&hours) {
                    offsets.push(hours);
                }
            }
            assert_eq!(offsets, [before, summer, after], "{zone_name}");
        }
    }

    #[test]
    fn skipped_and_repeated_hours() {
        let ny = zone("America/New_York");
        let found = occurrences(
            "FREQ=DAILY;COUNT=3",
            local("2026-03-07T02:30"),
            &[],
            &ny,
            10,
        )
        .unwrap();
        // 2:30 on 8 March does not exist: it is 3:30 EDT, an hour after
        // 1:30 EST.
        assert_eq!(found[1].local, local("2026-03-08T02:30"));
        assert_eq!(found[1].at.to_string(), "2026-03-08T07:30:00Z");
        assert_eq!(
            found[1].at.to_zoned(ny.clone()).time(),
            Time::constant(3, 30, 0, 0)
        );
        let found = occurrences(
            "FREQ=DAILY;COUNT=3",
            local("2026-10-31T01:30"),
            &[],
            &ny,
            10,
        )
        .unwrap();
        // 1:30 on 1 November happens twice: the first (EDT) is taken.
        assert_eq!(found[1].at.to_string(), "2026-11-01T05:30:00Z");
    }

    #[test]
    fn limits_and_ends() {
        let berlin = zone("Europe/Berlin");
        let first = local("2026-01-05T09:00");
        let err = occurrences("FREQ=DAILY;COUNT=501", first, &[], &berlin, 1000).unwrap_err();
        assert!(err.contains("more than 500"), "{err}");
        let err = occurrences("FREQ=DAILY;COUNT=11", first, &[], &berlin, 10).unwrap_err();
        assert!(err.contains("more than 10"), "{err}");
        // Dates taken out do not count against the cap.
        let exdates = [local("2026-01-06T09:00"), local("2026-01-07T09:00")];
        assert_eq!(
            occurrences("FREQ=DAILY;COUNT=12", first, &exdates, &berlin, 10)
                .unwrap()
                .len(),
            10
        );
        let err = occurrences("FREQ=MONTHLY;COUNT=40", first, &[], &berlin, 500).unwrap_err();
        assert!(err.contains("at most 3 years"), "{err}");
        let err = occurrences("FREQ=DAILY;UNTIL=20991231", first, &[], &berlin, 500).unwrap_err();
        assert!(err.contains("more than 500"), "{err}");
        let err = occurrences("FREQ=DAILY;UNTIL=20251231", first, &[], &berlin, 500).unwrap_err();
        assert!(err.contains("ends before it starts"), "{err}");
        let err = occurrences("FREQ=DAILY", first, &[], &berlin, 500).unwrap_err();
        assert!(err.contains("Appointments must end"), "{err}");
        // February has no 30th: no dates at all, and no error.
        assert!(
            occurrences(
                "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=2",
                first,
                &[],
                &berlin,
                10
            )
            .unwrap()
            .is_empty()
        );
        // An end day includes that day; an end instant is exact.
        assert_eq!(
            locals(
                "FREQ=DAILY;UNTIL=20260107",
                "2026-01-05T09:00",
                "Europe/Berlin"
            )
            .len(),
            3
        );
        assert_eq!(
            locals(
                "FREQ=DAILY;UNTIL=20260107T080000Z",
                "2026-01-05T09:00",
                "Europe/Berlin"
            )
            .len(),
            3
        );
        assert_eq!(
            locals(
                "FREQ=DAILY;UNTIL=20260107T075959Z",
                "2026-01-05T09:00",
                "Europe/Berlin"
            )
            .len(),
            2
        );
    }

    #[test]
    fn exdates_are_stored_as_text() {
        let dates = [local("2026-03-10T09:00"), local("2026-03-17T09:30:15")];
        let text = exdates_text(&dates);
        assert_eq!(text, "2026-03-10T09:00:00,2026-03-17T09:30:15");
        assert_eq!(parse_exdates(&text).unwrap(), dates);
        assert_eq!(parse_exdates("").unwrap(), []);
        assert!(parse_exdates("tuesday").is_err());
        let series = Series {
            id: crate::store::SeriesId(1),
            rule: "FREQ=WEEKLY;COUNT=3".into(),
            first_local: "2026-03-03T09:00:00".into(),
            time_zone: "Europe/Berlin".into(),
            exdates: "2026-03-10T09:00:00".into(),
        };
        let found = series_occurrences(&series, 10).unwrap();
        assert_eq!(
            found
                .iter()
                .map(|o| o.local.to_string())
                .collect::<Vec<_>>(),
            ["2026-03-03T09:00:00", "2026-03-17T09:00:00"]
        );
        let broken = Series {
            time_zone: "Mars/Olympus".into(),
            ..series
        };
        assert!(
            series_occurrences(&broken, 10)
                .unwrap_err()
                .contains("Mars/Olympus")
        );
    }

    /// One series for the oracle: a rule, its first local start, the zone
    /// and the dates taken out.
    struct Case {
        rule: &'static str,
        first: &'static str,
        zone: &'static str,
        exdates: &'static [&'static str],
    }

    const CASES: &[Case] = &[
        // A weekly 9:00 across both changes, in both hemispheres' rules.
        Case {
            rule: "FREQ=WEEKLY;UNTIL=20261231T235959",
            first: "2026-01-06T09:00:00",
            zone: "America/New_York",
            exdates: &[],
        },
        Case {
            rule: "FREQ=WEEKLY;UNTIL=20261231T235959",
            first: "2026-01-06T09:00:00",
            zone: "Europe/Berlin",
            exdates: &[],
        },
        Case {
            rule: "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=120",
            first: "2026-01-05T08:30:00",
            zone: "Australia/Lord_Howe",
            exdates: &[],
        },
        // Every other week.
        Case {
            rule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=20",
            first: "2026-02-02T14:00:00",
            zone: "Europe/Berlin",
            exdates: &[],
        },
        Case {
            rule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,TU;WKST=SU;COUNT=12",
            first: "2026-02-01T10:00:00",
            zone: "Europe/Paris",
            exdates: &[],
        },
        // Monthly on the 2nd Tuesday; on the last Friday.
        Case {
            rule: "FREQ=MONTHLY;BYDAY=2TU;COUNT=24",
            first: "2026-01-01T09:00:00",
            zone: "America/Chicago",
            exdates: &[],
        },
        Case {
            rule: "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20271231T235959",
            first: "2026-01-01T16:00:00",
            zone: "Europe/London",
            exdates: &[],
        },
        Case {
            rule: "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=14",
            first: "2026-01-31T12:00:00",
            zone: "Asia/Tokyo",
            exdates: &[],
        },
        Case {
            rule: "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=10",
            first: "2026-01-31T12:00:00",
            zone: "UTC",
            exdates: &[],
        },
        // BYSETPOS: the last weekday, the second of Tuesday/Wednesday.
        Case {
            rule: "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=18",
            first: "2026-01-01T17:00:00",
            zone: "America/Denver",
            exdates: &[],
        },
        Case {
            rule: "FREQ=MONTHLY;BYDAY=TU,WE;BYSETPOS=2,-1;COUNT=16",
            first: "2026-01-01T09:15:00",
            zone: "Europe/Berlin",
            exdates: &[],
        },
        Case {
            rule: "FREQ=YEARLY;BYMONTH=3,9;BYDAY=SU;BYSETPOS=1;COUNT=3",
            first: "2026-01-01T11:00:00",
            zone: "Pacific/Auckland",
            exdates: &[],
        },
        // EXDATE.
        Case {
            rule: "FREQ=WEEKLY;BYDAY=TU;COUNT=10",
            first: "2026-03-03T09:00:00",
            zone: "Europe/Berlin",
            exdates: &[
                "2026-03-10T09:00:00",
                "2026-03-31T09:00:00",
                "2026-04-01T09:00:00",
            ],
        },
        Case {
            rule: "FREQ=DAILY;INTERVAL=3;UNTIL=20260615T235959",
            first: "2026-03-01T07:45:00",
            zone: "America/Los_Angeles",
            exdates: &["2026-03-07T07:45:00"],
        },
        // UNTIL given in UTC, for a business elsewhere: 2027-03-01 00:00Z
        // is Sunday 28 February 16:00 in Los Angeles (included) and
        // Monday 1 March 01:00 in Berlin.
        Case {
            rule: "FREQ=WEEKLY;BYDAY=SU;UNTIL=20270301T000000Z",
            first: "2026-09-06T16:00:00",
            zone: "America/Los_Angeles",
            exdates: &[],
        },
        Case {
            rule: "FREQ=WEEKLY;BYDAY=SU;UNTIL=20270301T000000Z",
            first: "2026-09-06T16:01:00",
            zone: "America/Los_Angeles",
            exdates: &[],
        },
        Case {
            rule: "FREQ=DAILY;UNTIL=20270301T000000Z",
            first: "2027-02-20T00:30:00",
            zone: "Europe/Berlin",
            exdates: &[],
        },
        Case {
            rule: "FREQ=DAILY;UNTIL=20261101T053000Z",
            first: "2026-10-28T01:30:00",
            zone: "America/New_York",
            exdates: &[],
        },
        // Occurrences in skipped and repeated hours.
        Case {
            rule: "FREQ=DAILY;COUNT=5",
            first: "2026-03-06T02:30:00",
            zone: "America/New_York",
            exdates: &[],
        },
        Case {
            rule: "FREQ=DAILY;COUNT=5",
            first: "2026-10-30T01:30:00",
            zone: "America/New_York",
            exdates: &[],
        },
        Case {
            rule: "FREQ=WEEKLY;COUNT=3",
            first: "2026-09-27T02:15:00",
            zone: "Australia/Lord_Howe",
            exdates: &[],
        },
        Case {
            rule: "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=5;COUNT=3",
            first: "2026-03-05T10:00:00",
            zone: "Africa/Cairo",
            exdates: &[],
        },
    ];

    /// dateutil expands each case on its own (aware start datetimes in
    /// zoneinfo: Python adds wall-clock time to them, and compares UNTIL
    /// given in UTC as an instant; a floating UNTIL is given to it
    /// naive), and zoneinfo gives each instant (fold=0: the first of a
    /// repeated hour, the time before a gap's offset for a skipped one).
    const DATEUTIL: &str = r#"
import json, re, sys
from datetime import datetime
from zoneinfo import ZoneInfo
from dateutil.rrule import rrulestr, rruleset
answers = []
for case in json.load(sys.stdin):
    zone = ZoneInfo(case["zone"])
    first = datetime.fromisoformat(case["first"])
    floating = re.search(r"UNTIL=\d{8}T\d{6}(;|$)", case["rule"]) is not None
    start = first if floating else first.replace(tzinfo=zone)
    rule = rrulestr(case["rule"], dtstart=start)
    series = rruleset()
    series.rrule(rule)
    for ex in case["exdates"]:
        ex = datetime.fromisoformat(ex)
        series.exdate(ex if floating else ex.replace(tzinfo=zone))
    found = []
    for dt in series:
        local = dt.replace(tzinfo=None)
        at = local.replace(tzinfo=zone, fold=0)
        found.append([local.isoformat(), int(at.timestamp())])
        if len(found) > 600:
            break
    answers.append(found)
print(json.dumps(answers))
"#;

    #[test]
    fn series_agree_with_dateutil_and_zoneinfo() {
        let input: Vec<serde_json::Value> = CASES
            .iter()
            .map(|c| {
                serde_json::json!({
                    "rule": c.rule, "first": c.first, "zone": c.zone, "exdates": c.exdates,
                })
            })
            .collect();
        let Some(answers) = oracle::python(&["dateutil", "zoneinfo"], DATEUTIL, &input.into())
        else {
            return;
        };
        for (case, expected) in CASES.iter().zip(answers.as_array().unwrap()) {
            let exdates: Vec<DateTime> = case.exdates.iter().map(|e| local(e)).collect();
            let found = occurrences(
                case.rule,
                local(case.first),
                &exdates,
                &zone(case.zone),
                MAX_OCCURRENCES,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", case.rule));
            let found: Vec<(String, i64)> = found
                .iter()
                .map(|o| (o.local.to_string(), o.at.as_second()))
                .collect();
            let expected: Vec<(String, i64)> = expected
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().unwrap().to_string(),
                        pair[1].as_i64().unwrap(),
                    )
                })
                .collect();
            assert!(!expected.is_empty(), "{} in {}", case.rule, case.zone);
            assert_eq!(
                found, expected,
                "{} from {} in {}",
                case.rule, case.first, case.zone
            );
        }
    }

    fn stored(id: i64, at: &str, zone_name: &str) -> Appointment {
        let start = zone(zone_name)
            .to_ambiguous_timestamp(local(at))
            .compatible()
            .unwrap()
            .as_second();
        Appointment {
            id: AppointmentId(id),
            uid: format!("uid-{id}"),
            customer_id: None,
            customer_name: None,
            staff_id: crate::store::StaffId(1),
            resource_id: None,
            title: "Cleaning".into(),
            starts_at: start,
            ends_at: start + 1800,
            busy_from: start,
            busy_until: start + 1800,
            status: AppointmentStatus::Booked,
            notes: String::new(),
            series_id: Some(crate::store::SeriesId(1)),
            recurrence_id: Some(start),
            detached: false,
            override_reason: None,
            sequence: 0,
            services: Vec::new(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn editing_a_series_leaves_detached_and_past_occurrences_alone() {
        let z = "Europe/Berlin";
        let tz = zone(z);
        // Weekly on Tuesdays at 9:00, five times from 3 March.
        let mut appointments: Vec<Appointment> = [
            "2026-03-03T09:00",
            "2026-03-10T09:00",
            "2026-03-17T09:00",
            "2026-03-24T09:00",
            "2026-03-31T09:00",
        ]
        .iter()
        .enumerate()
        .map(|(i, at)| stored(i as i64 + 1, at, z))
        .collect();
        // The 17th was moved on its own to 11:00; the 24th was cancelled.
        appointments[2].starts_at += 7200;
        appointments[2].detached = true;
        appointments[3].status = AppointmentStatus::Cancelled;
        let now = tz
            .to_ambiguous_timestamp(local("2026-03-05T12:00"))
            .compatible()
            .unwrap();

        // The whole series moves to 10:00.
        let wanted = occurrences(
            "FREQ=WEEKLY;COUNT=5",
            local("2026-03-03T10:00"),
            &[],
            &tz,
            10,
        )
        .unwrap();
        let edit = plan_series_edit(&appointments, &wanted, &tz, now);
        assert_eq!(
            edit.untouched,
            [AppointmentId(1), AppointmentId(3), AppointmentId(4)]
        );
        let moved: Vec<(i64, String)> = edit
            .reschedule
            .iter()
            .map(|(id, o)| (id.0, o.local.to_string()))
            .collect();
        assert_eq!(
            moved,
            [
                (2, "2026-03-10T10:00:00".to_string()),
                (5, "2026-03-31T10:00:00".to_string())
            ]
        );
        assert_eq!(edit.create, []);
        assert_eq!(edit.cancel, []);
        assert_eq!(edit.keep, []);

        // The same times, one week longer: the new week is created.
        let wanted = occurrences(
            "FREQ=WEEKLY;COUNT=6",
            local("2026-03-03T09:00"),
            &[],
            &tz,
            10,
        )
        .unwrap();
        let edit = plan_series_edit(&appointments, &wanted, &tz, now);
        assert_eq!(edit.keep, [AppointmentId(2), AppointmentId(5)]);
        assert_eq!(
            edit.create
                .iter()
                .map(|o| o.local.to_string())
                .collect::<Vec<_>>(),
            ["2026-04-07T09:00:00"]
        );

        // Moved to Wednesdays: the open Tuesdays are cancelled, Wednesdays
        // created, from now on only.
        let wanted = occurrences(
            "FREQ=WEEKLY;BYDAY=WE;COUNT=5",
            local("2026-03-03T09:00"),
            &[],
            &tz,
            10,
        )
        .unwrap();
        let edit = plan_series_edit(&appointments, &wanted, &tz, now);
        assert_eq!(edit.cancel, [AppointmentId(2), AppointmentId(5)]);
        assert_eq!(
            edit.create
                .iter()
                .map(|o| o.local.to_string())
                .collect::<Vec<_>>(),
            [
                "2026-03-11T09:00:00",
                "2026-03-18T09:00:00",
                "2026-03-25T09:00:00",
                "2026-04-01T09:00:00"
            ]
        );
    }
}
