"""Schema and reference files are well-formed and consistent with each other."""
from __future__ import annotations

import json

import yaml

from tests.conftest import ROOT

CORE_KEYS = {"name", "title", "notes", "owner_org", "private", "license_id", "tag_string", "spatial"}


def _schema():
    return yaml.safe_load((ROOT / "schemas" / "dataset.yaml").read_text(encoding="utf-8"))


def test_dataset_schema_fields_have_french_labels():
    schema = _schema()
    assert schema["dataset_type"] == "dataset"
    for field in schema["dataset_fields"] + schema["resource_fields"]:
        assert field["label"]["fr"], field["field_name"]


def test_licenses_are_unique_and_include_the_licence_ouverte():
    licenses = json.loads((ROOT / "schemas" / "licenses.json").read_text(encoding="utf-8"))
    ids = [lic["id"] for lic in licenses]
    assert len(ids) == len(set(ids))
    assert "etalab-2.0" in ids


def test_demo_data_only_uses_schema_fields_and_known_licenses():
    fields = {f["field_name"] for f in _schema()["dataset_fields"]} | {"private"}
    licenses = {lic["id"] for lic in json.loads((ROOT / "schemas" / "licenses.json").read_text("utf-8"))}
    demo = ROOT / "ckanext-sinp" / "ckanext" / "sinp" / "demo"
    orgs = {o["name"] for o in json.loads((demo / "organizations.json").read_text("utf-8"))}
    for dataset in json.loads((demo / "datasets.json").read_text("utf-8")):
        assert set(dataset) <= fields, set(dataset) - fields
        assert dataset["license_id"] in licenses
        assert dataset["owner_org"] in orgs
        geometry = json.loads(dataset["spatial"])
        assert geometry["type"] == "Polygon"
