"""Protection in PostgreSQL: the sensitivity referential, attachment of occurrences (département,
10 km cell, taxon group), sensitivity computed set-wise, automatic pre-validation, manual
validation with its history, chefs de file, and the blurred read of the store.

SQLAlchemy Core, no ``import ckan``. The rules themselves are in ``domain/protection.py``; the SQL
here executes them on whole deposits (one statement per step, no loop per row).

Tables:
- ``sinp_sensitivity_rule``: the loaded referential (one row per rule) and
  ``sinp_sensitivity_taxon`` (rule → every CD_NOM it covers: the taxon, its descendants in the
  TAXREF CD_SUP tree and their synonyms), rebuilt at each load and ``refresh_rule_taxa``;
- ``sinp_chef_de_file``: one row per chef de file structure (a CKAN organisation) with its scope;
- ``sinp_validation``: every validation decision (history: never updated, never deleted with the
  decision it replaced);
- ``sinp_notification``: messages for producers (their data was validated…).
"""
from __future__ import annotations

import datetime as dt
import io

import sqlalchemy as sa
from sqlalchemy import (ARRAY, BigInteger, Column, DateTime, Integer, MetaData, SmallInteger, Table, Text, text)

from ckanext.sinp.domain import protection
from ckanext.sinp.referentials.store import VERSION_TABLE, copy_line, dbapi_cursor

metadata = MetaData()

RULE = Table(
    "sinp_sensitivity_rule", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cd_nom", Integer, nullable=False, index=True),
    Column("niveau", SmallInteger, nullable=False),
    Column("nom_cite", Text),
    Column("duree", Integer),
    Column("departement", Text),
    Column("date_min", Text),
    Column("date_max", Text),
    Column("statuts_bio", ARRAY(Text), nullable=False, server_default="{}"),
    Column("comportements", ARRAY(Text), nullable=False, server_default="{}"),
    Column("autre", Text),
    Column("liste", Text),
    comment="Référentiel de sensibilité chargé (une ligne par règle)",
)

RULE_TAXON = Table(
    "sinp_sensitivity_taxon", metadata,
    Column("rule_id", Integer, nullable=False, index=True),
    Column("cd_nom", Integer, nullable=False, index=True),
    comment="Règle de sensibilité → chaque CD_NOM couvert (taxon, descendants, synonymes)",
)

CHEF = Table(
    "sinp_chef_de_file", metadata,
    Column("organization_id", Text, primary_key=True),
    Column("groupes", ARRAY(Text), nullable=False, server_default="{}"),
    Column("departements", ARRAY(Text), nullable=False, server_default="{}"),
    Column("updated_at", DateTime(timezone=True), server_default=sa.func.now()),
    comment="Structures chefs de file de la validation et leur périmètre (vide = tout)",
)

VALIDATION = Table(
    "sinp_validation", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("id_sinp_occtax", Text, nullable=False, index=True),
    Column("package_id", Text, nullable=False, index=True),
    Column("niv_val", Text, nullable=False),
    Column("typ_val", Text, nullable=False),
    Column("ech_val", Text, nullable=False),
    Column("validateur", Text),
    Column("organisme", Text),
    Column("date_ctrl", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    Column("comm_val", Text),
    Column("previous_niv_val", Text),
    comment="Historique des décisions de validation scientifique",
)

NOTIFICATION = Table(
    "sinp_notification", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("owner_org", Text, index=True),
    Column("package_id", Text, index=True),
    Column("message", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    comment="Notifications aux producteurs (validation de leurs données)",
)

# columns added to sinp_occurrence (created by store.ensure_tables); upgrades run ALTER … IF NOT EXISTS
OCCURRENCE_COLUMNS = (
    ("cd_ref", "integer"), ("groupe", "text"), ("dep", "text"), ("maille_calc", "text"),
    ("sensi_alerte", "text"), ("sensi_manuel", "boolean NOT NULL DEFAULT false"),
    ("public_layer", "smallint NOT NULL DEFAULT 4"),
    ("niv_val", "text NOT NULL DEFAULT '0'"), ("typ_val", "text"), ("ech_val", "text"),
    ("validateur", "text"), ("date_ctrl", "timestamptz"), ("comm_val", "text"),
)
REFERENTIAL_NAME = "sensibilite"
BFC_DEPARTEMENTS = ("21", "25", "39", "58", "70", "71", "89", "90")


def ensure_tables(engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name, sql_type in OCCURRENCE_COLUMNS:
            conn.execute(text(f"ALTER TABLE sinp_occurrence ADD COLUMN IF NOT EXISTS {name} {sql_type}"))
        conn.execute(text("ALTER TABLE sinp_occurrence DROP COLUMN IF EXISTS validation_status"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sinp_occurrence_cd_ref ON sinp_occurrence (cd_ref)"))


def _tables(conn) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


# --- the SQL of the blurring matrix, generated from domain/protection.py (one source of truth) ----

def public_layer_sql(sensi: str = "sensi_niveau", origin: str = "ds_publique",
                     diffusion: str = "diffusion_niveau_precision") -> str:
    public = ", ".join(f"'{c}'" for c in sorted(protection.PUBLIC_ORIGINS))
    private = " ".join(f"WHEN '{code}' THEN {layer}" for code, layer in sorted(protection._PRIVATE_LAYER.items()))
    private_case = (f"CASE WHEN COALESCE({origin}, '') IN ({public}) THEN 0 "
                    f"ELSE CASE COALESCE(NULLIF(trim({diffusion}), ''), '0') {private} ELSE {protection.COMMUNE} END END")
    sensi_case = (f"CASE WHEN {sensi} IS NULL OR {sensi} = '' THEN 0 WHEN {sensi} IN ('0','1','2','3','4') "
                  f"THEN {sensi}::int ELSE {protection.AUCUNE} END")
    return f"GREATEST({sensi_case}, {private_case})"


def cell_polygon_sql(code: str = "maille_calc") -> str:
    """The 10 km cell of a CD_SIG code (10kmL93E074N695) as a WGS 84 polygon."""
    e = f"substring({code} from 'E([0-9]+)N')::int * 10000"
    n = f"substring({code} from 'N([0-9]+)$')::int * 10000"
    return f"ST_Transform(ST_MakeEnvelope({e}, {n}, {e} + 10000, {n} + 10000, 2154), 4326)"


# --- attachment, sensitivity, automatic validation (at integration, in the caller's transaction) ----

def _scope_sql(where: str) -> str:
    return f"WHERE {where}" if where else ""


def attach(conn, where: str = "", params: dict | None = None) -> None:
    """Fills cd_ref, groupe (GROUP2_INPN), dep and maille_calc of the selected occurrences."""
    tables = _tables(conn)
    params = params or {}
    if "sinp_taxref" in tables:
        conn.execute(text(f"""UPDATE sinp_occurrence o SET cd_ref = t.cd_ref, groupe = t.group2_inpn
                                FROM sinp_taxref t WHERE t.cd_nom = o.cd_nom
                                {('AND ' + where) if where else ''}"""), params)
    cell = ("'10kmL93E' || lpad(floor(ST_X(p) / 10000)::int::text, 3, '0') || 'N' || "
            "lpad(floor(ST_Y(p) / 10000)::int::text, 3, '0')")
    conn.execute(text(f"""
        UPDATE sinp_occurrence o SET
          dep = CASE WHEN NULLIF(trim(split_part(COALESCE(code_departement, ''), '|', 1)), '') IS NOT NULL
                       THEN lpad(upper(trim(split_part(code_departement, '|', 1))), 2, '0')
                     WHEN length(trim(split_part(COALESCE(code_commune, ''), '|', 1))) = 5
                       THEN CASE WHEN trim(split_part(code_commune, '|', 1)) LIKE '97%'
                                 THEN left(trim(split_part(code_commune, '|', 1)), 3)
                                 ELSE upper(left(trim(split_part(code_commune, '|', 1)), 2)) END
                     END,
          maille_calc = COALESCE(
              (SELECT {cell} FROM (SELECT ST_Transform(ST_PointOnSurface(o.geom), 2154) AS p) AS q
                WHERE o.geom IS NOT NULL),
              CASE WHEN split_part(COALESCE(code_maille, ''), '|', 1) ~ '^(10kmL93)?E[0-9]{{3}}N[0-9]{{3}}$'
                   THEN '10kmL93' || substring(split_part(code_maille, '|', 1) from 'E[0-9]{{3}}N[0-9]{{3}}') END)
        {_scope_sql(where)}"""), params)


def compute_sensitivity(conn, where: str = "", params: dict | None = None, today: dt.date | None = None) -> int:
    """Sets sensi_niveau (highest matching rule, 0 when none), the alert, the referential and its
    version and public_layer on the selected occurrences, except those decided manually."""
    params = dict(params or {})
    today = today or dt.date.today()
    tables = _tables(conn)
    version = None
    if "sinp_sensitivity_rule" in tables:
        version = conn.execute(sa.select(VERSION_TABLE.c.version).where(
            VERSION_TABLE.c.name == REFERENTIAL_NAME)).scalar()
    params.update({"year": today.year, "ref": "Référentiel de sensibilité SINP BFC" if version else None,
                   "version": version})
    scope = f"AND {where}" if where else ""
    unknown_status = ", ".join(f"'{c}'" for c in sorted(protection.UNKNOWN_STATUS - {""}))
    unknown_behaviour = ", ".join(f"'{c}'" for c in sorted(protection.UNKNOWN_BEHAVIOUR - {""}))
    matches = "SELECT NULL::bigint AS id, 0 AS niveau, NULL::text AS alerte WHERE false"
    if version:
        alert = f"""NULLIF(concat_ws(' ; ',
                     CASE WHEN r.departement IS NOT NULL AND o.dep IS NULL THEN 'département de l''observation inconnu' END,
                     CASE WHEN cardinality(r.statuts_bio) > 0 AND COALESCE(o.occ_statut_biologique, '') IN ('', {unknown_status})
                          THEN 'statut biologique non renseigné' END,
                     CASE WHEN cardinality(r.comportements) > 0 AND COALESCE(o.occ_comportement, '') IN ('', {unknown_behaviour})
                          THEN 'comportement non renseigné' END,
                     CASE WHEN COALESCE(r.autre, '') <> '' THEN 'condition à vérifier : ' || r.autre END), '')"""
        # one row per (occurrence, matching rule); the level is the highest; the reasons of rules
        # applied by precaution are an alert only above the level the certain rules give
        matches = f"""
          SELECT id, max(niveau) AS niveau,
                 string_agg(DISTINCT reason, ' ; ') FILTER (WHERE reason IS NOT NULL AND niveau > decided) AS alerte
            FROM (SELECT id, niveau, reason,
                         COALESCE(max(niveau) FILTER (WHERE reason IS NULL) OVER (PARTITION BY id), -1) AS decided
                    FROM (SELECT o.id, r.niveau, {alert} AS reason
                            FROM sinp_occurrence o
                            JOIN sinp_sensitivity_taxon t ON t.cd_nom = o.cd_nom
                            JOIN sinp_sensitivity_rule r ON r.id = t.rule_id
           WHERE NOT o.sensi_manuel {scope}
             AND (r.duree IS NULL OR COALESCE(o.date_fin, o.date_debut) IS NULL
                  OR extract(year FROM COALESCE(o.date_fin, o.date_debut)) >= :year - r.duree)
             AND (r.departement IS NULL OR o.dep IS NULL OR o.dep = r.departement)
             AND (r.date_min IS NULL OR o.date_debut IS NULL
                  OR (r.date_min <= r.date_max AND to_char(o.date_debut, 'MM-DD') BETWEEN r.date_min AND r.date_max)
                  OR (r.date_min > r.date_max AND (to_char(o.date_debut, 'MM-DD') >= r.date_min
                                                  OR to_char(o.date_debut, 'MM-DD') <= r.date_max)))
             AND (cardinality(r.statuts_bio) = 0 OR COALESCE(o.occ_statut_biologique, '') IN ('', {unknown_status})
                  OR o.occ_statut_biologique = ANY(r.statuts_bio))
             AND (cardinality(r.comportements) = 0 OR COALESCE(o.occ_comportement, '') IN ('', {unknown_behaviour})
                  OR o.occ_comportement = ANY(r.comportements))) AS pairs) AS ranked
           GROUP BY id"""
    result = conn.execute(text(f"""
        WITH m AS ({matches})
        UPDATE sinp_occurrence o SET
          sensi_niveau = COALESCE(m.niveau, 0)::text,
          sensi_alerte = NULLIF(m.alerte, ''),
          sensi_date_attribution = now(),
          sensi_referentiel = :ref,
          sensi_version_referentiel = :version
          FROM sinp_occurrence o2 LEFT JOIN m ON m.id = o2.id
         WHERE o.id = o2.id AND NOT o.sensi_manuel {scope.replace('o.', 'o2.')}"""), params)
    update_public_layer(conn, where, params)
    return result.rowcount


def update_public_layer(conn, where: str = "", params: dict | None = None) -> None:
    conn.execute(text(f"UPDATE sinp_occurrence o SET public_layer = {public_layer_sql('o.sensi_niveau', 'o.ds_publique', 'o.diffusion_niveau_precision')} "
                      f"{_scope_sql(where)}"), params or {})


def auto_validate(conn, criteria: tuple[str, ...], level: str, where: str = "", params: dict | None = None) -> int:
    """Automatic pre-validation of occurrences still "en attente" that pass every criterion: level
    ``level``, type A, scale 2 (regional). Manual and combined decisions are never touched."""
    params = dict(params or {})
    conds = ["o.niv_val = '0'", "COALESCE(o.typ_val, '') NOT IN ('M', 'C')"]
    if "date_plausible" in criteria:
        conds.append("o.date_debut >= DATE '1800-01-01' AND COALESCE(o.date_fin, o.date_debut) <= CURRENT_DATE")
    if "dans_territoire" in criteria:
        territory = "sinp_territoire" in _tables(conn)
        inside = "OR (o.geom IS NOT NULL AND EXISTS (SELECT 1 FROM sinp_territoire t WHERE ST_Intersects(t.geom, o.geom)))" \
            if territory else ""
        conds.append(f"(o.dep = ANY(:bfc) {inside})")
        params["bfc"] = list(BFC_DEPARTEMENTS)
    if "taxon_connu_departement" in criteria:
        conds.append("""o.dep IS NOT NULL AND o.cd_ref IS NOT NULL AND EXISTS (
                          SELECT 1 FROM sinp_occurrence k WHERE k.cd_ref = o.cd_ref AND k.dep = o.dep
                             AND k.niv_val IN ('1', '2') AND k.resource_id <> o.resource_id)""")
    if where:
        conds.append(where)
    rows = conn.execute(text(f"""
        UPDATE sinp_occurrence o SET niv_val = :level, typ_val = 'A', ech_val = '2', date_ctrl = now(),
               validateur = 'Validation automatique', comm_val = :comment
         WHERE {' AND '.join(conds)}
        RETURNING o.id_sinp_occtax, o.package_id"""),
        {**params, "level": level, "comment": "Critères : " + ", ".join(criteria)}).all()
    if rows:
        _history(conn, [(r[0], r[1]) for r in rows], level, "A", "2", "Validation automatique", None,
                 "Critères : " + ", ".join(criteria), "0")
    return len(rows)


def _history(conn, rows, level, typ, ech, validateur, organisme, comment, previous) -> None:
    buf = io.StringIO("".join(copy_line((uuid, pid, level, typ, ech, validateur, organisme, comment,
                                         prev if isinstance(prev, str) or prev is None else prev))
                              for uuid, pid, prev in ((r[0], r[1], r[2] if len(r) > 2 else previous) for r in rows)))
    with dbapi_cursor(conn) as cur:
        cur.copy_expert("COPY sinp_validation (id_sinp_occtax, package_id, niv_val, typ_val, ech_val, validateur, "
                        "organisme, comm_val, previous_niv_val) FROM STDIN WITH (FORMAT text)", buf)


def on_integration(conn, resource_id: str, criteria: tuple[str, ...], level: str) -> None:
    """Everything protection does to a freshly integrated deposit (same transaction)."""
    where, params = "o.resource_id = :rid", {"rid": resource_id}
    attach(conn, where, params)
    compute_sensitivity(conn, where, params)
    if criteria:
        auto_validate(conn, criteria, level, where, params)


# --- the sensitivity referential ----------------------------------------------------------------------

def load_rules(engine, rules: list[protection.SensitivityRule], version: str, source_file: str,
               sha256: str) -> dict:
    """Replaces the referential (one transaction), expands it to descendant taxa and recomputes
    the sensitivity of every occurrence not decided manually. Returns counts."""
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_sensitivity'))"))
        conn.execute(RULE_TAXON.delete())
        conn.execute(RULE.delete())
        conn.execute(RULE.insert(), [{
            "cd_nom": r.cd_nom, "niveau": r.niveau, "nom_cite": r.nom_cite, "duree": r.duree,
            "departement": r.departement, "date_min": r.date_min, "date_max": r.date_max,
            "statuts_bio": list(r.statuts_bio), "comportements": list(r.comportements), "autre": r.autre or None,
            "liste": r.liste or None} for r in rules])
        taxa = refresh_rule_taxa(conn)
        stmt = sa.dialects.postgresql.insert(VERSION_TABLE).values(
            name=REFERENTIAL_NAME, version=version, row_count=len(rules), sha256=sha256, source_file=source_file,
            source_format="CSV référentiel de sensibilité")
        conn.execute(stmt.on_conflict_do_update(index_elements=[VERSION_TABLE.c.name], set_={
            "version": version, "row_count": len(rules), "sha256": sha256, "source_file": source_file,
            "loaded_at": sa.func.now(), "source_format": stmt.excluded.source_format}))
        updated = compute_sensitivity(conn) if "sinp_occurrence" in _tables(conn) else 0
        unknown = rules_without_taxon(conn)
    return {"rules": len(rules), "taxa": taxa, "occurrences": updated, "unknown_taxa": unknown}


def refresh_rule_taxa(conn) -> int:
    """Expands every rule to the names it covers: its CD_NOM, the valid name's descendants in the
    CD_SUP tree (valid names) and every synonym of those (the TAXREF loaded now)."""
    conn.execute(RULE_TAXON.delete())
    if "sinp_taxref" in _tables(conn):
        conn.execute(text("""
            INSERT INTO sinp_sensitivity_taxon (rule_id, cd_nom)
            WITH RECURSIVE tree(rule_id, cd_ref, depth) AS (
                SELECT r.id, COALESCE(t.cd_ref, r.cd_nom), 0
                  FROM sinp_sensitivity_rule r LEFT JOIN sinp_taxref t ON t.cd_nom = r.cd_nom
                UNION
                SELECT tree.rule_id, c.cd_nom, tree.depth + 1
                  FROM tree JOIN sinp_taxref c ON c.cd_sup = tree.cd_ref AND c.cd_nom = c.cd_ref
                 WHERE tree.depth < 40)
            SELECT DISTINCT rule_id, cd_nom FROM (
                SELECT tree.rule_id, n.cd_nom FROM tree JOIN sinp_taxref n ON n.cd_ref = tree.cd_ref
                UNION SELECT id, cd_nom FROM sinp_sensitivity_rule) AS x"""))
    else:
        conn.execute(text("INSERT INTO sinp_sensitivity_taxon (rule_id, cd_nom) "
                          "SELECT id, cd_nom FROM sinp_sensitivity_rule"))
    return conn.execute(text("SELECT count(DISTINCT cd_nom) FROM sinp_sensitivity_taxon")).scalar()


def rules_without_taxon(conn) -> list[int]:
    """CD_NOM of rules that name no taxon of the loaded TAXREF (they still match that exact code)."""
    if "sinp_taxref" not in _tables(conn):
        return []
    return [r[0] for r in conn.execute(text("""SELECT DISTINCT r.cd_nom FROM sinp_sensitivity_rule r
                                                 LEFT JOIN sinp_taxref t ON t.cd_nom = r.cd_nom
                                                WHERE t.cd_nom IS NULL ORDER BY 1"""))]


def list_rules(conn) -> list[dict]:
    if "sinp_sensitivity_rule" not in _tables(conn):
        return []
    sql = """SELECT r.*, t.lb_nom FROM sinp_sensitivity_rule r LEFT JOIN sinp_taxref t ON t.cd_nom = r.cd_nom
              ORDER BY r.departement NULLS FIRST, r.niveau DESC, r.cd_nom""" if "sinp_taxref" in _tables(conn) else \
          "SELECT r.*, NULL AS lb_nom FROM sinp_sensitivity_rule r ORDER BY r.departement, r.niveau DESC, r.cd_nom"
    return [dict(r) for r in conn.execute(text(sql)).mappings()]


# --- chefs de file -------------------------------------------------------------------------------------

def set_chef(conn, organization_id: str, scope: protection.Scope) -> None:
    stmt = sa.dialects.postgresql.insert(CHEF).values(organization_id=organization_id, groupes=list(scope.groupes),
                                                      departements=list(scope.departements))
    conn.execute(stmt.on_conflict_do_update(index_elements=[CHEF.c.organization_id], set_={
        "groupes": stmt.excluded.groupes, "departements": stmt.excluded.departements, "updated_at": sa.func.now()}))


def delete_chef(conn, organization_id: str) -> None:
    conn.execute(CHEF.delete().where(CHEF.c.organization_id == organization_id))


def chefs(conn, organization_ids: list[str] | None = None) -> dict[str, protection.Scope]:
    query = sa.select(CHEF)
    if organization_ids is not None:
        query = query.where(CHEF.c.organization_id.in_(organization_ids or [""]))
    return {r.organization_id: protection.Scope(tuple(r.groupes or ()), tuple(r.departements or ()))
            for r in conn.execute(query)}


def scope_sql(scopes: list[protection.Scope], params: dict, prefix: str = "o.") -> str:
    """SQL true for an occurrence inside one of ``scopes`` (false when there is none)."""
    parts = []
    for i, scope in enumerate(scopes):
        conds = []
        if scope.groupes:
            params[f"sg{i}"] = list(scope.groupes)
            conds.append(f"{prefix}groupe = ANY(:sg{i})")
        if scope.departements:
            params[f"sd{i}"] = list(scope.departements)
            conds.append(f"{prefix}dep = ANY(:sd{i})")
        parts.append("(" + (" AND ".join(conds) or "true") + ")")
    return "(" + " OR ".join(parts) + ")" if parts else "false"


def packages_in_scopes(conn, scopes: list[protection.Scope]) -> list[str]:
    if not scopes:
        return []
    params: dict = {}
    return [r[0] for r in conn.execute(text(f"SELECT DISTINCT package_id FROM sinp_occurrence o "
                                            f"WHERE {scope_sql(scopes, params)}"), params)]


def chefs_covering_package(conn, package_id: str) -> list[str]:
    """Chef de file organisations whose scope holds at least one occurrence of the package."""
    out = []
    for org, scope in chefs(conn).items():
        params = {"p": package_id}
        if conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM sinp_occurrence o WHERE o.package_id = :p "
                             f"AND {scope_sql([scope], params)})"), params).scalar():
            out.append(org)
    return out


# --- manual validation ---------------------------------------------------------------------------------

def validate(conn, *, where: str, params: dict, level: str, validateur: str, organisme: str | None,
             comment: str | None, scale: str = "2") -> list[tuple[str, str]]:
    """Records a manual decision on every selected occurrence (type M, or C after an automatic
    one) and its history; returns (uuid, package_id) of the rows changed."""
    rows = conn.execute(text(f"""
        WITH sel AS (SELECT o.id, o.niv_val AS previous FROM sinp_occurrence o WHERE {where} FOR UPDATE)
        UPDATE sinp_occurrence o SET niv_val = :level,
               typ_val = CASE WHEN o.typ_val IN ('A', 'C') THEN 'C' ELSE 'M' END,
               ech_val = :scale, validateur = :validateur, date_ctrl = now(), comm_val = :comment
          FROM sel WHERE sel.id = o.id
        RETURNING o.id_sinp_occtax, o.package_id, sel.previous, o.typ_val"""),
        {**params, "level": level, "scale": scale, "validateur": validateur, "comment": comment}).all()
    by_type: dict[str, list] = {}
    for uuid, pid, previous, typ in rows:
        by_type.setdefault(typ, []).append((uuid, pid, previous))
    for typ, items in by_type.items():
        _history(conn, items, level, typ, scale, validateur, organisme, comment, None)
    return [(r[0], r[1]) for r in rows]


def history(conn, uuid: str) -> list[dict]:
    rows = conn.execute(sa.select(VALIDATION).where(VALIDATION.c.id_sinp_occtax == uuid)
                        .order_by(VALIDATION.c.id)).mappings().all()
    return [dict(r) for r in rows]


def notify(conn, owner_org: str | None, package_id: str, message: str) -> None:
    conn.execute(NOTIFICATION.insert().values(owner_org=owner_org, package_id=package_id, message=message))


def notifications(conn, org_ids: list[str], limit: int = 50) -> list[dict]:
    rows = conn.execute(sa.select(NOTIFICATION).where(NOTIFICATION.c.owner_org.in_(org_ids or [""]))
                        .order_by(NOTIFICATION.c.id.desc()).limit(limit)).mappings().all()
    return [dict(r) for r in rows]
