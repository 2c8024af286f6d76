//! Text to speech.

use std::sync::Arc;

use dragoman_core::Lang;
use dragoman_core::engine::{TextToSpeech, TtsEvent, TtsOptions};
use dragoman_tts::engine::SpeechEngine;

use crate::error::Result;
use crate::models::ModelStore;

/// One spoken sentence.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SpeechClip {
    /// The sentence as it was spoken (numbers and symbols written out).
    pub text: String,
    /// Mono samples, -1..1.
    pub samples: Vec<f32>,
    /// Their rate in Hz (the voice's own).
    pub sample_rate: u32,
}

/// Speech synthesis: espeak-ng for every language it speaks, and every pulled neural voice
/// (preferred for its language). Load once; speak from any thread.
#[derive(uniffi::Object)]
pub struct Voice {
    pub(crate) engine: Arc<SpeechEngine>,
}

#[uniffi::export]
impl Voice {
    /// The voices of `store`.
    #[uniffi::constructor]
    pub fn new(store: Arc<ModelStore>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            engine: Arc::new(dragoman_engines::speech(&store.inner)?),
        }))
    }

    /// The languages spoken (BCP 47 codes).
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = self
            .engine
            .voices()
            .iter()
            .map(|v| v.lang.to_string())
            .collect();
        langs.sort();
        langs.dedup();
        langs
    }

    /// Speaks `text` in `language`, one clip per sentence.
    pub fn speak(&self, text: String, language: String) -> Result<Vec<SpeechClip>> {
        let mut session = self
            .engine
            .new_session(&TtsOptions::new(Lang::parse(&language)?))?;
        session.push_text(&text)?;
        session.finish()?;
        let mut clips = Vec::new();
        let mut samples = Vec::new();
        let mut sample_rate = 0;
        while let Some(event) = session.poll_event() {
            match event {
                TtsEvent::Audio(chunk) => {
                    sample_rate = chunk.rate().hz();
                    samples.extend_from_slice(&chunk.samples);
                }
                TtsEvent::SentenceEnd { text } => clips.push(SpeechClip {
                    text,
                    samples: std::mem::take(&mut samples),
                    sample_rate,
                }),
                _ => {}
            }
        }
        Ok(clips)
    }
}
