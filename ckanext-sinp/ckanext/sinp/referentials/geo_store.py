"""HABREF, communes, départements, 10 km grid and territory in PostgreSQL/PostGIS; QC export.

SQLAlchemy 2.0 Core + psycopg2, no ``import ckan``: every function takes an
Engine (the CLI passes ``ckan.model.meta.engine``).

Tables (connection's default schema; no foreign key nor view may depend on them,
a load replaces them whole):

- ``sinp_habref``: one row per habitat (``cd_hab`` key), the 14 HABREF columns plus
  ``typo_acronyme`` (acronym of the occurrence standard for ``cd_typo``: TYPOREF
  when loaded with it, else the table ``habref.TYPOLOGIES``);
- ``sinp_commune`` (``code`` INSEE key, ``nom``, ``departement``, ``region``);
- ``sinp_departement`` (``code`` key, ``nom``, ``region``, ``chef_lieu``);
- ``sinp_maille10`` (``cd_sig`` key, ``code_10km`` unique, ``geom_2154`` and
  ``geom_4326`` polygons, NULL when the file has no WKT) — needs PostGIS;
- ``sinp_territoire`` (one row: ``id`` 1, ``nom``, ``geom`` MultiPolygon in EPSG:4326)
  — needs PostGIS;
- ``sinp_commune_contour`` (``code``, ``nom``, ``departement``, ``region``) and
  ``sinp_departement_contour`` (``code``, ``nom``, ``region``): IGN ADMIN EXPRESS outlines, ``geom_2154``
  (MultiPolygon made valid by ST_MakeValid) and ``geom_4326`` (simplified by ``WEB_TOLERANCE_M``) —
  needs PostGIS; created by their first load (no table until then: the map draws no outline);
- ``sinp_referential_version`` (shared with TAXREF, see ``store.py``): one row per
  referential (``habref``, ``communes``, ``departements``, ``mailles``,
  ``territoire``, ``contours_communes``, ``contours_departements``) with the version label, load time, row count, SHA-256 of the
  file, file name and how it was read.

Loading works like ``store.load_taxref``: the file is read and checked entirely
first (French errors with file, line, column), then, in **one transaction**
serialised by an advisory lock, streamed with COPY into ``<table>_staging``,
indexed, swapped with the live table (DROP + RENAME) and the version row written.
Any error rolls everything back: the previous content stays, readable during the
load. Loading the same file again with the same options changes nothing
(``loaded=False``); ``force=True`` reloads it (same content).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import itertools
import os
import pathlib
import re
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ckanext.sinp.occurrences import map_store

from . import admin_express, geo, habref
from .common import (
    VERSION_TABLE,
    CopyStream,
    copy_line,
    dbapi_cursor,
    ensure_version_table,
    file_sha256,
    get_referential_version,
)
from .tabular import separator_label
from .taxref import iter_taxref

__all__ = [
    "TableSpec",
    "HABREF_SPEC",
    "COMMUNE_SPEC",
    "DEPARTEMENT_SPEC",
    "MAILLE_SPEC",
    "TERRITORY_SPEC",
    "SPECS",
    "REFERENTIAL_NAMES",
    "SHIPPED_FILES",
    "GeoStoreError",
    "ReferentialLoadResult",
    "ensure_tables",
    "has_postgis",
    "load_habref",
    "load_communes",
    "load_departements",
    "load_mailles",
    "load_territory",
    "load_contours",
    "CONTOUR_SPECS",
    "WEB_TOLERANCE_M",
    "LOADERS",
    "default_version_label",
    "qc_referentials",
    "referentials_from_files",
]

Progress = Callable[[int], None]


class GeoStoreError(RuntimeError):
    """The database cannot hold a referential (PostGIS missing…); French message."""


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A referential table: version name, columns (SQL types), key, indexes (name, definition, unique)."""

    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    primary_key: str
    indexes: tuple[tuple[str, str, bool], ...] = ()
    geometry: bool = False
    comment: str = ""

    @property
    def staging(self) -> str:
        return f"{self.table}_staging"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


HABREF_SPEC = TableSpec(
    "habref",
    "sinp_habref",
    (
        ("cd_hab", "integer NOT NULL"),
        ("fg_validite", "text NOT NULL"),
        ("cd_typo", "integer NOT NULL"),
        ("lb_code", "text"),
        ("lb_hab_fr", "text"),
        ("lb_hab_fr_complet", "text"),
        ("lb_hab_en", "text"),
        ("lb_auteur", "text"),
        ("niveau", "integer"),
        ("lb_niveau", "text"),
        ("cd_hab_sup", "integer"),
        ("path_cd_hab", "text"),
        ("france", "text"),
        ("lb_description", "text"),
        ("typo_acronyme", "text"),
    ),
    "cd_hab",
    (
        ("ix_sinp_habref_typo_code", "(cd_typo, lb_code)", False),
        ("ix_sinp_habref_acronyme_code", "(typo_acronyme, lb_code)", False),
        ("ix_sinp_habref_cd_hab_sup", "(cd_hab_sup)", False),
    ),
    comment="HABREF (PatriNat), chargé par ckanext-sinp ; remplacé en bloc à chaque chargement",
)
COMMUNE_SPEC = TableSpec(
    "communes",
    "sinp_commune",
    (("code", "text NOT NULL"), ("nom", "text NOT NULL"), ("departement", "text NOT NULL"), ("region", "text")),
    "code",
    (("ix_sinp_commune_departement", "(departement)", False),),
    comment="Communes (code officiel géographique de l'INSEE), chargées par ckanext-sinp",
)
DEPARTEMENT_SPEC = TableSpec(
    "departements",
    "sinp_departement",
    (("code", "text NOT NULL"), ("nom", "text NOT NULL"), ("region", "text"), ("chef_lieu", "text")),
    "code",
    comment="Départements (code officiel géographique de l'INSEE), chargés par ckanext-sinp",
)
MAILLE_SPEC = TableSpec(
    "mailles",
    "sinp_maille10",
    (
        ("cd_sig", "text NOT NULL"),
        ("code_10km", "text NOT NULL"),
        ("geom_2154", "geometry(Polygon, 2154)"),
        ("geom_4326", "geometry(Polygon, 4326)"),
    ),
    "cd_sig",
    (
        ("ux_sinp_maille10_code_10km", "(code_10km)", True),
        ("ix_sinp_maille10_geom_2154", "USING gist (geom_2154)", False),
        ("ix_sinp_maille10_geom_4326", "USING gist (geom_4326)", False),
    ),
    geometry=True,
    comment="Mailles 10 km Lambert-93 (INPN), chargées par ckanext-sinp",
)
TERRITORY_SPEC = TableSpec(
    "territoire",
    "sinp_territoire",
    (("id", "smallint NOT NULL"), ("nom", "text"), ("geom", "geometry(MultiPolygon, 4326) NOT NULL")),
    "id",
    (("ix_sinp_territoire_geom", "USING gist (geom)", False),),
    geometry=True,
    comment="Contour du territoire de la plateforme (WGS 84), chargé par ckanext-sinp",
)

# The outlines of IGN ADMIN EXPRESS (``admin_express.py``): the map's commune and département cells
# (``occurrences/map_store``: roll-ups and flux layers copy them at refresh, no view depends on them).
# ``geom_2154`` as read, made valid by ST_MakeValid; ``geom_4326`` simplified for the web.


def _contour_spec(kind: str, table: str, columns: tuple[tuple[str, str], ...], what: str) -> TableSpec:
    return TableSpec(
        f"contours_{kind}",
        table,
        (
            *columns,
            ("geom_2154", "geometry(MultiPolygon, 2154) NOT NULL"),
            ("geom_4326", "geometry(MultiPolygon, 4326)"),
        ),
        "code",
        tuple((f"ix_{table}_geom_{srid}", f"USING gist (geom_{srid})", False) for srid in (2154, 4326)),
        geometry=True,
        comment=f"Contours des {what} (IGN ADMIN EXPRESS), chargés par ckanext-sinp",
    )


CONTOUR_COMMUNE_SPEC = _contour_spec(
    "communes",
    "sinp_commune_contour",
    (("code", "text NOT NULL"), ("nom", "text NOT NULL"), ("departement", "text NOT NULL"), ("region", "text")),
    "communes",
)
CONTOUR_DEPARTEMENT_SPEC = _contour_spec(
    "departements",
    "sinp_departement_contour",
    (("code", "text NOT NULL"), ("nom", "text NOT NULL"), ("region", "text")),
    "départements",
)
CONTOUR_SPECS = {"communes": CONTOUR_COMMUNE_SPEC, "departements": CONTOUR_DEPARTEMENT_SPEC}
# the web outline's simplification (ST_SimplifyPreserveTopology, metres of Lambert-93, before ST_Transform
# to EPSG:4326): below a pixel up to zoom 10 (~100 m a pixel at 47° N), a pixel at 11. The map of the
# region's ~3 700 communes is sent whole to the browser, so its outlines must stay light; each outline is
# simplified alone (neighbours may part by up to the tolerance at closer zooms).
WEB_TOLERANCE_M = 50

SPECS = (HABREF_SPEC, COMMUNE_SPEC, DEPARTEMENT_SPEC, MAILLE_SPEC, TERRITORY_SPEC)
# Every referential the occurrence QC uses, TAXREF included (names of sinp_referential_version)
REFERENTIAL_NAMES = ("taxref",) + tuple(spec.name for spec in SPECS)

# Files shipped in schemas/referentiels/ (paths relative to that folder): extracts, and the whole
# commune list of the COG generated by communes/generate.py
SHIPPED_FILES = {
    "taxref": "taxref/TAXREFv18_extrait_BFC.txt",
    "habref": "habref/HABREF_50_extrait.csv",
    "communes": "communes/communes_france.csv",
    "departements": "departements/departements_bfc.csv",
    "mailles": "mailles/mailles10km_bfc.csv",
    "territoire": "territoire/bourgogne-franche-comte.geojson",
}


@dataclasses.dataclass
class ReferentialLoadResult:
    """What a loader did. ``loaded`` is False when the same file was already loaded."""

    name: str
    loaded: bool
    version: str
    row_count: int
    sha256: str
    source_format: str
    seconds: float = 0.0
    skipped: int = 0  # rows of the file not kept (other region, not a commune…)


# -- tables ------------------------------------------------------------------------
def _create_table_sql(spec: TableSpec, name: str, *, if_not_exists: bool = False, primary_key: bool = True) -> str:
    columns = [f"{column} {sql_type}" for column, sql_type in spec.columns]
    if primary_key:
        columns.append(f"CONSTRAINT {name}_pkey PRIMARY KEY ({spec.primary_key})")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {exists}{name} ({', '.join(columns)})"


def _create_index_sql(spec: TableSpec, index: tuple[str, str, bool], *, staging: bool = False) -> str:
    name, definition, unique = index
    table = spec.staging if staging else spec.table
    exists = "" if staging else "IF NOT EXISTS "
    return (
        f"CREATE {'UNIQUE ' if unique else ''}INDEX {exists}{name}{'_staging' if staging else ''}"
        f" ON {table} {definition}"
    )


def has_postgis(conn) -> bool:
    """True when the PostGIS extension is installed in the connection's database."""
    return conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is not None


def _require_postgis(conn, spec: TableSpec) -> None:
    if spec.geometry and not has_postgis(conn):
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        raise GeoStoreError(
            f"L'extension PostGIS n'est pas installée dans la base « {database} » : un superutilisateur doit"
            f" exécuter « CREATE EXTENSION postgis; » avant de créer la table {spec.table}."
        )


def _in_transaction(bind, work: Callable) -> None:
    if isinstance(bind, sa.engine.Engine):
        with bind.begin() as conn:
            work(conn)
    else:
        work(bind)


def ensure_tables(bind, *, geometry: bool = True) -> None:
    """Create the referential tables that are missing (idempotent), empty.

    ``geometry=False`` skips ``sinp_maille10`` and ``sinp_territoire`` (PostGIS);
    with ``geometry=True`` a database without PostGIS raises :class:`GeoStoreError`
    before creating any of them.
    """
    ensure_version_table(bind)
    specs = [spec for spec in SPECS if geometry or not spec.geometry]

    def create(conn) -> None:
        for spec in specs:
            _require_postgis(conn, spec)
        existing = set(sa.inspect(conn).get_table_names())
        for spec in specs:
            if spec.table in existing:
                continue  # no DDL (nor lock) on a live table
            conn.execute(text(_create_table_sql(spec, spec.table, if_not_exists=True)))
            for index in spec.indexes:
                conn.execute(text(_create_index_sql(spec, index)))
            conn.execute(text(f"COMMENT ON TABLE {spec.table} IS :comment").bindparams(comment=spec.comment))

    _in_transaction(bind, create)


# -- loading -----------------------------------------------------------------------
def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"sinp-referential:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF


class _RowSource(CopyStream):
    """Formats rows on demand for COPY, reports progress."""

    BATCH = 1000

    def __init__(self, rows: Iterable[tuple], progress: Progress | None):
        self._rows = iter(rows)
        self._progress = progress
        self.rows = 0
        self.reported = 0

    def _read(self) -> str:
        lines = [copy_line(row) for row in itertools.islice(self._rows, self.BATCH)]
        self.rows += len(lines)
        if lines and self._progress is not None:
            self.reported = self.rows
            self._progress(self.rows)
        return "".join(lines)


def _copy_rows(conn, spec: TableSpec, rows: Sequence[tuple], progress: Progress | None) -> int:
    source = _RowSource(rows, progress)
    cursor = dbapi_cursor(conn)
    try:
        cursor.copy_expert(f"COPY {spec.staging} ({', '.join(spec.column_names)}) FROM STDIN", source, size=1 << 16)
    except BaseException:
        if source.error is not None:
            raise source.error from None
        raise
    finally:
        cursor.close()
    if progress is not None and source.reported != source.rows:
        progress(source.rows)
    return source.rows


def _unchanged(conn, spec: TableSpec, digest: str, source_format: str, version_label: str) -> int | None:
    """Row count when this very file was already loaded the same way (version label updated), else None."""
    current = get_referential_version(conn, spec.name)
    if not current or current["sha256"] != digest or current["source_format"] != source_format:
        return None
    if not sa.inspect(conn).has_table(spec.table):
        return None
    count = conn.execute(text(f"SELECT count(*) FROM {spec.table}")).scalar_one()
    if count != current["row_count"]:
        return None
    if current["version"] != version_label:
        conn.execute(VERSION_TABLE.update().where(VERSION_TABLE.c.name == spec.name).values(version=version_label))
    return count


def _swap(conn, spec: TableSpec) -> None:
    """Replace the live table by the staging one; the only statements that lock the live table."""
    conn.execute(text("SET LOCAL lock_timeout = '60s'"))
    conn.execute(text(f"DROP TABLE IF EXISTS {spec.table}"))
    conn.execute(text(f"ALTER TABLE {spec.staging} RENAME TO {spec.table}"))
    conn.execute(text(f"ALTER TABLE {spec.table} RENAME CONSTRAINT {spec.staging}_pkey TO {spec.table}_pkey"))
    for name, _, _ in spec.indexes:
        conn.execute(text(f"ALTER INDEX {name}_staging RENAME TO {name}"))
    conn.execute(text(f"COMMENT ON TABLE {spec.table} IS :comment").bindparams(comment=spec.comment))


def _write_version(conn, name: str, **values) -> None:
    values["loaded_at"] = sa.func.now()
    conn.execute(
        pg_insert(VERSION_TABLE).values(name=name, **values).on_conflict_do_update(index_elements=["name"], set_=values)
    )


def _load(
    engine,
    spec: TableSpec,
    rows: Sequence[tuple],
    *,
    path,
    digest: str,
    version_label: str,
    source_format: str,
    progress: Progress | None,
    force: bool,
    skipped: int = 0,
    after_copy: Callable | None = None,
) -> ReferentialLoadResult:
    """Replace ``spec.table`` by ``rows`` in one transaction (see the module docstring)."""
    started = time.monotonic()
    ensure_tables(engine, geometry=spec.geometry)
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(spec.name)})
            count = None if force else _unchanged(conn, spec, digest, source_format, version_label)
            if count is not None:
                return ReferentialLoadResult(
                    spec.name, False, version_label, count, digest, source_format, time.monotonic() - started, skipped
                )
            conn.execute(text(f"DROP TABLE IF EXISTS {spec.staging}"))
            conn.execute(text(_create_table_sql(spec, spec.staging, primary_key=False)))
            copied = _copy_rows(conn, spec, rows, progress)
            conn.execute(
                text(f"ALTER TABLE {spec.staging} ADD CONSTRAINT {spec.staging}_pkey PRIMARY KEY ({spec.primary_key})")
            )
            for index in spec.indexes:
                conn.execute(text(_create_index_sql(spec, index, staging=True)))
            if after_copy is not None:
                after_copy(conn, spec.staging)
            conn.execute(text(f"ANALYZE {spec.staging}"))
            _swap(conn, spec)
            _write_version(
                conn,
                spec.name,
                version=version_label,
                row_count=copied,
                sha256=digest,
                source_file=os.path.basename(os.fspath(path)),
                source_format=source_format,
            )
    return ReferentialLoadResult(
        spec.name, True, version_label, copied, digest, source_format, time.monotonic() - started, skipped
    )


def default_version_label(path) -> str:
    """Label deduced from the file name: ``HABREF 5.0``, ``COG 2024``, else the name without extension."""
    name = os.path.basename(os.fspath(path))
    if re.search(r"HABREF", name, re.IGNORECASE):
        return habref.default_version_label(name)
    match = re.search(r"v_(?:commune|departement)_(\d{4})", name, re.IGNORECASE)
    if match:
        return f"COG {match.group(1)}"
    return re.sub(r"\.(csv|txt|zip|geojson|json|gpkg)$", "", name, flags=re.IGNORECASE)


def _check_file(path, error: type[Exception]) -> str:
    if not os.path.isfile(path):
        raise error(f"fichier introuvable : {os.fspath(path)}")
    return file_sha256(path)


def load_habref(
    engine,
    path,
    version_label: str | None = None,
    progress: Progress | None = None,
    *,
    typoref=None,
    force: bool = False,
) -> ReferentialLoadResult:
    """Load a HABREF file (``HABREF_50.csv`` or the official ``.zip``) into ``sinp_habref``.

    ``typoref``: path of ``TYPOREF_50.csv`` (read from the archive by default) to
    name the typologies (``typo_acronyme``); without it the shipped table is used.
    Raises ``habref.HabrefFormatError`` for a bad file (nothing changed in the database).
    """
    digest = _check_file(path, habref.HabrefFormatError)
    data = habref.read_habref(path, typoref=typoref)
    acronyms = data.acronyms
    rows = [tuple(getattr(r, f) for f in habref.RECORD_FIELDS) + (acronyms.get(r.cd_typo),) for r in data.records]
    if data.typoref is None:
        typologies = "typologies de la table livrée"
    elif typoref is None:
        typologies = "typologies de TYPOREF (archive)"
    else:
        typologies = f"typologies de TYPOREF {file_sha256(typoref)[:12]}"
    source_format = f"HABREF (séparateur {separator_label(data.separator)}, {data.encoding}, {typologies})"
    return _load(
        engine,
        HABREF_SPEC,
        rows,
        path=path,
        digest=digest,
        version_label=version_label or default_version_label(path),
        source_format=source_format,
        progress=progress,
        force=force,
    )


def load_communes(
    engine,
    path,
    version_label: str | None = None,
    progress: Progress | None = None,
    *,
    region: str | None = geo.REGION_BFC,
    force: bool = False,
) -> ReferentialLoadResult:
    """Load communes (INSEE ``v_commune_AAAA.csv``, ADMIN EXPRESS CSV or ``code;nom;departement``).

    ``region``: INSEE region code kept (``"27"``), None for every commune.
    Raises ``geo.GeoFormatError`` for a bad file.
    """
    digest = _check_file(path, geo.GeoFormatError)
    data = geo.read_communes(path, region=region)
    rows = [(c.code, c.nom, c.departement, c.region) for c in data.records]
    return _load(
        engine,
        COMMUNE_SPEC,
        rows,
        path=path,
        digest=digest,
        version_label=version_label or default_version_label(path),
        source_format=data.source_format,
        progress=progress,
        force=force,
        skipped=data.skipped_type + data.skipped_region,
    )


def load_departements(
    engine,
    path,
    version_label: str | None = None,
    progress: Progress | None = None,
    *,
    region: str | None = geo.REGION_BFC,
    force: bool = False,
) -> ReferentialLoadResult:
    """Load départements (INSEE ``v_departement_AAAA.csv`` or ``code;nom``), filtered on ``region``."""
    digest = _check_file(path, geo.GeoFormatError)
    data = geo.read_departements(path, region=region)
    rows = [(d.code, d.nom, d.region, d.chef_lieu) for d in data.records]
    return _load(
        engine,
        DEPARTEMENT_SPEC,
        rows,
        path=path,
        digest=digest,
        version_label=version_label or default_version_label(path),
        source_format=data.source_format,
        progress=progress,
        force=force,
        skipped=data.skipped_region,
    )


def _fill_maille_4326(conn, staging: str) -> None:
    conn.execute(text(f"UPDATE {staging} SET geom_4326 = ST_Transform(geom_2154, 4326) WHERE geom_2154 IS NOT NULL"))


def load_mailles(
    engine, path, version_label: str | None = None, progress: Progress | None = None, *, force: bool = False
) -> ReferentialLoadResult:
    """Load a 10 km grid CSV (``cd_sig;code_10km[;wkt]``, WKT in EPSG:2154) into ``sinp_maille10``.

    ``geom_4326`` is computed by PostGIS from ``geom_2154`` (both NULL without WKT).
    """
    digest = _check_file(path, geo.GeoFormatError)
    data = geo.read_mailles(path)
    rows = [(m.cd_sig, m.code_10km, f"SRID=2154;{m.wkt}" if m.wkt else None, None) for m in data.records]
    return _load(
        engine,
        MAILLE_SPEC,
        rows,
        path=path,
        digest=digest,
        version_label=version_label or default_version_label(path),
        source_format=data.source_format,
        progress=progress,
        force=force,
        after_copy=_fill_maille_4326,
    )


def _check_territory(conn, staging: str) -> None:
    reason = conn.execute(text(f"SELECT ST_IsValidReason(geom) FROM {staging} WHERE NOT ST_IsValid(geom)")).first()
    if reason is not None:
        raise geo.GeoFormatError(f"PostGIS juge le contour invalide : {reason[0]}.")


def load_territory(
    engine, path, version_label: str | None = None, progress: Progress | None = None, *, force: bool = False
) -> ReferentialLoadResult:
    """Load the territory outline (GeoJSON Polygon/MultiPolygon in WGS 84) into ``sinp_territoire``."""
    digest = _check_file(path, geo.GeoFormatError)
    territory = geo.read_territory(path)
    rows = [(1, territory.nom, f"SRID=4326;{territory.wkt}")]
    source_format = f"GeoJSON WGS 84 ({territory.vertex_count} sommets)"
    return _load(
        engine,
        TERRITORY_SPEC,
        rows,
        path=path,
        digest=digest,
        version_label=version_label or default_version_label(path),
        source_format=source_format,
        progress=progress,
        force=force,
        after_copy=_check_territory,
    )


def _finish_contours(conn, staging: str) -> None:
    """Outlines made valid (ST_MakeValid, polygons kept), their web version simplified, and the map's
    roll-ups marked stale (``map_store.MARK_WIDER_SQL``: the scheduler copies the new outlines; they narrow nothing)."""
    conn.execute(
        text(
            f"UPDATE {staging} SET geom_2154 = ST_Multi(ST_CollectionExtract(ST_MakeValid(geom_2154), 3))"
            " WHERE NOT ST_IsValid(geom_2154)"
        )
    )
    empty = conn.execute(text(f"SELECT code FROM {staging} WHERE ST_IsEmpty(geom_2154) ORDER BY code")).scalars()
    empty = list(empty)
    if empty:
        raise geo.GeoFormatError(
            f"contour sans surface une fois réparé (ST_MakeValid) : {', '.join(empty[:20])}.", column="geometrie"
        )
    conn.execute(
        text(
            f"UPDATE {staging} SET geom_4326 = ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Transform("
            "ST_SimplifyPreserveTopology(geom_2154, :tolerance), 4326)), 3))"
        ),
        {"tolerance": WEB_TOLERANCE_M},
    )
    if conn.execute(text("SELECT to_regclass('sinp_carte_changes') IS NOT NULL")).scalar():
        conn.execute(text(map_store.MARK_WIDER_SQL))


def load_contours(
    engine,
    path,
    version_label: str | None = None,
    progress: Progress | None = None,
    *,
    kind: str,
    region: str | None = geo.REGION_BFC,
    force: bool = False,
) -> ReferentialLoadResult:
    """Load the outlines of ``kind`` (``communes`` or ``departements``) from IGN ADMIN EXPRESS (GeoPackage
    or GeoJSON, ``admin_express.read_contours``) into ``sinp_commune_contour`` / ``sinp_departement_contour``,
    filtered on ``region``. Raises ``geo.GeoFormatError`` for a bad file (nothing changed)."""
    spec = CONTOUR_SPECS[kind]
    digest = _check_file(path, geo.GeoFormatError)
    data = admin_express.read_contours(path, kind, region=region)

    def ewkb(contour: admin_express.Contour) -> str:
        return shapely.to_wkb(shapely.set_srid(contour.geometry, 2154), hex=True, include_srid=True)

    if kind == "communes":
        rows = [(c.code, c.nom, c.departement, c.region, ewkb(c), None) for c in data.records]
    else:
        rows = [(c.code, c.nom, c.region, ewkb(c), None) for c in data.records]
    label = version_label or default_version_label(path)
    return _load(
        engine,
        spec,
        rows,
        path=path,
        digest=digest,
        version_label=label,
        progress=progress,
        force=force,
        source_format=data.source_format,
        skipped=data.skipped_region,
        after_copy=_finish_contours,
    )


LOADERS: dict[str, Callable[..., ReferentialLoadResult]] = {
    "habref": load_habref,
    "communes": load_communes,
    "departements": load_departements,
    "mailles": load_mailles,
    "territoire": load_territory,
    "contours-communes": functools.partial(load_contours, kind="communes"),
    "contours-departements": functools.partial(load_contours, kind="departements"),
}


# -- what the occurrence QC needs ----------------------------------------------------------
def _int_array(conn, table: str, column: str) -> np.ndarray:
    """Sorted unique int64 values of a column, read with COPY (fast for TAXREF's ~700 000 rows)."""
    buffer = io.BytesIO()
    cursor = dbapi_cursor(conn)
    try:
        cursor.copy_expert(f"COPY (SELECT DISTINCT {column} FROM {table} ORDER BY 1) TO STDOUT", buffer)
    finally:
        cursor.close()
    return np.array(buffer.getvalue().split(), dtype=np.int64)


def _texts(conn, table: str, column: str) -> list[str]:
    return list(conn.execute(text(f"SELECT {column} FROM {table} ORDER BY {column}")).scalars())


def _habitat_codes(conn) -> dict[str, list[str]]:
    rows = conn.execute(
        text(
            "SELECT typo_acronyme, lb_code FROM sinp_habref WHERE typo_acronyme IS NOT NULL"
            " AND lb_code IS NOT NULL ORDER BY typo_acronyme, lb_code"
        )
    )
    codes: dict[str, list[str]] = {}
    for acronym, code in rows:
        codes.setdefault(acronym, []).append(code)
    return codes


def _versions(conn, tables: set[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = dict.fromkeys(REFERENTIAL_NAMES)
    if VERSION_TABLE.name in tables:
        for name, version in conn.execute(sa.select(VERSION_TABLE.c.name, VERSION_TABLE.c.version)):
            if name in versions:
                versions[name] = version
    return versions


def qc_referentials(engine) -> dict:
    """The referentials as the occurrence QC engine uses them, read in one consistent snapshot.

    Keys: ``cd_nom`` and ``cd_hab`` (sorted unique ``numpy.int64`` arrays),
    ``communes``, ``departements``, ``mailles`` (sorted lists of INSEE codes and of
    CD_SIG), ``territory_wkt`` (WGS 84 WKT or None), ``habitat_codes`` (acronym →
    sorted ``LB_CODE`` list) and ``versions`` (name → version label, None when not
    loaded). A referential that is not loaded gives an empty array or list.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            tables = set(sa.inspect(conn).get_table_names())
            empty = np.array([], dtype=np.int64)
            territory = None
            if "sinp_territoire" in tables:
                territory = conn.execute(text("SELECT ST_AsText(geom) FROM sinp_territoire ORDER BY id")).scalar()
            return {
                "cd_nom": _int_array(conn, "sinp_taxref", "cd_nom") if "sinp_taxref" in tables else empty,
                "cd_hab": _int_array(conn, "sinp_habref", "cd_hab") if "sinp_habref" in tables else empty,
                "communes": _texts(conn, "sinp_commune", "code") if "sinp_commune" in tables else [],
                "departements": _texts(conn, "sinp_departement", "code") if "sinp_departement" in tables else [],
                "mailles": _texts(conn, "sinp_maille10", "cd_sig") if "sinp_maille10" in tables else [],
                "territory_wkt": territory,
                "habitat_codes": _habitat_codes(conn) if "sinp_habref" in tables else {},
                "versions": _versions(conn, tables),
            }


def _referentials_dir(schemas_dir: pathlib.Path) -> pathlib.Path:
    schemas_dir = pathlib.Path(schemas_dir)
    if (schemas_dir / "referentiels").is_dir():
        return schemas_dir / "referentiels"
    return schemas_dir


def referentials_from_files(schemas_dir: pathlib.Path) -> dict:
    """The same dictionary as :func:`qc_referentials`, read from the extracts shipped in ``schemas/``.

    No database: lets the QC run on the shipped extracts (tests, demo). Accepts the
    ``schemas`` folder or its ``referentiels`` sub-folder. ``versions`` name the files.
    """
    base = _referentials_dir(schemas_dir)
    paths = {name: base / relative for name, relative in SHIPPED_FILES.items()}
    habitats = habref.read_habref(paths["habref"])
    acronyms = habitats.acronyms
    codes: dict[str, list[str]] = {}
    for record in habitats.records:
        acronym = acronyms.get(record.cd_typo)
        if acronym and record.lb_code:
            codes.setdefault(acronym, []).append(record.lb_code)
    return {
        "cd_nom": np.unique(np.fromiter((r.cd_nom for r in iter_taxref(paths["taxref"])), dtype=np.int64)),
        "cd_hab": np.unique(np.array([r.cd_hab for r in habitats.records], dtype=np.int64)),
        "communes": sorted(c.code for c in geo.read_communes(paths["communes"]).records),
        "departements": sorted(d.code for d in geo.read_departements(paths["departements"]).records),
        "mailles": sorted(m.cd_sig for m in geo.read_mailles(paths["mailles"]).records),
        "territory_wkt": geo.read_territory(paths["territoire"]).wkt,
        "habitat_codes": {acronym: sorted(values) for acronym, values in sorted(codes.items())},
        "versions": {name: f"extrait livré : {path.name}" for name, path in paths.items()},
    }
