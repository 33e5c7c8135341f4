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


def test_demo_data_is_valid_sinp_metadata():
    from ckanext.sinp.domain import model

    licenses = {lic["id"] for lic in json.loads((ROOT / "schemas" / "licenses.json").read_text("utf-8"))}
    demo = ROOT / "ckanext-sinp" / "ckanext" / "sinp" / "demo"
    orgs = {o["name"] for o in json.loads((demo / "organizations.json").read_text("utf-8"))}
    records = json.loads((demo / "datasets.json").read_text("utf-8"))
    cas = {r["sinp_uuid"]: r for r in records if r["type"] == "ca"}
    assert any(r.get("est_meta_cadre") == "true" for r in cas.values())
    for record in records:
        known = {f.name for f in model.fields(record["type"])} | {
            "type",
            "name",
            "owner_org",
            "private",
            "license_id",
            "spatial",
        }
        assert set(record) <= known, set(record) - known
        assert model.validate_record(record["type"], model.apply_defaults(record["type"], record)) == {}, record["name"]
        assert record["owner_org"] in orgs
        assert record.get("license_id", "etalab-2.0") in licenses
        if record["type"] == "jdd":
            assert record["cadre"] in cas  # CA listed before their JDD
            assert list(cas).index(record["cadre"]) < records.index(record)
        if record.get("meta_cadre_parent"):
            assert cas[record["meta_cadre_parent"]]["est_meta_cadre"] == "true"
