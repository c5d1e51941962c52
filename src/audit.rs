//! Who did what: the append-only audit log. Every capability records its
//! events through [`record`], naming the action with a dotted name
//! (`auth.login`, `user.created`, `settings.changed`), so Admin → Audit can
//! filter by capability with a prefix (`user`).

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
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Nothing => Ok(()),
            Target::User(name)
            | Target::Model(name)
            | Target::Setting(name)
            | Target::Business(name) => f.write_str(name),
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
    pub action: &'a str,
    pub target: Target<'a>,
    pub outcome: Outcome,
    pub detail: String,
}

impl<'a> Event<'a> {
    pub fn ok(action: &'a str, target: Target<'a>) -> Self {
        Event {
            action,
            target,
            outcome: Outcome::Ok,
            detail: String::new(),
        }
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
    let (actor_id, actor_name) = match actor {
        Actor::User(user) => (Some(user.id), user.username.clone()),
        Actor::Console => (None, "console".to_string()),
        Actor::Anonymous(claimed) => (None, claimed.chars().take(64).collect()),
    };
    let outcome = event.outcome;
    store
        .append_audit(NewAuditRecord {
            at: store.now(),
            actor_id,
            actor: actor_name,
            action: event.action.to_string(),
            target: event.target.to_string(),
            outcome,
            ip: ip.to_string(),
            detail: event.detail,
        })
        .await?;
    Ok(())
}
