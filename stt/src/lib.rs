//! # dragoman-stt
//!
//! Speech-to-text: Whisper on candle, streaming captions, VAD, language identification, diarization.
//!
//! Not implemented yet: this crate holds its place in the workspace so the architecture is
//! visible from the folder tree. It exports nothing until its issue lands.

pub use dragoman_core as core;
