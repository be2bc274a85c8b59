#!/usr/bin/env bash
# Property-based check of a running rostersync API against its own OpenAPI document.
#
#   bash .ci/schemathesis.sh BASE_URL TOKEN [DISTRICT]
#   bash .ci/schemathesis.sh http://127.0.0.1:8787 rs_... demo
#
# TOKEN is an admin token of DISTRICT (default `demo`), from `rostersync tokens create --district
# D`. The `{d}` path parameter is pinned to DISTRICT so that generated requests reach the handlers
# rather than the 404 of another district.
# Checks: no 5xx (not_a_server_error) and every response matches its documented schema
# (response_schema_conformance). Examples per operation: $SCHEMATHESIS_MAX_EXAMPLES (20).
# schemathesis (PyPI, pinned) is installed once in a venv under $HOME/.cache/rostersync-ci.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BASE_URL TOKEN [DISTRICT]" >&2
  exit 2
fi
base_url="${1%/}"
token="$2"
district="${3:-demo}"
version="4.32.5"
venv="$HOME/.cache/rostersync-ci/schemathesis-$version"

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

config="$(mktemp -d)/schemathesis.toml"
trap 'rm -rf "$(dirname "$config")"' EXIT
cat > "$config" <<TOML
[parameters]
"path.d" = "\${ROSTERSYNC_SCHEMATHESIS_DISTRICT}"
TOML

export ROSTERSYNC_SCHEMATHESIS_DISTRICT="$district"
# The token goes in a header only; schemathesis prints it masked in its report.
exec "$venv/bin/schemathesis" --config-file "$config" run "$base_url/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-20}" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --wait-for-schema 30 \
  --no-color \
  -H "Authorization: Bearer $token"
