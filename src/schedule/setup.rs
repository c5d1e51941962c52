//! The domain of the office's setup: the business's time zone, slot step and
//! opening hours, closures, staff with their working hours and time off,
//! services and resources. Admin → Schedule (`setup_pages.rs`) and the JSON
//! API (`setup_api.rs`) both call these, so both check the same rules and
//! leave the same audit trail: every change is recorded with what it was
//! before and what it is after.
//!
//! Input arrives as people typed it; each function cleans and checks it and
//! answers `AppError::BadRequest` with a sentence naming the field (and the
//! weekday, for hours), or `AppError::Conflict` for a name already taken.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::calendar::Settings;
use crate::calendar::hours::{DAY_NAMES, WeekHours};
use crate::calendar::office::{HOURS_SETTING, STEP_SETTING, TIME_ZONE_SETTING};
use crate::error::{AppError, AppResult};
use crate::store::{
    Closure, ClosureId, Resource, ResourceChange, ResourceId, Service, ServiceChange, ServiceId,
    StaffChange, StaffId, StaffMember, TimeOff, TimeOffId, User, UserId,
};

/// The longest name of a staff member, service, resource or customer.
pub const MAX_NAME: usize = 200;
/// The longest reason for a closure or time off, or kind of resource.
pub const MAX_SHORT_TEXT: usize = 200;
/// The longest closure: a year, so a mistyped year cannot close the office
/// for decades.
const MAX_CLOSURE_DAYS: i32 = 366;
/// The slot step's range, in minutes (what `calendar::Settings` accepts).
pub const STEP_RANGE: std::ops::RangeInclusive<u32> = 5..=240;

/// A name people typed, cleaned (`text::clean_name`); refused when empty or
/// longer than [`MAX_NAME`].
pub fn clean_required_name(what: &str, text: &str) -> AppResult<String> {
    let name = crate::text::clean_name(text);
    if name.is_empty() {
        return Err(AppError::BadRequest(format!("Give the {what} a name.")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(AppError::BadRequest(format!(
            "The {what}'s name is longer than {MAX_NAME} characters."
        )));
    }
    Ok(name)
}

/// A short optional text (a reason, a kind), cleaned; refused when longer
/// than `max`.
pub fn clean_optional(what: &str, text: &str, max: usize) -> AppResult<String> {
    let text = crate::text::clean_name(text);
    if text.chars().count() > max {
        return Err(AppError::BadRequest(format!(
            "The {what} is longer than {max} characters."
        )));
    }
    Ok(text)
}

/// An error as a sentence for a page: the store's conflicts arrive in lower
/// case ("a service with that name already exists").
pub fn sentence(err: &AppError) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

// -- settings --

/// The time zones people can choose (the calendar engine's list, which
/// Admin → Business offers too).
pub use crate::calendar::office::time_zones;

/// The business's calendar settings as people edit them.
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    pub time_zone: String,
    pub step_minutes: u32,
    /// Each weekday's opening hours as text, Monday first.
    pub opening_hours: [String; 7],
}

impl SettingsInput {
    pub fn of(settings: &Settings) -> SettingsInput {
        SettingsInput {
            time_zone: settings.zone_name.clone(),
            step_minutes: settings.step_minutes,
            opening_hours: settings.opening.texts(),
        }
    }
}

/// Checks and stores the settings; each setting that changed becomes a new
/// version and an audit record with its old and new value.
pub async fn save_settings(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &SettingsInput,
) -> AppResult<Settings> {
    let zone_name = crate::calendar::office::known_zone(&input.time_zone)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    if !STEP_RANGE.contains(&input.step_minutes) {
        return Err(AppError::BadRequest(format!(
            "The slot step is {} to {} minutes.",
            STEP_RANGE.start(),
            STEP_RANGE.end()
        )));
    }
    let opening = WeekHours::from_texts(&input.opening_hours)
        .map_err(|e| AppError::BadRequest(format!("Opening hours on {e}.")))?;
    let before = Settings::load(&state.store).await?;
    if before.zone_name != zone_name {
        state
            .store
            .set_setting(TIME_ZONE_SETTING, zone_name.to_string(), Some(user.id))
            .await?;
        record_setting(
            state,
            user,
            ip,
            TIME_ZONE_SETTING,
            format!("{} → {zone_name}", before.zone_name),
        )
        .await?;
    }
    if before.step_minutes != input.step_minutes {
        state
            .store
            .set_setting(STEP_SETTING, input.step_minutes.to_string(), Some(user.id))
            .await?;
        record_setting(
            state,
            user,
            ip,
            STEP_SETTING,
            format!("{} → {} minutes", before.step_minutes, input.step_minutes),
        )
        .await?;
    }
    // Stored the first time even when it equals the default, so the
    // hours no longer depend on what the default is.
    let stored = state.store.setting(HOURS_SETTING).await?;
    if before.opening != opening || stored.is_none() {
        state
            .store
            .set_setting(HOURS_SETTING, opening.to_json(), Some(user.id))
            .await?;
        let changes = week_changes(&before.opening.texts(), &opening.texts());
        record_setting(
            state,
            user,
            ip,
            HOURS_SETTING,
            if changes.is_empty() {
                "the default hours, now stored".to_string()
            } else {
                changes
            },
        )
        .await?;
    }
    Ok(Settings::load(&state.store).await?)
}

async fn record_setting(
    state: &AppState,
    user: &User,
    ip: &str,
    key: &'static str,
    detail: String,
) -> AppResult<()> {
    audit::setting_changed(&state.store, user, ip, key, detail).await?;
    Ok(())
}

/// "Monday 09:00-17:00 → 08:00-12:00; Saturday closed → 09:00-13:00": the
/// days that differ.
fn week_changes(before: &[String; 7], after: &[String; 7]) -> String {
    DAY_NAMES
        .iter()
        .zip(before.iter().zip(after))
        .filter(|(_, (b, a))| b != a)
        .map(|(day, (b, a))| format!("{day} {b} → {a}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The store's clock as an instant (tests move it).
pub fn now(state: &AppState) -> Timestamp {
    Timestamp::from_second(state.store.now()).unwrap_or_default()
}

/// An instant as RFC 3339 in the business's zone
/// (`2026-03-29T09:00:00+02:00`), as the API answers times.
pub fn rfc3339(settings: &Settings, seconds: i64) -> String {
    Timestamp::from_second(seconds)
        .unwrap_or_default()
        .to_zoned(settings.zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

// -- closures --

/// A closure as people give it: days as `YYYY-MM-DD`; an empty last day is
/// the first day (a single day).
#[derive(Debug, Clone, Default)]
pub struct ClosureInput {
    pub first_day: String,
    pub last_day: String,
    pub reason: String,
}

fn parse_day(what: &str, text: &str) -> AppResult<Date> {
    text.trim().parse::<Date>().map_err(|_| {
        AppError::BadRequest(format!(
            "The {what} “{}” is not a date like 2026-12-24.",
            text.trim()
        ))
    })
}

/// "2026-12-24" or "2026-12-24 – 2026-12-26", with the reason if any.
pub fn describe_closure(closure: &Closure) -> String {
    let days = if closure.first_day == closure.last_day {
        closure.first_day.clone()
    } else {
        format!("{} – {}", closure.first_day, closure.last_day)
    };
    if closure.reason.is_empty() {
        days
    } else {
        format!("{days} ({})", closure.reason)
    }
}

pub async fn add_closure(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &ClosureInput,
) -> AppResult<Closure> {
    let first = parse_day("first day", &input.first_day)?;
    let last = if input.last_day.trim().is_empty() {
        first
    } else {
        parse_day("last day", &input.last_day)?
    };
    if last < first {
        return Err(AppError::bad_request(
            "The last day is before the first day.",
        ));
    }
    if (last - first).get_days() >= MAX_CLOSURE_DAYS {
        return Err(AppError::BadRequest(format!(
            "A closure is at most {MAX_CLOSURE_DAYS} days; add longer ones in parts."
        )));
    }
    let reason = clean_optional("reason", &input.reason, MAX_SHORT_TEXT)?;
    let closure = state
        .store
        .add_closure(first.to_string(), last.to_string(), reason)
        .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.closure.added", Target::Closure(closure.id))
            .detail(format!("none → {}", describe_closure(&closure))),
    )
    .await?;
    Ok(closure)
}

/// Closures that end today or later, in the business's zone.
pub async fn upcoming_closures(state: &AppState, settings: &Settings) -> AppResult<Vec<Closure>> {
    let today = settings.local(now(state)).date();
    Ok(state
        .store
        .closures(today.to_string(), "9999-12-31".to_string())
        .await?)
}

pub async fn delete_closure(
    state: &AppState,
    user: &User,
    ip: &str,
    id: ClosureId,
) -> AppResult<Closure> {
    let closure = state
        .store
        .closures("0000-01-01".to_string(), "9999-12-31".to_string())
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(AppError::NotFound)?;
    state.store.delete_closure(id).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.closure.deleted", Target::Closure(id))
            .detail(format!("{} → none", describe_closure(&closure))),
    )
    .await?;
    Ok(closure)
}

// -- staff --

/// A staff member as people edit them. `hours` are their own working
/// hours per weekday, Monday first: a day left empty follows the opening
/// hours, "closed" is a day off; all seven empty: the opening hours.
#[derive(Debug, Clone, Default)]
pub struct StaffInput {
    pub name: String,
    pub user_id: Option<UserId>,
    pub hours: [String; 7],
    pub active: bool,
}

/// The whole day: within the opening hours (which the calendar intersects
/// own hours with) it means "the opening hours that day".
const WHOLE_DAY: &str = "00:00-24:00";

impl StaffInput {
    pub fn of(member: &StaffMember) -> StaffInput {
        StaffInput {
            name: member.name.clone(),
            user_id: member.user_id,
            hours: hours_texts(&member.hours),
            active: member.active,
        }
    }
}

/// A staff member's stored hours as the seven texts people edit (empty:
/// the opening hours).
pub fn hours_texts(stored: &str) -> [String; 7] {
    if stored.is_empty() {
        return Default::default();
    }
    match WeekHours::from_json(stored) {
        Ok(week) => week
            .texts()
            .map(|day| if day == WHOLE_DAY { String::new() } else { day }),
        // Unreadable hours are ignored by the calendar too (opening hours).
        Err(_) => Default::default(),
    }
}

/// Whether a staff member follows the opening hours every day.
pub fn follows_opening_hours(texts: &[String; 7]) -> bool {
    texts.iter().all(|t| t.trim().is_empty())
}

/// The hours to store: empty when they follow the opening hours.
fn hours_to_store(texts: &[String; 7]) -> AppResult<String> {
    if follows_opening_hours(texts) {
        return Ok(String::new());
    }
    let filled = texts.clone().map(|t| {
        if t.trim().is_empty() {
            WHOLE_DAY.to_string()
        } else {
            t
        }
    });
    WeekHours::from_texts(&filled)
        .map(|week| week.to_json())
        .map_err(|e| AppError::BadRequest(format!("Working hours on {e}.")))
}

async fn staff_change(state: &AppState, input: &StaffInput) -> AppResult<StaffChange> {
    let name = clean_required_name("staff member", &input.name)?;
    if let Some(user) = input.user_id {
        match state.store.user(user).await {
            Ok(_) => {}
            Err(crate::store::StoreError::NotFound) => {
                return Err(AppError::bad_request("That account does not exist."));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(StaffChange {
        name,
        user_id: input.user_id,
        hours: hours_to_store(&input.hours)?,
        active: input.active,
    })
}

/// "alex", or "none", for the audit log.
async fn account_name(state: &AppState, user: Option<UserId>) -> AppResult<String> {
    Ok(match user {
        None => "none".to_string(),
        Some(id) => match state.store.user(id).await {
            Ok(user) => user.username,
            Err(_) => format!("#{}", id.0),
        },
    })
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn hours_summary(stored: &str) -> String {
    let texts = hours_texts(stored);
    if follows_opening_hours(&texts) {
        return "opening hours".to_string();
    }
    DAY_NAMES
        .iter()
        .zip(&texts)
        .map(|(day, text)| {
            let text = if text.is_empty() {
                "opening hours"
            } else {
                text.as_str()
            };
            format!("{} {text}", &day[..3])
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn describe_staff(state: &AppState, member: &StaffMember) -> AppResult<String> {
    Ok(format!(
        "name {:?}, account {}, hours {}, active {}",
        member.name,
        account_name(state, member.user_id).await?,
        hours_summary(&member.hours),
        yes_no(member.active)
    ))
}

pub async fn create_staff(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &StaffInput,
) -> AppResult<StaffMember> {
    let change = staff_change(state, input).await?;
    let member = state.store.create_staff(change).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.staff.created", Target::Staff(member.id))
            .detail(format!("none → {}", describe_staff(state, &member).await?)),
    )
    .await?;
    Ok(member)
}

pub async fn update_staff(
    state: &AppState,
    user: &User,
    ip: &str,
    id: StaffId,
    input: &StaffInput,
) -> AppResult<StaffMember> {
    let before = state.store.staff_member(id).await?;
    let change = staff_change(state, input).await?;
    let after = state.store.update_staff(id, change).await?;
    let mut changes = Vec::new();
    if before.name != after.name {
        changes.push(format!("name {:?} → {:?}", before.name, after.name));
    }
    if before.user_id != after.user_id {
        changes.push(format!(
            "account {} → {}",
            account_name(state, before.user_id).await?,
            account_name(state, after.user_id).await?
        ));
    }
    let (hours_before, hours_after) = (hours_texts(&before.hours), hours_texts(&after.hours));
    if hours_before != hours_after {
        changes.push(format!(
            "hours {} → {}",
            hours_summary(&before.hours),
            hours_summary(&after.hours)
        ));
    }
    if before.active != after.active {
        changes.push(format!(
            "active {} → {}",
            yes_no(before.active),
            yes_no(after.active)
        ));
    }
    if !changes.is_empty() {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.staff.updated", Target::Staff(id)).detail(changes.join("; ")),
        )
        .await?;
    }
    Ok(after)
}

// -- time off --

/// A time as given: local wall-clock time in the business's zone, or an
/// exact instant (the API, with an offset).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    Local(DateTime),
    At(Timestamp),
}

/// Reads `2026-03-29T09:00` (local, as a form's date-time field sends it;
/// a space works too) or `2026-03-29T09:00:00+02:00` / `...Z` (an instant).
pub fn parse_when(what: &str, text: &str) -> AppResult<When> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(When::At(at));
    }
    text.parse::<DateTime>().map(When::Local).map_err(|_| {
        AppError::BadRequest(format!(
            "The {what} “{text}” is not a date and time like 2026-12-03T14:00."
        ))
    })
}

/// The instant of a local time: of a time the clocks repeat, the earlier
/// (`later` false) or the later one, so time off covers all it says; a time
/// the clocks skip is refused.
fn resolve(settings: &Settings, what: &str, when: When, later: bool) -> AppResult<Timestamp> {
    match when {
        When::At(at) => Ok(at),
        When::Local(local) => {
            let instants = settings.instants(local);
            let pick = if later {
                instants.last()
            } else {
                instants.first()
            };
            pick.copied().ok_or_else(|| {
                AppError::BadRequest(format!(
                    "The {what}, {}, does not exist in {}: the clocks skip that hour. Choose another time.",
                    local.strftime("%a %-d %b %Y %H:%M"),
                    settings.zone_name
                ))
            })
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimeOffInput {
    pub staff: StaffId,
    pub from: When,
    pub until: When,
    pub reason: String,
}

/// "Dana: Mon 30 Mar 09:00 → Fri 3 Apr 17:00 (holiday)".
pub fn describe_time_off(settings: &Settings, staff: &str, time_off: &TimeOff) -> String {
    let at = |s: i64| settings.describe(Timestamp::from_second(s).unwrap_or_default());
    let mut text = format!(
        "{staff}: {} → {}",
        at(time_off.starts_at),
        at(time_off.ends_at)
    );
    if !time_off.reason.is_empty() {
        text.push_str(&format!(" ({})", time_off.reason));
    }
    text
}

pub async fn add_time_off(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &TimeOffInput,
) -> AppResult<TimeOff> {
    let member = match state.store.staff_member(input.staff).await {
        Ok(member) => member,
        Err(crate::store::StoreError::NotFound) => {
            return Err(AppError::bad_request("That staff member does not exist."));
        }
        Err(other) => return Err(other.into()),
    };
    let settings = Settings::load(&state.store).await?;
    let from = resolve(&settings, "start", input.from, false)?;
    let until = resolve(&settings, "end", input.until, true)?;
    if until <= from {
        return Err(AppError::bad_request("Time off must end after it starts."));
    }
    let reason = clean_optional("reason", &input.reason, MAX_SHORT_TEXT)?;
    let time_off = state
        .store
        .add_time_off(member.id, from.as_second(), until.as_second(), reason)
        .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.time_off.added", Target::TimeOff(time_off.id)).detail(format!(
            "none → {}",
            describe_time_off(&settings, &member.name, &time_off)
        )),
    )
    .await?;
    Ok(time_off)
}

/// Time off overlapping `[from, until)` (Unix seconds), of one staff member
/// or everyone, by start.
pub async fn time_off_between(
    state: &AppState,
    staff: Option<StaffId>,
    from: i64,
    until: i64,
) -> AppResult<Vec<TimeOff>> {
    Ok(state
        .store
        .time_off(from, until)
        .await?
        .into_iter()
        .filter(|t| staff.is_none_or(|s| t.staff_id == s))
        .collect())
}

pub async fn delete_time_off(
    state: &AppState,
    user: &User,
    ip: &str,
    id: TimeOffId,
) -> AppResult<TimeOff> {
    let time_off = state
        .store
        .time_off(i64::MIN, i64::MAX)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(AppError::NotFound)?;
    let settings = Settings::load(&state.store).await?;
    let name = state
        .store
        .staff_member(time_off.staff_id)
        .await
        .map_or_else(|_| format!("#{}", time_off.staff_id), |s| s.name);
    state.store.delete_time_off(id).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.time_off.deleted", Target::TimeOff(id)).detail(format!(
            "{} → none",
            describe_time_off(&settings, &name, &time_off)
        )),
    )
    .await?;
    Ok(time_off)
}

// -- services --

#[derive(Debug, Clone, Default)]
pub struct ServiceInput {
    pub name: String,
    pub duration_minutes: u32,
    pub buffer_before: u32,
    pub buffer_after: u32,
    pub price_cents: Option<i64>,
    pub capacity: u32,
    pub active: bool,
    /// Who can do it; none: anyone.
    pub staff: Vec<StaffId>,
    /// What it can use, any one; none: it needs none.
    pub resources: Vec<ResourceId>,
}

impl ServiceInput {
    pub fn of(service: &Service) -> ServiceInput {
        ServiceInput {
            name: service.name.clone(),
            duration_minutes: service.duration_minutes,
            buffer_before: service.buffer_before,
            buffer_after: service.buffer_after,
            price_cents: service.price_cents,
            capacity: service.capacity,
            active: service.active,
            staff: service.staff.clone(),
            resources: service.resources.clone(),
        }
    }
}

/// The highest price (100 million), so sums of prices cannot overflow.
const MAX_PRICE_CENTS: i64 = 10_000_000_000;

/// "45.00", "45", "45,5" as cents; empty: no price.
pub fn parse_price(text: &str) -> AppResult<Option<i64>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let refuse =
        || AppError::BadRequest(format!("The price “{text}” is not an amount like 45.00."));
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| refuse())? * 10,
        _ => fraction.parse().map_err(|_| refuse())?,
    };
    whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(cents))
        .filter(|c| *c <= MAX_PRICE_CENTS)
        .map(Some)
        .ok_or_else(refuse)
}

/// Cents as "45.00"; empty for no price.
pub fn format_price(cents: Option<i64>) -> String {
    cents.map_or_else(String::new, |c| format!("{}.{:02}", c / 100, c % 100))
}

async fn service_change(state: &AppState, input: &ServiceInput) -> AppResult<ServiceChange> {
    let name = clean_required_name("service", &input.name)?;
    if !(1..=1440).contains(&input.duration_minutes) {
        return Err(AppError::bad_request("The duration is 1 to 1440 minutes."));
    }
    if input.buffer_before > 720 || input.buffer_after > 720 {
        return Err(AppError::bad_request("A buffer is 0 to 720 minutes."));
    }
    if input.price_cents.is_some_and(|c| c < 0) {
        return Err(AppError::bad_request("A price cannot be negative."));
    }
    if !(1..=1000).contains(&input.capacity) {
        return Err(AppError::bad_request(
            "The capacity is 1 to 1000 customers.",
        ));
    }
    let mut staff = input.staff.clone();
    staff.sort();
    staff.dedup();
    let known_staff = state.store.staff().await?;
    if let Some(unknown) = staff
        .iter()
        .find(|id| !known_staff.iter().any(|s| s.id == **id))
    {
        return Err(AppError::BadRequest(format!(
            "There is no staff member #{unknown}."
        )));
    }
    let mut resources = input.resources.clone();
    resources.sort();
    resources.dedup();
    let known_resources = state.store.resources().await?;
    if let Some(unknown) = resources
        .iter()
        .find(|id| !known_resources.iter().any(|r| r.id == **id))
    {
        return Err(AppError::BadRequest(format!(
            "There is no resource #{unknown}."
        )));
    }
    Ok(ServiceChange {
        name,
        duration_minutes: input.duration_minutes,
        buffer_before: input.buffer_before,
        buffer_after: input.buffer_after,
        price_cents: input.price_cents,
        capacity: input.capacity,
        active: input.active,
        staff,
        resources,
    })
}

/// The names of the staff and resources a service lists, for the log.
struct Names {
    staff: Vec<StaffMember>,
    resources: Vec<Resource>,
}

impl Names {
    async fn load(state: &AppState) -> AppResult<Names> {
        Ok(Names {
            staff: state.store.staff().await?,
            resources: state.store.resources().await?,
        })
    }

    fn staff(&self, ids: &[StaffId]) -> String {
        if ids.is_empty() {
            return "anyone".to_string();
        }
        ids.iter()
            .map(|id| {
                self.staff
                    .iter()
                    .find(|s| s.id == *id)
                    .map_or_else(|| format!("#{id}"), |s| s.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn resources(&self, ids: &[ResourceId]) -> String {
        if ids.is_empty() {
            return "none".to_string();
        }
        ids.iter()
            .map(|id| {
                self.resources
                    .iter()
                    .find(|r| r.id == *id)
                    .map_or_else(|| format!("#{id}"), |r| r.name.clone())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn price_text(cents: Option<i64>) -> String {
    match cents {
        None => "none".to_string(),
        some => format_price(some),
    }
}

fn describe_service(names: &Names, service: &Service) -> String {
    format!(
        "name {:?}, {} min, buffers {}/{} min, price {}, capacity {}, active {}, staff {}, resources {}",
        service.name,
        service.duration_minutes,
        service.buffer_before,
        service.buffer_after,
        price_text(service.price_cents),
        service.capacity,
        yes_no(service.active),
        names.staff(&service.staff),
        names.resources(&service.resources)
    )
}

pub async fn create_service(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &ServiceInput,
) -> AppResult<Service> {
    let change = service_change(state, input).await?;
    let service = state.store.create_service(change).await?;
    let names = Names::load(state).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.service.created", Target::Service(service.id))
            .detail(format!("none → {}", describe_service(&names, &service))),
    )
    .await?;
    Ok(service)
}

pub async fn update_service(
    state: &AppState,
    user: &User,
    ip: &str,
    id: ServiceId,
    input: &ServiceInput,
) -> AppResult<Service> {
    let before = state.store.service(id).await?;
    let change = service_change(state, input).await?;
    let after = state.store.update_service(id, change).await?;
    let names = Names::load(state).await?;
    let mut changes = Vec::new();
    let mut differs = |what: &str, b: String, a: String| {
        if b != a {
            changes.push(format!("{what} {b} → {a}"));
        }
    };
    differs(
        "name",
        format!("{:?}", before.name),
        format!("{:?}", after.name),
    );
    differs(
        "duration",
        format!("{} min", before.duration_minutes),
        format!("{} min", after.duration_minutes),
    );
    differs(
        "buffer before",
        format!("{} min", before.buffer_before),
        format!("{} min", after.buffer_before),
    );
    differs(
        "buffer after",
        format!("{} min", before.buffer_after),
        format!("{} min", after.buffer_after),
    );
    differs(
        "price",
        price_text(before.price_cents),
        price_text(after.price_cents),
    );
    differs(
        "capacity",
        before.capacity.to_string(),
        after.capacity.to_string(),
    );
    differs(
        "active",
        yes_no(before.active).to_string(),
        yes_no(after.active).to_string(),
    );
    differs(
        "staff",
        names.staff(&before.staff),
        names.staff(&after.staff),
    );
    differs(
        "resources",
        names.resources(&before.resources),
        names.resources(&after.resources),
    );
    if !changes.is_empty() {
        audit::record(
            &state.store,
            Actor::User(user),
            ip,
            Event::ok("schedule.service.updated", Target::Service(id)).detail(changes.join("; ")),
        )
        .await?;
    }
    Ok(after)
}

// -- resources --

#[derive(Debug, Clone, Default)]
pub struct ResourceInput {
    pub name: String,
    /// What it is, in the office's words ("room", "chair", "van").
    pub kind: String,
    pub active: bool,
}

impl ResourceInput {
    pub fn of(resource: &Resource) -> ResourceInput {
        ResourceInput {
            name: resource.name.clone(),
            kind: resource.kind.clone(),
            active: resource.active,
        }
    }
}

/// Kinds offered as suggestions; any other word is fine too.
pub const RESOURCE_KINDS: [&str; 4] = ["room", "chair", "van", "equipment"];

fn resource_change(input: &ResourceInput) -> AppResult<ResourceChange> {
    Ok(ResourceChange {
        name: clean_required_name("resource", &input.name)?,
        kind: clean_optional("kind", &input.kind, MAX_SHORT_TEXT)?,
        active: input.active,
    })
}

fn describe_resource(resource: &Resource) -> String {
    format!(
        "name {:?}, kind {:?}, active {}",
        resource.name,
        resource.kind,
        yes_no(resource.active)
    )
}

pub async fn create_resource(
    state: &AppState,
    user: &User,
    ip: &str,
    input: &ResourceInput,
) -> AppResult<Resource> {
    let resource = state.store.create_resource(resource_change(input)?).await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("schedule.resource.created", Target::Resource(resource.id))
            .detail(format!("none → {}", describe_resource(&resource))),
    )
    .await?;
    Ok(resource)
}

pub async fn update_resource(
    state: &AppState,
    user: &User,
    ip: &str,
    id: ResourceId,
    input: &ResourceInput,
) -> AppResult<Resource> {
    let before = state.store.resource(id).await?;
    let after = state
        .store
        .update_resource(id, resource_change(input)?)
        .await?;
    if before != after {
        let mut changes = Vec::new();
        if before.name != after.name {
            changes.push(format!("name {:?} → {:?}", before.name, after.name));
        }
        if before.kind != after.kind {
            changes.push(format!("kind {:?} → {:?}", before.kind, after.kind));
        }
        if before.active != after.active {
            changes.push(format!(
                "active {} → {}",
                yes_no(before.active),
                yes_no(after.active)
            ));
        }
        if !changes.is_empty() {
            audit::record(
                &state.store,
                Actor::User(user),
                ip,
                Event::ok("schedule.resource.updated", Target::Resource(id))
                    .detail(changes.join("; ")),
            )
            .await?;
        }
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_as_people_write_them() {
        let check = |text: &str, expected: Option<Option<i64>>| {
            assert_eq!(parse_price(text).ok(), expected, "{text:?}");
        };
        check("45.00", Some(Some(4500)));
        check("45", Some(Some(4500)));
        check("45,5", Some(Some(4550)));
        check(" 0.99 ", Some(Some(99)));
        check("", Some(None));
        check("45.001", None);
        check("-3", None);
        check("4 5", None);
        check(".50", None);
        check("€45", None);
        check("99999999999999999999", None);
        assert_eq!(format_price(Some(4550)), "45.50");
        assert_eq!(format_price(None), "");
    }

    #[test]
    fn staff_hours_round_trip_with_empty_days_following_opening_hours() {
        let mut texts: [String; 7] = Default::default();
        assert_eq!(hours_to_store(&texts).unwrap(), "");
        texts[0] = "8-12".into();
        texts[5] = "closed".into();
        let stored = hours_to_store(&texts).unwrap();
        let back = hours_texts(&stored);
        assert_eq!(back[0], "08:00-12:00");
        assert_eq!(back[1], "");
        assert_eq!(back[5], "closed");
        texts[2] = "9-25".into();
        let err = hours_to_store(&texts).unwrap_err().to_string();
        assert!(err.contains("Wednesday"), "{err}");
    }

    #[test]
    fn times_are_local_or_exact() {
        assert!(matches!(
            parse_when("start", "2026-03-29T09:00"),
            Ok(When::Local(_))
        ));
        assert!(matches!(
            parse_when("start", "2026-03-29 09:00"),
            Ok(When::Local(_))
        ));
        assert!(matches!(
            parse_when("start", "2026-03-29T09:00:00+02:00"),
            Ok(When::At(_))
        ));
        assert!(parse_when("start", "tomorrow").is_err());
    }
}
