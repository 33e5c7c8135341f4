"""``sinp_csw``: ISO 19139 records of a partner CSW 2.0.2 catalogue into CA (``series``) and JDD
(``dataset``).

Source URL: the CSW endpoint. Configuration (JSON), all optional:

* ``anytext``: full-text filter (``csw:AnyText`` like ``%text%``);
* ``bbox``: ``[west, south, east, north]`` in WGS 84 (``ogc:BBOX``, CRS84 axis order);
* ``type``: ``"series"`` or ``"dataset"`` (``dc:type``);
* ``defaults``: values of SINP fields that ISO 19139 does not carry (territory, domains,
  territorial level…), e.g. ``{"territoires": ["METROP"], "domaine_terrestre": true}``;
* ``cadre``: the CA that JDD without a parent series (or whose parent is neither in the source nor
  in the catalogue) join: the UUID of an existing CA, or ``"auto"``: one CA per source, described
  from the source's GetCapabilities (title, abstract, provider), UUID v5 of the source URL;
* ``strict`` (default false): refuse records that lack SINP-mandatory fields; otherwise they are
  imported and their page shows their completeness (missing fields);
* ``republish`` (default true): whether our CSW and DCAT serve the harvested records (with the
  source's own fileIdentifier, dateStamp and a link to the source record);
* ``page_size`` (default 100), ``private`` (default false), ``timeout`` (seconds, default 30).

Identifiers: the harvest object's guid is the source's fileIdentifier (GetRecordById asks for it);
the package's SINP UUID is the fileIdentifier when it is a UUID, else a UUID v5 of the source URL
and the identifier (``iso_read.derived_uuid``); the original is kept in ``origine_iso``. ISO
19115-2 ``gmi:MI_Metadata`` records are read as ``gmd:MD_Metadata``. ``service`` records become
resources (URL, name, WMS/WFS/ATOM…) of the JDD of this source they operate on (``operatesOn``).

Gather pages through ``GetRecords`` (full ISO records, ``page_size`` per page: identifier, level,
``dateStamp`` and the document itself), checks that it saw as many records as the server matched,
and creates an object for each record that is new, whose ``dateStamp`` changed, or whose last import
failed, with the record's document as its content (the provenance, shown by ckanext-harvest at
``/harvest/object/<id>``): fetch downloads nothing for it. Only a record the page did not carry whole
(a server that answers ``full`` with summaries, a record larger than the reader's limit) is fetched
alone with ``GetRecordById``. Import maps the document with ``ckanext.sinp.domain.iso_read``. A
record that cannot be mapped is an error of its object only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid as uuidlib

import ckan.model as model
import ckan.plugins.toolkit as tk
from lxml import etree
from owslib import fes

from ckanext.sinp.domain import iso, iso_read, iso_service, safexml
from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.logic import queries
from ckanext.sinp_harvesters import base

log = logging.getLogger(__name__)

CSW = "http://www.opengis.net/cat/csw/2.0.2"
OGC = "http://www.opengis.net/ogc"
OWS = "http://www.opengis.net/ows"
GMI = "http://www.isotc211.org/2005/gmi"
NS = {"csw": CSW, "ogc": OGC, "ows": OWS, "gmd": iso.GMD, "gco": iso.GCO, "gmi": GMI}
ROOTS = (f"{{{iso.GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata")
DEFAULT_PAGE_SIZE = 100
MAX_PAGES = 100_000
MAX_RESPONSE_BYTES = 200 * 1024 * 1024
LEVEL_ORDER = {"series": 1, "dataset": 2, "service": 3}  # the source's own CA (0) first, services last
AUTO = "auto"
AUTO_CA_GUID = "cadre-de-la-source"  # guid of the object of the source's own CA (``"cadre": "auto"``)
# what a service record's type becomes as the format of a CKAN resource
SERVICE_FORMATS = {"view": "WMS", "download": "WFS", "discovery": "CSW"}


def source_ca_uuid(url: str) -> str:
    """The deterministic UUID of the CA of a source (``"cadre": "auto"``)."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, url.strip())).upper()


def capabilities_ca(content: bytes, url: str, defaults: dict | None) -> dict:
    """The CA describing a CSW source, from its GetCapabilities: ows:Title, ows:Abstract, the
    ServiceProvider (name, contact) as main contact. Raises ValueError (French)."""
    try:
        root = safexml.parse(content, MAX_RESPONSE_BYTES, "CSW")
    except safexml.XmlRefused as err:
        raise ValueError(f"GetCapabilities : réponse illisible — {err}") from None
    problem = _exception(root)
    if problem:
        raise ValueError(f"GetCapabilities : le catalogue a répondu par une exception — {problem}")

    def text(path):
        return iso.clean_text(root.xpath(f"string({path})", namespaces=NS))

    title = text("ows:ServiceIdentification/ows:Title") or f"Catalogue {url}"
    abstract = text("ows:ServiceIdentification/ows:Abstract")
    provider = text("ows:ServiceProvider/ows:ProviderName")
    person = text("ows:ServiceProvider/ows:ServiceContact/ows:IndividualName")
    mail = text("ows:ServiceProvider/ows:ServiceContact/ows:ContactInfo/ows:Address/ows:ElectronicMailAddress")
    record = {
        "type": "ca",
        "sinp_uuid": source_ca_uuid(url),
        "title": title[:150],
        "notes": abstract or f"Fiches moissonnées depuis le catalogue CSW {url}.",
        "est_meta_cadre": "false",
        iso.ORIGIN_FIELD: {"catalogue": url, "norme": "OGC CSW 2.0.2 (GetCapabilities)"},
    }
    actor = {"organisme": provider, "nom_prenom": person, "mail": mail if sinp_model.EMAIL_RE.match(mail) else ""}
    actor = {k: v for k, v in actor.items() if v}
    if actor:
        record["acteurs"] = [{**actor, "role": sinp_model.MAIN_CONTACT_ROLE}]
    fields = sinp_model.field_map("ca")
    for name, value in (defaults or {}).items():
        if name in fields and name not in iso_read.NOT_DEFAULTABLE and sinp_model.is_empty(record.get(name)):
            record[name] = value
    return record


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
    etree.SubElement(query, f"{{{CSW}}}ElementSetName").text = "full"
    flt = _filter(config)
    if flt is not None:
        constraint = etree.SubElement(query, f"{{{CSW}}}Constraint", version="1.1.0")
        constraint.append(etree.fromstring(etree.tostring(flt)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def page_document(record) -> str | None:
    """The ISO document of a record of a ``GetRecords`` page, as ``GetRecordById`` would give it;
    None when the page did not carry it whole (no ``gmd:identificationInfo``: a server that answers
    ``full`` with summaries; larger than what the reader accepts): fetch then asks for it alone."""
    if record.find(f"{{{iso.GMD}}}identificationInfo") is None:
        return None
    text = etree.tostring(record, encoding="unicode")
    return text if len(text.encode("utf-8")) <= iso_read.MAX_BYTES else None


def _exception(root) -> str | None:
    if etree.QName(root).localname != "ExceptionReport":
        return None
    texts = [t.strip() for t in root.xpath("//ows:ExceptionText/text()", namespaces=NS) if t.strip()]
    return " ".join(texts) or "exception sans message"


class SinpCswHarvester(base.SinpHarvester):
    config_keys = {"anytext", "bbox", "type", "defaults", "page_size", "cadre", "strict", "republish"}

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
        for key in ("strict", "republish"):
            if key in config and not isinstance(config[key], bool):
                messages.append(f"« {key} » vaut true ou false.")
        if "cadre" in config:
            cadre = config["cadre"]
            if cadre != AUTO and not (isinstance(cadre, str) and sinp_model.UUID_RE.match(cadre.strip())):
                messages.append(
                    "« cadre » vaut « auto » (un cadre d'acquisition par source, décrit par son GetCapabilities) "
                    "ou l'UUID d'un cadre d'acquisition du catalogue."
                )
            elif cadre != AUTO and not queries.packages_by_extra(
                model, "sinp_uuid", sinp_model.normalize_uuid(cadre.strip()), "ca"
            ):
                messages.append(f"« cadre » : aucun cadre d'acquisition d'identifiant {cadre} dans le catalogue.")
        return messages

    def source_ca(self, source, config: dict) -> str | None:
        cadre = config.get("cadre")
        if not cadre:
            return None
        return source_ca_uuid(source.url) if cadre == AUTO else sinp_model.normalize_uuid(cadre.strip())

    def get_original_url(self, harvest_object_id):
        obj = base.HarvestObject.get(harvest_object_id)
        return self.record_url(obj.source.url, obj.guid) if obj else None

    @staticmethod
    def record_url(url: str, identifier: str) -> str:
        return iso_service.record_url(url, identifier)

    # --- gather ---------------------------------------------------------------------------------

    def list_records(self, session, url: str, config: dict, timeout: float):
        """(records [(identifier, level, dateStamp text, document or None)], number matched, messages
        about records that cannot be harvested). The document is the record as the page carried it
        (``page_document``). Raises base.RemoteError."""
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
            records = [child for child in results if child.tag in ROOTS]
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
                listed.append((identifier, level, stamp, page_document(record)))
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
        listed = self.without_duplicates(listed, harvest_job, seen)
        if config.get("cadre") == AUTO:
            seen.add(AUTO_CA_GUID)
            auto = self.auto_ca_object(harvest_job, source, config, current.get(AUTO_CA_GUID))
            if auto:
                ids.append(auto)
        for identifier, level, stamp, document in listed:
            if not identifier or identifier in seen:
                continue
            seen.add(identifier)
            previous = current.get(identifier)
            stamp_date = parse_datestamp(stamp)
            if previous is not None and stamp_date is not None and previous.metadata_modified_date == stamp_date:
                continue  # unchanged since its last import
            wanted.append((LEVEL_ORDER.get(level, 2), identifier, level, document))
        if not listed and config.get("cadre") == AUTO:
            seen.discard(AUTO_CA_GUID)  # an empty listing: withdraw_missing reports it, nothing else
        if AUTO_CA_GUID in current and config.get("cadre") != AUTO:
            seen.add(AUTO_CA_GUID)  # the source's own CA is not withdrawn when « cadre » changes
        for _, identifier, level, document in sorted(wanted, key=lambda w: w[0]):
            status = base.LISTED if document is not None else None
            ids.append(self.new_object(harvest_job, identifier, content=document, level=level, status=status))
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

    def without_duplicates(self, listed: list, job, seen: set) -> list:
        """One record per identifier: records whose identifiers are the same (or the same UUID, case
        and ``urn:uuid:`` aside) are harvested once, the one with the latest dateStamp; the others
        are named in an informational gather line and count as seen (never withdrawn)."""
        groups: dict = {}
        for item in listed:
            identifier = item[0]
            text = identifier.strip()
            bare = text[9:] if text.lower().startswith("urn:uuid:") else text
            key = bare.upper() if sinp_model.UUID_RE.match(bare) else text
            groups.setdefault(key, []).append(item)
        kept = []
        for key, items in groups.items():
            if not key or len(items) == 1:
                kept += items
                continue
            ordered = sorted(items, key=lambda i: parse_datestamp(i[2]) or dt.datetime.min, reverse=True)
            kept.append(ordered[0])
            others = [i[0] for i in ordered[1:]]
            seen.update(others)
            self._save_gather_error(
                f"Information : les fiches « {ordered[0][0]} » et « {' », « '.join(others)} » du catalogue ont le "
                f"même identifiant ({key}) : seule « {ordered[0][0]} » (la plus récente) est moissonnée.",
                job,
            )
        return kept

    def auto_ca_object(self, job, source, config: dict, previous) -> str | None:
        """The object of the source's own CA (``"cadre": "auto"``), its GetCapabilities as content;
        None when the capabilities did not change since its import, or cannot be read (gather error)."""
        url = f"{source.url}{'&' if '?' in source.url else '?'}service=CSW&version=2.0.2&request=GetCapabilities"
        with base.new_session() as session:
            try:
                content = base.http_get(session, url, self.timeout(config), "GetCapabilities")
            except base.RemoteError as err:
                self._save_gather_error(
                    f"{err} Le cadre d'acquisition de la source (« cadre » : « auto ») n'a pas été mis à jour.", job
                )
                return None
        try:
            record = capabilities_ca(content, source.url, config.get("defaults"))
        except ValueError as err:
            self._save_gather_error(
                f"{err} Le cadre d'acquisition de la source (« cadre » : « auto ») n'a pas été mis à jour.", job
            )
            return None
        text = json.dumps(record, ensure_ascii=False, sort_keys=True, indent=1)
        if (
            previous is not None
            and previous.package_id is not None
            and self.extra(previous, "fingerprint") == base.fingerprint(text, source.config)
        ):
            return None
        return self.new_object(job, AUTO_CA_GUID, content=text, status=base.GATHERED, level="series")

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
        found = root.xpath("//gmd:MD_Metadata|//gmi:MI_Metadata", namespaces=NS) if root.tag not in ROOTS else [root]
        if not found:
            raise base.RemoteError(
                f"GetRecordById {obj.guid} : le catalogue ne renvoie aucune fiche ISO 19139 (gmd:MD_Metadata) ni "
                "ISO 19115-2 (gmi:MI_Metadata) pour cet identifiant : elle a pu y être retirée depuis la liste."
            )
        return etree.tostring(found[0], encoding="unicode")

    # --- import ---------------------------------------------------------------------------------

    def import_stage(self, harvest_object):
        obj = harvest_object
        if self.extra(obj, "status") != base.WITHDRAW and obj.content and self.extra(obj, "level") == "service":
            try:
                rec = iso_read.read_iso(
                    obj.content.encode("utf-8"),
                    self.source_config(obj.source).get("defaults"),
                    source_url=obj.source.url,
                )
            except iso_read.IsoError as err:
                self._save_object_error(f"Fiche {obj.guid} : {err}", obj, "Import")
                return False
            if rec.kind == "service":
                return self.import_service(obj, rec)
        return super().import_stage(obj)

    def read_record(self, obj):
        source = obj.source
        config = self.source_config(source)
        if self.extra(obj, "status") == base.GATHERED:  # the source's own CA, from its GetCapabilities
            record = json.loads(obj.content)
            record[iso.ORIGIN_FIELD]["republier"] = config.get("republish", True) is not False
            self.check_complete("ca", record, config, f"Cadre d'acquisition de la source {record['sinp_uuid']}")
            return "ca", record["sinp_uuid"], record, [], None
        try:
            rec = iso_read.read_iso(obj.content.encode("utf-8"), config.get("defaults"), source_url=source.url)
        except iso_read.IsoError as err:
            raise ValueError(f"Fiche {obj.guid} : {err}") from None
        if rec.kind == "service":
            raise ValueError(
                f"Fiche {obj.guid} : fiche de service (srv:SV_ServiceIdentification) lue comme une donnée."
            )
        record = rec.record
        origin = dict(record.get(iso.ORIGIN_FIELD) or {})
        origin.setdefault("identifiant", obj.guid)
        origin["catalogue"] = source.url
        origin["fiche"] = self.record_url(source.url, obj.guid)
        origin["republier"] = config.get("republish", True) is not False
        record[iso.ORIGIN_FIELD] = origin
        resources = self.source_resources(origin)
        if resources:
            record["resources"] = resources
        label = f"{iso_read.model_label(rec.kind)} {rec.uuid} (fiche {obj.guid}, « {rec.title or 'sans titre'} »)"
        if rec.kind == "jdd" and not record.get("cadre"):
            fallback = self.source_ca(source, config)
            if not fallback:
                raise ValueError(
                    f"{label} — Cadre d'acquisition : la fiche n'a pas de série parente (gmd:parentIdentifier) ; "
                    "donnez le cadre des fiches de cette source dans sa configuration (« cadre » : « auto » ou "
                    "l'UUID d'un cadre d'acquisition du catalogue)."
                )
            record["cadre"] = fallback
            rec.notes.append(
                f"{label} : sans série parente, rattaché au cadre d'acquisition de la source ({fallback})."
            )
        self.check_complete(rec.kind, record, config, label)
        problems = iso_read.problems(rec)
        if problems:
            rec.notes.append(f"{label} : importé incomplet — " + " ; ".join(problems))
        return rec.kind, rec.uuid, record, rec.notes, parse_datestamp(rec.date_stamp)

    @staticmethod
    def blocking_fields(kind: str, record: dict, config: dict) -> list[str]:
        """The fields whose errors refuse the record: every error in a ``strict`` source; otherwise
        only errors that are not a missing SINP-mandatory field (a wrong value), and the fields
        without which CKAN cannot store a record (title, description)."""
        errors = sinp_model.validate_record(kind, sinp_model.apply_defaults(kind, record), allow_frozen=True)
        if config.get("strict", False):
            return list(errors)
        fields = sinp_model.field_map(kind)
        return [
            name
            for name in errors
            if name in ("title", "notes")
            or not (name in fields and fields[name].required and sinp_model.is_empty(record.get(name)))
        ]

    def check_complete(self, kind: str, record: dict, config: dict, label: str) -> None:
        """Raises ValueError (French: the record, the field, the fix) when the record is refused
        (``blocking_fields``)."""
        errors = sinp_model.validate_record(kind, sinp_model.apply_defaults(kind, record), allow_frozen=True)
        blocking = set(self.blocking_fields(kind, record, config))
        labels = {f.name: f.label for f in sinp_model.fields(kind)}

        def fix(name):
            if not sinp_model.is_empty(record.get(name)) or name in iso_read.NOT_DEFAULTABLE:
                return ""
            return (
                " — absent de la fiche ISO : donnez-le dans la configuration de la source "
                f'(« defaults » : {{"{name}": …}}), ou passez la source en « strict » : false.'
                if config.get("strict", False) and name not in ("title", "notes")
                else f" — absent de la fiche ISO : donnez-le dans la configuration de la source "
                f'(« defaults » : {{"{name}": …}}).'
            )

        messages = [
            f"{label} — {labels.get(name, name)} : {message}{fix(name)}"
            for name, found in errors.items()
            if name in blocking
            for message in found
        ]
        if messages:
            raise ValueError("\n".join(messages))

    @staticmethod
    def source_resources(origin: dict) -> list[dict]:
        """The online resources of the source record, as CKAN resources (URL, name, format from the protocol)."""
        out, seen = [], set()
        for item in sinp_model.as_list(origin.get("ressources")):
            url = iso.clean_text(item.get("url")) if isinstance(item, dict) else ""
            if not url or url in seen or not sinp_model.URL_RE.match(url):
                continue
            seen.add(url)
            out.append(
                {
                    "url": url,
                    "name": iso.clean_text(item.get("nom")) or url.rsplit("/", 1)[-1] or url,
                    "format": protocol_format(item.get("protocole"), url, item.get("nom")),
                    "description": iso.clean_text(item.get("description")),
                }
            )
        return out

    def import_service(self, obj, rec) -> str | bool:
        """A service record: its services become resources of the JDD of this source it operates on;
        a dataset not harvested from this source is an informational line, never an error."""
        source = obj.source
        services = [s for s in (rec.record.get(iso.ORIGIN_FIELD) or {}).get("services", []) if s.get("url")]
        title = rec.title or obj.guid
        targets = sinp_model.as_list(getattr(rec, "operates_on", None))
        if not targets or not services:
            self._save_object_error(
                f"Information : service « {title} » (fiche {obj.guid}) : "
                + ("aucun jeu de données désigné (srv:operatesOn)" if not targets else "aucune adresse de service")
                + " ; il n'est rattaché à aucune fiche.",
                obj,
                base.INFORMATION,
            )
            return self.service_done(obj, rec)
        by_key = {}
        for guid, harvested in self.current_objects(source.id).items():
            package = model.Package.get(harvested.package_id) if harvested.package_id else None
            if package is None or package.state != "active":
                continue
            by_key[guid.strip().casefold()] = harvested
            by_key[str(package.extras.get("sinp_uuid") or "").casefold()] = harvested
        context = {
            "model": model,
            "session": model.Session,
            "user": self._get_user_name(),
            "ignore_auth": True,
            base.INCOMPLETE_ALLOWED: True,
        }
        changed = False
        for target in targets:
            text = str(target).strip()
            keys = [
                text,
                text[9:] if text.lower().startswith("urn:uuid:") else text,
                iso_read.derived_uuid(source.url, text),
            ]
            found = next((by_key[k.casefold()] for k in keys if k and k.casefold() in by_key), None)
            if found is None:
                self._save_object_error(
                    f"Information : service « {title} » (fiche {obj.guid}) : le jeu de données « {target} » sur "
                    "lequel il opère n'est pas moissonné depuis cette source ; le service n'est pas rattaché.",
                    obj,
                    base.INFORMATION,
                )
                continue
            package = tk.get_action("package_show")(dict(context), {"id": found.package_id})
            known = {r.get("url") for r in package.get("resources", [])}
            for service in services:
                url = iso.clean_text(service.get("url"))
                if url in known or not sinp_model.URL_RE.match(url):
                    continue
                kind = iso.clean_text(service.get("type")).upper() or protocol_format(service.get("protocole"), url)
                version = iso.clean_text(service.get("version"))
                resource = (
                    dict(context),
                    {
                        "package_id": found.package_id,
                        "url": url,
                        "name": iso.clean_text(service.get("titre")) or title,
                        "format": kind,
                        "description": f"Service {kind}{' ' + version if version else ''} « {title} » "
                        f"(fiche {obj.guid} du catalogue source)."
                        + (f" Protocole : {service['protocole']}." if service.get("protocole") else ""),
                    },
                )
                try:
                    tk.get_action("resource_create")(*resource)
                except tk.ValidationError as err:
                    model.Session.rollback()
                    self._save_object_error(
                        f"Information : service « {title} » (fiche {obj.guid}) : l'adresse {url} n'est pas "
                        f"rattachée au jeu de données « {target} » — {err.error_summary}",
                        obj,
                        base.INFORMATION,
                    )
                    continue
                known.add(url)
                changed = True
        self.service_done(obj, rec)
        return True if changed else "unchanged"

    def service_done(self, obj, rec) -> str:
        previous = model.Session.query(base.HarvestObject).filter(
            base.HarvestObject.guid == obj.guid,
            base.HarvestObject.harvest_source_id == obj.harvest_source_id,
            base.HarvestObject.current.is_(True),
            base.HarvestObject.id != obj.id,
        )
        for old in previous:
            old.current = False
        obj.current = True
        obj.metadata_modified_date = parse_datestamp(rec.date_stamp)
        obj.extras.append(
            base.HarvestObjectExtra(key="fingerprint", value=base.fingerprint(obj.content, obj.source.config))
        )
        model.Session.commit()
        return "unchanged"


def protocol_format(protocol, url: str = "", name: str = "") -> str:
    """The CKAN resource format of an online resource: WMS, WFS, WMTS, ATOM… from its protocol, else
    the extension of its URL or name (a download)."""
    text = iso.clean_text(protocol).upper()
    for service in ("WMTS", "WMS", "WFS", "WCS", "ATOM", "CSW", "SOS"):
        if service in text:
            return service
    if "DOWNLOAD" in text or "WWW:LINK" in text or not text:
        for candidate in (url.split("?", 1)[0].rsplit("/", 1)[-1], iso.clean_text(name)):
            ext = candidate.rsplit(".", 1)[-1].upper() if "." in candidate else ""
            if ext.isalnum() and len(ext) <= 5:
                return ext
        return "HTML" if "WWW:LINK" in text else ""
    return text[:40]
