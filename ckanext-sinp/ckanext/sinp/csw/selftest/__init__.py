"""Harvest-readiness self-test of a CSW endpoint (``ckan sinp csw-selftest``).

Replays, over HTTP, the request sequences of the three harvesters that read our catalogue
(see CSW_HARVESTERS.md) and reports every problem in French, without stopping at the first:

- GeoNetwork (IDéO BFC): GetCapabilities by GET KVP; GetRecords by POST (summary, gmd,
  gmd:MD_Metadata, 20 per page) paged with nextRecord, twice (the harvester deletes what it does
  not see, so the two runs must give the same records in the same order); its GET KVP / CQL
  fallback; GetRecordById by POST and GET on a sample (one gmd:MD_Metadata, its fileIdentifier,
  ISO 19139 XSD, INSPIRE elements); an unknown id (empty response expected);
- udata (data.gouv.fr, "CSW-ISO-19139"): its exact request (csw:Record, full, dc:type filter,
  non-standard maxPosition) and one run per dc:type (dataset, series) compared with GeoNetwork's
  records split by hierarchyLevel;
- ckanext-spatial: OWSLib ``getrecords2`` (csw:Record, brief, gmd, 10 per page, startPosition
  0, 10, 20…) by POST, and the same by GET;
- filters: csw:AnyText on a word of a record's title, BBOX around a dataset's extent.

Pure client code: ``requests`` + ``lxml``, no ``import ckan``, so it can check any endpoint
(production included) from anywhere. Every request goes to the tested URL (not to the URLs the
capabilities declare; those are checked, not followed).

    report = run_selftest("https://sinp.example.fr/csw")
    print(report.to_text())            # French, one line per check, ✓ / ✗
    report.ok                          # no problem (warnings allowed)
    report.problems, report.warnings   # French sentences
    for label, ok, detail in report.checks: ...

A local tested URL (127.0.0.1, localhost…) turns "declared address is local" findings into
warnings: the test stack is local by design.

Layout (modules import one another only downwards, no cycle):

- ``namespaces``: namespaces, CRS names, the INSPIRE theme and topic category tables, small pure
  XML / URL helpers;
- ``checks``: what is read in the responses (capabilities, GetRecords page, record summary, full
  ISO record) and the ISO 19139 XSDs (discovery, validation);
- ``client``: request bodies and filters, ``Client`` (HTTP), ``CswError``;
- ``results``: ``Check`` and ``Report``;
- ``scenarios``: ``Selftest`` (the harvesters' sequences) and ``Listing``;
- ``run``: ``run_selftest``.

Every name of the former single module is re-exported here (``from ckanext.sinp.csw.selftest
import …`` keeps working).
"""

from __future__ import annotations

from .checks import (
    REPO_ROOT,
    XSD_SUBDIR,
    CapabilitiesResult,
    Page,
    Summary,
    check_capabilities,
    constraint_values,
    find_iso_xsd,
    identification_bbox,
    int_attr,
    iso_schema,
    metadata_language,
    param_values,
    read_page,
    record_bbox,
    record_problems,
    record_title,
    soap_only,
    summary_of,
    xsd_base,
    xsd_errors,
)
from .client import (
    GETRECORDS_NS,
    UDATA_TYPES_FILTER,
    Client,
    CswError,
    anytext_filter,
    bbox_filter,
    getrecordbyid_body,
    getrecords_body,
    type_filter,
)
from .namespaces import (
    CRS_CRS84,
    CRS_EPSG4326,
    CSW,
    CSW_OLD,
    EXAMPLES,
    GCO,
    GMD,
    GML,
    GML32,
    GMX,
    HARVESTED_TYPES,
    HREF,
    INSPIRE_DS,
    INSPIRE_THEMES,
    LANGUAGE,
    NS,
    OGC,
    OWS,
    THEME_HREF,
    THEME_LABELS,
    TOPIC_CATEGORIES,
    WORD,
    XLINK,
    child_elements,
    examples_of,
    exception_text,
    is_absolute_http,
    is_local_url,
    localname,
    node_text,
    parse_xml,
    short,
    theme_of_keyword,
    title_word,
)
from .results import (
    Check,
    Report,
)
from .run import (
    run_selftest,
)
from .scenarios import (
    Listing,
    Selftest,
)

__all__ = [
    "CSW",
    "CSW_OLD",
    "GMD",
    "GCO",
    "GMX",
    "GML32",
    "GML",
    "OGC",
    "OWS",
    "XLINK",
    "INSPIRE_DS",
    "NS",
    "HREF",
    "CRS_EPSG4326",
    "CRS_CRS84",
    "INSPIRE_THEMES",
    "TOPIC_CATEGORIES",
    "HARVESTED_TYPES",
    "THEME_LABELS",
    "THEME_HREF",
    "WORD",
    "LANGUAGE",
    "EXAMPLES",
    "localname",
    "child_elements",
    "node_text",
    "short",
    "examples_of",
    "is_local_url",
    "is_absolute_http",
    "parse_xml",
    "exception_text",
    "theme_of_keyword",
    "title_word",
    "XSD_SUBDIR",
    "REPO_ROOT",
    "CapabilitiesResult",
    "param_values",
    "constraint_values",
    "check_capabilities",
    "soap_only",
    "Page",
    "int_attr",
    "read_page",
    "Summary",
    "summary_of",
    "metadata_language",
    "identification_bbox",
    "record_bbox",
    "record_title",
    "record_problems",
    "xsd_base",
    "find_iso_xsd",
    "iso_schema",
    "xsd_errors",
    "CswError",
    "GETRECORDS_NS",
    "getrecords_body",
    "getrecordbyid_body",
    "type_filter",
    "anytext_filter",
    "bbox_filter",
    "UDATA_TYPES_FILTER",
    "Client",
    "Check",
    "Report",
    "Listing",
    "Selftest",
    "run_selftest",
]
