//! One speaker's pipeline with the real engines, no network: real English recordings as Opus
//! packets in; original captions, German captions and German speech out.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{decode_packets, engines, hear, opus_packets, recording, word_error_rate};
use dragoman_core::engine::{
    CaptionText, SpeechToText, SttEvent, SttOptions, SttSession, TranslationEvent,
    TranslationOptions, TranslationSession, Translator,
};
use dragoman_core::pipeline::{PipelineSession, SessionEvent, SessionOptions};
use dragoman_core::{AudioChunk, Lang, SampleRate, StreamTime};
use dragoman_rtc::pipeline::{
    Engines, PipelineEvent, PipelineInput, PipelineOptions, Targets, TrackCaption, TrackPipeline,
};
use dragoman_stt::eval::{char_errors, normalize_words};

/// Runs the pipeline over `packets` (a large queue: the test feeds faster than real time) and
/// returns its events.
fn run(packets: Vec<dragoman_rtc::pipeline::OpusPacket>, targets: Targets) -> Vec<PipelineEvent> {
    run_on(&engines(), packets, targets)
}

/// An English speaker's pipeline with an audio queue of `audio_queue` packets, and where its
/// events go.
fn start(
    engines: &Engines,
    audio_queue: usize,
    targets: Targets,
) -> (TrackPipeline, PipelineInput, Arc<Mutex<Vec<PipelineEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = events.clone();
        Arc::new(move |e| events.lock().unwrap().push(e))
    };
    let mut options = PipelineOptions::default();
    options.session.spoken = Some(Lang::EN);
    options.audio_queue = audio_queue;
    let (pipeline, input) = TrackPipeline::start("test", engines, options, targets, sink).unwrap();
    (pipeline, input, events)
}

/// [`run`] on `engines`.
fn run_on(
    engines: &Engines,
    packets: Vec<dragoman_rtc::pipeline::OpusPacket>,
    targets: Targets,
) -> Vec<PipelineEvent> {
    let (pipeline, input, events) = start(engines, 100_000, targets);
    for packet in packets {
        input.push(packet);
    }
    drop(input);
    assert_eq!(pipeline.dropped(), 0);
    pipeline.finish();
    Arc::try_unwrap(events).unwrap().into_inner().unwrap()
}

/// Fails the test with the pipeline's error events, if there are any.
fn assert_no_errors(events: &[PipelineEvent]) {
    let errors: Vec<&PipelineEvent> = events
        .iter()
        .filter(|e| matches!(e, PipelineEvent::Error { .. }))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

fn finals(events: &[PipelineEvent], lang: Lang) -> Vec<TrackCaption> {
    events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::Caption(c) if c.is_final && c.lang == Some(lang) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn captions_translations_and_speech_come_out_of_opus_packets() {
    let (audio, references, _) = recording(2, 0.8);
    let targets = Targets {
        captions: [Lang::EN, Lang::DE].into(),
        speech: [Lang::DE].into(),
    };
    let events = run(opus_packets(&audio, 65_500), targets);
    assert_no_errors(&events);

    // What was said: as good as Whisper base offline on these clips (the stt tests hold it to
    // the same bound).
    let original = finals(&events, Lang::EN);
    let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
    let (wrong, words) = word_error_rate(&references, &heard, "original");
    assert!(wrong * 10 <= words, "WER {wrong}/{words}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::Caption(c) if !c.is_final)),
        "partial captions come before the finals"
    );

    // Every final is translated (the reachable model is weak: the test checks that a
    // translation comes, not its quality).
    let german = finals(&events, Lang::DE);
    assert_eq!(german.len(), original.len());
    for (de, en) in german.iter().zip(&original) {
        assert_eq!(de.caption_id, en.caption_id);
        assert!(
            !de.text.trim().is_empty(),
            "empty translation of {:?}",
            en.text
        );
        eprintln!("  [{}] {} -> {}", en.caption_id, en.text, de.text);
    }

    // The German speech says the German captions (espeak-ng's German, heard by Whisper base).
    let speech: Vec<Vec<u8>> = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::Speech { lang, packet, .. } if *lang == Lang::DE => Some(packet.clone()),
            _ => None,
        })
        .collect();
    assert!(!speech.is_empty());
    let spoken = hear(&decode_packets(&speech), Lang::DE);
    let said: Vec<&str> = german.iter().map(|c| c.text.as_str()).collect();
    let (wrong, chars) = char_errors(&normalize_words(&said.join(" ")), &normalize_words(&spoken));
    eprintln!("german speech: CER {wrong}/{chars} | {spoken}");
    assert!(wrong * 2 <= chars, "CER {wrong}/{chars}");
}

/// The same stages driven by core's session in one thread, as an app, a binding or an example
/// drives them (no Opus, no threads): 20 ms chunks of the recordings in; every final
/// captioned, translated and spoken, the speech of each final closed by its end.
#[test]
fn the_session_alone_captions_translates_and_speaks() {
    let (audio, references, _) = recording(2, 0.8);
    let targets = Targets {
        captions: [Lang::EN, Lang::DE].into(),
        speech: [Lang::DE].into(),
    };
    let mut options = SessionOptions::default();
    options.spoken = Some(Lang::EN);
    let mut session = PipelineSession::new(&engines(), &options, targets).unwrap();
    let rate = SampleRate::new(48_000).unwrap();
    let mut events = Vec::new();
    for (i, samples) in audio.chunks(960).enumerate() {
        let start = StreamTime::from_samples(i as u64 * 960, rate);
        session.push_audio(&AudioChunk::new(start, samples.to_vec()));
        events.extend(std::iter::from_fn(|| session.poll_event()));
    }
    session.finish();
    events.extend(std::iter::from_fn(|| session.poll_event()));

    let errors: Vec<&SessionEvent> = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Error { .. }))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let finals = |lang: Lang| -> Vec<TrackCaption> {
        events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Caption(c) if c.is_final && c.lang == Some(lang) => Some(c.clone()),
                _ => None,
            })
            .collect()
    };
    let original = finals(Lang::EN);
    let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
    let (wrong, words) = word_error_rate(&references, &heard, "session");
    assert!(wrong * 10 <= words, "WER {wrong}/{words}");
    let german = finals(Lang::DE);
    assert_eq!(german.len(), original.len());
    assert!(
        german.iter().all(|c| !c.text.trim().is_empty()),
        "{german:?}"
    );

    // One end per spoken final, and the speech says the German captions.
    let ends = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::SpeechEnd { lang } if *lang == Lang::DE))
        .count();
    assert_eq!(ends, german.len());
    let mut speech = Vec::new();
    for event in &events {
        if let SessionEvent::Speech { lang, audio } = event {
            assert_eq!(*lang, Lang::DE);
            speech.extend(
                dragoman_core::resample::resample(&audio.samples, audio.rate(), rate).unwrap(),
            );
        }
    }
    let spoken = hear(&speech, Lang::DE);
    let said: Vec<&str> = german.iter().map(|c| c.text.as_str()).collect();
    let (wrong, chars) = char_errors(&normalize_words(&said.join(" ")), &normalize_words(&spoken));
    eprintln!("german speech: CER {wrong}/{chars} | {spoken}");
    assert!(wrong * 2 <= chars, "CER {wrong}/{chars}");
}

/// A stronger model refines the finals: Qwen2.5-Coder 0.5B Instruct here, after Gemma 3 270M.
/// Each refined German caption comes after its caption's first final, one revision later, with
/// other words; nothing fails.
#[test]
fn finals_are_refined_by_the_stronger_model() {
    let mut engines = engines();
    engines.refiner = Some(common::refiner());
    let (audio, _, _) = recording(2, 0.8);
    let targets = Targets {
        captions: [Lang::EN, Lang::DE].into(),
        speech: Default::default(),
    };
    let events = run_on(&engines, opus_packets(&audio, 65_500), targets);
    assert_no_errors(&events);
    let german = finals(&events, Lang::DE);
    let refined: Vec<&TrackCaption> = german.iter().filter(|c| c.refined).collect();
    assert!(!refined.is_empty(), "{german:?}");
    for r in refined {
        let first = german
            .iter()
            .position(|c| !c.refined && c.caption_id == r.caption_id)
            .expect("the first final comes before its refinement");
        let at = german.iter().position(|c| c == r).unwrap();
        assert!(first < at);
        assert_eq!(r.revision, german[first].revision + 1);
        assert_ne!(r.text, german[first].text);
        eprintln!("  [{}] {} => {}", r.caption_id, german[first].text, r.text);
    }
}

#[test]
fn lost_packets_are_concealed_and_captions_still_come() {
    let (audio, references, _) = recording(1, 0.8);
    let mut packets = opus_packets(&audio, 0);
    // 5% loss, spread out.
    packets.retain(|p| p.sequence % 20 != 7);
    let targets = Targets {
        captions: [Lang::EN].into(),
        speech: Default::default(),
    };
    let events = run(packets, targets);
    let original = finals(&events, Lang::EN);
    let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
    let (wrong, words) = word_error_rate(&references, &heard, "5% loss");
    assert!(wrong * 5 <= words, "WER {wrong}/{words}");
    // The media timeline kept its length: the last final ends near the recording's end.
    let end = original.last().unwrap().end.unwrap().as_secs_f64();
    let length = audio.len() as f64 / 48_000.0;
    assert!(
        end <= length + 0.1 && end > length - 2.0,
        "ends at {end} of {length}"
    );
}

/// A queue too short for a recording pushed all at once sheds most of it, says so, and the
/// captions that come keep the speaker's timeline: the time of the shed packets passed.
#[test]
fn shed_audio_is_reported_and_keeps_the_timeline() {
    let (audio, _, _) = recording(3, 0.8);
    let length = audio.len() as f64 / 48_000.0;
    let packets = opus_packets(&audio, 0);
    let targets = Targets {
        captions: [Lang::EN].into(),
        speech: Default::default(),
    };
    // The last 3 s of the recording fit.
    let (pipeline, input, events) = start(&engines(), 150, targets);
    for packet in packets {
        input.push(packet);
    }
    drop(input);
    let dropped = pipeline.dropped();
    pipeline.finish();
    let events = events.lock().unwrap();
    assert_no_errors(&events);
    let reported: u64 = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::AudioShed { packets } => Some(*packets),
            _ => None,
        })
        .sum();
    assert!(
        dropped > 100,
        "{dropped} packets shed of {}",
        audio.len() / 960
    );
    assert_eq!(reported, dropped, "every shed packet is reported");
    let original = finals(&events, Lang::EN);
    let end = original.last().expect("a final").end.unwrap().as_secs_f64();
    assert!(
        end <= length + 0.1 && end > length - 3.0,
        "the last final ends at {end} s of {length:.1} s: {original:#?}"
    );
}

/// Two speakers talking at once without pauses, fed far faster than the CPU can follow (every
/// packet queued at once, as after a stall): each pipeline takes what queued in one push and
/// decodes once for it, so partial decodes are skipped, while every final still comes,
/// complete and in order.
#[test]
fn two_speakers_faster_than_real_time_lose_no_final() {
    let (audio, references, _) = recording(5, 0.0);
    let seconds = audio.len() as f64 / 48_000.0;
    let packets = opus_packets(&audio, 0);
    let targets = Targets {
        captions: [Lang::EN].into(),
        speech: Default::default(),
    };
    let mut options = PipelineOptions::default();
    options.session.spoken = Some(Lang::EN);
    options.audio_queue = packets.len();
    let events: Vec<Arc<Mutex<Vec<PipelineEvent>>>> =
        (0..2).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let (pipelines, inputs): (Vec<TrackPipeline>, Vec<PipelineInput>) = events
        .iter()
        .enumerate()
        .map(|(i, events)| {
            let events = events.clone();
            let sink = Arc::new(move |e| events.lock().unwrap().push(e));
            TrackPipeline::start(
                &format!("speaker{i}"),
                &engines(),
                options.clone(),
                targets.clone(),
                sink,
            )
            .unwrap()
        })
        .unzip();
    for packet in &packets {
        for input in &inputs {
            input.push(packet.clone());
        }
    }
    drop(inputs);
    for pipeline in pipelines {
        assert_eq!(pipeline.dropped(), 0);
        pipeline.finish();
    }
    for events in events {
        let events = events.lock().unwrap();
        let original = finals(&events, Lang::EN);
        let heard: Vec<&str> = original.iter().map(|c| c.text.as_str()).collect();
        let (wrong, words) = word_error_rate(&references, &heard, "two speakers at once");
        assert!(wrong * 10 <= words, "WER {wrong}/{words}");
        assert!(
            original
                .windows(2)
                .all(|w| w[0].caption_id < w[1].caption_id
                    && w[0].start.samples() <= w[1].start.samples()),
            "finals in order: {original:#?}"
        );
        let partials = events
            .iter()
            .filter(|e| matches!(e, PipelineEvent::Caption(c) if !c.is_final))
            .count();
        // Paced in real time, a partial would come every second of speech.
        assert!(
            (partials as f64) < seconds / 2.0,
            "{partials} partials for {seconds:.0} s: partial work was not skipped"
        );
    }
}

/// The real speech-to-text, whose first session panics at the push that carries the audio
/// past `at` seconds: a bug in an engine, injected.
struct SttPanicsOnce {
    inner: Arc<dyn SpeechToText>,
    at: f64,
    fired: Arc<AtomicBool>,
}

impl SpeechToText for SttPanicsOnce {
    fn languages(&self) -> Vec<Lang> {
        self.inner.languages()
    }

    fn new_session(&self, options: &SttOptions) -> dragoman_core::Result<Box<dyn SttSession>> {
        Ok(Box::new(SttSessionPanicsOnce {
            inner: self.inner.new_session(options)?,
            at: self.at,
            fired: self.fired.clone(),
        }))
    }
}

struct SttSessionPanicsOnce {
    inner: Box<dyn SttSession>,
    at: f64,
    fired: Arc<AtomicBool>,
}

impl SttSession for SttSessionPanicsOnce {
    fn push_audio(&mut self, chunk: &AudioChunk) -> dragoman_core::Result<()> {
        if chunk.end().as_secs_f64() >= self.at && !self.fired.swap(true, Ordering::SeqCst) {
            panic!("injected: speech-to-text at {:.1} s", self.at);
        }
        self.inner.push_audio(chunk)
    }

    fn finish(&mut self) -> dragoman_core::Result<()> {
        self.inner.finish()
    }

    fn poll_event(&mut self) -> Option<SttEvent> {
        self.inner.poll_event()
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}

/// The real translator, whose sessions panic on the first final caption any of them is given.
struct TranslatorPanicsOnce {
    inner: Arc<dyn Translator>,
    fired: Arc<AtomicBool>,
}

impl Translator for TranslatorPanicsOnce {
    fn supports(&self, from: Lang, to: Lang) -> bool {
        self.inner.supports(from, to)
    }

    fn translate(
        &self,
        texts: &[&str],
        from: Lang,
        to: Lang,
    ) -> dragoman_core::Result<Vec<String>> {
        self.inner.translate(texts, from, to)
    }

    fn new_session(
        &self,
        options: &TranslationOptions,
    ) -> dragoman_core::Result<Box<dyn TranslationSession>> {
        Ok(Box::new(TranslationPanicsOnce {
            inner: self.inner.new_session(options)?,
            fired: self.fired.clone(),
        }))
    }
}

struct TranslationPanicsOnce {
    inner: Box<dyn TranslationSession>,
    fired: Arc<AtomicBool>,
}

impl TranslationSession for TranslationPanicsOnce {
    fn push_text(&mut self, caption: &CaptionText) -> dragoman_core::Result<()> {
        if caption.is_final && !self.fired.swap(true, Ordering::SeqCst) {
            panic!("injected: translating caption {}", caption.caption_id);
        }
        self.inner.push_text(caption)
    }

    fn finish(&mut self) -> dragoman_core::Result<()> {
        self.inner.finish()
    }

    fn poll_event(&mut self) -> Option<TranslationEvent> {
        self.inner.poll_event()
    }

    fn reset(&mut self) {
        self.inner.reset();
    }

    fn translated_already(&self, caption: &CaptionText) -> bool {
        self.inner.translated_already(caption)
    }
}

/// A panic in an engine session stops neither the pipeline nor its stage: it is reported,
/// the stage starts a new session, and the captions, translations and speech of what follows
/// come as before. The utterance the speech-to-text session was in ends with what was heard
/// of it, and caption ids go on from there.
#[test]
fn an_engine_that_panics_is_restarted_and_the_call_goes_on() {
    let (audio, _, ends) = recording(3, 0.8);
    // Halfway through the second clip.
    let at = (ends[0] + ends[1]) / 2.0;
    let real = engines();
    let engines = Engines {
        stt: Arc::new(SttPanicsOnce {
            inner: real.stt.clone(),
            at,
            fired: Arc::default(),
        }),
        translator: Arc::new(TranslatorPanicsOnce {
            inner: real.translator.clone(),
            fired: Arc::default(),
        }),
        ..real
    };
    let targets = Targets {
        captions: [Lang::EN, Lang::DE].into(),
        speech: [Lang::DE].into(),
    };
    let events = run_on(&engines, opus_packets(&audio, 9), targets);

    let errors: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            PipelineEvent::Error { stage, message } => Some((*stage, message.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for stage in ["stt", "translate"] {
        assert!(
            errors
                .iter()
                .any(|(s, m)| *s == stage && m.contains("injected") && m.contains("restarted")),
            "{stage} panic reported: {errors:?}"
        );
    }

    // Captions go on past the panic, numbered on from before it.
    let original = finals(&events, Lang::EN);
    for c in &original {
        eprintln!(
            "  [{}] {:.1} s: {}",
            c.caption_id,
            c.start.as_secs_f64(),
            c.text
        );
    }
    assert!(
        original
            .windows(2)
            .all(|w| w[0].caption_id < w[1].caption_id),
        "caption ids go on: {original:#?}"
    );
    let after: Vec<&TrackCaption> = original
        .iter()
        .filter(|c| c.start.as_secs_f64() > ends[1])
        .collect();
    assert!(
        !after.is_empty(),
        "the third clip is captioned: {original:#?}"
    );

    // Every final but the one whose translation panicked is translated, the last ones spoken.
    let german = finals(&events, Lang::DE);
    assert_eq!(german.len() + 1, original.len(), "{german:#?}");
    let last = original.last().map(|c| c.caption_id);
    assert_eq!(german.last().map(|c| c.caption_id), last);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PipelineEvent::Speech { lang, .. } if *lang == Lang::DE)),
        "translated speech still comes"
    );
}
