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
# The map server (MapServer 8 behind lighttpd, FastCGI): WMS, WFS and OGC API Features of the views of
# the sinp_flux schema, read with its own read-only role.
FLUX_DB_USER=${FLUX_DB_USER:-sinp_flux_reader}
MAPSERVER_HOST=${MAPSERVER_HOST:-127.0.0.1}
MAPSERVER_PORT=${MAPSERVER_PORT:-8090}
MAPSERVER_URL=${MAPSERVER_URL:-http://$MAPSERVER_HOST:$MAPSERVER_PORT}
MAPSERVER_PROCS=${MAPSERVER_PROCS:-2}
CKAN_WEB_WORKERS=${CKAN_WEB_WORKERS:-2}
CSW_WORKERS=${CSW_WORKERS:-2}
SINP_ADMIN_USER=${SINP_ADMIN_USER:-admin}
# The platform's contact e-mail (CKAN's ISO records, pycsw's capabilities, the portal's pages); a local default.
SINP_CONTACT_EMAIL=${SINP_CONTACT_EMAIL:-sinp@bourgogne-franche-comte.invalid}

CKAN_VENV=$VAR/venv/ckan
PYCSW_VENV=$VAR/venv/pycsw
CKAN_BIN=$CKAN_VENV/bin/ckan
CKAN_INI=$VAR/ckan.ini
CKAN_TEST_INI=$VAR/test.ini
PYCSW_TEST_URL_DB=""  # filled by secrets
SOLR_DIR=$VAR/solr
STACK_ENV=$VAR/stack.env
SECRETS=$VAR/secrets.env
MAPSERVER_DIR=$VAR/mapserver
# the catalogue's flows (database ckan) and the tests' (ckan_test), one map file each
WMS_URL=$MAPSERVER_URL/sinp/wms
WFS_URL=$MAPSERVER_URL/sinp/wfs
OGCAPI_URL=$MAPSERVER_URL/sinp/ogcapi
WMS_TEST_URL=$MAPSERVER_URL/sinp_test/wms
WFS_TEST_URL=$MAPSERVER_URL/sinp_test/wfs
OGCAPI_TEST_URL=$MAPSERVER_URL/sinp_test/ogcapi

# The Python that builds the virtualenvs (3.11: pycsw 2.6.2 imports `imp`, gone in 3.12).
PYTHON=${SINP_PYTHON:-$(command -v python3.11 || command -v python3)}

mkdir -p "$LOG_DIR" "$RUN_DIR"

# Descriptors inherited from the caller are closed (3 to 254; bash reads its script on 255): the services
# started below would keep them as long as they run, e.g. the lock of `flock LOCK make up`, held then by
# PostgreSQL, Solr, CKAN… until `make down`. The caller keeps its own (flock holds the lock until we exit).
for _sinp_fd in /proc/$$/fd/*; do
    _sinp_fd=${_sinp_fd##*/}
    if [ "$_sinp_fd" -gt 2 ] 2>/dev/null && [ "$_sinp_fd" -lt 255 ]; then
        eval "exec $_sinp_fd>&-" 2>/dev/null || true
    fi
done
unset _sinp_fd

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
    # a secret added after the file was written (the map server's role) is appended once
    if ! grep -q '^FLUX_DB_PASSWORD=' "$SECRETS"; then
        (umask 077; echo "FLUX_DB_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >>"$SECRETS")
    fi
    # shellcheck disable=SC1090
    . "$SECRETS"
    CKAN_DB_URL=postgresql://$CKAN_DB_USER:$CKAN_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_DB
    CKAN_TEST_DB_URL=postgresql://$CKAN_DB_USER:$CKAN_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_TEST_DB
    CSW_DB_URL=postgresql://$CSW_DB_USER:$CSW_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_DB
    CSW_TEST_DB_URL=postgresql://$CSW_DB_USER:$CSW_DB_PASSWORD@$PGHOST:$PGPORT/$CKAN_TEST_DB
}

# --- processes we start are tracked by pid files in var/run -------------------

# proc_stat PID: prints "STATE SESSION STARTTIME" of a process (fields 3, 6 and 22 of /proc/PID/stat).
proc_stat() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -ra fields <<<"${stat##*) }"  # the command name, in parentheses, may hold spaces
    echo "${fields[0]} ${fields[3]} ${fields[19]}"
}

proc_alive() {  # proc_alive PID: the process exists and is not a zombie (kill -0 succeeds on zombies)
    local state
    state=$(proc_stat "$1") || return 1
    case ${state%% *} in Z | X | x) return 1 ;; esac
}

# service_state NAME: prints "running PID", "zombie PID", "dead PID", "foreign PID" (the pid now
# belongs to another program) or "stopped" (no pid file). A pid file holds the pid; NAME.start holds
# the start time of the process, which tells a reused pid from ours (without it: a session leader).
service_state() {
    local f=$RUN_DIR/$1.pid pid state session start
    [ -f "$f" ] || { echo stopped; return 0; }
    pid=$(cat "$f")
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! read -r state session start < <(proc_stat "$pid"); then
        echo "dead ${pid:-?}"
    elif [ -f "$RUN_DIR/$1.start" ] && [ "$(cat "$RUN_DIR/$1.start")" != "$start" ]; then
        echo "foreign $pid"
    elif [[ $state =~ ^[ZXx]$ ]]; then
        echo "zombie $pid"
    elif [ ! -f "$RUN_DIR/$1.start" ] && [ "$session" != "$pid" ]; then
        echo "foreign $pid"
    else
        echo "running $pid"
    fi
}

pid_of() {  # prints the pid of a service we started, if it is alive (a zombie or a reused pid is not)
    local state
    state=$(service_state "$1")
    if [ "${state%% *}" = running ]; then
        echo "${state#* }"
        return 0
    fi
    rm -f "$RUN_DIR/$1.pid" "$RUN_DIR/$1.start"
    return 1
}

# forget_dead NAME: a service whose process died (or is a zombie) is reported and forgotten, so
# that `make up` starts it again.
forget_dead() {
    local state
    state=$(service_state "$1")
    case ${state%% *} in
        running | stopped) return 0 ;;
        zombie) warn "$1 has died (pid ${state#* } is a zombie): starting it again" ;;
        dead) warn "$1 has died (pid ${state#* } no longer exists): starting it again" ;;
        foreign) warn "$1 has died (pid ${state#* } now belongs to another program): starting it again" ;;
    esac
    rm -f "$RUN_DIR/$1.pid" "$RUN_DIR/$1.start"
}

# descendants PID: the live processes below PID (a job process of the worker runs in its own session,
# out of reach of a signal to the worker's process group).
descendants() {
    ps -e -o pid=,ppid=,stat= | awk -v root="$1" '
        $3 !~ /^Z/ {parent[$1] = $2}
        END {for (p in parent) {q = parent[p]; while (q in parent && q != root) q = parent[q]; if (q == root) print p}}'
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
    local stat
    if stat=$(proc_stat $!); then
        echo "${stat##* }" >"$RUN_DIR/$name.start"
    fi
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
# Its descendants in other sessions (the worker's job processes) get the same treatment once the
# service has exited or the grace period is over.
stop_service() {
    local name=$1 pid i kids kid
    pid=$(pid_of "$name") || { rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.start"; return 0; }
    kids=$(descendants "$pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        proc_alive "$pid" || break
        sleep 0.5
    done
    if proc_alive "$pid"; then
        warn "$name did not stop within 15s: killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    for kid in $kids; do
        if proc_alive "$kid"; then
            warn "$name: killing its remaining process $kid"
            kill -KILL "$kid" 2>/dev/null || true
        fi
    done
    rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.start"
    say "stopped $name"
}

# healthy_or_stop NAME TIMEOUT CHECK...: 0 if NAME runs and CHECK succeeds within TIMEOUT seconds;
# a service that runs but does not answer is stopped (1), so that the caller starts it again.
healthy_or_stop() {
    local name=$1 timeout=$2 waited=0 pid
    shift 2
    pid=$(pid_of "$name") || return 1
    until "$@"; do
        pid_of "$name" >/dev/null || { warn "$name (pid $pid) has exited: starting it again"; return 1; }
        if [ "$waited" -ge "$timeout" ]; then
            warn "$name (pid $pid) runs but has not answered its health check for ${timeout}s: restarting it"
            stop_service "$name"
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

as_postgres() { (cd / && su postgres -s /bin/sh -c "$*"); }

ensure_db_roles() {  # the CKAN owner, the read-only CSW and map server readers, with the passwords of var/secrets.env
    psql_super postgres "
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$CKAN_DB_USER') THEN
    CREATE ROLE $CKAN_DB_USER LOGIN PASSWORD '$CKAN_DB_PASSWORD';
  ELSE ALTER ROLE $CKAN_DB_USER LOGIN PASSWORD '$CKAN_DB_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$CSW_DB_USER') THEN
    CREATE ROLE $CSW_DB_USER LOGIN PASSWORD '$CSW_DB_PASSWORD';
  ELSE ALTER ROLE $CSW_DB_USER LOGIN PASSWORD '$CSW_DB_PASSWORD'; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$FLUX_DB_USER') THEN
    CREATE ROLE $FLUX_DB_USER LOGIN PASSWORD '$FLUX_DB_PASSWORD';
  ELSE ALTER ROLE $FLUX_DB_USER LOGIN PASSWORD '$FLUX_DB_PASSWORD'; END IF;
END\$\$;" || die "could not create the PostgreSQL roles"
}

psql_super() {  # psql_super DB SQL
    (cd / && PGOPTIONS="-c client_min_messages=warning" su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -p $PGPORT -d '$1'" <<<"$2")
}

# --- map server (MapServer 8 as FastCGI behind lighttpd, Debian's packages) ----------------------------

# mapserver_ok: both map files answer their WMS capabilities (lighttpd up, mapserv spawned, map files valid)
mapserver_ok() {
    local url
    for url in "$WMS_URL" "$WMS_TEST_URL"; do
        curl -fsS --max-time 5 "$url?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetCapabilities" 2>/dev/null \
            | grep -q '<WMS_Capabilities' || return 1
    done
}

# render_mapserver: var/mapserver/ by deploy/mapserver/render.sh: one map file per database (sinp →
# ckan, sinp_test → ckan_test), the libpq service file holding the read-only role's password (mode 600),
# MapServer's configuration (map keys, no map path from the request) and lighttpd's (127.0.0.1 only,
# mapserv spawned as FastCGI).
render_mapserver() {
    FLUX_MAPS="sinp:$CKAN_DB sinp_test:$CKAN_TEST_DB" FLUX_PUBLIC_URL=$MAPSERVER_URL \
        FLUX_DB_HOST=$PGHOST FLUX_DB_PORT=$PGPORT FLUX_DB_USER=$FLUX_DB_USER FLUX_DB_PASSWORD=$FLUX_DB_PASSWORD \
        SINP_CONTACT_EMAIL=$SINP_CONTACT_EMAIL LISTEN_HOST=$MAPSERVER_HOST LISTEN_PORT=$MAPSERVER_PORT \
        MAPSERVER_PROCS=$MAPSERVER_PROCS ACCESS_LOG=$LOG_DIR/mapserver-access.log SOCKET_DIR=$RUN_DIR \
        sh "$ROOT/deploy/mapserver/render.sh" "$MAPSERVER_DIR" || die "could not render the map server's configuration"
}

# --- backup and restore (stack/backup.sh, stack/restore.sh) -----------------------------------

# backup_target: the database, configuration, Solr core and files that `make backup`/`make restore`
# work on. SINP_BACKUP_TARGET=main (default: the catalogue) or test (var/test.ini, ckan_test).
backup_target() {
    BACKUP_TARGET=${SINP_BACKUP_TARGET:-main}
    BACKUP_DIR=${SINP_BACKUP_DIR:-$ROOT/backups}
    case $BACKUP_TARGET in
        main)
            TARGET_DB=$CKAN_DB TARGET_INI=$CKAN_INI TARGET_SOLR_URL=$SOLR_URL TARGET_REDIS_URL=$REDIS_URL
            TARGET_STORAGE_DEFAULT=$VAR/storage
            TARGET_CONFIG_FILES="secrets.env ckan.ini stack.env"
            ;;
        test)
            TARGET_DB=$CKAN_TEST_DB TARGET_INI=$CKAN_TEST_INI TARGET_SOLR_URL=$SOLR_TEST_URL
            TARGET_REDIS_URL=$REDIS_TEST_URL TARGET_STORAGE_DEFAULT=$VAR/storage-test
            TARGET_CONFIG_FILES="test.ini"  # the test configuration never changes the catalogue's secrets
            ;;
        *) die "SINP_BACKUP_TARGET=$BACKUP_TARGET: use main (the catalogue) or test (var/test.ini)" ;;
    esac
}

ini_get() {  # ini_get FILE KEY: the value of KEY in a CKAN ini file (last occurrence)
    sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -n 1
}

# target_counts: JSON facts checked after a restore (rows of what must come back).
target_counts() {
    as_postgres "psql -X -q -At -p $PGPORT -d $TARGET_DB" <<'SQL'
SELECT 'counts.packages=' || (SELECT count(*) FROM package)
UNION ALL SELECT 'counts.resources=' || (SELECT count(*) FROM resource)
UNION ALL SELECT 'counts.users=' || (SELECT count(*) FROM "user")
UNION ALL SELECT 'counts.api_tokens=' || (SELECT count(*) FROM api_token)
UNION ALL SELECT 'counts.occurrences=' || (SELECT count(*) FROM sinp_occurrence)
UNION ALL SELECT 'counts.deposits=' || (SELECT count(*) FROM sinp_deposit)
UNION ALL SELECT 'counts.csw_records=' || (SELECT count(*) FROM sinp_csw_record);
SQL
}
