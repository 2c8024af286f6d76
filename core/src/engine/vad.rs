//! Voice activity detection: where is someone speaking?

use crate::audio::{AudioChunk, StreamTime};
use crate::error::Result;

/// A loaded voice activity model (Silero VAD, an energy detector, ...).
pub trait VoiceActivity: Send + Sync {
    /// Starts a stream.
    fn new_session(&self, options: &VadOptions) -> Result<Box<dyn VadSession>>;
}

/// One audio stream being segmented into speech and silence.
pub trait VadSession: Send {
    /// Adds contiguous mono audio at the model's rate.
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()>;
    /// Marks the end of the stream: an open speech segment is closed.
    fn finish(&mut self) -> Result<()>;
    /// The next event, or `None` until the next push.
    fn poll_event(&mut self) -> Option<VadEvent>;
    /// Drops all state.
    fn reset(&mut self);
}

/// Speech boundaries, with hysteresis already applied.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VadEvent {
    /// Speech began at `at` (padding included).
    SpeechStart {
        /// Start of speech.
        at: StreamTime,
    },
    /// Speech that began at `start` ended at `end`.
    SpeechEnd {
        /// Start of the segment.
        start: StreamTime,
        /// End of the segment (padding included).
        end: StreamTime,
    },
}

/// Runtime options of a VAD session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VadOptions {
    /// Speech probability above which a frame is speech. Defaults to 0.5 (Silero's default).
    pub threshold: f32,
    /// Silence needed to end a segment, in ms. Defaults to 500.
    pub min_silence_ms: u32,
    /// Segments shorter than this are dropped, in ms. Defaults to 250.
    pub min_speech_ms: u32,
    /// Padding added on both sides of a segment, in ms. Defaults to 100.
    pub speech_pad_ms: u32,
}

impl Default for VadOptions {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_silence_ms: 500,
            min_speech_ms: 250,
            speech_pad_ms: 100,
        }
    }
}
