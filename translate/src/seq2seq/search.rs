//! Greedy and beam search over [`Seq2SeqModel`], for a batch of sentences.
//!
//! Beam search follows `transformers`' `generate` (the reference the faithfulness tests compare
//! against): log-probabilities summed per hypothesis, `2 x beams` candidates per step, a
//! candidate among the first `beams` that ends with EOS (or reaches the length limit) is
//! finished with score `sum / length^length_penalty` (length counting generated tokens, EOS
//! included), and a sentence is done when it has `beams` finished hypotheses that the best
//! running one, normalised at its current length, cannot beat.

use candle_core::{D, Result, Tensor};

use super::model::{Encoded, Seq2SeqModel};
use crate::engine::MAX_REPEATED_PHRASE;

/// How to search.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SearchOptions {
    /// 1 for greedy search.
    pub beams: usize,
    /// Exponent of the length normalisation of finished beam scores.
    pub length_penalty: f64,
    /// Stop a sentence as soon as it has `beams` finished hypotheses.
    pub early_stopping: bool,
    /// Most tokens generated after the prefix (EOS included).
    pub max_new_tokens: usize,
    /// Tokens that are never generated (Marian: its padding token).
    pub suppress: Vec<u32>,
    /// Decoder input before generation starts: the start token, and for M2M100/NLLB the
    /// target-language token.
    pub prefix: Vec<u32>,
    /// How many prefix tokens count towards the hypothesis length (the reference generates
    /// M2M100's language token, so it counts; the start token does not).
    pub prefix_counted: usize,
    /// Greedy search stops a sentence caught in a repetition loop (see
    /// [`trim_repetition`](crate::engine::trim_repetition)) instead of running to the limit.
    pub stop_loops: bool,
}

impl SearchOptions {
    /// Greedy search with `prefix`, stopping at `max_new_tokens`.
    pub fn greedy(prefix: Vec<u32>, max_new_tokens: usize) -> Self {
        Self {
            beams: 1,
            length_penalty: 1.0,
            early_stopping: false,
            max_new_tokens,
            suppress: Vec::new(),
            prefix,
            prefix_counted: 0,
            stop_loops: false,
        }
    }

    /// Beam search with `beams` beams.
    pub fn beam(prefix: Vec<u32>, beams: usize, max_new_tokens: usize) -> Self {
        Self {
            beams,
            ..Self::greedy(prefix, max_new_tokens)
        }
    }
}

/// Translates each encoded sentence; returns the generated tokens after the prefix, without the
/// final EOS.
pub fn generate(
    model: &Seq2SeqModel,
    encoded: &Encoded,
    options: &SearchOptions,
) -> Result<Vec<Vec<u32>>> {
    if options.prefix.is_empty() {
        candle_core::bail!("the decoder prefix must hold at least the start token");
    }
    if options.beams <= 1 {
        greedy(model, encoded, options)
    } else {
        beam(model, encoded, options)
    }
}

/// `(rows, vocab)` logits to log-probabilities, with suppressed tokens at -inf (after the
/// normalisation, as the reference's logits processors do).
fn log_probs(logits: &Tensor, suppress: &[u32]) -> Result<Vec<Vec<f32>>> {
    let mut rows = candle_nn::ops::log_softmax(logits, D::Minus1)?.to_vec2::<f32>()?;
    suppress_tokens(&mut rows, suppress);
    Ok(rows)
}

/// Sets the scores of `tokens` to -inf in every row.
fn suppress_tokens(rows: &mut [Vec<f32>], tokens: &[u32]) {
    for row in rows {
        for &t in tokens {
            if let Some(v) = row.get_mut(t as usize) {
                *v = f32::NEG_INFINITY;
            }
        }
    }
}

/// The index of the largest score (the first one on ties).
pub(crate) fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

fn greedy(
    model: &Seq2SeqModel,
    encoded: &Encoded,
    options: &SearchOptions,
) -> Result<Vec<Vec<u32>>> {
    let b = encoded.batch()?;
    let eos = model.config().eos_token_id;
    let pad = model.config().pad_token_id;
    let mut state = model.start(encoded, 1)?;
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut done = vec![false; b];
    let mut input: Vec<Vec<u32>> = vec![options.prefix.clone(); b];
    for _ in 0..options.max_new_tokens {
        // The most probable token is the largest logit: no normalisation needed.
        let mut rows = model.step(&mut state, &input)?.to_vec2::<f32>()?;
        suppress_tokens(&mut rows, &options.suppress);
        for (i, row) in rows.iter().enumerate() {
            if done[i] {
                input[i] = vec![pad];
                continue;
            }
            let token = argmax(row);
            if token == eos {
                done[i] = true;
            } else {
                out[i].push(token);
                if options.stop_loops {
                    let tail = &out[i][out[i].len().saturating_sub(3 * MAX_REPEATED_PHRASE)..];
                    done[i] = crate::engine::trim_repetition(tail).len() < tail.len();
                }
            }
            input[i] = vec![token];
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    Ok(out)
}

/// One sentence's finished hypotheses.
struct Finished {
    /// `(normalised score, tokens)`, at most `beams`, best first.
    hyps: Vec<(f64, Vec<u32>)>,
    beams: usize,
}

impl Finished {
    fn add(&mut self, score: f64, tokens: Vec<u32>) {
        if self.hyps.len() == self.beams
            && self.hyps.last().is_some_and(|(worst, _)| score <= *worst)
        {
            return;
        }
        let at = self.hyps.partition_point(|(s, _)| *s >= score);
        self.hyps.insert(at, (score, tokens));
        self.hyps.truncate(self.beams);
    }

    fn worst(&self) -> f64 {
        self.hyps.last().map_or(f64::NEG_INFINITY, |(s, _)| *s)
    }
}

fn normalised(sum: f64, length: usize, penalty: f64) -> f64 {
    sum / (length.max(1) as f64).powf(penalty)
}

fn beam(model: &Seq2SeqModel, encoded: &Encoded, options: &SearchOptions) -> Result<Vec<Vec<u32>>> {
    let b = encoded.batch()?;
    let k = options.beams;
    let eos = model.config().eos_token_id;
    let pad = model.config().pad_token_id;
    let mut state = model.start(encoded, k)?;
    // Row r = sentence r / k, beam r % k. Only beam 0 is live at the start, so the first step
    // does not pick the same token k times.
    let mut scores: Vec<f64> = (0..b * k)
        .map(|r| if r % k == 0 { 0.0 } else { -1e9 })
        .collect();
    let mut tokens: Vec<Vec<u32>> = vec![Vec::new(); b * k];
    let mut finished: Vec<Finished> = (0..b)
        .map(|_| Finished {
            hyps: Vec::new(),
            beams: k,
        })
        .collect();
    let mut done = vec![false; b];
    let mut input: Vec<Vec<u32>> = vec![options.prefix.clone(); b * k];
    for step in 0..options.max_new_tokens {
        // Length a hypothesis has if it ends with the token chosen now (EOS included).
        let length = options.prefix_counted + step + 1;
        let last = step + 1 == options.max_new_tokens;
        let logits = model.step(&mut state, &input)?;
        let rows = log_probs(&logits, &options.suppress)?;
        let mut keep: Vec<u32> = Vec::with_capacity(b * k);
        let mut next_scores = Vec::with_capacity(b * k);
        let mut next_tokens: Vec<Vec<u32>> = Vec::with_capacity(b * k);
        for s in 0..b {
            if done[s] {
                // Finished sentences ride along with padding until the batch is done.
                for beam in 0..k {
                    let r = s * k + beam;
                    keep.push(r as u32);
                    next_scores.push(scores[r]);
                    next_tokens.push(tokens[r].clone());
                }
                continue;
            }
            // The best 2k continuations over all k beams.
            let mut candidates: Vec<(f64, usize, u32)> = Vec::with_capacity(2 * k);
            for beam in 0..k {
                let r = s * k + beam;
                let mut best = top_n(&rows[r], 2 * k);
                candidates.extend(
                    best.drain(..)
                        .map(|(lp, t)| (scores[r] + f64::from(lp), r, t)),
                );
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            candidates.truncate(2 * k);
            let mut chosen = 0;
            for (rank, &(score, r, token)) in candidates.iter().enumerate() {
                if token == eos || last {
                    // Only a candidate among the first k finishes a hypothesis: one that ends
                    // with EOS, or any at the length limit (its last token kept).
                    if rank < k {
                        let mut t = tokens[r].clone();
                        if token != eos {
                            t.push(token);
                        }
                        finished[s].add(normalised(score, length, options.length_penalty), t);
                    }
                    continue;
                }
                keep.push(r as u32);
                next_scores.push(score);
                let mut t = tokens[r].clone();
                t.push(token);
                next_tokens.push(t);
                chosen += 1;
                if chosen == k {
                    break;
                }
            }
            // Fewer than k continuing candidates happens only at the length limit (or with a
            // vocabulary smaller than 2k); keep the row count right regardless.
            while chosen < k {
                keep.push((s * k) as u32);
                next_scores.push(f64::NEG_INFINITY);
                next_tokens.push(tokens[s * k].clone());
                chosen += 1;
            }
            if finished[s].hyps.len() == k {
                done[s] = if options.early_stopping {
                    true
                } else {
                    // No running hypothesis can beat the worst finished one any more.
                    let best_running = next_scores[s * k];
                    normalised(best_running, length, options.length_penalty) <= finished[s].worst()
                };
            }
        }
        scores = next_scores;
        input = next_tokens
            .iter()
            .enumerate()
            .map(|(r, t)| {
                if done[r / k] {
                    vec![pad]
                } else {
                    vec![t.last().copied().unwrap_or(pad)]
                }
            })
            .collect();
        tokens = next_tokens;
        if done.iter().all(|&d| d) {
            break;
        }
        state.select(&keep)?;
    }
    // Every sentence has its finished hypotheses: the length limit finishes the last ones.
    Ok(finished
        .into_iter()
        .map(|f| {
            f.hyps
                .into_iter()
                .next()
                .map(|(_, t)| t)
                .unwrap_or_default()
        })
        .collect())
}

/// The `n` largest values of `row` with their indices, largest first.
fn top_n(row: &[f32], n: usize) -> Vec<(f32, u32)> {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(n + 1);
    for (i, &v) in row.iter().enumerate() {
        if best.len() == n && best.last().is_some_and(|&(w, _)| v <= w) {
            continue;
        }
        let at = best.partition_point(|&(w, _)| w >= v);
        best.insert(at, (v, i as u32));
        best.truncate(n);
    }
    best
}
