"""The table that pycsw 2.6.2 serves as the SINP CSW catalogue.

CKAN writes it (this module, CKAN's virtualenv: SQLAlchemy 2.0 + psycopg2),
pycsw reads it through a read-only role (its own virtualenv, SQLAlchemy 1.4).
No ``import ckan`` here: the functions take an Engine or a Connection.

Column names come from ``pycsw_config/mappings.py``, the module pycsw itself
loads as ``[repository] mappings``, so that they are defined once. It is found
at ``<repo root>/pycsw_config/mappings.py`` (repo root = the directory that
holds ``ckanext-sinp/``), or at the path in the environment variable
``SINP_PYCSW_MAPPINGS`` (needed when this package is not installed in
editable mode from the repository).

Names pycsw 2.6.2 hard-codes, taken from the same file:
- ``wkb_geometry``: native PostGIS column used by BBOX filters. Here it is a
  generated column computed from ``wkt_geometry`` (the WKT column pycsw
  writes ``ows:BoundingBox`` from), so writers only fill ``wkt_geometry``.
- ``anytext_tsvector`` + an index named exactly ``fts_gin_idx``: pycsw turns
  full-text search on only if that index exists, then runs
  ``plainto_tsquery('french', ...) @@ anytext_tsvector`` ('french' follows
  ``[server] language=fr-FR``). Here the tsvector is a generated column
  ``to_tsvector('french', anytext)``, always in sync with ``anytext``.

Value formats pycsw expects (all columns are text, as in pycsw's own schema):
- ``wkt_geometry``: a WKT POLYGON in EPSG:4326, longitude first;
- ``date_modified``: ISO 8601 *date-time* (with a 'T'), it becomes the
  summary's gmd:dateStamp (a bare date is written as gco:Date and a second
  change on the same day is invisible to harvesters);
- ``links``: ``name,description,protocol,url`` items joined by ``^``;
- ``xml``: the complete ISO 19139 document (returned for elementSetName=full).

Wildcard searches (``pycsw_config/sinp_wildcards.py``): ``FOLDED_COLUMNS`` of the mappings are
generated columns ``FOLD_FUNCTION(<column>)`` (lower-cased, unaccented: ``lower(unaccent(...))``
through an IMMUTABLE SQL function, created here) with a trigram GIN index each
(``<table>_<column>_trgm_idx``, ``gin_trgm_ops``), so that ``LIKE '%chiropt%'`` does not read the
whole table.

``ensure_table`` needs PostGIS already installed in the database
(``CREATE EXTENSION postgis`` by a superuser); it creates the extensions ``pg_trgm`` and
``unaccent`` itself when missing (trusted extensions of PostgreSQL's contrib: the owner of the
database may create them). It also upgrades a table created by an older version: the folded
columns and their indexes are added (the table is rewritten once).
"""

import functools
import importlib.util
import os
import pathlib
import runpy

from sqlalchemy import Column, Computed, Index, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import UserDefinedType

from ckanext.sinp.domain import iso

MAPPINGS_ENV_VAR = "SINP_PYCSW_MAPPINGS"

# pycsw:* keys whose column pycsw's own schema declares NOT NULL
_REQUIRED_KEYS = (
    "pycsw:Identifier",
    "pycsw:Typename",
    "pycsw:Schema",
    "pycsw:MdSource",
    "pycsw:InsertDate",
    "pycsw:XML",
    "pycsw:AnyText",
)

# Server-side defaults (the records are ISO 19139, stored locally)
_SERVER_DEFAULTS = {
    "pycsw:Typename": "'gmd:MD_Metadata'",
    "pycsw:Schema": "'http://www.isotc211.org/2005/gmd'",
    "pycsw:MdSource": "'local'",
    "pycsw:InsertDate": ("to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"),
}

# B-tree indexes for paging, sorting and incremental (date) filters. Long
# free-text columns (title, abstract, keywords, links, xml) get none: a b-tree
# entry above ~2.7 kB makes the INSERT fail.
_BTREE_INDEXED_KEYS = ("pycsw:Modified", "pycsw:InsertDate", "pycsw:Type", "pycsw:Typename", "pycsw:ParentIdentifier")


def default_mappings_path():
    """``SINP_PYCSW_MAPPINGS``, else the installed package data ``ckanext.sinp_pycsw_config`` (the
    repository's ``pycsw_config/`` in an editable install), else <repo root>/pycsw_config/mappings.py."""
    override = os.environ.get(MAPPINGS_ENV_VAR)
    if override:
        return pathlib.Path(override)
    try:
        spec = importlib.util.find_spec("ckanext.sinp_pycsw_config")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return pathlib.Path(next(iter(spec.submodule_search_locations))) / "mappings.py"
    # .../<repo>/ckanext-sinp/ckanext/sinp/csw/repository.py
    repo_root = pathlib.Path(__file__).resolve().parents[4]
    return repo_root / "pycsw_config" / "mappings.py"


@functools.cache
def load_mappings(path=None):
    """Globals of pycsw's mappings module (a plain-data file), read by path."""
    path = pathlib.Path(path) if path else default_mappings_path()
    if not path.is_file():
        raise RuntimeError(
            "pycsw mappings not found at %s; set %s to the absolute path of "
            "pycsw_config/mappings.py" % (path, MAPPINGS_ENV_VAR)
        )
    data = runpy.run_path(str(path))
    for name in (
        "MD_CORE_MODEL",
        "TABLE_NAME",
        "GEOMETRY_COLUMN",
        "FTS_INDEX",
        "FTS_COLUMN",
        "FTS_CONFIG",
        "FOLD_FUNCTION",
        "FOLDED_COLUMNS",
        "CHANGES_TABLE",
    ):
        if name not in data:
            raise RuntimeError("%s defines no %s" % (path, name))
    return {k: v for k, v in data.items() if k.isupper()}


def column_names(path=None):
    """{pycsw:* key: column name}."""
    return dict(load_mappings(path)["MD_CORE_MODEL"]["mappings"])


class _PostGISGeometry(UserDefinedType):
    """``geometry(Geometry,4326)`` without geoalchemy2 (not in CKAN's venv)."""

    cache_ok = True

    def get_col_spec(self, **kw):
        return "geometry(Geometry,4326)"


@functools.cache
def get_table(path=None):
    """The SQLAlchemy Table (in its own MetaData, default schema)."""
    m = load_mappings(path)
    cols = m["MD_CORE_MODEL"]["mappings"]
    metadata = MetaData()

    columns = []
    for key, name in cols.items():
        kwargs = {}
        type_ = Text()
        if key == "pycsw:Identifier":
            kwargs["primary_key"] = True
            # byte order: the paging order (identifier is the tie-breaker of
            # every GetRecords) does not depend on the database's locale
            type_ = Text(collation="C")
        if key in _REQUIRED_KEYS:
            kwargs["nullable"] = False
        if key in _SERVER_DEFAULTS:
            kwargs["server_default"] = text(_SERVER_DEFAULTS[key])
        columns.append(Column(name, type_, **kwargs))

    wkt = cols["pycsw:BoundingBox"]
    anytext = cols["pycsw:AnyText"]
    columns.append(
        Column(m["GEOMETRY_COLUMN"], _PostGISGeometry(), Computed("ST_GeomFromText(%s, 4326)" % wkt, persisted=True))
    )
    columns.append(
        Column(
            m["FTS_COLUMN"],
            TSVECTOR(),
            Computed("to_tsvector('%s'::regconfig, %s)" % (m["FTS_CONFIG"], anytext), persisted=True),
        )
    )

    for key, folded in m["FOLDED_COLUMNS"].items():
        columns.append(Column(folded, Text(), Computed("%s(%s)" % (m["FOLD_FUNCTION"], cols[key]), persisted=True)))

    table = Table(m["TABLE_NAME"], metadata, *columns)

    Index(m["FTS_INDEX"], table.c[m["FTS_COLUMN"]], postgresql_using="gin")
    Index("%s_%s_idx" % (m["TABLE_NAME"], m["GEOMETRY_COLUMN"]), table.c[m["GEOMETRY_COLUMN"]], postgresql_using="gist")
    for key in _BTREE_INDEXED_KEYS:
        Index("%s_%s_idx" % (m["TABLE_NAME"], cols[key]), table.c[cols[key]])
    for folded in m["FOLDED_COLUMNS"].values():
        Index(
            "%s_%s_trgm_idx" % (m["TABLE_NAME"], folded),
            table.c[folded],
            postgresql_using="gin",
            postgresql_ops={folded: "gin_trgm_ops"},
        )
    return table


def generated_columns(path=None):
    """Names of the columns PostgreSQL computes (never written)."""
    m = load_mappings(path)
    return (m["GEOMETRY_COLUMN"], m["FTS_COLUMN"], *m["FOLDED_COLUMNS"].values())


# Extensions of PostgreSQL's contrib the folded columns need (both "trusted": the database owner
# may create them, no superuser needed)
_SEARCH_EXTENSIONS = ("pg_trgm", "unaccent")


def _ensure_search_extensions(conn):
    for name in _SEARCH_EXTENSIONS:
        if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = :n"), {"n": name}).scalar():
            continue
        try:
            with conn.begin_nested():
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS %s" % name))
        except Exception as err:  # no privilege, or contrib not installed
            raise RuntimeError(
                "L'extension PostgreSQL %s manque et ce rôle ne peut pas la créer (%s) : un "
                "superutilisateur doit exécuter CREATE EXTENSION %s dans cette base"
                % (name, str(err).splitlines()[0], name)
            ) from err


def _ensure_fold_function(conn, name):
    """``name(text)``: lower-cased, unaccented text, IMMUTABLE (needed by generated columns).

    unaccent() itself is only STABLE (its dictionary could change): the function names the
    dictionary explicitly, the usual way to index it. Created once; never replaced (the folded
    columns store its results)."""
    exists = conn.execute(
        text("SELECT 1 FROM pg_proc WHERE proname = :n AND pronamespace = current_schema()::regnamespace"),
        {"n": name},
    ).scalar()
    if exists:
        return
    schema = conn.execute(
        text("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'unaccent'")
    ).scalar()
    conn.execute(
        text(
            "CREATE FUNCTION %s(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
            "AS $$ SELECT lower(%s.unaccent('%s.unaccent'::regdictionary, $1)) $$" % (name, schema, schema)
        )
    )


# Rows of the changes table beyond which a writer folds them into one (its count stays small: pycsw
# reads the whole table on every unfiltered GetRecords)
CHANGES_COMPACT_ABOVE = 32


def _ensure_changes(conn, table_name, changes_name):
    """The changes table of ``table_name`` and its statement triggers (see ``CHANGES_TABLE`` in the
    mappings): sum(n) = rows of the table, in the writer's transaction.

    Created once, on a table that may already hold rows (an upgrade): the table is locked against
    writers (readers go on) while the triggers are created and the first row (its current count)
    written, so that no write falls between the count and the triggers. A writer folds the rows into
    one when there are more than ``CHANGES_COMPACT_ABOVE``, under a transaction-level advisory lock
    that it only tries (never waits: the other writers skip folding), deleting only rows committed
    before its statement: no writer ever waits for another one here."""
    quote = conn.dialect.identifier_preparer.quote
    table, changes = quote(table_name), quote(changes_name)
    installed = conn.execute(
        text("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(:t) AND tgname = :g"),
        {"t": table_name, "g": changes_name + "_insert"},
    ).scalar()
    if installed:
        return
    conn.execute(text("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE" % table))
    conn.execute(text("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, n bigint NOT NULL)" % changes))
    conn.execute(text("DELETE FROM %s" % changes))
    conn.execute(text("INSERT INTO %s (n) SELECT count(*) FROM %s" % (changes, table)))
    fold = (
        f"IF (SELECT count(*) FROM {changes}) > {CHANGES_COMPACT_ABOVE} "
        f"AND pg_try_advisory_xact_lock(hashtext('ckanext-sinp:' || '{changes_name}')) THEN "
        f"WITH gone AS (DELETE FROM {changes} RETURNING n) INSERT INTO {changes} (n) SELECT sum(n) FROM gone; "
        "END IF;"
    )
    for event, rows, sign in (("insert", "new_rows", ""), ("delete", "old_rows", "-")):
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "DECLARE k bigint; BEGIN SELECT count(*) INTO k FROM {rows}; "
                "IF k > 0 THEN INSERT INTO {c} (n) VALUES ({sign}k); {fold} END IF; RETURN NULL; END $$".format(
                    f=quote(changes_name + "_" + event), rows=rows, c=changes, sign=sign, fold=fold
                )
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER {g} AFTER {event} ON {t} REFERENCING {which} TABLE AS {rows} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {f}()".format(
                    g=quote(changes_name + "_" + event),
                    event=event.upper(),
                    t=table,
                    which="NEW" if event == "insert" else "OLD",
                    rows=rows,
                    f=quote(changes_name + "_" + event),
                )
            )
        )
    conn.execute(
        text(
            "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM {c}; RETURN NULL; END $$".format(f=quote(changes_name + "_truncate"), c=changes)
        )
    )
    conn.execute(
        text(
            "CREATE TRIGGER {g} AFTER TRUNCATE ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {f}()".format(
                g=quote(changes_name + "_truncate"), t=table, f=quote(changes_name + "_truncate")
            )
        )
    )


def ensure_table(engine, mappings_path=None):
    """Create the table and its indexes if missing (idempotent).

    Runs in one transaction under an advisory lock, so concurrent callers
    (several CKAN workers starting) do not race. Raises RuntimeError if
    PostGIS is not installed in the database, or if an existing table lacks
    a column pycsw needs.
    """
    table = get_table(mappings_path)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": "ckanext-sinp:" + table.name})
        has_postgis = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
        if not has_postgis:
            raise RuntimeError(
                "PostGIS is not installed in this database: a superuser must run CREATE EXTENSION postgis first"
            )
        _ensure_search_extensions(conn)
        m = load_mappings(mappings_path)
        _ensure_fold_function(conn, m["FOLD_FUNCTION"])
        table.create(conn, checkfirst=True)
        existing = set(
            conn.execute(
                text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = "
                    "to_regclass(:t) AND attnum > 0 AND NOT attisdropped"
                ),
                {"t": table.name},
            ).scalars()
        )
        # upgrade of a table created before the wildcard searches: add the folded columns
        quote = conn.dialect.identifier_preparer.quote
        cols = column_names(mappings_path)
        for key, folded in m["FOLDED_COLUMNS"].items():
            if folded not in existing and cols[key] in existing:
                conn.execute(
                    text(
                        "ALTER TABLE %s ADD COLUMN %s text GENERATED ALWAYS AS (%s(%s)) STORED"
                        % (quote(table.name), quote(folded), m["FOLD_FUNCTION"], quote(cols[key]))
                    )
                )
                existing.add(folded)
        missing = [c.name for c in table.columns if c.name not in existing]
        if missing:
            raise RuntimeError("table %s lacks columns: %s" % (table.name, ", ".join(missing)))
        for index in sorted(table.indexes, key=lambda i: i.name):
            index.create(conn, checkfirst=True)
        _ensure_changes(conn, table.name, m["CHANGES_TABLE"])
    return table


def grant_reader(engine, role_name, mappings_path=None):
    """GRANT the read-only role pycsw connects with what it needs.

    USAGE on the table's schema and SELECT on the table and its changes table
    (``CHANGES_TABLE`` of the mappings); nothing else (the
    PostGIS catalogue views pycsw reads are readable by PUBLIC). The role
    must exist.
    """
    table = get_table(mappings_path)
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        schema = conn.execute(text("SELECT current_schema()")).scalar()
        conn.execute(text("GRANT USAGE ON SCHEMA %s TO %s" % (quote(schema), quote(role_name))))
        for name in (table.name, load_mappings(mappings_path)["CHANGES_TABLE"]):
            conn.execute(text("GRANT SELECT ON TABLE %s.%s TO %s" % (quote(schema), quote(name), quote(role_name))))


def upsert_record(conn, row, mappings_path=None):
    """Insert or fully replace one record (keyed by identifier).

    ``row`` maps column names to values. Columns it omits are reset to their
    default (NULL for most) when the record already exists: a record is
    always written whole, except ``insert_date``, which keeps the first
    insertion date unless ``row`` gives one. The generated columns cannot be
    written.
    """
    table = get_table(mappings_path)
    generated = set(generated_columns(mappings_path))
    writable = [c.name for c in table.columns if c.name not in generated]
    unknown = set(row) - set(writable)
    if unknown:
        raise ValueError("not writable columns of %s: %s" % (table.name, ", ".join(sorted(unknown))))
    cols = column_names(mappings_path)
    for key in ("pycsw:Identifier", "pycsw:XML", "pycsw:AnyText"):
        if not row.get(cols[key]):
            raise ValueError("%s is required" % cols[key])

    identifier = cols["pycsw:Identifier"]
    keep = {identifier}
    if cols["pycsw:InsertDate"] not in row:
        keep.add(cols["pycsw:InsertDate"])  # first insertion date stays
    stmt = pg_insert(table).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[identifier]], set_={name: stmt.excluded[name] for name in writable if name not in keep}
    )
    conn.execute(stmt)


def delete_record(conn, identifier, mappings_path=None):
    """Delete one record; return the number of rows deleted (0 or 1)."""
    table = get_table(mappings_path)
    id_col = table.c[column_names(mappings_path)["pycsw:Identifier"]]
    return conn.execute(table.delete().where(id_col == identifier)).rowcount


def csw_row(kind: str, record: dict, ctx: iso.IsoContext, xml: bytes, mappings_path=None) -> dict:
    """The row of the pycsw table for this record (``iso.csw_values``), keyed by column name.

    Column names come from pycsw_config/mappings.py (``column_names``). Every writable column is
    present (None where pycsw would store nothing) except ``insert_date``, which ``upsert_record``
    keeps from the first insertion."""
    return row_of(iso.csw_values(kind, record, ctx, xml), mappings_path)


def row_of(values: dict, mappings_path=None) -> dict:
    """A row of the pycsw table, keyed by column name, from ``{pycsw:* key: value}`` (a CA/JDD's
    ``iso.csw_values`` or a service's ``iso_service.csw_values``)."""
    columns = column_names(mappings_path)
    row = {name: None for key, name in columns.items() if key != "pycsw:InsertDate"}
    for key, value in values.items():
        row[columns[key]] = value
    return row
