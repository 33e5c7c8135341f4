"""ckanext-spatial's own CSW harvester (ckanext-harvest) harvests our CSW into CKAN, under a
second organisation: every public record arrives, no private one."""

from __future__ import annotations

import pytest
from ckan.tests import factories
from ckanext.harvest.tests.factories import HarvestJobObj, HarvestSourceObj
from ckanext.harvest.tests.lib import run_harvest_job
from ckanext.spatial.harvesters import CSWHarvester
from ckanext.spatial.lib.csw_client import CswService

from tests.integration.test_csw_publication import _ca, _jdd, _records, _wait, producer  # noqa: F401


def _fix_upstream_bug(monkeypatch):
    """ckanext-spatial 2.3.2's CSW harvester fails on *every* CSW source: its CSW client
    (``CswService.getrecordbyid``) prepends ``<?xml version="1.0" encoding="UTF-8"?>`` to a ``str``
    record, the harvester's clean-up regex (``<xml(.*)>``) does not remove it, and lxml refuses a
    ``str`` that carries an encoding declaration ("Unicode strings with encoding declaration are not
    supported"). Only that is changed here: the declaration is not prepended. Everything else is
    the stock client and harvester."""
    original = CswService.getrecordbyid

    def getrecordbyid(self, *args, **kwargs):
        record = original(self, *args, **kwargs)
        if record and record.get("xml", "").startswith("<?xml"):
            record["xml"] = record["xml"].split("?>", 1)[1].lstrip()
        return record

    monkeypatch.setattr(CswService, "getrecordbyid", getrecordbyid)


PLUGINS = (
    "sinp sinp_spatial_harvest scheming_datasets spatial_metadata spatial_query harvest csw_harvester dcat activity"
)


@pytest.mark.ckan_config("ckan.plugins", PLUGINS)
@pytest.mark.with_plugins
def test_ckanext_spatial_harvests_every_public_record_and_no_private_one(producer, test_csw, monkeypatch):  # noqa: F811
    _fix_upstream_bug(monkeypatch)
    api, org = producer
    ca = _ca(api, org, private=False)
    public = [_jdd(api, org, ca, private=False, title=f"Relevés publiés n° {i}") for i in range(3)]
    private = _jdd(api, org, ca, title="Relevés privés")
    _wait(lambda: len(_records(test_csw)[1]) == 4)

    second = factories.Organization(name="ideo-bfc-moissonnage")
    # ckanext-spatial's "ISO19139 XSD Schema" profile still expects the GML 3.1 namespace
    # (http://www.opengis.net/gml) in temporal extents, where INSPIRE TG 2.0 and GeoNetwork 4 use
    # GML 3.2.1 (http://www.opengis.net/gml/3.2), as our records do (valid against pycsw's ISO 19139
    # XSD: see test_iso): the source keeps importing on that validation message.
    source = HarvestSourceObj(
        url=f"{test_csw}?version=2.0.2",
        source_type="csw",
        owner_org=second["id"],
        config='{"continue_on_validation_errors": true}',
    )
    results = run_harvest_job(HarvestJobObj(source=source, run=False), CSWHarvester())
    failed = {guid: [e.message for e in r["errors"]] for guid, r in results.items() if r["state"] != "COMPLETE"}
    assert not failed, failed
    harvested = {guid for guid, r in results.items() if r["state"] == "COMPLETE"}
    assert harvested == {ca["sinp_uuid"]} | {j["sinp_uuid"] for j in public}
    assert private["sinp_uuid"] not in results
    datasets = [r["dataset"] for r in results.values()]
    assert "Relevés publiés n° 1" in {d["title"] for d in datasets}
    assert {d["owner_org"] for d in datasets} == {second["id"]}
