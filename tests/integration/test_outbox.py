"""Durable background work (#18): the outbox in PostgreSQL, the dispatcher, retries, statuses.

Real CKAN (in-process), PostgreSQL, Solr, Redis and `ckan jobs worker`. « Redis down » and « Solr
down » are real: the in-process CKAN is pointed at a port where nothing listens (the worker keeps
the real Redis, as a worker on another machine would); the fault suite (tests/faults) kills the
real services.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
import uuid

import ckan.lib.jobs as ckan_jobs
import ckan.lib.redis as ckan_redis
import ckan.model as model
import ckan.plugins.toolkit as tk
import pytest
import redis
import sqlalchemy as sa
from ckan.tests import factories

from ckanext.sinp import jobs
from ckanext.sinp.csw import repository
from ckanext.sinp.occurrences import store as occurrence_store
from ckanext.sinp.outbox import runner
from ckanext.sinp.outbox import store as outbox_store
from tests.integration import test_occurrence_deposits as deposits
from tests.integration.conftest import free_port
from tests.integration.test_occurrence_deposits import occurrences, rows, upload, wait_report
from tests.integration.test_sinp_records import CA, Api

deposit_env = deposits.deposit_env  # the same fixture: a producer, a CA and a JDD, a real worker


def outbox_rows(task=None, key=None) -> list[dict]:
    query = sa.select(outbox_store.OUTBOX).order_by(outbox_store.OUTBOX.c.id)
    if task:
        query = query.where(outbox_store.OUTBOX.c.task == task)
    if key:
        query = query.where(outbox_store.OUTBOX.c.key == key)
    with model.meta.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def csw_title(uuid_: str) -> str | None:
    table = repository.get_table()
    cols = repository.column_names()
    with model.meta.engine.connect() as conn:
        return conn.execute(
            sa.select(table.c[cols["pycsw:Title"]]).where(table.c[cols["pycsw:Identifier"]] == uuid_)
        ).scalar()


def wait(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not reached within {timeout}s")


class Outage:
    """Makes a service unreachable for the in-process CKAN (a port where nothing listens) and
    brings it back (``restore``; also at the end of the test)."""

    def __init__(self):
        self.saved = None

    def restore(self):
        if self.saved is not None:
            self._put_back(self.saved)
            self.saved = None


class RedisOutage(Outage):
    def start(self):
        self.saved = (ckan_redis._connection_pool, dict(ckan_jobs._queues))
        ckan_redis._connection_pool = redis.ConnectionPool.from_url(f"redis://127.0.0.1:{free_port()}/1")
        ckan_jobs._queues.clear()

    def _put_back(self, saved):
        ckan_redis._connection_pool = saved[0]
        ckan_jobs._queues.clear()
        ckan_jobs._queues.update(saved[1])


class SolrOutage(Outage):
    def start(self):
        self.saved = tk.config["solr_url"]
        tk.config["solr_url"] = f"http://127.0.0.1:{free_port()}/solr/ckan"

    def _put_back(self, saved):
        tk.config["solr_url"] = saved


@pytest.fixture
def redis_outage():
    outage = RedisOutage()
    yield outage
    outage.restore()


@pytest.fixture
def solr_outage():
    outage = SolrOutage()
    yield outage
    outage.restore()


@pytest.fixture
def producer_api(app, clean_db, clean_index):
    user = factories.UserWithToken()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}], title="CEN Bourgogne")
    return Api(app, user["token"]), org


def _public_ca(api, org, **extra):
    return api.ok(
        "package_create",
        **{
            **copy.deepcopy(CA),
            "name": f"ca-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "private": False,
            **extra,
        },
    )


# --- recorded with the change ---------------------------------------------------------------------


def test_a_change_records_its_csw_task_in_its_own_transaction(producer_api, jobs_worker):
    api, org = producer_api
    ca = _public_ca(api, org)
    assert [r["key"] for r in outbox_rows("csw_sync")] == [ca["id"]]
    wait(lambda: csw_title(ca["sinp_uuid"]), what="CSW row written by the worker")
    wait(lambda: outbox_rows("csw_sync")[0]["state"] == "done", what="task done")

    before = len(outbox_rows())
    status, body = api.post("package_update", **{**ca, "date_lancement": "pas une date"})
    assert status == 409, body
    assert len(outbox_rows()) == before  # the refused change recorded nothing


def test_edits_while_redis_is_down_are_published_once_it_answers(producer_api, jobs_worker, redis_outage):
    api, org = producer_api
    ca = _public_ca(api, org)
    wait(lambda: csw_title(ca["sinp_uuid"]) == ca["title"], what="first CSW row")

    redis_outage.start()
    renamed = api.ok("package_patch", id=ca["id"], title="Inventaire des chiroptères du Morvan (2025)")
    assert renamed["title"].endswith("(2025)")  # the edit succeeds
    pending = [r for r in outbox_rows("csw_sync", ca["id"]) if r["state"] == "pending"]
    assert len(pending) == 1 and pending[0]["enqueued_at"] is None
    time.sleep(1)
    assert csw_title(ca["sinp_uuid"]) == ca["title"]  # not published yet: nothing could be queued
    assert runner.dispatch()["redis"] is False  # the dispatcher cannot hand it over either

    redis_outage.restore()
    assert runner.dispatch()["enqueued"] >= 1
    wait(lambda: csw_title(ca["sinp_uuid"]) == renamed["title"], what="CSW row after Redis came back")
    wait(lambda: all(r["state"] == "done" for r in outbox_rows("csw_sync", ca["id"])), what="tasks done")


# --- deposits -------------------------------------------------------------------------------------


def _deposit_task(resource_id) -> dict:
    return [r for r in outbox_rows("deposit", resource_id) if r["state"] in ("pending", "running")][-1]


def test_a_deposit_uploaded_while_redis_is_down_is_checked_once_it_answers(deposit_env, redis_outage):
    app, api, user, org, jdd = deposit_env
    redis_outage.start()
    res = upload(app, user["token"], jdd["id"], rows(30).encode())  # accepted, not forgotten
    report = api.ok("sinp_qc_report_show", resource_id=res["id"])
    assert report["status"] == "pending"
    assert _deposit_task(res["id"])["enqueued_at"] is None

    redis_outage.restore()
    assert runner.dispatch()["enqueued"] >= 1
    report = wait_report(api, res["id"])
    assert report["status"] == "done" and report["rows_accepted"] == 30
    assert occurrences(res["id"]) == 30
    wait(lambda: [r["state"] for r in outbox_rows("deposit", res["id"])] == ["done"], what="task done")


def _die(resource_id, minutes_ago=10):
    """A worker claimed the deposit's task, then died: its heartbeat stopped ``minutes_ago``."""
    task = _deposit_task(resource_id)
    with model.meta.engine.begin() as conn:
        assert outbox_store.claim(conn, [task["id"]])
        conn.execute(
            sa.text(
                "UPDATE sinp_deposit SET status = 'running', progress = 0.9, stage = 'Intégration' WHERE resource_id = :r"
            ),
            {"r": resource_id},
        )
        conn.execute(
            outbox_store.OUTBOX.update()
            .where(outbox_store.OUTBOX.c.id == task["id"])
            .values(heartbeat_at=sa.func.now() - dt.timedelta(minutes=minutes_ago))
        )
    return task["id"]


def test_a_deposit_whose_worker_died_is_run_again_then_reported_interrupted(deposit_env, redis_outage):
    app, api, user, org, jdd = deposit_env
    redis_outage.start()  # the tasks stay in the outbox: this test plays the worker
    res = upload(app, user["token"], jdd["id"], rows(12).encode())

    _die(res["id"], minutes_ago=1)  # a heartbeat 1 min old: still alive (threshold: 2 min)
    assert runner.dispatch()["interrupted"] == 0
    assert api.ok("sinp_qc_report_show", resource_id=res["id"])["status"] == "running"

    for attempt in (1, 2):
        with model.meta.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE sinp_outbox SET heartbeat_at = now() - interval '10 minutes' "
                    "WHERE state = 'running' AND task = 'deposit'"
                )
            )
        assert runner.dispatch()["interrupted"] == 1
        report = api.ok("sinp_qc_report_show", resource_id=res["id"])
        assert report["status"] == "pending" and "reprise après une interruption" in report["stage"]
        assert report["progress"] == 0
        task = _deposit_task(res["id"])
        assert task["attempts"] == attempt and "aucun signe de vie" in task["last_error"]
        _die(res["id"])

    dispatched = runner.dispatch()  # third run dead: given up
    assert dispatched["given_up"] == 1 and dispatched["interrupted"] == 0
    report = api.ok("sinp_qc_report_show", resource_id=res["id"])
    assert report["status"] == "interrupted"
    assert "interrompu avant la fin" in report["error_message"] and "Relancez" in report["error_message"]
    assert [r["state"] for r in outbox_rows("deposit", res["id"])] == ["failed"]
    page = app.get(f"/jdd/{jdd['name']}/depot/{res['id']}", headers={"Authorization": user["token"]})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "interrompu avant la fin" in text and "Relancer le contrôle" in text
    resource_page = app.get(f"/dataset/{jdd['id']}/resource/{res['id']}", headers={"Authorization": user["token"]})
    assert 'data-status="interrupted"' in resource_page.get_data(as_text=True)

    redis_outage.restore()
    api.ok("sinp_qc_run", resource_id=res["id"])  # « Relancer le contrôle »
    report = wait_report(api, res["id"])
    assert report["status"] == "done" and report["rows_accepted"] == 12 and occurrences(res["id"]) == 12


def test_a_worker_killed_leaves_no_working_folder_behind(tmp_path):
    dead = tmp_path / f"{jobs.TMP_PREFIX}999999999-abc"
    alive = tmp_path / f"{jobs.TMP_PREFIX}{os.getpid()}-def"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "accepted.csv").write_text("x")
    assert jobs.remove_orphan_workdirs(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and alive.exists()


# --- retries ----------------------------------------------------------------------------------------


@pytest.fixture
def flaky_task():
    calls = []

    def run(items):
        calls.append(items)
        raise ConnectionError("service distant indisponible")

    runner.register(runner.Task("test_flaky", run, "Tâche de test", attempts=lambda: 2))
    yield calls
    runner.TASKS.pop("test_flaky", None)


def test_a_failing_task_is_retried_later_then_marked_failed(clean_db, flaky_task):
    with model.meta.engine.begin() as conn:
        task_id = runner.add(conn, "test_flaky", "k1", {"n": 1})
    assert runner.run_inline([task_id]) == {"claimed": 1, "done": 0, "failed": 1}
    row = outbox_rows("test_flaky")[0]
    assert row["state"] == "pending" and row["attempts"] == 1 and "indisponible" in row["last_error"]
    delay = (row["available_at"] - row["created_at"]).total_seconds()
    assert 14 <= delay <= 60  # the first retry waits ~15 s, then 30, 60… up to 15 min
    assert runner.dispatch()["enqueued"] == 0  # not due yet

    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sinp_outbox SET available_at = now() WHERE task = 'test_flaky'"))
    runner.run_inline([task_id])
    row = outbox_rows("test_flaky")[0]
    assert row["state"] == "failed" and row["attempts"] == 2 and len(flaky_task) == 2
    assert runner.counts()["failed"] == 1


def test_a_task_waiting_is_recorded_once_and_a_running_one_gets_a_new_row(clean_db, flaky_task):
    with model.meta.engine.begin() as conn:
        first = runner.add(conn, "test_flaky", "k1", {"n": 1})
        again = runner.add(conn, "test_flaky", "k1", {"n": 2})
    assert first == again and outbox_rows("test_flaky")[0]["args"] == {"n": 2}
    with model.meta.engine.begin() as conn:
        outbox_store.claim(conn, [first])
        later = runner.add(conn, "test_flaky", "k1", {"n": 3})
    assert later != first and [r["state"] for r in outbox_rows("test_flaky")] == ["running", "pending"]


# --- Solr ---------------------------------------------------------------------------------------


def test_with_solr_down_an_edit_is_refused_with_a_french_503_and_nothing_changes(producer_api, solr_outage):
    api, org = producer_api
    ca = _public_ca(api, org)
    solr_outage.start()
    status, body = api.post("package_patch", id=ca["id"], title="Titre jamais enregistré")
    assert status == 503, body
    assert body["success"] is False and body["error"]["__type"] == "Service Unavailable"
    assert "moteur de recherche" in body["error"]["message"] and "réessayez" in body["error"]["message"]
    with model.meta.engine.connect() as conn:
        title = conn.execute(sa.text("SELECT title FROM package WHERE id = :i"), {"i": ca["id"]}).scalar()
    assert title == ca["title"]
    response = api.app.get("/api/3/action/package_search?q=chiropt%C3%A8res")
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    page = api.app.get("/dataset/")
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "Service momentanément indisponible" in text and 'lang="fr"' in text
    assert "Traceback" not in text and "Internal Server Error" not in text


def test_an_mtd_import_while_solr_is_down_is_saved_then_indexed_when_it_is_back(producer_api, solr_outage):
    api, org = producer_api
    from tests.integration.test_mtd_actions import _xml

    solr_outage.start()
    status, body = api.post("sinp_mtd_import", xml=_xml("collection_odonates_bfc.xml"), owner_org=org["name"])
    assert status == 200, body
    assert any("moteur de recherche ne répond pas" in w for w in body["result"]["warnings"])
    ids = [r["id"] for r in body["result"]["records"]]
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM package WHERE id = ANY(:i)"), {"i": ids}).scalar() == len(ids)
    waiting = [r for r in outbox_rows("index") if r["state"] == "pending"]
    assert sorted(r["key"] for r in waiting) == sorted(ids)

    solr_outage.restore()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sinp_outbox SET available_at = now() WHERE task = 'index'"))
    runner.run_inline([r["id"] for r in waiting])
    found = api.ok("package_search", fq=f"id:({' OR '.join(ids)})", include_private=True)
    assert found["count"] == len(ids)


def test_a_deposit_integrated_while_solr_is_down_ends_done_and_its_extent_follows(
    deposit_env, redis_outage, solr_outage
):
    from shapely.geometry import box

    from tests.integration.test_protection import deposit_csv

    app, api, user, org, jdd = deposit_env
    api.ok("package_patch", id=jdd["id"], private=False)
    redis_outage.start()
    res = upload(app, user["token"], jdd["id"], deposit_csv())
    solr_outage.start()
    runner.run_inline([_deposit_task(res["id"])["id"]])  # the check runs while Solr is down
    solr_outage.restore()
    report = api.ok("sinp_qc_report_show", resource_id=res["id"])
    assert report["status"] == "done" and report["rows_accepted"] > 0
    extent_task = [r for r in outbox_rows("protect_extent", jdd["id"])][-1]
    assert extent_task["state"] == "pending" and extent_task["attempts"] == 1

    def bbox():
        shown = api.ok("package_show", id=jdd["id"])
        return box(*(float(shown[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord")))

    with model.meta.engine.connect() as conn:
        wanted = occurrence_store.public_extent(conn, jdd["id"])
    assert wanted and not bbox().contains(box(*wanted))  # not widened yet

    redis_outage.restore()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sinp_outbox SET available_at = now() WHERE task = 'protect_extent'"))
    runner.run_inline([extent_task["id"]])
    assert bbox().buffer(1e-6).contains(box(*wanted))
    assert [r["state"] for r in outbox_rows("protect_extent", jdd["id"])][-1] == "done"


# --- harvest ----------------------------------------------------------------------------------------


@pytest.fixture
def harvest_source(app, clean_db, clean_index):
    sysadmin = factories.SysadminWithToken()
    admin = Api(app, sysadmin["token"])
    org = factories.Organization()
    source = admin.ok(
        "harvest_source_create",
        name=f"source-{uuid.uuid4().hex[:6]}",
        title="Catalogue partenaire",
        url="http://127.0.0.1:9/csw",
        source_type="sinp_csw",
        owner_org=org["id"],
        config='{"defaults": {}}',
    )
    return admin, source


def test_harvest_job_create_answers_409_when_a_job_waits_and_503_when_redis_is_down(harvest_source, redis_outage):
    admin, source = harvest_source
    redis_outage.start()
    status, body = admin.post("harvest_job_create", source_id=source["id"], run=False)
    assert status == 503 and "file des travaux" in body["error"]["message"]
    assert admin.ok("harvest_job_list", source_id=source["id"]) == []  # nothing half-created
    redis_outage.restore()
    admin.ok("harvest_job_create", source_id=source["id"], run=False)
    status, body = admin.post("harvest_job_create", source_id=source["id"], run=False)
    assert status == 409, body
    assert "déjà un moissonnage en attente ou en cours" in body["error"]["source_id"][0]
