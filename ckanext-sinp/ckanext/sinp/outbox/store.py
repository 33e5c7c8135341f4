"""The outbox table: background work recorded in the transaction of the change that needs it.

SQLAlchemy Core, no ``import ckan``: every function takes a Connection (or an Engine where it
says so). A row is one task (``task``, ``key``: e.g. ``csw_sync`` of a package id, ``deposit``
of a resource id) and moves through these states:

- ``pending``: to do; ``available_at`` says from when (a retry waits); ``enqueued_at`` when it
  was last handed to RQ (a job lost with Redis is handed again by ``due``);
- ``running``: claimed by a worker, which refreshes ``heartbeat_at``; a row whose heartbeat
  stopped (the worker was killed) goes back to ``pending`` (``stale``) or, after
  ``max_attempts``, to ``failed``;
- ``done``, ``failed``: kept ``retention`` for the record, then removed.

At most one ``pending`` row per (task, key): adding a task already waiting returns that row, so
a burst of edits of one record gives one CSW sync. A task added while the same one runs gets a
new row: the change it follows may have come after the running one read the database.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, insert

metadata = MetaData()

OUTBOX = Table(
    "sinp_outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("task", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("args", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    Column("available_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    Column("enqueued_at", DateTime(timezone=True)),
    Column("started_at", DateTime(timezone=True)),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Index("ix_sinp_outbox_pending", "task", "key", unique=True, postgresql_where=text("state = 'pending'")),
    Index("ix_sinp_outbox_state", "state", "available_at"),
    comment="Travaux d'arrière-plan à faire (boîte d'envoi transactionnelle)",
)

STATES = ("pending", "running", "done", "failed")


def ensure_table(engine) -> None:
    metadata.create_all(engine)


def add(conn, task: str, key: str, args: dict | None = None) -> int:
    """Records a task in the caller's transaction; returns its row id (that of the task already
    waiting, whose arguments are replaced, if there is one)."""
    stmt = insert(OUTBOX).values(task=task, key=key, args=args or {})
    stmt = stmt.on_conflict_do_update(
        index_elements=[OUTBOX.c.task, OUTBOX.c.key],
        index_where=text("state = 'pending'"),
        set_={"args": stmt.excluded.args, "available_at": sa.func.least(OUTBOX.c.available_at, sa.func.now())},
    ).returning(OUTBOX.c.id)
    return conn.execute(stmt).scalar_one()


def mark_enqueued(conn, ids: list[int]) -> None:
    if ids:
        conn.execute(OUTBOX.update().where(OUTBOX.c.id.in_(ids)).values(enqueued_at=sa.func.now()))


def claim(conn, ids: list[int]) -> list[dict]:
    """Moves the ``pending`` rows among ``ids`` to ``running`` (one attempt more) and returns them;
    a row already claimed, done or failed is not returned (a job handed twice runs once)."""
    if not ids:
        return []
    stmt = (
        OUTBOX.update()
        .where(OUTBOX.c.id.in_(ids), OUTBOX.c.state == "pending")
        .values(
            state="running",
            attempts=OUTBOX.c.attempts + 1,
            started_at=sa.func.now(),
            heartbeat_at=sa.func.now(),
        )
        .returning(OUTBOX.c.id, OUTBOX.c.task, OUTBOX.c.key, OUTBOX.c.args, OUTBOX.c.attempts)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def heartbeat(conn, ids: list[int]) -> None:
    if ids:
        conn.execute(
            OUTBOX.update().where(OUTBOX.c.id.in_(ids), OUTBOX.c.state == "running").values(heartbeat_at=sa.func.now())
        )


def finish(conn, ids: list[int]) -> None:
    if ids:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.state == "running")
            .values(state="done", finished_at=sa.func.now(), last_error=None)
        )


def _back_to_pending(conn, ids: list[int], error: str, delay: dt.timedelta) -> list[int]:
    """Rows of ``ids`` made ``pending`` again after ``delay``; a row whose task already waits in
    another pending row is ``done`` instead (that row will do it). Returns the rows made pending."""
    if not ids:
        return []
    waiting = sa.alias(OUTBOX)
    duplicate = sa.exists().where(
        waiting.c.task == OUTBOX.c.task, waiting.c.key == OUTBOX.c.key, waiting.c.state == "pending"
    )
    conn.execute(
        OUTBOX.update()
        .where(OUTBOX.c.id.in_(ids), duplicate)
        .values(state="done", finished_at=sa.func.now(), last_error=error)
    )
    stmt = (
        OUTBOX.update()
        .where(OUTBOX.c.id.in_(ids), OUTBOX.c.state.in_(("running", "pending")))
        .values(
            state="pending",
            available_at=sa.func.now() + delay,
            enqueued_at=None,
            heartbeat_at=None,
            last_error=error,
        )
        .returning(OUTBOX.c.id)
    )
    return [r[0] for r in conn.execute(stmt)]


def retry(conn, ids: list[int], error: str, delay: dt.timedelta) -> list[int]:
    """A run that failed: its rows wait ``delay`` before the next attempt."""
    return _back_to_pending(conn, ids, error[:2000], delay)


def give_up(conn, ids: list[int], error: str) -> None:
    if ids:
        conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.id.in_(ids))
            .values(state="failed", finished_at=sa.func.now(), last_error=error[:2000])
        )


def stale(conn, older_than: dt.timedelta) -> list[dict]:
    """``running`` rows whose heartbeat stopped more than ``older_than`` ago (locked for the caller's
    transaction, skipping rows another dispatcher holds)."""
    stmt = (
        sa.select(OUTBOX.c.id, OUTBOX.c.task, OUTBOX.c.key, OUTBOX.c.args, OUTBOX.c.attempts, OUTBOX.c.heartbeat_at)
        .where(OUTBOX.c.state == "running", OUTBOX.c.heartbeat_at < sa.func.now() - older_than)
        .order_by(OUTBOX.c.id)
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def due(conn, requeue_after: dt.timedelta, limit: int = 1000) -> list[dict]:
    """``pending`` rows that are available and were never handed to RQ, or handed more than
    ``requeue_after`` ago (the job was lost: Redis emptied, a worker that died before starting)."""
    stmt = (
        sa.select(OUTBOX.c.id, OUTBOX.c.task, OUTBOX.c.key, OUTBOX.c.args)
        .where(
            OUTBOX.c.state == "pending",
            OUTBOX.c.available_at <= sa.func.now(),
            sa.or_(OUTBOX.c.enqueued_at.is_(None), OUTBOX.c.enqueued_at < sa.func.now() - requeue_after),
        )
        .order_by(OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def purge(conn, older_than: dt.timedelta) -> int:
    return conn.execute(
        OUTBOX.delete().where(OUTBOX.c.state.in_(("done", "failed")), OUTBOX.c.finished_at < sa.func.now() - older_than)
    ).rowcount


def counts(conn) -> dict:
    """Rows per state, and the age (seconds) of the oldest pending row."""
    out = {state: 0 for state in STATES}
    for state, n in conn.execute(sa.select(OUTBOX.c.state, sa.func.count()).group_by(OUTBOX.c.state)):
        out[state] = n
    oldest = conn.execute(
        sa.select(sa.func.extract("epoch", sa.func.now() - sa.func.min(OUTBOX.c.created_at))).where(
            OUTBOX.c.state.in_(("pending", "running"))
        )
    ).scalar()
    out["oldest_pending_s"] = round(float(oldest), 1) if oldest is not None else None
    return out


def rows(conn, states=("pending", "running", "failed"), limit: int = 100) -> list[dict]:
    stmt = sa.select(OUTBOX).where(OUTBOX.c.state.in_(states)).order_by(OUTBOX.c.id).limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def pending_for(conn, task: str, key: str) -> dict | None:
    """The latest unfinished row of a task (pending or running), if any."""
    stmt = (
        sa.select(OUTBOX)
        .where(OUTBOX.c.task == task, OUTBOX.c.key == key, OUTBOX.c.state.in_(("pending", "running")))
        .order_by(OUTBOX.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None
