"""`ckan sinp csw-selftest` (ckanext.sinp.csw.selftest): the harvesters' request sequences replayed
against our real test pycsw, and against a deliberately broken CSW served from the test itself."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from ckanext.sinp.csw.selftest import run_selftest
from tests.integration.test_csw_publication import _ca, _full, _jdd, _records, _wait, producer  # noqa: F401

GMD = "http://www.isotc211.org/2005/gmd"
MAIL_CONTACT = [{"organisme": "CEN Bourgogne-Franche-Comté", "mail": "donnees@cen.invalid", "role": "1"}]


@pytest.fixture
def published(producer, test_csw):  # noqa: F811
    api, org = producer
    ca = _ca(api, org, private=False, title="Inventaire des chiroptères du Morvan")
    jdds = [
        _jdd(
            api,
            org,
            ca,
            private=False,
            title=f"Comptages de chiroptères en cavités, site {i}",
            contacts_jdd=MAIL_CONTACT,
        )
        for i in range(2)
    ]
    _jdd(api, org, ca, title="Jeu privé du Morvan", contacts_jdd=MAIL_CONTACT)
    _wait(lambda: _records(test_csw)[0].get("numberOfRecordsMatched") == "3")
    # the CA's extent is the union of its public JDD's: wait for its last re-rendering
    _wait(lambda: _full(test_csw, ca["sinp_uuid"]).find(f".//{{{GMD}}}EX_GeographicBoundingBox") is not None)
    return ca, jdds


def test_our_csw_is_ready_for_harvesting_but_for_its_local_address(published, test_csw):
    report = run_selftest(test_csw, page_size=2, sample=10, timeout=30)
    text = report.to_text()
    assert report.problems == [], text
    assert report.warnings and all("locale" in w for w in report.warnings), text
    assert all(ok for _, ok, _ in report.checks), text

    assert "3 fiche(s) annoncée(s), 3 vue(s) en pages de 2 (2 dataset, 1 series)" in report.check("geonetwork").detail
    assert "3 fiche(s) valide(s) sur 3" in report.check("xsd").detail
    assert "dont" in report.check("anytext").detail
    assert "urn:ogc:def:crs:EPSG::4326, urn:ogc:def:crs:OGC:1.3:CRS84" in report.check("bbox").detail
    assert "2 dataset (GeoNetwork : 2) ; 1 series (GeoNetwork : 1)" in report.check("udata").detail
    assert f"l'adresse déclarée {test_csw} " in text and "✓ GetCapabilities 2.0.2" in text
    assert text.count("\n✓ ") + text.count("\n✗ ") == len(report.checks) == 12


def test_udata_exact_request_is_accepted(published, test_csw):
    """udata sends GetRecords@maxPosition, which pycsw 2.6.2's schema check refuses: our WSGI
    wrapper drops that attribute before pycsw parses the body."""
    report = run_selftest(test_csw, sample=1, timeout=30)
    assert report.check("udata").ok, report.check("udata").problems


# --- a broken CSW ---------------------------------------------------------------------------------

CAPABILITIES = b"""<?xml version="1.0" encoding="UTF-8"?>
<csw:Capabilities xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" xmlns:ows="http://www.opengis.net/ows"
    xmlns:xlink="http://www.w3.org/1999/xlink" version="2.0.2">
  <ows:ServiceIdentification><ows:ServiceType>CSW</ows:ServiceType>
    <ows:ServiceTypeVersion>2.0.2</ows:ServiceTypeVersion></ows:ServiceIdentification>
  <ows:OperationsMetadata>
    <ows:Operation name="GetRecords">
      <ows:DCP><ows:HTTP><ows:Get xlink:href="http://localhost:8080/csw"/>
        <ows:Post xlink:href="http://localhost:8080/csw"/></ows:HTTP></ows:DCP>
      <ows:Parameter name="outputSchema"><ows:Value>http://www.isotc211.org/2005/gmd</ows:Value>
        <ows:Value>http://www.opengis.net/cat/csw/2.0.2</ows:Value></ows:Parameter>
      <ows:Parameter name="typeNames"><ows:Value>csw:Record</ows:Value>
        <ows:Value>gmd:MD_Metadata</ows:Value></ows:Parameter>
      <ows:Parameter name="CONSTRAINTLANGUAGE"><ows:Value>FILTER</ows:Value>
        <ows:Value>CQL_TEXT</ows:Value></ows:Parameter>
    </ows:Operation>
  </ows:OperationsMetadata>
</csw:Capabilities>"""

# startPosition -> (ids, nextRecord) of the pages served, 5 records announced, 2 per page:
# page 2 repeats B and says nextRecord=4 (5 expected), page 3 says nextRecord=9 (> matched): E is never seen
PAGES = {1: (["A", "B"], 3), 3: (["B", "C"], 4), 4: (["D"], 9)}
NO_DATESTAMP = {"C"}


def _md(identifier: str) -> str:
    stamp = (
        ""
        if identifier in NO_DATESTAMP
        else "<gmd:dateStamp><gco:DateTime>2026-01-02T03:04:05Z</gco:DateTime></gmd:dateStamp>"
    )
    return (
        f'<gmd:MD_Metadata xmlns:gmd="{GMD}" xmlns:gco="http://www.isotc211.org/2005/gco">'
        f"<gmd:fileIdentifier><gco:CharacterString>{identifier}</gco:CharacterString></gmd:fileIdentifier>"
        '<gmd:hierarchyLevel><gmd:MD_ScopeCode codeList="x" codeListValue="dataset">dataset</gmd:MD_ScopeCode>'
        f"</gmd:hierarchyLevel>{stamp}</gmd:MD_Metadata>"
    )


def _page(start: int) -> bytes:
    ids, next_record = PAGES.get(start, ([], 0))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><csw:GetRecordsResponse '
        f'xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" version="2.0.2"><csw:SearchStatus/>'
        f'<csw:SearchResults numberOfRecordsMatched="5" numberOfRecordsReturned="{len(ids)}" '
        f'nextRecord="{next_record}">{"".join(_md(i) for i in ids)}</csw:SearchResults>'
        "</csw:GetRecordsResponse>"
    ).encode()


def _exception(text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" '
        f'version="1.2.0"><ows:Exception exceptionCode="OperationNotSupported"><ows:ExceptionText>{text}'
        "</ows:ExceptionText></ows:Exception></ows:ExceptionReport>"
    ).encode()


class BrokenCsw(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, body: bytes, status: int = 200):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        request = query.get("request", "")
        if request == "GetCapabilities":
            if urlsplit(self.path).path == "/lent":  # slower than the client's timeout
                time.sleep(2)
            return self._reply(CAPABILITIES)
        if request == "GetRecords":
            return self._reply(_page(int(query.get("startposition", "1"))))
        return self._reply(_exception(f"{request} non pris en charge"), 400)

    def do_POST(self):
        body = etree.fromstring(self.rfile.read(int(self.headers["Content-Length"])))
        if etree.QName(body).localname == "GetRecords":
            return self._reply(_page(int(body.get("startPosition", "1"))))
        return self._reply(_exception(f"{etree.QName(body).localname} non pris en charge"))


@pytest.fixture
def broken_csw():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenCsw)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_broken_csw_is_reported_in_french_without_crashing(broken_csw):
    report = run_selftest(f"{broken_csw}/csw", timeout=10)
    problems = "\n".join(report.problems)
    assert not report.ok and len(report.checks) == 12

    expected = [
        "GetCapabilities : l'opération GetRecordById n'est pas déclarée dans ows:OperationsMetadata",
        "GetCapabilities : pas d'inspire_ds:ExtendedCapabilities",
        "GetRecords POST (GeoNetwork, startPosition=3) : nextRecord=4 au lieu de 5 (startPosition + fiches "
        "renvoyées) : des fiches seraient sautées ou répétées",
        "GetRecords POST (GeoNetwork, startPosition=4) : nextRecord=9 dépasse numberOfRecordsMatched=5",
        "GetRecords POST (GeoNetwork) : 1 fiche(s) résumée(s) sans gmd:dateStamp (C)",
        "GetRecords POST (GeoNetwork) : 1 identifiant(s) renvoyé(s) plusieurs fois : B (pages 1, 2)",
        "GetRecords POST (GeoNetwork) : 4 fiche(s) distincte(s) vue(s) pour 5 annoncée(s)",
        "GetRecordById POST id=A : ows:ExceptionReport au lieu d'une réponse (OperationNotSupported : "
        "GetRecordById non pris en charge)",
        "GetRecordById GET id=A : erreur HTTP 400 (OperationNotSupported : GetRecordById non pris en charge)",
        "GetRecordById POST d'un identifiant inconnu",
    ]
    for text in expected:
        assert text in problems, f"{text!r} missing from:\n{problems}"
    # the tested URL is local too: a local declared address is only a warning
    assert any("l'adresse déclarée http://localhost:8080/csw" in w for w in report.warnings)
    assert not any("localhost:8080" in p for p in report.problems)
    text = report.to_text()
    assert "✗ GeoNetwork : pagination GetRecords" in text and "Résultat :" in text


def test_unreachable_and_slow_endpoints_are_problems_not_crashes(broken_csw):
    slow = run_selftest(f"{broken_csw}/lent", timeout=1, sample=1)
    assert "GetCapabilities (GET KVP, comme GeoNetwork) : pas de réponse en 1 s (délai dépassé)" in slow.problems

    from tests.integration.conftest import free_port

    closed = run_selftest(f"http://127.0.0.1:{free_port()}/csw", timeout=2, sample=1)
    assert not closed.ok and len(closed.checks) == 12
    assert any(
        p.startswith("GetCapabilities (GET KVP, comme GeoNetwork) : connexion impossible") for p in closed.problems
    )
    assert any(
        p.startswith("GetRecords POST (GeoNetwork, startPosition=1) : connexion impossible") for p in closed.problems
    )
