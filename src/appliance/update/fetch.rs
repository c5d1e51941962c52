//! Updates from the publisher's server (`[appliance] update_url`): a small
//! JSON document says which version is the latest and where its bundle is;
//! the bundle is downloaded to the same place an upload goes and checked
//! the same way. The box reaches out only when the owner presses "Check for
//! updates", through the same client as model downloads (rustls, Mozilla's
//! roots, the `[models]` timeouts).

use std::path::Path;

use futures::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::config::Config;

/// What the update server offers.
#[derive(Clone, Debug, Deserialize)]
pub struct Latest {
    pub version: String,
    pub generation: u64,
    /// The bundle's address (resolved against the document's own).
    pub url: String,
}

/// Asks `url` for the latest version.
pub async fn latest(config: &Config, url: &str) -> Result<Latest, String> {
    let client = crate::chat::models::download::http_client(&config.models)?;
    let unreachable =
        |e: reqwest::Error| format!("The update server {url} could not be reached: {e}.");
    let response = client.get(url).send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(format!(
            "The update server {url} answered {}.",
            response.status()
        ));
    }
    let text = response.text().await.map_err(unreachable)?;
    let mut latest: Latest = serde_json::from_str(&text).map_err(|e| {
        format!("The update server's answer at {url} is not what Hearth expects: {e}.")
    })?;
    let base = reqwest::Url::parse(url)
        .map_err(|e| format!("The update address {url} is not valid: {e}."))?;
    latest.url = base
        .join(&latest.url)
        .map_err(|e| format!("The bundle's address {} is not valid: {e}.", latest.url))?
        .to_string();
    Ok(latest)
}

/// Downloads `url` to `dest` (replacing it), at most
/// `[appliance] max_bundle_bytes`, telling `progress` the bytes so far and
/// the total when the server said it.
pub async fn download(
    config: &Config,
    url: &str,
    dest: &Path,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<(), String> {
    let limit = config.appliance.max_bundle_bytes;
    let client = crate::chat::models::download::http_client(&config.models)?;
    let failed = |e: &dyn std::fmt::Display| format!("The download of {url} failed: {e}.");
    let response = client.get(url).send().await.map_err(|e| failed(&e))?;
    if !response.status().is_success() {
        return Err(format!(
            "The update server answered {} for {url}.",
            response.status()
        ));
    }
    let total = response.content_length();
    if total.is_some_and(|t| t > limit) {
        return Err(format!(
            "The bundle is larger than the limit of {} for update bundles.",
            crate::disk::human_size(limit)
        ));
    }
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| failed(&e))?;
    }
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| failed(&e))?;
    let mut done: u64 = 0;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| failed(&e))?;
        done += chunk.len() as u64;
        if done > limit {
            return Err(format!(
                "The bundle is larger than the limit of {} for update bundles.",
                crate::disk::human_size(limit)
            ));
        }
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
        progress(done, total);
    }
    file.sync_all().await.map_err(|e| failed(&e))?;
    Ok(())
}
