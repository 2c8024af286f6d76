#!/usr/bin/env bash
# Live captions on continuous speech beside file transcription of the same recording, in one
# run (see stt/examples/stream_latency.rs): the LibriVox recordings (pocketsphinx 5.1.1 sdist)
# and the Asterisk English prompts (scripts/asterisk_clips.sh) trimmed and played back to back
# without pauses; WER, compute against `transcribe_speech`, backlog, finals and their latency
# for f32 and 8-bit weights, the full 30 s encoder window and the fitted one. 2 threads.
#
# Usage: scripts/bench_stream.sh [MINUTES] [GAP_SECONDS]     (defaults: 5 and 0)
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-stt
mkdir -p "$work"
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
if [ ! -d "$work/data/pocketsphinx-5.1.1" ]; then
  python3 -m pip download --quiet --no-deps --no-binary pocketsphinx -d "$work/sdists" pocketsphinx==5.1.1
  mkdir -p "$work/data"
  tar xzf "$work/sdists/pocketsphinx-5.1.1.tar.gz" -C "$work/data" pocketsphinx-5.1.1/test/data/librivox
fi
scripts/asterisk_clips.sh en target/bench-clips/en
cargo build --quiet --release -p dragoman-server
cargo build --quiet --release -p dragoman-stt --example stream_latency
target/release/dragoman models pull whisper-base silero-vad >/dev/null
target/release/examples/stream_latency "$DRAGOMAN_HOME/models/whisper-base" "$DRAGOMAN_HOME/models/silero-vad" \
  "${1:-5}" "${2:-0}" "$work"/data/pocketsphinx-5.1.1/test/data/librivox/*.wav target/bench-clips/en/*.wav
