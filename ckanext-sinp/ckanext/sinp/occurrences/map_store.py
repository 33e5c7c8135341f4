"""What the géo-visualiseur and the data flows show: observation counts per 10 km cell, commune and
département, computed once per change of the data, never by scanning the occurrence table on a request.

Three kinds of tables:

1. ``sinp_carte_agg`` counts the observations per (JDD, diffusion layer, sensitivity flag, validation
   level, maille, commune, département, taxon, group, year), and ``sinp_carte_mois`` per (JDD, layer,
   taxon, month). Statement triggers on ``sinp_occurrence`` add what an INSERT brings and subtract what a
   DELETE takes (an UPDATE does both), with the transition tables, in the writing transaction: every
   write path (deposit, replacement, validation, sensitivity recomputation, deletion) keeps them exact,
   and a rolled-back deposit leaves them as they were. Unknown values are ``''`` (text) and ``0`` (int).
   The statements are ``count_statements`` (triggers, ``rebuild`` and the benches share them).
2. ``sinp_carte_public*`` are the public roll-ups (per cell over every published JDD, each published
   JDD's footprint, the territory), read by the unfiltered map and by the map server through the views
   of the ``sinp_flux`` schema. Every transaction changing the counts or CKAN's ``package`` table leaves
   a row in ``sinp_carte_changes`` (seen once it commits) naming the JDD whose public cells it may have
   narrowed (a deletion; an observation's diffusion, place, taxon, date or JDD changed; a JDD withdrawn,
   back to draft or deleted), none (a deposit, a validation, a publication) or any (a recount);
   ``refresh_public`` consumes them and recomputes the roll-ups (from the counts, not from the
   occurrences), in one transaction (readers see the old roll-ups until it commits). The scheduler runs
   it every ``ckanext.sinp.scheduler.carte_every`` seconds. Until then the roll-ups keep serving the
   public view while no pending change narrows (``Rollups.serves``: they lack what was deposited or
   published since, never show more than is public); after a change that names JDD, the unfiltered map
   and the views of ``sinp_flux`` read each cell again from the roll-up per JDD without those JDD plus
   their live counts (``_cells_without``, ``_served_cells``), the footprints leave out theirs, and other
   queries answer from the counts; after one that names no JDD, the counts answer and the views serve no
   cell.
   A map filtered by one kind of filter (a group, a département, a period, validation levels, a
   producer or a JDD), or by one kind and a département, reads the roll-up per filter value of
   ``map_rollups``; one filtered by other combinations (or a kind and a taxon) is answered from the
   counts directly.
3. ``sinp_carte_precis`` holds, for the observations whose diffusion blanks some code in
   ``sinp_carte_agg`` (public layer above « commune »), the same counts with every code kept. It is
   read only here, by the precise view (``cells``/``cell_taxa`` with an ``Access``): those
   ``store.Access.full_sql`` lets see an observation precisely — the rule of every other door, run on
   the counts' ``owner_org``, ``package_id``, ``groupe`` and ``dep`` — get it counted at every level
   (their organisation's private JDD and drafts too); everything else keeps its public layer. Never
   read by the public roll-ups nor by the views of ``sinp_flux``. The same triggers keep it.

What a level may show is the diffusion decided by protection: an observation counts per maille when its
public layer is at most « maille » (2), per commune at most « commune » (1), per département at most
« département » (3); never when it is « aucune diffusion » (4), never when its JDD is not published
(private, draft or deleted: ``PUBLISHED_JDD_SQL``, which ``logic.access.active_jdd_ids`` runs too) —
in the public view; the precise view widens it for what its caller may see precisely (3.).

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
from ckanext.sinp.occurrences import map_rollups
from ckanext.sinp.occurrences.store import Access

NIVEAUX = ("maille", "commune", "departement")
# the coarsest public layer an observation may have to be counted at each level (domain.protection)
MAX_LAYER = {"maille": protection.MAILLE, "commune": protection.COMMUNE, "departement": protection.DEPARTEMENT}
_CODE = {"maille": "maille", "commune": "commune", "departement": "dep"}


def _valid_code(niveau: str, column: str) -> str:
    """Only well-formed 10 km cells are drawn (a deposited code may be anything)."""
    return f"AND {column} ~ '^10kmL93E[0-9]+N[0-9]+$'" if niveau == "maille" else ""


# The one statement of which JDD count: active ones (never drafts nor deleted; what a chef de file may
# read in its scope), and among them the published ones (not private: what the public may see, blurred).
# ``logic.access.active_jdd_ids`` runs these statements too.
ACTIVE_JDD_SQL = "SELECT id, name, title, owner_org FROM package WHERE type = 'jdd' AND state = 'active'"


def _published(alias: str) -> str:
    """A row ``alias`` of ``package`` is a published JDD (``PUBLISHED_JDD_SQL``; the package triggers)."""
    return f"{alias}.type = 'jdd' AND {alias}.state = 'active' AND NOT {alias}.private"


PUBLISHED_JDD_SQL = f"SELECT id, name, title, owner_org FROM package p WHERE {_published('p')}"
# the JDD whose occurrences the precise view may count for those ``Access.full_sql`` lets see them
# (their producer's members: the private ones and the drafts too; a chef de file: active JDD only, by
# ``Access.scope_package_ids``); never a deleted one
VISIBLE_JDD_SQL = "SELECT id, name, title, owner_org FROM package WHERE type = 'jdd' AND state IN ('active', 'draft')"

FLUX_SCHEMA = "sinp_flux"

# the keys of a count: ``owner_org``, ``package_id``, ``groupe`` and ``dep`` are the columns that
# ``store.Access.full_sql`` reads, so that the precise view decides with the very rule of the other doors
_KEYS = (
    "package_id",
    "owner_org",
    "public_layer",
    "sensible",
    "niv_val",
    "maille",
    "commune",
    "dep",
    "cd_ref",
    "groupe",
    "annee",
)
_MONTH_KEYS = ("package_id", "public_layer", "cd_ref", "mois")
# each level's code of a row of sinp_occurrence (alias r), whatever its diffusion
_RAW_CODE = {
    "maille": "COALESCE(r.maille_calc, '')",
    "commune": "COALESCE(NULLIF(trim(split_part(COALESCE(r.code_commune, ''), '|', 1)), ''), '')",
    "dep": "COALESCE(r.dep, '')",
}
# each key as computed from a row of sinp_occurrence (alias r)
_ROW = {
    "package_id": "r.package_id",
    "owner_org": "COALESCE(r.owner_org, '')",
    "public_layer": "r.public_layer",
    "sensible": "COALESCE(r.sensi_niveau, '') NOT IN ('', '0')",
    "niv_val": "COALESCE(r.niv_val, '0')",
    # a code is kept only where the observation's diffusion allows that level: the counts never hold
    # the commune of an observation blurred to the maille, nor anything of one not diffused
    **{
        key: f"CASE WHEN r.public_layer <= {MAX_LAYER[niveau]} THEN {_RAW_CODE[key]} ELSE '' END"
        for niveau, key in _CODE.items()
    },
    "cd_ref": "COALESCE(r.cd_ref, 0)",
    "groupe": "COALESCE(r.groupe, '')",
    "annee": "COALESCE(extract(year FROM r.date_debut)::int, 0)",
    "mois": "COALESCE(extract(month FROM r.date_debut)::int, 0)",
}
# The precise counts (``sinp_carte_precis``): the observations whose diffusion blanks some level's
# code in ``sinp_carte_agg`` (public layer above the finest level's), with every code kept. Read by
# ``map_store`` only, for the rows ``Access.full_sql`` lets the caller see precisely; never by the
# views of ``sinp_flux`` nor by the public roll-ups.
BLURRED_ABOVE = min(MAX_LAYER.values())  # a public layer above it blanks at least one code
_PRECISE_ROW = {**_ROW, **_RAW_CODE}
_PRECISE_WHERE = f"r.public_layer > {BLURRED_ABOVE}"


def _grouped(table: str, keys: tuple[str, ...], sign: str, row: dict, where: str = "") -> str:
    cols = ", ".join(row[k] for k in keys)
    return (
        f"SELECT {cols}, {sign}count(*) FROM {table} r {'WHERE ' + where if where else ''} "
        f"GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
    )


def _apply(target: str, keys: tuple[str, ...], source: str, sign: str, precise: bool = False) -> str:
    """The statement adding (``sign`` '') or subtracting ('-') the rows of ``source`` to ``target``'s
    counts; ``precise``: the codes kept whatever the diffusion, blurred rows only (``sinp_carte_precis``)."""
    row, where = (_PRECISE_ROW, _PRECISE_WHERE) if precise else (_ROW, "")
    return (
        f"INSERT INTO {target} ({', '.join(keys)}, nb) {_grouped(source, keys, sign, row, where)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET nb = {target}.nb + EXCLUDED.nb"
    )


# the counts the triggers keep, each as (table, keys, precise)
COUNTS = (
    ("sinp_carte_agg", _KEYS, False),
    ("sinp_carte_mois", _MONTH_KEYS, False),
    ("sinp_carte_precis", _KEYS, True),
)


def count_statements(source: str, sign: str = "") -> list[str]:
    """Every count's statement for the rows of ``source`` (the triggers, ``rebuild`` and the benches)."""
    return [_apply(table, keys, source, sign, precise) for table, keys, precise in COUNTS]


def mark_sql(packages: str) -> str:
    """The row of the writing transaction in ``sinp_carte_changes``: ``packages`` (SQL, text[]) the JDD
    whose public cells the change may have narrowed — ``'{}'``: it narrows nothing (a deposit, a
    publication), NULL: any JDD (a TRUNCATE, a recount). Within a transaction the marks add up: the union
    of their JDD, any once one says any."""
    return f"""INSERT INTO sinp_carte_changes AS c (txid, packages) SELECT txid_current(), ({packages})
               ON CONFLICT (txid) DO UPDATE SET
                  packages = CASE WHEN c.packages IS NULL OR EXCLUDED.packages IS NULL THEN NULL
                                  ELSE ARRAY(SELECT DISTINCT unnest(c.packages || EXCLUDED.packages)) END
               WHERE EXCLUDED.packages IS DISTINCT FROM '{{}}'"""


NOTHING = "'{}'::text[]"  # ``mark_sql``: the change narrows nothing
ANY_JDD = "NULL::text[]"  # ``mark_sql``: the change may have narrowed any JDD


# An UPDATE of occurrences narrows what is public unless it left every key of the counts but the validation
# level (a validation changes ``niv_val`` only) as it was, on every row: the rows' keys before and after,
# with the month, compared as multisets
_NARROWING_KEYS = (*(key for key in _KEYS if key != "niv_val"), "mois")
# the JDD of the rows a DELETE or an UPDATE touched (an UPDATE that moves a row to another JDD narrows the
# one it leaves; the other widens), read once into ``touched``
_UPDATE_NARROWS = (
    f"EXISTS (SELECT {', '.join(_ROW[k] for k in _NARROWING_KEYS)} FROM sinp_carte_old r "
    f"EXCEPT ALL SELECT {', '.join(_ROW[k] for k in _NARROWING_KEYS)} FROM sinp_carte_new r)"
)


def _trigger_body() -> str:
    def both(source: str, sign: str) -> str:
        return "\n".join(f"{statement};" for statement in count_statements(source, sign))

    # the groups a subtraction left at zero, in the JDD it touched
    sweep = "\n".join(
        f"DELETE FROM {table} a WHERE a.nb = 0 AND a.package_id = ANY(touched);" for table, _, _ in COUNTS
    )
    return f"""
       DECLARE
         touched text[];
       BEGIN
         IF TG_OP = 'TRUNCATE' THEN
           TRUNCATE {", ".join(table for table, _, _ in COUNTS)};
           {mark_sql(ANY_JDD)};
         ELSIF TG_OP = 'INSERT' THEN
           {both("sinp_carte_new", "")}
           {mark_sql(NOTHING)};
         ELSIF TG_OP = 'DELETE' THEN
           touched := ARRAY(SELECT DISTINCT package_id FROM sinp_carte_old);
           {both("sinp_carte_old", "-")}
           {sweep}
           {mark_sql("touched")};
         ELSE
           touched := ARRAY(SELECT DISTINCT package_id FROM sinp_carte_old);
           {both("sinp_carte_old", "-")}
           {both("sinp_carte_new", "")}
           {sweep}
           {mark_sql(f"CASE WHEN {_UPDATE_NARROWS} THEN touched ELSE {NOTHING} END")};
         END IF;
         RETURN NULL;
       END"""


# a JDD leaving publication (withdrawn, back to draft, deleted) narrows what is public; a JDD created,
# published, renamed or edited does not (``sinp_carte_touch``, statement triggers of ``package``)
_UNPUBLISHED = (
    f"ARRAY(SELECT o.id FROM sinp_carte_pkg_old o WHERE {_published('o')} AND NOT EXISTS ("
    f"SELECT 1 FROM sinp_carte_pkg_new n WHERE n.id = o.id AND {_published('n')}))"
)
_DELETED_PUBLISHED = f"ARRAY(SELECT o.id FROM sinp_carte_pkg_old o WHERE {_published('o')})"

SCHEMA_VERSION = 6  # moved when a table's layout changes: ensure_tables rebuilds them
# the public roll-ups (``refresh_public`` computes them again whole)
_ROLLUPS = (
    "sinp_carte_public",
    "sinp_carte_public_taxon",
    "sinp_carte_public_temps",
    "sinp_carte_public_taxon_jdd",
    "sinp_carte_public_jdd",
    "sinp_carte_public_territoire",
    *map_rollups.TABLES,
)
_TABLES = (*(table for table, _, _ in COUNTS), *_ROLLUPS, "sinp_carte_state", "sinp_carte_changes")
_AGG_COLUMNS = """package_id text NOT NULL, owner_org text NOT NULL, public_layer smallint NOT NULL,
         sensible boolean NOT NULL, niv_val text NOT NULL, maille text NOT NULL, commune text NOT NULL,
         dep text NOT NULL, cd_ref integer NOT NULL, groupe text NOT NULL, annee integer NOT NULL, nb bigint NOT NULL,
         PRIMARY KEY (package_id, owner_org, public_layer, sensible, niv_val, maille, commune, dep, cd_ref, groupe,
                      annee)"""
SCHEMA_SQL = (
    "DROP SEQUENCE IF EXISTS sinp_carte_change_seq",
    # one row per transaction that changed the counts or CKAN's package table, visible once it commits:
    # the JDD whose public cells it may have narrowed, '{}' none, NULL any (``mark_sql``); a row of a
    # version before ``packages`` reads NULL: any
    "CREATE TABLE IF NOT EXISTS sinp_carte_changes (txid bigint PRIMARY KEY)",
    "ALTER TABLE sinp_carte_changes ADD COLUMN IF NOT EXISTS packages text[]",
    f"CREATE TABLE IF NOT EXISTS sinp_carte_agg ({_AGG_COLUMNS})",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_agg_cd_ref ON sinp_carte_agg (cd_ref)",
    # the taxa of one maille or commune on a filtered map (``cell_taxa``) read its rows, not the table
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_agg_maille ON sinp_carte_agg (maille) WHERE maille <> ''",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_agg_commune ON sinp_carte_agg (commune) WHERE commune <> ''",
    "COMMENT ON TABLE sinp_carte_agg IS 'Nombre d''observations par JDD, diffusion, maille, commune, "
    "département, taxon et année (tenu à jour par les déclencheurs de sinp_occurrence)'",
    f"CREATE TABLE IF NOT EXISTS sinp_carte_precis ({_AGG_COLUMNS})",
    "COMMENT ON TABLE sinp_carte_precis IS 'Nombre d''observations floutées par JDD, maille, commune, "
    "département précis, taxon et année : pour ceux qui peuvent les voir précisément, jamais pour le public'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_mois (
         package_id text NOT NULL, public_layer smallint NOT NULL, cd_ref integer NOT NULL, mois integer NOT NULL,
         nb bigint NOT NULL, PRIMARY KEY (package_id, public_layer, cd_ref, mois))""",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_mois_cd_ref ON sinp_carte_mois (cd_ref)",
    "COMMENT ON TABLE sinp_carte_mois IS 'Nombre d''observations par JDD, diffusion, taxon et mois (phénologie)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public (
         niveau text NOT NULL, code text NOT NULL, nom text NOT NULL, nb_obs bigint NOT NULL,
         nb_taxons integer NOT NULL, derniere_annee integer, geom_2154 geometry(Geometry, 2154),
         geom_4326 geometry(Geometry, 4326), PRIMARY KEY (niveau, code))""",
    "COMMENT ON TABLE sinp_carte_public IS 'Observations publiques par maille, commune et département "
    "(tous les JDD publiés ; recalculé par refresh_public)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_taxon (
         niveau text NOT NULL, code text NOT NULL, cd_ref integer NOT NULL, groupe text NOT NULL,
         nb_obs bigint NOT NULL, derniere_annee integer, sensible boolean NOT NULL,
         PRIMARY KEY (niveau, cd_ref, code))""",
    "CREATE INDEX IF NOT EXISTS ix_sinp_carte_public_taxon_code ON sinp_carte_public_taxon (niveau, code)",
    "COMMENT ON TABLE sinp_carte_public_taxon IS 'Observations publiques par maille, commune et département "
    "et par taxon (cd_ref 0 : taxon inconnu)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_temps (
         cd_ref integer NOT NULL, annee integer NOT NULL, mois integer NOT NULL, nb_obs bigint NOT NULL,
         PRIMARY KEY (cd_ref, annee, mois))""",
    "COMMENT ON TABLE sinp_carte_public_temps IS 'Observations publiques par taxon et par année (mois 0) "
    "ou par mois (année 0)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_taxon_jdd (
         cd_ref integer NOT NULL, package_id text NOT NULL, nb_obs bigint NOT NULL, PRIMARY KEY (cd_ref, package_id))""",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_jdd (
         package_id text PRIMARY KEY, jdd text NOT NULL, titre text NOT NULL, producteur text NOT NULL,
         nb_obs bigint NOT NULL, geom_2154 geometry(MultiPolygon, 2154))""",
    "COMMENT ON TABLE sinp_carte_public_jdd IS 'Emprise publique de chaque JDD publié (union de ses mailles)'",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_territoire (
         id integer PRIMARY KEY, nom text NOT NULL, geom_2154 geometry(MultiPolygon, 2154))""",
    *map_rollups.SCHEMA_SQL,
    """CREATE TABLE IF NOT EXISTS sinp_carte_state (
         id integer PRIMARY KEY, change bigint NOT NULL, refreshed_at timestamptz NOT NULL)""",
    f"""CREATE OR REPLACE FUNCTION sinp_carte_apply() RETURNS trigger LANGUAGE plpgsql AS $$ {_trigger_body()} $$""",
    f"""CREATE OR REPLACE FUNCTION sinp_carte_touch() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'INSERT' THEN
           {mark_sql(NOTHING)};
         ELSIF TG_OP = 'UPDATE' THEN
           {mark_sql(_UNPUBLISHED)};
         ELSIF TG_OP = 'DELETE' THEN
           {mark_sql(_DELETED_PUBLISHED)};
         ELSE
           {mark_sql(ANY_JDD)};
         END IF;
         RETURN NULL;
       END $$""",
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
# the roll-ups marked stale by a change outside the triggers: a recount (may narrow), new outlines (do not)
MARK_SQL = mark_sql(ANY_JDD)
MARK_WIDER_SQL = mark_sql(NOTHING)
# a JDD published, withdrawn, renamed or deleted changes the public roll-ups (CKAN's table); one trigger
# per event (a trigger with transition tables has one event)
PACKAGE_TRIGGER_SQL = (
    "DROP TRIGGER IF EXISTS sinp_carte_package ON package",
    """CREATE OR REPLACE TRIGGER sinp_carte_package_insert AFTER INSERT ON package
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_touch()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_package_update AFTER UPDATE ON package
       REFERENCING OLD TABLE AS sinp_carte_pkg_old NEW TABLE AS sinp_carte_pkg_new
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_touch()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_package_delete AFTER DELETE ON package
       REFERENCING OLD TABLE AS sinp_carte_pkg_old FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_touch()""",
    """CREATE OR REPLACE TRIGGER sinp_carte_package_truncate AFTER TRUNCATE ON package
       FOR EACH STATEMENT EXECUTE FUNCTION sinp_carte_touch()""",
)

# A pending change may have narrowed what is public: it names JDD, or any (NULL)
_NARROWING = "packages IS DISTINCT FROM '{}'"
# the roll-ups serve as they are: no pending change may have narrowed what is public
_SAFE = f"NOT EXISTS (SELECT 1 FROM sinp_carte_changes WHERE {_NARROWING})"
# no pending change may have narrowed any JDD (a TRUNCATE, a recount, a narrowing during a refresh)
_ANY_CELL = "NOT EXISTS (SELECT 1 FROM sinp_carte_changes WHERE packages IS NULL)"
# the JDD pending changes may have narrowed
_NARROWED = "ARRAY(SELECT DISTINCT unnest(packages) FROM sinp_carte_changes)"


def _cells_without(niveau: str, narrowed: str) -> str:
    """Per cell of ``niveau`` (columns ``code``, ``nb_obs``, ``nb_taxons``, ``derniere_annee``) while pending
    changes may have narrowed the JDD ``narrowed`` (SQL, text[]): the other JDD as the last refresh counted
    them (their rows of the roll-up per JDD: none of them was narrowed since), plus those JDD as they are now
    (their live counts — published, diffusion allowing the level — read through the counts' primary key,
    which begins with the JDD). A cell's taxa: the others' bits, plus the live taxa none of them has (a taxon
    numbered after the refresh has no bit: new)."""
    code = _CODE[niveau]
    return f"""
        WITH n AS (SELECT CAST({narrowed} AS text[]) AS ids),
             -- those published now: only their rows of the counts are read (a JDD withdrawn: none)
             np AS (SELECT ARRAY(SELECT p.id FROM ({PUBLISHED_JDD_SQL}) AS p, n WHERE p.id = ANY(n.ids)) AS ids),
             o AS (SELECT d.code, sum(d.nb_obs) AS nb_obs, bit_or(d.taxa) AS taxa,
                          max(d.derniere_annee) AS derniere_annee
                     FROM sinp_carte_public_dim d, n
                    WHERE d.niveau = '{niveau}' AND d.dim = 'jdd' AND NOT (d.val = ANY(n.ids)) GROUP BY d.code),
             l AS (SELECT a.{code} AS code, a.cd_ref, sum(a.nb) AS nb,
                          max(a.annee) FILTER (WHERE a.annee <> 0) AS derniere_annee
                     FROM sinp_carte_agg a, np
                    WHERE a.package_id = ANY(np.ids)
                      AND a.public_layer <= {MAX_LAYER[niveau]} AND a.{code} <> '' {_valid_code(niveau, "a." + code)}
                    GROUP BY 1, 2),
             lc AS (SELECT l.code, sum(l.nb) AS nb_obs, max(l.derniere_annee) AS derniere_annee,
                           count(*) FILTER (WHERE l.cd_ref <> 0 AND (t.idx IS NULL OR o.taxa IS NULL
                                                                     OR get_bit(o.taxa, {map_rollups.bit_of("t.idx")}) = 0)) AS nouveaux
                      FROM l LEFT JOIN sinp_carte_public_taxa t ON t.cd_ref = l.cd_ref LEFT JOIN o ON o.code = l.code
                     GROUP BY l.code)
        SELECT COALESCE(o.code, lc.code) AS code, (COALESCE(o.nb_obs, 0) + COALESCE(lc.nb_obs, 0))::bigint AS nb_obs,
               (COALESCE(bit_count(o.taxa), 0) + COALESCE(lc.nouveaux, 0))::int AS nb_taxons,
               greatest(o.derniere_annee, lc.derniere_annee) AS derniere_annee
          FROM o FULL JOIN lc ON lc.code = o.code"""


def _served_cells(niveau: str) -> str:
    """The rows of ``sinp_carte_public`` at ``niveau`` the map server serves (its columns): the roll-up while
    no pending change may have narrowed what is public; after one that names JDD (withdrawn, deleted,
    observations deleted or changed), each cell again without what the last refresh counted of those JDD,
    with what they hold now (``_cells_without``) — a cell left with nothing leaves the layer; after one that
    names no JDD, no cell. Each branch is gated by a condition on ``sinp_carte_changes`` alone (a one-time
    filter: the roll-up per JDD is read only while a JDD is narrowed)."""
    return f"""SELECT code, nom, nb_obs, nb_taxons, derniere_annee, geom_2154 FROM sinp_carte_public
                WHERE niveau = '{niveau}' AND {_SAFE}
               UNION ALL
               SELECT c.code, c.nom, r.nb_obs, r.nb_taxons, r.derniere_annee, c.geom_2154
                 FROM ({_cells_without(niveau, _NARROWED)}) AS r
                 JOIN sinp_carte_public c ON c.niveau = '{niveau}' AND c.code = r.code
                WHERE NOT {_SAFE} AND {_ANY_CELL}"""


# a JDD's footprint leaves the layer while a pending change may have narrowed it
_JDD_SERVED = f"""{_ANY_CELL} AND NOT EXISTS (
    SELECT 1 FROM sinp_carte_changes ch WHERE sinp_carte_public_jdd.package_id = ANY(ch.packages))"""
# the layers of the map server (EPSG:2154), over the public roll-ups only
FLUX_SQL = (
    f"CREATE SCHEMA IF NOT EXISTS {FLUX_SCHEMA}",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.observations_maille AS
        SELECT (substring(code FROM 'E([0-9]+)N')::int * 1000 + substring(code FROM 'N([0-9]+)$')::int) AS gid,
               code AS cd_sig, nb_obs, nb_taxons, derniere_annee, geom_2154::geometry(Polygon, 2154) AS geom
          FROM ({_served_cells("maille")}) AS c WHERE geom_2154 IS NOT NULL""",
    # the communes and départements that have an outline (``refresh_public`` copies it from the
    # ADMIN EXPRESS referential); gid from the INSEE code (Corsica's 2A/2B kept apart)
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.observations_commune AS
        SELECT CASE substr(code, 1, 2) WHEN '2A' THEN 200000 + substr(code, 3)::int
                                       WHEN '2B' THEN 210000 + substr(code, 3)::int ELSE code::int END AS gid,
               code AS insee_com, nom, nb_obs, nb_taxons, derniere_annee,
               geom_2154::geometry(MultiPolygon, 2154) AS geom
          FROM ({_served_cells("commune")}) AS c WHERE geom_2154 IS NOT NULL""",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.observations_departement AS
        SELECT CASE code WHEN '2A' THEN 201 WHEN '2B' THEN 202 ELSE code::int END AS gid,
               code AS insee_dep, nom, nb_obs, nb_taxons, derniere_annee,
               geom_2154::geometry(MultiPolygon, 2154) AS geom
          FROM ({_served_cells("departement")}) AS c WHERE geom_2154 IS NOT NULL""",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.jdd_emprise AS
        SELECT row_number() OVER (ORDER BY jdd)::int AS gid, jdd, titre, producteur, nb_obs, geom_2154 AS geom
          FROM sinp_carte_public_jdd WHERE geom_2154 IS NOT NULL AND {_JDD_SERVED}""",
    f"""CREATE OR REPLACE VIEW {FLUX_SCHEMA}.territoire AS
        SELECT id AS gid, nom, geom_2154 AS geom FROM sinp_carte_public_territoire""",
)
# after the views that no longer read it: an earlier version's flag, implied by ``packages`` ('{}' where
# it was false)
LAST_SQL = ("ALTER TABLE sinp_carte_changes DROP COLUMN IF EXISTS narrows",)
FLUX_VIEWS = ("observations_maille", "observations_commune", "observations_departement", "jdd_emprise", "territoire")


def _has_table(conn, name: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar())


def ensure_tables(engine, reader_role: str | None = None) -> None:
    """Creates the tables, triggers and views (idempotent); fills the counts from the occurrences the
    first time (the table locked against writes meanwhile); grants the map server's role its views. An
    earlier layout's roll-up per filter value is made again and filled after the schema's transaction."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_carte_schema'))"))
        conn.execute(text("LOCK TABLE sinp_occurrence IN SHARE ROW EXCLUSIVE MODE"))
        version = (
            conn.execute(text("SELECT change FROM sinp_carte_state WHERE id = 0")).scalar()
            if _has_table(conn, "sinp_carte_state")
            else None
        )
        if version != SCHEMA_VERSION:  # another layout (or none): built again from the occurrences
            conn.execute(text(f"DROP SCHEMA IF EXISTS {FLUX_SCHEMA} CASCADE"))
            conn.execute(text(f"DROP TABLE IF EXISTS {', '.join(_TABLES)}"))
        new = not _has_table(conn, "sinp_carte_agg")
        outdated = drop_outdated_rollups(conn)
        # without CKAN's tables (a bench's scratch database): the counts and roll-ups, no views (they read
        # ``package``) nor triggers on it
        ckan = _has_table(conn, "package")
        for statement in SCHEMA_SQL + (FLUX_SQL if ckan else ()) + LAST_SQL:
            conn.execute(text(statement))
        if ckan:
            for statement in PACKAGE_TRIGGER_SQL:
                conn.execute(text(statement))
        if new:
            rebuild(conn)
            conn.execute(
                text("INSERT INTO sinp_carte_state VALUES (0, :v, now()) ON CONFLICT (id) DO UPDATE SET change = :v"),
                {"v": SCHEMA_VERSION},
            )
        elif outdated:  # a change naming no JDD: the map answers from the counts until the refresh below
            conn.execute(text(MARK_SQL))
        if reader_role and ckan:
            grant_reader(conn, reader_role)
    if outdated and not new:
        # in a transaction of its own: deposits waited for the schema's only, not for the refresh (minutes at
        # 10 M rows); if it fails, the change stays pending and the scheduler's ``refresh_if_stale`` fills it
        with engine.begin() as conn:
            refresh_public(conn, force=True)


def drop_outdated_rollups(conn) -> bool:
    """Drops the roll-up per filter value if it has an earlier layout (without the département of its rows,
    ``map_rollups.OUTDATED_SQL``) and the views that read it: ``SCHEMA_SQL`` and ``FLUX_SQL`` make them
    again, a refresh fills it — the counts and the other roll-ups kept. Whether it did."""
    if not conn.execute(text(map_rollups.OUTDATED_SQL)).scalar():
        return False
    conn.execute(text(f"DROP SCHEMA IF EXISTS {FLUX_SCHEMA} CASCADE"))
    conn.execute(text("DROP TABLE sinp_carte_public_dim"))
    return True


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
    conn.execute(text(f"TRUNCATE {', '.join(table for table, _, _ in COUNTS)}"))
    for statement in count_statements("sinp_occurrence"):
        conn.execute(text(statement))
    conn.execute(text(MARK_SQL))
    return int(conn.execute(text("SELECT COALESCE(sum(nb), 0) FROM sinp_carte_agg")).scalar())


# --- the public roll-ups ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rollups:
    """What the public roll-ups may answer now (``rollup_state``)."""

    computed_at: object  # when they were last computed (a datetime); None: never
    pending: bool  # a change committed since (the next refresh adds it)
    narrowed: frozenset[str] | None  # the JDD a pending change may have narrowed; None: any JDD

    def serves(self, precise: bool = False) -> bool:
        """The roll-ups may answer as they are: computed once, and no pending change may have narrowed
        what is public (a JDD withdrawn, back to draft or deleted; an observation deleted, or its diffusion,
        place, taxon, date or JDD changed) — they may lack what was deposited, validated or published
        since. The precise view adds live counts to them (``precise``): only when nothing is pending."""
        if self.computed_at is None:
            return False
        return not self.pending if precise else self.narrowed == frozenset()

    def serves_without(self) -> frozenset[str] | None:
        """The JDD to leave out of the roll-up per JDD for it to answer the public view (``cells``), when
        pending changes named the JDD they may have narrowed; None when it may not (never computed, or a
        change that names no JDD)."""
        return self.narrowed if self.computed_at is not None and self.narrowed else None


def rollup_state(conn) -> Rollups:
    """One query: when the roll-ups were computed, whether changes wait, which JDD they may have narrowed."""
    at, pending, any_jdd, named = conn.execute(
        text(f"""SELECT (SELECT refreshed_at FROM sinp_carte_state WHERE id = 1),
                        EXISTS (SELECT 1 FROM sinp_carte_changes), NOT {_ANY_CELL}, {_NARROWED}""")
    ).one()
    return Rollups(at, bool(pending), None if any_jdd else frozenset(named))


def serves_rollups(conn, precise: bool = False) -> bool:
    """``Rollups.serves`` now."""
    return rollup_state(conn).serves(precise)


def is_fresh(conn) -> bool:
    """The roll-ups were computed after every committed change of the counts and of the JDD."""
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM sinp_carte_state WHERE id = 1) "
                "AND NOT EXISTS (SELECT 1 FROM sinp_carte_changes)"
            )
        ).scalar()
    )


def _cell_geometry(code: str, srid: int) -> str:
    e = f"substring({code} FROM 'E([0-9]+)N')::int * 10000"
    n = f"substring({code} FROM 'N([0-9]+)$')::int * 10000"
    envelope = f"ST_MakeEnvelope({e}, {n}, {e} + 10000, {n} + 10000, 2154)"
    return envelope if srid == 2154 else f"ST_Transform({envelope}, {srid})"


# the names of communes and départements (COG referentials) and their outlines (IGN ADMIN EXPRESS,
# ``referentials/geo_store``); each absent until its first load
_NAMES = {"commune": "sinp_commune", "departement": "sinp_departement"}
_OUTLINES = {"commune": "sinp_commune_contour", "departement": "sinp_departement_contour"}


def _level_sql(conn, niveau: str) -> tuple[str, str, dict[int, str]]:
    """(join, name expression, {srid: geometry expression}) for the cells of ``niveau`` (alias c, column
    code), with one catalog lookup: the commune's or département's name when its referential is loaded,
    else the code; in EPSG:2154 and 4326 (for the web, the simplified outline), a maille's square, a
    commune's or département's outline when loaded, else NULL — a scalar subquery: no view depends on
    the outline tables, which their loader replaces whole."""
    if niveau == "maille":
        return "", "c.code", {srid: _cell_geometry("c.code", srid) for srid in (2154, 4326)}
    names, outlines = _NAMES[niveau], _OUTLINES[niveau]
    present = set(
        conn.execute(
            text("SELECT t FROM unnest(CAST(:t AS text[])) AS t WHERE to_regclass(t) IS NOT NULL"),
            {"t": [names, outlines]},
        ).scalars()
    )
    join, name = ("", "c.code")
    if names in present:
        join, name = f"LEFT JOIN {names} ref ON ref.code = c.code", "COALESCE(ref.nom, c.code)"
    geometry = {
        srid: f"(SELECT o.geom_{srid} FROM {outlines} o WHERE o.code = c.code)"
        if outlines in present
        else "NULL::geometry"
        for srid in (2154, 4326)
    }
    return join, name, geometry


def refresh_public(conn, force: bool = False) -> dict | None:
    """Recomputes the public roll-ups if the counts or the JDD changed since the last time (or
    ``force``), in the caller's transaction. Returns what was written, or None when nothing changed.

    From the counts of the published JDD: per level, cell and taxon (each level with the diffusion it
    allows), then per cell from those (no distinct count to sort); per taxon and year, month, JDD."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('sinp_carte_public'))"))
    # the changes committed so far are consumed before the data are read (each statement reads what is
    # committed when it starts): a change committing later keeps its row, and the roll-ups stay stale
    consumed = conn.execute(text("DELETE FROM sinp_carte_changes")).rowcount
    if not force and not consumed and is_fresh(conn):
        return None
    conn.execute(text("SELECT set_config('work_mem', '256MB', true)"))
    for table in _ROLLUPS:  # not sinp_carte_state: its row 0 is the layout's version (ensure_tables)
        conn.execute(text(f"DELETE FROM {table}"))
    pub = f"a.package_id IN (SELECT id FROM ({PUBLISHED_JDD_SQL}) AS p)"
    written = {}
    for niveau in NIVEAUX:
        code = _CODE[niveau]
        conn.execute(
            text(f"""
            INSERT INTO sinp_carte_public_taxon (niveau, code, cd_ref, groupe, nb_obs, derniere_annee, sensible)
            SELECT :niveau, a.{code}, a.cd_ref, max(a.groupe), sum(a.nb), max(a.annee) FILTER (WHERE a.annee <> 0),
                   bool_or(a.sensible)
              FROM sinp_carte_agg a
             WHERE {pub} AND a.public_layer <= :max_layer AND a.{code} <> '' {_valid_code(niveau, "a." + code)}
             GROUP BY a.{code}, a.cd_ref"""),
            {"niveau": niveau, **_layer_params(niveau)},
        )
        join, name, outline = _level_sql(conn, niveau)
        geom = f"{outline[2154]}, {outline[4326]}"
        written[niveau] = conn.execute(
            text(f"""
            INSERT INTO sinp_carte_public (niveau, code, nom, nb_obs, nb_taxons, derniere_annee, geom_2154, geom_4326)
            SELECT :niveau, c.code, {name}, c.nb_obs, c.nb_taxons, c.derniere_annee, {geom}
              FROM (SELECT code, sum(nb_obs) AS nb_obs, count(*) FILTER (WHERE cd_ref <> 0) AS nb_taxons,
                           max(derniere_annee) AS derniere_annee
                      FROM sinp_carte_public_taxon WHERE niveau = :niveau GROUP BY code) AS c {join}"""),
            {"niveau": niveau},
        ).rowcount
    # a map filtered by one group, département, period, validation level, producer or JDD: the same
    # counts per filter value, each level with the rule above (published JDD, diffusion, code); its taxa
    # numbered from the roll-up per cell and taxon above
    written["filtres"] = map_rollups.refresh(
        conn,
        {
            niveau: (
                _CODE[niveau],
                f"a.public_layer <= :max_layer_{niveau} AND a.{_CODE[niveau]} <> '' "
                f"{_valid_code(niveau, 'a.' + _CODE[niveau])}",
            )
            for niveau in NIVEAUX
        },
        PUBLISHED_JDD_SQL,
        {f"max_layer_{niveau}": layer for niveau, layer in MAX_LAYER.items()},
    )
    # a taxon's sheet: everything diffused (at the département or finer)
    sheet = {"max_layer": protection.DEPARTEMENT}
    written["taxons"] = conn.execute(
        text(f"""
        INSERT INTO sinp_carte_public_temps (cd_ref, annee, mois, nb_obs)
        SELECT a.cd_ref, a.annee, 0, sum(a.nb) FROM sinp_carte_agg a
         WHERE {pub} AND a.public_layer <= :max_layer AND a.cd_ref <> 0 AND a.annee <> 0 GROUP BY a.cd_ref, a.annee
        UNION ALL
        SELECT a.cd_ref, 0, a.mois, sum(a.nb) FROM sinp_carte_mois a
         WHERE {pub} AND a.public_layer <= :max_layer AND a.cd_ref <> 0 AND a.mois <> 0 GROUP BY a.cd_ref, a.mois"""),
        sheet,
    ).rowcount
    conn.execute(
        text(f"""
        INSERT INTO sinp_carte_public_taxon_jdd (cd_ref, package_id, nb_obs)
        SELECT a.cd_ref, a.package_id, sum(a.nb) FROM sinp_carte_agg a
         WHERE {pub} AND a.public_layer <= :max_layer AND a.cd_ref <> 0 GROUP BY a.cd_ref, a.package_id"""),
        sheet,
    )
    written["jdd"] = conn.execute(
        text(f"""
        WITH pub AS ({PUBLISHED_JDD_SQL}),
             cells AS (SELECT a.package_id, a.maille, sum(a.nb) AS nb FROM sinp_carte_agg a
                        WHERE a.package_id IN (SELECT id FROM pub) AND a.public_layer <= :max_layer
                          AND a.maille <> '' {_valid_code("maille", "a.maille")}
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
    # A narrowing change that commits while this refresh runs keeps its row: some statements above read
    # the data before it, some after. The map reads a cell again from the roll-up per JDD alone without the
    # JDD it names (``_served_cells``, ``_plan``): whether that JDD's rows there were read before or after
    # it, they are left out, and the other JDD's rows are as they were then.
    conn.execute(
        text(
            "INSERT INTO sinp_carte_state (id, change, refreshed_at) VALUES (1, :c, now()) "
            "ON CONFLICT (id) DO UPDATE SET change = EXCLUDED.change, refreshed_at = EXCLUDED.refreshed_at"
        ),
        {"c": consumed},
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

    def sql(self, params: dict, jdd: str = "pub") -> str:
        """The conditions on ``sinp_carte_agg a`` (and the JDD of the CTE ``jdd`` for the producer)."""
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
            conds.append(f"a.package_id IN (SELECT id FROM {jdd} WHERE owner_org = :f_producteur)")
            params["f_producteur"] = self.producteur
        return " AND ".join(conds) or "true"


def _layer_params(niveau: str) -> dict:
    return {"max_layer": MAX_LAYER[niveau]}


def _check_niveau(niveau: str) -> None:
    if niveau not in NIVEAUX:
        raise ValueError(f"niveau inconnu : {niveau}")


def _counts_where(niveau: str, filtres: Filtres, pub: list[str] | None, params: dict) -> str:
    """The rows of ``sinp_carte_agg a`` a query over the counts reads: published JDD (and ``pub``),
    diffused at ``niveau``, matching ``filtres``."""
    params.update(_layer_params(niveau))
    where = (
        f"a.package_id IN (SELECT id FROM pub) AND a.public_layer <= :max_layer AND a.{_CODE[niveau]} <> '' "
        f"{_valid_code(niveau, 'a.' + _CODE[niveau])} AND {filtres.sql(params)}"
    )
    if pub is not None:
        where += " AND a.package_id = ANY(:f_pub)"
        params["f_pub"] = list(pub) or [""]
    return where


def _counts_table(name: str) -> str:
    """A count table as ``a``, its ``owner_org``, ``dep`` and ``groupe`` NULL where the occurrence's are
    (``''`` in the counts): ``Access.full_sql`` then decides on them as on the occurrence."""
    return f"""(SELECT package_id, NULLIF(owner_org, '') AS owner_org, public_layer, sensible, niv_val, maille,
                       commune, NULLIF(dep, '') AS dep, cd_ref, NULLIF(groupe, '') AS groupe, annee, nb
                  FROM {name}) AS a"""


def _precise_rows(
    niveau: str, filtres: Filtres, access: Access, params: dict, where: str = "", beyond_public: bool = False
) -> str:
    """The counts the precise view reads at ``niveau`` (columns ``code``, ``cd_ref``, ``groupe``,
    ``sensible``, ``annee``, ``nb``): for the observations ``access.full_sql`` lets the caller see
    precisely (in a JDD of ``VISIBLE_JDD_SQL``), every level whatever their diffusion — from
    ``sinp_carte_agg`` when no code of theirs is blanked, else from ``sinp_carte_precis`` —; for the
    others, the public layer (published JDD, diffusion allowing the level). ``where``: more conditions
    on ``a``. The rule is ``full_sql`` itself, over the count's columns as the occurrence holds them
    (a value the occurrence lacks is NULL there, never ``''``).

    ``beyond_public``: only what the precise view adds to the public one (the observations seen
    precisely that the public layer does not count at ``niveau``) — the public view counts the others
    the same way, so that the public roll-ups plus these rows are the precise view."""
    code = _CODE[niveau]
    params.update(_layer_params(niveau), blurred_above=BLURRED_ABOVE)
    full = f"COALESCE({access.full_sql(params, 'a.')}, false)"
    common = f"a.{code} <> '' {_valid_code(niveau, 'a.' + code)} AND {filtres.sql(params, 'vis')}"
    if where:
        common += f" AND {where}"
    if beyond_public:
        public = "a.public_layer <= :max_layer AND a.package_id IN (SELECT id FROM pub)"
        return f"""WITH pub AS ({PUBLISHED_JDD_SQL}), vis AS ({VISIBLE_JDD_SQL})
        SELECT a.{code} AS code, a.cd_ref, a.groupe, a.sensible, a.annee, a.nb FROM {_counts_table("sinp_carte_agg")}
         WHERE {common} AND {full} AND a.public_layer <= :blurred_above AND a.package_id IN (SELECT id FROM vis)
           AND NOT ({public})
        UNION ALL
        SELECT a.{code} AS code, a.cd_ref, a.groupe, a.sensible, a.annee, a.nb
          FROM {_counts_table("sinp_carte_precis")}
         WHERE {common} AND {full} AND a.package_id IN (SELECT id FROM vis) AND NOT ({public})"""
    table = _counts_table
    select = f"SELECT a.{code} AS code, a.cd_ref, a.groupe, a.sensible, a.annee, a.nb"
    return f"""WITH pub AS ({PUBLISHED_JDD_SQL}), vis AS ({VISIBLE_JDD_SQL})
        {select} FROM {table("sinp_carte_agg")}
         WHERE {common} AND CASE WHEN {full}
                   THEN a.public_layer <= :blurred_above AND a.package_id IN (SELECT id FROM vis)
                   ELSE a.public_layer <= :max_layer AND a.package_id IN (SELECT id FROM pub) END
        UNION ALL
        {select} FROM {table("sinp_carte_precis")}
         WHERE {common} AND {full} AND a.package_id IN (SELECT id FROM vis)"""


def _interactive(conn) -> None:
    """A map call is a short query over small tables: PostgreSQL's JIT compilation, which the planner
    turns on for a plan it costs high (a branch that a one-time filter skips counts too), costs ~0.4 s
    and saves nothing here. Off for the caller's transaction (the map server's connections set it off
    too: ``deploy/mapserver/render.sh``)."""
    conn.execute(text("SELECT set_config('jit', 'off', true)"))


def _plan(state: Rollups, filtres: Filtres, pub: list[str] | None, access: Access | None):
    """What answers ``cells``: ``"precise"`` (the public roll-up per cell and taxon plus what the precise
    view adds), ``"cells"`` (the public roll-up per cell), ``"taxon"`` (per cell and taxon), a tuple (kind,
    condition, parameters) for the roll-up per filter value (``map_rollups``), ``("sans", JDD)`` for
    ``_cells_without``, or ``"counts"``.

    The roll-ups answer when they serve (``Rollups.serves``) and the query is unfiltered or filtered by a
    taxon only, or — public view — by one other kind of filter, alone or with a département
    (``map_rollups.single``). While pending changes may have narrowed named JDD, the unfiltered map reads the
    roll-up per JDD without them plus their live counts (``_cells_without``), a JDD they did not name its rows
    of the roll-up. Else the counts: ``pub``, the precise view when anything is pending, other combinations of
    kinds, a kind with a taxon, a change naming no JDD."""
    by_taxon_only = dataclasses.replace(filtres, cd_refs=None).empty()
    if pub is not None:
        return "counts"
    if access is not None:
        return "precise" if state.serves(precise=True) and by_taxon_only else "counts"
    single = map_rollups.single(filtres)
    if state.serves():
        if filtres.empty():
            return "cells"
        return single if single is not None else "taxon" if by_taxon_only else "counts"
    left_out = state.serves_without()
    if left_out is None:
        return "counts"
    if filtres.empty():
        return "sans", sorted(left_out)
    if single is not None and single[0] == "jdd" and filtres.jdd not in left_out:
        return single
    return "counts"


def freshness(conn, filtres: Filtres | None = None, access: Access | None = None, state: Rollups | None = None) -> dict:
    """What the answer of ``cells`` for the same query says of its date: ``a_jour`` false when roll-ups
    answered with changes pending (what was deposited, validated or published since ``agregats_du``, and
    the observations still public of a JDD a pending change named, are missing until the next refresh);
    true when fresh or when the counts answered. ``agregats_du``: when the roll-ups were last computed
    (None: never). ``state``: the ``rollup_state`` that ``cells`` was given (read now if None), so that
    what is said is the date of the plan that answered, not of a refresh that ended in between."""
    state = state or rollup_state(conn)
    plan = _plan(state, filtres or Filtres(), None, access)
    return {"a_jour": plan == "counts" or not state.pending, "agregats_du": state.computed_at}


def cells(
    conn,
    niveau: str,
    filtres: Filtres | None = None,
    pub: list[str] | None = None,
    access: Access | None = None,
    state: Rollups | None = None,
) -> list[dict]:
    """The cells of ``niveau`` holding public observations that match ``filtres``, each with ``code``,
    ``nom``, ``nb_obs``, ``nb_taxons``, ``derniere_annee`` and ``geometry`` (GeoJSON, EPSG:4326: a
    maille's square, a commune's or département's outline when loaded, ``_level_sql``); most observed
    first. Only published JDD count; ``pub`` (ids) restricts them further.
    With ``access`` (a ``store.Access``): the precise view of ``_precise_rows`` (``pub`` unused).

    Read from the roll-ups or from the counts as ``_plan`` decides from ``state`` (``rollup_state``, read
    now if None); ``freshness`` given the same state says of which date.
    """
    _check_niveau(niveau)
    _interactive(conn)
    filtres = filtres or Filtres()
    join, name, outline = _level_sql(conn, niveau)
    geometry = f"ST_AsGeoJSON({outline[4326]}, 6)"
    params: dict = {"niveau": niveau}
    plan = _plan(state or rollup_state(conn), filtres, pub, access)
    if plan == "precise":
        # the public roll-up per cell and taxon, plus what the precise view adds to it
        if filtres.cd_refs is not None:
            params["f_cd_refs"] = [int(c) for c in filtres.cd_refs] or [-1]
        taxon = "AND cd_ref = ANY(:f_cd_refs)" if filtres.cd_refs is not None else ""
        added = _precise_rows(niveau, filtres, access, params, beyond_public=True)
        per_taxon = f"""SELECT u.code, u.cd_ref, sum(u.nb_obs) AS nb_obs, max(u.derniere_annee) AS derniere_annee
                          FROM (SELECT code, cd_ref, nb_obs, derniere_annee FROM sinp_carte_public_taxon
                                 WHERE niveau = :niveau {taxon}
                                UNION ALL
                                SELECT t.code, t.cd_ref, t.nb, NULLIF(t.annee, 0) FROM ({added}) AS t) AS u
                         GROUP BY u.code, u.cd_ref"""
        sql = f"""SELECT c.code, {name} AS nom, c.nb_obs, c.nb_taxons, c.derniere_annee, {geometry} AS geometry
                    FROM (SELECT t.code, sum(t.nb_obs) AS nb_obs, count(*) FILTER (WHERE t.cd_ref <> 0) AS nb_taxons,
                                 max(t.derniere_annee) AS derniere_annee
                            FROM ({per_taxon}) AS t GROUP BY t.code) AS c {join}"""
    elif plan == "cells":
        sql = """SELECT c.code, c.nom, c.nb_obs, c.nb_taxons, c.derniere_annee,
                         ST_AsGeoJSON(c.geom_4326, 6) AS geometry
                    FROM sinp_carte_public c WHERE c.niveau = :niveau"""
    elif isinstance(plan, tuple) and plan[0] == "sans":
        params["d_left_out"] = plan[1]
        sql = f"""SELECT c.code, {name} AS nom, c.nb_obs, c.nb_taxons, c.derniere_annee, {geometry} AS geometry
                    FROM ({_cells_without(niveau, ":d_left_out")}) AS c {join}"""
    elif isinstance(plan, tuple):
        kind, condition, values = plan
        params.update(values)
        sql = f"""SELECT c.code, {name} AS nom, c.nb_obs, c.nb_taxons, c.derniere_annee, {geometry} AS geometry
                    FROM ({map_rollups.cells_sql(kind, condition)}) AS c {join}"""
    else:
        if plan == "taxon":
            params["f_cd_refs"] = [int(c) for c in filtres.cd_refs] or [-1]
            per_taxon = """SELECT code, cd_ref, nb_obs, derniere_annee FROM sinp_carte_public_taxon
                            WHERE niveau = :niveau AND cd_ref = ANY(:f_cd_refs)"""
        elif access is not None:
            per_taxon = f"""SELECT t.code, t.cd_ref, sum(t.nb) AS nb_obs, max(t.annee) FILTER (WHERE t.annee <> 0)
                                   AS derniere_annee
                              FROM ({_precise_rows(niveau, filtres, access, params)}) AS t GROUP BY t.code, t.cd_ref"""
        else:
            code = _CODE[niveau]
            per_taxon = f"""WITH pub AS ({PUBLISHED_JDD_SQL})
                SELECT a.{code} AS code, a.cd_ref, sum(a.nb) AS nb_obs, max(a.annee) FILTER (WHERE a.annee <> 0)
                       AS derniere_annee
                  FROM sinp_carte_agg a WHERE {_counts_where(niveau, filtres, pub, params)}
                 GROUP BY a.{code}, a.cd_ref"""
        sql = f"""SELECT c.code, {name} AS nom, c.nb_obs, c.nb_taxons, c.derniere_annee, {geometry} AS geometry
                    FROM (SELECT t.code, sum(t.nb_obs) AS nb_obs, count(*) FILTER (WHERE t.cd_ref <> 0) AS nb_taxons,
                                 max(t.derniere_annee) AS derniere_annee
                            FROM ({per_taxon}) AS t GROUP BY t.code) AS c {join}"""
    rows = conn.execute(text(f"SELECT * FROM ({sql}) AS q ORDER BY q.nb_obs DESC, q.code"), params).mappings()
    return [_cell(r) for r in rows]


def _cell(row) -> dict:
    out = {k: row[k] for k in ("code", "nom", "nb_obs", "nb_taxons", "derniere_annee")}
    out["nb_obs"] = int(out["nb_obs"])
    if row["geometry"]:
        out["geometry"] = json.loads(row["geometry"])
    return out


def _taxon_names(conn) -> tuple[str, str]:
    if not _has_table(conn, "sinp_taxref"):
        return "", "NULL AS nom_valide, NULL AS nom_vern"
    return "LEFT JOIN sinp_taxref t ON t.cd_nom = x.cd_ref", "t.nom_valide, t.nom_vern"


def cell_taxa(
    conn,
    niveau: str,
    code: str,
    filtres: Filtres | None = None,
    pub: list[str] | None = None,
    access: Access | None = None,
) -> list[dict]:
    """The taxa of one cell as the public may see them (with ``access``: in the precise view, as
    ``cells``): ``cd_ref``, ``nom_valide``, ``nom_vern``, ``groupe``, ``nb_obs``, ``derniere_annee``,
    ``sensible`` (some of its observations there are of a sensitive taxon), most observed first."""
    _check_niveau(niveau)
    _interactive(conn)
    filtres = filtres or Filtres()
    params: dict = {"code": code, "niveau": niveau}
    fresh = pub is None and serves_rollups(conn, precise=access is not None)
    if access is not None and fresh and filtres.empty():
        # the public roll-up of the cell, plus what the precise view adds to it
        added = _precise_rows(
            niveau, filtres, access, params, f"a.{_CODE[niveau]} = :code AND a.cd_ref <> 0", beyond_public=True
        )
        inner = f"""SELECT u.cd_ref, max(u.groupe) AS groupe, sum(u.nb_obs) AS nb_obs,
                           max(u.derniere_annee) AS derniere_annee, bool_or(u.sensible) AS sensible
                      FROM (SELECT cd_ref, groupe, nb_obs, derniere_annee, sensible FROM sinp_carte_public_taxon
                             WHERE niveau = :niveau AND code = :code AND cd_ref <> 0
                            UNION ALL
                            SELECT t.cd_ref, t.groupe, t.nb, NULLIF(t.annee, 0), t.sensible FROM ({added}) AS t) AS u
                     GROUP BY u.cd_ref"""
    elif access is not None:
        rows = _precise_rows(niveau, filtres, access, params, f"a.{_CODE[niveau]} = :code AND a.cd_ref <> 0")
        inner = f"""SELECT t.cd_ref, max(t.groupe) AS groupe, sum(t.nb) AS nb_obs,
                           max(t.annee) FILTER (WHERE t.annee <> 0) AS derniere_annee, bool_or(t.sensible) AS sensible
                      FROM ({rows}) AS t GROUP BY t.cd_ref"""
    elif fresh and filtres.empty():
        inner = """SELECT cd_ref, groupe, nb_obs, derniere_annee, sensible FROM sinp_carte_public_taxon
                    WHERE niveau = :niveau AND code = :code AND cd_ref <> 0"""
    else:
        inner = f"""WITH pub AS ({PUBLISHED_JDD_SQL})
            SELECT a.cd_ref, max(a.groupe) AS groupe, sum(a.nb) AS nb_obs,
                   max(a.annee) FILTER (WHERE a.annee <> 0) AS derniere_annee, bool_or(a.sensible) AS sensible
              FROM sinp_carte_agg a
             WHERE a.{_CODE[niveau]} = :code AND a.cd_ref <> 0 AND {_counts_where(niveau, filtres, pub, params)}
             GROUP BY a.cd_ref"""
    join, names = _taxon_names(conn)
    rows = conn.execute(
        text(f"""SELECT x.cd_ref, {names}, x.groupe, x.nb_obs, x.derniere_annee, x.sensible
                   FROM ({inner}) AS x {join} ORDER BY x.nb_obs DESC, x.cd_ref"""),
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
    ([{package_id, nb_obs}]) — the last three over every diffused observation (at the département or
    finer). From the roll-ups when fresh, else from the counts."""
    _interactive(conn)
    params = {"f_cd_refs": [int(c) for c in cd_refs] or [-1], "max_layer": protection.DEPARTEMENT}
    if pub is None and serves_rollups(conn):
        months = dict(
            conn.execute(
                text(
                    "SELECT mois, sum(nb_obs) FROM sinp_carte_public_temps "
                    "WHERE cd_ref = ANY(:f_cd_refs) AND annee = 0 GROUP BY mois"
                ),
                params,
            ).all()
        )
        years = conn.execute(
            text(
                "SELECT annee, sum(nb_obs) FROM sinp_carte_public_temps "
                "WHERE cd_ref = ANY(:f_cd_refs) AND mois = 0 GROUP BY annee ORDER BY annee"
            ),
            params,
        ).all()
        jdd = conn.execute(
            text(
                "SELECT package_id, sum(nb_obs) FROM sinp_carte_public_taxon_jdd "
                "WHERE cd_ref = ANY(:f_cd_refs) GROUP BY package_id ORDER BY 2 DESC, 1"
            ),
            params,
        ).all()
    else:
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
                text(base.format(select="a.mois, sum(a.nb)", table="sinp_carte_mois", group="GROUP BY a.mois")),
                params,
            ).all()
        )
        years = conn.execute(
            text(
                base.format(
                    select="a.annee, sum(a.nb)", table="sinp_carte_agg", group="AND a.annee <> 0 GROUP BY a.annee"
                )
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
        "mailles": cells(conn, "maille", Filtres(cd_refs=list(cd_refs)), pub),
        "mois": [int(months.get(m, 0)) for m in range(1, 13)],
        "annees": [{"annee": int(a), "nb_obs": int(n)} for a, n in years],
        "jdd": [{"package_id": p, "nb_obs": int(n)} for p, n in jdd],
    }
