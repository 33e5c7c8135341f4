"""The data flows (#16): the real MapServer 8 that `make up` starts (lighttpd + FastCGI, map file
rendered from deploy/mapserver/sinp.map.in) serving the test database (``WMS_TEST_URL``,
``WFS_TEST_URL``, ``OGCAPI_TEST_URL`` of var/stack.env) through the read-only role.

The occurrences are integrated through the platform's own path (``store.integrate``: 10 km cell and
public layer are the platform's) into three published JDD and a private one (the generated set of the
indicators, ``indicator_data``), the public roll-ups recomputed (``map_store.refresh_public``, the
scheduler's step); what the flows serve is compared with the cells counted here from the stored rows:
published JDD only, public layer at most « maille » (2); the private JDD and the rows « aucune
diffusion » (4) never count. WMS 1.3.0, WFS 2.0 (GeoJSON, GML 3.2, EPSG:4326), OGC API Features; the
role reads the views of ``sinp_flux`` and nothing else; bad requests answer an OGC exception that
reveals no connection setting.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict

import ckan.model as model
import psycopg2
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import helpers
from lxml import etree
from PIL import Image

from ckanext.sinp import settings
from ckanext.sinp.occurrences import map_store
from tests.conftest import ROOT
from tests.integration import indicator_data as data
from tests.integration.conftest import empty_database
from tests.integration.test_indicators import build_world

LAYERS = ("observations_maille", "observations_commune", "observations_departement", "jdd_emprise", "territoire")
# the layers drawn with the outlines of IGN ADMIN EXPRESS: empty here (no outline loaded in this module;
# tests/integration/test_geo_load.py loads synthetic ones and checks what they serve)
OUTLINED = ("observations_commune", "observations_departement")
TITLES = {
    "observations_maille": "Observations par maille de 10 km (données publiques floutées)",
    "observations_commune": "Observations par commune (données publiques)",
    "observations_departement": "Observations par département (données publiques)",
}
# the extent of the map file (Lambert-93) and a GetMap at 500 m a pixel: a 10 km cell is 20 × 20 pixels
MINX, MINY, MAXX, MAXY = 680000, 6550000, 1020000, 6820000
RES = 500
NS = {
    "wfs": "http://www.opengis.net/wfs/2.0",
    "gml": "http://www.opengis.net/gml/3.2",
    "wms": "http://www.opengis.net/wms",
}


def _urls(stack) -> dict:
    missing = [k for k in ("WMS_TEST_URL", "WFS_TEST_URL", "OGCAPI_TEST_URL") if k not in stack]
    assert not missing, f"var/stack.env has no {missing}: run `make up` (the map server is one of its services)"
    return {"wms": stack["WMS_TEST_URL"], "wfs": stack["WFS_TEST_URL"], "ogcapi": stack["OGCAPI_TEST_URL"]}


def _secret(name: str) -> str:
    for line in (ROOT / "var" / "secrets.env").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not in var/secrets.env: run `make up`")


def _cell_centre(cd_sig: str) -> tuple[int, int]:
    """The pixel (column, row) at the centre of a 10 km cell in the GetMap of ``_getmap_2154``."""
    e, n = (int(v) * 10000 for v in re.fullmatch(r"10kmL93E(\d+)N(\d+)", cd_sig).groups())
    return (e + 5000 - MINX) // RES, (MAXY - (n + 5000)) // RES


@pytest.fixture(scope="module")
def flux(jobs_worker, tmp_path_factory, stack):
    """Two producers; three published JDD and a private one; ~2 200 observations, some « aucune
    diffusion »; the public roll-ups recomputed. Built once for the module (the tests only read, or
    restore what they change); deletes what it created afterwards."""
    app = helpers._get_test_app()
    empty_database()
    engine = model.meta.engine
    map_store.ensure_tables(engine, settings.flux_reader_role())
    world = build_world(
        app,
        tmp_path_factory.mktemp("flux"),
        seed=16,
        prefix="flux",
        title="Inventaire des oiseaux nicheurs ({kind}) — été",
        producers=("LPO Bourgogne-Franche-Comté", "Société d'histoire naturelle"),
    )
    jdds = world["jdds"]
    with engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
        stored = conn.execute(
            sa.text(
                "SELECT package_id, public_layer, maille_calc, extract(year FROM date_debut)::int AS annee "
                "FROM sinp_occurrence WHERE package_id = ANY(:ids)"
            ),
            {"ids": [j["id"] for j in jdds.values()]},
        ).all()
    public_ids = {jdds[k]["id"] for k, _, p in data.JDDS if p}
    counted = [r for r in stored if r.package_id in public_ids and r.public_layer <= 2 and r.maille_calc]
    cells = Counter(r.maille_calc for r in counted)
    last_year = defaultdict(int)
    for r in counted:
        last_year[r.maille_calc] = max(last_year[r.maille_calc], r.annee)
    per_jdd = Counter(r.package_id for r in counted)
    yield {
        "urls": _urls(stack),
        "jdds": jdds,
        "public_ids": public_ids,
        "stored": stored,
        "cells": dict(cells),
        "last_year": dict(last_year),
        "per_jdd": per_jdd,
    }
    remove_world(world)


def remove_world(world: dict, before_refresh=None) -> None:
    """What ``build_world`` created goes away: occurrences, JDD, CA, organisations; the roll-ups again
    (after ``before_refresh()``, when given)."""
    jdds = world["jdds"]
    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM sinp_occurrence WHERE package_id = ANY(:ids)"),
            {"ids": [j["id"] for j in jdds.values()]},
        )
    context = {"ignore_auth": True}
    for pkg in [*jdds.values(), *world["cas"]]:
        helpers.call_action("dataset_purge", context=dict(context), id=pkg["id"])
    for org in world["orgs"]:
        helpers.call_action("organization_purge", context=dict(context), id=org["id"])
    if before_refresh is not None:
        before_refresh()
    with model.meta.engine.begin() as conn:
        map_store.refresh_public(conn, force=True)


def _get(url: str, **params) -> requests.Response:
    response = requests.get(url, params=params, timeout=60)
    assert response.status_code < 500, (url, params, response.status_code, response.text[:500])
    return response


def _wfs_json(flux, typename: str, **params) -> dict:
    response = _get(
        flux["urls"]["wfs"],
        SERVICE="WFS",
        VERSION="2.0.0",
        REQUEST="GetFeature",
        TYPENAMES=typename,
        OUTPUTFORMAT="application/json",
        **params,
    )
    assert response.status_code == 200, response.text[:500]
    return response.json()


def _getmap_2154(flux, layers: str = "observations_maille") -> Image.Image:
    response = _get(
        flux["urls"]["wms"],
        SERVICE="WMS",
        VERSION="1.3.0",
        REQUEST="GetMap",
        LAYERS=layers,
        STYLES="",
        CRS="EPSG:2154",
        BBOX=f"{MINX},{MINY},{MAXX},{MAXY}",
        WIDTH=(MAXX - MINX) // RES,
        HEIGHT=(MAXY - MINY) // RES,
        FORMAT="image/png",
        TRANSPARENT="TRUE",
    )
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/png"), response.text[:500]
    return Image.open(io.BytesIO(response.content)).convert("RGBA")


def test_the_set_has_what_must_not_be_shown(flux):
    """The generated set holds rows of the private JDD and rows « aucune diffusion » in public JDD,
    some in cells that the public ones do not reach otherwise: the comparisons below can fail."""
    stored = flux["stored"]
    private = [r for r in stored if r.package_id not in flux["public_ids"]]
    hidden = [r for r in stored if r.package_id in flux["public_ids"] and r.public_layer == 4]
    assert private and hidden
    assert sum(flux["cells"].values()) < len(stored) - len(private)
    assert {r.maille_calc for r in private if r.maille_calc} - set(flux["cells"])


def test_wms_capabilities_and_a_map_coloured_where_the_public_data_is(flux):
    caps = _get(flux["urls"]["wms"], SERVICE="WMS", VERSION="1.3.0", REQUEST="GetCapabilities")
    assert caps.status_code == 200
    root = etree.fromstring(caps.content)
    assert root.tag == "{http://www.opengis.net/wms}WMS_Capabilities" and root.get("version") == "1.3.0"
    assert root.findtext("wms:Service/wms:Title", namespaces=NS) == "Flux de données du SINP Bourgogne-Franche-Comté"
    top = root.find("wms:Capability/wms:Layer", NS)
    assert {c.text for c in top.findall("wms:CRS", NS)} >= {"EPSG:2154", "EPSG:4326", "EPSG:3857"}
    titles = {
        la.findtext("wms:Name", namespaces=NS): la.findtext("wms:Title", namespaces=NS)
        for la in top.findall("wms:Layer", NS)
    }
    assert set(titles) == set(LAYERS)
    assert {k: titles[k] for k in TITLES} == TITLES
    assert titles["jdd_emprise"] == "Emprise des jeux de données publiés"
    assert "Bourgogne-Franche-Comté" in titles["territoire"]
    assert root.findtext(".//wms:ContactElectronicMailAddress", namespaces=NS)

    image = _getmap_2154(flux)
    assert image.size == (680, 540)
    for cd_sig in flux["cells"]:
        r, g, b, a = image.getpixel(_cell_centre(cd_sig))
        assert a == 255 and g > r and g > b, (cd_sig, (r, g, b, a))  # a shade of green
    # a cell reached only by the private JDD or by rows « aucune diffusion »: nothing drawn
    hidden = {r.maille_calc for r in flux["stored"] if r.maille_calc} - set(flux["cells"])
    assert hidden
    for cd_sig in hidden:
        x, y = _cell_centre(cd_sig)
        if 0 <= x < image.width and 0 <= y < image.height:
            assert image.getpixel((x, y))[3] == 0, cd_sig
    assert image.getpixel((2, 2))[3] == 0  # the far corner of the extent: no data

    # the same layer in Web Mercator (as the géo-visualiseur's tiles) draws something too
    mercator = _get(
        flux["urls"]["wms"],
        SERVICE="WMS",
        VERSION="1.3.0",
        REQUEST="GetMap",
        LAYERS="observations_maille,territoire",
        STYLES=",",
        CRS="EPSG:3857",
        BBOX="300000,5750000,800000,6100000",
        WIDTH=500,
        HEIGHT=350,
        FORMAT="image/png",
        TRANSPARENT="TRUE",
    )
    assert mercator.headers["Content-Type"].startswith("image/png")
    tile = Image.open(io.BytesIO(mercator.content)).convert("RGBA")
    assert tile.getextrema()[3][1] == 255  # some opaque pixels


def test_wfs_serves_exactly_the_public_cells_as_geojson_and_gml_32(flux):
    caps = _get(flux["urls"]["wfs"], SERVICE="WFS", VERSION="2.0.0", REQUEST="GetCapabilities")
    root = etree.fromstring(caps.content)
    assert root.tag == "{http://www.opengis.net/wfs/2.0}WFS_Capabilities"
    types = {
        ft.findtext("wfs:Name", namespaces=NS).split(":")[-1]: ft.findtext("wfs:Title", namespaces=NS)
        for ft in root.findall("wfs:FeatureTypeList/wfs:FeatureType", NS)
    }
    assert set(types) == set(LAYERS)
    assert {k: types[k] for k in TITLES} == TITLES
    formats = {v.text for v in root.iter("{http://www.opengis.net/ows/1.1}Value")}
    assert {"application/gml+xml; version=3.2", "application/json"} <= formats

    geojson = _wfs_json(flux, "observations_maille")
    served = {f["properties"]["cd_sig"]: f["properties"]["nb_obs"] for f in geojson["features"]}
    assert served == flux["cells"]
    assert {f["properties"]["cd_sig"]: f["properties"]["derniere_annee"] for f in geojson["features"]} == flux[
        "last_year"
    ]
    # the géo-visualiseur's figures (map_store.cells) and the flows' are the same
    with model.meta.engine.connect() as conn:
        visualiseur = {c["code"]: c for c in map_store.cells(conn, "maille", None, sorted(flux["public_ids"]))}
    assert {f["properties"]["cd_sig"]: f["properties"]["nb_taxons"] for f in geojson["features"]} == {
        k: v["nb_taxons"] for k, v in visualiseur.items()
    }

    gml = _get(
        flux["urls"]["wfs"], SERVICE="WFS", VERSION="2.0.0", REQUEST="GetFeature", TYPENAMES="observations_maille"
    )
    assert gml.status_code == 200
    collection = etree.fromstring(gml.content)
    assert collection.tag == "{http://www.opengis.net/wfs/2.0}FeatureCollection"
    assert len(collection.findall("wfs:member", NS)) == len(flux["cells"])
    assert collection.find(".//gml:Polygon", NS) is not None

    # EPSG:4326: the same cells, in degrees over Bourgogne-Franche-Comté (either axis order)
    wgs84 = _wfs_json(flux, "observations_maille", SRSNAME="EPSG:4326")
    assert {f["properties"]["cd_sig"] for f in wgs84["features"]} == set(flux["cells"])
    for feature in wgs84["features"]:
        for x, y in feature["geometry"]["coordinates"][0]:
            lon, lat = (x, y) if x < y else (y, x)
            assert 2.5 < lon < 7.5 and 46 < lat < 48.5, feature["properties"]["cd_sig"]

    # each published JDD's footprint, never the private one's
    emprises = _wfs_json(flux, "jdd_emprise")["features"]
    by_name = {f["properties"]["jdd"]: f["properties"] for f in emprises}
    names = {j["name"]: j for j in flux["jdds"].values()}
    assert set(by_name) == {j["name"] for j in flux["jdds"].values() if j["id"] in flux["public_ids"]}
    for name, props in by_name.items():
        assert props["nb_obs"] == flux["per_jdd"][names[name]["id"]]
        assert props["titre"] == names[name]["title"]  # accents and the dash intact
    territoire = _wfs_json(flux, "territoire")["features"]
    assert [f["properties"]["nom"] for f in territoire] == ["Bourgogne-Franche-Comté"]


def test_ogc_api_features_lists_the_layers_in_french_and_serves_the_same_cells(flux):
    base = flux["urls"]["ogcapi"]
    landing = _get(base, f="json").json()
    assert landing["title"] == "Flux de données du SINP Bourgogne-Franche-Comté"
    assert any(link["href"].startswith(f"{base}/collections") for link in landing["links"])
    collections = {c["id"]: c for c in _get(f"{base}/collections", f="json").json()["collections"]}
    assert set(collections) == set(LAYERS)
    assert {k: collections[k]["title"] for k in TITLES} == TITLES
    assert collections["jdd_emprise"]["title"] == "Emprise des jeux de données publiés"
    items = _get(f"{base}/collections/observations_maille/items", f="json")
    assert items.headers["Content-Type"].startswith("application/geo+json") or items.headers["Content-Type"].startswith(
        "application/json"
    )
    body = items.json()
    assert body["numberMatched"] == len(flux["cells"])
    assert {f["properties"]["cd_sig"]: f["properties"]["nb_obs"] for f in body["features"]} == flux["cells"]
    one = body["features"][0]
    item = _get(f"{base}/collections/observations_maille/items/{one['id']}", f="json").json()
    assert item["properties"] == one["properties"]
    html = _get(base, f="html")
    assert html.status_code == 200 and "text/html" in html.headers["Content-Type"]
    page = html.content.decode("utf-8")
    assert '<html lang="fr">' in page and "Flux de données du SINP" in page and "Couches de données" in page
    # producers' text (JDD titles) on these pages: no script may run there
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]


def test_a_jdd_withdrawn_leaves_every_layer_at_once_before_the_refresh(flux):
    """From the commit of a withdrawal to the end of the refresh that follows, WMS, WFS and OGC API read
    each cell again from the roll-up per JDD without the JDD: a cell only it counted leaves the layers, a
    cell it shared holds the others' counts — those of after the refresh — and its footprint leaves; the
    refresh changes nothing of what is served."""
    from ckan.tests import factories

    def cells_of(ids) -> Counter:
        return Counter(
            r.maille_calc for r in flux["stored"] if r.package_id in ids and r.public_layer <= 2 and r.maille_calc
        )

    public = sorted((j for j in flux["jdds"].values() if j["id"] in flux["public_ids"]), key=lambda j: j["name"])
    # a JDD with cells of its own and cells shared with others
    for jdd in public:
        touched = set(cells_of({jdd["id"]}))
        others = cells_of(flux["public_ids"] - {jdd["id"]})
        alone, shared = touched - set(others), touched & set(others)
        if alone and shared:
            break
    else:
        raise AssertionError("the set must hold a JDD with cells of its own and cells shared with others")
    admin = factories.Sysadmin()
    base = flux["urls"]["ogcapi"]

    def served(layer: str = "observations_maille") -> dict:
        features = _wfs_json(flux, layer)["features"]
        items = _get(f"{base}/collections/{layer}/items", f="json").json()["features"]
        assert len(items) == len(features), layer
        return {
            f["properties"].get("cd_sig") or f["properties"].get("jdd"): f["properties"]["nb_obs"] for f in features
        }

    try:
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=True)
        assert served() == dict(others)
        assert any(flux["cells"][c] != others[c] for c in shared)  # the shared cells were read again
        assert jdd["name"] not in served("jdd_emprise")
        picture = _getmap_2154(flux)
        for cell in alone:
            assert picture.getpixel(_cell_centre(cell))[3] == 0, cell
        for cell in others:
            assert picture.getpixel(_cell_centre(cell))[3] > 0, cell
        assert _wfs_json(flux, "territoire")["features"]  # a referential, not data: still served
        with model.meta.engine.begin() as conn:
            map_store.refresh_public(conn)
        assert served() == dict(others)
        assert jdd["name"] not in served("jdd_emprise")
    finally:
        model.Session.remove()
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=False)
        with model.meta.engine.begin() as conn:
            map_store.refresh_public(conn)
    assert served() == flux["cells"]


def test_the_read_only_role_reads_the_views_and_nothing_else(flux, stack):
    role = stack.get("FLUX_DB_USER", "sinp_flux_reader")
    assert role == settings.flux_reader_role()
    url = sa.engine.make_url(str(model.meta.engine.url))
    conn = psycopg2.connect(
        host=url.host, port=url.port or 5432, dbname=url.database, user=role, password=_secret("FLUX_DB_PASSWORD")
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for view in LAYERS:
                cur.execute(f"SELECT count(*) FROM sinp_flux.{view}")
                assert cur.fetchone()[0] > 0 or view in OUTLINED, view
            cur.execute("SELECT sum(nb_obs) FROM sinp_flux.observations_maille")
            assert cur.fetchone()[0] == sum(flux["cells"].values())
        for table in (
            "sinp_occurrence",
            "package",
            '"user"',
            "sinp_carte_agg",
            "sinp_carte_precis",  # the precise counts: never for the map server
            "sinp_carte_public",
            "api_token",
        ):
            with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
                cur.execute(f"SELECT 1 FROM {table} LIMIT 1")
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM sinp_flux.territoire")
    finally:
        conn.close()


LEAKS_NOT = ("host=", "dbname=", "user=", "service=sinp_flux", "sinp_flux_reader", "127.0.0.1:5432")

BAD_REQUESTS = (
    # (service, params or path): an OGC exception, never a crash
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "sinp_occurrence", "STYLES": "",
             "CRS": "EPSG:2154", "BBOX": f"{MINX},{MINY},{MAXX},{MAXY}", "WIDTH": "100", "HEIGHT": "100",
             "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "observations_maille", "STYLES": "",
             "CRS": "EPSG:2154", "BBOX": "680000,abc,1e999", "WIDTH": "100", "HEIGHT": "100", "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "observations_maille", "STYLES": "",
             "CRS": "EPSG:2154", "BBOX": "1020000,6820000,680000,6550000", "WIDTH": "100", "HEIGHT": "100",
             "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "observations_maille", "STYLES": "",
             "CRS": "EPSG:999999", "BBOX": f"{MINX},{MINY},{MAXX},{MAXY}", "WIDTH": "100", "HEIGHT": "100",
             "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "observations_maille", "STYLES": "",
             "CRS": "EPSG:2154", "BBOX": f"{MINX},{MINY},{MAXX},{MAXY}", "WIDTH": "100000", "HEIGHT": "100000",
             "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetFeatureInfo", "LAYERS": "observations_maille",
             "QUERY_LAYERS": "observations_maille", "STYLES": "", "CRS": "EPSG:2154", "BBOX": "1,2,3",
             "WIDTH": "100", "HEIGHT": "100", "I": "x", "J": "-1", "FORMAT": "image/png"}),
    ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "DescribeLayer", "LAYERS": "observations_maille"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "sinp_occurrence"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "observations_maille",
             "BBOX": "1,2,x"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "observations_maille",
             "FILTER": "<Filter><PropertyIsEqualTo>"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "observations_maille",
             "SORTBY": "inconnue DESC"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "observations_maille",
             "OUTPUTFORMAT": "application/x-inconnu"}),
    ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "Transaction"}),
    ("ogcapi", "/collections/sinp_occurrence/items?f=json"),
    ("ogcapi", "/collections/observations_maille/items?f=json&bbox=a,b"),
    ("ogcapi", "/collections/observations_maille/items?f=json&bbox=1,2,3,4,5,6,7"),
    ("ogcapi", "/collections/observations_maille/items?f=json&limit=abc"),
    ("ogcapi", "/collections/observations_maille/items?f=xml"),
    ("ogcapi", "/collections/observations_maille/items/999999999?f=json"),
    ("ogcapi", "/collections/observations_maille/items/1%27%3B%20SELECT%201?f=json"),
    ("ogcapi", "/inconnu?f=json"),
)  # fmt: skip


def _no_leak(body: str) -> None:
    for secret in (_secret("FLUX_DB_PASSWORD"), _secret("CKAN_DB_PASSWORD"), *LEAKS_NOT):
        assert secret not in body, (secret, body[:500])


@pytest.mark.parametrize(("service", "request_"), BAD_REQUESTS)
def test_a_bad_request_answers_an_ogc_exception_and_reveals_no_connection_setting(stack, service, request_):
    url = _urls(stack)[service]
    if isinstance(request_, str):
        response = requests.get(url + request_, timeout=60)
    else:
        response = requests.get(url, params=request_, timeout=60)
    assert response.status_code < 500, response.text[:500]
    body = response.content.decode("utf-8", "replace")
    assert not response.headers["Content-Type"].startswith("image/"), "an image instead of an exception"
    if service == "ogcapi":
        assert response.status_code in (400, 404) and response.json()["code"], body[:500]
    else:
        assert "ExceptionReport" in body or "ServiceExceptionReport" in body, body[:500]
    _no_leak(body)


def test_the_map_file_comes_from_the_configuration_never_from_the_request(stack):
    """MapServer reads its map files by key (MS_MAP_NO_PATH): a path in ``map=`` is refused or ignored."""
    wms = _urls(stack)["wms"]
    server = wms.rsplit("/", 2)[0]
    for url, params in (
        (wms, {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetCapabilities", "map": "/etc/passwd"}),
        (f"{server}/mapserv", {"map": "/etc/passwd", "SERVICE": "WMS", "REQUEST": "GetCapabilities"}),
        (f"{server}/mapserv", {"map": "../../etc/passwd", "mode": "map"}),
        (f"{server}/mapserv", {"map": "/work/main/var/mapserver/pg_service.conf"}),
    ):
        response = requests.get(url, params=params, timeout=60)
        assert response.status_code < 500
        body = response.content.decode("utf-8", "replace")
        assert "root:" not in body and "password" not in body, body[:300]
        _no_leak(body)
    assert requests.get(f"{server}/ailleurs", timeout=10).status_code == 404


def test_a_filter_is_data_not_sql_and_a_database_failure_reveals_nothing(flux):
    """A quote in a filter's literal is a value (no feature has it), not SQL; a layer whose view is
    gone answers an exception without the connection settings."""
    injected = _get(
        flux["urls"]["wfs"],
        SERVICE="WFS",
        VERSION="2.0.0",
        REQUEST="GetFeature",
        TYPENAMES="observations_maille",
        OUTPUTFORMAT="application/json",
        FILTER="<Filter><PropertyIsEqualTo><ValueReference>cd_sig</ValueReference>"
        "<Literal>x'; DROP VIEW sinp_flux.territoire; --</Literal></PropertyIsEqualTo></Filter>",
    )
    assert injected.status_code == 200 and injected.json()["features"] == []
    everything = _wfs_json(flux, "observations_maille")
    assert len(everything["features"]) == len(flux["cells"])
    assert _wfs_json(flux, "territoire")["features"]
    # the database refuses the role (its rights on the view taken back for a moment): an exception, no secret
    role = settings.flux_reader_role()
    engine = model.meta.engine
    with engine.begin() as conn:
        conn.execute(sa.text(f"REVOKE SELECT ON sinp_flux.observations_maille FROM {role}"))
    try:
        for service, params in (
            ("wfs", {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": "observations_maille"}),
            ("wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "observations_maille",
                     "STYLES": "", "CRS": "EPSG:2154", "BBOX": f"{MINX},{MINY},{MAXX},{MAXY}", "WIDTH": "100",
                     "HEIGHT": "100", "FORMAT": "image/png"}),
            ("ogcapi", None),
        ):  # fmt: skip
            if params is None:
                response = requests.get(
                    f"{flux['urls']['ogcapi']}/collections/observations_maille/items?f=json", timeout=60
                )
            else:
                response = requests.get(flux["urls"][service], params=params, timeout=60)
            body = response.content.decode("utf-8", "replace")
            assert not response.headers["Content-Type"].startswith("image/"), service
            assert "Exception" in body or '"code"' in body, (service, body[:500])
            _no_leak(body)
    finally:
        with engine.begin() as conn:
            map_store.grant_reader(conn, role)
