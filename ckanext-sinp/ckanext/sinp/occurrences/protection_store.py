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
from sqlalchemy import ARRAY, BigInteger, Column, DateTime, Integer, MetaData, SmallInteger, Table, Text, text

from ckanext.sinp.domain import protection
from ckanext.sinp.referentials.common import VERSION_TABLE, copy_line, dbapi_cursor

metadata = MetaData()

RULE = Table(
    "sinp_sensitivity_rule",
    metadata,
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
    "sinp_sensitivity_taxon",
    metadata,
    Column("rule_id", Integer, nullable=False, index=True),
    Column("cd_nom", Integer, nullable=False, index=True),
    comment="Règle de sensibilité → chaque CD_NOM couvert (taxon, descendants, synonymes)",
)

CHEF = Table(
    "sinp_chef_de_file",
    metadata,
    Column("organization_id", Text, primary_key=True),
    Column("groupes", ARRAY(Text), nullable=False, server_default="{}"),
    Column("departements", ARRAY(Text), nullable=False, server_default="{}"),
    Column("updated_at", DateTime(timezone=True), server_default=sa.func.now()),
    comment="Structures chefs de file de la validation et leur périmètre (vide = tout)",
)

VALIDATION = Table(
    "sinp_validation",
    metadata,
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
    "sinp_notification",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("owner_org", Text, index=True),
    Column("package_id", Text, index=True),
    Column("message", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    comment="Notifications aux producteurs (validation de leurs données)",
)

# columns added to sinp_occurrence (created by store.ensure_tables); upgrades run ALTER … IF NOT EXISTS
OCCURRENCE_COLUMNS = (
    ("cd_ref", "integer"),
    ("groupe", "text"),
    ("dep", "text"),
    ("maille_calc", "text"),
    ("sensi_alerte", "text"),
    ("sensi_manuel", "boolean NOT NULL DEFAULT false"),
    ("public_layer", "smallint NOT NULL DEFAULT 4"),
    ("niv_val", "text NOT NULL DEFAULT '0'"),
    ("typ_val", "text"),
    ("ech_val", "text"),
    ("validateur", "text"),
    ("date_ctrl", "timestamptz"),
    ("comm_val", "text"),
)
REFERENTIAL_NAME = "sensibilite"
BFC_DEPARTEMENTS = ("21", "25", "39", "58", "70", "71", "89", "90")


def ensure_tables(engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name, sql_type in OCCURRENCE_COLUMNS:
            conn.execute(text(f"ALTER TABLE sinp_occurrence ADD COLUMN IF NOT EXISTS {name} {sql_type}"))
        conn.execute(text("ALTER TABLE sinp_occurrence DROP COLUMN IF EXISTS validation_status"))
        # the automatic pre-validation looks up validated taxa per département: a small partial index
        conn.execute(text("DROP INDEX IF EXISTS ix_sinp_occurrence_cd_ref"))
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_sinp_occurrence_known ON sinp_occurrence (cd_ref, dep) "
                "WHERE niv_val IN ('1', '2')"
            )
        )


def _tables(conn) -> set[str]:
    return set(sa.inspect(conn).get_table_names())


# --- the SQL of the blurring matrix, generated from domain/protection.py (one source of truth) ----


def public_layer_sql(
    sensi: str = "sensi_niveau", origin: str = "ds_publique", diffusion: str = "diffusion_niveau_precision"
) -> str:
    public = ", ".join(f"'{c}'" for c in sorted(protection.PUBLIC_ORIGINS))
    private = " ".join(f"WHEN '{code}' THEN {layer}" for code, layer in sorted(protection._PRIVATE_LAYER.items()))
    private_case = (
        f"CASE WHEN COALESCE({origin}, '') IN ({public}) THEN 0 "
        f"ELSE CASE COALESCE(NULLIF(trim({diffusion}), ''), '0') {private} ELSE {protection.COMMUNE} END END"
    )
    sensi_case = (
        f"CASE WHEN {sensi} IS NULL OR {sensi} = '' THEN 0 WHEN {sensi} IN ('0','1','2','3','4') "
        f"THEN {sensi}::int ELSE {protection.AUCUNE} END"
    )
    return f"GREATEST({sensi_case}, {private_case})"


def cell_polygon_sql(code: str = "maille_calc") -> str:
    """The 10 km cell of a CD_SIG code (10kmL93E074N695) as a WGS 84 polygon."""
    e = f"substring({code} from 'E([0-9]+)N')::int * 10000"
    n = f"substring({code} from 'N([0-9]+)$')::int * 10000"
    return f"ST_Transform(ST_MakeEnvelope({e}, {n}, {e} + 10000, {n} + 10000, 2154), 4326)"


# --- attachment, sensitivity, automatic validation (at integration, in the caller's transaction) ----


def _dep_sql(o: str = "o") -> str:
    """The département of an observation (protection.observation_departement, in SQL)."""
    dep = f"NULLIF(trim(split_part(COALESCE({o}.code_departement, ''), '|', 1)), '')"
    commune = f"trim(split_part(COALESCE({o}.code_commune, ''), '|', 1))"
    return (
        f"CASE WHEN {dep} IS NOT NULL THEN lpad(upper({dep}), 2, '0') "
        f"WHEN length({commune}) = 5 THEN CASE WHEN {commune} LIKE '97%' THEN left({commune}, 3) "
        f"ELSE upper(left({commune}, 2)) END END"
    )


def _cell_sql(o: str = "o", point: str = "l.p") -> str:
    """The 10 km cell (CD_SIG): of the geometry when there is one, else the deposited codeMaille."""
    given = f"split_part(COALESCE({o}.code_maille, ''), '|', 1)"
    return (
        f"COALESCE('10kmL93E' || lpad(floor(ST_X({point}) / 10000)::int::text, 3, '0') || 'N' || "
        f"lpad(floor(ST_Y({point}) / 10000)::int::text, 3, '0'), "
        f"CASE WHEN {given} ~ '^(10kmL93)?E[0-9]{{3}}N[0-9]{{3}}$' "
        f"THEN '10kmL93' || substring({given} from 'E[0-9]{{3}}N[0-9]{{3}}') END)"
    )


def computed_sql(
    conn,
    table: str,
    where: str,
    criteria: tuple[str, ...],
    params: dict,
    today: dt.date | None = None,
    carry: tuple[str, ...] = (),
) -> str:
    """One SELECT computing, for the selected rows of ``table`` (alias ``o``), everything protection
    derives from an observation: TAXREF attachment (cd_ref, GROUP2_INPN), département, 10 km cell,
    sensitivity (level, alert, referential, version; manual decisions kept), public layer, and
    whether the automatic pre-validation applies (``auto``). Set-wise: the rules are hash-joined,
    no statement per row. Integration, referential reloads and ``sinp_auto_validate`` all use it.

    ``carry``: columns of ``table`` passed through unchanged (prefixed ``src_``), so that the
    integration reads its staging table once instead of joining it back by id."""
    tables = _tables(conn)
    today = today or dt.date.today()
    version = None
    if "sinp_sensitivity_rule" in tables and VERSION_TABLE.name in tables:
        version = conn.execute(
            sa.select(VERSION_TABLE.c.version).where(VERSION_TABLE.c.name == REFERENTIAL_NAME)
        ).scalar()
    params.update(
        {
            "year": today.year,
            "sensi_ref": "Référentiel de sensibilité SINP BFC" if version else None,
            "sensi_version": version,
        }
    )
    has_taxref = "sinp_taxref" in tables
    taxref = "LEFT JOIN sinp_taxref t ON t.cd_nom = o.cd_nom" if has_taxref else ""
    unknown_status = ", ".join(f"'{c}'" for c in sorted(protection.UNKNOWN_STATUS - {""}))
    unknown_behaviour = ", ".join(f"'{c}'" for c in sorted(protection.UNKNOWN_BEHAVIOUR - {""}))
    status_unknown = f"COALESCE(a.occ_statut_biologique, '') IN ('', {unknown_status})"
    behaviour_unknown = f"COALESCE(a.occ_comportement, '') IN ('', {unknown_behaviour})"
    reason = f"""NULLIF(concat_ws(' ; ',
        CASE WHEN r.departement IS NOT NULL AND a.c_dep IS NULL THEN 'département de l''observation inconnu' END,
        CASE WHEN cardinality(r.statuts_bio) > 0 AND {status_unknown} THEN 'statut biologique non renseigné' END,
        CASE WHEN cardinality(r.comportements) > 0 AND {behaviour_unknown} THEN 'comportement non renseigné' END,
        CASE WHEN COALESCE(r.autre, '') <> '' THEN 'condition à vérifier : ' || r.autre END), '')"""
    if version:
        # one row per (observation, matching rule); highest level wins; the reasons of rules applied by
        # precaution are an alert only above the level the certain rules give (domain/protection.py)
        matches = f"""
          SELECT id, max(niveau) AS niveau,
                 string_agg(DISTINCT reason, ' ; ') FILTER (WHERE reason IS NOT NULL AND niveau > decided) AS alerte
            FROM (SELECT id, niveau, reason,
                         COALESCE(max(niveau) FILTER (WHERE reason IS NULL) OVER (PARTITION BY id), -1) AS decided
                    FROM (SELECT a.id, r.niveau, {reason} AS reason
                            FROM a JOIN sinp_sensitivity_taxon st ON st.cd_nom = a.cd_nom
                                   JOIN sinp_sensitivity_rule r ON r.id = st.rule_id
                           WHERE (r.duree IS NULL OR COALESCE(a.date_fin, a.date_debut) IS NULL
                                  OR extract(year FROM COALESCE(a.date_fin, a.date_debut)) >= :year - r.duree)
                             AND (r.departement IS NULL OR a.c_dep IS NULL OR a.c_dep = r.departement)
                             AND (r.date_min IS NULL OR a.date_debut IS NULL
                                  OR (r.date_min <= r.date_max
                                      AND to_char(a.date_debut, 'MM-DD') BETWEEN r.date_min AND r.date_max)
                                  OR (r.date_min > r.date_max AND (to_char(a.date_debut, 'MM-DD') >= r.date_min
                                                                  OR to_char(a.date_debut, 'MM-DD') <= r.date_max)))
                             AND (cardinality(r.statuts_bio) = 0 OR {status_unknown}
                                  OR a.occ_statut_biologique = ANY(r.statuts_bio))
                             AND (cardinality(r.comportements) = 0 OR {behaviour_unknown}
                                  OR a.occ_comportement = ANY(r.comportements))) AS pairs) AS ranked
           GROUP BY id"""
    else:
        matches = "SELECT NULL::bigint AS id, 0 AS niveau, NULL::text AS alerte WHERE false"
    sensi = "CASE WHEN a.sensi_manuel THEN a.sensi_niveau ELSE COALESCE(m.niveau, 0)::text END"
    auto = ["a.niv_val = '0'", "COALESCE(a.typ_val, '') NOT IN ('M', 'C')"] if criteria else ["false"]
    known = "SELECT NULL::int AS cd_ref, NULL::text AS dep, 0 AS n, NULL::text AS r WHERE false"
    if "date_plausible" in criteria:
        auto.append("a.date_debut >= DATE '1800-01-01' AND COALESCE(a.date_fin, a.date_debut) <= CURRENT_DATE")
    if "dans_territoire" in criteria:
        inside = (
            (
                "OR (a.geom IS NOT NULL AND EXISTS (SELECT 1 FROM sinp_territoire tt "
                "WHERE ST_Intersects(tt.geom, a.geom)))"
            )
            if "sinp_territoire" in tables
            else ""
        )
        auto.append(f"(COALESCE(a.c_dep = ANY(:bfc), false) {inside})")
        params["bfc"] = list(BFC_DEPARTEMENTS)
    if "taxon_connu_departement" in criteria:
        # validated (1, 2) observations of the same taxon in the same département, in another deposit
        known = """SELECT cd_ref, dep, count(DISTINCT resource_id) AS n, min(resource_id) AS r
                     FROM sinp_occurrence WHERE niv_val IN ('1', '2') AND cd_ref IS NOT NULL AND dep IS NOT NULL
                    GROUP BY cd_ref, dep"""
        auto.append("k.cd_ref IS NOT NULL AND (k.n > 1 OR k.r <> a.resource_id)")
    passed = "".join(f", o.{c} AS src_{c}" for c in carry)
    # not materialized: the rule matches (m) and the final SELECT each read only the columns they need
    return f"""
        WITH a AS NOT MATERIALIZED (
          SELECT o.id, o.cd_nom, o.date_debut, o.date_fin, o.occ_statut_biologique, o.occ_comportement,
                 o.ds_publique, o.diffusion_niveau_precision, o.geom, o.resource_id, o.niv_val, o.typ_val,
                 o.sensi_manuel, o.sensi_niveau, o.sensi_alerte, o.sensi_referentiel, o.sensi_version_referentiel,
                 o.sensi_date_attribution,
                 {"t.cd_ref" if has_taxref else "o.cd_ref"} AS c_cd_ref,
                 {"t.group2_inpn" if has_taxref else "o.groupe"} AS c_groupe,
                 {_dep_sql()} AS c_dep, {_cell_sql()} AS c_maille{passed}
            FROM {table} o {taxref}
            CROSS JOIN LATERAL (SELECT ST_Transform(ST_PointOnSurface(o.geom), 2154) AS p) l
           {f"WHERE {where}" if where else ""}),
        m AS ({matches}),
        k AS ({known})
        SELECT a.id, a.c_cd_ref AS cd_ref, a.c_groupe AS groupe, a.c_dep AS dep, a.c_maille AS maille_calc,
               {sensi} AS sensi_niveau,
               CASE WHEN a.sensi_manuel THEN a.sensi_alerte ELSE m.alerte END AS sensi_alerte,
               CASE WHEN a.sensi_manuel THEN a.sensi_referentiel ELSE :sensi_ref END AS sensi_referentiel,
               CASE WHEN a.sensi_manuel THEN a.sensi_version_referentiel ELSE :sensi_version END
                 AS sensi_version_referentiel,
               CASE WHEN a.sensi_manuel THEN a.sensi_date_attribution ELSE now() END AS sensi_date_attribution,
               {public_layer_sql(sensi, "a.ds_publique", "a.diffusion_niveau_precision")} AS public_layer,
               ({" AND ".join(auto)}) AS auto{"".join(f", a.src_{c}" for c in carry)}
          FROM a LEFT JOIN m ON m.id = a.id LEFT JOIN k ON k.cd_ref = a.c_cd_ref AND k.dep = a.c_dep"""


_COMPUTED = (
    "cd_ref",
    "groupe",
    "dep",
    "maille_calc",
    "sensi_niveau",
    "sensi_alerte",
    "sensi_referentiel",
    "sensi_version_referentiel",
    "sensi_date_attribution",
    "public_layer",
)


_VALIDATION_SETS = {
    "niv_val": "CASE WHEN c.auto THEN :auto_level ELSE {o}.niv_val END",
    "typ_val": "CASE WHEN c.auto THEN 'A' ELSE {o}.typ_val END",
    "ech_val": "CASE WHEN c.auto THEN '2' ELSE {o}.ech_val END",
    "validateur": "CASE WHEN c.auto THEN 'Validation automatique' ELSE {o}.validateur END",
    "date_ctrl": "CASE WHEN c.auto THEN now() ELSE {o}.date_ctrl END",
    "comm_val": "CASE WHEN c.auto THEN :auto_comment ELSE {o}.comm_val END",
}


def apply_computed(
    conn,
    table: str,
    where: str = "",
    params: dict | None = None,
    criteria: tuple[str, ...] = (),
    level: str = protection.DEFAULT_AUTO_LEVEL,
    validate_only: bool = False,
) -> tuple[int, int]:
    """Writes ``computed_sql`` into ``table``; returns (rows updated, rows pre-validated now).
    ``validate_only``: only the automatic pre-validation (``sinp_auto_validate``)."""
    params = dict(params or {})
    sql = computed_sql(conn, table, where, criteria, params)
    sets = [] if validate_only else [f"{c} = c.{c}" for c in _COMPUTED]
    sets += [f"{col} = {expr.format(o='o')}" for col, expr in _VALIDATION_SETS.items()] if criteria else []
    comment = "Critères : " + ", ".join(criteria)
    filter_ = "AND c.auto" if validate_only else ""
    updated = conn.execute(
        text(f"""UPDATE {table} o SET {", ".join(sets)} FROM ({sql}) AS c
                                     WHERE o.id = c.id {filter_}"""),
        {**params, "auto_level": level, "auto_comment": comment},
    ).rowcount
    validated = _record_auto_history(conn, table, "", {}, comment) if criteria else 0
    return updated, validated


def _record_auto_history(conn, table: str, where: str, params: dict, comment: str) -> int:
    """The history of what the automatic pre-validation decided in this transaction (``now()`` is
    the transaction's time, written in ``date_ctrl``)."""
    return conn.execute(
        text(f"""
        INSERT INTO sinp_validation (id_sinp_occtax, package_id, niv_val, typ_val, ech_val, validateur,
                                     comm_val, previous_niv_val)
        SELECT id_sinp_occtax, package_id, niv_val, 'A', '2', 'Validation automatique', :comment, '0'
          FROM {table} WHERE typ_val = 'A' AND date_ctrl = now() {where}"""),
        {**params, "comment": comment},
    ).rowcount


def insert_computed(
    conn, source: str, resource_id: str, criteria: tuple[str, ...] = (), level: str = protection.DEFAULT_AUTO_LEVEL
) -> int:
    """Writes the rows of ``source`` (a staging table shaped like sinp_occurrence) into the store
    with what protection computes from them, in one INSERT … SELECT (each row written once, with
    its final values, into the indexed table; the staging table read once, its columns carried
    through ``computed_sql``). The history of the automatic pre-validation is written from the
    rows the INSERT returns. Returns the number of rows written."""
    columns = [
        r[0]
        for r in conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'sinp_occurrence'::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum"
            )
        )
    ]
    carried = tuple(c for c in columns if c not in _COMPUTED and c != "id")
    params: dict = {}
    sql = computed_sql(conn, source, "", criteria, params, carry=carried)
    exprs = [
        "c.id"
        if col == "id"
        else f"c.{col}"
        if col in _COMPUTED
        else _VALIDATION_SETS[col].format(o="c").replace("ELSE c.", "ELSE c.src_")
        if col in _VALIDATION_SETS
        else f"c.src_{col}"
        for col in columns
    ]
    comment = "Critères : " + ", ".join(criteria)
    insert = f"""INSERT INTO sinp_occurrence ({", ".join(columns)})
                 SELECT {", ".join(exprs)} FROM ({sql}) AS c"""
    if not criteria:
        return conn.execute(text(insert), {**params, "auto_level": level, "auto_comment": comment}).rowcount
    # the rows pre-validated now: type A dated now() (the transaction's time), as _record_auto_history
    written, _ = conn.execute(
        text(f"""
        WITH ins AS ({insert} RETURNING id_sinp_occtax, package_id, niv_val, typ_val, date_ctrl),
             hist AS (INSERT INTO sinp_validation (id_sinp_occtax, package_id, niv_val, typ_val, ech_val,
                                                   validateur, comm_val, previous_niv_val)
                      SELECT id_sinp_occtax, package_id, niv_val, 'A', '2', 'Validation automatique',
                             :auto_comment, '0'
                        FROM ins WHERE typ_val = 'A' AND date_ctrl = now() RETURNING 1)
        SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM hist)"""),
        {**params, "auto_level": level, "auto_comment": comment},
    ).one()
    return written


def compute_sensitivity(conn, where: str = "", params: dict | None = None) -> int:
    """Recomputes attachment and sensitivity of stored occurrences (after a referential change);
    manual decisions are kept, validation untouched."""
    return apply_computed(conn, "sinp_occurrence", where, params)[0]


def update_public_layer(conn, where: str = "", params: dict | None = None) -> None:
    conn.execute(
        text(
            f"UPDATE sinp_occurrence o SET public_layer = "
            f"{public_layer_sql('o.sensi_niveau', 'o.ds_publique', 'o.diffusion_niveau_precision')} "
            f"{('WHERE ' + where) if where else ''}"
        ),
        params or {},
    )


def auto_validate(conn, criteria: tuple[str, ...], level: str, where: str = "", params: dict | None = None) -> int:
    """Automatic pre-validation of stored occurrences still "en attente" that pass every criterion:
    ``level``, type A, scale 2 (regional). Manual and combined decisions are never touched."""
    if not criteria:
        return 0
    return apply_computed(conn, "sinp_occurrence", where, params, criteria, level, validate_only=True)[1]


def _history(conn, rows, level, typ, ech, validateur, organisme, comment, previous) -> None:
    buf = io.StringIO(
        "".join(
            copy_line((r[0], r[1], level, typ, ech, validateur, organisme, comment, r[2] if len(r) > 2 else previous))
            for r in rows
        )
    )
    with dbapi_cursor(conn) as cur:
        cur.copy_expert(
            "COPY sinp_validation (id_sinp_occtax, package_id, niv_val, typ_val, ech_val, validateur, "
            "organisme, comm_val, previous_niv_val) FROM STDIN WITH (FORMAT text)",
            buf,
        )


# --- the sensitivity referential ----------------------------------------------------------------------


def load_rules(engine, rules: list[protection.SensitivityRule], version: str, source_file: str, sha256: str) -> dict:
    """Replaces the referential (one transaction), expands it to descendant taxa and recomputes
    the sensitivity of every occurrence not decided manually. Returns counts."""
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_sensitivity'))"))
        conn.execute(RULE_TAXON.delete())
        conn.execute(RULE.delete())
        conn.execute(
            RULE.insert(),
            [
                {
                    "cd_nom": r.cd_nom,
                    "niveau": r.niveau,
                    "nom_cite": r.nom_cite,
                    "duree": r.duree,
                    "departement": r.departement,
                    "date_min": r.date_min,
                    "date_max": r.date_max,
                    "statuts_bio": list(r.statuts_bio),
                    "comportements": list(r.comportements),
                    "autre": r.autre or None,
                    "liste": r.liste or None,
                }
                for r in rules
            ],
        )
        taxa = refresh_rule_taxa(conn)
        stmt = sa.dialects.postgresql.insert(VERSION_TABLE).values(
            name=REFERENTIAL_NAME,
            version=version,
            row_count=len(rules),
            sha256=sha256,
            source_file=source_file,
            source_format="CSV référentiel de sensibilité",
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[VERSION_TABLE.c.name],
                set_={
                    "version": version,
                    "row_count": len(rules),
                    "sha256": sha256,
                    "source_file": source_file,
                    "loaded_at": sa.func.now(),
                    "source_format": stmt.excluded.source_format,
                },
            )
        )
        updated = compute_sensitivity(conn) if "sinp_occurrence" in _tables(conn) else 0
        unknown = rules_without_taxon(conn)
    return {"rules": len(rules), "taxa": taxa, "occurrences": updated, "unknown_taxa": unknown}


def refresh_rule_taxa(conn) -> int:
    """Expands every rule to the names it covers: its CD_NOM, the valid name's descendants in the
    CD_SUP tree (valid names) and every synonym of those (the TAXREF loaded now)."""
    conn.execute(RULE_TAXON.delete())
    if "sinp_taxref" in _tables(conn):
        conn.execute(
            text("""
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
                UNION SELECT id, cd_nom FROM sinp_sensitivity_rule) AS x""")
        )
    else:
        conn.execute(
            text("INSERT INTO sinp_sensitivity_taxon (rule_id, cd_nom) SELECT id, cd_nom FROM sinp_sensitivity_rule")
        )
    return conn.execute(text("SELECT count(DISTINCT cd_nom) FROM sinp_sensitivity_taxon")).scalar()


def rules_without_taxon(conn) -> list[int]:
    """CD_NOM of rules that name no taxon of the loaded TAXREF (they still match that exact code)."""
    if "sinp_taxref" not in _tables(conn):
        return []
    return [
        r[0]
        for r in conn.execute(
            text("""SELECT DISTINCT r.cd_nom FROM sinp_sensitivity_rule r
                                                 LEFT JOIN sinp_taxref t ON t.cd_nom = r.cd_nom
                                                WHERE t.cd_nom IS NULL ORDER BY 1""")
        )
    ]


def list_rules(conn) -> list[dict]:
    if "sinp_sensitivity_rule" not in _tables(conn):
        return []
    sql = (
        """SELECT r.*, t.lb_nom FROM sinp_sensitivity_rule r LEFT JOIN sinp_taxref t ON t.cd_nom = r.cd_nom
              ORDER BY r.departement NULLS FIRST, r.niveau DESC, r.cd_nom"""
        if "sinp_taxref" in _tables(conn)
        else "SELECT r.*, NULL AS lb_nom FROM sinp_sensitivity_rule r ORDER BY r.departement, r.niveau DESC, r.cd_nom"
    )
    return [dict(r) for r in conn.execute(text(sql)).mappings()]


# --- chefs de file -------------------------------------------------------------------------------------


def set_chef(conn, organization_id: str, scope: protection.Scope) -> None:
    stmt = sa.dialects.postgresql.insert(CHEF).values(
        organization_id=organization_id, groupes=list(scope.groupes), departements=list(scope.departements)
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[CHEF.c.organization_id],
            set_={
                "groupes": stmt.excluded.groupes,
                "departements": stmt.excluded.departements,
                "updated_at": sa.func.now(),
            },
        )
    )


def delete_chef(conn, organization_id: str) -> None:
    conn.execute(CHEF.delete().where(CHEF.c.organization_id == organization_id))


def chefs(conn, organization_ids: list[str] | None = None) -> dict[str, protection.Scope]:
    query = sa.select(CHEF)
    if organization_ids is not None:
        query = query.where(CHEF.c.organization_id.in_(organization_ids or [""]))
    return {
        r.organization_id: protection.Scope(tuple(r.groupes or ()), tuple(r.departements or ()))
        for r in conn.execute(query)
    }


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
    return [
        r[0]
        for r in conn.execute(
            text(f"SELECT DISTINCT package_id FROM sinp_occurrence o WHERE {scope_sql(scopes, params)}"), params
        )
    ]


def chefs_covering_package(conn, package_id: str) -> list[str]:
    """Chef de file organisations whose scope holds at least one occurrence of the package."""
    out = []
    for org, scope in chefs(conn).items():
        params = {"p": package_id}
        if conn.execute(
            text(
                f"SELECT EXISTS (SELECT 1 FROM sinp_occurrence o WHERE o.package_id = :p "
                f"AND {scope_sql([scope], params)})"
            ),
            params,
        ).scalar():
            out.append(org)
    return out


# --- manual validation ---------------------------------------------------------------------------------


def validate(
    conn,
    *,
    where: str,
    params: dict,
    level: str,
    validateur: str,
    organisme: str | None,
    comment: str | None,
    scale: str = "2",
) -> list[tuple[str, str]]:
    """Records a manual decision on every selected occurrence (type M, or C after an automatic
    one) and its history; returns (uuid, package_id) of the rows changed."""
    rows = conn.execute(
        text(f"""
        WITH sel AS (SELECT o.id, o.niv_val AS previous FROM sinp_occurrence o WHERE {where} FOR UPDATE)
        UPDATE sinp_occurrence o SET niv_val = :level,
               typ_val = CASE WHEN o.typ_val IN ('A', 'C') THEN 'C' ELSE 'M' END,
               ech_val = :scale, validateur = :validateur, date_ctrl = now(), comm_val = :comment
          FROM sel WHERE sel.id = o.id
        RETURNING o.id_sinp_occtax, o.package_id, sel.previous, o.typ_val"""),
        {**params, "level": level, "scale": scale, "validateur": validateur, "comment": comment},
    ).all()
    by_type: dict[str, list] = {}
    for uuid, pid, previous, typ in rows:
        by_type.setdefault(typ, []).append((uuid, pid, previous))
    for typ, items in by_type.items():
        _history(conn, items, level, typ, scale, validateur, organisme, comment, None)
    return [(r[0], r[1]) for r in rows]


def history(conn, uuid: str) -> list[dict]:
    rows = (
        conn.execute(sa.select(VALIDATION).where(VALIDATION.c.id_sinp_occtax == uuid).order_by(VALIDATION.c.id))
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def notify(conn, owner_org: str | None, package_id: str, message: str) -> None:
    conn.execute(NOTIFICATION.insert().values(owner_org=owner_org, package_id=package_id, message=message))


def notifications(conn, org_ids: list[str], limit: int = 50) -> list[dict]:
    rows = (
        conn.execute(
            sa.select(NOTIFICATION)
            .where(NOTIFICATION.c.owner_org.in_(org_ids or [""]))
            .order_by(NOTIFICATION.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def known_groups(engine) -> set[str]:
    """The INPN groups (``group2_inpn``) of the loaded TAXREF: those a chef de file may be given;
    empty before TAXREF is loaded."""
    with engine.connect() as conn:
        if "sinp_taxref" not in sa.inspect(conn).get_table_names():
            return set()
        rows = conn.execute(text("SELECT DISTINCT group2_inpn FROM sinp_taxref WHERE group2_inpn IS NOT NULL"))
        return {r[0] for r in rows}


# margin around the region's outline (degrees): blurred cells and départements of its edges overlap it
REGION_MARGIN = 0.25
# without a loaded outline (`ckan sinp geo-load territoire`): metropolitan France and Corsica
FALLBACK_REGION = (-5.8, 41.0, 10.0, 51.5)


def territory_extent(conn) -> tuple[float, float, float, float] | None:
    """The bounding box (west, south, east, north, EPSG:4326) of the platform's territory
    (``sinp_territoire``), or None when no outline is loaded."""
    if not sa.inspect(conn).has_table("sinp_territoire"):
        return None
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) AS e FROM sinp_territoire) AS x"
        )
    ).first()
    return None if row is None or row[0] is None else tuple(row)


def region_bbox(conn) -> tuple[float, float, float, float]:
    """The bounding box of the platform's territory (``sinp_territoire``) widened by REGION_MARGIN."""
    extent = territory_extent(conn)
    if extent is None:
        return FALLBACK_REGION
    w, s, e, n = extent
    return (
        max(-180.0, w - REGION_MARGIN),
        max(-90.0, s - REGION_MARGIN),
        min(180.0, e + REGION_MARGIN),
        min(90.0, n + REGION_MARGIN),
    )


# --- the territory service and the validation and sensitivity actions ---------------------------------------


def territory_taxa(conn, sql: str, params: dict, wkt: str):
    """What ``sinp_territory_taxa`` reports of the observations ``sql`` selects (``store.blurred``
    for the caller, within the polygon ``wkt``): one row per taxon (name from TAXREF when loaded),
    the taxa of the sensitivity referential, the polygon's area in km² and the count by validation
    level. Returns (rows, sensitive taxa, area, levels)."""
    has_taxref = "sinp_taxref" in sa.inspect(conn).get_table_names()
    name = "COALESCE(t.lb_nom, min(q.nom_cite))" if has_taxref else "min(q.nom_cite)"
    vern = "t.nom_vern" if has_taxref else "NULL"
    join = "LEFT JOIN sinp_taxref t ON t.cd_nom = COALESCE(q.cd_ref, q.cd_nom)" if has_taxref else ""
    group_cols = ", t.lb_nom, t.nom_vern" if has_taxref else ""
    rows = (
        conn.execute(
            text(f"""
        SELECT COALESCE(q.cd_ref, q.cd_nom) AS cd_ref, {name} AS nom, {vern} AS nom_vern, min(q.groupe) AS groupe,
               count(*) AS observations, max(extract(year FROM COALESCE(q.date_fin, q.date_debut)))::int AS derniere_annee,
               max(CASE WHEN q.sensi_niveau ~ '^[0-4]$' THEN q.sensi_niveau::int ELSE 0 END) AS sensibilite_max,
               count(*) FILTER (WHERE q.layer > 0) AS floutees,
               array_agg(DISTINCT COALESCE(q.niv_val, '0')) AS niveaux_presents,
               count(*) FILTER (WHERE q.niv_val IN ('1', '2')) AS validees
          FROM ({sql}) AS q {join}
         GROUP BY COALESCE(q.cd_ref, q.cd_nom){group_cols}
         ORDER BY observations DESC, nom"""),
            params,
        )
        .mappings()
        .all()
    )
    sensitive_taxa = set()
    if "sinp_sensitivity_taxon" in sa.inspect(conn).get_table_names():
        sensitive_taxa = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT DISTINCT t.cd_nom FROM sinp_sensitivity_taxon t JOIN sinp_sensitivity_rule r ON r.id = t.rule_id "
                    "WHERE r.niveau > 0"
                )
            )
        }
    area = conn.execute(text("SELECT ST_Area(ST_GeomFromText(:w, 4326)::geography) / 1e6"), {"w": wkt}).scalar()
    levels_sql = f"SELECT niv_val, count(*) FROM ({sql}) AS q GROUP BY 1"
    levels = {c: n for c, n in conn.execute(text(levels_sql), params)}
    return rows, sensitive_taxa, area, levels


def occurrence_package_ids(conn) -> list[str]:
    """The packages (JDD) holding occurrences."""
    return [r[0] for r in conn.execute(text("SELECT DISTINCT package_id FROM sinp_occurrence"))]


def count_occurrences(conn, where: str, params: dict) -> int:
    """How many occurrences (alias ``o``) ``where`` selects."""
    return conn.execute(text(f"SELECT count(*) FROM sinp_occurrence o WHERE {where}"), params).scalar()


def occurrence_by_uuid(conn, uuid: str):
    """(package_id, id_sinp_occtax) of the occurrence of this idSINPOccTax (any case), or None."""
    return conn.execute(
        text("SELECT package_id, id_sinp_occtax FROM sinp_occurrence WHERE upper(id_sinp_occtax) = :u"), {"u": uuid}
    ).first()


def full_access(conn, sql: str, params: dict):
    """The ``full_access`` column of the first row of ``sql`` (a ``store.blurred`` query), or None."""
    return conn.execute(text(f"SELECT full_access FROM ({sql}) AS q"), params).first()


def set_sensitivity(conn, where: str, params: dict) -> list[int]:
    """A manual sensitivity decision (``:level``, reason ``:ref``) on the occurrences (alias ``o``)
    ``where`` selects; the ids changed."""
    done = conn.execute(
        text(f"""UPDATE sinp_occurrence o SET sensi_niveau = :level, sensi_manuel = true,
                    sensi_alerte = NULL, sensi_date_attribution = now(), sensi_referentiel = :ref
                  WHERE {where} RETURNING o.id"""),
        params,
    ).all()
    return [r[0] for r in done]
