//! `dragoman translate --from en --to vi [TEXT]`: text to text, or stdin line by line.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use dragoman_core::store::catalog::Task;
use dragoman_core::store::{CATALOG, ModelStore};
use dragoman_core::{Glossary, Lang};
use dragoman_translate::engine::{Context, SentenceTranslator, TranslationEngine};
use dragoman_translate::models;

#[derive(Debug, Args)]
pub(crate) struct TranslateArgs {
    /// Source language (`en`, `vi`, `de-DE`, `spa`, ...).
    #[arg(long)]
    from: String,
    /// Target language.
    #[arg(long)]
    to: String,
    /// Translation model: a catalog id (see `dragoman models list`) or the path of any GGUF
    /// LLM file (Gemma, Llama, Mistral, Qwen2/3; an instruct model is asked in its chat
    /// format). Default: the best pulled model for the pair — NLLB-200, then M2M100, then
    /// opus-mt (two opus-mt pairs through English if need be), then an LLM.
    #[arg(long)]
    model: Option<String>,
    /// Beam size (1 = greedy) of encoder-decoder models. Default: the model's own setting.
    #[arg(long)]
    beams: Option<usize>,
    /// Translate each input line on its own. By default a line is translated after the
    /// previous ones (an LLM reads the last few lines and their translations, so a document's
    /// names and terms stay consistent).
    #[arg(long)]
    independent_lines: bool,
    /// A glossary file: one term per line, `term` (kept as written) or `term<TAB>translation`
    /// (always translated so). LLM translators are told the terms a sentence holds, and an
    /// answer that ignores them is asked for again.
    #[arg(long, value_name = "FILE")]
    glossary: Option<std::path::PathBuf>,
    /// Text to translate. Without it, standard input is translated line by line, one output
    /// line per input line, in order.
    text: Vec<String>,
}

pub(crate) fn run(args: TranslateArgs) -> anyhow::Result<ExitCode> {
    let from = Lang::parse(&args.from)?;
    let to = Lang::parse(&args.to)?;
    let store = ModelStore::from_env()?;
    let device = candle_core::Device::Cpu;
    let loaded: Vec<Arc<dyn SentenceTranslator>> = match args.model {
        Some(file) if file.ends_with(".gguf") => {
            vec![models::load_gguf_file(
                std::path::Path::new(&file),
                &device,
            )?]
        }
        model => {
            let ids = match model {
                Some(id) => {
                    super::models::pull_missing(&store, &[&id])?;
                    vec![id]
                }
                None => chosen_or_fetched(&store, from, to)?,
            };
            ids.iter()
                .map(|id| models::load(&store, id, args.beams, &device))
                .collect::<Result<_, _>>()?
        }
    };
    let engine = TranslationEngine::new(loaded);
    let glossary = match &args.glossary {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading the glossary {}: {e}", path.display()))?;
            Glossary::from_tsv(&text, to).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Glossary::default(),
    };
    let mut context = Context::default().with_glossary(glossary);
    let mut out = std::io::stdout().lock();
    if !args.text.is_empty() {
        let text = args.text.join(" ");
        writeln!(
            out,
            "{}",
            engine.translate_in_context(&text, from, to, &context)?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let translation = engine.translate_in_context(&line, from, to, &context)?;
        writeln!(out, "{translation}")?;
        out.flush()?;
        if !args.independent_lines {
            context.push(line, translation);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The best pulled models for `from` -> `to`. On a first run (no translation model pulled at
/// all), the best of the default models for the pair, fetched first. Where the user pulled
/// models and none serves the pair, the error names what would: a 1 GB download is not
/// started behind the back of someone who chose their models.
fn chosen_or_fetched(store: &ModelStore, from: Lang, to: Lang) -> anyhow::Result<Vec<String>> {
    let unserved = match models::choose_pulled(store, from, to) {
        Ok(ids) => return Ok(ids),
        Err(e) if models::pulled(store).is_empty() => e,
        Err(e) => return Err(e.into()),
    };
    let defaults: Vec<&str> = CATALOG
        .iter()
        .filter(|e| e.default && e.task == Task::Translation)
        .map(|e| e.id)
        .collect();
    let Some(ids) = models::choose(&defaults, from, to) else {
        return Err(unserved.into());
    };
    let needed: Vec<&str> = ids.iter().map(String::as_str).collect();
    super::models::pull_missing(store, &needed)?;
    Ok(ids)
}
