//! The espeak-ng fallback voice through the streaming session, heard back by our Whisper (base).
//! A SMOKE TEST of the pipeline (text normalisation, streaming, the program call, the audio
//! format): espeak's formant voices are robotic, and the intelligibility figures per language
//! belong to the benchmark, not here.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use common::{hear, listener, speak};
use dragoman_core::engine::{TextToSpeech, TtsOptions};
use dragoman_core::{Error, Lang};
use dragoman_stt::eval::{normalize_words, word_errors};
use dragoman_tts::engine::SpeechEngine;

#[test]
fn espeak_speech_streams_and_is_heard_back() {
    let engine = SpeechEngine::new().expect("espeak-ng is needed: apt-get install espeak-ng");
    let (whisper, vad) = listener();

    let mut session = engine.new_session(&TtsOptions::new(Lang::EN)).unwrap();
    let pieces = [
        "Dr. Smith arrived on 2026-11-24. All human beings are ",
        "born free and equal in dignity and rights.",
    ];
    let (audio, rate, early) = speak(session.as_mut(), &pieces);
    // The first sentence was spoken before the text was finished.
    assert!(early >= 1, "no audio before finish");
    let transcript = hear(&whisper, &vad, &audio, rate);
    let said = "Doctor Smith arrived on November 24 2026. All human beings are born free and \
                equal in dignity and rights.";
    let (errors, words) = word_errors(&normalize_words(said), &normalize_words(&transcript.text));
    let wer = errors as f64 / words as f64;
    eprintln!(
        "en: WER {:.0}% ({errors}/{words}) | {}",
        100.0 * wer,
        transcript.text
    );
    assert_eq!(transcript.language, Lang::EN);
    assert!(wer <= 0.35, "WER {wer}");

    // Faster speech is shorter; Vietnamese is spoken by its own voice and heard as Vietnamese.
    let mut fast = TtsOptions::new(Lang::EN);
    fast.speed = 2.0;
    let (quick, _, _) = speak(engine.new_session(&fast).unwrap().as_mut(), &pieces);
    assert!((quick.len() as f64) < 0.7 * audio.len() as f64);
    let text = "Tất cả mọi người sinh ra đều được tự do và bình đẳng về nhân phẩm và quyền.";
    let (vi, rate, _) = speak(
        engine
            .new_session(&TtsOptions::new(Lang::VI))
            .unwrap()
            .as_mut(),
        &[text],
    );
    let transcript = hear(&whisper, &vad, &vi, rate);
    eprintln!("vi: {}", transcript.text);
    assert_eq!(transcript.language, Lang::VI);
}

#[test]
fn bad_requests_get_clear_errors_and_empty_text_no_audio() {
    let engine = SpeechEngine::new().expect("espeak-ng is needed: apt-get install espeak-ng");
    let voices = engine.voices();
    for lang in [Lang::EN, Lang::VI, Lang::DE, Lang::ES, Lang::FR] {
        assert!(
            voices
                .iter()
                .any(|v| v.lang == lang && v.engine == "espeak-ng"),
            "{lang:?}"
        );
    }
    let mut options = TtsOptions::new(Lang::VI);
    options.voice = Some("piper-nope".into());
    let err = engine.new_session(&options).err().unwrap().to_string();
    assert!(
        err.contains("piper-nope") && err.contains("espeak-ng-vi"),
        "{err}"
    );
    let mut options = TtsOptions::new(Lang::EN);
    options.speed = 0.0;
    assert!(matches!(
        engine.new_session(&options),
        Err(Error::Misuse(_))
    ));

    let (audio, _, _) = speak(
        engine
            .new_session(&TtsOptions::new(Lang::DE))
            .unwrap()
            .as_mut(),
        &["", "  "],
    );
    assert!(audio.is_empty());
}
