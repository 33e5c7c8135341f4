"""The SQL that ``occurrences/map_store.py`` writes for the géo-visualiseur's counts (#16), without a
database: the public counts blank every code a diffusion does not allow, the precise counts keep them
for the blurred rows only, and the triggers, ``rebuild`` and the benches share one list of statements."""

from __future__ import annotations

import dataclasses

from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import map_rollups, map_store
from ckanext.sinp.occurrences.store import Access


def test_public_counts_blank_each_code_above_its_level():
    for niveau, key in (("maille", "maille"), ("commune", "commune"), ("departement", "dep")):
        expression = map_store._ROW[key]
        assert expression.startswith(f"CASE WHEN r.public_layer <= {map_store.MAX_LAYER[niveau]} THEN")
        assert expression.endswith("ELSE '' END")
    assert map_store.MAX_LAYER == {
        "maille": protection.MAILLE,
        "commune": protection.COMMUNE,
        "departement": protection.DEPARTEMENT,
    }


def test_precise_counts_keep_every_code_of_the_blurred_rows_only():
    statement = map_store._apply("sinp_carte_precis", map_store._KEYS, "src", "", precise=True)
    assert "CASE WHEN" not in statement  # no code blanked
    assert f"WHERE r.public_layer > {protection.COMMUNE}" in statement
    assert map_store.BLURRED_ABOVE == min(map_store.MAX_LAYER.values()) == protection.COMMUNE
    # a row at or below « commune » has no code blanked: the public counts hold it whole
    assert "WHERE" not in map_store._apply("sinp_carte_agg", map_store._KEYS, "src", "")


def test_one_list_of_statements_for_the_triggers_and_rebuild():
    statements = map_store.count_statements("sinp_carte_old", "-")
    assert [s.split(" (")[0] for s in statements] == [f"INSERT INTO {t}" for t, _, _ in map_store.COUNTS]
    body = map_store._trigger_body()
    for statement in statements + map_store.count_statements("sinp_carte_new"):
        assert statement in body
    assert all(t in map_store._TABLES for t, _, _ in map_store.COUNTS)
    assert "sinp_carte_state" not in map_store._ROLLUPS  # refresh_public keeps the layout's version


def test_the_precise_rows_decide_with_access_full_sql():
    params: dict = {}
    sql = map_store._precise_rows("commune", map_store.Filtres(), Access(orgs=["org-1"]), params)
    assert params["acc_orgs"] == ["org-1"] and "a.owner_org = ANY(:acc_orgs)" in sql
    assert "sinp_carte_precis" in sql and "NULLIF(owner_org, '')" in sql
    assert map_store._precise_rows("maille", map_store.Filtres(), Access(full=True), {}).count("COALESCE(true") == 2
    added = map_store._precise_rows("maille", map_store.Filtres(), Access(full=True), {}, beyond_public=True)
    assert added.count("AND NOT (a.public_layer <= :max_layer AND a.package_id IN (SELECT id FROM pub))") == 2


def test_one_kind_of_filter_reads_the_rollup_per_value_and_anything_else_the_counts():
    F = map_store.Filtres
    assert map_rollups.single(F(groupe="Oiseaux")) == ("groupe", "d.val = :d_val", {"d_val": "Oiseaux"})
    assert map_rollups.single(F(niv_val=["1", "2"])) == ("niv_val", "d.val = ANY(:d_vals)", {"d_vals": ["1", "2"]})
    kind, condition, params = map_rollups.single(F(annee_min=2015))
    assert (kind, params) == ("annee", {"d_min": 2015}) and "<=" not in condition
    assert map_rollups.single(F(annee_min=2015, annee_max=2020))[2] == {"d_min": 2015, "d_max": 2020}
    # one kind in one département: the same rows, of that département
    assert map_rollups.single(F(groupe="Oiseaux", dep="25")) == (
        "groupe",
        "d.val = :d_val AND d.dep = :d_dep",
        {"d_val": "Oiseaux", "d_dep": "25"},
    )
    kind, condition, params = map_rollups.single(F(annee_max=2020, dep="2A"))
    assert (kind, params) == ("annee", {"d_max": 2020, "d_dep": "2A"}) and condition.endswith("AND d.dep = :d_dep")
    for filtres in (
        F(),
        F(cd_refs=[1]),
        F(cd_refs=[1], dep="25"),
        F(dep="25", jdd="x", groupe="Oiseaux"),
        F(groupe="Oiseaux", annee_min=2015),
        F(jdd="x", producteur="o"),
        F(niv_val=[]),
    ):
        assert map_rollups.single(filtres) is None, filtres
    # every filter of map_store but the taxon is a kind of the roll-up (the period: one kind)
    fields = {f.name for f in dataclasses.fields(F)} - {"cd_refs", "annee_min", "annee_max"}
    assert set(map_rollups.DIMS) == fields | {"annee"}
    # the taxa of a cell are OR-ed over the values, never added
    assert "bit_count(bit_or(d.taxa))" in map_rollups.cells_sql("jdd", "d.val = :d_val")
    # refresh_public empties them with the other roll-ups; the layout's tables include them
    assert set(map_rollups.TABLES) <= set(map_store._ROLLUPS) <= set(map_store._TABLES)
