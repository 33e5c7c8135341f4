#!/bin/sh
# The OGC API Features answer to a query parameter MapServer 8.0 does not implement (lighttpd rewrites
# such requests here: render.sh). MapServer would ignore it and answer every feature — a client asking
# `filter=…` or `crs=EPSG:2154` would take an unfiltered, WGS 84 answer for what it asked. The standard
# (OGC 17-069r4, /req/core/query-param-unknown) wants a 400: in French, naming what is refused and what
# to use instead. Parameter names only (never values) are echoed, stripped to a safe alphabet.
names=$(printf '%s' "${QUERY_STRING:-}" | tr '&' '\n' | sed -e 's/=.*//' | grep -v -x -E 'f|bbox|limit|offset' \
    | tr -c -d 'A-Za-z0-9_.:\n-' | grep -v '^$' | head -n 5 | paste -s -d ',' - | sed -e 's/,/, /g')
printf 'Status: 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n\r\n'
printf '{"code":"InvalidParameterValue","description":"Paramètre non pris en charge par ce service OGC API Features : %s. Paramètres acceptés : f, bbox (en WGS 84), limit et offset. Pour filtrer sur un attribut ou recevoir un autre système de coordonnées (EPSG:2154), utilisez le WFS 2.0 (FILTER, SRSNAME)."}\n' "${names:-?}"
