"""The data flows (#16) read by the clients GIS users and IDéO BFC really use: OWSLib's
``WebMapService`` and ``WebFeatureService`` (what QGIS-like Python tools and GeoNetwork's harvesters
do), GDAL's ``WFS:`` and ``OAPIF:`` drivers (``ogrinfo`` / ``ogr2ogr``, what QGIS runs underneath).

Same world as test_flux (its ``flux`` fixture: three published JDD, a private one, rows « aucune
diffusion »); what each client gets is compared with the cells counted from the stored rows, and the
cells only the private JDD reaches stay empty.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import pytest
from owslib.wfs import WebFeatureService
from owslib.wms import WebMapService
from PIL import Image

from tests.integration.test_flux import MAXX, MAXY, MINX, MINY, RES, _cell_centre, flux  # noqa: F401

TITLE = "Flux de données du SINP Bourgogne-Franche-Comté"


def _private_only_cells(flux) -> set[str]:  # noqa: F811
    private = {r.maille_calc for r in flux["stored"] if r.package_id not in flux["public_ids"] and r.maille_calc}
    return private - set(flux["cells"])


def _cells_of(geojson: str) -> dict:
    """{cd_sig: nb_obs} of a GeoJSON answer, each cell once (a repeated page would show here)."""
    features = json.loads(geojson)["features"]
    got = {f["properties"]["cd_sig"]: f["properties"]["nb_obs"] for f in features}
    assert len(got) == len(features), "a cell is served twice"
    return got


def _gdal(*args: str) -> str:
    assert shutil.which(args[0]), f"{args[0]} is missing (gdal-bin: stack/install.sh installs it)"
    done = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done.stdout


def test_owslib_wms_reads_french_layers_and_a_map_coloured_only_where_public_data_is(flux):  # noqa: F811
    wms = WebMapService(flux["urls"]["wms"], version="1.3.0", timeout=60)
    assert wms.identification.title == TITLE
    layer = wms.contents["observations_maille"]
    assert layer.title == "Observations par maille de 10 km (données publiques floutées)"
    assert {"EPSG:2154", "EPSG:4326", "EPSG:3857"} <= set(layer.crsOptions)
    assert {"jdd_emprise", "territoire"} <= set(wms.contents)
    image = wms.getmap(
        layers=["observations_maille"],
        styles=[""],
        srs="EPSG:2154",
        bbox=(MINX, MINY, MAXX, MAXY),
        size=((MAXX - MINX) // RES, (MAXY - MINY) // RES),
        format="image/png",
        transparent=True,
    )
    picture = Image.open(io.BytesIO(image.read())).convert("RGBA")
    for cell in flux["cells"]:
        assert picture.getpixel(_cell_centre(cell))[3] > 0, cell
    hidden = _private_only_cells(flux)
    assert hidden, "the world must hold cells only the private JDD reaches"
    for cell in hidden:
        assert picture.getpixel(_cell_centre(cell))[3] == 0, cell


def test_owslib_wfs_reads_the_public_cells_in_geojson(flux):  # noqa: F811
    wfs = WebFeatureService(flux["urls"]["wfs"], version="2.0.0", timeout=60)
    assert wfs.identification.title == TITLE
    assert {"observations_maille", "jdd_emprise", "territoire"} <= {name.split(":")[-1] for name in wfs.contents}
    name = next(n for n in wfs.contents if n.split(":")[-1] == "observations_maille")
    response = wfs.getfeature(typename=[name], outputFormat="application/json")
    got = _cells_of(response.read())
    assert got == flux["cells"]
    assert not set(got) & _private_only_cells(flux)


def test_gdal_wfs_driver_counts_and_reads_the_public_cells(flux):  # noqa: F811
    summary = _gdal("ogrinfo", "-ro", "-so", f"WFS:{flux['urls']['wfs']}", "observations_maille")
    count = re.search(r"Feature Count: (\d+)", summary)
    assert count and int(count.group(1)) == len(flux["cells"]), summary[-1000:]
    out = _gdal("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"WFS:{flux['urls']['wfs']}", "observations_maille")
    got = _cells_of(out)
    assert got == flux["cells"]


def test_gdal_oapif_driver_lists_the_collections_and_reads_the_public_cells(flux):  # noqa: F811
    """GDAL pages with limit=10 and follows "next" links: MapServer 8.0.0 ignores offset, so before the
    whole-collection answers (render.sh) it read the first page 23 times — 230 features, 10 cells."""
    base = f"OAPIF:{flux['urls']['ogcapi']}"
    listing = _gdal("ogrinfo", "-ro", "-q", base)
    assert "observations_maille" in listing and "jdd_emprise" in listing, listing
    out = _gdal("ogr2ogr", "-f", "GeoJSON", "/vsistdout/", base, "observations_maille")
    got = _cells_of(out)
    assert got == flux["cells"]
    # a spatial filter (GDAL sends bbox): only the public cells inside it
    lon_min, lat_min, lon_max, lat_max = 4.0, 46.5, 5.5, 47.5
    out = _gdal(
        "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", base, "observations_maille",
        "-spat", str(lon_min), str(lat_min), str(lon_max), str(lat_max),
    )  # fmt: skip
    inside = set(_cells_of(out))
    assert inside <= set(flux["cells"])
    assert not inside & _private_only_cells(flux)


@pytest.mark.parametrize("where", ["nb_obs >= 5", "cd_sig LIKE '10kmL93E0%'"])
def test_gdal_oapif_attribute_filter_is_applied_not_ignored(flux, where):  # noqa: F811
    """GDAL filters attributes itself when the server offers no queryables (MapServer 8.0 offers
    none); it never relies on a ``filter`` parameter the server would ignore (refused: test_flux_parameters)."""
    out = _gdal(
        "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"OAPIF:{flux['urls']['ogcapi']}", "observations_maille",
        "-where", where,
    )  # fmt: skip
    got = _cells_of(out)
    if where.startswith("nb_obs"):
        assert got == {c: n for c, n in flux["cells"].items() if n >= 5}
    else:
        assert got == {c: n for c, n in flux["cells"].items() if c.startswith("10kmL93E0")}
