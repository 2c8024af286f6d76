//! # dragoman-rtc
//!
//! The SFU room on the webrtc crate with a translation pipeline per speaking track.
//!
//! - [`protocol`]: the signaling messages (JSON), transport-independent; `PROTOCOL.md` beside
//!   it describes the exchange.
//! - [`codec`]: Opus decode and encode (pure Rust).
//! - [`queue`]: the bounded drop-oldest queue of the media path.
//! - [`pipeline`]: one published audio track's captions, translations and translated speech,
//!   on worker threads.
//! - [`audience`]: who wants which languages from whom.

pub use dragoman_core as core;

pub mod audience;
pub mod client;
pub mod codec;
pub mod peer;
pub mod pipeline;
pub mod protocol;
pub mod queue;
pub mod room;
