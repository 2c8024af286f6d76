//! Speed of a Piper voice on our VITS beside onnxruntime on the same ONNX file (see
//! `scripts/bench_tts.sh`).
//!
//! `bench_tts run VOICE_DIR CONFIG SENTENCES.json OUT` phonemizes the English sentences of
//! `{"en": [...]}` once, writes the phoneme ids to `OUT/ids.json` so both
//! engines get the same input, and times our synthesis of each (2 threads, the voice's own
//! sampling scales): `OUT/dragoman.json`. `bench_tts report OUT` prints both engines side by side.
//! A sentence is synthesised whole, so its time is also its time to first audio.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use dragoman_core::ModelSource;
use dragoman_stt::eval::percentile;
use dragoman_tts::espeak::Espeak;
use dragoman_tts::piper::PiperVoice;
use serde_json::{Value, json};

/// The allocator the `dragoman` binary runs with: the system one hands large tensor buffers back
/// to the kernel and every synthesis pays their page faults again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident memory of this process, MB (Linux).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn run(dir: &Path, config: &str, sentences: &Path, out: &Path) {
    let espeak = Espeak::find().unwrap();
    let source = ModelSource::dir(dir);
    let voice = PiperVoice::load(
        &source,
        "bench",
        config,
        "model.safetensors",
        &espeak,
        &Device::Cpu,
    )
    .unwrap();
    let all: Value = serde_json::from_str(&std::fs::read_to_string(sentences).unwrap()).unwrap();
    let picked: Vec<&str> = all["en"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let ids: Vec<Vec<u32>> = picked
        .iter()
        .map(|s| voice.phoneme_ids(s).unwrap())
        .collect();
    let scales = voice.scales();
    let model_run = |ids: &[u32]| voice_model_audio(&voice, ids, scales);
    model_run(&ids[0]); // warm-up
    let (mut ms, mut audio_s) = (Vec::new(), 0.0);
    for sentence in &ids {
        let t = Instant::now();
        let samples = model_run(sentence);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        audio_s += samples as f64 / 22_050.0;
    }
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("ids.json"), json!(ids).to_string()).unwrap();
    let total: f64 = ms.iter().sum();
    let figures = json!({
        "p50_ms": percentile(&ms, 0.5),
        "p95_ms": percentile(&ms, 0.95),
        "rtf": total / 1e3 / audio_s,
        "sentences": ms.len(),
        "peak_mb": peak_mb(),
        "scales": [scales.noise, scales.length, scales.noise_w],
    });
    std::fs::write(out.join("dragoman.json"), figures.to_string()).unwrap();
}

/// Samples our VITS makes for `ids`.
fn voice_model_audio(voice: &PiperVoice, ids: &[u32], scales: dragoman_tts::vits::Scales) -> usize {
    voice.synthesize_ids(ids, scales).unwrap().len()
}

fn report(out: &Path) {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap()
    };
    let (ours, theirs) = (read("dragoman.json"), read("onnxruntime.json"));
    println!(
        "{} English sentences of 14-16 words, Piper en_US-joe-medium, the voice's scales, 2 threads",
        ours["sentences"]
    );
    println!("| engine | p50 ms (= first audio) | p95 ms | RTF | peak MB |");
    println!("|---|---|---|---|---|");
    for (name, v) in [("dragoman (candle)", &ours), ("onnxruntime", &theirs)] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.3} | {:.0} |",
            v["p50_ms"].as_f64().unwrap(),
            v["p95_ms"].as_f64().unwrap(),
            v["rtf"].as_f64().unwrap(),
            v["peak_mb"].as_f64().unwrap()
        );
    }
    let ratio = |key: &str| ours[key].as_f64().unwrap() / theirs[key].as_f64().unwrap();
    println!(
        "ratio dragoman / onnxruntime: p50 {:.2}, RTF {:.2} (goal <= 1.0)",
        ratio("p50_ms"),
        ratio("rtf")
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
        _ => eprintln!(
            "usage: bench_tts run VOICE_DIR CONFIG SENTENCES.json OUT | bench_tts report OUT"
        ),
    }
}
