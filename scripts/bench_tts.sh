#!/usr/bin/env bash
# Speech synthesis speed: the Piper English voice (joe, medium) on our VITS beside onnxruntime
# 1.32.0 on the same ONNX file, phoneme ids and sampling scales; caption-length Tatoeba
# sentences, 2 threads. Prints time per sentence (= time to first audio: a sentence is
# synthesised whole), real-time factor, peak memory and the ratios.
#
# Usage: scripts/bench_tts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-tts
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "onnxruntime==1.32.0" "numpy>=1.26"
# 20 English Tatoeba sentences of 14-16 words (a caption-length sentence is about 15 words).
python3 - "$work/sentences.json" <<'PY'
import json, os, sys
sys.path.insert(0, "scripts")
from eval_translate import fetch
spa, _, _ = fetch("target/eval-translate")
english = [l.split("\t")[0] for l in spa.splitlines() if 14 <= len(l.split("\t")[0].split()) <= 16]
step = max(1, len(english) // 20)
json.dump({"en": english[step // 2::step][:20]}, open(sys.argv[1], "w"))
PY
cargo build --quiet --release -p dragoman-server -p dragoman-tts --example bench_tts
voice=piper-en_US-joe-medium
target/release/dragoman models pull "$voice" >/dev/null
target/release/dragoman models published "$voice" "$work/published" >/dev/null
dir="$(target/release/dragoman models path "$voice")"
target/release/examples/bench_tts run "$dir" en_US-joe-medium.onnx.json "$work/sentences.json" "$work/out"
read -r noise length noise_w < <(python3 -c "import json; print(*json.load(open('$work/out/dragoman.json'))['scales'])")
python3 scripts/piper_ort_run.py "$work/published/en_US-joe-medium.onnx" "$work/out/ids.json" \
  "$noise" "$length" "$noise_w" > "$work/out/onnxruntime.json"
target/release/examples/bench_tts report "$work/out"
