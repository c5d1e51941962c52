//! Admin → Business: the owner changes the business's name (set at setup,
//! or never, for an owner created from the console) and its time zone (the
//! same `schedule.time_zone` setting Admin → Schedule edits, checked by the
//! same rule in the calendar engine). Each change is a new version of its
//! setting and an audit record with the old and new value
//! (`settings.changed`), like every other setting.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::app::AppState;
use crate::audit;
use crate::auth::{BUSINESS_NAME_SETTING, MAX_BUSINESS_NAME, OwnerUser, clean_business_name};
use crate::calendar::Settings;
use crate::calendar::office::{TIME_ZONE_SETTING, known_zone, time_zones};
use crate::error::{AppError, AppResult};
use crate::store::User;
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/business", Access::Owner, page)
        .post("/admin/business", Access::Owner, submit)
}

/// What the form holds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BusinessForm {
    #[serde(default)]
    pub business_name: String,
    #[serde(default)]
    pub time_zone: String,
}

#[derive(Template)]
#[template(path = "admin/business.html")]
pub struct BusinessPage {
    shell: Shell,
    form: BusinessForm,
    zones: &'static [String],
    /// The business has no name yet (an owner created from the console).
    unnamed: bool,
    max_name: usize,
    error: Option<String>,
}

impl BusinessPage {
    /// Whether the zone in the form is missing from the list (then it is
    /// shown first, so saving does not change it unasked).
    fn zone_unlisted(&self) -> bool {
        !self.zones.contains(&self.form.time_zone)
    }
}

/// The stored name (none when never set) and the zone in use.
async fn current(state: &AppState) -> AppResult<(Option<String>, String)> {
    let name = state
        .store
        .setting(BUSINESS_NAME_SETTING)
        .await?
        .filter(|n| !n.trim().is_empty());
    let zone = state.store.setting(TIME_ZONE_SETTING).await?;
    Ok((
        name,
        Settings::from_stored(zone.as_deref(), None, None).zone_name,
    ))
}

async fn page(State(state): State<AppState>, shell: Shell, _: OwnerUser) -> AppResult<Response> {
    let (name, zone) = current(&state).await?;
    let page = BusinessPage {
        shell,
        unnamed: name.is_none(),
        form: BusinessForm {
            business_name: name.unwrap_or_default(),
            time_zone: zone,
        },
        zones: time_zones(),
        max_name: MAX_BUSINESS_NAME,
        error: None,
    };
    Ok(render_with_status(StatusCode::OK, &page))
}

async fn submit(
    State(state): State<AppState>,
    shell: Shell,
    OwnerUser(owner): OwnerUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<BusinessForm>,
) -> AppResult<Response> {
    match save(&state, &owner.user, &ip, &form).await {
        Ok(0) => Ok(redirect_with_flash(
            &state,
            "/admin/business",
            "Nothing changed.",
        )),
        Ok(_) => Ok(redirect_with_flash(
            &state,
            "/admin/business",
            "The business settings are saved.",
        )),
        Err(AppError::BadRequest(message)) => {
            let (name, _) = current(&state).await?;
            let page = BusinessPage {
                shell,
                unnamed: name.is_none(),
                form,
                zones: time_zones(),
                max_name: MAX_BUSINESS_NAME,
                error: Some(message),
            };
            Ok(render_with_status(StatusCode::BAD_REQUEST, &page))
        }
        Err(other) => Err(other),
    }
}

/// Checks both fields before anything is written, then stores each one
/// that changed as a new version with its audit record; returns how many
/// changed. The time zone is stored the first time even when it is the
/// box's own, so it no longer depends on where the box thinks it is.
pub async fn save(state: &AppState, owner: &User, ip: &str, form: &BusinessForm) -> AppResult<u32> {
    let name = clean_business_name(&form.business_name)?;
    let zone = known_zone(&form.time_zone).map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (name_before, zone_before) = current(state).await?;
    let zone_stored = state.store.setting(TIME_ZONE_SETTING).await?.is_some();
    let mut changed = 0;
    if name_before.as_deref() != Some(name.as_str()) {
        state
            .store
            .set_setting(BUSINESS_NAME_SETTING, name.clone(), Some(owner.id))
            .await?;
        state.auth.set_business_name(name.clone());
        let detail = match &name_before {
            Some(before) => format!("{before} → {name}"),
            None => format!("named {name}"),
        };
        record(state, owner, ip, BUSINESS_NAME_SETTING, detail).await?;
        changed += 1;
    }
    if zone_before != zone || !zone_stored {
        state
            .store
            .set_setting(TIME_ZONE_SETTING, zone.to_string(), Some(owner.id))
            .await?;
        let detail = if zone_before == zone {
            format!("{zone}, now stored")
        } else {
            format!("{zone_before} → {zone}")
        };
        record(state, owner, ip, TIME_ZONE_SETTING, detail).await?;
        changed += 1;
    }
    Ok(changed)
}

async fn record(
    state: &AppState,
    owner: &User,
    ip: &str,
    key: &'static str,
    detail: String,
) -> AppResult<()> {
    audit::setting_changed(&state.store, owner, ip, key, detail).await?;
    Ok(())
}
