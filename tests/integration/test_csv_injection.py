"""CSV formula injection (OWASP): every CSV the platform produces — the public occurrence export,
the deposit's errors and its rejected rows — neutralises the text cells a spreadsheet would run as
formulas, while numbers (altitudes, negative ones included) stay numbers.

Real CKAN (in-process), PostgreSQL/PostGIS, Solr, Redis and a real `ckan jobs worker`.
"""

from __future__ import annotations

import copy
import csv
import io
import uuid

import pytest
from ckan.tests import factories

from ckanext.sinp.domain import csvsafe
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

CALC = "=cmd|' /C calc'!A0"
PLUS = "+1+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd|' /C calc'!A0"
MINUS = "-2+3+cmd|' /C calc'!A0"
HEADER = (
    "idOrigine;statutObservation;nomCite;cdNom;dateDebut;dateFin;observateur;geometrie;natureObjetGeo;"
    "dSPublique;statutSource;organismeGestionnaireDonnee;nomLieu;altitudeMin;altitudeMax"
)
ACCEPTED = (
    f"{PLUS};Pr;{CALC};2844;2024-04-01;2024-04-01;{CALC} (LPO BFC);POINT(5.0311 47.3111);St;Pu;Te;{AT};{MINUS};-4.5;-2"
)
REJECTED = (
    f"{AT};Pr;{CALC};=1+1;2024-04-02;2024-04-02;MARTIN Léa (LPO BFC);POINT(5.0322 47.3122);St;Pu;Te;"
    f"{PLUS};{MINUS};-12.5;-3"
)


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    # one dialect for every CSV of the platform: UTF-8 with BOM, « ; », CRLF
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].count(";") >= 2
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _column(rows, name) -> list[str]:
    index = rows[0].index(name)
    return [r[index] for r in rows[1:]]


def _assert_safe(rows):
    dangerous = [cell for row in rows for cell in row if csvsafe.is_dangerous(cell)]
    assert dangerous == []


@pytest.fixture
def deposit(app, clean_db, clean_index, jobs_worker):
    producer = factories.UserWithToken()
    org = factories.Organization(users=[{"name": producer["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": False,
        },
    )
    res = upload(app, producer["token"], jdd["id"], ("\n".join([HEADER, ACCEPTED, REJECTED]) + "\n").encode())
    report = wait_report(api, res["id"])
    assert (report["rows_accepted"], report["rows_rejected"]) == (1, 1), report
    return app, producer, jdd, res


def test_the_public_occurrence_export_neutralises_formulas_and_keeps_numbers(deposit):
    app, producer, jdd, _ = deposit
    for headers in ({}, {"Authorization": producer["token"]}):  # the public, and the producer (precise)
        rows = _rows(app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers=headers))
        assert len(rows) == 2
        _assert_safe(rows)
        assert _column(rows, "nomCite") == ["'" + CALC]
        assert _column(rows, "idOrigine") == ["'" + PLUS]
        assert _column(rows, "observateur") == ["'" + CALC + " (LPO BFC)"]
        assert _column(rows, "organismeGestionnaireDonnee") == ["'" + AT]
        assert _column(rows, "altitudeMin") == ["-4.5"] and _column(rows, "altitudeMax") == ["-2.0"]
        assert _column(rows, "geometrie") == ["POINT (5.0311 47.3111)"]
    rows = _rows(app.get(f"/jdd/{jdd['name']}/occurrences.csv", headers={"Authorization": producer["token"]}))
    assert _column(rows, "nomLieu") == ["'" + MINUS]


def test_the_deposit_errors_and_rejected_rows_neutralise_formulas_and_keep_numbers(deposit):
    app, producer, jdd, res = deposit
    headers = {"Authorization": producer["token"]}
    base = f"/jdd/{jdd['name']}/depot/{res['id']}"
    errors = _rows(app.get(f"{base}/erreurs.csv", headers=headers))
    _assert_safe(errors)
    assert "'=1+1" in _column(errors, "valeur")
    rejected = _rows(app.get(f"{base}/lignes-refusees.csv", headers=headers))
    assert len(rejected) == 2
    _assert_safe(rejected)
    assert _column(rejected, "idOrigine") == ["'" + AT] and _column(rejected, "nomCite") == ["'" + CALC]
    assert _column(rejected, "cdNom") == ["'=1+1"] and _column(rejected, "nomLieu") == ["'" + MINUS]
    assert _column(rejected, "organismeGestionnaireDonnee") == ["'" + PLUS]
    assert _column(rejected, "altitudeMin") == ["-12.5"] and _column(rejected, "altitudeMax") == ["-3"]
    assert _column(rejected, "geometrie") == ["POINT(5.0322 47.3122)"]
