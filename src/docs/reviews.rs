//! Admin → Reviews and `/api/v1/reviews`: the answers people flagged, for
//! owners and admins. Each shows the question, the answer, the passages it
//! was given and the flag (with the person's correction). A reviewer
//! dismisses it, or turns the correction (edited if need be) into a house
//! fact: a short document in the shared "House facts" collection, which
//! retrieval reads like any other, so the next answer to that question can
//! cite it. Every review action is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use serde::Deserialize;

use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::AdminUser;
use crate::error::{AppError, AppResult, ErrorEnvelope};
use crate::store::{
    Collection, CollectionAccess, DocumentId, DocumentSource, Flag, FlagId, FlagRating, FlagStatus,
    Role, StoreError, User,
};
use crate::web::layout::{Shell, redirect_with_flash, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::time::{Moment, Times};
use crate::web::{Access, Routes};

/// The collection house facts go into, shared with everyone.
pub const HOUSE_FACTS: &str = "House facts";

/// Longest house fact, in characters.
const FACT_CHARS: usize = 4000;

/// Longest note on a dismissed flag, in characters.
const NOTE_CHARS: usize = 500;

/// Flags a page shows.
const SHOWN: u32 = 200;

pub fn routes() -> Routes {
    Routes::new()
        .get("/admin/reviews", Access::Admin, page)
        .post("/admin/reviews/{id}/dismiss", Access::Admin, dismiss_submit)
        .post("/admin/reviews/{id}/fact", Access::Admin, fact_submit)
        .get("/api/v1/reviews", Access::Admin, api_list)
        .post("/api/v1/reviews/{id}/dismiss", Access::Admin, api_dismiss)
        .post("/api/v1/reviews/{id}/fact", Access::Admin, api_fact)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// `open` (the default), `accepted`, `dismissed` or `all`.
    #[serde(default)]
    pub status: String,
}

impl ReviewQuery {
    fn status(&self) -> AppResult<Option<FlagStatus>> {
        match self.status.as_str() {
            "" | "open" => Ok(Some(FlagStatus::Open)),
            "all" => Ok(None),
            other => other
                .parse()
                .map(Some)
                .map_err(|_| AppError::bad_request("Unknown status.")),
        }
    }
}

#[derive(Template)]
#[template(path = "docs/reviews.html")]
pub struct ReviewsPage {
    shell: Shell,
    flags: Vec<Flag>,
    showing: String,
    times: Times,
}

impl ReviewsPage {
    fn time(&self, unix: &i64) -> Moment {
        self.times.at(*unix)
    }

    fn is_down(&self, flag: &Flag) -> bool {
        flag.rating == FlagRating::Down
    }

    fn is_open(&self, flag: &Flag) -> bool {
        flag.status == FlagStatus::Open
    }
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    _admin: AdminUser,
    Query(query): Query<ReviewQuery>,
) -> AppResult<Response> {
    let status = query.status()?;
    let flags = state.store.flags(status, SHOWN).await?;
    let showing = status.map_or("all".to_string(), |s| s.as_str().to_string());
    Ok(render_with_status(
        StatusCode::OK,
        &ReviewsPage {
            shell,
            flags,
            showing,
            times: Times::load(&state).await?,
        },
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DismissInput {
    /// Why (optional).
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct FactInput {
    /// The fact as the assistant should read it; empty takes the person's
    /// correction as it is.
    #[serde(default)]
    pub fact: String,
}

async fn dismiss(
    state: &AppState,
    by: &User,
    ip: &str,
    id: FlagId,
    input: DismissInput,
) -> AppResult<Flag> {
    if input.note.trim().chars().count() > NOTE_CHARS {
        return Err(AppError::bad_request(format!(
            "A note can be at most {NOTE_CHARS} characters."
        )));
    }
    let note = crate::text::clean_name(input.note.trim());
    let flag = state
        .store
        .review_flag(id, by.id, FlagStatus::Dismissed, note.clone(), None)
        .await?;
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("review.dismissed", Target::Nothing).detail(format!(
            "flag {} on \"{}\"{}",
            id.0,
            crate::text::truncate_words(&flag.question, 80),
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            }
        )),
    )
    .await?;
    Ok(flag)
}

/// Writes the house fact as a document in [`HOUSE_FACTS`] (made, shared
/// with every role, if there is none) and closes the flag.
async fn make_fact(
    state: &AppState,
    by: &User,
    ip: &str,
    id: FlagId,
    input: FactInput,
) -> AppResult<Flag> {
    let flag = state.store.flag(id).await?;
    if flag.status != FlagStatus::Open {
        return Err(AppError::Conflict("This flag was already reviewed.".into()));
    }
    let fact = if input.fact.trim().is_empty() {
        flag.correction.trim().to_string()
    } else {
        input.fact.trim().to_string()
    };
    if fact.is_empty() {
        return Err(AppError::bad_request(
            "Write the fact the assistant should know (the flag has no correction to take).",
        ));
    }
    if fact.chars().count() > FACT_CHARS {
        return Err(AppError::bad_request(format!(
            "A house fact can be at most {FACT_CHARS} characters."
        )));
    }
    let collection = house_facts(state, by).await?;
    // The question is part of the document, so a question asked the same
    // way finds it.
    let text = format!(
        "# House fact\n\nQuestion: {}\n\n{fact}\n",
        flag.question.trim()
    );
    let document = add_text(
        state,
        &collection,
        &format!("house-fact-{}.md", id.0),
        &text,
    )
    .await?;
    let flag = state
        .store
        .review_flag(
            id,
            by.id,
            FlagStatus::Accepted,
            String::new(),
            Some(document),
        )
        .await?;
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("review.fact_added", Target::Document(document))
            .named(format!("house-fact-{}.md", id.0))
            .detail(crate::text::truncate_words(&fact, 300)),
    )
    .await?;
    Ok(flag)
}

async fn house_facts(state: &AppState, by: &User) -> AppResult<Collection> {
    match state.store.collection_by_name(HOUSE_FACTS.to_string()).await {
        Ok(collection) => Ok(collection),
        Err(StoreError::NotFound) => Ok(state
            .store
            .create_collection(
                CollectionAccess {
                    name: HOUSE_FACTS.into(),
                    description: "Corrections made facts on Admin → Reviews; the assistant reads them like any document.".into(),
                    roles: vec![Role::Owner, Role::Admin, Role::Staff],
                    users: Vec::new(),
                },
                Some(by.id),
            )
            .await?),
        Err(err) => Err(err.into()),
    }
}

/// Stores `text` as the file `name` in `collection` and queues it.
async fn add_text(
    state: &AppState,
    collection: &Collection,
    name: &str,
    text: &str,
) -> AppResult<DocumentId> {
    let dir = state.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let path = dir.join(name);
    tokio::fs::write(&path, text)
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let imported = super::import::import_file(
        &state.store,
        &state.config,
        &state.docs.wake,
        &path,
        collection,
        DocumentSource::Upload,
    )
    .await;
    let _ = tokio::fs::remove_file(&path).await;
    match imported.map_err(AppError::Internal)? {
        super::import::Imported::Queued(id) => Ok(id),
        super::import::Imported::Duplicate(why) => {
            Err(AppError::Conflict(format!("The same fact is {why}.")))
        }
        super::import::Imported::Rejected(why) => Err(AppError::bad_request(why)),
    }
}

async fn dismiss_submit(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(input): Form<DismissInput>,
) -> AppResult<Response> {
    dismiss(&state, &by.user, &ip, FlagId(id), input).await?;
    Ok(redirect_with_flash(&state, "/admin/reviews", "Dismissed."))
}

async fn fact_submit(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Form(input): Form<FactInput>,
) -> AppResult<Response> {
    make_fact(&state, &by.user, &ip, FlagId(id), input).await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/reviews",
        "Saved as a house fact: once it is indexed (a few seconds), answers can use and cite it.",
    ))
}

/// Flags on answers, newest first (`status`: open by default).
#[utoipa::path(get, path = "/api/v1/reviews", tag = "reviews", params(ReviewQuery),
    responses((status = 200, body = Vec<Flag>), (status = 403, body = ErrorEnvelope)))]
async fn api_list(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<ReviewQuery>,
) -> AppResult<Json<Vec<Flag>>> {
    Ok(Json(state.store.flags(query.status()?, SHOWN).await?))
}

/// Closes a flag without changing anything.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/dismiss", tag = "reviews",
    params(("id" = i64, Path, description = "Flag id")), request_body = DismissInput,
    responses((status = 200, body = Flag), (status = 409, body = ErrorEnvelope)))]
async fn api_dismiss(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Json(input): Json<DismissInput>,
) -> AppResult<Json<Flag>> {
    Ok(Json(
        dismiss(&state, &by.user, &ip, FlagId(id), input).await?,
    ))
}

/// Turns the flag's correction (or `fact`) into a house fact that
/// retrieval uses, and closes the flag.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/fact", tag = "reviews",
    params(("id" = i64, Path, description = "Flag id")), request_body = FactInput,
    responses((status = 200, body = Flag), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn api_fact(
    State(state): State<AppState>,
    AdminUser(by): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
    Json(input): Json<FactInput>,
) -> AppResult<Json<Flag>> {
    Ok(Json(
        make_fact(&state, &by.user, &ip, FlagId(id), input).await?,
    ))
}

pub fn api_doc() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(api_list, api_dismiss, api_fact),
        components(schemas(Flag, DismissInput, FactInput, ErrorEnvelope))
    )]
    struct ApiDoc;
    <ApiDoc as utoipa::OpenApi>::openapi()
}
