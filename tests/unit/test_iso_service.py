"""ISO 19139 service records of the data flows (ckanext.sinp.domain.iso_service) and the online
resources a served JDD's record gains (ckanext.sinp.domain.iso.flux_links).

Every service record is validated against the ISO 19139 XSDs pycsw 2.6.2 ships (gmd, gmx and srv:
``tests.iso_xsd``) and read back with OWSLib's ``MD_Metadata``.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree
from owslib.iso import MD_Metadata

from ckanext.sinp.csw import repository
from ckanext.sinp.domain import flux_services, iso, iso_service
from tests.iso_xsd import iso19139_schema
from tests.unit.test_iso import JDD, jdd_ctx

NS = {"gmd": iso.GMD, "gco": iso.GCO, "gmx": iso.GMX, "srv": iso_service.SRV, "xlink": iso.XLINK}
SITE = "https://sinp.example.fr"
FLUX = "https://sinp.example.fr/flux/sinp"
CSW = "https://sinp.example.fr/csw"
STAMP = dt.datetime(2026, 12, 3, 8, 15, 2)
SERVED = [
    iso_service.ServedJdd("5C2D8E1F-4A3B-4C6D-9E8F-0A1B2C3D4E5F", "Chiroptères du Morvan"),
    iso_service.ServedJdd("0A1B2C3D-1111-4C6D-9E8F-0A1B2C3D4E5F", "Oiseaux, « hivernants » & <nicheurs>"),
]
BY_KEY = {s.key: s for s in flux_services.SERVICES}


def context(**changes) -> iso_service.ServiceContext:
    base = dict(
        site_url=SITE,
        flux_url=FLUX,
        csw_url=CSW,
        date_stamp=STAMP,
        platform_contact={"name": "Plateforme régionale SINP BFC", "email": "sinp@plateforme.invalid"},
        bbox=(2.845, 46.155, 7.143, 48.4),
    )
    base.update(changes)
    return iso_service.ServiceContext(**base)


@pytest.fixture(scope="module")
def documents():
    xsd = iso19139_schema(srv=True)
    out = {}
    for service in flux_services.SERVICES:
        data = iso_service.to_iso19139(service, SERVED, context())
        doc = etree.fromstring(data)
        if not xsd.validate(doc):
            pytest.fail(f"{service.key}: XSD-invalid ISO 19139:\n" + "\n".join(str(e) for e in xsd.error_log))
        out[service.key] = (data, doc)
    return out


def _text(doc, path):
    return [t.strip() for t in doc.xpath(path, namespaces=NS)]


@pytest.mark.parametrize(
    "key, kind, version, category, protocol",
    [
        ("wms", "view", "1.3.0", "infoMapAccessService", "OGC:WMS"),
        ("wfs", "download", "2.0.0", "infoFeatureAccessService", "OGC:WFS"),
        ("ogcapi", "download", "1.0.0", "infoFeatureAccessService", "OGC:OGC-API-Features-items"),
    ],
)
def test_each_service_is_an_inspire_service_record(documents, key, kind, version, category, protocol):
    _data, doc = documents[key]
    service = BY_KEY[key]
    assert _text(doc, "gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue") == ["service"]
    assert _text(doc, "gmd:language/gmd:LanguageCode/@codeListValue") == ["fre"]
    ident = doc.find("gmd:identificationInfo/srv:SV_ServiceIdentification", NS)
    assert ident is not None
    title = _text(ident, "gmd:citation/gmd:CI_Citation/gmd:title/gco:CharacterString/text()")[0]
    assert title.startswith("Service de ") and "Bourgogne-Franche-Comté" in title
    assert "maille de 10 km" in _text(ident, "gmd:abstract/gco:CharacterString/text()")[0]
    assert _text(ident, "srv:serviceType/gco:LocalName/text()") == [kind]
    assert _text(ident, "srv:serviceType/gco:LocalName/@codeSpace") == [flux_services.SERVICE_TYPE_CODESPACE]
    assert _text(ident, "srv:serviceTypeVersion/gco:CharacterString/text()") == [version]
    assert _text(ident, "srv:couplingType/srv:SV_CouplingType/@codeListValue") == ["tight"]
    connect = _text(
        ident,
        "srv:containsOperations/srv:SV_OperationMetadata/srv:connectPoint/gmd:CI_OnlineResource/gmd:linkage/gmd:URL/text()",
    )
    assert connect == [f"{FLUX}/{service.path}"]
    assert _text(ident, "srv:containsOperations/srv:SV_OperationMetadata/srv:DCP/srv:DCPList/@codeListValue") == [
        "WebServices"
    ]
    # the INSPIRE classification of spatial data services, and the INSPIRE theme
    assert category in _text(ident, "gmd:descriptiveKeywords/gmd:MD_Keywords/gmd:keyword/gmx:Anchor/text()")
    assert f"{flux_services.CATEGORY_REGISTER}/{category}" in _text(
        ident, "gmd:descriptiveKeywords/gmd:MD_Keywords/gmd:keyword/gmx:Anchor/@xlink:href"
    )
    assert iso.INSPIRE_THEME["uri"] in _text(
        ident, "gmd:descriptiveKeywords/gmd:MD_Keywords/gmd:keyword/gmx:Anchor/@xlink:href"
    )
    # the territory's box
    box = ident.find("srv:extent/gmd:EX_Extent/gmd:geographicElement/gmd:EX_GeographicBoundingBox", NS)
    assert [
        float(box.findtext(f"gmd:{n}/gco:Decimal", namespaces=NS)) for n in ("westBoundLongitude", "northBoundLatitude")
    ] == [
        2.845,
        48.4,
    ]
    # constraints and conformity as our dataset records say them
    assert iso.NO_LIMITATIONS["uri"] in _text(
        ident, "gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:otherConstraints/gmx:Anchor/@xlink:href"
    )
    assert iso.DEFAULT_LICENCE["url"] in _text(
        ident, "gmd:resourceConstraints/gmd:MD_LegalConstraints/gmd:otherConstraints/gmx:Anchor/@xlink:href"
    )
    assert _text(
        doc, "//gmd:DQ_ConformanceResult/gmd:specification/gmd:CI_Citation/gmd:title/gmx:Anchor/@xlink:href"
    ) == [iso.CONFORMITY_SPEC["uri"]]
    # the capabilities, as the distribution's online resource
    assert _text(doc, "gmd:distributionInfo//gmd:CI_OnlineResource/gmd:linkage/gmd:URL/text()") == [
        service.capabilities_url(FLUX)
    ]
    assert _text(doc, "gmd:distributionInfo//gmd:CI_OnlineResource/gmd:protocol/gco:CharacterString/text()") == [
        protocol
    ]


def test_operates_on_names_each_served_jdd_by_its_record_in_our_csw(documents):
    for _data, doc in documents.values():
        links = doc.xpath("//srv:operatesOn", namespaces=NS)
        assert sorted(link.get("uuidref") for link in links) == sorted(j.identifier for j in SERVED)
        for link in links:
            href = urlsplit(link.get(f"{{{iso.XLINK}}}href"))
            query = {k: v[0] for k, v in parse_qs(href.query).items()}
            assert f"{href.scheme}://{href.netloc}{href.path}" == CSW
            assert query == {
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": link.get("uuidref"),
                "outputSchema": iso.GMD,
                "elementSetName": "full",
            }
    md = MD_Metadata(documents["wfs"][1])
    ident = md.identification[0]
    assert md.hierarchy == "service" and ident.type == "download" and ident.version == "2.0.0"
    assert {o["uuidref"]: o["title"] for o in ident.operateson} == {j.identifier: j.title for j in SERVED}
    assert [c.url for o in ident.operations for c in o["connectpoint"]] == [f"{FLUX}/wfs"]


def test_only_the_served_jdd_given_appear_and_none_gives_no_operates_on():
    """The writer names exactly what it is given (the caller passes only public JDD): a JDD left out
    — private, draft, withdrawn — is nowhere in the document, not even in its text."""
    only_one = iso_service.to_iso19139(BY_KEY["wms"], SERVED[:1], context())
    assert SERVED[1].identifier.encode() not in only_one and b"hivernants" not in only_one
    none = etree.fromstring(iso_service.to_iso19139(BY_KEY["wms"], [], context()))
    assert iso19139_schema(srv=True).validate(none)
    assert none.xpath("//srv:operatesOn", namespaces=NS) == []


def test_identifiers_are_stable_per_platform_and_distinct_per_service():
    ids = {s.identifier(SITE) for s in flux_services.SERVICES}
    assert len(ids) == 3
    assert {s.identifier(SITE + "/") for s in flux_services.SERVICES} == ids
    assert not ids & {s.identifier("https://autre-plateforme.example.org") for s in flux_services.SERVICES}
    assert flux_services.default_base("https://sinp.example.fr/") == "https://sinp.example.fr/flux/sinp"


def test_the_row_matches_the_document_and_the_pycsw_columns(documents):
    for key, (data, _doc) in documents.items():
        service = BY_KEY[key]
        values = iso_service.csw_values(service, SERVED, context(), data)
        row = repository.row_of(values)
        assert values["pycsw:Type"] == "service"
        assert values["pycsw:Identifier"] == service.identifier(SITE)
        assert values["pycsw:ServiceType"] == service.service_type
        assert values["pycsw:ServiceTypeVersion"] == service.version
        assert values["pycsw:CouplingType"] == "tight"
        assert sorted(values["pycsw:OperatesOn"].split(",")) == sorted(j.identifier for j in SERVED)
        assert values["pycsw:Modified"] == "2026-12-03T08:15:02Z"
        assert values["pycsw:BoundingBox"].startswith("POLYGON((2.845 46.155")
        assert service.capabilities_url(FLUX) in values["pycsw:Links"]
        assert row[repository.column_names()["pycsw:XML"]] == values["pycsw:XML"]
    with pytest.raises(ValueError):
        iso_service.csw_values(BY_KEY["wms"], SERVED, context(), documents["wfs"][0])


def test_no_territory_box_gives_the_regions_and_hostile_titles_are_escaped():
    doc = etree.fromstring(iso_service.to_iso19139(BY_KEY["wms"], SERVED, context(bbox=None)))
    west = doc.findtext(".//gmd:westBoundLongitude/gco:Decimal", namespaces=NS)
    assert float(west) == flux_services.DEFAULT_TERRITORY_BBOX[0]
    titles = [o.get(f"{{{iso.XLINK}}}title") for o in doc.xpath("//srv:operatesOn", namespaces=NS)]
    assert "Oiseaux, « hivernants » & <nicheurs>" in titles


def test_a_served_jdd_links_to_the_three_flows_with_geonetwork_protocols():
    doc = etree.fromstring(iso.to_iso19139("jdd", JDD, jdd_ctx(flux_url=FLUX)))
    assert iso19139_schema().validate(doc)
    md = MD_Metadata(doc)
    online = {o.protocol: o for o in md.distribution.online}
    assert online["OGC:WMS"].url == f"{FLUX}/wms" and online["OGC:WMS"].name == "observations_maille"
    assert online["OGC:WFS"].url == f"{FLUX}/wfs" and online["OGC:WFS"].name == "observations_maille"
    ogcapi = online["OGC:OGC-API-Features-items"]
    assert ogcapi.url == f"{FLUX}/ogcapi/collections/observations_maille/items"
    # without flux_url (a JDD the flows do not serve), no such link
    plain = MD_Metadata(etree.fromstring(iso.to_iso19139("jdd", JDD, jdd_ctx())))
    assert not {o.protocol for o in plain.distribution.online} & {s.protocol for s in flux_services.SERVICES}
