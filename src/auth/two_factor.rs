//! Two-factor sign-in (TOTP, RFC 6238): anyone turns it on from their
//! profile by scanning a QR code with an authenticator app and typing one
//! code; they get ten one-time recovery codes for a lost phone. Signing in
//! then asks for a code after the password; a code is accepted once (the
//! newest step used is kept), a recovery code once. The owner can require
//! it for owners and admins: their sessions then lead to enrolment before
//! anything else.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::{CurrentUser, OwnerUser, Role, login, password, token};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::error::{AppError, AppResult};
use crate::store::{User, UserId};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

/// The versioned setting: `admins` (owners and admins must use it) or `off`.
pub const REQUIRED_SETTING: &str = "auth.two_factor_required";

/// How long the code page waits after a correct password.
const PENDING_FOR: Duration = Duration::from_secs(5 * 60);
/// Wrong codes one pending sign-in may take before the password is asked again.
const PENDING_TRIES: u32 = 5;
/// Recovery codes made at a time.
const RECOVERY_CODES: usize = 10;
/// Seconds per code.
const STEP_SECS: u64 = 30;

pub fn routes() -> Routes {
    Routes::new()
        .post("/login/two-factor", Access::Public, code_submit)
        .get("/profile/two-factor", Access::Staff, page)
        .post("/profile/two-factor/enable", Access::Staff, enable_submit)
        .post(
            "/profile/two-factor/recovery-codes",
            Access::Staff,
            recovery_codes_submit,
        )
        .post("/profile/two-factor/disable", Access::Staff, disable_submit)
        .post("/admin/two-factor/policy", Access::Owner, policy_submit)
}

/// Paths a person who must enrol may still use.
pub fn allowed_before_enrolment(path: &str) -> bool {
    path.starts_with("/profile/two-factor")
        || path.starts_with("/static/")
        || matches!(path, "/logout" | "/healthz" | "/readyz" | "/favicon.ico")
}

/// A sign-in whose password was right, waiting for its code.
struct Pending {
    user: UserId,
    next: String,
    until: Instant,
    tries: u32,
}

/// Sign-ins waiting for their second factor, by a random token the code
/// page carries.
#[derive(Default)]
pub struct PendingLogins {
    map: Mutex<HashMap<String, Pending>>,
}

/// Pending sign-ins expire by the store's clock (which tests can move).
impl PendingLogins {
    fn insert(&self, user: UserId, next: String, now: Instant) -> String {
        let key = token::random_token(32);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, p| p.until > now);
        map.insert(
            key.clone(),
            Pending {
                user,
                next,
                until: now + PENDING_FOR,
                tries: 0,
            },
        );
        key
    }

    /// The pending sign-in, while it lasts.
    fn get(&self, key: &str, now: Instant) -> Option<(UserId, String)> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|p| p.until > now && p.tries < PENDING_TRIES)
            .map(|p| (p.user, p.next.clone()))
    }

    /// Counts a wrong code; whether the sign-in may go on.
    fn fail(&self, key: &str) -> bool {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(key) {
            Some(p) => {
                p.tries += 1;
                if p.tries >= PENDING_TRIES {
                    map.remove(key);
                    false
                } else {
                    true
                }
            }
            None => false,
        }
    }

    fn remove(&self, key: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// A new shared secret (160 bits, as RFC 4226 recommends), base32.
fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    Secret::new_stack(bytes).to_base32()
}

/// SHA-1, 6 digits, 30 seconds: what every authenticator app reads.
fn totp(secret: &str, account: &str, issuer: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    // A colon ends the issuer in an otpauth label.
    let issuer: String = issuer.chars().filter(|c| *c != ':').collect();
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(secret)
        .with_issuer(Some(issuer))
        .with_account_name(account.replace(':', ""))
        .build()
        .ok()
}

/// The time step `code` is right for, within one step of `now` either side
/// (clocks drift; a code typed just as it changed still counts).
fn matching_step(secret: &str, code: &str, now: u64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "", "Hearth")?;
    let step = now / STEP_SECS;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| token::same_secret(&totp.generate(s * STEP_SECS).to_string(), &code))
        .map(|s| s as i64)
}

fn unix_now(state: &AppState) -> u64 {
    state.store.now().max(0) as u64
}

/// Ten recovery codes, `xxxx-xxxx`, and their digests.
fn recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = token::normalise_code(&token::human_code()).to_lowercase();
            format!("{}-{}", &raw[..4], &raw[4..8])
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

/// A recovery code's digest, as typed (case, spaces and dashes ignored).
fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(token::sha256(&normal))
}

/// The enrolment QR code as inline SVG.
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// After a right password: whether to ask for a code. Returns the page
/// asking for it, or `None` when the person has no second factor.
pub(super) async fn ask_code_if_enabled(
    state: &AppState,
    shell: &Shell,
    user: &User,
    next: &str,
) -> AppResult<Option<Response>> {
    if !state.store.two_factor_enabled(user.id).await? {
        return Ok(None);
    }
    let key = state
        .auth
        .pending
        .insert(user.id, next.to_string(), state.store.clock().instant());
    Ok(Some(render_with_status(
        StatusCode::OK,
        &CodePage {
            shell: shell.clone(),
            pending: key,
            error: None,
        },
    )))
}

#[derive(Template)]
#[template(path = "auth/two_factor_code.html")]
struct CodePage {
    shell: Shell,
    pending: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct CodeForm {
    pending: String,
    code: String,
}

async fn code_submit(
    State(state): State<AppState>,
    shell: Shell,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    current: Option<CurrentUser>,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let Some((user_id, next)) = state
        .auth
        .pending
        .get(&form.pending, state.store.clock().instant())
    else {
        return Ok(redirect_with_flash(
            &state,
            "/login",
            "That sign-in took too long or had too many wrong codes: sign in again.",
        ));
    };
    let Ok(user) = state.store.user(user_id).await else {
        state.auth.pending.remove(&form.pending);
        return Ok(Redirect::to("/login").into_response());
    };
    let ip_key = format!("login-ip:{ip}");
    let user_key = format!("login-user:{}", user.username);
    let keys = [ip_key.as_str(), user_key.as_str()];
    let again = |message: &str| {
        render_with_status(
            StatusCode::UNAUTHORIZED,
            &CodePage {
                shell: shell.clone(),
                pending: form.pending.clone(),
                error: Some(message.to_string()),
            },
        )
    };
    if let Err(wait) = state.auth.throttle.check(&keys) {
        return Ok(again(&format!(
            "Too many wrong codes. Wait {}, then try again.",
            crate::text::wait(wait.as_secs().max(1))
        )));
    }
    let Some(settings) = state.store.two_factor(user.id).await? else {
        state.auth.pending.remove(&form.pending);
        return Ok(Redirect::to("/login").into_response());
    };
    let typed = form.code.trim();
    let how = if typed.chars().filter(|c| c.is_ascii_alphanumeric()).count() == 8 {
        // A recovery code (letters and digits, 8 of them).
        state
            .store
            .use_recovery_code(user.id, recovery_hash(typed))
            .await?
            .then(|| format!("with a recovery code ({} left)", settings.recovery_left - 1))
    } else {
        match matching_step(&settings.secret, typed, unix_now(&state)) {
            Some(step) if state.store.use_two_factor_step(user.id, step).await? => {
                Some("with a two-factor code".to_string())
            }
            Some(_) => {
                audit::record(
                    &state.store,
                    Actor::User(&user),
                    &ip,
                    Event::failed("auth.login", Target::User(&user.username))
                        .detail("a two-factor code used before"),
                )
                .await?;
                state.auth.throttle.fail(&keys);
                state.auth.pending.fail(&form.pending);
                return Ok(again(
                    "That code was already used. Wait for the next one in the app.",
                ));
            }
            None => None,
        }
    };
    let Some(how) = how else {
        state.auth.throttle.fail(&keys);
        audit::record(
            &state.store,
            Actor::User(&user),
            &ip,
            Event::failed("auth.login", Target::User(&user.username))
                .detail("wrong two-factor code"),
        )
        .await?;
        if !state.auth.pending.fail(&form.pending) {
            return Ok(redirect_with_flash(
                &state,
                "/login",
                "Too many wrong codes: sign in again.",
            ));
        }
        return Ok(again(
            "That code is not right. Type the 6 digits the app shows now, or one of your recovery codes.",
        ));
    };
    state.auth.pending.remove(&form.pending);
    state.auth.throttle.succeed(&keys);
    tracing::info!(username = user.username, how, "second factor accepted");
    let previous = current.and_then(|c| c.session_id());
    login::start_session_noting(&state, &user, previous, &headers, &ip, &next, &how).await
}

#[derive(Template)]
#[template(path = "auth/two_factor.html")]
struct EnrolPage {
    shell: Shell,
    /// On: since when, and recovery codes left.
    enabled: Option<(i64, i64)>,
    /// While enrolling: the secret to type, and the QR code.
    secret: String,
    qr: String,
    /// Codes just made, shown this once.
    new_codes: Vec<String>,
    required: bool,
    error: Option<String>,
    times: crate::web::time::Times,
}

impl EnrolPage {
    fn since(&self, unix: &i64) -> crate::web::time::Moment {
        self.times.at(*unix)
    }

    /// The secret in groups of four, easier to type.
    fn secret_grouped(&self) -> String {
        self.secret
            .chars()
            .collect::<Vec<_>>()
            .chunks(4)
            .map(|c| c.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `user` must turn two-factor sign-in on before anything else.
pub fn required_for(state: &AppState, user: &User) -> bool {
    state.auth.two_factor_required() && user.role >= Role::Admin
}

async fn build(
    state: &AppState,
    shell: Shell,
    times: crate::web::time::Times,
    user: &User,
) -> AppResult<EnrolPage> {
    let mut settings = state.store.two_factor(user.id).await?;
    if settings.is_none() {
        state.store.begin_two_factor(user.id, new_secret()).await?;
        settings = state.store.two_factor(user.id).await?;
    }
    let settings = settings.ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("the two-factor secret was not stored"))
    })?;
    let enabled = settings.enabled_at.map(|at| (at, settings.recovery_left));
    let (secret, qr) = if enabled.is_none() {
        let url = totp(&settings.secret, &user.username, &shell.business_name)
            .and_then(|t| t.to_url().ok())
            .unwrap_or_default();
        (settings.secret.clone(), qr_svg(&url))
    } else {
        (String::new(), String::new())
    };
    Ok(EnrolPage {
        shell,
        enabled,
        secret,
        qr,
        new_codes: Vec::new(),
        required: required_for(state, user),
        error: None,
        times,
    })
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    times: crate::web::time::Times,
    user: CurrentUser,
) -> AppResult<Response> {
    let page = build(&state, shell, times, &user.user).await?;
    Ok(render_with_status(StatusCode::OK, &page))
}

#[derive(Deserialize)]
struct EnableForm {
    code: String,
}

async fn enable_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: crate::web::time::Times,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<EnableForm>,
) -> AppResult<Response> {
    let user = user.user;
    let settings = state.store.two_factor(user.id).await?;
    let step = settings
        .as_ref()
        .filter(|s| s.enabled_at.is_none())
        .and_then(|s| matching_step(&s.secret, &form.code, unix_now(&state)));
    let (codes, hashes) = recovery_codes();
    let enabled = match step {
        Some(step) => state.store.enable_two_factor(user.id, step, hashes).await?,
        None => false,
    };
    if !enabled {
        return refused(
            &state,
            shell,
            times,
            &user,
            StatusCode::BAD_REQUEST,
            "That code is not right. Check that the app shows Hearth's entry, and type the 6 digits it shows now.",
        )
        .await;
    }
    show_codes(
        &state,
        (shell, times),
        &user,
        &ip,
        codes,
        "turned on, with 10 recovery codes",
    )
    .await
}

/// The page again, saying what was wrong.
async fn refused(
    state: &AppState,
    shell: Shell,
    times: crate::web::time::Times,
    user: &User,
    status: StatusCode,
    message: &str,
) -> AppResult<Response> {
    let mut page = build(state, shell, times, user).await?;
    page.error = Some(message.to_string());
    Ok(render_with_status(status, &page))
}

/// The page with new recovery codes, shown this once; audited.
async fn show_codes(
    state: &AppState,
    (shell, times): (Shell, crate::web::time::Times),
    user: &User,
    ip: &str,
    codes: Vec<String>,
    detail: &str,
) -> AppResult<Response> {
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("auth.two_factor_enabled", Target::User(&user.username)).detail(detail),
    )
    .await?;
    let mut page = build(state, shell, times, user).await?;
    page.new_codes = codes;
    Ok(render_with_status(StatusCode::OK, &page))
}

async fn recovery_codes_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: crate::web::time::Times,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<EnableForm>,
) -> AppResult<Response> {
    let user = user.user;
    let settings = state.store.two_factor(user.id).await?;
    let ok = match settings
        .as_ref()
        .filter(|s| s.enabled_at.is_some())
        .and_then(|s| matching_step(&s.secret, &form.code, unix_now(&state)))
    {
        Some(step) => state.store.use_two_factor_step(user.id, step).await?,
        None => false,
    };
    if !ok {
        return refused(
            &state,
            shell,
            times,
            &user,
            StatusCode::BAD_REQUEST,
            "That code is not right (or was used already): type the 6 digits the app shows now.",
        )
        .await;
    }
    let (codes, hashes) = recovery_codes();
    state.store.replace_recovery_codes(user.id, hashes).await?;
    show_codes(
        &state,
        (shell, times),
        &user,
        &ip,
        codes,
        "new recovery codes; the old ones no longer work",
    )
    .await
}

#[derive(Deserialize)]
struct DisableForm {
    password: String,
}

async fn disable_submit(
    State(state): State<AppState>,
    shell: Shell,
    times: crate::web::time::Times,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<DisableForm>,
) -> AppResult<Response> {
    let user = user.user;
    if required_for(&state, &user) {
        return refused(
            &state,
            shell,
            times,
            &user,
            StatusCode::FORBIDDEN,
            "The owner requires two-factor sign-in for owners and admins, so it stays on.",
        )
        .await;
    }
    let hash = state
        .store
        .user_by_username(&user.username)
        .await?
        .map(|u| u.password_hash)
        .unwrap_or_default();
    if !password::verify(form.password, hash).await? {
        return refused(
            &state,
            shell,
            times,
            &user,
            StatusCode::BAD_REQUEST,
            "That is not your password.",
        )
        .await;
    }
    if state.store.disable_two_factor(user.id).await? {
        audit::record(
            &state.store,
            Actor::User(&user),
            &ip,
            Event::ok("auth.two_factor_disabled", Target::User(&user.username)),
        )
        .await?;
    }
    Ok(redirect_with_flash(
        &state,
        "/profile",
        "Two-factor sign-in is off: your password alone signs you in.",
    ))
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    required: Option<String>,
}

/// Sets whether owners and admins must use two-factor sign-in; versioned
/// and audited.
async fn policy_submit(
    State(state): State<AppState>,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<PolicyForm>,
) -> AppResult<Response> {
    let required = form.required.is_some();
    set_required(&state, &owner.user, &ip, required, "").await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/users",
        if required {
            "Owners and admins now turn on two-factor sign-in before anything else."
        } else {
            "Two-factor sign-in is each person's choice again."
        },
    ))
}

/// Stores the policy as a new version and applies it at once; `note` ends
/// the audit detail.
pub async fn set_required(
    state: &AppState,
    by: &User,
    ip: &str,
    required: bool,
    note: &str,
) -> AppResult<()> {
    let value = if required { "admins" } else { "off" };
    state
        .store
        .set_setting(REQUIRED_SETTING, value.to_string(), Some(by.id))
        .await?;
    state.auth.set_two_factor_required(required);
    audit::setting_changed(
        &state.store,
        by,
        ip,
        REQUIRED_SETTING,
        format!(
            "two-factor sign-in {} for owners and admins{note}",
            if required { "required" } else { "optional" }
        ),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_own_step_and_its_neighbours_only() {
        let secret = new_secret();
        let t = totp(&secret, "x", "Hearth").unwrap();
        let now = 1_800_000_000u64;
        let step = (now / STEP_SECS) as i64;
        let code = t.generate(now).to_string();
        assert_eq!(matching_step(&secret, &code, now), Some(step));
        assert_eq!(matching_step(&secret, &code, now + STEP_SECS), Some(step));
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP_SECS), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(&secret, &spaced, now), Some(step));
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_typed_loosely() {
        let (codes, hashes) = recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), 10);
        let typed = codes[0].to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash(&typed), hashes[0]);
    }
}
