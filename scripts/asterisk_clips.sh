#!/usr/bin/env bash
# Real continuous-speech material for the live benchmarks: the Asterisk core prompts read by
# Allison Smith (CC-BY-SA-3.0), from Debian's asterisk-core-sounds-LANG-g722 1.6.1 (16 kHz
# G.722) with their scripts from asterisk-core-sounds-LANG. Writes NNNN-NAME.wav (16 kHz) and
# NNNN-NAME.txt for every prompt of five words or more, without tone marks or stage directions,
# in a fixed shuffled order (so one prompt family does not follow itself). Once per LANG.
#
# Usage: scripts/asterisk_clips.sh LANG OUT_DIR     (needs ffmpeg to decode G.722)
set -euo pipefail
lang=$1 out=$2
[ -d "$out" ] && exit 0
command -v ffmpeg >/dev/null || { echo "asterisk_clips.sh: needs ffmpeg to decode G.722 (apt-get install ffmpeg)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download fetches the .deb files without installing them (no root needed).
(cd "$work" && apt-get download -q "asterisk-core-sounds-$lang=1.6.1-1" "asterisk-core-sounds-$lang-g722=1.6.1-1" >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
mkdir -p "$out.tmp"
n=0
while IFS= read -r line; do
  name=${line%%: *} text=${line#*: }
  src=$(find "$work/root/usr/share/asterisk/sounds" -maxdepth 2 -name "$name.g722" | head -1)
  [ -n "$src" ] || continue
  stem=$(printf '%04d-%s' "$n" "$name")
  ffmpeg -nostdin -v error -f g722 -i "$src" "$out.tmp/$stem.wav"
  printf '%s\n' "$text" > "$out.tmp/$stem.txt"
  n=$((n + 1))
done < <(zcat "$work/root/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" \
  | iconv -f latin1 -t utf-8 \
  | grep -E '^[a-z0-9_-]+: ' | grep -v -E '\[|\(' \
  | awk -F': ' 'split($2, w, " ") >= 5' \
  | shuf --random-source=<(yes))
mv "$out.tmp" "$out"
