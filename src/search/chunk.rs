//! Chunking for retrieval: extracted text blocks become chunks of about
//! `target_words` words, small enough to rank precisely and to quote to a
//! language model, large enough to carry their context.
//!
//! Rules, in order of importance:
//! - a chunk never spans two pages or two headings: consecutive sections are
//!   joined only when both page and heading are the same, and each chunk
//!   carries its page and heading;
//! - a chunk ends at a paragraph end when it is already three quarters full;
//! - a paragraph too long for one chunk is split between sentences, and a
//!   sentence too long for one chunk between words;
//! - when a chunk had to be cut inside a run of text, the next one starts
//!   with the previous chunk's last sentence (if it is short), so a fact
//!   stated across the cut is still found whole;
//! - a tail shorter than a quarter of the target joins the chunk before it.
//!
//! Chunk texts are slices of the input, so line breaks survive.

use super::Chunk;

/// A block of extracted text with its place in the document.
#[derive(Clone, Copy, Debug)]
pub struct Section<'a> {
    pub page: Option<u32>,
    pub heading: Option<&'a str>,
    pub text: &'a str,
}

/// Splits `sections` into chunks of about `target_words` words (at least 20);
/// `ord` counts from 0 in document order.
pub fn chunk(sections: &[Section<'_>], target_words: usize) -> Vec<Chunk> {
    let target = target_words.max(20);
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < sections.len() {
        let first = sections[i];
        // Sections with the same page and heading are one run of text.
        let mut text = String::from(first.text.trim());
        let mut j = i + 1;
        while j < sections.len()
            && sections[j].page == first.page
            && sections[j].heading == first.heading
        {
            let next = sections[j].text.trim();
            if !next.is_empty() {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(next);
            }
            j += 1;
        }
        for piece in split_run(&text, target) {
            chunks.push(Chunk {
                ord: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
                page: first.page,
                heading: first
                    .heading
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty()),
                text: piece.to_string(),
            });
        }
        i = j;
    }
    chunks
}

/// A sentence (or a piece of an over-long one) as a byte range of the run.
#[derive(Clone, Copy, Debug)]
struct Unit {
    start: usize,
    end: usize,
    words: usize,
    /// The first unit of a paragraph.
    paragraph_start: bool,
}

/// Splits one run of text (one page, one heading) into chunk texts.
fn split_run(text: &str, target: usize) -> Vec<&str> {
    let units = units(text, target);
    let overlap_max = target / 8;
    let mut pieces: Vec<(usize, usize, usize)> = Vec::new(); // (first unit, last unit, words)
    let mut first = 0;
    let mut words = 0;
    let mut k = 0;
    while k < units.len() {
        let unit = units[k];
        let full = words > 0 && words + unit.words > target;
        let natural_break = words > 0 && unit.paragraph_start && words >= target * 3 / 4;
        if full || natural_break {
            pieces.push((first, k - 1, words));
            // Repeat the last sentence when cut mid-paragraph, if it is short
            // and not the whole previous chunk.
            let previous = units[k - 1];
            if full
                && !unit.paragraph_start
                && k - 1 > first
                && previous.words <= overlap_max
                && previous.words + unit.words <= target
            {
                first = k - 1;
                words = previous.words;
            } else {
                first = k;
                words = 0;
            }
        }
        words += unit.words;
        k += 1;
    }
    if words > 0 {
        pieces.push((first, units.len() - 1, words));
    }
    // A short tail joins the chunk before it when both fit comfortably.
    if pieces.len() >= 2 {
        let (_, tail_last, tail_words) = pieces[pieces.len() - 1];
        let (before_first, _, before_words) = pieces[pieces.len() - 2];
        if tail_words < target / 4 && before_words + tail_words <= target * 5 / 4 {
            pieces.pop();
            pieces.pop();
            pieces.push((before_first, tail_last, before_words + tail_words));
        }
    }
    pieces
        .into_iter()
        .map(|(first, last, _)| text[units[first].start..units[last].end].trim())
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// The run's sentences, with over-long sentences cut into word windows.
fn units(text: &str, target: usize) -> Vec<Unit> {
    let mut units = Vec::new();
    for (paragraph_start, paragraph_end) in paragraphs(text) {
        let mut first_in_paragraph = true;
        for (start, end) in sentences(text, paragraph_start, paragraph_end) {
            let words = text[start..end].split_whitespace().count();
            if words == 0 {
                continue;
            }
            if words <= target {
                units.push(Unit {
                    start,
                    end,
                    words,
                    paragraph_start: first_in_paragraph,
                });
                first_in_paragraph = false;
                continue;
            }
            for (piece_start, piece_end, piece_words) in word_windows(text, start, end, target) {
                units.push(Unit {
                    start: piece_start,
                    end: piece_end,
                    words: piece_words,
                    paragraph_start: first_in_paragraph,
                });
                first_in_paragraph = false;
            }
        }
    }
    units
}

/// Byte ranges of paragraphs: text between blank lines.
fn paragraphs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    let mut previous_blank = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank && !previous_blank && offset > start {
            out.push((start, offset));
        }
        if blank {
            start = offset + line.len();
        }
        previous_blank = blank;
        offset += line.len();
    }
    if offset > start {
        out.push((start, offset));
    }
    out
}

/// Words that end with a period without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "vs", "etc",
    "e.g", "i.e", "no", "nr", "fig", "approx", "dept", "ca", "cf", "al", "vol", "p", "pp",
];

/// Byte ranges of the sentences in `text[start..end]`: a sentence ends after
/// `.`, `!` or `?` (and closing quotes or brackets) followed by whitespace,
/// unless the word is an abbreviation or an initial.
fn sentences(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let slice = &text[start..end];
    let mut out = Vec::new();
    let mut sentence_start = 0;
    let chars: Vec<(usize, char)> = slice.char_indices().collect();
    let mut k = 0;
    while k < chars.len() {
        let (at, c) = chars[k];
        if matches!(c, '.' | '!' | '?' | '…') {
            let mut stop = k + 1;
            while stop < chars.len() && matches!(chars[stop].1, '"' | '\'' | ')' | ']' | '”' | '’')
            {
                stop += 1;
            }
            let followed_by_space = stop < chars.len() && chars[stop].1.is_whitespace();
            if followed_by_space && !(c == '.' && is_abbreviation(&slice[sentence_start..at])) {
                let sentence_end = chars[stop].0;
                out.push((start + sentence_start, start + sentence_end));
                sentence_start = sentence_end;
                k = stop;
                continue;
            }
        }
        k += 1;
    }
    if sentence_start < slice.len() {
        out.push((start + sentence_start, end));
    }
    out
}

/// Whether the text before a period ends with an abbreviation or an initial.
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("")
        .trim_start_matches(['(', '"', '\'']);
    let lower = word.to_lowercase();
    let is_initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    is_initial || ABBREVIATIONS.contains(&lower.as_str())
}

/// Cuts `text[start..end]` into pieces of at most `size` words.
fn word_windows(text: &str, start: usize, end: usize, size: usize) -> Vec<(usize, usize, usize)> {
    let slice = &text[start..end];
    let mut out = Vec::new();
    let mut piece_start: Option<usize> = None;
    let mut words = 0;
    let mut in_word = false;
    for (at, c) in slice.char_indices() {
        if c.is_whitespace() {
            if in_word {
                in_word = false;
                if words == size {
                    if let Some(s) = piece_start.take() {
                        out.push((start + s, start + at, words));
                    }
                    words = 0;
                }
            }
        } else if !in_word {
            in_word = true;
            words += 1;
            if piece_start.is_none() {
                piece_start = Some(at);
            }
        }
    }
    if let Some(s) = piece_start {
        out.push((start + s, end, words));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section<'a>(page: Option<u32>, heading: Option<&'a str>, text: &'a str) -> Section<'a> {
        Section {
            page,
            heading,
            text,
        }
    }

    fn words(n: usize, word: &str) -> String {
        vec![word; n].join(" ")
    }

    /// Sentences of `len` words each, numbered so they can be told apart.
    fn sentences_text(count: usize, len: usize) -> String {
        (0..count)
            .map(|i| format!("Sentence{i} {}.", words(len - 1, "word")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// (page, heading, word count, first word) of every chunk.
    fn shape(chunks: &[Chunk]) -> Vec<(Option<u32>, Option<&str>, usize, &str)> {
        chunks
            .iter()
            .map(|c| {
                (
                    c.page,
                    c.heading.as_deref(),
                    c.text.split_whitespace().count(),
                    c.text.split_whitespace().next().unwrap_or(""),
                )
            })
            .collect()
    }

    fn check(
        sections: &[Section<'_>],
        target: usize,
        expected: &[(Option<u32>, Option<&str>, usize, &str)],
    ) {
        let chunks = chunk(sections, target);
        assert_eq!(shape(&chunks), expected);
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.ord as usize, i);
            assert!(!c.text.trim().is_empty());
        }
    }

    #[test]
    fn small_sections_stay_whole_with_their_heading_and_page() {
        check(
            &[
                section(Some(1), Some("Intro"), "Hello there."),
                section(Some(1), Some("Intro"), "More text."),
                section(Some(2), Some("Intro"), "Page two."),
                section(Some(2), Some("Costs"), "  "),
                section(Some(2), Some("Costs"), "Costs are high."),
            ],
            100,
            &[
                (Some(1), Some("Intro"), 4, "Hello"),
                (Some(2), Some("Intro"), 2, "Page"),
                (Some(2), Some("Costs"), 3, "Costs"),
            ],
        );
        let joined = chunk(
            &[
                section(Some(1), Some("Intro"), "Hello there."),
                section(Some(1), Some("Intro"), "More text."),
            ],
            100,
        );
        assert_eq!(joined[0].text, "Hello there.\n\nMore text.");
    }

    #[test]
    fn long_paragraphs_split_between_sentences_with_overlap() {
        // 30 sentences of 10 words, target 100: cut every ~100 words, each
        // later chunk repeating the sentence before the cut.
        let text = sentences_text(30, 10);
        let chunks = chunk(&[section(Some(3), None, &text)], 100);
        assert!(chunks.len() >= 3, "{chunks:?}");
        for c in &chunks {
            let n = c.text.split_whitespace().count();
            assert!(n <= 100, "{n} words");
            assert!(c.text.starts_with("Sentence"), "{:?}", c.text);
            assert!(c.text.ends_with('.'), "{:?}", c.text);
            assert_eq!(c.page, Some(3));
        }
        for pair in chunks.windows(2) {
            let last_sentence = pair[0].text.rsplit("Sentence").next().unwrap_or("");
            assert!(
                pair[1]
                    .text
                    .starts_with(&format!("Sentence{last_sentence}"))
            );
        }
    }

    #[test]
    fn sentences_respect_abbreviations_and_initials() {
        let text = "Dr. Smith met J. Jones, e.g. at noon. Then they left! Did they? Yes.";
        let found: Vec<&str> = sentences(text, 0, text.len())
            .into_iter()
            .map(|(s, e)| text[s..e].trim())
            .collect();
        assert_eq!(
            found,
            [
                "Dr. Smith met J. Jones, e.g. at noon.",
                "Then they left!",
                "Did they?",
                "Yes."
            ]
        );
    }

    #[test]
    fn paragraph_ends_are_preferred_cuts() {
        let text = format!("{}\n\n{}", sentences_text(8, 10), sentences_text(8, 10));
        check(
            &[section(None, Some("H"), &text)],
            100,
            &[
                (None, Some("H"), 80, "Sentence0"),
                (None, Some("H"), 80, "Sentence0"),
            ],
        );
    }

    #[test]
    fn sentences_without_punctuation_split_between_words_and_tails_merge() {
        let text = words(250, "cell");
        check(
            &[section(None, None, &text)],
            100,
            &[
                (None, None, 100, "cell"),
                (None, None, 100, "cell"),
                (None, None, 50, "cell"),
            ],
        );
        // A 10-word tail is too small to stand alone.
        let text = words(110, "cell");
        check(
            &[section(None, None, &text)],
            100,
            &[(None, None, 110, "cell")],
        );
    }

    #[test]
    fn no_text_no_chunks() {
        check(&[], 100, &[]);
        check(&[section(Some(1), Some("Empty"), " \n\n ")], 100, &[]);
    }

    #[test]
    fn unicode_text_is_sliced_safely() {
        let text = "Größe überall … ja. 日本語のテキストです。 Ünïcödé! ".repeat(40);
        let chunks = chunk(&[section(Some(1), None, &text)], 25);
        assert!(chunks.len() > 1);
        let total: usize = chunks
            .iter()
            .map(|c| c.text.split_whitespace().count())
            .sum();
        assert!(total >= text.split_whitespace().count());
    }
}
