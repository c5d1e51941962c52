//! Proof that the audit log was not altered: the entries form a hash chain
//! (`store::link_hash`), and signed checkpoints kept outside the database
//! pin how long the chain was and what its head was at a time.
//!
//! - [`Signer`]: the box's own Ed25519 key (`<data_dir>/audit/checkpoint.key`,
//!   readable by Hearth only), made at the first start.
//! - [`Checkpoints`]: `<data_dir>/audit/checkpoints.jsonl`, one signed line
//!   per checkpoint, appended every few minutes while the log grows
//!   (`[audit] checkpoint_minutes`) and when Hearth stops.
//! - [`verify`]: walks every entry and reports the first one altered or
//!   missing, entries put in afterwards, a log cut short against any earlier
//!   checkpoint, and checkpoints not signed by this box's key (a chain
//!   rebuilt from altered entries and signed anew).
//!
//! What this cannot prove: entries appended after the last checkpoint by
//! someone holding both the database and the box's key. Copies of the
//! checkpoints kept elsewhere (downloaded from Admin → Audit, and in
//! backups) pin the head beyond the box's own disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use base64::Engine as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::store::{ChainLink, GENESIS, Log, Store, link_hash};

/// Entries read per query while verifying.
const BATCH: u32 = 2000;

/// The box's checkpoint key and file, as the server and the console use
/// them.
#[derive(Clone)]
pub struct Ledger {
    signer: Arc<Signer>,
    checkpoints: Checkpoints,
}

impl Ledger {
    /// The key and checkpoints in `<data_dir>/audit/` (the key made now if
    /// there is none).
    pub fn open(data_dir: &Path) -> anyhow::Result<Ledger> {
        let dir = dir(data_dir);
        Ok(Ledger {
            signer: Arc::new(Signer::load_or_create(&dir)?),
            checkpoints: Checkpoints::new(&dir),
        })
    }

    /// Signs each log's current head, unless its newest checkpoint did.
    pub async fn checkpoint(&self, store: &Store) -> anyhow::Result<Vec<Checkpoint>> {
        self.checkpoints.write(store, &self.signer).await
    }

    pub async fn verify(&self, store: &Store) -> anyhow::Result<Verdict> {
        verify(store, &self.checkpoints, &self.signer.public_key()).await
    }

    /// [`Ledger::verify`], recorded in the log itself as `audit.verified`
    /// (failed when something was found), and a checkpoint signed after
    /// it when the log is intact.
    pub async fn verify_recorded(
        &self,
        store: &Store,
        actor: super::Actor<'_>,
        ip: &str,
    ) -> anyhow::Result<Verdict> {
        let verdict = self.verify(store).await?;
        let event = if verdict.intact() {
            super::Event::ok("audit.verified", super::Target::Nothing)
        } else {
            super::Event::failed("audit.verified", super::Target::Nothing)
        };
        let detail = crate::text::truncate_words(&verdict.summary(), 900);
        super::record(store, actor, ip, event.detail(&detail)).await?;
        if verdict.intact() {
            self.checkpoint(store).await?;
        }
        Ok(verdict)
    }

    /// This box's public key, hex.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }
}

/// The box's checkpoint key.
pub struct Signer {
    pair: Ed25519KeyPair,
}

impl Signer {
    /// Loads the key in `dir`, making it first if there is none.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Signer> {
        let path = dir.join("checkpoint.key");
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                // Made by root at the console, the directory and key must
                // still be Hearth's.
                crate::disk::own_like_parent(dir)?;
                let rng = ring::rand::SystemRandom::new();
                let document = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| anyhow::anyhow!("cannot make a checkpoint key"))?;
                write_private(&path, document.as_ref())?;
                document.as_ref().to_vec()
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 key", path.display()))?;
        Ok(Signer { pair })
    }

    /// The public key, hex.
    pub fn public_key(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    fn sign(&self, checkpoint: &Checkpoint) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(self.pair.sign(checkpoint.signed_text().as_bytes()).as_ref())
    }
}

/// A short, readable form of a public key (what Admin → Audit shows, for
/// comparing with a copy kept elsewhere).
pub fn fingerprint(public_key_hex: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(public_key_hex.as_bytes());
    hex::encode(&digest[..8])
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    crate::disk::own_like_parent(&partial)?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// One signed statement: "the log had `seq` entries, and the newest one's
/// hash was `head`, at `at`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub log: String,
    /// The newest entry's id.
    pub seq: i64,
    /// Its hash, hex.
    pub head: String,
    /// Unix seconds.
    pub at: i64,
    /// The signing key, hex.
    pub key: String,
    /// Ed25519 signature over [`Checkpoint::signed_text`], base64.
    pub sig: String,
}

impl Checkpoint {
    fn signed_text(&self) -> String {
        format!(
            "hearth checkpoint v1\n{}\n{}\n{}\n{}\n{}\n",
            self.log, self.seq, self.head, self.at, self.key
        )
    }

    /// Whether the signature is this checkpoint's, by its own key.
    fn signature_holds(&self) -> bool {
        let (Ok(key), Ok(sig)) = (
            hex::decode(&self.key),
            base64::engine::general_purpose::STANDARD.decode(&self.sig),
        ) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, key)
            .verify(self.signed_text().as_bytes(), &sig)
            .is_ok()
    }
}

/// The checkpoint file.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
    /// The newest checkpoint of each log this handle wrote or read, so a
    /// write does not read the whole (ever-growing) file each time; filled
    /// from the file on the first write.
    latest: Arc<std::sync::Mutex<Option<std::collections::HashMap<String, Checkpoint>>>>,
}

/// A line of the checkpoint file, read.
#[derive(Debug, Clone)]
pub enum Line {
    Checkpoint(Checkpoint),
    /// Not a checkpoint at all (1-based line number).
    Unreadable(usize),
}

impl Checkpoints {
    pub fn new(dir: &Path) -> Checkpoints {
        Checkpoints {
            path: dir.join("checkpoints.jsonl"),
            latest: Arc::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line, in order; none when there is no file yet.
    pub fn read(&self) -> anyhow::Result<Vec<Line>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| match serde_json::from_str(line) {
                Ok(checkpoint) => Line::Checkpoint(checkpoint),
                Err(_) => Line::Unreadable(i + 1),
            })
            .collect())
    }

    /// The newest checkpoint of each log: remembered, or read from the file.
    fn newest(&self) -> anyhow::Result<std::collections::HashMap<String, Checkpoint>> {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = latest.as_ref() {
            return Ok(known.clone());
        }
        let mut found = std::collections::HashMap::new();
        for line in self.read()? {
            if let Line::Checkpoint(c) = line {
                found.insert(c.log.clone(), c);
            }
        }
        *latest = Some(found.clone());
        Ok(found)
    }

    /// Appends a checkpoint for each log's current head, unless its newest
    /// one already says the same. Each line is written whole and synced
    /// before this returns. The checkpoints written.
    pub async fn write(&self, store: &Store, signer: &Signer) -> anyhow::Result<Vec<Checkpoint>> {
        let mut lines = String::new();
        let mut written = Vec::new();
        let newest = self.newest()?;
        for log in Log::ALL {
            let (seq, head) = store.chain_head(log).await?;
            let head = hex::encode(head);
            if let Some(latest) = newest.get(log.name())
                && latest.seq == seq
                && latest.head == head
                && latest.key == signer.public_key()
            {
                continue;
            }
            let mut checkpoint = Checkpoint {
                log: log.name().to_string(),
                seq,
                head,
                at: store.now(),
                key: signer.public_key(),
                sig: String::new(),
            };
            checkpoint.sig = signer.sign(&checkpoint);
            lines.push_str(&serde_json::to_string(&checkpoint)?);
            lines.push('\n');
            written.push(checkpoint);
        }
        if written.is_empty() {
            return Ok(written);
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            file.write_all(lines.as_bytes())?;
            file.sync_data()?;
            crate::disk::own_like_parent(&path)?;
            Ok(())
        })
        .await??;
        if let Some(latest) = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            for c in &written {
                latest.insert(c.log.clone(), c.clone());
            }
        }
        Ok(written)
    }
}

/// Something [`verify`] found wrong, with what a person reads. `log` is
/// `audit` or `egress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// Entries `from..=to` are gone from the middle or the start.
    Missing { log: String, from: i64, to: i64 },
    /// The entry does not match its hash: changed after it was written.
    Altered { log: String, id: i64 },
    /// The entry has no hash: put in by other means.
    Unchained { log: String, id: i64 },
    /// The log ends before a checkpoint's entry: cut short.
    Truncated {
        log: String,
        entries: i64,
        checkpoint_seq: i64,
        checkpoint_at: i64,
    },
    /// The entries up to the checkpoint's no longer hash to what it signed:
    /// altered and the chain rebuilt after it was signed. The first
    /// differing entry lies after `after` (the last checkpoint that still
    /// matches, 0 for none).
    Rewritten {
        log: String,
        checkpoint_seq: i64,
        checkpoint_at: i64,
        after: i64,
    },
    /// A checkpoint signed by another key than this box's.
    ForeignKey { line: usize, fingerprint: String },
    /// A checkpoint whose signature does not hold, or a line that is not one.
    BadCheckpoint { line: usize },
}

/// "entry 4" in the audit log, "egress log entry 4" in the other.
fn entry(log: &str, id: i64) -> String {
    if log == Log::Audit.name() {
        format!("entry {id}")
    } else {
        format!("{log} log entry {id}")
    }
}

fn log_name(log: &str) -> String {
    format!("the {log} log")
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing { log, from, to } if from == to => {
                write!(f, "{} is missing", entry(log, *from))
            }
            Problem::Missing { log, from, to } => {
                write!(
                    f,
                    "{} to {to} are missing",
                    entry(log, *from).replacen("entry", "entries", 1)
                )
            }
            Problem::Altered { log, id } => {
                write!(f, "{} was changed after it was written", entry(log, *id))
            }
            Problem::Unchained { log, id } => write!(
                f,
                "{} was not written by Hearth (it has no place in the chain)",
                entry(log, *id)
            ),
            Problem::Truncated {
                log,
                entries,
                checkpoint_seq,
                checkpoint_at,
            } => write!(
                f,
                "{} was cut short: it ends at entry {entries}, but the checkpoint of {} saw {checkpoint_seq}",
                log_name(log),
                crate::text::utc_time(*checkpoint_at)
            ),
            Problem::Rewritten {
                log,
                checkpoint_seq,
                checkpoint_at,
                after,
            } => write!(
                f,
                "{} entries {}–{checkpoint_seq} were rewritten after the checkpoint of {} signed them",
                log_name(log),
                after + 1,
                crate::text::utc_time(*checkpoint_at)
            ),
            Problem::ForeignKey { line, fingerprint } => write!(
                f,
                "checkpoint {line} was signed by another key ({fingerprint}), not this box's"
            ),
            Problem::BadCheckpoint { line } => {
                write!(
                    f,
                    "checkpoint {line} is damaged or its signature does not hold"
                )
            }
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// Audit log entries checked.
    pub entries: u64,
    /// The newest audit entry's id.
    pub last_id: i64,
    /// Egress log entries checked (requests that left the box or tried to).
    pub egress_entries: u64,
    /// Checkpoints that were signed by this box and compared.
    pub checkpoints: usize,
    /// The newest good checkpoint's time, Unix seconds.
    pub latest_checkpoint_at: Option<i64>,
    /// Problems, the first altered or missing entry first.
    pub problems: Vec<Problem>,
    /// Each problem as a sentence, in the same order.
    pub sentences: Vec<String>,
    /// The box's key, as [`fingerprint`] shows it.
    pub fingerprint: String,
}

impl Verdict {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// One paragraph for people.
    pub fn summary(&self) -> String {
        if self.intact() {
            let checkpoints = match self.latest_checkpoint_at {
                Some(at) => format!(
                    ", and they agree with {} signed checkpoint{} (the newest of {})",
                    self.checkpoints,
                    if self.checkpoints == 1 { "" } else { "s" },
                    crate::text::utc_time(at)
                ),
                None => ", and there is no signed checkpoint yet to compare with".to_string(),
            };
            format!(
                "The audit log is intact: all {} entries, and the {} of the egress log, are in place and unchanged{checkpoints}.",
                self.entries, self.egress_entries
            )
        } else {
            format!(
                "The audit log was tampered with: {}.",
                self.sentences.join("; ")
            )
        }
    }
}

/// What walking one log found.
struct Walked {
    entries: u64,
    last_id: i64,
    problems: Vec<Problem>,
}

/// Checks every entry of every log against its chain, and each log's
/// checkpoints against its entries; `public_key` (hex) is this box's key.
pub async fn verify(
    store: &Store,
    checkpoints: &Checkpoints,
    public_key: &str,
) -> anyhow::Result<Verdict> {
    let mut checkpoint_problems = Vec::new();
    let mut trusted = Vec::new();
    for (index, line) in checkpoints.read()?.into_iter().enumerate() {
        match line {
            Line::Unreadable(_) => {
                checkpoint_problems.push(Problem::BadCheckpoint { line: index + 1 })
            }
            Line::Checkpoint(c) if Log::from_name(&c.log).is_none() || !c.signature_holds() => {
                checkpoint_problems.push(Problem::BadCheckpoint { line: index + 1 })
            }
            Line::Checkpoint(c) if c.key != public_key => {
                checkpoint_problems.push(Problem::ForeignKey {
                    line: index + 1,
                    fingerprint: fingerprint(&c.key),
                })
            }
            Line::Checkpoint(c) => trusted.push(c),
        }
    }
    let mut problems = Vec::new();
    let mut walked = Vec::new();
    for log in Log::ALL {
        let mine: Vec<Checkpoint> = trusted
            .iter()
            .filter(|c| c.log == log.name())
            .cloned()
            .collect();
        let result = walk(store, log, mine).await?;
        problems.extend(result.problems.iter().cloned());
        walked.push(result);
    }
    problems.extend(checkpoint_problems);
    let sentences = problems.iter().map(ToString::to_string).collect();
    Ok(Verdict {
        entries: walked[0].entries,
        last_id: walked[0].last_id,
        egress_entries: walked[1].entries,
        checkpoints: trusted.len(),
        latest_checkpoint_at: trusted.iter().map(|c| c.at).max(),
        problems,
        sentences,
        fingerprint: fingerprint(public_key),
    })
}

/// Walks one log: each entry against the one before, then its checkpoints.
async fn walk(store: &Store, log: Log, mut trusted: Vec<Checkpoint>) -> anyhow::Result<Walked> {
    trusted.sort_by_key(|c| (c.seq, c.at));
    let name = log.name().to_string();
    // The stored hash at each checkpoint's entry, filled in while walking;
    // the checkpoints by the entry they name, so each entry is one lookup.
    let mut at_checkpoint: Vec<Option<[u8; 32]>> = vec![None; trusted.len()];
    let mut by_seq: std::collections::HashMap<i64, Vec<usize>> = std::collections::HashMap::new();
    for (i, c) in trusted.iter().enumerate() {
        by_seq.entry(c.seq).or_default().push(i);
    }
    let mut problems = Vec::new();
    let mut prev = GENESIS;
    let mut last_id = 0;
    let mut entries = 0u64;
    loop {
        let links = store.chain(log, last_id, BATCH).await?;
        if links.is_empty() {
            break;
        }
        for link in &links {
            check_link(log, link, last_id, &prev, &mut problems);
            prev = link.effective(log);
            last_id = link.id;
            entries += 1;
            for &i in by_seq.get(&link.id).into_iter().flatten() {
                at_checkpoint[i] = Some(prev);
            }
        }
    }

    let mut matching_up_to = 0;
    let mut truncated = false;
    for (c, stored) in trusted.iter().zip(&at_checkpoint) {
        if c.seq == 0 {
            continue;
        }
        match stored {
            _ if c.seq > last_id => {
                // A cut-short log is reported once, against the newest
                // checkpoint it falls short of.
                if !truncated {
                    truncated = true;
                    problems.push(Problem::Truncated {
                        log: name.clone(),
                        entries: last_id,
                        checkpoint_seq: c.seq,
                        checkpoint_at: c.at,
                    });
                }
            }
            Some(hash) if hex::encode(hash) == c.head => matching_up_to = matching_up_to.max(c.seq),
            // No entry with that id (removed), or a different hash.
            _ => problems.push(Problem::Rewritten {
                log: name.clone(),
                checkpoint_seq: c.seq,
                checkpoint_at: c.at,
                after: matching_up_to,
            }),
        }
    }
    Ok(Walked {
        entries,
        last_id,
        problems,
    })
}

/// Checks one entry against the one before it.
fn check_link(
    log: Log,
    link: &ChainLink,
    prev_id: i64,
    prev: &[u8; 32],
    problems: &mut Vec<Problem>,
) {
    let name = log.name().to_string();
    if link.id > prev_id + 1 {
        problems.push(Problem::Missing {
            log: name.clone(),
            from: prev_id + 1,
            to: link.id - 1,
        });
    }
    match link.hash {
        None => problems.push(Problem::Unchained {
            log: name,
            id: link.id,
        }),
        Some(stored) if stored != link_hash(log, prev, &link.content) => {
            problems.push(Problem::Altered {
                log: name,
                id: link.id,
            })
        }
        Some(_) => {}
    }
}

/// The checkpoint directory under the data directory.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_signature_holds_only_for_what_was_signed() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        let mut checkpoint = Checkpoint {
            log: "audit".into(),
            seq: 7,
            head: "ab".repeat(32),
            at: 1_700_000_000,
            key: signer.public_key(),
            sig: String::new(),
        };
        checkpoint.sig = signer.sign(&checkpoint);
        assert!(checkpoint.signature_holds());
        let mut moved = checkpoint.clone();
        moved.seq = 6;
        assert!(!moved.signature_holds());
        // The same key comes back from the file.
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("checkpoint.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn fingerprints_are_short_and_grouped() {
        let f = fingerprint(&"00".repeat(32));
        assert_eq!(f.len(), 19);
        assert_eq!(f.matches('-').count(), 3);
    }
}
