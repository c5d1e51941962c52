//! Importing files from disk: the inbox folder and `hearth docs import`
//! (a USB stick of old files). Files are copied into storage and queued
//! like uploads. The console import works with or without a running
//! server: when the server holds the processing lock, it only queues the
//! files and follows their progress while the server processes them;
//! otherwise it processes them itself.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::Notify;

use super::ingest;
use crate::config::Config;
use crate::disk::SpoolError;
use crate::store::Role;
use crate::store::{
    Added, Collection, CollectionAccess, DocumentId, DocumentSource, DocumentStatus, NewDocument,
    Store, StoreError,
};

/// What importing one file did.
#[derive(Debug)]
pub enum Imported {
    Queued(DocumentId),
    Duplicate(String),
    Rejected(String),
}

/// Copies `path` into storage and queues it in `collection`.
pub async fn import_file(
    store: &Store,
    config: &Config,
    wake: &Notify,
    path: &Path,
    collection: &Collection,
    source: DocumentSource,
) -> anyhow::Result<Imported> {
    let file_name =
        ingest::clean_file_name(&path.file_name().unwrap_or_default().to_string_lossy());
    let stored = match ingest::store_path(config, path).await {
        Ok(stored) => stored,
        Err(SpoolError::Io(err)) => {
            return Ok(Imported::Rejected(format!("cannot read it: {err}")));
        }
        // Not the file's fault: stop, and leave it where it is.
        Err(SpoolError::DiskFull) => anyhow::bail!("{}", crate::error::DISK_FULL_MESSAGE),
        Err(err) => return Ok(Imported::Rejected(err.to_string())),
    };
    let added = ingest::add_document(
        store,
        config,
        wake,
        NewDocument {
            collection_id: collection.id,
            title: ingest::title_from_file_name(&file_name),
            file_name,
            size: stored.size as i64,
            sha256: stored.sha256,
            stored_as: stored.stored_as,
            source,
            uploaded_by: None,
        },
    )
    .await?;
    Ok(match added {
        Added::New(d) | Added::Replaced { document: d, .. } => Imported::Queued(d.id),
        Added::Duplicate(d) => Imported::Duplicate(format!(
            "already in {} as \"{}\"",
            d.collection_name, d.title
        )),
    })
}

/// A shared collection by name, created (visible to owners and admins) if
/// there is none yet. Returns whether it was created.
pub async fn collection_named(store: &Store, name: &str) -> anyhow::Result<(Collection, bool)> {
    match store.collection_by_name(name.to_string()).await {
        Ok(collection) => Ok((collection, false)),
        Err(StoreError::NotFound) => {
            let collection = store
                .create_collection(
                    CollectionAccess {
                        name: name.to_string(),
                        description: String::new(),
                        roles: vec![Role::Owner, Role::Admin],
                        users: Vec::new(),
                    },
                    None,
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the collection \"{name}\": {e}"))?;
            Ok((collection, true))
        }
        Err(err) => Err(err.into()),
    }
}

/// Every regular, non-hidden file under `paths` (folders recursively),
/// sorted, with the reasons some paths could not be read.
fn files_under(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(path) = stack.pop() {
        let metadata = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(err) => {
                problems.push((path, err.to_string()));
                continue;
            }
        };
        if metadata.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        let name = entry.file_name();
                        if !name.to_string_lossy().starts_with('.') {
                            stack.push(entry.path());
                        }
                    }
                }
                Err(err) => problems.push((path, err.to_string())),
            }
        } else if metadata.is_file() {
            files.push(path);
        }
    }
    files.sort();
    (files, problems)
}

/// `hearth docs import <paths>... --collection <name>`. Returns whether
/// every file ended indexed (or was already there).
pub async fn run_console_import(
    config: Config,
    paths: Vec<PathBuf>,
    collection_name: &str,
) -> anyhow::Result<bool> {
    if paths.is_empty() {
        bail!("name at least one file or folder to import");
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot use the data directory {}",
            config.data_dir.display()
        )
    })?;
    let store = Store::open(&config.database_path())?;
    let (collection, created) = collection_named(&store, collection_name).await?;
    if created {
        eprintln!(
            "Created the collection \"{}\" (visible to owners and admins; change that in Admin → Collections).",
            collection.name
        );
    }
    let (files, problems) = files_under(&paths);
    for (path, problem) in &problems {
        eprintln!("skipped {}: {problem}", path.display());
    }
    if files.is_empty() {
        bail!("no files found under the given paths");
    }
    let wake = Notify::new();
    let progress = Progress::new(files.len() as u64, "copying");
    let mut queued = Vec::new();
    let mut duplicates = Vec::new();
    let mut rejected = Vec::new();
    for path in &files {
        progress.set_message(path.display().to_string());
        match import_file(
            &store,
            &config,
            &wake,
            path,
            &collection,
            DocumentSource::Import,
        )
        .await?
        {
            Imported::Queued(id) => queued.push((id, path.clone())),
            Imported::Duplicate(why) => duplicates.push((path.clone(), why)),
            Imported::Rejected(why) => rejected.push((path.clone(), why)),
        }
        progress.inc();
    }
    progress.finish();

    // Process them here, or follow the running server doing it.
    let lock = super::try_processing_lock(&config)?;
    let progress = Progress::new(queued.len() as u64, "processing");
    let config = Arc::new(config);
    let mut finished = std::collections::HashMap::new();
    if let Some(lock) = lock {
        let index = super::open_index(&store, &config).await?;
        let worker = ingest::Worker {
            store: store.clone(),
            config: config.clone(),
            index: index.clone(),
            extractor: super::extractor_binary(),
            wake: Arc::new(Notify::new()),
        };
        worker
            .drain(|document| {
                progress.set_message(document.file_name.clone());
                progress.inc();
            })
            .await?;
        index.close().await?;
        drop(lock);
    } else {
        eprintln!(
            "A Hearth server is running: it processes the files; new documents appear as they are indexed."
        );
        let ids: Vec<DocumentId> = queued.iter().map(|(id, _)| *id).collect();
        loop {
            let mut done = 0;
            for id in &ids {
                if let Ok(document) = store.document_for_processing(*id).await
                    && (matches!(
                        document.status,
                        DocumentStatus::Indexed | DocumentStatus::Failed
                    ))
                {
                    done += 1;
                }
            }
            progress.set_position(done);
            if done as usize == ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    progress.finish();
    for (id, path) in &queued {
        if let Ok(document) = store.document_for_processing(*id).await {
            finished.insert(path.clone(), document);
        }
    }

    let indexed = finished
        .values()
        .filter(|d| d.status == DocumentStatus::Indexed)
        .count();
    let failed: Vec<_> = finished
        .iter()
        .filter(|(_, d)| d.status == DocumentStatus::Failed)
        .collect();
    println!(
        "Imported into \"{}\": {} indexed, {} already there, {} failed.",
        collection.name,
        indexed,
        duplicates.len(),
        failed.len() + rejected.len()
    );
    let mut failures: Vec<(String, String)> = failed
        .iter()
        .map(|(path, d)| {
            (
                path.display().to_string(),
                d.error_reason.clone().unwrap_or_else(|| "failed".into()),
            )
        })
        .chain(
            rejected
                .iter()
                .map(|(path, why)| (path.display().to_string(), why.clone())),
        )
        .collect();
    failures.sort();
    for (path, why) in &failures {
        println!("  failed: {path}: {why}");
    }
    Ok(failures.is_empty())
}

/// A progress bar on a terminal, quiet otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(total: u64, what: &'static str) -> Progress {
        if !std::io::stderr().is_terminal() || total == 0 {
            return Progress { bar: None };
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {wide_msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what);
        Progress { bar: Some(bar) }
    }

    fn set_message(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        }
    }

    fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn set_position(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
