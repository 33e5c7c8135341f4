"""Real CSW clients against our endpoint: OWSLib (what ckanext-spatial and many scripts use) and
GDAL's CSW driver (`ogrinfo`)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from owslib.csw import CatalogueServiceWeb
from owslib.fes import PropertyIsLike

from tests.integration.test_csw_publication import _ca, _jdd, _records, _wait, producer  # noqa: F401

GMD = "http://www.isotc211.org/2005/gmd"


@pytest.fixture
def published(producer, test_csw):  # noqa: F811
    api, org = producer
    ca = _ca(api, org, private=False, title="Inventaire des chiroptères du Morvan")
    jdds = [_jdd(api, org, ca, private=False, title=f"Comptages de chiroptères, site {i}") for i in range(12)]
    _jdd(api, org, ca, title="Jeu privé du Morvan")
    _wait(lambda: _records(test_csw)[0].get("numberOfRecordsMatched") == "13")
    return ca, jdds


def test_owslib_pages_through_every_record_filters_and_fetches_by_id(published, test_csw):
    ca, jdds = published
    csw = CatalogueServiceWeb(test_csw, version="2.0.2", timeout=30)
    assert {"GetRecords", "GetRecordById"} <= {op.name for op in csw.operations}
    seen, start = [], 1
    while True:
        csw.getrecords2(typenames="gmd:MD_Metadata", outputschema=GMD, esn="brief", startposition=start, maxrecords=5)
        seen += list(csw.records)
        if csw.results["nextrecord"] == 0:
            break
        start = csw.results["nextrecord"]
    assert csw.results["matches"] == 13
    assert sorted(seen) == sorted([ca["sinp_uuid"]] + [j["sinp_uuid"] for j in jdds])

    csw.getrecords2(
        constraints=[PropertyIsLike("csw:AnyText", "%site 7%")],
        typenames="gmd:MD_Metadata",
        outputschema=GMD,
        esn="full",
    )
    assert list(csw.records) == [jdds[7]["sinp_uuid"]]

    csw.getrecordbyid(id=[jdds[3]["sinp_uuid"]], outputschema=GMD)
    record = csw.records[jdds[3]["sinp_uuid"]]
    assert record.identification[0].title == "Comptages de chiroptères, site 3"
    assert record.parentidentifier == ca["sinp_uuid"]


def test_gdal_csw_driver_reads_the_catalogue(published, test_csw):
    assert shutil.which("ogrinfo"), "gdal-bin is missing (stack/install.sh installs it)"
    result = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", f"CSW:{test_csw}?version=2.0.2"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Feature Count: 13" in result.stdout
