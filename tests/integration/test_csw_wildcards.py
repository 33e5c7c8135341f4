"""Wildcard searches over our CSW as GeoNetwork, QGIS' MetaSearch and CQL users type them.

`PropertyIsLike` on AnyText, Title and Abstract honours the filter's wildCard / singleChar /
escapeChar (``%`` / ``_`` / ``\\`` in CQL), is accent- and case-insensitive, and a plain word on
AnyText stays a full-text search. Records are published through CKAN (a real jobs worker writes the
table) and searched on a real pycsw 2.6.2 (`pycsw_config/wsgi.py` + `sinp_wildcards.py`).
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import ckan.model as model
import pytest
import requests
import sqlalchemy as sa
from lxml import etree

from ckanext.sinp.csw import repository
from tests.integration.test_csw_publication import _ca, _jdd, _records, _wait, producer  # noqa: F401

NS = {
    "csw": "http://www.opengis.net/cat/csw/2.0.2",
    "gmd": "http://www.isotc211.org/2005/gmd",
    "gco": "http://www.isotc211.org/2005/gco",
    "ows": "http://www.opengis.net/ows",
}
GMD = "http://www.isotc211.org/2005/gmd"


@pytest.fixture
def catalogue(producer, test_csw):  # noqa: F811
    repository.ensure_table(model.meta.engine)  # the folded columns (`ckan sinp init-db` on upgrade)
    api, org = producer
    ca = _ca(api, org, private=False, title="Programme régional de suivi de la faune", notes="Cadre de test.")
    records = {
        "ca": ca,
        "chiro": _jdd(
            api,
            org,
            ca,
            private=False,
            title="Comptages hivernaux de Chiroptères",
            notes="Gîtes souterrains du Morvan, hiver 2024.",
        ),
        "odonates": _jdd(
            api,
            org,
            ca,
            private=False,
            title="Odonates des mares forestières",
            notes="Exuvies collectées en Bresse ; 100 % des mares prospectées.",
        ),
        "amphibiens": _jdd(
            api,
            org,
            ca,
            private=False,
            title="Amphibiens de l'étang « Les Brosses »",
            notes="Suivi des pontes de Rana dalmatina.",
        ),
        "private": _jdd(
            api,
            org,
            ca,
            title="Chiroptères des cavités (jeu privé)",
            notes="Données confidentielles : chiroptères et odonates.",
        ),
    }
    _wait(lambda: _records(test_csw)[0].get("numberOfRecordsMatched") == "4")
    return {name: record["sinp_uuid"] for name, record in records.items()}


def _post(csw, like, prop="csw:AnyText", **attrs):
    """GetRecords by POST with one ogc:PropertyIsLike, as GeoNetwork / MetaSearch send it."""
    attrs = {"wildCard": "%", "singleChar": "_", "escapeChar": "\\", **attrs}
    attributes = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<csw:GetRecords xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ogc="http://www.opengis.net/ogc"
    xmlns:gmd="{GMD}" service="CSW" version="2.0.2" resultType="results" startPosition="1" maxRecords="20"
    outputSchema="{GMD}">
  <csw:Query typeNames="gmd:MD_Metadata">
    <csw:ElementSetName>summary</csw:ElementSetName>
    <csw:Constraint version="1.1.0">
      <ogc:Filter>
        <ogc:PropertyIsLike {attributes}>
          <ogc:PropertyName>{prop}</ogc:PropertyName>
          <ogc:Literal>{escape(like)}</ogc:Literal>
        </ogc:PropertyIsLike>
      </ogc:Filter>
    </csw:Constraint>
  </csw:Query>
</csw:GetRecords>""".encode()
    response = requests.post(csw, data=body, headers={"Content-Type": "application/xml"}, timeout=30)
    return response


def _get_cql(csw, cql):
    return requests.get(
        csw,
        params={
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "typeNames": "gmd:MD_Metadata",
            "resultType": "results",
            "elementSetName": "summary",
            "outputSchema": GMD,
            "maxRecords": 20,
            "constraintLanguage": "CQL_TEXT",
            "constraint_language_version": "1.1.0",
            "constraint": cql,
        },
        timeout=30,
    )


def _found(response, catalogue):
    """Names (keys of ``catalogue``) of the records a GetRecords response lists; checks the counts."""
    assert response.status_code == 200, response.text[:500]
    root = etree.fromstring(response.content)
    assert root.tag == "{http://www.opengis.net/cat/csw/2.0.2}GetRecordsResponse", response.text[:500]
    results = root.find("csw:SearchResults", NS)
    ids = root.xpath("//gmd:MD_Metadata/gmd:fileIdentifier/gco:CharacterString/text()", namespaces=NS)
    assert int(results.get("numberOfRecordsMatched")) == int(results.get("numberOfRecordsReturned")) == len(ids)
    names = {identifier: name for name, identifier in catalogue.items()}
    return sorted(names.get(i, i) for i in ids)


def test_anytext_wildcards_find_substrings(catalogue, test_csw):
    assert _found(_post(test_csw, "%chiropt%"), catalogue) == ["chiro"]
    assert _found(_post(test_csw, "odon%"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "%mares forest%"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "%hivern%souterr%"), catalogue) == ["chiro"]
    assert _found(_post(test_csw, "%papillon%"), catalogue) == []


def test_the_filters_own_wildcard_single_char_and_escape_char(catalogue, test_csw):
    # GeoNetwork writes wildCard="*"
    assert _found(_post(test_csw, "*chiropt*", wildCard="*", singleChar="?", escapeChar="!"), catalogue) == ["chiro"]
    assert _found(_post(test_csw, "odonat?s*", wildCard="*", singleChar="?", escapeChar="!"), catalogue) == ["odonates"]
    # with wildCard="*", "%" is a plain character: « 100 % des mares » only
    assert _found(_post(test_csw, "*100 % des*", wildCard="*", singleChar="?"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "*100 % des chiro*", wildCard="*", singleChar="?"), catalogue) == []
    # single character: « _ » is one character, not zero nor two
    assert _found(_post(test_csw, "%chiropt_res%"), catalogue) == ["chiro"]
    assert _found(_post(test_csw, "%chiro_res%"), catalogue) == []
    # the escape character makes the wildcard literal
    assert _found(_post(test_csw, "%100 !%%", escapeChar="!"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "%100 \\% des%"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "%brosses\\_%"), catalogue) == []


def test_accents_and_case_do_not_matter(catalogue, test_csw):
    for pattern in ("%CHIROPTERES%", "%chiroptères%", "%ChIrOpTèReS%"):
        assert _found(_post(test_csw, pattern), catalogue) == ["chiro"], pattern
    assert _found(_post(test_csw, "%forestieres%"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "%GITES%"), catalogue) == ["chiro"]


def test_title_and_abstract_patterns_cover_the_whole_value(catalogue, test_csw):
    assert _found(_post(test_csw, "odonates des mares%", prop="dc:title"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "mares%", prop="dc:title"), catalogue) == []  # not a prefix of the title
    assert _found(_post(test_csw, "%mares%", prop="dc:title"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "comptages hivernaux de chiropteres", prop="apiso:Title"), catalogue) == ["chiro"]
    assert _found(_post(test_csw, "%l'etang « les brosses%", prop="dc:title"), catalogue) == ["amphibiens"]
    assert _found(_post(test_csw, "%rana dalmatina%", prop="dct:abstract"), catalogue) == ["amphibiens"]
    assert _found(_post(test_csw, "%RANA%", prop="apiso:Abstract"), catalogue) == ["amphibiens"]
    # matchCase="true": as written
    assert _found(_post(test_csw, "Odonates%", prop="dc:title", matchCase="true"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "odonates%", prop="dc:title", matchCase="true"), catalogue) == []


def test_a_plain_word_keeps_the_full_text_search(catalogue, test_csw):
    assert _found(_post(test_csw, "chiropteres"), catalogue) == ["chiro"]  # French stemming, no accent needed
    assert _found(_post(test_csw, "Odonates"), catalogue) == ["odonates"]
    assert _found(_post(test_csw, "odonate"), catalogue) == ["odonates"]  # stem, not substring
    assert _found(_post(test_csw, "odon"), catalogue) == []  # a plain word is a word, not a prefix


def test_cql_by_get(catalogue, test_csw):
    assert _found(_get_cql(test_csw, "AnyText like '%chiropt%'"), catalogue) == ["chiro"]
    assert _found(_get_cql(test_csw, "csw:AnyText like 'odon%'"), catalogue) == ["odonates"]
    assert _found(_get_cql(test_csw, "dc:title like 'AMPHIBIENS%'"), catalogue) == ["amphibiens"]
    assert _found(_get_cql(test_csw, "AnyText like '%chiroptères%' or AnyText like '%odonat%'"), catalogue) == [
        "chiro",
        "odonates",
    ]
    assert _found(_get_cql(test_csw, "AnyText like 'chiropteres'"), catalogue) == ["chiro"]


def test_a_private_record_is_never_found(catalogue, test_csw):
    for pattern in ("%chiropt%", "%cavit%", "%priv%", "%confidenti%", "%", "_%"):
        assert "private" not in _found(_post(test_csw, pattern), catalogue), pattern
        assert "private" not in _found(_post(test_csw, pattern, prop="dc:title"), catalogue), pattern
    assert _found(_post(test_csw, "%"), catalogue) == ["amphibiens", "ca", "chiro", "odonates"]
    assert _found(_post(test_csw, "%(jeu priv%", prop="dc:title"), catalogue) == []


LEAKS = ("select", "anytext", "sinp_csw", "psycopg2", "sqlalchemy", "traceback", "like ")


@pytest.mark.parametrize(
    "pattern",
    [
        "%",
        "%%%%%%%%",
        "_",
        "\\",
        "%\\",
        "'",
        "%'); DROP TABLE sinp_csw_record; --%",
        "%' OR '1'='1%",
        '%"; SELECT pg_sleep(5); --%',
        "%:pvalue0%",
        "%%(x)s%",
        "%" + "a%" * 240,
        "%" + "chiroptères " * 40 + "%",
    ],
)
def test_hostile_patterns_get_a_valid_csw_answer(catalogue, test_csw, pattern):
    for prop in ("csw:AnyText", "dc:title"):
        response = _post(test_csw, pattern, prop=prop)
        assert response.status_code == 200, response.text[:500]
        _found(response, catalogue)  # a valid GetRecordsResponse with consistent counts
        cql = _get_cql(test_csw, f"{prop} like '{pattern}'")
        assert cql.status_code == 200, cql.text[:500]
        assert etree.fromstring(cql.content).tag in (
            "{http://www.opengis.net/cat/csw/2.0.2}GetRecordsResponse",
            "{http://www.opengis.net/ows}ExceptionReport",
        )
    with model.meta.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sinp_csw_record")).scalar() == 4


def test_a_too_long_pattern_is_refused_in_french_without_sql(catalogue, test_csw):
    long = "a" * 1000  # more than sinp_wildcards.MAX_PATTERN_CHARS, less than a URL may hold
    for response in (_post(test_csw, f"%{long}%"), _get_cql(test_csw, f"AnyText like '%{long}%'")):
        assert response.status_code == 200
        root = etree.fromstring(response.content)
        assert root.tag == "{http://www.opengis.net/ows}ExceptionReport"
        text = " ".join(root.itertext()).lower()
        for leak in LEAKS:
            assert leak not in text, text[:500]
    assert "trop long" in " ".join(etree.fromstring(_post(test_csw, f"%{long}%").content).itertext())
