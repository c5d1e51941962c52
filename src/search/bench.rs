//! A repeatable benchmark of the index on synthetic office text: ingest
//! throughput through the public API, and in-process search latency for a
//! mix of the queries people type, each with an access filter.
//!
//! The text is generated, not real, but shaped like it: a vocabulary of
//! about 20,000 words (common office words first, invented words in the long
//! tail) drawn with a Zipf distribution, in sentences and paragraphs of
//! about 250 words per chunk, spread over documents in 20 collections. A
//! fixed seed makes runs comparable.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Chunk, IndexDocument, SearchConfig, SearchError, SearchIndex, SearchRequest};

/// What one run measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub chunks: usize,
    pub documents: usize,
    /// Bytes of chunk text indexed.
    pub text_bytes: usize,
    /// From the first `index_document` until `flush` returned.
    pub ingest: Duration,
    pub ingest_mb_per_s: f64,
    pub ingest_chunks_per_s: f64,
    pub segments: usize,
    /// Size of the index directory after ingest.
    pub index_bytes: u64,
    pub queries: usize,
    /// Share of queries that found something.
    pub queries_with_hits: f64,
    pub search_p50: Duration,
    pub search_p95: Duration,
    pub search_p99: Duration,
    pub search_max: Duration,
    pub passages_p50: Duration,
    pub passages_p99: Duration,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} chunks in {} documents, {:.1} MB of text, index {:.1} MB in {} segments",
            self.chunks,
            self.documents,
            self.text_bytes as f64 / 1e6,
            self.index_bytes as f64 / 1e6,
            self.segments
        )?;
        writeln!(
            f,
            "ingest: {:.2} s, {:.1} MB/s, {:.0} chunks/s",
            self.ingest.as_secs_f64(),
            self.ingest_mb_per_s,
            self.ingest_chunks_per_s
        )?;
        writeln!(
            f,
            "search ({} queries, {:.0}% with hits): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.queries,
            self.queries_with_hits * 100.0,
            ms(self.search_p50),
            ms(self.search_p95),
            ms(self.search_p99),
            ms(self.search_max)
        )?;
        write!(
            f,
            "passages: p50 {:.2} ms, p99 {:.2} ms",
            ms(self.passages_p50),
            ms(self.passages_p99)
        )
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

const COLLECTIONS: i64 = 20;
const FORMATS: &[&str] = &["pdf", "docx", "xlsx", "pptx", "txt", "eml"];
const QUERIES: usize = 600;
const WARMUP_QUERIES: usize = 50;

/// Builds an index of `n_chunks` synthetic chunks in `dir` (which is emptied
/// first) and measures it. Blocks; call it outside an async runtime.
pub fn run(dir: &Path, n_chunks: usize) -> Result<BenchReport, SearchError> {
    let config = SearchConfig::default();
    let index = SearchIndex::recreate(dir, &config)?;
    let mut corpus = Corpus::new(0x4865_6172_7468);
    let documents = corpus.documents(n_chunks);
    let text_bytes: usize = documents
        .iter()
        .flat_map(|doc| &doc.chunks)
        .map(|chunk| chunk.text.len())
        .sum();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|error| SearchError::Other(error.to_string()))?;
    let document_count = documents.len();
    let started = Instant::now();
    runtime.block_on(async {
        for doc in documents {
            index.index_document(doc).await?;
        }
        index.flush().await
    })?;
    let ingest = started.elapsed();

    let queries: Vec<SearchRequest> = (0..QUERIES + WARMUP_QUERIES)
        .map(|_| corpus.request())
        .collect();
    let mut latencies = Vec::with_capacity(QUERIES);
    let mut with_hits = 0;
    for (i, request) in queries.iter().enumerate() {
        let started = Instant::now();
        let results = index.search(request)?;
        let took = started.elapsed();
        if i >= WARMUP_QUERIES {
            latencies.push(took);
            if results.total > 0 {
                with_hits += 1;
            }
        }
    }
    let mut passage_latencies = Vec::new();
    for _ in 0..200 {
        let question = corpus.question();
        let allowed = corpus.allowed();
        let started = Instant::now();
        index.passages(&question, &allowed, 8)?;
        passage_latencies.push(started.elapsed());
    }
    latencies.sort();
    passage_latencies.sort();
    Ok(BenchReport {
        chunks: n_chunks,
        documents: document_count,
        text_bytes,
        ingest,
        ingest_mb_per_s: text_bytes as f64 / 1e6 / ingest.as_secs_f64().max(1e-9),
        ingest_chunks_per_s: n_chunks as f64 / ingest.as_secs_f64().max(1e-9),
        segments: index.segment_count(),
        index_bytes: directory_size(dir),
        queries: latencies.len(),
        queries_with_hits: with_hits as f64 / latencies.len().max(1) as f64,
        search_p50: percentile(&latencies, 50.0),
        search_p95: percentile(&latencies, 95.0),
        search_p99: percentile(&latencies, 99.0),
        search_max: latencies.last().copied().unwrap_or_default(),
        passages_p50: percentile(&passage_latencies, 50.0),
        passages_p99: percentile(&passage_latencies, 99.0),
    })
}

/// The synthetic corpus of [`run`], for benchmarks that build the same kind
/// of index elsewhere (through Hearth's database and HTTP API): documents
/// of `n_chunks` chunks in collections 1 to 20, and a mix of `queries`
/// queries as people type them.
pub fn corpus(n_chunks: usize, queries: usize) -> (Vec<IndexDocument>, Vec<String>) {
    let mut corpus = Corpus::new(0x4865_6172_7468);
    let documents = corpus.documents(n_chunks);
    let queries = (0..queries).map(|_| corpus.request().query).collect();
    (documents, queries)
}

/// Collections the synthetic corpus spreads its documents over (ids 1..=N).
pub const CORPUS_COLLECTIONS: i64 = COLLECTIONS;

pub fn percentile(sorted: &[Duration], percent: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((percent / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn directory_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(|metadata| metadata.is_file())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Common words of office documents, most frequent first (roughly).
const OFFICE_WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "for",
    "is",
    "on",
    "that",
    "by",
    "with",
    "be",
    "as",
    "this",
    "are",
    "will",
    "from",
    "at",
    "or",
    "an",
    "all",
    "we",
    "our",
    "it",
    "not",
    "which",
    "has",
    "have",
    "been",
    "must",
    "should",
    "may",
    "can",
    "any",
    "each",
    "per",
    "within",
    "project",
    "report",
    "meeting",
    "budget",
    "team",
    "client",
    "customer",
    "contract",
    "invoice",
    "payment",
    "service",
    "services",
    "management",
    "staff",
    "employee",
    "employees",
    "policy",
    "office",
    "company",
    "department",
    "quarter",
    "year",
    "annual",
    "review",
    "plan",
    "planning",
    "schedule",
    "deadline",
    "cost",
    "costs",
    "price",
    "sales",
    "revenue",
    "profit",
    "margin",
    "growth",
    "market",
    "product",
    "products",
    "delivery",
    "supplier",
    "suppliers",
    "order",
    "orders",
    "account",
    "accounts",
    "finance",
    "financial",
    "tax",
    "audit",
    "compliance",
    "risk",
    "insurance",
    "legal",
    "agreement",
    "terms",
    "conditions",
    "approval",
    "approved",
    "request",
    "requests",
    "process",
    "procedure",
    "training",
    "safety",
    "health",
    "holiday",
    "vacation",
    "leave",
    "salary",
    "bonus",
    "expenses",
    "travel",
    "equipment",
    "software",
    "hardware",
    "network",
    "security",
    "password",
    "access",
    "data",
    "backup",
    "system",
    "systems",
    "update",
    "updates",
    "support",
    "ticket",
    "issue",
    "issues",
    "problem",
    "solution",
    "proposal",
    "quote",
    "estimate",
    "forecast",
    "target",
    "targets",
    "performance",
    "results",
    "summary",
    "minutes",
    "agenda",
    "action",
    "actions",
    "items",
    "owner",
    "status",
    "progress",
    "phase",
    "milestone",
    "milestones",
    "resources",
    "capacity",
    "hours",
    "rate",
    "rates",
    "discount",
    "tender",
    "bid",
    "warranty",
    "maintenance",
    "repair",
    "building",
    "rent",
    "lease",
    "property",
    "vehicle",
    "fleet",
    "fuel",
    "energy",
    "electricity",
    "heating",
    "cleaning",
    "catering",
    "recruitment",
    "candidate",
    "interview",
    "onboarding",
    "contractor",
    "contractors",
    "partner",
    "partners",
    "board",
    "director",
    "manager",
    "managers",
    "assistant",
    "reception",
    "visitor",
    "visitors",
    "email",
    "phone",
    "letter",
    "document",
    "documents",
    "file",
    "files",
    "folder",
    "archive",
    "record",
    "records",
    "retention",
    "privacy",
    "consent",
    "personal",
    "information",
    "customers",
    "complaint",
    "complaints",
    "feedback",
    "survey",
    "quality",
    "standard",
    "standards",
    "inspection",
    "certificate",
    "license",
    "permit",
    "registration",
    "deposit",
    "credit",
    "debit",
    "balance",
    "bank",
    "transfer",
    "cash",
    "receipt",
    "receipts",
    "purchase",
    "purchasing",
    "stock",
    "inventory",
    "warehouse",
    "shipping",
    "logistics",
    "transport",
    "deliveries",
    "overtime",
    "shift",
    "shifts",
    "remote",
    "work",
    "working",
    "home",
    "laptop",
    "printer",
    "meeting",
    "room",
    "booking",
    "calendar",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "september",
    "october",
    "november",
    "december",
    "spring",
    "summer",
    "autumn",
    "winter",
    "regional",
    "national",
    "international",
    "local",
    "municipal",
    "council",
    "government",
    "grant",
    "funding",
    "subsidy",
    "investment",
    "loan",
    "interest",
    "pension",
    "benefits",
    "sick",
    "absence",
    "notice",
    "termination",
    "renewal",
    "extension",
    "amendment",
    "signature",
    "signed",
    "draft",
    "final",
    "version",
    "template",
    "form",
    "forms",
    "checklist",
    "guideline",
    "guidelines",
    "handbook",
    "manual",
    "instructions",
    "steps",
    "responsible",
    "responsibility",
    "deadline",
    "urgent",
    "priority",
    "pending",
    "completed",
    "cancelled",
    "delayed",
    "confirmed",
    "estimated",
    "actual",
    "total",
    "monthly",
    "weekly",
    "daily",
    "quarterly",
    "yearly",
    "increase",
    "decrease",
    "reduction",
    "savings",
];

const SYLLABLES: &[&str] = &[
    "ka", "ro", "mi", "ten", "sa", "lo", "ver", "dan", "pe", "qui", "mar", "tel", "no", "ri",
    "gal", "bro", "sen", "tu", "vi", "lex", "or", "pla", "den", "cor", "fi", "ma", "zen", "sto",
    "ber", "li", "an", "tro", "hel", "ga", "mon", "pri", "su", "ne", "dal", "ko",
];

/// A deterministic source of synthetic documents and queries.
struct Corpus {
    random: SplitMix,
    words: Vec<String>,
    /// Cumulative Zipf weights over `words`.
    cumulative: Vec<f64>,
    /// Sentences seen while generating, for phrase queries.
    phrases: Vec<(String, String)>,
}

impl Corpus {
    fn new(seed: u64) -> Corpus {
        let mut random = SplitMix(seed);
        let mut words: Vec<String> = Vec::new();
        for word in OFFICE_WORDS {
            if !words.iter().any(|w| w == word) {
                words.push((*word).to_string());
            }
        }
        while words.len() < 20_000 {
            let syllables = 2 + random.below(3);
            let word: String = (0..syllables)
                .map(|_| SYLLABLES[random.below(SYLLABLES.len())])
                .collect();
            words.push(word);
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(1.05);
                total
            })
            .collect();
        Corpus {
            random,
            words,
            cumulative,
            phrases: Vec::new(),
        }
    }

    fn zipf_rank(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = self.random.unit() * total;
        self.cumulative
            .partition_point(|&c| c < target)
            .min(self.words.len() - 1)
    }

    /// A word with rank in `range`, uniformly (queries use mid-frequency words).
    fn word_in(&mut self, low: usize, high: usize) -> String {
        let high = high.min(self.words.len());
        self.words[low + self.random.below(high - low)].clone()
    }

    fn sentence(&mut self, words: usize, out: &mut String) {
        let mut previous = String::new();
        for i in 0..words {
            let word = if self.random.below(40) == 0 {
                format!("{}", 2018 + self.random.below(8))
            } else {
                let rank = self.zipf_rank();
                self.words[rank].clone()
            };
            if i > 0 {
                out.push(if self.random.below(12) == 0 { ',' } else { ' ' });
                if out.ends_with(',') {
                    out.push(' ');
                }
            }
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(&word);
            }
            if i > 0 && self.phrases.len() < 5_000 && self.random.below(50) == 0 {
                self.phrases.push((previous.clone(), word.clone()));
            }
            previous = word;
        }
        out.push('.');
    }

    fn chunk_text(&mut self) -> String {
        let target = 200 + self.random.below(100);
        let mut text = String::with_capacity(target * 8);
        let mut words = 0;
        let mut in_paragraph = 0;
        while words < target {
            let length = 6 + self.random.below(13);
            if !text.is_empty() {
                text.push_str(if in_paragraph >= 5 { "\n\n" } else { " " });
                if in_paragraph >= 5 {
                    in_paragraph = 0;
                }
            }
            self.sentence(length, &mut text);
            words += length;
            in_paragraph += 1;
        }
        text
    }

    /// A title of `min` to `min + 2` words, sometimes with a year.
    fn title(&mut self, min: usize) -> String {
        let words = min + self.random.below(3);
        let mut title: Vec<String> = (0..words).map(|_| self.word_in(38, 400)).collect();
        if self.random.below(2) == 0 {
            title.push(format!("{}", 2018 + self.random.below(8)));
        }
        title.join(" ")
    }

    fn documents(&mut self, n_chunks: usize) -> Vec<IndexDocument> {
        let mut documents = Vec::new();
        let mut made = 0;
        let mut doc_id = 1;
        while made < n_chunks {
            let size = (1 + self.random.below(16)).min(n_chunks - made);
            let title = self.title(3);
            let format = FORMATS[self.random.below(FORMATS.len())];
            let chunks = (0..size)
                .map(|ord| Chunk {
                    ord: ord as u32,
                    page: Some(1 + ord as u32 / 2),
                    heading: Some(self.title(2)),
                    text: self.chunk_text(),
                })
                .collect();
            documents.push(IndexDocument {
                doc_id,
                collection_id: 1 + self.random.below(COLLECTIONS as usize) as i64,
                file_name: format!("{}.{format}", title.replace(' ', "_")),
                title,
                format: format.to_string(),
                modified: 1_546_300_800 + self.random.below(7 * 365 * 86_400) as i64,
                chunks,
            });
            doc_id += 1;
            made += size;
        }
        documents
    }

    fn allowed(&mut self) -> Vec<i64> {
        (0..3)
            .map(|_| 1 + self.random.below(COLLECTIONS as usize) as i64)
            .collect()
    }

    /// One query of the mix: 1-3 words, a phrase, or a prefix.
    fn request(&mut self) -> SearchRequest {
        let query = match self.random.below(20) {
            0..=7 => self.word_in(38, 3_000),
            8..=10 => format!("{} {}", self.word_in(38, 2_000), self.word_in(38, 2_000)),
            11..=12 => format!(
                "{} {} {}",
                self.word_in(38, 1_000),
                self.word_in(38, 1_000),
                self.word_in(38, 1_000)
            ),
            13..=16 => {
                let pick = self.random.below(self.phrases.len().max(1));
                match self.phrases.get(pick) {
                    Some((a, b)) => format!("\"{a} {b}\""),
                    None => self.word_in(38, 3_000),
                }
            }
            _ => {
                let word = self.word_in(38, 2_000);
                let keep = word
                    .char_indices()
                    .nth(3 + self.random.below(2))
                    .map_or(word.len(), |(i, _)| i);
                format!("{}*", &word[..keep])
            }
        };
        SearchRequest {
            query,
            allowed_collections: self.allowed(),
            limit: 10,
            ..SearchRequest::default()
        }
    }

    fn question(&mut self) -> String {
        format!(
            "What does the {} say about {} and {} for the {}?",
            self.word_in(38, 500),
            self.word_in(38, 3_000),
            self.word_in(38, 3_000),
            self.word_in(38, 1_000)
        )
    }
}

/// SplitMix64: tiny, fast, and good enough for synthetic text.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
