//! Voice activity detection: Silero VAD v6 on candle ([`silero`]) behind the sans-IO
//! [`VoiceActivity`] / [`VadSession`] traits, with the hysteresis of Silero's own
//! `get_speech_timestamps` (enter at `threshold`, leave below `threshold - 0.15` for
//! `min_silence_ms`, drop segments shorter than `min_speech_ms`, pad by `speech_pad_ms`).

pub mod silero;

use std::collections::VecDeque;

use candle_core::Device;
use dragoman_core::engine::{VadEvent, VadOptions, VadSession, VoiceActivity};
use dragoman_core::resample::ToRate;
use dragoman_core::{AudioChunk, Error, ModelSource, Result, SampleRate, StreamTime};

pub use silero::SileroVad;

/// How far below `threshold` the probability must fall to count as silence (Silero's choice).
const HYSTERESIS: f32 = 0.15;

impl SileroVad {
    /// Loads the model on the CPU.
    pub fn load_cpu(source: &ModelSource) -> Result<Self> {
        Self::load(source, &Device::Cpu)
    }

    /// Speech segments of a whole 16 kHz clip, as `(start, end)` sample positions.
    pub fn speech_segments(
        &self,
        samples: &[f32],
        options: &VadOptions,
    ) -> Result<Vec<(u64, u64)>> {
        let mut session = SileroSession::new(self.clone(), options.clone())?;
        session.push_audio(&AudioChunk::new(
            StreamTime::zero(SampleRate::HZ_16000),
            samples.to_vec(),
        ))?;
        session.finish()?;
        let mut segments = Vec::new();
        while let Some(event) = session.poll_event() {
            if let VadEvent::SpeechEnd { start, end } = event {
                segments.push((start.samples(), end.samples()));
            }
        }
        Ok(segments)
    }
}

impl VoiceActivity for SileroVad {
    fn new_session(&self, options: &VadOptions) -> Result<Box<dyn VadSession>> {
        Ok(Box::new(SileroSession::new(self.clone(), options.clone())?))
    }
}

/// One stream through Silero VAD. Audio at other rates than 16 kHz is resampled; event times are
/// at 16 kHz.
#[derive(Debug)]
pub struct SileroSession {
    model: SileroVad,
    state: silero::SileroState,
    options: VadOptions,
    to_16k: ToRate,
    /// 16 kHz samples not yet processed (less than a chunk).
    pending: Vec<f32>,
    /// 16 kHz samples processed so far.
    processed: u64,
    /// Where the current speech began (unpadded), once triggered.
    speech_start: Option<u64>,
    /// Where the probability last dropped below the silence threshold during speech.
    silence_since: Option<u64>,
    /// Whether `SpeechStart` was emitted for the current segment.
    start_emitted: bool,
    /// End of the last emitted segment, so padding never overlaps it.
    last_end: u64,
    events: VecDeque<VadEvent>,
    finished: bool,
}

impl SileroSession {
    /// A session over `model`.
    pub fn new(model: SileroVad, options: VadOptions) -> Result<Self> {
        let state = model.initial_state()?;
        Ok(Self {
            model,
            state,
            options,
            to_16k: ToRate::new(SampleRate::HZ_16000),
            pending: Vec::new(),
            processed: 0,
            speech_start: None,
            silence_since: None,
            start_emitted: false,
            last_end: 0,
            events: VecDeque::new(),
            finished: false,
        })
    }

    fn ms(&self, ms: u32) -> u64 {
        u64::from(ms) * 16
    }

    fn time(samples: u64) -> StreamTime {
        StreamTime::from_samples(samples, SampleRate::HZ_16000)
    }

    fn padded_start(&self, start: u64) -> u64 {
        start
            .saturating_sub(self.ms(self.options.speech_pad_ms))
            .max(self.last_end)
    }

    /// Runs the model over whole chunks and applies the hysteresis.
    fn process(&mut self) -> Result<()> {
        let threshold = self.options.threshold;
        let mut offset = 0;
        while self.pending.len() - offset >= silero::CHUNK {
            let chunk = &self.pending[offset..offset + silero::CHUNK];
            let p = self.model.probability(&mut self.state, chunk)?;
            let at = self.processed;
            offset += silero::CHUNK;
            self.processed += silero::CHUNK as u64;
            self.step(p, at, threshold);
        }
        self.pending.drain(..offset);
        Ok(())
    }

    fn step(&mut self, p: f32, at: u64, threshold: f32) {
        match self.speech_start {
            None if p >= threshold => {
                self.speech_start = Some(at);
                self.silence_since = None;
                self.start_emitted = false;
            }
            None => {}
            Some(start) => {
                if p >= threshold {
                    self.silence_since = None;
                } else if p < threshold - HYSTERESIS {
                    let since = *self.silence_since.get_or_insert(at);
                    if self.processed - since >= self.ms(self.options.min_silence_ms) {
                        self.close(start, since);
                        return;
                    }
                }
                // A segment is announced once it is long enough to be kept.
                if !self.start_emitted
                    && self.processed - start >= self.ms(self.options.min_speech_ms)
                {
                    self.start_emitted = true;
                    self.events.push_back(VadEvent::SpeechStart {
                        at: Self::time(self.padded_start(start)),
                    });
                }
            }
        }
    }

    /// Ends the current segment at `end` (unpadded).
    fn close(&mut self, start: u64, end: u64) {
        if end - start >= self.ms(self.options.min_speech_ms) {
            let padded_start = self.padded_start(start);
            let padded_end =
                (end + self.ms(self.options.speech_pad_ms)).min(self.processed_total());
            if !self.start_emitted {
                self.events.push_back(VadEvent::SpeechStart {
                    at: Self::time(padded_start),
                });
            }
            self.events.push_back(VadEvent::SpeechEnd {
                start: Self::time(padded_start),
                end: Self::time(padded_end),
            });
            self.last_end = padded_end;
        }
        self.speech_start = None;
        self.silence_since = None;
        self.start_emitted = false;
    }

    /// How long the speech in progress has been quiet (below the threshold), if it has: a
    /// segment ends once this reaches `min_silence_ms`. `None` outside speech or while
    /// speaking.
    pub fn pause(&self) -> Option<std::time::Duration> {
        let since = self.quiet_since()?;
        Some(Self::time(self.processed - since).as_duration())
    }

    /// Where the quiet of [`pause`](Self::pause) began, in 16 kHz samples.
    pub fn quiet_since(&self) -> Option<u64> {
        self.speech_start?;
        self.silence_since
    }

    /// All samples received so far (processed or pending).
    fn processed_total(&self) -> u64 {
        self.processed + self.pending.len() as u64
    }
}

impl VadSession for SileroSession {
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()> {
        if self.finished {
            return Err(Error::Misuse(
                "push_audio after finish; call reset to start a new stream".into(),
            ));
        }
        let samples = self.to_16k.push(chunk)?;
        self.pending.extend(samples);
        self.process()
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        let tail = self.to_16k.finish()?;
        self.pending.extend(tail);
        self.process()?;
        let total = self.processed_total();
        if !self.pending.is_empty() {
            let mut last = std::mem::take(&mut self.pending);
            let at = self.processed;
            last.resize(silero::CHUNK, 0.0);
            let p = self.model.probability(&mut self.state, &last)?;
            self.processed = total;
            self.step(p, at, self.options.threshold);
        }
        if let Some(start) = self.speech_start {
            let end = self.silence_since.unwrap_or(total);
            self.close(start, end);
        }
        self.finished = true;
        Ok(())
    }

    fn poll_event(&mut self) -> Option<VadEvent> {
        self.events.pop_front()
    }

    fn reset(&mut self) {
        if let Ok(fresh) = Self::new(self.model.clone(), self.options.clone()) {
            *self = fresh;
        }
    }
}
