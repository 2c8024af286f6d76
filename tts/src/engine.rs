//! The speech engine behind [`TextToSpeech`]: a voice for every language, and which engine
//! speaks it. A neural (VITS) voice speaks its language when one is loaded; espeak-ng speaks
//! every other language it knows.

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::{TextToSpeech, TtsOptions, TtsSession, Voice};
use dragoman_core::store::ModelStore;
use dragoman_core::store::catalog::{CATALOG, Task};
use dragoman_core::{Error, Lang, Result};

use crate::espeak::{Espeak, EspeakVoice};
use crate::mms::MmsVoice;
use crate::piper::PiperVoice;
use crate::session::{SentenceSynthesizer, StreamingSession};

/// Engine name of espeak-ng voices in [`Voice::engine`].
pub const ESPEAK: &str = "espeak-ng";
/// Engine name of neural (VITS) voices in [`Voice::engine`].
pub const VITS: &str = "vits";

/// A neural voice: one language, one id ([`PiperVoice`](crate::piper::PiperVoice),
/// [`MmsVoice`](crate::mms::MmsVoice)).
pub trait NeuralVoice: SentenceSynthesizer {
    /// The voice id users choose it by.
    fn id(&self) -> &str;
    /// The language it speaks.
    fn lang(&self) -> Lang;
}

/// Neural voices where loaded, espeak-ng for the other languages.
#[derive(Clone)]
pub struct SpeechEngine {
    espeak: Espeak,
    neural: Vec<Arc<dyn NeuralVoice>>,
}

impl std::fmt::Debug for SpeechEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechEngine")
            .field("espeak", &self.espeak)
            .field(
                "neural",
                &self.neural.iter().map(|v| v.id()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SpeechEngine {
    /// The engine with espeak-ng's voices (see [`Espeak::find`]) and no neural voice yet.
    pub fn new() -> Result<Self> {
        Ok(Self {
            espeak: Espeak::find()?,
            neural: Vec::new(),
        })
    }

    /// espeak-ng's voices and every neural voice pulled into `store` (Piper or MMS-TTS), on
    /// `device`. Voices load in catalog order, so the first catalog voice of a language is its
    /// default.
    pub fn with_pulled_voices(store: &ModelStore, device: &Device) -> Result<Self> {
        let mut engine = Self::new()?;
        for entry in CATALOG.iter().filter(|e| e.task == Task::TextToSpeech) {
            if store.manifest(entry.id).is_none() {
                continue;
            }
            let source = store.source(entry.id)?;
            // A Piper voice comes with its `.onnx.json` config; an MMS voice with a vocabulary.
            let piper_config = entry.files.iter().find(|f| f.name.ends_with(".onnx.json"));
            let voice: Arc<dyn NeuralVoice> = match piper_config {
                Some(config) => Arc::new(PiperVoice::load(
                    &source,
                    entry.id,
                    config.name,
                    "model.safetensors",
                    engine.espeak(),
                    device,
                )?),
                None => Arc::new(MmsVoice::load(&source, entry.id, device)?),
            };
            engine.add_voice(voice);
        }
        Ok(engine)
    }

    /// The espeak-ng program this engine runs (Piper voices phonemize with it).
    pub fn espeak(&self) -> &Espeak {
        &self.espeak
    }

    /// Adds a neural voice. The first one added for a language is its default.
    pub fn add_voice(&mut self, voice: Arc<dyn NeuralVoice>) {
        self.neural.push(voice);
    }

    /// The engine that speaks `lang` by default, if any.
    pub fn engine_for(&self, lang: Lang) -> Option<&'static str> {
        self.voices()
            .into_iter()
            .find(|v| v.lang == lang)
            .map(|v| if v.engine == VITS { VITS } else { ESPEAK })
    }

    /// The languages some voice speaks, comma-separated.
    fn languages(&self) -> String {
        let mut langs: Vec<&str> = self.voices().iter().map(|v| v.lang.code()).collect();
        langs.sort_unstable();
        langs.dedup();
        langs.join(", ")
    }

    /// The voice that speaks `options.lang` (the one named by `options.voice`, if any).
    fn voice(&self, options: &TtsOptions) -> Result<Arc<dyn SentenceSynthesizer>> {
        let voices = self.voices();
        let chosen = voices.iter().find(|v| {
            v.lang == options.lang && options.voice.as_ref().is_none_or(|id| *id == v.id)
        });
        match chosen {
            Some(v) if v.engine == VITS => {
                let neural = self.neural.iter().find(|n| n.id() == v.id);
                match neural {
                    Some(n) => Ok(n.clone()),
                    None => Err(Error::Internal(format!("voice {} vanished", v.id))),
                }
            }
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
                    available: self.languages(),
                }),
            },
        }
    }
}

impl TextToSpeech for SpeechEngine {
    /// Neural voices first: the first voice listed for a language is its default.
    fn voices(&self) -> Vec<Voice> {
        let neural = self.neural.iter().map(|n| Voice {
            id: n.id().to_string(),
            lang: n.lang(),
            engine: VITS.into(),
        });
        let espeak = self.espeak.languages().into_iter().map(|lang| Voice {
            id: format!("{ESPEAK}-{}", lang.code()),
            lang,
            engine: ESPEAK.into(),
        });
        neural.chain(espeak).collect()
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
