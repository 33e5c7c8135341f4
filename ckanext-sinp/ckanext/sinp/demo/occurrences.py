"""A generated but realistic occurrence set: the demo's observations (``ckan sinp demo-data``) and
the data of the indicator, map-count and data-flow tests. Pure Python (no ``import ckan``).

``generate(seed)``: seeded random, ~2 000 observations over 2014–2025 in four départements of
Bourgogne-Franche-Comté (21, 25, 39, 58; ``centres`` names others), several GROUP2_INPN groups
(taxa of the TAXREF extract), four JDD: three public ones of two producers and a private one. Some
observations are of sensitive taxa (*Euphydryas maturna*, *Cypripedium calceolus*: level 1 in the
default sensitivity referential, whatever the date or the status), some validated (levels 0 to 5),
some blurred by their producer (private data diffused at the commune, the maille or the
département), some not diffused at all. Invasive alien taxa (*Reynoutria japonica* 117096 and
*Ambrosia artemisiifolia* 81569, TAXREF FR = J; *Trachemys scripta* 77390, FR = I) spread over
more mailles year after year from a starting point. Each observation has a deposit date (the
observation date plus a delay), written as the row's ``created_at``. Same seed and ``now``, same
rows.

``write_csv`` gives the accepted-rows file of ``store.integrate`` (the platform's own
integration then computes cd_ref, groupe, dep, maille_calc, sensitivity and the public layer).
"""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import random
import uuid
from dataclasses import dataclass, field

from ckanext.sinp.domain.model import schemas_dir


def taxref_path() -> pathlib.Path:
    return schemas_dir() / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"


# département → (lon, lat) of a point well inside it
CENTRES = {"21": (4.75, 47.35), "25": (6.35, 47.15), "39": (5.65, 46.65), "58": (3.55, 47.10)}
# the demo: the eight départements of the region, with how far (degrees of longitude, latitude) the
# observations spread around the point (the Territoire de Belfort is small)
DEMO_CENTRES = {
    **{dep: (lon, lat, 0.3, 0.2) for dep, (lon, lat) in CENTRES.items()},
    "70": (6.10, 47.62, 0.3, 0.15),
    "71": (4.55, 46.65, 0.3, 0.2),
    "89": (3.55, 47.80, 0.3, 0.2),
    "90": (6.88, 47.65, 0.06, 0.05),
}
# common taxa, by group (TAXREF extract)
COMMON = (3764, 4001, 4564, 2623, 1966, 3807, 60015, 61153, 60585, 61057, 259, 351, 65141, 67606, 79319, 113432)
SENSITIVE = (53856, 94041)  # level 1 everywhere in the default referential
EEE = {117096: (4.9, 47.2), 81569: (5.0, 47.0), 77390: (4.6, 47.3)}  # starting point of each spread
YEARS = tuple(range(2014, 2026))
OBSERVERS = (
    "DUPONT Jean (LPO BFC)",
    "MARTIN Léa (CEN BFC)",
    "BERNARD Paul",
    "PETIT Claire (ONF)",
    "ROUX Marc",
    "LEROY Anne (SHNA)",
    "MOREAU Luc",
    "SIMON Eva",
)
# (kind, producer index, public)
JDDS = (("a1", 0, True), ("a2", 0, True), ("b1", 1, True), ("prive", 1, False))
HEADER = (
    "id_sinp_occtax",
    "id_origine",
    "nom_cite",
    "cd_nom",
    "date_debut",
    "date_fin",
    "geom",
    "code_departement",
    "observateur",
    "niv_val",
    "ds_publique",
    "diffusion_niveau_precision",
    "precision_geometrie",
    "statut_observation",
    "created_at",
    "row_number",
    "resource_id",
    "package_id",
    "owner_org",
)


@dataclass
class Obs:
    uuid: str
    jdd: str
    cd_nom: int
    date: dt.date
    dep: str
    lon: float
    lat: float
    observateur: str
    niv_val: str
    ds_publique: str
    diffusion: str
    precision: int | None
    created: dt.datetime
    statut: str = "Pr"  # statutObservation: « Pr » présent, « No » non observé (absence)
    commune: str = ""  # codeCommune (the demo's rows only: ``add_communes``)
    extra: dict = field(default_factory=dict)  # read back from the store: layer, sensi, maille


def taxref(path: pathlib.Path | None = None) -> dict[int, dict]:
    """cd_nom → {cd_ref, groupe, nom, fr} of the TAXREF extract."""
    out = {}
    with (path or taxref_path()).open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out[int(row["CD_NOM"])] = {
                "cd_ref": int(row["CD_REF"]),
                "groupe": row["GROUP2_INPN"] or None,
                "nom": row["LB_NOM"],
                "fr": row["FR"],
                "rang": row["RANG"],
            }
    return out


def _obs(rng, jdd, cd_nom, year, dep, lon, lat, now) -> Obs:
    day = dt.date(year, 3, 1) + dt.timedelta(days=rng.randrange(0, 240))
    # blurred by the producer (private data) or not diffused at all: a few percent each
    roll = rng.random()
    if roll < 0.78:
        ds, diffusion = "Pu", ""
    elif roll < 0.84:
        ds, diffusion = "Pr", "0"  # commune
    elif roll < 0.90:
        ds, diffusion = "Pr", "2"  # maille
    elif roll < 0.95:
        ds, diffusion = "Pr", "3"  # département
    else:
        ds, diffusion = "Pr", "4"  # aucune: never public
    delay = rng.choice((rng.randrange(0, 60), rng.randrange(60, 400), rng.randrange(400, 1200)))
    created = dt.datetime.combine(day + dt.timedelta(days=delay), dt.time(12), dt.timezone.utc)
    created = min(created, now - dt.timedelta(days=1))
    observers = rng.sample(OBSERVERS, rng.choice((1, 1, 1, 2)))
    return Obs(
        uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        jdd=jdd,
        cd_nom=cd_nom,
        date=day,
        dep=dep,
        lon=round(lon, 5),
        lat=round(lat, 5),
        observateur=", ".join(observers),
        niv_val=rng.choice("0000111222345"),
        ds_publique=ds,
        diffusion=diffusion,
        precision=rng.choice((None, 10, 50, 100, 500, 2000)),
        created=max(created, dt.datetime.combine(day, dt.time(12), dt.timezone.utc)),
    )


def generate(
    seed: int = 17, now: dt.datetime | None = None, centres: dict | None = None, common: int = 1500
) -> list[Obs]:
    """The rows; ``centres``: département → (lon, lat[, spread lon, spread lat]) (default ``CENTRES``,
    ±0.3 and ±0.2 degrees); ``common``: how many observations of common taxa."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rng = random.Random(seed)
    jdds = [k for k, _, _ in JDDS]
    rows: list[Obs] = []
    spread = {dep: (tuple(c) + (0.3, 0.2))[2:4] for dep, c in (centres or CENTRES).items()}
    centres = {dep: tuple(c)[:2] for dep, c in (centres or CENTRES).items()}
    deps = list(centres)
    for _ in range(common):
        dep = rng.choice(deps)
        lon, lat = centres[dep]
        dx, dy = spread[dep]
        year = rng.choice(YEARS)
        # taxa arrive in the data over the years: a taxon's first years are sparse
        cd_nom = rng.choice(COMMON[: 6 + (year - YEARS[0])])
        rows.append(
            _obs(
                rng,
                rng.choice(jdds),
                cd_nom,
                year,
                dep,
                lon + rng.uniform(-dx, dx),
                lat + rng.uniform(-dy, dy),
                now,
            )
        )
    # sensitive taxa: enough per year for the regional figures, a few per département, group and year
    # (those small cells are secret)
    for _ in range(300):
        dep = rng.choice(deps)
        lon, lat = centres[dep]
        rows.append(
            _obs(
                rng,
                rng.choice(jdds),
                rng.choice(SENSITIVE),
                rng.choice(YEARS),
                dep,
                lon + rng.uniform(-2 * spread[dep][0] / 3, 2 * spread[dep][0] / 3),
                lat,
                now,
            )
        )
    # observations of absence and names at the genus rank (Buteo): observations, but no « taxon »
    for statut, cd_nom in (("No", 3764), ("No", 60585), ("Pr", 190297), ("Pr", 190297)):
        for _ in range(20):
            dep = rng.choice(deps)
            lon, lat = centres[dep]
            dx = spread[dep][0]
            o = _obs(rng, rng.choice(jdds), cd_nom, rng.choice(YEARS), dep, lon + rng.uniform(-dx, dx), lat, now)
            o.statut = statut
            rows.append(o)
    # invasive alien taxa spreading from their starting point: radius grows with the years
    for cd_nom, (lon0, lat0) in EEE.items():
        first = rng.choice((2014, 2015, 2017))
        for year in range(first, YEARS[-1] + 1):
            radius = 0.05 + 0.09 * (year - first)
            for _ in range(4 + 2 * (year - first)):
                lon, lat = lon0 + rng.uniform(-radius, radius), lat0 + rng.uniform(-radius / 1.5, radius / 1.5)
                dep = "21" if lon > 4.2 and lat > 46.9 else "58" if lon <= 4.2 else "39"
                rows.append(_obs(rng, rng.choice(jdds), cd_nom, year, dep, lon, lat, now))
    return rows


def write_csv(path, rows: list[Obs], resource_id: str, package_id: str, owner_org: str, names: dict[int, dict]) -> None:
    """The accepted-rows file of ``store.integrate`` for one deposit."""
    communes = any(o.commune for o in rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER + (("code_commune",) if communes else ()))
        for i, o in enumerate(rows, start=1):
            writer.writerow(
                (
                    o.uuid,
                    f"ind-{i}",
                    names.get(o.cd_nom, {}).get("nom", str(o.cd_nom)),
                    o.cd_nom,
                    o.date.isoformat(),
                    o.date.isoformat(),
                    f"SRID=4326;POINT({o.lon} {o.lat})",
                    o.dep,
                    o.observateur,
                    o.niv_val,
                    o.ds_publique,
                    o.diffusion,
                    "" if o.precision is None else o.precision,
                    o.statut,
                    o.created.isoformat(),
                    i,
                    resource_id,
                    package_id,
                    owner_org,
                )
                + ((o.commune,) if communes else ())
            )


def add_communes(rows: list[Obs], seed: int, per_departement: int = 25, share: float = 0.6) -> None:
    """Gives ``share`` of the rows a commune of their département (``codeCommune``), drawn among
    ``per_departement`` communes of the shipped COG list picked once per département (seeded). The
    set has no commune outlines: the commune is plausible (right département), not located at
    the point."""
    rng = random.Random(seed)
    path = schemas_dir() / "referentiels" / "communes" / "communes_france.csv"
    by_dep: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            by_dep.setdefault(row["departement"], []).append(row["code"])
    pools = {dep: rng.sample(codes, min(per_departement, len(codes))) for dep, codes in sorted(by_dep.items())}
    for o in rows:
        if rng.random() < share and pools.get(o.dep):
            o.commune = rng.choice(pools[o.dep])
