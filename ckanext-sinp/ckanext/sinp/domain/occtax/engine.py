"""The occurrence QC engine: every rule of ``rules`` over a whole file, set-wise, on DuckDB.

    result = engine.run(path, referentials, options=Options(jdd_uuid=...), store=my_store)
    result.report()                     # the JSON report (counts, errors page, file facts)
    result.write_accepted_csv(target)   # accepted rows, store columns, for COPY into PostGIS
    result.close()

Steps: ``reader.inspect`` (size, binary, encoding, separator, header; C1, C2) → DuckDB loads the
rows as text once (table ``raw``, file order; lines with the wrong number of fields are C3) →
**one pass** types every value and evaluates every row rule and the TAXREF / HABREF look-ups as
bits of a few integer masks, keeping a narrow table (row, keys, coordinates, masks) →
geometries, vectorised with numpy / pyproj / shapely (C9, K18; points never become Python
objects) → communes, départements, mailles and duplicates as joins (C13, K16, K17, D1, D2) →
only the flagged rows are typed again to write each error with its value. Accepted rows are
produced on demand (``write_accepted_csv``). A row is accepted when it has no blocking error.
DuckDB runs in memory within ``memory_limit`` and spills to the temporary directory beyond it;
nothing else is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Protocol

import duckdb
import numpy as np
import shapely
from pyproj import Transformer

from ckanext.sinp.domain import csvsafe, geometry, nomenclatures
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
    def from_dict(cls, data: dict) -> Referentials:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls) if f.name in data})


class Store(Protocol):
    """The occurrence store as the duplicate rules see it (implemented on PostgreSQL by the
    extension, ``occurrences/store.DuplicateLookup``; absent for a local check).

    D2 must not become a location oracle: a depositor who knows the public facts of a blurred
    observation (taxon, dates, observer) could otherwise deposit candidate points and learn which
    one is exact. So the store answers two questions:

    - ``existing_content_keys``: exact matches (taxon, dates and hours, geometry, observer) among
      the rows the depositor may see precisely (its producer's, a chef de file's scope, all for a
      sysadmin), with where they are (the JDD's title);
    - ``probable_duplicates``: matches among the other producers' rows the depositor may already
      see, compared at the granularity the public sees them (precise rows exactly; rows blurred to
      the commune or the 10 km cell by taxon, dates, observer and the candidate's geometry inside
      the cell; rows blurred to the département by taxon, dates and observer). Rows the public
      does not see (private or draft JDD, layer « aucune ») are not compared. Only the row numbers
      come back: the report says « probablement déjà présente », without title, id or coordinates.
    """

    def existing_uuids(self, uuids: list[str]) -> set[str]: ...

    def existing_origin_ids(self, ids: list[str]) -> set[str]: ...

    def existing_content_keys(self, keys: list[str]) -> dict[str, str]: ...  # key -> where (JDD title)

    def probable_duplicates(self, candidates_csv: str) -> set[int]:
        """``candidates_csv``: a CSV file (header ``k,content_key,match_key,geom``: the row's ordinal,
        its content key, its key without the location, its geometry as EWKT/EWKB in WGS 84 or
        empty). Returns the ``k`` that match another producer's visible row."""
        ...


@dataclasses.dataclass
class Options:
    jdd_uuid: str | None = None
    default_srid: int = 4326
    today: dt.date | None = None
    territory_tolerance_m: float = 2000.0
    max_bytes: int | None = 2 * 1024**3
    memory_limit: str = "1GB"
    threads: int = 2
    file_name: str | None = None
    progress: Callable[[float, str], None] | None = None
    d2_max_foreign: int = 20  # rows flagged D2 against other producers' data; beyond, one summary line


STORE_EXTRA = ("id_sinp_jdd", "content_key", "match_key", "row_number")
# Row numbers everywhere (report, CSVs, store): the line as a spreadsheet shows the file, the header
# being line 1, so the first data row is line 2 (« numéro de ligne dans le tableur »).
FIRST_DATA_LINE = 2
# the errors CSV (engine and web page write the same columns)
ERRORS_CSV_HEADER = ("numéro de ligne dans le tableur", "colonne", "règle", "catégorie", "gravité", "message", "valeur")


class Result:
    def __init__(
        self,
        con,
        info: reader.FileInfo,
        workdir: pathlib.Path,
        own_workdir: bool,
        summary: dict,
        source: _Source | None = None,
    ):
        self.con = con
        self.info = info
        self.workdir = workdir
        self._own_workdir = own_workdir
        self.summary = summary
        self._source = source

    # --- reading the results -------------------------------------------------------------------
    def report(self, offset: int = 0, limit: int | None = 100) -> dict:
        out = dict(self.summary)
        out["errors"] = self.errors(offset, limit)
        return out

    def errors(
        self, offset: int = 0, limit: int | None = 100, code: str | None = None, column: str | None = None
    ) -> list[dict]:
        if self.con is None:
            return []
        where, params = [], []
        if code:
            where.append("code = ?")
            params.append(code)
        if column:
            where.append('"column" = ?')
            params.append(column)
        sql = (
            'SELECT "row", "column", code, category, message, value, blocking FROM errors_out'
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY seq"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = self.con.execute(sql, params).fetchall()
        return [
            {
                "row": r[0],
                "column": r[1],
                "code": r[2],
                "category": r[3],
                "message": r[4],
                "value": r[5],
                "blocking": r[6],
            }
            for r in rows
        ]

    def write_errors_csv(self, target) -> None:
        """Every error, for people: the platform's CSV dialect, text cells neutralised (``csvsafe``)."""
        safe = csvsafe.neutralise_sql
        category = "CASE category " + " ".join(
            f"WHEN '{c}' THEN {R._sql_str(label)}" for c, label in R.CATEGORIES.items()
        )
        line, column, rule, cat, severity, message, value = (R.q(h) for h in ERRORS_CSV_HEADER)
        csvsafe.duckdb_copy(
            self.con,
            f'SELECT "row" AS {line}, {safe(R.q("column"))} AS {column}, code AS {rule}, '
            f"{category} ELSE category END AS {cat}, "
            f"CASE WHEN blocking THEN 'bloquant' ELSE 'avertissement' END AS {severity}, "
            f"{safe('message')} AS {message}, {safe('value')} AS {value} FROM errors_out ORDER BY seq",
            target,
        )

    def write_errors_store_csv(self, target, deposit_id: str) -> None:
        """Every error in the occurrence store's column order (for COPY)."""
        deposit = R._sql_str(deposit_id)
        self._copy(
            f'SELECT {deposit} AS resource_id, seq, "row", "column", code, category, blocking, message, value '
            "FROM errors_out ORDER BY seq",
            target,
        )

    def write_rejected_csv(self, target) -> None:
        """The rejected rows as deposited: their spreadsheet line, the file's own columns and an
        ``erreurs`` column, in the platform's CSV dialect; every cell is text, those a spreadsheet
        would run as a formula are neutralised (``csvsafe``)."""
        if self.con is None or self._source is None or not self.summary.get("rows_rejected"):
            pathlib.Path(target).write_text("", encoding="utf-8")
            return
        self._source.ensure_raw(self.con)
        present = [c for c in self.info.columns if c]
        select = ", ".join(f"{csvsafe.neutralise_sql(f'r.{R.q(c)}')} AS {R.q(c)}" for c in present)
        csvsafe.duckdb_copy(
            self.con,
            f"""SELECT m._rn AS {R.q(ERRORS_CSV_HEADER[0])}, {select}, {csvsafe.neutralise_sql("e.erreurs")} AS erreurs
                         FROM {self._source.select(typed=False, only="SELECT _k FROM rejected")} r
                         JOIN kmap m ON m._k = r._k
                         JOIN (SELECT "row", string_agg(code || ' ' || COALESCE("column", '') || ' : ' || message,
                                                        ' | ' ORDER BY seq) AS erreurs
                                 FROM errors_out WHERE blocking GROUP BY "row") e ON e."row" = m._rn
                        ORDER BY m._rn""",
            target,
        )

    def write_accepted_csv(self, target, constants: dict | None = None) -> list[str]:
        """Accepted rows with the store's columns (CSV with header; ``geom`` as EWKT/EWKB in WGS 84),
        plus a column per entry of ``constants`` (same value on every row). Returns the names written."""
        constants = constants or {}
        names = [c.store for c in catalogue.store_columns()] + list(STORE_EXTRA) + list(constants)
        if self.con is None or self._source is None or not self.summary.get("rows_accepted"):
            pathlib.Path(target).write_text(",".join(names) + "\n", encoding="utf-8")
            return names
        extra = "".join(f", {R._sql_str(str(v))} AS {k}" for k, v in constants.items())
        self._source.ensure_raw(self.con)
        self._copy(_accepted_sql(self._source, extra), target)
        return names

    def accepted_stats(self) -> dict:
        """Extent, dates, taxa and counts of the accepted rows (metadata from data)."""
        if self.con is None or not self.summary.get("rows_accepted"):
            return {"rows": 0}
        row = self.con.execute("""SELECT count(*), min(b.date_debut), max(b.date_fin), count(DISTINCT b.cd_nom),
                                         min(g.xmin), min(g.ymin), max(g.xmax), max(g.ymax)
                                    FROM base b LEFT JOIN geo g USING (_k)
                                   WHERE b._k NOT IN (SELECT _k FROM rejected)""").fetchone()
        out = {
            "rows": row[0],
            "date_min": row[1].isoformat() if row[1] else None,
            "date_max": row[2].isoformat() if row[2] else None,
            "taxa": row[3],
        }
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


def run(
    path,
    referentials: Referentials | None = None,
    options: Options | None = None,
    store: Store | None = None,
    workdir=None,
) -> Result:
    options = options or Options()
    referentials = referentials or Referentials()
    started = time.perf_counter()
    own = workdir is None
    workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="sinp-qc-"))
    progress = options.progress or (lambda fraction, stage: None)
    progress(0.0, "Lecture du fichier")
    con = None
    try:
        info = reader.inspect(path, workdir, name=options.file_name, max_bytes=options.max_bytes)
        summary = _base_summary(info, referentials)
        con = _connect(workdir, options)
        if not info.usable:
            _file_only(con, info.issues)
            summary.update(_summarise(con, 0, started))
            progress(1.0, "Terminé")
            return Result(con, info, workdir, own, summary)
        source = _Source(info, options)
        skipped: list = []
        checks, lookups = _prepare_checks(con, source, referentials, skipped)
        progress(0.1, "Lecture et contrôle des lignes")
        _scan(con, source, checks, content_md5=store is not None, lookups=lookups)
        received = con.execute(
            "SELECT (SELECT count(*) FROM base) + (SELECT count(DISTINCT line) FROM rejects_errors)"
        ).fetchone()[0]
        if received == 0:
            _file_only(con, [reader.FileIssue("C1", "Le fichier n'a que l'en-tête : aucune ligne de données.")])
            summary.update(_summarise(con, 0, started))
            progress(1.0, "Terminé")
            return Result(con, info, workdir, own, summary)
        _row_numbers(con, source)
        _lookups(con, lookups)
        progress(0.5, "Géométries")
        _geometry(con, source, referentials, options, skipped)
        progress(0.65, "Référentiels géographiques")
        _attachments(con, source, referentials, skipped)
        progress(0.75, "Doublons")
        _duplicates(con, store, workdir, options)
        progress(0.85, "Rapport")
        _details(con, source, checks)
        _finish(con)
        summary["skipped_checks"] = skipped
        summary.update(_summarise(con, received, started))
        progress(1.0, "Terminé")
        return Result(con, info, workdir, own, summary, source)
    except Exception:
        if con is not None:
            con.close()
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _connect(workdir: pathlib.Path, options: Options):
    # in memory, bounded by memory_limit: beyond it DuckDB spills its blocks to temp_directory
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{options.memory_limit}'")
    con.execute(f"SET threads = {int(options.threads)}")
    con.execute(f"SET temp_directory = '{_sql_path(workdir / 'spill')}'")
    con.execute("SET preserve_insertion_order = true")
    # "row" is the spreadsheet line once known (C3; file level C1–C2: NULL), else NULL and "k" the
    # ordinal among the well-formed rows (mapped to its line by _messages through kmap)
    con.execute("""CREATE TABLE errors (k BIGINT, "row" BIGINT, "column" VARCHAR, code VARCHAR, value VARCHAR,
                                        detail VARCHAR)""")
    return con


def _base_summary(info: reader.FileInfo, referentials: Referentials) -> dict:
    return {
        "status": "done",
        "progress": 1.0,
        "file": info.describe(),
        "ruleset": {"version": R.RULESET_VERSION, "columns": catalogue.version()},
        "referentials": dict(referentials.versions or {}),
        "skipped_checks": [],
    }


def _count(con, table: str) -> int:
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except duckdb.CatalogException:
        return 0


def _sql_path(path) -> str:
    return str(path).replace("'", "''")


def _file_only(con, issues) -> None:
    for issue in issues:
        con.execute(
            'INSERT INTO errors (k, "row", "column", code, value, detail) VALUES (NULL, NULL, ?, ?, ?, ?)',
            [issue.column, issue.code, issue.value, issue.detail],
        )
    con.execute("CREATE OR REPLACE TABLE kmap AS SELECT NULL::BIGINT AS _k, NULL::BIGINT AS _rn WHERE false")
    con.execute("CREATE OR REPLACE TABLE rejected AS SELECT NULL::BIGINT AS _k WHERE false")
    _messages(con)


class _Source:
    """SQL reading the deposited rows: ``_k`` (ordinal of the well-formed row), the trimmed text of
    every catalogue column (NULL when absent from the file), typed values and derived columns."""

    def __init__(self, info: reader.FileInfo, options: Options):
        self.info = info
        self.options = options
        self.present = frozenset(c for c in info.columns if c)
        self.raw_loaded = False

    def read_csv(self, rejects: bool) -> str:
        """DuckDB's reader of the file's rows as text, in file order; lines with the wrong number of
        fields are skipped (``rejects``: and written to ``rejects_errors``, rule C3)."""
        names = [c or f"_unknown_{i}" for i, c in enumerate(self.info.columns)]
        spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
        delim = self.info.delimiter.replace("'", "''")
        errors = (
            "store_rejects = true, rejects_table = 'rejects_errors', rejects_scan = 'rejects_scans'"
            if rejects
            else "ignore_errors = true"
        )
        return f"""read_csv('{_sql_path(self.info.utf8_path)}', delim = '{delim}', quote = '"', escape = '"',
                      header = true, columns = {spec}, auto_detect = false, max_line_size = 4000000,
                      strict_mode = true, {errors})"""

    def ensure_raw(self, con) -> None:
        """Table ``raw`` (view over ``raw_rows``): the file's rows as text, loaded again in parallel
        the first time a whole-file output asks for them (accepted, rejected rows), never for the
        check alone. ``_k`` is the ordinal of the well-formed row, the same skipped lines as the scan
        (file order is kept: ``rowid``)."""
        if self.raw_loaded:
            return
        con.execute(f"CREATE TABLE raw_rows AS SELECT * FROM {self.read_csv(False)}")
        con.execute("CREATE VIEW raw AS SELECT rowid + 1 AS _k, * FROM raw_rows")
        self.raw_loaded = True

    def trimmed(self, frm: str = "raw", only: str | None = None) -> str:
        """``frm``: a relation with ``_k`` and the file's columns by canonical name."""
        trimmed = ["_k"]
        for col in catalogue.columns():
            value = f"NULLIF(trim({R.q(col.name)}), '')" if col.name in self.present else "CAST(NULL AS VARCHAR)"
            trimmed.append(f"{value} AS {R.q(col.name)}")
        where = f" WHERE _k IN ({only})" if only else ""
        return f"SELECT {', '.join(trimmed)} FROM {frm}{where}"

    def select(self, typed: bool = True, only: str | None = None, frm: str = "raw") -> str:
        """``only``: a query of the ``_k`` to keep (filtered before typing)."""
        inner = self.trimmed(frm, only)
        if not typed:
            return f"({inner})"
        out = ["*"]
        for col in catalogue.columns():
            if col.type not in ("text", "wkt"):
                expr = _typed_expr(col, R.q(col.name)) if col.name in self.present else "NULL"
                out.append(f"{expr} AS {R.t(col.name)}")
            if col.composed_from:
                ident, org = R.q(col.composed_from["identity"]), R.q(col.composed_from["organisation"])
                out.append(
                    f"COALESCE({R.q(col.name)}, CASE WHEN {ident} IS NOT NULL THEN {ident} || ' (' || "
                    f"COALESCE({org}, 'Indépendant') || ')' END) AS \"_{col.name}\""
                )
        today = (self.options.today or dt.date.today()).isoformat()
        jdd = R._sql_str(self.options.jdd_uuid.upper()) if self.options.jdd_uuid else "CAST(NULL AS VARCHAR)"
        out += [f"DATE '{today}' AS _today", f"{jdd} AS _jdd"]
        return f"(SELECT {', '.join(out)} FROM ({inner}))"

    def kept(self) -> list[str]:
        """The file's catalogue columns, in catalogue order (kept for the flagged rows)."""
        return [c.name for c in catalogue.columns() if c.name in self.present]


def _typed_expr(col: catalogue.Column, v: str) -> str:
    """SQL of the typed value of ``v`` (NULL when malformed). Each starts with DuckDB's fast cast and
    falls back to a strict pattern only where the cast is lenient (12.5 → 13, 0x10, 1e3, inf)."""
    if col.type == "integer":
        return (
            f"CASE WHEN CAST(TRY_CAST({v} AS BIGINT) AS VARCHAR) = {v} THEN TRY_CAST({v} AS BIGINT) "
            f"WHEN regexp_full_match({v}, '[+-]?[0-9]{{1,18}}') THEN CAST({v} AS BIGINT) END"
        )
    if col.type == "decimal":
        return (
            f"CASE WHEN NOT regexp_matches({v}, '[^0-9.,+-]') AND regexp_full_match({v}, "
            f"'[+-]?[0-9]{{1,15}}([.,][0-9]{{1,15}})?') THEN CAST(replace({v}, ',', '.') AS DOUBLE) END"
        )
    if col.type == "date":
        return (
            f"CASE WHEN length({v}) = 10 THEN COALESCE(TRY_CAST({v} AS DATE), "
            f"CAST(try_strptime({v}, '%d/%m/%Y') AS DATE)) END"
        )
    if col.type == "time":
        return (
            f"CASE WHEN length({v}) IN (5, 8) THEN TRY_CAST({v} AS TIME) "
            f"WHEN regexp_full_match({v}, '[0-9]{{2}}:[0-9]{{2}}(:[0-9]{{2}})?(Z|[+-][0-9]{{2}}:?[0-9]{{2}})') "
            f"THEN TRY_CAST(regexp_replace({v}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$', '') AS TIME) END"
        )
    if col.type == "uuid":
        return (
            f"CASE WHEN length({v}) = 36 THEN upper(CAST(TRY_CAST({v} AS UUID) AS VARCHAR)) "
            f"WHEN regexp_full_match({v}, '(https?://|urn:)\\S*[/:]{UUID_RE}') "
            f"THEN upper(regexp_extract({v}, '{UUID_RE}$')) END"
        )
    if col.type == "code":
        values = nomenclatures.get(col.nomenclature).codes()
        cases = " ".join(f"WHEN {R._sql_str(code.lower())} THEN {R._sql_str(code)}" for code in values)
        return f"CASE lower({v}) {cases} END"
    if col.type == "url":
        return f"CASE WHEN regexp_full_match({v}, '{URL_RE}') THEN {v} END"
    return v


# --- the scan: every row rule as a bit ---------------------------------------------------------

POINT_RE = r"^\s*POINT\s*\(\s*([-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s+([-+]?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*\)\s*$"
SRID_PREFIX = r"^\s*SRID=([0-9]+)\s*;\s*"
CONTENT_KEY = """md5(concat_ws('|', COALESCE(CAST("cdNom__t" AS VARCHAR), lower("nomCite")),
                      CAST("dateDebut__t" AS VARCHAR), CAST("dateFin__t" AS VARCHAR),
                      COALESCE(CAST("heureDebut__t" AS VARCHAR), ''), COALESCE(CAST("heureFin__t" AS VARCHAR), ''),
                      COALESCE(regexp_replace(upper("geometrie"), '\\s+', '', 'g'), "codeCommune", "codeMaille",
                               "codeDepartement", ''),
                      lower("_observateur")))"""
# D1 alone (no store: equal keys are enough, no stable digest): DuckDB's hash of the same fields
D1_KEY = """hash("cdNom__t", CASE WHEN "cdNom__t" IS NULL THEN lower("nomCite") END, "dateDebut__t", "dateFin__t",
                 "heureDebut__t", "heureFin__t",
                 COALESCE(translate(upper("geometrie"), ' \t\n\f\r', ''), "codeCommune", "codeMaille",
                          "codeDepartement", ''),
                 lower("_observateur"))"""  # translate drops what RE2's \s matched: tab, newline, form feed, return, space
# the same without the location: D2 against other producers' blurred data (taxon, dates, observer)
MATCH_KEY = """md5(concat_ws('|', 'sans-lieu', COALESCE(CAST("cdNom__t" AS VARCHAR), lower("nomCite")),
                      CAST("dateDebut__t" AS VARCHAR), CAST("dateFin__t" AS VARCHAR),
                      COALESCE(CAST("heureDebut__t" AS VARCHAR), ''), COALESCE(CAST("heureFin__t" AS VARCHAR), ''),
                      lower("_observateur")))"""


def _prepare_checks(con, source: _Source, refs: Referentials, skipped: list) -> tuple[list, list]:
    """(rule, check) pairs evaluated by the scan (the catalogue's row rules), and the TAXREF and
    HABREF look-ups (rule, column, referential table, detail SQL), whose tables are registered
    here. The look-ups run after the scan, on the values it kept (``_lookups``): a look-up inside
    the scan would be a join, and a join does not keep the file order the row ordinals rely on."""
    checks = R.row_checks(source.present)
    lookups = []
    versions = refs.versions or {}

    def label(key):
        return R._sql_str(f" (version {versions[key]})" if versions.get(key) else "")

    if refs.cd_nom is not None and len(refs.cd_nom):
        _register_values(con, "ref_taxref", refs.cd_nom, "int")
        for column in ("cdNom", "cdRef"):
            if column in source.present:
                lookups.append((R.rule("C11"), column, "ref_taxref", label("taxref")))
    else:
        skipped.append({"code": "C11", "reason": "TAXREF non chargé"})
    if refs.cd_hab is not None and len(refs.cd_hab):
        _register_values(con, "ref_habref", refs.cd_hab, "int")
        if "codeHabRef" in source.present:
            lookups.append((R.rule("C12"), "codeHabRef", "ref_habref", label("habref")))
    else:
        skipped.append({"code": "C12", "reason": "HABREF non chargé"})
    return checks, lookups


def _lookups(con, lookups: list) -> None:
    """C11, C12: the typed codes the scan kept (``l_<column>``), against the referential tables;
    the error's value is the code as written (``lv_<column>``)."""
    for rule, column, table, detail in lookups:
        typed, text = R.q("l_" + column), R.q("lv_" + column)
        con.execute(f"""INSERT INTO errors (k, "column", code, value, detail)
            SELECT _k, {R._sql_str(column)}, '{rule.code}', CAST({text} AS VARCHAR), CAST({detail} AS VARCHAR)
              FROM base WHERE {typed} IS NOT NULL AND {typed} NOT IN (SELECT v FROM {table})""")


def _without_absent(condition: str, present: frozenset) -> str:
    """The condition with the columns the file lacks written as NULL literals, so that DuckDB folds
    the checks that cannot fail (a group of columns the file does not have) into constants."""

    def repl(match):
        name = match.group(1)
        base = name[:-3] if name.endswith("__t") else name
        if base in _ALL_COLUMNS and base not in present:
            return "NULL"
        return match.group(0)

    return re.sub(r'"([A-Za-z][A-Za-z0-9]*(?:__t)?)"', repl, condition)


_ALL_COLUMNS = frozenset(c.name for c in catalogue.columns())


def _masks(checks: list, present: frozenset = frozenset(_ALL_COLUMNS)) -> list[str]:
    """SQL of the BIGINT masks: bit i of mask i // 62 set when check i fails."""
    out = []
    for start in range(0, len(checks), 62):
        terms = [
            f"CASE WHEN COALESCE({_without_absent(c.condition, present)}, FALSE) THEN {1 << (i - start)} ELSE 0 END"
            for i, (_, c) in enumerate(checks[start : start + 62], start)
        ]
        out.append(" + ".join(terms) if terms else "0")
    return out or ["0"]


ATTACH_COLUMNS = ("codeCommune", "codeDepartement", "codeMaille")


def _scan(con, source: _Source, checks: list, content_md5: bool, lookups: tuple = ()) -> None:
    """One parallel pass over the file: every row rule as bits of the masks, the keys and
    coordinates, and the text of the rows a rule flagged (``_raw``, NULL for the others) into the
    narrow table ``base0``; ``base`` adds ``_k`` (the row's ordinal: file order is kept)."""
    masks = _masks(checks, source.present)
    # D1 (in the file) needs equal keys only; D2 (against the store) needs a stable digest
    content = CONTENT_KEY if content_md5 else D1_KEY
    if content_md5:
        content += f" AS content_key, {MATCH_KEY} AS match_key"
    else:
        content += " AS content_key"
    mask_cols = ", ".join(f"CAST({m} AS BIGINT) AS m{i}" for i, m in enumerate(masks))
    kept = source.kept()
    flagged = " OR ".join(f"m{i} <> 0" for i in range(len(masks)))
    raw = ("struct_pack(" + ", ".join(f"{R.q(c)} := {R.q(c)}" for c in kept) + ")") if kept else "NULL"
    attach = "".join(f", {R.q(c)} AS {R.q('a_' + c)}" for c in ATTACH_COLUMNS if c in source.present)
    # the codes the look-ups need, typed and as written (_lookups)
    attach += "".join(
        f", {R.t(c)} AS {R.q('l_' + c)}, {R.q(c)} AS {R.q('lv_' + c)}" for c in dict.fromkeys(lu[1] for lu in lookups)
    )
    names = [f"m{i}" for i in range(len(masks))] + ["uuid", "origin", "content_key"]
    names += ["match_key"] if content_md5 else []
    names += ["cd_nom", "date_debut", "date_fin", "has_date", "px", "py", "has_geom", "shape_wkt", "srid"]
    names += ["srid_malformed", "geom_text"]
    frm = f"(SELECT CAST(NULL AS BIGINT) AS _k, * FROM {source.read_csv(True)})"
    con.execute(f"""CREATE TABLE base0 AS
        SELECT {", ".join(names)}{attach}, CASE WHEN {flagged} THEN {raw} END AS _raw
          FROM (SELECT {mask_cols},
               "idSINPOccTax__t" AS uuid, "idOrigine" AS origin, {content},
               "cdNom__t" AS cd_nom, "dateDebut__t" AS date_debut, "dateFin__t" AS date_fin,
               "dateDebut__t" IS NOT NULL AS has_date,
               TRY_CAST(_pt.x AS DOUBLE) AS px, TRY_CAST(_pt.y AS DOUBLE) AS py,
               "geometrie" IS NOT NULL AS has_geom,
               CASE WHEN _pt.x = '' THEN "geometrie" END AS shape_wkt,
               COALESCE(TRY_CAST(regexp_extract("geometrie", '{SRID_PREFIX}', 1) AS INTEGER), "srid__t",
                        {int(source.options.default_srid)}) AS srid,
               "srid" IS NOT NULL AND "srid__t" IS NULL AS srid_malformed, "geometrie" AS geom_text, *
          FROM (SELECT *, regexp_extract("geometrie", '{POINT_RE}', ['x', 'y']) AS _pt  -- one match: '' when none
                  FROM {source.select(frm=frm)}))""")
    con.execute("CREATE VIEW base AS SELECT rowid + 1 AS _k, * FROM base0")
    con.execute(
        "CREATE TABLE mask_count AS SELECT "
        + ", ".join(f"bit_or(m{i}) AS m{i}" for i in range(len(masks)))
        + " FROM base0"
    )


def _row_numbers(con, source: _Source) -> None:
    """kmap(_k → _rn): ``_rn`` is the row's line number as a spreadsheet shows it (header = line
    ``FIRST_DATA_LINE`` - 1, first data row = line ``FIRST_DATA_LINE``): good rows take, in order,
    the lines rejected lines did not use; rejected lines are C3 errors."""
    con.execute("""CREATE TABLE rejects AS SELECT line AS data_row, first(error_type) AS error_type,
                          first(csv_line) AS csv_line FROM rejects_errors GROUP BY line""")
    n_rejects = _count(con, "rejects")
    if n_rejects == 0:
        con.execute(f"CREATE TABLE kmap AS SELECT _k, _k + {FIRST_DATA_LINE - 1} AS _rn FROM base")
        return
    total = con.execute("SELECT count(*) FROM base").fetchone()[0] + n_rejects
    con.execute(f"""CREATE TABLE kmap AS
        SELECT row_number() OVER (ORDER BY n) AS _k, n AS _rn
          FROM range({FIRST_DATA_LINE}, {total + FIRST_DATA_LINE}) r(n) WHERE n NOT IN (SELECT data_row FROM rejects)""")
    expected = len(source.info.header)
    con.execute(f"""INSERT INTO errors (k, "row", "column", code, value, detail)
        SELECT NULL, data_row, NULL, 'C3', left(csv_line, 200),
               CASE WHEN error_type = 'TOO MANY COLUMNS' THEN 'la ligne a plus de champs que l''en-tête ({expected})'
                    WHEN error_type = 'MISSING COLUMNS' THEN 'la ligne a moins de champs que l''en-tête ({expected})'
                    WHEN error_type IN ('UNQUOTED VALUE', 'UNTERMINATED QUOTE') THEN 'guillemets mal fermés'
                    ELSE 'ligne illisible (' || error_type || ')' END
          FROM rejects""")


# --- geometry (C9, K18) ---------------------------------------------------------------------------

GEOM_CHUNK = 1_000_000
# said after a geometry refused (K18, C9 out of the SRID's area) when its coordinates swapped fall
# inside the territory: the usual mistake of a file written latitude first
SWAP_HINTS = {
    4326: ". Latitude et longitude semblent inversées : inversées, elles tombent dans le territoire",
    2154: ". X et Y semblent inversés : inversés, ils tombent dans le territoire",
}
# the coordinates read, as the error's value (numbers as written in the file)
POINT_VALUE = {4326: "longitude {x}, latitude {y} (EPSG:4326)", 2154: "X {x}, Y {y} (EPSG:2154, Lambert-93)"}


def _geometry(con, source: _Source, refs: Referentials, options: Options, skipped: list) -> None:
    """Points (most rows) stay numpy float arrays; other shapes go through shapely. Works by
    chunks of rows so that memory stays bounded. A refused geometry's error carries the
    coordinates read (its value) and, when swapping them would put it in the territory, says so."""

    con.execute("""CREATE TABLE geo (_k BIGINT, lon DOUBLE, lat DOUBLE, ewkb VARCHAR, xmin DOUBLE, ymin DOUBLE,
                                     xmax DOUBLE, ymax DOUBLE)""")
    con.execute("CREATE TABLE geo_err (_k BIGINT, code VARCHAR, detail VARCHAR, srid BIGINT, swapped BOOLEAN)")
    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    territory = _territory(refs, options)
    if territory is None:
        if con.execute("SELECT count(*) FROM base WHERE has_geom").fetchone()[0]:
            skipped.append({"code": "K18", "reason": "contour du territoire non chargé"})
    last = con.execute("SELECT max(_k) FROM base WHERE has_geom").fetchone()[0] or 0
    for start in range(0, last, GEOM_CHUNK):
        _geometry_chunk(con, start, start + GEOM_CHUNK, options, territory, to_wgs, to_l93)
    hints = " ".join(f"WHEN {srs} THEN {R._sql_str(hint)}" for srs, hint in SWAP_HINTS.items())
    point = (
        "CASE e.srid "
        + " ".join(
            f"WHEN {srs} THEN "
            + _sql_format(
                template,
                x=f"regexp_extract(r.geometrie, '{POINT_RE}', 1)",
                y=f"regexp_extract(r.geometrie, '{POINT_RE}', 2)",
            )
            for srs, template in POINT_VALUE.items()
        )
        + " END"
    )
    con.execute(f"""INSERT INTO errors (k, "column", code, value, detail)
        SELECT e._k, 'geometrie', e.code,
               CASE WHEN regexp_matches(r.geometrie, '{POINT_RE}') AND e.srid IN ({", ".join(map(str, POINT_VALUE))})
                    THEN {point} ELSE left(r.geometrie, 200) END,
               e.detail || CASE WHEN e.swapped THEN CASE e.srid {hints} ELSE '' END ELSE '' END
          FROM geo_err e
          JOIN (SELECT _k, geom_text AS geometrie FROM base) r USING (_k)""")


def _territory(refs: Referentials, options: Options):

    if not refs.territory_wkt:
        return None
    area = geometry.to_lambert93(shapely.from_wkt(refs.territory_wkt))
    if options.territory_tolerance_m:
        area = shapely.buffer(area, options.territory_tolerance_m)
    shapely.prepare(area)
    return area


def _geometry_chunk(con, lo: int, hi: int, options: Options, territory, to_wgs, to_l93) -> None:

    d = con.execute(f"""SELECT _k, px, py, srid, srid_malformed FROM base
                         WHERE has_geom AND px IS NOT NULL AND _k > {lo} AND _k <= {hi}""").fetchnumpy()
    k = np.asarray(d["_k"], dtype=np.int64)
    x = np.asarray(d["px"], dtype=np.float64)
    y = np.asarray(d["py"], dtype=np.float64)
    srid = np.asarray(d["srid"], dtype=np.int64)
    code = np.zeros(len(k), dtype=np.int8)  # 0 ok, 1 srid, 2 out of area (4326), 3 (2154), 4 territory
    code[np.asarray(d["srid_malformed"], dtype=bool) | ~np.isin(srid, list(SRID_AREAS))] = 1
    lon, lat = x.copy(), y.copy()
    l93x, l93y = x.copy(), y.copy()
    is_l93 = (code == 0) & (srid == 2154)
    is_wgs = (code == 0) & (srid == 4326)
    if is_l93.any():
        lon[is_l93], lat[is_l93] = to_wgs.transform(x[is_l93], y[is_l93])
    for value, srs in ((2, 4326), (3, 2154)):
        x0, y0, x1, y1 = SRID_AREAS[srs]
        sel = (code == 0) & (srid == srs)
        out = sel & ~((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
        code[out] = value
    ok_wgs = is_wgs & (code == 0)
    if ok_wgs.any():
        l93x[ok_wgs], l93y[ok_wgs] = to_l93.transform(x[ok_wgs], y[ok_wgs])
    if territory is not None:
        ok = code == 0
        inside = shapely.contains_xy(territory, l93x[ok], l93y[ok])
        tmp = code[ok]
        tmp[~inside] = 4
        code[ok] = tmp
    swapped = np.zeros(len(k), dtype=bool)
    outside = np.isin(code, (2, 3, 4))
    if territory is not None and outside.any():
        swapped[outside] = _inside_swapped(territory, x[outside], y[outside], srid[outside], to_l93)
    ok = code == 0
    con.register("geo_pts", {"_k": k[ok], "lon": lon[ok], "lat": lat[ok]})
    con.execute("INSERT INTO geo SELECT _k, lon, lat, NULL, lon, lat, lon, lat FROM geo_pts")
    con.unregister("geo_pts")
    bad = ~ok
    if bad.any():
        con.register("geo_bad", {"_k": k[bad], "c": code[bad].astype(np.int64), "srid": srid[bad], "s": swapped[bad]})
        tolerance = f" (tolérance {options.territory_tolerance_m:.0f} m)" if options.territory_tolerance_m else ""
        con.execute(f"""INSERT INTO geo_err SELECT _k,
               CASE WHEN c = 4 THEN 'K18' ELSE 'C9' END,
               CASE c WHEN 1 THEN 'système de coordonnées non admis (4326 ou 2154)'
                      WHEN 2 THEN 'coordonnées incompatibles avec EPSG:4326 (longitude puis latitude en degrés attendues)'
                      WHEN 3 THEN 'coordonnées incompatibles avec EPSG:2154 (Lambert-93 en mètres attendu)'
                      ELSE {R._sql_str(tolerance)} END, srid, s FROM geo_bad""")
        con.unregister("geo_bad")
    _shapes_chunk(con, lo, hi, options, territory, to_wgs, to_l93)


def _shapes_chunk(con, lo, hi, options: Options, territory, to_wgs, to_l93) -> None:
    """Rows whose geometry is not a plain POINT: shapely, vectorised."""

    rows = con.execute(f"""SELECT _k, regexp_replace(shape_wkt, '{SRID_PREFIX}', '') AS wkt, srid, srid_malformed
                             FROM base WHERE shape_wkt IS NOT NULL AND _k > {lo} AND _k <= {hi}""").fetchall()
    if not rows:
        return
    k = np.array([r[0] for r in rows], dtype=np.int64)
    geoms = shapely.from_wkt(np.array([r[1] for r in rows], dtype=object), on_invalid="ignore")
    srid = np.array([r[2] for r in rows], dtype=np.int64)
    details = np.full(len(k), None, dtype=object)
    codes = np.full(len(k), None, dtype=object)

    def fail(mask, code, text):
        sel = mask & (codes == None)  # noqa: E711
        codes[sel] = code
        details[sel] = text

    missing = shapely.is_missing(geoms)
    fail(missing, "C9", "WKT illisible (attendu par exemple POINT(4.85 47.32))")
    present = ~missing
    empty = present.copy()
    empty[present] = shapely.is_empty(geoms[present])
    fail(empty, "C9", "géométrie vide")
    usable = present & ~empty
    type_ok = usable.copy()
    type_ok[usable] = np.isin(shapely.get_type_id(geoms[usable]), [0, 1, 3, 4, 5, 6])
    fail(usable & ~type_ok, "C9", "type de géométrie non admis (point, ligne, polygone ou multiples)")
    usable &= type_ok
    valid = usable.copy()
    valid[usable] = shapely.is_valid(geoms[usable])
    invalid = usable & ~valid
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid])
        idx = np.flatnonzero(invalid)
        for i, reason in zip(idx, reasons):
            fail(np.arange(len(k)) == i, "C9", f"géométrie invalide ({reason})")
    usable &= valid
    fail(
        usable & (np.array([r[3] for r in rows], dtype=bool) | ~np.isin(srid, list(SRID_AREAS))),
        "C9",
        "système de coordonnées non admis (4326 ou 2154)",
    )
    usable &= codes == None  # noqa: E711
    lonlat = np.full(len(k), None, dtype=object)
    l93 = np.full(len(k), None, dtype=object)
    sel = usable & (srid == 2154)
    if sel.any():
        l93[sel] = geoms[sel]
        lonlat[sel] = _transform(geoms[sel], to_wgs)
    sel = usable & (srid == 4326)
    if sel.any():
        lonlat[sel] = geoms[sel]
    bounds = np.full((len(k), 4), np.nan)
    if usable.any():
        bounds[usable] = shapely.bounds(lonlat[usable].astype(object))
    outside = np.zeros(len(k), dtype=bool)
    for srs, (x0, y0, x1, y1) in SRID_AREAS.items():
        sel = usable & (srid == srs)
        out = sel & ~((bounds[:, 0] >= x0) & (bounds[:, 2] <= x1) & (bounds[:, 1] >= y0) & (bounds[:, 3] <= y1))
        fail(out, "C9", f"coordonnées incompatibles avec EPSG:{srs}")
        outside |= out
    usable &= codes == None  # noqa: E711
    sel = usable & (srid == 4326)
    if sel.any():
        l93[sel] = _transform(lonlat[sel], to_l93)
    if territory is not None and usable.any():
        inside = usable.copy()
        inside[usable] = shapely.intersects(territory, l93[usable].astype(object))
        tolerance = f" (tolérance {options.territory_tolerance_m:.0f} m)" if options.territory_tolerance_m else ""
        fail(usable & ~inside, "K18", tolerance)
        outside |= usable & ~inside
        usable &= inside
    swapped = np.zeros(len(k), dtype=bool)
    if territory is not None and outside.any():
        flipped = shapely.transform(geoms[outside].astype(object), lambda c: c[:, ::-1])
        wgs = srid[outside] == 4326
        if wgs.any():
            flipped[wgs] = _transform(flipped[wgs], to_l93)
        swapped[outside] = shapely.intersects(territory, flipped)
    if usable.any():
        wkb = shapely.to_wkb(shapely.set_srid(lonlat[usable].astype(object), 4326), hex=True, include_srid=True)
        b = bounds[usable]
        con.register(
            "geo_shapes",
            {
                "_k": k[usable],
                "ewkb": np.asarray(wkb, dtype=object),
                "xmin": b[:, 0],
                "ymin": b[:, 1],
                "xmax": b[:, 2],
                "ymax": b[:, 3],
            },
        )
        con.execute("INSERT INTO geo SELECT _k, NULL, NULL, ewkb, xmin, ymin, xmax, ymax FROM geo_shapes")
        con.unregister("geo_shapes")
    failed = codes != None  # noqa: E711
    if failed.any():
        con.register(
            "geo_fail",
            {
                "_k": k[failed],
                "code": codes[failed],
                "detail": details[failed],
                "srid": srid[failed],
                "s": swapped[failed],
            },
        )
        con.execute("INSERT INTO geo_err SELECT _k, code, detail, srid, s FROM geo_fail")
        con.unregister("geo_fail")


def _inside_swapped(territory, x: np.ndarray, y: np.ndarray, srid: np.ndarray, to_l93) -> np.ndarray:
    """Whether each point, its two coordinates swapped, falls in the territory (vectorised)."""
    ex, ey = y.astype(np.float64), x.astype(np.float64)
    wgs = srid == 4326
    if wgs.any():
        lon, lat = ex[wgs], ey[wgs]
        valid = (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
        tx, ty = np.full(len(lon), np.nan), np.full(len(lon), np.nan)
        if valid.any():
            tx[valid], ty[valid] = to_l93.transform(lon[valid], lat[valid])
        ex[wgs], ey[wgs] = tx, ty
    ok = np.isfinite(ex) & np.isfinite(ey)
    out = np.zeros(len(x), dtype=bool)
    if ok.any():
        out[ok] = shapely.contains_xy(territory, ex[ok], ey[ok])
    return out


def _sql_format(template: str, **values: str) -> str:
    """``template`` (``{name}`` fields) as a SQL concatenation of its text and the SQL ``values``."""
    parts = re.split(r"\{(\w+)\}", template)
    return " || ".join(values[part] if i % 2 else R._sql_str(part) for i, part in enumerate(parts) if part or i % 2)


def _transform(geoms: np.ndarray, transformer) -> np.ndarray:

    def fn(coords):
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms.astype(object), fn)


# --- communes, départements, mailles (C13) ---------------------------------------------------------


def _register_values(con, name: str, values, kind: str) -> None:
    array = np.asarray(values if values is not None else [], dtype=np.int64 if kind == "int" else object)
    con.register(name + "_py", {"v": array})
    sql_type = "BIGINT" if kind == "int" else "VARCHAR"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT CAST(v AS {sql_type}) AS v FROM {name}_py")
    con.unregister(name + "_py")


ATTACHMENTS = (
    ("codeCommune", "communes", "des communes"),
    ("codeDepartement", "departements", "des départements"),
    ("codeMaille", "mailles", "des mailles 10 km"),
)


def _attachments(con, source: _Source, refs: Referentials, skipped: list) -> None:
    wanted = [a for a in ATTACHMENTS if a[0] in source.present]
    if not wanted:
        return
    todo = []
    for column, attr, word in wanted:
        values = getattr(refs, attr)
        if not values:
            skipped.append({"code": "C13", "column": column, "reason": f"référentiel {word} non chargé"})
            continue
        _register_values(con, f"ref_{attr}", [str(v) for v in values], "str")
        todo.append((column, attr, word))
    if not todo:
        return
    cols = ", ".join(f"{R.q('a_' + c)} AS {R.q(c)}" for c, _, _ in todo)  # kept by the scan
    con.execute(f"""CREATE TEMP TABLE attach AS SELECT _k, {cols} FROM base
                     WHERE {" OR ".join(f"{R.q('a_' + c)} IS NOT NULL" for c, _, _ in todo)}""")
    for column, attr, word in todo:
        con.execute(f"""INSERT INTO errors (k, "column", code, value, detail)
            SELECT _k, '{column}', 'C13', code, '{word}' FROM (
                SELECT _k, trim(unnest(string_split({R.q(column)}, '|'))) AS code FROM attach
                 WHERE {R.q(column)} IS NOT NULL)
             WHERE code <> '' AND code NOT IN (SELECT v FROM ref_{attr})""")


# --- duplicates (K16, K17, D1, D2) -----------------------------------------------------------------


def _duplicates(con, store: Store | None, workdir: pathlib.Path, options: Options) -> None:
    # grouped first (few duplicated keys), then joined back: no window over the whole file
    con.execute("""INSERT INTO errors (k, "column", code, value, detail)
        SELECT b._k, 'idSINPOccTax', 'K16', b.uuid, 'apparaît ' || d.n || ' fois dans le fichier (première fois ligne '
                                                     || m._rn || ')'
          FROM base b
          JOIN (SELECT uuid, count(*) AS n, min(_k) AS first_k FROM base WHERE uuid IS NOT NULL
                 GROUP BY uuid HAVING count(*) > 1) d USING (uuid)
          JOIN kmap m ON m._k = d.first_k""")
    con.execute("""INSERT INTO errors (k, "column", code, value, detail)
        SELECT b._k, 'idOrigine', 'K17', b.origin, 'apparaît ' || d.n || ' fois dans le fichier'
          FROM base b
          JOIN (SELECT origin, count(*) AS n FROM base WHERE origin IS NOT NULL
                 GROUP BY origin HAVING count(*) > 1) d USING (origin)""")
    con.execute("""INSERT INTO errors (k, "column", code, value, detail)
        SELECT b._k, NULL, 'D1', NULL, CAST(m._rn AS VARCHAR)
          FROM base b
          JOIN (SELECT content_key, min(_k) AS first_k FROM base WHERE has_date
                 GROUP BY content_key HAVING count(*) > 1) d USING (content_key)
          JOIN kmap m ON m._k = d.first_k WHERE b.has_date AND b._k <> d.first_k""")
    if store is None:
        return
    for key, column, code, lookup, detail in (
        ("uuid", "idSINPOccTax", "K16", store.existing_uuids, "existe déjà sur la plateforme"),
        ("origin", "idOrigine", "K17", store.existing_origin_ids, "a déjà été déposé par ce producteur"),
    ):
        values = [r[0] for r in con.execute(f"SELECT DISTINCT {key} FROM base WHERE {key} IS NOT NULL").fetchall()]
        found = lookup(values) if values else set()
        if found:
            _register_values(con, f"found_{key}", sorted(found), "str")
            con.execute(f"""INSERT INTO errors (k, "column", code, value, detail)
                SELECT _k, '{column}', '{code}', {key}, '{detail}' FROM base WHERE {key} IN (SELECT v FROM found_{key})""")
    _d2(con, store, workdir, options)


def _d2(con, store: Store, workdir: pathlib.Path, options: Options) -> None:
    """D2 without a location oracle (see ``Store``): exact matches with details among the rows
    the depositor may see precisely; then, for the other rows, probable matches among the other
    producers' visible rows, without details, at most ``d2_max_foreign`` rows (file order) and one
    summary line beyond. Set-wise: the candidates go to the store as one CSV file."""
    contents = [r[0] for r in con.execute("SELECT DISTINCT content_key FROM base WHERE has_date").fetchall()]
    found = store.existing_content_keys(contents) if contents else {}
    con.execute("CREATE TEMP TABLE d2_exact (_k BIGINT, w VARCHAR)")
    if found:
        con.register(
            "found_content_py",
            {
                "k": np.array(list(found), dtype=object),
                "w": np.array([R.D2_EXACT.format(where=w) for w in found.values()], dtype=object),
            },
        )
        con.execute("""INSERT INTO d2_exact SELECT _k, f.w FROM base JOIN found_content_py f
                         ON f.k = base.content_key WHERE has_date""")
        con.unregister("found_content_py")
        con.execute("""INSERT INTO errors (k, "column", code, value, detail)
                       SELECT _k, NULL, 'D2', NULL, w FROM d2_exact""")
    candidates = workdir / "d2_candidates.csv"
    con.execute(f"""COPY (SELECT b._k AS k, b.content_key, b.match_key,
                                 COALESCE(g.ewkb, 'SRID=4326;POINT(' || CAST(g.lon AS VARCHAR) || ' '
                                                  || CAST(g.lat AS VARCHAR) || ')') AS geom
                            FROM base b LEFT JOIN geo g USING (_k)
                           WHERE b.has_date AND b._k NOT IN (SELECT _k FROM d2_exact) ORDER BY b._k)
                    TO '{_sql_path(candidates)}' (HEADER, DELIMITER ',', QUOTE '"')""")
    try:
        foreign = store.probable_duplicates(str(candidates))
    finally:
        candidates.unlink(missing_ok=True)
    if not foreign:
        return
    limit = max(int(options.d2_max_foreign), 0)
    _register_values(con, "d2_foreign", np.fromiter(foreign, dtype=np.int64, count=len(foreign)), "int")
    # only rows of this file, not already flagged exactly (a store answers about the candidates)
    con.execute("""DELETE FROM d2_foreign WHERE v NOT IN (SELECT _k FROM base WHERE has_date)
                                             OR v IN (SELECT _k FROM d2_exact)""")
    con.execute(f"""INSERT INTO errors (k, "column", code, value, detail)
                    SELECT v, NULL, 'D2', NULL, {R._sql_str(R.D2_FOREIGN)} FROM d2_foreign
                     ORDER BY v LIMIT {limit}""")
    more = _count(con, "d2_foreign") - limit
    if more > 0:
        con.execute(
            """INSERT INTO errors (k, "row", "column", code, value, detail)
                       VALUES (NULL, NULL, NULL, 'D2', NULL, ?)""",
            [R.D2_FOREIGN_MORE.format(n=more, max=limit)],
        )


# --- details of the flagged rows, outcome -----------------------------------------------------------


def _details(con, source: _Source, checks: list) -> None:
    """Reads again only the rows a check flagged, to write each failure with its value."""
    fired_masks = con.execute("SELECT * FROM mask_count").fetchone()
    fired = [i for i in range(len(checks)) if (fired_masks[i // 62] or 0) >> (i % 62) & 1]
    if not fired:
        return
    where = " OR ".join(f"m{i} <> 0" for i in range(len(fired_masks)))
    m = ", ".join(f"m{i}" for i in range(len(fired_masks)))
    con.execute(f"CREATE TEMP TABLE flagged_k AS SELECT _k, {m}, _raw FROM base WHERE {where}")
    frm = "(SELECT _k, unnest(_raw) FROM flagged_k)"
    con.execute(f"""CREATE TEMP TABLE flagged AS SELECT s.*, {", ".join(f"f.m{i}" for i in range(len(fired_masks)))}
                      FROM {source.select(frm=frm)} s JOIN flagged_k f USING (_k)""")
    selects = []
    for i in fired:
        rule, check = checks[i]
        column = R._sql_str(check.column) if check.column else "NULL"
        selects.append(
            f"SELECT _k, {column}, '{rule.code}', CAST({check.value} AS VARCHAR), "
            f"CAST({check.detail} AS VARCHAR) FROM flagged WHERE (m{i // 62} >> {i % 62}) & 1 = 1"
        )
    con.execute('INSERT INTO errors (k, "column", code, value, detail) ' + " UNION ALL ".join(selects))


def _messages(con) -> None:
    """errors + catalogue → errors_out (data row, message, category, blocking, order)."""
    meta = {"code": [], "category": [], "blocking": [], "template": []}
    for rule in R.RULES:
        meta["code"].append(rule.code)
        meta["category"].append(rule.category)
        meta["blocking"].append(rule.blocking)
        meta["template"].append(rule.message)
    cols = catalogue.columns()
    con.register("rule_meta_py", {k: np.array(v, dtype=bool if k == "blocking" else object) for k, v in meta.items()})
    con.register(
        "labels_py",
        {
            "name": np.array([c.name for c in cols], dtype=object),
            "label": np.array([c.label for c in cols], dtype=object),
        },
    )
    con.execute("""CREATE TABLE errors_out AS
        SELECT r."row", r."column", r.code, m.category, m.blocking,
               replace(replace(replace(replace(m.template, '{value}', COALESCE(r.value, '')),
                                       '{detail}', COALESCE(r.detail, '')),
                               '{column}', COALESCE(r."column", '')),
                       '{label}', COALESCE(l.label, '')) AS message,
               r.value, row_number() OVER (ORDER BY r."row" NULLS FIRST, r.code, r."column", r.value) AS seq
          FROM (SELECT COALESCE(e."row", km._rn) AS "row", e."column", e.code, e.value, e.detail
                  FROM errors e LEFT JOIN kmap km ON km._k = e.k) r
          JOIN rule_meta_py m ON m.code = r.code LEFT JOIN labels_py l ON l.name = r."column"
         ORDER BY seq""")
    con.unregister("rule_meta_py")
    con.unregister("labels_py")


def _finish(con) -> None:
    con.execute(
        """CREATE TABLE rejected AS SELECT DISTINCT e.k AS _k FROM errors e
                    JOIN (SELECT code FROM (VALUES """
        + ", ".join(f"('{r.code}')" for r in R.RULES if r.blocking)
        + """) v(code)) b USING (code) WHERE e.k IS NOT NULL"""
    )
    _messages(con)


def _accepted_sql(source: _Source, extra: str = "") -> str:
    parts = []
    for col in catalogue.store_columns():
        if col.name == "geometrie":
            parts.append(
                "CASE WHEN g.ewkb IS NOT NULL THEN g.ewkb WHEN g.lon IS NOT NULL THEN "
                "'SRID=4326;POINT(' || CAST(g.lon AS VARCHAR) || ' ' || CAST(g.lat AS VARCHAR) || ')' END "
                f"AS {col.store}"
            )
        elif col.name == "idSINPOccTax":
            parts.append(f'COALESCE(s."idSINPOccTax__t", upper(CAST(uuid() AS VARCHAR))) AS {col.store}')
        elif col.composed_from:
            parts.append(f's."_{col.name}" AS {col.store}')
        elif col.type in ("text", "wkt"):
            parts.append(f"s.{R.q(col.name)} AS {col.store}")
        else:
            parts.append(f"s.{R.t(col.name)} AS {col.store}")
    return f"""SELECT {", ".join(parts)}, s._jdd AS id_sinp_jdd, {CONTENT_KEY} AS content_key,
                      {MATCH_KEY} AS match_key, m._rn AS row_number{extra}
                 FROM {source.select()} s JOIN base b USING (_k) JOIN kmap m USING (_k)
                 LEFT JOIN geo g USING (_k)
                WHERE s._k NOT IN (SELECT _k FROM rejected) ORDER BY m._rn"""


def _summarise(con, received: int, started: float) -> dict:
    header_blocked = con.execute('SELECT count(*) FROM errors_out WHERE "row" IS NULL AND blocking').fetchone()[0]
    rejected_rows = con.execute(
        'SELECT count(DISTINCT "row") FROM errors_out WHERE blocking AND "row" IS NOT NULL'
    ).fetchone()[0]
    accepted = 0 if header_blocked else received - rejected_rows
    counts = dict(con.execute("SELECT code, count(*) FROM errors_out GROUP BY code ORDER BY code").fetchall())
    by_column = dict(
        con.execute("""SELECT "column", count(*) FROM errors_out WHERE "column" IS NOT NULL
                                    GROUP BY "column" ORDER BY 2 DESC, 1""").fetchall()
    )
    by_category = dict(con.execute("SELECT category, count(*) FROM errors_out GROUP BY category").fetchall())
    rejected_by_category = dict(
        con.execute("""SELECT category, count(DISTINCT "row") FROM errors_out
                                               WHERE blocking AND "row" IS NOT NULL GROUP BY category""").fetchall()
    )
    total = con.execute("SELECT count(*), count(*) FILTER (WHERE blocking) FROM errors_out").fetchone()
    return {
        "rows_received": received,
        "rows_accepted": accepted,
        "rows_rejected": received - accepted,
        "counts": counts,
        "counts_by_column": by_column,
        "counts_by_category": {k: by_category.get(k, 0) for k in R.CATEGORIES},
        "rows_rejected_by_category": {k: rejected_by_category.get(k, 0) for k in R.CATEGORIES},
        "errors_total": total[0],
        "blocking_total": total[1],
        "warnings_total": total[0] - total[1],
        "duration_s": round(time.perf_counter() - started, 3),
    }
