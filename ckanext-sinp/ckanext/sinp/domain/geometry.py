"""Checks of the geometries that users give (GeoJSON in WGS 84), with French messages."""

from __future__ import annotations

import functools
import json

import numpy as np
import shapely
from pyproj import Transformer
from shapely import wkt as shapely_wkt
from shapely.geometry import box, shape
from shapely.ops import unary_union
from shapely.validation import explain_validity

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


class GeometryError(ValueError):
    """A geometry that cannot be accepted; the message is meant for the user, in French."""


def _positions(coordinates):
    if coordinates and isinstance(coordinates[0], (int, float)):
        yield coordinates
    else:
        for item in coordinates or ():
            yield from _positions(item)


def parse_geojson_geometry(value) -> dict:
    """Parses a GeoJSON geometry given as text or dict and returns it as a dict.

    Raises GeometryError with a French message when the value is not JSON, not a
    GeoJSON geometry, outside WGS 84 bounds, or topologically invalid.
    """
    if isinstance(value, str):
        try:
            geometry = json.loads(value)
        except json.JSONDecodeError as err:
            raise GeometryError(
                f"L'emprise n'est pas du JSON valide (ligne {err.lineno}, colonne {err.colno})."
            ) from None
    else:
        geometry = value
    if not isinstance(geometry, dict) or geometry.get("type") not in GEOMETRY_TYPES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise GeometryError(f"L'emprise doit être une géométrie GeoJSON ({', '.join(GEOMETRY_TYPES)}), pas « {kind} ».")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise GeometryError("L'emprise n'a pas de coordonnées.")
    try:
        positions = list(_positions(coordinates))
        for position in positions:
            lon, lat = float(position[0]), float(position[1])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise GeometryError(
                    f"Coordonnée hors du système WGS 84 (EPSG:4326) : [{position[0]}, {position[1]}]. "
                    "La longitude doit être comprise entre -180 et 180 et la latitude entre -90 et 90."
                )
        geom = shape(geometry)
    except GeometryError:
        raise
    except (TypeError, ValueError, IndexError, AttributeError):
        raise GeometryError("Les coordonnées de l'emprise sont mal formées.") from None
    except Exception:  # shapely raises its own errors on degenerate input
        raise GeometryError("Les coordonnées de l'emprise sont mal formées.") from None
    if not geom.is_valid:
        raise GeometryError(f"La géométrie de l'emprise n'est pas valide : {explain_validity(geom)}.")
    return geometry


@functools.lru_cache(maxsize=2)
def transformer(source: int, target: int) -> Transformer:
    """A pyproj transformer between two EPSG codes, longitude first (cached)."""
    return Transformer.from_crs(source, target, always_xy=True)


def to_lambert93(geometry_wgs84):
    """The geometry in EPSG:2154, its edges densified first (0.01°) so that they follow the projection."""
    dense = shapely.segmentize(geometry_wgs84, max_segment_length=0.01)
    to_l93 = transformer(4326, 2154)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = to_l93.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(dense, project)


# --- a project area (territory service) ------------------------------------------------------------

MAX_POLYGON_BYTES = 2_000_000


def parse_polygon(value):
    """A polygon given as GeoJSON (geometry, Feature or FeatureCollection, text or dict) or WKT, in
    WGS 84: a valid shapely (Multi)Polygon (an invalid one is repaired with ``buffer(0)``).
    GeometryError with a French message otherwise."""

    if value in (None, ""):
        raise GeometryError("Dessinez ou déposez un polygone (GeoJSON ou WKT, WGS 84).")
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) > MAX_POLYGON_BYTES:
        raise GeometryError("Polygone trop volumineux (2 Mo au plus) : simplifiez-le.")
    try:
        if isinstance(value, str) and value.strip()[:1] not in ("{", "["):
            geom = shapely_wkt.loads(value)
        else:
            data = json.loads(value) if isinstance(value, str) else value
            if data.get("type") == "FeatureCollection":
                geom = unary_union([shape(f["geometry"]) for f in data.get("features", []) if f.get("geometry")])
            elif data.get("type") == "Feature":
                geom = shape(data["geometry"])
            else:
                geom = shape(data)
    except Exception:  # shapely and json raise many kinds of errors on hostile input
        raise GeometryError(
            "Polygone illisible : attendu un GeoJSON (Polygon, MultiPolygon, Feature, FeatureCollection) "
            "ou un WKT, en WGS 84."
        ) from None
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise GeometryError("La géométrie doit être un polygone (ou multipolygone).")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeometryError(
            "Coordonnées hors de WGS 84 : le polygone doit être en degrés (longitude, latitude), pas en Lambert-93."
        )
    return geom if geom.is_valid else geom.buffer(0)


def clip_to_bbox(geom, bbox: tuple[float, float, float, float]):
    """The polygon clipped to a bounding box (the region's): a polygon drawn larger than the region
    (the whole world) asks nothing more of it, and PostGIS's geography refuses edges of 180° or
    more. GeometryError when nothing of it is left."""

    region = box(*bbox)
    if region.contains(geom):
        return geom
    clipped = geom.intersection(region)
    if clipped.geom_type == "GeometryCollection":
        clipped = unary_union([g for g in clipped.geoms if g.geom_type in ("Polygon", "MultiPolygon")])
    if clipped.is_empty or clipped.geom_type not in ("Polygon", "MultiPolygon"):
        raise GeometryError(
            "Le polygone est entièrement hors du territoire de la plateforme : dessinez-le sur la région."
        )
    return clipped
