//! The data directory's disk: how much room is left against the owner's
//! floor, and [`spool`], the one way an incoming stream becomes a file
//! (document uploads, model uploads, imports).
//!
//! Every acknowledged write must be whole and durable. Testing with the data
//! directory on a small file system found uploads answered "queued" while
//! the stored file was 0 bytes: a failed write went unnoticed. So `spool`
//! checks every write, flushes and syncs before it reports success, syncs
//! the directory after the final rename, and removes what it wrote when
//! anything fails. A full disk is its own error ([`SpoolError::DiskFull`]),
//! so people are told "the disk is full" instead of "something went wrong",
//! and uploads are refused before they start when free space is under the
//! floor, so the room that is left stays for signing in and deleting.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Free space and size of the file system holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged process may still write.
    pub free: u64,
    pub total: u64,
}

/// The file system holding `path`: its free space and size.
pub fn space(path: &Path) -> std::io::Result<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a path with a NUL byte"))?;
    // SAFETY: statvfs writes only into the zeroed struct we pass.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = stat.f_frsize as u64;
    Ok(Space {
        free: (stat.f_bavail as u64).saturating_mul(unit),
        total: (stat.f_blocks as u64).saturating_mul(unit),
    })
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub fn is_full(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || err.kind() == std::io::ErrorKind::StorageFull
}

/// The data directory's disk and the floor of free space under which
/// uploads are refused.
#[derive(Debug, Clone)]
pub struct Disk {
    dir: PathBuf,
    min_free_bytes: u64,
    min_free_percent: u64,
}

/// A reading of the disk against the floor, for pages and `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStatus {
    pub free: u64,
    pub total: u64,
    /// Uploads are refused when `free` falls under this.
    pub floor: u64,
}

impl DiskStatus {
    /// Free space is under the floor: uploads and imports are refused.
    pub fn low(&self) -> bool {
        self.free < self.floor
    }
}

impl Disk {
    /// The floor is the smaller of `min_free_bytes` and `min_free_percent`
    /// of the disk's size, so a small disk is not refused entirely.
    pub fn new(dir: PathBuf, min_free_bytes: u64, min_free_percent: u64) -> Disk {
        Disk {
            dir,
            min_free_bytes,
            min_free_percent: min_free_percent.min(100),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The disk now. A disk that cannot be read counts as having room:
    /// the writes themselves still report a full disk.
    pub fn status(&self) -> DiskStatus {
        match space(&self.dir) {
            Ok(space) => DiskStatus {
                free: space.free,
                total: space.total,
                floor: self
                    .min_free_bytes
                    .min(space.total / 100 * self.min_free_percent),
            },
            Err(err) => {
                tracing::warn!(error = %err, dir = %self.dir.display(), "cannot read the disk's free space");
                DiskStatus {
                    free: u64::MAX,
                    total: u64::MAX,
                    floor: 0,
                }
            }
        }
    }

    /// Refuses an upload of `incoming` bytes (0 when unknown) that would
    /// take free space under the floor.
    pub fn check_room(&self, incoming: u64) -> Result<(), SpoolError> {
        let status = self.status();
        if status.free.saturating_sub(incoming) < status.floor {
            tracing::warn!(
                free = status.free,
                floor = status.floor,
                incoming,
                "upload refused: the disk is nearly full"
            );
            return Err(SpoolError::DiskFull);
        }
        Ok(())
    }
}

/// Why a stream could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the file is larger than the limit of {}", human_size(*limit))]
    TooLarge { limit: u64 },
    #[error("the file is empty")]
    Empty,
    /// The client stopped sending (`stalled`) or the connection broke.
    #[error("the upload was interrupted: {message}")]
    Interrupted { message: String, stalled: bool },
    #[error("the box's disk is full")]
    DiskFull,
    #[error(transparent)]
    Io(std::io::Error),
}

impl From<std::io::Error> for SpoolError {
    fn from(err: std::io::Error) -> Self {
        if is_full(&err) {
            SpoolError::DiskFull
        } else {
            SpoolError::Io(err)
        }
    }
}

/// How much room spooling may take, and where.
pub struct SpoolTarget<'a> {
    pub disk: &'a Disk,
    /// The file being written; it holds a whole stream only once `spool`
    /// returns success.
    pub partial: &'a Path,
    /// Most bytes the file may hold.
    pub limit: u64,
    /// Append to what the file already holds (a resumed upload) instead of
    /// starting it afresh. What was there stays if this part fails.
    pub append: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Spooled {
    /// Bytes in the file now.
    pub size: u64,
    /// SHA-256 of what this call wrote (for a fresh file: of the file).
    pub sha256: String,
}

/// Free space is checked again after this much has been written, so an
/// upload that would take the disk under the floor stops partway.
const CHECK_EVERY: u64 = 8 * 1024 * 1024;

/// Writes `body` to `target.partial`, checking every write, then flushes
/// and syncs it. On any failure, what this call wrote is removed again: the
/// file is deleted, or cut back to its earlier length when appending.
pub async fn spool<S, E>(target: SpoolTarget<'_>, body: S) -> Result<Spooled, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    target.disk.check_room(0)?;
    if let Some(parent) = target.partial.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(target.append)
        .truncate(!target.append)
        .open(target.partial)
        .await?;
    let before = if target.append {
        file.metadata().await?.len()
    } else {
        0
    };
    let written = write_all(&mut file, &target, before, body).await;
    match written {
        Ok(spooled) => Ok(spooled),
        Err(err) => {
            // tokio finishes a write in the background; wait for it, or it
            // could land after the file is cut back below.
            let _ = file.flush().await;
            drop(file);
            if target.append && before > 0 {
                if let Ok(file) = std::fs::OpenOptions::new().write(true).open(target.partial) {
                    let _ = file.set_len(before);
                }
            } else {
                let _ = tokio::fs::remove_file(target.partial).await;
            }
            Err(err)
        }
    }
}

async fn write_all<S, E>(
    file: &mut tokio::fs::File,
    target: &SpoolTarget<'_>,
    before: u64,
    mut body: S,
) -> Result<Spooled, SpoolError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut size = before;
    let mut since_check = 0u64;
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| {
            let message = e.to_string();
            SpoolError::Interrupted {
                stalled: is_stall(&message),
                message,
            }
        })?;
        size += piece.len() as u64;
        if size > target.limit {
            return Err(SpoolError::TooLarge {
                limit: target.limit,
            });
        }
        since_check += piece.len() as u64;
        if since_check >= CHECK_EVERY {
            since_check = 0;
            target.disk.check_room(0)?;
        }
        hasher.update(&piece);
        file.write_all(&piece).await?;
    }
    if size == 0 {
        return Err(SpoolError::Empty);
    }
    // Flush tokio's buffer before syncing: sync_all alone would sync what
    // the kernel has, not what is still queued in the file handle.
    file.flush().await?;
    file.sync_all().await?;
    Ok(Spooled {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Whether a body error's text says the client stalled (tower-http's body
/// timeout: "data was not received within the designated timeout").
pub fn is_stall(message: &str) -> bool {
    message.contains("designated timeout") || message.contains("timed out")
}

/// Moves a complete file into place and syncs the directory, so the new
/// name survives a power cut as well as the data does.
pub async fn commit(partial: &Path, target: &Path) -> std::io::Result<()> {
    tokio::fs::rename(partial, target).await?;
    if let Some(dir) = target.parent() {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
            .await
            .map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// Removes files left in `dir` by uploads a crash interrupted. Returns how
/// many were removed.
pub fn clean_partials(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// Bytes for people: "1.5 GB", "200 MB", "12 KB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A secret kept in one small file under `<data_dir>/secrets/` (mode 0600 in
/// a 0700 directory), replaced whole: the cloud API key, the backups'
/// recovery passphrase.
#[derive(Debug, Clone)]
pub struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    /// `<data_dir>/secrets/<name>`.
    pub fn new(data_dir: &Path, name: &str) -> SecretFile {
        SecretFile {
            path: data_dir.join("secrets").join(name),
        }
    }

    /// The secret, trimmed; `None` when there is none.
    pub fn read(&self) -> Option<String> {
        std::fs::read_to_string(&self.path)
            .ok()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    }

    /// When the secret was last replaced (Unix seconds).
    pub fn modified(&self) -> Option<i64> {
        let modified = std::fs::metadata(&self.path).ok()?.modified().ok()?;
        let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(since.as_secs() as i64)
    }

    /// Replaces the secret (written whole, synced, readable by Hearth only).
    pub fn write(&self, secret: &str) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let partial = self.path.with_extension("partial");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)?;
        file.write_all(secret.trim().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&partial, &self.path)
    }

    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Gives `path` the owner of its directory, so files root writes into
/// the data directory (the updater, a console command) stay Hearth's. Does nothing when not
/// root (the owner is already right).
pub fn own_like_parent(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let dir = std::fs::metadata(path.parent().unwrap_or(Path::new(".")))?;
    std::os::unix::fs::chown(path, Some(dir.uid()), Some(dir.gid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        for (bytes, expected) in [
            (12, "12 bytes"),
            (12_500, "12 KB"),
            (104_857_600, "105 MB"),
            (1_500_000_000, "1.5 GB"),
        ] {
            assert_eq!(human_size(bytes), expected);
        }
    }

    #[test]
    fn the_floor_is_the_smaller_of_bytes_and_percent() {
        let dir = tempfile::tempdir().unwrap();
        let total = space(dir.path()).unwrap().total;
        let disk = Disk::new(dir.path().to_path_buf(), u64::MAX, 5);
        assert_eq!(disk.status().floor, total / 100 * 5);
        let disk = Disk::new(dir.path().to_path_buf(), 1024, 5);
        assert_eq!(disk.status().floor, 1024);
    }

    #[tokio::test]
    async fn a_failed_spool_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Disk::new(dir.path().to_path_buf(), 0, 0);
        let partial = dir.path().join("partial/x");
        let body = futures::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"hello ")),
            Err(std::io::Error::other(
                "data was not received within the designated timeout",
            )),
        ]);
        let target = SpoolTarget {
            disk: &disk,
            partial: &partial,
            limit: 100,
            append: false,
        };
        let err = spool(target, body).await.unwrap_err();
        assert!(
            matches!(err, SpoolError::Interrupted { stalled: true, .. }),
            "{err:?}"
        );
        assert!(!partial.exists());

        // Appending keeps what an earlier part wrote.
        std::fs::write(&partial, b"first").unwrap();
        let body = futures::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"more")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let target = SpoolTarget {
            disk: &disk,
            partial: &partial,
            limit: 100,
            append: true,
        };
        spool(target, body).await.unwrap_err();
        assert_eq!(std::fs::read(&partial).unwrap(), b"first");

        let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 101]))]);
        let target = SpoolTarget {
            disk: &disk,
            partial: &partial,
            limit: 100,
            append: false,
        };
        assert!(matches!(
            spool(target, body).await.unwrap_err(),
            SpoolError::TooLarge { limit: 100 }
        ));
        assert!(!partial.exists());
    }
}
