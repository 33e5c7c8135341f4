#!/usr/bin/env bash
# `make status`: which services of the stack are running, and their memory.
. "$(dirname "$0")/lib.sh"
total=0
for name in solr redis ckan ckan-worker harvest-gather harvest-fetch pycsw; do
    if pid=$(pid_of "$name"); then
        # resident memory of the process group (gunicorn workers included), in MiB
        rss=$(ps -o rss= -g "$pid" 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}')
        total=$((total + rss))
        printf '  %-15s running  pid %-7s %5s MiB\n' "$name" "$pid" "$rss"
    else
        printf '  %-15s stopped\n' "$name"
    fi
done
pg=$(ps -o rss= -u postgres 2>/dev/null | awk '{s+=$1} END {print int(s/1024)}')
printf '  %-15s %s  (all postgres processes: %s MiB RSS)\n' postgres \
    "$(pg_isready -q -h "$PGHOST" -p "$PGPORT" && echo running || echo stopped)" "$pg"
printf '  total (without PostgreSQL): %s MiB RSS\n' "$total"
