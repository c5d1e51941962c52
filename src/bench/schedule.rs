//! `hearth bench --schedule`: availability through Hearth's HTTP API for an
//! office of 20 staff and 6 rooms over 8 weeks at a realistic booking
//! density, against the engine alone (the same snapshot and search,
//! in-process, no HTTP) measured in the same run.
//!
//! The office: weekdays 8–18, 20 staff (a quarter with shorter own hours),
//! 6 rooms, 5 services of 20–90 minutes with buffers, some needing a room,
//! 8 weeks from next Monday booked at about 70 % of each person's hours,
//! closures and time off sprinkled in. The queries: a service, sometimes a
//! person, a range of 1 day to the whole 8 weeks, sometimes a time of day,
//! the next 20 slots.

use std::time::{Duration, Instant};

use jiff::{Timestamp, ToSpan};

use crate::app::AppState;
use crate::calendar::office::{HOURS_SETTING, STEP_SETTING, SlotQuery, TIME_ZONE_SETTING};
use crate::calendar::{Interval, Office, Settings, WeekHours};
use crate::config::Config;
use crate::search::bench::percentile;
use crate::store::{
    AppointmentFields, Changes, NewAppointment, ResourceChange, ServiceChange, ServiceId,
    StaffChange, StaffId,
};

const STAFF: usize = 20;
const ROOMS: usize = 6;
const WEEKS: i64 = 8;
const QUERIES: usize = 400;
const WARMUP: usize = 40;

pub async fn run() -> anyhow::Result<()> {
    println!("Hearth scheduling benchmark\n");
    let dir = super::tempfile_dir()?;
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.llm.model = "/nonexistent/no-model.gguf".into();
    let state = AppState::new(config).await?;
    let key = super::bench_user(&state).await?;
    let (services, staff, booked) = build_office(&state).await?;
    println!(
        "office: {STAFF} staff, {ROOMS} rooms, {} services, {booked} appointments over {WEEKS} weeks",
        services.len()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::app::run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let client = crate::egress::loopback_client(None);
    let settings = Settings::load(&state.store).await?;
    let monday = next_monday(&settings);

    let queries: Vec<Query> = (0..QUERIES + WARMUP)
        .map(|i| Query::nth(i, &services, &staff, monday))
        .collect();
    let mut http = Vec::new();
    let mut found = 0usize;
    for (i, query) in queries.iter().enumerate() {
        let started = Instant::now();
        let response = client
            .get(format!("{base}/api/v1/availability"))
            .bearer_auth(&key)
            .query(&query.params())
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "availability answered {}",
            response.status()
        );
        let slots: Vec<serde_json::Value> = response.json().await?;
        if i >= WARMUP {
            http.push(started.elapsed());
            found += slots.len();
        }
    }
    let mut raw = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        let started = Instant::now();
        let office =
            Office::load_with(&state.store, settings.clone(), query.first, query.last).await?;
        let plan = office
            .plan(&[query.service])
            .map_err(|e| anyhow::anyhow!(e))?;
        let slots = office.slots(&SlotQuery {
            plan,
            staff: query.staff,
            first_day: query.first,
            last_day: query.last,
            windows: query.window.into_iter().collect(),
            not_before: Timestamp::now(),
            limit: 20,
        });
        std::hint::black_box(slots);
        if i >= WARMUP {
            raw.push(started.elapsed());
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    http.sort();
    raw.sort();
    let (http50, http95) = (percentile(&http, 50.0), percentile(&http, 95.0));
    let (raw50, raw95) = (percentile(&raw, 50.0), percentile(&raw, 95.0));
    println!("\n| availability | p50 | p95 | target |");
    println!("|---|---|---|---|");
    println!(
        "| through HTTP (`GET /api/v1/availability`) | {:.1} ms | {:.1} ms | p95 ≤ 50 ms |",
        ms(http50),
        ms(http95)
    );
    println!(
        "| the engine alone (snapshot + search) | {:.1} ms | {:.1} ms | |",
        ms(raw50),
        ms(raw95)
    );
    println!(
        "\nHTTP / engine at p95: {:.2}×; {QUERIES} queries, {:.1} slots each on average",
        ms(http95) / ms(raw95).max(0.001),
        found as f64 / QUERIES as f64
    );
    println!(
        "machine: {} logical CPUs; CPU flags: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::llm::hardware::cpu_flags_summary()
    );
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

struct Query {
    service: ServiceId,
    staff: Option<StaffId>,
    first: jiff::civil::Date,
    last: jiff::civil::Date,
    window: Option<Interval>,
}

impl Query {
    /// A deterministic mix: ranges of 1, 7, 14 and 56 days; a person in
    /// half; a time of day in a third.
    fn nth(
        i: usize,
        services: &[ServiceId],
        staff: &[StaffId],
        monday: jiff::civil::Date,
    ) -> Query {
        let days = [1, 7, 14, 56][i % 4];
        let first = monday.saturating_add((((i * 7) % 40) as i64).days());
        Query {
            service: services[i % services.len()],
            staff: i.is_multiple_of(2).then(|| staff[(i / 2) % staff.len()]),
            first,
            last: first.saturating_add((days - 1).days()),
            window: match i % 3 {
                0 => Interval::new(12 * 60, 17 * 60),
                1 => Interval::new(8 * 60, 12 * 60),
                _ => None,
            },
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("services", self.service.0.to_string()),
            ("from", self.first.to_string()),
            ("to", self.last.to_string()),
            ("limit", "20".into()),
        ];
        if let Some(staff) = self.staff {
            params.push(("staff", staff.0.to_string()));
        }
        if let Some(window) = self.window {
            params.push((
                "times",
                format!("{}-{}", window.start / 60, window.end / 60),
            ));
        }
        params
    }
}

fn next_monday(settings: &Settings) -> jiff::civil::Date {
    let today = settings.local(Timestamp::now()).date();
    today.saturating_add(((7 - today.weekday().to_monday_zero_offset() as i64) % 7 + 7).days())
}

/// Builds the office and books its 8 weeks; returns the services, the staff
/// and how many appointments were booked.
async fn build_office(state: &AppState) -> anyhow::Result<(Vec<ServiceId>, Vec<StaffId>, usize)> {
    let store = &state.store;
    store
        .set_setting(TIME_ZONE_SETTING, "America/New_York".into(), None)
        .await?;
    let opening: [String; 7] = std::array::from_fn(|i| {
        if i < 5 {
            "8:00-18:00".into()
        } else {
            String::new()
        }
    });
    store
        .set_setting(
            HOURS_SETTING,
            WeekHours::from_texts(&opening)
                .map_err(anyhow::Error::msg)?
                .to_json(),
            None,
        )
        .await?;
    store.set_setting(STEP_SETTING, "15".into(), None).await?;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        rooms.push(
            store
                .create_resource(ResourceChange {
                    name: format!("Room {}", i + 1),
                    kind: "room".into(),
                    active: true,
                })
                .await?
                .id,
        );
    }
    let short: [String; 7] = std::array::from_fn(|i| {
        if i < 5 {
            "9:00-15:00".into()
        } else {
            String::new()
        }
    });
    let short = WeekHours::from_texts(&short)
        .map_err(anyhow::Error::msg)?
        .to_json();
    let mut staff = Vec::new();
    for i in 0..STAFF {
        staff.push(
            store
                .create_staff(StaffChange {
                    name: format!("Staff {}", i + 1),
                    user_id: None,
                    hours: if i % 4 == 3 {
                        short.clone()
                    } else {
                        String::new()
                    },
                    active: true,
                })
                .await?
                .id,
        );
    }
    let kinds = [
        (30, 0, 10, true),
        (45, 0, 15, true),
        (60, 10, 10, true),
        (20, 0, 0, false),
        (90, 0, 15, true),
    ];
    let mut services = Vec::new();
    for (i, (minutes, before, after, room)) in kinds.into_iter().enumerate() {
        services.push(
            store
                .create_service(ServiceChange {
                    name: format!("Service {}", i + 1),
                    duration_minutes: minutes,
                    buffer_before: before,
                    buffer_after: after,
                    price_cents: None,
                    capacity: 1,
                    active: true,
                    staff: Vec::new(),
                    resources: if room { rooms.clone() } else { Vec::new() },
                })
                .await?
                .id,
        );
    }
    let settings = Settings::load(store).await?;
    let monday = next_monday(&settings);
    let office = Office::load_with(store, settings.clone(), monday, monday).await?;
    // Each weekday, each person: appointments back to back from opening
    // with a gap after about every third, filling ~70 % of the day; rooms
    // in turn. Written in one transaction per week.
    let mut booked = 0;
    for week in 0..WEEKS {
        let mut creates = Vec::new();
        for weekday in 0..5 {
            let day = monday.saturating_add((week * 7 + weekday).days());
            for (p, person) in staff.iter().enumerate() {
                let (open, close) = if p % 4 == 3 {
                    (9 * 60, 15 * 60)
                } else {
                    (8 * 60, 18 * 60)
                };
                let mut minute = open + ((p * 15) % 60) as i64;
                let mut n = p + weekday as usize;
                while minute < close - 30 {
                    let service = services[n % services.len()];
                    let plan = office.plan(&[service]).map_err(anyhow::Error::msg)?;
                    if minute + plan.minutes as i64 > close {
                        break;
                    }
                    let start = settings.instants(
                        day.to_datetime(jiff::civil::Time::midnight()) + minute.minutes(),
                    );
                    let Some(start) = start.first().copied() else {
                        break;
                    };
                    let end = start + (plan.minutes as i64).minutes();
                    let room = (!plan.resources.is_empty()).then(|| rooms[(p + n) % ROOMS]);
                    creates.push(NewAppointment {
                        uid: format!("bench-{week}-{weekday}-{p}-{minute}"),
                        fields: AppointmentFields {
                            customer_id: None,
                            staff_id: *person,
                            resource_id: room,
                            title: plan.title.clone(),
                            starts_at: start.as_second(),
                            ends_at: end.as_second(),
                            busy_from: (start - (plan.buffer_before as i64).minutes()).as_second(),
                            busy_until: (end + (plan.buffer_after as i64).minutes()).as_second(),
                            notes: String::new(),
                            services: vec![service],
                            override_reason: None,
                        },
                        series_id: None,
                        recurrence_id: None,
                        created_by: None,
                    });
                    minute +=
                        plan.minutes as i64 + plan.buffer_after as i64 + plan.buffer_before as i64;
                    if n % 3 == 2 {
                        minute += 45;
                    }
                    n += 1;
                }
            }
        }
        booked += creates.len();
        store
            .write_appointments((0, 1), Vec::new(), None, move |_| {
                Ok::<_, ()>(Changes {
                    creates: creates.clone(),
                    updates: Vec::new(),
                })
            })
            .await?
            .map_err(|_| anyhow::anyhow!("the week was refused"))?;
    }
    // A closure and some time off.
    store
        .add_closure(
            monday.saturating_add(17.days()).to_string(),
            monday.saturating_add(17.days()).to_string(),
            "Holiday".into(),
        )
        .await?;
    for (i, person) in staff.iter().enumerate().step_by(5) {
        let day = monday.saturating_add(((i * 3) as i64).days());
        let from = settings.day_start(day).as_second() + 9 * 3600;
        store
            .add_time_off(*person, from, from + 4 * 3600, "Training".into())
            .await?;
    }
    Ok((services, staff, booked))
}
