//! Live captions: a sans-IO [`SttSession`] over Whisper and Silero VAD.
//!
//! Policy: **LocalAgreement-2** (Macháček, Dabre, Bojar, "Turning Whisper into Real-Time
//! Transcription System", IJCNLP-AACL 2023; <https://github.com/ufal/whisper_streaming>). While
//! someone speaks, the utterance so far is re-transcribed every [`StreamOptions::step_ms`] of new
//! audio; the words on which two consecutive hypotheses agree are committed and never change, the
//! rest is the unstable tail. Silero VAD ends the utterance after a pause, and the final
//! transcription keeps the committed words and appends what follows them.
//!
//! Work per push is bounded: the utterance is at most [`StreamOptions::max_utterance_ms`] long
//! (then it is finalised and a new one starts), so one decode never covers more than one Whisper
//! window and latency does not grow over a long session.

use std::collections::VecDeque;

use dragoman_core::engine::{
    SpeechToText, SttEvent, SttOptions, SttSession, VadEvent, VadOptions, VadSession,
};
use dragoman_core::resample::ToRate;
use dragoman_core::{AudioChunk, Error, Lang, Result, SampleRate, StreamTime};

use crate::vad::{SileroSession, SileroVad};
use crate::whisper::{DecodeOptions, WhisperModel};

/// Share of the VAD's end-of-speech silence after which partial decodes wait: past it, the
/// utterance most likely ends before a partial would be useful.
const PAUSE_SKIP_PERCENT: u64 = 40;

/// Runtime options of live transcription.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// New audio between two re-transcriptions of the utterance, in ms. Defaults to 1000.
    pub step_ms: u32,
    /// Longest utterance before it is finalised without a pause, in ms. Defaults to 20000.
    pub max_utterance_ms: u32,
    /// Voice activity settings; the pause that ends an utterance is `min_silence_ms`. Defaults to
    /// [`VadOptions::default`] (500 ms pause, 100 ms padding).
    pub vad: VadOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            step_ms: 1_000,
            max_utterance_ms: 20_000,
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
}

impl WhisperStt {
    /// The engine over loaded models.
    pub fn new(whisper: WhisperModel, vad: SileroVad, options: StreamOptions) -> Self {
        Self {
            whisper,
            vad,
            options,
        }
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
    utterance: Option<Utterance>,
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
    /// Samples covered by the last re-transcription.
    decoded_until: u64,
}

/// Audio kept before the current utterance, for the VAD's padding.
const LOOKBACK: u64 = 16_000;

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
            utterance: None,
            events: VecDeque::new(),
            finished: false,
        })
    }

    fn time(samples: u64) -> StreamTime {
        StreamTime::from_samples(samples, SampleRate::HZ_16000)
    }

    fn samples(&self, from: u64, to: u64) -> &[f32] {
        let a = from.saturating_sub(self.kept_from) as usize;
        let b = (to.saturating_sub(self.kept_from) as usize).min(self.audio.len());
        &self.audio[a.min(b)..b]
    }

    /// Words of a transcription of `[start, end)`; detects the language once per utterance.
    fn hypothesis(&mut self, start: u64, end: u64, final_pass: bool) -> Result<Vec<String>> {
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
        let chunk = AudioChunk::new(Self::time(start), self.samples(start, end).to_vec());
        let transcript = self.whisper.decoder().transcribe(&chunk, &options)?;
        if let Some(u) = &mut self.utterance
            && u.lang.is_none()
            && !transcript.segments.is_empty()
        {
            u.lang = Some((transcript.language, transcript.language_probability));
        }
        Ok(transcript
            .text
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    fn start_utterance(&mut self, at: u64) {
        self.utterance = Some(Utterance {
            start: at,
            lang: None,
            committed: Vec::new(),
            previous: Vec::new(),
            decoded_until: at,
        });
    }

    /// Re-transcribes the utterance and emits a partial (LocalAgreement-2).
    fn update(&mut self) -> Result<()> {
        let Some(u) = &self.utterance else {
            return Ok(());
        };
        let (start, end) = (u.start, self.received);
        let words = self.hypothesis(start, end, false)?;
        let Some(u) = &mut self.utterance else {
            return Ok(());
        };
        u.decoded_until = end;
        // Commit what this hypothesis and the previous one agree on, past what is committed.
        let agreed = words
            .iter()
            .zip(&u.previous)
            .take_while(|(a, b)| a == b)
            .count();
        if agreed > u.committed.len() && words[..u.committed.len()] == u.committed[..] {
            u.committed = words[..agreed].to_vec();
        }
        let tail: Vec<String> =
            if words.len() >= u.committed.len() && words[..u.committed.len()] == u.committed[..] {
                words[u.committed.len()..].to_vec()
            } else {
                // The new hypothesis rewrote committed words: keep them and show nothing unstable
                // until the hypotheses agree again.
                Vec::new()
            };
        u.previous = words;
        let stable = u.committed.join(" ");
        let text = [stable.as_str(), &tail.join(" ")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() {
            self.events.push_back(SttEvent::Partial {
                text,
                stable_prefix_len: stable.len(),
                start: Self::time(u.start),
            });
        }
        Ok(())
    }

    /// Final transcription of the utterance `[start, end)`: committed words, then the rest.
    fn finalise(&mut self, end: u64) -> Result<()> {
        let Some(u) = &self.utterance else {
            return Ok(());
        };
        let start = u.start;
        let words = self.hypothesis(start, end, true)?;
        let Some(u) = self.utterance.take() else {
            return Ok(());
        };
        let mut all = u.committed.clone();
        let skip = if words.len() >= all.len() && words[..all.len()] == all[..] {
            all.len()
        } else {
            // Align on the committed words' count: committed text never changes.
            all.len().min(words.len())
        };
        all.extend(words[skip..].iter().cloned());
        let (lang, lang_probability) = u
            .lang
            .unwrap_or((self.stt.language.unwrap_or(Lang::EN), None));
        if !all.is_empty() {
            self.events.push_back(SttEvent::Final {
                text: all.join(" "),
                start: Self::time(start),
                end: Self::time(end),
                lang,
                lang_probability,
            });
        }
        // Audio before the end of this utterance is no longer needed (but for the look-back).
        let keep_from = end.saturating_sub(LOOKBACK).max(self.kept_from);
        self.audio.drain(..(keep_from - self.kept_from) as usize);
        self.kept_from = keep_from;
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

    /// Reacts to VAD events and the passage of (media) time.
    fn drive(&mut self) -> Result<()> {
        while let Some(event) = self.vad.poll_event() {
            match event {
                VadEvent::SpeechStart { at } if self.utterance.is_none() => {
                    self.start_utterance(at.samples())
                }
                VadEvent::SpeechEnd { end, .. } => self.finalise(end.samples())?,
                _ => {}
            }
        }
        let step = u64::from(self.options.step_ms) * 16;
        let max = u64::from(self.options.max_utterance_ms) * 16;
        if let Some(u) = &self.utterance {
            if self.received - u.start >= max {
                // Too long without a pause: close it here and carry on with a new one.
                let end = self.received;
                self.finalise(end)?;
                self.start_utterance(end);
            } else if self.received - u.decoded_until >= step && !self.pausing() {
                self.update()?;
            }
        }
        if self.utterance.is_none() {
            let keep_from = self.received.saturating_sub(LOOKBACK).max(self.kept_from);
            self.audio.drain(..(keep_from - self.kept_from) as usize);
            self.kept_from = keep_from;
        }
        Ok(())
    }
}

impl SttSession for WhisperStream {
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()> {
        if self.finished {
            return Err(Error::Misuse(
                "push_audio after finish; call reset to start a new stream".into(),
            ));
        }
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
        self.utterance = None;
        self.events.clear();
        self.finished = false;
    }
}
