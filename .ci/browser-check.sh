#!/usr/bin/env bash
# Walks the admin console's nine steps in headless Debian Chromium (playwright-core, no browser
# download) against `rostersync serve` on a generated district with a pre-existing product
# directory. Screenshots of every page go to target/console-screenshots/. Fails on any failed
# step.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
fi
command -v node >/dev/null || { echo "node is required for the browser test" >&2; exit 1; }
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo build -p cli --quiet
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target/debug/rostersync"
shots="$target/console-screenshots"
rm -rf "$shots"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
# A generated district and the product's directory as it was before any sync.
"$bin" generate --format oneroster-csv --students 150 --seed 11 --out "$data/feed" >/dev/null
node tests/browser/make-directory.mjs "$data/feed" "$data/directory.json" >/dev/null
"$bin" --data-dir "$data/store" directory import --district walk --file "$data/directory.json" >/dev/null
token="$("$bin" --data-dir "$data/store" --json tokens create --district walk | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
"$bin" --data-dir "$data/store" serve --port "$port" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.2
done
status=0
BASE_URL="http://127.0.0.1:$port" TOKEN="$token" FEED="$data/feed" OUT="$shots" \
  node "$root/tests/browser/walk.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- serve log (last 40 lines)"
  tail -n 40 "$data/serve.log" || true
fi
exit "$status"
