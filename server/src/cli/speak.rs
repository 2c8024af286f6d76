//! `dragoman speak --lang vi [--voice ID] [--out out.wav] [TEXT]`: text to speech, sentence by
//! sentence (stdin when no TEXT), written as a 16-bit mono WAV.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use dragoman_core::Lang;
use dragoman_core::engine::{TextToSpeech, TtsOptions, TtsSession};
use dragoman_core::store::ModelStore;
use dragoman_tts::engine::SpeechEngine;
use dragoman_tts::session::drain_audio;

/// espeak-ng's voices, and every neural voice pulled into `store`.
pub(crate) fn speech_engine(store: &ModelStore) -> anyhow::Result<SpeechEngine> {
    Ok(SpeechEngine::with_pulled_voices(
        store,
        &candle_core::Device::Cpu,
    )?)
}

#[derive(Debug, Args)]
pub(crate) struct SpeakArgs {
    /// Language to speak (`en`, `vi`, `de`, ...).
    #[arg(long, required_unless_present = "list_voices")]
    lang: Option<String>,
    /// Voice id (see `--list-voices`). Default: the language's neural voice when one is
    /// pulled (`dragoman models pull piper-en_US-joe-medium`, or `mms-tts-vie` online), else
    /// espeak-ng's.
    #[arg(long)]
    voice: Option<String>,
    /// Speaking rate: 1.0 is the voice's own pace, 2.0 twice as fast.
    #[arg(long, default_value_t = 1.0)]
    speed: f32,
    /// WAV file to write. Default: `speech.wav`; `-` writes the WAV to standard output.
    #[arg(long, short, default_value = "speech.wav")]
    out: PathBuf,
    /// Print the voices (id, language, engine) and exit.
    #[arg(long)]
    list_voices: bool,
    /// Text to speak. Without it, standard input is read (spoken sentence by sentence as it
    /// arrives).
    text: Vec<String>,
}

/// Which voice (and engine) speaks each of the main languages by default, one line.
pub(crate) fn speech_summary(engine: &SpeechEngine) -> String {
    let voices = engine.voices();
    [Lang::EN, Lang::VI, Lang::DE, Lang::ES, Lang::FR]
        .iter()
        .map(|&lang| match voices.iter().find(|v| v.lang == lang) {
            Some(v) => format!("{} {} ({})", lang.code(), v.engine, v.id),
            None => format!("{} none", lang.code()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn run(args: SpeakArgs) -> anyhow::Result<ExitCode> {
    let engine = speech_engine(&ModelStore::from_env()?)?;
    if args.list_voices {
        for voice in engine.voices() {
            println!("{}\t{}\t{}", voice.id, voice.lang.code(), voice.engine);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let lang = args.lang.as_deref().unwrap_or_default();
    let mut options = TtsOptions::new(Lang::parse(lang)?);
    options.voice = args.voice;
    options.speed = args.speed;
    let mut session = engine.new_session(&options)?;
    let mut samples = Vec::new();
    let mut rate = None;
    let mut drain = |session: &mut dyn TtsSession| {
        rate = drain_audio(session, &mut samples).or(rate);
    };
    if args.text.is_empty() {
        if std::io::stdin().is_terminal() {
            eprintln!("reading text from standard input (end with Ctrl-D)");
        }
        for line in std::io::stdin().lock().lines() {
            session.push_text(&format!("{}\n", line?))?;
            drain(session.as_mut());
        }
    } else {
        session.push_text(&args.text.join(" "))?;
    }
    session.finish()?;
    drain(session.as_mut());
    let Some(rate) = rate else {
        eprintln!("nothing to say: no audio written");
        return Ok(ExitCode::SUCCESS);
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate.hz(),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let pcm = samples
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16);
    if args.out.as_os_str() == "-" {
        let mut bytes = std::io::Cursor::new(Vec::new());
        write_wav(&mut bytes, spec, pcm)?;
        std::io::stdout().lock().write_all(&bytes.into_inner())?;
    } else {
        let file = std::fs::File::create(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        write_wav(std::io::BufWriter::new(file), spec, pcm)?;
        eprintln!(
            "{}: {:.1} s at {} Hz",
            args.out.display(),
            samples.len() as f64 / f64::from(rate.hz()),
            rate.hz()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn write_wav<W: std::io::Write + std::io::Seek>(
    out: W,
    spec: hound::WavSpec,
    pcm: impl Iterator<Item = i16>,
) -> anyhow::Result<()> {
    let mut writer = hound::WavWriter::new(out, spec)?;
    for sample in pcm {
        writer.write_sample(sample)?;
    }
    writer.finalize()?;
    Ok(())
}
