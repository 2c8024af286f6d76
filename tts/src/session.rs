//! The streaming synthesis session every voice shares: text arrives in pieces (translated
//! captions), each sentence is spoken as soon as it is complete, so the first audio comes out
//! before the paragraph is done.

use std::collections::VecDeque;
use std::sync::Arc;

use dragoman_core::engine::{TtsEvent, TtsSession};
use dragoman_core::text::{complete_sentences, sentences};
use dragoman_core::{AudioChunk, Lang, Result, SampleRate, StreamTime};

use crate::normalize::normalize;

/// A voice that speaks one sentence at a time.
pub trait SentenceSynthesizer: Send + Sync {
    /// The rate of the samples it makes.
    fn sample_rate(&self) -> SampleRate;

    /// Speech for one normalised sentence at `speed` (1.0 is the voice's own pace); empty
    /// for a sentence with nothing to say.
    fn synthesize(&self, sentence: &str, speed: f32) -> Result<Vec<f32>>;
}

/// Moves the audio `session` has ready into `audio` (dropping its other events); returns the
/// audio's sample rate, or `None` when none was ready.
pub fn drain_audio(session: &mut dyn TtsSession, audio: &mut Vec<f32>) -> Option<SampleRate> {
    let mut rate = None;
    while let Some(event) = session.poll_event() {
        if let TtsEvent::Audio(chunk) = event {
            rate = Some(chunk.rate());
            audio.extend(chunk.samples);
        }
    }
    rate
}

/// Speaks pushed text sentence by sentence with a [`SentenceSynthesizer`].
pub struct StreamingSession {
    voice: Arc<dyn SentenceSynthesizer>,
    lang: Lang,
    speed: f32,
    /// Text whose sentence is not complete yet.
    pending: String,
    /// Samples produced so far: where the next chunk starts.
    position: u64,
    events: VecDeque<TtsEvent>,
}

impl StreamingSession {
    /// A session speaking `lang` with `voice` at `speed`.
    pub fn new(voice: Arc<dyn SentenceSynthesizer>, lang: Lang, speed: f32) -> Self {
        Self {
            voice,
            lang,
            speed,
            pending: String::new(),
            position: 0,
            events: VecDeque::new(),
        }
    }

    /// Speaks one normalised sentence.
    fn speak(&mut self, text: &str) -> Result<()> {
        let samples = self.voice.synthesize(text, self.speed)?;
        if !samples.is_empty() {
            let start = StreamTime::from_samples(self.position, self.voice.sample_rate());
            self.position += samples.len() as u64;
            self.events
                .push_back(TtsEvent::Audio(AudioChunk::new(start, samples)));
        }
        self.events.push_back(TtsEvent::SentenceEnd {
            text: text.to_string(),
        });
        Ok(())
    }
}

impl TtsSession for StreamingSession {
    fn push_text(&mut self, text: &str) -> Result<()> {
        self.pending.push_str(text);
        // Normalised before it is split, so "Dr. Smith" is not two sentences. (What stays
        // pending is normalised again with the next push; normalising is idempotent.)
        let pending = normalize(&std::mem::take(&mut self.pending), self.lang);
        let (complete, rest) = complete_sentences(&pending);
        let rest = rest.to_string();
        for sentence in complete {
            if let Err(e) = self.speak(sentence) {
                // Nothing is lost: the unspoken text stays pending. (`sentence` is a slice of
                // `pending`, so its address gives its offset.)
                let at = sentence.as_ptr() as usize - pending.as_ptr() as usize;
                self.pending = pending[at..].to_string();
                return Err(e);
            }
        }
        self.pending = rest;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let pending = normalize(&std::mem::take(&mut self.pending), self.lang);
        for sentence in sentences(&pending) {
            self.speak(sentence)?;
        }
        Ok(())
    }

    fn poll_event(&mut self) -> Option<TtsEvent> {
        self.events.pop_front()
    }

    fn reset(&mut self) {
        self.pending.clear();
        self.events.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records what it is asked to say; one sample per character.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl SentenceSynthesizer for Recorder {
        fn sample_rate(&self) -> SampleRate {
            SampleRate::HZ_16000
        }
        fn synthesize(&self, sentence: &str, _speed: f32) -> Result<Vec<f32>> {
            self.0
                .lock()
                .map_err(|_| dragoman_core::Error::Internal("poisoned".into()))?
                .push(sentence.to_string());
            Ok(vec![0.0; sentence.chars().count()])
        }
    }

    /// Fails on sentences containing "fail" while `failing` is set.
    struct Flaky(std::sync::atomic::AtomicBool);

    impl SentenceSynthesizer for Flaky {
        fn sample_rate(&self) -> SampleRate {
            SampleRate::HZ_16000
        }
        fn synthesize(&self, sentence: &str, _speed: f32) -> Result<Vec<f32>> {
            if sentence.contains("fail") && self.0.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(dragoman_core::Error::Model("voice failed".into()));
            }
            Ok(vec![0.0; sentence.len()])
        }
    }

    #[test]
    fn a_failed_sentence_stays_pending() -> Result<()> {
        let voice = Arc::new(Flaky(true.into()));
        let mut session = StreamingSession::new(voice.clone(), Lang::EN, 1.0);
        assert!(session.push_text("One. Then fail. Three. ").is_err());
        voice.0.store(false, std::sync::atomic::Ordering::Relaxed);
        session.finish()?;
        let spoken: Vec<String> = std::iter::from_fn(|| session.poll_event())
            .filter_map(|e| match e {
                TtsEvent::SentenceEnd { text } => Some(text),
                _ => None,
            })
            .collect();
        assert_eq!(spoken, ["One.", "Then fail.", "Three."]);
        Ok(())
    }

    #[test]
    fn speaks_each_sentence_once_it_is_complete() -> Result<()> {
        let voice = Arc::new(Recorder::default());
        let mut session = StreamingSession::new(voice.clone(), Lang::EN, 1.0);
        session.push_text("Hello Dr. Smith. How")?;
        let said = |v: &Recorder| v.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(said(&voice), ["Hello Doctor Smith."]);
        session.push_text(" are you? ")?;
        assert_eq!(said(&voice).len(), 2);
        session.push_text("Fine")?;
        session.finish()?;
        assert_eq!(
            said(&voice),
            ["Hello Doctor Smith.", "How are you?", "Fine"]
        );
        // Audio chunks follow one another in the output stream, each followed by its sentence.
        let mut next = 0;
        let mut ends = 0;
        while let Some(event) = session.poll_event() {
            match event {
                TtsEvent::Audio(chunk) => {
                    assert_eq!(chunk.start.samples(), next);
                    next += chunk.samples.len() as u64;
                }
                TtsEvent::SentenceEnd { .. } => ends += 1,
                _ => {}
            }
        }
        assert_eq!((next, ends), (19 + 12 + 4, 3));
        // Empty text: no audio.
        session.push_text("   ")?;
        session.finish()?;
        assert!(session.poll_event().is_none());
        Ok(())
    }
}
