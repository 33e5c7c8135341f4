"""Repository mappings of the SINP CSW table, for pycsw 2.6.2.

pycsw loads this file through ``[repository] mappings = <absolute path>``
(``imp.load_source``) and reads ``MD_CORE_MODEL`` only: the same shape as
pycsw 2.6.2's own ``etc/mappings.py`` (all 56 ``pycsw:*`` keys).

The CKAN side (``ckanext/sinp/csw/repository.py``, another virtualenv)
reads this same file by path to name the columns of the table it creates
and writes, so that every column name is defined here and only here.

Keep this a plain-data module: no imports, no code, only literals.
pycsw ignores the extra upper-case constants below the model.

The column names are pycsw's own defaults (including its spellings
``topicategory`` and ``operatesoname``): pycsw 2.6.2 still hard-codes a few
of them outside the mappings (``xml``, ``anytext``, ``identifier`` in its
transaction code), so keeping its defaults avoids surprises.
"""

MD_CORE_MODEL = {
    "typename": "pycsw:CoreMetadata",
    "outputschema": "http://pycsw.org/metadata",
    "mappings": {
        # core: nothing works without these
        "pycsw:Identifier": "identifier",
        # CSW typename of the stored record (gmd:MD_Metadata)
        "pycsw:Typename": "typename",
        # schema namespace of the stored record (http://www.isotc211.org/2005/gmd)
        "pycsw:Schema": "schema",
        # origin of the record ('local')
        "pycsw:MdSource": "mdsource",
        "pycsw:InsertDate": "insert_date",
        # the complete stored ISO 19139 document (returned for elementSetName=full)
        "pycsw:XML": "xml",
        # bag of words of the document (no tags); full-text search source
        "pycsw:AnyText": "anytext",
        "pycsw:Language": "language",
        "pycsw:Title": "title",
        "pycsw:Abstract": "abstract",
        "pycsw:Keywords": "keywords",
        "pycsw:KeywordType": "keywordstype",
        "pycsw:Format": "format",
        "pycsw:Source": "source",
        "pycsw:Date": "date",
        # gmd:dateStamp of summary/brief records; write an ISO date-time with 'T'
        "pycsw:Modified": "date_modified",
        "pycsw:Type": "type",
        # WKT polygon in EPSG:4326 (lon lat); the PostGIS column is derived from it
        "pycsw:BoundingBox": "wkt_geometry",
        "pycsw:CRS": "crs",
        "pycsw:AlternateTitle": "title_alternate",
        "pycsw:RevisionDate": "date_revision",
        "pycsw:CreationDate": "date_creation",
        "pycsw:PublicationDate": "date_publication",
        "pycsw:OrganizationName": "organization",
        "pycsw:SecurityConstraints": "securityconstraints",
        "pycsw:ParentIdentifier": "parentidentifier",
        "pycsw:TopicCategory": "topicategory",
        "pycsw:ResourceLanguage": "resourcelanguage",
        "pycsw:GeographicDescriptionCode": "geodescode",
        "pycsw:Denominator": "denominator",
        "pycsw:DistanceValue": "distancevalue",
        "pycsw:DistanceUOM": "distanceuom",
        "pycsw:TempExtent_begin": "time_begin",
        "pycsw:TempExtent_end": "time_end",
        "pycsw:ServiceType": "servicetype",
        "pycsw:ServiceTypeVersion": "servicetypeversion",
        "pycsw:Operation": "operation",
        "pycsw:CouplingType": "couplingtype",
        "pycsw:OperatesOn": "operateson",
        "pycsw:OperatesOnIdentifier": "operatesonidentifier",
        "pycsw:OperatesOnName": "operatesoname",
        "pycsw:Degree": "degree",
        "pycsw:AccessConstraints": "accessconstraints",
        "pycsw:OtherConstraints": "otherconstraints",
        "pycsw:Classification": "classification",
        "pycsw:ConditionApplyingToAccessAndUse": "conditionapplyingtoaccessanduse",
        "pycsw:Lineage": "lineage",
        "pycsw:ResponsiblePartyRole": "responsiblepartyrole",
        "pycsw:SpecificationTitle": "specificationtitle",
        "pycsw:SpecificationDate": "specificationdate",
        "pycsw:SpecificationDateType": "specificationdatetype",
        "pycsw:Creator": "creator",
        "pycsw:Publisher": "publisher",
        "pycsw:Contributor": "contributor",
        "pycsw:Relation": "relation",
        # links: 'name,description,protocol,url' items joined by '^'
        "pycsw:Links": "links",
    },
}

# --- Names pycsw 2.6.2 hard-codes (not configurable there); used by the
# --- CKAN side to build the table and checked by wsgi.py at start-up.

# [repository] table in pycsw.cfg must be the same.
TABLE_NAME = "sinp_csw_record"

# Native PostGIS geometry column: pycsw's BBOX filters use this literal name.
GEOMETRY_COLUMN = "wkb_geometry"

# Full-text search switches on only if an index with this exact name exists
# (looked up in pg_class, database-wide) and then queries this literal column.
FTS_INDEX = "fts_gin_idx"
FTS_COLUMN = "anytext_tsvector"

# pycsw queries plainto_tsquery('<language>', ...) where <language> comes from
# [server] language (fr-FR -> 'french'); the tsvector must use the same one.
FTS_CONFIG = "french"

# --- Wildcard searches (PropertyIsLike on AnyText, Title, Abstract: pycsw_config/sinp_wildcards.py).
# Lower-cased, unaccented copies of these columns: generated columns FOLD_FUNCTION(<column>) with a
# trigram (pg_trgm) GIN index each, created by the CKAN side (ckanext/sinp/csw/repository.py); the
# search pattern goes through the same SQL function.
FOLD_FUNCTION = "sinp_csw_fold"
FOLDED_COLUMNS = {
    "pycsw:AnyText": "anytext_folded",
    "pycsw:Title": "title_folded",
    "pycsw:Abstract": "abstract_folded",
}

# --- Exact count and deep pages without scanning the table (pycsw_config/wsgi.py, _stable_query).
# Every INSERT / DELETE / TRUNCATE of TABLE_NAME adds, in its own transaction, a row (n = rows inserted
# minus rows deleted) to this table (statement triggers created by the CKAN side, ckanext/sinp/csw/
# repository.py), compacted into one row from time to time: sum(n) is the number of rows of the table
# in any snapshot, and the set of (id, xmin) of its rows changes whenever a record is added or removed.
CHANGES_TABLE = "sinp_csw_record_changes"
