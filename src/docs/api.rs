//! Documents under `/api/v1`: upload (multipart, several files), list,
//! status, move, re-process and delete, and the collections you can see.
//! Search is `GET /api/v1/search` (see `search_page`). Everything a person
//! can do on the Documents page, with the same access rules.

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::manage::{self, UploadResult};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{
    Collection, CollectionId, DocumentFilter, DocumentId, DocumentPage, DocumentRecord,
    DocumentStatus, Viewer,
};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/v1/documents", Access::Staff, list)
        .route_with_own_limit(
            axum::http::Method::POST,
            "/api/v1/documents",
            Access::Staff,
            upload,
        )
        .get("/api/v1/documents/{id}", Access::Staff, read)
        .delete("/api/v1/documents/{id}", Access::Staff, delete)
        .post("/api/v1/documents/{id}/move", Access::Staff, move_to)
        .post("/api/v1/documents/{id}/reprocess", Access::Staff, reprocess)
        .get("/api/v1/collections", Access::Staff, collections)
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this collection (id).
    collection: Option<i64>,
    /// Only documents with this status: queued, processing, indexed, failed.
    status: Option<String>,
    /// Part of the title or file name.
    name: Option<String>,
    /// Only these documents (comma-separated ids), e.g. to follow uploads.
    ids: Option<String>,
    /// Skip this many (default 0).
    offset: Option<u32>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// Documents you may see, most recently changed first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", params(ListQuery),
    responses((status = 200, body = DocumentPage)))]
async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Query(query): Query<ListQuery>,
) -> AppResult<Json<DocumentPage>> {
    if let Some(id) = query.collection {
        manage::note_collection_request(&state, &user.user, &ip, CollectionId(id)).await?;
    }
    if let Some(ids) = query.ids.as_deref() {
        let ids: Vec<DocumentId> = ids
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .map(DocumentId)
            .collect();
        let documents = state
            .store
            .documents_by_ids(Viewer::of(&user.user), ids)
            .await?;
        return Ok(Json(DocumentPage {
            total: documents.len() as i64,
            documents,
        }));
    }
    let status = query
        .status
        .as_deref()
        .map(str::parse::<DocumentStatus>)
        .transpose()
        .map_err(|_| {
            AppError::bad_request("status is one of queued, processing, indexed, failed")
        })?;
    Ok(Json(
        state
            .store
            .documents(
                Viewer::of(&user.user),
                DocumentFilter {
                    collection: query.collection.map(CollectionId),
                    status,
                    name: query.name,
                    offset: query.offset.unwrap_or(0),
                    limit: query.limit.unwrap_or(50).clamp(1, 500),
                },
            )
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct UploadResponse {
    pub results: Vec<UploadResult>,
}

/// Uploads one or more files (multipart/form-data: an optional `collection`
/// id first, then `file` parts). Each file is answered on its own: queued,
/// replaced (a new version of a document with the same name), duplicate or
/// rejected with the reason. Processing continues in the background; follow
/// it with `GET /api/v1/documents?ids=...`.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents",
    request_body(content_type = "multipart/form-data", description = "`collection` (id, optional) then one or more `file` parts"),
    responses((status = 201, description = "At least one file was taken; each file's result", body = UploadResponse),
        (status = 400, description = "No file was taken; `results` says why for each", body = ErrorEnvelope),
        (status = 408, description = "The client stopped sending", body = ErrorEnvelope),
        (status = 413, description = "Every file, or the request in all, is over its limit", body = ErrorEnvelope),
        (status = 507, description = "The box's disk is full; nothing was stored", body = ErrorEnvelope)))]
async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let upload = manage::receive_upload(
        &state,
        &user.user,
        &ip,
        &headers,
        &mut multipart,
        crate::store::DocumentSource::Api,
    )
    .await?;
    if upload.accepted_any() {
        return Ok((
            StatusCode::CREATED,
            Json(UploadResponse {
                results: upload.results,
            }),
        )
            .into_response());
    }
    // Nothing was taken: the error, with each file's reason beside it. (A
    // JSON body without the error extension passes `render_errors` as is.)
    let (error, results) = upload.refusal();
    let response = error.into_response();
    let Some(body) = response
        .extensions()
        .get::<crate::error::ErrorBody>()
        .cloned()
    else {
        return Ok(response);
    };
    let mut refused = (
        response.status(),
        Json(serde_json::json!({ "error": body, "results": results })),
    )
        .into_response();
    if let Some(retry) = response.headers().get(axum::http::header::RETRY_AFTER) {
        refused
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry.clone());
    }
    Ok(refused)
}

/// One document and its processing status.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 200, body = DocumentRecord), (status = 404, body = ErrorEnvelope)))]
async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<Json<DocumentRecord>> {
    let (document, _) =
        manage::read_document(&state, &user.user, &ip, id, manage::Reading::Status).await?;
    Ok(Json(document))
}

/// Deletes a document: its file, text and search entries (audited).
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<StatusCode> {
    manage::delete_document(&state, &user.user, &ip, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct MoveRequest {
    /// The collection to move the document into.
    pub collection: i64,
}

/// Moves a document to another collection you may add documents to.
/// Moving it into the collection it is in changes nothing (and answers the
/// document as it is).
#[utoipa::path(post, path = "/api/v1/documents/{id}/move", tag = "documents", request_body = MoveRequest,
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 200, body = DocumentRecord), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn move_to(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
    Json(body): Json<MoveRequest>,
) -> AppResult<Json<DocumentRecord>> {
    match manage::move_document(&state, &user.user, &ip, id, body.collection).await? {
        manage::Moved::To(document) | manage::Moved::AlreadyThere(document) => Ok(Json(document)),
    }
}

/// Queues a document to be processed again.
#[utoipa::path(post, path = "/api/v1/documents/{id}/reprocess", tag = "documents",
    params(("id" = i64, Path, description = "Document id")),
    responses((status = 200, body = DocumentRecord), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn reprocess(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<DocumentId>,
) -> AppResult<Json<DocumentRecord>> {
    Ok(Json(
        manage::reprocess_document(&state, &user.user, &ip, id).await?,
    ))
}

/// The collections you may see, your own first.
#[utoipa::path(get, path = "/api/v1/collections", tag = "documents",
    responses((status = 200, body = Vec<Collection>)))]
async fn collections(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<Collection>>> {
    state.store.personal_collection(user.user.id).await?;
    Ok(Json(
        state
            .store
            .visible_collections(Viewer::of(&user.user))
            .await?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list, upload, read, delete, move_to, reprocess, collections),
    components(schemas(
        DocumentPage,
        DocumentRecord,
        UploadResponse,
        UploadResult,
        MoveRequest,
        Collection
    ))
)]
struct ApiDoc;

pub fn api_doc() -> utoipa::openapi::OpenApi {
    let mut doc = <ApiDoc as utoipa::OpenApi>::openapi();
    doc.merge(super::search_page::api_doc());
    doc
}
