"""Every QC rule with a row that breaks it and a row that does not (DuckDB engine, no database).

A clean row produces no error at all: a false positive is a bug.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pytest

from ckanext.sinp.domain.occtax import engine, rules

TODAY = dt.date(2026, 11, 28)
JDD = "4A7B8C9D-1111-4222-8333-944455556666"
TERRITORY = "POLYGON((2.84 46.15, 7.15 46.15, 7.15 48.40, 2.84 48.40, 2.84 46.15))"
REFS = engine.Referentials(
    cd_nom=np.array([60295, 60418, 79306, 4001], dtype=np.int64),
    cd_hab=np.array([7, 1234], dtype=np.int64),
    communes=["21231", "25056", "39300"],
    departements=["21", "25", "39"],
    mailles=["10kmL93E085N668", "10kmL93E093N667"],
    territory_wkt=TERRITORY,
    versions={"taxref": "18.0"},
)

BASE = {
    "idSINPOccTax": "",
    "idOrigine": "OBS-1",
    "statutObservation": "Pr",
    "nomCite": "Rhinolophus ferrumequinum",
    "cdNom": "60295",
    "dateDebut": "2024-05-01",
    "dateFin": "2024-05-01",
    "heureDebut": "",
    "heureFin": "",
    "observateur": "DUPONT Jean (CEN Bourgogne-Franche-Comté)",
    "determinateur": "",
    "geometrie": "POINT(5.04 47.32)",
    "natureObjetGeo": "St",
    "precisionGeometrie": "10",
    "denombrementMin": "2",
    "denombrementMax": "3",
    "objetDenombrement": "IND",
    "typeDenombrement": "Co",
    "dSPublique": "Pu",
    "statutSource": "Te",
    "referenceBiblio": "",
    "organismeGestionnaireDonnee": "CEN Bourgogne-Franche-Comté",
    "dEEFloutage": "",
    "preuveExistante": "",
    "uRLPreuveNumerique": "",
    "preuveNonNumerique": "",
    "codeCommune": "",
    "nomCommune": "",
    "anneeRefCommune": "",
    "typeInfoGeoCommune": "",
    "altitudeMin": "",
    "altitudeMax": "",
}


def _csv(rows: list[dict], delimiter=";") -> str:
    out = io.StringIO()
    names = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(out, fieldnames=names, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def check(tmp_path, rows, store=None, encoding="utf-8", **options):
    path = tmp_path / "depot.csv"
    text = rows if isinstance(rows, str) else _csv(rows)
    path.write_bytes(text.encode(encoding))
    opts = engine.Options(jdd_uuid=JDD, today=TODAY, **options)
    with engine.run(path, REFS, opts, store=store) as result:
        return result.report(limit=None)


def codes(report) -> set:
    return {(e["code"], e["column"]) for e in report["errors"]}


def test_a_clean_row_has_no_error(tmp_path):
    report = check(tmp_path, [BASE, {**BASE, "idOrigine": "OBS-2", "geometrie": "POINT(6.02 47.24)"}])
    assert report["errors"] == []
    assert report["rows_received"] == report["rows_accepted"] == 2 and report["rows_rejected"] == 0


# (rule, column, the change that breaks it, a close change that does not)
CASES = [
    ("C4", "nomCite", {"nomCite": ""}, {"nomCite": "Myotis"}),
    ("C4", "observateur", {"observateur": ""}, {"observateur": "INCONNU (CEN BFC)"}),
    ("C5", "cdNom", {"cdNom": "60295.5"}, {"cdNom": " 60295 "}),
    ("C5", "dateDebut", {"dateDebut": "2024-02-30"}, {"dateDebut": "29/02/2024"}),
    ("C5", "heureDebut", {"heureDebut": "25:10"}, {"heureDebut": "08:10"}),
    ("C5", "denombrementMin", {"denombrementMin": "0x10"}, {"denombrementMin": "1"}),
    (
        "C5",
        "altitudeMin",
        {"altitudeMin": "haut", "altitudeMax": "300"},
        {"altitudeMin": "250,5", "altitudeMax": "300"},
    ),
    ("C6", "statutObservation", {"statutObservation": "Present"}, {"statutObservation": "pr"}),
    ("C6", "dSPublique", {"dSPublique": "Ac"}, {"dSPublique": "NSP"}),
    (
        "C7",
        "altitudeMax",
        {"altitudeMin": "100", "altitudeMax": "12000"},
        {"altitudeMin": "100", "altitudeMax": "1200"},
    ),
    ("C7", "denombrementMin", {"denombrementMin": "-1"}, {"denombrementMin": "0", "statutObservation": "NSP"}),
    ("C8", "nomCite", {"nomCite": "x" * 256}, {"nomCite": "x" * 255}),
    ("C9", "geometrie", {"geometrie": "POINT(5.04)"}, {"geometrie": "POINT (5.04 47.32)"}),
    (
        "C9",
        "geometrie",
        {"geometrie": "POLYGON((5 47, 5.1 47.1, 5.1 47, 5 47.1, 5 47))"},
        {"geometrie": "POLYGON((5 47, 5.1 47, 5.1 47.1, 5 47.1, 5 47))"},
    ),
    ("C9", "geometrie", {"geometrie": "POINT(850000 6680000)"}, {"geometrie": "SRID=2154;POINT(850000 6680000)"}),
    ("C10", "idSINPOccTax", {"idSINPOccTax": "pas-un-uuid"}, {"idSINPOccTax": "8f0c3f0e-2a4b-4c6d-9e8f-0a1b2c3d4e5f"}),
    ("C11", "cdNom", {"cdNom": "999999"}, {"cdNom": "60418"}),
    ("C12", "codeHabRef", {"refHabitat": "HABREF", "codeHabRef": "99"}, {"refHabitat": "HABREF", "codeHabRef": "7"}),
    (
        "C13",
        "codeCommune",
        {"codeCommune": "75056", "nomCommune": "Paris", "anneeRefCommune": "2024", "typeInfoGeoCommune": "2"},
        {"codeCommune": "21231", "nomCommune": "Dijon", "anneeRefCommune": "2024", "typeInfoGeoCommune": "2"},
    ),
    (
        "C14",
        "uRLPreuveNumerique",
        {"preuveExistante": "1", "uRLPreuveNumerique": "photo.jpg"},
        {"preuveExistante": "1", "uRLPreuveNumerique": "https://exemple.fr/photo.jpg"},
    ),
    ("C15", "dateDebut", {"dateDebut": "1899-12-31"}, {"dateDebut": "1900-01-01"}),
    ("C16", "precisionGeometrie", {"precisionGeometrie": "0"}, {"precisionGeometrie": "1"}),
    (
        "C17",
        "observateur",
        {"observateur": "Jean Dupont"},
        {"observateur": "DUPONT Jean (Indépendant), MARTIN Léa (LPO)"},
    ),
    ("C18", "idSINPJdd", {"idSINPJdd": "11111111-2222-4333-8444-555555555555"}, {"idSINPJdd": JDD.lower()}),
    (
        "K1",
        "dateFin",
        {"dateDebut": "2024-05-02", "dateFin": "2024-05-01"},
        {"dateDebut": "2024-05-01", "dateFin": "2024-05-02"},
    ),
    ("K1", "heureFin", {"heureDebut": "18:00", "heureFin": "08:00"}, {"heureDebut": "08:00", "heureFin": "18:00"}),
    ("K2", "dateFin", {"dateFin": "2026-11-29"}, {"dateFin": "2026-11-28"}),
    (
        "K3",
        "denombrementMax",
        {"denombrementMin": "5", "denombrementMax": "2"},
        {"denombrementMin": "2", "denombrementMax": "2"},
    ),
    ("K4", "altitudeMax", {"altitudeMin": "500", "altitudeMax": "200"}, {"altitudeMin": "200", "altitudeMax": "500"}),
    (
        "K5",
        "statutObservation",
        {"statutObservation": "No"},
        {"statutObservation": "No", "denombrementMin": "0", "denombrementMax": "0"},
    ),
    ("K6", "objetDenombrement", {"objetDenombrement": ""}, {"objetDenombrement": "NSP"}),
    (
        "K7",
        "geometrie",
        {"geometrie": "", "natureObjetGeo": ""},
        {
            "geometrie": "",
            "natureObjetGeo": "",
            "codeCommune": "21231",
            "nomCommune": "Dijon",
            "anneeRefCommune": "2024",
            "typeInfoGeoCommune": "1",
        },
    ),
    (
        "K7",
        "geometrie",
        {"codeCommune": "21231", "nomCommune": "Dijon", "anneeRefCommune": "2024", "typeInfoGeoCommune": "1"},
        {"codeCommune": "21231", "nomCommune": "Dijon", "anneeRefCommune": "2024", "typeInfoGeoCommune": "2"},
    ),
    (
        "K8",
        "anneeRefCommune",
        {"codeCommune": "21231", "nomCommune": "Dijon", "typeInfoGeoCommune": "2"},
        {"codeCommune": "21231", "nomCommune": "Dijon", "anneeRefCommune": "2023", "typeInfoGeoCommune": "2"},
    ),
    ("K8", "natureObjetGeo", {"natureObjetGeo": ""}, {"natureObjetGeo": "In"}),
    (
        "K9",
        "nomCommune",
        {"codeCommune": "21231|25056", "nomCommune": "Dijon", "anneeRefCommune": "2024", "typeInfoGeoCommune": "2"},
        {
            "codeCommune": "21231|25056",
            "nomCommune": "Dijon|Besançon",
            "anneeRefCommune": "2024",
            "typeInfoGeoCommune": "2",
        },
    ),
    ("K10", "referenceBiblio", {"statutSource": "Li"}, {"statutSource": "Li", "referenceBiblio": "Dupont J. (2020)."}),
    ("K11", "preuveExistante", {"preuveExistante": "1"}, {"preuveExistante": "1", "preuveNonNumerique": "Herbier"}),
    ("K11", "preuveExistante", {"preuveExistante": "2", "preuveNonNumerique": "Herbier"}, {"preuveExistante": "2"}),
    ("K12", "codeHabitat", {"refHabitat": "EUNIS"}, {"refHabitat": "EUNIS", "codeHabitat": "G1.A1"}),
    ("K12", "codeHabRef", {"refHabitat": "HABREF"}, {"refHabitat": "HABREF", "codeHabRef": "1234"}),
    ("K13", "versionTAXREF", {"versionTAXREF": ""}, {"versionTAXREF": "17.0"}),
    ("K14", "dEEFloutage", {"dSPublique": "Pr"}, {"dSPublique": "Pr", "dEEFloutage": "NON"}),
    (
        "K15",
        "sensiReferentiel",
        {"sensiNiveau": "2", "sensiDateAttribution": "2024-01-01", "sensiVersionReferentiel": "1"},
        {
            "sensiNiveau": "2",
            "sensiDateAttribution": "2024-01-01",
            "sensiVersionReferentiel": "1",
            "sensiReferentiel": "Référentiel régional BFC",
        },
    ),
    ("K18", "geometrie", {"geometrie": "POINT(2.35 48.85)"}, {"geometrie": "POINT(2.83 47.0)"}),
]


@pytest.mark.parametrize("code,column,bad,good", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_rule_breaks_on_the_bad_row_only(tmp_path, code, column, bad, good):
    assert code in rules.BY_CODE
    failing = check(tmp_path, [{**BASE, **bad}])
    assert (code, column) in codes(failing), failing["errors"]
    assert failing["rows_rejected"] == 1
    passing = check(tmp_path, [{**BASE, **good}])
    assert passing["errors"] == [], passing["errors"]
    assert passing["rows_accepted"] == 1


def test_every_catalogue_rule_is_exercised():
    tested = {c[0] for c in CASES} | {"C1", "C2", "C3", "K16", "K17", "D1", "D2"}
    assert tested == set(rules.BY_CODE)


def test_k16_k17_d1_duplicates_inside_the_file(tmp_path):
    uuid = "8F0C3F0E-2A4B-4C6D-9E8F-0A1B2C3D4E5F"
    report = check(
        tmp_path,
        [
            {**BASE, "idSINPOccTax": uuid},
            {**BASE, "idSINPOccTax": uuid.lower(), "idOrigine": "OBS-2", "geometrie": "POINT(5.1 47.3)"},
            {**BASE, "idOrigine": "OBS-3", "geometrie": "POINT(5.2 47.3)"},
            {**BASE, "idOrigine": "OBS-3", "geometrie": "POINT(5.3 47.3)"},
            {**BASE, "idOrigine": "OBS-5"},  # same content as the first data row (line 2)
        ],
    )
    # row numbers are spreadsheet lines: header = line 1, first data row = line 2
    found = {(e["row"], e["code"]) for e in report["errors"]}
    assert found == {(2, "K16"), (3, "K16"), (4, "K17"), (5, "K17"), (6, "D1")}
    d1 = next(e for e in report["errors"] if e["code"] == "D1")
    assert not d1["blocking"] and "ligne 2 " in d1["message"]
    k16 = next(e for e in report["errors"] if e["code"] == "K16" and e["row"] == 3)
    assert "première fois ligne 2)" in k16["message"]
    assert report["rows_accepted"] == 1 and report["warnings_total"] == 1


class FakeStore:
    """The store as the engine sees it (the PostgreSQL implementation is tested in integration)."""

    def __init__(self, uuids=(), origins=(), contents=None):
        self.uuids, self.origins, self.contents = set(uuids), set(origins), contents or {}

    def existing_uuids(self, uuids):
        return self.uuids & set(uuids)

    def existing_origin_ids(self, ids):
        return self.origins & set(ids)

    def existing_content_keys(self, keys):
        return {k: v for k, v in self.contents.items() if k in set(keys)}

    def probable_duplicates(self, candidates_csv):
        return set()


def test_k16_k17_d2_against_the_store(tmp_path):
    uuid = "8F0C3F0E-2A4B-4C6D-9E8F-0A1B2C3D4E5F"
    first = check(tmp_path, [BASE])
    assert first["rows_accepted"] == 1
    path = tmp_path / "again.csv"
    path.write_text(_csv([BASE]), encoding="utf-8")
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY)) as result:
        result.write_accepted_csv(tmp_path / "acc.csv")
        key = next(csv.DictReader(open(tmp_path / "acc.csv", encoding="utf-8")))["content_key"]
    store = FakeStore(uuids={uuid}, origins={"OBS-1"}, contents={key: "le jeu « Chiroptères 2023 »"})
    report = check(tmp_path, [{**BASE, "idSINPOccTax": uuid}], store=store)
    found = {(e["code"], e["column"]) for e in report["errors"]}
    assert found == {("K16", "idSINPOccTax"), ("K17", "idOrigine"), ("D2", None)}
    assert "Chiroptères 2023" in next(e["message"] for e in report["errors"] if e["code"] == "D2")


def test_depobio_short_names_and_latin1_file(tmp_path):
    text = (
        "permId;statObs;nomCite;cdNom;dateDebut;dateFin;obsId;obsNomOrg;WKT;natObjGeo;dSPublique;statSource;"
        "orgGestDat\n"
        ";Pr;Hérisson d'Europe;60015;01/05/2024;01/05/2024;DUPONT Jean;CEN Bourgogne;POINT(5.04 47.32);St;Pu;Te;"
        "Société d'histoire naturelle d'Autun\n"
    )
    refs_cd = REFS.cd_nom
    REFS.cd_nom = np.append(refs_cd, 60015)
    try:
        report = check(tmp_path, text, encoding="cp1252")
    finally:
        REFS.cd_nom = refs_cd
    assert report["file"]["encoding"].startswith("Windows-1252")
    assert report["errors"] == [] and report["rows_accepted"] == 1


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"", "vide"),
        (b"PK\x03\x04\x14\x00binary", "classeur"),
        (b"\x00\x01\x02\x03" * 100, "octets nuls"),
    ],
)
def test_c1_unusable_files(tmp_path, content, expected):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY)) as result:
        report = result.report(limit=None)
    assert [e["code"] for e in report["errors"]] == ["C1"] and expected in report["errors"][0]["message"]
    assert report["rows_accepted"] == 0


def test_c1_header_only(tmp_path):
    report = check(tmp_path, ";".join(BASE) + "\n")
    assert [e["code"] for e in report["errors"]] == ["C1"]
    assert "aucune ligne" in report["errors"][0]["message"]


def test_c2_unknown_duplicate_and_missing_columns(tmp_path):
    text = "statutObservation;nomCite;nom_cite;couleur;dateDebut;dateFin\nPr;A;A;rouge;2024-01-01;2024-01-01\n"
    report = check(tmp_path, text)
    messages = " ".join(e["message"] for e in report["errors"])
    assert {e["code"] for e in report["errors"]} == {"C2"}
    assert "Colonne inconnue : « couleur »" in messages and "apparaît deux fois" in messages
    assert "Colonne obligatoire absente : dSPublique" in messages and "observateur" in messages
    assert report["rows_received"] == 0 and report["rows_accepted"] == 0


def test_c2_wrong_separator(tmp_path):
    text = _csv([BASE], delimiter="#")
    report = check(tmp_path, text)
    assert [e["code"] for e in report["errors"]] == ["C2"]
    assert "séparateur" in report["errors"][0]["message"]


def test_comma_separator_is_detected(tmp_path):
    report = check(
        tmp_path, _csv([BASE, {**BASE, "idOrigine": "OBS-2", "geometrie": "POINT(5.1 47.3)"}], delimiter=",")
    )
    assert report["file"]["delimiter"] == "virgule" and report["errors"] == []


def test_c3_ragged_rows_keep_row_numbers(tmp_path):
    good = _csv(
        [
            BASE,
            {**BASE, "idOrigine": "OBS-2", "geometrie": "POINT(5.1 47.3)"},
            {**BASE, "idOrigine": "OBS-4", "geometrie": "POINT(5.2 47.3)"},
        ]
    ).splitlines()
    lines = [good[0], good[1], "Pr;trop;court", good[2] + ";en trop", good[3]]
    report = check(tmp_path, "\n".join(lines) + "\n")
    # the spreadsheet's lines 3 and 4 (header = line 1)
    assert {(e["row"], e["code"]) for e in report["errors"]} == {(3, "C3"), (4, "C3")}
    assert report["rows_received"] == 4 and report["rows_accepted"] == 2
    assert report["rows_rejected_by_category"]["conformite"] == 2


def test_missing_uuid_is_generated_and_lambert93_is_reprojected(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(_csv([{**BASE, "geometrie": "POINT(850000 6680000)", "srid": "2154"}]), encoding="utf-8")
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY)) as result:
        assert result.report()["errors"] == []
        result.write_accepted_csv(tmp_path / "a.csv")
        row = next(csv.DictReader(open(tmp_path / "a.csv", encoding="utf-8")))
        stats = result.accepted_stats()
    assert len(row["id_sinp_occtax"]) == 36 and row["id_sinp_jdd"] == JDD
    assert row["geom"].startswith("SRID=4326;POINT(4.98")  # EWKT in WGS 84, read by PostGIS
    x0, y0, x1, y1 = stats["bbox"]
    assert 4.9 < x0 < 5.1 and 47.1 < y0 < 47.3 and stats["date_min"] == "2024-05-01"


def test_rejected_rows_csv_lists_errors(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        _csv([BASE, {**BASE, "idOrigine": "OBS-2", "cdNom": "1", "geometrie": "POINT(5.1 47.3)"}]), encoding="utf-8"
    )
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY)) as result:
        result.write_rejected_csv(tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 2  # the platform's dialect: BOM, CRLF, ;
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 1 and rows[0]["numéro de ligne dans le tableur"] == "3" and rows[0]["cdNom"] == "1"
    assert "C11" in rows[0]["erreurs"] and "TAXREF" in rows[0]["erreurs"]


def test_gold_file_is_reported_exactly():
    """Every planted error, nothing else, with the referential extracts shipped in schemas/."""
    import json
    import pathlib

    from ckanext.sinp.domain.model import schemas_dir
    from ckanext.sinp.referentials import geo_store

    fixtures = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "occtax"
    expected = json.loads((fixtures / "gold_expected.json").read_text(encoding="utf-8"))
    refs = engine.Referentials.from_dict(geo_store.referentials_from_files(schemas_dir()))
    with engine.run(fixtures / "gold.csv", refs, engine.Options(today=TODAY)) as result:
        report = result.report(limit=None)
    found = sorted((e["row"], e["code"], e["column"]) for e in report["errors"])
    assert found == sorted(tuple(e) for e in expected["errors"])
    assert report["rows_received"] == expected["rows_received"]
    assert report["rows_accepted"] == expected["rows_accepted"]
    assert report["skipped_checks"] == []


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "gros.csv"
    path.write_text(_csv([BASE] * 50), encoding="utf-8")
    with engine.run(path, REFS, engine.Options(max_bytes=1000)) as result:
        report = result.report()
    assert [e["code"] for e in report["errors"]] == ["C1"]
    assert "limite" in report["errors"][0]["message"] and report["rows_accepted"] == 0


def test_the_published_template_passes_every_check(tmp_path):
    from ckanext.sinp.domain.occtax import columns

    assert set(columns.TEMPLATE_COLUMNS) <= set(columns.by_name())
    template = columns.template_csv()
    assert template.startswith("\ufeff") and template.count("\r\n") == 2  # the platform's CSV dialect
    report = check(tmp_path, template)
    assert report["errors"] == [] and report["rows_accepted"] == 1
