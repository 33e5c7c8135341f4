"""Importing 1 000 JDD from one INPN MTD XML document (goal: ≤ 15 s, issue #20).

Peer, in the same run: the same 1 000 JDD created one by one with CKAN's stock
``package_create`` (what a script or a harvester without our import would do).
GeoNature's mtd_sync, the anchor of the issue, cannot run here (no GeoNature).

    var/venv/ckan/bin/python bench/bench_mtd_import.py [--count 1000]
"""

from __future__ import annotations

import argparse
import copy
import time
import uuid

from _ckan import ckan_app, machine, reset_catalogue, write_section

CA = {
    "type": "ca",
    "title": "Programme de suivi des chiroptères de Bourgogne-Franche-Comté",
    "notes": "Cadre d'acquisition du banc d'essai.",
    "objectifs": ["9"],
    "est_meta_cadre": "false",
    "niveau_territorial": "5",
    "territoires": ["METROP"],
    "date_lancement": "2020-01-01",
    "acteurs": [{"organisme": "CEN Bourgogne-Franche-Comté", "mail": "bench@cen.invalid", "role": "1"}],
    "date_creation_mtd": "2020-01-01",
}


def jdd(i: int, ca_uuid: str) -> dict:
    return {
        "type": "jdd",
        "sinp_uuid": str(uuid.uuid4()).upper(),
        "cadre": ca_uuid,
        "title": f"Comptages de chiroptères, site n° {i}",
        "libelle_court": f"CHIRO_{i:05d}",
        "notes": f"Jeu de données n° {i} du banc d'essai : comptages hivernaux en gîte souterrain.",
        "tag_string": "chiroptères,comptage",
        "type_donnees": "1",
        "objectif_jdd": "5.2",
        "domaine_terrestre": "true",
        "domaine_marin": "false",
        "territoires": ["METROP"],
        "borne_ouest": str(3.0 + (i % 40) / 10),
        "borne_est": str(3.2 + (i % 40) / 10),
        "borne_sud": str(46.2 + (i % 20) / 10),
        "borne_nord": str(46.4 + (i % 20) / 10),
        "methodes_recueil": ["1"],
        "date_creation": "2021-01-01",
        "contacts_jdd": [
            {"organisme": "CEN Bourgogne-Franche-Comté", "mail": "bench@cen.invalid", "role": "1"},
            {"nom_prenom": f"OBSERVATEUR N{i}", "role": "6"},
        ],
        "protocoles": [{"libelle": "Comptage hivernal", "type": "1", "url": "https://example.org/p"}],
    }


def load_average() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()

    load_start = load_average()
    with ckan_app():
        import ckan.plugins.toolkit as tk
        from ckan.tests import factories

        from ckanext.sinp.domain import mtd

        reset_catalogue()
        admin = factories.Sysadmin()
        org = factories.Organization()
        ca = copy.deepcopy(CA)
        ca["sinp_uuid"] = str(uuid.uuid4()).upper()
        records = [jdd(i, ca["sinp_uuid"]) for i in range(args.count)]
        document = mtd.to_xml_many([("ca", ca)] + [("jdd", r) for r in records])

        context = {"user": admin["name"]}
        started = time.perf_counter()
        result = tk.get_action("sinp_mtd_import")(dict(context), {"xml": document, "owner_org": org["id"]})
        ours = time.perf_counter() - started
        assert len(result["records"]) == args.count + 1
        started = time.perf_counter()
        again = tk.get_action("sinp_mtd_import")(dict(context), {"xml": document, "owner_org": org["id"]})
        ours_again = time.perf_counter() - started
        assert {r["action"] for r in again["records"]} == {"updated"}

        # peer: stock package_create, one record at a time, same content
        reset_catalogue()
        context = {"user": factories.Sysadmin()["name"]}
        org = factories.Organization()
        ca_peer = dict(ca, sinp_uuid=str(uuid.uuid4()).upper(), name="ca-peer", owner_org=org["id"])
        tk.get_action("package_create")(dict(context), ca_peer)
        started = time.perf_counter()
        for i, r in enumerate(records):
            data = dict(
                r,
                sinp_uuid=str(uuid.uuid4()).upper(),
                cadre=ca_peer["sinp_uuid"],
                name=f"jdd-peer-{i}",
                owner_org=org["id"],
            )
            tk.get_action("package_create")(dict(context), data)
        peer = time.perf_counter() - started
        reset_catalogue()

    load_end = load_average()
    size = len(document) / 1024 / 1024
    body = f"""## Importing {args.count} JDD from one MTD document (`bench/bench_mtd_import.py`)

Machine: {machine()}. One document of {size:.1f} MiB (1 CA + {args.count} JDD, every JDD with bbox,
contacts, protocol), imported in-process on the test database and Solr core, all in one transaction,
then indexed. Goal: ≤ 15 s. Load average at the start and the end of the run: {load_start} / {load_end}
(the machine is shared: compare with the peer of the same run).

| what | time | records/s |
|---|---|---|
| `sinp_mtd_import`, first import (creates) | {ours:.1f} s | {(args.count + 1) / ours:.0f} |
| `sinp_mtd_import`, same document again (updates, nothing created) | {ours_again:.1f} s | {(args.count + 1) / ours_again:.0f} |
| peer: CKAN's stock `package_create`, one call per JDD (same content, no MTD parsing) | {peer:.1f} s | {args.count / peer:.0f} |

Ratio ours / peer (first import): {ours / peer:.2f}. The anchor of the issue, GeoNature's mtd_sync, cannot run here.
"""
    write_section("mtd-import", body)
    print(body)


if __name__ == "__main__":
    main()
