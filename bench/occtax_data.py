"""Generated occurrence deposits (standard v2.0 columns) for the QC benchmarks.

    var/venv/ckan/bin/python bench/occtax_data.py --rows 1000000 --out /tmp/occ-1M.csv

Rows are clean except a planted share (``--error-rate``, default 1 %) spread over the rule
families (types, codes, dates, counts, geometry, taxa). Taxa are drawn from the TAXREF extract
shipped in schemas/referentiels/taxref so that referential checks find them.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLUMNS = [
    "idSINPOccTax",
    "idOrigine",
    "statutObservation",
    "nomCite",
    "cdNom",
    "dateDebut",
    "dateFin",
    "heureDebut",
    "heureFin",
    "observateur",
    "determinateur",
    "geometrie",
    "natureObjetGeo",
    "precisionGeometrie",
    "altitudeMin",
    "altitudeMax",
    "denombrementMin",
    "denombrementMax",
    "objetDenombrement",
    "typeDenombrement",
    "dSPublique",
    "statutSource",
    "organismeGestionnaireDonnee",
    "dEEFloutage",
    "occEtatBiologique",
    "occSexe",
    "occStadeDeVie",
    "commentaire",
]
OBSERVERS = [
    "DUPONT Jean (CEN Bourgogne)",
    "MARTIN Léa (LPO Bourgogne-Franche-Comté)",
    "BERNARD Luc (Indépendant)",
    "PETIT Anne (Société d'histoire naturelle d'Autun)",
    "ROUX Marc (ONF), GIRARD Julie (ONF)",
    "INCONNU (CBN Franche-Comté)",
]
ORGS = ["CEN Bourgogne", "LPO Bourgogne-Franche-Comté", "CBN Franche-Comté", "ONF", "SHNA"]


def taxa() -> list[tuple[int, str]]:
    sys.path.insert(0, str(ROOT / "ckanext-sinp"))
    from ckanext.sinp.referentials.taxref import TaxrefReader

    path = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"
    with TaxrefReader(path) as reader:
        return [(r.cd_nom, r.lb_nom) for r in reader if r.rang in ("ES", "SSES")]


def territory_points(n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` random points inside the territory outline shipped in schemas/ (2 km from its edge)."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    sys.path.insert(0, str(ROOT / "ckanext-sinp"))
    from ckanext.sinp.referentials import geo

    path = ROOT / "schemas" / "referentiels" / "territoire" / "bourgogne-franche-comte.geojson"
    to_wgs = Transformer.from_crs(2154, 4326, always_xy=True)
    inner = shapely.buffer(geo.to_lambert93(geo.read_territory(path).geometry), -2000)
    shapely.prepare(inner)
    x0, y0, x1, y1 = inner.bounds
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    while sum(len(x) for x in xs) < n:
        x = rng.uniform(x0, x1, 2 * n)
        y = rng.uniform(y0, y1, 2 * n)
        keep = shapely.contains_xy(inner, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
    lon, lat = to_wgs.transform(np.concatenate(xs)[:n], np.concatenate(ys)[:n])
    return list(zip(lon.tolist(), lat.tolist()))


def row(i: int, rnd: random.Random, species, uuid_hex, point) -> list[str]:
    cd_nom, name = species[rnd.randrange(len(species))]
    y = rnd.randint(1990, 2025)
    m = rnd.randint(1, 12)
    d = rnd.randint(1, 28)
    lon, lat = point
    n_min = rnd.randint(1, 20)
    h = rnd.randint(6, 20)
    values = [
        uuid_hex(),
        f"OBS-{i}",
        "Pr",
        name,
        str(cd_nom),
        f"{y}-{m:02d}-{d:02d}",
        f"{y}-{m:02d}-{d:02d}",
        f"{h:02d}:00",
        f"{h + 1:02d}:30",
        OBSERVERS[i % len(OBSERVERS)],
        "",
        f"POINT({lon:.6f} {lat:.6f})",
        "St",
        str(rnd.choice((5, 10, 50, 100))),
        str(200 + i % 300),
        str(250 + i % 300),
        str(n_min),
        str(n_min + 3),
        "IND",
        "Co",
        "Pu",
        "Te",
        ORGS[i % len(ORGS)],
        "",
        "2",
        rnd.choice(("1", "2", "3")),
        rnd.choice(("1", "2", "3")),
        "",
    ]
    return values


PLANTS = [
    (5, "2024-02-30"),  # C5 bad date
    (2, "Present"),  # C6 bad code
    (4, "999999999"),  # C11 unknown taxon
    (11, "POINT(4.8)"),  # C9 unreadable WKT
    (11, "POINT(2.35 48.85)"),  # K18 outside the territory
    (16, "40"),  # K3 min > max
]


def generate(rows: int, out: pathlib.Path, error_rate: float = 0.01, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    species = taxa()
    planted = 0
    points = territory_points(min(rows, 1_000_000), seed)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        fh.write(";".join(COLUMNS) + "\n")
        buf = []
        for i in range(1, rows + 1):
            values = row(
                i,
                rnd,
                species,
                lambda: (
                    "%08X-%04X-4%03X-8%03X-%012X"
                    % (
                        rnd.getrandbits(32),
                        rnd.getrandbits(16),
                        rnd.getrandbits(12),
                        rnd.getrandbits(12),
                        rnd.getrandbits(48),
                    )
                ),
                points[(i - 1) % len(points)],
            )
            if rnd.random() < error_rate:
                col, val = PLANTS[rnd.randrange(len(PLANTS))]
                values[col] = val
                planted += 1
            buf.append(";".join(values))
            if len(buf) == 50000:
                fh.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            fh.write("\n".join(buf) + "\n")
    return {"rows": rows, "planted": planted, "bytes": out.stat().st_size, "species": len(species)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--error-rate", type=float, default=0.01)
    args = parser.parse_args()
    started = time.perf_counter()
    print(generate(args.rows, args.out, args.error_rate), f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
