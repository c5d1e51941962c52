//! Excerpts for results pages: the window of a chunk with the most matched
//! words, as HTML with `<mark>` around matches and as plain text.
//!
//! Tantivy's `SnippetGenerator` highlights one field's terms with one
//! analyser; a query here matches stemmed words (`body`) and exact words
//! (`exact`: phrases and prefix expansions), so this marks a word when
//! either analyser's token is among the query's terms. Everything taken from
//! the document is HTML-escaped; `<mark>` and `</mark>` are the only markup
//! added.

use std::ops::Range;

use super::query::HighlightTerms;
use super::schema::Analyzers;

/// Roughly how many bytes of text an excerpt shows.
const WINDOW_BYTES: usize = 240;

/// How much text to show before the first match in the window.
const CONTEXT_BEFORE_BYTES: usize = 50;

/// Matches considered when choosing the window; more add nothing visible.
const MAX_MATCHES: usize = 256;

pub(super) struct Excerpt {
    pub html: String,
    pub text: String,
}

pub(super) struct Highlighter {
    terms: HighlightTerms,
    analyzers: Analyzers,
}

struct Match {
    range: Range<usize>,
    /// Which query term it is, so that the window prefers variety.
    term: String,
}

impl Highlighter {
    pub(super) fn new(terms: &HighlightTerms, analyzers: &Analyzers) -> Highlighter {
        Highlighter {
            terms: terms.clone(),
            analyzers: analyzers.clone(),
        }
    }

    pub(super) fn excerpt(&self, text: &str) -> Excerpt {
        let matches = self.matches(text);
        let window = choose_window(text, &matches);
        render(text, window, &matches)
    }

    fn matches(&self, text: &str) -> Vec<Match> {
        let mut matches = Vec::new();
        let passes = [
            (&self.terms.stemmed, self.analyzers.stem.clone()),
            (&self.terms.exact, self.analyzers.exact.clone()),
        ];
        for (terms, mut analyzer) in passes {
            if terms.is_empty() {
                continue;
            }
            let mut stream = analyzer.token_stream(text);
            while let Some(token) = stream.next() {
                if terms.contains(&token.text) {
                    matches.push(Match {
                        range: token.offset_from..token.offset_to,
                        term: token.text.clone(),
                    });
                }
                if matches.len() >= 2 * MAX_MATCHES {
                    break;
                }
            }
        }
        matches.sort_by_key(|m| (m.range.start, m.range.end));
        // Both passes can mark the same word; keep one, merge overlaps.
        let mut merged: Vec<Match> = Vec::with_capacity(matches.len());
        for m in matches {
            match merged.last_mut() {
                Some(last) if m.range.start < last.range.end => {
                    last.range.end = last.range.end.max(m.range.end);
                }
                _ => merged.push(m),
            }
        }
        merged.truncate(MAX_MATCHES);
        merged
    }
}

fn floor_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The byte range to show: the window with the most distinct matched terms
/// (then the most matches, then the earliest), cut at word boundaries.
fn choose_window(text: &str, matches: &[Match]) -> Range<usize> {
    if text.len() <= WINDOW_BYTES {
        return 0..text.len();
    }
    let Some(first) = matches.first() else {
        return 0..word_end(text, WINDOW_BYTES, 0);
    };
    let mut best = (0usize, 0usize, first.range.clone());
    for (i, anchor) in matches.iter().enumerate() {
        let start = word_start(
            text,
            anchor.range.start.saturating_sub(CONTEXT_BEFORE_BYTES),
            anchor.range.start,
        );
        let end = word_end(text, start + WINDOW_BYTES, anchor.range.end);
        let inside = matches[i..]
            .iter()
            .take_while(|m| m.range.end <= end)
            .collect::<Vec<_>>();
        let mut distinct: Vec<&str> = inside.iter().map(|m| m.term.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let score = (distinct.len(), inside.len());
        if i == 0 || score > (best.0, best.1) {
            best = (score.0, score.1, start..end);
        }
    }
    best.2
}

/// Moves `from` forward to the start of a word, but never past `limit`.
fn word_start(text: &str, from: usize, limit: usize) -> usize {
    let from = floor_boundary(text, from);
    if from == 0 {
        return 0;
    }
    match text[from..limit.max(from)].find(char::is_whitespace) {
        Some(offset) => {
            let space = from + offset;
            space + text[space..].chars().next().map_or(0, char::len_utf8)
        }
        None => from,
    }
}

/// Moves `to` back to the end of a word, but never before `limit`.
fn word_end(text: &str, to: usize, limit: usize) -> usize {
    let to = floor_boundary(text, to);
    if to >= text.len() {
        return text.len();
    }
    let limit = limit.min(to);
    match text[limit..to].rfind(char::is_whitespace) {
        Some(offset) => limit + offset,
        None => to,
    }
}

fn render(text: &str, window: Range<usize>, matches: &[Match]) -> Excerpt {
    let mut html = String::with_capacity(window.len() + 64);
    let mut plain = String::with_capacity(window.len() + 8);
    if window.start > 0 {
        html.push('…');
        plain.push('…');
    }
    let mut at = window.start;
    for m in matches {
        if m.range.start < at || m.range.end > window.end {
            continue;
        }
        push_text(&mut html, &mut plain, &text[at..m.range.start]);
        html.push_str("<mark>");
        push_text(&mut html, &mut plain, &text[m.range.clone()]);
        html.push_str("</mark>");
        at = m.range.end;
    }
    push_text(&mut html, &mut plain, &text[at..window.end]);
    if window.end < text.len() {
        html.push('…');
        plain.push('…');
    }
    Excerpt {
        html: html.trim().to_string(),
        text: plain.trim().to_string(),
    }
}

/// Appends `text` to both outputs with whitespace runs (line breaks from
/// extraction) collapsed to one space, HTML-escaped in `html`.
fn push_text(html: &mut String, plain: &mut String, text: &str) {
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                html.push(' ');
                plain.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        plain.push(c);
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
    }
}
