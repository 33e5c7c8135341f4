"""Maps that scale (#15 item 5): the occurrence map of a JDD draws server-side aggregates (count per
10 km cell) with a legend and a sentence saying what is shown, or the observations one by one when
they are few; the public gets exactly the blurred layer; the figures and cells come from a summary
kept per generation of the data; /territoire draws a pasted WKT, writes areas in French and shows a
readable « espèce sensible » badge; no asset of ours fails to load.

Real CKAN (in-process and a gunicorn for the browser), PostgreSQL/PostGIS, Solr, Redis and worker;
headless Chromium. Screenshots: var/screenshots/map-*.png.
"""

from __future__ import annotations

import copy
import re
import uuid

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from ckan.tests import factories
from ckan.tests import helpers as ckan_helpers
from selenium.webdriver.common.by import By

from ckanext.sinp.logic import access as sinp_access
from ckanext.sinp.occurrences import aggregates, store
from tests.conftest import ROOT
from tests.integration.conftest import patient, wait_until
from tests.integration.test_browser_forms import PASSWORD, _login
from tests.integration.test_occurrence_deposits import rows, upload, wait_report
from tests.integration.test_protection import CASES, EXPECTED_PUBLIC, deposit_csv
from tests.integration.test_sinp_records import CA, JDD, Api

SCREENSHOTS = ROOT / "var" / "screenshots"
BIG = 600  # more than POINTS_MAX: drawn per 10 km cell
WKT = "POLYGON((4.9 47.1, 5.9 47.1, 5.9 47.6, 4.9 47.6, 4.9 47.1))"


@pytest.fixture
def maps(app, clean_db, clean_index, jobs_worker):
    """A producer (password and token) with two published JDD: « big » (600 recent Myotis myotis,
    sensitive: the public gets 10 km cells) and « small » (the blurring matrix of test_protection)."""
    user = factories.User(password=PASSWORD, fullname="Léa Martin")
    token = ckan_helpers.call_action(
        "api_token_create", context={"user": user["name"], "ignore_auth": True}, user=user["name"], name="t"
    )["token"]
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}], title="LPO BFC")
    api = Api(app, token)
    ca = api.ok("package_create", **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"]})
    jdds = {}
    for kind, content in (("big", rows(BIG, lon=5.0).encode()), ("small", deposit_csv())):
        jdd = api.ok(
            "package_create",
            **{
                **copy.deepcopy(JDD),
                "name": f"jdd-{kind}-{uuid.uuid4().hex[:6]}",
                "title": f"Observations {kind}",
                "owner_org": org["id"],
                "cadre": ca["sinp_uuid"],
                "private": False,
            },
        )
        res = upload(app, token, jdd["id"], content)
        report = wait_report(api, res["id"])
        assert report["status"] == "done", report
        jdds[kind] = jdd
    return {"app": app, "api": api, "anon": Api(app), "user": user, "token": token, "org": org, **jdds}


def _map(api, jdd):
    status, body = api.get("sinp_occurrence_map", jdd=jdd["id"])
    assert status == 200, body
    return body["result"]


def _live(jdd, access):
    with model.meta.engine.connect() as conn:
        return store.occurrence_stats(conn, access, jdd["id"]), aggregates.cells(conn, access, jdd["id"])


def test_many_observations_are_drawn_per_cell_for_everyone_and_the_public_gets_the_blurred_layer(maps):
    producer, public = _map(maps["api"], maps["big"]), _map(maps["anon"], maps["big"])
    for result in (producer, public):
        assert result["mode"] == "maille" and result["points"] is None
        assert result["total"] == BIG and result["mapped"] == BIG
        assert sum(f["properties"]["count"] for f in result["cells"]["features"]) == BIG
        assert all(f["geometry"]["type"] == "Polygon" for f in result["cells"]["features"])
    # the producer sees precise data (counted in cells), the public the blurred cells of sensitive bats
    assert all(f["properties"]["blurred"] == 0 for f in producer["cells"]["features"])
    assert sum(f["properties"]["blurred"] for f in public["cells"]["features"]) == BIG
    # what the public's answer holds is what the public layer says: no coordinate of a point
    assert '"Point"' not in str(public)


def test_few_observations_are_drawn_one_by_one_as_the_caller_may_see_them(maps):
    producer, public = _map(maps["api"], maps["small"]), _map(maps["anon"], maps["small"])
    assert producer["mode"] == public["mode"] == "points"
    levels = {f["properties"]["idOrigine"]: f["properties"]["niveauDiffusion"] for f in public["points"]["features"]}
    assert levels == {k: v for k, v in EXPECTED_PUBLIC.items() if v}
    assert {f["geometry"]["type"] for f in producer["points"]["features"]} == {"Point"}
    assert len(producer["points"]["features"]) == len(CASES)


def test_the_stored_summary_is_what_the_live_rights_decision_gives_and_follows_every_change(maps):
    jdd = maps["small"]
    anon = sinp_access.access_for({"user": None}, [jdd["id"]])
    full = store.Access(full=True)
    with model.meta.engine.connect() as conn:
        assert aggregates.summary(conn, anon, jdd["id"])["stats"] == _live(jdd, anon)[0]
        assert aggregates.summary(conn, full, jdd["id"])["cells"] == _live(jdd, full)[1]
    before = maps["anon"].get("sinp_occurrence_stats", jdd=jdd["id"])[1]["result"]["count"]
    # a change of the data (a row's diffusion made « aucune ») moves the generation: no stale figure
    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE sinp_occurrence SET public_layer = 4 WHERE package_id = :p AND id_origine = 'kite-pu'"),
            {"p": jdd["id"]},
        )
    after = maps["anon"].get("sinp_occurrence_stats", jdd=jdd["id"])[1]["result"]
    assert after["count"] == before - 1
    assert after == {**_live(jdd, anon)[0], "map": after["map"]}
    assert _map(maps["anon"], jdd)["total"] == before - 1


def test_a_private_jdd_map_is_absent_for_the_public_and_bad_input_is_a_french_4xx(maps):
    maps["api"].ok("package_patch", id=maps["small"]["id"], private=True)
    status, body = maps["anon"].get("sinp_occurrence_map", jdd=maps["small"]["id"])
    status_unknown, _ = maps["anon"].get("sinp_occurrence_map", jdd="inconnu")
    assert status == status_unknown == 404
    status, body = maps["anon"].get("sinp_occurrence_map", jdd="x" * 5000)
    assert 400 <= status < 500


def test_map_images_are_served_and_anything_else_is_a_404(maps):
    app = maps["app"]
    for name in ("marker-icon.png", "layers.png", "spritesheet.svg", "spritesheet.png", "spritesheet-2x.png"):
        response = app.get(f"/carte/images/{name}")
        assert response.status_code == 200 and response.mimetype.startswith("image/"), name
    assert app.get("/carte/images/..%2F..%2Fleaflet.js").status_code == 404
    assert app.get("/carte/images/inconnue.png").status_code == 404


# --- in the browser ---------------------------------------------------------------------------------


def _shot(browser, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"map-{name}.png"))


def _failed_requests(browser, base) -> list[str]:
    """Requests of this site that failed (≥ 400, or not answered), from the browser's own records;
    plus every image a loaded style sheet of the maps refers to, fetched."""
    entries = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) {"
        " return [e.name, e.responseStatus || 0, e.transferSize, e.decodedBodySize]; })"
    )
    failed = [name for name, status, *_ in entries if name.startswith(base) and (status == 0 or status >= 400)]
    logs = [entry["message"] for entry in browser.get_log("browser")]
    failed += [m for m in logs if base in m and "Failed to load resource" in m]
    return failed


def _css_images(browser, base) -> set[str]:
    """The images the maps' styles make the browser draw (computed backgrounds of every map element,
    plus probes for Leaflet's marker icon and layers button), that point into the site."""
    urls = browser.execute_script(
        "var map = document.querySelector('.leaflet-container'); if (!map) { return []; }"
        " var probes = ['leaflet-default-icon-path', 'leaflet-control-layers-toggle'].map(function (c) {"
        "   var d = document.createElement('div'); d.className = c; map.appendChild(d); return d; });"
        " var out = []; map.querySelectorAll('*').forEach(function (el) {"
        '   var bg = getComputedStyle(el).backgroundImage, re = /url\\("?([^")]+)"?\\)/g, m;'
        "   while ((m = re.exec(bg))) { out.push(m[1]); } });"
        " probes.forEach(function (p) { p.remove(); }); return out;"
    )
    return {u for u in urls if u.startswith(base)}


def _wait_drawn(browser, selector, mode):
    wait_until(browser, lambda b: b.find_element(By.CSS_SELECTOR, selector).get_attribute("data-sinp-drawn") == mode)


def _scroll_to(browser, selector):
    element = browser.find_element(By.CSS_SELECTOR, selector)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)


def _legend(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".sinp-map-legend").text


def test_the_occurrence_map_draws_with_a_legend_for_the_public_and_the_producer(maps, browser, test_ckan_url):
    base = test_ckan_url
    big, small = maps["big"], maps["small"]
    browser.get(f"{base}/jdd/{big['name']}")
    _wait_drawn(browser, "#sinp-occurrence-map", "maille")
    caption = browser.find_element(By.CSS_SELECTOR, ".sinp-map-caption").text
    assert caption == "600 observations, regroupées par maille de 10 km."
    assert _legend(browser).startswith("Observations par maille de 10 km")
    assert browser.find_elements(By.CSS_SELECTOR, "path.sinp-occurrence-cell")
    _scroll_to(browser, "#sinp-occurrence-map")
    _shot(browser, "jdd-anonyme")
    assert _failed_requests(browser, base) == []
    for url in _css_images(browser, base):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/"), url

    browser.get(f"{base}/jdd/{small['name']}")
    _wait_drawn(browser, "#sinp-occurrence-map", "points")
    text = browser.find_element(By.CSS_SELECTOR, ".sinp-map-caption").text
    assert text.startswith(f"{len(CASES) - 1} observations, chacune à l'emplacement que vous pouvez voir")
    assert "1 diffusée au département seulement ou sans géométrie, non cartographiée" in text
    assert "zone floutée (commune ou maille de 10 km)" in _legend(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "path.sinp-occurrence-area")
    _shot(browser, "jdd-anonyme-peu")

    _login(browser, base, maps["user"])
    browser.get(f"{base}/jdd/{small['name']}")
    _wait_drawn(browser, "#sinp-occurrence-map", "points")
    assert len(browser.find_elements(By.CSS_SELECTOR, "path.sinp-occurrence-point")) == len(CASES)
    assert "localisation précise" in _legend(browser)
    _scroll_to(browser, "#sinp-occurrence-map")
    _shot(browser, "jdd-producteur")
    browser.get(f"{base}/jdd/{big['name']}")
    _wait_drawn(browser, "#sinp-occurrence-map", "maille")
    assert _legend(browser).startswith("Observations par maille de 10 km")
    browser.set_window_size(390, 900)
    _scroll_to(browser, "#sinp-occurrence-map")
    _shot(browser, "jdd-producteur-390")
    browser.set_window_size(1280, 2000)
    assert _failed_requests(browser, base) == []


def _contrast(browser, element) -> float:
    def luminance(css):
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    fg = luminance(element.value_of_css_property("color"))
    bg = luminance(element.value_of_css_property("background-color"))
    return (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)


def test_the_territory_map_draws_a_pasted_wkt_and_answers_in_french(maps, browser, test_ckan_url):
    base = test_ckan_url
    browser.get(f"{base}/territoire")
    patient(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".leaflet-draw-toolbar a"))
    field = browser.find_element(By.ID, "polygone")
    field.send_keys(WKT)
    _wait_drawn(browser, "#sinp-territory-map", "polygone")
    assert browser.find_elements(By.CSS_SELECTOR, "#sinp-territory-map .leaflet-overlay-pane path")
    titles = {a.get_attribute("title") for a in browser.find_elements(By.CSS_SELECTOR, ".leaflet-draw-toolbar a")}
    assert {"Dessiner un polygone", "Dessiner un rectangle"} <= titles
    sprites = _css_images(browser, base)
    assert any(u.endswith("spritesheet.svg") for u in sprites)
    for url in sprites:
        response = requests.get(url, timeout=10)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/"), url
    browser.find_element(By.CSS_SELECTOR, "#sinp-territory-form button[type=submit]").click()
    patient(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "h2"))
    heading = browser.find_element(By.CSS_SELECTOR, "article h2").text
    assert re.search(r"\(\d{1,3}(\u202f\d{3})*,\d km²\)$", heading), heading
    _wait_drawn(browser, "#sinp-territory-map", "polygone")  # the polygon asked about stays drawn
    badges = browser.find_elements(By.CSS_SELECTOR, ".sinp-badge-sensible")
    assert badges and badges[0].text == "espèce sensible"
    assert _contrast(browser, badges[0]) >= 4.5
    _shot(browser, "territoire")
    browser.set_window_size(390, 900)
    _shot(browser, "territoire-390")
    browser.set_window_size(1280, 2000)
    assert _failed_requests(browser, base) == []
