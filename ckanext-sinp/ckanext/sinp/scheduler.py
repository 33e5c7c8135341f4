"""The scheduler (``ckan sinp scheduler``): what must happen without anyone asking.

Every ``interval`` seconds it dispatches the outbox (``outbox.runner.dispatch``: interrupted
tasks queued again, due ones handed to RQ); every ``ckanext.sinp.scheduler.harvest_every``
seconds it runs ckanext-harvest's ``harvest_jobs_run`` (what ``ckan harvester run`` does: start
the jobs created and the periodic sources that are due, close the finished ones); every
``ckanext.sinp.scheduler.csw_orphans_every`` seconds (60) it sweeps the CSW table for rows that no
public record holds any more (``csw.sync.remove_orphans``: a purge by raw SQL fires no CKAN event);
every hour, and when it starts, it reconciles (``reconcile``): deposits never recorded, the search
index and the CSW table against the database; every ``ckanext.sinp.scheduler.carte_every`` seconds (60)
it recomputes the public map roll-ups when an occurrence or a JDD changed (``map_store.refresh_if_stale``). One process for the platform: ``make up`` starts it, and the
``scheduler`` service of docker-compose.yml.
"""

from __future__ import annotations

import logging
import time

import ckan.lib.search as search
import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa

from ckanext.sinp import jobs, settings
from ckanext.sinp.csw import sync
from ckanext.sinp.logic import indicator_actions, records
from ckanext.sinp.occurrences import map_store
from ckanext.sinp.occurrences import store as occurrence_store
from ckanext.sinp.outbox import runner
from ckanext.sinp.outbox import store as outbox_store

log = logging.getLogger(__name__)

RECONCILE_EVERY_S = 3600


def unrecorded_deposits() -> list[tuple[str, str]]:
    """(resource id, package id) of deposited files whose check was never recorded, or whose file
    changed after the last one was (a process that stopped between CKAN's commit and ours)."""
    deposit = occurrence_store.DEPOSIT
    resource, package = model.Resource.__table__, model.Package.__table__
    query = (
        sa.select(resource.c.id, resource.c.package_id, resource.c.format, resource.c.url)
        .select_from(
            resource.join(package, package.c.id == resource.c.package_id).outerjoin(
                deposit, deposit.c.resource_id == resource.c.id
            )
        )
        .where(
            package.c.type == "jdd",
            package.c.state == "active",
            resource.c.state == "active",
            resource.c.url_type == "upload",
            sa.or_(
                deposit.c.resource_id.is_(None), resource.c.last_modified > sa.func.timezone("UTC", deposit.c.queued_at)
            ),
        )
    )
    found = []
    with model.meta.engine.connect() as conn:
        for row in conn.execute(query).mappings():
            if not jobs.is_deposit(dict(row, url_type="upload"), "jdd"):
                continue
            if outbox_store.pending_for(conn, jobs.TASK, row["id"]) is None:
                found.append((row["id"], row["package_id"]))
    return found


def index_differences() -> dict:
    """Active records of the database missing from the search index, and indexed ids that are no
    longer active records."""
    indexed = set(search.query_for(model.Package).get_all_entity_ids(max_results=10_000_000))
    active = {r[0] for r in model.Session.query(model.Package.id).filter(model.Package.state == "active")}
    return {"missing": sorted(active - indexed), "stale": sorted(indexed - active)}


def reconcile(csw: bool = True) -> dict:
    """Puts right what an outage may have left behind; returns what it found (and fixed)."""
    out = {}
    deposits = unrecorded_deposits()
    for resource_id, package_id in deposits:
        jobs.enqueue(resource_id, package_id, None)
    out["deposits_requeued"] = len(deposits)
    diff = index_differences()
    if diff["missing"]:
        with model.meta.engine.begin() as conn:
            ids = [runner.add(conn, records.INDEX_TASK, pid) for pid in diff["missing"]]
        runner.run_inline(ids)
    for package_id in diff["stale"]:  # deleted or purged while Solr was down
        search.clear(package_id)
    out["index_missing"] = len(diff["missing"])
    out["index_stale"] = len(diff["stale"])
    if csw:
        report = sync.rebuild()
        out["csw_added"] = len(report["added"])
        out["csw_updated"] = len(report["updated"])
        out["csw_removed"] = len(report["removed"])
    model.Session.remove()
    return out


def _harvest_run(app) -> None:
    site_user = tk.get_action("get_site_user")({"ignore_auth": True}, {})
    with app.test_request_context():
        tk.get_action("harvest_jobs_run")({"user": site_user["name"], "ignore_auth": True}, {})


def loop(app, interval: float = 30, once: bool = False, echo=print) -> None:
    """Runs until stopped (SIGTERM, Ctrl-C); each step's failure is logged and retried next time."""
    last_harvest = last_reconcile = last_orphans = last_carte = 0.0
    last_indicators = time.monotonic()  # first pass after one interval, never at start
    while True:
        now = time.monotonic()
        steps = [("outbox", runner.dispatch)]
        harvest_every = settings.scheduler_harvest_every()
        if harvest_every and now - last_harvest >= harvest_every and _has_action("harvest_jobs_run"):
            steps.append(("harvest", lambda: _harvest_run(app)))
            last_harvest = now
        if not last_reconcile or now - last_reconcile >= RECONCILE_EVERY_S:
            steps.append(("reconcile", reconcile))
            last_reconcile = last_orphans = now  # the reconcile rebuilds the whole CSW table
        orphans_every = settings.scheduler_csw_orphans_every()
        if orphans_every and now - last_orphans >= orphans_every:
            steps.append(("csw_orphans", sweep_csw_orphans))
            last_orphans = now
        indicators_every = settings.scheduler_indicators_every()
        if indicators_every and now - last_indicators >= indicators_every:
            steps.append(("indicators", indicator_actions.refresh_live))  # only when the data changed
            last_indicators = now
        carte_every = settings.scheduler_carte_every()
        if carte_every and now - last_carte >= carte_every:
            steps.append(("carte", lambda: map_store.refresh_if_stale(model.meta.engine)))  # only when changed
            last_carte = now
        for name, step in steps:
            try:
                result = step()
                if result and (name != "outbox" or _worth_saying(result)):
                    echo(f"{name}: {result}")
            except Exception:  # a service is down: the next pass tries again
                log.exception("Planificateur : étape « %s » en échec", name)
                model.Session.remove()
        if once:
            return
        pause = _pause(interval, orphans_every, last_orphans)
        if indicators_every:
            pause = max(0.0, min(pause, last_indicators + indicators_every - time.monotonic()))
        if carte_every:
            pause = max(0.0, min(pause, last_carte + carte_every - time.monotonic()))
        time.sleep(pause)


def sweep_csw_orphans() -> dict | None:
    """The CSW rows that no public record holds any more, deleted (None when there were none)."""
    found = sync.remove_orphans()
    return found if found["removed"] else None


def _pause(interval: float, orphans_every: float, last_orphans: float) -> float:
    """Seconds until the next pass: ``interval``, or less when the orphan sweep is due sooner."""
    if not orphans_every:
        return interval
    return max(0.0, min(interval, last_orphans + orphans_every - time.monotonic()))


def _worth_saying(dispatched: dict) -> bool:
    return not dispatched["redis"] or any(dispatched[k] for k in ("interrupted", "given_up", "enqueued", "purged"))


def _has_action(name: str) -> bool:
    try:
        tk.get_action(name)
    except KeyError:
        return False
    return True
