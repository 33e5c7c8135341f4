#!/bin/sh
# Entry point of the map server's image (deploy/mapserver/Dockerfile): renders the configuration from
# the environment (render.sh, the same as the local stack's) into /run/sinp-mapserver, then runs
# lighttpd in the foreground (mapserv spawned as FastCGI). The read-only role's password is written
# to pg_service.conf only (mode 600), never into a map file.
set -eu
: "${FLUX_PUBLIC_URL:?set FLUX_PUBLIC_URL}" "${FLUX_DB_PASSWORD:?set FLUX_DB_PASSWORD}"
case $FLUX_DB_PASSWORD in
    change-me) echo "entrypoint: FLUX_DB_PASSWORD is still change-me" >&2; exit 2 ;;
esac
export FLUX_MAPS="sinp:${CKAN_DB:-ckan}" FLUX_DB_HOST=${FLUX_DB_HOST:-db} FLUX_DB_PORT=${FLUX_DB_PORT:-5432}
export FLUX_DB_USER=${FLUX_DB_USER:-sinp_flux_reader} LISTEN_HOST=0.0.0.0 LISTEN_PORT=8080
export SOCKET_DIR=/run/sinp-mapserver ACCESS_LOG=/dev/stdout FLUX_FONTSET=/srv/mapserver/fonts.txt
export SINP_CONTACT_EMAIL=${SINP_CONTACT_EMAIL:?set SINP_CONTACT_EMAIL}
sh /srv/mapserver/render.sh /run/sinp-mapserver
exec lighttpd -D -f /run/sinp-mapserver/lighttpd.conf
