"""Capacity of the public site under 20 concurrent anonymous clients (#18), against the stock
CKAN web configuration in the same run.

Two CKAN web servers are started on free loopback ports, on the demo catalogue's configuration
(``var/ckan.ini``, read-only traffic), one after the other:

- **stock**: what CKAN's documentation and images run, gunicorn with 2 synchronous workers;
- **ours**: the configuration `make up` runs (``CKAN_WEB_WORKERS`` synchronous workers, 2 by
  default, ``--max-requests``), or the one given with ``--ours-args``.

Each gets a 10 s warm-up, then ``--clients`` threads for ``--seconds``, each picking at random in
the issue's mix: search pages (a word from a French list), facet calls of the API, JDD pages,
the JDD's occurrences in a bbox, and CSW GetRecords (pycsw of the stack, the same for both: it
shows how the CSW holds while CKAN is loaded). Prints req/s, p50/p95 per kind, errors (any
status ≠ 200), and writes the section "capacity" of BENCHMARKS.md.

    var/venv/ckan/bin/python bench/bench_capacity.py [--clients 20] [--seconds 60]

Run with the stack up and nothing else running (the clients share the machine's cores).
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import random
import shlex
import signal
import socket
import subprocess
import threading
import time

import requests
from _ckan import ROOT, machine, percentiles, stack_env, write_section

WORDS = ["chiroptères", "odonates", "inventaire", "Morvan", "Doubs", "suivi", "oiseaux", "flore", "gîtes", "atlas"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(env, name, extra_args, log_dir, ini):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        f"{env['CKAN_VENV']}/bin/gunicorn",
        "ckanext.sinp.wsgi:application",
        "--no-control-socket",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        *extra_args,
    ]
    log = open(log_dir / f"bench-capacity-{name}.log", "wb")
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, CKAN_INI=str(ini)),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/3/action/status_show", timeout=5).ok:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError(f"{name} did not start: see {log.name}")


def targets(env, url) -> list[tuple[str, str]]:
    jdds = requests.get(f"{url}/api/3/action/package_search", params={"fq": "dataset_type:jdd", "rows": 50}).json()
    names = [d["name"] for d in jdds["result"]["results"]] or ["inconnu"]
    out = []
    for word in WORDS:
        out.append(("recherche (page)", f"{url}/dataset/?q={word}"))
        out.append(
            (
                "facettes (API)",
                f"{url}/api/3/action/package_search?q={word}&rows=10&facet.field=%5B%22organization%22,%22tags%22,%22res_format%22%5D",
            )
        )
    for name in names:
        out.append(("page JDD", f"{url}/jdd/{name}"))
        out.append(
            (
                "occurrences bbox (API)",
                f"{url}/api/3/action/sinp_occurrence_search?jdd={name}&bbox=3,46,8,48.5&limit=100",
            )
        )
    csw = env["CSW_URL"]
    out.append(
        (
            "CSW GetRecords",
            f"{csw}?service=CSW&version=2.0.2&request=GetRecords&typeNames=csw:Record&resultType=results&elementSetName=brief&maxRecords=10",
        )
    )
    return out


def load(urls, clients, seconds):
    results, stop_at = [], time.monotonic() + seconds
    lock = threading.Lock()

    def client(seed):
        rnd = random.Random(seed)
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                kind, url = rnd.choice(urls)
                t0 = time.perf_counter()
                try:
                    answer = http.get(url, timeout=60)
                    status, cache = answer.status_code, answer.headers.get("X-Sinp-Cache", "-")
                except requests.RequestException:
                    status, cache = None, "-"
                with lock:
                    results.append((kind, status, time.perf_counter() - t0, cache))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def summary(results, elapsed):
    by_kind = collections.defaultdict(list)
    for kind, _status, seconds, _cache in results:
        by_kind[kind].append(seconds * 1000)
    errors = sum(1 for _k, status, _s, _c in results if status != 200)
    all_ms = [s * 1000 for _k, _st, s, _c in results]
    hits = sum(1 for *_rest, cache in results if cache == "hit")
    return {
        "rps": len(results) / elapsed,
        "n": len(results),
        "errors": errors,
        "hit_share": hits / len(results) if results else 0.0,
        "all": percentiles(all_ms),
        "kinds": {k: percentiles(v) for k, v in sorted(by_kind.items())},
    }


def no_cache_ini(env) -> pathlib.Path:
    """The same configuration with the anonymous page cache off (CKAN has none of its own)."""
    path = ROOT / "var" / "bench-capacity-no-cache.ini"
    path.write_text(f"[app:main]\nuse = config:{env['CKAN_INI']}\nckanext.sinp.page_cache.ttl = 0\n", encoding="utf-8")
    return path


def editor(env, url, every, stop):
    """A producer at work: one edit of a public record every ``every`` seconds (each ends every
    cached copy); the record's description is put back at the end."""
    token = {"Authorization": env["SINP_ADMIN_TOKEN"]}
    found = requests.get(f"{url}/api/3/action/package_search", params={"fq": "dataset_type:jdd", "rows": 1}).json()
    record = found["result"]["results"][0]
    notes, edits = record.get("notes") or "", 0
    try:
        while not stop.wait(every):
            edits += 1
            requests.post(
                f"{url}/api/3/action/package_patch",
                json={"id": record["id"], "notes": f"{notes}\n\n(édition de mesure {edits})"},
                headers=token,
                timeout=60,
            ).raise_for_status()
    finally:
        requests.post(
            f"{url}/api/3/action/package_patch", json={"id": record["id"], "notes": notes}, headers=token, timeout=60
        )
    return edits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--edit-every", type=float, default=10.0, help="seconds between two edits of a record (0: none)"
    )
    workers = os.environ.get("CKAN_WEB_WORKERS", "2")
    parser.add_argument(
        "--ours-args",
        default=f"--workers {workers} --max-requests 2000 --max-requests-jitter 200",
        help="gunicorn arguments of ours",
    )
    parser.add_argument("--stock-args", default="--workers 2", help="gunicorn arguments of the stock configuration")
    args = parser.parse_args()
    env = stack_env()
    log_dir = ROOT / "var" / "log"
    plain = no_cache_ini(env)
    runs = (
        ("stock CKAN", args.stock_args, plain),
        ("ours without the page cache", args.ours_args, plain),
        ("ours", args.ours_args, env["CKAN_INI"]),
    )
    measured = {}
    for name, extra, ini in runs:
        proc, url = start(env, name.split()[0] + str(len(measured)), shlex.split(extra), log_dir, ini)
        try:
            urls = targets(env, url)
            load(urls, args.clients, 10)  # warm-up
            stop = threading.Event()
            edits = []
            writer = threading.Thread(
                target=lambda out, u, ev: out.append(editor(env, u, args.edit_every, ev)),
                args=(edits, url, stop),
                daemon=True,
            )
            if args.edit_every > 0:
                writer.start()
            results, elapsed = load(urls, args.clients, args.seconds)
            stop.set()
            if writer.is_alive():
                writer.join(90)
            measured[name] = summary(results, elapsed)
            measured[name]["edits"] = edits[0] if edits else 0
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        s = measured[name]
        print(
            f"{name}: {s['rps']:.1f} req/s, p50 {s['all']['p50']:.0f} ms, p95 {s['all']['p95']:.0f} ms, "
            f"errors {s['errors']}/{s['n']}, served from the cache {100 * s['hit_share']:.0f} %, edits {s['edits']}"
        )
    lines = [
        f"## Capacity under {args.clients} concurrent anonymous clients (`bench/bench_capacity.py`)",
        "",
        f"Machine: {machine()}. {args.seconds} s per configuration after a 10 s warm-up; the mix of the issue: search pages, "
        "facet calls of the API, JDD pages, occurrences in a bbox, CSW GetRecords (pycsw of the stack, common to all). "
        + (
            f"Meanwhile a producer edits a public JDD every {args.edit_every:g} s (each edit ends every cached copy). "
            if args.edit_every > 0
            else ""
        )
        + "Goal (#18): ≥ 40 req/s with p95 ≤ 1 s and 0 errors. The stock peer is CKAN's documented web "
        "configuration (gunicorn, 2 synchronous workers) on the same catalogue, without our page cache. "
        f"The mix draws from {len(urls)} distinct addresses, so most answers come from the cache once warm; "
        "an audience with more distinct searches lands between the two rows of ours (the row without the "
        "cache is the floor: every answer rendered).",
        "",
        "| configuration | gunicorn | req/s | p50 (ms) | p95 (ms) | errors | answers from the cache |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, extra, _ini in runs:
        s = measured[name]
        lines.append(
            f"| {name} | `{extra}` | {s['rps']:.1f} | {s['all']['p50']:.0f} | {s['all']['p95']:.0f} | "
            f"{s['errors']}/{s['n']} | {100 * s['hit_share']:.0f} % |"
        )
    lines += ["", "Per kind (ours): p50 / p95 ms", ""]
    for kind, st in measured["ours"]["kinds"].items():
        lines.append(f"- {kind}: {st['p50']:.0f} / {st['p95']:.0f} (n = {st['n']})")
    write_section("capacity", "\n".join(lines))


if __name__ == "__main__":
    main()
