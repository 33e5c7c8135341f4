"""The géo-visualiseur's counts (#16, ``occurrences/map_store.py``) against real PostgreSQL/PostGIS:
the per-JDD counts kept by the triggers of ``sinp_occurrence`` equal a recount from the occurrences
after every kind of write (deposit, validation, deletion, a rolled-back deposit, TRUNCATE); the public
roll-ups equal what an independent Python computation over the generated rows gives (published JDD
only, diffusion respected per level); publishing a JDD makes them stale until refreshed; the views of
``sinp_flux`` are the roll-ups in EPSG:2154.
"""

from __future__ import annotations

import time
from collections import defaultdict

import ckan.model as model
import pytest
import sqlalchemy as sa

from ckanext.sinp.occurrences import map_rollups, map_store
from tests.integration.conftest import scheduler_process
from tests.integration.test_indicators import build_world


@pytest.fixture
def world(app, clean_db, jobs_worker, tmp_path):
    """The ORB indicators' generated set (tests/integration/indicator_data.py): three published JDD
    and a private one, ~2 200 observations, some blurred, some not diffused."""
    return build_world(app, tmp_path)


def _agg(table: str = "sinp_carte_agg") -> dict:
    with model.meta.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {', '.join(map_store._KEYS)}, nb FROM {table}")).all()
    return {tuple(r[:-1]): r[-1] for r in rows}


def _recount(precise: bool = False) -> dict:
    """The counts (``precise``: of ``sinp_carte_precis``) computed again from the occurrences."""
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("CREATE TEMP TABLE recount (LIKE sinp_carte_agg) ON COMMIT DROP"))
        statement = map_store._apply("recount", map_store._KEYS, "sinp_occurrence", "", precise)
        conn.execute(sa.text(statement.split(" ON CONFLICT")[0]))
        rows = conn.execute(sa.text(f"SELECT {', '.join(map_store._KEYS)}, nb FROM recount")).all()
    return {tuple(r[:-1]): r[-1] for r in rows}


def _exact() -> bool:
    """Both per-JDD counts equal a recount from the occurrences."""
    return _agg() == _recount() and _agg("sinp_carte_precis") == _recount(precise=True)


def _months() -> dict:
    with model.meta.engine.connect() as conn:
        return {
            tuple(r[:-1]): r[-1]
            for r in conn.execute(sa.text("SELECT package_id, public_layer, cd_ref, mois, nb FROM sinp_carte_mois"))
        }


def _expected_mailles(world, public: set[str] | None = None, dep: str | None = None) -> dict:
    """Per 10 km cell: (observations, distinct taxa, last year) of the published JDD (``dep``: of that
    département), diffused at the maille or finer — from the generated rows and the layer the platform
    gave each."""
    public = world["public"] if public is None else public
    names = world["names"]
    obs, taxa, last = defaultdict(int), defaultdict(set), defaultdict(int)
    for o in world["rows"]:
        if o.jdd not in public or o.extra["layer"] > 2 or not o.extra["maille"] or dep not in (None, o.dep):
            continue
        cell = o.extra["maille"]
        obs[cell] += 1
        taxa[cell].add(names[o.cd_nom]["cd_ref"])
        last[cell] = max(last[cell], o.date.year)
    return {c: (obs[c], len(taxa[c]), last[c]) for c in obs}


def _refresh(force: bool = False):
    with model.meta.engine.begin() as conn:
        return map_store.refresh_public(conn, force=force)


def test_counts_follow_every_write_and_the_public_rollups_match_an_independent_computation(world, tmp_path):
    assert _exact()
    assert sum(_agg().values()) == len(world["rows"])
    # the precise counts: the blurred observations (public layer above « commune »), every code kept
    blurred = [o for o in world["rows"] if o.extra["layer"] >= 2]
    assert blurred and sum(_agg("sinp_carte_precis").values()) == len(blurred)
    assert {k[5] for k in _agg("sinp_carte_precis")} >= {o.extra["maille"] for o in blurred if o.extra["maille"]}

    _refresh(force=True)
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
        cells = {c["code"]: c for c in map_store.cells(conn, "maille")}
        assert {c: (v["nb_obs"], v["nb_taxons"], v["derniere_annee"]) for c, v in cells.items()} == _expected_mailles(
            world
        )
        some = next(iter(cells.values()))
        assert some["geometry"]["type"] == "Polygon"
        # the same answer computed from the counts (a filtered or stale map takes that way)
        live = {c["code"]: c for c in map_store.cells(conn, "maille", pub=[j["id"] for j in world["jdds"].values()])}
        assert {c: v["nb_obs"] for c, v in live.items()} == {c: v["nb_obs"] for c, v in cells.items()}
        # départements: diffused at the département or finer
        deps = {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "departement")}
    wanted = defaultdict(int)
    for o in world["rows"]:
        if o.jdd in world["public"] and o.extra["layer"] <= 3:
            wanted[o.dep] += 1
    assert deps == dict(wanted)

    # a validation (UPDATE): the counts move from one level to another, the total stays
    with model.meta.engine.begin() as conn:
        changed = conn.execute(
            sa.text("UPDATE sinp_occurrence SET niv_val = '1' WHERE niv_val = '0' AND dep = '21'")
        ).rowcount
    assert changed > 0
    assert _exact() and sum(_agg().values()) == len(world["rows"])
    # a sensitivity recomputation (UPDATE of the public layer): rows enter and leave the precise counts
    with model.meta.engine.begin() as conn:
        blurred_more = conn.execute(
            sa.text("UPDATE sinp_occurrence SET public_layer = 3 WHERE public_layer = 0 AND dep = '39'")
        ).rowcount
        cleared = conn.execute(
            sa.text("UPDATE sinp_occurrence SET public_layer = 1 WHERE public_layer = 2 AND dep = '25'")
        ).rowcount
    assert blurred_more > 0 and cleared > 0
    assert _exact() and sum(_agg("sinp_carte_precis").values()) == len(blurred) + blurred_more - cleared

    # a deposit rolled back leaves the counts as they were
    before, months, precise = _agg(), _months(), _agg("sinp_carte_precis")
    with pytest.raises(RuntimeError):
        with model.meta.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM sinp_occurrence WHERE dep = '25'"))
            raise RuntimeError("abandon")
    assert _agg() == before and _months() == months and _agg("sinp_carte_precis") == precise

    # a deletion: the JDD's counts go, no zero row stays
    private = world["jdds"]["prive"]
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_occurrence WHERE package_id = :p"), {"p": private["id"]})
    assert _exact()
    assert not [k for k in _agg() if k[0] == private["id"]]
    assert not [k for k in _agg("sinp_carte_precis") if k[0] == private["id"]]
    assert not [k for k in _months() if k[0] == private["id"]]

    # TRUNCATE empties them; a recount from the occurrences (cli carte-refresh --recompter) agrees
    with model.meta.engine.begin() as conn:
        assert map_store.rebuild(conn) == sum(before.values()) - sum(
            v for k, v in before.items() if k[0] == private["id"]
        )
    assert _exact()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_occurrence"))
    assert _agg() == {} and _months() == {} and _agg("sinp_carte_precis") == {}


def _flux_mailles() -> dict:
    with model.meta.engine.connect() as conn:
        return {
            r.cd_sig: r.nb_obs
            for r in conn.execute(sa.text("SELECT cd_sig, nb_obs FROM sinp_flux.observations_maille"))
        }


def test_a_private_jdd_counts_only_once_published_and_the_flux_views_serve_the_rollups(world):
    _refresh(force=True)
    with model.meta.engine.connect() as conn:
        before = {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")}
    private = world["jdds"]["prive"]
    world["api"].ok("package_patch", id=private["id"], private=False)
    with model.meta.engine.connect() as conn:
        assert not map_store.is_fresh(conn)  # the package table changed
        # a publication narrows nothing: the map and the flux serve the roll-ups until the next refresh
        assert map_store.serves_rollups(conn) and not map_store.serves_rollups(conn, precise=True)
        assert {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")} == before
    assert _flux_mailles() == before
    assert _refresh() is not None and _refresh() is None  # recomputed once, then nothing to do
    with model.meta.engine.connect() as conn:
        now = {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")}
    assert now == {c: v[0] for c, v in _expected_mailles(world, world["public"] | {"prive"}).items()}
    assert sum(now.values()) > sum(before.values())
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT gid, cd_sig, nb_obs, ST_SRID(geom) AS srid, ST_Area(geom) AS area "
                "FROM sinp_flux.observations_maille"
            )
        ).all()
        assert {r.cd_sig: r.nb_obs for r in rows} == now
        assert {r.srid for r in rows} == {2154} and {round(r.area) for r in rows} == {100_000_000}
        assert len({r.gid for r in rows}) == len(rows)
        emprises = conn.execute(sa.text("SELECT jdd, nb_obs, ST_SRID(geom) FROM sinp_flux.jdd_emprise")).all()
    assert {e.jdd for e in emprises} == {j["name"] for j in world["jdds"].values()}
    assert sum(e.nb_obs for e in emprises) == sum(now.values())

    # withdrawn again: from the commit of the withdrawal until the refresh commits, the map and the flux
    # layers read each cell again from the roll-up per JDD without it — the other JDD's rows, untouched by
    # the withdrawal: the cells of after the refresh at once, observations, taxa and last year — and its
    # footprint leaves the layer
    world["api"].ok("package_patch", id=private["id"], private=True)
    touched = set(_expected_mailles(world, {"prive"}))
    assert touched and set(before) - touched, "the set must hold cells with and without the private JDD"
    with model.meta.engine.connect() as conn:
        assert not map_store.serves_rollups(conn)
        assert map_store.rollup_state(conn).narrowed == {private["id"]}
        pending = [{k: v for k, v in c.items() if k != "geometry"} for c in map_store.cells(conn, "maille")]
        assert {c["code"]: c["nb_obs"] for c in pending} == before
        assert map_store.freshness(conn)["a_jour"] is False  # what it still holds waits for the refresh
        assert _flux_mailles() == before
        flux = conn.execute(
            sa.text("SELECT cd_sig, nb_obs, nb_taxons, derniere_annee FROM sinp_flux.observations_maille")
        ).all()
        jdds = {r.jdd for r in conn.execute(sa.text("SELECT jdd FROM sinp_flux.jdd_emprise"))}
        assert jdds == {j["name"] for k, j in world["jdds"].items() if k != "prive"}
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_flux.territoire")).scalar() > 0  # a referential
        # a filter by another JDD reads its rows; by the withdrawn one, the counts (nothing)
        other = world["jdds"][sorted(world["public"])[0]]
        by_jdd = {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille", map_store.Filtres(jdd=other["id"]))}
        assert by_jdd and not map_store.cells(conn, "maille", map_store.Filtres(jdd=private["id"]))
    _refresh()
    with model.meta.engine.connect() as conn:
        after = [{k: v for k, v in c.items() if k != "geometry"} for c in map_store.cells(conn, "maille")]
        assert after == pending
        assert sorted(
            conn.execute(
                sa.text("SELECT cd_sig, nb_obs, nb_taxons, derniere_annee FROM sinp_flux.observations_maille")
            ).all()
        ) == sorted(flux)
        assert {
            c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille", map_store.Filtres(jdd=other["id"]))
        } == by_jdd
    assert _flux_mailles() == before


def _pending() -> bool | None:
    """None when no change waits for the refresh; else whether one may have narrowed what is public (its
    JDD: NULL any, '{}' none)."""
    with model.meta.engine.connect() as conn:
        marks = conn.execute(sa.text("SELECT packages FROM sinp_carte_changes")).scalars().all()
    return any(m is None or m for m in marks) if marks else None


def _narrowed() -> set[str] | None:
    """The JDD named by the narrowing changes waiting for the refresh (None: any)."""
    with model.meta.engine.connect() as conn:
        marks = conn.execute(sa.text("SELECT packages FROM sinp_carte_changes")).scalars().all()
    return None if None in marks else {p for m in marks for p in m}


def test_each_kind_of_change_says_whether_it_may_narrow_what_is_public(world):
    """What keeps the roll-ups serving (``map_store.serves_rollups``): a deposit, a validation, a
    publication, a JDD edited; what stops them until the next refresh: a deletion, a change of diffusion
    or place, a withdrawal, a JDD deleted, a rolled-back narrowing leaving nothing."""
    api, jdds = world["api"], world["jdds"]
    engine = model.meta.engine

    def packages_of(where: str) -> set[str]:
        with engine.connect() as conn:
            return set(
                conn.execute(sa.text(f"SELECT DISTINCT package_id FROM sinp_occurrence WHERE {where}")).scalars()
            )

    _refresh(force=True)
    assert _pending() is None
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(sa.text("CREATE TEMP TABLE kept AS SELECT * FROM sinp_occurrence WHERE dep = '21' LIMIT 20"))
            wanted = set(conn.execute(sa.text("SELECT DISTINCT package_id FROM kept")).scalars())
            assert conn.execute(sa.text("DELETE FROM sinp_occurrence WHERE id IN (SELECT id FROM kept)")).rowcount
        assert _pending() is True and _narrowed() == wanted  # observations deleted: their JDD
        _refresh()
        with conn.begin():
            conn.execute(sa.text("INSERT INTO sinp_occurrence SELECT * FROM kept"))
        assert _pending() is False and _narrowed() == set()  # deposited again
    _refresh()
    steps = [
        ("a validation", "niv_val = '2'", "niv_val <> '2' AND dep = '21'", False),
        ("another validation", "niv_val = '3'", "dep = '21'", False),
        ("a coarser diffusion", "public_layer = 3", "public_layer = 0 AND dep = '39'", True),
        ("another taxon", "cd_ref = cd_ref + 1", "dep = '25' AND cd_ref > 0", True),
    ]
    for what, change, where, narrows in steps:
        wanted = packages_of(where)
        with engine.begin() as conn:
            assert conn.execute(sa.text(f"UPDATE sinp_occurrence SET {change} WHERE {where}")).rowcount > 0, what
        assert _pending() is narrows, what
        assert _narrowed() == (wanted if narrows else set()), what
        with engine.connect() as conn:
            assert map_store.serves_rollups(conn) is not narrows, what
        _refresh()
    # once narrowing in a transaction, it stays narrowing, for the union of the JDD named
    wanted = packages_of("dep = '25' AND public_layer = 0") | packages_of("dep = '58' AND public_layer = 1")
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_occurrence WHERE dep = '25' AND public_layer = 0"))
        conn.execute(sa.text("UPDATE sinp_occurrence SET niv_val = '1' WHERE dep = '21'"))
        conn.execute(sa.text("UPDATE sinp_occurrence SET public_layer = 2 WHERE dep = '58' AND public_layer = 1"))
    assert _pending() is True and _narrowed() == wanted
    _refresh()
    # a narrowing rolled back leaves no mark
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_occurrence WHERE dep = '21'"))
        raise RuntimeError("abandon")
    assert _pending() is None
    # the JDD (CKAN's package table, through the API)
    public = jdds[sorted(world["public"])[0]]
    for what, call, narrowed in [
        ("a JDD retitled", lambda: api.ok("package_patch", id=public["id"], title="Titre modifié"), set()),
        ("a JDD published", lambda: api.ok("package_patch", id=jdds["prive"]["id"], private=False), set()),
        (
            "a JDD withdrawn",
            lambda: api.ok("package_patch", id=jdds["prive"]["id"], private=True),
            {jdds["prive"]["id"]},
        ),
        ("a private JDD edited", lambda: api.ok("package_patch", id=jdds["prive"]["id"], title="Privé"), set()),
        ("a JDD deleted", lambda: api.ok("package_delete", id=public["id"]), {public["id"]}),
    ]:
        call()
        assert _pending() is bool(narrowed) and _narrowed() == narrowed, what
        _refresh()
    with engine.connect() as conn:
        assert _flux_mailles() == {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")}
    # a TRUNCATE, a recount name no JDD: every cell hidden until the refresh
    with engine.begin() as conn:
        map_store.rebuild(conn)
    assert _pending() is True and _narrowed() is None and _flux_mailles() == {}
    _refresh()
    assert _flux_mailles()


def test_a_withdrawal_committed_during_a_refresh_leaves_its_jdd_out_until_the_next(world, monkeypatch):
    """A JDD withdrawn while a refresh runs, after its cells are computed and before its roll-up per JDD:
    the cells count it, the rows per JDD do not. Its change keeps its row (the refresh consumed only those
    committed before it began): the map and the map server read each cell again from the rows per JDD
    without it — exactly the cells the next refresh computes."""
    public = world["jdds"][sorted(world["public"])[0]]
    _refresh(force=True)
    with model.meta.engine.connect() as conn:
        before = {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")}
    assert _flux_mailles() == before
    rollups = map_rollups.refresh

    def withdrawn_in_between(*args, **kwargs):
        world["api"].ok("package_patch", id=public["id"], private=True)  # its own transaction, committed
        return rollups(*args, **kwargs)

    monkeypatch.setattr(map_rollups, "refresh", withdrawn_in_between)
    _refresh(force=True)
    monkeypatch.undo()
    with model.meta.engine.connect() as conn:
        assert not conn.execute(
            sa.text("SELECT count(*) FROM sinp_carte_public_dim WHERE dim = 'jdd' AND val = :p"), {"p": public["id"]}
        ).scalar()  # the roll-up per JDD was computed without it
        assert conn.execute(
            sa.text("SELECT sum(nb_obs) FROM sinp_carte_public WHERE niveau = 'maille'")
        ).scalar() == sum(before.values())  # the cells with it
        assert _pending() is True and _narrowed() == {public["id"]}
        pending = {c["code"]: (c["nb_obs"], c["nb_taxons"]) for c in map_store.cells(conn, "maille")}
        flux = {
            r.cd_sig: (r.nb_obs, r.nb_taxons)
            for r in conn.execute(sa.text("SELECT cd_sig, nb_obs, nb_taxons FROM sinp_flux.observations_maille"))
        }
        footprints = set(conn.execute(sa.text("SELECT jdd FROM sinp_flux.jdd_emprise")).scalars())
    assert footprints == {world["jdds"][k]["name"] for k in world["public"]} - {public["name"]}
    assert sum(n for n, _ in pending.values()) < sum(before.values())
    _refresh()
    with model.meta.engine.connect() as conn:
        assert {c["code"]: (c["nb_obs"], c["nb_taxons"]) for c in map_store.cells(conn, "maille")} == pending == flux
    assert _flux_mailles() == {
        c: v[0] for c, v in _expected_mailles(world, world["public"] - {sorted(world["public"])[0]}).items()
    }


def test_a_jdd_narrowed_in_part_is_counted_as_it_is_now_until_the_refresh(world):
    """Observations of a published JDD deleted, others moved to a taxon the last refresh never numbered:
    until the refresh, the unfiltered map reads the other JDD in the roll-up per JDD and this one in its
    live counts — every level equal to the counts' answer (observations, distinct taxa, last year), the
    map server's layer too, and the refresh changes nothing."""
    engine = model.meta.engine
    jdd = world["jdds"][sorted(world["public"])[0]]
    _refresh(force=True)

    def by_counts(conn, niveau: str) -> dict:
        pub = list(conn.execute(sa.text(map_store.PUBLISHED_JDD_SQL)).scalars())
        return {
            c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"])
            for c in map_store.cells(conn, niveau, None, pub)
        }

    def served(conn, niveau: str) -> dict:
        return {c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"]) for c in map_store.cells(conn, niveau)}

    with engine.connect() as conn:
        before = {niveau: served(conn, niveau) for niveau in map_store.NIVEAUX}
    with engine.begin() as conn:
        assert conn.execute(
            sa.text("DELETE FROM sinp_occurrence WHERE package_id = :p AND id % 3 = 0"), {"p": jdd["id"]}
        ).rowcount
        assert conn.execute(
            sa.text("UPDATE sinp_occurrence SET cd_ref = 99999999 WHERE package_id = :p AND id % 3 = 1"),
            {"p": jdd["id"]},
        ).rowcount
    with engine.connect() as conn:
        assert map_store.rollup_state(conn).narrowed == {jdd["id"]}
        now = {niveau: served(conn, niveau) for niveau in map_store.NIVEAUX}
        for niveau in map_store.NIVEAUX:
            assert now[niveau] == by_counts(conn, niveau), niveau
        assert now != before
        assert _flux_mailles() == {code: v[0] for code, v in now["maille"].items()}
    _refresh()
    with engine.connect() as conn:
        assert {niveau: served(conn, niveau) for niveau in map_store.NIVEAUX} == now


def test_cell_taxa_and_taxon_summary_show_only_what_the_public_may_see(world):
    rows, names, public = world["rows"], world["names"], world["public"]
    with model.meta.engine.connect() as conn:
        cell = max(_expected_mailles(world).items(), key=lambda kv: kv[1][0])[0]
        taxa = map_store.cell_taxa(conn, "maille", cell)
        wanted = defaultdict(int)
        sensitive = set()
        for o in rows:
            if o.jdd in public and o.extra["layer"] <= 2 and o.extra["maille"] == cell:
                wanted[names[o.cd_nom]["cd_ref"]] += 1
                if o.extra["sensi"] not in (None, "", "0"):
                    sensitive.add(names[o.cd_nom]["cd_ref"])
        assert {t["cd_ref"]: t["nb_obs"] for t in taxa} == dict(wanted)
        assert {t["cd_ref"] for t in taxa if t["sensible"]} == sensitive
        assert all(t["nom_valide"] for t in taxa)
        assert [t["nb_obs"] for t in taxa] == sorted((t["nb_obs"] for t in taxa), reverse=True)

        cd_ref = 117096  # Reynoutria japonica
        summary = map_store.taxon_summary(conn, map_store.descendants(conn, cd_ref))
    mine = [o for o in rows if o.jdd in public and o.extra["layer"] <= 3 and names[o.cd_nom]["cd_ref"] == cd_ref]
    assert sum(summary["mois"]) == len(mine) == sum(a["nb_obs"] for a in summary["annees"])
    months = [0] * 12
    for o in mine:
        months[o.date.month - 1] += 1
    assert summary["mois"] == months
    assert {j["package_id"] for j in summary["jdd"]} <= {world["jdds"][k]["id"] for k in public}


def test_bad_levels_are_refused():
    with model.meta.engine.connect() as conn, pytest.raises(ValueError, match="niveau inconnu"):
        map_store.cells(conn, "region")


def test_the_scheduler_refreshes_the_rollups_when_the_data_changed(world, stack, tmp_path):
    with model.meta.engine.connect() as conn:
        assert not map_store.is_fresh(conn)  # the deposits moved the counts
    with scheduler_process(stack, tmp_path, carte_every=2) as wait:
        output = wait("carte: {'maille'")
        with model.meta.engine.connect() as conn:
            assert map_store.is_fresh(conn)
            assert {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")} == {
                c: v[0] for c, v in _expected_mailles(world).items()
            }
        world["api"].ok("package_patch", id=world["jdds"]["prive"]["id"], private=False)
        deadline = time.monotonic() + 60
        while output.count("carte: {'maille'") < 2:
            assert time.monotonic() < deadline, "the scheduler did not refresh the roll-ups after a publication"
            time.sleep(0.5)
            output = wait("carte:")
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
        assert {c["code"]: c["nb_obs"] for c in map_store.cells(conn, "maille")} == {
            c: v[0] for c, v in _expected_mailles(world, world["public"] | {"prive"}).items()
        }


def _published() -> list[str]:
    with model.meta.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(map_store.PUBLISHED_JDD_SQL))]


def _one_kind_filters(world) -> dict[str, map_store.Filtres]:
    """A filter of each kind the per-value roll-up answers, alone and in one département, with values the
    generated set holds."""
    F = map_store.Filtres
    with model.meta.engine.connect() as conn:
        groupe, dep = conn.execute(
            sa.text("SELECT groupe, dep FROM sinp_carte_agg WHERE groupe <> '' AND dep <> '' ORDER BY nb DESC LIMIT 1")
        ).one()
        first, last = conn.execute(sa.text("SELECT min(annee), max(annee) FROM sinp_carte_agg WHERE annee <> 0")).one()
    a1 = world["jdds"]["a1"]
    return {
        "groupe": F(groupe=groupe),
        "dep": F(dep=dep),
        "période": F(annee_min=(first + last) // 2, annee_max=last),
        "depuis une année": F(annee_min=(first + last) // 2),
        "jusqu'à une année": F(annee_max=(first + last) // 2),
        "validation": F(niv_val=["1", "2"]),
        "validation inconnue": F(niv_val=["0"]),
        "JDD": F(jdd=a1["id"]),
        "JDD privé": F(jdd=world["jdds"]["prive"]["id"]),
        "producteur": F(producteur=a1["owner_org"]),
        "groupe dans le département": F(groupe=groupe, dep=dep),
        "période dans le département": F(annee_min=(first + last) // 2, annee_max=last, dep=dep),
        "validation dans le département": F(niv_val=["1", "2"], dep=dep),
        "JDD dans le département": F(jdd=a1["id"], dep=dep),
        "producteur dans le département": F(producteur=a1["owner_org"], dep=dep),
        "JDD privé dans le département": F(jdd=world["jdds"]["prive"]["id"], dep=dep),
    }


def _assert_rollup_equals_counts(world) -> dict:
    """Each filter kind at each level: the answer of the fresh roll-up per filter value equals the
    counts' (``pub``: the published JDD, the path of a stale roll-up). Returns the answers."""
    published = _published()
    answers = {}
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
        for name, filtres in _one_kind_filters(world).items():
            assert map_rollups.single(filtres) is not None
            for niveau in map_store.NIVEAUX:
                rolled = map_store.cells(conn, niveau, filtres)
                assert rolled == map_store.cells(conn, niveau, filtres, pub=published), (name, niveau)
                answers[name, niveau] = rolled
    return answers


def test_a_map_filtered_by_one_kind_reads_the_rollup_per_value_and_equals_the_counts(world):
    """The per-value roll-up (``map_rollups``) gives the counts' answer for every filter kind and level
    after deposits, a validation, a sensitivity recomputation and a JDD withdrawn from publication;
    while stale, the map answers from the counts: the withdrawn JDD never shows."""
    _refresh(force=True)
    answers = _assert_rollup_equals_counts(world)
    # the one JDD's map equals an independent computation from the generated rows (taxa included)
    assert {
        c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"]) for c in answers["JDD", "maille"]
    } == _expected_mailles(world, {"a1"})
    assert answers["JDD privé", "maille"] == [] and answers["JDD privé", "departement"] == []
    assert answers["JDD privé dans le département", "maille"] == []
    dep = _one_kind_filters(world)["dep"].dep
    for name in ("groupe", "dep", "période", "validation", "producteur"):
        assert answers[name, "maille"] and answers[name, "departement"], name
        # the same kind in one département: its observations only, a single cell per département
        in_dep = (
            answers[f"{name} dans le département", "departement"] if name != "dep" else answers[name, "departement"]
        )
        assert [c["code"] for c in in_dep] == [dep], name
    in_dep = {
        c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"])
        for c in answers["JDD dans le département", "maille"]
    }
    assert in_dep == _expected_mailles(world, {"a1"}, dep=dep)
    # a maille on the département's border counts there only what was observed in it
    with model.meta.engine.connect() as conn:
        border = (
            conn.execute(
                sa.text(
                    "SELECT maille FROM sinp_carte_agg WHERE maille <> '' GROUP BY maille HAVING count(DISTINCT dep) > 1"
                )
            )
            .scalars()
            .all()
        )
    assert border, "the generated set has no maille in two départements"
    whole = {c["code"]: c["nb_obs"] for c in answers["JDD", "maille"]}
    assert any(in_dep[m][0] < whole[m] for m in border if m in in_dep)
    # a cell's taxa are not the sum of the years': the period's taxa are fewer than the years' added
    with model.meta.engine.connect() as conn:
        years = conn.execute(
            sa.text(
                "SELECT sum(bit_count(taxa)) FROM sinp_carte_public_dim WHERE niveau = 'departement' AND dim = 'annee'"
            )
        ).scalar()
    assert sum(c["nb_taxons"] for c in answers["période", "departement"]) < years

    # a validation and a sensitivity recomputation (UPDATEs of the occurrences), then the refresh
    with model.meta.engine.begin() as conn:
        assert conn.execute(
            sa.text("UPDATE sinp_occurrence SET niv_val = '2' WHERE niv_val = '0' AND dep = '21'")
        ).rowcount
        assert conn.execute(
            sa.text("UPDATE sinp_occurrence SET public_layer = 3 WHERE public_layer = 0 AND dep = '39'")
        ).rowcount
    _refresh()
    after = _assert_rollup_equals_counts(world)
    assert after["validation", "departement"] != answers["validation", "departement"]

    # a JDD withdrawn from publication: stale at once, answered from the counts without it
    a1 = world["jdds"]["a1"]
    world["api"].ok("package_patch", id=a1["id"], private=True)
    by_jdd, by_producer = map_store.Filtres(jdd=a1["id"]), map_store.Filtres(producteur=a1["owner_org"])
    with model.meta.engine.connect() as conn:
        assert not map_store.is_fresh(conn)
        for niveau in map_store.NIVEAUX:
            assert map_store.cells(conn, niveau, by_jdd) == []
        stale = map_store.cells(conn, "maille", by_producer)
        # the producer's other JDD only
        assert stale and stale == map_store.cells(conn, "maille", map_store.Filtres(jdd=world["jdds"]["a2"]["id"]))
    _refresh()
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
        assert not conn.execute(
            sa.text("SELECT count(*) FROM sinp_carte_public_dim WHERE dim = 'jdd' AND val = :p"), {"p": a1["id"]}
        ).scalar()
        for niveau in map_store.NIVEAUX:
            assert map_store.cells(conn, niveau, by_jdd) == []
        assert map_store.cells(conn, "maille", by_producer) == stale
    _assert_rollup_equals_counts(world)


def test_init_db_makes_the_rollup_per_value_of_an_earlier_layout_again_and_keeps_the_counts(world):
    """A database whose roll-up per filter value predates the département of its rows (stop 35): the
    next ``init-db`` (``ensure_tables``) makes that table again from the counts — the counts themselves
    kept, not recounted — and the map server's views and grants come back with it."""
    from ckanext.sinp import settings

    _refresh(force=True)
    filtres = _one_kind_filters(world)
    with model.meta.engine.connect() as conn:
        before = {name: map_store.cells(conn, "maille", f) for name, f in filtres.items()}
        counted_at = conn.execute(sa.text("SELECT max(xmin::text::bigint) FROM sinp_carte_agg")).scalar()
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sinp_carte_public_dim DROP COLUMN dep"))
        assert conn.execute(sa.text(map_rollups.OUTDATED_SQL)).scalar()
    map_store.ensure_tables(model.meta.engine, settings.flux_reader_role())
    with model.meta.engine.connect() as conn:
        assert not conn.execute(sa.text(map_rollups.OUTDATED_SQL)).scalar()
        assert map_store.is_fresh(conn)
        assert {name: map_store.cells(conn, "maille", f) for name, f in filtres.items()} == before
        # the counts were not written again; the map server's role reads its views again
        assert conn.execute(sa.text("SELECT max(xmin::text::bigint) FROM sinp_carte_agg")).scalar() == counted_at
        for view in map_store.FLUX_VIEWS:
            assert conn.execute(
                sa.text("SELECT has_table_privilege(:r, :v, 'SELECT')"),
                {"r": settings.flux_reader_role(), "v": f"{map_store.FLUX_SCHEMA}.{view}"},
            ).scalar(), view
    # a second run changes nothing
    map_store.ensure_tables(model.meta.engine, settings.flux_reader_role())


def test_an_upgrade_whose_refresh_fails_leaves_the_map_exact_from_the_counts_until_the_scheduler_refreshes(
    world, monkeypatch
):
    """``init-db`` fills the remade roll-up per filter value after the schema's transaction (deposits do
    not wait minutes for it): if that refresh fails, the new layout is committed with a pending change that
    names no JDD, so every map answers exactly from the counts and says so; the scheduler's refresh then
    fills the roll-up."""
    from ckanext.sinp import settings

    _refresh(force=True)
    filtres = {**_one_kind_filters(world), "sans filtre": map_store.Filtres()}
    published = _published()
    with model.meta.engine.connect() as conn:
        before = {name: map_store.cells(conn, "maille", f) for name, f in filtres.items()}
    with model.meta.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sinp_carte_public_dim DROP COLUMN dep"))

    def interrupted(conn, force=False):
        raise RuntimeError("rafraîchissement interrompu")

    monkeypatch.setattr(map_store, "refresh_public", interrupted)
    with pytest.raises(RuntimeError, match="interrompu"):
        map_store.ensure_tables(model.meta.engine, settings.flux_reader_role())
    monkeypatch.undo()
    with model.meta.engine.connect() as conn:
        assert not conn.execute(sa.text(map_rollups.OUTDATED_SQL)).scalar()  # the new layout is committed
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_carte_public_dim")).scalar() == 0
        state = map_store.rollup_state(conn)
        assert state.pending and not state.serves() and state.serves_without() is None
        for name, f in filtres.items():
            answer = map_store.cells(conn, "maille", f, state=state)
            assert answer == before[name] == map_store.cells(conn, "maille", f, pub=published), name
            assert map_store.freshness(conn, f, state=state)["a_jour"] is True, name
    assert map_store.refresh_if_stale(model.meta.engine) is not None
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_carte_public_dim")).scalar() > 0
        assert {name: map_store.cells(conn, "maille", f) for name, f in filtres.items()} == before
