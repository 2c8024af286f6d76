//! # dragoman-rtc
//!
//! The room: a selective forwarding unit (SFU) on the `webrtc` crate where several people talk,
//! each in their own language, and each reads captions and hears speech in theirs. The only
//! crate that imports `webrtc`.
//!
//! - [`room`]: [`Room`](room::Room) — join with a token, publish audio and video, subscribe to
//!   the others; video and audio are forwarded untouched; every published audio track gets a
//!   [`pipeline`]; captions go out over signaling and a data channel, translated speech as an
//!   extra audio track per listener language. [`RoomEvent`](room::RoomEvent)s for embedders.
//! - [`protocol`]: the signaling messages (JSON), transport-independent; `PROTOCOL.md` beside
//!   it describes the exchange. [`room::Connection`] takes them from any transport.
//! - [`client`]: a headless participant on the same stack (bots, tests, benchmarks).
//! - [`pipeline`]: one speaker's Opus packets to captions, translations and translated speech:
//!   the stages of core's pipeline session, each on a worker thread; [`audience`]: who wants which languages from whom; [`compute`]: the
//!   one gate all model work of the process passes, most urgent first.
//! - [`codec`]: Opus decode and encode (pure Rust); [`queue`]: the bounded drop-oldest queue
//!   of the media path; [`peer`]: peer connection setup.
//!
//! ## Run loop and time
//!
//! A room lives on the caller's Tokio runtime: a task per peer connection's events, per
//! forwarded track and per paced speech track, and one router for the pipelines' output. The
//! engines (speech-to-text, translation, text-to-speech) are synchronous sans-IO sessions,
//! composed by core's pipeline stages and run on each pipeline's named threads (one per stage),
//! so model work never blocks the network. A track's reader task owns its pipeline's input (a
//! drop-oldest queue), so no lock is taken per packet. Media time is the speaker's (samples
//! decoded, losses concealed); wall-clock time appears only where packets are paced (20 ms
//! translated speech frames) and in network timeouts.
//!
//! ## Non-goals (for now)
//!
//! Simulcast and bandwidth-driven layer switching, TURN relays, recording, end-to-end
//! encryption (the SFU must decode speech to caption it), rooms spanning several servers.

pub use dragoman_core as core;

pub mod audience;
pub mod client;
pub mod codec;
pub mod compute;
pub mod peer;
pub mod pipeline;
pub mod protocol;
pub mod queue;
pub mod room;
