//! Admin → Assistant as an office owner uses it: presets that work without
//! JavaScript, "Custom" when the numbers match none, help and errors that
//! name each field and its range, a history that says what each version
//! changed (the system prompt as an escaped line diff), and "Restore factory
//! settings" as a version of its own that can be rolled back.

use hearth::chat::assistant::{AssistantSettings, Preset, SETTING_KEY};
use reqwest::StatusCode;
use scraper::Html;

use crate::common::*;

/// The form as the page shows it for `settings` with `preset` picked: what
/// a browser without JavaScript sends.
fn form_for<'a>(
    settings: &'a AssistantSettings,
    shown: &'a str,
    preset: &'a str,
    numbers: &'a [String; 5],
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("preset_shown", shown),
        ("preset", preset),
        ("system_prompt", settings.system_prompt.as_str()),
        ("temperature", numbers[0].as_str()),
        ("top_p", numbers[1].as_str()),
        ("max_answer_tokens", numbers[2].as_str()),
        ("context_per_chat", numbers[3].as_str()),
        ("parallel", numbers[4].as_str()),
    ]
}

fn numbers(settings: &AssistantSettings) -> [String; 5] {
    [
        settings.temperature.to_string(),
        settings.top_p.to_string(),
        settings.max_answer_tokens.to_string(),
        settings.context_per_chat.to_string(),
        settings.parallel.to_string(),
    ]
}

fn checked_preset(html: &Html) -> String {
    select_attr(html, "input[name=preset][checked]", "value")
}

/// The changes listed for the newest version.
fn newest_changes(html: &Html) -> Vec<String> {
    select_all_text(html, "#history > li:first-child .changes li")
}

async fn parse(response: reqwest::Response) -> Html {
    Html::parse_document(&response.text().await.unwrap())
}

async fn versions(server: &TestServer) -> usize {
    server
        .state
        .store
        .setting_history(SETTING_KEY, 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_preset_picked_without_javascript_is_applied_and_custom_numbers_are_detected() {
    let (server, owner) = TestServer::with_owner().await;
    let factory = server.state.chat.assistant();
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(checked_preset(&html), "balanced");
    assert_eq!(
        select_attr(&html, "input[name=preset_shown]", "value"),
        "balanced"
    );
    assert!(
        select_all_text(&html, "#advanced[open]").is_empty(),
        "Advanced starts closed"
    );
    // The cards carry the server's numbers for the script.
    let precise = Preset::Precise.sampling();
    assert_eq!(
        select_attr(&html, "input[value=precise]", "data-temperature"),
        precise.temperature.to_string()
    );
    assert_eq!(
        select_attr(&html, "input[value=precise]", "data-top-p"),
        precise.top_p.to_string()
    );
    assert!(select_text(&html, "#presets").contains("best for policies, numbers and letters"));

    // Precise picked; the numbers still show Balanced's (no script ran).
    let shown = numbers(&factory);
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&factory, "balanced", "precise", &shown),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let settings = server.state.chat.assistant();
    assert_eq!((settings.temperature, settings.top_p), (0.2, 0.8));
    assert_eq!(settings.preset(), Some(Preset::Precise));
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(checked_preset(&html), "precise");
    assert_eq!(select_attr(&html, "#temperature", "value"), "0.2");
    assert_eq!(
        newest_changes(&html),
        [
            "Preset Balanced → Precise",
            "Temperature 0.7 → 0.2",
            "Top-p 0.9 → 0.8"
        ]
    );

    // Precise left as it was, the temperature changed under Advanced: the
    // numbers win and the page calls them Custom.
    let mut typed = numbers(&settings);
    typed[0] = "0.45".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "precise", "precise", &typed),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.state.chat.assistant().temperature, 0.45);
    assert_eq!(server.state.chat.assistant().preset(), None);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(checked_preset(&html), "custom");
    assert_eq!(select_all_text(&html, "#advanced[open]").len(), 1);
    assert_eq!(
        newest_changes(&html),
        ["Preset Precise → Custom", "Temperature 0.2 → 0.45"]
    );

    // Custom numbers that happen to be Creative's are Creative.
    let settings = server.state.chat.assistant();
    let mut typed = numbers(&settings);
    typed[0] = "1.0".into();
    typed[1] = "0.95".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "custom", "custom", &typed),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(checked_preset(&html), "creative");

    // A preset picked together with a longer answer: both apply.
    let settings = server.state.chat.assistant();
    let mut typed = numbers(&settings);
    typed[2] = "700".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "creative", "balanced", &typed),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let settings = server.state.chat.assistant();
    assert_eq!(settings.preset(), Some(Preset::Balanced));
    assert_eq!(settings.max_answer_tokens, 700);

    // Something that is no preset is refused, naming the choices.
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "balanced", "wild", &numbers(&settings)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        select_text(&parse(response).await, ".error"),
        "Choose Precise, Balanced, Creative or Custom."
    );
    assert_eq!(versions(&server).await, 4);
}

#[tokio::test]
async fn every_field_has_visible_help_and_errors_name_the_field_and_its_range() {
    let (server, owner) = TestServer::with_owner().await;
    let factory = server.state.chat.assistant();
    let (_, html) = owner.page("/admin/assistant").await;
    for field in [
        "system_prompt",
        "temperature",
        "top_p",
        "max_answer_tokens",
        "context_per_chat",
        "parallel",
    ] {
        let help = select_text(&html, &format!("#{field}_help"));
        assert!(
            help.contains("Safe: ") && help.contains("Allowed: "),
            "{field}: {help}"
        );
        assert_eq!(
            select_attr(&html, &format!("#{field}"), "aria-describedby"),
            format!("{field}_help")
        );
    }
    assert!(select_text(&html, "#temperature_help").contains("Allowed: 0 to 2."));
    assert!(
        select_text(&html, "#context_per_chat_help").contains("Allowed: 256 to 131,072 tokens.")
    );

    let long_prompt = "x".repeat(8001);
    let cases: [(&str, &str, &str); 9] = [
        ("temperature", "2.5", "Temperature must be between 0 and 2."),
        (
            "temperature",
            "warm",
            "Temperature must be a number from 0 to 2.",
        ),
        ("top_p", "0", "Top-p must be between 0.05 and 1."),
        (
            "max_answer_tokens",
            "9000",
            "Longest answer must be between 16 and 8,192 tokens.",
        ),
        (
            "max_answer_tokens",
            "1500",
            "Longest answer may use at most half of the context: up to 1,024 tokens with 2,048 tokens of context per chat.",
        ),
        (
            "context_per_chat",
            "128",
            "Context per chat must be between 256 and 131,072 tokens.",
        ),
        (
            "parallel",
            "0",
            "Chats answered at once must be between 1 and 64.",
        ),
        (
            "parallel",
            "2.5",
            "Chats answered at once must be a number from 1 to 64.",
        ),
        (
            "system_prompt",
            long_prompt.as_str(),
            "System prompt is limited to 8,000 characters.",
        ),
    ];
    let shown = numbers(&factory);
    for (field, value, message) in cases {
        let mut fields = form_for(&factory, "balanced", "balanced", &shown)
            .into_iter()
            .filter(|(name, _)| *name != field)
            .collect::<Vec<_>>();
        fields.push((field, value));
        let response = owner.post_form("/admin/assistant", &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{field}={value}"
        );
        let html = parse(response).await;
        assert_eq!(select_text(&html, ".error"), message, "{field}={value}");
        assert_eq!(select_text(&html, &format!("#{field}_error")), message);
        assert_eq!(
            select_attr(&html, &format!("#{field}"), "aria-describedby"),
            format!("{field}_error {field}_help")
        );
        assert_eq!(
            select_attr(&html, "[aria-invalid=true]", "id"),
            field,
            "{field}={value}"
        );
        if field != "system_prompt" {
            // What was typed is shown again, in the opened Advanced part.
            assert_eq!(select_attr(&html, &format!("#{field}"), "value"), value);
            assert_eq!(select_all_text(&html, "#advanced[open]").len(), 1);
        }
    }
    assert_eq!(server.state.chat.assistant(), factory);
    assert_eq!(versions(&server).await, 0);

    // A preset picked in a form that fails stays picked, with its numbers,
    // and the prompt typed is kept.
    let mut typed = numbers(&factory);
    typed[2] = "5000".into();
    let mut settings = factory.clone();
    settings.system_prompt = "Only facts.".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "balanced", "precise", &typed),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = parse(response).await;
    assert_eq!(checked_preset(&html), "precise");
    assert_eq!(
        select_attr(&html, "input[name=preset_shown]", "value"),
        "precise"
    );
    assert_eq!(select_attr(&html, "#temperature", "value"), "0.2");
    assert_eq!(select_text(&html, "#system_prompt"), "Only facts.");
}

#[tokio::test]
async fn the_history_shows_the_system_prompt_as_an_escaped_line_diff() {
    let (server, owner) = TestServer::with_owner().await;
    let factory = server.state.chat.assistant();
    let mut settings = factory.clone();
    settings.system_prompt =
        "You help {business}.\nNever give legal advice.\n<script>alert(1)</script>".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&settings, "balanced", "balanced", &numbers(&settings)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mut next = settings.clone();
    next.system_prompt =
        "You help {business}.\nNever give legal or tax advice.\n<script>alert(1)</script>".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&next, "balanced", "balanced", &numbers(&next)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let body = owner.get("/admin/assistant").await.text().await.unwrap();
    assert!(!body.contains("<script>alert"), "markup must be escaped");
    let html = Html::parse_document(&body);
    assert!(select_all_text(&html, ".diff script").is_empty());
    let newest = "#history > li:first-child";
    assert_eq!(
        select_text(&html, &format!("{newest} .version-number")),
        "2"
    );
    assert_eq!(select_text(&html, &format!("{newest} .who")), "olivia");
    assert!(!select_text(&html, &format!("{newest} .version-meta")).is_empty());
    assert_eq!(
        select_all_text(&html, &format!("{newest} .diff .diff-line")),
        [
            "You help {business}.",
            "Removed: Never give legal advice.",
            "Added: Never give legal or tax advice.",
            "<script>alert(1)</script>",
        ]
    );
    assert!(select_all_text(&html, &format!("{newest} .changes li")).is_empty());
    // The first version is compared with the factory settings.
    let first = "#history > li:nth-child(2)";
    assert_eq!(
        select_text(&html, &format!("{first} .help")),
        "Compared with the factory settings."
    );
    assert_eq!(
        select_all_text(&html, &format!("{first} .diff ins")),
        [
            "Added: You help {business}.",
            "Added: Never give legal advice.",
            "Added: <script>alert(1)</script>",
        ]
    );
    assert_eq!(
        select_all_text(&html, &format!("{first} .diff del")),
        [format!("Removed: {}", factory.system_prompt)]
    );

    // A version that cannot be read (written by hand, say) is shown as such,
    // without a Restore button; the one after it says its changes are unknown.
    let store = &server.state.store;
    store
        .set_setting(SETTING_KEY, "not json".into(), None)
        .await
        .unwrap();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&factory, "balanced", "precise", &numbers(&factory)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(
        select_text(&html, "#version-3 .error-text"),
        "This version cannot be read."
    );
    assert_eq!(select_text(&html, "#version-3 .who"), "console");
    assert!(select_all_text(&html, "#version-3 form").is_empty());
    assert_eq!(
        select_text(&html, "#version-4 .muted"),
        "The version before it cannot be read, so what changed is not known."
    );
    assert_eq!(
        select_all_text(&html, "#version-2 form button"),
        ["Restore"]
    );
}

#[tokio::test]
async fn restoring_factory_settings_is_an_audited_version_that_can_be_rolled_back() {
    let (server, owner) = TestServer::with_owner().await;
    let factory = AssistantSettings::defaults(&server.state.config);
    assert_eq!(server.state.chat.assistant(), factory);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(
        select_text(&html, "#factory-state"),
        "The factory settings are in use."
    );
    assert!(select_all_text(&html, "#restore-factory").is_empty());

    let mut own = factory.clone();
    own.system_prompt = "Answer in German.".into();
    let mut typed = numbers(&own);
    typed[3] = "4096".into();
    let response = owner
        .post_form(
            "/admin/assistant",
            &form_for(&own, "balanced", "creative", &typed),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let own = server.state.chat.assistant();
    assert_eq!(own.preset(), Some(Preset::Creative));
    assert_eq!(own.context_per_chat, 4096);

    let (_, html) = owner.page("/admin/assistant").await;
    let form = "form[action='/admin/assistant/factory']";
    assert!(select_attr(&html, form, "data-confirm").starts_with("Restore the factory settings?"));
    assert_eq!(
        select_text(&html, "#restore-factory"),
        "Restore factory settings"
    );

    let response = owner.post_form("/admin/assistant/factory", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/assistant");
    assert_eq!(server.state.chat.assistant(), factory);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(
        select_text(&html, ".flash"),
        "Restored the factory settings (saved as version 2)."
    );
    assert_eq!(
        select_text(&html, "#history > li:first-child .version-number"),
        "2"
    );
    assert!(
        select_all_text(&html, "#history > li:first-child .badge")
            .contains(&"Factory settings".to_string())
    );
    assert_eq!(
        newest_changes(&html),
        [
            "Preset Creative → Balanced",
            "Temperature 1 → 0.7",
            "Top-p 0.95 → 0.9",
            "Context per chat 4,096 tokens → 2,048 tokens",
        ]
    );
    assert_eq!(
        select_all_text(&html, "#history > li:first-child .diff ins"),
        [format!("Added: {}", factory.system_prompt)]
    );
    assert_eq!(
        select_text(&html, "#factory-state"),
        "The factory settings are in use."
    );

    // Once more changes nothing: the factory settings are already in use.
    let response = owner.post_form("/admin/assistant/factory", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/assistant").await;
    assert_eq!(
        select_text(&html, ".flash"),
        "The factory settings are already in use."
    );
    assert_eq!(versions(&server).await, 2);

    // Rolled back like any version.
    let response = owner.post_form("/admin/assistant/restore/1", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.state.chat.assistant(), own);
    assert_eq!(versions(&server).await, 3);

    let changes = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some("settings.changed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .records;
    let details: Vec<_> = changes.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "version 3, restored from version 1",
            "version 2, factory settings",
            "version 1"
        ]
    );
    assert!(
        changes
            .iter()
            .all(|r| r.actor == "olivia" && r.target == "assistant")
    );

    // Staff may not.
    let staff = server.user(&owner, "sam", "staff").await;
    let response = staff.post_form("/admin/assistant/factory", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.state.chat.assistant(), own);
}
