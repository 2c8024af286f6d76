#!/usr/bin/env bash
# The room's latency and forwarding cost (see examples/bench_room.rs): 24 real recorded English
# sentences (the Asterisk core prompts, voice of Allison Smith, CC-BY-SA, from Debian's
# asterisk-core-sounds-en-wav 1.6.1 and their transcripts from asterisk-core-sounds-en) spoken
# by A into a room over loopback WebRTC; B reads and hears Vietnamese. Then N publishers x M
# subscribers of synthetic video. Whisper base, Gemma 3 270M, espeak-ng; 2 threads.
#
# Usage: scripts/bench_room.sh [--to LANG] [--sentences N]
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-room
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
if [ ! -f "$work/prompts/core-sounds-en.txt" ]; then
  # apt-get download fetches the .deb files without installing them (no root needed).
  (cd "$work" && apt-get download asterisk-core-sounds-en-wav=1.6.1-1 asterisk-core-sounds-en=1.6.1-1)
  mkdir -p "$work/prompts" "$work/deb"
  for deb in "$work"/asterisk-core-sounds-en*_1.6.1-1_all.deb; do dpkg-deb -x "$deb" "$work/deb"; done
  cp "$work"/deb/usr/share/asterisk/sounds/en_US_f_Allison/*.wav "$work/prompts/"
  zcat "$work/deb/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz" > "$work/prompts/core-sounds-en.txt"
fi
cargo build --quiet --release -p dragoman-server
cargo build --quiet --release -p dragoman-examples --example bench_room
target/release/dragoman models pull whisper-base silero-vad gemma3-270m-q4km >/dev/null
target/release/examples/bench_room "$work/prompts" "$work/prompts/core-sounds-en.txt" "$@"
