//! Which catalog translation model to use for a language pair, and loading it from the store.
//!
//! What a catalog model serves is known without loading it (opus-mt ids name their pair;
//! M2M100 and NLLB list their languages), so choosing never loads gigabytes that will not be
//! used.

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::store::catalog::Task;
use dragoman_core::store::{CATALOG, ModelStore};
use dragoman_core::{Error, Lang, Result};

use crate::engine::SentenceTranslator;
use crate::llm::LlmTranslator;
use crate::seq2seq::Seq2SeqTranslator;
use crate::tokenizer::M2M100_LANGUAGES;

/// Any-to-any models, best first: they beat chaining two opus-mt pairs.
const MULTILINGUAL: [&str; 2] = ["nllb-200-distilled-600m", "m2m100-418m"];

/// LLMs prompted to translate, best first: after the dedicated models (which the Hub serves),
/// the only translators reachable offline.
const LLMS: [&str; 3] = [
    "qwen2.5-coder-1.5b-instruct-q4km",
    "qwen2.5-coder-0.5b-instruct-q4km",
    "gemma3-270m-q4km",
];

/// The LLMs by speed, fastest first: seconds per Tatoeba sentence through `dragoman translate`
/// on 2 threads, Gemma 0.29, the 0.5B 0.57, the 1.5B 0.65-0.82 (README, "Offline translation").
/// In a call on 2 cores the 1.5B's translations of one speaker's finals into two languages
/// came 17 s after the sentence (p50), Gemma's 1.9 s.
const LLMS_FASTEST_FIRST: [&str; 3] = [
    "gemma3-270m-q4km",
    "qwen2.5-coder-0.5b-instruct-q4km",
    "qwen2.5-coder-1.5b-instruct-q4km",
];

/// The models among `pulled` that translate a live call's captions: every dedicated model
/// (they keep up) and the fastest LLM. (An LLM is only used where no dedicated model has the
/// pair, as in [`choose`].)
pub fn for_live_captions<'a>(pulled: &[&'a str]) -> Vec<&'a str> {
    let fastest_llm = LLMS_FASTEST_FIRST
        .iter()
        .find(|id| pulled.contains(id))
        .copied();
    pulled
        .iter()
        .copied()
        .filter(|id| !LLMS.contains(id) || Some(*id) == fastest_llm)
        .collect()
}

/// The LLM among `pulled` that refines a live call's final captions: the strongest pulled, when
/// it is not the one [`for_live_captions`] chose.
pub fn refiner<'a>(pulled: &[&'a str]) -> Option<&'a str> {
    let live = for_live_captions(pulled);
    pulled
        .iter()
        .copied()
        .filter(|id| LLMS.contains(id))
        .min_by_key(|id| LLMS.iter().position(|l| l == id))
        .filter(|id| !live.contains(id))
}

/// Whether catalog model `id` translates `from` into `to` by itself.
pub fn serves(id: &str, from: Lang, to: Lang) -> bool {
    if from == to {
        return false;
    }
    match id {
        "nllb-200-distilled-600m" => from.flores200().is_ok() && to.flores200().is_ok(),
        "m2m100-418m" => {
            let known = |l: Lang| M2M100_LANGUAGES.contains(&l.code());
            known(from) && known(to)
        }
        id if LLMS.contains(&id) => true,
        _ => id
            .strip_prefix("opus-mt-")
            .and_then(|pair| pair.split_once('-'))
            .is_some_and(|(f, t)| f == from.code() && t == to.code()),
    }
}

/// The models to use for `from` → `to` among `available` ids: the best multilingual model that
/// serves the pair, else an opus-mt pair, else two opus-mt pairs through English, else an LLM.
/// `None` when nothing available does.
pub fn choose(available: &[&str], from: Lang, to: Lang) -> Option<Vec<String>> {
    let has = |id: &str| available.contains(&id);
    if let Some(id) = MULTILINGUAL
        .iter()
        .find(|id| has(id) && serves(id, from, to))
    {
        return Some(vec![id.to_string()]);
    }
    let opus = |f: Lang, t: Lang| format!("opus-mt-{}-{}", f.code(), t.code());
    if has(&opus(from, to)) {
        return Some(vec![opus(from, to)]);
    }
    if has(&opus(from, Lang::EN)) && has(&opus(Lang::EN, to)) {
        return Some(vec![opus(from, Lang::EN), opus(Lang::EN, to)]);
    }
    LLMS.iter()
        .find(|id| has(id) && serves(id, from, to))
        .map(|id| vec![id.to_string()])
}

/// The translation models pulled into `store`, by catalog id.
pub fn pulled(store: &ModelStore) -> Vec<&'static str> {
    CATALOG
        .iter()
        .filter(|e| e.task == Task::Translation && store.manifest(e.id).is_some())
        .map(|e| e.id)
        .collect()
}

/// [`choose`] among the models pulled into `store`; the error says what to pull.
pub fn choose_pulled(store: &ModelStore, from: Lang, to: Lang) -> Result<Vec<String>> {
    let pulled = pulled(store);
    choose(&pulled, from, to).ok_or_else(|| {
        let candidates: Vec<&str> = CATALOG
            .iter()
            .filter(|e| e.task == Task::Translation && serves(e.id, from, to))
            .map(|e| e.id)
            .collect();
        let mut options: Vec<String> = candidates.iter().map(|id| id.to_string()).collect();
        if from != Lang::EN && to != Lang::EN {
            options.push(format!(
                "opus-mt-{}-en + opus-mt-en-{} (through English)",
                from.code(),
                to.code()
            ));
        }
        let hint = options.join(" or ");
        Error::UnsupportedLanguagePair {
            from: from.code().to_string(),
            to: format!(
                "{} with the models pulled ({}); pull {hint} with `dragoman models pull`",
                to.code(),
                if pulled.is_empty() {
                    "none".to_string()
                } else {
                    pulled.join(", ")
                }
            ),
        }
    })
}

/// Loads pulled catalog model `id` as a sentence translator: a GGUF file makes an
/// [`LlmTranslator`], anything else a [`Seq2SeqTranslator`] (whose beam size `beams`
/// overrides).
pub fn load(
    store: &ModelStore,
    id: &str,
    beams: Option<usize>,
    device: &Device,
) -> Result<Arc<dyn SentenceTranslator>> {
    let source = store.source(id)?;
    let entry = dragoman_core::store::entry(id)?;
    if let Some(gguf) = entry.files.iter().find(|f| f.name.ends_with(".gguf")) {
        return Ok(Arc::new(LlmTranslator::load(
            &source, gguf.name, id, device,
        )?));
    }
    let mut model = Seq2SeqTranslator::load(&source, id, None, device)?;
    if let Some(beams) = beams {
        model.set_beams(beams);
    }
    Ok(Arc::new(model))
}

/// Loads a GGUF file outside the catalog (any instruct GGUF a user has) as an
/// [`LlmTranslator`] named after the file.
pub fn load_gguf_file(
    path: &std::path::Path,
    device: &Device,
) -> Result<Arc<dyn SentenceTranslator>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(crate::Error::Misuse(format!(
            "{}: not a file path",
            path.display()
        )));
    };
    let id = name.trim_end_matches(".gguf");
    Ok(Arc::new(LlmTranslator::load(
        &dragoman_core::ModelSource::dir(dir),
        name,
        id,
        device,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_best_available() {
        let (vi, en, de) = (Lang::VI, Lang::EN, Lang::DE);
        assert_eq!(
            choose(&["opus-mt-vi-en", "m2m100-418m"], vi, en),
            Some(vec!["m2m100-418m".to_string()])
        );
        assert_eq!(
            choose(&["opus-mt-vi-en", "opus-mt-en-de"], vi, de),
            Some(vec![
                "opus-mt-vi-en".to_string(),
                "opus-mt-en-de".to_string()
            ])
        );
        assert_eq!(choose(&["opus-mt-vi-en"], de, vi), None);
        assert!(serves("nllb-200-distilled-600m", vi, de));
        assert!(!serves("opus-mt-en-vi", vi, en));
        // The LLM is the last resort.
        assert_eq!(
            choose(&["gemma3-270m-q4km", "opus-mt-vi-en"], vi, en),
            Some(vec!["opus-mt-vi-en".to_string()])
        );
        assert_eq!(
            choose(&["gemma3-270m-q4km"], vi, de),
            Some(vec!["gemma3-270m-q4km".to_string()])
        );
        // The stronger LLM wins.
        assert_eq!(
            choose(
                &["gemma3-270m-q4km", "qwen2.5-coder-1.5b-instruct-q4km"],
                vi,
                de
            ),
            Some(vec!["qwen2.5-coder-1.5b-instruct-q4km".to_string()])
        );
        // Live captions: dedicated models and the fastest LLM.
        assert_eq!(
            for_live_captions(&[
                "qwen2.5-coder-1.5b-instruct-q4km",
                "opus-mt-vi-en",
                "gemma3-270m-q4km",
            ]),
            ["opus-mt-vi-en", "gemma3-270m-q4km"]
        );
        assert_eq!(
            for_live_captions(&["qwen2.5-coder-1.5b-instruct-q4km"]),
            ["qwen2.5-coder-1.5b-instruct-q4km"]
        );
        // ... and the strongest LLM refines their finals, where it is another.
        assert_eq!(
            refiner(&["gemma3-270m-q4km", "qwen2.5-coder-1.5b-instruct-q4km"]),
            Some("qwen2.5-coder-1.5b-instruct-q4km")
        );
        assert_eq!(refiner(&["qwen2.5-coder-1.5b-instruct-q4km"]), None);
        assert_eq!(refiner(&["gemma3-270m-q4km", "opus-mt-vi-en"]), None);
        // Every catalog translation model is known to `serves`.
        for entry in CATALOG.iter().filter(|e| e.task == Task::Translation) {
            let known = Lang::all().any(|a| Lang::all().any(|b| serves(entry.id, a, b)));
            assert!(known, "{}", entry.id);
        }
    }
}
