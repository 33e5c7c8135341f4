#!/usr/bin/env python3
"""Generates the commune and département referentials from Etalab's official COG list.

Source: the npm package ``@etalab/decoupage-administratif`` (Etalab / DINUM), version pinned below
(6.0.0: code officiel géographique 2026 of the INSEE), files ``package/data/communes.json`` and
``package/data/departements.json`` of its tarball. The tarball is fetched with
``npm pack`` into a cache directory (skipped when already there), its sha256 checked, and read with
``tarfile``: no Node runtime, nothing installed.

Written (UTF-8, LF, sorted by code):

- ``communes/communes_france.csv`` — ``code;nom;departement``: every **commune actuelle** of
  France whose département our loader and the occurrence standard know (metropolitan France,
  Corsica, the DROM and 975/977/978). Not written: the communes déléguées and associées (former
  communes merged into a commune nouvelle: their codes are not communes of the COG's current
  list), the arrondissements municipaux of Paris, Lyon and Marseille (the commune is 75056, 69123,
  13055) and the collectivités of the Pacific and the TAAF (984, 986 to 989: outside the INSEE
  commune list). No ``region`` column: the file is loaded whole whatever ``--region`` says.
- ``departements/departements_bfc.csv`` — ``code;nom;region;chef_lieu``: the départements of
  Bourgogne-Franche-Comté (région 27), the platform's territory.
- ``communes/source.json`` — package, version, tarball sha256, licence, counts, what was left out.

Usage:  python3 schemas/referentiels/communes/generate.py [--cache-dir DIR] [--output-dir DIR] [--tarball FILE]

``--output-dir`` is the ``referentiels`` folder (default: the one of this file). Standard library
only. Output is deterministic: same tarball, same bytes.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tarfile

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
TARBALL_NAME = f"etalab-decoupage-administratif-{VERSION}.tgz"
TARBALL_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"
COMMUNES_MEMBER = "package/data/communes.json"
DEPARTEMENTS_MEMBER = "package/data/departements.json"
COG_YEAR = "2026"  # the package's README: « 2026 → 6.0.0 »
LICENCE = "Données : Licence Ouverte (Etalab) ; code du paquet : MIT (README et LICENSE du paquet)"

REGION = "27"  # Bourgogne-Franche-Comté
COMMUNES_FILE = "communes/communes_france.csv"
DEPARTEMENTS_FILE = "departements/departements_bfc.csv"
SOURCE_FILE = "communes/source.json"

HERE = pathlib.Path(__file__).resolve().parent
REFERENTIELS = HERE.parent
REPO_ROOT = HERE.parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "cache" / "npm"

# the départements of ckanext/sinp/referentials/geo.py (_DEPARTEMENT_RE), written out here so that
# the generator stays standard-library only
_DEPARTEMENT = re.compile(r"(?:0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-8])\Z")
_COMMUNE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}\Z")
KEPT_TYPE = "commune-actuelle"


# --------------------------------------------------------------------------- tarball


def ensure_tarball(cache_dir: pathlib.Path) -> pathlib.Path:
    """The path of the pinned tarball, fetched with ``npm pack`` when it is not cached."""
    tarball = cache_dir / TARBALL_NAME
    if not tarball.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}", "--pack-destination", str(cache_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if not tarball.exists():
            raise SystemExit(f"npm pack did not produce {tarball}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        raise SystemExit(f"{tarball}: sha256 {digest} differs from the pinned {TARBALL_SHA256}")
    return tarball


def read_members(tarball: pathlib.Path) -> tuple[list[dict], list[dict]]:
    with tarfile.open(tarball, "r:gz") as tar:
        communes = json.load(tar.extractfile(COMMUNES_MEMBER))
        departements = json.load(tar.extractfile(DEPARTEMENTS_MEMBER))
    return communes, departements


# --------------------------------------------------------------------------- building


def _clean(value, what: str, entry: dict) -> str:
    text = str(value or "").strip()
    if not text or any(c in text for c in ";\n\r\t"):
        raise SystemExit(f"{what} inattendu dans {entry!r}")
    return text


def build(communes: list[dict], departements: list[dict]) -> dict[str, str]:
    """{relative path: content} of the generated files, from the two JSON lists of the package."""
    kept: dict[str, tuple[str, str]] = {}
    left_out: collections.Counter = collections.Counter()
    for entry in communes:
        kind = entry.get("type")
        if kind != KEPT_TYPE:
            left_out[kind] += 1
            continue
        code = _clean(entry.get("code"), "code", entry)
        departement = _clean(entry.get("departement"), "département", entry)
        if not _DEPARTEMENT.match(departement):
            left_out[f"commune-actuelle du département {departement}"] += 1
            continue
        if not _COMMUNE.match(code) or not code.startswith(departement) or code in kept:
            raise SystemExit(f"code commune incohérent ou en double : {entry!r}")
        kept[code] = (_clean(entry.get("nom"), "nom", entry), departement)
    lines = ["code;nom;departement"] + [f"{code};{nom};{dep}" for code, (nom, dep) in sorted(kept.items())]
    deps = []
    for entry in departements:
        if entry.get("region") != REGION:
            continue
        code = _clean(entry.get("code"), "code", entry)
        chef_lieu = _clean(entry.get("chefLieu"), "chef-lieu", entry)
        deps.append(f"{code};{_clean(entry.get('nom'), 'nom', entry)};{REGION};{chef_lieu}")
    if not deps:
        raise SystemExit(f"aucun département de la région {REGION}")
    by_dep = collections.Counter(dep for _, dep in kept.values())
    source = {
        "paquet": PACKAGE,
        "version": VERSION,
        "cog": COG_YEAR,
        "archive": TARBALL_NAME,
        "sha256": TARBALL_SHA256,
        "obtenu_par": f"npm pack {PACKAGE}@{VERSION}",
        "fichiers_lus": [COMMUNES_MEMBER, DEPARTEMENTS_MEMBER],
        "licence": LICENCE,
        "producteur": "Etalab (DINUM), d'après le code officiel géographique de l'INSEE",
        "generateur": "schemas/referentiels/communes/generate.py",
        "communes": {
            "fichier": COMMUNES_FILE,
            "gardees": len(kept),
            "type_garde": KEPT_TYPE,
            "ecartees": dict(sorted(left_out.items())),
            "region_bfc": sum(n for dep, n in by_dep.items() if dep in {d.split(";")[0] for d in deps}),
        },
        "departements": {"fichier": DEPARTEMENTS_FILE, "region": REGION, "gardes": len(deps)},
    }
    return {
        COMMUNES_FILE: "\n".join(lines) + "\n",
        DEPARTEMENTS_FILE: "\n".join(["code;nom;region;chef_lieu", *sorted(deps)]) + "\n",
        SOURCE_FILE: json.dumps(source, ensure_ascii=False, indent=2) + "\n",
    }


def write(files: dict[str, str], output_dir: pathlib.Path) -> None:
    for relative, content in files.items():
        path = output_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=pathlib.Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--output-dir", type=pathlib.Path, default=REFERENTIELS)
    parser.add_argument("--tarball", type=pathlib.Path, help="the pinned tarball, already downloaded")
    args = parser.parse_args(argv)
    tarball = args.tarball or ensure_tarball(args.cache_dir)
    if args.tarball and hashlib.sha256(tarball.read_bytes()).hexdigest() != TARBALL_SHA256:
        raise SystemExit(f"{tarball}: sha256 differs from the pinned {TARBALL_SHA256}")
    files = build(*read_members(tarball))
    write(files, args.output_dir)
    for relative in files:
        print(args.output_dir / relative)
    return 0


if __name__ == "__main__":
    sys.exit(main())
