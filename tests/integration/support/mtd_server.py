"""A local imitation of the INPN MTD web services (SINP_STANDARDS.md §2.1), for harvester tests.

    with MtdServer() as mtd:
        mtd.add_ca(CA, ca_xml(CA, "Atlas des odonates"))              # instance "42" by default
        mtd.add_jdd(JDD, jdd_xml(JDD, CA, "Imagos 2022"), instance="42")
        mtd.fail("/cadre/jdd/export/xml/GetRecordsByInstanceId", 503, times=1)
        harvest(mtd.url)                                           # http://127.0.0.1:PORT/mtd
        assert mtd.requests[0] == "/cadre/export/xml/GetRecordsByInstanceId?id=42"

Paths (``requests`` entries, fault prefixes) are relative to ``url``, as in the §2.1 table; a
fault prefix that includes the ``/mtd`` base path is accepted too. A request outside the base
path gets 404 and is recorded with its full path.

Choices where the real service is not documented (uncertain):

* GetRecordById with an unknown id answers 200 with an empty ``gml:FeatureCollection``, like an
  instance without records (what INPN does is not known: a 404 or an HTML page are possible;
  test those with :meth:`MtdServer.fail` / :meth:`MtdServer.override`).
* A request without ``id`` answers 400, an unknown path under the base 404 (small HTML pages,
  as a Java application server would send); :meth:`MtdServer.fail` sends the same kind of page.
* A record's instance / user is the one given to ``add_*``, else read from the fragment's
  ``attributsAdditionnels`` (``ID_INSTANCE`` / ``ID_CREATEUR``). A JDD does not inherit the
  instance of its CA.
* The document root is ``gml:FeatureCollection`` (the root name is an assumption of §2.3).

Only the standard library is used: this module stands for a third-party server.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

MTD_NS = "http://inpn.mnhn.fr/mtd"
GML_NS = "http://www.opengis.net/gml/3.2"
BASE_PATH = "/mtd"
CONTENT_TYPE = "application/xml; charset=UTF-8"
_ENDPOINT = re.compile(r"^/cadre(/jdd)?/export/xml/(GetRecordById|GetRecordsByInstanceId|GetRecordsByUserId)$")
_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")


class MtdServer:
    """A threaded http.server on 127.0.0.1:<free port> serving the MTD endpoints of §2.1 from
    memory. The port is bound on construction (``url`` is known before :meth:`start`)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records = {"ca": {}, "jdd": {}}  # kind -> UUID (upper-case) -> (fragment, instance, user)
        self._faults = []  # [prefix, action, value, remaining times or None]
        self._stopping = threading.Event()
        self._thread = None
        self.requests: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{BASE_PATH}"

    # --- records ------------------------------------------------------------------------------

    def add_ca(self, uuid: str, xml_fragment: bytes, instance: str | None = None, user: str | None = None):
        """Serve a CA (a ``ca:CadreAcquisition`` element); replaces a record of the same UUID."""
        self._add("ca", uuid, xml_fragment, instance, user)

    def add_jdd(self, uuid: str, xml_fragment: bytes, instance: str | None = None, user: str | None = None):
        """Serve a JDD (a ``jdd:JeuDeDonnees`` element); replaces a record of the same UUID."""
        self._add("jdd", uuid, xml_fragment, instance, user)

    def _add(self, kind, uuid, fragment, instance, user):
        fragment = _XML_DECLARATION.sub(b"", bytes(fragment))
        if instance is None:
            instance = _attribute(fragment, "ID_INSTANCE")
        if user is None:
            user = _attribute(fragment, "ID_CREATEUR")
        entry = (fragment, _str(instance), _str(user))
        with self._lock:
            self._records[kind][str(uuid).strip().upper()] = entry

    def remove(self, uuid: str):
        """The record (CA or JDD) disappears from every endpoint."""
        with self._lock:
            for store in self._records.values():
                store.pop(str(uuid).strip().upper(), None)

    # --- faults -------------------------------------------------------------------------------

    def fail(self, path_prefix: str, status: int = 500, times: int | None = None):
        """The next ``times`` requests (None: all) whose path+query starts with ``path_prefix``
        answer ``status`` with a small HTML error page."""
        self._add_fault(path_prefix, "fail", status, times)

    def delay(self, path_prefix: str, seconds: float, times: int | None = None):
        """Matching requests are answered after ``seconds`` (interrupted by :meth:`stop`)."""
        self._add_fault(path_prefix, "delay", seconds, times)

    def override(self, path_prefix: str, body: bytes, status: int = 200):
        """Matching requests get this raw body (malformed or hostile XML), as application/xml."""
        self._add_fault(path_prefix, "override", (status, bytes(body)), None)

    def reset_faults(self):
        with self._lock:
            self._faults.clear()

    def _add_fault(self, prefix, action, value, times):
        if prefix == BASE_PATH or prefix.startswith(BASE_PATH + "/"):
            prefix = prefix[len(BASE_PATH) :]
        with self._lock:
            self._faults.append([prefix, action, value, times])

    def _take_fault(self, path: str, action: str):
        """The value of the most recent matching fault of this action, counting one use."""
        with self._lock:
            for fault in reversed(self._faults):
                prefix, kind, value, remaining = fault
                if kind == action and path.startswith(prefix):
                    if remaining is not None:
                        fault[3] -= 1
                        if fault[3] <= 0:
                            self._faults.remove(fault)
                    return value
        return None

    # --- answers ------------------------------------------------------------------------------

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a path+query relative to the base URL."""
        status = self._take_fault(path, "fail")
        if status is not None:
            return status, "text/html; charset=UTF-8", _error_page(status)
        overridden = self._take_fault(path, "override")
        if overridden is not None:
            return overridden[0], CONTENT_TYPE, overridden[1]
        route, _, query = path.partition("?")
        match = _ENDPOINT.match(route)
        if not match:
            return 404, "text/html; charset=UTF-8", _error_page(404)
        ids = urllib.parse.parse_qs(query).get("id")
        if not ids or not ids[0].strip():
            return 400, "text/html; charset=UTF-8", _error_page(400, "Paramètre id manquant")
        kind = "jdd" if match.group(1) else "ca"
        wanted = ids[0].strip()
        with self._lock:
            items = list(self._records[kind].items())
        if match.group(2) == "GetRecordById":
            fragments = [f for uuid, (f, _, _) in items if uuid == wanted.upper()]
        elif match.group(2) == "GetRecordsByInstanceId":
            fragments = [f for _, (f, instance, _) in items if instance == wanted]
        else:
            fragments = [f for _, (f, _, user) in items if user == wanted]
        return 200, CONTENT_TYPE, feature_collection(kind, fragments)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="mtd-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self):
        """Returns promptly: delayed requests are woken up and closed without an answer."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _handler_class(server: MtdServer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "MtdImitation/1.0"

        def do_GET(self):
            path = self.path
            relative = path[len(BASE_PATH) :] if path.startswith(BASE_PATH + "/") else None
            with server._lock:
                server.requests.append(relative if relative is not None else path)
            if relative is None:
                return self._send(404, "text/html; charset=UTF-8", _error_page(404))
            seconds = server._take_fault(relative, "delay")
            if seconds and server._stopping.wait(seconds):
                self.close_connection = True
                return  # stopping: no answer
            self._send(*server._answer(relative))

        def _send(self, status, content_type, body):
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (time-out tests)

        def log_message(self, *args):
            pass

    return Handler


# --- documents ----------------------------------------------------------------------------------


def feature_collection(kind: str, fragments) -> bytes:
    """The export document: one gml:featureMember per record fragment (bytes)."""
    members = b"".join(b"  <gml:featureMember>\n    " + f.strip() + b"\n  </gml:featureMember>\n" for f in fragments)
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gml:FeatureCollection xmlns:gml="{GML_NS}" xmlns:xlink="http://www.w3.org/1999/xlink"'
        f' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{kind}="{MTD_NS}">\n'
    )
    return head.encode() + members + b"</gml:FeatureCollection>\n"


def _error_page(status: int, message: str = "") -> bytes:
    title = f"HTTP Status {status}" + (f" – {message}" if message else "")
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1></body></html>".encode()
    )


def _str(value) -> str | None:
    return None if value is None else str(value).strip()


def _attribute(fragment: bytes, name: str) -> str | None:
    """The valeurAttribut of the additional attribute ``name`` of a fragment, if readable."""
    if re.search(rb"<!\s*(DOCTYPE|ENTITY)", fragment, re.IGNORECASE):
        return None  # hostile test content: do not parse it
    try:
        root = ET.fromstring(fragment)
    except ET.ParseError:
        return None
    for element in root.iter():
        children = {_local(c.tag): (c.text or "").strip() for c in element}
        if children.get("nomAttribut") == name:
            return children.get("valeurAttribut") or None
    return None


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# --- record builders ----------------------------------------------------------------------------
# Values of the ``elements`` dicts (and of the builders' **extra, keyed by MTD element name):
# str -> one element (text escaped); list/tuple -> one element per item; bytes -> the element's
# content, raw XML (use actor(), attributes(), ...); None -> element left out.

CA_ORDER = (
    "identifiantCadre",
    "libelle",
    "description",
    "motCle",
    "objectifCadre",
    "voletSINP",
    "estMetaCadre",
    "idMetaCadreParent",
    "niveauTerritorial",
    "territoire",
    "precisionGeographique",
    "typeFinancement",
    "cibleEcologiqueOuGeologique",
    "descriptionCible",
    "ReferenceTemporelle",
    "acteurPrincipal",
    "acteurAutre",
    "referenceBiblio",
    "dateCreationMtd",
    "dateMiseAJourMtd",
    "idTPS",
    "attributsAdditionnels",
)
JDD_ORDER = (
    "identifiantJdd",
    "identifiantCadre",
    "libelle",
    "libelleCourt",
    "description",
    "motCle",
    "typeDonnees",
    "objectifJdd",
    "domaineMarin",
    "domaineTerrestre",
    "territoire",
    "precisionGeographique",
    "empriseGeographique",
    "methodeRecueil",
    "protocoles",
    "pointContactJdd",
    "pointContactPF",
    "BaseProduction",
    "dateCreation",
    "dateRevision",
    "attributsAdditionnels",
)


def elements(prefix: str, values: dict, order=()) -> bytes:
    """Child elements ``<prefix:name>`` of ``values``, in ``order`` then in the dict's order."""
    names = [n for n in order if n in values] + [n for n in values if n not in order]
    out = []
    for name in names:
        value = values[name]
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is None:
                continue
            content = item if isinstance(item, bytes) else escape(str(item)).encode()
            out.append(b"<%s:%s>%s</%s:%s>" % (prefix.encode(), name.encode(), content, prefix.encode(), name.encode()))
    return b"".join(out)


def actor(
    prefix: str,
    organisme: str | None = None,
    role: str = "1",
    *,
    nom: str | None = None,
    mail: str | None = None,
    id_organisme: str | None = None,
) -> bytes:
    """Content of an actor property (acteurPrincipal, pointContactJdd…): one ActeurType."""
    inner = elements(
        prefix,
        {"nomPrenom": nom, "mail": mail, "organisme": organisme, "idOrganisme": id_organisme, "roleActeur": role},
    )
    return elements(prefix, {"ActeurType": inner})


def attributes(prefix: str, **values) -> bytes:
    """Content of attributsAdditionnels: one AttributAdditionnel per non-None value."""
    return b"".join(
        elements(prefix, {"AttributAdditionnel": elements(prefix, {"nomAttribut": name, "valeurAttribut": value})})
        for name, value in values.items()
        if value is not None
    )


def _record(prefix: str, element: str, values: dict, order) -> bytes:
    return b'<%s:%s xmlns:%s="%s">%s</%s:%s>' % (
        prefix.encode(),
        element.encode(),
        prefix.encode(),
        MTD_NS.encode(),
        elements(prefix, values, order),
        prefix.encode(),
        element.encode(),
    )


def ca_xml(uuid, title, *, meta=False, parent=None, launched="2021-03-01", instance="42", **extra) -> bytes:
    """A ``ca:CadreAcquisition`` valid for the 1.3.10 standard (all mandatory fields). ``extra``:
    MTD element names (see the comment above); ``dateCloture`` goes into ReferenceTemporelle."""
    closed = extra.pop("dateCloture", None)
    values = {
        "identifiantCadre": str(uuid).upper(),
        "libelle": title,
        "description": f"{title} : cadre d'acquisition fictif servant aux tests du moissonnage MTD.",
        "motCle": ["test", "moissonnage"],
        "objectifCadre": "8",
        "estMetaCadre": "true" if meta else "false",
        "idMetaCadreParent": str(parent).upper() if parent else None,
        "niveauTerritorial": "5",
        "territoire": "METROP",
        "precisionGeographique": "Bourgogne-Franche-Comté",
        "typeFinancement": "1",
        "descriptionCible": "Faune et flore",
        "ReferenceTemporelle": elements("ca", {"dateLancement": launched, "dateCloture": closed}),
        "acteurPrincipal": actor(
            "ca",
            "Conservatoire d'espaces naturels (fictif)",
            "1",
            nom="MARTIN Claire",
            mail="c.martin@cen-test.invalid",
        ),
        "acteurAutre": actor("ca", "DREAL Bourgogne-Franche-Comté", "2"),
        "dateCreationMtd": "2021-02-15",
        "attributsAdditionnels": attributes("ca", ID_CREATEUR="4512", ID_INSTANCE=instance),
    }
    values.update(extra)
    return _record("ca", "CadreAcquisition", values, CA_ORDER)


def short_label(title: str) -> str:
    """A libelleCourt from a title: ASCII capitals and underscores, 30 characters at most."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Z0-9]+", "_", ascii_title.upper()).strip("_")[:30].rstrip("_") or "JDD"


def jdd_xml(uuid, ca_uuid, title, *, short=None, bbox=(5.2, 46.2, 7.1, 47.9), instance=None, **extra) -> bytes:
    """A ``jdd:JeuDeDonnees`` of the CA ``ca_uuid``, valid for the 1.3.10 standard. ``bbox``:
    (west, south, east, north) in WGS 84, None to leave it out; ``instance``: adds an
    ID_INSTANCE attribute (none by default). ``extra``: MTD element names."""
    box = None
    if bbox is not None:
        west, south, east, north = bbox
        box = elements(
            "jdd",
            {
                "BoundingBox": elements(
                    "jdd", {"borneNord": north, "borneSud": south, "borneEst": east, "borneOuest": west}
                )
            },
        )
    values = {
        "identifiantJdd": str(uuid).upper(),
        "identifiantCadre": str(ca_uuid).upper(),
        "libelle": title,
        "libelleCourt": short or short_label(title),
        "description": f"{title} : jeu de données fictif servant aux tests du moissonnage MTD.",
        "motCle": ["test"],
        "typeDonnees": "1",
        "objectifJdd": "1.1",
        "domaineMarin": "false",
        "domaineTerrestre": "true",
        "territoire": "METROP",
        "empriseGeographique": box,
        "methodeRecueil": "1",
        "protocoles": elements(
            "jdd",
            {"ProtocoleType": elements("jdd", {"libelleProtocole": "Inventaire opportuniste", "typeProtocole": "1"})},
        ),
        "pointContactJdd": actor(
            "jdd",
            "Conservatoire d'espaces naturels (fictif)",
            "1",
            nom="MARTIN Claire",
            mail="c.martin@cen-test.invalid",
        ),
        "dateCreation": "2021-03-15",
        "attributsAdditionnels": attributes("jdd", CODE_STATUT_DONNEES_SOURCE="Pr", ID_INSTANCE=instance),
    }
    values.update(extra)
    return _record("jdd", "JeuDeDonnees", values, JDD_ORDER)
