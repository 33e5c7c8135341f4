"""CA/JDD published over CSW as a harvester sees them: only public records, paging, full ISO records.

CKAN (in-process, test database) writes; a real `ckan jobs worker` runs the sync after the
commit; a second real pycsw 2.6.2 serves the test database's table.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import factories
from lxml import etree

from tests.integration.test_sinp_records import CA, JDD, Api
from tests.iso_xsd import iso19139_schema

NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
}
GMD = "http://www.isotc211.org/2005/gmd"


@pytest.fixture
def producer(app, clean_db, clean_index, jobs_worker):
    user = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="CEN Bourgogne-Franche-Comté"
    )
    return Api(app, user["token"]), org


def _records(csw, **extra):
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecords",
        "typeNames": "gmd:MD_Metadata",
        "resultType": "results",
        "elementSetName": "summary",
        "outputSchema": GMD,
        "maxRecords": 50,
        **extra,
    }
    root = etree.fromstring(requests.get(csw, params=params, timeout=20).content)
    results = root.find("csw:SearchResults", NS)
    ids = root.xpath("//gmd:MD_Metadata/gmd:fileIdentifier/gco:CharacterString/text()", namespaces=NS)
    return results, ids


def _full(csw, identifier):
    params = {
        "service": "CSW",
        "version": "2.0.2",
        "request": "GetRecordById",
        "id": identifier,
        "outputSchema": GMD,
        "elementSetName": "full",
    }
    return etree.fromstring(requests.get(csw, params=params, timeout=20).content)


def _wait(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the CSW did not reach the expected state in time")


def _ca(api, org, **changes):
    return api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], **changes},
    )


def _jdd(api, org, ca, **changes):
    return api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            **changes,
        },
    )


@pytest.fixture(scope="module")
def iso_schema():
    return iso19139_schema()


def test_public_records_are_served_private_ones_never(producer, test_csw, iso_schema):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    hidden = _jdd(api, org, ca, title="Jeu privé")
    results, ids = _wait(lambda: (lambda r: r if len(r[1]) == 2 else None)(_records(test_csw)))
    assert sorted(ids) == sorted([ca["sinp_uuid"], jdd["sinp_uuid"]])
    assert results.get("numberOfRecordsMatched") == "2" and results.get("nextRecord") == "0"
    assert hidden["sinp_uuid"] not in ids
    assert len(_full(test_csw, hidden["sinp_uuid"])) == 0

    record = _full(test_csw, jdd["sinp_uuid"])
    assert len(record) == 1
    md = record[0]
    iso_schema.assertValid(etree.ElementTree(md))
    assert md.xpath("string(gmd:parentIdentifier/gco:CharacterString)", namespaces=NS) == ca["sinp_uuid"]
    assert md.xpath("string(gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue)", namespaces=NS) == "dataset"
    ca_record = _full(test_csw, ca["sinp_uuid"])[0]
    assert ca_record.xpath("string(gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue)", namespaces=NS) == "series"


def test_withdrawing_editing_and_deleting_reach_the_csw(producer, test_csw):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    _wait(lambda: len(_records(test_csw)[1]) == 2)
    stamp = _full(test_csw, jdd["sinp_uuid"])[0].xpath("string(gmd:dateStamp/*)", namespaces=NS)
    assert "T" in stamp  # a date-time: a second edit on the same day is still seen by harvesters

    api.ok("package_patch", id=jdd["id"], title="Comptages hivernaux, titre corrigé")
    _wait(lambda: "titre corrigé" in etree.tostring(_full(test_csw, jdd["sinp_uuid"]), encoding=str))
    new_stamp = _full(test_csw, jdd["sinp_uuid"])[0].xpath("string(gmd:dateStamp/*)", namespaces=NS)
    assert new_stamp > stamp

    api.ok("package_patch", id=jdd["id"], private=True)  # withdrawn
    _wait(lambda: _records(test_csw)[1] == [ca["sinp_uuid"]])
    api.ok("package_patch", id=jdd["id"], private=False)
    _wait(lambda: len(_records(test_csw)[1]) == 2)
    api.ok("package_delete", id=jdd["id"])
    _wait(lambda: _records(test_csw)[1] == [ca["sinp_uuid"]])


def test_paging_is_complete_and_stable(producer, test_csw):
    api, org = producer
    ca = _ca(api, org, private=False)
    created = {ca["sinp_uuid"]} | {
        _jdd(api, org, ca, private=False, title=f"Relevés n° {i}")["sinp_uuid"] for i in range(24)
    }
    _wait(lambda: _records(test_csw)[0].get("numberOfRecordsMatched") == "25")
    seen, start = [], 1
    while True:
        results, ids = _records(test_csw, maxRecords=10, startPosition=start)
        assert results.get("numberOfRecordsReturned") == str(len(ids))
        seen += ids
        if results.get("nextRecord") == "0":
            break
        start = int(results.get("nextRecord"))
    assert len(seen) == len(set(seen)) == 25 and set(seen) == created
    assert seen == _records(test_csw, maxRecords=50)[1]  # same order in one page as in three


def test_csw_sync_rebuilds_the_table_and_reports_differences(stack, producer, test_csw):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    _wait(lambda: len(_records(test_csw)[1]) == 2)

    def sync():
        result = subprocess.run(
            [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "csw-sync"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "0 ajoutés, 0 mis à jour, 0 retirés, 2 inchangés." in sync()
    with model.meta.engine.begin() as conn:  # a row lost, a stray row added
        conn.execute(sa.text("DELETE FROM sinp_csw_record WHERE identifier = :i"), {"i": jdd["sinp_uuid"]})
        conn.execute(sa.text("INSERT INTO sinp_csw_record (identifier, xml, anytext) VALUES ('PARASITE', '<x/>', 'x')"))
    out = sync()
    assert "1 ajoutés, 0 mis à jour, 1 retirés, 1 inchangés." in out
    assert f"ajout : {jdd['sinp_uuid']}" in out and "retrait : PARASITE" in out
    assert sorted(_records(test_csw)[1]) == sorted([ca["sinp_uuid"], jdd["sinp_uuid"]])
    assert "0 ajoutés, 0 mis à jour, 0 retirés, 2 inchangés." in sync()


def _bbox(md):
    box = md.xpath(".//gmd:EX_GeographicBoundingBox", namespaces=NS)
    if not box:
        return None
    return tuple(
        float(box[0].xpath(f"string(gmd:{k}/gco:Decimal)", namespaces=NS))
        for k in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
    )


def _stamp(csw, identifier):
    return _full(csw, identifier)[0].xpath("string(gmd:dateStamp/*)", namespaces=NS)


def _served_bbox(csw, identifier):
    """The extent of the served record, None while it is not served."""
    found = _full(csw, identifier)
    return _bbox(found[0]) if len(found) else None


def test_extents_of_ca_and_meta_cadre_follow_their_jdd_and_their_datestamp_moves(producer, test_csw):
    """A CA's (series) extent is the union of its public JDD's; a méta-cadre's covers the JDD of
    its child CAs. When a JDD's extent changes, the CA and the méta-cadre documents change, and so
    does their dateStamp (GeoNetwork re-fetches only records whose dateStamp is newer)."""
    api, org = producer
    meta = _ca(api, org, private=False, est_meta_cadre="true", title="Méta-cadre atlas régional")
    ca = _ca(api, org, private=False, meta_cadre_parent=meta["sinp_uuid"])
    jdd = _jdd(api, org, ca, private=False)  # 3.85 46.95 4.35 47.45
    _jdd(api, org, ca, private=False, borne_ouest="5.10", borne_est="6.20", borne_sud="47.10", borne_nord="47.90")
    _jdd(
        api, org, ca, private=True, borne_ouest="-1.0", borne_est="7.0", borne_sud="42.0", borne_nord="51.0"
    )  # private: never shows, not even through its CA's extent
    expected = (3.85, 46.95, 6.2, 47.9)
    _wait(lambda: _served_bbox(test_csw, meta["sinp_uuid"]) == expected)
    _wait(lambda: _served_bbox(test_csw, ca["sinp_uuid"]) == expected)
    stamps = {u: _stamp(test_csw, u) for u in (meta["sinp_uuid"], ca["sinp_uuid"])}

    api.ok("package_patch", id=jdd["id"], borne_ouest="3.10")
    moved = (3.1, 46.95, 6.2, 47.9)
    _wait(lambda: _served_bbox(test_csw, meta["sinp_uuid"]) == moved)
    _wait(lambda: _served_bbox(test_csw, ca["sinp_uuid"]) == moved)
    for identifier, before in stamps.items():
        assert _stamp(test_csw, identifier) > before


def test_csw_sync_leaves_unchanged_records_and_their_datestamp_alone(stack, producer, test_csw):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    _wait(lambda: len(_records(test_csw)[1]) == 2)
    before = {u: _stamp(test_csw, u) for u in (ca["sinp_uuid"], jdd["sinp_uuid"])}
    time.sleep(1.1)
    result = subprocess.run(
        [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "sinp", "csw-sync"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert "0 ajoutés, 0 mis à jour, 0 retirés, 2 inchangés." in result.stdout
    assert {u: _stamp(test_csw, u) for u in before} == before
