//! Live captions: a sans-IO [`SttSession`] over Whisper and Silero VAD.
//!
//! Policy: **LocalAgreement-2** (Macháček, Dabre, Bojar, "Turning Whisper into Real-Time
//! Transcription System", IJCNLP-AACL 2023; <https://github.com/ufal/whisper_streaming>). While
//! someone speaks, the utterance so far is re-transcribed every step of new audio
//! ([`StreamOptions::solo_step_ms`], or the longer [`StreamOptions::step_ms`] while other streams
//! of the same engine are in an utterance too: they share the CPU); the words on which two
//! consecutive hypotheses agree are committed and never change, the rest is the unstable tail.
//! Silero VAD ends the utterance after a pause, and the final transcription keeps the committed
//! words and appends what follows them.
//!
//! People rarely pause long enough for the VAD between sentences, so an utterance also ends where
//! Whisper closed a sentence (a timestamp after sentence-final punctuation) once its words are
//! committed and more words follow: the committed sentence becomes the final, and the utterance
//! goes on from there with the words committed after it. Past
//! [`StreamOptions::clause_cut_ms`], any phrase boundary Whisper marked will do. The cut is
//! moved to the quietest 20 ms near Whisper's timestamp, so no word is split between captions.
//!
//! A hypothesis that ends a sentence in its uncommitted words is confirmed sooner: the next
//! re-transcription comes once [`StreamOptions::confirm_after_end_ms`] of audio followed the
//! sentence end and [`StreamOptions::confirm_step_ms`] the hypothesis, rather than a full
//! step later, once per sentence; and its partial names that sentence as the expected final
//! ([`SttEvent::Partial`]'s `expected_final_len`), so that translation starts on it while the
//! confirmation is decoded. Hypotheses are compared word by word as spoken, punctuation and
//! case aside: Whisper punctuates the same words differently from one decode to the next, and
//! exact comparison held commits back until the utterance's length limit. A sentence end itself
//! must be written alike by both.
//!
//! When the speaker pauses (for 40% of the VAD's silence window), the utterance is transcribed
//! at once with the final's settings and announced as the expected final; when the pause goes
//! on to end the utterance, that transcription is the final, so the final needs no decode
//! after the pause.
//!
//! Work per push is bounded: one re-transcription at most, however much audio the push
//! carries (a caller that fell behind pushes everything it has queued in one chunk and gets one
//! decode of all of it: computation-aware streaming); each decode encodes only the utterance
//! and a margin ([`EncoderWindow::Fitted`]) and feeds the committed words in as the decoder's
//! prefix ([`DecodeOptions::prefix`]), so it samples only what is new; an utterance is at most
//! [`StreamOptions::max_utterance_ms`] long, so latency does not grow over a long session.
//! Finals are never skipped.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dragoman_core::engine::{
    SpeechToText, SttEvent, SttOptions, SttSession, VadEvent, VadOptions, VadSession,
};
use dragoman_core::resample::ToRate;
use dragoman_core::{AudioChunk, Error, Lang, Result, SampleRate, StreamTime};

use crate::vad::{SileroSession, SileroVad};
use crate::whisper::{DecodeOptions, EncoderWindow, WhisperModel};

pub(crate) mod hypothesis;

use hypothesis::{Cut, Hypothesis, comparable, ends_sentence, extends, same_word};

/// Share of the VAD's end-of-speech silence after which partial decodes wait: past it, the
/// utterance most likely ends before a partial would be useful.
const PAUSE_SKIP_PERCENT: u64 = 40;

/// Runtime options of live transcription.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// New audio between two re-transcriptions of the utterance while other streams of the
    /// same engine are in an utterance too, in ms. Defaults to 1000: with two people speaking
    /// at once on 2 cores, 750 ms left too little CPU for the finals' translations and speech,
    /// and the call fell behind (README, "Live captions on continuous speech").
    pub step_ms: u32,
    /// The same while this stream is the only one of its engine in an utterance, in ms.
    /// Defaults to 750: on continuous speech it brought the sentence-end-to-final median from
    /// 1.24-1.33 s to 0.98-1.00 s at the same word error rate for a quarter more compute, and
    /// 500 ms to 0.90-0.96 s at 2-3 points more WER (`RUNS=step scripts/bench_stream.sh 4`).
    pub solo_step_ms: u32,
    /// New audio before the re-transcription that follows one where a sentence ended in the
    /// words not yet committed, in ms: the hypothesis that can confirm the sentence (and so
    /// end its caption) comes sooner than the next regular step. Defaults to 200.
    pub confirm_step_ms: u32,
    /// Audio after that sentence's end (Whisper's timestamp) before the confirming
    /// re-transcription, in ms, when that comes later than `confirm_step_ms`: the decode
    /// hears the next words, so Whisper keeps the full stop only where a sentence ended.
    /// Defaults to 500. A sentence heard well before the end of the audio is confirmed
    /// sooner than one heard at its very end: on continuous speech 200 ms and 500 ms brought
    /// the sentence-end-to-final median from 1.23-1.29 s (a fixed 600 ms after the
    /// hypothesis) to 1.07-1.11 s, WER within the runs' noise
    /// (`RUNS=confirm CONFIRMS=200/500 scripts/bench_stream.sh 4`, figures in the README).
    pub confirm_after_end_ms: u32,
    /// Longest utterance before it is finalised without a pause, in ms. Defaults to 15000.
    pub max_utterance_ms: u32,
    /// Utterances longer than this end at any phrase boundary Whisper marked, not only at a
    /// sentence end, in ms. Defaults to 6000.
    pub clause_cut_ms: u32,
    /// The audio each decode encodes. Defaults to [`EncoderWindow::Fitted`] with a 2 s margin,
    /// at least 8 s: as accurate as the full 30 s window on continuous speech, at a quarter of
    /// its compute (`scripts/bench_stream.sh`, figures in the README).
    pub encoder_window: EncoderWindow,
    /// Voice activity settings; the pause that ends an utterance is `min_silence_ms`. Defaults to
    /// [`VadOptions::default`] (500 ms pause, 100 ms padding).
    pub vad: VadOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            step_ms: 1_000,
            solo_step_ms: 750,
            confirm_step_ms: 200,
            confirm_after_end_ms: 500,
            max_utterance_ms: 15_000,
            clause_cut_ms: 6_000,
            encoder_window: EncoderWindow::Fitted {
                margin_ms: 2_000,
                min_ms: 8_000,
            },
            vad: VadOptions::default(),
        }
    }
}

/// Whisper with Silero VAD as a [`SpeechToText`] engine: load once, open a session per stream.
#[derive(Debug, Clone)]
pub struct WhisperStt {
    whisper: WhisperModel,
    vad: SileroVad,
    options: StreamOptions,
    /// Streams of this engine (and its clones) now in an utterance: it sets each one's step.
    speaking: Arc<AtomicUsize>,
}

impl WhisperStt {
    /// The engine over loaded models.
    pub fn new(whisper: WhisperModel, vad: SileroVad, options: StreamOptions) -> Self {
        Self {
            whisper,
            vad,
            options,
            speaking: Arc::default(),
        }
    }

    /// Streams of this engine (and its clones) in an utterance now: while more than one is,
    /// each re-transcribes every [`StreamOptions::step_ms`] rather than
    /// [`StreamOptions::solo_step_ms`].
    pub fn streams_speaking(&self) -> usize {
        self.speaking.load(Ordering::Relaxed)
    }
}

impl SpeechToText for WhisperStt {
    fn languages(&self) -> Vec<Lang> {
        self.whisper.languages()
    }

    fn new_session(&self, options: &SttOptions) -> Result<Box<dyn SttSession>> {
        if let Some(lang) = options.language
            && !self.whisper.languages().contains(&lang)
        {
            return Err(Error::UnsupportedLanguagePair {
                from: lang.to_string(),
                to: "this Whisper model's languages".into(),
            });
        }
        Ok(Box::new(WhisperStream::new(self, options)?))
    }
}

/// One live stream.
#[derive(Debug)]
pub struct WhisperStream {
    whisper: WhisperModel,
    vad: SileroSession,
    stt: SttOptions,
    options: StreamOptions,
    to_16k: ToRate,
    /// 16 kHz samples kept since `kept_from` (enough to cover the VAD's padding).
    audio: Vec<f32>,
    kept_from: u64,
    /// 16 kHz samples received.
    received: u64,
    /// Where the first chunk sits in the stream (16 kHz): the session counts its samples from
    /// zero, and its events are in the stream's time, which need not start at zero (a session
    /// started mid-call, after another one failed). Set by the first push.
    origin: Option<u64>,
    utterance: Option<Utterance>,
    /// The engine's count of streams in an utterance, and whether this one is counted in it.
    speaking: Arc<AtomicUsize>,
    counted: bool,
    events: VecDeque<SttEvent>,
    finished: bool,
}

/// The utterance being spoken.
#[derive(Debug)]
struct Utterance {
    start: u64,
    lang: Option<(Lang, Option<f32>)>,
    committed: Vec<String>,
    previous: Vec<String>,
    /// The words committed after the sentence cut that started this utterance: it opens
    /// with them, whatever its audio is heard as.
    carried: Vec<String>,
    /// The tokens of the last decode, and its words before the carried ones were put in
    /// front (of which the carried words stood for the first `consumed`).
    decoded: Vec<u32>,
    raw_words: Vec<String>,
    consumed: usize,
    /// Samples covered by the last re-transcription.
    decoded_until: u64,
    /// Where the confirming re-transcription runs (in samples received), when the last one (a
    /// regular one) heard a sentence end past the committed words; else after a full step.
    confirm_at: Option<u64>,
    /// What the utterance was heard as once the speaker last paused.
    pause: Option<Pause>,
}

/// The utterance's words when the speaker paused: announced as the expected final.
#[derive(Debug)]
struct Pause {
    /// Where the quiet began, in samples.
    quiet_since: u64,
    /// Samples the transcription covered.
    until: u64,
    /// The final's words as that transcription has them.
    words: Vec<String>,
    /// Whether it was decoded with the final's settings: then it is the final, when the
    /// utterance ends in the quiet it heard (between `quiet_since` and `until`).
    reusable: bool,
}

/// Gives the committed word at `index` the punctuation that `words` (a newer hypothesis) added
/// to it ("exit" -> "exit."); any other difference leaves it as it is.
fn punctuate(committed: &mut [String], words: &[String], index: usize) {
    if let (Some(old), Some(new)) = (committed.get_mut(index), words.get(index))
        && extends(old, new)
    {
        old.clone_from(new);
    }
}

/// Audio kept before the current utterance, for the VAD's padding.
const LOOKBACK: u64 = 16_000;

/// How far before and after Whisper's timestamp a sentence cut looks for a pause, in 16 kHz
/// samples (300 ms before, 50 ms after). A cut too early leaves the sentence's last word to be
/// heard again after it (and dropped, see [`Hypothesis::carry`]); a cut too late could swallow
/// a short word of the next sentence.
const CUT_SEARCH: (u64, u64) = (4_800, 800);

/// The same for a sentence end placed by its share of a piece's characters (400 ms either
/// way).
const UNTIMED_CUT_SEARCH: (u64, u64) = (6_400, 6_400);

/// Tokens a decode may sample: this many, plus [`MAX_TOKENS_PER_SECOND`] per second of audio.
const MAX_TOKENS_BASE: usize = 16;
/// See [`MAX_TOKENS_BASE`].
const MAX_TOKENS_PER_SECOND: usize = 10;

/// The shortest audio decoded for a final (100 ms): less holds no word.
const MIN_DECODE: u64 = 1_600;

impl WhisperStream {
    fn new(engine: &WhisperStt, stt: &SttOptions) -> Result<Self> {
        Ok(Self {
            whisper: engine.whisper.clone(),
            vad: SileroSession::new(engine.vad.clone(), engine.options.vad.clone())?,
            stt: stt.clone(),
            options: engine.options.clone(),
            to_16k: ToRate::new(SampleRate::HZ_16000),
            audio: Vec::new(),
            kept_from: 0,
            received: 0,
            origin: None,
            utterance: None,
            speaking: Arc::clone(&engine.speaking),
            counted: false,
            events: VecDeque::new(),
            finished: false,
        })
    }

    fn time(samples: u64) -> StreamTime {
        StreamTime::from_samples(samples, SampleRate::HZ_16000)
    }

    /// The stream's time `samples` into this session.
    fn media(&self, samples: u64) -> StreamTime {
        Self::time(self.origin.unwrap_or_default() + samples)
    }

    fn samples(&self, from: u64, to: u64) -> &[f32] {
        let a = from.saturating_sub(self.kept_from) as usize;
        let b = (to.saturating_sub(self.kept_from) as usize).min(self.audio.len());
        &self.audio[a.min(b)..b]
    }

    /// A transcription of `[start, end)`; detects the language once per utterance.
    fn hypothesis(&mut self, start: u64, end: u64, final_pass: bool) -> Result<Hypothesis> {
        let language = self
            .utterance
            .as_ref()
            .and_then(|u| u.lang)
            .map(|(l, _)| l)
            .or(self.stt.language);
        let mut options = DecodeOptions {
            task: self.stt.task,
            language,
            condition_on_previous_text: false,
            ..DecodeOptions::default()
        };
        if !final_pass {
            // Partials are redone a second later anyway: one greedy pass bounds the work.
            options.temperatures = vec![0.0];
        }
        // Nobody says more than about 7 tokens a second: a longer answer is a repetition loop,
        // and letting it run to Whisper's 224 tokens costs seconds.
        let seconds = (end - start) as usize / 16_000;
        options.sample_len = (MAX_TOKENS_BASE + MAX_TOKENS_PER_SECOND * seconds).min(224);
        // What is committed is not decoded again, token by token: it goes in as a prefix.
        options.prefix = self.committed_prefix();
        let window = self.options.encoder_window;
        let samples = self.samples(start, end).to_vec();
        let transcript =
            self.whisper
                .decoder()
                .transcribe_utterance(&samples, window, &[], &options)?;
        if let Some(u) = &mut self.utterance
            && u.lang.is_none()
            && !transcript.pieces.is_empty()
        {
            u.lang = Some((transcript.language, transcript.language_probability));
        }
        let duration = (end - start) as f64 / 16_000.0;
        let mut hypothesis = Hypothesis::from_pieces(&transcript.pieces, start, duration);
        if let Some(u) = &mut self.utterance {
            u.raw_words = hypothesis.words.clone();
            u.decoded = transcript.tokens;
            u.consumed = hypothesis.carry(&u.carried);
        }
        Ok(hypothesis)
    }

    /// The tokens of the last decode that spell the utterance's committed words (less the
    /// carried ones that its audio did not hold); empty when there are none or they cannot
    /// be found.
    fn committed_prefix(&self) -> Vec<u32> {
        let Some(u) = &self.utterance else {
            return Vec::new();
        };
        let raw = (u.committed.len() + u.consumed).saturating_sub(u.carried.len());
        if raw == 0 || raw > u.raw_words.len() {
            return Vec::new();
        }
        let words = &u.raw_words[..raw];
        // The longest run of tokens whose text is exactly those words (punctuation and a
        // closing timestamp after the last one included).
        let mut end = None;
        // Each word takes a token at least, so the search starts there.
        for i in raw.max(1)..=u.decoded.len() {
            let Ok(text) = self.whisper.detokenize(&u.decoded[..i]) else {
                break;
            };
            let spelled: Vec<&str> = text.split_whitespace().collect();
            if spelled.len() > raw {
                break;
            }
            if spelled.len() == raw
                && spelled
                    .iter()
                    .zip(words)
                    .all(|(a, b)| comparable(a) == comparable(b))
            {
                end = Some(i);
            }
        }
        end.map_or_else(Vec::new, |end| u.decoded[..end].to_vec())
    }

    fn start_utterance(&mut self, at: u64) {
        self.utterance = Some(Utterance {
            start: at,
            lang: None,
            committed: Vec::new(),
            previous: Vec::new(),
            carried: Vec::new(),
            decoded: Vec::new(),
            raw_words: Vec::new(),
            consumed: 0,
            decoded_until: at,
            confirm_at: None,
            pause: None,
        });
    }

    /// Re-transcribes the utterance and emits a partial (LocalAgreement-2), or a final when a
    /// committed sentence can end it.
    fn update(&mut self) -> Result<()> {
        let Some(u) = &self.utterance else {
            return Ok(());
        };
        let (start, end) = (u.start, self.received);
        let hypothesis = self.hypothesis(start, end, false)?;
        let words = &hypothesis.words;
        let Some(u) = &mut self.utterance else {
            return Ok(());
        };
        u.decoded_until = end;
        // Words are compared as spoken: Whisper writes the same words with other punctuation
        // from one decode to the next ("exit" once the next word is heard becomes "exit."),
        // and exact comparison would hold the commits back until the utterance's length limit.
        let consistent = words.len() >= u.committed.len()
            && words.iter().zip(&u.committed).all(|(a, b)| same_word(a, b));
        if consistent {
            // The last committed word takes the punctuation Whisper added to it: the committed
            // text only grows.
            let last = u.committed.len().wrapping_sub(1);
            punctuate(&mut u.committed, words, last);
            // Commit what this hypothesis and the previous one agree on, past what is committed,
            // as this one writes it (the previous one closed a sentence at the end of the audio
            // it had more often than not).
            let agreed = words
                .iter()
                .zip(&u.previous)
                .take_while(|(a, b)| same_word(a, b))
                .count();
            if agreed > u.committed.len() {
                u.committed
                    .extend_from_slice(&words[u.committed.len()..agreed]);
            }
        }
        let tail: Vec<String> = if consistent {
            words[u.committed.len()..].to_vec()
        } else {
            // The new hypothesis rewrote committed words: keep them and show nothing unstable
            // until the hypotheses agree again.
            Vec::new()
        };
        let previous = std::mem::replace(&mut u.previous, words.clone());
        let hurried = u.confirm_at.take().is_some();
        let mut expected_final = None;
        if consistent {
            let long = end - u.start >= u64::from(self.options.clause_cut_ms) * 16;
            let cuts = || hypothesis.cuts.iter().filter(|c| c.sentence_end || long);
            // A cut both hypotheses made: its last word ends the phrase alike in both
            // (Whisper often closes a sentence at the end of the audio it was given, and takes
            // the full stop back once it hears more).
            let confirmed = |c: &&Cut| {
                let last = c.words.wrapping_sub(1);
                c.words <= u.committed.len() && previous.get(last) == words.get(last)
            };
            if let Some(cut) = cuts().rev().find(confirmed) {
                // The sentence's last word as this hypothesis ends it ("exit" -> "exit.").
                punctuate(&mut u.committed, words, cut.words.wrapping_sub(1));
                return self.cut(*cut);
            }
            // The sentence the next decode will most likely commit, and so make final: its
            // words, as this hypothesis has them (the final is what two hypotheses agree on).
            let expected = cuts().find(|c| c.words > u.committed.len());
            expected_final = expected
                .and_then(|c| words.get(u.committed.len()..c.words))
                .map(|rest| [&u.committed[..], rest].concat().join(" ").len());
            // Hurried once per sentence at most: hypotheses that keep disagreeing are not
            // decoded faster and faster.
            if !hurried && let Some(cut) = expected.filter(|_| expected_final.is_some()) {
                let after_end = cut.at + u64::from(self.options.confirm_after_end_ms) * 16;
                let after_step = end + u64::from(self.options.confirm_step_ms) * 16;
                u.confirm_at = Some(after_end.max(after_step));
            }
        }
        self.emit_partial(&tail, expected_final);
        Ok(())
    }

    /// Ends the utterance at `cut`: its committed words before the cut are the final; the
    /// utterance goes on from the cut with the rest.
    fn cut(&mut self, cut: Cut) -> Result<()> {
        let Some(u) = &self.utterance else {
            return Ok(());
        };
        let search = if cut.timed {
            CUT_SEARCH
        } else {
            UNTIMED_CUT_SEARCH
        };
        let at = self.quietest_near(cut.at, u.start, search);
        let Some(mut u) = self.utterance.take() else {
            return Ok(());
        };
        let rest = u.committed.split_off(cut.words);
        let (lang, lang_probability) = u
            .lang
            .unwrap_or((self.stt.language.unwrap_or(Lang::EN), None));
        let (start, end) = (self.media(u.start), self.media(at));
        self.events.push_back(SttEvent::Final {
            text: u.committed.join(" "),
            start,
            end,
            lang,
            lang_probability,
        });
        let previous = u.previous.split_off(cut.words.min(u.previous.len()));
        self.utterance = Some(Utterance {
            start: at,
            lang: u.lang,
            carried: rest.clone(),
            committed: rest,
            previous,
            // Its times were the old utterance's: no prefix until this one is decoded.
            decoded: Vec::new(),
            raw_words: Vec::new(),
            consumed: 0,
            decoded_until: u.decoded_until,
            confirm_at: None,
            pause: None,
        });
        self.emit_partial(&[], None);
        self.trim_before(at);
        Ok(())
    }

    /// The middle of the quietest 20 ms within `search` (before, after) of `at`, and after
    /// `floor`. Whisper's timestamps are 20 ms steps of a model's guess; the pause between two
    /// words is where a cut loses nothing.
    fn quietest_near(&self, at: u64, floor: u64, search: (u64, u64)) -> u64 {
        const FRAME: u64 = 320;
        let from = at.saturating_sub(search.0).max(floor + FRAME);
        let to = (at + search.1).min(self.received);
        let mut best = (f32::INFINITY, at.clamp(floor, self.received));
        let mut frame = from;
        while frame + FRAME <= to {
            let energy: f32 = self
                .samples(frame, frame + FRAME)
                .iter()
                .map(|v| v * v)
                .sum();
            if energy < best.0 {
                best = (energy, frame + FRAME / 2);
            }
            frame += FRAME / 2;
        }
        best.1
    }

    /// A partial of the utterance: its committed words, then `tail`; `expected_final_len`
    /// bytes of it are probably the final.
    fn emit_partial(&mut self, tail: &[String], expected_final_len: Option<usize>) {
        let Some(u) = &self.utterance else {
            return;
        };
        let stable = u.committed.join(" ");
        let text = [stable.as_str(), &tail.join(" ")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() {
            self.events.push_back(SttEvent::Partial {
                expected_final_len: expected_final_len.filter(|&n| n <= text.len()),
                text,
                stable_prefix_len: stable.len(),
                start: self.media(u.start),
            });
        }
    }

    /// The utterance's final words if `words` transcribe it: the committed words, then what
    /// follows them in `words`.
    fn final_words(&self, words: &[String]) -> Vec<String> {
        let mut all = self
            .utterance
            .as_ref()
            .map(|u| u.committed.clone())
            .unwrap_or_default();
        let skip =
            if words.len() >= all.len() && words.iter().zip(&all).all(|(a, b)| same_word(a, b)) {
                all.len()
            } else {
                // Align on the committed words' count: committed text never changes.
                all.len().min(words.len())
            };
        all.extend_from_slice(&words[skip..]);
        all
    }

    /// Once the speaker paused: the utterance's words so far are most likely the final. They
    /// are kept for it (so the final needs no decode of its own when the pause ends the
    /// utterance), and a partial says so at once, so translation can start. A decode made
    /// since the quiet began heard them all; otherwise the utterance is transcribed now, with
    /// the final's settings.
    fn on_pause(&mut self, quiet_since: u64) -> Result<()> {
        let Some(u) = &self.utterance else {
            return Ok(());
        };
        let start = u.start;
        // A partial decode heard the whole utterance: announced, but the final is decoded with
        // its own settings at the end of the pause, as usual.
        let (words, reusable) = if u.decoded_until > quiet_since {
            (u.previous.clone(), false)
        } else if self.received - start >= MIN_DECODE {
            let end = self.received;
            let words = self.hypothesis(start, end, true)?.words;
            if let Some(u) = &mut self.utterance {
                u.decoded_until = end;
            }
            (words, true)
        } else {
            return Ok(());
        };
        let all = self.final_words(&words);
        let sentence_ended = reusable && all.last().is_some_and(|w| ends_sentence(w));
        let Some(u) = &mut self.utterance else {
            return Ok(());
        };
        let text = all.join(" ");
        let stable_prefix_len = u.committed.join(" ").len();
        u.pause = Some(Pause {
            quiet_since,
            until: u.decoded_until,
            words: all,
            reusable,
        });
        if sentence_ended {
            return self.end_at_pause(quiet_since);
        }
        if !text.is_empty() {
            self.events.push_back(SttEvent::Partial {
                expected_final_len: Some(text.len()),
                text,
                stable_prefix_len,
                start: self.media(start),
            });
        }
        Ok(())
    }

    /// Ends the utterance where the speaker paused after a sentence: the pause's transcription
    /// (the final's settings) is its final now, without waiting for the rest of the VAD's
    /// silence window. Should the speaker go on within that window, a new utterance starts at
    /// the pause (one that stays empty ends without a final).
    fn end_at_pause(&mut self, quiet_since: u64) -> Result<()> {
        let Some(lang) = self.utterance.as_ref().map(|u| u.lang) else {
            return Ok(());
        };
        let pad = u64::from(self.options.vad.speech_pad_ms) * 16;
        let end = (quiet_since + pad).min(self.received);
        self.finalise(end)?;
        self.start_utterance(end);
        if let Some(next) = &mut self.utterance {
            next.lang = lang;
        }
        Ok(())
    }

    /// Drops audio before `at` but for the look-back.
    fn trim_before(&mut self, at: u64) {
        let keep_from = at.saturating_sub(LOOKBACK).max(self.kept_from);
        self.audio.drain(..(keep_from - self.kept_from) as usize);
        self.kept_from = keep_from;
    }

    /// Final transcription of the utterance `[start, end)`: committed words, then the rest
    /// (as transcribed when the speaker paused, if that covered `end`).
    fn finalise(&mut self, end: u64) -> Result<()> {
        let Some(u) = &mut self.utterance else {
            return Ok(());
        };
        let start = u.start;
        // The VAD's end can fall before a sentence cut made just before the pause.
        let end = end.max(start);
        let paused = u
            .pause
            .take()
            .filter(|p| p.reusable && (p.quiet_since..=p.until).contains(&end));
        let all = match paused {
            Some(pause) => pause.words,
            // Too short to hold a word that is not committed yet (a cut just before the pause).
            None if end.saturating_sub(start) < MIN_DECODE => u.committed.clone(),
            None => {
                let words = self.hypothesis(start, end, true)?.words;
                self.final_words(&words)
            }
        };
        let Some(u) = self.utterance.take() else {
            return Ok(());
        };
        let (lang, lang_probability) = u
            .lang
            .unwrap_or((self.stt.language.unwrap_or(Lang::EN), None));
        if !all.is_empty() {
            self.events.push_back(SttEvent::Final {
                text: all.join(" "),
                start: self.media(start),
                end: self.media(end),
                lang,
                lang_probability,
            });
        }
        // Audio before the end of this utterance is no longer needed (but for the look-back).
        self.trim_before(end);
        Ok(())
    }

    /// Ends the utterance every [`StreamOptions::max_utterance_ms`] before `until` (a speaker
    /// who never pauses where a cut could go, or a push of many seconds at once), so that no
    /// decode covers more than that.
    fn close_long(&mut self, until: u64) -> Result<()> {
        let max = u64::from(self.options.max_utterance_ms) * 16;
        while let Some(u) = &self.utterance
            && until.saturating_sub(u.start) >= max
        {
            let end = u.start + max;
            self.finalise(end)?;
            self.start_utterance(end);
        }
        Ok(())
    }

    /// Takes 16 kHz audio into the VAD and the utterance buffer.
    fn ingest(&mut self, samples: Vec<f32>) -> Result<()> {
        self.vad
            .push_audio(&AudioChunk::new(Self::time(self.received), samples.clone()))?;
        self.received += samples.len() as u64;
        self.audio.extend(samples);
        Ok(())
    }

    /// Whether the speaker has paused long enough that the utterance is probably ending: a
    /// partial decode now would only delay the final, which follows within the rest of the
    /// VAD's silence window (and the partial runs after all if the speaker goes on).
    fn pausing(&self) -> bool {
        let window = u64::from(self.options.vad.min_silence_ms);
        self.vad
            .pause()
            .is_some_and(|p| p.as_millis() as u64 >= window * PAUSE_SKIP_PERCENT / 100)
    }

    /// Counts this stream in its engine's streams in an utterance while it is in one.
    fn count_speaking(&mut self) {
        let speaking = self.utterance.is_some();
        if speaking != self.counted {
            if speaking {
                self.speaking.fetch_add(1, Ordering::Relaxed);
            } else {
                self.speaking.fetch_sub(1, Ordering::Relaxed);
            }
            self.counted = speaking;
        }
    }

    /// Samples received when `u` is transcribed again: a step after the last decode (a shorter
    /// one while no other stream of the engine is in an utterance), or sooner to confirm a
    /// sentence end.
    fn next_decode(&self, u: &Utterance) -> u64 {
        let ms = if self.speaking.load(Ordering::Relaxed) > 1 {
            self.options.step_ms
        } else {
            self.options.solo_step_ms
        };
        let step = u.decoded_until + u64::from(ms) * 16;
        u.confirm_at.map_or(step, |at| at.min(step))
    }

    /// Reacts to VAD events and the passage of (media) time.
    fn drive(&mut self) -> Result<()> {
        while let Some(event) = self.vad.poll_event() {
            match event {
                VadEvent::SpeechStart { at } if self.utterance.is_none() => {
                    self.start_utterance(at.samples())
                }
                VadEvent::SpeechEnd { end, .. } => {
                    self.close_long(end.samples())?;
                    self.finalise(end.samples())?;
                }
                _ => {}
            }
        }
        self.close_long(self.received)?;
        // Utterances end and start above; past here one may be cut and go on, never end.
        self.count_speaking();
        // One re-transcription per push, however much audio it brought.
        if let Some(u) = &self.utterance {
            if self.pausing() {
                let quiet_since = self.vad.quiet_since().unwrap_or(self.received);
                // Once per pause.
                if u.pause.as_ref().is_none_or(|p| p.until <= quiet_since) {
                    self.on_pause(quiet_since)?;
                }
            } else if self.received >= self.next_decode(u) {
                self.update()?;
            }
        }
        if self.utterance.is_none() {
            self.trim_before(self.received);
        }
        Ok(())
    }
}

impl Drop for WhisperStream {
    fn drop(&mut self) {
        self.utterance = None;
        self.count_speaking();
    }
}

impl SttSession for WhisperStream {
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()> {
        if self.finished {
            return Err(Error::Misuse(
                "push_audio after finish; call reset to start a new stream".into(),
            ));
        }
        self.origin
            .get_or_insert_with(|| chunk.start.at_rate(SampleRate::HZ_16000).samples());
        let samples = self.to_16k.push(chunk)?;
        self.ingest(samples)?;
        self.drive()
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        let tail = self.to_16k.finish()?;
        self.ingest(tail)?;
        self.vad.finish()?;
        self.drive()?;
        if self.utterance.is_some() {
            let end = self.received;
            self.finalise(end)?;
        }
        self.count_speaking();
        self.finished = true;
        Ok(())
    }

    fn poll_event(&mut self) -> Option<SttEvent> {
        self.events.pop_front()
    }

    fn reset(&mut self) {
        self.vad.reset();
        self.to_16k = ToRate::new(SampleRate::HZ_16000);
        self.audio.clear();
        self.kept_from = 0;
        self.received = 0;
        self.origin = None;
        self.utterance = None;
        self.count_speaking();
        self.events.clear();
        self.finished = false;
    }
}
