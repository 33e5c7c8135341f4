#!/bin/sh
# build_home.sh <SOLR_HOME> <CKAN_SCHEMA_XML> [core ...]      (default cores: ckan ckan_test)
#
# Creates (or refreshes) a Solr home for Launcher.java:
#   SOLR_HOME/solr.xml, SOLR_HOME/log4j2.xml
#   SOLR_HOME/<core>/core.properties            name=<core>
#   SOLR_HOME/<core>/conf/schema.xml            CKAN's schema + spatial_fields.xml (patch_schema.sh)
#   SOLR_HOME/<core>/conf/solrconfig.xml        this directory's solrconfig.xml
#   SOLR_HOME/<core>/conf/{synonyms,protwords,stopwords}.txt   (empty; the schema refers to them)
# Idempotent: solr.xml, log4j2.xml, core.properties, schema.xml and solrconfig.xml are rewritten
# every time; existing *.txt files and the index data (SOLR_HOME/<core>/data) are kept.
# Restart Solr after running it if Solr is up. CKAN_SCHEMA_XML is
#   <venv>/lib/python3.X/site-packages/ckan/config/solr/schema.xml
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 SOLR_HOME CKAN_SCHEMA_XML [core ...]   (default cores: ckan ckan_test)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
home=$1
schema=$2
shift 2
[ $# -gt 0 ] || set -- ckan ckan_test

mkdir -p "$home"
cp "$here/solr.xml" "$home/solr.xml"
cp "$here/log4j2.xml" "$home/log4j2.xml"

for core in "$@"; do
    case $core in
        ''|*[!A-Za-z0-9_.-]*) echo "$0: bad core name: '$core'" >&2; exit 2 ;;
    esac
    conf="$home/$core/conf"
    mkdir -p "$conf"
    printf 'name=%s\n' "$core" > "$home/$core/core.properties"
    "$here/patch_schema.sh" "$schema" "$conf/schema.xml" "$here/spatial_fields.xml"
    cp "$here/solrconfig.xml" "$conf/solrconfig.xml"
    for f in synonyms.txt protwords.txt stopwords.txt; do
        [ -f "$conf/$f" ] || : > "$conf/$f"
    done
done
echo "Solr home ready: $home (cores: $*)"
