//! MMS-TTS against transformers' `VitsModel` (the implementation the MMS voices are published
//! for), on a RANDOM-WEIGHT model with MMS's architecture (`VitsConfig`'s defaults are
//! `facebook/mms-tts-eng`'s), built by `tests/reference/mms_reference.py`. The real MMS
//! checkpoints are on the Hub only, out of reach here.
//!
//! Same text in: the same ids from the tokenizer (lowercasing, dropped digits and
//! punctuation, blanks). Same ids and the same noise in (transformers' own draws, recorded):
//! the same waveform, sample for sample, through every part with sampling on (duration
//! noise 0.8, prior noise 0.667). Both weight layouts are loaded: transformers' current
//! `save_pretrained` output and the Hub's older checkpoints converted by the store.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

#[path = "../../translate/tests/common/mod.rs"]
mod reference;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::Device;
use dragoman_core::ModelSource;
use dragoman_tts::engine::NeuralVoice;
use dragoman_tts::mms::MmsVoice;
use dragoman_tts::vits::Scales;

const SENTENCES: [&str; 3] = [
    "Xin chào, tôi là Nam! Hôm nay trời đẹp.",
    "Hello world 42, this is a TEST of the voice.",
    "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
];

/// Runs the reference script (once per script version) and returns its output directory.
fn reference_run() -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dragoman-tts-mms-reference");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/mms_reference.py");
    let text = std::fs::read(&script).unwrap();
    let stamp = out.join("script.stamp");
    if std::fs::read(&stamp).ok().as_deref() != Some(text.as_slice()) {
        let python = reference::python();
        let run = Command::new(python)
            .arg(&script)
            .arg(&out)
            .args(SENTENCES)
            .output()
            .expect("python runs");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::write(&stamp, &text).unwrap();
    }
    out
}

fn floats(value: &serde_json::Value) -> Vec<f32> {
    serde_json::from_value(value.clone()).unwrap()
}

/// Each sentence: our tokenizer's ids are transformers', and our waveform for those ids and
/// transformers' noise is its waveform.
fn check_voice(voice: &MmsVoice, reference: &serde_json::Value) {
    let scales = Scales {
        noise: reference["noise_scale"].as_f64().unwrap() as f32,
        length: 1.0,
        noise_w: reference["noise_scale_duration"].as_f64().unwrap() as f32,
    };
    assert_eq!(voice.scales(), scales, "the scales come from config.json");
    for case in reference["sentences"].as_array().unwrap() {
        let sentence = case["sentence"].as_str().unwrap();
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(voice.token_ids(sentence), ids, "{sentence}");
        let expected = floats(&case["waveform"]);
        let ours = voice
            .model()
            .synthesize_with_noise(
                &ids,
                scales,
                &floats(&case["duration_noise"]),
                &floats(&case["prior_noise"]),
            )
            .unwrap();
        assert_eq!(ours.len(), expected.len(), "{sentence}: length");
        let peak = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
        let max_diff = ours
            .iter()
            .zip(&expected)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!(
            "{sentence}: {} samples, peak {peak:.3}, max diff {max_diff:.2e}",
            ours.len()
        );
        // float32 rounding through ~100 layers: measured 5e-6 of the peak.
        assert!(
            max_diff <= 1e-4 * peak,
            "{sentence}: max diff {max_diff} against peak {peak}"
        );
    }
}

#[test]
fn mms_voice_matches_transformers() {
    let out = reference_run();
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("reference.json")).unwrap()).unwrap();
    let model_dir = out.join("model");
    let voice = MmsVoice::load(&ModelSource::dir(&model_dir), "mms-tts-test", &Device::Cpu)
        .expect("load the save_pretrained layout");
    assert_eq!(voice.lang().code(), "vi", "from tokenizer_config.json");
    check_voice(&voice, &reference);
    assert!(
        voice.skipped_characters() > 0,
        "digits and punctuation are dropped"
    );

    // The Hub's layout: a PyTorch checkpoint with weight_g / weight_v, converted by the store.
    let hub_dir = out.join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    for file in ["config.json", "vocab.json", "tokenizer_config.json"] {
        std::fs::copy(model_dir.join(file), hub_dir.join(file)).unwrap();
    }
    dragoman_core::store::convert::pickle::convert_torch(
        &out.join("pytorch_model.bin"),
        "",
        &hub_dir.join("model.safetensors"),
    )
    .unwrap();
    let voice = MmsVoice::load(&ModelSource::dir(&hub_dir), "mms-tts-test", &Device::Cpu)
        .expect("load the Hub's layout");
    check_voice(&voice, &reference);
}
