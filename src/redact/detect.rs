//! The detectors for personal data with a shape: e-mail addresses, phone
//! numbers, payment cards, IBANs, national identifiers, IP addresses and
//! dates of birth.
//!
//! Each detector is a regular expression for the shape (the `regex` crate
//! runs in linear time, so no input can make it backtrack), followed by a
//! validator: check digits where the number has them, context words where it
//! does not (a nine-digit number is a BSN only after "BSN", a date is a date
//! of birth only after "born" or "geb."), and boundary checks so that a match
//! is not a slice of a longer number or word.

use std::sync::OnceLock;

use regex::Regex;

use super::validate;
use super::{Candidate, Kind};

/// The compiled patterns, shared by every redactor in the process.
pub(crate) struct Patterns {
    email: Regex,
    phone_intl: Regex,
    phone_trunk: Regex,
    phone_nanp: Regex,
    phone_bare: Regex,
    cards: Vec<Regex>,
    iban_start: Regex,
    steuer_id: Regex,
    perso: Regex,
    bsn: Vec<Regex>,
    ssn_dash: Regex,
    ssn_other: Regex,
    ipv4: Regex,
    ipv6: Regex,
    date: Regex,
    dob_before: Regex,
    dob_after: Regex,
    ctx_phone: Regex,
    ctx_not_phone: Regex,
    ctx_bsn: Regex,
    ctx_ssn: Regex,
    ctx_perso: Regex,
    ctx_version: Regex,
    ctx_ip: Regex,
}

/// Compiles a built-in pattern. The patterns are constants covered by the
/// unit tests, so a failure here is a programming error, never an input error.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => panic!("built-in redaction pattern does not compile: {e}"),
    }
}

/// The process-wide patterns, compiled on first use.
pub(crate) fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(Patterns::new)
}

const MONTHS: &str = "jan(?:uary|uar)?|jän(?:ner)?|feb(?:ruary|ruar)?|mar(?:ch)?|mär(?:z)?|maerz|apr(?:il)?\
                      |may|mai|jun[ei]?|jul[yi]?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|okt(?:ober)?\
                      |nov(?:ember)?|dec(?:ember)?|dez(?:ember)?";

impl Patterns {
    fn new() -> Self {
        let date = format!(
            r"(?i)\d{{1,2}}\.[ ]?\d{{1,2}}\.[ ]?(?:19|20)?\d{{2}}|\d{{1,2}}/\d{{1,2}}/(?:19|20)?\d{{2}}|(?:19|20)\d{{2}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}-\d{{1,2}}-(?:19|20)\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)?\.?\s+(?:of\s+)?(?:{MONTHS})\.?,?\s+(?:19|20)\d{{2}}|(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}}"
        );
        Patterns {
            email: re(
                r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,24}",
            ),
            phone_intl: re(r"(?:\+|00)[ ]?[1-9][0-9 \-./()]{4,24}[0-9]"),
            phone_trunk: re(
                r"\(?0[1-9][0-9]{1,4}\)?(?:[ \-/]|[ ][/\-][ ])[0-9]{2,8}(?:[ \-][0-9]{1,8}){0,4}",
            ),
            phone_nanp: re(
                r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}",
            ),
            phone_bare: re(r"\+?[0-9]{7,15}"),
            cards: vec![
                re(r"[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{1,3}"),
                re(r"[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}"),
                re(r"[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5}"),
                re(r"[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{1,3}"),
                re(r"[0-9]{13,19}"),
            ],
            iban_start: re(r"[A-Za-z]{2}[ ]?[0-9]{2}[ ]?[A-Za-z0-9]"),
            steuer_id: re(
                r"[0-9]{2}[ ]?[0-9]{3}[ ]?[0-9]{3}[ ]?[0-9]{3}|[0-9]{3}[ ][0-9]{4}[ ][0-9]{4}",
            ),
            perso: re(r"[CFGHJKLMNPRTVWXYZ0-9]{9}[0-9]"),
            bsn: vec![
                re(r"[0-9]{4}\.[0-9]{2}\.[0-9]{3}"),
                re(r"[0-9]{3}[ ][0-9]{3}[ ][0-9]{3}"),
                re(r"[0-9]{9}"),
            ],
            ssn_dash: re(r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
            ssn_other: re(r"[0-9]{3}[ ][0-9]{2}[ ][0-9]{4}|[0-9]{9}"),
            ipv4: re(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
            ipv6: re(
                r"(?:[0-9A-Fa-f]{1,4})?(?:::?[0-9A-Fa-f]{1,4}){1,7}(?:::)?(?:\.[0-9]{1,3}){0,3}|(?:[0-9A-Fa-f]{1,4}:){1,7}:",
            ),
            date: re(&date),
            // The context words that make a following date a date of birth.
            // Each alternative is its own group so the window can depend on
            // how strong the word is.
            dob_before: re(
                r"(?im)(\b(?:born|dob|d\.o\.b|date\s+of\s+birth|birth\s*date|geboren|geburtsdatum|geb\.?\s*-?\s*datum)\b)|(\b(?:birthday|geburtstag)\b)|(\bb\.|(?:^|[\s(])\*)|(\bgeb\.)",
            ),
            // Context after the date: "am 3. Mai 1990 geboren", "12.03.1985
            // (DOB)", "…, 1939 being the date of birth on file".
            dob_after: re(
                r"(?i)^[\s,]{0,3}(?:\(?(?:geboren|geburtstag|born|dob|geb\.|date\s+of\s+birth|geburtsdatum)\b|(?:being|is|was|as)\s+(?:the\s+|his\s+|her\s+|their\s+|my\s+)?(?:date\s+of\s+birth|dob|birth\s*date|birthday)\b)",
            ),
            ctx_phone: re(
                r"(?i)\b(?:tel|telefon|telephone|phone|fon|call|ring|mobile?|mobil|handy|fax|cell|whatsapp|sms|erreichbar|rückruf|callback)\b",
            ),
            ctx_not_phone: re(
                r"(?i)(?:\b(?:invoice|inv|order|customer|account|acct|ticket|tracking|ref|reference|no|nr|kunden\w*|rechnung\w*|auftrag\w*|bestell\w*|sendung\w*|konto\w*|vertrag\w*|versicherung\w*|aktenzeichen|az|case|claim|serial|serien\w*|artikel\w*|art|iban|bic|blz|bankleitzahl|steuernummer|st-?nr|ust|ust-?id|vat)\b|#)",
            ),
            ctx_bsn: re(
                r"(?i)\b(?:bsn|bsn-nummer|burgerservicenummer|burgerservice-nummer|bürgerservicenummer|sofi-?nummer|citizen\s+service\s+number)\b",
            ),
            ctx_ssn: re(r"(?i)\b(?:ssn|ss#|social\s+security|social|soc\.?\s*sec\.?)"),
            ctx_perso: re(
                r"(?i)(?:ausweis|personalausweis|dokumentennummer|id\s*card|identity\s+card|document\s+(?:no|number)|id-karte|perso\b)",
            ),
            ctx_ip: re(
                r"(?i)\b(?:ip|ipv4|address|adresse|host|server|from|von|ping|router|gateway|dns|client|login|vpn|firewall|access|zugriff|netz|network|subnet|blocked|gesperrt)\b",
            ),
            ctx_version: re(
                r"(?i)(?:\b(?:version|ver|firmware|build|release|v|ziffer|section|abschnitt|kapitel|chapter|para|paragraph|nr|no)\.?|§)[\s:\-]*$",
            ),
        }
    }

    /// Appends every shaped finding in `text` to `out` (overlaps between
    /// detectors are resolved by the caller).
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        self.emails(text, out);
        self.phones(text, out);
        self.cards(text, out);
        self.ibans(text, out);
        self.national_ids(text, out);
        self.ips(text, out);
        self.birth_dates(text, out);
    }

    fn emails(&self, text: &str, out: &mut Vec<Candidate>) {
        for m in self.email.find_iter(text) {
            // The character class of the local part also holds dots and
            // dashes that belong to the sentence ("see:-anna@…"): drop them.
            let mut start = m.start();
            while let Some(c) = text[start..].chars().next() {
                if matches!(c, '.' | '-' | '+' | '%' | '_') && start < m.end() {
                    start += c.len_utf8();
                } else {
                    break;
                }
            }
            let candidate = &text[start..m.end()];
            let Some((local, domain)) = candidate.split_once('@') else {
                continue;
            };
            if local.is_empty()
                || local.len() > 64
                || domain.len() > 253
                || local.contains("..")
                || local.ends_with('.')
            {
                continue;
            }
            if next_char(text, m.end()).is_some_and(|c| c.is_alphanumeric() || c == '@') {
                continue;
            }
            push(out, Kind::Email, start, m.end());
        }
    }

    fn phones(&self, text: &str, out: &mut Vec<Candidate>) {
        scan(&self.phone_intl, text, |s, e| {
            let Some((s, e)) = trim_trailing_groups(text, s, e, intl_phone_ok) else {
                return false;
            };
            if !number_boundaries(text, s, e) {
                return false;
            }
            push(out, Kind::Phone, s, e);
            true
        });
        scan(&self.phone_trunk, text, |s, e| {
            let Some((s, e)) = trim_trailing_groups(text, s, e, trunk_phone_ok) else {
                return false;
            };
            if !number_boundaries(text, s, e) {
                return false;
            }
            push(out, Kind::Phone, s, e);
            true
        });
        scan(&self.phone_nanp, text, |s, e| {
            if !number_boundaries(text, s, e) || !parens_balanced(&text[s..e]) {
                return false;
            }
            push(out, Kind::Phone, s, e);
            true
        });
        // Numbers without any separator: a 0-prefixed national number is a
        // phone unless an invoice, order or account word stands before it;
        // any other digit run is one only after a phone word.
        scan(&self.phone_bare, text, |s, e| {
            if !number_boundaries(text, s, e) {
                return false;
            }
            let t = &text[s..e];
            let digits = t.trim_start_matches('+');
            let before = window_before(text, s, 24);
            // "0123456789" is the digit set, not a number anyone dials.
            if digits.as_bytes().windows(2).all(|w| w[1] == w[0] + 1) {
                return false;
            }
            let national = digits.len() >= 10
                && digits.len() <= 12
                && digits.starts_with('0')
                && !digits.starts_with("00");
            let ok = if self.ctx_not_phone.is_match(before) {
                false
            } else if national || (t.starts_with('+') && digits.len() >= 9) {
                true
            } else {
                digits.len() >= 9 && self.ctx_phone.is_match(before)
            };
            if ok {
                push(out, Kind::Phone, s, e);
            }
            ok
        });
    }

    fn cards(&self, text: &str, out: &mut Vec<Candidate>) {
        for r in &self.cards {
            scan(r, text, |s, e| {
                if !number_boundaries(text, s, e) || !validate::card(&text[s..e]) {
                    return false;
                }
                push(out, Kind::Card, s, e);
                true
            });
        }
    }

    fn ibans(&self, text: &str, out: &mut Vec<Candidate>) {
        for m in self.iban_start.find_iter(text) {
            let s = m.start();
            if prev_char(text, s).is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            let Some(country) = text.get(s..s + 2).map(str::to_ascii_uppercase) else {
                continue;
            };
            let Some(len) = validate::iban_length(&country) else {
                continue;
            };
            // Walk `len` alphanumerics from the start, allowing one space
            // between them (the usual groups of four, or "DE 89 …").
            let mut taken = 0;
            let mut end = s;
            let mut last_space = false;
            for (i, c) in text[s..].char_indices() {
                if c.is_ascii_alphanumeric() {
                    taken += 1;
                    end = s + i + 1;
                    last_space = false;
                    if taken == len {
                        break;
                    }
                } else if c == ' ' && !last_space && taken > 0 {
                    last_space = true;
                } else {
                    break;
                }
            }
            if taken != len || next_char(text, end).is_some_and(|c| c.is_alphanumeric()) {
                continue;
            }
            if validate::iban(&text[s..end]) {
                push(out, Kind::Iban, s, end);
            }
        }
    }

    fn national_ids(&self, text: &str, out: &mut Vec<Candidate>) {
        scan(&self.steuer_id, text, |s, e| {
            if !number_boundaries(text, s, e) || !validate::steuer_id(&text[s..e]) {
                return false;
            }
            push(out, Kind::NationalId, s, e);
            true
        });
        scan(&self.perso, text, |s, e| {
            let t = &text[s..e];
            if !word_boundaries(text, s, e) || !validate::personalausweis(t) {
                return false;
            }
            // All-digit document numbers look like any other number; they
            // count only after an identity-card word.
            let has_letter = t.bytes().any(|b| b.is_ascii_uppercase());
            if !has_letter && !self.ctx_perso.is_match(window_before(text, s, 48)) {
                return false;
            }
            push(out, Kind::NationalId, s, e);
            true
        });
        for (i, r) in self.bsn.iter().enumerate() {
            scan(r, text, |s, e| {
                if !number_boundaries(text, s, e) || !validate::bsn(&text[s..e]) {
                    return false;
                }
                // Nine digits pass the 11-proof one time in eleven, so only
                // the dotted form the Dutch authorities print stands alone.
                let dotted = i == 0;
                if !dotted && !self.ctx_bsn.is_match(window_before(text, s, 48)) {
                    return false;
                }
                push(out, Kind::NationalId, s, e);
                true
            });
        }
        scan(&self.ssn_dash, text, |s, e| {
            if !number_boundaries(text, s, e) || !validate::ssn(&text[s..e]) {
                return false;
            }
            push(out, Kind::NationalId, s, e);
            true
        });
        scan(&self.ssn_other, text, |s, e| {
            if !number_boundaries(text, s, e) || !validate::ssn(&text[s..e]) {
                return false;
            }
            if !self.ctx_ssn.is_match(window_before(text, s, 40)) {
                return false;
            }
            push(out, Kind::NationalId, s, e);
            true
        });
    }

    fn ips(&self, text: &str, out: &mut Vec<Candidate>) {
        scan(&self.ipv4, text, |s, e| {
            let t = &text[s..e];
            if !validate::ipv4(t) {
                return false;
            }
            let before = prev_char(text, s);
            let after = next_char(text, e);
            if before.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == ':' || c == '_') {
                return false;
            }
            if after.is_some_and(|c| c.is_alphanumeric())
                || (after == Some('.')
                    && next_char(text, e + 1).is_some_and(|c| c.is_ascii_digit()))
            {
                return false;
            }
            // "Firmware 7.1.2.4", "Ziffer 1.2.3.4": numbered things, not hosts.
            if self.ctx_version.is_match(window_before(text, s, 24)) {
                return false;
            }
            // Below 10.0.0.0 a dotted quad is far more often a version
            // ("Dpkg 1.15.5.4") than an address; it needs an address word.
            if t.split('.').next().is_some_and(|o| o.len() == 1)
                && !self.ctx_ip.is_match(window_before(text, s, 48))
            {
                return false;
            }
            push(out, Kind::Ip, s, e);
            true
        });
        for m in self.ipv6.find_iter(text) {
            let (s, mut e) = (m.start(), m.end());
            // A colon that ends the sentence is not part of the address,
            // unless it is the second of a trailing "::".
            while e > s && text[..e].ends_with(':') && !text[..e].ends_with("::") {
                e -= 1;
            }
            let t = &text[s..e];
            if t.matches(':').count() < 2 || !validate::ipv6(t) {
                continue;
            }
            if prev_char(text, s).is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '.')
                || next_char(text, e).is_some_and(|c| c.is_alphanumeric())
            {
                continue;
            }
            push(out, Kind::Ip, s, e);
        }
    }

    fn birth_dates(&self, text: &str, out: &mut Vec<Candidate>) {
        // Context words with where they end and how far a date may follow.
        // "geb." also introduces a maiden name ("Anna Müller geb. Schmidt,
        // Termin am 12.03.2025"): after it only "am" may stand before the
        // date, no capitalised word.
        let contexts: Vec<(usize, usize, bool)> = self
            .dob_before
            .captures_iter(text)
            .filter_map(|c| {
                if let Some(m) = c.get(1) {
                    Some((m.end(), 40, false))
                } else if let Some(m) = c.get(2) {
                    Some((m.end(), 16, false))
                } else if let Some(m) = c.get(3) {
                    Some((m.end(), 3, false))
                } else {
                    c.get(4).map(|m| (m.end(), 12, true))
                }
            })
            .collect();
        let mut previous_date_end = 0;
        for m in self.date.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !number_boundaries(text, s, e) || !date_ok(m.as_str()) {
                previous_date_end = e;
                continue;
            }
            // The nearest context word before the date, after any earlier
            // date (that one would have been the birth date), within its
            // window and without a sentence break in between.
            let idx = contexts.partition_point(|&(end, _, _)| end <= s);
            let before_ok = idx > 0 && {
                let (ctx_end, window, no_capitals) = contexts[idx - 1];
                let gap = &text[ctx_end..s];
                ctx_end >= previous_date_end
                    && s - ctx_end <= window
                    && !sentence_break(gap)
                    && !(no_capitals && gap.chars().any(char::is_uppercase))
            };
            let after_ok = self.dob_after.is_match(&text[e..]);
            if before_ok || after_ok {
                push(out, Kind::BirthDate, s, e);
            }
            previous_date_end = e;
        }
    }
}

fn push(out: &mut Vec<Candidate>, kind: Kind, start: usize, end: usize) {
    out.push(Candidate {
        kind,
        start,
        end,
        canonical: None,
    });
}

/// Runs `re` over `text` and hands each match to `accept`. When a match is
/// rejected, the search resumes one character after its start, so a bad
/// leftmost match does not hide a good one that starts inside it. Patterns
/// used here have bounded length, which keeps this linear in practice.
fn scan(re: &Regex, text: &str, mut accept: impl FnMut(usize, usize) -> bool) {
    let mut pos = 0;
    while pos <= text.len() {
        let Some(m) = re.find_at(text, pos) else {
            break;
        };
        if m.start() < m.end() && accept(m.start(), m.end()) {
            pos = m.end();
        } else {
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
    }
}

pub(crate) fn prev_char(text: &str, at: usize) -> Option<char> {
    text.get(..at).and_then(|t| t.chars().next_back())
}

pub(crate) fn next_char(text: &str, at: usize) -> Option<char> {
    text.get(at..).and_then(|t| t.chars().next())
}

/// Up to `bytes` bytes of `text` before `at`, cut at a character boundary.
pub(crate) fn window_before(text: &str, at: usize, bytes: usize) -> &str {
    let mut from = at.saturating_sub(bytes);
    while from < at && !text.is_char_boundary(from) {
        from += 1;
    }
    text.get(from..at).unwrap_or("")
}

/// Whether a number found at `s..e` stands on its own: no letter or digit
/// touches it, and it is not one group of a longer digit sequence such as
/// "12 4111 …" (a separator with a digit behind it).
fn number_boundaries(text: &str, s: usize, e: usize) -> bool {
    let before = prev_char(text, s);
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '+') {
        return false;
    }
    if let Some(c) = before
        && matches!(c, ' ' | '-' | '.' | '/')
        && prev_char(text, s - c.len_utf8()).is_some_and(|d| d.is_ascii_digit())
    {
        return false;
    }
    let after = next_char(text, e);
    if after.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return false;
    }
    if let Some(c) = after
        && matches!(c, ' ' | '-' | '.' | '/')
        && next_char(text, e + c.len_utf8()).is_some_and(|d| d.is_ascii_digit())
    {
        return false;
    }
    true
}

/// Whether the token at `s..e` is not glued to letters or digits.
fn word_boundaries(text: &str, s: usize, e: usize) -> bool {
    !prev_char(text, s).is_some_and(|c| c.is_alphanumeric())
        && !next_char(text, e).is_some_and(|c| c.is_alphanumeric())
}

/// Shortens a greedy phone match group by group from the right until `ok`
/// accepts it (a phone number followed by another number on the same line).
fn trim_trailing_groups(
    text: &str,
    s: usize,
    mut e: usize,
    ok: impl Fn(&str) -> bool,
) -> Option<(usize, usize)> {
    loop {
        let t = text[s..e].trim_end_matches([' ', '-', '.', '/', '(']);
        e = s + t.len();
        if t.is_empty() {
            return None;
        }
        if ok(t) {
            return Some((s, e));
        }
        let cut = t.rfind([' ', '-', '.', '/'])?;
        if cut == 0 {
            return None;
        }
        e = s + cut;
    }
}

fn parens_balanced(t: &str) -> bool {
    let mut depth = 0i32;
    for c in t.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return false;
        }
    }
    depth == 0
}

/// Separator runs a phone number may contain: one space, dash, dot or slash,
/// or " / " and " - ", and parentheses around the area code or trunk zero.
fn separators_ok(t: &str) -> bool {
    if !parens_balanced(t) {
        return false;
    }
    let mut run = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() || c == '+' {
            if !run.is_empty()
                && !matches!(
                    run.as_str(),
                    " " | "-"
                        | "."
                        | "/"
                        | " / "
                        | " - "
                        | "("
                        | ")"
                        | " ("
                        | ") "
                        | ")-"
                        | "(0)"
                        | " (0) "
                )
            {
                return false;
            }
            run.clear();
        } else {
            run.push(c);
            if run.chars().count() > 5 {
                return false;
            }
        }
    }
    true
}

/// An international number: "+" or "00", country code and subscriber
/// number, 8–15 digits in all (E.164 allows 15), with phone-like separators.
fn intl_phone_ok(t: &str) -> bool {
    // The "(0)" trunk hint in "+49 (0)30 …" is not dialled.
    let dialled = t.replace("(0)", "");
    let mut d = validate::digits(&dialled);
    if t.starts_with("00") {
        d.drain(..2);
    }
    if !(8..=15).contains(&d.len()) {
        return false;
    }
    separators_ok(&dialled)
}

/// A national number with a trunk zero ("030 1234567", "0171/1234567",
/// "(030) 12 34 56", "020 7946 0958"): 9–13 digits including the zero.
fn trunk_phone_ok(t: &str) -> bool {
    let d = validate::digits(t);
    (9..=13).contains(&d.len()) && separators_ok(t) && !t.contains('.')
}

/// Whether a date match names a real day: day 1–31, month 1–12 (either
/// order for slashes, which the US writes month first), year 1900–2099 or
/// two digits.
fn date_ok(t: &str) -> bool {
    let nums: Vec<u32> = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    let year_ok = |y: u32| y < 100 || (1900..=2099).contains(&y);
    let day_ok = |d: u32| (1..=31).contains(&d);
    let month_ok = |m: u32| (1..=12).contains(&m);
    match nums.as_slice() {
        // Written month: the one or two numbers are day and year.
        [d, y] => day_ok(*d) && year_ok(*y),
        [a, b, c] if t.contains('/') => {
            year_ok(*c) && ((day_ok(*a) && month_ok(*b)) || (month_ok(*a) && day_ok(*b)))
        }
        [y, m, d] if *y >= 1900 && t.contains('-') && t.find('-') == Some(4) => {
            month_ok(*m) && day_ok(*d)
        }
        [d, m, y] => day_ok(*d) && month_ok(*m) && year_ok(*y),
        _ => false,
    }
}

/// Whether the text between a context word and a date ends a sentence: a
/// full stop, question or exclamation mark followed by a capital, a
/// semicolon, or an empty line.
fn sentence_break(gap: &str) -> bool {
    if gap.contains(';') || gap.contains("\n\n") || gap.contains('!') || gap.contains('?') {
        return true;
    }
    let mut chars = gap.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '.' {
            let mut saw_space = false;
            while chars.peek().is_some_and(|n| n.is_whitespace()) {
                chars.next();
                saw_space = true;
            }
            if saw_space && chars.peek().is_some_and(|n| n.is_uppercase()) {
                return true;
            }
        }
    }
    false
}
