"""The ORB indicators' pages (#17): /indicateurs lists them by theme in French with a trend and a
figure, /indicateurs/<code> shows the chart (SVG written on the server), the method, the caveats,
the editions and filters with French labels and a table whose figures are the API's; the CSV has
its metadata header, the BOM and « ; »; the JSON is the API's; the embed page may be framed by any
site (and only it); an unknown indicator, edition or filter is a French 404/400, never a 500; the
page reads on a phone without overflow.

Data: the generated set of ``indicator_data.py`` (several years, départements, groups, sensitive and
invasive taxa) integrated by the platform's own ``store.integrate`` into public JDD, then the live
edition and the frozen 2020 edition computed by the CLI's function (``compute_edition``).
Real CKAN (in-process and a gunicorn for the browser), PostgreSQL/PostGIS; headless Chromium.
Screenshots: var/screenshots/indicateurs-*.png.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import ckan.model as model
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from ckan.tests import factories, helpers
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ckanext.sinp.domain import charts
from ckanext.sinp.logic import indicator_actions
from ckanext.sinp.occurrences import indicators_store, store
from tests.conftest import ROOT
from tests.integration import indicator_data
from tests.integration.conftest import _wait_for_background_jobs, patient

SCREENSHOTS = ROOT / "var" / "screenshots"


def _package(org_id: str, kind: str, public: bool) -> str:
    pkg = model.Package(
        name=f"jdd-ind-{kind}-{uuid.uuid4().hex[:6]}",
        title=f"Observations {kind}",
        type="jdd",
        state="active",
        private=not public,
        owner_org=org_id,
    )
    model.Session.add(pkg)
    model.Session.commit()
    return pkg.id


@pytest.fixture(scope="module")
def indicator_set(tmp_path_factory):
    """The generated observations integrated into three public JDD and a private one; the live
    edition and the frozen 2020 edition computed. Once for the module (the pages only read)."""
    tmp_path = tmp_path_factory.mktemp("indicators")
    _wait_for_background_jobs()
    model.repo.tables_created_and_initialised = True
    helpers.reset_db()
    engine = model.meta.engine
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_occurrence, sinp_qc_error, sinp_deposit, sinp_validation"))
    indicators_store.ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM sinp_indicator_value"))
        conn.execute(sa.text("DELETE FROM sinp_indicator_edition"))
    names = indicator_data.taxref()
    rows = indicator_data.generate()
    orgs = [factories.Organization(title=title)["id"] for title in ("LPO Bourgogne-Franche-Comté", "CEN BFC")]
    for kind, producer, public in indicator_data.JDDS:
        package_id = _package(orgs[producer], kind, public)
        resource_id = f"res-{uuid.uuid4()}"
        with engine.begin() as conn:
            store.queue_deposit(conn, resource_id, package_id, owner_org=orgs[producer])
        accepted, errors = tmp_path / f"{kind}.csv", tmp_path / f"{kind}-errors.csv"
        mine = [o for o in rows if o.jdd == kind]
        indicator_data.write_csv(accepted, mine, resource_id, package_id, orgs[producer], names)
        errors.write_text("resource_id,seq,row,column,code,category,blocking,message,value\n", encoding="utf-8")
        assert store.integrate(engine, resource_id, accepted, errors, {"status": "done"}) == len(mine)
    indicator_actions.compute_edition("courante")
    indicator_actions.compute_edition("2020")
    model.Session.remove()
    yield
    # the JDD above are bare package rows (no SINP fields): leave no such record to later tests
    model.Session.remove()
    helpers.reset_db()
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE sinp_occurrence, sinp_qc_error, sinp_deposit, sinp_validation"))
        conn.execute(sa.text("DELETE FROM sinp_indicator_value"))
        conn.execute(sa.text("DELETE FROM sinp_indicator_edition"))


@pytest.fixture
def indicators(indicator_set, app):
    return app


def _html(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _text(element) -> str:
    return re.sub(r"[ \t\r\n]+", " ", element.get_text(" ")).strip()  # keeps the narrow no-break spaces


def _api(app, code, **params) -> dict:
    response = app.get("/api/3/action/sinp_indicator_show", query_string={"code": code, **params})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["result"]


def test_the_list_shows_every_indicator_by_theme_in_french_with_a_trend_and_a_figure(indicators):
    app = indicators
    page = app.get("/indicateurs")
    assert page.status_code == 200
    doc = _html(page)
    themes = [_text(h) for h in doc.select(".sinp-indicator-theme h2")]
    assert themes[:2] == ["État des connaissances", "Qualité des données"] or len(themes) == 4, themes
    listed = app.get("/api/3/action/sinp_indicator_list").json["result"]
    titles = [_text(a) for a in doc.select(".sinp-indicator-card h3 a")]
    assert titles == [i["titre"] for i in listed]
    card = doc.select(".sinp-indicator-card")[0]
    assert card.select("svg.sinp-sparkline title")
    observations = _api(app, "observations")
    whole = next(r for r in observations["series"] if r["annee"] is None and r["cle"] is None)
    assert _text(card.select(".sinp-indicator-value")[0]) == f"{charts.fr_number(whole['valeur'])} observations"
    # the main menu links to the page
    assert doc.select("header a[href='/indicateurs']")


def test_an_indicator_page_shows_the_api_figures_its_method_and_french_filters(indicators):
    app = indicators
    api = _api(app, "observations", departement="21")
    page = app.get("/indicateurs/observations?departement=21")
    assert page.status_code == 200
    doc = _html(page)
    assert _text(doc.select("h1")[0]) == api["titre"]
    body = _text(doc)
    assert api["question"] in body and api["methode"] in body and all(p in body for p in api["precautions"])
    # the chart: an SVG with an accessible name; the same figures in the table
    svg = doc.select("figure.sinp-indicator-chart svg")[0]
    assert svg.get("role") == "img" and _text(svg.select("title")[0]) == api["titre"]
    table = {
        _text(tr.select("td")[0]): _text(tr.select("td")[1]) for tr in doc.select("table.sinp-indicator-table tbody tr")
    }
    assert len(table) == len(api["series"]) > 5
    for row in api["series"]:
        year = "Toute la période" if row["annee"] is None else str(row["annee"])
        assert table[year] == (charts.SECRET_LABEL if row["secret"] else charts.fr_number(row["valeur"]))
    # filters: départements by name, groups as TAXREF spells them, editions in words
    options = {_text(o) for o in doc.select("select#departement option")}
    assert "Côte-d'Or (21)" in options and "Toute la région" in options
    assert doc.select("select#departement option[selected]")[0].get("value") == "21"
    assert {"Oiseaux", "Mammifères"} <= {_text(o) for o in doc.select("select#groupe option")}
    editions = [_text(o) for o in doc.select("select#edition option")]
    assert editions[0].startswith("Édition courante") and "Édition 2020 (figée)" in editions
    # the embed snippet points at the embed page with the selection
    snippet = doc.select("pre#sinp-embed-snippet code")[0].get_text()  # code: shown, not read as page text
    assert snippet.startswith("<iframe src=") and "/indicateurs/observations/embed?departement=21" in snippet
    assert 'title="Nombre d\'observations"' in snippet  # as the visitor will paste it

    # the frozen edition shows its own figures
    frozen = _api(app, "observations", edition="2020")
    assert max(r["annee"] for r in frozen["series"] if r["annee"]) == 2020
    doc = _html(app.get("/indicateurs/observations?edition=2020"))
    years = [_text(tr.select("td")[0]) for tr in doc.select("table.sinp-indicator-table tbody tr")]
    assert "2021" not in years and "2020" in years


def test_secret_cells_and_maps_and_validation_levels_are_drawn(indicators):
    app = indicators
    # a group breakdown holding a few observations of a sensitive taxon: « secret » in the table, hatched
    secret = None
    for groupe in ("Insectes", "Angiospermes"):
        api = _api(app, "observations", groupe=groupe)
        if any(r["secret"] for r in api["series"]):
            secret = groupe
            break
    assert secret, "the generated set has a secret cell in a group"
    doc = _html(app.get(f"/indicateurs/observations?groupe={secret}"))
    assert charts.SECRET_LABEL in [_text(t) for t in doc.select("table.sinp-indicator-table td")]
    assert charts.SECRET_LABEL in _text(doc.select("figure svg")[0])
    # the coverage map: one square per maille of the API
    api = _api(app, "couverture_mailles")
    doc = _html(app.get("/indicateurs/couverture_mailles"))
    mailles = [r["cle"] for r in api["series"] if r["cle"]]
    drawn = [_text(t).split(" : ")[0] for t in doc.select("figure .sinp-chart-wide svg rect > title")]
    assert sorted(drawn) == sorted(mailles) and mailles
    assert "Unité : taxons par maille (indicateur régional en % : voir le tableau)." in _text(
        doc.select("figcaption")[0]
    )
    # validation levels: stacked bars with French labels of the levels
    doc = _html(app.get("/indicateurs/part_validees"))
    legend = _text(doc.select("figure svg")[0])
    levels = {r["libelle"] for r in _api(app, "part_validees")["series"] if r["cle"]}
    assert levels and all(level in legend for level in levels), (levels, legend)


def test_downloads_are_the_api_figures_with_a_french_metadata_header(indicators):
    app = indicators
    api = _api(app, "taxons", departement="25")
    response = app.get("/indicateurs/taxons.json?departement=25")
    assert response.status_code == 200 and response.content_type.startswith("application/json")
    assert json.loads(response.get_data(as_text=True))["series"] == api["series"]
    response = app.get("/indicateurs/taxons.csv?departement=25")
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    assert 'filename="indicateur-taxons-25.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff# Indicateur : " + api["titre"])
    lines = text.lstrip("\ufeff").splitlines()
    comments = [line for line in lines if line.startswith("# ")]
    assert any(line.startswith("# Licence : Licence Ouverte 2.0") for line in comments)
    table = list(csv.reader(io.StringIO("\n".join(lines[len(comments) :])), delimiter=";"))
    assert table[0][0] == "Année" and "Valeur (taxons)" in table[0]
    assert len(table) - 1 == len(api["series"])


def test_unknown_indicator_edition_or_filter_is_a_french_error_page(indicators):
    app = indicators
    response = app.get("/indicateurs/pas_un_indicateur", status=404)
    assert "Indicateur inconnu" in response.get_data(as_text=True)
    assert app.get("/indicateurs/pas_un_indicateur.csv", status=404).status_code == 404
    for query in ("edition=1999", "edition=<script>alert(1)</script>", "departement=75", "groupe=Dragons"):
        response = app.get(f"/indicateurs/observations?{query}", status=400)
        body = response.get_data(as_text=True)
        assert "400 Requête refusée" in body and "<script>alert" not in body
    # a TAXREF group without values in the edition: the page says so (the API and downloads refuse it)
    doc = _html(app.get("/indicateurs/observations?groupe=Ptéridophytes"))
    assert "Aucune valeur pour cette sélection dans cette édition." in _text(doc)
    assert charts.EMPTY_MESSAGE in _text(doc.select("figure svg")[0])
    assert app.get("/indicateurs/observations.csv?groupe=Ptéridophytes", status=400).status_code == 400
    assert "Département inconnu" in app.get("/indicateurs/observations?departement=75", status=400).get_data(
        as_text=True
    )


def test_only_the_embed_page_may_be_framed_by_other_sites(indicators):
    app = indicators
    embed = app.get("/indicateurs/eee_taxons/embed")
    assert embed.status_code == 200
    assert "frame-ancestors *" in embed.headers["Content-Security-Policy"]
    assert "script-src 'self'" in embed.headers["Content-Security-Policy"]
    doc = _html(embed)
    assert doc.select("svg[role=img]") and not doc.select("script")
    page = app.get("/indicateurs/eee_taxons")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]


def _overflow(browser) -> int:
    return browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_pages_in_a_browser_at_desktop_and_phone_width(indicators, browser, test_ckan_url, width):
    base = test_ckan_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 2000)
    browser.get(f"{base}/indicateurs")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == "Indicateurs de la biodiversité"
    assert len(browser.find_elements(By.CSS_SELECTOR, ".sinp-indicator-card svg")) >= 10
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"indicateurs-liste-{width}.png"))
    for code in ("observations", "part_validees", "couverture_mailles", "eee_premiere_mention", "ca_jdd_producteur"):
        browser.get(f"{base}/indicateurs/{code}")
        shown = [
            e for e in browser.find_elements(By.CSS_SELECTOR, "figure.sinp-indicator-chart svg") if e.is_displayed()
        ]
        assert len(shown) == 1  # the wide drawing, or the narrow one on a phone
        assert shown[0].size["width"] <= width and shown[0].size["height"] > 80
        # its text stays readable once scaled: at least 10 px
        font = browser.execute_script(
            "var t = arguments[0].querySelector('text'); return t.getBoundingClientRect().height;", shown[0]
        )
        assert font >= 10, (code, font)
        assert _overflow(browser) <= 0, code
        browser.save_screenshot(str(SCREENSHOTS / f"indicateurs-{code}-{width}.png"))
    # the embed page alone (as a partner's frame shows it)
    browser.get(f"{base}/indicateurs/eee_mailles/embed")
    shown = [e for e in browser.find_elements(By.CSS_SELECTOR, "svg.sinp-chart") if e.is_displayed()]
    assert len(shown) == 1 and _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"indicateurs-embed-{width}.png"))
    # filter by département with the form, as a visitor does
    browser.get(f"{base}/indicateurs/observations")
    Select(browser.find_element(By.ID, "departement")).select_by_value("25")
    browser.find_element(By.CSS_SELECTOR, ".sinp-indicator-filters button[type=submit]").click()
    patient(browser, 10).until(lambda b: "departement=25" in b.current_url)
    assert "Doubs" in browser.find_element(By.CSS_SELECTOR, "figure figcaption").text
    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not [m for m in logs if base in m], logs


def test_the_method_s_parameters_read_as_labels(indicators):
    app = indicators
    for code in ("eee_mailles", "couverture_mailles"):
        api = _api(app, code)
        body = _text(_html(app.get(f"/indicateurs/{code}")))
        assert "Paramètres : " + " ; ".join(api["parametres_libelles"]) + "." in body
        assert not any(key in body for key in api["parametres"])  # no « statut_taxref = J »
    assert "« Introduit envahissant » (J)" in _text(_html(app.get("/indicateurs/eee_mailles")))
