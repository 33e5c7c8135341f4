"""What the stores of referentials and occurrences share: COPY text lines and streams (psycopg2
``copy_expert``), the DB-API cursor they write through, file digests, and the version table of the
loaded referentials (``sinp_referential_version``: one row per referential — TAXREF, HABREF, the
geographic ones, the sensitivity rules).

SQLAlchemy 2.0 Core + psycopg2 (CKAN's driver). No ``import ckan``.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text

VERSION_TABLE_NAME = "sinp_referential_version"
metadata = MetaData()

VERSION_TABLE = Table(
    VERSION_TABLE_NAME,
    metadata,
    Column("name", Text, primary_key=True),
    Column("version", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    Column("row_count", Integer, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("source_file", Text),
    Column("source_format", Text),
    comment="Version des référentiels chargés (TAXREF…)",
)


def ensure_version_table(bind) -> None:
    """Create ``sinp_referential_version`` if missing (idempotent)."""
    metadata.create_all(bind, tables=[VERSION_TABLE], checkfirst=True)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_referential_version(conn, name: str) -> dict | None:
    """The ``sinp_referential_version`` row of a referential, or None (also if the table is missing)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE_NAME):
        return None
    row = conn.execute(sa.select(VERSION_TABLE).where(VERSION_TABLE.c.name == name)).mappings().first()
    return dict(row) if row else None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(values) -> str:
    """One line of COPY text format (tab-separated, \\N for NULL, backslash escapes)."""
    # Fast path for the usual line with nothing to escape: NULLs as NUL placeholders
    # (PostgreSQL text cannot hold NUL), then one check on the joined line.
    line = "\t".join(["\0" if v is None else v if v.__class__ is str else str(v) for v in values])
    if (
        "\\" in line
        or "\n" in line
        or "\r" in line
        or line.count("\t") != len(values) - 1
        or line.count("\0") != values.count(None)
    ):
        return (
            "\t".join(
                ["\\N" if v is None else v.translate(_COPY_ESCAPES) if v.__class__ is str else str(v) for v in values]
            )
            + "\n"
        )
    return line.replace("\0", "\\N") + "\n"


class CopyStream:
    """File-like object for psycopg2 ``copy_expert`` whose subclasses produce COPY text by batches
    in ``_read``. psycopg2 turns an exception raised in ``read`` into QueryCanceled ("error in
    .read() call"): the original one is kept in ``error`` for the loader to re-raise."""

    error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        try:
            return self._read()
        except BaseException as error:
            self.error = error
            raise

    def _read(self) -> str:
        raise NotImplementedError


def dbapi_cursor(conn):
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    if not hasattr(cursor, "copy_expert"):
        raise RuntimeError(
            "Le chargement de TAXREF utilise COPY de psycopg2 ; pilote non pris en charge : "
            f"{type(dbapi_connection).__module__}"
        )
    return cursor
