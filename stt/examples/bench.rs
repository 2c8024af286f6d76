//! Speech-to-text benchmark: word error rate, real-time factor and peak memory of dragoman's
//! Whisper, side by side with faster-whisper results produced by `scripts/faster_whisper_run.py`
//! on the same files with the same weights. Run it through `scripts/bench_stt.sh`.
//!
//! `bench MODEL_DIR VAD_DIR REFERENCES_DIR [--peer NAME=RESULTS.json ...] FILE.wav ...`
//! (a reference transcript is `REFERENCES_DIR/<file stem>.txt`, when present).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

/// Inference allocates and frees tensors of tens of megabytes per layer; glibc returns each to
/// the kernel (mmap/munmap), which costs 40% of the encoder's time in page faults. mimalloc keeps them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::{Lang, ModelSource, SampleRate};
use dragoman_stt::eval::{normalize_english, word_errors};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, Precision, WhisperModel};

/// Peak resident memory of this process in MB (Linux).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Row {
    name: String,
    texts: BTreeMap<String, String>,
    seconds: f64,
    peak_mb: f64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, vad_dir, refs, rest @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: bench MODEL_DIR VAD_DIR REFERENCES_DIR [--peer NAME=RESULTS.json ...] FILE.wav ..."
        );
    };
    let mut peers = Vec::new();
    let mut files = Vec::new();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        if arg == "--peer" {
            let spec = it
                .next()
                .ok_or_else(|| anyhow::anyhow!("--peer needs NAME=FILE"))?;
            let (name, path) = spec
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--peer NAME=FILE"))?;
            peers.push((name.to_string(), PathBuf::from(path)));
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let audio: Vec<_> = files
        .iter()
        .map(|f| (stem(f), load_audio(f, SampleRate::HZ_16000).expect("audio")))
        .collect();
    let audio_seconds: f64 = audio
        .iter()
        .map(|(_, a)| a.samples.len() as f64 / 16_000.0)
        .sum();

    if let Ok(precision) = std::env::var("DRAGOMAN_BENCH_RUN") {
        // Child: one precision, results as JSON (the peers' format).
        let precision = match precision.as_str() {
            "q8" => Precision::Q8,
            "q4" => Precision::Q4,
            _ => Precision::F32,
        };
        let model = WhisperModel::load_as(
            &ModelSource::dir(model_dir),
            &Device::Cpu,
            "whisper-base",
            precision,
        )?;
        let vad = SileroVad::load_cpu(&ModelSource::dir(vad_dir))?;
        let mut options = DecodeOptions::default();
        options.language = Some(Lang::EN);
        // Warm-up outside the timing (first-touch allocations), as the peer's script does.
        model
            .decoder()
            .transcribe_speech(&audio[0].1, &vad, &file_vad_options(), &options)?;
        let start = Instant::now();
        let mut texts = BTreeMap::new();
        for (name, samples) in &audio {
            let t =
                model
                    .decoder()
                    .transcribe_speech(samples, &vad, &file_vad_options(), &options)?;
            texts.insert(name.clone(), t.text);
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"texts": texts, "seconds": seconds, "peak_mb": peak_mb()})
        );
        return Ok(());
    }
    let mut runs: Vec<(String, serde_json::Value)> = Vec::new();
    for (name, precision) in [
        ("dragoman f32", "f32"),
        ("dragoman q8", "q8"),
        ("dragoman q4", "q4"),
    ] {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(&args)
            .env("DRAGOMAN_BENCH_RUN", precision)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs.push((name.to_string(), serde_json::from_slice(&out.stdout)?));
    }
    for (name, path) in peers {
        runs.push((name, serde_json::from_slice(&std::fs::read(&path)?)?));
    }
    let rows: Vec<Row> = runs
        .into_iter()
        .map(|(name, json)| Row {
            name,
            texts: json["texts"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            seconds: json["seconds"].as_f64().unwrap_or(f64::NAN),
            peak_mb: json["peak_mb"].as_f64().unwrap_or(f64::NAN),
        })
        .collect();

    println!(
        "{} files, {audio_seconds:.1} s of audio, greedy decoding (beam 1), English, VAD on, 2 threads",
        audio.len()
    );
    println!(
        "{:<28} {:>7} {:>9} {:>8} {:>9} {:>12}",
        "system", "WER %", "errors", "RTF", "peak MB", "time/ours"
    );
    let ours = rows[0].seconds;
    for row in &rows {
        let (mut errors, mut words) = (0, 0);
        for (name, _) in &audio {
            if let Ok(reference) =
                std::fs::read_to_string(Path::new(refs).join(format!("{name}.txt")))
            {
                let (e, w) = word_errors(
                    &normalize_english(&reference),
                    &normalize_english(row.texts.get(name).map_or("", String::as_str)),
                );
                errors += e;
                words += w;
            }
        }
        println!(
            "{:<28} {:>7.2} {:>9} {:>8.3} {:>9.0} {:>12.2}",
            row.name,
            100.0 * errors as f64 / words.max(1) as f64,
            format!("{errors}/{words}"),
            row.seconds / audio_seconds,
            row.peak_mb,
            row.seconds / ours
        );
    }
    Ok(())
}
