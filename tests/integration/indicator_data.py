"""The ORB indicators (#17) recomputed in plain Python from the generated occurrence set, independently
of the SQL under test. The set itself (``generate``, ``write_csv``, ``taxref``, ``JDDS``…) is the
demo's, ``ckanext/sinp/demo/occurrences.py`` (re-exported here for the tests).

``expected(rows, ...)`` recomputes the indicators from the generated rows and the few columns
the platform derives per row (read back from the store: the public layer, the sensitivity level
and the 10 km cell), with the methods of ``schemas/indicators.yaml``.
"""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from collections import defaultdict
from itertools import product

from ckanext.sinp.demo.occurrences import (  # noqa: F401 (re-exported for the tests)
    CENTRES,
    COMMON,
    EEE,
    HEADER,
    JDDS,
    OBSERVERS,
    SENSITIVE,
    YEARS,
    Obs,
    generate,
    taxref,
    taxref_path,
    write_csv,
)
from tests.conftest import ROOT

TAXREF = taxref_path()

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
