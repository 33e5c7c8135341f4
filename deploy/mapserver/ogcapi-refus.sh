#!/bin/sh
# The OGC API Features answer to a query parameter MapServer 8.0 does not implement (lighttpd rewrites
# such requests here: render.sh). MapServer would ignore it and answer every feature — a client asking
# `filter=…` or `crs=EPSG:2154` would take an unfiltered, WGS 84 answer for what it asked. The standard
# (OGC 17-069r4, /req/core/query-param-unknown) wants a 400: in French, naming what is refused and what
# to use instead. Parameter names only (never values) are echoed, stripped to a safe alphabet.
# render.sh writes the accepted names (OGCAPI_PARAMS, the list its rewrite reads) in place of @OGCAPI_PARAMS@.
names=$(printf '%s' "${QUERY_STRING:-}" | tr '&' '\n' | sed -e 's/=.*//' | grep -v -x -E '@OGCAPI_PARAMS@|offset' \
    | tr -c -d 'A-Za-z0-9_.:\n-' | grep -v '^$' | head -n 5 | paste -s -d ',' - | sed -e 's/,/, /g')
# an offset other than 0: MapServer 8.0.0 ignores it (render.sh), every answer already holds everything
paging=$(printf '%s' "${QUERY_STRING:-}" | tr '&' '\n' | grep -E '^offset=' | grep -v -x -E 'offset=0*' | head -n 1)
accepted="Paramètres acceptés : f, bbox (en WGS 84), limit et offset=0. Pour filtrer sur un attribut ou recevoir un autre système de coordonnées (EPSG:2154), utilisez le WFS 2.0 (FILTER, SRSNAME)."
whole="chaque réponse contient déjà tous les objets de la collection (jusqu'à 10 000)"
if [ -n "$names" ]; then
    description="Paramètre non pris en charge par ce service OGC API Features : $names."
    [ -n "$paging" ] && description="$description Pagination (offset) non prise en charge : $whole."
elif [ -n "$paging" ]; then
    description="Pagination (offset) non prise en charge par ce service OGC API Features : $whole."
else
    description="Requête non prise en charge par ce service OGC API Features."
fi
printf 'Status: 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n\r\n'
printf '{"code":"InvalidParameterValue","description":"%s %s"}\n' "$description" "$accepted"
