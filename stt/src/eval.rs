//! Scoring: word error rate (with one text normaliser applied to references and hypotheses
//! alike), retractions of committed caption text, and percentiles for latency figures.
//!
//! The normaliser is a small subset of Whisper's `EnglishTextNormalizer`: lower case, hyphens and
//! punctuation to spaces (apostrophes inside words kept), spelled-out titles (`mr` → `mister`),
//! whitespace collapsed. It is enough for read speech whose references are lower-case words.

use dragoman_core::engine::SttEvent;

use crate::stream::hypothesis::extends;

/// Normalises English text for scoring: [`normalize_words`] plus spelled-out titles.
pub fn normalize_english(text: &str) -> String {
    normalize_words(text)
        .split(' ')
        .map(|w| match w {
            "mr" => "mister",
            "mrs" => "missus",
            "dr" => "doctor",
            "st" => "saint",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Normalises text in any language written with spaces between words: lower case, everything
/// but letters, digits and word-internal apostrophes to spaces, whitespace collapsed.
pub fn normalize_words(text: &str) -> String {
    let lowered = text.to_lowercase();
    let spaced: String = lowered
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    spaced
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Word-level edit distance between `reference` and `hypothesis` (already normalised), and the
/// number of reference words: WER = errors / words.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
    (edit_distance(&r, &h), r.len())
}

/// Character-level edit distance between `reference` and `hypothesis` (already normalised),
/// and the number of reference characters: CER = errors / characters. Spaces count as
/// characters, as in the usual CER definition.
pub fn char_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r: Vec<char> = reference.chars().collect();
    let h: Vec<char> = hypothesis.chars().collect();
    (edit_distance(&r, &h), r.len())
}

/// Levenshtein distance (substitutions, insertions, deletions all cost 1).
fn edit_distance<T: PartialEq>(r: &[T], h: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let substitution = diagonal + usize::from(rw != hw);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[h.len()]
}

/// How many times committed caption text was taken back: a partial whose stable prefix does not
/// extend what the stream had committed, or a final that disagrees with it. A committed word
/// may gain punctuation ("exit" -> "exit.": the text still extends what was shown). A correct
/// live captioner scores 0.
pub fn retractions<'a>(events: impl IntoIterator<Item = &'a SttEvent>) -> usize {
    // What the stream has committed so far, as words: every final, then the current stable
    // prefix. A final may be shorter than the stable prefix before it (a sentence cut: the
    // remaining committed words open the next caption), so it must agree with the committed
    // words as far as either goes.
    let mut finals: Vec<String> = Vec::new();
    let mut committed: Vec<String> = Vec::new();
    let words =
        |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_string).collect() };
    let agrees = |a: &[String], b: &[String]| a.iter().zip(b).all(|(x, y)| x == y || extends(x, y));
    let mut count = 0;
    for event in events {
        match event {
            SttEvent::Partial {
                text,
                stable_prefix_len,
                ..
            } => {
                let mut now = finals.clone();
                now.extend(words(text.get(..*stable_prefix_len).unwrap_or(text)));
                count += usize::from(now.len() < committed.len() || !agrees(&committed, &now));
                committed = now;
            }
            SttEvent::Final { text, .. } => {
                finals.extend(words(text));
                count += usize::from(!agrees(&committed, &finals));
                if finals.len() >= committed.len() {
                    committed = finals.clone();
                }
            }
            _ => {}
        }
    }
    count
}

/// `samples` (at `rate` Hz) without the silence before and after the speech: 10 ms blocks
/// under -40 dBFS, keeping 50 ms on each side. Benchmarks and tests play trimmed recordings back
/// to back to make continuous speech.
pub fn trim_silence(samples: &[f32], rate: u32) -> &[f32] {
    let block = (rate / 100).max(1) as usize;
    let loud = |c: &[f32]| c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32 > 1e-4;
    let blocks: Vec<bool> = samples.chunks(block).map(loud).collect();
    let first = blocks
        .iter()
        .position(|&l| l)
        .unwrap_or(0)
        .saturating_sub(5);
    let last = blocks
        .iter()
        .rposition(|&l| l)
        .map_or(0, |i| i + 6)
        .min(blocks.len());
    let (from, to) = (
        (first * block).min(samples.len()),
        (last * block).min(samples.len()),
    );
    &samples[from..to.max(from)]
}

/// The `p`-quantile (0..=1, nearest rank) of `values`; NaN when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n => sorted[((n - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dragoman_core::{Lang, SampleRate, StreamTime};

    #[test]
    fn retractions_count_rewritten_committed_text() {
        let t = StreamTime::zero(SampleRate::HZ_16000);
        let partial = |text: &str, stable: usize| SttEvent::Partial {
            text: text.into(),
            stable_prefix_len: stable,
            expected_final_len: None,
            start: t,
        };
        let fin = |text: &str| SttEvent::Final {
            text: text.into(),
            start: t,
            end: t,
            lang: Lang::EN,
            lang_probability: None,
        };
        let good = [
            partial("he was", 0),
            partial("he was not", 2),
            partial("he was not an", 6),
            fin("he was not an ill"),
            // A sentence cut: the committed "and" opens the next caption.
            partial("it ends. and then", 12),
            fin("it ends."),
            partial("and then some", 3),
            fin("and then some"),
        ];
        assert_eq!(retractions(&good), 0);
        // A committed word may gain punctuation; losing it, or changing it, takes text back.
        let punctuated = [
            partial("it ends and", 7),
            partial("it ends. and", 8),
            fin("it ends."),
        ];
        assert_eq!(retractions(&punctuated), 0);
        let unpunctuated = [partial("it ends. and", 8), partial("it ends and", 7)];
        assert_eq!(retractions(&unpunctuated), 1);
        // The word committed before the cut must open the next caption.
        let lost = [
            partial("it ends. and", 12),
            fin("it ends."),
            partial("but", 3),
        ];
        assert_eq!(retractions(&lost), 1);
        let bad = [partial("he was", 2), partial("she was", 3), fin("he was")];
        assert_eq!(retractions(&bad), 2);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        // 100 ms of silence, 100 ms of tone, 300 ms of silence at 1 kHz: 50 ms kept each side.
        let mut audio = vec![0.0f32; 100];
        audio.extend(vec![0.5f32; 100]);
        audio.extend(vec![0.0f32; 300]);
        assert_eq!(trim_silence(&audio, 1_000).len(), 200);
        assert!(trim_silence(&[0.0; 50], 1_000).is_empty());
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn normalises_punctuation_case_and_titles() {
        assert_eq!(
            normalize_english("And Mr. John Dashwood had then leisure, ill-disposed!"),
            "and mister john dashwood had then leisure ill disposed"
        );
        assert_eq!(
            normalize_english("  'tis  the  world's end  "),
            "tis the world's end"
        );
    }

    #[test]
    fn counts_substitutions_insertions_deletions() {
        assert_eq!(word_errors("a b c d", "a b c d"), (0, 4));
        assert_eq!(word_errors("a b c d", "a x c d"), (1, 4));
        assert_eq!(word_errors("a b c d", "a b c d e"), (1, 4));
        assert_eq!(word_errors("a b c d", "b c d"), (1, 4));
        assert_eq!(word_errors("a b", ""), (2, 2));
        assert_eq!(word_errors("", "a"), (1, 0));
        assert_eq!(char_errors("xin chào", "xin chao"), (1, 8));
        assert_eq!(char_errors("ab", "ba"), (2, 2));
    }
}
