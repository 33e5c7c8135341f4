"""Time of indicators_store.compute on N synthetic public occurrences, in a scratch PostGIS database.

    var/venv/ckan/bin/python bench/bench_indicators.py --rows 1000000
    var/venv/ckan/bin/python bench/bench_indicators.py --rows 10000000 --keep            # generate once
    var/venv/ckan/bin/python bench/bench_indicators.py --rows 10000000 --reuse --keep --runs 2 --editions courante

Rows are generated set-wise in SQL (generate_series) with realistic spreads: 194 species of the
TAXREF extract (10 groups), 8 départements, 549 mailles 10 km, years 2000–2025, 1–2 observers of
400, 5 % sensitive, 12 % blurred, 4 % hidden, 3 public JDD of 2 producers + 1 private; then
``compute('courante')`` and ``compute('2024')`` are timed (each one transaction). ``--reuse`` keeps
the scratch database ``sinp_bench_ind`` and its rows when it already holds ``--rows`` rows (10 M rows
take half an hour to generate); ``--keep`` leaves it at the end. The machine's load average is noted
with every figure (the benches share 2 cores with other work).

Peer, same rows, same run: one ``GROUP BY CUBE (year, département, group)`` of ``count(*)`` over the
public rows — the cheapest single aggregate PostgreSQL can make of them — so that the figure of
``compute`` (17 indicators, distinct counts, medians, EEE fronts) reads against what one pass costs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ckanext-sinp"))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from _ckan import drop_scratch_database, scratch_database  # noqa: E402
from sqlalchemy import text  # noqa: E402

DB = "sinp_bench_ind"
PUBLIC = ["jdd-0", "jdd-1", "jdd-2"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the scratch database and its rows at the end")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the scratch database when it already holds --rows rows (generate once, measure many times)",
    )
    ap.add_argument("--runs", type=int, default=1, help="computations of each edition, one after the other")
    ap.add_argument("--editions", default="courante,2024", help="editions computed, comma-separated")
    args = ap.parse_args()
    out = {"rows": args.rows}
    engine = _reused(args.rows) if args.reuse else None
    try:
        if engine is None:
            engine = sa.create_engine(scratch_database(DB))
            out["generate_s"] = _generate(engine, args.rows)
            print("generated", args.rows, "rows in", out["generate_s"], "s", flush=True)
        else:
            out["reused"] = True
        _measure(engine, out, args)
    finally:
        if engine is not None:
            engine.dispose()
        if not args.keep:
            drop_scratch_database(DB)
    print(json.dumps(out, ensure_ascii=False))


def _reused(rows: int):
    """An engine on the kept scratch database when it holds exactly ``rows`` occurrences, else None."""
    engine = sa.create_engine(f"postgresql://{DB}:{DB}@127.0.0.1:{os.environ.get('PGPORT', '5432')}/{DB}")
    try:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM sinp_occurrence")).scalar()
    except sa.exc.SQLAlchemyError:
        n = None
    if n == rows:
        return engine
    engine.dispose()
    return None


def _load() -> str:
    """The machine's load average (1, 5, 15 min), noted with every figure."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _generate(engine, rows: int) -> float:
    """The rows, generated set-wise. The user triggers of ``sinp_occurrence`` (map aggregates, page
    cache, generation counter) are disabled during the INSERT and re-enabled after: the computation
    reads nothing they maintain (only the fingerprint reads the generation counter, and it is still
    read; it just did not move during the generation)."""
    from ckanext.sinp.occurrences import aggregates, store
    from ckanext.sinp.referentials import geo_store, taxref_store

    ref = f"{ROOT}/schemas/referentiels"
    store.ensure_tables(engine)
    aggregates.ensure_tables(engine)
    taxref_store.ensure_tables(engine)
    taxref_store.load_taxref(engine, f"{ref}/taxref/TAXREFv18_extrait_BFC.txt", "bench")
    geo_store.ensure_tables(engine)
    geo_store.load_mailles(engine, f"{ref}/mailles/mailles10km_bfc.csv")
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("ALTER TABLE sinp_occurrence DISABLE TRIGGER USER"))
        conn.execute(
            text("""
        WITH sp AS (SELECT array_agg(cd_nom ORDER BY cd_nom) AS a, array_agg(group2_inpn ORDER BY cd_nom) AS g
                      FROM sinp_taxref WHERE rang = 'ES' AND cd_nom = cd_ref),
             m AS (SELECT array_agg(cd_sig ORDER BY cd_sig) AS a FROM sinp_maille10)
        INSERT INTO sinp_occurrence (resource_id, package_id, owner_org, id_sinp_occtax, cd_nom, cd_ref, groupe,
                                     date_debut, date_fin, observateur, dep, maille_calc, public_layer, sensi_niveau,
                                     niv_val, precision_geometrie, geom, created_at, statut_observation)
        SELECT 'res-' || (i % 4), 'jdd-' || (i % 4), 'org-' || (i % 2), md5(i::text), sp.a[k], sp.a[k], sp.g[k],
               d, d, 'OBSERVATEUR ' || (hashint % 400) || CASE WHEN i % 5 = 0 THEN ', AUTRE ' || (i % 37) ELSE '' END,
               (ARRAY['21','25','39','58','70','71','89','90'])[1 + (hashint % 8)],
               m.a[1 + (hashint / 8) % 549],
               CASE WHEN r < 0.84 THEN 0 WHEN r < 0.90 THEN 1 WHEN r < 0.94 THEN 2 WHEN r < 0.96 THEN 3 ELSE 4 END,
               CASE WHEN r2 < 0.05 THEN '2' ELSE '0' END,
               (ARRAY['0','0','0','1','1','2','2','3','4','5'])[1 + (hashint % 10)],
               (ARRAY[10, 50, 100, 500, 2000])[1 + (hashint % 5)],
               ST_SetSRID(ST_MakePoint(4 + r, 47 + r2), 4326),
               LEAST((d + ((hashint % 900) || ' days')::interval)::timestamptz, now()), 'Pr'
          FROM generate_series(1, :n) AS i, sp, m,
               LATERAL (SELECT abs(hashtext(i::text)) AS hashint, random() AS r, random() AS r2) AS h,
               LATERAL (SELECT 1 + (abs(hashtext('t' || i)) % array_length(sp.a, 1)) AS k,
                               make_date(2000 + (abs(hashtext('y' || i)) % 26), 1, 1)
                               + (abs(hashtext('d' || i)) % 365) AS d) AS x"""),
            {"n": rows},
        )
        conn.execute(text("ALTER TABLE sinp_occurrence ENABLE TRIGGER USER"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE sinp_occurrence"))
    return round(time.perf_counter() - t, 1)


def _measure(engine, out: dict, args) -> None:
    from ckanext.sinp.occurrences import indicators_store

    meta = [
        {
            "id": f"jdd-{i}",
            "type": "jdd",
            "owner_org": f"org-{i % 2}",
            "organisation": f"Org {i % 2}",
            "objectifs": [("1", "x")],
            "created": "2020-01-01T00:00:00",
            "modified": "2024-01-01",
            "completude": 0.7,
        }
        for i in range(3)
    ]
    for run in range(1, args.runs + 1):
        load = _load()
        t = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT extract(year FROM date_debut), dep, groupe, count(*) FROM sinp_occurrence "
                    "WHERE package_id = ANY(:pub) AND public_layer < 4 GROUP BY CUBE (1, 2, 3)"
                ),
                {"pub": PUBLIC},
            ).all()
        peer = {"seconds": round(time.perf_counter() - t, 2), "load_before": load}
        out.setdefault("peer_one_cube", []).append(peer)
        print(f"run {run} peer: one GROUP BY CUBE of count(*)", peer, flush=True)
        for edition in args.editions.split(","):
            steps = []
            last = [time.perf_counter()]

            def progress(name, done, total, steps=steps, last=last):
                now = time.perf_counter()
                steps.append((name, round(now - last[0], 2)))
                last[0] = now

            load = _load()
            t = time.perf_counter()
            res = indicators_store.compute(engine, edition, PUBLIC, meta, 5, progress)
            figure = {
                "seconds": round(time.perf_counter() - t, 2),
                "values": res["rows"],
                "steps": steps,
                "load_before": load,
                "load_after": _load(),
            }
            out.setdefault(edition, []).append(figure)
            print(f"run {run}", edition, figure, flush=True)
            if edition != indicators_store.LIVE:  # a year edition is frozen once written: unfreeze for the next run
                with engine.begin() as conn:
                    conn.execute(text("DELETE FROM sinp_indicator_edition WHERE edition = :e"), {"e": edition})
    t = time.perf_counter()
    with engine.connect() as conn:
        indicators_store.fingerprint(conn, PUBLIC, meta)
    out["fingerprint_s"] = round(time.perf_counter() - t, 3)


if __name__ == "__main__":
    main()
