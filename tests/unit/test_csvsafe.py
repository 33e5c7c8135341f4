"""The CSV formula-injection rule (OWASP): text cells a spreadsheet would evaluate get a ``'``;
numbers stay numbers; the SQL form written by the QC engine gives the same cells."""

from __future__ import annotations

import csv
import decimal
import io

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
    return _read(tmp_path / "r.csv"), _read(tmp_path / "e.csv")


def _read(path) -> list[dict]:
    """A CSV of the platform as a spreadsheet reads it (BOM, « ; »)."""
    raw = path.read_bytes()
    assert raw.startswith(csvsafe.BOM.encode("utf-8")) and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


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


ROWS = [
    ["3", "a;b", 'dit "oui"', "=1+1", None, "", "ligne\nsuivante", "-4.5", "é à ç"],
    ["4", "x", "y", "@z", "1", "2", "3", "4", "5"],
]
HEADER = ["numéro de ligne dans le tableur", "b", "c", "d", "e", "f", "g", "h", "i"]


def test_one_dialect_semicolon_bom_crlf_cells_neutralised():
    text = csvsafe.text(HEADER, ROWS)
    assert text.startswith("\ufeffnuméro de ligne dans le tableur;b;c;")
    assert text.count("\r\n") == 3 and text.endswith("\r\n")
    back = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=";"))
    assert back[1] == ["3", "a;b", 'dit "oui"', "'=1+1", "", "", "ligne\nsuivante", "-4.5", "é à ç"]
    assert back[2][3] == "'@z"
    assert "".join(csvsafe.stream(HEADER, ROWS, batch=1)) == text  # chunked or not, the same text


def test_duckdb_writes_the_same_bytes_as_python(tmp_path):
    """The engine's CSVs (DuckDB COPY) and the web pages' (Python) are one dialect, byte for byte."""
    target = tmp_path / "d.csv"
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (" + ", ".join(f'"{h}" VARCHAR' for h in HEADER) + ")")
        con.executemany("INSERT INTO t VALUES (" + ", ".join("?" * len(HEADER)) + ")", ROWS)
        cells = ", ".join(f'{csvsafe.neutralise_sql(chr(34) + h + chr(34))} AS "{h}"' for h in HEADER)
        csvsafe.duckdb_copy(con, f"SELECT {cells} FROM t ORDER BY 1", target)
    assert not (tmp_path / "d.csv.body").exists()
    written, expected = target.read_bytes(), csvsafe.text(HEADER, ROWS).encode("utf-8")
    # DuckDB quotes an empty text (« "" ») to tell it from NULL: a spreadsheet shows both empty
    assert written.replace(b';"";', b";;") == expected
