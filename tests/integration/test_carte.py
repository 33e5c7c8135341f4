"""The public géo-visualiseur (#16): the actions ``sinp_carte``, ``sinp_carte_taxons``, ``sinp_taxon_fiche``
and the pages /carte, /carte/export.csv|geojson, /taxon/<cd_ref>, as an anonymous visitor sees them.

Data: the ORB indicators' generated set (tests/integration/indicator_data.py: ~2 200 observations, three
published JDD of two producers and a private one, sensitive taxa, rows blurred by their producer and rows
« aucune diffusion ») integrated by the platform's own ``store.integrate`` into real CA/JDD records; some
observations then get a commune (an UPDATE: the counts follow through the triggers). Every figure the
pages and the API give is compared with a count made here in Python from the generated rows and the
columns the platform derived per row (public layer, 10 km cell, validation level): published JDD only,
each level only for the observations whose diffusion allows it, layer 4 never.

Real CKAN (in-process, and a gunicorn for the browser), PostgreSQL/PostGIS, headless Chromium.
Screenshots: var/screenshots/carte-*.png.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections import defaultdict

import ckan.model as model
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from ckan.tests import factories, helpers
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from ckanext.sinp.domain import charts
from ckanext.sinp.logic import carte_actions
from ckanext.sinp.occurrences import map_store
from tests.conftest import ROOT
from tests.integration import indicator_data as data
from tests.integration.conftest import _wait_for_background_jobs, empty_database, patient
from tests.integration.test_indicators import build_world

SCREENSHOTS = ROOT / "var" / "screenshots"
MAX_LAYER = {"maille": 2, "commune": 1, "departement": 3}
COMMUNES = {"21": "21231", "25": "25056", "39": "39300", "58": "58194"}  # Dijon, Besançon, Lons, Nevers
BUTEO = 190297  # a genus of the extract, with Buteo buteo (2623) below it


def _empty_tables():
    with model.meta.engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE sinp_csw_record, sinp_occurrence, sinp_qc_error, sinp_deposit, sinp_outbox, "
                "sinp_chef_de_file, sinp_validation, sinp_notification"
            )
        )
        map_store.refresh_public(conn, force=True)


@pytest.fixture(scope="module")
def carte_world(jobs_worker, tmp_path_factory):
    """Two producers with a CA each, three published JDD and a private one holding the generated set
    (``build_world``); built once for the module (the tests only read), removed afterwards."""
    app = helpers._get_test_app()
    empty_database()
    _empty_tables()
    world = build_world(
        app,
        tmp_path_factory.mktemp("carte"),
        prefix="carte",
        title="Observations {kind} de la carte",
        producers=("LPO Bourgogne-Franche-Comté", "CEN Bourgogne-Franche-Comté"),
    )
    rows, names, jdds, orgs = world["rows"], world["names"], world["jdds"], world["orgs"]
    with model.meta.engine.begin() as conn:  # a commune for every other observation (the set has none)
        conn.execute(
            sa.text(
                "UPDATE sinp_occurrence SET code_commune = CASE dep "
                + " ".join(f"WHEN '{d}' THEN '{c}'" for d, c in COMMUNES.items())
                + " END WHERE id % 2 = 0"
            )
        )
        found = {
            r.id_sinp_occtax: r
            for r in conn.execute(
                sa.text(
                    "SELECT id_sinp_occtax, public_layer, maille_calc, code_commune, dep, niv_val, sensi_niveau "
                    "FROM sinp_occurrence"
                )
            )
        }
    for o in rows:
        r = found[o.uuid]
        o.extra = {
            "layer": r.public_layer,
            "maille": r.maille_calc or "",
            "commune": r.code_commune or "",
            "departement": r.dep or "",
            "niv_val": r.niv_val or "0",
            "sensible": (r.sensi_niveau or "0") not in ("", "0"),
        }
    model.Session.remove()
    yield {"rows": rows, "names": names, "jdds": jdds, "orgs": orgs, "public": world["public"]}
    model.Session.remove()
    _wait_for_background_jobs()
    helpers.reset_db()
    _empty_tables()


@pytest.fixture
def carte(carte_world, app):
    return {**carte_world, "app": app}


# --- the independent count ----------------------------------------------------------------------------


@functools.cache
def _below(ref: int) -> frozenset[int]:
    """A taxon and every valid taxon below it, from the TAXREF extract's CD_SUP (independently of SQL)."""
    children = defaultdict(set)
    with data.TAXREF.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["CD_NOM"] == row["CD_REF"] and row["CD_SUP"]:
                children[int(row["CD_SUP"])].add(int(row["CD_NOM"]))

    out, todo = {ref}, [ref]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in out:
                out.add(child)
                todo.append(child)
    return frozenset(out)


def _matches(o, names, world, f: dict) -> bool:
    ref = names[o.cd_nom]["cd_ref"]
    if "taxon" in f and ref not in _below(f["taxon"]):
        return False
    if "groupe" in f and names[o.cd_nom]["groupe"] != f["groupe"]:
        return False
    if "dep" in f and o.extra["departement"] != f["dep"]:
        return False
    if "annee_min" in f and o.date.year < f["annee_min"]:
        return False
    if "annee_max" in f and o.date.year > f["annee_max"]:
        return False
    if "validation" in f and o.extra["niv_val"] not in f["validation"]:
        return False
    if "producteur" in f and [p for k, p, _ in data.JDDS if k == o.jdd][0] != f["producteur"]:
        return False
    return not ("jdd" in f and o.jdd != f["jdd"])


def expected(world, niveau: str, **f) -> dict:
    """code → (observations, taxa, last year) of what the public may see at ``niveau``."""
    names = world["names"]
    obs, taxa, last = defaultdict(int), defaultdict(set), defaultdict(int)
    for o in world["rows"]:
        code = o.extra[niveau]
        if o.jdd not in world["public"] or o.extra["layer"] > MAX_LAYER[niveau] or not code:
            continue
        if not _matches(o, names, world, f):
            continue
        obs[code] += 1
        taxa[code].add(names[o.cd_nom]["cd_ref"])
        last[code] = max(last[code], o.date.year)
    return {c: (obs[c], len(taxa[c]), last[c]) for c in obs}


def expected_precise(world, niveau: str, sees, **f) -> dict:
    """code → (observations, taxa, last year) of the precise view for a caller who sees precisely the
    rows ``sees(o)`` (every level, whatever their diffusion, private JDD too); the public layer for the
    others."""
    names = world["names"]
    obs, taxa, last = defaultdict(int), defaultdict(set), defaultdict(int)
    for o in world["rows"]:
        code = o.extra[niveau]
        if not code or not _matches(o, names, world, f):
            continue
        if not sees(o) and (o.jdd not in world["public"] or o.extra["layer"] > MAX_LAYER[niveau]):
            continue
        obs[code] += 1
        taxa[code].add(names[o.cd_nom]["cd_ref"])
        last[code] = max(last[code], o.date.year)
    return {c: (obs[c], len(taxa[c]), last[c]) for c in obs}


def _api(app, action, status=200, headers=None, **params):
    response = app.get(f"/api/3/action/{action}", query_string=params, status=status, headers=headers)
    return response.json


def _cells(app, headers=None, **params) -> dict:
    result = _api(app, "sinp_carte", headers=headers, **params)["result"]
    return {c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"]) for c in result["cellules"]}


def _html(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def _text(element) -> str:
    return re.sub(r"[ \t\r\n]+", " ", element.get_text(" ")).strip()


# --- actions ------------------------------------------------------------------------------------------


def test_every_level_counts_what_the_public_may_see(carte):
    app = carte["app"]
    for niveau in ("maille", "commune", "departement"):
        wanted = expected(carte, niveau)
        assert wanted, niveau
        assert _cells(app, niveau=niveau) == wanted, niveau
        result = _api(app, "sinp_carte", niveau=niveau)["result"]
        assert result["total_obs"] == sum(v[0] for v in wanted.values())
        assert result["nb_cellules"] == len(wanted)
    # the maille level draws polygons (EPSG:4326) around the region
    result = _api(app, "sinp_carte")["result"]
    assert result["niveau"] == "maille"
    features = result["geojson"]["features"]
    assert {f["id"] for f in features} == set(expected(carte, "maille"))
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    assert features[0]["geometry"]["type"] == "Polygon" and 2 < lon < 8 and 46 < lat < 49
    # names of communes and départements from the referentials
    communes = {c["code"]: c["nom"] for c in _api(app, "sinp_carte", niveau="commune")["result"]["cellules"]}
    assert communes["21231"] == "Dijon"
    deps = {c["code"]: c["nom"] for c in _api(app, "sinp_carte", niveau="departement")["result"]["cellules"]}
    assert deps["25"] == "Doubs"
    # the private JDD and the rows « aucune diffusion » are never counted: everything counted is accounted
    private, hidden = carte["jdds"]["prive"], [o for o in carte["rows"] if o.extra["layer"] == 4]
    assert hidden and any(o.jdd == "prive" for o in carte["rows"])
    visible = sum(1 for o in carte["rows"] if o.jdd in carte["public"] and o.extra["layer"] <= 3)
    assert _api(app, "sinp_carte", niveau="departement")["result"]["total_obs"] == visible
    assert _cells(app, jdd=private["name"]) == {} == _cells(app, jdd=private["id"])


def test_filters_count_as_the_independent_count(carte):
    app = carte["app"]
    org0 = carte["orgs"][0]
    jdd = carte["jdds"]["b1"]
    cases = [
        ({"taxon": BUTEO}, {"taxon": BUTEO}),  # the genus and Buteo buteo below it
        ({"taxon": 2623}, {"taxon": 2623}),
        ({"groupe": "Mammifères"}, {"groupe": "Mammifères"}),
        ({"dep": "25"}, {"dep": "25"}),
        ({"annee_min": 2018, "annee_max": 2020}, {"annee_min": 2018, "annee_max": 2020}),
        ({"validation": "1,2"}, {"validation": {"1", "2"}}),
        ({"producteur": org0["name"]}, {"producteur": 0}),
        ({"jdd": jdd["name"]}, {"jdd": "b1"}),
        (
            {"groupe": "Oiseaux", "dep": "21", "annee_min": 2016, "validation": "0"},
            {"groupe": "Oiseaux", "dep": "21", "annee_min": 2016, "validation": {"0"}},
        ),
    ]
    for params, f in cases:
        for niveau in ("maille", "departement"):
            wanted = expected(carte, niveau, **f)
            assert _cells(app, niveau=niveau, **params) == wanted, (niveau, params)
    assert expected(carte, "maille", taxon=BUTEO) != expected(carte, "maille", taxon=2623)  # the genus adds rows
    # unknown taxon, producer or JDD: nothing, as a private JDD
    for params in ({"taxon": 999999999}, {"producteur": "pas-une-structure"}, {"jdd": "pas-un-jdd"}):
        result = _api(app, "sinp_carte", **params)["result"]
        assert result["cellules"] == [] and result["total_obs"] == 0, params


def test_bad_parameters_are_refused_in_french(carte):
    app = carte["app"]
    cases = [
        ({"niveau": "pays"}, "Niveau inconnu"),
        ({"annee_min": "deux mille"}, "nombre entier"),
        ({"annee_min": 2020, "annee_max": 2010}, "Période vide"),
        ({"annee_max": 3000}, "entre 1600 et 2100"),
        ({"validation": "9"}, "Niveau de validation inconnu"),
        ({"dep": "999"}, "Département invalide"),
        ({"groupe": "Dragons"}, "Groupe taxonomique inconnu"),
        ({"taxon": "Milan"}, "nombre entier"),
        ({"taxon": "-4"}, "entre 1 et"),
    ]
    for params, message in cases:
        body = _api(app, "sinp_carte", status=409, **params)
        assert body["success"] is False
        assert message in json.dumps(body["error"], ensure_ascii=False), (params, body)
        if "taxon" not in params:  # the page reads a taxon's name too
            page = app.get("/carte", query_string=params, status=400)
            assert message in _text(_html(page).select("#sinp-carte-erreur")[0]), params
    for params, message in (
        ({"niveau": "maille", "code": "E085N670"}, "Code de maille de 10 km invalide"),
        ({"niveau": "commune", "code": "Dijon"}, "Code de commune invalide"),
        ({"niveau": "departement"}, "Paramètre « code » manquant"),
    ):
        body = _api(app, "sinp_carte_taxons", status=409, **params)
        assert message in json.dumps(body["error"], ensure_ascii=False), (params, body)
    body = _api(app, "sinp_taxon_fiche", status=409, cd_ref="abc")
    assert "nombre entier" in json.dumps(body["error"], ensure_ascii=False)
    body = _api(app, "sinp_taxon_fiche", status=404, cd_ref=999999999)
    assert "Taxon inconnu" in json.dumps(body["error"], ensure_ascii=False)
    # the export of a refused view is refused too, in French
    response = app.get("/carte/export.csv?annee_min=2020&annee_max=2010", status=400)
    assert "Période vide" in response.get_data(as_text=True)


def test_hostile_values_are_refused_never_a_500(carte):
    app = carte["app"]
    actions = {
        "sinp_carte": ["niveau", "vue", *carte_actions.FILTER_KEYS],
        "sinp_carte_taxons": ["niveau", "code", "groupe", "validation", "vue"],
        "sinp_taxon_fiche": ["cd_ref"],
    }
    base = {"sinp_carte": {}, "sinp_carte_taxons": {"code": "21"}, "sinp_taxon_fiche": {"cd_ref": BUTEO}}
    for action, keys in actions.items():
        for key in keys:
            for value in ([1, 2], {"a": 1}, True, [{"x": 1}], "x" * 300, "21\u202e"):
                if key == "validation" and value == [1, 2]:
                    continue  # levels 1 and 2, as a JSON list: accepted
                response = app.post(f"/api/3/action/{action}", json={**base[action], key: value}, status=None)
                assert response.status_code == 409, (action, key, value, response.status_code)
                assert response.json["success"] is False
            response = app.post(f"/api/3/action/{action}", json={**base[action], key: "a\x00b"}, status=None)
            assert response.status_code == 400, (action, key)
    for query in ("taxon=%C2%B2", "taxon=" + "9" * 40, "cellule=%3Cscript%3E", "niveau=commune&cellule=1"):
        response = app.get(f"/carte?{query}", status=None)
        assert response.status_code == 400, query
        assert "<script>" not in response.get_data(as_text=True).split("sinp-carte-erreur")[-1][:300]
    assert app.get("/taxon/abc", status=404).status_code == 404


def test_the_taxa_of_a_cell(carte):
    app = carte["app"]
    names = carte["names"]
    wanted = expected(carte, "maille")
    code = max(wanted, key=lambda c: wanted[c][1])  # the maille with the most taxa
    result = _api(app, "sinp_carte_taxons", niveau="maille", code=code)["result"]
    per_taxon = defaultdict(lambda: [0, 0, False])
    for o in carte["rows"]:
        if o.jdd in carte["public"] and o.extra["layer"] <= 2 and o.extra["maille"] == code:
            t = per_taxon[names[o.cd_nom]["cd_ref"]]
            t[0] += 1
            t[1] = max(t[1], o.date.year)
            t[2] = t[2] or o.extra["sensible"]
    got = {t["cd_ref"]: [t["nb_obs"], t["derniere_annee"], t["sensible"]] for t in result["taxons"]}
    assert got == {k: list(v) for k, v in per_taxon.items()}
    assert result["nb_taxons"] == wanted[code][1] and result["total_obs"] == wanted[code][0]
    first = result["taxons"][0]
    assert first["nb_obs"] == max(v[0] for v in per_taxon.values())
    assert first["nom_valide"] and first["groupe"]
    # a sensitive taxon is flagged where it is diffused at the maille
    sensitive = {t["cd_ref"] for t in result["taxons"] if t["sensible"]}
    assert sensitive <= set(data.SENSITIVE)
    # with a filter, and at the département level
    result = _api(app, "sinp_carte_taxons", niveau="departement", code="21", groupe="Oiseaux")["result"]
    assert result["nom"] == "Côte-d'Or"
    assert {t["groupe"] for t in result["taxons"]} == {"Oiseaux"}
    assert result["total_obs"] == expected(carte, "departement", groupe="Oiseaux")["21"][0]
    # a cell of a private JDD only, or unknown: nothing
    assert _api(app, "sinp_carte_taxons", niveau="commune", code="99999")["result"]["taxons"] == []


def test_taxon_sheet_action(carte):
    app = carte["app"]
    rows = [o for o in carte["rows"] if o.jdd in carte["public"] and o.extra["layer"] <= 3]
    mine = [o for o in rows if carte["names"][o.cd_nom]["cd_ref"] in (BUTEO, 2623)]
    result = _api(app, "sinp_taxon_fiche", cd_ref=BUTEO)["result"]
    assert result["nom_valide"].startswith("Buteo") and result["rang_libelle"] == "Genre"
    assert result["groupe"] == "Oiseaux" and result["nb_taxons_inclus"] >= 2
    assert result["total_obs"] == len(mine)
    months = [0] * 12
    for o in mine:
        months[o.date.month - 1] += 1
    assert result["mois"] == months
    years = defaultdict(int)
    for o in mine:
        years[o.date.year] += 1
    assert {a["annee"]: a["nb_obs"] for a in result["annees"]} == dict(years)
    public_jdd = {carte["jdds"][o.jdd]["id"] for o in mine}
    assert {j["package_id"] for j in result["jdd"]} == public_jdd
    assert carte["jdds"]["prive"]["id"] not in {j["package_id"] for j in result["jdd"]}
    assert {j["titre"] for j in result["jdd"]} <= {carte["jdds"][k]["title"] for k in carte["public"]}
    assert {m["code"] for m in result["mailles"]} == set(expected(carte, "maille", taxon=BUTEO))


# --- pages ----------------------------------------------------------------------------------------------


def test_the_map_page_for_an_anonymous_visitor(carte):
    app = carte["app"]
    wanted = expected(carte, "maille")
    doc = _html(app.get("/carte"))
    assert _text(doc.select("h1")[0]) == "Carte des observations"
    assert doc.select("header a[href='/carte']")  # the main menu
    summary = _text(doc.select("#sinp-carte-resume")[0])
    total = sum(v[0] for v in wanted.values())
    assert f"{charts.fr_number(total)} observations dans {charts.fr_number(len(wanted))} mailles de 10 km" in summary
    box = doc.select("#sinp-carte-map")[0]
    assert box["data-module"] == "sinp-carte" and json.loads(box["data-module-query"]) == {"niveau": "maille"}
    # the table of mailles, ranked
    rows = doc.select("#sinp-carte-table tbody tr")
    assert [r["data-code"] for r in rows][:5] == sorted(wanted, key=lambda c: (-wanted[c][0], c))[:5]
    # the commune level as a ranked table, with its names
    doc = _html(app.get("/carte?niveau=commune"))
    rows = doc.select("#sinp-carte-table tbody tr")
    communes = expected(carte, "commune")
    assert len(rows) == len(communes) and not doc.select("#sinp-carte-map")
    first = rows[0].select("td")
    code = max(communes, key=lambda c: (communes[c][0], c))
    assert rows[0]["data-code"] == code and _text(first[2]) == charts.fr_number(communes[code][0])
    # a cell chosen by the link of the table: its taxa, with links to their sheets, the level kept
    link = rows[0].select("a.sinp-carte-cellule")[0]["href"]
    assert "niveau=commune" in link and f"cellule={code}" in link
    doc = _html(app.get(link.split("#")[0]))
    taxa = doc.select("#sinp-carte-taxons tbody tr")
    assert len(taxa) == communes[code][1]
    assert taxa[0].select("a")[0]["href"].startswith("/taxon/")
    # the filters are kept in the form and in the export links
    doc = _html(app.get("/carte?niveau=departement&groupe=Oiseaux&dep=21&validation=1&validation=2&annee_min=2015"))
    assert doc.select("#sinp-carte-groupe option[selected]")[0]["value"] == "Oiseaux"
    assert doc.select("#sinp-carte-dep option[selected]")[0]["value"] == "21"
    assert {i["value"] for i in doc.select(".sinp-carte-validation input[checked]")} == {"1", "2"}
    csv_link = [a["href"] for a in doc.select(".sinp-carte-exports a") if "export.csv" in a["href"]][0]
    assert "groupe=Oiseaux" in csv_link and "validation=1,2" in csv_link and "niveau=departement" in csv_link
    wanted = expected(carte, "departement", groupe="Oiseaux", dep="21", validation={"1", "2"}, annee_min=2015)
    assert f"{charts.fr_number(wanted['21'][0])} observation" in _text(doc.select("#sinp-carte-resume")[0])
    # a taxon typed by its name: the best valid TAXREF name, shown with a link to its sheet
    doc = _html(app.get("/carte?taxon=Buteo"))
    retained = doc.select(".sinp-carte-taxon-retenu")[0]
    assert "Buteo" in _text(retained) and retained.select("a")[0]["href"] == f"/taxon/{BUTEO}"
    wanted = expected(carte, "maille", taxon=BUTEO)
    assert f"{charts.fr_number(sum(v[0] for v in wanted.values()))} observation" in _text(
        doc.select("#sinp-carte-resume")[0]
    )
    # nothing: said so
    doc = _html(app.get(f"/carte?jdd={carte['jdds']['prive']['name']}"))
    assert doc.select("#sinp-carte-vide")


def test_exports_of_the_current_view(carte):
    app = carte["app"]
    response = app.get("/carte/export.csv?niveau=commune&groupe=Oiseaux")
    assert response.status_code == 200 and response.content_type.startswith("text/csv")
    assert 'filename="carte-commune-Oiseaux.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert table[0] == ["niveau", "code", "nom", "nb_obs", "nb_taxons", "derniere_annee"]
    got = {r[1]: (int(r[3]), int(r[4]), int(r[5])) for r in table[1:]}
    assert got == expected(carte, "commune", groupe="Oiseaux")
    assert {r[2] for r in table[1:]} <= {"Dijon", "Besançon", "Lons-le-Saunier", "Nevers"}

    response = app.get("/carte/export.geojson?dep=39")
    assert response.status_code == 200 and response.content_type.startswith("application/geo+json")
    body = json.loads(response.get_data(as_text=True))
    assert body["type"] == "FeatureCollection" and body["niveau"] == "maille"
    got = {
        f["id"]: (f["properties"]["nb_obs"], f["properties"]["nb_taxons"], f["properties"]["derniere_annee"])
        for f in body["features"]
    }
    assert got == expected(carte, "maille", dep="39")
    assert all(f["geometry"]["type"] == "Polygon" for f in body["features"])
    body = json.loads(app.get("/carte/export.geojson?niveau=departement").get_data(as_text=True))
    assert {f["id"] for f in body["features"]} == set(expected(carte, "departement"))
    assert all(f["geometry"] is None for f in body["features"])


def test_taxon_sheet_page(carte):
    app = carte["app"]
    fiche = _api(app, "sinp_taxon_fiche", cd_ref=BUTEO)["result"]
    doc = _html(app.get(f"/taxon/{BUTEO}"))
    assert _text(doc.select("h1")[0]).startswith("Buteo")
    body = _text(doc)
    assert "Genre" in body and "Oiseaux" in body
    assert f"{charts.fr_number(fiche['total_obs'])} observations" in _text(doc.select("#sinp-taxon-total")[0])
    # the map by maille: one square per maille of the API; phenology: twelve months
    drawn = {_text(t).split(" : ")[0] for t in doc.select(".sinp-taxon-carte .sinp-chart-wide svg rect > title")}
    assert {m["code"] for m in fiche["mailles"]} <= drawn
    months = [_text(td) for td in doc.select(".sinp-taxon-mois-table tbody td")]
    assert months == [charts.fr_number(n) for n in fiche["mois"]]
    assert doc.select(".sinp-taxon-mois svg[role=img]")
    # the JDD holding it: titles with links, never the private one
    links = {a["href"] for a in doc.select(".sinp-taxon-jdd a")}
    assert links == {f"/jdd/{j['name']}" for j in fiche["jdd"]}
    assert not any(carte["jdds"]["prive"]["name"] in h for h in links)
    # a taxon without public observation: its TAXREF names, and said so
    assert _api(app, "sinp_taxon_fiche", cd_ref=444430)["result"]["total_obs"] == 0
    doc = _html(app.get("/taxon/444430"))
    assert "Aucune observation publique de ce taxon" in _text(doc.select("#sinp-taxon-total")[0])
    # a synonym leads to its valid name's sheet; an unknown code is a French 404
    response = app.get("/taxon/125", follow_redirects=False)
    assert response.status_code in (301, 302) and response.headers["Location"].endswith("/taxon/444430")
    response = app.get("/taxon/999999999", status=404)
    assert "Taxon inconnu" in response.get_data(as_text=True) and "404 Page introuvable" in response.get_data(
        as_text=True
    )


def test_a_jdd_withdrawn_or_in_draft_leaves_every_door(carte):
    """A published JDD made private again, or back in draft: its observations leave the map, the cells'
    taxa, the exports and the taxon sheets at once (the public roll-up is not trusted while stale)."""
    app = carte["app"]
    jdd = carte["jdds"]["a1"]
    without = {**carte, "public": carte["public"] - {"a1"}}
    admin = factories.Sysadmin()
    try:
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=True)
        for niveau in ("maille", "commune", "departement"):
            assert _cells(app, niveau=niveau) == expected(without, niveau), niveau
        assert _cells(app, jdd=jdd["name"]) == {}
        fiche = _api(app, "sinp_taxon_fiche", cd_ref=BUTEO)["result"]
        assert jdd["id"] not in {j["package_id"] for j in fiche["jdd"]}
        text = app.get("/carte/export.csv?niveau=departement").get_data(as_text=True)
        got = {r[1]: int(r[3]) for r in list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))[1:]}
        assert got == {k: v[0] for k, v in expected(without, "departement").items()}
        code = max(expected(carte, "maille"), key=lambda c: expected(carte, "maille")[c][0])
        taxa = _api(app, "sinp_carte_taxons", niveau="maille", code=code)["result"]
        assert taxa["total_obs"] == expected(without, "maille").get(code, (0,))[0]
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=False)
        assert _cells(app, niveau="maille") == expected(carte, "maille")
        pkg = model.Package.get(jdd["id"])
        pkg.state = "draft"
        model.Session.commit()
        assert _cells(app, niveau="departement") == expected(without, "departement")
    finally:
        model.Session.remove()
        pkg = model.Package.get(jdd["id"])
        pkg.state, pkg.private = "active", False
        model.Session.commit()
        model.Session.remove()
    assert _cells(app, niveau="departement") == expected(carte, "departement")


def test_a_publication_reaches_the_map_at_the_next_refresh_and_the_page_says_so(carte):
    """A JDD published narrows nothing: the roll-ups keep answering (fast), without it, until the next
    refresh, and the page says when the map was computed; the refresh brings the JDD in. Withdrawn again,
    it leaves at once (every level, until the refresh)."""
    app = carte["app"]
    jdd = carte["jdds"]["prive"]
    with_it = {**carte, "public": carte["public"] | {"prive"}}
    admin = factories.Sysadmin()
    with model.meta.engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
    try:
        fresh = _api(app, "sinp_carte", niveau="maille")["result"]
        assert fresh["a_jour"] is True and fresh["agregats_du"]
        assert not _html(app.get("/carte")).select("#sinp-carte-date")
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=False)
        behind = _api(app, "sinp_carte", niveau="maille")["result"]
        assert behind["a_jour"] is False and behind["agregats_du"] == fresh["agregats_du"]
        for niveau in ("maille", "commune", "departement"):
            assert _cells(app, niveau=niveau) == expected(carte, niveau), niveau  # not yet
        note = _text(_html(app.get("/carte")).select("#sinp-carte-date")[0])
        assert note.startswith("Carte calculée le ") and "au prochain recalcul" in note
        with model.meta.engine.begin() as conn:
            map_store.refresh_public(conn)
        for niveau in ("maille", "commune", "departement"):
            assert _cells(app, niveau=niveau) == expected(with_it, niveau), niveau
        assert _api(app, "sinp_carte", niveau="maille")["result"]["a_jour"] is True
        helpers.call_action("package_patch", context={"user": admin["name"]}, id=jdd["id"], private=True)
        answer = _api(app, "sinp_carte", niveau="maille")["result"]
        # the roll-up per JDD without it, and it as it is now (not published: nothing): exact at once; the
        # answer still says the roll-ups answered (another JDD's deposit could be pending)
        assert answer["a_jour"] is False
        for niveau in ("maille", "commune", "departement"):
            assert _cells(app, niveau=niveau) == expected(carte, niveau), niveau
        # a filtered map answers from the counts: exact, and says so
        assert _api(app, "sinp_carte", niveau="maille", groupe="Oiseaux")["result"]["a_jour"] is True
    finally:
        model.Session.remove()
        pkg = model.Package.get(jdd["id"])
        pkg.private = True
        model.Session.commit()
        model.Session.remove()
        with model.meta.engine.begin() as conn:
            map_store.refresh_public(conn)
    assert _cells(app, niveau="maille") == expected(carte, "maille")


# --- the precise view (vue=precise) -----------------------------------------------------------------------

PASSWORD = "Mot-de-passe-carte-1234"
OWN, OTHER = 1, 0  # the producer of the private JDD (« prive »: CEN), and the other (LPO)


def _producer(o) -> int:
    return next(p for k, p, _ in data.JDDS if k == o.jdd)


def _groupe(world, o) -> str:
    return world["names"][o.cd_nom]["groupe"]


@pytest.fixture(scope="module")
def roles(carte_world):
    """The users of the precise view: a member of each producer, a chef de file (the group and
    département holding the most blurred or hidden observations), a user of no organisation; each with
    an API token and a password (the browser signs in)."""
    world = carte_world
    admin = factories.SysadminWithToken()
    users = {}
    for key in ("own", "other", "chef", "plain"):
        user = factories.User(password=PASSWORD, image_url="")  # no avatar from elsewhere (CSP)
        token = helpers.call_action("api_token_create", context={"user": user["name"]}, user=user["name"], name="t")
        users[key] = {**user, "token": token["token"], "headers": {"Authorization": token["token"]}}
    for key, producer in (("own", OWN), ("other", OTHER)):
        helpers.call_action(
            "organization_member_create",
            context={"user": admin["name"]},
            id=world["orgs"][producer]["id"],
            username=users[key]["name"],
            role="member",
        )
    blurred = defaultdict(int)
    for o in world["rows"]:
        if o.extra["layer"] >= 2 and o.extra["departement"]:
            blurred[(_groupe(world, o), o.extra["departement"])] += 1
    groupe, dep = max(blurred, key=lambda k: (blurred[k], k))
    chef_org = factories.Organization(users=[{"name": users["chef"]["name"], "capacity": "member"}], title="Chef")
    response = helpers._get_test_app().post(
        "/api/3/action/sinp_chef_de_file_set",
        json={"organization": chef_org["name"], "groupes": [groupe], "departements": [dep]},
        headers={"Authorization": admin["token"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    model.Session.remove()
    return {**users, "scope": (groupe, dep)}


def test_a_producer_sees_its_observations_precisely_and_only_them(carte, roles):
    app, own = carte["app"], roles["own"]

    def sees(o):
        return _producer(o) == OWN

    # its hidden or blurred observations and its private JDD exist, and the other producer's too
    mine = [o for o in carte["rows"] if sees(o)]
    assert any(o.jdd == "prive" for o in mine) and any(o.extra["layer"] == 4 for o in mine)
    assert any(o.extra["layer"] >= 2 and not sees(o) for o in carte["rows"])
    for niveau in ("maille", "commune", "departement"):
        wanted = expected_precise(carte, niveau, sees)
        assert wanted != expected(carte, niveau), niveau  # more than the public view
        response = app.get(
            "/api/3/action/sinp_carte", query_string={"niveau": niveau, "vue": "precise"}, headers=own["headers"]
        )
        result = response.json["result"]
        assert result["vue"] == "precise" and "précisément" in result["diffusion"]
        assert {c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"]) for c in result["cellules"]} == wanted
        # never kept by a cache, shared or not
        assert "no-store" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]
        # the public view stays the default, for the producer too
        assert _cells(app, own["headers"], niveau=niveau) == expected(carte, niveau)
    # its private JDD and a filter: as the independent count
    prive = carte["jdds"]["prive"]
    for params, f in (({"jdd": prive["name"]}, {"jdd": "prive"}), ({"groupe": "Oiseaux"}, {"groupe": "Oiseaux"})):
        assert _cells(app, own["headers"], vue="precise", niveau="commune", **params) == expected_precise(
            carte, "commune", sees, **f
        ), params
    # a maille where one of its observations is not diffused: its taxon is listed there
    hidden = next(o for o in mine if o.extra["layer"] == 4 and o.extra["maille"])
    code, ref = hidden.extra["maille"], carte["names"][hidden.cd_nom]["cd_ref"]
    taxa = _api(app, "sinp_carte_taxons", headers=own["headers"], niveau="maille", code=code, vue="precise")["result"]
    assert taxa["vue"] == "precise" and ref in {t["cd_ref"] for t in taxa["taxons"]}
    assert taxa["total_obs"] == expected_precise(carte, "maille", sees)[code][0]
    public = _api(app, "sinp_carte_taxons", niveau="maille", code=code, vue="precise")["result"]
    assert public["vue"] == "publique" and public["total_obs"] == expected(carte, "maille").get(code, (0,))[0]
    # the same once the public roll-ups are fresh (the precise view adds its rows to them)
    _assert_from_rollups(carte, own["headers"], sees, taxon=ref, cell=code)


def _assert_from_rollups(carte, headers, sees, taxon: int, cell: str) -> None:
    """After ``refresh_public``: the precise view (each level, a taxon, a cell's taxa) as the independent
    count, and the public view unchanged."""
    app = carte["app"]
    with model.meta.engine.begin() as conn:
        map_store.refresh_public(conn, force=True)
    with model.meta.engine.connect() as conn:
        assert map_store.is_fresh(conn)
    for niveau in ("maille", "commune", "departement"):
        assert _cells(app, headers, niveau=niveau, vue="precise") == expected_precise(carte, niveau, sees), niveau
        assert _cells(app, headers, niveau=niveau) == expected(carte, niveau), niveau
    assert _cells(app, headers, vue="precise", taxon=taxon) == expected_precise(carte, "maille", sees, taxon=taxon)
    taxa = _api(app, "sinp_carte_taxons", headers=headers, niveau="maille", code=cell, vue="precise")["result"]
    names = carte["names"]
    wanted = defaultdict(int)
    for o in carte["rows"]:
        if o.extra["maille"] == cell and (sees(o) or (o.jdd in carte["public"] and o.extra["layer"] <= 2)):
            wanted[names[o.cd_nom]["cd_ref"]] += 1
    assert {t["cd_ref"]: t["nb_obs"] for t in taxa["taxons"]} == dict(wanted)


def test_a_chef_de_file_sees_its_scope_precisely_and_nothing_outside(carte, roles):
    app, chef = carte["app"], roles["chef"]
    groupe, dep = roles["scope"]

    def sees(o):
        return _groupe(carte, o) == groupe and o.extra["departement"] == dep

    assert any(sees(o) and o.jdd == "prive" for o in carte["rows"])
    for niveau in ("maille", "commune", "departement"):
        wanted = expected_precise(carte, niveau, sees)
        assert wanted != expected(carte, niveau), niveau
        assert _cells(app, chef["headers"], niveau=niveau, vue="precise") == wanted, niveau
    # outside its scope (another département, the same group): the public view
    others = {o.extra["departement"] for o in carte["rows"]} - {dep, ""}
    other = sorted(others)[0]
    for niveau in ("maille", "commune"):
        assert _cells(app, chef["headers"], niveau=niveau, vue="precise", dep=other) == expected(
            carte, niveau, dep=other
        )
    # the private JDD: only its observations in the scope
    prive = carte["jdds"]["prive"]
    assert _cells(app, chef["headers"], niveau="maille", vue="precise", jdd=prive["name"]) == expected_precise(
        carte, "maille", sees, jdd="prive"
    )
    inside = next(o for o in carte["rows"] if sees(o) and o.extra["layer"] >= 2 and o.extra["maille"])
    _assert_from_rollups(carte, chef["headers"], sees, carte["names"][inside.cd_nom]["cd_ref"], inside.extra["maille"])


def test_without_a_precise_right_the_precise_view_is_the_public_one(carte, roles):
    app = carte["app"]
    prive = carte["jdds"]["prive"]
    for who, headers in (("anonymous", None), ("plain", roles["plain"]["headers"])):
        for niveau in ("maille", "commune", "departement"):
            result = _api(app, "sinp_carte", headers=headers, niveau=niveau, vue="precise")["result"]
            assert result["vue"] == "publique", who
            got = {c["code"]: (c["nb_obs"], c["nb_taxons"], c["derniere_annee"]) for c in result["cellules"]}
            assert got == expected(carte, niveau), (who, niveau)
        # another producer's private JDD: nothing, as an unknown one
        for jdd in (prive["name"], "pas-un-jdd"):
            assert _cells(app, headers, vue="precise", jdd=jdd) == {}, (who, jdd)
        # the page: no switch, the public view said so
        doc = _html(app.get("/carte?vue=precise", headers=headers))
        assert not doc.select("#sinp-carte-vues") and not doc.select("#sinp-carte-vue-precise")
        assert "la vue publique est affichée" in _text(doc.select("#sinp-carte-vue-refusee")[0])
        assert "vue=" not in json.dumps([a["href"] for a in doc.select(".sinp-carte-exports a")])
    # the other producer: its own observations only, never the private JDD of the first
    assert _cells(app, roles["other"]["headers"], vue="precise", jdd=prive["name"]) == {}
    assert _cells(app, roles["other"]["headers"], vue="precise", niveau="departement") == expected_precise(
        carte, "departement", lambda o: _producer(o) == OTHER
    )
    body = _api(app, "sinp_carte", status=409, vue="secrète")
    assert "Vue inconnue" in json.dumps(body["error"], ensure_ascii=False)


def test_the_precise_view_on_the_page_and_its_exports(carte, roles):
    app, own = carte["app"], roles["own"]

    def sees(o):
        return _producer(o) == OWN

    # the public view for a producer: the switch, the public view chosen
    doc = _html(app.get("/carte", headers=own["headers"]))
    switch = doc.select("#sinp-carte-vues a")
    assert [_text(a) for a in switch] == ["Vue publique", "Vue précise (vos droits)"]
    assert switch[0].get("aria-current") == "page" and "vue=precise" in switch[1]["href"]
    # the precise view: said and explained, kept by the levels, the form, the cells and the exports
    response = app.get("/carte?niveau=commune&vue=precise&groupe=Oiseaux", headers=own["headers"])
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers.get("X-Sinp-Cache") != "hit"
    doc = _html(response)
    assert doc.select("#sinp-carte-vues a")[1].get("aria-current") == "page"
    notice = _text(doc.select("#sinp-carte-vue-precise")[0])
    assert "Vue précise" in notice and "y compris privés ou en brouillon" in notice
    assert doc.select("#sinp-carte-filtres input[name=vue][value=precise]")
    assert all("vue=precise" in a["href"] for a in doc.select(".sinp-carte-niveaux a"))
    assert all("vue=precise" in a["href"] for a in doc.select("a.sinp-carte-cellule"))
    wanted = expected_precise(carte, "commune", sees, groupe="Oiseaux")
    total = sum(v[0] for v in wanted.values())
    assert f"{charts.fr_number(total)} observation" in _text(doc.select("#sinp-carte-resume")[0])
    # its private JDD is offered by the filter
    assert carte["jdds"]["prive"]["name"] in {o["value"] for o in doc.select("#sinp-carte-jdd option")}
    links = [a["href"] for a in doc.select(".sinp-carte-exports a")]
    assert all("vue=precise" in link for link in links)
    response = app.get(next(link for link in links if "export.csv" in link), headers=own["headers"])
    assert "no-store" in response.headers["Cache-Control"] and "vue-precise" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert {r[1]: (int(r[3]), int(r[4]), int(r[5])) for r in table[1:]} == wanted
    response = app.get("/carte/export.geojson?vue=precise", headers=own["headers"])
    body = json.loads(response.get_data(as_text=True))
    assert {f["id"]: f["properties"]["nb_obs"] for f in body["features"]} == {
        c: v[0] for c, v in expected_precise(carte, "maille", sees).items()
    }
    # the map's data call carries the view
    doc = _html(app.get("/carte?vue=precise", headers=own["headers"]))
    assert json.loads(doc.select("#sinp-carte-map")[0]["data-module-query"])["vue"] == "precise"
    # an anonymous visitor's copy of the same address is the public view (the page cache keeps it as such)
    for _ in range(2):
        doc = _html(app.get("/carte?niveau=commune&vue=precise&groupe=Oiseaux"))
        assert not doc.select("#sinp-carte-vue-precise")
        total = sum(v[0] for v in expected(carte, "commune", groupe="Oiseaux").values())
        assert f"{charts.fr_number(total)} observation" in _text(doc.select("#sinp-carte-resume")[0])


# --- in a browser ---------------------------------------------------------------------------------------


def _clickable_cell(browser):
    """A maille of the map that a click at its centre reaches (not under the legend, inside the view)."""
    return browser.execute_script(
        """var map = document.getElementById('sinp-carte-map');
        map.scrollIntoView({block: 'center', behavior: 'instant'});  // Bootstrap's smooth scroll otherwise
        var cells = map.querySelectorAll('path.sinp-carte-cell');
        for (var i = 0; i < cells.length; i++) {
          var r = cells[i].getBoundingClientRect();
          if (document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === cells[i]) { return cells[i]; }
        }
        return null;"""
    )


def _overflow(browser) -> int:
    return browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def _drawn(browser) -> int:
    """The number of mailles the map drew, once it has drawn them."""
    patient(browser, 20).until(
        lambda b: b.find_element(By.ID, "sinp-carte-map").get_attribute("data-sinp-drawn") is not None
    )
    return int(browser.find_element(By.ID, "sinp-carte-map").get_attribute("data-sinp-drawn"))


def _click_a_cell(browser) -> str:
    """Clicks a maille of the map; its code once its taxa are listed."""
    _clickable_cell(browser).click()
    patient(browser, 15).until(
        lambda b: b.find_element(By.ID, "sinp-carte-taxons").get_attribute("data-code") is not None
    )
    return browser.find_element(By.ID, "sinp-carte-taxons").get_attribute("data-code")


@pytest.mark.parametrize("width", [1280, 375])
def test_the_map_in_a_browser(carte_world, browser, test_ckan_url, width):
    base = test_ckan_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 1600)
    browser.get(f"{base}/carte")
    wanted = expected(carte_world, "maille")
    assert _drawn(browser) == len(wanted)
    cells = browser.find_elements(By.CSS_SELECTOR, "path.sinp-carte-cell")
    assert len(cells) == len(wanted)
    legend = browser.find_element(By.CSS_SELECTOR, ".sinp-carte-legend").text
    assert legend.startswith("Observations par maille")
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"carte-mailles-{width}.png"))
    # a click on a maille lists its taxa and writes it in the address
    code = _click_a_cell(browser)
    assert code in wanted and f"cellule={code}" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "#sinp-carte-taxons tbody tr")
    assert len(rows) == wanted[code][1]
    assert rows[0].find_element(By.CSS_SELECTOR, "a").get_attribute("href").startswith(f"{base}/taxon/")
    browser.execute_script("document.getElementById('sinp-carte-taxons').scrollIntoView();")
    browser.save_screenshot(str(SCREENSHOTS / f"carte-maille-taxons-{width}.png"))
    # filter with the form, as a visitor does: the address keeps the state
    browser.get(f"{base}/carte")
    box = browser.find_element(By.ID, "sinp-carte-filtres-box")
    # folded on a phone, so that the map shows (by the page's script: waited for)
    patient(browser, 10).until(lambda b: (box.get_attribute("open") is None) == (width < 576))
    if width < 576:
        box.find_element(By.CSS_SELECTOR, "summary").click()
    Select(browser.find_element(By.ID, "sinp-carte-groupe")).select_by_value("Mammifères")
    Select(browser.find_element(By.ID, "sinp-carte-dep")).select_by_value("25")
    browser.find_element(By.CSS_SELECTOR, ".sinp-carte-actions button[type=submit]").click()
    patient(browser, 10).until(lambda b: "groupe=Mamm" in b.current_url and "dep=25" in b.current_url)
    wanted = expected(carte_world, "maille", groupe="Mammifères", dep="25")
    assert _drawn(browser) == len(wanted)
    href = browser.find_element(By.CSS_SELECTOR, ".sinp-carte-exports a[href*='export.geojson']").get_attribute("href")
    assert "groupe=Mammif%C3%A8res" in href and "dep=25" in href
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"carte-filtres-{width}.png"))
    # the département level: a ranked table
    browser.find_element(By.CSS_SELECTOR, ".sinp-carte-niveaux a[data-niveau=departement]").click()
    patient(browser, 10).until(lambda b: "niveau=departement" in b.current_url)
    assert "Doubs" in browser.find_element(By.ID, "sinp-carte-table").text
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"carte-departements-{width}.png"))
    # the taxon sheet
    browser.get(f"{base}/taxon/{BUTEO}")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("Buteo")
    shown = [e for e in browser.find_elements(By.CSS_SELECTOR, ".sinp-taxon-mois svg") if e.is_displayed()]
    assert len(shown) == 1 and shown[0].size["width"] <= width
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"taxon-{width}.png"))
    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not [m for m in logs if base in m], logs


@pytest.mark.parametrize("width", [1280, 375])
def test_the_precise_view_in_a_browser(carte_world, roles, browser, test_ckan_url, width):
    """A producer signs in, finds the switch on /carte, chooses the precise view: the notice says what it
    holds, the map draws its cells (its hidden observations' too), the address keeps the view."""
    base, own = test_ckan_url, roles["own"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 1600)
    browser.get(f"{base}/user/login")
    browser.find_element(By.ID, "field-login").send_keys(own["name"])
    browser.find_element(By.ID, "field-password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form.form-horizontal button[type=submit], form button.btn-primary").click()
    patient(browser, 20).until(lambda b: "/user/login" not in b.current_url)
    browser.get_log("browser")  # read (and so forgotten): the dashboard's messages are not this page's
    browser.get(f"{base}/carte")
    switch = browser.find_elements(By.CSS_SELECTOR, "#sinp-carte-vues a")
    assert [a.text for a in switch] == ["Vue publique", "Vue précise (vos droits)"]
    assert not browser.find_elements(By.ID, "sinp-carte-vue-precise")
    switch[1].click()
    patient(browser, 10).until(lambda b: "vue=precise" in b.current_url)
    notice = browser.find_element(By.ID, "sinp-carte-vue-precise").text
    assert notice.startswith("Vue précise.") and "y compris privés ou en brouillon" in notice
    wanted = expected_precise(carte_world, "maille", lambda o: _producer(o) == OWN)
    assert len(wanted) > len(expected(carte_world, "maille"))  # its hidden observations' cells too
    assert _drawn(browser) == len(wanted)
    assert _overflow(browser) <= 0
    browser.save_screenshot(str(SCREENSHOTS / f"carte-vue-precise-{width}.png"))
    # a cell's taxa in the precise view (the data call carries it), the level kept
    code = _click_a_cell(browser)
    assert code in wanted and "vue=precise" in browser.current_url
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sinp-carte-taxons tbody tr")) == wanted[code][1]
    browser.find_element(By.CSS_SELECTOR, ".sinp-carte-niveaux a[data-niveau=commune]").click()
    patient(browser, 10).until(lambda b: "niveau=commune" in b.current_url and "vue=precise" in b.current_url)
    assert browser.find_element(By.ID, "sinp-carte-vue-precise").is_displayed()
    browser.save_screenshot(str(SCREENSHOTS / f"carte-vue-precise-communes-{width}.png"))
    # back to the public view
    browser.find_element(By.CSS_SELECTOR, "#sinp-carte-vues a[data-vue=publique]").click()
    patient(browser, 10).until(lambda b: "vue=" not in b.current_url)
    assert not browser.find_elements(By.ID, "sinp-carte-vue-precise")
    logs = [e["message"] for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not [m for m in logs if base in m], logs
