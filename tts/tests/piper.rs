//! Our VITS against onnxruntime running the same Piper voice (the real `joe` English voice
//! from the package registry): same phoneme ids, no sampling noise (noise and duration noise
//! scales 0, so both run the deterministic path through every part: encoder, duration flows,
//! flow, decoder).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::process::Command;

use candle_core::Device;
use common::{hear, listener, speak, store};
use dragoman_core::Lang;
use dragoman_core::engine::{TextToSpeech, TtsOptions};
use dragoman_stt::eval::{normalize_words, word_errors};
use dragoman_tts::engine::SpeechEngine;
use dragoman_tts::piper::PiperVoice;
use dragoman_tts::vits::{Scales, VitsModel};

const VOICE: &str = "piper-en_US-joe-medium";
const CONFIG: &str = "en_US-joe-medium.onnx.json";

/// Piper's id sequence for IPA text: start, then each symbol followed by the pad id, end.
fn phoneme_ids(config: &serde_json::Value, ipa: &str) -> Vec<u32> {
    let map = &config["phoneme_id_map"];
    let id = |s: &str| map[s][0].as_u64().unwrap() as u32;
    let mut ids = vec![id("^"), id("_")];
    for c in ipa.chars() {
        let s = c.to_string();
        if map.get(&s).is_some() {
            ids.extend([id(&s), id("_")]);
        }
    }
    ids.push(id("$"));
    ids
}

#[test]
fn piper_voice_matches_onnxruntime() {
    let (store, options) = store();
    store.pull(VOICE, &options, &()).expect("pull the voice");
    let source = store.source(VOICE).unwrap();
    let published = std::env::temp_dir().join(format!("dragoman-tts-{VOICE}"));
    let entry = dragoman_core::store::entry(VOICE).unwrap();
    store
        .ensure_published(entry, &options, &published, &())
        .expect("fetch the ONNX file");
    let config: serde_json::Value =
        serde_json::from_slice(&source.read("en_US-joe-medium.onnx.json").unwrap()).unwrap();
    // "Hello world, this is a test of the voice." in espeak-ng's IPA.
    let ids = phoneme_ids(&config, "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst ʌvðə vˈɔɪs.");
    let model = VitsModel::load(&source, "model.safetensors", VOICE, &Device::Cpu).unwrap();
    let scales = Scales {
        noise: 0.0,
        length: 1.0,
        noise_w: 0.0,
    };
    let ours = model.synthesize(&ids, scales, 0).unwrap();

    let ids_file = published.join("ids.json");
    std::fs::write(&ids_file, serde_json::to_vec(&ids).unwrap()).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/piper_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(published.join("en_US-joe-medium.onnx"))
        .arg(&ids_file)
        .args(["0", "1", "0"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Vec<f32> = serde_json::from_value(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["audio"].clone(),
    )
    .unwrap();

    eprintln!(
        "samples: ours {}, onnxruntime {}",
        ours.len(),
        reference.len()
    );
    assert_eq!(ours.len(), reference.len(), "same durations");
    let energy: f64 = reference.iter().map(|v| f64::from(*v).powi(2)).sum();
    let error: f64 = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    let relative = (error / energy).sqrt();
    let peak = ours
        .iter()
        .zip(&reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("relative error {relative:.2e}, max abs diff {peak:.2e}");
    assert!(relative < 1e-3, "relative error {relative}");
}

#[test]
fn piper_voice_speaks_english_that_whisper_understands() {
    let (store, options) = store();
    store.pull(VOICE, &options, &()).expect("pull the voice");
    let source = store.source(VOICE).unwrap();
    let mut engine = SpeechEngine::new().expect("espeak-ng is needed: apt-get install espeak-ng");
    let voice = PiperVoice::load(
        &source,
        VOICE,
        CONFIG,
        "model.safetensors",
        engine.espeak(),
        &Device::Cpu,
    )
    .unwrap();
    // Piper's phonemes for the sentence the faithfulness test spells out by hand.
    let config: serde_json::Value = serde_json::from_slice(&source.read(CONFIG).unwrap()).unwrap();
    assert_eq!(
        voice
            .phoneme_ids("Hello world, this is a test of the voice.")
            .unwrap(),
        phoneme_ids(&config, "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst ʌvðə vˈɔɪs.")
    );
    assert_eq!(voice.skipped_phonemes(), 0);
    engine.add_voice(std::sync::Arc::new(voice));
    assert_eq!(engine.engine_for(Lang::EN), Some("vits"));
    assert_eq!(engine.engine_for(Lang::VI), Some("espeak-ng"));

    let (whisper, vad) = listener();
    let text = "Good morning, everyone. Thank you for joining the call today; we will start \
                with the budget for next year.";
    let mut session = engine.new_session(&TtsOptions::new(Lang::EN)).unwrap();
    let (audio, rate, early) = speak(session.as_mut(), &[text]);
    assert_eq!(rate.hz(), 22_050);
    assert!(early >= 1, "the first sentence came out before finish");
    let transcript = hear(&whisper, &vad, &audio, rate);
    let (errors, words) = word_errors(&normalize_words(text), &normalize_words(&transcript.text));
    eprintln!("piper en: WER {errors}/{words} | {}", transcript.text);
    assert_eq!(transcript.language, Lang::EN);
    assert!(errors * 10 <= words, "WER above 10%");
}
