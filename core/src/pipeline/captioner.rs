//! Speech-to-text with caption ids and revisions.

use std::collections::VecDeque;
use std::sync::Arc;

use super::contain::{contain, panicked};
use super::{
    Compute, Engines, Priority, SessionEvent, SessionOptions, SpokenCaption, StageOutput,
    TrackCaption, report,
};
use crate::audio::{AudioChunk, StreamTime};
use crate::engine::{CaptionText, SpeechToText, SttEvent, SttOptions, SttSession};
use crate::error::Result;
use crate::lang::Lang;

/// The first stage: the speaker's audio in; the original captions out, numbered (one id per
/// utterance, a revision per update), each also handed on for translation.
///
/// Caption ids are the pipeline's, not the engine's: an utterance is the span between two
/// finals of the speech-to-text session, whatever engine makes them. So they go on across a
/// restarted session: when the engine panics, the utterance in progress becomes final with
/// its last partial's text (what was heard of it) and a new session takes the next audio.
pub struct Captioner {
    stt: Arc<dyn SpeechToText>,
    stt_options: SttOptions,
    /// `None` after a panic whose restart failed (that failure was reported).
    session: Option<Box<dyn SttSession>>,
    compute: Arc<dyn Compute>,
    spoken: Option<Lang>,
    /// The language of the last final: a caption closed after a panic is in it.
    last_lang: Option<Lang>,
    caption_id: u64,
    revision: u32,
    /// The latest partial of the utterance in progress.
    open: Option<CaptionText>,
    /// The media time up to which audio was pushed.
    heard_until: Option<StreamTime>,
    outputs: VecDeque<StageOutput>,
}

impl Captioner {
    /// Starts a speech-to-text session of `engines` in `options.spoken`.
    pub fn new(engines: &Engines, options: &SessionOptions) -> Result<Self> {
        let stt_options = SttOptions {
            language: options.spoken,
            ..SttOptions::default()
        };
        Ok(Self {
            session: Some(engines.stt.new_session(&stt_options)?),
            stt: engines.stt.clone(),
            stt_options,
            compute: engines.compute.clone(),
            spoken: options.spoken,
            last_lang: None,
            caption_id: 0,
            revision: 0,
            open: None,
            heard_until: None,
            outputs: VecDeque::new(),
        })
    }

    /// Adds audio (mono, any rate, contiguous with the last chunk): one decode at most, however
    /// long the chunk, so a driver that fell behind catches up by pushing all it has at once.
    pub fn push_audio(&mut self, chunk: &AudioChunk) {
        if chunk.samples.is_empty() {
            return;
        }
        self.heard_until = Some(chunk.end());
        let Some(session) = &mut self.session else {
            return;
        };
        let pushed = self.compute.run(Priority::Stream, &mut || {
            contain(|| session.push_audio(chunk))
        });
        self.settle(pushed);
    }

    /// Ends the audio: the utterance in progress becomes final.
    pub fn finish(&mut self) {
        let Some(session) = &mut self.session else {
            return;
        };
        let finished = self
            .compute
            .run(Priority::Stream, &mut || contain(|| session.finish()));
        self.settle(finished);
    }

    /// After a push into the session: its events, or a restart if it panicked.
    fn settle(&mut self, pushed: Result<()>) {
        let restart = panicked(&pushed);
        report(&mut self.outputs, "stt", pushed);
        if restart {
            self.restart();
        } else {
            self.collect();
        }
    }

    /// Replaces a session that panicked: the utterance in progress ends with what its last
    /// partial heard, and the next audio opens a new one.
    fn restart(&mut self) {
        self.session = None;
        if let Some(mut caption) = self.open.take() {
            caption.is_final = true;
            caption.stable_prefix_len = caption.text.len();
            caption.expected_final_len = None;
            let lang = self.spoken.or(self.last_lang);
            self.emit(caption, lang, self.heard_until);
        }
        let started = self.stt.new_session(&self.stt_options);
        match started {
            Ok(session) => self.session = Some(session),
            Err(e) => report(&mut self.outputs, "stt", Err(e)),
        }
    }

    /// The next output, or `None` until the next push.
    pub fn poll(&mut self) -> Option<StageOutput> {
        self.outputs.pop_front()
    }

    /// Numbers the session's events and queues them as outputs.
    fn collect(&mut self) {
        while let Some(event) = self.session.as_mut().and_then(|s| s.poll_event()) {
            let (caption, lang, end) = match event {
                SttEvent::Partial {
                    text,
                    stable_prefix_len,
                    expected_final_len,
                    start,
                } => (
                    CaptionText {
                        caption_id: self.caption_id,
                        text,
                        stable_prefix_len,
                        expected_final_len,
                        is_final: false,
                        start,
                    },
                    self.spoken,
                    None,
                ),
                SttEvent::Final {
                    text,
                    start,
                    end,
                    lang,
                    ..
                } => (
                    CaptionText {
                        caption_id: self.caption_id,
                        stable_prefix_len: text.len(),
                        expected_final_len: None,
                        text,
                        is_final: true,
                        start,
                    },
                    Some(lang),
                    Some(end),
                ),
            };
            self.emit(caption, lang, end);
        }
    }

    /// Queues `caption` for the listeners and for translation, and moves on to the next
    /// revision (or, after a final, the next caption).
    fn emit(&mut self, caption: CaptionText, lang: Option<Lang>, end: Option<StreamTime>) {
        self.outputs
            .push_back(StageOutput::Event(SessionEvent::Caption(TrackCaption {
                caption_id: caption.caption_id,
                revision: self.revision,
                lang,
                source_lang: lang,
                text: caption.text.clone(),
                is_final: caption.is_final,
                start: caption.start,
                end,
                refined: false,
            })));
        if caption.is_final {
            self.caption_id += 1;
            self.revision = 0;
            self.open = None;
            self.last_lang = lang.or(self.last_lang);
        } else {
            self.revision += 1;
            self.open = Some(caption.clone());
        }
        self.outputs
            .push_back(StageOutput::Translate(SpokenCaption { caption, lang }));
    }
}
