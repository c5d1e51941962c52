//! Understanding a scheduling request ("book Mrs Ortiz for a 45-minute
//! cleaning next week, afternoons, with Dr Lee").
//!
//! Who does what is split on purpose:
//! - **Dates, times of day and durations are read by code**
//!   (`calendar::when`), deterministically, relative to now in the
//!   business's zone. The default model got "next week" and "afternoon"
//!   wrong when asked.
//! - **The model picks the action and the customer, service and staff from
//!   the lists that exist**: its answer is JSON whose fields are enums of
//!   those names, enforced by a grammar while it samples, so its output is
//!   valid by construction. A free-text answer put "Dr. Lee" in the
//!   customer field; enums got those fields right.
//! - **Code keeps the model honest and asks when it must**: names are
//!   offered to the model only if the request mentions them, a choice the
//!   words of the request contradict is replaced by what the words say, and
//!   when two customers match ("Chen") or a booking names no service, the
//!   answer is one short question instead of a guess.
//!
//! Without a model (none loaded, or it failed), the same rules still
//! understand plain requests; the interpretation says which way it was made.

use std::collections::BTreeSet;

use jiff::Zoned;
use serde::{Deserialize, Serialize};

use crate::calendar::intent::{self, Intent};
use crate::calendar::when::{self, Reading};
use crate::llm::{Engine, Message, Request, Role as LlmRole, Sampling};
use crate::store::{Customer, CustomerId, Service, ServiceId, StaffId, StaffMember};

/// What the person wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Book,
    Move,
    Cancel,
    /// "Who is free…", "when can…": slots, nothing to change.
    Find,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Book, Action::Move, Action::Cancel, Action::Find];

    pub fn word(self) -> &'static str {
        match self {
            Action::Book => "book",
            Action::Move => "move",
            Action::Cancel => "cancel",
            Action::Find => "find",
        }
    }
}

/// How an interpretation was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reader {
    /// The model chose within the grammar, and the words agreed.
    Model,
    /// The model chose, and the words of the request overruled a field.
    ModelCorrected,
    /// No model: the rules alone.
    Rules,
}

/// What was understood, before any proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct Understood {
    pub action: Action,
    pub customer: Option<CustomerId>,
    pub service: Option<ServiceId>,
    pub staff: Option<StaffId>,
    /// When (for a move: the appointment as it is now).
    pub when: Reading,
    /// For a move: where it goes.
    pub to: Option<Reading>,
    pub reader: Reader,
}

/// The outcome: understood, or one short question.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpretation {
    Understood(Understood),
    /// What to ask, and the choices to offer, if any.
    Question {
        question: String,
        choices: Vec<Choice>,
        partial: Understood,
    },
}

/// One answer to a question: a customer or a service to go on with.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub label: String,
    pub customer: Option<CustomerId>,
    pub service: Option<ServiceId>,
}

/// The office's lists the request is read against.
pub struct Lists<'a> {
    pub customers: &'a [Customer],
    pub services: &'a [Service],
    pub staff: &'a [StaffMember],
}

/// Words that are titles, not names.
const TITLES: [&str; 9] = [
    "mr", "mrs", "ms", "miss", "dr", "doctor", "prof", "mx", "sir",
];

/// Lowercase words of letters and digits, with their byte ranges.
fn words(text: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        let part_of_word = c.is_alphanumeric() || c == '\'';
        match (start, part_of_word) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let word = text[s..i].trim_end_matches("'s").trim_matches('\'');
                if !word.is_empty() {
                    out.push((word.to_lowercase(), s..i));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The words of a name that identify it (titles dropped).
fn name_words(name: &str) -> Vec<String> {
    words(name)
        .into_iter()
        .map(|(w, _)| w)
        .filter(|w| !TITLES.contains(&w.as_str()) && w.chars().count() >= 2)
        .collect()
}

/// How strongly the request names `name`: the number of its words the
/// request has (0: not mentioned).
fn mention(request: &BTreeSet<String>, name: &str) -> usize {
    name_words(name)
        .iter()
        .filter(|w| request.contains(w.as_str()))
        .count()
}

/// Whether a service is meant: a word of its name, or a word starting with
/// one ("installation" for "Install"; at least 5 letters in common).
fn mentions_service(request: &[(String, std::ops::Range<usize>)], service: &str) -> bool {
    let names = name_words(service);
    request.iter().any(|(word, _)| {
        names.iter().any(|n| {
            word == n
                || (n.len() >= 5 && word.starts_with(n.as_str()))
                || (word.len() >= 5 && n.starts_with(word.as_str()))
                || (n.len() >= 5 && word.len() >= 5 && n[..5] == word[..5.min(word.len())])
        })
    })
}

/// The action the words of a request say, if they say one clearly.
pub fn action_by_words(text: &str) -> Option<Action> {
    intent::read(text).map(|i| match i {
        Intent::Book => Action::Book,
        Intent::Move => Action::Move,
        Intent::Cancel => Action::Cancel,
        Intent::Find => Action::Find,
    })
}

/// Understands `text` against the office's lists, relative to `now`.
pub async fn understand(
    engine: Option<&Engine>,
    text: &str,
    now: &Zoned,
    lists: &Lists<'_>,
) -> Interpretation {
    let request_words = words(text);
    let clauses = when::read_all(text, now);
    // Name words inside dates ("May 3") are not names.
    let date_spans: Vec<_> = clauses
        .iter()
        .flat_map(|c| c.reading.spans.iter().cloned())
        .collect();
    let name_set: BTreeSet<String> = request_words
        .iter()
        .filter(|(_, range)| {
            !date_spans
                .iter()
                .any(|s| s.start <= range.start && range.end <= s.end)
        })
        .map(|(w, _)| w.clone())
        .collect();

    // Candidates: the names the request mentions, best first.
    let mut customers: Vec<(&Customer, usize)> = lists
        .customers
        .iter()
        .map(|c| (c, mention(&name_set, &c.name)))
        .filter(|(_, score)| *score > 0)
        .collect();
    let best = customers.iter().map(|(_, s)| *s).max().unwrap_or(0);
    customers.retain(|(_, s)| *s == best);
    let staff: Vec<&StaffMember> = lists
        .staff
        .iter()
        .filter(|s| s.active && mention(&name_set, &s.name) > 0)
        .collect();
    // A word that names a staff member is not also a customer's name
    // ("with Dr Lee" when a customer is also called Lee).
    let staff_words: BTreeSet<String> = staff.iter().flat_map(|s| name_words(&s.name)).collect();
    if customers.len() > 1 {
        customers.retain(|(c, _)| name_words(&c.name).iter().any(|w| !staff_words.contains(w)));
    }
    let services: Vec<&Service> = lists
        .services
        .iter()
        .filter(|s| s.active && mentions_service(&request_words, &s.name))
        .collect();

    let (when, to) = split_move(text, now, &clauses);
    let words_action = action_by_words(text);

    // The model picks within the candidates; the rules are the fallback.
    let picked = match engine {
        Some(engine) => pick_with_model(engine, text, &customers, &services, &staff, lists).await,
        None => None,
    };
    let mut reader = if picked.is_some() {
        Reader::Model
    } else {
        Reader::Rules
    };
    let (mut action, mut customer, mut service, mut chosen_staff) = match picked {
        Some(p) => (p.action, p.customer, p.service, p.staff),
        None => (
            words_action.unwrap_or(Action::Book),
            (customers.len() == 1).then(|| customers[0].0.id),
            (services.len() == 1).then(|| services[0].id),
            (staff.len() == 1).then(|| staff[0].id),
        ),
    };
    // The words overrule the model where they are clear.
    if let Some(by_words) = words_action
        && by_words != action
    {
        action = by_words;
        reader = Reader::ModelCorrected;
    }
    if let Some(id) = customer
        && !customers.iter().any(|(c, _)| c.id == id)
    {
        customer = (customers.len() == 1).then(|| customers[0].0.id);
        reader = Reader::ModelCorrected;
    }
    if customer.is_none() && customers.len() == 1 {
        customer = Some(customers[0].0.id);
    }
    if let Some(id) = service
        && !services.iter().any(|s| s.id == id)
    {
        service = (services.len() == 1).then(|| services[0].id);
        reader = Reader::ModelCorrected;
    }
    if service.is_none() && services.len() == 1 {
        service = Some(services[0].id);
    }
    if let Some(id) = chosen_staff
        && !staff.iter().any(|s| s.id == id)
    {
        chosen_staff = (staff.len() == 1).then(|| staff[0].id);
        reader = Reader::ModelCorrected;
    }
    if chosen_staff.is_none() && staff.len() == 1 {
        chosen_staff = Some(staff[0].id);
    }
    // A duration names the service when one service has it.
    if service.is_none()
        && let Some(minutes) = when
            .duration_minutes
            .or(to.as_ref().and_then(|t| t.duration_minutes))
    {
        let with: Vec<_> = lists
            .services
            .iter()
            .filter(|s| s.active && s.duration_minutes == minutes)
            .collect();
        if with.len() == 1 {
            service = Some(with[0].id);
        }
    }
    // One service in the whole office needs no naming.
    let active_services: Vec<_> = lists.services.iter().filter(|s| s.active).collect();
    if service.is_none() && active_services.len() == 1 {
        service = Some(active_services[0].id);
    }

    let understood = Understood {
        action,
        customer,
        service,
        staff: chosen_staff,
        when,
        to,
        reader,
    };
    // One short question where a guess would be wrong.
    if customers.len() > 1 && matches!(action, Action::Book | Action::Move | Action::Cancel) {
        let names: Vec<String> = customers
            .iter()
            .map(|(c, _)| describe_customer(c))
            .collect();
        return Interpretation::Question {
            question: format!("Which customer do you mean: {}?", names.join(" or ")),
            choices: customers
                .iter()
                .map(|(c, _)| Choice {
                    label: describe_customer(c),
                    customer: Some(c.id),
                    service: None,
                })
                .collect(),
            partial: Understood {
                customer: None,
                ..understood
            },
        };
    }
    if understood.customer.is_none() && matches!(action, Action::Move | Action::Cancel) {
        return Interpretation::Question {
            question: format!("Whose appointment should I {}?", action.word()),
            choices: Vec::new(),
            partial: understood,
        };
    }
    if understood.customer.is_none() && action == Action::Book {
        return Interpretation::Question {
            question: "Who is the appointment for?".into(),
            choices: Vec::new(),
            partial: understood,
        };
    }
    if understood.service.is_none() && matches!(action, Action::Book | Action::Find) {
        let names: Vec<String> = active_services.iter().map(|s| s.name.clone()).collect();
        return Interpretation::Question {
            question: format!("Which service: {}?", names.join(", ")),
            choices: active_services
                .iter()
                .map(|s| Choice {
                    label: s.name.clone(),
                    customer: None,
                    service: Some(s.id),
                })
                .collect(),
            partial: understood,
        };
    }
    Interpretation::Understood(understood)
}

fn describe_customer(customer: &Customer) -> String {
    if customer.phone.is_empty() {
        customer.name.clone()
    } else {
        format!("{} ({})", customer.name, customer.phone)
    }
}

/// For a move, the reading of the appointment as it is now (the first
/// clause: "Mr Chen's Thursday appointment") and of where it goes (the
/// clauses after "to": "Monday morning"); otherwise the whole request's.
fn split_move(text: &str, now: &Zoned, clauses: &[when::Clause]) -> (Reading, Option<Reading>) {
    if action_by_words(text) == Some(Action::Move) && clauses.len() >= 2 {
        let says = |r: &Reading| r.dates.is_some() || r.at.is_some() || !r.windows.is_empty();
        let target = clauses[1..]
            .iter()
            .rev()
            .find(|c| says(&c.reading))
            .unwrap_or(&clauses[1]);
        return (clauses[0].reading.clone(), Some(target.reading.clone()));
    }
    (when::read(text, now), None)
}

/// What the model picked, as ids.
struct Picked {
    action: Action,
    customer: Option<CustomerId>,
    service: Option<ServiceId>,
    staff: Option<StaffId>,
}

/// Asks the model to pick the action and the names, from enums.
async fn pick_with_model(
    engine: &Engine,
    text: &str,
    customers: &[(&Customer, usize)],
    services: &[&Service],
    staff: &[&StaffMember],
    lists: &Lists<'_>,
) -> Option<Picked> {
    // Customers and staff the request mentions; every service (an office
    // has a handful), so the model can pick one the request describes.
    let customer_names: Vec<String> = customers.iter().map(|(c, _)| c.name.clone()).collect();
    let service_names: Vec<String> = if services.is_empty() {
        lists
            .services
            .iter()
            .filter(|s| s.active)
            .map(|s| s.name.clone())
            .collect()
    } else {
        services.iter().map(|s| s.name.clone()).collect()
    };
    let staff_names: Vec<String> = staff.iter().map(|s| s.name.clone()).collect();
    let with_none = |names: &[String], none: &str| {
        let mut all: Vec<String> = names.to_vec();
        all.push(none.to_string());
        all.sort();
        all.dedup();
        all
    };
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "action": {"enum": Action::ALL.iter().map(|a| a.word()).collect::<Vec<_>>()},
            "customer": {"enum": with_none(&customer_names, "none")},
            "service": {"enum": with_none(&service_names, "none")},
            "staff": {"enum": with_none(&staff_names, "anyone")},
        },
        "required": ["action", "customer", "service", "staff"],
    });
    let grammar = crate::llm::Grammar::from_json_schema(&schema).ok()?;
    let prompt = format!(
        "A person at the front desk asked the scheduling assistant:\n\"{text}\"\n\n\
         Pick what they want: action is book (a new appointment), move (an existing one to another time), \
         cancel, or find (only asking who or when is free). Pick the customer, the service and the staff \
         member from the lists; none or anyone if not said.\nAnswer with JSON."
    );
    let request = Request {
        messages: vec![
            Message::new(
                LlmRole::System,
                "You turn scheduling requests into JSON. You answer only with JSON.",
            ),
            Message::new(LlmRole::User, prompt),
        ],
        sampling: Sampling {
            temperature: 0.0,
            max_tokens: 96,
            ..Sampling::default()
        },
        grammar: Some(grammar),
    };
    let generation = engine.generate(request).ok()?;
    let completion = tokio::time::timeout(std::time::Duration::from_secs(60), generation.collect())
        .await
        .ok()?
        .ok()?;
    #[derive(Deserialize)]
    struct Answer {
        action: String,
        customer: String,
        service: String,
        staff: String,
    }
    let answer: Answer = serde_json::from_str(completion.text.trim()).ok()?;
    let action = Action::ALL
        .into_iter()
        .find(|a| a.word() == answer.action)?;
    Some(Picked {
        action,
        customer: customers
            .iter()
            .find(|(c, _)| c.name == answer.customer)
            .map(|(c, _)| c.id),
        service: lists
            .services
            .iter()
            .find(|s| s.name == answer.service)
            .map(|s| s.id),
        staff: staff.iter().find(|s| s.name == answer.staff).map(|s| s.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_say_the_action_when_they_are_clear() {
        let cases = [
            (
                "book Mrs Ortiz for a cleaning next week",
                Some(Action::Book),
            ),
            (
                "move Mr Chen's Thursday appointment to Monday morning",
                Some(Action::Move),
            ),
            (
                "who is free for a 90-minute install on Friday?",
                Some(Action::Find),
            ),
            ("cancel the 3 pm with Alvarez", Some(Action::Cancel)),
            ("Alvarez can't make it tomorrow", Some(Action::Cancel)),
            ("reschedule Ortiz to the 14th", Some(Action::Move)),
            (
                "is there anything available Tuesday afternoon for a cleaning",
                Some(Action::Find),
            ),
            ("hello", None),
        ];
        for (text, expected) in cases {
            assert_eq!(action_by_words(text), expected, "{text}");
        }
    }

    #[test]
    fn names_are_words_without_titles() {
        assert_eq!(name_words("Dr. Lee"), ["lee"]);
        assert_eq!(name_words("Maria Ortiz"), ["maria", "ortiz"]);
        let request: BTreeSet<String> = words("book Mrs Ortiz's cleaning")
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        assert_eq!(mention(&request, "Maria Ortiz"), 1);
        assert_eq!(mention(&request, "Wei Chen"), 0);
        assert!(mentions_service(
            &words("a 90-minute installation"),
            "Install"
        ));
        assert!(mentions_service(&words("two cleanings"), "Cleaning"));
        assert!(!mentions_service(&words("book Chen"), "Cleaning"));
    }
}
