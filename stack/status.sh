#!/usr/bin/env bash
# `make status`: which services of the stack are running, whether they answer, and their memory.
# A pid file whose process is a zombie, gone, or now another program's counts as stopped.
# Exit status 3 when a service is not running or does not answer (as `systemctl status`).
. "$(dirname "$0")/lib.sh"

health() {  # health NAME: the service's own check (the same as `make up`'s)
    case $1 in
        redis) redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ;;
        solr) http_ok "$SOLR_URL/select?q=*:*&rows=0&wt=json" ;;
        ckan) http_ok "$CKAN_URL/api/3/action/status_show" ;;
        mapserver) mapserver_ok ;;
        pycsw) http_ok "http://$CSW_HOST:$CSW_PORT/csw?service=CSW&version=2.0.2&request=GetCapabilities" ;;
        *) return 0 ;;  # the worker and the harvest consumers have no port: alive is all we can tell
    esac
}

total=0
rc=0
for name in solr redis ckan ckan-worker harvest-gather harvest-fetch scheduler pycsw mapserver; do
    state=$(service_state "$name")
    pid=${state#* }
    case ${state%% *} in
        running)
            # resident memory of the process group (gunicorn workers included), in MiB
            rss=$( (ps -o rss= -g "$pid" 2>/dev/null || true) | awk '{s+=$1} END {print int(s/1024)}')
            total=$((total + rss))
            if health "$name"; then
                printf '  %-15s running  pid %-7s %5s MiB\n' "$name" "$pid" "$rss"
            else
                printf '  %-15s NOT ANSWERING  pid %-7s %5s MiB  (see %s)\n' "$name" "$pid" "$rss" "$LOG_DIR/$name.log"
                rc=3
            fi
            ;;
        stopped) printf '  %-15s stopped\n' "$name"; rc=3 ;;
        zombie) printf '  %-15s stopped  (died: pid %s is a zombie; `make up` starts it again)\n' "$name" "$pid"; rc=3 ;;
        dead) printf '  %-15s stopped  (died: pid %s is gone; `make up` starts it again)\n' "$name" "$pid"; rc=3 ;;
        foreign) printf '  %-15s stopped  (died: pid %s now belongs to another program)\n' "$name" "$pid"; rc=3 ;;
    esac
done
# `ps -u postgres` fails when there is no such user yet (PostgreSQL not installed): count 0
pg=$( (ps -o rss= -u postgres 2>/dev/null || true) | awk '{s+=$1} END {print int(s/1024)}')
if pg_isready -q -h "$PGHOST" -p "$PGPORT"; then pg_state=running; else pg_state=stopped; rc=3; fi
printf '  %-15s %s  (all postgres processes: %s MiB RSS)\n' postgres "$pg_state" "$pg"
printf '  total (without PostgreSQL): %s MiB RSS\n' "$total"
# background work waiting in the outbox (README « Pannes et reprise »)
if [ "$pg_state" = running ]; then
    outbox=$(psql_super "$CKAN_DB" "\\pset tuples_only on
\\pset format unaligned
SELECT count(*) FILTER (WHERE state = 'pending') || ' pending, ' || count(*) FILTER (WHERE state = 'running')
  || ' running, ' || count(*) FILTER (WHERE state = 'failed') || ' failed'
  || coalesce(', oldest waiting ' || round(extract(epoch FROM now() - min(created_at) FILTER (WHERE state IN ('pending', 'running'))))::int || ' s', '')
FROM sinp_outbox" 2>/dev/null || true)
    [ -n "$outbox" ] && printf '  %-15s %s  (ckan sinp outbox status --all)\n' outbox "$outbox"
fi
exit "$rc"
