//! Recordings to text: what `dragoman transcribe` does.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::Device;
use dragoman_core::decode::load_audio;
use dragoman_core::engine::SttTask;
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime, transcript};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, Precision, WhisperModel};

use crate::error::{DragomanError, Result};
use crate::models::ModelStore;

/// How to transcribe.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TranscribeOptions {
    /// The spoken language (`vi`, `en`, `de-DE`, ...), or `None` to detect it.
    #[uniffi(default = None)]
    pub language: Option<String>,
    /// Write the speech down in English instead of its own language (Whisper's translation).
    #[uniffi(default = false)]
    pub to_english: bool,
    /// Transcribe only the speech Silero VAD finds (else silence and noise risk hallucinated
    /// text).
    #[uniffi(default = true)]
    pub vad: bool,
}

/// A stretch of speech and its text.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Segment {
    /// Start, in seconds from the beginning of the recording.
    pub start: f64,
    /// End, in seconds.
    pub end: f64,
    /// What was said.
    pub text: String,
    /// Who said it, once diarization labels speakers.
    pub speaker: Option<String>,
}

/// A transcribed recording.
#[derive(Debug, uniffi::Object)]
pub struct Transcript {
    inner: transcript::Transcript,
}

#[uniffi::export]
impl Transcript {
    /// The whole text.
    pub fn text(&self) -> String {
        self.inner.text.clone()
    }

    /// The language it was transcribed in (BCP 47 code).
    pub fn language(&self) -> String {
        self.inner.language.to_string()
    }

    /// Probability of the language when it was detected; `None` when it was given.
    pub fn language_probability(&self) -> Option<f32> {
        self.inner.language_probability
    }

    /// The timed segments.
    pub fn segments(&self) -> Vec<Segment> {
        self.inner
            .segments
            .iter()
            .map(|s| Segment {
                start: s.start,
                end: s.end,
                text: s.text.clone(),
                speaker: s.speaker.clone(),
            })
            .collect()
    }

    /// SubRip subtitles.
    pub fn to_srt(&self) -> String {
        self.inner.to_srt()
    }

    /// WebVTT subtitles.
    pub fn to_vtt(&self) -> String {
        self.inner.to_vtt()
    }

    /// JSON, as `dragoman transcribe --format json` writes it.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(&self.inner)
            .map_err(|e| DragomanError::Internal(e.to_string()))
    }
}

/// Whisper with Silero VAD, for whole recordings. Load once; transcribe from any thread (calls
/// run one at a time).
#[derive(uniffi::Object)]
pub struct Transcriber {
    vad: SileroVad,
    /// Whisper's decoder keeps buffers between calls; one call at a time uses it.
    decoder: Mutex<dragoman_stt::whisper::decode::Decoder>,
}

#[uniffi::export]
impl Transcriber {
    /// Loads `model` (a Whisper id of the catalog; `-q8` or `-q4` after it for 8- or 4-bit
    /// weights, e.g. `whisper-base-q8`, `-q8dec` for 8 bits in the decoder only) and Silero VAD
    /// from `store`.
    #[uniffi::constructor(default(model = "whisper-base"))]
    pub fn new(store: Arc<ModelStore>, model: String) -> Result<Arc<Self>> {
        let (id, precision) = Precision::from_model_id(&model);
        let whisper = WhisperModel::load_as(&store.inner.source(id)?, &Device::Cpu, id, precision)?;
        let vad = SileroVad::load_cpu(&store.inner.source("silero-vad")?)?;
        Ok(Arc::new(Self {
            decoder: Mutex::new(whisper.decoder()),
            vad,
        }))
    }

    /// Transcribes an audio file (WAV, FLAC, MP3, Ogg/Vorbis, AAC/M4A, ...; any rate and
    /// channel count).
    pub fn transcribe_file(
        &self,
        path: String,
        options: TranscribeOptions,
    ) -> Result<Arc<Transcript>> {
        let audio = load_audio(Path::new(&path), SampleRate::HZ_16000)?;
        self.transcribe(&audio, &options)
    }

    /// Transcribes mono PCM samples (-1..1) at `sample_rate` Hz.
    pub fn transcribe_pcm(
        &self,
        samples: Vec<f32>,
        sample_rate: u32,
        options: TranscribeOptions,
    ) -> Result<Arc<Transcript>> {
        let rate = SampleRate::new(sample_rate)?;
        let to = SampleRate::HZ_16000;
        let samples = dragoman_core::resample::resample(&samples, rate, to)?;
        self.transcribe(&AudioChunk::new(StreamTime::zero(to), samples), &options)
    }
}

impl Transcriber {
    fn transcribe(
        &self,
        audio: &AudioChunk,
        options: &TranscribeOptions,
    ) -> Result<Arc<Transcript>> {
        let mut decode = DecodeOptions::default();
        decode.language = options.language.as_deref().map(Lang::parse).transpose()?;
        decode.task = if options.to_english {
            SttTask::TranslateToEnglish
        } else {
            SttTask::Transcribe
        };
        let mut decoder = self.decoder.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = if options.vad {
            decoder.transcribe_speech(audio, &self.vad, &file_vad_options(), &decode)?
        } else {
            decoder.transcribe(audio, &decode)?
        };
        Ok(Arc::new(Transcript { inner }))
    }
}
