//! Runnable examples of the dragoman SDK; see the `[[example]]` entries in `Cargo.toml`:
//!
//! - `cargo run -p dragoman-examples --example decode_file -- FILE`: any audio file to 16 kHz mono.
//! - `cargo run -p dragoman-examples --example pull_model -- [ID]`: the model store from an app.
