//! The box on the office network by name: Hearth answers multicast DNS for
//! `<name>.local` (the appliance's `hearth.local`) and announces its web
//! service as `_http._tcp`, so browsers, phones and printers' neighbours
//! find it without anyone touching the router.
//!
//! Why in-process (mdns-sd) rather than avahi: Hearth must know the name it
//! actually got, to show it on the screen and on Admin → System; with avahi
//! that would take D-Bus and a second daemon with its own attack surface.
//! mdns-sd probes and resolves clashes as RFC 6762 section 9 says: when
//! another device already answers to `hearth.local`, it takes
//! `hearth-2.local` and tells us, and we tell the owner.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use mdns_sd::{DaemonEvent, HostnameResolutionEvent, ServiceDaemon, ServiceInfo};
use serde::Serialize;

/// What the box is called on the network now; cheap to clone, clones share.
#[derive(Clone, Default)]
pub struct Lan {
    name: Arc<RwLock<LanName>>,
    daemon: Arc<RwLock<Option<ServiceDaemon>>>,
}

/// The name, as the pages and the screen show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LanName {
    /// The configured name, without `.local` ("hearth").
    pub wanted: String,
    /// The host name being announced ("hearth.local", or "hearth-2.local"
    /// after a clash); `None` while Hearth does not announce itself.
    pub announced: Option<String>,
    /// Why the name is not the one configured, or why announcing failed,
    /// in words for the owner.
    pub notice: Option<String>,
}

impl LanName {
    /// The address staff should open, when Hearth announces one.
    pub fn url(&self, port: u16) -> Option<String> {
        let host = self.announced.as_ref()?;
        Some(match port {
            80 => format!("http://{host}"),
            port => format!("http://{host}:{port}"),
        })
    }
}

impl Lan {
    /// The name as it stands.
    pub fn name(&self) -> LanName {
        self.name.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts answering for `<wanted>.local` and announcing the web service
    /// on `port`, on every interface, following the box's addresses as DHCP
    /// changes them. Name clashes are resolved in the background.
    pub fn announce(&self, wanted: &str, port: u16) -> anyhow::Result<()> {
        let daemon = ServiceDaemon::new().context("cannot start multicast DNS")?;
        let host = format!("{wanted}.local.");
        let service = ServiceInfo::new(
            "_http._tcp.local.",
            "Hearth",
            &host,
            "",
            port,
            &[("path", "/")][..],
        )
        .context("cannot describe the web service for multicast DNS")?
        .enable_addr_auto();
        let events = daemon.monitor().context("cannot follow multicast DNS")?;
        daemon
            .register(service)
            .context("cannot announce the web service by multicast DNS")?;
        self.update(|name| {
            name.wanted = wanted.to_string();
            name.announced = Some(format!("{wanted}.local"));
            name.notice = None;
        });
        *self.daemon.write().unwrap_or_else(|p| p.into_inner()) = Some(daemon);
        tracing::info!(name = %format!("{wanted}.local"), port, "announcing Hearth by multicast DNS");
        let lan = self.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv_async().await {
                lan.apply(&event);
            }
        });
        Ok(())
    }

    /// Records that announcing could not start (the name stays unannounced).
    pub fn failed(&self, wanted: &str, err: &anyhow::Error) {
        tracing::error!(error = %format!("{err:#}"), "multicast DNS is off: the box is reachable by its address only");
        self.update(|name| {
            name.wanted = wanted.to_string();
            name.announced = None;
            name.notice = Some(format!(
                "{wanted}.local is not announced on the network ({err:#}); open Hearth by its address."
            ));
        });
    }

    /// Says goodbye on the network, so others forget the name at once.
    pub fn stop(&self) {
        if let Some(daemon) = self
            .daemon
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = daemon.shutdown();
        }
    }

    /// Follows the responder's news: a clash resolved by a new host name.
    fn apply(&self, event: &DaemonEvent) {
        match event {
            DaemonEvent::NameChange(change) => {
                let Some(host) = host_name_after_clash(&change.original, &change.new_name) else {
                    return;
                };
                tracing::warn!(
                    wanted = %change.original.trim_end_matches('.'),
                    now = %host,
                    "another device on the network already answers to this name; Hearth answers to the new one"
                );
                self.update(|name| {
                    let wanted = format!("{}.local", name.wanted);
                    name.notice = Some(format!(
                        "Another device on the network already answers to {wanted}, so this box is {host}. Rename or remove the other device, or choose another name in [appliance] name."
                    ));
                    name.announced = Some(host);
                });
            }
            DaemonEvent::Error(err) => {
                tracing::warn!(error = %err, "multicast DNS trouble");
            }
            _ => {}
        }
    }

    fn update(&self, change: impl FnOnce(&mut LanName)) {
        change(&mut self.name.write().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The new host name after a clash, when the change is to a host name
/// (`hearth.local.` → `hearth-2.local`); service-instance renames
/// (`Hearth (2)`) do not change what staff open.
fn host_name_after_clash(original: &str, new_name: &str) -> Option<String> {
    let original = original.trim_end_matches('.');
    let new_name = new_name.trim_end_matches('.');
    let (base, _) = original.rsplit_once(".local")?;
    let rest = new_name.strip_prefix(base)?.strip_suffix(".local")?;
    let digits = rest.strip_prefix('-')?;
    (!digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())).then(|| new_name.to_string())
}

/// Looks `host` (`hearth.local`) up by multicast DNS, as a phone would, for
/// up to `timeout`: the addresses that answered, empty if none did.
pub fn resolve(host: &str, timeout: Duration) -> anyhow::Result<Vec<IpAddr>> {
    let host = format!("{}.", host.trim_end_matches('.'));
    let daemon = ServiceDaemon::new().context("cannot start multicast DNS")?;
    let events = daemon
        .resolve_hostname(&host, Some(timeout.as_millis() as u64))
        .with_context(|| format!("cannot look up {host}"))?;
    let deadline = std::time::Instant::now() + timeout + Duration::from_secs(1);
    let mut found = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match events.recv_timeout(left) {
            Ok(HostnameResolutionEvent::AddressesFound(_, addresses)) => {
                found.extend(addresses.iter().map(|a| a.to_ip_addr()));
                break;
            }
            Ok(HostnameResolutionEvent::SearchTimeout(_))
            | Ok(HostnameResolutionEvent::SearchStopped(_))
            | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = daemon.shutdown();
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_name_changes_rename_the_box() {
        let check = |original: &str, new: &str, expected: Option<&str>| {
            assert_eq!(
                host_name_after_clash(original, new).as_deref(),
                expected,
                "{original} -> {new}"
            );
        };
        check("hearth.local.", "hearth-2.local.", Some("hearth-2.local"));
        check("hearth.local.", "hearth-13.local.", Some("hearth-13.local"));
        check(
            "front-desk.local.",
            "front-desk-2.local.",
            Some("front-desk-2.local"),
        );
        check(
            "Hearth._http._tcp.local.",
            "Hearth (2)._http._tcp.local.",
            None,
        );
        check("hearth.local.", "other.local.", None);
    }

    #[test]
    fn a_clash_is_told_to_the_owner() {
        let lan = Lan::default();
        lan.update(|name| {
            name.wanted = "hearth".into();
            name.announced = Some("hearth.local".into());
        });
        assert_eq!(lan.name().url(80).as_deref(), Some("http://hearth.local"));
        lan.apply(&DaemonEvent::NameChange(mdns_sd::DnsNameChange {
            original: "hearth.local.".into(),
            new_name: "hearth-2.local.".into(),
            rr_type: mdns_sd::RRType::A,
            intf_name: "eth0".into(),
        }));
        let name = lan.name();
        assert_eq!(name.announced.as_deref(), Some("hearth-2.local"));
        assert_eq!(
            name.url(8080).as_deref(),
            Some("http://hearth-2.local:8080")
        );
        let notice = name.notice.unwrap();
        assert!(
            notice.contains("already answers to hearth.local"),
            "{notice}"
        );
    }
}
