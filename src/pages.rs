//! The home page. Staff land in the chat, the thing they open Hearth for
//! most. Owners and admins land on a getting-started checklist until they
//! hide it: name the business and set its time zone, invite the staff,
//! create a collection with documents, choose a model. Each item ticks
//! itself off from the box's real state (nothing is ticked by hand) and
//! links to where it is done; hiding the list is remembered per person.
//!
//! Turning on backups is not on the list: Hearth cannot make backups yet
//! (the README says how to copy the data directory by hand), and a
//! checklist item nobody can tick would teach owners to ignore the list.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::auth::{BUSINESS_NAME_SETTING, CurrentUser};
use crate::calendar::Settings;
use crate::calendar::office::TIME_ZONE_SETTING;
use crate::config::DEFAULT_MODEL_FILE;
use crate::error::AppResult;
use crate::llm::EngineState;
use crate::store::{Role, User, UserId};
use crate::text::count;
use crate::web::layout::{Shell, render};
use crate::web::{Access, Routes};

/// Setting key of the people who hid the checklist: a JSON list of user ids.
pub const CHECKLIST_HIDDEN_SETTING: &str = "home.checklist_hidden";

pub fn routes() -> Routes {
    Routes::new()
        .get("/", Access::Staff, home)
        .post("/checklist/hide", Access::Admin, hide)
        .post("/checklist/show", Access::Admin, show)
}

/// One thing to do on a new box.
#[derive(Debug, Clone)]
pub struct Item {
    /// Stable, for the element's id (`check-business`).
    pub id: &'static str,
    pub title: &'static str,
    /// Where it stands, in a sentence.
    pub detail: String,
    pub done: bool,
    /// Where it is done, with the link's words; none where this person
    /// cannot do it.
    pub link: Option<(&'static str, &'static str)>,
}

/// The checklist as it stands now.
#[derive(Debug, Clone)]
pub struct Checklist {
    pub items: Vec<Item>,
}

impl Checklist {
    pub fn done(&self) -> usize {
        self.items.iter().filter(|i| i.done).count()
    }

    pub fn complete(&self) -> bool {
        self.items.iter().all(|i| i.done)
    }
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    shell: Shell,
    checklist: Checklist,
}

/// Reads everything the items depend on and says what is done.
pub async fn checklist(state: &AppState, viewer: &User) -> AppResult<Checklist> {
    let is_owner = viewer.role == Role::Owner;
    let store = &state.store;
    let name = store
        .setting(BUSINESS_NAME_SETTING)
        .await?
        .filter(|n| !n.trim().is_empty());
    let zone = store.setting(TIME_ZONE_SETTING).await?;
    let people = store.users().await?.iter().filter(|u| !u.disabled).count();
    let collections = store.shared_collections().await?;
    let documents: i64 = collections.iter().map(|c| c.document_count).sum();

    let shown_zone = Settings::from_stored(zone.as_deref(), None, None).zone_name;
    let business = Item {
        id: "business",
        title: "Name the business and set its time zone",
        detail: match (&name, &zone) {
            (Some(name), Some(_)) => {
                format!("“{name}”; times are shown in {shown_zone}.")
            }
            (None, _) => format!(
                "Every page's header shows “Hearth” until the business has a name. Times are shown in {shown_zone}{}.",
                if zone.is_none() {
                    " (the box's own zone)"
                } else {
                    ""
                }
            ),
            (Some(name), None) => format!(
                "“{name}”. Times are shown in {shown_zone}, the box's own zone, until you confirm the business's zone."
            ),
        } + if is_owner {
            ""
        } else {
            " Only the owner can change these."
        },
        done: name.is_some() && zone.is_some(),
        link: is_owner.then_some(("/admin/business", "Business settings")),
    };
    let staff = Item {
        id: "staff",
        title: "Invite your staff",
        detail: if people >= 2 {
            format!("{} can sign in.", count(people as i64, "person", "people"))
        } else {
            "Only you can sign in so far. Give each person in the office an account of their own."
                .to_string()
        },
        done: people >= 2,
        link: Some(("/admin/users", "Add people")),
    };
    let documents_item = Item {
        id: "documents",
        title: "Create a collection and upload documents",
        detail: match collections.first() {
            None => "A collection holds the documents the assistant answers from, shared with the people you choose.".to_string(),
            Some(first) if documents == 0 => format!(
                "“{}” has no documents yet: upload the office's forms, price lists and procedures.",
                first.name
            ),
            Some(_) => format!(
                "{} with {}.",
                count(collections.len() as i64, "shared collection", "shared collections"),
                count(documents, "document", "documents")
            ),
        },
        done: documents > 0,
        link: Some(if collections.is_empty() {
            ("/collections#new-collection", "Create a collection")
        } else {
            ("/documents", "Upload documents")
        }),
    };
    // The engine (an engine, not the chat capability) says which model
    // answers: after a failed switch the demonstration model answers again.
    let engine = &state.chat.engine;
    let model = crate::llm::model_name(&engine.config().model_path);
    let demonstration =
        model == DEFAULT_MODEL_FILE || matches!(engine.state(), EngineState::Failed { .. });
    // The catalog's pick for this box's memory and speed (chat judges it;
    // reached through the state, as the engine is).
    let recommended = if demonstration {
        state.chat.recommended_model(&state.config).await
    } else {
        None
    };
    let model_item = Item {
        id: "model",
        title: "Choose a model from the catalog",
        detail: match (demonstration, &recommended) {
            (true, Some(pick)) => format!(
                "This box runs the demonstration model, whose answers are often wrong. {} fits this box's memory{}.",
                pick.name,
                if pick.on_box {
                    " and is already downloaded: choose “Use this model”"
                } else {
                    ": download it from the catalog"
                }
            ),
            (true, None) => "This box runs the demonstration model, whose answers are often wrong. Choose one from the catalog that suits the box.".to_string(),
            (false, _) => format!("The assistant answers with {model}."),
        },
        done: !demonstration,
        link: Some(("/admin/models#catalog", "Open the catalog")),
    };
    let plan = crate::backups::load_plan(state).await?;
    let last = crate::backup::plan::LastRun::read(&state.config.data_dir);
    let backups = Item {
        id: "backups",
        title: "Back up the office's data every night",
        detail: match (&plan.nightly_at, &last) {
            (_, Some(last)) if !last.ok => format!("The last backup failed: {}", last.message),
            (Some(at), Some(_)) => format!("Every night at {at}, into {}.", plan.directory),
            (Some(at), None) => format!(
                "Planned every night at {at}; no backup has been written yet."
            ),
            (None, _) => "Choose a USB drive or network share, set a recovery passphrase and a nightly time: one encrypted file then holds everything the office keeps here."
                .to_string(),
        } + if is_owner {
            ""
        } else {
            " Only the owner can change this."
        },
        done: plan.nightly_at.is_some() && last.is_some_and(|l| l.ok),
        link: is_owner.then_some(("/admin/backups", "Set up backups")),
    };
    Ok(Checklist {
        items: vec![business, staff, documents_item, model_item, backups],
    })
}

/// Who hid the checklist.
async fn hidden_for(state: &AppState) -> AppResult<Vec<UserId>> {
    let stored = state.store.setting(CHECKLIST_HIDDEN_SETTING).await?;
    Ok(stored
        .and_then(|json| serde_json::from_str::<Vec<i64>>(&json).ok())
        .unwrap_or_default()
        .into_iter()
        .map(UserId)
        .collect())
}

async fn home(
    State(state): State<AppState>,
    shell: Shell,
    user: CurrentUser,
) -> AppResult<Response> {
    if user.user.role < Role::Admin || hidden_for(&state).await?.contains(&user.user.id) {
        return Ok(Redirect::to("/chat").into_response());
    }
    let checklist = checklist(&state, &user.user).await?;
    render(&HomePage { shell, checklist })
}

/// Hides the checklist for this person; `/` leads to the chat from now on.
async fn hide(State(state): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    set_hidden(&state, &user.user, true).await?;
    Ok(Redirect::to("/chat").into_response())
}

/// Shows the checklist on the home page again (Admin → Business links here).
async fn show(State(state): State<AppState>, user: CurrentUser) -> AppResult<Response> {
    set_hidden(&state, &user.user, false).await?;
    Ok(Redirect::to("/").into_response())
}

async fn set_hidden(state: &AppState, user: &User, hidden: bool) -> AppResult<()> {
    let mut ids = hidden_for(state).await?;
    if ids.contains(&user.id) == hidden {
        return Ok(());
    }
    ids.retain(|id| *id != user.id);
    if hidden {
        ids.push(user.id);
    }
    let json = serde_json::to_string(&ids.iter().map(|id| id.0).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".to_string());
    // Read, then written as a new version: two owners hiding it in the same
    // instant could lose one choice, which costs a click, never data.
    state
        .store
        .set_setting(CHECKLIST_HIDDEN_SETTING, json, Some(user.id))
        .await?;
    Ok(())
}
