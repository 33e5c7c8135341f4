"""The occurrence QC engine: every rule of ``rules`` over a whole file, set-wise, on DuckDB.

    result = engine.run(path, referentials, options=Options(jdd_uuid=...), store=my_store)
    result.report()                     # the JSON report (counts, errors page, file facts)
    result.write_accepted_csv(target)   # accepted rows, store columns, for COPY into PostGIS
    result.close()

Steps: ``reader.inspect`` (size, binary, encoding, separator, header; C1, C2) → DuckDB reads the
rows as text (ragged rows are C3) → one typed table (every column of the catalogue, absent ones
NULL) → row rules as one UNION ALL → geometries with shapely 2 / pyproj, vectorised (C9, K18) →
referentials and duplicates as joins (C11–C13, K16, K17, D1, D2). A row is accepted when it has
no blocking error. Nothing is written anywhere but the engine's temporary directory.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Protocol

import duckdb
import numpy as np

from ckanext.sinp.domain import nomenclatures
from ckanext.sinp.domain.occtax import columns as catalogue
from ckanext.sinp.domain.occtax import reader
from ckanext.sinp.domain.occtax import rules as R

UUID_RE = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
URL_RE = r"(https?|ftp)://[^\s/$.?#][^\s]*"
SRID_AREAS = {  # lon/lat box of each accepted SRID's area of use (EPSG)
    4326: (-180.0, -90.0, 180.0, 90.0),
    2154: (-9.86, 41.15, 10.38, 51.56),
}


@dataclasses.dataclass
class Referentials:
    """What the rules look values up in. An empty referential skips its rule (reported)."""
    cd_nom: np.ndarray | None = None
    cd_hab: np.ndarray | None = None
    communes: list | None = None
    departements: list | None = None
    mailles: list | None = None
    territory_wkt: str | None = None  # WGS 84
    versions: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> "Referentials":
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls) if f.name in data})


class Store(Protocol):
    """The occurrence store as the duplicate rules see it (implemented on PostgreSQL by the
    extension; absent for a local check)."""

    def existing_uuids(self, uuids: list[str]) -> set[str]: ...

    def existing_origin_ids(self, ids: list[str]) -> set[str]: ...

    def existing_content_keys(self, keys: list[str]) -> dict[str, str]: ...  # key -> where (JDD title)


@dataclasses.dataclass
class Options:
    jdd_uuid: str | None = None
    default_srid: int = 4326
    today: dt.date | None = None
    territory_tolerance_m: float = 2000.0
    max_bytes: int | None = 2 * 1024 ** 3
    memory_limit: str = "1GB"
    threads: int = 2
    file_name: str | None = None
    progress: Callable[[float, str], None] | None = None


STORE_EXTRA = ("id_sinp_jdd", "content_key", "row_number")


class Result:
    def __init__(self, con, info: reader.FileInfo, workdir: pathlib.Path, own_workdir: bool, summary: dict):
        self.con = con
        self.info = info
        self.workdir = workdir
        self._own_workdir = own_workdir
        self.summary = summary

    # --- reading the results -------------------------------------------------------------------
    def report(self, offset: int = 0, limit: int | None = 100) -> dict:
        out = dict(self.summary)
        out["errors"] = self.errors(offset, limit)
        return out

    def errors(self, offset: int = 0, limit: int | None = 100, code: str | None = None,
               column: str | None = None) -> list[dict]:
        if self.con is None:
            return []
        where, params = [], []
        if code:
            where.append("code = ?")
            params.append(code)
        if column:
            where.append('"column" = ?')
            params.append(column)
        sql = ('SELECT "row", "column", code, category, message, value, blocking FROM errors_out'
               + (" WHERE " + " AND ".join(where) if where else "")
               + ' ORDER BY "row" NULLS FIRST, seq')
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = self.con.execute(sql, params).fetchall()
        return [{"row": r[0], "column": r[1], "code": r[2], "category": r[3], "message": r[4], "value": r[5],
                 "blocking": r[6]} for r in rows]

    def write_errors_csv(self, target) -> None:
        self._copy('SELECT "row" AS ligne, "column" AS colonne, code, category AS categorie, '
                   'CASE WHEN blocking THEN \'bloquant\' ELSE \'avertissement\' END AS gravite, message, '
                   'value AS valeur FROM errors_out ORDER BY "row" NULLS FIRST, seq', target)

    def write_rejected_csv(self, target) -> None:
        """The rejected rows as deposited (the file's own columns) plus an ``erreurs`` column."""
        if self.con is None or not self.summary.get("rows_rejected"):
            pathlib.Path(target).write_text("", encoding="utf-8")
            return
        present = [c for c in self.info.columns if c]
        select = ", ".join(f'r.{R.q(c)}' for c in present)
        self._copy(f"""SELECT r._rn AS ligne, {select}, e.erreurs FROM raw r JOIN (
                         SELECT "row", string_agg(code || ' ' || COALESCE("column", '') || ' : ' || message, ' | '
                                                  ORDER BY seq) AS erreurs
                           FROM errors_out WHERE blocking GROUP BY "row") e ON e."row" = r._rn
                       ORDER BY r._rn""", target)

    def write_accepted_csv(self, target) -> list[str]:
        """Accepted rows with the store's columns (CSV with header; geometry as EWKB hex, SRID 4326).
        Returns the column names written."""
        names = [c.store for c in catalogue.store_columns()] + list(STORE_EXTRA)
        if self.con is None:
            pathlib.Path(target).write_text(",".join(names) + "\n", encoding="utf-8")
            return names
        self._copy("SELECT " + ", ".join(names) + " FROM accepted ORDER BY row_number", target)
        return names

    def accepted_stats(self) -> dict:
        """Extent, dates, taxa and counts of the accepted rows (metadata from data)."""
        if self.con is None or not self.summary.get("rows_accepted"):
            return {"rows": 0}
        row = self.con.execute("""SELECT count(*), min(date_debut), max(date_fin), count(DISTINCT cd_nom),
                                         min(_xmin), min(_ymin), max(_xmax), max(_ymax)
                                    FROM accepted""").fetchone()
        out = {"rows": row[0], "date_min": row[1].isoformat() if row[1] else None,
               "date_max": row[2].isoformat() if row[2] else None, "taxa": row[3]}
        if row[4] is not None:
            out["bbox"] = [row[4], row[5], row[6], row[7]]
        return out

    def _copy(self, sql: str, target) -> None:
        target = str(target).replace("'", "''")
        self.con.execute(f"COPY ({sql}) TO '{target}' (HEADER, DELIMITER ',', QUOTE '\"')")

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- the run -------------------------------------------------------------------------------------

def run(path, referentials: Referentials | None = None, options: Options | None = None,
        store: Store | None = None, workdir=None) -> Result:
    options = options or Options()
    referentials = referentials or Referentials()
    started = time.perf_counter()
    own = workdir is None
    workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="sinp-qc-"))
    progress = options.progress or (lambda fraction, stage: None)
    progress(0.0, "Lecture du fichier")
    info = reader.inspect(path, workdir, name=options.file_name, max_bytes=options.max_bytes)
    summary = _base_summary(info, referentials)
    if not info.usable:
        con = _connect(workdir, options)
        _file_errors_only(con, info)
        summary.update(_summarise(con, 0, started))
        progress(1.0, "Terminé")
        return Result(con, info, workdir, own, summary)
    con = _connect(workdir, options)
    try:
        _load_rows(con, info)
        progress(0.3, "Lecture des lignes")
        received = con.execute("SELECT count(*) FROM raw").fetchone()[0] + _count(con, "rejects")
        if received == 0:
            _file_errors_only(con, info, [reader.FileIssue("C1", "Le fichier n'a que l'en-tête : aucune ligne "
                                                                 "de données.")])
            summary.update(_summarise(con, 0, started))
            return Result(con, info, workdir, own, summary)
        _typed_table(con, info, options)
        progress(0.45, "Contrôles de conformité et de cohérence")
        skipped = []
        _geometry(con, referentials, options, skipped)
        progress(0.6, "Géométries")
        _row_rules(con, info)
        progress(0.7, "Référentiels")
        _referentials(con, referentials, skipped)
        progress(0.8, "Doublons")
        _duplicates(con, store)
        _finish(con, info)
        summary["skipped_checks"] = skipped
        summary.update(_summarise(con, received, started))
        progress(1.0, "Terminé")
        return Result(con, info, workdir, own, summary)
    except Exception:
        con.close()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _connect(workdir: pathlib.Path, options: Options):
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{options.memory_limit}'")
    con.execute(f"SET threads = {int(options.threads)}")
    con.execute(f"SET temp_directory = '{str(workdir / 'spill')}'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("""CREATE TABLE errors ("row" BIGINT, "column" VARCHAR, code VARCHAR, value VARCHAR,
                                        detail VARCHAR, seq BIGINT DEFAULT 0)""")
    return con


def _base_summary(info: reader.FileInfo, referentials: Referentials) -> dict:
    return {"status": "done", "progress": 1.0, "file": info.describe(),
            "ruleset": {"version": R.RULESET_VERSION, "columns": catalogue.version()},
            "referentials": dict(referentials.versions or {}), "skipped_checks": []}


def _count(con, table: str) -> int:
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except duckdb.CatalogException:
        return 0


def _file_errors_only(con, info: reader.FileInfo, extra=()) -> None:
    for issue in list(info.issues) + list(extra):
        con.execute('INSERT INTO errors ("row", "column", code, value, detail) VALUES (NULL, ?, ?, ?, ?)',
                    [issue.column, issue.code, issue.value, issue.detail])
    _messages(con)
    con.execute("CREATE TABLE accepted AS SELECT NULL::BIGINT AS row_number WHERE false")


def _sql_path(path) -> str:
    return str(path).replace("'", "''")


def _load_rows(con, info: reader.FileInfo) -> None:
    """The rows as text, one column per header field, plus ``_rn`` (1-based data row)."""
    names = [c or f"_unknown_{i}" for i, c in enumerate(info.columns)]
    col_spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    delim = info.delimiter.replace("'", "''")
    con.execute(f"""CREATE TABLE raw0 AS SELECT * FROM read_csv('{_sql_path(info.utf8_path)}',
                       delim = '{delim}', quote = '"', escape = '"', header = true, columns = {col_spec},
                       auto_detect = false, store_rejects = true, rejects_table = 'rejects_errors',
                       rejects_scan = 'rejects_scans', max_line_size = 4000000, strict_mode = true)""")
    con.execute("""CREATE TABLE rejects AS SELECT DISTINCT line - 1 AS data_row, first(error_type) AS error_type,
                          first(csv_line) AS csv_line, first(error_message) AS error_message
                     FROM rejects_errors GROUP BY line""")
    n_rejects = _count(con, "rejects")
    if n_rejects == 0:
        con.execute("CREATE TABLE raw AS SELECT row_number() OVER () AS _rn, * FROM raw0")
    else:
        # good rows take, in order, the data-row numbers that rejected lines did not use
        total = con.execute("SELECT count(*) FROM raw0").fetchone()[0] + n_rejects
        con.execute(f"""CREATE TABLE raw AS
            WITH free AS (SELECT n AS _rn, row_number() OVER (ORDER BY n) AS k
                            FROM range(1, {total + 1}) r(n) WHERE n NOT IN (SELECT data_row FROM rejects)),
                 good AS (SELECT row_number() OVER () AS k, * FROM raw0)
            SELECT free._rn, good.* EXCLUDE (k) FROM good JOIN free USING (k) ORDER BY free._rn""")
        expected = len(info.header)
        con.execute(f"""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT data_row, NULL, 'C3', left(csv_line, 200),
                   CASE WHEN error_type = 'TOO MANY COLUMNS' THEN 'la ligne a plus de champs que l''en-tête ({expected})'
                        WHEN error_type = 'MISSING COLUMNS' THEN 'la ligne a moins de champs que l''en-tête ({expected})'
                        WHEN error_type = 'UNQUOTED VALUE' OR error_type = 'UNTERMINATED QUOTE'
                             THEN 'guillemets mal fermés dans la ligne'
                        ELSE 'ligne illisible (' || error_type || ')' END
              FROM rejects""")
    con.execute("DROP TABLE raw0")


def _typed_expr(col: catalogue.Column, v: str) -> str:
    """SQL of the typed value of ``v`` (NULL when malformed)."""
    if col.type == "integer":
        return f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]{{1,18}}') THEN CAST({v} AS BIGINT) END"
    if col.type == "decimal":
        return (f"CASE WHEN regexp_full_match({v}, '[+-]?[0-9]{{1,15}}([.,][0-9]{{1,15}})?') "
                f"THEN CAST(replace({v}, ',', '.') AS DOUBLE) END")
    if col.type == "date":
        return (f"CASE WHEN regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
                f"THEN CAST(try_strptime({v}, '%Y-%m-%d') AS DATE) "
                f"WHEN regexp_full_match({v}, '[0-9]{{2}}/[0-9]{{2}}/[0-9]{{4}}') "
                f"THEN CAST(try_strptime({v}, '%d/%m/%Y') AS DATE) END")
    if col.type == "time":
        return (f"CASE WHEN regexp_full_match({v}, '[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}})?(Z|[+-][0-9]{{2}}:?[0-9]{{2}})?') "
                f"THEN TRY_CAST(regexp_replace({v}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$', '') AS TIME) END")
    if col.type == "uuid":
        return (f"CASE WHEN regexp_full_match({v}, '{UUID_RE}') THEN upper({v}) "
                f"WHEN regexp_full_match({v}, '(https?://|urn:)\\S*[/:]{UUID_RE}') "
                f"THEN upper(regexp_extract({v}, '{UUID_RE}$')) END")
    if col.type == "code":
        values = nomenclatures.get(col.nomenclature).codes()
        cases = " ".join(f"WHEN {R._sql_str(code.lower())} THEN {R._sql_str(code)}" for code in values)
        return f"CASE lower({v}) {cases} END"
    if col.type == "url":
        return f"CASE WHEN regexp_full_match({v}, '{URL_RE}') THEN {v} END"
    return v


def _typed_table(con, info: reader.FileInfo, options: Options) -> None:
    present = {c for c in info.columns if c}
    today = (options.today or dt.date.today()).isoformat()
    parts = ["_rn"]
    for col in catalogue.columns():
        v = f"NULLIF(trim({R.q(col.name)}), '')" if col.name in present else "CAST(NULL AS VARCHAR)"
        parts.append(f"{v} AS {R.q(col.name)}")
    con.execute(f"CREATE TEMP TABLE trimmed AS SELECT {', '.join(parts)} FROM raw")
    typed = ["*"]
    for col in catalogue.columns():
        if col.type not in ("text", "wkt"):
            typed.append(f"{_typed_expr(col, R.q(col.name))} AS {R.t(col.name)}")
    for col in catalogue.columns():
        if col.composed_from:
            ident, org = (R.q(col.composed_from["identity"]), R.q(col.composed_from["organisation"]))
            typed.append(f"COALESCE({R.q(col.name)}, CASE WHEN {ident} IS NOT NULL THEN {ident} || ' (' || "
                         f"COALESCE({org}, 'Indépendant') || ')' END) AS \"_{col.name}\"")
    jdd = R._sql_str(options.jdd_uuid.upper()) if options.jdd_uuid else "CAST(NULL AS VARCHAR)"
    typed.append(f"DATE '{today}' AS _today")
    typed.append(f"{jdd} AS _jdd")
    con.execute(f"CREATE TABLE t AS SELECT {', '.join(typed)} FROM trimmed ORDER BY _rn")
    con.execute("DROP TABLE trimmed")
    info_present = frozenset(present)
    con.execute("CREATE TEMP TABLE present_columns AS SELECT unnest(?::VARCHAR[]) AS name", [sorted(info_present)])


def _present(con) -> frozenset:
    return frozenset(r[0] for r in con.execute("SELECT name FROM present_columns").fetchall())


# --- geometry (C9, K18) ---------------------------------------------------------------------------

def _geometry(con, referentials: Referentials, options: Options, skipped: list) -> None:
    import shapely
    from pyproj import Transformer

    data = con.execute(f"""SELECT _rn,
              regexp_replace("geometrie", '^\\s*SRID=[0-9]+\\s*;\\s*', '') AS wkt,
              COALESCE(TRY_CAST(regexp_extract("geometrie", '^\\s*SRID=([0-9]+)\\s*;', 1) AS INTEGER),
                       "srid__t", {int(options.default_srid)}) AS srid,
              "srid" IS NOT NULL AND "srid__t" IS NULL AS srid_malformed
         FROM t WHERE "geometrie" IS NOT NULL""").fetchnumpy()
    rn = np.asarray(data["_rn"], dtype=np.int64)
    n = len(rn)
    wkb = np.full(n, None, dtype=object)
    bounds = np.full((n, 4), np.nan)
    err_code = np.full(n, None, dtype=object)
    err_detail = np.full(n, None, dtype=object)
    if n:
        wkt = np.asarray(data["wkt"], dtype=object)
        srid = np.asarray(data["srid"], dtype=np.int64)
        srid_bad = np.asarray(data["srid_malformed"], dtype=bool)
        geoms = shapely.from_wkt(wkt, on_invalid="ignore")
        missing = shapely.is_missing(geoms)
        err = lambda mask, code, text: _set(err_code, err_detail, mask, code, text)  # noqa: E731
        err(missing, "C9", "WKT illisible (attendu par exemple POINT(4.85 47.32))")
        ok = ~missing
        empty = np.zeros(n, dtype=bool)
        empty[ok] = shapely.is_empty(geoms[ok])
        err(empty, "C9", "géométrie vide")
        ok &= ~empty
        types = np.full(n, -1)
        types[ok] = shapely.get_type_id(geoms[ok])
        bad_type = ok & ~np.isin(types, [0, 1, 3, 4, 5, 6])
        err(bad_type, "C9", "type de géométrie non admis (point, ligne, polygone ou multiples)")
        ok &= ~bad_type
        invalid = np.zeros(n, dtype=bool)
        invalid[ok] = ~shapely.is_valid(geoms[ok])
        if invalid.any():
            reasons = shapely.is_valid_reason(geoms[invalid])
            err_code[invalid] = "C9"
            err_detail[invalid] = np.array([f"géométrie invalide ({r})" for r in reasons], dtype=object)
        ok &= ~invalid
        unknown_srid = ok & (srid_bad | ~np.isin(srid, list(SRID_AREAS)))
        err(unknown_srid, "C9", "système de coordonnées non admis (4326 ou 2154)")
        ok &= ~unknown_srid
        lonlat = np.full(n, None, dtype=object)
        l93 = np.full(n, None, dtype=object)
        to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
        to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
        is_l93 = ok & (srid == 2154)
        is_wgs = ok & (srid == 4326)
        if is_l93.any():
            l93[is_l93] = geoms[is_l93]
            lonlat[is_l93] = _transform(geoms[is_l93], to_wgs)
        if is_wgs.any():
            lonlat[is_wgs] = geoms[is_wgs]
        b = np.full((n, 4), np.nan)
        if ok.any():
            b[ok] = shapely.bounds(lonlat[ok].astype(object))
        outside = np.zeros(n, dtype=bool)
        for code, (x0, y0, x1, y1) in SRID_AREAS.items():
            sel = ok & (srid == code)
            outside[sel] = ~((b[sel, 0] >= x0) & (b[sel, 2] <= x1) & (b[sel, 1] >= y0) & (b[sel, 3] <= y1))
        if outside.any():
            for code in SRID_AREAS:
                err(outside & (srid == code), "C9",
                    f"coordonnées incompatibles avec EPSG:{code}"
                    + (" (longitude puis latitude en degrés attendues)" if code == 4326 else
                       " (Lambert-93 en mètres attendu)"))
        ok &= ~outside
        if is_wgs.any():
            sel = ok & is_wgs
            if sel.any():
                l93[sel] = _transform(lonlat[sel], to_l93)
        if referentials.territory_wkt and ok.any():
            territory = shapely.from_wkt(referentials.territory_wkt)
            area = _transform(np.array([territory], dtype=object), to_l93)[0]
            if options.territory_tolerance_m:
                area = shapely.buffer(area, options.territory_tolerance_m)
            shapely.prepare(area)
            inside = np.zeros(n, dtype=bool)
            inside[ok] = shapely.intersects(area, l93[ok].astype(object))
            tolerance = f" (tolérance {options.territory_tolerance_m:.0f} m)" if options.territory_tolerance_m else ""
            _set(err_code, err_detail, ok & ~inside, "K18", tolerance)
        elif ok.any():
            skipped.append({"code": "K18", "reason": "contour du territoire non chargé"})
        if ok.any():
            good = lonlat[ok].astype(object)
            good = shapely.set_srid(good, 4326)
            wkb[ok] = shapely.to_wkb(good, hex=True, include_srid=True)
            bounds[ok] = b[ok]
    geo = {"_rn": rn, "wkb": wkb.astype(str), "has_wkb": np.array([w is not None for w in wkb], dtype=bool),
           "xmin": bounds[:, 0], "ymin": bounds[:, 1], "xmax": bounds[:, 2], "ymax": bounds[:, 3],
           "code": np.array([c or "" for c in err_code], dtype=object),
           "detail": np.array([d or "" for d in err_detail], dtype=object)}
    con.register("geo_py", geo)
    con.execute("""CREATE TABLE geo AS SELECT _rn, CASE WHEN has_wkb THEN wkb END AS wkb,
                          CASE WHEN has_wkb THEN xmin END AS xmin, CASE WHEN has_wkb THEN ymin END AS ymin,
                          CASE WHEN has_wkb THEN xmax END AS xmax, CASE WHEN has_wkb THEN ymax END AS ymax,
                          NULLIF(code, '') AS code, NULLIF(detail, '') AS detail FROM geo_py""")
    con.unregister("geo_py")
    con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
                   SELECT g._rn, 'geometrie', g.code, left(t."geometrie", 120), g.detail
                     FROM geo g JOIN t USING (_rn) WHERE g.code IS NOT NULL""")
    # "_geo": a usable geometry (read by K7)
    con.execute("""CREATE TABLE t2 AS SELECT t.*, g.wkb AS _wkb, g.xmin AS _xmin, g.ymin AS _ymin,
                          g.xmax AS _xmax, g.ymax AS _ymax, g.wkb IS NOT NULL AS _geo
                     FROM t LEFT JOIN geo g USING (_rn) ORDER BY _rn""")
    con.execute("DROP TABLE t")
    con.execute("ALTER TABLE t2 RENAME TO t")


def _set(codes, details, mask, code, text) -> None:
    sel = mask & np.array([c is None for c in codes], dtype=bool)
    codes[sel] = code
    details[sel] = text


def _transform(geoms: np.ndarray, transformer) -> np.ndarray:
    import shapely

    def fn(coords):
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return shapely.transform(geoms.astype(object), fn)


# --- row rules ------------------------------------------------------------------------------------

def _row_rules(con, info: reader.FileInfo) -> None:
    present = _present(con)
    selects = []
    for rule, check in R.row_checks(present):
        column = R._sql_str(check.column) if check.column else "NULL"
        selects.append(f"SELECT _rn, {column}, '{rule.code}', CAST({check.value} AS VARCHAR), "
                       f"CAST({check.detail} AS VARCHAR) FROM t WHERE {check.condition}")
    if selects:
        con.execute('INSERT INTO errors ("row", "column", code, value, detail) ' + " UNION ALL ".join(selects))


# --- referentials (C11–C13) ------------------------------------------------------------------------

def _register_values(con, name: str, values, kind: str) -> None:
    array = np.asarray(values if values is not None else [], dtype=np.int64 if kind == "int" else object)
    con.register(name + "_py", {"v": array})
    sql_type = "BIGINT" if kind == "int" else "VARCHAR"
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT DISTINCT CAST(v AS {sql_type}) AS v FROM {name}_py")
    con.unregister(name + "_py")


def _referentials(con, refs: Referentials, skipped: list) -> None:
    version = refs.versions or {}

    def label(key):
        return f" (version {version[key]})" if version.get(key) else ""

    if refs.cd_nom is not None and len(refs.cd_nom):
        _register_values(con, "ref_taxref", refs.cd_nom, "int")
        for column in ("cdNom", "cdRef"):
            con.execute(f"""INSERT INTO errors ("row", "column", code, value, detail)
                SELECT _rn, '{column}', 'C11', "{column}", ? FROM t
                 WHERE "{column}__t" IS NOT NULL AND "{column}__t" NOT IN (SELECT v FROM ref_taxref)""",
                        [label("taxref")])
    else:
        skipped.append({"code": "C11", "reason": "TAXREF non chargé"})
    if refs.cd_hab is not None and len(refs.cd_hab):
        _register_values(con, "ref_habref", refs.cd_hab, "int")
        con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT _rn, 'codeHabRef', 'C12', "codeHabRef", ? FROM t
             WHERE "codeHabRef__t" IS NOT NULL AND "codeHabRef__t" NOT IN (SELECT v FROM ref_habref)""",
                    [label("habref")])
    else:
        skipped.append({"code": "C12", "reason": "HABREF non chargé"})
    for column, values, name, word in (("codeCommune", refs.communes, "ref_commune", "des communes"),
                                       ("codeDepartement", refs.departements, "ref_departement",
                                        "des départements"),
                                       ("codeMaille", refs.mailles, "ref_maille", "des mailles 10 km")):
        if not values:
            skipped.append({"code": "C13", "column": column, "reason": f"référentiel {word} non chargé"})
            continue
        _register_values(con, name, [str(v) for v in values], "str")
        con.execute(f"""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT _rn, '{column}', 'C13', code, '{word}' FROM (
                SELECT _rn, trim(unnest(string_split("{column}", '|'))) AS code FROM t WHERE "{column}" IS NOT NULL)
             WHERE code <> '' AND code NOT IN (SELECT v FROM {name})""")


# --- duplicates (K16, K17, D1, D2) -----------------------------------------------------------------

CONTENT_KEY = """md5(concat_ws('|', COALESCE(CAST("cdNom__t" AS VARCHAR), lower("nomCite")),
                      CAST("dateDebut__t" AS VARCHAR), CAST("dateFin__t" AS VARCHAR),
                      COALESCE(CAST("heureDebut__t" AS VARCHAR), ''), COALESCE(CAST("heureFin__t" AS VARCHAR), ''),
                      COALESCE("_wkb", "codeCommune", "codeMaille", "codeDepartement", ''),
                      lower("_observateur")))"""


def _duplicates(con, store: Store | None) -> None:
    con.execute(f"""CREATE TABLE keys AS SELECT _rn, "idSINPOccTax__t" AS uuid, "idOrigine" AS origin,
                          {CONTENT_KEY} AS content_key FROM t""")
    con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
        SELECT _rn, 'idSINPOccTax', 'K16', uuid, 'apparaît ' || n || ' fois dans le fichier (lignes ' || rows || ')'
          FROM (SELECT _rn, uuid, count(*) OVER w AS n,
                       string_agg(CAST(_rn AS VARCHAR), ', ' ORDER BY _rn) OVER w AS rows
                  FROM keys WHERE uuid IS NOT NULL WINDOW w AS (PARTITION BY uuid)) WHERE n > 1""")
    con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
        SELECT _rn, 'idOrigine', 'K17', origin, 'apparaît ' || n || ' fois dans le fichier'
          FROM (SELECT _rn, origin, count(*) OVER (PARTITION BY origin) AS n FROM keys WHERE origin IS NOT NULL)
         WHERE n > 1""")
    con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
        SELECT _rn, NULL, 'D1', NULL, CAST(first_row AS VARCHAR)
          FROM (SELECT _rn, min(_rn) OVER (PARTITION BY content_key) AS first_row FROM keys
                 WHERE _rn IN (SELECT _rn FROM t WHERE "dateDebut__t" IS NOT NULL))
         WHERE _rn <> first_row""")
    if store is None:
        return
    uuids = [r[0] for r in con.execute("SELECT DISTINCT uuid FROM keys WHERE uuid IS NOT NULL").fetchall()]
    found = store.existing_uuids(uuids) if uuids else set()
    if found:
        _register_values(con, "found_uuid", sorted(found), "str")
        con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT _rn, 'idSINPOccTax', 'K16', uuid, 'existe déjà sur la plateforme'
              FROM keys WHERE uuid IN (SELECT v FROM found_uuid)""")
    origins = [r[0] for r in con.execute("SELECT DISTINCT origin FROM keys WHERE origin IS NOT NULL").fetchall()]
    found = store.existing_origin_ids(origins) if origins else set()
    if found:
        _register_values(con, "found_origin", sorted(found), "str")
        con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT _rn, 'idOrigine', 'K17', origin, 'a déjà été déposé par ce producteur'
              FROM keys WHERE origin IN (SELECT v FROM found_origin)""")
    contents = [r[0] for r in con.execute("SELECT DISTINCT content_key FROM keys").fetchall()]
    found = store.existing_content_keys(contents) if contents else {}
    if found:
        con.register("found_content_py", {"k": np.array(list(found), dtype=object),
                                          "w": np.array(list(found.values()), dtype=object)})
        con.execute("""INSERT INTO errors ("row", "column", code, value, detail)
            SELECT _rn, NULL, 'D2', NULL, f.w FROM keys JOIN found_content_py f ON f.k = keys.content_key""")
        con.unregister("found_content_py")


# --- outcome -------------------------------------------------------------------------------------

def _messages(con) -> None:
    """errors + catalogue → errors_out (message, category, blocking)."""
    meta = {"code": [], "category": [], "blocking": [], "template": []}
    for rule in R.RULES:
        meta["code"].append(rule.code)
        meta["category"].append(rule.category)
        meta["blocking"].append(rule.blocking)
        meta["template"].append(rule.message)
    labels = {"name": [c.name for c in catalogue.columns()], "label": [c.label for c in catalogue.columns()]}
    con.register("rule_meta_py", {k: np.array(v, dtype=object if k != "blocking" else bool) for k, v in meta.items()})
    con.register("labels_py", {k: np.array(v, dtype=object) for k, v in labels.items()})
    con.execute("""CREATE TABLE errors_out AS
        SELECT e."row", e."column", e.code, m.category, m.blocking,
               replace(replace(replace(replace(m.template, '{value}', COALESCE(e.value, '')),
                                       '{detail}', COALESCE(e.detail, '')),
                               '{column}', COALESCE(e."column", '')),
                       '{label}', COALESCE(l.label, '')) AS message,
               e.value, row_number() OVER (ORDER BY e."row" NULLS FIRST, e.code, e."column") AS seq
          FROM errors e JOIN rule_meta_py m ON m.code = e.code LEFT JOIN labels_py l ON l.name = e."column"
         ORDER BY e."row" NULLS FIRST, seq""")
    con.unregister("rule_meta_py")
    con.unregister("labels_py")


def _finish(con, info: reader.FileInfo) -> None:
    _messages(con)
    store_cols = []
    for col in catalogue.store_columns():
        if col.name == "geometrie":
            store_cols.append(f"_wkb AS {col.store}")
        elif col.name == "idSINPOccTax":
            store_cols.append(f"COALESCE(\"idSINPOccTax__t\", upper(CAST(uuid() AS VARCHAR))) AS {col.store}")
        elif col.composed_from:
            store_cols.append(f'"_{col.name}" AS {col.store}')
        elif col.type in ("text", "wkt"):
            store_cols.append(f"{R.q(col.name)} AS {col.store}")
        else:
            store_cols.append(f"{R.t(col.name)} AS {col.store}")
    con.execute(f"""CREATE TABLE accepted AS
        SELECT {', '.join(store_cols)}, _jdd AS id_sinp_jdd, k.content_key, t._rn AS row_number,
               _xmin, _ymin, _xmax, _ymax
          FROM t JOIN keys k USING (_rn)
         WHERE _rn NOT IN (SELECT "row" FROM errors_out WHERE blocking AND "row" IS NOT NULL)
         ORDER BY _rn""")


def _summarise(con, received: int, started: float) -> dict:
    header_blocked = con.execute("""SELECT count(*) FROM errors_out WHERE "row" IS NULL AND blocking""").fetchone()[0]
    accepted = 0 if header_blocked else _count(con, "accepted")
    counts = dict(con.execute("SELECT code, count(*) FROM errors_out GROUP BY code ORDER BY code").fetchall())
    by_column = dict(con.execute("""SELECT "column", count(*) FROM errors_out WHERE "column" IS NOT NULL
                                    GROUP BY "column" ORDER BY 2 DESC""").fetchall())
    by_category = dict(con.execute("SELECT category, count(*) FROM errors_out GROUP BY category").fetchall())
    rejected_by_category = dict(con.execute("""SELECT category, count(DISTINCT "row") FROM errors_out
                                               WHERE blocking AND "row" IS NOT NULL GROUP BY category""").fetchall())
    total = con.execute("SELECT count(*), count(*) FILTER (WHERE blocking) FROM errors_out").fetchone()
    if header_blocked:
        con.execute("DELETE FROM accepted")
    return {"rows_received": received, "rows_accepted": accepted, "rows_rejected": received - accepted,
            "counts": counts, "counts_by_column": by_column,
            "counts_by_category": {k: by_category.get(k, 0) for k in R.CATEGORIES},
            "rows_rejected_by_category": {k: rejected_by_category.get(k, 0) for k in R.CATEGORIES},
            "errors_total": total[0], "blocking_total": total[1], "warnings_total": total[0] - total[1],
            "duration_s": round(time.perf_counter() - started, 3)}
