#!/usr/bin/env bash
# Packages the VS Code extension.
#   universal  dist/slipstream-VERSION.vsix: the server wheel only; on first start the extension builds
#              llama-cpp-python from source (needs a C/C++ compiler, several minutes).
#   linux-x64  dist/slipstream-linux-x64-VERSION.vsix (vsce --target linux-x64): the server wheel and the
#              portable llama-cpp-python wheel (scripts/build-llama-wheel.sh: runtime CPU dispatch) next to
#              it; the first start installs both and needs no compiler. The wheel is checked against its
#              MANIFEST first (portable, not a native build), so a native build is never shipped.
# Usage: scripts/package-vsix.sh [universal|linux-x64|all]   (default: all)
# The marketplace serves a platform's .vsix where one exists and the universal one elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[vsix]\033[0m %s\n' "$*" >&2; }

VERSION=$(node -p "require('./package.json').version")
WHEELS=client-vscode/dist/wheels
VSCE=node_modules/.bin/vsce
case "${1:-all}" in
  all) targets="universal linux-x64" ;;
  universal | linux-x64) targets="$1" ;;
  *) say "unknown target $1 (universal, linux-x64 or all)"; exit 2 ;;
esac

node client-vscode/build.mjs --wheel  # the extension bundle and the server wheel in $WHEELS
mkdir -p dist
trap 'rm -f "$WHEELS"/llama_cpp_python-*.whl' EXIT  # the tree keeps only the server wheel
for target in $targets; do
  rm -f "$WHEELS"/llama_cpp_python-*.whl
  if [ "$target" = universal ]; then
    out="dist/slipstream-$VERSION.vsix"
    "$VSCE" package --no-dependencies -o "$out"
  else
    wheel=$(bash scripts/build-llama-wheel.sh)  # cached after the first build
    bash scripts/build-llama-wheel.sh --check "$wheel"
    cp "$wheel" "$WHEELS/"
    out="dist/slipstream-$target-$VERSION.vsix"
    "$VSCE" package --no-dependencies --target "$target" -o "$out"
  fi
  say "$out: $(du -h "$out" | cut -f1) ($(stat -c %s "$out") bytes)"
done
