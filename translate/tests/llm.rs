//! The GGUF LLM backend.
//!
//! - On the one LLM the package registries carry: Gemma 3 270M, a BASE model at Q4_K_M, whose
//!   translations are poor (its catalog entry says so). Checked: its vocabulary is read from the
//!   GGUF exactly as `transformers` reads it, and it translates sentences through the engine,
//!   stopping where the answer ends. The printed translations are a record, not a quality claim.
//! - On a RANDOMLY INITIALISED Gemma 3 built by `transformers` with every part of the
//!   architecture (sliding-window layers shorter than the prompts), written as a GGUF the way
//!   llama.cpp writes Gemma 3, by `reference/gemma3_gguf_reference.py`: the same next-token
//!   logits, and the same greedy continuation through the key/value cache.
//! - On a RANDOMLY INITIALISED Qwen2 with the real Qwen2 vocabulary (no Qwen weights are
//!   reachable here), written as a GGUF by `reference/qwen2_gguf_reference.py`: same prompt ids
//!   and same next-token logits as `transformers` running that file, and a translation call that
//!   runs through the ChatML prompt and stops within its length guard.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::Translator;
use dragoman_core::{Glossary, Lang};
use dragoman_translate::engine::{Context, SentenceTranslator, TranslationEngine};
use dragoman_translate::llm::LlmTranslator;
use dragoman_translate::llm::answer::check;

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

    // A prompt that starts from the pair's last one (its instructions are already computed)
    // gets the same answer as a model that has computed nothing yet.
    let second = "Everyone has the right to life, liberty and security of person.";
    let warm = engine.translate(&[second], Lang::EN, Lang::VI).unwrap();
    let (cold_model, _) = gemma();
    let cold = TranslationEngine::new(vec![Arc::new(cold_model)])
        .translate(&[second], Lang::EN, Lang::VI)
        .unwrap();
    assert_eq!(warm, cold);
}

/// Checks that no logit of `got` is further from `want` than `tolerance` times the largest.
fn assert_logits_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let largest = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("{what}: max |logit diff| {diff:.2e}, largest logit {largest:.2}");
    assert!(
        diff <= tolerance * largest,
        "{what}: {diff} vs largest {largest}"
    );
}

#[test]
fn random_gemma3_gguf_matches_transformers() {
    let vocab = common::model("gemma3-270m-q4km").path(GGUF).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // BOS, then arbitrary vocabulary ids: 1, 3 and 11 tokens against a window of 4.
    let prompts: Vec<Vec<u32>> = vec![
        vec![2],
        vec![2, 9259, 1902],
        vec![
            2, 1003, 2017, 3301, 4409, 5521, 6607, 7723, 8819, 9901, 10007,
        ],
    ];
    let prompts_file = dir.path().join("prompts.json");
    std::fs::write(&prompts_file, serde_json::to_vec(&prompts).unwrap()).unwrap();
    let reference = common::reference_json(
        "gemma3_gguf_reference.py",
        &[
            vocab.as_os_str(),
            dir.path().as_os_str(),
            prompts_file.as_os_str(),
        ],
    );
    let model = LlmTranslator::load(
        &dragoman_core::ModelSource::dir(dir.path()),
        "tiny-gemma3.gguf",
        "tiny-gemma3",
        &Device::Cpu,
    )
    .unwrap();
    for (i, ids) in prompts.iter().enumerate() {
        let want: Vec<f32> = serde_json::from_value(reference["logits"][i].clone()).unwrap();
        assert_logits_close(
            &model.logits(ids).unwrap(),
            &want,
            1e-4,
            &format!("prompt {i}"),
        );
        // Greedy steps run through the cache (and past the window). Ours stops early at a
        // line end or a repeated phrase; up to there it is the same.
        let greedy: Vec<u32> = serde_json::from_value(reference["greedy"][i].clone()).unwrap();
        let ours = model.complete(ids, greedy.len()).unwrap();
        eprintln!("prompt {i}: greedy {greedy:?}, ours {ours:?}");
        assert!(ours.len() >= 3, "prompt {i}: {ours:?} vs {greedy:?}");
        assert_eq!(ours, greedy[..ours.len()], "prompt {i}");
    }
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
        let want: Vec<f32> = serde_json::from_value(reference["logits"][i].clone()).unwrap();
        assert_logits_close(
            &model.logits(&ids).unwrap(),
            &want,
            1e-4,
            &format!("prompt {i}"),
        );
    }

    // Random weights translate into noise; what is checked is that the call runs through the
    // chat prompt and stops (end of turn, repetition or the length guard).
    let engine = TranslationEngine::new(vec![Arc::new(model)]);
    let out = engine
        .translate(&["Good morning."], Lang::EN, Lang::VI)
        .unwrap();
    assert_eq!(out.len(), 1);
}

/// An instruct model (Qwen2.5-Coder 0.5B, the smaller of the two in the catalog) on real
/// sentences: Tatoeba English with numbers in them, and text with line breaks and markup. Each
/// comes back as one plain line, in Spanish, with the source's numbers; a document's sentences
/// are translated after one another (the conversation so far in the prompt cache) and agree
/// with the same sentences translated after the same context from a cold start; a glossary's
/// terms come out as it says.
#[test]
fn instruct_model_answers_one_clean_line_per_sentence() {
    let id = "qwen2.5-coder-0.5b-instruct-q4km";
    let source = common::model(id);
    let model = LlmTranslator::load(
        &source,
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        id,
        &Device::Cpu,
    )
    .unwrap();
    let pairs = std::fs::read_to_string(common::tatoeba_en_es()).unwrap();
    let mut sentences: Vec<&str> = pairs
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|s| s.chars().any(|c| c.is_ascii_digit()) && s.split_whitespace().count() >= 6)
        .step_by(97)
        .take(6)
        .collect();
    assert_eq!(sentences.len(), 6);
    sentences.push("Press <b>Enter</b> to continue.\nThen type your name.");
    let engine = TranslationEngine::new(vec![Arc::new(model)]);
    let out = engine.translate(&sentences, Lang::EN, Lang::ES).unwrap();
    let cold = LlmTranslator::load(
        &source,
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        id,
        &Device::Cpu,
    )
    .unwrap();
    let mut context = Context::default();
    for (sentence, translation) in sentences.iter().zip(&out).take(5) {
        context.push(*sentence, translation.as_str());
    }
    let sixth = cold
        .translate_sentences(&[sentences[5]], Lang::EN, Lang::ES, &context)
        .unwrap();
    assert_eq!(
        sixth[0], out[5],
        "warm and cold answers after the same context"
    );
    for (sentence, translation) in sentences.iter().zip(&out) {
        eprintln!("{sentence:?} -> {translation:?}");
        assert!(!translation.contains('\n'), "{translation:?}");
        for piece in dragoman_core::text::sentences(translation) {
            assert!(
                !piece.to_lowercase().starts_with("here is"),
                "{translation:?}"
            );
        }
    }
    // A glossary: the term comes out as the glossary says.
    let glossary = Glossary::from_tsv("standup\treunión diaria\nDragoman\n", Lang::ES).unwrap();
    let context = Context::default().with_glossary(glossary);
    let sentence = "Dragoman will record the standup tomorrow morning.";
    let out_glossary = engine
        .translate_in_context(sentence, Lang::EN, Lang::ES, &context)
        .unwrap();
    eprintln!("{sentence:?} -> {out_glossary:?}");
    let lower = out_glossary.to_lowercase();
    assert!(
        lower.contains("reunión diaria") && lower.contains("dragoman"),
        "{out_glossary:?}"
    );
    // The one with markup keeps its tags (the source has them); the others pass every check.
    for (sentence, translation) in sentences.iter().zip(&out).take(6) {
        assert_eq!(
            check(translation, sentence, Lang::EN, Lang::ES, &[]),
            None,
            "{sentence:?} -> {translation:?}"
        );
    }
}
