//! FAITHFULNESS TESTS ON RANDOMLY INITIALISED MODELS — not translation quality.
//!
//! `tests/reference/seq2seq_reference.py` builds a Marian (opus-mt) and an M2M100 model with
//! `transformers` from the real configs' widths (fewer layers, a small vocabulary), random
//! weights, and SentencePiece models trained on Tatoeba text, and records what `transformers`
//! computes. dragoman must compute the same: token ids and detokenized text exactly, logits
//! within float tolerance, and the same greedy and beam-search outputs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use dragoman_core::ModelSource;
use dragoman_translate::seq2seq::{SearchOptions, Seq2SeqConfig, Seq2SeqModel, generate};
use dragoman_translate::tokenizer::{M2M100_LANGUAGES, PieceTokenizer};
use serde_json::Value;

fn load_weights(path: &Path, config: &Seq2SeqConfig) -> Seq2SeqModel {
    let weights = std::fs::read(path).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).unwrap();
    Seq2SeqModel::load(vb, config).unwrap()
}

struct Loaded {
    dir: PathBuf,
    reference: Value,
    model: Seq2SeqModel,
    tokenizer: PieceTokenizer,
    /// Source ids: tokens before and after the pieces.
    source_prefix: Vec<u32>,
    /// Decoder input before generation, and how much of it counts as generated.
    decoder_prefix: Vec<u32>,
    prefix_counted: usize,
    suppress: Vec<u32>,
}

fn load(family: &str) -> Loaded {
    let dir = common::seq2seq_reference(family);
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let model_dir = dir.join("model");
    let config = Seq2SeqConfig::from_hf_json(
        &std::fs::read_to_string(model_dir.join("config.json")).unwrap(),
    )
    .unwrap();
    // The weights as the model store delivers Hub checkpoints: the PyTorch pickle converted to
    // safetensors. (`logits_match` also loads transformers' own safetensors export.)
    let converted = dir.join("converted.safetensors");
    dragoman_core::store::convert::pickle::convert_torch(
        &dir.join("pytorch_model.bin"),
        "",
        &converted,
    )
    .unwrap();
    let model = load_weights(&converted, &config);
    match family {
        "marian" => {
            let tokenizer = PieceTokenizer::load(
                &ModelSource::dir(&model_dir),
                "test",
                "source.spm",
                "target.spm",
                "<unk>",
                "</s>",
                &["</s>", "<unk>", "<pad>"],
            )
            .unwrap();
            Loaded {
                dir: dir.clone(),
                reference,
                model,
                tokenizer,
                source_prefix: vec![],
                decoder_prefix: vec![config.decoder_start_token_id],
                prefix_counted: 0,
                suppress: vec![config.pad_token_id],
            }
        }
        _ => {
            let mut tokenizer = PieceTokenizer::load(
                &ModelSource::dir(&model_dir),
                "test",
                "sentencepiece.bpe.model",
                "sentencepiece.bpe.model",
                "<unk>",
                "</s>",
                &["<s>", "<pad>", "</s>", "<unk>"],
            )
            .unwrap();
            let first = tokenizer.len() as u32;
            tokenizer.add_special(first..first + M2M100_LANGUAGES.len() as u32);
            let lang = |code: &str| {
                first + M2M100_LANGUAGES.iter().position(|&l| l == code).unwrap() as u32
            };
            let ids: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("lang_ids.json")).unwrap())
                    .unwrap();
            assert_eq!(ids["en"].as_u64(), Some(u64::from(lang("en"))));
            Loaded {
                dir: dir.clone(),
                reference,
                model,
                tokenizer,
                source_prefix: vec![lang("en")],
                decoder_prefix: vec![config.decoder_start_token_id, lang("es")],
                prefix_counted: 1,
                suppress: vec![],
            }
        }
    }
}

impl Loaded {
    /// The reference's batch of sentences, encoded.
    fn batch(&self) -> Vec<Vec<u32>> {
        self.reference["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| self.encode(s.as_str().unwrap()))
            .collect()
    }

    fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = self.source_prefix.clone();
        ids.extend(self.tokenizer.pieces_of(text).unwrap());
        ids.push(self.tokenizer.eos());
        ids
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Generated tokens of a `generate` row: after the decoder prefix, up to the first EOS.
fn generated(row: &Value, prefix: usize, eos: u32) -> Vec<u32> {
    ids(row)[prefix..]
        .iter()
        .copied()
        .take_while(|&t| t != eos)
        .collect()
}

fn tokenizer_matches(t: &Loaded) {
    let sentences = t.reference["sentences"].as_array().unwrap();
    for (i, sentence) in sentences.iter().enumerate() {
        let text = sentence.as_str().unwrap();
        let want = ids(&t.reference["ids"][i]);
        assert_eq!(t.encode(text), want, "ids of {text:?}");
        let decoded = t.tokenizer.decode(&want[t.source_prefix.len()..]).unwrap();
        assert_eq!(
            decoded,
            t.reference["decoded"][i].as_str().unwrap(),
            "decode of {text:?}"
        );
    }
}

fn logits_match(t: &Loaded) {
    logits_of(t, &t.model);
    let exported = load_weights(&t.dir.join("model/model.safetensors"), t.model.config());
    logits_of(t, &exported);
}

fn logits_of(t: &Loaded, model: &Seq2SeqModel) {
    let batch = t.batch();
    let encoded = model.encode(&batch).unwrap();
    let decoder_input: Vec<Vec<u32>> = t.reference["decoder_input"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    let want = &t.reference["logits"];
    let n = decoder_input[0].len();
    let mut worst = 0f32;
    let mut scale = 0f32;
    let mut compare = |got: &Tensor, position: usize| {
        let got = got.to_vec2::<f32>().unwrap();
        for (row, got_row) in got.iter().enumerate() {
            let want_row = want[row][position].as_array().unwrap();
            assert_eq!(got_row.len(), want_row.len());
            for (g, w) in got_row.iter().zip(want_row) {
                let w = w.as_f64().unwrap() as f32;
                worst = worst.max((g - w).abs());
                scale = scale.max(w.abs());
            }
        }
    };
    // One token at a time through the caches, as generation runs.
    let mut state = model.start(&encoded, 1).unwrap();
    for position in 0..n {
        let step: Vec<Vec<u32>> = decoder_input.iter().map(|r| vec![r[position]]).collect();
        compare(&model.step(&mut state, &step).unwrap(), position);
    }
    // All at once (causal mask), as a prompt prefix runs.
    let mut state = model.start(&encoded, 1).unwrap();
    compare(&model.step(&mut state, &decoder_input).unwrap(), n - 1);
    eprintln!("logits: max abs difference {worst:e} (largest logit {scale})");
    assert!(worst <= 1e-5 * scale.max(1.0), "logits differ by {worst}");
}

fn searches_match(t: &Loaded) {
    let batch = t.batch();
    let encoded = t.model.encode(&batch).unwrap();
    let eos = t.model.config().eos_token_id;
    // The reference generated 12 new tokens, forced ones included.
    let max_new = 12 - t.prefix_counted;
    for (beams, key) in [(1, "greedy"), (4, "beam")] {
        let mut options = SearchOptions::beam(t.decoder_prefix.clone(), beams, max_new);
        options.suppress = t.suppress.clone();
        options.prefix_counted = t.prefix_counted;
        let got = generate(&t.model, &encoded, &options).unwrap();
        for (row, got) in got.iter().enumerate() {
            let want = generated(&t.reference[key][row], t.decoder_prefix.len(), eos);
            assert_eq!(got, &want, "{key} search, sentence {row}");
        }
    }
}

fn check(family: &str) {
    let t = load(family);
    tokenizer_matches(&t);
    logits_match(&t);
    searches_match(&t);
}

#[test]
fn marian_matches_transformers() {
    check("marian");
}

#[test]
fn m2m100_matches_transformers() {
    check("m2m100");
}
