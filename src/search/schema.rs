//! The index layout: which fields exist, how their text is analysed, and the
//! check that an index on disk was built with the layout this binary expects.
//!
//! Every chunk is one tantivy document. Text is indexed twice: once stemmed
//! with stop words removed (`body`, `heading`, `title`: plain words match
//! "running" to "runs", and British spellings their American twins, see
//! `spelling`), and once only lowercased and accent-folded (`exact`:
//! quoted phrases and `prefix*` match what was written). The analyser names
//! carry the language and [`LAYOUT_VERSION`], and tantivy stores them in the
//! schema, so an index built for another language or an older layout no
//! longer equals [`build_schema`]'s output and is reported as needing a
//! rebuild instead of silently answering with mismatched terms.

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

use super::SearchError;
use super::spelling::SpellingFilter;

/// Bump when the fields or the analysers change: older indexes then fail the
/// schema comparison in `open` and the caller rebuilds them. 2: the stemmed
/// analyser makes British spellings American (`spelling`).
pub(super) const LAYOUT_VERSION: u32 = 2;

/// Words longer than this are dropped by both analysers: they are base64,
/// hashes or glued-together table cells, never something a person types.
const MAX_TOKEN_BYTES: usize = 40;

/// The value of [`Fields::marker`] on the first chunk of every document, so
/// that counting documents is one posting list instead of a scan.
pub(super) const FIRST_CHUNK_MARKER: &str = "first";

/// The handles of every field, resolved once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields {
    pub doc_id: Field,
    pub collection_id: Field,
    pub chunk_ord: Field,
    pub page: Field,
    pub marker: Field,
    pub format: Field,
    pub modified: Field,
    pub title: Field,
    pub file_name: Field,
    pub heading: Field,
    pub body: Field,
    pub exact: Field,
}

/// The two analysers of one language. Cloning is cheap enough to do per
/// search (tantivy analysers need `&mut` to tokenize).
#[derive(Clone)]
pub(super) struct Analyzers {
    pub stem: TextAnalyzer,
    pub exact: TextAnalyzer,
    /// Extra words `passages` drops from questions ("what", "how", ...);
    /// empty for languages without a list.
    pub question_words: &'static [&'static str],
}

/// Maps a configured language name ("english", "German", ...) to tantivy's.
pub(super) fn parse_language(name: &str) -> Result<Language, SearchError> {
    let language = match name.trim().to_ascii_lowercase().as_str() {
        "arabic" => Language::Arabic,
        "danish" => Language::Danish,
        "dutch" => Language::Dutch,
        "english" => Language::English,
        "finnish" => Language::Finnish,
        "french" => Language::French,
        "german" => Language::German,
        "greek" => Language::Greek,
        "hungarian" => Language::Hungarian,
        "italian" => Language::Italian,
        "norwegian" => Language::Norwegian,
        "portuguese" => Language::Portuguese,
        "romanian" => Language::Romanian,
        "russian" => Language::Russian,
        "spanish" => Language::Spanish,
        "swedish" => Language::Swedish,
        "tamil" => Language::Tamil,
        "turkish" => Language::Turkish,
        other => {
            return Err(SearchError::Other(format!(
                "unknown search language {other:?}; use one of arabic, danish, dutch, english, \
                 finnish, french, german, greek, hungarian, italian, norwegian, portuguese, \
                 romanian, russian, spanish, swedish, tamil, turkish"
            )));
        }
    };
    Ok(language)
}

fn stem_tokenizer_name(language: Language, layout: u32) -> String {
    format!(
        "hearth_stem_{}_v{layout}",
        format!("{language:?}").to_ascii_lowercase()
    )
}

fn exact_tokenizer_name(layout: u32) -> String {
    format!("hearth_exact_v{layout}")
}

/// The analysers for `language`.
pub(super) fn analyzers(language: Language) -> Analyzers {
    // Languages without a stop word list in tantivy simply keep every word.
    let stop_words =
        StopWordFilter::new(language).unwrap_or_else(|| StopWordFilter::remove(Vec::new()));
    // Folding comes after stemming: the German or French stemmers need the
    // accents, and folding afterwards still lets "cafe" find "café".
    let stem = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(SpellingFilter::for_language(language))
        .filter(stop_words)
        .filter(Stemmer::new(language))
        .filter(AsciiFoldingFilter)
        .build();
    let exact = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build();
    let question_words: &'static [&'static str] = match language {
        Language::English => ENGLISH_QUESTION_WORDS,
        _ => &[],
    };
    Analyzers {
        stem,
        exact,
        question_words,
    }
}

/// Words that carry no topic in an English question. Tantivy's English stop
/// list (Lucene's 33 words) is kept for `search`, where a user chose every
/// word; a question in natural language needs a longer list.
const ENGLISH_QUESTION_WORDS: &[&str] = &[
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did",
    "can", "could", "should", "would", "may", "might", "must", "shall", "i", "me", "my", "we",
    "us", "our", "you", "your", "he", "she", "him", "her", "his", "its", "them", "has", "have",
    "had", "am", "been", "being", "were", "about", "any", "some", "all", "from", "up", "so",
    "than", "too", "very", "just", "also", "there", "here", "please", "tell", "know", "get",
    "many", "much",
];

/// Builds the schema for `language`; see the module comment for the fields.
pub(super) fn build_schema(language: Language) -> (Schema, Fields) {
    build_schema_of_layout(language, LAYOUT_VERSION)
}

/// The schema as layout version `layout` had it (tests build old indexes
/// with it).
pub(super) fn build_schema_of_layout(language: Language, layout: u32) -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let stemmed = |positions: bool| {
        let option = if positions {
            IndexRecordOption::WithFreqsAndPositions
        } else {
            IndexRecordOption::WithFreqs
        };
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&stem_tokenizer_name(language, layout))
                .set_index_option(option),
        )
    };
    let doc_id = builder.add_i64_field("doc_id", INDEXED | FAST | STORED);
    let collection_id = builder.add_i64_field("collection_id", INDEXED | FAST | STORED);
    let chunk_ord = builder.add_u64_field("chunk_ord", STORED);
    let page = builder.add_u64_field("page", STORED);
    let marker = builder.add_text_field("marker", STRING);
    let format = builder.add_text_field("format", STRING | STORED);
    let modified = builder.add_i64_field("modified", INDEXED | FAST | STORED);
    // Titles and headings are short, so positions (for `title:"..."`) cost
    // little; the body's phrases are answered by `exact` instead.
    let title = builder.add_text_field("title", stemmed(true) | STORED);
    let file_name = builder.add_text_field("file_name", STORED);
    let heading = builder.add_text_field("heading", stemmed(true) | STORED);
    let body = builder.add_text_field("body", stemmed(false) | STORED);
    let exact = builder.add_text_field(
        "exact",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(&exact_tokenizer_name(layout))
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let fields = Fields {
        doc_id,
        collection_id,
        chunk_ord,
        page,
        marker,
        format,
        modified,
        title,
        file_name,
        heading,
        body,
        exact,
    };
    (builder.build(), fields)
}

/// Registers this layout's analysers on `index`. Tantivy stores analyser
/// names, not analysers, so every opened index needs this.
pub(super) fn register_analyzers(index: &Index, language: Language) -> Analyzers {
    let analyzers = analyzers(language);
    index.tokenizers().register(
        &stem_tokenizer_name(language, LAYOUT_VERSION),
        analyzers.stem.clone(),
    );
    index.tokenizers().register(
        &exact_tokenizer_name(LAYOUT_VERSION),
        analyzers.exact.clone(),
    );
    analyzers
}

/// Runs `analyzer` over `text` and returns the token texts with positions.
pub(super) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push((token.position, token.text.clone()));
    }
    out
}
