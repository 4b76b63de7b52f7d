#!/usr/bin/env bash
# llama.cpp's llama-server, from the llama.cpp sources vendored in the pinned llama-cpp-python sdist (the same
# llama.cpp Slipstream runs in process): for tests/test_remote_llamacpp.py and bench/latency.py --llama-server.
# Optional and not part of `make test`'s setup (about 7-10 minutes on 2 cores). Portable CPU flags (x86-64-v3,
# no AMX: a -march=native build picked AMX kernels that crashed here). Result:
#   ~/.cache/slipstream/llama-server/bin/llama-server   (tests find it there, or via $LLAMA_SERVER / PATH)
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/slipstream/llama-server"
BIN="$CACHE/bin/llama-server"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$CACHE/src" "$CACHE/bin"
cd "$CACHE/src"
if [ ! -d "llama_cpp_python-$VERSION" ]; then
  "${PYTHON:-python3}" -m pip download --no-deps --no-binary :all: --no-cache-dir "llama-cpp-python==$VERSION" -d . >&2
  tar xzf "llama_cpp_python-$VERSION.tar.gz"
fi
cd "llama_cpp_python-$VERSION/vendor/llama.cpp"
cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF \
  -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
  -DBUILD_SHARED_LIBS=OFF >&2  # one self-contained binary: it can be copied anywhere
cmake --build build --target llama-server -j"$(nproc)" >&2
cp build/bin/llama-server "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
"$BIN" --version >&2
echo "$BIN"
