"""The producer's guided path in a real browser (headless Chromium): log in → the dashboard → a new CA →
a new JDD from the CA page (CA pre-selected) → « Déposer des données » with a file holding an error →
live progress → report → corrected file → attestation → « Publier ». Each step asserts what the person
sees; screenshots in var/screenshots/producer-*.png. Then what the others see: no raw file link for a
visitor, an account request on /user/register, /dataset/new not offered.
"""

from __future__ import annotations

import io
import pathlib
import re

import ckan.model as model
import pytest
import requests
from ckan.tests import factories, helpers
from selenium.webdriver.common.by import By

from ckanext.sinp.logic import queries
from tests.integration.conftest import body_text, patient, wait_until
from tests.integration.test_occurrence_deposits import deposit_env, rows  # noqa: F401  (fixture)

PASSWORD = "Mot-de-passe-1234"
SHOTS = pathlib.Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def producer(clean_db, clean_index, jobs_worker):
    user = factories.User(password=PASSWORD, fullname="Claire Martin")
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="CEN Bourgogne-Franche-Comté", name="cen-bfc"
    )
    return user, org


def _shot(browser, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"producer-{name}.png"))


def _mobile_shot(browser, name):
    """The page at 390 px wide: nothing wider than the screen."""
    browser.set_window_size(390, 1600)
    try:
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
        _shot(browser, name)
    finally:
        browser.set_window_size(1280, 2000)


def _text(browser) -> str:
    return body_text(browser)


def _click(browser, element):
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    browser.execute_script("arguments[0].click();", element)


def _link(browser, text):
    return browser.find_element(By.XPATH, f"//a[normalize-space(.)={_xpath_literal(text)}]")


def _xpath_literal(text):
    return f'"{text}"' if '"' not in text else "concat('" + text.replace("'", "',\"'\",'") + "')"


def _fill(browser, name, value):
    element = browser.find_element(By.NAME, name)
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));", element, value
    )


def _choose(browser, name, value):
    """Selects an option by value, whatever widget (select2, a picker) dresses the <select>."""
    browser.execute_script(
        "var s = document.getElementsByName(arguments[0])[0];"
        "for (var o of s.options) { if (o.value === arguments[1]) { o.selected = true; } }"
        "s.dispatchEvent(new Event('change', {bubbles: true}));"
        "if (window.jQuery) { jQuery(s).trigger('change'); }",
        name,
        value,
    )


def _save(browser):
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=save]"))


def _wait_text(browser, needle, timeout=60):
    wait_until(browser, lambda b: needle in b.find_element(By.TAG_NAME, "body").text, timeout)


def _login(browser, base, user):
    browser.get(f"{base}/user/login")
    browser.find_element(By.ID, "field-login").send_keys(user["name"])
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD)
    _click(
        browser,
        browser.find_element(By.CSS_SELECTOR, "form.form-horizontal button[type=submit], form button.btn-primary"),
    )
    patient(browser, 20).until(lambda b: "/user/login" not in b.current_url)


def test_producer_journey_from_login_to_publication(browser, test_ckan_url, producer, tmp_path):
    user, org = producer
    base = test_ckan_url

    # --- log in: the dashboard says where to start ---
    _login(browser, base, user)
    browser.get(f"{base}/dashboard/datasets")
    _wait_text(browser, "Mes cadres, mes jeux de données, mes dépôts")
    assert "Vous n'avez encore créé aucune fiche." in _text(browser)
    _shot(browser, "01-tableau-de-bord-vide")

    # --- a new cadre d'acquisition ---
    _click(browser, browser.find_element(By.CSS_SELECTOR, "a[href$='/ca/new']"))
    patient(browser, 20).until(lambda b: b.current_url.endswith("/ca/new"))
    _fill(browser, "title", "Inventaire des amphibiens de la Bresse")
    _fill(browser, "name", "inventaire-amphibiens-bresse")
    _fill(browser, "notes", "Prospection des mares de la Bresse louhannaise.")
    _choose(browser, "objectifs", "8")
    _choose(browser, "niveau_territorial", "6")
    _choose(browser, "territoires", "METROP")
    _fill(browser, "date_lancement", "2024-03-01")
    _fill(browser, "acteurs-0-organisme", "CEN Bourgogne-Franche-Comté")
    _fill(browser, "acteurs-0-mail", "amphibiens@cen.invalid")
    _choose(browser, "acteurs-0-role", "1")
    _save(browser)
    patient(browser, 30).until(lambda b: b.current_url.endswith("/ca/inventaire-amphibiens-bresse"))
    page = _text(browser)
    assert "Inventaire des amphibiens de la Bresse" in page
    assert "Nouveau jeu de données dans ce cadre" in page and "Publier" in page
    _shot(browser, "02-cadre")

    # --- a new JDD from the CA page: the CA is pre-selected ---
    ca_uuid = helpers.call_action("package_show", id="inventaire-amphibiens-bresse")["sinp_uuid"]
    _click(browser, _link(browser, "Nouveau jeu de données dans ce cadre"))
    patient(browser, 20).until(lambda b: "/jdd/new" in b.current_url)
    assert f"cadre={ca_uuid}" in browser.current_url
    assert browser.execute_script("return document.getElementsByName('cadre')[0].value") == ca_uuid
    _fill(browser, "title", "Mares de la Bresse : relevés 2024")
    _fill(browser, "name", "mares-bresse-2024")
    _fill(browser, "libelle_court", "MARES_BRESSE_2024")
    _fill(browser, "notes", "Relevés d'amphibiens en mares.")
    _choose(browser, "type_donnees", "1")
    _choose(browser, "objectif_jdd", "1.2")
    _choose(browser, "territoires", "METROP")
    for name, value in (("borne_ouest", "5.0"), ("borne_est", "5.6"), ("borne_sud", "46.5"), ("borne_nord", "47.5")):
        _fill(browser, name, value)
    _fill(browser, "contacts_jdd-0-organisme", "CEN Bourgogne-Franche-Comté")
    _choose(browser, "contacts_jdd-0-role", "1")
    _save(browser)
    patient(browser, 30).until(lambda b: b.current_url.endswith("/jdd/mares-bresse-2024"))
    page = _text(browser)
    assert "Déposer des données" in page and "Publier" in page
    assert "Inventaire des amphibiens de la Bresse" in page  # its CA
    _shot(browser, "03-jeu-de-donnees")

    # --- « Déposer des données »: the template and the column guide at hand ---
    _click(browser, _link(browser, "Déposer des données"))
    patient(browser, 20).until(lambda b: b.current_url.endswith("/jdd/mares-bresse-2024/deposer"))
    page = _text(browser)
    assert "Déposer des données d'occurrences" in page
    assert "modèle de fichier (CSV)" in page and "guide des colonnes" in page
    assert "Rapport de contrôle" in page  # what happens next
    _shot(browser, "04-depot")
    _mobile_shot(browser, "04-depot-mobile")

    # an empty submission: a French message, nothing deposited
    browser.execute_script("document.getElementById('field-deposit-file').removeAttribute('required')")
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=deposer]"))
    _wait_text(browser, "Choisissez le fichier CSV de vos observations")

    lines = rows(4).splitlines()
    lines[2] += ";en trop"  # the 2nd observation has one cell too many
    with_error = tmp_path / "releves-mares.csv"
    with_error.write_text("\n".join(lines) + "\n", encoding="utf-8")
    browser.find_element(By.ID, "field-deposit-name").send_keys("Relevés des mares")
    browser.find_element(By.ID, "field-deposit-file").send_keys(str(with_error))
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=deposer]"))

    # --- progress, then the report ---
    patient(browser, 30).until(lambda b: re.search(r"/jdd/mares-bresse-2024/depot/[0-9a-f-]+$", b.current_url))
    report_url = browser.current_url
    assert "Rapport de contrôle du dépôt" in _text(browser)
    _shot(browser, "05-progression")
    _wait_text(browser, "Lignes refusées", timeout=120)
    page = _text(browser)
    assert re.search(r"Lignes reçues\s+4", page) and re.search(r"Lignes refusées\s+1", page), page
    _shot(browser, "06-rapport-avec-erreur")

    # the dashboard lists the deposit with its state and report
    browser.get(f"{base}/dashboard/datasets")
    page = _text(browser)
    assert "Mes derniers dépôts" in page and "Relevés des mares" in page and "Contrôlé" in page
    assert browser.find_element(By.CSS_SELECTOR, "#mes-depots a[href$='" + report_url[len(base) :] + "']")
    _shot(browser, "07-tableau-de-bord")
    _mobile_shot(browser, "07-tableau-de-bord-mobile")

    # --- the corrected file replaces the deposit ---
    browser.get(f"{base}/jdd/mares-bresse-2024/deposer")
    _click(browser, _link(browser, "Déposer un fichier corrigé"))
    _wait_text(browser, "Le fichier envoyé remplacera « Relevés des mares »")
    corrected = tmp_path / "releves-mares-corrige.csv"
    corrected.write_text(rows(4), encoding="utf-8")
    browser.find_element(By.ID, "field-deposit-file").send_keys(str(corrected))
    _shot(browser, "08-fichier-corrige")
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=deposer]"))
    patient(browser, 30).until(lambda b: b.current_url == report_url)
    patient(browser, 120).until(lambda b: re.search(r"Lignes refusées\s+0", _text(b)))
    page = _text(browser)
    assert re.search(r"Lignes acceptées et intégrées\s+4", page)

    # --- the attestation ---
    _click(browser, _link(browser, "Attestation (page)"))
    _wait_text(browser, "attestation n°")
    assert "Mares de la Bresse : relevés 2024" in _text(browser)
    _shot(browser, "09-attestation")

    # --- « Publier »: what it means, then the confirmation ---
    browser.get(f"{base}/jdd/mares-bresse-2024")
    _click(browser, _link(browser, "Publier"))
    patient(browser, 20).until(lambda b: b.current_url.endswith("/jdd/mares-bresse-2024/publication"))
    page = _text(browser)
    assert "IDéO BFC" in page and "floutées" in page and "Non publié" in page
    assert "« Inventaire des amphibiens de la Bresse », n'est pas publié" in page  # its CA, still private
    _shot(browser, "10-publier")
    assert requests.get(f"{base}/api/3/action/package_show", params={"id": "mares-bresse-2024"}).status_code == 404
    forged = requests.post(  # the same POST without the page's CSRF token: refused, nothing published
        browser.current_url,
        data={"decision": "publier"},
        cookies={c["name"]: c["value"] for c in browser.get_cookies()},
        allow_redirects=False,
    )
    assert forged.status_code == 400
    assert requests.get(f"{base}/api/3/action/package_show", params={"id": "mares-bresse-2024"}).status_code == 404
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=publier]"))
    patient(browser, 20).until(lambda b: b.current_url.endswith("/jdd/mares-bresse-2024"))
    page = _text(browser)
    assert "La fiche est publiée" in page and "Retirer la publication" in page
    _shot(browser, "11-publie")
    public = requests.get(f"{base}/api/3/action/package_show", params={"id": "mares-bresse-2024"})
    assert public.status_code == 200 and public.json()["result"]["private"] is False

    # --- « Retirer la publication » is symmetric ---
    _click(browser, _link(browser, "Retirer la publication"))
    patient(browser, 20).until(lambda b: b.current_url.endswith("/publication"))
    assert "IDéO BFC la supprime à son prochain moissonnage" in _text(browser)
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=retirer]"))
    _wait_text(browser, "La publication est retirée")
    assert requests.get(f"{base}/api/3/action/package_show", params={"id": "mares-bresse-2024"}).status_code == 404
    _click(browser, _link(browser, "Publier"))
    _click(browser, browser.find_element(By.CSS_SELECTOR, "button[name=decision][value=publier]"))
    _wait_text(browser, "La fiche est publiée")

    # --- a visitor: the JDD page has no link to the raw file (it would be a 403) ---
    browser.delete_all_cookies()
    browser.get(f"{base}/jdd/mares-bresse-2024")
    page = _text(browser)
    assert "Mares de la Bresse : relevés 2024" in page
    assert "Fichier déposé par le producteur, réservé à celui-ci" in page
    assert not browser.find_elements(By.CSS_SELECTOR, ".resource-item a, .resource-item .dropdown")
    items = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".resource-item"))
    assert "Relevés des mares" in items and "Télécharger" not in items and "Explorer" not in items
    actions = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".content_action"))
    for label in ("Déposer des données", "Publier", "Retirer la publication", "Modifier"):
        assert label not in actions, label
    browser.execute_script("document.querySelector('.resource-item').scrollIntoView({block: 'center'})")
    _shot(browser, "12-visiteur")


def test_account_request_instead_of_a_403_and_no_generic_dataset_form(browser, test_ckan_url):
    base = test_ckan_url
    response = requests.get(f"{base}/user/register")
    assert response.status_code == 200
    browser.get(f"{base}/user/register")
    page = _text(browser)
    assert "Demander un compte" in page and "À quoi sert un compte ?" in page
    mailto = browser.find_element(By.CSS_SELECTOR, "a.btn[href^='mailto:']").get_attribute("href")
    assert "subject=Demande%20de%20compte" in mailto
    _shot(browser, "13-demande-de-compte")
    _mobile_shot(browser, "13-demande-de-compte-mobile")

    generic = requests.get(f"{base}/dataset/new", allow_redirects=False)
    assert generic.status_code == 302 and generic.headers["Location"].endswith("/jdd/new")


# --- the doors of the producer's pages, in-process: bad input is a French 4xx and changes nothing ---

TOKEN = re.compile(r'name="_csrf_token" (?:value|content)="([^"]+)"')


def _logged_in(app, user):
    client = app.test_client()
    form = client.get("/user/login").get_data(as_text=True)
    client.post(
        "/user/login", data={"login": user["name"], "password": PASSWORD, "_csrf_token": TOKEN.search(form).group(1)}
    )
    return client


def _csrf(client, url):
    return TOKEN.search(client.get(url).get_data(as_text=True)).group(1)


@pytest.fixture
def records(request):
    """The deposit fixture's producer (given a password, to log in through the form), its CA and JDD,
    and a producer of another structure."""
    app, api, owner, org, jdd = request.getfixturevalue("deposit_env")
    model.User.get(owner["name"]).password = PASSWORD
    model.Session.commit()
    other = factories.User(password=PASSWORD)
    factories.Organization(users=[{"name": other["name"], "capacity": "editor"}], title="Observatoire de la faune")
    (ca,) = queries.packages_by_extra(model, "sinp_uuid", jdd["cadre"], "ca")
    return owner, other, helpers.call_action("package_show", id=ca.id), jdd


def test_absent_and_forbidden_look_alike_on_the_producer_pages(app, records):
    owner, other, ca, jdd = records
    for client in (app.test_client(), _logged_in(app, other)):
        for url, message in (
            (f"/jdd/{jdd['name']}/deposer", "Jeu de données introuvable."),
            (f"/jdd/{jdd['name']}/publication", "Jeu de données introuvable."),
            (f"/ca/{ca['name']}/publication", "Cadre d&#39;acquisition introuvable."),
            ("/jdd/inconnu/deposer", "Jeu de données introuvable."),
        ):
            response = client.get(url)
            assert response.status_code == 404 and message in response.get_data(as_text=True), url
        page = client.get(f"/ca/{ca['name']}")
        assert "Nouveau jeu de données dans ce cadre" not in page.get_data(as_text=True)
    mine = _logged_in(app, owner)
    assert mine.get(f"/ca/{jdd['name']}/publication").status_code == 404  # a JDD is not a CA
    assert mine.get(f"/jdd/{jdd['name']}/deposer?remplace=inconnu").status_code == 404
    page = mine.get(f"/ca/{ca['name']}").get_data(as_text=True)
    assert f"/jdd/new?cadre={ca['sinp_uuid']}" in page


def test_bad_publication_and_deposit_requests_change_nothing(app, records):
    owner, other, ca, jdd = records
    client = _logged_in(app, owner)
    url = f"/jdd/{jdd['name']}/publication"
    response = client.post(url, data={"decision": "oui", "_csrf_token": _csrf(client, url)})
    assert response.status_code == 400 and "rien n&#39;a été modifié" in response.get_data(as_text=True)
    assert helpers.call_action("package_show", id=jdd["id"])["private"] is True

    deposit = f"/jdd/{jdd['name']}/deposer"
    response = client.post(deposit, data={"_csrf_token": _csrf(client, deposit)})
    assert response.status_code == 400 and "Choisissez le fichier CSV" in response.get_data(as_text=True)
    response = client.post(
        deposit,
        data={"_csrf_token": _csrf(client, deposit), "upload": (io.BytesIO(b"<script>x</script>"), "notes<b>.txt")},
        content_type="multipart/form-data",
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "n&#39;est pas un fichier CSV" in text and "notes<b>" not in text
    assert helpers.call_action("package_show", id=jdd["id"])["resources"] == []

    # CKAN's stock « new resource » form of a JDD leads to the deposit page; ?autre=1 keeps it
    response = client.get(f"/jdd/{jdd['name']}/resource/new", follow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"].endswith(deposit)
    assert client.get(f"/jdd/{jdd['name']}/resource/new?autre=1").status_code == 200


def test_the_dashboard_lists_the_records_of_ones_structures_only(app, records):
    owner, other, ca, jdd = records
    page = _logged_in(app, owner).get("/dashboard/datasets").get_data(as_text=True)
    assert "Mes cadres, mes jeux de données, mes dépôts" in page and ca["title"] in page and jdd["title"] in page
    page = _logged_in(app, other).get("/dashboard/datasets").get_data(as_text=True)
    assert ca["title"] not in page and jdd["title"] not in page
    assert "Vous n'avez encore créé aucune fiche." in page
