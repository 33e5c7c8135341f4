"""What a CA, a JDD and the catalogue say in DCAT-AP 3 (ckanext.sinp.domain.dcat, pure)."""

from __future__ import annotations

import json

import pytest

from ckanext.sinp.domain import dcat

SITE = "https://sinp.example.org/"
AUTHORITY = "http://publications.europa.eu/resource/authority/language/"

JDD = {
    "type": "jdd",
    "name": "comptages-chiropteres",
    "sinp_uuid": "5C2D8E1F-4A3B-4C6D-9E8F-0A1B2C3D4E5F",
    "cadre": "0F6E3B2A-91C4-4D7A-8B2E-3C5D6E7F8A90",
    "type_donnees": "1",
    "borne_ouest": "3.85",
    "borne_est": "4.35",
    "borne_sud": "46.95",
    "borne_nord": "47.45",
    "contacts_jdd": [{"organisme": "CEN", "mail": "c@cen.invalid", "role": "1"}, {"organisme": "Autre", "role": "3"}],
}
CA = {
    "type": "ca",
    "name": "ca-morvan",
    "sinp_uuid": "0F6E3B2A-91C4-4D7A-8B2E-3C5D6E7F8A90",
    "date_lancement": "2021-03-01",
}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("fre", "FRA"),
        ("fra", "FRA"),
        ("FR", "FRA"),
        ("dut", "NLD"),
        ("nld", "NLD"),
        ("eng", "ENG"),
        ("ger", "DEU"),
        ("deu", "DEU"),
        (" spa ", "SPA"),
        ("cze", "CES"),
        ("lat", "LAT"),
    ],
)
def test_language_codes_become_eu_authority_uris(code, expected):
    assert dcat.language_uri(code) == AUTHORITY + expected


@pytest.mark.parametrize("code", ["", None, "français", "x1", "zz", "f", "fr-FR", "<script>"])
def test_values_that_are_no_language_code_give_nothing(code):
    assert dcat.language_uri(code) is None


def test_language_lists_keep_order_without_repeats_or_unknown_values():
    assert dcat.language_uris(["fre", "fra", "dut", "??", "ger"]) == [
        AUTHORITY + "FRA",
        AUTHORITY + "NLD",
        AUTHORITY + "DEU",
    ]
    assert dcat.language_uris("fre;eng") == [AUTHORITY + "FRA", AUTHORITY + "ENG"]


def test_our_own_records_are_french():
    assert dcat.dcat_facts("jdd", JDD, CA, SITE)["languages"] == [AUTHORITY + "FRA"]


def test_a_harvested_record_says_its_source_languages_and_nothing_when_it_gave_none():
    origin = {"identifiant": "partner-1", "langues": ["dut", "ger"]}
    assert dcat.dcat_facts("jdd", {**JDD, "origine_iso": origin}, CA, SITE)["languages"] == [
        AUTHORITY + "NLD",
        AUTHORITY + "DEU",
    ]
    as_text = {**JDD, "origine_iso": json.dumps({**origin, "langues": ["eng"]})}  # as stored in the extra
    assert dcat.dcat_facts("jdd", as_text, CA, SITE)["languages"] == [AUTHORITY + "ENG"]
    assert dcat.dcat_facts("jdd", {**JDD, "origine_iso": {**origin, "langues": []}}, CA, SITE)["languages"] == []


def test_only_records_whose_source_says_so_are_not_republished():
    assert dcat.dcat_facts("jdd", JDD, CA, SITE)["republished"] is True
    origin = {"identifiant": "partner-1"}
    assert dcat.dcat_facts("jdd", {**JDD, "origine_iso": origin}, CA, SITE)["republished"] is True
    hidden = {**JDD, "origine_iso": {**origin, "republier": False}}
    assert dcat.dcat_facts("jdd", hidden, CA, SITE)["republished"] is False


def test_the_type_is_a_concept_of_the_sinp_scheme_on_our_site():
    jdd, ca = dcat.dcat_facts("jdd", JDD, CA, SITE)["type"], dcat.dcat_facts("ca", CA, None, SITE)["type"]
    assert jdd["uri"] == "https://sinp.example.org/jdd#concept" and jdd["label"] == "jeu de données"
    assert ca["uri"] == "https://sinp.example.org/ca#concept" and ca["label"] == "cadre d'acquisition"
    assert jdd["scheme"] == ca["scheme"] == "https://sinp.example.org/about#types-de-fiches"


def test_a_jdd_has_its_uuid_its_ca_its_box_and_the_ca_period():
    facts = dcat.dcat_facts("jdd", JDD, CA, SITE)
    assert facts["identifier"] == JDD["sinp_uuid"]
    assert facts["parent"] == CA["sinp_uuid"]
    assert facts["landing_page"] == "https://sinp.example.org/jdd/comptages-chiropteres"
    assert facts["bbox_wkt"] == "POLYGON((3.85 46.95,4.35 46.95,4.35 47.45,3.85 47.45,3.85 46.95))"
    assert facts["temporal"] == ("2021-03-01", None)
    assert facts["contacts"] == [{"name": "CEN", "email": "c@cen.invalid"}]


def test_a_record_without_box_or_parent_says_neither():
    facts = dcat.dcat_facts("ca", CA, None, SITE)
    assert facts["bbox"] is None and facts["bbox_wkt"] is None and facts["parent"] is None


def test_a_licence_is_said_only_when_known():
    assert dcat.dcat_facts("jdd", JDD, CA, SITE)["licence"] is None
    licensed = {**JDD, "license_id": "etalab-2.0", "license_url": "https://www.etalab.gouv.fr/licence-ouverte"}
    assert dcat.dcat_facts("jdd", licensed, CA, SITE)["licence"] == "https://www.etalab.gouv.fr/licence-ouverte"
    assert dcat.licence_uri({"license_id": "notspecified", "license_url": ""}) is None
    assert dcat.licence_uri({"license_id": "", "license_url": "https://example.org/l"}) is None
    assert dcat.licence_uri({"license_id": "x", "license_url": "javascript:alert(1)"}) is None


def test_the_catalogue_publisher_is_the_platform_and_its_language_comes_from_the_locale():
    contact = {"name": "Plateforme SINP BFC", "email": "sinp@region.invalid"}
    facts = dcat.catalog_facts(SITE, "fr", contact)
    assert facts["languages"] == [AUTHORITY + "FRA"]
    assert facts["publisher"] == {
        "uri": "https://sinp.example.org/about#plateforme",
        "name": "Plateforme SINP BFC",
        "email": "sinp@region.invalid",
    }
    assert dcat.catalog_facts(SITE, "en_GB", contact)["languages"] == [AUTHORITY + "ENG"]
    assert dcat.catalog_facts(SITE, None, {"name": "", "email": ""})["publisher"]["email"] is None
    assert dcat.catalog_facts(SITE, "", {})["languages"] == [AUTHORITY + "FRA"]


def test_distribution_formats_become_typed_uris_or_nothing():
    assert dcat.media_type_uri("text/CSV") == "https://www.iana.org/assignments/media-types/text/csv"
    assert dcat.media_type_uri("application/geo+json").endswith("/application/geo+json")
    assert dcat.media_type_uri("CSV") is None and dcat.media_type_uri("text/ csv") is None
    assert dcat.file_type_uri("csv") == "http://publications.europa.eu/resource/authority/file-type/CSV"
    assert dcat.file_type_uri("Shape file") == "http://publications.europa.eu/resource/authority/file-type/SHAPE_FILE"
    assert dcat.file_type_uri("<b>") is None and dcat.file_type_uri("") is None
