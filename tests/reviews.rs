//! Reviews and corrections (issue 14): a person flags an answer as wrong
//! with a correction; owners and admins see it in the review queue with the
//! question, answer and sources; the correction becomes a house fact, and
//! the next answer to the question is given that passage. Every review
//! action is audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

const FACT: &str =
    "Staff park behind the building, in bays 4 to 9; the front car park is for patients.";

/// Asks and waits for the stored answer (not streamed).
async fn ask(api: &ApiClient, conversation: i64, question: &str) -> Value {
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
        )
        .json(&json!({"content": question}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn a_correction_becomes_a_house_fact_the_next_answer_is_given() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let sam = server.user(&owner, "sam", "staff").await;
    let sam_api = ApiClient::new(&server.base, &sam.api_key("sam").await);
    let owner_api = ApiClient::new(&server.base, &owner.api_key("owner").await);

    let first = sam_api.new_conversation().await;
    let answer = ask(&sam_api, first, "Where do staff park their cars?").await;
    let message = answer["id"].as_i64().unwrap();

    // Sam marks it wrong and says what is right.
    let response = sam_api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{first}/messages/{message}/flag"),
        )
        .json(&json!({"rating": "down", "correction": FACT}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let flag: Value = response.json().await.unwrap();
    assert_eq!(flag["status"], "open");
    assert_eq!(flag["question"], "Where do staff park their cars?");
    // Nobody else can flag Sam's answers; staff cannot review.
    let other = owner_api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{first}/messages/{message}/flag"),
        )
        .json(&json!({"rating": "up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        sam.get("/admin/reviews").await.status(),
        StatusCode::FORBIDDEN
    );

    // The queue shows the question, the answer and the correction.
    let (status, html) = owner.page("/admin/reviews").await;
    assert_eq!(status, StatusCode::OK);
    let id = flag["id"].as_i64().unwrap();
    let card = select_text(&html, &format!("#flag-{id}"));
    assert!(card.contains("Where do staff park"), "{card}");
    assert!(card.contains("bays 4 to 9"), "{card}");
    assert!(card.contains("sam Tester"), "{card}");

    // The owner makes it a house fact.
    let response = owner
        .post_form(&format!("/admin/reviews/{id}/fact"), &[("fact", FACT)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/reviews").await;
    assert_eq!(
        select_text(&html, "#reviews-empty"),
        "Nothing is waiting for review."
    );
    let flags: Value = owner_api
        .get_json("/api/v1/reviews?status=accepted")
        .await
        .1;
    let fact_document = flags[0]["fact_document_id"].as_i64().unwrap();
    // A second review of the same flag is refused.
    let again = owner
        .post_form(&format!("/admin/reviews/{id}/dismiss"), &[])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Once indexed, the next answer to the question is given the fact.
    for _ in 0..600 {
        let (_, page) = owner_api
            .get_json(&format!("/api/v1/documents?ids={fact_document}"))
            .await;
        if page["documents"][0]["status"] == "indexed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = sam_api.new_conversation().await;
    let answer = ask(&sam_api, second, "Where do staff park their cars?").await;
    assert!(
        answer["source"].as_str().unwrap().starts_with("documents+"),
        "{answer}"
    );
    let sam_id = server
        .state
        .store
        .user_by_username("sam")
        .await
        .unwrap()
        .unwrap()
        .user
        .id;
    let sources = server
        .state
        .store
        .conversation_sources(sam_id, hearth::store::ConversationId(second))
        .await
        .unwrap();
    assert!(
        sources
            .iter()
            .any(|(_, s)| s.excerpt.contains("bays 4 to 9")
                && s.document_id == Some(hearth::store::DocumentId(fact_document))),
        "the fact is among the answer's sources: {sources:?}"
    );
    // The answer cites it: its sources, under the answer on the page, name
    // the house fact (what a 135M model writes in its text varies too much
    // to assert on).
    let (_, page) = sam.page(&format!("/chat/{second}")).await;
    let cited = select_text(&page, "#messages .from-assistant .sources");
    assert!(
        cited.contains("bays 4 to 9") || cited.contains("House fact"),
        "{cited}"
    );

    // Every step is in the audit log.
    assert_eq!(server.audit_of("review.flagged").await.len(), 1);
    let made = server.audit_of("review.fact_added").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].actor, "olivia");
}

#[tokio::test]
async fn a_flag_can_be_dismissed_and_the_page_buttons_work_without_javascript() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let api = ApiClient::new(&server.base, &owner.api_key("k").await);
    let id = api.new_conversation().await;
    let answer = ask(&api, id, "Hello there").await;
    let message = answer["id"].as_i64().unwrap();
    // The page's thumbs: a form post, then the page shows it pressed.
    let response = owner
        .post_form(
            &format!("/chat/{id}/messages/{message}/flag"),
            &[("rating", "down"), ("correction", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page(&format!("/chat/{id}")).await;
    assert_eq!(
        select_attr(&html, ".flag-down", "aria-pressed"),
        "true",
        "the answer shows it was marked wrong"
    );
    let flags: Value = api.get_json("/api/v1/reviews").await.1;
    let flag = flags[0]["id"].as_i64().unwrap();
    // Too long a correction or note is refused with the reason, and the
    // flag stays as it was.
    let long = "x".repeat(4001);
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages/{message}/flag"),
        )
        .json(&json!({"rating": "down", "correction": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = api
        .request(Method::POST, &format!("/api/v1/reviews/{flag}/dismiss"))
        .json(&json!({"note": "y".repeat(501)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("500 characters")
    );
    assert_eq!(api.get_json("/api/v1/reviews").await.1[0]["status"], "open");
    let response = owner
        .post_form(
            &format!("/admin/reviews/{flag}/dismiss"),
            &[("note", "The answer was fine")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let dismissed: Value = api.get_json("/api/v1/reviews?status=dismissed").await.1;
    assert_eq!(dismissed[0]["review_note"], "The answer was fine");
    assert_eq!(server.audit_of("review.dismissed").await.len(), 1);
    // A fact from a flag without a correction needs the reviewer's text.
    let again = owner
        .post_form(
            &format!("/chat/{id}/messages/{message}/flag"),
            &[("rating", "down")],
        )
        .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let flags: Value = api.get_json("/api/v1/reviews").await.1;
    let open = flags[0]["id"].as_i64().unwrap();
    let response = api
        .request(Method::POST, &format!("/api/v1/reviews/{open}/fact"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
