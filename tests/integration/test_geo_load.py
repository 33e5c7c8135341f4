"""Commune and département outlines (#16, items 4 and 6): ``ckan sinp geo-load contours-communes |
contours-departements`` loads IGN ADMIN EXPRESS (synthetic files of ``tests/fixtures/admin_express.py``:
ADMIN EXPRESS's names, rectangles of ours), and the géo-visualiseur and the map server draw the
communes and départements with them.

The world: the generated set of the indicators (``build_world``: three published JDD and a private
one) with a commune given to the observations of the Côte-d'Or and the Doubs — Dijon and Beaune
(a bow tie made valid when stored) for the published JDD, Besançon too, and **Chenôve for the private
JDD only**. What is checked against the stored rows: the public layer allows the commune (≤ 1) or the
département (≤ 3), published JDD only. The real MapServer of ``make up`` serves the test database.
Afterwards the outline tables are dropped (the other tests' communes have no outline).
"""

from __future__ import annotations

import json
from collections import Counter

import ckan.model as model
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from ckan.tests import helpers
from click.testing import CliRunner
from selenium.webdriver.common.by import By

from ckanext.sinp import settings
from ckanext.sinp.cli_referentials import geo_load
from ckanext.sinp.occurrences import map_store
from ckanext.sinp.referentials import geo_store
from tests.conftest import ROOT
from tests.fixtures import admin_express as fx
from tests.integration import indicator_data as data
from tests.integration.conftest import empty_database
from tests.integration.test_carte import _click_a_cell, _drawn
from tests.integration.test_flux import MAXY, MINX, RES, _get, _getmap_2154, _urls, _wfs_json, remove_world
from tests.integration.test_indicators import build_world

PUBLIC_COMMUNES = {"21": ("21231", "21054"), "25": ("25056",)}
PRIVATE_COMMUNE = "21166"  # Chenôve: observations of the private JDD only
SCREENSHOTS = ROOT / "var" / "screenshots"


def _drop_outlines() -> None:
    with model.meta.engine.begin() as conn:
        for spec in geo_store.CONTOUR_SPECS.values():
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {spec.table}, {spec.staging}"))
        conn.execute(sa.text("DELETE FROM sinp_referential_version WHERE name LIKE 'contours%'"))


def _geo_load(*args) -> tuple[int, str]:
    result = CliRunner().invoke(geo_load, [str(a) for a in args])  # output: stdout and stderr as printed
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def outlines(jobs_worker, tmp_path_factory, stack):
    app = helpers._get_test_app()
    empty_database()
    _drop_outlines()
    engine = model.meta.engine
    map_store.ensure_tables(engine, settings.flux_reader_role())
    folder = tmp_path_factory.mktemp("admin-express")
    world = build_world(app, folder, seed=23, prefix="contours", title="Observations {kind} des communes")
    jdds = world["jdds"]
    private_id = jdds["prive"]["id"]
    public_ids = {jdds[k]["id"] for k, _, p in data.JDDS if p}
    with engine.begin() as conn:  # a commune for the observations of two départements (the set has none)
        conn.execute(
            sa.text(
                "UPDATE sinp_occurrence SET code_commune = CASE WHEN package_id = :private THEN "
                "CASE dep WHEN '21' THEN :chenove END "
                "ELSE CASE dep WHEN '21' THEN (CASE WHEN id % 2 = 0 THEN '21231' ELSE '21054' END) "
                "WHEN '25' THEN '25056' END END"
            ),
            {"private": private_id, "chenove": PRIVATE_COMMUNE},
        )
        stored = conn.execute(
            sa.text(
                "SELECT package_id, public_layer, code_commune, dep FROM sinp_occurrence WHERE package_id = ANY(:i)"
            ),
            {"i": [j["id"] for j in jdds.values()]},
        ).all()
    gpkg = fx.write_gpkg(folder / "ADMIN-EXPRESS-COG_synthetique.gpkg")
    departements = fx.write_geojson(folder / "departements.geojson", "departements")
    loaded = [_geo_load("contours-communes", gpkg), _geo_load("contours-departements", departements)]
    with engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
    public = [r for r in stored if r.package_id in public_ids]
    yield {
        "app": app,
        "urls": _urls(stack),
        "gpkg": gpkg,
        "loaded": loaded,
        "stored": stored,
        "private_id": private_id,
        "communes": Counter(r.code_commune for r in public if r.public_layer <= 1 and r.code_commune),
        "departements": Counter(r.dep for r in public if r.public_layer <= 3 and r.dep in ("21", "25")),
    }
    remove_world(world, _drop_outlines)


def test_the_set_has_a_commune_seen_only_in_the_private_jdd(outlines):
    communes = outlines["communes"]
    assert set(communes) == {"21231", "21054", "25056"}, communes
    private = {r.code_commune for r in outlines["stored"] if r.package_id == outlines["private_id"]}
    assert PRIVATE_COMMUNE in private and PRIVATE_COMMUNE not in communes


def test_the_command_loads_the_region_says_so_in_french_and_refuses_a_bad_file(outlines, tmp_path):
    (code, out), (dep_code, dep_out) = outlines["loaded"]
    assert code == 0 and "4 contours de communes chargés (ADMIN-EXPRESS-COG_synthetique)" in out, out
    assert "1 ligne(s) du fichier écartée(s)" in out  # Bourg-en-Bresse, région 84
    assert dep_code == 0 and "2 contours de départements chargés" in dep_out, dep_out
    code, out = _geo_load("contours-communes", outlines["gpkg"])
    assert code == 0 and "Ce fichier est déjà chargé (4 contours de communes" in out
    # a GeoPackage without the commune layer: refused, in French, the outlines in place unchanged
    bad = fx.write_gpkg(tmp_path / "sans_communes.gpkg", communes=())
    code, out = _geo_load("contours-communes", bad)
    assert code == 1 and "Fichier refusé : " in out and "couche « commune » absente du GeoPackage" in out, out
    code, out = _geo_load("contours-communes", outlines["gpkg"], "--region", "44")
    assert code == 1 and "aucune commune de la région 44" in out
    stored = sa.text(
        "SELECT code, nom, ST_IsValid(geom_2154), ST_NumGeometries(geom_2154), ST_SRID(geom_4326), "
        "ST_GeometryType(geom_4326) FROM sinp_commune_contour ORDER BY code"
    )
    with model.meta.engine.connect() as conn:
        rows = conn.execute(stored).all()
    assert [tuple(r) for r in rows] == [
        ("21054", "Beaune", True, 2, 4326, "ST_MultiPolygon"),  # the bow tie, made valid: two triangles
        ("21166", "Chenôve", True, 1, 4326, "ST_MultiPolygon"),
        ("21231", "Dijon", True, 2, 4326, "ST_MultiPolygon"),
        ("25056", "Besançon", True, 1, 4326, "ST_MultiPolygon"),
    ]


def _carte(app, **params) -> dict:
    response = app.get("/api/3/action/sinp_carte", params=params)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.json["result"]


def test_the_map_cells_of_communes_and_departements_have_their_outline(outlines):
    app = outlines["app"]
    for params in ({}, {"annee_min": 1900}):  # from the roll-ups, and from the counts (a filter)
        result = _carte(app, niveau="commune", **params)
        cells = {c["code"]: c for c in result["cellules"]}
        assert {k: c["nb_obs"] for k, c in cells.items()} == dict(outlines["communes"]), params
        assert cells["25056"]["nom"] == "Besançon"
        assert not any("geometry" in c for c in result["cellules"])  # the shapes are in « geojson »
        shapes = {f["id"]: f["geometry"] for f in result["geojson"]["features"]}
        assert {k: g["type"] for k, g in shapes.items()} == dict.fromkeys(outlines["communes"], "MultiPolygon")
        lon, lat = shapes["25056"]["coordinates"][0][0][0]
        assert 5.9 < lon < 6.1 and 47.2 < lat < 47.3  # WGS 84 around Besançon
        departements = _carte(app, niveau="departement", **params)
        drawn = {f["id"]: f["geometry"]["type"] for f in departements["geojson"]["features"]}
        assert drawn["21"] == "MultiPolygon"
        assert "39" in {c["code"] for c in departements["cellules"]} and "39" not in drawn  # no Jura outline
    # the export of the view: every cell, with its outline when loaded (null otherwise)
    exported = json.loads(app.get("/carte/export.geojson", params={"niveau": "departement"}).get_data(as_text=True))
    geometries = {f["id"]: f["geometry"] for f in exported["features"]}
    assert geometries["21"]["type"] == "MultiPolygon" and geometries["39"] is None
    page = app.get("/carte", params={"niveau": "commune"})
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    box = soup.find(id="sinp-carte-map")
    assert box is not None and box["aria-label"] == "Carte des observations par commune"
    assert "Cliquez sur une commune pour voir ses taxons" in soup.find(class_="sinp-map-caption").get_text()


def _pixel(point) -> tuple[int, int]:
    x, y = point
    return int((x - MINX) // RES), int((MAXY - y) // RES)


def test_wms_draws_the_communes_of_public_data_and_never_the_private_one(outlines):
    image = _getmap_2154(outlines, "observations_commune")
    for code, point in (("21231", (852000, 6696000)), ("25056", (928000, 6688000))):  # Dijon, Besançon
        r, g, b, a = image.getpixel(_pixel(point))
        assert a == 255 and g > r and g > b, (code, (r, g, b, a))  # a shade of green
    assert image.getpixel(_pixel((851000, 6687000)))[3] == 0  # Chenôve: private data only
    assert image.getpixel(_pixel((871000, 6569000)))[3] == 0  # Bourg-en-Bresse: another région, not loaded


def test_wfs_and_ogc_api_serve_the_public_communes_and_departements(outlines):
    communes = _wfs_json(outlines, "observations_commune")["features"]
    assert {f["properties"]["insee_com"]: f["properties"]["nb_obs"] for f in communes} == dict(outlines["communes"])
    assert {f["properties"]["nom"] for f in communes} == {"Dijon", "Beaune", "Besançon"}
    # MapServer writes a one-part outline as a Polygon; Dijon has two parts
    shapes = {f["properties"]["insee_com"]: f["geometry"]["type"] for f in communes}
    assert shapes["21231"] == "MultiPolygon" and set(shapes.values()) <= {"Polygon", "MultiPolygon"}
    wgs84 = _wfs_json(outlines, "observations_departement", SRSNAME="EPSG:4326")["features"]
    assert {f["properties"]["insee_dep"]: f["properties"]["nb_obs"] for f in wgs84} == dict(outlines["departements"])
    assert {f["properties"]["nom"] for f in wgs84} == {"Côte-d'Or", "Doubs"}
    base = outlines["urls"]["ogcapi"]
    collections = {c["id"]: c for c in _get(f"{base}/collections", f="json").json()["collections"]}
    assert collections["observations_commune"]["title"] == "Observations par commune (données publiques)"
    assert collections["observations_departement"]["title"] == "Observations par département (données publiques)"
    items = _get(f"{base}/collections/observations_commune/items", f="json").json()
    assert {f["properties"]["insee_com"]: f["properties"]["nb_obs"] for f in items["features"]} == dict(
        outlines["communes"]
    )
    # a filter on the private commune's code answers nothing (WFS and OGC API)
    nothing = _wfs_json(
        outlines,
        "observations_commune",
        FILTER="<Filter><PropertyIsEqualTo><ValueReference>insee_com</ValueReference>"
        f"<Literal>{PRIVATE_COMMUNE}</Literal></PropertyIsEqualTo></Filter>",
    )
    assert nothing["features"] == []
    response = _get(
        f"{base}/collections/observations_commune/items",
        f="json",
        filter=f"insee_com='{PRIVATE_COMMUNE}'",
        **{"filter-lang": "cql2-text"},
    )
    assert PRIVATE_COMMUNE not in response.text and "Chenôve" not in response.text


@pytest.mark.parametrize("width", [1280, 375])
def test_the_communes_in_a_browser(outlines, browser, test_ckan_url, width):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 1600)
    browser.get(f"{test_ckan_url}/carte?niveau=commune")
    assert _drawn(browser) == len(outlines["communes"])
    legend = browser.find_element(By.CSS_SELECTOR, ".sinp-carte-legend").text
    assert legend.startswith("Observations par commune")
    browser.save_screenshot(str(SCREENSHOTS / f"carte-communes-contours-{width}.png"))
    # a click on a commune lists its taxa and writes it in the address
    code = _click_a_cell(browser)
    assert code in outlines["communes"] and f"cellule={code}" in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "#sinp-carte-taxons tbody tr")
    browser.get(f"{test_ckan_url}/carte?niveau=departement")
    assert _drawn(browser) == 2  # Côte-d'Or and Doubs; the Jura and the Nièvre have no outline
    assert browser.find_element(By.CSS_SELECTOR, ".sinp-carte-legend").text.startswith("Observations par département")
    browser.save_screenshot(str(SCREENSHOTS / f"carte-departements-contours-{width}.png"))
