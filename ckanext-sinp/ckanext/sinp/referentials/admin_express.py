"""Reader of the commune and département outlines of IGN ADMIN EXPRESS (COG edition).

Pure parsing and geometry: no database, no ``import ckan`` (``geo_store.load_contours`` stores the
outlines). ADMIN EXPRESS is read as IGN distributes it:

- a **GeoPackage** (``.gpkg``): layers ``commune`` and ``departement`` (any case), attributes
  ``INSEE_COM``, ``NOM``, ``INSEE_DEP``, ``INSEE_REG`` (any case), MultiPolygon geometries in
  Lambert-93 (EPSG:2154). Read with the standard library's ``sqlite3`` (read-only) and shapely: a
  GeoPackage geometry is a header (``GP``, version, flags, SRS id, an optional envelope whose size
  the flags give) followed by standard WKB, parsed here (OGC 12-128r18, § 2.1.3);
- a **GeoJSON** export of one layer (``ogr2ogr -f GeoJSON contours.geojson ADMIN-EXPRESS-COG.gpkg
  commune``): WGS 84 (RFC 7946, or a ``crs`` member naming EPSG:4326 / CRS84) or Lambert-93 with a
  ``crs`` member naming EPSG:2154.

Outlines are returned in EPSG:2154 as shapely MultiPolygons, as the file holds them: an invalid one
(self-intersecting ring…) is kept and made valid by PostGIS (``ST_MakeValid``) when stored — the
reader refuses only what cannot be an outline (not a polygon, unreadable). Only the région asked for
(``--region``, 27 by default) is kept, by ``INSEE_REG``. Every error is a :class:`GeoFormatError`
naming the file, the layer and the field.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from ckanext.sinp.domain.geometry import transformer

from .geo import COMMUNE_CODE_RE, DEPARTEMENT_CODE_RE, REGION_BFC, GeoFormatError, normalize_region, nothing_kept

__all__ = ["KINDS", "Contour", "ContourFile", "read_contours", "parse_gpkg_geometry"]

# what each kind reads: the ADMIN EXPRESS layer, its code field, and the fields it requires
KINDS = {
    "communes": ("commune", "INSEE_COM", ("INSEE_COM", "NOM", "INSEE_DEP", "INSEE_REG")),
    "departements": ("departement", "INSEE_DEP", ("INSEE_DEP", "NOM", "INSEE_REG")),
}
# the layers of ADMIN EXPRESS (a GeoJSON export names its layer: another one is the wrong file)
_ADMIN_EXPRESS_LAYERS = {
    "arrondissement",
    "arrondissement_municipal",
    "canton",
    "chflieu_arrondissement_municipal",
    "chflieu_commune",
    "chflieu_commune_associee_ou_deleguee",
    "collectivite_territoriale",
    "commune",
    "commune_associee_ou_deleguee",
    "departement",
    "epci",
    "region",
}
_SQLITE_MAGIC = b"SQLite format 3\x00"
# GeoPackage header: envelope size in bytes by the flags' envelope indicator (bits 1-3)
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}
_LAMBERT93_BOUNDS = (-400_000, 5_900_000, 1_400_000, 7_300_000)  # metropolitan France, generously


@dataclasses.dataclass(frozen=True)
class Contour:
    """One outline: INSEE code, name, département and région codes, MultiPolygon in EPSG:2154."""

    code: str
    nom: str
    departement: str
    region: str
    geometry: MultiPolygon

    @property
    def wkb_hex(self) -> str:
        return shapely.to_wkb(self.geometry, hex=True)


@dataclasses.dataclass
class ContourFile:
    source: str
    kind: str
    format: str  # "GeoPackage", "GeoJSON"
    layer: str
    crs: int  # EPSG code of the file (outlines are returned in 2154)
    region: str | None
    records: list[Contour] = dataclasses.field(default_factory=list)
    skipped_region: int = 0
    invalid: int = 0  # outlines PostGIS will make valid

    @property
    def source_format(self) -> str:
        """What the loader records in ``sinp_referential_version.source_format``."""
        scope = f", région {self.region}" if self.region else ", sans filtre régional"
        return f"IGN ADMIN EXPRESS, {self.format} (couche {self.layer}, EPSG:{self.crs}){scope}"


class _Error:
    """Builds the :class:`GeoFormatError` of one file and layer (French, naming both)."""

    def __init__(self, name: str, layer: str | None = None):
        self.name, self.layer = name, layer

    def __call__(self, message: str, field: str | None = None) -> GeoFormatError:
        where = f"couche « {self.layer} »" if self.layer else ""
        if field:
            where += f"{', ' if where else ''}champ « {field} »"
        return GeoFormatError(f"{where} : {message}" if where else message, source=self.name)


# -- GeoPackage -----------------------------------------------------------------------------------
def parse_gpkg_geometry(blob: bytes):
    """The shapely geometry of a GeoPackage geometry blob (header + WKB); ValueError (French) else.

    Header: ``GP``, version (0), flags (bit 0: byte order of the header's numbers, 1 little endian;
    bits 1-3: envelope indicator; bit 4: empty geometry; bit 5: extended type), SRS id (int32),
    envelope (0, 32, 48 or 64 bytes), then the WKB (which carries its own byte order)."""
    if not isinstance(blob, (bytes, bytearray, memoryview)) or len(blob) < 8:
        raise ValueError("la valeur n'est pas une géométrie GeoPackage (trop courte ou pas binaire)")
    blob = bytes(blob)
    if blob[:2] != b"GP":
        raise ValueError("la valeur n'est pas une géométrie GeoPackage (en-tête « GP » absent)")
    flags = blob[3]
    if flags & 0b100000:
        raise ValueError("géométrie GeoPackage de type étendu (non standard) : non prise en charge")
    indicator = (flags >> 1) & 0b111
    if indicator not in _ENVELOPE_BYTES:
        raise ValueError(f"indicateur d'enveloppe GeoPackage invalide ({indicator})")
    start = 8 + _ENVELOPE_BYTES[indicator]
    if flags & 0b10000 or len(blob) <= start:
        return shapely.Polygon()  # an empty geometry
    try:
        return shapely.from_wkb(blob[start:])
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"WKB illisible ({exc})") from None


def _gpkg_srs(db: sqlite3.Connection, srs_id: int) -> int | None:
    row = db.execute(
        "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None:
        return None
    organization, code, definition = row
    if str(organization or "").upper() == "EPSG" and code in (2154, 4326):
        return int(code)
    if re.search(r'AUTHORITY\["EPSG",\s*"2154"\]\]\s*$|ID\["EPSG",\s*2154\]\]\s*$', definition or ""):
        return 2154
    return None


def _read_gpkg(path, name: str, kind: str) -> tuple[str, int, list[tuple[dict, object, str]]]:
    """(layer name as in the file, EPSG code, [(attributes by upper-case name, geometry or error, label)])."""
    layer, _, _ = KINDS[kind]
    error = _Error(name)
    try:
        db = sqlite3.connect(f"file:{os.path.abspath(os.fspath(path))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise error(f"GeoPackage illisible ({exc}).") from None
    try:
        try:
            tables = db.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall()
        except sqlite3.Error:
            raise error("ce fichier SQLite n'est pas un GeoPackage (table gpkg_contents absente).") from None
        found = [t for t, data_type in tables if str(t).lower() == layer and data_type == "features"]
        if not found:
            present = ", ".join(sorted(str(t) for t, _ in tables)) or "aucune"
            raise error(
                f"couche « {layer} » absente du GeoPackage (couches présentes : {present}). Le fichier"
                " attendu est ADMIN EXPRESS COG de l'IGN (couches commune et departement)."
            )
        table = found[0]
        error = _Error(name, table)
        geometry_row = db.execute(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (table,)
        ).fetchone()
        if geometry_row is None:
            raise error("aucune colonne de géométrie déclarée (gpkg_geometry_columns).")
        geometry_column, srs_id = geometry_row
        crs = _gpkg_srs(db, srs_id)
        if crs is None:
            raise error(
                f"système de coordonnées inconnu (srs_id {srs_id}) : Lambert-93 (EPSG:2154) ou WGS 84"
                " (EPSG:4326) attendu. Reprojetez la couche : ogr2ogr -t_srs EPSG:2154 …",
                geometry_column,
            )
        quoted = '"' + str(table).replace('"', '""') + '"'
        columns = [c[1] for c in db.execute(f"PRAGMA table_info({quoted})")]
        by_upper = {str(c).upper(): c for c in columns}
        _require_fields(by_upper, kind, error)
        wanted = [by_upper[f] for f in KINDS[kind][2]]
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in [*wanted, geometry_column])
        features = []
        for values in db.execute(f"SELECT {select} FROM {quoted}"):
            attributes = {f: values[i] for i, f in enumerate(KINDS[kind][2])}
            try:
                geometry = parse_gpkg_geometry(values[-1]) if values[-1] is not None else None
            except ValueError as exc:
                geometry = str(exc)
            features.append((attributes, geometry, geometry_column))
        return str(table), crs, features
    except sqlite3.DatabaseError as exc:
        raise error(f"GeoPackage illisible ({exc}).") from None
    finally:
        db.close()


def _require_fields(by_upper: dict, kind: str, error: _Error) -> None:
    for field in KINDS[kind][2]:
        if field not in by_upper:
            present = ", ".join(sorted(by_upper)) or "aucun"
            raise error(f"champ obligatoire absent (champs présents : {present}).", field)


# -- GeoJSON ----------------------------------------------------------------------------------------
def _geojson_crs(document: dict, error: _Error) -> int:
    crs = document.get("crs")
    if not crs:
        return 4326  # RFC 7946
    declared = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else str(crs)
    if re.search(r"CRS84|EPSG:{1,2}4326\b", declared):
        return 4326
    if re.search(r"EPSG:{1,2}2154\b", declared):
        return 2154
    raise error(
        f"système de coordonnées « {declared} » inconnu : WGS 84 (EPSG:4326) ou Lambert-93 (EPSG:2154)"
        " attendu. Reprojetez le fichier : ogr2ogr -f GeoJSON -t_srs EPSG:4326 sortie.geojson entree.gpkg commune",
        "crs",
    )


def _read_geojson(path, name: str, kind: str) -> tuple[str, int, list[tuple[dict, object, str]]]:
    layer = KINDS[kind][0]
    error = _Error(name)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            document = json.load(handle)
    except UnicodeDecodeError:
        raise error("le fichier n'est ni un GeoPackage ni un GeoJSON en UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise GeoFormatError(
            f"ni GeoPackage ni GeoJSON : JSON invalide ({exc.msg}, caractère {exc.colno}).",
            source=name,
            line_number=exc.lineno,
        ) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        kind_found = document.get("type") if isinstance(document, dict) else type(document).__name__
        raise error(f"objet GeoJSON de type « {kind_found} » : une FeatureCollection (export ogr2ogr) est attendue.")
    named = str(document.get("name") or "")
    if named.lower() in _ADMIN_EXPRESS_LAYERS and named.lower() != layer:
        raise error(
            f"couche « {layer} » absente : ce fichier est la couche « {named} » d'ADMIN EXPRESS. Exportez la"
            f" couche {layer} : ogr2ogr -f GeoJSON sortie.geojson ADMIN-EXPRESS-COG.gpkg {layer}"
        )
    error = _Error(name, named or layer)
    crs = _geojson_crs(document, error)
    raw = [f for f in document.get("features") or [] if isinstance(f, dict)]
    upper = {str(k).upper(): k for f in raw[:1] for k in (f.get("properties") or {})}
    if raw:
        _require_fields(upper, kind, error)
    features = []
    for feature in raw:
        properties = {str(k).upper(): v for k, v in (feature.get("properties") or {}).items()}
        attributes = {f: properties.get(f) for f in KINDS[kind][2]}
        geometry = feature.get("geometry")
        if geometry is not None:
            try:
                geometry = shape(geometry)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.GEOSException) as exc:
                geometry = f"coordonnées illisibles ({exc})"
        features.append((attributes, geometry, "geometry"))
    return named or layer, crs, features


# -- both -------------------------------------------------------------------------------------------
def _is_gpkg(path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(16) == _SQLITE_MAGIC


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _multipolygon(geometry, crs: int, label: str, field: str, error: _Error) -> MultiPolygon:
    if geometry is None:
        raise error(f"{label} sans géométrie.", field)
    if isinstance(geometry, str):
        raise error(f"{label} : {geometry}.", field)
    if isinstance(geometry, Polygon):
        geometry = MultiPolygon([geometry]) if not geometry.is_empty else geometry
    if not isinstance(geometry, MultiPolygon) or geometry.is_empty:
        kind = "vide" if geometry.is_empty else f"de type {geometry.geom_type}"
        raise error(f"{label} : géométrie {kind}, un polygone ou multipolygone est attendu.", field)
    geometry = shapely.force_2d(geometry)
    if crs == 4326:
        xmin, ymin, xmax, ymax = geometry.bounds
        if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
            raise error(
                f"{label} : coordonnées hors de WGS 84 (x de {xmin:.0f} à {xmax:.0f}) alors que le fichier ne"
                " déclare pas de système de coordonnées : ajoutez-le (ogr2ogr -a_srs EPSG:2154) ou reprojetez.",
                field,
            )
        # no densifying (``domain.geometry.to_lambert93``): outlines have short edges, and GEOS would
        # rewrite an invalid one that PostGIS is to make valid
        to_l93 = transformer(4326, 2154)
        geometry = shapely.transform(geometry, lambda c: np.column_stack(to_l93.transform(c[:, 0], c[:, 1])))
    xmin, ymin, xmax, ymax = geometry.bounds
    if xmin < _LAMBERT93_BOUNDS[0] or ymin < _LAMBERT93_BOUNDS[1] or xmax > _LAMBERT93_BOUNDS[2]:
        raise error(f"{label} : coordonnées hors de la France métropolitaine en Lambert-93 (EPSG:2154).", field)
    return geometry


def read_contours(path, kind: str, region: str | None = REGION_BFC) -> ContourFile:
    """Read the outlines of ``kind`` (``communes`` or ``departements``) from an ADMIN EXPRESS
    GeoPackage or GeoJSON; keep those of ``region`` (None: all). Raises :class:`GeoFormatError`."""
    if kind not in KINDS:
        raise ValueError(f"type de contours inconnu : {kind}")
    region = normalize_region(region)
    name = os.path.basename(os.fspath(path))
    if not os.path.isfile(path):
        raise GeoFormatError(f"fichier introuvable : {os.fspath(path)}")
    gpkg = _is_gpkg(path)
    layer, crs, features = (_read_gpkg if gpkg else _read_geojson)(path, name, kind)
    error = _Error(name, layer)
    code_field = KINDS[kind][1]
    result = ContourFile(name, kind, "GeoPackage" if gpkg else "GeoJSON", layer, crs, region)
    seen: set[str] = set()
    regions_seen: set[str] = set()
    for number, (attributes, geometry, geometry_field) in enumerate(features, start=1):
        code = _text(attributes[code_field])
        label = f"objet n° {number} ({code_field} {code or 'vide'})"
        pattern = COMMUNE_CODE_RE if kind == "communes" else DEPARTEMENT_CODE_RE
        if not pattern.match(code):
            raise error(f"{label} : « {code[:20]} » n'est pas un code INSEE valide.", code_field)
        departement = _text(attributes["INSEE_DEP"])
        if kind == "communes" and not code.startswith(departement):
            raise error(f"{label} : la commune n'appartient pas au département « {departement} ».", "INSEE_DEP")
        nom = _text(attributes["NOM"])
        if not nom:
            raise error(f"{label} : nom vide.", "NOM")
        row_region = _text(attributes["INSEE_REG"])
        regions_seen.add(row_region or "?")
        if region and row_region != region:
            result.skipped_region += 1
            continue
        if code in seen:
            raise error(f"{label} : code en double.", code_field)
        seen.add(code)
        outline = _multipolygon(geometry, crs, label, geometry_field, error)
        result.invalid += not outline.is_valid
        result.records.append(Contour(code, nom, departement, row_region, outline))
    if not result.records:
        none = "aucune commune" if kind == "communes" else "aucun département"
        raise error(nothing_kept(none, region, regions_seen if features else set()))
    return result
