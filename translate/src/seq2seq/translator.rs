//! A pulled Marian, M2M100 or NLLB checkpoint as a sentence translator: each family's
//! conventions for language tokens, decoder prompts and generation defaults.

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use dragoman_core::{Lang, ModelSource};

use super::{Family, SearchOptions, Seq2SeqConfig, Seq2SeqModel, generate};
use crate::engine::{Context, SentenceTranslator};
use crate::tokenizer::{M2M100_LANGUAGES, PieceTokenizer};
use crate::{Error, Result};

/// Sentences encoded together; batches are formed from sentences of similar length.
const BATCH: usize = 8;

/// How one checkpoint family turns text and languages into ids.
#[derive(Debug, Clone)]
enum Conventions {
    /// opus-mt: one language pair per model, no language tokens.
    Marian {
        tokenizer: PieceTokenizer,
        from: Lang,
        to: Lang,
    },
    /// M2M100: `__xx__` tokens numbered after `vocab.json`.
    M2M100 {
        tokenizer: PieceTokenizer,
        first_language: u32,
    },
    /// NLLB-200: a `tokenizer.json` holding FLORES-200 codes (`vie_Latn`) as tokens.
    Nllb { tokenizer: tokenizers::Tokenizer },
}

/// A Marian, M2M100 or NLLB model ready to translate sentences.
#[derive(Debug, Clone)]
pub struct Seq2SeqTranslator {
    id: String,
    model: Seq2SeqModel,
    conventions: Conventions,
    beams: usize,
}

fn model_error(e: candle_core::Error) -> Error {
    Error::Model(e.to_string())
}

impl Seq2SeqTranslator {
    /// Loads a checkpoint; the family is read from `config.json` and the files present. A
    /// Marian checkpoint serves one pair, given by an `opus-mt-xx-yy` id or by `pair`.
    pub fn load(
        source: &ModelSource,
        id: &str,
        pair: Option<(Lang, Lang)>,
        device: &Device,
    ) -> Result<Self> {
        let file_error = |file: &str, reason: String| source.file_error(file, id, reason);
        let config_bytes = source.read("config.json")?;
        let config_text = String::from_utf8_lossy(&config_bytes);
        let config =
            Seq2SeqConfig::from_hf_json(&config_text).map_err(|r| file_error("config.json", r))?;
        let beams = serde_json::from_str::<serde_json::Value>(&config_text)
            .ok()
            .and_then(|c| c["num_beams"].as_u64())
            .map_or(4, |b| b.clamp(1, 8) as usize);
        let weights = source.read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights.to_vec(), DType::F32, device)
            .map_err(|e| file_error("model.safetensors", e.to_string()))?;
        let model = Seq2SeqModel::load(vb, &config)
            .map_err(|e| file_error("model.safetensors", e.to_string()))?;
        let conventions = match config.family {
            Family::Marian => {
                let (from, to) = match pair {
                    Some(pair) => pair,
                    None => pair_from_id(id).ok_or_else(|| {
                        Error::Misuse(format!(
                            "{id}: a Marian model serves one language pair; name it \
                             opus-mt-xx-yy or give the pair"
                        ))
                    })?,
                };
                let tokenizer = PieceTokenizer::load(
                    source,
                    id,
                    "source.spm",
                    "target.spm",
                    "<unk>",
                    "</s>",
                    &["</s>", "<unk>", "<pad>"],
                )?;
                Conventions::Marian {
                    tokenizer,
                    from,
                    to,
                }
            }
            Family::M2M100 if source.contains("tokenizer.json") => {
                let tokenizer = tokenizers::Tokenizer::from_bytes(&*source.read("tokenizer.json")?)
                    .map_err(|e| file_error("tokenizer.json", e.to_string()))?;
                Conventions::Nllb { tokenizer }
            }
            Family::M2M100 => {
                let mut tokenizer = PieceTokenizer::load(
                    source,
                    id,
                    "sentencepiece.bpe.model",
                    "sentencepiece.bpe.model",
                    "<unk>",
                    "</s>",
                    &["<s>", "<pad>", "</s>", "<unk>"],
                )?;
                let first_language = tokenizer.len() as u32;
                tokenizer
                    .add_special(first_language..first_language + M2M100_LANGUAGES.len() as u32);
                Conventions::M2M100 {
                    tokenizer,
                    first_language,
                }
            }
        };
        Ok(Self {
            id: id.to_string(),
            model,
            conventions,
            beams,
        })
    }

    /// Beam size used (the checkpoint's `num_beams`, 4 when it names none).
    pub fn beams(&self) -> usize {
        self.beams
    }

    /// Sets the beam size (1 for greedy search).
    pub fn set_beams(&mut self, beams: usize) {
        self.beams = beams.max(1);
    }

    /// The language token id of `lang`, for models that have them.
    fn language_token(&self, lang: Lang) -> Option<u32> {
        match &self.conventions {
            Conventions::Marian { .. } => None,
            Conventions::M2M100 { first_language, .. } => M2M100_LANGUAGES
                .iter()
                .position(|&code| code == lang.code())
                .map(|i| first_language + i as u32),
            Conventions::Nllb { tokenizer } => lang
                .flores200()
                .ok()
                .and_then(|code| tokenizer.token_to_id(code)),
        }
    }

    /// Source ids of one sentence: language token, pieces, EOS.
    fn encode(&self, text: &str, from: Lang) -> Result<Vec<u32>> {
        let eos = self.model.config().eos_token_id;
        let mut ids: Vec<u32> = self.language_token(from).into_iter().collect();
        match &self.conventions {
            Conventions::Marian { tokenizer, .. } | Conventions::M2M100 { tokenizer, .. } => {
                ids.extend(tokenizer.pieces_of(text)?);
            }
            Conventions::Nllb { tokenizer } => {
                let encoding = tokenizer
                    .encode(text, false)
                    .map_err(|e| Error::Model(format!("tokenizing: {e}")))?;
                ids.extend_from_slice(encoding.get_ids());
            }
        }
        ids.push(eos);
        Ok(ids)
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.conventions {
            Conventions::Marian { tokenizer, .. } | Conventions::M2M100 { tokenizer, .. } => {
                tokenizer.decode(ids)
            }
            Conventions::Nllb { tokenizer } => tokenizer
                .decode(ids, true)
                .map_err(|e| Error::Model(format!("detokenizing: {e}"))),
        }
    }
}

/// `(from, to)` of an `opus-mt-xx-yy` id.
fn pair_from_id(id: &str) -> Option<(Lang, Lang)> {
    let rest = id.strip_prefix("opus-mt-")?;
    let (from, to) = rest.split_once('-')?;
    Some((Lang::parse(from).ok()?, Lang::parse(to).ok()?))
}

impl SentenceTranslator for Seq2SeqTranslator {
    fn id(&self) -> &str {
        &self.id
    }

    fn supports(&self, from: Lang, to: Lang) -> bool {
        if from == to {
            return false;
        }
        match &self.conventions {
            Conventions::Marian { from: f, to: t, .. } => *f == from && *t == to,
            _ => self.language_token(from).is_some() && self.language_token(to).is_some(),
        }
    }

    fn pairs(&self) -> String {
        match &self.conventions {
            Conventions::Marian { from, to, .. } => format!("{}->{}", from.code(), to.code()),
            Conventions::M2M100 { .. } => "any pair of M2M100's 100 languages".into(),
            Conventions::Nllb { .. } => "any pair of NLLB's 200 languages".into(),
        }
    }

    fn max_sentence_tokens(&self) -> usize {
        // Longest source the model's positions allow.
        self.model.config().max_positions.saturating_sub(2)
    }

    fn count_tokens(&self, text: &str, from: Lang) -> Result<usize> {
        Ok(self.encode(text, from)?.len())
    }

    fn translate_sentences(
        &self,
        sentences: &[&str],
        from: Lang,
        to: Lang,
        _context: &Context,
    ) -> Result<Vec<String>> {
        if !self.supports(from, to) {
            return Err(Error::UnsupportedLanguagePair {
                from: from.code().to_string(),
                to: format!("{} ({} translates {})", to.code(), self.id, self.pairs()),
            });
        }
        let config = self.model.config();
        let mut prefix = vec![config.decoder_start_token_id];
        let mut prefix_counted = 0;
        if let Some(token) = self.language_token(to) {
            prefix.push(token);
            prefix_counted = 1;
        }
        let encoded: Vec<Vec<u32>> = sentences
            .iter()
            .map(|s| self.encode(s, from))
            .collect::<Result<_>>()?;
        // Sentences of similar length together, so padding costs little.
        let mut order: Vec<usize> = (0..sentences.len()).collect();
        order.sort_by_key(|&i| encoded[i].len());
        let mut out = vec![String::new(); sentences.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| encoded[i].clone()).collect();
            let longest = batch.iter().map(Vec::len).max().unwrap_or(0);
            if longest > self.max_sentence_tokens() {
                return Err(Error::Misuse(format!(
                    "a sentence of {longest} tokens is longer than {}'s {} (split it first)",
                    self.id,
                    self.max_sentence_tokens()
                )));
            }
            // Length guard: translations run at most about twice the source, and never past
            // the position table.
            let max_new = (2 * longest + 10).min(config.max_positions - prefix.len());
            let mut options = SearchOptions::beam(prefix.clone(), self.beams, max_new);
            options.prefix_counted = prefix_counted;
            options.stop_loops = true;
            if config.family == Family::Marian {
                options.suppress = vec![config.pad_token_id];
            }
            let encoded_batch = self.model.encode(&batch).map_err(model_error)?;
            let generated = generate(&self.model, &encoded_batch, &options).map_err(model_error)?;
            for (&i, tokens) in chunk.iter().zip(generated) {
                out[i] = self.decode(&crate::engine::trim_repetition(&tokens))?;
            }
        }
        Ok(out)
    }
}
