"""Harvesting ISO 19139 records from a local partner CSW (goal: ≥ 50 records/s end to end).

A stock pycsw 2.6.2 (its own SQLite repository, tests/integration/support/remote_csw.py) serves
``--count`` records (1 CA per 100 JDD) written by our ISO writer, as a SINP platform publishes
them. The ``sinp_csw`` harvester runs end to end with real consumers: this script starts
``ckan harvester gather-consumer``, ``--fetch-consumers`` × ``fetch-consumer`` and a jobs worker
on the test configuration (test database, Solr core and Redis database: never the demo catalogue),
creates a harvest job and measures from the job's creation until its last object is done.
Then the same job again (nothing changed: incremental on dateStamp).

Peer, in the same run: ckanext-spatial's own CSW harvester (``csw``, the anchor of the issue) on
the first ``--peer-count`` records, in-process through ckanext-harvest's stages, next to ours in
the same way on the same records.

    var/venv/ckan/bin/python bench/bench_harvest.py [--count 10000] [--fetch-consumers 2] [--peer-count 200]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from _ckan import ROOT, ckan_app, machine, reset_catalogue, stack_env, write_section
from bench_mtd_import import CA, jdd, load_average
from sqlalchemy import func as sa_func

sys.path.insert(0, str(ROOT / "tests" / "integration" / "support"))
sys.path.insert(0, str(ROOT))
from remote_csw import remote_pycsw  # noqa: E402

STAMP = dt.datetime(2026, 3, 1, 10, 0, 0)
DEFAULTS = {"territoires": ["METROP"], "niveau_territorial": "5", "domaine_terrestre": "true", "domaine_marin": "false"}


def documents(count: int) -> dict:
    """``count`` ISO documents: a CA (``series``) then 99 of its JDD (``dataset``), and so on."""
    from ckanext.sinp.domain import iso

    docs, ca = {}, None
    for i in range(count):
        if i % 100 == 0:
            ca = {
                **copy.deepcopy(CA),
                "sinp_uuid": str(uuid.uuid4()).upper(),
                "title": f"Programme n° {i // 100}",
                "date_creation_mtd": "2020-01-01",
            }
            ctx = iso.IsoContext(site_url="https://sinp.partenaire.invalid", date_stamp=STAMP)
            docs[f"{i:06d}.xml"] = iso.to_iso19139("ca", ca, ctx)
            continue
        ctx = iso.IsoContext(site_url="https://sinp.partenaire.invalid", date_stamp=STAMP, ca=ca)
        docs[f"{i:06d}.xml"] = iso.to_iso19139("jdd", jdd(i, ca["sinp_uuid"]), ctx)
    return docs


def start(name: str, args: list, log_dir: pathlib.Path, env: dict) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "wb")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)


def cpu_seconds(proc) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = pathlib.Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_command() -> dict:
    """CPU seconds used so far by every process of the machine, summed by command name."""
    out = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def stop(procs):
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def empty_job_queue() -> None:
    """The background jobs this benchmark queued on the test configuration (CSW sync of thousands of
    records that are deleted at the end) are dropped, started ones included: the tests that run
    later wait for an empty queue."""
    from ckan.lib import jobs
    from rq.registry import StartedJobRegistry

    queue = jobs.get_queue()
    queue.empty()
    registry = StartedJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        queue.connection.zrem(registry.key, job_id)  # (StartedJobRegistry.remove is not allowed)


def run_job(source_id: str, user: str, timeout: float) -> tuple[float, dict]:
    """Creates a job (sent to the gather queue), waits until its objects are all done; (seconds, stats)."""
    import ckan.model as model
    import ckan.plugins.toolkit as tk
    from ckanext.harvest.model import HarvestJob, HarvestObject

    started = time.perf_counter()
    job = tk.get_action("harvest_job_create")({"user": user}, {"source_id": source_id, "run": True})
    deadline = started + timeout
    while time.perf_counter() < deadline:
        model.Session.remove()
        row = HarvestJob.get(job["id"])
        if row.gather_finished is not None:
            pending = (
                model.Session.query(HarvestObject)
                .filter(HarvestObject.harvest_job_id == job["id"], HarvestObject.state.notin_(["COMPLETE", "ERROR"]))
                .count()
            )
            if pending == 0:
                break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"job {job['id']} not finished after {timeout} s")
    elapsed = time.perf_counter() - started
    tk.get_action("harvest_jobs_run")({"user": user}, {"source_id": source_id})
    model.Session.remove()
    stats = dict(
        model.Session.query(HarvestObject.report_status, sa_func.count())
        .filter(HarvestObject.harvest_job_id == job["id"])
        .group_by(HarvestObject.report_status)
        .all()
    )
    return elapsed, stats


def in_process(harvester, url: str, org_id: str, user: str, source_type: str, config: dict) -> tuple[float, dict]:
    import ckan.plugins.toolkit as tk
    from ckanext.harvest.model import HarvestSource
    from ckanext.harvest.tests.factories import HarvestJobObj
    from ckanext.harvest.tests.lib import run_harvest_job

    created = tk.get_action("harvest_source_create")(
        {"user": user},
        {
            "url": url,
            "name": f"peer-{uuid.uuid4().hex[:10]}",
            "title": source_type,
            "source_type": source_type,
            "owner_org": org_id,
            "config": json.dumps(config),
        },
    )
    started = time.perf_counter()
    results = run_harvest_job(HarvestJobObj(source=HarvestSource.get(created["id"]), run=False), harvester)
    elapsed = time.perf_counter() - started
    states = {}
    for r in results.values():
        states[r["report_status"]] = states.get(r["report_status"], 0) + 1
    return elapsed, states


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--fetch-consumers", type=int, default=2)
    parser.add_argument("--peer-count", type=int, default=200)
    args = parser.parse_args()
    stack = stack_env()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-harvest-"))
    print(f"working in {work}", flush=True)

    load_start = load_average()
    with ckan_app():
        import ckan.plugins as plugins
        import ckan.plugins.toolkit as tk
        from ckan.tests import factories

        reset_catalogue()
        docs = documents(args.count)
        env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "integration" / "support"))
        ckan = [stack["CKAN_BIN"], "-c", stack["CKAN_TEST_INI"]]
        t0 = time.perf_counter()
        with remote_pycsw(docs, work / "csw", pathlib.Path(stack["PYCSW_VENV"]), maxrecords=100) as url:
            print(f"{len(docs)} records served in {time.perf_counter() - t0:.1f} s", flush=True)
            admin = factories.Sysadmin()["name"]
            org = factories.Organization(name="partenaire-bench")
            procs = [
                start("gather", ckan + ["harvester", "gather-consumer"], work, env),
                start("worker", ckan + ["jobs", "worker"], work, env),
            ]
            procs += [
                start(f"fetch-{n}", ckan + ["harvester", "fetch-consumer"], work, env)
                for n in range(args.fetch_consumers)
            ]
            names = ["gather", "worker"] + [f"fetch-{n}" for n in range(args.fetch_consumers)]
            try:
                time.sleep(8)  # consumers up
                source = tk.get_action("harvest_source_create")(
                    {"user": admin},
                    {
                        "url": url,
                        "name": "bench-csw",
                        "title": "Banc d'essai CSW",
                        "source_type": "sinp_csw",
                        "owner_org": org["id"],
                        "config": json.dumps({"defaults": DEFAULTS}),
                    },
                )
                before = cpu_by_command()
                first, first_stats = run_job(source["id"], admin, timeout=7200)
                after = cpu_by_command()
                machine_cpu = sorted(((after[k] - before.get(k, 0), k) for k in after), reverse=True)[:6]
                print(f"CPU seconds by command: {machine_cpu}", flush=True)
                print(f"first job: {first:.1f} s {first_stats}", flush=True)
                cpu = {name: cpu_seconds(proc) for name, proc in zip(names, procs)}
                print(f"CPU seconds during the first job: {cpu}", flush=True)
                second, second_stats = run_job(source["id"], admin, timeout=600)
                print(f"second job: {second:.1f} s {second_stats}", flush=True)
            finally:
                stop(procs)
        count = tk.get_action("package_search")({"user": admin}, {"include_private": True, "rows": 0})["count"]

        # peer, in-process, on the first records
        reset_catalogue()
        subset = dict(list(docs.items())[: args.peer_count])
        admin = factories.Sysadmin()["name"]
        org = factories.Organization(name="partenaire-peer")
        plugins.load("csw_harvester")
        from ckanext.spatial.harvesters import CSWHarvester
        from ckanext.spatial.lib.csw_client import CswService

        original = CswService.getrecordbyid

        def getrecordbyid(self, *a, **kw):  # ckanext-spatial 2.3.2 bug, see test_csw_spatial_harvest.py
            record = original(self, *a, **kw)
            if record and record.get("xml", "").startswith("<?xml"):
                record["xml"] = record["xml"].split("?>", 1)[1].lstrip()
            return record

        CswService.getrecordbyid = getrecordbyid
        with remote_pycsw(subset, work / "csw-peer", pathlib.Path(stack["PYCSW_VENV"]), maxrecords=100) as url:
            ours_small, ours_states = in_process(
                plugins.get_plugin("sinp_csw"), url, org["id"], admin, "sinp_csw", {"defaults": DEFAULTS}
            )
            reset_catalogue()
            admin = factories.Sysadmin()["name"]
            org = factories.Organization(name="partenaire-peer")
            peer, peer_states = in_process(
                CSWHarvester(), url, org["id"], admin, "csw", {"continue_on_validation_errors": True}
            )
        reset_catalogue()
        empty_job_queue()

    load_end = load_average()
    n = len(docs)
    body = f"""## Harvesting {n} ISO records from a partner CSW (`bench/bench_harvest.py`)

Machine: {machine()}. Source: stock pycsw 2.6.2 on SQLite (100 records per page) serving {n} ISO 19139
records written by our ISO writer ({n // 100} CA as `series`, {n - n // 100} JDD as `dataset`). Harvester
`sinp_csw` end to end: gather consumer, {args.fetch_consumers} fetch consumer(s) and a jobs worker (CSW
sync of each new record), on the test database / Solr core / Redis database, all on this machine's 2 cores
together with pycsw, PostgreSQL and Solr. Time from the job's creation to its last object. Goal: ≥ 50 records/s.
Load average at the start and the end of the run: {load_start} / {load_end} (the machine is shared: compare
with the peer of the same run).

| run | time | records/s | objects |
|---|---|---|---|
| first job (all new) | {first:.1f} s | **{n / first:.1f}** | {first_stats} |
| same job again (nothing changed) | {second:.1f} s | — | {second_stats or "none: incremental on dateStamp"} |

Datasets in the catalogue after the first job: {count}. CPU seconds used during the first job by the
consumers and the worker: {", ".join(f"{k} {v:.0f}" for k, v in cpu.items())} (the rest of the 2 × {first:.0f} s went
to pycsw, PostgreSQL, Solr and waiting). Whole machine, by command (CPU seconds, top 6, processes alive at the
end): {", ".join(f"{k} {v:.0f}" for v, k in machine_cpu)}.

Peer in the same run, both in-process through ckanext-harvest's stages (no queues), on the first
{len(subset)} records:

| harvester | time | records/s | objects |
|---|---|---|---|
| `sinp_csw` (ours) | {ours_small:.1f} s | {len(subset) / ours_small:.1f} | {ours_states} |
| ckanext-spatial 2.3.2 `csw` (with the one-line fix of its CSW client, see test_csw_spatial_harvest.py) | {peer:.1f} s | {len(subset) / peer:.1f} | {peer_states} |

Ratio ours / peer (time): {ours_small / peer:.2f}.
"""
    write_section("harvest", body)
    print(body)


if __name__ == "__main__":
    main()
