//! Updates of the whole box, A/B: the running system is never touched. A
//! new version is written to the other root partition and booted with
//! [`boot::TRIES`] tries; if it does not come up healthy, the box boots the
//! old one again and puts the data back as it was.
//!
//! Who does what (each step has the least privilege it needs):
//! - the web process (user `hearth`) receives the bundle, checks its
//!   signature and checksums so the owner hears at once if it is wrong,
//!   and writes a [`Request`] into `<data_dir>/updates/`;
//! - `hearth-update.path` sees the request and starts `hearth update apply`
//!   as root ([`apply`]), which checks the bundle again (it trusts nothing
//!   the web process wrote), writes the other slot, its kernel and a
//!   counted boot entry, keeps a snapshot of the database, writes
//!   [`Progress`] as it goes, and restarts the box;
//! - on every boot, `hearth update recover` (root, before Hearth starts)
//!   notices an update that ran out of tries and restores the snapshot, and
//!   `hearth update health` (after Hearth starts, required for
//!   `boot-complete.target`) confirms a new version or reboots to try again.
//!
//! What happened is left in [`Outcome`] (`last.json`), which Admin → System
//! shows and Hearth records in the audit log once.

pub mod apply;
pub mod boot;
pub mod bundle;
pub mod fetch;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::boot::Slot;

/// The update's files in the data directory.
#[derive(Clone, Debug)]
pub struct UpdateFiles {
    dir: PathBuf,
}

impl UpdateFiles {
    pub fn new(data_dir: &Path) -> UpdateFiles {
        UpdateFiles {
            dir: data_dir.join("updates"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bundle being installed.
    pub fn bundle(&self) -> PathBuf {
        self.dir.join("incoming.bundle")
    }

    /// Where an upload is received before it is checked.
    pub fn partial_bundle(&self) -> PathBuf {
        self.dir.join("incoming.bundle.partial")
    }

    /// The web process's request to the root updater.
    pub fn request(&self) -> PathBuf {
        self.dir.join("request.json")
    }

    /// The root updater's progress.
    pub fn progress(&self) -> PathBuf {
        self.dir.join("progress.json")
    }

    /// What was installed and is being tried.
    pub fn pending(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// How the last update ended.
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.json")
    }

    /// The database as it was just before the box restarted into a new
    /// version.
    pub fn snapshot(&self) -> PathBuf {
        self.dir.join("before-update.db")
    }
}

/// The version of the system itself, from `[appliance] release_file`
/// (written by the image build).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    pub generation: u64,
}

impl Release {
    pub fn read(path: &Path) -> Option<Release> {
        read_json(path)
    }
}

/// What the web process asks of the root updater.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Who asked (a username), for the record.
    pub requested_by: String,
    pub to_version: String,
    /// Seconds since 1970.
    pub at: i64,
}

/// Where the root updater is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Downloading the bundle from the update server.
    Downloading,
    /// Waiting for the updater to start.
    Queued,
    /// Checking the bundle's signature and checksums.
    Checking,
    /// Writing the new system to the other slot.
    Writing,
    /// Kernel, boot entry, database snapshot.
    Finishing,
    /// The box is restarting into the new version.
    Restarting,
    /// Stopped with an error; nothing changed.
    Failed,
}

impl Phase {
    /// Whether the updater has nothing more to do in this phase.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Restarting | Phase::Failed)
    }
}

/// The updater's progress, rewritten as it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub phase: Phase,
    /// Bytes done and to do in this phase (0 of 0 when not counted).
    pub done: u64,
    pub total: u64,
    pub to_version: String,
    /// What is happening, or what went wrong, in words for the owner.
    pub message: String,
    pub started_at: i64,
    pub updated_at: i64,
}

impl Progress {
    pub fn read(files: &UpdateFiles) -> Option<Progress> {
        read_json(&files.progress())
    }

    /// Whole percent done in this phase.
    pub fn percent(&self) -> u64 {
        (self.done * 100)
            .checked_div(self.total)
            .unwrap_or(0)
            .min(100)
    }
}

/// What was installed and is being tried (written before the restart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub from_version: String,
    pub to_version: String,
    pub to_generation: u64,
    pub target: Slot,
    pub requested_by: String,
    pub at: i64,
}

/// How an update ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// The new version came up healthy.
    Updated,
    /// The new version did not come up healthy within its tries; the box
    /// went back to the old version and the data as it was.
    RolledBack,
    /// The update stopped before the box restarted (power cut, error).
    Interrupted,
}

/// How the last update ended, for Admin → System and the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub from_version: String,
    pub to_version: String,
    pub requested_by: String,
    pub at: i64,
    /// Whether Hearth has written it to the audit log.
    #[serde(default)]
    pub recorded: bool,
}

impl Outcome {
    pub fn read(files: &UpdateFiles) -> Option<Outcome> {
        read_json(&files.last())
    }

    /// The sentence Admin → System shows.
    pub fn sentence(&self) -> String {
        match self.kind {
            OutcomeKind::Updated => format!(
                "Updated from version {} to {}.",
                self.from_version, self.to_version
            ),
            OutcomeKind::RolledBack => format!(
                "The update to version {} did not start properly after {} tries, so the box went back to version {} with the office's data as it was before the update. Nothing was lost from before the update; changes made while version {} ran were undone.",
                self.to_version,
                boot::TRIES,
                self.from_version,
                self.to_version
            ),
            OutcomeKind::Interrupted => format!(
                "The update to version {} was interrupted before the box restarted (was the power cut?). The box still runs version {}, with all its data. Try the update again.",
                self.to_version, self.from_version
            ),
        }
    }
}

/// Reads a JSON file; `None` when missing or unreadable.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes a JSON file whole and durably (a new file renamed over the old),
/// readable by its group, owned like the directory it is in (the root
/// updater writes into the `hearth` user's data directory).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let partial = path.with_extension("json.partial");
    boot::write_synced(&partial, &serde_json::to_vec_pretty(value)?)?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o640))?;
    own_like_parent(&partial)?;
    std::fs::rename(&partial, path)?;
    boot::sync_dir(dir)
}

pub use crate::disk::own_like_parent;

/// Seconds since 1970.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}
