"""The record writer dictizes each record once (issue #20): the activity of a created record and
its Solr document are what stock CKAN would have made of it; the CSW harvester takes the full
records from the ``GetRecords`` pages and fetches nothing more for them."""

from __future__ import annotations

import json
import pathlib

import ckan.lib.search as search
import ckan.model as model
import pytest
from ckan.tests import factories, helpers
from ckanext.activity.model import Activity
from ckanext.harvest.model import HarvestObject
from lxml import etree
from remote_csw import remote_pycsw

from ckanext.sinp.domain import mtd
from ckanext.sinp.logic import records as writer
from ckanext.sinp_harvesters import base
from ckanext.sinp_harvesters.csw import page_document
from tests.conftest import ROOT
from tests.integration.test_harvest_csw import harvest, partner_catalogue, source

FIXTURES = ROOT / "tests" / "fixtures" / "mtd"


@pytest.fixture
def producer(clean_db, clean_index):
    user = factories.User()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}])
    return user, org


def _indexed(package_id: str) -> dict:
    """The record's Solr documents; ``extras`` in key order: CKAN lists them in the order its
    session holds them (as written, or PostgreSQL's JSONB order once read back), which says nothing."""
    found = search.show(package_id)
    docs = {key: json.loads(found[key]) for key in ("data_dict", "validated_data_dict")}
    for doc in docs.values():
        if isinstance(doc.get("extras"), list):
            doc["extras"].sort(key=lambda e: e.get("key", ""))
    return docs


def test_an_imported_record_has_one_activity_and_the_index_stock_ckan_gives(producer):
    user, org = producer
    document = (FIXTURES / "collection_odonates_bfc.xml").read_text(encoding="utf-8")
    result = helpers.call_action("sinp_mtd_import", context={"user": user["name"]}, xml=document, owner_org=org["id"])
    created = [r["id"] for r in result["records"]]
    assert created and {r["action"] for r in result["records"]} == {"created"}
    for package_id in created:
        activities = model.Session.query(Activity).filter(Activity.object_id == package_id).all()
        assert [a.activity_type for a in activities] == ["new package"]
        assert activities[0].user_id == user["id"]
        shown = helpers.call_action("package_show", context={"ignore_auth": True}, id=package_id)
        recorded = activities[0].data["package"]
        assert recorded["id"] == package_id and recorded["title"] == shown["title"]
        assert recorded["private"] is True and recorded["metadata_modified"] == shown["metadata_modified"]
        ours = _indexed(package_id)
        search.rebuild(package_id)  # what CKAN's own indexer makes of the stored package
        assert _indexed(package_id) == ours

    # the same document again: updates, no activity (as before), the index follows the stored package
    again = helpers.call_action("sinp_mtd_import", context={"user": user["name"]}, xml=document, owner_org=org["id"])
    assert {r["action"] for r in again["records"]} == {"updated"}
    for package_id in created:
        assert model.Session.query(Activity).filter(Activity.object_id == package_id).count() == 1
        ours = _indexed(package_id)
        search.rebuild(package_id)
        assert _indexed(package_id) == ours


def test_a_record_changed_after_its_write_is_indexed_afresh(producer):
    user, org = producer
    raw = (FIXTURES / "collection_odonates_bfc.xml").read_bytes()
    ca = next(rec for rec in mtd.parse_document(raw) if rec.kind == "ca")
    writer.clean_keywords(ca.record, ca.label)
    context = {"model": model, "session": model.Session, "user": user["name"], "ignore_auth": True}
    package_id, action = writer.write_record(context, "ca", ca.record, org["id"])
    assert action == "created"
    model.Package.get(package_id).private = False  # changed after the write, in the same transaction
    model.repo.commit()
    writer.index_packages([package_id])
    assert _indexed(package_id)["data_dict"]["private"] is False


def test_page_document_keeps_whole_records_only():
    gmd = "http://www.isotc211.org/2005/gmd"
    whole = etree.fromstring(f'<gmd:MD_Metadata xmlns:gmd="{gmd}"><gmd:identificationInfo/></gmd:MD_Metadata>')
    summary = etree.fromstring(f'<gmd:MD_Metadata xmlns:gmd="{gmd}"><gmd:fileIdentifier/></gmd:MD_Metadata>')
    assert page_document(whole).startswith("<gmd:MD_Metadata")
    assert page_document(summary) is None


@pytest.fixture
def org(clean_db, clean_index, jobs_worker):
    return factories.Organization(name="partenaire-pages")


def test_the_harvester_takes_full_records_from_the_pages(stack, org, tmp_path):
    ca, jdds, docs = partner_catalogue()
    with remote_pycsw(docs, tmp_path / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        results = harvest(source(org, url, page_size=3))
    added = {g for g, r in results.items() if r["report_status"] == "added"}
    assert added == {ca["sinp_uuid"]} | {j["sinp_uuid"] for j in jdds}
    for guid in added:
        obj = HarvestObject.get(results[guid]["obj_id"])
        assert {e.key: e.value for e in obj.extras}["status"] == base.LISTED  # fetch downloaded nothing
        assert guid in obj.content and obj.content.startswith("<gmd:MD_Metadata")
