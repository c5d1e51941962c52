//! Appointments, recurring series, calendar subscriptions and the
//! assistant's proposals.
//!
//! Booking is atomic: [`Store::write_appointments`] reads what already holds
//! the time and writes the new appointments in one IMMEDIATE transaction on
//! the one writer connection, and the caller's rules (the calendar engine)
//! decide in between. Of many people booking one slot at the same moment,
//! exactly one finds it free; the others see the winner's appointment and
//! get the caller's refusal. The store knows nothing of the rules.

use std::collections::HashSet;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::customers::CustomerId;
use super::kinds::{AppointmentStatus, FeedScope, ProposalAction, ProposalStatus};
use super::schedule::{ResourceId, ServiceId, StaffId, id_type};
use super::users::UserId;
use super::{Store, StoreError, StoreResult};

id_type!(AppointmentId, SeriesId, FeedId, ProposalId);

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Appointment {
    pub id: AppointmentId,
    /// Its identity in calendar files (UID), stable across changes.
    pub uid: String,
    pub customer_id: Option<CustomerId>,
    /// The customer's name, for lists.
    pub customer_name: Option<String>,
    pub staff_id: StaffId,
    pub resource_id: Option<ResourceId>,
    pub title: String,
    /// Unix seconds (UTC).
    pub starts_at: i64,
    pub ends_at: i64,
    /// The time held, buffers included.
    pub busy_from: i64,
    pub busy_until: i64,
    pub status: AppointmentStatus,
    pub notes: String,
    pub series_id: Option<SeriesId>,
    /// The occurrence's original start in its series.
    pub recurrence_id: Option<i64>,
    /// Changed on its own, apart from its series.
    pub detached: bool,
    /// Why conflicts were overridden (by an owner or admin), if they were.
    pub override_reason: Option<String>,
    /// Bumped at every change (iCalendar SEQUENCE).
    pub sequence: i64,
    pub services: Vec<ServiceId>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Appointment {
    /// Whether it holds its staff member's and resource's time.
    pub fn holds_time(&self) -> bool {
        self.status != AppointmentStatus::Cancelled
    }
}

/// The fields of an appointment that a booking or a change sets.
#[derive(Debug, Clone, Default)]
pub struct AppointmentFields {
    pub customer_id: Option<CustomerId>,
    pub staff_id: StaffId,
    pub resource_id: Option<ResourceId>,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub busy_from: i64,
    pub busy_until: i64,
    pub notes: String,
    pub services: Vec<ServiceId>,
    pub override_reason: Option<String>,
}

/// A new appointment.
#[derive(Debug, Clone, Default)]
pub struct NewAppointment {
    pub uid: String,
    pub fields: AppointmentFields,
    /// The series it belongs to; `None` with a new series in the same write
    /// means that one.
    pub series_id: Option<SeriesId>,
    pub recurrence_id: Option<i64>,
    pub created_by: Option<UserId>,
}

/// A change to an existing appointment.
#[derive(Debug, Clone)]
pub struct AppointmentUpdate {
    pub id: AppointmentId,
    pub fields: AppointmentFields,
    /// Marks it as changed apart from its series.
    pub detach: bool,
}

/// A recurring series created together with its occurrences.
#[derive(Debug, Clone)]
pub struct NewSeries {
    pub rule: String,
    pub first_local: String,
    pub time_zone: String,
    pub exdates: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Series {
    pub id: SeriesId,
    pub rule: String,
    pub first_local: String,
    pub time_zone: String,
    pub exdates: String,
}

/// Which appointments a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppointmentFilter {
    pub staff: Option<StaffId>,
    pub resource: Option<ResourceId>,
    pub customer: Option<CustomerId>,
    pub include_cancelled: bool,
}

/// What to write: new appointments and changes to existing ones.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub creates: Vec<NewAppointment>,
    pub updates: Vec<AppointmentUpdate>,
}

/// What a write did: the appointments as stored now, and the ones it
/// changed as they were before (for the audit log).
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub appointments: Vec<Appointment>,
    pub before: Vec<Appointment>,
    pub series: Option<SeriesId>,
}

const COLUMNS: &str = "a.id, a.uid, a.customer_id, c.name, a.staff_id, a.resource_id, a.title, \
     a.starts_at, a.ends_at, a.busy_from, a.busy_until, a.status, a.notes, a.series_id, \
     a.recurrence_id, a.detached, a.override_reason, a.sequence, a.created_by, a.created_at, \
     a.updated_at, (SELECT group_concat(s.service_id, ',' ORDER BY s.position) \
     FROM appointment_services s WHERE s.appointment_id = a.id)";
const FROM: &str = "appointments a LEFT JOIN customers c ON c.id = a.customer_id";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Appointment> {
    Ok(Appointment {
        id: AppointmentId(r.get(0)?),
        uid: r.get(1)?,
        customer_id: r.get::<_, Option<i64>>(2)?.map(CustomerId),
        customer_name: r.get(3)?,
        staff_id: StaffId(r.get(4)?),
        resource_id: r.get::<_, Option<i64>>(5)?.map(ResourceId),
        title: r.get(6)?,
        starts_at: r.get(7)?,
        ends_at: r.get(8)?,
        busy_from: r.get(9)?,
        busy_until: r.get(10)?,
        status: r.get(11)?,
        notes: r.get(12)?,
        series_id: r.get::<_, Option<i64>>(13)?.map(SeriesId),
        recurrence_id: r.get(14)?,
        detached: r.get(15)?,
        override_reason: r.get(16)?,
        sequence: r.get(17)?,
        services: r
            .get::<_, Option<String>>(21)?
            .unwrap_or_default()
            .split(',')
            .filter_map(|id| id.parse().ok().map(ServiceId))
            .collect(),
        created_by: r.get::<_, Option<i64>>(18)?.map(UserId),
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
    })
}

/// Runs a SELECT of appointments, their services included.
fn query(
    c: &rusqlite::Connection,
    filter_sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Appointment>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} {filter_sql}"))?;
    stmt.query_map(args, from_row)?.collect()
}

fn one(c: &rusqlite::Connection, id: AppointmentId) -> StoreResult<Appointment> {
    query(c, "WHERE a.id = ?1", &[&id.0])?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn write_services(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    services: &[ServiceId],
) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM appointment_services WHERE appointment_id = ?1",
        [id],
    )?;
    for (position, service) in services.iter().enumerate() {
        tx.execute(
            "INSERT INTO appointment_services (appointment_id, position, service_id)
             VALUES (?1, ?2, ?3)",
            params![id, position as i64, service.0],
        )?;
    }
    Ok(())
}

impl Store {
    pub async fn appointment(&self, id: AppointmentId) -> StoreResult<Appointment> {
        self.read(move |c| one(c, id)).await
    }

    /// Appointments whose held time overlaps `[from, until)`, by start.
    pub async fn appointments_between(
        &self,
        from: i64,
        until: i64,
        filter: AppointmentFilter,
    ) -> StoreResult<Vec<Appointment>> {
        self.read(move |c| {
            Ok(query(
                c,
                "WHERE a.busy_from < ?2 AND a.busy_until > ?1
                   AND (?3 IS NULL OR a.staff_id = ?3)
                   AND (?4 IS NULL OR a.resource_id = ?4)
                   AND (?5 IS NULL OR a.customer_id = ?5)
                   AND (?6 OR a.status != 'cancelled')
                 ORDER BY a.starts_at, a.id",
                &[
                    &from,
                    &until,
                    &filter.staff.map(|s| s.0),
                    &filter.resource.map(|r| r.0),
                    &filter.customer.map(|c| c.0),
                    &filter.include_cancelled,
                ],
            )?)
        })
        .await
    }

    /// Which of `uids` already name an appointment (calendar imports keep
    /// the file's UIDs, so a second import of a file finds its events).
    pub async fn existing_uids(&self, uids: Vec<String>) -> StoreResult<HashSet<String>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached("SELECT 1 FROM appointments WHERE uid = ?1")?;
            let mut found = HashSet::new();
            for uid in uids {
                if stmt.exists([&uid])? {
                    found.insert(uid);
                }
            }
            Ok(found)
        })
        .await
    }

    /// A customer's appointments, newest first.
    pub async fn appointments_of_customer(
        &self,
        customer: CustomerId,
        limit: u32,
    ) -> StoreResult<Vec<Appointment>> {
        self.read(move |c| {
            Ok(query(
                c,
                "WHERE a.customer_id = ?1 ORDER BY a.starts_at DESC, a.id DESC LIMIT ?2",
                &[&customer.0, &limit],
            )?)
        })
        .await
    }

    /// The occurrences of a series, in order.
    pub async fn appointments_of_series(&self, series: SeriesId) -> StoreResult<Vec<Appointment>> {
        self.read(move |c| {
            Ok(query(
                c,
                "WHERE a.series_id = ?1 ORDER BY a.starts_at, a.id",
                &[&series.0],
            )?)
        })
        .await
    }

    pub async fn series(&self, id: SeriesId) -> StoreResult<Series> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, rule, first_local, time_zone, exdates FROM series WHERE id = ?1",
                [id.0],
                |r| {
                    Ok(Series {
                        id: SeriesId(r.get(0)?),
                        rule: r.get(1)?,
                        first_local: r.get(2)?,
                        time_zone: r.get(3)?,
                        exdates: r.get(4)?,
                    })
                },
            )?)
        })
        .await
    }

    /// Writes appointments in one transaction, decided inside it: `decide`
    /// is given every appointment that holds time overlapping `span`
    /// (`[from, until)` in Unix seconds; those in `exclude`, the ones being
    /// changed, left out), as the database has them now, and returns what
    /// to write, or a refusal, which is returned as `Ok(Err(..))` with
    /// nothing written.
    pub async fn write_appointments<E, D>(
        &self,
        span: (i64, i64),
        exclude: Vec<AppointmentId>,
        series: Option<NewSeries>,
        decide: D,
    ) -> StoreResult<Result<Written, E>>
    where
        E: Send + 'static,
        D: Fn(&[Appointment]) -> Result<Changes, E> + Send + 'static,
    {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let (from, until) = span;
            let mut existing = query(
                tx,
                "WHERE a.busy_from < ?2 AND a.busy_until > ?1 AND a.status != 'cancelled'
                 ORDER BY a.busy_from, a.id",
                &[&from, &until],
            )?;
            existing.retain(|a| !exclude.contains(&a.id));
            let Changes { creates, updates } = match decide(&existing) {
                Ok(changes) => changes,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let now = clock.now();
            let series_id = match &series {
                Some(new) => {
                    tx.execute(
                        "INSERT INTO series (rule, first_local, time_zone, exdates, created_at,
                             updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![new.rule, new.first_local, new.time_zone, new.exdates, now],
                    )?;
                    Some(SeriesId(tx.last_insert_rowid()))
                }
                None => None,
            };
            let mut written = Written {
                series: series_id,
                ..Written::default()
            };
            for new in &creates {
                let f = &new.fields;
                tx.execute(
                    "INSERT INTO appointments (uid, customer_id, staff_id, resource_id, title,
                         starts_at, ends_at, busy_from, busy_until, notes, series_id,
                         recurrence_id, override_reason, created_by, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                    params![
                        new.uid,
                        f.customer_id.map(|c| c.0),
                        f.staff_id.0,
                        f.resource_id.map(|r| r.0),
                        f.title,
                        f.starts_at,
                        f.ends_at,
                        f.busy_from,
                        f.busy_until,
                        f.notes,
                        new.series_id.or(series_id).map(|s| s.0),
                        new.recurrence_id,
                        f.override_reason,
                        new.created_by.map(|u| u.0),
                        now
                    ],
                )
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(err, _)
                        if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                    {
                        StoreError::Conflict(format!(
                            "an appointment with the calendar UID \u{201c}{}\u{201d} already exists",
                            new.uid
                        ))
                    }
                    rusqlite::Error::SqliteFailure(err, _)
                        if err.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        StoreError::Conflict(
                            "the customer, staff member, resource or service no longer exists"
                                .into(),
                        )
                    }
                    other => other.into(),
                })?;
                let id = tx.last_insert_rowid();
                write_services(tx, id, &f.services)?;
                written.appointments.push(one(tx, AppointmentId(id))?);
            }
            for update in &updates {
                let before = one(tx, update.id)?;
                let f = &update.fields;
                tx.execute(
                    "UPDATE appointments SET customer_id = ?2, staff_id = ?3, resource_id = ?4,
                         title = ?5, starts_at = ?6, ends_at = ?7, busy_from = ?8,
                         busy_until = ?9, notes = ?10, override_reason = ?11,
                         detached = (detached OR ?12), sequence = sequence + 1, updated_at = ?13
                     WHERE id = ?1",
                    params![
                        update.id.0,
                        f.customer_id.map(|c| c.0),
                        f.staff_id.0,
                        f.resource_id.map(|r| r.0),
                        f.title,
                        f.starts_at,
                        f.ends_at,
                        f.busy_from,
                        f.busy_until,
                        f.notes,
                        f.override_reason,
                        update.detach,
                        now
                    ],
                )?;
                write_services(tx, update.id.0, &f.services)?;
                written.before.push(before);
                written.appointments.push(one(tx, update.id)?);
            }
            Ok(Ok(written))
        })
        .await
    }

    /// Sets an appointment's status (cancel, done, no-show); returns it
    /// before and after. A cancelled appointment stays cancelled.
    pub async fn set_appointment_status(
        &self,
        id: AppointmentId,
        status: AppointmentStatus,
    ) -> StoreResult<(Appointment, Appointment)> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let before = one(tx, id)?;
            if before.status == AppointmentStatus::Cancelled && status != before.status {
                return Err(StoreError::Conflict(
                    "this appointment was cancelled; book a new one instead".into(),
                ));
            }
            tx.execute(
                "UPDATE appointments SET status = ?2, sequence = sequence + 1, updated_at = ?3
                 WHERE id = ?1",
                params![id.0, status, clock.now()],
            )?;
            Ok((before, one(tx, id)?))
        })
        .await
    }

    // -- calendar subscriptions --

    pub async fn create_feed(
        &self,
        scope: FeedScope,
        scope_id: Option<i64>,
        token_hash: Vec<u8>,
        by: Option<UserId>,
    ) -> StoreResult<Feed> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO calendar_feeds (token_hash, scope, scope_id, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, scope, scope_id, by.map(|u| u.0), clock.now()],
            )?;
            feed_by(tx, "id = ?1", &[&tx.last_insert_rowid()])?.ok_or(StoreError::NotFound)
        })
        .await
    }

    /// The live subscription whose token hashes to `hash`.
    pub async fn feed_by_token(&self, hash: Vec<u8>) -> StoreResult<Option<Feed>> {
        self.read(move |c| feed_by(c, "token_hash = ?1 AND revoked_at IS NULL", &[&hash]))
            .await
    }

    /// Live subscriptions, newest first.
    pub async fn feeds(&self) -> StoreResult<Vec<Feed>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE revoked_at IS NULL
                 ORDER BY id DESC"
            ))?;
            Ok(stmt
                .query_map([], feed_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn revoke_feed(&self, id: FeedId) -> StoreResult<Feed> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE calendar_feeds SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.0, clock.now()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            feed_by(tx, "id = ?1", &[&id.0])?.ok_or(StoreError::NotFound)
        })
        .await
    }

    // -- the assistant's proposals --

    pub async fn create_proposal(
        &self,
        by: UserId,
        request: String,
        action: ProposalAction,
        payload: String,
    ) -> StoreResult<Proposal> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO proposals (created_by, request, action, payload, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![by.0, request, action, payload, clock.now()],
            )?;
            proposal_by(tx, ProposalId(tx.last_insert_rowid()))
        })
        .await
    }

    pub async fn proposal(&self, id: ProposalId) -> StoreResult<Proposal> {
        self.read(move |c| proposal_by(c, id)).await
    }

    /// Marks an open proposal confirmed or dismissed, once: a second
    /// decision (a double click, two tabs) is a conflict.
    pub async fn decide_proposal(
        &self,
        id: ProposalId,
        status: ProposalStatus,
        by: UserId,
    ) -> StoreResult<Proposal> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE proposals SET status = ?2, decided_by = ?3, decided_at = ?4
                 WHERE id = ?1 AND status = 'open'",
                params![id.0, status, by.0, clock.now()],
            )?;
            if changed == 0 {
                proposal_by(tx, id)?;
                return Err(StoreError::Conflict(
                    "this proposal was already decided".into(),
                ));
            }
            proposal_by(tx, id)
        })
        .await
    }
}

/// A secret subscription address for calendar apps (the token itself is
/// shown once, at creation).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Feed {
    pub id: FeedId,
    pub scope: FeedScope,
    pub scope_id: Option<i64>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
}

const FEED_COLUMNS: &str = "id, scope, scope_id, created_by, created_at";

fn feed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feed> {
    Ok(Feed {
        id: FeedId(r.get(0)?),
        scope: r.get(1)?,
        scope_id: r.get(2)?,
        created_by: r.get::<_, Option<i64>>(3)?.map(UserId),
        created_at: r.get(4)?,
    })
}

fn feed_by(
    c: &rusqlite::Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Option<Feed>> {
    Ok(c.query_row(
        &format!("SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE {filter}"),
        args,
        feed_from_row,
    )
    .optional()?)
}

/// Something the assistant proposed, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Proposal {
    pub id: ProposalId,
    pub created_by: UserId,
    pub request: String,
    pub action: ProposalAction,
    /// The change to make, as JSON.
    pub payload: String,
    pub status: ProposalStatus,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<i64>,
    pub created_at: i64,
}

fn proposal_by(c: &rusqlite::Connection, id: ProposalId) -> StoreResult<Proposal> {
    Ok(c.query_row(
        "SELECT id, created_by, request, action, payload, status, decided_by, decided_at,
             created_at FROM proposals WHERE id = ?1",
        [id.0],
        |r| {
            Ok(Proposal {
                id: ProposalId(r.get(0)?),
                created_by: UserId(r.get(1)?),
                request: r.get(2)?,
                action: r.get(3)?,
                payload: r.get(4)?,
                status: r.get(5)?,
                decided_by: r.get::<_, Option<i64>>(6)?.map(UserId),
                decided_at: r.get(7)?,
                created_at: r.get(8)?,
            })
        },
    )?)
}
