"""``sinp_csw``: ISO 19139 records of a partner CSW 2.0.2 catalogue into CA (``series``) and JDD
(``dataset``).

Source URL: the CSW endpoint. Configuration (JSON), all optional:

* ``anytext``: full-text filter (``csw:AnyText`` like ``%text%``);
* ``bbox``: ``[west, south, east, north]`` in WGS 84 (``ogc:BBOX``, CRS84 axis order);
* ``type``: ``"series"`` or ``"dataset"`` (``dc:type``);
* ``defaults``: values of SINP fields that ISO 19139 does not carry (territory, domains,
  territorial level…), e.g. ``{"territoires": ["METROP"], "domaine_terrestre": true}``;
* ``page_size`` (default 100), ``private`` (default false), ``timeout`` (seconds, default 30).

Gather pages through ``GetRecords`` (ISO ``summary`` records: identifier, level, ``dateStamp``),
checks that it saw as many records as the server matched, and creates an object for each record
that is new, whose ``dateStamp`` changed, or whose last import failed; fetch downloads the full
ISO 19139 document with ``GetRecordById`` and keeps it as the object's content (the provenance,
shown by ckanext-harvest at ``/harvest/object/<id>``); import maps it with
``ckanext.sinp.domain.iso_read``. A record that cannot be mapped is an error of its object only.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlencode

from lxml import etree
from owslib import fes

from ckanext.sinp.domain import iso, iso_read, safexml
from ckanext.sinp_harvesters import base

log = logging.getLogger(__name__)

CSW = "http://www.opengis.net/cat/csw/2.0.2"
OGC = "http://www.opengis.net/ogc"
OWS = "http://www.opengis.net/ows"
NS = {"csw": CSW, "ogc": OGC, "ows": OWS, "gmd": iso.GMD, "gco": iso.GCO}
DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 100_000
MAX_RESPONSE_BYTES = 200 * 1024 * 1024
LEVEL_ORDER = {"series": 0, "dataset": 1}


def parse_datestamp(value: str | None):
    """dateStamp text -> naive UTC datetime (a date alone is midnight); None when unreadable."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
        except ValueError:
            return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def _filter(config: dict):
    constraints = []
    if config.get("anytext"):
        constraints.append(fes.PropertyIsLike("csw:AnyText", f"%{config['anytext']}%", wildCard="%"))
    if config.get("type"):
        constraints.append(fes.PropertyIsEqualTo("dc:type", config["type"]))
    if config.get("bbox"):
        constraints.append(fes.BBox([float(v) for v in config["bbox"]], crs="urn:ogc:def:crs:OGC:1.3:CRS84"))
    if not constraints:
        return None
    return fes.FilterRequest().setConstraintList([constraints] if len(constraints) > 1 else constraints)


def get_records_body(config: dict, start: int, page_size: int) -> bytes:
    root = etree.Element(
        f"{{{CSW}}}GetRecords",
        nsmap={"csw": CSW, "ogc": OGC, "gmd": iso.GMD},
        service="CSW",
        version="2.0.2",
        resultType="results",
        startPosition=str(start),
        maxRecords=str(page_size),
        outputSchema=iso.GMD,
        outputFormat="application/xml",
    )
    query = etree.SubElement(root, f"{{{CSW}}}Query", typeNames="gmd:MD_Metadata")
    etree.SubElement(query, f"{{{CSW}}}ElementSetName").text = "summary"
    flt = _filter(config)
    if flt is not None:
        constraint = etree.SubElement(query, f"{{{CSW}}}Constraint", version="1.1.0")
        constraint.append(etree.fromstring(etree.tostring(flt)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _exception(root) -> str | None:
    if etree.QName(root).localname != "ExceptionReport":
        return None
    texts = [t.strip() for t in root.xpath("//ows:ExceptionText/text()", namespaces=NS) if t.strip()]
    return " ".join(texts) or "exception sans message"


class SinpCswHarvester(base.SinpHarvester):
    config_keys = {"anytext", "bbox", "type", "defaults", "page_size"}

    def info(self):
        return {
            "name": "sinp_csw",
            "title": "Catalogue partenaire CSW (ISO 19139)",
            "description": "Fiches ISO 19139 d'un catalogue CSW 2.0.2 (GeoNetwork, pycsw…) : « series » en cadres "
            "d'acquisition, « dataset » en jeux de données.",
        }

    def check_config(self, config):
        messages = []
        if "anytext" in config and (not isinstance(config["anytext"], str) or not config["anytext"].strip()):
            messages.append("« anytext » est un texte non vide.")
        if "type" in config and config["type"] not in ("series", "dataset"):
            messages.append("« type » vaut « series » (cadres d'acquisition) ou « dataset » (jeux de données).")
        if "bbox" in config:
            box = config["bbox"]
            ok = (
                isinstance(box, list)
                and len(box) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            )
            if not ok or not (-180 <= box[0] < box[2] <= 180 and -90 <= box[1] < box[3] <= 90):
                messages.append("« bbox » est [ouest, sud, est, nord] en degrés WGS 84, ouest < est et sud < nord.")
        if "page_size" in config and (
            not isinstance(config["page_size"], int)
            or isinstance(config["page_size"], bool)
            or not 1 <= config["page_size"] <= 1000
        ):
            messages.append("« page_size » est un entier entre 1 et 1000.")
        if "defaults" in config:
            messages += iso_read.check_defaults(config["defaults"])
        return messages

    def get_original_url(self, harvest_object_id):
        obj = base.HarvestObject.get(harvest_object_id)
        return self.record_url(obj.source.url, obj.guid) if obj else None

    @staticmethod
    def record_url(url: str, identifier: str) -> str:
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
        return f"{url}{'&' if '?' in url else '?'}{query}"

    # --- gather ---------------------------------------------------------------------------------

    def list_records(self, session, url: str, config: dict, timeout: float):
        """(records [(identifier, level, dateStamp text)], number matched, messages about records
        that cannot be harvested). Raises base.RemoteError."""
        page_size = int(config.get("page_size", DEFAULT_PAGE_SIZE))
        start, matched, listed, messages = 1, None, [], []
        for _ in range(MAX_PAGES):
            content = base.http_post(
                session,
                url,
                timeout,
                f"GetRecords (à partir du n° {start})",
                data=get_records_body(config, start, page_size),
            )
            try:
                root = safexml.parse(content, MAX_RESPONSE_BYTES, "CSW")
            except safexml.XmlRefused as err:
                raise base.RemoteError(f"GetRecords (à partir du n° {start}) : réponse illisible — {err}") from None
            problem = _exception(root)
            if problem:
                raise base.RemoteError(
                    f"GetRecords (à partir du n° {start}) : le catalogue a répondu par une exception — {problem}"
                )
            results = root.find(f"{{{CSW}}}SearchResults")
            if results is None:
                raise base.RemoteError(f"GetRecords (à partir du n° {start}) : réponse sans csw:SearchResults.")
            try:
                page_matched = int(results.get("numberOfRecordsMatched"))
                returned = int(results.get("numberOfRecordsReturned", "0"))
                next_record = int(results.get("nextRecord", "0"))
            except (TypeError, ValueError):
                raise base.RemoteError("GetRecords : nombres d'enregistrements absents ou illisibles.") from None
            if matched is None:
                matched = page_matched
            elif page_matched != matched:
                raise base.RemoteError(
                    f"GetRecords : le nombre d'enregistrements a changé pendant le moissonnage "
                    f"({matched} puis {page_matched}) ; relancez le moissonnage."
                )
            records = results.findall(f"{{{iso.GMD}}}MD_Metadata")
            for position, record in enumerate(records, start):
                identifier = record.xpath("string(gmd:fileIdentifier/gco:CharacterString)", namespaces=NS).strip()
                level = (
                    record.xpath("string(gmd:hierarchyLevel/gmd:MD_ScopeCode/@codeListValue)", namespaces=NS).strip()
                    or "dataset"
                )
                stamp = record.xpath("string(gmd:dateStamp/*)", namespaces=NS).strip()
                if not identifier:
                    messages.append(
                        f"Fiche n° {position} du catalogue sans identifiant (gmd:fileIdentifier) : "
                        "elle ne peut pas être moissonnée."
                    )
                listed.append((identifier, level, stamp))
            if returned == 0 or next_record == 0 or next_record > matched:
                break
            start = next_record
        return listed, matched or 0, messages

    def gather_stage(self, harvest_job):
        source = harvest_job.source
        config = self.source_config(source)
        session = base.new_session()
        try:
            listed, matched, messages = self.list_records(session, source.url, config, self.timeout(config))
        except base.RemoteError as err:
            self._save_gather_error(f"{err} Rien n'a été importé ni retiré.", harvest_job)
            return None
        finally:
            session.close()
        for message in messages:
            self._save_gather_error(message, harvest_job)
        current = self.current_objects(source.id)
        complete = len(listed) == matched
        ids, seen = [], set()
        wanted = []
        for identifier, level, stamp in listed:
            if not identifier or identifier in seen:
                continue
            seen.add(identifier)
            previous = current.get(identifier)
            stamp_date = parse_datestamp(stamp)
            if previous is not None and stamp_date is not None and previous.metadata_modified_date == stamp_date:
                continue  # unchanged since its last import
            wanted.append((LEVEL_ORDER.get(level, 2), identifier, level))
        for _, identifier, level in sorted(wanted, key=lambda w: w[0]):
            ids.append(self.new_object(harvest_job, identifier, level=level))
        if not complete:
            self._save_gather_error(
                f"Le catalogue annonce {matched} fiches mais en a renvoyé {len(listed)} : par précaution, "
                "aucune fiche n'est retirée lors de ce moissonnage.",
                harvest_job,
            )
        ids += self.withdraw_missing(
            harvest_job, current, seen, complete, empty_message="Le catalogue ne renvoie aucune fiche"
        )
        log.info("CSW source %s: %d records listed (%d matched), %d objects", source.id, len(listed), matched, len(ids))
        return ids

    # --- fetch ----------------------------------------------------------------------------------

    def download(self, session, obj, timeout):
        content = base.http_get(
            session, self.record_url(obj.source.url, obj.guid), timeout, f"GetRecordById {obj.guid}"
        )
        try:
            root = safexml.parse(content, iso_read.MAX_BYTES, "CSW")
        except safexml.XmlRefused as err:
            raise base.RemoteError(f"GetRecordById {obj.guid} : réponse illisible — {err}") from None
        problem = _exception(root)
        if problem:
            raise base.RemoteError(f"GetRecordById {obj.guid} : exception du catalogue — {problem}")
        found = root.xpath("//gmd:MD_Metadata", namespaces=NS) if root.tag != f"{{{iso.GMD}}}MD_Metadata" else [root]
        if not found:
            raise base.RemoteError(
                f"GetRecordById {obj.guid} : le catalogue ne renvoie pas de fiche ISO 19139 pour cet identifiant."
            )
        return etree.tostring(found[0], encoding="unicode")

    # --- import ---------------------------------------------------------------------------------

    def read_record(self, obj):
        config = self.source_config(obj.source)
        try:
            rec = iso_read.read_iso(obj.content.encode("utf-8"), config.get("defaults"))
        except iso_read.IsoError as err:
            raise ValueError(f"Fiche {obj.guid} : {err}") from None
        problems = iso_read.problems(rec)
        if problems:
            raise ValueError("\n".join(problems))
        return rec.kind, rec.uuid, rec.record, rec.notes, parse_datestamp(rec.date_stamp)
