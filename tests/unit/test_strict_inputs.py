"""Strict inputs (issue 13, findings 5 and 12): booleans, texts, integers, MTD namespaces."""

from __future__ import annotations

import ckan.plugins.toolkit as tk
import pytest

from ckanext.sinp.domain import model, mtd
from ckanext.sinp.logic import inputs

UUID = "29A8E22C-6718-4786-850A-9E2722E41442"


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        (False, False),
        ("true", True),
        ("True", True),
        (" FALSE ", False),
        ("false", False),
        ("1", True),
        ("0", False),
        (1, True),
        (0, False),
    ],
)
def test_booleans_accept_true_false_and_1_0(value, expected):
    assert model.parse_boolean(value) is expected
    assert inputs.boolean(value, "private") is expected


@pytest.mark.parametrize(
    "value", ["oui", "vrai", "privé", "on", "off", "yes", "no", "maybe", "t", "", "2", 2, 1.0, None, [], {}, ["true"]]
)
def test_anything_else_is_refused_not_read_as_false(value):
    with pytest.raises(ValueError, match="booléenne"):
        model.parse_boolean(value)
    with pytest.raises(tk.ValidationError) as refused:
        inputs.boolean(value, "private")
    assert "« private » attend true ou false" in refused.value.error_dict["private"][0]


@pytest.mark.parametrize(
    "value, why",
    [
        ("a\x00b", "caractère nul"),
        ("\ud800", "demi-paire"),
        ("a\x1bb", "caractère de contrôle"),
        (["a"], "pas une liste"),
        ({"a": 1}, "pas un objet"),
        (3, "pas un nombre"),
        (True, "pas un booléen"),
        ("x" * 300, "trop long"),
    ],
)
def test_identifiers_are_one_line_texts(value, why):
    with pytest.raises(tk.ValidationError) as refused:
        inputs.check_identifier(value, "id")
    assert why in refused.value.error_dict["id"][0]


def test_an_identifier_refuses_a_direction_override_a_text_keeps_newlines():
    with pytest.raises(tk.ValidationError):
        inputs.check_identifier("abc\u202egpj.exe", "id")
    assert inputs.check_text("ligne 1\nligne 2\tfin", "notes") == "ligne 1\nligne 2\tfin"


@pytest.mark.parametrize("value, expected", [("10", 10), (10, 10), (10.0, 10), (" 7 ", 7), (None, 5), ("", 5)])
def test_integers(value, expected):
    assert inputs.integer({"offset": value}, "offset", 5) == expected


@pytest.mark.parametrize(
    "value", [1e20, "1e20", "99999999999999999999", 2**31, -1, 1.5, True, "abc", [], {}, float("nan"), float("inf")]
)
def test_integers_are_bounded_and_strict(value):
    with pytest.raises(tk.ValidationError) as refused:
        inputs.integer({"offset": value}, "offset", 0)
    assert "offset" in str(refused.value.error_dict)


def test_nested_bad_strings_are_found_with_their_path():
    assert inputs.bad_string_path({"a": [{"b": "x\x00"}]}) == ("a[0].b", "contient un caractère nul (NUL)")
    assert inputs.bad_string_path({"k\x00": 1})[1].startswith("contient un caractère nul")
    assert inputs.bad_string_path({"a": ["ok", 1, None, {"b": "é"}]}) is None


def test_quote_shortens_and_strips_controls():
    assert inputs.quote("a\x00b" + "c" * 100) == "a\ufffdb" + "c" * 57 + "…"


@pytest.mark.parametrize("namespace", ["urn:evil", "http://inpn.mnhn.fr/mtd/evil"])
def test_an_mtd_record_in_an_unknown_namespace_is_refused(namespace):
    doc = (
        f'<ca:CadreAcquisition xmlns:ca="{namespace}"><ca:identifiantCadre>{UUID}</ca:identifiantCadre>'
        "<ca:libelle>Cadre</ca:libelle></ca:CadreAcquisition>"
    )
    with pytest.raises(mtd.MtdError, match="espace de noms"):
        mtd.parse_document(doc)


def test_an_mtd_element_of_an_unknown_namespace_inside_a_record_is_refused():
    doc = (
        f'<ca:CadreAcquisition xmlns:ca="{mtd.MTD_NS}" xmlns:e="urn:evil"><ca:identifiantCadre>{UUID}'
        "</ca:identifiantCadre><e:libelle>Cadre</e:libelle></ca:CadreAcquisition>"
    )
    with pytest.raises(mtd.MtdError, match="urn:evil"):
        mtd.parse_document(doc)


def test_mtd_namespaces_of_both_versions_are_read():
    doc = (
        f'<ca:CadreAcquisition xmlns:ca="{mtd.MTD_NS}"><ca:identifiantCadre>{UUID}</ca:identifiantCadre>'
        "<ca:libelle>Cadre</ca:libelle></ca:CadreAcquisition>"
    )
    assert mtd.parse_document(doc)[0].title == "Cadre"
    legacy = (
        f'<m:JeuDeDonnees xmlns:m="{mtd.LEGACY_MTD_NS}"><m:identifiantJeuDeDonnees>{UUID}'
        "</m:identifiantJeuDeDonnees></m:JeuDeDonnees>"
    )
    assert mtd.parse_document(legacy)[0].uuid == UUID
