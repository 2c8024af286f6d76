//! Text-to-speech of final translations, sentence by sentence.

use std::collections::VecDeque;
use std::sync::Arc;

use super::contain::{contain, panicked};
use super::started::Started;
use super::{Compute, Engines, Priority, SessionEvent, SpeechRequest, StageOutput, report};
use crate::engine::{TextToSpeech, TtsEvent, TtsOptions, TtsSession};
use crate::error::Result;
use crate::lang::Lang;
use crate::text::sentences;

/// One step of synthesis.
enum Piece {
    /// A sentence of a request.
    Sentence(Lang, String),
    /// The end of a request: what the voice holds is spoken, and the request is complete.
    End(Lang),
}

/// The last stage: final translations spoken, one voice session per language, one sentence
/// per [`step`](Self::step), so a driver sends each sentence's audio before the next is
/// synthesised.
pub struct Speaker {
    voices: Voices,
    compute: Arc<dyn Compute>,
    pending: VecDeque<Piece>,
    outputs: VecDeque<StageOutput>,
}

impl Speaker {
    /// Speech with `engines.tts`.
    pub fn new(engines: &Engines) -> Self {
        Self {
            voices: Voices {
                tts: engines.tts.clone(),
                started: Started::new(),
            },
            compute: engines.compute.clone(),
            pending: VecDeque::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Queues `request`, split into sentences. (A full stop of an abbreviation splits a
    /// sentence in two: it is then spoken as two.)
    pub fn speak(&mut self, request: SpeechRequest) {
        let lang = request.lang;
        for sentence in sentences(&request.text) {
            self.pending
                .push_back(Piece::Sentence(lang, sentence.to_string()));
        }
        self.pending.push_back(Piece::End(lang));
    }

    /// Synthesises the next queued sentence; `false` when nothing was queued.
    pub fn step(&mut self) -> bool {
        let Some(piece) = self.pending.pop_front() else {
            return false;
        };
        let spoken = self.synthesise(piece);
        report(&mut self.outputs, "speak", spoken);
        true
    }

    /// The next output, or `None` until the next step.
    pub fn poll(&mut self) -> Option<StageOutput> {
        self.outputs.pop_front()
    }

    fn synthesise(&mut self, piece: Piece) -> Result<()> {
        let lang = match &piece {
            Piece::Sentence(lang, _) | Piece::End(lang) => *lang,
        };
        let Some(voice) = self.voices.get(lang)? else {
            return Ok(());
        };
        // Each sentence is pushed with a space after it, which tells the session it is
        // complete; synthesis runs in the push.
        let synthesised = self.compute.run(Priority::Speech, &mut || {
            contain(|| match &piece {
                Piece::Sentence(_, sentence) => voice.push_text(&format!("{sentence} ")),
                Piece::End(_) => voice.finish(),
            })
        });
        if panicked(&synthesised) {
            // The rest of the request goes to a new voice session.
            self.voices.started.forget(lang);
        } else {
            while let Some(event) = voice.poll_event() {
                if let TtsEvent::Audio(audio) = event {
                    self.outputs
                        .push_back(StageOutput::Event(SessionEvent::Speech { lang, audio }));
                }
            }
        }
        if matches!(piece, Piece::End(_)) {
            self.outputs
                .push_back(StageOutput::Event(SessionEvent::SpeechEnd { lang }));
        }
        synthesised
    }
}

/// A synthesiser's sessions, one voice per language, each started on first use.
struct Voices {
    tts: Arc<dyn TextToSpeech>,
    started: Started<Lang, Box<dyn TtsSession>>,
}

impl Voices {
    /// The session of `lang`; `None` when the engine refused the language before (its error
    /// was returned then).
    fn get(&mut self, lang: Lang) -> Result<Option<&mut Box<dyn TtsSession>>> {
        let tts = &self.tts;
        self.started
            .get(lang, || tts.new_session(&TtsOptions::new(lang)))
    }
}
