#!/usr/bin/env bash
# A translated call of continuous speech (see examples/bench_call.rs): two speakers talking at
# once without pauses, A in English and B in Spanish, from real recordings (the Asterisk core
# prompts, see scripts/asterisk_clips.sh); listeners in German and Vietnamese. Whisper base
# (8-bit), the default translator (Qwen2.5-Coder 1.5B Instruct; the best one pulled in
# target/bench-call/home is used), espeak-ng and Piper; 2 threads.
#
# Usage: scripts/bench_call.sh [--minutes N] [--speakers 1|2] [--no-refine] [--slots N]
# Needs ffmpeg (apt-get install ffmpeg) to decode the recordings once.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-call
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
for lang in en es; do scripts/asterisk_clips.sh "$lang" "target/bench-clips/$lang"; done
cargo build --quiet --release -p dragoman-server
cargo build --quiet --release -p dragoman-examples --example bench_call
target/release/dragoman models pull whisper-base silero-vad gemma3-270m-q4km qwen2.5-coder-1.5b-instruct-q4km piper-en_US-joe-medium >/dev/null
target/release/examples/bench_call target/bench-clips/en target/bench-clips/es "$@"
