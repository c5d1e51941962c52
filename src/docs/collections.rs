//! Collections and who may see them: the Collections page (what you can
//! see; create a shared collection when allowed — the one place collections
//! are created), Admin → Collections (a paged list of the shared ones, one
//! page per collection to rename it, change who sees it or delete it;
//! rebuild the search index) and Admin → Access (exactly which collections
//! and how many documents a given person can see; whether staff may create
//! collections).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{STAFF_COLLECTIONS_SETTING, capitalise, staff_may_create_collections};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::auth::{AdminUser, CurrentUser};
use crate::error::{AppError, AppResult};
use crate::store::Role;
use crate::store::{Collection, CollectionAccess, CollectionId, User, UserId, Viewer};
use crate::web::layout::{Shell, redirect_with_flash, render, render_with_status};
use crate::web::middleware::ClientIp;
use crate::web::{Access, Paging, Routes};

/// Shared collections a page of Admin → Collections lists.
const COLLECTIONS_PER_PAGE: u64 = 25;

pub fn routes() -> Routes {
    Routes::new()
        .get("/collections", Access::Staff, page)
        .post("/collections", Access::Staff, create_submit)
        .get("/admin/collections", Access::Admin, admin_page)
        .post("/admin/collections", Access::Admin, admin_create_moved)
        .get("/admin/collections/{id}", Access::Admin, edit_page)
        .post("/admin/collections/{id}", Access::Admin, update_submit)
        .post(
            "/admin/collections/{id}/delete",
            Access::Admin,
            delete_submit,
        )
        .post("/admin/search/rebuild", Access::Admin, rebuild_submit)
        .get("/admin/access", Access::Admin, access_page)
        .post("/admin/access/settings", Access::Owner, settings_submit)
}

/// The form that creates or changes a collection. Checkboxes arrive as
/// repeated `role` and `user` fields.
#[derive(Debug, Default)]
pub struct CollectionForm {
    pub name: String,
    pub description: String,
    pub roles: Vec<Role>,
    pub users: Vec<UserId>,
    /// Never sent to the cloud model.
    pub local_only: bool,
}

impl CollectionForm {
    fn parse(pairs: Vec<(String, String)>) -> AppResult<CollectionForm> {
        let mut form = CollectionForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value,
                "description" => {
                    form.description = crate::text::clean_name(&value).chars().take(500).collect()
                }
                "role" => form.roles.push(
                    value
                        .parse()
                        .map_err(|_| AppError::bad_request("Unknown role."))?,
                ),
                "local_only" => form.local_only = true,
                "user" => form.users.push(UserId(
                    value
                        .parse()
                        .map_err(|_| AppError::bad_request("Unknown person."))?,
                )),
                _ => {}
            }
        }
        Ok(form)
    }

    fn access(self) -> CollectionAccess {
        CollectionAccess {
            name: self.name,
            description: self.description,
            roles: self.roles,
            users: self.users,
        }
    }
}

#[derive(Template)]
#[template(path = "docs/collections.html")]
pub struct CollectionsPage {
    shell: Shell,
    collections: Vec<Collection>,
    may_create: bool,
    users: Vec<User>,
    error: Option<String>,
}

impl CollectionsPage {
    fn who(&self, collection: &Collection) -> String {
        describe_access(collection, &self.users)
    }
}

/// "Owners, admins and Dana Smith", for people.
pub fn describe_access(collection: &Collection, users: &[User]) -> String {
    if collection.is_personal() {
        return "Only you".into();
    }
    let mut parts: Vec<String> = Role::ALL
        .iter()
        .rev()
        .filter(|r| collection.roles.contains(r))
        .map(|r| match r {
            Role::Owner => "owners".to_string(),
            Role::Admin => "admins".to_string(),
            Role::Staff => "all staff".to_string(),
        })
        .collect();
    parts.extend(
        users
            .iter()
            .filter(|u| collection.users.contains(&u.id))
            .map(|u| u.display_name.clone()),
    );
    match parts.len() {
        0 => "Nobody yet".into(),
        1 => capitalise(&parts[0]),
        n => capitalise(&format!(
            "{} and {}",
            parts[..n - 1].join(", "),
            parts[n - 1]
        )),
    }
}

async fn may_create(state: &AppState, user: &User) -> AppResult<bool> {
    Ok(user.role >= Role::Admin || staff_may_create_collections(state).await?)
}

async fn collections_page(
    state: &AppState,
    shell: Shell,
    user: &User,
    error: Option<String>,
) -> AppResult<Response> {
    state.store.personal_collection(user.id).await?;
    let collections = state.store.visible_collections(Viewer::of(user)).await?;
    let users = state.store.users().await?;
    render(&CollectionsPage {
        shell,
        collections,
        may_create: may_create(state, user).await?,
        users: users.into_iter().filter(|u| !u.disabled).collect(),
        error,
    })
}

async fn page(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
) -> AppResult<Response> {
    collections_page(&state, shell, &user.user, None).await
}

/// Creates a shared collection; its creator always sees it.
pub async fn create_collection(
    state: &AppState,
    user: &User,
    ip: &str,
    mut form: CollectionForm,
) -> AppResult<Collection> {
    if !may_create(state, user).await? {
        return Err(AppError::Forbidden);
    }
    if !form.users.contains(&user.id) && !form.roles.contains(&user.role) {
        form.users.push(user.id);
    }
    let collection = state
        .store
        .create_collection(form.access(), Some(user.id))
        .await?;
    audit::record(
        &state.store,
        Actor::User(user),
        ip,
        Event::ok("collection.created", Target::Collection(collection.id))
            .named(collection.name.clone())
            .detail(collection.name.clone()),
    )
    .await?;
    record_version(state, &collection, user).await?;
    Ok(collection)
}

/// A collection's name, description and access as a version is kept:
/// people by username (readable in a diff; found again on restore).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollectionSnapshot {
    pub name: String,
    pub description: String,
    pub roles: Vec<Role>,
    pub people: Vec<String>,
    pub local_only: bool,
}

/// The versioned-settings key of a collection's access.
pub fn version_key(id: CollectionId) -> String {
    format!("collection:{}", id.0)
}

/// Keeps the collection as it is now as a new version (Admin → Changes).
async fn record_version(state: &AppState, collection: &Collection, by: &User) -> AppResult<i64> {
    let users = state.store.users().await?;
    let snapshot = CollectionSnapshot {
        name: collection.name.clone(),
        description: collection.description.clone(),
        roles: collection.roles.clone(),
        people: users
            .iter()
            .filter(|u| collection.users.contains(&u.id))
            .map(|u| u.username.clone())
            .collect(),
        local_only: collection.local_only,
    };
    let json = serde_json::to_string(&snapshot).map_err(|e| AppError::Internal(e.into()))?;
    Ok(state
        .store
        .set_versioned(version_key(collection.id), json, Some(by.id))
        .await?)
}

/// Puts a collection back as an earlier version had it (its documents stay);
/// the restore is itself a version, and audited.
pub async fn restore_version(
    state: &AppState,
    by: &User,
    ip: &str,
    id: CollectionId,
    json: &str,
    version: i64,
) -> AppResult<i64> {
    let snapshot: CollectionSnapshot = serde_json::from_str(json)
        .map_err(|_| AppError::bad_request("That version cannot be read any more."))?;
    let before = state.store.collection(id).await?;
    let users = state.store.users().await?;
    let people: Vec<UserId> = users
        .iter()
        .filter(|u| snapshot.people.contains(&u.username))
        .map(|u| u.id)
        .collect();
    let collection = state
        .store
        .update_collection(
            id,
            CollectionAccess {
                name: snapshot.name.clone(),
                description: snapshot.description.clone(),
                roles: snapshot.roles.clone(),
                users: people,
            },
        )
        .await?;
    if before.local_only != snapshot.local_only {
        state
            .store
            .set_collection_local_only(id, snapshot.local_only)
            .await?;
    }
    let collection = state.store.collection(collection.id).await?;
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok("collection.access_changed", Target::Collection(id))
            .named(collection.name.clone())
            .detail(format!(
                "{}: restored from version {version}: {}",
                collection.name,
                describe_access(&collection, &users)
            )),
    )
    .await?;
    record_version(state, &collection, by).await
}

async fn create_submit(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = CollectionForm::parse(pairs)?;
    match create_collection(&state, &user.user, &ip, form).await {
        // Admins choose who sees it by name on its own page next.
        Ok(collection) if user.user.role >= Role::Admin => Ok(redirect_with_flash(
            &state,
            &format!("/admin/collections/{}", collection.id.0),
            &format!(
                "Created {}. Choose below who else sees it.",
                collection.name
            ),
        )),
        Ok(collection) => Ok(redirect_with_flash(
            &state,
            "/collections",
            &format!("Created {}.", collection.name),
        )),
        Err(AppError::Conflict(message)) => {
            collections_page(&state, shell, &user.user, Some(message)).await
        }
        Err(other) => Err(other),
    }
}

#[derive(Template)]
#[template(path = "docs/collections_admin.html")]
pub struct AdminCollectionsPage {
    shell: Shell,
    collections: Vec<Collection>,
    users: Vec<User>,
    total: u64,
    page: u64,
    pages: u64,
    counts: Vec<(String, i64)>,
    index_problem: Option<String>,
    index_counts: Option<(u64, u64)>,
}

impl AdminCollectionsPage {
    /// "1 document", "3 passages".
    fn count(&self, n: &u64, one: &str, many: &str) -> String {
        crate::text::count(i64::try_from(*n).unwrap_or(i64::MAX), one, many)
    }

    fn who(&self, collection: &Collection) -> String {
        describe_access(collection, &self.users)
    }

    fn created_by(&self, collection: &Collection) -> String {
        created_by(collection, &self.users)
    }

    fn staff_see(&self, collection: &Collection) -> bool {
        collection.roles.contains(&Role::Staff)
    }
}

/// Whether two versions of a collection are seen by the same roles and people.
fn same_access(a: &Collection, b: &Collection) -> bool {
    let roles = |c: &Collection| {
        let mut roles: Vec<&str> = c.roles.iter().map(|r| r.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    };
    roles(a) == roles(b) && a.users == b.users
}

/// Who created a collection, for people.
fn created_by(collection: &Collection, users: &[User]) -> String {
    collection
        .created_by
        .and_then(|id| users.iter().find(|u| u.id == id))
        .map_or_else(|| "—".to_string(), |u| u.display_name.clone())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    page: Option<u64>,
}

async fn admin_page(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(_): AdminUser,
    Query(query): Query<ListQuery>,
) -> AppResult<Response> {
    let paging = Paging::new(query.page, COLLECTIONS_PER_PAGE);
    let (collections, total) = state
        .store
        .shared_collections_page(paging.offset(), paging.per_page())
        .await?;
    render(&AdminCollectionsPage {
        shell,
        collections,
        users: state.store.users().await?,
        total,
        page: paging.page(),
        pages: paging.pages(total),
        counts: state.store.document_counts().await?,
        index_problem: state.search.problem(),
        index_counts: state.search.index().map(|i| {
            let (documents, chunks) = i.counts();
            (documents as u64, chunks as u64)
        }),
    })
}

/// Collections are created in one place, the Collections page; a form or
/// script that still posts here is sent there (308 keeps the method and
/// the form, so it is created all the same).
async fn admin_create_moved(AdminUser(_): AdminUser) -> Response {
    Redirect::permanent("/collections").into_response()
}

#[derive(Template)]
#[template(path = "docs/collection_edit.html")]
pub struct CollectionEditPage {
    shell: Shell,
    collection: Collection,
    /// What the form shows: the collection as stored, or as just submitted
    /// when saving failed.
    form: CollectionForm,
    users: Vec<User>,
    created_by: String,
    error: Option<String>,
}

impl CollectionEditPage {
    fn who(&self) -> String {
        describe_access(&self.collection, &self.users)
    }

    fn has_role(&self, role: &str) -> bool {
        self.form.roles.iter().any(|r| r.as_str() == role)
    }

    fn has_user(&self, user: &User) -> bool {
        self.form.users.contains(&user.id)
    }
}

/// A shared collection to manage; personal ones are nobody else's business.
async fn shared_collection(state: &AppState, id: CollectionId) -> AppResult<Collection> {
    let collection = state.store.collection(id).await?;
    if collection.is_personal() {
        return Err(AppError::NotFound);
    }
    Ok(collection)
}

async fn edit_page_with(
    state: &AppState,
    shell: Shell,
    collection: Collection,
    form: Option<CollectionForm>,
    error: Option<String>,
) -> AppResult<Response> {
    let users = state.store.users().await?;
    let form = form.unwrap_or_else(|| CollectionForm {
        name: collection.name.clone(),
        description: collection.description.clone(),
        roles: collection.roles.clone(),
        users: collection.users.clone(),
        local_only: collection.local_only,
    });
    let status = if error.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    Ok(render_with_status(
        status,
        &CollectionEditPage {
            shell,
            created_by: created_by(&collection, &users),
            collection,
            form,
            // Disabled accounts stay listed while they are named on it, so
            // that saving does not silently drop them.
            users,
            error,
        },
    ))
}

async fn edit_page(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(_): AdminUser,
    Path(id): Path<CollectionId>,
) -> AppResult<Response> {
    let collection = shared_collection(&state, id).await?;
    edit_page_with(&state, shell, collection, None, None).await
}

async fn update_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(user): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<CollectionId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let form = CollectionForm::parse(pairs)?;
    let before = shared_collection(&state, id).await?;
    let access = CollectionAccess {
        name: form.name.clone(),
        description: form.description.clone(),
        roles: form.roles.clone(),
        users: form.users.clone(),
    };
    let collection = match state.store.update_collection(id, access).await {
        Ok(collection) => collection,
        Err(crate::store::StoreError::Conflict(message)) => {
            return edit_page_with(&state, shell, before, Some(form), Some(message)).await;
        }
        Err(other) => return Err(other.into()),
    };
    let users = state.store.users().await?;
    let mut events = Vec::new();
    if form.local_only != before.local_only {
        state
            .store
            .set_collection_local_only(id, form.local_only)
            .await?;
        events.push(
            Event::ok("collection.kept_local", Target::Collection(id))
                .named(collection.name.clone())
                .detail(if form.local_only {
                    format!(
                        "{}: kept on this box, never sent to the cloud model",
                        collection.name
                    )
                } else {
                    format!("{}: may be sent to the cloud model", collection.name)
                }),
        );
    }
    if collection.name != before.name {
        events.push(
            Event::ok("collection.renamed", Target::Collection(id))
                .named(collection.name.clone())
                .detail(format!("{} → {}", before.name, collection.name)),
        );
    }
    if collection.description != before.description {
        events.push(
            Event::ok("collection.described", Target::Collection(id))
                .named(collection.name.clone())
                .detail(collection.description.clone()),
        );
    }
    let (was, now) = (
        describe_access(&before, &users),
        describe_access(&collection, &users),
    );
    if !same_access(&before, &collection) {
        events.push(
            Event::ok("collection.access_changed", Target::Collection(id))
                .named(collection.name.clone())
                .detail(format!("{}: {was} → {now}", collection.name)),
        );
    }
    let saved = !events.is_empty();
    for event in events {
        audit::record(&state.store, Actor::User(&user.user), &ip, event).await?;
    }
    if saved {
        let now = state.store.collection(id).await?;
        record_version(&state, &now, &user.user).await?;
    }
    Ok(redirect_with_flash(
        &state,
        &format!("/admin/collections/{}", id.0),
        &if saved {
            format!("Saved {}.", collection.name)
        } else {
            format!("Nothing changed in {}.", collection.name)
        },
    ))
}

async fn delete_submit(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(user): AdminUser,
    ClientIp(ip): ClientIp,
    Path(id): Path<CollectionId>,
) -> AppResult<Response> {
    let before = shared_collection(&state, id).await?;
    match state.store.delete_collection(id).await {
        Ok(collection) => {
            audit::record(
                &state.store,
                Actor::User(&user.user),
                &ip,
                Event::ok("collection.deleted", Target::Collection(id))
                    .named(collection.name.clone())
                    .detail(collection.name.clone()),
            )
            .await?;
            Ok(redirect_with_flash(
                &state,
                "/admin/collections",
                &format!("Deleted {}.", collection.name),
            ))
        }
        Err(crate::store::StoreError::Conflict(message)) => {
            edit_page_with(&state, shell, before, None, Some(message)).await
        }
        Err(other) => Err(other.into()),
    }
}

async fn rebuild_submit(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ClientIp(ip): ClientIp,
) -> AppResult<Response> {
    let index = super::index_or_unavailable(&state.search)?;
    let started = std::time::Instant::now();
    let count = super::ingest::rebuild_index(&state.store, index)
        .await
        .map_err(AppError::Internal)?;
    audit::record(
        &state.store,
        Actor::User(&user.user),
        &ip,
        Event::ok("search.rebuilt", Target::SearchIndex).detail(crate::text::count(
            count as i64,
            "document",
            "documents",
        )),
    )
    .await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/collections",
        &format!(
            "Search index rebuilt: {} in {:.1} s.",
            crate::text::count(count as i64, "document", "documents"),
            started.elapsed().as_secs_f64()
        ),
    ))
}

#[derive(Template)]
#[template(path = "docs/access.html")]
pub struct AccessPage {
    shell: Shell,
    users: Vec<User>,
    selected: Option<User>,
    visible: Vec<Collection>,
    staff_may_create: bool,
    is_owner: bool,
}

impl AccessPage {
    fn total_documents(&self) -> i64 {
        self.visible.iter().map(|c| c.document_count).sum()
    }

    fn why(&self, collection: &Collection) -> String {
        let Some(user) = &self.selected else {
            return String::new();
        };
        if collection.personal_of == Some(user.id) {
            "their own collection".into()
        } else if collection.users.contains(&user.id) {
            "named on it".into()
        } else {
            format!("as {}", user.role.label().to_lowercase())
        }
    }
}

#[derive(Deserialize, Default)]
pub struct AccessQuery {
    #[serde(default)]
    user: Option<i64>,
}

async fn access_page(
    State(state): State<AppState>,
    shell: Shell,
    AdminUser(admin): AdminUser,
    Query(query): Query<AccessQuery>,
) -> AppResult<Response> {
    let users = state.store.users().await?;
    let selected = query
        .user
        .and_then(|id| users.iter().find(|u| u.id.0 == id).cloned());
    let visible = match &selected {
        Some(user) => state.store.visible_collections(Viewer::of(user)).await?,
        None => Vec::new(),
    };
    render(&AccessPage {
        shell,
        users,
        selected,
        visible,
        staff_may_create: staff_may_create_collections(&state).await?,
        is_owner: admin.user.role == Role::Owner,
    })
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    staff_create_collections: Option<String>,
}

/// Lets staff create shared collections, or not (a versioned setting);
/// audited.
pub async fn set_staff_create(state: &AppState, by: &User, ip: &str, allow: bool) -> AppResult<()> {
    state
        .store
        .set_setting(STAFF_COLLECTIONS_SETTING, allow.to_string(), Some(by.id))
        .await?;
    audit::record(
        &state.store,
        Actor::User(by),
        ip,
        Event::ok(
            "settings.changed",
            Target::Setting(STAFF_COLLECTIONS_SETTING),
        )
        .detail(allow.to_string()),
    )
    .await?;
    Ok(())
}

async fn settings_submit(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientIp(ip): ClientIp,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let allow = form.staff_create_collections.is_some();
    set_staff_create(&state, &user.user, &ip, allow).await?;
    Ok(redirect_with_flash(
        &state,
        "/admin/access",
        if allow {
            "Staff may now create shared collections."
        } else {
            "Only admins and owners create shared collections now."
        },
    ))
}
