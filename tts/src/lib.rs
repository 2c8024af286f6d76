//! # dragoman-tts
//!
//! Text-to-speech: translated captions spoken in the listener's language.
//!
//! - [`session`]: the streaming session every voice shares. Text arrives in pieces; each
//!   sentence is normalised ([`normalize`]: abbreviations, dates) and spoken as soon as it is
//!   complete, so the first audio comes out before the paragraph is done.
//! - [`espeak`]: espeak-ng, run as a program (GPL: never linked), the fallback voice for every
//!   language without a neural voice.
//! - [`vits`]: VITS on candle, the architecture of the neural voices: [`piper`] voices (VITS
//!   weights, their phoneme table, espeak-ng phonemization) and [`mms`] voices (MMS-TTS,
//!   transformers checkpoints that read characters).
//! - [`engine`]: which voice speaks which language, behind the SDK's
//!   [`TextToSpeech`](dragoman_core::engine::TextToSpeech) trait.
//!
//! Sans-IO like the rest of the SDK: a session synthesises when text is pushed, on the
//! caller's thread, and hands out audio when polled.

pub use dragoman_core as core;
pub use dragoman_core::{Error, Result};

pub mod engine;
pub mod espeak;
pub mod mms;
pub mod normalize;
pub mod piper;
pub mod session;
pub mod vits;
