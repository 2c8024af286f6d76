//! The engines a room runs, from the models in the store: shared by `dragoman serve`, the
//! examples and the benchmarks.

use std::sync::Arc;

use anyhow::Context;
use candle_core::Device;
use dragoman_core::engine::{SttOptions, Translator, TtsOptions};
use dragoman_core::store::ModelStore;
use dragoman_core::store::catalog::{CATALOG, Task};
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime};
use dragoman_rtc::compute::ComputeGate;
use dragoman_rtc::pipeline::Engines;
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::{Precision, WhisperModel};
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::models;
use dragoman_tts::engine::SpeechEngine;

/// The engines of a room on the CPU: Whisper (`whisper-base` with 8-bit weights, as accurate
/// as f32 on the live-caption benchmark and 3-4x faster per decode) with Silero VAD, the pulled
/// translation models fast enough for live captions ([`models::for_live_captions`]: every
/// dedicated model and the fastest LLM) and the strongest pulled LLM, where it is another, to
/// refine their finals ([`models::refiner`]), espeak-ng plus every pulled neural voice.
pub fn engines(store: &ModelStore) -> anyhow::Result<Engines> {
    engines_refining(store, true)
}

/// [`engines`], with a refiner only if `refine` is set.
pub fn engines_refining(store: &ModelStore, refine: bool) -> anyhow::Result<Engines> {
    let device = Device::Cpu;
    let whisper = WhisperModel::load_as(
        &store.source("whisper-base")?,
        &device,
        "whisper-base-q8",
        Precision::Q8,
    )
    .context("speech-to-text: `dragoman models pull whisper-base`")?;
    let vad = SileroVad::load_cpu(&store.source("silero-vad")?)
        .context("voice activity: `dragoman models pull silero-vad`")?;
    let pulled: Vec<&str> = CATALOG
        .iter()
        .filter(|e| e.task == Task::Translation && store.manifest(e.id).is_some())
        .map(|e| e.id)
        .collect();
    let translators = models::for_live_captions(&pulled)
        .into_iter()
        .map(|id| models::load(store, id, None, &device))
        .collect::<Result<Vec<_>, _>>()?;
    let refiner = match models::refiner(&pulled).filter(|_| refine) {
        Some(id) => {
            let model = models::load(store, id, None, &device)?;
            Some(Arc::new(TranslationEngine::new(vec![model])) as Arc<dyn Translator>)
        }
        None => None,
    };
    anyhow::ensure!(
        !translators.is_empty(),
        "no translation model: `dragoman models pull` fetches the default"
    );
    Ok(Engines {
        stt: Arc::new(WhisperStt::new(whisper, vad, StreamOptions::default())),
        translator: Arc::new(TranslationEngine::new(translators)),
        refiner,
        tts: Arc::new(SpeechEngine::with_pulled_voices(store, &device)?),
        compute: Arc::new(ComputeGate::default()),
    })
}

/// Runs each engine once on a little input, so the first caller does not pay for loading
/// weights into memory and building caches: one second of audio through speech-to-text, a
/// sentence through translation into Vietnamese and through speech in English.
pub fn warm_up(engines: &Engines) -> anyhow::Result<()> {
    let mut stt = engines.stt.new_session(&SttOptions::default())?;
    let rate = SampleRate::HZ_16000;
    let tone: Vec<f32> = (0..rate.samples_in(std::time::Duration::from_secs(1)))
        .map(|i| 0.1 * (i as f32 * 0.05).sin())
        .collect();
    stt.push_audio(&AudioChunk::new(StreamTime::zero(rate), tone))?;
    stt.finish()?;
    while stt.poll_event().is_some() {}
    if engines.translator.supports(Lang::EN, Lang::VI) {
        engines
            .translator
            .translate(&["Good morning."], Lang::EN, Lang::VI)?;
    }
    let mut tts = engines.tts.new_session(&TtsOptions::new(Lang::EN))?;
    tts.push_text("Hello.")?;
    tts.finish()?;
    while tts.poll_event().is_some() {}
    Ok(())
}
