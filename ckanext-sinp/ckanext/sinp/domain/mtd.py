"""INPN MTD XML (métadonnées SINP 1.3.10) <-> records of the catalogue. Pure Python, no ``ckan``.

    records = parse_document(xml_bytes)          # list[MtdRecord], CA before JDD
    messages = validate_records(records)         # French messages, [] when valid
    missing_cas(records)                         # CA UUIDs the caller must find in the catalogue
    to_xml("jdd", package_dict)                  # one record as an MTD document (bytes)
    to_xml_many([("ca", ca_dict), ("jdd", jdd_dict)])

The mapping is driven by the field definitions of ``schemas/ca.yaml`` and ``schemas/jdd.yaml``
(:func:`ckanext.sinp.domain.model.fields`): every field's ``mtd`` path (steps separated by
``/``), its ``mtd_aliases`` (older names, read only) and its kind decide how it is read and
written. What is specific to the format, and only that, is coded here:

* **Paths.** ``a/b/c`` is an element ``c`` inside ``b`` inside ``a``; the containers are written
  once and are left out when empty. For actors, the last step is the property element, repeated
  once per actor, each holding one ``ActeurType`` (``pointContactJdd/ActeurType``…); on input a
  property holding several ``ActeurType``, or the actor's elements directly, is accepted too.
  For publications, protocols and additional attributes, the last step is the item element
  (``Publication``, ``ProtocoleType``, ``AttributAdditionnel``) inside one container; on input
  any child element of the container is read as an item, whatever its name.
* **acteurPrincipal|acteurAutre** (CA ``acteurs``): the first actor of role 1 (contact
  principal) is written in ``acteurPrincipal``, all other actors in ``acteurAutre``. On input
  both go into ``acteurs``, in document order; an actor of ``acteurPrincipal`` without
  ``roleActeur`` gets role 1.
* **Keywords** (``tag_string``): one ``motCle`` element per keyword. On input every ``motCle``
  is also split on commas (some exports put all keywords in one element); the record gets
  ``tag_string`` = keywords joined by ``,``. On output ``tag_string`` (text or list) is used,
  or else CKAN's ``tags`` (list of ``{"name": …}``).
* **Ecological target** (``taxon_codes``): one element, codes separated by ``;``.
* **Codes**: bare nomenclature codes (``cd_nomenclature``), one element per value.
* **UUIDs**: upper-case; the ``http://oafs.fr/meta/ca/`` prefix of some exports is removed.
* **Booleans**: read from ``true``/``false``/``1``/``0`` (any case), written ``true``/``false``.
* **Dates**: read from a date or a date-time (the date is kept), written ``AAAA-MM-JJ``.
* **Decimals**: stored as ``str(float)`` (what the CKAN validator stores), written without
  exponent.
* **1.3.1 names** (``identifiantJeuDeDonnees``, ``nomComplet``, ``identifiantCadreAcquisition``,
  from the schema's ``mtd_aliases``): a record is read as 1.3.1 when ``xsi:schemaLocation``
  names ``mtd_jdd_1_3_1.xsd`` or when it has an old identifier element; the old names are then
  preferred, otherwise the 1.3.10 names are. An element of the other version present as well
  is not read and is reported in ``MtdRecord.ignored``.
* Elements are matched by **local name**; a record and its elements must be in the MTD namespace
  (1.3.10 documents use ``http://inpn.mnhn.fr/mtd``; the 1.3.1 ``mtdjdd:`` prefix is read as
  ``http://inpn.mnhn.fr``, supposed) or GML's: any other namespace, or none, refuses the document.

Normalised form of a record (what :func:`parse_document` returns and what round-trips through
:func:`to_xml`): only non-empty fields, plus ``type``; text stripped; codes as lists of strings
(duplicates removed); booleans ``"true"``/``"false"``; dates ``"AAAA-MM-JJ"``; actors, publications,
protocols and attributes as lists of dicts holding only their non-empty subfields; a CA's main
contact first among its actors.

Choices on the points the digest (SINP_STANDARDS.md §2, §8.3) leaves open:

* Root element of exported documents: ``gml:FeatureCollection`` (GML 3.2,
  ``http://www.opengis.net/gml/3.2``), one ``gml:featureMember`` per record. Prefix ``ca:`` or
  ``jdd:`` for ``http://inpn.mnhn.fr/mtd``, declared on the root (on each record when a document
  mixes CA and JDD). No ``gml:id``, no ``xsi:schemaLocation``. On input any root is accepted:
  records are looked for anywhere (``gml:featureMember`` children, a bare
  ``ca:CadreAcquisition`` / ``jdd:JeuDeDonnees`` root, several records per document).
* Child of ``attributsAdditionnels``: ``AttributAdditionnel`` (the schema's ``mtd`` path).
* ``estMetaCadre`` written ``true``/``false``.
* ``methodeRecueil`` (JDD): one element per code, after ``empriseGeographique`` and before
  ``protocoles``.
* Element order: the §2.3 skeletons (:data:`SEQUENCES`); ``idMetaCadreParent`` (CA) after
  ``estMetaCadre``, ``precisionGeographique`` (JDD) after ``territoire``, ``ActeurType`` children
  as in the skeleton (``nomPrenom``, ``mail``, ``organisme``, ``idOrganisme``, ``roleActeur``). An
  element the sequences do not list (a field added to the schema later) follows the element of
  the preceding schema field.
* Not mapped (read as unknown, reported in ``ignored``): ``typeDonneesCollectees`` and any other
  element the schemas do not define.

Security: a document that declares a DOCTYPE or an ENTITY is refused before parsing; lxml then
parses with entity resolution, DTD loading and network access off and ``huge_tree`` off, and a
DTD that would get through (unusual encoding) is refused after parsing. The parser never reads a
file or the network. Errors are :class:`MtdError` with a French message.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import re

from lxml import etree

from ckanext.sinp.domain import model, safexml

_PARSER_OPTIONS = safexml.PARSER_OPTIONS  # (tests check the settings)

MTD_NS = "http://inpn.mnhn.fr/mtd"
GML_NS = "http://www.opengis.net/gml/3.2"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
LEGACY_MTD_NS = "http://inpn.mnhn.fr"  # the 1.3.1 ``mtdjdd:`` prefix (supposed: no published schema)
# namespaces of the elements of a record: MTD (1.3.10, 1.3.1) and GML (3.2, 3.1.1) for geometries
RECORD_NAMESPACES = (MTD_NS, LEGACY_MTD_NS)
INNER_NAMESPACES = (*RECORD_NAMESPACES, GML_NS, "http://www.opengis.net/gml")
RECORD_ELEMENTS = {"ca": "CadreAcquisition", "jdd": "JeuDeDonnees"}
KIND_OF_ELEMENT = {element: kind for kind, element in RECORD_ELEMENTS.items()}
PREFIXES = {"ca": "ca", "jdd": "jdd"}
ACTOR_ELEMENT = "ActeurType"
OAFS_PREFIXES = ("http://oafs.fr/meta/ca/", "https://oafs.fr/meta/ca/")
LEGACY_SCHEMA_MARK = "1_3_1"
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
RECORD_LABELS = {"ca": "Cadre d'acquisition", "jdd": "Jeu de données"}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

# Order of the child elements of each MTD type (§2.3 skeletons). Ordering only: which elements
# exist and what they hold comes from the schemas.
SEQUENCES = {
    "CadreAcquisition": (
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
    ),
    "ReferenceTemporelle": ("dateLancement", "dateCloture"),
    "JeuDeDonnees": (
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
    ),
    "BoundingBox": ("borneNord", "borneSud", "borneEst", "borneOuest"),
    "ActeurType": ("nomPrenom", "mail", "organisme", "idOrganisme", "roleActeur"),
    "Publication": ("referencePublication", "URLPublication"),
    "ProtocoleType": ("libelleProtocole", "descriptionProtocole", "url", "typeProtocole"),
    "AttributAdditionnel": ("nomAttribut", "valeurAttribut"),
}

_SCALAR_KINDS = ("text", "uuid", "code", "date", "boolean", "decimal", "email", "url")
_ITEM_KINDS = ("publications", "protocols", "attributes")


class MtdError(ValueError):
    """A document that cannot be read as MTD XML; the message is meant for the user (French)."""


@dataclasses.dataclass
class MtdRecord:
    kind: str  # "ca" or "jdd"
    uuid: str  # normalised (upper-case)
    title: str
    record: dict  # CKAN package dict (normalised form), with "type"
    position: int  # 1-based position in the document
    ignored: list = dataclasses.field(default_factory=list)  # paths of elements not read
    version: str = "1.3.10"  # "1.3.1" when read with the old element names

    @property
    def label(self) -> str:
        """« Jeu de données <UUID> (« <libellé> ») », to name the record in messages."""
        title = f"« {self.title} »" if self.title else "sans libellé"
        return f"{RECORD_LABELS[self.kind]} {self.uuid} ({title})"


# --- reading ---------------------------------------------------------------------------------


def parse_document(data, max_bytes: int = DEFAULT_MAX_BYTES) -> list[MtdRecord]:
    """The CA and JDD of an MTD XML document: CA first (méta-cadres before the cadres they
    group), then JDD, each in document order. Raises MtdError (French message) for a document
    that is too large, declares a DTD or entities, is not well-formed, holds no record, or has
    a record without identifier."""
    try:
        root = safexml.parse(data, max_bytes, "MTD")
    except safexml.XmlRefused as err:
        raise MtdError(str(err)) from None
    elements = _record_elements(root)
    if not elements:
        raise MtdError(
            f"Aucun cadre d'acquisition ni jeu de données dans ce document (élément racine "
            f"« {_local(root)} ») : un document MTD contient des éléments ca:CadreAcquisition ou "
            "jdd:JeuDeDonnees, en général dans des gml:featureMember."
        )
    records = [_read_record(element, position) for position, element in enumerate(elements, 1)]
    return ordered(records)


def _local(element) -> str:
    return etree.QName(element).localname


def _children(element, name: str | None = None) -> list:
    return [c for c in element if isinstance(c.tag, str) and (name is None or _local(c) == name)]


def _record_elements(root) -> list:
    """Every CadreAcquisition / JeuDeDonnees of the document, outside other records."""
    found, stack = [], [root]
    while stack:
        element = stack.pop()
        if _local(element) in KIND_OF_ELEMENT:
            found.append(element)
        else:
            stack.extend(reversed(_children(element)))
    return found


def _find(element, steps) -> list:
    current = [element]
    for step in steps:
        current = [child for parent in current for child in _children(parent, step)]
    return current


def _text(element) -> str:
    return (element.text or "").strip() if len(element) == 0 else "".join(element.itertext()).strip()


def normalize_uuid(value) -> str:
    """Upper-case UUID, without the http://oafs.fr/meta/ca/ prefix of some MTD exports."""
    text = str(value).strip()
    for prefix in OAFS_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    return model.normalize_uuid(text)


def _scalar(kind: str, text: str) -> str:
    """The normalised value of one element (the raw text when it does not parse: validation
    reports it)."""
    try:
        if kind == "uuid":
            return normalize_uuid(text)
        if kind == "date":
            return model.parse_date(text).isoformat()
        if kind == "boolean":
            return "true" if model.parse_boolean(text) else "false"
        if kind == "decimal":
            return str(model.parse_decimal(text))
    except ValueError:
        return text
    return text


def _unique(values) -> list:
    return list(dict.fromkeys(values))


class _Reader:
    """Reads one record element; remembers which elements it used."""

    def __init__(self, element):
        self.element = element
        self.used = set()

    def use(self, element) -> None:
        while element is not None and element is not self.element and element not in self.used:
            self.used.add(element)
            element = element.getparent()

    def unused(self, element=None, prefix: str = "") -> list[str]:
        paths = []
        for child in _children(self.element if element is None else element):
            path = prefix + _local(child)
            if child not in self.used:
                paths.append(path)
            elif len(child):
                paths.extend(self.unused(child, path + "/"))
        return paths

    def values(self, steps) -> list[str]:
        texts = []
        for element in _find(self.element, steps):
            self.use(element)
            text = _text(element)
            if text and element.get(f"{{{XSI_NS}}}nil", "").lower() != "true":
                texts.append(text)
        return texts

    def block(self, element, subfields, main: bool = False) -> dict:
        self.use(element)
        item = {}
        for sub in subfields:
            for child in _children(element, sub.mtd):
                self.use(child)
                text = _text(child)
                if text and sub.name not in item:
                    item[sub.name] = _scalar(sub.kind, text)
        if main and item and "role" not in item:
            item["role"] = model.MAIN_CONTACT_ROLE
        return item

    def items(self, steps, subfields) -> list[dict]:
        elements = _find(self.element, steps)
        if not elements and len(steps) > 1:  # item of another name (attributsAdditionnels/*)
            elements = [c for parent in _find(self.element, steps[:-1]) for c in _children(parent)]
        return [item for item in (self.block(e, subfields) for e in elements) if item]

    def actors(self, steps, subfields) -> list[dict]:
        *prefix, last = steps
        alternatives = last.split("|")
        actors = []
        for index, name in enumerate(alternatives):
            main = len(alternatives) > 1 and index == 0
            for prop in _find(self.element, [*prefix, name]):
                self.use(prop)
                blocks = _children(prop, ACTOR_ELEMENT) or ([prop] if len(prop) else [])
                actors.extend(a for a in (self.block(b, subfields, main) for b in blocks) if a)
        return actors

    def field(self, f: model.Field, path: str):
        steps = path.split("/")
        if f.kind == "actors":
            return self.actors(steps, f.subfields)
        if f.kind in _ITEM_KINDS:
            return self.items(steps, f.subfields)
        texts = self.values(steps)
        if f.kind == "keywords":
            words = _unique(w.strip() for t in texts for w in t.split(",") if w.strip())
            return ",".join(words)
        if f.kind in ("codes", "taxon_codes"):
            return _unique(str(c).strip() for t in texts for c in model.as_list(t))
        return _scalar(f.kind, texts[0]) if texts else None


def _is_legacy(element, kind: str) -> bool:
    node = element
    while node is not None:
        if LEGACY_SCHEMA_MARK in (node.get(f"{{{XSI_NS}}}schemaLocation") or ""):
            return True
        node = node.getparent()
    old_ids = {alias.split("/")[0] for f in model.fields(kind) if f.name == "sinp_uuid" for alias in f.mtd_aliases}
    return any(_local(c) in old_ids for c in _children(element))


def _check_namespaces(element, position: int) -> None:
    """A record and its elements are in the MTD namespace (or GML's for geometries): an element of
    another namespace is not MTD, whatever its local name."""
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        namespace = etree.QName(node).namespace
        allowed = RECORD_NAMESPACES if node is element else INNER_NAMESPACES
        if namespace not in allowed:
            where = f"« {_local(node)} » (enregistrement n° {position} du document)"
            found = f"dans l'espace de noms « {namespace} »" if namespace else "sans espace de noms"
            raise MtdError(
                f"Élément {where} {found} : un document MTD utilise l'espace de noms {MTD_NS} "
                "(ca:, jdd:) ; le document est refusé."
            )


def _read_record(element, position: int) -> MtdRecord:
    _check_namespaces(element, position)
    kind = KIND_OF_ELEMENT[_local(element)]
    legacy = _is_legacy(element, kind)
    reader = _Reader(element)
    record = {"type": kind}
    for f in model.fields(kind):
        if not f.mtd:
            continue
        paths = [*f.mtd_aliases, f.mtd] if legacy else [f.mtd, *f.mtd_aliases]
        for path in paths:
            value = reader.field(f, path)
            if not model.is_empty(value):
                record[f.name] = value
                break
    title = record.get("title", "")
    uuid = record.get("sinp_uuid")
    if not uuid:
        uuid_field = model.field_map(kind).get("sinp_uuid")
        element_name = uuid_field.mtd if uuid_field else "identifiant"
        named = f" (« {title} »)" if title else ""
        raise MtdError(
            f"{RECORD_LABELS[kind]} n° {position} du document{named} : identifiant manquant (élément {element_name})."
        )
    return MtdRecord(
        kind=kind,
        uuid=uuid,
        title=title,
        record=record,
        position=position,
        ignored=_unique(reader.unused()),
        version="1.3.1" if legacy else "1.3.10",
    )


def _references(rec: MtdRecord) -> list[tuple[model.Field, str]]:
    """(field, CA UUID) of the fields of ``rec`` that point at a CA (``references: ca``)."""
    out = []
    for f in model.fields(rec.kind):
        value = rec.record.get(f.name)
        if f.references == "ca" and not model.is_empty(value):
            out.append((f, normalize_uuid(value)))
    return out


def ordered(records: list[MtdRecord]) -> list[MtdRecord]:
    """CA before JDD; a méta-cadre of the document before the cadres it groups."""
    cas = [r for r in records if r.kind == "ca"]
    by_uuid = {}
    for rec in cas:
        by_uuid.setdefault(rec.uuid, rec)
    ordered, done = [], set()

    def visit(rec, chain):
        if id(rec) in done:
            return
        for _, target in _references(rec):
            parent = by_uuid.get(target)
            if parent is not None and parent is not rec and id(parent) not in chain:
                visit(parent, chain | {id(rec)})
        if id(rec) not in done:
            done.add(id(rec))
            ordered.append(rec)

    for rec in cas:
        visit(rec, frozenset())
    return ordered + [r for r in records if r.kind != "ca"]


# --- document-level checks --------------------------------------------------------------------


def missing_references(records: list[MtdRecord]) -> dict[str, list[tuple[MtdRecord, model.Field]]]:
    """CA UUIDs referenced (JDD ``cadre``, CA ``meta_cadre_parent``: the fields with
    ``references: ca``) but not defined in the document -> the records and fields that cite them.
    Malformed UUIDs are left to validation."""
    defined = {r.uuid for r in records if r.kind == "ca"}
    missing: dict = {}
    for rec in records:
        for f, target in _references(rec):
            if model.UUID_RE.match(target) and target not in defined:
                missing.setdefault(target, []).append((rec, f))
    return missing


def missing_cas(records: list[MtdRecord]) -> set[str]:
    """UUIDs of the CA (cadres of JDD, parent méta-cadres) the document refers to without
    holding them: the caller looks for them in the catalogue."""
    return set(missing_references(records))


def validate_records(records: list[MtdRecord]) -> list[str]:
    """French messages, each naming the record and the field; [] when every record is valid.

    Each record is checked with the rules of the standard (frozen codes of older versions
    accepted, creation dates defaulted as on creation); then the document: UUIDs used twice,
    a parent méta-cadre of the document that is not a méta-cadre. A referenced CA absent from
    the document is not an error here (see :func:`missing_cas`)."""
    messages = []
    for rec in records:
        labels = {f.name: f.label for f in model.fields(rec.kind)}
        errors = model.validate_record(rec.kind, model.apply_defaults(rec.kind, rec.record), allow_frozen=True)
        for name, field_messages in errors.items():
            for message in field_messages:
                messages.append(f"{rec.label} — {labels.get(name, name)} : {message}")
    by_uuid: dict = {}
    for rec in records:
        by_uuid.setdefault(rec.uuid, []).append(rec)
    for uuid, group in by_uuid.items():
        if len(group) > 1:
            first = min(group, key=lambda r: r.position)
            positions = ", ".join(str(r.position) for r in sorted(group, key=lambda r: r.position))
            label = model.field_map(first.kind)["sinp_uuid"].label
            messages.append(
                f"{first.label} — {label} : l'identifiant {uuid} figure {len(group)} fois "
                f"dans le document (enregistrements n° {positions})."
            )
    cas = {r.uuid: r for r in records if r.kind == "ca"}
    for rec in records:
        if rec.kind != "ca":
            continue
        for f, target in _references(rec):
            parent = cas.get(target)
            if parent is None or parent is rec:
                continue
            try:
                is_meta = model.parse_boolean(parent.record.get("est_meta_cadre", "false"))
            except ValueError:
                continue  # reported on the parent
            if not is_meta:
                messages.append(
                    f"{rec.label} — {f.label} : {parent.label} n'est pas un méta-cadre (estMetaCadre vaut false)."
                )
    return messages


# --- writing ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Slot:
    """An element of the output tree of one record type: a container or a field's element."""

    name: str
    children: dict = dataclasses.field(default_factory=dict)
    field: model.Field | None = None
    alternative: int | None = None  # index in "acteurPrincipal|acteurAutre"


@functools.cache
def _layout(kind: str) -> _Slot:
    root = _Slot(RECORD_ELEMENTS[kind])
    for f in model.fields(kind):
        if not f.mtd:
            continue
        *prefix, last = f.mtd.split("/")
        slot = root
        for step in prefix:
            slot = slot.children.setdefault(step, _Slot(step))
        alternatives = last.split("|")
        for index, name in enumerate(alternatives):
            slot.children[name] = _Slot(name, field=f, alternative=index if len(alternatives) > 1 else None)
    return root


def _in_sequence(parent: str, names: list[str]) -> list[str]:
    """``names`` (schema order) in the order of SEQUENCES[parent]; a name it does not list
    follows the name before it."""
    sequence = SEQUENCES.get(parent, ())
    keys, last = {}, -1
    for index, name in enumerate(names):
        if name in sequence:
            last = sequence.index(name)
            keys[name] = (last, 0, index)
        else:
            keys[name] = (last, 1, index)
    return sorted(names, key=keys.__getitem__)


def _q(name: str) -> str:
    return f"{{{MTD_NS}}}{name}"


def _xml_text(value) -> str:
    return _NOT_XML_CHARS.sub("", str(value).strip())


def _out_scalar(kind: str, value) -> str:
    try:
        if kind == "uuid":
            return normalize_uuid(value)
        if kind == "date":
            return model.parse_date(value).isoformat()
        if kind == "boolean":
            return "true" if model.parse_boolean(value) else "false"
        if kind == "decimal":
            text = repr(model.parse_decimal(value))
            return format(decimal.Decimal(text), "f") if "e" in text.lower() else text
    except (ValueError, decimal.InvalidOperation):
        pass
    return _xml_text(value)


def _add(parent, name: str, text) -> None:
    etree.SubElement(parent, _q(name)).text = text


def _keywords(record: dict, f: model.Field) -> list[str]:
    value = record.get(f.name)
    if model.is_empty(value) and f.kind == "keywords":
        value = [t.get("name") if isinstance(t, dict) else t for t in record.get("tags") or []]
    if isinstance(value, str):
        value = value.split(",")
    return _unique(_xml_text(v) for v in (value or []) if v is not None and _xml_text(v))


def _write_block(parent, name: str, item: dict, subfields, wrapper: str | None = None) -> None:
    element = etree.SubElement(parent, _q(name))
    holder = etree.SubElement(element, _q(wrapper)) if wrapper else element
    subs = {s.mtd: s for s in subfields}
    for sub_name in _in_sequence(wrapper or name, list(subs)):
        sub = subs[sub_name]
        value = item.get(sub.name)
        if not model.is_empty(value):
            _add(holder, sub.mtd, _out_scalar(sub.kind, value))
    if len(holder) == 0:
        parent.remove(element)


def _write_field(parent, slot: _Slot, record: dict) -> None:
    f = slot.field
    value = record.get(f.name)
    if f.kind == "keywords":
        for word in _keywords(record, f):
            _add(parent, slot.name, word)
    elif model.is_empty(value):
        return
    elif f.kind == "codes":
        for code in _unique(_xml_text(c) for c in model.as_list(value)):
            _add(parent, slot.name, code)
    elif f.kind == "taxon_codes":
        _add(parent, slot.name, ";".join(_xml_text(c) for c in model.as_list(value)))
    elif f.kind == "actors":
        actors = [a for a in model.as_list(value) if isinstance(a, dict)]
        if slot.alternative is not None:
            main = next((a for a in actors if str(a.get("role", "")).strip() == model.MAIN_CONTACT_ROLE), None)
            if slot.alternative == 0:
                actors = [main] if main is not None else []
            else:
                actors = [a for a in actors if a is not main]
        for actor in actors:
            _write_block(parent, slot.name, actor, f.subfields, wrapper=ACTOR_ELEMENT)
    elif f.kind in _ITEM_KINDS:
        for item in model.as_list(value):
            if isinstance(item, dict):
                _write_block(parent, slot.name, item, f.subfields)
    else:
        text = _out_scalar(f.kind, value)
        if text:
            _add(parent, slot.name, text)


def _write(parent, slot: _Slot, record: dict) -> None:
    for name in _in_sequence(slot.name, list(slot.children)):
        child = slot.children[name]
        if child.field is not None:
            _write_field(parent, child, record)
        else:
            element = etree.SubElement(parent, _q(child.name))
            _write(element, child, record)
            if len(element) == 0:
                parent.remove(element)


def to_xml_many(items) -> bytes:
    """Several records as one MTD document: ``gml:FeatureCollection`` with one
    ``gml:featureMember`` per (kind, record), in the given order. UTF-8, XML declaration."""
    items = list(items)
    kinds = {kind for kind, _ in items}
    unknown = kinds - set(RECORD_ELEMENTS)
    if unknown:
        raise MtdError(f"Type d'enregistrement SINP inconnu : {', '.join(sorted(map(str, unknown)))}.")
    nsmap = {"gml": GML_NS}
    if len(kinds) == 1:
        nsmap[PREFIXES[next(iter(kinds))]] = MTD_NS
    root = etree.Element(f"{{{GML_NS}}}FeatureCollection", nsmap=nsmap)
    for kind, record in items:
        member = etree.SubElement(root, f"{{{GML_NS}}}featureMember")
        element = etree.SubElement(
            member, _q(RECORD_ELEMENTS[kind]), nsmap=None if len(kinds) == 1 else {PREFIXES[kind]: MTD_NS}
        )
        _write(element, _layout(kind), record)
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", pretty_print=True)


def to_xml(kind: str, record: dict) -> bytes:
    """One CA or JDD (a package dict) as an MTD document."""
    return to_xml_many([(kind, record)])
