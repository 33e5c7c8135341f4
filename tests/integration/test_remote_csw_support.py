"""The partner catalogue of the harvester tests (support/remote_csw.py): a stock pycsw 2.6.2 serving
the ISO 19139 documents it is given, read here with OWSLib as a harvester would."""

from __future__ import annotations

import pathlib

from lxml import etree
from owslib.csw import CatalogueServiceWeb
from remote_csw import remote_pycsw  # support/ is on sys.path (tests/integration/conftest.py)

GMD = "http://www.isotc211.org/2005/gmd"
NS = {"gmd": GMD, "gco": "http://www.isotc211.org/2005/gco", "csw": "http://www.opengis.net/cat/csw/2.0.2"}

DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd" xmlns:gco="http://www.isotc211.org/2005/gco">
  <gmd:fileIdentifier><gco:CharacterString>{uuid}</gco:CharacterString></gmd:fileIdentifier>
  <gmd:hierarchyLevel>
    <gmd:MD_ScopeCode codeList="http://standards.iso.org/iso/19139/resources/gmxCodelists.xml#MD_ScopeCode"
        codeListValue="{hierarchy}">{hierarchy}</gmd:MD_ScopeCode>
  </gmd:hierarchyLevel>
  <gmd:dateStamp><gco:DateTime>{stamp}</gco:DateTime></gmd:dateStamp>
  <gmd:identificationInfo>
    <gmd:MD_DataIdentification>
      <gmd:citation><gmd:CI_Citation>
        <gmd:title><gco:CharacterString>{title}</gco:CharacterString></gmd:title>
      </gmd:CI_Citation></gmd:citation>
      <gmd:abstract><gco:CharacterString>Résumé : {title}.</gco:CharacterString></gmd:abstract>
      <gmd:extent><gmd:EX_Extent><gmd:geographicElement><gmd:EX_GeographicBoundingBox>
        <gmd:westBoundLongitude><gco:Decimal>{w}</gco:Decimal></gmd:westBoundLongitude>
        <gmd:eastBoundLongitude><gco:Decimal>{e}</gco:Decimal></gmd:eastBoundLongitude>
        <gmd:southBoundLatitude><gco:Decimal>{s}</gco:Decimal></gmd:southBoundLatitude>
        <gmd:northBoundLatitude><gco:Decimal>{n}</gco:Decimal></gmd:northBoundLatitude>
      </gmd:EX_GeographicBoundingBox></gmd:geographicElement></gmd:EX_Extent></gmd:extent>
    </gmd:MD_DataIdentification>
  </gmd:identificationInfo>
</gmd:MD_Metadata>
"""

RECORDS = {
    "a1e0b5c2-0000-4000-8000-000000000001": dict(
        hierarchy="series",
        title="Inventaire des odonates du Morvan",
        stamp="2026-01-05T08:00:00",
        w=3.8,
        e=4.4,
        s=46.9,
        n=47.5,
    ),
    "a1e0b5c2-0000-4000-8000-000000000002": dict(
        hierarchy="dataset",
        title="Comptages d'odonates 2025",
        stamp="2026-01-06T09:30:00",
        w=4.0,
        e=4.1,
        s=47.1,
        n=47.2,
    ),
    "a1e0b5c2-0000-4000-8000-000000000003": dict(
        hierarchy="dataset",
        title="Relevés de chiroptères du Doubs",
        stamp="2026-01-07T10:45:00",
        w=6.2,
        e=6.6,
        s=47.1,
        n=47.4,
    ),
}


def test_stock_pycsw_serves_the_given_documents(stack, tmp_path):
    documents = {
        f"{uuid}.xml": DOCUMENT.format(uuid=uuid, **fields).encode("utf-8") for uuid, fields in RECORDS.items()
    }
    with remote_pycsw(documents, tmp_path / "partner", pathlib.Path(stack["PYCSW_VENV"])) as url:
        csw = CatalogueServiceWeb(url, version="2.0.2", timeout=30)
        assert "pycsw" in csw.identification.title

        csw.getrecords2(typenames="gmd:MD_Metadata", esn="brief", outputschema=GMD, maxrecords=10)
        assert csw.results["matches"] == 3
        assert set(csw.records) == set(RECORDS)

        uuid = "a1e0b5c2-0000-4000-8000-000000000002"
        csw.getrecordbyid(id=[uuid], esn="full", outputschema=GMD)
        root = etree.fromstring(csw.response)
        (md,) = root.findall("gmd:MD_Metadata", NS)
        assert md.findtext("gmd:fileIdentifier/gco:CharacterString", namespaces=NS) == uuid
        assert md.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS).get("codeListValue") == "dataset"
        assert md.findtext("gmd:dateStamp/gco:DateTime", namespaces=NS) == "2026-01-06T09:30:00"
        assert csw.records[uuid].identifier == uuid  # OWSLib parsed it as ISO
        ident = "gmd:identificationInfo/gmd:MD_DataIdentification/"
        assert (
            md.findtext(ident + "gmd:citation/gmd:CI_Citation/gmd:title/gco:CharacterString", namespaces=NS)
            == "Comptages d'odonates 2025"
        )
        assert (
            md.findtext(ident + "gmd:abstract/gco:CharacterString", namespaces=NS)
            == "Résumé : Comptages d'odonates 2025."
        )
        box = md.find(ident + "gmd:extent/gmd:EX_Extent/gmd:geographicElement/gmd:EX_GeographicBoundingBox", NS)
        assert [
            float(box.findtext(f"gmd:{side}/gco:Decimal", namespaces=NS))
            for side in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
        ] == [4.0, 47.1, 4.1, 47.2]
