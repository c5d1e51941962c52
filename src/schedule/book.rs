//! The domain of appointments: book, change (move, reassign, edit), set a
//! status (cancel, done, no-show), and find free slots. The calendar page,
//! the JSON API and confirmed proposals all call these, so every path keeps
//! the same rules and leaves the same audit trail.
//!
//! A booking is checked twice: against a snapshot of the office (the rules:
//! hours, closures, time off, who can do what) and then, for overlaps,
//! inside the store's write transaction, where the resource is also chosen.
//! So two people booking the last free chair at the same moment cannot both
//! get it: the second one's transaction sees the first one's appointment.

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::calendar::office::SlotQuery;
use crate::calendar::recurrence::Rule;
use crate::calendar::{Candidate, Conflict, Interval, Office, Plan, Settings, Slot};
use crate::error::{AppError, AppResult};
use crate::store::{
    Appointment, AppointmentFields, AppointmentId, AppointmentStatus, AppointmentUpdate, Changes,
    CustomerId, NewAppointment, NewSeries, ResourceId, Role, ServiceId, StaffId, User,
};

/// When an appointment starts, as a person gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// A local date and time in the business's zone. `later` picks the
    /// second of the two instants of a time the clocks repeat.
    Local { local: DateTime, later: bool },
    /// An exact instant (the API with an offset, a slot that was offered).
    At(Timestamp),
}

/// What someone asks to book.
#[derive(Debug, Clone)]
pub struct Booking {
    pub services: Vec<ServiceId>,
    /// `None`: the first staff member free who can do it.
    pub staff: Option<StaffId>,
    /// `None`: any free resource the services can use.
    pub resource: Option<ResourceId>,
    pub customer: Option<CustomerId>,
    pub start: Start,
    pub notes: String,
    /// Book despite conflicts (owners and admins only), with the reason
    /// given; audited.
    pub override_reason: Option<String>,
    /// Repeat: the whole series is booked, or none of it.
    pub repeat: Option<Rule>,
}

/// A change to an appointment: the fields not given stay as they are.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub services: Option<Vec<ServiceId>>,
    pub staff: Option<StaffId>,
    pub resource: Option<Option<ResourceId>>,
    pub customer: Option<Option<CustomerId>>,
    pub start: Option<Start>,
    pub notes: Option<String>,
    pub override_reason: Option<String>,
    /// For an occurrence of a series: this one only, or it and every later
    /// one not changed on its own.
    pub scope: Scope,
}

/// Which occurrences of a series a change or a cancellation applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This appointment only (it is then "changed on its own").
    #[default]
    One,
    /// This one and every later one of its series not changed on its own.
    Following,
}

/// What became of a booking or a change.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done(Vec<Appointment>),
    /// Nothing was written; each conflict says why.
    Refused(Vec<Conflict>),
}

/// The longest a note may be.
const MAX_NOTES: usize = 4000;

fn resolve_start(settings: &Settings, start: Start) -> Result<Timestamp, Conflict> {
    match start {
        Start::At(at) => Ok(at),
        Start::Local { local, later } => {
            let instants = settings.instants(local);
            let pick = if later {
                instants.last()
            } else {
                instants.first()
            };
            pick.copied().ok_or_else(|| Conflict::NonexistentTime {
                local: local.strftime("%a %-d %b %H:%M").to_string(),
            })
        }
    }
}

/// Whether `user` may book despite conflicts.
fn may_override(user: &User) -> bool {
    user.role >= Role::Admin
}

fn check_override(user: &User, reason: &Option<String>) -> AppResult<Option<String>> {
    match reason.as_deref().map(str::trim) {
        None => Ok(None),
        Some(_) if !may_override(user) => Err(AppError::Forbidden),
        Some("") => Err(AppError::BadRequest(
            "Say why the conflict is overridden.".into(),
        )),
        Some(reason) => Ok(Some(crate::text::clean_name(reason))),
    }
}

fn clean_notes(notes: &str) -> AppResult<String> {
    if notes.chars().count() > MAX_NOTES {
        return Err(AppError::TooLarge(format!(
            "Notes are limited to {MAX_NOTES} characters."
        )));
    }
    Ok(notes.trim().to_string())
}

/// The office around the days an appointment of `services` starting at
/// `at` touches, and what the services need. One load serves nearly every
/// booking (it covers the day and its neighbours); an appointment that runs
/// into a later day loads those days too.
async fn office_and_plan(
    state: &AppState,
    settings: Settings,
    at: Timestamp,
    services: &[ServiceId],
) -> AppResult<(Office, Plan)> {
    let first = settings.local(at).date();
    let office = Office::load_with(&state.store, settings.clone(), first, first).await?;
    let plan = office.plan(services).map_err(AppError::BadRequest)?;
    let last = settings.local(at + (plan.minutes as i64).minutes()).date();
    if last == first {
        return Ok((office, plan));
    }
    let office = Office::load_with(&state.store, settings, first, last).await?;
    Ok((office, plan))
}

/// Books an appointment, or a recurring series of them (or refuses, saying
/// why). A series is booked whole or not at all: every occurrence is
/// checked, and a refusal names the dates that are not free.
pub async fn book(state: &AppState, user: &User, ip: &str, booking: Booking) -> AppResult<Outcome> {
    let override_reason = check_override(user, &booking.override_reason)?;
    let notes = clean_notes(&booking.notes)?;
    if let Some(customer) = booking.customer {
        state.store.customer(customer).await?;
    }
    let settings = Settings::load(&state.store).await?;
    let starts_at = match resolve_start(&settings, booking.start) {
        Ok(at) => at,
        Err(conflict) => return Ok(Outcome::Refused(vec![conflict])),
    };
    // Every start: one, or the series' occurrences (a weekly 9:00 stays
    // 9:00 local across the clock changes).
    let first_local = settings.local(starts_at);
    let starts: Vec<(Timestamp, Option<i64>)> = match &booking.repeat {
        None => vec![(starts_at, None)],
        Some(rule) => {
            let occurrences = rule
                .occurrences(
                    first_local,
                    &[],
                    &settings.zone,
                    state.config.schedule.max_series_occurrences,
                )
                .map_err(AppError::BadRequest)?;
            if occurrences.is_empty() {
                return Err(AppError::bad_request(
                    "That repeat rule gives no dates from this start; check the weekday and the end.",
                ));
            }
            occurrences
                .iter()
                .map(|o| (o.at, Some(o.at.as_second())))
                .collect()
        }
    };
    let series = booking.repeat.as_ref().map(|rule| NewSeries {
        rule: rule.to_string(),
        first_local: first_local.to_string(),
        time_zone: settings.zone_name.clone(),
        exdates: String::new(),
    });
    let first = starts[0].0;
    let last = starts[starts.len() - 1].0;
    let (office, plan) = office_and_plan(state, settings.clone(), first, &booking.services).await?;
    let office = if last > first {
        let last_day = settings
            .local(last + (plan.minutes as i64).minutes())
            .date();
        Office::load_with(&state.store, settings.clone(), first_local.date(), last_day).await?
    } else {
        office
    };
    let candidate_at = |staff, at: Timestamp| Candidate {
        staff,
        resource: booking.resource,
        starts_at: at,
        ends_at: at + (plan.minutes as i64).minutes(),
        plan: plan.clone(),
    };
    let staff =
        match booking.staff {
            Some(staff) => staff,
            None => pick_staff(&office, &plan, &|staff| candidate_at(staff, first)).ok_or_else(
                || AppError::BadRequest("No active staff member can do these services.".into()),
            )?,
        };
    let candidates: Vec<(Candidate, Option<i64>)> = starts
        .iter()
        .map(|(at, recurrence)| (candidate_at(staff, *at), *recurrence))
        .collect();
    let dated = |candidate: &Candidate, conflicts: Vec<Conflict>| -> Vec<Conflict> {
        match series {
            Some(_) => on_day(&settings, candidate.starts_at, conflicts),
            None => conflicts,
        }
    };
    let mut rules = Vec::new();
    for (candidate, _) in &candidates {
        rules.extend(dated(candidate, office.rule_conflicts(candidate)));
    }
    if !rules.is_empty() && (override_reason.is_none() || rules.iter().any(|c| !c.can_override())) {
        return Ok(Outcome::Refused(rules));
    }
    let by = user.id;
    let customer = booking.customer;
    let override_kept = override_reason.clone();
    let span = held_span(candidates.iter().map(|(c, _)| c));
    let uids: Vec<String> = candidates
        .iter()
        .map(|_| format!("{}@hearth", random_hex()))
        .collect();
    let series_given = series.is_some();
    let written = state
        .store
        .write_appointments(span, Vec::new(), series, move |held| {
            let mut creates = Vec::new();
            let mut refused = Vec::new();
            for ((candidate, recurrence), uid) in candidates.iter().zip(&uids) {
                let candidate = match settle(&office, candidate, held, override_kept.is_some()) {
                    Ok(candidate) => candidate,
                    Err(conflicts) => {
                        refused.extend(if series_given {
                            on_day(&office.settings, candidate.starts_at, conflicts)
                        } else {
                            conflicts
                        });
                        continue;
                    }
                };
                creates.push(NewAppointment {
                    uid: uid.clone(),
                    fields: fields_of(&candidate, customer, &notes, &override_kept),
                    series_id: None,
                    recurrence_id: *recurrence,
                    created_by: Some(by),
                });
            }
            if !refused.is_empty() {
                return Err(refused);
            }
            Ok(Changes {
                creates,
                updates: Vec::new(),
            })
        })
        .await?;
    let written = match written {
        Ok(written) => written,
        Err(conflicts) => return Ok(Outcome::Refused(conflicts)),
    };
    if written.appointments.len() > 1 {
        let first = &written.appointments[0];
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.booked", Target::Appointment(first.id)).detail(format!(
                "a series of {}, from {} (series {})",
                written.appointments.len(),
                describe(&settings, first),
                written.series.map(|s| s.0).unwrap_or_default()
            )),
        )
        .await?;
    } else {
        for appointment in &written.appointments {
            let detail = describe(&settings, appointment);
            audit::record(
                &state.store,
                Actor::User(user),
                ip,
                Event::ok("schedule.booked", Target::Appointment(appointment.id)).detail(detail),
            )
            .await?;
        }
    }
    if let Some(appointment) = written.appointments.first()
        && let Some(reason) = &appointment.override_reason
    {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.override", Target::Appointment(appointment.id))
                .detail(format!("conflicts overridden: {reason}")),
        )
        .await?;
    }
    Ok(Outcome::Done(written.appointments))
}

/// Decides one appointment-to-be inside the write transaction, given the
/// appointments that hold time around it (`held`): the first free resource
/// its services can use, if it needs one, and no collision; or every reason
/// it cannot be (who is busy first, then that no resource is free). With
/// `overriding`, collisions are booked anyway, on the first resource.
fn settle(
    office: &Office,
    candidate: &Candidate,
    held: &[Appointment],
    overriding: bool,
) -> Result<Candidate, Vec<Conflict>> {
    let mut candidate = candidate.clone();
    if candidate.resource.is_none() {
        match office.free_resource(&candidate, held) {
            Some(resource) => candidate.resource = resource,
            None if overriding => candidate.resource = candidate.plan.resources.first().copied(),
            None => {
                let mut conflicts = office.overlap_conflicts(
                    &Candidate {
                        resource: None,
                        ..candidate.clone()
                    },
                    held,
                );
                conflicts.push(Conflict::NoResourceFree {
                    resources: resource_names(office, &candidate.plan),
                });
                return Err(conflicts);
            }
        }
    }
    let conflicts = office.overlap_conflicts(&candidate, held);
    if !conflicts.is_empty() && !overriding {
        return Err(conflicts);
    }
    Ok(candidate)
}

/// The time a set of appointments-to-be holds, `[from, until)` in Unix
/// seconds: what the write transaction reads around.
fn held_span<'a>(candidates: impl Iterator<Item = &'a Candidate> + Clone) -> (i64, i64) {
    (
        candidates
            .clone()
            .map(|c| c.busy_from().as_second())
            .min()
            .unwrap_or(0),
        candidates
            .map(|c| c.busy_until().as_second())
            .max()
            .unwrap_or(0),
    )
}

/// Conflicts of one occurrence of a series, each naming its day.
fn on_day(settings: &Settings, at: Timestamp, conflicts: Vec<Conflict>) -> Vec<Conflict> {
    let day = settings.describe(at);
    conflicts
        .into_iter()
        .map(|c| Conflict::Occurrence {
            day: day.clone(),
            reason: c.message(),
            can_override: c.can_override(),
        })
        .collect()
}

/// The first staff member (in the office's order) for whom the time keeps
/// every rule and is free in the snapshot; else the first who can do it at
/// all, so the refusal names a real person's conflicts.
fn pick_staff(
    office: &Office,
    plan: &Plan,
    candidate: &dyn Fn(StaffId) -> Candidate,
) -> Option<StaffId> {
    plan.staff
        .iter()
        .copied()
        .find(|staff| {
            let mut trial = candidate(*staff);
            if trial.resource.is_none() {
                trial.resource = trial.plan.resources.first().copied();
            }
            office.conflicts(&trial).iter().all(|c| {
                // Any free resource will do; the transaction picks it.
                matches!(c, Conflict::ResourceTaken { .. })
            })
        })
        .or_else(|| plan.staff.first().copied())
}

fn resource_names(office: &Office, plan: &Plan) -> String {
    plan.resources
        .iter()
        .filter_map(|r| office.resource(*r).map(|r| r.name.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fields_of(
    candidate: &Candidate,
    customer: Option<CustomerId>,
    notes: &str,
    override_reason: &Option<String>,
) -> AppointmentFields {
    AppointmentFields {
        customer_id: customer,
        staff_id: candidate.staff,
        resource_id: candidate.resource,
        title: candidate.plan.title.clone(),
        starts_at: candidate.starts_at.as_second(),
        ends_at: candidate.ends_at.as_second(),
        busy_from: candidate.busy_from().as_second(),
        busy_until: candidate.busy_until().as_second(),
        notes: notes.to_string(),
        services: candidate.plan.services.clone(),
        override_reason: override_reason.clone(),
    }
}

/// Changes an appointment (moves it, gives it to someone else, edits it).
/// Only booked appointments change; the rules are checked as for a booking.
pub async fn change(
    state: &AppState,
    user: &User,
    ip: &str,
    id: AppointmentId,
    change: Change,
) -> AppResult<Outcome> {
    let before = state.store.appointment(id).await?;
    if before.status != AppointmentStatus::Booked {
        return Err(AppError::Conflict(format!(
            "This appointment is {}; only booked appointments can be changed.",
            status_words(before.status)
        )));
    }
    let override_reason = check_override(user, &change.override_reason)?;
    if change.scope == Scope::Following && before.series_id.is_some() {
        return change_following(state, user, ip, before, change, override_reason).await;
    }
    let notes = match &change.notes {
        Some(notes) => clean_notes(notes)?,
        None => before.notes.clone(),
    };
    let customer = change.customer.unwrap_or(before.customer_id);
    if let Some(customer) = customer {
        state.store.customer(customer).await?;
    }
    let settings = Settings::load(&state.store).await?;
    let starts_at = match change.start {
        Some(start) => match resolve_start(&settings, start) {
            Ok(at) => at,
            Err(conflict) => return Ok(Outcome::Refused(vec![conflict])),
        },
        None => Timestamp::from_second(before.starts_at).map_err(anyhow::Error::from)?,
    };
    let services = change.services.unwrap_or_else(|| before.services.clone());
    let (office, plan) = office_and_plan(state, settings.clone(), starts_at, &services).await?;
    let staff = change.staff.unwrap_or(before.staff_id);
    let resource = match change.resource {
        Some(resource) => resource,
        // Keep the resource if the services can still use it.
        None => before
            .resource_id
            .filter(|r| plan.resources.contains(r))
            .or(None),
    };
    let candidate = Candidate {
        staff,
        resource,
        starts_at,
        ends_at: starts_at + (plan.minutes as i64).minutes(),
        plan,
    };
    let rules = office.rule_conflicts(&candidate);
    if !rules.is_empty() && (override_reason.is_none() || rules.iter().any(|c| !c.can_override())) {
        return Ok(Outcome::Refused(rules));
    }
    let override_kept = override_reason.clone().or(before.override_reason.clone());
    let overriding = override_reason.is_some();
    let detach = before.series_id.is_some();
    let written = state
        .store
        .write_appointments(
            (
                candidate.busy_from().as_second(),
                candidate.busy_until().as_second(),
            ),
            vec![id],
            None,
            move |held| {
                let candidate = settle(&office, &candidate, held, overriding)?;
                Ok(Changes {
                    creates: Vec::new(),
                    updates: vec![AppointmentUpdate {
                        id,
                        fields: fields_of(&candidate, customer, &notes, &override_kept),
                        detach,
                    }],
                })
            },
        )
        .await?;
    let written = match written {
        Ok(written) => written,
        Err(conflicts) => return Ok(Outcome::Refused(conflicts)),
    };
    for appointment in &written.appointments {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.changed", Target::Appointment(appointment.id)).detail(format!(
                "{} → {}",
                describe(&settings, &before),
                describe(&settings, appointment)
            )),
        )
        .await?;
        if overriding {
            audit::record(
                &state.store,
                Actor::User(user),
                ip,
                Event::ok("schedule.override", Target::Appointment(appointment.id)).detail(
                    format!(
                        "conflicts overridden: {}",
                        appointment.override_reason.clone().unwrap_or_default()
                    ),
                ),
            )
            .await?;
        }
    }
    Ok(Outcome::Done(written.appointments))
}

/// The occurrences of `before`'s series from it on that a "this and
/// following" change applies to: booked, and not changed on their own
/// (`before` itself always).
async fn following(state: &AppState, before: &Appointment) -> AppResult<Vec<Appointment>> {
    let Some(series) = before.series_id else {
        return Ok(vec![before.clone()]);
    };
    Ok(state
        .store
        .appointments_of_series(series)
        .await?
        .into_iter()
        .filter(|a| {
            a.id == before.id
                || (a.starts_at > before.starts_at
                    && a.status == AppointmentStatus::Booked
                    && !a.detached)
        })
        .collect())
}

/// Changes an occurrence and the later ones of its series together: the
/// same shift of days and the same new time of day (a weekly Tuesday 9:00
/// moved to Wednesday 10:00 moves every later Tuesday), the same staff,
/// resource, services and notes. All of them or none.
async fn change_following(
    state: &AppState,
    user: &User,
    ip: &str,
    before: Appointment,
    change: Change,
    override_reason: Option<String>,
) -> AppResult<Outcome> {
    let settings = Settings::load(&state.store).await?;
    let targets = following(state, &before).await?;
    let old_start = Timestamp::from_second(before.starts_at).map_err(anyhow::Error::from)?;
    let new_start = match change.start {
        Some(start) => match resolve_start(&settings, start) {
            Ok(at) => at,
            Err(conflict) => return Ok(Outcome::Refused(vec![conflict])),
        },
        None => old_start,
    };
    let (old_local, new_local) = (settings.local(old_start), settings.local(new_start));
    let shift = (new_local.date() - old_local.date()).get_days() as i64;
    let services = change
        .services
        .clone()
        .unwrap_or_else(|| before.services.clone());
    let notes = match &change.notes {
        Some(notes) => Some(clean_notes(notes)?),
        None => None,
    };
    let last = targets
        .iter()
        .map(|a| a.ends_at)
        .max()
        .unwrap_or(before.ends_at);
    let last_day = settings
        .local(Timestamp::from_second(last).map_err(anyhow::Error::from)?)
        .date()
        .saturating_add(shift.max(0).days());
    let first_day = new_local.date().min(old_local.date());
    let office = Office::load_with(&state.store, settings.clone(), first_day, last_day).await?;
    let plan = office.plan(&services).map_err(AppError::BadRequest)?;
    let mut planned = Vec::new();
    let mut refused = Vec::new();
    for target in &targets {
        let local =
            settings.local(Timestamp::from_second(target.starts_at).map_err(anyhow::Error::from)?);
        let date = local.date().saturating_add(shift.days());
        let wanted = date.to_datetime(new_local.time());
        let Some(at) = settings.instants(wanted).first().copied() else {
            refused.push(Conflict::NonexistentTime {
                local: wanted.strftime("%a %-d %b %H:%M").to_string(),
            });
            continue;
        };
        let candidate = Candidate {
            staff: change.staff.unwrap_or(target.staff_id),
            resource: match change.resource {
                Some(resource) => resource,
                None => target.resource_id.filter(|r| plan.resources.contains(r)),
            },
            starts_at: at,
            ends_at: at + (plan.minutes as i64).minutes(),
            plan: plan.clone(),
        };
        refused.extend(on_day(&settings, at, office.rule_conflicts(&candidate)));
        planned.push((target.clone(), candidate));
    }
    if !refused.is_empty()
        && (override_reason.is_none() || refused.iter().any(|c| !c.can_override()))
    {
        return Ok(Outcome::Refused(refused));
    }
    let span = held_span(planned.iter().map(|(_, c)| c));
    let exclude: Vec<AppointmentId> = planned.iter().map(|(a, _)| a.id).collect();
    let overriding = override_reason.is_some();
    let customer = change.customer;
    let written = state
        .store
        .write_appointments(span, exclude, None, move |held| {
            let mut updates = Vec::new();
            let mut refused = Vec::new();
            for (target, candidate) in &planned {
                let candidate = match settle(&office, candidate, held, overriding) {
                    Ok(candidate) => candidate,
                    Err(conflicts) => {
                        refused.extend(on_day(&office.settings, candidate.starts_at, conflicts));
                        continue;
                    }
                };
                updates.push(AppointmentUpdate {
                    id: target.id,
                    fields: fields_of(
                        &candidate,
                        customer.unwrap_or(target.customer_id),
                        notes.as_deref().unwrap_or(&target.notes),
                        &override_reason.clone().or(target.override_reason.clone()),
                    ),
                    detach: false,
                });
            }
            if refused.is_empty() {
                Ok(Changes {
                    creates: Vec::new(),
                    updates,
                })
            } else {
                Err(refused)
            }
        })
        .await?;
    let written = match written {
        Ok(written) => written,
        Err(conflicts) => return Ok(Outcome::Refused(conflicts)),
    };
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.changed", Target::Appointment(before.id)).detail(format!(
            "{} and the {} later occurrences of its series → {}",
            describe(&settings, &before),
            written.appointments.len().saturating_sub(1),
            written
                .appointments
                .first()
                .map(|a| describe(&settings, a))
                .unwrap_or_default()
        )),
    )
    .await?;
    Ok(Outcome::Done(written.appointments))
}

/// Cancels an occurrence and the later ones of its series.
pub async fn cancel_following(
    state: &AppState,
    user: &User,
    ip: &str,
    id: AppointmentId,
) -> AppResult<Vec<Appointment>> {
    let before = state.store.appointment(id).await?;
    let mut cancelled = Vec::new();
    for target in following(state, &before).await? {
        let (_, after) = state
            .store
            .set_appointment_status(target.id, AppointmentStatus::Cancelled)
            .await?;
        cancelled.push(after);
    }
    let settings = Settings::load(&state.store).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.cancelled", Target::Appointment(id)).detail(format!(
            "{} and the {} later occurrences of its series",
            describe(&settings, &before),
            cancelled.len().saturating_sub(1)
        )),
    )
    .await?;
    Ok(cancelled)
}

/// Cancels an appointment or marks it done or a no-show.
pub async fn set_status(
    state: &AppState,
    user: &User,
    ip: &str,
    id: AppointmentId,
    status: AppointmentStatus,
) -> AppResult<Appointment> {
    if status == AppointmentStatus::Booked {
        return Err(AppError::BadRequest(
            "An appointment cannot be booked again; book a new one.".into(),
        ));
    }
    let (before, after) = state.store.set_appointment_status(id, status).await?;
    let settings = Settings::load(&state.store).await?;
    let action = match status {
        AppointmentStatus::Cancelled => "schedule.cancelled",
        AppointmentStatus::Done => "schedule.done",
        AppointmentStatus::NoShow => "schedule.no_show",
        AppointmentStatus::Booked => "schedule.booked",
    };
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok(action, Target::Appointment(id)).detail(format!(
            "{} ({} → {})",
            describe(&settings, &after),
            before.status,
            after.status
        )),
    )
    .await?;
    Ok(after)
}

/// What to search free slots for.
#[derive(Debug, Clone)]
pub struct SlotSearch {
    pub services: Vec<ServiceId>,
    pub staff: Option<StaffId>,
    pub first_day: Option<Date>,
    pub last_day: Option<Date>,
    /// Times of day a start must fall in; empty: any.
    pub windows: Vec<Interval>,
    pub limit: usize,
}

/// The most slots one search returns.
pub const MAX_SLOTS: usize = 200;

/// The next free slots (from now), with the snapshot that found them for
/// naming staff and resources.
pub async fn find_slots(state: &AppState, search: SlotSearch) -> AppResult<(Vec<Slot>, Office)> {
    let settings = Settings::load(&state.store).await?;
    let now = Timestamp::from_second(state.store.now()).unwrap_or_else(|_| Timestamp::now());
    let today = settings.local(now).date();
    let first = search.first_day.unwrap_or(today).max(today);
    let last = search
        .last_day
        .unwrap_or_else(|| first.saturating_add(13.days()));
    if last < first {
        return Err(AppError::BadRequest(
            "The range ends before it starts.".into(),
        ));
    }
    let most = state.config.schedule.max_search_days;
    if (last - first).get_days() as i64 > most {
        return Err(AppError::BadRequest(format!(
            "Search at most {most} days at a time."
        )));
    }
    // The range is searched a week at a time, so the common question ("the
    // next free slots") loads only the days it needs.
    let limit = search.limit.clamp(1, MAX_SLOTS);
    let mut found = Vec::new();
    let mut chunk_first = first;
    loop {
        let chunk_last = chunk_first.saturating_add(6.days()).min(last);
        let office =
            Office::load_with(&state.store, settings.clone(), chunk_first, chunk_last).await?;
        let plan = office
            .plan(&search.services)
            .map_err(AppError::BadRequest)?;
        if let Some(staff) = search.staff
            && !plan.staff.contains(&staff)
        {
            let name = office
                .staff_member(staff)
                .map_or_else(|| "That person".to_string(), |s| s.name.clone());
            return Err(AppError::BadRequest(format!(
                "{name} does not do {}.",
                plan.title
            )));
        }
        found.extend(office.slots(&SlotQuery {
            plan,
            staff: search.staff,
            first_day: chunk_first,
            last_day: chunk_last,
            windows: search.windows.clone(),
            not_before: now,
            limit: limit - found.len(),
        }));
        if found.len() >= limit || chunk_last >= last {
            return Ok((found, office));
        }
        chunk_first = chunk_last.saturating_add(1.day());
    }
}

/// "Tue 1 Dec 14:00–14:45 Cleaning for Ortiz with staff #2" for the log.
pub fn describe(settings: &Settings, appointment: &Appointment) -> String {
    let start = Timestamp::from_second(appointment.starts_at).unwrap_or_default();
    let end = Timestamp::from_second(appointment.ends_at).unwrap_or_default();
    let who = appointment
        .customer_name
        .as_deref()
        .map(|name| format!(" for {name}"))
        .unwrap_or_default();
    format!(
        "{}–{} {}{who} (staff {}{})",
        settings.describe(start),
        settings.local(end).strftime("%H:%M"),
        appointment.title,
        appointment.staff_id,
        appointment
            .resource_id
            .map(|r| format!(", resource {r}"))
            .unwrap_or_default()
    )
}

pub fn status_words(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Booked => "booked",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::Done => "done",
        AppointmentStatus::NoShow => "a no-show",
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source works");
    hex::encode(bytes)
}

/// A slot as the API and pages show it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotView {
    /// RFC 3339 with the business's offset.
    pub starts_at: String,
    pub ends_at: String,
    /// "Tue 1 Dec 14:00".
    pub label: String,
    pub staff_id: StaffId,
    pub staff: String,
    pub resource_id: Option<ResourceId>,
    pub resource: Option<String>,
    pub joins_group: bool,
}

impl SlotView {
    pub fn of(office: &Office, slot: &Slot) -> SlotView {
        let zone = office.settings.zone.clone();
        SlotView {
            starts_at: slot
                .starts_at
                .to_zoned(zone.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            ends_at: slot
                .ends_at
                .to_zoned(zone)
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            label: office.settings.describe(slot.starts_at),
            staff_id: slot.staff,
            staff: office
                .staff_member(slot.staff)
                .map(|s| s.name.clone())
                .unwrap_or_default(),
            resource_id: slot.resource,
            resource: slot
                .resource
                .and_then(|r| office.resource(r).map(|r| r.name.clone())),
            joins_group: slot.joins_group,
        }
    }
}

/// A repeat as people choose it (the form, the API).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RepeatChoice {
    /// `day`, `week`, `month_by_weekday` (e.g. the 2nd Tuesday, from the
    /// first date) or `month_by_day` (the same date each month).
    #[serde(default)]
    pub every: String,
    /// Every how many days, weeks or months (default 1).
    pub interval: Option<u16>,
    /// This many times in all…
    pub count: Option<u32>,
    /// …or until this day (`YYYY-MM-DD`, included).
    pub until: Option<String>,
    /// Or an iCalendar RRULE (`FREQ=WEEKLY;BYDAY=TU;COUNT=10`).
    pub rrule: Option<String>,
}

impl RepeatChoice {
    /// The rule for a series whose first start is `first` (local).
    pub fn rule(&self, first: DateTime) -> AppResult<Option<Rule>> {
        use crate::calendar::recurrence::{End, Repeat};
        if let Some(text) = self.rrule.as_deref().filter(|t| !t.trim().is_empty()) {
            return Rule::parse(text.trim())
                .map(Some)
                .map_err(AppError::BadRequest);
        }
        let interval = self.interval.unwrap_or(1).max(1);
        let weekday = first.date().weekday();
        let repeat = match self.every.trim() {
            "" | "none" => return Ok(None),
            "day" => Repeat::Daily { interval },
            "week" => Repeat::Weekly {
                interval,
                weekdays: vec![weekday],
            },
            "2weeks" => Repeat::Weekly {
                interval: 2,
                weekdays: vec![weekday],
            },
            "month_by_weekday" => {
                let nth = (first.date().day() - 1) / 7 + 1;
                Repeat::MonthlyByWeekday {
                    // A fifth weekday is the month's last one.
                    nth: if nth >= 5 { -1 } else { nth },
                    weekday,
                }
            }
            "month_by_day" => Repeat::MonthlyByDay(first.date().day()),
            other => {
                return Err(AppError::bad_request(format!(
                    "“{other}” is not a repeat: use day, week, 2weeks, month_by_weekday or month_by_day"
                )));
            }
        };
        let until = self
            .until
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let end = match (self.count, until) {
            (Some(count), _) if count > 0 => End::Count(count),
            (_, Some(until)) => End::Until(until.parse().map_err(|_| {
                AppError::bad_request("The repeat ends on a date like 2027-06-30.")
            })?),
            _ => {
                return Err(AppError::bad_request(
                    "Say when the repeat ends: a number of times or a last date.",
                ));
            }
        };
        Rule::new(&repeat, end)
            .map(Some)
            .map_err(AppError::BadRequest)
    }
}
