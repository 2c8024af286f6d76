//! Text to token ids and back, as Marian and M2M100 checkpoints define it.
//!
//! Both ship SentencePiece models plus a `vocab.json` that numbers the pieces their own way
//! (fairseq's dictionary for M2M100, Marian's vocabulary file for opus-mt): text is split into
//! pieces by SentencePiece, and each piece is looked up in `vocab.json` (unknown pieces become
//! `<unk>`), as `transformers`' `MarianTokenizer` and `M2M100Tokenizer` do.

use dragoman_core::ModelSource;
use std::collections::HashMap;

use crate::{Error, Result};

/// The 100 language codes of M2M100, in the order their `__xx__` tokens follow `vocab.json`
/// (fairseq's `m2m100` language list).
pub const M2M100_LANGUAGES: [&str; 100] = [
    "af", "am", "ar", "ast", "az", "ba", "be", "bg", "bn", "br", "bs", "ca", "ceb", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "fa", "ff", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "ig", "ilo", "is", "it", "ja", "jv", "ka", "kk",
    "km", "kn", "ko", "lb", "lg", "ln", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms", "my",
    "ne", "nl", "no", "ns", "oc", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sd", "si", "sk", "sl",
    "so", "sq", "sr", "ss", "su", "sv", "sw", "ta", "th", "tl", "tn", "tr", "uk", "ur", "uz", "vi",
    "wo", "xh", "yi", "yo", "zh", "zu",
];

/// A SentencePiece model with the checkpoint's own piece numbering.
#[derive(Debug, Clone)]
pub struct PieceTokenizer {
    source: tokenizers::Tokenizer,
    target: tokenizers::Tokenizer,
    /// Piece to id, from `vocab.json`.
    ids: HashMap<String, u32>,
    /// Id to piece.
    pieces: HashMap<u32, String>,
    unk: u32,
    eos: u32,
    /// Ids that are never text: padding, EOS, language tokens.
    special: Vec<u32>,
}

impl PieceTokenizer {
    /// Loads `vocab.json` and the source / target SentencePiece models of checkpoint `model`
    /// (its catalog id, named in errors). `special` names the pieces that are control tokens
    /// (`</s>`, `<pad>`, ...).
    pub fn load(
        source: &ModelSource,
        model: &str,
        source_spm: &str,
        target_spm: &str,
        unk: &str,
        eos: &str,
        special: &[&str],
    ) -> Result<Self> {
        let file_error = |file: &str, reason: String| source.file_error(file, model, reason);
        let ids: HashMap<String, u32> = serde_json::from_slice(&source.read("vocab.json")?)
            .map_err(|e| file_error("vocab.json", format!("not a piece-to-id map: {e}")))?;
        let id_of = |piece: &str| {
            ids.get(piece)
                .copied()
                .ok_or_else(|| file_error("vocab.json", format!("no {piece} entry")))
        };
        let unk = id_of(unk)?;
        let eos = id_of(eos)?;
        let special = special
            .iter()
            .filter_map(|p| ids.get(*p).copied())
            .collect();
        let spm = |name: &str| {
            crate::sentencepiece::from_bytes(&source.read(name)?).map_err(|r| file_error(name, r))
        };
        let source_model = spm(source_spm)?;
        let target = if target_spm == source_spm {
            source_model.clone()
        } else {
            spm(target_spm)?
        };
        Ok(Self {
            source: source_model,
            target,
            pieces: ids.iter().map(|(p, &i)| (i, p.clone())).collect(),
            ids,
            unk,
            eos,
            special,
        })
    }

    /// Number of entries in `vocab.json`.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether `vocab.json` is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id of a piece, if `vocab.json` has it.
    pub fn id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
    }

    /// End-of-sequence id.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Marks more ids as control tokens (M2M100's language tokens, which follow `vocab.json`).
    pub fn add_special(&mut self, ids: impl IntoIterator<Item = u32>) {
        self.special.extend(ids);
    }

    /// Source text to ids, without any prefix or EOS.
    pub fn pieces_of(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .source
            .encode(text, false)
            .map_err(|e| Error::Model(format!("tokenizing: {e}")))?;
        Ok(encoding
            .get_tokens()
            .iter()
            .map(|piece| self.ids.get(piece).copied().unwrap_or(self.unk))
            .collect())
    }

    /// Target ids to text; control tokens are skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let pieces: Vec<u32> = ids
            .iter()
            .filter(|id| !self.special.contains(id))
            .filter_map(|id| self.pieces.get(id))
            .map(|piece| self.target.token_to_id(piece).unwrap_or(0))
            .collect();
        self.target
            .decode(&pieces, false)
            .map_err(|e| Error::Model(format!("detokenizing: {e}")))
    }
}
