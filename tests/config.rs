//! The example configuration is valid and documents every setting.

use hearth::config::Config;

fn example() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml")).unwrap()
}

#[test]
fn example_config_parses_and_validates() {
    let config = Config::from_toml(&example()).unwrap();
    config.validate().unwrap();
    assert_eq!(config.data_dir, std::path::PathBuf::from("/var/lib/hearth"));
    assert_eq!(config.server.listen.port(), 80);
    let defaults = Config::default();
    assert_eq!(config.auth, defaults.auth, "the example shows the defaults");
    assert_eq!(config.log, defaults.log);
}

#[test]
fn example_config_mentions_every_setting() {
    let defaults: toml::Table = toml::from_str(&Config::default().to_toml()).unwrap();
    let example: toml::Table = toml::from_str(&example()).unwrap();
    for (key, value) in &defaults {
        assert!(example.contains_key(key), "config.example.toml lacks {key}");
        if let toml::Value::Table(section) = value {
            for inner in section.keys() {
                assert!(
                    example[key].as_table().unwrap().contains_key(inner),
                    "config.example.toml lacks {key}.{inner}"
                );
            }
        }
    }
}

#[test]
fn bad_values_fail_with_a_fix() {
    let cases = [
        ("[auth]\nmin_password_length = 6", "at least 12"),
        ("[server]\nmax_request_bytes = 10", "at least 4096"),
        ("[log]\nfilter = \"[[[\"", "not a valid filter"),
        ("[audit]\nrepeat_window_minutes = 5000", "0 to 1440"),
        ("[appliance]\nname = \"Front Desk\"", "lowercase letters"),
        ("[appliance]\nmdns = \"maybe\"", "unknown variant"),
        (
            "[server]\nallowed_hosts = [\"http://x/\"]",
            "without a port",
        ),
    ];
    for (text, fragment) in cases {
        let err = Config::from_toml(text)
            .and_then(|c| c.validate().map(|_| c))
            .unwrap_err();
        assert!(format!("{err:#}").contains(fragment), "{text}: {err:#}");
    }
    let err = Config::from_toml("[server]\nlisten_port = 80").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown field"),
        "typos are errors: {err:#}"
    );
}
