//! Tests of the whole index, in memory and on disk: the query language,
//! access control, filters, paging, snippets, updates, persistence,
//! concurrency, and hostile queries. Pure helpers are tested in their own
//! files (`chunk`, `query`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;

fn config() -> SearchConfig {
    SearchConfig {
        commit_interval: Duration::from_millis(20),
        writer_memory_bytes: 20_000_000,
        ..SearchConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("no runtime: {error}"),
    }
}

fn document(
    doc_id: i64,
    collection_id: i64,
    title: &str,
    format: &str,
    texts: &[&str],
) -> IndexDocument {
    IndexDocument {
        doc_id,
        collection_id,
        title: title.to_string(),
        file_name: format!("{}.{format}", title.to_lowercase().replace(' ', "-")),
        format: format.to_string(),
        // Documents are a day apart, starting 2024-01-01.
        modified: 1_704_067_200 + doc_id * 86_400,
        chunks: texts
            .iter()
            .enumerate()
            .map(|(ord, text)| Chunk {
                ord: ord as u32,
                page: Some(ord as u32 + 1),
                heading: None,
                text: (*text).to_string(),
            })
            .collect(),
    }
}

/// The fixture: collection 1 is the user's, 2 is someone else's, 3 shared.
fn corpus() -> Vec<IndexDocument> {
    vec![
        document(
            1,
            1,
            "Running Guide",
            "pdf",
            &["She runs every morning before work. Good shoes matter."],
        ),
        document(
            2,
            1,
            "Vacation Policy",
            "docx",
            &[
                "Employees may carry over up to five days of unused vacation into the next \
                 calendar year. Requests must be approved by a manager.",
                "Sick leave is reported to the office on the first day of absence.",
            ],
        ),
        document(
            3,
            1,
            "Budget 2024",
            "xlsx",
            &["The quarterly budget review is scheduled for March. Marketing costs increased."],
        ),
        document(
            4,
            2,
            "Secret Merger",
            "pdf",
            &["The budget for the merger is confidential. Nobody runs this."],
        ),
        document(
            5,
            1,
            "Security Notes",
            "txt",
            &["<script>alert('x')</script> budget & costs are \"escaped\"."],
        ),
        document(
            6,
            1,
            "Board Minutes",
            "docx",
            &["The board discussed the budget proposal and the new office lease."],
        ),
        document(
            7,
            1,
            "Typing Practice",
            "txt",
            &["The quick brown fox jumps over the lazy dog."],
        ),
        document(
            8,
            3,
            "Shipping",
            "pdf",
            &["Deliveries to the warehouse are delayed by the storm."],
        ),
        document(
            9,
            1,
            "Canteen",
            "txt",
            &["The café serves coffee and sandwiches."],
        ),
        document(
            10,
            1,
            "Contact",
            "txt",
            &["Send an e-mail to the office with your invoice number."],
        ),
    ]
}

async fn fill(index: &SearchIndex, documents: Vec<IndexDocument>) {
    for doc in documents {
        index.index_document(doc).await.expect("index");
    }
    index.flush().await.expect("flush");
}

fn fixture() -> SearchIndex {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    runtime().block_on(fill(&index, corpus()));
    index
}

fn request(query: &str, allowed: &[i64]) -> SearchRequest {
    SearchRequest {
        query: query.to_string(),
        allowed_collections: allowed.to_vec(),
        limit: 50,
        ..SearchRequest::default()
    }
}

fn ids(results: &SearchResults) -> BTreeSet<i64> {
    results.hits.iter().map(|hit| hit.doc_id).collect()
}

/// Runs `query` as a user allowed collections 1 and 3 and compares the set
/// of documents found (and the total) with `expected`.
fn check(index: &SearchIndex, query: &str, expected: &[i64]) {
    check_with(index, &request(query, &[1, 3]), expected);
}

fn check_with(index: &SearchIndex, request: &SearchRequest, expected: &[i64]) {
    let results = index
        .search(request)
        .unwrap_or_else(|error| panic!("{:?} failed: {error}", request.query));
    let expected: BTreeSet<i64> = expected.iter().copied().collect();
    assert_eq!(ids(&results), expected, "query {:?}", request.query);
    assert_eq!(
        results.total,
        expected.len(),
        "total of {:?}",
        request.query
    );
}

#[test]
fn query_language() {
    let index = fixture();
    // Stemming: "running" finds "runs"; the hidden collection stays hidden.
    check(&index, "running", &[1]);
    check(&index, "RUN", &[1]);
    check(&index, "budget", &[3, 5, 6]);
    // Every word must match.
    check(&index, "budget review", &[3]);
    check(&index, "budget AND review", &[3]);
    check(&index, "+budget +review", &[3]);
    check(&index, "budget OR lease", &[3, 5, 6]);
    check(&index, "budget (review OR lease)", &[3, 6]);
    check(&index, "budget | lease", &[3, 5, 6]);
    // Exclusion.
    check(&index, "budget -costs", &[6]);
    check(&index, "budget NOT costs", &[6]);
    check(&index, "budget -\"marketing costs\"", &[5, 6]);
    check(&index, "budget -(board OR quarterly)", &[5]);
    // Phrases are exact and ordered.
    check(&index, "\"quick brown fox\"", &[7]);
    check(&index, "\"brown quick fox\"", &[]);
    check(&index, "\"unused vacation\"", &[2]);
    check(&index, "\"unused vacations\"", &[]);
    check(&index, "\"runs\"", &[1]);
    check(&index, "jumping", &[7]);
    check(&index, "\"jumping\"", &[]);
    // The title "Running Guide" is quoted text too.
    check(&index, "\"running\"", &[1]);
    // Prefixes.
    check(&index, "budg*", &[3, 5, 6]);
    check(&index, "deliver*", &[8]);
    check(&index, "vacat* manag*", &[2]);
    check(&index, "zzz*", &[]);
    check(&index, "\"e-ma\"*", &[10]);
    check(&index, "e-ma*", &[10]);
    // Titles and file names.
    check(&index, "title:vacation", &[2]);
    check(&index, "title:\"vacation policy\"", &[2]);
    check(&index, "title:budget", &[3]);
    check(&index, "title:budg*", &[3]);
    check(&index, "merger", &[]);
    check(&index, "typing-practice", &[7]);
    // Accents, hyphens and case.
    check(&index, "cafe", &[9]);
    check(&index, "CAFÉ", &[9]);
    check(&index, "e-mail", &[10]);
    // Stop words are ignored next to other words, used when alone.
    check(&index, "the budget", &[3, 5, 6]);
    check(&index, "\"over the lazy dog\"", &[7]);
}

#[test]
fn all_words_first_then_any_word() {
    let index = fixture();
    let results = index
        .search(&request("budget unicorn", &[1, 3]))
        .expect("search");
    assert!(results.relaxed);
    assert_eq!(ids(&results), BTreeSet::from([3, 5, 6]));
    let results = index
        .search(&request("budget review", &[1, 3]))
        .expect("search");
    assert!(!results.relaxed);
    // A single missing word is simply not found.
    let results = index.search(&request("unicorn", &[1, 3])).expect("search");
    assert!(!results.relaxed);
    assert_eq!(results.total, 0);
}

#[test]
fn ranking_prefers_titles_and_more_matches() {
    let index = fixture();
    let results = index.search(&request("vacation", &[1])).expect("search");
    assert_eq!(results.hits[0].doc_id, 2);
    let results = index
        .search(&request("budget review", &[1]))
        .expect("search");
    assert_eq!(results.hits[0].doc_id, 3);
    assert!(
        results
            .hits
            .windows(2)
            .all(|pair| pair[0].score >= pair[1].score)
    );
}

#[test]
fn bad_queries_are_explained() {
    let index = fixture();
    for query in [
        "",
        "   ",
        "-",
        "*",
        "()",
        "\"\"",
        "AND OR NOT",
        "-budget",
        "-budget -review",
    ] {
        match index.search(&request(query, &[1])) {
            Err(SearchError::BadQuery(message)) => assert!(!message.is_empty()),
            other => panic!("{query:?} gave {other:?}"),
        }
    }
    let many_words = (0..40)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let many_prefixes = (0..9)
        .map(|i| format!("w{i}*"))
        .collect::<Vec<_>>()
        .join(" ");
    for query in [many_words, many_prefixes, "x".repeat(1001)] {
        match index.search(&request(&query, &[1])) {
            Err(SearchError::BadQuery(message)) => {
                assert!(message.contains("at most"), "{message}")
            }
            other => panic!("{query:?} gave {other:?}"),
        }
    }
}

#[test]
fn access_control_is_part_of_the_query() {
    let index = fixture();
    check_with(&index, &request("budget", &[1]), &[3, 5, 6]);
    check_with(&index, &request("budget", &[2]), &[4]);
    check_with(&index, &request("merger", &[2]), &[4]);
    check_with(&index, &request("merger", &[1, 3]), &[]);
    check_with(&index, &request("budget", &[]), &[]);
    // The user's collection filter narrows, never widens.
    let mut narrowed = request("budget", &[1]);
    narrowed.collections = Some(vec![2]);
    check_with(&index, &narrowed, &[]);
    narrowed.collections = Some(vec![1, 2]);
    check_with(&index, &narrowed, &[3, 5, 6]);
    // Relaxed retries and ungrouped counts stay inside the access filter.
    check_with(&index, &request("confidential budget", &[1]), &[3, 5, 6]);
    let results = index
        .search_chunks(&request("budget", &[1]))
        .expect("search");
    assert_eq!(
        (results.total, ids(&results)),
        (3, BTreeSet::from([3, 5, 6]))
    );
    // Passages too.
    let passages = index
        .passages("what is the merger budget", &[1], 10)
        .expect("passages");
    assert!(passages.iter().all(|passage| passage.collection_id == 1));
    assert!(!passages.is_empty());
    assert!(
        index
            .passages("merger budget", &[], 10)
            .expect("passages")
            .is_empty()
    );
}

#[test]
fn filters() {
    let index = fixture();
    let mut pdf = request("budget OR runs OR deliveries", &[1, 2, 3]);
    pdf.formats = vec!["PDF".to_string()];
    check_with(&index, &pdf, &[1, 4, 8]);
    pdf.formats = vec!["pdf".to_string(), "xlsx".to_string()];
    check_with(&index, &pdf, &[1, 3, 4, 8]);
    let mut dated = request("budget", &[1, 2]);
    dated.modified_from = Some(1_704_067_200 + 4 * 86_400);
    check_with(&index, &dated, &[4, 5, 6]);
    dated.modified_to = Some(1_704_067_200 + 5 * 86_400);
    check_with(&index, &dated, &[4, 5]);
    dated.modified_from = None;
    check_with(&index, &dated, &[3, 4, 5]);
}

#[test]
fn paging_and_grouping() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let mut documents: Vec<IndexDocument> = (1..=25)
        .map(|i| {
            document(
                i,
                1,
                &format!("Paging {i}"),
                "txt",
                &["paging test document"],
            )
        })
        .collect();
    documents.push(document(
        100,
        1,
        "Zebra",
        "txt",
        &["zebra one", "zebra two", "zebra three"],
    ));
    runtime().block_on(fill(&index, documents));
    let mut seen = BTreeSet::new();
    for (offset, expected) in [(0, 10), (10, 10), (20, 5), (30, 0)] {
        let mut page = request("paging", &[1]);
        page.offset = offset;
        page.limit = 10;
        let results = index.search(&page).expect("search");
        assert_eq!(results.total, 25);
        assert_eq!(results.hits.len(), expected);
        seen.extend(ids(&results));
    }
    assert_eq!(seen.len(), 25);
    let mut count_only = request("paging", &[1]);
    count_only.limit = 0;
    let results = index.search_chunks(&count_only).expect("search");
    assert_eq!((results.total, results.hits.len()), (25, 0));
    // One hit per document when grouped; every chunk otherwise.
    let grouped = index.search(&request("zebra", &[1])).expect("search");
    assert_eq!((grouped.total, grouped.hits.len()), (1, 1));
    let results = index
        .search_chunks(&request("zebra", &[1]))
        .expect("search");
    assert_eq!(results.total, 3);
    let ords: BTreeSet<u32> = results.hits.iter().map(|hit| hit.chunk_ord).collect();
    assert_eq!(ords, BTreeSet::from([0, 1, 2]));
    // Absurd paging is clamped, not a panic.
    let mut far = request("paging", &[1]);
    far.offset = usize::MAX;
    far.limit = usize::MAX;
    let results = index.search(&far).expect("search");
    assert_eq!((results.total, results.hits.len()), (25, 0));
}

#[test]
fn snippets_are_escaped_and_marked() {
    let index = fixture();
    let results = index
        .search(&request("budget escaped", &[1]))
        .expect("search");
    let hit = &results.hits[0];
    assert_eq!(hit.doc_id, 5);
    assert!(
        hit.snippet_html.contains("&lt;script&gt;"),
        "{}",
        hit.snippet_html
    );
    assert!(
        !hit.snippet_html.contains("<script"),
        "{}",
        hit.snippet_html
    );
    assert!(hit.snippet_html.contains("&amp;"), "{}", hit.snippet_html);
    assert!(
        hit.snippet_html.contains("<mark>budget</mark>"),
        "{}",
        hit.snippet_html
    );
    assert!(
        hit.snippet_html
            .contains("&quot;<mark>escaped</mark>&quot;"),
        "{}",
        hit.snippet_html
    );
    // Only <mark> is markup.
    let stripped = hit
        .snippet_html
        .replace("<mark>", "")
        .replace("</mark>", "");
    assert!(
        !stripped.contains('<') && !stripped.contains('>'),
        "{stripped}"
    );
    assert!(hit.snippet_text.contains("<script>alert('x')</script>"));
    // Stemmed, phrase and prefix matches are all marked.
    let results = index.search(&request("running", &[1])).expect("search");
    assert!(results.hits[0].snippet_html.contains("<mark>runs</mark>"));
    let results = index
        .search(&request("\"quick brown\"", &[1]))
        .expect("search");
    assert!(
        results.hits[0]
            .snippet_html
            .contains("<mark>quick</mark> <mark>brown</mark>")
    );
    let results = index.search(&request("deliver*", &[3])).expect("search");
    assert!(
        results.hits[0]
            .snippet_html
            .contains("<mark>Deliveries</mark>")
    );
    // Metadata comes along.
    let results = index.search(&request("vacation", &[1])).expect("search");
    let hit = &results.hits[0];
    assert_eq!(
        (hit.title.as_str(), hit.format.as_str(), hit.page),
        ("Vacation Policy", "docx", Some(1))
    );
    assert_eq!(hit.file_name, "vacation-policy.docx");
}

#[test]
fn long_chunks_get_a_window_around_the_matches() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(30);
    let text = format!("{filler} The pelican report was filed on time. {filler}");
    runtime().block_on(fill(&index, vec![document(1, 1, "Birds", "txt", &[&text])]));
    let results = index.search(&request("pelican", &[1])).expect("search");
    let snippet = &results.hits[0].snippet_html;
    assert!(snippet.contains("<mark>pelican</mark>"), "{snippet}");
    assert!(
        snippet.starts_with('…') && snippet.ends_with('…'),
        "{snippet}"
    );
    assert!(snippet.len() < 400, "{snippet}");
}

#[test]
fn passages_answer_paraphrased_questions() {
    let index = fixture();
    let passages = index
        .passages(
            "How many unused vacation days can staff carry into the following year?",
            &[1, 3],
            3,
        )
        .expect("passages");
    let best = &passages[0];
    assert_eq!((best.doc_id, best.chunk_ord), (2, 0));
    assert!(best.text.contains("five days"));
    assert_eq!(best.title, "Vacation Policy");
    let passages = index
        .passages("Whom should I report my sick leave to?", &[1], 3)
        .expect("passages");
    assert_eq!((passages[0].doc_id, passages[0].chunk_ord), (2, 1));
    // Nothing meaningful to look for is no passages, not an error.
    assert!(
        index
            .passages("what is it?", &[1], 3)
            .expect("passages")
            .is_empty()
    );
    assert!(index.passages("", &[1], 3).expect("passages").is_empty());
}

#[test]
fn delete_replace_clear_and_counts() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let runtime = runtime();
    runtime.block_on(fill(&index, corpus()));
    assert_eq!(index.counts(), (10, 11));
    // Replacing drops the old chunks.
    runtime.block_on(fill(
        &index,
        vec![document(
            2,
            1,
            "Vacation Policy",
            "docx",
            &["Replaced text about holidays."],
        )],
    ));
    check(&index, "vacation", &[2]);
    check(&index, "unused", &[]);
    check(&index, "holidays", &[2]);
    assert_eq!(index.counts(), (10, 10));
    // Deleting removes everything of the document.
    runtime.block_on(async {
        index.delete_document(2).await.expect("delete");
        index.flush().await.expect("flush");
    });
    check(&index, "vacation", &[]);
    assert_eq!(index.counts(), (9, 9));
    // A document without text is still found by its title.
    runtime.block_on(fill(
        &index,
        vec![document(50, 1, "Scanned Floorplan", "pdf", &[])],
    ));
    check(&index, "floorplan", &[50]);
    // Clear empties the index at once.
    runtime.block_on(index.clear()).expect("clear");
    assert_eq!(index.counts(), (0, 0));
    check(&index, "budget", &[]);
    runtime.block_on(fill(&index, corpus()));
    check(&index, "budget", &[3, 5, 6]);
}

#[test]
fn writes_become_visible_without_flush() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let runtime = runtime();
    runtime
        .block_on(index.index_document(document(1, 1, "Later", "txt", &["eventually visible"])))
        .expect("index");
    // The interval is 20 ms; the generous deadline only keeps a loaded CI
    // machine (the model's tests share its cores) from failing a correct
    // index. How fast it commits is the benchmark's business.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut found = false;
    while std::time::Instant::now() < deadline {
        if index
            .search(&request("eventually", &[1]))
            .expect("search")
            .total
            == 1
        {
            found = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(found, "not committed after the commit interval");
}

#[test]
fn persists_on_disk_and_detects_layout_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("search");
    let runtime = runtime();
    {
        let index = SearchIndex::open(&path, &config()).expect("create");
        runtime.block_on(fill(&index, corpus()));
        runtime
            .block_on(index.index_document(document(
                11,
                1,
                "Unflushed",
                "txt",
                &["committed when closed"],
            )))
            .expect("index");
        // Dropping the last handle commits and releases the writer lock.
    }
    {
        let index = SearchIndex::open(&path, &config()).expect("reopen");
        check(&index, "budget", &[3, 5, 6]);
        check(&index, "closed", &[11]);
        assert_eq!(index.counts().0, 11);
        // A second writer on the same directory is refused, not corrupted.
        assert!(matches!(
            SearchIndex::open(&path, &config()),
            Err(SearchError::Other(_))
        ));
    }
    // Another language means other stems: rebuild.
    let german = SearchConfig {
        language: "German".to_string(),
        ..config()
    };
    assert!(matches!(
        SearchIndex::open(&path, &german),
        Err(SearchError::NeedsRebuild(_))
    ));
    let index = SearchIndex::recreate(&path, &german).expect("recreate");
    assert_eq!(index.counts().0, 0);
    drop(index);
    let german_index = SearchIndex::open(&path, &german).expect("reopen german");
    runtime.block_on(fill(
        &german_index,
        vec![document(
            1,
            1,
            "Häuser",
            "txt",
            &["Die Häuser stehen am Fluss."],
        )],
    ));
    check(&german_index, "Haus", &[1]);
    drop(german_index);
    // A damaged index asks to be rebuilt.
    std::fs::write(path.join("meta.json"), b"{ not json").expect("damage");
    assert!(matches!(
        SearchIndex::open(&path, &config()),
        Err(SearchError::NeedsRebuild(_))
    ));
    assert!(SearchIndex::recreate(&path, &config()).is_ok());
    // Unknown languages are a configuration error, found before deleting.
    let klingon = SearchConfig {
        language: "klingon".to_string(),
        ..config()
    };
    assert!(matches!(
        SearchIndex::recreate(&path, &klingon),
        Err(SearchError::Other(_))
    ));
}

#[test]
fn searches_run_while_indexing() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let runtime = runtime();
    runtime.block_on(fill(&index, corpus()));
    let stop = Arc::new(AtomicBool::new(false));
    let searchers: Vec<_> = (0..2)
        .map(|_| {
            let index = index.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut searches = 0;
                while !stop.load(Ordering::Relaxed) {
                    let results = index
                        .search(&request("budget OR bulk", &[1]))
                        .expect("search");
                    // The fixture's three budget documents are always there.
                    assert!(results.total >= 3);
                    searches += 1;
                }
                searches
            })
        })
        .collect();
    runtime.block_on(async {
        for i in 0..400 {
            let doc = document(
                1000 + i,
                1,
                "Bulk",
                "txt",
                &["bulk text number one", "bulk text two"],
            );
            index.index_document(doc).await.expect("index");
        }
        index.flush().await.expect("flush");
    });
    stop.store(true, Ordering::Relaxed);
    for searcher in searchers {
        assert!(searcher.join().expect("searcher thread") > 0);
    }
    let mut all = request("bulk", &[1]);
    all.limit = 0;
    assert_eq!(index.search(&all).expect("search").total, 400);
}

/// A small deterministic generator for the fuzz test.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[test]
fn hostile_queries_never_fail_badly() {
    let index = fixture();
    let pieces = [
        "\"",
        "\"",
        "-",
        "*",
        "(",
        ")",
        "AND",
        "OR",
        "NOT",
        "title:",
        "TITLE:",
        " ",
        " ",
        " ",
        "budget",
        "run",
        "ru",
        "é",
        "日本",
        "🦀",
        "\\",
        ":",
        "^2",
        "~3",
        "[",
        "]",
        "{",
        "}",
        "+",
        "|",
        "&&",
        "!",
        "?",
        "/",
        "'",
        "\u{0}",
        "\u{200b}",
        "x",
        "e-mail",
        "IN",
        "TO",
        "*:*",
        "field:value",
        "\t",
        "\n",
    ];
    let mut random = Lcg(7);
    let mut queries: Vec<String> = (0..3000)
        .map(|_| {
            let parts = 1 + random.below(12);
            (0..parts)
                .map(|_| {
                    let piece = pieces[random.below(pieces.len())];
                    if random.below(3) == 0 {
                        format!("{piece} ")
                    } else {
                        piece.to_string()
                    }
                })
                .collect()
        })
        .collect();
    queries.extend(
        [
            "\"unbalanced",
            "-",
            "*",
            "AND AND",
            "((((",
            "))))",
            "\"\"\"",
            "title:\"",
            "-\"",
            "a*b*c",
            "**",
            "-*",
            "NOT",
            "OR budget",
            "budget OR",
            "title:*",
            "\u{feff}budget",
        ]
        .map(String::from),
    );
    queries.push("(".repeat(5000));
    queries.push("budget ".repeat(5000));
    queries.push("x".repeat(100_000));
    for query in &queries {
        let mut search = request(query, &[1, 3]);
        search.limit = 5;
        match index.search(&search) {
            Ok(_) | Err(SearchError::BadQuery(_)) => {}
            Err(error) => panic!("{query:?}: {error}"),
        }
        if let Err(error) = index.passages(query, &[1], 3) {
            panic!("passages {query:?}: {error}");
        }
    }
}

#[test]
fn benchmark_when_asked() {
    // Slow: set HEARTH_SEARCH_BENCH=10000 (chunks) to run it.
    let Some(chunks) = std::env::var("HEARTH_SEARCH_BENCH")
        .ok()
        .and_then(|value| value.parse::<usize>().ok())
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let report = bench::run(&dir.path().join("bench"), chunks).expect("bench");
    println!("{report}");
}

/// What a reader of `allowed` observes for each query: every hit's
/// document, chunk, exact score and snippet, in order, and the totals; the
/// same for chunk searches and for passages.
fn observe(index: &SearchIndex, queries: &[&str], allowed: &[i64]) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for query in queries {
        let request = request(query, allowed);
        for (kind, results) in [
            ("documents", index.search(&request)),
            ("chunks", index.search_chunks(&request)),
        ] {
            let results = results.unwrap_or_else(|error| panic!("{query:?} failed: {error}"));
            let hits: Vec<String> = results
                .hits
                .iter()
                .map(|hit| {
                    format!(
                        "{}/{} {} ({:#010x}) {}",
                        hit.doc_id,
                        hit.chunk_ord,
                        hit.score,
                        hit.score.to_bits(),
                        hit.snippet_html
                    )
                })
                .collect();
            seen.push((
                format!("{kind} for {query:?}"),
                format!(
                    "total {} relaxed {} hits {hits:#?}",
                    results.total, results.relaxed
                ),
            ));
        }
        let passages = index.passages(query, allowed, 10).expect("passages");
        let passages: Vec<String> = passages
            .iter()
            .map(|passage| {
                format!(
                    "{}/{} {} ({:#010x})",
                    passage.doc_id,
                    passage.chunk_ord,
                    passage.score,
                    passage.score.to_bits()
                )
            })
            .collect();
        seen.push((format!("passages for {query:?}"), format!("{passages:#?}")));
    }
    seen
}

/// Security finding: ranking used BM25 statistics of the whole index (how
/// many chunks, how many contain a word, how long a field is on average),
/// so a reader's scores and order moved when a colleague privately uploaded
/// a document containing a word, and anyone could test guesses ("layoff", a
/// name) that way. Now nothing a reader sees may change, down to a score's
/// last bit, whatever is added to collections they cannot read.
#[test]
fn invisible_documents_change_no_score() {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let runtime = runtime();
    let visible = vec![
        document(
            1,
            1,
            "Budget 2024",
            "xlsx",
            &["The quarterly budget review is scheduled for March. Marketing costs increased."],
        ),
        document(
            2,
            1,
            "Board Minutes",
            "docx",
            &[
                "The board discussed the budget proposal and the new office lease.",
                "A budget review follows in May; the lease is signed.",
            ],
        ),
        document(
            3,
            1,
            "Budgeting Basics",
            "pdf",
            &[
                "A budget is a plan for money.",
                "Review every budget line before the review meeting, and budget time for it.",
            ],
        ),
        document(
            4,
            1,
            "Contact",
            "txt",
            &["Send an e-mail to the office with your invoice number."],
        ),
        document(
            5,
            1,
            "Leave",
            "txt",
            &["Holidays are reviewed each spring; the leave plan is on the intranet."],
        ),
    ];
    runtime.block_on(fill(&index, visible.clone()));
    let queries = [
        // Plain words, and all words.
        "budget",
        "review",
        "budget review",
        "quarterly review budget march",
        // Prefixes: the hidden documents below have 60 words starting with
        // "budg", each more common than any of the reader's.
        "budg*",
        "title:budg*",
        "e-ma*",
        "\"budget rev\"*",
        // Phrases, OR, titles, exclusions.
        "\"budget review\"",
        "lease OR layoff",
        "budget OR plan",
        "title:budget",
        "budget -lease",
        // No visible chunk has both words: the any-word fallback.
        "budget layoff",
        "what is the budget review plan?",
    ];
    let before = observe(&index, &queries, &[1]);
    for (what, seen) in &before {
        // Comparing empty pages would prove nothing.
        assert!(!seen.starts_with("total 0"), "{what} found nothing");
    }
    let shared_before = observe(&index, &["budget"], &[1, 2]);

    // What the reader cannot see: many long chunks with the same words
    // (other counts, another average length) and the "budg…" words, written
    // in ten commits so that segments are merged; and one of the reader's
    // own documents indexed again among them (a deleted chunk in the old
    // segment, a live one in a segment shared with collection 2).
    let budg_words: Vec<String> = (0..60)
        .map(|i| format!("budg{}{}", (b'a' + i / 26) as char, (b'a' + i % 26) as char))
        .collect();
    let filler = "budget review plan layoff lease e-mailing e-mail ".repeat(20);
    let hidden_text = format!("{filler} {}", budg_words.join(" "));
    let mut hidden: Vec<IndexDocument> = (100..140)
        .map(|doc_id| {
            document(
                doc_id,
                2,
                "Budget Layoff Plan",
                "docx",
                &[
                    hidden_text.as_str(),
                    "The budget review of the layoff plan.",
                ],
            )
        })
        .collect();
    hidden.insert(20, visible[2].clone());
    for batch in hidden.chunks(5) {
        runtime.block_on(fill(&index, batch.to_vec()));
    }
    // Tantivy merges in the background; give it a moment. The reader must
    // see the same either way, so the test does not depend on the timing.
    for _ in 0..20 {
        if index.segment_count() < 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        runtime.block_on(index.flush()).expect("flush");
    }

    let after = observe(&index, &queries, &[1]);
    assert_eq!(before.len(), after.len());
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(was, is)| was != is)
        .collect();
    if let Some(((what, was), (_, is))) = changed.first() {
        let names: Vec<&String> = changed.iter().map(|((what, _), _)| what).collect();
        panic!(
            "invisible documents changed what the reader sees: {names:#?}\n\
             first, {what}: before {was}\nafter {is}"
        );
    }
    // The same documents do move a reader who may see them, so the
    // comparison above would notice a leak.
    let shared_after = observe(&index, &["budget"], &[1, 2]);
    assert_ne!(shared_before[0], shared_after[0]);
}

#[test]
fn statistics_are_cached_per_collection_set_within_bounds() {
    let index = fixture();
    let searcher = index.inner.reader.searcher();
    let cache = &index.inner.stats;
    let first = index.visible(&searcher, &[3, 1, 1]).expect("visible");
    // The same set in another order is the same entry.
    let again = index.visible(&searcher, &[1, 3]).expect("visible");
    assert!(Arc::ptr_eq(&first, &again));
    for collection in 10..200 {
        index.visible(&searcher, &[collection]).expect("visible");
    }
    assert!(cache.len() <= 64, "{} sets cached", cache.len());
    // A new generation forgets the old one's sets.
    runtime().block_on(fill(&index, vec![document(60, 1, "New", "txt", &["new"])]));
    let searcher = index.inner.reader.searcher();
    let fresh = index.visible(&searcher, &[1, 3]).expect("visible");
    assert!(!Arc::ptr_eq(&first, &fresh));
    assert_eq!(cache.len(), 1);
}

fn spelling_fixture() -> SearchIndex {
    let index = SearchIndex::open_in_ram(&config()).expect("open");
    let mut documents = vec![
        document(
            1,
            1,
            "Theatre Sterilisation",
            "txt",
            &["Instruments go through sterilisation after every use. The colour code is green."],
        ),
        document(
            2,
            1,
            "Sterilization",
            "txt",
            &["Sterilization of instruments at the center. Color codes are posted."],
        ),
        document(
            3,
            1,
            "Paediatric Programme",
            "txt",
            &["The paediatric programme of the organisation starts in spring."],
        ),
        document(
            4,
            1,
            "Advice",
            "txt",
            &["Four hours of precise advice from a wise and otherwise silent man."],
        ),
        // Collection 2 is HR's: the reader of collection 1 may not see it.
        document(
            5,
            2,
            "Restructuring",
            "txt",
            &["The layoffs are confidential until the consultation ends."],
        ),
        document(
            6,
            3,
            "Shared calendar",
            "txt",
            &["The reception keeps the calendar of the consultation rooms."],
        ),
        // A typo in one document, the right word in many.
        document(
            7,
            1,
            "Old log",
            "txt",
            &["The sterlisation log of last year."],
        ),
    ];
    for n in 0..10 {
        documents.push(document(
            20 + n,
            1,
            &format!("Log {n}"),
            "txt",
            &["Sterilisation cycle recorded by the nurse."],
        ));
    }
    runtime().block_on(fill(&index, documents));
    index
}

#[test]
fn british_and_american_spellings_find_each_other() {
    let index = spelling_fixture();
    let log: Vec<i64> = (20..30).collect();
    let both: Vec<i64> = [1, 2].into_iter().chain(log.iter().copied()).collect();
    check_with(&index, &request("sterilization", &[1]), &both);
    check_with(&index, &request("sterilisation", &[1]), &both);
    check_with(&index, &request("STERILISED", &[1]), &both);
    check_with(&index, &request("color", &[1]), &[1, 2]);
    check_with(&index, &request("colours", &[1]), &[1, 2]);
    check_with(&index, &request("theater", &[1]), &[1]);
    check_with(&index, &request("centre instruments", &[1]), &[2]);
    check_with(
        &index,
        &request("pediatric program organization", &[1]),
        &[3],
    );
    check_with(&index, &request("title:pediatric", &[1]), &[3]);
    // Words that only look like British spellings are not rewritten.
    check_with(&index, &request("wise otherwise precise hours", &[1]), &[4]);
    check_with(&index, &request("wize", &[1]), &[]);
    check_with(&index, &request("hor", &[1]), &[]);
    // Quoted words keep what was written.
    let british: Vec<i64> = [1].into_iter().chain(log.iter().copied()).collect();
    check_with(&index, &request("\"sterilisation\"", &[1]), &british);
    check_with(&index, &request("\"sterilization\"", &[1]), &[2]);
    // The snippet marks the variant the document has.
    let results = index
        .search(&request("sterilization instruments", &[1]))
        .expect("search");
    let snippets: Vec<&str> = results
        .hits
        .iter()
        .map(|hit| hit.snippet_html.as_str())
        .collect();
    assert!(
        snippets.contains(&"<mark>Instruments</mark> go through <mark>sterilisation</mark> after every use. The colour code is green."),
        "{snippets:?}"
    );
    assert!(
        snippets
            .iter()
            .any(|s| s.starts_with("<mark>Sterilization</mark> of <mark>instruments</mark>")),
        "{snippets:?}"
    );
}

#[test]
fn did_you_mean_corrects_from_what_the_reader_may_see() {
    let index = spelling_fixture();
    let suggestion = |query: &str, allowed: &[i64]| {
        index
            .search(&request(query, allowed))
            .unwrap_or_else(|error| panic!("{query}: {error}"))
            .did_you_mean
    };
    // Nothing found: the closest visible word, keeping the rest as typed.
    assert_eq!(
        suggestion("sterlisation instruments", &[1]).as_deref(),
        Some("sterilisation instruments")
    );
    assert_eq!(
        suggestion("Sterilsation", &[1]).as_deref(),
        Some("Sterilisation")
    );
    assert_eq!(
        suggestion("paediatrik", &[1]).as_deref(),
        Some("paediatric")
    );
    // Found, but in one document, while a near word is in ten times more.
    let typo = index
        .search(&request("sterlisation", &[1]))
        .expect("search");
    assert_eq!(ids(&typo), BTreeSet::from([7]));
    assert_eq!(typo.did_you_mean.as_deref(), Some("sterilisation"));
    // Words that find enough, or are spelt right, get no suggestion.
    assert_eq!(suggestion("sterilisation", &[1]), None);
    assert_eq!(suggestion("precise advice", &[1]), None);
    assert_eq!(suggestion("zzzzqqq", &[1]), None);
    // No leaks: a word only in HR's documents is never suggested to
    // someone without HR, and is to someone with it.
    assert_eq!(suggestion("layofs", &[1, 3]), None);
    assert_eq!(suggestion("layofs", &[1, 2]).as_deref(), Some("layoffs"));
    // The suggestion is checked under the reader's own filter too: the
    // shared word is not offered while they look only in collection 1.
    assert_eq!(
        suggestion("consultaton", &[1, 3]).as_deref(),
        Some("consultation")
    );
    let filtered = SearchRequest {
        collections: Some(vec![1]),
        ..request("consultaton", &[1, 3])
    };
    assert_eq!(index.search(&filtered).expect("search").did_you_mean, None);
    // Off when configured so.
    let quiet = SearchIndex::open_in_ram(&SearchConfig {
        suggest_below: 0,
        ..config()
    })
    .expect("open");
    runtime().block_on(fill(
        &quiet,
        vec![document(1, 1, "Log", "txt", &["Sterilisation cycle."])],
    ));
    let results = quiet
        .search(&request("sterlisation", &[1]))
        .expect("search");
    assert_eq!(results.did_you_mean, None);
}

#[test]
fn an_index_of_an_older_layout_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("search");
    std::fs::create_dir_all(&path).expect("mkdir");
    let (old, _) = schema::build_schema_of_layout(
        tantivy::tokenizer::Language::English,
        schema::LAYOUT_VERSION - 1,
    );
    Index::create_in_dir(&path, old).expect("an index of the previous layout");
    assert!(matches!(
        SearchIndex::open(&path, &config()),
        Err(SearchError::NeedsRebuild(_))
    ));
    let index = SearchIndex::recreate(&path, &config()).expect("recreate");
    runtime().block_on(fill(
        &index,
        vec![document(1, 1, "Colours", "txt", &["The colour chart."])],
    ));
    check_with(&index, &request("color", &[1]), &[1]);
    drop(index);
    assert!(SearchIndex::open(&path, &config()).is_ok());
}
