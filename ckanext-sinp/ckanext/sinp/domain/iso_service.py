"""INSPIRE ISO 19139 service records of the data flows (``flux_services``: WMS view service, WFS and
OGC API Features download services), and their rows in the pycsw table. Pure Python, no ``ckan``.

    ctx = ServiceContext(site_url=..., flux_url=..., csw_url=..., date_stamp=...)
    xml = to_iso19139(service, served, ctx)            # bytes, UTF-8, XSD-valid ISO 19139 (gmd + srv)
    values = csw_values(service, served, ctx, xml)     # {pycsw:* queryable: value}

``served``: the JDD the service serves, as ``ServedJdd`` (CSW fileIdentifier, title) — the caller
passes only public JDD (``csw.sync.served_jdd``): each becomes an ``srv:operatesOn`` whose ``uuidref``
is its fileIdentifier and ``xlink:href`` its GetRecordById in our CSW. None public: the record is
still published, without ``operatesOn`` (the service exists and answers, with nothing in it).

What the record says, besides the service's own facts: the platform as point of contact (metadata
and resource), the INSPIRE classification of spatial data services and the INSPIRE theme « Répartition
des espèces » as keywords, the same access and use constraints and the same (not evaluated)
conformity statement as our dataset records (``iso``), the territory's box as extent, and the
service's capabilities (``srv:connectPoint`` and the distribution's online resource).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlencode

from lxml import etree

from ckanext.sinp.domain import flux_services, iso

SRV = "http://www.isotc211.org/2005/srv"
NSMAP = {**iso.NSMAP, "srv": SRV}
SCHEMA_LOCATION = (
    f"{iso.GMD} http://schemas.opengis.net/iso/19139/20070417/gmd/gmd.xsd "
    f"{SRV} http://schemas.opengis.net/iso/19139/20070417/srv/1.0/srv.xsd"
)
HIERARCHY = "service"
KEYWORDS = ("SINP", "biodiversité", "observations", "maille 10 km", "Bourgogne-Franche-Comté")
LINEAGE = (
    "Service du serveur cartographique (MapServer) de la plateforme régionale SINP Bourgogne-Franche-Comté : "
    "il lit les agrégats publics des observations des jeux de données publiés, recalculés après chaque "
    "dépôt, validation, recalcul de la sensibilité et changement de publication."
)


@dataclasses.dataclass(frozen=True)
class ServiceContext:
    """site_url: public CKAN URL (the records' identifiers derive from it); flux_url: public base of
    the map server's services; csw_url: public CSW endpoint (operatesOn links); date_stamp: when the
    record last changed (UTC); bbox: the territory's box (WGS 84), the region's by default."""

    site_url: str
    flux_url: str
    csw_url: str
    date_stamp: dt.datetime
    platform_contact: dict = dataclasses.field(default_factory=lambda: dict(iso.DEFAULT_PLATFORM_CONTACT))
    licence: dict = dataclasses.field(default_factory=lambda: dict(iso.DEFAULT_LICENCE))
    bbox: tuple | None = None


@dataclasses.dataclass(frozen=True)
class ServedJdd:
    identifier: str  # its fileIdentifier in our CSW
    title: str


def record_url(csw_url: str, identifier: str) -> str:
    """The GetRecordById (full ISO 19139) of ``identifier`` in the CSW at ``csw_url`` (the same
    request as the CSW harvester's ``record_url``)."""
    query = urlencode(
        {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": identifier,
            "outputSchema": iso.GMD,
            "elementSetName": "full",
        }
    )
    return f"{csw_url}{'&' if '?' in csw_url else '?'}{query}"


def _srv(parent, local: str, text: str | None = None):
    element = etree.SubElement(parent, f"{{{SRV}}}{local}")
    if text is not None:
        element.text = text
    return element


def _srv_code(parent, name: str, codelist: str, value: str):
    element = _srv(_srv(parent, name), codelist, value)
    element.set("codeList", f"{iso.CODELISTS}#{codelist}")
    element.set("codeListValue", value)


@dataclasses.dataclass
class _Facts:
    identifier: str
    date_stamp: str
    contact: iso.Party
    link: iso.Link
    keyword_blocks: list
    legal: list
    bbox: tuple
    served: list


def _facts(service: flux_services.FluxService, served, ctx: ServiceContext) -> _Facts:
    contact = ctx.platform_contact or iso.DEFAULT_PLATFORM_CONTACT
    licence = ctx.licence if ctx.licence and iso.clean_text(ctx.licence.get("title")) else iso.DEFAULT_LICENCE
    use_limitation = f"Licence : {licence['title']}" + (f" ({licence['url']})" if licence.get("url") else "")
    jdds = sorted(
        {(iso.clean_text(j.identifier), iso.clean_text(j.title)) for j in served if iso.clean_text(j.identifier)}
    )
    return _Facts(
        identifier=service.identifier(ctx.site_url),
        date_stamp=iso._iso_datetime(ctx.date_stamp),
        contact=iso.Party(
            iso.clean_text(contact.get("name")) or iso.DEFAULT_PLATFORM_CONTACT["name"],
            None,
            iso.clean_text(contact.get("email")) or None,
            "pointOfContact",
        ),
        link=iso.Link(
            service.capabilities_url(ctx.flux_url),
            service.protocol,
            service.title,
            f"Capacités du service ({service.standard})",
            "information",
        ),
        keyword_blocks=[
            iso.KeywordBlock([(service.category, service.category_uri)], None, flux_services.CATEGORY_THESAURUS),
            iso.KeywordBlock(
                [(iso.INSPIRE_THEME["label"], iso.INSPIRE_THEME["uri"])], "theme", iso.INSPIRE_THEMES_THESAURUS
            ),
            iso.KeywordBlock([(k, None) for k in KEYWORDS], "theme", None),
        ],
        legal=[
            iso.Legal([], ["otherRestrictions"], [], [(iso.NO_LIMITATIONS["label"], iso.NO_LIMITATIONS["uri"])]),
            iso.Legal([use_limitation], [], ["otherRestrictions"], [(licence["title"], licence.get("url"))]),
        ],
        bbox=flux_services.bbox_or_default(ctx.bbox),
        served=[ServedJdd(i, t) for i, t in jdds],
    )


def _render(service: flux_services.FluxService, f: _Facts, ctx: ServiceContext) -> etree._Element:
    root = etree.Element(iso._q("gmd:MD_Metadata"), nsmap=NSMAP)
    root.set(iso._q("xsi:schemaLocation"), SCHEMA_LOCATION)
    iso._cs(root, "gmd:fileIdentifier", f.identifier)
    iso._language(root)
    iso._code(root, "gmd:characterSet", "MD_CharacterSetCode", "utf8")
    iso._code(root, "gmd:hierarchyLevel", "MD_ScopeCode", HIERARCHY)
    iso._cs(root, "gmd:hierarchyLevelName", HIERARCHY)
    iso._party(root, "gmd:contact", f.contact)
    iso._el(iso._el(root, "gmd:dateStamp"), "gco:DateTime", f.date_stamp)
    iso._cs(root, "gmd:metadataStandardName", iso.METADATA_STANDARD_NAME)
    iso._cs(root, "gmd:metadataStandardVersion", iso.METADATA_STANDARD_VERSION)
    rs = iso._el(
        iso._el(
            iso._el(iso._el(root, "gmd:referenceSystemInfo"), "gmd:MD_ReferenceSystem"),
            "gmd:referenceSystemIdentifier",
        ),
        "gmd:RS_Identifier",
    )
    iso._anchor(rs, "gmd:code", iso.CRS_LABEL, iso.CRS_URI)

    ident = _srv(iso._el(root, "gmd:identificationInfo"), "SV_ServiceIdentification")
    citation = iso._el(iso._el(ident, "gmd:citation"), "gmd:CI_Citation")
    iso._cs(citation, "gmd:title", service.title)
    iso._ci_date(citation, f.date_stamp[:10], "publication")
    iso._cs(ident, "gmd:abstract", service.abstract)
    iso._party(ident, "gmd:pointOfContact", f.contact)
    for block in f.keyword_blocks:
        iso._keywords(ident, block)
    for legal in f.legal:
        iso._legal_constraints(ident, legal)
    local_name = etree.SubElement(_srv(ident, "serviceType"), iso._q("gco:LocalName"))
    local_name.set("codeSpace", flux_services.SERVICE_TYPE_CODESPACE)
    local_name.text = service.service_type
    iso._el(_srv(ident, "serviceTypeVersion"), "gco:CharacterString", service.version)
    iso.geographic_box(iso._el(_srv(ident, "extent"), "gmd:EX_Extent"), f.bbox)
    _srv_code(ident, "couplingType", "SV_CouplingType", "tight")
    operation = _srv(_srv(ident, "containsOperations"), "SV_OperationMetadata")
    iso._el(_srv(operation, "operationName"), "gco:CharacterString", service.operation)
    _srv_code(operation, "DCP", "DCPList", "WebServices")
    online = iso._el(_srv(operation, "connectPoint"), "gmd:CI_OnlineResource")
    iso._el(iso._el(online, "gmd:linkage"), "gmd:URL", service.url(ctx.flux_url))
    iso._cs(online, "gmd:protocol", service.protocol)
    for jdd in f.served:
        operates = _srv(ident, "operatesOn")
        operates.set("uuidref", jdd.identifier)
        operates.set(iso._q("xlink:href"), record_url(ctx.csw_url, jdd.identifier))
        if jdd.title:
            operates.set(iso._q("xlink:title"), jdd.title)

    distribution = iso._el(iso._el(root, "gmd:distributionInfo"), "gmd:MD_Distribution")
    options = iso._el(iso._el(distribution, "gmd:transferOptions"), "gmd:MD_DigitalTransferOptions")
    online = iso._el(iso._el(options, "gmd:onLine"), "gmd:CI_OnlineResource")
    iso._el(iso._el(online, "gmd:linkage"), "gmd:URL", f.link.url)
    iso._cs(online, "gmd:protocol", f.link.protocol)
    iso._cs(online, "gmd:name", f.link.name)
    iso._cs(online, "gmd:description", f.link.description)
    iso._code(online, "gmd:function", "CI_OnLineFunctionCode", f.link.function)

    quality = iso._el(iso._el(root, "gmd:dataQualityInfo"), "gmd:DQ_DataQuality")
    scope = iso._el(iso._el(quality, "gmd:scope"), "gmd:DQ_Scope")
    iso._code(scope, "gmd:level", "MD_ScopeCode", HIERARCHY)
    description = iso._el(iso._el(scope, "gmd:levelDescription"), "gmd:MD_ScopeDescription")
    iso._cs(description, "gmd:other", HIERARCHY)
    result = iso._el(
        iso._el(iso._el(iso._el(quality, "gmd:report"), "gmd:DQ_DomainConsistency"), "gmd:result"),
        "gmd:DQ_ConformanceResult",
    )
    spec = iso._el(iso._el(result, "gmd:specification"), "gmd:CI_Citation")
    iso._anchor(spec, "gmd:title", iso.CONFORMITY_SPEC["title"], iso.CONFORMITY_SPEC["uri"])
    iso._ci_date(spec, iso.CONFORMITY_SPEC["date"], iso.CONFORMITY_SPEC["datetype"])
    iso._cs(result, "gmd:explanation", iso.CONFORMITY_EXPLANATION)
    iso._el(result, "gmd:pass").set(iso._q("gco:nilReason"), "unknown")
    iso._cs(iso._el(iso._el(quality, "gmd:lineage"), "gmd:LI_Lineage"), "gmd:statement", LINEAGE)
    return root


def to_iso19139(service: flux_services.FluxService, served, ctx: ServiceContext) -> bytes:
    """The ISO 19139 (INSPIRE TG 2.0) service record of ``service``: UTF-8 bytes."""
    root = _render(service, _facts(service, served, ctx), ctx)
    return iso.XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def csw_values(service: flux_services.FluxService, served, ctx: ServiceContext, xml: bytes) -> dict:
    """The queryables of the pycsw table for the service record (pycsw 2.6.2's formats, see
    ``iso.csw_values``): type ``service``, service type and version, coupling, operation and the
    served JDD (``operateson`` = their fileIdentifiers, comma-joined)."""
    f = _facts(service, served, ctx)
    root = etree.fromstring(xml)
    if root.findtext(f"{{{iso.GMD}}}fileIdentifier/{{{iso.GCO}}}CharacterString") != f.identifier:
        raise ValueError(f"xml is not the record of the service {service.key!r}")
    keywords = [k for block in f.keyword_blocks for k, _href in block.keywords]
    ids = ",".join(j.identifier for j in f.served) or None
    return {
        "pycsw:Identifier": f.identifier,
        "pycsw:Typename": "gmd:MD_Metadata",
        "pycsw:Schema": iso.GMD,
        "pycsw:MdSource": "local",
        "pycsw:XML": etree.tostring(root, encoding="unicode"),
        "pycsw:AnyText": iso.anytext(root),
        "pycsw:Language": iso.LANGUAGE,
        "pycsw:Title": service.title,
        "pycsw:Abstract": service.abstract,
        "pycsw:Keywords": ",".join(keywords),
        "pycsw:KeywordType": "theme",
        "pycsw:Source": service.url(ctx.flux_url),
        "pycsw:Date": f.date_stamp,
        "pycsw:Modified": f.date_stamp,
        "pycsw:Type": HIERARCHY,
        "pycsw:BoundingBox": iso.wkt_polygon(f.bbox),
        "pycsw:CRS": iso.CRS_URN,
        "pycsw:PublicationDate": f.date_stamp[:10],
        "pycsw:OrganizationName": f.contact.organisation,
        "pycsw:ResourceLanguage": iso.LANGUAGE,
        "pycsw:AccessConstraints": "otherRestrictions",
        "pycsw:OtherConstraints": iso.NO_LIMITATIONS["label"],
        "pycsw:ConditionApplyingToAccessAndUse": f.legal[1].use_limitations[0],
        "pycsw:Lineage": LINEAGE,
        "pycsw:ResponsiblePartyRole": "pointOfContact",
        "pycsw:SpecificationTitle": iso.CONFORMITY_SPEC["title"],
        "pycsw:SpecificationDate": iso.CONFORMITY_SPEC["date"],
        "pycsw:SpecificationDateType": iso.CONFORMITY_SPEC["datetype"],
        "pycsw:ServiceType": service.service_type,
        "pycsw:ServiceTypeVersion": service.version,
        "pycsw:Operation": service.operation,
        "pycsw:CouplingType": "tight",
        "pycsw:OperatesOn": ids,
        "pycsw:OperatesOnIdentifier": ids,
        "pycsw:OperatesOnName": ",".join(iso._link_part(j.title) for j in f.served) or None,
        "pycsw:Links": iso.links_column([f.link]),
    }
