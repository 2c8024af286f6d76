#!/usr/bin/env bash
# The Kotlin bindings against the built library: generates their sources from the library's
# metadata, compiles them with the test (Kotlin compiler from npm, JNA from Debian's
# libjna-java) and runs it on the model store and recording given.
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
"$kotlin/bin/kotlinc" -nowarn "$out/src/dev/dragoman/dragoman.kt" src/DragomanTest.kt -cp "$jna" -d "$out/test.jar"
java -Djna.library.path="$lib" -cp "$out/test.jar:$jna:$kotlin/lib/kotlin-stdlib.jar" DragomanTestKt "$store" "$jfk"
