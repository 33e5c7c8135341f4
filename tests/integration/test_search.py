"""Datasets written through CKAN's actions reach Solr: text and map search."""

from __future__ import annotations

import copy
import json
import re

import pytest
from ckan.tests import factories, helpers

from tests.integration.conftest import search_count

DIJON = {"type": "Polygon", "coordinates": [[[4.9, 47.2], [5.2, 47.2], [5.2, 47.4], [4.9, 47.4], [4.9, 47.2]]]}


@pytest.mark.usefixtures("clean_db", "clean_index")
class TestSearch:
    def _dataset(self, **extra):
        org = factories.Organization()
        fields = {
            "name": "inventaire-amphibiens-cote-or",
            "title": "Inventaire des amphibiens de Côte-d'Or",
            "notes": "Suivi des mares et des crapauds accoucheurs.",
            "owner_org": org["id"],
            "private": False,
            "license_id": "etalab-2.0",
            "spatial": json.dumps(DIJON),
            **extra,
        }
        return helpers.call_action("package_create", context={"user": factories.Sysadmin()["name"]}, **fields)

    def test_a_created_dataset_is_found_by_text_search(self):
        created = self._dataset()
        result = helpers.call_action("package_search", q="amphibiens")
        assert [d["id"] for d in result["results"]] == [created["id"]]
        assert helpers.call_action("package_search", q="salamandre")["count"] == 0

    def test_a_created_dataset_is_found_by_bbox_search(self):
        created = self._dataset()
        inside = helpers.call_action("package_search", extras={"ext_bbox": "4.8,47.1,5.3,47.5"})
        assert [d["id"] for d in inside["results"]] == [created["id"]]
        outside = helpers.call_action("package_search", extras={"ext_bbox": "6.0,47.0,6.5,47.5"})
        assert outside["count"] == 0

    def test_a_private_dataset_is_not_found_anonymously(self):
        self._dataset(private=True)
        assert helpers.call_action("package_search", q="amphibiens", context={"ignore_auth": False})["count"] == 0

    def test_invalid_spatial_is_refused_in_french_and_nothing_is_stored(self, app):
        org = factories.Organization()
        admin = factories.SysadminWithToken()
        response = app.post(
            "/api/3/action/package_create",
            json={
                "name": "mauvaise-emprise",
                "title": "Mauvaise emprise",
                "owner_org": org["id"],
                "spatial": '{"type": "Point", "coordinates": [700000, 6600000]}',
            },
            headers={"Authorization": admin["token"]},
        )
        assert response.status_code == 409
        error = response.json["error"]
        assert "hors du système WGS 84" in error["spatial"][0]
        assert app.get("/api/3/action/package_show?id=mauvaise-emprise").status_code == 404
        assert helpers.call_action("package_search", q="name:mauvaise-emprise")["count"] == 0

    def test_dcat_catalog_lists_the_dataset(self, app):
        self._dataset()
        response = app.get("/catalog.ttl")
        assert response.status_code == 200
        assert "Inventaire des amphibiens de Côte-d'Or" in response.get_data(as_text=True)


# --- the search pages and record pages people use (#15) ------------------------------------------------

# idOrigine: (name, cd_nom, date, lon, lat, dSPublique, commune, statut bio, diffusion) as test_protection
DRAGONFLY = ("Leucorrhinia pectoralis", 65356, "2024-06-12", 5.0412, 47.3215, "Pu", "21231", "", "")
BAT = ("Myotis myotis", 60418, "2024-06-10", 5.0455, 47.3222, "Pu", "21231", "3", "")  # sensitive: blurred
KITE_HIDDEN = ("Milvus milvus", 2844, "2024-04-05", 5.0355, 47.3155, "Pr", "21231", "", "4")  # not diffused
ORCHID = ("Cypripedium calceolus", 94041, "2024-06-01", 5.0533, 47.3344, "Pu", "21231", "", "")


def morvan_records(app, private_jdd=False):
    """A producer (editor of its structure) with a published CA and a JDD (Morvan, 3.85–4.35 E, 46.95–47.45 N)."""
    from tests.integration.test_sinp_records import CA, JDD, Api

    producer = factories.UserWithToken()
    org = factories.Organization(
        users=[{"name": producer["name"], "capacity": "editor"}],
        title="Conservatoire d'espaces naturels de Bourgogne-Franche-Comté",
    )
    api = Api(app, producer["token"])
    ca = api.ok(
        "package_create", **{**copy.deepcopy(CA), "name": "ca-morvan", "owner_org": org["id"], "private": False}
    )
    jdd = api.ok(
        "package_create",
        **{
            **copy.deepcopy(JDD),
            "name": "jdd-morvan",
            "owner_org": org["id"],
            "cadre": ca["sinp_uuid"],
            "private": private_jdd,
        },
    )
    return producer, api, ca, jdd


def _page(app, url) -> str:
    response = app.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _text(html: str) -> str:
    """What a person reads: tags removed, entities decoded, spaces collapsed."""
    import html as html_lib
    import re

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", body)))


def _found(q: str, expected: int) -> list[str]:
    """The names package_search finds for ``q`` anonymously (waits for the reindex of a deposit)."""
    search_count(expected, q=q, context={"ignore_auth": False})
    return [d["name"] for d in helpers.call_action("package_search", q=q, context={"ignore_auth": False})["results"]]


@pytest.mark.usefixtures("clean_db", "clean_index")
class TestSearchPages:
    def test_types_told_apart_counted_and_faceted_for_each_page(self, app):
        morvan_records(app)
        everything = _text(_page(app, "/dataset/"))
        assert "2 fiches trouvées" in everything
        assert "1 cadre d'acquisition trouvé" in everything and "1 jeu de données trouvé" in everything
        # each result says what it is
        html = _page(app, "/dataset/")
        assert html.count('sinp-type-badge sinp-type-ca">Cadre d&#39;acquisition<') >= 1
        assert 'sinp-type-badge sinp-type-jdd">Jeu de données<' in html
        # a whole facet label, not CKAN's 22 characters and « … »
        assert "Conservatoire d'espaces naturels de Bourgogne-Franche-Comté" in _text(html)
        # years newest first: the CA runs 2021–2025
        years = re.findall(r"vocab_sinp_annee=(\d{4})", html)
        assert years[:5] == ["2025", "2024", "2023", "2022", "2021"], years

        ca_page = _text(_page(app, "/ca/"))
        assert "1 cadre d'acquisition trouvé" in ca_page
        for jdd_only in ("Type de données", "Objectif du jeu de données", "Type de fiche"):
            assert jdd_only not in ca_page
        jdd_page = _text(_page(app, "/jdd/"))
        assert "1 jeu de données trouvé" in jdd_page
        assert "Type de données" in jdd_page and "Objectif du jeu de données" in jdd_page
        assert "Type de fiche" not in jdd_page

    def test_a_facet_chosen_in_place_updates_the_counts_per_type_and_keeps_whole_labels(self, app):
        morvan_records(app)
        # CKAN's htmx request (a facet clicked): the results, the facets and the counts swapped in
        html = app.get("/dataset/?vocab_sinp_type=Jeu de données", headers={"HX-Request": "true"}).get_data(
            as_text=True
        )
        assert 'id="sinp-type-counts" hx-swap-oob="true"' in html and 'id="search-facets" hx-swap-oob="true"' in html
        text = _text(html)
        assert (
            "1 fiche trouvée" in text
            and "1 jeu de données trouvé" in text
            and "Aucun cadre d'acquisition trouvé" in text
        )
        assert "Conservatoire d'espaces naturels de Bourgogne-Franche-Comté" in text

    def test_the_map_search_widget_filters_by_the_drawn_box(self, app):
        morvan_records(app)  # the JDD's extent: 3.85–4.35 E, 46.95–47.45 N (Morvan)
        for url in ("/dataset/", "/ca/", "/jdd/"):
            html = _page(app, url)
            assert 'data-module="spatial-query"' in html, url
            assert "Filtrer par emprise" in _text(html), url
        inside = _text(_page(app, "/jdd/?ext_bbox=3.5,46.5,4.5,47.6"))
        assert "1 jeu de données trouvé" in inside and "Comptages hivernaux de chiroptères" in inside
        outside = _text(_page(app, "/jdd/?ext_bbox=6.5,47.0,7.0,47.5"))
        assert "Aucun jeu de données trouvé" in outside

    def test_a_bad_box_is_a_french_4xx_not_a_500(self, app):
        morvan_records(app)
        response = app.get("/jdd/?ext_bbox=nord,sud")
        assert response.status_code < 500

    def test_record_pages_show_labels_hide_empty_fields_and_map_the_extent(self, app):
        _, _, ca, jdd = morvan_records(app)
        page = _page(app, f"/jdd/{jdd['name']}")
        text = _text(page)
        assert "Emprise géographique" in text and 'data-module="dataset-map"' in page
        assert "Ce jeu de données est vide" not in text
        assert "Aucune donnée n'a encore été déposée dans ce jeu de données." in text
        for empty in (
            "Date de révision",
            "Protocoles",
            "Attributs additionnels",
            "Nom Prénom",
            "Précision géographique",
        ):
            assert f">{empty}<" not in page.replace("> ", ">").replace(" <", "<"), empty
        assert "Contact principal" in text  # the role, not « 1 »
        ca_text = _text(_page(app, f"/ca/{ca['name']}"))
        assert "1er mars 2021" in ca_text and "2021-03-01" not in ca_text  # dates in French
        assert "Ce jeu de données est vide" not in ca_text


@pytest.mark.usefixtures("clean_db", "clean_index")
class TestTaxonSearch:
    def test_a_jdd_is_found_by_the_public_taxa_of_its_data_and_follows_its_deposits(self, app, jobs_worker):
        from tests.integration.test_occurrence_deposits import upload, wait_report
        from tests.integration.test_protection import deposit_csv

        producer, api, _, jdd = morvan_records(app)
        cases = {"odo": DRAGONFLY, "bat": BAT, "kite": KITE_HIDDEN}
        resource = upload(app, producer["token"], jdd["id"], deposit_csv(cases))
        assert wait_report(api, resource["id"])["rows_accepted"] == 3

        assert _found("Leucorrhinia", 1) == ["jdd-morvan"]  # scientific name
        assert _found("Leucorrhine", 1) == ["jdd-morvan"]  # French name (TAXREF)
        assert _found("murin", 1) == ["jdd-morvan"]  # a sensitive taxon, diffused blurred: its name is public
        # a taxon whose presence is not diffused is not findable by name, scientific or French
        assert _found("Milvus", 0) == [] and _found("royal", 0) == []
        page = _text(_page(app, "/jdd/?q=Leucorrhinia"))
        assert "1 jeu de données trouvé pour « Leucorrhinia »" in page and "Comptages hivernaux" in page
        record = _text(_page(app, "/jdd/jdd-morvan"))
        assert "Ce jeu de données contient 2 observations que vous pouvez consulter" in record
        assert "Ce jeu de données est vide" not in record

        # the deposit replaced by another file: the index follows
        upload(app, producer["token"], jdd["id"], deposit_csv({"orchid": ORCHID}), resource_id=resource["id"])
        assert wait_report(api, resource["id"])["status"] == "done"
        assert _found("Cypripedium", 1) == ["jdd-morvan"]
        assert _found("Leucorrhinia", 0) == []

    def test_a_taxon_made_not_diffused_by_a_decision_is_no_longer_found(self, app, jobs_worker):
        """A chef de file's (here a sysadmin's) sensitivity decision hides a taxon: its JDD's search entry follows."""
        import sqlalchemy as sa
        from ckan import model

        from tests.integration.test_occurrence_deposits import upload, wait_report
        from tests.integration.test_protection import deposit_csv
        from tests.integration.test_sinp_records import Api

        producer, api, _, jdd = morvan_records(app)
        resource = upload(app, producer["token"], jdd["id"], deposit_csv({"odo": DRAGONFLY, "bat": BAT}))
        assert wait_report(api, resource["id"])["rows_accepted"] == 2
        assert _found("Leucorrhinia", 1) == ["jdd-morvan"]

        with model.meta.engine.connect() as conn:
            uuid = conn.execute(
                sa.text("SELECT id_sinp_occtax FROM sinp_occurrence WHERE id_origine = 'odo'")
            ).scalar_one()
        admin = Api(app, factories.SysadminWithToken()["token"])
        admin.ok("sinp_sensitivity_set", id_sinp_occtax=str(uuid), sensi_niveau="4", commentaire="station menacée")
        assert _found("Leucorrhinia", 0) == [] and _found("Leucorrhine", 0) == []
        assert _found("murin", 1) == ["jdd-morvan"]  # the other taxon is still there
