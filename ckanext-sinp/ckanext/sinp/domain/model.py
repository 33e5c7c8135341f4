"""The SINP metadata model (CA and JDD), read from the scheming schemas in ``schemas/``.

The schema files are the single definition of every field: ckanext-scheming builds the forms
and storage from them, and this module reads the ``sinp`` block of each field (MTD element,
obligation, kind, nomenclature) to validate records, map them to MTD / ISO / DCAT and measure
their completeness. No ``ckan`` import here.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import os
import pathlib
import re
import uuid as uuidlib
from dataclasses import dataclass, field

import yaml

from ckanext.sinp.domain import nomenclatures

KINDS = ("ca", "jdd")
TYPE_LABELS = {"ca": "cadre d'acquisition", "jdd": "jeu de données"}
MAIN_CONTACT_ROLE = "1"
UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https?://\S+$", re.IGNORECASE)


def schemas_dir() -> pathlib.Path:
    """``SINP_SCHEMAS_DIR``, else the installed package data ``ckanext.sinp_schemas`` (the
    repository's ``schemas/`` in an editable install), else ``schemas/`` beside ``ckanext-sinp/``
    (sources not installed)."""
    env = os.environ.get("SINP_SCHEMAS_DIR")
    if env:
        return pathlib.Path(env)
    installed = _package_dir("ckanext.sinp_schemas")
    if installed is not None:
        return installed
    return pathlib.Path(__file__).resolve().parents[4] / "schemas"


@functools.cache  # find_spec costs ~0.1 ms: once per process (read per exported row through store_columns)
def _package_dir(name: str) -> pathlib.Path | None:
    """The folder of an installed package, or None."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    obligation: str = "F"
    kind: str = "text"
    mtd: str | None = None
    mtd_aliases: tuple = ()
    nomenclature: str | None = None
    max_length: int | None = None
    max_items: int | None = None
    references: str | None = None
    bbox: str | None = None
    default: str | None = None
    subfields: tuple = field(default_factory=tuple)

    @property
    def required(self) -> bool:
        return self.obligation == "O"

    @property
    def multiple(self) -> bool:
        return self.kind in ("codes", "taxon_codes", "keywords", "actors", "publications", "protocols", "attributes")


def _label(value) -> str:
    if isinstance(value, dict):
        return value.get("fr") or value.get("en") or ""
    return value or ""


def _make_field(spec: dict) -> Field | None:
    sinp = spec.get("sinp")
    if not sinp:
        return None
    subfields = tuple(f for f in (_make_field(s) for s in spec.get("repeating_subfields", ())) if f)
    return Field(
        name=spec["field_name"],
        label=_label(spec.get("label")),
        obligation=sinp.get("obligation", "F"),
        kind=sinp.get("kind", "text"),
        mtd=sinp.get("mtd"),
        mtd_aliases=tuple(sinp.get("mtd_aliases", ())),
        nomenclature=sinp.get("nomenclature"),
        max_length=sinp.get("max_length"),
        max_items=sinp.get("max_items"),
        references=sinp.get("references"),
        bbox=sinp.get("bbox"),
        default=sinp.get("default"),
        subfields=subfields,
    )


@functools.cache
def _presets() -> dict:
    data = yaml.safe_load((schemas_dir() / "presets.yaml").read_text(encoding="utf-8"))
    return {p["preset_name"]: p["values"] for p in data["presets"]}


@functools.cache
def load_schema(kind: str) -> dict:
    """The scheming schema of ``kind`` ("ca" or "jdd") with our presets expanded."""
    if kind not in KINDS:
        raise KeyError(f"Type d'enregistrement SINP inconnu : {kind!r}")
    schema = yaml.safe_load((schemas_dir() / f"{kind}.yaml").read_text(encoding="utf-8"))
    presets = _presets()
    expanded = []
    for spec in schema["dataset_fields"]:
        if spec.get("preset") in presets:
            spec = {**presets[spec["preset"]], **spec}
        expanded.append(spec)
    schema["dataset_fields"] = expanded
    return schema


@functools.cache
def fields(kind: str) -> tuple[Field, ...]:
    """The SINP fields of ``kind``, in schema order."""
    return tuple(f for f in (_make_field(s) for s in load_schema(kind)["dataset_fields"]) if f)


def field_map(kind: str) -> dict[str, Field]:
    return {f.name: f for f in fields(kind)}


# --- value helpers -------------------------------------------------------------------------


def is_empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def as_list(value) -> list:
    """Multi-valued fields arrive as lists, JSON lists or comma/semicolon-separated text."""
    if is_empty(value):
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if not is_empty(v) and not is_empty_block(v)]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return [v for v in json.loads(text) if not is_empty(v)]
            except ValueError:
                pass
        return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    return [value]


def normalize_uuid(value: str) -> str:
    """SINP UUIDs are exchanged upper-case (INPN web services expect them so)."""
    return str(value).strip().upper()


def new_uuid() -> str:
    return normalize_uuid(uuidlib.uuid4())


def parse_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"« {text} » n'est pas une date au format AAAA-MM-JJ.") from None


def parse_boolean(value) -> bool:
    """True/False from a JSON boolean, ``true``/``false`` (any case) or 1/0; anything else
    (« oui », « on », « maybe »…) is refused rather than read as false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    shown = value if isinstance(value, str) else type(value).__name__
    raise ValueError(f"« {str(shown)[:60]} » n'est pas une valeur booléenne : attendu true ou false.")


def parse_decimal(value) -> float:
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError:
        raise ValueError(f"« {value} » n'est pas un nombre décimal.") from None


def apply_defaults(kind: str, record: dict, today: dt.date | None = None) -> dict:
    """A copy of ``record`` with what the platform fills when absent: the SINP UUID (generated)
    and the creation dates of the record sheet (today)."""
    out = dict(record)
    if is_empty(out.get("sinp_uuid")):
        out["sinp_uuid"] = new_uuid()
    for f in fields(kind):
        if f.default == "today" and is_empty(out.get(f.name)):
            out[f.name] = (today or dt.date.today()).isoformat()
    return out


# --- validation ------------------------------------------------------------------------------


class Errors(dict):
    """Field name -> list of French messages.

    For repeating fields (actors, protocols…), ``where[(name, message)]`` gives the block number
    (1-based) and the sub-field a message is about, so that a form can show it in place.
    """

    def __init__(self):
        super().__init__()
        self.where: dict[tuple[str, str], tuple[int, str | None]] = {}

    def add(self, name: str, message: str, item: int | None = None, sub: str | None = None) -> None:
        self.setdefault(name, []).append(message)
        if item is not None:
            self.where[(name, message)] = (item, sub)


def is_empty_block(item) -> bool:
    """A repeating block left empty in a form (every sub-field blank)."""
    return isinstance(item, dict) and all(is_empty(v) for v in item.values())


def _check_code(
    errors: Errors,
    name: str,
    nomenclature: str,
    code,
    prefix: str = "",
    allow_frozen: bool = False,
    item: int | None = None,
    sub: str | None = None,
) -> None:
    try:
        nomenclatures.get(nomenclature).check(str(code), allow_inactive=allow_frozen)
    except ValueError as err:
        errors.add(name, f"{prefix}{err}", item, sub)


def _check_actor(errors: Errors, f: Field, index: int, actor: dict) -> None:
    prefix = f"{f.label} n° {index}"
    if not isinstance(actor, dict):
        errors.add(f.name, f"{prefix} : bloc mal formé.", index)
        return
    if is_empty(actor.get("nom_prenom")) and is_empty(actor.get("organisme")):
        errors.add(f.name, f"{prefix} : indiquez un organisme ou un nom (« NOM Prénom »).", index, "organisme")
    if is_empty(actor.get("role")):
        errors.add(f.name, f"{prefix} : le rôle est obligatoire.", index, "role")
    else:
        _check_code(errors, f.name, "ROLE_ACTEUR", actor["role"], f"{prefix} : ", item=index, sub="role")
    mail = actor.get("mail")
    if not is_empty(mail) and not EMAIL_RE.match(str(mail).strip()):
        errors.add(f.name, f"{prefix} : « {mail} » n'est pas une adresse électronique valide.", index, "mail")
    org_uuid = actor.get("id_organisme")
    if not is_empty(org_uuid) and not UUID_RE.match(str(org_uuid).strip()):
        errors.add(f.name, f"{prefix} : l'UUID d'organisme « {org_uuid} » est mal formé.", index, "id_organisme")


def _check_subrecords(errors: Errors, f: Field, items: list) -> None:
    required = [s for s in f.subfields if s.required]
    for index, item in enumerate(items, 1):
        prefix = f"{f.label} n° {index}"
        if not isinstance(item, dict):
            errors.add(f.name, f"{prefix} : bloc mal formé.", index)
            continue
        for sub in required:
            if is_empty(item.get(sub.name)):
                errors.add(f.name, f"{prefix} : « {sub.label} » est obligatoire.", index, sub.name)
        for sub in f.subfields:
            value = item.get(sub.name)
            if is_empty(value):
                continue
            if sub.nomenclature:
                _check_code(errors, f.name, sub.nomenclature, value, f"{prefix} : ", item=index, sub=sub.name)
            if sub.kind == "url" and not URL_RE.match(str(value).strip()):
                errors.add(
                    f.name, f"{prefix} : « {value} » n'est pas une adresse web (http ou https).", index, sub.name
                )


def validate_record(kind: str, record: dict, allow_frozen: bool = False) -> Errors:
    """Checks a CA or JDD (a package dict) against the rules of metadata standard 1.3.10 (§1.7).

    Rules that need the catalogue (UUID uniqueness, the referenced CA exists and is visible, a
    parent is a méta-cadre) are checked by the caller. Returns French messages per field.
    ``allow_frozen`` accepts the frozen codes of older versions of the standard (e.g. the
    CA objectives 1–7 replaced in 1.3.10), as records received from MTD may carry them.
    """
    errors = Errors()
    for f in fields(kind):
        value = record.get(f.name)
        if is_empty(value) or (f.multiple and not as_list(value)):
            if f.required and f.name != "sinp_uuid":  # the UUID is generated when absent
                errors.add(f.name, f"Champ obligatoire du standard SINP : « {f.label} ».")
            continue
        if f.kind == "text" and f.max_length and len(str(value)) > f.max_length:
            errors.add(f.name, f"« {f.label} » : {len(str(value))} caractères, {f.max_length} au plus.")
        elif f.kind == "uuid" and not UUID_RE.match(str(value).strip()):
            errors.add(
                f.name, f"« {value} » n'est pas un UUID valide (forme attendue : 8-4-4-4-12 caractères hexadécimaux)."
            )
        elif f.kind == "code":
            _check_code(errors, f.name, f.nomenclature, value, allow_frozen=allow_frozen)
        elif f.kind == "codes":
            for code in as_list(value):
                _check_code(errors, f.name, f.nomenclature, code, allow_frozen=allow_frozen)
        elif f.kind == "taxon_codes":
            for code in as_list(value):
                if not str(code).strip().isdigit():
                    errors.add(f.name, f"« {code} » n'est pas un code TAXREF (CD_NOM) ou HABREF (CD_HAB).")
        elif f.kind == "date":
            try:
                parse_date(value)
            except ValueError as err:
                errors.add(f.name, str(err))
        elif f.kind == "boolean":
            try:
                parse_boolean(value)
            except ValueError as err:
                errors.add(f.name, str(err))
        elif f.kind == "decimal":
            try:
                parse_decimal(value)
            except ValueError as err:
                errors.add(f.name, str(err))
        elif f.kind == "actors":
            items = as_list(value)
            if f.max_items and len(items) > f.max_items:
                errors.add(f.name, f"« {f.label} » : {f.max_items} au plus.")
            for index, actor in enumerate(items, 1):
                _check_actor(errors, f, index, actor)
        elif f.kind in ("publications", "protocols", "attributes"):
            _check_subrecords(errors, f, as_list(value))
    _check_cross_field_rules(kind, record, errors)
    return errors


def _main_contacts(items) -> int:
    return sum(1 for a in as_list(items) if isinstance(a, dict) and str(a.get("role", "")) == MAIN_CONTACT_ROLE)


def _check_cross_field_rules(kind: str, record: dict, errors: Errors) -> None:
    if kind == "ca":
        actors = as_list(record.get("acteurs"))
        if actors and "acteurs" not in errors:
            count = _main_contacts(actors)
            if count != 1:
                errors.add(
                    "acteurs",
                    "Un cadre d'acquisition doit avoir exactement un contact principal "
                    f"(rôle 1 « Contact principal ») ; il en a {count}.",
                )
        start, end = record.get("date_lancement"), record.get("date_cloture")
        if (
            not is_empty(start)
            and not is_empty(end)
            and "date_lancement" not in errors
            and "date_cloture" not in errors
            and parse_date(end) < parse_date(start)
        ):
            errors.add("date_cloture", "La date de clôture est antérieure à la date de lancement.")
        parent = record.get("meta_cadre_parent")
        if (
            not is_empty(parent)
            and not is_empty(record.get("sinp_uuid"))
            and normalize_uuid(parent) == normalize_uuid(record["sinp_uuid"])
        ):
            errors.add("meta_cadre_parent", "Un cadre d'acquisition ne peut pas être son propre méta-cadre.")
    else:
        contacts = as_list(record.get("contacts_jdd"))
        if contacts and "contacts_jdd" not in errors and _main_contacts(contacts) < 1:
            errors.add(
                "contacts_jdd",
                "Un jeu de données doit avoir au moins un point de contact de rôle 1 « Contact principal ».",
            )
        _check_bbox(record, errors)


def _check_bbox(record: dict, errors: Errors) -> None:
    names = {"west": "borne_ouest", "east": "borne_est", "south": "borne_sud", "north": "borne_nord"}
    given = {k: record.get(v) for k, v in names.items() if not is_empty(record.get(v))}
    if not given:
        return
    if len(given) < 4:
        missing = [names[k] for k in names if k not in given]
        for name in missing:
            errors.add(name, "L'emprise géographique doit avoir ses quatre bornes (nord, sud, est, ouest).")
        return
    if any(names[k] in errors for k in names):
        return
    box = {k: parse_decimal(v) for k, v in given.items()}
    for k in ("west", "east"):
        if not -180 <= box[k] <= 180:
            errors.add(names[k], "Longitude hors du système WGS 84 : elle doit être comprise entre -180 et 180.")
    for k in ("south", "north"):
        if not -90 <= box[k] <= 90:
            errors.add(names[k], "Latitude hors du système WGS 84 : elle doit être comprise entre -90 et 90.")
    if box["south"] > box["north"]:
        errors.add("borne_sud", "La borne sud est au nord de la borne nord.")
    if box["west"] > box["east"]:
        errors.add("borne_ouest", "La borne ouest est à l'est de la borne est.")


def bbox_geometry(record: dict) -> dict | None:
    """The JDD bounding box as a GeoJSON polygon (for the map search), if complete and valid."""
    try:
        w, e, s, n = (parse_decimal(record[k]) for k in ("borne_ouest", "borne_est", "borne_sud", "borne_nord"))
    except (KeyError, ValueError, TypeError):
        return None
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        return None
    if w == e or s == n:
        return (
            {"type": "Point", "coordinates": [w, s]}
            if (w == e and s == n)
            else {"type": "LineString", "coordinates": [[w, s], [e, n]]}
        )
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


# --- completeness ---------------------------------------------------------------------------


def completeness(kind: str, record: dict) -> dict:
    """How complete a record is: mandatory (O) and recommended (R) fields of the standard filled.

    Returns {"filled": n, "total": m, "percent": p, "missing": [labels of empty O/R fields],
    "missing_mandatory": [labels of empty O fields]}.
    """
    counted = [f for f in fields(kind) if f.obligation in ("O", "R")]
    missing = [f for f in counted if is_empty(record.get(f.name)) or (f.multiple and not as_list(record.get(f.name)))]
    filled = len(counted) - len(missing)
    return {
        "filled": filled,
        "total": len(counted),
        "percent": round(100 * filled / len(counted)) if counted else 100,
        "missing": [f.label for f in missing],
        "missing_mandatory": [f.label for f in missing if f.required],
    }
