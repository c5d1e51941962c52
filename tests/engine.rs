//! The engine's own guarantees with the real model: answers constrained by a
//! grammar made from a JSON schema (issue 11: scheduling asks the model for
//! JSON whose fields are enums taken from the database) are that JSON, a
//! grammar that cannot be parsed fails its generation and nothing else, and
//! answers without a grammar come out as they did. llama.cpp does the
//! constraining, so these need `HEARTH_TEST_MODEL` and the `llama` feature;
//! the scheduler's side (a broken grammar on the scripted engine) is tested
//! in `src/llm/scheduler.rs`.

use std::path::PathBuf;
use std::time::Duration;

use hearth::llm::{
    Completion, Engine, EngineConfig, EngineError, EngineState, FinishReason, Grammar, Message,
    Request, Role, Sampling,
};
use serde_json::{Value, json};

use crate::common::*;

const ACTIONS: [&str; 5] = ["book", "move", "cancel", "confirm", "none"];
const SERVICES: [&str; 10] = [
    "cleaning",
    "check-up",
    "filling",
    "crown",
    "root canal",
    "whitening",
    "extraction",
    "x-ray",
    "implant consultation",
    "emergency visit",
];
const STAFF: [&str; 8] = [
    "Dr. Lee",
    "Dr. Novak",
    "Dr. Haddad",
    "Dr. Berg",
    "Dr. Okafor",
    "Dr. Rossi",
    "hygienist Mia",
    "hygienist Tom",
];

/// Fifty customers, as a database would list them.
fn customers() -> Vec<String> {
    let first = [
        "Anna", "Jonas", "Maria", "Lukas", "Sofia", "Elena", "Paul", "Clara", "David", "Nora",
    ];
    let last = ["Berg", "Novak", "Haddad", "Okafor", "Rossi"];
    first
        .iter()
        .flat_map(|f| last.iter().map(move |l| format!("{f} {l}")))
        .collect()
}

/// A booking: every field an enum or null, but the action.
fn booking_schema() -> Value {
    let nullable = |values: Value| json!({"anyOf": [{"enum": values}, {"type": "null"}]});
    json!({
        "type": "object",
        "properties": {
            "action": {"enum": ACTIONS},
            "customer": nullable(json!(customers())),
            "service": nullable(json!(SERVICES)),
            "staff": nullable(json!(STAFF)),
            "time": {"anyOf": [
                {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                {"type": "null"},
            ]},
        },
        "required": ["action", "customer", "service", "staff", "time"],
        "additionalProperties": false,
    })
}

const REQUESTS: [&str; 20] = [
    "Please book Anna Berg for a cleaning with Dr. Lee at 10:30.",
    "Jonas Novak wants to move his check-up to the afternoon.",
    "Cancel the filling for Maria Haddad tomorrow at 9.",
    "Can Tom see Lukas Okafor for an x-ray at 14:00?",
    "Sofia Rossi called: she needs an emergency visit today, any dentist.",
    "Confirm Elena Berg's whitening with hygienist Mia at 08:15.",
    "Paul Novak would like a crown fitted by Dr. Rossi.",
    "Clara Haddad asks whether Dr. Berg can do a root canal on Monday.",
    "David Okafor cancels everything this week.",
    "Nora Rossi: implant consultation, whoever is free, 16:45.",
    "Book a cleaning for someone called Peter Smith.",
    "What are your opening hours?",
    "Move Anna Novak from Dr. Haddad to Dr. Lee, same time.",
    "Extraction for Jonas Berg at 11:00 with Dr. Okafor, please confirm.",
    "Maria Okafor's child needs a check-up after school.",
    "Is hygienist Tom available for Lukas Rossi's cleaning at 7?",
    "Sofia Berg wants to cancel her whitening.",
    "Elena Novak: toothache, emergency, as soon as possible!",
    "Please book Paul Haddad and Clara Okafor for cleanings back to back.",
    "Thank you, that is all for today.",
];

const SYSTEM: &str = "You are the scheduling assistant of a dental office. Turn the request into a booking as JSON with the fields action, customer, service, staff and time (HH:MM); use null for what the request does not say.";

/// The real model on an engine of four slots, or `None` (the test is
/// reported skipped) without one.
#[track_caller]
fn model_engine() -> Option<Engine> {
    if !cfg!(feature = "llama") {
        skipped("built without the `llama` feature, no model constrains an answer");
        return None;
    }
    let model: PathBuf = test_model("a grammar constrains llama.cpp's sampling")?;
    Some(Engine::start(EngineConfig {
        model_path: model,
        fallback_model: None,
        threads: 2,
        parallel: 4,
        context_per_chat: 1024,
        batch: 512,
        max_queue: 32,
        max_wait: Duration::from_secs(300),
    }))
}

async fn settled(engine: &Engine) {
    let state = engine.wait_until_settled(Duration::from_secs(60)).await;
    assert!(matches!(state, EngineState::Ready { .. }), "{state:?}");
}

fn ask(request: &str, sampling: Sampling, grammar: Option<Grammar>) -> Request {
    Request {
        messages: vec![
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, request),
        ],
        sampling,
        grammar,
    }
}

/// The field `name` of `booking`: a string among `allowed`, or null.
#[track_caller]
fn check_field(booking: &Value, name: &str, allowed: &[String], nullable: bool) {
    match &booking[name] {
        Value::Null if nullable => {}
        Value::String(value) => assert!(
            allowed.contains(value),
            "{name} is {value:?}, not one of the allowed values: {booking}"
        ),
        other => panic!("{name} is {other}: {booking}"),
    }
}

/// Twenty requests at once, half sampled greedily and half at temperature
/// 0.9: every answer is complete JSON of the schema, each field within its
/// enum. The same model without the grammar rarely writes JSON at all.
#[tokio::test]
async fn with_a_grammar_every_answer_is_json_within_the_enums() {
    let Some(engine) = model_engine() else {
        return;
    };
    settled(&engine).await;
    let grammar = Grammar::from_json_schema(&booking_schema()).unwrap();
    let generations: Vec<_> = REQUESTS
        .iter()
        .enumerate()
        .map(|(i, request)| {
            let sampling = Sampling {
                temperature: if i % 2 == 0 { 0.0 } else { 0.9 },
                seed: Some(i as u32),
                max_tokens: 300,
                ..Sampling::default()
            };
            let request = ask(request, sampling, Some(grammar.clone()));
            engine.generate(request).unwrap().collect()
        })
        .collect();
    let strings = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    for (request, answer) in REQUESTS
        .iter()
        .zip(futures::future::join_all(generations).await)
    {
        let Completion { text, finished } = answer.unwrap();
        assert_eq!(finished.reason, FinishReason::Stop, "{request}: {text}");
        let booking: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{request}: not JSON ({e}): {text}"));
        let fields = booking.as_object().expect("an object");
        assert_eq!(fields.len(), 5, "{booking}");
        check_field(&booking, "action", &strings(&ACTIONS), false);
        check_field(&booking, "customer", &customers(), true);
        check_field(&booking, "service", &strings(&SERVICES), true);
        check_field(&booking, "staff", &strings(&STAFF), true);
        if let Value::String(time) = &booking["time"] {
            let (hours, minutes) = time.split_once(':').expect("HH:MM");
            assert!(hours.parse::<u32>().unwrap() < 24, "{time}");
            assert!(minutes.parse::<u32>().unwrap() < 60, "{time}");
        } else {
            assert_eq!(booking["time"], Value::Null, "{booking}");
        }
    }
    engine.shutdown();
}

/// A grammar llama.cpp cannot parse fails its generation with a clear
/// error, and the engine goes on answering.
#[tokio::test]
async fn a_grammar_that_cannot_be_parsed_fails_only_its_generation() {
    let Some(engine) = model_engine() else {
        return;
    };
    settled(&engine).await;
    let sampling = Sampling {
        temperature: 0.0,
        max_tokens: 16,
        ..Sampling::default()
    };
    for broken in [
        "root ::= (",
        "answer ::= \"yes\"",
        "root ::= undefined-rule",
    ] {
        let request = ask(
            "Book Anna Berg.",
            sampling.clone(),
            Some(Grammar::from_gbnf(broken)),
        );
        match engine.generate(request).unwrap().collect().await {
            Err(EngineError::Failed(why)) => {
                assert!(why.contains("grammar cannot be parsed"), "{broken}: {why}")
            }
            other => panic!("{broken}: {other:?}"),
        }
    }
    assert!(matches!(engine.state(), EngineState::Ready { .. }));
    assert_eq!(engine.status().notice, None, "no step broke");
    let yes_or_no = Grammar::from_gbnf("root ::= \"yes\" | \"no\"");
    let answer = engine
        .generate(ask("Is Dr. Lee in today?", sampling, Some(yes_or_no)))
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert!(["yes", "no"].contains(&answer.text.as_str()), "{answer:?}");
    assert_eq!(answer.finished.reason, FinishReason::Stop);
    engine.shutdown();
}

/// A request without a grammar is sampled as before: the same greedy
/// answer alone and while constrained answers decode beside it.
#[tokio::test]
async fn without_a_grammar_answers_are_unchanged_beside_constrained_ones() {
    let Some(engine) = model_engine() else {
        return;
    };
    settled(&engine).await;
    let free = || Request {
        messages: vec![Message::new(
            Role::User,
            "Write two sentences about the sea for a waiting room poster.",
        )],
        sampling: Sampling {
            temperature: 0.0,
            max_tokens: 40,
            ..Sampling::default()
        },
        grammar: None,
    };
    let alone = engine.generate(free()).unwrap().collect().await.unwrap();
    assert!(
        serde_json::from_str::<Value>(&alone.text).is_err(),
        "free text: {}",
        alone.text
    );
    let grammar = Grammar::from_json_schema(&booking_schema()).unwrap();
    let constrained: Vec<_> = REQUESTS[..3]
        .iter()
        .map(|request| {
            let sampling = Sampling {
                temperature: 0.0,
                max_tokens: 300,
                ..Sampling::default()
            };
            let request = ask(request, sampling, Some(grammar.clone()));
            engine.generate(request).unwrap().collect()
        })
        .collect();
    let beside = engine.generate(free()).unwrap().collect();
    let (beside, constrained) =
        futures::future::join(beside, futures::future::join_all(constrained)).await;
    let beside = beside.unwrap();
    assert_eq!(beside.text, alone.text);
    assert_eq!(beside.finished.reason, alone.finished.reason);
    assert_eq!(
        beside.finished.completion_tokens,
        alone.finished.completion_tokens
    );
    for answer in constrained {
        let answer = answer.unwrap();
        assert!(
            serde_json::from_str::<Value>(&answer.text).is_ok(),
            "{}",
            answer.text
        );
    }
    engine.shutdown();
}

/// `HEARTH_CPU_KERNELS` naming a kernel library this build lacks: the engine
/// says which exist, the log has it, and the box keeps serving everything
/// else (the dispatching build only: without it nothing is loaded).
#[tokio::test]
async fn an_unknown_cpu_kernels_name_is_a_clear_error_and_the_box_keeps_serving() {
    if !cfg!(feature = "cpu-dispatch") {
        skipped("only the dispatching build loads kernel libraries");
        return;
    }
    let Some(model) = test_model("the kernels load with the model") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ChildServer::prepare(dir.path(), "");
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(&model, models.join(hearth::config::DEFAULT_MODEL_FILE)).unwrap();

    let mut server =
        ChildServer::start_with_env(dir.path(), &[("HEARTH_CPU_KERNELS", "nonsense")]).await;
    eventually(
        "the engine says why it cannot load",
        Duration::from_secs(30),
        async || server.log().contains("model not loaded"),
    )
    .await;
    let log = server.log();
    assert!(
        log.contains("HEARTH_CPU_KERNELS=nonsense: there is no")
            && log.contains("this build has")
            && log.contains("haswell"),
        "{log}"
    );
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert!(health.status().is_success());
    server.kill();
}
