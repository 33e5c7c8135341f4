"""TAXREF in PostgreSQL: tables, loader, search, hierarchy.

SQLAlchemy 2.0 Core + psycopg2 (CKAN's driver). No ``import ckan``: every
function takes an Engine or a Connection.

Tables (in the connection's default schema):

- ``sinp_taxref``: one row per TAXREF name (``cd_nom`` primary key), every
  column of the v18 file (v17 files leave ``cd_ba``, ``nomenclatural_comment``
  and ``url_inpn`` empty) plus two search columns computed in Python by
  ``taxref.search_keys`` — ``nom_norm`` (LB_NOM) and ``vern_norm`` (the French
  names joined by ``;``), lower-case without accents, ligatures or punctuation
  — and ``search_tsv``, a generated ``tsvector`` ('simple' configuration, no
  stemming, no stop words) over both. Indexes: ``cd_ref``, ``cd_sup``, GIN on
  ``search_tsv`` (prefix search on any word: ``to_tsquery('simple', 'rhino:*')``
  uses it; core PostgreSQL, no ``unaccent`` nor ``pg_trgm`` needed), b-tree
  ``text_pattern_ops`` on ``nom_norm`` (``LIKE 'abc%'`` on the whole name).
- ``sinp_referential_version``: one row per loaded referential (``name`` =
  ``'taxref'``): version label, load time, row count, SHA-256 of the file.

Loading (``load_taxref``) is one transaction: the file is streamed with COPY
into ``sinp_taxref_staging``, indexed, checked, then swapped with
``sinp_taxref`` (DROP + RENAME) and the version row written. Any error (bad
line, duplicate CD_NOM, database error, interruption) rolls everything back:
the previous referential stays, untouched and searchable during the load (the
swap takes an exclusive lock only for the final DROP/RENAME). Because of the
swap, do **not** declare foreign keys or views on ``sinp_taxref`` (a reload
would have to drop them); reference ``cd_nom`` values without a constraint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import operator
import os
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Column, Computed, DateTime, Index, Integer, MetaData, SmallInteger, Table, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert

from .taxref import RECORD_FIELDS, TaxrefFormatError, TaxrefReader, normalize, search_keys

__all__ = [
    "TAXREF_TABLE",
    "VERSION_TABLE",
    "metadata",
    "LoadResult",
    "ensure_tables",
    "load_taxref",
    "get_referential_version",
    "search_taxa",
    "get_taxon",
    "descendants",
    "ancestors",
    "file_sha256",
]

TAXREF_TABLE_NAME = "sinp_taxref"
STAGING_TABLE_NAME = "sinp_taxref_staging"
VERSION_TABLE_NAME = "sinp_referential_version"
REFERENTIAL_NAME = "taxref"

# Serialises concurrent loads (pg_advisory_xact_lock key: "sinptaxr" as an integer)
_LOCK_KEY = int.from_bytes(b"sinptaxr", "big") & 0x7FFFFFFFFFFFFFFF

_INT_COLUMNS = {"cd_nom", "cd_ref", "cd_sup", "cd_taxsup", "cd_ba"}
_NOT_NULL_COLUMNS = {"cd_nom", "cd_ref", "rang", "lb_nom"}
SEARCH_TSV_EXPRESSION = "to_tsvector('simple'::regconfig, nom_norm || ' ' || vern_norm)"

# Index name -> (SQL definition without name/table, SQLAlchemy builder for the live table)
_INDEXES = {
    "ix_sinp_taxref_cd_ref": "(cd_ref)",
    "ix_sinp_taxref_cd_sup": "(cd_sup)",
    "ix_sinp_taxref_nom_norm": "(nom_norm text_pattern_ops)",
    "ix_sinp_taxref_search_tsv": "USING gin (search_tsv)",
}

metadata = MetaData()


def _taxref_columns(primary_key: bool = True):
    """Columns of sinp_taxref; the staging table gets its primary key after the COPY."""
    columns = []
    for name in RECORD_FIELDS:
        if name in _INT_COLUMNS:
            type_ = Integer
        elif name == "habitat":
            type_ = SmallInteger
        else:
            type_ = Text
        columns.append(
            Column(
                name,
                type_,
                primary_key=primary_key and name == "cd_nom",
                autoincrement=False,
                nullable=name not in _NOT_NULL_COLUMNS,
            )
        )
    columns += [
        Column("nom_norm", Text, nullable=False),
        Column("vern_norm", Text, nullable=False, server_default=""),
        Column("search_tsv", TSVECTOR, Computed(SEARCH_TSV_EXPRESSION, persisted=True)),
    ]
    return columns


TAXREF_TABLE = Table(
    TAXREF_TABLE_NAME,
    metadata,
    *_taxref_columns(),
    Index("ix_sinp_taxref_cd_ref", "cd_ref"),
    Index("ix_sinp_taxref_cd_sup", "cd_sup"),
    Index("ix_sinp_taxref_nom_norm", "nom_norm", postgresql_ops={"nom_norm": "text_pattern_ops"}),
    Index("ix_sinp_taxref_search_tsv", "search_tsv", postgresql_using="gin"),
    comment="TAXREF (MNHN/PatriNat), chargé par ckanext-sinp ; remplacé en bloc à chaque chargement",
)

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

# Columns written by COPY (search_tsv is generated by PostgreSQL)
_COPY_COLUMNS = RECORD_FIELDS + ("nom_norm", "vern_norm")
_record_values = operator.attrgetter(*RECORD_FIELDS)

# Columns returned by search_taxa
SEARCH_RESULT_COLUMNS = (
    "cd_nom",
    "cd_ref",
    "cd_sup",
    "rang",
    "lb_nom",
    "lb_auteur",
    "nom_complet",
    "nom_valide",
    "nom_vern",
    "regne",
    "classe",
    "ordre",
    "famille",
    "group1_inpn",
    "group2_inpn",
    "group3_inpn",
    "fr",
)

# Main ranks first (taxonomic order), then every other rank
_RANK_ORDER = ("KD", "PH", "CL", "OR", "FM", "GN", "ES", "SSES", "VAR", "FO")
_RANK_SQL = (
    "CASE rang " + " ".join(f"WHEN '{r}' THEN {i}" for i, r in enumerate(_RANK_ORDER)) + f" ELSE {len(_RANK_ORDER)} END"
)


@dataclasses.dataclass
class LoadResult:
    """What ``load_taxref`` did. ``loaded`` is False when the same file was already loaded."""

    loaded: bool
    version: str
    row_count: int
    sha256: str
    source_format: str | None = None
    seconds: float = 0.0
    missing_cd_ref: int = 0  # names whose CD_REF is not a CD_NOM of the file
    missing_cd_sup: int = 0  # names whose CD_SUP is not a CD_NOM of the file


def ensure_tables(bind) -> None:
    """Create ``sinp_taxref`` and ``sinp_referential_version`` if missing (idempotent)."""
    metadata.create_all(bind, tables=[TAXREF_TABLE, VERSION_TABLE], checkfirst=True)


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def get_referential_version(conn, name: str = REFERENTIAL_NAME) -> dict | None:
    """The ``sinp_referential_version`` row of a referential, or None (also if the table is missing)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE_NAME):
        return None
    row = conn.execute(sa.select(VERSION_TABLE).where(VERSION_TABLE.c.name == name)).mappings().first()
    return dict(row) if row else None


# -- loading -------------------------------------------------------------------
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


class _CopySource(CopyStream):
    """Parses and formats TAXREF records on demand."""

    BATCH = 2000
    PROGRESS_EVERY = 10000

    def __init__(self, reader: TaxrefReader, progress: Callable[[int], None] | None):
        self._records = iter(reader)
        self._progress = progress
        self._seen = set()
        self.rows = 0
        self.reported = 0
        self.error: BaseException | None = None
        self._next_progress = self.PROGRESS_EVERY

    def _read(self) -> str:
        lines = []
        for record in itertools.islice(self._records, self.BATCH):
            if record.cd_nom in self._seen:
                raise TaxrefFormatError(
                    f"CD_NOM {record.cd_nom} en double (déjà présent plus haut dans le fichier).",
                    record.line_number,
                    "CD_NOM",
                )
            self._seen.add(record.cd_nom)
            lines.append(copy_line(_record_values(record) + search_keys(record)))
        self.rows += len(lines)
        if self._progress is not None and self.rows >= self._next_progress:
            self.reported = self.rows
            self._progress(self.rows)
            self._next_progress = (self.rows // self.PROGRESS_EVERY + 1) * self.PROGRESS_EVERY
        return "".join(lines)


def dbapi_cursor(conn):
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    if not hasattr(cursor, "copy_expert"):
        raise RuntimeError(
            "Le chargement de TAXREF utilise COPY de psycopg2 ; pilote non pris en charge : "
            f"{type(dbapi_connection).__module__}"
        )
    return cursor


def _staging_table() -> Table:
    return Table(STAGING_TABLE_NAME, MetaData(), *_taxref_columns(primary_key=False), comment=TAXREF_TABLE.comment)


def load_taxref(
    engine,
    path,
    version_label: str,
    progress: Callable[[int], None] | None = None,
    *,
    force: bool = False,
    encoding: str = "utf-8",
) -> LoadResult:
    """Load a TAXREF file (``.txt`` or the official ``.zip``) as the referential, in one transaction.

    - The same file (same SHA-256) already loaded: nothing changes, ``loaded=False``
      (unless ``force``); only a different ``version_label`` is recorded.
    - Otherwise the new referential replaces the old one atomically; on any error
      (``TaxrefFormatError`` with the line number for a bad line or a duplicate
      CD_NOM) the old referential stays as it was.
    - ``progress(rows_done)`` is called every 10 000 rows and at the end of the
      COPY (index building and checks follow, ~30 % of the time).
    """
    started = time.monotonic()
    if not os.path.isfile(path):
        raise TaxrefFormatError(f"Fichier TAXREF introuvable : {os.fspath(path)}")
    digest = file_sha256(path)
    source_file = os.path.basename(os.fspath(path))
    ensure_tables(engine)
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            current = get_referential_version(conn)
            if current and current["sha256"] == digest and not force:
                actual = conn.execute(text(f"SELECT count(*) FROM {TAXREF_TABLE_NAME}")).scalar_one()
                if actual == current["row_count"]:
                    if current["version"] != version_label:
                        conn.execute(
                            VERSION_TABLE.update()
                            .where(VERSION_TABLE.c.name == REFERENTIAL_NAME)
                            .values(version=version_label)
                        )
                    return LoadResult(
                        False, version_label, actual, digest, current["source_format"], time.monotonic() - started
                    )

            conn.execute(text(f"DROP TABLE IF EXISTS {STAGING_TABLE_NAME}"))
            _staging_table().create(conn)
            with TaxrefReader(path, encoding=encoding) as reader:
                source = _CopySource(reader, progress)
                cursor = dbapi_cursor(conn)
                try:
                    cursor.copy_expert(
                        f"COPY {STAGING_TABLE_NAME} ({', '.join(_COPY_COLUMNS)}) FROM STDIN", source, size=1 << 16
                    )
                except BaseException:
                    if source.error is not None:
                        raise source.error from None
                    raise
                finally:
                    cursor.close()
                source_format = (
                    f"TAXREF v{reader.format_version}" if reader.format_version else "TAXREF (colonnes non standard)"
                )
            if progress is not None and source.reported != source.rows:
                progress(source.rows)
            if source.rows == 0:
                raise TaxrefFormatError("Le fichier TAXREF ne contient aucune ligne de données.")

            conn.execute(
                text(f"ALTER TABLE {STAGING_TABLE_NAME} ADD CONSTRAINT {STAGING_TABLE_NAME}_pkey PRIMARY KEY (cd_nom)")
            )
            for name, definition in _INDEXES.items():
                conn.execute(text(f"CREATE INDEX {name}_staging ON {STAGING_TABLE_NAME} {definition}"))
            missing_ref, missing_sup = conn.execute(
                text(f"""
                SELECT count(*) FILTER (WHERE r.cd_nom IS NULL),
                       count(*) FILTER (WHERE t.cd_sup IS NOT NULL AND s.cd_nom IS NULL)
                FROM {STAGING_TABLE_NAME} t
                LEFT JOIN {STAGING_TABLE_NAME} r ON r.cd_nom = t.cd_ref
                LEFT JOIN {STAGING_TABLE_NAME} s ON s.cd_nom = t.cd_sup""")
            ).one()
            conn.execute(text(f"ANALYZE {STAGING_TABLE_NAME}"))

            # Swap: the only statements that lock the live table. Searches last
            # milliseconds; a session holding the table longer makes the load fail
            # (and roll back) rather than queue every search behind the DROP.
            conn.execute(text("SET LOCAL lock_timeout = '60s'"))
            conn.execute(text(f"DROP TABLE IF EXISTS {TAXREF_TABLE_NAME}"))
            conn.execute(text(f"ALTER TABLE {STAGING_TABLE_NAME} RENAME TO {TAXREF_TABLE_NAME}"))
            conn.execute(
                text(
                    f"ALTER TABLE {TAXREF_TABLE_NAME} RENAME CONSTRAINT"
                    f" {STAGING_TABLE_NAME}_pkey TO {TAXREF_TABLE_NAME}_pkey"
                )
            )
            for name in _INDEXES:
                conn.execute(text(f"ALTER INDEX {name}_staging RENAME TO {name}"))

            values = dict(
                version=version_label,
                row_count=source.rows,
                sha256=digest,
                source_file=source_file,
                source_format=source_format,
                loaded_at=sa.func.now(),
            )
            conn.execute(
                pg_insert(VERSION_TABLE)
                .values(name=REFERENTIAL_NAME, **values)
                .on_conflict_do_update(index_elements=["name"], set_=values)
            )
    return LoadResult(
        True, version_label, source.rows, digest, source_format, time.monotonic() - started, missing_ref, missing_sup
    )


# -- reading -------------------------------------------------------------------
def _row_dict(row) -> dict:
    result = dict(row)
    result["is_valid"] = result["cd_nom"] == result["cd_ref"]
    return result


def get_taxon(conn, cd_nom: int) -> dict | None:
    """Every TAXREF column of a name (plus ``is_valid``), or None."""
    columns = ", ".join(RECORD_FIELDS)
    row = (
        conn.execute(text(f"SELECT {columns} FROM {TAXREF_TABLE_NAME} WHERE cd_nom = :cd_nom"), {"cd_nom": int(cd_nom)})
        .mappings()
        .first()
    )
    return _row_dict(row) if row else None


def search_taxa(conn, q: str, limit: int = 20, *, valid_only: bool = False, regne: str | None = None) -> list:
    """Names matching ``q``, best first, as dicts (``SEARCH_RESULT_COLUMNS`` + ``is_valid``).

    - ``q`` made of digits: the name with that CD_NOM (0 or 1 result);
    - otherwise every word of ``q`` must be the beginning of a word of the
      scientific name (LB_NOM) or of a French name, ignoring case, accents and
      punctuation ("grand rhino", "Pie-grièche", "pie grieche", "myot"). Fewer
      than 2 letters: no result.

    Order: valid names before synonyms; then exact name, then names starting
    with ``q``, then word matches; then names present in metropolitan France
    (FR status, not A/Q); then rank (kingdom → species → subspecies); then
    shorter names, alphabetically.
    """
    q = (q or "").strip()
    if not q:
        return []
    limit = max(1, min(int(limit), 100))
    columns = ", ".join(SEARCH_RESULT_COLUMNS)
    if q.lstrip("-").isdigit():
        if abs(int(q)) > 2**31 - 1:
            return []
        rows = (
            conn.execute(text(f"SELECT {columns} FROM {TAXREF_TABLE_NAME} WHERE cd_nom = :cd"), {"cd": int(q)})
            .mappings()
            .all()
        )
        return [_row_dict(r) for r in rows]
    norm = normalize(q)
    words = norm.split()
    if len(norm.replace(" ", "")) < 2:
        return []
    filters = ""
    params = {
        "tsq": " & ".join(f"{w}:*" for w in words),
        "q": norm,
        "exact": f"%;{norm};%",
        "prefix": f"{norm}%",
        "vprefix": f"%;{norm}%",
        "limit": limit,
    }
    if valid_only:
        filters += " AND cd_nom = cd_ref"
    if regne:
        filters += " AND regne = :regne"
        params["regne"] = regne
    # Rank the narrow index hits first, then fetch the wide rows of the best ones only
    # (twice as fast for 2-letter queries matching ~20 000 names).
    sql = f"""
        WITH hits AS (
            SELECT cd_nom,
                   (cd_nom = cd_ref) AS k_valid,
                   CASE WHEN nom_norm = :q OR (';' || vern_norm || ';') LIKE :exact THEN 0
                        WHEN nom_norm LIKE :prefix OR (';' || vern_norm) LIKE :vprefix THEN 1
                        ELSE 2 END AS k_match,
                   (fr IS NOT NULL AND fr NOT IN ('A', 'Q')) AS k_metropole,
                   {_RANK_SQL} AS k_rank,
                   length(lb_nom) AS k_length, lb_nom AS k_name
            FROM {TAXREF_TABLE_NAME}
            WHERE search_tsv @@ to_tsquery('simple'::regconfig, :tsq){filters}
            ORDER BY k_valid DESC, k_match, k_metropole DESC, k_rank, k_length, k_name, cd_nom
            LIMIT :limit)
        SELECT {", ".join("t." + c for c in SEARCH_RESULT_COLUMNS)}
        FROM hits JOIN {TAXREF_TABLE_NAME} t USING (cd_nom)
        ORDER BY k_valid DESC, k_match, k_metropole DESC, k_rank, k_length, k_name, cd_nom"""
    return [_row_dict(r) for r in conn.execute(text(sql), params).mappings()]


_HIERARCHY_COLUMNS = "n.cd_nom, n.cd_ref, n.cd_sup, n.rang, n.lb_nom, n.nom_complet, n.nom_vern"
_MAX_DEPTH = 100  # guards against a cycle in CD_SUP


def descendants(conn, cd_ref: int, *, include_synonyms: bool = True, include_self: bool = False) -> list:
    """Every name below a taxon in the CD_SUP tree, as dicts with ``depth`` (1 = direct child).

    ``cd_ref`` may be any CD_NOM of the taxon (a synonym is resolved to its valid
    name). The tree is walked through valid names; with ``include_synonyms``
    the synonyms of every descendant (rows sharing its CD_REF) are returned too.
    Ordered by depth then name. Empty list for an unknown code.
    """
    synonyms = "" if include_synonyms else " AND n.cd_nom = n.cd_ref"
    min_depth = 0 if include_self else 1
    sql = f"""
        WITH RECURSIVE tree(cd_ref, depth) AS (
            SELECT cd_ref, 0 FROM {TAXREF_TABLE_NAME} WHERE cd_nom = :cd
            UNION
            SELECT c.cd_nom, t.depth + 1
            FROM tree t JOIN {TAXREF_TABLE_NAME} c ON c.cd_sup = t.cd_ref AND c.cd_nom = c.cd_ref
            WHERE t.depth < {_MAX_DEPTH}
        ), taxa AS (SELECT cd_ref, min(depth) AS depth FROM tree GROUP BY cd_ref)
        SELECT {_HIERARCHY_COLUMNS}, taxa.depth
        FROM taxa JOIN {TAXREF_TABLE_NAME} n ON n.cd_ref = taxa.cd_ref{synonyms}
        WHERE taxa.depth >= {min_depth}
        ORDER BY taxa.depth, n.lb_nom, n.cd_nom"""
    return [_row_dict(r) for r in conn.execute(text(sql), {"cd": int(cd_ref)}).mappings()]


def ancestors(conn, cd_nom: int) -> list:
    """The valid taxa above a name (direct parent first, root last), as dicts with ``depth``."""
    sql = f"""
        WITH RECURSIVE up(cd_nom, cd_sup, depth) AS (
            SELECT v.cd_nom, v.cd_sup, 0
            FROM {TAXREF_TABLE_NAME} s JOIN {TAXREF_TABLE_NAME} v ON v.cd_nom = s.cd_ref
            WHERE s.cd_nom = :cd
            UNION ALL
            SELECT p.cd_nom, p.cd_sup, up.depth + 1
            FROM up JOIN {TAXREF_TABLE_NAME} p ON p.cd_nom = up.cd_sup
            WHERE up.depth < {_MAX_DEPTH}
        )
        SELECT {_HIERARCHY_COLUMNS}, up.depth
        FROM up JOIN {TAXREF_TABLE_NAME} n ON n.cd_nom = up.cd_nom
        WHERE up.depth > 0
        ORDER BY up.depth"""
    return [_row_dict(r) for r in conn.execute(text(sql), {"cd": int(cd_nom)}).mappings()]
