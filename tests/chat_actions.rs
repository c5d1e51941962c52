//! Chat that feels finished (issue 12): an answer goes on when its page
//! leaves and a page that comes back follows it; Regenerate, Edit-and-resend
//! and Continue, with and without JavaScript; conversations get titles that
//! are titles. With the real model when HEARTH_TEST_MODEL names it, with the
//! scripted engine otherwise.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::*;

/// Posts a page form as the page's script does (asking for events) and
/// returns the events.
async fn stream_form(client: &Client, path: &str, fields: &[(&str, &str)]) -> EventReader {
    let token = client.csrf().await;
    let response = client
        .http
        .post(client.url(path))
        .header("accept", "text/event-stream")
        .header("x-csrf-token", &token)
        .form(fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    EventReader::new(response)
}

/// Follows `/chat/{id}/stream` to its end.
async fn follow(client: &Client, conversation: &str) -> Vec<(String, String)> {
    let response = client
        .http
        .get(client.url(&format!("{conversation}/stream")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(120), EventReader::new(response).all())
        .await
        .expect("the followed answer ends")
}

fn done_of(events: &[(String, String)]) -> Value {
    let (_, data) = events
        .iter()
        .find(|(name, _)| name == "done")
        .unwrap_or_else(|| panic!("no done event in {events:?}"));
    serde_json::from_str(data).unwrap()
}

/// The messages of a conversation as the page shows them: (id, class, text).
async fn messages(client: &Client, conversation: &str) -> Vec<(String, String, String)> {
    let (_, html) = client.page(conversation).await;
    let selector = scraper::Selector::parse("#messages li.message").unwrap();
    let bubble = scraper::Selector::parse(".bubble").unwrap();
    html.select(&selector)
        .map(|li| {
            (
                li.value().attr("data-id").unwrap_or_default().to_string(),
                li.value().attr("class").unwrap_or_default().to_string(),
                li.select(&bubble)
                    .next()
                    .map(|b| b.text().collect::<String>())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn cap_answers(server: &TestServer, tokens: u32) {
    let mut settings = server.state.chat.assistant();
    settings.max_answer_tokens = tokens;
    server.state.chat.set_assistant(settings);
}

/// Issue 12: navigating away marked the answer "Stopped". It goes on; the
/// page shows it streaming again when its person comes back, and only Stop
/// stops it.
#[tokio::test]
async fn an_answer_goes_on_after_its_page_leaves_and_a_returning_page_follows_it() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let mut events = stream_form(
        &owner,
        "/chat/new",
        &[(
            "content",
            "Write a very long story about a lighthouse keeper, with many chapters.",
        )],
    )
    .await;
    let (_, data) = events.next().await.unwrap();
    let url = serde_json::from_str::<Value>(&data).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    loop {
        let (name, _) = events.next().await.expect("the answer starts");
        if name == "token" {
            break;
        }
    }
    // The person opens another conversation: the tab's stream goes away.
    drop(events);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Coming back: the page says the answer is being written and where to follow it.
    let (_, html) = owner.page(&url).await;
    let follow_url = select_attr(&html, "#messages li.from-assistant", "data-follow");
    assert_eq!(follow_url, format!("{url}/stream"));
    assert!(select_attr(&html, "#messages li.from-assistant", "class").contains("status-writing"));
    let sidebar = select_text(&html, "#conversation-list");
    assert!(sidebar.contains("answering"), "{sidebar}");
    // No Regenerate or Edit while it is being written.
    assert!(select_all_text(&html, "form.answer-again").is_empty());
    assert!(select_all_text(&html, ".edit-question").is_empty());

    // Following it: what was written so far at once, then more, then done
    // when Stop is pressed.
    let token = owner.csrf().await;
    let response = owner
        .http
        .get(owner.url(&follow_url))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut followed = EventReader::new(response);
    let (name, data) = followed.next().await.unwrap();
    assert_eq!(name, "question", "{data}");
    let (name, data) = followed.next().await.unwrap();
    assert_eq!(name, "token");
    let snapshot: Value = serde_json::from_str(&data).unwrap();
    let so_far = snapshot["html"].as_str().unwrap();
    assert!(
        so_far.starts_with("<p>") && so_far.len() > 10,
        "the text so far: {snapshot}"
    );
    let (name, _) = followed.next().await.unwrap();
    assert_eq!(name, "token", "and then the answer goes on");
    let response = owner
        .http
        .post(owner.url(&format!("{url}/stop")))
        .header("x-csrf-token", &token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let rest = tokio::time::timeout(Duration::from_secs(30), followed.all())
        .await
        .unwrap();
    let done = done_of(&rest);
    assert_eq!(done["status"], "stopped");
    // The stored answer is all of it: longer than what the page found.
    assert!(done["markdown"].as_str().unwrap().len() + 7 > so_far.len());

    // Following a finished conversation gives its last answer at once.
    let again = follow(&owner, &url).await;
    assert_eq!(done_of(&again)["message_id"], done["message_id"]);

    // Nobody else can follow it.
    let other = server.user(&owner, "sam", "staff").await;
    let response = other.get(&format!("{url}/stream")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Regenerate, Edit and Continue without JavaScript (plain forms, the page
/// after the whole answer) and with it (events).
#[tokio::test]
async fn regenerate_edit_and_continue_answer_again_in_place() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let response = owner
        .post_form("/chat/new", &[("content", "Hello! Who are you?")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = location(&response).split('#').next().unwrap().to_string();
    let shown = messages(&owner, &url).await;
    assert_eq!(shown.len(), 2);
    let (question, answer) = (shown[0].0.clone(), shown[1].0.clone());
    let (_, html) = owner.page(&url).await;
    assert_eq!(
        select_attr(&html, "form.answer-again", "action"),
        format!("{url}/messages/{answer}/regenerate")
    );
    assert_eq!(
        select_attr(&html, ".edit-question form", "action"),
        format!("{url}/messages/{question}/edit")
    );
    // A complete answer cannot be continued.
    assert!(!html.html().contains("/continue"));

    // Regenerate: a new answer replaces the old one.
    let response = owner
        .post_form(&format!("{url}/messages/{answer}/regenerate"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let shown = messages(&owner, &url).await;
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0].0, question);
    assert_ne!(shown[1].0, answer, "a new answer");
    assert!(!shown[1].2.trim().is_empty());

    // A page that shows an answer that is gone since gets a clear refusal.
    let response = owner
        .post_form(&format!("{url}/messages/{answer}/regenerate"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&page, "#chat-error").contains("Reload"));

    // Edit the latest question (with the page's script: events).
    let events = stream_form(
        &owner,
        &format!("{url}/messages/{question}/edit"),
        &[(
            "content",
            "Hello again! What can you do for a dental practice?",
        )],
    )
    .await
    .all()
    .await;
    let done = done_of(&events);
    assert_eq!(done["status"], "done");
    let shown = messages(&owner, &url).await;
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0].0, question, "the question keeps its place");
    assert_eq!(
        shown[0].2,
        "Hello again! What can you do for a dental practice?"
    );
    // An empty edit is refused and changes nothing.
    let response = owner
        .post_form(
            &format!("{url}/messages/{question}/edit"),
            &[("content", "  ")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(messages(&owner, &url).await, shown);

    // Continue a cut-off answer: it grows from where it stopped.
    cap_answers(&server, 16);
    let response = owner
        .post_form(
            &format!("{url}/messages"),
            &[(
                "content",
                "Now write a long story about a lighthouse keeper.",
            )],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let shown = messages(&owner, &url).await;
    let (cut, class, before) = shown.last().unwrap().clone();
    assert!(class.contains("status-length"), "{class}");
    let (_, html) = owner.page(&url).await;
    assert_eq!(
        select_attr(&html, "form[data-turn=continue]", "action"),
        format!("{url}/messages/{cut}/continue")
    );
    let events = stream_form(&owner, &format!("{url}/messages/{cut}/continue"), &[])
        .await
        .all()
        .await;
    let done = done_of(&events);
    assert_eq!(done["message_id"].as_i64().unwrap().to_string(), cut);
    let after = done["markdown"].as_str().unwrap();
    assert!(
        after.starts_with(before.trim()) && after.len() > before.trim().len(),
        "continued: {before:?} -> {after:?}"
    );
    let shown_after = messages(&owner, &url).await.last().unwrap().2.clone();
    assert!(shown_after.len() > before.len());
    // Another person's conversation cannot be touched.
    let other = server.user(&owner, "sam", "staff").await;
    let response = other
        .post_form(&format!("{url}/messages/{cut}/regenerate"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Issue 12: titles like "Here's a possible title for the conversation:".
/// The scripted model here answers exactly that; the title falls back to
/// the question's first words.
#[tokio::test]
async fn a_preamble_is_never_a_title() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = hearth::config::Config {
        data_dir: data_dir.path().to_path_buf(),
        ..hearth::config::Config::default()
    };
    config.llm.threads = 2;
    let server = TestServer::start_with_engine(config, data_dir, |c| {
        hearth::llm::Engine::fake(
            c,
            hearth::llm::FakeScript::replying("Here's a possible title for the conversation:"),
        )
    })
    .await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    server
        .state
        .chat
        .engine
        .wait_until_settled(Duration::from_secs(30))
        .await;
    let response = owner
        .post_form(
            "/chat/new",
            &[("content", "Refund policy for cancelled appointments")],
        )
        .await;
    let url = location(&response).split('#').next().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, html) = owner.page(&url).await;
    assert_eq!(
        select_text(&html, "#conversation-title"),
        "Refund policy for cancelled appointments"
    );
}
