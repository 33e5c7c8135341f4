"""The page of a JDD holding 50 000 observations and its map call (goal #15: p95 ≤ 300 ms).

    flock /tmp/sinp-itest.lock var/venv/ckan/bin/python bench/bench_jdd_page.py [--rows 50000] [--samples 40]

In-process CKAN on the *test* configuration (var/test.ini; take the integration-test lock, the
database is shared), or ``--ini var/ckan.ini`` (the demo database, whose tests never empty it
under the bench; what is created is removed at the end). Creates an organisation, a producer, a CA and two published JDD: one whose
50 000 generated observations (taxa of the shipped TAXREF extract, points inside the territory,
a share private or sensitive so that the public gets blurred cells) are integrated by
``store.integrate`` — the deposit path, protection included — and, as the peer in the same run,
one without data, whose page is the stock CKAN dataset page plus our empty-store checks. Then
measures, anonymously and as the producer: the JDD page (first view after the deposit, then
``--samples`` views) and ``sinp_occurrence_map``. The anonymous page cache is off (ttl 0): every
answer is rendered. Everything created is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import pathlib
import random
import re
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))

from _ckan import ROOT, machine, percentiles, write_section  # noqa: E402
from occtax_data import taxa, territory_points  # noqa: E402

sys.path.insert(0, str(ROOT))

from tests.integration.test_sinp_records import CA, JDD  # noqa: E402

COLUMNS = [
    "resource_id",
    "package_id",
    "owner_org",
    "id_sinp_occtax",
    "id_origine",
    "statut_observation",
    "nom_cite",
    "cd_nom",
    "date_debut",
    "date_fin",
    "observateur",
    "geom",
    "nature_objet_geo",
    "ds_publique",
    "statut_source",
    "organisme_gestionnaire",
    "dee_floutage",
    "diffusion_niveau_precision",
]


def occurrences_csv(path, rows: int, resource_id: str, package_id: str, org_id: str, seed: int = 15) -> None:
    rnd = random.Random(seed)
    species = taxa()
    points = territory_points(rows, seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i, (lon, lat) in enumerate(points):
            cd_nom, name = species[rnd.randrange(len(species))]
            date = f"{rnd.randint(1995, 2025)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            private = rnd.random() < 0.2
            out.writerow(
                [
                    resource_id,
                    package_id,
                    org_id,
                    str(uuid.UUID(int=rnd.getrandbits(128))).upper(),
                    f"bench-{i}",
                    "Pr",
                    name,
                    cd_nom,
                    date,
                    date,
                    "MARTIN Léa (LPO Bourgogne-Franche-Comté)",
                    f"SRID=4326;POINT({lon:.6f} {lat:.6f})",
                    "St",
                    "Pr" if private else "Pu",
                    "Te",
                    "LPO Bourgogne-Franche-Comté",
                    "NON",
                    rnd.choice(["0", "1", "2"]) if private else "",
                ]
            )


@contextlib.contextmanager
def ckan_app_without_page_cache(ini: str):
    """``_ckan.ckan_app`` with the anonymous page cache off: every answer is rendered."""
    from ckan.cli import CKANConfigLoader
    from ckan.config.middleware import make_app

    conf = CKANConfigLoader(ini).get_config()
    conf["ckanext.sinp.page_cache.ttl"] = "0"
    app = make_app(conf)
    with app._wsgi_app.test_request_context():
        yield app


def logged_in(app, name: str, password: str):
    """A test client holding the session of ``name`` (logged in through the login form, as a person)."""
    client = app.test_client()
    form = client.get("/user/login").get_data(as_text=True)
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form)
    data = {"login": name, "password": password, **({"_csrf_token": csrf.group(1)} if csrf else {})}
    client.post("/user/login", data=data)
    return client


def fresh_identity() -> None:
    """The bench runs inside one pushed request context, whose ``g`` the test client's requests
    share: flask-login caches the user it loaded in ``g._login_user``, so without this every
    request after the producer's login would be served as the producer, the anonymous ones too."""
    import flask

    flask.g.pop("_login_user", None)


def timed(client, url: str, headers: dict, expect: str) -> float:
    fresh_identity()
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - start) * 1000
    body = response.get_data(as_text=True)
    if response.status_code != 200 or expect not in body:
        raise SystemExit(f"{url}: {response.status_code}, « {expect} » absent")
    return elapsed


def producer_with_ca(tk, site: dict, tag: str) -> tuple[str, dict, dict, dict]:
    """(password, user, organisation, CA): a producer, editor of its organisation, and a CA of it."""
    password = f"Banc-d-essai-{tag}-{tag}"
    user = tk.get_action("user_create")(
        dict(site),
        {"name": f"bench-producer-{tag}", "email": f"{tag}@bench.invalid", "password": password},
    )
    org = tk.get_action("organization_create")(
        dict(site),
        {
            "name": f"bench-org-{tag}",
            "title": "LPO Bourgogne-Franche-Comté (banc d'essai)",
            "users": [{"name": user["name"], "capacity": "editor"}],
        },
    )
    ca = tk.get_action("package_create")(dict(site), {**CA, "name": f"bench-ca-{tag}", "owner_org": org["id"]})
    return password, user, org, ca


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument(
        "--no-before", action="store_true", help="skip the rows measuring what it was before (long at 1 M rows)"
    )
    parser.add_argument(
        "--ini",
        default=str(ROOT / "var" / "test.ini"),
        help="CKAN configuration (what is created is removed at the end)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with ckan_app_without_page_cache(args.ini) as app:
        import ckan.model as model
        import ckan.plugins.toolkit as tk

        from ckanext.sinp.occurrences import store

        site = {"user": tk.get_action("get_site_user")({"ignore_auth": True}, {})["name"], "ignore_auth": True}
        tag = uuid.uuid4().hex[:6]
        password, user, org, ca = producer_with_ca(tk, site, tag)
        full, empty = (
            tk.get_action("package_create")(
                dict(site),
                {
                    **JDD,
                    "name": f"bench-jdd-{kind}-{tag}",
                    "title": f"{JDD['title']} ({kind})",
                    "owner_org": org["id"],
                    "cadre": ca["sinp_uuid"],
                    "private": False,
                },
            )
            for kind in ("50k", "vide")
        )
        resource_id = str(uuid.uuid4())
        engine = model.meta.engine
        try:
            with tempfile.NamedTemporaryFile(suffix=".csv") as occ, tempfile.NamedTemporaryFile(suffix=".csv") as err:
                occurrences_csv(occ.name, args.rows, resource_id, full["id"], org["id"])
                with open(err.name, "w", encoding="utf-8") as fh:
                    fh.write("resource_id,seq,row,column,code,category,blocking,message,value\n")
                with engine.begin() as conn:
                    store.queue_deposit(conn, resource_id, full["id"], owner_org=org["id"])
                start = time.perf_counter()
                written = store.integrate(engine, resource_id, occ.name, err.name, {"status": "done", "progress": 1.0})
                integrate_s = time.perf_counter() - start
            print(f"{written} observations intégrées en {integrate_s:.1f} s")
            # the summaries computed by the task that follows the integration (no visitor pays them)
            from ckanext.sinp.occurrences import aggregates

            start = time.perf_counter()
            with engine.begin() as conn:
                aggregates.precompute(conn, full["id"])
            precompute_s = time.perf_counter() - start
            print(f"résumés (public, complet) précalculés en {precompute_s:.2f} s")
            with engine.connect() as conn:
                region = conn.execute(
                    store.text("SELECT ST_AsText(ST_Envelope(ST_Collect(geom))) FROM sinp_territoire")
                ).scalar()
            with engine.connect() as conn:
                layers = dict(
                    conn.execute(
                        store.text(
                            "SELECT public_layer, count(*) FROM sinp_occurrence WHERE package_id = :p GROUP BY 1"
                        ),
                        {"p": full["id"]},
                    ).all()
                )
            readers = {"anonyme": (app.test_client(), {}), "producteur": (logged_in(app, user["name"], password), {})}
            api = "/api/3/action/sinp_occurrence_map?jdd="
            count = f"{args.rows:,}".replace(",", " ")
            cases = [
                (f"page du JDD ({count} obs.)", f"/jdd/{full['name']}", "regroupées par maille de 10 km"),
                (f"appel de la carte ({count} obs.)", api + full["id"], '"mode": "maille"'),
                ("page du JDD sans données (pair)", f"/jdd/{empty['name']}", empty["title"]),
            ]
            territory = "/api/3/action/sinp_territory_taxa?" + urllib.parse.urlencode({"polygone": region or ""})
            if region:
                cases.append(("/territoire, région entière (action)", territory, '"success": true'))
            results, first = {}, {}
            for reader, (client, headers) in readers.items():
                for label, url, expect in cases:
                    if reader == "producteur" and url == f"/jdd/{full['name']}":
                        expect = "Appliquer l'emprise diffusable"  # the page as the producer sees it
                    first[(reader, label)] = timed(client, url, headers, expect)
            # interleaved (one view of each row per round): the peer meets the same load as the JDD
            samples: dict = {}
            for _ in range(args.samples):
                for reader, (client, headers) in readers.items():
                    for label, url, expect in cases:
                        samples.setdefault((reader, label), []).append(timed(client, url, headers, expect))
            results.update({key: percentiles(values) for key, values in samples.items()})
            size = len(readers["anonyme"][0].get(api + full["id"]).get_data())
            # the same page computed from the rows at every view (no stored summary): what it was before
            stored = aggregates.ready
            aggregates.ready = lambda conn: False
            try:
                for reader, (client, headers) in [] if args.no_before else readers.items():
                    label, url, expect = cases[0]
                    label = label + ", calculée à chaque vue"
                    first[(reader, label)] = timed(client, url, headers, expect)
                    samples = [timed(client, url, headers, expect) for _ in range(max(5, args.samples // 4))]
                    results[(reader, label)] = percentiles(samples)
            finally:
                aggregates.ready = stored
            # /territoire with PostgreSQL's JIT left on, as before #20
            if region and not args.no_before:
                no_jit = aggregates.without_jit
                aggregates.without_jit = lambda conn: None
                try:
                    for reader, (client, headers) in readers.items():
                        label = "/territoire, région entière, JIT de PostgreSQL actif (avant #20)"
                        first[(reader, label)] = timed(client, territory, headers, '"success": true')
                        samples = [
                            timed(client, territory, headers, '"success": true')
                            for _ in range(max(5, args.samples // 4))
                        ]
                        results[(reader, label)] = percentiles(samples)
                finally:
                    aggregates.without_jit = no_jit
        finally:
            with engine.begin() as conn:
                store.delete_package(conn, full["id"])
            for pkg in (full, empty, ca):
                tk.get_action("dataset_purge")(dict(site), {"id": pkg["id"]})
            tk.get_action("organization_purge")(dict(site), {"id": org["id"]})
            tk.get_action("user_delete")(dict(site), {"id": user["id"]})

    load_after = os.getloadavg()[0]
    for (reader, label), p in results.items():
        print(
            f"{reader:10} {label:36} first {first[(reader, label)]:6.0f} ms  p50 {p['p50']:6.0f}  p95 {p['p95']:6.0f}"
        )
    layer_names = {0: "précise", 1: "commune", 2: "maille", 3: "département", 4: "aucune"}
    lines = [
        f"## The page of a JDD with {args.rows:,} observations (`bench/bench_jdd_page.py`)".replace(",", " "),
        "",
        f"Machine: {machine()}. In-process CKAN on {pathlib.Path(args.ini).name}, anonymous page cache off (every answer rendered), "
        f"{args.samples} views per row after the first, interleaved; load average {load_before:.1f} before, {load_after:.1f} after (the machine "
        f"is shared: compare with the peer of the same run). {written} generated observations integrated by "
        f"`store.integrate` in {integrate_s:.1f} s; what the public gets: "
        + ", ".join(f"{layer_names.get(k, k)} {v}" for k, v in sorted(layers.items()))
        + ". Goal (#15): page and map call p95 ≤ 300 ms. The peer in the same run is a published JDD "
        "without data (stock dataset page and our empty-store checks). The figures and the per-cell map come "
        "from `sinp_occurrence_summary`, computed once per generation of the JDD's data by "
        f"`aggregates.precompute` right after the integration ({precompute_s:.2f} s for both readings, public "
        "and full, as the task following the integration runs it: the « first view » column no longer pays "
        "it); the rows « calculée à chaque vue » measure the same page without the stored summary, as it was "
        "before #15. /territoire: `sinp_territory_taxa` over the envelope of the whole region (the page "
        "renders its result), with PostgreSQL's JIT off for its transaction and, as the peer, on (as before "
        f"#20). Map answer: {size / 1024:.0f} KiB (1.8 MB of points before).",
        "",
        "| reader | request | first view (ms) | p50 (ms) | p95 (ms) |",
        "|---|---|---|---|---|",
    ]
    for (reader, label), p in results.items():
        lines.append(f"| {reader} | {label} | {first[(reader, label)]:.0f} | {p['p50']:.0f} | {p['p95']:.0f} |")
    write_section("jdd-page" if args.rows == 50_000 else f"jdd-page-{args.rows}", "\n".join(lines))


if __name__ == "__main__":
    main()
