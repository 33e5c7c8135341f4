"""Every way a CA/JDD leaves CKAN takes its record out of the CSW, as a harvester sees it.

Real pycsw 2.6.2 (``test_csw``), real worker, real harvests from a partner's pycsw. Each test
measures the time from the action's return to GetRecordById answering « not found » and checks
that the other records are still served. Issue #19: after ``harvest_source_clear`` purged 19
harvested JDD, pycsw kept serving them until a manual ``ckan sinp csw-sync``.
"""

from __future__ import annotations

import copy
import pathlib
import time

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories, helpers
from remote_csw import remote_pycsw

from ckanext.sinp import scheduler
from tests.integration.conftest import _wait_for_background_jobs, scheduler_process
from tests.integration.test_csw_publication import (
    _ca,
    _full,
    _jdd,
    _records,
    _wait,
    producer,  # noqa: F401  (fixture)
)
from tests.integration.test_harvest_csw import harvest, org, partner_catalogue, source  # noqa: F401  (fixture)
from tests.integration.test_sinp_records import Api
from tests.unit.test_iso import CA


def _measured(path: str, seconds: float) -> None:
    """Says the delay (seen with ``pytest -s``: the figures of the README)."""
    print(f"\nCSW delay, {path}: {seconds:.3f} s from the action's return to GetRecordById « not found »")


def _gone_within(csw, identifiers, started: float, limit: float) -> float:
    """Seconds from ``started`` until GetRecordById answers empty for every identifier (fails
    after ``limit`` s)."""
    pending = set(identifiers)
    while True:
        pending = {i for i in pending if len(_full(csw, i))}
        elapsed = time.monotonic() - started
        if not pending:
            return elapsed
        assert elapsed < limit, f"toujours servies par le CSW après {elapsed:.1f} s : {sorted(pending)}"
        time.sleep(0.05)


def _sysadmin_api(app) -> Api:
    return Api(app, factories.SysadminWithToken()["token"])


def _settled(csw, expected: set[str]) -> None:
    """The CSW serves exactly ``expected``, also once the background work has run."""
    _wait(lambda: set(_records(csw)[1]) == expected)
    _wait_for_background_jobs()
    assert set(_records(csw)[1]) == expected


def _raw_sql_purge(package_ids: list[str]) -> None:
    """What ckanext-harvest's ``harvest_source_clear`` does to packages: SQL, no CKAN event."""
    with model.meta.engine.begin() as conn:
        params = {"ids": tuple(package_ids)}
        for statement in (
            "DELETE FROM package_tag WHERE package_id IN :ids",
            "DELETE FROM member WHERE table_id IN :ids",
            "DELETE FROM resource_view WHERE resource_id IN (SELECT id FROM resource WHERE package_id IN :ids)",
            "DELETE FROM resource WHERE package_id IN :ids",
            "DELETE FROM package WHERE id IN :ids",
        ):
            conn.execute(sa.text(statement), params)


@pytest.fixture
def public_records(producer, test_csw):  # noqa: F811
    """A public CA with two public JDD, served by the CSW."""
    api, org_ = producer
    ca = _ca(api, org_, private=False)
    jdds = [_jdd(api, org_, ca, private=False, title=f"Relevés {n}") for n in (1, 2)]
    _wait(lambda: len(_records(test_csw)[1]) == 3)
    return api, ca, jdds


def test_package_delete_takes_the_record_out_at_once(public_records, test_csw):
    api, ca, (gone, kept) = public_records
    api.ok("package_delete", id=gone["name"])  # by name, as the web form does
    _measured("package_delete", _gone_within(test_csw, [gone["sinp_uuid"]], time.monotonic(), 1.0))
    _settled(test_csw, {ca["sinp_uuid"], kept["sinp_uuid"]})


def test_dataset_purge_takes_the_record_out_even_a_private_one_still_listed(app, public_records, test_csw):
    api, ca, (public, private) = public_records
    # a record made private behind CKAN's back, whose row is still there: the purge takes it too
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("UPDATE package SET private = true WHERE id = :i"), {"i": private["id"]})
    assert len(_full(test_csw, private["sinp_uuid"])) == 1
    admin = _sysadmin_api(app)
    admin.ok("dataset_purge", id=public["id"])
    _measured("dataset_purge", _gone_within(test_csw, [public["sinp_uuid"]], time.monotonic(), 1.0))
    admin.ok("dataset_purge", id=private["id"])
    _measured("dataset_purge (private)", _gone_within(test_csw, [private["sinp_uuid"]], time.monotonic(), 1.0))
    _settled(test_csw, {ca["sinp_uuid"]})


def test_a_failed_deletion_keeps_the_record(public_records, test_csw):
    api, ca, jdds = public_records
    status, body = api.post("package_delete", id=ca["id"])  # a CA that still has JDD: refused
    assert status == 409 and "encore 2 jeux de données" in str(body["error"])
    _settled(test_csw, {ca["sinp_uuid"]} | {j["sinp_uuid"] for j in jdds})


@pytest.fixture
def harvested(stack, org, workdir, test_csw):  # noqa: F811
    """A partner's CA and two JDD harvested (public, served by our CSW), and a local public CA."""
    ca, jdds, docs = partner_catalogue()
    docs.pop("02-bad.xml")
    with remote_pycsw(docs, workdir / "csw", pathlib.Path(stack["PYCSW_VENV"])) as url:
        src = source(org, url)
        results = harvest(src)
    assert {r["report_status"] for r in results.values()} == {"added"}
    mine = factories.Organization(name="producteur-local")
    local = helpers.call_action(
        "package_create",
        context={"user": factories.Sysadmin()["name"]},
        **{**_local_ca(), "owner_org": mine["id"]},
    )
    partner = {ca["sinp_uuid"]} | {j["sinp_uuid"] for j in jdds}
    _wait(lambda: set(_records(test_csw)[1]) == partner | {local["sinp_uuid"]})
    return src, partner, local


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


def _local_ca() -> dict:
    return {**copy.deepcopy(CA), "name": "ca-local", "private": False, "meta_cadre_parent": ""}


def test_harvest_source_clear_takes_the_harvested_records_out_at_once(app, harvested, test_csw):
    src, partner, local = harvested
    _sysadmin_api(app).ok("harvest_source_clear", id=src.id)
    _measured("harvest_source_clear", _gone_within(test_csw, partner, time.monotonic(), 1.0))
    _settled(test_csw, {local["sinp_uuid"]})
    assert helpers.call_action("package_search", include_private=True, fq="dataset_type:jdd")["count"] == 0


def test_harvest_source_delete_with_clear_takes_the_harvested_records_out_at_once(app, harvested, test_csw):
    src, partner, local = harvested
    admin = factories.SysadminWithToken()
    response = app.get(f"/harvest/delete/{src.id}?clear=True", headers={"Authorization": admin["token"]})
    assert response.status_code in (200, 302)
    _measured("harvest_source_delete(clear)", _gone_within(test_csw, partner, time.monotonic(), 1.0))
    _settled(test_csw, {local["sinp_uuid"]})
    assert model.Package.get(src.id).state == "deleted"


def test_the_orphan_sweep_takes_out_what_a_raw_sql_purge_left(public_records, test_csw):
    api, ca, (gone, kept) = public_records
    _raw_sql_purge([gone["id"]])
    assert len(_full(test_csw, gone["sinp_uuid"])) == 1  # no CKAN event: still served
    found = scheduler.sweep_csw_orphans()
    assert found["removed"] == [gone["sinp_uuid"]] and found["parents"] == 1  # the CA rendered again
    assert len(_full(test_csw, gone["sinp_uuid"])) == 0
    _settled(test_csw, {ca["sinp_uuid"], kept["sinp_uuid"]})
    assert scheduler.sweep_csw_orphans() is None  # nothing left to remove


def test_the_scheduler_sweeps_on_its_period(stack, public_records, test_csw, tmp_path):
    api, ca, (gone, kept) = public_records
    period = 3
    with scheduler_process(stack, tmp_path, csw_orphans_every=period) as wait:
        wait("reconcile:")  # its first pass (the full reconcile) is over
        _raw_sql_purge([gone["id"]])
        delay = _gone_within(test_csw, [gone["sinp_uuid"]], time.monotonic(), period + 5)
        _measured(f"raw SQL purge, scheduler sweeping every {period} s", delay)
        assert delay <= period + 2  # with a 30 s pass interval: the sweep keeps its own period
        wait(f"csw_orphans: {{'removed': ['{gone['sinp_uuid']}']", 5)
    assert set(_records(test_csw)[1]) == {ca["sinp_uuid"], kept["sinp_uuid"]}
