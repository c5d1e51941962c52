//! The engine's time handling on the days the clocks change, checked
//! against Python's `zoneinfo` (the system's tz database, read by code
//! that shares nothing with jiff): for fourteen zones, every quarter hour
//! of both transition days, the instants a local time names
//! (`Settings::instants`), the start times the slot search offers
//! (`Office::slots`), and a weekly 9:00 series.
//!
//! The zones cover the shapes of change there are: the US and EU rules,
//! the southern hemisphere (Sydney, Auckland, Santiago), a 30-minute
//! change (Lord Howe), changes at midnight (Santiago, Sao Paulo, Tehran,
//! Cairo: the skipped or repeated hour is 0:00 or 23:00), and zones that
//! no longer change (Sao Paulo since 2019, Tehran since 2022: their last
//! changes are tested, and a 2026 day shows no change).

use jiff::civil::{Date, DateTime, Time};
use jiff::{Timestamp, ToSpan};

use super::hours::WeekHours;
use super::office::{Office, Settings, SlotQuery};
use super::oracle;
use super::recurrence;
use crate::store::{Service, ServiceId, StaffId, StaffMember};

/// Each zone with local days on which its clocks change (and for Sao
/// Paulo a 2026 day, when they no longer do).
const ZONES: &[(&str, &[&str])] = &[
    ("America/New_York", &["2026-03-08", "2026-11-01"]),
    ("America/Chicago", &["2026-03-08", "2026-11-01"]),
    ("America/Denver", &["2026-03-08", "2026-11-01"]),
    ("America/Los_Angeles", &["2026-03-08", "2026-11-01"]),
    (
        "America/Sao_Paulo",
        &["2018-11-04", "2019-02-16", "2026-03-08"],
    ),
    ("Europe/London", &["2026-03-29", "2026-10-25"]),
    ("Europe/Berlin", &["2026-03-29", "2026-10-25"]),
    ("Europe/Paris", &["2026-03-29", "2026-10-25"]),
    ("Australia/Sydney", &["2026-04-05", "2026-10-04"]),
    ("Australia/Lord_Howe", &["2026-04-05", "2026-10-04"]),
    ("Pacific/Auckland", &["2026-04-05", "2026-09-27"]),
    ("America/Santiago", &["2026-04-04", "2026-09-06"]),
    ("Asia/Tehran", &["2022-03-22", "2022-09-21"]),
    ("Africa/Cairo", &["2026-04-24", "2026-10-29"]),
];

/// zoneinfo's instants for `[zone, local]` pairs: none when the local time
/// is skipped (fold=0 does not survive the round trip through UTC), two
/// when it is repeated (fold=0 and fold=1 differ), else one.
const ZONEINFO: &str = r#"
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
answers = []
for zone, local in json.load(sys.stdin):
    tz = ZoneInfo(zone)
    naive = datetime.fromisoformat(local)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    back = datetime.fromtimestamp(first.timestamp(), tz).replace(tzinfo=None)
    if back != naive:
        answers.append([])
    elif first.utcoffset() != second.utcoffset():
        answers.append(sorted({int(first.timestamp()), int(second.timestamp())}))
    else:
        answers.append([int(first.timestamp())])
print(json.dumps(answers))
"#;

/// zoneinfo's instants for each `(zone, local)`, or `None` (skipped).
#[track_caller]
fn zoneinfo(pairs: &[(&str, DateTime)]) -> Option<Vec<Vec<i64>>> {
    let input: Vec<serde_json::Value> = pairs
        .iter()
        .map(|(zone, local)| serde_json::json!([zone, local.to_string()]))
        .collect();
    let answer = oracle::python(&["zoneinfo"], ZONEINFO, &input.into())?;
    Some(
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|list| {
                list.as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_i64().unwrap())
                    .collect()
            })
            .collect(),
    )
}

/// Every quarter hour of a day.
fn quarter_hours(day: Date) -> Vec<DateTime> {
    (0..96)
        .map(|q| {
            day.to_datetime(Time::midnight())
                .checked_add((q * 15).minutes())
                .unwrap()
        })
        .collect()
}

fn settings(zone: &str) -> Settings {
    let all_day = WeekHours::from_texts(&std::array::from_fn(|_| "0:00-24:00".to_string()))
        .unwrap()
        .to_json();
    Settings::from_stored(Some(zone), Some(&all_day), Some("15"))
}

#[test]
fn instants_agree_with_zoneinfo() {
    let mut pairs = Vec::new();
    for (zone, days) in ZONES {
        for day in *days {
            for local in quarter_hours(day.parse().unwrap()) {
                pairs.push((*zone, local));
            }
        }
    }
    let Some(expected) = zoneinfo(&pairs) else {
        return;
    };
    let mut shapes: std::collections::HashMap<&str, (usize, usize)> = Default::default();
    for ((zone, local), expected) in pairs.iter().zip(&expected) {
        let got: Vec<i64> = settings(zone)
            .instants(*local)
            .into_iter()
            .map(Timestamp::as_second)
            .collect();
        assert_eq!(&got, expected, "{local} in {zone}");
        let (gaps, folds) = shapes.entry(zone).or_default();
        match expected.len() {
            0 => *gaps += 1,
            2 => *folds += 1,
            _ => {}
        }
    }
    // The table's days really are the days the clocks change: each zone
    // has a skipped and a repeated stretch (Lord Howe's half hour is two
    // quarter hours, the others' hour four).
    for (zone, _) in ZONES {
        let (gaps, folds) = shapes[zone];
        let expected = if *zone == "Australia/Lord_Howe" { 2 } else { 4 };
        assert_eq!((gaps, folds), (expected, expected), "{zone}");
    }
}

#[test]
fn slots_are_the_times_that_exist() {
    let staff = vec![StaffMember {
        id: StaffId(1),
        name: "Ortiz".into(),
        user_id: None,
        hours: String::new(),
        active: true,
    }];
    let services = vec![Service {
        id: ServiceId(1),
        name: "Visit".into(),
        duration_minutes: 15,
        buffer_before: 0,
        buffer_after: 0,
        price_cents: None,
        capacity: 1,
        active: true,
        staff: Vec::new(),
        resources: Vec::new(),
    }];
    let mut pairs = Vec::new();
    let mut days = Vec::new();
    for (zone, dates) in ZONES {
        for day in *dates {
            let day: Date = day.parse().unwrap();
            days.push((*zone, day));
            pairs.extend(quarter_hours(day).into_iter().map(|local| (*zone, local)));
        }
    }
    let Some(expected) = zoneinfo(&pairs) else {
        return;
    };
    for (i, (zone, day)) in days.iter().enumerate() {
        let office = Office::new(
            settings(zone),
            staff.clone(),
            Vec::new(),
            services.clone(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let query = SlotQuery {
            plan: office.plan(&[ServiceId(1)]).unwrap(),
            staff: None,
            first_day: *day,
            last_day: *day,
            windows: Vec::new(),
            not_before: Timestamp::MIN,
            limit: 1000,
        };
        let offered: Vec<i64> = office
            .slots(&query)
            .iter()
            .map(|slot| slot.starts_at.as_second())
            .collect();
        // Every quarter hour that exists, each instant of a repeated one,
        // none of a skipped one, in time order.
        let mut exists: Vec<i64> = expected[i * 96..(i + 1) * 96]
            .iter()
            .flatten()
            .copied()
            .collect();
        exists.sort();
        assert_eq!(offered, exists, "{day} in {zone}");
        let settings = settings(zone);
        for start in &offered {
            let local = settings.local(Timestamp::from_second(*start).unwrap());
            assert_eq!(local.date(), *day, "{zone}");
            assert!(!settings.instants(local).is_empty(), "{local} in {zone}");
        }
    }
}

#[test]
fn a_weekly_nine_oclock_stays_nine_oclock() {
    let mut pairs = Vec::new();
    let mut found = Vec::new();
    for (zone, _) in ZONES {
        let settings = settings(zone);
        let occurrences = recurrence::occurrences(
            "FREQ=WEEKLY;UNTIL=20261231T235959",
            "2026-01-01T09:00".parse().unwrap(),
            &[],
            &settings.zone,
            recurrence::MAX_OCCURRENCES,
        )
        .unwrap();
        assert_eq!(occurrences.len(), 53, "{zone}");
        let mut offsets = Vec::new();
        for occurrence in &occurrences {
            let zoned = occurrence.at.to_zoned(settings.zone.clone());
            assert_eq!(zoned.time(), Time::constant(9, 0, 0, 0), "{zone}");
            if offsets.last() != Some(&zoned.offset()) {
                offsets.push(zoned.offset());
            }
            pairs.push((*zone, occurrence.local));
            found.push(vec![occurrence.at.as_second()]);
        }
        // Both changes of 2026 were crossed where the zone has them.
        let changes = offsets.len() - 1;
        let expected = match *zone {
            "America/Sao_Paulo" | "Asia/Tehran" => 0,
            _ => 2,
        };
        assert_eq!(changes, expected, "{zone}: {offsets:?}");
    }
    let Some(expected) = zoneinfo(&pairs) else {
        return;
    };
    for ((pair, found), expected) in pairs.iter().zip(&found).zip(&expected) {
        assert_eq!(found, expected, "{} in {}", pair.1, pair.0);
    }
}
