//! # dragoman-core
//!
//! The shared vocabulary of dragoman, a speech-translation SDK for live calls: audio types,
//! languages, the engine traits every speech-to-text, translation, text-to-speech, voice activity
//! and diarization engine implements, audio file input, and the model store.
//!
//! ## Run loop and time
//!
//! Engines are sans-IO state machines ([`engine`]): push input, poll events until `None`. Time is
//! media time ([`StreamTime`], samples at a rate), carried by the input; nothing here reads a
//! clock or spawns a thread. The [`pipeline`] composes one speaker's engines the same way: a
//! session that the room, the examples and the bindings all drive.
//!
//! ## Features
//!
//! | feature  | default | what it adds |
//! |----------|---------|--------------|
//! | `decode` | yes     | [`decode`]: audio files through symphonia |
//! | `store`  | yes     | [`store`]: model catalog, cache, downloads (Hub, package registries), converters |
//!
//! An engine crate needs neither: it depends on `dragoman-core` with `default-features = false`
//! and takes an already resolved [`ModelSource`].
//!
//! ## Non-goals
//!
//! No inference (that is the engine crates, on candle), no async runtime, no networking beyond
//! the store's downloads.

pub mod audio;
#[cfg(feature = "decode")]
pub mod decode;
pub mod engine;
pub mod error;
pub mod glossary;
pub mod lang;
pub mod model_source;
pub mod pipeline;
pub mod resample;
#[cfg(feature = "store")]
pub mod store;
pub mod text;
pub mod transcript;

pub use audio::{AudioBuffer, AudioChunk, SampleRate, StreamTime};
pub use error::{AudioFileError, Error, Result};
pub use glossary::Glossary;
pub use lang::Lang;
pub use model_source::ModelSource;
pub use transcript::{Segment, Transcript};
