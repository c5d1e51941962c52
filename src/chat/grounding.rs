//! Answers from documents: before the model answers a message in a
//! conversation that uses documents, the best passages from the
//! collections the person may see (and picked) are retrieved, numbered,
//! and given to the model with the question; the answer cites them as [1],
//! and the passages are stored with the answer so people can check them.
//! A conversation uses documents automatically (the passages go to the
//! model only when they hold enough of the question's words, so an ordinary
//! question gets an ordinary answer), or only from documents (when nothing
//! relevant is found, the answer says so instead of letting the model invent
//! one), or not at all.

use askama::Template;

use crate::app::AppState;
use crate::error::{AppError, AppResult};
use crate::store::{CollectionId, DocumentId, DocumentsMode, MessageSource, User, Viewer};

/// What the model is told on top of the assistant's system prompt.
pub const INSTRUCTIONS: &str = "You answer from the office's documents. The user's message starts with numbered passages from those documents. Use only what the passages say, and cite each passage you use with its number in square brackets, like [1]. If the passages do not answer the question, say that the documents do not say, and do not guess.";

/// Longest piece of one passage given to the model, in characters.
const PASSAGE_CHARS: usize = 1200;

/// The passages found for a question and the message the model reads.
pub struct Grounding {
    pub sources: Vec<MessageSource>,
    /// The question with the numbered passages before it.
    pub prompt: String,
    /// Names of the collections searched, for the "nothing found" answer.
    pub searched: Vec<String>,
}

/// Finds passages for `question` in the collections `user` may see
/// (only those in `picked`, unless it is empty); in `auto` mode only the
/// passages that hold enough of the question (`documents.auto_min_coverage`).
/// `None` when there is nothing to search: no visible collections, or no
/// index yet.
pub async fn ground(
    state: &AppState,
    user: &User,
    picked: &[CollectionId],
    question: &str,
    mode: DocumentsMode,
) -> AppResult<Option<Grounding>> {
    if mode == DocumentsMode::Off {
        return Ok(None);
    }
    let visible = state.store.visible_collections(Viewer::of(user)).await?;
    let searched: Vec<_> = visible
        .iter()
        .filter(|c| picked.is_empty() || picked.contains(&c.id))
        .collect();
    if searched.is_empty() {
        return Ok(None);
    }
    let Some(index) = state.search.index().cloned() else {
        tracing::info!("answering without documents: the search index is not open");
        return Ok(None);
    };
    let allowed: Vec<i64> = searched.iter().map(|c| c.id.0).collect();
    let limit = state.config.documents.answer_passages;
    let text = question.to_string();
    let mut passages = tokio::task::spawn_blocking(move || index.passages(&text, &allowed, limit))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("retrieval failed: {e}")))?;
    if mode == DocumentsMode::Auto {
        let floor = state.config.documents.auto_min_coverage;
        passages.retain(|p| p.coverage >= floor);
    }
    // Sources are named by the document's own title with its file beside
    // it, so two documents with one title still differ.
    let files = state
        .store
        .documents_by_ids(
            Viewer::of(user),
            passages.iter().map(|p| DocumentId(p.doc_id)).collect(),
        )
        .await?;
    let sources: Vec<MessageSource> = passages
        .into_iter()
        .enumerate()
        .map(|(i, p)| MessageSource {
            n: i as u32 + 1,
            document_id: Some(DocumentId(p.doc_id)),
            chunk_ord: p.chunk_ord,
            page: p.page,
            title: files
                .iter()
                .find(|d| d.id.0 == p.doc_id)
                .map_or(p.title, source_name),
            excerpt: p.text,
        })
        .collect();
    Ok(Some(Grounding {
        prompt: prompt(&sources, question),
        sources,
        searched: searched.iter().map(|c| c.name.clone()).collect(),
    }))
}

/// How a cited document is named: "Refund policy (refunds-2026.pdf)", or
/// just the file name when the title is only the file's name.
fn source_name(document: &crate::store::DocumentRecord) -> String {
    let stem = document
        .file_name
        .rsplit_once('.')
        .map_or(document.file_name.as_str(), |(stem, _)| stem);
    let title = document.title.trim();
    if title.is_empty() || title == stem || title == document.file_name {
        document.file_name.clone()
    } else {
        format!("{title} ({})", document.file_name)
    }
}

/// The user message the model reads: numbered passages, then the question.
pub fn prompt(sources: &[MessageSource], question: &str) -> String {
    let mut text = String::from("Passages from the office's documents:\n\n");
    for source in sources {
        let excerpt: String = source.excerpt.chars().take(PASSAGE_CHARS).collect();
        let place = source
            .page
            .map(|p| format!(", page {p}"))
            .unwrap_or_default();
        text.push_str(&format!(
            "[{}] {}{}\n{}\n\n",
            source.n,
            source.title,
            place,
            excerpt.trim()
        ));
    }
    text.push_str("Question: ");
    text.push_str(question);
    text
}

/// The answer when no passage matched. It is Markdown, and collection
/// names are text: they are escaped so a name cannot plant a link.
pub fn nothing_found(searched: &[String]) -> String {
    let names: Vec<String> = searched
        .iter()
        .map(|name| crate::web::markdown::escape(name))
        .collect();
    format!(
        "I found nothing about this in the documents you can see (searched: {}). \
         Try other words, check the collection, or choose **Automatic** instead of **Only from documents** to ask the assistant in general.",
        names.join(", ")
    )
}

/// Where a cited passage is shown.
pub fn source_url(source: &MessageSource) -> Option<String> {
    source.document_id.map(|d| {
        format!(
            "/documents/{}?chunk={}#chunk-{}",
            d.0, source.chunk_ord, source.chunk_ord
        )
    })
}

/// The answer's Markdown with each `[n]` that names a source turned into a
/// link to that passage (before rendering, so the sanitiser sees the links).
pub fn link_citations(markdown: &str, sources: &[MessageSource]) -> String {
    if sources.is_empty() {
        return markdown.to_string();
    }
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut rest = markdown;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        let closes = !digits.is_empty() && after[digits.len()..].starts_with(']');
        let followed_by_link = closes && after[digits.len() + 1..].starts_with('(');
        let source = digits
            .parse::<u32>()
            .ok()
            .and_then(|n| sources.iter().find(|s| s.n == n));
        match (closes && !followed_by_link, source.and_then(source_url)) {
            (true, Some(url)) => {
                out.push_str(&format!("[\\[{digits}\\]]({url})"));
                rest = &after[digits.len() + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The "Sources" list under an answer.
#[derive(Template)]
#[template(path = "chat/sources.html")]
pub struct SourcesPartial<'a> {
    pub sources: &'a [MessageSource],
}

impl SourcesPartial<'_> {
    fn url(&self, source: &MessageSource) -> String {
        source_url(source).unwrap_or_default()
    }

    fn excerpt(&self, source: &MessageSource) -> String {
        crate::text::truncate_words(&source.excerpt, 300)
    }
}

pub fn render_sources(sources: &[MessageSource]) -> String {
    if sources.is_empty() {
        return String::new();
    }
    SourcesPartial { sources }.render().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u32) -> MessageSource {
        MessageSource {
            n,
            document_id: Some(DocumentId(7)),
            chunk_ord: 3,
            page: Some(2),
            title: "Policy".into(),
            excerpt: "text".into(),
        }
    }

    fn check(input: &str, expected: &str) {
        assert_eq!(link_citations(input, &[source(1), source(2)]), expected);
    }

    #[test]
    fn citations_become_links_to_passages() {
        check("Yes [1].", "Yes [\\[1\\]](/documents/7?chunk=3#chunk-3).");
        check("See [3] and [x] and [", "See [3] and [x] and [");
        check("[2](http://a)", "[2](http://a)");
        check("no citations", "no citations");
    }
}
