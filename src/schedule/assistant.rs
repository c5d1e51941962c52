//! The scheduling assistant: a plain request becomes what was understood
//! (who, what, when, shown as a form the person can correct) and concrete
//! proposals from the availability engine. **Nothing is booked, moved or
//! cancelled until a person confirms a proposal with one click**; the
//! confirmation is audited with who confirmed, and the change goes through
//! the same rules as a booking made by hand (a time taken in the meantime
//! is refused, and the next options are offered).

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan, Zoned};
use serde::{Deserialize, Serialize};

use super::api::parse_day;
use super::book::{self, Booking, Change, Outcome, SlotSearch, Start};
use super::understand::{self, Action, Interpretation, Lists, Reader, Understood};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::calendar::{Interval, Settings};
use crate::error::{AppError, AppResult};
use crate::store::{
    Appointment, AppointmentFilter, AppointmentId, AppointmentStatus, CustomerId, ProposalAction,
    ProposalId, ProposalStatus, ResourceId, Role, ServiceId, StaffId, User,
};

/// How many options a request gets.
const OPTIONS: usize = 3;
/// How far ahead a request without dates looks.
const DEFAULT_DAYS: i64 = 14;

/// The change a proposal makes when confirmed, stored as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Payload {
    Book {
        services: Vec<ServiceId>,
        staff: StaffId,
        resource: Option<ResourceId>,
        customer: Option<CustomerId>,
        starts_at: i64,
    },
    Move {
        appointment: AppointmentId,
        staff: StaffId,
        resource: Option<ResourceId>,
        starts_at: i64,
    },
    Cancel {
        appointment: AppointmentId,
    },
}

/// What was understood, in the terms the form shows (and takes back).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Terms {
    /// book, move, cancel or find.
    pub action: String,
    pub customer: Option<CustomerId>,
    pub service: Option<ServiceId>,
    pub staff: Option<StaffId>,
    /// The days to look in (for a move: the new days), `YYYY-MM-DD`.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// Times of day a start may fall in, `HH:MM-HH:MM`, comma-separated.
    pub times: String,
    /// For a move or a cancellation: the day the appointment is on now.
    pub current_day: Option<String>,
    /// How it was understood: model, model_corrected, rules or form.
    pub reader: String,
    /// For a move or a cancellation, when the person chose which one.
    pub appointment: Option<AppointmentId>,
}

/// One way to answer a question: the terms to go on with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChoiceView {
    pub label: String,
    pub terms: Terms,
}

/// One option offered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Offer {
    pub proposal: ProposalId,
    /// "Book Maria Ortiz: Cleaning, Tue 8 Dec 14:00 with Dr Lee in Chair 1".
    pub label: String,
}

/// The assistant's answer to a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Answer {
    pub terms: Terms,
    /// Set when the request needs one more detail; no proposals then.
    pub question: Option<String>,
    pub choices: Vec<ChoiceView>,
    pub offers: Vec<Offer>,
    /// Said when there is nothing to offer (nothing free, no such
    /// appointment), or for "find": the free times found.
    pub message: Option<String>,
    /// For "find": free times (nothing to confirm).
    pub free: Vec<String>,
}

fn now_zoned(state: &AppState, settings: &Settings) -> Zoned {
    Timestamp::from_second(state.store.now())
        .unwrap_or_else(|_| Timestamp::now())
        .to_zoned(settings.zone.clone())
}

/// Reads a request with the model (if loaded) and answers it with
/// proposals or a question.
pub async fn ask(state: &AppState, user: &User, text: &str) -> AppResult<Answer> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::bad_request(
            "Type what you would like to schedule.",
        ));
    }
    let most = state.config.schedule.assistant_max_chars;
    if text.chars().count() > most {
        return Err(AppError::TooLarge(format!(
            "A request is limited to {most} characters."
        )));
    }
    let settings = Settings::load(&state.store).await?;
    let now = now_zoned(state, &settings);
    let customers = state.store.customers().await?;
    let services = state.store.services().await?;
    let staff = state.store.staff().await?;
    let lists = Lists {
        customers: &customers,
        services: &services,
        staff: &staff,
    };
    let engine = matches!(
        state.chat.engine.state(),
        crate::llm::EngineState::Ready { .. }
    )
    .then_some(&state.chat.engine);
    let interpretation = understand::understand(engine, text, &now, &lists).await;
    match interpretation {
        Interpretation::Question {
            question,
            choices,
            partial,
        } => {
            let terms = terms_of(&partial, &settings, &now);
            let choices = choices
                .into_iter()
                .map(|choice| ChoiceView {
                    label: choice.label,
                    terms: Terms {
                        customer: choice.customer.or(terms.customer),
                        service: choice.service.or(terms.service),
                        ..terms.clone()
                    },
                })
                .collect();
            Ok(Answer {
                terms,
                question: Some(question),
                choices,
                offers: Vec::new(),
                message: None,
                free: Vec::new(),
            })
        }
        Interpretation::Understood(understood) => {
            let terms = terms_of(&understood, &settings, &now);
            propose(state, user, text, terms).await
        }
    }
}

/// The terms of an interpretation: dates and times resolved, defaults
/// filled in (the next two weeks).
fn terms_of(understood: &Understood, settings: &Settings, now: &Zoned) -> Terms {
    let today = now.date();
    let target = understood.to.as_ref().unwrap_or(&understood.when);
    let mut times: Vec<Interval> = target.windows.clone();
    if let Some(at) = target.at {
        let minute = crate::calendar::hours::minute_of(at);
        if let Some(exact) = Interval::new(minute, minute + 1) {
            times = vec![exact];
        }
    }
    let (first, last) = match target.dates {
        Some(span) => (span.first.max(today), span.last.max(today)),
        None => (today, today.saturating_add(DEFAULT_DAYS.days())),
    };
    let current_day = match understood.action {
        Action::Move => understood.when.dates.map(|d| d.first.to_string()),
        Action::Cancel => understood.when.dates.map(|d| d.first.to_string()),
        _ => None,
    };
    let _ = settings;
    Terms {
        action: understood.action.word().into(),
        customer: understood.customer,
        service: understood.service,
        staff: understood.staff,
        first_day: Some(first.to_string()),
        last_day: Some(last.to_string()),
        times: times
            .iter()
            .map(|i| {
                format!(
                    "{}-{}",
                    crate::calendar::hours::clock(i.start),
                    crate::calendar::hours::clock(i.end)
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        current_day,
        reader: match understood.reader {
            Reader::Model => "model",
            Reader::ModelCorrected => "model_corrected",
            Reader::Rules => "rules",
        }
        .into(),
        appointment: None,
    }
}

/// Proposals for terms (understood from a request, or corrected in the
/// form). Each option is stored as an open proposal.
pub async fn propose(
    state: &AppState,
    user: &User,
    request: &str,
    terms: Terms,
) -> AppResult<Answer> {
    let action = Action::ALL
        .into_iter()
        .find(|a| a.word() == terms.action)
        .ok_or_else(|| AppError::bad_request("The action is book, move, cancel or find."))?;
    let settings = Settings::load(&state.store).await?;
    let windows = if terms.times.trim().is_empty() {
        Vec::new()
    } else {
        super::api::parse_windows(&terms.times)?
    };
    let first = parse_day(terms.first_day.as_deref(), "The first day")?;
    let last = parse_day(terms.last_day.as_deref(), "The last day")?;
    let mut answer = Answer {
        terms: terms.clone(),
        question: None,
        choices: Vec::new(),
        offers: Vec::new(),
        message: None,
        free: Vec::new(),
    };
    let names = super::api::Names::load(state).await?;
    match action {
        Action::Book | Action::Find => {
            let Some(service) = terms.service else {
                answer.question = Some("Which service?".into());
                return Ok(answer);
            };
            if action == Action::Book && terms.customer.is_none() {
                answer.question = Some("Who is the appointment for?".into());
                return Ok(answer);
            }
            let search = book::find_slots(
                state,
                SlotSearch {
                    services: vec![service],
                    staff: terms.staff,
                    first_day: first,
                    last_day: last,
                    windows,
                    limit: 60,
                },
            )
            .await;
            let Some((slots, office)) = found_or_said(search, &mut answer)? else {
                return Ok(answer);
            };
            // Options people can choose between: spread at least an hour
            // apart (12:00, 12:15 and 12:30 are one choice, not three).
            let slots = spread(slots, if action == Action::Find { 10 } else { OPTIONS });
            if slots.is_empty() {
                answer.message =
                    Some("Nothing is free then. Try more days or another time of day.".into());
                return Ok(answer);
            }
            if action == Action::Find {
                answer.free = slots
                    .iter()
                    .map(|s| {
                        let view = book::SlotView::of(&office, s);
                        format!("{} with {}", view.label, view.staff)
                    })
                    .collect();
                return Ok(answer);
            }
            let customer = match terms.customer {
                Some(id) => Some(state.store.customer(id).await?),
                None => None,
            };
            let service_name = office
                .service(service)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for slot in &slots {
                let payload = Payload::Book {
                    services: vec![service],
                    staff: slot.staff,
                    resource: slot.resource,
                    customer: terms.customer,
                    starts_at: slot.starts_at.as_second(),
                };
                let view = book::SlotView::of(&office, slot);
                let label = format!(
                    "Book {}: {service_name}, {} with {}{}",
                    customer.as_ref().map_or("—", |c| c.name.as_str()),
                    view.label,
                    view.staff,
                    view.resource
                        .map(|r| format!(" in {r}"))
                        .unwrap_or_default()
                );
                answer.offers.push(
                    store_offer(state, user, request, ProposalAction::Book, &payload, label)
                        .await?,
                );
            }
        }
        Action::Move | Action::Cancel => {
            let Some(customer) = terms.customer else {
                answer.question = Some(format!("Whose appointment should I {}?", action.word()));
                return Ok(answer);
            };
            let current = parse_day(terms.current_day.as_deref(), "The appointment's day")?;
            let mut candidates = appointments_of(state, &settings, customer, current).await?;
            if let Some(chosen) = terms.appointment {
                candidates.retain(|a| a.id == chosen);
            }
            let appointment = match candidates.as_slice() {
                [] => {
                    answer.message = Some(match current {
                        Some(day) => format!(
                            "There is no booked appointment for them on {}.",
                            day.strftime("%a %-d %b")
                        ),
                        None => "They have no booked appointment coming up.".into(),
                    });
                    return Ok(answer);
                }
                [one] => one.clone(),
                several => {
                    answer.question = Some("Which appointment?".into());
                    answer.choices = several
                        .iter()
                        .map(|a| ChoiceView {
                            label: names.describe(a),
                            terms: Terms {
                                appointment: Some(a.id),
                                ..terms.clone()
                            },
                        })
                        .collect();
                    return Ok(answer);
                }
            };
            if action == Action::Cancel {
                let label = format!("Cancel {}", names.describe(&appointment));
                let payload = Payload::Cancel {
                    appointment: appointment.id,
                };
                answer.offers.push(
                    store_offer(
                        state,
                        user,
                        request,
                        ProposalAction::Cancel,
                        &payload,
                        label,
                    )
                    .await?,
                );
                return Ok(answer);
            }
            let services = appointment.services.clone();
            let first = first.filter(|_| terms.first_day.is_some());
            let search = book::find_slots(
                state,
                SlotSearch {
                    services,
                    staff: terms.staff.or(Some(appointment.staff_id)),
                    first_day: first,
                    last_day: last,
                    windows,
                    limit: 60,
                },
            )
            .await;
            let Some((slots, office)) = found_or_said(search, &mut answer)? else {
                return Ok(answer);
            };
            let slots = spread(
                slots
                    .into_iter()
                    .filter(|s| s.starts_at.as_second() != appointment.starts_at)
                    .collect(),
                OPTIONS,
            );
            if slots.is_empty() {
                answer.message = Some(
                    "Nothing is free then to move it to. Try more days or another time of day."
                        .into(),
                );
                return Ok(answer);
            }
            for slot in &slots {
                let view = book::SlotView::of(&office, slot);
                let label = format!(
                    "Move {} to {} with {}",
                    names.describe(&appointment),
                    view.label,
                    view.staff
                );
                let payload = Payload::Move {
                    appointment: appointment.id,
                    staff: slot.staff,
                    resource: slot.resource,
                    starts_at: slot.starts_at.as_second(),
                };
                answer.offers.push(
                    store_offer(state, user, request, ProposalAction::Move, &payload, label)
                        .await?,
                );
            }
        }
    }
    Ok(answer)
}

/// The slots a search found, or `None` with the reason said in `answer`
/// when the search cannot be made ("Sam does not do Whitening" is an
/// answer, not an error).
fn found_or_said(
    search: AppResult<(Vec<crate::calendar::Slot>, crate::calendar::Office)>,
    answer: &mut Answer,
) -> AppResult<Option<(Vec<crate::calendar::Slot>, crate::calendar::Office)>> {
    match search {
        Ok(found) => Ok(Some(found)),
        Err(AppError::BadRequest(message)) => {
            answer.message = Some(message);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// At most `count` of `slots` (in time order), each starting at least an
/// hour after the one before.
fn spread(slots: Vec<crate::calendar::Slot>, count: usize) -> Vec<crate::calendar::Slot> {
    let mut chosen: Vec<crate::calendar::Slot> = Vec::new();
    for slot in slots {
        if chosen.len() == count {
            break;
        }
        let far_enough = chosen
            .last()
            .is_none_or(|last| slot.starts_at.as_second() - last.starts_at.as_second() >= 3600);
        if far_enough {
            chosen.push(slot);
        }
    }
    chosen
}

/// A customer's booked appointments from today on (on `day`, if given).
async fn appointments_of(
    state: &AppState,
    settings: &Settings,
    customer: CustomerId,
    day: Option<Date>,
) -> AppResult<Vec<Appointment>> {
    let now = state.store.now();
    let (from, until) = match day {
        Some(day) => (
            settings.day_start(day).as_second(),
            settings.day_start(day.saturating_add(1.day())).as_second(),
        ),
        None => (now, now + 366 * 86_400),
    };
    Ok(state
        .store
        .appointments_between(
            from,
            until,
            AppointmentFilter {
                customer: Some(customer),
                ..AppointmentFilter::default()
            },
        )
        .await?
        .into_iter()
        .filter(|a| a.status == AppointmentStatus::Booked && a.starts_at >= from.max(now - 86_400))
        .collect())
}

async fn store_offer(
    state: &AppState,
    user: &User,
    request: &str,
    action: ProposalAction,
    payload: &Payload,
    label: String,
) -> AppResult<Offer> {
    let stored = state
        .store
        .create_proposal(
            user.id,
            format!("{request}\n{label}"),
            action,
            serde_json::to_string(payload).map_err(anyhow::Error::from)?,
        )
        .await?;
    Ok(Offer {
        proposal: stored.id,
        label,
    })
}

/// What confirming did.
#[derive(Debug)]
pub enum Confirmed {
    Done {
        message: String,
        appointment: Box<Appointment>,
    },
    /// The time was taken (or the appointment changed) in the meantime.
    Refused { message: String },
}

/// Confirms a proposal: the one click that makes the change. Only the
/// person it was made for (or an owner or admin) may confirm it, once.
pub async fn confirm(
    state: &AppState,
    user: &User,
    ip: &str,
    id: ProposalId,
) -> AppResult<Confirmed> {
    let proposal = state.store.proposal(id).await?;
    if proposal.created_by != user.id && user.role < Role::Admin {
        return Err(AppError::NotFound);
    }
    if proposal.status != ProposalStatus::Open {
        return Err(AppError::Conflict(
            "This proposal was already decided.".into(),
        ));
    }
    let payload: Payload = serde_json::from_str(&proposal.payload)
        .map_err(|e| anyhow::anyhow!("a stored proposal is unreadable: {e}"))?;
    // Decide first, so a double click cannot make the change twice.
    state
        .store
        .decide_proposal(id, ProposalStatus::Confirmed, user.id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => AppError::Conflict(m),
            other => other.into(),
        })?;
    let at = |seconds: i64| Timestamp::from_second(seconds).map_err(anyhow::Error::from);
    let outcome = match &payload {
        Payload::Book {
            services,
            staff,
            resource,
            customer,
            starts_at,
        } => {
            book::book(
                state,
                user,
                ip,
                Booking {
                    services: services.clone(),
                    staff: Some(*staff),
                    resource: *resource,
                    customer: *customer,
                    start: Start::At(at(*starts_at)?),
                    notes: String::new(),
                    override_reason: None,
                    repeat: None,
                },
            )
            .await?
        }
        Payload::Move {
            appointment,
            staff,
            resource,
            starts_at,
        } => {
            book::change(
                state,
                user,
                ip,
                *appointment,
                Change {
                    staff: Some(*staff),
                    resource: Some(*resource),
                    start: Some(Start::At(at(*starts_at)?)),
                    ..Change::default()
                },
            )
            .await?
        }
        Payload::Cancel { appointment } => {
            let cancelled =
                book::set_status(state, user, ip, *appointment, AppointmentStatus::Cancelled)
                    .await?;
            Outcome::Done(vec![cancelled])
        }
    };
    let names = super::api::Names::load(state).await?;
    match outcome {
        Outcome::Done(appointments) => {
            let appointment = appointments
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("a confirmed proposal changed nothing"))?;
            audit::record(
                &state.store,
                Actor::User(user),
                ip,
                Event::ok("schedule.proposal_confirmed", Target::Proposal(id)).detail(format!(
                    "{} (appointment {}) proposed to {}, confirmed by {}",
                    proposal.action, appointment.id, proposal.created_by.0, user.username
                )),
            )
            .await?;
            Ok(Confirmed::Done {
                appointment: Box::new(appointment.clone()),
                message: match payload {
                    Payload::Book { .. } => {
                        format!("Booked: {}.", names.describe(&appointment))
                    }
                    Payload::Move { .. } => {
                        format!("Moved: {}.", names.describe(&appointment))
                    }
                    Payload::Cancel { .. } => {
                        format!("Cancelled: {}.", names.describe(&appointment))
                    }
                },
            })
        }
        Outcome::Refused(conflicts) => {
            audit::record(
                &state.store,
                Actor::User(user),
                ip,
                Event::failed("schedule.proposal_confirmed", Target::Proposal(id)).detail(
                    conflicts
                        .iter()
                        .map(|c| c.message())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            )
            .await?;
            Ok(Confirmed::Refused {
                message: format!(
                    "That time is no longer free: {} Ask again for new options.",
                    conflicts
                        .iter()
                        .map(|c| c.message())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            })
        }
    }
}

/// Dismisses a proposal (nothing changes).
pub async fn dismiss(state: &AppState, user: &User, id: ProposalId) -> AppResult<()> {
    let proposal = state.store.proposal(id).await?;
    if proposal.created_by != user.id && user.role < Role::Admin {
        return Err(AppError::NotFound);
    }
    state
        .store
        .decide_proposal(id, ProposalStatus::Dismissed, user.id)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => AppError::Conflict(m),
            other => other.into(),
        })?;
    Ok(())
}
