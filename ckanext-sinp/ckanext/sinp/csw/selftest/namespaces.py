"""Namespaces, the INSPIRE theme and ISO topic category tables, and small pure XML/URL helpers
of the CSW self-test (no HTTP, no other module of the package)."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

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

THEME_LABELS = {label.casefold() for pair in INSPIRE_THEMES.values() for label in pair}
THEME_HREF = re.compile(r"inspire\.ec\.europa\.eu/theme/([a-z]{2})/?$")
WORD = re.compile(r"[^\W\d_]{4,}")
LANGUAGE = re.compile(r"^[a-z]{3}$")
EXAMPLES = 3  # identifiers quoted per aggregated problem


# --- small pure helpers -------------------------------------------------------------------------


def localname(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def child_elements(element) -> list:
    return [c for c in element if isinstance(c.tag, str)]


def node_text(element) -> str:
    """Text of a gmd property (gco:CharacterString, gmx:Anchor, gmd:URL, gco:Date…), stripped."""
    if element is None:
        return ""
    return " ".join(t.strip() for t in element.itertext() if t.strip())


def short(value, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def examples_of(ids, n: int = EXAMPLES) -> str:
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


def is_absolute_http(url: str) -> bool:
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
        text = " ".join(short(t.text or "") for t in exc.iter("{*}ExceptionText"))
        parts.append(f"{code} : {text}" if code and text else code or text)
    return short(" ; ".join(p for p in parts if p) or "sans détail", 300)


def theme_of_keyword(text: str, href: str | None) -> str | None:
    """The INSPIRE theme code of a keyword (by its gmx:Anchor URI or its English/French label)."""
    match = THEME_HREF.search(href or "")
    if match and match.group(1) in INSPIRE_THEMES:
        return match.group(1)
    folded = (text or "").strip().casefold()
    for code, labels in INSPIRE_THEMES.items():
        if folded in {label.casefold() for label in labels}:
            return code
    return None


def title_word(title: str) -> str | None:
    """The longest word (letters only, ≥ 4) of a title: a csw:AnyText search term."""
    words = WORD.findall(title or "")
    return max(words, key=len) if words else None
