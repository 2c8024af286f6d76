//! Whisper's special tokens, looked up in the tokenizer rather than hard-coded, so English-only
//! and multilingual checkpoints (whose ids differ by one) both work.

use dragoman_core::Lang;

/// Ids of the tokens that steer decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<|endoftext|>`; every id below it is text.
    pub eot: u32,
    /// `<|startoftranscript|>`.
    pub sot: u32,
    /// `<|startofprev|>`: precedes the previous window's text used as a prompt.
    pub sot_prev: u32,
    /// `<|startoflm|>`.
    pub sot_lm: Option<u32>,
    /// `<|transcribe|>`.
    pub transcribe: u32,
    /// `<|translate|>`.
    pub translate: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `<|nospeech|>` (or `<|nocaptions|>` in older vocabularies).
    pub no_speech: u32,
    /// `<|0.00|>`: the first timestamp token; timestamps step by 20 ms.
    pub timestamp_begin: u32,
    /// One past the last id.
    pub vocab_size: u32,
    /// `(first language token id, how many)`.
    languages: (u32, u32),
}

impl SpecialTokens {
    pub(crate) fn resolve(
        tokenizer: &tokenizers::Tokenizer,
        vocab_size: usize,
    ) -> Result<Self, String> {
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| format!("no {t} token"))
        };
        let no_timestamps = id("<|notimestamps|>")?;
        let sot = id("<|startoftranscript|>")?;
        let first_lang = tokenizer.token_to_id("<|en|>").unwrap_or(sot + 1);
        let translate = id("<|translate|>")?;
        let languages = if first_lang == sot + 1 {
            (first_lang, translate.saturating_sub(first_lang))
        } else {
            (0, 0)
        };
        Ok(Self {
            eot: id("<|endoftext|>")?,
            sot,
            sot_prev: id("<|startofprev|>")?,
            sot_lm: tokenizer.token_to_id("<|startoflm|>"),
            transcribe: id("<|transcribe|>")?,
            translate,
            no_timestamps,
            no_speech: id("<|nospeech|>").or_else(|_| id("<|nocaptions|>"))?,
            timestamp_begin: no_timestamps + 1,
            vocab_size: u32::try_from(vocab_size).map_err(|_| "vocabulary too large")?,
            languages,
        })
    }

    /// The token of `lang`, if the model knows the language.
    pub fn language(&self, lang: Lang) -> Option<u32> {
        let index = u32::try_from(lang.whisper_index()).ok()?;
        (index < self.languages.1).then_some(self.languages.0 + index)
    }

    /// The language a token stands for.
    pub fn language_of(&self, token: u32) -> Option<Lang> {
        let index = token
            .checked_sub(self.languages.0)
            .filter(|&i| i < self.languages.1)?;
        Lang::all().nth(index as usize)
    }

    /// All language token ids.
    pub fn language_tokens(&self) -> std::ops::Range<u32> {
        self.languages.0..self.languages.0 + self.languages.1
    }

    /// Whether `token` is a timestamp.
    pub fn is_timestamp(&self, token: u32) -> bool {
        token >= self.timestamp_begin
    }

    /// Seconds of a timestamp token.
    pub fn seconds(&self, token: u32) -> f64 {
        f64::from(token.saturating_sub(self.timestamp_begin)) * 0.02
    }
}
