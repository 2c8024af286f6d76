//! Speech-to-text with caption ids and revisions.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    Compute, Engines, Priority, SessionEvent, SessionOptions, SpokenCaption, StageOutput,
    TrackCaption, report,
};
use crate::audio::AudioChunk;
use crate::engine::{CaptionText, SttEvent, SttOptions, SttSession};
use crate::error::Result;
use crate::lang::Lang;

/// The first stage: the speaker's audio in; the original captions out, numbered (one id per
/// utterance, a revision per update), each also handed on for translation.
///
/// Caption ids are the pipeline's, not the engine's: an utterance is the span between two
/// finals of the speech-to-text session, whatever engine makes them.
pub struct Captioner {
    session: Box<dyn SttSession>,
    compute: Arc<dyn Compute>,
    spoken: Option<Lang>,
    caption_id: u64,
    revision: u32,
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
            session: engines.stt.new_session(&stt_options)?,
            compute: engines.compute.clone(),
            spoken: options.spoken,
            caption_id: 0,
            revision: 0,
            outputs: VecDeque::new(),
        })
    }

    /// Adds audio (mono, any rate, contiguous with the last chunk): one decode at most, however
    /// long the chunk, so a driver that fell behind catches up by pushing all it has at once.
    pub fn push_audio(&mut self, chunk: &AudioChunk) {
        if chunk.samples.is_empty() {
            return;
        }
        let session = &mut self.session;
        let pushed = self
            .compute
            .run(Priority::Stream, &mut || session.push_audio(chunk));
        report(&mut self.outputs, "stt", pushed);
        self.collect();
    }

    /// Ends the audio: the utterance in progress becomes final.
    pub fn finish(&mut self) {
        let session = &mut self.session;
        let finished = self.compute.run(Priority::Stream, &mut || session.finish());
        report(&mut self.outputs, "stt", finished);
        self.collect();
    }

    /// The next output, or `None` until the next push.
    pub fn poll(&mut self) -> Option<StageOutput> {
        self.outputs.pop_front()
    }

    /// Numbers the session's events and queues them as outputs.
    fn collect(&mut self) {
        while let Some(event) = self.session.poll_event() {
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
            } else {
                self.revision += 1;
            }
            self.outputs
                .push_back(StageOutput::Translate(SpokenCaption { caption, lang }));
        }
    }
}
