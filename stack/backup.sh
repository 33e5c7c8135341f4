#!/usr/bin/env bash
# `make backup`: writes ONE archive of what cannot be rebuilt, and prints its path on its last line.
#
#   database.dump    pg_dump -Fc of the CKAN database: records, users and API tokens, occurrences,
#                    referentials, the sinp_* tables and the CSW table
#   storage.tar.gz   CKAN's ckan.storage_path: uploaded files (resources/), rejected-row files
#                    (sinp_qc/), user and group images; not webassets/ (a cache)
#   config/          var/secrets.env, var/ckan.ini (its secrets keep API tokens and sessions valid),
#                    var/stack.env; the test target: var/test.ini only
#   manifest.json    date, target, versions, row counts, size and SHA-256 of every part
#
# Not in it: virtualenvs, caches, logs, the Solr index and the Redis queues (rebuilt or transient).
# The services keep running: pg_dump reads one consistent snapshot; the files are copied after it.
# Settings: SINP_BACKUP_DIR (default backups/), SINP_BACKUP_TARGET (main, or test: var/test.ini).
. "$(dirname "$0")/lib.sh"
backup_target

[ -f "$TARGET_INI" ] || die "$TARGET_INI is missing: nothing to back up (run \`make up\` first)"
pg_isready -q -h "$PGHOST" -p "$PGPORT" || die "PostgreSQL does not answer on port $PGPORT: run \`make up\` first"
STORAGE=$(ini_get "$TARGET_INI" ckan.storage_path)
STORAGE=${STORAGE:-$TARGET_STORAGE_DEFAULT}

mkdir -p "$BACKUP_DIR"
umask 077  # the archive holds the secrets
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
NAME=sinp-backup-$BACKUP_TARGET-$STAMP
WORK=$(mktemp -d "$BACKUP_DIR/.$NAME.XXXXXX")
trap 'rm -rf "$WORK" "$BACKUP_DIR/$NAME.tar.partial"' EXIT

say "backing up database $TARGET_DB"
COUNTS=$(target_counts) || die "could not count the rows of $TARGET_DB"
as_postgres "pg_dump -Fc -p $PGPORT -d $TARGET_DB" >"$WORK/database.dump" \
    || die "pg_dump of $TARGET_DB failed"

say "backing up the files of $STORAGE (without webassets/)"
if [ -d "$STORAGE" ]; then
    tar -czf "$WORK/storage.tar.gz" -C "$STORAGE" --exclude=./webassets . || die "could not archive $STORAGE"
else
    warn "$STORAGE does not exist: the archive holds no files"
    tar -czf "$WORK/storage.tar.gz" -T /dev/null
fi

mkdir -p "$WORK/config"
for file in $TARGET_CONFIG_FILES; do
    if [ -f "$VAR/$file" ]; then
        cp -p "$VAR/$file" "$WORK/config/$file"
    elif [ "$file" = stack.env ]; then
        warn "$VAR/stack.env is missing (the stack is down): \`make up\` writes it again"
    else
        die "$VAR/$file is missing"
    fi
done

PG_SERVER=$(as_postgres "psql -X -At -p $PGPORT -d $TARGET_DB -c 'SHOW server_version'")
POSTGIS=$(as_postgres "psql -X -At -p $PGPORT -d $TARGET_DB -c \"SELECT extversion FROM pg_extension WHERE extname = 'postgis'\"")
CKAN_VERSION=$("$CKAN_VENV/bin/python" -c 'import ckan; print(ckan.__version__)' 2>/dev/null || echo unknown)
SINP_VERSION=$("$CKAN_VENV/bin/python" -c 'from importlib.metadata import version; print(version("ckanext-sinp"))' \
    2>/dev/null || echo unknown)
GIT_COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    GIT_COMMIT="$GIT_COMMIT+local-changes"
fi
# shellcheck disable=SC2086
"$PYTHON" "$ROOT/stack/backup_manifest.py" write "$WORK" "target=$BACKUP_TARGET" "database=$TARGET_DB" \
    "storage_path=$STORAGE" "host=$(hostname)" "versions.git_commit=$GIT_COMMIT" "versions.ckan=$CKAN_VERSION" \
    "versions.ckanext_sinp=$SINP_VERSION" "versions.postgresql=$PG_SERVER" "versions.postgis=$POSTGIS" \
    "versions.pg_dump=$(pg_dump --version | awk '{print $3}')" $COUNTS \
    || die "could not write the manifest"

tar -cf "$BACKUP_DIR/$NAME.tar.partial" -C "$WORK" . || die "could not write the archive in $BACKUP_DIR"
mv "$BACKUP_DIR/$NAME.tar.partial" "$BACKUP_DIR/$NAME.tar"
ARCHIVE=$(cd "$BACKUP_DIR" && pwd)/$NAME.tar
say "archive written ($(du -h "$ARCHIVE" | cut -f1); $(echo "$COUNTS" | tr '\n' ' '))"
echo "$ARCHIVE"
