"""Runs faster-whisper on audio files for the speech-to-text benchmark (scripts/bench_stt.sh).

Same weights as dragoman (the faster-whisper CTranslate2 files the model store fetches), same
decoding settings as dragoman's file transcription: English, greedy (beam 1), the default
temperature fallback, Silero VAD on, condition on previous text. Prints JSON with each file's
text, the transcription wall time (model load and a warm-up excluded) and the peak RSS.

Usage: python3 faster_whisper_run.py MODEL_DIR COMPUTE_TYPE THREADS FILE.wav ...
"""
import json
import os
import resource
import sys
import time

from faster_whisper import WhisperModel, decode_audio

model_dir, compute_type, threads, *files = sys.argv[1:]
model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=int(threads))
audio = {os.path.splitext(os.path.basename(f))[0]: decode_audio(f) for f in files}


def run(samples):
    segments, _ = model.transcribe(samples, language="en", beam_size=1, vad_filter=True)
    return " ".join(s.text.strip() for s in segments)


run(next(iter(audio.values())))  # warm-up
start = time.perf_counter()
texts = {name: run(samples) for name, samples in audio.items()}
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
json.dump({"texts": texts, "seconds": seconds, "peak_mb": peak_mb}, sys.stdout)
