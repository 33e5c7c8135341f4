"""The generated occurrence set of the demo (``ckanext/sinp/demo/occurrences.py``): deterministic,
spread over the region's eight départements, with invasive alien and sensitive taxa of the TAXREF
extract, and communes of the right département taken from the shipped COG list."""

from __future__ import annotations

import csv
import datetime as dt

from ckanext.sinp.demo import occurrences
from ckanext.sinp.domain.model import schemas_dir
from ckanext.sinp.referentials import geo

NOW = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)


def _demo(seed: int = 2026) -> list[occurrences.Obs]:
    rows = occurrences.generate(seed, NOW, centres=occurrences.DEMO_CENTRES, common=3000)
    occurrences.add_communes(rows, seed)
    return rows


def test_the_demo_set_is_deterministic_and_covers_the_region():
    first, second = _demo(), _demo()
    assert [o.__dict__ for o in first] == [o.__dict__ for o in second]
    assert [o.__dict__ for o in _demo(7)] != [o.__dict__ for o in first]
    assert 3000 < len(first) < 5000 and len({o.uuid for o in first}) == len(first)
    assert {o.dep for o in first} == set(geo.DEPARTEMENTS_BFC)
    assert {o.date.year for o in first} == set(occurrences.YEARS)
    assert all(o.created <= NOW for o in first)
    names = occurrences.taxref()
    present = {o.cd_nom for o in first}
    assert set(occurrences.EEE) | set(occurrences.SENSITIVE) <= present <= set(names)
    assert len({names[c]["groupe"] for c in present}) >= 6


def test_communes_belong_to_the_departement_and_the_cog_list(tmp_path):
    rows = _demo()
    with (schemas_dir() / "referentiels" / "communes" / "communes_france.csv").open(encoding="utf-8") as fh:
        known = {r["code"]: r["departement"] for r in csv.DictReader(fh, delimiter=";")}
    with_commune = [o for o in rows if o.commune]
    assert 0.5 < len(with_commune) / len(rows) < 0.7
    assert all(known[o.commune] == o.dep for o in with_commune)
    # the accepted-rows file carries codeCommune only when the rows have one (the tests' sets do not)
    occurrences.write_csv(tmp_path / "a.csv", rows[:3], "r", "p", "o", {})
    occurrences.write_csv(tmp_path / "b.csv", occurrences.generate(17, NOW)[:3], "r", "p", "o", {})
    assert (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()[0].endswith(",owner_org,code_commune")
    assert (tmp_path / "b.csv").read_text(encoding="utf-8").splitlines()[0].endswith(",owner_org")
