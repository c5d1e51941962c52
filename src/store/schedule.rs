//! What scheduling is set up with: staff (linked to an account or not),
//! resources (rooms, chairs, vans), services with who can do them and what
//! they need, closures, and staff time off. The business's time zone and
//! opening hours are versioned settings (`store::settings`).
//!
//! Working hours are stored as the calendar engine's JSON (an empty string
//! means "the business's opening hours"); the store does not interpret them.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::users::UserId;
use super::{Store, StoreError, StoreResult, conflict_on_unique};

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {
        $(
            $(#[$meta])*
            #[derive(
                Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
                serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            )]
            #[serde(transparent)]
            pub struct $name(pub i64);

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    self.0.fmt(f)
                }
            }
        )+
    };
}

id_type!(StaffId, ResourceId, ServiceId, ClosureId, TimeOffId);
pub(super) use id_type;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub id: StaffId,
    pub name: String,
    /// The account this person signs in with, if any.
    pub user_id: Option<UserId>,
    /// Working hours as the calendar engine's JSON; empty: opening hours.
    pub hours: String,
    pub active: bool,
}

/// What a staff member is created or changed with.
#[derive(Debug, Clone, Default)]
pub struct StaffChange {
    pub name: String,
    pub user_id: Option<UserId>,
    pub hours: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    /// What it is, in the office's words ("room", "chair", "van").
    pub kind: String,
    pub active: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ResourceChange {
    pub name: String,
    pub kind: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub duration_minutes: u32,
    /// Minutes held before the appointment (preparation).
    pub buffer_before: u32,
    /// Minutes held after it (cleaning up, travel).
    pub buffer_after: u32,
    pub price_cents: Option<i64>,
    /// Customers one slot holds (more than one: a group service).
    pub capacity: u32,
    pub active: bool,
    /// Who can do it; empty: anyone.
    pub staff: Vec<StaffId>,
    /// The resources it can use, any one of them; empty: it needs none.
    pub resources: Vec<ResourceId>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceChange {
    pub name: String,
    pub duration_minutes: u32,
    pub buffer_before: u32,
    pub buffer_after: u32,
    pub price_cents: Option<i64>,
    pub capacity: u32,
    pub active: bool,
    pub staff: Vec<StaffId>,
    pub resources: Vec<ResourceId>,
}

/// Days the business is closed, both ends included (civil dates,
/// `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Closure {
    pub id: ClosureId,
    pub first_day: String,
    pub last_day: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimeOff {
    pub id: TimeOffId,
    pub staff_id: StaffId,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
}

fn staff_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StaffMember> {
    Ok(StaffMember {
        id: StaffId(r.get(0)?),
        name: r.get(1)?,
        user_id: r.get::<_, Option<i64>>(2)?.map(UserId),
        hours: r.get(3)?,
        active: r.get(4)?,
    })
}

fn resource_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Resource> {
    Ok(Resource {
        id: ResourceId(r.get(0)?),
        name: r.get(1)?,
        kind: r.get(2)?,
        active: r.get(3)?,
    })
}

const SERVICE_COLUMNS: &str = "id, name, duration_minutes, buffer_before, buffer_after, \
     price_cents, capacity, active";

fn service_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Service> {
    Ok(Service {
        id: ServiceId(r.get(0)?),
        name: r.get(1)?,
        duration_minutes: r.get(2)?,
        buffer_before: r.get(3)?,
        buffer_after: r.get(4)?,
        price_cents: r.get(5)?,
        capacity: r.get(6)?,
        active: r.get(7)?,
        staff: Vec::new(),
        resources: Vec::new(),
    })
}

/// Fills in who can do each service and what it can use.
fn with_links(c: &rusqlite::Connection, services: &mut [Service]) -> rusqlite::Result<()> {
    let mut staff = c.prepare_cached(
        "SELECT staff_id FROM service_staff WHERE service_id = ?1 ORDER BY staff_id",
    )?;
    let mut resources = c.prepare_cached(
        "SELECT resource_id FROM service_resources WHERE service_id = ?1 ORDER BY resource_id",
    )?;
    for service in services {
        service.staff = staff
            .query_map([service.id.0], |r| Ok(StaffId(r.get(0)?)))?
            .collect::<Result<_, _>>()?;
        service.resources = resources
            .query_map([service.id.0], |r| Ok(ResourceId(r.get(0)?)))?
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

fn load_services(
    c: &rusqlite::Connection,
    filter: &str,
    id: Option<i64>,
) -> StoreResult<Vec<Service>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {SERVICE_COLUMNS} FROM services {filter} ORDER BY name COLLATE NOCASE"
    ))?;
    let mut services: Vec<Service> = match id {
        Some(id) => stmt
            .query_map([id], service_from_row)?
            .collect::<Result<_, _>>()?,
        None => stmt
            .query_map([], service_from_row)?
            .collect::<Result<_, _>>()?,
    };
    with_links(c, &mut services)?;
    Ok(services)
}

fn write_links(
    tx: &rusqlite::Transaction<'_>,
    service: ServiceId,
    change: &ServiceChange,
) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM service_staff WHERE service_id = ?1",
        [service.0],
    )?;
    tx.execute(
        "DELETE FROM service_resources WHERE service_id = ?1",
        [service.0],
    )?;
    for staff in &change.staff {
        tx.execute(
            "INSERT OR IGNORE INTO service_staff (service_id, staff_id) VALUES (?1, ?2)",
            params![service.0, staff.0],
        )
        .map_err(|_| StoreError::Conflict("that staff member does not exist".into()))?;
    }
    for resource in &change.resources {
        tx.execute(
            "INSERT OR IGNORE INTO service_resources (service_id, resource_id) VALUES (?1, ?2)",
            params![service.0, resource.0],
        )
        .map_err(|_| StoreError::Conflict("that resource does not exist".into()))?;
    }
    Ok(())
}

impl Store {
    // -- staff --

    /// Every staff member, active first, by name.
    pub async fn staff(&self) -> StoreResult<Vec<StaffMember>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, user_id, hours, active FROM staff
                 ORDER BY active DESC, name COLLATE NOCASE",
            )?;
            Ok(stmt
                .query_map([], staff_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn staff_member(&self, id: StaffId) -> StoreResult<StaffMember> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, name, user_id, hours, active FROM staff WHERE id = ?1",
                [id.0],
                staff_from_row,
            )?)
        })
        .await
    }

    /// The staff member who signs in as `user`, if any.
    pub async fn staff_of_user(&self, user: UserId) -> StoreResult<Option<StaffMember>> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, name, user_id, hours, active FROM staff WHERE user_id = ?1",
                [user.0],
                staff_from_row,
            )
            .optional()?)
        })
        .await
    }

    pub async fn create_staff(&self, change: StaffChange) -> StoreResult<StaffMember> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let now = clock.now();
            tx.execute(
                "INSERT INTO staff (name, user_id, hours, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![
                    change.name,
                    change.user_id.map(|u| u.0),
                    change.hours,
                    change.active,
                    now
                ],
            )
            .map_err(|e| {
                conflict_on_unique(e, "a staff member with that name or account already exists")
            })?;
            Ok(tx.query_row(
                "SELECT id, name, user_id, hours, active FROM staff WHERE id = ?1",
                [tx.last_insert_rowid()],
                staff_from_row,
            )?)
        })
        .await
    }

    pub async fn update_staff(&self, id: StaffId, change: StaffChange) -> StoreResult<StaffMember> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE staff SET name = ?2, user_id = ?3, hours = ?4, active = ?5,
                         updated_at = ?6 WHERE id = ?1",
                    params![
                        id.0,
                        change.name,
                        change.user_id.map(|u| u.0),
                        change.hours,
                        change.active,
                        clock.now()
                    ],
                )
                .map_err(|e| {
                    conflict_on_unique(e, "a staff member with that name or account already exists")
                })?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(tx.query_row(
                "SELECT id, name, user_id, hours, active FROM staff WHERE id = ?1",
                [id.0],
                staff_from_row,
            )?)
        })
        .await
    }

    // -- resources --

    pub async fn resources(&self) -> StoreResult<Vec<Resource>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT id, name, kind, active FROM resources
                 ORDER BY active DESC, name COLLATE NOCASE",
            )?;
            Ok(stmt
                .query_map([], resource_from_row)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn resource(&self, id: ResourceId) -> StoreResult<Resource> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT id, name, kind, active FROM resources WHERE id = ?1",
                [id.0],
                resource_from_row,
            )?)
        })
        .await
    }

    pub async fn create_resource(&self, change: ResourceChange) -> StoreResult<Resource> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO resources (name, kind, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![change.name, change.kind, change.active, clock.now()],
            )
            .map_err(|e| conflict_on_unique(e, "a resource with that name already exists"))?;
            Ok(tx.query_row(
                "SELECT id, name, kind, active FROM resources WHERE id = ?1",
                [tx.last_insert_rowid()],
                resource_from_row,
            )?)
        })
        .await
    }

    pub async fn update_resource(
        &self,
        id: ResourceId,
        change: ResourceChange,
    ) -> StoreResult<Resource> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE resources SET name = ?2, kind = ?3, active = ?4, updated_at = ?5
                     WHERE id = ?1",
                    params![id.0, change.name, change.kind, change.active, clock.now()],
                )
                .map_err(|e| conflict_on_unique(e, "a resource with that name already exists"))?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(tx.query_row(
                "SELECT id, name, kind, active FROM resources WHERE id = ?1",
                [id.0],
                resource_from_row,
            )?)
        })
        .await
    }

    // -- services --

    pub async fn services(&self) -> StoreResult<Vec<Service>> {
        self.read(|c| load_services(c, "", None)).await
    }

    pub async fn service(&self, id: ServiceId) -> StoreResult<Service> {
        self.read(move |c| {
            load_services(c, "WHERE id = ?1", Some(id.0))?
                .pop()
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub async fn create_service(&self, change: ServiceChange) -> StoreResult<Service> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO services (name, duration_minutes, buffer_before, buffer_after,
                     price_cents, capacity, active, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    change.name,
                    change.duration_minutes,
                    change.buffer_before,
                    change.buffer_after,
                    change.price_cents,
                    change.capacity,
                    change.active,
                    clock.now()
                ],
            )
            .map_err(|e| conflict_on_unique(e, "a service with that name already exists"))?;
            let id = ServiceId(tx.last_insert_rowid());
            write_links(tx, id, &change)?;
            load_services(tx, "WHERE id = ?1", Some(id.0))?
                .pop()
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    pub async fn update_service(
        &self,
        id: ServiceId,
        change: ServiceChange,
    ) -> StoreResult<Service> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE services SET name = ?2, duration_minutes = ?3, buffer_before = ?4,
                         buffer_after = ?5, price_cents = ?6, capacity = ?7, active = ?8,
                         updated_at = ?9
                     WHERE id = ?1",
                    params![
                        id.0,
                        change.name,
                        change.duration_minutes,
                        change.buffer_before,
                        change.buffer_after,
                        change.price_cents,
                        change.capacity,
                        change.active,
                        clock.now()
                    ],
                )
                .map_err(|e| conflict_on_unique(e, "a service with that name already exists"))?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            write_links(tx, id, &change)?;
            load_services(tx, "WHERE id = ?1", Some(id.0))?
                .pop()
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    // -- closures --

    /// Closures that touch the days `first..=last` (civil dates), in order.
    pub async fn closures(&self, first: String, last: String) -> StoreResult<Vec<Closure>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, first_day, last_day, reason FROM closures
                 WHERE last_day >= ?1 AND first_day <= ?2 ORDER BY first_day, id",
            )?;
            Ok(stmt
                .query_map(params![first, last], |r| {
                    Ok(Closure {
                        id: ClosureId(r.get(0)?),
                        first_day: r.get(1)?,
                        last_day: r.get(2)?,
                        reason: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn add_closure(
        &self,
        first_day: String,
        last_day: String,
        reason: String,
    ) -> StoreResult<Closure> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO closures (first_day, last_day, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![first_day, last_day, reason, clock.now()],
            )?;
            Ok(Closure {
                id: ClosureId(tx.last_insert_rowid()),
                first_day: first_day.clone(),
                last_day: last_day.clone(),
                reason: reason.clone(),
            })
        })
        .await
    }

    pub async fn delete_closure(&self, id: ClosureId) -> StoreResult<()> {
        self.write(
            move |tx| match tx.execute("DELETE FROM closures WHERE id = ?1", [id.0])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            },
        )
        .await
    }

    // -- time off --

    /// Time off that overlaps `[from, until)`, for everyone.
    pub async fn time_off(&self, from: i64, until: i64) -> StoreResult<Vec<TimeOff>> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, staff_id, starts_at, ends_at, reason FROM time_off
                 WHERE starts_at < ?2 AND ends_at > ?1 ORDER BY starts_at, id",
            )?;
            Ok(stmt
                .query_map(params![from, until], |r| {
                    Ok(TimeOff {
                        id: TimeOffId(r.get(0)?),
                        staff_id: StaffId(r.get(1)?),
                        starts_at: r.get(2)?,
                        ends_at: r.get(3)?,
                        reason: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn add_time_off(
        &self,
        staff: StaffId,
        starts_at: i64,
        ends_at: i64,
        reason: String,
    ) -> StoreResult<TimeOff> {
        let clock = self.clock().clone();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO time_off (staff_id, starts_at, ends_at, reason, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![staff.0, starts_at, ends_at, reason, clock.now()],
            )
            .map_err(|_| StoreError::NotFound)?;
            Ok(TimeOff {
                id: TimeOffId(tx.last_insert_rowid()),
                staff_id: staff,
                starts_at,
                ends_at,
                reason: reason.clone(),
            })
        })
        .await
    }

    pub async fn delete_time_off(&self, id: TimeOffId) -> StoreResult<()> {
        self.write(
            move |tx| match tx.execute("DELETE FROM time_off WHERE id = ?1", [id.0])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            },
        )
        .await
    }
}
