"""Delay between an edit in CKAN and its visibility over CSW (goal: ≤ 1 s).

Runs against the stack that `make up` started (var/stack.env): edits the title of a public demo
JDD through CKAN's API, then polls the stack's CSW (GetRecordById) every 20 ms until the new title
is served; restores the title at the end. No peer can run here: stock CKAN's pycsw bridge
(`ckan-pycsw load`, a periodic command) has been broken since CKAN 2.8.

    var/venv/ckan/bin/python bench/bench_csw_latency.py [--edits 20] [--name demo-odonates-doubs]
"""

from __future__ import annotations

import argparse
import time

import requests
from _ckan import machine, percentiles, stack_env, write_section


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--name", default="demo-odonates-doubs")
    args = parser.parse_args()
    env = stack_env()
    api, csw = env["CKAN_URL"] + "/api/3/action/", env["CSW_URL"]
    headers = {"Authorization": env["SINP_ADMIN_TOKEN"]}
    pkg = requests.get(api + "package_show", params={"id": args.name}, headers=headers, timeout=30).json()["result"]
    original = pkg["title"]
    delays = []
    try:
        for i in range(args.edits):
            title = f"{original} (essai {i})"
            started = time.perf_counter()
            response = requests.post(
                api + "package_patch", json={"id": pkg["id"], "title": title}, headers=headers, timeout=60
            )
            response.raise_for_status()
            while True:
                body = requests.get(
                    csw,
                    params={
                        "service": "CSW",
                        "version": "2.0.2",
                        "request": "GetRecordById",
                        "id": pkg["sinp_uuid"],
                        "elementSetName": "full",
                        "outputSchema": "http://www.isotc211.org/2005/gmd",
                    },
                    timeout=10,
                ).text
                if title in body:
                    break
                if time.perf_counter() - started > 60:
                    raise SystemExit("the edit did not reach the CSW within 60 s (is the worker running?)")
                time.sleep(0.02)
            delays.append((time.perf_counter() - started) * 1000)
    finally:
        requests.post(api + "package_patch", json={"id": pkg["id"], "title": original}, headers=headers, timeout=60)
    stats = percentiles(delays)
    body = f"""## Edit → CSW delay (`bench/bench_csw_latency.py`)

Machine: {machine()}. {args.edits} title edits of a public JDD through CKAN's API (gunicorn, 2 workers), each
followed by GetRecordById polling of the stack's pycsw every 20 ms until the new title is served. The
delay includes the API call, the commit, the queued sync job in `ckan jobs worker` (ISO rendering,
upsert of the row) and pycsw's answer. Goal: ≤ 1 s. No peer runs here (stock CKAN's pycsw bridge
is broken since CKAN 2.8; it was a periodic command).

| p50 | p95 | max |
|---|---|---|
| {stats["p50"]:.0f} ms | {stats["p95"]:.0f} ms | {stats["max"]:.0f} ms |
"""
    write_section("csw-latency", body)
    print(body)


if __name__ == "__main__":
    main()
