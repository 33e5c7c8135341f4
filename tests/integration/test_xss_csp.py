"""Stored XSS and Content-Security-Policy (issue 13, finding 2), in a real browser (Debian's headless Chromium).

A producer deposits rows whose text fields carry XSS payloads (accepted rows, and a refused row so that the
QC report shows its values); the JDD is published. Anonymous visitors and a sysadmin then open every page that
shows occurrences or deposit data — the JDD page (each marker clicked to open its popup), the deposit report,
the resource page, the validation page and the territory page — and no payload runs: `window.__sinp_xss`
stays undefined, the payload is shown as text, every response carries the policy, and Chromium reports no
violation of it on our pages (every inline script moved to files). The main pages of CKAN and of the other
extensions are checked for violations too.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import pathlib
import uuid

import pytest
import requests
from ckan.tests import factories
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.integration.conftest import patient
from tests.integration.test_browser_forms import PASSWORD, _login
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_sinp_records import CA, JDD, Api

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"

IMG = '<img src=x onerror="window.__sinp_xss=1">'
SCRIPT = '"><script>window.__sinp_xss=1</script>'
SVG = "<svg onload=window.__sinp_xss=1>"
LINK = '<a href="javascript:window.__sinp_xss=1">voir la preuve</a>'
JS_URL = "javascript:window.__sinp_xss=1"
BAD_DATE = '2024-13-45<img src=x onerror="window.__sinp_xss=1">'

COLUMNS = [
    "idOrigine",
    "statutObservation",
    "nomCite",
    "cdNom",
    "dateDebut",
    "dateFin",
    "observateur",
    "geometrie",
    "natureObjetGeo",
    "dSPublique",
    "statutSource",
    "organismeGestionnaireDonnee",
    "codeCommune",
    "nomCommune",
    "anneeRefCommune",
    "typeInfoGeoCommune",
    "nomLieu",
    "commentaire",
    "uRLPreuveNumerique",
]
# Red kites in Dijon, public (dSPublique Pu) and not sensitive: the public sees them precisely, names included
ACCEPTED = [
    {
        "idOrigine": "xss-1" + SCRIPT,
        "nomCite": IMG,
        "observateur": f"MARTIN Léa ({SVG})",
        "nomLieu": SCRIPT,
        "commentaire": LINK,
        "geometrie": "POINT(5.0311 47.3111)",
    },
    {
        "idOrigine": "xss-2",
        "nomCite": SCRIPT,
        "observateur": f"MARTIN Léa ({IMG})",
        "nomLieu": SVG,
        "commentaire": IMG,
        "geometrie": "POINT(5.0611 47.3311)",
    },
    {
        "idOrigine": "xss-3",
        "nomCite": SVG,
        "observateur": f"MARTIN Léa ({LINK})",
        "nomLieu": LINK,
        "commentaire": SVG,
        "geometrie": "POINT(5.0011 47.2911)",
    },
]
REFUSED = {
    "idOrigine": "xss-4" + IMG,
    "nomCite": LINK,
    "observateur": SCRIPT,
    "dateDebut": BAD_DATE,
    "uRLPreuveNumerique": JS_URL,
    "geometrie": "POINT(5.0411 47.3211)",
}
POLYGON = {
    "type": "Polygon",
    "coordinates": [[[4.95, 47.25], [5.12, 47.25], [5.12, 47.37], [4.95, 47.37], [4.95, 47.25]]],
}


def deposit_csv() -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, delimiter=";", lineterminator="\n")
    writer.writeheader()
    for row in ACCEPTED + [REFUSED]:
        writer.writerow(
            {
                "statutObservation": "Pr",
                "cdNom": "2844",
                "dateDebut": "2024-04-01",
                "dateFin": "2024-04-01",
                "natureObjetGeo": "St",
                "dSPublique": "Pu",
                "statutSource": "Te",
                "organismeGestionnaireDonnee": "LPO BFC",
                "codeCommune": "21231",
                "nomCommune": "Dijon",
                "anneeRefCommune": "2024",
                "typeInfoGeoCommune": "2",
                **row,
            }
        )
    return out.getvalue().encode("utf-8")


@pytest.fixture
def xss_world(app, clean_db, clean_index, jobs_worker):
    """A published JDD holding the hostile deposit, its producer and a sysadmin (both with a password)."""
    # no picture nor logo by URL: the policy loads images from the site and the map tiles only (factories
    # invent them); a producer who wants a logo uploads it
    producer = factories.UserWithToken(password=PASSWORD, image_url="")
    org = factories.Organization(
        users=[{"name": producer["name"], "capacity": "editor"}], title="LPO BFC", image_url=""
    )
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": f"jdd-{uuid.uuid4().hex[:8]}",
            "title": "Milans royaux de Dijon",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": True,
        },
    )
    res = upload(app, producer["token"], jdd["id"], deposit_csv(), name="milans.csv")
    report = wait_report(api, res["id"], limit=1000)
    assert report["status"] == "done" and report["rows_accepted"] == len(ACCEPTED), report
    assert report["rows_rejected"] == 1, report
    api.ok("package_patch", id=jdd["id"], private=False)
    sysadmin = factories.SysadminWithToken(password=PASSWORD, image_url="")
    return {"ca": ca, "jdd": jdd, "res": res, "report": report, "producer": producer, "sysadmin": sysadmin}


def csp_violations(browser) -> list[str]:
    """Chromium's console messages about the Content-Security-Policy since the last call."""
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def xss_ran(browser) -> bool:
    return browser.execute_script("return typeof window.__sinp_xss !== 'undefined'")


def shot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"xss-{name}.png"))


def check_headers(browser, url: str) -> None:
    """The response of ``url``, fetched with the browser's session, carries the policy and the other headers."""
    with requests.Session() as session:
        for cookie in browser.get_cookies():
            session.cookies.set(cookie["name"], cookie["value"])
        response = session.get(url, allow_redirects=False)
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], (url, policy)
    assert directives.get("object-src") == ["'none'"] and "default-src" in directives, (url, policy)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.headers.get("Referrer-Policy") == "same-origin", url


def open_page(browser, url: str, name: str, ready: str = "footer") -> str:
    """Opens ``url``; returns the visible text once loaded (no payload ran, no policy violation)."""
    browser.get(url)
    patient(browser, 20).until(
        lambda b: (
            b.execute_script("return document.readyState") == "complete" and b.find_elements(By.CSS_SELECTOR, ready)
        )
    )
    shot(browser, name)
    assert not xss_ran(browser), url
    assert csp_violations(browser) == [], url
    check_headers(browser, url)
    return browser.find_element(By.TAG_NAME, "body").text


def popups(browser, expected: int, name: str) -> list[str]:
    """Clicks every point of the occurrence map; returns the name shown in each popup (its text)."""
    points = "#sinp-occurrence-map path.sinp-occurrence-point"
    patient(browser, 20).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, points)) == expected)
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});", browser.find_element(By.ID, "sinp-occurrence-map")
    )
    texts = []
    for i, point in enumerate(browser.find_elements(By.CSS_SELECTOR, points)):
        point.click()
        popup = patient(browser, 10).until(
            lambda b: b.find_element(By.CSS_SELECTOR, "#sinp-occurrence-map .leaflet-popup-content")
        )
        patient(browser, 10).until(lambda b, popup=popup: "Localisation : précise" in popup.text)  # after its fade-in
        if i == 0:
            shot(browser, f"{name}-popup")
        texts.append(browser.execute_script("return arguments[0].querySelector('em').textContent;", popup))
        # a payload set as text makes no element
        assert popup.find_elements(By.CSS_SELECTOR, "img, svg, script, a") == []
        browser.execute_script(
            "arguments[0].click();",
            browser.find_element(By.CSS_SELECTOR, "#sinp-occurrence-map .leaflet-popup-close-button"),
        )
        patient(browser, 10).until(
            lambda b: not b.find_elements(By.CSS_SELECTOR, "#sinp-occurrence-map .leaflet-popup")
        )
    return texts


def territory(browser, base: str, name: str) -> str:
    open_page(browser, f"{base}/territoire", f"{name}-territoire-form")
    field = browser.find_element(By.ID, "polygone")
    field.clear()
    field.send_keys(json.dumps(POLYGON))
    browser.find_element(By.CSS_SELECTOR, "#sinp-territory-form button[type=submit]").click()
    patient(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "table.sinp-territory"))
    # the map draws the polygon sent back in the form
    patient(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#sinp-territory-map path"))
    shot(browser, f"{name}-territoire")
    assert not xss_ran(browser) and csp_violations(browser) == []
    return browser.find_element(By.CSS_SELECTOR, "table.sinp-territory").text


def test_deposited_payloads_run_nowhere_and_are_shown_as_text(browser, test_ckan_url, xss_world):
    browser.implicitly_wait(0)  # explicit waits only: absences are asserted
    jdd, res = xss_world["jdd"], xss_world["res"]
    jdd_url = f"{test_ckan_url}/jdd/{jdd['name']}"

    # --- anonymous: the JDD page and its popups, the territory service ---
    open_page(browser, jdd_url, "anonyme-jdd")
    assert sorted(popups(browser, len(ACCEPTED), "anonyme-jdd")) == sorted(r["nomCite"] for r in ACCEPTED)
    assert not xss_ran(browser) and csp_violations(browser) == []
    taxa = territory(browser, test_ckan_url, "anonyme")
    assert "Milvus milvus" in taxa

    # --- the sysadmin: same pages, plus the deposit report, the resource page and the validation page ---
    _login(browser, test_ckan_url, xss_world["sysadmin"])
    assert csp_violations(browser) == []  # the dashboard
    open_page(browser, jdd_url, "admin-jdd")
    assert sorted(popups(browser, len(ACCEPTED), "admin-jdd")) == sorted(r["nomCite"] for r in ACCEPTED)

    report = open_page(browser, f"{jdd_url}/depot/{res['id']}", "admin-rapport")
    assert "Rapport de contrôle du dépôt" in report
    values = [code.text for code in browser.find_elements(By.CSS_SELECTOR, "table.sinp-errors code")]
    assert BAD_DATE in values, values
    assert browser.find_elements(By.CSS_SELECTOR, "table.sinp-errors img, table.sinp-errors svg") == []
    open_page(browser, f"{jdd_url}/depot/{res['id']}?column=dateDebut", "admin-rapport-filtre")

    open_page(browser, f"{jdd_url}/resource/{res['id']}", "admin-ressource")

    open_page(browser, f"{jdd_url}/validation", "admin-validation")
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "form table tbody td")]
    for row in ACCEPTED:
        assert any(cell.startswith(row["nomCite"]) for cell in cells), (row["nomCite"], cells)
        assert row["observateur"] in cells
    assert browser.find_elements(By.CSS_SELECTOR, "form table img, form table svg, form table script") == []

    assert "Milvus milvus" in territory(browser, test_ckan_url, "admin")
    assert not xss_ran(browser)

    # defence in depth: even a script injected into the page as markup is refused by the policy
    browser.get(jdd_url)
    browser.execute_script(
        "var s = document.createElement('script'); s.textContent = 'window.__sinp_xss = 1';"
        "document.body.appendChild(s);"
    )
    assert not xss_ran(browser)
    assert any("script-src" in message for message in csp_violations(browser))


PAGES = [
    "/",
    "/dataset/",
    "/ca/",
    "/jdd/",
    "/ca/{ca}",
    "/jdd/{jdd}",
    "/depot/colonnes",
    "/territoire",
    "/dataset/new",
    "/ca/new",
    "/jdd/new",
    "/jdd/{jdd}/resource/new",
    "/jdd/edit/{jdd}",
    "/harvest",
    "/ckan-admin",
    "/ckan-admin/chefs-de-file",
    "/organization/",
    "/user/{user}/api-tokens",
    "/api/3/action/status_show",
]


def test_the_main_pages_respect_the_policy(browser, test_ckan_url, xss_world):
    browser.implicitly_wait(0)
    names = {"ca": xss_world["ca"]["name"], "jdd": xss_world["jdd"]["name"], "user": xss_world["sysadmin"]["name"]}
    for path in ("/", "/dataset/", "/jdd/{jdd}", "/territoire", "/depot/colonnes", "/user/login", "/harvest"):
        open_page(
            browser,
            test_ckan_url + path.format(**names),
            "anonyme" + path.format(**names).replace("/", "_"),
            ready="body",
        )
    _login(browser, test_ckan_url, xss_world["sysadmin"])
    assert csp_violations(browser) == []  # the dashboard
    for path in PAGES:
        url = test_ckan_url + path.format(**names)
        open_page(browser, url, "admin" + path.format(**names).replace("/", "_"), ready="body")

    # the CA form's scripts, now files: the taxon picker adds a CD_NOM, the completeness follows the form
    open_page(browser, f"{test_ckan_url}/ca/new", "admin-ca-form")
    completeness = browser.find_element(By.CSS_SELECTOR, "#sinp-live-completeness .sinp-count")
    before = completeness.text
    assert " / " in before
    # the picker (select2, a script file) opened through its API: the CSP must let it search TAXREF and write the code
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); jQuery(arguments[0]).select2('open');",
        browser.find_element(By.ID, "sinp-taxon-q-cible_ecologique"),
    )
    browser.find_element(By.CSS_SELECTOR, ".select2-container--open .select2-search__field").send_keys("Milvus milvus")
    patient(browser, 20).until(
        lambda b: [
            li for li in b.find_elements(By.CSS_SELECTOR, ".select2-results__option--highlighted") if "2844" in li.text
        ]
    )
    browser.find_element(By.CSS_SELECTOR, ".select2-container--open .select2-search__field").send_keys(Keys.ENTER)
    assert browser.find_element(By.ID, "field-cible_ecologique").get_attribute("value") == "2844"
    browser.find_element(By.NAME, "title").send_keys("Suivi du milan royal")
    assert completeness.text != before
    assert csp_violations(browser) == []

    # the resource form's buttons, without CKAN's inline handlers: « Lien » shows the URL field
    open_page(browser, f"{test_ckan_url}/jdd/{names['jdd']}/resource/new?autre=1", "admin-ressource-form")
    browser.find_element(By.ID, "resource-link-button").click()
    assert browser.find_element(By.ID, "resource-url-link").is_selected()
    assert browser.find_element(By.ID, "field-resource-url").is_displayed()
    [remove] = [b for b in browser.find_elements(By.CSS_SELECTOR, ".btn-remove-url") if b.is_displayed()]
    remove.click()
    assert browser.find_element(By.ID, "resource-url-none").is_selected()
    assert csp_violations(browser) == []
