//! `dragoman transcribe FILE`: a recording to text, JSON or subtitles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dragoman_core::decode::load_audio;
use dragoman_core::engine::SttTask;
use dragoman_core::store::ModelStore;
use dragoman_core::{Lang, SampleRate};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, Precision, WhisperModel};

#[derive(Debug, Args)]
pub(crate) struct TranscribeArgs {
    /// Audio file (WAV, FLAC, MP3, Ogg/Vorbis, AAC/M4A, ...), any rate and channel count.
    file: PathBuf,
    /// Speech-to-text model id (see `dragoman models list`); append `-q8` or `-q4` for 8- or
    /// 4-bit weights (`whisper-base-q8`).
    #[arg(long, default_value = "whisper-base")]
    model: String,
    /// Spoken language (`vi`, `en`, `de-DE`, ...), or `auto` to detect it.
    #[arg(long, default_value = "auto")]
    language: String,
    /// `transcribe` in the spoken language, or `translate` into English.
    #[arg(long, value_enum, default_value_t = Task::Transcribe)]
    task: Task,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Transcribe everything instead of only the speech Silero VAD finds (silence and noise then
    /// risk hallucinated text).
    #[arg(long)]
    no_vad: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Task {
    Transcribe,
    Translate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Srt,
    Vtt,
}

pub(crate) fn run(args: TranscribeArgs) -> anyhow::Result<ExitCode> {
    let language = match args.language.as_str() {
        "auto" => None,
        code => Some(Lang::parse(code)?),
    };
    let store = ModelStore::from_env()?;
    let (id, precision) = Precision::from_model_id(&args.model);
    let needed: &[&str] = if args.no_vad {
        &[id]
    } else {
        &[id, "silero-vad"]
    };
    super::models::pull_missing(&store, needed)?;
    let source = store.source(id)?;
    let model = WhisperModel::load_as(&source, &candle_core::Device::Cpu, id, precision)?;
    let audio = load_audio(&args.file, SampleRate::HZ_16000)?;
    let mut options = DecodeOptions::default();
    options.language = language;
    options.task = match args.task {
        Task::Transcribe => SttTask::Transcribe,
        Task::Translate => SttTask::TranslateToEnglish,
    };
    let mut decoder = model.decoder();
    let transcript = if args.no_vad {
        decoder.transcribe(&audio, &options)
    } else {
        let vad = SileroVad::load_cpu(&store.source("silero-vad")?)?;
        decoder.transcribe_speech(&audio, &vad, &file_vad_options(), &options)
    }
    .with_context(|| format!("transcribing {}", args.file.display()))?;
    let out = match args.format {
        Format::Text => format!("{}\n", transcript.text),
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&transcript)?),
        Format::Srt => transcript.to_srt(),
        Format::Vtt => transcript.to_vtt(),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
