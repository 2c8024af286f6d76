//! Translation speed of dragoman's Marian / M2M100 beside CTranslate2, on the same random-weight
//! model (see `scripts/bench_mt.sh`, which builds it, converts it for CTranslate2 and runs both).
//!
//! `bench_mt prepare DIR FAMILY SENTENCES.txt` writes `DIR/inputs.json`: the source token
//! pieces of caption-length sentences (5-25 words), so both engines see identical input.
//! `bench_mt run DIR FAMILY CT2.json` times dragoman on them — greedy, batch 1 (latency per
//! sentence) and batch 8 (throughput), a fixed number of generated tokens per sentence (the
//! model's EOS is disabled, so both engines decode to the same length) — and prints the table
//! with CTranslate2's figures and the ratios.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use dragoman_core::ModelSource;
use dragoman_translate::seq2seq::{SearchOptions, Seq2SeqConfig, Seq2SeqModel, generate};
use dragoman_translate::tokenizer::{M2M100_LANGUAGES, PieceTokenizer};
use serde_json::{Value, json};

/// The allocator the `dragoman` binary runs with: the system one hands large tensor buffers back
/// to the kernel and each use pays their page faults again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sentences timed per setting.
const SENTENCES: usize = 64;

fn tokenizer(dir: &Path, family: &str) -> PieceTokenizer {
    let source = ModelSource::dir(dir);
    if family == "marian" {
        PieceTokenizer::load(
            &source,
            "test",
            "source.spm",
            "target.spm",
            "<unk>",
            "</s>",
            &[],
        )
        .unwrap()
    } else {
        let spm = "sentencepiece.bpe.model";
        PieceTokenizer::load(&source, "test", spm, spm, "<unk>", "</s>", &[]).unwrap()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, dir, family) = (args[0].as_str(), Path::new(&args[1]), args[2].as_str());
    let model_dir = dir.join("model");
    let tok = tokenizer(&model_dir, family);
    let vocab: Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("vocab.json")).unwrap())
            .unwrap();
    let piece_of = |id: u32| -> String {
        vocab
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, v)| v.as_u64() == Some(u64::from(id)))
            .map(|(k, _)| k.clone())
            .unwrap_or_default()
    };
    if mode == "prepare" {
        let text = std::fs::read_to_string(&args[3]).unwrap();
        let mut inputs = Vec::new();
        for line in text.lines() {
            let english = line.split('\t').next().unwrap_or_default();
            let words = english.split_whitespace().count();
            if (5..=25).contains(&words) && inputs.len() < SENTENCES && line.len() % 7 == 0 {
                let ids = tok.pieces_of(english).unwrap();
                inputs.push(ids.into_iter().map(piece_of).collect::<Vec<_>>());
            }
        }
        std::fs::write(dir.join("inputs.json"), json!(inputs).to_string()).unwrap();
        return;
    }

    let config = Seq2SeqConfig::from_hf_json(
        &std::fs::read_to_string(model_dir.join("config.json")).unwrap(),
    )
    .unwrap();
    let weights = std::fs::read(model_dir.join("model.safetensors")).unwrap();
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).unwrap();
    let model = Seq2SeqModel::load(vb, &config).unwrap();
    let inputs: Vec<Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("inputs.json")).unwrap()).unwrap();
    let first_language = tok.len() as u32;
    let language = |code: &str| {
        first_language + M2M100_LANGUAGES.iter().position(|&l| l == code).unwrap() as u32
    };
    let sources: Vec<Vec<u32>> = inputs
        .iter()
        .map(|pieces| {
            let mut ids: Vec<u32> = if family == "marian" {
                vec![]
            } else {
                vec![language("en")]
            };
            ids.extend(pieces.iter().map(|p| tok.id(p).unwrap()));
            ids.push(config.eos_token_id);
            ids
        })
        .collect();
    let ct2: Value = serde_json::from_str(&std::fs::read_to_string(&args[3]).unwrap()).unwrap();
    let new_tokens = ct2["new_tokens"].as_u64().unwrap() as usize;
    let (prefix, counted) = if family == "marian" {
        (vec![config.decoder_start_token_id], 0)
    } else {
        (vec![config.decoder_start_token_id, language("es")], 1)
    };
    let run = |batch: &[Vec<u32>]| {
        let encoded = model.encode(batch).unwrap();
        let mut options = SearchOptions::greedy(prefix.clone(), new_tokens - counted);
        options.prefix_counted = counted;
        let out = generate(&model, &encoded, &options).unwrap();
        assert!(
            out.iter().all(|o| o.len() + counted == new_tokens),
            "EOS came early"
        );
    };
    run(&sources[..1]); // warm-up
    let mut latencies: Vec<f64> = sources
        .iter()
        .map(|s| {
            let t = Instant::now();
            run(std::slice::from_ref(s));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let t = Instant::now();
    for chunk in sources.chunks(8) {
        run(chunk);
    }
    let batch8 = sources.len() as f64 / t.elapsed().as_secs_f64();

    let ours = json!({
        "p50_ms": percentile(&latencies, 0.5),
        "p95_ms": percentile(&latencies, 0.95),
        "batch1_per_s": 1e3 * latencies.len() as f64 / latencies.iter().sum::<f64>(),
        "batch8_per_s": batch8,
    });
    println!(
        "{family}: {} caption-length sentences (5-25 words), greedy, {new_tokens} tokens generated each, 2 threads",
        sources.len()
    );
    println!(
        "{:<14} {:>9} {:>9} {:>13} {:>13}",
        "engine", "p50 ms", "p95 ms", "batch1 sent/s", "batch8 sent/s"
    );
    for (name, row) in [("dragoman", &ours), ("CTranslate2", &ct2)] {
        println!(
            "{name:<14} {:>9.1} {:>9.1} {:>13.1} {:>13.1}",
            row["p50_ms"].as_f64().unwrap(),
            row["p95_ms"].as_f64().unwrap(),
            row["batch1_per_s"].as_f64().unwrap(),
            row["batch8_per_s"].as_f64().unwrap()
        );
    }
    let ratio = |k: &str| ours[k].as_f64().unwrap() / ct2[k].as_f64().unwrap();
    println!(
        "time ratio dragoman/CTranslate2: p50 {:.2}, p95 {:.2}, batch1 {:.2}, batch8 {:.2}",
        ratio("p50_ms"),
        ratio("p95_ms"),
        1.0 / ratio("batch1_per_s"),
        1.0 / ratio("batch8_per_s")
    );
}
