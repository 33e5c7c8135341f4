"""Translation of CSW PropertyIsLike patterns (pycsw_config/sinp_wildcards.py, loaded by path: it runs
in pycsw's virtualenv)."""

from __future__ import annotations

import importlib.util

import pytest
from lxml import etree

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("sinp_wildcards", ROOT / "pycsw_config" / "sinp_wildcards.py")
wildcards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wildcards)


@pytest.mark.parametrize(
    ("literal", "attrs", "substring", "expected"),
    [
        ("%chiropt%", {}, True, ("%chiropt%", True)),
        ("odon%", {}, True, ("%odon%", True)),
        ("odon%", {}, False, ("odon%", True)),
        ("chiropt*", {"wild_card": "*"}, False, ("chiropt%", True)),
        ("chiropt_res", {}, False, ("chiropt_res", True)),
        ("chiropt?res", {"single_char": "?"}, False, ("chiropt_res", True)),
        ("100!%%", {"escape_char": "!"}, False, ("100\\%%", True)),
        ("chiroptères", {}, True, ("%chiroptères%", False)),
        ("%%%%", {}, True, ("%", True)),
        ("l'a%", {}, False, ("l\\'a%", True)),
        ("5\\%", {}, True, ("%5\\%%", False)),
        ("％", {}, True, ("%\\％%", False)),
        ("", {}, True, ("%", False)),
        (None, {}, False, ("", False)),
    ],
)
def test_like_pattern(literal, attrs, substring, expected):
    assert wildcards.like_pattern(literal, substring=substring, **attrs) == expected


def test_hostile_literals_are_refused_in_french():
    with pytest.raises(wildcards.PatternError, match="trop long"):
        wildcards.like_pattern("a" * (wildcards.MAX_PATTERN_CHARS + 1))
    with pytest.raises(wildcards.PatternError, match="NUL"):
        wildcards.like_pattern("a\x00%")


MAPPINGS = {"pycsw:AnyText": "anytext", "pycsw:Title": "title", "pycsw:Abstract": "abstract"}
FOLDED = {"pycsw:AnyText": "anytext_folded", "pycsw:Title": "title_folded", "pycsw:Abstract": "abstract_folded"}
QUERYABLES = {"csw:AnyText": {"dbcol": "anytext"}, "dc:title": {"dbcol": "title"}, "dc:type": {"dbcol": "type"}}


def _filter(prop, literal, **attrs):
    return etree.fromstring(
        f'<ogc:Filter xmlns:ogc="{wildcards.OGC}"><ogc:PropertyIsLike {" ".join(f"{k}={v!r}" for k, v in attrs.items())}>'
        f"<ogc:PropertyName>{prop}</ogc:PropertyName><ogc:Literal>{literal}</ogc:Literal>"
        "</ogc:PropertyIsLike></ogc:Filter>"
    )


def _like(element):
    like = element.find(f"{{{wildcards.OGC}}}PropertyIsLike")
    return like.findtext(f"{{{wildcards.OGC}}}PropertyName"), like.findtext(f"{{{wildcards.OGC}}}Literal"), like


def test_rewriter_targets_anytext_with_wildcards_title_and_abstract_only():
    rw = wildcards.Rewriter(MAPPINGS, FOLDED, "sinp_csw_fold")
    original = _filter("csw:AnyText", "odon*", wildCard="*", singleChar="?", escapeChar="!")
    name, literal, like = _like(rw.rewrite(original, QUERYABLES))
    assert (name, literal, like.get("wildCard")) == ("sinp:folded:anytext_folded", "%odon%", "%")
    assert _like(original)[1] == "odon*"  # the client's element is left alone

    plain = _filter("csw:AnyText", "chiropteres")
    assert rw.rewrite(plain, QUERYABLES) is plain  # full-text search
    other = _filter("dc:type", "data%")
    assert rw.rewrite(other, QUERYABLES) is other
    assert _like(rw.rewrite(_filter("dc:title", "Odonates"), QUERYABLES))[:2] == (
        "sinp:folded:title_folded",
        "Odonates",
    )
    name, literal, like = _like(rw.rewrite(_filter("dc:title", "Odon%", matchCase="true"), QUERYABLES))
    assert (name, literal, like.get("matchCase")) == ("dc:title", "Odon%", "true")

    where = "anytext_folded like :pvalue0 and title_folded is null or not title_folded like :pvalue12"
    assert rw.fold_sql(where) == (
        "anytext_folded like sinp_csw_fold(:pvalue0) and title_folded is null or not "
        "title_folded like sinp_csw_fold(:pvalue12)"
    )


def test_unprefixed_queryable_names_as_cql_users_write_them():
    rw = wildcards.Rewriter(MAPPINGS, FOLDED, "sinp_csw_fold")
    queryables = rw.queryables(
        {**QUERYABLES, "apiso:AnyText": {"dbcol": "anytext"}, "a:Thing": {"dbcol": "x"}, "b:Thing": {"dbcol": "y"}}
    )
    assert queryables["AnyText"] == {"dbcol": "anytext"}
    assert queryables["title"] == {"dbcol": "title"}
    assert "Thing" not in queryables  # ambiguous
