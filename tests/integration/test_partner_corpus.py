"""The partner corpus (tests/fixtures/iso_partners/, issue #19) is what a partner's stock pycsw 2.6.2
serves: every document loaded, counted, listed page by page and returned whole by GetRecordById.

The harvest tests build on this: a record that stock pycsw cannot load would prove nothing about
our harvester."""

from __future__ import annotations

import pathlib

import pytest
import requests
from lxml import etree
from remote_csw import remote_pycsw  # support/ is on sys.path (tests/integration/conftest.py)

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "iso_partners"
GMD = "http://www.isotc211.org/2005/gmd"
NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "gmd": GMD,
    "gmi": "http://www.isotc211.org/2005/gmi",
    "gco": "http://www.isotc211.org/2005/gco",
    "srv": "http://www.isotc211.org/2005/srv",
}
ROOTS = "gmd:MD_Metadata|gmi:MI_Metadata"


def corpus() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(CORPUS.glob("*.xml"))}


def file_identifier(document: bytes) -> str:
    root = etree.fromstring(document)
    return (root.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) or "").strip()


def csw(url: str, **params) -> etree._Element:
    response = requests.get(url, params={"service": "CSW", "version": "2.0.2", **params}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    root = etree.fromstring(response.content)
    assert root.tag != "{http://www.opengis.net/ows}ExceptionReport", response.text[:500]
    return root


def get_records(url: str, start: int = 1, constraint: str | None = None, result_type: str = "results"):
    params = {
        "request": "GetRecords",
        "typeNames": "gmd:MD_Metadata",
        "outputSchema": GMD,
        "elementSetName": "full",
        "resultType": result_type,
        "maxRecords": 20,  # GeoNetwork's page
        "startPosition": start,
    }
    if constraint:
        params.update(constraintLanguage="CQL_TEXT", constraint_language_version="1.1.0", constraint=constraint)
    return csw(url, **params)


@pytest.fixture(scope="module")
def partner(stack, tmp_path_factory):
    documents = corpus()
    # raises RejectedRecordsError naming any document stock pycsw does not load
    with remote_pycsw(documents, tmp_path_factory.mktemp("partner") / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        yield url, documents


def test_the_corpus_is_large_enough_and_documented():
    documents = corpus()
    assert len(documents) >= 32
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert [name for name in documents if f"`{name}`" not in readme] == []


def test_stock_pycsw_serves_every_document_of_the_corpus(partner):
    url, documents = partner
    hits = get_records(url, result_type="hits").find("csw:SearchResults", NS)
    assert int(hits.get("numberOfRecordsMatched")) == len(documents)

    # GeoNetwork's loop: pages of 20 until nextRecord is 0
    seen, start = [], 1
    while start:
        results = get_records(url, start=start).find("csw:SearchResults", NS)
        records = results.xpath(ROOTS, namespaces=NS)
        assert int(results.get("numberOfRecordsReturned")) == len(records)
        seen += [(r.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) or "").strip() for r in records]
        start = int(results.get("nextRecord"))
    assert sorted(seen) == sorted(file_identifier(d) for d in documents.values())
    assert len(set(seen)) == len(documents)  # the duplicate pair differs for pycsw (case, urn:uuid:)


def test_partner_records_come_back_whole(partner):
    url, documents = partner
    # non-UUID identifiers, an ISO 19115-2 record, a service: the stored document, unchanged
    for name in (
        "cnig_cc_carte_communale_fr-000019182-CC20150517.xml",
        "marine_ie_dataset_1135_eng_gml31_open_end.xml",
        "mi_metadata_sentinel2_l2a_tile_eng.xml",
        "service_wfs_operateson_xlink_href.xml",
        "geobretagne_zones_humides_finistere_long_lineage.xml",
    ):
        ident = file_identifier(documents[name])
        response = csw(url, request="GetRecordById", id=ident, outputSchema=GMD, elementSetName="full")
        (record,) = response.xpath(ROOTS, namespaces=NS)
        original = etree.fromstring(documents[name])
        assert record.tag == original.tag, name
        same = [etree.tostring(r, method="c14n", exclusive=True) for r in (record, original)]
        assert same[0] == same[1], name

    lineage = "gmd:dataQualityInfo/gmd:DQ_DataQuality/gmd:lineage/gmd:LI_Lineage/gmd:statement/gco:CharacterString"
    response = csw(
        url,
        request="GetRecordById",
        id="8f1c5a2e-3b7d-4c19-9e6a-2d4f7b8c1a05",
        outputSchema=GMD,
        elementSetName="full",
    )
    assert len(response.findtext(f"gmd:MD_Metadata/{lineage}", namespaces=NS)) > 2000


def test_partner_services_and_series_are_queryable_by_type(partner):
    url, documents = partner
    services = get_records(url, constraint="dc:type = 'service'").find("csw:SearchResults", NS)
    names = sorted(
        r.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS)
        for r in services.xpath(ROOTS, namespaces=NS)
    )
    assert names == sorted(file_identifier(d) for n, d in documents.items() if n.startswith("service_"))
    series = get_records(url, constraint="dc:type = 'series'").find("csw:SearchResults", NS)
    assert int(series.get("numberOfRecordsMatched")) == 1
