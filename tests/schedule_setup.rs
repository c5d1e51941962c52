//! Scheduling's setup and customers: Admin → Schedule (time zone, slot step,
//! opening hours, closures, staff with their hours and time off, services,
//! resources) through the forms and `/api/v1`, with readable refusals and
//! the values kept; hours stored and read back, also by the calendar
//! engine; time off turned into instants through the business's zone on
//! the days the clocks change; customers found while typing by a part of
//! the name, the phone's digits or the e-mail, edited, and listed with
//! their appointments; every change in the audit log with before and after.

use reqwest::{Method, StatusCode};
use scraper::Html;
use serde_json::{Value, json};

use crate::common::*;

/// A box with an owner (pages) and the owner's API client.
async fn office() -> (TestServer, Client, ApiClient) {
    let (server, owner) = TestServer::with_owner().await;
    let key = owner.api_key("setup tests").await;
    let api = ApiClient::new(&server.base, &key);
    (server, owner, api)
}

async fn send(api: &ApiClient, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let response = api.request(method, path).json(&body).send().await.unwrap();
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// POSTs a form and parses the page that came back (a refusal).
async fn refused(client: &Client, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Html) {
    let response = client.post_form(path, fields).await;
    let status = response.status();
    (
        status,
        Html::parse_document(&response.text().await.unwrap()),
    )
}

/// POSTs a form that must succeed; returns where it led.
async fn accepted(client: &Client, path: &str, fields: &[(&str, &str)]) -> String {
    let response = client.post_form(path, fields).await;
    let status = response.status();
    let to = location(&response);
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
    to
}

/// The audit details of `action` (or actions under it), oldest first.
async fn audit_details(server: &TestServer, action: &str) -> Vec<String> {
    let page = server
        .state
        .store
        .audit(hearth::store::AuditFilter {
            action: Some(action.to_string()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    page.records.into_iter().rev().map(|r| r.detail).collect()
}

const WEEK: [(&str, &str); 7] = [
    ("monday", "9:00-12:00, 13:00-17:00"),
    ("tuesday", "9-17"),
    ("wednesday", "9-17"),
    ("thursday", "9-17"),
    ("friday", "9-13"),
    ("saturday", "closed"),
    ("sunday", ""),
];

async fn set_zone(owner: &Client, zone: &str) {
    let mut fields = vec![("time_zone", zone), ("step_minutes", "15")];
    fields.extend(WEEK);
    accepted(owner, "/admin/schedule/settings", &fields).await;
}

#[tokio::test]
async fn settings_are_saved_through_the_form_and_read_back_everywhere() {
    let (server, owner, api) = office().await;
    let (status, html) = owner.page("/admin/schedule").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, ".sub-nav a[aria-current=page]"),
        "Schedule"
    );
    assert!(
        select_all_text(&html, "#time_zone option").contains(&"Pacific/Auckland".to_string()),
        "the zones are listed"
    );

    let mut fields = vec![("time_zone", "Europe/Berlin"), ("step_minutes", "30")];
    fields.extend(WEEK);
    let to = accepted(&owner, "/admin/schedule/settings", &fields).await;
    assert_eq!(to, "/admin/schedule");
    let (_, html) = owner.page("/admin/schedule").await;
    assert_eq!(
        select_attr(&html, "#time_zone option[selected]", "value"),
        "Europe/Berlin"
    );
    assert_eq!(select_attr(&html, "#step_minutes", "value"), "30");
    assert_eq!(
        select_attr(&html, "#monday", "value"),
        "09:00-12:00, 13:00-17:00"
    );
    assert_eq!(select_attr(&html, "#friday", "value"), "09:00-13:00");
    assert_eq!(select_attr(&html, "#sunday", "value"), "closed");

    // Staff read the settings through the API; the calendar uses them.
    let staff = server.user(&owner, "sam", "staff").await;
    let staff_api = ApiClient::new(&server.base, &staff.api_key("sam's").await);
    let (status, settings) = staff_api.get_json("/api/v1/schedule/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["time_zone"], "Europe/Berlin");
    assert_eq!(settings["slot_minutes"], 30);
    assert_eq!(
        settings["opening_hours"]["monday"],
        "09:00-12:00, 13:00-17:00"
    );
    assert_eq!(settings["opening_hours"]["saturday"], "closed");
    let loaded = hearth::calendar::Settings::load(&server.state.store)
        .await
        .unwrap();
    assert_eq!(loaded.zone_name, "Europe/Berlin");
    assert_eq!(loaded.step_minutes, 30);
    assert_eq!(loaded.opening.texts()[4], "09:00-13:00");

    // Staff may not change them; admins may, through the API, partly.
    let (status, _) = send(
        &staff_api,
        Method::PUT,
        "/api/v1/schedule/settings",
        json!({"slot_minutes": 10}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        &api,
        Method::PUT,
        "/api/v1/schedule/settings",
        json!({"time_zone": "America/New_York", "slot_minutes": 20}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["time_zone"], "America/New_York");
    assert_eq!(body["slot_minutes"], 20);
    assert_eq!(
        body["opening_hours"]["monday"], "09:00-12:00, 13:00-17:00",
        "what was left out stays"
    );

    // Every change is a version and an audit record with before → after.
    let history = server
        .state
        .store
        .setting_history(hearth::calendar::office::TIME_ZONE_SETTING, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].value, "America/New_York");
    assert_eq!(history[0].changed_by, "olivia");
    let details = audit_details(&server, "settings.changed").await;
    assert!(
        details.iter().any(|d| d.ends_with("→ Europe/Berlin")),
        "{details:?}"
    );
    assert!(
        details.contains(&"Europe/Berlin → America/New_York".to_string()),
        "{details:?}"
    );
    assert!(
        details.contains(&"15 → 30 minutes".to_string()),
        "{details:?}"
    );
    assert!(
        details.contains(
            &"Monday 09:00-17:00 → 09:00-12:00, 13:00-17:00; Friday 09:00-17:00 → 09:00-13:00"
                .to_string()
        ),
        "only the days that changed: {details:?}"
    );
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_problem_and_keeping_the_values() {
    let (server, owner, api) = office().await;
    let cases: &[(&str, &str, &str, &str)] = &[
        ("Mars/Olympus", "15", "9-17", "not a time zone"),
        ("Europe/Berlin", "3", "9-17", "5 to 240"),
        ("Europe/Berlin", "often", "9-17", "not a whole number"),
        ("Europe/Berlin", "15", "9-25", "Wednesday"),
        ("Europe/Berlin", "15", "17:00-9:00", "ends before it starts"),
        ("Europe/Berlin", "15", "9-12, 11-13", "overlap"),
    ];
    for (zone, step, wednesday, message) in cases {
        let fields = [
            ("time_zone", *zone),
            ("step_minutes", *step),
            ("monday", "9-17"),
            ("wednesday", *wednesday),
        ];
        let (status, html) = refused(&owner, "/admin/schedule/settings", &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        let error = select_text(&html, "#settings .error");
        assert!(error.contains(message), "{message}: {error}");
        assert_eq!(select_attr(&html, "#wednesday", "value"), *wednesday);
        assert_eq!(select_attr(&html, "#step_minutes", "value"), *step);
    }
    // A day's error names the day, also in the API.
    let mut week = serde_json::Map::new();
    for (day, _) in WEEK {
        week.insert(day.to_string(), json!("9-17"));
    }
    week.insert("thursday".into(), json!("9:75-10"));
    let (status, body) = send(
        &api,
        Method::PUT,
        "/api/v1/schedule/settings",
        json!({ "opening_hours": week }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Thursday"), "{message}");
    // Nothing was stored.
    assert!(
        server
            .state
            .store
            .setting(hearth::calendar::office::HOURS_SETTING)
            .await
            .unwrap()
            .is_none()
    );
    assert!(audit_details(&server, "settings.changed").await.is_empty());
}

#[tokio::test]
async fn closures_are_added_listed_and_removed() {
    let (server, owner, api) = office().await;
    set_zone(&owner, "Europe/Berlin").await;
    accepted(
        &owner,
        "/admin/schedule/closures",
        &[
            ("first_day", "2030-12-24"),
            ("last_day", "2030-12-26"),
            ("reason", "Christmas"),
        ],
    )
    .await;
    accepted(
        &owner,
        "/admin/schedule/closures",
        &[("first_day", "2030-05-01"), ("reason", "")],
    )
    .await;
    // One in the past: stored, but not among the upcoming ones.
    let (status, past) = send(
        &api,
        Method::POST,
        "/api/v1/closures",
        json!({"first_day": "2020-01-01", "reason": "long ago"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{past}");

    let (_, html) = owner.page("/admin/schedule").await;
    let rows = select_all_text(&html, "#closure-list tbody td:first-child");
    assert_eq!(rows, ["2030-05-01", "2030-12-24 – 2030-12-26"]);
    assert!(select_text(&html, "#closure-list").contains("Christmas"));

    let (status, list) = api.get_json("/api/v1/closures").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (_, all) = api
        .get_json("/api/v1/closures?from=2000-01-01&until=2100-01-01")
        .await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    // The calendar sees the closure.
    let office = hearth::calendar::Office::load(
        &server.state.store,
        "2030-12-24".parse().unwrap(),
        "2030-12-27".parse().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        office.closed_on("2030-12-25".parse().unwrap()),
        Some("Christmas")
    );
    assert_eq!(office.closed_on("2030-12-27".parse().unwrap()), None);

    // Refusals, readable, with the values kept.
    for (first, last, message) in [
        ("2030-12-26", "2030-12-24", "before the first day"),
        ("26.12.2030", "", "not a date"),
        ("2030-01-01", "2032-01-01", "at most 366 days"),
    ] {
        let (status, html) = refused(
            &owner,
            "/admin/schedule/closures",
            &[("first_day", first), ("last_day", last), ("reason", "x")],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert!(
            select_text(&html, "#closures .error").contains(message),
            "{message}"
        );
        assert_eq!(select_attr(&html, "#first_day", "value"), first);
    }

    // Removing one: through the page and the API.
    let christmas = list.as_array().unwrap()[1]["id"].as_i64().unwrap();
    accepted(
        &owner,
        &format!("/admin/schedule/closures/{christmas}/delete"),
        &[],
    )
    .await;
    let may_day = list.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let (status, _) = send(
        &api,
        Method::DELETE,
        &format!("/api/v1/closures/{may_day}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(
        &api,
        Method::DELETE,
        &format!("/api/v1/closures/{may_day}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, list) = api.get_json("/api/v1/closures").await;
    assert_eq!(list, json!([]));

    let details = audit_details(&server, "schedule.closure").await;
    assert_eq!(
        details,
        [
            "none → 2030-12-24 – 2030-12-26 (Christmas)",
            "none → 2030-05-01",
            "none → 2020-01-01 (long ago)",
            "2030-12-24 – 2030-12-26 (Christmas) → none",
            "2030-05-01 → none",
        ]
    );
}

/// The id a list answer gives the entry named `name`.
fn id_named(list: &Value, name: &str) -> i64 {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {list}"))["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn staff_are_set_up_with_accounts_and_their_own_hours() {
    let (server, owner, api) = office().await;
    set_zone(&owner, "Europe/Berlin").await;
    server.user(&owner, "dana", "staff").await;
    let dana_user = server
        .state
        .store
        .user_by_username("dana")
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0;
    let dana_user_text = dana_user.to_string();

    // Own hours: Monday mornings, Saturdays off, other days the opening hours.
    accepted(
        &owner,
        "/admin/schedule/staff",
        &[
            ("name", "  Dana   Smith "),
            ("user", &dana_user_text),
            ("monday", "8-12"),
            ("saturday", "closed"),
            ("active", "on"),
        ],
    )
    .await;
    accepted(
        &owner,
        "/admin/schedule/staff",
        &[("name", "Ben Ortiz"), ("user", ""), ("active", "on")],
    )
    .await;
    let (_, html) = owner.page("/admin/schedule/staff").await;
    assert_eq!(
        select_all_text(&html, "#staff-list tbody td:first-child"),
        ["Ben Ortiz", "Dana Smith"]
    );
    assert_eq!(
        select_all_text(&html, "#staff-list tbody td:nth-child(3)"),
        ["Opening hours", "Own hours"]
    );

    let (status, staff) = api.get_json("/api/v1/staff").await;
    assert_eq!(status, StatusCode::OK);
    let dana = id_named(&staff, "Dana Smith");
    let ben = id_named(&staff, "Ben Ortiz");
    let dana_json = &staff.as_array().unwrap()[1];
    assert_eq!(dana_json["user_id"], dana_user);
    assert_eq!(dana_json["hours"]["monday"], "08:00-12:00");
    assert_eq!(dana_json["hours"]["tuesday"], "");
    assert_eq!(dana_json["hours"]["saturday"], "closed");
    assert_eq!(staff.as_array().unwrap()[0]["hours"], Value::Null);

    // The page shows them as typed, normalised.
    let (_, html) = owner.page(&format!("/admin/schedule/staff/{dana}")).await;
    assert_eq!(select_attr(&html, "#staff_monday", "value"), "08:00-12:00");
    assert_eq!(select_attr(&html, "#staff_tuesday", "value"), "");
    assert_eq!(select_attr(&html, "#staff_saturday", "value"), "closed");
    assert_eq!(
        select_attr(&html, "#staff_user option[selected]", "value"),
        dana_user_text
    );

    // The calendar: her own hours within the opening hours (Monday
    // 2030-06-03 opens 9:00-12:00, 13:00-17:00); Tuesday the opening hours.
    let office = hearth::calendar::Office::load(
        &server.state.store,
        "2030-06-03".parse().unwrap(),
        "2030-06-09".parse().unwrap(),
    )
    .await
    .unwrap();
    let hours = |staff: i64, day: &str| -> Vec<String> {
        office
            .working_hours(hearth::store::StaffId(staff), day.parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(hours(dana, "2030-06-03"), ["09:00–12:00"]);
    assert_eq!(hours(dana, "2030-06-04"), ["09:00–17:00"]);
    assert!(hours(dana, "2030-06-08").is_empty());
    assert_eq!(hours(ben, "2030-06-03"), ["09:00–12:00", "13:00–17:00"]);

    // A bad day names itself; the values stay.
    let (status, html) = refused(
        &owner,
        &format!("/admin/schedule/staff/{dana}"),
        &[("name", "Dana Smith"), ("thursday", "9-12, 11-13")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = select_text(&html, "#edit-staff .error");
    assert!(
        error.contains("Thursday") && error.contains("overlap"),
        "{error}"
    );
    assert_eq!(
        select_attr(&html, "#staff_thursday", "value"),
        "9-12, 11-13"
    );

    // Changes through the API: back to the opening hours, no account,
    // inactive; audited with before and after.
    let (status, body) = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/staff/{dana}"),
        json!({"hours": null, "user_id": null, "active": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hours"], Value::Null);
    assert_eq!(body["user_id"], Value::Null);
    assert_eq!(body["active"], false);
    assert_eq!(body["name"], "Dana Smith", "what was left out stays");
    let details = audit_details(&server, "schedule.staff").await;
    assert_eq!(details.len(), 3, "{details:?}");
    assert_eq!(
        details[0],
        "none → name \"Dana Smith\", account dana, hours Mon 08:00-12:00, Tue opening hours, \
         Wed opening hours, Thu opening hours, Fri opening hours, Sat closed, Sun opening hours, active yes"
    );
    assert!(details[2].contains("account dana → none"), "{}", details[2]);
    assert!(details[2].contains("→ opening hours"), "{}", details[2]);
    assert!(details[2].contains("active yes → no"), "{}", details[2]);

    // Staff members and unknown accounts.
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/staff",
        json!({"name": "Nobody", "user_id": 424242}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("account does not exist")
    );
}

#[tokio::test]
async fn duplicate_names_are_refused_readably() {
    let (server, owner, api) = office().await;
    server.user(&owner, "dana", "staff").await;
    let dana_user = server
        .state
        .store
        .user_by_username("dana")
        .await
        .unwrap()
        .unwrap()
        .user
        .id
        .0;
    let (status, _) = send(
        &api,
        Method::POST,
        "/api/v1/staff",
        json!({"name": "Dana Smith", "user_id": dana_user}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Names are compared without regard to case.
    let (status, html) = refused(
        &owner,
        "/admin/schedule/staff",
        &[("name", "dana smith"), ("monday", "8-12"), ("active", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        select_text(&html, "#add-staff .error"),
        "A staff member with that name or account already exists."
    );
    assert_eq!(select_attr(&html, "#staff_name", "value"), "dana smith");
    assert_eq!(select_attr(&html, "#staff_monday", "value"), "8-12");
    // The same account for two people.
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/staff",
        json!({"name": "Someone Else", "user_id": dana_user}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");

    accepted(
        &owner,
        "/admin/schedule/resources",
        &[("name", "Room 1"), ("kind", "room"), ("active", "on")],
    )
    .await;
    let (status, html) = refused(
        &owner,
        "/admin/schedule/resources",
        &[("name", "ROOM 1"), ("kind", "chair"), ("active", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        select_text(&html, "#add-resource .error"),
        "A resource with that name already exists."
    );
    assert_eq!(select_attr(&html, "#resource_kind", "value"), "chair");

    accepted(
        &owner,
        "/admin/schedule/services",
        &[
            ("name", "Cleaning"),
            ("duration", "45"),
            ("buffer_before", "0"),
            ("buffer_after", "10"),
            ("price", "80"),
            ("capacity", "1"),
            ("active", "on"),
        ],
    )
    .await;
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/services",
        json!({"name": "cleaning", "duration_minutes": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"]["message"],
        "A service with that name already exists"
    );
    // Renaming onto a taken name, on the edit page.
    let (_, services) = api.get_json("/api/v1/services").await;
    let cleaning = id_named(&services, "Cleaning");
    let (status, _) = send(
        &api,
        Method::POST,
        "/api/v1/services",
        json!({"name": "Check-up", "duration_minutes": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, html) = refused(
        &owner,
        &format!("/admin/schedule/services/{cleaning}"),
        &[
            ("name", "Check-up"),
            ("duration", "45"),
            ("buffer_before", "0"),
            ("buffer_after", "10"),
            ("capacity", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        select_text(&html, "#edit-service .error").contains("already exists"),
        "{}",
        html.html()
    );
    assert_eq!(select_attr(&html, "#service_name", "value"), "Check-up");
}

#[tokio::test]
async fn services_link_staff_and_resources_and_keep_their_price() {
    let (server, owner, api) = office().await;
    for name in ["Dana Smith", "Ben Ortiz"] {
        let (status, _) = send(&api, Method::POST, "/api/v1/staff", json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, chair) = send(
        &api,
        Method::POST,
        "/api/v1/resources",
        json!({"name": "Chair A", "kind": "chair"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let chair = chair["id"].as_i64().unwrap().to_string();
    let (_, staff) = api.get_json("/api/v1/staff").await;
    let dana = id_named(&staff, "Dana Smith").to_string();

    accepted(
        &owner,
        "/admin/schedule/services",
        &[
            ("name", "Whitening"),
            ("duration", "60"),
            ("buffer_before", "5"),
            ("buffer_after", "10"),
            ("price", "45,5"),
            ("capacity", "1"),
            ("active", "on"),
            ("staff", &dana),
            ("resource", &chair),
        ],
    )
    .await;
    let (_, services) = api.get_json("/api/v1/services").await;
    let service = &services[0];
    assert_eq!(service["name"], "Whitening");
    assert_eq!(service["duration_minutes"], 60);
    assert_eq!(service["buffer_before"], 5);
    assert_eq!(service["buffer_after"], 10);
    assert_eq!(service["price_cents"], 4550);
    assert_eq!(service["staff"], json!([dana.parse::<i64>().unwrap()]));
    assert_eq!(service["resources"], json!([chair.parse::<i64>().unwrap()]));
    let id = service["id"].as_i64().unwrap();

    let (_, html) = owner.page("/admin/schedule/services").await;
    let row = select_all_text(&html, "#service-list tbody td");
    assert_eq!(row[2], "45.50");
    assert_eq!(row[3], "Dana Smith");
    assert_eq!(row[4], "Chair A");
    let (_, html) = owner.page(&format!("/admin/schedule/services/{id}")).await;
    assert_eq!(select_attr(&html, "#price", "value"), "45.50");
    assert_eq!(
        select_attr(&html, "input[name=staff][checked]", "value"),
        dana
    );

    // Unticking everyone: anyone can do it, it needs nothing; no price.
    accepted(
        &owner,
        &format!("/admin/schedule/services/{id}"),
        &[
            ("name", "Whitening"),
            ("duration", "60"),
            ("buffer_before", "5"),
            ("buffer_after", "10"),
            ("price", ""),
            ("capacity", "1"),
            ("active", "on"),
        ],
    )
    .await;
    let (_, services) = api.get_json("/api/v1/services").await;
    assert_eq!(services[0]["staff"], json!([]));
    assert_eq!(services[0]["resources"], json!([]));
    assert_eq!(services[0]["price_cents"], Value::Null);

    // Through the API: a group class, changed partly.
    let (status, body) = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/services/{id}"),
        json!({"capacity": 6, "price_cents": 1200}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capacity"], 6);
    assert_eq!(body["duration_minutes"], 60);

    // Refusals name the field and keep what was typed.
    for (field, value, message) in [
        ("price", "12.345", "not an amount"),
        ("price", "free", "not an amount"),
        ("duration", "0", "1 to 1440"),
        ("duration", "an hour", "not a whole number"),
        ("buffer_after", "800", "0 to 720"),
        ("capacity", "0", "1 to 1000"),
        ("staff", "999", "no staff member #999"),
        ("name", "", "Give the service a name"),
    ] {
        let mut fields = vec![
            ("name", "Polish"),
            ("duration", "30"),
            ("buffer_before", "0"),
            ("buffer_after", "0"),
            ("price", ""),
            ("capacity", "1"),
        ];
        fields.retain(|(k, _)| *k != field);
        fields.push((field, value));
        let (status, html) = refused(&owner, "/admin/schedule/services", &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}={value}");
        let error = select_text(&html, "#add-service .error");
        assert!(error.contains(message), "{field}={value}: {error}");
        if field == "price" {
            assert_eq!(select_attr(&html, "#price", "value"), value);
        }
    }
    let long = "x".repeat(201);
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/services",
        json!({"name": long, "duration_minutes": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 200")
    );

    let details = audit_details(&server, "schedule.service").await;
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details[0].contains("price 45.50"), "{}", details[0]);
    assert!(details[0].contains("staff Dana Smith"), "{}", details[0]);
    assert!(details[1].contains("price 45.50 → none"), "{}", details[1]);
    assert!(
        details[1].contains("staff Dana Smith → anyone"),
        "{}",
        details[1]
    );
    assert!(
        details[1].contains("resources Chair A → none"),
        "{}",
        details[1]
    );
    assert_eq!(details[2], "price none → 12.00; capacity 1 → 6");
}

#[tokio::test]
async fn resources_are_added_and_changed() {
    let (server, owner, api) = office().await;
    accepted(
        &owner,
        "/admin/schedule/resources",
        &[("name", "Van 1"), ("kind", "van"), ("active", "on")],
    )
    .await;
    let (_, html) = owner.page("/admin/schedule/resources").await;
    assert_eq!(
        select_all_text(&html, "#resource-list tbody td"),
        ["Van 1", "van", "Active"]
    );
    let (_, list) = api.get_json("/api/v1/resources").await;
    let van = id_named(&list, "Van 1");
    // Unticked "active": retired.
    accepted(
        &owner,
        &format!("/admin/schedule/resources/{van}"),
        &[("name", "Van One"), ("kind", "van")],
    )
    .await;
    let (status, body) = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/resources/{van}"),
        json!({"kind": "electric van"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "Van One");
    assert_eq!(body["kind"], "electric van");
    assert_eq!(body["active"], false);
    let (status, _) = send(
        &api,
        Method::PATCH,
        "/api/v1/resources/999999",
        json!({"kind": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        audit_details(&server, "schedule.resource").await,
        [
            "none → name \"Van 1\", kind \"van\", active yes",
            "name \"Van 1\" → \"Van One\"; active yes → no",
            "kind \"van\" → \"electric van\"",
        ]
    );
}

#[tokio::test]
async fn time_off_is_turned_into_instants_through_the_zone() {
    let (server, owner, api) = office().await;
    set_zone(&owner, "Europe/Berlin").await;
    let (_, dana) = send(&api, Method::POST, "/api/v1/staff", json!({"name": "Dana"})).await;
    let dana = dana["id"].as_i64().unwrap();
    let page = format!("/admin/schedule/staff/{dana}");

    // The clocks go forward at 2:00 on 31 March 2030: from midnight (CET,
    // +01:00) to noon (CEST, +02:00) is eleven hours.
    accepted(
        &owner,
        &format!("{page}/time-off"),
        &[
            ("from", "2030-03-31T00:00"),
            ("until", "2030-03-31T12:00"),
            ("reason", "marathon"),
        ],
    )
    .await;
    let stored = server
        .state
        .store
        .time_off(i64::MIN, i64::MAX)
        .await
        .unwrap();
    let at = |text: &str| text.parse::<jiff::Timestamp>().unwrap().as_second();
    assert_eq!(stored[0].starts_at, at("2030-03-30T23:00:00Z"));
    assert_eq!(stored[0].ends_at, at("2030-03-31T10:00:00Z"));

    // A time the clocks skip does not exist: refused, the values kept.
    let (status, html) = refused(
        &owner,
        &format!("{page}/time-off"),
        &[("from", "2030-03-31T02:30"), ("until", "2030-03-31T05:00")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = select_text(&html, "#time-off .error");
    assert!(error.contains("does not exist in Europe/Berlin"), "{error}");
    assert_eq!(select_attr(&html, "#from", "value"), "2030-03-31T02:30");

    // 2:30 happens twice when the clocks go back (27 October 2030): time
    // off from the first to the second is the hour between them.
    accepted(
        &owner,
        &format!("{page}/time-off"),
        &[("from", "2030-10-27T02:30"), ("until", "2030-10-27T02:30")],
    )
    .await;
    // Exact instants through the API, answered in the business's zone.
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/time-off",
        json!({"staff_id": dana, "starts_at": "2030-07-01T07:00:00Z",
               "ends_at": "2030-07-01T17:00", "reason": "dentist"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["starts_at"], "2030-07-01T09:00:00+02:00");
    assert_eq!(body["ends_at"], "2030-07-01T17:00:00+02:00");
    assert_eq!(body["staff"], "Dana");

    let (_, list) = api
        .get_json(&format!("/api/v1/time-off?staff={dana}"))
        .await;
    let spans: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["starts_at"].as_str().unwrap().to_string(),
                t["ends_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            (
                "2030-03-31T00:00:00+01:00".to_string(),
                "2030-03-31T12:00:00+02:00".to_string()
            ),
            (
                "2030-07-01T09:00:00+02:00".to_string(),
                "2030-07-01T17:00:00+02:00".to_string()
            ),
            (
                "2030-10-27T02:30:00+02:00".to_string(),
                "2030-10-27T02:30:00+01:00".to_string()
            ),
        ]
    );

    // The staff page lists what lies ahead, in local time.
    let (_, html) = owner.page(&page).await;
    let rows = select_all_text(&html, "#time-off-list tbody tr");
    assert_eq!(rows.len(), 3);
    assert!(rows[0].contains("Sun 31 Mar 00:00"), "{rows:?}");
    assert!(rows[0].contains("Sun 31 Mar 12:00"), "{rows:?}");
    assert!(rows[0].contains("marathon"), "{rows:?}");

    // Bad spans.
    for (from, until, message) in [
        (
            "2030-05-02T10:00",
            "2030-05-02T09:00",
            "end after it starts",
        ),
        ("tomorrow", "2030-05-02T09:00", "not a date and time"),
    ] {
        let (status, html) = refused(
            &owner,
            &format!("{page}/time-off"),
            &[("from", from), ("until", until)],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            select_text(&html, "#time-off .error").contains(message),
            "{message}"
        );
    }
    let (status, _) = send(
        &api,
        Method::POST,
        "/api/v1/time-off",
        json!({"staff_id": 999999, "starts_at": "2030-07-01T07:00", "ends_at": "2030-07-01T08:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deleting: the page and the API; audited with what it was.
    let first = list[0]["id"].as_i64().unwrap();
    let to = accepted(
        &owner,
        &format!("/admin/schedule/time-off/{first}/delete"),
        &[],
    )
    .await;
    assert_eq!(to, page);
    let second = list[1]["id"].as_i64().unwrap();
    let (status, _) = send(
        &api,
        Method::DELETE,
        &format!("/api/v1/time-off/{second}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = api.get_json("/api/v1/time-off").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let details = audit_details(&server, "schedule.time_off").await;
    assert_eq!(
        details[0],
        "none → Dana: Sun 31 Mar 00:00 → Sun 31 Mar 12:00 (marathon)"
    );
    assert_eq!(
        details[3],
        "Dana: Sun 31 Mar 00:00 → Sun 31 Mar 12:00 (marathon) → none"
    );
    assert_eq!(details.len(), 5, "{details:?}");
}

#[tokio::test]
async fn staff_read_the_setup_but_do_not_change_it() {
    let (server, owner, api) = office().await;
    let (status, _) = send(&api, Method::POST, "/api/v1/staff", json!({"name": "Dana"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let staff = server.user(&owner, "sam", "staff").await;
    let staff_api = ApiClient::new(&server.base, &staff.api_key("sam's").await);
    for path in [
        "/api/v1/staff",
        "/api/v1/services",
        "/api/v1/resources",
        "/api/v1/closures",
        "/api/v1/time-off",
    ] {
        let (status, body) = staff_api.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.is_array(), "{path}");
    }
    let (status, body) = send(
        &staff_api,
        Method::POST,
        "/api/v1/resources",
        json!({"name": "Room 9"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = staff.page("/admin/schedule/staff").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Admins have a Schedule tab.
    let (_, html) = owner.page("/admin/users").await;
    assert!(select_all_text(&html, ".sub-nav a").contains(&"Schedule".to_string()));
}

// -- customers --

async fn add_customer(api: &ApiClient, name: &str, phone: &str, email: &str) -> i64 {
    let (status, body) = send(
        api,
        Method::POST,
        "/api/v1/customers",
        json!({"name": name, "phone": phone, "email": email}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn found(api: &ApiClient, q: &str) -> Vec<String> {
    let (status, body) = api
        .get_json(&format!(
            "/api/v1/customers?q={}",
            hearth::web::middleware::percent_encode(q)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn customers_are_found_while_typing() {
    let (server, owner, _) = office().await;
    // Front desk staff do this, not only admins.
    let desk = server.user(&owner, "sam", "staff").await;
    let api = ApiClient::new(&server.base, &desk.api_key("desk").await);
    add_customer(&api, "Sam Dane", "0171 555 0100", "sam@dane.example").await;
    add_customer(&api, "Dana Smith", "+49 (30) 123-4567", "dana@example.org").await;
    add_customer(&api, "Danny Ortiz", "", "").await;
    add_customer(&api, "Lee Park", "030/9988", "lee.park@mail.example").await;

    // A part of the name: names that start with it first.
    assert_eq!(
        found(&api, "dan").await,
        ["Dana Smith", "Danny Ortiz", "Sam Dane"]
    );
    assert_eq!(found(&api, "smi").await, ["Dana Smith"]);
    // Phone digits, however the number was written or is typed.
    assert_eq!(found(&api, "1234567").await, ["Dana Smith"]);
    assert_eq!(found(&api, "30 123-45").await, ["Dana Smith"]);
    assert_eq!(found(&api, "555 01").await, ["Sam Dane"]);
    // E-mail.
    assert_eq!(found(&api, "example.org").await, ["Dana Smith"]);
    assert_eq!(found(&api, "lee.park@").await, ["Lee Park"]);
    // Nothing typed: everyone, by name; LIKE's wildcards are plain text.
    assert_eq!(found(&api, "").await.len(), 4);
    assert!(found(&api, "%").await.is_empty());
    assert!(found(&api, "_").await.is_empty());
    let (_, limited) = api.get_json("/api/v1/customers?limit=2").await;
    assert_eq!(limited.as_array().unwrap().len(), 2);

    // The page without JavaScript: a plain GET form, the same matches.
    let (status, html) = desk.page("/schedule/customers?q=dan").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_all_text(&html, "#customer-rows td:first-child"),
        ["Dana Smith", "Danny Ortiz", "Sam Dane"]
    );
    assert_eq!(select_attr(&html, "#q", "value"), "dan");
    assert_eq!(select_text(&html, "#customer-count"), "3 customers.");
    let (_, html) = desk.page("/schedule/customers?q=zzz").await;
    assert_eq!(
        select_text(&html, "#customer-count"),
        "No customer matches “zzz”."
    );
    // The script that finds while typing is there, served from our origin.
    let script = select_attr(&html, "script[src*=customers]", "src");
    assert!(script.starts_with("/static/"), "{script}");
    let response = desk.get(&script).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("/api/v1/customers?")
    );
}

#[tokio::test]
async fn customers_are_added_and_edited_through_the_pages() {
    let (server, owner, _) = office().await;
    let desk = server.user(&owner, "sam", "staff").await;

    // Refusals keep what was typed.
    for (fields, message) in [
        (
            [("name", "  "), ("phone", "0171 5550100"), ("email", "")],
            "Give the customer a name",
        ),
        (
            [
                ("name", "Dana Smith"),
                ("phone", ""),
                ("email", "dana at example"),
            ],
            "not an e-mail address",
        ),
    ] {
        let mut fields = fields.to_vec();
        fields.push(("notes", "prefers mornings"));
        let (status, html) = refused(&desk, "/schedule/customers", &fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        assert!(
            select_text(&html, "#add-customer .error").contains(message),
            "{message}"
        );
        assert_eq!(select_text(&html, "#customer_notes"), "prefers mornings");
        assert_eq!(select_attr(&html, "#customer_phone", "value"), fields[1].1);
    }

    let to = accepted(
        &desk,
        "/schedule/customers",
        &[
            ("name", "Dana <b>Smith</b>"),
            ("phone", "0171 5550100"),
            ("email", "dana@example.org"),
            ("notes", "allergic to latex\r\nprefers mornings"),
        ],
    )
    .await;
    assert!(to.starts_with("/schedule/customers/"), "{to}");
    let (status, html) = desk.page(&to).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, "h1"),
        "Dana <b>Smith</b>",
        "escaped, shown as typed"
    );
    assert_eq!(
        select_text(&html, "#customer_notes"),
        "allergic to latex\nprefers mornings"
    );
    assert_eq!(select_text(&html, "#history p"), "No appointments yet.");

    accepted(
        &desk,
        &to,
        &[
            ("name", "Dana Smith"),
            ("phone", "0171 5550199"),
            ("email", "dana@example.org"),
            ("notes", "allergic to latex"),
        ],
    )
    .await;
    let (status, html) = refused(&desk, &to, &[("name", "Dana Smith"), ("email", "dana@")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(select_text(&html, "#edit-customer .error").contains("not an e-mail"));
    assert_eq!(select_attr(&html, "#customer_email", "value"), "dana@");

    let details = audit_details(&server, "schedule.customer").await;
    assert_eq!(
        details,
        [
            "none → name \"Dana <b>Smith</b>\", phone \"0171 5550100\", e-mail \"dana@example.org\", with notes",
            "name \"Dana <b>Smith</b>\" → \"Dana Smith\"; phone \"0171 5550100\" → \"0171 5550199\"; \
             notes changed (34 → 17 characters)",
        ]
    );
    assert!(
        !details.iter().any(|d| d.contains("latex")),
        "notes stay out of the audit log"
    );
}

#[tokio::test]
async fn a_customers_history_lists_their_appointments() {
    let (server, owner, api) = office().await;
    set_zone(&owner, "Europe/Berlin").await;
    let (_, dana) = send(
        &api,
        Method::POST,
        "/api/v1/staff",
        json!({"name": "Dana Smith"}),
    )
    .await;
    let (_, cleaning) = send(
        &api,
        Method::POST,
        "/api/v1/services",
        json!({"name": "Cleaning", "duration_minutes": 45}),
    )
    .await;
    let customer = add_customer(&api, "Lee Park", "", "").await;
    let user = server
        .state
        .store
        .user_by_username("olivia")
        .await
        .unwrap()
        .unwrap()
        .user;
    let mut booked = Vec::new();
    for start in ["2030-06-03T09:00", "2030-06-10T14:30"] {
        let outcome = hearth::schedule::book::book(
            &server.state,
            &user,
            "127.0.0.1",
            hearth::schedule::Booking {
                services: vec![hearth::store::ServiceId(cleaning["id"].as_i64().unwrap())],
                staff: Some(hearth::store::StaffId(dana["id"].as_i64().unwrap())),
                resource: None,
                customer: Some(hearth::store::CustomerId(customer)),
                start: hearth::schedule::book::Start::Local {
                    local: start.parse().unwrap(),
                    later: false,
                },
                notes: String::new(),
                override_reason: None,
                repeat: None,
            },
        )
        .await
        .unwrap();
        match outcome {
            hearth::schedule::Outcome::Done(appointments) => booked.push(appointments[0].id),
            hearth::schedule::Outcome::Refused(conflicts) => panic!("{conflicts:?}"),
        }
    }
    hearth::schedule::book::set_status(
        &server.state,
        &user,
        "127.0.0.1",
        booked[0],
        hearth::store::AppointmentStatus::Done,
    )
    .await
    .unwrap();

    let (status, html) = owner.page(&format!("/schedule/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    let cells = select_all_text(&html, "#appointment-list tbody td");
    let rows: Vec<&[String]> = cells.chunks(4).collect();
    assert_eq!(
        rows,
        [
            ["Mon 10 Jun 14:30", "Cleaning", "Dana Smith", "Booked"],
            ["Mon 3 Jun 09:00", "Cleaning", "Dana Smith", "Done"],
        ]
    );

    let (status, detail) = api.get_json(&format!("/api/v1/customers/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["customer"]["name"], "Lee Park");
    let history = detail["appointments"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["starts_at"], "2030-06-10T14:30:00+02:00");
    assert_eq!(history[0]["ends_at"], "2030-06-10T15:15:00+02:00");
    assert_eq!(history[0]["status"], "booked");
    assert_eq!(history[1]["status"], "done");
    assert_eq!(history[1]["staff"], "Dana Smith");

    // A change through the API answers the customer with the history.
    let (status, changed) = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/customers/{customer}"),
        json!({"phone": "030 1234"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["customer"]["phone"], "030 1234");
    assert_eq!(changed["customer"]["name"], "Lee Park");
    assert_eq!(changed["appointments"].as_array().unwrap().len(), 2);
    let (status, _) = api.get_json("/api/v1/customers/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = owner.page("/schedule/customers/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
