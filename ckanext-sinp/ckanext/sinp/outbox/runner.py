"""Durable background work (CKAN glue of the outbox, ``outbox.store``).

A change that needs work done later (a deposit to check, a CSW row to rewrite, JDD to reindex, an
extent to widen) records a task in **its own transaction**: ``defer`` during a CKAN action (the row
is written just before CKAN's commit, and forgotten with a rollback), ``add`` in a transaction of
ours, ``add_now`` alone. After the commit the task is handed to RQ at once (``enqueue``); when
Redis is down it simply waits in PostgreSQL. ``run`` is the RQ job: it claims its rows, keeps a
heartbeat while the work runs, marks them done, or schedules a retry with a growing delay.
``dispatch`` (the scheduler calls it every 30 s; ``ckan sinp outbox dispatch``) hands RQ what is
due (new, retried, or lost with Redis), queues again what a killed worker left ``running``, and
gives up after the task's attempts — calling the task's hooks so that what the user sees (a
deposit's status) stays true.

Modules register their tasks (``register``) when the plugin loads; this module imports none of
them.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable

import ckan.model as model
import ckan.plugins.toolkit as tk
from sqlalchemy import event

from ckanext.sinp import settings
from ckanext.sinp.outbox import store

log = logging.getLogger(__name__)

PENDING = "sinp_outbox_pending"  # session.info: {(task, key): args} until the commit
WRITTEN = "sinp_outbox_written"  # session.info: ids of the rows written, handed to RQ after the commit
FIRST_RETRY_S = 15
LAST_RETRY_S = 900


@dataclasses.dataclass(frozen=True)
class Task:
    """A kind of background work.

    ``run(items)`` does it for ``[(key, args)]`` and raises to be retried. ``prepare(conn, key,
    args)`` writes, in the transaction that records the task, what must exist with it (a
    deposit's « en attente » row). ``on_retry`` / ``on_give_up(conn, key, args, reason)`` keep
    statuses true when a run was interrupted or will not be tried again."""

    name: str
    run: Callable[[list[tuple[str, dict]]], object]
    title: str
    batch: int = 200
    timeout: Callable[[], int] = lambda: 600
    attempts: Callable[[], int] = lambda: settings.outbox_timing()["max_attempts"]
    prepare: Callable | None = None
    on_retry: Callable | None = None
    on_give_up: Callable | None = None


TASKS: dict[str, Task] = {}


def register(task: Task) -> None:
    TASKS[task.name] = task


# --- recording ----------------------------------------------------------------------------------


def defer(task: str, key: str, args: dict | None = None) -> None:
    """Records a task in the current CKAN transaction (written just before its commit)."""
    pending = model.Session().info.setdefault(PENDING, {})
    merged = pending.setdefault((task, key), {})
    merged.update({k: v for k, v in (args or {}).items() if v is not None})


def add(conn, task: str, key: str, args: dict | None = None) -> int:
    """Records a task in the caller's transaction; the caller hands the id to ``enqueue`` after its
    commit (or lets the scheduler do it)."""
    spec = TASKS[task]
    if spec.prepare is not None:
        spec.prepare(conn, key, args or {})
    return store.add(conn, task, key, args)


def add_now(task: str, key: str, args: dict | None = None) -> int:
    """Records a task in a transaction of its own and hands it to RQ."""
    with model.meta.engine.begin() as conn:
        row_id = add(conn, task, key, args)
    enqueue([row_id])
    return row_id


def _before_commit(session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the transaction goes on
        return
    items = session.info.pop(PENDING, None)
    if not items:
        return
    conn = session.connection()
    written = session.info.setdefault(WRITTEN, [])
    for (task, key), args in items.items():
        written.append(add(conn, task, key, args))


def _after_commit(session) -> None:
    if session.in_nested_transaction():
        return
    ids = session.info.pop(WRITTEN, None)
    if ids:
        enqueue(ids)


def _after_soft_rollback(session, previous) -> None:
    if previous.nested:  # a SAVEPOINT rolled back: what the transaction recorded before stays
        return
    session.info.pop(PENDING, None)
    session.info.pop(WRITTEN, None)


def install_session_hooks() -> None:
    target = model.meta.Session
    if not event.contains(target, "before_commit", _before_commit):
        event.listen(target, "before_commit", _before_commit)
        event.listen(target, "after_commit", _after_commit)
        event.listen(target, "after_soft_rollback", _after_soft_rollback)


# --- handing over to RQ -----------------------------------------------------------------------------


def _hand_over(conn, rows: list[dict]) -> int:
    """Enqueues one RQ job per task and batch; marks the rows handed (in ``conn``'s transaction).
    Raises when Redis does not answer (the rows stay as they were)."""
    by_task = collections.defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row["id"])
    handed = 0
    for name, ids in by_task.items():
        spec = TASKS.get(name)
        if spec is None:
            store.give_up(conn, ids, f"tâche inconnue : {name}")
            continue
        for start in range(0, len(ids), spec.batch):
            chunk = ids[start : start + spec.batch]
            tk.enqueue_job(run, [chunk], title=spec.title, rq_kwargs={"timeout": spec.timeout()})
            store.mark_enqueued(conn, chunk)
            handed += len(chunk)
    return handed


def enqueue(ids: list[int]) -> bool:
    """Hands the pending rows ``ids`` to RQ. False when Redis is unavailable: they wait in the
    outbox and the scheduler hands them over once Redis answers again."""
    try:
        with model.meta.engine.begin() as conn:
            rows = [
                r
                for r in conn.execute(
                    store.OUTBOX.select()
                    .with_only_columns(store.OUTBOX.c.id, store.OUTBOX.c.task)
                    .where(store.OUTBOX.c.id.in_(ids), store.OUTBOX.c.state == "pending")
                ).mappings()
            ]
            _hand_over(conn, [dict(r) for r in rows])
        return True
    except Exception:  # Redis down: the work is recorded, the scheduler hands it over later
        log.warning("Tâches %s en attente dans la boîte d'envoi (file RQ indisponible)", ids, exc_info=True)
        return False


# --- the job -------------------------------------------------------------------------------------------


class _Heartbeat:
    """Refreshes the rows' heartbeat while the work runs (a thread of the job process: it dies
    with it, which is how a killed worker is noticed)."""

    def __init__(self, ids: list[int]):
        self.ids = ids
        self.stop_event = threading.Event()
        every = max(1.0, min(15.0, settings.outbox_timing()["stale_after"] / 4))
        self.thread = threading.Thread(target=self._beat, args=(every,), name="sinp-outbox-heartbeat", daemon=True)

    def _beat(self, every: float) -> None:
        while not self.stop_event.wait(every):
            try:
                with model.meta.engine.begin() as conn:
                    store.heartbeat(conn, self.ids)
            except Exception:  # a database blip: the next beat tries again
                log.warning("Battement de cœur des tâches %s non enregistré", self.ids, exc_info=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=5)


def retry_delay(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(LAST_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1)))


def _failed(conn, spec: Task, rows: list[dict], reason: str) -> None:
    limit = spec.attempts()
    for row in rows:
        if row["attempts"] >= limit:
            store.give_up(conn, [row["id"]], reason)
            if spec.on_give_up is not None:
                spec.on_give_up(conn, row["key"], row["args"], reason)
        else:
            store.retry(conn, [row["id"]], reason, retry_delay(row["attempts"]))
            if spec.on_retry is not None:
                spec.on_retry(conn, row["key"], row["args"], reason)


def run(ids: list[int]) -> dict:
    """The RQ job: does the pending tasks ``ids`` (those another job already took are skipped)."""
    try:
        return _run(ids)
    finally:
        model.Session.remove()


def run_inline(ids: list[int]) -> dict:
    """Does the tasks ``ids`` now, in this process (an action that wants its follow-up done before
    it answers, when the services allow: if not, the outbox retries it later)."""
    return _run(ids)


def _run(ids: list[int]) -> dict:
    engine = model.meta.engine
    with engine.begin() as conn:
        claimed = store.claim(conn, ids)
    done = failed = 0
    by_task = collections.defaultdict(list)
    for row in claimed:
        by_task[row["task"]].append(row)
    for name, rows in by_task.items():
        spec = TASKS[name]
        row_ids = [r["id"] for r in rows]
        with _Heartbeat(row_ids):
            try:
                spec.run([(r["key"], r["args"]) for r in rows])
            except Exception as err:
                log.exception("Tâche %s en échec pour %s", name, [r["key"] for r in rows])
                model.Session.rollback()
                with engine.begin() as conn:
                    _failed(conn, spec, rows, f"{type(err).__name__}: {err}")
                failed += len(rows)
                continue
        with engine.begin() as conn:
            store.finish(conn, row_ids)
        done += len(rows)
    return {"claimed": len(claimed), "done": done, "failed": failed}


# --- the dispatcher -------------------------------------------------------------------------------


def dispatch() -> dict:
    """One pass of the scheduler: interrupted tasks queued again (or given up), due tasks handed
    to RQ, old finished rows removed. Returns what it did."""
    timing = settings.outbox_timing()
    engine = model.meta.engine
    out = {"interrupted": 0, "given_up": 0, "enqueued": 0, "purged": 0, "redis": True}
    with engine.begin() as conn:
        for row in store.stale(conn, dt.timedelta(seconds=timing["stale_after"])):
            spec = TASKS.get(row["task"])
            reason = (
                f"traitement interrompu : aucun signe de vie depuis plus de {timing['stale_after']} s "
                "(le processus de traitement s'est arrêté)"
            )
            if spec is None or row["attempts"] >= spec.attempts():
                store.give_up(conn, [row["id"]], reason)
                if spec is not None and spec.on_give_up is not None:
                    spec.on_give_up(conn, row["key"], row["args"], reason)
                out["given_up"] += 1
            else:
                store.retry(conn, [row["id"]], reason, dt.timedelta(0))
                if spec.on_retry is not None:
                    spec.on_retry(conn, row["key"], row["args"], reason)
                out["interrupted"] += 1
    try:
        with engine.begin() as conn:
            out["enqueued"] = _hand_over(conn, store.due(conn, dt.timedelta(seconds=timing["requeue_after"])))
    except Exception:  # Redis down: everything waits in the outbox; the next pass tries again
        log.warning("File RQ indisponible : les tâches attendent dans la boîte d'envoi", exc_info=True)
        out["redis"] = False
    with engine.begin() as conn:
        out["purged"] = store.purge(conn, dt.timedelta(days=7))
        out.update({f"state_{k}": v for k, v in store.counts(conn).items()})
    return out


def counts() -> dict:
    with model.meta.engine.connect() as conn:
        return store.counts(conn)
