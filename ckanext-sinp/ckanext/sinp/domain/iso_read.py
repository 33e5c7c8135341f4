"""ISO 19139 records of partner catalogues -> SINP records (CA / JDD). Pure Python, no ``ckan``.

    rec = read_iso(xml_bytes, defaults={"territoires": ["METROP"], ...})   # raises IsoError
    rec.kind, rec.uuid, rec.parent, rec.date_stamp, rec.record           # record: CKAN package dict
    messages = problems(rec)                                             # [] when the record is valid

The reading is the inverse of :mod:`ckanext.sinp.domain.iso` (what we publish), so a record of
our own CSW reads back to the fields ISO 19139 carries; the rest of the SINP standard (territory,
domains, territorial level…) has no place in ISO 19139 and comes from the source's ``defaults``.

* ``hierarchyLevel`` ``series`` -> CA, ``dataset`` (or none: ISO's default) -> JDD; any other level
  (service, nonGeographicDataset…) is refused (IsoError).
* ``fileIdentifier`` -> ``sinp_uuid`` (a UUID; ``urn:uuid:`` prefix removed); ``parentIdentifier``
  -> the JDD's ``cadre`` / the CA's ``meta_cadre_parent``.
* Citation: ``title``, ``alternateTitle`` -> JDD ``libelle_court`` (else the title cut to its
  30 characters, noted), dates ``creation`` / ``revision`` (``publication`` when there is no
  creation date) -> ``date_creation(_mtd)`` / ``date_revision`` / ``date_maj_mtd``;
  ``abstract`` -> ``notes``.
* Keywords: those of the INSPIRE themes thesaurus are skipped; a keyword equal (case and
  accents aside) to the French label of a code of one of the record's coded fields that we
  publish as keywords (objectives, volets, data type, collection methods: ``iso.KEYWORD_NOMENCLATURES``)
  becomes that code; every other keyword becomes a tag.
* Parties (``identificationInfo/*/pointOfContact``): the SINP role is the ``positionName`` when it is
  a ROLE_ACTEUR label (what we publish), otherwise the inverse of ``iso.ROLE_TO_ISO``
  (``ISO_TO_ROLE``). A CA has exactly one main contact: the first role-1 party; further
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

from ckanext.sinp.domain import iso, model, nomenclatures, safexml

MAX_BYTES = 20 * 1024 * 1024
GML31 = "http://www.opengis.net/gml"
NS = {"gmd": iso.GMD, "gco": iso.GCO, "gmx": iso.GMX, "gml": iso.GML, "gml31": GML31, "xlink": iso.XLINK}
KIND_OF_LEVEL = {"series": "ca", "dataset": "jdd"}
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
EXTRA_CA_CONTACT_ROLE = "4"
DEFAULT_ROLE = "1"

# fields a source's ``defaults`` may fill (everything of the standard but the identity of the record)
NOT_DEFAULTABLE = {"title", "sinp_uuid", "name", "cadre", "meta_cadre_parent"}


class IsoError(ValueError):
    """A record that cannot be read as a CA or a JDD; the message is meant for the user (French)."""


@dataclasses.dataclass
class IsoRecord:
    kind: str  # "ca" or "jdd"
    uuid: str  # upper case
    parent: str | None  # the CA of a JDD, the méta-cadre of a CA
    title: str
    date_stamp: str | None
    record: dict  # CKAN package dict (normalised form), with "type"
    notes: list = dataclasses.field(default_factory=list)  # what was derived, in French
    defaulted: list = dataclasses.field(default_factory=list)  # fields filled from the defaults


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


def _as_uuid(value: str, what: str) -> str:
    text = value.strip()
    if text.lower().startswith("urn:uuid:"):
        text = text[9:]
    if not model.UUID_RE.match(text):
        raise IsoError(
            f"{what} « {value} » n'est pas un UUID : le SINP identifie ses cadres "
            "d'acquisition et jeux de données par un UUID."
        )
    return model.normalize_uuid(text)


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


def read_iso(data, defaults: dict | None = None, max_bytes: int = MAX_BYTES) -> IsoRecord:
    """The CA or JDD described by an ISO 19139 document (``gmd:MD_Metadata`` root, or the first one
    inside a CSW response). ``defaults`` (field name -> value) fills the fields the document does
    not give. Raises IsoError (French) for a document that cannot be a SINP record."""
    try:
        root = safexml.parse(data, max_bytes, "ISO 19139")
    except safexml.XmlRefused as err:
        raise IsoError(str(err)) from None
    if root.tag != f"{{{iso.GMD}}}MD_Metadata":
        found = root.xpath("//gmd:MD_Metadata", namespaces=NS)
        if not found:
            raise IsoError(
                f"Ce document n'est pas une fiche ISO 19139 (élément racine « {root.tag} ») : "
                "une fiche gmd:MD_Metadata est attendue."
            )
        root = found[0]
    level = _code(root, "gmd:hierarchyLevel/gmd:MD_ScopeCode") or "dataset"
    kind = KIND_OF_LEVEL.get(level)
    if kind is None:
        raise IsoError(
            f"Fiche de niveau « {level} » : seuls les niveaux « series » (cadre d'acquisition) "
            "et « dataset » (jeu de données) sont moissonnés."
        )
    identifier = _text(root, "gmd:fileIdentifier")
    if not identifier:
        raise IsoError("Fiche sans identifiant (gmd:fileIdentifier).")
    uuid = _as_uuid(identifier, "L'identifiant de la fiche")
    parent_text = _text(root, "gmd:parentIdentifier")
    parent = _as_uuid(parent_text, "L'identifiant parent (gmd:parentIdentifier)") if parent_text else None
    ident_list = root.xpath("gmd:identificationInfo/*[gmd:citation]", namespaces=NS)
    if not ident_list:
        raise IsoError(f"Fiche {uuid} sans partie d'identification (gmd:identificationInfo).")
    ident = ident_list[0]
    citation = ident.xpath("gmd:citation/gmd:CI_Citation", namespaces=NS)
    citation = citation[0] if citation else ident
    title = _text(citation, "gmd:title")
    notes: list = []
    labels = _labels(kind)
    record: dict = {"type": kind, "sinp_uuid": uuid}
    if title:
        record["title"] = title
    abstract = _text(ident, "gmd:abstract")
    if abstract:
        record["notes"] = abstract
    if parent:
        record["cadre" if kind == "jdd" else "meta_cadre_parent"] = parent

    dates = {}
    for ci_date in citation.xpath("gmd:date/gmd:CI_Date", namespaces=NS):
        value = _date(ci_date.xpath("string(gmd:date/gco:Date|gmd:date/gco:DateTime)", namespaces=NS).strip())
        kind_of_date = _code(ci_date, "gmd:dateType/gmd:CI_DateTypeCode")
        if value and kind_of_date not in dates:
            dates[kind_of_date] = value
    created = dates.get("creation") or dates.get("publication")
    if created:
        record["date_creation_mtd" if kind == "ca" else "date_creation"] = created
    if dates.get("revision"):
        record["date_maj_mtd" if kind == "ca" else "date_revision"] = dates["revision"]

    if kind == "jdd":
        short = _text(citation, "gmd:alternateTitle")
        if not short and title:
            short = (
                title
                if len(title) <= SHORT_TITLE_MAX
                else (title[:SHORT_TITLE_MAX].rsplit(" ", 1)[0] or title[:SHORT_TITLE_MAX])
            )
            notes.append(f"Libellé court déduit du titre : « {short} » (la fiche n'a pas de gmd:alternateTitle).")
        if short:
            record["libelle_court"] = short[:SHORT_TITLE_MAX]
    _keywords(ident, labels, record)
    _single_codes(kind, record)
    _actors(kind, root, ident, labels, record, notes)
    _extent(kind, ident, record)
    if kind == "ca":
        record.setdefault("est_meta_cadre", "false")

    defaulted = []
    for name, value in (defaults or {}).items():
        f = model.field_map(kind).get(name)
        if f is None or name in NOT_DEFAULTABLE:
            continue
        if model.is_empty(record.get(name)):
            record[name] = value
            defaulted.append(name)
    date_stamp = root.xpath("string(gmd:dateStamp/gco:DateTime|gmd:dateStamp/gco:Date)", namespaces=NS).strip()
    return IsoRecord(
        kind=kind,
        uuid=uuid,
        parent=parent,
        title=title,
        date_stamp=date_stamp or None,
        record=record,
        notes=notes,
        defaulted=defaulted,
    )


def problems(rec: IsoRecord) -> list[str]:
    """French messages naming the record and the field, [] when the record is a valid CA / JDD.
    A required field that no element of ISO 19139 carries is reported with the hint to give it
    in the source's ``defaults``."""
    labels = {f.name: f.label for f in model.fields(rec.kind)}
    errors = model.validate_record(rec.kind, model.apply_defaults(rec.kind, rec.record), allow_frozen=True)
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


def model_label(kind: str) -> str:
    return "Cadre d'acquisition" if kind == "ca" else "Jeu de données"


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
