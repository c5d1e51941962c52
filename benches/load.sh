#!/usr/bin/env bash
# Load test: N concurrent clients (default 200) sign in, list documents,
# search and ask a short chat, three rounds each, against a fresh Hearth
# with the default model; prints the server's resident memory before, at
# peak and 20 s after, and how many requests succeeded or were told "busy".
#
# Usage: bash benches/load.sh [BINARY] [CLIENTS]
#   BINARY   default target/release/hearth
#   MIX      which requests: s (sign in), l (list), q (search), c (chat); default slqc
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/hearth}
N=${2:-200}
MODEL="${HEARTH_MODEL_CACHE:-$HOME/.cache/hearth/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
DIR=$(mktemp -d)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
printf '[llm]\nmodel = "%s"\nthreads = 2\n[server]\nmax_connections_per_ip = 1000\n' "$MODEL" > "$DIR/hearth.toml"
export HEARTH_DATA_DIR=$DIR HEARTH_CONFIG=$DIR/hearth.toml
echo "correct horse battery staple" | "$BIN" user add olivia --role owner --name Olivia >/dev/null
KEY=$("$BIN" user api-key olivia)
"$BIN" serve --listen 127.0.0.1:18080 > "$DIR/log" 2>&1 &
PID=$!
for _ in $(seq 1 200); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.1; done
sleep 5  # the model loads in the background
python3 benches/load.py 127.0.0.1 18080 "$PID" "$KEY" "$N" 3
