//! Static assets (CSS, JavaScript, icons) from `static/`, embedded in the
//! binary (debug builds too: the appliance image ships the test build). URLs carry a content hash (`/static/<hash>/app.css`), so browsers
//! may cache them for a year and still never see a stale file after an
//! upgrade.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Files;

/// Path → first 16 hex digits of the file's SHA-256.
static HASHES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Files::iter()
        .filter_map(|name| {
            let file = Files::get(&name)?;
            Some((
                name.to_string(),
                hex::encode(&file.metadata.sha256_hash()[..8]),
            ))
        })
        .collect()
});

/// The hashed URL of `name`; panics in tests if the file does not exist, so a
/// typo in a template cannot ship.
pub fn url(name: &str) -> String {
    match HASHES.get(name) {
        Some(hash) => format!("/static/{hash}/{name}"),
        None => {
            debug_assert!(false, "no static asset named {name}");
            format!("/static/0/{name}")
        }
    }
}

pub async fn serve(Path((hash, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(file) = Files::get(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let current = HASHES.get(&name).cloned().unwrap_or_default();
    let etag = format!("\"{current}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let cache = if hash == current {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = file.data.into_owned().into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(file.metadata.mimetype())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// `/favicon.ico` for browsers that ask for it regardless of the page's link.
pub async fn favicon() -> Response {
    axum::response::Redirect::permanent(&url("favicon.svg")).into_response()
}
