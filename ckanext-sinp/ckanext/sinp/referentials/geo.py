"""Readers of the administrative and grid referentials: communes, départements, INPN 10 km grid, territory.

Pure parsing and geometry: no database, no ``import ckan`` (``geo_store.py`` loads
the results into PostgreSQL). Formats documented in ``schemas/referentiels/*/README.md``.

- **Communes**: the INSEE COG file ``v_commune_AAAA.csv`` (``TYPECOM, COM, REG, DEP,
  CTCD, ARR, TNCC, NCC, NCCENR, LIBELLE, CAN, COMPARENT``; only ``TYPECOM = COM``
  rows, filtered on a region, ``27`` by default), IGN ADMIN EXPRESS attributes
  exported as CSV (``INSEE_COM, NOM_COM`` or ``NOM, INSEE_DEP, INSEE_REG``), or the
  project's simple CSV ``code;nom;departement`` (optional ``region``).
- **Départements**: INSEE ``v_departement_AAAA.csv`` (``DEP, REG, CHEFLIEU, TNCC,
  NCC, NCCENR, LIBELLE``, filtered on a region) or the simple ``code;nom`` CSV
  (optional ``region``, ``chef_lieu``).
- **INPN 10 km Lambert-93 grid**: CSV ``cd_sig;code_10km`` with an optional ``wkt``
  column (polygon in EPSG:2154); :func:`cells_intersecting` computes every cell of
  a territory and :func:`mailles_csv` writes that CSV.
- **Territory outline**: GeoJSON Polygon/MultiPolygon in WGS 84.

Cell codes (INPN/MNHN): ``10kmL93E{x}N{y}`` with x = floor(easting / 1000) // 10
and y = floor(northing / 1000) // 10 on three digits: the point (749648, 6956485)
is in ``10kmL93E074N695`` (short code ``E074N695``).

Separators and encodings of the CSV files are detected (see ``tabular.py``);
every error is a :class:`GeoFormatError` naming the file, the line and the column.

Command (generates the grid of a territory)::

    python -m ckanext.sinp.referentials.geo mailles TERRITOIRE.geojson SORTIE.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from ckanext.sinp.domain.geometry import to_lambert93, transformer

from .tabular import DelimitedTable, Layout, ReferentialFormatError, Row, load_text, separator_label

__all__ = [
    "REGION_BFC",
    "DEPARTEMENTS_BFC",
    "GRID_SIZE_M",
    "GeoFormatError",
    "Commune",
    "Departement",
    "Maille",
    "CommuneFile",
    "DepartementFile",
    "MailleFile",
    "Territory",
    "GridCell",
    "read_communes",
    "read_departements",
    "read_mailles",
    "read_territory",
    "cell_for_l93",
    "cell_for_wgs84",
    "parse_cell",
    "cells_intersecting",
    "mailles_csv",
    "write_mailles_csv",
    "to_lambert93",
    "main",
]

REGION_BFC = "27"
DEPARTEMENTS_BFC = ("21", "25", "39", "58", "70", "71", "89", "90")
GRID_SIZE_M = 10_000

COMMUNE_CODE_RE = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{3}\Z")
DEPARTEMENT_CODE_RE = re.compile(r"(?:0[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-8])\Z")
_REGION_RE = re.compile(r"[0-9]{2}\Z")
_CELL_RE = re.compile(r"(?:10kmL93)?E([0-9]{3})N([0-9]{3})\Z")


class GeoFormatError(ReferentialFormatError):
    """A communes/départements/grid/territory file that cannot be read (French message)."""


# -- records ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class Commune:
    code: str
    nom: str
    departement: str
    region: str | None
    line_number: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Departement:
    code: str
    nom: str
    region: str | None
    chef_lieu: str | None
    line_number: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Maille:
    cd_sig: str
    code_10km: str
    wkt: str | None
    line_number: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass
class _TableFile:
    source: str
    encoding: str
    separator: str
    format: str

    @property
    def source_format(self) -> str:
        """What the loader records in ``sinp_referential_version.source_format``."""
        return f"{self.format} (séparateur {separator_label(self.separator)}, {self.encoding})"


@dataclasses.dataclass
class _RegionalFile(_TableFile):
    region: str | None = None  # region filter applied (None: every row kept)
    skipped_region: int = 0  # rows of another region

    @property
    def source_format(self) -> str:
        scope = f", région {self.region}" if self.region else ", sans filtre régional"
        return f"{self.format}{scope} (séparateur {separator_label(self.separator)}, {self.encoding})"


@dataclasses.dataclass
class CommuneFile(_RegionalFile):
    records: list[Commune] = dataclasses.field(default_factory=list)
    skipped_type: int = 0  # COG rows that are not communes (COMA, COMD, ARM)


@dataclasses.dataclass
class DepartementFile(_RegionalFile):
    records: list[Departement] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MailleFile(_TableFile):
    records: list[Maille] = dataclasses.field(default_factory=list)
    has_wkt: bool = False


# -- layouts -----------------------------------------------------------------------------
_COMMUNE_LAYOUTS = (
    Layout("cog", ("TYPECOM", "COM", "REG", "DEP", "LIBELLE"), "fichier COG de l'INSEE v_commune_AAAA.csv"),
    Layout(
        "admin_express",
        ("INSEE_COM", "INSEE_DEP", "INSEE_REG"),
        "attributs IGN ADMIN EXPRESS (INSEE_COM, NOM_COM ou NOM, INSEE_DEP, INSEE_REG)",
    ),
    Layout("simple", ("CODE", "NOM", "DEPARTEMENT"), "CSV simple code;nom;departement"),
)
_DEPARTEMENT_LAYOUTS = (
    Layout("cog", ("DEP", "REG", "LIBELLE"), "fichier COG de l'INSEE v_departement_AAAA.csv"),
    Layout("simple", ("CODE", "NOM"), "CSV simple code;nom"),
)
_MAILLE_LAYOUTS = (Layout("grille", ("CD_SIG", "CODE_10KM"), "grille INPN cd_sig;code_10km[;wkt]"),)
_FORMAT_NAMES = {
    "cog": "COG INSEE",
    "admin_express": "IGN ADMIN EXPRESS",
    "simple": "CSV simple",
    "grille": "grille INPN 10 km L93",
}


def _open(source, kind: str, layouts: Sequence[Layout]) -> DelimitedTable:
    decoded = load_text(source, kind=kind, error=GeoFormatError)
    return DelimitedTable(decoded, layouts, kind=kind, error=GeoFormatError)


def _code(row: Row, column: str, pattern: re.Pattern, what: str) -> str:
    value = row.text(column, required=True)
    if not pattern.match(value):
        raise row.error(f"« {value[:20]} » n'est pas un code {what} valide.", column)
    return value


def normalize_region(region: str | None) -> str | None:
    if region is None or str(region).strip().lower() in ("", "toutes", "tout", "all", "*"):
        return None
    region = str(region).strip()
    if not _REGION_RE.match(region):
        raise GeoFormatError(
            f"code de région « {region} » invalide : deux chiffres attendus (27 pour la"
            " Bourgogne-Franche-Comté), ou « toutes »."
        )
    return region


def _check_unique(row: Row, seen: dict[str, int], code: str, column: str) -> None:
    first = seen.setdefault(code, row.line_number)
    if first != row.line_number:
        raise row.error(f"code {code} en double (déjà présent ligne {first}).", column)


# -- communes ---------------------------------------------------------------------------
def _commune_values(row: Row, layout: str) -> tuple[str | None, str, str, str, str | None, str]:
    """(TYPECOM or None, code, nom, departement, region, code column) of a row, by layout."""
    if layout == "cog":
        return (
            row.text("TYPECOM", required=True),
            _code(row, "COM", COMMUNE_CODE_RE, "commune INSEE"),
            row.text("LIBELLE", required=True),
            _code(row, "DEP", DEPARTEMENT_CODE_RE, "département"),
            row.text("REG"),
            "COM",
        )
    if layout == "admin_express":
        name_column = "NOM_COM" if row.has("NOM_COM") else "NOM"
        return (
            None,
            _code(row, "INSEE_COM", COMMUNE_CODE_RE, "commune INSEE"),
            row.text(name_column, required=True),
            _code(row, "INSEE_DEP", DEPARTEMENT_CODE_RE, "département"),
            row.text("INSEE_REG"),
            "INSEE_COM",
        )
    return (
        None,
        _code(row, "CODE", COMMUNE_CODE_RE, "commune INSEE"),
        row.text("NOM", required=True),
        _code(row, "DEPARTEMENT", DEPARTEMENT_CODE_RE, "département"),
        row.text("REGION"),
        "CODE",
    )


def read_communes(source, region: str | None = REGION_BFC) -> CommuneFile:
    """Read a communes file; keep the communes (``TYPECOM = COM``) of ``region`` (None: all).

    The region filter applies to the formats that carry a region (COG, ADMIN
    EXPRESS, simple CSV with a ``region`` column); a simple CSV without it is
    taken whole. Raises :class:`GeoFormatError`.
    """
    region = normalize_region(region)
    table = _open(source, "communes", _COMMUNE_LAYOUTS)
    layout = table.layout.name
    filtering = region if (layout != "simple" or "REGION" in table.columns) else None
    result = CommuneFile(table.name, table.encoding, table.separator, _FORMAT_NAMES[layout], region=filtering)
    if layout == "admin_express" and not ({"NOM_COM", "NOM"} & set(table.columns)):
        raise table.error("colonne du nom de la commune absente (NOM_COM ou NOM).", table.header_line)
    seen: dict[str, int] = {}
    regions_seen: set[str] = set()
    for row in table.rows():
        typecom, code, nom, departement, row_region, column = _commune_values(row, layout)
        if typecom is not None and typecom != "COM":
            result.skipped_type += 1
            continue
        if not code.startswith(departement):
            raise row.error(
                f"la commune {code} n'appartient pas au département {departement}"
                " (le code commune commence par celui du département).",
                column,
            )
        regions_seen.add(row_region or "?")
        if filtering and row_region != filtering:
            result.skipped_region += 1
            continue
        _check_unique(row, seen, code, column)
        result.records.append(Commune(code, nom, departement, row_region, row.line_number))
    if not result.records:
        raise table.error(nothing_kept("aucune commune", filtering, regions_seen))
    return result


def nothing_kept(none: str, region: str | None, regions_seen: set[str]) -> str:
    """French message for a file where nothing was kept (``none``: "aucune commune"…)."""
    if region and regions_seen:
        shown = ", ".join(sorted(regions_seen)[:20])
        return (
            f"{none} de la région {region} dans ce fichier (régions présentes : {shown}). Vérifiez l'option --region."
        )
    return f"le fichier ne contient {none}."


# -- départements -----------------------------------------------------------------------
def read_departements(source, region: str | None = REGION_BFC) -> DepartementFile:
    """Read a départements file; keep those of ``region`` (None: all). Raises :class:`GeoFormatError`."""
    region = normalize_region(region)
    table = _open(source, "départements", _DEPARTEMENT_LAYOUTS)
    cog = table.layout.name == "cog"
    filtering = region if (cog or "REGION" in table.columns) else None
    result = DepartementFile(
        table.name, table.encoding, table.separator, _FORMAT_NAMES[table.layout.name], region=filtering
    )
    seen: dict[str, int] = {}
    regions_seen: set[str] = set()
    code_column = "DEP" if cog else "CODE"
    for row in table.rows():
        code = _code(row, code_column, DEPARTEMENT_CODE_RE, "département")
        nom = row.text("LIBELLE" if cog else "NOM", required=True)
        row_region = row.text("REG" if cog else "REGION")
        chef_lieu_column = "CHEFLIEU" if cog else "CHEF_LIEU"
        chef_lieu = (
            _code(row, chef_lieu_column, COMMUNE_CODE_RE, "commune INSEE") if row.text(chef_lieu_column) else None
        )
        regions_seen.add(row_region or "?")
        if filtering and row_region != filtering:
            result.skipped_region += 1
            continue
        _check_unique(row, seen, code, code_column)
        result.records.append(Departement(code, nom, row_region, chef_lieu, row.line_number))
    if not result.records:
        raise table.error(nothing_kept("aucun département", filtering, regions_seen))
    return result


# -- grid -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, order=True)
class GridCell:
    """A cell of the INPN 10 km Lambert-93 grid, by its indices (kilometres // 10)."""

    x_index: int
    y_index: int

    @property
    def code(self) -> str:
        """Short code, e.g. ``E074N695``."""
        return f"E{self.x_index:03d}N{self.y_index:03d}"

    @property
    def cd_sig(self) -> str:
        """INPN CD_SIG, e.g. ``10kmL93E074N695``."""
        return f"10kmL93{self.code}"

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(xmin, ymin, xmax, ymax) in metres, EPSG:2154."""
        x0, y0 = self.x_index * GRID_SIZE_M, self.y_index * GRID_SIZE_M
        return x0, y0, x0 + GRID_SIZE_M, y0 + GRID_SIZE_M

    @property
    def wkt(self) -> str:
        """The cell square as WKT (EPSG:2154, integer metres, counter-clockwise)."""
        x0, y0, x1, y1 = self.bounds
        return f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"

    def polygon(self) -> Polygon:
        return shapely.box(*self.bounds)


def cell_for_l93(x: float, y: float) -> GridCell:
    """The 10 km cell containing a Lambert-93 point (metres)."""
    return GridCell(math.floor(x / 1000) // 10, math.floor(y / 1000) // 10)


def cell_for_wgs84(lon: float, lat: float) -> GridCell:
    """The 10 km cell containing a WGS 84 point (longitude, latitude in degrees)."""
    x, y = transformer(4326, 2154).transform(lon, lat)
    return cell_for_l93(x, y)


def parse_cell(code: str) -> GridCell:
    """The cell of a code, CD_SIG (``10kmL93E074N695``) or short (``E074N695``); ValueError (French) else."""
    match = _CELL_RE.match((code or "").strip())
    if not match:
        raise ValueError(
            f"« {code} » n'est pas un code de maille 10 km Lambert-93 (attendu : 10kmL93E074N695 ou E074N695)."
        )
    return GridCell(int(match.group(1)), int(match.group(2)))


def cells_intersecting(geometry_wgs84) -> list[GridCell]:
    """Every 10 km cell sharing some area with a WGS 84 (Multi)Polygon, sorted by E then N."""
    area = to_lambert93(geometry_wgs84)
    shapely.prepare(area)
    xmin, ymin, xmax, ymax = area.bounds
    cells = [
        GridCell(i, j)
        for i in range(math.floor(xmin / GRID_SIZE_M), math.floor(xmax / GRID_SIZE_M) + 1)
        for j in range(math.floor(ymin / GRID_SIZE_M), math.floor(ymax / GRID_SIZE_M) + 1)
    ]
    boxes = np.array([cell.polygon() for cell in cells])
    touching = shapely.intersects(area, boxes)
    keep = np.zeros(len(cells), dtype=bool)
    keep[touching] = shapely.area(shapely.intersection(area, boxes[touching])) > 0
    return sorted(cell for cell, kept in zip(cells, keep) if kept)


def mailles_csv(cells: Iterable[GridCell]) -> str:
    """The grid CSV (``cd_sig;code_10km;wkt``, LF line ends) of some cells."""
    lines = ["cd_sig;code_10km;wkt"] + [f"{c.cd_sig};{c.code};{c.wkt}" for c in sorted(cells)]
    return "\n".join(lines) + "\n"


def write_mailles_csv(cells: Iterable[GridCell], path) -> int:
    """Write :func:`mailles_csv` to ``path`` (UTF-8); returns the number of cells."""
    cells = sorted(cells)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(mailles_csv(cells))
    return len(cells)


def _maille(row: Row, with_wkt: bool) -> Maille:
    cd_sig = row.text("CD_SIG", required=True)
    try:
        cell = parse_cell(cd_sig)
    except ValueError as exc:
        raise row.error(str(exc), "CD_SIG") from None
    if cd_sig != cell.cd_sig:
        raise row.error(f"« {cd_sig} » n'est pas un CD_SIG de maille 10 km (attendu : {cell.cd_sig}).", "CD_SIG")
    code = row.text("CODE_10KM", required=True)
    if code != cell.code:
        raise row.error(
            f"CODE_10KM « {code} » ne correspond pas au CD_SIG {cd_sig} (attendu : {cell.code}).", "CODE_10KM"
        )
    wkt = row.text("WKT") if with_wkt else None
    if wkt is not None:
        _check_cell_geometry(row, cell, wkt)
    return Maille(cd_sig, code, wkt, row.line_number)


def _check_cell_geometry(row: Row, cell: GridCell, wkt: str) -> None:
    try:
        geometry = shapely.from_wkt(wkt)
    except shapely.errors.GEOSException as exc:
        raise row.error(f"WKT illisible ({exc}).", "WKT") from None
    if isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    if not isinstance(geometry, Polygon):
        raise row.error(f"la géométrie est un {geometry.geom_type}, un polygone est attendu.", "WKT")
    expected = cell.bounds
    if (
        any(abs(a - b) > 1.0 for a, b in zip(geometry.bounds, expected))
        or abs(geometry.area - GRID_SIZE_M**2) > GRID_SIZE_M
    ):
        shown = ", ".join(f"{v:.0f}" for v in geometry.bounds)
        raise row.error(
            f"la géométrie (emprise {shown}) n'est pas le carré de la maille {cell.code}"
            f" ({', '.join(map(str, expected))}, Lambert-93 EPSG:2154 attendu).",
            "WKT",
        )


def read_mailles(source) -> MailleFile:
    """Read a 10 km grid CSV (``cd_sig;code_10km`` + optional ``wkt`` in EPSG:2154)."""
    table = _open(source, "mailles", _MAILLE_LAYOUTS)
    with_wkt = "WKT" in table.columns
    result = MailleFile(
        table.name,
        table.encoding,
        table.separator,
        _FORMAT_NAMES["grille"] + (" avec géométries" if with_wkt else ""),
        has_wkt=with_wkt,
    )
    seen: dict[str, int] = {}
    for row in table.rows():
        maille = _maille(row, with_wkt)
        _check_unique(row, seen, maille.cd_sig, "CD_SIG")
        result.records.append(maille)
    if not result.records:
        raise table.error("le fichier ne contient aucune maille.")
    return result


# -- territory -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Territory:
    """A territory outline: a valid MultiPolygon in WGS 84 (longitude, latitude)."""

    geometry: MultiPolygon
    nom: str | None
    source: str

    @property
    def wkt(self) -> str:
        return shapely.to_wkt(self.geometry, rounding_precision=-1, trim=True)

    @property
    def vertex_count(self) -> int:
        return int(shapely.get_num_coordinates(self.geometry))

    def contains(self, lon: float, lat: float) -> bool:
        return bool(self.geometry.contains(shapely.Point(lon, lat)))


_NAME_KEYS = ("nom", "NOM", "name", "NAME", "libelle", "LIBELLE", "NOM_REG", "nom_reg")


def _features(document: dict, name: str) -> list[tuple[dict, dict]]:
    """(geometry, properties) pairs of a FeatureCollection, a Feature or a bare geometry."""
    kind = document.get("type") if isinstance(document, dict) else None
    if kind == "FeatureCollection":
        features = document.get("features") or []
        pairs = [(f.get("geometry"), f.get("properties") or {}) for f in features if isinstance(f, dict)]
    elif kind == "Feature":
        pairs = [(document.get("geometry"), document.get("properties") or {})]
    elif kind in ("Polygon", "MultiPolygon"):
        pairs = [(document, {})]
    else:
        raise GeoFormatError(
            f"objet GeoJSON de type « {kind} » : une FeatureCollection, une Feature ou une"
            " géométrie Polygon/MultiPolygon est attendue.",
            source=name,
        )
    if not pairs or any(g is None for g, _ in pairs):
        raise GeoFormatError("aucune géométrie dans le fichier (Feature sans « geometry » ?).", source=name)
    return pairs


def _check_crs(document: dict, name: str) -> None:
    crs = document.get("crs") if isinstance(document, dict) else None
    if not crs:
        return
    declared = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else str(crs)
    if not re.search(r"CRS84|(?<![0-9])4326(?![0-9])", declared):
        raise GeoFormatError(
            f"le fichier déclare le système de coordonnées « {declared} » : le contour doit être"
            " en WGS 84 (EPSG:4326). Reprojetez-le, par exemple : ogr2ogr -t_srs EPSG:4326"
            " sortie.geojson entree.geojson",
            source=name,
        )


def _to_multipolygon(pairs: list[tuple[dict, dict]], name: str) -> MultiPolygon:
    parts = []
    for index, (geometry, _) in enumerate(pairs, start=1):
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in ("Polygon", "MultiPolygon"):
            raise GeoFormatError(
                f"géométrie n° {index} de type « {kind} » : seuls Polygon et MultiPolygon décrivent un territoire.",
                source=name,
            )
        try:
            parts.append(shape(geometry))
        except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException) as exc:
            raise GeoFormatError(f"coordonnées illisibles dans la géométrie n° {index} ({exc}).", source=name) from None
    merged = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if isinstance(merged, Polygon):
        merged = MultiPolygon([merged])
    if not isinstance(merged, MultiPolygon) or merged.is_empty:
        raise GeoFormatError("le contour est vide.", source=name)
    return merged


def _check_geometry(geometry: MultiPolygon, name: str) -> None:
    xmin, ymin, xmax, ymax = geometry.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise GeoFormatError(
            f"coordonnées hors des bornes de WGS 84 (x de {xmin:.0f} à {xmax:.0f}, y de"
            f" {ymin:.0f} à {ymax:.0f}) : le contour semble être en Lambert-93 ou dans une"
            " autre projection. Reprojetez-le en WGS 84 (ogr2ogr -t_srs EPSG:4326 …).",
            source=name,
        )
    if not geometry.is_valid:
        raise GeoFormatError(
            f"contour invalide ({shapely.is_valid_reason(geometry)}) : corrigez-le, par exemple"
            " avec « Réparer les géométries » de QGIS ou ST_MakeValid de PostGIS.",
            source=name,
        )
    if geometry.area <= 0:
        raise GeoFormatError("le contour n'a pas de surface.", source=name)


def read_territory(source) -> Territory:
    """Read a territory outline (GeoJSON Polygon or MultiPolygon in WGS 84); several features are merged."""
    decoded = load_text(source, kind="territoire (GeoJSON)", error=GeoFormatError)
    try:
        document = json.loads(decoded.text)
    except json.JSONDecodeError as exc:
        raise GeoFormatError(
            f"JSON invalide : {exc.msg} (caractère {exc.colno} de la ligne).",
            source=decoded.name,
            line_number=exc.lineno,
        ) from None
    _check_crs(document, decoded.name)
    pairs = _features(document, decoded.name)
    geometry = _to_multipolygon(pairs, decoded.name)
    _check_geometry(geometry, decoded.name)
    properties = pairs[0][1]
    nom = next((str(properties[k]) for k in _NAME_KEYS if properties.get(k)), None)
    return Territory(geometry, nom, decoded.name)


# -- command line ----------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ckanext.sinp.referentials.geo mailles TERRITOIRE.geojson SORTIE.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m ckanext.sinp.referentials.geo",
        description="Outils des référentiels géographiques de la plateforme SINP.",
    )
    commands = parser.add_subparsers(dest="commande", required=True)
    grid = commands.add_parser(
        "mailles",
        help="écrit les mailles 10 km Lambert-93 (INPN) qui recoupent un territoire",
        description="Calcule toutes les mailles 10 km Lambert-93 (INPN) qui recoupent le contour et les écrit"
        " au format cd_sig;code_10km;wkt (EPSG:2154).",
    )
    grid.add_argument("territoire", help="contour GeoJSON (Polygon ou MultiPolygon en WGS 84)")
    grid.add_argument("sortie", help="fichier CSV à écrire")
    arguments = parser.parse_args(argv)
    try:
        territory = read_territory(arguments.territoire)
    except GeoFormatError as error:
        print(f"Contour refusé : {error}", file=sys.stderr)
        return 1
    count = write_mailles_csv(cells_intersecting(territory.geometry), arguments.sortie)
    print(f"{count} mailles écrites dans {os.path.abspath(arguments.sortie)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
