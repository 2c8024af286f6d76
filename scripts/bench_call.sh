#!/usr/bin/env bash
# A translated call of continuous speech (see examples/bench_call.rs): two speakers talking at
# once without pauses, A in English and B in Spanish, from real recordings (the Asterisk core
# prompts read by Allison Smith, CC-BY-SA-3.0: Debian's asterisk-core-sounds-{en,es}-g722 1.6.1,
# 16 kHz G.722, and their scripts from asterisk-core-sounds-{en,es}); listeners in German and
# Vietnamese. Whisper base (8-bit), Gemma 3 270M, espeak-ng and Piper; 2 threads.
#
# Usage: scripts/bench_call.sh [--minutes N] [--speakers 1|2]
# Needs ffmpeg (apt-get install ffmpeg) to decode G.722 once.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-call
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
command -v ffmpeg >/dev/null || { echo "bench_call.sh: needs ffmpeg to decode G.722 (apt-get install ffmpeg)" >&2; exit 1; }
for lang in en es; do
  [ -d "$work/clips-$lang" ] && continue
  # apt-get download fetches the .deb files without installing them (no root needed).
  (cd "$work" && apt-get download "asterisk-core-sounds-$lang=1.6.1-1" "asterisk-core-sounds-$lang-g722=1.6.1-1")
  mkdir -p "$work/deb-$lang" "$work/clips-$lang.tmp"
  for deb in "$work"/asterisk-core-sounds-"$lang"*_1.6.1-1_all.deb; do dpkg-deb -x "$deb" "$work/deb-$lang"; done
  # Prompts of five words or more, without tone marks or stage directions, in a fixed
  # shuffled order (so one prompt family does not follow itself).
  zcat "$work/deb-$lang"/usr/share/doc/asterisk-core-sounds-"$lang"/core-sounds-"$lang".txt.gz \
    | iconv -f latin1 -t utf-8 \
    | grep -E '^[a-z0-9_-]+: ' | grep -v -E '\[|\(' \
    | awk -F': ' 'split($2, w, " ") >= 5' \
    | shuf --random-source=<(yes) \
    | while IFS= read -r line; do
        name=${line%%: *}; text=${line#*: }
        src=$(find "$work/deb-$lang/usr/share/asterisk/sounds" -maxdepth 2 -name "$name.g722" | head -1)
        [ -n "$src" ] || continue
        n=$(printf '%04d' "$(ls "$work/clips-$lang.tmp" | grep -c wav || true)")
        ffmpeg -v error -f g722 -i "$src" "$work/clips-$lang.tmp/$n-$name.wav"
        printf '%s\n' "$text" > "$work/clips-$lang.tmp/$n-$name.txt"
      done
  mv "$work/clips-$lang.tmp" "$work/clips-$lang"
done
cargo build --quiet --release -p dragoman-server
cargo build --quiet --release -p dragoman-examples --example bench_call
target/release/dragoman models pull whisper-base silero-vad gemma3-270m-q4km piper-en_US-joe-medium >/dev/null
target/release/examples/bench_call "$work/clips-en" "$work/clips-es" "$@"
