//! Text to text.

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::Lang;
use dragoman_core::engine::Translator as _;
use dragoman_translate::engine::{Context, TranslationEngine};
use dragoman_translate::models;

use crate::error::Result;
use crate::models::ModelStore;

/// Machine translation with the models of a [`ModelStore`]. Load once; translate from any
/// thread.
#[derive(uniffi::Object)]
pub struct Translator {
    pub(crate) engine: Arc<TranslationEngine>,
}

#[uniffi::export]
impl Translator {
    /// The best pulled models for `source` -> `target` (as `dragoman translate` chooses them);
    /// the error names what to pull when none serves the pair.
    #[uniffi::constructor]
    pub fn new(store: Arc<ModelStore>, source: String, target: String) -> Result<Arc<Self>> {
        let ids =
            models::choose_pulled(&store.inner, Lang::parse(&source)?, Lang::parse(&target)?)?;
        Self::with_models(store, ids)
    }

    /// The given models of the catalog (a translation model id each, e.g.
    /// `qwen2.5-coder-1.5b-instruct-q4km`); each pair goes to the first that serves it.
    #[uniffi::constructor]
    pub fn with_models(store: Arc<ModelStore>, models: Vec<String>) -> Result<Arc<Self>> {
        let loaded = models
            .iter()
            .map(|id| models::load(&store.inner, id, None, &Device::Cpu))
            .collect::<dragoman_core::Result<Vec<_>>>()?;
        Ok(Arc::new(Self {
            engine: Arc::new(TranslationEngine::new(loaded)),
        }))
    }

    /// The pulled models fast enough for live captions, as the call server translates
    /// captions with them (for a [`Pipeline`](crate::Pipeline)).
    #[uniffi::constructor]
    pub fn live(store: Arc<ModelStore>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            engine: Arc::new(dragoman_engines::live_translator(&store.inner)?),
        }))
    }

    /// Whether the loaded models translate `source` -> `target`.
    pub fn supports(&self, source: String, target: String) -> Result<bool> {
        Ok(self
            .engine
            .supports(Lang::parse(&source)?, Lang::parse(&target)?))
    }

    /// Translates `text` (any number of sentences) from `source` into `target`.
    pub fn translate(&self, text: String, source: String, target: String) -> Result<String> {
        Ok(self
            .engine
            .translate_text(&text, Lang::parse(&source)?, Lang::parse(&target)?)?)
    }

    /// Translates the lines of one document or speaker in order, each after the previous
    /// ones (the context an LLM reads, so that names and references stay consistent).
    pub fn translate_lines(
        &self,
        lines: Vec<String>,
        source: String,
        target: String,
    ) -> Result<Vec<String>> {
        let (from, to) = (Lang::parse(&source)?, Lang::parse(&target)?);
        let mut context = Context::default();
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let translation = self
                .engine
                .translate_in_context(&line, from, to, &context)?;
            context.push(line, translation.clone());
            out.push(translation);
        }
        Ok(out)
    }
}
