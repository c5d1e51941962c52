//! British and American spellings as one word: a token filter that rewrites
//! "sterilisation", "colour", "centre", "analyse", "paediatric" and
//! "programme" to "sterilization", "color", "center", "analyze", "pediatric"
//! and "program" before stemming, at index and at query time alike, so that
//! a search in either spelling finds both.
//!
//! English only (other languages pass through untouched). The rules are
//! suffix families (-isation/-ise/-iser..., -our, -tre/-bre/-gre, -yse) and
//! the ae/oe of medical and classical words, each guarded: a rule rewrites a
//! word only when what stays before the suffix is long enough and is not the
//! start of a word that merely ends the same way ("wise", "rise",
//! "precise", "advertise", "four", "hour", "hatred"). Irregular pairs
//! ("programme", "licence", "travelled") are a table. A word that no rule
//! is sure of is left alone: a missed variant costs one search, a wrong
//! rewrite joins two different words forever.
//!
//! Only the stemmed analyser uses this filter; the exact field (quoted
//! phrases, `prefix*`) keeps what was written.

use tantivy::tokenizer::{Language, Token, TokenFilter, TokenStream, Tokenizer};

/// Rewrites British spellings to American ones in English text; see the
/// module comment. For other languages it changes nothing.
#[derive(Clone, Copy, Debug)]
pub(super) struct SpellingFilter {
    enabled: bool,
}

impl SpellingFilter {
    pub(super) fn for_language(language: Language) -> SpellingFilter {
        SpellingFilter {
            enabled: language == Language::English,
        }
    }
}

impl TokenFilter for SpellingFilter {
    type Tokenizer<T: Tokenizer> = SpellingTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> SpellingTokenizer<T> {
        SpellingTokenizer {
            inner: tokenizer,
            enabled: self.enabled,
        }
    }
}

#[derive(Clone)]
pub(super) struct SpellingTokenizer<T> {
    inner: T,
    enabled: bool,
}

impl<T: Tokenizer> Tokenizer for SpellingTokenizer<T> {
    type TokenStream<'a> = SpellingTokenStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        SpellingTokenStream {
            tail: self.inner.token_stream(text),
            enabled: self.enabled,
        }
    }
}

pub(super) struct SpellingTokenStream<T> {
    tail: T,
    enabled: bool,
}

impl<T: TokenStream> TokenStream for SpellingTokenStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        if self.enabled
            && let Some(american) = american(&self.tail.token().text)
        {
            self.tail.token_mut().text = american;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// The American spelling of a lowercase English word, or `None` when the
/// word is not a British variant this module knows.
pub(super) fn american(word: &str) -> Option<String> {
    // Rules read bytes; words with digits, accents or capitals (the filter
    // runs after lowercasing) are left alone.
    if word.len() < 4 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if let Ok(at) = WORDS.binary_search_by(|(british, _)| british.cmp(&word)) {
        return Some(WORDS[at].1.to_string());
    }
    if KEEP.binary_search(&word).is_ok() {
        return None;
    }
    let mut changed = false;
    let mut word = word.to_string();
    if let Some(rewritten) = classical_digraphs(&word) {
        word = rewritten;
        changed = true;
    }
    // Each rule needs its letters somewhere in the word; checking that
    // first keeps the common word (which needs none) to a few scans.
    let bytes = word.as_bytes();
    let has = |pattern: &[u8]| bytes.windows(pattern.len()).any(|w| w == pattern);
    let rewritten = None
        .or_else(|| has(b"is").then(|| ise_to_ize(&word)).flatten())
        .or_else(|| has(b"lys").then(|| yse_to_yze(&word)).flatten())
        .or_else(|| has(b"our").then(|| our_to_or(&word)).flatten())
        .or_else(|| {
            matches!(bytes.last(), Some(b'e' | b's' | b'd'))
                .then(|| re_to_er(&word))
                .flatten()
        });
    match rewritten {
        Some(rewritten) => Some(rewritten),
        None => changed.then_some(word),
    }
}

/// The root and ending when `word` ends with one of `endings` (no ending
/// of a list is a suffix of another, so at most one fits).
fn split<'w>(word: &'w str, endings: &[&'static str]) -> Option<(&'w str, &'static str)> {
    endings
        .iter()
        .find_map(|ending| word.strip_suffix(ending).map(|root| (root, *ending)))
}

/// ae and oe in medical and classical words ("paediatric", "anaemia",
/// "oesophagus", "diarrhoea"). Patterns, not the bare digraphs: "aerial",
/// "does", "toe", "poem", "israel" and "algae" keep theirs.
const DIGRAPHS: &[(&str, &str)] = &[
    ("aemi", "emi"),
    ("aesthe", "esthe"),
    ("aetiol", "etiol"),
    ("amoeb", "ameb"),
    ("anaes", "anes"),
    ("archaeo", "archeo"),
    ("caesarea", "cesarea"),
    ("caesaria", "cesaria"),
    ("caesium", "cesium"),
    ("coeliac", "celiac"),
    ("faec", "fec"),
    ("foet", "fet"),
    ("gynaec", "gynec"),
    ("haem", "hem"),
    ("homoeo", "homeo"),
    ("mediaev", "mediev"),
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("oestr", "estr"),
    ("paed", "ped"),
    ("palaeo", "paleo"),
    ("pnoea", "pnea"),
    ("rrhoea", "rrhea"),
];

fn classical_digraphs(word: &str) -> Option<String> {
    // Every pattern holds "ae" or "oe"; most words have neither.
    if !word
        .as_bytes()
        .windows(2)
        .any(|pair| pair == b"ae" || pair == b"oe")
    {
        return None;
    }
    let mut rewritten: Option<String> = None;
    for (british, american) in DIGRAPHS {
        let current = rewritten.as_deref().unwrap_or(word);
        if current.contains(british) {
            rewritten = Some(current.replace(british, american));
        }
    }
    rewritten
}

/// -ise verbs and their family: "organise", "organised", "organiser",
/// "organisation", "recognisable".
const ISE_ENDINGS: &[&str] = &[
    "ise",
    "ises",
    "ised",
    "ising",
    "iser",
    "isers",
    "isable",
    "isation",
    "isations",
    "isational",
];

/// How the root (the word before "ise") of a word that only looks like an
/// -ise verb ends: otherwise, advise, surprise, raise, noise, cruise,
/// franchise, precise, concise, excise, exercise, circumcise, promise,
/// premise, demise, chemise, surmise, paradise, merchandise, expertise,
/// advertise, treatise, chastise, despise, sunrise. ("improvisation" keeps
/// its s too, as it should.)
const ISE_KEEP_ROOT_ENDINGS: &[&str] = &[
    "w", "v", "pr", "a", "o", "u", "ch", "prec", "conc", "exc", "inc", "erc", "circumc", "prom",
    "prem", "dem", "chem", "surm", "parad", "merchand", "expert", "advert", "treat", "chast",
    "desp", "sunr", "moonr", "upr",
];

/// Whole roots of the same kind: cerise, Denise, mortise, valise.
const ISE_KEEP_ROOTS: &[&str] = &["cer", "den", "mort", "val"];

fn ise_to_ize(word: &str) -> Option<String> {
    let (root, ending) = split(word, ISE_ENDINGS)?;
    // "rise", "wise", "arise", "noise", "crises": too short to be sure.
    if root.len() < 3
        || ISE_KEEP_ROOTS.contains(&root)
        || ISE_KEEP_ROOT_ENDINGS
            .iter()
            .any(|keep| root.ends_with(keep))
    {
        return None;
    }
    Some(format!("{root}iz{}", &ending[2..]))
}

/// "analyse", "paralysed", "catalysing".
const YSE_ENDINGS: &[&str] = &["lyse", "lysed", "lyses", "lysing", "lyser", "lysers"];

fn yse_to_yze(word: &str) -> Option<String> {
    let (root, ending) = split(word, YSE_ENDINGS)?;
    if root.len() < 2 {
        return None;
    }
    Some(format!("{root}lyz{}", &ending[3..]))
}

/// "colour", "colours", "coloured", "colourful", "favourite",
/// "honourable", "behavioural", "neighbourhood", "savoury".
const OUR_ENDINGS: &[&str] = &[
    "our", "ours", "oured", "ouring", "ourite", "ourites", "ourable", "ourably", "ourful",
    "ourfully", "ourless", "ourer", "ourers", "oural", "ourally", "ourhood", "ourhoods", "ourist",
    "ourists", "ourism", "ourly", "oury",
];

/// Words in -our that are the same in American English. Those with a
/// one-letter root (our, your, four, hour, pour, sour, tour) are never
/// rewritten anyway.
const OUR_KEEP: &[&str] = &[
    "amour",
    "contour",
    "detour",
    "devour",
    "dour",
    "downpour",
    "flour",
    "glamour",
    "outpour",
    "paramour",
    "pompadour",
    "scour",
    "troubadour",
    "velour",
];

fn our_to_or(word: &str) -> Option<String> {
    let (root, ending) = split(word, OUR_ENDINGS)?;
    if root.len() < 2 {
        return None;
    }
    let base = &word[..root.len() + 3];
    if OUR_KEEP.contains(&base) {
        return None;
    }
    Some(format!("{root}or{}", &ending[3..]))
}

/// "centre", "metres", "centred", "fibre", "sabres", "meagre".
const RE_ENDINGS: &[(&str, &str)] = &[
    ("tre", "ter"),
    ("tres", "ters"),
    ("tred", "tered"),
    ("bre", "ber"),
    ("bres", "bers"),
    ("gre", "ger"),
    ("gres", "gers"),
];

fn re_to_er(word: &str) -> Option<String> {
    let (root, american) = RE_ENDINGS
        .iter()
        .find_map(|(british, american)| word.strip_suffix(british).map(|root| (root, *american)))?;
    // "ogre": too short to be sure.
    if root.len() < 2 {
        return None;
    }
    Some(format!("{root}{american}"))
}

/// Irregular pairs, sorted by the British form (a test checks the order).
const WORDS: &[(&str, &str)] = &[
    ("acknowledgement", "acknowledgment"),
    ("acknowledgements", "acknowledgments"),
    ("ageing", "aging"),
    ("aluminium", "aluminum"),
    ("analogue", "analog"),
    ("analogues", "analogs"),
    ("artefact", "artifact"),
    ("artefacts", "artifacts"),
    ("cancelled", "canceled"),
    ("cancelling", "canceling"),
    ("catalogue", "catalog"),
    ("catalogued", "cataloged"),
    ("catalogues", "catalogs"),
    ("cataloguing", "cataloging"),
    ("cheque", "check"),
    ("cheques", "checks"),
    ("cosy", "cozy"),
    ("counselled", "counseled"),
    ("counselling", "counseling"),
    ("counsellor", "counselor"),
    ("counsellors", "counselors"),
    ("defence", "defense"),
    ("defences", "defenses"),
    ("dialogue", "dialog"),
    ("dialogues", "dialogs"),
    ("enrol", "enroll"),
    ("enrolment", "enrollment"),
    ("enrolments", "enrollments"),
    ("enrols", "enrolls"),
    ("fuelled", "fueled"),
    ("fuelling", "fueling"),
    ("fulfil", "fulfill"),
    ("fulfilment", "fulfillment"),
    ("fulfils", "fulfills"),
    ("grey", "gray"),
    ("instalment", "installment"),
    ("instalments", "installments"),
    ("jewellery", "jewelry"),
    ("judgement", "judgment"),
    ("judgements", "judgments"),
    ("labelled", "labeled"),
    ("labelling", "labeling"),
    ("levelled", "leveled"),
    ("levelling", "leveling"),
    ("licence", "license"),
    ("licences", "licenses"),
    ("manoeuvrable", "maneuverable"),
    ("manoeuvre", "maneuver"),
    ("manoeuvred", "maneuvered"),
    ("manoeuvres", "maneuvers"),
    ("manoeuvring", "maneuvering"),
    ("modelled", "modeled"),
    ("modelling", "modeling"),
    ("mould", "mold"),
    ("moulds", "molds"),
    ("mouldy", "moldy"),
    ("moustache", "mustache"),
    ("offence", "offense"),
    ("offences", "offenses"),
    ("plough", "plow"),
    ("practise", "practice"),
    ("practised", "practiced"),
    ("practises", "practices"),
    ("practising", "practicing"),
    ("pretence", "pretense"),
    ("programme", "program"),
    ("programmes", "programs"),
    ("pyjamas", "pajamas"),
    ("sceptic", "skeptic"),
    ("sceptical", "skeptical"),
    ("scepticism", "skepticism"),
    ("sceptics", "skeptics"),
    ("signalled", "signaled"),
    ("signalling", "signaling"),
    ("skilful", "skillful"),
    ("sulphate", "sulfate"),
    ("sulphur", "sulfur"),
    ("totalled", "totaled"),
    ("totalling", "totaling"),
    ("travelled", "traveled"),
    ("traveller", "traveler"),
    ("travellers", "travelers"),
    ("travelling", "traveling"),
];

/// Words a rule would wrongly rewrite, sorted (a test checks the order):
/// they look exactly like a variant.
const KEEP: &[&str] = &[
    "contre", "entre", "hatred", "libre", "macabre", "maitre", "notre", "ombre", "outre", "timbre",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// `word` as the filter leaves it.
    fn check(word: &str, expected: &str) {
        assert_eq!(
            american(word).as_deref().unwrap_or(word),
            expected,
            "spelling of {word:?}"
        );
    }

    #[test]
    fn british_spellings_become_american() {
        for (british, american) in [
            ("sterilisation", "sterilization"),
            ("sterilise", "sterilize"),
            ("sterilised", "sterilized"),
            ("organisation", "organization"),
            ("organisations", "organizations"),
            ("organisational", "organizational"),
            ("organiser", "organizer"),
            ("recognisable", "recognizable"),
            ("realising", "realizing"),
            ("prioritises", "prioritizes"),
            ("criticise", "criticize"),
            ("minimise", "minimize"),
            ("authorised", "authorized"),
            ("standardise", "standardize"),
            ("appetising", "appetizing"),
            ("ionise", "ionize"),
            ("analyse", "analyze"),
            ("analysed", "analyzed"),
            ("paralysing", "paralyzing"),
            ("catalyser", "catalyzer"),
            ("colour", "color"),
            ("colours", "colors"),
            ("coloured", "colored"),
            ("colourful", "colorful"),
            ("favourite", "favorite"),
            ("honourable", "honorable"),
            ("behavioural", "behavioral"),
            ("neighbourhood", "neighborhood"),
            ("labourers", "laborers"),
            ("odour", "odor"),
            ("vapour", "vapor"),
            ("clamour", "clamor"),
            ("savoury", "savory"),
            ("centre", "center"),
            ("centres", "centers"),
            ("centred", "centered"),
            ("theatre", "theater"),
            ("metres", "meters"),
            ("litre", "liter"),
            ("fibre", "fiber"),
            ("calibre", "caliber"),
            ("meagre", "meager"),
            ("paediatric", "pediatric"),
            ("paediatrician", "pediatrician"),
            ("orthopaedic", "orthopedic"),
            ("anaemia", "anemia"),
            ("leukaemia", "leukemia"),
            ("haemoglobin", "hemoglobin"),
            ("oesophagus", "esophagus"),
            ("oestrogen", "estrogen"),
            ("foetus", "fetus"),
            ("diarrhoea", "diarrhea"),
            ("oedema", "edema"),
            ("gynaecology", "gynecology"),
            ("anaesthetic", "anesthetic"),
            ("anaesthetise", "anesthetize"),
            ("haematology", "hematology"),
            ("caesarean", "cesarean"),
            ("coeliac", "celiac"),
            ("programme", "program"),
            ("programmes", "programs"),
            ("licence", "license"),
            ("defence", "defense"),
            ("travelled", "traveled"),
            ("cancelling", "canceling"),
            ("judgement", "judgment"),
            ("catalogue", "catalog"),
            ("manoeuvre", "maneuver"),
            ("practise", "practice"),
            ("grey", "gray"),
        ] {
            check(british, american);
        }
    }

    #[test]
    fn other_words_are_left_alone() {
        for word in [
            // -ise that is not a variant
            "wise",
            "otherwise",
            "likewise",
            "clockwise",
            "rise",
            "arise",
            "sunrise",
            "uprising",
            "precise",
            "imprecise",
            "concise",
            "excise",
            "incise",
            "exercise",
            "circumcise",
            "advise",
            "adviser",
            "advisable",
            "devise",
            "revise",
            "supervise",
            "televise",
            "improvise",
            "improvisation",
            "surprise",
            "surprising",
            "comprise",
            "enterprise",
            "apprise",
            "reprise",
            "promise",
            "promising",
            "premises",
            "compromise",
            "demise",
            "chemise",
            "surmise",
            "paradise",
            "merchandise",
            "expertise",
            "advertise",
            "advertising",
            "treatise",
            "chastise",
            "mortise",
            "despise",
            "raise",
            "praise",
            "appraise",
            "fundraiser",
            "noise",
            "poise",
            "tortoise",
            "porpoise",
            "turquoise",
            "mayonnaise",
            "cruise",
            "bruise",
            "guise",
            "disguise",
            "franchise",
            "anise",
            "cerise",
            "valise",
            "crises",
            "denise",
            "louise",
            "disable",
            "miser",
            // -our that is not a variant
            "our",
            "ours",
            "your",
            "yours",
            "four",
            "hour",
            "hours",
            "hourly",
            "pour",
            "pouring",
            "sour",
            "tour",
            "tours",
            "tourist",
            "tourism",
            "flour",
            "scour",
            "scouring",
            "devour",
            "devoured",
            "contour",
            "detour",
            "amour",
            "paramour",
            "glamour",
            "velour",
            "troubadour",
            "downpour",
            "journal",
            "journalist",
            "mourning",
            "flourish",
            "courage",
            "source",
            "resource",
            // -re that is not a variant
            "ogre",
            "acre",
            "genre",
            "cadre",
            "hatred",
            "macabre",
            "timbre",
            "libre",
            "notre",
            "string",
            "hamstring",
            "sacred",
            // ae and oe that are not variants
            "aerial",
            "aerobic",
            "aeroplane",
            "does",
            "goes",
            "shoe",
            "toe",
            "poem",
            "poetry",
            "israel",
            "michael",
            "algae",
            "larvae",
            "vertebrae",
            "reggae",
            "phoenix",
            "whoever",
            "coefficient",
            "canoe",
            "heroes",
            "academia",
            "bohemian",
            "maestro",
            // American spellings and unrelated words
            "organize",
            "color",
            "center",
            "analyze",
            "pediatric",
            "program",
            "license",
            "analysis",
            "size",
            "prize",
            "seize",
            "kaiser",
            "meter",
            "water",
            "the",
            "a",
            // Not lowercase letters only: left to the other filters.
            "colour1",
            "centré",
        ] {
            check(word, word);
        }
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        assert!(WORDS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(KEEP.windows(2).all(|pair| pair[0] < pair[1]));
        for (british, american) in WORDS {
            assert_ne!(british, american);
        }
    }
}
