#!/bin/bash
# Command of the `solr` image: refreshes the `ckan` core's configuration in the data volume
# from the image (what build_home.sh does for the local stack: schema.xml and solrconfig.xml are
# rewritten, existing *.txt files and the index in data/ are kept), then starts Solr in the
# foreground with the official image's solr-foreground. A new image (new CKAN schema) thus
# takes effect at the next start; reindex with `ckan search-index rebuild` when fields change.
set -euo pipefail

src=${SINP_SOLR_CORE_TEMPLATE:-/opt/sinp-solr/home/ckan}  # built by the Dockerfile
dst=${SOLR_HOME:-/var/solr/data}/ckan

mkdir -p "$dst/conf"
cp "$src/core.properties" "$dst/core.properties"
cp "$src/conf/schema.xml" "$src/conf/solrconfig.xml" "$dst/conf/"
for f in synonyms.txt protwords.txt stopwords.txt; do
    [ -f "$dst/conf/$f" ] || cp "$src/conf/$f" "$dst/conf/$f"
done
echo "[sinp-solr] core ckan: configuration refreshed in $dst"
exec solr-foreground "$@"
