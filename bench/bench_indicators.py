"""Time of indicators_store.compute on N synthetic public occurrences, in a scratch PostGIS database.

    var/venv/ckan/bin/python bench/bench_indicators.py --rows 1000000

Rows are generated set-wise in SQL (generate_series) with realistic spreads: 194 species of the
TAXREF extract (10 groups), 8 départements, 549 mailles 10 km, years 2000–2025, 1–2 observers of
400, 5 % sensitive, 12 % blurred, 4 % hidden, 3 public JDD of 2 producers + 1 private; then
``compute('courante')`` and ``compute('2024')`` are timed (each one transaction).

Peer, same rows, same run: one ``GROUP BY CUBE (year, département, group)`` of ``count(*)`` over the
public rows — the cheapest single aggregate PostgreSQL can make of them — so that the figure of
``compute`` (17 indicators, distinct counts, medians, EEE fronts) reads against what one pass costs.
"""

from __future__ import annotations

import argparse
import json
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    url = scratch_database(DB)
    engine = sa.create_engine(url)
    out = {"rows": args.rows}
    try:
        from ckanext.sinp.occurrences import aggregates, indicators_store, store
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
                   (d + ((hashint % 900) || ' days')::interval)::timestamptz, 'Pr'
              FROM generate_series(1, :n) AS i, sp, m,
                   LATERAL (SELECT abs(hashtext(i::text)) AS hashint, random() AS r, random() AS r2) AS h,
                   LATERAL (SELECT 1 + (abs(hashtext('t' || i)) % array_length(sp.a, 1)) AS k,
                                   make_date(2000 + (abs(hashtext('y' || i)) % 26), 1, 1)
                                   + (abs(hashtext('d' || i)) % 365) AS d) AS x"""),
                {"n": args.rows},
            )
            conn.execute(text("UPDATE sinp_occurrence SET created_at = LEAST(created_at, now())"))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE sinp_occurrence"))
        out["generate_s"] = round(time.perf_counter() - t, 1)
        pub = ["jdd-0", "jdd-1", "jdd-2"]
        t = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT extract(year FROM date_debut), dep, groupe, count(*) FROM sinp_occurrence "
                    "WHERE package_id = ANY(:pub) AND public_layer < 4 GROUP BY CUBE (1, 2, 3)"
                ),
                {"pub": pub},
            ).all()
        out["peer_one_cube_s"] = round(time.perf_counter() - t, 2)
        print("peer: one GROUP BY CUBE of count(*)", out["peer_one_cube_s"], "s", flush=True)
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
        for edition in ("courante", "2024"):
            steps = []
            last = [time.perf_counter()]

            def progress(name, done, total, steps=steps, last=last):
                now = time.perf_counter()
                steps.append((name, round(now - last[0], 2)))
                last[0] = now

            t = time.perf_counter()
            res = indicators_store.compute(engine, edition, pub, meta, 5, progress)
            out[edition] = {"seconds": round(time.perf_counter() - t, 2), "values": res["rows"], "steps": steps}
            print(edition, out[edition], flush=True)
        t = time.perf_counter()
        with engine.connect() as conn:
            indicators_store.fingerprint(conn, pub, meta)
        out["fingerprint_s"] = round(time.perf_counter() - t, 3)
    finally:
        engine.dispose()
        if not args.keep:
            drop_scratch_database(DB)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
