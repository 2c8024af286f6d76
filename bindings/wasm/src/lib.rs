//! dragoman in the browser: Whisper and Silero VAD compiled to WebAssembly, behind
//! wasm-bindgen.
//!
//! The page (or, better, a Web Worker: a decode holds the thread for a second) fetches the
//! model files itself, from the dragoman server that serves them or from its own cache, and
//! hands their bytes over by name ([`ModelFiles`]): engines never download. Then:
//!
//! - [`Captioner::transcribe`]: a whole recording, as `dragoman transcribe` does it (speech
//!   found by the VAD, transcribed in one pass);
//! - [`Captioner::session`]: live captions of pushed PCM at any sample rate, the same session
//!   the call server runs ([`CaptionSession::push_pcm`], then [`CaptionSession::next_event`]
//!   until it returns `undefined`).
//!
//! Everything here is a thin adapter: the policy lives in `dragoman-stt`.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::{SpeechToText, SttEvent, SttOptions, SttSession};
use dragoman_core::resample::resample;
use dragoman_core::{AudioChunk, Lang, ModelSource, SampleRate, StreamTime};
use dragoman_stt::stream::{StreamOptions, WhisperStt};
use dragoman_stt::vad::SileroVad;
use dragoman_stt::whisper::transcribe::file_vad_options;
use dragoman_stt::whisper::{DecodeOptions, Precision, WhisperModel};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// The catalog id the Whisper files belong to (named in errors about them).
const WHISPER_ID: &str = "whisper-base";

/// A model's files by name (`config.json`, `tokenizer.json`, `model.safetensors`, ...), as
/// the page fetched them.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct ModelFiles {
    files: BTreeMap<String, Arc<[u8]>>,
}

#[wasm_bindgen]
impl ModelFiles {
    /// No files yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        console_error_panic_hook::set_once();
        Self::default()
    }

    /// Adds the file `name` (its bytes are copied into WebAssembly memory).
    pub fn add(&mut self, name: String, bytes: Vec<u8>) {
        self.files.insert(name, Arc::from(bytes));
    }
}

impl ModelFiles {
    fn source(&self) -> ModelSource {
        ModelSource::Memory(Arc::new(self.files.clone()))
    }
}

/// An error for JavaScript, with the Rust error's message.
fn js(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// A language code from JavaScript (`None`: detect it).
fn language(code: Option<String>) -> Result<Option<Lang>, JsError> {
    code.as_deref().map(Lang::parse).transpose().map_err(js)
}

/// Whisper (8-bit weights, as the call server runs it) and Silero VAD, loaded once.
#[wasm_bindgen]
pub struct Captioner {
    whisper: WhisperModel,
    vad: SileroVad,
    live: WhisperStt,
}

#[wasm_bindgen]
impl Captioner {
    /// Loads Whisper from `whisper` (`config.json`, `tokenizer.json`, `model.safetensors`)
    /// and Silero VAD from `vad` (`model.safetensors`).
    #[wasm_bindgen(constructor)]
    pub fn new(whisper: &ModelFiles, vad: &ModelFiles) -> Result<Captioner, JsError> {
        console_error_panic_hook::set_once();
        let model =
            WhisperModel::load_as(&whisper.source(), &Device::Cpu, WHISPER_ID, Precision::Q8)
                .map_err(js)?;
        let vad = SileroVad::load_cpu(&vad.source()).map_err(js)?;
        let live = WhisperStt::new(model.clone(), vad.clone(), StreamOptions::default());
        Ok(Self {
            whisper: model,
            vad,
            live,
        })
    }

    /// Transcribes a whole recording (mono samples in -1..1 at `sample_rate` Hz) in
    /// `language`, or in the language Whisper detects when it is `undefined`. Returns
    /// `{ language, language_probability, text, segments: [{ start, end, text }] }`, times in
    /// seconds.
    pub fn transcribe(
        &self,
        samples: Vec<f32>,
        sample_rate: u32,
        language: Option<String>,
    ) -> Result<JsValue, JsError> {
        let rate = SampleRate::new(sample_rate).map_err(js)?;
        let audio = resample(&samples, rate, SampleRate::HZ_16000).map_err(js)?;
        let mut options = DecodeOptions::default();
        options.language = self::language(language)?;
        let transcript = self
            .whisper
            .decoder()
            .transcribe_speech(
                &AudioChunk::new(StreamTime::zero(SampleRate::HZ_16000), audio),
                &self.vad,
                &file_vad_options(),
                &options,
            )
            .map_err(js)?;
        serde_wasm_bindgen::to_value(&transcript).map_err(js)
    }

    /// A live caption stream of speech in `language` (or any language Whisper detects when
    /// it is `undefined`).
    pub fn session(&self, language: Option<String>) -> Result<CaptionSession, JsError> {
        let mut options = SttOptions::default();
        options.language = self::language(language)?;
        Ok(CaptionSession {
            session: self.live.new_session(&options).map_err(js)?,
            pushed: 0,
            rate: None,
        })
    }
}

/// A caption, as JavaScript receives it (`type` is `"partial"` or `"final"`).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Caption {
    /// The utterance so far: `stable` will not change, `unstable` may be rewritten.
    Partial {
        text: String,
        stable: String,
        unstable: String,
        start: f64,
    },
    /// A finished utterance.
    Final {
        text: String,
        start: f64,
        end: f64,
        language: String,
        language_probability: Option<f32>,
    },
}

impl Caption {
    fn of(event: SttEvent) -> Option<Self> {
        Some(match event {
            SttEvent::Partial {
                text,
                stable_prefix_len,
                start,
                ..
            } => {
                let (stable, unstable) = SttEvent::split_stable(&text, stable_prefix_len);
                Self::Partial {
                    stable: stable.to_string(),
                    unstable: unstable.to_string(),
                    start: start.as_secs_f64(),
                    text,
                }
            }
            SttEvent::Final {
                text,
                start,
                end,
                lang,
                lang_probability,
            } => Self::Final {
                text,
                start: start.as_secs_f64(),
                end: end.as_secs_f64(),
                language: lang.to_string(),
                language_probability: lang_probability,
            },
            _ => return None,
        })
    }
}

/// One stream of live captions: push audio as it comes, read captions as they are made.
#[wasm_bindgen]
pub struct CaptionSession {
    session: Box<dyn SttSession>,
    /// Samples pushed so far, at `rate`.
    pushed: u64,
    rate: Option<SampleRate>,
}

#[wasm_bindgen]
impl CaptionSession {
    /// Adds mono samples (-1..1) at `sample_rate` Hz, contiguous with the previous push (every
    /// push of a session has the same rate). A push that completes a step of audio decodes
    /// it, so it can take a second: call it from a Web Worker.
    #[wasm_bindgen(js_name = pushPcm)]
    pub fn push_pcm(&mut self, samples: Vec<f32>, sample_rate: u32) -> Result<(), JsError> {
        let rate = SampleRate::new(sample_rate).map_err(js)?;
        if self.rate.is_some_and(|r| r != rate) {
            return Err(JsError::new(&format!(
                "every push of a session has the same sample rate: this one is {sample_rate} Hz"
            )));
        }
        self.rate = Some(rate);
        let start = StreamTime::from_samples(self.pushed, rate);
        self.pushed += samples.len() as u64;
        self.session
            .push_audio(&AudioChunk::new(start, samples))
            .map_err(js)
    }

    /// The next caption (`{ type: "partial", text, stable, unstable, start }` or
    /// `{ type: "final", text, start, end, language, language_probability }`), or
    /// `undefined` when none is waiting.
    #[wasm_bindgen(js_name = nextEvent)]
    pub fn next_event(&mut self) -> Result<JsValue, JsError> {
        while let Some(event) = self.session.poll_event() {
            if let Some(caption) = Caption::of(event) {
                return serde_wasm_bindgen::to_value(&caption).map_err(js);
            }
        }
        Ok(JsValue::UNDEFINED)
    }

    /// Ends the stream: the utterance in progress becomes final (read it with
    /// [`Self::next_event`]).
    pub fn finish(&mut self) -> Result<(), JsError> {
        self.session.finish().map_err(js)
    }
}
