//! `hearth bench --redaction`: how well redaction finds personal data, per
//! kind, on its labelled corpus (the targets: 99.5 % recall on identifiers
//! with check digits, e-mail, phone and IP; every known name; 95 % of other
//! names) and on held-out samples written after the rules; and how fast it
//! is, against a plain scan of the same text (a lower bound any redactor
//! pays), measured in the same run.

use std::time::Instant;

use crate::redact::{CORPUS, HOLDOUT, KnownNames, Placeholders, Redactor, evaluate};

pub fn run() {
    println!("Redaction, labelled corpus (src/redact/corpus.jsonl):");
    println!("{}", evaluate(CORPUS, Redactor::new));
    println!("Held-out samples (src/redact/holdout.jsonl), not tuned on:");
    println!("{}", evaluate(HOLDOUT, Redactor::new));

    // Speed: the corpus's text, redacted whole, against a byte scan.
    let text: String = CORPUS
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    let started = Instant::now();
    let redactor = Redactor::new(KnownNames::new(["Anna Schmidt", "Tom Baker"]));
    let build = started.elapsed();
    let rounds = 5;
    let started = Instant::now();
    let mut replaced = 0;
    for _ in 0..rounds {
        let mut placeholders = Placeholders::default();
        replaced = redactor.redact(&text, &mut placeholders).spans.len();
    }
    let redact = started.elapsed() / rounds;
    let started = Instant::now();
    let mut digits = 0usize;
    for _ in 0..rounds {
        digits = std::hint::black_box(text.bytes().filter(u8::is_ascii_digit).count());
    }
    let scan = started.elapsed() / rounds;
    let kb = text.len() as f64 / 1024.0;
    println!(
        "Speed: {kb:.0} KB in {:.1} ms ({:.2} ms per KB, {replaced} replacements); a byte scan of it: {:.3} ms ({digits} digits); ratio {:.0}x; building the redactor: {:.1} ms",
        redact.as_secs_f64() * 1000.0,
        redact.as_secs_f64() * 1000.0 / kb,
        scan.as_secs_f64() * 1000.0,
        redact.as_secs_f64() / scan.as_secs_f64().max(1e-9),
        build.as_secs_f64() * 1000.0
    );
}
