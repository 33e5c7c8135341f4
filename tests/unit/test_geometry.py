"""Geometry checks answer in French and accept what ckanext-spatial indexes."""

from __future__ import annotations

import json

import pytest

from ckanext.sinp.domain import geometry
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


# --- project areas of the territory service (parse_polygon, clip_to_bbox) ----------------------------------

BFC = (2.6, 46.0, 7.4, 48.6)
AREA = {"type": "Polygon", "coordinates": [[[5, 47], [5.1, 47], [5.1, 47.1], [5, 47.1], [5, 47]]]}


@pytest.mark.parametrize(
    "value",
    [
        AREA,
        json.dumps(AREA),
        {"type": "Feature", "geometry": AREA, "properties": {}},
        json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": AREA}]}),
        "POLYGON((5 47, 5.1 47, 5.1 47.1, 5 47.1, 5 47))",
        b"POLYGON((5 47, 5.1 47, 5.1 47.1, 5 47.1, 5 47))",
    ],
    ids=["dict", "geojson-text", "feature", "feature-collection", "wkt", "wkt-bytes"],
)
def test_a_project_area_is_read_from_geojson_or_wkt(value):
    geom = geometry.parse_polygon(value)
    assert geom.geom_type == "Polygon" and geom.bounds == (5.0, 47.0, 5.1, 47.1)


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "Dessinez ou déposez un polygone"),
        ("POINT(5 47)", "doit être un polygone"),
        ("POLYGON((800000 6700000, 800100 6700000, 800100 6700100, 800000 6700000))", "pas en Lambert-93"),
        ("{pas du json", "Polygone illisible"),
        ("POLYGON((" + "5 47, " * 400_000 + "5 47))", "trop volumineux"),
        ({"type": "Polygon", "coordinates": "x"}, "Polygone illisible"),
    ],
    ids=["empty", "point", "lambert93", "bad-json", "too-large", "bad-coordinates"],
)
def test_a_bad_project_area_is_refused_in_french(value, message):
    with pytest.raises(geometry.GeometryError, match=message):
        geometry.parse_polygon(value)


def test_a_bow_tie_is_repaired_not_refused():
    geom = geometry.parse_polygon("POLYGON((5 47, 5.1 47.1, 5.1 47, 5 47.1, 5 47))")
    assert geom.is_valid and geom.area > 0


def test_the_whole_world_is_clipped_to_the_region_and_a_far_polygon_refused():
    world = geometry.parse_polygon("POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))")
    assert geometry.clip_to_bbox(world, BFC).bounds == BFC
    inside = geometry.parse_polygon(AREA)
    assert geometry.clip_to_bbox(inside, BFC) is inside
    with pytest.raises(geometry.GeometryError, match="entièrement hors du territoire"):
        geometry.clip_to_bbox(geometry.parse_polygon("POLYGON((-60 10, -59 10, -59 11, -60 10))"), BFC)
