"""The ORB indicators (#17) computed from the occurrence store, TAXREF and the metadata, kept per edition.

SQLAlchemy Core, no ``import ckan``: the CKAN glue (``logic/indicator_actions.py``) says which JDD
are public and passes the CA/JDD rows it read from CKAN's tables.

- ``sinp_indicator_edition``: one row per edition: ``courante`` (live, recomputed when the data
  changed) or a year ``YYYY`` (frozen once written: its figures never change when later data
  arrives, it is never recomputed), with the fingerprint of the data it was computed from.
- ``sinp_indicator_value``: the values of every indicator of an edition, one row per cell:
  ``annee``, ``departement``, ``groupe`` (GROUP2_INPN) and ``cle`` (the other breakdown: niveau
  de validation, maille, cd_ref, ``producteur:<id>``, ``objectif:<code>``). A NULL breakdown means
  « all »: the regional row of a year has ``departement`` and ``groupe`` NULL; ``annee`` NULL is
  the whole period.

Protection: only the rows the public may see count (occurrences of the **public** JDD whose
public layer is not « aucune »); breakdowns by maille use only rows diffused at the maille or more
precisely (``public_layer <= 2``) and the computed cell ``maille_calc``. A cell holding fewer than
``threshold`` (but some) observations of a sensitive taxon (``sensi_niveau`` 1 to 4) is written
with ``secret`` true and no value: a small count of a sensitive species in a département and a
year would say where it lives.

``compute`` writes an edition in **one transaction** (the previous rows of the edition replaced):
readers see the old figures or the new ones, never a half.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Index, Integer, MetaData, Table, Text, text

from ckanext.sinp.domain import protection

LIVE = "courante"
LICENCE = "Licence Ouverte 2.0"
DEFAULTS = {"seuil_taxons": 50, "periode_annees": 10, "precision_m": 100}
ZONE = "Europe/Paris"  # an edition's year ends at midnight in the region, not in UTC
# the session settings of a computation (SET LOCAL): the grouping sets sort in memory; JIT costs
# seconds of compilation on these statements and saves less; parallel plans cheaper than PostgreSQL
# assumes, so that the selection and the aggregations over it use the second core
SETTINGS = {"work_mem": "256MB", "jit": "off", "parallel_setup_cost": "100", "parallel_tuple_cost": "0.01"}
# the selection every step reads: an unlogged table created and dropped inside the computation's
# transaction (parallel workers cannot scan a temporary table; nobody else ever sees it, and the
# advisory lock lets one computation run at a time)
BASE = "sinp_indicator_base"
# the selection's text columns compare bytewise: they are only grouped, sorted and matched to each
# other, never shown in their order, and PostgreSQL sorts and hashes C-collated text much faster
# (abbreviated keys) than text in the database's libc collation
C = 'COLLATE "C"'

metadata = MetaData()

EDITION = Table(
    "sinp_indicator_edition",
    metadata,
    Column("edition", Text, primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    Column("frozen", Boolean, nullable=False, server_default="false"),
    Column("fingerprint", Text),
    Column("rows", BigInteger),
    comment="Éditions des indicateurs de l'ORB (courante, ou une année figée)",
)

VALUE = Table(
    "sinp_indicator_value",
    metadata,
    Column("edition", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("annee", Integer),
    Column("departement", Text),
    Column("groupe", Text),
    Column("cle", Text),
    Column("libelle", Text),
    Column("valeur", Float),
    Column("effectif", BigInteger),
    Column("secret", Boolean, nullable=False, server_default="false"),
    Index("ix_sinp_indicator_value_edition_code", "edition", "code"),
    comment="Valeurs des indicateurs de l'ORB par édition et ventilation (secret : cellule masquée)",
)

VALIDATED = ("1", "2")  # « certain - très probable », « probable »
# TAXREF ranks of a species or below (taxons: « de rang espèce ou inférieur »)
SPECIES_OR_BELOW = (
    "ES",
    "SMES",
    "SSES",
    "NAT",
    "VAR",
    "SVAR",
    "FO",
    "SSFO",
    "FOES",
    "LIN",
    "CLO",
    "RACE",
    "CAR",
    "MO",
    "AB",
)
PRESENT = "Pr"  # statutObservation « Présent »


class EditionError(ValueError):
    """An edition that cannot be (re)computed; the message is French, for the user."""


def ensure_tables(engine) -> None:
    """Creates the tables (idempotent). When the anonymous page cache's trigger function exists, the
    tables get its trigger too, so that a new edition ends the cached copies of the indicator pages
    (``page_cache.store.ensure_triggers`` covers them at the next ``init-db`` anyway)."""
    metadata.create_all(engine, tables=[EDITION, VALUE])
    with engine.begin() as conn:
        has_notify = conn.execute(text("SELECT to_regproc('sinp_page_cache_notify') IS NOT NULL")).scalar()
        if has_notify:
            for table in (EDITION.name, VALUE.name):
                conn.execute(
                    text(
                        f"CREATE OR REPLACE TRIGGER sinp_page_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION sinp_page_cache_notify()"
                    )
                )


def ready(conn) -> bool:
    return bool(conn.execute(text("SELECT to_regclass('sinp_indicator_value') IS NOT NULL")).scalar())


def parse_edition(edition) -> str:
    """``courante`` or a finished year (text ``YYYY``); anything else is refused in French."""
    value = str(edition).strip() if edition is not None else LIVE
    if value == LIVE:
        return LIVE
    if not (len(value) == 4 and value.isdigit()):
        raise EditionError(f"Édition inconnue : « {value[:40]} » (« {LIVE} » ou une année, par exemple 2024).")
    year = int(value)
    if year < 1900:
        raise EditionError(f"Édition {year} : l'année doit être postérieure à 1900.")
    if year >= dt.date.today().year:
        raise EditionError(
            f"Édition {year} : seule une année terminée peut être figée ; l'édition « {LIVE} » suit l'année en cours."
        )
    return value


# --- the fingerprint of what the live edition is computed from --------------------------------------


def fingerprint(conn, public_package_ids: Iterable[str], metadata_rows: list[dict]) -> str:
    """What moves when an indicator may change: the occurrences (largest id, count, the generation
    moved by every write of ``sinp_occurrence``), the validation history, the public JDD and the
    metadata (latest modification). Cheap: an index lookup and one count."""
    occ = conn.execute(text("SELECT COALESCE(max(id), 0), count(*) FROM sinp_occurrence")).one()
    parts = [str(occ[0]), str(occ[1])]
    if conn.execute(text("SELECT to_regclass('sinp_validation') IS NOT NULL")).scalar():
        parts.append(str(conn.execute(text("SELECT COALESCE(max(id), 0) FROM sinp_validation")).scalar()))
    if conn.execute(text("SELECT to_regclass('sinp_occurrence_generation') IS NOT NULL")).scalar():
        parts.append(str(conn.execute(text("SELECT COALESCE(max(gen), 0) FROM sinp_occurrence_generation")).scalar()))
    modified = max((str(r.get("modified") or "") for r in metadata_rows), default="")
    ids = hashlib.sha256("\n".join(sorted(public_package_ids)).encode()).hexdigest()[:16]
    return ":".join([*parts, modified, ids])


def stored_fingerprint(conn, edition: str = LIVE) -> str | None:
    if not ready(conn):
        return None
    return conn.execute(sa.select(EDITION.c.fingerprint).where(EDITION.c.edition == edition)).scalar()


# --- computation -------------------------------------------------------------------------------------


def _parameters(code: str) -> dict:
    """The declared ``parametres`` of an indicator (schemas/indicators.yaml), over the defaults."""
    try:
        from ckanext.sinp.domain import indicators

        declared = dict(indicators.get(code).parametres or {})
    except Exception:  # the declarations not loadable: the documented defaults
        declared = {}
    return {**DEFAULTS, **declared}


def _regional_eee() -> list[int]:
    """CD_NOM of the loadable regional EEE list (``schemas/referentiels/eee``)."""
    try:
        from ckanext.sinp.domain import indicators

        rows = indicators.eee_list()
    except Exception:
        return []
    out = []
    for row in rows:
        value = row.get("cd_nom") if isinstance(row, dict) else getattr(row, "cd_nom", row)
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return out


def _keep(*dims: str) -> str:
    """Rows of a grouping set kept: a breakdown whose value is unknown (an observation without
    département, a name not attached to TAXREF) counts in the totals only, never as a cell « NULL »
    that would read as « all »."""
    return " AND ".join(f"(GROUPING({d}) = 1 OR {d} IS NOT NULL)" for d in dims)


def compute(
    engine,
    edition: str,
    public_package_ids: Iterable[str],
    metadata_rows: list[dict],
    threshold: int,
    progress: Callable[[str, int, int], None] | None = None,
    eee_cd_noms: Iterable[int] | None = None,
) -> dict:
    """Computes every indicator of ``edition`` (``courante`` or a finished year) set-wise and
    replaces its rows, in one transaction. A year edition already written is frozen: refused
    (``EditionError``). Returns ``{edition, rows, fingerprint, computed_at}``.

    ``metadata_rows``: the public, active CA and JDD (dicts: ``id``, ``type`` ca|jdd,
    ``owner_org``, ``organisation`` (its title), ``objectifs`` [(code, label)], ``created``,
    ``modified``, ``completude`` 0–1). ``progress(step, done, total)`` is called after each step."""
    edition = parse_edition(edition)
    pub = sorted(set(public_package_ids))
    ensure_tables(engine)
    steps = list(_STEPS)
    total = len(steps) + 2

    def tick(name: str, done: int) -> None:
        if progress is not None:
            progress(name, done, total)

    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_indicator_edition'))"))
        for name, value in SETTINGS.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
        frozen = conn.execute(sa.select(EDITION.c.frozen).where(EDITION.c.edition == edition)).scalar()
        if frozen:
            raise EditionError(
                f"L'édition {edition} est figée : ses chiffres ne sont jamais recalculés "
                "(elle reste celle qui a été publiée)."
            )
        fp = fingerprint(conn, pub, metadata_rows)
        if edition == LIVE:
            end_year = conn.execute(text("SELECT extract(year FROM now() AT TIME ZONE :z)::int"), {"z": ZONE}).scalar()
            bounds = "true"
            params: dict = {"pub": pub or [""]}
        else:
            end_year = int(edition)
            # observed up to 31/12/YYYY and deposited up to then (the store of that day)
            bounds = "o.date_debut <= make_date(:y, 12, 31) AND o.created_at < (make_date(:y + 1, 1, 1)::timestamp AT TIME ZONE :z)"
            params = {"pub": pub or [""], "y": end_year, "z": ZONE}
        cutoff = None if edition == LIVE else dt.datetime(end_year + 1, 1, 1, tzinfo=ZoneInfo(ZONE))
        _base(conn, bounds, params, eee_cd_noms)
        tick("sélection", 1)
        for i, (name, step) in enumerate(steps, start=2):
            step(conn, end_year)
            tick(name, i)
        _metadata(conn, pub, metadata_rows, cutoff, params, bounds)
        _write(conn, edition, threshold)
        conn.execute(text(f"DROP TABLE {BASE}"))
        rows = conn.execute(
            text("SELECT count(*) FROM sinp_indicator_value WHERE edition = :e"), {"e": edition}
        ).scalar()
        stmt = sa.dialects.postgresql.insert(EDITION).values(
            edition=edition, frozen=edition != LIVE, fingerprint=fp, rows=rows, computed_at=sa.func.now()
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[EDITION.c.edition],
                set_={
                    "frozen": stmt.excluded.frozen,
                    "fingerprint": stmt.excluded.fingerprint,
                    "rows": stmt.excluded.rows,
                    "computed_at": sa.func.now(),
                },
            )
        )
        computed_at = conn.execute(sa.select(EDITION.c.computed_at).where(EDITION.c.edition == edition)).scalar()
        tick("écriture", total)
    return {"edition": edition, "rows": rows, "fingerprint": fp, "computed_at": computed_at}


def _base(conn, bounds: str, params: dict, eee_cd_noms) -> None:
    """The observations the public may see, read once into the unlogged table ``BASE`` (created and
    dropped in the computation's transaction, so that parallel workers can scan it) with what every
    indicator needs (year, breakdowns, sensitivity, EEE status; the JDD as its position in the
    public list). Writing it costs most of this step (the leader alone inserts the rows); the steps
    then read it in parallel passes (``CREATE TABLE … AS``: an ``INSERT … SELECT`` never runs in
    parallel in PostgreSQL 15)."""
    conn.execute(text("CREATE TEMP TABLE ind_eee_list (cd_nom integer) ON COMMIT DROP"))
    listed = list(eee_cd_noms) if eee_cd_noms is not None else _regional_eee()
    if listed:
        conn.execute(
            text("INSERT INTO ind_eee_list SELECT unnest(CAST(:l AS integer[]))"), {"l": [int(v) for v in listed]}
        )
    has_taxref = conn.execute(text("SELECT to_regclass('sinp_taxref') IS NOT NULL")).scalar()
    # EEE: TAXREF's « introduit envahissant » (FR = J) for metropolitan France, plus the regional list
    taxref_eee = "SELECT cd_ref FROM sinp_taxref WHERE fr = 'J'" if has_taxref else "SELECT NULL::integer WHERE false"
    listed_ref = (
        "SELECT COALESCE(t.cd_ref, l.cd_nom) FROM ind_eee_list l LEFT JOIN sinp_taxref t ON t.cd_nom = l.cd_nom"
        if has_taxref
        else "SELECT cd_nom FROM ind_eee_list"
    )
    conn.execute(
        text(
            f"CREATE TEMP TABLE ind_eee ON COMMIT DROP AS SELECT DISTINCT cd_ref FROM ({taxref_eee} UNION {listed_ref}) AS e(cd_ref) WHERE cd_ref IS NOT NULL"
        )
    )
    # a list of constants rather than the temporary table: the selection stays parallel-safe
    params = {**params, "eee_refs": [r[0] for r in conn.execute(text("SELECT cd_ref FROM ind_eee"))]}
    precision = int(_parameters("part_geometrie_precise")["precision_m"])
    ranks = ", ".join(f"'{r}'" for r in SPECIES_OR_BELOW)
    # the taxon counted by « taxons »: a presence observation of a species or below (else NULL)
    taxon = (
        f"CASE WHEN o.statut_observation = '{PRESENT}' AND tr.rang IN ({ranks}) THEN o.cd_ref END"
        if has_taxref
        else "NULL::integer"
    )
    join = "LEFT JOIN sinp_taxref tr ON tr.cd_nom = o.cd_ref" if has_taxref else ""
    conn.execute(
        text(f"""
        CREATE UNLOGGED TABLE {BASE} AS
        SELECT extract(year FROM o.date_debut)::int AS annee, o.dep {C} AS dep, o.groupe {C} AS groupe, o.cd_ref,
               o.observateur {C} AS observateur, o.owner_org {C} AS owner_org,
               array_position(CAST(:pub AS text[]), o.package_id) AS package_id,
               COALESCE(o.niv_val, '0') {C} AS niv_val,
               CASE WHEN o.public_layer <= {protection.MAILLE} THEN o.maille_calc END {C} AS maille,
               COALESCE(o.sensi_niveau IN ('1', '2', '3', '4'), false) AS sensible,
               (o.geom IS NOT NULL AND COALESCE(o.precision_geometrie, 0) <= {precision}) AS precise,
               (o.created_at AT TIME ZONE '{ZONE}')::date - COALESCE(o.date_fin, o.date_debut) AS delai,
               o.cd_ref = ANY(CAST(:eee_refs AS integer[])) AS eee, {taxon} AS taxon
          FROM sinp_occurrence o {join}
         WHERE o.package_id = ANY(:pub) AND o.public_layer < {protection.AUCUNE} AND o.date_debut IS NOT NULL
           AND {bounds}"""),
        params,
    )
    conn.execute(text(f"ANALYZE {BASE}"))
    conn.execute(
        text("""CREATE TEMP TABLE ind_rows (code text, annee int, departement text, groupe text, cle text,
                                         libelle text, valeur double precision, effectif bigint, sens bigint)
                ON COMMIT DROP""")
    )


# the same cell of the CUBE: a NULL breakdown there is always « all » (unknown values are not
# kept), so coalesced keys and the grouping flags match exactly, with a hash join
_CELL_JOIN = (
    "COALESCE(c.annee, 0) = COALESCE(x.annee, 0) AND COALESCE(c.dep, '') = COALESCE(x.dep, '') "
    "AND COALESCE(c.groupe, '') = COALESCE(x.groupe, '') AND c.ga = x.ga AND c.gd = x.gd AND c.gg = x.gg"
)


def _level_counts(template: str) -> str:
    """One column per validation level (``lv_<code>``: its observations, ``lvs_<code>``: of them,
    those of a sensitive taxon), from ``template`` ({k}: the code, {s}: the sensitive condition,
    {name}: the column)."""
    cols = []
    for k in protection.validation_levels():
        for prefix, cond in (("lv", ""), ("lvs", " AND sensible")):
            name = f"{prefix}_{k}"
            cols.append(f"{template.format(k=k, s=cond, name=name)} AS {name}")
    return ", ".join(cols)


def _cube(conn, end_year: int) -> None:
    """Observations, taxa, producers, JDD, validated and precise shares, deposit delay, for every
    combination of year × département × group (CUBE). Two stages: the rows are first counted per
    finest cell and name, taxon, producer and JDD (one parallel hash aggregation: ``ind_fine``, also
    read by the new taxa), so the distinct counts of the CUBE sort thousands of partial rows instead
    of every observation; the median delay comes from a histogram of delays per finest cell."""
    conn.execute(
        text(f"""
        CREATE TEMP TABLE ind_fine ON COMMIT DROP AS
        SELECT annee, dep, groupe, cd_ref, taxon, owner_org, package_id, count(*) AS n,
               count(*) FILTER (WHERE sensible) AS sens, count(*) FILTER (WHERE niv_val IN ('1', '2')) AS valid,
               count(*) FILTER (WHERE precise) AS precise, {_level_counts("count(*) FILTER (WHERE niv_val = '{k}'{s})")}
          FROM {BASE} GROUP BY annee, dep, groupe, cd_ref, taxon, owner_org, package_id""")
    )
    # the median delay of every cell of the CUBE from a histogram (observations per finest cell and
    # delay in days: one parallel hash aggregation) instead of sorting every observation once per
    # grouping; exact, as percentile_cont(0.5): the mean of the values at ranks ⌊(n−1)/2⌋ and
    # ⌈(n−1)/2⌉. Summing it over the CUBE's cells, département and group are numbered (their position
    # in the lists of values, constants), so that the cells are sorted per cell and delay on integers.
    dims = {
        dim: [r[0] for r in conn.execute(text(f"SELECT DISTINCT {dim} FROM ind_fine WHERE {dim} IS NOT NULL"))]
        for dim in ("dep", "groupe")
    }
    conn.execute(
        text(f"""
        CREATE TEMP TABLE ind_delay_hist ON COMMIT DROP AS
        SELECT annee, dep, groupe, delai, count(*) AS c FROM {BASE} GROUP BY annee, dep, groupe, delai""")
    )
    # the cells kept: a NULL there is then always « all » (grouped), so (annee, d, g) names the cell
    keep = "(ga = 1 OR annee IS NOT NULL) AND (gd = 1 OR d IS NOT NULL) AND (gg = 1 OR g IS NOT NULL)"
    conn.execute(
        text(f"""
        CREATE TEMP TABLE ind_delay ON COMMIT DROP AS
        WITH cells AS (
          SELECT annee, d, g, delai, sum(c)::bigint AS c, GROUPING(annee) AS ga, GROUPING(d) AS gd, GROUPING(g) AS gg
            FROM (SELECT annee, array_position(CAST(:deps AS text[]), dep) AS d,
                         array_position(CAST(:groupes AS text[]), groupe) AS g, delai, c
                    FROM ind_delay_hist) AS h
           GROUP BY CUBE (annee, d, g), delai),
        ranked AS (
          SELECT *, sum(c) FILTER (WHERE delai IS NOT NULL) OVER (cell ORDER BY delai) AS upto,
                 sum(c) FILTER (WHERE delai IS NOT NULL) OVER (cell) AS n
            FROM cells WHERE {keep}
          WINDOW cell AS (PARTITION BY annee, d, g))
        SELECT annee, (CAST(:deps AS text[]))[d] {C} AS dep, (CAST(:groupes AS text[]))[g] {C} AS groupe,
               max(ga) AS ga, max(gd) AS gd, max(gg) AS gg, COALESCE(max(n), 0) AS n_delai,
               ((min(delai) FILTER (WHERE upto > floor((n - 1) / 2.0)))
                + (min(delai) FILTER (WHERE upto > ceil((n - 1) / 2.0)))) / 2.0::double precision AS delai
          FROM ranked GROUP BY annee, d, g"""),
        {"deps": dims["dep"], "groupes": dims["groupe"]},
    )
    conn.execute(
        text(f"""
        CREATE TEMP TABLE ind_cube ON COMMIT DROP AS
        SELECT c.*, x.delai, x.n_delai FROM (
          SELECT annee, dep, groupe, sum(n)::bigint AS n, count(DISTINCT taxon) AS taxa,
                 count(DISTINCT owner_org) AS prod, count(DISTINCT package_id) AS jdd,
                 sum(sens)::bigint AS sens, sum(valid)::bigint AS valid, sum(precise)::bigint AS precise,
                 {_level_counts("sum({name})::bigint")},
                 GROUPING(annee) AS ga, GROUPING(dep) AS gd, GROUPING(groupe) AS gg
            FROM ind_fine GROUP BY CUBE (annee, dep, groupe)) AS c
          JOIN ind_delay x ON {_CELL_JOIN}""")  # the cells kept: those of ind_delay
    )
    for code, valeur, effectif in (
        ("observations", "n", "n"),
        ("taxons", "taxa", "taxa"),
        ("producteurs", "prod", "prod"),
        ("jdd", "jdd", "jdd"),
        ("part_validees", "100.0 * valid / n", "valid"),
        ("part_geometrie_precise", "100.0 * precise / n", "precise"),
        ("delai_depot", "delai", "n_delai"),
    ):
        conn.execute(
            text(f"""INSERT INTO ind_rows (code, annee, departement, groupe, valeur, effectif, sens)
                     SELECT '{code}', annee, dep, groupe, {valeur}, {effectif}, sens FROM ind_cube""")
        )


def _per_cell_of_cube(code: str, select: str) -> str:
    """An aggregate over the CUBE whose sensitive count is the cube's (same cell)."""
    return f"""INSERT INTO ind_rows (code, annee, departement, groupe, valeur, effectif, sens)
               SELECT '{code}', x.annee, x.dep, x.groupe, x.v, x.v, c.sens
                 FROM ({select}) AS x
                 JOIN ind_cube c ON {_CELL_JOIN}"""


def _observers(conn, end_year: int) -> None:
    """Distinct observers: the standard's ``observateur`` lists people separated by commas
    (« NOM Prénom (Organisme), … »); each name counted once, case and spaces aside. Each distinct
    list is split once (thousands of lists for millions of observations) into names numbered once
    (integers, cheaper to sort than names); the distinct lists of each finest cell are read in one
    parallel pass, then joined to their names."""
    conn.execute(
        text(f"""
        CREATE TEMP TABLE ind_observer_cells ON COMMIT DROP AS
        SELECT annee, dep, groupe, observateur FROM {BASE} WHERE observateur IS NOT NULL
         GROUP BY annee, dep, groupe, observateur""")
    )
    conn.execute(
        text("""
        CREATE TEMP TABLE ind_observer_names ON COMMIT DROP AS
        SELECT observateur, dense_rank() OVER (ORDER BY name) AS name_id
          FROM (SELECT DISTINCT l.observateur, lower(trim(n)) AS name
                  FROM (SELECT DISTINCT observateur FROM ind_observer_cells) AS l,
                       regexp_split_to_table(l.observateur, '[,|]') AS n
                 WHERE lower(trim(n)) <> '') AS s""")
    )
    conn.execute(text("ANALYZE ind_observer_cells"))  # a hash join to the names, not two sorts
    select = f"""
        SELECT annee, dep, groupe, count(DISTINCT name_id) AS v,
               GROUPING(annee) AS ga, GROUPING(dep) AS gd, GROUPING(groupe) AS gg
          FROM (SELECT DISTINCT b.annee, b.dep, b.groupe, m.name_id
                  FROM ind_observer_cells AS b
                  JOIN ind_observer_names m ON m.observateur = b.observateur) AS s
         GROUP BY CUBE (annee, dep, groupe) HAVING {_keep("annee", "dep", "groupe")}"""
    conn.execute(text(_per_cell_of_cube("observateurs", select)))


def _new_taxa(conn, end_year: int) -> None:
    """Taxa recorded for the first time (in the region, or in the département) that year: from the
    partial counts of the CUBE (``ind_fine``, per finest cell and name), not from the selection."""
    conn.execute(
        text("""
        CREATE TEMP TABLE ind_first ON COMMIT DROP AS
        SELECT cd_ref, groupe, dep, min(annee) AS annee, GROUPING(dep) AS gd
          FROM ind_fine WHERE cd_ref IS NOT NULL
         GROUP BY GROUPING SETS ((cd_ref, groupe), (cd_ref, groupe, dep))
        HAVING GROUPING(dep) = 1 OR dep IS NOT NULL""")
    )
    select = f"""
        SELECT annee, dep, groupe, count(*) AS v, 0 AS ga, gd, GROUPING(groupe) AS gg
          FROM ind_first
         GROUP BY GROUPING SETS ((annee, dep, gd), (annee, dep, gd, groupe))
        HAVING {_keep("groupe")}"""
    conn.execute(text(_per_cell_of_cube("nouveaux_taxons", select)))


def _coverage(conn, end_year: int) -> None:
    """Mailles 10 km with at least ``seuil_taxons`` taxa observed over the last ``periode_annees``
    years of the edition: one row per maille (taxa), and the share of the region's mailles."""
    p = _parameters("couverture_mailles")
    since = end_year - int(p["periode_annees"]) + 1
    # per maille and taxon first, as CREATE TABLE … AS: the scan of the selection may run in parallel
    # (never under INSERT … SELECT); the temporary table itself is written by the leader alone
    conn.execute(
        text(f"""CREATE TEMP TABLE ind_coverage ON COMMIT DROP AS
                SELECT maille, cd_ref, count(*) AS n, count(*) FILTER (WHERE sensible) AS sens
                  FROM {BASE} WHERE maille IS NOT NULL AND annee BETWEEN :since AND :end
                 GROUP BY maille, cd_ref"""),
        {"since": since, "end": end_year},
    )
    conn.execute(
        text("""INSERT INTO ind_rows (code, cle, libelle, valeur, effectif, sens)
                SELECT 'couverture_mailles', maille, maille, count(cd_ref), sum(n), sum(sens)
                  FROM ind_coverage GROUP BY maille""")
    )
    has_grid = conn.execute(text("SELECT to_regclass('sinp_maille10') IS NOT NULL")).scalar()
    grid = "(SELECT count(*) FROM sinp_maille10)" if has_grid else "0"
    conn.execute(
        text(f"""INSERT INTO ind_rows (code, valeur, effectif, sens)
                 SELECT 'couverture_mailles',
                        100.0 * count(*) FILTER (WHERE valeur >= :seuil)
                              / NULLIF(GREATEST({grid}, count(*)), 0),
                        count(*) FILTER (WHERE valeur >= :seuil), 0
                   FROM ind_rows WHERE code = 'couverture_mailles' AND cle IS NOT NULL"""),
        {"seuil": int(p["seuil_taxons"])},
    )


def _validation_levels(conn, end_year: int) -> None:
    """Share of observations at each validation level (``cle`` = the level's code), from the
    per-level counts of the CUBE; a level's cell is secret by its own sensitive observations."""
    labels = protection.validation_levels()
    for k, label in labels.items():
        conn.execute(
            text(f"""
            INSERT INTO ind_rows (code, annee, departement, groupe, cle, libelle, valeur, effectif, sens)
            SELECT 'part_validees', annee, dep, groupe, :k, :label, 100.0 * lv_{k} / n, lv_{k}, lvs_{k}
              FROM ind_cube WHERE lv_{k} > 0"""),
            {"k": k, "label": label},
        )


def _eee(conn, end_year: int) -> None:
    """Invasive alien taxa: taxa observed, mailles occupied, new mailles (front), first record."""
    # their observations read once from the selection (a few percent of it), then queried below
    conn.execute(text(f"CREATE TEMP TABLE ind_eee_base ON COMMIT DROP AS SELECT * FROM {BASE} WHERE eee"))
    conn.execute(text("ANALYZE ind_eee_base"))
    keep3 = _keep("annee", "dep", "groupe")
    conn.execute(
        text(f"""
        INSERT INTO ind_rows (code, annee, departement, groupe, valeur, effectif, sens)
        SELECT code, annee, dep, groupe, v, v, sens FROM (
          SELECT annee, dep, groupe, count(DISTINCT cd_ref) AS v, count(*) FILTER (WHERE sensible) AS sens,
                 'eee_taxons' AS code
            FROM ind_eee_base GROUP BY CUBE (annee, dep, groupe) HAVING {keep3}
          UNION ALL
          SELECT annee, dep, groupe, count(DISTINCT maille), count(*) FILTER (WHERE sensible), 'eee_mailles'
            FROM ind_eee_base WHERE maille IS NOT NULL GROUP BY CUBE (annee, dep, groupe) HAVING {keep3}
        ) AS x""")
    )
    keep2 = _keep("annee", "dep")
    # per taxon (cle = cd_ref): observations, and mailles occupied
    conn.execute(
        text(f"""
        INSERT INTO ind_rows (code, annee, departement, groupe, cle, valeur, effectif, sens)
        SELECT 'eee_taxons', annee, dep, groupe, cd_ref::text, count(*), count(*), count(*) FILTER (WHERE sensible)
          FROM ind_eee_base GROUP BY cd_ref, groupe, CUBE (annee, dep) HAVING {keep2}
        UNION ALL
        SELECT 'eee_mailles', annee, dep, groupe, cd_ref::text, count(DISTINCT maille), count(*),
               count(*) FILTER (WHERE sensible)
          FROM ind_eee_base WHERE maille IS NOT NULL GROUP BY cd_ref, groupe, CUBE (annee, dep) HAVING {keep2}""")
    )
    # the front: mailles where an EEE (any, or this one) is recorded for the first time that year
    conn.execute(
        text(f"""
        WITH f AS (
          SELECT maille, dep, groupe, cd_ref, min(annee) AS annee, count(*) FILTER (WHERE sensible) AS sens,
                 GROUPING(dep) AS gd, GROUPING(groupe) AS gg, GROUPING(cd_ref) AS gc
            FROM ind_eee_base WHERE maille IS NOT NULL
           GROUP BY GROUPING SETS ((maille), (maille, dep), (maille, groupe), (maille, cd_ref))
          HAVING {_keep("dep", "groupe", "cd_ref")})
        INSERT INTO ind_rows (code, annee, departement, groupe, cle, valeur, effectif, sens)
        SELECT 'eee_front', annee, dep, groupe, cd_ref::text, count(*), count(*), sum(sens)
          FROM f GROUP BY annee, dep, groupe, cd_ref, gd, gg, gc""")
    )
    # first regional record (and first in each département) of each EEE taxon: the year
    conn.execute(
        text("""
        INSERT INTO ind_rows (code, annee, departement, groupe, cle, valeur, effectif, sens)
        SELECT 'eee_premiere_mention', min(annee), dep, NULL, cd_ref::text, min(annee), count(*),
               count(*) FILTER (WHERE sensible)
          FROM ind_eee_base
         GROUP BY GROUPING SETS ((cd_ref), (cd_ref, dep))
        HAVING GROUPING(dep) = 1 OR dep IS NOT NULL""")
    )
    has_taxref = conn.execute(text("SELECT to_regclass('sinp_taxref') IS NOT NULL")).scalar()
    if has_taxref:
        conn.execute(
            text("""UPDATE ind_rows r SET libelle = COALESCE(t.nom_valide, t.lb_nom)
                      FROM sinp_taxref t
                     WHERE r.code LIKE 'eee%' AND r.cle IS NOT NULL AND t.cd_nom = r.cle::int""")
        )


_STEPS = (
    ("observations, taxons, qualité", _cube),
    ("observateurs", _observers),
    ("nouveaux taxons", _new_taxa),
    ("couverture", _coverage),
    ("niveaux de validation", _validation_levels),
    ("espèces exotiques envahissantes", _eee),
)


def _metadata(conn, pub: list[str], metadata_rows: list[dict], cutoff, params: dict, bounds: str) -> None:
    """CA and JDD per producer and objective, share of JDD with deposited data, completeness: from
    the public records the glue read (small: thousands of rows), and one query for the JDD that
    have occurrences."""
    rows = [r for r in metadata_rows if cutoff is None or r.get("created") is None or _aware(r["created"]) <= cutoff]
    with_data = {
        r[0]
        for r in conn.execute(
            text(f"SELECT DISTINCT o.package_id FROM sinp_occurrence o WHERE o.package_id = ANY(:pub) AND {bounds}"),
            params,
        )
    }
    out: list[dict] = []

    def add(code, cle=None, libelle=None, valeur=None, effectif=None):
        out.append({"code": code, "cle": cle, "libelle": libelle, "valeur": valeur, "effectif": effectif})

    jdd = [r for r in rows if r.get("type") == "jdd"]
    ca = [r for r in rows if r.get("type") == "ca"]
    producers: dict[str, str] = {}
    for r in rows:
        if r.get("owner_org"):
            producers.setdefault(r["owner_org"], r.get("organisation") or r["owner_org"])
    # CA and JDD: valeur = JDD, effectif = CA (region, per producer, per objective)
    add("ca_jdd_producteur", None, None, len(jdd), len(ca))
    for org, title in sorted(producers.items(), key=lambda kv: kv[1]):
        n_jdd = sum(1 for r in jdd if r.get("owner_org") == org)
        n_ca = sum(1 for r in ca if r.get("owner_org") == org)
        add("ca_jdd_producteur", f"producteur:{org}", title, n_jdd, n_ca)
    # per objective (each type has its own nomenclature): valeur = effectif = records of that type
    objectives: dict[tuple, list] = defaultdict(lambda: [None, 0])
    for r in rows:
        for code, label in r.get("objectifs") or []:
            entry = objectives[(r.get("type"), code)]
            entry[0] = entry[0] or label or code
            entry[1] += 1
    for (kind, code), (label, n) in sorted(objectives.items()):
        add("ca_jdd_producteur", f"objectif_{kind}:{code}", label, n, n)
    # JDD with deposited data
    deposited = [r for r in jdd if r["id"] in with_data]
    add("part_jdd_deposes", None, None, 100.0 * len(deposited) / len(jdd) if jdd else None, len(deposited))
    for org, title in sorted(producers.items(), key=lambda kv: kv[1]):
        mine = [r for r in jdd if r.get("owner_org") == org]
        if mine:
            n = sum(1 for r in mine if r["id"] in with_data)
            add("part_jdd_deposes", f"producteur:{org}", title, 100.0 * n / len(mine), n)
    # completeness: mean share of the recommended fields filled
    filled = [r for r in rows if r.get("completude") is not None]
    if filled:
        add("completude", None, None, 100.0 * sum(r["completude"] for r in filled) / len(filled), len(filled))
    for kind, label in (("ca", "Cadres d'acquisition"), ("jdd", "Jeux de données")):
        mine = [r for r in filled if r.get("type") == kind]
        if mine:
            add("completude", kind, label, 100.0 * sum(r["completude"] for r in mine) / len(mine), len(mine))
    for org, title in sorted(producers.items(), key=lambda kv: kv[1]):
        mine = [r for r in filled if r.get("owner_org") == org]
        if mine:
            add(
                "completude",
                f"producteur:{org}",
                title,
                100.0 * sum(r["completude"] for r in mine) / len(mine),
                len(mine),
            )
    if out:
        conn.execute(
            text("""INSERT INTO ind_rows (code, cle, libelle, valeur, effectif, sens)
                    SELECT x.code, x.cle, x.libelle, x.valeur, x.effectif, 0
                      FROM json_to_recordset(CAST(:rows AS json))
                           AS x(code text, cle text, libelle text, valeur double precision, effectif bigint)"""),
            {"rows": json.dumps(out)},
        )


def _aware(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _write(conn, edition: str, threshold: int) -> None:
    """The edition's rows replaced by the computed ones; a cell with some but fewer than
    ``threshold`` observations of sensitive taxa is written secret, without value."""
    conn.execute(VALUE.delete().where(VALUE.c.edition == edition))
    conn.execute(
        text("""
        INSERT INTO sinp_indicator_value (edition, code, annee, departement, groupe, cle, libelle, valeur, effectif, secret)
        SELECT :e, code, annee, departement, groupe, cle, libelle,
               CASE WHEN s THEN NULL ELSE valeur END, CASE WHEN s THEN NULL ELSE effectif END, s
          FROM (SELECT *, COALESCE(sens > 0 AND sens < :t, false) AS s FROM ind_rows) AS r"""),
        {"e": edition, "t": int(threshold)},
    )


# --- reading -----------------------------------------------------------------------------------------


FILTERS = ("annee", "departement", "groupe", "cle")


def series(conn, code: str, edition: str = LIVE, filters: dict | None = None) -> list[dict]:
    """The values of one indicator in one edition. ``departement`` and ``groupe`` select a
    breakdown (absent: the regional rows, where they are NULL); ``annee`` and ``cle`` narrow the
    rows (absent: every year — the NULL row is the whole period — and every key)."""
    if not ready(conn):
        return []
    filters = filters or {}
    query = sa.select(
        VALUE.c.annee,
        VALUE.c.departement,
        VALUE.c.groupe,
        VALUE.c.cle,
        VALUE.c.libelle,
        VALUE.c.valeur,
        VALUE.c.effectif,
        VALUE.c.secret,
    ).where(VALUE.c.edition == edition, VALUE.c.code == code)
    for name in ("departement", "groupe"):
        value = filters.get(name)
        column = VALUE.c[name]
        query = query.where(column == value if value not in (None, "") else column.is_(None))
    if filters.get("annee") not in (None, ""):
        query = query.where(VALUE.c.annee == int(filters["annee"]))
    if filters.get("cle") not in (None, ""):
        query = query.where(VALUE.c.cle == str(filters["cle"]))
    query = query.order_by(
        VALUE.c.cle.asc().nulls_first(), VALUE.c.annee.asc().nulls_last(), VALUE.c.libelle.asc().nulls_first()
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def editions(conn) -> list[dict]:
    """The editions computed: ``courante`` first, then the frozen years, newest first."""
    if not ready(conn):
        return []
    rows = conn.execute(
        sa.select(EDITION.c.edition, EDITION.c.computed_at, EDITION.c.frozen, EDITION.c.rows)
    ).mappings()
    out = [dict(r) for r in rows]
    return sorted(out, key=lambda r: (r["edition"] != LIVE, -int(r["edition"]) if r["edition"].isdigit() else 0))


def breakdown_values(conn, edition: str) -> dict:
    """The départements and groups that have rows in an edition (for the filters of a page)."""
    if not ready(conn):
        return {"departement": [], "groupe": []}
    out = {}
    for name in ("departement", "groupe"):
        column = VALUE.c[name]
        out[name] = [
            r[0]
            for r in conn.execute(
                sa.select(column).distinct().where(VALUE.c.edition == edition, column.is_not(None)).order_by(column)
            )
        ]
    return out
