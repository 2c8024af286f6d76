//! # dragoman bindings
//!
//! The dragoman SDK for Python, Kotlin and Swift, through [UniFFI](https://mozilla.github.io/uniffi-rs/)
//! (proc-macro exports; the foreign sources are generated from this library's metadata by
//! `uniffi-bindgen`, see `bindings/README.md`). The adapters are thin: each object wraps an
//! engine or a session of the Rust crates, and what it does is what those crates do.
//!
//! - [`ModelStore`]: list and pull models (progress to a [`PullListener`]), or use a directory.
//! - [`Transcriber`]: a recording to a [`Transcript`] (segments, language; text, SRT, VTT, JSON).
//! - [`LiveCaptioner`] and [`CaptionSession`]: live captions of pushed PCM, at any rate.
//! - [`Translator`]: text to text, one sentence or a document's lines in context.
//! - [`Voice`]: text to speech, sentence by sentence.
//! - [`Pipeline`]: one speaker's whole translation pipeline: audio in; captions, their
//!   translations and translated speech out.
//!
//! Sessions that take audio run their model work on a thread of their own: a push returns at
//! once, events are read with a blocking [`CaptionSession::next_event`] (with a timeout) or
//! handed to a listener ([`CaptionListener`], [`PipelineListener`]) as they come, and dropping
//! the object stops its thread. Errors cross as one flat [`DragomanError`].

uniffi::setup_scaffolding!("dragoman");

mod error;
mod models;
mod pipeline;
mod speech;
mod stream;
mod transcribe;
mod translate;
mod worker;

pub use error::DragomanError;
pub use models::{ModelInfo, ModelStore, PullListener, PullProgress};
pub use pipeline::{Pipeline, PipelineEvent, PipelineListener, PipelineOptions};
pub use speech::{SpeechClip, Voice};
pub use stream::{CaptionEvent, CaptionListener, CaptionSession, LiveCaptioner};
pub use transcribe::{Segment, TranscribeOptions, Transcriber, Transcript};
pub use translate::Translator;

/// The library's version.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
