//! Calendar files and subscriptions (issue 11): the office's, a staff
//! member's or a resource's appointments as an iCalendar file to download
//! (`/schedule/calendar.ics`), secret subscription addresses that phones,
//! Outlook and Google Calendar poll (`/ics/<token>.ics`, made and revoked on
//! the "Calendar apps" page), and importing a file from Outlook or Google
//! Calendar after a preview of what each of its events will become.
//!
//! A subscription address is its own credential: calendar apps send no
//! cookie and no key, so whoever holds the address reads that calendar,
//! customers' names included. Its token is 256 random bits, shown once and
//! stored only as a SHA-256 (as API keys are); an unknown or revoked token
//! is a bare 404. Each answer carries an ETag made from the file itself, so
//! an app that polls every few minutes gets 304 until something changes.
//!
//! An import creates nothing the calendar engine would refuse: the preview
//! asks an [`Office`] snapshot about every event (hours, closures, time
//! off, other bookings, the file's own events), and the confirmation asks
//! again about overlaps inside the write transaction, skipping what became
//! taken in between. Events keep the file's UID (an occurrence of a
//! recurring event its UID and original start), so importing the same file
//! again creates nothing new.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::{CurrentUser, token};
use crate::calendar::ics::{self, Entry, ImportLimits, ImportedEvent};
use crate::calendar::recurrence::{End, MAX_OCCURRENCES, Rule};
use crate::calendar::{Candidate, Conflict, Office, Plan, Settings};
use crate::error::{AppError, AppResult};
use crate::store::{
    Appointment, AppointmentFields, AppointmentFilter, AppointmentId, AppointmentStatus, Changes,
    Feed, FeedId, FeedScope, NewAppointment, Resource, ResourceId, Role, StaffId, StaffMember,
    User,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/schedule/calendar.ics", Access::Staff, export_file)
        .get("/schedule/feeds", Access::Staff, feeds_page)
        .post("/schedule/feeds", Access::Staff, create_feed)
        .post("/schedule/feeds/{id}/revoke", Access::Staff, revoke_feed)
        // The token travels as the last segment, `<token>.ics`, because
        // some calendar apps only subscribe to addresses ending in `.ics`.
        .get("/ics/{token}", Access::Public, feed)
        .get("/schedule/import", Access::Staff, import_form)
        .route_with_own_limit(
            Method::POST,
            "/schedule/import",
            Access::Staff,
            import_preview,
        )
        .route_with_own_limit(
            Method::POST,
            "/schedule/import/confirm",
            Access::Staff,
            import_confirm,
        )
}

/// A file or feed holds the appointments from this many days ago...
pub const EXPORT_PAST_DAYS: i64 = 90;
/// ...to this many days ahead: what a phone's calendar needs, and small
/// enough to build on every poll.
pub const EXPORT_FUTURE_DAYS: i64 = 400;
/// How often a file asks calendar apps to refresh it (the apps decide; Google
/// Calendar polls every few hours whatever it is told).
const REFRESH: Duration = Duration::from_secs(15 * 60);
/// How long an app or proxy may reuse a feed without asking again.
const FEED_CACHE_CONTROL: &str = "private, max-age=300";
/// Random bytes in a subscription token (shown as twice as many hex digits).
const TOKEN_BYTES: usize = 32;
// Limits on subscriptions per person and on imports (bytes, appointments)
// are `[schedule]` settings: feeds_per_person, import_max_bytes,
// import_max_appointments.
/// Room in an upload for the form's other fields and the multipart framing.
const FORM_OVERHEAD: usize = 64 * 1024;
/// The longest notes an appointment keeps (as the booking form).
const MAX_NOTES: usize = 4_000;

// -- whose calendar --

/// Whose calendar a file or subscription shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope {
    kind: FeedScope,
    id: Option<i64>,
}

impl Scope {
    const OFFICE: Scope = Scope {
        kind: FeedScope::Office,
        id: None,
    };

    /// `office` (or nothing), `staff:ID` or `resource:ID`, as the calendar
    /// page's `show`.
    fn parse(text: &str) -> AppResult<Scope> {
        let text = text.trim();
        if text.is_empty() || text == "office" {
            return Ok(Scope::OFFICE);
        }
        let scope = text.split_once(':').and_then(|(kind, id)| {
            let kind = match kind {
                "staff" => FeedScope::Staff,
                "resource" => FeedScope::Resource,
                _ => return None,
            };
            Some(Scope {
                kind,
                id: Some(id.trim().parse().ok()?),
            })
        });
        scope.ok_or_else(|| {
            AppError::BadRequest(format!(
                "“{}” is not a calendar: choose the office, a staff member or a resource.",
                text.chars().take(40).collect::<String>()
            ))
        })
    }

    fn of(feed: &Feed) -> Scope {
        Scope {
            kind: feed.scope,
            id: feed.scope_id,
        }
    }

    fn param(self) -> String {
        match (self.kind, self.id) {
            (FeedScope::Office, _) | (_, None) => "office".to_string(),
            (kind, Some(id)) => format!("{kind}:{id}"),
        }
    }

    fn filter(self) -> AppointmentFilter {
        AppointmentFilter {
            staff: (self.kind == FeedScope::Staff)
                .then_some(self.id.map(StaffId))
                .flatten(),
            resource: (self.kind == FeedScope::Resource)
                .then_some(self.id.map(ResourceId))
                .flatten(),
            // Subscribers see cancellations: the event stays, cancelled.
            include_cancelled: true,
            ..AppointmentFilter::default()
        }
    }
}

/// The office's staff and resources, for names and choices.
struct Directory {
    staff: Vec<StaffMember>,
    resources: Vec<Resource>,
}

/// An option of a select.
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Directory {
    async fn load(state: &AppState) -> AppResult<Directory> {
        let (staff, resources) = tokio::try_join!(state.store.staff(), state.store.resources())?;
        Ok(Directory { staff, resources })
    }

    fn staff_name(&self, id: StaffId) -> Option<&str> {
        self.staff
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.as_str())
    }

    fn resource_name(&self, id: ResourceId) -> Option<&str> {
        self.resources
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.name.as_str())
    }

    /// What a scope's calendar is called; `None` when its staff member or
    /// resource does not exist.
    fn label(&self, scope: Scope) -> Option<String> {
        match (scope.kind, scope.id) {
            (FeedScope::Office, _) => Some("the whole office".to_string()),
            (FeedScope::Staff, Some(id)) => self.staff_name(StaffId(id)).map(str::to_string),
            (FeedScope::Resource, Some(id)) => {
                self.resource_name(ResourceId(id)).map(str::to_string)
            }
            (_, None) => None,
        }
    }

    /// The calendars one can subscribe to or download: the office, then
    /// active staff and resources.
    fn calendars(&self) -> Vec<Choice> {
        let mut choices = vec![Choice {
            value: "office".into(),
            label: "Whole office".into(),
        }];
        choices.extend(self.staff.iter().filter(|s| s.active).map(|s| Choice {
            value: format!("staff:{}", s.id),
            label: s.name.clone(),
        }));
        choices.extend(self.resources.iter().filter(|r| r.active).map(|r| Choice {
            value: format!("resource:{}", r.id),
            label: r.name.clone(),
        }));
        choices
    }
}

// -- export --

/// A calendar file ready to send.
struct CalendarFile {
    file_name: String,
    body: String,
}

/// The calendar of `scope`: its appointments from [`EXPORT_PAST_DAYS`] ago
/// to [`EXPORT_FUTURE_DAYS`] ahead, cancelled ones included. Not found when
/// the scope's staff member or resource does not exist.
async fn calendar_file(state: &AppState, scope: Scope) -> AppResult<CalendarFile> {
    let directory = Directory::load(state).await?;
    let label = directory.label(scope).ok_or(AppError::NotFound)?;
    let settings = Settings::load(&state.store).await?;
    let now = state.store.now();
    let appointments = state
        .store
        .appointments_between(
            now - EXPORT_PAST_DAYS * 86_400,
            now + EXPORT_FUTURE_DAYS * 86_400,
            scope.filter(),
        )
        .await?;
    let entries: Vec<Entry<'_>> = appointments
        .iter()
        .map(|a| Entry {
            appointment: a,
            staff: directory.staff_name(a.staff_id),
            resource: a.resource_id.and_then(|r| directory.resource_name(r)),
        })
        .collect();
    let business = state.auth.business_name();
    let business = if business.trim().is_empty() {
        "Hearth".to_string()
    } else {
        business
    };
    let name = match scope.kind {
        FeedScope::Office => business,
        _ => format!("{business} – {label}"),
    };
    Ok(CalendarFile {
        file_name: format!("{}.ics", file_slug(&name)),
        body: ics::export(&name, &entries, &settings.zone_name, REFRESH),
    })
}

/// `sunny-dental-dr-lee` for "Sunny Dental – Dr Lee": a file name every
/// system and every header can carry.
fn file_slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(60).collect();
    if slug.is_empty() {
        "calendar".to_string()
    } else {
        slug
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct ExportQuery {
    /// `office` (default), `staff:ID` or `resource:ID`.
    #[serde(default)]
    show: String,
}

/// The calendar as a file to download (signed in, by session or API key).
async fn export_file(
    State(state): State<AppState>,
    Query(query): Query<ExportQuery>,
) -> AppResult<Response> {
    let file = calendar_file(&state, Scope::parse(&query.show)?).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/calendar; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file.file_name),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        file.body,
    )
        .into_response())
}

/// A subscription's calendar, for calendar apps: no session, the token in
/// the address is the credential.
async fn feed(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let token = name.strip_suffix(".ics").unwrap_or(&name);
    // Anything that cannot be a token is not looked up.
    if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::NotFound);
    }
    let feed = state
        .store
        .feed_by_token(token::sha256(token))
        .await?
        .ok_or(AppError::NotFound)?;
    let file = calendar_file(&state, Scope::of(&feed)).await?;
    let etag = format!("\"{}\"", &hex::encode(token::sha256(&file.body))[..32]);
    let caching = [
        (header::CACHE_CONTROL, FEED_CACHE_CONTROL.to_string()),
        (header::ETAG, etag.clone()),
    ];
    if unchanged(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, caching).into_response());
    }
    Ok((
        caching,
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        file.body,
    )
        .into_response())
}

/// Whether `If-None-Match` names `etag` (or `*`). A weak tag matches too: the
/// file is the same either way.
fn unchanged(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

// -- subscriptions --

/// A live subscription as the page lists it.
pub struct FeedRow {
    pub id: FeedId,
    pub calendar: String,
    pub created: Moment,
    pub by: String,
    pub can_revoke: bool,
}

/// A subscription just made: its address, shown this once.
pub struct NewAddress {
    pub calendar: String,
    pub url: String,
    /// The same address for the `webcal:` handler phones and Outlook
    /// register, which subscribes in one tap.
    pub webcal: String,
}

#[derive(Template)]
#[template(path = "schedule/feeds.html")]
pub struct FeedsPage {
    shell: Shell,
    feeds: Vec<FeedRow>,
    calendars: Vec<Choice>,
    chosen: String,
    new_address: Option<NewAddress>,
    error: Option<String>,
}

impl FeedsPage {
    fn is_chosen(&self, value: &str) -> bool {
        self.chosen == value
    }
}

async fn load_feeds_page(state: &AppState, shell: Shell, user: &User) -> AppResult<FeedsPage> {
    let directory = Directory::load(state).await?;
    let times = Times::load(state).await?;
    let (feeds, users) = tokio::try_join!(state.store.feeds(), state.store.users())?;
    let feeds = feeds
        .iter()
        .map(|feed| FeedRow {
            id: feed.id,
            calendar: directory
                .label(Scope::of(feed))
                .unwrap_or_else(|| "a calendar that no longer exists".to_string()),
            created: times.at(feed.created_at),
            by: feed
                .created_by
                .and_then(|id| users.iter().find(|u| u.id == id))
                .map_or_else(|| "—".to_string(), |u| u.display_name.clone()),
            can_revoke: may_revoke(user, feed),
        })
        .collect();
    Ok(FeedsPage {
        shell,
        feeds,
        calendars: directory.calendars(),
        chosen: String::new(),
        new_address: None,
        error: None,
    })
}

/// People revoke their own subscriptions; admins and owners anyone's.
fn may_revoke(user: &User, feed: &Feed) -> bool {
    feed.created_by == Some(user.id) || user.role >= Role::Admin
}

async fn feeds_page(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
) -> AppResult<Response> {
    let page = load_feeds_page(&state, shell, &user.user).await?;
    Ok(render_with_status(StatusCode::OK, &page))
}

#[derive(Debug, Deserialize, Default)]
pub struct NewFeedForm {
    /// `office` (default), `staff:ID` or `resource:ID`.
    #[serde(default)]
    show: String,
}

/// Makes a subscription to `show`'s calendar; returns what the calendar is
/// called and the token (its only copy).
async fn issue_feed(
    state: &AppState,
    user: &User,
    ip: &str,
    show: &str,
) -> AppResult<(String, String)> {
    let scope = Scope::parse(show)?;
    let label = Directory::load(state)
        .await?
        .label(scope)
        .ok_or_else(|| AppError::bad_request("That staff member or resource does not exist."))?;
    let live = state
        .store
        .feeds()
        .await?
        .iter()
        .filter(|f| f.created_by == Some(user.id))
        .count();
    let most = state.config.schedule.feeds_per_person;
    if live >= most {
        return Err(AppError::BadRequest(format!(
            "You already have {most} subscriptions; revoke one you no longer use first."
        )));
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    let secret = hex::encode(bytes);
    let feed = state
        .store
        .create_feed(scope.kind, scope.id, token::sha256(&secret), Some(user.id))
        .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.feed.created", Target::Feed(feed.id))
            .detail(format!("subscription to {label} ({})", scope.param())),
    )
    .await?;
    Ok((label, secret))
}

/// The subscription's address as this request reached us: the Host header
/// (already checked against the allowed names) and the scheme Hearth is
/// served over.
fn feed_address(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    secret: &str,
) -> (String, String) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("hearth.local");
    let scheme = if state.config.auth.cookie_secure {
        "https"
    } else {
        "http"
    };
    (
        format!("{scheme}://{host}/ics/{secret}.ics"),
        format!("webcal://{host}/ics/{secret}.ics"),
    )
}

async fn create_feed(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<NewFeedForm>,
) -> AppResult<Response> {
    let issued = issue_feed(&state, &user.user, &ip, &form.show).await;
    let mut page = load_feeds_page(&state, shell, &user.user).await?;
    match issued {
        Ok((calendar, secret)) => {
            let (url, webcal) = feed_address(&state, &headers, &uri, &secret);
            page.new_address = Some(NewAddress {
                calendar,
                url,
                webcal,
            });
            Ok(render_with_status(StatusCode::OK, &page))
        }
        Err(AppError::BadRequest(message)) => {
            page.chosen = form.show;
            page.error = Some(message);
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(other),
    }
}

async fn revoke_feed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    Path(id): Path<FeedId>,
) -> AppResult<Response> {
    let feed = state
        .store
        .feeds()
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or(AppError::NotFound)?;
    if !may_revoke(&user.user, &feed) {
        return Err(AppError::Forbidden);
    }
    state.store.revoke_feed(id).await?;
    let label = Directory::load(&state)
        .await?
        .label(Scope::of(&feed))
        .unwrap_or_else(|| Scope::of(&feed).param());
    audit::record(
        &state.store,
        Actor::User(&user.user),
        &ip,
        Event::ok("schedule.feed.revoked", Target::Feed(id))
            .detail(format!("subscription to {label}")),
    )
    .await?;
    Ok(redirect_with_flash(
        &state,
        "/schedule/feeds",
        &format!("The subscription to {label} was revoked: calendar apps using it stop updating."),
    ))
}

// -- import: reading the form --

/// What the import forms send.
#[derive(Debug, Default)]
struct ImportFields {
    staff: String,
    resource: String,
    /// The calendar file's text (`file` on the upload form, `calendar` on
    /// the preview's confirmation).
    calendar: Option<String>,
}

/// The largest calendar file taken (`schedule.import_max_bytes`).
fn import_max_bytes(state: &AppState) -> usize {
    usize::try_from(state.config.schedule.import_max_bytes).unwrap_or(usize::MAX)
}

fn too_large(limit: usize) -> AppError {
    AppError::TooLarge(format!(
        "The calendar file is larger than {}, the most that can be imported at once. \
         Export a shorter date range and import it in parts.",
        human_size(limit)
    ))
}

fn human_size(bytes: usize) -> String {
    crate::disk::human_size(bytes as u64)
}

/// Reads an import form, refusing a file larger than `limit` bytes before
/// more than that is read. A refusal comes with the fields read before it
/// (the staff member and resource precede the file), so the form keeps them.
async fn read_import_fields(
    headers: &HeaderMap,
    multipart: &mut Multipart,
    limit: usize,
) -> Result<ImportFields, (ImportFields, AppError)> {
    let mut fields = ImportFields::default();
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Far too large: refused without reading any of it.
    if announced.is_some_and(|length| length > 4 * limit + FORM_OVERHEAD) {
        return Err((fields, too_large(limit)));
    }
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(fields),
            Err(err) => return Err((fields, err.into())),
        };
        let read = match field.name() {
            Some("staff") => field.text().await.map(|text| fields.staff = text),
            Some("resource") => field.text().await.map(|text| fields.resource = text),
            Some("file") | Some("calendar") => {
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) if bytes.len() + chunk.len() > limit => {
                            return Err((fields, too_large(limit)));
                        }
                        Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(err) => return Err((fields, err.into())),
                    }
                }
                match String::from_utf8(bytes) {
                    Ok(text) => {
                        fields.calendar = Some(text);
                        Ok(())
                    }
                    Err(_) => {
                        return Err((
                            fields,
                            AppError::bad_request(
                                "This file is not a calendar file (it is not text). Export the \
                                 calendar as an iCalendar (.ics) file and choose that.",
                            ),
                        ));
                    }
                }
            }
            _ => Ok(()),
        };
        if let Err(err) = read {
            return Err((fields, err.into()));
        }
    }
}

/// Who the imported events will belong to.
struct Owner {
    staff: StaffId,
    resource: Option<ResourceId>,
    /// "Dr Weber", or "Dr Weber with Room 2".
    label: String,
}

fn owner_of(directory: &Directory, fields: &ImportFields) -> AppResult<Owner> {
    let staff = fields
        .staff
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| directory.staff.iter().find(|s| s.id.0 == id && s.active))
        .ok_or_else(|| AppError::bad_request("Choose the staff member the events belong to."))?;
    let resource = match fields.resource.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>()
                .ok()
                .and_then(|id| {
                    directory
                        .resources
                        .iter()
                        .find(|r| r.id.0 == id && r.active)
                })
                .ok_or_else(|| AppError::bad_request("That resource is not in use."))?,
        ),
    };
    Ok(Owner {
        staff: staff.id,
        resource: resource.map(|r| r.id),
        label: match resource {
            Some(resource) => format!("{} with {}", staff.name, resource.name),
            None => staff.name.clone(),
        },
    })
}

// -- import: what each event becomes --

/// One appointment an event of the file stands for: the event itself, or
/// one occurrence of a recurring event.
#[derive(Debug, Clone)]
struct Wanted {
    uid: String,
    starts_at: Timestamp,
    ends_at: Timestamp,
}

/// An event of the file, read before the office is asked.
#[derive(Debug)]
enum Reading {
    Times {
        wanted: Vec<Wanted>,
        recurring: bool,
        /// Why fewer occurrences than the rule has are imported.
        note: Option<String>,
    },
    Skipped(String),
}

/// The UID an occurrence of a recurring event is stored under: the
/// event's UID and the occurrence's original start, so a changed
/// occurrence in the file (RECURRENCE-ID) takes the place of the one the
/// rule makes, and a second import finds both.
fn occurrence_uid(uid: &str, original: Timestamp) -> String {
    format!("{uid}/{}", original.strftime("%Y%m%dT%H%M%SZ"))
}

fn read_event(event: &ImportedEvent, overridden: &[Timestamp], business: &TimeZone) -> Reading {
    if event.all_day {
        return Reading::Skipped("all-day event".into());
    }
    if event.cancelled {
        return Reading::Skipped("cancelled in the file".into());
    }
    if event.ends_at <= event.starts_at {
        return Reading::Skipped("it takes no time".into());
    }
    let length = event.ends_at.as_second() - event.starts_at.as_second();
    let at = |uid: String, starts_at: Timestamp| Wanted {
        uid,
        starts_at,
        ends_at: starts_at + length.seconds(),
    };
    match (&event.rrule, event.recurrence_id) {
        (Some(rule), None) => match occurrences(event, rule, business) {
            Ok((starts, note)) => Reading::Times {
                wanted: starts
                    .into_iter()
                    .filter(|start| !overridden.contains(start))
                    .map(|start| at(occurrence_uid(&event.uid, start), start))
                    .collect(),
                recurring: true,
                note,
            },
            Err(why) => Reading::Skipped(format!("its repeat rule cannot be used: {why}")),
        },
        (_, Some(original)) => Reading::Times {
            wanted: vec![at(occurrence_uid(&event.uid, original), event.starts_at)],
            recurring: false,
            note: None,
        },
        (None, None) => Reading::Times {
            wanted: vec![at(event.uid.clone(), event.starts_at)],
            recurring: false,
            note: None,
        },
    }
}

/// The starts of a recurring event, repeated in the wall-clock time of the
/// zone its start was given in (the business's for UTC and floating
/// times). A rule without an end, or one too long for the calendar engine
/// (more than [`MAX_OCCURRENCES`], or years), is cut at its first year,
/// and the note says so.
fn occurrences(
    event: &ImportedEvent,
    rule_text: &str,
    business: &TimeZone,
) -> Result<(Vec<Timestamp>, Option<String>), String> {
    let zone = event
        .time_zone
        .as_deref()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or_else(|| business.clone());
    let first: DateTime = zone.to_datetime(event.starts_at);
    let exdates: Vec<DateTime> = event.exdates.iter().map(|t| zone.to_datetime(*t)).collect();
    let first_year = End::UntilLocal(
        first
            .checked_add(1.year())
            .map_err(|_| "it starts too far in the future.".to_string())?,
    );
    let upper = rule_text.to_ascii_uppercase();
    let open = !upper.contains("UNTIL=") && !upper.contains("COUNT=");
    let rule = Rule::parse_with_end(rule_text, Some(first_year))?;
    let (found, note) = match rule.occurrences(first, &exdates, &zone, MAX_OCCURRENCES) {
        Ok(found) => (
            found,
            open.then(|| "it repeats without end: its first year is imported".to_string()),
        ),
        Err(whole) => {
            let found = rule
                .with_end(first_year)?
                .occurrences(first, &exdates, &zone, MAX_OCCURRENCES)
                .map_err(|_| whole.clone())?;
            (
                found,
                Some(format!(
                    "only its first year is imported ({})",
                    whole.trim_end_matches('.')
                )),
            )
        }
    };
    Ok((found.into_iter().map(|o| o.at).collect(), note))
}

// -- import: asking the office --

/// An appointment the import will create.
#[derive(Debug, Clone)]
struct Creation {
    uid: String,
    candidate: Candidate,
    notes: String,
}

/// An occurrence of a recurring event that will not be created.
pub struct Exception {
    pub when: String,
    pub why: String,
}

/// One event of the file in the preview.
pub struct PreviewRow {
    pub when: String,
    pub summary: String,
    /// `create`, `conflict`, `imported`, `skipped` or `recurring`.
    pub kind: &'static str,
    pub verdict: String,
    /// For a recurring event: its occurrences that will not be created.
    pub exceptions: Vec<Exception>,
}

/// What importing a file will do.
struct ImportPlan {
    rows: Vec<PreviewRow>,
    creations: Vec<Creation>,
    /// Events and occurrences that will not be created.
    skipped: usize,
}

/// What becomes of one wanted appointment.
enum Fate {
    Create,
    AlreadyImported,
    Twice,
    Conflicts(String),
}

impl Fate {
    fn words(&self) -> String {
        match self {
            Fate::Create => "will be created".into(),
            Fate::AlreadyImported => "already imported".into(),
            Fate::Twice => "skipped: the file has this event twice".into(),
            Fate::Conflicts(why) => format!("conflicts: {why}"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Fate::Create => "create",
            Fate::AlreadyImported => "imported",
            Fate::Twice => "skipped",
            Fate::Conflicts(_) => "conflict",
        }
    }
}

/// Reads `text` and asks the office what each of its events would become
/// for `owner`; returns the plan and the snapshot that made it.
async fn plan_import(
    state: &AppState,
    settings: &Settings,
    text: &str,
    owner: &Owner,
) -> AppResult<(ImportPlan, Office)> {
    let limits = ImportLimits {
        max_bytes: import_max_bytes(state),
        ..ImportLimits::default()
    };
    let events = ics::import(text, &settings.zone, &limits).map_err(AppError::BadRequest)?;
    if events.is_empty() {
        return Err(AppError::bad_request("This calendar file has no events."));
    }
    let mut overridden: HashMap<&str, Vec<Timestamp>> = HashMap::new();
    for event in &events {
        if let Some(original) = event.recurrence_id {
            overridden
                .entry(event.uid.as_str())
                .or_default()
                .push(original);
        }
    }
    let readings: Vec<Reading> = events
        .iter()
        .map(|event| {
            let overridden = overridden.get(event.uid.as_str()).map_or(&[][..], |v| v);
            read_event(event, overridden, &settings.zone)
        })
        .collect();
    let wanted: Vec<&Wanted> = readings
        .iter()
        .flat_map(|reading| match reading {
            Reading::Times { wanted, .. } => wanted.iter().collect(),
            Reading::Skipped(_) => Vec::new(),
        })
        .collect();
    let most = state.config.schedule.import_max_appointments;
    if wanted.len() > most {
        return Err(AppError::BadRequest(format!(
            "This file stands for {} appointments (repeating events counted one by one); at most \
             {most} can be imported at once. Export a shorter date range.",
            wanted.len()
        )));
    }
    let now = Timestamp::from_second(state.store.now()).unwrap_or_default();
    let existing = state
        .store
        .existing_uids(wanted.iter().map(|w| w.uid.clone()).collect())
        .await?;
    let days = wanted.iter().flat_map(|w| {
        [
            settings.local(w.starts_at).date(),
            settings.local(w.ends_at).date(),
        ]
    });
    let (first, last) = match (days.clone().min(), days.max()) {
        (Some(first), Some(last)) => (first, last),
        _ => {
            let today = settings.local(now).date();
            (today, today)
        }
    };
    let office = Office::load_with(&state.store, settings.clone(), first, last).await?;
    let this_year = settings.local(now).year();
    let plan = check(&office, owner, &events, readings, &existing, this_year);
    Ok((plan, office))
}

/// Decides every event's fate against the snapshot, in the file's order:
/// an event the file already placed at the same time conflicts too.
fn check(
    office: &Office,
    owner: &Owner,
    events: &[ImportedEvent],
    readings: Vec<Reading>,
    existing: &HashSet<String>,
    this_year: i16,
) -> ImportPlan {
    let settings = &office.settings;
    let mut judge = Judge {
        office,
        owner,
        existing,
        accepted: Vec::new(),
        seen: HashSet::new(),
        creations: Vec::new(),
    };
    let mut rows = Vec::new();
    let mut skipped = 0;
    for (event, reading) in events.iter().zip(readings) {
        let mut row = PreviewRow {
            when: when_of(settings, event, this_year),
            summary: title_of(event),
            kind: "skipped",
            verdict: String::new(),
            exceptions: Vec::new(),
        };
        let (wanted, recurring, note) = match reading {
            Reading::Skipped(why) => {
                skipped += 1;
                row.verdict = format!("skipped: {why}");
                rows.push(row);
                continue;
            }
            Reading::Times {
                wanted,
                recurring,
                note,
            } => (wanted, recurring, note),
        };
        let mut creating = 0;
        let mut last_fate = Fate::Create;
        for w in &wanted {
            let fate = judge.decide(event, w);
            if let Fate::Create = fate {
                creating += 1;
            } else {
                skipped += 1;
                if recurring {
                    row.exceptions.push(Exception {
                        when: span_words(settings, w.starts_at, w.ends_at, this_year),
                        why: fate.words(),
                    });
                }
            }
            last_fate = fate;
        }
        if recurring {
            let s = if wanted.len() == 1 { "" } else { "s" };
            row.kind = "recurring";
            row.verdict = format!(
                "recurring: {} occurrence{s}, {creating} will be created",
                wanted.len()
            );
            if let Some(note) = note {
                row.verdict = format!("{} ({note})", row.verdict);
            }
        } else {
            row.kind = last_fate.kind();
            row.verdict = last_fate.words();
        }
        rows.push(row);
    }
    ImportPlan {
        rows,
        creations: judge.creations,
        skipped,
    }
}

/// Decides, one wanted appointment after another, what each becomes, and
/// keeps the ones accepted so far (they hold their time for the rest).
struct Judge<'a> {
    office: &'a Office,
    owner: &'a Owner,
    /// UIDs already in the calendar.
    existing: &'a HashSet<String>,
    accepted: Vec<Appointment>,
    /// UIDs met so far in the file.
    seen: HashSet<String>,
    creations: Vec<Creation>,
}

impl Judge<'_> {
    fn decide(&mut self, event: &ImportedEvent, wanted: &Wanted) -> Fate {
        if self.existing.contains(&wanted.uid) {
            return Fate::AlreadyImported;
        }
        if !self.seen.insert(wanted.uid.clone()) {
            return Fate::Twice;
        }
        let candidate = candidate_for(self.owner, &title_of(event), wanted);
        let mut conflicts = self.office.conflicts(&candidate);
        if conflicts.is_empty() {
            conflicts = self.office.overlap_conflicts(&candidate, &self.accepted);
        }
        if !conflicts.is_empty() {
            return Fate::Conflicts(messages(&conflicts));
        }
        self.accepted.push(held_by(&candidate, &wanted.uid));
        self.creations.push(Creation {
            uid: wanted.uid.clone(),
            candidate,
            notes: event.description.chars().take(MAX_NOTES).collect(),
        });
        Fate::Create
    }
}

/// What an imported event is called in the calendar.
fn title_of(event: &ImportedEvent) -> String {
    let summary = event.summary.trim();
    if summary.is_empty() {
        "Imported event".to_string()
    } else {
        summary.to_string()
    }
}

/// An event as the calendar engine sees a booking: no service, so its own
/// length, no buffers, one place, and only its staff member can do it.
fn candidate_for(owner: &Owner, title: &str, wanted: &Wanted) -> Candidate {
    let seconds = wanted.ends_at.as_second() - wanted.starts_at.as_second();
    Candidate {
        staff: owner.staff,
        resource: owner.resource,
        starts_at: wanted.starts_at,
        ends_at: wanted.ends_at,
        plan: Plan {
            services: Vec::new(),
            minutes: u32::try_from((seconds + 59) / 60).unwrap_or(u32::MAX),
            buffer_before: 0,
            buffer_after: 0,
            staff: vec![owner.staff],
            resources: Vec::new(),
            capacity: 1,
            title: title.to_string(),
        },
    }
}

/// A candidate accepted earlier in the same import, as the appointment it
/// will be, so later events see its time taken.
fn held_by(candidate: &Candidate, uid: &str) -> Appointment {
    let fields = fields_of(candidate, "");
    Appointment {
        id: AppointmentId(0),
        uid: uid.to_string(),
        customer_id: None,
        customer_name: None,
        staff_id: fields.staff_id,
        resource_id: fields.resource_id,
        title: fields.title,
        starts_at: fields.starts_at,
        ends_at: fields.ends_at,
        busy_from: fields.busy_from,
        busy_until: fields.busy_until,
        status: AppointmentStatus::Booked,
        notes: String::new(),
        series_id: None,
        recurrence_id: None,
        detached: false,
        override_reason: None,
        sequence: 0,
        services: Vec::new(),
        created_by: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn fields_of(candidate: &Candidate, notes: &str) -> AppointmentFields {
    AppointmentFields {
        customer_id: None,
        staff_id: candidate.staff,
        resource_id: candidate.resource,
        title: candidate.plan.title.clone(),
        starts_at: candidate.starts_at.as_second(),
        ends_at: candidate.ends_at.as_second(),
        busy_from: candidate.busy_from().as_second(),
        busy_until: candidate.busy_until().as_second(),
        notes: notes.to_string(),
        services: Vec::new(),
        override_reason: None,
    }
}

fn messages(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(Conflict::message)
        .collect::<Vec<_>>()
        .join(" ")
}

/// "Tue 10 Mar 09:30–10:00" in the business's zone (as
/// [`Settings::describe`]), with the year when it is not this one and the
/// end's day when it is another.
fn span_words(
    settings: &Settings,
    starts_at: Timestamp,
    ends_at: Timestamp,
    this_year: i16,
) -> String {
    let start = settings.local(starts_at);
    let end = settings.local(ends_at);
    let day = if start.year() == this_year {
        start.strftime("%a %-d %b")
    } else {
        start.strftime("%a %-d %b %Y")
    };
    let end_words = if end.date() == start.date() {
        end.strftime("%H:%M").to_string()
    } else {
        settings.describe(ends_at)
    };
    format!("{day} {}–{end_words}", start.strftime("%H:%M"))
}

fn when_of(settings: &Settings, event: &ImportedEvent, this_year: i16) -> String {
    if !event.all_day {
        return span_words(settings, event.starts_at, event.ends_at, this_year);
    }
    // Whole local days: the last one is the day before the end.
    let first: Date = settings.local(event.starts_at).date();
    let last = settings
        .local(event.ends_at)
        .date()
        .yesterday()
        .unwrap_or(first)
        .max(first);
    let day = |d: Date| d.strftime("%a %-d %b %Y").to_string();
    if last == first {
        day(first)
    } else {
        format!("{} – {}", day(first), day(last))
    }
}

// -- import: the pages --

#[derive(Template)]
#[template(path = "schedule/import.html")]
pub struct ImportPage {
    shell: Shell,
    staff: Vec<Choice>,
    resources: Vec<Choice>,
    chosen_staff: String,
    chosen_resource: String,
    max_size: String,
    error: Option<String>,
}

impl ImportPage {
    fn is_staff(&self, value: &str) -> bool {
        self.chosen_staff == value
    }

    fn is_resource(&self, value: &str) -> bool {
        self.chosen_resource == value
    }
}

async fn load_import_page(
    state: &AppState,
    shell: Shell,
    user: &User,
    fields: &ImportFields,
) -> AppResult<ImportPage> {
    let directory = Directory::load(state).await?;
    // The person's own calendar unless they chose another.
    let chosen_staff = if fields.staff.is_empty() {
        directory
            .staff
            .iter()
            .find(|s| s.active && s.user_id == Some(user.id))
            .map(|s| s.id.to_string())
            .unwrap_or_default()
    } else {
        fields.staff.clone()
    };
    Ok(ImportPage {
        shell,
        staff: directory
            .staff
            .iter()
            .filter(|s| s.active)
            .map(|s| Choice {
                value: s.id.to_string(),
                label: s.name.clone(),
            })
            .collect(),
        resources: directory
            .resources
            .iter()
            .filter(|r| r.active)
            .map(|r| Choice {
                value: r.id.to_string(),
                label: r.name.clone(),
            })
            .collect(),
        chosen_staff,
        chosen_resource: fields.resource.clone(),
        max_size: human_size(import_max_bytes(state)),
        error: None,
    })
}

async fn import_form(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
) -> AppResult<Response> {
    let page = load_import_page(&state, shell, &user.user, &ImportFields::default()).await?;
    Ok(render_with_status(StatusCode::OK, &page))
}

/// The form again with what was wrong, for a refusal people can act on;
/// anything else goes to the error page.
async fn import_refused(
    state: &AppState,
    shell: Shell,
    user: &User,
    fields: &ImportFields,
    error: AppError,
) -> AppResult<Response> {
    let (status, message) = match error {
        AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
        AppError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message),
        other => return Err(other),
    };
    let mut page = load_import_page(state, shell, user, fields).await?;
    page.error = Some(message);
    Ok(render_with_status(status, &page))
}

#[derive(Template)]
#[template(path = "schedule/import_preview.html")]
pub struct ImportPreviewPage {
    shell: Shell,
    owner: String,
    staff: String,
    resource: String,
    rows: Vec<PreviewRow>,
    creating: usize,
    skipped: usize,
    /// The file, carried to the confirmation.
    calendar: String,
    zone: String,
}

impl ImportPreviewPage {
    fn create_label(&self) -> String {
        match self.creating {
            1 => "Create 1 appointment".to_string(),
            n => format!("Create {n} appointments"),
        }
    }
}

/// Line ends as `\n` only: the text goes through a form's textarea, which
/// browsers send back with `\r\n`, and must fit the same limit both ways.
fn normalise_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

/// An import form, read and planned.
struct Prepared {
    owner: Owner,
    /// The file, line ends normalised.
    text: String,
    settings: Settings,
    plan: ImportPlan,
    office: Office,
}

async fn prepare(state: &AppState, fields: &ImportFields) -> AppResult<Prepared> {
    let owner = owner_of(&Directory::load(state).await?, fields)?;
    let text = normalise_lines(fields.calendar.as_deref().unwrap_or_default());
    if text.trim().is_empty() {
        return Err(AppError::bad_request(
            "Choose a calendar file (.ics) to import.",
        ));
    }
    if text.len() > import_max_bytes(state) {
        return Err(too_large(import_max_bytes(state)));
    }
    let settings = Settings::load(&state.store).await?;
    let (plan, office) = plan_import(state, &settings, &text, &owner).await?;
    Ok(Prepared {
        owner,
        text,
        settings,
        plan,
        office,
    })
}

async fn import_preview(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let fields = match read_import_fields(&headers, &mut multipart, import_max_bytes(&state)).await
    {
        Ok(fields) => fields,
        Err((fields, error)) => {
            return import_refused(&state, shell, &user.user, &fields, error).await;
        }
    };
    let Prepared {
        owner,
        text,
        settings,
        plan,
        ..
    } = match prepare(&state, &fields).await {
        Ok(prepared) => prepared,
        Err(error) => return import_refused(&state, shell, &user.user, &fields, error).await,
    };
    let page = ImportPreviewPage {
        shell,
        owner: owner.label,
        staff: owner.staff.to_string(),
        resource: owner.resource.map(|r| r.to_string()).unwrap_or_default(),
        creating: plan.creations.len(),
        skipped: plan.skipped,
        rows: plan.rows,
        calendar: text,
        zone: settings.zone_name,
    };
    Ok(render_with_status(StatusCode::OK, &page))
}

async fn import_confirm(
    State(state): State<AppState>,
    shell: Shell,
    ClientIp(ip): ClientIp,
    user: CurrentUser,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> AppResult<Response> {
    // The textarea may come back with every line end doubled to `\r\n`.
    let fields =
        match read_import_fields(&headers, &mut multipart, 2 * import_max_bytes(&state)).await {
            Ok(fields) => fields,
            Err((fields, error)) => {
                return import_refused(&state, shell, &user.user, &fields, error).await;
            }
        };
    let Prepared {
        owner,
        settings,
        plan,
        office,
        ..
    } = match prepare(&state, &fields).await {
        Ok(prepared) => prepared,
        Err(error) => return import_refused(&state, shell, &user.user, &fields, error).await,
    };
    let planned = plan.creations.len();
    let first_day = plan
        .creations
        .iter()
        .map(|c| settings.local(c.candidate.starts_at).date())
        .min();
    let created = create_all(&state, &user.user, office, plan.creations).await?;
    let skipped = plan.skipped + (planned - created);
    audit::record(
        &state.store,
        Actor::User(&user.user),
        &ip,
        Event::ok("schedule.imported", Target::Staff(owner.staff)).detail(format!(
            "{created} appointment{} imported for {} from a calendar file; {skipped} skipped",
            if created == 1 { "" } else { "s" },
            owner.label
        )),
    )
    .await?;
    let to = match first_day {
        Some(day) if created > 0 => {
            format!("/schedule?view=week&date={day}&show=staff:{}", owner.staff)
        }
        _ => "/schedule".to_string(),
    };
    Ok(redirect_with_flash(
        &state,
        &to,
        &format!(
            "Imported {created} appointment{}; {skipped} skipped.",
            if created == 1 { "" } else { "s" }
        ),
    ))
}

/// Writes the planned appointments in one transaction, checking each
/// against what holds the time now (and the ones before it): one that was
/// booked over since the preview, or imported by someone else meanwhile,
/// is left out. Returns how many were created.
async fn create_all(
    state: &AppState,
    user: &User,
    office: Office,
    creations: Vec<Creation>,
) -> AppResult<usize> {
    let (Some(from), Some(until)) = (
        creations
            .iter()
            .map(|c| c.candidate.busy_from().as_second())
            .min(),
        creations
            .iter()
            .map(|c| c.candidate.busy_until().as_second())
            .max(),
    ) else {
        return Ok(0);
    };
    // The overlaps are decided on what the transaction reads, not on the
    // preview's snapshot, which only lends the engine its names.
    let by = user.id;
    let written = state
        .store
        .write_appointments((from, until), Vec::new(), None, move |held| {
            let mut held = held.to_vec();
            let mut creates = Vec::new();
            for creation in &creations {
                let taken = held.iter().any(|a| a.uid == creation.uid)
                    || !office
                        .overlap_conflicts(&creation.candidate, &held)
                        .is_empty();
                if taken {
                    continue;
                }
                held.push(held_by(&creation.candidate, &creation.uid));
                creates.push(NewAppointment {
                    uid: creation.uid.clone(),
                    fields: fields_of(&creation.candidate, &creation.notes),
                    series_id: None,
                    recurrence_id: None,
                    created_by: Some(by),
                });
            }
            Ok::<_, Infallible>(Changes {
                creates,
                updates: Vec::new(),
            })
        })
        .await?;
    let Ok(written) = written;
    Ok(written.appointments.len())
}
