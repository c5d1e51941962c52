//! Cloud fallback (issue 14), against a local OpenAI-compatible server the
//! test starts, which records exactly what reaches it: with "never" nothing
//! arrives even with the local model down; with "ask" nothing arrives before
//! the person confirms and exactly one request after, without the personal
//! data, whose placeholders come back restored (also split across streamed
//! pieces); local-only collections never leave; every request, failed ones
//! included, has its egress entry.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

/// What the stub answers.
#[derive(Clone)]
enum Reply {
    /// A streamed answer in these pieces.
    Stream(Vec<String>),
    /// An error status.
    Status(u16),
    /// Some pieces, then the connection breaks.
    BreakAfter(Vec<String>),
}

/// A request the stub received.
#[derive(Debug, Clone)]
struct Received {
    authorization: String,
    body: String,
}

struct Stub {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    reply: Arc<Mutex<Reply>>,
}

impl Stub {
    async fn start(reply: Reply) -> Stub {
        let received = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new(reply));
        let (r, p) = (received.clone(), reply.clone());
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (received, reply) = (r.clone(), p.clone());
                async move {
                    received.lock().unwrap().push(Received {
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string(),
                        body,
                    });
                    let reply = reply.lock().unwrap().clone();
                    let chunk = |text: &str| {
                        format!(
                            "data: {}\n\n",
                            json!({"choices": [{"delta": {"content": text}}]})
                        )
                    };
                    match reply {
                        Reply::Status(code) => axum::response::Response::builder()
                            .status(code)
                            .body(Body::from("{\"error\":{\"message\":\"overloaded\"}}"))
                            .unwrap(),
                        Reply::Stream(pieces) => {
                            let mut lines: Vec<String> = pieces.iter().map(|p| chunk(p)).collect();
                            lines.push("data: [DONE]\n\n".into());
                            let stream = futures::stream::iter(
                                lines
                                    .into_iter()
                                    .map(|l| Ok::<_, std::io::Error>(bytes::Bytes::from(l))),
                            );
                            axum::response::Response::builder()
                                .header("content-type", "text/event-stream")
                                .body(Body::from_stream(stream))
                                .unwrap()
                        }
                        Reply::BreakAfter(pieces) => {
                            let mut items: Vec<Result<bytes::Bytes, std::io::Error>> = pieces
                                .iter()
                                .map(|p| Ok(bytes::Bytes::from(chunk(p))))
                                .collect();
                            items.push(Err(std::io::Error::other("the line went dead")));
                            axum::response::Response::builder()
                                .header("content-type", "text/event-stream")
                                .body(Body::from_stream(futures::stream::iter(items)))
                                .unwrap()
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub {
            base,
            received,
            reply,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

const KEY: &str = "sk-test-0123456789";

/// The personal data in the test question, each of which must not leave.
const PII: &[&str] = &[
    "anna.schmidt@example.com",
    "+49 30 1234567",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "Tom Baker",
];

fn question() -> String {
    "Please write to anna.schmidt@example.com, call +49 30 1234567 and charge card \
     4111 1111 1111 1111 (IBAN DE89 3704 0044 0532 0130 00) for Tom Baker's visit."
        .to_string()
}

/// A box whose local model is not loaded (none is in its models folder),
/// an owner, staff member `tom` ("Tom Baker"), and the cloud settings.
async fn cloud_box(stub: &Stub, policy: &str) -> (TestServer, Client, ApiClient) {
    let (server, owner) = TestServer::with_owner().await;
    let key = owner.api_key("cloud").await;
    let api = ApiClient::new(&server.base, &key);
    let response = api
        .request(Method::PATCH, "/api/v1/cloud")
        .json(&json!({
            "policy": policy,
            "base_url": stub.base,
            "model": "gpt-test",
            "allow_lan": true,
            "roles": ["owner", "admin"],
            "users": [],
            "timeout_secs": 30,
            "api_key": KEY,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    // Tom's name is one of the office's own.
    let _ = owner
        .post_form(
            "/admin/users",
            &[
                ("username", "tom"),
                ("display_name", "Tom Baker"),
                ("role", "staff"),
                ("password", GOOD_PASSWORD),
            ],
        )
        .await;
    (server, owner, api)
}

async fn ask(api: &ApiClient, conversation: i64, content: &str) -> reqwest::Response {
    api.request(
        Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
    )
    .json(&json!({"content": content}))
    .send()
    .await
    .unwrap()
}

async fn messages(api: &ApiClient, conversation: i64) -> Vec<Value> {
    let (_, body) = api
        .get_json(&format!("/api/v1/conversations/{conversation}"))
        .await;
    body["messages"].as_array().unwrap().clone()
}

/// Waits until the conversation's last message is a finished answer.
async fn last_answer(api: &ApiClient, conversation: i64) -> Value {
    for _ in 0..200 {
        let all = messages(api, conversation).await;
        if let Some(last) = all.last()
            && last["role"] == "assistant"
            && last["status"] != "writing"
        {
            return last.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no answer came");
}

async fn egress_cloud(server: &TestServer) -> Vec<hearth::store::EgressRecord> {
    server
        .state
        .store
        .egress(0, 100)
        .await
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.purpose == hearth::store::EgressPurpose::CloudChat)
        .collect()
}

#[tokio::test]
async fn with_never_nothing_leaves_even_when_the_local_model_is_down() {
    let stub = Stub::start(Reply::Stream(vec!["hello".into()])).await;
    let (server, owner, api) = cloud_box(&stub, "never").await;
    let conversation = api.new_conversation().await;
    let response = ask(&api, conversation, &question()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let preview = owner.get(&format!("/chat/{conversation}/cloud")).await;
    assert_eq!(preview.status(), StatusCode::FORBIDDEN);
    let confirm = owner
        .post_form(&format!("/chat/{conversation}/cloud"), &[("digest", "x")])
        .await;
    assert_eq!(confirm.status(), StatusCode::FORBIDDEN);
    assert!(stub.received().is_empty(), "nothing reached the cloud");
    assert!(egress_cloud(&server).await.is_empty());
}

#[tokio::test]
async fn with_ask_exactly_what_was_shown_is_sent_once_redacted_and_restored() {
    // The answer's placeholders arrive split across pieces.
    let stub = Stub::start(Reply::Stream(vec![
        "I will write to [EMA".into(),
        "IL_1] and tell [PERS".into(),
        "ON_1] ".into(),
        "today.".into(),
    ]))
    .await;
    let (server, owner, api) = cloud_box(&stub, "ask").await;
    let conversation = api.new_conversation().await;
    // The local model is down: the question stays unanswered, nothing leaves.
    let response = ask(&api, conversation, &question()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let (status, html) = owner.page(&format!("/chat/{conversation}/cloud")).await;
    assert_eq!(status, StatusCode::OK);
    let shown = select_text(&html, "#cloud-preview");
    for pii in PII {
        assert!(!shown.contains(pii), "{pii} is shown as sent: {shown}");
    }
    assert!(
        shown.contains("[EMAIL_1]") && shown.contains("[PERSON_1]"),
        "{shown}"
    );
    assert!(select_text(&html, "#cloud-redactions").contains("email"));
    assert!(stub.received().is_empty(), "the preview sends nothing");

    let digest = select_attr(&html, "#cloud-confirm input[name=digest]", "value");
    let response = owner
        .post_form(
            &format!("/chat/{conversation}/cloud"),
            &[("digest", &digest)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let answer = last_answer(&api, conversation).await;
    assert_eq!(answer["status"], "done", "{answer}");
    assert_eq!(answer["source"], "cloud:gpt-test");
    assert_eq!(
        answer["content"],
        "I will write to anna.schmidt@example.com and tell Tom Baker today."
    );

    let received = stub.received();
    assert_eq!(received.len(), 1, "exactly one request");
    assert_eq!(received[0].authorization, format!("Bearer {KEY}"));
    for pii in PII {
        assert!(!received[0].body.contains(pii), "{pii} left the box");
    }
    // What was sent is what was shown.
    let sent: Value = serde_json::from_str(&received[0].body).unwrap();
    let sent_text: String = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(sent_text.contains("[EMAIL_1]"), "{sent_text}");
    let log = egress_cloud(&server).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, hearth::store::EgressOutcome::Ok);
    assert_eq!(log[0].bytes_sent, received[0].body.len() as u64);
    assert!(
        log[0].redactions.get("email").copied().unwrap_or(0) >= 1,
        "{:?}",
        log[0]
    );
    assert!(!log[0].detail.contains(KEY));

    // A stale confirmation (the conversation moved on) sends nothing.
    let again = owner
        .post_form(
            &format!("/chat/{conversation}/cloud"),
            &[("digest", &digest)],
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(stub.received().len(), 1);
}

#[tokio::test]
async fn with_auto_the_cloud_answers_when_the_local_model_cannot_and_failures_are_logged() {
    let stub = Stub::start(Reply::Stream(vec!["Done, [PERSON_1].".into()])).await;
    let (server, _owner, api) = cloud_box(&stub, "auto").await;
    let conversation = api.new_conversation().await;
    let response = ask(&api, conversation, "Remind Tom Baker about the invoice.").await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let answer = last_answer(&api, conversation).await;
    assert_eq!(answer["source"], "cloud:gpt-test");
    assert_eq!(answer["content"], "Done, Tom Baker.");
    assert!(!stub.received()[0].body.contains("Tom Baker"));

    // The cloud answers 500: the answer fails, the request is logged failed.
    stub.set_reply(Reply::Status(500));
    let conversation = api.new_conversation().await;
    ask(&api, conversation, "Another question").await;
    let failed = last_answer(&api, conversation).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    // The connection breaks mid-answer: logged failed, what came is kept.
    stub.set_reply(Reply::BreakAfter(vec!["Part".into()]));
    let conversation = api.new_conversation().await;
    ask(&api, conversation, "A third question").await;
    let broken = last_answer(&api, conversation).await;
    assert_eq!(broken["status"], "failed", "{broken}");

    let log = egress_cloud(&server).await;
    assert_eq!(
        log.len(),
        stub.received().len(),
        "every request has its entry"
    );
    use hearth::store::EgressOutcome;
    let outcomes: Vec<_> = log.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            EgressOutcome::Failed,
            EgressOutcome::Failed,
            EgressOutcome::Ok
        ],
        "{log:?}"
    );
    assert!(log[1].detail.contains("500"), "{:?}", log[1]);
}

/// Staff who are not among the allowed people cannot ask, and the owner's
/// page and API are the owner's alone.
#[tokio::test]
async fn only_allowed_people_may_ask_and_only_owners_configure() {
    let stub = Stub::start(Reply::Stream(vec!["x".into()])).await;
    let (server, owner, _api) = cloud_box(&stub, "ask").await;
    let staff = server.user(&owner, "sam", "staff").await;
    assert_eq!(
        staff.get("/admin/cloud").await.status(),
        StatusCode::FORBIDDEN
    );
    let staff_api = ApiClient::new(&server.base, &staff.api_key("mine").await);
    let conversation = staff_api.new_conversation().await;
    let preview = staff.get(&format!("/chat/{conversation}/cloud")).await;
    assert_eq!(preview.status(), StatusCode::FORBIDDEN);
    let text = preview.text().await.unwrap();
    assert!(text.contains("not among the people"), "{text}");
    // The owner's page shows the settings, never the key.
    let (status, html) = owner.page("/admin/cloud").await;
    assert_eq!(status, StatusCode::OK);
    let page = html.html();
    assert!(!page.contains(KEY), "the key is never shown");
    assert!(select_text(&html, "#api_key_help").contains("A key is stored"));
    assert!(stub.received().is_empty());
}

/// Settings: each change is a version with a readable diff that never
/// holds the key; a version can be restored, and the restore itself too.
#[tokio::test]
async fn cloud_settings_are_versioned_without_the_key_and_can_be_rolled_back() {
    let stub = Stub::start(Reply::Stream(vec!["x".into()])).await;
    let (server, owner, api) = cloud_box(&stub, "ask").await;
    let patch = |model: &str| {
        json!({
            "policy": "auto", "base_url": stub.base, "model": model,
            "allow_lan": true, "roles": ["owner"], "users": ["tom"], "timeout_secs": 45,
            "api_key": "sk-other-key-987",
        })
    };
    let response = api
        .request(Method::PATCH, "/api/v1/cloud")
        .json(&patch("gpt-other"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, html) = owner.page("/admin/cloud").await;
    let history = select_all_text(&html, "#history .version");
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(
        history[0].contains("Model gpt-test → gpt-other"),
        "{}",
        history[0]
    );
    assert!(
        history[0].contains("API key set → replaced"),
        "{}",
        history[0]
    );
    let page = html.html();
    assert!(!page.contains("sk-other-key-987") && !page.contains(KEY));
    let stored = server
        .state
        .store
        .setting_history("cloud", 10)
        .await
        .unwrap();
    assert!(
        stored.iter().all(|v| !v.value.contains("sk-")),
        "{stored:?}"
    );

    // Roll back to version 1, then roll back the rollback.
    let response = owner.post_form("/admin/cloud/restore/1", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.state.chat.cloud().model, "gpt-test");
    let response = owner.post_form("/admin/cloud/restore/2", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.state.chat.cloud().model, "gpt-other");
    let audited = server.audit_of("settings.changed").await;
    assert!(audited.len() >= 4, "{audited:?}");
    assert!(audited.iter().all(|a| !a.detail.contains("sk-")));
    assert!(
        audited[0].detail.contains("restored from version 2"),
        "{:?}",
        audited[0]
    );
}

/// A marker that exists only in a local-only collection.
const CANARY: &str = "ZEBRA-CANARY-7731";

/// Canary strings from a local-only collection never appear in any request,
/// whether the cloud model answers by itself (its passages are not offered)
/// or a person asks (earlier answers drawn from it are left out), while
/// passages from other collections may go.
#[tokio::test]
async fn nothing_from_a_local_only_collection_ever_leaves() {
    use hearth::store::{CollectionAccess, Role};
    let stub = Stub::start(Reply::Stream(vec!["On the 25th.".into()])).await;
    let (server, owner, api) = cloud_box(&stub, "auto").await;
    let store = &server.state.store;
    let make = |name: &str| CollectionAccess {
        name: name.into(),
        description: String::new(),
        roles: vec![Role::Owner],
        users: vec![],
    };
    let payroll = store
        .create_collection(make("Payroll"), None)
        .await
        .unwrap();
    let handbook = store
        .create_collection(make("Handbook"), None)
        .await
        .unwrap();
    // Marked local-only through the page, as an admin would.
    let response = owner
        .post_form(
            &format!("/admin/collections/{}", payroll.id.0),
            &[("name", "Payroll"), ("role", "owner"), ("local_only", "1")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(store.collection(payroll.id).await.unwrap().local_only);
    assert_eq!(server.audit_of("collection.kept_local").await.len(), 1);
    let secret = api
        .upload_indexed(
            Some(payroll.id.0),
            "payroll.txt",
            &format!(
                "Payroll runs on the 25th of each month. The payroll portal code is {CANARY}."
            ),
        )
        .await;
    api.upload_indexed(
        Some(handbook.id.0),
        "handbook.txt",
        "Payroll questions go to the office manager. Payroll runs on the 25th.",
    )
    .await;

    // Automatic: the local model is down; the cloud model gets only the
    // handbook's passage.
    // Random conversations (a fixed seed, so a failure repeats).
    let questions = [
        "When does payroll run?",
        "What is the payroll portal code?",
        "Tell me everything about payroll",
        "Who do I ask about payroll questions?",
        "Payroll portal code please",
        "Is payroll on the 25th of each month?",
        "What does the handbook say about payroll?",
    ];
    let mut seed: u64 = 0x5eed_1234;
    let mut pick = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        questions[(seed >> 33) as usize % questions.len()]
    };
    let picked: Vec<&str> = (0..8).map(|_| pick()).collect();
    for question in &picked {
        let conversation = api.new_conversation().await;
        let response = ask(&api, conversation, question).await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer = last_answer(&api, conversation).await;
        assert!(
            answer["source"].as_str().unwrap().contains("cloud"),
            "{answer}"
        );
    }
    let received = stub.received();
    assert_eq!(received.len(), picked.len());
    assert!(
        received.iter().any(|r| r.body.contains("office manager")),
        "shareable passages may go"
    );

    // Asked: an earlier answer that drew on the payroll file is left out.
    let conversation = api.new_conversation().await;
    let me = server
        .state
        .store
        .user_by_username("olivia")
        .await
        .unwrap()
        .unwrap()
        .user;
    let id = hearth::store::ConversationId(conversation);
    store
        .add_user_message(me.id, id, "What is the code?".into())
        .await
        .unwrap();
    let draft = store.begin_answer(me.id, id).await.unwrap();
    store
        .finish_answer(
            draft.id,
            hearth::store::NewAnswer {
                content: format!("The code is {CANARY} [1]."),
                status: hearth::store::MessageStatus::Done,
                source: hearth::store::AnswerSource::DocumentsAndLocal {
                    model: "local".into(),
                },
                prompt_tokens: 0,
                completion_tokens: 0,
                tokens_per_second: None,
                dropped_messages: 0,
            },
        )
        .await
        .unwrap();
    store
        .add_message_sources(
            draft.id,
            vec![hearth::store::MessageSource {
                n: 1,
                document_id: Some(hearth::store::DocumentId(secret)),
                chunk_ord: 0,
                page: None,
                title: "payroll".into(),
                excerpt: CANARY.into(),
            }],
        )
        .await
        .unwrap();
    store
        .add_user_message(me.id, id, "And who do I ask about it?".into())
        .await
        .unwrap();
    let mut settings = server.state.chat.cloud();
    settings.policy = hearth::cloud::Policy::Ask;
    server.state.chat.set_cloud(settings);
    let (status, html) = owner.page(&format!("/chat/{conversation}/cloud")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!select_text(&html, "#cloud-preview").contains(CANARY));
    assert!(select_text(&html, "#cloud-withheld").contains("1 answer"));
    let digest = select_attr(&html, "#cloud-confirm input[name=digest]", "value");
    let response = owner
        .post_form(
            &format!("/chat/{conversation}/cloud"),
            &[("digest", &digest)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    last_answer(&api, conversation).await;

    let received = stub.received();
    assert_eq!(received.len(), picked.len() + 1);
    for request in &received {
        assert!(
            !request.body.contains(CANARY),
            "the canary left: {}",
            request.body
        );
    }
    assert_eq!(egress_cloud(&server).await.len(), picked.len() + 1);
}

/// The OpenAI-compatible `/v1` API falls back the same way, and says so in
/// its answer.
#[tokio::test]
async fn the_v1_api_falls_back_to_the_cloud_and_marks_the_answer() {
    let stub = Stub::start(Reply::Stream(vec!["Hello [PERS".into(), "ON_1].".into()])).await;
    let (_server, _owner, api) = cloud_box(&stub, "auto").await;
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(&json!({"messages": [{"role": "user", "content": "Say hello to Tom Baker."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello Tom Baker.");
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["hearth"]["note"], "answered by gpt-test in the cloud");
    assert!(!stub.received()[0].body.contains("Tom Baker"));
}
