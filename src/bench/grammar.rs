//! `hearth bench --grammar` (and a row of the full report): what answers
//! that are valid by construction cost. A booking, as scheduling asks the
//! model for one: JSON whose `action`, `customer`, `service` and `staff` are
//! enums taken from the database (5, 50, 10 and 8 values, the last three
//! nullable), with a nullable date and time. The bare loop
//! ([`crate::llm::bench::BareLoop::run_grammar`]) samples each answer the
//! way the engine does (the model's own pick checked, the grammar applied to
//! the best candidates only when it is refused), llama.cpp's way (the whole
//! vocabulary when it is refused) and naively (the whole vocabulary for every
//! token), against free decoding of as many tokens; the figures are
//! milliseconds per token and their ratios to free decoding, the median over
//! rounds, each round a different request.

use serde_json::{Value, json};

use super::{BenchOptions, median, verdict};
use crate::llm::bench::{BareLoop, GrammarRun};
use crate::llm::{Grammar, Message, Role};

/// The most tokens of one booking (a complete one takes about 60).
const MAX_TOKENS: usize = 160;

/// Requests to the office, one per round.
const REQUESTS: [&str; 6] = [
    "Please book Anna Berg for a cleaning with Dr. Lee on 2025-03-04 at 10:30.",
    "Jonas Novak wants to move his check-up to next Friday afternoon.",
    "Cancel the filling for Maria Haddad tomorrow at 9.",
    "Can Tom see Lukas Okafor for an x-ray on 2025-05-12 at 14:00?",
    "Sofia Rossi called: she needs an emergency visit today, any dentist.",
    "Confirm Elena Berg's whitening with hygienist Mia on 2025-06-02 at 08:15.",
];

/// The fields in the grammar's order (a `serde_json::Value` sorts them).
const SYSTEM: &str = "You are the scheduling assistant of a dental office. Turn the request into a booking as JSON with the fields action, customer, date (YYYY-MM-DD), service, staff and time (HH:MM); use null for what the request does not say.";

/// A date of this century, and a time of day.
const DATE: &str = "^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
const TIME: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

fn nullable_text(pattern: &str) -> Value {
    json!({"anyOf": [{"type": "string", "pattern": pattern}, {"type": "null"}]})
}

/// The booking schema: enums as scheduling would take them from the database.
pub fn booking_schema() -> Value {
    let first = [
        "Anna", "Jonas", "Maria", "Lukas", "Sofia", "Elena", "Paul", "Clara", "David", "Nora",
    ];
    let last = ["Berg", "Novak", "Haddad", "Okafor", "Rossi"];
    let customers: Vec<String> = first
        .iter()
        .flat_map(|f| last.iter().map(move |l| format!("{f} {l}")))
        .collect();
    let nullable = |values: Value| json!({"anyOf": [{"enum": values}, {"type": "null"}]});
    json!({
        "type": "object",
        "properties": {
            "action": {"enum": ["book", "move", "cancel", "confirm", "none"]},
            "customer": nullable(json!(customers)),
            "service": nullable(json!([
                "cleaning", "check-up", "filling", "crown", "root canal", "whitening",
                "extraction", "x-ray", "implant consultation", "emergency visit"
            ])),
            "staff": nullable(json!([
                "Dr. Lee", "Dr. Novak", "Dr. Haddad", "Dr. Berg", "Dr. Okafor", "Dr. Rossi",
                "hygienist Mia", "hygienist Tom"
            ])),
            "date": nullable_text(DATE),
            "time": nullable_text(TIME),
        },
        "required": ["action", "customer", "service", "staff", "date", "time"],
        "additionalProperties": false,
    })
}

/// The grammar's cost, over `rounds` rounds.
pub struct GrammarFigures {
    pub runs: Vec<GrammarRun>,
}

impl GrammarFigures {
    fn median_of(&self, f: impl Fn(&GrammarRun) -> f64) -> f64 {
        median(self.runs.iter().map(f).collect())
    }

    /// The rows of the report's table.
    pub fn rows(&self) -> String {
        let free = self.median_of(GrammarRun::free_ms_per_token);
        let ratio =
            |way: fn(&GrammarRun) -> f64| self.median_of(|r| way(r) / r.free_ms_per_token());
        let engine = ratio(GrammarRun::shortlist_ms_per_token);
        let tokens = self.median_of(|r| r.tokens as f64);
        format!(
            "| grammar cost per token, ms (booking JSON, {tokens:.0} tokens) | {:.2} | {free:.2} (free decoding) | {engine:.2} | ≤ 1.5 {} |\n\
             | the same, llama.cpp's way (whole vocabulary when the pick is refused), ms | {:.2} | {free:.2} (free decoding) | {:.2} | |\n\
             | the same, grammar on the whole vocabulary for every token, ms | {:.2} | {free:.2} (free decoding) | {:.2} | |",
            self.median_of(GrammarRun::shortlist_ms_per_token),
            verdict(engine <= 1.5),
            self.median_of(GrammarRun::rejection_ms_per_token),
            ratio(GrammarRun::rejection_ms_per_token),
            self.median_of(GrammarRun::naive_ms_per_token),
            ratio(GrammarRun::naive_ms_per_token),
        )
    }

    /// What the rows rest on: answers the same every way, complete, and how
    /// often the model's own pick was refused.
    pub fn notes(&self) -> String {
        let n = self.runs.len();
        let same = self.runs.iter().filter(|r| r.same_answer).count();
        let complete = self.runs.iter().filter(|r| r.complete).count();
        let refused: usize = self.runs.iter().map(|r| r.refused).sum();
        let whole: usize = self.runs.iter().map(|r| r.whole_vocabulary).sum();
        let tokens: usize = self.runs.iter().map(|r| r.tokens).sum();
        let mut notes = format!(
            "grammar: {same} of {n} answers the same every way, {complete} of {n} complete; \
             the model's pick was refused for {refused} of {tokens} tokens, and the engine's way \
             checked the whole vocabulary for {whole}\n\
             per round, ms per token (free / engine / llama.cpp / naive) and the answer:"
        );
        for (i, run) in self.runs.iter().enumerate() {
            notes.push_str(&format!(
                "\n  {}: {:.2} / {:.2} / {:.2} / {:.2}  {}",
                i + 1,
                run.free_ms_per_token(),
                run.shortlist_ms_per_token(),
                run.rejection_ms_per_token(),
                run.naive_ms_per_token(),
                compact(&run.text),
            ));
        }
        notes
    }
}

/// The answer on one line.
fn compact(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Measures `rounds` bookings on the bare loop. Blocking.
pub fn measure(bare: &BareLoop, rounds: usize) -> anyhow::Result<GrammarFigures> {
    let grammar = Grammar::from_json_schema(&booking_schema())?;
    let mut runs = Vec::new();
    for round in 0..rounds.max(1) {
        let messages = [
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, REQUESTS[round % REQUESTS.len()]),
        ];
        let run = bare
            .run_grammar(&messages, &grammar, MAX_TOKENS)
            .map_err(|e| anyhow::anyhow!(e))?;
        runs.push(run);
    }
    Ok(GrammarFigures { runs })
}

/// `hearth bench --grammar`: only the grammar's figures, quickly.
pub async fn run(options: BenchOptions) -> anyhow::Result<()> {
    if !options.model.is_file() {
        anyhow::bail!("no model at {}; pass --model", options.model.display());
    }
    println!(
        "Hearth grammar benchmark: {} on {} threads ({} rounds)\n",
        crate::llm::model_name(&options.model),
        options.threads,
        options.runs
    );
    let figures = tokio::task::spawn_blocking(move || {
        let bare = BareLoop::start(&options.model, options.threads).map_err(anyhow::Error::msg)?;
        measure(&bare, options.runs)
    })
    .await??;
    println!("| figure | Hearth | reference | ratio | target |");
    println!("|---|---|---|---|---|");
    println!("{}", figures.rows());
    println!("\n{}", figures.notes());
    println!("\nCPU: {}", cpu_features());
    Ok(())
}

/// The CPU's vector extensions that llama.cpp's kernels use, from
/// /proc/cpuinfo.
pub fn cpu_features() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (model, flags) = crate::llm::hardware::model_and_flags(&info);
    let wanted: Vec<&str> = flags
        .into_iter()
        .filter(|f| {
            ["sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni"].contains(f)
                || f.starts_with("avx512")
                || f.starts_with("amx")
        })
        .collect();
    let model = if model.is_empty() { "unknown" } else { &model };
    format!("{model}; {}", wanted.join(" "))
}
