//! The engine traits: the seams between dragoman's layers.
//!
//! Every engine follows one shape (sherpa-onnx, whisper-rs, moshi):
//!
//! - a **model** holds weights, loads once, is `Send + Sync`, and is shared (`Arc`) by every
//!   stream in the process;
//! - `model.new_session(options)` makes a cheap, per-stream **session**: a synchronous, sans-IO
//!   state machine driven by one verb set: `push_*` input, then `poll_event` until it returns
//!   `None`; `finish` at the end of the input flushes what is pending; `reset` starts over.
//!
//! Sessions own no threads, clocks, files or sockets. Time enters only through the
//! [`StreamTime`](crate::StreamTime) of the input, so a session fed a file runs faster than real
//! time and gives the same events on every run. The orchestrator (rtc, server, bindings) decides
//! which thread runs a session and when.

mod diarize;
mod stt;
mod translate;
mod tts;
mod vad;

pub use diarize::{DiarizationEvent, DiarizationOptions, DiarizationSession, Diarizer, SpeakerId};
pub use stt::{SpeechToText, SttEvent, SttOptions, SttSession, SttTask};
pub use translate::{
    CaptionText, TranslationEvent, TranslationOptions, TranslationSession, Translator,
};
pub use tts::{TextToSpeech, TtsEvent, TtsOptions, TtsSession, Voice};
pub use vad::{VadEvent, VadOptions, VadSession, VoiceActivity};
