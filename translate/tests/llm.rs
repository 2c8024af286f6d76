//! The GGUF LLM backend.
//!
//! - On the one LLM the package registries carry: Gemma 3 270M, a BASE model at Q4_K_M, whose
//!   translations are poor (its catalog entry says so). Checked: its vocabulary is read from the
//!   GGUF exactly as `transformers` reads it, and it translates sentences through the engine,
//!   stopping where the answer ends. The printed translations are a record, not a quality claim.
//! - On a RANDOMLY INITIALISED Qwen2 with the real Qwen2 vocabulary (no Qwen weights are
//!   reachable here), written as a GGUF by `reference/qwen2_gguf_reference.py`: same prompt ids
//!   and same next-token logits as `transformers` running that file, and a translation call that
//!   runs through the ChatML prompt and stops within its length guard.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::Lang;
use dragoman_core::engine::Translator;
use dragoman_translate::engine::TranslationEngine;
use dragoman_translate::llm::LlmTranslator;

const GGUF: &str = "gemma-3-270m-q4_k_m.gguf";

fn gemma() -> (LlmTranslator, std::path::PathBuf) {
    let source = common::model("gemma3-270m-q4km");
    let dir = source.path(GGUF).unwrap().parent().unwrap().to_path_buf();
    (
        LlmTranslator::load(&source, GGUF, "gemma3-270m-q4km", &Device::Cpu).unwrap(),
        dir,
    )
}

#[test]
fn gguf_vocabulary_matches_transformers_and_translation_runs() {
    let (model, dir) = gemma();
    let sentences = [
        "Good morning.",
        "Tất cả mọi người sinh ra đều được tự do và bình đẳng.",
        "  Two  spaces\nand a newline <b>bold</b> 3.14 ✓ 🙂",
        "Alle Menschen sind frei und gleich an Würde und Rechten geboren.",
    ];
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&sentences).unwrap()).unwrap();
    let reference = common::reference_json(
        "gguf_tokenizer_reference.py",
        &[dir.as_os_str(), GGUF.as_ref(), file.path().as_os_str()],
    );
    for (i, sentence) in sentences.iter().enumerate() {
        let want: Vec<u32> = reference["ids"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(model.tokenize(sentence).unwrap(), want, "{sentence:?}");
    }

    let engine = TranslationEngine::new(vec![Arc::new(model)]);
    let out = engine
        .translate(
            &["All human beings are born free and equal in dignity and rights."],
            Lang::EN,
            Lang::VI,
        )
        .unwrap();
    eprintln!("en->vi: {out:?}");
    assert_eq!(out.len(), 1);
    // The answer stops at the end of its line: no second example, no echo of the prompt.
    assert!(!out[0].is_empty() && !out[0].contains('\n'), "{out:?}");
    assert!(
        !out[0].contains("English:") && !out[0].contains("Vietnamese:"),
        "{out:?}"
    );
}

#[test]
fn random_qwen2_gguf_matches_transformers() {
    let vocab = common::llama_cpp_vocabularies().join("ggml-vocab-qwen2.gguf");
    let dir = tempfile::tempdir().unwrap();
    let prompts = [
        "<|im_start|>user\nTranslate this English text into Vietnamese.\n\nGood morning.\
         <|im_end|>\n<|im_start|>assistant\n",
        "Tất cả mọi người sinh ra đều được tự do và bình đẳng.",
    ];
    let prompts_file = dir.path().join("prompts.json");
    std::fs::write(&prompts_file, serde_json::to_vec(&prompts).unwrap()).unwrap();
    let reference = common::reference_json(
        "qwen2_gguf_reference.py",
        &[
            vocab.as_os_str(),
            dir.path().as_os_str(),
            prompts_file.as_os_str(),
        ],
    );
    let model = LlmTranslator::load(
        &dragoman_core::ModelSource::dir(dir.path()),
        "tiny-qwen2.gguf",
        "tiny-qwen2",
        &Device::Cpu,
    )
    .unwrap();
    for (i, prompt) in prompts.iter().enumerate() {
        let ids = model.tokenize(prompt).unwrap();
        let want_ids: Vec<u32> = serde_json::from_value(reference["ids"][i].clone()).unwrap();
        assert_eq!(ids, want_ids, "{prompt:?}");
        let got = model.logits(&ids).unwrap();
        let want: Vec<f32> = serde_json::from_value(reference["logits"][i].clone()).unwrap();
        assert_eq!(got.len(), want.len());
        let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("prompt {i}: max |logit diff| {diff:.2e}, largest logit {largest:.2}");
        assert!(diff <= 1e-4 * largest, "{diff} vs largest {largest}");
    }

    // Random weights translate into noise; what is checked is that the call runs through the
    // chat prompt and stops (end of turn, repetition or the length guard).
    let engine = TranslationEngine::new(vec![Arc::new(model)]);
    let out = engine
        .translate(&["Good morning."], Lang::EN, Lang::VI)
        .unwrap();
    assert_eq!(out.len(), 1);
}
