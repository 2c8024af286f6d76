//! # dragoman-server
//!
//! The reference deployment of the dragoman crates: [`serve`] is `dragoman serve` (an HTTP
//! API, WebSocket signaling into rooms, the web client, storage and metrics), its rooms
//! running the engines `dragoman-engines` loads. The `dragoman` binary's other subcommands
//! (models, transcribe, translate, speak) are one-shot jobs on the same crates.

pub mod serve;
