#!/usr/bin/env bash
# `make run`: brings the stack up in the foreground; Ctrl-C (or SIGTERM) stops it.
. "$(dirname "$0")/lib.sh"

trap 'echo; say "stopping the stack"; bash "$ROOT/stack/down.sh"; exit 0' INT TERM
bash "$ROOT/stack/up.sh"
say "the catalogue is running; press Ctrl-C to stop every service"
# Supervision: a service that dies (zombie included) is started again by `make up`; if that fails,
# the whole stack stops.
while sleep 5; do
    for name in solr redis ckan ckan-worker harvest-gather harvest-fetch scheduler pycsw mapserver; do
        if ! pid_of "$name" >/dev/null; then
            warn "service $name has stopped (see $LOG_DIR/$name.log): starting it again"
            if ! bash "$ROOT/stack/up.sh"; then
                warn "could not start $name again: stopping the stack"
                bash "$ROOT/stack/down.sh"
                exit 1
            fi
            break
        fi
    done
done
