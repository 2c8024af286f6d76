//! Terminology a translation must honour: names and terms kept as written, and terms translated
//! a fixed way ("standup" always "Stand-up-Meeting"). Engines that can follow instructions (the
//! LLMs) are told the terms a sentence holds and their answer is checked for them.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::lang::Lang;

/// One glossary entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Term {
    /// The term as written in the source language (matched as whole words, ignoring case).
    pub source: String,
    /// Its fixed translation per target language (BCP-47 primary tag, `de`); in a language
    /// without one the term is kept as written.
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
}

/// A list of [`Term`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Glossary {
    terms: Vec<Term>,
}

impl Glossary {
    /// A glossary of `terms`.
    pub fn new(terms: Vec<Term>) -> Self {
        Self { terms }
    }

    /// Its terms.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Whether it has no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Reads a glossary file for translations into `to`: one term per line, either `term`
    /// (kept as written) or `term<TAB>translation`; blank lines and lines starting with `#`
    /// are skipped.
    pub fn from_tsv(text: &str, to: Lang) -> Result<Self> {
        let mut terms = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let mut fields = line.split('\t').map(str::trim);
            let source = fields.next().unwrap_or_default();
            let translation = fields.next().filter(|t| !t.is_empty());
            if source.is_empty() || fields.next().is_some() {
                return Err(Error::Misuse(format!(
                    "glossary line {}: expected `term` or `term<TAB>translation`, got {line:?}",
                    i + 1
                )));
            }
            terms.push(Term {
                source: source.to_string(),
                translations: translation
                    .map(|t| BTreeMap::from([(to.code().to_string(), t.to_string())]))
                    .unwrap_or_default(),
            });
        }
        Ok(Self { terms })
    }

    /// The terms found in `text` with the rendering a translation into `to` must contain:
    /// `(term, rendering)`.
    pub fn required(&self, text: &str, to: Lang) -> Vec<(&str, &str)> {
        self.terms
            .iter()
            .filter(|t| contains_words(text, &t.source))
            .map(|t| {
                let rendering = t.translations.get(to.code()).unwrap_or(&t.source);
                (t.source.as_str(), rendering.as_str())
            })
            .collect()
    }
}

/// Whether `text` holds `words` as whole words, ignoring case.
fn contains_words(text: &str, words: &str) -> bool {
    let (text, words) = (text.to_lowercase(), words.to_lowercase());
    if words.trim().is_empty() {
        return false;
    }
    let word_char = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(&words).any(|(i, m)| {
        !word_char(text[..i].chars().next_back()) && !word_char(text[i + m.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tsv_and_finds_whole_words() {
        let glossary = Glossary::from_tsv(
            "# product names stay\ndragoman\nstandup\tStand-up-Meeting\n\n",
            Lang::DE,
        )
        .unwrap();
        assert_eq!(glossary.terms().len(), 2);
        assert_eq!(
            glossary.required("Dragoman runs the Standup.", Lang::DE),
            [("dragoman", "dragoman"), ("standup", "Stand-up-Meeting")]
        );
        // Whole words only; another target language keeps the term as written.
        assert!(
            glossary
                .required("Dragomans stand up.", Lang::DE)
                .is_empty()
        );
        assert_eq!(
            glossary.required("the standup", Lang::VI),
            [("standup", "standup")]
        );
        let err = Glossary::from_tsv("a\tb\tc", Lang::DE).unwrap_err();
        assert!(err.to_string().contains("glossary line 1"), "{err}");
    }
}
