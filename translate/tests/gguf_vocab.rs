//! GGUF vocabularies read from the file's metadata, checked against llama.cpp's own vocabulary
//! tests: the real Qwen2, Llama 3, Llama 2 (SentencePiece) and GPT-2 vocabularies (GGUFs with no
//! weights, from the llama.cpp sources in the `llama-cpp-python` sdist), and for each, 36 test
//! strings (accents, CJK, emoji, whitespace runs, digits, code) with the ids that model's own
//! Hugging Face tokenizer gives them.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use candle_core::quantized::gguf_file;

/// The test strings and their expected ids for vocabulary `name`.
fn cases(dir: &std::path::Path, name: &str) -> Vec<(String, Vec<u32>)> {
    let file = |ext: &str| {
        std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf{ext}"))).unwrap()
    };
    let inputs = file(".inp");
    let outputs = file(".out");
    // Every case ends with the separator line; one case is the empty string.
    let mut inputs: Vec<&str> = inputs.split("\n__ggml_vocab_test__\n").collect();
    assert_eq!(inputs.pop(), Some(""), "{name}: .inp ends with a separator");
    let outputs: Vec<Vec<u32>> = outputs
        .lines()
        .map(|l| l.split_whitespace().map(|id| id.parse().unwrap()).collect())
        .collect();
    assert_eq!(inputs.len(), outputs.len(), "{name}: test files disagree");
    inputs
        .into_iter()
        .map(str::to_string)
        .zip(outputs)
        .collect()
}

fn check(name: &str) {
    let dir = common::llama_cpp_vocabularies();
    let mut reader = std::io::BufReader::new(
        std::fs::File::open(dir.join(format!("ggml-vocab-{name}.gguf"))).unwrap(),
    );
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let tokenizer = dragoman_translate::gguf_vocab::tokenizer(&content).unwrap();
    let cases = cases(&dir, name);
    assert!(cases.len() > 30, "{name}: {} cases", cases.len());
    let mut wrong = Vec::new();
    for (text, want) in &cases {
        let got = tokenizer
            .encode(text.as_str(), false)
            .unwrap()
            .get_ids()
            .to_vec();
        if &got != want {
            wrong.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
        // Byte-level vocabularies give the text back exactly.
        if name != "llama-spm" {
            assert_eq!(&tokenizer.decode(want, false).unwrap(), text, "{name}");
        }
    }
    assert!(
        wrong.is_empty(),
        "{name}: {} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn qwen2_vocabulary_matches_llama_cpp_tests() {
    check("qwen2");
}

#[test]
fn llama3_vocabulary_matches_llama_cpp_tests() {
    check("llama-bpe");
}

#[test]
fn llama2_sentencepiece_vocabulary_matches_llama_cpp_tests() {
    check("llama-spm");
}

#[test]
fn gpt2_vocabulary_matches_llama_cpp_tests() {
    check("gpt-2");
}

#[test]
fn unsupported_vocabulary_is_a_clear_error() {
    let dir = common::llama_cpp_vocabularies();
    let mut reader =
        std::io::BufReader::new(std::fs::File::open(dir.join("ggml-vocab-qwen2.gguf")).unwrap());
    let mut content = gguf_file::Content::read(&mut reader).unwrap();
    content.metadata.insert(
        "tokenizer.ggml.pre".into(),
        gguf_file::Value::String("tekken".into()),
    );
    let err = dragoman_translate::gguf_vocab::tokenizer(&content).unwrap_err();
    assert!(err.contains("\"tekken\"") && err.contains("qwen2"), "{err}");
    content.metadata.insert(
        "tokenizer.ggml.model".into(),
        gguf_file::Value::String("t5".into()),
    );
    let err = dragoman_translate::gguf_vocab::tokenizer(&content).unwrap_err();
    assert!(err.contains("\"t5\"") && err.contains("gpt2"), "{err}");
}
