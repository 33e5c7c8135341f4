"""sinp_taxon_search over the TAXREF extract that `make up` loads into the test database."""

from __future__ import annotations

import ckan.model as model
import pytest

from ckanext.sinp.referentials import taxref_store as store
from tests.conftest import ROOT

EXTRACT = ROOT / "schemas" / "referentiels" / "taxref" / "TAXREFv18_extrait_BFC.txt"


@pytest.fixture(autouse=True, scope="module")
def taxref_extract():
    """The extract that `make up` loads (idempotent: other tests may have replaced it)."""
    store.load_taxref(model.meta.engine, EXTRACT, "TAXREF v18 (extrait Bourgogne-Franche-Comté)")


def _search(app, **params):
    response = app.get("/api/3/action/sinp_taxon_search", query_string=params)
    return response.status_code, response.json


@pytest.mark.parametrize(
    "q, expected",
    [
        ("grand rhino", "Rhinolophus ferrumequinum"),
        ("Grand Rhinolophe", "Rhinolophus ferrumequinum"),
        ("sonneur à ventre jaune", "Bombina variegata"),
        ("cigogne noire", "Ciconia nigra"),
        ("60295", "Rhinolophus ferrumequinum"),
    ],
)
def test_the_public_finds_taxa_by_french_or_scientific_name_or_code(app, q, expected):
    status, body = _search(app, q=q, limit=5)
    assert status == 200, body
    assert body["result"], q
    assert body["result"][0]["nom_complet"].startswith(expected)


def test_accents_and_case_do_not_matter(app):
    _, with_accents = _search(app, q="Pie-grièche écorcheur")
    _, without = _search(app, q="pie grieche ecorcheur")
    assert [t["cd_nom"] for t in with_accents["result"]] == [t["cd_nom"] for t in without["result"]]
    assert with_accents["result"][0]["nom_complet"].startswith("Lanius collurio")


@pytest.mark.parametrize(
    "params, field",
    [({"q": "myotis", "limit": 0}, "limit"), ({"q": "myotis", "limit": "beaucoup"}, "limit"), ({"q": "x" * 201}, "q")],
)
def test_bad_parameters_get_a_french_error(app, params, field):
    status, body = _search(app, **params)
    assert status == 409
    assert body["error"][field][0].startswith(("« limit »", "La recherche"))


def test_too_short_a_query_finds_nothing(app):
    status, body = _search(app, q="m")
    assert status == 200 and body["result"] == []
