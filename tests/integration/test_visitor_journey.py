"""A visitor's journey in a real browser (headless Chromium), not logged in: the home page, a search
by drawing a box on the map, a JDD page with its extent map, its occurrence map (blurred for the
public), the export of its occurrences. Each step asserts what a person sees; screenshots in
var/screenshots/visitor-*.png."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.conftest import ROOT
from tests.integration.conftest import patient, search_count
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_protection import deposit_csv
from tests.integration.test_search import BAT, DRAGONFLY, KITE_HIDDEN, morvan_records

SCREENSHOTS = ROOT / "var" / "screenshots"
TILES = "tile.openstreetmap"  # the base map's tiles: outside, not an asset of ours


@pytest.fixture
def published_jdd(app, clean_db, clean_index, jobs_worker):
    """A published CA and JDD (Morvan) whose deposit holds a dragonfly (precise), a bat (sensitive:
    blurred to the 10 km cell) and a kite whose producer diffuses nothing."""
    producer, api, _, jdd = morvan_records(app)
    resource = upload(
        app, producer["token"], jdd["id"], deposit_csv({"odo": DRAGONFLY, "bat": BAT, "kite": KITE_HIDDEN})
    )
    assert wait_report(api, resource["id"])["rows_accepted"] == 3
    assert search_count(1, q="Leucorrhinia") == 1  # indexed with its taxa once integrated
    return jdd


def _shot(browser, name, width=1280):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 1000)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(width, min(max(height, 800), 8000))
    browser.save_screenshot(str(SCREENSHOTS / f"visitor-{name}.png"))
    browser.set_window_size(1280, 2000)


def _missing_assets(browser) -> list[str]:
    """Resources of ours the browser could not load (404, refused), the base map's tiles aside."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
        and "Failed to load resource" in entry["message"]
        and TILES not in entry["message"]
    ]


def _wait(browser, condition, timeout=20):
    return patient(browser, timeout).until(condition)


def test_a_visitor_finds_a_jdd_on_the_map_and_reads_its_blurred_observations(published_jdd, browser, test_ckan_url):
    base = test_ckan_url

    # 1. the home page says what the platform is and leads to the search
    browser.get(base + "/")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "SINP" in body and "Bourgogne-Franche-Comté" in body
    _shot(browser, "1-accueil")
    browser.find_element(By.CSS_SELECTOR, f"a[href='/jdd/'], a[href='{base}/jdd/']").click()
    _wait(browser, lambda b: b.current_url.rstrip("/").endswith("/jdd"))
    assert "Filtrer par emprise" in browser.find_element(By.ID, "dataset-map").text

    # 2. map search: the pencil opens a map where the visitor draws a box over the Morvan and applies it
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#dataset-map .leaflet-control-custom-button"))
    browser.find_element(By.CSS_SELECTOR, "#dataset-map .leaflet-control-custom-button").click()
    draw_map = _wait(
        browser, lambda b: b.find_element(By.CSS_SELECTOR, ".modal.show #draw-map-container.leaflet-container")
    )
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".leaflet-draw-toolbar a"))
    size = draw_map.size
    ActionChains(browser).move_to_element_with_offset(
        draw_map, -size["width"] // 3, -size["height"] // 3
    ).click_and_hold().move_by_offset(size["width"] * 2 // 3, size["height"] * 2 // 3).release().perform()
    apply = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".modal.show .btn-primary.apply:not(.disabled)"))
    _shot(browser, "2-carte-recherche")
    apply.click()
    _wait(browser, lambda b: "ext_bbox=" in b.current_url)
    west, south, east, north = (
        float(v) for v in browser.current_url.split("ext_bbox=")[1].split("&")[0].replace("%2C", ",").split(",")
    )
    assert west < 4.35 and east > 3.85 and south < 47.45 and north > 46.95, "the drawn box covers the JDD's extent"
    results = browser.find_element(By.ID, "search-results").text
    assert "1 jeu de données trouvé" in results and "Comptages hivernaux de chiroptères" in results
    assert "Jeu de données" in browser.find_element(By.CSS_SELECTOR, ".dataset-item .sinp-type-badge").text
    assert browser.find_elements(By.CSS_SELECTOR, "#dataset-map .leaflet-overlay-pane path"), "the box shown on the map"
    _shot(browser, "3-resultats")

    # 3. the JDD page with its extent on a map
    browser.find_element(By.LINK_TEXT, "Comptages hivernaux de chiroptères").click()
    _wait(browser, lambda b: "/jdd/jdd-morvan" in b.current_url)
    extent = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#sinp-emprise .leaflet-container"))
    assert extent.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path"), "the extent drawn"
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Emprise géographique" in page
    assert "Ce jeu de données contient 2 observations que vous pouvez consulter" in page
    assert "Ce jeu de données est vide" not in page
    assert "Contact principal" in page

    # 4. the occurrence map: drawn, blurred for a visitor (the bat at its 10 km cell), the kite absent
    occurrences = _wait(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#sinp-occurrence-map.leaflet-container"))
    _wait(
        browser,
        lambda b: occurrences.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path, .leaflet-marker-icon"),
    )
    section = browser.find_element(By.CSS_SELECTOR, "section.sinp-occurrences").text
    assert "floutée" in section
    assert "Milvus" not in page and "Milan royal" not in page
    _shot(browser, "4-jdd")
    _shot(browser, "4-jdd-390", width=390)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280

    # 5. the export link works and gives what a visitor may see
    browser.set_window_size(1280, 2000)
    link = browser.find_element(By.LINK_TEXT, "CSV").get_attribute("href")
    export = requests.get(link, timeout=60)
    assert export.status_code == 200
    text = export.content.decode("utf-8-sig")
    assert "Leucorrhinia pectoralis" in text and "Myotis myotis" in text
    assert "Milvus milvus" not in text
    assert _missing_assets(browser) == []


def test_the_search_and_record_pages_fit_a_phone(published_jdd, browser, test_ckan_url):
    for name, path in (("5-recherche-390", "/jdd/?q=Leucorrhinia"), ("6-jdd-390", "/jdd/jdd-morvan")):
        browser.set_window_size(390, 1200)
        browser.get(test_ckan_url + path)
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".leaflet-container"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390, path
        _shot(browser, name, width=390)
    assert "Comptages hivernaux de chiroptères" in browser.find_element(By.TAG_NAME, "body").text
    assert _missing_assets(browser) == []
