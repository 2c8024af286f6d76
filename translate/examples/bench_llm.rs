//! Speed of the GGUF LLM backend beside llama.cpp (its Python binding), on the same GGUF file
//! and the same prompts (see `scripts/bench_llm.sh`).
//!
//! `bench_llm run DIR GGUF SENTENCES.txt OUT` translates caption-length Tatoeba sentences
//! (5-25 words) English -> Spanish with dragoman, greedy, one sentence at a time, and writes
//! `OUT/inputs.json` (each prompt's token ids and how many tokens dragoman generated, so
//! llama.cpp decodes exactly as many) and `OUT/dragoman.json` (milliseconds per sentence).
//! `bench_llm report OUT` prints both engines' figures, the ratios, and how many greedy answers
//! are the same token for token.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use dragoman_core::{Lang, ModelSource};
use dragoman_translate::llm::LlmTranslator;
use serde_json::{Value, json};

/// The allocator the `dragoman` binary runs with: the system one hands large tensor buffers back
/// to the kernel and each use pays their page faults again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sentences timed.
const SENTENCES: usize = 32;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(ms: &[f64], tokens: usize) -> Value {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let total: f64 = ms.iter().sum();
    json!({
        "p50_ms": percentile(&sorted, 0.5),
        "p95_ms": percentile(&sorted, 0.95),
        "per_s": 1e3 * ms.len() as f64 / total,
        "tokens_per_s": 1e3 * tokens as f64 / total,
    })
}

/// The process's peak resident memory, in MB (Linux; 0 elsewhere).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run(dir: &Path, gguf: &str, sentences: &Path, out: &Path) {
    let model = LlmTranslator::load(&ModelSource::dir(dir), gguf, "bench", &Device::Cpu).unwrap();
    let text = std::fs::read_to_string(sentences).unwrap();
    let picked: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .filter(|en| (5..=25).contains(&en.split_whitespace().count()) && en.len() % 7 == 0)
        .take(SENTENCES)
        .collect();
    let prompts: Vec<Vec<u32>> = picked
        .iter()
        .map(|s| model.prompt_ids(s, Lang::EN, Lang::ES).unwrap())
        .collect();
    model.complete(&prompts[0], 8).unwrap(); // warm-up
    let (mut ms, mut prefill, mut inputs, mut tokens) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for (sentence, ids) in picked.iter().zip(&prompts) {
        let max_new = 3 * model.tokenize(sentence).unwrap().len() + 16;
        let t = Instant::now();
        model.logits(ids).unwrap();
        prefill.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let output = model.complete(ids, max_new).unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        tokens += ids.len() + output.len();
        inputs.push(json!({"ids": ids, "new_tokens": output.len(), "output": output}));
    }
    let mut figures = summary(&ms, tokens);
    figures["prefill_ms"] = json!(prefill.iter().sum::<f64>() / prefill.len() as f64);
    figures["peak_rss_mb"] = json!(peak_rss_mb());
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("inputs.json"), json!(inputs).to_string()).unwrap();
    std::fs::write(out.join("dragoman.json"), figures.to_string()).unwrap();
}

fn report(out: &Path) {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap()
    };
    let (ours, theirs, inputs) = (
        read("dragoman.json"),
        read("llama_cpp.json"),
        read("inputs.json"),
    );
    let inputs = inputs.as_array().unwrap();
    let mean = |key: &str| {
        inputs
            .iter()
            .map(|i| match &i[key] {
                Value::Array(a) => a.len() as f64,
                v => v.as_f64().unwrap(),
            })
            .sum::<f64>()
            / inputs.len() as f64
    };
    println!(
        "{} sentences, en->es, greedy, one at a time, 2 threads; mean prompt {:.0} tokens, \
         mean output {:.1} tokens (llama.cpp decodes as many as dragoman did)",
        inputs.len(),
        mean("ids"),
        mean("new_tokens")
    );
    println!(
        "| engine | p50 ms | p95 ms | sentences/s | tokens/s (prompt+output) | mean prompt ms | \
         peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, v) in [("dragoman", &ours), ("llama.cpp", &theirs)] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} | {:.0} |",
            v["p50_ms"].as_f64().unwrap(),
            v["p95_ms"].as_f64().unwrap(),
            v["per_s"].as_f64().unwrap(),
            v["tokens_per_s"].as_f64().unwrap(),
            v["prefill_ms"].as_f64().unwrap(),
            v["peak_rss_mb"].as_f64().unwrap_or(0.0)
        );
    }
    // Same greedy answer as llama.cpp: both run the same quantized weights, so answers part
    // only where two candidates are within rounding of each other.
    let theirs_out = theirs["outputs"].as_array().unwrap();
    let (mut same, mut prefix, mut total) = (0, 0, 0);
    for (input, t) in inputs.iter().zip(theirs_out) {
        let ours: Vec<u64> = input["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let t: Vec<u64> = t
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let common = ours.iter().zip(&t).take_while(|(a, b)| a == b).count();
        same += usize::from(common == ours.len());
        prefix += common;
        total += ours.len();
    }
    println!(
        "greedy answers identical to llama.cpp's: {same} of {} sentences; {prefix} of {total} \
         output tokens before the first difference",
        inputs.len()
    );
    let ratio = |key: &str| ours[key].as_f64().unwrap() / theirs[key].as_f64().unwrap();
    println!(
        "ratio dragoman / llama.cpp: p50 time {:.2}, p95 time {:.2} (goal <= 1.0)",
        ratio("p50_ms"),
        ratio("p95_ms")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") if args.len() == 5 => run(
            Path::new(&args[1]),
            &args[2],
            Path::new(&args[3]),
            Path::new(&args[4]),
        ),
        Some("report") if args.len() == 2 => report(Path::new(&args[1])),
        _ => eprintln!("usage: bench_llm run DIR GGUF SENTENCES.txt OUT | bench_llm report OUT"),
    }
}
