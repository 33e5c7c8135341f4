#!/bin/sh
# patch_schema.sh <CKAN_SCHEMA_XML> <OUT_SCHEMA_XML> [SPATIAL_FIELDS_XML]
#
# Writes OUT = CKAN's own schema.xml (ckan/config/solr/schema.xml of the installed CKAN,
# <schema name="ckan-X.Y"> kept intact) with the block between the BEGIN/END markers of
# spatial_fields.xml inserted just before </schema>. Always starts from CKAN's pristine file,
# so running it again gives the same result. POSIX sh + awk only, so the production Solr
# Docker image can run it too (COPY spatial_fields.xml and this script, then
#   patch_schema.sh schema.xml .../conf/managed-schema  or  .../conf/schema.xml).
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 CKAN_SCHEMA_XML OUT_SCHEMA_XML [SPATIAL_FIELDS_XML]" >&2
    exit 2
fi
src=$1
out=$2
frag=${3:-$(dirname "$0")/spatial_fields.xml}

[ -f "$src" ] || { echo "$0: CKAN schema not found: $src" >&2; exit 1; }
[ -f "$frag" ] || { echo "$0: spatial fields file not found: $frag" >&2; exit 1; }
grep -q '<schema name="ckan-' "$src" || {
    echo "$0: $src does not look like CKAN's schema (no <schema name=\"ckan-...\">)" >&2; exit 1; }
n=$(grep -c '</schema>' "$src" || true)
[ "$n" = 1 ] || { echo "$0: expected exactly one </schema> line in $src, found $n" >&2; exit 1; }

tmp="$out.tmp.$$"
if grep -q 'name="spatial_geom"' "$src"; then
    # A future CKAN might ship the fields itself; do not define them twice.
    echo "$0: note: $src already defines spatial_geom; copying it unchanged" >&2
    cp "$src" "$tmp"
else
    awk -v frag="$frag" '
        BEGIN {
            inblock = 0
            while ((getline line < frag) > 0) {
                if (line ~ /BEGIN ckanext-spatial fields/) { inblock = 1 }
                if (inblock) { block = block line "\n" }
                if (line ~ /END ckanext-spatial fields/) { inblock = 0 }
            }
            close(frag)
            if (block == "") { print "no BEGIN/END block in " frag > "/dev/stderr"; exit 1 }
        }
        {
            i = index($0, "</schema>")
            if (i > 0) {
                pre = substr($0, 1, i - 1)
                if (pre ~ /[^ \t]/) print pre
                printf "%s", block
                print substr($0, i)
            } else {
                print
            }
        }
    ' "$src" > "$tmp"
fi
mv "$tmp" "$out"
