//! # dragoman-engines
//!
//! The default engines, loaded from the models in the store: what `dragoman serve` runs in its
//! rooms, and what the bindings, the examples and the benchmarks load, so that every one of
//! them gets the same models with the same settings. Each engine crate loads its own models
//! from a resolved source; this crate only chooses which (the defaults, or the best pulled)
//! and wires them into the [`Engines`] of a pipeline.
//!
//! Every model is loaded once and shared (`Arc`) by the sessions opened on it. Loading never
//! downloads: a model missing from the store is an [`Error::ModelNotPulled`] that names the
//! command pulling it.

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::{SttOptions, Translator, TtsOptions};
use dragoman_core::pipeline::{Compute, Engines};
use dragoman_core::store::ModelStore;
use dragoman_core::store::catalog::{CATALOG, Task};
use dragoman_core::{AudioChunk, Error, Lang, Result, SampleRate, StreamTime};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::{Precision, WhisperModel};
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::models;
use dragoman_tts::engine::SpeechEngine;

/// The speech-to-text model of live captions.
pub const LIVE_WHISPER: &str = "whisper-base";

/// Live captions on the CPU: Whisper (`whisper-base` with the weights that decode fastest on
/// this CPU, [`Precision::fastest_on_this_cpu`]: 8 bits are as accurate as f32 on the
/// live-caption benchmark) with Silero VAD.
pub fn live_stt(store: &ModelStore) -> Result<WhisperStt> {
    let precision = Precision::fastest_on_this_cpu();
    let whisper = WhisperModel::load_as(
        &store.source(LIVE_WHISPER)?,
        &Device::Cpu,
        &precision.model_id(LIVE_WHISPER),
        precision,
    )?;
    let vad = SileroVad::load_cpu(&store.source("silero-vad")?)?;
    Ok(WhisperStt::new(whisper, vad, StreamOptions::default()))
}

/// Caption translation: the pulled models fast enough for live captions
/// ([`models::for_live_captions`]: every dedicated model and the fastest LLM).
pub fn live_translator(store: &ModelStore) -> Result<TranslationEngine> {
    let translators = models::for_live_captions(&models::pulled(store))
        .into_iter()
        .map(|id| models::load(store, id, None, &Device::Cpu))
        .collect::<Result<Vec<_>>>()?;
    if translators.is_empty() {
        // Name the default translation model: pulling it is the fix.
        let default = CATALOG
            .iter()
            .find(|e| e.task == Task::Translation && e.default)
            .map_or("a translation model", |e| e.id);
        return Err(Error::ModelNotPulled {
            id: default.to_string(),
            cache: store.root().to_path_buf(),
        });
    }
    Ok(TranslationEngine::new(translators))
}

/// The strongest pulled LLM, where it is not one [`live_translator`] runs: it translates
/// finals again ([`models::refiner`]). `None` when there is no such model.
pub fn refiner(store: &ModelStore) -> Result<Option<TranslationEngine>> {
    models::refiner(&models::pulled(store))
        .map(|id| {
            Ok(TranslationEngine::new(vec![models::load(
                store,
                id,
                None,
                &Device::Cpu,
            )?]))
        })
        .transpose()
}

/// Text-to-speech: espeak-ng for every language it speaks, plus every pulled neural voice.
pub fn speech(store: &ModelStore) -> Result<SpeechEngine> {
    SpeechEngine::with_pulled_voices(store, &Device::Cpu)
}

/// The engines of a live pipeline on the CPU ([`live_stt`], [`live_translator`], [`speech`]),
/// with a [`refiner`] only if `refine` is set, their work admitted by `compute` (one
/// scheduler for the whole process: the room's gate, or
/// [`Immediate`](dragoman_core::pipeline::Immediate) for one pipeline in one thread).
pub fn engines(store: &ModelStore, refine: bool, compute: Arc<dyn Compute>) -> Result<Engines> {
    let refiner = if refine { refiner(store)? } else { None };
    Ok(Engines {
        stt: Arc::new(live_stt(store)?),
        translator: Arc::new(live_translator(store)?),
        refiner: refiner.map(|r| Arc::new(r) as Arc<dyn Translator>),
        tts: Arc::new(speech(store)?),
        compute,
    })
}

/// Runs each engine once on a little input, so the first caller does not pay for loading
/// weights into memory and building caches: one second of audio through speech-to-text, a
/// sentence through translation (and the refiner) into Vietnamese and through speech in
/// English. The refiner's first run reads its weights from disk (4 s for Qwen2.5 1.5B on 2
/// cores): better before the first call than within it, where one chunk of that run would
/// hold the CPU for seconds.
pub fn warm_up(engines: &Engines) -> Result<()> {
    let mut stt = engines.stt.new_session(&SttOptions::default())?;
    let rate = SampleRate::HZ_16000;
    let tone: Vec<f32> = (0..rate.samples_in(std::time::Duration::from_secs(1)))
        .map(|i| 0.1 * (i as f32 * 0.05).sin())
        .collect();
    stt.push_audio(&AudioChunk::new(StreamTime::zero(rate), tone))?;
    stt.finish()?;
    while stt.poll_event().is_some() {}
    for translator in std::iter::once(&engines.translator).chain(&engines.refiner) {
        if translator.supports(Lang::EN, Lang::VI) {
            translator.translate(&["Good morning."], Lang::EN, Lang::VI)?;
        }
    }
    let mut tts = engines.tts.new_session(&TtsOptions::new(Lang::EN))?;
    tts.push_text("Hello.")?;
    tts.finish()?;
    while tts.poll_event().is_some() {}
    Ok(())
}
