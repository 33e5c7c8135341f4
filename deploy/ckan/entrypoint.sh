#!/usr/bin/env bash
# Entrypoint of the CKAN image (services ckan, ckan-worker, harvest-gather, harvest-fetch).
#
# 1. writes $CKAN_INI the way the local stack does (stack/up.sh, write_ckan_ini):
#    `ckan generate config` (first start of the container only), then
#    `ckan config-tool -f stack/ckan-options.ini` (plugins, site options: one source for both),
#    then the machine-specific options from the environment (docker-compose.yml / .env);
# 2. when SINP_INIT_DB=true (the `ckan` service only): migrates the database
#    (`ckan db upgrade`, `ckan db pending-migrations --apply`, `ckan sinp init-db`);
# 3. execs the command (gunicorn, `ckan jobs worker`, `ckan harvester ...`).
#
# Environment (required unless a default is shown):
#   CKAN_SITE_URL         public URL of the catalogue, e.g. https://sinp.example.org
#   CKAN_SITE_ID          default sinp (also names the harvest queues in Redis)
#   CKAN_SQLALCHEMY_URL   postgresql://ckan:PASSWORD@db:5432/ckan
#   CKAN_SOLR_URL         http://solr:8983/solr/ckan
#   CKAN_REDIS_URL        redis://redis:6379/0
#   CKAN_SECRET_KEY       SECRET_KEY (sessions, CSRF tokens, API tokens): stable across restarts
#   CSW_DB_USER           read-only role pycsw connects with (ckanext.sinp.csw.reader_role)
#   FLUX_DB_USER          read-only role MapServer connects with (ckanext.sinp.flux.reader_role;
#                         default sinp_flux_reader)
#   FLUX_PUBLIC_URL       public URL of the map server (its maps below: ckanext.sinp.flux.public_url =
#                         $FLUX_PUBLIC_URL/sinp, as the mapserver service publishes them)
#   SINP_CSW_URL          public URL of the CSW endpoint (ckanext.sinp.csw.url)
#   SINP_CONTACT_EMAIL    metadata contact e-mail of the ISO records (ckanext.sinp.csw.contact_email)
#   CKAN_STORAGE_PATH     default /var/lib/ckan (a volume)
#   SINP_SRC              default /srv/app/sinp (the repository inside the image)
#   CKAN_INI              default /srv/app/config/ckan.ini
#   SINP_INIT_DB          true: migrate before starting (default false)
# CKAN itself also reads CKAN_SQLALCHEMY_URL, CKAN_SOLR_URL, CKAN_REDIS_URL, CKAN_SITE_URL,
# CKAN_SITE_ID, CKAN_STORAGE_PATH and CKAN_SMTP_* at start-up (ckan/config/environment.py).
set -euo pipefail

SINP_SRC=${SINP_SRC:-/srv/app/sinp}
CKAN_INI=${CKAN_INI:-/srv/app/config/ckan.ini}
CKAN_SITE_ID=${CKAN_SITE_ID:-sinp}
CKAN_STORAGE_PATH=${CKAN_STORAGE_PATH:-/var/lib/ckan}
SINP_INIT_DB=${SINP_INIT_DB:-false}
export CKAN_INI CKAN_SITE_ID CKAN_STORAGE_PATH

say() { printf '[sinp-entrypoint] %s\n' "$*" >&2; }
die() { printf '[sinp-entrypoint] ERROR: %s\n' "$*" >&2; exit 1; }

require() {  # require NAME...: set, not empty, not the placeholder of .env.example
    local name value
    for name in "$@"; do
        value=${!name:-}
        [ -n "$value" ] || die "$name is not set (copy .env.example to .env and fill it in)"
        case $value in
            *change-me*) die "$name still holds the placeholder 'change-me' (edit .env)" ;;
        esac
        # ckan.ini is read by ConfigParser with interpolation: a '%' would break it
        case $value in
            *%*) die "$name contains '%', which ckan.ini cannot hold; use letters and digits" ;;
        esac
    done
}

require CKAN_SITE_URL CKAN_SITE_ID CKAN_SQLALCHEMY_URL CKAN_SOLR_URL CKAN_REDIS_URL \
    CKAN_SECRET_KEY CSW_DB_USER CKAN_STORAGE_PATH SINP_CSW_URL SINP_CONTACT_EMAIL
[ -f "$SINP_SRC/stack/ckan-options.ini" ] || die "$SINP_SRC/stack/ckan-options.ini is missing"

umask 077  # ckan.ini holds the database password and SECRET_KEY
if [ ! -f "$CKAN_INI" ]; then
    say "generating $CKAN_INI"
    ckan generate config "$CKAN_INI" >/dev/null
fi
ckan config-tool "$CKAN_INI" -f "$SINP_SRC/stack/ckan-options.ini"
ckan config-tool "$CKAN_INI" \
    "sqlalchemy.url=$CKAN_SQLALCHEMY_URL" \
    "solr_url=$CKAN_SOLR_URL" \
    "ckan.redis.url=$CKAN_REDIS_URL" \
    "ckan.site_url=$CKAN_SITE_URL" \
    "ckan.site_id=$CKAN_SITE_ID" \
    "ckan.storage_path=$CKAN_STORAGE_PATH" \
    "licenses_group_url=file://$SINP_SRC/schemas/licenses.json" \
    "ckanext.sinp.csw.reader_role=$CSW_DB_USER" \
    "ckanext.sinp.flux.reader_role=${FLUX_DB_USER:-sinp_flux_reader}" \
    "ckanext.sinp.flux.public_url=${FLUX_PUBLIC_URL:+${FLUX_PUBLIC_URL%/}/sinp}" \
    "ckanext.sinp.csw.url=$SINP_CSW_URL" \
    "ckanext.sinp.csw.contact_email=$SINP_CONTACT_EMAIL" \
    "SECRET_KEY=$CKAN_SECRET_KEY"
umask 022
mkdir -p "$CKAN_STORAGE_PATH"

case $SINP_INIT_DB in
    true|1|yes)
        say "migrating the database (ckan db upgrade, plugins' migrations, sinp init-db)"
        ckan db upgrade
        ckan db pending-migrations --apply
        ckan sinp init-db
        ;;
    false|0|no|'') ;;
    *) die "SINP_INIT_DB must be true or false, not '$SINP_INIT_DB'" ;;
esac

exec "$@"
