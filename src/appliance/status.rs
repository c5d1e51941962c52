//! The file the box's own screen is drawn from (`[appliance] status_file`,
//! `/run/hearth/status.json` on the appliance): the name staff open, the
//! box's addresses, and the setup code until the owner exists. Hearth
//! rewrites it every few seconds (on the RAM-backed /run, this costs
//! nothing), so `hearth console` can tell a Hearth that stopped answering
//! from one that is fine.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::AppState;

/// How often the file is rewritten.
pub const EVERY: Duration = Duration::from_secs(5);

/// What the screen shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxStatus {
    /// Hearth's version.
    pub version: String,
    /// `running`, or `stopping` when Hearth is shutting down on purpose.
    pub state: String,
    /// The address to open by name (`http://hearth.local`), when announced.
    pub name_url: Option<String>,
    /// Why the name is not the configured one, for the owner.
    pub name_notice: Option<String>,
    /// The addresses to open by number, for phones that do not resolve
    /// `.local` names.
    pub address_urls: Vec<String>,
    /// The one-time setup code, while the box has no owner.
    pub setup_code: Option<String>,
    /// When Hearth wrote this, in seconds since 1970.
    pub written_at: i64,
}

impl BoxStatus {
    /// The status as it stands now.
    pub async fn now(state: &AppState, port: u16) -> BoxStatus {
        let set_up = state.auth.is_set_up(&state.store).await.unwrap_or(false);
        let name = state.lan.name();
        BoxStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            state: "running".to_string(),
            name_url: name.url(port),
            name_notice: name.notice,
            address_urls: address_urls(&interface_addresses(), port),
            setup_code: if set_up {
                None
            } else {
                state.auth.setup.code().map(str::to_string)
            },
            written_at: jiff::Timestamp::now().as_second(),
        }
    }

    /// Reads the file; `None` when it is missing or unreadable (Hearth has
    /// not started yet).
    pub fn read(path: &Path) -> Option<BoxStatus> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the file whole (a new file renamed over the old one), readable
    /// by the console's group.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let partial = path.with_extension("partial");
        std::fs::write(&partial, serde_json::to_vec_pretty(self)?)?;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o640))?;
        std::fs::rename(&partial, path)
    }
}

/// Keeps the status file current until the task is dropped.
pub async fn keep(state: AppState, path: PathBuf, port: u16) {
    let mut ticks = tokio::time::interval(EVERY);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let status = BoxStatus::now(&state, port).await;
        match status.write(&path) {
            Ok(()) => failing = false,
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(path = %path.display(), error = %err, "cannot write the status file the box's screen shows");
            }
            Err(_) => {}
        }
    }
}

/// Marks the file as stopping, so the screen does not say "not answering"
/// during a planned restart.
pub fn mark_stopping(path: &Path) {
    if let Some(mut status) = BoxStatus::read(path) {
        status.state = "stopping".to_string();
        status.written_at = jiff::Timestamp::now().as_second();
        let _ = status.write(path);
    }
}

/// The box's own addresses on the office network (no loopback), IPv4
/// first: what people type when `.local` names do not work.
pub fn interface_addresses() -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|interfaces| interfaces.iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    found.retain(|ip| ip.is_ipv4() && !ip.is_loopback());
    found.sort();
    found.dedup();
    found
}

/// `http://<address>[:port]` for each address, at most four.
pub fn address_urls(addresses: &[IpAddr], port: u16) -> Vec<String> {
    let port = match port {
        80 => String::new(),
        port => format!(":{port}"),
    };
    addresses
        .iter()
        .take(4)
        .map(|ip| match ip {
            IpAddr::V6(v6) => format!("http://[{v6}]{port}"),
            IpAddr::V4(v4) => format!("http://{v4}{port}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        assert_eq!(BoxStatus::read(&path), None, "no file yet");
        let status = BoxStatus {
            version: "1.0".into(),
            state: "running".into(),
            name_url: Some("http://hearth.local".into()),
            address_urls: address_urls(&["192.168.1.20".parse().unwrap()], 80),
            setup_code: Some("ABCD-EFGH-JKMN".into()),
            ..BoxStatus::default()
        };
        status.write(&path).unwrap();
        assert_eq!(BoxStatus::read(&path).as_ref(), Some(&status));
        assert_eq!(status.address_urls, ["http://192.168.1.20"]);
        mark_stopping(&path);
        assert_eq!(BoxStatus::read(&path).unwrap().state, "stopping");
        assert!(!dir.path().join("status.partial").exists());
        std::fs::write(&path, "{ half").unwrap();
        assert_eq!(BoxStatus::read(&path), None, "a torn file reads as none");
    }
}
