"""INPN MTD XML import and export through CKAN: idempotence, round trip, refusal as a whole."""

from __future__ import annotations

import subprocess
import time

import ckan.model as model
import pytest
from ckan.tests import factories

from ckanext.sinp.domain import mtd
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "mtd"


def _xml(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _count() -> int:
    return model.Session.query(model.Package).filter(model.Package.state != "deleted").count()


@pytest.fixture
def producer(app, clean_db, clean_index):
    user = factories.UserWithToken()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}])

    def call(action, **data):
        response = app.post(f"/api/3/action/{action}", json=data, headers={"Authorization": user["token"]})
        return response.status_code, response.json

    return call, org


def test_import_creates_then_updates_by_uuid(producer):
    call, org = producer
    document = _xml("collection_odonates_bfc.xml")
    status, body = call("sinp_mtd_import", xml=document, owner_org=org["name"])
    assert status == 200, body
    records = body["result"]["records"]
    assert {r["action"] for r in records} == {"created"}
    kinds = [r["type"] for r in records]
    assert kinds == sorted(kinds)  # "ca" before "jdd": CA are written before their JDD
    assert len(records) == len(mtd.parse_document(document.encode()))
    before = _count()

    status, body = call("sinp_mtd_import", xml=document, owner_org=org["name"])
    assert status == 200, body
    assert {r["action"] for r in body["result"]["records"]} == {"updated"}
    assert _count() == before
    # imported records are private until their producer publishes them
    assert all(call("package_show", id=r["id"])[1]["result"]["private"] for r in records)


def test_import_export_import_loses_no_field(producer):
    call, org = producer
    document = _xml("collection_odonates_bfc.xml")
    expected = {rec.uuid: rec.record for rec in mtd.parse_document(document.encode())}
    status, body = call("sinp_mtd_import", xml=document, owner_org=org["name"])
    assert status == 200, body
    for uuid, record in expected.items():
        status, exported = call("sinp_mtd_export", id=uuid.lower())
        assert status == 200, exported
        again = mtd.parse_document(exported["result"].encode())[0].record
        # CKAN keeps tags in alphabetical order: the keywords are the same, their order is not
        assert sorted(again.pop("tag_string", "").split(",")) == sorted(record.get("tag_string", "").split(","))
        assert again == {k: v for k, v in record.items() if k != "tag_string"}, uuid


@pytest.mark.parametrize(
    "fixture, expected",
    [
        ("invalide_codes.xml", "n'existe pas dans la nomenclature"),
        ("invalide_deux_contacts_principaux.xml", "exactement un contact principal"),
        ("invalide_sans_libelle_court.xml", "Libellé court"),
        ("invalide_dates.xml", "antérieure à la date de lancement"),
        ("mal_forme.xml", "XML mal formé"),
        ("hostile_xxe_fichier.xml", "DTD"),
        ("hostile_billion_laughs.xml", "DTD"),
        ("pas_mtd.xml", "Aucun cadre d'acquisition"),
    ],
)
def test_an_invalid_document_is_refused_as_a_whole_and_nothing_is_stored(producer, fixture, expected):
    call, org = producer
    before = _count()
    started = time.monotonic()
    status, body = call("sinp_mtd_import", xml=_xml(fixture), owner_org=org["name"])
    assert status == 409, body
    messages = " ".join(body["error"]["xml"])
    assert expected in messages, messages
    assert "root:" not in messages  # nothing of /etc/passwd
    assert _count() == before
    assert time.monotonic() - started < 10


def test_a_jdd_whose_ca_is_missing_is_refused(producer):
    call, org = producer
    status, body = call("sinp_mtd_import", xml=_xml("jdd_comptages_hivernaux.xml"), owner_org=org["name"])
    assert status == 409
    assert "n'est ni dans le document ni dans le catalogue" in " ".join(body["error"]["xml"])


def _with_meta_cadre(call, org):
    """ca_chiropteres_morvan.xml belongs to the méta-cadre of collection_odonates_bfc.xml."""
    status, body = call("sinp_mtd_import", xml=_xml("collection_odonates_bfc.xml"), owner_org=org["name"])
    assert status == 200, body


def test_a_ca_whose_meta_cadre_is_missing_is_refused(producer):
    call, org = producer
    status, body = call("sinp_mtd_import", xml=_xml("ca_chiropteres_morvan.xml"), owner_org=org["name"])
    assert status == 409
    assert "méta-cadre parent 978258FB" in " ".join(body["error"]["xml"])


def test_a_jdd_document_is_accepted_once_its_ca_is_in_the_catalogue(producer):
    call, org = producer
    _with_meta_cadre(call, org)
    assert call("sinp_mtd_import", xml=_xml("ca_chiropteres_morvan.xml"), owner_org=org["name"])[0] == 200
    status, body = call("sinp_mtd_import", xml=_xml("jdd_comptages_hivernaux.xml"), owner_org=org["name"])
    assert status == 200, body
    assert body["result"]["records"][0]["type"] == "jdd"


def test_old_1_3_1_names_are_read(producer):
    call, org = producer
    records = mtd.parse_document(_xml("jdd_1_3_1.xml").encode())
    assert records and records[0].kind == "jdd" and records[0].record["libelle_court"]


def test_a_producer_cannot_import_into_another_structure(producer):
    call, _ = producer
    other = factories.Organization()
    status, _ = call("sinp_mtd_import", xml=_xml("ca_chiropteres_morvan.xml"), owner_org=other["name"])
    assert status == 403


def test_export_of_a_private_record_is_refused_to_the_public(app, producer):
    call, org = producer
    status, body = call("sinp_mtd_import", xml=_xml("collection_odonates_bfc.xml"), owner_org=org["name"])
    uuid = body["result"]["records"][0]["uuid"]
    response = app.get("/api/3/action/sinp_mtd_export", query_string={"id": uuid})
    assert response.status_code == 404 and uuid not in response.get_data(as_text=True)


def test_cli_imports_files_with_a_report(stack, producer):
    call, org = producer
    _with_meta_cadre(call, org)
    result = subprocess.run(
        [
            stack["CKAN_BIN"],
            "-c",
            stack["CKAN_TEST_INI"],
            "sinp",
            "mtd-import",
            "--owner-org",
            org["name"],
            str(FIXTURES / "ca_chiropteres_morvan.xml"),
            str(FIXTURES / "invalide_codes.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 1  # one document refused
    assert "1 créé(s), 0 mis à jour, 1 document(s) refusé(s)." in result.stdout
    assert "invalide_codes.xml refusé" in result.stderr
