//! The translation engine on real model code with RANDOM WEIGHTS (the faithfulness tests'
//! Marian and M2M100 checkpoints): what is checked is the plumbing — loading a checkpoint
//! directory, routing, pivoting through English, splitting long input, caption revisions,
//! errors — not the (meaningless) text the random models produce.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;

use candle_core::Device;
use dragoman_core::engine::{CaptionText, TranslationOptions, Translator};
use dragoman_core::{Error, Lang, ModelSource, SampleRate, StreamTime};
use dragoman_translate::engine::{Context, SentenceTranslator, TranslationEngine};
use dragoman_translate::seq2seq::Seq2SeqTranslator;

fn marian(pair: (Lang, Lang)) -> Seq2SeqTranslator {
    let dir = common::seq2seq_reference("marian").join("model");
    let mut model = Seq2SeqTranslator::load(
        &ModelSource::dir(dir),
        "random-marian",
        Some(pair),
        &Device::Cpu,
    )
    .unwrap();
    model.set_beams(2);
    model
}

fn m2m100() -> Seq2SeqTranslator {
    let dir = common::seq2seq_reference("m2m100").join("model");
    Seq2SeqTranslator::load(&ModelSource::dir(dir), "random-m2m100", None, &Device::Cpu).unwrap()
}

#[test]
fn pivots_through_english_when_no_model_has_the_pair() {
    let vi_en = Arc::new(marian((Lang::VI, Lang::EN)));
    let en_de = Arc::new(marian((Lang::EN, Lang::DE)));
    let engine = TranslationEngine::new(vec![vi_en.clone(), en_de.clone()]);
    assert!(engine.supports(Lang::VI, Lang::DE));
    assert!(!engine.supports(Lang::DE, Lang::VI));

    let text = "Tôi không biết. Bạn có khỏe không?";
    let pivoted = engine.translate(&[text], Lang::VI, Lang::DE).unwrap();
    // The same as running the two hops by hand, sentence by sentence.
    let english = vi_en
        .translate_sentences(
            &["Tôi không biết.", "Bạn có khỏe không?"],
            Lang::VI,
            Lang::EN,
            &Context::default(),
        )
        .unwrap();
    let refs: Vec<&str> = english.iter().map(String::as_str).collect();
    let german = en_de
        .translate_sentences(&refs, Lang::EN, Lang::DE, &Context::default())
        .unwrap();
    let joined: Vec<&str> = german
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(pivoted, [joined.join(" ")]);

    // No route at all: the error lists what the loaded models translate.
    let err = engine
        .translate(&["Hallo"], Lang::DE, Lang::VI)
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, Error::UnsupportedLanguagePair { .. }),
        "{message}"
    );
    assert!(
        message.contains("vi->en") && message.contains("en->de"),
        "{message}"
    );
}

#[test]
fn empty_and_long_input() {
    let m2m = TranslationEngine::new(vec![Arc::new(m2m100())]);
    assert_eq!(
        m2m.translate(&["", "   "], Lang::EN, Lang::ES).unwrap(),
        ["", ""]
    );
    // Any pair of M2M100's hundred languages works, in both directions.
    assert!(m2m.supports(Lang::VI, Lang::DE) && m2m.supports(Lang::FR, Lang::VI));

    // Over the 510 source tokens the Marian model's positions allow: split, never truncated
    // and never an error.
    let mut model = marian((Lang::EN, Lang::ES));
    model.set_beams(1);
    let long = "house ".repeat(700);
    assert!(model.count_tokens(&long, Lang::EN).unwrap() > model.max_sentence_tokens());
    let engine = TranslationEngine::new(vec![Arc::new(model)]);
    let out = engine
        .translate(&[long.as_str(), "Short one."], Lang::EN, Lang::ES)
        .unwrap();
    assert_eq!(out.len(), 2);
}

/// Caption 7 saying `text`, of which `stable` bytes are committed.
fn caption(text: &str, stable: usize, is_final: bool) -> CaptionText {
    CaptionText {
        caption_id: 7,
        text: text.to_string(),
        stable_prefix_len: stable,
        expected_final_len: None,
        is_final,
        start: StreamTime::zero(SampleRate::HZ_16000),
    }
}

#[test]
fn an_expected_final_is_translated_ahead_and_its_final_reuses_it() {
    let engine = TranslationEngine::new(vec![Arc::new(m2m100())]);
    let mut session = engine
        .new_session(&TranslationOptions::new(Lang::EN, Lang::VI))
        .unwrap();
    let sentence = "We went home.";
    let mut partial = caption("We went home. And then", 3, false);
    partial.expected_final_len = Some(sentence.len());
    assert!(!session.translated_already(&partial));
    session.push_text(&partial).unwrap();
    let ahead = session.poll_event().unwrap();
    assert_eq!((ahead.revision, ahead.is_final), (0, false));
    // The same expectation again: known, nothing to do.
    assert!(session.translated_already(&partial));
    session.push_text(&partial).unwrap();
    assert!(session.poll_event().is_none());
    // The final says what was expected: its translation is the one made ahead.
    let last = caption(sentence, sentence.len(), true);
    assert!(session.translated_already(&last));
    session.push_text(&last).unwrap();
    let done = session.poll_event().unwrap();
    assert_eq!((done.revision, done.is_final), (1, true));
    assert_eq!(done.text, ahead.text);
    // A final that says something else is translated anew.
    partial.caption_id = 8;
    session.push_text(&partial).unwrap();
    assert!(session.poll_event().is_some());
    let mut other = caption("We went out.", 12, true);
    other.caption_id = 8;
    assert!(!session.translated_already(&other));
    session.push_text(&other).unwrap();
    assert!(session.poll_event().unwrap().is_final);
}

#[test]
fn caption_revisions_follow_committed_words() {
    let engine = TranslationEngine::new(vec![Arc::new(m2m100())]);
    // Every committed word re-translates here (min_new_words 1); the default debounce is
    // checked below.
    let mut options = TranslationOptions::new(Lang::EN, Lang::VI);
    options.min_new_words = 1;
    options.min_partial_words = 1;
    let mut session = engine.new_session(&options).unwrap();
    // Nothing committed yet: nothing to translate.
    session.push_text(&caption("I think", 0, false)).unwrap();
    assert!(session.poll_event().is_none());
    // "I think " committed: one partial translation, revision 0.
    session
        .push_text(&caption("I think we sh", 8, false))
        .unwrap();
    let first = session.poll_event().unwrap();
    assert_eq!(
        (first.caption_id, first.revision, first.is_final),
        (7, 0, false)
    );
    // The unstable tail changed but the committed words did not: no work, no event.
    session
        .push_text(&caption("I think we should", 8, false))
        .unwrap();
    assert!(session.poll_event().is_none());
    // A half-committed word is not translated until it is whole.
    session
        .push_text(&caption("I think we should go", 9, false))
        .unwrap();
    assert!(session.poll_event().is_none());
    session
        .push_text(&caption("I think we should go", 17, false))
        .unwrap();
    assert_eq!(session.poll_event().unwrap().revision, 1);
    // The final always comes, with the next revision.
    let text = "I think we should go.";
    session.push_text(&caption(text, text.len(), true)).unwrap();
    let last = session.poll_event().unwrap();
    assert_eq!(
        (last.revision, last.is_final, last.lang),
        (2, true, Lang::VI)
    );
    // By default a partial is translated once it holds eight committed words...
    let mut session = engine
        .new_session(&TranslationOptions::new(Lang::EN, Lang::VI))
        .unwrap();
    let partial = |text: &str| caption(text, text.len(), false);
    session.push_text(&partial("We went home, ")).unwrap();
    assert!(session.poll_event().is_none());
    session
        .push_text(&partial("Then at noon we all went home "))
        .unwrap();
    assert!(session.poll_event().is_none());
    session
        .push_text(&partial("Then at noon we all went home, "))
        .unwrap();
    assert!(session.poll_event().is_none());
    session
        .push_text(&partial("Then at noon we all went home and "))
        .unwrap();
    assert_eq!(session.poll_event().unwrap().revision, 0);
    let mut options = TranslationOptions::new(Lang::EN, Lang::VI);
    options.min_partial_words = 1;
    let mut session = engine.new_session(&options).unwrap();
    // ... and then waits for three more committed words, or the end of a clause.
    session.push_text(&partial("We went ")).unwrap();
    assert!(session.poll_event().is_none());
    session.push_text(&partial("We went home, ")).unwrap();
    assert_eq!(session.poll_event().unwrap().revision, 0);
    session
        .push_text(&partial("We went home, and then "))
        .unwrap();
    assert!(session.poll_event().is_none());
    session
        .push_text(&partial("We went home, and then we slept "))
        .unwrap();
    assert_eq!(session.poll_event().unwrap().revision, 1);
    // A stable length inside a character is refused, not a panic.
    let err = session.push_text(&caption("Tôi", 2, false)).unwrap_err();
    assert!(matches!(err, Error::Misuse(_)), "{err}");
}
