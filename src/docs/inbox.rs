//! The inbox folder (`<data_dir>/inbox/`, shared on the network by the OS
//! image): files dropped there are imported automatically. A file at the
//! top goes into the "Inbox" collection; a file in a sub-folder goes into
//! the collection of that name (created for owners and admins if needed).
//! A file is taken only once its size and time have stayed the same for
//! one look, so half-copied files are left alone; once stored it is
//! removed from the inbox. Files that cannot be imported move to
//! `inbox/.failed/` with a note saying why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::import::{Imported, collection_named, import_file};
use crate::app::AppState;
use crate::audit::{self, Actor, Event, Target};
use crate::store::DocumentSource;

/// Collection for files dropped at the top of the inbox.
pub const INBOX_COLLECTION: &str = "Inbox";

/// Watches the inbox until `stop`.
pub async fn watch(state: AppState, stop: CancellationToken) {
    let inbox = state.config.inbox_dir();
    if let Err(err) = std::fs::create_dir_all(&inbox) {
        tracing::warn!(error = %err, dir = %inbox.display(), "cannot create the inbox folder; it is not watched");
        return;
    }
    let interval = Duration::from_secs(state.config.documents.inbox_poll_secs);
    let mut seen: HashMap<PathBuf, (u64, SystemTime)> = HashMap::new();
    loop {
        let files = candidates(&inbox);
        let mut next_seen = HashMap::new();
        for (path, folder, signature) in files {
            if seen.get(&path) == Some(&signature) {
                take(&state, &inbox, &path, folder.as_deref()).await;
            } else {
                next_seen.insert(path, signature);
            }
        }
        seen = next_seen;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Files at the top of the inbox and one folder down, with the folder's
/// name and the file's size and modification time.
fn candidates(inbox: &Path) -> Vec<(PathBuf, Option<String>, (u64, SystemTime))> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(inbox) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if metadata.is_file() {
            found.push((entry.path(), None, signature(&metadata)));
        } else if metadata.is_dir()
            && let Ok(inner) = std::fs::read_dir(entry.path())
        {
            for file in inner.flatten() {
                let hidden = file.file_name().to_string_lossy().starts_with('.');
                if let Ok(m) = file.metadata()
                    && m.is_file()
                    && !hidden
                {
                    found.push((file.path(), Some(name.clone()), signature(&m)));
                }
            }
        }
    }
    found
}

fn signature(metadata: &std::fs::Metadata) -> (u64, SystemTime) {
    (
        metadata.len(),
        metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    )
}

async fn take(state: &AppState, inbox: &Path, path: &Path, folder: Option<&str>) {
    // On a (nearly) full disk the file waits in the inbox for room.
    if state.config.disk().status().low() {
        return;
    }
    let name = folder.unwrap_or(INBOX_COLLECTION);
    let outcome = async {
        let (collection, _) = collection_named(&state.store, name).await?;
        let imported = import_file(
            &state.store,
            &state.config,
            &state.docs.wake,
            path,
            &collection,
            DocumentSource::Inbox,
        )
        .await?;
        Ok::<_, anyhow::Error>((collection, imported))
    }
    .await;
    let file_name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    match outcome {
        Ok((collection, Imported::Queued(id))) => {
            let _ = std::fs::remove_file(path);
            let _ = audit::record(
                &state.store,
                Actor::Console,
                "inbox",
                Event::ok("docs.uploaded", Target::Document(id))
                    .named(file_name.clone())
                    .in_collection(collection.id)
                    .detail(format!("{file_name} (inbox) into {}", collection.name)),
            )
            .await;
            tracing::info!(file = %file_name, collection = %collection.name, "imported from the inbox");
        }
        Ok((_, Imported::Duplicate(why))) => {
            let _ = std::fs::remove_file(path);
            tracing::info!(file = %file_name, %why, "inbox file already imported");
        }
        Ok((_, Imported::Rejected(why))) => set_aside(inbox, path, &why),
        Err(err) => set_aside(inbox, path, &err.to_string()),
    }
}

/// Moves a file that cannot be imported to `.failed/`, with a note.
fn set_aside(inbox: &Path, path: &Path, why: &str) {
    let failed = inbox.join(".failed");
    let name = path.file_name().unwrap_or_default();
    tracing::warn!(file = %path.display(), reason = %why, "inbox file not imported");
    if std::fs::create_dir_all(&failed).is_ok() && std::fs::rename(path, failed.join(name)).is_ok()
    {
        let mut note = failed.join(name).into_os_string();
        note.push(".why.txt");
        let _ = std::fs::write(note, format!("{why}\n"));
    }
}
