//! The OpenAPI document: generated from the handlers, and in step with the
//! route table.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn openapi_document_lists_exactly_the_api_routes() {
    let (server, _owner) = TestServer::with_owner().await;
    let response = server.client().get("/api/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    let mut documented = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = hearth::app::route_table()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.path != "/api/v1/openapi.json")
        .map(|r| (r.method, r.path.to_string()))
        .collect();
    assert_eq!(
        documented, routed,
        "every /api/v1 route is documented, and nothing else"
    );

    // Referenced schemas exist.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "missing schema {name}"
        );
    }
}
