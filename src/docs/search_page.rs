//! The Search page and `GET /api/v1/search`: full-text search over the
//! documents the reader may see, with filters by collection, file type and
//! date, highlighted snippets and paging. The page works as a plain form;
//! with JavaScript it updates as you type by fetching `?partial=1`, which
//! answers only the results.

use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::search::SearchRequest;
use crate::store::{Collection, Viewer};
use crate::web::layout::{Shell, render};
use crate::web::{Access, Paging, Routes};

pub fn routes() -> Routes {
    Routes::new().get("/search", Access::Staff, page).get(
        "/api/v1/search",
        Access::Staff,
        api_search,
    )
}

const PAGE_SIZE: usize = 10;

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words, "exact phrases", OR, -excluded, prefix*.
    #[serde(default)]
    q: Option<String>,
    /// Only this collection (id).
    #[serde(default)]
    collection: Option<String>,
    /// Only this file type: pdf, docx, odt, xlsx, ods, pptx, html, markdown, text, csv, eml.
    #[serde(default, rename = "type")]
    format: Option<String>,
    /// Only documents added or changed on or after this day (YYYY-MM-DD).
    #[serde(default)]
    from: Option<String>,
    /// Only documents added or changed on or before this day (YYYY-MM-DD).
    #[serde(default)]
    to: Option<String>,
    /// 1-based page of results.
    #[serde(default)]
    page: Option<usize>,
    /// Answer only the results fragment (for search as you type).
    #[serde(default)]
    #[param(ignore)]
    partial: Option<String>,
}

/// One result.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub document_id: i64,
    pub title: String,
    pub file_name: String,
    pub collection_id: i64,
    pub collection: String,
    /// File type code (pdf, docx, ...).
    pub format: String,
    pub page: Option<u32>,
    pub heading: Option<String>,
    /// The passage with matches in `<mark>`; everything else HTML-escaped.
    pub snippet_html: String,
    pub chunk: u32,
    /// Link to the passage in the document's text preview.
    pub url: String,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResponse {
    pub query: String,
    /// Matching documents you may see (each shown with its best passage).
    pub total: usize,
    /// No document held every word, so these hold some of them.
    pub relaxed: bool,
    /// The query with misspelt words corrected ("Did you mean"), offered
    /// when the search found little and the correction finds more among
    /// the documents you may see (with the same filters).
    pub did_you_mean: Option<String>,
    pub page: usize,
    pub per_page: usize,
    pub hits: Vec<SearchHit>,
    pub took_ms: f64,
}

struct Filters {
    query: String,
    collection: Option<i64>,
    format: String,
    from: String,
    to: String,
    page: usize,
}

fn day_start(day: &str, end: bool) -> AppResult<Option<i64>> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let date: jiff::civil::Date = day
        .parse()
        .map_err(|_| AppError::bad_request(format!("\"{day}\" is not a date like 2026-03-31.")))?;
    let time = if end {
        date.to_datetime(jiff::civil::time(23, 59, 59, 0))
    } else {
        date.to_datetime(jiff::civil::time(0, 0, 0, 0))
    };
    let zoned = time
        .to_zoned(jiff::tz::TimeZone::system())
        .map_err(|_| AppError::bad_request(format!("\"{day}\" is not a usable date.")))?;
    Ok(Some(zoned.timestamp().as_second()))
}

fn filters(query: &SearchQuery) -> Filters {
    Filters {
        query: query
            .q
            .clone()
            .unwrap_or_default()
            .trim()
            .chars()
            .take(500)
            .collect(),
        collection: query
            .collection
            .as_deref()
            .and_then(|c| c.trim().parse().ok()),
        format: query
            .format
            .clone()
            .filter(|f| crate::extract::Format::from_code(f).is_some())
            .unwrap_or_default(),
        from: query.from.clone().unwrap_or_default(),
        to: query.to.clone().unwrap_or_default(),
        page: Paging::new(query.page.map(|p| p as u64), PAGE_SIZE as u64).page() as usize,
    }
}

/// Runs a search for `user` with these filters.
async fn run_search(
    state: &AppState,
    filters: &Filters,
    collections: &[Collection],
) -> AppResult<SearchResponse> {
    // `collections` are the ones the user may see: the access filter.
    let allowed: Vec<i64> = collections.iter().map(|c| c.id.0).collect();
    let request = SearchRequest {
        query: filters.query.clone(),
        allowed_collections: allowed,
        collections: filters.collection.map(|c| vec![c]),
        formats: if filters.format.is_empty() {
            Vec::new()
        } else {
            vec![filters.format.clone()]
        },
        modified_from: day_start(&filters.from, false)?,
        modified_to: day_start(&filters.to, true)?,
        offset: Paging::new(Some(filters.page as u64), PAGE_SIZE as u64).offset() as usize,
        limit: PAGE_SIZE,
    };
    let index = super::index_or_unavailable(&state.search)?.clone();
    let results = tokio::task::spawn_blocking(move || index.search(&request))
        .await
        .map_err(|e| AppError::Internal(e.into()))??;
    let name_of = |id: i64| {
        collections
            .iter()
            .find(|c| c.id.0 == id)
            .map(|c| c.name.clone())
            .unwrap_or_default()
    };
    Ok(SearchResponse {
        query: filters.query.clone(),
        total: results.total,
        relaxed: results.relaxed,
        did_you_mean: results.did_you_mean,
        page: filters.page,
        per_page: PAGE_SIZE,
        took_ms: results.took.as_secs_f64() * 1e3,
        hits: results
            .hits
            .into_iter()
            .map(|hit| SearchHit {
                url: format!(
                    "/documents/{}?chunk={}#chunk-{}",
                    hit.doc_id, hit.chunk_ord, hit.chunk_ord
                ),
                document_id: hit.doc_id,
                collection: name_of(hit.collection_id),
                collection_id: hit.collection_id,
                title: hit.title,
                file_name: hit.file_name,
                format: hit.format,
                page: hit.page,
                heading: hit.heading,
                snippet_html: hit.snippet_html,
                chunk: hit.chunk_ord,
                score: hit.score,
            })
            .collect(),
    })
}

#[derive(Template)]
#[template(path = "docs/search.html")]
pub struct SearchPage {
    shell: Shell,
    results: SearchResultsPartial,
    results_html: String,
    collections: Vec<Collection>,
    formats: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "docs/search_results.html")]
pub struct SearchResultsPartial {
    query: String,
    collection: Option<i64>,
    format: String,
    from: String,
    to: String,
    response: Option<SearchResponse>,
    error: Option<String>,
    no_collections: bool,
}

impl SearchResultsPartial {
    fn pages(&self) -> usize {
        self.response
            .as_ref()
            .map_or(1, |r| r.total.div_ceil(r.per_page).clamp(1, 1000))
    }

    fn page_link(&self, page: usize) -> String {
        self.link(&self.query, page)
    }

    /// The first page of `query` with the same filters ("Did you mean").
    fn suggestion_link(&self, query: &str) -> String {
        self.link(query, 1)
    }

    /// Whether the title came from the document itself, so that the file
    /// name is worth showing beside it.
    fn shows_file_name(&self, hit: &SearchHit) -> bool {
        hit.title != super::ingest::title_from_file_name(&hit.file_name)
    }

    /// The passage's heading, unless it only repeats the title (a
    /// document titled by its first heading).
    fn heading_beside_title<'h>(&self, hit: &'h SearchHit) -> Option<&'h str> {
        hit.heading
            .as_deref()
            .filter(|heading| *heading != hit.title)
    }

    fn link(&self, search: &str, page: usize) -> String {
        let mut query = vec![("q", search.to_string()), ("page", page.to_string())];
        if let Some(c) = self.collection {
            query.push(("collection", c.to_string()));
        }
        for (key, value) in [
            ("type", &self.format),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !value.is_empty() {
                query.push((key, value.clone()));
            }
        }
        format!(
            "/search?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    }

    fn format_label(&self, code: &str) -> &'static str {
        crate::extract::Format::from_code(code).map_or("File", |f| f.label())
    }
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    Query(query): Query<SearchQuery>,
) -> AppResult<Response> {
    let collections = state
        .store
        .visible_collections(Viewer::of(&user.user))
        .await?;
    let filters = filters(&query);
    let (response, error) = if filters.query.is_empty() {
        (None, None)
    } else {
        match run_search(&state, &filters, &collections).await {
            Ok(response) => (Some(response), None),
            Err(AppError::BadRequest(message)) => (None, Some(message)),
            Err(AppError::Unavailable { message, .. }) => (None, Some(message)),
            Err(other) => return Err(other),
        }
    };
    let results = SearchResultsPartial {
        query: filters.query,
        collection: filters.collection,
        format: filters.format,
        from: filters.from,
        to: filters.to,
        response,
        error,
        no_collections: collections.is_empty(),
    };
    if query.partial.is_some() {
        return crate::web::layout::render(&results);
    }
    let results_html = results
        .render()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template: {e}")))?;
    render(&SearchPage {
        shell,
        results,
        results_html,
        collections,
        formats: crate::extract::Format::all()
            .iter()
            .map(|f| (f.as_str(), f.label()))
            .collect(),
    })
}

/// Searches the documents you may see.
#[utoipa::path(get, path = "/api/v1/search", tag = "documents", params(SearchQuery),
    responses((status = 200, body = SearchResponse), (status = 400, body = crate::error::ErrorEnvelope),
        (status = 503, body = crate::error::ErrorEnvelope)))]
async fn api_search(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<SearchQuery>,
) -> AppResult<Json<SearchResponse>> {
    let filters = filters(&query);
    if filters.query.is_empty() {
        return Err(AppError::bad_request("Give a query in `q`."));
    }
    let collections = state
        .store
        .visible_collections(Viewer::of(&user.user))
        .await?;
    Ok(Json(run_search(&state, &filters, &collections).await?))
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(api_search), components(schemas(SearchResponse, SearchHit)))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}
