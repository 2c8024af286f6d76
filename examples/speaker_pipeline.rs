//! One speaker's whole translation pipeline without a room: core's sans-IO session (the same
//! stages the room runs on its threads) driven from one thread, as an app or a binding
//! embeds it. A recording goes in as 20 ms chunks; captions and their translations are
//! printed as they come; the translated speech of each language is written to a WAV file.
//!
//! `cargo run --release -p dragoman-examples --example speaker_pipeline -- [--from en]
//! [--to de ...] [--out DIR] FILE` (any format `dragoman transcribe` reads; models from
//! `dragoman models pull`).

#![allow(clippy::print_stdout)] // an example prints

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use dragoman_core::decode::load_audio;
use dragoman_core::pipeline::{Immediate, PipelineSession, SessionEvent, SessionOptions, Targets};
use dragoman_core::resample::resample;
use dragoman_core::store::ModelStore;
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime};

/// What the command line asked for.
struct Args {
    from: Option<Lang>,
    to: Vec<Lang>,
    out: PathBuf,
    file: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let usage = "usage: speaker_pipeline [--from LANG] [--to LANG ...] [--out DIR] FILE";
    let mut args = Args {
        from: None,
        to: Vec::new(),
        out: PathBuf::from("."),
        file: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().context(usage);
        match arg.as_str() {
            "--from" => args.from = Some(value()?.parse()?),
            "--to" => args.to.push(value()?.parse()?),
            "--out" => args.out = value()?.into(),
            _ if arg.starts_with("--") => anyhow::bail!("{usage}"),
            _ => args.file = arg,
        }
    }
    anyhow::ensure!(!args.file.is_empty(), "{usage}");
    if args.to.is_empty() {
        args.to.push(Lang::DE);
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let store = ModelStore::from_env()?;
    // One session in one thread: nothing to share the CPU with, every job runs at once. No
    // refiner: in one thread, each refinement would hold up the live work behind it.
    let engines = dragoman_engines::engines(&store, false, Arc::new(Immediate))?;
    let targets = Targets {
        captions: args.to.iter().copied().collect(),
        speech: args.to.iter().copied().collect(),
    };
    let mut options = SessionOptions::default();
    options.spoken = args.from;
    let mut session = PipelineSession::new(&engines, &options, targets)?;

    let rate = SampleRate::HZ_16000;
    let audio = load_audio(&args.file, rate).with_context(|| args.file.clone())?;
    let seconds = audio.samples.len() as f64 / 16_000.0;
    println!("{}: {seconds:.1} s", args.file);
    let mut speech: BTreeMap<Lang, (SampleRate, Vec<f32>)> = BTreeMap::new();
    let started = Instant::now();
    let chunk = 320; // 20 ms
    for (i, samples) in audio.samples.chunks(chunk).enumerate() {
        let start = StreamTime::from_samples((i * chunk) as u64, rate);
        session.push_audio(&AudioChunk::new(start, samples.to_vec()));
        drain(&mut session, &mut speech)?;
    }
    session.finish();
    drain(&mut session, &mut speech)?;
    let compute = started.elapsed().as_secs_f64();
    println!(
        "{compute:.1} s of compute for {seconds:.1} s of speech ({:.2}x real time)",
        compute / seconds
    );

    std::fs::create_dir_all(&args.out)?;
    for (lang, (rate, samples)) in speech {
        let path = args.out.join(format!("{lang}.wav"));
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate.hz(),
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(&path, spec)?;
        for s in samples {
            wav.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)?;
        }
        wav.finalize()?;
        println!("translated speech: {}", path.display());
    }
    Ok(())
}

/// Prints the session's captions and keeps its speech, per language at the first chunk's rate.
fn drain(
    session: &mut PipelineSession,
    speech: &mut BTreeMap<Lang, (SampleRate, Vec<f32>)>,
) -> anyhow::Result<()> {
    while let Some(event) = session.poll_event() {
        match event {
            SessionEvent::Caption(c) if c.is_final => {
                let lang = c.lang.map_or("?".to_string(), |l| l.to_string());
                let refined = if c.refined { " (refined)" } else { "" };
                println!(
                    "[{:7.2} s] {lang}{refined}: {}",
                    c.start.as_secs_f64(),
                    c.text
                );
            }
            SessionEvent::Speech { lang, audio } => {
                let (rate, samples) = speech
                    .entry(lang)
                    .or_insert_with(|| (audio.rate(), Vec::new()));
                samples.extend(resample(&audio.samples, audio.rate(), *rate)?);
            }
            SessionEvent::Error { stage, message } => eprintln!("{stage}: {message}"),
            _ => {}
        }
    }
    Ok(())
}
