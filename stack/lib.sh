# shellcheck shell=bash
# Shared settings and helpers of the local stack scripts (sourced, not run).
#
# Every setting can be overridden from the environment; defaults bind 127.0.0.1 only.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VAR=${SINP_VAR:-$ROOT/var}
LOG_DIR=$VAR/log
RUN_DIR=$VAR/run

CKAN_HOST=${CKAN_HOST:-127.0.0.1}
CKAN_PORT=${CKAN_PORT:-5000}
CKAN_URL=${CKAN_URL:-http://$CKAN_HOST:$CKAN_PORT}
CSW_HOST=${CSW_HOST:-127.0.0.1}
CSW_PORT=${CSW_PORT:-8000}
CSW_URL=${CSW_URL:-http://$CSW_HOST:$CSW_PORT/csw}
SOLR_PORT=${SOLR_PORT:-8983}
SOLR_URL=${SOLR_URL:-http://127.0.0.1:$SOLR_PORT/solr/ckan}
SOLR_TEST_URL=${SOLR_TEST_URL:-http://127.0.0.1:$SOLR_PORT/solr/ckan_test}
SOLR_HEAP=${SOLR_HEAP:-512m}
REDIS_PORT=${REDIS_PORT:-6379}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
REDIS_TEST_URL=${REDIS_TEST_URL:-redis://127.0.0.1:$REDIS_PORT/1}
PG_CLUSTER=${SINP_PG_CLUSTER:-15/main}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
CKAN_DB=${CKAN_DB:-ckan}
CKAN_TEST_DB=${CKAN_TEST_DB:-ckan_test}
CKAN_DB_USER=${CKAN_DB_USER:-ckan}
CSW_DB_USER=${CSW_DB_USER:-sinp_csw_reader}
CKAN_WEB_WORKERS=${CKAN_WEB_WORKERS:-2}
CSW_WORKERS=${CSW_WORKERS:-2}
SINP_ADMIN_USER=${SINP_ADMIN_USER:-admin}

CKAN_VENV=$VAR/venv/ckan
PYCSW_VENV=$VAR/venv/pycsw
CKAN_BIN=$CKAN_VENV/bin/ckan
CKAN_INI=$VAR/ckan.ini
CKAN_TEST_INI=$VAR/test.ini
PYCSW_TEST_URL_DB=""  # filled by secrets
SOLR_DIR=$VAR/solr
STACK_ENV=$VAR/stack.env
SECRETS=$VAR/secrets.env

# The Python that builds the virtualenvs (3.11: pycsw 2.6.2 imports `imp`, gone in 3.12).
PYTHON=${SINP_PYTHON:-$(command -v python3.11 || command -v python3)}

mkdir -p "$LOG_DIR" "$RUN_DIR"

say()  { printf '\033[1m[sinp]\033[0m %s\n' "$*"; }
warn() { printf '\033[33m[sinp]\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[31m[sinp] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# Secrets are generated once per checkout and kept in var/ (never committed).
load_secrets() {
    if [ ! -f "$SECRETS" ]; then
        umask 077
        {
            echo "CKAN_DB_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
            echo "CSW_DB_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
            echo "SINP_ADMIN_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        } >"$SECRETS"
        umask 022
    fi
    # shellcheck disable=SC1090
    . "$SECRETS"
    CKAN_DB_URL=postgresql://$CKAN_DB_USER:$CKAN_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_DB
    CKAN_TEST_DB_URL=postgresql://$CKAN_DB_USER:$CKAN_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_TEST_DB
    CSW_DB_URL=postgresql://$CSW_DB_USER:$CSW_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_DB
    CSW_TEST_DB_URL=postgresql://$CSW_DB_USER:$CSW_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_TEST_DB
}

# --- processes we start are tracked by pid files in var/run -------------------

pid_of() {  # prints the pid of a service we started, if it is alive
    local f=$RUN_DIR/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
        return 0
    fi
    rm -f "$f"
    return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# logged_since_start NAME PATTERN: PATTERN appears in the log after the last start of NAME
logged_since_start() {
    awk -v pat="$2" '/^=== .* starting: / {found=0} index($0, pat) {found=1} END {exit !found}' "$LOG_DIR/$1.log"
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null; }

# start_bg NAME CMD...: starts CMD in its own session, logs to var/log/NAME.log, pid in var/run.
start_bg() {
    local name=$1
    shift
    local log=$LOG_DIR/$name.log
    echo "=== $(date -Is) starting: $*" >>"$log"
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/$name.pid"
    echo "$name" >>"$RUN_DIR/started-this-run"
}

# wait_for NAME TIMEOUT CHECK...: waits until CHECK succeeds while the process lives.
wait_for() {
    local name=$1 timeout=$2
    shift 2
    local waited=0
    until "$@"; do
        if [ -f "$RUN_DIR/$name.pid" ] && ! pid_of "$name" >/dev/null; then
            fail_service "$name" "the process exited during start-up"
        fi
        if [ "$waited" -ge "$timeout" ]; then
            fail_service "$name" "no answer to its health check after ${timeout}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

fail_service() {
    local name=$1 why=$2 log=$LOG_DIR/$1.log
    printf '\033[31m[sinp] ERROR:\033[0m service %s did not start: %s.\n' "$name" "$why" >&2
    if [ -f "$log" ]; then
        printf '[sinp] last lines of %s:\n' "$log" >&2
        tail -n 25 "$log" | sed 's/^/    /' >&2
    fi
    printf '[sinp] full log: %s\n' "$log" >&2
    exit 1
}

# stop_service NAME: TERM the process group we started, then KILL after a grace period.
stop_service() {
    local name=$1 pid i
    pid=$(pid_of "$name") || { rm -f "$RUN_DIR/$name.pid"; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name did not stop within 15s: killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
    say "stopped $name"
}

as_postgres() { (cd / && su postgres -s /bin/sh -c "$*"); }

psql_super() {  # psql_super DB SQL
    (cd / && PGOPTIONS="-c client_min_messages=warning" su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -p $PGPORT -d '$1'" <<<"$2")
}
