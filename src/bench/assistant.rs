//! `hearth bench --assistant`: the scheduling assistant's evaluation. At
//! least 200 requests (bookings, moves, cancellations, questions about who
//! is free; dates and times phrased many ways; some ambiguous), each with
//! its expected interpretation written here, go through the real API
//! (`POST /api/v1/schedule/assistant`) with the configured model. The
//! report gives:
//! - the share understood fully right (action, customer, service, staff,
//!   days, times of day; target ≥ 90 %);
//! - the share of proposals that are really free, checked against the
//!   availability engine (must be 100 %);
//! - the share of ambiguous requests answered with a question (≥ 95 %);
//! - how often the words of a request overruled the model.
//!
//! The expected days are computed here from today with plain calendar
//! arithmetic, independently of `calendar::when`.

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::calendar::office::{HOURS_SETTING, TIME_ZONE_SETTING};
use crate::calendar::{Candidate, Office, Settings, WeekHours};
use crate::config::Config;
use crate::store::{
    AppointmentFields, AppointmentId, Changes, CustomerChange, NewAppointment, ResourceChange,
    ServiceChange, StaffChange,
};

/// One request and what it should be understood as.
#[derive(Debug, Clone)]
struct Case {
    text: String,
    /// `None`: a question is the right answer.
    expected: Option<Expected>,
}

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    action: &'static str,
    customer: Option<String>,
    service: Option<String>,
    staff: Option<String>,
    /// The days to look in (the new days, for a move).
    days: Option<(Date, Date)>,
    /// Times of day, as the terms write them (`13:00-17:00`), if said.
    times: Option<String>,
}

const CUSTOMERS: [(&str, &str); 12] = [
    ("Maria Ortiz", "555-0101"),
    ("Wei Chen", "555-0102"),
    ("Lily Chen", "555-0103"),
    ("Jose Alvarez", "555-0104"),
    ("Ann Smith", "555-0105"),
    ("Robert Brown", "555-0106"),
    ("Priya Patel", "555-0107"),
    ("Tom Nguyen", "555-0108"),
    ("Grace Kim", "555-0109"),
    ("Omar Haddad", "555-0110"),
    ("Sofia Rossi", "555-0111"),
    ("Peter Smith", "555-0112"),
];

const STAFF: [&str; 3] = ["Dr Lee", "Dr Park", "Sam"];
const SERVICES: [(&str, u32); 4] = [
    ("Cleaning", 45),
    ("Filling", 60),
    ("Whitening", 90),
    ("Check-up", 30),
];

/// The coming `weekday`, today included.
fn coming(today: Date, weekday: Weekday) -> Date {
    let ahead = (weekday.to_monday_zero_offset() as i64
        - today.weekday().to_monday_zero_offset() as i64)
        .rem_euclid(7);
    today.saturating_add(ahead.days())
}

fn next_monday(today: Date) -> Date {
    today.saturating_add((7 - today.weekday().to_monday_zero_offset() as i64).days())
}

/// The next `day` of a month on or after today.
fn next_day_of_month(today: Date, day: i8) -> Date {
    let mut month = today.first_of_month();
    loop {
        if let Ok(date) = Date::new(month.year(), month.month(), day)
            && date >= today
        {
            return date;
        }
        month = month.saturating_add(1.month());
    }
}

/// Phrases for when, with the days and times they mean from `today`.
fn whens(today: Date) -> Vec<(String, (Date, Date), Option<&'static str>)> {
    let monday = next_monday(today);
    let one = |d: Date| (d, d);
    let friday = coming(today, Weekday::Friday);
    let tuesday = coming(today, Weekday::Tuesday);
    let thursday = coming(today, Weekday::Thursday);
    let wednesday = coming(today, Weekday::Wednesday);
    let in_two = today.saturating_add(14.days());
    let in_two_monday =
        in_two.saturating_sub((in_two.weekday().to_monday_zero_offset() as i64).days());
    let the_20th = next_day_of_month(today, 20);
    let next_week = (monday, monday.saturating_add(6.days()));
    let sunday = today.saturating_add((6 - today.weekday().to_monday_zero_offset() as i64).days());
    vec![
        ("tomorrow".into(), one(today.saturating_add(1.day())), None),
        (
            "tomorrow afternoon".into(),
            one(today.saturating_add(1.day())),
            Some("12:00-17:00"),
        ),
        ("next week".into(), next_week, None),
        (
            "next week, afternoons".into(),
            next_week,
            Some("12:00-17:00"),
        ),
        (
            "next week in the morning".into(),
            next_week,
            Some("08:00-12:00"),
        ),
        ("on Friday".into(), one(friday), None),
        ("Friday at 3".into(), one(friday), Some("15:00-15:01")),
        (
            "on Thursday at 10am".into(),
            one(thursday),
            Some("10:00-10:01"),
        ),
        ("Tuesday morning".into(), one(tuesday), Some("08:00-12:00")),
        (
            "Wednesday afternoon".into(),
            one(wednesday),
            Some("12:00-17:00"),
        ),
        (
            "in two weeks".into(),
            (in_two_monday, in_two_monday.saturating_add(6.days())),
            None,
        ),
        ("on the 20th".into(), one(the_20th), None),
        ("this week".into(), (today, sunday), None),
        (
            "next Monday at 9:30".into(),
            one(monday),
            Some("09:30-09:31"),
        ),
        (
            "the day after tomorrow".into(),
            one(today.saturating_add(2.days())),
            None,
        ),
    ]
}

fn book_cases(today: Date) -> Vec<Case> {
    let templates = [
        "book {c} for a {s} {w} with {t}",
        "please schedule {c} for a {s} {w}",
        "{c} needs a {s} {w} with {t}",
        "can you book a {s} for {c} {w}",
        "put {c} in for a {s} {w}, {t} if possible",
        "new appointment for {c}: {s}, {w}",
    ];
    let customers = [
        "Maria Ortiz",
        "Mr Alvarez",
        "Priya Patel",
        "Tom Nguyen",
        "Mrs Rossi",
        "Omar Haddad",
        "Grace Kim",
        "Robert Brown",
    ];
    let full = |c: &str| {
        CUSTOMERS
            .iter()
            .find(|(name, _)| name.split(' ').any(|w| c.contains(w)))
            .map(|(name, _)| name.to_string())
    };
    let mut cases = Vec::new();
    let whens = whens(today);
    let mut i = 0;
    for (w, days, times) in &whens {
        for _ in 0..6 {
            let template = templates[i % templates.len()];
            let c = customers[i % customers.len()];
            let (s, _) = SERVICES[i % SERVICES.len()];
            let t = STAFF[i % 2];
            let names_staff = template.contains("{t}");
            cases.push(Case {
                text: template
                    .replace("{c}", c)
                    .replace("{s}", &s.to_lowercase())
                    .replace("{w}", w)
                    .replace("{t}", t),
                expected: Some(Expected {
                    action: "book",
                    customer: full(c),
                    service: Some(s.into()),
                    staff: names_staff.then(|| t.to_string()),
                    days: Some(*days),
                    times: times.map(str::to_string),
                }),
            });
            i += 1;
        }
    }
    cases
}

fn find_cases(today: Date) -> Vec<Case> {
    let templates = [
        "who is free for a {s} {w}?",
        "any openings for a {s} {w}",
        "is {t} available for a {s} {w}?",
        "when can {t} do a {s} {w}",
    ];
    let mut cases = Vec::new();
    for (i, (w, days, times)) in whens(today).into_iter().enumerate() {
        for k in 0..3 {
            let template = templates[(i * 3 + k) % templates.len()];
            let (s, _) = SERVICES[(i + k) % SERVICES.len()];
            // Dr Lee and Dr Park do the dental services (Sam installs).
            let t = STAFF[(i + k) % 2];
            cases.push(Case {
                text: template
                    .replace("{s}", &s.to_lowercase())
                    .replace("{w}", &w)
                    .replace("{t}", t),
                expected: Some(Expected {
                    action: "find",
                    customer: None,
                    service: Some(s.into()),
                    staff: template.contains("{t}").then(|| t.to_string()),
                    days: Some(days),
                    times: times.map(str::to_string),
                }),
            });
        }
    }
    cases
}

/// Appointments the move and cancel requests refer to: one per customer
/// on a known day, booked before the evaluation.
fn existing(today: Date) -> Vec<(&'static str, Date, i8, &'static str)> {
    let thursday = coming(today.saturating_add(1.day()), Weekday::Thursday);
    let friday = coming(today.saturating_add(1.day()), Weekday::Friday);
    let tuesday = coming(today.saturating_add(1.day()), Weekday::Tuesday);
    vec![
        ("Maria Ortiz", thursday, 10, "Dr Lee"),
        ("Jose Alvarez", friday, 15, "Dr Park"),
        ("Priya Patel", tuesday, 9, "Dr Lee"),
        ("Tom Nguyen", thursday, 14, "Dr Park"),
        ("Grace Kim", friday, 11, "Dr Lee"),
        ("Omar Haddad", tuesday, 13, "Dr Park"),
        ("Sofia Rossi", thursday, 16, "Dr Lee"),
        ("Robert Brown", friday, 9, "Dr Park"),
        ("Wei Chen", tuesday, 10, "Dr Park"),
        ("Lily Chen", thursday, 11, "Dr Park"),
    ]
}

fn weekday_name(date: Date) -> &'static str {
    [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ][date.weekday().to_monday_zero_offset() as usize]
}

fn move_and_cancel_cases(today: Date) -> Vec<Case> {
    let mut cases = Vec::new();
    let targets = whens(today);
    let surname = |name: &str| name.split(' ').next_back().unwrap_or(name).to_string();
    for (i, (customer, day, hour, _)) in existing(today).into_iter().enumerate() {
        if customer.ends_with("Chen") {
            continue;
        }
        let (w, days, times) = &targets[(i * 3) % targets.len()];
        let move_templates = [
            format!("move {customer}'s {} appointment to {w}", weekday_name(day)),
            format!("reschedule {} to {w}", surname(customer)),
            format!(
                "please move the {} appointment with {} to {w}",
                weekday_name(day),
                surname(customer)
            ),
            format!("can we push {customer} to {w}"),
        ];
        for (k, text) in move_templates.into_iter().enumerate() {
            if k == 3 && i % 2 == 1 {
                continue;
            }
            cases.push(Case {
                text,
                expected: Some(Expected {
                    action: "move",
                    customer: Some(customer.into()),
                    service: None,
                    staff: None,
                    days: Some(*days),
                    times: times.map(str::to_string),
                }),
            });
        }
        let h12 = if hour > 12 { hour - 12 } else { hour };
        let suffix = if hour >= 12 { "pm" } else { "am" };
        for text in [
            format!("cancel {customer}'s appointment on {}", weekday_name(day)),
            format!("cancel the {h12} {suffix} with {}", surname(customer)),
            format!(
                "{} can't make it on {}, please cancel",
                surname(customer),
                weekday_name(day)
            ),
        ] {
            cases.push(Case {
                text,
                expected: Some(Expected {
                    action: "cancel",
                    customer: Some(customer.into()),
                    service: None,
                    staff: None,
                    days: None,
                    times: None,
                }),
            });
        }
    }
    cases
}

fn ambiguous_cases() -> Vec<Case> {
    let texts = [
        "book Chen for a cleaning tomorrow",
        "book Mr Chen for a filling next week",
        "can you schedule Chen on Friday for a check-up",
        "move Chen's appointment to Monday",
        "cancel Chen's appointment",
        "reschedule Chen to next week",
        "book Smith for a cleaning tomorrow",
        "Smith needs a whitening next week",
        "cancel Smith",
        "move Mrs Smith to Friday",
        "book Maria Ortiz tomorrow at 10",
        "book Priya Patel next week",
        "schedule Tom Nguyen on Friday afternoon",
        "put Grace Kim in on Tuesday",
        "book Omar Haddad in two weeks",
        "book a cleaning for tomorrow",
        "schedule a filling next week with Dr Lee",
        "book a whitening on Friday",
        "book someone for a check-up tomorrow",
        "who is free tomorrow?",
        "any openings next week?",
        "book Robert Brown with Dr Park",
        "book Sofia Rossi",
        "book Chen",
    ];
    texts
        .iter()
        .map(|t| Case {
            text: t.to_string(),
            expected: None,
        })
        .collect()
}

pub async fn run(model: std::path::PathBuf, threads: u32) -> anyhow::Result<()> {
    println!(
        "Hearth scheduling assistant evaluation with {} on {threads} threads\n",
        crate::llm::model_name(&model)
    );
    let dir = super::tempfile_dir()?;
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.llm.model = model.to_string_lossy().to_string();
    config.llm.threads = threads;
    let state = AppState::new(config).await?;
    state
        .chat
        .engine
        .wait_until_settled(std::time::Duration::from_secs(120))
        .await;
    let key = super::bench_user(&state).await?;
    let settings = set_up(&state).await?;
    let today = settings
        .local(Timestamp::from_second(state.store.now())?)
        .date();
    book_existing(&state, &settings, today).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::app::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let client = crate::egress::loopback_client(None);

    let mut cases = book_cases(today);
    cases.extend(find_cases(today));
    cases.extend(move_and_cancel_cases(today));
    cases.extend(ambiguous_cases());
    let names = Names::load(&state).await?;
    let mut tally: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let (mut right, mut clear_total) = (0, 0);
    let (mut asked, mut ambiguous) = (0, 0);
    let (mut free, mut offered) = (0, 0);
    let mut corrected = 0;
    let mut misses = Vec::new();
    let started = Instant::now();
    for case in &cases {
        let response = client
            .post(format!("{base}/api/v1/schedule/assistant"))
            .bearer_auth(&key)
            .json(&json!({"text": case.text}))
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{}: {status} {answer}", case.text);
        let terms = &answer["terms"];
        if terms["reader"] == "model_corrected" {
            corrected += 1;
        }
        for offer in answer["offers"].as_array().into_iter().flatten() {
            offered += 1;
            if really_free(&state, &settings, offer["proposal"].as_i64().unwrap_or(0)).await? {
                free += 1;
            }
        }
        let question = answer["question"].is_string();
        match &case.expected {
            None => {
                ambiguous += 1;
                if question {
                    asked += 1;
                } else {
                    misses.push(format!("expected a question: {:?} → {terms}", case.text));
                }
            }
            Some(expected) => {
                clear_total += 1;
                let entry = tally.entry(expected.action).or_default();
                entry.1 += 1;
                let got = names.expected_of(terms);
                let ok = !question && matches(expected, &got);
                if ok {
                    right += 1;
                    entry.0 += 1;
                } else {
                    misses.push(format!(
                        "{:?}\n    expected {expected:?}\n    got      {got:?}{}",
                        case.text,
                        if question {
                            format!(" (asked: {})", answer["question"])
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let pct = |a: usize, b: usize| {
        if b == 0 {
            100.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!(
        "| understood fully right | {right}/{clear_total} = {:.1} % | ≥ 90 % |",
        pct(right, clear_total)
    );
    for (action, (ok, all)) in &tally {
        println!("| … {action} | {ok}/{all} = {:.1} % | |", pct(*ok, *all));
    }
    println!(
        "| ambiguous requests answered with a question | {asked}/{ambiguous} = {:.1} % | ≥ 95 % |",
        pct(asked, ambiguous)
    );
    println!(
        "| proposals really free | {free}/{offered} = {:.1} % | 100 % |",
        pct(free, offered)
    );
    println!(
        "| the words overruled the model | {corrected}/{} = {:.1} % | |",
        cases.len(),
        pct(corrected, cases.len())
    );
    println!(
        "\n{} requests in {took:.1} s ({:.2} s each); machine: {}",
        cases.len(),
        took / cases.len() as f64,
        crate::llm::hardware::cpu_flags_summary()
    );
    if !misses.is_empty() {
        println!("\nMisses:");
        for miss in misses.iter().take(60) {
            println!("- {miss}");
        }
    }
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn matches(expected: &Expected, got: &Expected) -> bool {
    expected.action == got.action
        && expected.customer == got.customer
        && (expected.service.is_none() || expected.service == got.service)
        && expected.staff == got.staff
        && (expected.days.is_none() || expected.days == got.days)
        && (expected.times.is_none() || expected.times == got.times)
}

/// Names for the ids in an answer's terms.
struct Names {
    customers: Vec<(i64, String)>,
    services: Vec<(i64, String)>,
    staff: Vec<(i64, String)>,
}

impl Names {
    async fn load(state: &AppState) -> anyhow::Result<Names> {
        Ok(Names {
            customers: state
                .store
                .customers()
                .await?
                .into_iter()
                .map(|c| (c.id.0, c.name))
                .collect(),
            services: state
                .store
                .services()
                .await?
                .into_iter()
                .map(|s| (s.id.0, s.name))
                .collect(),
            staff: state
                .store
                .staff()
                .await?
                .into_iter()
                .map(|s| (s.id.0, s.name))
                .collect(),
        })
    }

    fn expected_of(&self, terms: &Value) -> Expected {
        let name = |list: &[(i64, String)], key: &str| {
            terms[key]
                .as_i64()
                .and_then(|id| list.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone()))
        };
        let day = |key: &str| terms[key].as_str().and_then(|d| d.parse::<Date>().ok());
        let action = match terms["action"].as_str().unwrap_or("") {
            "book" => "book",
            "move" => "move",
            "cancel" => "cancel",
            "find" => "find",
            _ => "?",
        };
        let times = terms["times"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Expected {
            action,
            customer: name(&self.customers, "customer"),
            service: name(&self.services, "service"),
            staff: name(&self.staff, "staff"),
            days: match (day("first_day"), day("last_day")) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            },
            times,
        }
    }
}

/// Whether a proposal's change keeps every rule and collides with nothing
/// (the appointment it moves aside), per the availability engine now.
async fn really_free(state: &AppState, settings: &Settings, id: i64) -> anyhow::Result<bool> {
    let proposal = state.store.proposal(crate::store::ProposalId(id)).await?;
    let payload: crate::schedule::assistant::Payload = serde_json::from_str(&proposal.payload)?;
    let (services, staff, resource, starts_at, moving) = match payload {
        crate::schedule::assistant::Payload::Book {
            services,
            staff,
            resource,
            starts_at,
            ..
        } => (services, staff, resource, starts_at, None),
        crate::schedule::assistant::Payload::Move {
            appointment,
            staff,
            resource,
            starts_at,
        } => {
            let before = state.store.appointment(appointment).await?;
            (
                before.services,
                staff,
                resource,
                starts_at,
                Some(appointment),
            )
        }
        crate::schedule::assistant::Payload::Cancel { .. } => return Ok(true),
    };
    let at = Timestamp::from_second(starts_at)?;
    let day = settings.local(at).date();
    let office = Office::load_with(&state.store, settings.clone(), day, day).await?;
    let plan = office.plan(&services).map_err(anyhow::Error::msg)?;
    let candidate = Candidate {
        staff,
        resource,
        starts_at: at,
        ends_at: at + (plan.minutes as i64).minutes(),
        plan,
    };
    let conflicts: Vec<_> = office
        .conflicts(&candidate)
        .into_iter()
        .filter(|c| {
            // The appointment being moved does not collide with itself.
            moving.is_none()
                || !matches!(
                    c,
                    crate::calendar::Conflict::StaffBusy { .. }
                        | crate::calendar::Conflict::ResourceTaken { .. }
                )
        })
        .collect();
    let _ = AppointmentId(0);
    Ok(conflicts.is_empty())
}

async fn set_up(state: &AppState) -> anyhow::Result<Settings> {
    let store = &state.store;
    store
        .set_setting(TIME_ZONE_SETTING, "America/New_York".into(), None)
        .await?;
    let hours: [String; 7] = std::array::from_fn(|i| {
        if i < 6 {
            "8:00-18:00".into()
        } else {
            String::new()
        }
    });
    store
        .set_setting(
            HOURS_SETTING,
            WeekHours::from_texts(&hours)
                .map_err(anyhow::Error::msg)?
                .to_json(),
            None,
        )
        .await?;
    let mut staff = Vec::new();
    for name in STAFF {
        staff.push(
            store
                .create_staff(StaffChange {
                    name: name.into(),
                    active: true,
                    ..StaffChange::default()
                })
                .await?
                .id,
        );
    }
    let mut chairs = Vec::new();
    for name in ["Chair 1", "Chair 2", "Chair 3"] {
        chairs.push(
            store
                .create_resource(ResourceChange {
                    name: name.into(),
                    kind: "chair".into(),
                    active: true,
                })
                .await?
                .id,
        );
    }
    for (name, minutes) in SERVICES {
        store
            .create_service(ServiceChange {
                name: name.into(),
                duration_minutes: minutes,
                buffer_after: 10,
                capacity: 1,
                active: true,
                staff: staff[..2].to_vec(),
                resources: chairs.clone(),
                ..ServiceChange::default()
            })
            .await?;
    }
    store
        .create_service(ServiceChange {
            name: "Install".into(),
            duration_minutes: 90,
            capacity: 1,
            active: true,
            staff: vec![staff[2]],
            ..ServiceChange::default()
        })
        .await?;
    for (name, phone) in CUSTOMERS {
        store
            .create_customer(CustomerChange {
                name: name.into(),
                phone: phone.into(),
                ..CustomerChange::default()
            })
            .await?;
    }
    Ok(Settings::load(store).await?)
}

async fn book_existing(state: &AppState, settings: &Settings, today: Date) -> anyhow::Result<()> {
    let customers = state.store.customers().await?;
    let staff = state.store.staff().await?;
    let services = state.store.services().await?;
    let cleaning = services
        .iter()
        .find(|s| s.name == "Cleaning")
        .expect("cleaning")
        .clone();
    let mut creates = Vec::new();
    for (i, (customer, day, hour, with)) in existing(today).into_iter().enumerate() {
        let customer = customers
            .iter()
            .find(|c| c.name == customer)
            .expect("customer");
        let staff = staff.iter().find(|s| s.name == with).expect("staff");
        let at = settings.instants(day.at(hour, 0, 0, 0))[0];
        let end = at + 45.minutes();
        creates.push(NewAppointment {
            uid: format!("eval-{i}"),
            fields: AppointmentFields {
                customer_id: Some(customer.id),
                staff_id: staff.id,
                resource_id: Some(cleaning.resources[i % cleaning.resources.len()]),
                title: "Cleaning".into(),
                starts_at: at.as_second(),
                ends_at: end.as_second(),
                busy_from: at.as_second(),
                busy_until: (end + 10.minutes()).as_second(),
                notes: String::new(),
                services: vec![cleaning.id],
                override_reason: None,
            },
            series_id: None,
            recurrence_id: None,
            created_by: None,
        });
    }
    state
        .store
        .write_appointments((0, 1), Vec::new(), None, move |_| {
            Ok::<_, ()>(Changes {
                creates: creates.clone(),
                updates: Vec::new(),
            })
        })
        .await?
        .map_err(|_| anyhow::anyhow!("refused"))?;
    Ok(())
}
