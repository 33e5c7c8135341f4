#!/usr/bin/env bash
# Starts the whole local stack in the background and returns once every service
# answers its health check: PostgreSQL/PostGIS, Redis, Solr, CKAN (web, jobs
# worker, harvest consumers), pycsw and the map server (MapServer: WMS, WFS, OGC
# API Features). Idempotent: a running service is left as it is. On any failure
# it names the service and its log, and stops what this run started.
. "$(dirname "$0")/lib.sh"

T0=$(date +%s)
rm -f "$RUN_DIR/started-this-run"

rollback() {
    local rc=$?
    if [ "$rc" != 0 ] && [ -f "$RUN_DIR/started-this-run" ]; then
        warn "stopping what this run started"
        tac "$RUN_DIR/started-this-run" | while read -r name; do
            if [ "$name" = postgres ]; then
                pg_ctlcluster ${PG_CLUSTER/\// } stop >/dev/null 2>&1 || true
                rm -f "$RUN_DIR/postgres.started"
            else
                stop_service "$name" || true
            fi
        done
    fi
    rm -f "$RUN_DIR/started-this-run"
}
trap rollback EXIT

bash "$ROOT/stack/install.sh"
load_secrets
# a service that died since the last run (dead or zombie pid, pid reused) is started again below
for svc in redis solr ckan ckan-worker harvest-gather harvest-fetch scheduler pycsw mapserver; do
    forget_dead "$svc"
done

# --- PostgreSQL + PostGIS (Debian cluster; stopped by `make down` only if we started it) ---
start_postgres() {
    local ver=${PG_CLUSTER%/*} name=${PG_CLUSTER#*/} status port
    status=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $4}')
    port=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v n="$name" '$1==v && $2==n {print $3}')
    [ -n "$port" ] || die "PostgreSQL cluster $PG_CLUSTER does not exist (pg_lsclusters); set SINP_PG_CLUSTER"
    [ "$port" = "$PGPORT" ] || die "PostgreSQL cluster $PG_CLUSTER listens on port $port, not PGPORT=$PGPORT"
    if [ "$status" != online ]; then
        if port_in_use "$PGPORT"; then
            fail_service postgres "port $PGPORT is already taken by another program"
        fi
        say "starting PostgreSQL $PG_CLUSTER on port $PGPORT"
        ln -sf "/var/log/postgresql/postgresql-$ver-$name.log" "$LOG_DIR/postgres.log"
        pg_ctlcluster "$ver" "$name" start >>"$LOG_DIR/postgres-ctl.log" 2>&1 \
            || fail_service postgres "pg_ctlcluster $ver $name start failed"
        touch "$RUN_DIR/postgres.started"
        echo postgres >>"$RUN_DIR/started-this-run"
    fi
    wait_for postgres 30 pg_isready -q -h "$PGHOST" -p "$PGPORT"
}

setup_databases() {
    ensure_db_roles
    local db
    for db in "$CKAN_DB" "$CKAN_TEST_DB"; do
        if ! as_postgres "psql -X -p $PGPORT -tAc \"SELECT 1 FROM pg_database WHERE datname='$db'\"" | grep -q 1; then
            as_postgres "createdb -p $PGPORT -O $CKAN_DB_USER -E UTF8 -T template0 $db" \
                || die "could not create database $db"
        fi
        psql_super "$db" "CREATE EXTENSION IF NOT EXISTS postgis;
GRANT CONNECT ON DATABASE $db TO $CSW_DB_USER;
GRANT CONNECT ON DATABASE $db TO $FLUX_DB_USER;" || die "could not enable PostGIS in $db"
    done
}

# --- Redis -----------------------------------------------------------------------------
redis_ping() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

# Queued jobs survive a restart: append-only file in var/redis, fsync every second.
start_redis() {
    if healthy_or_stop redis 20 redis_ping; then
        # a Redis started by an older `make up` without persistence is switched to it in place
        if [ "$(redis-cli -p "$REDIS_PORT" config get appendonly | tail -n 1)" != yes ]; then
            say "Redis: turning on the append-only file"
            redis-cli -p "$REDIS_PORT" config set appendfsync everysec >/dev/null
            redis-cli -p "$REDIS_PORT" config set appendonly yes | grep -q OK \
                || fail_service redis "could not turn on the append-only file"
        fi
        return 0
    fi
    if port_in_use "$REDIS_PORT"; then
        fail_service redis "port $REDIS_PORT is already taken by another program (set REDIS_PORT)"
    fi
    mkdir -p "$VAR/redis"
    say "starting Redis on 127.0.0.1:$REDIS_PORT"
    start_bg redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --appendonly yes --appendfsync everysec \
        --dir "$VAR/redis" --daemonize no
    wait_for redis 20 redis_ping
}

# --- Solr ------------------------------------------------------------------------------
start_solr() {
    if healthy_or_stop solr 120 http_ok "$SOLR_URL/select?q=*:*&rows=0&wt=json"; then
        return 0
    fi
    if port_in_use "$SOLR_PORT"; then
        fail_service solr "port $SOLR_PORT is already taken by another program (set SOLR_PORT)"
    fi
    say "starting Solr 9.10.1 on 127.0.0.1:$SOLR_PORT"
    start_bg solr java -Xms128m "-Xmx$SOLR_HEAP" -XX:+UseSerialGC -cp "$SOLR_DIR/lib/*" \
        "$ROOT/stack/solr/Launcher.java" "$SOLR_DIR/home" "$SOLR_PORT"
    wait_for solr 120 http_ok "$SOLR_URL/select?q=*:*&rows=0&wt=json"
    wait_for solr 30 http_ok "$SOLR_TEST_URL/select?q=*:*&rows=0&wt=json"
}

# --- CKAN configuration, database and admin --------------------------------------------
write_ckan_ini() {  # write_ckan_ini FILE DB_URL SOLR_URL REDIS_URL SITE_ID
    local ini=$1
    if [ ! -f "$ini" ]; then
        "$CKAN_BIN" generate config "$ini" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
            || die "ckan generate config failed: see $LOG_DIR/ckan-setup.log"
    fi
    mkdir -p "$VAR/storage"
    "$CKAN_BIN" config-tool "$ini" -f "$ROOT/stack/ckan-options.ini" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "ckan config-tool failed: see $LOG_DIR/ckan-setup.log"
    "$CKAN_BIN" config-tool "$ini" \
        "sqlalchemy.url=$2" "solr_url=$3" "ckan.redis.url=$4" "ckan.site_id=$5" \
        "ckan.site_url=$CKAN_URL" "ckan.storage_path=$VAR/storage" \
        "licenses_group_url=file://$ROOT/schemas/licenses.json" \
        "ckanext.sinp.csw.reader_role=$CSW_DB_USER" \
        "ckanext.sinp.flux.reader_role=$FLUX_DB_USER" \
        "ckanext.sinp.flux.public_url=$MAPSERVER_URL/${5//-/_}" \
        "ckanext.sinp.csw.url=$CSW_URL" \
        "ckanext.sinp.csw.contact_email=$SINP_CONTACT_EMAIL" \
        "ckanext.sinp.demo.admin_user=$SINP_ADMIN_USER" \
        >>"$LOG_DIR/ckan-setup.log" 2>&1 || die "ckan config-tool failed: see $LOG_DIR/ckan-setup.log"
}

init_ckan_db() {  # init_ckan_db INI
    "$CKAN_BIN" -c "$1" db upgrade >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "ckan db upgrade failed ($1): see $LOG_DIR/ckan-setup.log"
    "$CKAN_BIN" -c "$1" db pending-migrations --apply >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "applying the plugins' migrations failed ($1): see $LOG_DIR/ckan-setup.log"
    "$CKAN_BIN" -c "$1" sinp init-db >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "ckan sinp init-db failed ($1): see $LOG_DIR/ckan-setup.log"
    "$CKAN_BIN" -c "$1" sinp csw-sync >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "ckan sinp csw-sync failed ($1): see $LOG_DIR/ckan-setup.log"
    "$CKAN_BIN" -c "$1" sinp taxref-load "$ROOT/schemas/referentiels/taxref/TAXREFv18_extrait_BFC.txt" \
        --version "TAXREF v18 (extrait Bourgogne-Franche-Comté)" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "loading the TAXREF extract failed ($1): see $LOG_DIR/ckan-setup.log"
    local ref="$ROOT/schemas/referentiels"
    "$CKAN_BIN" -c "$1" sinp habref-load "$ref/habref/HABREF_50_extrait.csv" \
        --version-label "HABREF 5.0 (extrait)" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "loading the HABREF extract failed ($1): see $LOG_DIR/ckan-setup.log"
    # every commune of France (COG 2026, generated from Etalab's list by communes/generate.py)
    "$CKAN_BIN" -c "$1" sinp geo-load communes "$ref/communes/communes_france.csv" \
        --version-label "COG 2026 (Etalab, decoupage-administratif 6.0.0)" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "loading the communes referential failed ($1): see $LOG_DIR/ckan-setup.log"
    local kind file
    for kind in departements:departements/departements_bfc.csv \
                mailles:mailles/mailles10km_bfc.csv territoire:territoire/bourgogne-franche-comte.geojson; do
        file=${kind#*:}
        "$CKAN_BIN" -c "$1" sinp geo-load "${kind%%:*}" "$ref/$file" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
            || die "loading the ${kind%%:*} referential failed ($1): see $LOG_DIR/ckan-setup.log"
    done
    "$CKAN_BIN" -c "$1" sinp sensitivity-load "$ref/sensibilite/sensibilite_bfc.csv" \
        --version "BFC, extrait de démonstration" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "loading the sensitivity referential failed ($1): see $LOG_DIR/ckan-setup.log"
}

setup_ckan() {
    write_ckan_ini "$CKAN_INI" "$CKAN_DB_URL" "$SOLR_URL" "$REDIS_URL" sinp
    write_ckan_ini "$CKAN_TEST_INI" "$CKAN_TEST_DB_URL" "$SOLR_TEST_URL" "$REDIS_TEST_URL" sinp-test
    # tests must not send mail nor leak the main catalogue's settings; the tests' partner servers
    # (local pycsw, MTD imitation) run on 127.0.0.1: allow-listed there (never the service ports)
    "$CKAN_BIN" config-tool "$CKAN_TEST_INI" "ckan.storage_path=$VAR/storage-test" "smtp.server=" \
        "ckanext.sinp.http.allowed_hosts=127.0.0.1" \
        >>"$LOG_DIR/ckan-setup.log" 2>&1
    if [ "$(stamp_db)" != "$(cat "$VAR/stamps/ckan-db" 2>/dev/null)" ]; then
        say "migrating the CKAN databases ($CKAN_DB, $CKAN_TEST_DB)"
        init_ckan_db "$CKAN_INI"
        init_ckan_db "$CKAN_TEST_INI"
        mkdir -p "$VAR/stamps"
        stamp_db >"$VAR/stamps/ckan-db"
    fi
    if ! "$CKAN_BIN" -c "$CKAN_INI" user show "$SINP_ADMIN_USER" 2>/dev/null | grep -q "name=$SINP_ADMIN_USER"; then
        say "creating the local sysadmin '$SINP_ADMIN_USER'"
        "$CKAN_BIN" -c "$CKAN_INI" user add "$SINP_ADMIN_USER" "email=$SINP_ADMIN_USER@sinp.invalid" \
            "password=$SINP_ADMIN_PASSWORD" "fullname=Administrateur local" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
            || die "could not create the sysadmin: see $LOG_DIR/ckan-setup.log"
    fi
    "$CKAN_BIN" -c "$CKAN_INI" sysadmin add "$SINP_ADMIN_USER" >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "could not make '$SINP_ADMIN_USER' a sysadmin: see $LOG_DIR/ckan-setup.log"
}

# The databases are migrated again whenever the code or the CKAN install changes.
stamp_db() {
    cat "$ROOT/requirements/ckan.txt" "$ROOT/stack/ckan-options.ini" \
        "$ROOT"/ckanext-sinp/ckanext/sinp/csw/*.py "$ROOT"/pycsw_config/mappings.py \
        "$ROOT"/ckanext-sinp/ckanext/sinp/referentials/*.py "$ROOT"/schemas/referentiels/*/*.* \
        "$ROOT"/ckanext-sinp/ckanext/sinp/occurrences/store.py "$ROOT"/ckanext-sinp/ckanext/sinp/occurrences/protection_store.py \
        "$ROOT"/ckanext-sinp/ckanext/sinp/outbox/store.py "$ROOT"/ckanext-sinp/ckanext/sinp/occurrences/map_store.py \
        "$ROOT"/ckanext-sinp/ckanext/sinp/domain/protection.py "$ROOT"/schemas/occurrence.yaml \
        2>/dev/null | sha256sum
}

# --- CKAN processes ----------------------------------------------------------------------
start_ckan() {
    if ! healthy_or_stop ckan 120 http_ok "$CKAN_URL/api/3/action/status_show"; then
        if port_in_use "$CKAN_PORT"; then
            fail_service ckan "port $CKAN_PORT is already taken by another program (set CKAN_PORT)"
        fi
        say "starting CKAN on $CKAN_HOST:$CKAN_PORT"
        # --no-control-socket: gunicorn 27 otherwise shares ~/.gunicorn/gunicorn.ctl between servers
        CKAN_INI=$CKAN_INI start_bg ckan "$CKAN_VENV/bin/gunicorn" ckanext.sinp.wsgi:application --no-control-socket \
            --bind "$CKAN_HOST:$CKAN_PORT" --workers "$CKAN_WEB_WORKERS" --timeout 120 \
            --max-requests 2000 --max-requests-jitter 200 --access-logfile - --error-logfile -
    fi
    if ! pid_of ckan-worker >/dev/null; then
        start_bg ckan-worker "$CKAN_BIN" -c "$CKAN_INI" jobs worker
    fi
    if ! pid_of harvest-gather >/dev/null; then
        start_bg harvest-gather "$CKAN_BIN" -c "$CKAN_INI" harvester gather-consumer
    fi
    if ! pid_of harvest-fetch >/dev/null; then
        start_bg harvest-fetch "$CKAN_BIN" -c "$CKAN_INI" harvester fetch-consumer
    fi
    wait_for ckan 120 http_ok "$CKAN_URL/api/3/action/status_show"
    wait_for ckan-worker 60 logged_since_start ckan-worker "has started on queue"
    # what an outage left behind (deposits never checked, records missing from the search index
    # or the CSW table) is put right before the platform is declared up
    "$CKAN_BIN" -c "$CKAN_INI" sinp reconcile >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "ckan sinp reconcile failed: see $LOG_DIR/ckan-setup.log"
    say "reconciled: $(tail -n 1 "$LOG_DIR/ckan-setup.log")"
    # the outbox dispatcher, periodic harvests and hourly reconciliations
    if ! pid_of scheduler >/dev/null; then
        start_bg scheduler "$CKAN_BIN" -c "$CKAN_INI" sinp scheduler
    fi
    local svc
    for svc in harvest-gather harvest-fetch scheduler; do
        pid_of "$svc" >/dev/null || fail_service "$svc" "the process exited during start-up"
    done
}

admin_token() {
    local token=""
    if [ -f "$STACK_ENV" ]; then
        token=$(sed -n 's/^SINP_ADMIN_TOKEN=//p' "$STACK_ENV")
    fi
    if [ -n "$token" ] && curl -fsS -o /dev/null -H "Authorization: $token" \
        "$CKAN_URL/api/3/action/am_following_user?id=$SINP_ADMIN_USER" 2>/dev/null; then
        echo "$token"
        return 0
    fi
    "$CKAN_BIN" -c "$CKAN_INI" user token add "$SINP_ADMIN_USER" sinp-stack 2>>"$LOG_DIR/ckan-setup.log" \
        | tail -n 1 | tr -d '[:space:]'
}

# --- pycsw ---------------------------------------------------------------------------------
start_pycsw() {
    if healthy_or_stop pycsw 60 http_ok "$CSW_LOCAL/csw?service=CSW&version=2.0.2&request=GetCapabilities"; then
        return 0
    fi
    if port_in_use "$CSW_PORT"; then
        fail_service pycsw "port $CSW_PORT is already taken by another program (set CSW_PORT)"
    fi
    say "starting pycsw on $CSW_HOST:$CSW_PORT"
    PYCSW_SERVER_URL=$CSW_URL PYCSW_DATABASE_URL=$CSW_DB_URL SINP_CONTACT_EMAIL=$SINP_CONTACT_EMAIL \
        start_bg pycsw "$PYCSW_VENV/bin/gunicorn" --chdir "$ROOT/pycsw_config" wsgi:application --no-control-socket \
        --bind "$CSW_HOST:$CSW_PORT" --workers "$CSW_WORKERS" --max-requests 200 --max-requests-jitter 20 \
        --timeout 60 --access-logfile - --error-logfile -
    wait_for pycsw 60 http_ok "$CSW_LOCAL/csw?service=CSW&version=2.0.2&request=GetCapabilities"
}

# --- map server ------------------------------------------------------------------------------
# The read-only role reads the views of sinp_flux (`ckan sinp init-db` grants them too; granted again
# here for a role created after the databases were migrated). Nothing else: no table of public.
grant_flux_reader() {
    local db
    for db in "$CKAN_DB" "$CKAN_TEST_DB"; do
        psql_super "$db" "DO \$\$BEGIN
  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'sinp_flux') THEN
    GRANT USAGE ON SCHEMA sinp_flux TO $FLUX_DB_USER;
    GRANT SELECT ON ALL TABLES IN SCHEMA sinp_flux TO $FLUX_DB_USER;
  END IF;
END\$\$;" || die "could not grant the views of sinp_flux to $FLUX_DB_USER in $db"
    done
}

start_mapserver() {
    command -v mapserv >/dev/null || die "mapserv is missing (Debian package cgi-mapserver): run make install"
    render_mapserver
    lighttpd -tt -f "$MAPSERVER_DIR/lighttpd.conf" >>"$LOG_DIR/mapserver.log" 2>&1 \
        || fail_service mapserver "lighttpd refuses its configuration $MAPSERVER_DIR/lighttpd.conf"
    # mapserv reads the map files at each request; lighttpd's own configuration only at start
    local started_with
    started_with=$(sha256sum <"$MAPSERVER_DIR/lighttpd.conf")
    if pid_of mapserver >/dev/null && [ "$started_with" != "$(cat "$RUN_DIR/mapserver.conf-sum" 2>/dev/null)" ]; then
        say "the map server's configuration changed: restarting it"
        stop_service mapserver
    fi
    if healthy_or_stop mapserver 30 mapserver_ok; then
        return 0
    fi
    if port_in_use "$MAPSERVER_PORT"; then
        fail_service mapserver "port $MAPSERVER_PORT is already taken by another program (set MAPSERVER_PORT)"
    fi
    say "starting the map server (MapServer, lighttpd) on $MAPSERVER_HOST:$MAPSERVER_PORT"
    rm -f "$RUN_DIR"/mapserver.sock*
    start_bg mapserver lighttpd -D -f "$MAPSERVER_DIR/lighttpd.conf"
    echo "$started_with" >"$RUN_DIR/mapserver.conf-sum"
    wait_for mapserver 30 mapserver_ok
}

start_postgres
setup_databases
start_redis
start_solr
setup_ckan
start_ckan
CSW_LOCAL=http://$CSW_HOST:$CSW_PORT
start_pycsw
grant_flux_reader
start_mapserver

# the records (JSON) and the generated observations (demo/*.py): a change reloads them, and the
# map's roll-ups and the indicators are computed again
DEMO_STAMP=$(cat "$ROOT"/ckanext-sinp/ckanext/sinp/demo/*.json "$ROOT"/ckanext-sinp/ckanext/sinp/demo/*.py \
    "$ROOT"/schemas/*.yaml "$ROOT"/schemas/referentiels/taxref/*.txt | sha256sum)
if [ "$DEMO_STAMP" != "$(cat "$VAR/stamps/demo-data" 2>/dev/null)" ]; then
    say "loading demo data (records, ~3 900 generated observations, map roll-ups, indicators)"
    "$CKAN_BIN" -c "$CKAN_INI" sinp demo-data >>"$LOG_DIR/ckan-setup.log" 2>&1 \
        || die "loading the demo data failed: see $LOG_DIR/ckan-setup.log"
    echo "$DEMO_STAMP" >"$VAR/stamps/demo-data"
fi

TOKEN=$(admin_token)
[ -n "$TOKEN" ] || die "could not create an API token for '$SINP_ADMIN_USER': see $LOG_DIR/ckan-setup.log"
# The account may come from another checkout sharing this PostgreSQL: give it this checkout's password.
curl -fsS -o /dev/null -H "Authorization: $TOKEN" -H "Content-Type: application/json" \
    -d "{\"id\": \"$SINP_ADMIN_USER\", \"password\": \"$SINP_ADMIN_PASSWORD\"}" \
    "$CKAN_URL/api/3/action/user_patch" || die "could not set the password of '$SINP_ADMIN_USER'"
umask 077
cat >"$STACK_ENV" <<EOF
# Written by \`make up\` on $(date -Is). Shell-sourceable.
CKAN_URL=$CKAN_URL
CSW_URL=$CSW_URL
SOLR_URL=$SOLR_URL
SOLR_TEST_URL=$SOLR_TEST_URL
REDIS_URL=$REDIS_URL
CKAN_INI=$CKAN_INI
CKAN_TEST_INI=$CKAN_TEST_INI
CKAN_BIN=$CKAN_BIN
CKAN_VENV=$CKAN_VENV
PYCSW_VENV=$PYCSW_VENV
PYCSW_CONFIG_DIR=$ROOT/pycsw_config
CSW_TEST_DB_URL=$CSW_TEST_DB_URL
WMS_URL=$WMS_URL
WFS_URL=$WFS_URL
OGCAPI_URL=$OGCAPI_URL
WMS_TEST_URL=$WMS_TEST_URL
WFS_TEST_URL=$WFS_TEST_URL
OGCAPI_TEST_URL=$OGCAPI_TEST_URL
FLUX_DB_USER=$FLUX_DB_USER
SINP_ADMIN_USER=$SINP_ADMIN_USER
SINP_ADMIN_PASSWORD=$SINP_ADMIN_PASSWORD
SINP_ADMIN_TOKEN=$TOKEN
SINP_LOG_DIR=$LOG_DIR
EOF
umask 022
rm -f "$RUN_DIR/started-this-run"
say "stack up in $(($(date +%s) - T0))s"
cat <<EOF
  CKAN     $CKAN_URL   (sysadmin: $SINP_ADMIN_USER / $SINP_ADMIN_PASSWORD)
  CSW      $CSW_URL?service=CSW&version=2.0.2&request=GetCapabilities
  WMS      $WMS_URL?SERVICE=WMS&REQUEST=GetCapabilities
  WFS      $WFS_URL?SERVICE=WFS&REQUEST=GetCapabilities
  OGC API  $OGCAPI_URL
  Solr     $SOLR_URL
  Redis    $REDIS_URL
  Settings $STACK_ENV   Logs $LOG_DIR/
EOF
