"""ISO 19139 / INSPIRE metadata of a CA or a JDD, and its row in the pycsw table.

Pure Python (lxml, no ``ckan`` import). Two entry points:

    ctx = IsoContext(site_url="https://sinp.example.fr", date_stamp=metadata_modified_utc, ca=ca_dict,
                     resources=[{"name": ..., "url": ..., "format": ..., "description": ...}])
    xml = to_iso19139("jdd", package_dict, ctx)        # bytes, UTF-8, XSD-valid ISO 19139
    values = csw_values("jdd", package_dict, ctx, xml) # {pycsw:* queryable: value} (csw.repository.csw_row)

Both are derived from one set of facts (``_facts``), so the stored document and the queryable
columns cannot disagree.

Choices (see also CSW_HARVESTERS.md §5.4):

- ``fileIdentifier`` = the SINP UUID (upper case). A CA is ``series``, a JDD ``dataset``;
  ``parentIdentifier`` = the JDD's CA UUID, or the CA's méta-cadre parent UUID.
- Unique resource identifier: ``RS_Identifier`` code = SINP UUID, ``codeSpace`` =
  ``IsoContext.namespace``, by default ``https://inpn.mnhn.fr/mtd``: the SINP UUID is the national
  identifier of the national MTD registry (identifiantCadre / identifiantJdd), the same for INPN,
  GeoNature instances and IDéO BFC, so the same JDD published by two catalogues keeps one
  identifier. Pass the platform URL instead if the lead prefers a regional namespace.
- Roles (ROLE_ACTEUR -> CI_RoleCode, French GeoNetwork label and definition in brackets), see
  ``ROLE_TO_ISO``; the SINP role label is kept in ``positionName``:
  1 Contact principal -> pointOfContact; 2 Financeur -> originator (« A l'origine de » : a mis en
  place les moyens de constituer la ressource; ISO 19115:2003 has no "funder"); 3 Maître
  d'ouvrage -> originator (« a commandé la ressource »); 4 Maître d'œuvre -> principalInvestigator
  (« a assuré la réalisation de la ressource »); 5 Fournisseur -> resourceProvider
  (« Fournisseur »); 6 Producteur -> author (« Auteur » : droits moraux du créateur);
  7 Contact base de production -> custodian (« Gestionnaire » : gestion et mise à jour);
  8 Contact métadonnées -> not a resource party: written as an extra ``MD_Metadata/contact``
  (pointOfContact) after the platform contact. Unknown codes -> pointOfContact.
- Metadata contact: the JDD's ``contact_plateforme`` (pointContactPF) when given, otherwise
  ``IsoContext.platform_contact``.
- Constraints: access = ``otherRestrictions`` + INSPIRE LimitationsOnPublicAccess/noLimitations
  (gmx:Anchor); use = ``useLimitation`` text + ``useConstraints otherRestrictions`` +
  ``otherConstraints`` gmx:Anchor to the licence URL with its title (GeoDCAT-AP / udata map it to
  dct:license and recognise Licence Ouverte 2.0 by URL or title).
- Distribution: one ``MD_Format`` per distinct download format (version nilReason="unknown");
  without downloads, name and version are nilReason="unknown". Links: the public CKAN page
  (WWW:LINK, function information) then each public download (WWW:DOWNLOAD-1.0-http--download,
  function download).
- Conformity: Regulation 1089/2010 (gmx:Anchor to its ELI), ``pass`` nilReason="unknown"
  (not evaluated, TG 2.0).
- Dates: citation creation = date_creation_mtd (CA) / date_creation (JDD), revision =
  date_maj_mtd / date_revision; with neither, publication = the date of ``date_stamp``.
- Extent: the JDD's bbox (WGS 84) or ``IsoContext.bbox`` (a fallback, e.g. the union of a CA's
  JDD boxes); temporal extent = the CA's launch/closing dates (the CA of a JDD in ``ctx.ca``);
  no closing date -> ``endPosition indeterminatePosition="now"``.
- Text: characters not allowed in XML 1.0 (C0/C1 controls except tab/LF/CR, lone surrogates,
  U+FFFE/U+FFFF) are removed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from urllib.parse import urlsplit

from lxml import etree

from ckanext.sinp.domain import flux_services, model, nomenclatures, urls

# --- namespaces and constants -----------------------------------------------------------------

GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
GMX = "http://www.isotc211.org/2005/gmx"
GML = "http://www.opengis.net/gml/3.2"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"gmd": GMD, "gco": GCO, "gmx": GMX, "gml": GML, "xlink": XLINK, "xsi": XSI}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
SCHEMA_LOCATION = f"{GMD} http://schemas.opengis.net/csw/2.0.2/profiles/apiso/1.0.0/apiso.xsd"

CODELISTS = "http://standards.iso.org/iso/19139/resources/gmxCodelists.xml"
LANGUAGE_CODELIST = "http://www.loc.gov/standards/iso639-2/"
LANGUAGE = "fre"
TOPIC_CATEGORY = "biota"

DEFAULT_NAMESPACE = "https://inpn.mnhn.fr/mtd"
DEFAULT_CATALOGUE_NAME = "Catalogue des métadonnées du SINP Bourgogne-Franche-Comté"
DEFAULT_PLATFORM_CONTACT = {"name": "Plateforme régionale SINP Bourgogne-Franche-Comté", "email": None}
DEFAULT_LICENCE = {
    "id": "etalab-2.0",
    "title": "Licence Ouverte / Open Licence version 2.0",
    "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}

METADATA_STANDARD_NAME = "ISO 19115:2003/19139"
METADATA_STANDARD_VERSION = "1.0"

CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/4326"
CRS_LABEL = "EPSG:4326"
CRS_URN = "urn:ogc:def:crs:EPSG::4326"  # what pycsw stores for an EPSG code

INSPIRE_THEME = {"label": "Répartition des espèces", "uri": "http://inspire.ec.europa.eu/theme/sd"}
INSPIRE_THEMES_THESAURUS = {
    "title": "GEMET - INSPIRE themes, version 1.0",
    "uri": "http://www.eionet.europa.eu/gemet/inspire_themes",
    "date": "2008-06-01",
}
NO_LIMITATIONS = {
    "label": "Pas de restriction d'accès public",
    "uri": "http://inspire.ec.europa.eu/metadata-codelist/LimitationsOnPublicAccess/noLimitations",
}
CONFORMITY_SPEC = {
    "title": (
        "Règlement (UE) n° 1089/2010 de la Commission du 23 novembre 2010 portant modalités "
        "d'application de la directive 2007/2/CE en ce qui concerne l'interopérabilité des "
        "séries et des services de données géographiques"
    ),
    "uri": "http://data.europa.eu/eli/reg/2010/1089",
    "date": "2010-12-08",
    "datetype": "publication",
}
CONFORMITY_EXPLANATION = (
    "Conformité non évaluée au regard du règlement (UE) n° 1089/2010 : les données "
    "sont décrites et échangées selon les standards du SINP."
)

LINK_PROTOCOL = "WWW:LINK"
DOWNLOAD_PROTOCOL = "WWW:DOWNLOAD-1.0-http--download"

HIERARCHY = {"ca": "series", "jdd": "dataset"}
PAGE_NAMES = {"ca": "Fiche du cadre d'acquisition", "jdd": "Fiche du jeu de données"}

# ROLE_ACTEUR code -> CI_RoleCode (see the module docstring). Role 8 is the metadata contact.
ROLE_TO_ISO = {
    "1": "pointOfContact",
    "2": "originator",
    "3": "originator",
    "4": "principalInvestigator",
    "5": "resourceProvider",
    "6": "author",
    "7": "custodian",
}
METADATA_CONTACT_ROLE = "8"
DEFAULT_ISO_ROLE = "pointOfContact"

# actor fields of the model -> role given to an actor whose block has none
_ACTOR_FIELD_DEFAULT_ROLE = {"acteurs": None, "contacts_jdd": None, "contacts_base_production": "7"}
PLATFORM_CONTACT_FIELD = "contact_plateforme"

# coded fields whose French labels become SINP keywords (same set as the DCAT view)
KEYWORD_NOMENCLATURES = ("VOLET_SINP", "CA_OBJECTIFS", "DATA_TYP", "JDD_OBJECTIFS", "METHO_RECUEIL")

_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_NCNAME_BAD = re.compile(r"[^A-Za-z0-9_.-]")


# --- context ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IsoContext:
    """What the ISO document needs besides the record itself (filled by the CKAN side).

    site_url: public CKAN URL (no trailing slash needed); the record page is
        ``{site_url}/{kind}/{name}`` as in the DCAT view.
    date_stamp: when the published record last changed (UTC; naive = UTC). Written as
        gco:DateTime and as the ``date_modified`` column: it must change whenever anything
        published changes (record, resources, licence, visibility...).
    csw_url: the public CSW endpoint; not written into the record (kept for callers).
    organization: the CKAN organisation {"title", "email"}; used as point of contact only when
        the record has no actor at all.
    platform_contact: the platform's metadata contact {"name", "email"}, used when a JDD has no
        ``contact_plateforme``.
    ca: the CA record of a JDD (its period is the JDD's temporal extent), else None.
    resources: public downloads only: [{"name", "url", "format", "description"}]; a URL whose
        scheme is not in ``resource_schemes`` (``javascript:``, ``file:``…) is skipped.
    licence: {"id", "title", "url"} (default Licence Ouverte 2.0).
    lineage: lineage statement; None -> a French statement built from the record.
    namespace: codeSpace of the unique resource identifier.
    bbox: fallback extent (west, south, east, north) in WGS 84 when the record has none.
    flux_url: public base of the map server's services (``flux_services``) when the record is a
        public JDD they serve: its document then links to the WMS, WFS and OGC API Features layer of
        the public observations (``flux_links``); None otherwise.
    """

    site_url: str
    date_stamp: dt.datetime
    csw_url: str | None = None
    organization: dict | None = None
    platform_contact: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_PLATFORM_CONTACT))
    ca: dict | None = None
    resources: tuple | list = ()
    resource_schemes: tuple = urls.DEFAULT_SCHEMES
    licence: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_LICENCE))
    lineage: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    catalogue_name: str = DEFAULT_CATALOGUE_NAME
    bbox: tuple | None = None
    flux_url: str | None = None


# --- facts: everything the document and the row say, derived once ----------------------------


@dataclasses.dataclass
class Party:
    organisation: str | None
    individual: str | None
    email: str | None
    role: str  # CI_RoleCode
    position: str | None = None


@dataclasses.dataclass
class Link:
    url: str
    protocol: str
    name: str | None
    description: str | None
    function: str


@dataclasses.dataclass
class KeywordBlock:
    keywords: list  # [(text, href | None)]
    type: str | None  # MD_KeywordTypeCode
    thesaurus: dict | None  # {"title", "uri", "date"}


@dataclasses.dataclass
class Legal:
    use_limitations: list
    access: list  # MD_RestrictionCode values
    use: list
    others: list  # [(text, href | None)]


@dataclasses.dataclass
class Facts:
    kind: str
    identifier: str
    parent: str | None
    hierarchy: str
    metadata_contacts: list
    date_stamp: str  # ISO date-time, UTC, with 'Z'
    landing_page: str
    title: str
    alternate_title: str | None
    dates: list  # [(date ISO, CI_DateTypeCode)]
    namespace: str
    abstract: str
    parties: list
    sinp_keywords: list
    licence: dict
    use_limitation: str
    bbox: tuple | None  # (west, south, east, north)
    extent_description: str | None
    time_begin: str | None
    time_end: str | None
    formats: list
    links: list
    lineage: str | None
    # what differs between our own records and harvested ones (``origine_iso``): see ``_harvested``
    date_stamp_type: str = "gco:DateTime"
    metadata_language: str | None = LANGUAGE
    metadata_charset: str | None = "utf8"
    resource_languages: list = dataclasses.field(default_factory=lambda: [LANGUAGE])
    resource_charset: str | None = "utf8"
    topic_categories: list = dataclasses.field(default_factory=lambda: [TOPIC_CATEGORY])
    keyword_blocks: list = dataclasses.field(default_factory=list)  # [KeywordBlock]
    legal: list = dataclasses.field(default_factory=list)  # [Legal]
    classification: str | None = None
    resource_identifiers: list = dataclasses.field(default_factory=list)  # [(code, codeSpace | None)]
    alternate_titles: list = dataclasses.field(default_factory=list)
    reference_system: bool = True
    conformity: bool = True
    harvested: bool = False

    @property
    def keywords(self) -> list:
        return [k for block in self.keyword_blocks for k, _href in block.keywords]

    @property
    def period_id(self) -> str:
        return "periode-" + _NCNAME_BAD.sub("_", self.identifier)


def clean_text(value) -> str:
    """Text as written to XML: str, characters not allowed in XML 1.0 removed, stripped."""
    if value is None:
        return ""
    return _NOT_XML_CHARS.sub("", str(value)).strip()


def _opt(value) -> str | None:
    text = clean_text(value)
    return text or None


def _iso_datetime(value: dt.datetime) -> str:
    if not isinstance(value, dt.datetime):
        raise TypeError("IsoContext.date_stamp must be a datetime")
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def _iso_date(value) -> str | None:
    if model.is_empty(value):
        return None
    try:
        return model.parse_date(value).isoformat()
    except ValueError:
        return None


def _number(value: float) -> str:
    text = ("%.10f" % value).rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _unique(values, key=lambda v: v.casefold()) -> list:
    seen, out = set(), []
    for value in values:
        if value and key(value) not in seen:
            seen.add(key(value))
            out.append(value)
    return out


def _uuid(value) -> str | None:
    text = clean_text(value)
    return model.normalize_uuid(text) if text else None


def _label(nomenclature: str, code) -> str | None:
    try:
        return nomenclatures.get(nomenclature).label_of(str(code).strip())
    except KeyError:
        return None


def _tags(record: dict) -> list:
    tags = record.get("tags")
    if tags:
        names = []
        for tag in model.as_list(tags):
            names.append(tag.get("display_name") or tag.get("name") if isinstance(tag, dict) else tag)
        return [clean_text(n) for n in names if clean_text(n)]
    return [clean_text(t) for t in model.as_list(record.get("tag_string")) if clean_text(t)]


def _sinp_keywords(kind: str, record: dict) -> list:
    labels = []
    for f in model.fields(kind):
        if f.kind in ("code", "codes") and f.nomenclature in KEYWORD_NOMENCLATURES:
            labels += [_label(f.nomenclature, c) for c in model.as_list(record.get(f.name))]
    return _unique([clean_text(k) for k in labels if k] + _tags(record))


def _actor_party(actor: dict, iso_role: str, sinp_role: str | None) -> Party | None:
    organisation, individual = _opt(actor.get("organisme")), _opt(actor.get("nom_prenom"))
    if not organisation and not individual:
        return None
    position = _label("ROLE_ACTEUR", sinp_role) if sinp_role else None
    return Party(organisation, individual, _opt(actor.get("mail")), iso_role, _opt(position))


def _parties(kind: str, record: dict, ctx: IsoContext) -> tuple[list, list]:
    """(resource parties, extra metadata contacts) from the actor fields of the record."""
    parties, metadata_contacts = [], []
    for f in model.fields(kind):
        if f.kind != "actors" or f.name not in _ACTOR_FIELD_DEFAULT_ROLE:
            continue
        for actor in model.as_list(record.get(f.name)):
            if not isinstance(actor, dict):
                continue
            sinp_role = clean_text(actor.get("role")) or _ACTOR_FIELD_DEFAULT_ROLE[f.name]
            if sinp_role == METADATA_CONTACT_ROLE:
                party = _actor_party(actor, "pointOfContact", sinp_role)
                if party:
                    metadata_contacts.append(party)
                continue
            party = _actor_party(actor, ROLE_TO_ISO.get(sinp_role, DEFAULT_ISO_ROLE), sinp_role)
            if party:
                parties.append(party)
    if not parties and ctx.organization and _opt(ctx.organization.get("title")):
        parties.append(
            Party(_opt(ctx.organization.get("title")), None, _opt(ctx.organization.get("email")), "pointOfContact")
        )
    return parties, metadata_contacts


def _platform_contact(kind: str, record: dict, ctx: IsoContext) -> Party:
    for actor in model.as_list(record.get(PLATFORM_CONTACT_FIELD)) if kind == "jdd" else []:
        if isinstance(actor, dict):
            party = _actor_party(actor, "pointOfContact", None)
            if party:
                return party
    contact = ctx.platform_contact or DEFAULT_PLATFORM_CONTACT
    return Party(
        _opt(contact.get("name")) or DEFAULT_PLATFORM_CONTACT["name"],
        None,
        _opt(contact.get("email")),
        "pointOfContact",
    )


def _bbox(kind: str, record: dict, ctx: IsoContext) -> tuple | None:
    if kind == "jdd" and model.bbox_geometry(record):
        return tuple(model.parse_decimal(record[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord"))
    if ctx.bbox:
        west, south, east, north = (float(v) for v in ctx.bbox)
        if -180 <= west <= east <= 180 and -90 <= south <= north <= 90:
            return (west, south, east, north)
    return None


def _format_of(resource: dict) -> str | None:
    fmt = clean_text(resource.get("format")).lstrip(".")
    if not fmt:
        path = urlsplit(clean_text(resource.get("url"))).path
        last = path.rsplit("/", 1)[-1]
        fmt = last.rsplit(".", 1)[-1] if "." in last else ""
    return fmt.upper() if fmt and len(fmt) <= 10 and fmt.isalnum() else (fmt or None)


def _lineage(kind: str, record: dict, ctx: IsoContext) -> str:
    if _opt(ctx.lineage):
        return clean_text(ctx.lineage)
    if kind == "ca":
        return (
            "Cadre d'acquisition du Système d'information de l'inventaire du patrimoine naturel "
            "(SINP), décrit selon le standard de métadonnées du SINP (version 1.3.10) sur la "
            "plateforme régionale de Bourgogne-Franche-Comté. Il regroupe les jeux de données "
            "produits dans ce cadre."
        )
    text = (
        "Jeu de données du Système d'information de l'inventaire du patrimoine naturel (SINP), "
        "décrit selon le standard de métadonnées du SINP (version 1.3.10) sur la plateforme "
        "régionale de Bourgogne-Franche-Comté."
    )
    ca_title = _opt((ctx.ca or {}).get("title"))
    if ca_title:
        text += f" Données produites dans le cadre d'acquisition « {ca_title} »."
    methods = [_label("METHO_RECUEIL", c) for c in model.as_list(record.get("methodes_recueil"))]
    methods = [clean_text(m) for m in methods if m]
    if methods:
        text += " Méthodes de recueil : " + " ; ".join(methods) + "."
    protocols = []
    for p in model.as_list(record.get("protocoles")):
        if isinstance(p, dict) and _opt(p.get("libelle")):
            kind_label = _label("TYPE_PROTOCOLE", p.get("type")) if p.get("type") else None
            protocols.append(clean_text(p["libelle"]) + (f" ({clean_text(kind_label)})" if kind_label else ""))
    if protocols:
        text += " Protocoles : " + " ; ".join(protocols) + "."
    return text


def flux_links(flux_url: str | None) -> list:
    """The online resources of a served JDD towards the data flows: the layer of the public
    observations in each service, with the protocol names GeoNetwork recognises (OGC:WMS, OGC:WFS,
    OGC:OGC-API-Features-items) and the layer's name as the resource's name."""
    if not clean_text(flux_url):
        return []
    layer = flux_services.OBSERVATIONS_LAYER
    return [
        Link(
            service.layer_url(flux_url, layer),
            service.protocol,
            layer,
            service.layer_description(layer),
            "information" if service.service_type == "view" else "download",
        )
        for service in flux_services.SERVICES
    ]


def _facts(kind: str, record: dict, ctx: IsoContext) -> Facts:
    if kind not in model.KINDS:
        raise KeyError(f"Type d'enregistrement SINP inconnu : {kind!r}")
    identifier = _uuid(record.get("sinp_uuid"))
    if not identifier:
        raise ValueError("Le fichier ISO 19139 demande l'identifiant SINP (sinp_uuid) de l'enregistrement.")
    parent = _uuid(record.get("cadre") if kind == "jdd" else record.get("meta_cadre_parent"))
    date_stamp = _iso_datetime(ctx.date_stamp)

    created = _iso_date(record.get("date_creation_mtd" if kind == "ca" else "date_creation"))
    revised = _iso_date(record.get("date_maj_mtd" if kind == "ca" else "date_revision"))
    dates = [(d, t) for d, t in ((created, "creation"), (revised, "revision")) if d]
    if not dates:
        dates = [(date_stamp[:10], "publication")]

    parties, extra_contacts = _parties(kind, record, ctx)
    metadata_contacts = [_platform_contact(kind, record, ctx)] + extra_contacts

    period = record if kind == "ca" else (ctx.ca or {})
    time_begin = _iso_date(period.get("date_lancement"))
    time_end = _iso_date(period.get("date_cloture")) if time_begin else None

    name = clean_text(record.get("name")) or identifier
    landing_page = f"{ctx.site_url.rstrip('/')}/{kind}/{name}"
    links = [Link(landing_page, LINK_PROTOCOL, PAGE_NAMES[kind], clean_text(ctx.catalogue_name) or None, "information")]
    formats = []
    for resource in ctx.resources or ():
        url = clean_text(resource.get("url"))
        if not url or not urls.link_allowed(url, ctx.resource_schemes):
            continue
        links.append(
            Link(
                url,
                DOWNLOAD_PROTOCOL,
                _opt(resource.get("name")) or url.rsplit("/", 1)[-1],
                _opt(resource.get("description")),
                "download",
            )
        )
        formats.append(_format_of(resource))
    formats = _unique([f for f in formats if f])
    if kind == "jdd":
        links += flux_links(ctx.flux_url)

    licence = ctx.licence if ctx.licence and _opt(ctx.licence.get("title")) else DEFAULT_LICENCE
    licence = {k: _opt(licence.get(k)) for k in ("id", "title", "url")}
    use_limitation = f"Licence : {licence['title']}" + (f" ({licence['url']})" if licence.get("url") else "")

    sinp_keywords = _sinp_keywords(kind, record)
    alternate_title = _opt(record.get("libelle_court")) if kind == "jdd" else None
    namespace = clean_text(ctx.namespace) or DEFAULT_NAMESPACE
    facts = Facts(
        kind=kind,
        identifier=identifier,
        parent=parent,
        hierarchy=HIERARCHY[kind],
        metadata_contacts=metadata_contacts,
        date_stamp=date_stamp,
        landing_page=landing_page,
        title=clean_text(record.get("title")) or identifier,
        alternate_title=alternate_title,
        dates=dates,
        namespace=namespace,
        abstract=clean_text(record.get("notes")) or clean_text(record.get("title")) or identifier,
        parties=parties,
        sinp_keywords=sinp_keywords,
        licence=licence,
        use_limitation=use_limitation,
        bbox=_bbox(kind, record, ctx),
        extent_description=_opt(record.get("precision_geographique")),
        time_begin=time_begin,
        time_end=time_end,
        formats=formats,
        links=links,
        lineage=_lineage(kind, record, ctx),
        keyword_blocks=[
            KeywordBlock([(INSPIRE_THEME["label"], INSPIRE_THEME["uri"])], "theme", INSPIRE_THEMES_THESAURUS)
        ]
        + ([KeywordBlock([(k, None) for k in sinp_keywords], "theme", None)] if sinp_keywords else []),
        legal=[
            Legal([], ["otherRestrictions"], [], [(NO_LIMITATIONS["label"], NO_LIMITATIONS["uri"])]),
            Legal([use_limitation], [], ["otherRestrictions"], [(licence["title"], licence.get("url"))]),
        ],
        resource_identifiers=[(identifier, namespace)],
        alternate_titles=[alternate_title] if alternate_title else [],
    )
    origin = origin_of(record)
    if origin is not None:
        _harvested(facts, record, origin, ctx)
    return facts


# --- harvested records: only what the source said -----------------------------------------------

ORIGIN_FIELD = "origine_iso"
SOURCE_RECORD_LINK_NAME = "Fiche d'origine dans le catalogue source"
# CKAN resource format (services attached to a harvested JDD) -> online resource protocol
FORMAT_PROTOCOLS = {"WMS": "OGC:WMS", "WFS": "OGC:WFS", "WMTS": "OGC:WMTS", "WCS": "OGC:WCS", "ATOM": "ATOM"}
_DATE_RE = re.compile(r"^-?\d{4}(-\d{2}(-\d{2})?)?(Z|[+-]\d{2}:\d{2})?$")
_DATETIME_RE = re.compile(r"^-?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


# the keys of ``origine_iso`` (written by ``iso_read`` and the CSW harvester), see harvesters/README.md
ORIGIN_KEYS = frozenset(
    {
        "identifiant", "norme", "niveau", "date_fiche", "langue_fiche", "langues", "jeu_caracteres",
        "titre_alternatif", "identifiants_ressource", "themes_inspire", "mots_cles", "categories", "genealogie",
        "contraintes", "ressources", "periode", "dates", "parties", "echelle", "resolution", "services",
        "catalogue", "fiche", "republier", "identifiant_parent", "formats", "type_service", "operations",
    }
)  # fmt: skip
ORIGIN_MAX_CHARS = 1_000_000


def check_origin(value) -> dict:
    """The ``origine_iso`` of a record as a dict (from a dict or its JSON text); raises ValueError
    (French) for anything else: not a JSON object, an unknown key, too large."""
    if isinstance(value, str):
        if len(value) > ORIGIN_MAX_CHARS:
            raise ValueError("« origine_iso » est trop volumineuse.")
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("« origine_iso » doit être un objet JSON.") from None
    if not isinstance(value, dict):
        raise ValueError("« origine_iso » doit être un objet JSON.")
    unknown = sorted(set(value) - ORIGIN_KEYS)
    if unknown:
        raise ValueError(f"« origine_iso » : clé(s) inconnue(s) : {', '.join(unknown)}.")
    return value


def origin_of(record: dict) -> dict | None:
    """The ``origine_iso`` of a harvested record (a dict, or its JSON text), None for our own records."""
    value = record.get(ORIGIN_FIELD)
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) and value else None


TOPIC_CATEGORY_LABELS = {
    "farming": "Agriculture",
    "biota": "Flore et faune",
    "boundaries": "Limites politiques et administratives",
    "climatologyMeteorologyAtmosphere": "Climatologie, météorologie, atmosphère",
    "economy": "Économie",
    "elevation": "Topographie",
    "environment": "Ressources et gestion de l'environnement",
    "geoscientificInformation": "Informations géoscientifiques",
    "health": "Santé",
    "imageryBaseMapsEarthCover": "Imagerie, cartes de base, occupation des terres",
    "intelligenceMilitary": "Infrastructures militaires",
    "inlandWaters": "Eaux intérieures",
    "location": "Localisant",
    "oceans": "Océans",
    "planningCadastre": "Planification, cadastre",
    "society": "Société",
    "structure": "Aménagements urbains",
    "transportation": "Infrastructures de transport",
    "utilitiesCommunication": "Réseaux de télécommunication, d'énergie",
}
LANGUAGE_LABELS = {
    "fre": "français", "fra": "français", "eng": "anglais", "ger": "allemand", "deu": "allemand",
    "dut": "néerlandais", "nld": "néerlandais", "spa": "espagnol", "ita": "italien", "por": "portugais",
    "gle": "irlandais", "cat": "catalan", "bre": "breton", "oci": "occitan", "cos": "corse", "eus": "basque",
    "baq": "basque", "lat": "latin", "pol": "polonais", "dan": "danois", "swe": "suédois", "fin": "finnois",
}  # fmt: skip
ISO_ROLE_LABELS = {
    "resourceProvider": "Fournisseur",
    "custodian": "Gestionnaire",
    "owner": "Propriétaire",
    "user": "Utilisateur",
    "distributor": "Distributeur",
    "originator": "Commanditaire",
    "pointOfContact": "Point de contact",
    "principalInvestigator": "Maître d'œuvre",
    "processor": "Exécutant",
    "publisher": "Éditeur",
    "author": "Auteur",
}
RESTRICTION_LABELS = {
    "copyright": "Droit d'auteur",
    "patent": "Brevet",
    "patentPending": "Brevet en instance",
    "trademark": "Marque de commerce",
    "license": "Licence",
    "intellectualPropertyRights": "Droit de propriété intellectuelle",
    "restricted": "Restreint",
    "otherRestrictions": "Autres restrictions",
}
DATE_TYPE_LABELS = {"creation": "Création", "publication": "Publication", "revision": "Révision"}


def origin_view(origin, schemes=urls.DEFAULT_SCHEMES) -> dict | None:
    """What the record page shows of ``origine_iso`` (« Origine de la fiche »): French labels for
    codes (topic categories, languages, ISO roles, restrictions), links only where the URL is a
    link we may show (``schemes``), keywords grouped by thesaurus. None when there is no origin.
    Plain texts: the template escapes them."""
    origin = origin_of({ORIGIN_FIELD: origin}) if not isinstance(origin, dict) else (origin or None)
    if not origin:
        return None

    def link(url):
        url = clean_text(url)
        return url if url and urls.link_allowed(url, schemes) else None

    def language(code):
        code = clean_text(code)
        return f"{LANGUAGE_LABELS[code.lower()]} ({code})" if code.lower() in LANGUAGE_LABELS else code

    thesauri: dict = {}
    for item in model.as_list(origin.get("mots_cles")):
        if isinstance(item, dict) and clean_text(item.get("mot")):
            name = clean_text(item.get("thesaurus")) or "Mots-clés libres"
            thesauri.setdefault(name, []).append({"texte": clean_text(item["mot"]), "lien": link(item.get("uri"))})
    constraints = origin.get("contraintes") if isinstance(origin.get("contraintes"), dict) else {}
    period = origin.get("periode") if isinstance(origin.get("periode"), dict) else {}
    dates = origin.get("dates") if isinstance(origin.get("dates"), dict) else {}
    return {
        "identifiant": clean_text(origin.get("identifiant")),
        "norme": clean_text(origin.get("norme")),
        "niveau": clean_text(origin.get("niveau")),
        "catalogue": clean_text(origin.get("catalogue")),
        "catalogue_lien": link(origin.get("catalogue")),
        "fiche": link(origin.get("fiche")),
        "date_fiche": clean_text(origin.get("date_fiche")),
        "republier": origin.get("republier") is not False,
        "langue_fiche": language(origin.get("langue_fiche")) if clean_text(origin.get("langue_fiche")) else "",
        "langues": [language(c) for c in _texts_of(origin.get("langues"))],
        "titres_alternatifs": _texts_of(origin.get("titre_alternatif")),
        "identifiants_ressource": [
            " : ".join(x for x in (clean_text(i.get("espace")), clean_text(i.get("code"))) if x)
            for i in model.as_list(origin.get("identifiants_ressource"))
            if isinstance(i, dict) and clean_text(i.get("code"))
        ],
        "themes_inspire": [
            {"texte": clean_text(t.get("libelle")), "lien": link(t.get("uri"))}
            for t in model.as_list(origin.get("themes_inspire"))
            if isinstance(t, dict) and clean_text(t.get("libelle"))
        ],
        "mots_cles": [{"thesaurus": name, "mots": words} for name, words in thesauri.items()],
        "categories": [TOPIC_CATEGORY_LABELS.get(c, c) for c in _texts_of(origin.get("categories"))],
        "genealogie": clean_text(origin.get("genealogie")),
        "limitations": _texts_of(constraints.get("limitations")),
        "acces": [RESTRICTION_LABELS.get(c, c) for c in _texts_of(constraints.get("acces"))],
        "usage": [RESTRICTION_LABELS.get(c, c) for c in _texts_of(constraints.get("usage"))],
        "autres_contraintes": [
            {"texte": clean_text(o.get("texte")), "lien": link(o.get("uri"))}
            for o in model.as_list(constraints.get("autres"))
            if isinstance(o, dict) and clean_text(o.get("texte"))
        ],
        "classification": clean_text(constraints.get("classification")),
        "ressources": [
            {
                "nom": clean_text(r.get("nom")) or clean_text(r.get("url")),
                "lien": link(r.get("url")),
                "url": clean_text(r.get("url")),
                "protocole": clean_text(r.get("protocole")),
                "description": clean_text(r.get("description")),
            }
            for r in model.as_list(origin.get("ressources"))
            if isinstance(r, dict) and clean_text(r.get("url"))
        ],
        "periode": {
            "debut": clean_text(period.get("debut")),
            "fin": "en cours" if clean_text(period.get("fin")) == "ouvert" else clean_text(period.get("fin")),
        }
        if clean_text(period.get("debut")) or clean_text(period.get("fin"))
        else None,
        "dates": [
            {"type": DATE_TYPE_LABELS[t], "date": clean_text(dates[t])}
            for t in ("creation", "publication", "revision")
            if clean_text(dates.get(t))
        ],
        "parties": [
            {
                "nom": " — ".join(x for x in (clean_text(p.get("organisme")), clean_text(p.get("personne"))) if x),
                "mail": clean_text(p.get("mail")),
                "role": ISO_ROLE_LABELS.get(clean_text(p.get("role_iso")), clean_text(p.get("role_iso"))),
                "portee": "métadonnées" if p.get("portee") == "metadonnees" else "ressource",
            }
            for p in model.as_list(origin.get("parties"))
            if isinstance(p, dict) and (clean_text(p.get("organisme")) or clean_text(p.get("personne")))
        ],
        "echelle": clean_text(origin.get("echelle")),
        "resolution": clean_text(origin.get("resolution")),
    }


def republished(record: dict) -> bool:
    """Whether our CSW and DCAT serve the record: False only for a harvested record whose source
    configuration says ``"republish": false`` (``origine_iso.republier``)."""
    origin = origin_of(record)
    return not (origin is not None and origin.get("republier") is False)


def csw_identifier(record: dict) -> str | None:
    """The record's identifier in our CSW (its fileIdentifier): the source's own for a harvested
    record we republish, so that a catalogue harvesting both us and the partner sees one record;
    the SINP UUID otherwise. (``csw.sync.csw_identifier_sql`` is its SQL twin.)"""
    origin = origin_of(record)
    if origin is not None and origin.get("republier") is not False and clean_text(origin.get("identifiant")):
        return clean_text(origin["identifiant"])
    return record.get("sinp_uuid")


def _date_type(value) -> str | None:
    """The gco element that holds ``value`` (gco:Date for a date, year or year-month; gco:DateTime
    for a date-time), None when it is neither."""
    text = clean_text(value)
    if _DATETIME_RE.match(text):
        return "gco:DateTime"
    if _DATE_RE.match(text):
        return "gco:Date"
    return None


def _texts_of(values) -> list:
    return [clean_text(v) for v in model.as_list(values) if clean_text(v)] if values else []


def _harvested(f: Facts, record: dict, origin: dict, ctx: IsoContext) -> None:
    """Rewrites the facts of a harvested record so that the document says what its source said and
    nothing else: no licence (unless the record has one), no access statement, language, date,
    topic category, reference system or conformity that the source lacks. A republished record
    (``republier`` not false) keeps the source's fileIdentifier and dateStamp and links to the
    source record."""
    f.harvested = True
    source_id = clean_text(origin.get("identifiant"))
    republish = origin.get("republier") is not False
    f.identifier = csw_identifier(record) or f.identifier
    stamp = clean_text(origin.get("date_fiche"))
    stamp_type = _date_type(stamp)
    if republish and stamp_type:
        f.date_stamp, f.date_stamp_type = stamp, stamp_type
    ca_origin = origin_of(ctx.ca or {}) if f.kind == "jdd" else None
    if f.parent and ca_origin and ca_origin.get("republier") is not False and clean_text(ca_origin.get("identifiant")):
        f.parent = clean_text(ca_origin["identifiant"])
    f.metadata_language = _opt(origin.get("langue_fiche"))
    f.metadata_charset = "utf8"  # our document is UTF-8 whatever the source's encoding was
    f.resource_languages = _texts_of(origin.get("langues"))
    f.resource_charset = None
    f.topic_categories = _texts_of(origin.get("categories"))
    f.alternate_titles = _texts_of(origin.get("titre_alternatif"))
    f.abstract = clean_text(record.get("notes"))
    f.lineage = _opt(origin.get("genealogie"))
    f.reference_system = False
    f.conformity = False
    f.title = clean_text(record.get("title")) or f.title

    ids = [
        (clean_text(i.get("code")), _opt(i.get("espace")))
        for i in model.as_list(origin.get("identifiants_ressource"))
        if isinstance(i, dict) and clean_text(i.get("code"))
    ]
    f.resource_identifiers = ids or ([(source_id, None)] if source_id else [(f.identifier, None)])

    dates = origin.get("dates") if isinstance(origin.get("dates"), dict) else {}
    f.dates = [(clean_text(dates[t]), t) for t in ("creation", "publication", "revision") if _date_type(dates.get(t))]

    blocks: list[KeywordBlock] = []
    index: dict = {}
    for item in model.as_list(origin.get("mots_cles")):
        if not isinstance(item, dict) or not clean_text(item.get("mot")):
            continue
        key = tuple(clean_text(item.get(k)) for k in ("thesaurus", "thesaurus_uri", "thesaurus_date", "type"))
        if key not in index:
            thesaurus = {"title": key[0], "uri": key[1] or None, "date": key[2]} if key[0] else None
            index[key] = KeywordBlock([], key[3] or None, thesaurus)
            blocks.append(index[key])
        index[key].keywords.append((clean_text(item["mot"]), _opt(item.get("uri"))))
    known = {k.casefold() for block in blocks for k, _ in block.keywords}
    themes = [
        (clean_text(t.get("libelle")), _opt(t.get("uri")))
        for t in model.as_list(origin.get("themes_inspire"))
        if isinstance(t, dict) and clean_text(t.get("libelle")) and clean_text(t.get("libelle")).casefold() not in known
    ]
    if themes:
        blocks.insert(0, KeywordBlock(themes, "theme", INSPIRE_THEMES_THESAURUS))
    f.keyword_blocks = blocks
    f.sinp_keywords = []

    constraints = origin.get("contraintes") if isinstance(origin.get("contraintes"), dict) else {}
    legal = Legal(
        _texts_of(constraints.get("limitations")),
        _texts_of(constraints.get("acces")),
        _texts_of(constraints.get("usage")),
        [
            (clean_text(o.get("texte")), _opt(o.get("uri")))
            for o in model.as_list(constraints.get("autres"))
            if isinstance(o, dict) and clean_text(o.get("texte"))
        ],
    )
    f.legal = [legal] if (legal.use_limitations or legal.access or legal.use or legal.others) else []
    f.classification = _opt(constraints.get("classification"))
    has_licence = not model.is_empty(record.get("license_id")) and ctx.licence and _opt(ctx.licence.get("title"))
    if has_licence:  # a licence the producer gave on the platform (never the default of a record without one)
        f.legal.append(
            Legal([f.use_limitation], [], ["otherRestrictions"], [(f.licence["title"], f.licence.get("url"))])
        )
    else:
        f.licence = {"id": None, "title": None, "url": None}
        f.use_limitation = None

    period = origin.get("periode") if isinstance(origin.get("periode"), dict) else {}
    begin, end = clean_text(period.get("debut")), clean_text(period.get("fin"))
    f.time_begin = begin if _date_type(begin) else None
    f.time_end = end if (end == "ouvert" or _date_type(end)) else None
    if not f.time_begin and not f.time_end:
        f.time_begin = f.time_end = None

    landing = f.links[0]
    links = [landing]
    seen = {landing.url}
    for item in model.as_list(origin.get("ressources")):
        url = clean_text(item.get("url")) if isinstance(item, dict) else ""
        if not url or url in seen or not urls.link_allowed(url, ctx.resource_schemes):
            continue
        seen.add(url)
        links.append(
            Link(
                url,
                clean_text(item.get("protocole")),
                _opt(item.get("nom")),
                _opt(item.get("description")),
                clean_text(item.get("fonction")),
            )
        )
    formats = []
    for resource in ctx.resources or ():
        url = clean_text(resource.get("url"))
        if not url or url in seen or not urls.link_allowed(url, ctx.resource_schemes):
            continue
        seen.add(url)
        fmt = clean_text(resource.get("format")).upper()
        protocol = FORMAT_PROTOCOLS.get(fmt, DOWNLOAD_PROTOCOL)
        links.append(
            Link(
                url,
                protocol,
                _opt(resource.get("name")) or url.rsplit("/", 1)[-1],
                _opt(resource.get("description")),
                "download" if protocol == DOWNLOAD_PROTOCOL else "",
            )
        )
        if protocol == DOWNLOAD_PROTOCOL:
            formats.append(_format_of(resource))
    fiche = clean_text(origin.get("fiche"))
    if republish and fiche and fiche not in seen and urls.link_allowed(fiche, ctx.resource_schemes):
        catalogue = _opt(origin.get("catalogue"))
        links.append(Link(fiche, LINK_PROTOCOL, SOURCE_RECORD_LINK_NAME, catalogue, "information"))
    f.links = links
    f.formats = _unique([x for x in formats if x])

    parties = [p for p in model.as_list(origin.get("parties")) if isinstance(p, dict)]
    if parties:

        def party(p):
            organisation, individual = _opt(p.get("organisme")), _opt(p.get("personne"))
            if not organisation and not individual:
                return None
            position = _label("ROLE_ACTEUR", p.get("role_sinp")) if clean_text(p.get("role_sinp")) else None
            return Party(organisation, individual, _opt(p.get("mail")), clean_text(p.get("role_iso")), _opt(position))

        resource = [x for x in (party(p) for p in parties if p.get("portee") != "metadonnees") if x]
        metadata = [x for x in (party(p) for p in parties if p.get("portee") == "metadonnees") if x]
        f.parties = resource
        f.metadata_contacts = metadata


# --- XML writing -------------------------------------------------------------------------------


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def _el(parent, name: str, text: str | None = None, **attrs):
    element = etree.SubElement(parent, _q(name))
    for key, value in attrs.items():
        element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _cs(parent, name: str, text: str | None):
    """<name><gco:CharacterString>text</gco:CharacterString></name>, nilReason when empty."""
    wrapper = _el(parent, name)
    if text:
        _el(wrapper, "gco:CharacterString", text)
    else:
        wrapper.set(_q("gco:nilReason"), "unknown")
    return wrapper


def _anchor(parent, name: str, text: str, href: str | None):
    if not href:
        return _cs(parent, name, text)
    wrapper = _el(parent, name)
    anchor = _el(wrapper, "gmx:Anchor", text)
    anchor.set(_q("xlink:href"), href)
    return wrapper


def _code(parent, name: str, codelist: str, value: str, text: str | None = None):
    wrapper = _el(parent, name)
    element = _el(wrapper, f"gmd:{codelist}", text if text is not None else value)
    element.set("codeList", f"{CODELISTS}#{codelist}")
    element.set("codeListValue", value)
    return wrapper


def _language(parent, code: str | None = LANGUAGE):
    wrapper = _el(parent, "gmd:language")
    if not code:
        wrapper.set(_q("gco:nilReason"), "unknown")
        return
    element = _el(wrapper, "gmd:LanguageCode", code)
    element.set("codeList", LANGUAGE_CODELIST)
    element.set("codeListValue", code)


def _ci_date(parent, date: str | None, datetype: str):
    wrapper = _el(parent, "gmd:date")
    if not date or not _date_type(date):
        wrapper.set(_q("gco:nilReason"), "unknown")
        return
    ci_date = _el(wrapper, "gmd:CI_Date")
    _el(_el(ci_date, "gmd:date"), _date_type(date), date)
    _code(ci_date, "gmd:dateType", "CI_DateTypeCode", datetype)


def _party(parent, name: str, party: Party | None):
    wrapper = _el(parent, name)
    if party is None:
        wrapper.set(_q("gco:nilReason"), "unknown")
        return
    rp = _el(wrapper, "gmd:CI_ResponsibleParty")
    if party.individual:
        _cs(rp, "gmd:individualName", party.individual)
    if party.organisation:
        _cs(rp, "gmd:organisationName", party.organisation)
    if party.position:
        _cs(rp, "gmd:positionName", party.position)
    if party.email:
        address = _el(_el(_el(rp, "gmd:contactInfo"), "gmd:CI_Contact"), "gmd:address")
        _cs(_el(address, "gmd:CI_Address"), "gmd:electronicMailAddress", party.email)
    if party.role:
        _code(rp, "gmd:role", "CI_RoleCode", party.role)
    else:
        _el(rp, "gmd:role").set(_q("gco:nilReason"), "unknown")


def _keywords(parent, block: KeywordBlock):
    md_keywords = _el(_el(parent, "gmd:descriptiveKeywords"), "gmd:MD_Keywords")
    for keyword, href in block.keywords:
        _anchor(md_keywords, "gmd:keyword", keyword, href)
    if block.type:
        _code(md_keywords, "gmd:type", "MD_KeywordTypeCode", block.type)
    if block.thesaurus:
        citation = _el(_el(md_keywords, "gmd:thesaurusName"), "gmd:CI_Citation")
        _anchor(citation, "gmd:title", block.thesaurus["title"], block.thesaurus.get("uri"))
        _ci_date(citation, block.thesaurus.get("date"), "publication")


def _legal_constraints(parent, legal: Legal):
    md_legal = _el(_el(parent, "gmd:resourceConstraints"), "gmd:MD_LegalConstraints")
    for text in legal.use_limitations:
        if text:
            _cs(md_legal, "gmd:useLimitation", text)
    for code in legal.access:
        _code(md_legal, "gmd:accessConstraints", "MD_RestrictionCode", code)
    for code in legal.use:
        _code(md_legal, "gmd:useConstraints", "MD_RestrictionCode", code)
    for text, href in legal.others:
        _anchor(md_legal, "gmd:otherConstraints", text, href)


def geographic_box(extent, bbox: tuple) -> None:
    """``gmd:geographicElement/gmd:EX_GeographicBoundingBox`` of (west, south, east, north) in ``extent``."""
    box = _el(_el(extent, "gmd:geographicElement"), "gmd:EX_GeographicBoundingBox")
    west, south, east, north = bbox
    for name, value in (
        ("westBoundLongitude", west),
        ("eastBoundLongitude", east),
        ("southBoundLatitude", south),
        ("northBoundLatitude", north),
    ):
        _el(_el(box, f"gmd:{name}"), "gco:Decimal", _number(value))


def _render(f: Facts) -> etree._Element:
    root = etree.Element(_q("gmd:MD_Metadata"), nsmap=NSMAP)
    root.set(_q("xsi:schemaLocation"), SCHEMA_LOCATION)

    # metadata on metadata
    _cs(root, "gmd:fileIdentifier", f.identifier)
    if f.metadata_language:
        _language(root, f.metadata_language)
    if f.metadata_charset:
        _code(root, "gmd:characterSet", "MD_CharacterSetCode", f.metadata_charset)
    if f.parent:
        _cs(root, "gmd:parentIdentifier", f.parent)
    _code(root, "gmd:hierarchyLevel", "MD_ScopeCode", f.hierarchy)
    for contact in f.metadata_contacts or [None]:
        _party(root, "gmd:contact", contact)
    _el(_el(root, "gmd:dateStamp"), f.date_stamp_type, f.date_stamp)
    _cs(root, "gmd:metadataStandardName", METADATA_STANDARD_NAME)
    _cs(root, "gmd:metadataStandardVersion", METADATA_STANDARD_VERSION)
    _cs(root, "gmd:dataSetURI", f.landing_page)
    if f.reference_system:
        rs = _el(
            _el(_el(_el(root, "gmd:referenceSystemInfo"), "gmd:MD_ReferenceSystem"), "gmd:referenceSystemIdentifier"),
            "gmd:RS_Identifier",
        )
        _anchor(rs, "gmd:code", CRS_LABEL, CRS_URI)

    # identification
    ident = _el(_el(root, "gmd:identificationInfo"), "gmd:MD_DataIdentification")
    citation = _el(_el(ident, "gmd:citation"), "gmd:CI_Citation")
    _cs(citation, "gmd:title", f.title)
    for alternate in f.alternate_titles:
        _cs(citation, "gmd:alternateTitle", alternate)
    for date, datetype in f.dates or [(None, None)]:
        _ci_date(citation, date, datetype)
    for code, space in f.resource_identifiers:
        rs_id = _el(_el(citation, "gmd:identifier"), "gmd:RS_Identifier")
        _cs(rs_id, "gmd:code", code)
        if space:
            _cs(rs_id, "gmd:codeSpace", space)
    _cs(ident, "gmd:abstract", f.abstract)
    for party in f.parties:
        _party(ident, "gmd:pointOfContact", party)
    for block in f.keyword_blocks:
        _keywords(ident, block)
    for legal in f.legal:
        _legal_constraints(ident, legal)
    if f.classification:
        security = _el(_el(ident, "gmd:resourceConstraints"), "gmd:MD_SecurityConstraints")
        _code(security, "gmd:classification", "MD_ClassificationCode", f.classification)
    for code in f.resource_languages or [None]:
        _language(ident, code)
    if f.resource_charset:
        _code(ident, "gmd:characterSet", "MD_CharacterSetCode", f.resource_charset)
    for category in f.topic_categories:
        _el(_el(ident, "gmd:topicCategory"), "gmd:MD_TopicCategoryCode", category)
    if f.bbox or f.time_begin or f.time_end or f.extent_description:
        extent = _el(_el(ident, "gmd:extent"), "gmd:EX_Extent")
        if f.extent_description:
            _cs(extent, "gmd:description", f.extent_description)
        if f.bbox:
            geographic_box(extent, f.bbox)
        if f.time_begin or f.time_end:
            period = _el(
                _el(_el(_el(extent, "gmd:temporalElement"), "gmd:EX_TemporalExtent"), "gmd:extent"), "gml:TimePeriod"
            )
            period.set(_q("gml:id"), f.period_id)
            if f.time_begin:
                _el(period, "gml:beginPosition", f.time_begin)
            else:
                _el(period, "gml:beginPosition", indeterminatePosition="unknown")
            if f.time_end and f.time_end != "ouvert":
                _el(period, "gml:endPosition", f.time_end)
            else:  # our records: no closing date -> ongoing; harvested: what the source said (open end)
                _el(period, "gml:endPosition", indeterminatePosition="unknown" if f.harvested else "now")

    # distribution
    distribution = _el(_el(root, "gmd:distributionInfo"), "gmd:MD_Distribution")
    for fmt in f.formats or ([] if f.harvested else [None]):
        md_format = _el(_el(distribution, "gmd:distributionFormat"), "gmd:MD_Format")
        _cs(md_format, "gmd:name", fmt)
        _cs(md_format, "gmd:version", None)
    options = _el(_el(distribution, "gmd:transferOptions"), "gmd:MD_DigitalTransferOptions")
    for link in f.links:
        online = _el(_el(options, "gmd:onLine"), "gmd:CI_OnlineResource")
        _el(_el(online, "gmd:linkage"), "gmd:URL", link.url)
        if link.protocol:
            _cs(online, "gmd:protocol", link.protocol)
        if link.name:
            _cs(online, "gmd:name", link.name)
        if link.description:
            _cs(online, "gmd:description", link.description)
        if link.function:
            _code(online, "gmd:function", "CI_OnLineFunctionCode", link.function)

    # data quality
    quality = _el(_el(root, "gmd:dataQualityInfo"), "gmd:DQ_DataQuality")
    _code(_el(_el(quality, "gmd:scope"), "gmd:DQ_Scope"), "gmd:level", "MD_ScopeCode", f.hierarchy)
    if f.conformity:
        result = _el(
            _el(_el(_el(quality, "gmd:report"), "gmd:DQ_DomainConsistency"), "gmd:result"), "gmd:DQ_ConformanceResult"
        )
        spec = _el(_el(result, "gmd:specification"), "gmd:CI_Citation")
        _anchor(spec, "gmd:title", CONFORMITY_SPEC["title"], CONFORMITY_SPEC["uri"])
        _ci_date(spec, CONFORMITY_SPEC["date"], CONFORMITY_SPEC["datetype"])
        _cs(result, "gmd:explanation", CONFORMITY_EXPLANATION)
        _el(result, "gmd:pass").set(_q("gco:nilReason"), "unknown")
    if f.lineage:
        lineage = _el(_el(quality, "gmd:lineage"), "gmd:LI_Lineage")
        _cs(lineage, "gmd:statement", f.lineage)
    return root


def to_iso19139(kind: str, record: dict, ctx: IsoContext) -> bytes:
    """The ISO 19139 (INSPIRE TG 2.0) document of a CA ("ca") or a JDD ("jdd"): UTF-8 bytes."""
    root = _render(_facts(kind, record, ctx))
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


# --- pycsw row ----------------------------------------------------------------------------------


def anytext(xml) -> str:
    """All text nodes of the document, as pycsw's ``util.get_anytext`` (empty nodes skipped)."""
    root = xml if isinstance(xml, etree._Element) else etree.fromstring(xml)
    return " ".join(t.strip() for t in root.xpath("//text()") if t.strip())


def wkt_polygon(bbox: tuple) -> str:
    """(west, south, east, north) -> POLYGON in EPSG:4326, lon lat, pycsw's ring order.

    pycsw's own bbox2wktpolygon rounds to 2 decimals (~1 km); full precision is kept here.
    """
    w, s, e, n = (_number(v) for v in bbox)
    return f"POLYGON(({w} {s}, {w} {n}, {e} {n}, {e} {s}, {w} {s}))"


def _link_part(value: str | None) -> str:
    # pycsw splits the links column on '^' and each link on ',' (using [0], [1], [2], [-1])
    return re.sub(r"\s+", " ", (value or "").replace(",", " ").replace("^", " ")).strip()


def _link_url(url: str) -> str:
    return url.replace(",", "%2C").replace("^", "%5E")


def links_column(links: list) -> str:
    return "^".join(
        ",".join((_link_part(link.name), _link_part(link.description), link.protocol, _link_url(link.url)))
        for link in links
    )


def csw_values(kind: str, record: dict, ctx: IsoContext, xml: bytes) -> dict:
    """The queryables of the pycsw table for this record, keyed by pycsw's ``pycsw:*`` names
    (``csw.repository.csw_row`` turns them into a row keyed by column name).

    Values use pycsw 2.6.2's formats
    (``_parse_iso``): keywords comma-joined, links ``name,description,protocol,url`` joined by
    ``^``, date_modified = the gmd:dateStamp (a date-time). Where pycsw with OWSLib would lose
    information, the intended value is stored instead: language / resource language 'fre' (OWSLib
    reads only gco:CharacterString languages), gmx:Anchor keywords and specification title, the
    bbox at full precision, the distribution format(s).
    """
    f = _facts(kind, record, ctx)
    root = etree.fromstring(xml)
    found = root.findtext(f"{{{GMD}}}fileIdentifier/{{{GCO}}}CharacterString")
    if found != f.identifier:
        raise ValueError(f"xml is the document of {found!r}, not of {f.identifier!r}")

    def orgs(*roles):
        return (
            ";".join(_unique([p.organisation for p in f.parties if p.organisation and (not roles or p.role in roles)]))
            or None
        )

    dates = {t: d for d, t in f.dates}
    values = {
        "pycsw:Identifier": f.identifier,
        "pycsw:Typename": "gmd:MD_Metadata",
        "pycsw:Schema": GMD,
        "pycsw:MdSource": "local",
        "pycsw:XML": etree.tostring(root, encoding="unicode"),
        "pycsw:AnyText": anytext(root),
        "pycsw:Language": f.metadata_language,
        "pycsw:Title": f.title,
        "pycsw:Abstract": f.abstract,
        "pycsw:Keywords": ",".join(f.keywords),
        "pycsw:KeywordType": ",".join(_unique([b.type for b in f.keyword_blocks if b.type])) or None,
        "pycsw:Format": ",".join(f.formats) or None,
        "pycsw:Source": f.landing_page,
        "pycsw:Date": f.date_stamp,
        "pycsw:Modified": f.date_stamp,
        "pycsw:Type": f.hierarchy,
        "pycsw:BoundingBox": wkt_polygon(f.bbox) if f.bbox else None,
        "pycsw:CRS": CRS_URN if f.reference_system else None,
        "pycsw:AlternateTitle": ",".join(f.alternate_titles) or None,
        "pycsw:RevisionDate": dates.get("revision"),
        "pycsw:CreationDate": dates.get("creation"),
        "pycsw:PublicationDate": dates.get("publication"),
        "pycsw:OrganizationName": orgs(),
        "pycsw:ParentIdentifier": f.parent,
        "pycsw:TopicCategory": ",".join(f.topic_categories) or None,
        "pycsw:ResourceLanguage": ",".join(f.resource_languages) or None,
        "pycsw:TempExtent_begin": f.time_begin,
        "pycsw:TempExtent_end": f.time_end if f.time_end != "ouvert" else None,
        "pycsw:AccessConstraints": ",".join(_unique([c for legal in f.legal for c in legal.access])) or None,
        "pycsw:OtherConstraints": ",".join(_unique([t for legal in f.legal for t, _ in legal.others if legal.access]))
        or None,
        "pycsw:ConditionApplyingToAccessAndUse": ",".join(
            _unique([t for legal in f.legal for t in legal.use_limitations])
        )
        or None,
        "pycsw:Lineage": f.lineage,
        "pycsw:ResponsiblePartyRole": f.metadata_contacts[0].role or None if f.metadata_contacts else None,
        "pycsw:SpecificationTitle": CONFORMITY_SPEC["title"] if f.conformity else None,
        "pycsw:SpecificationDate": CONFORMITY_SPEC["date"] if f.conformity else None,
        "pycsw:SpecificationDateType": CONFORMITY_SPEC["datetype"] if f.conformity else None,
        "pycsw:Creator": orgs("originator"),
        "pycsw:Publisher": orgs("publisher"),
        "pycsw:Contributor": orgs("author"),
        "pycsw:Relation": f.parent,
        "pycsw:Links": links_column(f.links),
    }
    return values
