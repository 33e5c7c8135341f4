#!/usr/bin/env bash
# `make restore BACKUP=<archive>`: brings this machine back to the state of an archive written by
# `make backup` (stack/backup.sh).
#
#  1. checks the archive: manifest, target, size and SHA-256 of every part;
#  2. (main target) starts what is missing (`make up`), then stops what writes: pycsw, the harvest
#     consumers, the jobs worker and CKAN; Solr, Redis and PostgreSQL keep running;
#  3. puts back the configuration (the replaced files are kept in var/restore-previous/DATE/), the
#     database (dropped, created again, pg_restore) and the files of ckan.storage_path;
#  4. migrates the database to this code's version, rebuilds the Solr index from the database
#     (`ckan search-index rebuild`) and the CSW table (`ckan sinp csw-sync`);
#  5. (main target) starts the services again (`make up`) and compares the row counts with the manifest.
#
# SINP_BACKUP_TARGET=test restores var/test.ini, the ckan_test database and the ckan_test Solr core
# (for the tests): nothing of the running stack is stopped.
. "$(dirname "$0")/lib.sh"
backup_target

ARCHIVE=${1:-}
[ -n "$ARCHIVE" ] || die "name the archive: make restore BACKUP=backups/sinp-backup-....tar"
[ -f "$ARCHIVE" ] || die "$ARCHIVE: no such file"
ARCHIVE=$(cd "$(dirname "$ARCHIVE")" && pwd)/$(basename "$ARCHIVE")
T0=$(date +%s)

# --- 1. the archive -------------------------------------------------------------------------
mkdir -p "$VAR"
WORK=$(mktemp -d "$VAR/restore.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say "checking $ARCHIVE"
tar -xf "$ARCHIVE" -C "$WORK" || die "$ARCHIVE is not a readable tar archive"
"$PYTHON" "$ROOT/stack/backup_manifest.py" verify "$WORK" "$BACKUP_TARGET" \
    || die "the archive is damaged or not for this target (see above): nothing was changed"
manifest() { "$PYTHON" "$ROOT/stack/backup_manifest.py" get "$WORK" "$1"; }
for file in $TARGET_CONFIG_FILES; do
    if [ ! -f "$WORK/config/$file" ] && [ "$file" != stack.env ]; then
        die "the archive has no config/$file: nothing was changed"
    fi
done
DUMP_MAJOR=$(manifest versions.pg_dump | cut -d. -f1)
SERVER_MAJOR=${PG_CLUSTER%/*}
if [[ $DUMP_MAJOR =~ ^[0-9]+$ ]] && [ "$DUMP_MAJOR" -gt "$SERVER_MAJOR" ]; then
    die "the database was dumped by PostgreSQL $DUMP_MAJOR; this machine runs $SERVER_MAJOR: nothing was changed"
fi
COMMIT=$(manifest versions.git_commit)
HERE=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "${COMMIT%+*}" != "$HERE" ]; then
    warn "the archive was written by commit $COMMIT, this checkout is $HERE: the database is migrated to this code"
fi
say "archive of $(manifest created) ($(manifest host)): $(manifest counts.packages) packages," \
    "$(manifest counts.occurrences) occurrences"

# --- 2. services ------------------------------------------------------------------------------
if [ "$BACKUP_TARGET" = main ]; then
    if ! { [ -x "$CKAN_BIN" ] && pg_isready -q -h "$PGHOST" -p "$PGPORT" && http_ok "$SOLR_URL/select?q=*:*&rows=0"; }; then
        say "starting the stack first (make up)"
        bash "$ROOT/stack/up.sh" || die "\`make up\` failed: nothing was restored"
    fi
    say "stopping what writes to the database"
    for name in pycsw scheduler harvest-fetch harvest-gather ckan-worker ckan; do
        stop_service "$name"
    done
else
    pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "PostgreSQL does not answer: run \`make up\` first"
    http_ok "$TARGET_SOLR_URL/select?q=*:*&rows=0" || die "Solr ($TARGET_SOLR_URL) does not answer: run \`make up\` first"
fi

# --- 3. configuration, database, files --------------------------------------------------------
PREVIOUS=$VAR/restore-previous/$(date -u +%Y%m%dT%H%M%SZ)
STORAGE=""
[ -f "$TARGET_INI" ] && STORAGE=$(ini_get "$TARGET_INI" ckan.storage_path)
STORAGE=${STORAGE:-$TARGET_STORAGE_DEFAULT}
umask 077
mkdir -p "$PREVIOUS"
for file in $TARGET_CONFIG_FILES; do
    [ -f "$WORK/config/$file" ] || continue
    [ -f "$VAR/$file" ] && cp -p "$VAR/$file" "$PREVIOUS/$file"
    cp "$WORK/config/$file" "$VAR/$file"
    chmod 600 "$VAR/$file"
done
umask 022
say "configuration restored (the replaced files are in $PREVIOUS)"
load_secrets
if [ "$BACKUP_TARGET" = main ]; then
    ensure_db_roles  # the archive's passwords (var/secrets.env) for the CKAN owner and the CSW reader
    TARGET_DB_URL=$CKAN_DB_URL
else
    TARGET_DB_URL=$CKAN_TEST_DB_URL
fi
# this machine's addresses and paths; the archive's secrets (beaker, JWT) are kept
"$CKAN_BIN" config-tool "$TARGET_INI" "sqlalchemy.url=$TARGET_DB_URL" "solr_url=$TARGET_SOLR_URL" \
    "ckan.redis.url=$TARGET_REDIS_URL" "ckan.storage_path=$STORAGE" >>"$LOG_DIR/restore.log" 2>&1 \
    || die "ckan config-tool failed on $TARGET_INI: see $LOG_DIR/restore.log"

say "restoring database $TARGET_DB"
psql_super postgres "DROP DATABASE IF EXISTS \"$TARGET_DB\" WITH (FORCE);" || die "could not drop $TARGET_DB"
as_postgres "createdb -p $PGPORT -O $CKAN_DB_USER -E UTF8 -T template0 $TARGET_DB" || die "could not create $TARGET_DB"
psql_super "$TARGET_DB" "GRANT CONNECT ON DATABASE \"$TARGET_DB\" TO $CSW_DB_USER;" \
    || die "could not grant $CSW_DB_USER access to $TARGET_DB"
as_postgres "pg_restore -p $PGPORT -d $TARGET_DB --exit-on-error" <"$WORK/database.dump" >>"$LOG_DIR/restore.log" 2>&1 \
    || die "pg_restore into $TARGET_DB failed: see $LOG_DIR/restore.log"

say "restoring the files of $STORAGE"
mkdir -p "$STORAGE"
find "$STORAGE" -mindepth 1 -maxdepth 1 ! -name webassets -exec rm -rf {} +
tar -xzf "$WORK/storage.tar.gz" -C "$STORAGE" --no-same-owner || die "could not extract the files into $STORAGE"

# --- 4. schema, search index, CSW table -------------------------------------------------------
ckan_step() {  # ckan_step WHAT ARGS...: a CKAN command on the target configuration, logged
    local what=$1
    shift
    "$CKAN_BIN" -c "$TARGET_INI" "$@" >>"$LOG_DIR/restore.log" 2>&1 || die "$what failed: see $LOG_DIR/restore.log"
}
say "migrating the database to this code's version"
ckan_step "ckan db upgrade" db upgrade
ckan_step "ckan db pending-migrations" db pending-migrations --apply
ckan_step "ckan sinp init-db" sinp init-db
say "rebuilding the Solr index from the database"
ckan_step "ckan search-index rebuild" search-index rebuild -q
say "rebuilding the CSW table"
ckan_step "ckan sinp csw-sync" sinp csw-sync

# --- 5. services, checks ------------------------------------------------------------------------
if [ "$BACKUP_TARGET" = main ]; then
    say "starting the services again (make up)"
    bash "$ROOT/stack/up.sh" || die "\`make up\` failed after the restore: see the message above"
fi
COUNTS=$(target_counts) || die "could not count the rows of $TARGET_DB"
mismatch=0
for key in packages resources users api_tokens occurrences deposits; do
    now=$(echo "$COUNTS" | sed -n "s/^counts\.$key=//p")
    then_=$(manifest "counts.$key")
    if [ "$now" != "$then_" ]; then
        warn "$key: $now after the restore, $then_ in the archive"
        mismatch=1
    fi
done
[ "$mismatch" = 0 ] || die "the restored database differs from the archive's counts (see above)"
waiting=$(as_postgres "psql -X -At -p $PGPORT -d $TARGET_DB -c \"SELECT count(*) FROM sinp_deposit WHERE status IN ('pending', 'running')\"")
if [ "${waiting:-0}" != 0 ]; then
    warn "$waiting deposit(s) were pending or running at backup time: run them again with the action sinp_qc_run"
fi
say "restored $ARCHIVE into $TARGET_DB in $(($(date +%s) - T0))s"
