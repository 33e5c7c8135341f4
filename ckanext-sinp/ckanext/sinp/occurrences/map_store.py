"""What the géo-visualiseur and the data flows show: observation counts per 10 km cell, commune and
département, computed once per change of the data, never by scanning the occurrence table on a request.

Two stages:

1. ``sinp_carte_agg`` counts the observations per (JDD, diffusion layer, sensitivity flag, validation
   level, maille, commune, département, taxon, group, year), and ``sinp_carte_mois`` per (JDD, layer,
   taxon, month). Statement triggers on ``sinp_occurrence`` add what an INSERT brings and subtract what a
   DELETE takes (an UPDATE does both), with the transition tables, in the writing transaction: every
   write path (deposit, replacement, validation, sensitivity recomputation, deletion) keeps them exact,
   and a rolled-back deposit leaves them as they were. Unknown values are ``''`` (text) and ``0`` (int).
2. ``sinp_carte_public*`` are the public roll-ups (per cell over every published JDD, each published
   JDD's footprint, the territory), read by the unfiltered map and by the map server through the views
   of the ``sinp_flux`` schema. Every change of the counts or of CKAN's ``package`` table moves the
   sequence ``sinp_carte_change_seq``; ``refresh_public`` recomputes the roll-ups (from the counts, not
   from the occurrences) when it moved, in one transaction (readers see the old roll-ups until it
   commits). The scheduler runs it every ``ckanext.sinp.scheduler.carte_every`` seconds; a filtered or
   stale query is answered from the counts directly.

What a level may show is the diffusion decided by protection: an observation counts per maille when its
public layer is at most « maille » (2), per commune at most « commune » (1), per département at most
« département » (3); never when it is « aucune diffusion » (4), never when its JDD is not published
(private, draft or deleted: ``PUBLISHED_JDD_SQL``, the rule of ``logic.access.active_jdd_ids``).

The map server reads only the views of ``sinp_flux`` through a read-only role: the views run with their
owner's rights, the role has no right on any table. The views depend on our tables only (the referential
tables are replaced whole by their loaders, CKAN's tables by its migrations).

SQLAlchemy Core, no ``import ckan``.
"""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import text

from ckanext.sinp.domain import protection

NIVEAUX = ("maille", "commune", "departement")
# the coarsest public layer an observation may have to be counted at each level (domain.protection)
MAX_LAYER = {"maille": protection.MAILLE, "commune": protection.COMMUNE, "departement": protection.DEPARTEMENT}
_CODE = {"maille": "maille", "commune": "commune", "departement": "dep"}

# the JDD whose occurrences the public sees (blurred): active, published (logic.access.active_jdd_ids)
PUBLISHED_JDD_SQL = (
    "SELECT id, name, title, owner_org FROM package WHERE type = 'jdd' AND state = 'active' AND NOT private"
)

FLUX_SCHEMA = "sinp_flux"

_KEYS = ("package_id", "public_layer", "sensible", "niv_val", "maille", "commune", "dep", "cd_ref", "groupe", "annee")
_MONTH_KEYS = ("package_id", "public_layer", "cd_ref", "mois")
# each key as computed from a row of sinp_occurrence (alias r)
_ROW = {
    "package_id": "r.package_id",
    "public_layer": "r.public_layer",
    "sensible": "COALESCE(r.sensi_niveau, '') NOT IN ('', '0')",
    "niv_val": "COALESCE(r.niv_val, '0')",
    "maille": "COALESCE(r.maille_calc, '')",
    "commune": "COALESCE(NULLIF(trim(split_part(COALESCE(r.code_commune, ''), '|', 1)), ''), '')",
    "dep": "COALESCE(r.dep, '')",
    "cd_ref": "COALESCE(r.cd_ref, 0)",
    "groupe": "COALESCE(r.groupe, '')",
    "annee": "COALESCE(extract(year FROM r.date_debut)::int, 0)",
    "mois": "COALESCE(extract(month FROM r.date_debut)::int, 0)",
}


def _grouped(table: str, keys: tuple[str, ...], sign: str) -> str:
    cols = ", ".join(_ROW[k] for k in keys)
    return f"SELECT {cols}, {sign}count(*) FROM {table} r GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"


def _apply(target: str, keys: tuple[str, ...], source: str, sign: str) -> str:
    return (
        f"INSERT INTO {target} ({', '.join(keys)}, nb) {_grouped(source, keys, sign)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET nb = {target}.nb + EXCLUDED.nb"
    )


def _trigger_body() -> str:
    def both(source: str, sign: str) -> str:
        return (
            f"{_apply('sinp_carte_agg', _KEYS, source, sign)};\n{_apply('sinp_carte_mois', _MONTH_KEYS, source, sign)};"
        )

    def sweep(source: str) -> str:
        return (
            f"DELETE FROM sinp_carte_agg a WHERE a.nb = 0 AND a.package_id IN (SELECT DISTINCT package_id FROM {source});\n"
            f"DELETE FROM sinp_carte_mois a WHERE a.nb = 0 AND a.package_id IN (SELECT DISTINCT package_id FROM {source});"
        )

    return f"""
       BEGIN
         IF TG_OP = 'TRUNCATE' THEN
           TRUNCATE sinp_carte_agg, sinp_carte_mois;
         ELSIF TG_OP = 'INSERT' THEN
           {both("sinp_carte_new", "")}
         ELSIF TG_OP = 'DELETE' THEN
           {both("sinp_carte_old", "-")}
           {sweep("sinp_carte_old")}
         ELSE
           {both("sinp_carte_old", "-")}
           {both("sinp_carte_new", "")}
           {sweep("sinp_carte_old")}
         END IF;
         PERFORM nextval('sinp_carte_change_seq');
         RETURN NULL;
       END"""


SCHEMA_SQL = (
    "CREATE SEQUENCE IF NOT EXISTS sinp_carte_change_seq",
    """CREATE TABLE IF NOT EXISTS sinp_carte_agg (
         package_id text NOT NULL, public_layer smallint NOT NULL, sensible boolean NOT NULL, niv_val text NOT NULL,
         maille text NOT NULL, commune text NOT NULL, dep text NOT NULL, cd_ref integer NOT NULL,
         groupe text NOT NULL, annee integer NOT NULL, nb bigint NOT NULL,
         PRIMARY KEY (package_id, public_layer, sensible, niv_val, maille, commune, dep, cd_ref, groupe, annee))""",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_agg_cd_ref ON sinp_carte_agg (cd_ref)",
    "COMMENT ON TABLE sinp_carte_agg IS 'Nombre d''observations par JDD, diffusion, maille, commune, "
    "département, taxon et année (tenu à jour par les déclencheurs de sinp_occurrence)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_mois (
         package_id text NOT NULL, public_layer smallint NOT NULL, cd_ref integer NOT NULL, mois integer NOT NULL,
         nb bigint NOT NULL, PRIMARY KEY (package_id, public_layer, cd_ref, mois))""",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_mois_cd_ref ON sinp_carte_mois (cd_ref)",
    "COMMENT ON TABLE sinp_carte_mois IS 'Nombre d''observations par JDD, diffusion, taxon et mois (phénologie)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public (
         niveau text NOT NULL, code text NOT NULL, nom text NOT NULL, nb_obs bigint NOT NULL,
         nb_taxons integer NOT NULL, derniere_annee integer, geom_2154 geometry(Polygon, 2154),
         geom_4326 geometry(Polygon, 4326), PRIMARY KEY (niveau, code))""",
    "COMMENT ON TABLE sinp_carte_public IS 'Observations publiques par maille, commune et département "
    "(tous les JDD publiés ; recalculé par refresh_public)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_jdd (
         package_id text PRIMARY KEY, jdd text NOT NULL, titre text NOT NULL, producteur text NOT NULL,
         nb_obs bigint NOT NULL, geom_2154 geometry(MultiPolygon, 2154))""",
    "COMMENT ON TABLE sinp_carte_public_jdd IS 'Emprise publique de chaque JDD publié (union de ses mailles)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_territoire (
         id integer PRIMARY KEY, nom text NOT NULL, geom_2154 geometry(MultiPolygon, 2154))""",
    """CREATE TABLE IF NOT EXISTS sinp_carte_state (
         id integer PRIMARY KEY, change bigint NOT NULL, refreshed_at timestamptz NOT NULL)""",
    f"""CREATE OR REPLACE FUNCTION sinp_carte_apply() RETURNS trigger LANGUAGE plpgsql AS $$ {_trigger_body()} $$""",
    """CREATE OR REPLACE FUNCTION sinp_carte_touch() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM nextval('sinp_carte_change_seq'); RETURN NULL; END $$""",
    """CREATE OR REPLACE TRIGGER sinp_carte_insert AFTER INSERT ON sinp_occurrence
       REFERENCING NEW TABLE AS sinp_carte_new FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_apply()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_update AFTER UPDATE ON sinp_occurrence
       REFERENCING OLD TABLE AS sinp_carte_old NEW TABLE AS sinp_carte_new
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_apply()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_delete AFTER DELETE ON sinp_occurrence
       REFERENCING OLD TABLE AS sinp_carte_old FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_apply()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_truncate AFTER TRUNCATE ON sinp_occurrence
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_apply()""",
)
# a JDD published, withdrawn, renamed or deleted changes the public roll-ups (CKAN's table)
PACKAGE_TRIGGER_SQL = """CREATE OR REPLACE TRIGGER sinp_carte_package AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON package FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_touch()"""

# the layers of the map server (EPSG:2154), over the public roll-ups only
FLUX_SQL = (
    f"CREATE SCHEMA IF NOT EXISTS {FLUX_SCHEMA}",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.observations_maille AS
        SELECT (substring(code FROM 'E([0-9]+)N')::int * 1000 + substring(code FROM 'N([0-9]+)$')::int) AS gid,
               code AS cd_sig, nb_obs, nb_taxons, derniere_annee, geom_2154 AS geom
          FROM sinp_carte_public WHERE niveau = 'maille' AND geom_2154 IS NOT NULL""",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.jdd_emprise AS
        SELECT row_number() OVER (ORDER BY jdd)::int AS gid, jdd, titre, producteur, nb_obs, geom_2154 AS geom
          FROM sinp_carte_public_jdd WHERE geom_2154 IS NOT NULL""",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.territoire AS
        SELECT id AS gid, nom, geom_2154 AS geom FROM sinp_carte_public_territoire""",
)
FLUX_VIEWS = ("observations_maille", "jdd_emprise", "territoire")


def _has_table(conn, name: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def ensure_tables(engine, reader_role: str | None = None) -> None:
    """Creates the tables, triggers and views (idempotent); fills the counts from the occurrences the
    first time (the table locked against writes meanwhile); grants the map server's role its views."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_carte_schema'))"))
        new = not _has_table(conn, "sinp_carte_agg")
        conn.execute(text("LOCK TABLE sinp_occurrence IN SHARE ROW EXCLUSIVE MODE"))
        for statement in SCHEMA_SQL + FLUX_SQL:
            conn.execute(text(statement))
        if _has_table(conn, "package"):
            conn.execute(text(PACKAGE_TRIGGER_SQL))
        if new:
            rebuild(conn)
        if reader_role:
            grant_reader(conn, reader_role)


def grant_reader(conn, role: str) -> None:
    """The map server's role reads the views of ``sinp_flux`` and nothing else."""
    if not conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar():
        return  # the stack creates it; a catalogue without map server has none
    quote = conn.dialect.identifier_preparer.quote
    conn.execute(text(f"GRANT USAGE ON SCHEMA {FLUX_SCHEMA} TO {quote(role)}"))
    for view in FLUX_VIEWS:
        conn.execute(text(f"GRANT SELECT ON {FLUX_SCHEMA}.{view} TO {quote(role)}"))


def rebuild(conn) -> int:
    """Recomputes the counts from the occurrences (after a bulk change that bypassed the triggers, or
    to check them). Returns the number of observations counted."""
    conn.execute(text("TRUNCATE sinp_carte_agg, sinp_carte_mois"))
    conn.execute(text(_apply("sinp_carte_agg", _KEYS, "sinp_occurrence", "")))
    conn.execute(text(_apply("sinp_carte_mois", _MONTH_KEYS, "sinp_occurrence", "")))
    conn.execute(text("SELECT nextval('sinp_carte_change_seq')"))
    return int(conn.execute(text("SELECT COALESCE(sum(nb), 0) FROM sinp_carte_agg")).scalar())


# --- the public roll-ups ------------------------------------------------------------------------------


def _change(conn) -> int:
    return int(
        conn.execute(text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sinp_carte_change_seq")).scalar()
    )


def is_fresh(conn) -> bool:
    row = conn.execute(text("SELECT change FROM sinp_carte_state WHERE id = 1")).first()
    return row is not None and row[0] == _change(conn)


def _cell_geometry(code: str, srid: int) -> str:
    e = f"substring({code} FROM 'E([0-9]+)N')::int * 10000"
    n = f"substring({code} FROM 'N([0-9]+)$')::int * 10000"
    envelope = f"ST_MakeEnvelope({e}, {n}, {e} + 10000, {n} + 10000, 2154)"
    return envelope if srid == 2154 else f"ST_Transform({envelope}, {srid})"


def _names(conn, niveau: str) -> tuple[str, str]:
    """(join, name expression) for the cells of ``niveau`` (alias c, column code): the commune or
    département's name when its referential is loaded, else the code."""
    table = {"commune": "sinp_commune", "departement": "sinp_departement"}.get(niveau)
    if table is None or not _has_table(conn, table):
        return "", "c.code"
    return f"LEFT JOIN {table} ref ON ref.code = c.code", "COALESCE(ref.nom, c.code)"


def refresh_public(conn, force: bool = False) -> dict | None:
    """Recomputes the public roll-ups if the counts or the JDD changed since the last time (or
    ``force``), in the caller's transaction. Returns what was written, or None when nothing changed."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_carte_public'))"))
    change = _change(conn)  # read before the data: a change during the computation is caught next time
    if not force and is_fresh(conn):
        return None
    conn.execute(text("DELETE FROM sinp_carte_public"))
    conn.execute(text("DELETE FROM sinp_carte_public_jdd"))
    conn.execute(text("DELETE FROM sinp_carte_public_territoire"))
    written = {}
    for niveau in NIVEAUX:
        join, name = _names(conn, niveau)
        geom = (
            f"{_cell_geometry('c.code', 2154)}, {_cell_geometry('c.code', 4326)}"
            if niveau == "maille"
            else "NULL, NULL"
        )
        valid = "AND c.code ~ '^10kmL93E[0-9]+N[0-9]+$'" if niveau == "maille" else ""
        written[niveau] = conn.execute(
            text(f"""
            INSERT INTO sinp_carte_public (niveau, code, nom, nb_obs, nb_taxons, derniere_annee, geom_2154, geom_4326)
            SELECT :niveau, c.code, {name}, c.nb_obs, c.nb_taxons, c.derniere_annee, {geom}
              FROM ({_cells_sql(niveau, "a.package_id IN (SELECT id FROM pub)")}) AS c {join}
             WHERE c.code <> '' {valid}"""),
            {"niveau": niveau, **_layer_params(niveau)},
        ).rowcount
    written["jdd"] = conn.execute(
        text(f"""
        WITH pub AS ({PUBLISHED_JDD_SQL}),
             cells AS (SELECT a.package_id, a.maille, sum(a.nb) AS nb FROM sinp_carte_agg a
                        WHERE a.package_id IN (SELECT id FROM pub) AND a.public_layer <= :max_layer
                          AND a.maille ~ '^10kmL93E[0-9]+N[0-9]+$'
                        GROUP BY 1, 2)
        INSERT INTO sinp_carte_public_jdd (package_id, jdd, titre, producteur, nb_obs, geom_2154)
        SELECT p.id, p.name, COALESCE(p.title, p.name), COALESCE(g.title, g.name, ''), sum(c.nb),
               ST_Multi(ST_Union({_cell_geometry("c.maille", 2154)}))
          FROM cells c JOIN pub p ON p.id = c.package_id LEFT JOIN "group" g ON g.id = p.owner_org
         GROUP BY p.id, p.name, p.title, g.title, g.name"""),
        {"max_layer": protection.MAILLE},
    ).rowcount
    if _has_table(conn, "sinp_territoire"):
        written["territoire"] = conn.execute(
            text(
                "INSERT INTO sinp_carte_public_territoire (id, nom, geom_2154) "
                "SELECT id, nom, ST_Multi(ST_Transform(geom, 2154)) FROM sinp_territoire"
            )
        ).rowcount
    conn.execute(
        text(
            "INSERT INTO sinp_carte_state (id, change, refreshed_at) VALUES (1, :c, now()) "
            "ON CONFLICT (id) DO UPDATE SET change = EXCLUDED.change, refreshed_at = EXCLUDED.refreshed_at"
        ),
        {"c": change},
    )
    return written


def refresh_if_stale(engine) -> dict | None:
    """The scheduler's step: the roll-ups again when the data or the JDD changed."""
    with engine.connect() as conn:
        if not _has_table(conn, "sinp_carte_state") or is_fresh(conn):
            return None
    with engine.begin() as conn:
        return refresh_public(conn)


# --- the queries of the géo-visualiseur ---------------------------------------------------------------


@dataclasses.dataclass
class Filtres:
    cd_refs: list[int] | None = None  # the taxon and its descendants (``descendants``)
    groupe: str | None = None  # GROUP2_INPN
    dep: str | None = None
    annee_min: int | None = None
    annee_max: int | None = None
    niv_val: list[str] | None = None
    producteur: str | None = None  # owner_org id
    jdd: str | None = None  # package id

    def empty(self) -> bool:
        return all(getattr(self, f.name) in (None, [], "") for f in dataclasses.fields(self))

    def sql(self, params: dict) -> str:
        """The conditions on ``sinp_carte_agg a`` (and ``pub p`` for the producer)."""
        conds = []
        if self.cd_refs is not None:
            conds.append("a.cd_ref = ANY(:f_cd_refs)")
            params["f_cd_refs"] = [int(c) for c in self.cd_refs] or [-1]
        for name, column in (("groupe", "a.groupe"), ("dep", "a.dep"), ("jdd", "a.package_id")):
            if getattr(self, name):
                conds.append(f"{column} = :f_{name}")
                params[f"f_{name}"] = getattr(self, name)
        if self.annee_min is not None:
            conds.append("a.annee >= :f_annee_min AND a.annee <> 0")
            params["f_annee_min"] = int(self.annee_min)
        if self.annee_max is not None:
            conds.append("a.annee <= :f_annee_max AND a.annee <> 0")
            params["f_annee_max"] = int(self.annee_max)
        if self.niv_val:
            conds.append("a.niv_val = ANY(:f_niv_val)")
            params["f_niv_val"] = list(self.niv_val)
        if self.producteur:
            conds.append("a.package_id IN (SELECT id FROM pub WHERE owner_org = :f_producteur)")
            params["f_producteur"] = self.producteur
        return " AND ".join(conds) or "true"


def _layer_params(niveau: str) -> dict:
    return {"max_layer": MAX_LAYER[niveau]}


def _cells_sql(niveau: str, where: str) -> str:
    """Per cell of ``niveau``: code, nb_obs, nb_taxons, derniere_annee, over the counts ``where`` selects
    (``pub``: the published JDD, bound by the caller's WITH or here)."""
    code = _CODE[niveau]
    return f"""
        WITH pub AS ({PUBLISHED_JDD_SQL})
        SELECT a.{code} AS code, sum(a.nb)::bigint AS nb_obs,
               count(DISTINCT a.cd_ref) FILTER (WHERE a.cd_ref <> 0)::int AS nb_taxons,
               max(a.annee) FILTER (WHERE a.annee <> 0) AS derniere_annee
          FROM sinp_carte_agg a
         WHERE a.public_layer <= :max_layer AND {where}
         GROUP BY a.{code}"""


def _check_niveau(niveau: str) -> None:
    if niveau not in NIVEAUX:
        raise ValueError(f"niveau inconnu : {niveau}")


def cells(conn, niveau: str, filtres: Filtres | None = None, pub: list[str] | None = None) -> list[dict]:
    """The cells of ``niveau`` holding public observations that match ``filtres``, each with ``code``,
    ``nom``, ``nb_obs``, ``nb_taxons``, ``derniere_annee`` and, for a maille, ``geometry`` (GeoJSON,
    EPSG:4326). ``pub`` restricts to these JDD (ids; the caller's list of published JDD): only JDD both
    published now and in ``pub`` count. Unfiltered, fresh: read from the roll-up."""
    _check_niveau(niveau)
    filtres = filtres or Filtres()
    geometry = "ST_AsGeoJSON(geom_4326, 6)" if niveau == "maille" else "NULL"
    if filtres.empty() and pub is None and is_fresh(conn):
        rows = conn.execute(
            text(
                f"SELECT code, nom, nb_obs, nb_taxons, derniere_annee, {geometry} AS geometry "
                "FROM sinp_carte_public WHERE niveau = :niveau ORDER BY nb_obs DESC, code"
            ),
            {"niveau": niveau},
        ).mappings()
        return [_cell(r) for r in rows]
    params = {"niveau": niveau, **_layer_params(niveau)}
    where = filtres.sql(params)
    if pub is not None:
        where += " AND a.package_id = ANY(:f_pub)"
        params["f_pub"] = list(pub) or [""]
    join, name = _names(conn, niveau)
    geom = f"ST_AsGeoJSON({_cell_geometry('c.code', 4326)}, 6)" if niveau == "maille" else "NULL"
    valid = "AND c.code ~ '^10kmL93E[0-9]+N[0-9]+$'" if niveau == "maille" else ""
    rows = conn.execute(
        text(f"""
        SELECT c.code, {name} AS nom, c.nb_obs, c.nb_taxons, c.derniere_annee, {geom} AS geometry
          FROM ({_cells_sql(niveau, "a.package_id IN (SELECT id FROM pub) AND " + where)}) AS c {join}
         WHERE c.code <> '' {valid}
         ORDER BY c.nb_obs DESC, c.code"""),
        params,
    ).mappings()
    return [_cell(r) for r in rows]


def _cell(row) -> dict:
    out = {k: row[k] for k in ("code", "nom", "nb_obs", "nb_taxons", "derniere_annee")}
    out["nb_obs"] = int(out["nb_obs"])
    if row["geometry"]:
        out["geometry"] = json.loads(row["geometry"])
    return out


def cell_taxa(conn, niveau: str, code: str, filtres: Filtres | None = None, pub: list[str] | None = None) -> list[dict]:
    """The taxa of one cell as the public may see them: ``cd_ref``, ``nom_valide``, ``nom_vern``,
    ``groupe``, ``nb_obs``, ``derniere_annee``, ``sensible`` (some of its observations there are of a
    sensitive taxon), most observed first."""
    _check_niveau(niveau)
    params = {"code": code, **_layer_params(niveau)}
    where = (filtres or Filtres()).sql(params)
    if pub is not None:
        where += " AND a.package_id = ANY(:f_pub)"
        params["f_pub"] = list(pub) or [""]
    names = (
        "LEFT JOIN sinp_taxref t ON t.cd_nom = x.cd_ref",
        "t.nom_valide, t.nom_vern",
    )
    if not _has_table(conn, "sinp_taxref"):
        names = ("", "NULL AS nom_valide, NULL AS nom_vern")
    rows = conn.execute(
        text(f"""
        WITH pub AS ({PUBLISHED_JDD_SQL})
        SELECT x.cd_ref, {names[1]}, x.groupe, x.nb_obs, x.derniere_annee, x.sensible FROM (
          SELECT a.cd_ref, max(a.groupe) AS groupe, sum(a.nb)::bigint AS nb_obs,
                 max(a.annee) FILTER (WHERE a.annee <> 0) AS derniere_annee, bool_or(a.sensible) AS sensible
            FROM sinp_carte_agg a
           WHERE a.{_CODE[niveau]} = :code AND a.cd_ref <> 0 AND a.public_layer <= :max_layer
             AND a.package_id IN (SELECT id FROM pub) AND {where}
           GROUP BY a.cd_ref) AS x {names[0]}
         ORDER BY x.nb_obs DESC, x.cd_ref"""),
        params,
    ).mappings()
    return [{**dict(r), "nb_obs": int(r["nb_obs"])} for r in rows]


def descendants(conn, cd_ref: int) -> list[int]:
    """The taxon (any CD_NOM of it) and every valid taxon below it in TAXREF's CD_SUP tree, as CD_REF."""
    if not _has_table(conn, "sinp_taxref"):
        return [int(cd_ref)]
    rows = conn.execute(
        text("""
        WITH RECURSIVE tree(cd_ref, depth) AS (
            SELECT cd_ref, 0 FROM sinp_taxref WHERE cd_nom = :cd
            UNION
            SELECT c.cd_nom, t.depth + 1 FROM tree t JOIN sinp_taxref c ON c.cd_sup = t.cd_ref AND c.cd_nom = c.cd_ref
             WHERE t.depth < 40)
        SELECT DISTINCT cd_ref FROM tree ORDER BY cd_ref"""),
        {"cd": int(cd_ref)},
    ).scalars()
    return [int(r) for r in rows] or [int(cd_ref)]


def taxon_summary(conn, cd_refs: list[int], pub: list[str] | None = None) -> dict:
    """What the public may see of a taxon (``cd_refs``: it and its descendants): ``mailles`` (as
    ``cells``), ``mois`` (12 counts, January to December), ``annees`` ([{annee, nb_obs}]), ``jdd``
    ([{package_id, nb_obs}], at the coarsest public level: any observation not « aucune diffusion »)."""
    filtres = Filtres(cd_refs=list(cd_refs))
    params = {"max_layer": protection.DEPARTEMENT, "f_cd_refs": [int(c) for c in cd_refs] or [-1]}
    restrict = ""
    if pub is not None:
        restrict = " AND a.package_id = ANY(:f_pub)"
        params["f_pub"] = list(pub) or [""]
    base = f"""WITH pub AS ({PUBLISHED_JDD_SQL})
        SELECT {{select}} FROM {{table}} a
         WHERE a.cd_ref = ANY(:f_cd_refs) AND a.public_layer <= :max_layer
           AND a.package_id IN (SELECT id FROM pub){restrict} {{group}}"""
    months = dict(
        conn.execute(
            text(base.format(select="a.mois, sum(a.nb)", table="sinp_carte_mois", group="GROUP BY a.mois")), params
        ).all()
    )
    years = conn.execute(
        text(
            base.format(select="a.annee, sum(a.nb)", table="sinp_carte_agg", group="AND a.annee <> 0 GROUP BY a.annee")
            + " ORDER BY 1"
        ),
        params,
    ).all()
    jdd = conn.execute(
        text(
            base.format(select="a.package_id, sum(a.nb)", table="sinp_carte_agg", group="GROUP BY a.package_id")
            + " ORDER BY 2 DESC, 1"
        ),
        params,
    ).all()
    return {
        "mailles": cells(conn, "maille", filtres, pub),
        "mois": [int(months.get(m, 0)) for m in range(1, 13)],
        "annees": [{"annee": int(a), "nb_obs": int(n)} for a, n in years],
        "jdd": [{"package_id": p, "nb_obs": int(n)} for p, n in jdd],
    }
