//! Dates, times of day and durations in scheduling requests, read in code.
//!
//! Staff type requests like "book Mrs Ortiz for a 45-minute cleaning next
//! week, afternoons, with Dr Lee". A small model picks the action and the
//! names; what it would get wrong (which Thursday, whether "at 3" is 3 am,
//! how long "an hour and a half" is) is read here, relative to `now` in the
//! business's time zone. Reading is pure: the same text and the same `now`
//! always give the same [`Reading`], and no text makes it panic.
//!
//! How it reads: the text is cut into tokens (words, numbers, punctuation;
//! lower-cased, so case does not matter), and at each token the longest of a
//! fixed set of patterns is taken (`MATCHERS`). A pattern yields pieces (a
//! date, a week or month to look in, a weekday, a part of the day, a bound, a
//! time, a length), and the pieces are combined in `resolve`. Words no
//! pattern knows are left alone: "Mrs May" and "March" alone are not dates,
//! because month names only count next to a day number, and weekday
//! abbreviations ("thu", "Thurs") only count as whole words.
//!
//! The conventions, each stated again where it is applied:
//! - A weekday alone ("Thursday", "this Friday") is the coming one, today
//!   included; "next Monday" is the first Monday strictly after today, so on
//!   a Tuesday "next Thursday" is two days away; "last Monday" the latest one
//!   strictly before today.
//! - Weeks run Monday to Sunday. "this week" is today to Sunday, "next week"
//!   the whole next week, "in two weeks" the week holding today + 14 days.
//!   A weekday or a day of the month said with a week or a month ("Monday
//!   next week", "the 14th next month") is that day inside it; when the
//!   span has no such day, the span stands.
//! - A day of the month alone ("the 14th") is the next one on or after today,
//!   skipping months without it; a month and day without a year ("December
//!   14") the next one on or after today. Numeric dates ("12/14", "14/12")
//!   are read only when one part is over 12, so the order is not a guess.
//! - An hour written without am/pm or a 24-hour form ("at 3", "3:30") is
//!   1–7 pm, 8–11 am, 12 noon: office hours. When the request names a part
//!   of the day, the reading nearer to it wins ("tonight at 8" is 20:00).
//!   A leading zero ("07:30") or an hour over 12 ("15:30", "17h") is a
//!   24-hour time. A bare number is a time only after "at", "after",
//!   "between", ... or before "in the afternoon"; "3pm", "15:30" and "half
//!   past 2" need nothing.
//! - Lengths: "45-minute", "1.5 hours", "1h30", "an hour and a half". "In"
//!   a length is a time from `now` ("in 30 minutes"), not a length; nothing
//!   over a week is a length.
//! - Windows are the times of day a start may fall in, on every day of the
//!   dates ("next week, afternoons" is each afternoon of next week): morning
//!   08–12, afternoon 12–17, evening 17–21, lunchtime 12–14, first thing
//!   08–10, end of day 15–24. Named parts that overlap narrow each other
//!   ("first thing in the morning" is 08–10), parts apart are both kept
//!   ("mornings or evenings"); "after 3" and "before 11" bound them.
//! - Windows are not clipped to `now`: finding free slots drops past times.
//! - `at` and `windows` are wall-clock times; on the day the clocks change,
//!   turning them into instants is the time zone's business (`office.rs`).
//! - When one clause says two dates, an exact date beats a weekday ("Monday,
//!   December 14"), and otherwise the first said wins; the first time and
//!   the first length said win too. Requests that move something say two
//!   dates on purpose: [`read_all`] reads the clauses either side of "to" or
//!   "into" apart, and splits "from Monday to Wednesday" or "from 9 to 11"
//!   into a move's two ends where [`read`] reads a range.
//! - "sat" and "sun" are English words too: they are days only where a day
//!   fits ("on Sat", "Sat 3pm", "Fri or Sat"), not in "I sat with ...".

use std::ops::Range;

use jiff::civil::{Date, Time, Weekday};
use jiff::{Span, Zoned};

use super::hours::{Interval, Minute};

/// What a request says about when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// The civil dates meant, first to last (one day: `first == last`).
    pub dates: Option<DateSpan>,
    /// The times of day a start may fall in, sorted; on each day of `dates`.
    pub windows: Vec<Interval>,
    /// An exact wall-clock time.
    pub at: Option<Time>,
    /// How long, in minutes.
    pub duration_minutes: Option<u32>,
    /// Byte ranges of the text read as dates, times and durations, in order,
    /// so that matching names can skip them.
    pub spans: Vec<Range<usize>>,
}

/// Civil dates from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateSpan {
    pub first: Date,
    pub last: Date,
}

impl DateSpan {
    pub fn day(date: Date) -> DateSpan {
        DateSpan {
            first: date,
            last: date,
        }
    }

    /// `None` when `last` comes before `first`.
    pub fn new(first: Date, last: Date) -> Option<DateSpan> {
        (first <= last).then_some(DateSpan { first, last })
    }

    pub fn contains(self, date: Date) -> bool {
        self.first <= date && date <= self.last
    }

    /// Every date of the span, in order.
    pub fn days(self) -> impl Iterator<Item = Date> {
        self.first
            .series(Span::new().days(1))
            .take_while(move |date| *date <= self.last)
    }
}

/// One clause of a request and what it says: see [`read_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The clause's byte range in the text, without the word that split it.
    pub text: Range<usize>,
    pub reading: Reading,
}

/// What `text` says about when, read relative to `now` (the business's time
/// zone), the whole text as one clause.
pub fn read(text: &str, now: &Zoned) -> Reading {
    let tokens = tokenize(text);
    let found = scan(&tokens, now);
    reading(found.iter(), now.date())
}

/// What each clause of `text` says about when, for requests that move
/// something: "move Mr Chen's Thursday appointment to Monday morning" is two
/// clauses, the appointment's (Thursday) and the new time's (Monday, 08–12).
///
/// Clauses are split at "to", "into" and "onto" where no pattern used the
/// word ("quarter to 4" stays whole). A move also says "from Monday to
/// Wednesday" or "from 9 to 11": the first such range before any other
/// "to" is split into its two ends, while one after it ("to Tuesday from 9
/// to 11") stays a range. A bare hour after the "to" is a time ("move the 3
/// pm to 4"). There is always at least one clause; with nothing to split
/// at it is the whole text, read as [`read`] reads it. Clauses that say
/// nothing are kept, so the caller knows which side said what. Each clause
/// is read relative to `now`, not to the other.
pub fn read_all(text: &str, now: &Zoned) -> Vec<Clause> {
    let tokens = tokenize(text);
    let mut found = scan(&tokens, now);
    let mut used = vec![false; tokens.len()];
    for f in &found {
        for flag in &mut used[f.tokens.clone()] {
            *flag = true;
        }
    }
    let mut separators: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(k, t)| {
            !used[*k] && t.kind == Kind::Word && matches!(t.text.as_str(), "to" | "into" | "onto")
        })
        .map(|(k, _)| k)
        .collect();
    let first = separators.first().copied().unwrap_or(tokens.len());
    if let Some(k) = found
        .iter()
        .position(|f| f.tokens.start < first && f.pieces.iter().any(|p| p.ends().is_some()))
    {
        let range = found.remove(k);
        if let Some((joiner, from, to)) = range.pieces.iter().find_map(Piece::ends) {
            let half = |tokens_range: Range<usize>, piece: Piece| Found {
                bytes: tokens[tokens_range.start].start..tokens[tokens_range.end - 1].end,
                tokens: tokens_range,
                pieces: vec![piece],
            };
            found.insert(k, half(joiner + 1..range.tokens.end, to));
            found.insert(k, half(range.tokens.start..joiner, from));
            separators.insert(0, joiner);
        }
    }
    let mut clauses = Vec::new();
    let (mut byte, mut token) = (0, 0);
    for k in separators {
        let t = &tokens[k];
        let inside = found
            .iter()
            .filter(|f| f.tokens.start >= token && f.tokens.end <= k);
        clauses.push(Clause {
            text: byte..t.start,
            reading: reading(inside, now.date()),
        });
        (byte, token) = (t.end, k + 1);
    }
    let inside = found.iter().filter(|f| f.tokens.start >= token);
    clauses.push(Clause {
        text: byte..text.len(),
        reading: reading(inside, now.date()),
    });
    clauses
}

// ---------------------------------------------------------------------------
// Named parts of the day.

const fn hours(start: Minute, end: Minute) -> Interval {
    Interval {
        start: start * 60,
        end: end * 60,
    }
}

const MORNING: Interval = hours(8, 12);
const AFTERNOON: Interval = hours(12, 17);
const EVENING: Interval = hours(17, 21);
const LUNCHTIME: Interval = hours(12, 14);
const FIRST_THING: Interval = hours(8, 10);
const END_OF_DAY: Interval = hours(15, 24);

/// The longest length read as a duration: a week. Nothing longer is booked
/// as one appointment, and a cap keeps "99999 hours" from meaning anything.
const MAX_MINUTES: u64 = 7 * 24 * 60;

// ---------------------------------------------------------------------------
// Tokens.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Number,
    Punct,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Words lower-cased, numbers' digits, punctuation normalised (curly
    /// apostrophes to `'`, dashes to `-`).
    text: String,
    /// A number's value, when it has at most nine digits.
    value: Option<u32>,
    start: usize,
    end: usize,
    /// Written against the token before, with no space ("3pm", "15:30").
    glued: bool,
}

/// Words are runs of letters, numbers runs of ASCII digits; anything else
/// that is not a space is a token of its own.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut space = true;
    while let Some((start, c)) = chars.next() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        let glued = !space;
        space = false;
        let same_run = |d: char| {
            if c.is_ascii_digit() {
                d.is_ascii_digit()
            } else {
                d.is_alphabetic()
            }
        };
        let (kind, end) = if c.is_ascii_digit() || c.is_alphabetic() {
            let mut end = start + c.len_utf8();
            while let Some(&(k, d)) = chars.peek() {
                if !same_run(d) {
                    break;
                }
                end = k + d.len_utf8();
                chars.next();
            }
            let kind = if c.is_ascii_digit() {
                Kind::Number
            } else {
                Kind::Word
            };
            (kind, end)
        } else {
            (Kind::Punct, start + c.len_utf8())
        };
        let raw = &text[start..end];
        let (text, value) = match kind {
            Kind::Word => (raw.to_lowercase(), None),
            Kind::Number => (
                raw.to_string(),
                (raw.len() <= 9).then(|| raw.parse().ok()).flatten(),
            ),
            Kind::Punct => {
                let normal = match c {
                    '\u{2018}' | '\u{2019}' | '`' => '\'',
                    '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
                    other => other,
                };
                (normal.to_string(), None)
            }
        };
        tokens.push(Token {
            kind,
            text,
            value,
            start,
            end,
            glued,
        });
    }
    tokens
}

// ---------------------------------------------------------------------------
// Pieces: what one pattern found.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Dates meant as they are: "tomorrow", "December 14", "next Monday".
    Dates(DateSpan),
    /// A week or a month to look in; a weekday or a day of the month said
    /// with it narrows it.
    Within(DateSpan),
    /// A weekday said alone: "Thursday", "this Friday".
    Weekday(Weekday),
    /// A day of the month said alone: "the 14th".
    DayOfMonth(i8),
    /// A named part of the day or a range of hours.
    Part(Interval),
    /// "after 3", "before noon": a limit on the parts.
    Bound(Interval),
    At(Clock),
    Minutes(u32),
    /// "from 9 to 11": hours to [`read`], a move's two ends to [`read_all`];
    /// `joiner` is the token of the "to".
    FromToHours {
        hours: Interval,
        from: Clock,
        to: Clock,
        joiner: usize,
    },
    /// "from Monday to Wednesday", the same for days.
    FromToDays {
        days: DateSpan,
        from: DateSpan,
        to: DateSpan,
        joiner: usize,
    },
}

impl Piece {
    fn is_date(&self) -> bool {
        matches!(
            self,
            Piece::Dates(_)
                | Piece::Within(_)
                | Piece::Weekday(_)
                | Piece::DayOfMonth(_)
                | Piece::FromToDays { .. }
        )
    }

    /// A "from ... to ..." range's joining token and its two ends.
    fn ends(&self) -> Option<(usize, Piece, Piece)> {
        match *self {
            Piece::FromToHours {
                from, to, joiner, ..
            } => Some((joiner, Piece::At(from), Piece::At(to))),
            Piece::FromToDays {
                from, to, joiner, ..
            } => Some((joiner, Piece::Dates(from), Piece::Dates(to))),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

/// A time of day as written, before am or pm is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    /// The hour as written: 0–23, or 1–12 with a meridiem.
    hour: u8,
    /// Minutes after the hour; negative for "quarter to".
    minute: i8,
    meridiem: Option<Meridiem>,
    /// Written so that it can only be this hour: 24-hour ("15:30", "07:00"),
    /// noon, midnight.
    fixed: bool,
    /// Reads as a time without "at" before it ("3pm", "15:30", "half past
    /// 2"); a bare "3" does not.
    strong: bool,
    /// Midnight ends a day when it ends a range or a bound.
    midnight: bool,
}

impl Clock {
    fn fixed(hour: u8, minute: i8) -> Clock {
        Clock {
            hour,
            minute,
            meridiem: None,
            fixed: true,
            strong: true,
            midnight: false,
        }
    }

    /// Whether am and pm are both possible readings.
    fn ambiguous(self) -> bool {
        self.meridiem.is_none() && !self.fixed && (1..=12).contains(&self.hour)
    }

    /// The minute of the day, by the office-hours rule when ambiguous: an
    /// hour 1–7 is pm, 8–11 am, 12 noon.
    fn minute_of_day(self) -> Minute {
        let hour = match self.meridiem {
            Some(Meridiem::Am) => self.hour % 12,
            Some(Meridiem::Pm) => self.hour % 12 + 12,
            None if self.fixed => self.hour,
            None if (1..=7).contains(&self.hour) => self.hour + 12,
            None => self.hour,
        };
        wrap(i32::from(hour) * 60 + i32::from(self.minute))
    }

    /// The morning reading of an ambiguous hour ("2" as 02:00).
    fn am_reading(self) -> Minute {
        wrap(i32::from(self.hour % 12) * 60 + i32::from(self.minute))
    }

    /// As the end of a range or a bound: midnight is the end of the day.
    fn end_minute(self) -> Minute {
        if self.midnight {
            24 * 60
        } else {
            self.minute_of_day()
        }
    }

    /// The time, choosing am or pm by the windows when it is ambiguous: the
    /// reading nearer to a window wins, the office-hours rule on a tie.
    fn time_near(self, windows: &[Interval]) -> Option<Time> {
        let rule = self.minute_of_day();
        let minute = if self.ambiguous() && !windows.is_empty() {
            let other = (rule + 12 * 60) % (24 * 60);
            let distance = |m: Minute| {
                windows
                    .iter()
                    .map(|w| {
                        if m < w.start {
                            w.start - m
                        } else if m >= w.end {
                            m + 1 - w.end
                        } else {
                            0
                        }
                    })
                    .min()
                    .unwrap_or(0)
            };
            if distance(other) < distance(rule) {
                other
            } else {
                rule
            }
        } else {
            rule
        };
        Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()
    }
}

fn wrap(minutes: i32) -> Minute {
    minutes.rem_euclid(24 * 60) as Minute
}

// ---------------------------------------------------------------------------
// Scanning: the longest pattern at each token.

/// What a pattern matched: the token after it, and its pieces.
type Match = (usize, Vec<Piece>);
type Matcher = fn(&Ctx, usize) -> Option<Match>;

/// Every pattern. At each token the longest match wins, the earlier in this
/// list on a tie, so the order only matters between equally long readings.
const MATCHERS: &[Matcher] = &[
    iso_date,
    numeric_date,
    relative,
    duration,
    month_day,
    week_of,
    date_range,
    time_range,
    time_bound,
    at_time,
    named,
    weekday,
    day_of_month,
];

/// The patterns that may follow "the week of" or make a range of days.
const DATE_MATCHERS: &[Matcher] = &[
    iso_date,
    numeric_date,
    month_day,
    named,
    weekday,
    day_of_month,
];

/// The patterns that show a day or a time follows: none of them looks at
/// a weekday, so checking what follows one never recurses.
const FOLLOWERS: &[Matcher] = &[
    iso_date,
    numeric_date,
    month_day,
    time_range,
    time_bound,
    at_time,
    named,
    day_of_month,
];

/// One match in the text.
struct Found {
    tokens: Range<usize>,
    bytes: Range<usize>,
    pieces: Vec<Piece>,
}

fn scan(tokens: &[Token], now: &Zoned) -> Vec<Found> {
    let ctx = Ctx {
        tokens,
        now,
        today: now.date(),
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // "on Friday", "on the 14th": the "on" belongs to the date.
        let on = ctx
            .is(i, "on")
            .then(|| longest(&ctx, i + 1, MATCHERS))
            .flatten()
            .filter(|(_, pieces)| pieces.iter().any(Piece::is_date));
        let (start, end, pieces) = match on.or_else(|| longest(&ctx, i, MATCHERS)) {
            Some((end, pieces)) => (i, end, pieces),
            None => match ctx.hour_after_to(i) {
                // The "to" stays outside: it splits a move's clauses.
                Some((end, pieces)) => (i + 1, end, pieces),
                None => {
                    i += 1;
                    continue;
                }
            },
        };
        let end = end.min(tokens.len());
        found.push(Found {
            tokens: start..end,
            bytes: tokens[start].start..tokens[end - 1].end,
            pieces,
        });
        i = end;
    }
    found
}

fn longest(ctx: &Ctx, i: usize, matchers: &[Matcher]) -> Option<Match> {
    let mut best: Option<Match> = None;
    for matcher in matchers {
        if let Some(found) = matcher(ctx, i)
            && found.0 > i
            && best.as_ref().is_none_or(|b| found.0 > b.0)
        {
            best = Some(found);
        }
    }
    best
}

fn reading<'f>(found: impl Iterator<Item = &'f Found> + Clone, today: Date) -> Reading {
    let mut reading = resolve(found.clone().flat_map(|f| &f.pieces), today);
    reading.spans = found.map(|f| f.bytes.clone()).collect();
    reading
}

// ---------------------------------------------------------------------------
// Combining the pieces of a clause.

fn resolve<'p>(pieces: impl IntoIterator<Item = &'p Piece>, today: Date) -> Reading {
    let mut dates = None;
    let mut within = None;
    let mut weekday = None;
    let mut day = None;
    let mut parts = Vec::new();
    let mut bounds = Vec::new();
    let mut at = None;
    let mut minutes = None;
    for piece in pieces {
        match *piece {
            Piece::Dates(span) => {
                dates.get_or_insert(span);
            }
            Piece::Within(span) => {
                within.get_or_insert(span);
            }
            Piece::Weekday(w) => {
                weekday.get_or_insert(w);
            }
            Piece::DayOfMonth(d) => {
                day.get_or_insert(d);
            }
            Piece::Part(interval) => parts.push(interval),
            Piece::Bound(interval) => bounds.push(interval),
            Piece::At(clock) => {
                at.get_or_insert(clock);
            }
            Piece::Minutes(m) => {
                minutes.get_or_insert(m);
            }
            Piece::FromToHours { hours, .. } => parts.push(hours),
            Piece::FromToDays { days, .. } => {
                within.get_or_insert(days);
            }
        }
    }
    // An exact date beats a weekday or a day of the month said with it
    // ("Monday, December 14"); those narrow a week or a month.
    let dates = dates.or_else(|| narrow(within, weekday, day, today));
    let windows = windows(&parts, &bounds);
    let at = at.and_then(|clock| clock.time_near(&windows));
    Reading {
        dates,
        windows,
        at,
        duration_minutes: minutes,
        spans: Vec::new(),
    }
}

/// A weekday or a day of the month, inside a week or a month when one was
/// said; the span itself when it has no such day.
fn narrow(
    within: Option<DateSpan>,
    weekday: Option<Weekday>,
    day: Option<i8>,
    today: Date,
) -> Option<DateSpan> {
    if let Some(within) = within {
        let wanted = |date: &Date| match (day, weekday) {
            (Some(n), _) => date.day() == n,
            (None, Some(w)) => date.weekday() == w,
            (None, None) => false,
        };
        return Some(within.days().find(wanted).map_or(within, DateSpan::day));
    }
    match (day, weekday) {
        // "Friday the 13th": the next 13th that is a Friday.
        (Some(n), w) => next_day_of_month(today, n, w)
            .or_else(|| next_day_of_month(today, n, None))
            .map(DateSpan::day),
        (None, Some(w)) => coming(today, w).map(DateSpan::day),
        (None, None) => None,
    }
}

/// Named parts narrow each other when they overlap and are kept side by
/// side when they do not; bounds ("after 3") limit them. A bound that
/// contradicts every part is dropped: the part was named on purpose.
fn windows(parts: &[Interval], bounds: &[Interval]) -> Vec<Interval> {
    let mut named: Vec<Interval> = Vec::new();
    for &part in parts {
        match named
            .iter_mut()
            .find_map(|q| q.intersect(part).map(|both| (q, both)))
        {
            Some((q, both)) => *q = both,
            None => named.push(part),
        }
    }
    let bound = bounds
        .iter()
        .copied()
        .reduce(|a, b| a.intersect(b).unwrap_or(a));
    let mut windows = match bound {
        None => named,
        Some(bound) if named.is_empty() => vec![bound],
        Some(bound) => {
            let limited: Vec<Interval> = named.iter().filter_map(|p| p.intersect(bound)).collect();
            if limited.is_empty() { named } else { limited }
        }
    };
    windows.sort();
    windows.dedup();
    windows
}

// ---------------------------------------------------------------------------
// Date arithmetic.

fn add_days(date: Date, days: i64) -> Option<Date> {
    date.checked_add(Span::new().try_days(days).ok()?).ok()
}

/// The Monday–Sunday week holding `date`.
fn week_of_date(date: Date) -> Option<DateSpan> {
    let monday = add_days(date, -i64::from(date.weekday().to_monday_zero_offset()))?;
    DateSpan::new(monday, add_days(monday, 6)?)
}

/// Days `first` to `last` of the week holding `date`, Monday being 0, never
/// before `from`.
fn days_of_week(date: Date, first: i64, last: i64, from: Date) -> Option<DateSpan> {
    let monday = week_of_date(date)?.first;
    DateSpan::new(add_days(monday, first)?.max(from), add_days(monday, last)?)
}

fn days_until(today: Date, weekday: Weekday) -> i64 {
    i64::from(weekday.to_monday_zero_offset() - today.weekday().to_monday_zero_offset())
        .rem_euclid(7)
}

/// The coming `weekday`, today included.
fn coming(today: Date, weekday: Weekday) -> Option<Date> {
    add_days(today, days_until(today, weekday))
}

/// The first `weekday` strictly after today.
fn next(today: Date, weekday: Weekday) -> Option<Date> {
    add_days(today, (days_until(today, weekday) + 6) % 7 + 1)
}

/// The latest `weekday` strictly before today.
fn last(today: Date, weekday: Weekday) -> Option<Date> {
    add_days(
        today,
        -((7 - days_until(today, weekday)) % 7) - 7 * i64::from(today.weekday() == weekday),
    )
}

/// The month holding `date` plus `months`, from `from` on.
fn month_of(date: Date, months: i64, from: Date) -> Option<DateSpan> {
    let month = date
        .first_of_month()
        .checked_add(Span::new().try_months(months).ok()?)
        .ok()?;
    DateSpan::new(month.max(from), month.last_of_month())
}

/// The last `days` days of the month holding `date` plus `months`, from
/// `from` on.
fn month_end(date: Date, months: i64, days: i64, from: Date) -> Option<DateSpan> {
    let month = month_of(date, months, date.first_of_month())?;
    DateSpan::new(add_days(month.last, 1 - days)?.max(from), month.last)
}

/// The next `day` of a month on or after today, skipping months without it;
/// with `weekday`, the next one falling on that weekday (within 400 months).
fn next_day_of_month(today: Date, day: i8, weekday: Option<Weekday>) -> Option<Date> {
    let mut month = today.first_of_month();
    for _ in 0..400 {
        if let Ok(date) = Date::new(month.year(), month.month(), day)
            && date >= today
            && weekday.is_none_or(|w| date.weekday() == w)
        {
            return Some(date);
        }
        month = month.checked_add(Span::new().months(1)).ok()?;
    }
    None
}

/// A month and day: in `year`, or the next one on or after today (eight
/// years on at most, for February 29).
fn civil(today: Date, month: i8, day: i8, year: Option<i16>) -> Option<DateSpan> {
    let date = match year {
        Some(year) => Date::new(year, month, day).ok()?,
        None => (today.year()..=today.year().saturating_add(8))
            .filter_map(|year| Date::new(year, month, day).ok())
            .find(|date| *date >= today)?,
    };
    Some(DateSpan::day(date))
}

// ---------------------------------------------------------------------------
// Reading tokens.

struct Ctx<'a> {
    tokens: &'a [Token],
    now: &'a Zoned,
    today: Date,
}

impl Ctx<'_> {
    fn token(&self, i: usize) -> Option<&Token> {
        self.tokens.get(i)
    }

    fn word(&self, i: usize) -> Option<&str> {
        self.token(i)
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.text.as_str())
    }

    /// Whether token `i` is one of the words `words`, separated by `|`.
    fn is(&self, i: usize, words: &str) -> bool {
        self.word(i)
            .is_some_and(|w| words.split('|').any(|x| x == w))
    }

    /// Whether token `i` is one of the punctuation characters `chars`.
    fn punct(&self, i: usize, chars: &str) -> bool {
        self.token(i)
            .is_some_and(|t| t.kind == Kind::Punct && chars.contains(t.text.as_str()))
    }

    fn glued(&self, i: usize) -> bool {
        self.token(i).is_some_and(|t| t.glued)
    }

    fn number(&self, i: usize) -> Option<&Token> {
        self.token(i).filter(|t| t.kind == Kind::Number)
    }

    fn value(&self, i: usize) -> Option<u32> {
        self.number(i)?.value
    }

    /// Where the words of `pattern` end if they follow from token `i`:
    /// words separated by spaces, `a|b` for either, `(a)` for one that may
    /// be left out; a hyphen may join them ("end-of-day", "half-hour").
    fn phrase(&self, i: usize, pattern: &str) -> Option<usize> {
        let mut j = i;
        for part in pattern.split(' ') {
            let (words, optional) = match part.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
                Some(inner) => (inner, true),
                None => (part, false),
            };
            let k = if j > i && self.punct(j, "-") && self.glued(j) {
                j + 1
            } else {
                j
            };
            if self.is(k, words) {
                j = k + 1;
            } else if !optional {
                return None;
            }
        }
        (j > i).then_some(j)
    }

    /// A whole number in digits or words: "45", "two", "forty-five".
    fn count(&self, i: usize) -> Option<(u32, usize)> {
        if let Some(value) = self.value(i) {
            return Some((value, i + 1));
        }
        let n = number_word(self.word(i)?)?;
        if matches!(n, 20 | 30 | 40 | 50) {
            let j = if self.punct(i + 1, "-") { i + 2 } else { i + 1 };
            if let Some(unit) = self.word(j).and_then(number_word)
                && (1..=9).contains(&unit)
            {
                return Some((n + unit, j + 1));
            }
        }
        Some((n, i + 1))
    }

    /// An ordinal in words: "first", "fourteenth", "twenty-first".
    fn ordinal_word(&self, i: usize) -> Option<(i8, usize)> {
        let word = self.word(i)?;
        if let Some(n) = ordinal(word) {
            return Some((n, i + 1));
        }
        let tens = match word {
            "twenty" => 20,
            "thirty" => 30,
            _ => return None,
        };
        let j = if self.punct(i + 1, "-") { i + 2 } else { i + 1 };
        let unit = ordinal(self.word(j)?).filter(|u| (1..=9).contains(u))?;
        (tens + unit <= 31).then_some((tens + unit, j + 1))
    }

    /// A day of the month, "14", "14th", "fourteenth", and whether it was
    /// written as an ordinal.
    fn day_number(&self, i: usize) -> Option<(i8, usize, bool)> {
        if let Some(t) = self.number(i) {
            let value = t
                .value
                .filter(|v| t.text.len() <= 2 && (1..=31).contains(v))?;
            let day = value as i8;
            if self.glued(i + 1) && self.is(i + 1, "st|nd|rd|th") {
                return Some((day, i + 2, true));
            }
            return Some((day, i + 1, false));
        }
        let (day, j) = self.ordinal_word(i)?;
        Some((day, j, true))
    }

    /// A four-digit year, after an optional comma.
    fn year(&self, i: usize) -> (Option<i16>, usize) {
        let j = if self.punct(i, ",") { i + 1 } else { i };
        match self
            .number(j)
            .filter(|t| t.text.len() == 4)
            .and_then(|t| t.value)
        {
            Some(year) => (i16::try_from(year).ok(), j + 1),
            None => (None, i),
        }
    }

    fn meridiem(&self, i: usize) -> Option<(Meridiem, usize)> {
        let which = |w: &str| match w {
            "am" | "a" => Some(Meridiem::Am),
            "pm" | "p" => Some(Meridiem::Pm),
            _ => None,
        };
        let word = self.word(i)?;
        if word == "am" || word == "pm" {
            return Some((which(word)?, i + 1));
        }
        // "a.m.", "p.m"
        if (word == "a" || word == "p") && self.punct(i + 1, ".") && self.is(i + 2, "m") {
            let end = if self.punct(i + 3, ".") { i + 4 } else { i + 3 };
            return Some((which(word)?, end));
        }
        None
    }

    fn oclock(&self, i: usize) -> Option<usize> {
        if self.is(i, "oclock") {
            return Some(i + 1);
        }
        (self.is(i, "o") && self.punct(i + 1, "'") && self.is(i + 2, "clock")).then_some(i + 3)
    }

    /// Whether a time is written from token `i` on: ":30", ".30", "pm".
    fn time_follows(&self, i: usize) -> bool {
        (self.punct(i, ":") && self.glued(i))
            || (self.punct(i, ".")
                && self.glued(i)
                && self.number(i + 1).is_some_and(|t| t.text.len() == 2))
            || self.meridiem(i).is_some()
            || self.oclock(i).is_some()
    }

    /// A time of day: "3", "3pm", "3 p.m.", "15:30", "9.30", "three
    /// o'clock", "noon", "midnight", "half past 2", "quarter to 4".
    fn clock(&self, i: usize) -> Option<(Clock, usize)> {
        if let Some(found) = self.past_to(i) {
            return Some(found);
        }
        match self.word(i) {
            Some("noon" | "midday") => return Some((Clock::fixed(12, 0), i + 1)),
            Some("midnight") => {
                let clock = Clock {
                    midnight: true,
                    ..Clock::fixed(0, 0)
                };
                return Some((clock, i + 1));
            }
            Some(word) => {
                let hour = number_word(word).filter(|h| (1..=12).contains(h))?;
                return self.clock_tail(hour, 0, false, false, i + 1);
            }
            None => {}
        }
        let t = self.number(i)?;
        if t.text.len() > 2 {
            return None;
        }
        let hour = t.value?;
        // 24-hour clocks write "07:00"; a leading zero rules out pm.
        let fixed = hour == 0 || hour >= 13 || t.text.starts_with('0');
        // "17h", "15h30": a 24-hour time, where "1h30" is a length.
        if fixed && self.is(i + 1, "h") && self.glued(i + 1) {
            let minute = match self.number(i + 2) {
                Some(m) if self.glued(i + 2) && m.text.len() == 2 => m.value?,
                _ => 0,
            };
            let end = if minute > 0 || self.number(i + 2).is_some() {
                i + 3
            } else {
                i + 2
            };
            let clock = Clock::fixed(u8::try_from(hour).ok()?, i8::try_from(minute).ok()?);
            return (hour <= 23 && minute <= 59).then_some((clock, end));
        }
        let minutes_follow = self.punct(i + 1, ":.")
            && self.glued(i + 1)
            && self.glued(i + 2)
            && self.number(i + 2).is_some_and(|m| m.text.len() == 2);
        if !minutes_follow {
            return self.clock_tail(hour, 0, false, fixed, i + 1);
        }
        // "14.12.2026" is a date, not 14:12.
        if self.punct(i + 1, ".") && self.punct(i + 3, ".") && self.number(i + 4).is_some() {
            return None;
        }
        self.clock_tail(hour, self.value(i + 2)?, true, fixed, i + 3)
    }

    /// "to 4" in "move the 3 pm to 4": a bare hour after "to" is a time when
    /// the text ends there or goes on with punctuation, a date or a time
    /// ("to 4 tomorrow"), or a word that closes a request; "to 3 patients"
    /// is not.
    fn hour_after_to(&self, i: usize) -> Option<Match> {
        if !self.is(i, "to|until|till") {
            return None;
        }
        let (clock, end) = self.clock(i + 1)?;
        let closes = match self.token(end) {
            None => true,
            Some(t) if t.kind == Kind::Punct => true,
            Some(_) => {
                self.is(end, "instead|please|then|if|and|with|for|on|in|same")
                    || longest(self, end, MATCHERS).is_some()
            }
        };
        closes.then(|| (end, vec![Piece::At(clock)]))
    }

    /// The rest of a time after its hour and minutes: am/pm or o'clock.
    fn clock_tail(
        &self,
        hour: u32,
        minute: u32,
        written: bool,
        fixed: bool,
        j: usize,
    ) -> Option<(Clock, usize)> {
        if minute > 59 || hour > 23 {
            return None;
        }
        let (hour, minute) = (hour as u8, minute as i8);
        if let Some((meridiem, end)) = self.meridiem(j) {
            let clock = Clock {
                meridiem: Some(meridiem),
                fixed: false,
                ..Clock::fixed(hour, minute)
            };
            return (1..=12).contains(&hour).then_some((clock, end));
        }
        if let Some(end) = self.oclock(j) {
            let clock = Clock {
                fixed,
                ..Clock::fixed(hour, minute)
            };
            return (hour <= 12).then_some((clock, end));
        }
        if hour == 12 && minute == 0 && self.is(j, "noon|midnight") {
            let midnight = self.is(j, "midnight");
            let clock = Clock {
                hour: if midnight { 0 } else { 12 },
                midnight,
                ..Clock::fixed(12, 0)
            };
            return Some((clock, j + 1));
        }
        // "3 days", "2 weeks", "the 3rd", "one of them": a number, not an hour.
        if !written
            && (self.is(
                j,
                "st|nd|rd|th|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|day|days|week|weeks|month|months|year|years|of",
            ) || (self.punct(j, "/%") && self.glued(j) && self.number(j + 1).is_some()))
        {
            return None;
        }
        // "3 in the afternoon" needs no "at"; the part is read on its own.
        let strong = written || self.phrase(j, "in the morning|afternoon|evening").is_some();
        let clock = Clock {
            strong,
            fixed,
            ..Clock::fixed(hour, minute)
        };
        Some((clock, j))
    }

    /// "half past 2", "quarter past 9", "quarter after 9", "ten past 3",
    /// "quarter to 4", "20 minutes to 4". "Ten to 4" is not read: "move the
    /// ten to four" is a move.
    fn past_to(&self, i: usize) -> Option<(Clock, usize)> {
        let (minutes, j, named) = match self.word(i) {
            Some("half") => (30, i + 1, true),
            Some("quarter") => (15, i + 1, true),
            _ => {
                let (m, j) = self.count(i)?;
                if !(1..=59).contains(&m) {
                    return None;
                }
                match self.phrase(j, "minute|minutes|min|mins") {
                    Some(k) => (m, k, true),
                    None => (m, j, false),
                }
            }
        };
        let before = match self.word(j)? {
            "past" => false,
            "after" if minutes == 15 && named => false,
            "to" | "before" if named && minutes != 30 => true,
            _ => return None,
        };
        let (hour, k) = self.count(j + 1)?;
        if !(1..=12).contains(&hour) {
            return None;
        }
        let minute = if before {
            -(minutes as i8)
        } else {
            minutes as i8
        };
        let mut clock = Clock {
            fixed: false,
            ..Clock::fixed(hour as u8, minute)
        };
        match self.meridiem(k) {
            Some((meridiem, end)) => {
                clock.meridiem = Some(meridiem);
                Some((clock, end))
            }
            None => Some((clock, k)),
        }
    }

    /// An amount, as a fraction: "1.5", "two", "an", "a couple of", "two
    /// and a half".
    fn amount(&self, i: usize) -> Option<((u64, u64), usize)> {
        let (mut num, mut den, mut j) = if let Some(t) = self.number(i) {
            let whole = u64::from(t.value?);
            match self.number(i + 2) {
                Some(f)
                    if self.punct(i + 1, ".,")
                        && self.glued(i + 1)
                        && self.glued(i + 2)
                        && f.text.len() <= 3 =>
                {
                    let den = 10u64.pow(f.text.len() as u32);
                    (whole * den + u64::from(f.value?), den, i + 3)
                }
                _ => (whole, 1, i + 1),
            }
        } else if let Some(j) = self.phrase(i, "(a) couple (of)") {
            (2, 1, j)
        } else if self.is(i, "a|an") {
            (1, 1, i + 1)
        } else {
            let (n, j) = self.count(i)?;
            (u64::from(n), 1, j)
        };
        if let Some(end) = self.phrase(j, "and a half") {
            num = num * 2 + den;
            den *= 2;
            j = end;
        }
        Some(((num, den), j))
    }

    /// A length of time in minutes: "45 minutes", "45-min", "1.5 hours",
    /// "two hours", "an hour and a half", "1 hour 30 minutes", "1h30",
    /// "half an hour", "a quarter of an hour".
    fn length(&self, i: usize) -> Option<(u32, usize)> {
        if let Some(end) = self.phrase(i, "half (an|a) hour|hr") {
            return Some((30, end));
        }
        if let Some(end) = self.phrase(i, "quarter (of) (an|a) hour|hr") {
            return Some((15, end));
        }
        if let Some((n, j)) = self.count(i)
            && let Some(end) = self.phrase(j, "quarters of (an|a) hour")
        {
            return self.capped(u64::from(n) * 15, 1).map(|m| (m, end));
        }
        let ((num, den), j) = self.amount(i)?;
        let k = if self.punct(j, "-") && self.glued(j) {
            j + 1
        } else {
            j
        };
        let digits = self.number(i).is_some();
        let per_unit = match self.word(k)? {
            "minute" | "minutes" | "min" | "mins" => 1,
            "m" if digits && self.glued(k) => 1,
            "hour" | "hours" | "hr" | "hrs" => 60,
            // "17h" and "15h30" are 24-hour times (see `clock`).
            "h" if digits && num <= 12 * den => 60,
            _ => return None,
        };
        let mut extra = 0;
        let mut end = k + 1;
        if per_unit == 60 {
            if let Some(e) = self.phrase(end, "and a half") {
                extra = 30;
                end = e;
            } else if self.is(k, "h")
                && self.glued(end)
                && let Some(t) = self.number(end).filter(|t| t.text.len() <= 2)
            {
                // "1h30", "1h30m"
                extra = t.value.filter(|m| *m < 60)?;
                end += 1;
                if self.glued(end) && self.is(end, "m|min") {
                    end += 1;
                }
            } else {
                // "1 hour 30 minutes", "1 hour and 15 min"
                let m = if self.is(end, "and") { end + 1 } else { end };
                if let Some((n, e)) = self.count(m)
                    && let Some(e) = self.phrase(e, "minute|minutes|min|mins")
                {
                    extra = n;
                    end = e;
                }
            }
        }
        let minutes = num
            .checked_mul(per_unit)?
            .checked_add(u64::from(extra).checked_mul(den)?)?;
        self.capped(minutes, den).map(|m| (m, end))
    }

    /// `minutes / den`, rounded, when it is a length anyone books.
    fn capped(&self, minutes: u64, den: u64) -> Option<u32> {
        let minutes = (minutes + den / 2) / den;
        (1..=MAX_MINUTES)
            .contains(&minutes)
            .then_some(minutes as u32)
    }
}

fn number_word(word: &str) -> Option<u32> {
    const WORDS: [&str; 20] = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    if let Some(k) = WORDS.iter().position(|w| *w == word) {
        return Some(k as u32 + 1);
    }
    match word {
        "thirty" => Some(30),
        "forty" => Some(40),
        "fifty" => Some(50),
        "sixty" => Some(60),
        "ninety" => Some(90),
        _ => None,
    }
}

fn ordinal(word: &str) -> Option<i8> {
    const WORDS: [&str; 20] = [
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "eleventh",
        "twelfth",
        "thirteenth",
        "fourteenth",
        "fifteenth",
        "sixteenth",
        "seventeenth",
        "eighteenth",
        "nineteenth",
        "twentieth",
    ];
    if let Some(k) = WORDS.iter().position(|w| *w == word) {
        return Some(k as i8 + 1);
    }
    (word == "thirtieth").then_some(30)
}

/// Weekday names, their plurals ("Mondays") and abbreviations.
fn weekday_name(word: &str) -> Option<Weekday> {
    let word = word
        .strip_suffix('s')
        .filter(|w| w.ends_with("day"))
        .unwrap_or(word);
    Some(match word {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tue" | "tues" => Weekday::Tuesday,
        "wednesday" | "wed" | "weds" => Weekday::Wednesday,
        "thursday" | "thu" | "thur" | "thurs" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" | "sat" => Weekday::Saturday,
        "sunday" | "sun" => Weekday::Sunday,
        _ => return None,
    })
}

fn month_name(word: &str) -> Option<i8> {
    Some(match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// The patterns.

/// "2026-12-14", "2026/12/14".
fn iso_date(ctx: &Ctx, i: usize) -> Option<Match> {
    let year = ctx.number(i).filter(|t| t.text.len() == 4)?.value?;
    let sep = ["-", "/"].into_iter().find(|s| ctx.punct(i + 1, s))?;
    let month = ctx.number(i + 2).filter(|t| t.text.len() <= 2)?.value?;
    let day = ctx.number(i + 4).filter(|t| t.text.len() <= 2)?.value?;
    if !ctx.punct(i + 3, sep) || !(i + 1..=i + 4).all(|k| ctx.glued(k)) {
        return None;
    }
    let date = Date::new(year as i16, month as i8, day as i8).ok()?;
    Some((i + 5, vec![Piece::Dates(DateSpan::day(date))]))
}

/// "12/14", "14/12", "12/14/2026": read only when one part is over 12, so
/// that the order (month first or day first) is not a guess.
fn numeric_date(ctx: &Ctx, i: usize) -> Option<Match> {
    let part = |k: usize| ctx.number(k).filter(|t| t.text.len() <= 2)?.value;
    let (a, b) = (part(i)?, part(i + 2)?);
    if !ctx.punct(i + 1, "/") || !ctx.glued(i + 1) || !ctx.glued(i + 2) {
        return None;
    }
    let (month, day) = match (a, b) {
        (1..=12, 13..=31) => (a, b),
        (13..=31, 1..=12) => (b, a),
        _ => return None,
    };
    let mut end = i + 3;
    let mut year = None;
    if ctx.punct(end, "/")
        && ctx.glued(end)
        && ctx.glued(end + 1)
        && let Some(t) = ctx.number(end + 1)
    {
        year = match (t.text.len(), t.value) {
            (2, Some(y)) => Some(2000 + y as i16),
            (4, Some(y)) => Some(y as i16),
            _ => return None,
        };
        end += 2;
    }
    let span = civil(ctx.today, month as i8, day as i8, year)?;
    Some((end, vec![Piece::Dates(span)]))
}

/// "in 3 days", "in two weeks", "in a month", "in 30 minutes", "in an hour
/// and a half", "3 days from now", "a week from today".
///
/// "in N weeks" is the Monday–Sunday week holding today + 7N days, and "in
/// N months" the month N on; both can be narrowed ("in two weeks on
/// Tuesday"). Minutes and hours count from `now` on the clock, so "in 24
/// hours" across a change of the clocks is 23 or 25 wall-clock hours on.
fn relative(ctx: &Ctx, i: usize) -> Option<Match> {
    let (start, needs_from) = if ctx.is(i, "in") {
        (i + 1, false)
    } else {
        (i, true)
    };
    let calendar = ctx
        .count(start)
        .or_else(|| ctx.is(start, "a|an").then_some((1, start + 1)));
    let (pieces, end) = match calendar.and_then(|(n, j)| {
        let k = if ctx.punct(j, "-") { j + 1 } else { j };
        let unit = ctx.word(k)?;
        let n = i64::from(n);
        let pieces = match unit {
            "day" | "days" => vec![Piece::Dates(DateSpan::day(add_days(ctx.today, n)?))],
            "week" | "weeks" => {
                let date = add_days(ctx.today, n.checked_mul(7)?)?;
                vec![Piece::Within(week_of_date(date)?)]
            }
            "month" | "months" => {
                let from = ctx.today.first_of_month();
                vec![Piece::Within(month_of(ctx.today, n, from)?)]
            }
            _ => return None,
        };
        Some((pieces, k + 1))
    }) {
        Some(found) => found,
        None => {
            let (minutes, j) = ctx.length(start)?;
            let then = ctx
                .now
                .checked_add(Span::new().try_minutes(i64::from(minutes)).ok()?)
                .ok()?;
            let at = Clock::fixed(then.hour() as u8, then.minute());
            (
                vec![Piece::Dates(DateSpan::day(then.date())), Piece::At(at)],
                j,
            )
        }
    };
    match ctx.phrase(end, "from now|today") {
        Some(end) => Some((end, pieces)),
        None if needs_from => None,
        None => Some((end, pieces)),
    }
}

fn duration(ctx: &Ctx, i: usize) -> Option<Match> {
    let (minutes, end) = ctx.length(i)?;
    Some((end, vec![Piece::Minutes(minutes)]))
}

/// "December 14", "Dec. 14th, 2026", "December the 14th", "14 December",
/// "14th of Dec 2026", "the 14th of December". A month name counts only
/// next to a day ("Mrs May" is a name), and not before a time ("May 3pm").
fn month_day(ctx: &Ctx, i: usize) -> Option<Match> {
    if let Some(month) = ctx.word(i).and_then(month_name) {
        let mut j = i + 1;
        if ctx.punct(j, ".") {
            j += 1;
        }
        if ctx.is(j, "the") {
            j += 1;
        }
        let (day, k, ordinal) = ctx.day_number(j)?;
        if !ordinal && ctx.time_follows(k) {
            return None;
        }
        let (year, end) = ctx.year(k);
        let span = civil(ctx.today, month, day, year)?;
        return Some((end, vec![Piece::Dates(span)]));
    }
    let j = if ctx.is(i, "the") { i + 1 } else { i };
    let (day, mut k, ordinal) = ctx.day_number(j)?;
    if ordinal && ctx.is(k, "of") {
        k += 1;
    }
    let month = month_name(ctx.word(k)?)?;
    k += 1;
    if ctx.punct(k, ".") && ctx.glued(k) {
        k += 1;
    }
    let (year, end) = ctx.year(k);
    let span = civil(ctx.today, month, day, year)?;
    Some((end, vec![Piece::Dates(span)]))
}

/// "the week of the 14th", "week of December 14": that Monday–Sunday week.
fn week_of(ctx: &Ctx, i: usize) -> Option<Match> {
    let j = ctx.phrase(i, "(the) week of")?;
    let (end, pieces) = longest(ctx, j, DATE_MATCHERS)?;
    let date = resolve(&pieces, ctx.today).dates?.first;
    Some((end, vec![Piece::Within(week_of_date(date)?)]))
}

/// "between 2 and 4", "from 9 to 11", "2-4pm", "9:00–11:30". In a range
/// the end is read first (by the office-hours rule) and an ambiguous start
/// takes the latest reading before it: "between 2 and 4" is 14–16,
/// "between 10 and 2" 10–14, "from 11 to 1" 11–13.
fn time_range(ctx: &Ctx, i: usize) -> Option<Match> {
    let (start, joiners) = if ctx.is(i, "between") {
        (i + 1, "and")
    } else if ctx.is(i, "from") {
        (i + 1, "to|until|till|til|through|thru")
    } else {
        (i, "")
    };
    let (a, j) = ctx.clock(start)?;
    if !(ctx.punct(j, "-") || (!joiners.is_empty() && ctx.is(j, joiners))) {
        return None;
    }
    let (b, end) = ctx.clock(j + 1)?;
    // "2-4" alone could be anything; "2-4pm" and "9:00-11:00" are times.
    if joiners.is_empty() && !(a.strong || b.strong) {
        return None;
    }
    let mut last = b.end_minute();
    let first = if a.ambiguous() {
        let am = a.am_reading();
        if am + 12 * 60 < last {
            am + 12 * 60
        } else {
            am
        }
    } else {
        a.minute_of_day()
    };
    if last <= first && b.ambiguous() && last + 12 * 60 <= 24 * 60 {
        last += 12 * 60;
    }
    let interval = Interval::new(first, last)?;
    let piece = if ctx.is(i, "from") {
        Piece::FromToHours {
            hours: interval,
            from: a,
            to: b,
            joiner: j,
        }
    } else {
        Piece::Part(interval)
    };
    Some((end, vec![piece]))
}

/// "from Monday to Wednesday", "between the 14th and the 18th", "Dec 14
/// through Dec 18": the days from the first to the last. The second end is
/// read from the first: "from Friday to Monday" ends on the Monday after.
fn date_range(ctx: &Ctx, i: usize) -> Option<Match> {
    let (start, joiners) = if ctx.is(i, "from") {
        (i + 1, "to|until|till|til|through|thru")
    } else if ctx.is(i, "between") {
        (i + 1, "and")
    } else {
        (i, "through|thru")
    };
    let (j, from) = longest(ctx, start, DATE_MATCHERS)?;
    if !(ctx.punct(j, "-") || ctx.is(j, joiners)) {
        return None;
    }
    let (end, to) = longest(ctx, j + 1, DATE_MATCHERS)?;
    let from = resolve(&from, ctx.today).dates?;
    let to = resolve(&to, from.first).dates?;
    let days = DateSpan::new(from.first, to.last)?;
    let piece = if ctx.is(i, "from") {
        Piece::FromToDays {
            days,
            from,
            to,
            joiner: j,
        }
    } else {
        Piece::Within(days)
    };
    Some((end, vec![piece]))
}

/// "after 3" (15:00 to the end of the day), "before 11", "by noon", "until
/// 5", "no later than 4", "not before 10".
fn time_bound(ctx: &Ctx, i: usize) -> Option<Match> {
    const AFTER: [&str; 4] = [
        "after|from",
        "(no|not) earlier than",
        "later than",
        "not before",
    ];
    const BEFORE: [&str; 4] = [
        "before|by|until|till|til",
        "(no|not) later than",
        "earlier than",
        "not after",
    ];
    let intro = |patterns: &[&str]| patterns.iter().filter_map(|p| ctx.phrase(i, p)).max();
    let (after, j) = match (intro(&AFTER), intro(&BEFORE)) {
        (Some(a), Some(b)) if b > a => (false, b),
        (Some(a), _) => (true, a),
        (None, Some(b)) => (false, b),
        (None, None) => return None,
    };
    let (clock, end) = ctx.clock(j)?;
    let interval = if after {
        Interval::new(clock.minute_of_day(), 24 * 60)
    } else {
        Interval::new(0, clock.end_minute())
    }?;
    Some((end, vec![Piece::Bound(interval)]))
}

/// "at 3", "around 10", "@ 9", and times that need no "at": "3pm",
/// "15:30", "noon", "half past 2". A bare hour after "at" follows the
/// office-hours rule (1–7 pm, 8–11 am, 12 noon).
fn at_time(ctx: &Ctx, i: usize) -> Option<Match> {
    let intro = ctx.is(i, "at|around|about|approximately") || ctx.punct(i, "@");
    if intro && let Some((clock, end)) = ctx.clock(i + 1) {
        return Some((end, vec![Piece::At(clock)]));
    }
    // "at half 3" is half past 3 (British); "half 3" alone is too vague.
    if intro
        && ctx.is(i + 1, "half")
        && let Some((hour, end)) = ctx.count(i + 2)
        && (1..=12).contains(&hour)
    {
        let clock = Clock {
            fixed: false,
            ..Clock::fixed(hour as u8, 30)
        };
        return Some((end, vec![Piece::At(clock)]));
    }
    let (clock, end) = ctx.clock(i)?;
    clock.strong.then(|| (end, vec![Piece::At(clock)]))
}

/// Words with one meaning each: days, weeks, months, parts of the day.
#[derive(Debug, Clone, Copy)]
enum Named {
    Today,
    Tonight,
    Tomorrow,
    Yesterday,
    DayAfterTomorrow,
    /// "this morning": today, in that part of it.
    ThisPart(Interval),
    ThisWeek,
    NextWeek,
    WeekAfterNext,
    /// Monday to Wednesday.
    EarlyThisWeek,
    EarlyNextWeek,
    /// Tomorrow to Sunday.
    LaterThisWeek,
    /// Thursday to Sunday.
    LaterNextWeek,
    EndOfWeek,
    EndOfNextWeek,
    Weekend,
    NextWeekend,
    ThisMonth,
    NextMonth,
    LaterThisMonth,
    /// The last seven days.
    EndOfMonth,
    EndOfNextMonth,
    /// The first seven days.
    EarlyNextMonth,
    Part(Interval),
    Bound(Interval),
}

/// The phrases, in `Ctx::phrase` patterns. "Later this week" is tomorrow to
/// Sunday, "early next week" Monday to Wednesday, "the end of the week"
/// Thursday to Sunday, "the weekend" the coming Saturday and Sunday and
/// "next weekend" those of next week, "the end of the month" its last
/// seven days and "early next month" the first seven; none reaches back
/// before today. "Early" and "late" parts of the day are their first and
/// last two hours.
const PHRASES: &[(&str, Named)] = &[
    ("today", Named::Today),
    ("tonight", Named::Tonight),
    ("tomorrow|tmrw|tmr|tomorow", Named::Tomorrow),
    ("yesterday", Named::Yesterday),
    ("(the) day after tomorrow", Named::DayAfterTomorrow),
    ("this morning", Named::ThisPart(MORNING)),
    ("this afternoon", Named::ThisPart(AFTERNOON)),
    ("this evening", Named::ThisPart(EVENING)),
    ("this week", Named::ThisWeek),
    ("next week", Named::NextWeek),
    ("(the) week after next", Named::WeekAfterNext),
    ("early this week", Named::EarlyThisWeek),
    ("early in the week", Named::EarlyThisWeek),
    ("early next week", Named::EarlyNextWeek),
    ("later|late this week", Named::LaterThisWeek),
    ("later|late in the week", Named::LaterThisWeek),
    ("later|late next week", Named::LaterNextWeek),
    ("(the) end of (the|this) week", Named::EndOfWeek),
    ("(the) end of next week", Named::EndOfNextWeek),
    ("(this|the) weekend", Named::Weekend),
    ("next weekend", Named::NextWeekend),
    ("this month", Named::ThisMonth),
    ("next month", Named::NextMonth),
    ("later|late this month", Named::LaterThisMonth),
    ("later|late in the month", Named::LaterThisMonth),
    ("(the) end of (the|this) month", Named::EndOfMonth),
    ("(the) end of next month", Named::EndOfNextMonth),
    ("early next month", Named::EarlyNextMonth),
    ("(the) beginning|start of next month", Named::EarlyNextMonth),
    ("morning|mornings", Named::Part(MORNING)),
    ("afternoon|afternoons", Named::Part(AFTERNOON)),
    ("evening|evenings|night|nights", Named::Part(EVENING)),
    ("lunchtime|lunchtimes|lunch", Named::Part(LUNCHTIME)),
    ("lunch time", Named::Part(LUNCHTIME)),
    ("first thing", Named::Part(FIRST_THING)),
    ("(the) end of (the) day", Named::Part(END_OF_DAY)),
    ("early morning|mornings", Named::Part(hours(8, 10))),
    ("late morning|mornings", Named::Part(hours(10, 12))),
    ("early afternoon|afternoons", Named::Part(hours(12, 14))),
    ("late afternoon|afternoons", Named::Part(hours(15, 17))),
    ("early evening|evenings", Named::Part(hours(17, 19))),
    ("late evening|evenings", Named::Part(hours(19, 21))),
    ("after lunch", Named::Bound(hours(14, 24))),
    ("before lunch", Named::Bound(hours(0, 12))),
];

fn named(ctx: &Ctx, i: usize) -> Option<Match> {
    let mut best: Option<(usize, Named)> = None;
    for (pattern, meaning) in PHRASES {
        if let Some(end) = ctx.phrase(i, pattern)
            && best.is_none_or(|(b, _)| end > b)
        {
            best = Some((end, *meaning));
        }
    }
    let (end, meaning) = best?;
    // A phrase that means nothing today ("later this week" on a Sunday)
    // still is not a name.
    Some((end, named_pieces(meaning, ctx.today).unwrap_or_default()))
}

fn named_pieces(meaning: Named, today: Date) -> Option<Vec<Piece>> {
    let day = |n: i64| add_days(today, n).map(DateSpan::day);
    let week = |weeks: i64, first: i64, last: i64| {
        days_of_week(add_days(today, 7 * weeks)?, first, last, today)
    };
    let piece = match meaning {
        Named::Today => Piece::Dates(DateSpan::day(today)),
        Named::Tonight => {
            return Some(vec![
                Piece::Dates(DateSpan::day(today)),
                Piece::Part(EVENING),
            ]);
        }
        Named::Tomorrow => Piece::Dates(day(1)?),
        Named::Yesterday => Piece::Dates(day(-1)?),
        Named::DayAfterTomorrow => Piece::Dates(day(2)?),
        Named::ThisPart(part) => {
            return Some(vec![Piece::Dates(DateSpan::day(today)), Piece::Part(part)]);
        }
        Named::ThisWeek => Piece::Within(week(0, 0, 6)?),
        Named::NextWeek => Piece::Within(week(1, 0, 6)?),
        Named::WeekAfterNext => Piece::Within(week(2, 0, 6)?),
        Named::EarlyThisWeek => Piece::Within(week(0, 0, 2)?),
        Named::EarlyNextWeek => Piece::Within(week(1, 0, 2)?),
        Named::LaterThisWeek => {
            let tomorrow = add_days(today, 1)?;
            Piece::Within(days_of_week(today, 0, 6, tomorrow)?)
        }
        Named::LaterNextWeek => Piece::Within(week(1, 3, 6)?),
        Named::EndOfWeek => Piece::Within(week(0, 3, 6)?),
        Named::EndOfNextWeek => Piece::Within(week(1, 3, 6)?),
        Named::Weekend => Piece::Within(week(0, 5, 6)?),
        Named::NextWeekend => Piece::Within(week(1, 5, 6)?),
        Named::ThisMonth => Piece::Within(month_of(today, 0, today)?),
        Named::NextMonth => Piece::Within(month_of(today, 1, today)?),
        Named::LaterThisMonth => Piece::Within(month_of(today, 0, add_days(today, 1)?)?),
        Named::EndOfMonth => Piece::Within(month_end(today, 0, 7, today)?),
        Named::EndOfNextMonth => Piece::Within(month_end(today, 1, 7, today)?),
        Named::EarlyNextMonth => {
            let month = month_of(today, 1, today)?;
            Piece::Within(DateSpan::new(month.first, add_days(month.first, 6)?)?)
        }
        Named::Part(part) => Piece::Part(part),
        Named::Bound(bound) => Piece::Bound(bound),
    };
    Some(vec![piece])
}

/// "Thursday", "thu", "Thurs.", "this Friday", "next Monday", "last
/// Tuesday". Alone or with "this" or "coming" it is the coming one, today
/// included (and a week or month said with it narrows it); "next Monday"
/// is the first Monday strictly after today, "last Monday" the latest
/// strictly before.
fn weekday(ctx: &Ctx, i: usize) -> Option<Match> {
    enum Which {
        Coming,
        Next,
        Last,
    }
    let (which, j) = match ctx.word(i)? {
        "next" => (Which::Next, i + 1),
        "last" | "past" => (Which::Last, i + 1),
        "this" if ctx.is(i + 1, "coming") => (Which::Coming, i + 2),
        "this" | "coming" => (Which::Coming, i + 1),
        _ => (Which::Coming, i),
    };
    let word = ctx.word(j)?;
    let day = weekday_name(word)?;
    // "sat" and "sun" are words too ("I sat with Mrs Ortiz", "Sun Life"):
    // as days they need a word before that makes them one, or nothing,
    // punctuation, a date or a time after.
    if matches!(word, "sat" | "sun")
        && j == i
        && !(j > 0 && ctx.is(j - 1, "on|by|until|till|from|every|each|and|or|to"))
    {
        let follows = match ctx.token(j + 1) {
            None => true,
            Some(t) => t.kind == Kind::Punct || longest(ctx, j + 1, FOLLOWERS).is_some(),
        };
        if !follows {
            return None;
        }
    }
    // "Monday after next": the Monday after next Monday.
    if let Which::Coming | Which::Next = which
        && let Some(end) = ctx.phrase(j + 1, "after next")
    {
        let date = add_days(next(ctx.today, day)?, 7)?;
        return Some((end, vec![Piece::Dates(DateSpan::day(date))]));
    }
    let piece = match which {
        Which::Coming => Piece::Weekday(day),
        Which::Next => Piece::Dates(DateSpan::day(next(ctx.today, day)?)),
        Which::Last => Piece::Dates(DateSpan::day(last(ctx.today, day)?)),
    };
    Some((j + 1, vec![piece]))
}

/// "the 14th", "on the 3rd", "14th", "the first", "the twenty-first of the
/// month": the next such day of a month on or after today. Ordinals in
/// words need "the" and must not be followed by a noun ("the first
/// appointment" is not a date).
fn day_of_month(ctx: &Ctx, i: usize) -> Option<Match> {
    let j = if ctx.is(i, "the") { i + 1 } else { i };
    let (day, mut end, ordinal) = ctx.day_number(j)?;
    if !ordinal {
        return None;
    }
    if ctx.word(j).is_some() {
        let follows_well = match ctx.token(end) {
            None => true,
            Some(t) if t.kind == Kind::Punct => true,
            Some(_) => ctx.is(
                end,
                "of|at|in|on|for|with|or|and|to|from|between|after|before|by|if|please|morning|afternoon|evening|next|this",
            ),
        };
        if j == i || !follows_well {
            return None;
        }
    }
    if let Some(e) = ctx.phrase(end, "of the|this month") {
        end = e;
    }
    Some((end, vec![Piece::DayOfMonth(day)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::hours::clock;

    fn ny(civil: &str) -> Zoned {
        let civil: jiff::civil::DateTime = civil.parse().unwrap();
        civil.in_tz("America/New_York").unwrap()
    }

    /// A reading in one line: dates, windows, time, length, each only when
    /// present.
    fn render(reading: &Reading) -> String {
        let mut parts = Vec::new();
        if let Some(dates) = reading.dates {
            parts.push(if dates.first == dates.last {
                dates.first.to_string()
            } else {
                format!("{}..{}", dates.first, dates.last)
            });
        }
        if !reading.windows.is_empty() {
            let windows: Vec<String> = reading
                .windows
                .iter()
                .map(|w| format!("{}-{}", clock(w.start), clock(w.end)))
                .collect();
            parts.push(windows.join(","));
        }
        if let Some(at) = reading.at {
            parts.push(format!("at {:02}:{:02}", at.hour(), at.minute()));
        }
        if let Some(minutes) = reading.duration_minutes {
            parts.push(format!("{minutes} min"));
        }
        parts.join("; ")
    }

    fn check(text: &str, now: &Zoned, expected: &str) {
        assert_eq!(render(&read(text, now)), expected, "{text:?}");
    }

    fn check_spans(text: &str, expected: &[&str]) {
        let now = ny("2026-12-01 10:00");
        let spans: Vec<&str> = read(text, &now)
            .spans
            .iter()
            .map(|span| &text[span.clone()])
            .collect();
        assert_eq!(spans, expected, "{text:?}");
    }

    fn check_clauses(text: &str, expected: &str) {
        let now = ny("2026-12-01 10:00");
        let clauses: Vec<String> = read_all(text, &now)
            .iter()
            .map(|clause| render(&clause.reading))
            .collect();
        assert_eq!(clauses.join(" | "), expected, "{text:?}");
    }

    // `now` is Tuesday 2026-12-01 10:00 in New York unless a test says.

    #[test]
    fn the_example_requests() {
        let now = ny("2026-12-01 10:00");
        check(
            "book Mrs Ortiz for a 45-minute cleaning next week, afternoons, with Dr Lee",
            &now,
            "2026-12-07..2026-12-13; 12:00-17:00; 45 min",
        );
        check(
            "move Mr Chen's Thursday appointment to Monday morning",
            &now,
            "2026-12-03; 08:00-12:00",
        );
        check(
            "who is free for a 90-minute install on Friday?",
            &now,
            "2026-12-04; 90 min",
        );
        check("cancel the 3 pm with Alvarez", &now, "at 15:00");
        check(
            "in two weeks at 3",
            &now,
            "2026-12-14..2026-12-20; at 15:00",
        );
        check("the 14th", &now, "2026-12-14");
        check(
            "Can we do Wednesday at 10:30 for an hour with Dr Lee?",
            &now,
            "2026-12-02; at 10:30; 60 min",
        );
        check(
            "book Mr Chen next Tuesday 2pm, 30 min",
            &now,
            "2026-12-08; at 14:00; 30 min",
        );
        check("nothing about time here, Mrs May", &now, "");
    }

    #[test]
    fn days_by_name() {
        let now = ny("2026-12-01 10:00");
        check("today", &now, "2026-12-01");
        check("tonight", &now, "2026-12-01; 17:00-21:00");
        check("this morning", &now, "2026-12-01; 08:00-12:00");
        check("this afternoon", &now, "2026-12-01; 12:00-17:00");
        check("this evening", &now, "2026-12-01; 17:00-21:00");
        check("tomorrow", &now, "2026-12-02");
        check(
            "Tomorrow morning at 7",
            &now,
            "2026-12-02; 08:00-12:00; at 07:00",
        );
        check("the day after tomorrow", &now, "2026-12-03");
        check("day after tomorrow", &now, "2026-12-03");
        check("yesterday", &now, "2026-11-30");
    }

    #[test]
    fn weekdays() {
        let now = ny("2026-12-01 10:00");
        check("Thursday", &now, "2026-12-03");
        check("thu", &now, "2026-12-03");
        check("Thurs.", &now, "2026-12-03");
        check("THURSDAY", &now, "2026-12-03");
        check("mon", &now, "2026-12-07");
        check("on Tuesday", &now, "2026-12-01");
        check("this Friday", &now, "2026-12-04");
        check("this coming Monday", &now, "2026-12-07");
        check("next Monday", &now, "2026-12-07");
        check("next Tuesday", &now, "2026-12-08");
        // Strictly after today: on a Tuesday, next Thursday is in two days.
        check("next Thursday", &now, "2026-12-03");
        check("last Monday", &now, "2026-11-30");
        check("last Tuesday", &now, "2026-11-24");
        check("Monday next week", &now, "2026-12-07");
        check("next week Monday", &now, "2026-12-07");
        check("next week on Friday", &now, "2026-12-11");
        check("Friday next week", &now, "2026-12-11");
        check("Friday this week", &now, "2026-12-04");
        check("Mondays", &now, "2026-12-07");
        check("the Monday after next", &now, "2026-12-14");
        check("next Monday-Wednesday", &now, "2026-12-07..2026-12-09");
        // Whole words only; "sat" and "sun" are days only where a day fits.
        check("ask Simon about the Wedding", &now, "");
        check("I sat with Mrs Ortiz on Monday", &now, "2026-12-07");
        check("Sun Life appointment tomorrow", &now, "2026-12-02");
        check("Sat 3pm", &now, "2026-12-05; at 15:00");
        check("Fri or Sat", &now, "2026-12-04");
        check("see you Sun.", &now, "2026-12-06");
    }

    #[test]
    fn weeks_and_months() {
        let now = ny("2026-12-01 10:00");
        check("this week", &now, "2026-12-01..2026-12-06");
        check("next week", &now, "2026-12-07..2026-12-13");
        check("the week after next", &now, "2026-12-14..2026-12-20");
        check("in two weeks", &now, "2026-12-14..2026-12-20");
        check("in 2 weeks", &now, "2026-12-14..2026-12-20");
        check("in a week", &now, "2026-12-07..2026-12-13");
        check("in two weeks on Tuesday", &now, "2026-12-15");
        check("two weeks from now", &now, "2026-12-14..2026-12-20");
        check("in 3 days", &now, "2026-12-04");
        check("3 days from now", &now, "2026-12-04");
        check("early next week", &now, "2026-12-07..2026-12-09");
        check("later this week", &now, "2026-12-02..2026-12-06");
        check("end of the week", &now, "2026-12-03..2026-12-06");
        check("the weekend", &now, "2026-12-05..2026-12-06");
        check("next weekend", &now, "2026-12-12..2026-12-13");
        check("this month", &now, "2026-12-01..2026-12-31");
        check("next month", &now, "2027-01-01..2027-01-31");
        check("end of the month", &now, "2026-12-25..2026-12-31");
        check("end of next month", &now, "2027-01-25..2027-01-31");
        check("early next month", &now, "2027-01-01..2027-01-07");
        check("in two months", &now, "2027-02-01..2027-02-28");
        check("the week of the 14th", &now, "2026-12-14..2026-12-20");
        check("week of December 23", &now, "2026-12-21..2026-12-27");
        check(
            "next week, afternoons",
            &now,
            "2026-12-07..2026-12-13; 12:00-17:00",
        );
        check(
            "mornings this week",
            &now,
            "2026-12-01..2026-12-06; 08:00-12:00",
        );
        // Monday has passed: the week said stands.
        check("Monday this week", &now, "2026-12-01..2026-12-06");
        check("from Monday to Wednesday", &now, "2026-12-07..2026-12-09");
        check("from Friday to Monday", &now, "2026-12-04..2026-12-07");
        check(
            "between the 14th and the 18th",
            &now,
            "2026-12-14..2026-12-18",
        );
        check("Dec 14 through Dec 18", &now, "2026-12-14..2026-12-18");
        check(
            "Mon-Wed next week, after 2",
            &now,
            "2026-12-07..2026-12-09; 14:00-24:00",
        );
    }

    #[test]
    fn days_of_the_month() {
        let now = ny("2026-12-01 10:00");
        check("on the 14th", &now, "2026-12-14");
        check("the 3rd", &now, "2026-12-03");
        check("the 1st", &now, "2026-12-01");
        check("the 31st", &now, "2026-12-31");
        check("22nd", &now, "2026-12-22");
        check("the fourteenth", &now, "2026-12-14");
        check("the twenty-first", &now, "2026-12-21");
        check("the first of next month", &now, "2027-01-01");
        check("the 14th next month", &now, "2027-01-14");
        check("the first appointment", &now, "");
        check("December 14", &now, "2026-12-14");
        check("14 December", &now, "2026-12-14");
        check("Dec 14th", &now, "2026-12-14");
        check("dec. 14", &now, "2026-12-14");
        check("December the 14th", &now, "2026-12-14");
        check("the 14th of December", &now, "2026-12-14");
        check("14 Dec 2026", &now, "2026-12-14");
        check("December 14, 2027", &now, "2027-12-14");
        check("2026-12-14", &now, "2026-12-14");
        check("Dec 1", &now, "2026-12-01");
        check("November 3", &now, "2027-11-03");
        check("March 3", &now, "2027-03-03");
        check("Feb 29", &now, "2028-02-29");
        check("12/14", &now, "2026-12-14");
        check("14/12", &now, "2026-12-14");
        check("12/14/2026", &now, "2026-12-14");
        check("14/12/27", &now, "2027-12-14");
        // Either order fits: not read.
        check("3/4", &now, "");
        check("31/31", &now, "");
        check("Feb 30", &now, "");
        check("Monday, December 14", &now, "2026-12-14");
        check("Thursday December 14", &now, "2026-12-14");
        check("Friday the 13th", &now, "2027-08-13");
        // Month names alone are names.
        check("call Mrs May", &now, "");
        check("March", &now, "");
        check("Mrs May at 3pm", &now, "at 15:00");
        check("May 3pm", &now, "at 15:00");
    }

    #[test]
    fn times() {
        let now = ny("2026-12-01 10:00");
        check("at 3", &now, "at 15:00");
        check("at 7", &now, "at 19:00");
        check("at 8", &now, "at 08:00");
        check("at 11", &now, "at 11:00");
        check("at 12", &now, "at 12:00");
        check("at 13", &now, "at 13:00");
        check("at three", &now, "at 15:00");
        check("3pm", &now, "at 15:00");
        check("3 PM", &now, "at 15:00");
        check("3 p.m.", &now, "at 15:00");
        check("8pm", &now, "at 20:00");
        check("11am", &now, "at 11:00");
        check("12am", &now, "at 00:00");
        check("12pm", &now, "at 12:00");
        check("3:30", &now, "at 15:30");
        check("15:30", &now, "at 15:30");
        check("09:00", &now, "at 09:00");
        check("07:30", &now, "at 07:30");
        check("3.30pm", &now, "at 15:30");
        check("9.30", &now, "at 09:30");
        check("three o'clock", &now, "at 15:00");
        check("noon", &now, "at 12:00");
        check("midday", &now, "at 12:00");
        check("at midnight", &now, "at 00:00");
        check("half past 2", &now, "at 14:30");
        check("quarter to 4", &now, "at 15:45");
        check("quarter past 9", &now, "at 09:15");
        check("quarter to 8", &now, "at 07:45");
        check("quarter to 1", &now, "at 12:45");
        check("ten past 3", &now, "at 15:10");
        check("tonight at 8", &now, "2026-12-01; 17:00-21:00; at 20:00");
        check("at 10 in the evening", &now, "17:00-21:00; at 22:00");
        check("12 noon", &now, "at 12:00");
        check("at half 3", &now, "at 15:30");
        check("17h", &now, "at 17:00");
        check("15h30", &now, "at 15:30");
        check("10:00 a.m.", &now, "at 10:00");
        check("3 in the afternoon", &now, "12:00-17:00; at 15:00");
        check("7 in the morning", &now, "08:00-12:00; at 07:00");
        check("after one of them", &now, "");
        check("noon-2pm", &now, "12:00-14:00");
        check(
            "from the 14th until the 18th",
            &now,
            "2026-12-14..2026-12-18",
        );
        check("at 25", &now, "");
        check("13pm", &now, "");
        check("3:75", &now, "");
    }

    #[test]
    fn windows() {
        let now = ny("2026-12-01 10:00");
        check("morning", &now, "08:00-12:00");
        check("Afternoons", &now, "12:00-17:00");
        check("evening", &now, "17:00-21:00");
        check("lunchtime", &now, "12:00-14:00");
        check("after 3", &now, "15:00-24:00");
        check("after 3pm", &now, "15:00-24:00");
        check("before 11", &now, "00:00-11:00");
        check("before noon", &now, "00:00-12:00");
        check("by 5", &now, "00:00-17:00");
        check("not before 10", &now, "10:00-24:00");
        check("between 2 and 4", &now, "14:00-16:00");
        check("between 10 and 2", &now, "10:00-14:00");
        check("from 9 to 11", &now, "09:00-11:00");
        check("from 11 to 1", &now, "11:00-13:00");
        check("from 8pm to 10", &now, "20:00-22:00");
        check("2-4pm", &now, "14:00-16:00");
        check("9am–5pm", &now, "09:00-17:00");
        check("9:00-11:30", &now, "09:00-11:30");
        check("first thing", &now, "08:00-10:00");
        check("end of day", &now, "15:00-24:00");
        check("first thing in the morning", &now, "08:00-10:00");
        check("afternoon after 3", &now, "15:00-17:00");
        check("mornings or evenings", &now, "08:00-12:00,17:00-21:00");
        check("after lunch", &now, "14:00-24:00");
        check("late afternoon", &now, "15:00-17:00");
        check("Monday morning", &now, "2026-12-07; 08:00-12:00");
        check("Friday between 2 and 4", &now, "2026-12-04; 14:00-16:00");
    }

    #[test]
    fn durations() {
        let now = ny("2026-12-01 10:00");
        check("a 45-minute cleaning", &now, "45 min");
        check("45 min", &now, "45 min");
        check("45m", &now, "45 min");
        check("an hour", &now, "60 min");
        check("1 hour", &now, "60 min");
        check("1.5 hours", &now, "90 min");
        check("90-minute", &now, "90 min");
        check("two hours", &now, "120 min");
        check("two-hour", &now, "120 min");
        check("half an hour", &now, "30 min");
        check("a half-hour", &now, "30 min");
        check("1h30", &now, "90 min");
        check("2h", &now, "120 min");
        check("an hour and a half", &now, "90 min");
        check("two and a half hours", &now, "150 min");
        check("1 hour 30 minutes", &now, "90 min");
        check("1 hr and 15 mins", &now, "75 min");
        check("a quarter of an hour", &now, "15 min");
        check("three quarters of an hour", &now, "45 min");
        check("forty-five minutes", &now, "45 min");
        check("a couple of hours", &now, "120 min");
        check("99999 hours", &now, "");
        // "in" a length is when, not how long.
        check("in 30 minutes", &now, "2026-12-01; at 10:30");
        check("in an hour and a half", &now, "2026-12-01; at 11:30");
        check("in 15 hours", &now, "2026-12-02; at 01:00");
    }

    #[test]
    fn across_month_and_year_ends() {
        let now = ny("2026-12-28 09:00");
        check("tomorrow", &now, "2026-12-29");
        check("Friday", &now, "2027-01-01");
        check("Monday", &now, "2026-12-28");
        check("next Monday", &now, "2027-01-04");
        check("this week", &now, "2026-12-28..2027-01-03");
        check("later this week", &now, "2026-12-29..2027-01-03");
        check("next week", &now, "2027-01-04..2027-01-10");
        check("in two weeks", &now, "2027-01-11..2027-01-17");
        check("next month", &now, "2027-01-01..2027-01-31");
        check("end of the month", &now, "2026-12-28..2026-12-31");
        check("the 3rd", &now, "2027-01-03");
        check("the 28th", &now, "2026-12-28");
        check("December 14", &now, "2027-12-14");
        check("Jan 2", &now, "2027-01-02");
        check("12/31", &now, "2026-12-31");
        check("in 5 days", &now, "2027-01-02");

        let now = ny("2027-01-31 12:00");
        check("the 30th", &now, "2027-03-30");
        check("the 31st", &now, "2027-01-31");
        check("the 29th", &now, "2027-03-29");
        check("next month", &now, "2027-02-01..2027-02-28");
        check("tomorrow", &now, "2027-02-01");
        check("this week", &now, "2027-01-31");
        check("the weekend", &now, "2027-01-31");
        check("later this week", &now, "");
        check("end of the month", &now, "2027-01-31");
        check("next week", &now, "2027-02-01..2027-02-07");
    }

    #[test]
    fn across_a_change_of_the_clocks() {
        // The clocks go forward on Sunday 2027-03-14 in New York.
        let now = ny("2027-03-10 10:00");
        check("next week", &now, "2027-03-15..2027-03-21");
        check("this week", &now, "2027-03-10..2027-03-14");
        check(
            "next week, mornings",
            &now,
            "2027-03-15..2027-03-21; 08:00-12:00",
        );
        check("in 3 days", &now, "2027-03-13");
        // A wall-clock time, even one the day skips: the office resolves it.
        check("Sunday at 2:30am", &now, "2027-03-14; at 02:30");
        check(
            "in 24 hours",
            &ny("2027-03-13 10:00"),
            "2027-03-14; at 11:00",
        );
        check(
            "in 90 minutes",
            &ny("2027-03-14 01:00"),
            "2027-03-14; at 03:30",
        );
        // And back on Sunday 2027-11-07: 00:30 EDT plus two hours is 01:30 EST.
        check(
            "in 2 hours",
            &ny("2027-11-07 00:30"),
            "2027-11-07; at 01:30",
        );
    }

    #[test]
    fn spans_cover_what_was_read() {
        check_spans(
            "book Mrs Ortiz for a 45-minute cleaning next week, afternoons, with Dr Lee",
            &["45-minute", "next week", "afternoons"],
        );
        check_spans("who is free on Friday?", &["on Friday"]);
        check_spans("cancel the 3 pm with Alvarez", &["3 pm"]);
        check_spans("Mrs May, March 3 at 10", &["March 3", "at 10"]);
        check_spans("see Dr Lee", &[]);
        check_spans("move the 3 pm to 4.", &["3 pm", "4"]);
    }

    #[test]
    fn clauses_either_side_of_to() {
        check_clauses(
            "move Mr Chen's Thursday appointment to Monday morning",
            "2026-12-03 | 2026-12-07; 08:00-12:00",
        );
        check_clauses("move the 3 pm to 4 pm", "at 15:00 | at 16:00");
        check_clauses("move quarter to 4 to 5pm", "at 15:45 | at 17:00");
        check_clauses(
            "push Friday's 10:30 into next week",
            "2026-12-04; at 10:30 | 2026-12-07..2026-12-13",
        );
        check_clauses(
            "reschedule tomorrow from 9 to 11",
            "2026-12-02; at 09:00 | at 11:00",
        );
        check_clauses("move it to 11 tomorrow", " | 2026-12-02; at 11:00");
        check_clauses(
            "move Mr Chen from Thursday to Monday",
            "2026-12-03 | 2026-12-07",
        );
        check_clauses("move the cleaning from 9 to 11", "at 09:00 | at 11:00");
        check_clauses(
            "move it to Wednesday from 9 to 11",
            " | 2026-12-02; 09:00-11:00",
        );
        check_clauses("talk to 3 patients", " | ");
        check_clauses("", "");
    }

    #[test]
    fn odd_text_never_panics() {
        let now = ny("2026-12-01 10:00");
        let pieces = [
            "",
            " ",
            "the 99999999999th",
            "at 25",
            "31/31",
            "...!?;:",
            "—–-",
            "1h",
            "h30",
            "at",
            "in",
            "the",
            "between 2 and",
            "from 9 to",
            "quarter to",
            "half past",
            "99999999999999999999 hours",
            "0:00",
            "24:00",
            "00/00/0000",
            "9999-99-99",
            "9999-12-31",
            "Dec 31 9999",
            "the 31st of February",
            "in 99999999 weeks",
            "in 4294967295 days",
            "2.5.",
            "1.",
            ".5 hours",
            "a.m.",
            "p.",
            "o'",
            "twenty-",
            "thirty-first",
            "ünïcödé",
            "日本語のテキスト",
            "🙂🙂",
            "e\u{301}",
            "\u{202E}friday",
            "١٢:٣٠",
            "Ⅻ",
            "ß",
            "İstanbul",
            "'s",
            "@",
            "@@",
            "week of",
            "the week of week of",
            "next",
            "last",
        ];
        // Long runs of words that look ahead must take linear time.
        for word in [
            "sat ",
            "to 3 ",
            "from Monday to ",
            "the week of ",
            "between 2 and ",
            "1h",
        ] {
            let text = word.repeat(2000);
            let started = std::time::Instant::now();
            read(&text, &now);
            read_all(&text, &now);
            assert!(started.elapsed().as_secs() < 10, "{word:?}");
        }
        for a in pieces {
            for b in pieces {
                for text in [format!("{a}{b}"), format!("{a} {b}"), format!("{b} at {a}")] {
                    let reading = read(&text, &now);
                    for span in &reading.spans {
                        assert!(text.get(span.clone()).is_some(), "{text:?}: {span:?}");
                    }
                    for window in &reading.windows {
                        assert!(
                            window.start < window.end && window.end <= 24 * 60,
                            "{text:?}"
                        );
                    }
                    if let Some(dates) = reading.dates {
                        assert!(dates.first <= dates.last, "{text:?}");
                    }
                    for clause in read_all(&text, &now) {
                        assert!(text.get(clause.text.clone()).is_some(), "{text:?}");
                    }
                }
            }
        }
    }
}
