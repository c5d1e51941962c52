//! How the box has been doing over the last day, for Admin → System: every
//! minute Hearth notes its CPU use, its memory, the model's queue and the
//! recent answer speed; the page draws each as a small chart (inline SVG,
//! drawn on the server: no script, no chart library). Kept in memory: a
//! restart starts the charts again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::app::AppState;

/// Samples kept: one a minute for a day.
const KEEP: usize = 24 * 60;
/// Time between samples.
const EVERY: Duration = Duration::from_secs(60);

/// One minute's reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: i64,
    /// Hearth's share of all CPUs over the minute, 0 to 100.
    pub cpu_percent: f64,
    /// Hearth's resident memory, bytes.
    pub memory: f64,
    /// Answers waiting or being written.
    pub queue: f64,
    /// Mean speed of the recent answers (tokens per second), 0 before any.
    pub tokens_per_second: f64,
}

/// The last day's samples.
#[derive(Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// Takes a sample now and then every minute (CPU use over the time since
/// the last one; the first since Hearth started).
pub async fn keep(state: AppState) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut last_cpu = 0.0;
    let mut last_at = Instant::now()
        .checked_sub(Duration::from_secs(crate::metrics::uptime_secs()))
        .unwrap_or_else(Instant::now);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (cpu, memory) = crate::metrics::process_usage();
        let elapsed = last_at.elapsed().as_secs_f64().max(1.0);
        let cpu_percent = ((cpu - last_cpu) / elapsed / cores * 100.0).clamp(0.0, 100.0);
        last_cpu = cpu;
        last_at = Instant::now();
        let engine = state.chat.engine.status();
        let recent = &engine.recent_tokens_per_second;
        state.health.push(Sample {
            at: state.store.now(),
            cpu_percent,
            memory,
            queue: (engine.active + engine.queued) as f64,
            tokens_per_second: if recent.is_empty() {
                0.0
            } else {
                recent.iter().sum::<f64>() / recent.len() as f64
            },
        });
    }
}

/// A length of time as people say it: "3 days 4 hours", "2 hours 5
/// minutes", "12 minutes", "less than a minute".
pub fn duration_words(secs: u64) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let (days, hours, minutes) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "less than a minute".to_string(),
        (0, 0, m) => plural(m, "minute", "minutes"),
        (0, h, 0) => plural(h, "hour", "hours"),
        (0, h, m) => format!(
            "{} {}",
            plural(h, "hour", "hours"),
            plural(m, "minute", "minutes")
        ),
        (d, 0, _) => plural(d, "day", "days"),
        (d, h, _) => format!(
            "{} {}",
            plural(d, "day", "days"),
            plural(h, "hour", "hours")
        ),
    }
}

/// One chart as the page shows it.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    /// The latest value, in words ("12 %", "310 MB").
    pub now: String,
    /// The day's highest, in words.
    pub peak: String,
    /// The chart itself: an `<svg>` made only of numbers and fixed text.
    pub svg: String,
}

/// What one chart shows: which reading, in which words, and the least
/// top of its scale (so an idle box's CPU does not fill the chart).
struct Spec {
    id: &'static str,
    title: &'static str,
    pick: fn(&Sample) -> f64,
    words: fn(f64) -> String,
    floor: f64,
}

const SPECS: [Spec; 4] = [
    Spec {
        id: "chart-cpu",
        title: "CPU use",
        pick: |s| s.cpu_percent,
        words: |v| format!("{v:.0} %"),
        floor: 100.0,
    },
    Spec {
        id: "chart-memory",
        title: "Memory",
        pick: |s| s.memory,
        words: |v| crate::disk::human_size(v.max(0.0) as u64),
        floor: 0.0,
    },
    Spec {
        id: "chart-queue",
        title: "Answers queued or being written",
        pick: |s| s.queue,
        words: |v| format!("{v:.0}"),
        floor: 1.0,
    },
    Spec {
        id: "chart-speed",
        title: "Answer speed",
        pick: |s| s.tokens_per_second,
        words: |v| format!("{v:.1} tokens/s"),
        floor: 1.0,
    },
];

/// The four charts over the day before `now`.
pub fn charts(samples: &[Sample], now: i64) -> Vec<Chart> {
    SPECS
        .iter()
        .map(
            |&Spec {
                 id,
                 title,
                 pick,
                 words,
                 floor,
             }| {
                let points: Vec<(i64, f64)> = samples
                    .iter()
                    .filter(|s| now - s.at <= 24 * 3600)
                    .map(|s| (s.at, pick(s)))
                    .collect();
                let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
                Chart {
                    id,
                    title,
                    now: points
                        .last()
                        .map_or_else(|| "no reading yet".to_string(), |p| words(p.1)),
                    peak: words(peak),
                    svg: sparkline(&points, now, peak.max(floor), title),
                }
            },
        )
        .collect()
}

/// A line over the last 24 hours, scaled to `top`, 300 × 60.
fn sparkline(points: &[(i64, f64)], now: i64, top: f64, title: &str) -> String {
    const W: f64 = 300.0;
    const H: f64 = 60.0;
    let day = 24.0 * 3600.0;
    let top = if top > 0.0 { top } else { 1.0 };
    let coords: Vec<String> = points
        .iter()
        .filter(|(at, _)| (now - at) as f64 <= day)
        .map(|(at, v)| {
            // Inside a 3-unit margin, so the newest reading (at the right
            // edge) and an idle zero (at the bottom) stay visible.
            let x = (W - (now - at) as f64 / day * W).clamp(3.0, W - 3.0);
            let y = H - 3.0 - (v / top).clamp(0.0, 1.0) * (H - 6.0);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let line = if coords.len() >= 2 {
        format!(
            "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"{}\"/>",
            coords.join(" ")
        )
    } else if let Some(only) = coords.first() {
        let (x, y) = only.split_once(',').unwrap_or(("0", "0"));
        format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"currentColor\"/>")
    } else {
        String::new()
    };
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"300\" height=\"60\" role=\"img\" preserveAspectRatio=\"none\"><title>{title}, last 24 hours</title><line x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" class=\"axis\"/>{line}</svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: i64, cpu: f64) -> Sample {
        Sample {
            at,
            cpu_percent: cpu,
            memory: 300e6,
            queue: 0.0,
            tokens_per_second: 0.0,
        }
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(duration_words(20), "less than a minute");
        assert_eq!(duration_words(60), "1 minute");
        assert_eq!(duration_words(2 * 3600 + 5 * 60), "2 hours 5 minutes");
        assert_eq!(duration_words(3 * 86_400 + 4 * 3600 + 59), "3 days 4 hours");
        assert_eq!(duration_words(86_400 + 120), "1 day");
    }

    #[test]
    fn the_history_keeps_one_day() {
        let history = History::default();
        for minute in 0..(KEEP as i64 + 10) {
            history.push(sample(minute * 60, 1.0));
        }
        let kept = history.samples();
        assert_eq!(kept.len(), KEEP);
        assert_eq!(kept[0].at, 600);
    }

    #[test]
    fn charts_draw_the_last_day_scaled_to_its_peak() {
        let now = 100_000;
        let samples = [
            sample(now - 2 * 86_400, 90.0), // older than a day: not drawn
            sample(now - 3600, 10.0),
            sample(now - 60, 50.0),
        ];
        let drawn = charts(&samples, now);
        let cpu = &drawn[0];
        assert_eq!(cpu.now, "50 %");
        assert_eq!(cpu.peak, "50 %", "the day's highest only");
        let points = cpu.svg.split("points=\"").nth(1).unwrap();
        assert_eq!(
            points.split('"').next().unwrap().split(' ').count(),
            2,
            "{}",
            cpu.svg
        );
        assert!(cpu.svg.starts_with("<svg") && cpu.svg.contains("<polyline"));
        assert_eq!(charts(&[], now)[3].now, "no reading yet");
    }
}
