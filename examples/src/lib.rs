//! Runnable examples of the dragoman SDK; see the `[[example]]` entries in `Cargo.toml`:
//!
//! - `cargo run -p dragoman-examples --example decode_file -- FILE`: any audio file to 16 kHz mono.
//! - `cargo run -p dragoman-examples --example pull_model -- [ID]`: the model store from an app.
//! - `cargo run --release -p dragoman-examples --example caption_translation -- TO CLIP.wav ...`:
//!   live captions translated, with their latency.
//! - `cargo run --release -p dragoman-examples --example room_bot -- [--to LANG] FILE.wav`: a
//!   room in-process, a bot that speaks a recording into it, a listener printing captions.
//!
//! This library holds what the examples share: the engines a room runs, from the models
//! `dragoman models pull` fetched.

use std::sync::Arc;

use anyhow::Context;
use candle_core::Device;
use dragoman_core::store::ModelStore;
use dragoman_core::store::catalog::{CATALOG, Task};
use dragoman_rtc::pipeline::Engines;
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::WhisperModel;
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::models;
use dragoman_tts::engine::SpeechEngine;

/// The engines of a room on the CPU: Whisper (`whisper-base`) with Silero VAD, every pulled
/// translation model, espeak-ng plus every pulled neural voice.
pub fn engines(store: &ModelStore) -> anyhow::Result<Engines> {
    let device = Device::Cpu;
    let whisper = WhisperModel::load(&store.source("whisper-base")?, &device)
        .context("speech-to-text: `dragoman models pull whisper-base`")?;
    let vad = SileroVad::load_cpu(&store.source("silero-vad")?)
        .context("voice activity: `dragoman models pull silero-vad`")?;
    let translators = CATALOG
        .iter()
        .filter(|e| e.task == Task::Translation && store.manifest(e.id).is_some())
        .map(|e| models::load(store, e.id, None, &device))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        !translators.is_empty(),
        "no translation model: `dragoman models pull` fetches the default"
    );
    Ok(Engines {
        stt: Arc::new(WhisperStt::new(whisper, vad, StreamOptions::default())),
        translator: Arc::new(TranslationEngine::new(translators)),
        tts: Arc::new(SpeechEngine::with_pulled_voices(store, &device)?),
    })
}
