"""What the anonymous page cache keeps, and how it learns that the database changed.

No ``import ckan``. Three pieces:

- ``Entries``: the responses of one web worker, least recently used out first, within a byte
  budget, each valid ``ttl`` seconds and only for the *generation* it was rendered in;
- ``Generation``: a counter that moves whenever something committed may change a public page.
  It moves on every commit of this process (``bump``, hooked on the engine's ``commit`` event by
  the glue) and, for the other processes (the other web workers, the jobs worker, harvesters,
  ``ckan`` commands, ``psql``), on each ``NOTIFY sinp_page_cache`` that PostgreSQL delivers at
  the commit of a transaction that wrote a table (``ensure_triggers``). A thread of the worker
  LISTENs; while it is not connected (PostgreSQL restarting…) the cache is off and emptied;
- ``ensure_triggers``: one statement-level trigger per table, so that every writer is seen,
  including the ones this code does not know about; tables that change on reads or never show
  on a page are left out (``QUIET_TABLES``), and the outbox only when a task ends (a Solr index
  caught up: search pages read Solr).

A page is stored only if the generation did not move while it was rendered, so a change that
commits during a render never leaves that render in the cache.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import threading
import time
from dataclasses import dataclass, field

import psycopg2  # the driver of CKAN's engine
import sqlalchemy as sa

log = logging.getLogger(__name__)

CHANNEL = "sinp_page_cache"
# changed on reads (API token use), written after the change that already notified (CSW table),
# or PostGIS's own: never a reason to drop the pages
# sinp_occurrence_summary / _generation: figures derived from sinp_occurrence (whose own writes notify),
# stored by a page view itself; counting them would end the copies at each first view after a deposit.
QUIET_TABLES = frozenset(
    {
        "api_token",
        "tracking_raw",
        "spatial_ref_sys",
        "sinp_csw_record",
        "sinp_csw_record_changes",  # its count of rows (csw/repository.py): moves with sinp_csw_record
        "sinp_outbox",
        "sinp_occurrence_summary",
        "sinp_occurrence_generation",
    }
)
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION sinp_page_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$
"""


def ensure_triggers(engine) -> list[str]:
    """Installs (again: idempotent) the notifying trigger on every table of the schema but the quiet
    ones; returns the tables covered. Run by ``ckan sinp init-db`` (``make up``, restore)."""
    with engine.begin() as conn:
        conn.execute(sa.text(FUNCTION_SQL))
        tables = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                "ORDER BY c.relname"
            )
        ).scalars()
        tables = list(tables)
        covered = [name for name in tables if name not in QUIET_TABLES]
        for name in set(tables) & (QUIET_TABLES - {"sinp_outbox"}):  # quiet now, perhaps not when installed
            conn.execute(
                sa.text(f"DROP TRIGGER IF EXISTS sinp_page_cache ON {conn.dialect.identifier_preparer.quote(name)}")
            )
        for name in covered:
            table = conn.dialect.identifier_preparer.quote(name)
            conn.execute(
                sa.text(
                    f"CREATE OR REPLACE TRIGGER sinp_page_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                    f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION sinp_page_cache_notify()"
                )
            )
        # the outbox: only a task that ends (an index caught up), not its heartbeats
        conn.execute(
            sa.text(
                "CREATE OR REPLACE TRIGGER sinp_page_cache AFTER UPDATE OF state ON sinp_outbox "
                "FOR EACH ROW WHEN (NEW.state = 'done' AND OLD.state <> 'done') "
                "EXECUTE FUNCTION sinp_page_cache_notify()"
            )
        )
    return covered


class Generation:
    """The counter, and the thread that listens to PostgreSQL for it (one per process)."""

    def __init__(self, dsn: str, *, keepalive: float = 20.0, retry: float = 2.0):
        self.dsn = dsn
        self.keepalive = keepalive
        self.retry = retry
        self.value = 0
        self.listening = False
        self._pid = None
        self._conn = None
        self._lock = threading.Lock()

    def bump(self) -> None:
        # two threads bumping at once may move it by one only: moving at all is what counts
        self.value += 1

    def catch_up(self) -> None:
        """Reads, without waiting, a notification already arrived that the thread has not handled
        yet (it may be waiting for the interpreter): a request never serves a copy PostgreSQL has
        already said is stale."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.poll()
            if conn.notifies:
                conn.notifies.clear()
                self.bump()
        except Exception:  # noqa: BLE001 - a lost server: the thread sees it too and turns the cache off
            self.bump()

    def ready(self) -> bool:
        """True once this process listens; starts the listener the first time (after a fork too)."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    self.listening = False
                    threading.Thread(target=self._listen, name="sinp-page-cache", daemon=True).start()
        return self.listening

    def _listen(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            conn = None
            try:
                conn = psycopg2.connect(self.dsn, application_name="sinp-page-cache")
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self._conn = conn
                self.bump()  # what committed while nobody listened
                self.listening = True
                while self._pid == pid:
                    if select.select([conn], [], [], self.keepalive) == ([], [], []):
                        with conn.cursor() as cur:  # a silent loss of the server shows here
                            cur.execute("SELECT 1")
                    conn.poll()
                    if conn.notifies:
                        conn.notifies.clear()
                        self.bump()
            except Exception as exc:  # noqa: BLE001 - the cache turns off, the site goes on
                self._conn = None
                if self.listening:
                    log.warning("Cache des pages : écoute de PostgreSQL interrompue (%s), cache désactivé", exc)
                self.listening = False
                self.bump()
                time.sleep(self.retry)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass


@dataclass
class Entry:
    body: bytes
    headers: list[tuple[str, str]]
    generation: int
    expires: float
    csrf: bool = False  # the body holds the CSRF placeholder
    size: int = field(init=False)

    def __post_init__(self):
        self.size = len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 200


class Entries:
    """Least-recently-used responses within ``max_bytes``; thread-safe."""

    def __init__(self, max_bytes: int, max_body: int):
        self.max_bytes = max_bytes
        self.max_body = max_body
        self.bytes = 0
        self._items: collections.OrderedDict[tuple, Entry] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple, generation: int, now: float | None = None) -> Entry | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._items.get(key)
            if entry is None or entry.generation != generation or entry.expires <= now:
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return entry

    def put(self, key: tuple, entry: Entry) -> bool:
        if entry.size > self.max_body or entry.size > self.max_bytes:
            return False
        with self._lock:
            if key in self._items:
                self._drop(key)
            self._items[key] = entry
            self.bytes += entry.size
            while self.bytes > self.max_bytes:
                self._drop(next(iter(self._items)))
        return True

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def _drop(self, key: tuple) -> None:
        self.bytes -= self._items.pop(key).size
