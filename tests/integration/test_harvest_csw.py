"""The ``sinp_csw`` harvester against a real, stock pycsw 2.6.2 (a partner's catalogue on SQLite,
tests/integration/support/remote_csw.py) loaded with ISO 19139 records written for these tests,
and against our own CSW; ckanext-harvest's own gather / fetch / import stages, real PostgreSQL
and Solr."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
import uuid as uuidlib

import ckan.model as model
import pytest
from ckan.tests import factories, helpers
from ckanext.harvest.model import HarvestGatherError, HarvestObject, HarvestSource
from ckanext.harvest.tests.factories import HarvestJobObj
from ckanext.harvest.tests.lib import run_harvest_job
from remote_csw import minimal_iso, remote_pycsw

from ckanext.sinp.domain import iso
from ckanext.sinp.logic import queries
from ckanext.sinp_harvesters.csw import SinpCswHarvester
from tests.integration.conftest import search_count
from tests.unit.test_iso import CA, JDD

DEFAULTS = {"territoires": ["METROP"], "niveau_territorial": "5", "domaine_terrestre": "true", "domaine_marin": "false"}


def U() -> str:
    return str(uuidlib.uuid4()).upper()


def published(kind: str, record: dict, stamp: dt.datetime, ca=None) -> bytes:
    """The ISO 19139 document that a SINP platform running our software publishes."""
    ctx = iso.IsoContext(site_url="https://sinp.partenaire.invalid", date_stamp=stamp, ca=ca)
    return iso.to_iso19139(kind, record, ctx)


def partner_catalogue(stamp=dt.datetime(2026, 3, 1, 10, 0, 0)):
    """A CA, three JDD (one per record kind of problem) — in the order pycsw serves them."""
    ca = {**copy.deepcopy(CA), "sinp_uuid": U(), "meta_cadre_parent": None, "title": "Atlas des libellules du Jura"}
    ca.pop("meta_cadre_parent")
    jdds = [
        {**copy.deepcopy(JDD), "sinp_uuid": U(), "cadre": ca["sinp_uuid"], "title": f"Libellules, relevés {y}"}
        for y in (2023, 2024)
    ]
    docs = {
        "01-ca.xml": published("ca", ca, stamp),
        # not a CA nor a JDD (hierarchyLevel application), in the middle of the first page of 3
        "02-bad.xml": minimal_iso(
            "fr-239000012-ldd-odonates", "Fiche d'application", hierarchy="application", parent=ca["sinp_uuid"]
        ),
        "03-jdd.xml": published("jdd", jdds[0], stamp, ca),
        "04-jdd.xml": published("jdd", jdds[1], stamp, ca),
    }
    return ca, jdds, docs


@pytest.fixture
def org(clean_db, clean_index, jobs_worker):
    return factories.Organization(name="partenaire-jura", title="Catalogue partenaire du Jura")


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def source(org, url, **config):
    """A new harvest source of the organisation, created as a sysadmin does in the UI (through
    ckanext-harvest's action, which validates the configuration with the harvester)."""
    created = helpers.call_action(
        "harvest_source_create",
        context={"user": factories.Sysadmin()["name"]},
        url=url,
        name=f"source-{uuidlib.uuid4().hex[:12]}",
        title="Source de test",
        source_type="sinp_csw",
        owner_org=org["id"],
        config=json.dumps({"defaults": DEFAULTS, "page_size": 2, **config}),
    )
    return HarvestSource.get(created["id"])


def harvest(src):
    return run_harvest_job(HarvestJobObj(source=src, run=False), SinpCswHarvester())


def errors(results) -> dict:
    return {guid: [e.message for e in r["errors"]] for guid, r in results.items() if r["errors"]}


def gather_errors(src) -> list[str]:
    return [
        e.message
        for e in model.Session.query(HarvestGatherError).join(HarvestGatherError.job).filter_by(source_id=src.id)
    ]


def show(uuid):
    """The dataset holding this SINP UUID, as package_show gives it (None: there is none)."""
    found = queries.packages_by_uuid(model, [uuid]).get(uuid)
    return helpers.call_action("package_show", id=found[0].id) if found else None


def test_a_partner_catalogue_is_harvested_page_by_page_and_a_bad_record_stays_its_own_error(stack, org, workdir):
    ca, jdds, docs = partner_catalogue()
    with remote_pycsw(docs, workdir / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        src = source(org, url, page_size=3)
        results = harvest(src)
        assert list(results)[0] == ca["sinp_uuid"]  # series before datasets
        assert list(errors(results)) == ["fr-239000012-ldd-odonates"]
        assert "(gmd:hierarchyLevel)" in errors(results)["fr-239000012-ldd-odonates"][0]
        assert {g for g, r in results.items() if r["report_status"] == "added"} == {ca["sinp_uuid"]} | {
            j["sinp_uuid"] for j in jdds
        }

        record = show(jdds[0]["sinp_uuid"])
        assert record["type"] == "jdd" and record["cadre"] == ca["sinp_uuid"]
        assert record["title"] == "Libellules, relevés 2023" and record["libelle_court"] == JDD["libelle_court"]
        assert record["objectif_jdd"] == JDD["objectif_jdd"] and record["territoires"] == ["METROP"]
        assert record["owner_org"] == org["id"] and record["private"] is False
        assert show(ca["sinp_uuid"])["type"] == "ca"
        # the source ISO document is kept with the harvest object (provenance)
        obj = HarvestObject.get(results[jdds[0]["sinp_uuid"]]["obj_id"])
        assert jdds[0]["sinp_uuid"] in obj.content and obj.content.startswith("<gmd:MD_Metadata")

        # second run: incremental on dateStamp — only the record that failed is tried again
        again = harvest(src)
        assert list(again) == ["fr-239000012-ldd-odonates"]
        assert search_count(3, include_private=True) == 3


def test_changes_and_withdrawals_follow_the_partner(stack, org, workdir):
    ca, jdds, docs = partner_catalogue()
    docs.pop("02-bad.xml")
    with remote_pycsw(docs, workdir / "v1", pathlib.Path(stack["PYCSW_VENV"])) as url:
        src = source(org, url)
        assert not errors(harvest(src))
    later = dt.datetime(2026, 4, 1, 8, 0, 0)
    changed = {**jdds[0], "title": "Libellules, relevés 2023 (corrigés)"}
    docs2 = {"01-ca.xml": docs["01-ca.xml"], "03-jdd.xml": published("jdd", changed, later, ca)}
    with remote_pycsw(docs2, workdir / "v2", pathlib.Path(stack["PYCSW_VENV"])) as url2:
        src.url = url2
        model.Session.commit()
        results = harvest(src)
    assert results[jdds[0]["sinp_uuid"]]["report_status"] == "updated"
    assert ca["sinp_uuid"] not in results  # same dateStamp: not even fetched
    assert show(jdds[0]["sinp_uuid"])["title"] == "Libellules, relevés 2023 (corrigés)"
    gone = jdds[1]["sinp_uuid"]
    assert results[gone]["report_status"] == "deleted"
    assert "la fiche a été rendue privée (elle n'est pas supprimée)" in errors(results)[gone][0]
    assert show(gone)["private"] is True and show(gone)["state"] == "active"


def test_filters_are_sent_to_the_partner(stack, org, workdir):
    ca, jdds, docs = partner_catalogue()
    docs["05-far.xml"] = minimal_iso(U(), "Fiche guyanaise", bbox=(-54.5, 2.1, -51.6, 5.8))
    with remote_pycsw(docs, workdir / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        series = harvest(source(org, url, type="series"))
        assert list(series) == [ca["sinp_uuid"]]
        boxed_source = source(org, url, bbox=[-56, 1, -50, 7], defaults={**DEFAULTS, "objectif_jdd": "1.1"})
        boxed = harvest(boxed_source)
    assert len(boxed) == 1, (
        gather_errors(boxed_source) and next(iter(boxed.values()))["dataset"]["title"] == "Fiche guyanaise"
    )


def test_an_unreachable_catalogue_imports_nothing_and_withdraws_nothing(stack, org, workdir):
    ca, jdds, docs = partner_catalogue()
    with remote_pycsw(docs, workdir / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        src = source(org, url)
        harvest(src)
    results = harvest(src)  # the server is gone
    assert results == {}
    assert "serveur injoignable" in gather_errors(src)[-1]
    assert show(jdds[0]["sinp_uuid"])["private"] is False


def test_harvesting_our_own_csw_copies_nothing(org, test_csw):
    from tests.integration.test_csw_publication import _records, _wait
    from tests.integration.test_csw_publication import producer as _producer  # noqa: F401

    mine = factories.Organization(name="producteur-local")
    ca = helpers.call_action(
        "package_create",
        context={"user": factories.Sysadmin()["name"]},
        **{**copy.deepcopy(CA), "name": "ca-local", "owner_org": mine["id"], "private": False, "meta_cadre_parent": ""},
    )
    jdd = helpers.call_action(
        "package_create",
        context={"user": factories.Sysadmin()["name"]},
        **{
            **copy.deepcopy(JDD),
            "name": "jdd-local",
            "owner_org": mine["id"],
            "private": False,
            "cadre": ca["sinp_uuid"],
            "contacts_base_production": [{"organisme": "SHNA", "role": "7"}],
        },
    )
    _wait(lambda: len(_records(test_csw)[1]) == 2)
    results = harvest(source(org, test_csw))
    assert set(results) == {ca["sinp_uuid"], jdd["sinp_uuid"]}
    assert {r["report_status"] for r in results.values()} == {"not modified"}
    assert search_count(2, include_private=True) == 2


def test_source_configuration_is_checked_in_french():
    harvester = SinpCswHarvester()
    assert harvester.validate_config("") == ""
    for config, message in [
        ('{"bbox": [7, 46, 5, 48]}', "« bbox » est [ouest, sud, est, nord]"),
        ('{"type": "service"}', "« type » vaut « series »"),
        ('{"defaults": {"objectif_jdd": "9.9"}}', "« 9.9 » n'est pas un code de la nomenclature JDD_OBJECTIFS"),
        ('{"defaults": {"sinp_uuid": "x"}}', "identifie l'enregistrement"),
        ('{"page_size": 0}', "« page_size » est un entier"),
        ('{"anytext": ""}', "« anytext » est un texte non vide"),
    ]:
        with pytest.raises(ValueError) as err:
            harvester.validate_config(config)
        assert message in str(err.value), (config, str(err.value))
