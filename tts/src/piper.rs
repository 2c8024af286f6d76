//! Piper voices: a VITS model and its JSON config (phoneme ids, the espeak-ng voice it was
//! trained on, sample rate, sampling scales). Text is phonemized by espeak-ng (run as a
//! program) exactly as Piper does: IPA clauses joined by their punctuation, split into Unicode
//! code points after canonical decomposition, each mapped through the voice's id table with the
//! pad id after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::Device;
use dragoman_core::{Lang, ModelSource, Result, SampleRate};
use unicode_normalization::UnicodeNormalization;

use crate::engine::NeuralVoice;
use crate::espeak::Espeak;
use crate::session::SentenceSynthesizer;
use crate::vits::{NOISE_SEED, Scales, VitsModel, by_char};

/// A loaded Piper voice.
#[derive(Debug)]
pub struct PiperVoice {
    id: String,
    lang: Lang,
    model: VitsModel,
    espeak: Espeak,
    espeak_voice: String,
    ids: HashMap<char, Vec<u32>>,
    rate: SampleRate,
    scales: Scales,
    /// Phonemes the voice has no id for, skipped since load.
    skipped: AtomicUsize,
}

/// The voice's config (`*.onnx.json`), the parts synthesis needs.
#[derive(serde::Deserialize)]
struct Config {
    audio: AudioConfig,
    espeak: EspeakConfig,
    inference: InferenceConfig,
    phoneme_id_map: HashMap<String, Vec<u32>>,
    language: Option<LanguageConfig>,
}

#[derive(serde::Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(serde::Deserialize)]
struct EspeakConfig {
    voice: String,
}

#[derive(serde::Deserialize)]
struct InferenceConfig {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

#[derive(serde::Deserialize)]
struct LanguageConfig {
    code: String,
}

const PAD: char = '_';
const BOS: char = '^';
const EOS: char = '$';

impl PiperVoice {
    /// Loads voice `id` from `source`: its `config` JSON and `weights` safetensors.
    pub fn load(
        source: &ModelSource,
        id: &str,
        config: &str,
        weights: &str,
        espeak: &Espeak,
        device: &Device,
    ) -> Result<Self> {
        let bad = |reason: String| source.file_error(config, id, reason);
        let parsed: Config =
            serde_json::from_slice(&source.read(config)?).map_err(|e| bad(e.to_string()))?;
        let ids = by_char(parsed.phoneme_id_map);
        for symbol in [PAD, BOS, EOS] {
            if !ids.contains_key(&symbol) {
                return Err(bad(format!("no id for {symbol:?}")));
            }
        }
        let code = parsed
            .language
            .map(|l| l.code)
            .unwrap_or_else(|| parsed.espeak.voice.clone());
        let lang = Lang::parse(&code.replace('_', "-"))?;
        Ok(Self {
            id: id.to_string(),
            lang,
            model: VitsModel::load(source, weights, id, device)?,
            espeak: espeak.clone(),
            espeak_voice: parsed.espeak.voice,
            ids,
            rate: SampleRate::new(parsed.audio.sample_rate)?,
            scales: Scales {
                noise: parsed.inference.noise_scale,
                length: parsed.inference.length_scale,
                noise_w: parsed.inference.noise_w,
            },
            skipped: AtomicUsize::new(0),
        })
    }

    /// The voice's sampling scales (from its config).
    pub fn scales(&self) -> Scales {
        self.scales
    }

    /// How many phonemes had no id in this voice and were skipped, since load.
    pub fn skipped_phonemes(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The model's input for `text`: start, then each phoneme followed by the pad, then end.
    pub fn phoneme_ids(&self, text: &str) -> Result<Vec<u32>> {
        let ipa = self.espeak.ipa(text, &self.espeak_voice)?;
        let id = |c: char| self.ids.get(&c).map(Vec::as_slice).unwrap_or_default();
        let mut out: Vec<u32> = [id(BOS), id(PAD)].concat();
        let mut skipped = 0;
        for c in ipa.nfd() {
            match self.ids.get(&c) {
                Some(ids) => {
                    out.extend(ids);
                    out.extend(id(PAD));
                }
                None => skipped += 1,
            }
        }
        out.extend(id(EOS));
        self.skipped.fetch_add(skipped, Ordering::Relaxed);
        Ok(out)
    }

    /// Speech for `text` with explicit scales (see [`VitsModel::speak`]).
    pub fn speak(&self, text: &str, scales: Scales) -> Result<Vec<f32>> {
        self.model
            .speak(text, scales, |piece| self.phoneme_ids(piece))
    }

    /// Speech for phoneme ids from [`phoneme_ids`](Self::phoneme_ids).
    pub fn synthesize_ids(&self, ids: &[u32], scales: Scales) -> Result<Vec<f32>> {
        self.model.synthesize(ids, scales, NOISE_SEED)
    }
}

impl SentenceSynthesizer for PiperVoice {
    fn sample_rate(&self) -> SampleRate {
        self.rate
    }

    fn synthesize(&self, sentence: &str, speed: f32) -> Result<Vec<f32>> {
        self.speak(sentence, self.scales.at_speed(speed)?)
    }
}

impl NeuralVoice for PiperVoice {
    fn id(&self) -> &str {
        &self.id
    }

    fn lang(&self) -> Lang {
        self.lang
    }
}
