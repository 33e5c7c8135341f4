"""The public roll-up per filter value of the géo-visualiseur (#16): what a map filtered by one group,
département, period, validation level, producer or JDD shows, read without the per-JDD counts.

``sinp_carte_public_dim`` holds, per level, filter kind (``dim``), value and cell, the number of
observations, the last year and the set of taxa as a bit string over the public taxa numbered densely at
each refresh (``sinp_carte_public_taxa``; every bit string of one refresh has the same length, as
``bit_or`` needs). A filtered map then reads one row per cell and selected value: observations and last
years add up, the taxa are OR-ed and their bits counted — the distinct taxa of a cell, which no sum of
per-value counts gives (a taxon seen in two years is one taxon).

Computed by ``map_store.refresh_public`` in its transaction, from the same counts and with each level's
rule of the other public roll-ups (published JDD, diffusion allowing the level, well-formed code): the
caller passes them. One filter kind at a time, or one kind and a département: each row also holds the
département of its observations (``dep``; a maille on a border has a row per département, a commune or a
département one), so « this group (period, validation, producer, JDD) in this département » reads the
same rows with one more condition; the unfiltered kinds add the rows of every département up. Any other
combination of kinds, or a kind with a taxon, is answered from the counts (``map_store.cells``).

SQLAlchemy Core, no ``import ckan``.
"""

from __future__ import annotations

from sqlalchemy import text

# each filter kind and its value in a count ``a`` of a published JDD ``p`` (``map_store.Filtres``);
# a value no filter can ask ('' or a year 0: « unknown ») is not kept. A producer's rows are its JDD's
# OR-ed (the same observations: one kind fewer in the pass over the counts)
DIMS = {
    "groupe": "a.groupe",
    "dep": "a.dep",
    "annee": "NULLIF(a.annee, 0)::text",
    "niv_val": "a.niv_val",
    "jdd": "a.package_id",
    "producteur": None,
}
WORD = 64  # taxa are gathered in bigint words, then written as one bit string per row

SCHEMA_SQL = (
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_taxa (cd_ref integer PRIMARY KEY, idx integer NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sinp_carte_public_dim (
         niveau text NOT NULL, dim text NOT NULL, val text NOT NULL, dep text NOT NULL, code text NOT NULL,
         nb_obs bigint NOT NULL, derniere_annee integer, taxa bit varying NOT NULL,
         PRIMARY KEY (niveau, dim, val, dep, code))""",
    # a period reads the years in its range only
    """CREATE INDEX IF NOT EXISTS ix_sinp_carte_public_dim_annee ON sinp_carte_public_dim (niveau, (val::int))
         WHERE dim = 'annee'""",
    "COMMENT ON TABLE sinp_carte_public_dim IS 'Observations publiques par maille, commune et département "
    "et par valeur d''un filtre (groupe, département, année, validation, producteur, JDD) et par "
    "département des observations, taxons en bits (numérotés dans sinp_carte_public_taxa)'",
)
# a table of an earlier layout (without ``dep``): ``map_store.ensure_tables`` drops it and fills it again at once
OUTDATED_SQL = """SELECT to_regclass('sinp_carte_public_dim') IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = 'sinp_carte_public_dim' AND column_name = 'dep')"""
TABLES = ("sinp_carte_public_dim", "sinp_carte_public_taxa")


def refresh(conn, levels: dict[str, tuple[str, str]], published_sql: str, params: dict) -> int:
    """Fills the roll-up (its tables emptied by the caller) for each level ``niveau -> (code column,
    conditions on the counts a)``, ``params`` the conditions' parameters plus ``max_layer_<niveau>``;
    the taxa numbered from ``sinp_carte_public_taxon`` (computed first). Returns the rows written."""
    conn.execute(
        text("""INSERT INTO sinp_carte_public_taxa (cd_ref, idx)
                SELECT cd_ref, (row_number() OVER (ORDER BY cd_ref) - 1)::int
                  FROM (SELECT DISTINCT cd_ref FROM sinp_carte_public_taxon WHERE cd_ref <> 0) AS t""")
    )
    words = conn.execute(text(f"SELECT (count(*) + {WORD - 1}) / {WORD} FROM sinp_carte_public_taxa")).scalar()
    values = ", ".join(f"('{dim}', {expr})" for dim, expr in DIMS.items() if expr)
    written = 0
    for niveau, (code, where) in levels.items():
        # per (kind, value, cell, word of 64 taxa) first, all by hashing: then each word shifted to its
        # place in a bit string of every taxon, OR-ed per cell (a bit set per taxon, one at a time, costs
        # 20 times more; ordering the words to write the string costs twice more); written in the order
        # of (kind, value): a query reads its values' rows from a few pages
        written += conn.execute(
            text(f"""
            WITH p AS ({published_sql}),
                 w AS MATERIALIZED (
                   SELECT d.dim, d.val COLLATE "C" AS val, a.dep COLLATE "C" AS dep, a.{code} COLLATE "C" AS code,
                          COALESCE(t.idx / {WORD}, -1) AS word,
                          bit_or(COALESCE(1::bigint << (t.idx % {WORD}), 0)) AS bits, sum(a.nb) AS nb,
                          max(a.annee) FILTER (WHERE a.annee <> 0) AS derniere_annee
                     FROM sinp_carte_agg a JOIN p ON p.id = a.package_id
                          LEFT JOIN sinp_carte_public_taxa t ON t.cd_ref = a.cd_ref
                          CROSS JOIN LATERAL (VALUES {values}) AS d(dim, val)
                    WHERE {where} AND d.val <> ''
                    GROUP BY 1, 2, 3, 4, 5),
                 z AS (SELECT repeat('0', :bits)::varbit AS zero, repeat('0', greatest(:bits - {WORD}, 0))::varbit AS tail)
            INSERT INTO sinp_carte_public_dim (niveau, dim, val, dep, code, nb_obs, derniere_annee, taxa)
            SELECT :niveau, w.dim, w.val, w.dep, w.code, sum(w.nb), max(w.derniere_annee),
                   bit_or(CASE WHEN w.word < 0 THEN z.zero
                               ELSE (w.bits::bit({WORD})::varbit || z.tail) >> ({WORD} * w.word) END)
              FROM w CROSS JOIN z GROUP BY w.dim, w.val, w.dep, w.code
             ORDER BY w.dim, w.val, w.dep, w.code"""),
            {**params, "niveau": niveau, "bits": words * WORD},
        ).rowcount
        written += conn.execute(
            text(f"""
            INSERT INTO sinp_carte_public_dim (niveau, dim, val, dep, code, nb_obs, derniere_annee, taxa)
            SELECT :niveau, 'producteur', p.owner_org, d.dep, d.code, sum(d.nb_obs), max(d.derniere_annee),
                   bit_or(d.taxa)
              FROM sinp_carte_public_dim d JOIN ({published_sql}) AS p ON p.id = d.val
             WHERE d.niveau = :niveau AND d.dim = 'jdd' AND p.owner_org <> ''
             GROUP BY p.owner_org, d.dep, d.code ORDER BY 3, 4, 5"""),
            {"niveau": niveau},
        ).rowcount
    return written


def bit_of(idx: str) -> str:
    """The position (for ``get_bit``) of taxon number ``idx`` (SQL) in the bit strings ``refresh`` writes:
    each word of 64 taxa is a bigint cast to ``bit(64)`` (its highest bit first), so taxon ``64 w + k`` is
    at ``64 w + 63 - k``."""
    return f"(({idx}) / {WORD} * {WORD} + {WORD - 1} - ({idx}) % {WORD})"


def single(filtres) -> tuple[str, str, dict] | None:
    """(kind, condition on the rows ``d``, parameters) when ``filtres`` (``map_store.Filtres``) asks one
    kind of filter other than a taxon, or one such kind and a département, which the roll-up answers; else
    None (the counts answer)."""
    asked = {
        "groupe": bool(filtres.groupe),
        "dep": bool(filtres.dep),
        "annee": filtres.annee_min is not None or filtres.annee_max is not None,
        "niv_val": bool(filtres.niv_val),
        "jdd": bool(filtres.jdd),
        "producteur": bool(filtres.producteur),
    }
    kinds = [k for k, on in asked.items() if on]
    in_dep = len(kinds) == 2 and "dep" in kinds  # a kind in one département: the rows of that département
    if in_dep:
        kinds.remove("dep")
    if filtres.cd_refs is not None or len(kinds) != 1:
        return None
    kind = kinds[0]
    if kind == "annee":  # the years of the range (the index on val::int of the year rows)
        bounds = {"d_min": (filtres.annee_min, ">="), "d_max": (filtres.annee_max, "<=")}
        params = {key: int(year) for key, (year, _) in bounds.items() if year is not None}
        condition = " AND ".join(f"d.val::int {op} :{key}" for key, (_, op) in bounds.items() if key in params)
    elif kind == "niv_val":
        condition, params = "d.val = ANY(:d_vals)", {"d_vals": [str(v) for v in filtres.niv_val]}
    else:
        condition, params = "d.val = :d_val", {"d_val": str(getattr(filtres, kind))}
    if in_dep:
        condition, params = f"{condition} AND d.dep = :d_dep", {**params, "d_dep": str(filtres.dep)}
    return kind, condition, params


def cells_sql(kind: str, condition: str, niveau: str = ":niveau") -> str:
    """Per cell of ``niveau`` (SQL; columns ``code``, ``nb_obs``, ``nb_taxons``, ``derniere_annee``): the
    rows of the values ``condition`` selects for ``kind``, their taxa OR-ed."""
    return f"""SELECT d.code, sum(d.nb_obs) AS nb_obs, bit_count(bit_or(d.taxa))::int AS nb_taxons,
                      max(d.derniere_annee) AS derniere_annee
                 FROM sinp_carte_public_dim d
                WHERE d.niveau = {niveau} AND d.dim = '{kind}' AND {condition} GROUP BY d.code"""
