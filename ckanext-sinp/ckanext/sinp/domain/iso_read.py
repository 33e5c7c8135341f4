"""ISO 19139 / ISO 19115-2 records of partner catalogues -> SINP records (CA / JDD) and services.
Pure Python, no ``ckan``.

    rec = read_iso(xml_bytes, defaults={"territoires": ["METROP"]}, source_url="https://…/csw")  # IsoError
    rec.kind, rec.uuid, rec.parent, rec.date_stamp, rec.record           # record: CKAN package dict
    rec.source_identifier, rec.operates_on                               # original id; services' datasets
    messages = problems(rec)                                             # [] when the record is valid
    score, missing = completeness(rec)                                   # 0..100, labels of missing fields

The reading is the inverse of :mod:`ckanext.sinp.domain.iso` (what we publish), so a record of
our own CSW reads back to the fields ISO 19139 carries; the rest of the SINP standard (territory,
domains, territorial level…) has no place in ISO 19139 and comes from the source's ``defaults``.
What partners publish beyond the SINP fields is kept, whole, in ``record["origine_iso"]`` (see
:func:`origin`): nothing of it is dropped, cut or invented.

* Root ``gmd:MD_Metadata`` (ISO 19139) or ``gmi:MI_Metadata`` (ISO 19115-2), alone or the first one
  inside a CSW response.
* ``hierarchyLevel`` ``series`` -> CA; ``dataset``, ``nonGeographicDataset`` or none (ISO's default)
  -> JDD; ``service`` -> kind "service" (``rec.operates_on``: the identifiers of the datasets it serves,
  ``origine_iso["services"]``: its access points); any other level is refused (IsoError).
* ``fileIdentifier`` -> ``sinp_uuid``: the UUID itself (upper case, ``urn:uuid:`` prefix removed), or
  for any other identifier (``fr-<SIREN>-…``, URNs, local codes) a UUID derived from the source URL
  and the identifier (:func:`derived_uuid`: the same on every harvest). ``parentIdentifier`` -> the
  JDD's ``cadre`` / the CA's ``meta_cadre_parent``, normalised the same way.
* Citation: ``title``; JDD ``libelle_court`` = an ``alternateTitle`` of at most 30 characters, else
  derived (noted) from the alternate title or the title, cut at a word; dates ``creation`` /
  ``revision`` (``publication`` when there is no creation date, noted) -> ``date_creation(_mtd)`` /
  ``date_revision`` / ``date_maj_mtd``; ``abstract`` -> ``notes``. A date the source lacks stays
  missing (``problems`` lists it).
* Keywords: those of the INSPIRE themes thesaurus are skipped; a keyword equal (case and
  accents aside) to the French label of a code of one of the record's coded fields that we
  publish as keywords (objectives, volets, data type, collection methods: ``iso.KEYWORD_NOMENCLATURES``)
  becomes that code; every other keyword becomes a tag.
* Parties (``identificationInfo/*/pointOfContact``): the SINP role is the ``positionName`` when it is
  a ROLE_ACTEUR label (what we publish), otherwise the inverse of ``iso.ROLE_TO_ISO``
  (``ISO_TO_ROLE``); a party whose ISO role has no SINP equivalent (user, processor…) is kept in
  ``origine_iso`` only. A CA has exactly one main contact: the first role-1 party; further
  main contacts become role 4 « Maître d'œuvre » (noted). JDD
  parties of role 7 go to ``contacts_base_production``, the others to ``contacts_jdd``; the first
  ``MD_Metadata/contact`` is the JDD's ``contact_plateforme``, further contacts labelled
  « Point de contact pour les métadonnées » are role-8 actors.
* Extent: the first geographic bounding box -> JDD bounds; ``EX_Extent/description`` ->
  ``precision_geographique``; the temporal extent (GML 3.2 or 3.1) -> CA launch / closing dates.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
import urllib.parse
import uuid as uuidlib

from ckanext.sinp.domain import iso, model, nomenclatures, safexml

MAX_BYTES = 20 * 1024 * 1024
GML31 = "http://www.opengis.net/gml"
GMI = "http://www.isotc211.org/2005/gmi"
SRV = "http://www.isotc211.org/2005/srv"
NS = {
    "gmd": iso.GMD,
    "gco": iso.GCO,
    "gmx": iso.GMX,
    "gml": iso.GML,
    "gml31": GML31,
    "xlink": iso.XLINK,
    "gmi": GMI,
    "srv": SRV,
}
# root element -> the standard it belongs to
STANDARDS = {f"{{{iso.GMD}}}MD_Metadata": "ISO 19139", f"{{{GMI}}}MI_Metadata": "ISO 19115-2"}
KIND_OF_LEVEL = {"series": "ca", "dataset": "jdd", "nonGeographicDataset": "jdd", "service": "service"}
SHORT_TITLE_MAX = 30

# CI_RoleCode -> ROLE_ACTEUR, for parties whose positionName is not a SINP role label
ISO_TO_ROLE = {
    "pointOfContact": "1",
    "originator": "3",
    "principalInvestigator": "4",
    "resourceProvider": "5",
    "distributor": "5",
    "publisher": "5",
    "author": "6",
    "owner": "6",
    "custodian": "7",
}
# ISO roles with no SINP equivalent: kept in origine_iso, not made SINP actors
ISO_ONLY_ROLES = {"user", "processor"}
EXTRA_CA_CONTACT_ROLE = "4"
DEFAULT_ROLE = "1"

# fields a source's ``defaults`` may fill (everything of the standard but the identity of the record)
NOT_DEFAULTABLE = {"title", "sinp_uuid", "name", "cadre", "meta_cadre_parent"}


class IsoError(ValueError):
    """A record that cannot be read as a CA or a JDD; the message is meant for the user (French)."""


@dataclasses.dataclass
class IsoRecord:
    kind: str  # "ca", "jdd" or "service"
    uuid: str  # upper case
    parent: str | None  # the CA of a JDD, the méta-cadre of a CA
    title: str
    date_stamp: str | None
    record: dict  # CKAN package dict (normalised form), with "type" and "origine_iso"
    notes: list = dataclasses.field(default_factory=list)  # what was derived, in French
    defaulted: list = dataclasses.field(default_factory=list)  # fields filled from the defaults
    source_identifier: str = ""  # the fileIdentifier as the source wrote it
    operates_on: list = dataclasses.field(default_factory=list)  # services: identifiers of their datasets


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "OE"))
    return re.sub(r"\s+", " ", "".join(c for c in text if not unicodedata.combining(c))).strip().casefold()


def _texts(node, path: str) -> list[str]:
    """Texts of gco:CharacterString / gmx:Anchor (or plain text) under each match of ``path``."""
    out = []
    for element in node.xpath(path, namespaces=NS):
        text = (
            element.xpath("string(gco:CharacterString|gmx:Anchor)", namespaces=NS)
            if len(element)
            else (element.text or "")
        )
        text = iso.clean_text(text)
        if text:
            out.append(text)
    return out


def _text(node, path: str) -> str:
    values = _texts(node, path)
    return values[0] if values else ""


def _code(node, path: str) -> str:
    for element in node.xpath(path, namespaces=NS):
        value = (element.get("codeListValue") or element.text or "").strip()
        if value:
            return value
    return ""


def derived_uuid(source_url: str | None, identifier: str) -> str:
    """The SINP UUID of a record whose identifier is not a UUID: UUID v5 (URL namespace) of
    ``<source URL>#<identifier>``, upper case — the same on every harvest of that source."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"{source_url or ''}#{identifier}")).upper()


def _plain_uuid(value: str) -> str | None:
    """The UUID written in ``value`` (upper case, ``urn:uuid:`` prefix removed), None if it is none."""
    text = value.strip()
    if text.lower().startswith("urn:uuid:"):
        text = text[9:]
    return model.normalize_uuid(text) if model.UUID_RE.match(text) else None


def sinp_identifier(value: str, source_url: str | None) -> str:
    """The SINP UUID of a source identifier: the UUID itself, or :func:`derived_uuid`."""
    return _plain_uuid(value) or derived_uuid(source_url, value.strip())


@dataclasses.dataclass(frozen=True)
class _Labels:
    by_field: dict  # field name -> {folded label: code}
    roles: dict  # folded ROLE_ACTEUR label -> code


def _labels(kind: str) -> _Labels:
    by_field = {}
    for f in model.fields(kind):
        if f.kind in ("code", "codes") and f.nomenclature in iso.KEYWORD_NOMENCLATURES:
            nom = nomenclatures.get(f.nomenclature)
            by_field[f.name] = {_fold(nom.label_of(c)): c for c in nom.codes(active_only=False) if nom.label_of(c)}
    roles_nom = nomenclatures.get("ROLE_ACTEUR")
    roles = {_fold(roles_nom.label_of(c)): c for c in roles_nom.codes(active_only=False) if roles_nom.label_of(c)}
    return _Labels(by_field, roles)


def _date(value: str) -> str | None:
    try:
        return model.parse_date(value).isoformat()
    except ValueError:
        return None


def _party(element, labels: _Labels) -> tuple[dict, str, bool] | None:
    """(actor block, SINP role, role read from a SINP label) of a CI_ResponsibleParty."""
    organisation = _text(element, "gmd:organisationName")
    individual = _text(element, "gmd:individualName")
    if not organisation and not individual:
        return None
    position = _text(element, "gmd:positionName")
    iso_role = _code(element, "gmd:role/gmd:CI_RoleCode")
    labelled = labels.roles.get(_fold(position)) if position else None
    if not labelled and iso_role in ISO_ONLY_ROLES:
        return None
    role = labelled or ISO_TO_ROLE.get(iso_role, DEFAULT_ROLE)
    actor = {
        "organisme": organisation,
        "nom_prenom": individual,
        "mail": _text(element, "gmd:contactInfo/gmd:CI_Contact/gmd:address/gmd:CI_Address/gmd:electronicMailAddress"),
        "role": role,
    }
    return {k: v for k, v in actor.items() if v}, role, labelled is not None


def _keywords(ident, labels: _Labels, record: dict) -> None:
    tags = []
    for block in ident.xpath("gmd:descriptiveKeywords/gmd:MD_Keywords", namespaces=NS):
        thesaurus = " ".join(_texts(block, "gmd:thesaurusName/gmd:CI_Citation/gmd:title"))
        thesaurus_uri = " ".join(
            block.xpath("gmd:thesaurusName/gmd:CI_Citation/gmd:title/gmx:Anchor/@xlink:href", namespaces=NS)
        )
        if "inspire" in thesaurus.lower() or "inspire_themes" in thesaurus_uri:
            continue
        for keyword in _texts(block, "gmd:keyword"):
            folded = _fold(keyword)
            for name, codes in labels.by_field.items():
                if folded in codes:
                    values = record.setdefault(name, [])
                    if codes[folded] not in values:
                        values.append(codes[folded])
                    break
            else:
                tags.append(keyword)
    seen = set()
    unique = [t for t in tags if not (_fold(t) in seen or seen.add(_fold(t)))]
    if unique:
        record["tag_string"] = ",".join(unique)


def _single_codes(kind: str, record: dict) -> None:
    """A field holding one code keeps the first code found among the keywords."""
    for f in model.fields(kind):
        if f.kind == "code" and isinstance(record.get(f.name), list):
            record[f.name] = record[f.name][0]


def _actors(kind: str, root, ident, labels: _Labels, record: dict, notes: list) -> None:
    parties = [
        p
        for p in (_party(e, labels) for e in ident.xpath("gmd:pointOfContact/gmd:CI_ResponsibleParty", namespaces=NS))
        if p
    ]
    contacts = [
        p for p in (_party(e, labels) for e in root.xpath("gmd:contact/gmd:CI_ResponsibleParty", namespaces=NS)) if p
    ]
    metadata_contacts = [actor for actor, role, labelled in contacts[1:] if labelled and role == "8"]
    if kind == "ca":
        actors, main_seen = [], False
        for actor, role, _labelled in parties:
            if role == model.MAIN_CONTACT_ROLE:
                if main_seen:
                    actor = {**actor, "role": EXTRA_CA_CONTACT_ROLE}
                    notes.append(
                        f"Contact « {actor.get('organisme') or actor.get('nom_prenom')} » enregistré "
                        "comme maître d'œuvre (rôle 4) : un cadre d'acquisition n'a qu'un contact principal."
                    )
                main_seen = True
            actors.append(actor)
        if actors and not main_seen:
            actors[0] = {**actors[0], "role": model.MAIN_CONTACT_ROLE}
            notes.append(
                f"« {actors[0].get('organisme') or actors[0].get('nom_prenom')} » désigné contact "
                "principal (rôle 1) : la fiche n'en désigne pas."
            )
        if actors or metadata_contacts:
            record["acteurs"] = actors + metadata_contacts
        return
    base = [a for a, role, _ in parties if role == "7"]
    others = [a for a, role, _ in parties if role != "7"]
    if others and not any(a["role"] == model.MAIN_CONTACT_ROLE for a in others):
        others[0] = {**others[0], "role": model.MAIN_CONTACT_ROLE}
        notes.append(
            f"« {others[0].get('organisme') or others[0].get('nom_prenom')} » désigné contact "
            "principal (rôle 1) : la fiche n'en désigne pas."
        )
    if others or metadata_contacts:
        record["contacts_jdd"] = others + metadata_contacts
    if base:
        record["contacts_base_production"] = base
    if contacts:
        first = dict(contacts[0][0], role=model.MAIN_CONTACT_ROLE)
        record["contact_plateforme"] = [first]


def _extent(kind: str, ident, record: dict) -> None:
    extents = ident.xpath("gmd:extent/gmd:EX_Extent", namespaces=NS)
    description = next((t for e in extents for t in _texts(e, "gmd:description")), "")
    if description:
        record["precision_geographique"] = description
    if kind == "jdd":
        for box in ident.xpath(
            "gmd:extent/gmd:EX_Extent/gmd:geographicElement/gmd:EX_GeographicBoundingBox", namespaces=NS
        ):
            values = {}
            for name, field_name in (
                ("westBoundLongitude", "borne_ouest"),
                ("eastBoundLongitude", "borne_est"),
                ("southBoundLatitude", "borne_sud"),
                ("northBoundLatitude", "borne_nord"),
            ):
                text = box.xpath(f"string(gmd:{name}/gco:Decimal)", namespaces=NS).strip()
                try:
                    values[field_name] = str(float(text))
                except ValueError:
                    values = None
                    break
            if values:
                record.update(values)
                break
    else:
        for period in ident.xpath(
            "gmd:extent/gmd:EX_Extent/gmd:temporalElement/gmd:EX_TemporalExtent/gmd:extent/"
            "*[local-name()='TimePeriod']",
            namespaces=NS,
        ):
            begin = _date(period.xpath("string(*[local-name()='beginPosition'])").strip())
            end = _date(period.xpath("string(*[local-name()='endPosition'])").strip())
            if begin:
                record["date_lancement"] = begin
                if end:
                    record["date_cloture"] = end
                break


# --- origine_iso: what the source said, whole ------------------------------------------------


def _all_text(element) -> str:
    """The text of a gco:CharacterString / gmx:Anchor child (or the element's own text), whole."""
    if element is None:
        return ""
    if len(element):
        return iso.clean_text(element.xpath("string(gco:CharacterString|gmx:Anchor)", namespaces=NS))
    return iso.clean_text(element.text)


def _href(element) -> str:
    """The xlink:href of the gmx:Anchor child of ``element`` ('' when it is a plain string)."""
    if element is None:
        return ""
    return iso.clean_text(" ".join(element.xpath("gmx:Anchor/@xlink:href", namespaces=NS)))


def _first(node, path: str):
    found = node.xpath(path, namespaces=NS)
    return found[0] if found else None


def _codes(node, path: str) -> list[str]:
    out = []
    for element in node.xpath(path, namespaces=NS):
        value = iso.clean_text(element.get("codeListValue") or element.text)
        if value:
            out.append(value)
    return out


def _language(element) -> str:
    """gmd:language: a LanguageCode (codeListValue or text) or, in older records, a string."""
    codes = _codes(element, "gmd:LanguageCode")
    return codes[0] if codes else _all_text(element)


def _date_text(node, path: str) -> str:
    return iso.clean_text(node.xpath(f"string({path}/gco:Date|{path}/gco:DateTime)", namespaces=NS))


def _is_inspire_theme_block(block, thesaurus: str, thesaurus_uri: str, hrefs: list[str]) -> bool:
    folded = _fold(thesaurus)
    if "inspire_themes" in thesaurus_uri or ("inspire" in folded and "theme" in folded):
        return True
    return bool(hrefs) and all(re.match(r"https?://inspire\.ec\.europa\.eu/theme/", h) for h in hrefs)


def _keyword_blocks(ident) -> tuple[list, list]:
    """(INSPIRE themes, other keywords) of every MD_Keywords block, with their thesaurus."""
    themes, words = [], []
    for block in ident.xpath("gmd:descriptiveKeywords/gmd:MD_Keywords", namespaces=NS):
        title = _first(block, "gmd:thesaurusName/gmd:CI_Citation/gmd:title")
        thesaurus, thesaurus_uri = _all_text(title), _href(title)
        thesaurus_date = _date_text(block, "gmd:thesaurusName/gmd:CI_Citation/gmd:date/gmd:CI_Date/gmd:date")
        keywords = [(_all_text(k), _href(k)) for k in block.xpath("gmd:keyword", namespaces=NS)]
        keywords = [(text, href) for text, href in keywords if text]
        about = {"thesaurus": thesaurus, "thesaurus_uri": thesaurus_uri, "thesaurus_date": thesaurus_date}
        if _is_inspire_theme_block(block, thesaurus, thesaurus_uri, [h for _, h in keywords if h]):
            themes += [{"libelle": text, "uri": href, **about} for text, href in keywords]
            continue
        kind = _code(block, "gmd:type/gmd:MD_KeywordTypeCode")
        words += [{"mot": text, "uri": href, "type": kind, **about} for text, href in keywords]
    return themes, words


def _constraints(ident) -> dict:
    out: dict = {}
    limitations, others = [], []
    for constraint in ident.xpath("gmd:resourceConstraints/*", namespaces=NS):
        limitations += [t for t in (_all_text(e) for e in constraint.xpath("gmd:useLimitation", namespaces=NS)) if t]
        # what an otherConstraints is about: access (INSPIRE's first block), use (the second), '' both/none
        about = [
            name
            for name, path in (("acces", "gmd:accessConstraints"), ("usage", "gmd:useConstraints"))
            if _codes(constraint, f"{path}/gmd:MD_RestrictionCode")
        ]
        for element in constraint.xpath("gmd:otherConstraints", namespaces=NS):
            text = _all_text(element)
            if text:
                others.append({"texte": text, "uri": _href(element), "concerne": about[0] if len(about) == 1 else ""})
    access = _codes(ident, "gmd:resourceConstraints/*/gmd:accessConstraints/gmd:MD_RestrictionCode")
    use = _codes(ident, "gmd:resourceConstraints/*/gmd:useConstraints/gmd:MD_RestrictionCode")
    classification = _codes(ident, "gmd:resourceConstraints/*/gmd:classification/gmd:MD_ClassificationCode")
    for key, value in (
        ("limitations", limitations),
        ("acces", access),
        ("usage", use),
        ("autres", others),
        ("classification", classification[0] if classification else ""),
    ):
        if value:
            out[key] = value
    return out


def _online(element) -> dict:
    return {
        "url": iso.clean_text(element.xpath("string(gmd:linkage/gmd:URL)", namespaces=NS)),
        "protocole": _all_text(_first(element, "gmd:protocol")),
        "nom": _all_text(_first(element, "gmd:name")),
        "description": _all_text(_first(element, "gmd:description")),
        "fonction": _code(element, "gmd:function/gmd:CI_OnLineFunctionCode"),
    }


def _resources(root) -> list[dict]:
    """The online resources of the distribution (transfer options, distributors'), with a URL."""
    path = "gmd:distributionInfo/gmd:MD_Distribution//gmd:onLine/gmd:CI_OnlineResource"
    return [link for link in (_online(e) for e in root.xpath(path, namespaces=NS)) if link["url"]]


def _period(ident) -> dict | None:
    """The first temporal extent, GML 3.2 or 3.1: begin / end as written, end « ouvert » when
    ``indeterminatePosition`` says now or unknown, '' when absent."""
    base = "gmd:extent/gmd:EX_Extent/gmd:temporalElement/*/gmd:extent/"
    for element in ident.xpath(base + "*", namespaces=NS):
        name = etree_local(element)
        if name == "TimePeriod":
            ends = []
            for side in ("beginPosition", "endPosition"):
                position = element.xpath(f"*[local-name()='{side}']")
                if not position:
                    ends.append("")
                    continue
                text = iso.clean_text(position[0].text)
                indeterminate = position[0].get("indeterminatePosition") or ""
                ends.append(text or ("ouvert" if indeterminate in ("now", "unknown") and side == "endPosition" else ""))
            return {"debut": ends[0], "fin": ends[1]}
        if name == "TimeInstant":
            text = iso.clean_text(element.xpath("string(*[local-name()='timePosition'])"))
            return {"debut": text, "fin": text}
    return None


def etree_local(element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _parties(root, ident, labels: _Labels) -> list[dict]:
    out = []
    for node, path, scope in (
        (root, "gmd:contact/gmd:CI_ResponsibleParty", "metadonnees"),
        (ident, "gmd:pointOfContact/gmd:CI_ResponsibleParty", "ressource"),
        (ident, "gmd:citation/gmd:CI_Citation/gmd:citedResponsibleParty/gmd:CI_ResponsibleParty", "ressource"),
    ):
        for element in node.xpath(path, namespaces=NS):
            position = _text(element, "gmd:positionName")
            role = _code(element, "gmd:role/gmd:CI_RoleCode")
            party = {
                "organisme": _text(element, "gmd:organisationName"),
                "personne": _text(element, "gmd:individualName"),
                "poste": position,
                "mail": _text(
                    element, "gmd:contactInfo/gmd:CI_Contact/gmd:address/gmd:CI_Address/gmd:electronicMailAddress"
                ),
                "role_iso": role,
                "role_sinp": (labels.roles.get(_fold(position)) if position else None) or ISO_TO_ROLE.get(role, ""),
                "portee": scope,
            }
            if party["organisme"] or party["personne"] or party["mail"]:
                out.append(party)
    return out


def _resolution(ident) -> tuple[str, str]:
    scale = iso.clean_text(
        ident.xpath(
            "string(gmd:spatialResolution/gmd:MD_Resolution/gmd:equivalentScale/"
            "gmd:MD_RepresentativeFraction/gmd:denominator/gco:Integer)",
            namespaces=NS,
        )
    )
    distance = _first(ident, "gmd:spatialResolution/gmd:MD_Resolution/gmd:distance/gco:Distance")
    resolution = ""
    if distance is not None and iso.clean_text(distance.text):
        resolution = " ".join(p for p in (iso.clean_text(distance.text), distance.get("uom") or "") if p)
    return scale, resolution


SERVICE_TYPES = ("WMTS", "WMS", "WFS", "WCS", "WPS", "CSW", "SOS", "ATOM")


def _service_type(*hints: str) -> str:
    """WMS, WFS, ATOM… from a protocol, a service type or a URL ('' when none says it)."""
    for hint in hints:
        upper = (hint or "").upper()
        for name in SERVICE_TYPES:
            if re.search(rf"(^|[^A-Z]){name}([^A-Z]|$)", upper):
                return name
    return ""


def _operations(ident) -> list[dict]:
    """The operations a service declares (``srv:containsOperations``): name and connect point."""
    out = []
    for operation in ident.xpath("srv:containsOperations/srv:SV_OperationMetadata", namespaces=NS):
        name = _text(operation, "srv:operationName")
        for url in operation.xpath("srv:connectPoint/gmd:CI_OnlineResource/gmd:linkage/gmd:URL", namespaces=NS):
            if iso.clean_text(url.text):
                out.append({"nom": name, "url": iso.clean_text(url.text)})
    return out


def _services(root, ident) -> list[dict]:
    """The access points of a service record: its online resources, or when it has none the
    connect point of its GetCapabilities operation (else of its first operation)."""
    title = _text(ident, "gmd:citation/gmd:CI_Citation/gmd:title")
    declared = _text(ident, "srv:serviceType/gco:LocalName") or _text(ident, "srv:serviceType")
    version = _text(ident, "srv:serviceTypeVersion")
    links = _resources(root)
    if not links:
        operations = _operations(ident)
        capabilities = [o for o in operations if _fold(o["nom"]) == "getcapabilities"] or operations[:1]
        links = [{"url": o["url"], "protocole": ""} for o in capabilities]
    out, seen = [], set()
    for link in links:
        if link["url"] in seen:
            continue
        seen.add(link["url"])
        out.append(
            {
                "titre": title,
                "type": _service_type(link["protocole"], declared, version, link["url"]) or declared,
                "version": version,
                "url": link["url"],
                "protocole": link["protocole"],
            }
        )
    return out


def _operated(ident) -> list[str]:
    """Identifiers of the datasets a service operates on: ``uuidref``, else the ``id`` of a
    GetRecordById ``xlink:href`` (or a UUID in it); UUIDs in upper case."""
    out = []
    for element in ident.xpath("srv:operatesOn", namespaces=NS):
        value = (element.get("uuidref") or "").strip()
        if not value:
            href = (element.get(f"{{{iso.XLINK}}}href") or "").strip()
            if not href:
                continue
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
            ids = [v for k, vs in query.items() if k.lower() in ("id", "uuid") for v in vs if v.strip()]
            found = re.search(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", href)
            value = ids[0].strip() if ids else (found.group(0) if found else href)
        value = _plain_uuid(value) or value
        if value not in out:
            out.append(value)
    return out


def origin(root, ident, standard: str, level: str, labels: _Labels) -> dict:
    """``origine_iso``: what the source record says beyond the SINP fields, whole (French keys;
    a key is absent when the source says nothing of it)."""
    out: dict = {
        "identifiant": _text(root, "gmd:fileIdentifier"),
        "norme": standard,
        "niveau": level,
    }
    citation = _first(ident, "gmd:citation/gmd:CI_Citation")
    citation = citation if citation is not None else ident
    parent = _text(root, "gmd:parentIdentifier")
    dates = {}
    for ci_date in citation.xpath("gmd:date/gmd:CI_Date", namespaces=NS):
        kind = _code(ci_date, "gmd:dateType/gmd:CI_DateTypeCode")
        value = _date_text(ci_date, "gmd:date")
        if kind and value and kind not in dates:
            dates[kind] = value
    identifiers = [
        {"code": _all_text(_first(e, "gmd:code")), "espace": _all_text(_first(e, "gmd:codeSpace"))}
        for e in citation.xpath("gmd:identifier/*", namespaces=NS)
    ]
    themes, words = _keyword_blocks(ident)
    lineage = [
        t
        for t in (
            _all_text(e)
            for e in root.xpath(
                "gmd:dataQualityInfo/gmd:DQ_DataQuality/gmd:lineage/gmd:LI_Lineage/gmd:statement", namespaces=NS
            )
        )
        if t
    ]
    scale, resolution = _resolution(ident)
    language = _first(root, "gmd:language")
    values = {
        "identifiant_parent": parent,
        "date_fiche": _date_text(root, "gmd:dateStamp"),
        "langue_fiche": _language(language) if language is not None else "",
        "langues": [v for v in (_language(e) for e in ident.xpath("gmd:language", namespaces=NS)) if v],
        "jeu_caracteres": _code(root, "gmd:characterSet/gmd:MD_CharacterSetCode"),
        "titre_alternatif": [
            t for t in (_all_text(e) for e in citation.xpath("gmd:alternateTitle", namespaces=NS)) if t
        ],
        "identifiants_ressource": [i for i in identifiers if i["code"]],
        "themes_inspire": themes,
        "mots_cles": words,
        "categories": [
            t
            for t in (
                iso.clean_text(e.text) for e in ident.xpath("gmd:topicCategory/gmd:MD_TopicCategoryCode", namespaces=NS)
            )
            if t
        ],
        "genealogie": "\n\n".join(lineage),
        "contraintes": _constraints(ident),
        "ressources": _resources(root),
        "formats": [
            {"nom": _text(e, "gmd:name"), "version": _text(e, "gmd:version")}
            for e in root.xpath(
                "gmd:distributionInfo/gmd:MD_Distribution/gmd:distributionFormat/gmd:MD_Format", namespaces=NS
            )
            if _text(e, "gmd:name")
        ],
        "periode": _period(ident),
        "dates": dates,
        "parties": _parties(root, ident, labels),
        "echelle": scale,
        "resolution": resolution,
    }
    out.update({k: v for k, v in values.items() if v})
    if level == "service":
        out["services"] = _services(root, ident)
        operations = _operations(ident)
        if operations:
            out["operations"] = operations
        declared = _text(ident, "srv:serviceType/gco:LocalName") or _text(ident, "srv:serviceType")
        if declared:
            out["type_service"] = declared
    return out


# --- reading -------------------------------------------------------------------------------------


def _short_title(alternate: list[str], title: str, notes: list) -> str:
    """The SINP short title: an alternate title of at most 30 characters as it is, else derived
    (cut at a word) from the first alternate title or the title, and noted."""
    for text in alternate:
        if len(text) <= SHORT_TITLE_MAX:
            return text
    source = alternate[0] if alternate else title
    if not source:
        return ""
    short = source[:SHORT_TITLE_MAX]
    if len(source) > SHORT_TITLE_MAX:
        short = short.rsplit(" ", 1)[0].rstrip(" -–,;:/(") or short
    if alternate:
        notes.append(
            f"Libellé court déduit du titre alternatif : « {short} » (gmd:alternateTitle de {len(source)} caractères, "
            f"{SHORT_TITLE_MAX} au plus ; le titre alternatif complet est conservé dans l'origine de la fiche)."
        )
    else:
        notes.append(f"Libellé court déduit du titre : « {short} » (la fiche n'a pas de gmd:alternateTitle).")
    return short


def _root(data, max_bytes: int):
    try:
        root = safexml.parse(data, max_bytes, "ISO 19139")
    except safexml.XmlRefused as err:
        raise IsoError(str(err)) from None
    if root.tag not in STANDARDS:
        found = root.xpath("//gmd:MD_Metadata|//gmi:MI_Metadata", namespaces=NS)
        if not found:
            raise IsoError(
                f"Ce document n'est pas une fiche ISO 19139 (élément racine « {root.tag} ») : une fiche "
                "gmd:MD_Metadata (ISO 19139) ou gmi:MI_Metadata (ISO 19115-2) est attendue."
            )
        root = found[0]
    return root


def read_iso(
    data, defaults: dict | None = None, source_url: str | None = None, *, max_bytes: int = MAX_BYTES
) -> IsoRecord:
    """The CA, JDD or service described by an ISO 19139 / 19115-2 document (``gmd:MD_Metadata`` or
    ``gmi:MI_Metadata`` root, or the first one inside a CSW response). ``defaults`` (field name ->
    value) fills the fields the document does not give; ``source_url`` (the catalogue's URL) makes
    the UUIDs derived from identifiers that are not UUIDs. Raises IsoError (French, naming the
    element) for a document that cannot be read."""
    root = _root(data, max_bytes)
    standard = STANDARDS[root.tag]
    level = _code(root, "gmd:hierarchyLevel/gmd:MD_ScopeCode") or "dataset"
    kind = KIND_OF_LEVEL.get(level)
    if kind is None:
        raise IsoError(
            f"Fiche de niveau « {level} » (gmd:hierarchyLevel) : seuls les niveaux « series » (cadre "
            "d'acquisition), « dataset » et « nonGeographicDataset » (jeu de données) et « service » sont moissonnés."
        )
    identifier = _text(root, "gmd:fileIdentifier")
    if not identifier:
        raise IsoError(
            "Fiche sans identifiant : gmd:fileIdentifier est vide ou absent ; le catalogue source doit "
            "identifier chaque fiche."
        )
    uuid = sinp_identifier(identifier, source_url)
    parent_text = _text(root, "gmd:parentIdentifier")
    parent = sinp_identifier(parent_text, source_url) if parent_text and kind != "service" else None
    ident_list = root.xpath("gmd:identificationInfo/*[gmd:citation]", namespaces=NS)
    if not ident_list:
        raise IsoError(f"Fiche « {identifier} » sans partie d'identification (gmd:identificationInfo).")
    ident = ident_list[0]
    citation = ident.xpath("gmd:citation/gmd:CI_Citation", namespaces=NS)
    citation = citation[0] if citation else ident
    title = _text(citation, "gmd:title")
    labels = _labels("jdd" if kind == "service" else kind)
    notes: list = []
    if _plain_uuid(identifier) is None:
        notes.append(
            f"Identifiant « {identifier} » (gmd:fileIdentifier) : ce n'est pas un UUID ; UUID SINP {uuid} "
            "calculé à partir de l'adresse du catalogue et de cet identifiant (le même à chaque moissonnage)."
        )
    record: dict = {"type": kind} if kind == "service" else {"type": kind, "sinp_uuid": uuid}
    if title:
        record["title"] = title
    abstract = _text(ident, "gmd:abstract")
    if abstract:
        record["notes"] = abstract
    defaulted = []
    if kind != "service":
        _sinp_fields(kind, root, ident, citation, labels, record, notes)
        if parent:
            record["cadre" if kind == "jdd" else "meta_cadre_parent"] = parent
        for name, value in (defaults or {}).items():
            f = model.field_map(kind).get(name)
            if f is not None and name not in NOT_DEFAULTABLE and model.is_empty(record.get(name)):
                record[name] = value
                defaulted.append(name)
    record["origine_iso"] = origin(root, ident, standard, level, labels)
    return IsoRecord(
        kind=kind,
        uuid=uuid,
        parent=parent,
        title=title,
        date_stamp=_date_text(root, "gmd:dateStamp") or None,
        record=record,
        notes=notes,
        defaulted=defaulted,
        source_identifier=identifier,
        operates_on=_operated(ident) if kind == "service" else [],
    )


def _sinp_fields(kind: str, root, ident, citation, labels: _Labels, record: dict, notes: list) -> None:
    """The SINP fields of a CA / JDD that ISO 19139 carries: dates, short title, keywords, actors, extent."""
    dates = {}
    for ci_date in citation.xpath("gmd:date/gmd:CI_Date", namespaces=NS):
        value = _date(ci_date.xpath("string(gmd:date/gco:Date|gmd:date/gco:DateTime)", namespaces=NS).strip())
        kind_of_date = _code(ci_date, "gmd:dateType/gmd:CI_DateTypeCode")
        if value and kind_of_date not in dates:
            dates[kind_of_date] = value
    created = dates.get("creation") or dates.get("publication")
    if created:
        record["date_creation_mtd" if kind == "ca" else "date_creation"] = created
        if not dates.get("creation"):
            notes.append(
                f"Date de création : la date de publication de la ressource ({created}), "
                "la fiche n'a pas de date de création."
            )
    if dates.get("revision"):
        record["date_maj_mtd" if kind == "ca" else "date_revision"] = dates["revision"]
    if kind == "jdd":
        short = _short_title(_texts(citation, "gmd:alternateTitle"), record.get("title", ""), notes)
        if short:
            record["libelle_court"] = short
    _keywords(ident, labels, record)
    _single_codes(kind, record)
    _actors(kind, root, ident, labels, record, notes)
    _extent(kind, ident, record)
    if kind == "ca":
        record.setdefault("est_meta_cadre", "false")


def _required(kind: str) -> list:
    """The SINP-mandatory fields (model.Field) a harvested record must fill (its UUID always is)."""
    return [f for f in model.fields(kind) if f.required and f.name != "sinp_uuid"]


def problems(rec: IsoRecord) -> list[str]:
    """French messages naming the record and the field, [] when the record is a valid CA / JDD
    (and for a service, which is not a SINP record). A required field that no element of ISO 19139
    carries is reported with the hint to give it in the source's ``defaults``; nothing is filled
    here (no date of the day)."""
    if rec.kind not in model.KINDS:
        return []
    labels = {f.name: f.label for f in model.fields(rec.kind)}
    errors = model.validate_record(rec.kind, rec.record, allow_frozen=True)
    label = f"{model_label(rec.kind)} {rec.uuid} (« {rec.title or 'sans titre'} »)"
    out = []
    for name, messages in errors.items():
        for message in messages:
            hint = ""
            if model.is_empty(rec.record.get(name)) and name not in NOT_DEFAULTABLE:
                hint = (
                    f" — absent de la fiche ISO : donnez-le dans la configuration de la source "
                    f'(« defaults » : {{"{name}": …}}).'
                )
            out.append(f"{label} — {labels.get(name, name)} : {message}{hint}")
    return out


def completeness(rec: IsoRecord) -> tuple[int, list[str]]:
    """(share of the SINP-mandatory fields the record fills, 0 to 100; labels of the missing ones).
    A service is not a SINP record: (100, [])."""
    if rec.kind not in model.KINDS:
        return 100, []
    required = _required(rec.kind)
    missing = [
        f.label
        for f in required
        if model.is_empty(rec.record.get(f.name)) or (f.multiple and not model.as_list(rec.record.get(f.name)))
    ]
    if not required:
        return 100, []
    return int(100 * (len(required) - len(missing)) / len(required)), missing


def model_label(kind: str) -> str:
    return {"ca": "Cadre d'acquisition", "service": "Service"}.get(kind, "Jeu de données")


def check_defaults(defaults) -> list[str]:
    """French messages for a source's ``defaults`` (field name -> value): unknown fields, fields that
    identify a record, unknown codes. [] when usable."""
    if not isinstance(defaults, dict):
        return ['« defaults » doit être un objet JSON : {"nom du champ": valeur}.']
    messages = []
    known = {f.name: f for kind in model.KINDS for f in model.fields(kind)}
    for name, value in defaults.items():
        f = known.get(name)
        if f is None:
            messages.append(f"« defaults » : champ « {name} » inconnu du standard de métadonnées SINP.")
            continue
        if name in NOT_DEFAULTABLE:
            messages.append(
                f"« defaults » : « {name} » identifie l'enregistrement et ne peut pas avoir de valeur par défaut."
            )
            continue
        if f.kind in ("code", "codes") and f.nomenclature:
            nom = nomenclatures.get(f.nomenclature)
            for code in model.as_list(value):
                if not nom.is_valid(str(code), allow_inactive=True):
                    messages.append(
                        f"« defaults » : « {code} » n'est pas un code de la nomenclature {f.nomenclature} ({f.label})."
                    )
    return messages
