"""CKAN actions that list things across records, restricted to the records the caller may read.

CKAN lists every free tag (``tag_list``, ``tag_autocomplete`` and ``/api/util/tag/autocomplete``,
``tag_search``, ``tag_show``) whatever the visibility of the datasets carrying it, every dataset
of an organisation in ``member_list``, and ``activity_diff`` checks only the newer of the two
versions it compares. Here a free tag exists for the caller only if one of the active records it
may read carries it (one SQL statement, ``visibility.readable_sql``); tags of a vocabulary (lists
a sysadmin defines) are left to CKAN.
"""

from __future__ import annotations

import ckan.model as model
import ckan.plugins as p
import ckan.plugins.toolkit as tk
import sqlalchemy as sa
from ckan import authz
from ckan.lib.dictization import model_dictize, table_dictize
from ckan.lib.plugins import get_permission_labels

from ckanext.sinp.logic import visibility

MAX_TAGS = 1000


def _int(data_dict, key: str, default: int | None, maximum: int | None = None) -> int | None:
    value = data_dict.get(key)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or (maximum is not None and number > maximum):
        bound = f" et {maximum}" if maximum is not None else ""
        raise tk.ValidationError({key: [f"« {key} » doit être un nombre entier entre 0{bound}."]})
    return number


def _terms(data_dict) -> list[str]:
    terms = data_dict.get("query") or data_dict.get("q") or []
    if isinstance(terms, str):
        terms = [terms]
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise tk.ValidationError({"query": ["« query » doit être un texte (ou une liste de textes)."]})
    return [t.strip() for t in terms if t.strip()]


def visible_free_tags(context, terms=(), names=None, offset: int = 0, limit: int | None = None) -> tuple[list, int]:
    """Free tags carried by at least one active record the caller may read, whose name contains
    every term (case-insensitive) or is one of ``names``; (tags ordered by name, total count)."""
    params: dict = {"offset": offset}
    where = ["t.vocabulary_id IS NULL"]
    for i, term in enumerate(terms):
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params[f"term{i}"] = f"%{escaped}%"
        where.append(f"t.name ILIKE :term{i}")
    if names is not None:
        params["names"] = list(names)
        where.append("t.name = ANY(:names)")
    readable = visibility.readable_sql(context, params)
    sql = (
        f"SELECT t.id, count(*) OVER () FROM tag t WHERE {' AND '.join(where)} AND EXISTS ("
        "SELECT 1 FROM package_tag pt JOIN package p ON p.id = pt.package_id "
        "WHERE pt.tag_id = t.id AND pt.state = 'active' AND p.state = 'active'"
        + (f" AND {readable}" if readable else "")
        + ") ORDER BY t.name OFFSET :offset"
    )
    if limit is not None:
        params["limit"] = limit
        sql += " LIMIT :limit"
    rows = model.Session.execute(sa.text(sql), params).all()
    if not rows:
        return [], 0
    by_id = {t.id: t for t in model.Session.query(model.Tag).filter(model.Tag.id.in_([r[0] for r in rows]))}
    return [by_id[r[0]] for r in rows if r[0] in by_id], rows[0][1]


@tk.chained_action
@tk.side_effect_free
def tag_list(original_action, context, data_dict):
    """CKAN's ``tag_list``; free tags only of the records the caller may read."""
    if data_dict.get("vocabulary_id"):
        return original_action(context, data_dict)
    tk.check_access("tag_list", context, data_dict)
    tags, _count = visible_free_tags(context, _terms(data_dict))
    all_fields = data_dict.get("all_fields")
    if isinstance(all_fields, str):
        all_fields = all_fields.strip().lower() in ("true", "1", "yes", "on")
    if all_fields:
        return model_dictize.tag_list_dictize(tags, context)
    return [t.name for t in tags]


def _search(context, data_dict) -> tuple[list, int]:
    terms = _terms(data_dict)
    if not terms:
        return [], 0
    return visible_free_tags(
        context, terms, offset=_int(data_dict, "offset", 0) or 0, limit=_int(data_dict, "limit", None, MAX_TAGS)
    )


@tk.chained_action
@tk.side_effect_free
def tag_autocomplete(original_action, context, data_dict):
    """CKAN's ``tag_autocomplete`` (also behind ``/api/util/tag/autocomplete``); free tags only of
    the records the caller may read."""
    if "vocabulary_id" in data_dict:
        return original_action(context, data_dict)
    tk.check_access("tag_autocomplete", context, data_dict)
    return [t.name for t in _search(context, data_dict)[0]]


@tk.chained_action
@tk.side_effect_free
def tag_search(original_action, context, data_dict):
    """CKAN's ``tag_search``; free tags only of the records the caller may read."""
    if "vocabulary_id" in data_dict:
        return original_action(context, data_dict)
    tk.check_access("tag_search", context, data_dict)
    tags, count = _search(context, data_dict)
    return {"count": count, "results": [table_dictize(t, context) for t in tags]}


@tk.chained_action
@tk.side_effect_free
def tag_show(original_action, context, data_dict):
    """CKAN's ``tag_show``; a free tag that no record readable by the caller carries is not found."""
    result = original_action(context, data_dict)
    if not result.get("vocabulary_id") and not visible_free_tags(context, names=[result.get("name")])[0]:
        raise tk.ObjectNotFound("Mot-clé introuvable.")
    return result


@tk.chained_action
@tk.side_effect_free
def member_list(original_action, context, data_dict):
    """CKAN's ``member_list``; the datasets listed are only those the caller may read."""
    members = original_action(context, data_dict)
    package_ids = [m[0] for m in members if m[1] == "package"]
    if not package_ids:
        return members
    readable = visibility.readable_package_ids(context, package_ids)
    return [m for m in members if m[1] != "package" or m[0] in readable]


def _may_see_activity(context, activity: dict) -> bool:
    """ckanext-activity's rule for one package activity: sysadmins, or a permission label shared."""

    if context.get("ignore_auth") or authz.is_sysadmin(context.get("user")):
        return True
    if "package" not in (activity.get("activity_type") or ""):
        return True
    user_labels = get_permission_labels().get_user_dataset_labels(context.get("auth_user_obj"))
    return bool(set(user_labels) & set(activity.get("permission_labels") or []))


@tk.chained_action
@tk.side_effect_free
def activity_diff(original_action, context, data_dict):
    """CKAN's ``activity_diff`` checks the newer version only; the older one it shows (a version
    recorded while the record was private) must be readable by the caller too."""
    result = original_action(context, data_dict)
    if not all(_may_see_activity(context, a) for a in result.get("activities") or []):
        raise tk.NotAuthorized("Vous n'avez pas accès à une version antérieure de cet enregistrement.")
    return result


def get_actions() -> dict:

    actions = {
        "tag_list": tag_list,
        "tag_autocomplete": tag_autocomplete,
        "tag_search": tag_search,
        "tag_show": tag_show,
        "member_list": member_list,
    }
    if p.plugin_loaded("activity"):
        actions["activity_diff"] = activity_diff
    return actions
