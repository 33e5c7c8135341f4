#!/usr/bin/env bash
# First-start initialisation of the `db` service (postgis/postgis image). The image's entrypoint
# runs it once, on an empty data volume, after its own 10_postgis.sh; the same steps as
# setup_databases in stack/up.sh:
#   - role $CKAN_DB_USER (owner of the CKAN database), read-only roles $CSW_DB_USER (pycsw) and
#     $FLUX_DB_USER (MapServer: the views of the sinp_flux schema only);
#   - database $CKAN_DB owned by $CKAN_DB_USER, with PostGIS (CREATE EXTENSION needs a superuser;
#     ckanext-sinp's CSW table has a PostGIS column);
#   - CONNECT on it for $CSW_DB_USER and $FLUX_DB_USER. `ckan sinp init-db` (run by the ckan service)
#     grants USAGE and SELECT on the CSW table and on the sinp_flux views, and nothing else.
# Changing the passwords in .env later does not change them here (the volume keeps the roles):
# use ALTER ROLE ... PASSWORD, or start from an empty volume.
set -euo pipefail

die() { printf '[sinp-db-init] ERROR: %s\n' "$*" >&2; exit 1; }

for name in CKAN_DB CKAN_DB_USER CKAN_DB_PASSWORD CSW_DB_USER CSW_DB_PASSWORD FLUX_DB_USER FLUX_DB_PASSWORD; do
    value=${!name:-}
    [ -n "$value" ] || die "$name is not set (see .env.example)"
    case $value in
        *change-me*) die "$name still holds the placeholder 'change-me' (edit .env)" ;;
    esac
done
for name in CKAN_DB CKAN_DB_USER CSW_DB_USER FLUX_DB_USER; do  # identifiers: keep them plain
    [[ ${!name} =~ ^[a-z_][a-z0-9_]*$ ]] || die "$name must match [a-z_][a-z0-9_]*"
done
for name in CKAN_DB_PASSWORD CSW_DB_PASSWORD FLUX_DB_PASSWORD; do  # they are written into database URLs
    [[ ${!name} =~ ^[A-Za-z0-9_.~-]+$ ]] \
        || die "$name may hold only letters, digits and _ . ~ - (it goes into a URL)"
done

psql=(psql -X -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password)

"${psql[@]}" --dbname "${POSTGRES_DB:-postgres}" \
    -v ckan_db="$CKAN_DB" -v ckan_user="$CKAN_DB_USER" -v ckan_password="$CKAN_DB_PASSWORD" \
    -v csw_user="$CSW_DB_USER" -v csw_password="$CSW_DB_PASSWORD" \
    -v flux_user="$FLUX_DB_USER" -v flux_password="$FLUX_DB_PASSWORD" <<'SQL'
CREATE ROLE :"ckan_user" LOGIN PASSWORD :'ckan_password';
CREATE ROLE :"csw_user" LOGIN PASSWORD :'csw_password';
CREATE ROLE :"flux_user" LOGIN PASSWORD :'flux_password';
CREATE DATABASE :"ckan_db" OWNER :"ckan_user" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"ckan_db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"ckan_db" TO :"ckan_user";
GRANT CONNECT ON DATABASE :"ckan_db" TO :"csw_user";
GRANT CONNECT ON DATABASE :"ckan_db" TO :"flux_user";
SQL

"${psql[@]}" --dbname "$CKAN_DB" <<'SQL'
CREATE EXTENSION IF NOT EXISTS postgis;
SQL

echo "[sinp-db-init] database $CKAN_DB ready (owner $CKAN_DB_USER, read-only roles $CSW_DB_USER and $FLUX_DB_USER, PostGIS)"
