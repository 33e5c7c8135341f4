"""Occurrence QC throughput and memory, against frictionless-py and DuckDB's bare CSV read.

One run, on the same generated file (``occtax_data.py``: 28 columns of the standard, 1 % of rows
with planted errors), each tool in its own process (wall time, peak RSS of that process):

1. ours: ``engine.run`` (inspection + every rule + the report) with the referential extracts
   shipped in ``schemas/`` (TAXREF, HABREF, communes, mailles, territory), no store;
2. DuckDB's bare ``SELECT count(*) FROM read_csv(..., all_varchar)`` (the floor of any
   DuckDB-based check);
3. frictionless-py 5 (the engine of ckanext-validation) validating the same file with an equivalent
   Table Schema (types, required, enums, patterns), in its own virtualenv
   ``var/venv/bench-frictionless`` (created on first run);
4. integration: the accepted rows written (``write_accepted_csv``) and loaded by
   ``store.integrate`` into a scratch PostGIS database (``sinp_bench_qc``, dropped at the end);
5. memory at ``--memory-rows`` (default 10 M) for ours only.

    var/venv/ckan/bin/python bench/bench_qc.py [--rows 1000000] [--memory-rows 10000000]

Writes the section "qc" of BENCHMARKS.md. Run as root (creates the scratch database through
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
import time

from _ckan import ROOT, drop_scratch_database, machine, scratch_database, write_section

sys.path.insert(0, str(ROOT / "bench"))
import occtax_data  # noqa: E402

CKAN_PY = ROOT / "var" / "venv" / "ckan" / "bin" / "python"
FRICTIONLESS_VENV = ROOT / "var" / "venv" / "bench-frictionless"
FRICTIONLESS_VERSION = "5.21.0"
DB = "sinp_bench_qc"

OURS = r"""
import functools, json, resource, sys, time
sys.path.insert(0, sys.argv[3])
from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.domain.occtax import engine
from ckanext.sinp.referentials import geo_store
refs = engine.Referentials.from_dict(geo_store.referentials_from_files(schemas_dir()))
phases = {}
def timed(owner, name, label):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def wrapper(*a, **k):
        w, c = time.perf_counter(), time.process_time()
        try:
            return inner(*a, **k)
        finally:
            pw, pc = phases.get(label, (0.0, 0.0))
            phases[label] = (pw + time.perf_counter() - w, pc + time.process_time() - c)
    setattr(owner, name, wrapper)
for owner, name, label in PHASES:
    timed(engine.reader if owner == "reader" else engine, name, label)
t = time.perf_counter()
with engine.run(sys.argv[1], refs, engine.Options(memory_limit=sys.argv[2], max_bytes=None)) as result:
    report = result.report(limit=10)
    elapsed = time.perf_counter() - t
    out = {"seconds": elapsed, "rows": report["rows_received"], "accepted": report["rows_accepted"],
           "errors": report["errors_total"], "counts": report["counts"], "phases": phases}
    if len(sys.argv) > 4:
        t = time.perf_counter()
        result.write_accepted_csv(sys.argv[4], {"resource_id": "bench", "package_id": "bench-package",
                                                "owner_org": "bench-org"})
        result.write_errors_store_csv(sys.argv[4] + ".errors", "bench")
        out["export_seconds"] = time.perf_counter() - t
out["maxrss_mib"] = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps(out))
"""

# engine.run's steps, in order: (module, function, label in BENCHMARKS.md)
PHASES = [
    ("reader", "inspect", "inspection: SHA-256, encoding, separator, header (C1, C2)"),
    ("engine", "_prepare_checks", "referential tables (TAXREF, HABREF) registered"),
    ("engine", "_scan", "one pass: read + typing + every row rule as mask bits, the codes kept"),
    ("engine", "_row_numbers", "line numbers, ragged lines (C3)"),
    ("engine", "_lookups", "TAXREF, HABREF look-ups on the kept codes (C11, C12)"),
    ("engine", "_geometry", "geometry: points in numpy/pyproj, other shapes in shapely (C9, K18)"),
    ("engine", "_attachments", "communes, départements, mailles (C13)"),
    ("engine", "_duplicates", "duplicates in the file (K16, K17, D1)"),
    ("engine", "_details", "errors written for the flagged rows only"),
    ("engine", "_finish", "messages, rejected rows (report tables)"),
    ("engine", "_summarise", "report counts"),
]
OURS = OURS.replace("for owner, name, label in PHASES:", f"for owner, name, label in {PHASES!r}:")

DUCKDB_BARE = r"""
import json, resource, sys, time
import duckdb
con = duckdb.connect(); con.execute("SET threads = 2")
t = time.perf_counter()
n = con.execute(f"SELECT count(*) FROM read_csv('{sys.argv[1]}', delim=';', header=true, all_varchar=true)").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - t, "rows": n,
                  "maxrss_mib": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024}))
"""

FRICTIONLESS = r"""
import json, resource, sys, time
from frictionless import Resource, Schema, formats
schema = Schema.from_descriptor(json.load(open(sys.argv[2])))
t = time.perf_counter()
import os
resource_ = Resource(path=os.path.basename(sys.argv[1]), basepath=os.path.dirname(sys.argv[1]), schema=schema,
                     format="csv", control=formats.CsvControl(delimiter=";"))
report = resource_.validate(limit_errors=10**9)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "rows": report.tasks[0].stats.get("rows"),
                  "errors": len(report.flatten(["type"])),
                  "maxrss_mib": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024}))
"""

INTEGRATE = r"""
import json, pathlib, sys, time
sys.path.insert(0, sys.argv[4])
import sqlalchemy as sa
from ckanext.sinp.domain import protection
from ckanext.sinp.occurrences import protection_store, store
from ckanext.sinp.referentials import taxref_store
engine = sa.create_engine(sys.argv[1])
store.ensure_tables(engine)
# what production integrates with: TAXREF (groups, CD_REF), the sensitivity referential, the
# automatic pre-validation criteria
ref = pathlib.Path(sys.argv[4]).parent / "schemas" / "referentiels"
taxref_store.ensure_tables(engine)
taxref_store.load_taxref(engine, str(ref / "taxref" / "TAXREFv18_extrait_BFC.txt"), "bench")
rules = protection.read_rules((ref / "sensibilite" / "sensibilite_bfc.csv").read_bytes())
protection_store.load_rules(engine, rules, "bench", "sensibilite_bfc.csv", "bench")
with engine.begin() as conn:
    store.queue_deposit(conn, "bench", "bench-package", owner_org="bench-org")
t = time.perf_counter()
n = store.integrate(engine, "bench", sys.argv[2], sys.argv[3], {"status": "done"},
                    protection.DEFAULT_AUTO_CRITERIA, protection.DEFAULT_AUTO_LEVEL)
seconds = time.perf_counter() - t
with engine.connect() as conn:
    layers = dict(conn.execute(sa.text("SELECT public_layer, count(*) FROM sinp_occurrence GROUP BY 1")).all())
    sensitive = conn.execute(sa.text("SELECT count(*) FROM sinp_occurrence WHERE sensi_niveau <> '0'")).scalar()
print(json.dumps({"seconds": seconds, "rows": n, "sensitive": sensitive,
                  "layers": {str(k): v for k, v in layers.items()}}))
"""


def table_schema() -> dict:
    """The Table Schema equivalent to our conformity rules on the generated columns."""
    from ckanext.sinp.domain import nomenclatures
    from ckanext.sinp.domain.occtax import columns

    fields = []
    by_name = columns.by_name()
    for name in occtax_data.COLUMNS:
        col = by_name[name]
        field = {"name": name, "type": "string"}
        constraints = {}
        if col.required:
            constraints["required"] = True
        if col.type == "integer":
            field["type"] = "integer"
        elif col.type == "decimal":
            field["type"] = "number"
        elif col.type == "date":
            field["type"], field["format"] = "date", "%Y-%m-%d"
        elif col.type == "time":
            constraints["pattern"] = "[0-9]{2}:[0-9]{2}(:[0-9]{2})?"
        elif col.type == "uuid":
            constraints["pattern"] = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
        elif col.type == "code":
            constraints["enum"] = nomenclatures.get(col.nomenclature).codes()
        elif col.type == "wkt":
            constraints["pattern"] = r"(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON)\s*\(.*\)"
        if col.type in ("text", "wkt"):
            constraints["maxLength"] = col.max_length
        if name in ("observateur", "determinateur"):
            from ckanext.sinp.domain.occtax.rules import PERSONS_RE

            constraints["pattern"] = PERSONS_RE
        if constraints:
            field["constraints"] = constraints
        fields.append(field)
    return {"fields": fields, "missingValues": [""]}


def run_process(cmd: list[str], env=None, ok=(0,)) -> tuple[str, float, float]:
    """Runs a process: (stdout, wall seconds seen from outside, CPU seconds user + system of the
    whole process, threads included, from wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in ok:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return stdout, wall, usage.ru_utime + usage.ru_stime


def run_measured(cmd: list[str], env=None) -> dict:
    """Runs a process, returns its JSON output plus the wall time and CPU seen from outside."""
    stdout, wall, cpu = run_process(cmd, env)
    out = json.loads(stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    out["process_cpu_s"] = cpu
    return out


def ensure_frictionless() -> pathlib.Path:
    python = FRICTIONLESS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FRICTIONLESS_VENV)], check=True)
    check = subprocess.run(
        [str(python), "-c", "import frictionless; print(frictionless.__version__)"], capture_output=True, text=True
    )
    if check.returncode != 0 or check.stdout.strip() != FRICTIONLESS_VERSION:
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"frictionless=={FRICTIONLESS_VERSION}"], check=True)
    return python


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-frictionless", action="store_true")
    parser.add_argument(
        "--skip-integration", action="store_true", help="no PostGIS step (bench_integrate.py measures it)"
    )
    parser.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "ckanext-sinp"))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-qc-", dir="/var/tmp"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "ckanext-sinp"))
    results = {}
    try:
        data = tmp / "occurrences.csv"
        gen = occtax_data.generate(args.rows, data)
        print("generated", gen, flush=True)
        results["load_before"] = loadavg()
        results["duckdb"] = run_measured([str(CKAN_PY), "-c", DUCKDB_BARE, str(data)])
        print("duckdb", results["duckdb"], flush=True)
        # the console command a producer runs (exit 1: the file has refused rows)
        report = tmp / "rapport.json"
        _, wall, cpu = run_process(
            [str(CKAN_PY.parent / "sinp-qc-check"), str(data), "--report", str(report)], ok=(0, 1)
        )
        results["command"] = {
            "wall_s": wall,
            "process_cpu_s": cpu,
            "errors": json.loads(report.read_text(encoding="utf-8"))["errors_total"],
        }
        print("command", results["command"], flush=True)
        results["duckdb2"] = run_measured([str(CKAN_PY), "-c", DUCKDB_BARE, str(data)])
        print("duckdb again", results["duckdb2"], flush=True)
        accepted = tmp / "accepted.csv"
        results["ours"] = run_measured(
            [str(CKAN_PY), "-c", OURS, str(data), "1GB", str(ROOT / "ckanext-sinp"), str(accepted)], env
        )
        print("ours", results["ours"], flush=True)
        if not args.skip_frictionless:
            schema = tmp / "schema.json"
            schema.write_text(json.dumps(table_schema()), encoding="utf-8")
            results["frictionless"] = run_measured(
                [str(ensure_frictionless()), "-c", FRICTIONLESS, str(data), str(schema)]
            )
            print("frictionless", results["frictionless"], flush=True)
        if not args.skip_integration:
            integrate(results, accepted, env)
        results["load_after"] = loadavg()
        data.unlink()
        accepted.unlink(missing_ok=True)
        if args.memory_rows:
            big = tmp / "occurrences-big.csv"
            results["big_gen"] = occtax_data.generate(args.memory_rows, big)
            results["big"] = run_measured([str(CKAN_PY), "-c", OURS, str(big), "1GB", str(ROOT / "ckanext-sinp")], env)
            print("big", results["big"], flush=True)
    finally:
        if not args.skip_integration:
            drop_scratch_database(DB)
        subprocess.run(["rm", "-rf", str(tmp)])
    write(args, gen, results)


def loadavg() -> str:
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def integrate(results: dict, accepted: pathlib.Path, env: dict) -> None:
    url = scratch_database(DB)
    results["integration"] = run_measured(
        [str(CKAN_PY), "-c", INTEGRATE, url, str(accepted), f"{accepted}.errors", str(ROOT / "ckanext-sinp")], env
    )
    print("integration", results["integration"], flush=True)


def write(args, gen, r):
    ours, duck, cmd = r["ours"], r["duckdb"], r["command"]
    duck2 = r.get("duckdb2") or duck
    duck_cpu = (duck["process_cpu_s"] + duck2["process_cpu_s"]) / 2
    fr = r.get("frictionless")
    rate = gen["rows"] / ours["seconds"]
    lines = [
        "## Occurrence QC (`bench/bench_qc.py`)",
        "",
        f"Machine: {machine()}; load average {r.get('load_before')} before, {r.get('load_after')} after (the "
        "machine is shared: compare with the peers of the same run). "
        f"File: {gen['rows']:,} rows × {len(occtax_data.COLUMNS)} columns of the standard "
        f"({gen['bytes'] / 1024**2:.0f} MiB, {gen['planted']:,} rows with a planted error), each tool in its own "
        "process, same file, same run; time = in-process wall time of the check; process CPU = user + system "
        "seconds of the whole process (interpreter start, imports and every thread included, from wait4); "
        "peak RSS = VmHWM of that process. Ours = inspection (SHA-256, encoding) + every rule + report, with the "
        "referential extracts shipped in `schemas/` and no store (duplicate checks against the store not included).",
        "",
        "| tool | time | rows/s | process CPU | peak RSS | errors found |",
        "|---|---|---|---|---|---|",
        f"| ours (`engine.run`) | {ours['seconds']:.2f} s | {rate:,.0f} | {ours['process_cpu_s']:.2f} s | "
        f"{ours['maxrss_mib']:.0f} MiB | {ours['errors']:,} |",
        f"| ours, console command `sinp-qc-check FILE --report OUT.json` (whole process) | {cmd['wall_s']:.2f} s | "
        f"{gen['rows'] / cmd['wall_s']:,.0f} | {cmd['process_cpu_s']:.2f} s | — | {cmd['errors']:,} |",
        f"| DuckDB bare `read_csv` count (before / after the command) | {duck['seconds']:.2f} / {duck2['seconds']:.2f} s | "
        f"{gen['rows'] / duck['seconds']:,.0f} | {duck['process_cpu_s']:.2f} / {duck2['process_cpu_s']:.2f} s | "
        f"{duck['maxrss_mib']:.0f} MiB | — |",
    ]
    if fr:
        lines.append(
            f"| frictionless-py {FRICTIONLESS_VERSION} (equivalent Table Schema) | {fr['seconds']:.1f} s | "
            f"{gen['rows'] / fr['seconds']:,.0f} | {fr['process_cpu_s']:.1f} s | {fr['maxrss_mib']:.0f} MiB | "
            f"{fr['errors']:,} |"
        )
    lines += [
        "",
        f"Ratios: `engine.run` / DuckDB bare read (in-process time) = {ours['seconds'] / duck['seconds']:.1f}×; "
        f"console command / DuckDB bare read (whole-process CPU) = {cmd['process_cpu_s'] / duck_cpu:.1f}× (goal ≤ 5×)"
        + (
            f"; ours is {fr['seconds'] / ours['seconds']:.1f}× faster than frictionless in time, "
            f"{fr['process_cpu_s'] / ours['process_cpu_s']:.1f}× in process CPU (goal ≥ 25×)"
            if fr
            else ""
        )
        + f"; goal ≥ 400 000 rows/s: {'met' if rate >= 400_000 else 'missed'} ({rate:,.0f}).",
        "",
        "Where the time of `engine.run` goes (same run, same file; CPU counts DuckDB's 2 threads):",
        "",
        "| phase | wall | CPU |",
        "|---|---|---|",
    ]
    for label, (wall, cpu) in ours.get("phases", {}).items():
        lines.append(f"| {label} | {wall:.2f} s | {cpu:.2f} s |")
    if not r.get("integration"):
        lines += ["", "Integration into PostGIS: `bench/bench_integrate.py`."]
    integ = r.get("integration")
    if integ:
        lines += [
            "",
            f"Integration into PostGIS (`store.integrate`: one transaction; COPY into a temporary table, then one INSERT … SELECT that adds what protection computes — TAXREF attachment, département, 10 km cell, sensitivity with the shipped referential, diffusion layer, automatic pre-validation — into the table and its 9 indexes "
            f"incl. the primary key, the GiST and a partial one): {integ['rows']:,} rows in {integ['seconds']:.1f} s = "
            f"{integ['rows'] / integ['seconds']:,.0f} rows/s (goal ≥ 100 000); writing the accepted rows "
            f"from DuckDB: {ours.get('export_seconds', 0):.1f} s; {integ.get('sensitive', 0):,} rows found sensitive, "
            f"rows per public layer {integ.get('layers')}.",
        ]
    big = r.get("big")
    if big:
        lines += [
            "",
            f"Memory at {r['big_gen']['rows']:,} rows ({r['big_gen']['bytes'] / 1024**3:.1f} GiB): "
            f"{big['seconds']:.1f} s ({r['big_gen']['rows'] / big['seconds']:,.0f} rows/s), peak RSS "
            f"{big['maxrss_mib']:.0f} MiB (goal ≤ 1.5 GB; DuckDB memory_limit 1 GB, spills to disk).",
        ]
    body = "\n".join(lines)
    if not args.no_write:
        write_section("qc", body)
    print(body)


if __name__ == "__main__":
    main()
