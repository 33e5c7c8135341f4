"""Strict inputs for every action: our ``sinp_*`` actions and the CKAN core actions we chain.

:func:`with_input_guards` wraps the action dict of the plugin:

- every ``sinp_*`` action first refuses (409, French) a data dict holding a NUL byte or a lone
  surrogate anywhere — also when called from Python; each action then reads its parameters with
  the typed helpers of ``logic/inputs.py``;
- CKAN core actions get a chained guard: identifiers must be one-line texts (a list, an object or
  a number where CKAN expects an id reached SQLAlchemy: 500); ``package_create`` /
  ``package_update`` / ``package_patch`` also check the type of every field of the schema (a title
  sent as a list was stored as JSON text; ``contacts_jdd`` of a wrong type gave an English
  « Integrity Error ») and read ``private`` strictly (CKAN read « oui » as false: published);
  ``package_search`` never echoes Solr's error (the internal ``fq`` holds the caller's permission
  labels); anonymous calls of the collaborator actions get a 403 (CKAN's auth asserted: 500).

A core action that the plugin already chains (``package_delete``…) keeps its chain: the guard
wraps it. Status codes of each class of bad input: ``logic/inputs.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import ckan.model as model
import ckan.plugins.toolkit as tk
from ckan.lib.navl.dictization_functions import DataError
from ckan.lib.search import SearchError, SearchQueryError

from ckanext.sinp.domain import model as sinp_model
from ckanext.sinp.logic import inputs

# identifiers (id, name…) of core actions: texts, when present
CORE_IDS: dict[str, tuple[str, ...]] = {
    "package_show": ("id", "name_or_id"),
    "resource_show": ("id",),
    "organization_show": ("id",),
    "group_show": ("id",),
    "user_show": ("id",),
    "tag_show": ("id", "vocabulary_id"),
    "member_list": ("id", "object_type", "capacity"),
    "package_activity_list": ("id",),
    "organization_activity_list": ("id",),
    "group_activity_list": ("id",),
    "user_activity_list": ("id",),
    "package_collaborator_list": ("id", "capacity"),
    "package_collaborator_create": ("id", "user_id", "capacity"),
    "package_collaborator_delete": ("id", "user_id"),
    "package_relationships_list": ("id", "id2", "rel"),
    "package_delete": ("id",),
    "dataset_purge": ("id",),
    "package_owner_org_update": ("id", "organization_id"),
    "resource_create": ("package_id",),
    "resource_update": ("id",),
    "resource_patch": ("id",),
    "resource_delete": ("id",),
    "resource_view_list": ("id",),
    "organization_list_for_user": ("id", "permission"),
    "tag_list": ("vocabulary_id",),
    "tag_autocomplete": ("vocabulary_id",),
    "package_create": ("id", "name", "owner_org", "type", "state", "license_id"),
    "package_update": ("id", "name", "owner_org", "type", "state", "license_id"),
    "package_patch": ("id", "name", "owner_org", "type", "state", "license_id"),
    "package_search": (),
}
# texts of core actions (free text: newlines allowed), when present
CORE_TEXTS: dict[str, tuple[str, ...]] = {
    "package_search": ("q", "fq", "sort", "fl", "facet.field", "facet.query", "include_private"),
    "tag_list": ("query",),
    "tag_autocomplete": ("q", "query"),
    "package_autocomplete": ("q",),
    "user_autocomplete": ("q",),
    "group_autocomplete": ("q",),
    "organization_autocomplete": ("q",),
    "format_autocomplete": ("q",),
    "resource_create": ("name", "description", "format"),
    "resource_update": ("name", "description", "format"),
    "resource_patch": ("name", "description", "format"),
}
# package fields that CKAN stores as text, for every dataset type
PACKAGE_TEXTS = (
    "title",
    "notes",
    "url",
    "version",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "tag_string",
)
PACKAGE_LISTS = ("resources", "tags", "extras", "groups")
PACKAGE_WRITES = ("package_create", "package_update", "package_patch")
COLLABORATORS = ("package_collaborator_create", "package_collaborator_delete", "package_collaborator_list")
_TEXT_KINDS = ("text", "uuid", "date", "email", "url")
_LIST_KINDS = ("codes", "taxon_codes", "keywords")
SEARCH_REFUSED = (
    "Requête de recherche invalide : vérifiez les parenthèses, guillemets, crochets et opérateurs "
    "(ou mettez le texte cherché entre guillemets)."
)


def _check_keys(action: str, data_dict: dict) -> None:
    if not isinstance(data_dict, dict):
        raise tk.ValidationError({"__racine": ["Les paramètres doivent former un objet JSON."]})
    inputs.check_strings(data_dict)
    for key in CORE_IDS.get(action, ()):
        if data_dict.get(key) not in (None, ""):
            inputs.check_identifier(data_dict[key], key)
    for key in CORE_TEXTS.get(action, ()):
        value = data_dict.get(key)
        if value is None:
            continue
        if isinstance(value, list) and key in ("facet.field", "fq"):  # lists of texts are CKAN's too
            for item in value:
                inputs.check_text(item, key)
        elif not isinstance(value, bool) or key != "include_private":
            inputs.check_text(value, key)


def _package_type(data_dict: dict) -> str | None:
    if isinstance(data_dict.get("type"), str):
        return data_dict["type"]
    ref = data_dict.get("id") or data_dict.get("name")
    if isinstance(ref, str) and ref:
        pkg = model.Package.get(ref)
        return pkg.type if pkg is not None else None
    return None


def _block_list(value: Any, name: str, subfields) -> None:
    example = ", ".join(f'"{s.name}": …' for s in subfields[:2])
    refused = tk.ValidationError(
        {name: [f"« {name} » doit être une liste de blocs ([{{{example}}}]), pas {inputs.type_name(value)}."]}
    )
    if not isinstance(value, list):
        raise refused
    for item in value:
        if not isinstance(item, dict):
            raise refused
        for key, sub in item.items():
            if sub is None or (isinstance(sub, (int, float)) and not isinstance(sub, bool)):
                continue
            inputs.check_text(sub, f"{name}.{key}")


def check_package(data_dict: dict) -> None:
    """Types of the fields of a package write; ``private`` normalised to a boolean."""
    errors: dict[str, list[str]] = {}

    def attempt(check: Callable, *args) -> None:
        try:
            check(*args)
        except tk.ValidationError as err:
            for key, messages in err.error_dict.items():
                errors.setdefault(key, []).extend(messages)

    for key in PACKAGE_TEXTS:
        if data_dict.get(key) is not None:
            attempt(inputs.check_text, data_dict[key], key)
    for key in PACKAGE_LISTS:
        value = data_dict.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            errors.setdefault(key, []).append(f"« {key} » doit être une liste d'objets, pas {inputs.type_name(value)}.")
    if data_dict.get("private") not in (None, ""):
        try:
            data_dict["private"] = inputs.boolean(data_dict["private"], "private")
        except tk.ValidationError:
            errors.setdefault("private", []).append(
                f"« private » attend true (enregistrement privé) ou false (publié), pas "
                f"« {inputs.quote(data_dict['private'])} » : rien n'a été enregistré."
            )
    kind = _package_type(data_dict)
    for f in sinp_model.fields(kind) if kind in sinp_model.KINDS else ():
        value = data_dict.get(f.name)
        if value is None or value == "":
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if f.subfields:
            attempt(_block_list, value, f.name, f.subfields)
        elif f.kind in _LIST_KINDS:
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in items):
                errors.setdefault(f.name, []).append(
                    f"« {f.name} » attend une liste de codes (textes), pas {inputs.type_name(value)}."
                )
        elif f.kind == "decimal" or f.kind == "code":
            if not number:
                attempt(inputs.check_text, value, f.name)
        elif f.kind in _TEXT_KINDS:
            attempt(inputs.check_text, value, f.name)
    if errors:
        if "tags" in errors:  # CKAN's ValidationError reads tag errors as [{"name": [...]}]
            errors["tags"] = [{"name": errors["tags"]}]
        raise tk.ValidationError(errors)


def _guard_core(action: str, chained: Callable | None) -> Callable:
    """A chained action that checks the inputs of ``action`` then calls ``chained`` (the plugin's
    own chained action) or CKAN's."""

    def guarded(original_action, context, data_dict):
        _check_keys(action, data_dict)
        if action in PACKAGE_WRITES:
            check_package(data_dict)
        if action in COLLABORATORS and not context.get("ignore_auth") and not context.get("user"):
            raise tk.NotAuthorized(
                "Connectez-vous : seuls les administrateurs de la structure gèrent les "
                "collaborateurs d'un jeu de données."
            )
        try:
            if chained is not None:
                return chained(original_action, context, data_dict)
            return original_action(context, data_dict)
        except Exception as err:
            _translate(action, context, err)
            raise

    if chained is not None:
        guarded = functools.wraps(chained)(guarded)
    else:
        guarded.__name__ = action
        guarded.__doc__ = f"{action} (CKAN), after the plugin's check of its inputs."
    guarded.chained_action = True
    if _core_action(action)[1]:  # CKAN's chain keeps only the chained function's attributes
        guarded.side_effect_free = True
    return guarded


def _core_action(name: str) -> tuple[Callable | None, bool]:
    """CKAN's own action ``name`` (None when no loaded module defines it) and whether it is
    side-effect free (callable with GET)."""
    # CKAN's action modules (and ckanext-activity's, an optional plugin) as loaded when the guards are built
    import ckan.plugins as p
    from ckan.logic.action import create, delete, get, patch, update

    for module in (get, create, update, delete, patch):
        func = getattr(module, name, None)
        if callable(func) and getattr(func, "__module__", None) == module.__name__:
            return func, module is get or bool(getattr(func, "side_effect_free", False))
    if p.plugin_loaded("activity"):
        from ckanext.activity.logic import action as activity

        func = getattr(activity, name, None)
        if callable(func):
            return func, bool(getattr(func, "side_effect_free", False))
    return None, False


def _translate(action: str, context: dict, err: Exception) -> None:
    """Errors of CKAN that would reach the caller in English, with internals, or as a 500."""

    if isinstance(err, (SearchError, SearchQueryError)) and action == "package_search":
        if context.get("api_version"):  # the API: a French 409; pages show their own search error
            raise tk.ValidationError({"q": [SEARCH_REFUSED]}) from None
        raise SearchError(SEARCH_REFUSED) from None
    if isinstance(err, DataError):  # « Only lists of dicts can be placed against subschema ('field',) … »
        named = re.search(r"\('([^']+)'", str(err.error))
        raise tk.ValidationError(
            {
                named.group(1) if named else "__structure": [
                    "La structure des données envoyées est invalide (ce champ attend une liste d'objets ou un texte) : "
                    "rien n'a été enregistré."
                ]
            }
        ) from None


def _guard_sinp(func: Callable) -> Callable:
    @functools.wraps(func)
    def guarded(context, data_dict):
        if not isinstance(data_dict, dict):
            raise tk.ValidationError({"__racine": ["Les paramètres doivent former un objet JSON."]})
        inputs.check_strings(data_dict)
        return func(context, data_dict)

    return guarded


def with_input_guards(actions: dict[str, Callable]) -> dict[str, Callable]:
    """The plugin's actions with the input guards (see the module's docstring)."""
    out = {}
    for name, func in actions.items():
        if (name in CORE_IDS or name in CORE_TEXTS) and getattr(func, "chained_action", False):
            out[name] = _guard_core(name, func)
        elif name.startswith("sinp_") and not getattr(func, "chained_action", False):
            out[name] = _guard_sinp(func)
        else:
            out[name] = func
    for name in sorted({*CORE_IDS, *CORE_TEXTS} - set(out)):
        if _core_action(name)[0] is not None:
            out[name] = _guard_core(name, None)
    return out
