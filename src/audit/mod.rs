//! Who did what: the append-only audit log. Every capability records its
//! events through [`record`] (or [`record_once`] for reads and refusals,
//! which would otherwise flood it), naming the action with a dotted name
//! from the closed set [`Action`] (`auth.login`, `user.created`,
//! `settings.changed`), so Admin → Audit can filter by capability with a
//! prefix (`user`). [`sentences`] turns entries into what people read:
//! "Tom downloaded Refund policy.pdf".

pub mod chain;
mod sentences;

pub use sentences::{Names, Summary, sentence, summarise};

use std::time::Duration;

use crate::store::{
    AppointmentId, ClosureId, CollectionId, ConversationId, CustomerId, DocumentId, FeedId,
    NewAuditRecord, ProposalId, ResourceId, ServiceId, StaffId, Store, StoreResult, TimeOffId,
    User,
};

/// Who acted.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    User(&'a User),
    /// The `hearth` command line, run by whoever has a shell on the box.
    Console,
    /// No one signed in; the string is what they claimed (a username typed at
    /// login), kept short.
    Anonymous(&'a str),
}

pub use crate::store::AuditOutcome as Outcome;

/// What an action was done to, stored as text the log can be filtered by:
/// a username, `document:12`, `collection:3`, `conversation:5`, a model's
/// file name, a setting's key, `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Nothing in particular (a failed setup).
    Nothing,
    /// A person, by username.
    User(&'a str),
    Document(DocumentId),
    Collection(CollectionId),
    Conversation(ConversationId),
    /// A model, by file name.
    Model(&'a str),
    /// A setting, by key.
    Setting(&'a str),
    /// The search index as a whole.
    SearchIndex,
    /// The business, by name (setup).
    Business(&'a str),
    Appointment(AppointmentId),
    Customer(CustomerId),
    Staff(StaffId),
    Service(ServiceId),
    Resource(ResourceId),
    Closure(ClosureId),
    TimeOff(TimeOffId),
    /// A calendar subscription.
    Feed(FeedId),
    /// Something the assistant proposed.
    Proposal(ProposalId),
    /// A page or API path (a refused one).
    Page(&'a str),
    /// A version of the system (an update).
    Version(&'a str),
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Nothing => Ok(()),
            Target::User(name)
            | Target::Model(name)
            | Target::Setting(name)
            | Target::Business(name)
            | Target::Page(name) => f.write_str(name),
            Target::Version(version) => write!(f, "version:{version}"),
            Target::Document(id) => write!(f, "document:{}", id.0),
            Target::Collection(id) => write!(f, "collection:{}", id.0),
            Target::Conversation(id) => write!(f, "conversation:{}", id.0),
            Target::SearchIndex => f.write_str("index"),
            Target::Appointment(id) => write!(f, "appointment:{id}"),
            Target::Customer(id) => write!(f, "customer:{id}"),
            Target::Staff(id) => write!(f, "staff:{id}"),
            Target::Service(id) => write!(f, "service:{id}"),
            Target::Resource(id) => write!(f, "resource:{id}"),
            Target::Closure(id) => write!(f, "closure:{id}"),
            Target::TimeOff(id) => write!(f, "time_off:{id}"),
            Target::Feed(id) => write!(f, "feed:{id}"),
            Target::Proposal(id) => write!(f, "proposal:{id}"),
        }
    }
}

/// One event.
pub struct Event<'a> {
    /// One of [`Action`]'s names.
    pub action: &'a str,
    pub target: Target<'a>,
    pub outcome: Outcome,
    pub detail: String,
    /// The target's name now, kept for when it is renamed or gone.
    pub name: String,
    /// The collection a document target is in (after a move: the new one).
    pub collection: Option<CollectionId>,
}

impl<'a> Event<'a> {
    pub fn ok(action: &'a str, target: Target<'a>) -> Self {
        Event {
            action,
            target,
            outcome: Outcome::Ok,
            detail: String::new(),
            name: String::new(),
            collection: None,
        }
    }

    /// Someone asked for what they may not see or do.
    pub fn refused(action: &'a str, target: Target<'a>) -> Self {
        Event {
            outcome: Outcome::Denied,
            ..Event::ok(action, target)
        }
    }

    /// The target's name at the time (a document's file name).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The collection the (document) target is in.
    pub fn in_collection(mut self, collection: CollectionId) -> Self {
        self.collection = Some(collection);
        self
    }

    pub fn failed(action: &'a str, target: Target<'a>) -> Self {
        Event {
            outcome: Outcome::Failed,
            ..Event::ok(action, target)
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// Appends `event` to the log. A failure to record is an error for the
/// caller: an action that cannot be audited should not be reported as done.
pub async fn record(
    store: &Store,
    actor: Actor<'_>,
    ip: &str,
    event: Event<'_>,
) -> StoreResult<()> {
    store
        .append_audit(new_record(store, actor, ip, event))
        .await
}

/// Records that `user` changed the versioned setting `key` (`detail`: what
/// changed, in words).
pub async fn setting_changed(
    store: &Store,
    user: &User,
    ip: &str,
    key: &'static str,
    detail: String,
) -> StoreResult<()> {
    let event = Event::ok("settings.changed", Target::Setting(key)).detail(detail);
    record(store, Actor::User(user), ip, event).await
}

/// Like [`record`], unless the same person has an entry with the same
/// action, target and outcome within `window` (`audit.repeat_window_minutes`):
/// reading a document ten times in a minute is one entry. Whether it was
/// recorded.
pub async fn record_once(
    store: &Store,
    actor: Actor<'_>,
    ip: &str,
    event: Event<'_>,
    window: Duration,
) -> StoreResult<bool> {
    let since = store.now() - i64::try_from(window.as_secs()).unwrap_or(i64::MAX / 2);
    store
        .append_audit_unless_recent(new_record(store, actor, ip, event), since)
        .await
}

fn new_record(store: &Store, actor: Actor<'_>, ip: &str, event: Event<'_>) -> NewAuditRecord {
    if Action::parse(event.action).is_none() {
        // Recorded all the same (the log must not lose an event); the
        // sentence falls back to the action's name, and the test that
        // every action has a sentence names it.
        tracing::warn!(action = event.action, "an audit action without a sentence");
    }
    let (actor_id, actor_name) = match actor {
        Actor::User(user) => (Some(user.id), user.username.clone()),
        Actor::Console => (None, "console".to_string()),
        Actor::Anonymous(claimed) => (None, claimed.chars().take(64).collect()),
    };
    NewAuditRecord {
        at: store.now(),
        actor_id,
        actor: actor_name,
        action: event.action.to_string(),
        target: event.target.to_string(),
        outcome: event.outcome,
        ip: ip.to_string(),
        detail: event.detail,
        target_name: event.name.chars().take(300).collect(),
        target_collection: event.collection,
    }
}

/// Defines [`Action`]: every action the log records, with its dotted name.
macro_rules! actions {
    ($( $(#[$meta:meta])* $variant:ident = $name:literal, )+) => {
        /// Every action the audit log records. Capabilities pass the dotted
        /// name to [`Event`]; [`sentence`] says each in words.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $( $(#[$meta])* $variant, )+
        }

        impl Action {
            /// Every action, in the order the filter lists them.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The dotted name stored in the log.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }

            pub fn parse(name: &str) -> Option<Action> {
                match name {
                    $($name => Some(Action::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

actions! {
    AuthLogin = "auth.login",
    AuthLogout = "auth.logout",
    /// One of a person's other sessions was ended from their profile.
    AuthSessionEnded = "auth.session_ended",
    /// Someone turned on two-factor sign-in (or made new recovery codes).
    AuthTwoFactorEnabled = "auth.two_factor_enabled",
    /// Two-factor sign-in was turned off (by the person, or reset by an owner).
    AuthTwoFactorDisabled = "auth.two_factor_disabled",
    SetupCompleted = "setup.completed",
    UserCreated = "user.created",
    UserUpdated = "user.updated",
    UserDisabled = "user.disabled",
    UserEnabled = "user.enabled",
    UserPasswordReset = "user.password_reset",
    UserPasswordChanged = "user.password_changed",
    ApiKeyCreated = "api_key.created",
    ApiKeyRevoked = "api_key.revoked",
    /// A page or API refused to someone signed in for their role.
    AccessRefused = "access.refused",
    ChatCreated = "chat.created",
    ChatDeleted = "chat.deleted",
    ModelAdded = "model.added",
    ModelActivated = "model.activated",
    ModelRemoved = "model.removed",
    ModelDownloaded = "model.downloaded",
    SettingsChanged = "settings.changed",
    DocsViewed = "docs.viewed",
    DocsDownloaded = "docs.downloaded",
    DocsUploaded = "docs.uploaded",
    DocsMoved = "docs.moved",
    DocsReprocessed = "docs.reprocessed",
    DocsDeleted = "docs.deleted",
    /// Someone asked for a collection's documents (refusals only).
    CollectionViewed = "collection.viewed",
    CollectionCreated = "collection.created",
    CollectionRenamed = "collection.renamed",
    CollectionDescribed = "collection.described",
    CollectionAccessChanged = "collection.access_changed",
    CollectionDeleted = "collection.deleted",
    /// A collection was kept on the box (never sent to the cloud model), or let go.
    CollectionKeptLocal = "collection.kept_local",
    SearchRebuilt = "search.rebuilt",
    /// Someone marked an answer right or wrong (with a correction).
    ReviewFlagged = "review.flagged",
    /// An owner or admin closed a flag without changing anything.
    ReviewDismissed = "review.dismissed",
    /// A correction became a house fact the assistant uses.
    ReviewFactAdded = "review.fact_added",
    /// A backup of the office's data was written.
    BackupCreated = "backup.created",
    /// The box's data was put back from a backup.
    BackupRestored = "backup.restored",
    /// The owner set or changed the backups' recovery passphrase.
    BackupPassphraseSet = "backup.passphrase_set",
    /// The owner opened the recovery sheet (which shows the passphrase).
    BackupSheetViewed = "backup.sheet_viewed",
    /// Someone checked the audit log's chain and checkpoints (failed: it
    /// was found altered).
    AuditVerified = "audit.verified",
    /// The owner uploaded an update bundle to install.
    SystemUpdateRequested = "system.update_requested",
    /// How an update ended: done, or undone (the box went back).
    SystemUpdated = "system.updated",
    /// The owner turned remote maintenance by SSH on or off, or changed its keys.
    SystemSshChanged = "system.ssh_changed",
    ScheduleBooked = "schedule.booked",
    ScheduleChanged = "schedule.changed",
    ScheduleOverride = "schedule.override",
    ScheduleCancelled = "schedule.cancelled",
    ScheduleDone = "schedule.done",
    ScheduleNoShow = "schedule.no_show",
    ScheduleProposalConfirmed = "schedule.proposal_confirmed",
    ScheduleImported = "schedule.imported",
    ScheduleFeedCreated = "schedule.feed.created",
    ScheduleFeedRevoked = "schedule.feed.revoked",
    ScheduleCustomerCreated = "schedule.customer.created",
    ScheduleCustomerUpdated = "schedule.customer.updated",
    ScheduleStaffCreated = "schedule.staff.created",
    ScheduleStaffUpdated = "schedule.staff.updated",
    ScheduleServiceCreated = "schedule.service.created",
    ScheduleServiceUpdated = "schedule.service.updated",
    ScheduleResourceCreated = "schedule.resource.created",
    ScheduleResourceUpdated = "schedule.resource.updated",
    ScheduleClosureAdded = "schedule.closure.added",
    ScheduleClosureDeleted = "schedule.closure.deleted",
    ScheduleTimeOffAdded = "schedule.time_off.added",
    ScheduleTimeOffDeleted = "schedule.time_off.deleted",
}

impl Action {
    /// The capability an action belongs to: its name's first part, which
    /// the log's filter matches as a prefix.
    pub fn kind(self) -> &'static str {
        self.name().split('.').next().unwrap_or_default()
    }
}

/// The kinds of action, for the log's filter: (prefix, what people call it).
pub const KINDS: &[(&str, &str)] = &[
    ("auth", "Signing in and out"),
    ("access", "Refused pages"),
    ("user", "People"),
    ("api_key", "API keys"),
    ("setup", "Setup"),
    ("docs", "Documents"),
    ("collection", "Collections"),
    ("search", "Search index"),
    ("chat", "Conversations"),
    ("model", "Models"),
    ("settings", "Settings"),
    ("schedule", "Schedule"),
    ("system", "The box (updates, SSH)"),
    ("audit", "Checks of this log"),
    ("backup", "Backups"),
    ("review", "Reviews of answers"),
];
