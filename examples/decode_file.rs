//! Reads any audio file the way a speech engine wants it (16 kHz mono) and describes it.
//!
//! `cargo run -p dragoman-examples --example decode_file -- speech.mp3`

#![allow(clippy::print_stdout)] // an example prints its result

use anyhow::Context;
use dragoman_core::SampleRate;
use dragoman_core::decode::{decode_file, load_audio};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: decode_file FILE")?;
    let native = decode_file(&path)?;
    println!(
        "{path}: {:.2} s, {}, {} channel(s)",
        native.duration().as_secs_f64(),
        native.rate(),
        native.channels()
    );
    let speech = load_audio(&path, SampleRate::HZ_16000)?;
    let peak = speech.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let rms = (speech.samples.iter().map(|s| s * s).sum::<f32>()
        / speech.samples.len().max(1) as f32)
        .sqrt();
    println!(
        "as 16 kHz mono: {} samples ({:.2} s), peak {peak:.3}, RMS {:.1} dBFS",
        speech.samples.len(),
        speech.duration().as_secs_f64(),
        20.0 * rms.max(1e-9).log10()
    );
    Ok(())
}
