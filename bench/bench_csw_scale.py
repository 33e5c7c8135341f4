"""Our CSW endpoint at 100 000 records, against itself at an earlier git revision, in the same run.

``bench_csw.py`` measures our endpoint against stock pycsw 2.6.2, whose SQLite load takes most of a
run at 100 000 records (12 min on the 2 cores, 40 min in all). This script measures our endpoint
only, at full size, against the same endpoint as it was at ``--previous REV`` (its pycsw_config/
files taken from git), both served by gunicorn (2 workers, as the stack) from the same table:

1. ``--load N`` creates the scratch database ``sinp_csw_scale`` (PostGIS, a writer role, a
   read-only role) and fills it with ``bench_csw.py``'s generator (``generate_chunk``: 10 % CA, 90 %
   JDD, batch INSERTs), then ``VACUUM ANALYZE``; ``--keep`` leaves it for the next run, which passes
   no ``--load`` (the roles' passwords are kept in var/bench_csw_scale.json).
2. Measures each server in turn: GetRecords as GeoNetwork sends it (POST, summary, gmd, 20 per page,
   random startPosition), GetRecordById full, GetCapabilities, and the GeoNetwork-shaped harvest
   (every page of 20, then GetRecordById for a sample), as ``bench_csw.py`` does.
3. Writes the section "csw-scale" of BENCHMARKS.md.

Run as root, from the repository root:

    var/venv/ckan/bin/python bench/bench_csw_scale.py --load 100000 --previous 0d63c00 [--keep]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import shutil
import subprocess
import tempfile
import time

import bench_csw as b
from _ckan import ROOT, machine, write_section

b.DB_NAME, b.WRITER, b.READER = "sinp_csw_scale", "sinp_csw_scale_writer", "sinp_csw_scale_reader"
STATE = ROOT / "var" / "bench_csw_scale.json"


def load(n: int) -> dict:
    from sqlalchemy import create_engine, text

    from ckanext.sinp.csw import repository

    writer, reader = b.create_database()
    engine = create_engine(writer)
    repository.ensure_table(engine)
    repository.grant_reader(engine, b.READER)
    engine.dispose()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-csw-scale-"))
    n_ca = (n + 9) // 10
    tasks = [(s, min(s + 1000, n), n_ca, str(tmp), writer) for s in range(0, n, 1000)]
    t0, ids = time.perf_counter(), []
    try:
        with multiprocessing.get_context("fork").Pool(b.WORKERS) as pool:
            for k, res in enumerate(pool.imap(b.generate_chunk, tasks), 1):
                ids += res["ids"]
                if k % 10 == 0:
                    print(f"  {len(ids)}/{n} ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    engine = create_engine(writer, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {repository.get_table().name}"))
    engine.dispose()
    state = {"writer": writer, "reader": reader, "ids": ids, "load_s": time.perf_counter() - t0}
    STATE.write_text(json.dumps(state))
    return state


def serve(name: str, config_dir: pathlib.Path, reader: str, tmp: pathlib.Path) -> b.Server:
    port = b.free_port()
    url = f"http://127.0.0.1:{port}/csw"
    command = [str(b.PYCSW_VENV / "bin" / "gunicorn"), "--chdir", str(config_dir), "wsgi:application"]
    env = b.clean_env(
        PYCSW_SERVER_URL=url, PYCSW_DATABASE_URL=reader, SINP_CONTACT_EMAIL="sinp@bourgogne-franche-comte.invalid"
    )
    return b.Server(name, [*command, "--bind", f"127.0.0.1:{port}", *b.GUNICORN_OPTS], env, config_dir, tmp, url)


def measure(server: b.Server, ids: list, args, with_harvest: bool = True) -> dict:
    n = len(ids)
    out = {
        "get_records": b.bench_get_records(server.url, n, args.get_records, seed=1),
        "by_id": b.bench_get_record_by_id(server.url, ids, args.get_record_by_id, seed=2),
        "caps": b.bench_get_capabilities(server.url, 50),
    }
    if with_harvest:
        out["harvest"] = b.harvest(server.url, ids, args.harvest_fetch, seed=3)
    print(f"{server.name}: {json.dumps(out, default=str)[:600]}", flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--load", type=int, help="create and fill the scratch database with this many records")
    parser.add_argument("--previous", required=True, metavar="REV", help="git revision of the peer")
    parser.add_argument("--get-records", type=int, default=200)
    parser.add_argument("--get-record-by-id", type=int, default=300)
    parser.add_argument("--harvest-fetch", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for the next run")
    parser.add_argument(
        "--no-previous-harvest", action="store_true", help="skip the full listing on the previous revision (slow)"
    )
    args = parser.parse_args()
    state = load(args.load) if args.load else json.loads(STATE.read_text())
    ids, n = state["ids"], len(state["ids"])
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sinp-bench-csw-scale-"))
    results, loadavg = {}, []
    try:
        previous_dir = tmp / "previous"
        previous_dir.mkdir()
        for name in ("wsgi.py", "mappings.py", "sinp_wildcards.py", "db_errors.py", "pycsw.cfg"):
            shown = subprocess.run(
                ["git", "show", f"{args.previous}:pycsw_config/{name}"], cwd=ROOT, capture_output=True, check=True
            )
            (previous_dir / name).write_bytes(shown.stdout)
        for name, config_dir in (("ours", b.PYCSW_CONFIG_DIR), ("previous", previous_dir)):
            server = serve(name, config_dir, state["reader"], tmp / f"{name}.log")
            try:
                loadavg.append(pathlib.Path("/proc/loadavg").read_text().split()[0])
                results[name] = measure(server, ids, args, name == "ours" or not args.no_previous_harvest)
            finally:
                server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            b.drop_database()
            STATE.unlink(missing_ok=True)
    write(args, n, state, results, loadavg)


def write(args, n, state, results, loadavg):
    o, p = results["ours"], results["previous"]

    def row(label, a, c, goal="", fmt=b.fmt_ms):
        if c is None:
            return f"| {label} | {fmt(a)} | not measured | | {goal} |"
        return f"| {label} | {fmt(a)} | {fmt(c)} | {a / c:.2f} | {goal} |"

    oh = o["harvest"]
    ph = p.get("harvest") or {"list_s": None, "fetch_s": None, "fetch_n": 1, "exactly_once": None}

    def full(h):
        return None if h["list_s"] is None else h["list_s"] + h["fetch_s"] / h["fetch_n"] * n

    def once(h):
        return "not measured" if h["exactly_once"] is None else ("yes" if h["exactly_once"] else "**no**")

    body = f"""## CSW at {n} records: our endpoint now vs before issue #20 (`bench/bench_csw_scale.py`)

Machine: {machine()}; load average (1 min) when each server was measured: ours {loadavg[0]}, previous
{loadavg[1]} (the 2 cores were shared with other engineers' test runs). {n} records from `bench_csw.py`'s
generator in one table (scratch database, `VACUUM ANALYZE`d), served by gunicorn (2 workers,
`--max-requests 200`): **ours** = `pycsw_config/` of this commit, **previous** = `pycsw_config/` at
`{args.previous}`, same table (the changes table is there: the previous code does not read it). Requests
as in `bench_csw.py` (GeoNetwork's shapes): {args.get_records} GetRecords (POST, summary, gmd, 20 per
page, random `startPosition`), {args.get_record_by_id} GetRecordById (`full`), the listing of every page
of 20, then GetRecordById for {oh["fetch_n"]} of the listed records.

| measure | ours | previous | ours / previous | goal |
|---|---|---|---|---|
{row("GetRecords, GeoNetwork page of 20, p50", o["get_records"]["p50"], p["get_records"]["p50"], "≤ 20 ms")}
{row("GetRecords, p95", o["get_records"]["p95"], p["get_records"]["p95"])}
{row("GetRecordById `full`, p50", o["by_id"]["p50"], p["by_id"]["p50"], "≤ 3 ms")}
{row("GetRecordById `full`, p95", o["by_id"]["p95"], p["by_id"]["p95"])}
{row("GetCapabilities, p50 (fixed cost per request)", o["caps"]["p50"], p["caps"]["p50"])}
{row(f"harvest: listing, {oh['pages']} pages of 20", oh["list_s"], ph["list_s"], "", b.fmt_s)}
{row(f"harvest: GetRecordById for {oh['fetch_n']} records", oh["fetch_s"], ph["fetch_s"], "", b.fmt_s)}
{row(f"estimate: listing + GetRecordById for all {n}", full(oh), full(ph), "≤ 5 min", b.fmt_s)}
| every identifier listed exactly once | {once(oh)} | {once(ph)} | | yes |
"""
    write_section("csw-scale", body)
    print(body)


if __name__ == "__main__":
    main()
