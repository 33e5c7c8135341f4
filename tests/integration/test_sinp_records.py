"""CA and JDD through CKAN's API as producers and the public use it: rules, links, rights, search."""

from __future__ import annotations

import copy
import uuid

import pytest
from ckan.tests import factories

CA = {
    "type": "ca",
    "title": "Inventaire des chiroptères du Morvan",
    "notes": "Suivi des gîtes d'hibernation.",
    "objectifs": ["9"],
    "volets_sinp": ["1"],
    "est_meta_cadre": "false",
    "niveau_territorial": "6",
    "territoires": ["METROP"],
    "date_lancement": "2021-03-01",
    "date_cloture": "2025-12-31",
    "acteurs": [
        {
            "organisme": "CEN Bourgogne-Franche-Comté",
            "nom_prenom": "MARTIN Claire",
            "mail": "c.martin@cen.invalid",
            "role": "1",
        },
        {"organisme": "Parc naturel régional du Morvan", "role": "3"},
    ],
}
JDD = {
    "type": "jdd",
    "title": "Comptages hivernaux de chiroptères",
    "libelle_court": "CHIRO_HIVER",
    "notes": "Comptages en gîtes souterrains.",
    "type_donnees": "1",
    "objectif_jdd": "5.2",
    "domaine_terrestre": "true",
    "domaine_marin": "false",
    "territoires": ["METROP"],
    "borne_ouest": "3.85",
    "borne_est": "4.35",
    "borne_sud": "46.95",
    "borne_nord": "47.45",
    "contacts_jdd": [{"organisme": "CEN Bourgogne-Franche-Comté", "role": "1"}],
}


class Api:
    """Calls CKAN's action API over the in-process app, as a given user (or anonymously)."""

    def __init__(self, app, token=None):
        self.app, self.token = app, token

    def post(self, action, **data):
        headers = {"Authorization": self.token} if self.token else {}
        response = self.app.post(f"/api/3/action/{action}", json=data, headers=headers)
        return response.status_code, response.json

    def ok(self, action, **data):
        status, body = self.post(action, **data)
        assert status == 200, body
        return body["result"]

    def get(self, action, **params):
        headers = {"Authorization": self.token} if self.token else {}
        response = self.app.get(f"/api/3/action/{action}", query_string=params, headers=headers)
        return response.status_code, response.json


@pytest.fixture
def producer(app, clean_db, clean_index):
    """A producer (editor of its structure) with its organisation."""
    user = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": user["name"], "capacity": "editor"}], title="CEN Bourgogne-Franche-Comté"
    )
    return Api(app, user["token"]), org


@pytest.fixture
def other_producer(app, producer):
    user = factories.UserWithToken()
    org = factories.Organization(users=[{"name": user["name"], "capacity": "editor"}], title="Observatoire de la faune")
    return Api(app, user["token"]), org


@pytest.fixture
def public(app):
    return Api(app)


def _messages(error) -> list[str]:
    """Every message of a field's error, also those nested per block of a repeating field."""
    if isinstance(error, str):
        return [error]
    if isinstance(error, dict):
        return [m for value in error.values() for m in _messages(value)]
    return [m for value in error or [] for m in _messages(value)]


def _ca(api, org, **changes):
    data = {**copy.deepcopy(CA), "name": f"ca-{uuid.uuid4().hex[:8]}", "owner_org": org["id"], **changes}
    return api.ok("package_create", **data)


def _jdd(api, org, ca, **changes):
    data = {
        **copy.deepcopy(JDD),
        "name": f"jdd-{uuid.uuid4().hex[:8]}",
        "owner_org": org["id"],
        "cadre": ca["sinp_uuid"],
        **changes,
    }
    return api.ok("package_create", **data)


# --- identifiers, defaults, publication ---------------------------------------------------


def test_a_new_record_gets_an_upper_case_uuid_and_stays_private(producer, public):
    api, org = producer
    ca = _ca(api, org)
    assert ca["private"] is True
    assert ca["sinp_uuid"] == ca["sinp_uuid"].upper() and len(ca["sinp_uuid"]) == 36
    assert ca["date_creation_mtd"]  # filled on creation
    status, _ = public.get("package_show", id=ca["name"])
    assert status == 404  # a private record is, for the public, an unknown one
    assert public.ok("package_search", q=ca["title"])["count"] == 0


def test_a_received_uuid_is_kept_and_survives_an_update(producer):
    api, org = producer
    given = "0f6e3b2a-91c4-4d7a-8b2e-3c5d6e7f8a90"
    ca = _ca(api, org, sinp_uuid=given)
    assert ca["sinp_uuid"] == given.upper()
    updated = api.ok("package_patch", id=ca["id"], title="Nouveau titre")
    assert updated["sinp_uuid"] == given.upper()
    data = {k: v for k, v in updated.items() if k != "sinp_uuid"}
    assert api.ok("package_update", **data)["sinp_uuid"] == given.upper()


def test_uuid_must_be_unique(producer):
    api, org = producer
    ca = _ca(api, org)
    status, body = api.post(
        "package_create", **{**CA, "name": "doublon", "owner_org": org["id"], "sinp_uuid": ca["sinp_uuid"].lower()}
    )
    assert status == 409
    assert "déjà celui d'un autre enregistrement" in body["error"]["sinp_uuid"][0]


def test_publishing_is_setting_private_false(producer, public):
    api, org = producer
    ca = _ca(api, org)
    api.ok("package_patch", id=ca["id"], private=False)
    assert public.ok("package_show", id=ca["name"])["sinp_uuid"] == ca["sinp_uuid"]
    assert public.ok("package_search", q="chiroptères Morvan")["count"] == 1


# --- validation: 409, per-field French messages, nothing stored ------------------------------


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"acteurs": [{"organisme": "A", "role": "2"}]}, "acteurs", "exactement un contact principal"),
        (
            {"acteurs": [{"organisme": "A", "role": "1"}, {"organisme": "B", "role": "1"}]},
            "acteurs",
            "exactement un contact principal",
        ),
        ({"niveau_territorial": "12"}, "niveau_territorial", "n'existe pas dans la nomenclature"),
        ({"objectifs": ["8", "42"]}, "objectifs", "n'existe pas dans la nomenclature"),
        ({"date_cloture": "2020-01-01"}, "date_cloture", "antérieure à la date de lancement"),
        ({"sinp_uuid": "pas-un-uuid"}, "sinp_uuid", "n'est pas un UUID valide"),
        ({"territoires": []}, "territoires", "Champ obligatoire"),
        ({"title": "x" * 256}, "title", "255 au plus"),
    ],
)
def test_invalid_ca_is_refused_in_french_and_not_stored(producer, changes, field, message):
    api, org = producer
    status, body = api.post("package_create", **{**CA, "name": "refuse", "owner_org": org["id"], **changes})
    assert status == 409, body
    assert any(message in m for m in _messages(body["error"][field])), body["error"]
    assert api.post("package_show", id="refuse")[0] == 404


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"contacts_jdd": [{"organisme": "A", "role": "6"}]}, "contacts_jdd", "au moins un point de contact"),
        ({"libelle_court": "x" * 31}, "libelle_court", "30 au plus"),
        ({"title": "x" * 151}, "title", "150 au plus"),
        ({"borne_sud": "48", "borne_nord": "47"}, "borne_sud", "au nord de la borne nord"),
        ({"borne_est": "200"}, "borne_est", "hors du système WGS 84"),
        ({"type_donnees": "9"}, "type_donnees", "n'existe pas dans la nomenclature"),
        ({"cadre": "11111111-2222-4333-8444-555555555555"}, "cadre", "Aucun cadre d'acquisition"),
    ],
)
def test_invalid_jdd_is_refused_in_french_and_not_stored(producer, changes, field, message):
    api, org = producer
    ca = _ca(api, org)
    data = {**JDD, "name": "refuse", "owner_org": org["id"], "cadre": ca["sinp_uuid"], **changes}
    status, body = api.post("package_create", **data)
    assert status == 409, body
    assert any(message in m for m in _messages(body["error"][field])), body["error"]
    assert api.post("package_show", id="refuse")[0] == 404


def test_a_jdd_cannot_reference_a_ca_its_producer_may_not_see(producer, other_producer):
    api, org = producer
    other_api, other_org = other_producer
    hidden_ca = _ca(other_api, other_org)  # private, of another structure
    status, body = api.post(
        "package_create", **{**JDD, "name": "jdd-x", "owner_org": org["id"], "cadre": hidden_ca["sinp_uuid"]}
    )
    assert status == 409
    assert "Aucun cadre d'acquisition" in body["error"]["cadre"][0]


def test_a_meta_cadre_parent_must_be_a_meta_cadre(producer):
    api, org = producer
    plain = _ca(api, org)
    status, body = api.post(
        "package_create", **{**CA, "name": "enfant", "owner_org": org["id"], "meta_cadre_parent": plain["sinp_uuid"]}
    )
    assert status == 409
    assert "n'est pas un méta-cadre" in body["error"]["meta_cadre_parent"][0]
    meta = _ca(api, org, est_meta_cadre="true")
    child = _ca(api, org, meta_cadre_parent=meta["sinp_uuid"])
    assert child["meta_cadre_parent"] == meta["sinp_uuid"]


# --- the CA <-> JDD link ------------------------------------------------------------------------


def test_ca_and_jdd_pages_link_both_ways(app, producer):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd1 = _jdd(api, org, ca, private=False, title="Captures au filet")
    jdd2 = _jdd(api, org, ca, private=False, title="Comptages en gîtes")
    page = app.get(f"/ca/{ca['name']}").get_data(as_text=True)
    assert "Jeux de données de ce cadre" in page
    assert f"/jdd/{jdd1['name']}" in page and f"/jdd/{jdd2['name']}" in page
    assert '<span class="badge">2</span>' in page
    jdd_page = app.get(f"/jdd/{jdd1['name']}").get_data(as_text=True)
    assert f"/ca/{ca['name']}" in jdd_page and ca["title"] in jdd_page
    assert "Complétude de la fiche" in jdd_page


def test_the_public_ca_page_does_not_list_private_jdd(app, producer):
    api, org = producer
    ca = _ca(api, org, private=False)
    _jdd(api, org, ca, title="Brouillon non publié")
    page = app.get(f"/ca/{ca['name']}").get_data(as_text=True)
    assert "Brouillon non publié" not in page
    assert '<span class="badge">0</span>' in page


def test_deleting_a_ca_that_has_jdd_is_refused(producer):
    api, org = producer
    ca = _ca(api, org)
    jdd = _jdd(api, org, ca)
    status, body = api.post("package_delete", id=ca["id"])
    assert status == 409
    assert "encore 1 jeu de données" in body["error"]["id"][0]
    assert api.ok("package_show", id=ca["id"])["state"] == "active"
    api.ok("package_delete", id=jdd["id"])
    api.ok("package_delete", id=ca["id"])


# --- producers' rights -------------------------------------------------------------------------------


def test_producers_edit_only_their_structure_records(producer, other_producer):
    api, org = producer
    other_api, _ = other_producer
    ca = _ca(api, org)
    status, _ = other_api.post("package_patch", id=ca["id"], title="Piraté")
    assert status == 404  # private: another producer may not even know it exists
    published = _ca(api, org, private=False)
    status, _ = other_api.post("package_patch", id=published["id"], title="Piraté")
    assert status == 403  # readable, not writable
    assert api.ok("package_show", id=ca["id"])["title"] == CA["title"]
    sysadmin = factories.SysadminWithToken()
    admin_api = Api(api.app, sysadmin["token"])
    assert admin_api.ok("package_patch", id=ca["id"], title="Corrigé")["title"] == "Corrigé"


# --- public search -----------------------------------------------------------------------------------


def test_search_facets_and_actor_names(producer, public):
    api, org = producer
    ca = _ca(api, org, private=False)
    _jdd(api, org, ca, private=False)
    facets = [
        "vocab_sinp_type",
        "vocab_sinp_territoire",
        "vocab_sinp_volet",
        "vocab_sinp_type_donnees",
        "vocab_sinp_objectif_jdd",
        "vocab_sinp_annee",
        "organization",
    ]
    status, body = public.get("package_search", **{"facet.field": str(facets).replace("'", '"')})
    result = body["result"]
    assert result["count"] == 2
    assert result["facets"]["vocab_sinp_type"] == {"Cadre d'acquisition": 1, "Jeu de données": 1}
    assert result["facets"]["vocab_sinp_territoire"] == {"Métropole": 2}
    assert result["facets"]["vocab_sinp_volet"] == {"Terre": 2}  # the JDD inherits its CA's volets
    assert result["facets"]["vocab_sinp_type_donnees"] == {"Occurrences de Taxons": 1}
    assert set(result["facets"]["vocab_sinp_annee"]) == {"2021", "2022", "2023", "2024", "2025"}
    # full text over actor names
    assert public.ok("package_search", q="MARTIN")["count"] == 1
    assert public.ok("package_search", q="Parc naturel régional")["count"] == 1
    # filtered by a facet value
    assert public.ok("package_search", fq='vocab_sinp_type:"Jeu de données"')["count"] == 1


def test_map_search_on_the_jdd_extent(producer, public):
    api, org = producer
    ca = _ca(api, org, private=False)
    jdd = _jdd(api, org, ca, private=False)
    inside = public.ok("package_search", ext_bbox="4.0,47.0,4.2,47.2")
    assert [d["id"] for d in inside["results"]] == [jdd["id"]]
    assert public.ok("package_search", ext_bbox="6.0,47.0,6.5,47.5")["count"] == 0


def test_dcat_lists_public_records_with_sinp_identifiers_not_private_ones(app, producer):
    api, org = producer
    ca = _ca(api, org, private=False)
    _jdd(api, org, ca, private=False)
    _jdd(api, org, ca, title="Jeu privé à ne pas publier")
    ttl = app.get("/catalog.ttl").get_data(as_text=True)
    assert f'dct:identifier "{ca["sinp_uuid"]}"' in ttl
    assert "Comptages hivernaux de chiroptères" in ttl
    assert "Jeu privé à ne pas publier" not in ttl
    assert 'dcat:startDate "2021-03-01"^^xsd:date' in ttl
    assert "POLYGON((3.85 46.95" in ttl
    assert "c.martin@cen.invalid" in ttl
