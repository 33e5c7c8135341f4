"""Rules of the SINP metadata standard 1.3.10 (§1.7) on CA and JDD, each with a valid and an invalid case."""

from __future__ import annotations

import copy

import pytest

from ckanext.sinp.domain import model

CA = {
    "title": "Inventaire des chiroptères du Morvan",
    "sinp_uuid": "0F6E3B2A-91C4-4D7A-8B2E-3C5D6E7F8A90",
    "notes": "Suivi des gîtes.",
    "objectifs": ["9"],
    "est_meta_cadre": "false",
    "niveau_territorial": "6",
    "territoires": ["METROP"],
    "date_lancement": "2021-03-01",
    "date_cloture": "2025-12-31",
    "acteurs": [
        {"organisme": "CEN BFC", "mail": "contact@cen.invalid", "role": "1"},
        {"organisme": "Région", "role": "2"},
    ],
    "date_creation_mtd": "2021-02-15",
}
JDD = {
    "title": "Comptages hivernaux",
    "sinp_uuid": "5C2D8E1F-4A3B-4C6D-9E8F-0A1B2C3D4E5F",
    "cadre": "0F6E3B2A-91C4-4D7A-8B2E-3C5D6E7F8A90",
    "libelle_court": "CHIRO_HIVER",
    "notes": "Comptages.",
    "type_donnees": "1",
    "objectif_jdd": "5.2",
    "domaine_terrestre": "true",
    "domaine_marin": "false",
    "territoires": ["METROP"],
    "borne_ouest": "3.85",
    "borne_est": "4.35",
    "borne_sud": "46.95",
    "borne_nord": "47.45",
    "contacts_jdd": [{"organisme": "CEN BFC", "role": "1"}],
    "date_creation": "2021-02-15",
}


def _errors(kind, base, **changes):
    record = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return model.validate_record(kind, record)


def test_valid_records_pass():
    assert _errors("ca", CA) == {}
    assert _errors("jdd", JDD) == {}


def test_every_field_of_the_schemas_has_a_french_label_and_an_mtd_element():
    for kind in model.KINDS:
        for f in model.fields(kind):
            assert f.label and f.mtd, f.name
            assert f.obligation in ("O", "R", "F", "OC"), f.name


@pytest.mark.parametrize(
    "kind, base, field",
    [
        ("ca", CA, "title"),
        ("ca", CA, "notes"),
        ("ca", CA, "objectifs"),
        ("ca", CA, "territoires"),
        ("ca", CA, "date_lancement"),
        ("ca", CA, "acteurs"),
        ("ca", CA, "niveau_territorial"),
        ("jdd", JDD, "libelle_court"),
        ("jdd", JDD, "type_donnees"),
        ("jdd", JDD, "objectif_jdd"),
        ("jdd", JDD, "cadre"),
        ("jdd", JDD, "contacts_jdd"),
        ("jdd", JDD, "territoires"),
    ],
)
def test_mandatory_fields(kind, base, field):
    errors = _errors(kind, base, **{field: None})
    assert "Champ obligatoire du standard SINP" in errors[field][0]


@pytest.mark.parametrize(
    "value, ok",
    [
        ("0F6E3B2A-91C4-4D7A-8B2E-3C5D6E7F8A90", True),
        ("0f6e3b2a-91c4-4d7a-8b2e-3c5d6e7f8a90", True),
        ("0F6E3B2A91C44D7A8B2E3C5D6E7F8A90", False),
        ("pas-un-uuid", False),
    ],
)
def test_uuid_well_formed(value, ok):
    assert ("sinp_uuid" not in _errors("ca", CA, sinp_uuid=value)) is ok


@pytest.mark.parametrize("roles, ok", [(["1", "2"], True), (["2", "3"], False), (["1", "1"], False)])
def test_ca_has_exactly_one_main_contact(roles, ok):
    actors = [{"organisme": f"Org {i}", "role": r} for i, r in enumerate(roles)]
    errors = _errors("ca", CA, acteurs=actors)
    assert ("acteurs" not in errors) is ok
    if not ok:
        assert "exactement un contact principal" in errors["acteurs"][0]


@pytest.mark.parametrize("roles, ok", [(["1"], True), (["1", "1", "6"], True), (["5", "6"], False)])
def test_jdd_has_at_least_one_main_contact(roles, ok):
    contacts = [{"organisme": "Org", "role": r} for r in roles]
    assert ("contacts_jdd" not in _errors("jdd", JDD, contacts_jdd=contacts)) is ok


@pytest.mark.parametrize(
    "field, value, ok",
    [
        ("niveau_territorial", "5", True),
        ("niveau_territorial", "12", False),
        ("objectifs", ["8", "10"], True),
        ("objectifs", ["8", "99"], False),
        ("territoires", ["METROP", "GUF"], True),
        ("territoires", ["MARS"], False),
        ("type_financement", "1", True),
        ("type_financement", "9", False),
        ("volets_sinp", ["1", "2"], True),
        ("volets_sinp", ["4"], False),
    ],
)
def test_ca_codes_are_within_their_nomenclature(field, value, ok):
    errors = _errors("ca", CA, **{field: value})
    assert (field not in errors) is ok
    if not ok:
        assert "n'existe pas dans la nomenclature" in errors[field][0]


@pytest.mark.parametrize(
    "field, value, ok",
    [
        ("type_donnees", "2", True),
        ("type_donnees", "9", False),
        ("objectif_jdd", "3.6", True),
        ("objectif_jdd", "3.9", False),
        ("methodes_recueil", ["1", "3"], True),
        ("methodes_recueil", ["13"], False),
    ],
)
def test_jdd_codes_are_within_their_nomenclature(field, value, ok):
    assert (field not in _errors("jdd", JDD, **{field: value})) is ok


def test_actor_role_and_protocol_type_are_checked():
    errors = _errors("ca", CA, acteurs=[{"organisme": "CEN", "role": "1"}, {"organisme": "X", "role": "42"}])
    assert "Acteurs n° 2" in errors["acteurs"][0]
    errors = _errors("jdd", JDD, protocoles=[{"libelle": "Filet", "type": "9"}])
    assert "Protocoles n° 1" in errors["protocoles"][0]


def test_actor_needs_a_name_or_an_organisation_and_a_valid_email():
    errors = _errors("ca", CA, acteurs=[{"role": "1", "mail": "pas-un-courriel"}])
    assert any("indiquez un organisme ou un nom" in m for m in errors["acteurs"])
    assert any("n'est pas une adresse électronique valide" in m for m in errors["acteurs"])


@pytest.mark.parametrize(
    "start, end, ok",
    [
        ("2021-03-01", "2025-12-31", True),
        ("2021-03-01", "2021-03-01", True),
        ("2021-03-01", "2020-12-31", False),
    ],
)
def test_end_date_not_before_start_date(start, end, ok):
    errors = _errors("ca", CA, date_lancement=start, date_cloture=end)
    assert ("date_cloture" not in errors) is ok


def test_dates_must_be_dates():
    assert "n'est pas une date" in _errors("ca", CA, date_lancement="31/12/2021")["date_lancement"][0]


@pytest.mark.parametrize(
    "box, field",
    [
        ({"borne_sud": "47.5", "borne_nord": "47.0"}, "borne_sud"),
        ({"borne_ouest": "4.5", "borne_est": "4.0"}, "borne_ouest"),
        ({"borne_nord": "95"}, "borne_nord"),
        ({"borne_est": "181"}, "borne_est"),
        ({"borne_nord": None}, "borne_nord"),
        ({"borne_ouest": "quatre"}, "borne_ouest"),
    ],
)
def test_bbox_ordered_within_wgs84_and_complete(box, field):
    assert field in _errors("jdd", JDD, **box)


def test_name_lengths():
    assert "title" not in _errors("jdd", JDD, title="x" * 150)
    assert "150 au plus" in _errors("jdd", JDD, title="x" * 151)["title"][0]
    assert "libelle_court" not in _errors("jdd", JDD, libelle_court="x" * 30)
    assert "30 au plus" in _errors("jdd", JDD, libelle_court="x" * 31)["libelle_court"][0]


def test_a_ca_cannot_be_its_own_meta_cadre():
    errors = _errors("ca", CA, meta_cadre_parent=CA["sinp_uuid"].lower())
    assert "son propre méta-cadre" in errors["meta_cadre_parent"][0]


def test_bbox_geometry_for_the_map_search():
    assert model.bbox_geometry(JDD)["type"] == "Polygon"
    assert model.bbox_geometry({**JDD, "borne_nord": None}) is None


def test_completeness_counts_mandatory_and_recommended_fields():
    full = model.completeness("ca", CA)
    empty = model.completeness("ca", {})
    assert empty["filled"] == 0 and empty["total"] == full["total"]
    assert 0 < full["filled"] < full["total"]
    assert "Type de financement" in full["missing"]
    assert full["missing_mandatory"] == []
