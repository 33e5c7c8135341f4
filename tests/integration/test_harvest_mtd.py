"""The ``sinp_mtd`` harvester against a local imitation of the INPN MTD web services
(tests/integration/support/mtd_server.py: documents written by hand in the format of
SINP_STANDARDS.md §2), through ckanext-harvest's own gather / fetch / import stages, on the real
PostgreSQL and Solr."""

from __future__ import annotations

import json
import uuid as uuidlib

import ckan.model as model
import pytest
from ckan.tests import factories, helpers
from ckanext.harvest.model import HarvestGatherError, HarvestObject, HarvestSource
from ckanext.harvest.tests.factories import HarvestJobObj
from ckanext.harvest.tests.lib import run_harvest_job
from mtd_server import MtdServer, ca_xml, jdd_xml

from ckanext.sinp.logic import queries
from ckanext.sinp_harvesters.mtd import SinpMtdHarvester
from tests.integration.conftest import search_count

HOSTILE = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<gml:FeatureCollection xmlns:gml="http://www.opengis.net/gml/3.2">&lol2;</gml:FeatureCollection>'
)


def U() -> str:
    return str(uuidlib.uuid4()).upper()


@pytest.fixture
def mtd_server():
    with MtdServer() as server:
        yield server


@pytest.fixture
def org(clean_db, clean_index, jobs_worker):
    return factories.Organization(name="inpn-mtd", title="Moissonnage INPN")


def source(org, url, **config):
    """A new harvest source of the organisation, created as a sysadmin does in the UI (through
    ckanext-harvest's action, which validates the configuration with the harvester)."""
    created = helpers.call_action(
        "harvest_source_create",
        context={"user": factories.Sysadmin()["name"]},
        url=url,
        name=f"source-{uuidlib.uuid4().hex[:12]}",
        title="Source de test",
        source_type="sinp_mtd",
        owner_org=org["id"],
        config=json.dumps(config or {"instance_id": "42"}),
    )
    return HarvestSource.get(created["id"])


def harvest(src):
    return run_harvest_job(HarvestJobObj(source=src, run=False), SinpMtdHarvester())


def gather_errors(src) -> list[str]:
    return [
        e.message
        for e in model.Session.query(HarvestGatherError).join(HarvestGatherError.job).filter_by(source_id=src.id)
    ]


def errors(results) -> dict:
    return {guid: [e.message for e in r["errors"]] for guid, r in results.items() if r["errors"]}


def show(uuid):
    """The dataset holding this SINP UUID, as package_show gives it (None: there is none)."""
    found = queries.packages_by_uuid(model, [uuid]).get(uuid)
    return helpers.call_action("package_show", id=found[0].id) if found else None


def test_an_instance_is_harvested_ca_before_jdd_and_twice_changes_nothing(org, mtd_server):
    ca, jdd1, jdd2 = U(), U(), U()
    mtd_server.add_jdd(jdd1, jdd_xml(jdd1, ca, "Imagos d'odonates 2022"), instance="42")  # listed before its CA
    mtd_server.add_ca(ca, ca_xml(ca, "Atlas des odonates de Bourgogne-Franche-Comté"))
    mtd_server.add_jdd(jdd2, jdd_xml(jdd2, ca, "Exuvies d'odonates 2023"), instance="42")
    src = source(org, mtd_server.url)

    results = harvest(src)
    assert not errors(results)
    assert list(results) == [ca, jdd1, jdd2]  # CA first: the JDD find their CA
    assert {r["report_status"] for r in results.values()} == {"added"}
    record = show(jdd1)
    assert record["title"] == "Imagos d'odonates 2022" and record["cadre"] == ca
    assert record["owner_org"] == org["id"] and record["private"] is False
    assert show(ca)["type"] == "ca"
    fetched = [r for r in mtd_server.requests if "GetRecordById" in r]
    assert f"/cadre/jdd/export/xml/GetRecordById?id={jdd1}" in fetched  # each record downloaded by itself
    modified = record["metadata_modified"]

    again = harvest(src)
    assert {r["report_status"] for r in again.values()} == {"not modified"}
    assert show(jdd1)["metadata_modified"] == modified
    assert search_count(3, include_private=True) == 3


def test_a_changed_record_is_updated_and_a_vanished_one_withdrawn_not_deleted(org, mtd_server):
    ca, jdd1, jdd2 = U(), U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Suivi des tourbières"))
    mtd_server.add_jdd(jdd1, jdd_xml(jdd1, ca, "Relevés 2021"), instance="42")
    mtd_server.add_jdd(jdd2, jdd_xml(jdd2, ca, "Relevés 2022"), instance="42")
    src = source(org, mtd_server.url)
    harvest(src)

    mtd_server.add_jdd(jdd1, jdd_xml(jdd1, ca, "Relevés 2021 (corrigés)"), instance="42")
    mtd_server.remove(jdd2)
    results = harvest(src)
    assert results[jdd1]["report_status"] == "updated"
    assert show(jdd1)["title"] == "Relevés 2021 (corrigés)"
    assert results[jdd2]["report_status"] == "deleted"
    assert [e.message for e in results[jdd2]["errors"]] == [
        f"Retiré de la source : l'enregistrement {jdd2} (« Relevés 2022 ») n'y figure plus ; la fiche a été "
        "rendue privée (elle n'est pas supprimée)."
    ]
    withdrawn = show(jdd2)
    assert withdrawn["private"] is True and withdrawn["state"] == "active"
    assert search_count(2) == 2  # the public no longer sees it

    # reported once; back at the source, it is published again
    assert jdd2 not in harvest(src)
    mtd_server.add_jdd(jdd2, jdd_xml(jdd2, ca, "Relevés 2022"), instance="42")
    back = harvest(src)
    assert not errors(back)
    assert show(jdd2)["private"] is False


def test_a_jdd_whose_ca_is_missing_is_an_error_of_its_own_and_the_rest_is_imported(org, mtd_server):
    ca, orphan, jdd = U(), U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Inventaire des mares"))
    mtd_server.add_jdd(jdd, jdd_xml(jdd, ca, "Mares 2020"), instance="42")
    mtd_server.add_jdd(orphan, jdd_xml(orphan, U(), "Orphelin"), instance="42")
    results = harvest(source(org, mtd_server.url))
    assert results[ca]["state"] == results[jdd]["state"] == "COMPLETE"
    messages = errors(results)[orphan]
    assert len(messages) == 1 and "son cadre d'acquisition" in messages[0] and "n'est ni dans la source" in messages[0]
    assert show(orphan) is None


@pytest.mark.parametrize(
    "fault, expected",
    [
        ("http500", "a répondu HTTP 500"),
        ("malformed", "réponse illisible — XML mal formé"),
        ("hostile", "réponse illisible — Document refusé : il contient une déclaration <!DOCTYPE>"),
        ("timeout", "pas de réponse en 1 s"),
    ],
)
def test_a_failing_listing_imports_nothing_and_withdraws_nothing(org, mtd_server, fault, expected):
    ca, jdd = U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Atlas des amphibiens"))
    mtd_server.add_jdd(jdd, jdd_xml(jdd, ca, "Amphibiens 2024"), instance="42")
    src = source(org, mtd_server.url, instance_id="42", timeout=1)
    harvest(src)
    listing = "/cadre/jdd/export/xml/GetRecordsByInstanceId"
    {
        "http500": lambda: mtd_server.fail(listing, 500),
        "malformed": lambda: mtd_server.override(listing, b"<gml:FeatureCollection><oops"),
        "hostile": lambda: mtd_server.override(listing, HOSTILE),
        "timeout": lambda: mtd_server.delay(listing, 3),
    }[fault]()
    assert harvest(src) == {}
    messages = gather_errors(src)
    assert len(messages) == 1 and expected in messages[0] and messages[0].endswith("Rien n'a été importé ni retiré."), (
        messages
    )
    assert show(jdd)["private"] is False  # nothing withdrawn


def test_record_level_failures_are_errors_of_their_objects(org, mtd_server):
    ca, jdd_500, jdd_bad, jdd_ok = U(), U(), U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Observatoire des papillons"))
    for j in (jdd_500, jdd_bad, jdd_ok):
        mtd_server.add_jdd(j, jdd_xml(j, ca, f"Papillons {j[:4]}"), instance="42")
    mtd_server.fail(f"/cadre/jdd/export/xml/GetRecordById?id={jdd_500}", 500)
    mtd_server.override(f"/cadre/jdd/export/xml/GetRecordById?id={jdd_bad}", HOSTILE)
    results = harvest(source(org, mtd_server.url))
    found = errors(results)
    assert set(found) == {jdd_500, jdd_bad}
    assert "HTTP 500" in found[jdd_500][0]
    assert "Document refusé" in found[jdd_bad][0]
    assert show(jdd_ok) is not None and show(jdd_500) is None and show(jdd_bad) is None

    # fixed at the source: the next job imports them and reports no error
    mtd_server.reset_faults()
    again = harvest(source_of(results))
    assert not errors(again) and show(jdd_500) and show(jdd_bad)


def source_of(results):
    obj = HarvestObject.get(next(iter(results.values()))["obj_id"])
    return obj.source


def test_an_empty_instance_withdraws_nothing_and_says_why(org, mtd_server):
    src = source(org, mtd_server.url, instance_id="77")
    assert harvest(src) == {}  # nothing there, nothing harvested, no error
    assert gather_errors(src) == []
    ca = U()
    mtd_server.add_ca(ca, ca_xml(ca, "Atlas des reptiles", instance="77"))
    harvest(src)
    mtd_server.remove(ca)
    assert harvest(src) == {}
    assert "par précaution, rien n'est retiré" in gather_errors(src)[0]
    assert show(ca)["private"] is False


def test_a_list_of_ca_brings_them_and_their_creator_s_jdd(org, mtd_server):
    ca, other_ca, jdd, foreign = U(), U(), U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Inventaire des chiroptères"), user="9001")
    mtd_server.add_ca(other_ca, ca_xml(other_ca, "Autre cadre"), user="9001")
    mtd_server.add_jdd(jdd, jdd_xml(jdd, ca, "Gîtes 2024"), user="9001")
    mtd_server.add_jdd(foreign, jdd_xml(foreign, other_ca, "Hors liste"), user="9001")
    results = harvest(source(org, mtd_server.url, ca_uuids=[ca.lower()], jdd_user_id="9001"))
    assert list(results) == [ca, jdd] and not errors(results)


def test_our_own_records_are_never_copied(org, mtd_server):
    mine = factories.Organization(name="producteur")
    ca = U()
    from tests.integration.test_csw_publication import CA  # a valid CA of the catalogue

    helpers.call_action(
        "package_create",
        context={"user": factories.Sysadmin()["name"]},
        **{**CA, "name": "ca-local", "owner_org": mine["id"], "sinp_uuid": ca},
    )
    mtd_server.add_ca(ca, ca_xml(ca, "Le même cadre, publié aussi à l'INPN"))
    results = harvest(source(org, mtd_server.url))
    assert results[ca]["report_status"] == "not modified"
    assert show(ca)["owner_org"] == mine["id"] and show(ca)["title"] == CA["title"]


def test_source_configuration_is_checked_in_french():
    harvester = SinpMtdHarvester()
    assert harvester.validate_config('{"instance_id": "42"}')
    for config, message in [
        ("{", "n'est pas du JSON valide"),
        ("{}", "exactement une des clés"),
        ('{"instance_id": "42", "user_id": "1"}', "exactement une des clés"),
        ('{"ca_uuids": ["pas-un-uuid"]}', "pas-un-uuid n'est pas un UUID"),
        ('{"instance_id": "42", "privé": true}', "Clé « privé » inconnue"),
        ('{"instance_id": "42", "timeout": 0}', "« timeout » est un nombre de secondes"),
        ('{"instance_id": "4 2"}', "« instance_id » doit être un identifiant"),
    ]:
        with pytest.raises(ValueError) as err:
            harvester.validate_config(config)
        assert message in str(err.value), (config, str(err.value))


def test_the_harvest_pages_show_the_job_and_each_record_s_error_in_french(org, mtd_server, test_ckan_url, http):
    import html

    ca, orphan = U(), U()
    mtd_server.add_ca(ca, ca_xml(ca, "Inventaire des haies"))
    mtd_server.add_jdd(orphan, jdd_xml(orphan, U(), "Haies sans cadre"), instance="42")
    src = source(org, mtd_server.url)
    harvest(src)
    token = factories.SysadminWithToken()["token"]
    page = http.get(f"{test_ckan_url}/harvest/{src.id}/job/last", headers={"Authorization": token}, timeout=30)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert (
        orphan in text and "son cadre d'acquisition" in text and "n'est ni dans la source ni dans le catalogue" in text
    )
    source_page = http.get(f"{test_ckan_url}/harvest/{src.id}", headers={"Authorization": token}, timeout=30)
    assert source_page.status_code == 200 and "INPN" in html.unescape(source_page.text)


def test_the_source_document_of_a_private_harvested_record_is_not_public(org, mtd_server, test_ckan_url, http):
    ca = U()
    mtd_server.add_ca(ca, ca_xml(ca, "Cadre confidentiel"))
    results = harvest(source(org, mtd_server.url, instance_id="42", private=True))
    obj_id = results[ca]["obj_id"]
    assert show(ca)["private"] is True
    anonymous = http.get(f"{test_ckan_url}/api/3/action/harvest_object_show", params={"id": obj_id}, timeout=30)
    assert anonymous.status_code == 403
    by_dataset = http.get(
        f"{test_ckan_url}/api/3/action/harvest_object_show", params={"dataset_id": show(ca)["id"]}, timeout=30
    )
    assert by_dataset.status_code in (403, 404)
    assert http.get(f"{test_ckan_url}/harvest/object/{obj_id}", timeout=30).status_code in (403, 404)
    token = factories.SysadminWithToken()["token"]
    allowed = http.get(f"{test_ckan_url}/harvest/object/{obj_id}", headers={"Authorization": token}, timeout=30)
    assert allowed.status_code == 200 and "Cadre confidentiel" in allowed.text
