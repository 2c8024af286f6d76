//! # dragoman-stt
//!
//! Speech-to-text on candle: Whisper ([`whisper`]) with the decoding safeguards of the reference
//! implementation (temperature fallback, compression-ratio and log-probability checks, no-speech
//! detection, timestamp rules), language identification, and file transcription.
//!
//! ## Run loop and time
//!
//! Everything here is synchronous and owns no threads; time is the position in the audio
//! (samples at 16 kHz). Load a [`whisper::WhisperModel`] once (it is `Clone`, sharing weights),
//! make a [`whisper::decode::Decoder`] per stream.
//!
//! ## Status
//!
//! | part | state |
//! |------|-------|
//! | Whisper, float weights, file transcription, language ID, translate task | here |
//! | Silero VAD v6 on candle, as a sans-IO `VadSession` | here |
//! | live captions: a sans-IO `SttSession` with LocalAgreement-2 stable partials ([`stream`]) | here |
//! | live captions on continuous speech: finals at sentence ends, one decode per push (computation-aware), encoder window fitted to the utterance, committed words as a decoder prefix | here |
//! | 8- and 4-bit weights (`whisper-base-q8`, `-q4`, quantized at load) | here |
//!
//! ## Non-goals
//!
//! Downloading models (the store in `dragoman-core` does that), audio I/O, threads.

pub mod eval;
mod ops;
pub mod stream;
pub mod vad;
pub mod whisper;

pub use dragoman_core as core;
