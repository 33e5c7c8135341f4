"""Datasets written through CKAN's actions reach Solr: text and map search."""

from __future__ import annotations

import json

import pytest
from ckan.tests import factories, helpers

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
