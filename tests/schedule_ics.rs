//! Calendar files and subscriptions (issue 11): the export read back by
//! Hearth's own importer (times, UIDs, SEQUENCE after a move, cancellation,
//! LAST-MODIFIED), subscription addresses that work without a session, answer
//! 304 while nothing changed, stop at revocation and are revoked only by
//! their maker or an admin, and importing Outlook's and Google's files with
//! a preview that says what becomes of each event, idempotently.

use std::collections::HashMap;
use std::time::Duration;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use reqwest::{Method, StatusCode};
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::common::*;
use hearth::calendar::WeekHours;
use hearth::calendar::ics::{ImportLimits, ImportedEvent, import};
use hearth::calendar::office::{HOURS_SETTING, STEP_SETTING, TIME_ZONE_SETTING};
use hearth::store::{
    AppointmentFilter, AppointmentStatus, AuditFilter, ResourceChange, ResourceId, ServiceChange,
    ServiceId, StaffChange, StaffId, Store,
};

const ZONE: &str = "Europe/Berlin";

/// Dr Weber's practice in Berlin, open weekdays 8–18: Dr Weber and Kim do
/// 30-minute check-ups; Room 2 is a resource.
struct Practice {
    weber: StaffId,
    kim: StaffId,
    room: ResourceId,
    checkup: ServiceId,
}

async fn set_up_practice(store: &Store) -> Practice {
    store
        .set_setting(TIME_ZONE_SETTING, ZONE.into(), None)
        .await
        .unwrap();
    let weekday = "8:00-18:00".to_string();
    let hours = WeekHours::from_texts(&[
        weekday.clone(),
        weekday.clone(),
        weekday.clone(),
        weekday.clone(),
        weekday,
        String::new(),
        String::new(),
    ])
    .unwrap();
    store
        .set_setting(HOURS_SETTING, hours.to_json(), None)
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
    let weber = store.create_staff(staff("Dr Weber")).await.unwrap().id;
    let kim = store.create_staff(staff("Kim")).await.unwrap().id;
    let room = store
        .create_resource(ResourceChange {
            name: "Room 2".into(),
            kind: "room".into(),
            active: true,
        })
        .await
        .unwrap()
        .id;
    let checkup = store
        .create_service(ServiceChange {
            name: "Check-up".into(),
            duration_minutes: 30,
            capacity: 1,
            active: true,
            staff: vec![weber, kim],
            ..ServiceChange::default()
        })
        .await
        .unwrap()
        .id;
    Practice {
        weber,
        kim,
        room,
        checkup,
    }
}

fn berlin() -> TimeZone {
    TimeZone::get(ZONE).unwrap()
}

/// A Tuesday two to three weeks from now (the export holds 90 days back
/// and 400 ahead, whenever the tests run).
fn coming_tuesday() -> Date {
    let mut day = Timestamp::now()
        .to_zoned(berlin())
        .date()
        .saturating_add(14.days());
    while day.weekday() != Weekday::Tuesday {
        day = day.tomorrow().unwrap();
    }
    day
}

fn instant(day: Date, hour: i8, minute: i8) -> Timestamp {
    day.at(hour, minute, 0, 0)
        .to_zoned(berlin())
        .unwrap()
        .timestamp()
}

async fn send(api: &ApiClient, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let response = api.request(method, path).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn book(api: &ApiClient, service: ServiceId, staff: StaffId, start: &str) -> Value {
    let (status, body) = send(
        api,
        Method::POST,
        "/api/v1/appointments",
        json!({"services": [service.0], "staff": staff.0, "start": start}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// The properties of each VEVENT of a calendar file, by UID (lines
/// unfolded, parameters dropped).
fn vevents(text: &str) -> HashMap<String, HashMap<String, String>> {
    let unfolded = text.replace("\r\n ", "").replace("\r\n", "\n");
    let mut events = HashMap::new();
    let mut current: Option<HashMap<String, String>> = None;
    for line in unfolded.lines() {
        match line {
            "BEGIN:VEVENT" => current = Some(HashMap::new()),
            "END:VEVENT" => {
                let event = current.take().unwrap();
                events.insert(event["UID"].clone(), event);
            }
            _ => {
                if let (Some(event), Some((name, value))) = (current.as_mut(), line.split_once(':'))
                {
                    let name = name.split(';').next().unwrap().to_string();
                    event.insert(name, value.to_string());
                }
            }
        }
    }
    events
}

fn read_back(text: &str) -> HashMap<String, ImportedEvent> {
    import(text, &berlin(), &ImportLimits::default())
        .unwrap()
        .into_iter()
        .map(|e| (e.uid.clone(), e))
        .collect()
}

async fn export(client: &Client, show: &str) -> String {
    let response = client
        .get(&format!("/schedule/calendar.ics?show={show}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"sunny-dental")
            && disposition.ends_with(".ics\""),
        "{disposition}"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_export_reads_back_with_moves_and_cancellations() {
    let (server, owner) = TestServer::with_owner().await;
    let p = set_up_practice(&server.state.store).await;
    let api = ApiClient::new(&server.base, &owner.api_key("ics").await);
    let day = coming_tuesday();
    let first = book(&api, p.checkup, p.weber, &format!("{day}T10:00")).await;
    let second = book(&api, p.checkup, p.kim, &format!("{day}T11:00")).await;
    let (uid1, uid2) = (
        first["uid"].as_str().unwrap().to_string(),
        second["uid"].as_str().unwrap().to_string(),
    );

    let text = export(&owner, "office").await;
    assert!(text.contains("X-WR-TIMEZONE:Europe/Berlin"), "{text}");
    let events = read_back(&text);
    assert_eq!(events.len(), 2, "{text}");
    let one = &events[&uid1];
    assert_eq!(one.starts_at, instant(day, 10, 0));
    assert_eq!(one.ends_at, instant(day, 10, 30));
    assert_eq!(one.summary, "Check-up");
    assert!(one.description.contains("With Dr Weber"), "{one:?}");
    assert!(!one.cancelled);
    assert_eq!(events[&uid2].starts_at, instant(day, 11, 0));
    let before = vevents(&text);
    assert_eq!(before[&uid1]["SEQUENCE"], "0");
    assert_eq!(before[&uid1]["STATUS"], "CONFIRMED");

    // One person's calendar, by API key as well.
    let response = api
        .request(
            Method::GET,
            &format!("/schedule/calendar.ics?show=staff:{}", p.kim),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let kims = read_back(&response.text().await.unwrap());
    assert_eq!(kims.keys().collect::<Vec<_>>(), [&uid2]);
    let response = owner.get("/schedule/calendar.ics?show=staff:999").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = owner.get("/schedule/calendar.ics?show=everyone").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A move: same UID, new time, SEQUENCE and LAST-MODIFIED move on.
    server.state.store.clock().advance(Duration::from_secs(120));
    let (status, moved) = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/appointments/{}", first["id"]),
        json!({"start": format!("{day}T14:00")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let text = export(&owner, "office").await;
    let after_move = vevents(&text);
    assert_eq!(read_back(&text)[&uid1].starts_at, instant(day, 14, 0));
    assert_eq!(after_move[&uid1]["SEQUENCE"], "1");
    assert_ne!(
        after_move[&uid1]["LAST-MODIFIED"],
        before[&uid1]["LAST-MODIFIED"]
    );
    assert_eq!(
        after_move[&uid2], before[&uid2],
        "the other one is as it was"
    );

    // A cancellation stays in the file, cancelled, for subscribers.
    server.state.store.clock().advance(Duration::from_secs(120));
    let (status, body) = send(
        &api,
        Method::POST,
        &format!("/api/v1/appointments/{}/status", first["id"]),
        json!({"status": "cancelled"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = export(&owner, "office").await;
    let cancelled = vevents(&text);
    assert_eq!(cancelled[&uid1]["STATUS"], "CANCELLED");
    assert_eq!(cancelled[&uid1]["SEQUENCE"], "2");
    assert_ne!(
        cancelled[&uid1]["LAST-MODIFIED"],
        after_move[&uid1]["LAST-MODIFIED"]
    );
    assert!(read_back(&text)[&uid1].cancelled);
}

/// Makes a subscription on the Calendar apps page; returns its address.
async fn subscribe(client: &Client, show: &str) -> String {
    let response = client.post_form("/schedule/feeds", &[("show", show)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    let url = select_text(&html, "#feed-url");
    assert!(
        select_attr(&html, "#feed-webcal", "href").starts_with("webcal://127.0.0.1:"),
        "{}",
        html.html()
    );
    url
}

#[tokio::test]
async fn a_subscription_works_without_a_session_until_it_is_revoked() {
    let (server, owner) = TestServer::with_owner().await;
    let p = set_up_practice(&server.state.store).await;
    let sam = server.user(&owner, "sam", "staff").await;
    let tina = server.user(&owner, "tina", "staff").await;
    let api = ApiClient::new(&server.base, &owner.api_key("ics").await);
    let day = coming_tuesday();
    let booked = book(&api, p.checkup, p.weber, &format!("{day}T09:00")).await;

    let url = subscribe(&sam, &format!("staff:{}", p.weber)).await;
    let path = url
        .strip_prefix(&server.base)
        .unwrap_or_else(|| panic!("{url} is on {}", server.base));
    let token = path
        .strip_prefix("/ics/")
        .and_then(|t| t.strip_suffix(".ics"))
        .unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    // The address is shown once; the list says whose calendar and who made it.
    let (_, html) = sam.page("/schedule/feeds").await;
    assert_eq!(select_text(&html, "#feed-url"), "");
    let row = select_all_text(&html, "#feeds tbody tr").join(" ");
    assert!(
        row.contains("Dr Weber") && row.contains("sam Tester"),
        "{row}"
    );
    assert!(!html.html().contains(token));

    // A calendar app: no cookie, no key.
    let app = server.client();
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "private, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let events = read_back(&response.text().await.unwrap());
    assert_eq!(
        events.keys().collect::<Vec<_>>(),
        [booked["uid"].as_str().unwrap()]
    );

    // Nothing changed: 304, nothing sent.
    let response = app
        .http
        .get(app.url(path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    assert!(response.text().await.unwrap().is_empty());

    // A change: a new tag and the new file.
    book(&api, p.checkup, p.weber, &format!("{day}T10:00")).await;
    let response = app
        .http
        .get(app.url(path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(read_back(&response.text().await.unwrap()).len(), 2);

    // A wrong token and a near miss are simply not found.
    for wrong in [
        "/ics/nothing.ics".to_string(),
        format!("/ics/{}.ics", "0".repeat(64)),
        format!("/ics/{}", &token[..63]),
    ] {
        assert_eq!(app.get(&wrong).await.status(), StatusCode::NOT_FOUND);
    }

    // Another staff member may not revoke it; its maker may.
    let feed = server.state.store.feeds().await.unwrap()[0].clone();
    let revoke = format!("/schedule/feeds/{}/revoke", feed.id);
    let response = tina.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get(path).await.status(), StatusCode::OK);
    let (_, html) = tina.page("/schedule/feeds").await;
    assert_eq!(
        select_all_text(&html, "#feeds form button"),
        Vec::<String>::new()
    );
    let response = sam.post_form(&revoke, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/schedule/feeds");
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = response.text().await.unwrap();
    assert!(!body.contains("revoked"), "no detail: {body}");
    assert_eq!(
        sam.post_form(&revoke, &[]).await.status(),
        StatusCode::NOT_FOUND
    );

    // An admin may revoke anyone's.
    let url = subscribe(&tina, "office").await;
    let feed = server.state.store.feeds().await.unwrap()[0].clone();
    let response = owner
        .post_form(&format!("/schedule/feeds/{}/revoke", feed.id), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let path = url.strip_prefix(&server.base).unwrap();
    assert_eq!(app.get(path).await.status(), StatusCode::NOT_FOUND);

    let audit = server
        .state
        .store
        .audit(AuditFilter {
            action: Some("schedule.feed".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit
        .records
        .iter()
        .rev()
        .map(|r| (r.action.as_str(), r.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("schedule.feed.created", "sam"),
            ("schedule.feed.revoked", "sam"),
            ("schedule.feed.created", "tina"),
            ("schedule.feed.revoked", "olivia"),
        ]
    );
    assert!(
        !format!("{audit:?}").contains(token),
        "the token is not logged"
    );
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/ics/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Uploads a calendar file to the import form; returns the page.
async fn upload(client: &Client, name: &str, bytes: Vec<u8>, staff: StaffId) -> (StatusCode, Html) {
    let csrf = client.csrf().await;
    let form = reqwest::multipart::Form::new()
        .text("staff", staff.0.to_string())
        .text("resource", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    let response = client
        .http
        .post(client.url(&format!("/schedule/import?csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        Html::parse_document(&response.text().await.unwrap()),
    )
}

/// Each event's summary and what the preview says becomes of it.
fn verdicts(html: &Html) -> Vec<(String, String)> {
    let rows = Selector::parse("#import-events tbody tr").unwrap();
    let summary = Selector::parse(".summary").unwrap();
    let verdict = Selector::parse(".verdict").unwrap();
    html.select(&rows)
        .map(|row| {
            let text = |s: &Selector| {
                row.select(s)
                    .next()
                    .unwrap()
                    .text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            (text(&summary), text(&verdict))
        })
        .collect()
}

/// Confirms the preview's import, as its button does; returns the flash.
async fn confirm(client: &Client, preview: &Html) -> String {
    let csrf = client.csrf().await;
    let field = |name: &str| select_attr(preview, &format!("input[name={name}]"), "value");
    let calendar = Selector::parse("textarea[name=calendar]").unwrap();
    let calendar: String = preview
        .select(&calendar)
        .next()
        .map(|t| t.text().collect())
        .unwrap_or_default();
    // As a browser sends a textarea back.
    let calendar = calendar.replace("\r\n", "\n").replace('\n', "\r\n");
    let form = reqwest::multipart::Form::new()
        .text("staff", field("staff"))
        .text("resource", field("resource"))
        .text("calendar", calendar);
    let response = client
        .http
        .post(client.url(&format!("/schedule/import/confirm?csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let to = location(&response);
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "{}",
        response.text().await.unwrap()
    );
    let (_, page) = client.page(&to).await;
    select_text(&page, ".flash")
}

async fn booked_for(server: &TestServer, staff: StaffId) -> Vec<hearth::store::Appointment> {
    server
        .state
        .store
        .appointments_between(
            0,
            i64::from(i32::MAX),
            AppointmentFilter {
                staff: Some(staff),
                ..AppointmentFilter::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == AppointmentStatus::Booked)
        .collect()
}

#[tokio::test]
async fn outlook_and_google_files_import_after_a_preview_and_only_once() {
    let (server, owner) = TestServer::with_owner().await;
    let p = set_up_practice(&server.state.store).await;
    let api = ApiClient::new(&server.base, &owner.api_key("ics").await);
    // Dr Weber already has a check-up during the team meeting of 17 March
    // and is off on 24 March.
    book(&api, p.checkup, p.weber, "2026-03-17T09:15").await;
    server
        .state
        .store
        .add_time_off(
            p.weber,
            instant(Date::constant(2026, 3, 24), 0, 0).as_second(),
            instant(Date::constant(2026, 3, 25), 0, 0).as_second(),
            "Fortbildung".into(),
        )
        .await
        .unwrap();

    let (status, _) = owner.page("/schedule/import").await;
    assert_eq!(status, StatusCode::OK);
    let (status, preview) = upload(&owner, "outlook.ics", fixture("outlook.ics"), p.weber).await;
    assert_eq!(status, StatusCode::OK, "{}", preview.html());
    let rows = verdicts(&preview);
    let verdict = |summary: &str| -> String {
        rows.iter()
            .find(|(s, _)| s == summary)
            .unwrap_or_else(|| panic!("{summary} in {rows:?}"))
            .1
            .clone()
    };
    assert_eq!(rows.len(), 7, "{rows:?}");
    assert_eq!(verdict("Kontrolle – Herr Müller"), "will be created");
    // Tuesdays 3 March to 30 June, less two dates taken out and the one
    // moved (its own event below), less the two Dr Weber cannot make.
    let meeting = verdict("Teambesprechung");
    assert!(
        meeting.starts_with("recurring: 15 occurrences, 13 will be created"),
        "{meeting}"
    );
    // (The year shows when the tests run after 2026.)
    for (day, why) in [
        (
            "Tue 17 Mar",
            "09:00–09:30: conflicts: Dr Weber is already booked then: 09:15–09:45",
        ),
        (
            "Tue 24 Mar",
            "09:00–09:30: conflicts: Dr Weber is off then (Fortbildung).",
        ),
    ] {
        assert!(meeting.contains(day) && meeting.contains(why), "{meeting}");
    }
    assert_eq!(verdict("Teambesprechung (verschoben)"), "will be created");
    assert_eq!(verdict("Praxis geschlossen"), "skipped: all-day event");
    assert_eq!(
        verdict("Abstimmung mit dem Labor in Boston"),
        "will be created"
    );
    assert_eq!(
        verdict("Schulung Praxissoftware (Seattle)"),
        "will be created"
    );
    assert_eq!(verdict("Serverwartung"), "skipped: it takes no time");
    let when = select_all_text(&preview, "#import-events .when");
    assert!(
        when.iter()
            .any(|w| w.starts_with("Mon 9 Mar") && w.ends_with("15:30–16:00")),
        "Boston's 10:30 in Berlin: {when:?}"
    );
    assert!(
        select_text(&preview, "#import-summary")
            .starts_with("For Dr Weber: 17 appointments will be created; 4 skipped."),
        "{}",
        select_text(&preview, "#import-summary")
    );
    assert_eq!(
        select_text(&preview, "#import-confirm"),
        "Create 17 appointments"
    );
    assert!(booked_for(&server, p.weber).await.len() == 1, "nothing yet");

    // Booked over since the preview: the confirmation checks again.
    book(&api, p.checkup, p.weber, "2026-03-31T09:00").await;
    let flash = confirm(&owner, &preview).await;
    assert_eq!(flash, "Imported 16 appointments; 5 skipped.");
    let booked = booked_for(&server, p.weber).await;
    assert_eq!(booked.len(), 18);
    let moved = booked
        .iter()
        .find(|a| a.title == "Teambesprechung (verschoben)")
        .unwrap();
    assert_eq!(
        moved.starts_at,
        instant(Date::constant(2026, 4, 21), 11, 0).as_second()
    );
    assert!(moved.uid.ends_with("/20260421T070000Z"), "{}", moved.uid);
    let control = booked
        .iter()
        .find(|a| a.title == "Kontrolle – Herr Müller")
        .unwrap();
    assert!(control.uid.starts_with("040000008200E00074C5B7101A82E008"));
    assert!(
        control
            .notes
            .starts_with("Kontrolle nach der Wurzelbehandlung, bitte"),
        "{}",
        control.notes
    );
    let audit = server
        .state
        .store
        .audit(AuditFilter {
            action: Some("schedule.imported".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.records.len(), 1);
    assert!(
        audit.records[0]
            .detail
            .starts_with("16 appointments imported for Dr Weber"),
        "{}",
        audit.records[0].detail
    );

    // The same file again: everything is already there.
    let (status, again) = upload(&owner, "outlook.ics", fixture("outlook.ics"), p.weber).await;
    assert_eq!(status, StatusCode::OK);
    let rows = verdicts(&again);
    assert_eq!(
        rows.iter().filter(|(_, v)| v == "already imported").count(),
        4,
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|(_, v)| v.starts_with("recurring: 15 occurrences, 0 will be created")),
        "{rows:?}"
    );
    assert_eq!(select_text(&again, "#import-confirm"), "");
    assert!(!select_text(&again, "#nothing-to-import").is_empty());
    // Confirming anyway (a second tab) creates nothing.
    let flash = confirm(&owner, &preview).await;
    assert_eq!(flash, "Imported 0 appointments; 21 skipped.");
    assert_eq!(booked_for(&server, p.weber).await.len(), 18);

    // Google's file: floating UTC, a weekly rule with a count and dates
    // taken out, a cancelled event, all-day events.
    let (status, google) = upload(&owner, "google.ics", fixture("google.ics"), p.weber).await;
    assert_eq!(status, StatusCode::OK, "{}", google.html());
    let rows = verdicts(&google);
    assert_eq!(
        rows,
        [
            ("Teamsitzung".to_string(), "will be created".to_string()),
            (
                "Frühbesprechung".to_string(),
                "recurring: 8 occurrences, 8 will be created".to_string()
            ),
            (
                "Tag der Arbeit".to_string(),
                "skipped: all-day event".to_string()
            ),
            (
                "Lieferantengespräch".to_string(),
                "skipped: cancelled in the file".to_string()
            ),
            (
                "Sommerurlaub Dr. Weber".to_string(),
                "skipped: all-day event".to_string()
            ),
        ]
    );
    assert_eq!(
        select_text(&google, "#import-confirm"),
        "Create 9 appointments"
    );
    assert_eq!(
        confirm(&owner, &google).await,
        "Imported 9 appointments; 3 skipped."
    );
    assert_eq!(booked_for(&server, p.weber).await.len(), 27);
    let (_, again) = upload(&owner, "google.ics", fixture("google.ics"), p.weber).await;
    assert!(
        select_text(&again, "#import-summary").contains("0 appointments will be created"),
        "{}",
        select_text(&again, "#import-summary")
    );
}

#[tokio::test]
async fn imports_check_the_resource_and_refuse_readably() {
    let (server, owner) = TestServer::with_owner().await;
    let p = set_up_practice(&server.state.store).await;

    // Over the size limit: refused before it is read, the form kept.
    let (status, html) = upload(&owner, "big.ics", vec![b'A'; 2_000_001], p.weber).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let error = select_text(&html, "#import-error");
    assert!(
        error.contains("larger than 2.0 MB") && error.contains("shorter date range"),
        "{error}"
    );
    assert_eq!(
        select_attr(&html, "#import-staff option[selected]", "value"),
        p.weber.0.to_string()
    );

    // Not a calendar, and a calendar event that cannot be read.
    let (status, html) = upload(&owner, "notes.ics", b"hello".to_vec(), p.weber).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        select_text(&html, "#import-error").contains("not a calendar file"),
        "{}",
        html.html()
    );
    let broken = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Lunch\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (status, html) = upload(&owner, "broken.ics", broken.to_vec(), p.weber).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        select_text(&html, "#import-error").contains("Event “Lunch”"),
        "{}",
        html.html()
    );
    let (status, html) = upload(&owner, "outlook.ics", fixture("outlook.ics"), StaffId(999)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(select_text(&html, "#import-error").contains("Choose the staff member"));

    // With a resource: an event where the room is taken conflicts.
    let api = ApiClient::new(&server.base, &owner.api_key("ics").await);
    let (status, body) = send(
        &api,
        Method::POST,
        "/api/v1/appointments",
        json!({"services": [p.checkup.0], "staff": p.kim.0, "resource": p.room.0,
               "start": "2026-03-12T14:30"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let csrf = owner.csrf().await;
    let form = reqwest::multipart::Form::new()
        .text("staff", p.weber.0.to_string())
        .text("resource", p.room.0.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("google.ics")).file_name("google.ics"),
        );
    let response = owner
        .http
        .post(owner.url(&format!("/schedule/import?csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let preview = Html::parse_document(&response.text().await.unwrap());
    let rows = verdicts(&preview);
    assert_eq!(rows[0].0, "Teamsitzung");
    assert!(
        rows[0]
            .1
            .starts_with("conflicts: Room 2 is taken then: 14:30–15:00"),
        "{rows:?}"
    );
    assert!(select_text(&preview, "#import-summary").starts_with("For Dr Weber with Room 2: 8"));
}
