"""The fault suite (#18, `make test-faults`): the real services are killed and restarted while
producers and visitors work, and nothing is lost, nothing doubled, statuses stay true, and
everything completes by itself.

These tests stop the stack's own Redis, Solr and PostgreSQL (then start them again with
``stack/up.sh``, as an operator would): they run alone, after the rest of the suite
(``-m faults``; `make test` leaves them out). Each test runs its own `ckan jobs worker` on the
test configuration, so that it can kill it.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import factories

from ckanext.sinp import jobs
from ckanext.sinp.logic import queries
from ckanext.sinp.outbox import runner
from tests.conftest import ROOT
from tests.integration.conftest import SUPPORT, _wait_for_line
from tests.integration.test_occurrence_deposits import HEADER, occurrences, rows, upload, wait_report
from tests.integration.test_outbox import csw_title, outbox_rows, wait
from tests.integration.test_protection import deposit_csv
from tests.integration.test_sinp_records import CA, JDD, Api

pytestmark = pytest.mark.faults


# --- the services ----------------------------------------------------------------------------------


def stack_shell(script: str) -> None:
    subprocess.run(["bash", "-c", f'. "{ROOT}/stack/lib.sh"; {script}'], check=True, cwd=ROOT)


def stop(name: str) -> None:
    """Stops one service of the stack (its process group and its children)."""
    stack_shell(f"stop_service {name}")


def up() -> None:
    """`make up`: starts what is not running (Redis from its append-only file, Solr…)."""
    subprocess.run(["bash", str(ROOT / "stack" / "up.sh")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.split("/")[2])
            out += [child, *children(child)]
    return out


@contextlib.contextmanager
def worker(stack, tmp_path):
    """A real `ckan jobs worker` on the test configuration, killed at the end if still alive."""
    log_path = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"], "jobs", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(SUPPORT)),
            cwd=ROOT,
        )
    try:
        _wait_for_line(log_path, "has started on queue", proc, 60)
        yield proc
    finally:
        for pid in [*children(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture
def producer_jdd(app, clean_db, clean_index):
    """A producer, a public CA and a public JDD (no worker: each test runs its own)."""
    user = factories.UserWithToken()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, user["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": False,
        },
    )
    return app, api, user, org, ca, jdd


def grid_rows(n: int) -> str:
    """``n`` distinct valid observations on a 1 000 × 100 grid of points around Dijon."""
    lines = [HEADER]
    for i in range(n):
        lon, lat = 4.6 + (i % 1000) / 1000, 47.1 + (i // 1000 % 100) / 1000
        day = 1 + i % 28
        lines.append(
            f"OBS-{i};Pr;Myotis myotis;60418;2024-05-{day:02d};2024-05-{day:02d};MARTIN Léa (LPO BFC);"
            f"POINT({lon:.4f} {lat:.4f});St;Pu;Te;LPO BFC"
        )
    return "\n".join(lines) + "\n"


def deposit_state(resource_id) -> dict:
    with model.meta.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, progress, stage FROM sinp_deposit WHERE resource_id = :r"), {"r": resource_id}
        ).mappings()
        return dict(row.first() or {})


# --- the worker killed in the middle of a deposit ------------------------------------------------------


@pytest.mark.ckan_config("ckanext.sinp.outbox.stale_after", "5")
def test_a_worker_killed_during_integration_is_noticed_and_the_deposit_completes_once(producer_jdd, stack, tmp_path):
    app, api, user, org, ca, jdd = producer_jdd
    n = 100_000
    with worker(stack, tmp_path) as proc:
        res = upload(app, user["token"], jdd["id"], grid_rows(n).encode())
        wait(lambda: deposit_state(res["id"]).get("progress", 0) >= 0.9, timeout=300, what="integration started")
        horses = children(proc.pid)
        folders = [f for h in horses for f in glob.glob(f"{tempfile.gettempdir()}/{jobs.TMP_PREFIX}{h}-*")]
        for pid in [proc.pid, *horses]:  # the whole worker dies: kill -9, as a machine crash
            os.kill(pid, signal.SIGKILL)
    assert folders, "the killed check had a working folder"
    assert deposit_state(res["id"])["status"] == "running"  # what the producer sees until it is noticed
    assert occurrences(res["id"]) == 0  # the integration's transaction was rolled back: nothing half-written

    time.sleep(6)  # no heartbeat for longer than stale_after
    assert runner.dispatch()["interrupted"] == 1
    report = api.ok("sinp_qc_report_show", resource_id=res["id"])
    assert report["status"] == "pending" and "reprise" in report["stage"]

    with worker(stack, tmp_path):
        report = wait_report(api, res["id"], timeout=600)
        wait(lambda: [r["state"] for r in outbox_rows("deposit", res["id"])] == ["done"], what="task done")
    assert report["status"] == "done" and report["rows_received"] == n and report["rows_accepted"] == n
    assert occurrences(res["id"]) == n  # once, not twice
    assert not any(os.path.exists(f) for f in folders)  # the next check removed the dead one's folder
    assert outbox_rows("deposit", res["id"])[0]["attempts"] == 2


# --- Redis stopped with work pending ---------------------------------------------------------------------


def test_redis_stopped_then_started_again_loses_no_deposit_and_no_csw_update(producer_jdd, stack, tmp_path):
    app, api, user, org, ca, jdd = producer_jdd
    with worker(stack, tmp_path):
        wait(lambda: csw_title(ca["sinp_uuid"]) == ca["title"], what="first CSW row")
    stop("redis")
    try:
        res = upload(app, user["token"], jdd["id"], rows(40).encode())  # accepted while Redis is down
        renamed = api.ok("package_patch", id=ca["id"], title="Inventaire des chiroptères du Morvan — 2e édition")
        assert api.ok("sinp_qc_report_show", resource_id=res["id"])["status"] == "pending"
        admin = Api(app, factories.SysadminWithToken()["token"])
        status, body = admin.post("harvest_job_create", source_id=str(uuid.uuid4()))
        assert status == 503 and "file des travaux" in body["error"]["message"]  # before anything is written
    finally:
        up()
    back = time.monotonic()
    runner.dispatch()  # what the scheduler does every 30 s
    with worker(stack, tmp_path):
        report = wait_report(api, res["id"], timeout=120)
        wait(lambda: csw_title(ca["sinp_uuid"]) == renamed["title"], what="CSW row after Redis came back")
    delay = time.monotonic() - back
    assert report["status"] == "done" and occurrences(res["id"]) == 40
    print(f"Redis back: pending work completed {delay:.1f} s after the dispatcher's pass")


# --- Solr stopped during an import and a deposit ---------------------------------------------------------


# the worker killed below may leave a task running, or a job taken from RQ and never started: the
# scheduler's pass queues them again after these delays (production: 120 s and 300 s)
@pytest.mark.ckan_config("ckanext.sinp.outbox.stale_after", "30")
@pytest.mark.ckan_config("ckanext.sinp.outbox.requeue_after", "20")
def test_solr_stopped_during_an_import_and_a_deposit_catches_up_when_it_is_back(producer_jdd, stack, tmp_path):
    from tests.integration.test_mtd_actions import _xml

    app, api, user, org, ca, jdd = producer_jdd
    res = upload(app, user["token"], jdd["id"], deposit_csv())  # uploaded; no worker runs yet
    stop("solr")
    try:
        status, body = api.post("sinp_mtd_import", xml=_xml("collection_odonates_bfc.xml"), owner_org=org["name"])
        assert status == 200, body
        assert any("moteur de recherche ne répond pas" in w for w in body["result"]["warnings"])
        imported = [r["id"] for r in body["result"]["records"]]
        status, body = api.post("package_patch", id=jdd["id"], notes="Jamais enregistré")
        assert status == 503  # an edit needs the index: refused whole, with a French 503
        with worker(stack, tmp_path):  # the deposit's check runs while Solr is down
            report = wait_report(api, res["id"], timeout=120)
            assert report["status"] == "done"  # integrated; its extent waits for Solr
            wait(
                lambda: [r["state"] for r in outbox_rows("protect_extent", jdd["id"])][-1:] == ["pending"],
                timeout=180,
                what="extent task waiting for Solr",
            )
        page = app.get(f"/jdd/{jdd['name']}")  # readable without search, or a French 503: never a 500
        text = page.get_data(as_text=True)
        assert page.status_code in (200, 503), page.status_code
        assert jdd["title"] in text if page.status_code == 200 else "Service momentanément indisponible" in text
    finally:
        up()
    left = []

    def caught_up():  # one pass of the scheduler, its retry delays (15 s, 30 s…) not waited for
        with model.meta.engine.begin() as conn:
            conn.execute(sa.text("UPDATE sinp_outbox SET available_at = now() WHERE state = 'pending'"))
        runner.dispatch()  # also queues again a task whose worker was killed above (stale_after)
        left[:] = [
            (r["task"], r["key"], r["state"], r["attempts"], r["last_error"])
            for r in outbox_rows("protect_extent", jdd["id"]) + outbox_rows("index")
            if r["state"] != "done"
        ]
        return not left

    with worker(stack, tmp_path):
        try:
            wait(caught_up, timeout=180, what="deferred indexing and extent done")
        except AssertionError as err:
            raise AssertionError(f"{err}; still to do: {left}") from None
    found = api.ok("package_search", fq=f"id:({' OR '.join(imported)})", include_private=True)
    assert found["count"] == len(imported)
    assert api.ok("package_show", id=jdd["id"])["notes"] != "Jamais enregistré"  # the refused edit left nothing


# --- PostgreSQL restarted under load ---------------------------------------------------------------------


def test_postgresql_restarted_under_load_gives_503_not_500_and_recovers(test_ckan_url, test_csw):
    results, stop_at = [], time.monotonic() + 14
    urls = [
        f"{test_ckan_url}/api/3/action/package_search?q=chiropt%C3%A8res",
        f"{test_ckan_url}/dataset/",
        f"{test_csw}?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&resultType=results&elementSetName=brief",
    ]

    def client(url):
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                try:
                    r = http.get(url, timeout=20)
                    results.append((url, time.monotonic(), r.status_code, r.headers.get("Retry-After"), r.text[:3000]))
                except requests.RequestException as err:
                    results.append((url, time.monotonic(), None, None, str(err)))
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    time.sleep(3)
    restarted = time.monotonic()
    stack_shell("pg_ctlcluster ${PG_CLUSTER/\\// } restart")
    back = time.monotonic()
    for t in threads:
        t.join()
    # anything but 200 or a French 503: the URL, when (s after the restart began) and what was answered
    broken = [(u, round(t - restarted, 1), s, b[:1500]) for u, t, s, _r, b in results if s not in (200, 503)]
    assert not broken, broken[:3]
    for url, _t, status, retry_after, body in results:
        if status == 503:
            assert retry_after == "30", url
            assert "indisponible" in body, body[:300]
        if status == 200 and "csw" in url:
            assert "ExceptionReport" not in body, body[body.find("ExceptionText") :][:400]  # never a 200
    late = [s for _u, t, s, _r, _b in results if t > back + 3]
    assert late and set(late) == {200}  # recovered by itself
    print(
        f"PostgreSQL restart took {back - restarted:.1f} s; {len(results)} requests, "
        f"{sum(1 for r in results if r[2] == 503)} answered 503, none 500"
    )


# --- the partner's CSW stopped in the middle of a harvest ---------------------------------------------------


def listening_pid(port: int) -> int:
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split("pid=")[1].split(",")[0])


def test_a_partner_csw_stopped_during_a_harvest_loses_nothing_and_the_next_run_completes(clean_db, stack, tmp_path):
    import pathlib
    import urllib.parse

    from ckanext.harvest.model import HarvestJob
    from ckanext.harvest.tests.factories import HarvestJobObj
    from ckanext.harvest.tests.lib import run_harvest_job
    from remote_csw import _gunicorn, clean_env, remote_pycsw

    from ckanext.sinp_harvesters.csw import SinpCswHarvester
    from tests.integration.test_harvest_csw import errors, gather_errors, harvest, partner_catalogue, show, source

    org = factories.Organization(name=f"partenaire-{uuid.uuid4().hex[:6]}", title="Catalogue partenaire du Jura")
    ca, jdds, docs = partner_catalogue()
    docs.pop("02-bad.xml")
    uuids = [ca["sinp_uuid"], *(j["sinp_uuid"] for j in jdds)]
    venv = pathlib.Path(stack["PYCSW_VENV"])
    workdir = tmp_path / "partner"
    with worker(stack, tmp_path), remote_pycsw(docs, workdir, venv) as url:  # the worker indexes, syncs the CSW
        port = urllib.parse.urlsplit(url).port
        src = source(org, url)
        command = [str(venv / "bin" / "gunicorn"), "pycsw.wsgi:application", "--no-control-socket"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]

        class StoppedAfterOne(SinpCswHarvester):
            """Our harvester; the partner's server is killed once the first record is fetched."""

            fetched = 0

            def __new__(cls):  # CKAN's SingletonPlugin would hand back the plugin's own instance
                return object.__new__(cls)

            def fetch_stage(self, harvest_object):
                if StoppedAfterOne.fetched == 1:
                    os.killpg(os.getpgid(listening_pid(port)), signal.SIGKILL)  # master and worker
                StoppedAfterOne.fetched += 1
                return super().fetch_stage(harvest_object)

        # the GetRecords pages carried the whole records (#20): the fetch needs the partner no more
        first = run_harvest_job(HarvestJobObj(source=src, run=False), StoppedAfterOne())
        assert not errors(first), errors(first)
        assert {g for g, r in first.items() if r["report_status"] == "added"} == set(uuids)

        # the partner is down for the next run: a French gather error, nothing changed, the job ends
        second = harvest(src)
        assert not second and "serveur injoignable" in gather_errors(src)[-1], (second, gather_errors(src))
        assert [show(u) is None for u in uuids] == [False, False, False]
        job = model.Session.query(HarvestJob).filter_by(source_id=src.id).order_by(HarvestJob.created.desc()).first()
        assert job.status == "Finished"  # the source is not blocked by a job left « Running »

        # the partner is back on the same address; the next run (the scheduler's, every 5 min) completes
        with _gunicorn(
            command, clean_env(PYCSW_CONFIG=str(workdir / "pycsw.cfg")), workdir, workdir / "again.log", url
        ):
            third = harvest(src)
    assert not errors(third), errors(third)
    found = queries.packages_by_uuid(model, uuids)
    assert {u: len(found.get(u, [])) for u in uuids} == dict.fromkeys(uuids, 1)  # once each: nothing doubled
    assert show(jdds[1]["sinp_uuid"])["cadre"] == ca["sinp_uuid"]
