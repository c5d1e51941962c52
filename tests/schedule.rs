//! Scheduling: booking through the API and the pages with every rule
//! checked and explained, overrides audited, moves and statuses, the
//! availability engine's slots always bookable, the time zone's skipped and
//! repeated hours, and the booking race (exactly one winner).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;
use hearth::calendar::office::{HOURS_SETTING, STEP_SETTING, TIME_ZONE_SETTING};
use hearth::calendar::{WeekHours, hours::parse_day};
use hearth::store::{
    ResourceChange, ResourceId, ServiceChange, ServiceId, StaffChange, StaffId, Store,
};

/// An office in New York: Dr Lee and Kim (dental cleanings on two chairs),
/// Sam (installs, needs the van), a yoga class of three.
struct Office {
    lee: StaffId,
    kim: StaffId,
    sam: StaffId,
    chair1: ResourceId,
    chair2: ResourceId,
    van: ResourceId,
    cleaning: ServiceId,
    install: ServiceId,
    yoga: ServiceId,
}

async fn set_up_office(store: &Store) -> Office {
    store
        .set_setting(TIME_ZONE_SETTING, "America/New_York".into(), None)
        .await
        .unwrap();
    store
        .set_setting(HOURS_SETTING, WeekHours::default().to_json(), None)
        .await
        .unwrap();
    store
        .set_setting(STEP_SETTING, "15".into(), None)
        .await
        .unwrap();
    let staff = |name: &str| StaffChange {
        name: name.into(),
        active: true,
        ..StaffChange::default()
    };
    let lee = store.create_staff(staff("Dr Lee")).await.unwrap().id;
    let kim = store.create_staff(staff("Kim")).await.unwrap().id;
    let sam = store.create_staff(staff("Sam")).await.unwrap().id;
    let resource = |name: &str| ResourceChange {
        name: name.into(),
        kind: "chair".into(),
        active: true,
    };
    let chair1 = store.create_resource(resource("Chair 1")).await.unwrap().id;
    let chair2 = store.create_resource(resource("Chair 2")).await.unwrap().id;
    let van = store.create_resource(resource("Van")).await.unwrap().id;
    let cleaning = store
        .create_service(ServiceChange {
            name: "Cleaning".into(),
            duration_minutes: 45,
            buffer_after: 15,
            capacity: 1,
            active: true,
            staff: vec![lee, kim],
            resources: vec![chair1, chair2],
            ..ServiceChange::default()
        })
        .await
        .unwrap()
        .id;
    let install = store
        .create_service(ServiceChange {
            name: "Install".into(),
            duration_minutes: 90,
            capacity: 1,
            active: true,
            staff: vec![sam],
            resources: vec![van],
            ..ServiceChange::default()
        })
        .await
        .unwrap()
        .id;
    let yoga = store
        .create_service(ServiceChange {
            name: "Yoga".into(),
            duration_minutes: 60,
            capacity: 3,
            active: true,
            staff: vec![kim],
            ..ServiceChange::default()
        })
        .await
        .unwrap()
        .id;
    Office {
        lee,
        kim,
        sam,
        chair1,
        chair2,
        van,
        cleaning,
        install,
        yoga,
    }
}

async fn book(api: &ApiClient, body: Value) -> (StatusCode, Value) {
    let response = api
        .request(Method::POST, "/api/v1/appointments")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn codes(answer: &Value) -> Vec<String> {
    answer["error"]["conflicts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| c["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn api_for(client: &Client, server: &TestServer) -> ApiClient {
    ApiClient::new(&server.base, &client.api_key("schedule").await)
}

#[tokio::test]
async fn every_rule_is_checked_and_each_refusal_says_why() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let api = api_for(&owner, &server).await;
    server
        .state
        .store
        .add_closure(
            "2027-01-06".into(),
            "2027-01-06".into(),
            "Staff training".into(),
        )
        .await
        .unwrap();
    // Kim is off on the morning of Thursday 7 January (New York time).
    server
        .state
        .store
        .add_time_off(o.kim, 1_799_330_400, 1_799_341_200, "Dentist".into())
        .await
        .unwrap();

    let (status, first) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["starts_at"], "2027-01-05T10:00:00-05:00");
    assert_eq!(first["ends_at"], "2027-01-05T10:45:00-05:00");
    assert_eq!(first["resource_id"], o.chair1.0, "the first free chair");
    assert_eq!(first["staff"], "Dr Lee");

    // Dr Lee is busy until 10:45 plus 15 minutes of buffer.
    for start in ["2027-01-05T10:30", "2027-01-05T10:45"] {
        let (status, answer) = book(
            &api,
            json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": start}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["error"]["code"], "schedule_conflict");
        assert_eq!(codes(&answer), ["staff_busy"], "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Dr Lee is already booked then: 10:00–10:45"),
            "{answer}"
        );
    }
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T11:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Kim takes the other chair; then both chairs are taken.
    let (status, second) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["resource_id"], o.chair2.0);
    let (status, answer) = book(
        &api,
        json!({"services": [o.cleaning.0], "start": "2027-01-05T10:15"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    // A named chair that is taken.
    let (status, answer) = book(
        &api,
        json!({"services": [o.install.0], "staff": o.sam.0, "resource": o.chair1.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        codes(&answer).contains(&"resource_taken".to_string()),
        "{answer}"
    );

    let cases = [
        (
            json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T16:30"}),
            "outside_opening_hours",
        ),
        (
            json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-09T10:00"}),
            "outside_opening_hours",
        ),
        (
            json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-06T10:00"}),
            "closed",
        ),
        (
            json!({"services": [o.cleaning.0], "staff": o.kim.0, "start": "2027-01-07T10:00"}),
            "time_off",
        ),
        (
            json!({"services": [o.cleaning.0], "staff": o.sam.0, "start": "2027-01-08T10:00"}),
            "cannot_do",
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = book(&api, body.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}: {answer}");
        assert!(
            codes(&answer).contains(&code.to_string()),
            "{body}: {answer}"
        );
    }

    // Bad input is a readable 400 and writes nothing.
    for body in [
        json!({"services": [], "start": "2027-01-05T12:00"}),
        json!({"services": [o.cleaning.0], "start": "next tuesday"}),
        json!({"services": [999], "start": "2027-01-05T12:00"}),
    ] {
        let (status, answer) = book(&api, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().len() > 10);
    }
    let (_, listed) = api
        .get_json("/api/v1/appointments?from=2027-01-04&to=2027-01-10")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed}");
    let _ = (o.van, o.yoga);
}

#[tokio::test]
async fn owners_and_admins_may_override_staff_may_not_and_it_is_audited() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let api = api_for(&owner, &server).await;
    let staff = server.user(&owner, "sally", "staff").await;
    let staff_api = api_for(&staff, &server).await;
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let double = json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T10:00",
        "override_reason": "Emergency: cracked tooth"});
    let (status, answer) = book(&staff_api, double.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = book(&api, double).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["override_reason"], "Emergency: cracked tooth");
    // A time that does not exist cannot be overridden.
    let (status, answer) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-03-14T02:30",
            "override_reason": "try"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(codes(&answer), ["nonexistent_time"]);

    let (_, audit) = api.get_json("/api/v1/audit?action=schedule").await;
    let actions: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"schedule.override"), "{audit}");
    assert_eq!(
        actions.iter().filter(|a| **a == "schedule.booked").count(),
        2,
        "{audit}"
    );
    let record = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "schedule.override")
        .unwrap();
    assert_eq!(record["actor"], "olivia");
    assert!(record["detail"].as_str().unwrap().contains("cracked tooth"));
}

#[tokio::test]
async fn moves_cancellations_and_statuses() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let api = api_for(&owner, &server).await;
    let (_, first) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    let (_, second) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T14:00"}),
    )
    .await;
    let id = first["id"].as_i64().unwrap();
    let patch = |body: Value| {
        api.request(Method::PATCH, &format!("/api/v1/appointments/{id}"))
            .json(&body)
            .send()
    };
    // Onto the other appointment: refused, nothing changes.
    let response = patch(json!({"start": "2027-01-05T14:15"})).await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let (_, unchanged) = api.get_json(&format!("/api/v1/appointments/{id}")).await;
    assert_eq!(unchanged["starts_at"], first["starts_at"]);
    assert_eq!(unchanged["sequence"], 0);
    // To Kim on Monday morning.
    let response = patch(json!({"start": "2027-01-04T09:00", "staff": o.kim.0}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["starts_at"], "2027-01-04T09:00:00-05:00");
    assert_eq!(moved["staff"], "Kim");
    assert_eq!(moved["sequence"], 1);
    // Its old time is free again.
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let second = second["id"].as_i64().unwrap();
    let status_of = |id: i64, status: &str| {
        api.request(Method::POST, &format!("/api/v1/appointments/{id}/status"))
            .json(&json!({"status": status}))
            .send()
    };
    let response = status_of(second, "cancelled").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    // A cancelled appointment frees its time, and cannot change.
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-01-05T14:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = api
        .request(Method::PATCH, &format!("/api/v1/appointments/{second}"))
        .json(&json!({"start": "2027-01-05T15:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        status_of(second, "done").await.unwrap().status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        status_of(id, "no_show").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        status_of(id, "booked").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let (_, with_cancelled) = api
        .get_json("/api/v1/appointments?from=2027-01-04&to=2027-01-05&include_cancelled=true")
        .await;
    assert_eq!(with_cancelled.as_array().unwrap().len(), 4);
    let (_, without) = api
        .get_json("/api/v1/appointments?from=2027-01-04&to=2027-01-05")
        .await;
    assert_eq!(without.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn every_offered_slot_is_free_and_group_places_fill_up() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let api = api_for(&owner, &server).await;
    for start in ["2027-01-05T13:00", "2027-01-05T15:00"] {
        let (status, _) = book(
            &api,
            json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": start}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, slots) = api
        .get_json(&format!(
            "/api/v1/availability?services={}&staff={}&from=2027-01-05&to=2027-01-05&times=afternoon&limit=200",
            o.cleaning.0, o.lee.0
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{slots}");
    let slots = slots.as_array().unwrap();
    let starts: Vec<&str> = slots
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    // 13:00–13:45 (+15) and 15:00–15:45 (+15) are held; a 45-minute cleaning
    // (+15 after) fits 12:00, 14:00, 16:00 and neighbours that keep clear.
    assert!(starts.contains(&"2027-01-05T12:00:00-05:00"), "{starts:?}");
    assert!(starts.contains(&"2027-01-05T14:00:00-05:00"), "{starts:?}");
    assert!(!starts.contains(&"2027-01-05T12:30:00-05:00"), "{starts:?}");
    assert!(!starts.contains(&"2027-01-05T13:30:00-05:00"), "{starts:?}");
    assert!(
        !starts.contains(&"2027-01-05T16:30:00-05:00"),
        "past closing: {starts:?}"
    );
    // Every slot offered can be booked, one after another (each booking
    // taking its own time out of the next search).
    for _ in 0..4 {
        let (_, slots) = api
            .get_json(&format!(
                "/api/v1/availability?services={}&from=2027-01-05&to=2027-01-05&limit=1",
                o.cleaning.0
            ))
            .await;
        let slot = &slots[0];
        let (status, answer) = book(
            &api,
            json!({"services": [o.cleaning.0], "staff": slot["staff_id"], "resource": slot["resource_id"], "start": slot["starts_at"]}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{slot} {answer}");
    }

    // Three places in a yoga class at 10:00, then it is full.
    for _ in 0..3 {
        let (status, answer) = book(
            &api,
            json!({"services": [o.yoga.0], "staff": o.kim.0, "start": "2027-01-08T10:00"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (status, answer) = book(
        &api,
        json!({"services": [o.yoga.0], "staff": o.kim.0, "start": "2027-01-08T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(codes(&answer), ["group_full"], "{answer}");
    let (status, answer) = book(
        &api,
        json!({"services": [o.yoga.0], "staff": o.kim.0, "start": "2027-01-08T10:30"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    let (status, answer) = api
        .get_json("/api/v1/availability?services=&from=2027-01-05")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, _) = api
        .get_json(&format!(
            "/api/v1/availability?services={}&times=teatime",
            o.cleaning.0
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let _ = (o.chair1, o.chair2, o.install, o.van, o.sam);
}

#[tokio::test]
async fn skipped_hours_are_never_offered_and_repeated_hours_are_two_times() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let store = server.state.store.clone();
    let all_day: [String; 7] = std::array::from_fn(|_| "0:00-24:00".to_string());
    store
        .set_setting(
            HOURS_SETTING,
            WeekHours::from_texts(&all_day).unwrap().to_json(),
            None,
        )
        .await
        .unwrap();
    let api = api_for(&owner, &server).await;
    // 14 March 2027: New York skips 2:00–3:00.
    let (_, slots) = api
        .get_json(&format!(
            "/api/v1/availability?services={}&staff={}&from=2027-03-14&to=2027-03-14&times=01:00-04:00&limit=200",
            o.cleaning.0, o.lee.0
        ))
        .await;
    let starts: Vec<&str> = slots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    assert!(!starts.is_empty());
    assert!(starts.iter().all(|s| !s.contains("T02:")), "{starts:?}");
    assert!(starts.contains(&"2027-03-14T01:00:00-05:00"), "{starts:?}");
    assert!(starts.contains(&"2027-03-14T03:00:00-04:00"), "{starts:?}");
    let (status, answer) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-03-14T02:30"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(codes(&answer), ["nonexistent_time"]);

    // 7 November 2027: 1:00–2:00 happens twice; both are offered and both
    // can be booked, as different instants.
    let (_, slots) = api
        .get_json(&format!(
            "/api/v1/availability?services={}&staff={}&from=2027-11-07&to=2027-11-07&times=01:00-01:15&limit=200",
            o.cleaning.0, o.lee.0
        ))
        .await;
    let starts: Vec<&str> = slots
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2027-11-07T01:00:00-04:00", "2027-11-07T01:00:00-05:00"],
        "{slots}"
    );
    let (status, earlier) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "start": "2027-11-07T01:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(earlier["starts_at"], "2027-11-07T01:00:00-04:00");
    let (status, later) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "start": "2027-11-07T01:00", "later": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{later}");
    assert_eq!(later["starts_at"], "2027-11-07T01:00:00-05:00");
    let _ = parse_day("9-17");
}

/// Of many people booking one slot at once, exactly one wins. Each round
/// books a new slot with 64 concurrent requests through the domain (the
/// same path as the pages and the API); `HEARTH_RACE_ROUNDS` sets the
/// rounds (CI runs 1,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_concurrent_bookings_wins() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let _ = owner;
    let store = server.state.store.clone();
    let user = store.users().await.unwrap().remove(0);
    let rounds: usize = std::env::var("HEARTH_RACE_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let started = std::time::Instant::now();
    for round in 0..rounds {
        // Weekdays from 2027-01-04, four 90-minute installs a day.
        let day = round / 4;
        let date = jiff::civil::date(2027, 1, 4)
            .checked_add(jiff::Span::new().days((day / 5 * 7 + day % 5) as i64))
            .unwrap();
        let time = jiff::civil::time(9 + 2 * (round % 4) as i8, 0, 0, 0);
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let state = server.state.clone();
            let user = user.clone();
            let booking = hearth::schedule::book::Booking {
                services: vec![o.install],
                staff: Some(o.sam),
                resource: None,
                customer: None,
                start: hearth::schedule::book::Start::Local {
                    local: date.to_datetime(time),
                    later: false,
                },
                notes: String::new(),
                override_reason: None,
                repeat: None,
            };
            tasks.push(tokio::spawn(async move {
                hearth::schedule::book::book(&state, &user, "127.0.0.1", booking).await
            }));
        }
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                hearth::schedule::book::Outcome::Done(_) => winners += 1,
                hearth::schedule::book::Outcome::Refused(conflicts) => {
                    assert!(!conflicts.is_empty())
                }
            }
        }
        assert_eq!(winners, 1, "round {round} on {date} {time}");
    }
    eprintln!(
        "{rounds} rounds of 64 concurrent bookings: exactly one winner each ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let _ = (o.lee, o.kim, o.chair1, o.chair2, o.cleaning, o.yoga, o.van);
}

#[tokio::test]
async fn booking_through_the_pages() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let staff = server.user(&owner, "sally", "staff").await;
    let (status, html) = staff.page("/schedule?date=2027-01-05").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_all_text(&html, ".cal-head").len(),
        4,
        "a time column and three people"
    );
    // Hours outside the opening hours are shaded.
    let outside = |time: &str| {
        html.select(
            &scraper::Selector::parse(&format!(".cal-cell.outside[data-time='{time}']")).unwrap(),
        )
        .count()
    };
    assert_eq!(
        outside("08:00"),
        3,
        "before opening, for each of three people"
    );
    assert_eq!(outside("10:00"), 0);
    assert_eq!(outside("17:00"), 3);
    // An empty cell links to the form, filled in.
    let cell = select_attr(&html, ".cal-cell[data-time='10:00'][data-staff]", "href");
    assert!(cell.contains("book_time=10:00"), "{cell}");
    let (_, html) = staff.page(&cell).await;
    assert_eq!(select_attr(&html, "#b-time", "value"), "10:00");

    let cleaning = o.cleaning.0.to_string();
    let lee = o.lee.0.to_string();
    let form = [
        ("services", cleaning.as_str()),
        ("staff", lee.as_str()),
        ("date", "2027-01-05"),
        ("time", "10:00"),
        ("customer_name", "Maria Ortiz"),
        ("customer_phone", "555-0100"),
        ("notes", "First visit <b>"),
    ];
    let response = staff.post_form("/schedule/book", &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    let (_, html) = staff.page(&to).await;
    assert!(select_text(&html, ".flash").contains("Booked"), "{to}");
    let block = select_text(&html, "#day-grid .appt");
    assert!(block.contains("10:00–10:45"), "{block}");
    assert!(block.contains("Maria Ortiz"), "{block}");

    // The same time again: the form comes back with the reason and values.
    let response = staff.post_form("/schedule/book", &form).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(
        select_text(&html, "#book .error").contains("Dr Lee is already booked"),
        "{}",
        select_text(&html, "#book")
    );
    assert_eq!(select_attr(&html, "#b-customer", "value"), "Maria Ortiz");
    assert!(
        html.select(&scraper::Selector::parse("#b-override").unwrap())
            .next()
            .is_none(),
        "staff cannot override"
    );

    // The customer was created once and is found again by name and phone.
    let customers = server.state.store.customers().await.unwrap();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].phone, "555-0100");

    // The appointment's page: notes escaped, moved by form, then cancelled.
    let id = select_attr(&html, "#day-grid .appt", "data-id");
    let (status, page) = staff.page(&format!("/schedule/appointments/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&page, "#details").contains("First visit <b>"));
    let response = staff
        .post_form(
            &format!("/schedule/appointments/{id}"),
            &[
                ("date", "2027-01-05"),
                ("time", "11:00"),
                ("staff", lee.as_str()),
                ("services", cleaning.as_str()),
                ("notes", "moved"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = staff.page(&format!("/schedule/appointments/{id}")).await;
    assert!(
        select_text(&page, "#details").contains("11:00"),
        "{}",
        select_text(&page, "#details")
    );
    let response = staff
        .post_form(
            &format!("/schedule/appointments/{id}/status"),
            &[("status", "cancelled")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = staff.page(&format!("/schedule/appointments/{id}")).await;
    assert_eq!(select_text(&page, "#status"), "cancelled");

    // Find a slot, book one from the list.
    let (status, page) = staff
        .page(&format!(
            "/schedule/find?services={cleaning}&staff={lee}&from=2027-01-05&to=2027-01-05&times=afternoon"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let labels = select_all_text(&page, ".slot-label");
    assert!(labels[0].contains("Tue 5 Jan 12:00"), "{labels:?}");
    let at = select_attr(&page, ".slots input[name='at']", "value");
    let response = staff
        .post_form(
            "/schedule/book",
            &[
                ("services", cleaning.as_str()),
                ("staff", lee.as_str()),
                ("at", at.as_str()),
                ("customer_name", "Chen"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // The week view and the day sheet show it.
    let (_, week) = staff.page("/schedule?view=week&date=2027-01-05").await;
    assert!(select_text(&week, "#week").contains("Chen"));
    let (status, sheet) = staff.page("/schedule/sheet?date=2027-01-05").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&sheet, ".sheet").contains("Chen"));
}

#[tokio::test]
async fn recurring_series_book_whole_keep_local_time_and_edit_one_or_following() {
    let (server, owner) = TestServer::with_owner().await;
    let o = set_up_office(&server.state.store).await;
    let api = api_for(&owner, &server).await;
    // Weekly Tuesday 9:00 for 8 weeks from 2 March 2027: New York moves its
    // clocks on 14 March, and 9:00 stays 9:00 local.
    let (status, series) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-03-02T09:00",
            "repeat": {"every": "week", "count": 8}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{series}");
    let occurrences = series["occurrences"].as_array().unwrap();
    assert_eq!(occurrences.len(), 7);
    assert_eq!(series["starts_at"], "2027-03-02T09:00:00-05:00");
    assert_eq!(occurrences[1]["starts_at"], "2027-03-16T09:00:00-04:00");
    assert!(series["series_id"].is_i64());

    // Every other week and monthly on the 2nd Tuesday.
    let (status, other) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "start": "2027-03-02T13:00",
            "repeat": {"every": "2weeks", "until": "2027-04-30"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let starts: Vec<&str> = std::iter::once(&other)
        .chain(other["occurrences"].as_array().unwrap())
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2027-03-02T13:00:00-05:00",
            "2027-03-16T13:00:00-04:00",
            "2027-03-30T13:00:00-04:00",
            "2027-04-13T13:00:00-04:00",
            "2027-04-27T13:00:00-04:00"
        ]
    );
    let (status, monthly) = book(
        &api,
        json!({"services": [o.install.0], "staff": o.sam.0, "start": "2027-03-09T10:00",
            "repeat": {"every": "month_by_weekday", "count": 3}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{monthly}");
    let months: Vec<&str> = monthly["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        months,
        ["2027-04-13T10:00:00-04:00", "2027-05-11T10:00:00-04:00"]
    );

    // A series that collides anywhere is refused whole, naming the date.
    let (status, answer) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-02-23T09:30",
            "repeat": {"every": "week", "count": 3}}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Tue 2 Mar 09:30"),
        "{answer}"
    );
    assert_eq!(
        codes(&answer),
        ["occurrence", "occurrence"],
        "2 and 9 March"
    );
    let (_, feb) = api
        .get_json("/api/v1/appointments?from=2027-02-23&to=2027-02-23")
        .await;
    assert!(feb.as_array().unwrap().is_empty(), "nothing written: {feb}");
    // Unbounded repeats are refused.
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": "2027-06-01T09:00",
            "repeat": {"every": "week"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Move only the third occurrence (16 March) to the 23rd at 11:00; then
    // the fifth (30 March) and every later one to Wednesdays at 10:00.
    let ids: Vec<i64> = std::iter::once(&series)
        .chain(occurrences)
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    let response = api
        .request(Method::PATCH, &format!("/api/v1/appointments/{}", ids[2]))
        .json(&json!({"start": "2027-03-23T11:00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = api
        .request(Method::PATCH, &format!("/api/v1/appointments/{}", ids[4]))
        .json(&json!({"start": "2027-03-31T10:00", "scope": "following"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    let mut now = Vec::new();
    for id in &ids {
        let (_, a) = api.get_json(&format!("/api/v1/appointments/{id}")).await;
        now.push(a["starts_at"].as_str().unwrap().to_string());
    }
    assert_eq!(
        now,
        [
            "2027-03-02T09:00:00-05:00",
            "2027-03-09T09:00:00-05:00",
            "2027-03-23T11:00:00-04:00",
            "2027-03-23T09:00:00-04:00",
            "2027-03-31T10:00:00-04:00",
            "2027-04-07T10:00:00-04:00",
            "2027-04-14T10:00:00-04:00",
            "2027-04-21T10:00:00-04:00",
        ]
    );
    // Cancel the last three together.
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/appointments/{}/status", ids[5]),
        )
        .json(&json!({"status": "cancelled", "scope": "following"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, listed) = api
        .get_json(&format!(
            "/api/v1/appointments?from=2027-03-01&to=2027-04-30&staff={}",
            o.lee.0
        ))
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 5, "{listed}");
}

/// A box whose clock reads Tuesday 1 June 2027, 10:00 in New York, so the
/// assistant's "tomorrow" and "next week" mean the same days whenever the
/// tests run (the clock only moves forward, to a date still ahead).
async fn office_on_a_fixed_tuesday() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let target = jiff::Timestamp::from_second(1_811_858_400).unwrap();
    let now = jiff::Timestamp::from_second(server.state.store.now()).unwrap();
    let ahead = target.duration_since(now).unsigned_abs();
    server.state.store.clock().advance(ahead);
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    (server, owner)
}

async fn ask(api: &ApiClient, text: &str) -> Value {
    let response = api
        .request(Method::POST, "/api/v1/schedule/assistant")
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{text}");
    response.json().await.unwrap()
}

async fn count_appointments(api: &ApiClient) -> usize {
    let (_, all) = api
        .get_json("/api/v1/appointments?from=2027-05-01&to=2027-12-31&include_cancelled=true")
        .await;
    all.as_array().unwrap().len()
}

async fn customer(store: &Store, name: &str, phone: &str) -> hearth::store::CustomerId {
    store
        .create_customer(hearth::store::CustomerChange {
            name: name.into(),
            phone: phone.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn the_assistant_proposes_free_times_and_changes_nothing_until_a_person_confirms() {
    let (server, owner) = office_on_a_fixed_tuesday().await;
    let store = server.state.store.clone();
    let o = set_up_office(&store).await;
    let ortiz = customer(&store, "Maria Ortiz", "555-0101").await;
    customer(&store, "Wei Chen", "555-0102").await;
    customer(&store, "Lily Chen", "555-0103").await;
    let api = api_for(&owner, &server).await;

    let answer = ask(
        &api,
        "book Mrs Ortiz for a 45-minute cleaning next week, afternoons, with Dr Lee",
    )
    .await;
    let terms = &answer["terms"];
    assert_eq!(terms["action"], "book", "{answer}");
    assert_eq!(terms["customer"], ortiz.0);
    assert_eq!(terms["service"], o.cleaning.0);
    assert_eq!(terms["staff"], o.lee.0);
    assert_eq!(terms["times"], "12:00-17:00");
    assert!(answer["question"].is_null());
    let offers = answer["offers"].as_array().unwrap();
    assert_eq!(offers.len(), 3, "{answer}");
    assert!(
        offers[0]["label"]
            .as_str()
            .unwrap()
            .starts_with("Book Maria Ortiz: Cleaning, Mon "),
        "{answer}"
    );
    assert!(
        offers[0]["label"]
            .as_str()
            .unwrap()
            .contains("12:00 with Dr Lee"),
        "{answer}"
    );
    assert_eq!(
        count_appointments(&api).await,
        0,
        "nothing written before a confirm"
    );

    // Confirm the second option: booked, audited with who confirmed; a
    // second click is refused.
    let id = offers[1]["proposal"].as_i64().unwrap();
    let response = api
        .request(Method::POST, &format!("/api/v1/proposals/{id}/confirm"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["customer"], "Maria Ortiz");
    assert_eq!(booked["staff"], "Dr Lee");
    assert_eq!(count_appointments(&api).await, 1);
    let response = api
        .request(Method::POST, &format!("/api/v1/proposals/{id}/confirm"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let (_, audit) = api.get_json("/api/v1/audit?action=schedule").await;
    let record = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "schedule.proposal_confirmed")
        .unwrap();
    assert!(
        record["detail"]
            .as_str()
            .unwrap()
            .contains("confirmed by olivia"),
        "{record}"
    );

    let first = offers[0]["proposal"].as_i64().unwrap();
    let staff = server.user(&owner, "sally", "staff").await;
    let staff_api = api_for(&staff, &server).await;
    let response = staff_api
        .request(Method::POST, &format!("/api/v1/proposals/{first}/confirm"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not theirs to confirm"
    );
    // Someone books the first option's time by hand meanwhile: confirming
    // it is refused with the reason, and nothing more is written.
    let (_, proposal) = api.get_json(&format!("/api/v1/proposals/{first}")).await;
    let payload: Value = serde_json::from_str(proposal["payload"].as_str().unwrap()).unwrap();
    let taken = jiff::Timestamp::from_second(payload["starts_at"].as_i64().unwrap()).unwrap();
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "start": taken.to_string()}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let response = api
        .request(Method::POST, &format!("/api/v1/proposals/{first}/confirm"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("no longer free"));
    assert_eq!(count_appointments(&api).await, 2);

    // Two Chens: one short question with both, then options once chosen.
    let answer = ask(&api, "book Chen for a cleaning tomorrow").await;
    assert_eq!(
        answer["question"],
        "Which customer do you mean: Lily Chen (555-0103) or Wei Chen (555-0102)?",
        "{answer}"
    );
    assert!(answer["offers"].as_array().unwrap().is_empty());
    let choice = &answer["choices"][1];
    assert_eq!(choice["label"], "Wei Chen (555-0102)");
    let response = api
        .request(Method::POST, "/api/v1/schedule/proposals")
        .json(&choice["terms"])
        .send()
        .await
        .unwrap();
    let refined: Value = response.json().await.unwrap();
    assert!(
        refined["offers"][0]["label"]
            .as_str()
            .unwrap()
            .starts_with("Book Wei Chen: Cleaning, Wed 2 Jun"),
        "{refined}"
    );
    // No service named (and several exist): a question, not a guess.
    let answer = ask(&api, "book Maria Ortiz tomorrow at 10").await;
    assert!(
        answer["question"]
            .as_str()
            .unwrap()
            .starts_with("Which service"),
        "{answer}"
    );
    assert_eq!(count_appointments(&api).await, 2);

    // Who is free: times, nothing to confirm.
    let answer = ask(&api, "who is free for a 90-minute install on Friday?").await;
    assert_eq!(answer["terms"]["action"], "find", "{answer}");
    assert_eq!(answer["terms"]["service"], o.install.0);
    assert!(
        answer["free"][0]
            .as_str()
            .unwrap()
            .starts_with("Fri 4 Jun 09:00 with Sam"),
        "{answer}"
    );
    assert!(answer["offers"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_assistant_moves_and_cancels_only_when_confirmed() {
    let (server, owner) = office_on_a_fixed_tuesday().await;
    let store = server.state.store.clone();
    let o = set_up_office(&store).await;
    let chen = customer(&store, "Wei Chen", "555-0102").await;
    let alvarez = customer(&store, "Jose Alvarez", "555-0104").await;
    let api = api_for(&owner, &server).await;
    let (status, thursday) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.lee.0, "customer": chen.0, "start": "2027-06-03T10:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{thursday}");
    let (_, three_pm) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "customer": alvarez.0, "start": "2027-06-04T15:00"}),
    )
    .await;

    let answer = ask(
        &api,
        "move Mr Chen's Thursday appointment to Monday morning",
    )
    .await;
    assert_eq!(answer["terms"]["action"], "move", "{answer}");
    assert_eq!(answer["terms"]["current_day"], "2027-06-03");
    let offer = &answer["offers"][0];
    assert!(
        offer["label"]
            .as_str()
            .unwrap()
            .contains("to Mon 7 Jun 09:00 with Dr Lee"),
        "{answer}"
    );
    let (_, unchanged) = api
        .get_json(&format!("/api/v1/appointments/{}", thursday["id"]))
        .await;
    assert_eq!(unchanged["starts_at"], "2027-06-03T10:00:00-04:00");
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/proposals/{}/confirm", offer["proposal"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, moved) = api
        .get_json(&format!("/api/v1/appointments/{}", thursday["id"]))
        .await;
    assert_eq!(moved["starts_at"], "2027-06-07T09:00:00-04:00");

    let answer = ask(&api, "cancel the 3 pm with Alvarez").await;
    assert_eq!(answer["terms"]["action"], "cancel", "{answer}");
    let offer = &answer["offers"][0];
    assert!(
        offer["label"]
            .as_str()
            .unwrap()
            .starts_with("Cancel Fri 4 Jun 15:00"),
        "{answer}"
    );
    let (_, still) = api
        .get_json(&format!("/api/v1/appointments/{}", three_pm["id"]))
        .await;
    assert_eq!(still["status"], "booked");
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/proposals/{}/dismiss", offer["proposal"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, still) = api
        .get_json(&format!("/api/v1/appointments/{}", three_pm["id"]))
        .await;
    assert_eq!(still["status"], "booked", "dismissed: nothing changed");

    // The same through the pages: ask, see the options, confirm one.
    let (status, page) = owner.page("/schedule/assistant").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_text(&page, "#ask-form").contains("Request"));
    let response = owner
        .post_form(
            "/schedule/assistant",
            &[("text", "cancel Alvarez's appointment on Friday")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(
        select_text(&page, "#offers").contains("Cancel Fri 4 Jun 15:00"),
        "{}",
        select_text(&page, "main")
    );
    assert_eq!(
        select_attr(&page, "#u-action option[selected]", "value"),
        "cancel"
    );
    let action = select_attr(&page, "#offers form", "action");
    let response = owner.post_form(&action, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, done) = owner.page(&location(&response)).await;
    assert!(select_text(&done, ".flash").contains("Cancelled"));
    assert_eq!(select_text(&done, "#status"), "cancelled");
    // An empty request is a readable error.
    let response = owner
        .post_form("/schedule/assistant", &[("text", "  ")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// With the real default model: every answer is valid by construction
/// (the model picks within enums under a grammar), every proposal is a
/// free slot, unclear requests get a question, and nothing is written
/// without a confirm.
#[tokio::test]
async fn the_assistant_with_the_model_picks_within_the_lists_and_asks_when_unsure() {
    if test_model("the assistant's model path").is_none() {
        return;
    }
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let store = server.state.store.clone();
    let o = set_up_office(&store).await;
    let api = api_for(&owner, &server).await;
    let target = jiff::Timestamp::from_second(1_811_858_400).unwrap();
    let now = jiff::Timestamp::from_second(store.now()).unwrap();
    store
        .clock()
        .advance(target.duration_since(now).unsigned_abs());
    let ortiz = customer(&store, "Maria Ortiz", "555-0101").await;
    let alvarez = customer(&store, "Jose Alvarez", "555-0104").await;
    customer(&store, "Wei Chen", "555-0102").await;
    customer(&store, "Lily Chen", "555-0103").await;
    let (status, _) = book(
        &api,
        json!({"services": [o.cleaning.0], "staff": o.kim.0, "customer": alvarez.0, "start": "2027-06-04T15:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = count_appointments(&api).await;

    let clear = [
        (
            "book Mrs Ortiz for a cleaning next week, afternoons, with Dr Lee",
            "book",
            Some(ortiz),
        ),
        (
            "please schedule Maria Ortiz for a cleaning tomorrow",
            "book",
            Some(ortiz),
        ),
        (
            "who is free for a 90-minute install on Friday?",
            "find",
            None,
        ),
        ("is Sam available for an install next week?", "find", None),
        ("cancel the 3 pm with Alvarez", "cancel", Some(alvarez)),
        (
            "move Alvarez's Friday appointment to Monday morning",
            "move",
            Some(alvarez),
        ),
    ];
    for (text, action, who) in clear {
        let answer = ask(&api, text).await;
        let terms = &answer["terms"];
        assert!(
            ["model", "model_corrected"].contains(&terms["reader"].as_str().unwrap()),
            "{text}: {answer}"
        );
        assert_eq!(terms["action"], action, "{text}: {answer}");
        assert_eq!(
            terms["customer"].as_i64(),
            who.map(|c| c.0),
            "{text}: {answer}"
        );
        assert!(answer["question"].is_null(), "{text}: {answer}");
        assert!(
            !answer["offers"].as_array().unwrap().is_empty()
                || !answer["free"].as_array().unwrap().is_empty(),
            "{text}: {answer}"
        );
    }
    for text in [
        "book Chen for a cleaning tomorrow",
        "book Maria Ortiz tomorrow at 10",
        "move Chen's appointment to Monday",
    ] {
        let answer = ask(&api, text).await;
        assert!(answer["question"].is_string(), "{text}: {answer}");
        assert!(
            answer["offers"].as_array().unwrap().is_empty(),
            "{text}: {answer}"
        );
    }
    assert_eq!(
        count_appointments(&api).await,
        before,
        "nothing written without a confirm"
    );

    // Each booking offered is free: confirming them one after another books
    // each (they are different times or people).
    let answer = ask(
        &api,
        "book Mrs Ortiz for a cleaning next week, afternoons, with Dr Lee",
    )
    .await;
    let offers = answer["offers"].as_array().unwrap();
    let response = api
        .request(
            Method::POST,
            &format!("/api/v1/proposals/{}/confirm", offers[0]["proposal"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count_appointments(&api).await, before + 1);
}

/// In chat, a message that reads like a scheduling request offers the
/// scheduling assistant: one click shows what was understood and the free
/// times, one more confirms.
#[tokio::test]
async fn chat_offers_the_scheduling_assistant_for_a_scheduling_request() {
    let (server, owner) = TestServer::with_model(|_| {}).await;
    let store = server.state.store.clone();
    let o = set_up_office(&store).await;
    let ortiz = customer(&store, "Maria Ortiz", "555-0101").await;
    let response = owner
        .post_form(
            "/chat/new",
            &[(
                "content",
                "book Maria Ortiz for a cleaning next week with Dr Lee",
            )],
        )
        .await;
    let conversation = location(&response);
    eventually(
        "the answer is written",
        std::time::Duration::from_secs(60),
        async || {
            let (_, page) = owner.page(&conversation).await;
            !select_text(&page, "#messages").contains("Writing")
        },
    )
    .await;
    let (_, page) = owner.page(&conversation).await;
    let hint = select_text(&page, ".scheduling-hint");
    assert!(hint.contains("Show free times for this"), "{hint}");
    let text = select_attr(&page, ".scheduling-hint input[name='text']", "value");
    assert_eq!(
        text,
        "book Maria Ortiz for a cleaning next week with Dr Lee"
    );
    let response = owner
        .post_form("/schedule/assistant", &[("text", text.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = scraper::Html::parse_document(&response.text().await.unwrap());
    assert!(
        select_text(&page, "#offers").contains("Book Maria Ortiz: Cleaning"),
        "{}",
        select_text(&page, "main")
    );
    assert_eq!(
        select_attr(&page, "#u-customer option[selected]", "value"),
        ortiz.0.to_string()
    );
    assert_eq!(
        select_attr(&page, "#u-staff option[selected]", "value"),
        o.lee.0.to_string()
    );

    // An ordinary question gets no such offer.
    let response = owner
        .post_form("/chat/new", &[("content", "what is our refund policy?")])
        .await;
    let (_, page) = owner.page(&location(&response)).await;
    assert!(
        page.select(&scraper::Selector::parse(".scheduling-hint").unwrap())
            .next()
            .is_none()
    );
}
