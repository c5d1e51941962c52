//! The audit log in words: every entry as a sentence ("Tom downloaded
//! Refund policy.pdf", "Priya was refused HR/Salaries.xlsx"), with the
//! actor's display name and the target's current name, or the name kept
//! at the time when it is gone.
//!
//! A sentence is written for one reader. A document is named only when the
//! reader may see it now (or, once it is gone, the collection it was in):
//! otherwise it is "a document you cannot see" and the entry's details,
//! which name it too, are withheld. Conversations are never named; they
//! are private. [`sentence`] is pure, so every action is checked in a
//! table; [`summarise`] loads the names a page of entries needs.

use std::collections::{HashMap, HashSet};

use super::{Action, Outcome};
use crate::store::{
    AppointmentId, AuditRecord, CollectionId, CustomerId, DocumentId, ResourceId, ServiceId,
    StaffId, Store, StoreError, StoreResult, User, UserId, Viewer,
};

/// What one entry says to its reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub sentence: String,
    /// The entry's details, empty when withheld.
    pub detail: String,
    /// The details name something the reader may not see.
    pub withheld: bool,
}

/// The names a sentence uses, already decided for its reader: who acted,
/// what it was about, and where (a document's collection).
#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    pub who: &'a str,
    pub what: &'a str,
    pub place: &'a str,
}

/// What an action says when it was done, and what was tried when it was
/// not (`{what}` and `{place}` are filled in; `{full}` is "place/what").
struct Phrase {
    done: &'static str,
    tried: &'static str,
    /// How a refusal reads, when "was not allowed to {tried}" would not.
    refused: Option<&'static str>,
    /// How a failure reads, when "could not {tried}" would not.
    failed: Option<&'static str>,
}

const fn phrase(done: &'static str, tried: &'static str) -> Phrase {
    Phrase {
        done,
        tried,
        refused: None,
        failed: None,
    }
}

fn phrase_of(action: Action) -> Phrase {
    use Action::*;
    match action {
        AuthLogin => phrase("signed in", "sign in as {what}"),
        AuthLogout => phrase("signed out", "sign out"),
        AuthSessionEnded => phrase("ended one of their sessions", "end a session"),
        AuthTwoFactorEnabled => phrase(
            "turned on two-factor sign-in for {what}",
            "turn on two-factor sign-in for {what}",
        ),
        AuthTwoFactorDisabled => phrase(
            "turned off two-factor sign-in for {what}",
            "turn off two-factor sign-in for {what}",
        ),
        SetupCompleted => phrase("set up Hearth for {what}", "set up Hearth"),
        UserCreated => phrase(
            "created an account for {what}",
            "create an account for {what}",
        ),
        UserUpdated => phrase("changed {what}'s account", "change {what}'s account"),
        UserDisabled => phrase("disabled {what}'s account", "disable {what}'s account"),
        UserEnabled => phrase("enabled {what}'s account again", "enable {what}'s account"),
        UserPasswordReset => phrase(
            "set a new password for {what}",
            "set a new password for {what}",
        ),
        UserPasswordChanged => phrase("changed their password", "change their password"),
        ApiKeyCreated => phrase("created an API key", "create an API key"),
        ApiKeyRevoked => phrase("revoked an API key", "revoke an API key"),
        AccessRefused => Phrase {
            refused: Some("was refused {what}"),
            ..phrase("opened {what}", "open {what}")
        },
        ChatCreated => phrase("started a conversation", "start a conversation"),
        ChatDeleted => phrase("deleted a conversation", "delete a conversation"),
        ModelAdded => phrase("added the model {what}", "add the model {what}"),
        ModelActivated => phrase(
            "switched the assistant to the model {what}",
            "switch the assistant to the model {what}",
        ),
        ModelRemoved => phrase("removed the model {what}", "remove the model {what}"),
        ModelDownloaded => phrase("downloaded the model {what}", "download the model {what}"),
        SettingsChanged => phrase("changed {what}", "change {what}"),
        DocsViewed => Phrase {
            refused: Some("was refused {full}"),
            ..phrase("opened {what}", "open {what}")
        },
        DocsDownloaded => Phrase {
            refused: Some("was refused the download of {full}"),
            ..phrase("downloaded {what}", "download {what}")
        },
        DocsUploaded => phrase("uploaded {what} to {place}", "upload {what}"),
        DocsMoved => phrase("moved {what} to {place}", "move {full}"),
        DocsReprocessed => phrase("had {what} processed again", "have {full} processed again"),
        DocsDeleted => phrase("deleted {what} from {place}", "delete {full}"),
        CollectionViewed => Phrase {
            refused: Some("was refused the collection {what}"),
            ..phrase("opened the collection {what}", "open the collection {what}")
        },
        CollectionCreated => phrase(
            "created the collection {what}",
            "create the collection {what}",
        ),
        CollectionRenamed => phrase(
            "renamed a collection to {what}",
            "rename a collection to {what}",
        ),
        CollectionDescribed => phrase(
            "changed the description of {what}",
            "change the description of {what}",
        ),
        CollectionAccessChanged => phrase("changed who sees {what}", "change who sees {what}"),
        CollectionKeptLocal => phrase(
            "changed whether {what} may be sent to the cloud model",
            "change whether {what} may be sent to the cloud model",
        ),
        CollectionDeleted => phrase(
            "deleted the collection {what}",
            "delete the collection {what}",
        ),
        SearchRebuilt => phrase("rebuilt the search index", "rebuild the search index"),
        SystemUpdateRequested => phrase(
            "asked to update the box to {what}",
            "update the box to {what}",
        ),
        SystemUpdated => phrase("updated the box to {what}", "update the box to {what}"),
        BackupCreated => phrase("backed up the office's data", "back up the office's data"),
        BackupRestored => phrase(
            "restored the office's data from a backup",
            "restore the office's data from a backup",
        ),
        BackupPassphraseSet => phrase(
            "set the backups' recovery passphrase",
            "set the backups' recovery passphrase",
        ),
        BackupSheetViewed => phrase(
            "opened the backups' recovery sheet",
            "open the recovery sheet",
        ),
        ReviewFlagged => phrase("flagged an answer", "flag an answer"),
        ReviewDismissed => phrase("dismissed a flag on an answer", "dismiss a flag"),
        ReviewFactAdded => phrase(
            "turned a correction into the house fact {what}",
            "turn a correction into a house fact",
        ),
        AuditVerified => Phrase {
            failed: Some("checked the audit log and found it altered"),
            ..phrase(
                "checked the audit log and found it intact",
                "check the audit log",
            )
        },
        SystemSshChanged => phrase(
            "changed remote maintenance by SSH",
            "change remote maintenance by SSH",
        ),
        ScheduleBooked => phrase(
            "booked an appointment for {what}",
            "book an appointment for {what}",
        ),
        ScheduleChanged => phrase(
            "changed the appointment for {what}",
            "change the appointment for {what}",
        ),
        ScheduleOverride => phrase(
            "overrode conflicts for the appointment for {what}",
            "override conflicts for the appointment for {what}",
        ),
        ScheduleCancelled => phrase(
            "cancelled the appointment for {what}",
            "cancel the appointment for {what}",
        ),
        ScheduleDone => phrase(
            "marked the appointment for {what} as done",
            "mark the appointment for {what} as done",
        ),
        ScheduleNoShow => phrase(
            "marked the appointment for {what} as a no-show",
            "mark the appointment for {what} as a no-show",
        ),
        ScheduleProposalConfirmed => phrase(
            "confirmed a change the assistant proposed",
            "confirm a change the assistant proposed",
        ),
        ScheduleImported => phrase(
            "imported appointments into {what}'s calendar",
            "import appointments into {what}'s calendar",
        ),
        ScheduleFeedCreated => phrase(
            "created a calendar subscription",
            "create a calendar subscription",
        ),
        ScheduleFeedRevoked => phrase(
            "revoked a calendar subscription",
            "revoke a calendar subscription",
        ),
        ScheduleCustomerCreated => phrase("added the customer {what}", "add the customer {what}"),
        ScheduleCustomerUpdated => {
            phrase("changed the customer {what}", "change the customer {what}")
        }
        ScheduleStaffCreated => phrase("added {what} to the staff", "add {what} to the staff"),
        ScheduleStaffUpdated => phrase(
            "changed {what}'s staff details",
            "change {what}'s staff details",
        ),
        ScheduleServiceCreated => phrase("added the service {what}", "add the service {what}"),
        ScheduleServiceUpdated => phrase("changed the service {what}", "change the service {what}"),
        ScheduleResourceCreated => phrase("added the resource {what}", "add the resource {what}"),
        ScheduleResourceUpdated => {
            phrase("changed the resource {what}", "change the resource {what}")
        }
        ScheduleClosureAdded => phrase("added a closure", "add a closure"),
        ScheduleClosureDeleted => phrase("removed a closure", "remove a closure"),
        ScheduleTimeOffAdded => phrase("added time off", "add time off"),
        ScheduleTimeOffDeleted => phrase("removed time off", "remove time off"),
    }
}

/// One entry as a sentence for people. `action` is `None` for a name no
/// longer (or not yet) in [`Action`]; `dotted` is then said as it is.
pub fn sentence(action: Option<Action>, dotted: &str, outcome: Outcome, names: Names) -> String {
    let Some(action) = action else {
        return format!("{} did {dotted}", names.who);
    };
    let phrase = phrase_of(action);
    let mut tried = phrase.tried;
    // "Sarah could not sign in", not "Sarah could not sign in as Sarah".
    if action == Action::AuthLogin && names.what == names.who {
        tried = "sign in";
    }
    let text = match outcome {
        Outcome::Ok => format!("{} {}", names.who, phrase.done),
        Outcome::Failed => match phrase.failed {
            Some(failed) => format!("{} {failed}", names.who),
            None => format!("{} could not {tried}", names.who),
        },
        Outcome::Denied => match phrase.refused {
            Some(refused) => format!("{} {refused}", names.who),
            None => format!("{} was not allowed to {tried}", names.who),
        },
    };
    let full = if names.place.is_empty() {
        names.what.to_string()
    } else {
        format!("{}/{}", names.place, names.what)
    };
    let place = if names.place.is_empty() {
        "another collection"
    } else {
        names.place
    };
    text.replace("{full}", &full)
        .replace("{what}", names.what)
        .replace("{place}", place)
}

/// What people call a setting a `settings.changed` entry is about.
fn setting_name(key: &str) -> String {
    match key {
        "assistant" => "the assistant's settings".into(),
        "documents.staff_create_collections" => "who may create shared collections".into(),
        "schedule.time_zone" => "the schedule's time zone".into(),
        "schedule.opening_hours" => "the opening hours".into(),
        "schedule.slot_minutes" => "the schedule's slot length".into(),
        other => format!("the setting {other}"),
    }
}

/// What people call a page: "Admin → Users" for `/admin/users/4`.
fn page_name(path: &str) -> String {
    const AREAS: &[(&str, &str)] = &[
        ("/admin/users", "Admin → Users"),
        ("/admin/audit", "Admin → Audit log"),
        ("/admin/collections", "Admin → Collections"),
        ("/admin/access", "Admin → Access"),
        ("/admin/search", "Admin → Collections (search index)"),
        ("/admin/assistant", "Admin → Assistant"),
        ("/admin/models", "Admin → Models"),
        ("/admin/schedule", "Admin → Schedule"),
        ("/api/v1/users", "the people API"),
        ("/api/v1/audit", "the audit log API"),
    ];
    AREAS
        .iter()
        .find(|(prefix, _)| {
            path == *prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| match path {
            "/admin" => "the admin area".into(),
            other => format!("the page {other}"),
        })
}

/// The id in a stored target such as `document:12`.
fn id_in(target: &str, prefix: &str) -> Option<i64> {
    target.strip_prefix(prefix)?.strip_prefix(':')?.parse().ok()
}

/// What a page of entries names, loaded once.
struct Lookup {
    users_by_id: HashMap<UserId, String>,
    users_by_name: HashMap<String, String>,
    visible: HashSet<CollectionId>,
    names: crate::store::AuditNames,
    staff: HashMap<StaffId, String>,
    services: HashMap<ServiceId, String>,
    resources: HashMap<ResourceId, String>,
    customers: HashMap<CustomerId, String>,
    appointments: HashMap<AppointmentId, String>,
}

/// Sentences for `records`, as `reader` may read them.
pub async fn summarise(
    store: &Store,
    reader: &User,
    records: &[AuditRecord],
) -> StoreResult<Vec<Summary>> {
    let users = store.users().await?;
    let documents = records
        .iter()
        .filter_map(|r| id_in(&r.target, "document").map(DocumentId))
        .collect::<HashSet<_>>();
    let collections = records
        .iter()
        .filter_map(|r| id_in(&r.target, "collection").map(CollectionId))
        .chain(records.iter().filter_map(|r| r.target_collection))
        .collect::<HashSet<_>>();
    let names = store
        .audit_names(
            documents.into_iter().collect(),
            collections.into_iter().collect(),
        )
        .await?;
    let mentions = |prefix: &str| records.iter().any(|r| id_in(&r.target, prefix).is_some());
    let mut lookup = Lookup {
        users_by_id: users
            .iter()
            .map(|u| (u.id, u.display_name.clone()))
            .collect(),
        users_by_name: users
            .iter()
            .map(|u| (u.username.to_lowercase(), u.display_name.clone()))
            .collect(),
        visible: store
            .visible_collection_ids(Viewer::of(reader))
            .await?
            .into_iter()
            .collect(),
        names,
        staff: HashMap::new(),
        services: HashMap::new(),
        resources: HashMap::new(),
        customers: HashMap::new(),
        appointments: HashMap::new(),
    };
    if mentions("staff") {
        lookup.staff = store
            .staff()
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
    }
    if mentions("service") {
        lookup.services = store
            .services()
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
    }
    if mentions("resource") {
        lookup.resources = store
            .resources()
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
    }
    for record in records {
        if let Some(id) = id_in(&record.target, "customer").map(CustomerId)
            && let std::collections::hash_map::Entry::Vacant(slot) = lookup.customers.entry(id)
        {
            match store.customer(id).await {
                Ok(customer) => {
                    slot.insert(customer.name);
                }
                Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        if let Some(id) = id_in(&record.target, "appointment").map(AppointmentId)
            && let std::collections::hash_map::Entry::Vacant(slot) = lookup.appointments.entry(id)
        {
            match store.appointment(id).await {
                Ok(appointment) => {
                    slot.insert(
                        appointment
                            .customer_name
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| format!("\u{201c}{}\u{201d}", appointment.title)),
                    );
                }
                Err(StoreError::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
    }
    Ok(records.iter().map(|r| lookup.summary(r)).collect())
}

impl Lookup {
    fn summary(&self, record: &AuditRecord) -> Summary {
        let action = Action::parse(&record.action);
        let who = match record.actor_id {
            Some(id) => self
                .users_by_id
                .get(&id)
                .cloned()
                .unwrap_or_else(|| record.actor.clone()),
            None if record.actor == "console" => "Someone at the console".into(),
            None => "Someone".into(),
        };
        let mut withheld = false;
        let mut place = String::new();
        let target = record.target.as_str();
        let what = if let Some(id) = id_in(target, "document").map(DocumentId) {
            let current = self.names.documents.get(&id);
            let seen_in = current.map(|(_, c)| *c).or(record.target_collection);
            if seen_in.is_some_and(|c| self.visible.contains(&c)) {
                // After a move, the collection it went to; else where it is.
                if let Some(c) = record.target_collection.or(seen_in) {
                    place = self.collection_name(c, "");
                }
                current
                    .map(|(name, _)| name.clone())
                    .filter(|n| !n.is_empty())
                    .or_else(|| Some(record.target_name.clone()).filter(|n| !n.is_empty()))
                    .unwrap_or_else(|| format!("document {}", id.0))
            } else {
                withheld = true;
                "a document you cannot see".into()
            }
        } else if let Some(id) = id_in(target, "collection").map(CollectionId) {
            if action == Some(Action::CollectionRenamed) && !record.target_name.is_empty() {
                record.target_name.clone()
            } else {
                self.collection_name(id, &record.target_name)
            }
        } else if let Some(id) = id_in(target, "appointment") {
            self.appointments
                .get(&AppointmentId(id))
                .cloned()
                .unwrap_or_else(|| format!("appointment {id}"))
        } else if let Some(id) = id_in(target, "customer") {
            self.customers
                .get(&CustomerId(id))
                .cloned()
                .unwrap_or_else(|| format!("customer {id}"))
        } else if let Some(id) = id_in(target, "staff") {
            self.staff
                .get(&StaffId(id))
                .cloned()
                .unwrap_or_else(|| format!("staff member {id}"))
        } else if let Some(id) = id_in(target, "service") {
            self.services
                .get(&ServiceId(id))
                .cloned()
                .unwrap_or_else(|| format!("service {id}"))
        } else if let Some(id) = id_in(target, "resource") {
            self.resources
                .get(&ResourceId(id))
                .cloned()
                .unwrap_or_else(|| format!("resource {id}"))
        } else if let Some(version) = target.strip_prefix("version:") {
            format!("version {version}")
        } else {
            match action.map(Action::kind) {
                Some("auth" | "user" | "api_key") => self
                    .users_by_name
                    .get(&target.to_lowercase())
                    .cloned()
                    .unwrap_or_else(|| format!("\u{201c}{target}\u{201d}")),
                Some("settings") => setting_name(target),
                Some("access") => page_name(target),
                _ => target.to_string(),
            }
        };
        Summary {
            sentence: sentence(
                action,
                &record.action,
                record.outcome,
                Names {
                    who: &who,
                    what: &what,
                    place: &place,
                },
            ),
            detail: if withheld {
                String::new()
            } else {
                record.detail.clone()
            },
            withheld,
        }
    }

    /// A collection's name now, else the one kept at the time; a personal
    /// collection is "Tom's own collection".
    fn collection_name(&self, id: CollectionId, kept: &str) -> String {
        match self.names.collections.get(&id) {
            Some((_, Some(owner))) => match self.users_by_id.get(owner) {
                Some(name) => format!("{name}'s own collection"),
                None => "someone's own collection".into(),
            },
            Some((name, None)) => name.clone(),
            None if !kept.is_empty() => kept.to_string(),
            None => format!("collection {}", id.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(action: Action, outcome: Outcome, what: &str, place: &str, expected: &str) {
        let names = Names {
            who: "Tom",
            what,
            place,
        };
        assert_eq!(
            sentence(Some(action), action.name(), outcome, names),
            expected,
            "{}",
            action.name()
        );
    }

    #[test]
    fn sentences_read_as_people_say_them() {
        use Action::*;
        check(AuthLogin, Outcome::Ok, "Tom", "", "Tom signed in");
        check(
            AuthLogin,
            Outcome::Failed,
            "Tom",
            "",
            "Tom could not sign in",
        );
        check(
            AuthLogin,
            Outcome::Failed,
            "\u{201c}bob\u{201d}",
            "",
            "Tom could not sign in as \u{201c}bob\u{201d}",
        );
        check(
            DocsDownloaded,
            Outcome::Ok,
            "Refund policy.pdf",
            "Front desk",
            "Tom downloaded Refund policy.pdf",
        );
        check(
            DocsViewed,
            Outcome::Denied,
            "Salaries.xlsx",
            "HR",
            "Tom was refused HR/Salaries.xlsx",
        );
        check(
            DocsMoved,
            Outcome::Ok,
            "Fees 2026.pdf",
            "Front desk",
            "Tom moved Fees 2026.pdf to Front desk",
        );
        check(
            SettingsChanged,
            Outcome::Ok,
            &setting_name("assistant"),
            "",
            "Tom changed the assistant's settings",
        );
        check(
            AccessRefused,
            Outcome::Denied,
            &page_name("/admin/users/3"),
            "",
            "Tom was refused Admin → Users",
        );
        check(
            DocsDeleted,
            Outcome::Denied,
            "Fees.pdf",
            "",
            "Tom was not allowed to delete Fees.pdf",
        );
    }

    #[test]
    fn every_action_has_a_sentence_for_every_outcome() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(*action));
            for outcome in [Outcome::Ok, Outcome::Failed, Outcome::Denied] {
                let text = sentence(
                    Some(*action),
                    action.name(),
                    outcome,
                    Names {
                        who: "Tom",
                        what: "X",
                        place: "P",
                    },
                );
                assert!(text.starts_with("Tom "), "{}: {text}", action.name());
                assert!(!text.contains('{'), "{}: {text}", action.name());
                assert!(!text.contains(action.name()), "{}: {text}", action.name());
            }
        }
    }

    #[test]
    fn pages_have_names() {
        assert_eq!(page_name("/admin/audit"), "Admin → Audit log");
        assert_eq!(page_name("/admin/auditx"), "the page /admin/auditx");
        assert_eq!(page_name("/admin"), "the admin area");
    }
}
