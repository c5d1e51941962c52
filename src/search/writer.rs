//! The one owner of tantivy's `IndexWriter`: a named thread fed by a bounded
//! queue of [`Request`]s.
//!
//! Tantivy allows one writer per index, and a commit is expensive (it flushes
//! segments and fsyncs), so writes are applied as they arrive but committed
//! in batches: when `commit_interval` has passed since the first uncommitted
//! write, or at once for `Flush` and `Clear`. After every commit the shared
//! reader is reloaded, so a flushed write is visible to the next search.
//!
//! A commit that fails (a full disk) is rolled back, which also gives tantivy
//! a fresh writer: after such a failure the old one kept refusing work, and
//! the index stayed stale until a restart. The documents whose writes were
//! rolled back are kept in the shared `lost` set, so the documents
//! capability can put them back once there is room.
//!
//! The thread and tantivy's indexing and merging threads (created from it)
//! run at a lower CPU priority: on a two-core box, indexing must not take
//! the cores the chat model is answering on.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::schema::Term;
use tantivy::{Index, IndexReader, IndexWriter, TantivyDocument, TantivyError};
use tokio::sync::oneshot;

use super::schema::{FIRST_CHUNK_MARKER, Fields};
use super::{Chunk, IndexDocument, SearchError};

type Reply = oneshot::Sender<Result<(), SearchError>>;

/// Everything the writer thread can be asked to do.
pub(super) enum Request {
    Index {
        doc: IndexDocument,
        reply: Reply,
    },
    Delete {
        doc_id: i64,
        reply: Reply,
    },
    Clear {
        reply: Reply,
    },
    Flush {
        reply: Reply,
    },
    /// Commit, drop the writer (releasing the index lock) and end the
    /// thread; later writes through any handle fail.
    Close {
        reply: Reply,
    },
}

/// How long the thread sleeps when nothing is waiting to be committed; any
/// request wakes it earlier.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Niceness of the index threads: well below the chat model (0), so that
/// indexing takes the cores only when the model leaves them free (see
/// `extract::child` for the measurements behind 19).
const NICENESS: i32 = 19;

/// How the writer is made, again after a failed commit.
pub(super) struct WriterSpec {
    pub index: Index,
    pub threads: usize,
    pub memory: usize,
}

impl WriterSpec {
    fn writer(&self) -> Result<IndexWriter, SearchError> {
        self.index
            .writer_with_num_threads(self.threads, self.memory)
            .map_err(|error| match error {
                TantivyError::LockFailure(..) => SearchError::Other(
                    "the search index is already open in another process".to_string(),
                ),
                error => SearchError::Other(error.to_string()),
            })
    }
}

/// Starts the writer thread, which creates the `IndexWriter` itself (so
/// tantivy's threads inherit its lower priority); returns once it has.
pub(super) fn spawn(
    spec: WriterSpec,
    reader: IndexReader,
    fields: Fields,
    commit_interval: Duration,
    receiver: Receiver<Request>,
    lost: Arc<Mutex<BTreeSet<i64>>>,
) -> Result<std::thread::JoinHandle<()>, SearchError> {
    let (ready, started) = sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("hearth-index".to_string())
        .spawn(move || {
            lower_priority();
            let index_writer = match spec.writer() {
                Ok(writer) => {
                    let _ = ready.send(Ok(()));
                    writer
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            let mut owner = Owner {
                index_writer,
                spec,
                reader,
                fields,
                commit_interval,
                dirty_since: None,
                uncommitted: BTreeSet::new(),
                lost,
            };
            owner.run(receiver)
        })
        .map_err(|error| SearchError::Other(format!("cannot start the index thread: {error}")))?;
    match started.recv() {
        Ok(Ok(())) => Ok(thread),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(_) => Err(SearchError::Other(
            "the index thread stopped while starting".to_string(),
        )),
    }
}

/// Lowers the calling thread's CPU priority (Linux: niceness is per thread,
/// and threads it creates inherit it).
fn lower_priority() {
    // SAFETY: setpriority on our own thread id changes only its niceness.
    let result =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, NICENESS) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the index thread's priority");
    }
}

struct Owner {
    index_writer: IndexWriter,
    spec: WriterSpec,
    reader: IndexReader,
    fields: Fields,
    commit_interval: Duration,
    /// When the oldest write not yet committed was applied.
    dirty_since: Option<Instant>,
    /// Documents written since the last commit.
    uncommitted: BTreeSet<i64>,
    /// Documents whose writes a failed commit rolled back; shared with the
    /// handles, which hand them to whoever puts them back.
    lost: Arc<Mutex<BTreeSet<i64>>>,
}

impl Owner {
    fn run(&mut self, receiver: Receiver<Request>) {
        loop {
            // `checked_add`: a configured interval of years must not overflow.
            let wait = self
                .dirty_since
                .and_then(|since| since.checked_add(self.commit_interval))
                .map_or(IDLE_WAIT, |due| {
                    due.saturating_duration_since(Instant::now())
                });
            match receiver.recv_timeout(wait) {
                Ok(Request::Close { reply }) => {
                    let result = if self.dirty_since.is_some() {
                        self.guarded(Owner::commit)
                    } else {
                        Ok(())
                    };
                    let _ = reply.send(result);
                    return;
                }
                Ok(request) => self.handle(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // Every handle is gone: keep what was written.
                    if self.dirty_since.is_some() {
                        let _ = self.guarded(Owner::commit);
                    }
                    return;
                }
            }
            if let Some(since) = self.dirty_since
                && since.elapsed() >= self.commit_interval
            {
                // A failed commit is logged and retried after another interval.
                let _ = self.guarded(Owner::commit);
            }
        }
    }

    fn handle(&mut self, request: Request) {
        // Mutations are applied even when the requester stopped waiting: the
        // index must converge on what the database says, not on who listened.
        let (result, reply) = match request {
            Request::Index { doc, reply } => {
                self.uncommitted.insert(doc.doc_id);
                (self.guarded(|owner| owner.index(doc)), reply)
            }
            Request::Delete { doc_id, reply } => {
                self.uncommitted.insert(doc_id);
                let result = self.guarded(|owner| {
                    owner
                        .index_writer
                        .delete_term(Term::from_field_i64(owner.fields.doc_id, doc_id));
                    owner.mark_dirty();
                    Ok(())
                });
                (result, reply)
            }
            Request::Clear { reply } => {
                let result = self.guarded(|owner| {
                    owner
                        .index_writer
                        .delete_all_documents()
                        .map_err(|error| SearchError::Other(error.to_string()))?;
                    owner.mark_dirty();
                    owner.commit()
                });
                (result, reply)
            }
            Request::Flush { reply } => {
                let result = if self.dirty_since.is_some() {
                    self.guarded(Owner::commit)
                } else {
                    Ok(())
                };
                (result, reply)
            }
            // Handled in `run`, which owns the loop it ends.
            Request::Close { reply } => (Ok(()), reply),
        };
        let _ = reply.send(result);
    }

    /// Runs one request, turning a panic inside tantivy into an error for
    /// that request instead of a dead writer thread.
    fn guarded(
        &mut self,
        work: impl FnOnce(&mut Owner) -> Result<(), SearchError>,
    ) -> Result<(), SearchError> {
        match catch_unwind(AssertUnwindSafe(|| work(self))) {
            Ok(result) => result,
            Err(_) => {
                tracing::error!("the search index writer panicked; the request was dropped");
                Err(SearchError::Other(
                    "the search index writer failed".to_string(),
                ))
            }
        }
    }

    /// Returns the index to its last commit with a fresh writer, and
    /// records the documents whose writes were dropped as lost.
    fn roll_back(&mut self) {
        if let Err(error) = self.index_writer.rollback() {
            tracing::error!(%error, "rolling back the search index failed; starting a new writer");
            match self.spec.writer() {
                Ok(writer) => self.index_writer = writer,
                Err(error) => tracing::error!(%error, "no new search index writer"),
            }
        }
        // The failed commit's half-written segment files belong to nothing;
        // left there, every retry on a full disk added more of them and ate
        // the room people made by deleting documents.
        match self.index_writer.garbage_collect_files().wait() {
            Ok(collected) => tracing::debug!(
                files = collected.deleted_files.len(),
                "removed the failed commit's files"
            ),
            Err(error) => tracing::warn!(%error, "cannot remove the failed commit's files"),
        }
        self.dirty_since = None;
        let dropped = std::mem::take(&mut self.uncommitted);
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(dropped);
    }

    fn mark_dirty(&mut self) {
        if self.dirty_since.is_none() {
            self.dirty_since = Some(Instant::now());
        }
    }

    fn index(&mut self, doc: IndexDocument) -> Result<(), SearchError> {
        let fields = self.fields;
        // Delete-then-add: tantivy orders operations by opstamp, so the delete
        // removes only the older chunks, never the ones added just after.
        self.index_writer
            .delete_term(Term::from_field_i64(fields.doc_id, doc.doc_id));
        self.mark_dirty();
        let untitled = [Chunk {
            ord: 0,
            page: None,
            heading: None,
            text: String::new(),
        }];
        let chunks: &[Chunk] = if doc.chunks.is_empty() {
            &untitled
        } else {
            &doc.chunks
        };
        let format = doc.format.trim().to_lowercase();
        for (position, chunk) in chunks.iter().enumerate() {
            let mut tantivy_doc = TantivyDocument::default();
            tantivy_doc.add_i64(fields.doc_id, doc.doc_id);
            tantivy_doc.add_i64(fields.collection_id, doc.collection_id);
            tantivy_doc.add_u64(fields.chunk_ord, u64::from(chunk.ord));
            if let Some(page) = chunk.page {
                tantivy_doc.add_u64(fields.page, u64::from(page));
            }
            if position == 0 {
                tantivy_doc.add_text(fields.marker, FIRST_CHUNK_MARKER);
            }
            tantivy_doc.add_text(fields.format, &format);
            tantivy_doc.add_i64(fields.modified, doc.modified);
            // The file name is a second title value: people search for
            // "budget.xlsx" as often as for the title inside it.
            tantivy_doc.add_text(fields.title, &doc.title);
            tantivy_doc.add_text(fields.title, &doc.file_name);
            tantivy_doc.add_text(fields.file_name, &doc.file_name);
            tantivy_doc.add_text(fields.exact, &doc.title);
            tantivy_doc.add_text(fields.exact, &doc.file_name);
            if let Some(heading) = &chunk.heading {
                tantivy_doc.add_text(fields.heading, heading);
                tantivy_doc.add_text(fields.exact, heading);
            }
            tantivy_doc.add_text(fields.body, &chunk.text);
            tantivy_doc.add_text(fields.exact, &chunk.text);
            self.index_writer
                .add_document(tantivy_doc)
                .map_err(|error| SearchError::Other(error.to_string()))?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), SearchError> {
        let started = Instant::now();
        if let Err(error) = self.index_writer.commit() {
            tracing::error!(%error, documents = self.uncommitted.len(), "committing the search index failed; rolling back");
            self.roll_back();
            return Err(SearchError::Other(format!("commit failed: {error}")));
        }
        self.dirty_since = None;
        self.uncommitted.clear();
        if let Err(error) = self.reader.reload() {
            tracing::error!(%error, "reloading the search reader failed");
            return Err(SearchError::Other(format!("reload failed: {error}")));
        }
        tracing::debug!(
            took_ms = started.elapsed().as_millis(),
            "search index committed"
        );
        Ok(())
    }
}
