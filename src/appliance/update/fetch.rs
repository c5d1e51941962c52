//! Updates from the publisher's server (`[appliance] update_url`): a small
//! JSON document says which version is the latest and where its bundle is;
//! the bundle is downloaded to the same place an upload goes and checked
//! the same way. The box reaches out only when the owner presses "Check for
//! updates", through `egress` like every request that leaves (logged
//! first, the `[models]` timeouts).

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::config::Config;
use crate::egress::{Egress, EgressError, Outbound, Reach, Sender, Sent};
use crate::store::{EgressOutcome, EgressPurpose};

/// Sends a GET for an update, logged.
async fn get(
    config: &Config,
    egress: &Egress,
    sender: &Sender,
    purpose: EgressPurpose,
    url: &str,
) -> Result<Sent, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("The address {url} is not valid: {e}."))?;
    egress
        .send(Outbound {
            purpose,
            sender: sender.clone(),
            method: reqwest::Method::GET,
            url: parsed,
            headers: Default::default(),
            body: None,
            model: String::new(),
            conversation: None,
            redactions: Default::default(),
            // The publisher's server, or one in the office that mirrors it.
            reach: Reach::Lan,
            follow_redirects: true,
            connect_timeout: Duration::from_secs(config.models.connect_timeout_secs),
            read_timeout: Duration::from_secs(config.models.read_timeout_secs),
        })
        .await
        .map_err(|e| match e {
            EgressError::Refused(why) => format!("The update server {url} is not used: {why}."),
            other => format!("The update server {url} could not be reached: {other}."),
        })
}

/// What the update server offers.
#[derive(Clone, Debug, Deserialize)]
pub struct Latest {
    pub version: String,
    pub generation: u64,
    /// The bundle's address (resolved against the document's own).
    pub url: String,
}

/// Asks `url` for the latest version.
pub async fn latest(
    config: &Config,
    egress: &Egress,
    sender: &Sender,
    url: &str,
) -> Result<Latest, String> {
    let Sent {
        response,
        mut ticket,
    } = get(config, egress, sender, EgressPurpose::UpdateCheck, url).await?;
    let status = response.status();
    let text = response.text().await;
    let text = match (status.is_success(), text) {
        (true, Ok(text)) => {
            ticket.received(text.len() as u64);
            ticket.finish(EgressOutcome::Ok, "").await;
            text
        }
        (false, _) => {
            let message = format!("The update server {url} answered {status}.");
            ticket.finish(EgressOutcome::Failed, &message).await;
            return Err(message);
        }
        (true, Err(e)) => {
            let message = format!(
                "The update server {url} could not be reached: {}.",
                crate::egress::describe(&e)
            );
            ticket.finish(EgressOutcome::Failed, &message).await;
            return Err(message);
        }
    };
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
    egress: &Egress,
    sender: &Sender,
    url: &str,
    dest: &Path,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<(), String> {
    let Sent {
        response,
        mut ticket,
    } = get(config, egress, sender, EgressPurpose::UpdateDownload, url).await?;
    let mut done: u64 = 0;
    let result = receive(config, response, url, dest, &mut done, progress).await;
    ticket.received(done);
    match &result {
        Ok(()) => ticket.finish(EgressOutcome::Ok, "").await,
        Err(message) => ticket.finish(EgressOutcome::Failed, message).await,
    }
    result
}

async fn receive(
    config: &Config,
    response: reqwest::Response,
    url: &str,
    dest: &Path,
    done: &mut u64,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<(), String> {
    let limit = config.appliance.max_bundle_bytes;
    let failed = |e: &dyn std::fmt::Display| format!("The download of {url} failed: {e}.");
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
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| failed(&crate::egress::describe(&e)))?;
        *done += chunk.len() as u64;
        if *done > limit {
            return Err(format!(
                "The bundle is larger than the limit of {} for update bundles.",
                crate::disk::human_size(limit)
            ));
        }
        file.write_all(&chunk).await.map_err(|e| failed(&e))?;
        progress(*done, total);
    }
    file.sync_all().await.map_err(|e| failed(&e))?;
    Ok(())
}
