//! Unit tests of the redaction module: the validators, each detector on
//! hand-picked cases, placeholder numbering and restoration (whole and
//! streamed at every split point), robustness on odd input, speed on a long
//! input, and the recall and precision targets on the labelled corpus.

use std::time::{Duration, Instant};

use super::*;
use super::{names, validate};

const CORPUS: &str = include_str!("corpus.jsonl");
/// Samples written after the detector was built, for an out-of-sample check.
const HOLDOUT: &str = include_str!("holdout.jsonl");

fn redactor() -> Redactor {
    Redactor::new(KnownNames::new([
        "Anna Schmidt",
        "Tom O'Brien",
        "Jürgen Weiß",
        "Maria van der Berg",
        "Frank Wolf",
        "Hans-Peter Becker",
    ]))
}

/// Runs `f` over a table and reports every row that disagrees at once.
fn check<I: std::fmt::Debug, O: PartialEq + std::fmt::Debug>(
    table: &[(I, O)],
    f: impl Fn(&I) -> O,
) {
    let mut wrong = Vec::new();
    for (input, expected) in table {
        let got = f(input);
        if &got != expected {
            wrong.push(format!("{input:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The findings of `text` as (kind, text) pairs.
fn found(r: &Redactor, text: &str) -> Vec<(Kind, String)> {
    r.find(text)
        .into_iter()
        .map(|f| (f.kind, f.original))
        .collect()
}

#[test]
fn luhn_and_cards() {
    check(
        &[
            ("4111 1111 1111 1111", true),
            ("4242-4242-4242-4242", true),
            ("5555555555554444", true),
            ("378282246310005", true),
            ("6011 1111 1111 1117", true),
            ("2221 0000 0000 0009", true),
            ("4111 1111 1111 1112", false),
            ("1234 5678 9012 3452", false), // Luhn-valid, but no card network starts with 1
            ("0000 0000 0000 0000", false),
            ("4111", false),
            ("", false),
        ],
        |s| validate::card(s),
    );
}

#[test]
fn iban_mod97() {
    check(
        &[
            ("DE89 3704 0044 0532 0130 00", true),
            ("DE89370400440532013000", true),
            ("GB82 WEST 1234 5698 7654 32", true),
            ("NL91 ABNA 0417 1643 00", true),
            ("AT61 1904 3002 3457 3201", true),
            ("CH93 0076 2011 6238 5295 7", true),
            ("FR14 2004 1010 0505 0001 3M02 606", true),
            ("BE68 5390 0754 7034", true),
            ("IT60 X054 2811 1010 0000 0123 456", true),
            ("ES91 2100 0418 4502 0005 1332", true),
            ("LU28 0019 4006 4475 0000", true),
            ("de89 3704 0044 0532 0130 00", true),
            ("DE88 3704 0044 0532 0130 00", false),
            ("DE89 3704 0044 0532 0130 0", false),
            ("XX89 3704 0044 0532 0130 00", false),
            ("DE89-3704", false),
            ("ÄÖ89 3704", false),
        ],
        |s| validate::iban(s),
    );
}

#[test]
fn steuer_id_check() {
    check(
        &[
            // The Federal Central Tax Office's published test number.
            ("86095742719", true),
            ("86 095 742 719", true),
            ("47036892816", true),
            ("86095742718", false), // wrong check digit
            ("06095742719", false), // leading zero
            ("11111111116", false), // digit repetition rule
            ("12345678903", false), // no repeated digit at all
            ("8609574271", false),
            ("86O95742719", false),
        ],
        |s| validate::steuer_id(s),
    );
}

#[test]
fn bsn_check() {
    check(
        &[
            ("111222333", true),
            ("123456782", true),
            ("1234.56.782", true),
            ("123 456 782", true),
            ("123456781", false),
            ("000000000", false),
            ("12345678", false),
            ("12345678a", false),
        ],
        |s| validate::bsn(s),
    );
}

#[test]
fn personalausweis_check() {
    check(
        &[
            ("T220001293", true), // the specimen card of the Bundesdruckerei
            ("L01X00T471", true),
            ("T220001294", false),
            ("T22000129", false),
            ("TA20001293", false), // A is not in the document alphabet
            ("t220001293", false),
        ],
        |s| validate::personalausweis(s),
    );
}

#[test]
fn ssn_and_ip_checks() {
    check(
        &[
            ("123-45-6789", true),
            ("000-12-3456", false),
            ("666-12-3456", false),
            ("912-12-3456", false),
            ("123-00-6789", false),
            ("123-45-0000", false),
        ],
        |s| validate::ssn(s),
    );
    check(
        &[
            ("192.0.2.1", true),
            ("255.255.255.255", true),
            ("256.1.1.1", false),
            ("01.2.3.4", false),
            ("1.2.3", false),
        ],
        |s| validate::ipv4(s),
    );
    check(
        &[
            ("2001:db8::8a2e:370:7334", true),
            ("fe80::1ff:fe23:4567:890a", true),
            ("2001:db8:1:2::ffff:192.0.2.1", true),
            ("::1", false),
            ("12:30", false),
            ("00:1A:2B:3C:4D:5E", false),
            ("a::b", false),
        ],
        |s| validate::ipv6(s),
    );
}

#[test]
fn detects_each_kind() {
    let r = redactor();
    check(
        &[
            (
                "Mail anna.s@example.de.",
                vec![(Kind::Email, "anna.s@example.de".to_string())],
            ),
            (
                "Tel. 030 1234567",
                vec![(Kind::Phone, "030 1234567".into())],
            ),
            (
                "Handy 0171/1234567",
                vec![(Kind::Phone, "0171/1234567".into())],
            ),
            (
                "Ruf an: (030) 12 34 56",
                vec![(Kind::Phone, "(030) 12 34 56".into())],
            ),
            (
                "call +1 (202) 555-0143 now",
                vec![(Kind::Phone, "+1 (202) 555-0143".into())],
            ),
            (
                "+49 30 1234567",
                vec![(Kind::Phone, "+49 30 1234567".into())],
            ),
            (
                "0049 89 12345678",
                vec![(Kind::Phone, "0049 89 12345678".into())],
            ),
            (
                "card 4111 1111 1111 1111.",
                vec![(Kind::Card, "4111 1111 1111 1111".into())],
            ),
            (
                "IBAN DE89 3704 0044 0532 0130 00 bitte",
                vec![(Kind::Iban, "DE89 3704 0044 0532 0130 00".into())],
            ),
            (
                "Steuer-ID 86 095 742 719",
                vec![(Kind::NationalId, "86 095 742 719".into())],
            ),
            (
                "Ausweis T220001293",
                vec![(Kind::NationalId, "T220001293".into())],
            ),
            (
                "BSN 123456782",
                vec![(Kind::NationalId, "123456782".into())],
            ),
            (
                "SSN 123-45-6789",
                vec![(Kind::NationalId, "123-45-6789".into())],
            ),
            ("from 192.0.2.44", vec![(Kind::Ip, "192.0.2.44".into())]),
            (
                "host 2001:db8::1:2",
                vec![(Kind::Ip, "2001:db8::1:2".into())],
            ),
            (
                "geb. 12.03.1985",
                vec![(Kind::BirthDate, "12.03.1985".into())],
            ),
            (
                "born on March 3, 1985",
                vec![(Kind::BirthDate, "March 3, 1985".into())],
            ),
            (
                "ist am 3. Mai 1990 geboren",
                vec![(Kind::BirthDate, "3. Mai 1990".into())],
            ),
            (
                "Frau Schmidt called",
                vec![(Kind::KnownName, "Schmidt".into())],
            ),
            (
                "ANNA SCHMIDT",
                vec![(Kind::KnownName, "ANNA SCHMIDT".into())],
            ),
            (
                "Juergen Weiss",
                vec![(Kind::KnownName, "Juergen Weiss".into())],
            ),
            (
                "Anna Schmidt's file",
                vec![(Kind::KnownName, "Anna Schmidt".into())],
            ),
            (
                "Anna Schmidts Akte",
                vec![(Kind::KnownName, "Anna Schmidt".into())],
            ),
            ("Mr O’Brien", vec![(Kind::KnownName, "O’Brien".into())]),
            ("Herrn Dr. Becker", vec![(Kind::KnownName, "Becker".into())]),
            (
                "Frau van der Berg",
                vec![(Kind::KnownName, "van der Berg".into())],
            ),
            (
                "Hans Peter Becker",
                vec![(Kind::KnownName, "Hans Peter Becker".into())],
            ),
            (
                "Schmidt, Anna",
                vec![(Kind::KnownName, "Schmidt, Anna".into())],
            ),
            (
                "I spoke to Peter Miller.",
                vec![(Kind::Person, "Peter Miller".into())],
            ),
            (
                "Mrs Xylander called",
                vec![(Kind::Person, "Xylander".into())],
            ),
            ("Dear Zoltanne,", vec![(Kind::Person, "Zoltanne".into())]),
            (
                "Will Turner said so",
                vec![(Kind::Person, "Will Turner".into())],
            ),
            (
                "email anna.schmidt@example.de",
                vec![(Kind::Email, "anna.schmidt@example.de".into())],
            ),
        ],
        |t| found(&r, t),
    );
}

#[test]
fn leaves_non_personal_text_alone() {
    let r = redactor();
    check(
        &[
            ("I will mark the rose bed before May.", vec![]),
            ("To be frank, the bill was high.", vec![]),
            ("Der Wolf ist klein, das dauert lange.", vec![]),
            ("Das ist mein Ernst.", vec![]),
            ("Termin am 12.03.2025 um 14:30 Uhr", vec![]),
            ("Invoice RE-2024-00123, total 1.234,56 €", vec![]),
            ("Version 1.2.3, version 10.4.0.1, firmware 7.1.2.4", vec![]),
            ("Card 4111 1111 1111 1112 failed", vec![]),
            ("IBAN DE88 3704 0044 0532 0130 00", vec![]),
            ("Steuer-ID 86095742718", vec![]),
            ("Meeting 10:30-11:45, room 2.14, 10115 Berlin", vec![]),
            ("Sehr geehrte Damen und Herren", vec![]),
            ("Herr Doktor, bitte", vec![]),
            (
                "Anna Meier geb. Lorenz, Termin am 12.03.2025",
                vec![
                    (Kind::Person, "Anna Meier".to_string()),
                    (Kind::Person, "Lorenz".into()),
                ],
            ),
            ("Nur GTK-GUI. Art der Ausrichtung.", vec![]),
            ("200 ms. Firefox is fast on MS Windows.", vec![]),
            ("Dpkg 1.15.5.4 and Home Page", vec![]),
            ("Die Rechnung Nr. 0123456789 ist offen.", vec![]),
        ],
        |t| found(&r, t),
    );
}

#[test]
fn known_names_edge_cases() {
    let k = KnownNames::new([
        "",
        "-",
        "A",
        "  Anna   Schmidt ",
        "anna schmidt",
        "Cher",
        "Tom O'Brien",
    ]);
    assert_eq!(k.names(), ["Anna Schmidt", "Cher", "Tom O'Brien"]);
    let r = Redactor::new(k);
    check(
        &[
            (
                "CHER and Cher, not cher",
                vec![
                    (Kind::KnownName, "CHER".to_string()),
                    (Kind::KnownName, "Cher".into()),
                ],
            ),
            (
                "Tom OBrien, TOM O’BRIEN",
                vec![
                    (Kind::KnownName, "Tom OBrien".into()),
                    (Kind::KnownName, "TOM O’BRIEN".into()),
                ],
            ),
            (
                "A. Schmidt und Frau Schmidts Akte",
                vec![
                    (Kind::KnownName, "A. Schmidt".into()),
                    (Kind::KnownName, "Schmidt".into()),
                ],
            ),
            (
                "Frau Schmidt-Lorenz",
                vec![(Kind::Person, "Schmidt-Lorenz".into())],
            ),
            ("Annas Termin", vec![(Kind::Person, "Annas".into())]),
        ],
        |t| found(&r, t),
    );
    // Every form of a known person shares one placeholder, which restores
    // to the listed name.
    let mut p = Placeholders::default();
    let red = r.redact(
        "ANNA SCHMIDT, Frau Schmidt, A. Schmidt, Schmidt, Anna",
        &mut p,
    );
    assert_eq!(
        red.text,
        "[PERSON_1], Frau [PERSON_1], [PERSON_1], [PERSON_1]"
    );
    assert_eq!(p.restore("[PERSON_1]"), "Anna Schmidt");
    assert_eq!(red.counts_by_key().get("known_name"), Some(&4));
    // A huge list still builds (in chunks) and finds its last name.
    let many: Vec<String> = (0..3000)
        .map(|i| format!("Person{i} Nachname{i}"))
        .collect();
    let r = Redactor::new(KnownNames::new(&many));
    assert_eq!(
        found(&r, "Bitte Frau Nachname2999 anrufen"),
        vec![(Kind::KnownName, "Nachname2999".to_string())]
    );
}

#[test]
fn word_lists_are_complete() {
    for (section, words) in names::lexicon().rules.all() {
        assert!(!words.is_empty(), "rule_words.txt has no [{section}]");
    }
}

#[test]
fn shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    assert_send_sync::<Placeholders>();
    assert_send_sync::<KnownNames>();
    let r = std::sync::Arc::new(redactor());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || r.find(&format!("Peter Miller {i} anna@example.de")).len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2);
    }
}

#[test]
fn stable_numbering_across_calls() {
    let r = redactor();
    let mut p = Placeholders::default();
    let a = r.redact(
        "Anna Schmidt (anna@example.de, 030 1234567) wrote to Peter Miller.",
        &mut p,
    );
    assert_eq!(
        a.text,
        "[PERSON_1] ([EMAIL_1], [PHONE_1]) wrote to [PERSON_2]."
    );
    let b = r.redact(
        "Peter Miller replied; ANNA@EXAMPLE.DE and +49 30 1234567 are fine, Frau Schmidt agrees.",
        &mut p,
    );
    assert_eq!(
        b.text,
        "[PERSON_2] replied; [EMAIL_1] and [PHONE_2] are fine, Frau [PERSON_1] agrees."
    );
    let c = r.redact("Call 0049 30 1234567 or anna.schmidt@example.de", &mut p);
    assert_eq!(c.text, "Call [PHONE_2] or [EMAIL_2]");
    assert_eq!(p.len(), 6);
    assert_eq!(b.counts.get(&Kind::KnownName), Some(&1));
    assert_eq!(b.spans[0].original, "Peter Miller");
    // The mapping survives a round trip through JSON.
    let json = serde_json::to_string(&p).unwrap();
    let back: Placeholders = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let mut back = back;
    assert_eq!(r.redact("peter miller", &mut back).text, "[PERSON_2]");
    // Stored mappings are not trusted: odd entries are skipped, and a huge
    // number cannot make the next one overflow.
    let odd = r#"{"entries":[
        {"placeholder":"[PERSON_18446744073709551615]","kind":"person","key":"x","value":"X"},
        {"placeholder":"PERSON_3","kind":"person","key":"y","value":"Y"},
        {"placeholder":"[PERSON_1]","kind":"person","key":"z","value":"Z"},
        {"placeholder":"[PERSON_1]","kind":"person","key":"w","value":"W"}]}"#;
    let mut odd: Placeholders = serde_json::from_str(odd).unwrap();
    assert_eq!(odd.len(), 1);
    assert_eq!(r.redact("Eva Braun", &mut odd).text, "[PERSON_2]");
    assert_eq!(r.redact("Eva Braun", &mut back).text, "[PERSON_3]");
}

#[test]
fn restore() {
    let r = redactor();
    let mut p = Placeholders::default();
    let red = r.redact("Frau Schmidt and Peter Miller, peter@example.com", &mut p);
    assert_eq!(red.text, "Frau [PERSON_1] and [PERSON_2], [EMAIL_1]");
    check(
        &[
            ("Dear [PERSON_2],", "Dear Peter Miller,".to_string()),
            (
                "Frau [PERSON_1] ist da.",
                "Frau Anna Schmidt ist da.".into(),
            ),
            (
                "PERSON_2 wrote to EMAIL_1.",
                "Peter Miller wrote to peter@example.com.".into(),
            ),
            (
                "[PERSON_9] and PERSON_29 and XPERSON_1 stay",
                "[PERSON_9] and PERSON_29 and XPERSON_1 stay".into(),
            ),
            ("[PERSON_2][PERSON_1]", "Peter MillerAnna Schmidt".into()),
            ("no placeholders", "no placeholders".into()),
        ],
        |t| p.restore(t),
    );
}

#[test]
fn streaming_restore_at_every_split() {
    let r = redactor();
    let mut p = Placeholders::default();
    r.redact("Anna Schmidt, Peter Miller, Paul Meyer, Eva Braun, Lisa Wagner, Jan Hofmann Ole Krause, Ida Roth, Tim Berg, Uwe Lang", &mut p);
    assert!(p.len() >= 10, "{p:?}");
    let answer = "Hi [PERSON_1], tell PERSON_10 [about] [PERSON_9x] and [PERSON_2]!";
    let whole = p.restore(answer);
    assert_eq!(
        whole,
        "Hi Anna Schmidt, tell Uwe Lang [about] [PERSON_9x] and Peter Miller!"
    );
    let bounds: Vec<usize> = (0..=answer.len())
        .filter(|&i| answer.is_char_boundary(i))
        .collect();
    for &i in &bounds {
        for &j in bounds.iter().filter(|&&j| j >= i) {
            let mut s = Restorer::new(&p);
            let mut out = s.push(&answer[..i]);
            out += &s.push(&answer[i..j]);
            out += &s.push(&answer[j..]);
            out += &s.finish();
            assert_eq!(out, whole, "split at {i}, {j}");
        }
    }
    // Character by character, and nothing is held longer than a
    // placeholder can be.
    let mut s = Restorer::new(&p);
    let mut out = String::new();
    for c in answer.chars() {
        out += &s.push(&c.to_string());
        assert!(s.held() <= "[PERSON_10]".len(), "held {}", s.held());
    }
    out += &s.finish();
    assert_eq!(out, whole);
    // A bracket that opens no placeholder is released at once.
    let mut s = Restorer::new(&p);
    assert_eq!(s.push("["), "");
    assert_eq!(s.push("x"), "[x");
    assert_eq!(s.push("see [a"), "see [a");
    assert_eq!(s.push("[PER"), "");
    assert_eq!(s.push("SON_"), "");
    assert_eq!(s.push("1]"), "Anna Schmidt");
}

#[test]
fn no_panic_on_odd_input() {
    let r = redactor();
    let mut p = Placeholders::default();
    let samples = [
        "",
        " ",
        "[",
        "]",
        "@",
        "+",
        "0",
        "\u{0}",
        "İstanbul ǅemal ﬁle Ⅻ 𝔄𝔫𝔫𝔞 ß ẞ ı İ ſ K",
        "Frau ",
        "Frau\n",
        "Herr Dr.",
        "DE",
        "DE89",
        "DE89 ",
        "geb.",
        "born 99.99.9999",
        "+49",
        "::::::",
        "1.1.1.1.1.1.1",
        "a@b",
        "a@b.c",
        "....@@@@....",
        "Anna Schmidt's's's",
        "[PERSON_99999999999999999999999]",
        "PERSON_",
        "\u{202e}Anna\u{202d} Schmidt",
        "😀 Anna 😀 Schmidt 😀 +49 😀 30 1234567 😀",
        "ǅ ǈ ǋ ǲ",
        "K 4111 1111 1111 1111",
        "ſ DE89 3704 0044 0532 0130 00",
    ];
    for s in samples {
        let red = r.redact(s, &mut p);
        let _ = p.restore(&red.text);
        for f in r.find(s) {
            assert!(s.is_char_boundary(f.start) && s.is_char_boundary(f.end));
        }
    }
    // Pseudo-random strings over a mix of ASCII, punctuation, digits and
    // multi-byte characters.
    let alphabet: Vec<char> =
        "aAzZ09 .,:;-/+()[]@#*_'’\n\täöüßÄÖÜéıİſK€😀\u{301}\u{a0}PERSON_1EMAILDEgebornDOB"
            .chars()
            .collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut s = String::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 80) as usize;
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push(alphabet[(state % alphabet.len() as u64) as usize]);
        }
        let red = r.redact(&s, &mut p);
        let restored = p.restore(&red.text);
        let mut st = Restorer::new(&p);
        let mut streamed = String::new();
        for c in red.text.chars() {
            streamed += &st.push(&c.to_string());
        }
        streamed += &st.finish();
        assert_eq!(streamed, restored, "{s:?}");
    }
}

#[test]
fn long_input_is_fast() {
    let r = redactor();
    let paragraph = "Hallo Frau Schmidt, bitte rufen Sie Peter Miller unter 030 1234567 an. \
                     Karte 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, geb. 12.03.1985. \
                     The server 192.0.2.44 logged anna@example.de at 12:30; invoice RE-2024-00123 is due. ";
    let mut text = String::new();
    while text.len() < 100_000 {
        text.push_str(paragraph);
    }
    let mut p = Placeholders::default();
    let t = Instant::now();
    let red = r.redact(&text, &mut p);
    let elapsed = t.elapsed();
    eprintln!("100 KB redacted in {elapsed:?}");
    assert!(red.spans.len() > 1000);
    // Well under a second even in a debug build; the margin allows for a
    // busy test machine.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    // Degenerate inputs: one long digit run, one long word, many brackets.
    for s in [
        "7".repeat(100_000),
        "a".repeat(100_000),
        "[PER".repeat(25_000),
        "Anna ".repeat(20_000),
        "a@".repeat(50_000),
        "1.1.1.1.".repeat(12_500),
        "+49 ".repeat(25_000),
        "Frau ".repeat(20_000),
        "geb. ".repeat(20_000),
        "1:".repeat(50_000),
        "DE89 ".repeat(20_000),
        "ä".repeat(50_000),
    ] {
        let t = Instant::now();
        let red = r.redact(&s, &mut p);
        let _ = p.restore(&red.text);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}

#[test]
fn kind_names() {
    for (k, label, name, json) in [
        (Kind::Email, "EMAIL", "e-mail address", "\"email\""),
        (Kind::Phone, "PHONE", "phone number", "\"phone\""),
        (
            Kind::NationalId,
            "ID",
            "national identifier",
            "\"national_id\"",
        ),
        (Kind::KnownName, "PERSON", "known name", "\"known_name\""),
        (Kind::Person, "PERSON", "person name", "\"person\""),
        (Kind::BirthDate, "DOB", "date of birth", "\"birth_date\""),
    ] {
        assert_eq!(k.label(), label);
        assert_eq!(k.to_string(), name);
        assert_eq!(serde_json::to_string(&k).unwrap(), json);
        assert_eq!(serde_json::from_str::<Kind>(json).unwrap(), k);
    }
    assert_eq!(Kind::all().len(), 9);
}

#[test]
fn corpus_targets() {
    let report = evaluate(CORPUS, Redactor::new);
    eprintln!("{report}");
    for (k, n) in &report.samples_with {
        eprintln!("samples with {:<12} {n}", k.key());
    }
    eprintln!("misses ({}):", report.misses.len());
    for m in &report.misses {
        eprintln!("  {m}");
    }
    eprintln!("false positives ({}):", report.false_positives.len());
    for m in &report.false_positives {
        eprintln!("  {m}");
    }
    assert!(report.bad_lines.is_empty(), "{:?}", report.bad_lines);
    let samples: usize = report.samples.values().sum();
    assert!(samples >= 1100, "{samples} samples");
    for (kind, min_recall) in [
        (Kind::Card, 0.995),
        (Kind::Iban, 0.995),
        (Kind::NationalId, 0.995),
        (Kind::Email, 0.995),
        (Kind::Phone, 0.995),
        (Kind::Ip, 0.995),
        (Kind::BirthDate, 0.995),
        (Kind::KnownName, 1.0),
        (Kind::Person, 0.95),
    ] {
        let s = report.kind(kind);
        assert!(
            s.recall() >= min_recall,
            "{kind}: recall {:.3} below {min_recall}",
            s.recall()
        );
        // Precision is 100 % on this corpus for every kind; a small margin
        // keeps the test from failing on one new false positive while still
        // catching a rule that starts to over-fire.
        assert!(
            s.precision() >= 0.99,
            "{kind}: precision {:.3}",
            s.precision()
        );
    }
    assert!(
        report.total().precision() >= 0.995,
        "{}",
        report.total().precision()
    );
}

/// The held-out samples were written after the rules and never tuned on
/// (their first run is in the module's report); this guards that the
/// numbers on unseen text do not silently get worse.
#[test]
fn holdout_report() {
    let report = evaluate(HOLDOUT, Redactor::new);
    eprintln!("held-out samples:\n{report}");
    for m in report.misses.iter().chain(&report.false_positives) {
        eprintln!("  {m}");
    }
    assert!(report.bad_lines.is_empty(), "{:?}", report.bad_lines);
    for kind in Kind::all() {
        let s = report.kind(*kind);
        let min_recall = if *kind == Kind::Person { 0.9 } else { 1.0 };
        assert!(s.recall() >= min_recall, "{kind}: recall {:.3}", s.recall());
    }
    assert!(
        report.total().precision() >= 0.98,
        "{}",
        report.total().precision()
    );
}
