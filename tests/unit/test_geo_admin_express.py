"""The reader of IGN ADMIN EXPRESS outlines (``referentials/admin_express.py``) on synthetic files
(``tests/fixtures/admin_express.py``: ADMIN EXPRESS's layer and field names, shapes of ours): a
GeoPackage parsed with sqlite3 (header + WKB), GeoJSON exports in WGS 84 and in Lambert-93, the région
filter, and a French error naming the file, the layer and the field for each bad file."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest
import shapely

from ckanext.sinp.referentials import admin_express as ae
from ckanext.sinp.referentials.geo import GeoFormatError
from tests.fixtures import admin_express as fx


@pytest.fixture
def gpkg(tmp_path):
    return fx.write_gpkg(tmp_path / "ADMIN-EXPRESS-COG_3-2.gpkg")


def _areas(result) -> dict[str, float]:
    return {c.code: round(c.geometry.area / 1e6, 1) for c in result.records}


def test_geopackage_communes_of_the_region_as_multipolygons_in_lambert93(gpkg):
    result = ae.read_contours(gpkg, "communes")
    assert [(c.code, c.nom, c.departement, c.region) for c in result.records] == [
        ("21231", "Dijon", "21", "27"),
        ("21166", "Chenôve", "21", "27"),
        ("21054", "Beaune", "21", "27"),
        ("25056", "Besançon", "25", "27"),
    ]
    assert result.skipped_region == 1  # Bourg-en-Bresse (Ain, région 84)
    assert all(c.geometry.geom_type == "MultiPolygon" for c in result.records)
    dijon = result.records[0].geometry
    assert len(dijon.geoms) == 2 and dijon.equals(fx.COMMUNES[0][4])
    # the bow tie is kept as read (PostGIS makes it valid when stored)
    assert result.invalid == 1 and not result.records[2].geometry.is_valid
    assert result.source_format == "IGN ADMIN EXPRESS, GeoPackage (couche commune, EPSG:2154), région 27"


def test_geopackage_departements_layer_and_fields_in_any_case(gpkg):
    result = ae.read_contours(gpkg, "departements", region="toutes")
    assert [(d.code, d.nom, d.region) for d in result.records] == [
        ("21", "Côte-d'Or", "27"),
        ("25", "Doubs", "27"),
        ("01", "Ain", "84"),
    ]
    assert result.layer == "DEPARTEMENT" and result.region is None


def test_geojson_in_wgs84_is_projected_to_lambert93(tmp_path):
    path = fx.write_geojson(tmp_path / "communes.geojson", "communes")
    result = ae.read_contours(path, "communes")
    assert result.crs == 4326 and result.format == "GeoJSON"
    besancon = result.records[3].geometry
    assert besancon.geom_type == "MultiPolygon"
    # back in Lambert-93 within a centimetre of the drawn rectangle
    assert shapely.hausdorff_distance(besancon, fx.COMMUNES[3][4]) < 0.01
    assert _areas(result)["25056"] == 64.0


def test_geojson_in_lambert93_with_its_crs_member(tmp_path):
    path = fx.write_geojson(tmp_path / "dep.geojson", "departements", crs="urn:ogc:def:crs:EPSG::2154")
    result = ae.read_contours(path, "departements")
    assert result.crs == 2154 and _areas(result) == {"21": 10000.0, "25": 8000.0}


def test_a_geopackage_written_by_gdal_reads_the_same(tmp_path, gpkg):
    """GDAL's own GeoPackage writer (another header: its envelope, its flags) — when GDAL is installed."""
    if not shutil.which("ogr2ogr"):
        pytest.skip("ogr2ogr absent")
    out = tmp_path / "gdal.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), str(gpkg)], check=True, capture_output=True)
    assert _areas(ae.read_contours(out, "communes")) == _areas(ae.read_contours(gpkg, "communes"))


def test_gpkg_geometry_header_flags_big_endian_and_no_envelope():
    square = shapely.box(0, 0, 1, 1)
    blob = b"GP\x00\x00" + (2154).to_bytes(4, "big") + shapely.to_wkb(square, byte_order=0)
    assert ae.parse_gpkg_geometry(blob).equals(square)
    with pytest.raises(ValueError, match="en-tête « GP » absent"):
        ae.parse_gpkg_geometry(shapely.to_wkb(square))
    with pytest.raises(ValueError, match="type étendu"):
        ae.parse_gpkg_geometry(b"GP\x00\x20" + bytes(4) + shapely.to_wkb(square))


def _alter(gpkg, statement: str) -> None:
    db = sqlite3.connect(gpkg)
    db.execute(statement)
    db.commit()
    db.close()


def _write(path, document: dict):
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _error(path, kind="communes", **options) -> str:
    with pytest.raises(GeoFormatError) as caught:
        ae.read_contours(path, kind, **options)
    return str(caught.value)


def test_missing_layer_names_the_file_the_layer_and_those_present(tmp_path):
    path = fx.write_gpkg(tmp_path / "sans_communes.gpkg", communes=())
    message = _error(path)
    assert "sans_communes.gpkg" in message
    assert "couche « commune » absente du GeoPackage (couches présentes : DEPARTEMENT)" in message
    # a GeoJSON export of another ADMIN EXPRESS layer
    other = fx.write_geojson(tmp_path / "departements.geojson", "departements")
    message = _error(other)
    assert "departements.geojson" in message and "couche « departement »" in message
    assert "ogr2ogr -f GeoJSON" in message


def test_missing_field_names_it(tmp_path, gpkg):
    _alter(gpkg, 'ALTER TABLE commune RENAME COLUMN "INSEE_REG" TO "CODE_REG"')
    message = _error(gpkg)
    assert "couche « commune », champ « INSEE_REG » : champ obligatoire absent" in message
    document = fx.feature_collection("communes")
    for feature in document["features"]:
        del feature["properties"]["NOM"]
    assert "champ « NOM » : champ obligatoire absent" in _error(_write(tmp_path / "sans_nom.geojson", document))


def test_not_a_geometry(tmp_path, gpkg):
    _alter(gpkg, "UPDATE commune SET geom = X'0102' WHERE INSEE_COM = '21166'")
    message = _error(gpkg)
    assert "couche « commune », champ « geom » : objet n° 2 (INSEE_COM 21166)" in message
    assert "pas une géométrie GeoPackage" in message
    document = fx.feature_collection("communes")
    document["features"][0]["geometry"] = {"type": "Point", "coordinates": [5.0, 47.3]}
    message = _error(_write(tmp_path / "point.geojson", document))
    assert "objet n° 1 (INSEE_COM 21231)" in message and "de type Point" in message


def test_unknown_crs(tmp_path):
    path = fx.write_gpkg(tmp_path / "lambert2.gpkg", srs_id=27572)
    message = _error(path)
    assert "lambert2.gpkg" in message and "système de coordonnées inconnu (srs_id 27572)" in message
    geojson = fx.write_geojson(tmp_path / "autre.geojson", "communes", crs="urn:ogc:def:crs:EPSG::3857")
    message = _error(geojson)
    assert "système de coordonnées « urn:ogc:def:crs:EPSG::3857 » inconnu" in message
    # Lambert-93 coordinates without a crs member (RFC 7946 says WGS 84)
    document = fx.feature_collection("communes", crs="urn:ogc:def:crs:EPSG::2154")
    del document["crs"]
    assert "coordonnées hors de WGS 84" in _error(_write(tmp_path / "sans_crs.geojson", document))


def test_nothing_in_the_region(gpkg):
    message = _error(gpkg, region="44")
    assert "aucune commune de la région 44 dans ce fichier (régions présentes : 27, 84)" in message
    assert "--region" in message
    assert "aucun département de la région 11" in _error(gpkg, "departements", region="11")


def test_neither_geopackage_nor_geojson(tmp_path):
    path = tmp_path / "communes.csv"
    path.write_text("INSEE_COM;NOM\n21231;Dijon\n", encoding="utf-8")
    assert "ni GeoPackage ni GeoJSON" in _error(path)
