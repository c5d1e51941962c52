//! Backups of the office's data, and restoring them on a fresh box.
//!
//! An archive is one file, `hearth-backup-<UTC time>.hearthbackup`: an age
//! file (scrypt, with a key derived from the owner's recovery passphrase;
//! authenticated in 64 KiB chunks, so a flipped byte or a cut-off end is
//! caught) holding a tar of:
//! - `hearth.db`, a consistent SQLite online backup taken while Hearth runs
//!   (users, conversations, documents' text and chunks, settings and their
//!   versions, the audit and egress logs, appointments);
//! - `documents/`, the stored originals;
//! - `audit/` (the checkpoint key and checkpoints), `secrets/` (the cloud
//!   API key), `tls/` (the box's certificate), when present;
//! - `config.toml`, the effective configuration, for reference;
//! - `models.json`, the model files' names and sizes (the files themselves
//!   only with `include_models`: they are large and can be fetched again);
//! - `manifest.json` last: every other member's size and SHA-256.
//!
//! The search index is not in it: it is rebuilt from the database when the
//! restored box starts. Restoring checks everything before anything in the
//! data directory changes, and ends every session.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;

pub mod plan;

/// The archive format this Hearth writes and reads.
const FORMAT: u32 = 1;

/// Shortest recovery passphrase accepted.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// The file name's ending.
pub const EXTENSION: &str = "hearthbackup";

/// Directories of the data directory that travel whole.
const DIRECTORIES: [&str; 4] = ["documents", "audit", "secrets", "tls"];

/// One member, as the manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Member {
    path: String,
    size: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    hearth_version: String,
    created_at: i64,
    members: Vec<Member>,
    /// Model files on the box (name, bytes), whether or not they are in it.
    models: Vec<(String, u64)>,
    models_included: bool,
}

/// A backup written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub files: usize,
}

/// A backup restored.
#[derive(Debug, Clone)]
pub struct Restored {
    pub created_at: i64,
    pub files: usize,
    /// Model files the backup's box had that are not here now.
    pub missing_models: Vec<String>,
}

/// Why a passphrase is not accepted, if it is not.
pub fn passphrase_problem(passphrase: &str) -> Option<String> {
    (passphrase.chars().count() < MIN_PASSPHRASE_CHARS).then(|| {
        format!(
            "The recovery passphrase must be at least {MIN_PASSPHRASE_CHARS} characters; a few words are easy to write down and hard to guess."
        )
    })
}

/// How far a backup has come, for the page that shows it: bytes of the
/// members read so far, out of their total (known once the database copy is
/// taken).
#[derive(Debug, Default)]
pub struct Progress {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

impl Progress {
    /// Percent done, 0 to 100.
    pub fn percent(&self) -> u64 {
        let total = self.total.load(Ordering::Relaxed);
        if total == 0 {
            return 0;
        }
        (self.done.load(Ordering::Relaxed).min(total) * 100) / total
    }
}

/// Hashes (and counts, into `progress`) what passes through it.
struct Hashing<'a, R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    progress: &'a AtomicU64,
}

impl<'a, R> Hashing<'a, R> {
    fn new(inner: R, progress: &'a AtomicU64) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
            progress,
        }
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Writes a backup of the data directory into `dest_dir`. Runs blocking:
/// call it off the async runtime.
pub fn write(
    config: &Config,
    dest_dir: &Path,
    passphrase: &str,
    now: i64,
    include_models: bool,
) -> anyhow::Result<Written> {
    write_with_progress(
        config,
        dest_dir,
        passphrase,
        now,
        include_models,
        &Progress::default(),
    )
}

/// [`write`], counting the bytes it has read into `progress`.
pub fn write_with_progress(
    config: &Config,
    dest_dir: &Path,
    passphrase: &str,
    now: i64,
    include_models: bool,
    progress: &Progress,
) -> anyhow::Result<Written> {
    if let Some(problem) = passphrase_problem(passphrase) {
        bail!("{problem}");
    }
    std::fs::create_dir_all(dest_dir)
        .with_context(|| format!("cannot write to {}", dest_dir.display()))?;
    let stamp = jiff::Timestamp::from_second(now)
        .map(|t| t.strftime("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|_| now.to_string());
    let path = dest_dir.join(format!("hearth-backup-{stamp}.{EXTENSION}"));
    let partial = path.with_extension(format!("{EXTENSION}.partial"));
    let work = config.data_dir.join("tmp").join(format!("backup-{stamp}"));
    std::fs::create_dir_all(&work)?;
    let result = (|| -> anyhow::Result<Written> {
        let db = work.join("hearth.db");
        crate::store::snapshot(&config.database_path(), &db)
            .context("cannot take a consistent copy of the database")?;
        let mut files: Vec<(String, PathBuf)> = vec![("hearth.db".into(), db)];
        for dir in DIRECTORIES {
            collect(&config.data_dir.join(dir), dir, &mut files)?;
        }
        let models = model_files(config);
        if include_models {
            for (name, _) in &models {
                files.push((format!("models/{name}"), config.models_dir().join(name)));
            }
        }
        std::fs::write(work.join("config.toml"), config.to_toml())?;
        files.push(("config.toml".into(), work.join("config.toml")));
        std::fs::write(
            work.join("models.json"),
            serde_json::to_vec_pretty(&models)?,
        )?;
        files.push(("models.json".into(), work.join("models.json")));
        let total: u64 = files
            .iter()
            .filter_map(|(_, path)| std::fs::metadata(path).ok())
            .map(|m| m.len())
            .sum();
        progress.total.store(total, Ordering::Relaxed);
        progress.done.store(0, Ordering::Relaxed);

        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot write {}", partial.display()))?;
        let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(
            passphrase.to_string(),
        ));
        let encrypted = encryptor.wrap_output(BufWriter::new(file))?;
        let mut tar = tar::Builder::new(encrypted);
        let mut members = Vec::with_capacity(files.len());
        for (name, source) in &files {
            let file = std::fs::File::open(source)
                .with_context(|| format!("cannot read {}", source.display()))?;
            let size = file.metadata()?.len();
            let mut reader = Hashing::new(file, &progress.done);
            append(&mut tar, name, size, now, &mut reader)?;
            if reader.size != size {
                bail!("{} changed while it was being backed up", source.display());
            }
            members.push(Member {
                path: name.clone(),
                size,
                sha256: hex::encode(reader.hasher.finalize()),
            });
        }
        let manifest = serde_json::to_vec_pretty(&Manifest {
            format: FORMAT,
            hearth_version: env!("CARGO_PKG_VERSION").into(),
            created_at: now,
            members,
            models,
            models_included: include_models,
        })?;
        append(
            &mut tar,
            "manifest.json",
            manifest.len() as u64,
            now,
            &mut manifest.as_slice(),
        )?;
        let encrypted = tar.into_inner()?;
        let mut out = encrypted.finish()?;
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)?;
        Ok(Written {
            bytes: std::fs::metadata(&path)?.len(),
            path: path.clone(),
            files: files.len(),
        })
    })();
    let _ = std::fs::remove_dir_all(&work);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    size: u64,
    mtime: i64,
    data: &mut impl Read,
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime.max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data)
        .with_context(|| format!("cannot add {name} to the backup"))?;
    Ok(())
}

/// Every regular file under `dir`, named `prefix/<relative path>`, sorted.
fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut found = Vec::new();
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let name = entry.file_name().to_string_lossy().to_string();
            // Half-written files (uploads, keys being replaced) stay out.
            if name.ends_with(".partial") {
                continue;
            }
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let relative = entry
                    .path()
                    .strip_prefix(dir)?
                    .to_string_lossy()
                    .to_string();
                found.push((format!("{prefix}/{relative}"), entry.path()));
            }
        }
    }
    found.sort();
    out.extend(found);
    Ok(())
}

/// The model files in the models directory: (name, bytes), sorted.
fn model_files(config: &Config) -> Vec<(String, u64)> {
    let mut models: Vec<(String, u64)> = std::fs::read_dir(config.models_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let meta = e.metadata().ok()?;
            (meta.is_file() && name.ends_with(".gguf")).then_some((name, meta.len()))
        })
        .collect();
    models.sort();
    models
}

/// How many archives to keep: the newest of each of the last `daily` days
/// that have one, and the newest of each of the last `weekly` ISO weeks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub daily: usize,
    pub weekly: usize,
}

/// The archives in `dir` that `retention` no longer keeps, oldest first.
/// Only Hearth's own archive names are considered; other files stay.
pub fn expired(names: &[String], retention: Retention) -> Vec<String> {
    let mut dated: Vec<(jiff::civil::DateTime, &String)> = names
        .iter()
        .filter_map(|name| {
            let stamp = name
                .strip_prefix("hearth-backup-")?
                .strip_suffix(&format!(".{EXTENSION}"))?;
            let at = jiff::civil::DateTime::strptime("%Y%m%d-%H%M%S", stamp).ok()?;
            Some((at, name))
        })
        .collect();
    // Newest first.
    dated.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut keep = std::collections::HashSet::new();
    let mut days = Vec::new();
    let mut weeks = Vec::new();
    for (at, name) in &dated {
        let day = at.date();
        if !days.contains(&day) && days.len() < retention.daily {
            days.push(day);
            keep.insert(*name);
        }
        let week = day.iso_week_date();
        let week = (week.year(), week.week());
        if !weeks.contains(&week) && weeks.len() < retention.weekly {
            weeks.push(week);
            keep.insert(*name);
        }
    }
    let mut gone: Vec<String> = dated
        .iter()
        .rev()
        .filter(|(_, name)| !keep.contains(name))
        .map(|(_, name)| (*name).clone())
        .collect();
    gone.dedup();
    gone
}

/// Deletes the archives in `dir` that `retention` no longer keeps; their
/// names.
pub fn prune(dir: &Path, retention: Retention) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    let gone = expired(&names, retention);
    for name in &gone {
        std::fs::remove_file(dir.join(name))
            .with_context(|| format!("cannot remove the old backup {name}"))?;
    }
    Ok(gone)
}

/// A member name that stays inside the directory it is unpacked into.
fn safe_name(name: &Path) -> bool {
    !name.as_os_str().is_empty() && name.components().all(|c| matches!(c, Component::Normal(_)))
}

/// What went wrong reading an archive, in words for the owner.
fn unreadable(err: &std::io::Error) -> String {
    format!(
        "The backup is damaged or incomplete (it was cut off, or changed after it was written): {err}. Nothing was changed on this box."
    )
}

/// Where a checked backup waits to be put in place: `<data_dir>/restore/`.
/// Its `staged.json`, written last, says it is complete.
fn staged_dir(config: &Config) -> PathBuf {
    config.data_dir.join("restore")
}

/// What `staged.json` records about a checked backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Staged {
    created_at: i64,
    files: usize,
    models: Vec<(String, u64)>,
    models_included: bool,
}

/// Whether a checked backup waits to be put in place at the next start.
pub fn restore_pending(config: &Config) -> bool {
    staged_dir(config).join("staged.json").is_file()
}

/// Restores the backup `archive` into the data directory of `config`. The
/// box must be fresh (no accounts yet) unless `force`. Everything is
/// decrypted and checked before anything changes; Hearth must not be
/// running on this data directory.
pub fn restore(
    config: &Config,
    archive: &Path,
    passphrase: &str,
    force: bool,
) -> anyhow::Result<Restored> {
    stage(config, archive, passphrase, force)?;
    apply_staged(config)?.context("the checked backup went missing before it was put in place")
}

/// Decrypts and checks the backup `archive` completely, leaving it ready in
/// the data directory for [`apply_staged`]: what a running Hearth does
/// before it restarts into the restored data. The box must be fresh (no
/// accounts yet) unless `force`. Nothing Hearth uses changes.
pub fn stage(config: &Config, archive: &Path, passphrase: &str, force: bool) -> anyhow::Result<()> {
    if !force && crate::store::has_accounts(&config.database_path())? {
        bail!(
            "This box already has accounts: restoring would replace everything on it. Restore onto a fresh box, or pass --force to replace this box's data."
        );
    }
    let file = std::fs::File::open(archive)
        .with_context(|| format!("cannot open the backup {}", archive.display()))?;
    let decryptor = match age::Decryptor::new_buffered(BufReader::new(file)) {
        Ok(d) => d,
        Err(_) => bail!(
            "{} is not a Hearth backup (or its beginning is damaged). Nothing was changed on this box.",
            archive
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| archive.display().to_string())
        ),
    };
    let identity =
        age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.to_string()));
    let mut reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
        Ok(r) => r,
        Err(age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed) => bail!(
            "The recovery passphrase is wrong for this backup. Nothing was changed on this box."
        ),
        Err(age::DecryptError::ExcessiveWork { .. }) => bail!(
            "This backup's passphrase protection is stronger than this box will try; it was not made by Hearth."
        ),
        Err(err) => bail!("The backup cannot be opened: {err}. Nothing was changed on this box."),
    };

    let ready = staged_dir(config);
    let work = config.data_dir.join("restore.partial");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let counted = AtomicU64::new(0);
    let result = (|| -> anyhow::Result<()> {
        let mut seen: Vec<Member> = Vec::new();
        let mut manifest: Option<Manifest> = None;
        {
            let mut tar = tar::Archive::new(&mut reader);
            for entry in tar.entries().map_err(|e| anyhow::anyhow!(unreadable(&e)))? {
                let mut entry = entry.map_err(|e| anyhow::anyhow!(unreadable(&e)))?;
                let name = entry
                    .path()
                    .map_err(|e| anyhow::anyhow!(unreadable(&e)))?
                    .to_path_buf();
                if !safe_name(&name) || entry.header().entry_type() != tar::EntryType::Regular {
                    bail!(
                        "The backup holds a member Hearth never writes ({}); nothing was changed.",
                        name.display()
                    );
                }
                let text = name.to_string_lossy().to_string();
                if text == "manifest.json" {
                    let mut json = Vec::new();
                    entry
                        .read_to_end(&mut json)
                        .map_err(|e| anyhow::anyhow!(unreadable(&e)))?;
                    manifest = Some(
                        serde_json::from_slice(&json)
                            .context("the backup's list of contents cannot be read")?,
                    );
                    continue;
                }
                let target = work.join(&name);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut out = std::fs::File::create(&target)?;
                let mut hashing = Hashing::new(&mut entry, &counted);
                std::io::copy(&mut hashing, &mut out)
                    .map_err(|e| anyhow::anyhow!(unreadable(&e)))?;
                out.sync_all()?;
                seen.push(Member {
                    path: text,
                    size: hashing.size,
                    sha256: hex::encode(hashing.hasher.finalize()),
                });
            }
        }
        // The rest of the stream, to its authenticated end: a backup cut off
        // after the tar's last member is caught here.
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| anyhow::anyhow!(unreadable(&e)))?;
        let Some(manifest) = manifest else {
            bail!(
                "The backup is incomplete: its list of contents is missing. Nothing was changed on this box."
            );
        };
        if manifest.format != FORMAT {
            bail!(
                "The backup was written by Hearth {} in a format this Hearth does not read (format {}).",
                manifest.hearth_version,
                manifest.format
            );
        }
        let mut listed = manifest.members.clone();
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        seen.sort_by(|a, b| a.path.cmp(&b.path));
        if listed != seen {
            bail!(
                "The backup's contents do not match its list (a member is missing, extra or changed). Nothing was changed on this box."
            );
        }
        if !seen.iter().any(|m| m.path == "hearth.db") {
            bail!("The backup has no database. Nothing was changed on this box.");
        }
        let staged = Staged {
            created_at: manifest.created_at,
            files: seen.len(),
            models: manifest.models.clone(),
            models_included: manifest.models_included,
        };
        std::fs::write(work.join("staged.json"), serde_json::to_vec(&staged)?)?;
        let _ = std::fs::remove_dir_all(&ready);
        std::fs::rename(&work, &ready)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

/// Puts a backup checked by [`stage`] in place, if one waits; Hearth must
/// not be running on this data directory (the console does this itself;
/// `hearth serve` does it at start, before it opens the database). Every
/// session ends; the search index is rebuilt at the next start.
pub fn apply_staged(config: &Config) -> anyhow::Result<Option<Restored>> {
    let ready = staged_dir(config);
    let Ok(json) = std::fs::read(ready.join("staged.json")) else {
        return Ok(None);
    };
    let staged: Staged =
        serde_json::from_slice(&json).context("the checked backup's notes cannot be read")?;
    crate::store::restore_snapshot(&ready.join("hearth.db"), &config.database_path())
        .context("cannot put the database back")?;
    for dir in DIRECTORIES {
        let from = ready.join(dir);
        let to = config.data_dir.join(dir);
        if to.exists() {
            let old = config.data_dir.join(format!("{dir}.before-restore"));
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(&to, &old)?;
            std::fs::remove_dir_all(&old)?;
        }
        if from.exists() {
            std::fs::rename(&from, &to)?;
        }
    }
    if staged.models_included {
        let models = config.models_dir();
        std::fs::create_dir_all(&models)?;
        for entry in std::fs::read_dir(ready.join("models"))
            .into_iter()
            .flatten()
            .flatten()
        {
            std::fs::rename(entry.path(), models.join(entry.file_name()))?;
        }
    }
    // Rebuilt from the database at the next start.
    let _ = std::fs::remove_dir_all(config.index_dir());
    crate::store::end_all_sessions(&config.database_path())?;
    std::fs::remove_dir_all(&ready)?;
    let here = model_files(config);
    let missing_models = staged
        .models
        .iter()
        .filter(|(name, _)| !here.iter().any(|(n, _)| n == name))
        .map(|(name, _)| name.clone())
        .collect();
    Ok(Some(Restored {
        created_at: staged.created_at,
        files: staged.files,
        missing_models,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_stay_inside() {
        for (name, ok) in [
            ("documents/ab/cd", true),
            ("hearth.db", true),
            ("../etc/passwd", false),
            ("/etc/passwd", false),
            ("documents/../../x", false),
            ("", false),
        ] {
            assert_eq!(safe_name(Path::new(name)), ok, "{name}");
        }
    }

    #[test]
    fn retention_keeps_the_newest_of_each_day_and_week() {
        let name = |stamp: &str| format!("hearth-backup-{stamp}.{EXTENSION}");
        let names: Vec<String> = [
            "20261201-020000", // Tuesday
            "20261130-020000", // Monday
            "20261130-140000", // Monday, later: the one kept for that day
            "20261129-020000", // Sunday (the week before, ISO)
            "20261122-020000", // Sunday, two weeks before
            "20261115-020000", // three weeks before
        ]
        .iter()
        .map(|s| name(s))
        .chain(["notes.txt".to_string()])
        .collect();
        let check = |daily, weekly, expected: &[&str]| {
            let gone = expired(&names, Retention { daily, weekly });
            let expected: Vec<String> = expected.iter().map(|s| name(s)).collect();
            assert_eq!(gone, expected, "daily {daily}, weekly {weekly}");
        };
        // Two days: Tuesday and Monday's later one; no weekly.
        check(
            2,
            0,
            &[
                "20261115-020000",
                "20261122-020000",
                "20261129-020000",
                "20261130-020000",
            ],
        );
        // One day and three weeks: Tuesday (also this week's newest), the
        // Sunday before, the Sunday before that.
        check(
            1,
            3,
            &["20261115-020000", "20261130-020000", "20261130-140000"],
        );
        // Everything kept when retention covers it; other files never touched.
        check(10, 10, &["20261130-020000"]);
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert!(passphrase_problem("short").is_some());
        assert!(passphrase_problem("copper kettle violin").is_none());
    }
}
