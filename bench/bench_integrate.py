"""Integration of accepted occurrences into PostGIS (``store.integrate``), against a bare COPY.

One run, on the same accepted rows (``occtax_data.py`` generated, checked by ``engine.run``,
written by ``write_accepted_csv`` as a deposit does), in a scratch PostGIS database
(``sinp_bench_integ``, dropped at the end) holding what production integrates with: TAXREF
extract, sensitivity referential, territory outline, the summary triggers of ``aggregates``:

1. ours: ``store.integrate`` with the default automatic pre-validation criteria (one transaction:
   COPY into a temporary table, then one INSERT … SELECT adding what protection computes into
   ``sinp_occurrence`` and its indexes);
2. ``--replace``: the same deposit integrated again (its rows deleted, then written again);
   ``--baseline REV``: the code of that git revision integrates the same rows (each first integration
   into an emptied store, ours run again after it);
3. peer: a bare ``COPY`` of the same file into a table with the same columns and indexes
   (``LIKE sinp_occurrence INCLUDING ALL``), no protection, one transaction;
4. ``--profile``: where the time goes, phase by phase, in a transaction rolled back: COPY into the
   temporary table, the protection SELECT written into a table without index, each index of the
   store built by sort on those rows, ANALYZE (what a freshly built partition would cost).

    var/venv/ckan/bin/python bench/bench_integrate.py [--rows 1000000] [--accepted FILE] [--profile] [--replace]

Writes the section "integ" of BENCHMARKS.md. Run as root (creates the scratch database through
``su postgres``); never touches the project's databases.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from _ckan import ROOT, drop_scratch_database, machine, scratch_database, write_section

sys.path.insert(0, str(ROOT / "bench"))
import occtax_data  # noqa: E402

CKAN_PY = ROOT / "var" / "venv" / "ckan" / "bin" / "python"
DB = "sinp_bench_integ"

QC = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.domain.occtax import engine
from ckanext.sinp.referentials import geo_store
refs = engine.Referentials.from_dict(geo_store.referentials_from_files(schemas_dir()))
with engine.run(sys.argv[1], refs, engine.Options(memory_limit="1GB", max_bytes=None)) as result:
    result.write_accepted_csv(sys.argv[2], {"resource_id": "bench", "package_id": "bench-package",
                                            "owner_org": "bench-org"})
    result.write_errors_store_csv(sys.argv[2] + ".errors", "bench")
    print(json.dumps({"accepted": result.summary["rows_accepted"]}))
"""

INTEGRATE = r"""
import csv, json, pathlib, sys, time
sys.path.insert(0, sys.argv[4])
import sqlalchemy as sa
from sqlalchemy import text
from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import aggregates, protection_store, store
from ckanext.sinp.referentials import geo_store, taxref_store
try:
    from ckanext.sinp.occurrences import map_store
except ImportError:  # a baseline older than the map counts (#16)
    map_store = None

engine = sa.create_engine(sys.argv[1])
accepted, errors, mode = sys.argv[2], sys.argv[3], sys.argv[5]
ref = pathlib.Path(sys.argv[4]).parent / "schemas" / "referentiels"
out = {}


def loadavg():
    return open("/proc/loadavg").read().split()[0]


if mode == "setup":
    store.ensure_tables(engine)
    aggregates.ensure_tables(engine)
    if map_store is not None:
        map_store.ensure_tables(engine)
    taxref_store.ensure_tables(engine)
    taxref_store.load_taxref(engine, str(ref / "taxref" / "TAXREFv18_extrait_BFC.txt"), "bench")
    rules = protection.read_rules((ref / "sensibilite" / "sensibilite_bfc.csv").read_bytes())
    protection_store.load_rules(engine, rules, "bench", "sensibilite_bfc.csv", "bench")
    geo_store.ensure_tables(engine)
    geo_store.load_territory(engine, ref / "territoire" / "bourgogne-franche-comte.geojson")
    with engine.begin() as conn:
        store.queue_deposit(conn, "bench", "bench-package", owner_org="bench-org")
elif mode == "reset":
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE sinp_occurrence, sinp_qc_error, sinp_validation"))
elif mode in ("ours", "ours-nomap"):
    if mode == "ours-nomap":  # the cost of the map counts' triggers (#16): the same without them
        with engine.begin() as conn:
            for event in ("insert", "update", "delete", "truncate"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS sinp_carte_{event} ON sinp_occurrence"))
    out["load_before"] = loadavg()
    t = time.perf_counter()
    n = store.integrate(engine, "bench", accepted, errors, {"status": "done"},
                        protection.DEFAULT_AUTO_CRITERIA, protection.DEFAULT_AUTO_LEVEL)
    out["seconds"], out["rows"], out["load_after"] = time.perf_counter() - t, n, loadavg()
    with engine.connect() as conn:
        out["layers"] = {str(k): v for k, v in conn.execute(
            text("SELECT public_layer, count(*) FROM sinp_occurrence GROUP BY 1 ORDER BY 1")).all()}
        out["sensitive"] = conn.execute(text("SELECT count(*) FROM sinp_occurrence WHERE sensi_niveau <> '0'")).scalar()
        out["indexes"] = conn.execute(
            text("SELECT count(*) FROM pg_index WHERE indrelid = 'sinp_occurrence'::regclass")).scalar()
elif mode == "peer":
    out["load_before"] = loadavg()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS sinp_bench_peer"))
        conn.execute(text("CREATE TABLE sinp_bench_peer (LIKE sinp_occurrence INCLUDING ALL)"))
    with open(accepted, encoding="utf-8", newline="") as fh:
        header = next(csv.reader(fh))
        fh.seek(0)
        t = time.perf_counter()
        with engine.begin() as conn:
            store._copy(conn, "sinp_bench_peer", header, fh)
        out["seconds"] = time.perf_counter() - t
    out["load_after"] = loadavg()
    with engine.begin() as conn:
        out["rows"] = conn.execute(text("SELECT count(*) FROM sinp_bench_peer")).scalar()
        out["indexes"] = conn.execute(
            text("SELECT count(*) FROM pg_index WHERE indrelid = 'sinp_bench_peer'::regclass")).scalar()
        conn.execute(text("DROP TABLE sinp_bench_peer"))
elif mode == "profile":
    out["load_before"] = loadavg()
    phases = out["phases"] = []

    def timed(name, sql, params=None):
        t = time.perf_counter()
        conn.execute(text(sql), params or {})
        phases.append([name, time.perf_counter() - t])

    with engine.connect() as conn:
        tx = conn.begin()
        for name, value in store.INTEGRATION_SETTINGS.items():
            conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
        conn.execute(text("SELECT set_config('maintenance_work_mem', '256MB', true)"))
        conn.execute(text("CREATE TEMP TABLE sinp_staging (LIKE sinp_occurrence INCLUDING DEFAULTS) ON COMMIT DROP"))
        with open(accepted, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
            fh.seek(0)
            t = time.perf_counter()
            store._copy(conn, "sinp_staging", header, fh)
            phases.append(["COPY into the temporary table", time.perf_counter() - t])
        columns = [r[0] for r in conn.execute(text(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'sinp_occurrence'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum"))]
        timed("the same rows copied into a table without index (no protection)",
              "CREATE TABLE sinp_bench_plain AS SELECT * FROM sinp_staging")
        conn.execute(text("CREATE TABLE sinp_bench_part (LIKE sinp_occurrence INCLUDING DEFAULTS)"))
        params = {}
        carried = tuple(c for c in columns if c not in protection_store._COMPUTED and c != "id")
        sql = protection_store.computed_sql(conn, "sinp_staging", "", protection.DEFAULT_AUTO_CRITERIA, params,
                                            carry=carried)
        exprs = ["c.id" if c == "id" else f"c.{c}" if c in protection_store._COMPUTED
                 else protection_store._VALIDATION_SETS[c].format(o="c").replace("ELSE c.", "ELSE c.src_")
                 if c in protection_store._VALIDATION_SETS else f"c.src_{c}" for c in columns]
        timed("protection SELECT written into a table without index",
              f"INSERT INTO sinp_bench_part ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM ({sql}) c",
              {**params, "auto_level": "2", "auto_comment": "bench"})
        for name, definition in conn.execute(text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'sinp_occurrence'::regclass ORDER BY c.relname")).all():
            on = definition.split(" USING ", 1)[1]
            timed(f"index {name} built by sort", f"CREATE INDEX ON sinp_bench_part USING {on}")
        timed("ANALYZE of those rows", "ANALYZE sinp_bench_part")
        tx.rollback()
    out["load_after"] = loadavg()
print(json.dumps(out))
"""


def run(cmd: list[str], env=None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accepted", help="an accepted-rows CSV already written (skips generation and QC)")
    parser.add_argument("--profile", action="store_true", help="time each phase (rolled back)")
    parser.add_argument("--replace", action="store_true", help="integrate the same deposit a second time")
    parser.add_argument("--baseline", metavar="REV", help="also integrate with the code of this git revision")
    parser.add_argument(
        "--map-counts-cost", action="store_true", help="also integrate without the map counts' triggers (#16), last"
    )
    parser.add_argument("--no-write", action="store_true", help="print, do not write BENCHMARKS.md")
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-integ-", dir="/var/tmp"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "ckanext-sinp"))
    code = str(ROOT / "ckanext-sinp")
    results: dict = {}
    try:
        if args.accepted:
            accepted = pathlib.Path(args.accepted)
        else:
            data = tmp / "occurrences.csv"
            results["generated"] = occtax_data.generate(args.rows, data)
            accepted = tmp / "accepted.csv"
            run([str(CKAN_PY), "-c", QC, str(data), str(accepted), code], env)
            data.unlink()
        errors = pathlib.Path(f"{accepted}.errors")
        results["bytes"] = accepted.stat().st_size
        url = scratch_database(DB)

        def step(mode, tree=code):
            out = run(
                [str(CKAN_PY), "-c", INTEGRATE, url, str(accepted), str(errors), tree, mode],
                dict(env, PYTHONPATH=tree),
            )
            print(mode, tree, out, flush=True)
            return out

        step("setup")
        if args.profile:
            results["profile"] = step("profile")
        results["peer"] = step("peer")
        # first integrations of the deposit into an empty store, ours and the baseline's alternated
        step("reset")
        results["ours"] = step("ours")
        if args.replace:
            results["replace"] = step("ours")
        if args.baseline:
            old = tmp / "baseline"
            old.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline, "ckanext-sinp"], check=True, capture_output=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            step("reset")
            results["baseline"] = step("ours", str(old / "ckanext-sinp"))
            results["baseline"]["rev"] = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", args.baseline],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            step("reset")
            results["ours_again"] = step("ours")
        if args.map_counts_cost:
            step("reset")
            results["nomap"] = step("ours-nomap")
    finally:
        drop_scratch_database(DB)
        subprocess.run(["rm", "-rf", str(tmp)])
    body = render(results)
    print(body)
    if not args.no_write:
        write_section("integ", body)


def render(r: dict) -> str:
    ours, peer = r["ours"], r["peer"]
    rate = ours["rows"] / ours["seconds"]
    lines = [
        "## Integration into PostGIS (`bench/bench_integrate.py`)",
        "",
        f"Machine: {machine()}. {ours['rows']:,} accepted rows ({r['bytes'] / 1024**2:.0f} MiB of CSV as a deposit "
        "writes it), scratch PostGIS database with the TAXREF extract, the sensitivity referential, the territory "
        "and the summary triggers. PostgreSQL 15 as the stack runs it (shared_buffers 128 MB). The machine is "
        "shared: load average (1 min) before → after each row.",
        "",
        "| run | time | rows/s | load |",
        "|---|---|---|---|",
        f"| ours: `store.integrate` (protection computed, {ours['indexes']} indexes, one transaction) | "
        f"{ours['seconds']:.1f} s | {rate:,.0f} | {ours['load_before']} → {ours['load_after']} |",
    ]
    if "replace" in r:
        rep = r["replace"]
        lines.append(
            f"| ours again, same deposit replaced | {rep['seconds']:.1f} s | {rep['rows'] / rep['seconds']:,.0f} | "
            f"{rep['load_before']} → {rep['load_after']} |"
        )
    if "baseline" in r:
        old, again = r["baseline"], r["ours_again"]
        lines.append(
            f"| before #20: `store.integrate` of {old['rev']} | {old['seconds']:.1f} s | "
            f"{old['rows'] / old['seconds']:,.0f} | {old['load_before']} → {old['load_after']} |"
        )
        lines.append(
            f"| ours once more (after the baseline) | {again['seconds']:.1f} s | "
            f"{again['rows'] / again['seconds']:,.0f} | {again['load_before']} → {again['load_after']} |"
        )
    if "nomap" in r:
        nomap = r["nomap"]
        lines.append(
            f"| ours without the map counts' triggers (#16), last | {nomap['seconds']:.1f} s | "
            f"{nomap['rows'] / nomap['seconds']:,.0f} | {nomap['load_before']} → {nomap['load_after']} |"
        )
    lines += [
        f"| peer: bare `COPY` into a table with the same {peer['indexes']} indexes, no protection | "
        f"{peer['seconds']:.1f} s | {peer['rows'] / peer['seconds']:,.0f} | {peer['load_before']} → "
        f"{peer['load_after']} |",
        "",
        f"Ours / peer (time): {ours['seconds'] / peer['seconds']:.2f}. Goal ≥ 100 000 rows/s: "
        f"{'met' if rate >= 100_000 else 'missed'}. {ours['sensitive']:,} rows found sensitive; rows per public "
        f"layer {ours['layers']}.",
    ]
    prof = r.get("profile")
    if prof:
        total = sum(s for name, s in prof["phases"] if not name.startswith("the same rows"))
        lines += [
            "",
            f"Profile (same rows, one transaction rolled back, load {prof['load_before']} → {prof['load_after']}): "
            "each phase alone, and per row.",
            "",
            "| phase | time | µs per row |",
            "|---|---|---|",
        ]
        for name, seconds in prof["phases"]:
            lines.append(f"| {name} | {seconds:.2f} s | {seconds * 1e6 / ours['rows']:.1f} |")
        lines.append(
            f"| total of a partition built apart (all but the plain copy) | {total:.1f} s | "
            f"{total * 1e6 / ours['rows']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
