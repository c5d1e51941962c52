//! `/metrics`: the box's health for a monitoring server, in the OpenMetrics
//! text format (which Prometheus reads), behind a token of its own so the
//! monitoring server holds no person's key. The owner makes the token on
//! Admin → System (shown once; only its SHA-256 is kept, as the setting
//! `metrics.token`); without one, `/metrics` answers 404, as if it did not
//! exist.
//!
//! What it says: the version, uptime, process CPU time and memory, the data
//! disk, the model's state, its queue and recent speed, and counts of
//! people, conversations, documents and log entries. Wiring, not a
//! capability: it reads every engine.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::Digest;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::llm::EngineState;
use crate::web::{Access, Routes};

/// The setting holding the token's SHA-256 (hex).
pub const TOKEN_SETTING: &str = "metrics.token";

/// The OpenMetrics content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes when the server started (for the uptime).
/// Whole seconds since Hearth started.
pub fn uptime_secs() -> u64 {
    STARTED.get().map_or(0, |s| s.elapsed().as_secs())
}

pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

pub fn routes() -> Routes {
    // Public to the route table: the token, not a session, is the check.
    Routes::new().get("/metrics", Access::Public, metrics)
}

/// The SHA-256 of a token, hex: what is stored and compared.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.trim().as_bytes()))
}

/// Makes a new token (the old one stops working); returns it, to be shown
/// once.
pub async fn new_token(state: &AppState, by: &crate::store::User) -> AppResult<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    let token = format!("hmt_{}", hex::encode(bytes));
    state
        .store
        .set_setting(TOKEN_SETTING, token_hash(&token), Some(by.id))
        .await?;
    Ok(token)
}

/// Whether a token exists.
pub async fn has_token(state: &AppState) -> AppResult<bool> {
    Ok(state
        .store
        .setting(TOKEN_SETTING)
        .await?
        .is_some_and(|h| !h.is_empty()))
}

/// Turns `/metrics` off.
pub async fn remove_token(state: &AppState, by: &crate::store::User) -> AppResult<()> {
    state
        .store
        .set_setting(TOKEN_SETTING, String::new(), Some(by.id))
        .await?;
    Ok(())
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let Some(stored) = state
        .store
        .setting(TOKEN_SETTING)
        .await?
        .filter(|h| !h.is_empty())
    else {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "Monitoring is off on this box.\n",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(token_hash);
    let matches = given.is_some_and(|g| {
        use subtle::ConstantTimeEq;
        bool::from(g.as_bytes().ct_eq(stored.as_bytes()))
    });
    if !matches {
        let mut response = plain(
            StatusCode::UNAUTHORIZED,
            "A monitoring token is needed: Authorization: Bearer hmt_...\n",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"hearth metrics\""),
        );
        return Ok(response);
    }
    let body = render(&state).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}

/// A plain-text answer for a monitoring server, passed through as written
/// (not turned into a sign-in page or an error page).
fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::web::middleware::AsWritten);
    response
}

/// One metric family: its TYPE and HELP lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn start(&mut self, name: &str, kind: &str, unit: Option<&str>, help: &str) {
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        if let Some(unit) = unit {
            let _ = writeln!(self.out, "# UNIT {name} {unit}");
        }
        let _ = writeln!(self.out, "# HELP {name} {help}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.out, " {}", value as i64);
        } else {
            let _ = writeln!(self.out, " {value}");
        }
    }

    fn gauge(&mut self, name: &str, unit: Option<&str>, help: &str, value: f64) {
        self.start(name, "gauge", unit, help);
        self.sample(name, &[], value);
    }
}

/// A label value as OpenMetrics writes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Seconds of CPU this process has used, and its resident memory in bytes.
pub fn process_usage() -> (f64, f64) {
    // SAFETY: sysconf has no preconditions.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK).max(1) as f64,
            libc::sysconf(libc::_SC_PAGESIZE).max(1) as f64,
        )
    };
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command's closing parenthesis; utime and
            // stime are the 14th and 15th of the whole line.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|pages| pages * page)
        .unwrap_or(0.0);
    (cpu, rss)
}

async fn render(state: &AppState) -> AppResult<String> {
    let mut out = String::with_capacity(4096);
    let mut f = Family { out: &mut out };
    f.start("hearth_build", "info", None, "The running version.");
    f.sample(
        "hearth_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    f.gauge(
        "hearth_uptime_seconds",
        Some("seconds"),
        "Seconds since Hearth started.",
        STARTED
            .get()
            .map_or(0.0, |s| s.elapsed().as_secs_f64().floor()),
    );
    let (cpu, rss) = process_usage();
    f.start(
        "process_cpu_seconds",
        "counter",
        Some("seconds"),
        "CPU time Hearth has used.",
    );
    f.sample("process_cpu_seconds_total", &[], cpu);
    f.gauge(
        "process_resident_memory_bytes",
        Some("bytes"),
        "Hearth's resident memory, the model included.",
        rss,
    );

    let disk = state.config.disk().status();
    f.gauge(
        "hearth_disk_free_bytes",
        Some("bytes"),
        "Free space on the data directory's disk.",
        disk.free as f64,
    );
    f.gauge(
        "hearth_disk_size_bytes",
        Some("bytes"),
        "Size of the data directory's disk.",
        disk.total as f64,
    );
    f.gauge(
        "hearth_disk_floor_bytes",
        Some("bytes"),
        "Free space under which uploads are refused.",
        disk.floor as f64,
    );

    let engine = state.chat.engine.status();
    f.start(
        "hearth_model_state",
        "stateset",
        None,
        "The local model's state.",
    );
    for name in ["loading", "ready", "failed", "stopped"] {
        let on = matches!(
            (&engine.state, name),
            (EngineState::Loading { .. }, "loading")
                | (EngineState::Ready { .. }, "ready")
                | (EngineState::Failed { .. }, "failed")
                | (EngineState::Stopped, "stopped")
        );
        f.sample(
            "hearth_model_state",
            &[("hearth_model_state", name)],
            if on { 1.0 } else { 0.0 },
        );
    }
    f.gauge(
        "hearth_model_answering",
        None,
        "Answers being written now.",
        engine.active as f64,
    );
    f.gauge(
        "hearth_model_queued",
        None,
        "Answers waiting for the model.",
        engine.queued as f64,
    );
    f.gauge(
        "hearth_model_parallel",
        None,
        "Answers the model writes at once.",
        f64::from(engine.parallel),
    );
    let recent = &engine.recent_tokens_per_second;
    f.gauge(
        "hearth_model_tokens_per_second",
        None,
        "Mean speed of the recent answers (0 before the first).",
        if recent.is_empty() {
            0.0
        } else {
            (recent.iter().sum::<f64>() / recent.len() as f64 * 10.0).round() / 10.0
        },
    );

    let counts = state.store.counts().await?;
    f.gauge(
        "hearth_users",
        None,
        "Accounts, disabled ones included.",
        counts.users as f64,
    );
    f.gauge(
        "hearth_conversations",
        None,
        "Conversations kept.",
        counts.conversations as f64,
    );
    f.start("hearth_documents", "gauge", None, "Documents by state.");
    for (status, n) in &counts.documents {
        f.sample("hearth_documents", &[("status", status)], *n as f64);
    }
    f.start(
        "hearth_audit_entries",
        "counter",
        None,
        "Entries in the audit log.",
    );
    f.sample(
        "hearth_audit_entries_total",
        &[],
        counts.audit_entries as f64,
    );
    f.start(
        "hearth_egress_requests",
        "counter",
        None,
        "Requests that left the box or tried to.",
    );
    f.sample(
        "hearth_egress_requests_total",
        &[],
        counts.egress_requests as f64,
    );
    out.push_str("# EOF\n");
    Ok(out)
}
