"""Occurrence exports of a big JDD (goal #20: streamed, constant memory, first byte ≤ 1 s, CSV ≥ 50 MB/s).

    flock /tmp/sinp-itest.lock var/venv/ckan/bin/python bench/bench_exports.py [--rows 50000] [--before]

In-process CKAN on the *test* configuration (var/test.ini; take the integration-test lock). Creates
an organisation, a producer, a CA and a published JDD whose ``--rows`` generated observations
(``bench_jdd_page.occurrences_csv``: a share private or sensitive, so that the public gets blurred
rows) are integrated by ``store.integrate``; then downloads ``/jdd/<name>/occurrences.csv`` and
``.geojson`` anonymously and as the producer through the WSGI app (the response read chunk by
chunk as a client would), measuring the first byte, the whole download, its size and the growth of
the process's resident memory while it runs (sampled every 20 ms).

Peers in the same run: PostgreSQL's own ``COPY (…) TO STDOUT (FORMAT csv)`` of the same blurred
rows (``store.blurred`` for the same reader: the database's bare CSV speed, no formatting of the
standard's columns); with ``--before``, the export as it was before #20 (pages of 5 000 rows by
OFFSET, a new query and a count per page, shapely per row). Everything created is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))

from _ckan import ROOT, machine, write_section  # noqa: E402
from bench_jdd_page import (  # noqa: E402
    ckan_app_without_page_cache,
    fresh_identity,
    logged_in,
    occurrences_csv,
    producer_with_ca,
)

sys.path.insert(0, str(ROOT))

from tests.integration.test_sinp_records import JDD  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
INTRO = (
    "Goal (#20): streamed, constant memory, first byte ≤ 1 s, CSV ≥ 50 MB/s. In-process CKAN, each export "
    "read chunk by chunk through the WSGI app as a client would; RSS growth is the largest growth of the "
    "process's resident memory during the download (sampled every 20 ms). Peers in the same run: "
    "PostgreSQL's own `COPY (…) TO STDOUT (FORMAT csv)` of the same blurred rows for the same reader (the "
    "database's bare CSV speed, no standard column formatting), and the CSV export as it was before #20 "
    "(pages of 5 000 rows by OFFSET, a count and a sorted query per page, shapely per row)."
)


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class PeakRss:
    """The largest growth of the resident memory over its value at the start, sampled every 20 ms."""

    def __enter__(self):
        self.base = self.peak = rss()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def download(client, url: str) -> dict:
    """First byte, whole download, size and memory growth of one export read as a stream."""
    fresh_identity()
    with PeakRss() as mem:
        start = time.perf_counter()
        response = client.get(url, buffered=False)
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code}")
        first, size = None, 0
        for chunk in response.response:
            if first is None:
                first = time.perf_counter() - start
            size += len(chunk if isinstance(chunk, bytes) else chunk.encode("utf-8"))
        response.close()
        total = time.perf_counter() - start
    return {"first_s": first, "total_s": total, "bytes": size, "rss_mib": mem.growth_mib}


def copy_peer(engine, access, package_id: str) -> dict:
    """PostgreSQL's COPY … TO STDOUT (FORMAT csv) of the same blurred rows, read by psycopg2."""
    from ckanext.sinp.occurrences import store

    class Sink:
        def __init__(self):
            self.size, self.first, self.start = 0, None, time.perf_counter()

        def write(self, data):
            if self.first is None:
                self.first = time.perf_counter() - self.start
            self.size += len(data)

    with engine.connect() as conn:
        sql, params = store.blurred(conn, access, package_ids=[package_id])
        query = f"SELECT q.*, ST_AsText(q.out_geom) AS wkt FROM ({sql}) AS q ORDER BY q.id"
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            names = "|".join(sorted(params, key=len, reverse=True))
            pyformat = re.sub(rf"(?<!:):({names})\b", r"%(\1)s", query.replace("%", "%%"))
            statement = cur.mogrify(pyformat, params).decode()
            sink = Sink()
            cur.copy_expert(f"COPY ({statement}) TO STDOUT (FORMAT csv, HEADER, DELIMITER ';')", sink)
        total = time.perf_counter() - sink.start
        conn.rollback()
    return {"first_s": sink.first, "total_s": total, "bytes": sink.size, "rss_mib": float("nan")}


def before_csv(engine, access, package_id: str) -> dict:
    """The CSV export as it was before #20 (OFFSET pages of 5 000, shapely per row), same rows."""
    from shapely.geometry import shape

    from ckanext.sinp.domain import csvsafe
    from ckanext.sinp.occurrences import export_stream, store

    def features():
        with engine.connect() as conn:
            total, _ = store.search(conn, access, package_ids=[package_id], limit=0)
        offset = 0
        while offset < total:
            with engine.connect() as conn:
                _, rows = store.search(conn, access, package_ids=[package_id], limit=5000, offset=offset)
            if not rows:
                break
            for row in rows:
                yield store.to_feature(row)
            offset += len(rows)

    header = export_stream.csv_header()

    def rows():
        for feature in features():
            props = feature["properties"]
            geom = shape(feature["geometry"]).wkt if feature["geometry"] else ""
            yield [geom] + [props.get(c) for c in header[1:]]

    with PeakRss() as mem:
        start = time.perf_counter()
        first, size = None, 0
        for chunk in csvsafe.stream(header, rows()):
            if first is None:
                first = time.perf_counter() - start
            size += len(chunk.encode("utf-8"))
        total = time.perf_counter() - start
    return {"first_s": first, "total_s": total, "bytes": size, "rss_mib": mem.growth_mib}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--before", action="store_true", help="also measure the export as it was before #20")
    parser.add_argument("--ini", default=str(ROOT / "var" / "test.ini"))
    parser.add_argument("--anonymous-only", action="store_true", help="only the anonymous downloads (big sizes)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write BENCHMARKS.md")
    args = parser.parse_args()
    load_before = open("/proc/loadavg").read().split()[:3]
    results: dict = {}
    with ckan_app_without_page_cache(args.ini) as app:
        import ckan.model as model
        import ckan.plugins.toolkit as tk

        from ckanext.sinp import settings
        from ckanext.sinp.occurrences import store

        settings.export_max_rows = lambda: max(args.rows, 10**7)  # the cap is not what is measured
        site = {"user": tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"], "ignore_auth": True}
        tag = uuid.uuid4().hex[:6]
        password, user, org, ca = producer_with_ca(tk, site, tag)
        jdd = tk.get_action("package_create")(
            dict(site),
            {
                **JDD,
                "name": f"bench-jdd-export-{tag}",
                "owner_org": org["id"],
                "cadre": ca["sinp_uuid"],
                "private": False,
            },
        )
        resource_id = str(uuid.uuid4())
        engine = model.meta.engine
        try:
            with tempfile.NamedTemporaryFile(suffix=".csv") as occ, tempfile.NamedTemporaryFile(suffix=".csv") as err:
                start = time.perf_counter()
                occurrences_csv(occ.name, args.rows, resource_id, jdd["id"], org["id"])
                generate_s = time.perf_counter() - start
                with open(err.name, "w", encoding="utf-8") as fh:
                    fh.write("resource_id,seq,row,column,code,category,blocking,message,value\n")
                with engine.begin() as conn:
                    store.queue_deposit(conn, resource_id, jdd["id"], owner_org=org["id"])
                start = time.perf_counter()
                written = store.integrate(engine, resource_id, occ.name, err.name, {"status": "done", "progress": 1.0})
                integrate_s = time.perf_counter() - start
            print(
                f"{written} observations générées en {generate_s:.1f} s, intégrées en {integrate_s:.1f} s", flush=True
            )
            readers = {"anonyme": app.test_client(), "producteur": logged_in(app, user["name"], password)}
            if args.anonymous_only:
                del readers["producteur"]
            accesses = {
                "anonyme": store.Access(public_package_ids=[jdd["id"]]),
                "producteur": store.Access(orgs=[org["id"]], public_package_ids=[jdd["id"]]),
            }
            for reader, client in readers.items():
                for fmt in ("csv", "geojson"):
                    r = download(client, f"/jdd/{jdd['name']}/occurrences.{fmt}")
                    results[(reader, f"export {fmt.upper()}")] = r
                    print(reader, fmt, r, flush=True)
                r = copy_peer(engine, accesses[reader], jdd["id"])
                results[(reader, "pair : COPY … TO STDOUT (FORMAT csv) de PostgreSQL, mêmes lignes")] = r
                print(reader, "copy", r, flush=True)
            if args.before:
                r = before_csv(engine, accesses["anonyme"], jdd["id"])
                results[("anonyme", "export CSV tel qu'avant #20 (pages OFFSET de 5 000)")] = r
                print("anonyme before", r, flush=True)
                if r["bytes"] != results[("anonyme", "export CSV")]["bytes"]:
                    raise SystemExit(
                        "l'export anonyme n'a pas la taille de l'export d'avant #20 : lecteur mal identifié ?"
                    )
        finally:
            with engine.begin() as conn:
                store.delete_package(conn, jdd["id"])
            for pkg in (jdd, ca):
                tk.get_action("dataset_purge")(dict(site), {"id": pkg["id"]})
            tk.get_action("organization_purge")(dict(site), {"id": org["id"]})
            tk.get_action("user_delete")(dict(site), {"id": user["id"]})
    load_after = open("/proc/loadavg").read().split()[:3]
    lines = [
        f"## Occurrence exports of a JDD with {args.rows:,} observations (`bench/bench_exports.py`)".replace(",", " "),
        "",
        INTRO,
        "",
        f"Machine: {machine()}; load average (1, 5, 15 min) {' '.join(load_before)} before, {' '.join(load_after)} "
        f"after. {written} generated observations integrated by `store.integrate` in {integrate_s:.1f} s.",
        "",
        "| reader | what | first byte (ms) | whole (s) | size (MB) | MB/s | RSS growth (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (reader, label), r in results.items():
        mbs = r["bytes"] / 1e6 / r["total_s"]
        rss_text = "—" if r["rss_mib"] != r["rss_mib"] else f"{r['rss_mib']:.0f}"
        lines.append(
            f"| {reader} | {label} | {r['first_s'] * 1000:.0f} | {r['total_s']:.2f} | {r['bytes'] / 1e6:.1f} "
            f"| {mbs:.1f} | {rss_text} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        name = f"exports-{args.rows}"
        write_section(name, text)


if __name__ == "__main__":
    main()
