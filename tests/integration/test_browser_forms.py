"""A producer creates a CA, a JDD under it, and publishes the JDD, in a real browser (headless Chromium)."""

from __future__ import annotations

import pytest
import requests
from ckan.tests import factories
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

PASSWORD = "Mot-de-passe-1234"


@pytest.fixture
def producer_account(clean_db, clean_index):
    user = factories.User(password=PASSWORD, fullname="Claire Martin")
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="CEN Bourgogne-Franche-Comté", name="cen-bfc"
    )
    return user, org


def _login(browser, base, user):
    browser.get(f"{base}/user/login")
    browser.find_element(By.ID, "field-login").send_keys(user["name"])
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form-horizontal button[type=submit], form button.btn-primary").click()
    WebDriverWait(browser, 20).until(lambda b: "/user/login" not in b.current_url)


def _fill(browser, name, value):
    element = browser.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def _select(browser, name, *labels_or_values):
    select = Select(browser.find_element(By.NAME, name))
    for value in labels_or_values:
        select.select_by_value(value)


def _submit(browser):
    button = browser.find_element(By.CSS_SELECTOR, "button[name=save]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    browser.execute_script("arguments[0].click();", button)


def _shot(browser, tmp_path, name):
    browser.save_screenshot(str(tmp_path / f"{name}.png"))


def test_producer_creates_a_ca_then_a_jdd_and_publishes_it(browser, test_ckan_url, producer_account, tmp_path):
    user, org = producer_account
    _login(browser, test_ckan_url, user)

    # --- the cadre d'acquisition ---
    browser.get(f"{test_ckan_url}/ca/new")
    assert "Libellé du cadre d'acquisition" in browser.page_source
    _fill(browser, "title", "Inventaire des amphibiens de la Bresse")
    _fill(browser, "notes", "Prospection des mares de la Bresse louhannaise.")
    _select(browser, "objectifs", "8")
    _select(browser, "niveau_territorial", "6")
    _select(browser, "territoires", "METROP")
    browser.execute_script("document.getElementsByName('date_lancement')[0].value = '2024-03-01'")
    _fill(browser, "acteurs-0-organisme", "CEN Bourgogne-Franche-Comté")
    _fill(browser, "acteurs-0-mail", "amphibiens@cen.invalid")
    _select(browser, "acteurs-0-role", "1")
    _shot(browser, tmp_path, "ca-form")
    _submit(browser)
    WebDriverWait(browser, 30).until(
        lambda b: "/ca/inventaire-des-amphibiens-de-la-bresse" in b.current_url and "/new" not in b.current_url
    )
    page = browser.page_source
    assert "Inventaire des amphibiens de la Bresse" in page
    assert "Complétude de la fiche" in page

    # --- a form with an error comes back with the French message, nothing stored ---
    browser.get(f"{test_ckan_url}/jdd/new")
    _fill(browser, "title", "Jeu sans contact")
    _submit(browser)
    WebDriverWait(browser, 30).until(lambda b: "Champ obligatoire du standard SINP" in b.page_source)
    assert requests.get(
        f"{test_ckan_url}/api/3/action/package_show", params={"id": "jeu-sans-contact"}
    ).status_code in (403, 404)

    # --- the jeu de données under it ---
    browser.get(f"{test_ckan_url}/jdd/new")
    ca_choice = Select(browser.find_element(By.NAME, "cadre"))
    assert "Inventaire des amphibiens de la Bresse" in [o.text for o in ca_choice.options]
    ca_choice.select_by_visible_text("Inventaire des amphibiens de la Bresse")
    _fill(browser, "title", "Mares de la Bresse : relevés 2024")
    _fill(browser, "libelle_court", "MARES_BRESSE_2024")
    _fill(browser, "notes", "Relevés d'amphibiens en mares.")
    _select(browser, "type_donnees", "1")
    _select(browser, "objectif_jdd", "1.2")
    _select(browser, "territoires", "METROP")
    for name, value in (("borne_ouest", "5.0"), ("borne_est", "5.6"), ("borne_sud", "46.5"), ("borne_nord", "46.9")):
        _fill(browser, name, value)
    _fill(browser, "contacts_jdd-0-organisme", "CEN Bourgogne-Franche-Comté")
    _select(browser, "contacts_jdd-0-role", "1")
    _shot(browser, tmp_path, "jdd-form")
    _submit(browser)
    WebDriverWait(browser, 30).until(
        lambda b: "/jdd/mares-de-la-bresse-releves-2024" in b.current_url and "/new" not in b.current_url
    )
    assert "Inventaire des amphibiens de la Bresse" in browser.page_source  # link to its CA

    # still private: the public does not see it
    assert (
        requests.get(
            f"{test_ckan_url}/api/3/action/package_show", params={"id": "mares-de-la-bresse-releves-2024"}
        ).status_code
        == 404
    )

    # --- publication: visibility « Public » in the edit form ---
    browser.get(f"{test_ckan_url}/jdd/edit/mares-de-la-bresse-releves-2024")
    Select(browser.find_element(By.NAME, "private")).select_by_value("False")
    _submit(browser)
    WebDriverWait(browser, 30).until(lambda b: "/edit/" not in b.current_url)
    _shot(browser, tmp_path, "after-publish")
    public = requests.get(
        f"{test_ckan_url}/api/3/action/package_show", params={"id": "mares-de-la-bresse-releves-2024"}
    )
    assert public.status_code == 200
    assert public.json()["result"]["cadre"]
    _shot(browser, tmp_path, "jdd-page")
