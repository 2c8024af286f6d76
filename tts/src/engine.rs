//! The speech engine behind [`TextToSpeech`]: a voice for every language, and which engine
//! speaks it.

use std::sync::Arc;

use dragoman_core::engine::{TextToSpeech, TtsOptions, TtsSession, Voice};
use dragoman_core::{Error, Lang, Result};

use crate::espeak::{Espeak, EspeakVoice, list};
use crate::session::{SentenceSynthesizer, StreamingSession};

/// Engine name of espeak-ng voices in [`Voice::engine`].
pub const ESPEAK: &str = "espeak-ng";

/// Voices for every language espeak-ng speaks.
#[derive(Debug, Clone)]
pub struct SpeechEngine {
    espeak: Espeak,
}

impl SpeechEngine {
    /// The engine with espeak-ng's voices (see [`Espeak::find`]).
    pub fn new() -> Result<Self> {
        Ok(Self {
            espeak: Espeak::find()?,
        })
    }

    /// The id of espeak-ng's voice for `lang`.
    fn espeak_id(lang: Lang) -> String {
        format!("{ESPEAK}-{}", lang.code())
    }

    /// The voice that speaks `options.lang` (the one named by `options.voice`, if any).
    fn voice(&self, options: &TtsOptions) -> Result<Arc<dyn SentenceSynthesizer>> {
        let voices = self.voices();
        let chosen = voices.iter().find(|v| {
            v.lang == options.lang && options.voice.as_ref().is_none_or(|id| *id == v.id)
        });
        match chosen {
            Some(_) => Ok(Arc::new(EspeakVoice::new(&self.espeak, options.lang)?)),
            None => match &options.voice {
                Some(id) => Err(Error::Misuse(format!(
                    "no voice {id:?} for {}; voices: {}",
                    options.lang.code(),
                    voices
                        .iter()
                        .filter(|v| v.lang == options.lang)
                        .map(|v| v.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
                None => Err(Error::NoVoice {
                    lang: options.lang.code().into(),
                    available: list(&self.espeak.languages()),
                }),
            },
        }
    }
}

impl TextToSpeech for SpeechEngine {
    fn voices(&self) -> Vec<Voice> {
        self.espeak
            .languages()
            .into_iter()
            .map(|lang| Voice {
                id: Self::espeak_id(lang),
                lang,
                engine: ESPEAK.into(),
            })
            .collect()
    }

    fn new_session(&self, options: &TtsOptions) -> Result<Box<dyn TtsSession>> {
        if !(0.25..=4.0).contains(&options.speed) {
            return Err(Error::Misuse(format!(
                "speed {} is outside 0.25..=4.0",
                options.speed
            )));
        }
        Ok(Box::new(StreamingSession::new(
            self.voice(options)?,
            options.lang,
            options.speed,
        )))
    }
}
