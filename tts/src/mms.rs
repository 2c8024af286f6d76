//! MMS-TTS voices (Pratap et al. 2023, "Scaling Speech Technology to 1,000+ Languages"): one
//! VITS model per language, trained on characters rather than phonemes, published as
//! transformers `VitsModel` repositories (`facebook/mms-tts-vie`, ...). The weights load into
//! the same [`VitsModel`] as Piper's (renamed at load); the text goes in as characters, the
//! way transformers' `VitsTokenizer` prepares it:
//!
//! 1. with `normalize` (every MMS voice), characters outside the vocabulary are lowercased,
//!    and those still outside it (punctuation, digits in most languages) are dropped;
//! 2. each remaining character is one id, with the blank (id 0) between and around them when
//!    `add_blank` is set.
//!
//! One addition: a character the vocabulary lacks but whose canonical decomposition it has
//! (a precomposed Vietnamese letter where the vocabulary holds the base and the combining tone
//! mark) goes in decomposed rather than being dropped. Dropped characters are counted.
//!
//! Voices that need romanization (`is_uroman`) or espeak phonemes (`phonemize`) are refused at
//! load: dragoman does neither step for them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::Device;
use dragoman_core::{Lang, ModelSource, Result, SampleRate};
use unicode_normalization::UnicodeNormalization;

use crate::engine::NeuralVoice;
use crate::normalize::spell_numbers;
use crate::session::SentenceSynthesizer;
use crate::vits::{Scales, VitsModel, by_char};

/// The model config (sample rate, sampling scales, architecture checks).
pub const CONFIG: &str = "config.json";
/// The character vocabulary.
pub const VOCAB: &str = "vocab.json";
/// The tokenizer's settings (optional: transformers' defaults without it).
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
/// The weights, as safetensors (the store converts the Hub's PyTorch checkpoint to this).
pub const WEIGHTS: &str = "model.safetensors";

/// The blank id `add_blank` puts between characters.
const BLANK: u32 = 0;

/// A loaded MMS-TTS voice.
#[derive(Debug)]
pub struct MmsVoice {
    id: String,
    lang: Lang,
    model: VitsModel,
    tokenizer: CharTokenizer,
    rate: SampleRate,
    scales: Scales,
    /// Characters outside the vocabulary, dropped since load.
    skipped: AtomicUsize,
}

/// `config.json`, the parts synthesis needs (transformers' `VitsConfig` defaults otherwise).
#[derive(serde::Deserialize)]
struct Config {
    sampling_rate: u32,
    #[serde(default = "default_noise_scale")]
    noise_scale: f32,
    #[serde(default = "default_noise_scale_duration")]
    noise_scale_duration: f32,
    #[serde(default = "one")]
    speaking_rate: f32,
    #[serde(default = "yes")]
    use_stochastic_duration_prediction: bool,
    #[serde(default = "one_usize")]
    wavenet_dilation_rate: usize,
    #[serde(default)]
    resblock_dilation_sizes: Option<Vec<Vec<usize>>>,
    #[serde(default)]
    num_speakers: Option<usize>,
}

/// `tokenizer_config.json`, the parts tokenization needs.
#[derive(serde::Deserialize, Default)]
struct TokenizerConfig {
    #[serde(default = "yes")]
    add_blank: bool,
    #[serde(default = "yes")]
    normalize: bool,
    #[serde(default)]
    phonemize: bool,
    #[serde(default)]
    is_uroman: bool,
    language: Option<String>,
}

/// The JSON file `file` of model `id`, parsed.
fn read_json<T: serde::de::DeserializeOwned>(
    source: &ModelSource,
    file: &str,
    id: &str,
) -> Result<T> {
    serde_json::from_slice(&source.read(file)?)
        .map_err(|e| source.file_error(file, id, e.to_string()))
}

fn default_noise_scale() -> f32 {
    0.667
}
fn default_noise_scale_duration() -> f32 {
    0.8
}
fn one() -> f32 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}

impl MmsVoice {
    /// Loads voice `id` from `source` (the files named by the constants above). Its language is
    /// the tokenizer config's `language`, else the three-letter suffix MMS repositories are
    /// named with (`mms-tts-vie`).
    pub fn load(source: &ModelSource, id: &str, device: &Device) -> Result<Self> {
        let config: Config = read_json(source, CONFIG, id)?;
        let tokenizer: TokenizerConfig = if source.contains(TOKENIZER_CONFIG) {
            read_json(source, TOKENIZER_CONFIG, id)?
        } else {
            TokenizerConfig {
                add_blank: true,
                normalize: true,
                ..TokenizerConfig::default()
            }
        };
        let unsupported = |file: &str, what: &str| {
            Err(source.file_error(file, id, format!("{what}, which dragoman does not support")))
        };
        if tokenizer.is_uroman {
            return unsupported(TOKENIZER_CONFIG, "the voice reads romanized text (uroman)");
        }
        if tokenizer.phonemize {
            return unsupported(TOKENIZER_CONFIG, "the voice reads phonemizer output");
        }
        if !config.use_stochastic_duration_prediction {
            return unsupported(CONFIG, "a deterministic duration predictor");
        }
        if config.wavenet_dilation_rate != 1 {
            return unsupported(CONFIG, "a dilated flow (wavenet_dilation_rate != 1)");
        }
        if config
            .resblock_dilation_sizes
            .as_ref()
            .is_some_and(|sizes| sizes.iter().any(|d| d != &[1, 3, 5]))
        {
            return unsupported(CONFIG, "residual-block dilations other than [1, 3, 5]");
        }
        if config.num_speakers.is_some_and(|n| n > 1) {
            return unsupported(CONFIG, "several speakers");
        }
        // Multi-character entries cannot survive normalisation's per-character filter.
        let vocab = by_char::<u32>(read_json(source, VOCAB, id)?);
        let code = match &tokenizer.language {
            Some(language) => language.clone(),
            None => id.rsplit('-').next().unwrap_or(id).to_string(),
        };
        Ok(Self {
            id: id.to_string(),
            lang: Lang::parse(&code)?,
            model: VitsModel::load(source, WEIGHTS, id, device)?,
            tokenizer: CharTokenizer {
                vocab,
                normalize: tokenizer.normalize,
                add_blank: tokenizer.add_blank,
            },
            rate: SampleRate::new(config.sampling_rate)?,
            scales: Scales {
                noise: config.noise_scale,
                length: 1.0 / config.speaking_rate,
                noise_w: config.noise_scale_duration,
            },
            skipped: AtomicUsize::new(0),
        })
    }

    /// The voice's sampling scales (from its config).
    pub fn scales(&self) -> Scales {
        self.scales
    }

    /// How many characters were outside the vocabulary and dropped, since load.
    pub fn skipped_characters(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// The model's input for `text`: one id per kept character, blanks between and around.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        let (ids, skipped) = self.tokenizer.ids(text);
        self.skipped.fetch_add(skipped, Ordering::Relaxed);
        ids
    }

    /// Speech for `text` with explicit scales (see [`VitsModel::speak`]), its numbers spelled
    /// out first: the vocabulary has no digits, or no way to read them.
    pub fn speak(&self, text: &str, scales: Scales) -> Result<Vec<f32>> {
        let text = spell_numbers(text, self.lang);
        self.model
            .speak(&text, scales, |piece| Ok(self.token_ids(piece)))
    }

    /// The VITS model (for comparisons with other implementations).
    pub fn model(&self) -> &VitsModel {
        &self.model
    }
}

impl SentenceSynthesizer for MmsVoice {
    fn sample_rate(&self) -> SampleRate {
        self.rate
    }

    fn synthesize(&self, sentence: &str, speed: f32) -> Result<Vec<f32>> {
        self.speak(sentence, self.scales.at_speed(speed)?)
    }
}

impl NeuralVoice for MmsVoice {
    fn id(&self) -> &str {
        &self.id
    }

    fn lang(&self) -> Lang {
        self.lang
    }
}

/// Text to ids as transformers' `VitsTokenizer` makes them (see the module docs).
#[derive(Debug)]
struct CharTokenizer {
    vocab: HashMap<char, u32>,
    normalize: bool,
    add_blank: bool,
}

impl CharTokenizer {
    /// The characters of `text` the model reads, and how many were dropped.
    fn characters(&self, text: &str) -> (Vec<char>, usize) {
        let known = |c: &char| self.vocab.contains_key(c);
        let mut kept = Vec::new();
        let mut skipped = 0;
        for c in text.chars() {
            if known(&c) {
                kept.push(c);
                continue;
            }
            let lowered: Vec<char> = if self.normalize {
                c.to_lowercase().collect()
            } else {
                vec![c]
            };
            for c in lowered {
                if known(&c) {
                    kept.push(c);
                } else if c.nfd().all(|d| known(&d)) {
                    kept.extend(c.nfd());
                } else {
                    skipped += 1;
                }
            }
        }
        // transformers strips the filtered text.
        let start = kept.iter().position(|c| !c.is_whitespace());
        let end = kept.iter().rposition(|c| !c.is_whitespace());
        let kept = match (start, end) {
            (Some(start), Some(end)) => kept[start..=end].to_vec(),
            _ => Vec::new(),
        };
        (kept, skipped)
    }

    /// The ids of `text`, and how many characters were dropped. No characters, no ids.
    fn ids(&self, text: &str) -> (Vec<u32>, usize) {
        let (characters, skipped) = self.characters(text);
        let ids = characters.into_iter().map(|c| self.vocab[&c]);
        if !self.add_blank {
            return (ids.collect(), skipped);
        }
        let mut out = vec![BLANK];
        for id in ids {
            out.extend([id, BLANK]);
        }
        if out.len() == 1 {
            out.clear();
        }
        (out, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(symbols: &str, normalize: bool, add_blank: bool) -> CharTokenizer {
        CharTokenizer {
            vocab: symbols.chars().zip(1..).collect(),
            normalize,
            add_blank,
        }
    }

    #[test]
    fn characters_are_lowercased_filtered_and_blanked() {
        let t = tokenizer(" abc", true, true);
        // 'A' lowercases to 'a'; '!' and '4' are dropped; the ends are stripped.
        assert_eq!(t.ids(" Ab 4c! "), (vec![0, 2, 0, 3, 0, 1, 0, 4, 0], 2));
        assert_eq!(t.ids("!?"), (vec![], 2));
        assert_eq!(t.ids(""), (vec![], 0));
        let raw = tokenizer(" abc", false, false);
        assert_eq!(raw.ids("Abc"), (vec![3, 4], 1));
    }

    #[test]
    fn a_precomposed_letter_goes_in_decomposed_when_only_its_parts_are_known() {
        // 'ế' is e + circumflex + acute once decomposed.
        let t = tokenizer("e\u{302}\u{301}", true, false);
        assert_eq!(t.ids("ế"), (vec![1, 2, 3], 0));
        assert_eq!(t.ids("Ế"), (vec![1, 2, 3], 0));
    }
}
