"""The Python bindings end to end, on real models and a real recording."""

import json
import math
import time

import pytest

import dragoman
from conftest import JFK_TEXT, wer

# 20 ms at 16 kHz: how a microphone or a call delivers audio.
PACKET = 320


def speak_into(session, pcm) -> None:
    """Pushes `pcm` (16 kHz) into a caption session or pipeline in 20 ms packets, then ends it."""
    for i in range(0, len(pcm), PACKET):
        session.push_pcm(pcm[i : i + PACKET], 16000)
    session.finish()


def events_of(session, timeout_ms: int) -> list:
    """Every event of a finished caption session or pipeline, read until it is done."""
    events = []
    while not session.is_done():
        event = session.next_event(timeout_ms)
        if event is not None:
            events.append(event)
    return events


def rms(samples) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


def test_the_catalog_lists_every_model_with_its_licence(store):
    models = {m.id: m for m in store.list()}
    assert models["whisper-base"].task == "speech-to-text"
    assert models["whisper-base"].pulled and models["whisper-base"].default
    assert models["silero-vad"].licence
    assert any(m.task == "translation" for m in models.values())


def test_a_pull_reports_its_progress_and_a_second_pull_fetches_nothing(tmp_path):
    class Progress(dragoman.PullListener):
        def __init__(self):
            self.events = []

        def on_progress(self, progress):
            self.events.append(progress)

    store = dragoman.ModelStore(str(tmp_path))
    progress = Progress()
    assert store.pull("silero-vad", progress) is True
    stages = {e.stage for e in progress.events}
    assert "download" in stages, stages
    assert all(e.model == "silero-vad" for e in progress.events)
    assert [m.pulled for m in store.list() if m.id == "silero-vad"] == [True]
    assert store.pull("silero-vad") is False


def test_a_model_missing_from_the_store_is_a_model_error_that_says_how_to_pull_it(tmp_path):
    with pytest.raises(dragoman.DragomanError.Model) as error:
        dragoman.Transcriber(dragoman.ModelStore(str(tmp_path)))
    assert "pull whisper-base" in str(error.value)


def test_a_recording_is_transcribed_with_times_and_subtitles(store, jfk_path):
    transcript = dragoman.Transcriber(store).transcribe_file(str(jfk_path), dragoman.TranscribeOptions())
    assert wer(JFK_TEXT, transcript.text()) <= 0.1, transcript.text()
    assert transcript.language() == "en"
    segments = transcript.segments()
    assert segments and all(0 <= s.start < s.end <= 11.1 for s in segments)
    assert "-->" in transcript.to_srt() and transcript.to_vtt().startswith("WEBVTT")
    assert json.loads(transcript.to_json())["language"] == "en"


def test_an_unreadable_file_is_an_audio_error(store, tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(dragoman.DragomanError.Audio):
        dragoman.Transcriber(store).transcribe_file(str(bad), dragoman.TranscribeOptions())


def test_live_captions_of_pushed_audio_come_as_partials_then_finals(store, jfk_pcm):
    session = dragoman.LiveCaptioner(store).session("en")
    speak_into(session, jfk_pcm)
    events = events_of(session, 30_000)
    partials = [e for e in events if e.is_PARTIAL()]
    finals = [e for e in events if e.is_FINAL()]
    assert partials, events
    assert all(p.text == p.stable + p.unstable for p in partials)
    assert finals and all(f.language == "en" for f in finals)
    assert wer(JFK_TEXT, " ".join(f.text for f in finals)) <= 0.15, finals
    assert [f.start for f in finals] == sorted(f.start for f in finals)
    with pytest.raises(dragoman.DragomanError.InvalidArgument):
        session.push_pcm([0.0] * PACKET, 16000)


def test_a_listener_hears_the_captions_as_they_come(store, jfk_pcm):
    class Captions(dragoman.CaptionListener):
        def __init__(self):
            self.events, self.errors = [], []

        def on_caption(self, event):
            self.events.append(event)

        def on_error(self, message):
            self.errors.append(message)

    listener = Captions()
    session = dragoman.LiveCaptioner(store).session("en", listener)
    speak_into(session, jfk_pcm)
    deadline = time.monotonic() + 120
    while not session.is_done() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.is_done() and not listener.errors
    assert session.next_event(0) is None
    finals = [e.text for e in listener.events if e.is_FINAL()]
    assert wer(JFK_TEXT, " ".join(finals)) <= 0.15, finals


def test_a_session_keeps_one_sample_rate(store):
    session = dragoman.LiveCaptioner(store).session()
    session.push_pcm([0.0] * 480, 48000)
    with pytest.raises(dragoman.DragomanError.InvalidArgument):
        session.push_pcm([0.0] * 160, 16000)


def test_text_is_translated_alone_and_in_context(store):
    translator = dragoman.Translator(store, "en", "de")
    assert translator.supports("en", "de")
    german = translator.translate("Good morning. Thank you very much for your help.", "en", "de")
    assert "Morgen" in german and "Dank" in german, german
    lines = translator.translate_lines(["My sister lives in Berlin.", "She works there as a doctor."], "en", "de")
    assert len(lines) == 2 and "Schwester" in lines[0] and "Sie" in lines[1], lines
    with pytest.raises(dragoman.DragomanError.Language):
        translator.translate("Hello.", "en", "xx-unknown")


def test_speech_comes_sentence_by_sentence_and_is_heard_back(store):
    clips = dragoman.Voice(store).speak("Good morning. The train leaves at nine.", "en")
    assert len(clips) == 2, [c.text for c in clips]
    transcriber = dragoman.Transcriber(store)
    for clip in clips:
        seconds = len(clip.samples) / clip.sample_rate
        assert 0.3 < seconds < 6 and rms(clip.samples) > 0.01
        heard = transcriber.transcribe_pcm(clip.samples, clip.sample_rate, dragoman.TranscribeOptions(language="en"))
        assert wer(clip.text, heard.text()) <= 0.34, (clip.text, heard.text())


def test_a_pipeline_captions_translates_and_speaks_a_speaker(store, jfk_pcm):
    pipeline = dragoman.Pipeline(
        dragoman.LiveCaptioner(store),
        dragoman.Translator.live(store),
        dragoman.Voice(store),
        dragoman.PipelineOptions(spoken="en", captions=["de"], speech=["de"]),
    )
    speak_into(pipeline, jfk_pcm)
    events = events_of(pipeline, 60_000)
    errors = [e for e in events if e.is_ERROR()]
    assert not errors, errors
    captions = [e for e in events if e.is_CAPTION() and e.is_final]
    originals = [c for c in captions if c.language == "en"]
    german = [c for c in captions if c.language == "de"]
    assert wer(JFK_TEXT, " ".join(c.text for c in originals)) <= 0.15, originals
    assert {c.caption_id for c in german} == {c.caption_id for c in originals}
    speech = [e for e in events if e.is_SPEECH()]
    assert speech and all(s.language == "de" for s in speech)
    assert sum(len(s.samples) / s.sample_rate for s in speech) > 1.0
    assert any(e.is_SPEECH_END() for e in events)
