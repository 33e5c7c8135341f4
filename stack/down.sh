#!/usr/bin/env bash
# Stops exactly what `make up` started (pid files in var/run), newest first.
# PostgreSQL is stopped only if `make up` started it.
. "$(dirname "$0")/lib.sh"

for name in mapserver pycsw scheduler harvest-fetch harvest-gather ckan-worker ckan solr redis; do
    stop_service "$name"
done
if [ -f "$RUN_DIR/postgres.started" ]; then
    pg_ctlcluster ${PG_CLUSTER/\// } stop >/dev/null 2>&1 || warn "pg_ctlcluster stop failed"
    rm -f "$RUN_DIR/postgres.started"
    say "stopped PostgreSQL $PG_CLUSTER"
fi
rm -f "$VAR/stack.env"
