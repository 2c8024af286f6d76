//! Caption translation into every language someone wants, and the refinement of finals.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use super::contain::{contain, panicked};
use super::started::Started;
use super::{
    Compute, Engines, Priority, SessionEvent, SessionOptions, SpeechRequest, SpokenCaption,
    StageOutput, Targets, TrackCaption, report,
};
use crate::engine::{CaptionText, TranslationOptions, TranslationSession, Translator};
use crate::error::Result;
use crate::glossary::Glossary;
use crate::lang::Lang;

/// A translator's caption sessions, one per (spoken, caption) language pair, each started on
/// first use with the glossary.
struct Sessions {
    translator: Arc<dyn Translator>,
    glossary: Glossary,
    started: Started<(Lang, Lang), Box<dyn TranslationSession>>,
}

impl Sessions {
    fn new(translator: Arc<dyn Translator>, glossary: Glossary) -> Self {
        Self {
            translator,
            glossary,
            started: Started::new(),
        }
    }

    /// The session of `from` -> `to`; `None` when the translator refused the pair before
    /// (its error was returned then).
    fn get(&mut self, from: Lang, to: Lang) -> Result<Option<&mut Box<dyn TranslationSession>>> {
        let (translator, glossary) = (&self.translator, &self.glossary);
        self.started.get((from, to), || {
            let mut options = TranslationOptions::new(from, to);
            options.glossary = glossary.clone();
            translator.new_session(&options)
        })
    }

    /// Drops the session of `from` -> `to` (it panicked): the next caption starts another.
    fn forget(&mut self, from: Lang, to: Lang) {
        self.started.forget((from, to));
    }
}

/// The second stage: each caption translated into every language the listeners read or hear
/// (one session per language pair, so each reads the speaker's earlier captions); translated
/// captions out, final translations handed on to be spoken and (with a refiner) refined.
///
/// Work is queued by [`push`](Self::push) and done one translation (a caption into one
/// language) per [`step`](Self::step), so a driver hands over newer captions between steps.
/// Newer captions replace the queued work of a partial: of several partials only the newest is
/// translated, and a final is not kept waiting behind the rest of a stale partial's languages.
/// Finals are always translated ([`Priority::Final`]), and so is the text a partial expects to
/// be final (the final's translation, made while speech-to-text confirms it); another partial
/// only when the scheduler is free at once ([`Priority::Partial`]). A final whose translation
/// was made ahead needs no model and waits for no scheduler.
pub struct CaptionTranslator {
    sessions: Sessions,
    compute: Arc<dyn Compute>,
    targets: Targets,
    refine: bool,
    /// Translations to do, in order: a caption, from its language into one other.
    queued: VecDeque<(Arc<CaptionText>, Lang, Lang)>,
    outputs: VecDeque<StageOutput>,
}

impl CaptionTranslator {
    /// Translation with `engines.translator` into `targets`; finals are handed on for
    /// refinement when `engines` has a refiner.
    pub fn new(engines: &Engines, options: &SessionOptions, targets: Targets) -> Self {
        Self {
            sessions: Sessions::new(engines.translator.clone(), options.glossary.clone()),
            compute: engines.compute.clone(),
            targets,
            refine: engines.refiner.is_some(),
            queued: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    /// What the listeners want now.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Changes what the listeners want, from the next caption on.
    pub fn set_targets(&mut self, targets: Targets) {
        self.targets = targets;
    }

    /// Queues the captions that came since the last push: every final, and the last caption
    /// even when it is a partial. Queued work of earlier partials is dropped (these are newer).
    pub fn push(&mut self, captions: Vec<SpokenCaption>) {
        if captions.is_empty() {
            return;
        }
        self.queued.retain(|(caption, ..)| caption.is_final);
        let last = captions.len() - 1;
        for (i, spoken) in captions.into_iter().enumerate() {
            if spoken.caption.is_final || i == last {
                self.queue(spoken);
            }
        }
    }

    /// Does the next queued translation; `false` when none was queued.
    pub fn step(&mut self) -> bool {
        let Some((caption, from, to)) = self.queued.pop_front() else {
            return false;
        };
        let translated = self.translate(&caption, from, to);
        report(&mut self.outputs, "translate", translated);
        true
    }

    /// Whether translations are queued.
    pub fn is_idle(&self) -> bool {
        self.queued.is_empty()
    }

    /// The next output, or `None` until the next step.
    pub fn poll(&mut self) -> Option<StageOutput> {
        self.outputs.pop_front()
    }

    /// Queues `spoken` for every language someone wants.
    fn queue(&mut self, spoken: SpokenCaption) {
        // An original partial whose language is not detected yet waits for its final.
        let Some(from) = spoken.lang else { return };
        // Speech needs the translated final even where nobody reads that language.
        let langs: BTreeSet<Lang> = self
            .targets
            .captions
            .union(&self.targets.speech)
            .copied()
            .filter(|&to| to != from)
            .collect();
        let caption = Arc::new(spoken.caption);
        self.queued
            .extend(langs.into_iter().map(|to| (caption.clone(), from, to)));
    }

    fn translate(&mut self, caption: &CaptionText, from: Lang, to: Lang) -> Result<()> {
        let Some(session) = self.sessions.get(from, to)? else {
            return Ok(());
        };
        let pushed = if session.translated_already(caption) {
            contain(|| session.push_text(caption))
        } else if caption.is_final || caption.expected_final_len.is_some() {
            // A partial's expected final is the final's translation made ahead.
            self.compute.run(Priority::Final, &mut || {
                contain(|| session.push_text(caption))
            })
        } else {
            self.compute
                .try_run(Priority::Partial, &mut || {
                    contain(|| session.push_text(caption))
                })
                .unwrap_or(Ok(()))
        };
        if panicked(&pushed) {
            self.sessions.forget(from, to);
            return pushed;
        }
        pushed?;
        while let Some(event) = session.poll_event() {
            if event.is_final && self.targets.speech.contains(&to) {
                self.outputs.push_back(StageOutput::Speak(SpeechRequest {
                    lang: to,
                    text: event.text.clone(),
                }));
            }
            if !self.targets.captions.contains(&to) {
                continue;
            }
            if event.is_final && self.refine {
                self.outputs.push_back(StageOutput::Refine(RefineJob {
                    caption: caption.clone(),
                    from,
                    to,
                    revision: event.revision,
                    first: event.text.clone(),
                }));
            }
            self.outputs
                .push_back(StageOutput::Event(SessionEvent::Caption(TrackCaption {
                    caption_id: event.caption_id,
                    revision: event.revision,
                    lang: Some(to),
                    source_lang: Some(from),
                    text: event.text,
                    is_final: event.is_final,
                    start: caption.start,
                    end: None,
                    refined: false,
                })));
        }
        Ok(())
    }
}

/// A final caption to translate again with the refiner.
#[derive(Debug, Clone, PartialEq)]
pub struct RefineJob {
    caption: CaptionText,
    from: Lang,
    to: Lang,
    /// The revision of the first translation's final.
    revision: u32,
    /// The first translation.
    first: String,
}

/// Finals translated again by [`Engines::refiner`], one session per language pair (so the
/// refiner reads the speaker's previous finals too), each as a [`Priority::Refine`] job. A
/// refined translation that differs from the first comes out as the caption's next revision,
/// final and [`TrackCaption::refined`]. Speech keeps the first translation (it was spoken
/// already).
pub struct Refiner {
    sessions: Sessions,
    compute: Arc<dyn Compute>,
    outputs: VecDeque<StageOutput>,
}

impl Refiner {
    /// The refinement stage of `engines`; `None` when they have no refiner.
    pub fn new(engines: &Engines, options: &SessionOptions) -> Option<Self> {
        let refiner = engines.refiner.clone()?;
        Some(Self {
            sessions: Sessions::new(refiner, options.glossary.clone()),
            compute: engines.compute.clone(),
            outputs: VecDeque::new(),
        })
    }

    /// Translates `job`'s caption again.
    pub fn push(&mut self, job: &RefineJob) {
        let refined = self.refine(job);
        report(&mut self.outputs, "refine", refined);
    }

    /// The next output, or `None` until the next push.
    pub fn poll(&mut self) -> Option<StageOutput> {
        self.outputs.pop_front()
    }

    fn refine(&mut self, job: &RefineJob) -> Result<()> {
        let Some(session) = self.sessions.get(job.from, job.to)? else {
            return Ok(());
        };
        let pushed = self.compute.run(Priority::Refine, &mut || {
            contain(|| session.push_text(&job.caption))
        });
        if panicked(&pushed) {
            self.sessions.forget(job.from, job.to);
            return pushed;
        }
        pushed?;
        while let Some(event) = session.poll_event() {
            if event.is_final && event.text.trim() != job.first.trim() {
                self.outputs
                    .push_back(StageOutput::Event(SessionEvent::Caption(TrackCaption {
                        caption_id: job.caption.caption_id,
                        revision: job.revision + 1,
                        lang: Some(job.to),
                        source_lang: Some(job.from),
                        text: event.text,
                        is_final: true,
                        start: job.caption.start,
                        end: None,
                        refined: true,
                    })));
            }
        }
        Ok(())
    }
}
