"""Our ISO 19139 of a harvested record (one with ``origine_iso``): it says what the source said and
nothing else (no licence, access statement, language, date or topic category of our own), stays
XSD-valid, and, when republished, keeps the source's fileIdentifier, dateStamp and a link to the
source record (issue #19 items 2 and 6)."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest
from lxml import etree

from ckanext.sinp.domain import iso
from tests.iso_xsd import iso19139_schema

NS = {"gmd": iso.GMD, "gco": iso.GCO, "gmx": iso.GMX, "gml": iso.GML, "xlink": iso.XLINK}
HARVEST_DAY = dt.datetime(2026, 12, 2, 9, 30, 0)
LINEAGE = "Numérisation des plans de zonage du PLU approuvé. " * 50  # a long statement, kept whole

ORIGIN = {
    "identifiant": "fr-000019182-CC20150517",
    "norme": "ISO 19139",
    "niveau": "dataset",
    "date_fiche": "2021-06-14T08:12:00",
    "langue_fiche": "dut",
    "langues": ["dut", "fre"],
    "jeu_caracteres": "utf8",
    "titre_alternatif": ["Plan local d'urbanisme de la commune de Saint-Exemple, révision générale de 2015"],
    "identifiants_ressource": [{"code": "CC20150517", "espace": "fr-000019182"}],
    "themes_inspire": [{"libelle": "Usage des sols", "uri": "http://inspire.ec.europa.eu/theme/lu"}],
    "mots_cles": [
        {
            "mot": "Usage des sols",
            "uri": "http://inspire.ec.europa.eu/theme/lu",
            "type": "theme",
            "thesaurus": "GEMET - INSPIRE themes, version 1.0",
            "thesaurus_uri": "http://www.eionet.europa.eu/gemet/inspire_themes",
            "thesaurus_date": "2008-06-01",
        },
        {"mot": "PLU", "uri": "", "type": "", "thesaurus": "", "thesaurus_uri": "", "thesaurus_date": ""},
        {"mot": "urbanisme", "uri": "", "type": "", "thesaurus": "", "thesaurus_uri": "", "thesaurus_date": ""},
        {
            "mot": "Local",
            "uri": "http://inspire.ec.europa.eu/metadata-codelist/SpatialScope/local",
            "type": "",
            "thesaurus": "Portée géographique",
            "thesaurus_uri": "http://inspire.ec.europa.eu/metadata-codelist/SpatialScope",
            "thesaurus_date": "2019-05-22",
        },
    ],
    "categories": ["planningCadastre", "environment"],
    "genealogie": LINEAGE,
    "contraintes": {
        "limitations": ["Usage soumis au code de l'urbanisme"],
        "acces": ["otherRestrictions"],
        "usage": [],
        "autres": [
            {
                "texte": "Pas de restriction d'accès public selon INSPIRE",
                "uri": "http://inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/noLimitations",
            }
        ],
        "classification": "",
    },
    "ressources": [
        {
            "url": "https://geo.exemple.fr/wms?service=WMS&request=GetCapabilities",
            "protocole": "OGC:WMS",
            "nom": "zonage_plu",
            "description": "Zonage du PLU",
            "fonction": "",
        },
        {
            "url": "https://geo.exemple.fr/plu.zip",
            "protocole": "WWW:DOWNLOAD-1.0-http--download",
            "nom": "plu.zip",
            "description": "",
            "fonction": "download",
        },
    ],
    "periode": {"debut": "2015-05-17", "fin": "ouvert"},
    "dates": {"publication": "2015-05-17", "revision": "2019-02-01"},
    "parties": [
        {
            "organisme": "Commune de Saint-Exemple",
            "personne": "",
            "mail": "urbanisme@saint-exemple.fr",
            "role_iso": "owner",
            "role_sinp": "6",
            "portee": "ressource",
        },
        {
            "organisme": "DDT du Doubs",
            "personne": "",
            "mail": "ddt@doubs.gouv.fr",
            "role_iso": "pointOfContact",
            "role_sinp": "",
            "portee": "metadonnees",
        },
    ],
    "catalogue": "https://catalogue.exemple.fr/csw",
    "fiche": "https://catalogue.exemple.fr/csw?service=CSW&version=2.0.2&request=GetRecordById&id=fr-000019182-CC20150517",
    "republier": True,
}

RECORD = {
    "type": "jdd",
    "name": "plan-local-d-urbanisme-1b4e28ba",
    "title": "Plan local d'urbanisme de Saint-Exemple",
    "notes": "Zonage et règlement du PLU.",
    "sinp_uuid": "1B4E28BA-2FA1-5D3C-8B5E-0A1B2C3D4E5F",
    "cadre": "7E57C0DE-0000-5000-8000-000000000001",
    "libelle_court": "Plan local d'urbanisme de Sa",
    "borne_ouest": "5.9",
    "borne_est": "6.1",
    "borne_sud": "47.2",
    "borne_nord": "47.3",
    "territoires": ["METROP"],
    "objectif_jdd": "1.1",
    "date_creation": "2026-12-02",  # what a platform default would say: not the source's
    "contacts_jdd": [{"organisme": "Commune de Saint-Exemple", "role": "1"}],
    "origine_iso": ORIGIN,
}


def ctx(**changes) -> iso.IsoContext:
    # what the CSW sync passes for a record without licence_id: the default licence
    base = {"site_url": "https://sinp.example.fr", "date_stamp": HARVEST_DAY, "licence": dict(iso.DEFAULT_LICENCE)}
    return iso.IsoContext(**{**base, **changes})


@pytest.fixture(scope="module")
def xsd():
    return iso19139_schema()


def render(record, xsd, **changes):
    xml = iso.to_iso19139("jdd", record, ctx(**changes))
    doc = etree.fromstring(xml)
    assert xsd.validate(doc), xsd.error_log
    return xml, doc


def texts(doc, path) -> list[str]:
    return [t.strip() for t in doc.xpath(path, namespaces=NS)]


def test_republished_record_keeps_the_source_identifier_datestamp_and_link(xsd):
    xml, doc = render(RECORD, xsd)
    assert texts(doc, "gmd:fileIdentifier/gco:CharacterString/text()") == ["fr-000019182-CC20150517"]
    assert texts(doc, "gmd:dateStamp/gco:DateTime/text()") == ["2021-06-14T08:12:00"]
    links = texts(doc, "//gmd:CI_OnlineResource/gmd:linkage/gmd:URL/text()")
    assert ORIGIN["fiche"] in links
    assert "https://geo.exemple.fr/wms?service=WMS&request=GetCapabilities" in links
    assert "https://geo.exemple.fr/plu.zip" in links
    assert texts(
        doc, "//gmd:CI_OnlineResource[gmd:linkage/gmd:URL='https://geo.exemple.fr/plu.zip']/gmd:protocol/*/text()"
    ) == ["WWW:DOWNLOAD-1.0-http--download"]
    assert texts(doc, "//gmd:CI_OnlineResource[gmd:name/*='zonage_plu']/gmd:protocol/*/text()") == ["OGC:WMS"]
    codes = texts(doc, "//gmd:citation//gmd:RS_Identifier/gmd:code/*/text()")
    assert codes == ["CC20150517"]
    assert texts(doc, "//gmd:citation//gmd:RS_Identifier/gmd:codeSpace/*/text()") == ["fr-000019182"]
    # the CSW row is keyed by the same identifier
    values = iso.csw_values("jdd", RECORD, ctx(), xml)
    assert values["pycsw:Identifier"] == "fr-000019182-CC20150517"
    assert values["pycsw:Modified"] == "2021-06-14T08:12:00"
    assert iso.republished(RECORD) is True


def test_nothing_invented_no_licence_no_access_statement_no_language_no_date(xsd):
    xml, doc = render(RECORD, xsd)
    text = xml.decode()
    assert "Licence Ouverte" not in text and "etalab" not in text
    assert "Pas de restriction d'accès public" not in text.replace(
        "Pas de restriction d'accès public selon INSPIRE", ""
    )  # only the source's own wording
    assert "biota" not in text
    assert "2026-12-02" not in text  # neither the harvest day nor a default creation date
    assert "EPSG" not in text and "1089/2010" not in text
    assert texts(doc, "gmd:language/gmd:LanguageCode/@codeListValue") == ["dut"]
    assert texts(doc, "gmd:identificationInfo//gmd:language/gmd:LanguageCode/@codeListValue") == ["dut", "fre"]
    dates = {
        d.xpath("string(gmd:dateType/*/@codeListValue)", namespaces=NS): d.xpath("string(gmd:date/*)", namespaces=NS)
        for d in doc.xpath("//gmd:identificationInfo/*/gmd:citation/*/gmd:date/gmd:CI_Date", namespaces=NS)
    }
    assert dates == {"publication": "2015-05-17", "revision": "2019-02-01"}
    values = iso.csw_values("jdd", RECORD, ctx(), xml)
    assert values["pycsw:Language"] == "dut" and values["pycsw:ResourceLanguage"] == "dut,fre"
    assert values["pycsw:CreationDate"] is None and values["pycsw:TopicCategory"] == "planningCadastre,environment"


def test_what_the_source_said_is_written_whole(xsd):
    _xml, doc = render(RECORD, xsd)
    assert texts(doc, "//gmd:LI_Lineage/gmd:statement/*/text()") == [LINEAGE.strip()]
    assert texts(doc, "//gmd:citation/*/gmd:alternateTitle/*/text()") == ORIGIN["titre_alternatif"]
    assert texts(doc, "//gmd:topicCategory/*/text()") == ["planningCadastre", "environment"]
    blocks = doc.xpath("//gmd:descriptiveKeywords/gmd:MD_Keywords", namespaces=NS)
    by_thesaurus = {
        b.xpath("string(gmd:thesaurusName//gmd:title/*)", namespaces=NS): [
            k.strip() for k in b.xpath("gmd:keyword/*/text()", namespaces=NS)
        ]
        for b in blocks
    }
    assert by_thesaurus == {
        "GEMET - INSPIRE themes, version 1.0": ["Usage des sols"],
        "": ["PLU", "urbanisme"],
        "Portée géographique": ["Local"],
    }
    assert texts(doc, "//gmd:keyword/gmx:Anchor[.='Local']/@xlink:href") == [
        "http://inspire.ec.europa.eu/metadata-codelist/SpatialScope/local"
    ]
    legal = doc.xpath("//gmd:MD_LegalConstraints", namespaces=NS)
    assert len(legal) == 1
    assert texts(legal[0], "gmd:useLimitation/*/text()") == ["Usage soumis au code de l'urbanisme"]
    assert texts(legal[0], "gmd:otherConstraints/gmx:Anchor/@xlink:href") == [
        "http://inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/noLimitations"
    ]
    assert texts(doc, "//gml:TimePeriod/gml:beginPosition/text()") == ["2015-05-17"]
    assert texts(doc, "//gml:TimePeriod/gml:endPosition/@indeterminatePosition") == ["unknown"]
    roles = {
        p.xpath("string(gmd:organisationName/*)", namespaces=NS): p.xpath(
            "string(gmd:role/*/@codeListValue)", namespaces=NS
        )
        for p in doc.xpath("//gmd:pointOfContact/gmd:CI_ResponsibleParty", namespaces=NS)
    }
    assert roles == {"Commune de Saint-Exemple": "owner"}
    assert texts(doc, "gmd:contact//gmd:organisationName/*/text()") == ["DDT du Doubs"]


def test_a_record_not_republished_keeps_our_identifier(xsd):
    record = copy.deepcopy(RECORD)
    record["origine_iso"]["republier"] = False
    xml, doc = render(record, xsd)
    assert texts(doc, "gmd:fileIdentifier/gco:CharacterString/text()") == [RECORD["sinp_uuid"]]
    assert texts(doc, "gmd:dateStamp/gco:DateTime/text()") == ["2026-12-02T09:30:00Z"]
    assert ORIGIN["fiche"] not in xml.decode()
    assert iso.republished(record) is False
    assert iso.republished({**RECORD, "origine_iso": json.dumps(record["origine_iso"])}) is False
    assert iso.republished({"title": "une fiche à nous"}) is True


def test_a_licence_given_on_the_platform_is_written(xsd):
    record = {**RECORD, "license_id": "cc-by"}
    xml, _doc = render(record, xsd, licence={"id": "cc-by", "title": "Creative Commons Attribution", "url": None})
    assert "Creative Commons Attribution" in xml.decode()


def test_a_bare_source_gives_a_valid_document_with_unknowns(xsd):
    origin = {"identifiant": "NS06agg", "date_fiche": "2020", "catalogue": "https://c.example.org/csw"}
    record = {
        "type": "jdd",
        "title": "Agrégat NS06",
        "sinp_uuid": RECORD["sinp_uuid"],
        "origine_iso": origin,
    }
    xml, doc = render(record, xsd)
    assert texts(doc, "gmd:fileIdentifier/gco:CharacterString/text()") == ["NS06agg"]
    assert texts(doc, "gmd:dateStamp/gco:Date/text()") == ["2020"]
    assert not doc.xpath("gmd:language", namespaces=NS)
    assert texts(doc, "gmd:identificationInfo/*/gmd:language/@gco:nilReason") == ["unknown"]
    assert texts(doc, "gmd:identificationInfo/*/gmd:citation/*/gmd:date/@gco:nilReason") == ["unknown"]
    assert not doc.xpath("//gmd:resourceConstraints | //gmd:topicCategory", namespaces=NS)
    assert "Licence" not in xml.decode()


def test_service_resources_attached_on_the_platform_are_written_with_their_protocol(xsd):
    resources = [{"name": "Service WFS", "url": "https://geo.exemple.fr/wfs", "format": "WFS"}]
    _xml, doc = render(RECORD, xsd, resources=resources)
    assert texts(
        doc, "//gmd:CI_OnlineResource[gmd:linkage/gmd:URL='https://geo.exemple.fr/wfs']/gmd:protocol/*/text()"
    ) == ["OGC:WFS"]


def test_the_parent_is_the_source_identifier_of_a_republished_parent(xsd):
    ca = {"title": "PLU du Doubs", "origine_iso": {"identifiant": "fr-000019182-serie", "republier": True}}
    _xml, doc = render(RECORD, xsd, ca=ca)
    assert texts(doc, "gmd:parentIdentifier/*/text()") == ["fr-000019182-serie"]


def test_the_record_page_view_of_the_origin_is_in_french_and_links_only_http():
    origin = {
        **ORIGIN,
        "ressources": ORIGIN["ressources"] + [{"url": "javascript:alert(1)", "nom": "piège", "protocole": ""}],
    }
    view = iso.origin_view(origin)
    assert view["identifiant"] == "fr-000019182-CC20150517" and view["fiche"] == ORIGIN["fiche"]
    assert view["categories"] == ["Planification, cadastre", "Ressources et gestion de l'environnement"]
    assert view["langues"] == ["néerlandais (dut)", "français (fre)"]
    assert [p["role"] for p in view["parties"]] == ["Propriétaire", "Point de contact"]
    assert [g["thesaurus"] for g in view["mots_cles"]] == [
        "GEMET - INSPIRE themes, version 1.0",
        "Mots-clés libres",
        "Portée géographique",
    ]
    assert view["periode"] == {"debut": "2015-05-17", "fin": "en cours"}
    assert [r["lien"] for r in view["ressources"]][-1] is None  # shown as text, never as a link
    assert view["genealogie"] == LINEAGE.strip()
    assert iso.origin_view(None) is None and iso.origin_view(json.dumps(ORIGIN))["identifiant"] == ORIGIN["identifiant"]


def test_an_origin_is_a_json_object_of_known_keys():
    assert iso.check_origin(json.dumps(ORIGIN)) == ORIGIN
    for value, message in [
        ("[1]", "doit être un objet JSON"),
        ("{", "doit être un objet JSON"),
        ({"identifiant": "x", "licence_inventee": "etalab"}, "clé(s) inconnue(s) : licence_inventee"),
    ]:
        with pytest.raises(ValueError) as err:
            iso.check_origin(value)
        assert message in str(err.value)
