//! The auth capability's share of the server's state: the login throttle,
//! the one-time setup code, whether the box has an owner yet, and the
//! business name its pages show (set at setup).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::SetupCode;
use super::throttle::Throttle;
use crate::config::Config;
use crate::store::{Store, StoreResult};

/// Setting key of the business name shown in the header.
pub const BUSINESS_NAME_SETTING: &str = "business_name";
/// What the header shows until the business has a name (an owner created
/// from the console names it on Admin → Business, which the home page's
/// checklist leads to).
pub const DEFAULT_BUSINESS_NAME: &str = "Hearth";

/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct AuthState {
    pub throttle: Arc<Throttle>,
    pub setup: Arc<SetupCode>,
    /// Set once an owner exists; until then every request checks the database.
    set_up: Arc<AtomicBool>,
    business_name: Arc<RwLock<String>>,
    /// Whether owners and admins must use two-factor sign-in (the setting
    /// [`super::two_factor::REQUIRED_SETTING`], cached).
    two_factor_required: Arc<AtomicBool>,
    /// Sign-ins waiting for their second factor.
    pub pending: Arc<super::two_factor::PendingLogins>,
}

impl AuthState {
    /// Reads whether the box is set up and its name from `store`.
    pub async fn load(config: &Config, store: &Store) -> StoreResult<AuthState> {
        let set_up = store.owner_exists().await?;
        let business_name = store
            .setting(BUSINESS_NAME_SETTING)
            .await?
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BUSINESS_NAME.to_string());
        let throttle = Throttle::new(
            config.auth.login_free_failures,
            Duration::from_secs(config.auth.login_max_delay_secs),
            store.clock().clone(),
        );
        let required = store
            .setting(super::two_factor::REQUIRED_SETTING)
            .await?
            .is_some_and(|v| v == "admins");
        Ok(AuthState {
            throttle: Arc::new(throttle),
            setup: Arc::new(SetupCode::new(!set_up)),
            set_up: Arc::new(AtomicBool::new(set_up)),
            business_name: Arc::new(RwLock::new(business_name)),
            two_factor_required: Arc::new(AtomicBool::new(required)),
            pending: Arc::default(),
        })
    }

    /// Whether an owner exists. Once true it stays true for the process, so
    /// the check costs nothing after setup; an owner created from the console
    /// while the server runs is noticed on the next request.
    pub async fn is_set_up(&self, store: &Store) -> StoreResult<bool> {
        if self.set_up.load(Ordering::Acquire) {
            return Ok(true);
        }
        let exists = store.owner_exists().await?;
        if exists {
            self.set_up.store(true, Ordering::Release);
            if let Ok(Some(name)) = store.setting(BUSINESS_NAME_SETTING).await
                && !name.trim().is_empty()
            {
                self.set_business_name(name);
            }
        }
        Ok(exists)
    }

    /// Whether owners and admins must use two-factor sign-in.
    pub fn two_factor_required(&self) -> bool {
        self.two_factor_required.load(Ordering::Acquire)
    }

    pub fn set_two_factor_required(&self, required: bool) {
        self.two_factor_required.store(required, Ordering::Release);
    }

    pub fn business_name(&self) -> String {
        self.business_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_business_name(&self, name: String) {
        *self
            .business_name
            .write()
            .unwrap_or_else(|p| p.into_inner()) = name;
    }
}
