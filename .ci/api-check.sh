#!/usr/bin/env bash
# Runs schemathesis against `rostersync serve` on a synced demo district: no 5xx and no
# response that violates the OpenAPI document.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p cli --quiet
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/rostersync"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
"$bin" --data-dir "$data" demo --students 120 >/dev/null 2>&1 || true   # exit 1/0 both leave a synced district
token="$("$bin" --data-dir "$data" --json tokens create --district demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$bin" --data-dir "$data" serve --port "$port" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
bash .ci/schemathesis.sh "http://127.0.0.1:$port" "$token" demo
