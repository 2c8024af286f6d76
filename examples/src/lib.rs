//! Runnable examples of the dragoman SDK; see the `[[example]]` entries in `Cargo.toml`:
//!
//! - `cargo run -p dragoman-examples --example decode_file -- FILE`: any audio file to 16 kHz mono.
//! - `cargo run -p dragoman-examples --example pull_model -- [ID]`: the model store from an app.
//! - `cargo run --release -p dragoman-examples --example caption_translation -- TO CLIP.wav ...`:
//!   live captions translated, with their latency.
//! - `cargo run --release -p dragoman-examples --example room_bot -- [--to LANG] FILE.wav`: a
//!   room in-process, a bot that speaks a recording into it, a listener printing captions.
//! - `scripts/bench_call.sh`: a call of two people talking at once without pauses for minutes,
//!   and whether the room keeps real time (latency per minute, CPU, memory, audio dropped).
//!
//! The engines a room runs come from the server crate, which loads them the same way for
//! `dragoman serve`.

pub use dragoman_server::engines::engines;
