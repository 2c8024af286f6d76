#!/usr/bin/env bash
# Speech-to-text benchmark, dragoman beside faster-whisper in one run: WER, real-time factor and
# peak memory on the LibriVox recordings (pocketsphinx 5.1.1 sdist) and the JFK clip (pywhispercpp
# 1.5.1 sdist), same whisper-base weights, 2 threads.
#
# Usage: scripts/bench_stt.sh        (installs faster-whisper with pip; takes a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-stt
mkdir -p "$work"
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "faster-whisper==1.2.1"
if [ ! -d "$work/data/pocketsphinx-5.1.1" ]; then
  python3 -m pip download --quiet --no-deps --no-binary pocketsphinx,pywhispercpp -d "$work/sdists" \
    pocketsphinx==5.1.1 pywhispercpp==1.5.1
  mkdir -p "$work/data"
  tar xzf "$work/sdists/pocketsphinx-5.1.1.tar.gz" -C "$work/data" pocketsphinx-5.1.1/test/data/librivox
  tar xzf "$work/sdists/pywhispercpp-1.5.1.tar.gz" -C "$work/data" \
    pywhispercpp-1.5.1/whisper.cpp/bindings/go/samples/jfk.wav
fi
refs="$work/data/pocketsphinx-5.1.1/test/data/librivox"
files=("$refs"/*.wav "$work/data/pywhispercpp-1.5.1/whisper.cpp/bindings/go/samples/jfk.wav")

# The same weights for both: the published CTranslate2 files for faster-whisper, their converted
# safetensors for dragoman.
export DRAGOMAN_HOME="$PWD/$work/home"
cargo build --quiet --release -p dragoman-server
cargo build --quiet --release -p dragoman-stt --example bench
target/release/dragoman models pull whisper-base silero-vad >/dev/null
published="$work/published-whisper-base"
if [ ! -f "$published/model.bin" ]; then
  mkdir -p "$published"
  target/release/dragoman models published whisper-base "$published" >/dev/null
fi

for ct in float32 int8; do
  python3 scripts/faster_whisper_run.py "$published" "$ct" 2 "${files[@]}" > "$work/faster-whisper-$ct.json"
done
target/release/examples/bench "$DRAGOMAN_HOME/models/whisper-base" "$DRAGOMAN_HOME/models/silero-vad" "$refs" \
  --peer "faster-whisper float32=$work/faster-whisper-float32.json" \
  --peer "faster-whisper int8=$work/faster-whisper-int8.json" \
  "${files[@]}"
