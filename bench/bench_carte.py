"""The géo-visualiseur's data calls (``map_store``, #16) with N occurrences behind them, against a scan of
the occurrences (what a map without precomputed counts does), in a scratch PostGIS database.

    var/venv/ckan/bin/python bench/bench_carte.py --rows 10000000 [--repeat 30]

N observations are generated set-wise in SQL with the skews of real SINP data: 300 JDD (sizes
heavy-tailed, 10 % private), 6 000 taxa (``--taxa``) in 20 groups (a few very common, most rare), 549 mailles
10 km of the region (some prospected much more), ~7 communes per maille, 8 départements, years
1980–2025 (most recent), 5 % sensitive, diffusion layers as the platform gives them (84 % precise,
4 % not diffused). They go into a narrow table with the columns the counts read, the counts
(``sinp_carte_agg``, ``sinp_carte_mois``, ``sinp_carte_precis``) are computed from it with the triggers'
own SQL (``map_store.count_statements``), then the public roll-ups (``refresh_public``).

Each call is timed ``--repeat`` times (p50, p95, max), through ``map_store`` as the actions call it:
the unfiltered map (roll-up), the same from the counts (a stale roll-up), filters by taxon (common
and rare), group, département, period, validation level, JDD; the commune level; a cell's taxa; a
taxon's sheet; the precise view (``vue=precise``) of a producer, a chef de file and a sysadmin; then
with a change waiting for the refresh: a deposit (the roll-ups keep answering) and a withdrawal (the
counts answer).
Peer, same rows, same run: the unfiltered map and the taxon filter computed by a ``GROUP BY`` over
the occurrences (published JDD, diffusion respected), as the JDD page's live map does.

Writes the section "carte" of BENCHMARKS.md (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ckanext-sinp"))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from _ckan import drop_scratch_database, machine, scratch_database, write_section  # noqa: E402
from sqlalchemy import text  # noqa: E402

DB = "sinp_bench_carte"
GOAL_MS = 200


def _mailles() -> list[str]:
    path = ROOT / "schemas" / "referentiels" / "mailles" / "mailles10km_bfc.csv"
    return [line.split(";")[0] for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]


def _setup(engine, rows: int, taxa: int = 6000) -> dict:
    """Generates the occurrences and counts them (the figures kept in ``bench_setup`` for ``--reuse``)."""
    from ckanext.sinp.occurrences import map_store

    mailles = _mailles()
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        conn.execute(
            text(
                "CREATE TABLE package (id text PRIMARY KEY, name text, title text, owner_org text, type text, "
                "state text, private boolean)"
            )
        )
        conn.execute(text('CREATE TABLE "group" (id text PRIMARY KEY, name text, title text)'))
        conn.execute(
            text(
                "INSERT INTO \"group\" SELECT 'org-' || i, 'org-' || i, 'Producteur ' || i FROM generate_series(0, 39) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO package SELECT 'jdd-' || i, 'jdd-' || i, 'Jeu ' || i, 'org-' || (i % 40), 'jdd', "
                "'active', i % 10 = 9 FROM generate_series(0, 299) i"
            )
        )
        # the columns of sinp_occurrence the counts read (map_store._ROW), nothing else
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE occ (package_id text, owner_org text, public_layer smallint, sensi_niveau text, "
                "niv_val text, maille_calc text, code_commune text, dep text, cd_ref integer, groupe text, "
                "date_debut date)"
            )
        )
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO occ
            SELECT 'jdd-' || j, 'org-' || (j % 40),
                   CASE WHEN r2 < 0.84 THEN 0 WHEN r2 < 0.90 THEN 1 WHEN r2 < 0.94 THEN 2 WHEN r2 < 0.96 THEN 3 ELSE 4 END,
                   CASE WHEN r3 < 0.05 THEN '2' ELSE '0' END,
                   (ARRAY['0','0','0','1','1','2','2','3','4','5'])[1 + floor(10 * r4)::int],
                   (:mailles)[1 + m], (ARRAY['21','25','39','58','70','71','89','90'])[1 + m % 8]
                       || lpad((m * 7 + floor(7 * r5)::int)::text, 3, '0'),
                   (ARRAY['21','25','39','58','70','71','89','90'])[1 + m % 8],
                   100000 + k, 'Groupe ' || (k % 20),
                   make_date(2025 - floor(45 * power(r6, 3))::int, 1, 1) + floor(365 * r4)::int
              FROM (SELECT floor(300 * power(random(), 3))::int AS j, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
                           random() AS r6, floor(:taxa * power(random(), 2))::int AS k,
                           floor(549 * power(random(), 1.5))::int AS m
                      FROM generate_series(1, :n)) AS g"""),
            {"n": rows, "mailles": mailles, "taxa": taxa},
        )
    generated = time.perf_counter() - t
    with engine.begin() as conn:
        for statement in map_store.SCHEMA_SQL + map_store.FLUX_SQL + map_store.LAST_SQL + map_store.PACKAGE_TRIGGER_SQL:
            if "ON sinp_occurrence" in statement:
                continue  # no occurrence table here: the counts are filled from occ below
            conn.execute(text(statement))
    t = time.perf_counter()
    per_table = {}
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        for (table, _, _), statement in zip(map_store.COUNTS, map_store.count_statements("occ"), strict=True):
            started = time.perf_counter()  # the triggers' own statements, each timed
            conn.execute(text(statement))
            per_table[table] = round(time.perf_counter() - started, 1)
    counted = time.perf_counter() - t
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        setup = {"generate_s": round(generated, 1), "count_s": round(counted, 1), "count_per_table_s": per_table}
        conn.execute(text("CREATE TABLE bench_setup (figures jsonb)"))
        conn.execute(text("INSERT INTO bench_setup VALUES (:f)"), {"f": json.dumps(setup)})
    return setup


def _refresh(engine, again: bool = True) -> dict:
    """The public roll-ups computed (again) with the code of this checkout, timed; their sizes. Not
    ``again``: the kept roll-ups (their layout brought up to date)."""
    from ckanext.sinp.occurrences import map_store

    with engine.begin() as conn:
        setup = json.loads(json.dumps(conn.execute(text("SELECT figures FROM bench_setup")).scalar()))
        again = map_store.drop_outdated_rollups(conn) or again
        for statement in map_store.SCHEMA_SQL + map_store.FLUX_SQL + map_store.LAST_SQL + map_store.PACKAGE_TRIGGER_SQL:
            if "ON sinp_occurrence" not in statement:
                conn.execute(text(statement))  # tables a newer layout adds (--reuse)
    with engine.connect() as conn:
        again = again or map_store.rollup_state(conn).computed_at is None  # never computed: computed here
    t = time.perf_counter()
    with engine.begin() as conn:
        written = map_store.refresh_public(conn, force=True) if again else None
    setup["refresh_s"] = round(time.perf_counter() - t, 2) if again else None
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        tables = ("occ", "sinp_carte_agg", "sinp_carte_mois", "sinp_carte_precis", *map_store._ROLLUPS)
        setup["rows"] = {
            name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar()
            for name in tables
            if name in _tables(conn)
        }
        setup["mb"] = {
            name: int(conn.execute(text("SELECT pg_total_relation_size(:t) / 1048576"), {"t": name}).scalar())
            for name in setup["rows"]
        }
        setup["agg_mb"] = setup["mb"]["sinp_carte_agg"]
    setup["written"] = written
    return setup


def _tables(conn) -> set[str]:
    return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())


def _timed(conn, fn, repeat: int) -> dict:
    samples = []
    result = None
    while len(samples) < repeat:
        t = time.perf_counter()
        result = fn(conn)
        samples.append((time.perf_counter() - t) * 1000)
        if samples[0] > 2000:
            repeat = min(repeat, 3)  # a slow call: three runs say enough
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    size = len(result) if isinstance(result, list) else len(result.get("mailles", []))
    return {"p50": statistics.median(samples), "p95": p95, "max": samples[-1], "size": size, "runs": len(samples)}


def _peer(niveau_column: str, where: str = "true", params: dict | None = None):
    sql = f"""SELECT {niveau_column}, count(*), count(DISTINCT cd_ref), max(extract(year FROM date_debut))
                FROM occ WHERE package_id IN (SELECT id FROM package WHERE type = 'jdd' AND state = 'active'
                                              AND NOT private)
                 AND public_layer <= 2 AND {where} GROUP BY 1"""

    def run(conn):
        return conn.execute(text(sql), params or {}).all()

    return run


def main():
    from ckanext.sinp.domain import protection
    from ckanext.sinp.occurrences import map_store, store

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database (for --reuse)")
    ap.add_argument("--reuse", action="store_true", help="the kept database's rows and counts; roll-ups again")
    ap.add_argument("--count-only", action="store_true", help="generate and count, then stop (with --keep)")
    ap.add_argument("--db", default=DB, help="scratch database name")
    ap.add_argument("--taxa", type=int, default=6000, help="number of taxa generated (a regional TAXREF: more)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--pending-only",
        action="store_true",
        help="with --reuse: only the calls with a change pending, on the kept roll-ups (computed if none)",
    )
    ap.add_argument(
        "--only", default="", help="with --reuse: only the calls whose name holds this text, on the kept roll-ups"
    )
    args = ap.parse_args()
    if args.reuse:
        url = f"postgresql://{args.db}:{args.db}@127.0.0.1:{os.environ.get('PGPORT', '5432')}/{args.db}"
    else:
        url = scratch_database(args.db)
    engine = sa.create_engine(url)
    out: dict = {"n": args.rows, "load": [os.getloadavg()[0]]}
    try:
        if not args.reuse:
            print(json.dumps(_setup(engine, args.rows, args.taxa)), flush=True)
            if args.count_only:
                return
        with engine.connect() as conn:
            out["n"] = conn.execute(text("SELECT count(*) FROM occ")).scalar()
        out["setup"] = _refresh(engine, again=not (args.pending_only or args.only))
        with engine.connect() as conn:
            out["taxa"] = conn.execute(text("SELECT count(*) FROM sinp_carte_public_taxa")).scalar()
        print(json.dumps(out["setup"]), flush=True)
        with engine.connect() as conn:
            pub = [r[0] for r in conn.execute(text(map_store.PUBLISHED_JDD_SQL))]
            common = conn.execute(text("SELECT cd_ref FROM occ GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
            rare = conn.execute(text("SELECT cd_ref FROM occ GROUP BY 1 ORDER BY count(*), 1 LIMIT 1")).scalar()
            densest, commune = (
                conn.execute(
                    text("SELECT code FROM sinp_carte_public WHERE niveau = :n ORDER BY nb_obs DESC LIMIT 1"), {"n": n}
                ).scalar()
                for n in ("maille", "commune")
            )
        F = map_store.Filtres
        # the precise view (vue=precise): a producer (owner of the biggest JDD), a chef de file, a sysadmin
        producer = store.Access(orgs=["org-0"], public_package_ids=pub)
        scope = protection.Scope(groupes=["Groupe 3"], departements=["25"])
        with engine.connect() as conn:
            active = [r[0] for r in conn.execute(text(map_store.ACTIVE_JDD_SQL))]
        chef = store.Access(scopes=[scope], public_package_ids=pub, scope_package_ids=active)
        admin = store.Access(full=True)
        calls = [
            ("carte sans filtre (agrégat public)", lambda c: map_store.cells(c, "maille")),
            ("carte sans filtre, depuis les comptes", lambda c: map_store.cells(c, "maille", F(), pub)),
            ("taxon très observé", lambda c: map_store.cells(c, "maille", F(cd_refs=[common]))),
            ("taxon rare", lambda c: map_store.cells(c, "maille", F(cd_refs=[rare]))),
            ("groupe", lambda c: map_store.cells(c, "maille", F(groupe="Groupe 3"))),
            ("département", lambda c: map_store.cells(c, "maille", F(dep="25"))),
            ("période 2015–2025", lambda c: map_store.cells(c, "maille", F(annee_min=2015, annee_max=2025))),
            ("validation certaine ou probable", lambda c: map_store.cells(c, "maille", F(niv_val=["1", "2"]))),
            ("un JDD (le plus gros)", lambda c: map_store.cells(c, "maille", F(jdd="jdd-0"))),
            ("un producteur (celui du plus gros JDD)", lambda c: map_store.cells(c, "maille", F(producteur="org-0"))),
            *(
                (f"{label}, par {niveau}", lambda c, niveau=niveau, f=f: map_store.cells(c, niveau, f))
                for niveau in ("commune", "departement")
                for label, f in (
                    ("groupe", F(groupe="Groupe 3")),
                    ("département", F(dep="25")),
                    ("période 2015–2025", F(annee_min=2015, annee_max=2025)),
                    ("validation certaine ou probable", F(niv_val=["1", "2"])),
                    ("un JDD (le plus gros)", F(jdd="jdd-0")),
                    ("un producteur", F(producteur="org-0")),
                )
            ),
            *(
                (
                    f"{label} dans un département, par {niveau}",
                    lambda c, niveau=niveau, f=f: map_store.cells(c, niveau, f),
                )
                for niveau in ("maille", "commune")
                for label, f in (
                    ("groupe", F(groupe="Groupe 3", dep="25")),
                    ("période 2015–2025", F(annee_min=2015, annee_max=2025, dep="25")),
                    ("un JDD (le plus gros)", F(jdd="jdd-0", dep="25")),
                )
            ),
            (
                "groupe dans un département, depuis les comptes (le chemin d'avant)",
                lambda c: map_store.cells(c, "maille", F(groupe="Groupe 3", dep="25"), pub),
            ),
            (
                "groupe et période (deux filtres : les comptes)",
                lambda c: map_store.cells(c, "maille", F(groupe="Groupe 3", annee_min=2015, annee_max=2025)),
            ),
            (
                "taxon très observé et période (les comptes)",
                lambda c: map_store.cells(c, "maille", F(cd_refs=[common], annee_min=2015, annee_max=2025)),
            ),
            ("par commune, depuis les comptes", lambda c: map_store.cells(c, "commune", F(), pub)),
            ("taxons d'une maille (la plus dense)", lambda c: map_store.cell_taxa(c, "maille", densest)),
            (
                "taxons de la maille la plus dense, filtrés par un groupe (les comptes)",
                lambda c: map_store.cell_taxa(c, "maille", densest, F(groupe="Groupe 3")),
            ),
            (
                "taxons de la commune la plus dense, filtrés par un groupe (les comptes)",
                lambda c: map_store.cell_taxa(c, "commune", commune, F(groupe="Groupe 3")),
            ),
            (
                "taxons d'un département, filtrés par un groupe (les comptes)",
                lambda c: map_store.cell_taxa(c, "departement", "25", F(groupe="Groupe 3")),
            ),
            ("fiche d'un taxon très observé", lambda c: map_store.taxon_summary(c, [common])),
            ("vue précise : un producteur, sans filtre", lambda c: map_store.cells(c, "maille", F(), None, producer)),
            ("vue précise : un chef de file, sans filtre", lambda c: map_store.cells(c, "maille", F(), None, chef)),
            ("vue précise : un administrateur, sans filtre", lambda c: map_store.cells(c, "maille", F(), None, admin)),
            (
                "vue précise : un producteur, un taxon très observé",
                lambda c: map_store.cells(c, "maille", F(cd_refs=[common]), None, producer),
            ),
            (
                "vue précise : un producteur, taxons de la maille la plus dense",
                lambda c: map_store.cell_taxa(c, "maille", densest, None, None, producer),
            ),
            ("pair : carte sans filtre par GROUP BY des occurrences", _peer("maille_calc")),
            (
                "pair : taxon très observé par GROUP BY des occurrences",
                _peer("maille_calc", "cd_ref = :c", {"c": common}),
            ),
        ]
        out["calls"] = []
        if args.pending_only:
            calls = []
        calls = [call for call in calls if args.only in call[0]]
        with engine.connect() as conn:
            for name, fn in calls:
                repeat = args.repeat if not name.startswith("pair") else max(3, args.repeat // 10)
                timing = _timed(conn, fn, repeat)
                out["calls"].append([name, timing, timing["runs"]])
                print(name, timing, flush=True)
                out["load"].append(os.getloadavg()[0])

        # a change waiting for the refresh (one row of sinp_carte_changes, committed): a deposit or a
        # publication narrows nothing, the roll-ups keep answering; a withdrawal or a deletion names its JDD,
        # the unfiltered map and the map server read each cell again from the roll-up per JDD without it plus
        # its live counts (none once withdrawn); a recount names none: the counts
        def flux(view: str):
            def fn(c):
                c.execute(text("SELECT set_config('jit', 'off', true)"))  # as the map server's connections
                return c.execute(text(f"SELECT gid, nb_obs, nb_taxons FROM sinp_flux.{view}")).all()

            return fn

        # (packages marked, the biggest JDD withdrawn meanwhile, name, call)
        deposit, big, recount = "'{}'", "'{jdd-0}'", "NULL"
        after = {
            "withdrawn": "après le retrait du plus gros JDD, recalcul en attente",
            "partial": "après la suppression d'observations du plus gros JDD (encore publié), recalcul en attente",
        }
        pending = [
            (
                deposit,
                False,
                "après un dépôt, recalcul en attente : carte sans filtre",
                lambda c: map_store.cells(c, "maille"),
            ),
            (
                deposit,
                False,
                "après un dépôt, recalcul en attente : groupe",
                lambda c: map_store.cells(c, "maille", F(groupe="Groupe 3")),
            ),
            (
                deposit,
                False,
                "après un dépôt, recalcul en attente : taxon très observé",
                lambda c: map_store.cells(c, "maille", F(cd_refs=[common])),
            ),
            (
                deposit,
                False,
                "recalcul en attente sans retrait : serveur cartographique, mailles",
                flux("observations_maille"),
            ),
        ]
        for kind, withdrawn in (("withdrawn", True), ("partial", False)):
            pending += [
                (big, withdrawn, f"{after[kind]} : carte sans filtre", lambda c: map_store.cells(c, "maille")),
                (big, withdrawn, f"{after[kind]} : par commune", lambda c: map_store.cells(c, "commune")),
                (big, withdrawn, f"{after[kind]} : serveur cartographique, mailles", flux("observations_maille")),
            ]
        pending += [
            (
                big,
                True,
                f"{after['withdrawn']} : un autre JDD",
                lambda c: map_store.cells(c, "maille", F(jdd="jdd-1")),
            ),
            (
                big,
                True,
                f"{after['withdrawn']} : groupe (les comptes)",
                lambda c: map_store.cells(c, "maille", F(groupe="Groupe 3")),
            ),
            (
                recount,
                False,
                "après un recomptage, recalcul en attente : carte sans filtre (les comptes)",
                lambda c: map_store.cells(c, "maille"),
            ),
        ]
        for packages, withdrawn, name, fn in (p for p in pending if args.only in p[2]):
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM sinp_carte_changes"))
                conn.execute(text(f"INSERT INTO sinp_carte_changes (txid, packages) VALUES (1, {packages})"))
                conn.execute(text("UPDATE package SET private = :w WHERE id = 'jdd-0'"), {"w": withdrawn})
            with engine.connect() as conn:
                state = map_store.rollup_state(conn)
                assert state.serves() is (packages == deposit)
                slow = packages == recount or "(les comptes)" in name
                timing = _timed(conn, fn, args.repeat if not slow else max(3, args.repeat // 10))
            out["calls"].append([name, timing, timing["runs"]])
            print(name, timing, flush=True)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM sinp_carte_changes"))
            conn.execute(text("UPDATE package SET private = false WHERE id = 'jdd-0'"))
    finally:
        engine.dispose()
        if not args.keep and not args.reuse:  # a kept database stays until dropped by hand
            drop_scratch_database(args.db)
    (ROOT / "var" / f"bench_carte_{out['n']}.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    body = render(out)
    print(body)
    if not args.no_write:
        write_section("carte", body)


def render(out: dict) -> str:
    s = out["setup"]
    lines = [
        "## The géo-visualiseur's data calls (`bench/bench_carte.py`, #16)",
        "",
        f"Machine: {machine()}. {out['n']:,} generated occurrences (300 JDD, 10 % private; {out['taxa']:,} public taxa numbered; 549 mailles; "
        f"years 1980–2025; 4 % not diffused): generated in {s['generate_s']} s, counted into `sinp_carte_agg` "
        f"({s['rows']['sinp_carte_agg']:,} rows, {s['agg_mb']} MB) and `sinp_carte_mois` "
        f"({s['rows']['sinp_carte_mois']:,} rows), `sinp_carte_precis` ({s['rows']['sinp_carte_precis']:,} rows) "
        f"in {s['count_s']} s ({', '.join(f'{k} {v} s' for k, v in s['count_per_table_s'].items())}); public roll-ups (`refresh_public`, "
        f"{s['rows']['sinp_carte_public']:,} cells; per filter value `sinp_carte_public_dim` "
        f"{s['rows']['sinp_carte_public_dim']:,} rows, {s['mb']['sinp_carte_public_dim']} MB) in {s['refresh_s']} s. "
        f"Load average during the calls: {min(out['load']):.1f}–{max(out['load']):.1f}.",
        "",
        "| call | runs | p50 | p95 | max | cells/rows |",
        "|---|---|---|---|---|---|",
    ]
    for name, t, repeat in out["calls"]:
        lines.append(
            f"| {name} | {repeat} | {t['p50']:.1f} ms | {t['p95']:.1f} ms | {t['max']:.1f} ms | {t['size']:,} |"
        )
    ours = [t["p95"] for name, t, _ in out["calls"] if not name.startswith("pair")]
    met = sum(1 for p in ours if p <= GOAL_MS)
    lines += ["", f"Goal p95 ≤ {GOAL_MS} ms: {met} of {len(ours)} calls."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
