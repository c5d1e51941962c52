//! Person names: the office's own list ([`KnownNames`], matched with full
//! recall in every spelling the list implies) and other names found by a
//! small local method.
//!
//! Known names are matched as the full name in any case, with umlauts or
//! their transliterations (Jürgen Weiß, Juergen Weiss), reversed ("Schmidt,
//! Anna"), with an initial ("A. Schmidt"), and as the surname after a title
//! (Frau Schmidt, Mr O'Brien, Herrn Dr. Becker); a possessive or German
//! genitive ending stays outside the match ("Anna Schmidt's" → the name).
//!
//! Other names come from an embedded gazetteer of given names
//! (`first_names.txt`) and rules over the word sequence: a title followed
//! by capitalised words; a given name followed by a surname-like word;
//! a given name alone; the word after a greeting, a closing or a label such
//! as "Name:"; "Surname, Given"; a surname before a verb of speech. Given
//! names that are also ordinary words (`ambiguous_names.txt`: Will, Mark,
//! Rose, Frank, May, Ernst, Wolf …) count only with such context, and
//! `not_names.txt` lists capitalised words that never continue a name
//! (German capitalises every noun).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};

use super::detect::{next_char, prev_char};
use super::{Candidate, Kind};

const FIRST_NAMES: &str = include_str!("first_names.txt");
const AMBIGUOUS_NAMES: &str = include_str!("ambiguous_names.txt");
const SURNAMES: &str = include_str!("surnames.txt");
const NOT_NAMES: &str = include_str!("not_names.txt");
const RULE_WORDS: &str = include_str!("rule_words.txt");

/// The word lists of `rule_words.txt`, one set per section.
pub(crate) struct Rules {
    pub titles: HashSet<String>,
    pub sub_titles: HashSet<String>,
    pub particles: HashSet<String>,
    pub after_particle: HashSet<String>,
    pub determiners_en: HashSet<String>,
    pub determiners_de: HashSet<String>,
    pub months: HashSet<String>,
    pub org_words: HashSet<String>,
    pub greetings: HashSet<String>,
    pub verbs_en: HashSet<String>,
    pub verbs_de: HashSet<String>,
    pub participles_de: HashSet<String>,
    pub speech: HashSet<String>,
    pub the_nouns: HashSet<String>,
    pub relations: HashSet<String>,
    pub possessives: HashSet<String>,
    pub place_prepositions: HashSet<String>,
    pub compass: HashSet<String>,
}

impl Rules {
    fn load() -> Self {
        let mut s = load(RULE_WORDS);
        Rules {
            titles: section(&mut s, "titles"),
            sub_titles: section(&mut s, "sub_titles"),
            particles: section(&mut s, "particles"),
            after_particle: section(&mut s, "after_particle"),
            determiners_en: section(&mut s, "determiners_en"),
            determiners_de: section(&mut s, "determiners_de"),
            months: section(&mut s, "months"),
            org_words: section(&mut s, "org_words"),
            greetings: section(&mut s, "greetings"),
            verbs_en: section(&mut s, "verbs_en"),
            verbs_de: section(&mut s, "verbs_de"),
            participles_de: section(&mut s, "participles_de"),
            speech: section(&mut s, "speech"),
            the_nouns: section(&mut s, "the_nouns"),
            relations: section(&mut s, "relations"),
            possessives: section(&mut s, "possessives"),
            place_prepositions: section(&mut s, "place_prepositions"),
            compass: section(&mut s, "compass"),
        }
    }

    /// Every list, by section name (for the test that none is empty).
    #[cfg(test)]
    pub(crate) fn all(&self) -> Vec<(&'static str, &HashSet<String>)> {
        vec![
            ("titles", &self.titles),
            ("sub_titles", &self.sub_titles),
            ("particles", &self.particles),
            ("after_particle", &self.after_particle),
            ("determiners_en", &self.determiners_en),
            ("determiners_de", &self.determiners_de),
            ("months", &self.months),
            ("org_words", &self.org_words),
            ("greetings", &self.greetings),
            ("verbs_en", &self.verbs_en),
            ("verbs_de", &self.verbs_de),
            ("participles_de", &self.participles_de),
            ("speech", &self.speech),
            ("the_nouns", &self.the_nouns),
            ("relations", &self.relations),
            ("possessives", &self.possessives),
            ("place_prepositions", &self.place_prepositions),
            ("compass", &self.compass),
        ]
    }
}

/// Labels after which the following capitalised words are a name.
const LABELS: &str = r"(?i)\b(?:name|full\s+name|patient(?:in)?|patient\s+name|client|customer|kunde|kundin|mandant(?:in)?|contact|kontakt|ansprechpartner(?:in)?|from|to|cc|von|an|attendees|teilnehmer(?:in|innen)?|present|anwesend|witness|zeuge|zeugin|account\s+holder|kontoinhaber(?:in)?|payee|zahlungsempfänger(?:in)?|inhaber(?:in)?|karteninhaber(?:in)?|name\s+on\s+card|cardholder|dependent|child|kind|mother|father|mutter|vater|tenant|mieter(?:in)?|landlord|vermieter(?:in)?|technician|monteur|signed|unterschrift|sender|absender|empfänger|recipient|employee|mitarbeiter(?:in)?|guest|caller|anrufer(?:in)?|requested\s+by|erstellt\s+von|owner|eigentümer(?:in)?|vorname|nachname|surname|first\s+name|last\s+name)\s*:[ \t]*|\b(?:I|Ich),[ \t]+|\b(?:this\s+is|my\s+name\s+is|ich\s+heiße|mein\s+name\s+ist|hier\s+ist|hier\s+spricht)[ \t]+";

/// The embedded word lists and the rules' compiled patterns.
pub(crate) struct Lexicon {
    first: HashSet<String>,
    ambiguous_en: HashSet<String>,
    ambiguous_de: HashSet<String>,
    places: HashSet<String>,
    /// Lower case, without apostrophes ("oneill").
    surnames: HashSet<String>,
    stop: HashSet<String>,
    pub(crate) rules: Rules,
    token: Regex,
    labels: Regex,
}

/// The process-wide lexicon, loaded on first use.
pub(crate) fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(Lexicon::new)
}

/// The lower-cased words of a list file by section: words before any
/// `[section]` line are in section "", `#` lines are comments.
fn load(text: &str) -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let set = out.entry(section.clone()).or_default();
        for w in line.split_whitespace() {
            set.insert(w.to_lowercase());
        }
    }
    out
}

fn section(sets: &mut HashMap<String, HashSet<String>>, name: &str) -> HashSet<String> {
    sets.remove(name).unwrap_or_default()
}

/// A surname as the lexicon stores it: lower case, no apostrophes.
fn surname_key(lower: &str) -> String {
    lower.chars().filter(|c| !matches!(c, '\'' | '’')).collect()
}

fn compile(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => panic!("built-in name pattern does not compile: {e}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// "Anna", "McDonald", "O'Brien", "Meyer-Hoffmann".
    Cap,
    /// "ANNA" (two or more letters, all upper case).
    Upper,
    /// "J" (an initial).
    Initial,
    /// Anything starting in lower case.
    Lower,
}

#[derive(Debug)]
struct Tok {
    start: usize,
    /// End of the token without a possessive "'s".
    end: usize,
    lower: String,
    shape: Shape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    De,
}

impl Lexicon {
    fn new() -> Self {
        let first = section(&mut load(FIRST_NAMES), "");
        let mut ambiguous = load(AMBIGUOUS_NAMES);
        let surnames = section(&mut load(SURNAMES), "")
            .iter()
            .map(|s| surname_key(s))
            .collect();
        let stop = section(&mut load(NOT_NAMES), "");
        Lexicon {
            first,
            ambiguous_en: section(&mut ambiguous, "en"),
            ambiguous_de: section(&mut ambiguous, "de"),
            places: section(&mut ambiguous, "places"),
            surnames,
            stop,
            rules: Rules::load(),
            token: compile(r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+|[-‐][\p{L}\p{M}]+)*"),
            labels: compile(LABELS),
        }
    }

    /// Appends the person names in `text` to `out`.
    pub(crate) fn find_persons(&self, text: &str, out: &mut Vec<Candidate>) {
        let toks = self.tokenize(text);
        if toks.is_empty() {
            return;
        }
        let lang = detect_lang(text, &toks);
        let label_ends: HashSet<usize> = self.labels.find_iter(text).map(|m| m.end()).collect();
        let f = Finder {
            lex: self,
            text,
            toks: &toks,
            lang,
            label_ends,
        };
        let mut taken = vec![false; toks.len()];
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if let Some((a, b)) = f.at(i, &taken) {
                for t in taken.iter_mut().take(b + 1).skip(a) {
                    *t = true;
                }
                spans.push((a, b));
                i = b + 1;
            } else {
                i += 1;
            }
        }
        f.coordinated(&mut taken, &mut spans);
        for (a, b) in spans {
            out.push(Candidate {
                kind: Kind::Person,
                start: toks[a].start,
                end: toks[b].end,
                canonical: None,
            });
        }
    }

    fn tokenize(&self, text: &str) -> Vec<Tok> {
        self.token
            .find_iter(text)
            .map(|m| {
                let t = m.as_str();
                // A possessive stays outside the name: "Smith's" → "Smith".
                let base = t
                    .strip_suffix("'s")
                    .or_else(|| t.strip_suffix("’s"))
                    .filter(|b| !b.is_empty())
                    .unwrap_or(t);
                Tok {
                    start: m.start(),
                    end: m.start() + base.len(),
                    lower: base.to_lowercase(),
                    shape: shape(base),
                }
            })
            .collect()
    }
}

fn shape(t: &str) -> Shape {
    let mut chars = t.chars();
    let Some(first) = chars.next() else {
        return Shape::Lower;
    };
    if !first.is_uppercase() {
        return Shape::Lower;
    }
    let rest: Vec<char> = chars.filter(|c| c.is_alphabetic()).collect();
    if rest.is_empty() {
        Shape::Initial
    } else if rest.iter().all(|c| c.is_uppercase()) {
        Shape::Upper
    } else {
        Shape::Cap
    }
}

/// English or German, by counting frequent function words outside e-mail
/// addresses and links. The rules differ: a capital in the middle of an
/// English sentence hints at a name, in German it only marks a noun.
fn detect_lang(text: &str, toks: &[Tok]) -> Lang {
    const EN: &[&str] = &[
        "the",
        "and",
        "to",
        "of",
        "is",
        "you",
        "please",
        "for",
        "with",
        "this",
        "that",
        "we",
        "i",
        "my",
        "your",
        "be",
        "are",
        "was",
        "on",
        "at",
        "have",
        "has",
        "can",
        "it",
        "he",
        "she",
        "not",
        "from",
        "will",
        "her",
        "his",
        "our",
        "me",
        "us",
        "they",
        "would",
        "could",
        "should",
        "about",
        "thanks",
        "hi",
        "dear",
        "if",
        "do",
        "does",
        "did",
        "what",
        "when",
        "which",
        "there",
        "here",
        "been",
        "into",
        "after",
        "before",
        "yesterday",
        "today",
        "tomorrow",
    ];
    const DE: &[&str] = &[
        "der", "die", "das", "und", "ist", "nicht", "bitte", "für", "mit", "ich", "sie", "wir",
        "den", "dem", "des", "ein", "eine", "einen", "zu", "auf", "von", "hat", "wird", "im", "am",
        "es", "er", "auch", "noch", "kann", "sind", "ihr", "ihre", "unter", "bei", "du", "dass",
        "kannst", "können", "uns", "mir", "mich", "dir", "dich", "ihm", "ihn", "ihnen", "aber",
        "oder", "wenn", "als", "wie", "was", "wer", "nach", "vor", "über", "wegen", "schon",
        "habe", "haben", "war", "wurde", "werden", "heute", "morgen", "gestern", "danke", "hallo",
        "soll", "muss", "möchte", "gibt", "sich", "zum", "zur", "vom", "beim", "ob", "weil",
        "sehr",
    ];
    let (mut en, mut de) = (0, 0);
    for t in toks {
        let before = prev_char(text, t.start);
        let after = next_char(text, t.end);
        if matches!(before, Some('@' | '.' | '/' | '_'))
            || matches!(after, Some('@' | '.' | '/' | '_'))
        {
            continue;
        }
        if EN.contains(&t.lower.as_str()) {
            en += 1;
        }
        if DE.contains(&t.lower.as_str()) {
            de += 1;
        }
    }
    if de > en { Lang::De } else { Lang::En }
}

/// Whether the text between two tokens joins them into one name: spaces
/// only, or the dot of an initial or abbreviation followed by spaces.
fn is_name_gap(g: &str) -> bool {
    let g = g.strip_prefix('.').unwrap_or(g);
    !g.is_empty() && g.chars().all(|c| c == ' ' || c == '\t' || c == '\u{a0}')
}

struct Finder<'a, 't> {
    lex: &'a Lexicon,
    text: &'t str,
    toks: &'a [Tok],
    lang: Lang,
    label_ends: HashSet<usize>,
}

impl Finder<'_, '_> {
    /// The text between token `a` and token `b` (a < b).
    fn gap(&self, a: usize, b: usize) -> &str {
        self.text
            .get(self.toks[a].end..self.toks[b].start)
            .unwrap_or("")
    }

    fn lower(&self, i: usize) -> &str {
        &self.toks[i].lower
    }

    fn is_cap(&self, i: usize) -> bool {
        matches!(self.toks[i].shape, Shape::Cap | Shape::Upper)
    }

    fn is_stop(&self, i: usize) -> bool {
        let l = self.lower(i);
        self.lex.stop.contains(l) || l.split(['-', '‐']).any(|p| self.lex.stop.contains(p))
    }

    fn is_surname_listed(&self, i: usize) -> bool {
        self.lex.surnames.contains(&surname_key(self.lower(i)))
    }

    fn is_title(&self, i: usize) -> bool {
        let l = self.lower(i);
        if !self.lex.rules.titles.contains(l) {
            return false;
        }
        match self.toks[i].shape {
            Shape::Cap => true,
            // Typed in lower case ("mr smith"), but not "200 ms." or "5 dr".
            Shape::Lower => {
                matches!(l, "mr" | "mrs" | "dr" | "herr" | "frau")
                    && !self.text[..self.toks[i].start]
                        .trim_end()
                        .ends_with(|c: char| c.is_ascii_digit())
            }
            // "MR SMITH" in an all-caps line, but not "MS Windows".
            Shape::Upper => self
                .toks
                .get(i + 1)
                .is_some_and(|n| n.shape == Shape::Upper || n.lower == "."),
            Shape::Initial => false,
        }
    }

    /// A given name in any list: plain, or a word-like name of either
    /// language, or a place-like name.
    fn in_any_given_list(&self, l: &str) -> bool {
        self.lex.first.contains(l)
            || self.lex.ambiguous_en.contains(l)
            || self.lex.ambiguous_de.contains(l)
            || self.lex.places.contains(l)
    }

    /// A given name from the gazetteer: the word itself, all parts of a
    /// hyphenated name ("Hans-Peter"), or a German genitive ("Annas").
    fn is_given(&self, i: usize) -> bool {
        let l = self.lower(i);
        if self.in_any_given_list(l) {
            return true;
        }
        if l.contains(['-', '‐']) {
            return l.split(['-', '‐']).all(|p| self.in_any_given_list(p));
        }
        l.strip_suffix('s')
            .is_some_and(|stem| stem.chars().count() >= 3 && self.lex.first.contains(stem))
    }

    /// A given name that is also a word in this text's language, or a place.
    fn is_ambiguous(&self, i: usize) -> bool {
        let l = self.lower(i);
        let words = match self.lang {
            Lang::En => &self.lex.ambiguous_en,
            Lang::De => &self.lex.ambiguous_de,
        };
        words.contains(l) || self.lex.places.contains(l)
    }

    fn determiners(&self) -> &HashSet<String> {
        match self.lang {
            Lang::En => &self.lex.rules.determiners_en,
            Lang::De => &self.lex.rules.determiners_de,
        }
    }

    fn after_determiner(&self, i: usize) -> bool {
        // English "an" only stands before a vowel; before a consonant it is
        // the German preposition ("an Theresa Popescu").
        if i > 0
            && self.lower(i - 1) == "an"
            && !self.lower(i).starts_with(['a', 'e', 'i', 'o', 'u'])
        {
            return false;
        }
        self.prev_is(i, self.determiners())
    }

    /// A lower-case surname particle. Article-like ones ("der", "la") only
    /// after another particle ("van der Berg", "de la Cruz"), so that "Art
    /// der Ausrichtung" is not read as a name.
    fn is_particle(&self, i: usize) -> bool {
        if self.toks[i].shape != Shape::Lower || !self.lex.rules.particles.contains(self.lower(i)) {
            return false;
        }
        !self.lex.rules.after_particle.contains(self.lower(i))
            || (i > 0
                && self.lex.rules.particles.contains(self.lower(i - 1))
                && !self.lex.rules.after_particle.contains(self.lower(i - 1)))
    }

    /// A word that can be (part of) a surname: capitalised, not a title and
    /// not on the list of words that are never names.
    fn is_surname_like(&self, i: usize) -> bool {
        self.is_cap(i) && !self.is_stop(i) && !self.is_title(i)
    }

    fn is_org_word(&self, i: usize) -> bool {
        self.is_cap(i) && self.lex.rules.org_words.contains(self.lower(i))
    }

    /// Whether the capital of token `i` is forced by position: start of the
    /// text, of a line, or after sentence punctuation.
    fn sentence_start(&self, i: usize) -> bool {
        let before = self.text[..self.toks[i].start].trim_end_matches([' ', '\t', '\u{a0}']);
        match before.chars().next_back() {
            None => true,
            Some(c) => matches!(
                c,
                '.' | '!'
                    | '?'
                    | ':'
                    | ';'
                    | '\n'
                    | '"'
                    | '„'
                    | '“'
                    | '”'
                    | '('
                    | '['
                    | '-'
                    | '–'
                    | '—'
                    | '•'
                    | '*'
                    | '>'
                    | '|'
                    | '\''
            ),
        }
    }

    fn prev_is(&self, i: usize, words: &HashSet<String>) -> bool {
        i > 0 && words.contains(self.lower(i - 1)) && !self.gap(i - 1, i).contains('\n')
    }

    /// A greeting or closing before token `i`, on the same line or the line
    /// before ("Viele Grüße\nAnna", "Thanks, Will", "Dear Rose,").
    fn after_greeting(&self, i: usize) -> bool {
        if i == 0 {
            return false;
        }
        let g = self.gap(i - 1, i);
        let g_ok = g.chars().all(|c| c.is_whitespace() || c == ',' || c == '!')
            && g.matches('\n').count() <= 2;
        if !g_ok {
            return false;
        }
        let p = self.lower(i - 1);
        if self.lex.rules.greetings.contains(p) {
            return true;
        }
        // "Thank you, Will".
        p == "you" && i >= 2 && self.lower(i - 2) == "thank"
    }

    fn after_label(&self, i: usize) -> bool {
        self.label_ends.contains(&self.toks[i].start)
    }

    /// "his wife Funmi", "meine Tochter Lea".
    fn after_relation(&self, i: usize) -> bool {
        i >= 2
            && self.lex.rules.relations.contains(self.lower(i - 1))
            && self.lex.rules.possessives.contains(self.lower(i - 2))
            && is_name_gap(self.gap(i - 1, i))
            && is_name_gap(self.gap(i - 2, i - 1))
    }

    /// The parties of a case citation: "Johnson v. Whitmore", "Müller ./.
    /// Schmidt" (the German rubrum). Each party is
    /// found when the scan reaches it.
    fn case_parties(&self, i: usize) -> Option<(usize, usize)> {
        if self.toks[i].shape != Shape::Cap || !self.is_surname_like(i) {
            return None;
        }
        let party = |j: usize| self.toks[j].shape == Shape::Cap && self.is_surname_like(j);
        let word_sep = |j: usize| matches!(self.lower(j), "v" | "vs");
        let n = self.toks.len();
        // "v." and "vs." with their dot: "Basic vs Extended" is no case.
        let dotted = |j: usize| next_char(self.text, self.toks[j].end) == Some('.');
        // Party before the separator.
        if i + 1 < n && self.gap(i, i + 1) == " ./. " && party(i + 1) {
            return Some((i, i));
        }
        if i + 2 < n
            && word_sep(i + 1)
            && dotted(i + 1)
            && is_name_gap(self.gap(i, i + 1))
            && is_name_gap(self.gap(i + 1, i + 2))
            && party(i + 2)
        {
            return Some((i, i));
        }
        // Party after it.
        if i >= 1 && self.gap(i - 1, i) == " ./. " && party(i - 1) {
            return Some((i, i));
        }
        if i >= 2
            && word_sep(i - 1)
            && dotted(i - 1)
            && is_name_gap(self.gap(i - 2, i - 1))
            && is_name_gap(self.gap(i - 1, i))
            && party(i - 2)
        {
            return Some((i, i));
        }
        None
    }

    /// A German perfect after token `b`: "X hat (heute zweimal) angerufen",
    /// the participle within the clause.
    fn german_perfect_after(&self, b: usize) -> bool {
        let n = b + 1;
        if n >= self.toks.len()
            || !is_name_gap(self.gap(b, n))
            || !matches!(self.lower(n), "hat" | "hatte")
        {
            return false;
        }
        let mut j = n + 1;
        while j < self.toks.len() && j <= n + 8 {
            if self
                .gap(j - 1, j)
                .contains(['.', ',', ';', ':', '!', '?', '\n'])
            {
                break;
            }
            if self.lex.rules.participles_de.contains(self.lower(j)) {
                return true;
            }
            j += 1;
        }
        false
    }

    /// A verb of speech after the name ending at token `b`.
    fn verb_after(&self, b: usize) -> bool {
        let n = b + 1;
        if n >= self.toks.len() || !is_name_gap(self.gap(b, n)) {
            return false;
        }
        let v = self.lower(n);
        self.lex.rules.verbs_en.contains(v)
            || self.lex.rules.verbs_de.contains(v)
            || self.german_perfect_after(b)
    }

    /// Whether the name ending at token `b` runs into a business or place
    /// word, or into "&" ("Harper & Cole").
    fn followed_by_org(&self, b: usize) -> bool {
        let n = b + 1;
        let amp = self.text[self.toks[b].end..]
            .trim_start_matches([' ', '\t'])
            .starts_with('&');
        amp || (n < self.toks.len() && is_name_gap(self.gap(b, n)) && self.is_org_word(n))
    }

    fn preceded_by_amp_or_saint(&self, i: usize) -> bool {
        let before = self.text[..self.toks[i].start].trim_end_matches([' ', '\t']);
        if before.ends_with('&') {
            return true;
        }
        i > 0
            && matches!(
                self.lower(i - 1),
                "st" | "saint" | "sankt" | "san" | "santa"
            )
            && is_name_gap(self.gap(i - 1, i))
    }

    /// The name found starting at token `i`, as an inclusive token range.
    fn at(&self, i: usize, taken: &[bool]) -> Option<(usize, usize)> {
        if taken[i] {
            return None;
        }
        if self.is_title(i) {
            return self.after_title(i);
        }
        if (self.after_label(i) || self.after_greeting(i) || self.after_relation(i))
            && self.is_surname_like(i)
            && let Some(r) = self.loose_run(i)
        {
            return Some(r);
        }
        self.given_first(i)
            .or_else(|| self.case_parties(i))
            .or_else(|| self.reversed(i))
            .or_else(|| self.surname_with_verb(i))
            .or_else(|| self.cap_with_listed_surname(i))
            .or_else(|| self.the_surname_noun(i))
            .or_else(|| self.lower_case_name(i))
    }

    /// Title (or chain of titles, "Frau Dr. med.") then name words. The
    /// title itself stays in the text: "Frau [PERSON_1]".
    fn after_title(&self, i: usize) -> Option<(usize, usize)> {
        // At most four titles in a chain ("Herr Prof. Dr. med."): a longer
        // run is no form of address, and the bound keeps the scan linear.
        let mut j = i;
        while j + 1 < self.toks.len()
            && j < i + 4
            && is_name_gap(self.gap(j, j + 1))
            && (self.is_title(j + 1) || self.lex.rules.sub_titles.contains(self.lower(j + 1)))
        {
            j += 1;
        }
        let start = j + 1;
        if start >= self.toks.len() || !is_name_gap(self.gap(j, start)) {
            return None;
        }
        self.name_run(start, 4)
    }

    /// Up to `max` name words from `i`: capitalised words, initials and
    /// particles, joined by spaces, ending in a capitalised word.
    fn name_run(&self, i: usize, max: usize) -> Option<(usize, usize)> {
        let mut last = None;
        let mut j = i;
        let mut words = 0;
        while j < self.toks.len() && words < max {
            if j > i && !is_name_gap(self.gap(j - 1, j)) {
                break;
            }
            let t = &self.toks[j];
            if t.shape == Shape::Initial {
                // "J. Smith": an initial needs its dot and a following word.
                if next_char(self.text, t.end) != Some('.') {
                    break;
                }
            } else if self.is_particle(j) {
                // Particles only inside a name, never at its end.
            } else if self.is_org_word(j) {
                return None;
            } else if self.is_surname_like(j) {
                last = Some(j);
            } else {
                break;
            }
            words += 1;
            j += 1;
        }
        let b = last?;
        if self.followed_by_org(b) {
            return None;
        }
        Some((i, b))
    }

    /// After a label ("Name:") or a greeting: one to three capitalised
    /// words, known or not.
    fn loose_run(&self, i: usize) -> Option<(usize, usize)> {
        let (a, b) = self.name_run(i, 3)?;
        if a == b && self.toks[a].shape == Shape::Upper {
            return None;
        }
        Some((a, b))
    }

    /// A given name, optionally followed by more given names, initials,
    /// particles and a surname.
    fn given_first(&self, i: usize) -> Option<(usize, usize)> {
        let t = &self.toks[i];
        if !matches!(t.shape, Shape::Cap | Shape::Upper) || !self.is_given(i) {
            return None;
        }
        let ambiguous = self.is_ambiguous(i);
        if (self.is_stop(i) && !ambiguous) || self.preceded_by_amp_or_saint(i) {
            return None;
        }
        let after_det = self.after_determiner(i);
        // Extend over further given names, initials, particles and the
        // surname.
        let mut b = i;
        let mut j = i + 1;
        let mut surname = None;
        while j < self.toks.len() && j <= i + 4 {
            if !is_name_gap(self.gap(j - 1, j)) {
                break;
            }
            let tj = &self.toks[j];
            if tj.shape == Shape::Initial && next_char(self.text, tj.end) == Some('.') {
                j += 1;
                continue;
            }
            if self.is_org_word(j) {
                break;
            }
            // A word-like given name takes no particle: "Art von Dateien".
            if self.is_particle(j) && !ambiguous {
                j += 1;
                continue;
            }
            if self.is_surname_like(j) && (tj.shape == t.shape || t.shape == Shape::Cap) {
                b = j;
                surname = Some(j);
                // A second given name ("Anna Maria Schmidt") continues;
                // anything else ends the name.
                if self.is_given(j) && !self.is_ambiguous(j) {
                    j += 1;
                    continue;
                }
            }
            break;
        }
        if let Some(s) = surname {
            if (after_det && (ambiguous || self.lang == Lang::En)) || self.followed_by_org(s) {
                return None;
            }
            if t.shape == Shape::Upper && self.toks[s].shape != Shape::Upper {
                return None;
            }
            if ambiguous && !self.ambiguous_pair_ok(i, s) {
                return None;
            }
            return Some((i, b));
        }
        // A given name alone.
        if t.shape == Shape::Upper || self.followed_by_org(i) {
            return None;
        }
        if ambiguous {
            return self.ambiguous_alone_ok(i).then_some((i, i));
        }
        if after_det && self.lang == Lang::En {
            return None;
        }
        Some((i, i))
    }

    /// An ambiguous given name with a surname-like word after it ("Will
    /// Turner"); a place-like one needs more ("Victoria Station" is stopped
    /// by the business words, "Austin Healey" by this).
    fn ambiguous_pair_ok(&self, i: usize, s: usize) -> bool {
        // "Nur GTK-GUI": an all-caps word after a capitalised one is no
        // surname; "HEATHER WOOD" in capitals throughout is a name.
        let (a, b) = (self.toks[i].shape, self.toks[s].shape);
        if !(b == Shape::Cap || (a == Shape::Upper && b == Shape::Upper)) {
            return false;
        }
        // A place name, in German any word-like name ("Nur", "Art", "Mark"),
        // and in English one that starts a sentence ("Happy Eyeballs is …"),
        // before a capitalised word is usually a word before a noun; it
        // needs a listed surname or context.
        let plain_given = self.is_given(s) && !self.is_ambiguous(s);
        if (self.lex.places.contains(self.lower(i))
            || self.lang == Lang::De
            || self.sentence_start(i))
            && !self.is_surname_listed(s)
            && !plain_given
        {
            return self.context_for_ambiguous(i, s);
        }
        !self.lex.rules.months.contains(self.lower(i))
            || self.is_surname_listed(s)
            || self.is_given(s)
    }

    /// An ambiguous given name standing alone needs context.
    fn ambiguous_alone_ok(&self, i: usize) -> bool {
        if self.toks[i].shape != Shape::Cap {
            return false;
        }
        if self.context_for_ambiguous(i, i) {
            return true;
        }
        // In English, a capital in the middle of a sentence marks a name,
        // unless an article, a month position or a place preposition
        // explains it.
        let l = self.lower(i);
        if self.lang != Lang::En || self.lex.rules.months.contains(l) || self.sentence_start(i) {
            return false;
        }
        if self.after_determiner(i) || self.followed_by_digit(i) {
            return false;
        }
        // In a Title Case heading every word has a capital ("Home Page");
        // a capitalised verb or function word before it ("Tell Frank") is
        // no heading.
        if i > 0
            && self.toks[i - 1].shape != Shape::Lower
            && !self.is_stop(i - 1)
            && is_name_gap(self.gap(i - 1, i))
        {
            return false;
        }
        if self.lex.places.contains(l) {
            if self.prev_is(i, &self.lex.rules.compass) {
                return false;
            }
            if self.prev_is(i, &self.lex.rules.place_prepositions) {
                return false;
            }
            // "Austin, Texas".
            let rest = self.text[self.toks[i].end..].trim_start_matches(' ');
            if let Some(r) = rest.strip_prefix(',')
                && r.trim_start().starts_with(char::is_uppercase)
            {
                return false;
            }
        }
        true
    }

    fn followed_by_digit(&self, i: usize) -> bool {
        self.text[self.toks[i].end..]
            .trim_start_matches([' ', '.', ','])
            .starts_with(|c: char| c.is_ascii_digit())
    }

    /// Greeting or label before, or a verb of speech after the name `i..=b`.
    fn context_for_ambiguous(&self, i: usize, b: usize) -> bool {
        self.after_greeting(i) || self.after_label(i) || self.verb_after(b)
    }

    /// "Smith, John": a surname-like word, a comma, a given name, in a
    /// list or with a listed surname.
    fn reversed(&self, i: usize) -> Option<(usize, usize)> {
        let n = i + 1;
        if n >= self.toks.len() || self.toks[i].shape != Shape::Cap || !self.is_surname_like(i) {
            return None;
        }
        if self.gap(i, n) != ", " || self.toks[n].shape != Shape::Cap || !self.is_given(n) {
            return None;
        }
        if self.followed_by_digit(n) {
            return None;
        }
        let list_before = self.text[..self.toks[i].start]
            .trim_end_matches([' ', '\t'])
            .chars()
            .next_back()
            .is_some_and(|c| matches!(c, ':' | ';' | ',' | '(' | '\n'));
        if !(self.is_surname_listed(i) || list_before) {
            return None;
        }
        // "Smith, John Paul" keeps the second given name.
        let mut b = n;
        if b + 1 < self.toks.len() && is_name_gap(self.gap(b, b + 1)) && self.is_given(b + 1) {
            b += 1;
        }
        Some((i, b))
    }

    /// "Smith called again", "Kowalczyk hat … angerufen".
    fn surname_with_verb(&self, i: usize) -> Option<(usize, usize)> {
        if self.toks[i].shape != Shape::Cap || self.is_stop(i) || self.is_title(i) {
            return None;
        }
        if self.is_surname_listed(i) && self.verb_after(i) {
            return Some((i, i));
        }
        let n = i + 1;
        let speech = n < self.toks.len()
            && is_name_gap(self.gap(i, n))
            && self.lex.rules.speech.contains(self.lower(n));
        let plural_of_stop = self
            .lower(i)
            .strip_suffix(['s', 'n'])
            .is_some_and(|stem| self.lex.stop.contains(stem));
        // "Having said that": a gerund, not a name.
        let gerund = self.lower(i).ends_with("ing");
        if (speech || self.german_perfect_after(i))
            && !plural_of_stop
            && !gerund
            && !self.after_determiner(i)
            && !self.prev_is(i, &self.lex.rules.determiners_de)
        {
            return Some((i, i));
        }
        None
    }

    /// "… for Ambrose White": in English, a capitalised word in mid-sentence
    /// followed by a listed surname.
    fn cap_with_listed_surname(&self, i: usize) -> Option<(usize, usize)> {
        let n = i + 1;
        if self.lang != Lang::En || n >= self.toks.len() {
            return None;
        }
        if self.toks[i].shape != Shape::Cap || !self.is_surname_like(i) || self.sentence_start(i) {
            return None;
        }
        if self.after_determiner(i) || !is_name_gap(self.gap(i, n)) {
            return None;
        }
        if self.toks[n].shape != Shape::Cap || !self.is_surname_listed(n) || self.is_stop(n) {
            return None;
        }
        if self.followed_by_org(n) {
            return None;
        }
        Some((i, n))
    }

    /// "the Miller house", "the de Vries property".
    fn the_surname_noun(&self, i: usize) -> Option<(usize, usize)> {
        let mut j = i;
        while j < self.toks.len() && self.is_particle(j) {
            j += 1;
        }
        if !(i > 0 && self.lower(i - 1) == "the" && !self.gap(i - 1, i).contains('\n'))
            || j >= self.toks.len()
            || self.toks[j].shape != Shape::Cap
        {
            return None;
        }
        if !self.is_surname_like(j) {
            return None;
        }
        let n = j + 1;
        if n < self.toks.len()
            && is_name_gap(self.gap(j, n))
            && self.lex.rules.the_nouns.contains(self.lower(n))
        {
            return Some((i, j));
        }
        None
    }

    /// "john smith" typed in lower case: a given name from the gazetteer
    /// followed by a listed surname.
    fn lower_case_name(&self, i: usize) -> Option<(usize, usize)> {
        let n = i + 1;
        if n >= self.toks.len() || self.toks[i].shape != Shape::Lower {
            return None;
        }
        let (a, b) = (self.lower(i), self.lower(n));
        if a.chars().count() < 4 || b.chars().count() < 3 || !is_name_gap(self.gap(i, n)) {
            return None;
        }
        if self.toks[n].shape != Shape::Lower
            || self.lex.stop.contains(a)
            || self.lex.stop.contains(b)
        {
            return None;
        }
        (self.lex.first.contains(a) && self.is_surname_listed(n)).then_some((i, n))
    }

    /// Names joined to a found person by a list ("Anna and Frank", "Catherine
    /// Murphy and Percival Featherstone"): an ambiguous given name, or one
    /// or two capitalised words, take the person context of their neighbour.
    fn coordinated(&self, taken: &mut [bool], spans: &mut Vec<(usize, usize)>) {
        let n = self.toks.len();
        let mut extra = Vec::new();
        for &(a, b) in spans.iter() {
            // Right of the span: ", X" or " and X".
            let mut j = b + 1;
            if j < n && ["and", "und", "or", "oder"].contains(&self.lower(j)) {
                if !is_name_gap(self.gap(b, j)) {
                    continue;
                }
                j += 1;
                if j < n && !is_name_gap(self.gap(j - 1, j)) {
                    continue;
                }
            } else if j < n && self.gap(b, j) != ", " {
                j = n;
            }
            if j < n
                && let Some(r) = self.listed_name(j, taken)
            {
                extra.push(r);
            }
            // Left of the span: "X and <span>", "X, <span>".
            if a >= 2
                && ["and", "und", "or", "oder"].contains(&self.lower(a - 1))
                && is_name_gap(self.gap(a - 1, a))
                && is_name_gap(self.gap(a - 2, a - 1))
                && let Some(r) = self.listed_name(a - 2, taken).filter(|r| r.1 == a - 2)
            {
                extra.push(r);
            }
        }
        for (a, b) in extra {
            if (a..=b).all(|k| !taken[k]) {
                for t in taken.iter_mut().take(b + 1).skip(a) {
                    *t = true;
                }
                spans.push((a, b));
            }
        }
    }

    /// A name in a list next to a person: an ambiguous given name alone, or
    /// two capitalised name-like words.
    fn listed_name(&self, j: usize, taken: &[bool]) -> Option<(usize, usize)> {
        if taken[j] || self.toks[j].shape != Shape::Cap || !self.is_surname_like(j) {
            return None;
        }
        if self.lex.rules.months.contains(self.lower(j)) || self.followed_by_digit(j) {
            return None;
        }
        let k = j + 1;
        if k < self.toks.len()
            && !taken[k]
            && is_name_gap(self.gap(j, k))
            && self.toks[k].shape == Shape::Cap
            && self.is_surname_like(k)
            && !self.followed_by_org(k)
        {
            return Some((j, k));
        }
        if self.is_ambiguous(j) || self.is_given(j) {
            return Some((j, j));
        }
        None
    }
}

/// The office's own people: staff, customers, clients. Every mention in the
/// forms described in the module documentation is found, and all forms of
/// one person share one placeholder.
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    names: Vec<String>,
    by_full: HashMap<String, usize>,
    by_surname: HashMap<String, Vec<usize>>,
    by_first: HashMap<String, Vec<usize>>,
    regexes: Vec<Regex>,
}

impl KnownNames {
    /// The known people, by full name ("Anna Schmidt", "Tom O'Brien").
    /// Entries with fewer than two letters are ignored; a single word is
    /// matched on its own, in its listed case or in capitals.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut k = KnownNames::default();
        for n in names {
            let n = n.as_ref().split_whitespace().collect::<Vec<_>>().join(" ");
            // A name needs letters: "-" or "A" would match all over a text.
            if n.chars().filter(|c| c.is_alphabetic()).count() < 2
                || k.by_full.contains_key(&fold(&n))
            {
                continue;
            }
            let idx = k.names.len();
            k.by_full.insert(fold(&n), idx);
            if let Some((first, surname)) = n.split_once(' ') {
                k.by_full.insert(fold(&format!("{surname} {first}")), idx);
                k.by_surname.entry(fold(surname)).or_default().push(idx);
                // "Frau Berg" for "Maria van der Berg".
                if let Some(last) = surname.rsplit(' ').next()
                    && last != surname
                {
                    k.by_surname.entry(fold(last)).or_default().push(idx);
                }
                k.by_first
                    .entry(fold(&first.chars().take(1).collect::<String>()))
                    .or_default()
                    .push(idx);
            }
            k.names.push(n);
        }
        k.regexes = build_regexes(&k.names);
        k
    }

    /// The names as given (whitespace normalised, duplicates dropped).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Appends every mention of a known name in `text` to `out`.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        for re in &self.regexes {
            for caps in re.captures_iter(text) {
                let Some(whole) = caps.get(0) else { continue };
                // The match must not run on into a word or a double name
                // ("Frau Wolf-Schneider" is someone else).
                let after = next_char(text, whole.end());
                if after.is_some_and(|c| c.is_alphanumeric())
                    || (after == Some('-')
                        && next_char(text, whole.end() + 1).is_some_and(char::is_alphabetic))
                {
                    continue;
                }
                if prev_char(text, whole.start()).is_some_and(|c| c.is_alphanumeric()) {
                    continue;
                }
                let (m, how) = if let Some(m) = caps.name("full") {
                    (m, How::Full)
                } else if let Some(m) = caps.name("titled") {
                    (m, How::Titled)
                } else if let Some(m) = caps.name("initial") {
                    (m, How::Initial)
                } else if let Some(m) = caps.name("single") {
                    (m, How::Full)
                } else {
                    continue;
                };
                let canonical = self.identify(m.as_str(), how);
                out.push(Candidate {
                    kind: Kind::KnownName,
                    start: m.start(),
                    end: m.end(),
                    canonical,
                });
            }
        }
    }

    /// The listed form of the person a match refers to, when it is one
    /// person; `None` when a surname is shared by several known people
    /// (then the surname gets its own placeholder).
    fn identify(&self, matched: &str, how: How) -> Option<String> {
        let f = fold(matched);
        if let Some(&i) = self.by_full.get(&f) {
            return self.names.get(i).cloned();
        }
        let surname = match how {
            How::Initial => f.split_once(' ').map_or(f.as_str(), |(_, s)| s).to_string(),
            _ => f.clone(),
        };
        let hits = self.by_surname.get(&surname)?;
        let mut unique: Vec<usize> = hits.clone();
        unique.dedup();
        if how == How::Initial {
            let initial: String = f.chars().take(1).collect();
            unique.retain(|i| self.by_first.get(&initial).is_some_and(|v| v.contains(i)));
        }
        match unique.as_slice() {
            [one] => self.names.get(*one).cloned(),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Full,
    Titled,
    Initial,
}

/// Case-folds a name and maps its spelling variants together: umlauts and
/// their transliterations (ü, ue, u), ß and ss, accents, apostrophes, and
/// hyphens as spaces. Used to recognise which known person a match is.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'á' | 'à' | 'â' | 'ã' | 'å' => out.push('a'),
            'ö' | 'ó' | 'ò' | 'ô' | 'õ' | 'ø' => out.push('o'),
            'ü' | 'ú' | 'ù' | 'û' => out.push('u'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'í' | 'ì' | 'î' | 'ï' | 'ı' => out.push('i'),
            'ß' => out.push_str("ss"),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ş' | 'ś' | 'š' => out.push('s'),
            'ł' => out.push('l'),
            'ñ' | 'ń' => out.push('n'),
            'ž' | 'ź' | 'ż' => out.push('z'),
            'ğ' => out.push('g'),
            '\'' | '’' | '`' | '´' | '.' | ',' => {}
            '-' | '‐' | '‑' => out.push(' '),
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    let out = out.trim_end().to_string();
    // Transliterated umlauts fold like the umlauts themselves.
    out.replace("ae", "a").replace("oe", "o").replace("ue", "u")
}

/// The regex alternative for one character of a known name.
fn char_pattern(c: char, out: &mut String) {
    let alt = match c.to_lowercase().next().unwrap_or(c) {
        'ä' => "(?:ä|ae|a)",
        'ö' => "(?:ö|oe|o)",
        'ü' => "(?:ü|ue|u)",
        'ß' => "(?:ß|ss)",
        'é' | 'è' | 'ê' => "(?:[éèê]|e)",
        'á' | 'à' | 'â' => "(?:[áàâ]|a)",
        'ó' | 'ò' | 'ô' => "(?:[óòô]|o)",
        'í' | 'ì' | 'î' | 'ı' => "(?:[íìîı]|i)",
        'ç' => "(?:ç|c)",
        'ş' => "(?:ş|s)",
        'ś' => "(?:ś|s)",
        'ł' => "(?:ł|l)",
        'ñ' => "(?:ñ|n)",
        'ğ' => "(?:ğ|g)",
        '\'' | '’' | '`' | '´' => "['’`´]?",
        '-' | '‐' | '‑' => r"(?:[-‐‑]\s*|\s+)",
        c if c.is_whitespace() => r"\s+",
        _ => {
            out.push_str(&regex::escape(&c.to_string()));
            return;
        }
    };
    out.push_str(alt);
}

fn name_pattern(name: &str) -> String {
    let mut p = String::new();
    for c in name.chars() {
        char_pattern(c, &mut p);
    }
    p
}

/// Builds the known-name regexes, a chunk of names per regex so that a long
/// list stays under the compiled-size limit; a chunk that still does not
/// compile is split in half until single names remain.
fn build_regexes(names: &[String]) -> Vec<Regex> {
    let mut out = Vec::new();
    for chunk in names.chunks(64) {
        build_chunk(chunk, &mut out);
    }
    out
}

fn build_chunk(names: &[String], out: &mut Vec<Regex>) {
    if names.is_empty() {
        return;
    }
    let mut full = Vec::new();
    let mut titled = Vec::new();
    let mut initial = Vec::new();
    let mut single = Vec::new();
    for n in names {
        match n.split_once(' ') {
            Some((first, surname)) => {
                let (fp, sp) = (name_pattern(first), name_pattern(surname));
                full.push(format!("{fp}\\s+{sp}"));
                full.push(format!("{sp},\\s*{fp}"));
                titled.push(format!("(?:{fp}\\s+)?{sp}"));
                if let Some(last) = surname.rsplit(' ').next()
                    && last != surname
                {
                    titled.push(name_pattern(last));
                }
                if let Some(c) = first.chars().next().filter(|c| c.is_uppercase()) {
                    initial.push(format!(
                        "(?-i:{})\\.\\s?{sp}",
                        regex::escape(&c.to_string())
                    ));
                }
            }
            None => single.push(format!(
                "(?-i:{}|{})",
                name_pattern(n),
                name_pattern(&n.to_uppercase())
            )),
        }
    }
    // Longer alternatives first: the regex takes the first alternative that
    // matches, and "Anna Maria Schmidt" must win over "Anna Maria".
    for v in [&mut full, &mut titled, &mut initial, &mut single] {
        v.sort_by_key(|p| std::cmp::Reverse(p.len()));
        v.dedup();
    }
    let join = |v: &[String]| {
        if v.is_empty() {
            // A group that never matches keeps the pattern's shape fixed.
            "[^\\s\\S]".to_string()
        } else {
            v.join("|")
        }
    };
    // Sorted so that the pattern, and so the compiled regex, is the same
    // on every run.
    let rules = &lexicon().rules;
    let mut titles: Vec<String> = rules
        .titles
        .iter()
        .chain(&rules.sub_titles)
        .map(|t| regex::escape(t))
        .collect();
    titles.sort();
    let titles = titles.join("|");
    let pattern = format!(
        r"(?i)\b(?:(?P<full>{})|(?:(?:{titles})\.?\s+){{1,4}}(?P<titled>{})|(?P<initial>{})|(?P<single>{}))(?:['’]s|['’]|s)?",
        join(&full),
        join(&titled),
        join(&initial),
        join(&single),
    );
    match RegexBuilder::new(&pattern).size_limit(32 << 20).build() {
        Ok(r) => out.push(r),
        Err(_) if names.len() > 1 => {
            let (a, b) = names.split_at(names.len() / 2);
            build_chunk(a, out);
            build_chunk(b, out);
        }
        // A single name that cannot compile is dropped rather than failing
        // the redactor; the names are user data and are escaped, so this
        // only happens for names far beyond any real length.
        Err(_) => {}
    }
}
