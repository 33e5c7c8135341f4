"""What a CA or JDD (and the catalogue) says in DCAT-AP 3, derived from the model (pure: no ``ckan`` import).

Choices that make the output conform to the DCAT-AP 3.0 SHACL shapes:

- ``dct:type`` is a ``skos:Concept`` of a SINP concept scheme declared on our own site: the
  concept of a CA is ``<site>/ca#concept``, that of a JDD ``<site>/jdd#concept`` (hash URIs: they
  resolve to the list pages of the two kinds of record), in the scheme ``<site>/about#types-de-fiches``;
  the DCAT output describes them (label, scheme). Why not the EU Publications Office dataset-type
  authority: it classifies what the data are (statistical, geospatial, test data…), not the SINP
  metadata level that ``dct:type`` carries here (an acquisition framework or a dataset within it),
  so every CA and JDD would get the same concept.
- ``dct:language``: URIs of the EU language authority (``LANGUAGE_AUTHORITY``). Our own records
  are French; a record harvested from a partner catalogue (``origine_iso``) says the languages its
  source declared (ISO 639-2/B codes such as ``fre``, ``dut``, ``ger``), nothing when it declared none.
- ``dct:license`` (on the distributions, where DCAT-AP puts it) only when the record's licence is
  known (``license_id`` with its URL); harvested records often have none.
- ``dct:identifier`` is the SINP UUID; ``dct:isPartOf`` is the CA's URI (the glue resolves the UUID).
- The data flows (``flux_services``) are ``dcat:DataService``: URI = the GetRecordById of their ISO
  service record in our CSW (``dct:identifier`` its fileIdentifier), ``dcat:endpointURL`` the service,
  ``dcat:endpointDescription`` its capabilities (OpenAPI document for the OGC API); the catalogue lists
  them (``dcat:service``) when they serve a public JDD, and a served JDD has one ``dcat:Distribution``
  per service (``dcat:accessURL`` = the layer's address, ``dcat:accessService`` = the service).
"""

from __future__ import annotations

import re

from ckanext.sinp.domain import flux_services, iso, iso_service, model, nomenclatures

LANGUAGE_AUTHORITY = "http://publications.europa.eu/resource/authority/language/"
OWN_LANGUAGES = ("fre",)  # the platform's own records are written in French
# ISO 639-2/B codes whose terminology (639-2/T) code differs: the EU authority uses the latter
_BIBLIOGRAPHIC = {
    "alb": "sqi",
    "arm": "hye",
    "baq": "eus",
    "bur": "mya",
    "chi": "zho",
    "cze": "ces",
    "dut": "nld",
    "fre": "fra",
    "geo": "kat",
    "ger": "deu",
    "gre": "ell",
    "ice": "isl",
    "mac": "mkd",
    "mao": "mri",
    "may": "msa",
    "per": "fas",
    "rum": "ron",
    "slo": "slk",
    "tib": "bod",
    "wel": "cym",
}
# ISO 639-1 codes (CKAN's locales) of the languages met here
_TWO_LETTERS = {
    "fr": "fra",
    "en": "eng",
    "de": "deu",
    "nl": "nld",
    "it": "ita",
    "es": "spa",
    "pt": "por",
    "ca": "cat",
    "oc": "oci",
    "br": "bre",
    "eu": "eus",
    "co": "cos",
    "la": "lat",
    "lb": "ltz",
}
_CODE_RE = re.compile(r"^[a-z]{2,3}$")

TYPE_FRAGMENT = "concept"
TYPE_SCHEME_PATH = "/about#types-de-fiches"
TYPE_SCHEME_TITLE = "Types de fiches de métadonnées du SINP"


def language_uri(code) -> str | None:
    """The EU language authority URI of an ISO 639-1, 639-2/B or 639-2/T code, None when the value is not one."""
    text = str(code or "").strip().lower()
    if not _CODE_RE.match(text):
        return None
    if len(text) == 2:
        text = _TWO_LETTERS.get(text, "")
        if not text:
            return None
    return LANGUAGE_AUTHORITY + _BIBLIOGRAPHIC.get(text, text).upper()


def language_uris(codes) -> list[str]:
    """The URIs of ``codes`` in order, without repeats; unknown values are left out."""
    out: list[str] = []
    for code in model.as_list(codes):
        uri = language_uri(code)
        if uri and uri not in out:
            out.append(uri)
    return out


def record_languages(record: dict) -> list[str]:
    """A record's languages: those its source declared for a harvested record (possibly none),
    French for our own records."""
    origin = iso.origin_of(record)
    if origin is not None:
        return language_uris(origin.get("langues"))
    return language_uris(OWN_LANGUAGES)


def type_concept(kind: str, site_url: str) -> dict:
    """The ``dct:type`` concept of a CA or JDD: uri, label, scheme and scheme title."""
    site = site_url.rstrip("/")
    return {
        "uri": f"{site}/{kind}#{TYPE_FRAGMENT}",
        "label": model.TYPE_LABELS[kind],
        "scheme": site + TYPE_SCHEME_PATH,
        "scheme_title": TYPE_SCHEME_TITLE,
    }


def bbox_wkt(bbox) -> str:
    """The WKT polygon of a (west, south, east, north) box."""
    w, s, e, n = bbox
    return f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"
FILE_TYPES = "http://publications.europa.eu/resource/authority/file-type/"
_MEDIA_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_FILE_TYPE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]*$")


def media_type_uri(value) -> str | None:
    """The IANA URI of a media type (``text/csv``; already a URI: kept), None when it is not one."""
    text = str(value or "").strip()
    if text.startswith(MEDIA_TYPES):
        return text
    text = text.lower()
    return MEDIA_TYPES + text if _MEDIA_TYPE_RE.match(text) else None


def file_type_uri(value) -> str | None:
    """The EU file-type authority URI of a format name (``CSV``, ``geojson``; already a URI: kept), None otherwise."""
    text = str(value or "").strip()
    if text.startswith(("http://", "https://")):
        return text
    text = text.upper().replace(" ", "_")
    return FILE_TYPES + text if _FILE_TYPE_RE.match(text) else None


def licence_uri(record: dict) -> str | None:
    """The URL of the record's licence when it is known (a ``license_id`` whose URL CKAN knows)."""
    if model.is_empty(record.get("license_id")):
        return None
    url = str(record.get("license_url") or "").strip()
    return url if url.startswith(("http://", "https://")) else None


def catalog_facts(site_url: str, locale: str | None, contact: dict) -> dict:
    """The catalogue's statements: languages (from the site's default locale, French when it has
    none) and publisher (the platform: ``contact`` name and e-mail, the CSW point of contact)."""
    site = site_url.rstrip("/")
    languages = language_uris([(locale or "fr").split("_")[0]]) or language_uris(OWN_LANGUAGES)
    name = str((contact or {}).get("name") or "").strip()
    email = str((contact or {}).get("email") or "").strip()
    return {
        "homepage": site,
        "languages": languages,
        "publisher": {"uri": f"{site}/about#plateforme", "name": name or site, "email": email or None},
    }


def dcat_facts(kind: str, record: dict, ca: dict | None, site_url: str) -> dict:
    """The DCAT statements of a SINP record.

    ``ca`` is the record's cadre d'acquisition (for a JDD), whose period is the JDD's temporal
    coverage. Returns identifier, landing page, type (concept), languages (URIs), licence (URL or
    None), temporal (start, end), bbox (west, south, east, north), keywords (French labels of the
    coded fields and the record's own keywords), the contact points (actors of role 1), the
    parent's SINP UUID and whether the record is republished at all (``iso.republished``).
    """
    period_source = record if kind == "ca" else (ca or {})
    start, end = period_source.get("date_lancement"), period_source.get("date_cloture")
    bbox = None
    if kind == "jdd" and model.bbox_geometry(record):
        bbox = tuple(model.parse_decimal(record[k]) for k in ("borne_ouest", "borne_sud", "borne_est", "borne_nord"))
    keywords = []
    for f in model.fields(kind):
        if f.kind in ("code", "codes") and f.nomenclature in (
            "VOLET_SINP",
            "DATA_TYP",
            "JDD_OBJECTIFS",
            "CA_OBJECTIFS",
            "METHO_RECUEIL",
        ):
            nom = nomenclatures.get(f.nomenclature)
            keywords += [nom.label_of(str(c)) or str(c) for c in model.as_list(record.get(f.name))]
    contacts_field = "acteurs" if kind == "ca" else "contacts_jdd"
    contacts = [
        {"name": a.get("organisme") or a.get("nom_prenom"), "email": a.get("mail")}
        for a in model.as_list(record.get(contacts_field))
        if isinstance(a, dict) and str(a.get("role")) == model.MAIN_CONTACT_ROLE
    ]
    return {
        "identifier": record.get("sinp_uuid"),
        "landing_page": f"{site_url.rstrip('/')}/{kind}/{record.get('name')}",
        "type": type_concept(kind, site_url),
        "languages": record_languages(record),
        "licence": licence_uri(record),
        "temporal": (start or None, end or None) if start else None,
        "bbox": bbox,
        "bbox_wkt": bbox_wkt(bbox) if bbox else None,
        "keywords": [k.strip() for k in keywords if k and k.strip()],
        "contacts": contacts,
        "parent": (record.get("cadre") if kind == "jdd" else record.get("meta_cadre_parent")) or None,
        "republished": iso.republished(record),
    }


def data_service_facts(service: flux_services.FluxService, flux_url: str, site_url: str, csw_url: str) -> dict:
    """The DCAT statements of a data flow: uri, identifier, title, description, endpoint URL and
    description (capabilities), and what a served JDD's distribution towards it says."""
    identifier = service.identifier(site_url)
    return {
        "uri": iso_service.record_url(csw_url, identifier),
        "identifier": identifier,
        "title": service.title,
        "description": service.abstract,
        "endpoint_url": service.url(flux_url),
        "endpoint_description": service.capabilities_url(flux_url),
        "distribution": {
            "fragment": f"flux-{service.key}",
            "title": f"Flux {service.standard} : couche {flux_services.OBSERVATIONS_LAYER}",
            "description": service.layer_description(),
            "access_url": service.layer_url(flux_url),
        },
    }
