//! The one way out of the box: the only module that builds an HTTP client
//! for the network (a tidy test holds every other module to that). Each
//! request is written to the egress log *before* it is sent, so a request
//! that fails, hangs or is cut off by a power cut still has its entry, and
//! a second entry says how it ended ([`Ticket`]).
//!
//! What may be reached is decided here, per request ([`Reach`]): the cloud
//! model only at a public address unless the owner said its endpoint is on
//! the office network; a link-local address (cloud metadata services, the
//! classic server-side request forgery target) never. The check is made on
//! the addresses a name resolves to, at connection time, so a name that
//! later resolves elsewhere (DNS rebinding) cannot slip past it.
//!
//! Redirects are not followed for the cloud model: a redirect would send
//! the question somewhere the owner did not choose. Nothing is retried
//! here; a caller that tries again sends, and logs, a new request.

mod reach;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use reach::Reach;

use crate::store::{ConversationId, EgressOutcome, EgressPurpose, NewEgress, Store, User, UserId};

/// Who a request is sent for.
#[derive(Debug, Clone)]
pub enum Sender {
    /// A person (the cloud model answering them, a download they started).
    Person { id: UserId, username: String },
    /// The box itself (an update check it was asked to make).
    Hearth,
}

impl Sender {
    pub fn person(user: &User) -> Sender {
        Sender::Person {
            id: user.id,
            username: user.username.clone(),
        }
    }

    fn columns(&self) -> (Option<UserId>, String) {
        match self {
            Sender::Person { id, username } => (Some(*id), username.clone()),
            Sender::Hearth => (None, "hearth".to_string()),
        }
    }
}

/// A request about to leave the box.
pub struct Outbound {
    pub purpose: EgressPurpose,
    pub sender: Sender,
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    /// Extra headers (an API key: sent, never logged).
    pub headers: reqwest::header::HeaderMap,
    pub body: Option<Vec<u8>>,
    /// The cloud model asked, if any.
    pub model: String,
    pub conversation: Option<ConversationId>,
    /// Personal data replaced before sending, by kind.
    pub redactions: BTreeMap<String, usize>,
    pub reach: Reach,
    /// Follow up to 10 redirects (downloads from a CDN); never for the cloud model.
    pub follow_redirects: bool,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of the answer.
    pub read_timeout: Duration,
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// Never sent: the address or the policy did not allow it.
    #[error("{0}")]
    Refused(String),
    /// Sent (or tried to), and the network or server failed.
    #[error("{0}")]
    Failed(String),
    /// The egress log could not be written, so nothing was sent.
    #[error("the request was not sent because it could not be logged: {0}")]
    NotLogged(String),
}

/// The egress service: the store it logs to and its clients.
#[derive(Clone)]
pub struct Egress {
    store: Store,
    clients: Arc<Mutex<HashMap<ClientKey, reqwest::Client>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ClientKey {
    reach: Reach,
    follow_redirects: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
}

/// An answer that came back, and the entry that will say how it ended.
pub struct Sent {
    pub response: reqwest::Response,
    pub ticket: Ticket,
}

impl Egress {
    pub fn new(store: Store) -> Egress {
        Egress {
            store,
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Logs `out`, then sends it. A request the policy refuses is logged as
    /// refused and never leaves; one that fails is logged as failed.
    pub async fn send(&self, out: Outbound) -> Result<Sent, EgressError> {
        let endpoint = endpoint(&out.url);
        let (actor_id, actor) = out.sender.columns();
        let refusal = out.reach.check_url(&out.url).err();
        let entry = NewEgress {
            at: self.store.now(),
            purpose: out.purpose,
            actor_id,
            actor,
            endpoint: endpoint.clone(),
            model: out.model.clone(),
            conversation: out.conversation,
            bytes_sent: out.body.as_ref().map_or(0, |b| b.len() as u64),
            redactions: out.redactions.clone(),
            outcome: if refusal.is_some() {
                EgressOutcome::Refused
            } else {
                EgressOutcome::Sending
            },
            detail: refusal.clone().unwrap_or_default(),
        };
        let request_id = self
            .store
            .egress_begin(entry)
            .await
            .map_err(|e| EgressError::NotLogged(e.to_string()))?;
        if let Some(why) = refusal {
            tracing::warn!(%endpoint, purpose = %out.purpose, reason = %why, "outbound request refused");
            return Err(EgressError::Refused(why));
        }
        tracing::info!(%endpoint, purpose = %out.purpose, request_id, "outbound request");
        let ticket = Ticket {
            store: self.store.clone(),
            request_id,
            received: 0,
            ended: false,
        };
        let client = match self.client(&out) {
            Ok(client) => client,
            Err(why) => {
                ticket.finish(EgressOutcome::Failed, &why).await;
                return Err(EgressError::Failed(why));
            }
        };
        let mut request = client.request(out.method, out.url).headers(out.headers);
        if let Some(body) = out.body {
            request = request.body(body);
        }
        match request.send().await {
            Ok(response) => {
                // Redirects not followed end here: a 3xx is an answer, and
                // the caller decides (the cloud model treats it as a failure).
                Ok(Sent { response, ticket })
            }
            Err(err) => {
                let why = describe(&err);
                ticket.finish(EgressOutcome::Failed, &why).await;
                Err(if is_refused_address(&err) {
                    EgressError::Refused(why)
                } else {
                    EgressError::Failed(why)
                })
            }
        }
    }

    fn client(&self, out: &Outbound) -> Result<reqwest::Client, String> {
        let key = ClientKey {
            reach: out.reach,
            follow_redirects: out.follow_redirects,
            connect_timeout: out.connect_timeout,
            read_timeout: out.read_timeout,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = build_client(key)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// A client for Hearth talking to itself on this machine (`hearth bench`,
/// the updater's health check): names resolve to loopback addresses only,
/// no proxy. Not logged: nothing leaves the box.
pub fn loopback_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .dns_resolver(Arc::new(reach::Resolver(Reach::ThisBox)));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().unwrap_or_else(|err| {
        tracing::error!(error = %err, "the loopback client could not be configured; using the default");
        reqwest::Client::new()
    })
}

/// rustls with Mozilla's roots compiled in (the appliance has no CA bundle),
/// the reach's resolver, the timeouts; no proxy from the environment (it
/// would send everything through a machine the owner did not choose).
fn build_client(key: ClientKey) -> Result<reqwest::Client, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS is not available: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .dns_resolver(Arc::new(reach::Resolver(key.reach)))
        .connect_timeout(key.connect_timeout)
        .read_timeout(key.read_timeout)
        .redirect(if key.follow_redirects {
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("too many redirects")
                } else if let Err(why) = key.reach.check_url(attempt.url()) {
                    attempt.error(why)
                } else {
                    attempt.follow()
                }
            })
        } else {
            reqwest::redirect::Policy::none()
        })
        .user_agent(concat!("Hearth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the outbound client could not start: {e}"))
}

/// The URL as logged: scheme, host, port and path; never credentials or a
/// query (which may carry a key).
pub fn endpoint(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// What went wrong, for people and the log: the innermost cause, which says
/// more than reqwest's "error sending request".
pub fn describe(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if err.is_timeout() {
        "it took too long to answer".to_string()
    } else if err.is_connect() {
        format!("it could not be reached ({cause})")
    } else {
        cause.to_string()
    }
}

fn is_refused_address(err: &reqwest::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(err);
    while let Some(c) = cause {
        if c.downcast_ref::<reach::NotAllowed>().is_some() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The second entry of a request: how it ended. Dropped without
/// [`Ticket::finish`] (the person went away, Hearth stopped), it records
/// the request as interrupted.
pub struct Ticket {
    store: Store,
    request_id: i64,
    received: u64,
    ended: bool,
}

impl Ticket {
    /// Counts bytes of the answer as they arrive.
    pub fn received(&mut self, bytes: u64) {
        self.received += bytes;
    }

    pub fn request_id(&self) -> i64 {
        self.request_id
    }

    /// Records how the request ended.
    pub async fn finish(mut self, outcome: EgressOutcome, detail: &str) {
        self.ended = true;
        if let Err(err) = self
            .store
            .egress_end(self.request_id, outcome, self.received, detail.to_string())
            .await
        {
            tracing::error!(error = %err, request_id = self.request_id, "the end of an outbound request could not be logged");
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let store = self.store.clone();
        let (request_id, received) = (self.request_id, self.received);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = store
                    .egress_end(
                        request_id,
                        EgressOutcome::Interrupted,
                        received,
                        "interrupted before it ended".to_string(),
                    )
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_never_show_credentials_or_queries() {
        let url = reqwest::Url::parse("https://user:secret@api.example.com:8443/v1/chat?key=abc")
            .unwrap();
        assert_eq!(endpoint(&url), "https://api.example.com:8443/v1/chat");
    }
}
