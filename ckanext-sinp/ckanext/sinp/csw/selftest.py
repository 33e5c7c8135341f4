"""Harvest-readiness self-test of a CSW endpoint (``ckan sinp csw-selftest``).

Replays, over HTTP, the request sequences of the three harvesters that read our catalogue
(see CSW_HARVESTERS.md) and reports every problem in French, without stopping at the first:

- GeoNetwork (IDéO BFC): GetCapabilities by GET KVP; GetRecords by POST (summary, gmd,
  gmd:MD_Metadata, 20 per page) paged with nextRecord, twice (the harvester deletes what it does
  not see, so the two runs must give the same records in the same order); its GET KVP / CQL
  fallback; GetRecordById by POST and GET on a sample (one gmd:MD_Metadata, its fileIdentifier,
  ISO 19139 XSD, INSPIRE elements); an unknown id (empty response expected);
- udata (data.gouv.fr, "CSW-ISO-19139"): its exact request (csw:Record, full, dc:type filter,
  non-standard maxPosition) and one run per dc:type (dataset, series) compared with GeoNetwork's
  records split by hierarchyLevel;
- ckanext-spatial: OWSLib ``getrecords2`` (csw:Record, brief, gmd, 10 per page, startPosition
  0, 10, 20…) by POST, and the same by GET;
- filters: csw:AnyText on a word of a record's title, BBOX around a dataset's extent.

Pure client code: ``requests`` + ``lxml``, no ``import ckan``, so it can check any endpoint
(production included) from anywhere. Every request goes to the tested URL (not to the URLs the
capabilities declare; those are checked, not followed).

    report = run_selftest("https://sinp.example.fr/csw")
    print(report.to_text())            # French, one line per check, ✓ / ✗
    report.ok                          # no problem (warnings allowed)
    report.problems, report.warnings   # French sentences
    for label, ok, detail in report.checks: ...

A local tested URL (127.0.0.1, localhost…) turns "declared address is local" findings into
warnings: the test stack is local by design.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import glob
import importlib.util
import ipaddress
import math
import os
import pathlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import requests
from lxml import etree

# --- namespaces ---------------------------------------------------------------------------------

CSW = "http://www.opengis.net/cat/csw/2.0.2"
CSW_OLD = "http://www.opengis.net/cat/csw"
GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
GMX = "http://www.isotc211.org/2005/gmx"
GML32 = "http://www.opengis.net/gml/3.2"
GML = "http://www.opengis.net/gml"
OGC = "http://www.opengis.net/ogc"
OWS = "http://www.opengis.net/ows"
XLINK = "http://www.w3.org/1999/xlink"
INSPIRE_DS = "http://inspire.ec.europa.eu/schemas/inspire_ds/1.0"
NS = {"csw": CSW, "gmd": GMD, "gco": GCO, "gmx": GMX, "gml": GML32, "gml311": GML, "ogc": OGC, "xlink": XLINK}
HREF = f"{{{XLINK}}}href"

CRS_EPSG4326 = "urn:ogc:def:crs:EPSG::4326"  # latitude first
CRS_CRS84 = "urn:ogc:def:crs:OGC:1.3:CRS84"  # longitude first

# ISO 19139 XSDs as pycsw 2.6.2 ships them (tests/iso_xsd.py uses the same place)
XSD_SUBDIR = "plugins/profiles/apiso/schemas/ogc/iso/19139/20070417"
REPO_ROOT = pathlib.Path(__file__).resolve().parents[4]

# The 34 INSPIRE themes (GEMET - INSPIRE themes, version 1.0): code -> (English, French)
INSPIRE_THEMES = {
    "ad": ("Addresses", "Adresses"),
    "au": ("Administrative units", "Unités administratives"),
    "rs": ("Coordinate reference systems", "Référentiels de coordonnées"),
    "gg": ("Geographical grid systems", "Systèmes de maillage géographique"),
    "cp": ("Cadastral parcels", "Parcelles cadastrales"),
    "gn": ("Geographical names", "Dénominations géographiques"),
    "hy": ("Hydrography", "Hydrographie"),
    "ps": ("Protected sites", "Sites protégés"),
    "tn": ("Transport networks", "Réseaux de transport"),
    "el": ("Elevation", "Altitude"),
    "lc": ("Land cover", "Occupation des terres"),
    "oi": ("Orthoimagery", "Ortho-imagerie"),
    "ge": ("Geology", "Géologie"),
    "su": ("Statistical units", "Unités statistiques"),
    "bu": ("Buildings", "Bâtiments"),
    "so": ("Soil", "Sols"),
    "lu": ("Land use", "Usage des sols"),
    "hh": ("Human health and safety", "Santé et sécurité des personnes"),
    "us": ("Utility and governmental services", "Services d'utilité publique et services publics"),
    "ef": ("Environmental monitoring facilities", "Installations de suivi environnemental"),
    "pf": ("Production and industrial facilities", "Lieux de production et sites industriels"),
    "af": ("Agricultural and aquaculture facilities", "Installations agricoles et aquacoles"),
    "pd": ("Population distribution — demography", "Répartition de la population — démographie"),
    "am": (
        "Area management/restriction/regulation zones and reporting units",
        "Zones de gestion, de restriction ou de réglementation et unités de déclaration",
    ),
    "nz": ("Natural risk zones", "Zones à risque naturel"),
    "ac": ("Atmospheric conditions", "Conditions atmosphériques"),
    "mf": ("Meteorological geographical features", "Caractéristiques géographiques météorologiques"),
    "of": ("Oceanographic geographical features", "Caractéristiques géographiques océanographiques"),
    "sr": ("Sea regions", "Régions maritimes"),
    "br": ("Bio-geographical regions", "Régions biogéographiques"),
    "hb": ("Habitats and biotopes", "Habitats et biotopes"),
    "sd": ("Species distribution", "Répartition des espèces"),
    "er": ("Energy resources", "Sources d'énergie"),
    "mr": ("Mineral resources", "Ressources minérales"),
}
TOPIC_CATEGORIES = {
    "farming",
    "biota",
    "boundaries",
    "climatologyMeteorologyAtmosphere",
    "economy",
    "elevation",
    "environment",
    "geoscientificInformation",
    "health",
    "imageryBaseMapsEarthCover",
    "intelligenceMilitary",
    "inlandWaters",
    "location",
    "oceans",
    "planningCadastre",
    "society",
    "structure",
    "transportation",
    "utilitiesCommunication",
}
HARVESTED_TYPES = ("dataset", "series", "service")  # what data.gouv.fr's ISO harvester asks for

_THEME_LABELS = {label.casefold() for pair in INSPIRE_THEMES.values() for label in pair}
_THEME_HREF = re.compile(r"inspire\.ec\.europa\.eu/theme/([a-z]{2})/?$")
_WORD = re.compile(r"[^\W\d_]{4,}")
_LANGUAGE = re.compile(r"^[a-z]{3}$")
EXAMPLES = 3  # identifiers quoted per aggregated problem


# --- results --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Check:
    """One named check. Iterates as ``(label, ok, detail)``."""

    key: str
    label: str
    detail: str = ""
    problems: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def warning(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def __iter__(self) -> Iterator:
        return iter((self.label, self.ok, self.detail))

    def __getitem__(self, index):
        return (self.label, self.ok, self.detail)[index]

    def __len__(self) -> int:
        return 3


@dataclasses.dataclass
class Report:
    csw_url: str
    checks: list = dataclasses.field(default_factory=list)
    stats: dict = dataclasses.field(default_factory=dict)

    @property
    def problems(self) -> list:
        return [p for c in self.checks for p in c.problems]

    @property
    def warnings(self) -> list:
        return [w for c in self.checks for w in c.warnings]

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def to_text(self) -> str:
        lines = [f"Auto-contrôle de moissonnage du CSW {self.csw_url}"]
        for c in self.checks:
            mark = "✓" if c.ok else "✗"
            lines.append(f"{mark} {c.label}" + (f" — {c.detail}" if c.detail else ""))
            lines += [f"    ✗ {p}" for p in c.problems]
            lines += [f"    ⚠ {w}" for w in c.warnings]
        if self.stats:
            lines.append("Statistiques : " + ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        failed = sum(1 for c in self.checks if not c.ok)
        warnings = len(self.warnings)
        if self.ok:
            lines.append(
                f"Résultat : prêt pour le moissonnage ({len(self.checks)} contrôles réussis"
                + (f", {warnings} avertissement(s))." if warnings else ").")
            )
        else:
            lines.append(
                f"Résultat : {len(self.problems)} problème(s) dans {failed} contrôle(s) sur "
                f"{len(self.checks)}" + (f", {warnings} avertissement(s)." if warnings else ".")
            )
        return "\n".join(lines)


class CswError(Exception):
    """A request that failed; the message is French and names the request."""


# --- small pure helpers -------------------------------------------------------------------------


def localname(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _children(element) -> list:
    return [c for c in element if isinstance(c.tag, str)]


def _text(element) -> str:
    """Text of a gmd property (gco:CharacterString, gmx:Anchor, gmd:URL, gco:Date…), stripped."""
    if element is None:
        return ""
    return " ".join(t.strip() for t in element.itertext() if t.strip())


def _short(value, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _examples(ids, n: int = EXAMPLES) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:n])
    return shown + (f" et {len(ids) - n} autre(s)" if len(ids) > n else "")


def is_local_url(url: str) -> bool:
    """True when harvesters elsewhere cannot reach ``url``: loopback, private or unspecified IP,
    ``localhost``, ``*.local``/``*.internal``/``*.localhost`` or a host name without a dot."""
    try:
        host = (urlsplit(url).hostname or "").strip("[]").lower()
    except ValueError:
        return False
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return (
            host == "localhost"
            or "." not in host
            or host.endswith((".localhost", ".local", ".internal", ".localdomain"))
        )
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


def _is_absolute_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def parse_xml(content: bytes):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    return etree.fromstring(content, parser)


def exception_text(root) -> str:
    """``code : text`` of each ows:Exception of an ExceptionReport."""
    parts = []
    for exc in root.iter("{*}Exception"):
        code = exc.get("exceptionCode") or ""
        text = " ".join(_short(t.text or "") for t in exc.iter("{*}ExceptionText"))
        parts.append(f"{code} : {text}" if code and text else code or text)
    return _short(" ; ".join(p for p in parts if p) or "sans détail", 300)


def theme_of_keyword(text: str, href: str | None) -> str | None:
    """The INSPIRE theme code of a keyword (by its gmx:Anchor URI or its English/French label)."""
    match = _THEME_HREF.search(href or "")
    if match and match.group(1) in INSPIRE_THEMES:
        return match.group(1)
    folded = (text or "").strip().casefold()
    for code, labels in INSPIRE_THEMES.items():
        if folded in {label.casefold() for label in labels}:
            return code
    return None


def title_word(title: str) -> str | None:
    """The longest word (letters only, ≥ 4) of a title: a csw:AnyText search term."""
    words = _WORD.findall(title or "")
    return max(words, key=len) if words else None


# --- capabilities -------------------------------------------------------------------------------


@dataclasses.dataclass
class CapabilitiesResult:
    problems: list
    warnings: list
    detail: str = ""
    max_record_default: int | None = None


def _param_values(op, global_, names: tuple) -> list | None:
    """Values of ows:Parameter (operation first, then OperationsMetadata), name matched without case."""
    wanted = {n.lower() for n in names}
    for scope in (op, global_):
        if scope is None:
            continue
        for param in scope.findall("{*}Parameter"):
            if (param.get("name") or "").lower() in wanted:
                return [(v.text or "").strip() for v in param.iter("{*}Value")]
    return None


def _constraint_values(scope, name: str) -> list | None:
    if scope is None:
        return None
    for constraint in scope.findall("{*}Constraint"):
        if (constraint.get("name") or "").lower() == name.lower():
            return [(v.text or "").strip() for v in constraint.iter("{*}Value")]
    return None


def check_capabilities(root, *, local_ok: bool) -> CapabilitiesResult:
    """What GeoNetwork and the others read in a GetCapabilities response (CSW_HARVESTERS.md §5.1).

    ``local_ok``: the tested URL itself is local, so local declared addresses are only warnings.
    """
    problems, warnings = [], []
    if localname(root) != "Capabilities":
        problems.append(f"la réponse n'est pas un csw:Capabilities (élément racine {localname(root) or '?'})")
        return CapabilitiesResult(problems, warnings)
    namespace = etree.QName(root).namespace
    if namespace == CSW_OLD:
        warnings.append(
            f"espace de noms {CSW_OLD} (ancien) au lieu de {CSW} : GeoNetwork l'accepte avec un avertissement"
        )
    elif namespace != CSW:
        problems.append(f"csw:Capabilities dans l'espace de noms {namespace!r} au lieu de {CSW}")

    versions = [(v.text or "").strip() for v in root.findall("{*}ServiceIdentification/{*}ServiceTypeVersion")]
    if "2.0.2" not in versions:
        problems.append(
            "ows:ServiceTypeVersion ne contient pas 2.0.2 (trouvé : "
            f"{', '.join(versions) or 'rien'}) : GeoNetwork préfère 2.0.2"
        )

    om = root.find("{*}OperationsMetadata")
    if om is None:
        problems.append("pas de ows:OperationsMetadata : aucune opération déclarée")
        return CapabilitiesResult(problems, warnings)
    ops = {op.get("name"): op for op in om.findall("{*}Operation")}
    global_soap_only = _soap_only(_constraint_values(om, "PostEncoding"))

    local_hrefs = collections.defaultdict(list)
    http_hrefs = set()
    for name in ("GetRecords", "GetRecordById"):
        op = ops.get(name)
        if op is None:
            problems.append(
                f"l'opération {name} n'est pas déclarée dans ows:OperationsMetadata : GeoNetwork "
                "arrête le moissonnage (« operation not found »)"
            )
            continue
        for method in ("Get", "Post"):
            elements = op.findall(f"{{*}}DCP/{{*}}HTTP/{{*}}{method}")
            if not elements:
                problems.append(
                    f"{name} : pas d'adresse ows:{method} dans ows:DCP (GeoNetwork utilise POST et se replie sur GET)"
                )
            for element in elements:
                href = (element.get(HREF) or "").strip()
                if not href:
                    problems.append(f"{name} : ows:{method} sans xlink:href")
                elif not _is_absolute_http(href):
                    problems.append(
                        f"{name} : l'adresse déclarée en ows:{method} ({href}) n'est pas une URL http(s) absolue"
                    )
                elif is_local_url(href):
                    local_hrefs[href].append(f"{name} {method.upper()}")
                elif href.startswith("http://"):
                    http_hrefs.add(href)
        posts = op.findall("{*}DCP/{*}HTTP/{*}Post")
        if posts and all(
            _soap_only(_constraint_values(p, "PostEncoding"))
            or (
                _constraint_values(p, "PostEncoding") is None
                and (
                    _soap_only(_constraint_values(op, "PostEncoding"))
                    or (_constraint_values(op, "PostEncoding") is None and global_soap_only)
                )
            )
            for p in posts
        ):
            problems.append(f"{name} : POST déclaré en SOAP seulement (PostEncoding) : GeoNetwork ignore ce POST")
    for href, uses in local_hrefs.items():
        text = (
            f"l'adresse déclarée {href} ({', '.join(uses)}) est locale : les moissonneurs ne pourront pas "
            "la joindre (PYCSW_SERVER_URL doit être l'adresse publique https)"
        )
        (warnings if local_ok else problems).append(text)
    for href in sorted(http_hrefs):
        warnings.append(f"l'adresse déclarée {href} est en http : une adresse https publique est attendue")

    getrecords, byid = ops.get("GetRecords"), ops.get("GetRecordById")
    if getrecords is not None:
        schemas = _param_values(getrecords, om, ("outputSchema",)) or []
        for schema, why in (
            (GMD, "premier choix de GeoNetwork, seul schéma moissonné par udata et ckanext-spatial"),
            (CSW, "Dublin Core"),
        ):
            if schema not in schemas:
                problems.append(f"GetRecords : le paramètre outputSchema ne liste pas {schema} ({why})")
        typenames = _param_values(getrecords, om, ("typeNames", "typeName")) or []
        for typename in ("gmd:MD_Metadata", "csw:Record"):
            if typename not in typenames:
                problems.append(
                    f"GetRecords : le paramètre typeNames ne liste pas {typename} (GeoNetwork "
                    "abandonne les types inconnus)"
                )
        languages = {v.upper() for v in _param_values(getrecords, om, ("ConstraintLanguage",)) or []}
        if "FILTER" not in languages:
            problems.append("GetRecords : ConstraintLanguage ne liste pas FILTER (filtres OGC en POST de GeoNetwork)")
        if not languages & {"CQL_TEXT", "CQL"}:
            problems.append("GetRecords : ConstraintLanguage ne liste pas CQL_TEXT (repli de GeoNetwork en GET)")
        formats = _param_values(getrecords, om, ("outputFormat",))
        if formats is not None and "application/xml" not in formats:
            problems.append("GetRecords : outputFormat ne liste pas application/xml")
    if byid is not None:
        schemas = _param_values(byid, om, ("outputSchema",))
        if schemas is not None and GMD not in schemas:
            problems.append(f"GetRecordById : le paramètre outputSchema ne liste pas {GMD}")

    max_default = None
    values = _constraint_values(getrecords, "MaxRecordDefault") if getrecords is not None else None
    values = values if values is not None else _constraint_values(om, "MaxRecordDefault")
    if values:
        try:
            max_default = int(values[0])
        except ValueError:
            pass
    if max_default is not None and max_default < 20:
        warnings.append(f"MaxRecordDefault = {max_default} (< 20) : GeoNetwork demande 20 fiches par page")

    if om.find(f"{{{INSPIRE_DS}}}ExtendedCapabilities") is None and om.find("{*}ExtendedCapabilities") is None:
        problems.append(
            "pas d'inspire_ds:ExtendedCapabilities : le service n'est pas décrit comme service de découverte INSPIRE"
        )

    hrefs = sorted(
        {(e.get(HREF) or "") for op in (getrecords, byid) if op is not None for e in op.findall("{*}DCP/{*}HTTP/*")}
        - {""}
    )
    detail = (
        f"versions {', '.join(versions) or '?'} ; opérations "
        f"{', '.join(n for n in ('GetRecords', 'GetRecordById') if n in ops) or 'aucune'}"
        + (f" ; adresse(s) déclarée(s) : {', '.join(hrefs)}" if hrefs else "")
    )
    return CapabilitiesResult(problems, warnings, detail, max_default)


def _soap_only(values) -> bool:
    return bool(values) and all(v.upper() == "SOAP" for v in values)


# --- one GetRecords page ------------------------------------------------------------------------


@dataclasses.dataclass
class Page:
    matched: int | None = None
    returned: int | None = None
    next: int | None = None
    records: list = dataclasses.field(default_factory=list)
    problems: list = dataclasses.field(default_factory=list)
    capped: bool = False  # fewer records than asked although more remain


def _int_attr(element, name: str, problems: list) -> int | None:
    value = element.get(name)
    if value is None:
        problems.append(f"attribut {name} absent de csw:SearchResults (GeoNetwork abandonne le moissonnage)")
        return None
    try:
        return int(value.strip())
    except ValueError:
        problems.append(f"{name}={value!r} n'est pas un entier (GeoNetwork abandonne le moissonnage)")
        return None


def read_page(root, *, start: int, max_records: int | None) -> Page:
    """Counts and records of a GetRecordsResponse, with what is wrong with them (CSW_HARVESTERS.md §5.2).

    ``start``: the startPosition asked (1 when the request had none); ``max_records``: the
    maxRecords asked (None when the request had none).
    """
    page = Page()
    if localname(root) != "GetRecordsResponse":
        page.problems.append(f"la réponse n'est pas un csw:GetRecordsResponse (élément racine {localname(root)})")
        return page
    if etree.QName(root).namespace != CSW:
        page.problems.append(f"réponse dans l'espace de noms {etree.QName(root).namespace} au lieu de {CSW}")
    results = root.find("{*}SearchResults")
    if results is None:
        page.problems.append("pas de csw:SearchResults dans la réponse")
        return page
    page.records = _children(results)
    page.matched = _int_attr(results, "numberOfRecordsMatched", page.problems)
    page.returned = _int_attr(results, "numberOfRecordsReturned", page.problems)
    page.next = _int_attr(results, "nextRecord", page.problems)
    n = len(page.records)
    if page.returned is not None and page.returned != n:
        page.problems.append(f"numberOfRecordsReturned={page.returned} alors que la page contient {n} fiche(s)")
    if max_records is not None and n > max_records:
        page.problems.append(f"{n} fiches renvoyées pour maxRecords={max_records}")
    if page.matched is None or page.next is None:
        return page
    expected_next = start + n
    if page.next == 0:
        if expected_next - 1 < page.matched and page.matched > 0:
            page.problems.append(
                f"nextRecord=0 (dernière page) alors que seules les fiches 1 à {expected_next - 1} "
                f"sur {page.matched} ont été parcourues : les suivantes ne seraient jamais vues"
            )
        return page
    if page.next > page.matched:
        page.problems.append(
            f"nextRecord={page.next} dépasse numberOfRecordsMatched={page.matched} (les moissonneurs s'arrêtent là)"
        )
    elif page.next < start:
        page.problems.append(
            f"nextRecord={page.next} est inférieur à startPosition={start} (les moissonneurs s'arrêtent là)"
        )
    elif n == 0:
        page.problems.append(f"aucune fiche renvoyée alors que nextRecord={page.next} (les moissonneurs s'arrêtent là)")
    elif page.next == start:
        page.problems.append(f"nextRecord={page.next} égale startPosition : la pagination ne progresse pas")
    elif page.next != expected_next:
        page.problems.append(
            f"nextRecord={page.next} au lieu de {expected_next} (startPosition + fiches "
            "renvoyées) : des fiches seraient sautées ou répétées"
        )
    if max_records is not None and 0 < n < max_records and page.next == expected_next:
        page.capped = True
    return page


@dataclasses.dataclass
class Summary:
    identifier: str | None
    date_stamp: str | None
    hierarchy: str | None
    tag: str


def summary_of(record) -> Summary:
    """fileIdentifier, dateStamp and hierarchyLevel of a gmd:MD_Metadata from a GetRecords page."""
    if record.tag != f"{{{GMD}}}MD_Metadata":
        return Summary(None, None, None, record.tag)
    identifier = _text(record.find("gmd:fileIdentifier", NS)) or None
    stamp = _text(record.find("gmd:dateStamp", NS)) or None
    scope = record.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS)
    hierarchy = (scope.get("codeListValue") or _text(scope)) if scope is not None else None
    return Summary(identifier, stamp, hierarchy or None, record.tag)


# --- a full ISO record --------------------------------------------------------------------------


def _metadata_language(md) -> str:
    language = md.find("gmd:language", NS)
    if language is None:
        return ""
    code = language.find("gmd:LanguageCode", NS)
    if code is not None:
        return (code.get("codeListValue") or _text(code)).strip()
    return _text(language)


def _bbox(ident) -> tuple | None:
    if ident is None:
        return None
    for box in ident.findall("gmd:extent//gmd:EX_GeographicBoundingBox", NS):
        try:
            west, east, south, north = (
                float(_text(box.find(f"gmd:{name}", NS)))
                for name in ("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude")
            )
        except ValueError:
            continue
        return west, south, east, north
    return None


def record_bbox(md) -> tuple | None:
    """(west, south, east, north) of the first geographic bounding box of a record, or None."""
    return _bbox(md.find("gmd:identificationInfo/*", NS))


def record_title(md) -> str:
    return _text(md.find("gmd:identificationInfo/*/gmd:citation/gmd:CI_Citation/gmd:title", NS))


def record_problems(md, *, local_ok: bool = False) -> tuple[list, list]:
    """(problems, warnings) of one full ISO 19139 record against what INSPIRE TG 2.0, data.gouv.fr
    and IDéO BFC need (CSW_HARVESTERS.md §5.4). Messages name no identifier (they are aggregated)."""
    problems, warnings = [], []
    if md.tag != f"{{{GMD}}}MD_Metadata":
        return [f"l'élément n'est pas un gmd:MD_Metadata ({md.tag})"], []
    if not _text(md.find("gmd:fileIdentifier", NS)):
        problems.append("pas de gmd:fileIdentifier")
    language = _metadata_language(md)
    if not language:
        problems.append("pas de langue des métadonnées (gmd:language)")
    elif not _LANGUAGE.match(language):
        problems.append(f"langue des métadonnées « {language} » : un code ISO 639-2 de 3 lettres est attendu (fre)")
    scope = md.find("gmd:hierarchyLevel/gmd:MD_ScopeCode", NS)
    hierarchy = (scope.get("codeListValue") or _text(scope)) if scope is not None else ""
    if hierarchy not in HARVESTED_TYPES:
        problems.append(
            f"gmd:hierarchyLevel « {hierarchy or 'absent'} » : dataset ou series attendu (data.gouv.fr "
            "ne moissonne que dataset, series et service)"
        )
    contacts = md.findall("gmd:contact/gmd:CI_ResponsibleParty", NS)
    if not contacts:
        problems.append("pas de contact des métadonnées (gmd:contact)")
    elif not any(_text(c.find("gmd:contactInfo//gmd:electronicMailAddress", NS)) for c in contacts):
        problems.append("le contact des métadonnées n'a pas d'adresse électronique (electronicMailAddress)")
    elif not any(_text(c.find("gmd:organisationName", NS)) for c in contacts):
        problems.append("le contact des métadonnées n'a pas de nom d'organisme (organisationName)")
    if not _text(md.find("gmd:dateStamp", NS)):
        problems.append("pas de gmd:dateStamp")

    ident = md.find("gmd:identificationInfo/*", NS)
    if ident is None:
        problems.append("pas de gmd:identificationInfo")
        return problems, warnings
    citation = ident.find("gmd:citation/gmd:CI_Citation", NS)
    if citation is None or not _text(citation.find("gmd:title", NS)):
        problems.append("pas de titre (citation/title)")
    if not _text(ident.find("gmd:abstract", NS)):
        problems.append("pas de résumé (gmd:abstract)")
    if citation is None or not _text(citation.find("gmd:identifier/*/gmd:code", NS)):
        problems.append("pas d'identificateur de ressource unique (citation/identifier/code)")
    parties = ident.findall("gmd:pointOfContact/gmd:CI_ResponsibleParty", NS)
    if not parties:
        problems.append("pas de responsable de la ressource (gmd:pointOfContact)")
    elif not any(_text(p.find("gmd:contactInfo//gmd:electronicMailAddress", NS)) for p in parties):
        warnings.append(
            "aucun responsable de la ressource (pointOfContact) n'a d'adresse électronique, exigée par INSPIRE"
        )

    if hierarchy in ("dataset", "series"):
        inspire_blocks, theme_found, undated = 0, False, False
        for keywords in ident.findall("gmd:descriptiveKeywords/gmd:MD_Keywords", NS):
            thesaurus = keywords.find("gmd:thesaurusName/gmd:CI_Citation", NS)
            title = _text(thesaurus.find("gmd:title", NS)).casefold() if thesaurus is not None else ""
            if "inspire" not in title or not ("theme" in title or "thème" in title):
                continue
            inspire_blocks += 1
            if not _text(thesaurus.find("gmd:date/gmd:CI_Date/gmd:date", NS)):
                undated = True
            for keyword in keywords.findall("gmd:keyword", NS):
                anchor = keyword.find("gmx:Anchor", NS)
                if theme_of_keyword(_text(keyword), anchor.get(HREF) if anchor is not None else None):
                    theme_found = True
        if not inspire_blocks:
            problems.append("pas de mot-clé du thésaurus « GEMET - INSPIRE themes, version 1.0 »")
        elif not theme_found:
            problems.append("aucun mot-clé du thésaurus GEMET - INSPIRE themes n'est un thème INSPIRE connu")
        if undated:
            problems.append("thésaurus GEMET - INSPIRE themes sans date de publication")
        topics = [_text(t) for t in ident.findall("gmd:topicCategory/gmd:MD_TopicCategoryCode", NS)]
        if not topics:
            problems.append("pas de catégorie thématique (gmd:topicCategory)")
        elif not all(t in TOPIC_CATEGORIES for t in topics):
            unknown = ", ".join(t for t in topics if t not in TOPIC_CATEGORIES)
            problems.append(f"catégorie thématique inconnue : {unknown}")
        bbox = _bbox(ident)
        if bbox is None:
            text = "pas d'emprise géographique (EX_GeographicBoundingBox)"
            (problems if hierarchy == "dataset" else warnings).append(
                text + ("" if hierarchy == "dataset" else " pour une série")
            )
        else:
            west, south, east, north = bbox
            if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
                problems.append(
                    f"emprise géographique incohérente (ouest {west}, est {east}, sud {south}, nord {north})"
                )
        temporal = (
            ident.findall("gmd:extent//gmd:temporalElement//gml:TimePeriod", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml:TimeInstant", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml311:TimePeriod", NS)
            + ident.findall("gmd:extent//gmd:temporalElement//gml311:TimeInstant", NS)
        )
        dates = [
            d
            for d in (citation.findall("gmd:date/gmd:CI_Date", NS) if citation is not None else [])
            if _text(d.find("gmd:date", NS))
        ]
        if not temporal and not dates:
            problems.append("ni étendue temporelle ni date de référence (création, publication, révision)")

    legal = ident.findall("gmd:resourceConstraints/gmd:MD_LegalConstraints", NS)
    access = [c for c in legal if c.find("gmd:accessConstraints", NS) is not None]
    if not access:
        problems.append("pas de contrainte d'accès (MD_LegalConstraints/accessConstraints)")
    elif not any(_text(c.find("gmd:otherConstraints", NS)) for c in access):
        problems.append("contrainte d'accès sans otherConstraints (valeur INSPIRE LimitationsOnPublicAccess)")
    constraints = ident.findall("gmd:resourceConstraints/*", NS)
    if not any(
        c.find("gmd:useConstraints", NS) is not None or _text(c.find("gmd:useLimitation", NS)) for c in constraints
    ):
        problems.append("pas de condition d'utilisation ni de licence (useConstraints / useLimitation)")

    links = [_text(u) for u in md.findall("gmd:distributionInfo//gmd:CI_OnlineResource/gmd:linkage/gmd:URL", NS)]
    links = [u for u in links if u]
    if not links:
        problems.append("pas de ressource en ligne (distributionInfo/transferOptions/onLine/linkage)")
    for url in links:
        if not _is_absolute_http(url):
            problems.append(f"ressource en ligne qui n'est pas une URL http(s) absolue : {url}")
        elif is_local_url(url):
            text = (
                f"ressource en ligne à une adresse locale ({urlsplit(url).scheme}://{urlsplit(url).netloc}/…) : "
                "injoignable par les utilisateurs (ckan.site_url)"
            )
            (warnings if local_ok else problems).append(text)

    quality = md.findall("gmd:dataQualityInfo/gmd:DQ_DataQuality", NS)
    if not any(_text(q.find("gmd:lineage/gmd:LI_Lineage/gmd:statement", NS)) for q in quality):
        problems.append("pas de généalogie (lineage/statement)")
    results = [
        r
        for q in quality
        for r in q.findall(".//gmd:DQ_ConformanceResult", NS)
        if "1089/2010" in _text(r.find("gmd:specification/gmd:CI_Citation/gmd:title", NS))
    ]
    if not results:
        problems.append("pas de conformité citant le règlement (UE) n° 1089/2010 (DQ_ConformanceResult)")
    elif not all(r.find("gmd:pass", NS) is not None for r in results):
        problems.append("conformité au règlement 1089/2010 sans gmd:pass")
    return list(dict.fromkeys(problems)), list(dict.fromkeys(warnings))


# --- XSD --------------------------------------------------------------------------------------


def _xsd_base(path: pathlib.Path) -> pathlib.Path | None:
    """The directory holding gmd/gmd.xsd, from a path to gmd.xsd or to one of its parents."""
    path = pathlib.Path(path)
    if path.is_file() and path.name == "gmd.xsd":
        return path.parent.parent
    for candidate in (path, path / "20070417", path / XSD_SUBDIR):
        if (candidate / "gmd" / "gmd.xsd").is_file():
            return candidate
    return None


def find_iso_xsd(xsd_path=None) -> pathlib.Path | None:
    """Directory of the ISO 19139 XSDs: ``xsd_path``, else pycsw's copy (repository venv, importable
    pycsw)."""
    if xsd_path:
        return _xsd_base(pathlib.Path(xsd_path))
    candidates = sorted(
        glob.glob(
            str(REPO_ROOT / "var" / "venv" / "pycsw" / "lib*" / "python3*" / "site-packages" / "pycsw" / XSD_SUBDIR)
        )
    )
    try:
        spec = importlib.util.find_spec("pycsw")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [os.path.join(p, XSD_SUBDIR) for p in spec.submodule_search_locations]
    for candidate in candidates:
        base = _xsd_base(pathlib.Path(candidate))
        if base is not None:
            return base
    return None


@functools.lru_cache(maxsize=4)
def iso_schema(base: pathlib.Path) -> etree.XMLSchema:
    """ISO 19139 (gmd + gmx) compiled from local files (no network)."""
    imports = [f'<xs:import namespace="{GMD}" schemaLocation="{(base / "gmd" / "gmd.xsd").as_uri()}"/>']
    if (base / "gmx" / "gmx.xsd").is_file():
        imports.append(f'<xs:import namespace="{GMX}" schemaLocation="{(base / "gmx" / "gmx.xsd").as_uri()}"/>')
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">'
        + "".join(imports)
        + "</xs:schema>"
    )
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), base_url=str(base / "wrapper.xsd")))


def xsd_errors(schema: etree.XMLSchema, md, limit: int = 3) -> list:
    """The first XSD errors of a record (validated as a document of its own)."""
    document = etree.ElementTree(parse_xml(etree.tostring(md)))
    if schema.validate(document):
        return []
    return [f"ligne {e.line} : {_short(e.message, 160)}" for e in list(schema.error_log)[:limit]]


# --- requests -----------------------------------------------------------------------------------

_GETRECORDS_NS = (
    f'xmlns:csw="{CSW}" xmlns:gmd="{GMD}" xmlns:ogc="{OGC}" xmlns:gml="{GML}" '
    f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dct="http://purl.org/dc/terms/" '
    f'xmlns:ows="{OWS}" xmlns:apiso="http://www.opengis.net/cat/csw/apiso/1.0"'
)


def getrecords_body(
    *,
    type_names: str,
    element_set: str,
    output_schema: str = GMD,
    start: int | None = None,
    max_records: int | None = None,
    filter_xml: str | None = None,
    extra: str = "",
) -> bytes:
    """A POST csw:GetRecords (resultType=results); ``start`` None = no startPosition attribute."""
    attrs = f'service="CSW" version="2.0.2" resultType="results" outputSchema={quoteattr(output_schema)}'
    if start is not None:
        attrs += f' startPosition="{start}"'
    if max_records is not None:
        attrs += f' maxRecords="{max_records}"'
    constraint = (
        f'<csw:Constraint version="1.1.0"><ogc:Filter>{filter_xml}</ogc:Filter></csw:Constraint>' if filter_xml else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<csw:GetRecords {_GETRECORDS_NS} {attrs}{extra}>'
        f"<csw:Query typeNames={quoteattr(type_names)}><csw:ElementSetName>{element_set}</csw:ElementSetName>"
        f"{constraint}</csw:Query></csw:GetRecords>"
    ).encode()


def getrecordbyid_body(identifier: str, output_schema: str = GMD) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<csw:GetRecordById xmlns:csw="{CSW}" service="CSW" '
        f'version="2.0.2" outputSchema={quoteattr(output_schema)}><csw:Id>{escape(identifier)}</csw:Id>'
        "<csw:ElementSetName>full</csw:ElementSetName></csw:GetRecordById>"
    ).encode()


def type_filter(value: str) -> str:
    return (
        f"<ogc:PropertyIsEqualTo><ogc:PropertyName>dc:type</ogc:PropertyName>"
        f"<ogc:Literal>{escape(value)}</ogc:Literal></ogc:PropertyIsEqualTo>"
    )


def anytext_filter(word: str) -> str:
    return (
        '<ogc:PropertyIsLike wildCard="%" singleChar="_" escapeChar="\\">'
        f"<ogc:PropertyName>csw:AnyText</ogc:PropertyName><ogc:Literal>%{escape(word)}%</ogc:Literal>"
        "</ogc:PropertyIsLike>"
    )


def bbox_filter(bbox: tuple, crs: str) -> str:
    """BBOX on ows:BoundingBox; EPSG::4326 is written latitude first, CRS84 longitude first."""
    west, south, east, north = bbox
    lower, upper = (
        (f"{south} {west}", f"{north} {east}") if crs == CRS_EPSG4326 else (f"{west} {south}", f"{east} {north}")
    )
    return (
        f"<ogc:BBOX><ogc:PropertyName>ows:BoundingBox</ogc:PropertyName><gml:Envelope srsName={quoteattr(crs)}>"
        f"<gml:lowerCorner>{lower}</gml:lowerCorner><gml:upperCorner>{upper}</gml:upperCorner>"
        "</gml:Envelope></ogc:BBOX>"
    )


UDATA_TYPES_FILTER = "<ogc:Or>" + "".join(type_filter(t) for t in HARVESTED_TYPES) + "</ogc:Or>"


class Client:
    """GET KVP / POST XML to one CSW URL; failures become CswError with a French message."""

    def __init__(self, url: str, timeout: float = 30, session: requests.Session | None = None):
        self.url, self.timeout = url, timeout
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = "ckanext-sinp csw-selftest"
        self.session = session
        self.count = 0

    def get(self, what: str, params: dict):
        return self._send(what, "GET", params=params)

    def post(self, what: str, body: bytes):
        return self._send(what, "POST", data=body, headers={"Content-Type": "application/xml; charset=UTF-8"})

    def _send(self, what: str, method: str, **kwargs):
        self.count += 1
        try:
            response = self.session.request(method, self.url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise CswError(f"{what} : pas de réponse en {self.timeout:g} s (délai dépassé)") from None
        except requests.ConnectionError as exc:
            raise CswError(f"{what} : connexion impossible ({_short(exc, 160)})") from None
        except requests.RequestException as exc:
            raise CswError(f"{what} : requête impossible ({_short(exc, 160)})") from None
        root, error = None, None
        try:
            root = parse_xml(response.content)
        except etree.XMLSyntaxError as exc:
            error = exc
        if response.status_code >= 400:
            detail = exception_text(root) if root is not None and localname(root) == "ExceptionReport" else ""
            raise CswError(f"{what} : erreur HTTP {response.status_code}" + (f" ({detail})" if detail else ""))
        if root is None:
            raise CswError(
                f"{what} : la réponse n'est pas du XML ({_short(error, 120)} ; début : "
                f"{_short(response.text[:80], 80)!r})"
            )
        if localname(root) == "ExceptionReport":
            raise CswError(f"{what} : ows:ExceptionReport au lieu d'une réponse ({exception_text(root)})")
        return root


# --- the self-test --------------------------------------------------------------------------------


@dataclasses.dataclass
class Listing:
    """What one harvester saw while paging."""

    ids: list = dataclasses.field(default_factory=list)  # in order, duplicates kept
    pages: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))  # id -> page numbers
    types: dict = dataclasses.field(default_factory=dict)  # id -> hierarchyLevel
    stamps: dict = dataclasses.field(default_factory=dict)  # id -> dateStamp
    matched: int | None = None
    complete: bool = False  # ended on nextRecord=0
    failed: bool = False  # a request failed or a page was unreadable: the harvest would stop there

    @property
    def unique(self) -> list:
        return list(dict.fromkeys(self.ids))


class _Selftest:
    def __init__(self, csw_url, page_size, sample, timeout, xsd_path, session):
        self.url = csw_url
        self.page_size = max(1, int(page_size))
        self.sample = sample
        self.xsd_path = xsd_path
        self.client = Client(csw_url, timeout, session)
        self.local = is_local_url(csw_url)
        self.report = Report(csw_url)
        self.full: dict = {}  # id -> gmd:MD_Metadata (GetRecordById POST)
        self.paging_anomalies: set = set()  # what the GeoNetwork run found, not repeated by the others

    def check(self, key: str, label: str) -> Check:
        check = Check(key, label)
        self.report.checks.append(check)
        return check

    def guarded(self, check: Check, step: Callable, *args):
        try:
            return step(check, *args)
        except CswError as exc:
            check.problem(str(exc))
        except Exception as exc:  # a bug of the self-test or an unexpected answer: reported, not raised
            check.problem(f"erreur inattendue du contrôle : {exc.__class__.__name__} : {_short(exc)}")
        return None

    # -- GetCapabilities

    def capabilities(self, check: Check):
        root = self.client.get(
            "GetCapabilities (GET KVP, comme GeoNetwork)",
            {"SERVICE": "CSW", "REQUEST": "GetCapabilities", "VERSION": "2.0.2"},
        )
        result = check_capabilities(root, local_ok=self.local)
        for p in result.problems:
            check.problem(f"GetCapabilities : {p}")
        for w in result.warnings:
            check.warning(f"GetCapabilities : {w}")
        check.detail = result.detail
        if not self.url.lower().startswith("https://") and not self.local:
            check.warning(f"l'adresse testée {self.url} n'est pas en https")

    # -- paging

    def listing(
        self,
        check: Check,
        label: str,
        send: Callable[[int], object],
        *,
        max_records: int | None,
        require_stamp: bool,
        reference: bool = False,
    ) -> Listing:
        """Pages like GeoNetwork and udata: startPosition 1, then nextRecord, with their stop rules
        (nextRecord 0, > matched, < startPosition, or no record returned).

        ``reference``: the GeoNetwork run; the other runs do not repeat its paging anomalies one by
        one (they are the same pages), they count them.
        """
        listing = Listing()
        start, number, capped = 1, 0, False
        bad_children, no_id, no_stamp = collections.Counter(), [], []
        limit, repeated = 10_000, 0

        def emit(where: str, text: str) -> None:
            nonlocal repeated
            if reference:
                self.paging_anomalies.add(text)
            elif text in self.paging_anomalies:
                repeated += 1
                return
            check.problem(f"{where} : {text}")

        while True:
            number += 1
            what = f"{label[:-1]}, startPosition={start})" if label.endswith(")") else f"{label}, startPosition={start}"
            try:
                root = send(start)
            except CswError as exc:
                check.problem(str(exc) + " : le moissonnage échouerait ici")
                listing.failed = True
                return listing
            page = read_page(root, start=start, max_records=max_records)
            for p in page.problems:
                emit(what, p)
            if page.matched is None or page.next is None or page.returned is None:
                listing.failed = True
                return listing
            if listing.matched is None:
                listing.matched = page.matched
                limit = math.ceil(page.matched / max(1, len(page.records) or 1)) + 3
            elif page.matched != listing.matched:
                check.problem(
                    f"{what} : numberOfRecordsMatched passe de {listing.matched} à {page.matched} en "
                    "cours de pagination (une modification pendant le test peut l'expliquer : relancer)"
                )
            capped = capped or page.capped
            for record in page.records:
                summary = summary_of(record)
                if summary.identifier is None:
                    if summary.tag != f"{{{GMD}}}MD_Metadata":
                        bad_children[etree.QName(summary.tag).text] += 1
                    else:
                        no_id.append(start)
                    continue
                listing.ids.append(summary.identifier)
                listing.pages[summary.identifier].append(number)
                listing.types.setdefault(summary.identifier, summary.hierarchy)
                listing.stamps.setdefault(summary.identifier, summary.date_stamp)
                if require_stamp and not summary.date_stamp:
                    no_stamp.append(summary.identifier)
            nxt = page.next
            if nxt == 0 or nxt > page.matched or not page.records or nxt <= start:
                listing.complete = nxt == 0
                break
            if number >= limit:
                check.problem(f"{label} : plus de {limit} pages pour {listing.matched} fiches annoncées : arrêt")
                break
            start = nxt
        if capped and max_records and reference:
            check.warning(
                f"{label} : le serveur renvoie moins de fiches par page que maxRecords={max_records} "
                "(plafond du serveur) : plus de requêtes par moissonnage"
            )
        for tag, count in bad_children.items():
            emit(label, f"{count} enfant(s) {tag} au lieu de gmd:MD_Metadata dans csw:SearchResults")
        if no_id:
            emit(
                label,
                f"{len(no_id)} fiche(s) sans gmd:fileIdentifier (pages commençant à "
                f"{', '.join(map(str, sorted(set(no_id))))}) : GeoNetwork les ignore",
            )
        if no_stamp:
            emit(
                label,
                f"{len(no_stamp)} fiche(s) résumée(s) sans gmd:dateStamp ({_examples(no_stamp)}) : "
                "GeoNetwork ne peut pas savoir si elles ont changé",
            )
        twice = {i: pages for i, pages in listing.pages.items() if len(pages) > 1}
        if twice:
            examples = [f"{i} (pages {', '.join(map(str, p))})" for i, p in twice.items()]
            emit(label, f"{len(twice)} identifiant(s) renvoyé(s) plusieurs fois : {_examples(examples)}")
        if listing.matched is not None and len(listing.unique) != listing.matched:
            emit(
                label,
                f"{len(listing.unique)} fiche(s) distincte(s) vue(s) pour {listing.matched} annoncée(s) "
                "(numberOfRecordsMatched) : GeoNetwork supprime de sa copie les fiches qu'il ne voit pas",
            )
        if repeated:
            check.problem(
                f"{label} : {repeated} anomalie(s) de pagination identique(s) à celles du moissonnage "
                "GeoNetwork (voir plus haut)"
            )
        return listing

    def geonetwork(self, check: Check) -> Listing:
        def send(start):
            return self.client.post(
                f"GetRecords POST (GeoNetwork, startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata", element_set="summary", start=start, max_records=self.page_size
                ),
            )

        listing = self.listing(
            check, "GetRecords POST (GeoNetwork)", send, max_records=self.page_size, require_stamp=True, reference=True
        )
        counts = collections.Counter(listing.types.get(i) or "type inconnu" for i in listing.unique)
        check.detail = (
            f"{listing.matched if listing.matched is not None else '?'} fiche(s) annoncée(s), "
            f"{len(listing.unique)} vue(s) en pages de {self.page_size}"
            + (" (" + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) + ")" if counts else "")
        )
        if listing.matched == 0:
            check.warning("le catalogue ne publie aucune fiche : un moissonneur supprimerait toutes ses copies")
        self.report.stats["fiches"] = len(listing.unique)
        return listing

    def stability(self, check: Check, first: Listing) -> None:
        def send(start):
            return self.client.post(
                f"GetRecords POST (GeoNetwork, second passage, startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata", element_set="summary", start=start, max_records=self.page_size
                ),
            )

        second = self.listing(
            check, "GetRecords POST (GeoNetwork, second passage)", send, max_records=self.page_size, require_stamp=True
        )
        if not second.failed:
            self.compare(
                check,
                "GetRecords POST (GeoNetwork, second passage)",
                first.ids,
                second.ids,
                order=True,
                reference="au premier passage",
            )
        check.detail = f"{len(second.unique)} fiche(s) au second passage"

    def compare(
        self,
        check: Check,
        label: str,
        expected: list,
        seen: list,
        *,
        order: bool,
        reference: str = "par GeoNetwork",
        extra: bool = True,
    ) -> None:
        """``seen`` against ``expected`` (the GeoNetwork run): missing, extra, and order when asked."""
        seen_set, expected_set = set(seen), set(expected)
        missing = [i for i in dict.fromkeys(expected) if i not in seen_set]
        more = [i for i in dict.fromkeys(seen) if i not in expected_set]
        if missing:
            check.problem(f"{label} : il manque {len(missing)} fiche(s) vue(s) {reference} : {_examples(missing)}")
        if more and extra:
            check.problem(f"{label} : {len(more)} fiche(s) en plus de celles vues {reference} : {_examples(more)}")
        if order and not missing and not more and list(expected) != list(seen):
            check.problem(
                f"{label} : mêmes fiches mais dans un autre ordre : le tri n'est pas stable, des "
                "fiches seraient vues deux fois ou jamais"
            )

    def geonetwork_get(self, check: Check, gn: Listing) -> None:
        base = {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecords",
            "resultType": "results",
            "namespace": f"xmlns(csw={CSW}),xmlns(gmd={GMD})",
            "outputSchema": GMD,
            "elementSetName": "summary",
            "typeNames": "gmd:MD_Metadata",
        }

        def send(start):
            return self.client.get(
                f"GetRecords GET KVP (repli GeoNetwork, startPosition={start})",
                {**base, "startPosition": start, "maxRecords": self.page_size},
            )

        listing = self.listing(
            check, "GetRecords GET KVP (repli GeoNetwork)", send, max_records=self.page_size, require_stamp=True
        )
        if not listing.failed:
            self.compare(check, "GetRecords GET KVP", gn.ids, listing.ids, order=True)
        cql = {
            **base,
            "constraintLanguage": "CQL_TEXT",
            "constraint_language_version": "1.1.0",
            "constraint": "dc:type = 'dataset'",
            "maxRecords": 1,
            "resultType": "hits",
        }
        expected = sum(1 for i in gn.unique if gn.types.get(i) == "dataset")
        try:
            root = self.client.get("GetRecords GET KVP avec filtre CQL_TEXT dc:type = 'dataset'", cql)
            results = root.find("{*}SearchResults")
            matched = int(results.get("numberOfRecordsMatched")) if results is not None else None
            if matched != expected:
                check.problem(
                    f"GetRecords GET KVP avec filtre CQL_TEXT dc:type = 'dataset' : {matched} fiche(s) au "
                    f"lieu des {expected} jeux de données vus par GeoNetwork"
                )
        except CswError as exc:
            check.problem(str(exc))
        except (TypeError, ValueError):
            check.problem("GetRecords GET KVP avec filtre CQL_TEXT : numberOfRecordsMatched absent ou non entier")
        check.detail = f"{len(listing.unique)} fiche(s) en GET ; filtre CQL : {expected} jeu(x) de données attendu(s)"

    # -- GetRecordById

    def sample_ids(self, gn: Listing) -> list:
        ids = gn.unique
        if self.sample is None or len(ids) <= self.sample:
            chosen = list(ids)
        else:
            n = max(1, int(self.sample))
            chosen = [ids[i * len(ids) // n] for i in range(n)]
        for kind in ("dataset", "series"):
            if not any(gn.types.get(i) == kind for i in chosen):
                chosen += [i for i in ids if gn.types.get(i) == kind][:1]
        return chosen

    def by_id(self, check: Check, xsd: Check, inspire: Check, gn: Listing) -> None:
        ids = self.sample_ids(gn)
        if not ids:
            check.warning("aucune fiche à demander : contrôle sans objet")
            xsd.warning("aucune fiche : validation sans objet")
            inspire.warning("aucune fiche : contrôle sans objet")
            return
        base = find_iso_xsd(self.xsd_path)
        schema = None
        if base is None:
            xsd.warning("schémas ISO 19139 introuvables (xsd_path, ou pycsw installé) : validation XSD non faite")
        else:
            try:
                schema = iso_schema(base)
            except etree.XMLSchemaParseError as exc:
                xsd.warning(f"schémas ISO 19139 de {base} illisibles ({_short(exc)}) : validation XSD non faite")
        record_problems_by_message = collections.defaultdict(list)
        record_warnings_by_message = collections.defaultdict(list)
        invalid, valid, fetched = [], 0, 0
        stamp_mismatch, get_differs = [], []
        failures = collections.defaultdict(list)  # message with the id replaced -> [(id, message)]
        for identifier in ids:
            errors = []
            post = self.fetch_by_id(errors, identifier, "POST")
            get = self.fetch_by_id(errors, identifier, "GET")
            for message in errors:
                failures[message.replace(identifier, "…")].append((identifier, message))
            if (
                post is not None
                and get is not None
                and etree.tostring(post, method="c14n") != etree.tostring(get, method="c14n")
            ):
                get_differs.append(identifier)
            md = post if post is not None else get
            if md is None:
                continue
            fetched += 1
            self.full[identifier] = md
            summary_stamp = gn.stamps.get(identifier)
            full_stamp = _text(md.find("gmd:dateStamp", NS))
            if summary_stamp and full_stamp and summary_stamp != full_stamp:
                stamp_mismatch.append(f"{identifier} ({summary_stamp} / {full_stamp})")
            if schema is not None:
                errors = xsd_errors(schema, md)
                if errors:
                    invalid.append((identifier, errors))
                else:
                    valid += 1
            problems, warnings = record_problems(md, local_ok=self.local)
            for p in problems:
                record_problems_by_message[p].append(identifier)
            for w in warnings:
                record_warnings_by_message[w].append(identifier)
        for same in failures.values():
            others = [i for i, _ in same[1:]]
            check.problem(
                same[0][1]
                + (f" — de même pour {len(others)} autre(s) fiche(s) : {_examples(others)}" if others else "")
            )
        if get_differs:
            check.problem(
                f"GetRecordById : GET et POST ne renvoient pas le même document pour {len(get_differs)} "
                f"fiche(s) : {_examples(get_differs)}"
            )
        if stamp_mismatch:
            check.problem(
                "GetRecordById : le dateStamp de la fiche complète diffère de celui du résumé GetRecords "
                f"pour {len(stamp_mismatch)} fiche(s) ({_examples(stamp_mismatch)}) : GeoNetwork décide "
                "des mises à jour sur le résumé"
            )
        check.detail = f"{fetched} fiche(s) sur {len(ids)} demandée(s) obtenue(s) en POST et en GET"
        for identifier, errors in invalid[:10]:
            xsd.problem(f"GetRecordById {identifier} : fiche non valide ISO 19139 (XSD) : {' ; '.join(errors)}")
        if len(invalid) > 10:
            xsd.problem(f"… et {len(invalid) - 10} autre(s) fiche(s) non valide(s)")
        if schema is not None:
            xsd.detail = f"{valid} fiche(s) valide(s) sur {valid + len(invalid)} (schémas {base})"
        if not fetched:
            xsd.warning("aucune fiche complète obtenue : validation non faite")
            inspire.warning("aucune fiche complète obtenue : contrôle non fait")
        for message, which in record_problems_by_message.items():
            inspire.problem(f"GetRecordById : {message} : {len(which)} fiche(s) ({_examples(which)})")
        for message, which in record_warnings_by_message.items():
            inspire.warning(f"GetRecordById : {message} : {len(which)} fiche(s) ({_examples(which)})")
        inspire.detail = f"{fetched} fiche(s) complète(s) examinée(s)"
        self.report.stats["fiches complètes examinées"] = fetched

    def _get_record_by_id(self, what: str, identifier: str, method: str):
        """GetRecordById (full, gmd) by POST or GET; raises CswError."""
        if method == "POST":
            return self.client.post(what, getrecordbyid_body(identifier))
        return self.client.get(
            what,
            {
                "service": "CSW",
                "version": "2.0.2",
                "request": "GetRecordById",
                "id": identifier,
                "outputSchema": GMD,
                "elementSetName": "full",
            },
        )

    def fetch_by_id(self, errors: list, identifier: str, method: str):
        """The gmd:MD_Metadata of GetRecordById (POST or GET), or None; what is wrong goes to ``errors``."""
        what = f"GetRecordById {method} id={identifier}"
        try:
            root = self._get_record_by_id(what, identifier, method)
        except CswError as exc:
            errors.append(str(exc))
            return None
        if localname(root) != "GetRecordByIdResponse" or etree.QName(root).namespace != CSW:
            errors.append(f"{what} : la réponse n'est pas un csw:GetRecordByIdResponse ({root.tag})")
            return None
        children = _children(root)
        if len(children) != 1:
            errors.append(
                f"{what} : {len(children)} élément(s) dans la réponse au lieu d'exactement un gmd:MD_Metadata"
            )
            if not children:
                return None
        md = children[0]
        if md.tag != f"{{{GMD}}}MD_Metadata":
            errors.append(f"{what} : le premier élément de la réponse est {etree.QName(md).text}, pas gmd:MD_Metadata")
            return None
        found = _text(md.find("gmd:fileIdentifier", NS))
        if found != identifier:
            errors.append(f"{what} : fileIdentifier « {found or 'absent'} » au lieu de l'identifiant demandé")
        return md

    def unknown_id(self, check: Check) -> None:
        identifier = f"SINP-SELFTEST-INCONNU-{uuid.uuid4().hex.upper()}"
        for method in ("POST", "GET"):
            what = f"GetRecordById {method} d'un identifiant inconnu ({identifier})"
            try:
                root = self._get_record_by_id(what, identifier, method)
            except CswError as exc:
                check.problem(
                    f"{exc} : une réponse vide est attendue (GeoNetwork compte la fiche comme "
                    "irrécupérable et continue)"
                )
                continue
            if localname(root) != "GetRecordByIdResponse":
                check.problem(f"{what} : la réponse n'est pas un csw:GetRecordByIdResponse ({root.tag})")
            elif _children(root):
                check.problem(f"{what} : la réponse n'est pas vide ({len(_children(root))} élément(s))")
        check.detail = "csw:GetRecordByIdResponse vide attendu en POST et en GET"

    # -- udata

    def udata(self, check: Check, gn: Listing) -> None:
        def send_all(start):
            return self.client.post(
                f"GetRecords POST (udata CSW-ISO-19139, startPosition={start})",
                getrecords_body(
                    type_names="csw:Record",
                    element_set="full",
                    start=start,
                    filter_xml=UDATA_TYPES_FILTER,
                    extra=' maxPosition="10"',
                ),
            )

        label = "GetRecords POST (udata CSW-ISO-19139, dc:type dataset|service|series)"
        everything = self.listing(check, label, send_all, max_records=None, require_stamp=False)
        harvestable = [i for i in gn.unique if gn.types.get(i) in HARVESTED_TYPES]
        skipped = [i for i in gn.unique if gn.types.get(i) not in HARVESTED_TYPES]
        if skipped:
            check.warning(
                f"{len(skipped)} fiche(s) d'un type autre que dataset, series ou service ne seraient pas "
                f"moissonnées par data.gouv.fr : {_examples(skipped)}"
            )
        if not everything.failed:
            self.compare(check, label, harvestable, everything.ids, order=False)
        parts = [
            "requête exacte de udata : " + ("échec" if everything.failed else f"{len(everything.unique)} fiche(s)")
        ]
        for kind in ("dataset", "series"):

            def send(start, kind=kind):
                return self.client.post(
                    f"GetRecords POST (udata, dc:type = {kind}, startPosition={start})",
                    getrecords_body(
                        type_names="csw:Record",
                        element_set="full",
                        start=start,
                        max_records=self.page_size,
                        filter_xml=type_filter(kind),
                    ),
                )

            label_kind = f"GetRecords POST (udata, dc:type = {kind})"
            listing = self.listing(check, label_kind, send, max_records=self.page_size, require_stamp=False)
            expected = [i for i in gn.unique if gn.types.get(i) == kind]
            if not listing.failed:
                self.compare(check, label_kind, expected, listing.ids, order=False, extra=False)
            wrong = [i for i in listing.unique if gn.types.get(i) != kind]
            if wrong:
                check.problem(
                    f"{label_kind} : {len(wrong)} fiche(s) renvoyée(s) dont GeoNetwork n'a pas vu le "
                    f"hierarchyLevel {kind} : {_examples(wrong)}"
                )
            parts.append(
                f"{listing.matched if listing.matched is not None else '?'} {kind} (GeoNetwork : {len(expected)})"
            )
        check.detail = " ; ".join(parts)

    # -- ckanext-spatial

    def ckanext_spatial(self, check: Check, gn: Listing) -> None:
        step = 10
        details = []
        for method in ("POST", "GET"):
            label = f"getrecords2 {method} (ckanext-spatial, csw:Record, brief, {step} par page)"
            seen, start, matched, pages = [], 0, 0, 0
            while True:
                pages += 1
                what = f"GetRecords {method} (ckanext-spatial, startPosition={start or 'absent'})"
                try:
                    if method == "POST":
                        root = self.client.post(
                            what,
                            getrecords_body(
                                type_names="csw:Record",
                                element_set="brief",
                                start=start or None,
                                max_records=step,
                                extra=' outputFormat="application/xml"',
                            ),
                        )
                    else:
                        params = {
                            "service": "CSW",
                            "version": "2.0.2",
                            "request": "GetRecords",
                            "resultType": "results",
                            "typeNames": "csw:Record",
                            "elementSetName": "brief",
                            "outputSchema": GMD,
                            "maxRecords": step,
                        }
                        if start:
                            params["startPosition"] = start
                        root = self.client.get(what, params)
                except CswError as exc:
                    check.problem(f"{exc} : ckanext-spatial arrêterait le moissonnage (CswError)")
                    break
                page = read_page(root, start=start or 1, max_records=step)
                if page.matched is None:
                    check.problem(f"{what} : numberOfRecordsMatched absent ou non entier")
                    break
                matched = matched or page.matched
                ids = [s.identifier for s in map(summary_of, page.records) if s.identifier]
                if len(ids) != len(page.records):
                    check.problem(f"{what} : {len(page.records) - len(ids)} fiche(s) sans gmd:fileIdentifier")
                seen += ids
                if not page.records:
                    break
                start += step
                if start >= matched + 1 or pages > matched // step + 3:
                    break
            missing = [i for i in gn.unique if i not in set(seen)]
            extra = [i for i in dict.fromkeys(seen) if i not in set(gn.unique)]
            if missing:
                check.problem(
                    f"{label} : {len(missing)} fiche(s) vue(s) par GeoNetwork jamais vue(s) : {_examples(missing)}"
                )
            if extra:
                check.problem(f"{label} : {len(extra)} fiche(s) inconnue(s) de GeoNetwork : {_examples(extra)}")
            details.append(f"{method} : {len(set(seen))} fiche(s)")
        check.detail = " ; ".join(details)

    # -- filters

    def find(self, what: str, filter_xml: str, target: str) -> tuple[bool, int | None]:
        """Whether ``target`` is among the records matching ``filter_xml`` (pages of 100)."""
        start, matched = 1, None
        for _ in range(50):
            root = self.client.post(
                f"{what} (startPosition={start})",
                getrecords_body(
                    type_names="gmd:MD_Metadata",
                    element_set="brief",
                    start=start,
                    max_records=100,
                    filter_xml=filter_xml,
                ),
            )
            page = read_page(root, start=start, max_records=100)
            if page.problems and page.matched is None:
                raise CswError(f"{what} : {page.problems[0]}")
            matched = page.matched
            if any(summary_of(r).identifier == target for r in page.records):
                return True, matched
            if not page.next or page.next <= start or not page.records:
                break
            start = page.next
        return False, matched

    def anytext(self, check: Check) -> None:
        candidates = [(title_word(record_title(md)), identifier) for identifier, md in self.full.items()]
        candidates = [(w, i) for w, i in candidates if w]
        if not candidates:
            check.warning("aucune fiche complète avec un titre exploitable : contrôle sans objet")
            return
        word, identifier = max(candidates, key=lambda c: len(c[0]))
        what = f"GetRecords POST avec filtre csw:AnyText PropertyIsLike « %{word}% »"
        found, matched = self.find(what, anytext_filter(word), identifier)
        if not found:
            check.problem(
                f"{what} : la fiche {identifier}, dont le titre contient ce mot, n'est pas trouvée "
                f"({matched if matched is not None else '?'} fiche(s) trouvée(s))"
            )
        check.detail = (
            f"« {word} » → {matched if matched is not None else '?'} fiche(s), dont {identifier}"
            if found
            else f"« {word} »"
        )

    def bbox(self, check: Check, gn: Listing) -> None:
        candidates = [(i, record_bbox(md)) for i, md in self.full.items() if gn.types.get(i, "dataset") == "dataset"]
        candidates = [(i, b) for i, b in candidates if b]
        if not candidates:
            check.warning("aucun jeu de données avec une emprise parmi les fiches examinées : contrôle sans objet")
            return
        identifier, (west, south, east, north) = candidates[0]
        margin = 0.01
        box = (round(west - margin, 6), round(south - margin, 6), round(east + margin, 6), round(north + margin, 6))
        found_any = []
        for crs, order in ((CRS_EPSG4326, "latitude puis longitude"), (CRS_CRS84, "longitude puis latitude")):
            what = f"GetRecords POST avec filtre BBOX ({crs}, {order})"
            found, matched = self.find(what, bbox_filter(box, crs), identifier)
            if found:
                found_any.append(crs)
            else:
                check.problem(
                    f"{what} autour de l'emprise de {identifier} ({west}, {south}, {east}, {north}) : "
                    f"fiche non trouvée ({matched if matched is not None else '?'} fiche(s) trouvée(s))"
                )
        check.detail = f"emprise de {identifier} : trouvée avec {', '.join(found_any) or 'aucun CRS'}"


def run_selftest(
    csw_url: str,
    *,
    page_size: int = 20,
    sample: int | None = 50,
    timeout: float = 30,
    xsd_path=None,
    session: requests.Session | None = None,
) -> Report:
    """Replays the harvesters' requests against ``csw_url`` and returns a French report.

    page_size: GeoNetwork's maxRecords (20); sample: records fetched by GetRecordById (None: all);
    timeout: seconds per request; xsd_path: the ISO 19139 XSDs (gmd.xsd, or the directory holding
    gmd/ and gmx/; default: pycsw's copy); session: a requests.Session (headers, auth…).
    Never raises for what the endpoint does: every failure is a problem of the report.
    """
    began = time.monotonic()
    t = _Selftest(csw_url, page_size, sample, timeout, xsd_path, session)
    t.guarded(t.check("capabilities", "GetCapabilities 2.0.2 (GET KVP, comme GeoNetwork)"), t.capabilities)
    gn = (
        t.guarded(
            t.check("geonetwork", f"GeoNetwork : pagination GetRecords (POST, summary, gmd, {t.page_size} par page)"),
            t.geonetwork,
        )
        or Listing()
    )
    t.guarded(
        t.check("stability", "GeoNetwork : second passage identique (stabilité de la pagination)"), t.stability, gn
    )
    t.guarded(
        t.check("geonetwork_get", "GeoNetwork : repli GET KVP (pagination et filtre CQL_TEXT)"), t.geonetwork_get, gn
    )
    byid = t.check("getrecordbyid", "GetRecordById (POST et GET) sur un échantillon")
    xsd = t.check("xsd", "Validité XSD ISO 19139 des fiches complètes")
    inspire = t.check("inspire", "Éléments INSPIRE des fiches complètes")
    t.guarded(byid, lambda check: t.by_id(check, xsd, inspire, gn))
    t.guarded(t.check("unknown_id", "GetRecordById d'un identifiant inconnu : réponse vide"), t.unknown_id)
    t.guarded(t.check("udata", "udata (data.gouv.fr) : GetRecords csw:Record, full, filtre dc:type"), t.udata, gn)
    t.guarded(
        t.check("ckanext_spatial", "ckanext-spatial : getrecords2 (csw:Record, brief, 10 par page)"),
        t.ckanext_spatial,
        gn,
    )
    t.guarded(t.check("anytext", "Filtre csw:AnyText sur un mot d'un titre"), t.anytext)
    t.guarded(t.check("bbox", "Filtre BBOX autour de l'emprise d'un jeu de données"), t.bbox, gn)
    t.report.stats["requêtes"] = t.client.count
    t.report.stats["durée"] = f"{time.monotonic() - began:.1f} s"
    return t.report
