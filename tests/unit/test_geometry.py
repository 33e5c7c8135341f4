"""Geometry checks answer in French and accept what ckanext-spatial indexes."""

from __future__ import annotations

import json

import pytest

from ckanext.sinp.domain.geometry import GeometryError, parse_geojson_geometry

SQUARE = {"type": "Polygon", "coordinates": [[[4.0, 47.0], [5.0, 47.0], [5.0, 48.0], [4.0, 48.0], [4.0, 47.0]]]}


def test_accepts_text_and_dict():
    assert parse_geojson_geometry(json.dumps(SQUARE)) == SQUARE
    assert parse_geojson_geometry({"type": "Point", "coordinates": [5.04, 47.32]})["type"] == "Point"


@pytest.mark.parametrize(
    "value, message",
    [
        ("{pas du json", "n'est pas du JSON valide (ligne 1, colonne 2)"),
        ('{"type": "Feature", "geometry": null}', "pas « Feature »"),
        ("[1, 2]", "pas « list »"),
        ('{"type": "Polygon", "coordinates": []}', "n'a pas de coordonnées"),
        ('{"type": "Point", "coordinates": [700000, 6600000]}', "hors du système WGS 84"),
        ('{"type": "Polygon", "coordinates": [[[4, 47], [5, 48], [5, 47], [4, 48], [4, 47]]]}', "n'est pas valide"),
        ('{"type": "Polygon", "coordinates": [["a", "b"]]}', "mal formées"),
    ],
)
def test_refuses_bad_geometries_with_a_french_message(value, message):
    with pytest.raises(GeometryError) as err:
        parse_geojson_geometry(value)
    assert message in str(err.value)
