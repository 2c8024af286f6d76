#!/usr/bin/env bash
# The Kotlin bindings against the built library: generates their sources from the library's
# metadata, compiles them (Kotlin compiler from npm, JNA from Debian's libjna-java), then the
# examples/kotlin programs and the test, and runs the test on the model store and recording
# given.
#
# Usage: bindings/kotlin/test.sh LIBDIR STORE JFK.wav   (LIBDIR holds libdragoman.so and
# uniffi-bindgen, as a cargo build of dragoman-bindings and dragoman-uniffi-bindgen leaves them)
set -euo pipefail
lib=$(realpath "$1") store=$(realpath "$2") jfk=$(realpath "$3")
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
kotlin=node_modules/kotlin-compiler
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$lib/uniffi-bindgen" generate --no-format --config ../bindgen.toml --library "$lib/libdragoman.so" \
  --language kotlin --out-dir "$out/src" >/dev/null
jna=/usr/share/java/jna.jar
kotlinc() { "$kotlin/bin/kotlinc" -nowarn "$@"; }
kotlinc "$out/src/dev/dragoman/dragoman.kt" -cp "$jna" -d "$out/dragoman.jar"
# The examples compile against the bindings as they are (they need a microphone or a file of
# the user's to run); the test runs.
for example in ../../examples/kotlin/*.kt; do
  kotlinc "$example" -cp "$out/dragoman.jar:$jna" -d "$out/example.jar"
done
kotlinc src/DragomanTest.kt -cp "$out/dragoman.jar:$jna" -d "$out/test.jar"
java -Djna.library.path="$lib" -cp "$out/test.jar:$out/dragoman.jar:$jna:$kotlin/lib/kotlin-stdlib.jar" \
  DragomanTestKt "$store" "$jfk"
