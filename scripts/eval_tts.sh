#!/usr/bin/env bash
# Speech synthesis, per language and engine (the Piper English voice, espeak-ng): intelligibility (character error rate of our Whisper base
# hearing the speech back, against the text), real-time factor and time to first audio.
# 50 real sentences per language (see eval_tts.py), 2 threads.
#
# Usage: scripts/eval_tts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/eval-tts
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
python3 scripts/eval_tts.py "$work" "$work/sentences.json"
cargo build --quiet --release -p dragoman-server -p dragoman-tts --example eval_tts
target/release/dragoman models pull whisper-base silero-vad piper-en_US-joe-medium >/dev/null
target/release/examples/eval_tts "$DRAGOMAN_HOME/models/whisper-base" \
  "$DRAGOMAN_HOME/models/silero-vad" "$work/sentences.json" \
  "$DRAGOMAN_HOME/models/piper-en_US-joe-medium" en_US-joe-medium.onnx.json
