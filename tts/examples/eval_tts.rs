//! Intelligibility and speed of each language's voice (see `scripts/eval_tts.sh`).
//!
//! `eval_tts WHISPER_DIR VAD_DIR SENTENCES.json [PIPER_DIR PIPER_CONFIG]...` speaks every
//! sentence of `{"en": [...], "vi": [...], ...}` with each engine that has a voice for its
//! language (the given Piper voices, and espeak-ng), hears it
//! back with our Whisper (the language given, not detected) and prints, per language and
//! engine: character error rate of the transcript against the text (both lower-cased, without
//! punctuation), real-time factor of synthesis, and time to first audio for a sentence of
//! about 15 words pushed into a streaming session (2 threads).

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)] // a benchmark prints

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use dragoman_core::engine::{TextToSpeech, TtsOptions, Voice};
use dragoman_core::resample::StreamResampler;
use dragoman_core::{AudioChunk, Lang, ModelSource, SampleRate, StreamTime};
use dragoman_stt::eval::{char_errors, normalize_words, percentile};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, WhisperModel};
use dragoman_tts::engine::SpeechEngine;
use dragoman_tts::piper::PiperVoice;
use dragoman_tts::session::drain_audio;

/// The allocator the `dragoman` binary runs with (see the `bench_tts` example).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Speaks `text` in one session, polling after the push as a caller would; returns the audio,
/// its rate, the seconds until the first audio and the seconds in all.
fn speak(engine: &SpeechEngine, voice: &Voice, text: &str) -> (Vec<f32>, SampleRate, f64, f64) {
    let start = Instant::now();
    let mut options = TtsOptions::new(voice.lang);
    options.voice = Some(voice.id.clone());
    let mut session = engine.new_session(&options).unwrap();
    let mut audio = Vec::new();
    session.push_text(text).unwrap();
    let mut rate = drain_audio(session.as_mut(), &mut audio);
    let mut first = rate.map(|_| start.elapsed().as_secs_f64());
    session.finish().unwrap();
    rate = drain_audio(session.as_mut(), &mut audio).or(rate);
    let total = start.elapsed().as_secs_f64();
    let first = *first.get_or_insert(total);
    (audio, rate.unwrap_or(SampleRate::HZ_16000), first, total)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [whisper, vad, sentences, piper @ ..] = &args[..] else {
        eprintln!("usage: eval_tts WHISPER_DIR VAD_DIR SENTENCES.json [PIPER_DIR PIPER_CONFIG]...");
        std::process::exit(2);
    };
    let whisper = WhisperModel::load(&ModelSource::dir(whisper), &Device::Cpu).unwrap();
    let vad = SileroVad::load_cpu(&ModelSource::dir(vad)).unwrap();
    let sentences: BTreeMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(Path::new(sentences)).unwrap()).unwrap();
    let mut engine = SpeechEngine::new().unwrap();
    for pair in piper.chunks(2) {
        let [dir, config] = pair else {
            panic!("a Piper voice is DIR CONFIG")
        };
        let source = ModelSource::dir(dir);
        let id = Path::new(dir)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let voice = PiperVoice::load(
            &source,
            &id,
            config,
            "model.safetensors",
            engine.espeak(),
            &Device::Cpu,
        )
        .unwrap();
        engine.add_voice(std::sync::Arc::new(voice));
    }
    println!("| language | engine | sentences | CER | RTF | first audio, ~15 words (p50) |");
    println!("|---|---|---|---|---|---|");
    for (code, texts) in &sentences {
        let lang = Lang::parse(code).unwrap();
        for voice in engine.voices().into_iter().filter(|v| v.lang == lang) {
            evaluate(&engine, &voice, texts, &whisper, &vad);
        }
    }
}

/// Speaks `texts` with `voice`, hears them back, prints the table row.
fn evaluate(
    engine: &SpeechEngine,
    voice: &Voice,
    texts: &[String],
    whisper: &WhisperModel,
    vad: &SileroVad,
) {
    let lang = voice.lang;
    let code = lang.code();
    let (mut errors, mut chars, mut audio_s, mut synth_s) = (0, 0, 0.0, 0.0);
    let mut first_audio = Vec::new();
    for text in texts {
        let (audio, rate, first, total) = speak(engine, voice, text);
        audio_s += audio.len() as f64 / f64::from(rate.hz());
        synth_s += total;
        if (12..=18).contains(&text.split_whitespace().count()) {
            first_audio.push(first);
        }
        let mut resampler = StreamResampler::new(rate, SampleRate::HZ_16000).unwrap();
        let mut heard = resampler.push(&audio).unwrap();
        heard.extend(resampler.finish().unwrap());
        let chunk = AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), heard);
        let mut options = DecodeOptions::default();
        options.language = Some(lang);
        let transcript = whisper
            .decoder()
            .transcribe_speech(&chunk, vad, &file_vad_options(), &options)
            .unwrap();
        let (e, n) = char_errors(&normalize_words(text), &normalize_words(&transcript.text));
        errors += e;
        chars += n;
    }
    first_audio.sort_by(f64::total_cmp);
    let first = if first_audio.is_empty() {
        "-".to_string()
    } else {
        format!(
            "{:.0} ms (n={})",
            1e3 * percentile(&first_audio, 0.5),
            first_audio.len()
        )
    };
    println!(
        "| {code} | {} | {} | {:.1}% | {:.3} | {first} |",
        voice.engine,
        texts.len(),
        100.0 * errors as f64 / chars.max(1) as f64,
        synth_s / audio_s.max(1e-9)
    );
}
