"""The portal's entry points as people see them (#15): the home page, « À propos », the buttons that
create a CA or a JDD, the error pages — in French, with working links, and the home page's figures and
latest records never showing a private record.

In-process CKAN (CKAN's test client) on the test configuration.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import ckan.plugins.toolkit as tk
import pytest

from tests.integration.test_sinp_records import Api, _ca, _jdd

CKAN_PLACEHOLDERS = (
    "Bienvenue sur CKAN",
    "Welcome to CKAN",
    "420 x 220",
    "placeholder-420x220",
    "Ceci est un paragraphe d'introduction",
    "Ceci est une section sélectionnée",
    "ckan-logo.png",
    "Association CKAN",
    "CKAN is the world",
)


def _text(response) -> str:
    return response.get_data(as_text=True)


def _hrefs(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"#]+)"', page)]


def _path(href: str) -> str:
    """The path (and query) of a link to this site, whether written relative or with the site URL."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def records(app, clean_db, clean_index, jobs_worker):
    """A producer with a published CA, a published JDD and a private JDD."""
    from ckan.tests import factories

    user = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="Conservatoire botanique (essai)"
    )
    api = Api(app, user["token"])
    ca = _ca(api, org, private=False, title="Atlas des amphibiens de la Bresse")
    public_jdd = _jdd(api, org, ca, private=False, title="Mares de la Bresse : relevés publiés")
    private_jdd = _jdd(api, org, ca, title="Brouillon confidentiel des mares")
    return {"app": app, "api": api, "token": user["token"], "ca": ca, "public": public_jdd, "private": private_jdd}


def test_the_home_page_says_what_the_platform_is_and_links_its_entry_points(app, records):
    response = app.get("/")
    page = _text(response)
    assert response.status_code == 200
    assert f'<h1 class="sinp-home-title">{html.escape(tk.config["ckan.site_title"], quote=False)}</h1>' in page
    assert "Système d'information de l'inventaire du patrimoine naturel" in page or "SINP" in page
    for placeholder in CKAN_PLACEHOLDERS:
        assert placeholder not in page, placeholder

    hrefs = _hrefs(page)
    paths = {_path(h) for h in hrefs if not urlsplit(h).netloc or h.startswith(tk.config["ckan.site_url"])}
    wanted = {
        "/dataset/",
        "/ca/",
        "/jdd/",
        "/territoire",
        "/depot/colonnes",
        "/depot/modele.csv",
        "/catalog.ttl",
        "/about",
    }
    assert wanted <= paths, wanted - paths
    for label in (
        "Rechercher des données",
        "Cadres d'acquisition",
        "Jeux de données",
        "Territoire",
        "Déposer des données",
        "Moissonner le catalogue",
    ):
        assert label in html.unescape(page), label
    for path in sorted(wanted | {"/api/3"}):
        assert app.get(path).status_code == 200, path

    # the CSW endpoint is the configured one (a harvester's GetCapabilities request), not a hard-coded host
    csw = tk.config["ckanext.sinp.csw.url"]
    assert f"{csw}?service=CSW&version=2.0.2&request=GetCapabilities" in hrefs

    # the search box searches the catalogue
    assert 'action="/dataset/"' in page and 'name="q"' in page


def test_the_home_page_figures_and_latest_records_are_the_published_ones_for_everyone(app, records):
    anonymous = _text(app.get("/"))
    producer = _text(app.get("/", headers={"Authorization": records["token"]}))
    for page in (anonymous, producer):
        text = html.unescape(page)
        assert records["public"]["title"] in text
        assert records["ca"]["title"] in text
        assert records["private"]["title"] not in text  # even for its producer: the home page is public
        assert records["private"]["name"] not in text
        assert re.search(r"<strong>1</strong>\s*cadre d'acquisition publié", text)
        assert re.search(r"<strong>1</strong>\s*jeu de données publié", text)  # the private JDD is not counted
        assert re.search(r"<strong>1</strong>\s*structure productrice", text)
    # the producer is offered the SINP forms, the visitor the login
    assert 'href="/jdd/new"' in producer and 'href="/ca/new"' in producer
    assert 'href="/jdd/new"' not in anonymous and "Se connecter" in anonymous


def test_about_is_the_platform_in_french(app):
    response = app.get("/about")
    page = html.unescape(_text(response))
    assert response.status_code == 200
    assert "À propos de la plateforme" in page
    for words in (
        "convention d'Aarhus",
        "INSPIRE",
        "code de l'environnement",
        "Occurrences de taxons",
        "standard de métadonnées du SINP",
        "Les producteurs",
        "Les chefs de file",
        "La plateforme régionale",
        "Contact",
    ):
        assert words in page, words
    for placeholder in CKAN_PLACEHOLDERS:
        assert placeholder not in page, placeholder


@pytest.mark.parametrize(
    ("search", "label", "new", "count"),
    [
        ("/ca/", "Nouveau cadre d'acquisition", "/ca/new", "1 cadre d'acquisition trouvé"),
        ("/jdd/", "Nouveau jeu de données", "/jdd/new", "2 jeux de données trouvés"),
    ],
)
def test_the_search_pages_offer_the_sinp_forms_in_french(app, records, search, label, new, count):
    page = html.unescape(_text(app.get(search, headers={"Authorization": records["token"]})))
    assert re.search(rf'<a class="btn btn-primary" href="{new}">.*?{label}</a>', page, re.S), label
    assert count in page  # the producer sees its private JDD too
    for english in ("Add Ca", "Add Jdd", "Search Cas", "Search Jdds", "cas found", "jdds found", ">Cas<", ">Jdds<"):
        assert english not in page, english
    # the visitor is not offered a button that leads to a 403
    assert f'href="{new}"' not in _text(app.get(search))


def test_the_dashboard_offers_the_sinp_forms_not_the_generic_one(app, records):
    page = html.unescape(_text(app.get("/dashboard/datasets", headers={"Authorization": records["token"]})))
    assert 'href="/jdd/new"' in page and "Nouveau jeu de données" in page
    assert 'href="/ca/new"' in page and "Nouveau cadre d'acquisition" in page
    assert 'href="/dataset/new"' not in page
    assert "Add Dataset" not in page


def test_an_anonymous_403_and_a_404_are_in_french(app, records):
    response = app.get("/ca/new")
    page = html.unescape(_text(response))
    assert response.status_code == 403
    assert "403 Accès refusé" in page
    assert "Se connecter" in page and 'href="/user/login"' in page
    assert "You might need to login" not in page and "Click here to login" not in page

    response = app.get(f"/jdd/{records['private']['name']}")  # private: unknown to the public
    page = html.unescape(_text(response))
    assert response.status_code == 404
    assert "404 Page introuvable" in page and "Fiche introuvable" in page
    assert "Dataset not found" not in page
    assert records["private"]["title"] not in page


def test_record_pages_name_their_type_in_french(app, records):
    for record, kind in ((records["ca"], "Cadre d'acquisition"), (records["public"], "Jeu de données")):
        page = html.unescape(_text(app.get(f"/{record['type']}/{record['name']}")))
        title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
        assert f" - {kind} - " in title, title
        assert " - Jdd - " not in title and " - Ca - " not in title
        assert ">Jdds<" not in page and ">Cas<" not in page  # breadcrumb


PUBLIC_PAGES = ("/", "/dataset/", "/ca/", "/jdd/", "/territoire", "/depot/colonnes", "/about", "/user/login")


def test_the_public_pages_do_not_scroll_sideways_on_a_phone(records, browser, test_ckan_url):
    """At 390 px (a current phone), no public page is wider than the screen."""
    pages = [*PUBLIC_PAGES, f"/jdd/{records['public']['name']}", f"/ca/{records['ca']['name']}"]
    browser.set_window_size(390, 900)
    wider = {}
    for path in pages:
        browser.get(test_ckan_url + path)
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            culprits = browser.execute_script(
                """return [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                    .slice(0, 3).map(e => e.tagName + '.' + e.className);"""
            )
            wider[path] = (overflow, culprits)
    assert wider == {}
