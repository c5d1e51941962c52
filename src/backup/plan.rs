//! The owner's backup plan (Admin → Backups): where archives go, when the
//! nightly one runs, how many are kept; the recovery passphrase's file; and
//! what the last backup did, kept beside the data for the pages that show
//! it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Retention;
use crate::config::Config;
use crate::disk::SecretFile;

/// The versioned setting holding the plan (JSON).
pub const SETTING_KEY: &str = "backup.settings";

/// Most archives of each kind a plan may keep.
pub const MAX_KEEP: usize = 400;

/// The recovery passphrase: `<data_dir>/secrets/backup-passphrase`. It
/// travels inside the archives it opens, which changes nothing: whoever can
/// open one already knows it.
pub fn passphrase_file(data_dir: &Path) -> SecretFile {
    SecretFile::new(data_dir, "backup-passphrase")
}

/// The owner's plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Plan {
    /// Absolute directory the archives are written to: a USB drive or a
    /// network share the owner mounted, or the data disk's `backups/`.
    pub directory: String,
    /// The nightly backup's local time, `HH:MM` (the office's time zone);
    /// `None`: only when someone presses the button.
    pub nightly_at: Option<String>,
    /// Keep the newest archive of each of the last N days ...
    pub keep_daily: usize,
    /// ... and of each of the last M weeks.
    pub keep_weekly: usize,
    /// Whether the model files go in too (large; they can be fetched again).
    pub include_models: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            directory: String::new(),
            nightly_at: None,
            keep_daily: 7,
            keep_weekly: 4,
            include_models: false,
        }
    }
}

impl Plan {
    /// The plan stored as `json`, or the default one (archives in
    /// `<data_dir>/backups`, no schedule).
    pub fn from_stored(json: Option<&str>, config: &Config) -> Plan {
        let mut plan: Plan = json
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        if plan.directory.trim().is_empty() {
            plan.directory = config.data_dir.join("backups").display().to_string();
        }
        plan
    }

    pub fn directory(&self) -> PathBuf {
        PathBuf::from(&self.directory)
    }

    pub fn retention(&self) -> Retention {
        Retention {
            daily: self.keep_daily,
            weekly: self.keep_weekly,
        }
    }

    /// The nightly time as (hour, minute).
    pub fn nightly(&self) -> Option<(i8, i8)> {
        self.nightly_at.as_deref().and_then(parse_time)
    }

    /// Whether the directory is on the data directory's own disk (a backup
    /// there survives mistakes, not a broken disk).
    pub fn on_data_disk(&self, config: &Config) -> bool {
        use std::os::unix::fs::MetadataExt;
        let dir = self.directory();
        let existing = dir.ancestors().find(|p| p.exists()).map(Path::to_path_buf);
        match (existing, std::fs::metadata(&config.data_dir)) {
            (Some(dir), Ok(data)) => std::fs::metadata(dir).is_ok_and(|d| d.dev() == data.dev()),
            _ => false,
        }
    }

    /// What is wrong with the plan, in words for the owner.
    pub fn problem(&self, config: &Config) -> Option<String> {
        let dir = self.directory();
        if !dir.is_absolute() {
            return Some(
                "The backup folder must be a full path, like /media/usb-backup or /mnt/office-share/hearth."
                    .into(),
            );
        }
        if dir.starts_with(&config.data_dir) && dir != config.data_dir.join("backups") {
            return Some(format!(
                "The backup folder cannot be inside Hearth's data ({}), except its backups folder.",
                config.data_dir.display()
            ));
        }
        if let Some(at) = &self.nightly_at
            && parse_time(at).is_none()
        {
            return Some("Give the nightly time as hours and minutes, like 02:30.".into());
        }
        if self.keep_daily == 0 && self.keep_weekly == 0 {
            return Some("Keep at least one daily or one weekly backup.".into());
        }
        if self.keep_daily > MAX_KEEP || self.keep_weekly > MAX_KEEP {
            return Some(format!("Keep at most {MAX_KEEP} backups of each kind."));
        }
        None
    }

    /// Whether the nightly backup is due at the office's local time `now`,
    /// when the last nightly one ran on `last_day` (local date). A box that
    /// was off at the hour catches up when it starts, the same day.
    pub fn nightly_due(
        &self,
        now: jiff::civil::DateTime,
        last_day: Option<jiff::civil::Date>,
    ) -> bool {
        let Some((hour, minute)) = self.nightly() else {
            return false;
        };
        let at = now.date().at(hour, minute, 0, 0);
        now >= at && last_day != Some(now.date())
    }
}

/// `HH:MM` (or `H:MM`) as (hour, minute).
pub fn parse_time(text: &str) -> Option<(i8, i8)> {
    let (h, m) = text.trim().split_once(':')?;
    let hour: i8 = h.parse().ok()?;
    let minute: i8 = m.parse().ok()?;
    ((0..24).contains(&hour) && (0..60).contains(&minute) && m.len() == 2).then_some((hour, minute))
}

/// Who or what started a backup.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Nightly,
    Manual,
}

/// How the last backup went: `<data_dir>/backup-status.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastRun {
    pub started_at: i64,
    pub finished_at: i64,
    pub trigger: Trigger,
    /// The person who pressed the button.
    pub by: Option<String>,
    pub ok: bool,
    /// The archive's file name, when written.
    pub file: Option<String>,
    pub bytes: u64,
    /// What went wrong, or what was done.
    pub message: String,
    /// Older archives removed by retention.
    pub removed: Vec<String>,
    /// The office's local date of the last nightly backup (tried), so it
    /// runs once a day.
    pub nightly_day: Option<String>,
}

impl LastRun {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("backup-status.json")
    }

    pub fn read(data_dir: &Path) -> Option<LastRun> {
        let json = std::fs::read(LastRun::path(data_dir)).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Replaces the record (written beside, then renamed).
    pub fn write(&self, data_dir: &Path) -> std::io::Result<()> {
        let path = LastRun::path(data_dir);
        let partial = path.with_extension("partial");
        std::fs::write(&partial, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(partial, path)
    }

    pub fn is_nightly(&self) -> bool {
        self.trigger == Trigger::Nightly
    }

    pub fn nightly_day(&self) -> Option<jiff::civil::Date> {
        self.nightly_day.as_deref().and_then(|d| d.parse().ok())
    }
}

/// One archive in the backup folder, as the page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    pub name: String,
    pub bytes: u64,
    pub modified: i64,
}

/// Hearth's archives in `dir`, newest first.
pub fn archives(dir: &Path) -> Vec<Archive> {
    let mut found: Vec<Archive> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            if !(name.starts_with("hearth-backup-")
                && name.ends_with(&format!(".{}", super::EXTENSION)))
            {
                return None;
            }
            let meta = entry.metadata().ok()?;
            let modified = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs() as i64;
            meta.is_file().then_some(Archive {
                name,
                bytes: meta.len(),
                modified,
            })
        })
        .collect();
    found.sort_by(|a, b| b.name.cmp(&a.name));
    found
}

/// A recovery passphrase to suggest: five groups of four letters and
/// digits (about 120 bits), easy to copy from paper.
pub fn suggest_passphrase() -> String {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    let limit = 256 - 256 % ALPHABET.len();
    let mut chars = Vec::with_capacity(20);
    while chars.len() < 20 {
        let mut buf = [0u8; 32];
        getrandom::fill(&mut buf).expect("the operating system's random source works");
        chars.extend(
            buf.iter()
                .filter(|b| (**b as usize) < limit)
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char),
        );
    }
    chars.truncate(20);
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(at: Option<&str>) -> Plan {
        Plan {
            directory: "/media/usb".into(),
            nightly_at: at.map(String::from),
            ..Plan::default()
        }
    }

    #[test]
    fn times_are_hours_and_minutes() {
        assert_eq!(parse_time("02:30"), Some((2, 30)));
        assert_eq!(parse_time("2:05"), Some((2, 5)));
        assert_eq!(parse_time("23:59"), Some((23, 59)));
        for bad in ["24:00", "12:60", "12:5", "noon", "", "-1:00"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_nightly_backup_runs_once_a_day_after_its_hour() {
        let p = plan(Some("02:30"));
        let day: jiff::civil::Date = "2026-12-01".parse().unwrap();
        let at = |h, m| day.at(h, m, 0, 0);
        assert!(!p.nightly_due(at(2, 29), None));
        assert!(p.nightly_due(at(2, 30), None));
        // A box that was off at 02:30 catches up later that day ...
        assert!(p.nightly_due(at(9, 0), Some("2026-11-30".parse().unwrap())));
        // ... once.
        assert!(!p.nightly_due(at(9, 0), Some(day)));
        assert!(!plan(None).nightly_due(at(9, 0), None));
    }

    #[test]
    fn plans_are_checked() {
        let config = Config::default();
        assert_eq!(plan(Some("02:30")).problem(&config), None);
        assert!(plan(Some("2.30")).problem(&config).is_some());
        let relative = Plan {
            directory: "backups".into(),
            ..plan(None)
        };
        assert!(relative.problem(&config).is_some());
        let nothing_kept = Plan {
            keep_daily: 0,
            keep_weekly: 0,
            ..plan(None)
        };
        assert!(nothing_kept.problem(&config).is_some());
        let inside = Plan {
            directory: config.data_dir.join("documents").display().to_string(),
            ..plan(None)
        };
        assert!(inside.problem(&config).is_some());
    }

    #[test]
    fn suggested_passphrases_are_long_enough_and_differ() {
        let a = suggest_passphrase();
        assert_eq!(a.len(), 24);
        assert!(super::super::passphrase_problem(&a).is_none());
        assert_ne!(a, suggest_passphrase());
    }
}
