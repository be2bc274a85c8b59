#!/usr/bin/env bash
# Smoke test of the built `api` Lambda binary through cargo-lambda's local runtime emulator,
# offline (issue #4 item 5):
#
#   bash functions/api/smoke.sh                       # or under .ci/services.sh
#
# - installs cargo-lambda 1.9.2 (PyPI) in a venv under $TOOLS (default ~/.cache/rostersync-ci)
#   when missing;
# - builds the function (`cargo build -p api-lambda`, debug, the shared target/), starts
#   `cargo lambda watch -p api-lambda` on 127.0.0.1:$INVOKE_PORT (default 9011) with the
#   function's environment given by --env-var;
# - invokes it with the hand-written API Gateway HTTP API (payload 2.0) events in
#   functions/api/events/ (`cargo lambda invoke --data-file`; `--data-example` needs the
#   network) and checks the answers: /health is 200 {"status":"ok"}, a report listing without a
#   bearer token is 401. Neither request reaches an AWS service, so no emulator is needed;
# - stops the emulator by PID and exits non-zero on any mismatch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TOOLS=${TOOLS:-$HOME/.cache/rostersync-ci}
VENV="$TOOLS/cargo-lambda"
CARGO_LAMBDA_VERSION=1.9.2
PORT=${INVOKE_PORT:-9011}
LOG="$ROOT/target/lambda-smoke.log"

if ! "$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q " $CARGO_LAMBDA_VERSION "; then
    echo "lambda-smoke: installing cargo-lambda $CARGO_LAMBDA_VERSION into $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
export PATH="$VENV/bin:$PATH"
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} \
    AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test} AWS_EC2_METADATA_DISABLED=true

cargo build -q -p api-lambda
mkdir -p "$(dirname "$LOG")"
cargo lambda watch -p api-lambda -A 127.0.0.1 -P "$PORT" --ignore-changes \
    --env-var ROSTERSYNC_BUCKET=smoke-bucket \
    --env-var ROSTERSYNC_QUEUE_URL=http://127.0.0.1:1/queue/smoke \
    --env-var ROSTERSYNC_DLQ_URL=http://127.0.0.1:1/queue/smoke-dlq \
    --env-var ROSTERSYNC_TABLE=smoke-table \
    --env-var ROSTERSYNC_SSM_PREFIX=/rostersync/ \
    --env-var AWS_REGION="$AWS_REGION" \
    --env-var AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    --env-var AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
    --env-var AWS_EC2_METADATA_DISABLED=true \
    >"$LOG" 2>&1 &
WATCH=$!
trap 'kill "$WATCH" 2>/dev/null || true; wait "$WATCH" 2>/dev/null || true' EXIT
for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$WATCH" 2>/dev/null || { echo "lambda-smoke: cargo lambda watch exited" >&2; cat "$LOG" >&2; exit 1; }
    sleep 0.2
done

invoke() {
    cargo lambda invoke api-lambda -A 127.0.0.1 -P "$PORT" --data-file "functions/api/events/$1" -o json
}
check() { # event, expected status, expected body fragment
    local out
    out=$(invoke "$1") || { echo "lambda-smoke: invoke $1 failed" >&2; cat "$LOG" >&2; exit 1; }
    python3 - "$1" "$2" "$3" "$out" <<'PY'
import json, sys
event, status, fragment, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = json.loads(out)
ok = r.get("statusCode") == status and fragment in (r.get("body") or "")
print(f"lambda-smoke: {event}: status {r.get('statusCode')} ({'ok' if ok else 'UNEXPECTED'})")
sys.exit(0 if ok else 1)
PY
}
check health.json 200 '"status":"ok"'
check runs-without-token.json 401 ''
echo "lambda-smoke: ok"
