//! The three privileged moments of an update, as console commands the
//! appliance's units run: `hearth update apply` (root, when the web process
//! asks: write the other slot and restart), `hearth update recover` (root,
//! on every boot before Hearth starts: notice an update that ran out of
//! tries or was interrupted, and put the data back), and `hearth update
//! health` (on every boot after Hearth starts: confirm a new version, or
//! fail so the box tries again).
//!
//! Every step that could be cut by a power failure leaves the box able to
//! boot: the running slot is never written; the other slot's boot entry is
//! removed before its partition is touched and added back, counted, only
//! once the new system is written and read back; files are written beside
//! their final name and renamed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::boot::{BootMenu, Slot, options_for, sync_dir, with_machine_id};
use super::bundle::Bundle;
use super::{
    Outcome, OutcomeKind, Pending, Phase, Progress, Release, Request, UpdateFiles, now,
    own_like_parent, read_json, write_json,
};
use crate::config::ApplianceConfig;

/// Where the box's system lives: from `[appliance]`, and the running
/// kernel's command line (which tests give as a file).
#[derive(Clone, Debug)]
pub struct Layout {
    pub esp: PathBuf,
    pub partitions: PathBuf,
    pub key: PathBuf,
    pub release: PathBuf,
    pub cmdline: PathBuf,
}

impl Layout {
    pub fn new(config: &ApplianceConfig, cmdline: Option<PathBuf>) -> Layout {
        Layout {
            esp: config.esp.clone(),
            partitions: config.partitions.clone(),
            key: config.update_key.clone(),
            release: config.release_file.clone(),
            cmdline: cmdline.unwrap_or_else(|| PathBuf::from("/proc/cmdline")),
        }
    }

    fn cmdline(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.cmdline)
            .with_context(|| format!("cannot read {}", self.cmdline.display()))
    }

    fn running(&self) -> anyhow::Result<Slot> {
        Slot::running(&self.cmdline()?).context(
            "this system did not start from one of Hearth's slots (root=PARTLABEL=root-a or root-b); updates need the appliance image",
        )
    }
}

/// Progress reports, at most one a second within a phase.
struct Reporter<'a> {
    files: &'a UpdateFiles,
    progress: Progress,
    last: Instant,
}

impl Reporter<'_> {
    fn report(&mut self, phase: Phase, done: u64, total: u64, message: &str) {
        let changed = phase != self.progress.phase || message != self.progress.message;
        if !changed && self.last.elapsed() < Duration::from_secs(1) && done < total {
            return;
        }
        self.progress.phase = phase;
        self.progress.done = done;
        self.progress.total = total;
        self.progress.message = message.to_string();
        self.progress.updated_at = now();
        self.last = Instant::now();
        if let Err(err) = write_progress(&self.files.progress(), &self.progress) {
            tracing::warn!(error = %err, "cannot write the update's progress");
        }
    }
}

/// Writes the progress file whole but without waiting for the disk: it is
/// news, not a record, and waiting behind the new system's writes is what
/// would make the updater look stopped.
fn write_progress(path: &Path, progress: &Progress) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(progress)?)?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o640))?;
    own_like_parent(&partial)?;
    std::fs::rename(&partial, path)
}

/// What [`apply`] should do once the new system is in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    Restart,
    /// Leave the box running (tests; an owner who restarts later).
    Stay,
}

/// `hearth update apply`: installs the requested bundle into the other
/// slot and restarts into it. Does nothing when nothing was requested.
pub fn apply(
    files: &UpdateFiles,
    layout: &Layout,
    database: &Path,
    then: Then,
) -> anyhow::Result<()> {
    let Some(request) = read_json::<Request>(&files.request()) else {
        tracing::info!("no update was requested");
        return Ok(());
    };
    // Taken at once: after a power cut the box must not start the same
    // update again by itself.
    std::fs::remove_file(files.request()).context("cannot take the update request")?;
    let mut reporter = Reporter {
        files,
        progress: Progress {
            phase: Phase::Queued,
            done: 0,
            total: 0,
            to_version: request.to_version.clone(),
            message: String::new(),
            started_at: now(),
            updated_at: now(),
        },
        last: Instant::now(),
    };
    match install(&mut reporter, files, layout, database, &request) {
        Ok(to) => {
            tracing::info!(version = %to, "the new version is installed; restarting into it");
            let message = format!("Restarting into version {to}. This page reconnects by itself.");
            reporter.report(Phase::Restarting, 0, 0, &message);
            let _ = std::fs::remove_file(files.bundle());
            if then == Then::Restart {
                let status = std::process::Command::new("systemctl")
                    .arg("reboot")
                    .status()
                    .context("cannot restart the box")?;
                if !status.success() {
                    bail!("systemctl reboot failed ({status})");
                }
            }
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "the update failed; nothing changed");
            let message = format!("{err:#}");
            reporter.report(Phase::Failed, 0, 0, &message);
            let _ = std::fs::remove_file(files.bundle());
            Err(err)
        }
    }
}

/// The steps, in an order a power cut can interrupt anywhere. Returns the
/// version installed.
fn install(
    reporter: &mut Reporter,
    files: &UpdateFiles,
    layout: &Layout,
    database: &Path,
    request: &Request,
) -> anyhow::Result<String> {
    reporter.report(
        Phase::Checking,
        0,
        0,
        "Checking the bundle's signature and checksums.",
    );
    let running = layout.running()?;
    let target = running.other();
    let release = Release::read(&layout.release).with_context(|| {
        format!(
            "cannot read this system's version from {}",
            layout.release.display()
        )
    })?;
    let bundle = Bundle::open(&files.bundle(), &layout.key, |done, total| {
        reporter.report(
            Phase::Checking,
            done,
            total,
            "Checking the bundle's signature and checksums.",
        );
    })?;
    let manifest = bundle.manifest.clone();
    if manifest.generation <= release.generation {
        bail!(
            "this box already runs version {} (build {}); the bundle holds version {} (build {}), which is not newer",
            release.version,
            release.generation,
            manifest.version,
            manifest.generation
        );
    }

    let menu = BootMenu::new(&layout.esp);
    let options = menu
        .options(running)?
        .unwrap_or_else(|| layout.cmdline().unwrap_or_default().trim().to_string());
    // Out of the menu first: a half-written system must never be booted.
    menu.remove(target)
        .with_context(|| format!("cannot change the boot menu in {}", layout.esp.display()))?;
    let device = layout.partitions.join(target.label());
    write_root(reporter, &bundle, &device)?;

    reporter.report(Phase::Finishing, 0, 0, "Installing the new kernel.");
    let dir = menu.slot_dir(target);
    std::fs::create_dir_all(&dir)?;
    for (member, name) in [
        (&manifest.kernel, "vmlinuz"),
        (&manifest.initrd, "initrd.img"),
    ] {
        let partial = dir.join(format!("{name}.partial"));
        let mut out = File::create(&partial)?;
        std::io::copy(&mut bundle.reader(&member.file)?, &mut out)?;
        out.sync_all()?;
        std::fs::rename(&partial, dir.join(name))?;
    }
    sync_dir(&dir)?;

    reporter.report(
        Phase::Finishing,
        0,
        0,
        "Keeping a copy of the office's data, in case the new version has to be undone.",
    );
    crate::store::snapshot(database, &files.snapshot())
        .context("cannot copy the database before the update")?;
    own_like_parent(&files.snapshot())?;
    write_json(
        &files.pending(),
        &Pending {
            from_version: release.version.clone(),
            to_version: manifest.version.clone(),
            to_generation: manifest.generation,
            target,
            requested_by: request.requested_by.clone(),
            at: now(),
        },
    )?;
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    menu.add_counted(
        target,
        &manifest.version,
        manifest.generation,
        &with_machine_id(&options_for(&options, target), &machine_id),
    )?;
    Ok(manifest.version)
}

/// Zeroes `len` bytes of `out` at `offset` without writing them (a block
/// device's write-zeroes, a file's zero range), and moves its position past
/// them; false when the device or file system cannot, and then nothing
/// happened.
fn zero_range(out: &File, offset: u64, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: fallocate only acts on the open file descriptor; a failure
    // changes nothing and is reported by its return value.
    let zeroed = unsafe {
        libc::fallocate(
            out.as_raw_fd(),
            libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    } == 0;
    let mut out = out;
    zeroed && out.seek(SeekFrom::Start(offset + len)).is_ok()
}

/// A zeroed buffer aligned to 4096 bytes, as direct I/O needs.
struct AlignedBuffer {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

impl AlignedBuffer {
    fn new(len: usize) -> AlignedBuffer {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("a valid layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuffer { ptr, layout }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the allocation is `layout.size()` initialised bytes, owned
        // by self and borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Turns direct I/O off on `out` (for a last piece that is not whole blocks).
fn without_direct_io(out: &File) {
    use std::os::fd::AsRawFd;
    let fd = out.as_raw_fd();
    // SAFETY: fcntl on an open descriptor we own; a failure leaves it as it was.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT);
        }
    }
}

/// A buffer of zeroes to compare with: slice equality is one `memcmp`, where
/// a byte loop in this (test-profile, unoptimised) crate took most of a
/// second per MiB under emulation.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

/// How much of the new system is written between flushes to the disk.
const SYNC_EVERY: u64 = 32 * 1024 * 1024;

/// Counts the bytes read through it, for progress.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decompresses the bundle's root file system onto `device` (the other
/// slot's partition), then reads it back and compares.
fn write_root(reporter: &mut Reporter, bundle: &Bundle, device: &Path) -> anyhow::Result<()> {
    let member = &bundle.manifest.rootfs.file;
    let compressed = bundle.size(member);
    let count = Arc::new(AtomicU64::new(0));
    let mut source = Counting {
        inner: bundle.reader(member)?,
        count: count.clone(),
    };
    // Direct I/O where the device allows it: the new system goes to the
    // disk instead of filling the page cache with a gigabyte to write back.
    let mut out = {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(device)
            .or_else(|_| OpenOptions::new().write(true).open(device))
            .with_context(|| format!("cannot open the other slot {}", device.display()))?
    };
    let capacity = out.seek(SeekFrom::End(0))?;
    out.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut aligned = AlignedBuffer::new(1 << 20);
    let buf = aligned.as_mut_slice();
    let message = "Writing the new version. The box keeps working meanwhile.";
    // One zstd frame after another until the member ends.
    while count.load(Ordering::Relaxed) < compressed {
        let before = count.load(Ordering::Relaxed);
        let mut frame = ruzstd::decoding::StreamingDecoder::new(&mut source)
            .map_err(|e| anyhow::anyhow!("the new system in the bundle is not valid zstd: {e}"))?;
        loop {
            // A whole buffer at a time, so blocks stay aligned for zeroing.
            let mut n = 0;
            while n < buf.len() {
                let got = frame
                    .read(&mut buf[n..])
                    .context("cannot decompress the new system")?;
                if got == 0 {
                    break;
                }
                n += got;
            }
            if n == 0 {
                break;
            }
            if written + n as u64 > capacity {
                bail!(
                    "the new system does not fit its partition ({} bytes available); this bundle is for a different disk layout",
                    capacity
                );
            }
            let chunk = &buf[..n];
            // Most of a file system image is empty blocks: those are zeroed
            // on the device (no data crosses the page cache), the rest is
            // written and flushed as it goes. Both keep progress moving:
            // a gigabyte of dirty pages stalled one write for minutes under
            // emulation, and the page reported the updater as stopped.
            if !(chunk == &ZEROS[..n] && zero_range(&out, written, n as u64)) {
                if n % 4096 != 0 {
                    // Direct I/O takes whole blocks only: the last piece of
                    // an odd-sized image goes through the page cache.
                    without_direct_io(&out);
                }
                out.write_all(chunk)
                    .with_context(|| format!("cannot write to {}", device.display()))?;
            }
            hasher.update(chunk);
            written += n as u64;
            if written % SYNC_EVERY < n as u64 {
                out.sync_data()
                    .with_context(|| format!("cannot flush {}", device.display()))?;
            }
            reporter.report(
                Phase::Writing,
                count.load(Ordering::Relaxed),
                compressed,
                message,
            );
            if n < buf.len() {
                break;
            }
        }
        if count.load(Ordering::Relaxed) == before {
            bail!("the new system in the bundle ends in the middle of a zstd frame");
        }
    }
    out.sync_all()
        .with_context(|| format!("cannot flush {}", device.display()))?;
    drop(out);

    reporter.report(
        Phase::Writing,
        compressed,
        compressed,
        "Checking what was written.",
    );
    let expected = hasher.finalize();
    let mut back = File::open(device)?.take(written);
    let mut hasher = Sha256::new();
    loop {
        let n = back.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    if hasher.finalize() != expected {
        bail!(
            "the new system did not read back as it was written to {}: the disk may be failing",
            device.display()
        );
    }
    Ok(())
}

/// `hearth update recover`, on every boot before Hearth starts: when the
/// box is not running the version an update installed, says why, and when
/// that version ran and failed, puts the database back as it was before.
pub fn recover(files: &UpdateFiles, layout: &Layout, database: &Path) -> anyhow::Result<()> {
    // The restart an updater asked for has happened: its progress is over
    // (how it ended is told by the outcome).
    if Progress::read(files).is_some_and(|p| p.phase == Phase::Restarting) {
        std::fs::remove_file(files.progress())?;
    }
    // An updater that was still working when the box went down.
    if let Some(mut progress) = Progress::read(files)
        && !progress.phase.is_final()
    {
        let running = Release::read(&layout.release)
            .map(|r| r.version)
            .unwrap_or_default();
        progress.phase = Phase::Failed;
        progress.message = format!(
            "The update to version {} was interrupted before the box restarted; nothing changed.",
            progress.to_version
        );
        progress.updated_at = now();
        write_json(&files.progress(), &progress)?;
        write_json(
            &files.last(),
            &Outcome {
                kind: OutcomeKind::Interrupted,
                from_version: running,
                to_version: progress.to_version.clone(),
                requested_by: String::new(),
                at: now(),
                recorded: false,
            },
        )?;
        let _ = std::fs::remove_file(files.bundle());
    }

    let Some(pending) = read_json::<Pending>(&files.pending()) else {
        return Ok(());
    };
    let running = layout.running()?;
    if running == pending.target {
        // The new version is being tried; `hearth update health` decides.
        return Ok(());
    }
    let menu = BootMenu::new(&layout.esp);
    let tried = match menu.entry(pending.target)? {
        Some(entry) if entry.failed() || entry.tries_done > 0 => true,
        // Installed but not booted yet (the restart did not happen): the
        // next restart tries it.
        Some(_) => return Ok(()),
        None => false,
    };
    let kind = if tried {
        tracing::warn!(
            version = %pending.to_version,
            "the new version did not come up healthy; back on the version before, restoring the data as it was"
        );
        if files.snapshot().exists() {
            crate::store::restore_snapshot(&files.snapshot(), database)
                .context("cannot put the database back as it was before the update")?;
            own_like_parent(database)?;
        }
        OutcomeKind::RolledBack
    } else {
        OutcomeKind::Interrupted
    };
    menu.remove(pending.target)?;
    conclude(files, &pending, kind)
}

/// `hearth update health`, on every boot once Hearth has started: while a
/// new version is being tried, waits for Hearth to answer `/readyz` on
/// `port` and records the update as done; fails (and the unit restarts the
/// box) if it does not within `timeout`, or if Hearth's unit gave up.
pub async fn health(
    files: &UpdateFiles,
    layout: &Layout,
    port: u16,
    timeout: Duration,
) -> anyhow::Result<()> {
    let Some(pending) = read_json::<Pending>(&files.pending()) else {
        return Ok(());
    };
    if layout.running()? != pending.target {
        return Ok(());
    }
    crate::chat::models::download::install_tls_provider();
    let client = crate::egress::loopback_client(Some(Duration::from_secs(10)));
    let url = format!("http://127.0.0.1:{port}/readyz");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = client.get(&url).send().await
            && response.status().is_success()
        {
            break;
        }
        if hearth_unit_failed() {
            bail!(
                "version {} failed to start (hearth.service failed)",
                pending.to_version
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "version {} did not answer {url} within {} s",
                pending.to_version,
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tracing::info!(version = %pending.to_version, "the new version is healthy");
    conclude(files, &pending, OutcomeKind::Updated)
}

/// Writes how the tried update ended and forgets it.
fn conclude(files: &UpdateFiles, pending: &Pending, kind: OutcomeKind) -> anyhow::Result<()> {
    write_json(
        &files.last(),
        &Outcome {
            kind,
            from_version: pending.from_version.clone(),
            to_version: pending.to_version.clone(),
            requested_by: pending.requested_by.clone(),
            at: now(),
            recorded: false,
        },
    )?;
    std::fs::remove_file(files.pending())?;
    Ok(())
}

/// Whether systemd gave up on `hearth.service` (not on a machine without
/// systemd, where this is never true).
fn hearth_unit_failed() -> bool {
    if !sd_notify::booted().unwrap_or(false) {
        return false;
    }
    std::process::Command::new("systemctl")
        .args(["is-failed", "--quiet", "hearth.service"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
