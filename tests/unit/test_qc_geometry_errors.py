"""A geometry refused by the QC (K18 out of the territory, C9 out of its SRID's area) says which
coordinates were read and, when swapping them would put the observation in the territory, that
they seem swapped. Row numbers are the lines a spreadsheet shows (header = line 1)."""

from __future__ import annotations

from ckanext.sinp.domain.occtax import engine
from tests.unit.test_occtax_rules import BASE, check

SWAPPED_WGS = "Latitude et longitude semblent inversées"
SWAPPED_L93 = "X et Y semblent inversés"


def _geometry_errors(tmp_path, *geometries, **columns):
    rows = [{**BASE, "idOrigine": f"OBS-{i}", "geometrie": g, **columns} for i, g in enumerate(geometries)]
    report = check(tmp_path, rows)
    return {e["row"]: e for e in report["errors"] if e["column"] == "geometrie"}


def test_latitude_written_first_is_out_of_the_territory_and_said_swapped(tmp_path):
    errors = _geometry_errors(tmp_path, "POINT(5.04 47.32)", "POINT(47.32 5.04)")
    assert list(errors) == [3]  # the second data row: line 3 of the spreadsheet
    error = errors[3]
    assert error["code"] == "K18" and error["blocking"]
    assert error["value"] == "longitude 47.32, latitude 5.04 (EPSG:4326)"
    assert error["message"] == (
        "La géométrie est hors du territoire de la plateforme (tolérance 2000 m). "
        "Latitude et longitude semblent inversées : inversées, elles tombent dans le territoire."
    )
    # the message never quotes the coordinates: masking the value hides them (chefs de file)
    assert "47.32" not in error["message"]


def test_a_point_really_elsewhere_gives_its_coordinates_without_a_swap_hint(tmp_path):
    error = _geometry_errors(tmp_path, "POINT(2.35 48.85)")[2]  # Paris
    assert error["code"] == "K18" and error["value"] == "longitude 2.35, latitude 48.85 (EPSG:4326)"
    assert SWAPPED_WGS not in error["message"] and SWAPPED_L93 not in error["message"]


def test_lambert93_written_y_first_is_said_swapped(tmp_path):
    error = _geometry_errors(tmp_path, "POINT(6680000 850000)", srid="2154")[2]
    assert error["code"] == "C9"  # outside Lambert-93's area of use
    assert error["value"] == "X 6680000, Y 850000 (EPSG:2154, Lambert-93)"
    assert SWAPPED_L93 in error["message"]


def test_a_swapped_line_is_said_swapped_and_its_wkt_is_the_value(tmp_path):
    wkt = "LINESTRING(47.32 5.04, 47.33 5.05)"
    error = _geometry_errors(tmp_path, wkt)[2]
    assert error["code"] == "K18" and error["value"] == wkt and SWAPPED_WGS in error["message"]


def test_every_swapped_row_of_a_file_is_flagged(tmp_path):
    """Set-wise: a whole file written latitude first, each row with its own coordinates."""
    n = 3000
    geometries = [f"POINT({46.5 + i / 10000:.4f} {4.0 + i / 10000:.4f})" for i in range(n)]
    errors = _geometry_errors(tmp_path, *geometries)
    assert sorted(errors) == list(range(engine.FIRST_DATA_LINE, n + engine.FIRST_DATA_LINE))
    assert all(e["code"] == "K18" and SWAPPED_WGS in e["message"] for e in errors.values())
    assert errors[2]["value"] == "longitude 46.5000, latitude 4.0000 (EPSG:4326)"
    assert errors[n + 1]["value"] == f"longitude {geometries[-1][6:13]}, latitude {geometries[-1][14:20]} (EPSG:4326)"


def test_an_unreadable_geometry_shows_what_was_read(tmp_path):
    error = _geometry_errors(tmp_path, "POINT(5,04 47,32)")[2]
    assert error["code"] == "C9" and error["value"] == "POINT(5,04 47,32)"
