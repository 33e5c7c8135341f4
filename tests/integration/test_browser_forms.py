"""A producer creates a CA, a JDD under it, and publishes the JDD, in a real browser (headless Chromium):
pickers with search that show labels and names, asterisks on the obligatory fields, the méta-cadre picker
limited to what the producer may read, the extent drawn on a map, the licence of the JDD."""

from __future__ import annotations

import time

import ckan.model as model
import pytest
import requests
from ckan.tests import factories
from ckan.tests import helpers as ckan_helpers
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    TimeoutException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from ckanext.sinp.referentials import taxref_store
from tests.conftest import ROOT
from tests.integration.conftest import patient

TAXREF_EXTRACT = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"
SCREENSHOTS = ROOT / "var" / "screenshots"

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
    patient(browser, 20).until(lambda b: "/user/login" not in b.current_url)


def _fill(browser, name, value):
    element = browser.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def _submit(browser):
    button = browser.find_element(By.CSS_SELECTOR, "button[name=save]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    browser.execute_script("arguments[0].click();", button)


def _shot(browser, tmp_path, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(browser.get_window_size()["width"], min(max(height, 800), 12000))
    browser.save_screenshot(str(SCREENSHOTS / f"form-{name}.png"))
    browser.set_window_size(1280, 2000)


def _label_of(browser, name):
    """The label a person reads above a field (asterisk included)."""
    element = browser.find_element(By.NAME, name)
    field_id = element.get_attribute("id")
    return browser.find_element(By.CSS_SELECTOR, f"label[for='{field_id}']").text.strip()


def _click(browser, element) -> bool:
    """Scrolls ``element`` to the middle and clicks it; False while something else would get the click
    (the page still growing as maps and pickers are dressed): call it again."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except (ElementClickInterceptedException, ElementNotInteractableException):
        return False
    return True


def _steady(browser, element) -> bool:
    """True when ``element`` did not move for 300 ms (pickers and maps above it are dressed)."""
    before = element.rect
    time.sleep(0.3)
    return element.rect == before


def _draw_box(browser, the_map, attempts=4):
    """Draws a rectangle on the Leaflet.draw map as a person does (button, then drag) until the
    form's bounds are filled: on a page still growing, the drag may start before the draw tool is
    armed or land where the map was a moment before."""
    for _ in range(attempts):
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # an open picker closed
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", the_map)
        patient(browser, 20).until(lambda b: _steady(b, the_map))
        patient(browser, 20).until(
            lambda b: _click(b, b.find_element(By.CSS_SELECTOR, "#sinp-bbox-map .leaflet-draw-draw-rectangle"))
        )
        ActionChains(browser).move_to_element_with_offset(the_map, -80, -60).click_and_hold().move_by_offset(
            160, 120
        ).release().perform()
        try:
            patient(browser, 5).until(lambda b: b.find_element(By.NAME, "borne_nord").get_attribute("value"))
            return
        except TimeoutException:
            continue
    raise AssertionError("the rectangle drawn on the map never filled the bounds")


def _picker_state(browser, xpath):
    """What a failed pick saw, for the failure message (the fresh-clone CI keeps nothing else)."""
    try:
        containers = browser.find_elements(By.XPATH, xpath)
        active = browser.switch_to.active_element
        results = [r.text for r in browser.find_elements(By.CSS_SELECTOR, ".select2-results__option")][:5]
        console = [e["message"][:200] for e in browser.get_log("browser") if e.get("level") == "SEVERE"][:5]
        return (
            f"container={[c.get_attribute('class') for c in containers]} "
            f"focus=<{active.tag_name} class={active.get_attribute('class')!r} name={active.get_attribute('name')!r}> "
            f"open={len(browser.find_elements(By.CSS_SELECTOR, '.select2-container--open'))} "
            f"results={results} console={console}"
        )
    except Exception as exc:  # noqa: BLE001 — a diagnosis must not hide the failure it explains
        return f"(state unreadable: {exc!r})"


def _choose(browser, name, typed, expected=None):
    """Types into the select2 picker of field ``name`` and picks the first match (as a person does).

    A list of several choices (select2 « multiple ») has its search box inside the field: the person clicks
    it and types, and select2 opens on the first letters. A single choice opens on a click on the field and
    moves the focus to the search box of its drop-down."""
    xpath = f"//select[@name='{name}' or @id='{name}']/following-sibling::span[contains(@class, 'select2')]"

    def wait(what, condition):
        try:
            return patient(browser, 20).until(condition)
        except TimeoutException:
            raise AssertionError(f"picker {name!r}: {what} — {_picker_state(browser, xpath)}") from None

    container = wait("never dressed by select2", lambda b: (b.find_elements(By.XPATH, xpath) or [False])[0])
    if container.find_elements(By.CSS_SELECTOR, ".select2-selection--multiple"):
        search = container.find_element(By.CSS_SELECTOR, ".select2-search__field")
        refused = []

        def focused(b):
            b.execute_script("arguments[0].scrollIntoView({block: 'center'});", search)
            if b.switch_to.active_element == search:
                return True
            try:
                search.click()
            except (ElementClickInterceptedException, ElementNotInteractableException) as exc:
                refused.append(f"{type(exc).__name__}: {(exc.msg or '')[:300]}")
            if b.switch_to.active_element != search:
                # the click did not reach it (seen only on the fresh-clone CI): the focus given as the
                # Tab key would give it; the letters are then typed as a person types them
                b.execute_script("arguments[0].focus();", search)
            return b.switch_to.active_element == search

        def explain() -> str:
            where = browser.execute_script(
                "var r = arguments[0].getBoundingClientRect();"
                "var e = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
                "return [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height),"
                " e ? e.tagName + '.' + e.className : null, arguments[0].disabled, arguments[0].outerHTML.slice(0, 300)];",
                search,
            )
            return f"field={where} refused={refused[-1:] or None}"

        try:
            patient(browser, 20).until(focused)
        except TimeoutException:
            raise AssertionError(
                f"picker {name!r}: its search box never took the focus — {explain()} {_picker_state(browser, xpath)}"
            ) from None
    else:

        def opened(b):
            # the page may still grow (maps, other pickers being dressed): scroll and click again until it opens
            if "select2-container--open" in (container.get_attribute("class") or ""):
                return True
            b.execute_script("arguments[0].scrollIntoView({block: 'center'});", container)
            try:
                container.click()
            except (ElementClickInterceptedException, ElementNotInteractableException):
                return False
            return "select2-container--open" in (container.get_attribute("class") or "")

        def search_field(b):
            # select2 moves the focus to its search field once open, not always at once on a loaded machine:
            # type into that field, never into whatever has the focus yet (a fresh clone's first form)
            active = b.switch_to.active_element
            if "select2-search__field" in (active.get_attribute("class") or ""):
                return active
            shown = [f for f in b.find_elements(By.CSS_SELECTOR, ".select2-container--open .select2-search__field")]
            shown = [f for f in shown if f.is_displayed()]
            if not shown:
                return False
            try:
                shown[0].click()
            except (ElementClickInterceptedException, ElementNotInteractableException):
                return False
            return shown[0]

        wait("never opened", opened)
        search = wait("its search box never took the focus", search_field)
    search.send_keys(typed)
    wait(
        f"no highlighted choice showing {expected or typed!r}",
        lambda b: [
            li
            for li in b.find_elements(By.CSS_SELECTOR, ".select2-results__option--highlighted")
            if (expected or typed).casefold() in li.text.casefold()
        ],
    )
    search.send_keys(Keys.ENTER)


def _selected_labels(browser, name):
    return [o.text.strip() for o in Select(browser.find_element(By.NAME, name)).all_selected_options]


def _set(browser, name, value):
    """Sets a hidden (select2) list by value, as its picker would."""
    browser.execute_script(
        "var s = document.getElementsByName(arguments[0])[0]; s.value = arguments[1];"
        "s.dispatchEvent(new Event('change', {bubbles: true})); if (window.jQuery) { jQuery(s).trigger('change'); }",
        name,
        value,
    )


@pytest.fixture
def taxref():
    taxref_store.load_taxref(model.meta.engine, TAXREF_EXTRACT, "TAXREF v18 (extrait Bourgogne-Franche-Comté)")


def _meta_cadre(org, title, private):
    sysadmin = factories.Sysadmin()
    return ckan_helpers.call_action(
        "package_create",
        context={"user": sysadmin["name"]},
        type="ca",
        name=title.lower().replace(" ", "-").replace("é", "e"),
        title=title,
        notes="Programme régional.",
        owner_org=org["id"],
        private=private,
        objectifs=["8"],
        est_meta_cadre="true",
        niveau_territorial="5",
        territoires=["METROP"],
        date_lancement="2020-01-01",
        acteurs=[{"organisme": org["title"], "role": "1"}],
    )


def test_producer_creates_a_ca_then_a_jdd_and_publishes_it(browser, test_ckan_url, producer_account, taxref, tmp_path):
    user, org = producer_account
    other = factories.Organization(title="Observatoire de la faune", name="obs-faune")
    _meta_cadre(org, "Programme mares BFC", private=True)  # own structure, private: offered
    _meta_cadre(other, "Atlas régional des amphibiens", private=False)  # another structure, published: offered
    _meta_cadre(other, "Programme interne obs", private=True)  # another structure, private: never offered
    _login(browser, test_ckan_url, user)

    # --- the cadre d'acquisition: what the form shows before anything is typed ---
    browser.get(f"{test_ckan_url}/ca/new")
    assert "Libellé du cadre d'acquisition" in browser.page_source
    assert _label_of(browser, "title").startswith("*")
    assert _label_of(browser, "niveau_territorial").startswith("*")
    assert _label_of(browser, "acteurs-0-role").startswith("*")
    for optional in ("meta_cadre_parent", "sinp_uuid", "date_cloture", "acteurs-0-mail", "cible_ecologique"):
        assert not _label_of(browser, optional).startswith("*"), optional
    # sensible default, labels not codes; Métropole first in a list with search
    assert _selected_labels(browser, "niveau_territorial") == ["Régional terrestre, ou sous-région marine"]
    territories = Select(browser.find_element(By.NAME, "territoires"))
    assert territories.options[0].text.strip() == "Métropole"
    # dressed by the picker with search (select2), not a Ctrl-click list
    assert browser.find_elements(
        By.XPATH, "//select[@name='territoires']/following-sibling::span[contains(@class, 'select2')]"
    )
    # méta-cadre: nothing pre-selected, only what the producer may read
    meta = Select(browser.find_element(By.NAME, "meta_cadre_parent"))
    assert meta.first_selected_option.text.strip() == "— Aucun méta-cadre —"
    offered = [o.text.strip() for o in meta.options]
    assert "Programme mares BFC" in offered
    assert "Atlas régional des amphibiens — Observatoire de la faune" in offered
    assert not [o for o in offered if "Programme interne obs" in o]
    # actors: role labels, structures suggested
    roles = [o.text.strip() for o in Select(browser.find_element(By.NAME, "acteurs-0-role")).options]
    assert roles[0] == "" and "Contact principal" in roles and "1" not in roles
    suggestions = [
        o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "datalist#sinp-organismes option")
    ]
    assert "CEN Bourgogne-Franche-Comté" in suggestions and "Observatoire de la faune" in suggestions
    # the completeness box does not ask for what the platform fills
    box = browser.find_element(By.ID, "sinp-live-completeness").text
    assert "Identifiant SINP" not in box.split("À compléter")[1].split(".")[0]
    assert "Remplis par la plateforme à l'enregistrement" in box

    _fill(browser, "title", "Inventaire des amphibiens de la Bresse")
    _choose(browser, "objectifs", "Inventaire")
    _choose(browser, "territoires", "Métro", "Métropole")
    _choose(browser, "meta_cadre_parent", "Atlas")
    _choose(browser, "sinp-taxon-q-cible_ecologique", "grand murin", "Myotis myotis")
    assert (
        "Myotis myotis (Borkhausen, 1797) — 60418" in browser.find_element(By.CSS_SELECTOR, ".sinp-taxon-search").text
    )
    browser.execute_script("document.getElementsByName('date_lancement')[0].value = '2024-03-01'")
    _fill(browser, "acteurs-0-organisme", "CEN Bourgogne")
    assert browser.find_element(By.NAME, "acteurs-0-organisme").get_attribute("list") == "sinp-organismes"
    _fill(browser, "acteurs-0-organisme", "CEN Bourgogne-Franche-Comté")
    _fill(browser, "acteurs-0-mail", "amphibiens@cen.invalid")
    Select(browser.find_element(By.NAME, "acteurs-0-role")).select_by_visible_text("Contact principal")
    _shot(browser, tmp_path, "ca")

    # --- sent without its description: the form comes back with the message, names kept ---
    _submit(browser)
    patient(browser, 30).until(lambda b: "Champ obligatoire du standard SINP" in b.page_source)
    assert "Myotis myotis (Borkhausen, 1797) — 60418" in browser.page_source
    assert _selected_labels(browser, "territoires") == ["Métropole"]
    assert _selected_labels(browser, "meta_cadre_parent") == [
        "Atlas régional des amphibiens — Observatoire de la faune"
    ]
    _shot(browser, tmp_path, "ca-error")
    _fill(browser, "notes", "Prospection des mares de la Bresse louhannaise.")
    _submit(browser)
    patient(browser, 30).until(
        lambda b: "/ca/inventaire-des-amphibiens-de-la-bresse" in b.current_url and "/new" not in b.current_url
    )
    page = browser.page_source
    assert "Inventaire des amphibiens de la Bresse" in page
    assert "Complétude de la fiche" in page
    stored = ckan_helpers.call_action(
        "package_show", context={"user": user["name"]}, id="inventaire-des-amphibiens-de-la-bresse"
    )
    assert stored["cible_ecologique"] == ["60418"] and stored["territoires"] == ["METROP"]
    assert stored["niveau_territorial"] == "5" and stored["acteurs"][0]["role"] == "1"

    # the edit form names the taxon again
    browser.get(f"{test_ckan_url}/ca/edit/inventaire-des-amphibiens-de-la-bresse")
    # the picker is shown (and its text readable) once its script has run
    patient(browser, 30).until(
        lambda b: (
            "Myotis myotis (Borkhausen, 1797) — 60418" in b.find_element(By.CSS_SELECTOR, ".sinp-taxon-search").text
        )
    )

    # --- a form with an error comes back with the French message, nothing stored ---
    browser.get(f"{test_ckan_url}/jdd/new")
    _fill(browser, "title", "Jeu sans contact")
    _submit(browser)
    patient(browser, 30).until(lambda b: "Champ obligatoire du standard SINP" in b.page_source)
    assert requests.get(
        f"{test_ckan_url}/api/3/action/package_show", params={"id": "jeu-sans-contact"}
    ).status_code in (403, 404)

    # --- the jeu de données under it ---
    browser.get(f"{test_ckan_url}/jdd/new")
    ca_choice = Select(browser.find_element(By.NAME, "cadre"))
    assert ca_choice.first_selected_option.get_attribute("value") == ""  # nothing pre-selected
    assert "Inventaire des amphibiens de la Bresse" in [o.text for o in ca_choice.options]
    assert _selected_labels(browser, "license_id") == ["Licence Ouverte / Open Licence version 2.0"]
    assert _selected_labels(browser, "domaine_terrestre") == ["Oui"]
    assert _selected_labels(browser, "domaine_marin") == ["Non"]
    for name in ("cadre", "type_donnees", "domaine_terrestre", "territoires", "contacts_jdd-0-role"):
        assert _label_of(browser, name).startswith("*"), name
    for name in ("license_id", "borne_ouest", "methodes_recueil"):
        assert not _label_of(browser, name).startswith("*"), name
    _choose(browser, "cadre", "amphibiens", "Inventaire des amphibiens de la Bresse")
    _fill(browser, "title", "Mares de la Bresse : relevés 2024")
    _fill(browser, "libelle_court", "MARES_BRESSE_2024")
    _fill(browser, "notes", "Relevés d'amphibiens en mares.")
    _set(browser, "type_donnees", "1")
    _set(browser, "objectif_jdd", "1.2")
    _choose(browser, "territoires", "Métro", "Métropole")
    # the extent drawn on the map fills the four bounds
    the_map = browser.find_element(By.ID, "sinp-bbox-map")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", the_map)
    assert the_map.is_displayed()
    _draw_box(browser, the_map)
    bounds = {
        n: float(browser.find_element(By.NAME, n).get_attribute("value"))
        for n in ("borne_ouest", "borne_est", "borne_sud", "borne_nord")
    }
    assert 3 < bounds["borne_ouest"] < bounds["borne_est"] < 7 and 45 < bounds["borne_sud"] < bounds["borne_nord"] < 49
    _fill(browser, "contacts_jdd-0-organisme", "CEN Bourgogne-Franche-Comté")
    Select(browser.find_element(By.NAME, "contacts_jdd-0-role")).select_by_visible_text("Contact principal")
    _shot(browser, tmp_path, "jdd")
    _submit(browser)
    patient(browser, 30).until(
        lambda b: "/jdd/mares-de-la-bresse-releves-2024" in b.current_url and "/new" not in b.current_url
    )
    assert "Inventaire des amphibiens de la Bresse" in browser.page_source  # link to its CA
    stored = ckan_helpers.call_action(
        "package_show", context={"user": user["name"]}, id="mares-de-la-bresse-releves-2024"
    )
    assert stored["license_id"] == "etalab-2.0"
    assert stored["domaine_marin"] == "false" and stored["domaine_terrestre"] == "true"
    assert abs(float(stored["borne_ouest"]) - bounds["borne_ouest"]) < 1e-5

    # still private: the public does not see it
    assert (
        requests.get(
            f"{test_ckan_url}/api/3/action/package_show", params={"id": "mares-de-la-bresse-releves-2024"}
        ).status_code
        == 404
    )

    # --- publication: visibility « Public » in the edit form ---
    browser.get(f"{test_ckan_url}/jdd/edit/mares-de-la-bresse-releves-2024")
    assert browser.find_element(By.NAME, "borne_ouest").get_attribute("value")  # the extent drawn again
    assert browser.find_elements(By.CSS_SELECTOR, "#sinp-bbox-map path.leaflet-interactive")
    Select(browser.find_element(By.NAME, "private")).select_by_value("False")
    _submit(browser)
    patient(browser, 30).until(lambda b: "/edit/" not in b.current_url)
    public = requests.get(
        f"{test_ckan_url}/api/3/action/package_show", params={"id": "mares-de-la-bresse-releves-2024"}
    )
    assert public.status_code == 200
    assert public.json()["result"]["cadre"]


def test_the_forms_are_usable_at_390_px(browser, test_ckan_url, producer_account):
    user, _ = producer_account
    _login(browser, test_ckan_url, user)
    browser.set_window_size(390, 900)
    for kind in ("ca", "jdd"):
        browser.get(f"{test_ckan_url}/{kind}/new")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(390, min(max(height, 900), 12000))
        browser.save_screenshot(str(SCREENSHOTS / f"form-{kind}-390.png"))
        browser.set_window_size(390, 900)
        assert overflow <= 0, f"/{kind}/new scrolls sideways by {overflow} px"
