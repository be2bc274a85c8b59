#!/usr/bin/env bash
# Lints the SAM template offline (no AWS credentials needed):
#   cfn-lint 1.58.0 infra/template.yaml
#   sam validate --lint (aws-sam-cli 1.170.0), with samconfig.toml at the repo root
# Both are installed (once) in a venv under $TOOLS (default $HOME/.cache/rostersync-ci/lint).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${TOOLS:-$HOME/.cache/rostersync-ci}
VENV="$TOOLS/lint"
CFN_LINT_VERSION=1.58.0
SAM_VERSION=1.170.0

installed() {
    [ -x "$VENV/bin/cfn-lint" ] && [ -x "$VENV/bin/sam" ] \
        && "$VENV/bin/python" - "$CFN_LINT_VERSION" "$SAM_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(version("cfn-lint") != sys.argv[1] or version("aws-sam-cli") != sys.argv[2])
PY
}

if ! installed; then
    echo "lint-template: installing cfn-lint $CFN_LINT_VERSION and aws-sam-cli $SAM_VERSION into $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$TOOLS"
    python3 -m venv "$VENV" || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_VERSION"
fi

export SAM_CLI_TELEMETRY=0 AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
cd "$ROOT"
echo "lint-template: cfn-lint infra/template.yaml (with rostersync's encryption and IAM rules)" >&2
"$VENV/bin/cfn-lint" --append-rules infra/cfn-rules -- infra/template.yaml
# The rules' own test: a template that breaks each of them must fail with each code.
bad=$("$VENV/bin/cfn-lint" --append-rules infra/cfn-rules --include-checks E9101 E9102 --format parseable -- infra/cfn-rules/tests/bad.yaml || true)
for code in E9101 E9102; do
    printf '%s\n' "$bad" | grep -q ":$code:" || { echo "lint-template: rule $code did not fire on infra/cfn-rules/tests/bad.yaml" >&2; exit 1; }
done
echo "lint-template: sam validate --lint" >&2
"$VENV/bin/sam" validate --lint --template-file infra/template.yaml --config-file samconfig.toml
echo "lint-template: ok" >&2
