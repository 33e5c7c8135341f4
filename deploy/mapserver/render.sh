#!/bin/sh
# Renders the map server's configuration into OUT_DIR (the local stack: stack/lib.sh, render_mapserver;
# the production image: deploy/mapserver/entrypoint.sh). Everything comes from the environment:
#
#   FLUX_MAPS           "KEY:DATABASE ..." one map file per database, served under /KEY/
#                       (e.g. "sinp:ckan sinp_test:ckan_test")
#   FLUX_PUBLIC_URL     the address clients reach this server at (http://127.0.0.1:8090,
#                       https://catalogue.example.org/flux): the capabilities' online resources
#   FLUX_DB_HOST FLUX_DB_PORT FLUX_DB_USER FLUX_DB_PASSWORD   the read-only role's connection
#   SINP_CONTACT_EMAIL  the contact of the capabilities
#   LISTEN_HOST LISTEN_PORT   where lighttpd listens; MAPSERVER_PROCS: mapserv FastCGI processes
#   ACCESS_LOG          lighttpd's access log (a file, or /dev/stdout in a container)
#   SOCKET_DIR          where lighttpd puts mapserv's FastCGI socket
#
# Written: KEY.map (from sinp.map.in, the classes of classes_effectifs.inc in place of its token, shared by
# the layers by maille, commune and département), pg_service.conf (mode 600, the only file holding the
# password: the map files name a libpq service, never a host nor a password), mapserver.conf (map files
# by key only: no path from the request), lighttpd.conf, www/ (French error pages; ogcapi-refus, the 400
# of an OGC API parameter MapServer does not implement).
set -eu

OUT=${1:?usage: render.sh OUT_DIR}
SRC=$(cd "$(dirname "$0")" && pwd)
: "${FLUX_MAPS:?}" "${FLUX_PUBLIC_URL:?}" "${FLUX_DB_HOST:?}" "${FLUX_DB_USER:?}" "${FLUX_DB_PASSWORD:?}"
: "${SINP_CONTACT_EMAIL:?}" "${LISTEN_PORT:?}" "${SOCKET_DIR:?}"
FLUX_DB_PORT=${FLUX_DB_PORT:-5432}
LISTEN_HOST=${LISTEN_HOST:-127.0.0.1}
MAPSERVER_PROCS=${MAPSERVER_PROCS:-2}
# MapServer 8.0.0 (Debian 12) ignores OGC API's offset (MapServer #6613, fixed after 8.0.0): every "next"
# page would repeat the first, and a client paging (GDAL, QGIS) would read the first page over and over.
# So an items answer holds the whole collection: a client's limit is raised to the map file's
# oga_max_limit (sinp.map.in, more objects than any layer of a region holds) and an offset other than 0
# is refused (ogcapi-refus.sh): with no page beyond the first, MapServer writes no "next" link.
OGCAPI_PAGE=10000
# the OGC API items parameters MapServer 8.0 implements, with any value (offset: 0 only, above): the
# rewrite below and ogcapi-refus.sh (written with this list) read this one list
OGCAPI_PARAMS="f|bbox|limit"
ACCESS_LOG=${ACCESS_LOG:-/dev/stdout}
MAPSERV=$(command -v mapserv || echo /usr/bin/mapserv)
FONTS=${FLUX_FONTSET:-$SRC/fonts.txt}

case $FLUX_PUBLIC_URL$SINP_CONTACT_EMAIL in
    *'|'* | *'&'* | *'"'* | *'\'*) echo "render.sh: FLUX_PUBLIC_URL and SINP_CONTACT_EMAIL may not hold | & \" or \\" >&2; exit 2 ;;
esac

mkdir -p "$OUT/www"

# --- the map files and the libpq services --------------------------------------------------------
services=""
rewrites=""
maps=""
for entry in $FLUX_MAPS; do
    key=${entry%%:*}
    db=${entry#*:}
    upper=$(printf '%s' "$key" | tr '[:lower:]' '[:upper:]')
    sed -e "s|@PG_SERVICE@|sinp_flux_$key|g" -e "s|@BASE_URL@|$FLUX_PUBLIC_URL/$key|g" \
        -e "s|@CONTACT_EMAIL@|$SINP_CONTACT_EMAIL|g" -e "s|@FONTSET@|$FONTS|g" \
        -e "/@CLASSES_EFFECTIFS@/{r $SRC/classes_effectifs.inc" -e "d}" \
        "$SRC/sinp.map.in" >"$OUT/$key.map.tmp"
    mv "$OUT/$key.map.tmp" "$OUT/$key.map"
    services="$services
[sinp_flux_$key]
host=$FLUX_DB_HOST
port=$FLUX_DB_PORT
dbname=$db
user=$FLUX_DB_USER
password=$FLUX_DB_PASSWORD
application_name=sinp-mapserver-$key
options=-cjit=off
connect_timeout=5
"
    rewrites="$rewrites
    \"^/$key/(?:wms|wfs|ows)/?(?:\\?(.*))?\$\" => \"/mapserv?map=$upper&\$1\",
    \"^/$key/ogcapi/collections/[^/?]+/items(?:/[^/?]+)?\\?((?:[^&]*&)*(?!(?:$OGCAPI_PARAMS)=|offset=0*(?:&|\$))[^&=]+.*)\$\" => \"/ogcapi-refus?\$1\",
    \"^/$key/ogcapi/(collections/[^/?]+/items)\\?((?:[^&]*&)*)limit=[0-9]+((?:&.*)?)\$\" => \"/mapserv/$upper/ogcapi/\$1?\$2limit=$OGCAPI_PAGE\$3\",
    \"^/$key/ogcapi(.*)\$\" => \"/mapserv/$upper/ogcapi\$1\","
    maps="$maps
    $upper \"$OUT/$key.map\""
done

(
    umask 077
    printf '# Written by deploy/mapserver/render.sh: the map server'"'"'s read-only role (%s).\n%s' \
        "$FLUX_DB_USER" "$services" >"$OUT/pg_service.conf.tmp"
    mv "$OUT/pg_service.conf.tmp" "$OUT/pg_service.conf"
)

# --- MapServer 8's configuration ------------------------------------------------------------------
cat >"$OUT/mapserver.conf" <<EOF
# Written by deploy/mapserver/render.sh. The map files by key only (MS_MAP_NO_PATH).
CONFIG
  ENV
    MS_MAP_NO_PATH "1"
    OGCAPI_HTML_TEMPLATE_DIRECTORY "$SRC/ogcapi-html/"
    PROJ_NETWORK "OFF"
  END
  MAPS$maps
  END
END
EOF

# --- French error pages of lighttpd ------------------------------------------------------------------
for page in "400:Requête incorrecte" "403:Accès refusé" "404:Adresse inconnue" "405:Méthode non permise" \
            "413:Requête trop volumineuse" "500:Erreur du serveur cartographique" \
            "503:Service momentanément indisponible"; do
    code=${page%%:*}
    text=${page#*:}
    printf '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="UTF-8"><title>%s</title></head><body><h1>%s (%s)</h1><p>Services de ce serveur : <code>/%s/wms</code>, <code>/%s/wfs</code>, <code>/%s/ogcapi</code>.</p></body></html>\n' \
        "$text" "$text" "$code" "${FLUX_MAPS%%:*}" "${FLUX_MAPS%%:*}" "${FLUX_MAPS%%:*}" >"$OUT/www/erreur-$code.html"
done

sed -e "s/@OGCAPI_PARAMS@/$OGCAPI_PARAMS/" "$SRC/ogcapi-refus.sh" >"$OUT/www/ogcapi-refus.tmp"
mv "$OUT/www/ogcapi-refus.tmp" "$OUT/www/ogcapi-refus"
# --- lighttpd: /KEY/wms, /KEY/wfs → mapserv?map=KEY&…; /KEY/ogcapi/… → mapserv/KEY/ogcapi/… ----------
cat >"$OUT/lighttpd.conf" <<EOF
# Written by deploy/mapserver/render.sh.
server.modules = ("mod_access", "mod_rewrite", "mod_setenv", "mod_fastcgi", "mod_cgi", "mod_accesslog")
server.document-root = "$OUT/www"
server.bind = "$LISTEN_HOST"
server.port = $LISTEN_PORT
server.tag = "sinp-flux"
server.max-request-size = 64
server.errorfile-prefix = "$OUT/www/erreur-"
accesslog.filename = "$ACCESS_LOG"
url.rewrite-once = ($rewrites
)
# public, read-only data: any origin may read it (the géo-visualiseur, GIS clients); the OGC API's
# HTML pages show producers' text (JDD titles): no script runs there
setenv.add-response-header = (
    "Access-Control-Allow-Origin" => "*",
    "Content-Security-Policy" => "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options" => "nosniff",
    "Referrer-Policy" => "no-referrer",
)
# an OGC API Features parameter MapServer 8.0 does not implement (every one but f, bbox, limit, offset)
# would be ignored — an unfiltered answer to `filter=…`, WGS 84 to `crs=…`: the rewrite above sends such
# requests to ogcapi-refus.sh, a 400 in French (OGC 17-069r4, /req/core/query-param-unknown)
\$HTTP["url"] == "/ogcapi-refus" {
    cgi.assign = ("" => "/bin/sh")
}
# mapserv reads its configuration once, at start (the process's environment); libfcgi then gives it each
# request's parameters as its environment, where libpq looks for the service file: both places
setenv.add-environment = (
    "MAPSERVER_CONFIG_FILE" => "$OUT/mapserver.conf",
    "PGSERVICEFILE" => "$OUT/pg_service.conf",
)
fastcgi.server = ("/mapserv" => ((
    "socket" => "$SOCKET_DIR/mapserver.sock",
    "bin-path" => "$MAPSERV",
    "bin-environment" => (
        "MAPSERVER_CONFIG_FILE" => "$OUT/mapserver.conf",
        "PGSERVICEFILE" => "$OUT/pg_service.conf",
    ),
    "bin-copy-environment" => ("PATH", "LANG"),
    "max-procs" => $MAPSERVER_PROCS,
    "check-local" => "disable",
)))
EOF
