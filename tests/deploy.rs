//! Deployment files are code: the systemd unit keeps its hardening.

use std::collections::HashMap;

fn unit() -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/hearth.service"
    ))
    .unwrap();
    let mut entries: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        entries
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    entries
}

#[test]
fn systemd_unit_is_hardened() {
    let unit = unit();
    let one = |key: &str| {
        unit.get(key)
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(one("User"), "hearth", "never root");
    assert!(one("ExecStart").starts_with("/usr/bin/hearth serve"));
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("StateDirectory", "hearth"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert!(
        unit["SystemCallFilter"]
            .iter()
            .any(|f| f == "@system-service")
    );
    assert!(
        !unit.contains_key("PrivateUsers"),
        "PrivateUsers drops CAP_NET_BIND_SERVICE"
    );
}
