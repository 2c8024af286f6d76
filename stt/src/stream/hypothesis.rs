//! One transcription of the utterance so far, as the live policy sees it: its words, where it
//! could be cut into captions (Whisper's timestamps, sentence ends), and its alignment with the
//! words carried over from the previous caption.

use crate::whisper::TimedText;

/// Characters that end a sentence (Latin, CJK, Arabic, Devanagari scripts).
const SENTENCE_END: &[char] = &['.', '?', '!', '。', '？', '！', '؟', '।', '…'];

/// One transcription of the utterance so far.
#[derive(Debug, Default)]
pub(super) struct Hypothesis {
    pub(super) words: Vec<String>,
    /// Where Whisper closed a piece of text that more text follows.
    pub(super) cuts: Vec<Cut>,
}

impl Hypothesis {
    /// The words of `pieces` (a transcription of the audio from sample `start`, `duration`
    /// seconds long) and the places it could be cut.
    pub(super) fn from_pieces(pieces: &[TimedText], start: u64, duration: f64) -> Self {
        let pieces = spoken(pieces, duration);
        let mut hypothesis = Self::default();
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.iter().enumerate() {
            let piece_end = piece.end.unwrap_or(duration);
            let chars = piece.text.chars().count().max(1) as f64;
            let mut seen = 0;
            let words: Vec<&str> = piece.text.split_whitespace().collect();
            for (w, word) in words.iter().enumerate() {
                hypothesis.words.push((*word).to_string());
                seen += word.chars().count() + 1;
                let closes_piece = w + 1 == words.len();
                // A boundary only where more text follows: the end of the last piece may be
                // where the audio so far stops, not where the speaker stopped.
                if closes_piece && i < last && piece.end.is_some() {
                    hypothesis.cuts.push(Cut {
                        words: hypothesis.words.len(),
                        at: start + (piece_end * 16_000.0) as u64,
                        sentence_end: ends_sentence(word),
                        timed: true,
                    });
                } else if !closes_piece && ends_sentence(word) {
                    // A sentence ends inside the piece: Whisper gave it no time, so place it
                    // by its share of the piece's characters (the pause search then finds
                    // the gap between the words).
                    let share = (seen as f64 / chars).min(1.0);
                    let at = piece.start + (piece_end - piece.start) * share;
                    hypothesis.cuts.push(Cut {
                        words: hypothesis.words.len(),
                        at: start + (at * 16_000.0) as u64,
                        sentence_end: true,
                        timed: false,
                    });
                }
            }
        }
        hypothesis
    }

    /// Puts `carried` (the words committed after the last sentence cut, which open this
    /// utterance) in front of the hypothesis, dropping what the hypothesis repeats of them.
    /// The audio from the cut may still hold the tail of the word before it ("Mr." heard again:
    /// up to [`MAX_SHIFT`] extra words at the front are dropped), all of the carried words, some
    /// of them, or none (the cut fell after them). Never fails, so an utterance cannot get
    /// stuck behind carried words that are not heard again.
    /// Returns how many of the hypothesis's own words the carried ones stood for.
    pub(super) fn carry(&mut self, carried: &[String]) -> usize {
        let n = carried.len();
        if n == 0 {
            return 0;
        }
        let same = |a: &[String], b: &[String]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| comparable(x) == comparable(y))
        };
        let words = &self.words;
        // How many words at the front of the hypothesis the carried words stand for.
        let consumed = (0..=MAX_SHIFT)
            .find(|&extra| words.len() >= extra + n && same(&words[extra..extra + n], carried))
            .map(|extra| extra + n)
            .or_else(|| {
                (1..n)
                    .rev()
                    .find(|&k| words.len() >= k && same(&words[..k], &carried[n - k..]))
            })
            .unwrap_or(0);
        let mut aligned = carried.to_vec();
        aligned.extend(self.words.drain(..).skip(consumed));
        self.words = aligned;
        self.cuts.retain_mut(|cut| {
            let kept = cut.words > consumed;
            cut.words = cut.words + n - consumed.min(cut.words);
            kept
        });
        consumed
    }
}

/// Where a piece may start and still be speech, before the end of the audio, in seconds: the
/// last word heard can start this close to it.
const END_SLACK: f64 = 0.1;

/// The pieces that were spoken. The decoder reads a window of audio followed by silence (the
/// fitted encoder window's margin) and now and then fills that silence with text of its own: a
/// phrase repeated ("He was a man. He was a man. He was a man."). Two hypotheses can agree on
/// it, and it would be committed. So a piece that starts where the audio has ended, or repeats
/// the piece before it word for word, is left out (but the first piece is always kept).
fn spoken(pieces: &[TimedText], duration: f64) -> Vec<&TimedText> {
    let text =
        |p: &TimedText| -> Vec<String> { p.text.split_whitespace().map(comparable).collect() };
    let mut kept: Vec<&TimedText> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        if let Some(previous) = kept.last()
            && (piece.start >= duration - END_SLACK || text(piece) == text(previous))
        {
            continue;
        }
        kept.push(piece);
    }
    kept
}

/// Lower-case letters and digits of a word: what two spellings of it share.
pub(super) fn comparable(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `a` and `b` are the same word, punctuation and case aside (words of punctuation
/// alone must be equal).
pub(super) fn same_word(a: &str, b: &str) -> bool {
    let (x, y) = (comparable(a), comparable(b));
    if x.is_empty() || y.is_empty() {
        a == b
    } else {
        x == y
    }
}

/// Whether `new` is `old` with punctuation added after it ("exit" -> "exit.").
pub(crate) fn extends(old: &str, new: &str) -> bool {
    new.strip_prefix(old)
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_punctuation()))
}

/// Whether `word` ends a sentence: final punctuation that is not an abbreviation's full stop
/// ("Mr.", "Dr.", "e.g.", an initial such as "J.").
pub(super) fn ends_sentence(word: &str) -> bool {
    if !word.ends_with(SENTENCE_END) {
        return false;
    }
    if !word.ends_with('.') || word.ends_with("..") {
        return true;
    }
    let stem = word.trim_end_matches('.').to_lowercase();
    let initial = stem.chars().count() == 1 || stem.contains('.');
    !(initial || ABBREVIATIONS.contains(&stem.as_str()))
}

/// Abbreviations written with a full stop that rarely ends a sentence (titles, Latin).
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "mt", "fig", "sra", "hr", "fr", "nr",
    "bzw", "ca", "usw", "vgl",
];

/// Extra words at the front of a hypothesis dropped to line it up with the carried words.
const MAX_SHIFT: usize = 2;

/// A place where the utterance could end.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    /// Words of the hypothesis before it.
    pub(super) words: usize,
    /// Where, in 16 kHz samples of the stream.
    pub(super) at: u64,
    /// Whether the text before it ends a sentence.
    pub(super) sentence_end: bool,
    /// Whether Whisper timed it (a timestamp); else it is placed by characters, less surely.
    pub(super) timed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    fn hypothesis(text: &str) -> Hypothesis {
        Hypothesis {
            words: words(text),
            cuts: vec![Cut {
                words: 3,
                at: 0,
                sentence_end: true,
                timed: true,
            }],
        }
    }

    fn piece(start: f64, end: Option<f64>, text: &str) -> TimedText {
        TimedText {
            start,
            end,
            text: text.to_string(),
        }
    }

    #[test]
    fn text_in_the_silence_after_the_audio_and_repeated_pieces_are_left_out() {
        // A 6 s utterance; the decoder went on into the silence of the window's margin.
        let pieces = [
            piece(0.0, Some(2.4), "He was not an ill-disposed young man."),
            piece(2.4, Some(3.5), "He was a man."),
            piece(3.5, Some(4.6), "He was a man."),
            piece(4.6, Some(6.0), "Had he married"),
            piece(6.0, Some(7.2), "a more amiable woman."),
            piece(7.2, None, "a more amiable woman."),
        ];
        let h = Hypothesis::from_pieces(&pieces, 0, 6.0);
        assert_eq!(
            h.words.join(" "),
            "He was not an ill-disposed young man. He was a man. Had he married"
        );
        // Cuts only where more spoken text follows.
        assert_eq!(h.cuts.iter().map(|c| c.words).collect::<Vec<_>>(), [7, 11]);
        // The first piece stays, whatever its times say.
        let late = [piece(6.0, None, "Hello.")];
        assert_eq!(Hypothesis::from_pieces(&late, 0, 6.0).words, ["Hello."]);
    }

    #[test]
    fn carried_words_open_the_utterance_whatever_its_audio_holds() {
        let carried = words("John Dashwood");
        // Heard again, with the tail of the word before the cut.
        let mut h = hypothesis("Mr. John Dashwood, had then");
        assert_eq!(h.carry(&carried), 3);
        assert_eq!(h.words, words("John Dashwood had then"));
        // The cut fell inside the carried words.
        let mut h = hypothesis("Dashwood had then");
        assert_eq!(h.carry(&carried), 1);
        assert_eq!(h.words, words("John Dashwood had then"));
        // Or after them: nothing is repeated, and the cut after three words moves along.
        let mut h = hypothesis("had then leisure to");
        assert_eq!(h.carry(&carried), 0);
        assert_eq!(h.words, words("John Dashwood had then leisure to"));
        assert_eq!(h.cuts[0].words, 5);
    }

    #[test]
    fn abbreviations_do_not_end_sentences() {
        assert!(ends_sentence("them."));
        assert!(ends_sentence("really?"));
        assert!(ends_sentence("ja!"));
        assert!(!ends_sentence("Mr."));
        assert!(!ends_sentence("Dr."));
        assert!(!ends_sentence("J."));
        assert!(!ends_sentence("e.g."));
        assert!(!ends_sentence("again,"));
    }
}
