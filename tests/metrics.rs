//! `/metrics` for a monitoring server (issue 15): off (404) until the owner
//! makes a token on Admin → System; 401 without it or with a wrong one;
//! with it, a body that parses as OpenMetrics and says what it should.

use std::collections::HashMap;

use reqwest::StatusCode;

use crate::common::*;

/// Checks the OpenMetrics text rules this body must keep: families declared
/// by `# TYPE` before their samples, sample names that belong to their
/// family, well-formed labels, numeric values, no blank lines, and `# EOF`
/// last. Returns each sample's value by its name and labels.
fn parse_openmetrics(body: &str) -> HashMap<String, f64> {
    assert!(body.ends_with("# EOF\n"), "ends with # EOF");
    let lines: Vec<&str> = body.lines().collect();
    let mut family: Option<(String, String)> = None;
    let mut declared = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for (i, line) in lines.iter().enumerate() {
        assert!(!line.is_empty(), "blank line {i}");
        if *line == "# EOF" {
            assert_eq!(i, lines.len() - 1, "# EOF is last");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, value) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap_or(""),
            );
            assert!(name_ok(name), "family name {name}");
            match keyword {
                "TYPE" => {
                    assert!(
                        ["gauge", "counter", "info", "stateset", "unknown"].contains(&value),
                        "type {value}"
                    );
                    assert!(declared.insert(name.to_string()), "{name} declared twice");
                    family = Some((name.to_string(), value.to_string()));
                }
                "UNIT" => assert!(
                    name.ends_with(&format!("_{value}")),
                    "{name} ends with its unit"
                ),
                "HELP" => assert!(!value.is_empty()),
                other => panic!("unknown keyword {other}"),
            }
            continue;
        }
        let (family_name, kind) = family.clone().expect("a sample after a # TYPE");
        let (series, value) = line.rsplit_once(' ').expect("name and value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let name = series.split('{').next().unwrap();
        let expected = match kind.as_str() {
            "counter" => format!("{family_name}_total"),
            "info" => format!("{family_name}_info"),
            _ => family_name.clone(),
        };
        assert_eq!(name, expected, "{line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').expect("label=value");
                assert!(
                    name_ok(k) && v.starts_with('"') && v.ends_with('"'),
                    "{line}"
                );
            }
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

#[tokio::test]
async fn metrics_need_the_owners_token_and_speak_openmetrics() {
    let (server, owner) = TestServer::with_owner().await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", server.base);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let response = owner
        .post_form("/admin/system/metrics", &[("action", "new")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    let token = select_text(&html, "#metrics-token code");
    assert!(token.starts_with("hmt_"), "{token}");
    assert!(select_text(&html, "#metrics-state").starts_with("On"));

    let bare = http.get(&url).send().await.unwrap();
    let status = bare.status();
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "{}",
        bare.text().await.unwrap()
    );
    let wrong = http
        .get(&url)
        .bearer_auth("hmt_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // A person's API key is not a monitoring token.
    let key = owner.api_key("me").await;
    assert_eq!(
        http.get(&url)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let body = response.text().await.unwrap();
    let samples = parse_openmetrics(&body);
    assert_eq!(samples["hearth_users"], 1.0, "{body}");
    assert!(samples["hearth_disk_size_bytes"] > 0.0);
    assert!(samples["process_resident_memory_bytes"] > 0.0);
    assert!(samples["hearth_audit_entries_total"] >= 1.0);
    assert_eq!(
        samples[&format!(
            "hearth_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )],
        1.0
    );
    let states: f64 = samples
        .iter()
        .filter(|(k, _)| k.starts_with("hearth_model_state{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(states, 1.0, "exactly one model state is set: {body}");

    // Turned off: gone again, and both changes are audited.
    let response = owner
        .post_form("/admin/system/metrics", &[("action", "off")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        http.get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let audited = server.audit_of("settings.changed").await;
    assert!(
        audited
            .iter()
            .any(|a| a.target == "metrics.token" && a.detail.contains("turned off"))
    );
    assert!(
        audited.iter().all(|a| !a.detail.contains("hmt_")),
        "the token is never logged"
    );
}
