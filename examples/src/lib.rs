//! Runnable examples of the dragoman SDK; see the `[[example]]` entries in `Cargo.toml`:
//!
//! - `cargo run -p dragoman-examples --example decode_file -- FILE`: any audio file to 16 kHz mono.
//! - `cargo run -p dragoman-examples --example pull_model -- [ID]`: the model store from an app.
//! - `cargo run --release -p dragoman-examples --example caption_translation -- TO CLIP.wav ...`:
//!   live captions translated, with their latency.
//! - `cargo run --release -p dragoman-examples --example speaker_pipeline -- --to de FILE`: one
//!   speaker's pipeline (captions, translations, translated speech) without a room, from one
//!   thread, as an app or a binding embeds it.
//! - `cargo run --release -p dragoman-examples --example room_bot -- [--to LANG] FILE.wav`: a
//!   room in-process, a bot that speaks a recording into it, a listener printing captions.
//! - `scripts/bench_call.sh`: a call of two people talking at once without pauses for minutes,
//!   and whether the room keeps real time (latency per minute, CPU, memory, audio dropped).
//!
//! The bindings' examples sit beside these: `examples/python` (subtitles of a file, a live
//! microphone), `examples/kotlin` (the same two, compiled by the Kotlin test) and
//! `examples/swift`.
//!
//! The engines come from `dragoman-engines`, which loads them the same way for `dragoman serve`.

use std::sync::Arc;

use dragoman_core::pipeline::Engines;
use dragoman_core::store::ModelStore;
use dragoman_rtc::compute::ComputeGate;

/// The engines of a room, as `dragoman serve` runs them: the default models from `store`,
/// with a refiner where one is pulled, their work passing one gate sized to the cores.
pub fn engines(store: &ModelStore) -> dragoman_core::Result<Engines> {
    dragoman_engines::engines(store, true, Arc::new(ComputeGate::default()))
}

use dragoman_rtc::client::ClientOptions;
use dragoman_rtc::protocol::Languages;

/// A headless client's options: join with `token`, speaking `spoken`, reading captions in
/// `read` and, with `hear`, hearing translated speech in that language.
pub fn client_options(token: &str, spoken: &str, read: &str, hear: Option<&str>) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.token = token.into();
    o.languages = Languages {
        spoken: Some(spoken.into()),
        captions: Some(read.into()),
        audio: hear.map(Into::into),
    };
    o
}

/// What the benchmark examples measure of their own process.
pub mod measure {
    /// CPU seconds this process has used (user + system), from `/proc/self/stat`.
    pub fn cpu_seconds() -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 (1-based) of the whole line: 11 and 12 here.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Resident memory of this process now and at its peak (`VmRSS`, `VmHWM`), in MB.
    pub fn memory_mb() -> (f64, f64) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The `p`-quantile (0..=1, nearest rank) of `values` (sorted in place); NaN when empty.
    pub fn percentile(values: &mut [f64], p: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        let i = ((values.len() as f64 - 1.0) * p).round() as usize;
        values.get(i).copied().unwrap_or(f64::NAN)
    }
}
