//! Which addresses a request may reach, checked on the URL (an address
//! written in it) and on every address a name resolves to, at connection
//! time ([`Resolver`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where a request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reach {
    /// Public addresses only: the cloud model, unless the owner said its
    /// endpoint is on the office network.
    Internet,
    /// Also the office network and this machine (a model server on the LAN,
    /// a file on the office's NAS, the tests' local servers). Never
    /// link-local, multicast or unspecified addresses.
    Lan,
    /// This machine only (loopback): Hearth talking to itself.
    ThisBox,
}

/// A name resolved only to addresses the reach does not allow.
#[derive(Debug)]
pub struct NotAllowed(pub String);

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotAllowed {}

impl Reach {
    /// Whether `ip` may be connected to.
    pub fn allows(self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if is_never(ip) {
            return false;
        }
        match self {
            Reach::Lan => true,
            Reach::Internet => !is_local(ip),
            Reach::ThisBox => ip.is_loopback(),
        }
    }

    /// Checks a URL before anything is sent: http or https, a host, and an
    /// allowed address when the host is one. The reason, when not.
    pub fn check_url(self, url: &reqwest::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https addresses can be used, not {}:",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an address with a user name or password in it is not used; give the key separately".into());
        }
        let host = match url.host() {
            None => return Err("the address has no host".into()),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if self == Reach::Internet
                    && (name == "localhost"
                        || name.ends_with(".localhost")
                        || name.ends_with(".local"))
                {
                    return Err(format!(
                        "{name} is on this box or the office network; allow a local endpoint to use it"
                    ));
                }
                return Ok(());
            }
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        };
        if self.allows(host) {
            Ok(())
        } else {
            Err(self.refusal(host))
        }
    }

    fn refusal(self, ip: IpAddr) -> String {
        if is_never(canonical(ip)) {
            format!(
                "{ip} is a link-local, multicast or unspecified address, which Hearth never contacts"
            )
        } else {
            format!("{ip} is on this box or the office network; allow a local endpoint to use it")
        }
    }
}

/// IPv4 addresses written as IPv6 (`::ffff:10.0.0.1`) are judged as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Never contacted: link-local (169.254.169.254 is where cloud machines
/// keep their credentials), multicast, broadcast, unspecified.
fn is_never(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_link_local() || v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => is_v6_link_local(v6) || v6.is_multicast() || v6.is_unspecified(),
    }
}

/// This machine or a private network: loopback, RFC 1918, shared address
/// space (carrier NAT), benchmarking and documentation ranges, IPv6 unique
/// local addresses.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a == 0
                || a >= 240
                || is_documentation_v4(v4)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6.segments()[0] == 0x2001 && v6.segments()[1] == 0xdb8
        }
    }
}

fn is_documentation_v4(v4: Ipv4Addr) -> bool {
    matches!(
        v4.octets(),
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _]
    )
}

fn is_v6_link_local(v6: Ipv6Addr) -> bool {
    (v6.segments()[0] & 0xffc0) == 0xfe80
}

/// Resolves names for the outbound client and keeps only the addresses the
/// reach allows; none left is an error that names the address.
pub struct Resolver(pub Reach);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let reach = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| reach.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let why = match found.first() {
                    Some(a) => format!("{host} is at {}: {}", a.ip(), reach.refusal(a.ip())),
                    None => format!("{host} has no address"),
                };
                return Err(Box::new(NotAllowed(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reach: Reach, url: &str, allowed: bool) {
        let url = reqwest::Url::parse(url).unwrap();
        assert_eq!(reach.check_url(&url).is_ok(), allowed, "{reach:?} {url}");
    }

    #[test]
    fn the_internet_reach_refuses_local_and_tricky_addresses() {
        for (url, internet, lan) in [
            ("https://api.openai.com/v1", true, true),
            ("https://93.184.216.34/v1", true, true),
            ("http://127.0.0.1:8080/v1", false, true),
            ("http://[::1]/v1", false, true),
            ("http://10.0.0.5/v1", false, true),
            ("http://192.168.1.20:11434/v1", false, true),
            ("http://172.16.3.4/v1", false, true),
            ("http://100.64.0.1/", false, true),
            ("http://[fd00::1]/", false, true),
            ("http://[::ffff:10.0.0.1]/", false, true),
            ("http://localhost:8080/v1", false, true),
            ("http://nas.local/models/x.gguf", false, true),
            ("http://169.254.169.254/latest/meta-data", false, false),
            ("http://[fe80::1]/", false, false),
            ("http://0.0.0.0/", false, false),
            ("http://224.0.0.1/", false, false),
            ("ftp://example.com/", false, false),
            ("file:///etc/passwd", false, false),
            ("https://user:pw@example.com/", false, false),
        ] {
            check(Reach::Internet, url, internet);
            check(Reach::Lan, url, lan);
        }
    }
}
