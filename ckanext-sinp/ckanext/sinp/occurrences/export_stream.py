"""Occurrence exports written as the rows come: one server-side cursor, constant memory.

The rows are those of ``store.blurred`` for the reader (the same blurring and the same hidden
fields as ``sinp_occurrence_search``: every row goes through ``store.to_feature``), read from a
PostgreSQL server-side cursor (psycopg2 named cursor, ``stream_results``) ``BATCH`` rows at a
time, in ``id`` order, and written out batch by batch: the first bytes leave before the query has
read the whole JDD, and memory holds one batch whatever the size of the JDD.

- CSV: the platform's dialect (``domain/csvsafe``: BOM, « ; », CRLF, formula cells neutralised),
  the geometry as WKT (shapely's, as before), one row per feature with the columns ``HEADER``;
- GeoJSON: ``{"type": "FeatureCollection", "total": n, "features": [...]}``.

SQLAlchemy Core, no ``import ckan``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import shapely
from sqlalchemy import text

from ckanext.sinp.domain import csvsafe
from ckanext.sinp.domain.occtax import columns
from ckanext.sinp.occurrences import aggregates, store

BATCH = 2000

# what the export adds to the standard's columns (``store.to_feature`` computes them)
EXTRA = (
    "codeDepartement",
    "idSINPJdd",
    "nivVal",
    "statutValidation",
    "typVal",
    "echVal",
    "validateur",
    "dateCtrl",
    "sensiNiveau",
    "sensiDateAttribution",
    "sensiReferentiel",
    "sensiVersionReferentiel",
    "dEEFloutage",
    "niveauDiffusion",
)


def csv_header() -> list[str]:
    names = [c.name for c in columns.store_columns() if c.name != "geometrie"]
    return ["geometrie"] + names + [c for c in EXTRA if c not in names]


def _columns(conn) -> list[str]:
    """The columns of ``sinp_occurrence`` (read from the catalogue of the database)."""
    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'sinp_occurrence'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        )
    ]


def row_batches(engine, access, package_id: str, filters: dict, batch: int = BATCH) -> Iterator[list[dict]]:
    """The rows ``access`` may see of the JDD (``store.blurred`` with ``filters``: the table's
    columns, ``layer``, ``full_access`` and ``geojson``, the geometry at the reader's layer),
    ``batch`` at a time, from one server-side cursor, in the order the database reads them (no
    sort: the first rows leave at once whatever the size of the JDD). The blurred cell is computed
    for the rows that get it only (``blurred``'s ``cell`` column is not selected). The connection
    is held while the generator runs and given back when it ends or is closed."""
    with engine.connect() as conn:
        aggregates.without_jit(conn)
        sql, params = store.blurred(conn, access, package_ids=[package_id], **filters)
        wanted = ", ".join(f"q.{c}" for c in _columns(conn) + ["layer", "full_access"])
        result = conn.execution_options(stream_results=True, max_row_buffer=batch).execute(
            text(f"SELECT {wanted}, ST_AsGeoJSON(q.out_geom, 7) AS geojson FROM ({sql}) AS q"), params
        )
        keys = list(result.keys())
        while True:
            rows = result.fetchmany(batch)
            if not rows:
                break
            yield [dict(zip(keys, row)) for row in rows]


def geojson_chunks(total: int, batches: Iterator[list[dict]]) -> Iterator[str]:
    """The FeatureCollection's text, one chunk per batch of rows."""
    try:
        yield '{"type": "FeatureCollection", "total": %d, "features": [' % total
        first = True
        dumps = json.dumps
        for rows in batches:
            parts = [dumps(store.to_feature(row), ensure_ascii=False) for row in rows]
            chunk = ",".join(parts)
            if not first:
                chunk = "," + chunk
            first = False
            yield chunk
        yield "]}"
    finally:
        _close(batches)


def _close(batches) -> None:
    """The cursor's generator closed at once (a client that left: its connection goes back to the pool)."""
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _wkt(geojsons: list) -> list[str]:
    """WKT of each GeoJSON geometry text ("" for none), as ``shape(geometry).wkt`` writes it."""
    present = [i for i, g in enumerate(geojsons) if g]
    out = [""] * len(geojsons)
    if present:
        wkts = shapely.to_wkt(shapely.from_geojson([geojsons[i] for i in present]), rounding_precision=-1)
        for i, w in zip(present, wkts):
            out[i] = w
    return out


_TRIGGERS = frozenset(csvsafe.FORMULA_TRIGGERS)


def _cell(value):
    """``csvsafe.neutralise`` of a cell (``None`` → empty), its rule called only for a text that
    starts with a trigger."""
    if value is None:
        return ""
    if value.__class__ is str and value and value[0] in _TRIGGERS:
        return csvsafe.neutralise(value)
    return value


def csv_chunks(batches: Iterator[list[dict]]) -> Iterator[str]:
    """The CSV text in the platform's dialect (``csvsafe``: BOM, « ; », CRLF, every cell through
    its formula rule), header first then one chunk per batch of rows. The geometry is converted to
    WKT per batch (``_wkt``): ``store.to_feature`` gets the row without its GeoJSON text."""
    header = csv_header()
    names = header[1:]
    buf = io.StringIO()
    out = csvsafe.writer(buf)
    out.writerow(csvsafe.neutralise_row(header))
    try:
        yield csvsafe.BOM + buf.getvalue()
        for rows in batches:
            buf.seek(0)
            buf.truncate()
            wkts = _wkt([r["geojson"] for r in rows])
            for row, wkt in zip(rows, wkts):
                row["geojson"] = None
                get = store.to_feature(row)["properties"].get
                out.writerow([_cell(wkt)] + [_cell(get(c)) for c in names])
            yield buf.getvalue()
    finally:
        _close(batches)
