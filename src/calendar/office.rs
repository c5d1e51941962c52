//! The availability engine: the one place that decides whether a time is
//! free. Staff booking through a form, the API, the "find a slot" search and
//! the assistant's proposals all ask an [`Office`], a snapshot of everything
//! that decides it (settings, staff and their hours, services, resources,
//! closures, time off, the appointments that hold time) for a range of days.
//!
//! Time is handled one local day at a time. Hours are wall-clock intervals;
//! each candidate start is a civil date-time turned into an instant through
//! the business's time zone:
//! - a start in a skipped hour (spring forward) does not exist and is never
//!   offered, and a booking asked for there is refused;
//! - a start in a repeated hour (fall back) exists twice, as two instants,
//!   and both are offered, each unambiguous because it is stored as an
//!   instant (UTC);
//! - durations are real elapsed time: a 60-minute appointment at 1:30 on the
//!   night the clocks go back ends at 1:30 again (the later one).
//!
//! Rules an appointment must keep: it lies within the business's opening
//! hours and its staff member's working hours, not on a closure, not during
//! the staff member's time off; the staff member can do every service; and
//! neither the staff member nor the resource is held by another appointment
//! (buffers included), except for the places left in a group service that
//! starts at the same time. The overlap part is decided again inside the
//! store's write transaction, so two people cannot both book the last place.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use super::hours::{Interval, Minute, WeekHours, clock, intersect_all, minute_of};
use crate::store::{
    Appointment, AppointmentFilter, Resource, ResourceId, Service, ServiceId, StaffId, StaffMember,
    Store, StoreResult, TimeOff,
};

/// Setting keys (versioned settings in the store).
pub const TIME_ZONE_SETTING: &str = "schedule.time_zone";
pub const HOURS_SETTING: &str = "schedule.opening_hours";
pub const STEP_SETTING: &str = "schedule.slot_minutes";

/// Minutes between offered start times unless the owner chooses otherwise.
pub const DEFAULT_STEP_MINUTES: u32 = 15;

/// The business's calendar settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// An IANA name ("America/New_York").
    pub zone_name: String,
    pub zone: TimeZone,
    pub opening: WeekHours,
    /// Offered start times fall on multiples of this many minutes after
    /// midnight.
    pub step_minutes: u32,
}

impl Settings {
    /// The stored settings; what is missing or unreadable falls back to the
    /// box's own time zone, weekdays 9–17 and 15-minute steps.
    pub async fn load(store: &Store) -> StoreResult<Settings> {
        let zone_name = store.setting(TIME_ZONE_SETTING).await?;
        let hours = store.setting(HOURS_SETTING).await?;
        let step = store.setting(STEP_SETTING).await?;
        Ok(Settings::from_stored(
            zone_name.as_deref(),
            hours.as_deref(),
            step.as_deref(),
        ))
    }

    pub fn from_stored(zone: Option<&str>, hours: Option<&str>, step: Option<&str>) -> Settings {
        let (zone_name, zone) = zone
            .and_then(|name| Some((name.to_string(), TimeZone::get(name).ok()?)))
            .unwrap_or_else(system_zone);
        let opening = hours
            .and_then(|json| WeekHours::from_json(json).ok())
            .unwrap_or_default();
        let step_minutes = step
            .and_then(|s| s.parse().ok())
            .filter(|m| (5..=240).contains(m))
            .unwrap_or(DEFAULT_STEP_MINUTES);
        Settings {
            zone_name,
            zone,
            opening,
            step_minutes,
        }
    }

    /// The local date-time of an instant.
    pub fn local(&self, at: Timestamp) -> DateTime {
        self.zone.to_datetime(at)
    }

    /// "Tue 1 Dec 14:00" for an instant, in the business's zone.
    pub fn describe(&self, at: Timestamp) -> String {
        let local = at.to_zoned(self.zone.clone());
        local.strftime("%a %-d %b %H:%M").to_string()
    }

    /// The first instant of a local day (midnight, or the first time that
    /// exists where midnight was skipped).
    pub fn day_start(&self, day: Date) -> Timestamp {
        self.zone
            .to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .compatible()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The instants a local date-time names: none in a skipped hour, two in
    /// a repeated one.
    pub fn instants(&self, local: DateTime) -> Vec<Timestamp> {
        let ambiguous = self.zone.to_ambiguous_timestamp(local);
        let at = |offset: jiff::tz::Offset| offset.to_timestamp(local).ok();
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => at(offset).into_iter().collect(),
            AmbiguousOffset::Gap { .. } => Vec::new(),
            AmbiguousOffset::Fold { before, after } => {
                at(before).into_iter().chain(at(after)).collect()
            }
        }
    }
}

/// The IANA names of the time zones people can choose, sorted: every name
/// the time zone database knows, less its aliases for other databases
/// (`posix/...`, `right/...`) and the placeholders.
pub fn time_zones() -> &'static [String] {
    static ZONES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|name| name.as_str().to_string())
            .filter(|name| {
                !name.starts_with("posix/")
                    && !name.starts_with("right/")
                    && !matches!(name.as_str(), "posixrules" | "Factory" | "localtime")
            })
            .collect();
        names.sort();
        names.dedup();
        names
    });
    &ZONES
}

/// A zone name people chose that this box does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownZone(pub String);

impl std::fmt::Display for UnknownZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "“{}” is not a time zone this box knows; choose one from the list.",
            self.0
        )
    }
}

/// The one check of a time zone people chose (Admin → Schedule, Admin →
/// Business, the settings API): the name, trimmed, when the time zone
/// database knows it.
pub fn known_zone(name: &str) -> Result<&str, UnknownZone> {
    let name = name.trim();
    if name.is_empty() || TimeZone::get(name).is_err() {
        return Err(UnknownZone(name.to_string()));
    }
    Ok(name)
}

/// The box's own zone, or UTC when it has none it can name.
fn system_zone() -> (String, TimeZone) {
    let zone = TimeZone::system();
    match zone.iana_name() {
        Some(name) => (name.to_string(), zone.clone()),
        None => ("UTC".to_string(), TimeZone::UTC),
    }
}

/// Why a time cannot be booked. Each reads as a sentence for people; the
/// `code` is stable for programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Conflict {
    Closed {
        day: String,
        reason: String,
    },
    OutsideOpeningHours {
        hours: String,
    },
    OutsideWorkingHours {
        staff: String,
        hours: String,
    },
    TimeOff {
        staff: String,
        reason: String,
    },
    StaffBusy {
        staff: String,
        with: String,
    },
    ResourceTaken {
        resource: String,
        with: String,
    },
    /// Every resource the services can use is held.
    NoResourceFree {
        resources: String,
    },
    GroupFull {
        capacity: u32,
    },
    CannotDo {
        staff: String,
        service: String,
    },
    Inactive {
        what: String,
    },
    /// The local time does not exist (the clocks skip it).
    NonexistentTime {
        local: String,
    },
    /// One occurrence of a recurring series is not free.
    Occurrence {
        day: String,
        reason: String,
        can_override: bool,
    },
}

impl Conflict {
    pub fn message(&self) -> String {
        match self {
            Conflict::Closed { day, reason } if reason.is_empty() => {
                format!("The office is closed on {day}.")
            }
            Conflict::Closed { day, reason } => {
                format!("The office is closed on {day} ({reason}).")
            }
            Conflict::OutsideOpeningHours { hours } => {
                format!("That is outside opening hours ({hours}).")
            }
            Conflict::OutsideWorkingHours { staff, hours } => {
                format!("That is outside {staff}'s working hours ({hours}).")
            }
            Conflict::TimeOff { staff, reason } if reason.is_empty() => {
                format!("{staff} is off then.")
            }
            Conflict::TimeOff { staff, reason } => format!("{staff} is off then ({reason})."),
            Conflict::StaffBusy { staff, with } => {
                format!("{staff} is already booked then: {with}.")
            }
            Conflict::ResourceTaken { resource, with } => {
                format!("{resource} is taken then: {with}.")
            }
            Conflict::NoResourceFree { resources } => {
                format!("None of {resources} is free then.")
            }
            Conflict::GroupFull { capacity } => {
                format!(
                    "That group session is full ({}).",
                    crate::text::count(i64::from(*capacity), "place", "places")
                )
            }
            Conflict::CannotDo { staff, service } => format!("{staff} does not do {service}."),
            Conflict::Inactive { what } => format!("{what} is no longer in use."),
            Conflict::NonexistentTime { local } => format!(
                "{local} does not exist that day: the clocks skip that hour. Choose another time."
            ),
            Conflict::Occurrence { day, reason, .. } => format!("{day}: {reason}"),
        }
    }

    /// Whether an owner or admin may book anyway (a time that does not
    /// exist cannot be booked at all).
    pub fn can_override(&self) -> bool {
        match self {
            Conflict::NonexistentTime { .. } => false,
            Conflict::Occurrence { can_override, .. } => *can_override,
            _ => true,
        }
    }
}

/// What a booking of some services needs: how long, who can do it, what it
/// can use.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub services: Vec<ServiceId>,
    /// The services back to back (with the buffers between them).
    pub minutes: u32,
    pub buffer_before: u32,
    pub buffer_after: u32,
    /// Active staff who can do every service.
    pub staff: Vec<StaffId>,
    /// Resources it can use, any one; empty when it needs none.
    pub resources: Vec<ResourceId>,
    /// Customers one slot holds.
    pub capacity: u32,
    /// The services' names, for titles.
    pub title: String,
}

/// A concrete time for a concrete person (and resource).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub staff: StaffId,
    pub resource: Option<ResourceId>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub plan: Plan,
}

impl Candidate {
    pub fn busy_from(&self) -> Timestamp {
        self.starts_at - (self.plan.buffer_before as i64).minutes()
    }

    pub fn busy_until(&self) -> Timestamp {
        self.ends_at + (self.plan.buffer_after as i64).minutes()
    }
}

/// A free time the search offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub staff: StaffId,
    pub resource: Option<ResourceId>,
    /// It is a place in a group session that already has people.
    pub joins_group: bool,
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct SlotQuery {
    pub plan: Plan,
    /// Only this person.
    pub staff: Option<StaffId>,
    pub first_day: Date,
    pub last_day: Date,
    /// Times of day the start must fall in; empty: any.
    pub windows: Vec<Interval>,
    /// No slot starts before this (now).
    pub not_before: Timestamp,
    pub limit: usize,
}

/// A snapshot of the office for some days. Cheap to share (`Arc`), so the
/// store's write transaction can ask it again.
#[derive(Debug)]
pub struct Office {
    pub settings: Settings,
    staff: Vec<StaffMember>,
    staff_hours: HashMap<StaffId, WeekHours>,
    resources: Vec<Resource>,
    services: Vec<Service>,
    closures: Vec<(Date, Date, String)>,
    time_off: HashMap<StaffId, Vec<TimeOff>>,
    by_staff: HashMap<StaffId, Held>,
    by_resource: HashMap<ResourceId, Held>,
}

/// One person's or resource's appointments, by start of held time, with
/// the longest one's length so a search can start where overlaps can be.
#[derive(Debug, Default)]
struct Held {
    appointments: Vec<Appointment>,
    longest: i64,
}

impl Held {
    fn add(&mut self, appointment: Appointment) {
        self.longest = self
            .longest
            .max(appointment.busy_until - appointment.busy_from);
        self.appointments.push(appointment);
    }

    fn sort(&mut self) {
        self.appointments.sort_by_key(|a| (a.busy_from, a.id));
    }

    /// The appointments whose held time overlaps `[from, until)`.
    fn overlapping(&self, from: i64, until: i64) -> impl Iterator<Item = &Appointment> {
        let first = self
            .appointments
            .partition_point(|a| a.busy_from < from - self.longest);
        self.appointments[first..]
            .iter()
            .take_while(move |a| a.busy_from < until)
            .filter(move |a| a.busy_until > from)
    }
}

/// Appointments one more one-day margin is loaded around a range for, so
/// long appointments and buffers that cross midnight are seen.
const MARGIN_DAYS: i64 = 1;

impl Office {
    /// Everything that decides availability on the local days
    /// `first..=last`.
    pub async fn load(store: &Store, first: Date, last: Date) -> StoreResult<Office> {
        let settings = Settings::load(store).await?;
        Office::load_with(store, settings, first, last).await
    }

    pub async fn load_with(
        store: &Store,
        settings: Settings,
        first: Date,
        last: Date,
    ) -> StoreResult<Office> {
        let from = settings
            .day_start(first.saturating_sub(MARGIN_DAYS.days()))
            .as_second();
        let until = settings
            .day_start(last.saturating_add((1 + MARGIN_DAYS).days()))
            .as_second();
        let (staff, resources, services) =
            tokio::try_join!(store.staff(), store.resources(), store.services())?;
        let closures = store
            .closures(first.to_string(), last.to_string())
            .await?
            .into_iter()
            .filter_map(|c| {
                Some((
                    c.first_day.parse().ok()?,
                    c.last_day.parse().ok()?,
                    c.reason,
                ))
            })
            .collect();
        let time_off = store.time_off(from, until).await?;
        let appointments = store
            .appointments_between(from, until, AppointmentFilter::default())
            .await?;
        Ok(Office::new(
            settings,
            staff,
            resources,
            services,
            closures,
            time_off,
            appointments,
        ))
    }

    /// A snapshot from parts (tests and benchmarks build them directly).
    pub fn new(
        settings: Settings,
        staff: Vec<StaffMember>,
        resources: Vec<Resource>,
        services: Vec<Service>,
        closures: Vec<(Date, Date, String)>,
        time_off: Vec<TimeOff>,
        appointments: Vec<Appointment>,
    ) -> Office {
        let staff_hours = staff
            .iter()
            .filter(|s| !s.hours.is_empty())
            .filter_map(|s| Some((s.id, WeekHours::from_json(&s.hours).ok()?)))
            .collect();
        let mut by_time_off: HashMap<StaffId, Vec<TimeOff>> = HashMap::new();
        for off in time_off {
            by_time_off.entry(off.staff_id).or_default().push(off);
        }
        let mut by_staff: HashMap<StaffId, Held> = HashMap::new();
        let mut by_resource: HashMap<ResourceId, Held> = HashMap::new();
        for appointment in appointments.into_iter().filter(Appointment::holds_time) {
            if let Some(resource) = appointment.resource_id {
                by_resource
                    .entry(resource)
                    .or_default()
                    .add(appointment.clone());
            }
            by_staff
                .entry(appointment.staff_id)
                .or_default()
                .add(appointment);
        }
        by_staff.values_mut().for_each(Held::sort);
        by_resource.values_mut().for_each(Held::sort);
        Office {
            settings,
            staff,
            staff_hours,
            resources,
            services,
            closures,
            time_off: by_time_off,
            by_staff,
            by_resource,
        }
    }

    pub fn staff(&self) -> &[StaffMember] {
        &self.staff
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }

    pub fn staff_member(&self, id: StaffId) -> Option<&StaffMember> {
        self.staff.iter().find(|s| s.id == id)
    }

    pub fn resource(&self, id: ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| r.id == id)
    }

    pub fn service(&self, id: ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    fn staff_name(&self, id: StaffId) -> String {
        self.staff_member(id)
            .map_or_else(|| format!("staff #{id}"), |s| s.name.clone())
    }

    fn resource_name(&self, id: ResourceId) -> String {
        self.resource(id)
            .map_or_else(|| format!("resource #{id}"), |r| r.name.clone())
    }

    /// The working hours of a staff member on a weekday: their own, within
    /// the business's opening hours.
    pub fn working_hours(&self, staff: StaffId, day: Date) -> Vec<Interval> {
        let opening = self.settings.opening.on(day.weekday());
        match self.staff_hours.get(&staff) {
            Some(own) => intersect_all(own.on(day.weekday()), opening),
            None => opening.to_vec(),
        }
    }

    /// Why the office is closed on `day`, if it is.
    pub fn closed_on(&self, day: Date) -> Option<&str> {
        self.closures
            .iter()
            .find(|(first, last, _)| *first <= day && day <= *last)
            .map(|(_, _, reason)| reason.as_str())
    }

    /// What booking `services` together needs.
    pub fn plan(&self, services: &[ServiceId]) -> Result<Plan, String> {
        if services.is_empty() {
            return Err("Choose at least one service.".into());
        }
        let mut chosen = Vec::new();
        for id in services {
            let service = self
                .service(*id)
                .ok_or_else(|| "That service does not exist.".to_string())?;
            if !service.active {
                return Err(format!("{} is no longer offered.", service.name));
            }
            chosen.push(service);
        }
        let mut minutes = 0;
        for (i, service) in chosen.iter().enumerate() {
            minutes += service.duration_minutes;
            if i > 0 {
                minutes += chosen[i - 1].buffer_after + service.buffer_before;
            }
        }
        let staff = self
            .staff
            .iter()
            .filter(|s| s.active)
            .filter(|s| {
                chosen
                    .iter()
                    .all(|service| service.staff.is_empty() || service.staff.contains(&s.id))
            })
            .map(|s| s.id)
            .collect();
        let mut resources: Option<Vec<ResourceId>> = None;
        for service in chosen.iter().filter(|s| !s.resources.is_empty()) {
            resources = Some(match resources {
                None => service.resources.clone(),
                Some(so_far) => so_far
                    .into_iter()
                    .filter(|r| service.resources.contains(r))
                    .collect(),
            });
        }
        let resources: Vec<ResourceId> = resources
            .map(|list| {
                list.into_iter()
                    .filter(|r| self.resource(*r).is_some_and(|r| r.active))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let needs_resource = chosen.iter().any(|s| !s.resources.is_empty());
        if needs_resource && resources.is_empty() {
            return Err(
                "These services need different resources (or none that is in use), so they cannot be booked together."
                    .into(),
            );
        }
        Ok(Plan {
            services: services.to_vec(),
            minutes,
            buffer_before: chosen.first().map_or(0, |s| s.buffer_before),
            buffer_after: chosen.last().map_or(0, |s| s.buffer_after),
            staff,
            resources,
            capacity: if chosen.len() == 1 {
                chosen[0].capacity
            } else {
                1
            },
            title: chosen
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(" + "),
        })
    }

    /// The rules that do not depend on other bookings: the day, the hours,
    /// time off, who can do it.
    pub fn rule_conflicts(&self, candidate: &Candidate) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let settings = &self.settings;
        let start = settings.local(candidate.starts_at);
        let end = settings.local(candidate.ends_at);
        let day = start.date();
        let staff_name = self.staff_name(candidate.staff);
        match self.staff_member(candidate.staff) {
            None => conflicts.push(Conflict::Inactive {
                what: staff_name.clone(),
            }),
            Some(s) if !s.active => conflicts.push(Conflict::Inactive {
                what: s.name.clone(),
            }),
            Some(_) => {}
        }
        if !candidate.plan.staff.contains(&candidate.staff) {
            for id in &candidate.plan.services {
                if let Some(service) = self.service(*id)
                    && !service.staff.is_empty()
                    && !service.staff.contains(&candidate.staff)
                {
                    conflicts.push(Conflict::CannotDo {
                        staff: staff_name.clone(),
                        service: service.name.clone(),
                    });
                }
            }
        }
        if let Some(resource) = candidate.resource
            && !self.resource(resource).is_some_and(|r| r.active)
        {
            conflicts.push(Conflict::Inactive {
                what: self.resource_name(resource),
            });
        }
        let mut day_cursor = day;
        while day_cursor <= end.date() {
            if let Some(reason) = self.closed_on(day_cursor) {
                conflicts.push(Conflict::Closed {
                    day: day_cursor.strftime("%a %-d %b").to_string(),
                    reason: reason.to_string(),
                });
                break;
            }
            day_cursor = day_cursor.saturating_add(1.day());
        }
        let (from, until) = local_span(start, end);
        let opening = settings.opening.on(day.weekday());
        if !opening.iter().any(|i| i.contains(from, until)) {
            conflicts.push(Conflict::OutsideOpeningHours {
                hours: describe_hours(opening),
            });
        } else if let Some(own) = self.staff_hours.get(&candidate.staff) {
            let own = own.on(day.weekday());
            if !own.iter().any(|i| i.contains(from, until)) {
                conflicts.push(Conflict::OutsideWorkingHours {
                    staff: staff_name.clone(),
                    hours: describe_hours(own),
                });
            }
        }
        let (a, b) = (
            candidate.starts_at.as_second(),
            candidate.ends_at.as_second(),
        );
        if let Some(off) = self
            .time_off
            .get(&candidate.staff)
            .and_then(|list| list.iter().find(|t| t.starts_at < b && t.ends_at > a))
        {
            conflicts.push(Conflict::TimeOff {
                staff: staff_name,
                reason: off.reason.clone(),
            });
        }
        conflicts
    }

    /// The bookings `candidate` would collide with, among `held` (the
    /// appointments holding time around it, as the database has them now).
    pub fn overlap_conflicts(&self, candidate: &Candidate, held: &[Appointment]) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let (from, until) = (
            candidate.busy_from().as_second(),
            candidate.busy_until().as_second(),
        );
        let overlapping = held
            .iter()
            .filter(|a| a.holds_time() && a.busy_from < until && a.busy_until > from);
        let mut group = 0u32;
        let mut staff_clash = None;
        let mut resource_clash = None;
        for other in overlapping {
            let same_group = candidate.plan.capacity > 1
                && other.starts_at == candidate.starts_at.as_second()
                && other.services == candidate.plan.services
                && other.staff_id == candidate.staff;
            let shares_staff = other.staff_id == candidate.staff;
            let shares_resource =
                candidate.resource.is_some() && other.resource_id == candidate.resource;
            if same_group && (shares_staff || shares_resource) {
                group += 1;
                continue;
            }
            if shares_staff && staff_clash.is_none() {
                staff_clash = Some(other);
            }
            if shares_resource && resource_clash.is_none() {
                resource_clash = Some(other);
            }
        }
        if let Some(other) = staff_clash {
            conflicts.push(Conflict::StaffBusy {
                staff: self.staff_name(candidate.staff),
                with: self.describe_appointment(other),
            });
        }
        if let (Some(other), Some(resource)) = (resource_clash, candidate.resource) {
            conflicts.push(Conflict::ResourceTaken {
                resource: self.resource_name(resource),
                with: self.describe_appointment(other),
            });
        }
        if group >= candidate.plan.capacity && candidate.plan.capacity > 1 {
            conflicts.push(Conflict::GroupFull {
                capacity: candidate.plan.capacity,
            });
        }
        conflicts
    }

    /// Every conflict of `candidate` with this snapshot's bookings.
    pub fn conflicts(&self, candidate: &Candidate) -> Vec<Conflict> {
        let mut conflicts = self.rule_conflicts(candidate);
        let held: Vec<Appointment> = self.held_around(candidate).cloned().collect::<Vec<_>>();
        conflicts.extend(self.overlap_conflicts(candidate, &held));
        conflicts
    }

    fn held_around<'a>(&'a self, candidate: &Candidate) -> impl Iterator<Item = &'a Appointment> {
        let (from, until) = (
            candidate.busy_from().as_second(),
            candidate.busy_until().as_second(),
        );
        let staff = self
            .by_staff
            .get(&candidate.staff)
            .into_iter()
            .flat_map(move |h| h.overlapping(from, until));
        let resource = candidate
            .resource
            .and_then(|r| self.by_resource.get(&r))
            .into_iter()
            .flat_map(move |h| h.overlapping(from, until))
            .filter(move |a| a.staff_id != candidate.staff);
        staff.chain(resource)
    }

    /// The first resource among the plan's that is free for `candidate`
    /// (given `held`), or `None` when none is; `Some(None)` when it needs
    /// none.
    pub fn free_resource(
        &self,
        candidate: &Candidate,
        held: &[Appointment],
    ) -> Option<Option<ResourceId>> {
        if candidate.plan.resources.is_empty() {
            return Some(None);
        }
        candidate.plan.resources.iter().find_map(|resource| {
            let mut trial = candidate.clone();
            trial.resource = Some(*resource);
            let clash = self.overlap_conflicts(&trial, held).iter().any(|c| {
                matches!(
                    c,
                    Conflict::ResourceTaken { .. } | Conflict::GroupFull { .. }
                )
            });
            (!clash).then_some(Some(*resource))
        })
    }

    /// "14:00–14:45 Ortiz (Cleaning)" for messages.
    pub fn describe_appointment(&self, appointment: &Appointment) -> String {
        let settings = &self.settings;
        let start =
            settings.local(Timestamp::from_second(appointment.starts_at).unwrap_or_default());
        let end = settings.local(Timestamp::from_second(appointment.ends_at).unwrap_or_default());
        let who = appointment
            .customer_name
            .clone()
            .unwrap_or_else(|| appointment.title.clone());
        format!(
            "{}–{} {}",
            start.strftime("%H:%M"),
            end.strftime("%H:%M"),
            who
        )
    }

    /// The next free slots for `query`, earliest first (then by staff
    /// order), at most `query.limit`.
    pub fn slots(&self, query: &SlotQuery) -> Vec<Slot> {
        let mut found = Vec::new();
        let step = self.settings.step_minutes.max(1) as u16;
        let minutes = query.plan.minutes as i64;
        let mut day = query.first_day;
        let staff: Vec<StaffId> = query
            .plan
            .staff
            .iter()
            .copied()
            .filter(|s| query.staff.is_none_or(|only| only == *s))
            .collect();
        while day <= query.last_day && found.len() < query.limit {
            if self.closed_on(day).is_none() {
                let mut today = Vec::new();
                for person in &staff {
                    self.slots_of(person, day, step, minutes, query, &mut today);
                }
                today.sort_by_key(|slot: &Slot| slot.starts_at);
                found.extend(today);
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        found.truncate(query.limit);
        found
    }

    fn slots_of(
        &self,
        staff: &StaffId,
        day: Date,
        step: u16,
        minutes: i64,
        query: &SlotQuery,
        out: &mut Vec<Slot>,
    ) {
        let mut windows = self.working_hours(*staff, day);
        if !query.windows.is_empty() {
            // A window of the query bounds the start; the appointment may
            // run past it ("afternoons" means starting in the afternoon).
            windows = windows
                .into_iter()
                .flat_map(|work| {
                    query.windows.iter().filter_map(move |w| {
                        let start = work.start.max(w.start);
                        (start < work.end && start < w.end).then_some((work, start, w.end))
                    })
                })
                // Starts fall before the window's end: the last one is a
                // minute before it, and the appointment may run on.
                .map(|(work, start, window_end)| Interval {
                    start,
                    end: work
                        .end
                        .min(window_end.saturating_add(minutes as u16).saturating_sub(1)),
                })
                .collect();
        }
        let time_off = self.time_off.get(staff);
        let held = self.by_staff.get(staff);
        for window in windows {
            let mut minute = window.start.div_ceil(step) * step;
            while (minute as i64) + minutes <= window.end as i64 {
                let local = day.to_datetime(civil_time(minute));
                for starts_at in self.settings.instants(local) {
                    let ends_at = starts_at + minutes.minutes();
                    if starts_at < query.not_before {
                        continue;
                    }
                    let end_local = self.settings.local(ends_at);
                    let (_, end_minute) = local_span(local, end_local);
                    if end_minute > window.end {
                        continue;
                    }
                    let (a, b) = (starts_at.as_second(), ends_at.as_second());
                    if time_off
                        .is_some_and(|list| list.iter().any(|t| t.starts_at < b && t.ends_at > a))
                    {
                        continue;
                    }
                    // The search asks only "free or not", without building
                    // messages or copying appointments: it looks at tens of
                    // thousands of times (formatting each clash cost 200 ms
                    // at p95 over eight busy weeks).
                    let plan = &query.plan;
                    let from = a - plan.buffer_before as i64 * 60;
                    let until = b + plan.buffer_after as i64 * 60;
                    let Some(staff_group) = free_in(held, from, until, a, plan, *staff) else {
                        continue;
                    };
                    let (resource, resource_group) = if plan.resources.is_empty() {
                        (None, false)
                    } else {
                        let Some(found) = plan.resources.iter().find_map(|r| {
                            free_in(self.by_resource.get(r), from, until, a, plan, *staff)
                                .map(|group| (Some(*r), group))
                        }) else {
                            continue;
                        };
                        found
                    };
                    let joins_group = staff_group || resource_group;
                    out.push(Slot {
                        starts_at,
                        ends_at,
                        staff: *staff,
                        resource,
                        joins_group,
                    });
                }
                minute += step;
            }
        }
    }
}

/// Whether `held` (one person's or resource's appointments) leaves
/// `[from, until)` free for a booking of `plan` by `staff` starting at
/// `start`: `Some(joins)` when free (`joins`: it takes a place in a group
/// session already there), `None` when not. The same rule as
/// [`Office::overlap_conflicts`], without the messages.
fn free_in(
    held: Option<&Held>,
    from: i64,
    until: i64,
    start: i64,
    plan: &Plan,
    staff: StaffId,
) -> Option<bool> {
    let Some(held) = held else {
        return Some(false);
    };
    let mut group = 0u32;
    for other in held.overlapping(from, until) {
        let same_group = plan.capacity > 1
            && other.starts_at == start
            && other.staff_id == staff
            && other.services == plan.services;
        if !same_group {
            return None;
        }
        group += 1;
    }
    (group < plan.capacity.max(1)).then_some(group > 0)
}

/// The civil time of a minute of the day (1440 is not a time; callers
/// stop before it).
fn civil_time(minute: Minute) -> jiff::civil::Time {
    jiff::civil::Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0)
        .unwrap_or(jiff::civil::Time::midnight())
}

/// Minutes of the start's day covered from `start` to `end` (an end at the
/// next midnight is 1440; later days count as the end of this one plus).
fn local_span(start: DateTime, end: DateTime) -> (Minute, Minute) {
    let from = minute_of(start.time());
    let days = (end.date() - start.date()).get_days().max(0) as u32;
    let until = (days * 1440 + minute_of(end.time()) as u32).min(u16::MAX as u32) as Minute;
    (from, until)
}

fn describe_hours(hours: &[Interval]) -> String {
    if hours.is_empty() {
        return "closed that day".into();
    }
    hours
        .iter()
        .map(|i| format!("{}–{}", clock(i.start), clock(i.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An `Office` behind an `Arc`, for the store's write transaction.
pub type SharedOffice = Arc<Office>;

#[cfg(test)]
mod tests {
    //! The availability engine's rules as a table: each case is an office,
    //! a question and the answer, checked through one helper.

    use super::*;
    use crate::store::{AppointmentId, AppointmentStatus, ClosureId, TimeOffId};
    use jiff::civil::date;

    const ZONE: &str = "Europe/Berlin";

    fn settings() -> Settings {
        Settings::from_stored(Some(ZONE), None, Some("15"))
    }

    fn at(day: Date, hh: i8, mm: i8) -> Timestamp {
        settings().instants(day.at(hh, mm, 0, 0))[0]
    }

    fn staff(id: i64, name: &str, hours: &str) -> StaffMember {
        StaffMember {
            id: StaffId(id),
            name: name.into(),
            user_id: None,
            hours: hours.into(),
            active: true,
        }
    }

    fn service(
        id: i64,
        minutes: u32,
        before: u32,
        after: u32,
        capacity: u32,
        staff: &[i64],
        resources: &[i64],
    ) -> Service {
        Service {
            id: ServiceId(id),
            name: format!("service {id}"),
            duration_minutes: minutes,
            buffer_before: before,
            buffer_after: after,
            price_cents: None,
            capacity,
            active: true,
            staff: staff.iter().map(|s| StaffId(*s)).collect(),
            resources: resources.iter().map(|r| ResourceId(*r)).collect(),
        }
    }

    fn appointment(
        id: i64,
        staff: i64,
        resource: Option<i64>,
        from: Timestamp,
        minutes: i64,
        services: &[i64],
    ) -> Appointment {
        Appointment {
            id: AppointmentId(id),
            uid: format!("{id}"),
            customer_id: None,
            customer_name: Some(format!("customer {id}")),
            staff_id: StaffId(staff),
            resource_id: resource.map(ResourceId),
            title: String::new(),
            starts_at: from.as_second(),
            ends_at: from.as_second() + minutes * 60,
            busy_from: from.as_second(),
            busy_until: from.as_second() + minutes * 60,
            status: AppointmentStatus::Booked,
            notes: String::new(),
            series_id: None,
            recurrence_id: None,
            detached: false,
            override_reason: None,
            sequence: 0,
            services: services.iter().map(|s| ServiceId(*s)).collect(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// Tuesday 5 January 2027, in Berlin.
    fn tuesday() -> Date {
        date(2027, 1, 5)
    }

    /// Ann (own hours 10–16) and Ben (opening hours 9–17); two rooms; a
    /// 60-minute treatment with 15 minutes of buffer after, in either room;
    /// a 30-minute check by Ben only, no room; a 60-minute class of 2.
    fn office(appointments: Vec<Appointment>, time_off: Vec<TimeOff>, closed: bool) -> Office {
        let own_hours = WeekHours::from_texts(&std::array::from_fn(|i| {
            if i < 5 {
                "10:00-16:00".to_string()
            } else {
                String::new()
            }
        }))
        .unwrap()
        .to_json();
        let closures = if closed {
            vec![(tuesday(), tuesday(), "Holiday".to_string())]
        } else {
            Vec::new()
        };
        Office::new(
            settings(),
            vec![staff(1, "Ann", &own_hours), staff(2, "Ben", "")],
            vec![
                Resource {
                    id: ResourceId(1),
                    name: "Room 1".into(),
                    kind: "room".into(),
                    active: true,
                },
                Resource {
                    id: ResourceId(2),
                    name: "Room 2".into(),
                    kind: "room".into(),
                    active: true,
                },
            ],
            vec![
                service(1, 60, 0, 15, 1, &[], &[1, 2]),
                service(2, 30, 0, 0, 1, &[2], &[]),
                service(3, 60, 0, 0, 2, &[1], &[]),
            ],
            closures,
            time_off,
            appointments,
        )
    }

    fn first_slots(
        office: &Office,
        services: &[i64],
        staff: Option<i64>,
        count: usize,
    ) -> Vec<String> {
        let plan = office
            .plan(&services.iter().map(|s| ServiceId(*s)).collect::<Vec<_>>())
            .unwrap();
        office
            .slots(&SlotQuery {
                plan,
                staff: staff.map(StaffId),
                first_day: tuesday(),
                last_day: tuesday(),
                windows: Vec::new(),
                not_before: Timestamp::UNIX_EPOCH,
                limit: count,
            })
            .iter()
            .map(|s| {
                format!(
                    "{} {}{}",
                    settings().local(s.starts_at).strftime("%H:%M"),
                    office.staff_member(s.staff).unwrap().name,
                    s.resource.map(|r| format!(" r{}", r.0)).unwrap_or_default()
                )
            })
            .collect()
    }

    fn check(office: &Office, services: &[i64], staff: Option<i64>, expected: &[&str]) {
        assert_eq!(
            first_slots(office, services, staff, expected.len()),
            expected
        );
    }

    #[test]
    fn slots_follow_hours_buffers_rooms_closures_time_off_and_capacity() {
        let day = tuesday();
        // Open day: Ben from 9:00, Ann from 10:00 (her own hours).
        check(
            &office(vec![], vec![], false),
            &[1],
            None,
            &["09:00 Ben r1", "09:15 Ben r1", "09:30 Ben r1"],
        );
        check(
            &office(vec![], vec![], false),
            &[1],
            Some(1),
            &["10:00 Ann r1", "10:15 Ann r1"],
        );
        // Ann's last 60-minute start is 15:00 (she stops at 16:00).
        let late = first_slots(&office(vec![], vec![], false), &[1], Some(1), 100);
        assert_eq!(late.last().unwrap(), "15:00 Ann r1");
        // Ben busy 9:00–10:00: the buffer of 15 after the treatment keeps
        // his next start at 10:00 (the other appointment has no buffer),
        // and a treatment at 8:00 would end inside it.
        let busy = office(
            vec![appointment(1, 2, None, at(day, 9, 0), 60, &[2])],
            vec![],
            false,
        );
        check(&busy, &[1], Some(2), &["10:00 Ben r1"]);
        // Room 1 taken 9:00–11:00 by Ann's appointment: Ben gets room 2.
        let room = office(
            vec![appointment(1, 1, Some(1), at(day, 9, 0), 120, &[1])],
            vec![],
            false,
        );
        check(&room, &[1], Some(2), &["09:00 Ben r2"]);
        // Both rooms taken: nothing until one frees (at 10:00 for room 2).
        let rooms = office(
            vec![
                appointment(1, 1, Some(1), at(day, 9, 0), 120, &[1]),
                appointment(2, 1, Some(2), at(day, 8, 0), 120, &[1]),
            ],
            vec![],
            false,
        );
        check(&rooms, &[1], Some(2), &["10:00 Ben r2"]);
        // The check needs no room and only Ben does it.
        check(&rooms, &[2], None, &["09:00 Ben"]);
        // A treatment and a check back to back: 60 + 15 buffer + 30, by
        // Ben (the only one who does both), in a room.
        let both = office(vec![], vec![], false);
        let plan = both.plan(&[ServiceId(1), ServiceId(2)]).unwrap();
        assert_eq!((plan.minutes, plan.staff.clone()), (105, vec![StaffId(2)]));
        let last = first_slots(&both, &[1, 2], None, 100);
        assert_eq!(last.last().unwrap(), "15:15 Ben r1", "ends at 17:00");
        // A closure: nothing at all.
        check(&office(vec![], vec![], true), &[1], None, &[]);
        // Ben off 9:00–12:00.
        let off = office(
            vec![],
            vec![TimeOff {
                id: TimeOffId(1),
                staff_id: StaffId(2),
                starts_at: at(day, 9, 0).as_second(),
                ends_at: at(day, 12, 0).as_second(),
                reason: "Dentist".into(),
            }],
            false,
        );
        check(&off, &[1], Some(2), &["12:00 Ben r1"]);
        // A class of two: one place taken at 10:00 is still offered (joins),
        // two taken is full.
        let one = office(
            vec![appointment(1, 1, None, at(day, 10, 0), 60, &[3])],
            vec![],
            false,
        );
        check(&one, &[3], None, &["10:00 Ann"]);
        let two = office(
            vec![
                appointment(1, 1, None, at(day, 10, 0), 60, &[3]),
                appointment(2, 1, None, at(day, 10, 0), 60, &[3]),
            ],
            vec![],
            false,
        );
        check(&two, &[3], None, &["11:00 Ann"]);
        let _ = ClosureId(0);
    }

    #[test]
    fn a_booking_gets_every_conflict_named() {
        let day = tuesday();
        let taken = office(
            vec![appointment(1, 2, Some(1), at(day, 9, 0), 60, &[1])],
            vec![],
            true,
        );
        let plan = taken.plan(&[ServiceId(1)]).unwrap();
        let candidate = Candidate {
            staff: StaffId(2),
            resource: Some(ResourceId(1)),
            starts_at: at(day, 9, 30),
            ends_at: at(day, 10, 30),
            plan: plan.clone(),
        };
        let codes: Vec<String> = taken
            .conflicts(&candidate)
            .iter()
            .map(|c| {
                serde_json::to_value(c).unwrap()["code"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(codes, ["closed", "staff_busy", "resource_taken"]);
        let early = Candidate {
            staff: StaffId(1),
            starts_at: at(day, 9, 0),
            ends_at: at(day, 10, 0),
            ..candidate
        };
        let open = office(vec![], vec![], false);
        let messages: Vec<String> = open
            .conflicts(&early)
            .iter()
            .map(Conflict::message)
            .collect();
        assert_eq!(
            messages,
            ["That is outside Ann's working hours (10:00–16:00)."]
        );
        assert!(open.plan(&[]).is_err());
        assert!(open.plan(&[ServiceId(9)]).is_err());
    }

    #[test]
    fn the_zone_decides_which_local_times_exist() {
        let s = settings();
        // Berlin skips 2:00–3:00 on 28 March 2027 and repeats it on 31 October.
        assert!(s.instants(date(2027, 3, 28).at(2, 30, 0, 0)).is_empty());
        assert_eq!(s.instants(date(2027, 10, 31).at(2, 30, 0, 0)).len(), 2);
        assert_eq!(s.instants(date(2027, 10, 31).at(3, 30, 0, 0)).len(), 1);
        assert_eq!(s.day_start(date(2027, 3, 28)).as_second(), 1_806_188_400);
    }
}
