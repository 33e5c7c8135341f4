"""D2 (observation already on the platform) without a location oracle: the engine's part, with a fake
store (the PostgreSQL side and the « 121 candidates » attack are in tests/integration/test_duplicate_oracle.py).

Exact matches name where they are (the store answers them only for rows the depositor sees
precisely); matches against other producers' data say « probablement déjà présente », nothing
more, on at most ``d2_max_foreign`` rows and one summary line beyond.
"""

from __future__ import annotations

import csv

import shapely
from shapely.geometry import box

from ckanext.sinp.domain.occtax import engine, rules
from tests.unit.test_occtax_rules import BASE, JDD, REFS, TODAY, _csv

FOREIGN = "Observation probablement déjà présente sur la plateforme (données d'un autre producteur)"


class Store:
    """Answers D2 like the PostgreSQL store would for one other producer's row blurred to ``cell``
    (same taxon, dates and observer as ``BASE``), and remembers the candidates it was sent."""

    def __init__(self, exact=None, cell=None, match_key=None):
        self.exact, self.cell, self.match_key = exact or {}, cell, match_key
        self.candidates: list[dict] = []

    def existing_uuids(self, uuids):
        return set()

    def existing_origin_ids(self, ids):
        return set()

    def existing_content_keys(self, keys):
        return {k: v for k, v in self.exact.items() if k in set(keys)}

    def probable_duplicates(self, candidates_csv):
        with open(candidates_csv, encoding="utf-8", newline="") as fh:
            self.candidates = list(csv.DictReader(fh))
        out = set()
        for c in self.candidates:
            if c["match_key"] != self.match_key or not c["geom"]:
                continue
            geom = c["geom"].split(";", 1)[1] if c["geom"].startswith("SRID=") else c["geom"]
            shape = shapely.from_wkt(geom) if geom[0].isalpha() else shapely.from_wkb(bytes.fromhex(geom))
            if self.cell is None or self.cell.intersects(shape):
                out.add(int(c["k"]))
        return out


def run(tmp_path, rows, store, **options):
    path = tmp_path / "depot.csv"
    path.write_text(_csv(rows), encoding="utf-8")
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY, **options), store=store) as result:
        result.write_accepted_csv(tmp_path / "accepted.csv")
        accepted = list(csv.DictReader(open(tmp_path / "accepted.csv", encoding="utf-8")))
        return result.report(limit=None), accepted


def keys(tmp_path, row) -> dict:
    """content_key and match_key of a row as the store records them at integration."""
    return run(tmp_path, [row], None)[1][0]


def grid(n=5, lon=5.04, lat=47.32, step=0.01):
    return [
        {
            **BASE,
            "idOrigine": f"C-{i}-{j}",
            "geometrie": f"POINT({lon + (i - n // 2) * step:.4f} {lat + (j - n // 2) * step:.4f})",
        }
        for i in range(n)
        for j in range(n)
    ]


def d2(report) -> list[dict]:
    return [e for e in report["errors"] if e["code"] == "D2"]


def test_an_exact_match_among_the_rows_seen_precisely_names_its_jdd(tmp_path):
    key = keys(tmp_path, BASE)
    store = Store(exact={key["content_key"]: "le jeu de données « Chiroptères 2023 »"}, match_key=key["match_key"])
    report, _ = run(tmp_path, [BASE], store)
    [error] = d2(report)
    assert error["row"] == 2 and not error["blocking"]  # the spreadsheet's line 2 (header = line 1)
    assert error["message"] == (
        "Observation identique (taxon, dates et heures, géométrie, observateur) déjà "
        "présente dans le jeu de données « Chiroptères 2023 ». Signalé, non bloquant."
    )
    # a row matched exactly is not sent again as a candidate against other producers' data
    assert store.candidates == []


def test_candidates_carry_a_location_free_key_and_their_geometry_in_wgs84(tmp_path):
    rows = [
        BASE,
        {**BASE, "idOrigine": "OBS-2", "geometrie": "POINT(5.05 47.33)"},
        {**BASE, "idOrigine": "OBS-3", "geometrie": "POINT(850000 6690000)", "srid": "2154"},
        {**BASE, "idOrigine": "OBS-4", "geometrie": "POLYGON((5 47, 5.01 47, 5.01 47.01, 5 47))"},
        {**BASE, "idOrigine": "OBS-5", "observateur": "MARTIN Léa (LPO BFC)"},
    ]
    store = Store()
    report, accepted = run(tmp_path, rows, store)
    assert d2(report) == [] and report["rows_accepted"] == 5
    c = store.candidates
    assert [r["k"] for r in c] == ["1", "2", "3", "4", "5"]
    assert len({r["content_key"] for r in c}) == 5  # the location is in the content key…
    assert len({r["match_key"] for r in c[:4]}) == 1 and c[4]["match_key"] != c[0]["match_key"]  # …not here
    assert c[0]["geom"] == "SRID=4326;POINT(5.04 47.32)"
    lon, lat = (float(v) for v in c[2]["geom"].removeprefix("SRID=4326;POINT(").rstrip(")").split())
    assert 4.9 < lon < 5.1 and 47.0 < lat < 47.5  # Lambert-93 given, WGS 84 sent
    assert shapely.from_wkb(bytes.fromhex(c[3]["geom"])).equals(shapely.from_wkt(rows[3]["geometrie"]))
    # what integration stores is what a later deposit sends: the same keys, with or without a store
    assert [(a["content_key"], a["match_key"]) for a in accepted] == [(r["content_key"], r["match_key"]) for r in c]
    assert [a["match_key"] for a in run(tmp_path, rows, None)[1]] == [r["match_key"] for r in c]


def test_matches_against_other_producers_say_nothing_that_locates_them(tmp_path):
    rows = grid()
    cell = box(5.015, 47.295, 5.055, 47.345)  # the blurred area holds the 4 x 5 western candidates
    inside = [i for i, r in enumerate(rows, 2) if cell.intersects(shapely.from_wkt(r["geometrie"]))]
    assert len(inside) == 20
    store = Store(cell=cell, match_key=keys(tmp_path, BASE)["match_key"])
    report, _ = run(tmp_path, rows, store, d2_max_foreign=100)
    flagged = d2(report)
    assert [e["row"] for e in flagged] == inside  # every candidate inside the area, not the true point alone
    for e in flagged:
        assert e["message"] == f"{FOREIGN}. Signalé, non bloquant." and e["value"] is None and e["column"] is None
        assert not e["blocking"]
    assert report["rows_accepted"] == 25


def test_foreign_flags_are_count_limited_per_deposit_with_one_summary_line(tmp_path):
    rows = grid()
    store = Store(cell=None, match_key=keys(tmp_path, BASE)["match_key"])  # all 25 match
    report, _ = run(tmp_path, rows, store, d2_max_foreign=3)
    flagged = d2(report)
    assert [e["row"] for e in flagged] == [None, 2, 3, 4]  # file order; the summary is a file-level line
    assert flagged[0]["message"] == (
        "22 autre(s) ligne(s) du fichier probablement déjà présente(s) sur la "
        "plateforme (données d'un autre producteur), non détaillée(s) : au plus 3 "
        "signalements de ce type par dépôt. Signalé, non bloquant."
    )
    assert report["counts"]["D2"] == 4 and report["warnings_total"] == 4 and report["rows_accepted"] == 25
    # 0: the summary line only
    report, _ = run(tmp_path, rows, store, d2_max_foreign=0)
    assert [(e["row"], e["message"][:3]) for e in d2(report)] == [(None, "25 ")]


def test_a_store_cannot_flag_rows_twice_or_outside_the_file(tmp_path):
    key = keys(tmp_path, BASE)

    class Loose(Store):
        def probable_duplicates(self, candidates_csv):
            super().probable_duplicates(candidates_csv)
            return {1, 2, 99}

    store = Loose(exact={key["content_key"]: "le jeu de données « Mes données »"})
    report, _ = run(tmp_path, [BASE, {**BASE, "idOrigine": "OBS-2", "geometrie": "POINT(5.05 47.33)"}], store)
    assert [(e["row"], "identique" in e["message"]) for e in d2(report)] == [(2, True), (3, False)]


def test_rule_texts_keep_d2_a_warning():
    assert rules.rule("D2").blocking is False
    assert "{" not in rules.D2_FOREIGN and "jeu de données" not in rules.D2_FOREIGN
