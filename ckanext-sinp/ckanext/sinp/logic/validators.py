"""CKAN validators of the SINP plugin: thin wrappers around ckanext.sinp.domain.

Field validators normalise what a form, the API or an import sends; the record-level
validators (``sinp_derive_fields`` before, ``sinp_record_rules`` after the fields, both named
in the schemas) apply the rules of the metadata standard and the checks that need the
catalogue. Every message is in French; a record with an error is not stored (HTTP 409).
"""

from __future__ import annotations

import datetime as dt
import json

import ckan.model as model
import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from ckan.lib.navl.dictization_functions import unflatten

from ckanext.scheming.validation import scheming_validator
from ckanext.sinp.domain import iso
from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.domain.geometry import GeometryError, parse_geojson_geometry
from ckanext.sinp.logic import oracles, queries
from ckanext.sinp.occurrences import store

all_validators = {}


def register(func):
    all_validators[func.__name__] = func
    return func


def _empty(value) -> bool:
    return value in (None, "", tk.missing, [])


@register
def sinp_geojson(value, context):
    """A GeoJSON geometry in WGS 84, stored as compact JSON text."""
    if _empty(value):
        return value
    try:
        geometry = parse_geojson_geometry(value)
    except GeometryError as err:
        raise tk.Invalid(str(err))
    return json.dumps(geometry, separators=(",", ":"), ensure_ascii=False)


@register
def sinp_uuid(value, context):
    """A UUID, stored upper-case as the INPN exchanges them."""
    if _empty(value):
        return value
    text = str(value).strip()
    for prefix in ("http://oafs.fr/meta/ca/", "https://oafs.fr/meta/ca/"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    if not sinp_model.UUID_RE.match(text):
        raise tk.Invalid(f"« {value} » n'est pas un UUID valide (forme attendue : 8-4-4-4-12 caractères hexadécimaux).")
    return sinp_model.normalize_uuid(text)


@register
def sinp_codes(value, context):
    """A list of codes (list, JSON list or comma-separated text), stored as a JSON list."""
    if _empty(value):
        return value
    return json.dumps([str(v).strip() for v in sinp_model.as_list(value)], ensure_ascii=False)


@register
def sinp_taxon_codes(value, context):
    if _empty(value):
        return value
    codes = [str(v).strip() for v in sinp_model.as_list(value)]
    bad = [c for c in codes if not c.isdigit()]
    if bad:
        raise tk.Invalid(f"Codes TAXREF (CD_NOM) ou HABREF (CD_HAB) attendus : « {', '.join(bad)} » n'en sont pas.")
    return json.dumps(codes)


@register
def sinp_codes_output(value):
    if isinstance(value, list):
        return value
    return sinp_model.as_list(value)


HARVESTED_ORIGIN = "sinp_harvested_origin"
# a harvester of a non-strict source writes records that lack mandatory fields of the standard
INCOMPLETE_ALLOWED = "sinp_incomplete_allowed"


@register
def sinp_origin(key, data, errors, context):
    """``origine_iso`` (what the source catalogue of a harvested record said, ``domain.iso``): set
    only by a harvester (``context[HARVESTED_ORIGIN]``), stored as JSON text. Anyone else's write
    (form, API) keeps the stored value, whatever it sends: the origin of a record cannot be forged,
    nor lost by editing the record."""
    if context.get(HARVESTED_ORIGIN):
        value = data.get(key)
        if _empty(value) or value is tk.missing:
            data[key] = tk.missing
            return
        try:
            origin = iso.check_origin(value)
        except ValueError as err:
            errors[key].append(str(err))
            return
        data[key] = json.dumps(origin, ensure_ascii=False, separators=(",", ":"))
        return
    stored = _extra(_existing_package(data, context), key[0])
    data[key] = stored if stored else tk.missing


@register
def sinp_json_object_output(value):
    """JSON text stored in an extra -> the dict (package_show)."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return value
    return parsed if isinstance(parsed, dict) else value


@register
def sinp_boolean(value, context):
    if _empty(value):
        return value
    try:
        return "true" if sinp_model.parse_boolean(value) else "false"
    except ValueError as err:
        raise tk.Invalid(str(err))


@register
def sinp_date(value, context):
    if _empty(value):
        return value
    try:
        return sinp_model.parse_date(value).isoformat()
    except ValueError as err:
        raise tk.Invalid(str(err))


@register
def sinp_decimal(value, context):
    if _empty(value):
        return value
    try:
        return str(sinp_model.parse_decimal(value))
    except ValueError as err:
        raise tk.Invalid(str(err))


# --- record-level validators -----------------------------------------------------------------


def _existing_package(data, context):
    """The package being updated, if any (package_update / package_patch)."""
    pkg = context.get("package")
    if pkg is not None:
        return pkg
    pkg_id = data.get(("id",))
    if not _empty(pkg_id):
        return context["model"].Package.get(pkg_id)
    return None


def _extra(pkg, key):
    if pkg is None:
        return None
    return pkg.extras.get(key)


@register
@scheming_validator
def sinp_derive_fields(field, schema):
    """Fills what the platform derives before the fields are checked.

    - ``sinp_uuid``: kept when given (e.g. received from MTD), kept from the stored record on
      update, generated on creation;
    - creation dates of the record sheet default to today;
    - a JDD's ``spatial`` (GeoJSON for the map search) is computed from its bounding box.
    """
    kind = schema["dataset_type"]

    def validator(key, data, errors, context):
        _drop_empty_blocks(kind, data)
        if data.get(("state",)) == "draft":
            # CKAN's two-step form leaves a new dataset in "draft" until a resource is added;
            # a SINP record needs no resource: it is complete, and private until published
            data[("state",)] = "active"
        existing = _existing_package(data, context)
        if existing is None and _empty(data.get(("private",))):
            data[("private",)] = True  # a new record stays private until its producer publishes it
        if _empty(data.get(("sinp_uuid",))):
            stored = _extra(existing, "sinp_uuid")
            data[("sinp_uuid",)] = stored or sinp_model.new_uuid()
        for f in sinp_model.fields(kind):
            if f.default == "today" and _empty(data.get((f.name,))):
                data[(f.name,)] = _extra(existing, f.name) or dt.date.today().isoformat()
        if kind == "jdd":
            if existing is not None:
                _generalise_extent(existing.id, data)
            record = {k[0]: v for k, v in data.items() if len(k) == 1 and v is not tk.missing}
            geometry = sinp_model.bbox_geometry(record)
            if geometry:
                data[("spatial",)] = json.dumps(geometry)
            else:
                data.pop(("spatial",), None)

    return validator


BBOX_KEYS = ("borne_ouest", "borne_sud", "borne_est", "borne_nord")


def _generalise_extent(package_id, data):
    """A JDD holding blurred occurrences never publishes an extent narrower than what the public
    may know of them (their blurred areas): the declared extent is widened, never narrowed."""

    values = [data.get((k,)) for k in BBOX_KEYS]
    if any(v is None or v is tk.missing or v == "" for v in values):
        return  # no (complete) extent: the schema reports it
    try:
        current = [float(v) for v in values]
    except (TypeError, ValueError):
        return
    with model.meta.engine.connect() as conn:
        if not sa.inspect(conn).has_table("sinp_occurrence"):
            return
        wanted = store.widened_extent(conn, package_id, current)
    for key, old, new in zip(BBOX_KEYS, current, wanted or ()):
        if abs(old - new) > 1e-9:
            data[(key,)] = f"{new:.6f}"


def _drop_empty_blocks(kind, data):
    """Repeating blocks left blank in a form (e.g. the empty publication block) are not records."""
    for f in sinp_model.fields(kind):
        if not f.subfields:
            continue
        by_item = {}
        for key in [k for k in data if len(k) == 3 and k[0] == f.name]:
            by_item.setdefault(key[1], []).append(key)
        for keys in by_item.values():
            if all(_empty(data[k]) or data[k] is tk.missing for k in keys):
                for k in keys:
                    del data[k]


def _find_by_uuid(context, uuid, dataset_type=None):
    """Packages (any state but deleted) whose SINP UUID is ``uuid``."""

    return queries.packages_by_extra(context["model"], "sinp_uuid", uuid, dataset_type)


def _add_errors(errors, name, messages, where=None, default_sub=None):
    """Puts record-level messages where a form shows them: on the field, or, for a repeating
    field (actors, protocols…), on the block and sub-field they are about."""
    where = where or {}
    for message in messages:
        if default_sub is None:
            key = (name,)
        else:
            item, sub = where.get((name, message), (1, None))
            key = (name, (item or 1) - 1, sub or default_sub)
        bucket = errors.setdefault(key, [])
        if message not in bucket:
            bucket.append(message)


def _default_sub(field) -> str | None:
    if not field.subfields:
        return None
    names = [s.name for s in field.subfields]
    return "role" if "role" in names else names[0]


def _can_read(context, pkg) -> bool:
    try:
        tk.check_access("package_show", {"user": context.get("user"), "model": context["model"]}, {"id": pkg.id})
        return True
    except tk.NotAuthorized:
        return False


READABLE_CA_CACHE = "sinp_readable_ca"


def _readable_ca(context, uuid) -> bool:
    """Whether a CA ``uuid`` exists that the user may see.

    A bulk write (MTD import) shares one dict under ``context[READABLE_CA_CACHE]`` between its
    records, all written by one user in one transaction: a CA found readable once is not looked
    up again for each of its thousand JDD. Only positive answers are kept."""
    cache = context.get(READABLE_CA_CACHE)
    if cache is not None and uuid in cache:
        return True
    readable = any(_can_read(context, ca) for ca in _find_by_uuid(context, uuid, "ca"))
    if readable and cache is not None:
        cache[uuid] = True
    return readable


@register
@scheming_validator
def sinp_record_rules(field, schema):
    """Rules of the SINP metadata standard 1.3.10 (§1.7) on the whole record."""
    kind = schema["dataset_type"]

    def validator(key, data, errors, context):
        record = unflatten({k: v for k, v in data.items() if v is not tk.missing})
        found = sinp_model.validate_record(kind, record)
        fields = sinp_model.field_map(kind)
        if context.get(INCOMPLETE_ALLOWED):  # a harvested record shows what it lacks (completeness)
            for name in [n for n in found if n in fields and fields[n].required and sinp_model.is_empty(record.get(n))]:
                found.pop(name)
        for name, messages in found.items():
            _add_errors(errors, name, messages, found.where, _default_sub(fields[name]) if name in fields else None)

        existing = _existing_package(data, context)
        uuid = data.get(("sinp_uuid",))
        if not _empty(uuid) and not errors.get(("sinp_uuid",)):
            clash = [p for p in _find_by_uuid(context, uuid) if existing is None or p.id != existing.id]
            if clash:  # precise only for who may read the other record (no existence oracle)
                errors.setdefault(("sinp_uuid",), []).append(
                    f"L'identifiant SINP {uuid} est déjà celui d'un autre enregistrement du catalogue."
                    if any(_can_read(context, p) for p in clash)
                    else oracles.uuid_unusable(uuid)
                )

        if kind == "jdd":
            ca_uuid = data.get(("cadre",))
            if not _empty(ca_uuid) and not errors.get(("cadre",)):
                if not _readable_ca(context, ca_uuid):
                    errors.setdefault(("cadre",), []).append(
                        f"Aucun cadre d'acquisition d'identifiant {ca_uuid} n'est accessible : "
                        "créez ou importez d'abord le cadre d'acquisition."
                    )
        else:
            parent = data.get(("meta_cadre_parent",))
            if not _empty(parent) and not errors.get(("meta_cadre_parent",)):
                cas = [p for p in _find_by_uuid(context, parent, "ca") if _can_read(context, p)]
                if not cas:
                    errors.setdefault(("meta_cadre_parent",), []).append(
                        f"Aucun cadre d'acquisition d'identifiant {parent} n'est accessible."
                    )
                elif _extra(cas[0], "est_meta_cadre") != "true":
                    errors.setdefault(("meta_cadre_parent",), []).append(
                        f"Le cadre d'acquisition {parent} (« {cas[0].title} ») n'est pas un méta-cadre."
                    )

    return validator


def get_validators():
    return dict(all_validators)
