"""A generated but realistic occurrence set for the ORB indicators (#17), and the indicators computed
from it in plain Python, independently of the SQL under test.

``generate(seed)``: seeded random, ~2 000 observations over 2014–2025 in four départements of
Bourgogne-Franche-Comté (21, 25, 39, 58), several GROUP2_INPN groups (taxa of the TAXREF extract),
four JDD: three public ones of two producers and a private one. Some observations are of sensitive
taxa (*Euphydryas maturna*, *Cypripedium calceolus*: level 1 in the default sensitivity referential,
whatever the date or the status), some validated (levels 0 to 5), some blurred by their producer
(private data diffused at the commune, the maille or the département), some not diffused at all.
Invasive alien taxa (*Reynoutria japonica* 117096 and *Ambrosia artemisiifolia* 81569, TAXREF
FR = J; *Trachemys scripta* 77390, FR = I) spread over more mailles year after year from a
starting point. Each observation has a deposit date (the observation date plus a delay), written
as the row's ``created_at``.

``write_csv`` gives the accepted-rows file of ``store.integrate`` (the platform's own
integration then computes cd_ref, groupe, dep, maille_calc, sensitivity and the public layer).

``expected(rows, ...)`` recomputes the indicators from the generated rows and the few columns
the platform derives per row (read back from the store: the public layer, the sensitivity level
and the 10 km cell), with the methods of ``schemas/indicators.yaml``.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import product

from tests.conftest import ROOT

TAXREF = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"

# département → (lon, lat) of a point well inside it
CENTRES = {"21": (4.75, 47.35), "25": (6.35, 47.15), "39": (5.65, 46.65), "58": (3.55, 47.10)}
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
    extra: dict = field(default_factory=dict)  # read back from the store: layer, sensi, maille


def taxref() -> dict[int, dict]:
    """cd_nom → {cd_ref, groupe, nom, fr} of the TAXREF extract."""
    out = {}
    with TAXREF.open(encoding="utf-8", newline="") as fh:
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


def generate(seed: int = 17, now: dt.datetime | None = None) -> list[Obs]:
    now = now or dt.datetime.now(dt.timezone.utc)
    rng = random.Random(seed)
    jdds = [k for k, _, _ in JDDS]
    rows: list[Obs] = []
    deps = list(CENTRES)
    for _ in range(1500):
        dep = rng.choice(deps)
        lon, lat = CENTRES[dep]
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
                lon + rng.uniform(-0.3, 0.3),
                lat + rng.uniform(-0.2, 0.2),
                now,
            )
        )
    # sensitive taxa: enough per year for the regional figures, a few per département, group and year
    # (those small cells are secret)
    for _ in range(300):
        dep = rng.choice(deps)
        lon, lat = CENTRES[dep]
        rows.append(
            _obs(
                rng,
                rng.choice(jdds),
                rng.choice(SENSITIVE),
                rng.choice(YEARS),
                dep,
                lon + rng.uniform(-0.2, 0.2),
                lat,
                now,
            )
        )
    # observations of absence and names at the genus rank (Buteo): observations, but no « taxon »
    for statut, cd_nom in (("No", 3764), ("No", 60585), ("Pr", 190297), ("Pr", 190297)):
        for _ in range(20):
            dep = rng.choice(deps)
            lon, lat = CENTRES[dep]
            o = _obs(rng, rng.choice(jdds), cd_nom, rng.choice(YEARS), dep, lon + rng.uniform(-0.3, 0.3), lat, now)
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
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
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
            )


# --- the indicators, recomputed in Python ------------------------------------------------------------


def _cells(o: Obs, names):
    """The (annee, departement, groupe) cells an observation counts in (None: « all »)."""
    groupe = names.get(o.cd_nom, {}).get("groupe")
    yield from product((o.date.year, None), (o.dep, None), (groupe, None))


def visible(rows: list[Obs], public_jdds: set[str], year: int | None = None) -> list[Obs]:
    """What the public may see (public JDD, diffused), for an edition ending with ``year``."""
    out = []
    for o in rows:
        if o.jdd not in public_jdds or o.extra["layer"] >= 4:
            continue
        if year is not None and (o.date.year > year or o.created >= _year_end(year)):
            continue
        out.append(o)
    return out


def _year_end(year: int) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime(year + 1, 1, 1, tzinfo=ZoneInfo("Europe/Paris"))


def _delay(o: Obs) -> int:
    """Days from the observation's end to its integration (the integration's date in the region)."""
    from zoneinfo import ZoneInfo

    return (o.created.astimezone(ZoneInfo("Europe/Paris")).date() - o.date).days


def _observers(o: Obs) -> set[str]:
    return {n.strip().lower() for n in o.observateur.replace("|", ",").split(",") if n.strip()}


def eee_refs(names: dict[int, dict]) -> set[int]:
    """The EEE of the indicator: TAXREF's FR = J (introduit envahissant) and the regional list."""
    refs = {t["cd_ref"] for t in names.values() if t["fr"] == "J"}
    listed = ROOT / "schemas" / "referentiels" / "eee" / "liste_eee_bfc.csv"
    if listed.exists():
        with listed.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh, delimiter=";"):
                cd_nom = int(row["cd_nom"])
                refs.add(names.get(cd_nom, {}).get("cd_ref", cd_nom))
    return refs


def expected(rows: list[Obs], names: dict[int, dict], threshold: int) -> dict:
    """{(code, annee, departement, groupe, cle): value or "secret"} for the indicators the test
    compares: observations, taxons, observateurs, part_validees (and per level), delai_depot (median
    days), nouveaux_taxons, eee_mailles,
    eee_front, eee_premiere_mention."""
    out: dict = {}
    obs, taxa, people, valid, sens = (
        defaultdict(int),
        defaultdict(set),
        defaultdict(set),
        defaultdict(int),
        defaultdict(int),
    )
    levels, level_sens = defaultdict(lambda: defaultdict(int)), defaultdict(lambda: defaultdict(int))
    delays = defaultdict(list)
    for o in rows:
        ref = names.get(o.cd_nom, {}).get("cd_ref")
        for cell in _cells(o, names):
            obs[cell] += 1
            if ref is not None and o.statut == "Pr" and names[o.cd_nom]["rang"] in ("ES", "SSES", "VAR", "FO"):
                taxa[cell].add(ref)  # « taxons »: presence observations of a species or below
            people[cell] |= _observers(o)
            valid[cell] += o.niv_val in ("1", "2")
            sensitive = o.extra["sensi"] in ("1", "2", "3", "4")
            sens[cell] += sensitive
            levels[cell][o.niv_val] += 1
            delays[cell].append(_delay(o))
            level_sens[cell][o.niv_val] += sensitive

    def put(code, cell, value, cle=None, s=None):
        s = sens[cell] if s is None else s
        out[(code, *cell, cle)] = "secret" if 0 < s < threshold else value

    for cell, n in obs.items():
        put("observations", cell, n)
        put("taxons", cell, len(taxa[cell]))
        put("observateurs", cell, len(people[cell]))
        put("part_validees", cell, round(100.0 * valid[cell] / n, 6))
        put("delai_depot", cell, float(statistics.median(delays[cell])))
        for level, k in levels[cell].items():  # the share of each level (cle = its code)
            put("part_validees", cell, round(100.0 * k / n, 6), cle=level, s=level_sens[cell][level])
    # new taxa: first year of each taxon in the region (per group too) and in each département
    first_region, first_dep = {}, {}
    for o in rows:
        ref = names.get(o.cd_nom, {}).get("cd_ref")
        if ref is None:
            continue
        first_region[ref] = min(first_region.get(ref, 9999), o.date.year)
        first_dep[(ref, o.dep)] = min(first_dep.get((ref, o.dep), 9999), o.date.year)
    group_of = {names[c]["cd_ref"]: names[c]["groupe"] for c in names}
    new = defaultdict(int)
    for ref, year in first_region.items():
        new[(year, None, None)] += 1
        new[(year, None, group_of.get(ref))] += 1
    for (ref, dep), year in first_dep.items():
        new[(year, dep, None)] += 1
        new[(year, dep, group_of.get(ref))] += 1
    for cell, n in new.items():
        put("nouveaux_taxons", cell, n)
    # EEE: mailles occupied (observations diffused at the maille or finer), front, first record
    invasive = eee_refs(names)
    eee = [o for o in rows if names.get(o.cd_nom, {}).get("cd_ref") in invasive]
    mailles = defaultdict(set)
    msens = defaultdict(int)
    for o in eee:
        if o.extra["layer"] <= 2 and o.extra["maille"]:
            for cell in _cells(o, names):
                mailles[cell].add(o.extra["maille"])
                msens[cell] += o.extra["sensi"] in ("1", "2", "3", "4")
    for cell, found in mailles.items():
        put("eee_mailles", cell, len(found), s=msens[cell])
    first_cell = {}
    for o in eee:
        if o.extra["layer"] <= 2 and o.extra["maille"]:
            key = o.extra["maille"]
            first_cell[key] = min(first_cell.get(key, 9999), o.date.year)
    front = defaultdict(int)
    for year in first_cell.values():
        front[year] += 1
    for year, n in front.items():
        out[("eee_front", year, None, None, None)] = n
    first = {}
    for o in eee:
        ref = names[o.cd_nom]["cd_ref"]
        first[ref] = min(first.get(ref, 9999), o.date.year)
    for ref, year in first.items():
        out[("eee_premiere_mention", year, None, None, str(ref))] = year
    return out
