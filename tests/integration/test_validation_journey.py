"""The chef de file's journey on a JDD's validation page, in a real browser (headless Chromium):
filter → select → confirm → history, then the producer's notification. Each step asserts what a
person sees; screenshots in var/screenshots/validation-*.png.

Real CKAN (gunicorn), PostgreSQL/PostGIS, Solr, Redis and a real `ckan jobs worker`; the deposit
is the one of test_protection (a row per case of the blurring matrix).
"""

from __future__ import annotations

import copy
import pathlib
import re
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from ckan.tests import factories
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.integration.conftest import body_text, patient, wait_until
from tests.integration.test_browser_forms import PASSWORD, _login
from tests.integration.test_occurrence_deposits import upload, wait_report
from tests.integration.test_protection import CASES, _jdd, deposit_csv
from tests.integration.test_sinp_records import CA, Api

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
BAT = "60418"  # Myotis myotis: two observations in the deposit, mammals in Côte-d'Or
IN_SCOPE = {"bat", "old-bat", "wolf"}  # the mammals of Côte-d'Or: the chef de file's scope
FRENCH_DATETIME = r"\d{1,2}(er)? (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre) \d{4} à \d{1,2} h \d{2}"


@pytest.fixture
def journey_world(app, clean_db, clean_index, jobs_worker):
    """A producer's published JDD holding the deposit; a chef de file for mammals in Côte-d'Or and
    a producer, both with a password."""
    producer = factories.UserWithToken(password=PASSWORD, fullname="Léa Martin", image_url="")
    org = factories.Organization(
        users=[{"name": producer["name"], "capacity": "editor"}], title="LPO BFC", image_url=""
    )
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create",
        **{**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], "private": False},
    )
    jdd = _jdd(api, org, ca, private=False)
    res = upload(app, producer["token"], jdd["id"], deposit_csv())
    report = wait_report(api, res["id"])
    assert report["status"] == "done" and report["rows_accepted"] == len(CASES), report

    chef = factories.UserWithToken(password=PASSWORD, fullname="Paul Durand", image_url="")
    structure = factories.Organization(
        users=[{"name": chef["name"], "capacity": "editor"}], title="Groupe mammalogique de Bourgogne", image_url=""
    )
    admin = Api(app, factories.SysadminWithToken()["token"])
    admin.ok("sinp_chef_de_file_set", organization=structure["name"], groupes=["Mammifères"], departements="21")
    return {"jdd": jdd, "producer": producer, "chef": chef}


def levels(jdd_id) -> dict[str, str]:
    """idOrigine → validation level, read in the database."""
    with model.meta.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id_origine, niv_val FROM sinp_occurrence WHERE package_id = :p"), {"p": jdd_id}
        )
        return {r[0]: r[1] for r in rows}


def shot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"validation-{name}.png"))


def page_text(browser) -> str:
    wait_until(
        browser,
        lambda b: (
            b.execute_script("return document.readyState") == "complete" and b.find_elements(By.TAG_NAME, "footer")
        ),
    )
    return body_text(browser)


def console_problems(browser) -> list[str]:
    """Chromium's console since the last call: Content-Security-Policy violations and resources of
    the site that failed to load (404…); map tiles come from elsewhere and are not counted."""
    return [
        e["message"]
        for e in browser.get_log("browser")
        if "Content Security Policy" in e["message"]
        or ("Failed to load resource" in e["message"] and "openstreetmap" not in e["message"])
    ]


def click(browser, element) -> None:
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def rows(browser) -> list[list[str]]:
    return [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in browser.find_elements(By.CSS_SELECTOR, "table.sinp-validation-table tbody tr")
    ]


def test_a_chef_de_file_filters_selects_confirms_and_reads_the_history(browser, test_ckan_url, journey_world):
    jdd, chef = journey_world["jdd"], journey_world["chef"]
    before = levels(jdd["id"])
    _login(browser, test_ckan_url, chef)

    # --- the page: no level chosen, the map of the observations, select-all for the page ---
    browser.get(f"{test_ckan_url}/jdd/{jdd['name']}/validation")
    text = page_text(browser)
    assert "Validation scientifique" in text and "1. Filtrer les observations affichées" in text
    assert Select(browser.find_element(By.ID, "niv_val")).first_selected_option.text == "— Choisir un niveau —"
    labels = [o.text for o in Select(browser.find_element(By.ID, "niv_val")).options]
    assert labels[1:] == ["Certain - très probable", "Probable", "Douteux", "Invalide", "Non réalisable"]
    # the chef de file sees its scope precisely (a point per observation), the rest as the public does
    try:
        patient(browser, 20).until(
            lambda b: (
                len(b.find_elements(By.CSS_SELECTOR, "#sinp-validation-map path.sinp-validation-point"))
                == len(IN_SCOPE)
            )
        )
    except TimeoutException:
        shot(browser, "echec-carte")
        drawn = browser.find_elements(By.CSS_SELECTOR, "#sinp-validation-map path")
        raise AssertionError(f"{len(drawn)} shapes drawn; console: {browser.get_log('browser')}") from None
    assert "Carte : " in browser.find_element(By.CSS_SELECTOR, "[data-sinp-map-status]").text
    boxes = browser.find_elements(By.CSS_SELECTOR, "table.sinp-validation-table input[name=ids]")
    assert len(boxes) == len(IN_SCOPE)  # out of scope: no box, « hors périmètre »
    assert "hors périmètre" in text and "toutes les 3 observations du jeu de données" in text
    assert browser.find_element(By.CSS_SELECTOR, ".sinp-select-all").is_displayed()
    assert "Tout sélectionner (cette page)" in text
    shot(browser, "1-page")
    assert console_problems(browser) == []

    # --- filter: only the bats; filtering changes nothing ---
    field = browser.find_element(By.ID, "f_cd_nom")
    field.send_keys(BAT)
    click(browser, browser.find_element(By.CSS_SELECTOR, "form.sinp-validation-filter button[type=submit]"))
    patient(browser, 20).until(lambda b: f"cd_nom={BAT}" in b.current_url)
    text = page_text(browser)
    shown = rows(browser)
    assert len(shown) == 2 and all(r[1].startswith("Myotis myotis") for r in shown), shown
    assert all(r[5] == "En attente de validation" for r in shown), shown
    assert "toutes les 2 observations du filtre" in text and "Retirer le filtre" in text
    assert levels(jdd["id"]) == before
    shot(browser, "2-filtre")

    # --- select: « tout sélectionner » ticks the page's rows, the count follows ---
    click(browser, browser.find_element(By.CSS_SELECTOR, "input[data-sinp-select-all]"))
    ticked = browser.find_elements(By.CSS_SELECTOR, "table.sinp-validation-table input[name=ids]:checked")
    assert len(ticked) == 2
    assert browser.find_element(By.CSS_SELECTOR, "[data-sinp-checked-count]").text == "2"
    Select(browser.find_element(By.ID, "niv_val")).select_by_visible_text("Probable")
    browser.find_element(By.ID, "commentaire").send_keys("Détermination vérifiée sur photo")
    shot(browser, "3-selection")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form.sinp-validation-decision button[type=submit]"))

    # --- confirm: the count and the level, nothing written yet ---
    wait_until(browser, lambda b: "Confirmer la décision" in b.find_element(By.TAG_NAME, "body").text)
    text = page_text(browser)
    assert "Valider 2 observations au niveau « Probable » ?" in text
    assert "Décision enregistrée au nom de : Groupe mammalogique de Bourgogne" in text
    assert "Détermination vérifiée sur photo" in text
    assert levels(jdd["id"]) == before
    shot(browser, "4-confirmation")
    click(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Oui, valider 2 observations']"))

    # --- done: said on the page, the levels in the table and in the database ---
    patient(browser, 20).until(lambda b: "validation" in b.current_url and "Confirmer" not in b.title)
    text = page_text(browser)
    assert "2 observations validées au niveau « Probable » par Groupe mammalogique de Bourgogne" in text
    assert [r[5] for r in rows(browser)] == ["Probable", "Probable"]
    after = levels(jdd["id"])
    assert {k for k in after if after[k] != before[k]} == {"bat", "old-bat"}
    shot(browser, "5-enregistre")

    # --- history: the detail of one observation, who, when (in French), level, comment ---
    click(browser, browser.find_element(By.CSS_SELECTOR, "table.sinp-validation-table tbody tr td:nth-child(2) a"))
    wait_until(browser, lambda b: "Historique de validation" in b.find_element(By.TAG_NAME, "body").text)
    text = page_text(browser)
    assert "Observation de Myotis myotis" in text and "Niveau de validation actuel : Probable" in text
    history = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in browser.find_elements(By.CSS_SELECTOR, "table.sinp-validation-history tbody tr")
    ]
    assert len(history) == 1, history
    when, level, previous, structure, person, kind, comment = history[0]
    assert re.fullmatch(FRENCH_DATETIME, when), when
    assert (level, previous, structure, person, comment) == (
        "Probable",
        "En attente de validation",
        "Groupe mammalogique de Bourgogne",
        "Paul Durand",
        "Détermination vérifiée sur photo",
    )
    assert kind.startswith("Manuelle")
    assert "Nom du lieu" in text  # the observation's fields, labelled as in the column guide
    patient(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".sinp-validation-map path"))
    shot(browser, "6-historique")
    assert console_problems(browser) == []

    # --- usable at 390 px: no sideways scroll ---
    browser.set_window_size(390, 1400)
    browser.get(f"{test_ckan_url}/jdd/{jdd['name']}/validation?cd_nom={BAT}")
    page_text(browser)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    shot(browser, "7-mobile")
    browser.set_window_size(1280, 2000)

    # --- the producer is notified: the validating structure, the date in French ---
    browser.delete_all_cookies()
    _login(browser, test_ckan_url, journey_world["producer"])
    browser.get(f"{test_ckan_url}/jdd/{jdd['name']}")
    text = page_text(browser)
    notice = re.search(
        r"Groupe mammalogique de Bourgogne a validé 2 observations du jeu de données « Suivi des chiroptères » "
        rf"au niveau « Probable » le {FRENCH_DATETIME} \(Paul Durand\) : Détermination vérifiée sur photo\.",
        text,
    )
    assert notice, text
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});",
        browser.find_element(By.XPATH, "//*[contains(text(), 'Groupe mammalogique de Bourgogne a validé')]"),
    )
    shot(browser, "8-notification")
