//! Choosing the next token cheaply, however large the vocabulary.
//!
//! llama.cpp's samplers work on an array of every token, built afresh for
//! each token (12 bytes a token: 3 MB for Gemma 3's 262,144), and its repeat
//! penalty looks every one of them up in a hash map. With four answers on two
//! cores that was about 5 % of the engine thread's time for Gemma, time in
//! which llama.cpp's second thread waits. The same work on the few tokens it
//! concerns:
//!
//! - [`Recent`]: the repeat penalty, applied only to the tokens of the recent
//!   window, exactly as llama.cpp's `penalties` sampler changes them;
//! - [`greedy`]: the best logit in one pass, ties going to the lowest id as in
//!   llama.cpp's `greedy`;
//! - [`best_k`]: the `k` best logits in one pass that rejects almost every
//!   token with one comparison, so llama.cpp's own links after top-k (top-p,
//!   min-p, temperature, the draw) run on those `k` alone.
//!
//! Pure functions of the logits, so they are tested against the naive way
//! without a model.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Answer tokens the repeat penalty looks back on (llama.cpp's
/// `penalty_last_n`).
pub(super) const REPEAT_WINDOW: usize = 64;

/// The answer's last [`REPEAT_WINDOW`] tokens, and the repeat penalty for
/// using one of them again.
#[derive(Debug, Clone)]
pub(super) struct Recent {
    tokens: VecDeque<i32>,
    penalty: f32,
}

impl Recent {
    pub(super) fn new(penalty: f32) -> Self {
        Recent {
            tokens: VecDeque::with_capacity(REPEAT_WINDOW),
            penalty,
        }
    }

    /// Remembers a token of the answer, forgetting the oldest beyond the
    /// window.
    pub(super) fn accept(&mut self, token: i32) {
        if self.tokens.len() == REPEAT_WINDOW {
            self.tokens.pop_front();
        }
        self.tokens.push_back(token);
    }

    /// Penalises, once each, the window's tokens in `logits` (indexed by
    /// token id), as llama.cpp's `penalties` sampler does.
    pub(super) fn apply(&self, logits: &mut [f32]) {
        for id in self.repeated(logits.len()) {
            logits[id] = self.penalised(logits[id]);
        }
    }

    /// The window's distinct tokens below `n_vocab`, as indices; none when
    /// the penalty is 1, which changes nothing.
    pub(super) fn repeated(&self, n_vocab: usize) -> impl Iterator<Item = usize> + use<> {
        let mut ids: Vec<usize> = if self.penalty == 1.0 {
            Vec::new()
        } else {
            self.tokens
                .iter()
                .filter_map(|&token| usize::try_from(token).ok())
                .filter(|&id| id < n_vocab)
                .collect()
        };
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
    }

    /// A repeated token's logit: a positive one divided by the penalty, any
    /// other multiplied (dividing a negative one would favour it).
    pub(super) fn penalised(&self, logit: f32) -> f32 {
        if logit <= 0.0 {
            logit * self.penalty
        } else {
            logit / self.penalty
        }
    }
}

/// The index of the best logit; the first of equals. `None` for no logits.
pub(super) fn greedy(logits: &[f32]) -> Option<usize> {
    let mut best = 0;
    let mut top = *logits.first()?;
    for (i, &value) in logits.iter().enumerate().skip(1) {
        if value > top {
            top = value;
            best = i;
        }
    }
    Some(best)
}

/// A logit as an integer of the same order (for all but NaN), so the heap
/// compares plain integers.
fn order_key(value: f32) -> u32 {
    let bits = value.to_bits();
    if bits >> 31 == 1 {
        !bits
    } else {
        bits | 1 << 31
    }
}

/// The `k` best logits as (token id, logit), best first; all of them when
/// `k` is at least their number. Equal logits at the edge are kept by lowest
/// id.
pub(super) fn best_k(logits: &[f32], k: usize, out: &mut Vec<(i32, f32)>) {
    out.clear();
    if k == 0 {
        return;
    }
    if k >= logits.len() {
        out.extend((0_i32..).zip(logits.iter().copied()));
    } else {
        // A min-heap of the best so far, its weakest on top: most tokens are
        // turned away by one comparison with it.
        let mut heap: BinaryHeap<Reverse<(u32, Reverse<i32>)>> = BinaryHeap::with_capacity(k + 1);
        let mut floor = 0;
        for (id, &value) in (0_i32..).zip(logits) {
            let key = order_key(value);
            if heap.len() < k {
                heap.push(Reverse((key, Reverse(id))));
                if heap.len() == k {
                    floor = heap.peek().map_or(0, |Reverse((key, _))| *key);
                }
            } else if key > floor {
                if let Some(mut weakest) = heap.peek_mut() {
                    *weakest = Reverse((key, Reverse(id)));
                }
                floor = heap.peek().map_or(0, |Reverse((key, _))| *key);
            }
        }
        out.extend(
            heap.into_iter()
                .map(|Reverse((_, Reverse(id)))| (id, logits[id as usize])),
        );
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logits with ties and both signs, from a fixed generator.
    fn logits(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Coarse steps make ties common.
                ((state % 400) as f32 - 200.0) / 8.0
            })
            .collect()
    }

    /// llama.cpp's penalties, the naive way: every token looked up.
    fn penalised_naively(logits: &[f32], window: &[i32], penalty: f32) -> Vec<f32> {
        let recent: &[i32] = &window[window.len().saturating_sub(REPEAT_WINDOW)..];
        logits
            .iter()
            .enumerate()
            .map(|(id, &logit)| {
                if penalty == 1.0 || !recent.contains(&(id as i32)) {
                    logit
                } else if logit <= 0.0 {
                    logit * penalty
                } else {
                    logit / penalty
                }
            })
            .collect()
    }

    #[test]
    fn the_penalty_touches_each_recent_token_once_as_llama_cpp_does() {
        for (seed, penalty) in [(1, 1.1), (2, 1.3), (3, 0.8), (4, 1.0)] {
            let original = logits(500, seed);
            // A window longer than 64, with repeats and an id out of range.
            let window: Vec<i32> = logits(90, seed + 10)
                .iter()
                .map(|v| (v.abs() * 8.0) as i32 * 3 % 520)
                .collect();
            let mut recent = Recent::new(penalty);
            for &token in &window {
                recent.accept(token);
            }
            let mut fast = original.clone();
            recent.apply(&mut fast);
            assert_eq!(fast, penalised_naively(&original, &window, penalty));
        }
    }

    #[test]
    fn greedy_takes_the_first_of_the_best() {
        assert_eq!(greedy(&[]), None);
        assert_eq!(greedy(&[-1.0]), Some(0));
        assert_eq!(greedy(&[1.0, 3.0, 2.0, 3.0]), Some(1));
        for seed in 1..20 {
            let values = logits(1000, seed);
            let top = values.iter().copied().fold(f32::MIN, f32::max);
            let first = values.iter().position(|&v| v == top);
            assert_eq!(greedy(&values), first);
        }
    }

    #[test]
    fn best_k_matches_a_full_sort() {
        let mut out = Vec::new();
        for seed in 1..30 {
            let values = logits(3000, seed);
            let mut sorted: Vec<(i32, f32)> = (0_i32..).zip(values.iter().copied()).collect();
            sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for k in [1, 2, 40, 128, 2999, 3000, 5000] {
                best_k(&values, k, &mut out);
                assert_eq!(out, sorted[..k.min(3000)], "seed {seed}, k {k}");
            }
        }
        best_k(&[1.0, 2.0], 0, &mut out);
        assert!(out.is_empty());
        // Infinities and negative zero keep their order.
        best_k(
            &[0.0, f32::NEG_INFINITY, -0.0, f32::INFINITY, -1.0],
            3,
            &mut out,
        );
        assert_eq!(out, [(3, f32::INFINITY), (0, 0.0), (2, -0.0)]);
    }
}
