//! Diarization: who spoke when.

use crate::audio::{AudioChunk, StreamTime};
use crate::error::Result;

/// A loaded speaker model (GE2E, ...), shared by every stream.
pub trait Diarizer: Send + Sync {
    /// Starts a stream.
    fn new_session(&self, options: &DiarizationOptions) -> Result<Box<dyn DiarizationSession>>;
}

/// One audio stream (typically a mixed recording) being split by speaker.
pub trait DiarizationSession: Send {
    /// Adds contiguous mono audio at the model's rate.
    fn push_audio(&mut self, chunk: &AudioChunk) -> Result<()>;
    /// Marks the end of the stream: the last turn is closed and labels are settled.
    fn finish(&mut self) -> Result<()>;
    /// The next event, or `None` until the next push.
    fn poll_event(&mut self) -> Option<DiarizationEvent>;
    /// Drops all state, including known speakers.
    fn reset(&mut self);
}

/// A speaker label, stable within one session: 0 is the first voice heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct SpeakerId(pub u32);

/// What a diarization session reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiarizationEvent {
    /// `speaker` spoke from `start` to `end`.
    Turn {
        /// Who.
        speaker: SpeakerId,
        /// From.
        start: StreamTime,
        /// To.
        end: StreamTime,
    },
}

/// Runtime options of a diarization session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiarizationOptions {
    /// Known number of speakers. Defaults to `None`: estimate it.
    pub num_speakers: Option<u32>,
    /// Cosine similarity above which two voices are the same speaker. Defaults to 0.75.
    pub same_speaker_threshold: f32,
}

impl Default for DiarizationOptions {
    fn default() -> Self {
        Self {
            num_speakers: None,
            same_speaker_threshold: 0.75,
        }
    }
}
