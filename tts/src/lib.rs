//! # dragoman-tts
//!
//! Text-to-speech on candle (VITS voices) with an espeak-ng fallback and streaming synthesis.
//!
//! Not implemented yet: this crate holds its place in the workspace so the architecture is
//! visible from the folder tree. It exports nothing until its issue lands.

pub use dragoman_core as core;
