"""The occurrence store in PostgreSQL/PostGIS: deposits, their QC errors, the accepted occurrences.

SQLAlchemy Core + psycopg2, no ``import ckan``: every function takes an Engine or a Connection.

- ``sinp_deposit``: one row per deposited resource (its current deposit): status, progress,
  counts, the QC summary (JSONB), file facts, receipt number and the random token of the
  attestation's URL, depositor, producer.
- ``sinp_qc_error``: every error of a deposit's last check, in report order (never truncated).
- ``sinp_occurrence``: the accepted rows of every deposit, SINP fields, geometry (WGS 84),
  JDD UUID, producer, validation (niv_val \"0\" en attente on arrival), sensitivity fields (filled by
  the sensitivity step).

``integrate`` replaces a deposit's occurrences and errors and writes its outcome in **one
transaction**: all accepted rows or none; a process killed in the middle leaves the previous
state (PostgreSQL rolls the transaction back).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Float, Index, MetaData, Table, Text, Time, text
from sqlalchemy.dialects.postgresql import JSONB

from ckanext.sinp.domain import protection
from ckanext.sinp.domain.occtax import columns as catalogue
from ckanext.sinp.occurrences import protection_store
from ckanext.sinp.occurrences.protection_store import cell_polygon_sql, scope_sql
from ckanext.sinp.referentials.common import copy_line, dbapi_cursor

metadata = MetaData()

_SQL_TYPES = {
    "text": Text,
    "wkt": Text,
    "uuid": Text,
    "date": Date,
    "time": Time,
    "integer": BigInteger,
    "decimal": Float,
    "code": Text,
    "url": Text,
}

DEPOSIT = Table(
    "sinp_deposit",
    metadata,
    Column("resource_id", Text, primary_key=True),
    Column("package_id", Text, nullable=False, index=True),
    Column("jdd_uuid", Text),
    Column("owner_org", Text),
    Column("producer", Text),
    Column("depositor", Text),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("progress", Float, nullable=False, server_default="0"),
    Column("stage", Text),
    Column("rows_received", BigInteger),
    Column("rows_accepted", BigInteger),
    Column("rows_rejected", BigInteger),
    Column("summary", JSONB),
    Column("stats", JSONB),
    Column("file_name", Text),
    Column("file_size", BigInteger),
    Column("sha256", Text),
    Column("receipt_number", Text, unique=True),
    Column("receipt_token", Text),  # the attestation's URL: random, not guessable (receipt_token())
    Column("error_message", Text),
    Column("queued_at", DateTime(timezone=True), server_default=sa.func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_sinp_deposit_receipt_token", "receipt_token", unique=True),
    comment="Dépôts de données d'occurrences (un par ressource) et leur contrôle",
)

QC_ERROR = Table(
    "sinp_qc_error",
    metadata,
    Column("resource_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("row", BigInteger),
    Column("column", Text),
    Column("code", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("blocking", Boolean, nullable=False),
    Column("message", Text, nullable=False),
    Column("value", Text),
    Index("ix_sinp_qc_error_resource_seq", "resource_id", "seq", unique=True),
    Index("ix_sinp_qc_error_resource_code", "resource_id", "code"),
    comment="Erreurs du dernier contrôle de chaque dépôt",
)


def _occurrence_columns():
    cols = [
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("resource_id", Text, nullable=False),
        Column("package_id", Text, nullable=False),
        Column("owner_org", Text),
    ]
    for col in catalogue.store_columns():
        if col.name == "geometrie":
            continue  # added as PostGIS geometry by ensure_tables
        cols.append(Column(col.store, _SQL_TYPES[col.type], nullable=col.name != "idSINPOccTax"))
    cols += [
        Column("id_sinp_jdd", Text),
        Column("content_key", Text),
        Column("match_key", Text),  # content key without the location (D2 against blurred data)
        Column("row_number", BigInteger),
        Column("sensi_niveau", Text),
        Column("sensi_date_attribution", DateTime(timezone=True)),
        Column("sensi_referentiel", Text),
        Column("sensi_version_referentiel", Text),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]
    return cols


OCCURRENCE = Table(
    "sinp_occurrence",
    metadata,
    *_occurrence_columns(),
    # each index is paid for at integration (≈ 1 s per million rows to build, several times that to
    # maintain row by row): only those a query uses — replace/delete, search and stats, duplicates
    Index("ix_sinp_occurrence_resource", "resource_id"),
    Index("ix_sinp_occurrence_package", "package_id"),
    Index("ix_sinp_occurrence_cd_nom", "cd_nom"),
    Index("ix_sinp_occurrence_uuid", "id_sinp_occtax", unique=True),
    Index("ix_sinp_occurrence_origin", "owner_org", "id_origine"),
    Index("ix_sinp_occurrence_content", "content_key"),
    comment="Occurrences de taxons acceptées (standard v2.0), une ligne par observation",
)

GEOM_COLUMN = "geom"


def ensure_tables(engine) -> None:
    """Creates the tables (idempotent) and the PostGIS geometry column with its index."""
    metadata.create_all(engine, tables=[DEPOSIT, QC_ERROR, OCCURRENCE])
    with engine.begin() as conn:
        conn.execute(
            text(f"ALTER TABLE sinp_occurrence ADD COLUMN IF NOT EXISTS {GEOM_COLUMN} geometry(Geometry, 4326)")
        )
        conn.execute(
            text(f"CREATE INDEX IF NOT EXISTS ix_sinp_occurrence_geom ON sinp_occurrence USING gist ({GEOM_COLUMN})")
        )
        # tables created before the index set above
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sinp_occurrence_package ON sinp_occurrence (package_id)"))
        conn.execute(text("DROP INDEX IF EXISTS ix_sinp_occurrence_jdd, ix_sinp_occurrence_dates"))
        conn.execute(text("ALTER TABLE sinp_occurrence ADD COLUMN IF NOT EXISTS match_key text"))
    protection_store.ensure_tables(engine)
    ensure_receipt_tokens(engine)
    with engine.begin() as conn:
        # D2 compares the location-free key only with rows the public sees blurred (layers 1–3)
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_sinp_occurrence_match ON sinp_occurrence (match_key) "
                "WHERE public_layer BETWEEN 1 AND 3"
            )
        )


# --- deposits --------------------------------------------------------------------------------------


def queue_deposit(conn, resource_id: str, package_id: str, **values) -> None:
    """(Re)sets a deposit to "pending" (a new file or a re-run); earlier results stay until the
    new check integrates."""
    row = {
        "resource_id": resource_id,
        "package_id": package_id,
        "status": "pending",
        "progress": 0.0,
        "stage": "En attente",
        "error_message": None,
        "started_at": None,
        "finished_at": None,
        **values,
    }
    stmt = sa.dialects.postgresql.insert(DEPOSIT).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[DEPOSIT.c.resource_id],
            set_={k: stmt.excluded[k] for k in row if k != "resource_id"} | {"queued_at": sa.func.now()},
        )
    )


def update_progress(engine, resource_id: str, progress: float, stage: str, status: str = "running") -> None:
    with engine.begin() as conn:
        values = {"progress": progress, "stage": stage, "status": status}
        if status == "running" and progress == 0:
            values["started_at"] = sa.func.now()
        conn.execute(DEPOSIT.update().where(DEPOSIT.c.resource_id == resource_id).values(**values))


def set_status(conn, resource_id: str, status: str, stage: str, message: str | None = None) -> None:
    """Sets what the producer sees of a deposit whose check was interrupted (in the caller's
    transaction): back to « en attente » (progress 0), or « interrompu » with ``message``."""
    values = {"status": status, "stage": stage, "error_message": message}
    if status == "pending":
        values |= {"progress": 0.0, "started_at": None}
    else:
        values["finished_at"] = sa.func.now()
    conn.execute(DEPOSIT.update().where(DEPOSIT.c.resource_id == resource_id).values(**values))


def fail(engine, resource_id: str, message: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            DEPOSIT.update()
            .where(DEPOSIT.c.resource_id == resource_id)
            .values(status="error", error_message=message, finished_at=sa.func.now(), stage="Échec")
        )


def get_deposit(conn, resource_id: str) -> dict | None:
    row = conn.execute(sa.select(DEPOSIT).where(DEPOSIT.c.resource_id == resource_id)).mappings().first()
    return dict(row) if row else None


def get_deposit_by_receipt_token(conn, token: str) -> dict | None:
    """The deposit whose attestation URL carries ``token`` (None for an unknown token)."""
    if not isinstance(token, str) or not token or "\x00" in token:
        return None
    row = conn.execute(sa.select(DEPOSIT).where(DEPOSIT.c.receipt_token == token)).mappings().first()
    return dict(row) if row else None


def receipt_token() -> str:
    """A new attestation token: 128 random bits, URL-safe (the sequential receipt number stays in
    the attestation itself; its URL cannot be guessed from it)."""
    return secrets.token_urlsafe(16)


def ensure_receipt_tokens(engine) -> int:
    """Deposits stored before attestation tokens existed get the column, its unique index and a
    token each (idempotent; returns how many were given one)."""
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE sinp_deposit ADD COLUMN IF NOT EXISTS receipt_token text"))
        conn.execute(
            text("CREATE UNIQUE INDEX IF NOT EXISTS ix_sinp_deposit_receipt_token ON sinp_deposit (receipt_token)")
        )
        missing = [
            r[0]
            for r in conn.execute(
                sa.select(DEPOSIT.c.resource_id).where(
                    DEPOSIT.c.receipt_number.is_not(None), DEPOSIT.c.receipt_token.is_(None)
                )
            )
        ]
        for resource_id in missing:
            conn.execute(
                DEPOSIT.update().where(DEPOSIT.c.resource_id == resource_id).values(receipt_token=receipt_token())
            )
    return len(missing)


def errors_page(
    conn,
    resource_id: str,
    offset: int = 0,
    limit: int = 100,
    code: str | None = None,
    column: str | None = None,
    category: str | None = None,
) -> tuple[list[dict], int]:
    query = sa.select(
        QC_ERROR.c.row,
        QC_ERROR.c.column,
        QC_ERROR.c.code,
        QC_ERROR.c.category,
        QC_ERROR.c.message,
        QC_ERROR.c.value,
        QC_ERROR.c.blocking,
    ).where(QC_ERROR.c.resource_id == resource_id)
    count = sa.select(sa.func.count()).select_from(QC_ERROR).where(QC_ERROR.c.resource_id == resource_id)
    for col, value in ((QC_ERROR.c.code, code), (QC_ERROR.c.column, column), (QC_ERROR.c.category, category)):
        if value:
            query = query.where(col == value)
            count = count.where(col == value)
    rows = conn.execute(query.order_by(QC_ERROR.c.seq).offset(offset).limit(limit)).mappings().all()
    return [dict(r) for r in rows], conn.execute(count).scalar()


def next_receipt_number(conn, year: int) -> str:
    """SINP-BFC-<year>-<6 digits>, from a PostgreSQL sequence (unique, never reused)."""
    conn.execute(text("CREATE SEQUENCE IF NOT EXISTS sinp_receipt_seq"))
    n = conn.execute(text("SELECT nextval('sinp_receipt_seq')")).scalar()
    return f"SINP-BFC-{year}-{n:06d}"


# --- integration -----------------------------------------------------------------------------------


def _copy(conn, table: str, columns: list[str], source, options: str = "FORMAT csv, HEADER true") -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    with dbapi_cursor(conn) as cur:
        cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN WITH ({options})", source, size=COPY_CHUNK)


COPY_CHUNK = 1 << 20  # bytes per read of the file sent to COPY (psycopg2 reads 8 KiB at a time by default)
# the integration's own session settings (SET LOCAL: this transaction only). The INSERT … SELECT joins
# a deposit with the rules in memory instead of sorting on disk (4 MB by default); JIT compilation
# costs 1–4 s on this one statement and saves less than that.
INTEGRATION_SETTINGS = {"work_mem": "256MB", "jit": "off"}


ROW_CONSTANTS = ("resource_id", "package_id", "owner_org")


def integrate(
    engine,
    resource_id: str,
    accepted_csv,
    errors_csv,
    outcome: dict,
    auto_criteria: tuple[str, ...] = (),
    auto_level: str = protection.DEFAULT_AUTO_LEVEL,
    also=None,
) -> int:
    """Replaces the deposit's occurrences and errors with the new ones and records ``outcome``
    (columns of sinp_deposit), in one transaction. Returns the number of occurrences written.
    ``also(conn)``, when given, writes more in the same transaction (the follow-up tasks).

    ``accepted_csv`` has a header naming sinp_occurrence columns, ``resource_id``, ``package_id``
    and ``owner_org`` included (``engine.Result.write_accepted_csv(path, constants)``): it is
    COPied straight into the table."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": resource_id})
        deposit = get_deposit(conn, resource_id)
        if deposit is None:
            raise LookupError(resource_id)
        for name, value in INTEGRATION_SETTINGS.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
        conn.execute(OCCURRENCE.delete().where(OCCURRENCE.c.resource_id == resource_id))
        conn.execute(QC_ERROR.delete().where(QC_ERROR.c.resource_id == resource_id))
        # the accepted rows land in a temporary table without indexes, where protection computes
        # what it derives from them (attachment, sensitivity, diffusion layer, pre-validation) in one
        # set-wise statement; then one INSERT writes them, with every index, into the store
        conn.execute(text("CREATE TEMP TABLE sinp_staging (LIKE sinp_occurrence INCLUDING DEFAULTS) ON COMMIT DROP"))
        with open(accepted_csv, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
            if not set(ROW_CONSTANTS) <= set(header):
                raise ValueError(f"{accepted_csv}: columns {', '.join(ROW_CONSTANTS)} are required")
            fh.seek(0)
            _copy(conn, "sinp_staging", header, fh)
        stray = conn.execute(
            text("SELECT count(*) FROM sinp_staging WHERE resource_id <> :r OR package_id <> :p"),
            {"r": resource_id, "p": deposit["package_id"]},
        ).scalar()
        if stray:
            raise ValueError(f"{accepted_csv}: rows of another deposit or package")
        written = protection_store.insert_computed(conn, "sinp_staging", resource_id, auto_criteria, auto_level)
        with open(errors_csv, encoding="utf-8", newline="") as fh:
            _copy(
                conn,
                "sinp_qc_error",
                ["resource_id", "seq", "row", "column", "code", "category", "blocking", "message", "value"],
                fh,
            )
        values = dict(outcome)
        values.setdefault("finished_at", dt.datetime.now(dt.timezone.utc))
        if not deposit.get("receipt_number"):
            values["receipt_number"] = next_receipt_number(conn, dt.date.today().year)
        if not deposit.get("receipt_token"):
            values["receipt_token"] = receipt_token()
        conn.execute(DEPOSIT.update().where(DEPOSIT.c.resource_id == resource_id).values(**values))
        if also is not None:
            also(conn)
        return written


def delete_deposit(conn, resource_id: str) -> None:
    """Removes a resource's occurrences, errors and deposit (in the caller's transaction)."""
    conn.execute(OCCURRENCE.delete().where(OCCURRENCE.c.resource_id == resource_id))
    conn.execute(QC_ERROR.delete().where(QC_ERROR.c.resource_id == resource_id))
    conn.execute(DEPOSIT.delete().where(DEPOSIT.c.resource_id == resource_id))


def delete_package(conn, package_id: str) -> None:
    ids = [r[0] for r in conn.execute(sa.select(DEPOSIT.c.resource_id).where(DEPOSIT.c.package_id == package_id))]
    conn.execute(OCCURRENCE.delete().where(OCCURRENCE.c.package_id == package_id))
    for resource_id in ids:
        delete_deposit(conn, resource_id)


# --- the store as the duplicate rules see it ---------------------------------------------------------


class DuplicateLookup:
    """engine.Store on PostgreSQL, excluding the deposit being checked (a re-run or a replaced file
    does not collide with its own previous rows).

    ``access`` is what the depositor may see (``Access``): precisely (the deposit's producer, a
    chef de file's scope, everything for a sysadmin) and blurred (``public_package_ids``: the
    published active JDD). Exact D2 matches, with the JDD's title, are looked up among the rows
    seen precisely only; ``probable_duplicates`` compares the others at their public layer and
    says only which candidate rows match (see ``engine.Store``). Without ``access``: the deposit's
    producer only, no comparison with other producers."""

    def __init__(
        self, engine, resource_id: str, owner_org: str | None, titles: dict | None = None, access: Access | None = None
    ):
        self.engine, self.resource_id, self.owner_org = engine, resource_id, owner_org
        self.titles = titles or {}
        self.access = access if access is not None else Access(orgs=[owner_org] if owner_org else [])

    def _matching(self, column: str, values: list[str], extra: str = "", params: dict | None = None) -> list:
        if not values:
            return []
        with self.engine.begin() as conn:
            conn.execute(text("CREATE TEMP TABLE sinp_lookup (v text) ON COMMIT DROP"))
            _copy(conn, "sinp_lookup", ["v"], io.StringIO("".join(copy_line((v,)) for v in values)), "FORMAT text")
            return conn.execute(
                text(f"""SELECT DISTINCT o.{column}, o.package_id FROM sinp_occurrence o
                                          JOIN sinp_lookup l ON l.v = o.{column}
                                         WHERE o.resource_id <> :r {extra}"""),
                {"r": self.resource_id, **(params or {})},
            ).all()

    def existing_uuids(self, uuids: list[str]) -> set[str]:
        return {r[0] for r in self._matching("id_sinp_occtax", uuids)}

    def existing_origin_ids(self, ids: list[str]) -> set[str]:
        if not self.owner_org:
            return set()
        return {r[0] for r in self._matching("id_origine", ids, "AND o.owner_org = :org", {"org": self.owner_org})}

    def existing_content_keys(self, keys: list[str]) -> dict[str, str]:
        """Exact matches among the rows the depositor sees precisely: key → where (the JDD)."""
        params: dict = {}
        full = self.access.full_sql(params)
        out = {}
        for key, package_id in self._matching("content_key", keys, f"AND COALESCE({full}, false)", params):
            out.setdefault(key, self.titles.get(package_id, f"le jeu de données {package_id}"))
        return out

    def probable_duplicates(self, candidates_csv: str) -> set[int]:
        """The candidate rows matching a row of another producer that the depositor may see, at the
        granularity the public sees it (one statement; the blurred rows through a partial index)."""
        if not self.access.public_package_ids:
            return set()
        params: dict = {"r": self.resource_id, "pub": list(self.access.public_package_ids)}
        full = self.access.full_sql(params)
        visible = f"o.resource_id <> :r AND o.package_id = ANY(:pub) AND NOT COALESCE({full}, false)"
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TEMP TABLE sinp_d2_candidate (k bigint, content_key text, match_key text, "
                    "geom text) ON COMMIT DROP"
                )
            )
            with open(candidates_csv, encoding="utf-8", newline="") as fh:
                _copy(conn, "sinp_d2_candidate", ["k", "content_key", "match_key", "geom"], fh)
            conn.execute(text("ANALYZE sinp_d2_candidate"))
            rows = conn.execute(
                text(f"""
                SELECT c.k FROM sinp_d2_candidate c JOIN sinp_occurrence o ON o.content_key = c.content_key
                 WHERE o.public_layer = {protection.PRECISE} AND {visible}
                UNION
                SELECT c.k FROM sinp_d2_candidate c JOIN sinp_occurrence o ON o.match_key = c.match_key
                 WHERE o.public_layer BETWEEN {protection.COMMUNE} AND {protection.DEPARTEMENT} AND {visible}
                   AND (o.public_layer = {protection.DEPARTEMENT} OR o.maille_calc IS NULL
                        OR ST_Intersects({cell_polygon_sql("o.maille_calc")}, c.geom::geometry))"""),
                params,
            )
            return {r[0] for r in rows}


def occurrence_stats(conn, access: Access, package_id: str) -> dict:
    """Extent, dates, taxa and counts of a JDD's occurrences as ``access`` sees them (metadata from
    data): a blurred observation counts with its blurred geometry, a hidden one not at all."""
    sql, params = blurred(conn, access, package_ids=[package_id])
    row = conn.execute(
        text(f"""SELECT count(*), min(date_debut), max(date_fin), count(DISTINCT cd_nom),
                                      ST_XMin(ST_Extent(out_geom)), ST_YMin(ST_Extent(out_geom)),
                                      ST_XMax(ST_Extent(out_geom)), ST_YMax(ST_Extent(out_geom)),
                                      count(*) FILTER (WHERE layer > 0), count(*) FILTER (WHERE layer >= 3),
                                      count(*) FILTER (WHERE sensi_niveau IS NOT NULL AND sensi_niveau <> '0'),
                                      count(*) FILTER (WHERE sensi_alerte IS NOT NULL AND full_access)
                                 FROM ({sql}) AS b"""),
        params,
    ).first()
    out = {
        "count": row[0],
        "date_min": row[1].isoformat() if row[1] else None,
        "date_max": row[2].isoformat() if row[2] else None,
        "taxa": row[3],
        "bbox": [round(v, 6) for v in row[4:8]] if row[4] is not None else None,
        "blurred": row[8],
        "coarse": row[9],
        "sensitive": row[10],
        "alerts": row[11],
    }
    groups = conn.execute(
        text(f"""SELECT COALESCE(groupe, 'Non rattaché à TAXREF') AS g, count(*)
                                    FROM ({sql}) AS b GROUP BY 1 ORDER BY 2 DESC, 1"""),
        params,
    ).all()
    levels = conn.execute(text(f"SELECT niv_val, count(*) FROM ({sql}) AS b GROUP BY 1 ORDER BY 1"), params).all()
    out["groups"] = [{"group": g, "count": n} for g, n in groups]
    out["validation"] = [{"code": c, "label": protection.validation_label(c), "count": n} for c, n in levels]
    return out


def published_count(conn, package_ids: list[str]) -> int:
    """How many occurrences of these (published) JDD the public may see: all but the hidden ones
    (``public_layer`` 4, as in ``blurred``)."""
    if not package_ids:
        return 0
    return conn.execute(
        text("SELECT count(*) FROM sinp_occurrence WHERE package_id = ANY(:p) AND public_layer < 4"),
        {"p": list(package_ids)},
    ).scalar()


def public_extent(conn, package_id: str) -> list[float] | None:
    """The extent the public may know of a JDD's occurrences: blurred geometries; when some are only
    diffused at the département (or not at all), the territory's extent is included."""
    sql, params = blurred(conn, Access(public_package_ids=[package_id]), package_ids=[package_id])
    row = conn.execute(
        text(f"""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                                  FROM (SELECT ST_Extent(out_geom) AS e FROM ({sql}) AS b) AS x"""),
        params,
    ).first()
    boxes = [[round(v, 6) for v in row]] if row and row[0] is not None else []
    hidden = conn.execute(
        text("SELECT count(*) FROM sinp_occurrence WHERE package_id = :p AND public_layer >= 3"), {"p": package_id}
    ).scalar()
    extent = protection_store.territory_extent(conn) if hidden else None
    if extent is not None:
        boxes.append([round(v, 6) for v in extent])
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def widened_extent(conn, package_id: str, current: list[float] | None) -> list[float] | None:
    """The extent a JDD must publish instead of ``current`` (ouest, sud, est, nord) so that it is
    never narrower than the blurred areas of its occurrences; None when ``current`` is fine."""
    exists = conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM sinp_occurrence WHERE package_id = :p AND public_layer > 0)"),
        {"p": package_id},
    ).scalar()
    extent = public_extent(conn, package_id) if exists else None
    if not extent:
        return None
    if current is None:
        return extent
    wanted = [
        min(current[0], extent[0]),
        min(current[1], extent[1]),
        max(current[2], extent[2]),
        max(current[3], extent[3]),
    ]
    return wanted if any(abs(a - b) > 1e-9 for a, b in zip(current, wanted)) else None


class Access:
    """Who reads the store: ``full`` (sysadmin), the organisations whose occurrences the caller
    sees precisely (members of the producer), the chef de file scopes, and the packages whose
    occurrences are public (published JDD: everyone gets their public layer)."""

    def __init__(self, *, full: bool = False, orgs=(), scopes=(), public_package_ids=(), scope_package_ids=()):
        self.full, self.orgs, self.scopes = full, list(orgs), list(scopes)
        self.public_package_ids = list(public_package_ids)
        self.scope_package_ids = list(scope_package_ids)  # active JDD: a chef de file never reads drafts

    @property
    def sees_some_precisely(self) -> bool:
        """Whether some occurrences may be seen precisely (sysadmin, member, chef de file)."""
        return self.full or bool(self.orgs) or bool(self.scopes)

    def _own(self, params: dict, column: str) -> str:
        params["acc_orgs"] = self.orgs or [""]
        return f"{column} = ANY(:acc_orgs)"

    def _in_scope_jdd(self, params: dict, column: str) -> str:
        params["acc_scope_pids"] = self.scope_package_ids or [""]
        return f"{column} = ANY(:acc_scope_pids)"

    def full_sql(self, params: dict, prefix: str = "o.") -> str:
        """The occurrences (columns ``owner_org``, ``package_id``, ``groupe``, ``dep`` under ``prefix``)
        the caller sees precisely: its organisations' own, and in a chef de file's active JDD those of
        its scope (group × département)."""
        if self.full:
            return "true"
        return (
            f"({self._own(params, prefix + 'owner_org')} OR ({self._in_scope_jdd(params, prefix + 'package_id')} AND "
            f"{scope_sql(self.scopes, params, prefix)}))"
        )

    def jdd_sql(self, params: dict, prefix: str = "") -> str:
        """The JDD (columns ``id``, ``owner_org`` under ``prefix``) of which ``full_sql`` may let the
        caller see some occurrences precisely: the JDD-level part of the same rule."""
        if self.full:
            return "true"
        return f"({self._own(params, prefix + 'owner_org')} OR {self._in_scope_jdd(params, prefix + 'id')})"


def blurred(
    conn,
    access: Access,
    *,
    package_ids: list[str] | None,
    bbox=None,
    polygon_wkt: str | None = None,
    cd_nom=None,
    date_min=None,
    date_max=None,
    where: str = "",
    extra: dict | None = None,
) -> tuple[str, dict]:
    """The SQL of the occurrences ``access`` may see, each with ``layer`` (what the caller gets)
    and ``out_geom`` (the geometry at that layer: precise, the 10 km cell, or none). Spatial
    filters apply to ``out_geom``: a blurred observation is found by its blurred area only."""
    params: dict = dict(extra or {})
    conds = []
    if package_ids is not None:
        conds.append("o.package_id = ANY(:pids)")
        params["pids"] = list(package_ids)
    full = access.full_sql(params)
    params["pub"] = access.public_package_ids or [""]
    if cd_nom is not None:
        conds.append("o.cd_nom = :cd_nom")
        params["cd_nom"] = cd_nom
    if date_min:
        conds.append("o.date_fin >= :date_min")
        params["date_min"] = date_min
    if date_max:
        conds.append("o.date_debut <= :date_max")
        params["date_max"] = date_max
    spatial = []
    if bbox:
        params.update(dict(zip(("w", "s", "e", "n"), bbox)))
        # the index finds candidates (a 10 km cell lies within 0.2° of its points), the blurred
        # geometry decides
        conds.append("o.geom && ST_Expand(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 0.2)")
        spatial.append("ST_Intersects(out_geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))")
    if polygon_wkt:
        params["poly"] = polygon_wkt
        conds.append("o.geom && ST_Expand(ST_GeomFromText(:poly, 4326), 0.2)")
        spatial.append("ST_Intersects(out_geom, ST_GeomFromText(:poly, 4326))")
    if where:
        conds.append(where)
    sql = f"""
        SELECT * FROM (
          SELECT v.*, CASE v.layer WHEN 0 THEN v.geom WHEN 1 THEN v.cell WHEN 2 THEN v.cell END AS out_geom
            FROM (SELECT o.*, CASE WHEN {full} THEN 0 ELSE o.public_layer END AS layer,
                         {full} AS full_access,
                         CASE WHEN o.maille_calc IS NOT NULL THEN {cell_polygon_sql("o.maille_calc")} END AS cell
                    FROM sinp_occurrence o
                   WHERE {" AND ".join(conds) or "true"}) AS v
           WHERE v.full_access OR (v.package_id = ANY(:pub) AND v.public_layer < 4)) AS b
         WHERE {" AND ".join(spatial) or "true"}"""
    return sql, params


def search(
    conn,
    access: Access,
    *,
    package_ids: list[str] | None,
    bbox=None,
    polygon_wkt=None,
    cd_nom=None,
    date_min=None,
    date_max=None,
    limit: int = 100,
    offset: int = 0,
    where: str = "",
    extra: dict | None = None,
) -> tuple[int, list[dict]]:
    """Occurrences matching the filters as ``access`` may see them: (total, rows with ``layer``
    and ``geojson``, the geometry at that layer); ``where``/``extra`` as in ``blurred``."""
    sql, params = blurred(
        conn,
        access,
        package_ids=package_ids,
        bbox=bbox,
        polygon_wkt=polygon_wkt,
        cd_nom=cd_nom,
        date_min=date_min,
        date_max=date_max,
        where=where,
        extra=extra,
    )
    total = conn.execute(text(f"SELECT count(*) FROM ({sql}) AS q"), params).scalar()
    rows = (
        conn.execute(
            text(
                f"SELECT q.*, ST_AsGeoJSON(q.out_geom, 7) AS geojson FROM ({sql}) AS q "
                "ORDER BY q.id LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": limit, "offset": offset},
        )
        .mappings()
        .all()
    )
    return total, [dict(r) for r in rows]


def to_feature(row: dict) -> dict:
    """A row of ``search`` as a GeoJSON Feature whose properties use the standard's names, with
    what the caller's layer hides removed (set to null)."""
    layer = row.get("layer", protection.AUCUNE)
    hidden = protection.hidden_fields(layer)
    props = {}
    for col in catalogue.store_columns():
        if col.name == "geometrie":
            continue
        value = row.get(col.store)
        if isinstance(value, (dt.date, dt.time)):
            value = value.isoformat()
        props[col.name] = None if col.name in hidden else value
    if layer <= protection.MAILLE and not props.get("codeMaille"):
        props["codeMaille"] = row.get("maille_calc")
    if layer <= protection.DEPARTEMENT:
        props["codeDepartement"] = props.get("codeDepartement") or row.get("dep")
    props["idSINPJdd"] = row.get("id_sinp_jdd")
    props["nivVal"] = row.get("niv_val")
    props["statutValidation"] = protection.validation_label(row.get("niv_val"))
    props["typVal"] = row.get("typ_val")
    props["echVal"] = row.get("ech_val")
    props["validateur"] = row.get("validateur")
    props["dateCtrl"] = row["date_ctrl"].isoformat() if row.get("date_ctrl") else None
    props["sensiNiveau"] = row.get("sensi_niveau")
    props["sensiDateAttribution"] = (
        row["sensi_date_attribution"].date().isoformat() if row.get("sensi_date_attribution") else None
    )
    props["sensiReferentiel"] = row.get("sensi_referentiel")
    props["sensiVersionReferentiel"] = row.get("sensi_version_referentiel")
    if row.get("full_access"):
        props["sensiAlerte"] = row.get("sensi_alerte")
    else:
        props["dEEFloutage"] = "OUI" if layer > protection.PRECISE else "NON"
    props["niveauDiffusion"] = protection.LAYER_CODES[layer]
    geometry = json.loads(row["geojson"]) if row.get("geojson") else None
    return {"type": "Feature", "id": props.get("idSINPOccTax"), "geometry": geometry, "properties": props}
