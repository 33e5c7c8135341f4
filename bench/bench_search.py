"""``package_search`` with the SINP facets at 20 000 CA/JDD (goal: p50 ≤ 100 ms).

The 20 000 records are indexed in the test Solr core through CKAN's own indexer (which runs the
SINP plugin's ``before_dataset_index``), in batches; they are not written to PostgreSQL, since
``package_search`` answers from Solr alone. Peer, in the same run: the same queries with CKAN's
stock facets (organization, groups, tags, res_format, license_id) instead of the SINP ones.

    var/venv/ckan/bin/python bench/bench_search.py [--count 20000] [--queries 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
import uuid

from _ckan import ckan_app, machine, percentiles, reset_catalogue, write_section

SINP_FACETS = [
    "vocab_sinp_type",
    "organization",
    "vocab_sinp_volet",
    "vocab_sinp_territoire",
    "vocab_sinp_type_donnees",
    "vocab_sinp_objectif_jdd",
    "vocab_sinp_annee",
    "tags",
    "license_id",
]
STOCK_FACETS = ["organization", "groups", "tags", "res_format", "license_id"]
WORDS = [
    "chiroptères",
    "odonates",
    "amphibiens",
    "orchidées",
    "oiseaux",
    "mares",
    "forêts",
    "Morvan",
    "Doubs",
    "Jura",
    "Bresse",
    "Saône",
    "pelouses",
    "tourbières",
    "gîtes",
    "hivernage",
]
OBJECTIFS_JDD = ["1.1", "1.2", "1.3", "3.6", "5.2", "6.1", "7.1"]


def record(i: int, orgs: list[dict], cas: list[str]) -> dict:
    rnd = random.Random(i)
    kind = "ca" if i % 10 == 0 else "jdd"
    org = orgs[i % len(orgs)]
    words = rnd.sample(WORDS, 3)
    now = dt.datetime(2026, 1, 1).isoformat()
    base = {
        "id": str(uuid.UUID(int=rnd.getrandbits(128))),
        "name": f"bench-{kind}-{i}",
        "type": kind,
        "title": f"{'Programme' if kind == 'ca' else 'Relevés'} {' '.join(words)} n° {i}",
        "notes": f"Enregistrement de banc d'essai sur les {words[0]} ({words[1]}, {words[2]}).",
        "owner_org": org["id"],
        "organization": org,
        "private": False,
        "state": "active",
        "metadata_created": now,
        "metadata_modified": now,
        "license_id": "etalab-2.0",
        "tags": [{"name": w} for w in words],
        "resources": [],
        "groups": [],
        "extras": [],
        "sinp_uuid": str(uuid.UUID(int=rnd.getrandbits(128))).upper(),
        "territoires": ["METROP"],
    }
    if kind == "ca":
        base.update(
            {
                "objectifs": ["8"],
                "volets_sinp": ["1"],
                "niveau_territorial": "5",
                "date_lancement": f"{2010 + i % 15}-01-01",
                "est_meta_cadre": "false",
                "acteurs": [{"organisme": org["title"], "role": "1"}],
            }
        )
    else:
        w = 3.0 + rnd.random() * 3.5
        s = 46.2 + rnd.random() * 1.8
        geometry = {
            "type": "Polygon",
            "coordinates": [[[w, s], [w + 0.2, s], [w + 0.2, s + 0.2], [w, s + 0.2], [w, s]]],
        }
        base.update(
            {
                "cadre": cas[i % len(cas)],
                "libelle_court": f"BENCH_{i}",
                "type_donnees": "1",
                "objectif_jdd": OBJECTIFS_JDD[i % len(OBJECTIFS_JDD)],
                "domaine_terrestre": "true",
                "domaine_marin": "false",
                "borne_ouest": str(w),
                "borne_est": str(w + 0.2),
                "borne_sud": str(s),
                "borne_nord": str(s + 0.2),
                "spatial": json.dumps(geometry),
                "contacts_jdd": [{"organisme": org["title"], "nom_prenom": f"OBSERVATEUR {i}", "role": "1"}],
            }
        )
    return base


def index_all(records: list[dict]) -> float:
    """Indexes through CKAN's PackageSearchIndex, sending the Solr documents in batches."""
    from ckan.lib.search import common
    from ckan.lib.search import index as search_index

    collected = []

    class Collector:
        def add(self, docs=(), commit=False, **kwargs):
            collected.extend(docs)

    started = time.perf_counter()
    real = search_index.make_connection
    search_index.make_connection = lambda *a, **k: Collector()
    try:
        indexer = search_index.PackageSearchIndex()
        for rec in records:
            indexer.index_package(dict(rec, with_custom_schema=rec), defer_commit=True)
    finally:
        search_index.make_connection = real
    conn = common.make_connection()
    for start in range(0, len(collected), 500):
        conn.add(docs=collected[start : start + 500], commit=False)
    conn.commit()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    with ckan_app():
        import ckan.plugins.toolkit as tk

        reset_catalogue()
        orgs = [
            {
                "id": str(uuid.uuid4()),
                "name": f"structure-{k}",
                "title": f"Structure productrice {k}",
                "type": "organization",
                "is_organization": True,
                "state": "active",
            }
            for k in range(25)
        ]
        cas = [str(uuid.UUID(int=random.Random(i).getrandbits(128))).upper() for i in range(0, args.count, 10)]
        records = [record(i, orgs, cas) for i in range(args.count)]
        seconds = index_all(records)
        total = tk.get_action("package_search")({"ignore_auth": True}, {"rows": 0})["count"]
        assert total == args.count, total

        rnd = random.Random(42)
        queries = []
        for n in range(args.queries):
            kind = n % 4
            if kind == 0:
                queries.append({"q": ""})
            elif kind == 1:
                queries.append({"q": rnd.choice(WORDS)})
            elif kind == 2:
                queries.append({"q": rnd.choice(WORDS), "fq": 'vocab_sinp_type:"Jeu de données"'})
            else:
                w, s = 3 + rnd.random() * 3, 46.3 + rnd.random() * 1.5
                queries.append({"q": "", "ext_bbox": f"{w},{s},{w + 0.5},{s + 0.5}"})

        def run(facets):
            timings = []
            for query in queries:
                data = {"rows": 20, "facet.field": json.dumps(facets), "facet.limit": 50}
                data.update({k: v for k, v in query.items() if k != "ext_bbox"})
                if "ext_bbox" in query:
                    data["extras"] = {"ext_bbox": query["ext_bbox"]}
                started = time.perf_counter()
                tk.get_action("package_search")({"ignore_auth": True}, data)
                timings.append((time.perf_counter() - started) * 1000)
            return percentiles(timings)

        run(SINP_FACETS)  # warm-up: Solr caches, JIT
        ours = run(SINP_FACETS)
        peer = run(STOCK_FACETS)
        reset_catalogue()

    body = f"""## `package_search` with facets at {args.count} CA/JDD (`bench/bench_search.py`)

Machine: {machine()}. {args.count} public records (10 % CA, 90 % JDD with a bbox) indexed in the test
Solr core by CKAN's indexer with the SINP plugin ({seconds:.0f} s, batches of 500). {args.queries} queries,
20 rows each, in-process `package_search`: a quarter each of empty query, one word, one word + type
filter, map (`ext_bbox`). Goal: p50 ≤ 100 ms.

| facets | p50 | p95 | max |
|---|---|---|---|
| SINP facets (type, producer, volet, territory, data type, JDD objective, year, tags, licence) | {ours["p50"]:.1f} ms | {ours["p95"]:.1f} ms | {ours["max"]:.1f} ms |
| peer: CKAN's stock facets (organization, groups, tags, res_format, license_id) | {peer["p50"]:.1f} ms | {peer["p95"]:.1f} ms | {peer["max"]:.1f} ms |

Ratio ours / peer (p50): {ours["p50"] / peer["p50"]:.2f}.
"""
    write_section("search", body)
    print(body)


if __name__ == "__main__":
    main()
