#!/usr/bin/env bash
# Builds the portable llama-cpp-python wheel that setup.sh installs and the linux-x64 .vsix bundles, once,
# into a cache folder named for its flags (with a MANIFEST of them), and prints the wheel's path.
#
# Portable = llama.cpp's runtime CPU dispatch: GGML_NATIVE=OFF, the CPU backend built once per x86-64
# feature level as loadable libraries (GGML_BACKEND_DL=ON, GGML_CPU_ALL_VARIANTS=ON: libggml-cpu-x64.so …
# libggml-cpu-zen4.so), and at run time ggml loads the variant whose features this CPU has with the
# highest score. A wheel built with -march=native dies with "illegal instruction" on an older CPU; this
# one runs on any x86-64 CPU, and at full speed on this one (bench/portable_wheel.py measures it).
#
# Four deliberate changes to the 0.3.36 sdist, each checked below (the build fails if one does not apply):
#  1. llama_cpp/llama_cpp.py loads the CPU variants from the package's own lib/ folder right after
#     libllama. By itself ggml searches only the executable's folder (python's bin/) and the current
#     directory, so llama-cpp-python 0.3.36 built this way finds no backend ("llama_model_load_from_file_impl:
#     no backends are loaded"); loading from lib/ also means a libggml-cpu-*.so in a user's working
#     directory is never loaded. The registry functions are looked up through libllama's handle: the
#     wheel holds libggml.so and libggml.so.0 as two copies (no symlinks in a wheel), and loading
#     libggml.so by path would register the backends in a second registry libllama never sees.
#  2. The sapphirerapids variant (AMX_TILE/AMX_INT8) is not built: it is the variant this machine kind
#     (Xeon with amx_int8, in a VM) scores highest, and its AMX kernels die here with SIGILL in
#     llama_decode (at `tilezero %tmm4` in ggml_backend_amx_mul_mat; the -march=native build died in the
#     same place with SIGSEGV). Without it, such CPUs load zen4 (AVX-512 VBMI/VNNI/BF16).
#  3. GOMP_SPINCOUNT=1000 unless the wait policy was set (before libllama loads libgomp): a thread waiting
#     at one of ggml's barriers spins briefly, then sleeps. libgomp's default spin (300,000) stalled
#     completions ~3 s on a busy 2-core machine; no spin at all (passive) cost 40% of decode speed on an
#     idle one (numbers in the patch).
#  4. The version gets the local label +cpuvariants (0.3.36+cpuvariants), so `pip show` and
#     llama_cpp.__version__ say which build is installed; `llama-cpp-python==0.3.36` still matches it.
# OpenMP stays on, as upstream builds it (LLAMA_WHEEL_OPENMP=0 builds without): with 2 threads on this
# 2-core machine under other agents' load, bench/portable_wheel.py gave the build without OpenMP no gain
# (median per-round decode ratio 0.98x the OpenMP build; 0.74-0.79x the x86-64-v3 OpenMP wheel, where the
# OpenMP portable build had 0.76-1.10x). Its runtime, libgomp.so.1, is bundled next to the variants
# (RUNPATH $ORIGIN, as auditwheel would): a machine that never had a compiler may lack it. The install
# dirs put every library under llama_cpp/lib (no second copy in a top-level lib/ of site-packages). After
# the build the wheel is slimmed: the fully versioned copies (libllama.so.0.5.0 …: nothing loads them;
# ctypes opens libX.so, the libraries need libX.so.0) and libllama-common (llama.cpp's CLI helpers:
# llama-cpp-python never loads it, and it needs libssl) go.
#
# Usage: scripts/build-llama-wheel.sh [CACHE_ROOT]   (default $SLIPSTREAM_WHEEL_CACHE or ~/.cache/slipstream/wheels)
#        scripts/build-llama-wheel.sh --check WHEEL  (is it the portable wheel its MANIFEST lists? exit 1 if not)
# env: LLAMA_SDIST (a local llama_cpp_python-VERSION.tar.gz instead of downloading it from PyPI),
#      PYTHON (the interpreter that runs pip), SLIPSTREAM_LLAMA_BUILD_DIR (keep the sources and CMake's build
#      folder there: a rebuild is incremental), CMAKE_BUILD_PARALLEL_LEVEL, LLAMA_WHEEL_AMX=1 (keep the
#      sapphirerapids variant, in a cache folder named -amx-: only to check the AMX crash again, never to ship),
#      LLAMA_WHEEL_OPENMP=0 (no OpenMP, no bundled libgomp: a cache folder named -noomp-).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION="0.3.36"
LOCAL_LABEL="cpuvariants"
RECIPE=6   # bump when the patches or flags change: a new cache folder, never a stale wheel
PY="${PYTHON:-python3}"
say() { printf '\033[1m[llama-wheel]\033[0m %s\n' "$*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ARCH="linux-x86_64" ;;
  *) say "no portable recipe for $(uname -s)-$(uname -m) yet (only linux x86_64)"; exit 2 ;;
esac
OMP="${LLAMA_WHEEL_OPENMP:-1}"
FLAGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON"
if [ "$OMP" = 1 ]; then
  FLAGS="$FLAGS -DGGML_OPENMP=ON -DCMAKE_INSTALL_RPATH=\$ORIGIN"  # the variants find the bundled libgomp next to them
  GOMP=$(readlink -f "$(gcc -print-file-name=libgomp.so.1)")
else
  FLAGS="$FLAGS -DGGML_OPENMP=OFF"
fi
FLAGS="$FLAGS -DCMAKE_INSTALL_BINDIR=llama_cpp/lib -DCMAKE_INSTALL_LIBDIR=llama_cpp/lib -DCMAKE_INSTALL_INCLUDEDIR=llama_cpp/include"
AMX="${LLAMA_WHEEL_AMX:-0}"
NAME="$ARCH-cpu-variants-dl-$([ "$AMX" = 1 ] && echo amx || echo noamx)-$([ "$OMP" = 1 ] && echo omp || echo noomp)-r$RECIPE"
CACHE="${1:-${SLIPSTREAM_WHEEL_CACHE:-$HOME/.cache/slipstream/wheels}}/$NAME"

# The wheel must be the portable one: the variants inside llama_cpp/lib, no single libggml-cpu.so, no
# sapphirerapids unless asked for, the loader patch in. Prints the variants and the newest glibc symbol
# version the libraries need.
check_wheel() {
  "$PY" - "$1" "$2" "$3" <<'CHECK'
import re, subprocess, sys, tempfile, zipfile

amx, omp = sys.argv[2] == "1", sys.argv[3] == "1"
names = zipfile.ZipFile(sys.argv[1]).namelist()
variants = sorted(re.sub(r"^llama_cpp/lib/libggml-cpu-(.+)\.so$", r"\1", n) for n in names
                  if re.fullmatch(r"llama_cpp/lib/libggml-cpu-[a-z0-9_]+\.so", n))
problems = []
if not {"x64", "haswell", "zen4"} <= set(variants):
    problems.append(f"CPU variants missing from llama_cpp/lib: {variants}")
if any(re.fullmatch(r"llama_cpp/lib/lib.+\.so\.\d+\.\d+\.\d+", n) or "llama-common" in n for n in names):
    problems.append("not slimmed: versioned copies or libllama-common in the wheel")
if not {"llama_cpp/lib/libllama.so", "llama_cpp/lib/libggml.so.0", "llama_cpp/lib/libggml-base.so.0"} <= set(names):
    problems.append("libllama.so, libggml.so.0 or libggml-base.so.0 missing")
if ("sapphirerapids" in variants) != amx:
    problems.append("the sapphirerapids (AMX) variant is " + ("missing from" if amx else "in") + " the wheel")
if any(re.fullmatch(r"(llama_cpp/)?lib/libggml-cpu\.so(\.\d+)*", n) for n in names):
    problems.append("a single (non-dispatching) libggml-cpu.so is in the wheel")
if any(n.startswith(("lib/", "bin/", "include/")) for n in names):
    problems.append("libraries outside llama_cpp/ (top-level lib/, bin/ or include/)")
with zipfile.ZipFile(sys.argv[1]) as z:
    source = z.read("llama_cpp/llama_cpp.py")
    if b"\n_ggml_lib = _lib  #" not in source:
        problems.append("the backend loader patch is not in llama_cpp/llama_cpp.py")
    policy = source.find(b'os.environ["GOMP_SPINCOUNT"] = "1000"')
    if policy < 0 or policy > source.find(b"\n_lib = load_shared_library"):
        problems.append("GOMP_SPINCOUNT is not set before libllama (and libgomp) load")
    with tempfile.TemporaryDirectory() as d:
        glibc = set()
        for n in names:
            if n.endswith(".so") or n.endswith(".so.1"):
                p = z.extract(n, d)
                out = subprocess.run(["objdump", "-T", p], capture_output=True, text=True).stdout
                glibc |= {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([\d.]+)", out)}
        dyn = subprocess.run(["readelf", "-d", z.extract("llama_cpp/lib/libggml-cpu-x64.so", d)], capture_output=True, text=True).stdout
        if omp and not ("libgomp.so.1" in dyn and "[$ORIGIN]" in dyn and "llama_cpp/lib/libgomp.so.1" in names):
            problems.append("OpenMP build without libgomp.so.1 bundled next to the variants (and RUNPATH $ORIGIN)")
        if not omp and ("libgomp" in dyn or any("libgomp" in n for n in names)):
            problems.append("libgomp in a build without OpenMP")
if problems:
    sys.exit("not a portable wheel: " + "; ".join(problems))
print(" ".join(variants))
print(".".join(map(str, max(glibc))) if glibc else "unknown")
CHECK
}

# --check WHEEL: is this the portable wheel its MANIFEST describes? (scripts/package-vsix.sh asks before shipping it.)
if [ "${1:-}" = "--check" ]; then
  wheel="$2"
  manifest="$(dirname "$wheel")/MANIFEST"
  [ -f "$manifest" ] || { say "no MANIFEST next to $wheel: not a wheel this script built"; exit 1; }
  grep -q "^portable: runtime CPU dispatch" "$manifest" && ! grep -q "do not ship" "$manifest" \
    || { say "$manifest does not describe a portable wheel to ship"; exit 1; }
  grep -q "^sha256: $(sha256sum "$wheel" | cut -d' ' -f1) " "$manifest" || { say "$wheel is not the wheel its MANIFEST lists"; exit 1; }
  omp=$(grep -q "GGML_OPENMP=ON" "$manifest" && echo 1 || echo 0)
  info=$(check_wheel "$wheel" 0 "$omp") || { say "$wheel failed its check (above)"; exit 1; }
  say "portable: cpu variants $(echo "$info" | sed -n 1p); glibc >= $(echo "$info" | sed -n 2p)"
  exit 0
fi

wheel_in() { ls "$1"/llama_cpp_python-"$LLAMA_VERSION"+"$LOCAL_LABEL"-*.whl 2>/dev/null | head -n1 || true; }
if [ -n "$(wheel_in "$CACHE")" ] && [ -f "$CACHE/MANIFEST" ]; then
  wheel_in "$CACHE"
  exit 0
fi

if [ -n "${SLIPSTREAM_LLAMA_BUILD_DIR:-}" ]; then
  WORK="$SLIPSTREAM_LLAMA_BUILD_DIR/src"  # a stable source path: CMake's build folder is tied to it
  rm -rf "$WORK" && mkdir -p "$WORK"      # tar restores the files' times: unchanged sources are not rebuilt
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/llama-wheel.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
fi
if [ -n "${LLAMA_SDIST:-}" ]; then
  cp "$LLAMA_SDIST" "$WORK/"
else
  say "downloading the llama-cpp-python $LLAMA_VERSION sdist"
  "$PY" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$WORK" >&2
fi
tar -xzf "$WORK"/llama_cpp_python-"$LLAMA_VERSION".tar.gz -C "$WORK"
SRC="$WORK/llama_cpp_python-$LLAMA_VERSION"

"$PY" - "$SRC" "$LLAMA_VERSION" "$LOCAL_LABEL" "$AMX" <<'PATCH'
import pathlib, sys

src, version, label, amx = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"


def patch(rel: str, old: str, new: str) -> None:
    path = src / rel
    text = path.read_text()
    if text.count(old) != 1:
        sys.exit(f"patch: {rel}: expected exactly one {old!r}")
    path.write_text(text.replace(old, new))


# 1. Load the CPU backend variants from the package's lib/ folder (see build-llama-wheel.sh).
anchor = "_lib = load_shared_library(_lib_base_name, _base_path)\n"
wait_policy = '''# slipstream (build-llama-wheel.sh): an OpenMP thread waiting at a barrier spins 1,000 times, then sleeps
# (libgomp's own count when threads outnumber CPUs; its default is 300,000), unless the user set the policy.
# Set before libllama loads libggml-base, which loads libgomp, which reads it once. Measured with 2 threads
# on this 2-core machine: while it was busy, the default spin stalled completions (first token 2.7-3.2 s,
# 4 of 6 cut by the time budget; x86-64-v3 build alike) and 1,000 did not (0.45-0.54 s, like passive);
# while it was idle, 1,000 decoded 33 tokens/s, the default 35, passive (no spin) 21.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "1000"
'''
patch("llama_cpp/llama_cpp.py", anchor, wait_policy + anchor + '''
# slipstream (build-llama-wheel.sh): the CPU backend is one loadable library per x86-64 feature level in
# lib/; ggml by itself looks only next to the python executable and in the current directory. Load the
# best variant for this CPU from lib/ (only from there) before llama_backend_init looks anywhere else.
_ggml_lib = _lib  # dlsym through libllama finds the libggml.so.0 it uses (not a second copy)
_ggml_lib.ggml_backend_reg_count.restype = ctypes.c_size_t
_ggml_lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
_ggml_lib.ggml_backend_load_all_from_path.restype = None
if _ggml_lib.ggml_backend_reg_count() == 0:
    _ggml_lib.ggml_backend_load_all_from_path(os.fsencode(str(_base_path)))
''')
# 2. No sapphirerapids (AMX) variant: its AMX kernels crash in llama_decode on this machine kind.
spr = "            ggml_add_cpu_backend_variant(sapphirerapids SSE42 AVX F16C FMA AVX2 BMI2 AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_TILE AMX_INT8)\n"
if not amx:
    patch("vendor/llama.cpp/ggml/src/CMakeLists.txt", spr, "            # slipstream: no sapphirerapids (AMX) variant\n")
# 3. The local version label.
patch("llama_cpp/__init__.py", f'__version__ = "{version}"', f'__version__ = "{version}+{label}"')
PATCH

mkdir -p "$CACHE.partial"
rm -f "$CACHE.partial"/*.whl
say "building llama-cpp-python $LLAMA_VERSION+$LOCAL_LABEL ($NAME) from source once: needs cmake and a C++ compiler; 20–40 min on 2 cores"
build_dir=()
[ -n "${SLIPSTREAM_LLAMA_BUILD_DIR:-}" ] && build_dir=(--config-settings "build-dir=$SLIPSTREAM_LLAMA_BUILD_DIR")
start=$(date +%s)
# --no-cache-dir: pip's own wheel cache would hand back a build made with other flags. Its progress goes to
# stderr: this script's stdout is the wheel's path alone (setup.sh reads it; pip's "Looking in indexes …"
# there made a first setup on a machine without the cached wheel try to install that text as a file).
CMAKE_ARGS="$FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
  "$PY" -m pip wheel --no-cache-dir --no-deps "${build_dir[@]}" "$SRC" -w "$CACHE.partial" >&2
took=$(( $(date +%s) - start ))
wheel=$(wheel_in "$CACHE.partial")
[ -n "$wheel" ] || { say "no wheel was built"; exit 1; }

# Slim the wheel (see the top): rewrite it without the versioned copies and libllama-common, RECORD to match.
"$PY" - "$wheel" "${GOMP:-}" <<'SLIM'
import base64, hashlib, os, re, sys, zipfile

path, gomp = sys.argv[1], sys.argv[2]
drop = re.compile(r"llama_cpp/lib/(lib.+\.so\.\d+\.\d+\.\d+|libllama-common\.so.*)$")
with zipfile.ZipFile(path) as src, zipfile.ZipFile(path + ".slim", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        if drop.match(info.filename):
            continue
        data = src.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            keep = [line for line in data.decode().splitlines() if not drop.match(line.split(",")[0])]
            if gomp:  # the OpenMP runtime the variants need, next to them (as auditwheel would bundle it)
                blob = open(gomp, "rb").read()
                digest = base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
                dst.writestr("llama_cpp/lib/libgomp.so.1", blob, compress_type=zipfile.ZIP_DEFLATED)
                keep.insert(0, f"llama_cpp/lib/libgomp.so.1,sha256={digest},{len(blob)}")
            data = ("\n".join(keep) + "\n").encode()
        dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
os.replace(path + ".slim", path)
SLIM

info=$(check_wheel "$wheel" "$AMX" "$OMP") || { say "$wheel failed its check (above)"; exit 1; }
variants=$(echo "$info" | sed -n 1p)
glibc=$(echo "$info" | sed -n 2p)

cat > "$CACHE.partial/MANIFEST" <<EOF
llama-cpp-python $LLAMA_VERSION+$LOCAL_LABEL (recipe $RECIPE, scripts/build-llama-wheel.sh)
portable: runtime CPU dispatch; no -march=native
CMAKE_ARGS=$FLAGS
patches: backends loaded from llama_cpp/lib; GOMP_SPINCOUNT=1000 by default; $([ "$AMX" = 1 ] && echo "WITH the sapphirerapids (AMX) variant: do not ship" || echo "no sapphirerapids (AMX) variant"); version label +$LOCAL_LABEL
cpu variants: $variants
needs: linux x86_64, glibc >= $glibc, libstdc++$([ "$OMP" = 1 ] && echo "; bundles libgomp.so.1 ($(basename "$GOMP"), GCC runtime library exception)" || echo " (no OpenMP)")
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -m), $(gcc --version 2>/dev/null | head -n1), ${took}s$([ -n "${SLIPSTREAM_LLAMA_BUILD_DIR:-}" ] && echo " (incremental, in a kept build folder)")
sha256: $(sha256sum "$wheel" | cut -d' ' -f1)  $(basename "$wheel")
EOF
rm -rf "$CACHE"
mv "$CACHE.partial" "$CACHE"
say "built in ${took}s: $CACHE"
wheel_in "$CACHE"
