#!/usr/bin/env bash
# The Swift bindings as a Swift package: generates the Swift source, the C header and the
# module map from the built library's metadata into OUT (default: bindings/swift/build), next
# to Package.swift's layout:
#
#   OUT/Package.swift
#   OUT/Sources/Dragoman/Dragoman.swift          the API
#   OUT/Sources/DragomanFFI/include/DragomanFFI.h, module.modulemap   the C interface
#   OUT/lib/libdragoman.so (or .dylib)            link with -L OUT/lib
#
# Usage: bindings/swift/generate.sh LIBDIR [OUT]   (LIBDIR holds libdragoman.* and uniffi-bindgen)
set -euo pipefail
lib=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-$here/build}
rm -rf "$out" && mkdir -p "$out/Sources/Dragoman" "$out/Sources/DragomanFFI/include" "$out/lib"
library=$lib/libdragoman.so
[ -e "$library" ] || library=$lib/libdragoman.dylib
"$lib/uniffi-bindgen" generate --no-format --config "$here/../bindgen.toml" --library "$library" \
  --language swift --out-dir "$out/gen" >/dev/null
mv "$out/gen/Dragoman.swift" "$out/Sources/Dragoman/"
mv "$out/gen/DragomanFFI.h" "$out/Sources/DragomanFFI/include/"
mv "$out/gen/DragomanFFI.modulemap" "$out/Sources/DragomanFFI/include/module.modulemap"
rm -rf "$out/gen"
cp "$library" "$out/lib/"
cp "$here/Package.swift" "$out/"
echo "$out"
