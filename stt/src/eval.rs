//! Word error rate, with one text normaliser applied to references and hypotheses alike.
//!
//! The normaliser is a small subset of Whisper's `EnglishTextNormalizer`: lower case, hyphens and
//! punctuation to spaces (apostrophes inside words kept), spelled-out titles (`mr` → `mister`),
//! whitespace collapsed. It is enough for read speech whose references are lower-case words.

/// Normalises English text for scoring.
pub fn normalize_english(text: &str) -> String {
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

/// Word-level edit distance between `reference` and `hypothesis` (already normalised), and the
/// number of reference words: WER = errors / words.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r: Vec<&str> = reference.split_whitespace().collect();
    let h: Vec<&str> = hypothesis.split_whitespace().collect();
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
    (row[h.len()], r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
