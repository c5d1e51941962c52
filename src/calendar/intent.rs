//! What a scheduling request asks for, by its words: book, move, cancel,
//! or find free times. The assistant checks the model's choice against it,
//! and chat uses it to offer the scheduling assistant for a message that
//! reads like a scheduling request.

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Book,
    Move,
    Cancel,
    /// "Who is free…", "when can…".
    Find,
}

/// Lowercase words of letters and digits.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_end_matches("'s").trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the words of a request say should happen, if they say it clearly.
pub fn read(text: &str) -> Option<Intent> {
    let lower = text.to_lowercase();
    let has = |list: &[&str]| words(&lower).iter().any(|w| list.contains(&w.as_str()));
    let phrase = |list: &[&str]| list.iter().any(|p| lower.contains(p));
    if has(&[
        "cancel",
        "cancels",
        "cancelled",
        "canceled",
        "delete",
        "drop",
        "scrap",
    ]) || phrase(&[
        "call off",
        "can't make it",
        "cannot make it",
        "won't make it",
    ]) {
        return Some(Intent::Cancel);
    }
    if has(&[
        "move",
        "reschedule",
        "rebook",
        "shift",
        "postpone",
        "push",
        "bring",
    ]) || phrase(&["change the time", "switch", "another day", "another time"])
    {
        return Some(Intent::Move);
    }
    if phrase(&[
        "who is free",
        "who's free",
        "who is available",
        "who's available",
        "anyone free",
        "anybody free",
        "any openings",
        "any free",
        "what's free",
        "what is free",
        "when can",
        "when is",
        "is there",
        "are there",
        "availability",
        "open slots",
        "free slots",
        "find a slot",
        "find a time",
        "free on",
        "free for",
        "available",
    ]) && !has(&["book", "schedule"])
    {
        return Some(Intent::Find);
    }
    if has(&[
        "book",
        "schedule",
        "appointment",
        "add",
        "put",
        "fit",
        "squeeze",
        "pencil",
        "set",
    ]) {
        return Some(Intent::Book);
    }
    None
}

/// Whether a chat message reads like a scheduling request: it asks for an
/// action and speaks of appointments or of a day or time. Chat offers the
/// scheduling assistant for it (which proposes; a person confirms).
pub fn looks_like_scheduling(text: &str, now: &jiff::Zoned) -> bool {
    let Some(intent) = read(text) else {
        return false;
    };
    let lower = text.to_lowercase();
    let about_appointments = ["appointment", "booking", "slot", "reschedule", "calendar"]
        .iter()
        .any(|w| lower.contains(w));
    let when = super::when::read(text, now);
    let has_time = when.dates.is_some() || when.at.is_some() || !when.windows.is_empty();
    about_appointments
        || (has_time && intent != Intent::Find)
        || (intent == Intent::Find && has_time && lower.contains("free"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_messages_that_are_scheduling_requests() {
        let now = jiff::civil::date(2026, 12, 1)
            .at(10, 0, 0, 0)
            .in_tz("America/New_York")
            .unwrap();
        for (text, expected) in [
            ("book Mrs Ortiz for a cleaning next week", true),
            ("cancel the 3 pm with Alvarez", true),
            ("who is free on Friday afternoon?", true),
            ("move my appointment to Monday", true),
            ("what is our refund policy?", false),
            ("summarise the cancellation policy", false),
            ("write an email to Maria", false),
        ] {
            assert_eq!(looks_like_scheduling(text, &now), expected, "{text}");
        }
    }
}
