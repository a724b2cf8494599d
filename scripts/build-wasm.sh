#!/usr/bin/env bash
# Builds the release wasm (target/wasm32-wasip1/release/scim-edge.wasm) and shrinks it with
# Binaryen's wasm-opt. fastly.toml's build script, `make build`, the benchmark and the soak all
# build through here, so what is tested and measured is what `fastly compute publish` uploads.
#
# Why: the release profile is `opt-level = 2` (a page of 100 users takes ~40% less CPU than at
# `opt-level = "z"`), and `wasm-opt -Oz` brings that module from ~1.64 MB to ~1.46 MB.
# wasm-opt (Binaryen, from npm) is installed into .tools/npm when missing. It runs only when
# cargo produced a new module (the stamp file holds the SHA-256 of the last optimised one).
set -euo pipefail
cd "$(dirname "$0")/.."

BINARYEN_VERSION=132.0.0
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
WASM="$TARGET/wasm32-wasip1/release/scim-edge.wasm"
STAMP="$WASM.optimised"
WASM_OPT="$PWD/.tools/npm/node_modules/.bin/wasm-opt"

cargo build --bin scim-edge --release --target wasm32-wasip1 "$@"

if ! "$WASM_OPT" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  echo "==> installing Binaryen ${BINARYEN_VERSION} (wasm-opt; npm, into .tools/npm)" >&2
  mkdir -p .tools/npm
  npm install --silent --no-audit --no-fund --prefix .tools/npm "binaryen@${BINARYEN_VERSION}" >&2
fi

if [ "$(sha256sum <"$WASM")" != "$(cat "$STAMP" 2>/dev/null)" ]; then
  # The features rustc 1.95 emits for wasm32-wasip1; wasm-opt refuses a module that uses others.
  "$WASM_OPT" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$WASM" -o "$WASM.tmp"
  # Written in place: the file is a hard link to cargo's copy in deps/, which cargo links here
  # again on every build, so both must hold the optimised module.
  cat "$WASM.tmp" >"$WASM"
  rm -f "$WASM.tmp"
  sha256sum <"$WASM" >"$STAMP"
fi
