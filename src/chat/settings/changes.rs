//! What changed between two versions of the assistant's settings, as Admin →
//! Assistant's history shows it: one line per changed value ("Temperature
//! 0.7 → 0.2", "Preset Balanced → Precise") and the system prompt as a line
//! diff (lines removed and added, a little unchanged context around them).
//! Pure functions; the page escapes the text like all output.

use similar::{ChangeTag, TextDiff};

use super::super::assistant::{AssistantSettings, Field, number, preset_label};

/// Unchanged lines shown around each changed part of the system prompt;
/// longer unchanged stretches are folded into a gap.
const CONTEXT_LINES: usize = 2;

/// One value that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub what: &'static str,
    pub before: String,
    pub after: String,
}

/// One line of the system prompt's diff.
#[derive(Debug, Clone, PartialEq)]
pub enum DiffLine {
    Same(String),
    Removed(String),
    Added(String),
    /// Unchanged lines left out.
    Gap,
}

/// Everything that differs from `before` to `after`: the preset first (what
/// an owner chose), then each number, in the form's order.
pub fn changes(before: &AssistantSettings, after: &AssistantSettings) -> Vec<Change> {
    let mut changes = Vec::new();
    let (preset_before, preset_after) = (before.preset(), after.preset());
    if preset_before != preset_after {
        changes.push(Change {
            what: "Preset",
            before: preset_label(preset_before).into(),
            after: preset_label(preset_after).into(),
        });
    }
    let numbers = |s: &AssistantSettings| {
        [
            f64::from(s.temperature),
            f64::from(s.top_p),
            f64::from(s.max_answer_tokens),
            f64::from(s.context_per_chat),
            f64::from(s.parallel),
        ]
    };
    for ((field, old), new) in Field::NUMBERS
        .into_iter()
        .zip(numbers(before))
        .zip(numbers(after))
    {
        if old != new {
            changes.push(Change {
                what: field.label(),
                before: format!("{}{}", number(old), field.unit()),
                after: format!("{}{}", number(new), field.unit()),
            });
        }
    }
    changes
}

/// The system prompt's lines from `before` to `after`; empty when no line
/// changed. Lines are compared without their line breaks, so adding a line
/// after the last one does not show that one as changed too (a browser's
/// textarea may or may not end the text with one).
pub fn prompt_diff(before: &str, after: &str) -> Vec<DiffLine> {
    let old: Vec<&str> = before.lines().collect();
    let new: Vec<&str> = after.lines().collect();
    if old == new {
        return Vec::new();
    }
    let diff = TextDiff::from_slices(&old, &new);
    let groups = diff.grouped_ops(CONTEXT_LINES);
    let mut lines = Vec::new();
    for (i, group) in groups.iter().enumerate() {
        let starts_later = group
            .first()
            .is_some_and(|op| op.old_range().start > 0 || op.new_range().start > 0);
        if i > 0 || starts_later {
            lines.push(DiffLine::Gap);
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let text = change.value().to_string();
                lines.push(match change.tag() {
                    ChangeTag::Equal => DiffLine::Same(text),
                    ChangeTag::Delete => DiffLine::Removed(text),
                    ChangeTag::Insert => DiffLine::Added(text),
                });
            }
        }
    }
    let ends_earlier = groups
        .last()
        .and_then(|group| group.last())
        .is_some_and(|op| op.old_range().end < old.len() || op.new_range().end < new.len());
    if ends_earlier {
        lines.push(DiffLine::Gap);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// `expected` lines read like a unified diff: "-removed", "+added",
    /// " same", and "…" for folded unchanged lines.
    fn check(before: &str, after: &str, expected: &[&str]) {
        let shown: Vec<String> = prompt_diff(before, after)
            .into_iter()
            .map(|line| match line {
                DiffLine::Same(text) => format!(" {text}"),
                DiffLine::Removed(text) => format!("-{text}"),
                DiffLine::Added(text) => format!("+{text}"),
                DiffLine::Gap => "…".into(),
            })
            .collect();
        assert_eq!(shown, expected, "{before:?} → {after:?}");
    }

    #[test]
    fn prompt_diffs() {
        check("Be brief.", "Be brief.", &[]);
        check(
            "Be brief.",
            "Be thorough.",
            &["-Be brief.", "+Be thorough."],
        );
        check("", "Be brief.", &["+Be brief."]);
        check("Be brief.", "", &["-Be brief."]);
        check(
            "Be brief.\nSign as Anna.",
            "Be brief.\nSign as the office.\nNo emojis.",
            &[
                " Be brief.",
                "-Sign as Anna.",
                "+Sign as the office.",
                "+No emojis.",
            ],
        );
        // A line added after the last one; a line break alone changes no line.
        check(
            "Be brief.",
            "Be brief.\r\nSign as Anna.",
            &[" Be brief.", "+Sign as Anna."],
        );
        check("Be brief.", "Be brief.\n", &[]);
        check(
            "Be brief.\n\nBye.",
            "Be brief.\nBye.",
            &[" Be brief.", "-", " Bye."],
        );
        // Long unchanged stretches fold, at the start, between and at the end.
        check(
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12",
            "1\n2\n3\nthree and a half\n4\n5\n6\n7\n8\n9\n10\n11\n12 o'clock",
            &[
                "…",
                " 2",
                " 3",
                "+three and a half",
                " 4",
                " 5",
                "…",
                " 10",
                " 11",
                "-12",
                "+12 o'clock",
            ],
        );
        // Markup is text here; the page escapes it.
        check(
            "Hi",
            "<script>alert(1)</script>",
            &["-Hi", "+<script>alert(1)</script>"],
        );
    }

    /// `expected` as the history shows it: "Temperature 0.7 → 0.2".
    fn check_changes(change: impl Fn(&mut AssistantSettings), expected: &[&str]) {
        let before = AssistantSettings::defaults(&Config::default());
        let mut after = before.clone();
        change(&mut after);
        let shown: Vec<String> = changes(&before, &after)
            .into_iter()
            .map(|c| format!("{} {} → {}", c.what, c.before, c.after))
            .collect();
        assert_eq!(shown, expected);
    }

    #[test]
    fn value_changes() {
        check_changes(|_| {}, &[]);
        check_changes(|s| s.system_prompt = "Other".into(), &[]);
        check_changes(
            |s| {
                s.temperature = 0.2;
                s.top_p = 0.8;
            },
            &[
                "Preset Balanced → Precise",
                "Temperature 0.7 → 0.2",
                "Top-p 0.9 → 0.8",
            ],
        );
        check_changes(
            |s| s.temperature = 0.75,
            &["Preset Balanced → Custom", "Temperature 0.7 → 0.75"],
        );
        // Within a preset's tolerance: the same preset, the number as stored.
        check_changes(|s| s.top_p = 0.900_01, &["Top-p 0.9 → 0.90001"]);
        check_changes(
            |s| {
                s.temperature = 1.0;
                s.top_p = 0.95;
                s.max_answer_tokens = 1024;
                s.context_per_chat = 4096;
                s.parallel = 2;
            },
            &[
                "Preset Balanced → Creative",
                "Temperature 0.7 → 1",
                "Top-p 0.9 → 0.95",
                "Longest answer 512 tokens → 1,024 tokens",
                "Context per chat 2,048 tokens → 4,096 tokens",
                "Chats answered at once 4 → 2",
            ],
        );
    }
}
