"""What a JDD page shows of its occurrences, computed once per change of the data instead of once per view.

The figures (``store.occurrence_stats``) and the map (observations per 10 km cell) of a JDD are
computed by the store's own rights decision (``store.blurred``) for two readers only:

- ``public``: ``Access(public_package_ids=[jdd])``, what anybody gets of a published JDD (blurred);
- ``full``: ``Access(full=True)``, what the producer's members and sysadmins get (precise).

They are kept in ``sinp_occurrence_summary`` with the *generation* of the JDD's occurrences they
were computed from. Every statement writing ``sinp_occurrence`` (deposit, validation, sensitivity,
deletion) moves the generation of the JDD it touched and removes its summaries (statement
triggers, one sequence; a TRUNCATE moves a global epoch): a summary of an older generation is never
served, it is computed again on the next view. The generation is read *before* the data, so a summary can be newer than its
generation (computed again once more) but never older.

A reader that is neither (a chef de file whose scope covers part of the JDD, a member of one of
several producers) gets the live computation: ``summary_viewer`` returns None.

SQLAlchemy Core, no ``import ckan``.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import store
from ckanext.sinp.occurrences.protection_store import cell_polygon_sql

PUBLIC, FULL = "public", "full"
EPOCH = "*"  # the generation row moved by a TRUNCATE of sinp_occurrence
POINTS_MAX = 500  # up to this many visible observations, the map shows them one by one

SCHEMA_SQL = (
    "CREATE SEQUENCE IF NOT EXISTS sinp_occurrence_gen_seq",
    """CREATE TABLE IF NOT EXISTS sinp_occurrence_generation (
         package_id text PRIMARY KEY, gen bigint NOT NULL)""",
    "COMMENT ON TABLE sinp_occurrence_generation IS "
    "'Génération des occurrences de chaque JDD (déplacée par toute écriture de sinp_occurrence)'",
    """CREATE TABLE IF NOT EXISTS sinp_occurrence_summary (
         package_id text NOT NULL, viewer text NOT NULL, gen bigint NOT NULL, payload jsonb NOT NULL,
         computed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (package_id, viewer))""",
    "COMMENT ON TABLE sinp_occurrence_summary IS "
    "'Chiffres et carte par maille des occurrences de chaque JDD (public, accès complet), par génération'",
    """CREATE OR REPLACE FUNCTION sinp_occurrence_generation_move() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'TRUNCATE' THEN
           INSERT INTO sinp_occurrence_generation VALUES ('*', nextval('sinp_occurrence_gen_seq'))
             ON CONFLICT (package_id) DO UPDATE SET gen = EXCLUDED.gen;
           DELETE FROM sinp_occurrence_summary;
         ELSIF TG_OP = 'INSERT' THEN
           WITH p AS (SELECT DISTINCT package_id FROM sinp_new_rows),
                g AS (INSERT INTO sinp_occurrence_generation
                        SELECT package_id, nextval('sinp_occurrence_gen_seq') FROM p
                        ON CONFLICT (package_id) DO UPDATE SET gen = EXCLUDED.gen)
           DELETE FROM sinp_occurrence_summary s USING p WHERE s.package_id = p.package_id;
         ELSE
           WITH p AS (SELECT DISTINCT package_id FROM sinp_old_rows),
                g AS (INSERT INTO sinp_occurrence_generation
                        SELECT package_id, nextval('sinp_occurrence_gen_seq') FROM p
                        ON CONFLICT (package_id) DO UPDATE SET gen = EXCLUDED.gen)
           DELETE FROM sinp_occurrence_summary s USING p WHERE s.package_id = p.package_id;
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE OR REPLACE TRIGGER sinp_occurrence_gen_insert AFTER INSERT ON sinp_occurrence
       REFERENCING NEW TABLE AS sinp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION sinp_occurrence_generation_move()""",
    """CREATE OR REPLACE TRIGGER sinp_occurrence_gen_update AFTER UPDATE ON sinp_occurrence
       REFERENCING OLD TABLE AS sinp_old_rows FOR EACH STATEMENT EXECUTE FUNCTION sinp_occurrence_generation_move()""",
    """CREATE OR REPLACE TRIGGER sinp_occurrence_gen_delete AFTER DELETE ON sinp_occurrence
       REFERENCING OLD TABLE AS sinp_old_rows FOR EACH STATEMENT EXECUTE FUNCTION sinp_occurrence_generation_move()""",
    """CREATE OR REPLACE TRIGGER sinp_occurrence_gen_truncate AFTER TRUNCATE ON sinp_occurrence
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_occurrence_generation_move()""",
)

_ready = False


def ensure_tables(engine) -> None:
    """The generation and summary tables and the triggers moving generations (idempotent; run by
    ``ckan sinp init-db`` after ``store.ensure_tables``, i.e. at every deployment: stored summaries
    are dropped then, computed again by the new code on the next view)."""
    global _ready
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_occurrence_summary'))"))
        for statement in SCHEMA_SQL:
            conn.execute(text(statement))
        # computed by the code being deployed: a summary of the previous code may lack what it shows
        conn.execute(text("DELETE FROM sinp_occurrence_summary"))
    _ready = True


def ready(conn) -> bool:
    """The summary tables exist (a database not yet migrated gets live computations)."""
    global _ready
    if not _ready:
        _ready = conn.execute(text("SELECT to_regclass('sinp_occurrence_summary') IS NOT NULL")).scalar()
    return bool(_ready)


def summary_viewer(access, package_id: str, owners: list[str]) -> str | None:
    """Which stored reading ``access`` gets for this JDD, exactly as ``store.blurred`` decides it:
    ``full`` when every occurrence is precise for it (sysadmin, member of every producing
    organisation), ``public`` when it only reads the published JDD's public layer; None otherwise
    (a chef de file's scope, part of the producers: computed live)."""
    if access.full or (owners and set(owners) <= set(access.orgs)):
        return FULL
    if set(owners) & set(access.orgs):
        return None
    if access.scopes and package_id in access.scope_package_ids:
        return None
    if package_id in access.public_package_ids:
        return PUBLIC
    return None


def without_jit(conn) -> None:
    """PostgreSQL's JIT off for the rest of the current transaction. The blurring's cell polygon
    (``ST_Transform`` per row, a costly function for the planner) makes every query over the rows
    of a JDD or a territory cross ``jit_above_cost``: LLVM then compiles some 30 functions, 1 to
    2 s of CPU per query on this machine, for queries that run in 0.2 to 0.9 s without it
    (EXPLAIN ANALYZE in BENCHMARKS.md). Used by the summaries, the exports and /territoire."""
    conn.execute(text("SET LOCAL jit = off"))


def generation(conn, package_id: str) -> int:
    return conn.execute(
        text("SELECT COALESCE(max(gen), 0) FROM sinp_occurrence_generation WHERE package_id IN (:p, :epoch)"),
        {"p": package_id, "epoch": EPOCH},
    ).scalar()


def owners(conn, package_id: str) -> list[str]:
    """The organisations that produced the JDD's occurrences (normally one)."""
    return [
        r[0]
        for r in conn.execute(
            text("SELECT DISTINCT owner_org FROM sinp_occurrence WHERE package_id = :p AND owner_org IS NOT NULL"),
            {"p": package_id},
        )
    ]


def cells(conn, access, package_id: str) -> list[dict]:
    """Observations per 10 km cell as ``access`` sees them: every observation located at the cell
    or more precisely (layers précise, commune, maille); département-only ones are not mapped."""
    sql, params = store.blurred(conn, access, package_ids=[package_id])
    rows = conn.execute(
        text(f"""SELECT c.code, c.n, c.blurred, ST_AsGeoJSON({cell_polygon_sql("c.code")}, 5)
                   FROM (SELECT maille_calc AS code, count(*) AS n, count(*) FILTER (WHERE layer > 0) AS blurred
                           FROM ({sql}) AS b
                          WHERE layer <= {protection.MAILLE} AND maille_calc IS NOT NULL
                          GROUP BY maille_calc) AS c
                  ORDER BY c.code"""),
        params,
    ).all()
    return [
        {"code": code, "count": n, "blurred": blurred, "geometry": json.loads(geom)} for code, n, blurred, geom in rows
    ]


def compute(conn, package_id: str, viewer: str) -> dict:
    """The summary of one reading: the store's figures, the cells, the producing organisations."""
    access = store.Access(full=True) if viewer == FULL else store.Access(public_package_ids=[package_id])
    without_jit(conn)
    stats = store.occurrence_stats(conn, access, package_id)
    grid = cells(conn, access, package_id)
    return {"stats": stats, "cells": grid, "owners": owners(conn, package_id)}


def summary(conn, access, package_id: str) -> dict | None:
    """The stored summary this reader gets (computed and stored if missing or of an older
    generation); None when the reader needs a live computation (or the JDD has no occurrence).
    ``conn`` is committed after a store (a connection of ``engine.connect()``).

    Storing writes to the database during a page view: the anonymous page cache, which listens to
    every write, drops its copies then (once per change of the JDD's data)."""
    if not ready(conn):
        return None
    gen = generation(conn, package_id)  # before the data: a summary is never older than its generation
    stored = {
        viewer: payload
        for viewer, payload in conn.execute(
            text("SELECT viewer, payload FROM sinp_occurrence_summary WHERE package_id = :p AND gen = :g"),
            {"p": package_id, "g": gen},
        )
    }
    any_payload = next(iter(stored.values()), None)
    known_owners = any_payload["owners"] if any_payload else owners(conn, package_id)
    if not known_owners:
        return None  # no occurrence: the live computation reads nothing, and a page view writes nothing
    viewer = summary_viewer(access, package_id, known_owners)
    if viewer is None:
        return None
    if viewer in stored:
        return stored[viewer]
    payload = compute(conn, package_id, viewer)
    _store(conn, package_id, viewer, gen, payload)
    conn.commit()
    return payload


def _store(conn, package_id: str, viewer: str, gen: int, payload: dict) -> None:
    conn.execute(
        text("""INSERT INTO sinp_occurrence_summary (package_id, viewer, gen, payload)
                VALUES (:p, :v, :g, CAST(:payload AS jsonb))
                ON CONFLICT (package_id, viewer) DO UPDATE
                  SET gen = EXCLUDED.gen, payload = EXCLUDED.payload, computed_at = now()
                  WHERE sinp_occurrence_summary.gen <= EXCLUDED.gen"""),
        {"p": package_id, "v": viewer, "g": gen, "payload": json.dumps(payload)},
    )


def precompute(conn, package_id: str) -> list[str]:
    """Computes and stores both stored readings of a JDD (``public`` and ``full``) now, so that no
    visitor pays them on the first view: for the integration (at the end of its transaction: the
    summaries are then committed with the rows they describe) or, better for the integration's
    throughput, the background task that follows it (a separate transaction: the generation is
    read before the data, as in ``summary``). The caller commits. Returns the readings stored
    (none for a JDD without occurrence, or a database whose summary tables are not created)."""
    if not ready(conn):
        return []
    gen = generation(conn, package_id)
    if not owners(conn, package_id):
        return []
    done = []
    for viewer in (PUBLIC, FULL):
        _store(conn, package_id, viewer, gen, compute(conn, package_id, viewer))
        done.append(viewer)
    return done
