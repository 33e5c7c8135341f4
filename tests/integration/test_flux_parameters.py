"""OGC API Features parameters MapServer 8.0.0 does not implement (#16): answered 400 in French, never an
unfiltered answer that looks filtered, never a page repeated.

MapServer 8.0.0's OGC API honours ``f``, ``bbox`` (WGS 84) and ``limit`` and ignores every other parameter:
``filter=…`` answered every feature, ``crs=…2154`` answered WGS 84 coordinates, and ``offset`` too
(MapServer #6613): each "next" page repeated the first, so a paging client (GDAL, QGIS) read the first
page over and over. The standard wants a 400 for a parameter the API does not define (OGC 17-069r4,
/req/core/query-param-unknown): lighttpd sends such requests, and an offset other than 0, to
``deploy/mapserver/ogcapi-refus.sh``; every items answer holds the whole collection (a client's limit
raised to 10 000), so MapServer never writes a "next" link (rules written by render.sh).
"""

from __future__ import annotations

import ckan.model as model
import pytest
import requests

from ckanext.sinp import settings
from ckanext.sinp.occurrences import map_store


@pytest.fixture(scope="module")
def items(stack) -> str:
    assert "OGCAPI_TEST_URL" in stack, "var/stack.env has no OGCAPI_TEST_URL: run `make up`"
    map_store.ensure_tables(model.meta.engine, settings.flux_reader_role())
    return f"{stack['OGCAPI_TEST_URL']}/collections/observations_maille/items"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"f": "json", "filter": "cd_sig='10kmL93E074N695'", "filter-lang": "cql2-text"}, "filter, filter-lang"),
        ({"f": "json", "crs": "http://www.opengis.net/def/crs/EPSG/0/2154"}, "crs"),
        ({"f": "json", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/2154", "bbox": "1,2,3,4"}, "bbox-crs"),
        ({"f": "json", "sortby": "-nb_obs", "limit": "5"}, "sortby"),
        ({"f": "json", "properties": "nb_obs"}, "properties"),
        ({"f": "json", "datetime": "2020-01-01/.."}, "datetime"),
        ({"f": "json", "cd_sig": "10kmL93E074N695"}, "cd_sig"),
        ({"format": "json"}, "format"),
        ({"f": "json", "offset": "0", "crs": "EPSG:2154"}, "crs"),
    ],
)
def test_an_unimplemented_parameter_is_refused_in_french_and_named(items, params, named):
    response = requests.get(items, params=params, timeout=60)
    assert response.status_code == 400, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert f"Paramètre non pris en charge par ce service OGC API Features : {named}." in body["description"]
    assert "utilisez le WFS 2.0" in body["description"]


@pytest.mark.parametrize("offset", ["10", "1", "0010"])
def test_a_page_beyond_the_first_is_refused_in_french_rather_than_repeated(items, offset):
    response = requests.get(items, params={"f": "json", "limit": "10", "offset": offset}, timeout=60)
    assert response.status_code == 400, response.text[:300]
    description = response.json()["description"]
    assert description.startswith("Pagination (offset) non prise en charge par ce service OGC API Features")
    assert "tous les objets de la collection" in description


def test_a_parameter_name_is_echoed_stripped_never_its_value(items):
    response = requests.get(f"{items}?f=json&%22%3E%3Cscript%3Ealert(1)%3C/script%3E=x&filter=SECRET-VALUE", timeout=60)
    assert response.status_code == 400
    assert "<" not in response.text and "SECRET-VALUE" not in response.text
    assert response.json()["description"].startswith("Paramètre non pris en charge")


@pytest.mark.parametrize(
    "params",
    [
        {"f": "json"},
        {"f": "json", "limit": "2"},
        {"f": "json", "limit": "2", "offset": "0"},
        {"f": "json", "bbox": "2.8,46.1,7.2,48.4", "limit": "10"},
        {"f": "html"},
    ],
)
def test_what_mapserver_implements_still_passes(items, params):
    response = requests.get(items, params=params, timeout=60)
    assert response.status_code == 200, response.text[:300]
    if params["f"] == "json":
        body = response.json()
        assert body["type"] == "FeatureCollection"
        # the whole collection in one answer, whatever the limit: no "next" page to repeat the first
        assert body["numberReturned"] == body["numberMatched"]
        assert "next" not in {link["rel"] for link in body["links"]}


def test_other_paths_are_untouched(stack):
    base = stack["OGCAPI_TEST_URL"]
    assert requests.get(base, params={"f": "json", "lang": "fr"}, timeout=60).status_code == 200
    collections = requests.get(f"{base}/collections", params={"f": "json"}, timeout=60)
    assert collections.status_code == 200 and collections.json()["collections"]
