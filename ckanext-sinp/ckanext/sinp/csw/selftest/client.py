"""The requests of the self-test: csw:GetRecords / GetRecordById bodies and OGC filters as the
harvesters write them, and ``Client`` (GET KVP / POST XML to one CSW URL, failures as ``CswError``)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import requests
from lxml import etree

from .namespaces import (
    CRS_EPSG4326,
    CSW,
    GMD,
    GML,
    HARVESTED_TYPES,
    OGC,
    OWS,
    exception_text,
    localname,
    parse_xml,
    short,
)


class CswError(Exception):
    """A request that failed; the message is French and names the request."""


# --- requests -----------------------------------------------------------------------------------

GETRECORDS_NS = (
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
        f'<?xml version="1.0" encoding="UTF-8"?>\n<csw:GetRecords {GETRECORDS_NS} {attrs}{extra}>'
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
            raise CswError(f"{what} : connexion impossible ({short(exc, 160)})") from None
        except requests.RequestException as exc:
            raise CswError(f"{what} : requête impossible ({short(exc, 160)})") from None
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
                f"{what} : la réponse n'est pas du XML ({short(error, 120)} ; début : "
                f"{short(response.text[:80], 80)!r})"
            )
        if localname(root) == "ExceptionReport":
            raise CswError(f"{what} : ows:ExceptionReport au lieu d'une réponse ({exception_text(root)})")
        return root
