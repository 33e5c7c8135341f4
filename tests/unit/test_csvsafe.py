"""The CSV formula-injection rule (OWASP): text cells a spreadsheet would evaluate get a ``'``;
numbers stay numbers; the SQL form written by the QC engine gives the same cells."""

from __future__ import annotations

import csv
import decimal

import duckdb
import pytest

from ckanext.sinp.domain import csvsafe
from ckanext.sinp.domain.occtax import engine
from tests.unit.test_occtax_rules import BASE, JDD, REFS, TODAY, _csv

PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    '=HYPERLINK("http://exemple.invalid")',
    "\t=1+1",
    "\r=1+1",
    "-",
    "+",
    "@",
    "=",
    "-4.5abc",
    "+33 6 12 34 56",
]
SAFE = [
    "-4.5",
    "-4,5",
    "+12",
    "-0.000001",
    "-1e5",
    "-3E-2",
    "1.5",
    ".5",
    "-.5",
    "abc",
    "Myotis myotis",
    "",
    "'=déjà neutralisé",
    " =espace devant",
    "POINT(-4.5 47.3)",
    "2024-05-01",
    "a=b",
]


@pytest.mark.parametrize("value", PAYLOADS)
def test_a_text_cell_starting_with_a_trigger_is_neutralised(value):
    assert csvsafe.neutralise(value) == "'" + value
    assert csvsafe.neutralise(csvsafe.neutralise(value)) == "'" + value  # idempotent


@pytest.mark.parametrize("value", SAFE)
def test_numbers_and_plain_text_are_left_alone(value):
    assert csvsafe.neutralise(value) == value


@pytest.mark.parametrize("value", [-4.5, -1, 0, 3.25, decimal.Decimal("-12.50"), None, True])
def test_values_of_other_types_are_never_touched(value):
    assert csvsafe.neutralise(value) is value


def test_a_row_is_neutralised_cell_by_cell():
    assert csvsafe.neutralise_row(["=1+1", -4.5, "-4.5", None, "@x"]) == ["'=1+1", -4.5, "-4.5", None, "'@x"]


@pytest.mark.parametrize("value", PAYLOADS + SAFE + [None])
def test_the_sql_form_gives_the_same_cell(value):
    with duckdb.connect() as con:
        got = con.execute(f"SELECT {csvsafe.neutralise_sql('CAST($1 AS VARCHAR)')}", [value]).fetchone()[0]
    assert got == csvsafe.neutralise(value)


def _rejected_and_errors(tmp_path):
    bad = {
        **BASE,
        "idOrigine": "=cmd|' /C calc'!A0",
        "nomCite": "@SUM(1+1)*cmd|' /C calc'!A0",
        "observateur": "+1+cmd|' /C calc'!A0",
        "cdNom": "=1+1",
        "altitudeMin": "-4.5",
        "altitudeMax": "-2",
    }
    path = tmp_path / "d.csv"
    path.write_text(_csv([bad]), encoding="utf-8")
    with engine.run(path, REFS, engine.Options(jdd_uuid=JDD, today=TODAY)) as result:
        result.write_rejected_csv(tmp_path / "r.csv")
        result.write_errors_csv(tmp_path / "e.csv")
    return (
        list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8"))),
        list(csv.DictReader(open(tmp_path / "e.csv", encoding="utf-8"))),
    )


def test_the_engine_writes_neutralised_rejected_rows_and_errors(tmp_path):
    rejected, errors = _rejected_and_errors(tmp_path)
    assert len(rejected) == 1
    row = rejected[0]
    assert row["idOrigine"] == "'=cmd|' /C calc'!A0"
    assert row["nomCite"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row["observateur"] == "'+1+cmd|' /C calc'!A0"
    assert row["cdNom"] == "'=1+1"
    assert row["altitudeMin"] == "-4.5" and row["altitudeMax"] == "-2"  # numbers stay numbers
    assert errors and any(e["valeur"] == "'=1+1" for e in errors)
    for cells in [row.values()] + [e.values() for e in errors]:
        assert not any(csvsafe.is_dangerous(c) for c in cells)
