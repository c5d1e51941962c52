//! The Documents page (list with status, upload of several files at once)
//! and one document's page (text preview by page, download, move,
//! re-process, delete). What they do is in `manage`, which the API shares.

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::ingest;
use super::manage::{
    Moved, Reading, delete_document, move_document, note_collection_request, read_document,
    receive_upload, reprocess_document, summarise, upload_targets,
};
use super::{can_manage, can_upload_to};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::store::{
    Collection, CollectionId, DocumentFilter, DocumentId, DocumentRecord, DocumentSource,
    DocumentStatus, StoredChunk, Viewer,
};
use crate::web::layout::{Shell, redirect_with_flash, render};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Paging, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/documents", Access::Staff, list_page)
        .route_with_own_limit(
            axum::http::Method::POST,
            "/documents",
            Access::Staff,
            upload_form,
        )
        .get("/documents/{id}", Access::Staff, document_page)
        .get("/documents/{id}/download", Access::Staff, download)
        .post("/documents/{id}/move", Access::Staff, move_submit)
        .post("/documents/{id}/reprocess", Access::Staff, reprocess_submit)
        .post("/documents/{id}/delete", Access::Staff, delete_submit)
}

const PAGE_SIZE: u64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    collection: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    page: Option<u64>,
}

#[derive(Template)]
#[template(path = "docs/index.html")]
pub struct DocumentsPage {
    shell: Shell,
    documents: Vec<DocumentRecord>,
    total: i64,
    page: u64,
    pages: u64,
    collections: Vec<Collection>,
    upload_targets: Vec<Collection>,
    collection: Option<i64>,
    status: String,
    name: String,
    max_upload_mb: u64,
    pending: i64,
    index_problem: Option<String>,
    /// Uploads are refused: the disk is under its floor.
    disk_full: bool,
    times: Times,
}

impl DocumentsPage {
    fn status_is(&self, value: &str) -> bool {
        self.status == value
    }

    fn status_label(&self, document: &DocumentRecord) -> &'static str {
        status_label(document.status)
    }

    fn size(&self, document: &DocumentRecord) -> String {
        crate::llm::hardware::format_bytes(document.size.max(0) as u64)
    }

    fn when(&self, document: &DocumentRecord) -> Moment {
        self.times.at(document.updated_at)
    }

    fn page_link(&self, page: u64) -> String {
        let mut query = vec![("page", page.to_string())];
        if let Some(c) = self.collection {
            query.push(("collection", c.to_string()));
        }
        if !self.status.is_empty() {
            query.push(("status", self.status.clone()));
        }
        if !self.name.is_empty() {
            query.push(("name", self.name.clone()));
        }
        format!(
            "/documents?{}",
            serde_urlencoded::to_string(query).unwrap_or_default()
        )
    }
}

pub fn status_label(status: DocumentStatus) -> &'static str {
    match status {
        DocumentStatus::Queued => "Queued",
        DocumentStatus::Processing => "Processing",
        DocumentStatus::Indexed => "Indexed",
        DocumentStatus::Failed => "Failed",
    }
}

async fn list_page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    state.store.personal_collection(user.user.id).await?;
    let collections = state
        .store
        .visible_collections(Viewer::of(&user.user))
        .await?;
    let upload_targets = collections
        .iter()
        .filter(|c| can_upload_to(&user.user, c))
        .cloned()
        .collect();
    let collection = query
        .collection
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok());
    if let Some(id) = collection {
        note_collection_request(&state, &user.user, &ip, CollectionId(id)).await?;
    }
    let status = query
        .status
        .filter(|s| ["queued", "processing", "indexed", "failed"].contains(&s.as_str()))
        .unwrap_or_default();
    let paging = Paging::new(query.page, PAGE_SIZE);
    let listing = state
        .store
        .documents(
            Viewer::of(&user.user),
            DocumentFilter {
                collection: collection.map(CollectionId),
                status: status.parse().ok(),
                name: query.name.clone(),
                offset: u32::try_from(paging.offset()).unwrap_or(u32::MAX),
                limit: PAGE_SIZE as u32,
            },
        )
        .await?;
    let pending = state
        .store
        .visible_documents_pending(Viewer::of(&user.user))
        .await?;
    render(&DocumentsPage {
        shell,
        pages: paging.pages(listing.total.max(0) as u64),
        documents: listing.documents,
        total: listing.total,
        page: paging.page(),
        collections,
        upload_targets,
        collection,
        status,
        name: query.name.unwrap_or_default(),
        max_upload_mb: state.config.documents.max_upload_bytes / (1024 * 1024),
        pending,
        index_problem: state.search.problem(),
        times,
        disk_full: state.config.disk().status().low(),
    })
}

/// The no-JavaScript upload: all chosen files in one form post.
async fn upload_form(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let upload = receive_upload(
        &state,
        &user.user,
        &ip,
        &headers,
        &mut multipart,
        DocumentSource::Upload,
    )
    .await?;
    if !upload.accepted_any() {
        return Err(upload.refusal().0);
    }
    let mut message = summarise(&upload.results);
    if let Some(stopped) = upload.stopped {
        message = format!("{message} {stopped}");
    }
    Ok(redirect_with_flash(&state, "/documents", &message))
}

#[derive(Template)]
#[template(path = "docs/document.html")]
pub struct DocumentPage {
    shell: Shell,
    document: DocumentRecord,
    pages: Vec<PageOfText>,
    manageable: bool,
    /// Where it may be moved, the collection it is in among them (chosen).
    move_targets: Vec<Collection>,
    highlight: Option<u32>,
    size: String,
    uploaded: Moment,
}

/// The chunks of one page (or of the whole document when it has no pages).
pub struct PageOfText {
    pub page: Option<u32>,
    pub chunks: Vec<StoredChunk>,
}

#[derive(Deserialize, Default)]
pub struct DocumentQuery {
    #[serde(default)]
    chunk: Option<u32>,
}

async fn document_page(
    State(state): State<AppState>,
    shell: Shell,
    times: Times,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
    Query(query): Query<DocumentQuery>,
) -> AppResult<Response> {
    let (document, collection) = read_document(&state, &user.user, &ip, id, Reading::View).await?;
    let chunks = state.store.document_chunks(document.id).await?;
    let mut pages: Vec<PageOfText> = Vec::new();
    for chunk in chunks {
        match pages.last_mut() {
            Some(last) if last.page == chunk.page => last.chunks.push(chunk),
            _ => pages.push(PageOfText {
                page: chunk.page,
                chunks: vec![chunk],
            }),
        }
    }
    let manageable = can_manage(&user.user, &document, &collection);
    let move_targets = if manageable {
        let mut targets = upload_targets(&state, &user.user).await?;
        if !targets.iter().any(|c| c.id == collection.id) {
            targets.insert(0, collection);
        }
        targets
    } else {
        Vec::new()
    };
    render(&DocumentPage {
        shell,
        size: crate::llm::hardware::format_bytes(document.size.max(0) as u64),
        uploaded: times.at(document.created_at),
        document,
        pages,
        manageable,
        move_targets,
        highlight: query.chunk,
    })
}

async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<Response> {
    let (document, _) = read_document(&state, &user.user, &ip, id, Reading::Download).await?;
    let path = ingest::stored_path(&state.config, &document.stored_as);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored file missing: {e}")))?;
    let mime = document
        .format
        .as_deref()
        .and_then(crate::extract::Format::from_code)
        .map(|f| f.mime())
        .unwrap_or("application/octet-stream");
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(length) = HeaderValue::from_str(&document.size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&content_disposition(&document.file_name))
            .unwrap_or(HeaderValue::from_static("attachment")),
    );
    // An uploaded file is never run as a page of ours, whatever it holds.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// `attachment` with the original name: an ASCII fallback and the exact
/// name in RFC 5987 form.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._-()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[derive(Deserialize)]
pub struct MoveForm {
    collection: i64,
}

async fn move_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
    Form(form): Form<MoveForm>,
) -> AppResult<Response> {
    let message = match move_document(&state, &user.user, &ip, id, form.collection).await? {
        Moved::To(moved) => format!("Moved to {}.", moved.collection_name),
        Moved::AlreadyThere(document) => format!(
            "{} is already in {}; nothing was moved.",
            document.file_name, document.collection_name
        ),
    };
    Ok(redirect_with_flash(
        &state,
        &format!("/documents/{}", id.0),
        &message,
    ))
}

async fn reprocess_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<Response> {
    let queued = reprocess_document(&state, &user.user, &ip, id).await?;
    Ok(redirect_with_flash(
        &state,
        &format!("/documents/{}", queued.id.0),
        "Queued to be processed again.",
    ))
}

async fn delete_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<Response> {
    let deleted = delete_document(&state, &user.user, &ip, id).await?;
    Ok(redirect_with_flash(
        &state,
        "/documents",
        &format!("Deleted {}.", deleted.title),
    ))
}
